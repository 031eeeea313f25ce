"""Reading EventBridge events: the supported shapes and readable errors for the rest."""

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from rds_xacct.model.errors import EventSkipped, UnsupportedEvent
from rds_xacct.pipeline.events import SnapshotArn, parse_event

EVENTS = Path(__file__).parent.parent / "events"


def load(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def test_aws_backup_rds_event_names_the_db_snapshot() -> None:
    # Given the recorded AWS Backup event
    event = load("aws-backup-rds-completed.json")
    # When it is read
    source = parse_event(event)
    # Then it names the awsbackup:job-… DB snapshot
    assert source.kind == "db"
    assert source.origin == "aws-backup"
    assert source.snapshot.identifier == "awsbackup:job-4f1c0a3e-8d2b-4b4e-9b0e-2f6a8c9d1e77"
    assert source.snapshot.account == "123456789012"
    assert source.database_arn == "arn:aws:rds:eu-west-1:123456789012:db:orders-db"


def test_aws_backup_event_without_recovery_point_uses_the_job_id() -> None:
    # Given an event that names neither the recovery point nor a snapshot in resources
    event = load("aws-backup-rds-completed.json")
    del event["detail"]["recoveryPointArn"]
    event["resources"] = ["arn:aws:rds:eu-west-1:123456789012:db:orders-db"]
    # When it is read
    source = parse_event(event)
    # Then the snapshot is the one AWS Backup names after the job
    assert source.snapshot.arn == (
        "arn:aws:rds:eu-west-1:123456789012:snapshot:awsbackup:job-"
        "4f1c0a3e-8d2b-4b4e-9b0e-2f6a8c9d1e77"
    )


def test_aurora_backup_is_a_cluster_snapshot() -> None:
    source = parse_event(load("aws-backup-aurora-completed.json"))
    assert source.kind == "cluster"
    assert source.snapshot.identifier.startswith("awsbackup:job-")


def test_native_events() -> None:
    automated = parse_event(load("rds-automated-snapshot-created.json"))
    assert (automated.kind, automated.origin) == ("db", "rds-automated")
    assert automated.snapshot.identifier == "rds:orders-db-2026-11-24-02-10"
    manual = parse_event(load("rds-manual-cluster-snapshot-created.json"))
    assert (manual.kind, manual.origin) == ("cluster", "rds-manual")


def _bad(mutate: Any) -> dict[str, Any]:
    event = copy.deepcopy(load("aws-backup-rds-completed.json"))
    mutate(event)
    return event


def _strip_snapshot_and_job(event: dict[str, Any]) -> None:
    event["resources"] = []
    del event["detail"]["recoveryPointArn"]
    del event["detail"]["backupJobId"]


@pytest.mark.parametrize(
    ("event", "says"),
    [
        ("not an event", "not an EventBridge event"),
        ({}, "no 'detail' object"),
        (load("aws-backup-ebs-completed.json"), "'EBS' resource, not an RDS database"),
        (_bad(lambda e: e["detail"].update(state="FAILED")), "'FAILED', not COMPLETED"),
        (_bad(lambda e: e.update(source="aws.ec2")), "are not handled"),
        (
            _bad(_strip_snapshot_and_job),
            "no detail.backupJobId",
        ),
        (
            _bad(lambda e: e["detail"].update(resourceType="Aurora")),
            "is a db snapshot",
        ),
    ],
)
def test_unsupported_events_fail_with_a_reason(event: Any, says: str) -> None:
    with pytest.raises(UnsupportedEvent, match=says):
        parse_event(event)


def test_rds_event_that_is_not_a_snapshot_creation() -> None:
    event = load("rds-automated-snapshot-created.json")
    event["detail"]["EventID"] = "RDS-EVENT-0040"
    with pytest.raises(UnsupportedEvent, match="does not announce a finished snapshot"):
        parse_event(event)


def test_snapshot_arn_keeps_colons_in_the_identifier() -> None:
    arn = SnapshotArn.parse("arn:aws-cn:rds:cn-north-1:123456789012:snapshot:rds:my-db-1")
    assert (arn.partition, arn.identifier, arn.kind) == ("aws-cn", "rds:my-db-1", "db")
    with pytest.raises(UnsupportedEvent):
        SnapshotArn.parse("arn:aws:rds:eu-west-1:123456789012:db:my-db")


@pytest.mark.parametrize(
    "change",
    [
        {"resources": "not-a-list"},
        {"resources": [5, None]},
        {
            "detail": {
                "state": "COMPLETED",
                "resourceType": "RDS",
                "recoveryPointArn": 7,
                "backupJobId": "j",
                "resourceArn": {"x": 1},
            }
        },
        {
            "detail": {
                "state": "COMPLETED",
                "resourceType": "RDS",
                "backupJobId": "j",
                "resourceArn": 42,
            }
        },
        {"detail": {"state": "COMPLETED", "resourceType": ["RDS"]}},
        {"detail": {"state": None}},
    ],
)
def test_odd_field_types_are_unsupported_not_crashes(change: dict[str, Any]) -> None:
    # Given an event whose fields have the wrong types
    event = {**load("aws-backup-rds-completed.json"), **change}
    if "detail" not in change:
        event["detail"] = {"state": "COMPLETED", "resourceType": "RDS", "backupJobId": "j"}
    # When it is read, Then it is an UnsupportedEvent (or, where the job id and database ARN are
    # enough, a valid snapshot)
    try:
        source = parse_event(event)
    except UnsupportedEvent:
        return
    assert source.snapshot.identifier.startswith("awsbackup:job-")


@pytest.mark.parametrize(
    ("event_file", "says"),
    [
        (
            "aws-backup-rds-continuous-completed.json",
            r"continuous \(point-in-time\) recovery point arn:aws:backup:eu-west-1:123456789012:"
            "recovery-point:continuous:db-.*not a snapshot: add a snapshot backup rule",
        ),
        ("aws-backup-copy-job-completed.json", "copy job d3e4f5a6-.*nothing to do"),
        ("aws-backup-documentdb-completed.json", "Amazon DocumentDB cluster.*RDS and Aurora"),
        ("aws-backup-neptune-completed.json", "Amazon Neptune cluster.*RDS and Aurora"),
        ("aws-backup-ebs-completed.json", "'EBS' resource.*cross-account copy"),
        ("aws-backup-rds-running.json", "'RUNNING', not COMPLETED.*COMPLETED event starts"),
        ("aws-backup-rds-failed.json", "'FAILED', not COMPLETED.*see the job in AWS Backup"),
        ("rds-instance-restarted.json", "'aws.rds' of type 'RDS DB Instance Event'.*nothing"),
    ],
)
def test_each_event_shape_not_copied_is_a_skip_with_a_reason(event_file: str, says: str) -> None:
    # Given a recorded event of a kind this app does not copy
    event = load(event_file)
    # When it is read, Then it is a skip (not a failure) whose one-line reason says what it was
    # and what to do, and names the resource
    with pytest.raises(EventSkipped, match=says) as skipped:
        parse_event(event)
    assert "\n" not in str(skipped.value)
    named = [event["detail"].get("resourceArn"), event["detail"].get("SourceArn")]
    assert skipped.value.about in named


def test_the_event_says_which_snapshot_type_to_describe_the_source_with() -> None:
    assert parse_event(load("aws-backup-rds-completed.json")).snapshot_type == "awsbackup"
    assert parse_event(load("aws-backup-aurora-completed.json")).snapshot_type is None
    assert parse_event(load("rds-automated-snapshot-created.json")).snapshot_type == "automated"
    manual = parse_event(load("rds-manual-cluster-snapshot-created.json"))
    assert manual.snapshot_type == "manual"
