"""The main account's half of freshness (rds_xacct.jobs.freshness) and its hourly watch
(rds_xacct.jobs.watch) on moto: every database the selection covers now, joined with its copies
in the backup account; the metrics the alarms watch; the copy slots (Given / When / Then).

AWS Backup's snapshot of a database makes it one of AWS Backup's protected resources (the
simulation's ListProtectedResources, simulation/moto/backup.py); the app's copy of it is a
snapshot shared by the main account and copied into the backup account with the app's tags."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from rds_xacct.aws.observability import metrics
from rds_xacct.jobs.freshness import Freshness, freshness
from rds_xacct.jobs.watch import watch
from rds_xacct.model.constants import RECOVERY_POINT_OBJECTIVE_HOURS, ROLE_BACKUP
from rds_xacct.model.metrics import (
    BACKUP_COPY_SECONDS,
    COPY_SLOTS_IN_USE,
    DATABASES_WITHOUT_FRESH_COPY,
    INTERMEDIATE_COPY_SECONDS,
    OLDEST_SLOT_WAIT_MINUTES,
    RUNS_WAITING_FOR_SLOT,
)
from rds_xacct.model.ownership import app_tags
from rds_xacct.model.settings import ConfigurationError, Settings
from rds_xacct.model.state import Kind
from rds_xacct.pipeline import reporting
from simulation.moto import SimClock
from simulation.world import BACKUP_ACCOUNT, MAIN_ACCOUNT, REGION, World, postgres_instance
from tests.unit.test_keeper import OTHER_ACCOUNT, client_in
from tests.unit.test_notify import summary

RPO = RECOVERY_POINT_OBJECTIVE_HOURS
SECOND = timedelta(seconds=1)
MACHINE = f"arn:aws:states:{REGION}:{MAIN_ACCOUNT}:stateMachine:rds-xacct-copy-snapshot"


@pytest.fixture(autouse=True)
def no_metrics_left() -> Iterator[None]:
    """The process's Powertools metrics, empty before and after each test."""
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


def metric(name: str) -> list[float]:
    """The values of a metric added since the test began."""
    found = metrics.metric_set.get(name)
    return list(found["Value"]) if found else []


class Deployment:
    """The main account's databases, AWS Backup's snapshots of them, and the app's copies in the
    backup account."""

    def __init__(self, world: World, clock: SimClock) -> None:
        self.world = world
        self.clock = clock
        self.backup_rds = world.backup.client("rds")
        self._made = 0

    def database(self, name: str, *, kind: Kind = "db", **options: Any) -> str:
        if kind == "cluster":
            return self.world.cluster(name, **options)
        return self.world.database(name, **options)

    def backed_up(self, name: str, *, kind: Kind = "db") -> str:
        """AWS Backup's snapshot of the database, taken now (it becomes a protected resource)."""
        self._made += 1
        return self.world.backup_snapshot(name, f"{name}-{self._made}", kind=kind)

    def copied(self, name: str, *, kind: Kind = "db", source_rds: Any = None) -> str:
        """The app's copy in the backup account of a snapshot of the database taken now, made as
        the app makes it: the snapshot copied with the backup key into an intermediate copy
        (another account's unencrypted database: copied without one), shared with the backup
        account and copied in with the app's tags. (A snapshot encrypted with aws/rds, shared
        as it is, could not be copied by the backup account.)"""
        self._made += 1
        rds = source_rds or self.world.main_client("rds")
        keyed: dict[str, Any] = {} if source_rds else {"KmsKeyId": self.world.backup_key_arn}
        shared = f"xacct-{name}-{self._made}"
        taken = f"{shared}-taken"
        if kind == "cluster":
            rds.create_db_cluster_snapshot(
                DBClusterIdentifier=name, DBClusterSnapshotIdentifier=taken
            )
            arn = rds.copy_db_cluster_snapshot(
                SourceDBClusterSnapshotIdentifier=taken,
                TargetDBClusterSnapshotIdentifier=shared,
                **keyed,
            )["DBClusterSnapshot"]["DBClusterSnapshotArn"]
            rds.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=taken)
            rds.modify_db_cluster_snapshot_attribute(
                DBClusterSnapshotIdentifier=shared,
                AttributeName="restore",
                ValuesToAdd=[BACKUP_ACCOUNT],
            )
        else:
            rds.create_db_snapshot(DBInstanceIdentifier=name, DBSnapshotIdentifier=taken)
            arn = rds.copy_db_snapshot(
                SourceDBSnapshotIdentifier=taken, TargetDBSnapshotIdentifier=shared, **keyed
            )["DBSnapshot"]["DBSnapshotArn"]
            rds.delete_db_snapshot(DBSnapshotIdentifier=taken)
            rds.modify_db_snapshot_attribute(
                DBSnapshotIdentifier=shared, AttributeName="restore", ValuesToAdd=[BACKUP_ACCOUNT]
            )
        tags = app_tags(
            source_arn=arn, role=ROLE_BACKUP, execution="run-1", made_at=self.clock.now()
        )
        tag_list: Any = [{"Key": k, "Value": v} for k, v in tags.items()]
        if kind == "cluster":
            return str(
                self.backup_rds.copy_db_cluster_snapshot(
                    SourceDBClusterSnapshotIdentifier=arn,
                    TargetDBClusterSnapshotIdentifier=shared,
                    Tags=tag_list,
                    **keyed,
                )["DBClusterSnapshot"]["DBClusterSnapshotArn"]
            )
        return str(
            self.backup_rds.copy_db_snapshot(
                SourceDBSnapshotIdentifier=arn,
                TargetDBSnapshotIdentifier=shared,
                Tags=tag_list,
                **keyed,
            )["DBSnapshot"]["DBSnapshotArn"]
        )

    def look(
        self, *, at: datetime | None = None, through_the_role: bool = False, **settings: Any
    ) -> list[Freshness]:
        return freshness(
            self.world.settings(**settings),
            now=at or self.clock.now(),
            rpo_hours=RPO,
            backup_rds=None if through_the_role else self.backup_rds,
        )


