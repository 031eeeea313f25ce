"""A busy night: many runs at once against RDS's limits, on the whole product (template, ASL,
handlers) with every run on one simulated clock. Admission control must lose nothing, give every
slot back, and fail at once only where waiting cannot help (a full manual snapshot quota)."""

from __future__ import annotations

import gc
import json
from datetime import timedelta
from typing import Any

import pytest
from moto.core.model_instances import model_data
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import Table
from moto.stepfunctions.responses import get_backend

from rds_xacct.model.times import parse_iso
from simulation.contention import DynamoDbContention
from simulation.driver import MakeSim, Simulation, outcomes
from simulation.moto import RDS_LIMITS
from simulation.moto.memory import ForgottenHistory
from simulation.window import run_window
from simulation.world import BACKUP_ACCOUNT, MAIN_ACCOUNT, REGION


def _models_tracked() -> int:
    """Objects moto keeps for its dashboard (`instances_tracked` of every model class)."""
    models: Any = model_data
    return sum(len(model.instances_tracked) for ms in models.values() for model in ms.values())


def _all_back(sim: Simulation) -> None:
    for pool, entry in sim.copy_slots().items():
        assert entry == {"inUse": 0, "holders": [], "waiting": []}, pool


def test_a_window_of_40_databases_through_5_slots_loses_nothing() -> None:
    # Given 40 AWS Backup jobs completing within 10 minutes, copies of 10 to 60 minutes, RDS
    # allowing 5 copies in progress per account and the app 5 slots per account
    # When the whole window runs
    report = run_window(40, slots=5, rds_limit=5)
    # Then every database has exactly one copy in the backup account and no run failed
    assert report.failures == []
    assert report.statuses == {"SUCCEEDED": 40}
    assert report.copies_arrived == 40
    assert report.duplicates == 0
    # And nothing is left in the main account, and every slot came back
    assert report.left_in_main == 0
    assert set(report.slots_in_use_after.values()) == {0}
    assert report.waiting_after == 0
    # And RDS refused (almost) no copy: runs waited for a slot instead of calling and failing
    assert report.rejected_copy_calls < 0.05 * 40
    # And the window drained within 1.2 times the physical floor (each account's copy work
    # packed into its lanes, plus the shortest copy)
    assert report.drain_minutes <= 1.2 * report.floor_minutes
    assert report.looks_per_copy <= 4


def test_a_freed_slot_goes_at_once_to_the_next_run_after_a_failure(make_sim: MakeSim) -> None:
    # Given one slot per account, and a first run whose copy will fail
    sim = make_sim(parameters={"RetentionDays": "0", "MaxCopiesInFlight": "1"}, slack=False)
    first = sim.backup_event("first-db")
    second = sim.backup_event("second-db")
    sim.patches.fail_next_copy()
    # When both arrive a minute apart
    runs = sim.deliver_window([(0, first), (60, second)])
    # Then the first fails (and says so), and its slot went to the second the moment its
    # cleanup gave it back: the second's copy started then, not at its next look
    assert [r["status"] for r in runs] == ["FAILED", "SUCCEEDED"]
    failed_at = runs[0]["stopDate"]
    started = parse_iso(json.loads(runs[1]["output"])["intermediateCopy"]["copyStartedAt"])
    assert timedelta(0) <= started - failed_at <= timedelta(seconds=5)
    assert sorted(outcomes(sim.sns_messages())) == ["failed", "succeeded"]
    _all_back(sim)


def test_an_aborted_run_gives_its_slot_back(make_sim: MakeSim) -> None:
    # Given one slot per account and a run stopped by an operator while its copy is made
    sim = make_sim(parameters={"RetentionDays": "0", "MaxCopiesInFlight": "1"}, slack=False)
    sim.stop_run_after("CopyIntermediate")
    aborted = sim.deliver(sim.backup_event("first-db"))
    assert aborted.status == "ABORTED"
    # Then the stopped-run path cleaned up and gave the slot back
    _all_back(sim)
    # And the next run gets the slot at once
    sim.stop_after = None
    result = sim.deliver(sim.backup_event("second-db"))
    assert result.status == "SUCCEEDED"
    assert result.states.count("WaitForMainSlot") == 1


