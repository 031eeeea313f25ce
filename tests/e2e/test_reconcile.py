"""The daily reconciliation on the whole product (template, ASL, handlers): an event that never
arrived is made good the next day, and nothing is ever started twice."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import timedelta

from rds_xacct.model.constants import RECONCILED_FIELD, TAG_SOURCE_ARN
from simulation.driver import MakeSim, Simulation, outcomes
from simulation.events import backup_job_event
from simulation.moto import event_matches
from simulation.world import BACKUP_ACCOUNT, MAIN_ACCOUNT, REGION

MAIN_POOL = f"copies#{MAIN_ACCOUNT}#{REGION}"
"""The main account's copy slots in the admission table."""


def _next_reconciliation(sim: Simulation) -> None:
    """Move the simulated clock to the next daily reconciliation (07:47 UTC, template.yaml)."""
    now = sim.clock.now()
    target = now.replace(hour=7, minute=47, second=0, microsecond=0)
    if target <= now:
        target += timedelta(days=1)
    sim.clock.advance((target - now).total_seconds())


def _runs(sim: Simulation) -> list[dict[str, object]]:
    listed = sim.sfn.list_executions(stateMachineArn=sim.state_machine_arn)["executions"]
    return list(listed)


def test_a_missed_event_is_copied_the_next_day_and_a_second_look_starts_nothing(
    make_sim: MakeSim,
) -> None:
    # Given a deployment that excludes *-test, and AWS Backup snapshots of orders-db and of
    # orders-test whose events never arrived, made just after a day's reconciliation (07:50 UTC)
    sim = make_sim(parameters={"RetentionDays": "0", "ExcludeDatabases": "*-test"})
    _next_reconciliation(sim)
    sim.clock.advance(180)
    sim.backup_event("orders-db")
    sim.backup_event("orders-test")
    # When the next reconciliation runs
    _next_reconciliation(sim)
    sns_before = len(sim.sns_messages())
    result = sim.reconcile()
    # Then it started one run, for orders-db only (orders-test is excluded), named for
    # reconciliation, with an event the template's rule would have matched, marked as built
    assert [s["database"] for s in result["started"]] == ["orders-db"]
    assert result["excluded"] == 1
    execution = result["started"][0]["execution"]
    assert execution.rsplit(":", 1)[-1].startswith("reconcile-orders-db-")
    event = json.loads(sim.sfn.describe_execution(executionArn=execution)["input"])
    assert event_matches(sim.app.rules["AwsBackupJobCompletedRule"], event)
    assert event["detail"][RECONCILED_FIELD]
    # And the run copied the snapshot into the backup account
    (ended,) = sim.wait_for_runs([execution])
    assert ended["status"] == "SUCCEEDED"
    copies = sim.world.app_copies(BACKUP_ACCOUNT)
    assert [c["tags"][TAG_SOURCE_ARN] for c in copies] == [result["started"][0]["source"]]
    assert sim.world.app_copies(MAIN_ACCOUNT) == []
    # And SNS heard of the reconciliation and of the copy
    sent = sim.sns_messages()[sns_before:]
    assert sorted(outcomes(sent)) == ["reconciled", "succeeded"]
    reconciled = next(m for m in sent if m["attributes"]["outcome"]["Value"] == "reconciled")
    assert "orders-db" in reconciled["message"]
    # When reconciliation runs again the same day
    sns_before = len(sim.sns_messages())
    again = sim.reconcile()
    # Then it starts nothing and says nothing
    assert again["started"] == []
    assert again["copied"] == 1
    assert len(_runs(sim)) == 1
    assert sim.sns_messages()[sns_before:] == []


def test_a_snapshot_with_a_run_in_progress_is_not_started_twice(make_sim: MakeSim) -> None:
    # Given one copy slot, and two snapshots whose events did arrive: the first run copies, the
    # second waits for the slot and has made nothing yet
    sim = make_sim(parameters={"MaxCopiesInFlight": "1", "RetentionDays": "0"})
    made = sim.clock.now() - timedelta(hours=3)
    arns = []
    with sim.clock.taking_part():
        for database in ("orders-db", "billing-db"):
            sim.world.database(database)
            snapshot = sim.world.backup_snapshot(database, str(uuid.uuid4()), created_at=made)
            event = backup_job_event(snapshot, f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:db:{database}")
            arns.append(sim.start_run(event))
        pause = threading.Event()
        for _ in range(2000):
            pool = sim.copy_slots().get(MAIN_POOL, {})
            if pool.get("waiting") and sim.world.app_copies(MAIN_ACCOUNT):
                break
            pause.wait(0.005)
        pool = sim.copy_slots()[MAIN_POOL]
        assert len(pool["holders"]) == 1
        assert len(pool["waiting"]) == 1
        assert len(sim.world.app_copies(MAIN_ACCOUNT)) == 1
        # When reconciliation runs while both are in progress
        result = sim.reconcile()
    # Then it starts nothing: one has its copy begun, the other is known by its run
    assert result["started"] == []
    assert result["looked"] == 2
    assert result["copied"] == 1
    assert result["runs"] == 1
    # And both runs end with exactly one backup copy each
    assert [d["status"] for d in sim.wait_for_runs(arns)] == ["SUCCEEDED", "SUCCEEDED"]
    assert len(sim.world.app_copies(BACKUP_ACCOUNT)) == 2
    assert len(_runs(sim)) == 2