@pytest.fixture
def deployment(world: World, clock: SimClock) -> Deployment:
    return Deployment(world, clock)


def by_name(found: list[Freshness]) -> dict[str, Freshness]:
    return {f.database: f for f in found}


# --- Which databases are covered ---------------------------------------------------------------
def test_a_database_aws_backup_protects_and_never_copied_is_without_a_fresh_copy(
    deployment: Deployment,
) -> None:
    # Given a database AWS Backup backed up, whose snapshot no run ever copied
    deployment.database("orders-db")
    deployment.backed_up("orders-db")
    # When the main account looks
    (found,) = deployment.look()
    # Then it is covered, has no copy, and is stale
    assert found == Freshness(
        database="orders-db",
        kind="db",
        source_arn=f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:db:orders-db",
        newest_copy=None,
        recovery_point=None,
        age_hours=None,
        stale=True,
    )


def test_a_copy_is_fresh_up_to_the_rpo_from_the_data_it_holds(deployment: Deployment) -> None:
    # Given a database backed up and copied (its data taken at t0)
    deployment.database("orders-db")
    deployment.backed_up("orders-db")
    taken = deployment.clock.now()
    copy = deployment.copied("orders-db")
    # When the main account looks at the RPO, and a second after
    (at_rpo,) = deployment.look(at=taken + timedelta(hours=RPO))
    (past,) = deployment.look(at=taken + timedelta(hours=RPO) + SECOND)
    # Then the copy is its newest, fresh up to the RPO and stale after
    assert (at_rpo.newest_copy, at_rpo.recovery_point) == (copy, taken)
    assert (at_rpo.age_hours, at_rpo.stale) == (RPO, False)
    assert past.stale is True


def test_only_databases_there_now_that_aws_backup_protects_are_covered(
    deployment: Deployment,
) -> None:
    # Given a database AWS Backup protects, one it never backed up, and a database that AWS
    # Backup backed up and that was deleted since
    for name in ("orders-db", "scratch-db", "gone-db"):
        deployment.database(name)
    deployment.backed_up("orders-db")
    deployment.backed_up("gone-db")
    deployment.world.main_client("rds").delete_db_instance(
        DBInstanceIdentifier="gone-db", SkipFinalSnapshot=True
    )
    # When the main account looks / Then only the protected database there now is covered
    assert [f.database for f in deployment.look()] == ["orders-db"]


@pytest.mark.parametrize(
    ("selection", "covered"),
    [
        ({}, ["billing-db", "orders-db", "test-db"]),
        ({"exclude": ("test-*",)}, ["billing-db", "orders-db"]),
        ({"include": ("orders-*", "test-*")}, ["orders-db", "test-db"]),
        ({"selection_tag": ("backup-copy", "true")}, ["billing-db"]),
    ],
)
def test_the_selection_chooses_the_databases_covered(
    deployment: Deployment, selection: dict[str, Any], covered: list[str]
) -> None:
    # Given three databases AWS Backup protects, one tagged for copying
    deployment.database("orders-db")
    deployment.database("billing-db", tags={"backup-copy": "true"})
    deployment.database("test-db")
    for name in ("orders-db", "billing-db", "test-db"):
        deployment.backed_up(name)
    # When the main account looks with a selection / Then it covers what the selection chooses
    assert [f.database for f in deployment.look(**selection)] == covered