def test_a_lost_run_gives_its_slot_back_when_its_lease_lapses(make_sim: MakeSim) -> None:
    # Given one slot per account, held by a run that was stopped and whose status-change event
    # never arrived: nothing gave its slot back
    sim = make_sim(parameters={"RetentionDays": "0", "MaxCopiesInFlight": "1"}, slack=False)
    sim.stop_run_after("CopyIntermediate", reported=False)
    lost = sim.deliver(sim.backup_event("lost-db"))
    assert lost.status == "ABORTED"
    main_pool = f"copies#{MAIN_ACCOUNT}#eu-west-1"
    assert sim.copy_slots()[main_pool]["inUse"] == 1
    # When another run needs the slot
    sim.stop_after = None
    result = sim.deliver(sim.backup_event("next-db"))
    # Then it waited for the lapsed lease (an hour past the lost run's last sign of life), asked
    # again every half hour, reaped the slot and went on; the lost copy was never touched
    assert result.status == "SUCCEEDED"
    assert 2 <= result.states.count("WaitForMainSlot") <= 4
    started = parse_iso(result.output["intermediateCopy"]["copyStartedAt"])
    assert timedelta(hours=1) <= started - result.started_at <= timedelta(hours=2)
    _all_back(sim)


@pytest.mark.parametrize("account", [MAIN_ACCOUNT, BACKUP_ACCOUNT], ids=["main", "backup"])
def test_a_full_manual_snapshot_quota_fails_at_once_and_says_how_to_raise_it(
    make_sim: MakeSim, account: str
) -> None:
    # Given one manual snapshot in each account (an earlier run's backup copy, a manual snapshot
    # in the main account) and a manual DB snapshot quota of 1 in one of them
    sim = make_sim(parameters={"RetentionDays": "0"}, slack=False)
    assert sim.deliver(sim.backup_event("first-db")).status == "SUCCEEDED"
    sim.world.native_snapshot("first-db", "kept-by-hand")
    RDS_LIMITS.set_manual_snapshot_quota(account, db=1)
    before = {a: len(sim.world.app_copies(a)) for a in (MAIN_ACCOUNT, BACKUP_ACCOUNT)}
    # When a run would copy into it
    result = sim.deliver(sim.backup_event("orders-db"))
    # Then it fails within minutes, before any copy, with the account, quota, usage and the way
    # to raise it; nothing new is left behind and no slot is held
    assert result.status == "FAILED"
    assert result.error == "QuotaExceeded"
    assert result.finished_at - result.started_at < timedelta(minutes=5)
    assert RDS_LIMITS.rejected_for_quota == 0
    message = result.sns[0]["message"]
    assert f"Account {account}" in message
    assert "'Manual DB instance snapshots'" in message
    assert "1 of 1 used" in message
    assert "request-service-quota-increase" in message
    assert {a: len(sim.world.app_copies(a)) for a in before} == before
    _all_back(sim)


def test_a_quota_past_80_percent_is_warned_once_a_day(make_sim: MakeSim) -> None:
    # Given a backup account whose manual snapshot quota will be 80 % full after one more copy
    sim = make_sim(parameters={"RetentionDays": "0"}, slack=True)
    RDS_LIMITS.set_manual_snapshot_quota(BACKUP_ACCOUNT, db=5)
    for database in ("a-db", "b-db", "c-db", "d-db"):
        assert sim.deliver(sim.backup_event(database)).status == "SUCCEEDED"
    # When two more runs copy on the same day (4 of 5 used, then 5 of 5 after the first)
    first = sim.deliver(sim.backup_event("e-db"))
    # Then the first run warned once, on SNS and Slack, naming the account and the quota
    assert first.status == "SUCCEEDED"
    warnings = [m for m in first.sns if outcomes([m]) == ["quota-warning"]]
    assert len(warnings) == 1
    assert BACKUP_ACCOUNT in warnings[0]["message"]
    assert "Manual DB instance snapshots" in warnings[0]["message"]
    assert any("quota" in m.get("text", "") for m in first.slack)
    # And the quota, now full, stops the next run at once; no second warning that day
    second = sim.deliver(sim.backup_event("f-db"))
    assert second.status == "FAILED"
    assert second.error == "QuotaExceeded"
    assert "quota-warning" not in outcomes(second.sns)


