"""Recorded events (tests/events/*.json) and events built from them for other snapshots."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parents[1] / "tests" / "events"
DEFAULT_EVENT = EVENTS_DIR / "aws-backup-rds-completed.json"


def load_event(path: str | Path) -> dict[str, Any]:
    """An event file by path, or by name in tests/events."""
    candidate = Path(path)
    if not candidate.exists():
        candidate = EVENTS_DIR / str(path)
    event: dict[str, Any] = json.loads(candidate.read_text())
    return event


def backup_job_event(snapshot_arn: str, resource_arn: str) -> dict[str, Any]:
    """AWS Backup's `Backup Job State Change` COMPLETED event for this recovery point."""
    cluster = ":cluster-snapshot:" in snapshot_arn
    event = copy.deepcopy(
        load_event(
            "aws-backup-aurora-completed.json" if cluster else "aws-backup-rds-completed.json"
        )
    )
    job_id = snapshot_arn.rsplit("awsbackup:job-", 1)[-1]
    # EventBridge delivers an account's events in that account, which the event names
    event["account"] = snapshot_arn.split(":")[4]
    event["resources"] = [snapshot_arn]
    event["detail"].update(
        recoveryPointArn=snapshot_arn, resourceArn=resource_arn, backupJobId=job_id
    )
    return event


def rds_snapshot_event(snapshot_arn: str, event_id: str) -> dict[str, Any]:
    """A native RDS snapshot event (RDS-EVENT-0091/0042 for DB, 0169/0075 for cluster)."""
    cluster = ":cluster-snapshot:" in snapshot_arn
    event = copy.deepcopy(
        load_event(
            "rds-manual-cluster-snapshot-created.json"
            if cluster
            else "rds-automated-snapshot-created.json"
        )
    )
    identifier = snapshot_arn.split(":", 6)[6]
    event["account"] = snapshot_arn.split(":")[4]
    event["resources"] = [snapshot_arn]
    event["detail"].update(SourceArn=snapshot_arn, SourceIdentifier=identifier, EventID=event_id)
    return event
