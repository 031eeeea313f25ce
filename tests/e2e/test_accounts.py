"""One backup account serving several source accounts (issue 21): the main stack deployed in
each source account (its own functions, roles, state machine, tables and events), every copy
landing in the one backup account, kept and deleted there by its keeper."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from rds_xacct.model.constants import DEFAULT_MAX_COPIES_IN_FLIGHT
from simulation.driver import MakeSim, Simulation, outcomes
from simulation.moto import RDS_LIMITS
from simulation.world import BACKUP_ACCOUNT, MAIN_ACCOUNT, REGION, SECOND_ACCOUNT
from tests.support.copies import peak_copying

ACCOUNTS = (MAIN_ACCOUNT, SECOND_ACCOUNT)


def _summary(described: dict[str, Any]) -> dict[str, Any]:
    output: dict[str, Any] = json.loads(described["output"])
    return output


@contextmanager
def _in_flight(sim: Simulation, events: list[dict[str, Any]], hours: float) -> Iterator[list[str]]:
    """Start a run for each event (each in its own account) and let `hours` pass; then the
    clock stands still while the test looks (the test takes part in it: otherwise the runs'
    waits would move it on at once, to the end of their retention)."""
    with sim.clock.taking_part():
        arns = [sim.start_run(event) for event in events]
        sim.clock.wait_until(sim.clock.now() + timedelta(hours=hours))
        yield arns


def test_two_source_accounts_copy_into_one_backup_account_each_copy_deleted_by_its_own_run(
    make_sim: MakeSim,
) -> None:
    # Given the main stack in two source accounts, both copying into one backup account
    sim = make_sim(source_accounts=ACCOUNTS)
    # And an AWS Backup snapshot of a database in each, delivered in its own account
    events = [
        sim.backup_event("orders-db", account=MAIN_ACCOUNT),
        sim.backup_event("billing-db", account=SECOND_ACCOUNT),
    ]
    assert [e["account"] for e in events] == list(ACCOUNTS)

    # When both runs start and two hours pass
    with _in_flight(sim, events, hours=2) as arns:
        # Then each run is its own account's state machine's
        assert [arn.split(":")[4] for arn in arns] == list(ACCOUNTS)
        # And both copies are in the backup account, copied from their own source account (RDS's
        # record) and encrypted with the backup account's key
        copies = {c["id"]: c for c in sim.world.app_copies(BACKUP_ACCOUNT)}
        assert len(copies) == 2
        sources = sorted(str(c["source"]).split(":")[4] for c in copies.values())
        assert sources == sorted(ACCOUNTS)
        assert {c["key"] for c in copies.values()} == {sim.world.backup_key_arn}
        # And neither source account keeps its intermediate copy once its backup copy is made
        for account in ACCOUNTS:
            assert sim.world.app_copies(account) == []

    # When the runs go on to the end of their retention (the keeper's pass not running)
    described = sim.wait_for_runs(arns)

    # Then both runs succeeded, each having asked the keeper to delete its own copy, which it did
    assert [d["status"] for d in described] == ["SUCCEEDED", "SUCCEEDED"]
    summaries = [_summary(d) for d in described]
    assert {s["backupCopy"]["arn"].rsplit(":", 1)[-1] for s in summaries} == set(copies)
    assert [s["backupCopy"]["action"] for s in summaries] == ["deleted", "deleted"]
    assert sim.world.app_copies(BACKUP_ACCOUNT) == []
    # And each account's topic told of its own run only
    for account, summary in zip(ACCOUNTS, summaries, strict=True):
        messages = sim.sns_messages(account)
        assert outcomes(messages) == ["succeeded"]
        assert summary["backupCopy"]["arn"] in messages[0]["message"]
    # And each run entered its own account's states, through DeleteBackup
    for arn in arns:
        assert "DeleteBackup" in sim.states_entered(arn)
    # And both accounts' slots are free again
    for account in ACCOUNTS:
        pools = sim.copy_slots(account)
        assert all(pool["inUse"] == 0 for pool in pools.values())


def test_the_same_database_name_in_two_accounts_in_the_same_second_gives_two_copies(
    make_sim: MakeSim,
) -> None:
    # Given a database of the same name in each source account, backed up by AWS Backup in
    # the same second (the same job id too)
    sim = make_sim(source_accounts=ACCOUNTS)
    moment = sim.clock.now() - timedelta(minutes=10)
    events = [
        sim.backup_event("orders-db", account=account, job_id="same-job", created_at=moment)
        for account in ACCOUNTS
    ]
    assert events[0]["detail"]["recoveryPointArn"] != events[1]["detail"]["recoveryPointArn"]

    # When both events are delivered together
    with _in_flight(sim, events, hours=2) as arns:
        # Then two copies land in the backup account under different names, one from each account
        copies = sim.world.app_copies(BACKUP_ACCOUNT)
        assert len({c["id"] for c in copies}) == 2
        assert all(c["id"].startswith("xacct-orders-db-") for c in copies)
        assert sorted(str(c["source"]).split(":")[4] for c in copies) == sorted(ACCOUNTS)
        assert {c["source"].split(":")[3] for c in copies} == {REGION}

    # And at the end of the retention both runs delete their own copy
    described = sim.wait_for_runs(arns)
    assert [d["status"] for d in described] == ["SUCCEEDED", "SUCCEEDED"]
    assert [_summary(d)["backupCopy"]["action"] for d in described] == ["deleted", "deleted"]
    assert sim.world.app_copies(BACKUP_ACCOUNT) == []


def test_deliver_runs_an_event_in_the_account_it_names(make_sim: MakeSim) -> None:
    # Given two source accounts
    sim = make_sim(source_accounts=ACCOUNTS)
    # When the second account's AWS Backup event is delivered
    result = sim.deliver(sim.backup_event("orders-db", account=SECOND_ACCOUNT))
    # Then its run is the second account's, succeeds, and notifies there only
    assert result.execution_arn is not None
    assert result.execution_arn.split(":")[4] == SECOND_ACCOUNT
    assert result.status == "SUCCEEDED"
    assert outcomes(result.sns) == ["succeeded"]
    assert sim.sns_messages(MAIN_ACCOUNT) == []
    assert sim.world.app_copies(BACKUP_ACCOUNT) == []


def test_a_window_of_both_accounts_databases_runs_side_by_side(make_sim: MakeSim) -> None:
    # Given three databases in each source account, of the same names
    sim = make_sim(source_accounts=ACCOUNTS)
    arrivals = [
        (float(index), sim.backup_event(f"db-{index}", account=account))
        for account in ACCOUNTS
        for index in range(3)
    ]
    # When their events arrive within seconds of each other, the runs going on side by side
    described = sim.deliver_window(arrivals, keep_histories=False)
    # Then every run succeeds in its own account, each through DeleteBackup
    assert [d["status"] for d in described] == ["SUCCEEDED"] * 6
    accounts = sorted(d["executionArn"].split(":")[4] for d in described)
    assert accounts == sorted(ACCOUNTS * 3)
    for run in described:
        assert "DeleteBackup" in sim.states_entered(run["executionArn"])
    # And six different copies were made in the backup account, all deleted by now
    copies = {_summary(d)["backupCopy"]["arn"] for d in described}
    assert len(copies) == 6
    assert sim.world.app_copies(BACKUP_ACCOUNT) == []


def test_a_run_that_fails_in_the_second_account_cleans_up_and_notifies_there(
    make_sim: MakeSim,
) -> None:
    # Given two source accounts and a failure at CopyBackup
    sim = make_sim(source_accounts=ACCOUNTS)
    sim.inject_failure("CopyBackup")
    # When the second account's event is delivered
    result = sim.deliver(sim.backup_event("orders-db", account=SECOND_ACCOUNT))
    # Then its run fails after Cleanup and NotifyFailure, in that account
    assert result.status == "FAILED"
    assert result.states[-3:] == ["Cleanup", "NotifyFailure", "Failed"]
    # And the failure is told on that account's topic only
    assert outcomes(result.sns) == ["failed"]
    assert outcomes(sim.sns_messages(SECOND_ACCOUNT)) == ["failed"]
    assert sim.sns_messages(MAIN_ACCOUNT) == []
    # And nothing the app made is left in either account
    assert sim.world.app_copies(SECOND_ACCOUNT) == []
    assert sim.world.app_copies(BACKUP_ACCOUNT) == []


def test_a_stopped_run_of_the_second_account_is_told_there(make_sim: MakeSim) -> None:
    # Given two source accounts, and runs stopped (as an operator would) after CopyIntermediate
    sim = make_sim(source_accounts=ACCOUNTS)
    sim.stop_run_after("CopyIntermediate")
    # When the second account's event is delivered
    result = sim.deliver(sim.backup_event("orders-db", account=SECOND_ACCOUNT))
    # Then the run is aborted, and the status-change event reaches that account's Notify
    # function, which tells of it on that account's topic
    assert result.status == "ABORTED"
    assert outcomes(sim.sns_messages(SECOND_ACCOUNT)) == ["aborted"]
    assert sim.sns_messages(MAIN_ACCOUNT) == []


def test_two_source_accounts_copy_into_a_backup_region_with_its_key(make_sim: MakeSim) -> None:
    # Given two source accounts whose copies land in the backup account's disaster-recovery
    # region
    sim = make_sim(source_accounts=ACCOUNTS, backup_region="us-east-1")
    events = [sim.backup_event("orders-db", account=account) for account in ACCOUNTS]
    # When both runs start and two hours pass
    with _in_flight(sim, events, hours=2) as arns:
        # Then both copies are there, with the key of that region, one from each account
        copies = sim.world.app_copies(BACKUP_ACCOUNT)
        assert len(copies) == 2
        assert {c["arn"].split(":")[3] for c in copies} == {"us-east-1"}
        assert {c["key"].split(":")[3:5] == ["us-east-1", BACKUP_ACCOUNT] for c in copies} == {True}
        assert sorted(str(c["source"]).split(":")[4] for c in copies) == sorted(ACCOUNTS)
    # And each run deletes its own copy there at the end of its retention
    described = sim.wait_for_runs(arns)
    assert [_summary(d)["backupCopy"]["action"] for d in described] == ["deleted", "deleted"]
    assert sim.world.app_copies(BACKUP_ACCOUNT) == []


def test_the_second_accounts_deployed_pipeline_cannot_have_the_main_accounts_copy_deleted(
    make_sim: MakeSim,
) -> None:
    # Given two source accounts, and a copy of the main account's kept for good
    sim = make_sim(source_accounts=ACCOUNTS, parameters={"RetentionDays": "0"})
    assert sim.deliver(sim.backup_event("orders-db")).status == "SUCCEEDED"
    (copy,) = sim.world.app_copies(BACKUP_ACCOUNT)
    request = {"action": "expire", "kind": "db", "snapshot": copy["id"], "execution": "x"}
    # When the second account's deployed pipeline role, through the backup role, asks the
    # keeper to expire it
    second = sim.backup_role_session(sim.pipeline_session(SECOND_ACCOUNT))
    answer = sim.ask_keeper(request, second)
    # Then the keeper refuses: that account is answered about its own copies only
    assert answer["decision"] == "refused"
    assert f"not from the asking account {SECOND_ACCOUNT}" in answer["reason"]
    assert len(sim.world.app_copies(BACKUP_ACCOUNT)) == 1


def test_two_source_accounts_of_100_databases_each_never_exceed_the_backup_accounts_limit(
    make_sim: MakeSim,
) -> None:
    # Given two source accounts with 100 databases each backed up in one 20-minute window, RDS
    # allowing its 20 copies in progress per account and region, and the default 18 copy
    # slots in each source account's pool and in the backup account's one pool (its broker)
    slots = DEFAULT_MAX_COPIES_IN_FLIGHT
    sim = make_sim(source_accounts=ACCOUNTS, parameters={"RetentionDays": "0"}, slack=False)
    for account in (*ACCOUNTS, BACKUP_ACCOUNT):
        RDS_LIMITS.set_manual_snapshot_quota(account, db=1000, cluster=1000)
    arrivals = [
        (6.0 * n + (3 if account == SECOND_ACCOUNT else 0), event)
        for n in range(100)
        for account in ACCOUNTS
        for event in [sim.backup_event(f"db-{n:03d}", size_gib=1 + n % 5, account=account)]
    ]
    # When the whole window runs
    described = sim.deliver_window(arrivals, keep_histories=False)
    # Then every run succeeded and the backup account holds exactly one copy of each of the
    # 200 databases, 100 from each account, nothing lost
    assert [d["status"] for d in described] == ["SUCCEEDED"] * 200
    copies = sim.world.app_copies(BACKUP_ACCOUNT)
    assert len({c["id"] for c in copies}) == len(copies) == 200
    assert sorted(str(c["source"]).split(":")[4] for c in copies) == sorted(ACCOUNTS * 100)
    # And the backup account never had more copies in progress than its one pool, shared by
    # both accounts (each account's own pool would have let 36 in), nor did RDS refuse any
    assert peak_copying(sim)[BACKUP_ACCOUNT] == slots
    assert RDS_LIMITS.rejected_copies == 0
    # And every slot came back, in every pool
    for account in ACCOUNTS:
        for pool, entry in sim.copy_slots(account).items():
            assert entry == {"inUse": 0, "holders": [], "waiting": []}, pool


def test_a_run_failing_while_it_holds_a_backup_slot_gives_it_back_to_the_shared_pool(
    make_sim: MakeSim,
) -> None:
    # Given a run that fails while its backup copy is made (it holds a slot of the backup
    # account's pool, kept by the slot broker)
    sim = make_sim()
    sim.inject_failure("CheckBackup")
    # When it fails and cleans up
    result = sim.deliver(sim.backup_event("orders-db"))
    # Then its cleanup says it gave the slot back, and no slot is held or awaited anywhere
    assert result.status == "FAILED"
    cleanup = [e.text for e in result.timeline if e.text.startswith("Cleanup:")]
    assert any("gave back its backup copy slot" in text for text in cleanup), cleanup
    for pool, entry in sim.copy_slots().items():
        assert entry == {"inUse": 0, "holders": [], "waiting": []}, pool
