"""Each patch in tests/support/moto_patches.py at work: if moto changes, these say where."""

from __future__ import annotations

import io
import json
import time
import zipfile
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.rds.models import rds_backends

from tests.support.moto_patches import MotoPatches, SimClock, event_matches, wait_for_execution
from tests.support.world import BACKUP_ACCOUNT, MAIN_ACCOUNT, REGION, World, backup_key_policy


class MyCustomError(Exception):
    pass


def _state_machine(definition: dict[str, Any]) -> tuple[Any, str]:
    iam = boto3.client("iam")
    role = iam.create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    sfn = boto3.client("stepfunctions")
    arn = sfn.create_state_machine(name="sm", definition=json.dumps(definition), roleArn=role)[
        "stateMachineArn"
    ]
    return sfn, arn


def _function(name: str) -> str:
    role = boto3.client("iam").create_role(RoleName=f"fn-{name}", AssumeRolePolicyDocument="{}")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("h.py", "def handler(e, c):\n    return e\n")
    return str(
        boto3.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.13",
            Role=role["Role"]["Arn"],
            Handler="h.handler",
            Code={"ZipFile": code.getvalue()},
        )["FunctionArn"]
    )


def _run(sfn: Any, arn: str, name: str = "run", data: Any = None) -> dict[str, Any]:
    execution = sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(data or {}))
    return wait_for_execution(sfn, execution["executionArn"])


