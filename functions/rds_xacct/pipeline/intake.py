"""DescribeSource: read the event and the source snapshot, and decide what the run will do (the
copy's name, the retention, or why it skips)."""

from __future__ import annotations

from typing import Any

from rds_xacct.aws.accounts import Accounts
from rds_xacct.aws.snapshots import SnapshotApi
from rds_xacct.model import errors
from rds_xacct.model.constants import (
    APP_NAME,
)
from rds_xacct.model.naming import copy_identifier
from rds_xacct.model.ownership import is_app_snapshot
from rds_xacct.model.selection import retention_days, skip_reason
from rds_xacct.model.settings import Settings
from rds_xacct.model.snapshot import Snapshot
from rds_xacct.model.state import Job, RunState, SourceSummary
from rds_xacct.model.times import Clock, iso, utc_now
from rds_xacct.pipeline import backup_window
from rds_xacct.pipeline.events import OTHER_ENGINES, SnapshotArn, parse_event


def describe_source(
    event: Any, *, execution_arn: str, settings: Settings, now: Clock = utc_now
) -> RunState:
    """Read the event and the source snapshot; decide what this run will do."""
    arn_parts = execution_arn.split(":")
    job: Job = {
        "execution": arn_parts[-1],
        "executionArn": execution_arn,
        "startedAt": iso(now()),
        "backupAccountId": settings.backup_account_id,
    }
    try:
        source_event = parse_event(event)
    except errors.EventSkipped as skip:
        # A kind of event this app does not copy: a skip with the reason, not a failure.
        event_id = event.get("id") if isinstance(event, dict) else None
        return {
            "job": {
                **job,
                "origin": None,
                "eventId": str(event_id or ""),
                "source": {"arn": skip.about},
                "skipped": str(skip),
            }
        }
    source = source_event.snapshot
    region, account = (arn_parts[3], arn_parts[4]) if len(arn_parts) > 4 else ("", "")
    if (source.region, source.account) != (region, account):
        raise errors.UnsupportedEvent(
            f"The snapshot {source.arn} is in account {source.account}, region {source.region}; "
            f"this deployment copies snapshots of account {account} in {region}"
        )
    job["origin"], job["eventId"] = source_event.origin, source_event.event_id
    accounts = Accounts(settings, job["execution"])
    api = accounts.main(source.kind)
    snapshot = api.get(source.identifier, source_event.snapshot_type)
    if is_app_snapshot(snapshot.tags):
        # A native snapshot event about one of this app's own copies: never a new run.
        return {"job": {**job, "source": {"arn": source.arn}, "skipped": _own_copy(source)}}
    if snapshot.failed:
        raise errors.SnapshotFailed(f"The source snapshot {source.arn} is {snapshot.status}")
    if not snapshot.available:
        raise errors.SnapshotNotReady(
            f"The source snapshot {source.arn} is {snapshot.status} ({snapshot.percent}%)"
        )
    if snapshot.created_at is None:  # pragma: no cover - RDS sets it once available
        raise errors.SnapshotNotReady(f"The source snapshot {source.arn} has no creation time")

    database_tags = api.database_tags(snapshot)
    source_summary: SourceSummary = {
        **snapshot.summary(),
        "database": snapshot.database,
        "engine": snapshot.engine,
        "region": source.region,
        "snapshotType": snapshot.snapshot_type,
    }
    job["source"] = source_summary
    job["copyId"] = copy_identifier(
        source_arn=source.arn,
        database=snapshot.database or source.identifier,
        created_at=snapshot.created_at,
        kind=source.kind,
    )
    job["skipped"] = (
        _other_engine(snapshot)
        or skip_reason(settings, snapshot.database, database_tags)
        or _unshareable(api, snapshot)
    )
    if job["skipped"] is None:
        job["retentionDays"] = retention_days(settings, database_tags)
        if snapshot.kind == "cluster" and not snapshot.encrypted:
            job["notes"] = [UNENCRYPTED_CLUSTER_NOTE]
        warning = backup_window.automated_backup_warning(api.client, snapshot, source_event.origin)
        job["warnings"] = [warning] if warning else []
    return {"job": job}


UNENCRYPTED_CLUSTER_NOTE = (
    "The source cluster snapshot is not encrypted, so neither copy is: RDS cannot encrypt a copy "
    "of an unencrypted DB cluster snapshot (CopyDBClusterSnapshot refuses a KmsKeyId for one)"
)
"""Told in the run's summary and notification when an unencrypted cluster is copied."""

SHAREABLE_STICKY_OPTIONS = frozenset({"Timezone", "OLS"})
"""Oracle's permanent/persistent options that do not stop a snapshot being shared (RDS User
Guide, "Sharing a DB snapshot"); its copy in another account then needs a target option group."""


def _other_engine(snapshot: Snapshot) -> str | None:
    """Why a DocumentDB or Neptune cluster snapshot met through the RDS API is not copied."""
    engine = OTHER_ENGINES.get(snapshot.engine)
    if engine is None:
        return None
    return (
        f"{snapshot.arn} is a snapshot of an Amazon {engine} cluster ({snapshot.database}): this "
        f"app copies RDS and Aurora snapshots only; copy it with the {engine} API (copy with a "
        f"customer managed key, share, copy in the backup account)"
    )


def _unshareable(api: SnapshotApi, snapshot: Snapshot) -> str | None:
    """Why RDS will not let this DB snapshot be shared (or copied into the backup account as
    this app copies), found before any copy is made; None if it can be.

    RDS User Guide, "Sharing a DB snapshot": a snapshot whose option group has permanent or
    persistent options can't be shared (TDE of Oracle and SQL Server among them), except Oracle's
    `Timezone` and `OLS`, whose copy in the other account needs a target option group with them.
    Default option groups can't be modified, so they hold no such options."""
    group = snapshot.option_group
    if snapshot.kind != "db" or not group or group.startswith("default:"):
        return None
    sticky = [o for o in api.option_group_options(group) if o.persistent or o.permanent]
    if not sticky:
        return None
    names = ", ".join(sorted(o.name for o in sticky))
    what = f"{snapshot.arn} ({snapshot.engine}, option group {group})"
    if any(o.name == "TDE" for o in sticky):
        return (
            f"{what} is encrypted with Transparent Data Encryption (option TDE): RDS cannot share "
            f"a TDE snapshot with another account; back the database up by the engine's own "
            f"means (native backup to S3) for the backup account"
        )
    if snapshot.engine.startswith("oracle") and all(
        o.name in SHAREABLE_STICKY_OPTIONS for o in sticky
    ):
        return (
            f"{what} has the Oracle option(s) {names}: its copy in the backup account needs an "
            f"option group there with the same options, which this app does not manage; copy it "
            f"by hand with CopyDBSnapshot --option-group-name in the backup account"
        )
    return (
        f"{what} has permanent or persistent options ({names}): RDS cannot share such a "
        f"snapshot with another account; move the database to an option group without them, or "
        f"back it up by other means"
    )


def _own_copy(source: SnapshotArn) -> str:
    return f"{source.arn} is a copy made by {APP_NAME}: copies are never copied again"
