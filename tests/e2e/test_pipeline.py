"""The whole product on two moto accounts: template.yaml, the ASL and the real handlers,
driven by events as EventBridge would deliver them (simulation/driver.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from rds_xacct.model.constants import TAG_APP, TAG_EXPIRES_AT
from simulation.driver import INJECTABLE_STEPS, MakeSim, outcomes
from simulation.events import load_event, rds_snapshot_event
from simulation.world import BACKUP_ACCOUNT, MAIN_ACCOUNT, REGION


def test_success_path_copies_notifies_once_and_deletes_after_the_retention(
    make_sim: MakeSim,
) -> None:
    # Given both accounts deployed from the templates and an AWS Backup snapshot of orders-db
    sim = make_sim()
    event = sim.backup_event("orders-db")
    # When AWS Backup's event is delivered
    result = sim.deliver(event)
    # Then the run succeeds through every step
    assert result.matched_rules == ["AwsBackupJobCompletedRule"]
    assert result.status == "SUCCEEDED"
    for state in (
        "CopyIntermediate",
        "Share",
        "CopyBackup",
        "DeleteIntermediate",
        "WaitRetention",
        "DeleteBackup",
    ):
        assert state in result.states
    # And one SNS and one Slack message said so, with the copy and its expiry
    assert outcomes(result.sns) == ["succeeded"]
    assert len(result.slack) == 1
    summary = result.summary
    assert summary is not None
    assert summary["outcome"] == "succeeded"
    assert summary["backupCopy"]["arn"].startswith(
        f"arn:aws:rds:{REGION}:{BACKUP_ACCOUNT}:snapshot:xacct-orders-db-"
    )
    assert summary["backupCopy"]["action"] == "deleted"
    assert summary["expiresAt"] is not None
    assert summary["backupCopy"]["arn"] in result.sns[0]["message"]
    # And the run took a simulated day (the retention), not real time
    assert result.finished_at - result.started_at > timedelta(days=1)
    # And nothing the app made is left in either account
    assert sim.world.app_copies(MAIN_ACCOUNT) == []
    assert sim.world.app_copies(BACKUP_ACCOUNT) == []


@pytest.mark.parametrize("step", INJECTABLE_STEPS)
def test_a_failure_at_any_step_cleans_up_notifies_and_fails(make_sim: MakeSim, step: str) -> None:
    # Given a failure injected at one step
    sim = make_sim()
    event = sim.backup_event("orders-db")
    sim.inject_failure(step)
    # When the event is delivered
    result = sim.deliver(event)
    # Then the run ends in the Fail state after Cleanup and NotifyFailure
    assert result.status == "FAILED"
    assert result.error == "AwsError"
    assert result.states[-3:] == ["Cleanup", "NotifyFailure", "Failed"]
    # And exactly one failure notification names the step (after the copy was reported, for
    # a failure at the retention's end)
    expected = ["succeeded", "failed"] if step == "DeleteBackup" else ["failed"]
    assert outcomes(result.sns) == expected
    assert f"at {step}" in result.sns[-1]["subject"]
    assert len(result.slack) == len(expected)
    # And no intermediate copy is left in the main account, nor a half-made backup copy
    assert sim.world.app_copies(MAIN_ACCOUNT) == []
    backup_copies = sim.world.app_copies(BACKUP_ACCOUNT)
    assert all(copy["status"] == "available" for copy in backup_copies)
    if step in ("DeleteIntermediate", "DeleteBackup"):
        # a complete backup copy is never deleted by a cleanup
        assert len(backup_copies) == 1
    else:
        assert backup_copies == []


def test_a_redelivered_event_makes_no_second_copy(make_sim: MakeSim) -> None:
    # Given a run that kept its copy for good
    sim = make_sim(parameters={"RetentionDays": "0"})
    event = sim.backup_event("orders-db")
    first = sim.deliver(event)
    # When EventBridge delivers the same event again
    again = sim.deliver(event)
    # Then the second run finds the first run's copy instead of making another
    assert (first.status, again.status) == ("SUCCEEDED", "SUCCEEDED")
    copies = sim.world.app_copies(BACKUP_ACCOUNT)
    assert len(copies) == 1
    assert again.summary is not None
    assert again.summary["backupCopy"]["arn"] == copies[0]["arn"]
    assert sim.world.app_copies(MAIN_ACCOUNT) == []


@pytest.mark.parametrize(
    "event_file", ["aws-backup-ebs-completed.json", "rds-automated-snapshot-created.json"]
)
def test_an_event_no_rule_matches_starts_nothing(make_sim: MakeSim, event_file: str) -> None:
    # Given the default deployment (native RDS snapshots not enabled)
    sim = make_sim()
    # When an EBS backup event, or a native snapshot event, is delivered
    result = sim.deliver(load_event(event_file))
    # Then no run starts and nobody is notified
    assert result.execution_arn is None
    assert result.sns == []
    assert sim.sfn.list_executions(stateMachineArn=sim.state_machine_arn)["executions"] == []


def test_a_failed_backup_job_starts_nothing(make_sim: MakeSim) -> None:
    sim = make_sim()
    event = sim.backup_event("orders-db")
    event["detail"]["state"] = "FAILED"
    assert sim.deliver(event).execution_arn is None


def test_an_aurora_cluster_backup_is_copied(make_sim: MakeSim) -> None:
    sim = make_sim()
    event = sim.backup_event("billing-aurora-" + "x" * 48, kind="cluster")
    result = sim.deliver(event)
    assert result.status == "SUCCEEDED"
    assert result.summary is not None
    arn = result.summary["backupCopy"]["arn"]
    assert ":cluster-snapshot:xacct-billing-aurora-" in arn
    assert len(arn.rsplit(":", 1)[-1]) <= 63


def test_a_native_automated_db_snapshot_is_copied_when_enabled(make_sim: MakeSim) -> None:
    sim = make_sim(parameters={"CopyRdsAutomatedSnapshots": "true"})
    sim.world.database("orders-db")
    arn = sim.world.native_snapshot("orders-db", "rds:orders-db-2026-11-24-02-10")
    result = sim.deliver(rds_snapshot_event(arn, "RDS-EVENT-0091"))
    assert result.matched_rules == ["RdsDbSnapshotCreatedRule"]
    assert result.status == "SUCCEEDED"
    assert result.summary is not None
    assert result.summary["origin"] == "rds-automated"


def test_a_native_manual_cluster_snapshot_is_copied_when_enabled(make_sim: MakeSim) -> None:
    sim = make_sim(parameters={"CopyRdsManualClusterSnapshots": "true"})
    sim.world.cluster("billing-aurora")
    arn = sim.world.native_snapshot("billing-aurora", "before-upgrade", kind="cluster")
    result = sim.deliver(rds_snapshot_event(arn, "RDS-EVENT-0075"))
    assert result.matched_rules == ["RdsClusterSnapshotCreatedRule"]
    assert result.status == "SUCCEEDED"


def test_an_event_about_the_apps_own_copy_starts_nothing(make_sim: MakeSim) -> None:
    # Given native manual snapshots enabled and a copy the app made
    sim = make_sim(parameters={"CopyRdsManualSnapshots": "true", "RetentionDays": "0"})
    result = sim.deliver(sim.backup_event("orders-db"))
    own_copy = result.summary["backupCopy"]["arn"] if result.summary else ""
    shared_arn = own_copy.replace(BACKUP_ACCOUNT, MAIN_ACCOUNT)
    # When RDS announces the app's own (shared) copy as a manual snapshot
    loop = sim.deliver(rds_snapshot_event(shared_arn, "RDS-EVENT-0042"))
    # Then the rule does not start a run
    assert loop.execution_arn is None


def test_a_filtered_out_database_is_skipped_with_the_reason(make_sim: MakeSim) -> None:
    sim = make_sim(parameters={"ExcludeDatabases": "*-test"})
    result = sim.deliver(sim.backup_event("orders-test"))
    assert result.status == "SUCCEEDED"
    assert result.states[-1] == "Skipped"
    assert outcomes(result.sns) == ["skipped"]
    assert "matches the excluded pattern" in result.sns[0]["message"]
    assert sim.world.app_copies(BACKUP_ACCOUNT) == []


@pytest.mark.parametrize(("days", "minimum"), [(0, 7), (1, 1), (7, 7), (30, 7)])
def test_retention(make_sim: MakeSim, days: int, minimum: int) -> None:
    # Given a retention of `days`, at least the backup account's minimum retention
    sim = make_sim(
        parameters={"RetentionDays": str(days)},
        backup_parameters={"MinimumRetentionDays": str(minimum)},
    )
    # When a backup is copied
    result = sim.deliver(sim.backup_event("orders-db"))
    assert result.status == "SUCCEEDED"
    summary = result.summary
    assert summary is not None
    copies = sim.world.app_copies(BACKUP_ACCOUNT)
    if days == 0:
        # Then retention 0 keeps the copy for good, with no expiry tag
        assert len(copies) == 1
        assert TAG_EXPIRES_AT not in copies[0]["tags"]
        assert summary["expiresAt"] is None
        assert "WaitRetention" not in result.states
    else:
        # Then the copy was kept `days` days and then deleted
        assert copies == []
        assert summary["backupCopy"]["action"] == "deleted"
        elapsed = result.finished_at - result.started_at
        assert timedelta(days=days) < elapsed < timedelta(days=days, hours=2)


def test_a_database_tag_overrides_the_retention(make_sim: MakeSim) -> None:
    sim = make_sim(parameters={"RetentionDays": "1"})
    result = sim.deliver(sim.backup_event("orders-db", tags={"rds-xacct:retention-days": "0"}))
    assert result.status == "SUCCEEDED"
    assert [c["tags"].get(TAG_APP) for c in sim.world.app_copies(BACKUP_ACCOUNT)] == ["rds-xacct"]


def test_a_copy_rds_fails_is_cleaned_up(make_sim: MakeSim) -> None:
    # Given RDS fails the next copy (the intermediate copy) after a few minutes
    sim = make_sim()
    event = sim.backup_event("orders-db")
    sim.patches.fail_next_copy()
    # When the event is delivered
    result = sim.deliver(event)
    # Then the run fails with SnapshotFailed and the failed copy is deleted
    assert result.status == "FAILED"
    assert result.error == "SnapshotFailed"
    assert sim.world.app_copies(MAIN_ACCOUNT) == []
    assert outcomes(result.sns) == ["failed"]


@pytest.mark.parametrize(
    "bad_input",
    [
        {"hello": "world"},
        ["not", "an", "event"],
        {
            "source": "aws.backup",
            "detail-type": "Backup Job State Change",
            "detail": {"state": "COMPLETED", "resourceType": "RDS"},
        },
    ],
)
def test_a_bad_input_started_by_hand_fails_readably_and_makes_nothing(
    make_sim: MakeSim, bad_input: Any
) -> None:
    # Given an operator starting a run by hand with an input the app cannot handle
    sim = make_sim()
    # When it runs
    result = sim.deliver(bad_input, by_hand=True)
    # Then it fails at DescribeSource with UnsupportedEvent, reported once, nothing made
    assert result.status == "FAILED"
    assert result.error == "UnsupportedEvent"
    assert outcomes(result.sns) == ["failed"]
    assert "at DescribeSource" in result.sns[0]["subject"]
    assert sim.world.app_copies(MAIN_ACCOUNT) == []
    assert sim.world.app_copies(BACKUP_ACCOUNT) == []
