"""Notifications of whole runs: exactly one per outcome, whatever happens to Slack."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from rds_xacct.model.constants import TAG_EXPIRES_AT
from rds_xacct.model.times import parse_iso
from simulation.driver import SLACK_WEBHOOK, Simulation
from simulation.moto import event_matches
from simulation.world import BACKUP_ACCOUNT, MAIN_ACCOUNT


@pytest.fixture
def sim(request: pytest.FixtureRequest) -> Iterator[Simulation]:
    options = getattr(request, "param", {})
    with Simulation(**options) as simulation:
        yield simulation


@pytest.mark.parametrize("status", ["ABORTED", "TIMED_OUT"])
def test_a_stopped_run_is_cleaned_up_and_reported_once(sim: Simulation, status: str) -> None:
    # Given a run stopped while the backup copy is being made
    event = sim.backup_event("orders-db")
    sim.stop_run_after("CheckBackup", status)
    # When it stops
    result = sim.deliver(event)
    # Then the status-change rule reported it exactly once, to SNS and to Slack
    outcome = {"ABORTED": "aborted", "TIMED_OUT": "timed-out"}[status]
    assert [m["attributes"]["outcome"]["Value"] for m in result.sns] == [outcome]
    assert len(result.slack) == 1
    # And what the stopped run made is gone from both accounts
    assert sim.world.app_copies(MAIN_ACCOUNT) == []
    assert sim.world.app_copies(BACKUP_ACCOUNT) == []
    assert "Cleanup" in result.sns[0]["message"]


@pytest.mark.parametrize(
    ("status", "error"), [("SUCCEEDED", None), ("FAILED", "SnapshotNotOwned"), ("RUNNING", None)]
)
def test_runs_that_report_themselves_are_not_reported_again(
    sim: Simulation, status: str, error: str | None
) -> None:
    # (a FAILED run with a caught error notified through its own Catch)
    detail = {"status": status, "stateMachineArn": sim.state_machine_arn}
    event = {
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {**detail, **({"error": error} if error else {})},
    }
    assert not event_matches(sim.app.stopped_run_pattern, event)


def test_the_stopped_run_rule_is_only_for_this_state_machine(sim: Simulation) -> None:
    event = {
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {"status": "ABORTED", "stateMachineArn": sim.state_machine_arn + "-other"},
    }
    assert not event_matches(sim.app.stopped_run_pattern, event)


@pytest.mark.parametrize("sim", [{"slack_status": 500}], indirect=True)
def test_a_slack_outage_never_turns_a_good_copy_into_a_failure(sim: Simulation) -> None:
    # Given Slack answering 500 to everything
    event = sim.backup_event("orders-db")
    # When a run copies a snapshot
    result = sim.deliver(event)
    # Then the run succeeds and SNS has the one success message
    assert result.status == "SUCCEEDED"
    assert [m["attributes"]["outcome"]["Value"] for m in result.sns] == ["succeeded"]
    # And Slack was tried a bounded number of times (4 for the one notification)
    assert len(result.slack) == 4
    assert "SlackDeliveryFailed" in sim.logs.getvalue() or "not delivered" in sim.logs.getvalue()


@pytest.mark.parametrize("sim", [{"slack_status": 500}, {}], indirect=True)
def test_no_webhook_url_in_the_logs_of_a_whole_run(sim: Simulation) -> None:
    # Given a run that succeeds, and one that fails
    sim.deliver(sim.backup_event("orders-db"))
    sim.inject_failure("CopyBackup")
    sim.deliver(sim.backup_event("billing-db"))
    # Then the logs of every function hold the summaries but never the webhook URL
    logs = sim.logs.getvalue()
    assert "Run summary" in logs
    assert SLACK_WEBHOOK not in logs
    assert "hooks.slack.com" not in logs
    # nor any credential the runs were given (tests/e2e/test_fault_matrix.py checks every
    # cell of the fault matrix the same way)
    assert sim.secrets_in(logs) == []
    # And neither do the SNS messages
    assert all("hooks.slack.com" not in m["message"] for m in sim.sns_messages())


@pytest.mark.parametrize("sim", [{"slack": False}], indirect=True)
def test_without_slack_a_run_sends_only_sns(sim: Simulation) -> None:
    result = sim.deliver(sim.backup_event("orders-db"))
    assert result.status == "SUCCEEDED"
    assert len(result.sns) == 1
    assert result.slack == []


def test_a_run_aborted_during_its_retention_leaves_its_copy_to_the_keeper(sim: Simulation) -> None:
    # Given a run aborted while it waits out the retention: its complete backup copy is kept
    event = sim.backup_event("orders-db")
    sim.stop_run_after("Notify", "ABORTED")  # the first Notify: the copy is in place
    result = sim.deliver(event)
    assert [m["attributes"]["outcome"]["Value"] for m in result.sns] == ["succeeded", "aborted"]
    (copy,) = sim.world.app_copies(BACKUP_ACCOUNT)
    expires = parse_iso(copy["tags"][TAG_EXPIRES_AT])
    # When the main account's daily sweep runs after the expiry
    sim.clock.advance((expires - sim.clock.now()).total_seconds() + 3 * 86400)
    swept = sim.sweep()
    # Then it leaves the copy (the main account deletes nothing in the backup account)
    assert swept["deleted"] == []
    assert len(sim.world.app_copies(BACKUP_ACCOUNT)) == 1
    # And the backup account's keeper deletes it in its hourly pass
    kept = sim.keeper_pass()
    assert kept["deleted"] == [copy["arn"]]
    assert sim.world.app_copies(BACKUP_ACCOUNT) == []


def test_a_sweep_with_nothing_to_do_sends_nothing(sim: Simulation) -> None:
    before = len(sim.sns_messages())
    assert sim.sweep() == {
        "deleted": [],
        "left": [],
        "problems": [],
        "sweptAt": sim.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    assert len(sim.sns_messages()) == before


@pytest.mark.parametrize("lean", [False, True], ids=["event-names-the-error", "event-without-it"])
def test_a_run_that_fails_with_states_runtime_is_cleaned_up_and_reported_once(
    sim: Simulation, lean: bool
) -> None:
    # Given a run whose CheckIntermediate hands its Wait a number of seconds that is not a number (a
    # bug): Step Functions fails the run with States.Runtime, which no Catch handles; its
    # status-change event names the error, or not (then the function asks DescribeExecution)
    sim.lean_status_events = lean
    event = sim.backup_event("orders-db")
    sim.corrupt_result("CheckIntermediate", waitSeconds="soon")
    # When it runs
    result = sim.deliver(event)
    # Then it ended FAILED without passing through its own Cleanup and notification
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    assert "Cleanup" not in result.states
    # And the status-change rule reported it exactly once, saying what happened
    assert [m["attributes"]["outcome"]["Value"] for m in result.sns] == ["failed"]
    assert len(result.slack) == 1
    message = result.sns[0]["message"]
    assert "States.Runtime" in message
    assert "SecondsPath" in message
    # And cleaned up what it made, in both accounts, and gave its copy slot back
    assert sim.world.app_copies(MAIN_ACCOUNT) == []
    assert sim.world.app_copies(BACKUP_ACCOUNT) == []
    assert all(pool["inUse"] == 0 for pool in sim.copy_slots().values())


@pytest.mark.parametrize("sim", [{"parameters": {"RetentionDays": "30"}}], indirect=True)
def test_a_hand_edited_expiry_on_a_copy_a_run_adopts_is_waited_on(sim: Simulation) -> None:
    # Given a run aborted during its retention (its complete backup copy is kept), whose
    # copy's expiry an operator then moved, writing it with a space instead of the T
    event = sim.backup_event("orders-db")
    sim.stop_run_after("Notify", "ABORTED")
    sim.deliver(event)
    sim.stop_after = None
    [backup] = sim.world.app_copies(BACKUP_ACCOUNT)
    rds = sim.world.backup.client("rds")
    rds.add_tags_to_resource(
        ResourceName=backup["arn"], Tags=[{"Key": TAG_EXPIRES_AT, "Value": "2026-12-30 02:00"}]
    )
    # When the event is delivered again and the new run adopts the copy
    result = sim.deliver(event)
    # Then the run waits until the edited expiry (not States.Runtime), deletes the copy, ends well
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output["expiresAt"] == "2026-12-30T02:00:00Z"
    assert result.finished_at >= datetime(2026, 12, 30, 2, 0, tzinfo=UTC)
    assert sim.world.app_copies(BACKUP_ACCOUNT) == []
    assert sim.world.app_copies(MAIN_ACCOUNT) == []