def test_a_busy_night_of_transaction_conflicts_and_throttling_loses_nothing() -> None:
    # Given 30 runs whose slot table answers as DynamoDB does under real concurrency: every
    # third transaction cancelled for a conflict, every fifth write throttled, every seventh
    # single write refused for an ongoing transaction
    contention = DynamoDbContention(conflict_every=3, throttle_every=5, single_conflict_every=7)
    # When the window runs through 5 slots per account
    report = run_window(30, slots=5, rds_limit=5, contention=contention)
    # Then the faults were met, many times over
    assert contention.answered["TransactionConflict"] >= 30
    assert contention.answered["ThrottlingError"] >= 10
    assert contention.answered["ProvisionedThroughputExceededException"] >= 10
    assert contention.answered["TransactionConflictException"] >= 10
    # And yet every copy was made, no run failed, and no slot is left taken or waited for
    assert report.failures == []
    assert report.statuses == {"SUCCEEDED": 30}
    assert report.copies_arrived == 30
    assert report.duplicates == 0
    assert set(report.slots_in_use_after.values()) == {0}
    assert report.waiting_after == 0


def test_a_window_keeps_no_history_nor_copy_of_a_table_once_its_runs_end(
    make_sim: MakeSim,
) -> None:
    # Given a window run as the bench runs its windows of 1,000 databases: each run's history
    # dropped when it ends (keep_histories=False); 2 slots, so that runs queue and the slot
    # table sees many transactions
    sim = make_sim(parameters={"RetentionDays": "0", "MaxCopiesInFlight": "2"}, slack=False)
    arrivals = [(10.0 * n, sim.backup_event(f"db-{n}", size_gib=5)) for n in range(4)]
    tracked = _models_tracked()
    # When the window runs
    runs = sim.deliver_window(arrivals, keep_histories=False)
    assert [r["status"] for r in runs] == ["SUCCEEDED"] * 4
    # Then each run's states entered are kept (the window's looks per copy are read from them),
    # and its history is gone: reading it fails rather than answer an empty history
    for run in runs:
        states = sim.states_entered(run["executionArn"])
        assert states[0] == "Receive"
        assert states.count("CheckIntermediate") >= 1
        with pytest.raises(AssertionError, match="history was forgotten"):
            sim.sfn.get_execution_history(executionArn=run["executionArn"])
    backend: Any = get_backend(MAIN_ACCOUNT, REGION)
    backend_histories = [
        execution.exec_worker.env.event_manager._history_event_list
        for machine in backend.state_machines
        for execution in machine.executions
    ]
    assert len(backend_histories) == 4
    assert all(isinstance(h, ForgottenHistory) and not h for h in backend_histories)
    # And moto kept none of its objects for its dashboard, nor any copy of a table a
    # transaction made (a 1,000-database window kept N x items copies: it ran out of 16 GB)
    assert _models_tracked() == tracked
    gc.collect()
    tables = [o for o in gc.get_objects() if isinstance(o, Table)]
    deployed = {id(t) for t in dynamodb_backends[MAIN_ACCOUNT][REGION].tables.values()} | {
        id(t) for t in dynamodb_backends[BACKUP_ACCOUNT][REGION].tables.values()
    }
    assert {id(t) for t in tables} == deployed
