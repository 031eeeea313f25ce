"""Freshness end to end on the simulation: both stacks deployed from their templates, AWS Backup's
snapshots copied day after day by the real state machine and handlers, the backup account's
keeper pass and the main account's watch run as their hourly schedules run them, with the
templates' permissions enforced (Given / When / Then).

* AWS Backup stops for one database: the backup account's count of stale databases and the
  main account's count of databases without a fresh copy both reach 1, and both accounts'
  freshness alarms, evaluated from those metrics as CloudWatch does, go off; copying clears them.
* The main account's pipeline deleted entirely: the backup account still counts every database
  stale, and its alarm goes off.
* A compromised main account copying an old snapshot in again: still stale.
* Everything fresh: 0 everywhere, no alarm of either account goes off. A database never copied:
  in the main account's count.

The counts are read where the alarms' metrics come from: the EMF lines each account writes to
its function's log (the keeper's StaleDatabases, the watch's DatabasesWithoutFreshCopy through
Powertools), which CloudWatch turns into the metrics the alarms watch."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from rds_xacct.aws.observability import metrics
from rds_xacct.model.constants import ROLE_BACKUP, ROLE_INTERMEDIATE
from rds_xacct.model.metrics import DATABASES_WITHOUT_FRESH_COPY, KEEPER_PASSES, STALE_DATABASES
from rds_xacct.model.ownership import app_tags
from simulation.driver import MakeSim, Simulation
from simulation.events import backup_job_event
from simulation.world import BACKUP_ACCOUNT, MAIN_ACCOUNT, REGION

DATABASES = ("billing-db", "crm-db", "orders-db")
DAY = timedelta(days=1)


def stale(database: str) -> str:
    """A stale database as the keeper's pass names it."""
    return f"{MAIN_ACCOUNT}/db/{database}"


class Days:
    """AWS Backup's daily snapshots, each copied by the app as its event arrives."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.first = sim.clock.now()
        self.day = 0
        for database in DATABASES:
            sim.world.database(database)

    def back_up(self, database: str) -> dict[str, Any]:
        """AWS Backup's snapshot of the database today, and its event."""
        snapshot = self.sim.world.backup_snapshot(database, f"{database}-day-{self.day}")
        return backup_job_event(snapshot, f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:db:{database}")

    def copy(self, *databases: str) -> None:
        """Today's snapshots of these databases made and copied (each run to its end)."""
        for database in databases:
            result = self.sim.deliver(self.back_up(database))
            assert result.status == "SUCCEEDED", (result.error, result.cause)

    def next_day(self) -> None:
        """To the same time tomorrow."""
        self.day += 1
        target = self.first + self.day * DAY
        self.sim.clock.advance((target - self.sim.clock.now()).total_seconds())


@pytest.fixture(autouse=True)
def metrics_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both accounts' metrics written (the tests' environment turns them off), none left over
    from an earlier test."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    metrics.clear_metrics()


def _emf(sim: Simulation, since: int, name: str) -> list[float]:
    """The values of a metric in the EMF lines the functions wrote to their logs (as CloudWatch
    Logs keeps them, and turns them into metrics) since `since` (a position in the logs)."""
    text = sim.logs.getvalue()[since:]
    lines = [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]
    values = [line[name] for line in lines if name in line]
    # (Powertools writes a metric's values as a list, one value or more)
    return [v for value in values for v in (value if isinstance(value, list) else [value])]


def keeper_pass(sim: Simulation) -> tuple[list[str], int]:
    """The backup account's hourly pass: the databases it found stale, and the StaleDatabases
    value of its EMF line."""
    since = len(sim.logs.getvalue())
    result = sim.keeper_pass()
    assert _emf(sim, since, KEEPER_PASSES) == [1]
    (value,) = _emf(sim, since, STALE_DATABASES)
    return list(result["freshness"]["stale"]), int(value)


def watch(sim: Simulation) -> tuple[list[str], int]:
    """The main account's hourly watch: the databases it found without a fresh copy, and the
    DatabasesWithoutFreshCopy value of its EMF line."""
    since = len(sim.logs.getvalue())
    result = sim.watch()
    assert result["problems"] == []
    (value,) = _emf(sim, since, DATABASES_WITHOUT_FRESH_COPY)
    assert value == int(value)
    return list(result["withoutFreshCopy"]), int(value)


def _delete_the_pipeline(sim: Simulation) -> None:
    """The main account's pipeline deleted: its state machine, its functions, its role's
    permissions."""
    sim.sfn.delete_state_machine(stateMachineArn=sim.state_machine_arn)
    functions = sim.world.main_client("lambda")
    for spec in sim.app.functions.values():
        functions.delete_function(FunctionName=spec.name)
    iam = sim.world.main_client("iam")
    role = next(r for r in sim.permissions.roles.values() if r.logical_id == "PipelineRole")
    for name in iam.list_role_policies(RoleName=role.name)["PolicyNames"]:
        iam.delete_role_policy(RoleName=role.name, PolicyName=name)


