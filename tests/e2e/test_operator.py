"""The operator command, `rds-xacct`, on the whole simulated product: its commands read the
deployment from the main stack's function, and the runs they start are the real template's,
ASL's and handlers' (typer's CliRunner, with the simulation's operator as the command's)."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

from typer.testing import CliRunner, Result

from rds_xacct.model import error_table
from rds_xacct.model.constants import (
    BACKFILL_EXECUTION_PREFIX,
    RECOVERY_POINT_OBJECTIVE_HOURS,
    ROLE_BACKUP,
    RUN_EXECUTION_PREFIX,
    TAG_ROLE,
    TAG_SOURCE_ARN,
)
from rds_xacct_cli.main import ATTENTION, OK, UNREADABLE, app
from simulation.driver import MakeSim, Simulation
from simulation.moto import RDS_LIMITS, wait_for_execution
from simulation.moto.recovery_points import RECOVERY_POINTS
from simulation.operator import operator_for
from simulation.world import BACKUP_ACCOUNT, MAIN_ACCOUNT
from tests.support.copies import peak_copying

RUN_TIMEOUT_S = 900
RUNNER = CliRunner(env={"COLUMNS": "200"})
"""The command as run in a terminal 200 columns wide (whatever the test's own terminal)."""
STEPS_BEFORE_THE_FIRST_WAIT = {
    "Receive",
    "DescribeSource",
    "Skipped?",
    "WaitForMainSlot",
    "CopyIntermediate",
    "CheckIntermediate",
    "IntermediateReady?",
    "WaitIntermediate",
}
"""Where a new run can be while the clock stands still."""


def rds_xacct(sim: Simulation, *args: str) -> Result:
    """`rds-xacct ARGS` as an operator of the simulated accounts runs it; the command takes part
    in the simulated clock, so the runs it starts move time only while it pauses."""
    with sim.clock.taking_part():
        return RUNNER.invoke(app, list(args), obj=operator_for(sim), catch_exceptions=False)


def executions(sim: Simulation) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = sim.sfn.list_executions(
        stateMachineArn=sim.state_machine_arn, maxResults=1000
    )["executions"]
    return listed


def finish(sim: Simulation, arns: list[str]) -> list[dict[str, Any]]:
    return [wait_for_execution(sim.sfn, arn, RUN_TIMEOUT_S) for arn in arns]


def backed_up(sim: Simulation, database: str, days_ago: float, *, size_gib: int = 5) -> str:
    """An AWS Backup snapshot of `database` made `days_ago` days before now; its ARN."""
    if not any(s["id"] == database for s in _databases(sim)):
        sim.world.database(database, size_gib=size_gib)
    made = sim.clock.now() - timedelta(days=days_ago)
    return sim.world.backup_snapshot(
        database, f"{database}-{made:%Y%m%d%H%M}", created_at=made.replace(microsecond=0)
    )


def _databases(sim: Simulation) -> list[dict[str, str]]:
    instances = sim.world.main_client("rds").describe_db_instances()["DBInstances"]
    return [{"id": i["DBInstanceIdentifier"]} for i in instances]


def backup_copies(sim: Simulation) -> list[str]:
    return sorted(
        s["tags"][TAG_SOURCE_ARN]
        for s in sim.world.app_copies(BACKUP_ACCOUNT)
        if s["tags"].get(TAG_ROLE) == ROLE_BACKUP
    )


# --- backfill ---------------------------------------------------------------------------------------
def test_a_backfill_lists_then_starts_one_run_per_snapshot_and_a_second_starts_none(
    make_sim: MakeSim,
) -> None:
    # Given three AWS Backup snapshots of two databases made in the last week, one of a
    # database the deployment leaves out, one older than the range asked for, one AWS Backup
    # has expired, and a native snapshot (the deployment copies AWS Backup's only)
    sim = make_sim(parameters={"RetentionDays": "0", "ExcludeDatabases": "scratch-*"}, slack=False)
    wanted = [
        backed_up(sim, "orders-db", 3),
        backed_up(sim, "orders-db", 2),
        backed_up(sim, "billing-db", 1),
    ]
    backed_up(sim, "scratch-db", 2)
    backed_up(sim, "billing-db", 12)
    expired = backed_up(sim, "billing-db", 4)
    RECOVERY_POINTS.status[expired] = "EXPIRED"
    sim.world.native_snapshot("orders-db", "by-hand")
    # When the operator backfills the last week without --start
    dry = rds_xacct(sim, "backfill", "--since", "7d")
    # Then it lists the three, says why the others are left, and starts nothing
    assert dry.exit_code == OK, dry.output
    assert "3 to copy; skipped: 0 already copied, 0 with a run, 1 that AWS Backup no longer" in (
        dry.stdout
    )
    assert "1 of databases the deployment does not copy" in dry.stdout
    assert "Dry run: nothing started. Add --start to start 3 run(s)." in dry.stdout
    for arn in wanted:
        assert arn.split(":snapshot:", 1)[1] in dry.stdout
    assert executions(sim) == []
    # When it starts them
    started = rds_xacct(sim, "backfill", "--since", "7d", "--start", "--json")
    assert started.exit_code == OK, started.output
    report = json.loads(started.stdout)
    # Then exactly one run per snapshot started, oldest first, named for the backfill, with the
    # event AWS Backup sends as input; each copies its snapshot
    assert [s["source"] for s in report["started"]] == wanted
    runs = executions(sim)
    assert len(runs) == 3
    assert all(r["name"].startswith(f"{BACKFILL_EXECUTION_PREFIX}-") for r in runs)
    first_input = json.loads(
        sim.sfn.describe_execution(executionArn=runs[-1]["executionArn"])["input"]
    )
    assert first_input["detail-type"] == "Backup Job State Change"
    assert first_input["resources"] == [wanted[0]]
    assert {r["status"] for r in finish(sim, [s["execution"] for s in report["started"]])} == {
        "SUCCEEDED"
    }
    assert backup_copies(sim) == sorted(wanted)
    # When the operator backfills again, --start and all
    again = rds_xacct(sim, "backfill", "--since", "7d", "--start", "--json")
    # Then nothing starts: the three are copied
    assert again.exit_code == OK, again.output
    second = json.loads(again.stdout)
    assert second["toStart"] == []
    assert sorted(s["source"] for s in second["copied"]) == sorted(wanted)
    assert "started" not in second
    assert len(executions(sim)) == 3


def test_a_second_backfill_while_the_first_ones_runs_wait_starts_none(make_sim: MakeSim) -> None:
    # Given a backfill whose runs have started but made no copy yet (one copy slot, taken)
    sim = make_sim(parameters={"RetentionDays": "0", "MaxCopiesInFlight": "1"}, slack=False)
    wanted = [backed_up(sim, f"db-{n}", 2 + n, size_gib=30) for n in range(3)]
    first = json.loads(rds_xacct(sim, "backfill", "--start", "--json").stdout)
    assert len(first["started"]) == 3
    # When the operator backfills again at once
    again = rds_xacct(sim, "backfill", "--start", "--json")
    # Then the snapshots copied or with a run are skipped, and nothing more starts
    second = json.loads(again.stdout)
    assert second["toStart"] == []
    assert sorted(s["source"] for s in second["copied"] + second["withRun"]) == sorted(wanted)
    assert len(executions(sim)) == 3
    finish(sim, [s["execution"] for s in first["started"]])
    assert backup_copies(sim) == sorted(wanted)


def test_a_backfill_of_60_snapshots_never_has_more_copies_in_flight_than_the_limit(
    make_sim: MakeSim,
) -> None:
    # Given 10 databases with 6 daily AWS Backup snapshots each, small copies, and 4 copy slots
    # per account (RDS allows 20). (Two source accounts' 200 databases through one backup
    # account's pool: tests/e2e/test_accounts.py.)
    slots = 4
    sim = make_sim(parameters={"RetentionDays": "0", "MaxCopiesInFlight": str(slots)}, slack=False)
    for account in (MAIN_ACCOUNT, BACKUP_ACCOUNT):
        RDS_LIMITS.set_manual_snapshot_quota(account, db=1000, cluster=1000)
    sim.patches.states_entered = {}  # a window's runs keep the states they entered, no history
    sim.recording = False
    for n in range(10):
        for day in range(1, 7):
            backed_up(sim, f"db-{n:02d}", day + n / 100, size_gib=1)
    # When the operator backfills the last 7 days
    result = rds_xacct(sim, "backfill", "--since", "7d", "--start", "--json")
    assert result.exit_code == OK, result.output
    report = json.loads(result.stdout)
    assert len(report["started"]) == 60
    described = finish(sim, [s["execution"] for s in report["started"]])
    # Then every run copied its snapshot, the starts were paced a second apart, and RDS never
    # had more copies in progress in either account than the slots (nor refused one)
    assert {d["status"] for d in described} == {"SUCCEEDED"}
    assert len(backup_copies(sim)) == 60
    starts = sorted(d["startDate"] for d in described)
    assert min(b - a for a, b in itertools.pairwise(starts)) >= timedelta(seconds=1)
    assert peak_copying(sim) == {MAIN_ACCOUNT: slots, BACKUP_ACCOUNT: slots}
    assert RDS_LIMITS.rejected_copies == 0
    for pool, entry in sim.copy_slots().items():
        assert entry == {"inUse": 0, "holders": [], "waiting": []}, pool


# --- run and explain --------------------------------------------------------------------------------
def test_run_copies_one_snapshot_now_and_can_run_it_again_later(make_sim: MakeSim) -> None:
    sim = make_sim(parameters={"RetentionDays": "0"}, slack=False)
    snapshot = backed_up(sim, "orders-db", 40)
    result = rds_xacct(sim, "run", snapshot.split(":snapshot:", 1)[1], "--json")
    assert result.exit_code == OK, result.output
    started = json.loads(result.stdout)
    assert started["source"] == snapshot
    assert started["execution"].rsplit(":", 1)[-1].startswith(f"{RUN_EXECUTION_PREFIX}-orders-db-")
    assert finish(sim, [started["execution"]])[0]["status"] == "SUCCEEDED"
    assert backup_copies(sim) == [snapshot]
    # (and explain says what it left: the backup copy, kept for good; nothing in main)
    explained = json.loads(rds_xacct(sim, "explain", started["execution"], "--json").stdout)
    assert (explained["status"], explained["database"]) == ("SUCCEEDED", "orders-db")
    assert explained["error"] is None
    assert explained["leftBehind"]["main"][0].startswith("nothing: the run deleted")
    assert explained["leftBehind"]["backup"][0].endswith("kept until for good (retention 0)")
    sim.clock.advance(60)
    again = json.loads(rds_xacct(sim, "run", snapshot, "--json").stdout)
    assert again["started"]
    assert again["execution"] != started["execution"]
    assert finish(sim, [again["execution"]])[0]["status"] == "SUCCEEDED"


def test_explain_names_the_step_a_failed_run_stopped_at_the_error_the_fix_and_what_is_left(
    make_sim: MakeSim,
) -> None:
    # Given a run that failed at CopyBackup, its intermediate copy made
    sim = make_sim(parameters={"RetentionDays": "0"}, slack=False)
    sim.inject_failure("CopyBackup")
    failed = sim.deliver(sim.backup_event("orders-db"), name="failed-run")
    assert failed.status == "FAILED"
    # When the operator asks about it by name
    said = rds_xacct(sim, "explain", "failed-run")
    explained = json.loads(rds_xacct(sim, "explain", "failed-run", "--json").stdout)
    # Then it names the step, the error, the fix from the error table, and what each account
    # was left with: the intermediate copy deleted by the cleanup, no backup copy
    assert said.exit_code == OK, said.output
    assert explained["step"] == "CopyBackup"
    assert explained["error"] == "AwsError"
    assert explained["hint"] == error_table.hint("AwsError")
    for text in ("CopyBackup", "AwsError", error_table.hint("AwsError")[:40], "failed-run"):
        assert text in " ".join(said.stdout.split()), text
    main, backup = explained["leftBehind"]["main"], explained["leftBehind"]["backup"]
    assert any(line.startswith("cleanup: deleted intermediate copy") for line in main), main
    assert backup == ["no backup copy was made"]
    assert explained["consoleUrl"].endswith(failed.execution_arn or "")


def test_explain_of_a_run_that_does_not_exist_says_so(make_sim: MakeSim) -> None:
    sim = make_sim(slack=False)
    result = RUNNER.invoke(app, ["explain", "no-such-run"], obj=operator_for(sim))
    assert result.exit_code == UNREADABLE
    assert "No run 'no-such-run'" in result.output


def test_run_of_a_snapshot_that_does_not_exist_says_so(make_sim: MakeSim) -> None:
    sim = make_sim(slack=False)
    result = RUNNER.invoke(app, ["run", "nope"], obj=operator_for(sim))
    assert result.exit_code == UNREADABLE
    assert "No DB or DB cluster snapshot 'nope'" in result.output


# --- status -----------------------------------------------------------------------------------------
def test_status_of_a_healthy_world_lists_every_database_fresh_and_exits_0(
    make_sim: MakeSim,
) -> None:
    # Given two databases copied within the hour
    sim = make_sim(parameters={"RetentionDays": "0"}, slack=False)
    for database in ("orders-db", "billing-db"):
        assert sim.deliver(sim.backup_event(database)).status == "SUCCEEDED"
    # When the operator asks for the status, for people and for machines
    shown = rds_xacct(sim, "status")
    found = json.loads(rds_xacct(sim, "status", "--json").stdout)
    # Then each database has a line with its newest copy, young against the RPO, nothing in
    # flight, no failure; and the command exits 0
    assert shown.exit_code == OK, shown.output
    assert found["healthy"] is True
    assert found["rpoHours"] == RECOVERY_POINT_OBJECTIVE_HOURS
    lines = {d["database"]: d for d in found["databases"]}
    assert sorted(lines) == ["billing-db", "orders-db"]
    for line in lines.values():
        assert line["verdict"] == "ok"
        assert line["newestCopy"].startswith(f"arn:aws:rds:eu-west-1:{BACKUP_ACCOUNT}:snapshot:")
        assert 0 < line["ageHours"] < 2
        assert line["inFlight"] == []
        assert line["lastFailure"] is None
    assert "2 database(s), 0 needing a look (none); 0 run(s) in flight." in shown.stdout
    # And two hours on, against an RPO of one hour, both are stale: exit 1
    sim.clock.advance(2 * 3600)
    strict = rds_xacct(sim, "status", "--rpo-hours", "1", "--json")
    assert strict.exit_code == ATTENTION
    assert {d["verdict"] for d in json.loads(strict.stdout)["databases"]} == {"stale"}


def test_status_of_a_broken_world_names_what_is_stale_failing_and_in_flight_and_exits_1(
    make_sim: MakeSim,
) -> None:
    # Given one database copied 30 hours ago and not since, one whose run failed at CopyBackup,
    # and one whose first run is on its way
    sim = make_sim(parameters={"RetentionDays": "0"}, slack=False)
    assert sim.deliver(sim.backup_event("orders-db")).status == "SUCCEEDED"
    sim.clock.advance(30 * 3600)
    sim.inject_failure("CopyBackup")
    failed = sim.deliver(sim.backup_event("billing-db"), name="billing-failed")
    assert failed.status == "FAILED"
    sim.failures.clear()
    with sim.clock.taking_part():
        going = sim.start_run(sim.backup_event("pay-db", size_gib=500))
        # When the operator asks for the status while that run goes on
        shown = RUNNER.invoke(app, ["status"], obj=operator_for(sim))
        found = json.loads(RUNNER.invoke(app, ["status", "--json"], obj=operator_for(sim)).stdout)
    # Then it exits 1, and each line says why
    assert shown.exit_code == ATTENTION, shown.output
    assert found["healthy"] is False
    lines = {d["database"]: d for d in found["databases"]}
    assert lines["orders-db"]["verdict"] == "stale"
    assert lines["orders-db"]["ageHours"] > RECOVERY_POINT_OBJECTIVE_HOURS
    billing = lines["billing-db"]
    assert billing["verdict"] == "failing"
    assert billing["lastFailure"]["name"] == "billing-failed"
    assert billing["lastFailure"]["step"] == "CopyBackup"
    assert billing["lastFailure"]["error"] == "AwsError"
    assert billing["lastFailure"]["hint"] == error_table.hint("AwsError")
    pay = lines["pay-db"]
    assert pay["verdict"] == "never copied"
    assert [run["name"] for run in pay["inFlight"]] == [going.rsplit(":", 1)[-1]]
    assert pay["inFlight"][0]["step"] in {
        "Receive",
        "DescribeSource",
        "WaitForMainSlot",
        "CopyIntermediate",
        "CheckIntermediate",
        "WaitIntermediate",
    }
    text = " ".join(shown.stdout.split())
    for words in (
        "STALE",
        "FAILING",
        "NEVER COPIED",
        "at CopyBackup: AwsError",
        "rds-xacct explain billing-failed",
    ):
        assert words in text, words
    finish(sim, [going])
