"""Each Lambda handler, as Lambda calls it: the state's input, a context, the template's
environment (Given / When / Then)."""

from __future__ import annotations

from typing import Any

import boto3
import check_copy
import cleanup
import copy_backup
import copy_intermediate
import delete_backup
import delete_intermediate
import describe_source
import notify_run
import pytest
import share

from rds_xacct.model import errors
from rds_xacct.model.constants import MAX_RETENTION_DAYS
from simulation.events import backup_job_event
from simulation.moto import SimClock, make_fake_context
from simulation.world import BACKUP_ACCOUNT, KEEPER_URL, MAIN_ACCOUNT, REGION, World
from tests.unit.test_steps import KeeperStandIn

EXECUTION = f"arn:aws:states:{REGION}:{MAIN_ACCOUNT}:execution:rds-xacct-copy-snapshot:run-1"


@pytest.fixture
def environment(world: World, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    topic = boto3.client("sns").create_topic(Name="rds-xacct-notifications")["TopicArn"]
    env = world.environment(NOTIFY_TOPIC_ARN=topic)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def ctx(name: str) -> Any:
    return make_fake_context(f"rds-xacct-{name}")


@pytest.fixture
def event(world: World) -> dict[str, Any]:
    world.database("orders-db")
    arn = world.backup_snapshot("orders-db", "4f1c0a3e")
    return backup_job_event(arn, f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:db:orders-db")


def test_the_handlers_carry_a_snapshot_through_the_flow(
    environment: dict[str, str],
    event: dict[str, Any],
    world: World,
    clock: SimClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the state machine's input for DescribeSource
    # When each handler runs with the state the previous one produced
    state: Any = describe_source.handler(
        {"event": event, "executionArn": EXECUTION}, ctx("describe-source")
    )
    assert state["job"]["copyId"].startswith("xacct-orders-db-")
    state["intermediate"] = copy_intermediate.handler(state, ctx("copy-intermediate"))
    state["intermediate"] = check_copy.handler(
        {"state": state, "which": "intermediate"}, ctx("check-copy")
    )
    state["intermediate"] = share.handler(state, ctx("share"))
    state["backup"] = copy_backup.handler(state, ctx("copy-backup"))
    state["backup"] = check_copy.handler({"state": state, "which": "backup"}, ctx("check-copy"))
    state["intermediate"] = delete_intermediate.handler(state, ctx("delete-intermediate"))
    summary = notify_run.handler(
        {"outcome": "succeeded", "state": state, "executionArn": EXECUTION}, ctx("notify")
    )
    # Then the copy is in the backup account and the notification names it
    assert summary["outcome"] == "succeeded"
    assert summary["notifications"]["sns"]
    assert [c["tags"]["rds-xacct:role"] for c in world.app_copies(BACKUP_ACCOUNT)] == ["backup"]
    # When the retention is over, and the backup account's keeper (stood in for: it runs
    # there) agrees
    keeper_stand_in = KeeperStandIn.install(world, monkeypatch)
    keeper_stand_in.reason = "its kept-until time 2026-11-25T02:30:00Z has passed"
    clock.advance(86400)
    state["backup"] = delete_backup.handler(state, ctx("delete-backup"))
    # Then the handler asked the keeper named in its environment's settings to expire the copy,
    # and reports its answer
    assert keeper_stand_in.asked == [("expire", "db", state["job"]["copyId"], "run-1")]
    assert state["backup"]["action"] == "deleted"
    assert state["backup"]["note"] == keeper_stand_in.reason
    assert "deletedAt" in state["backup"]
    assert world.app_copies(BACKUP_ACCOUNT) == []


def test_a_handler_raises_the_error_class_the_asl_names(
    environment: dict[str, str], world: World
) -> None:
    # Given an event for a snapshot that does not exist
    event = backup_job_event(
        f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:snapshot:awsbackup:job-missing",
        f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:db:orders-db",
    )
    # When DescribeSource runs, Then it raises SnapshotNotFound (the ASL's error name)
    with pytest.raises(errors.SnapshotNotFound):
        describe_source.handler({"event": event, "executionArn": EXECUTION}, ctx("describe-source"))


def test_a_misconfigured_deployment_fails_with_every_problem_named(
    environment: dict[str, str], event: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKUP_KMS_KEY_ARN", "alias/backup")
    monkeypatch.setenv("RETENTION_DAYS", "400")
    with pytest.raises(errors.PipelineError, match=rf"full KMS key ARN.*0 to {MAX_RETENTION_DAYS}"):
        describe_source.handler({"event": event, "executionArn": EXECUTION}, ctx("describe-source"))


def test_a_deployment_without_the_keeper_fails_on_its_first_step(
    environment: dict[str, str], event: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the functions' environment without the backup account's keeper
    assert environment["BACKUP_KEEPER_URL"] == KEEPER_URL
    monkeypatch.delenv("BACKUP_KEEPER_URL")
    # When a run starts, Then it fails naming the setting, before copying anything
    with pytest.raises(errors.PipelineError, match="BACKUP_KEEPER_URL must be a Lambda function"):
        describe_source.handler({"event": event, "executionArn": EXECUTION}, ctx("describe-source"))


def test_cleanup_handler_after_a_failure(
    environment: dict[str, str], event: dict[str, Any], world: World
) -> None:
    # Given a run that made its intermediate copy and then failed
    state = describe_source.handler(
        {"event": event, "executionArn": EXECUTION}, ctx("describe-source")
    )
    state["intermediate"] = copy_intermediate.handler(state, ctx("copy-intermediate"))
    state["error"] = {"Error": "AwsError", "Cause": "{}"}
    # When Cleanup runs
    result = cleanup.handler(state, ctx("cleanup"))
    # Then the intermediate copy is gone
    assert result["problems"] == []
    assert result["actions"][0].startswith("deleted intermediate copy")
    assert world.app_copies(MAIN_ACCOUNT) == []


def test_notify_handler_reports_a_stopped_run(
    environment: dict[str, str], event: dict[str, Any], world: World
) -> None:
    # Given a run that was aborted after making its intermediate copy
    state = describe_source.handler(
        {"event": event, "executionArn": EXECUTION}, ctx("describe-source")
    )
    copy_intermediate.handler(state, ctx("copy-intermediate"))
    import json

    status_event = {
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {"status": "ABORTED", "executionArn": EXECUTION, "input": json.dumps(event)},
    }
    # When the status-change event reaches the Notify function
    summary = notify_run.handler(status_event, ctx("notify"))
    # Then it cleaned up and reported the run as aborted
    assert summary["outcome"] == "aborted"
    assert summary["cleanup"]["actions"][0].startswith("deleted intermediate copy")
    assert world.app_copies(MAIN_ACCOUNT) == []