def test_the_main_accounts_pipeline_deleted_the_backup_account_still_counts_every_database(
    make_sim: MakeSim,
) -> None:
    # Given three databases copied, and fresh in the backup account
    sim = make_sim(parameters={"RetentionDays": "0"}, slack=False)
    days = Days(sim)
    days.copy(*DATABASES)
    assert keeper_pass(sim) == ([], 0)
    # When the main account's pipeline is deleted entirely, and two days pass (AWS Backup
    # still snapshots the databases; nothing copies them)
    _delete_the_pipeline(sim)
    for _ in range(2):
        days.next_day()
        for database in DATABASES:
            days.back_up(database)
    assert sim.world.main_client("stepfunctions").list_state_machines()["stateMachines"] == []
    # Then the backup account's hourly pass still runs, and counts all three stale
    assert keeper_pass(sim) == ([stale(d) for d in sorted(DATABASES)], 3)


def test_an_old_snapshot_copied_in_again_by_a_compromised_main_account_is_still_stale(
    make_sim: MakeSim,
) -> None:
    # Given crm-db copied three days ago, not since (AWS Backup stopped for it)
    sim = make_sim(parameters={"RetentionDays": "0"}, slack=False)
    days = Days(sim)
    old_event = days.back_up("crm-db")
    result = sim.deliver(old_event)
    assert result.status == "SUCCEEDED"
    for _ in range(3):
        days.next_day()
    assert keeper_pass(sim)[0] == [stale("crm-db")]
    # When an attacker holding the pipeline's role copies that old snapshot through both
    # accounts again, named and tagged as a run's copies made now
    old_snapshot = old_event["resources"][0]
    key = sim.app.functions["CopyBackupFunction"].environment["BACKUP_KMS_KEY_ARN"]
    now = sim.clock.now()
    main_rds = sim.pipeline_session().client("rds")
    intermediate = main_rds.copy_db_snapshot(
        SourceDBSnapshotIdentifier=old_snapshot,
        TargetDBSnapshotIdentifier="xacct-crm-db-attack",
        KmsKeyId=key,
        Tags=_tags(old_snapshot, ROLE_INTERMEDIATE, now),
    )["DBSnapshot"]["DBSnapshotArn"]
    sim.clock.advance(3600)
    main_rds.modify_db_snapshot_attribute(
        DBSnapshotIdentifier="xacct-crm-db-attack",
        AttributeName="restore",
        ValuesToAdd=[BACKUP_ACCOUNT],
    )
    sim.backup_role_session().client("rds").copy_db_snapshot(
        SourceDBSnapshotIdentifier=intermediate,
        TargetDBSnapshotIdentifier=f"xacct-crm-db-{now:%Y%m%d-%H%M%S}-attack",
        KmsKeyId=key,
        Tags=_tags(old_snapshot, ROLE_BACKUP, now),
    )
    sim.clock.advance(3600)
    # Then the backup account holds that new copy, complete, and still counts crm-db stale: RDS
    # keeps the snapshot's original time, which no copy changes
    copies = [c for c in sim.world.app_copies(BACKUP_ACCOUNT) if c["id"].endswith("-attack")]
    assert [c["status"] for c in copies] == ["available"]
    assert keeper_pass(sim) == ([stale("crm-db")], 1)
    # And so does the main account's watch
    assert watch(sim) == (["db/crm-db"], 1)


def _tags(source: str, role: str, now: datetime) -> list[dict[str, str]]:
    tags = app_tags(source_arn=source, role=role, execution="attack", made_at=now)
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def test_everything_fresh_counts_nothing_and_a_database_never_copied_counts_in_the_main_account(
    make_sim: MakeSim,
) -> None:
    # Given three databases copied every day for three days
    sim = make_sim(parameters={"RetentionDays": "0"}, slack=False)
    days = Days(sim)
    for day in range(3):
        if day:
            days.next_day()
        days.copy(*DATABASES)
        # Then every day, nothing is stale in either account
        assert keeper_pass(sim) == ([], 0)
        assert watch(sim) == ([], 0)
    # When AWS Backup backs up a new database whose event never arrives
    sim.world.database("lost-db")
    days.back_up("lost-db")
    # Then the main account counts it (AWS Backup protects it; it has no copy), while the
    # backup account, which never saw a copy of it, can't
    assert watch(sim) == (["db/lost-db"], 1)
    assert keeper_pass(sim) == ([], 0)


# --- The alarms, as CloudWatch evaluates them from the metrics -----------------------------------
STALE_COPIES = "rds-xacct-stale-copies"
"""The backup account's freshness alarm (StaleCopiesAlarm)."""
WITHOUT_FRESH_COPY = "rds-xacct-databases-without-fresh-copy"
"""The main account's (DatabasesWithoutFreshCopyAlarm)."""