def test_an_aurora_cluster_is_covered_as_a_cluster_not_by_its_instances(
    deployment: Deployment,
) -> None:
    # Given an Aurora cluster with an instance, AWS Backup's snapshot of it and its copy
    deployment.database("analytics", kind="cluster")
    deployment.world.main_client("rds").create_db_instance(
        DBInstanceIdentifier="analytics-1",
        DBInstanceClass="db.r6g.large",
        Engine="aurora-postgresql",
        DBClusterIdentifier="analytics",
    )
    deployment.backed_up("analytics", kind="cluster")
    copy = deployment.copied("analytics", kind="cluster")
    # When the main account looks (automated snapshots of both kinds copied too)
    (found,) = deployment.look(automated_copies=frozenset({"db", "cluster"}))
    # Then the cluster is covered and fresh by its copy; its instance is not a database of its own
    assert (found.database, found.kind, found.newest_copy, found.stale) == (
        "analytics",
        "cluster",
        copy,
        False,
    )


def test_automated_snapshot_copies_cover_every_database_with_automated_backups(
    deployment: Deployment,
) -> None:
    # Given databases AWS Backup never backed up, one with automated backups off
    deployment.database("orders-db")
    postgres_instance(deployment.world.main_client("rds"), "no-backups-db", BackupRetentionPeriod=0)
    deployment.database("analytics", kind="cluster")
    # When the deployment copies automated DB snapshots (not cluster ones)
    found = deployment.look(automated_copies=frozenset({"db"}))
    # Then the instance with automated backups is covered
    assert [(f.database, f.stale) for f in found] == [("orders-db", True)]


# --- Which copies count ------------------------------------------------------------------------
def test_a_copy_of_another_accounts_database_of_the_same_name_does_not_count(
    deployment: Deployment,
) -> None:
    # Given orders-db of the main account, protected and never copied, and a fresh copy of
    # another account's orders-db in the backup account
    deployment.database("orders-db")
    deployment.backed_up("orders-db")
    other = client_in(OTHER_ACCOUNT, "rds")
    postgres_instance(other, "orders-db")
    deployment.copied("orders-db", source_rds=other)
    # When the main account looks
    (found,) = deployment.look()
    # Then the main account's orders-db has no copy
    assert (found.newest_copy, found.stale) == (None, True)


def test_the_copies_are_read_through_the_backup_accounts_role(deployment: Deployment) -> None:
    # Given a database backed up and copied
    deployment.database("orders-db")
    deployment.backed_up("orders-db")
    copy = deployment.copied("orders-db")
    # When the main account looks as the watch does, through the cross-account role
    (found,) = deployment.look(through_the_role=True)
    # Then it finds the copy there
    assert (found.newest_copy, found.stale) == (copy, False)


# --- The hourly watch --------------------------------------------------------------------------
def test_the_watch_counts_databases_without_a_fresh_copy_and_logs_each(
    deployment: Deployment, caplog: pytest.LogCaptureFixture
) -> None:
    # Given one database copied now, one never copied, one copied two days ago
    for name in ("orders-db", "billing-db", "old-db"):
        deployment.database(name)
        deployment.backed_up(name)
    deployment.copied("old-db")
    deployment.clock.advance(2 * 86400)
    deployment.copied("orders-db")
    caplog.set_level(logging.INFO, logger="rds-xacct")
    # When the watch runs
    result = watch(settings=deployment.world.settings(), backup_rds=deployment.backup_rds)
    # Then it counts the two without a fresh copy, in one metric value
    assert metric(DATABASES_WITHOUT_FRESH_COPY) == [2]
    assert result["withoutFreshCopy"] == ["db/billing-db", "db/old-db"]
    assert result["problems"] == []
    # And logs every covered database in one Freshness line
    (line,) = [r for r in caplog.records if r.getMessage() == "Freshness"]
    assert [(e["database"], e["stale"]) for e in line.__dict__["databases"]] == [
        ("billing-db", True),
        ("old-db", True),
        ("orders-db", False),
    ]
    assert line.__dict__["databasesWithoutFreshCopy"] == 2


class RefusingBackup:
    """AWS Backup answering AccessDenied (the watch's permission removed)."""

    def get_paginator(self, operation: str) -> Any:
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}, operation
        )