def test_lambda_errors_reach_retry_and_catch_by_class_name(patches: MotoPatches) -> None:
    # Given a handler that fails twice with MyCustomError, then once more for good
    calls: list[int] = []

    def flaky(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append(1)
        if len(calls) <= 2:
            raise MyCustomError("not yet")
        if event.get("fail"):
            raise MyCustomError("for good")
        return {"ok": True, "env": __import__("os").environ.get("GREETING")}

    arn = _function("flaky")
    patches.route_lambda("flaky", flaky, {"GREETING": "hello"})
    sfn, machine = _state_machine(
        {
            "StartAt": "Call",
            "States": {
                "Call": {
                    "Type": "Task",
                    "Resource": arn,
                    "Retry": [
                        {"ErrorEquals": ["MyCustomError"], "IntervalSeconds": 30, "MaxAttempts": 2}
                    ],
                    "Catch": [
                        {
                            "ErrorEquals": ["MyCustomError"],
                            "ResultPath": "$.error",
                            "Next": "Caught",
                        }
                    ],
                    "End": True,
                },
                "Caught": {"Type": "Pass", "End": True},
            },
        }
    )
    # When it runs, Then the Retry absorbs the first two errors and the handler's result (with
    # the environment it was given) is the output
    started = time.monotonic()
    done = _run(sfn, machine, "first")
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == {"ok": True, "env": "hello"}
    assert len(calls) == 3
    # And the backoff ran on the simulated clock, not in real time
    assert time.monotonic() - started < 5
    # When every attempt fails, Then the Catch sees the class name and the message
    calls.clear()
    caught = _run(sfn, machine, "second", {"fail": True})
    assert caught["status"] == "SUCCEEDED"
    error = json.loads(caught["output"])["error"]
    assert error["Error"] == "MyCustomError"
    assert json.loads(error["Cause"])["errorMessage"] == "for good"


@pytest.mark.parametrize(
    "wait",
    [{"Seconds": 86400}, {"SecondsPath": "$.seconds"}, {"TimestampPath": "$.until"}],
    ids=["Seconds", "SecondsPath", "TimestampPath"],
)
def test_waits_run_on_the_simulated_clock(
    patches: MotoPatches, clock: SimClock, wait: dict[str, Any]
) -> None:
    # Given a Wait of one day
    sfn, machine = _state_machine(
        {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", **wait, "End": True}}}
    )
    before = clock.now()
    until = before.replace(day=before.day + 1).strftime("%Y-%m-%dT%H:%M:%SZ")
    # When it runs
    started = time.monotonic()
    done = _run(sfn, machine, data={"seconds": 86400, "until": until})
    # Then a simulated day passed in well under a second of real time
    assert done["status"] == "SUCCEEDED"
    assert time.monotonic() - started < 2
    assert 86390 <= (clock.now() - before).total_seconds() <= 86410


def test_two_executions_of_one_state_machine(patches: MotoPatches) -> None:
    sfn, machine = _state_machine({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    assert _run(sfn, machine, "one")["status"] == "SUCCEEDED"
    assert _run(sfn, machine, "two")["status"] == "SUCCEEDED"


def test_a_snapshot_shared_from_another_account_is_copied_by_arn(world: World) -> None:
    # Given a manual snapshot in the main account
    world.database("orders-db")
    rds = world.main.client("rds")
    arn = rds.create_db_snapshot(DBInstanceIdentifier="orders-db", DBSnapshotIdentifier="s1")[
        "DBSnapshot"
    ]["DBSnapshotArn"]
    backup_rds = world.backup.client("rds")
    # When the backup account copies it by ARN before it is shared, Then it is not found
    with pytest.raises(ClientError, match="DBSnapshotNotFound"):
        backup_rds.copy_db_snapshot(SourceDBSnapshotIdentifier=arn, TargetDBSnapshotIdentifier="c1")
    # When it is shared, Then the copy is made in the backup account
    rds.modify_db_snapshot_attribute(
        DBSnapshotIdentifier="s1", AttributeName="restore", ValuesToAdd=[BACKUP_ACCOUNT]
    )
    copy = backup_rds.copy_db_snapshot(
        SourceDBSnapshotIdentifier=arn, TargetDBSnapshotIdentifier="c1"
    )["DBSnapshot"]
    assert copy["DBSnapshotArn"] == f"arn:aws:rds:{REGION}:{BACKUP_ACCOUNT}:snapshot:c1"
    assert "s1" in rds_backends[MAIN_ACCOUNT][REGION].database_snapshots


def test_kms_keys_rds_may_not_use_are_refused(world: World) -> None:
    world.database("orders-db")
    rds = world.main.client("rds")
    rds.create_db_snapshot(DBInstanceIdentifier="orders-db", DBSnapshotIdentifier="s1")
    kms = world.backup.client("kms")
    unlisted = kms.create_key(Policy=backup_key_policy())["KeyMetadata"]["Arn"]
    disabled_key = kms.create_key(Policy=backup_key_policy(MAIN_ACCOUNT))["KeyMetadata"]
    kms.disable_key(KeyId=disabled_key["KeyId"])
    disabled = disabled_key["Arn"]
    for key in (unlisted, disabled):
        with pytest.raises(ClientError, match="KMSKeyNotAccessibleFault"):
            rds.copy_db_snapshot(
                SourceDBSnapshotIdentifier="s1", TargetDBSnapshotIdentifier="c1", KmsKeyId=key
            )
    made = rds.copy_db_snapshot(
        SourceDBSnapshotIdentifier="s1",
        TargetDBSnapshotIdentifier="c1",
        KmsKeyId=world.backup_key_arn,
    )["DBSnapshot"]
    assert made["KmsKeyId"] == world.backup_key_arn


def test_an_aws_backup_snapshot_is_described_by_its_identifier(world: World) -> None:
    world.database("orders-db")
    world.backup_snapshot("orders-db", "j1")
    found = world.main.client("rds").describe_db_snapshots(DBSnapshotIdentifier="awsbackup:job-j1")
    assert found["DBSnapshots"][0]["SnapshotType"] == "awsbackup"


def test_copies_take_simulated_time(world: World, patches: MotoPatches, clock: SimClock) -> None:
    # Given copies that take 3 + 1 minute per GiB
    patches.simulate_copy_progress(minutes_per_gib=1.0, base_minutes=3.0)
    world.database("orders-db", size_gib=7)
    rds = world.main.client("rds")
    rds.create_db_snapshot(DBInstanceIdentifier="orders-db", DBSnapshotIdentifier="s1")
    rds.copy_db_snapshot(SourceDBSnapshotIdentifier="s1", TargetDBSnapshotIdentifier="c1")

    def look() -> tuple[str, int]:
        snap = rds.describe_db_snapshots(DBSnapshotIdentifier="c1")["DBSnapshots"][0]
        return snap["Status"], snap["PercentProgress"]

    # When the clock moves, Then the copy progresses and becomes available after 10 minutes
    assert look() == ("creating", 0)
    clock.advance(300)
    assert look() == ("creating", 50)
    clock.advance(300)
    assert look() == ("available", 100)


def test_event_patterns_match_as_eventbridge_does() -> None:
    pattern = {
        "source": ["aws.rds"],
        "detail": {
            "EventID": ["RDS-EVENT-0042"],
            "SourceIdentifier": [{"anything-but": {"prefix": "xacct-"}}],
        },
    }
    event: dict[str, Any] = {
        "source": "aws.rds",
        "detail": {"EventID": "RDS-EVENT-0042", "SourceIdentifier": "mine"},
    }
    assert event_matches(pattern, event)
    event["detail"]["SourceIdentifier"] = "xacct-orders-db-1"
    assert not event_matches(pattern, event)