def freshness_alarms(sim: Simulation) -> dict[str, str]:
    """Both freshness alarms' states now, as CloudWatch evaluates them from the metrics in each
    account."""
    states = sim.alarm_states()
    return {name: states[name] for name in (STALE_COPIES, WITHOUT_FRESH_COPY)}


def newest_value(sim: Simulation, alarm: str) -> float | None:
    """The value of the newest period with data in the alarm's evaluation range."""
    return next((p.value for p in sim.alarm(alarm).points if p.value is not None), None)


def a_day_passes(sim: Simulation, days: Days, *, watch: bool = True) -> None:
    """A day of hourly schedules (the keeper's pass, the main account's watch, if it is still
    there), to the same time tomorrow."""
    days.day += 1
    target = days.first + days.day * DAY
    sim.advance((target - sim.clock.now()).total_seconds() / 3600, watch=watch)


def copied_and_fresh(make_sim: MakeSim) -> tuple[Simulation, Days]:
    """Three databases copied (kept for good), three hours of hourly checks: both freshness
    alarms OK."""
    sim = make_sim(parameters={"RetentionDays": "0"}, slack=False)
    days = Days(sim)
    days.copy(*DATABASES)
    sim.advance(3)
    assert freshness_alarms(sim) == {STALE_COPIES: "OK", WITHOUT_FRESH_COPY: "OK"}
    return sim, days


def test_aws_backup_stopping_for_one_database_raises_both_freshness_alarms_and_copying_clears_them(
    make_sim: MakeSim,
) -> None:
    # Given three databases copied every day, each account's hourly check running
    sim, days = copied_and_fresh(make_sim)
    # When AWS Backup stops backing up crm-db while the others are still copied daily
    a_day_passes(sim, days)
    days.copy("billing-db", "orders-db")
    sim.advance(1)
    # Then a day later (its data 25 hours old, under the 26-hour RPO) nothing goes off
    assert freshness_alarms(sim) == {STALE_COPIES: "OK", WITHOUT_FRESH_COPY: "OK"}
    # And two days later both accounts' alarms are in ALARM, the stale count above the threshold
    a_day_passes(sim, days)
    days.copy("billing-db", "orders-db")
    (last_pass,) = sim.advance(1)
    assert freshness_alarms(sim) == {STALE_COPIES: "ALARM", WITHOUT_FRESH_COPY: "ALARM"}, sim.alarm(
        STALE_COPIES
    )
    # (crm-db, named by both: the keeper's pass, the main account's watch)
    assert list(last_pass["freshness"]["stale"]) == [stale("crm-db")]
    assert sim.watch()["withoutFreshCopy"] == ["db/crm-db"]
    assert newest_value(sim, STALE_COPIES) == 1
    # And once crm-db is copied again, two hours of fresh counts clear both
    days.copy("crm-db")
    sim.advance(2)
    assert freshness_alarms(sim) == {STALE_COPIES: "OK", WITHOUT_FRESH_COPY: "OK"}


def test_the_main_accounts_pipeline_deleted_the_backup_accounts_alarm_still_goes_off(
    make_sim: MakeSim,
) -> None:
    # Given three databases copied, both freshness alarms OK
    sim, days = copied_and_fresh(make_sim)
    # When the main account's pipeline is deleted entirely (its watch with it) and two days pass
    _delete_the_pipeline(sim)
    a_day_passes(sim, days, watch=False)
    a_day_passes(sim, days, watch=False)
    # Then the backup account's alarm goes off, from its own copies and its own schedule
    assert sim.alarm_states()[STALE_COPIES] == "ALARM", sim.alarm(STALE_COPIES)
    assert newest_value(sim, STALE_COPIES) == len(DATABASES)
    # (and the main account's, with no value any more, goes off too: missing data is breaching)
    assert sim.alarm_states()[WITHOUT_FRESH_COPY] == "ALARM"


def test_everything_fresh_no_alarm_of_either_account_goes_off(make_sim: MakeSim) -> None:
    # Given three databases copied every day for three days, the hourly checks running
    sim = make_sim(parameters={"RetentionDays": "0"}, slack=False)
    days = Days(sim)
    for day in range(3):
        if day:
            a_day_passes(sim, days)
        days.copy(*DATABASES)
        sim.advance(2)
        # Then no alarm of either account is in ALARM, and both freshness alarms are OK
        states = sim.alarm_states()
        assert [name for name, state in states.items() if state == "ALARM"] == []
        assert freshness_alarms(sim) == {STALE_COPIES: "OK", WITHOUT_FRESH_COPY: "OK"}
    assert not [n for n in sim.alarm_notifications if n.new_state == "ALARM"]
