"""The event a source snapshot would have sent, built by the daily reconciliation for a snapshot
whose event never arrived (and by the operator command's backfill and run, for a snapshot made
before the app was deployed), the deterministic name of the run started with it, and the start."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from rds_xacct.aws.clients import aws_call
from rds_xacct.jobs.reconcile_sources import AWS_BACKUP_PREFIX, Candidate
from rds_xacct.model.constants import (
    APP_NAME,
    MAX_EXECUTION_NAME,
    NAME_HASH_LENGTH,
    RECONCILE_EXECUTION_PREFIX,
    RECONCILED_FIELD,
)
from rds_xacct.model.naming import sanitise
from rds_xacct.model.rds_arns import SnapshotArn
from rds_xacct.model.snapshot import Snapshot
from rds_xacct.model.times import iso
from rds_xacct.pipeline.events import (
    BACKUP_DETAIL_TYPE,
    BACKUP_RESOURCE_TYPES,
    BACKUP_SOURCE,
    ORIGIN_AWS_BACKUP,
    ORIGIN_RDS_AUTOMATED,
    RDS_CLUSTER_SNAPSHOT_DETAIL_TYPE,
    RDS_EVENT_IDS,
    RDS_SNAPSHOT_DETAIL_TYPE,
    RDS_SOURCE,
)


def execution_name(
    snapshot: Snapshot, prefix: str = RECONCILE_EXECUTION_PREFIX, at: datetime | None = None
) -> str:
    """`<prefix>-<database>-<YYYYMMDDHHMMSS>-<hash>`: deterministic (the time is the snapshot's,
    unless `at` is given), at most 80 characters of letters, digits and hyphens (Step Functions'
    rules, and CloudWatch Logs' for its names)."""
    moment = at or snapshot.created_at
    assert moment is not None
    digest = hashlib.sha256(snapshot.arn.encode()).hexdigest()[:NAME_HASH_LENGTH]
    stamp = moment.astimezone(UTC).strftime("%Y%m%d%H%M%S")
    suffix = f"-{stamp}-{digest}"
    room = MAX_EXECUTION_NAME - len(prefix) - 1 - len(suffix)
    middle = sanitise(snapshot.database or snapshot.identifier)[:room].rstrip("-") or "db"
    return f"{prefix}-{middle}{suffix}"


def start_run(sfn: Any, state_machine_arn: str, name: str, event: Any) -> tuple[str, bool]:
    """Start the run: (execution ARN, True), or (its name, False) if the name is taken by a run
    started with another input. StartExecution with the name *and input* of a running execution
    succeeds and returns that execution (StartExecution API reference: "idempotent for STANDARD
    workflows"): the caller's own request sent twice (the SDK retrying a lost answer), so each
    caller marks its events with an id of its own."""
    with aws_call(f"Starting the run {name}"):
        try:
            response = sfn.start_execution(
                stateMachineArn=state_machine_arn, name=name, input=json.dumps(event)
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
                return name, False
            raise
    return str(response["executionArn"]), True


def build_event(candidate: Candidate, look: str = "", note: str | None = None) -> dict[str, Any]:
    """The EventBridge event the source would have sent for this snapshot, in the shape AWS
    Backup or RDS delivers (tests/events), marked as built by reconciliation `look` (its id, in
    the mark's text), or with `note` as the mark's text (the operator command's). Deterministic:
    the same snapshot and mark always give the same event."""
    snapshot = candidate.snapshot
    assert snapshot.created_at is not None
    arn = SnapshotArn.parse(snapshot.arn)
    when = iso(snapshot.created_at)
    by = f"the daily {APP_NAME} reconciliation" + (f" {look}" if look else "")
    mark = {RECONCILED_FIELD: note or f"no event arrived; built by {by}"}
    common = {
        "version": "0",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{APP_NAME}:reconcile:{snapshot.arn}")),
        "account": arn.account,
        "time": when,
        "region": arn.region,
        "resources": [snapshot.arn],
    }
    if candidate.origin == ORIGIN_AWS_BACKUP:
        resource_type = next(t for t, k in BACKUP_RESOURCE_TYPES.items() if k == snapshot.kind)
        return {
            **common,
            "detail-type": BACKUP_DETAIL_TYPE,
            "source": BACKUP_SOURCE,
            "detail": {
                "backupJobId": snapshot.identifier.removeprefix(f"{AWS_BACKUP_PREFIX}job-"),
                "creationDate": when,
                "resourceArn": arn.database_arn(snapshot.database),
                "resourceType": resource_type,
                "state": "COMPLETED",
                "percentDone": "100.0",
                "recoveryPointArn": snapshot.arn,
                **mark,
            },
        }
    event_id = next(
        e
        for e, (kind, origin) in RDS_EVENT_IDS.items()
        if (kind, origin) == (snapshot.kind, candidate.origin)
    )
    cluster = snapshot.kind == "cluster"
    automated = candidate.origin == ORIGIN_RDS_AUTOMATED
    return {
        **common,
        "detail-type": RDS_CLUSTER_SNAPSHOT_DETAIL_TYPE if cluster else RDS_SNAPSHOT_DETAIL_TYPE,
        "source": RDS_SOURCE,
        "detail": {
            "EventCategories": ["backup" if cluster else "creation"],
            "SourceType": "CLUSTER_SNAPSHOT" if cluster else "SNAPSHOT",
            "SourceArn": snapshot.arn,
            "Date": when,
            "Message": f"{'Automated' if automated else 'Manual'} "
            f"{'cluster ' if cluster else ''}snapshot created",
            "SourceIdentifier": snapshot.identifier,
            "EventID": event_id,
            **mark,
        },
    }
