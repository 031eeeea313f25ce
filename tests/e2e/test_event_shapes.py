"""Every event shape ends copied or skipped, never FAILED, on the whole product (issue 11):
the real template, ASL and handlers on moto (simulation/driver.py)."""

from __future__ import annotations

from simulation.driver import MakeSim, outcomes
from simulation.events import backup_job_event, load_event
from simulation.world import BACKUP_ACCOUNT, MAIN_ACCOUNT, REGION


def test_a_continuous_recovery_point_ends_skipped_with_the_reason(make_sim: MakeSim) -> None:
    # Given AWS Backup's COMPLETED event for a continuous (point-in-time) backup of orders-db
    sim = make_sim()
    event = load_event("aws-backup-rds-continuous-completed.json")
    # When it is delivered (the rule matches it: a COMPLETED job of an RDS database)
    result = sim.deliver(event)
    assert result.matched_rules == ["AwsBackupJobCompletedRule"]
    # Then the run ends Skipped (a success), with one "skipped" notification naming the
    # database and the recovery point and saying what to do, and nothing is made
    assert result.status == "SUCCEEDED"
    assert result.states[-1] == "Skipped"
    assert outcomes(result.sns) == ["skipped"]
    message = result.sns[0]["message"]
    assert "add a snapshot backup rule" in message
    assert event["detail"]["resourceArn"] in message
    assert event["detail"]["recoveryPointArn"] in message
    assert sim.world.app_copies(MAIN_ACCOUNT) == []


def test_an_unencrypted_aurora_cluster_is_copied_without_a_key_and_the_message_says_why(
    make_sim: MakeSim,
) -> None:
    # Given an unencrypted Aurora cluster's AWS Backup snapshot and its COMPLETED event
    sim = make_sim(parameters={"RetentionDays": "0"})
    sim.world.cluster("billing-aurora", encryption="none")
    snapshot = sim.world.backup_snapshot("billing-aurora", "9c8b7a6d", kind="cluster")
    resource = f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:cluster:billing-aurora"
    # When AWS Backup's event is delivered
    result = sim.deliver(backup_job_event(snapshot, resource))
    # Then the backup copy is made (both hops without a key) and the notification says why it is
    # not encrypted
    assert result.status == "SUCCEEDED"
    assert outcomes(result.sns) == ["succeeded"]
    assert (
        "RDS cannot encrypt a copy of an unencrypted DB cluster snapshot"
        in (result.sns[0]["message"])
    )
    assert result.summary is not None
    assert result.summary["notes"]
    assert [c["kind"] for c in sim.world.app_copies(BACKUP_ACCOUNT)] == ["cluster"]


def test_an_oracle_tde_snapshot_is_skipped_before_any_copy(make_sim: MakeSim) -> None:
    # Given an Oracle database with TDE in its option group, and its AWS Backup snapshot
    sim = make_sim()
    sim.world.database_with_options(
        "ledger", engine="oracle-ee", major_version="19", options=["TDE"]
    )
    snapshot = sim.world.backup_snapshot("ledger", "0b1c2d3e")
    event = backup_job_event(snapshot, f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:db:ledger")
    # When its event is delivered
    result = sim.deliver(event)
    # Then the run is skipped at once, saying why, and no copy was made
    assert result.status == "SUCCEEDED"
    assert "CopyIntermediate" not in result.states
    assert outcomes(result.sns) == ["skipped"]
    assert "Transparent Data Encryption" in result.sns[0]["message"]
    assert sim.world.app_copies(MAIN_ACCOUNT) == []
