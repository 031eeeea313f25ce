"""Freshness end to end on the simulation: both stacks deployed from their templates, AWS Backup's
snapshots copied day after day by the real state machine and handlers, the backup account's
keeper pass and the main account's watch run as their hourly schedules run them, with the
templates' permissions enforced (Given / When / Then).

* AWS Backup stops for one database: the backup account's count of stale databases and the
  main account's count of databases without a fresh copy both reach 1.
* The main account's pipeline deleted entirely: the backup account still counts every database
  stale.
* A compromised main account copying an old snapshot in again: still stale.
* Everything fresh: 0 everywhere. A database never copied: in the main account's count.

The counts are read where the alarms' metrics come from: the EMF lines each account writes on
standard output (the keeper's StaleDatabases, the watch's DatabasesWithoutFreshCopy through
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


def _emf(capsys: pytest.CaptureFixture[str], name: str) -> list[float]:
    """The values of a metric in the EMF lines written since the last look."""
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    values = [line[name] for line in lines if name in line]
    # (Powertools writes a metric's values as a list, one value or more)
    return [v for value in values for v in (value if isinstance(value, list) else [value])]


def keeper_pass(sim: Simulation, capsys: pytest.CaptureFixture[str]) -> tuple[list[str], int]:
    """The backup account's hourly pass: the databases it found stale, and the StaleDatabases
    value of its EMF line."""
    capsys.readouterr()
    result = sim.keeper_pass()
    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines() if KEEPER_PASSES in line]
    (line,) = lines
    assert line[KEEPER_PASSES] == 1
    return list(result["freshness"]["stale"]), int(line[STALE_DATABASES])


def watch(sim: Simulation, capsys: pytest.CaptureFixture[str]) -> tuple[list[str], int]:
    """The main account's hourly watch: the databases it found without a fresh copy, and the
    DatabasesWithoutFreshCopy value of its EMF line."""
    capsys.readouterr()
    result = sim.watch()
    assert result["problems"] == []
    (value,) = _emf(capsys, DATABASES_WITHOUT_FRESH_COPY)
    assert value == int(value)
    return list(result["withoutFreshCopy"]), int(value)


def test_aws_backup_stopping_for_one_database_is_seen_by_both_accounts(
    make_sim: MakeSim, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given three databases copied every day, keeping their copies for good
    sim = make_sim(parameters={"RetentionDays": "0"}, slack=False)
    days = Days(sim)
    days.copy(*DATABASES)
    assert keeper_pass(sim, capsys) == ([], 0)
    assert watch(sim, capsys) == ([], 0)
    # When AWS Backup stops backing up crm-db while the others are still copied daily
    seen = []
    for _ in range(3):
        days.next_day()
        days.copy("billing-db", "orders-db")
        seen.append(keeper_pass(sim, capsys))
    watched = watch(sim, capsys)
    # Then the backup account finds crm-db stale once its newest data is older than the RPO
    # (26 hours: fresh a day later, stale two days later), and counts it
    assert seen == [([], 0), ([stale("crm-db")], 1), ([stale("crm-db")], 1)]
    # And so does the main account
    assert watched == (["db/crm-db"], 1)
    # And when crm-db is copied again, both counts come back to 0
    days.copy("crm-db")
    assert keeper_pass(sim, capsys) == ([], 0)
    assert watch(sim, capsys) == ([], 0)


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
    make_sim: MakeSim, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given three databases copied, and fresh in the backup account
    sim = make_sim(parameters={"RetentionDays": "0"}, slack=False)
    days = Days(sim)
    days.copy(*DATABASES)
    assert keeper_pass(sim, capsys) == ([], 0)
    # When the main account's pipeline is deleted entirely, and two days pass (AWS Backup
    # still snapshots the databases; nothing copies them)
    _delete_the_pipeline(sim)
    for _ in range(2):
        days.next_day()
        for database in DATABASES:
            days.back_up(database)
    assert sim.world.main_client("stepfunctions").list_state_machines()["stateMachines"] == []
    # Then the backup account's hourly pass still runs, and counts all three stale
    assert keeper_pass(sim, capsys) == ([stale(d) for d in sorted(DATABASES)], 3)


def test_an_old_snapshot_copied_in_again_by_a_compromised_main_account_is_still_stale(
    make_sim: MakeSim, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given crm-db copied three days ago, not since (AWS Backup stopped for it)
    sim = make_sim(parameters={"RetentionDays": "0"}, slack=False)
    days = Days(sim)
    old_event = days.back_up("crm-db")
    result = sim.deliver(old_event)
    assert result.status == "SUCCEEDED"
    for _ in range(3):
        days.next_day()
    assert keeper_pass(sim, capsys)[0] == [stale("crm-db")]
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
    assert keeper_pass(sim, capsys) == ([stale("crm-db")], 1)
    # And so does the main account's watch
    assert watch(sim, capsys) == (["db/crm-db"], 1)


def _tags(source: str, role: str, now: datetime) -> list[dict[str, str]]:
    tags = app_tags(source_arn=source, role=role, execution="attack", made_at=now)
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def test_everything_fresh_counts_nothing_and_a_database_never_copied_counts_in_the_main_account(
    make_sim: MakeSim, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given three databases copied every day for three days
    sim = make_sim(parameters={"RetentionDays": "0"}, slack=False)
    days = Days(sim)
    for day in range(3):
        if day:
            days.next_day()
        days.copy(*DATABASES)
        # Then every day, nothing is stale in either account
        assert keeper_pass(sim, capsys) == ([], 0)
        assert watch(sim, capsys) == ([], 0)
    # When AWS Backup backs up a new database whose event never arrives
    sim.world.database("lost-db")
    days.back_up("lost-db")
    # Then the main account counts it (AWS Backup protects it; it has no copy), while the
    # backup account, which never saw a copy of it, can't
    assert watch(sim, capsys) == (["db/lost-db"], 1)
    assert keeper_pass(sim, capsys) == ([], 0)