def test_a_watch_that_cannot_look_writes_no_count(deployment: Deployment) -> None:
    # Given a database AWS Backup protects, and AWS Backup refusing the watch
    deployment.database("orders-db")
    deployment.backed_up("orders-db")
    # When the watch runs
    result = watch(
        settings=deployment.world.settings(),
        backup_rds=deployment.backup_rds,
        aws_backup=RefusingBackup(),
    )
    # Then it says what failed and writes no count (the alarm treats none as breaching)
    assert result["problems"][0].startswith("freshness: AccessDenied")
    assert "withoutFreshCopy" not in result
    assert metric(DATABASES_WITHOUT_FRESH_COPY) == []


def _slot_items(dynamodb: Any, table: str, pool: str, *, in_use: int, arrivals: list[str]) -> None:
    dynamodb.put_item(
        TableName=table, Item={"pk": {"S": pool}, "sk": {"S": "count"}, "inUse": {"N": str(in_use)}}
    )
    for n, arrived in enumerate(arrivals):
        key = f"waiter#{arrived[:14]}00:00Z#00000000010#{arrived}#run-{pool[-9:]}-{n}"
        dynamodb.put_item(
            TableName=table,
            Item={"pk": {"S": pool}, "sk": {"S": key}, "execution": {"S": f"run-{n}"}},
        )


def test_the_watch_reports_the_copy_slots_of_both_pools(deployment: Deployment, table: str) -> None:
    # Given 18 slots taken in the main account's pool and 2 runs waiting, since 02:00 and
    # 03:00, and 5 slots taken in the backup account's pool with one run waiting since 04:00
    dynamodb = deployment.world.main_client("dynamodb")
    _slot_items(
        dynamodb,
        table,
        f"copies#{MAIN_ACCOUNT}#{REGION}",
        in_use=18,
        arrivals=["2026-11-24T02:00:00Z", "2026-11-24T03:00:00Z"],
    )
    _slot_items(
        dynamodb,
        table,
        f"copies#{BACKUP_ACCOUNT}#{REGION}",
        in_use=5,
        arrivals=["2026-11-24T04:00:00Z"],
    )
    settings = deployment.world.settings(admission_table=table, state_machine_arn=MACHINE)
    # When the watch runs at 06:30
    at = datetime.fromisoformat("2026-11-24T06:30:00+00:00")
    result = watch(settings=settings, now=lambda: at, backup_rds=deployment.backup_rds)
    # Then it writes both pools' slots in use, the runs waiting, and the longest wait
    assert metric(COPY_SLOTS_IN_USE) == [23]
    assert metric(RUNS_WAITING_FOR_SLOT) == [3]
    assert metric(OLDEST_SLOT_WAIT_MINUTES) == [270]
    assert result["slots"] == {"in_use": 23, "waiting": 3, "oldest_wait_minutes": 270.0}


# --- Settings, and the run's own metrics ----------------------------------------------------------
def test_the_rpo_and_the_automated_copies_are_read_from_the_environment(world: World) -> None:
    env = world.environment(
        RECOVERY_POINT_OBJECTIVE_HOURS="50",
        COPY_RDS_AUTOMATED_SNAPSHOTS="true",
        COPY_RDS_AUTOMATED_CLUSTER_SNAPSHOTS="false",
    )
    settings = Settings.from_env(env)
    assert settings.rpo_hours == 50
    assert settings.automated_copies == frozenset({"db"})
    default = Settings.from_env(world.environment())
    assert (default.rpo_hours, default.automated_copies) == (RPO, frozenset())
    with pytest.raises(ConfigurationError, match="RECOVERY_POINT_OBJECTIVE_HOURS must be"):
        Settings.from_env(world.environment(RECOVERY_POINT_OBJECTIVE_HOURS="0"))


def test_a_copied_run_reports_how_long_each_copy_took_and_a_failed_one_does_not(
    world: World,
) -> None:
    # Given a deployment with a topic
    topic = world.main_client("sns").create_topic(Name="rds-xacct-notifications")["TopicArn"]
    settings = world.settings(topic_arn=topic)
    # When a copied run (23 minutes per copy) and a failed one report
    reporting.send(summary(), settings)
    reporting.send(summary("failed"), settings)
    # Then the copied run's two copy times are written, once
    assert metric(INTERMEDIATE_COPY_SECONDS) == [23 * 60]
    assert metric(BACKUP_COPY_SECONDS) == [23 * 60]


def test_freshness_needs_no_database_copies_to_say_so(deployment: Deployment) -> None:
    # Given no database at all / When the main account looks / Then nothing is covered
    assert deployment.look() == []
