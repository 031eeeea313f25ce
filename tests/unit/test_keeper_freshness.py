"""The backup account's half of freshness, in the keeper's hourly pass (rds_xacct.keeper.freshness
over rds_xacct.model.freshness), on moto: each source database's newest complete copy, the age
of the data it holds as RDS records it, stale past the recovery point objective, whatever the
main account tags or copies in again (Given / When / Then).

Copies are made as the app makes them: a snapshot in a source account, shared with the backup
account and copied into it by ARN with the app's tags (RDS records the copy's source and keeps
a DB snapshot's `OriginalSnapshotCreateTime`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from moto.rds.models import rds_backends

from rds_xacct.keeper import freshness as keeper_freshness
from rds_xacct.keeper import hourly as keeper_hourly
from rds_xacct.keeper import requests as keeper_requests
from rds_xacct.keeper.settings import KeeperSettings
from rds_xacct.model.constants import (
    RECOVERY_POINT_OBJECTIVE_HOURS,
    ROLE_BACKUP,
    TAG_EXPIRES_AT,
    TAG_MADE_AT,
    TAG_SOURCE_ARN,
)
from rds_xacct.model.metrics import (
    KEEPER_ANSWERED_REQUESTS,
    KEEPER_DELETIONS,
    KEEPER_PASSES,
    KEEPER_RECORDED,
    KEEPER_REFUSED_REQUESTS,
    NAMESPACE,
    SERVICE,
    STALE_DATABASES,
    UNREADABLE_COPIES,
)
from rds_xacct.model.ownership import app_tags
from rds_xacct.model.settings import ConfigurationError
from rds_xacct.model.state import Kind
from rds_xacct.model.times import iso
from simulation.moto import MotoPatches, SimClock
from simulation.world import BACKUP_ACCOUNT, MAIN_ACCOUNT, REGION
from tests.unit.test_keeper import LEDGER_TABLE, OTHER_ACCOUNT, BackupAccount

RPO = timedelta(hours=RECOVERY_POINT_OBJECTIVE_HOURS)
SETTINGS = KeeperSettings(
    source_accounts=frozenset({MAIN_ACCOUNT}), min_retention_days=1, ledger_table=LEDGER_TABLE
)
SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)


class Accounts:
    """Source accounts with databases and snapshots, and the backup account they are copied
    into, with the keeper's ledger (test_keeper's `BackupAccount`, its copies of any source)."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.backup = BackupAccount(clock)
        self.rds, self.dynamodb = self.backup.rds, self.backup.dynamodb
        self.ledger, self.settings = self.backup.ledger, self.backup.settings
        self._copies = 0

    def snapshot(self, database: str, *, kind: Kind = "db", account: str = MAIN_ACCOUNT) -> str:
        """A snapshot of the database taken now, shared with the backup account; its ARN."""
        name = f"snap-{database}-{self.clock.now():%Y%m%d%H%M%S}-{self._copies}"
        self._copies += 1
        return self.backup.shared_snapshot(account, kind, name, database)

    def copy(
        self,
        source: str,
        *,
        kind: Kind = "db",
        tags: dict[str, str] | None = None,
        name: str | None = None,
        status: str = "available",
    ) -> str:
        """The source snapshot copied into the backup account now, as the app copies it (the
        app's tags, a name `xacct-…`); its ARN."""
        self._copies += 1
        name = name or f"xacct-copy-{self._copies}-{self.clock.now():%Y%m%d%H%M%S}"
        written = app_tags(
            source_arn=source, role=ROLE_BACKUP, execution="run-1", made_at=self.clock.now()
        )
        written[TAG_EXPIRES_AT] = iso(self.clock.now() + timedelta(days=30))
        written.update(tags or {})
        tag_list = [{"Key": k, "Value": v} for k, v in written.items()]
        if kind == "cluster":
            arn = self.rds.copy_db_cluster_snapshot(
                SourceDBClusterSnapshotIdentifier=source,
                TargetDBClusterSnapshotIdentifier=name,
                Tags=tag_list,
            )["DBClusterSnapshot"]["DBClusterSnapshotArn"]
        else:
            arn = self.rds.copy_db_snapshot(
                SourceDBSnapshotIdentifier=source, TargetDBSnapshotIdentifier=name, Tags=tag_list
            )["DBSnapshot"]["DBSnapshotArn"]
        if status != "available":
            backend = rds_backends[BACKUP_ACCOUNT][REGION]
            found = backend.cluster_snapshots if kind == "cluster" else backend.database_snapshots
            found[name].status = status
        return str(arn)

    def backed_up(self, database: str, *, kind: Kind = "db", account: str = MAIN_ACCOUNT) -> str:
        """A snapshot taken now and copied into the backup account now; the copy's ARN."""
        return self.copy(self.snapshot(database, kind=kind, account=account), kind=kind)

    def keep(self, *, at: datetime | None = None, settings: KeeperSettings | None = None) -> Any:
        moment = at or self.clock.now()
        return keeper_hourly.keep(
            settings=settings or self.settings,
            now=lambda: moment,
            rds=self.rds,
            ledger=self.ledger,
        )


@pytest.fixture(autouse=True)
def metrics_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The keeper's metrics written (the tests' environment turns them off)."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")


@pytest.fixture
def accounts(patches: MotoPatches) -> Accounts:
    return Accounts(patches.clock)


@pytest.fixture
def freshness_lines(caplog: pytest.LogCaptureFixture) -> Callable[[], list[logging.LogRecord]]:
    """The keeper's `Freshness` log records of the test so far."""
    caplog.set_level(logging.INFO, logger="rds-xacct")
    return lambda: [r for r in caplog.records if r.getMessage() == "Freshness"]


def emf_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]


# --- Fresh and stale, by the age of the data -------------------------------------------------------
def test_a_copy_is_fresh_up_to_the_rpo_from_its_sources_snapshot_and_stale_a_second_after(
    accounts: Accounts,
) -> None:
    # Given a snapshot taken at t0 and copied into the backup account two hours later
    taken = accounts.clock.now()
    source = accounts.snapshot("orders-db")
    accounts.clock.advance(2 * 3600)
    accounts.copy(source)
    # When the hourly pass runs exactly the RPO after t0, and a second later
    at_rpo = accounts.keep(at=taken + RPO)
    past = accounts.keep(at=taken + RPO + SECOND)
    # Then its age counts from the snapshot (not from the copy): fresh at the RPO, stale after
    assert at_rpo["freshness"] == {"stale": [], "watched": 1, "ignored": []}
    assert past["freshness"]["stale"] == [f"{MAIN_ACCOUNT}/db/orders-db"]


def test_the_newest_copy_of_each_database_counts(accounts: Accounts) -> None:
    # Given orders-db copied three days ago and again today, billing-db only three days ago
    accounts.backed_up("orders-db")
    accounts.backed_up("billing-db")
    accounts.clock.advance(3 * 86400)
    newest = accounts.backed_up("orders-db")
    # When the hourly pass runs
    result = accounts.keep()
    # Then orders-db is fresh by its newest copy, billing-db stale
    assert result["freshness"]["stale"] == [f"{MAIN_ACCOUNT}/db/billing-db"]
    assert result["freshness"]["watched"] == 2
    watched = accounts.dynamodb.get_item(
        TableName=LEDGER_TABLE, Key={"arn": {"S": f"database#{MAIN_ACCOUNT}#db#orders-db"}}
    )["Item"]
    assert watched["newestCopy"]["S"] == newest


def test_a_copy_remade_of_an_old_snapshot_stays_stale_whatever_its_tags(accounts: Accounts) -> None:
    # Given a snapshot of orders-db taken three days ago, its copy then, and no snapshot since
    old = accounts.snapshot("orders-db")
    accounts.copy(old)
    accounts.clock.advance(3 * 86400)
    # When a compromised main account copies that old snapshot in again now, tagged as made now
    # and as a copy of a fresh snapshot
    accounts.copy(
        old,
        tags={
            TAG_MADE_AT: iso(accounts.clock.now()),
            TAG_SOURCE_ARN: f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:snapshot:awsbackup:job-today",
        },
    )
    result = accounts.keep()
    # Then orders-db is still stale: RDS keeps the snapshot's original creation time
    assert result["freshness"]["stale"] == [f"{MAIN_ACCOUNT}/db/orders-db"]


def test_tags_naming_another_database_do_not_make_it_fresh(accounts: Accounts) -> None:
    # Given billing-db copied three days ago, orders-db copied now
    accounts.backed_up("billing-db")
    accounts.clock.advance(3 * 86400)
    # When orders-db's fresh copy is tagged as a copy of billing-db
    accounts.copy(
        accounts.snapshot("orders-db"),
        tags={TAG_SOURCE_ARN: f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:db:billing-db"},
    )
    result = accounts.keep()
    # Then billing-db is still stale: RDS says which database a copy is of
    assert result["freshness"]["stale"] == [f"{MAIN_ACCOUNT}/db/billing-db"]


@pytest.mark.parametrize("status", ["creating", "failed"])
def test_a_copy_not_available_does_not_count(accounts: Accounts, status: str) -> None:
    # Given orders-db copied three days ago, and a copy of today's snapshot not complete
    accounts.backed_up("orders-db")
    accounts.clock.advance(3 * 86400)
    accounts.copy(accounts.snapshot("orders-db"), status=status)
    # When the hourly pass runs
    result = accounts.keep()
    # Then orders-db is stale: only a complete copy counts
    assert result["freshness"]["stale"] == [f"{MAIN_ACCOUNT}/db/orders-db"]


def test_a_snapshot_that_is_not_one_of_the_apps_copies_does_not_count(accounts: Accounts) -> None:
    # Given orders-db copied three days ago by the app, and today by hand (no app name, tags)
    accounts.backed_up("orders-db")
    accounts.clock.advance(3 * 86400)
    source = accounts.snapshot("orders-db")
    accounts.rds.copy_db_snapshot(
        SourceDBSnapshotIdentifier=source, TargetDBSnapshotIdentifier="by-hand"
    )
    # When the hourly pass runs
    result = accounts.keep()
    # Then orders-db is stale: only the app's copies count
    assert result["freshness"]["stale"] == [f"{MAIN_ACCOUNT}/db/orders-db"]


def test_a_cluster_copy_counts_from_its_creation_time(accounts: Accounts) -> None:
    # Given an Aurora cluster's snapshot copied now (RDS keeps no original time for clusters)
    made = accounts.clock.now()
    accounts.backed_up("analytics", kind="cluster")
    # When the pass runs the RPO later, and a second after
    at_rpo = accounts.keep(at=made + RPO)
    past = accounts.keep(at=made + RPO + SECOND)
    # Then the cluster is fresh up to the RPO from the copy's SnapshotCreateTime, stale after
    assert at_rpo["freshness"]["stale"] == []
    assert past["freshness"]["stale"] == [f"{MAIN_ACCOUNT}/cluster/analytics"]


def test_two_source_accounts_with_a_database_of_the_same_name_are_two_databases(
    accounts: Accounts,
) -> None:
    # Given orders-db of the main account copied three days ago, and orders-db of another
    # account copied now
    accounts.backed_up("orders-db")
    accounts.clock.advance(3 * 86400)
    accounts.backed_up("orders-db", account=OTHER_ACCOUNT)
    # When the hourly pass runs
    result = accounts.keep()
    # Then they are two databases: the main account's is stale, the other's fresh
    assert result["freshness"]["watched"] == 2
    assert result["freshness"]["stale"] == [f"{MAIN_ACCOUNT}/db/orders-db"]


# --- Remembered, ignored ---------------------------------------------------------------------------
def test_a_database_whose_copies_are_all_gone_is_still_watched_and_stale(
    accounts: Accounts, freshness_lines: Callable[[], list[logging.LogRecord]]
) -> None:
    # Given orders-db copied, seen by an hourly pass, then its only copy deleted
    copy = accounts.backed_up("orders-db")
    assert accounts.keep()["freshness"]["stale"] == []
    seen = accounts.clock.now()
    accounts.rds.delete_db_snapshot(DBSnapshotIdentifier=copy.rsplit(":", 1)[-1])
    # When the next pass runs
    accounts.clock.advance(3600)
    result = accounts.keep()
    # Then the database is stale: no copy of it is here any more
    assert result["freshness"]["stale"] == [f"{MAIN_ACCOUNT}/db/orders-db"]
    entry = freshness_lines()[-1].__dict__["databases"][0]
    assert entry["newestCopy"] is None
    assert entry["lastRecoveryPoint"] == iso(seen)


def test_a_database_ignored_by_the_backup_account_is_not_counted(accounts: Accounts) -> None:
    # Given two databases copied three days ago, one of them retired (ignored, in any case)
    accounts.backed_up("orders-db")
    accounts.backed_up("retired-db")
    accounts.clock.advance(3 * 86400)
    settings = replace(SETTINGS, ignored=frozenset({"retired-db"}))
    # When the hourly pass runs
    result = accounts.keep(settings=settings)
    # Then only the other is stale; the retired one is named as ignored
    assert result["freshness"] == {
        "stale": [f"{MAIN_ACCOUNT}/db/orders-db"],
        "watched": 1,
        "ignored": ["retired-db"],
    }


# --- What the pass writes ---------------------------------------------------------------------------
def test_the_freshness_line_lists_every_database_watched(
    accounts: Accounts, freshness_lines: Callable[[], list[logging.LogRecord]]
) -> None:
    # Given orders-db copied an hour after its snapshot, analytics (a cluster) three days ago
    accounts.backed_up("analytics", kind="cluster")
    accounts.clock.advance(3 * 86400)
    taken = accounts.clock.now()
    source = accounts.snapshot("orders-db")
    accounts.clock.advance(3600)
    copy = accounts.copy(source)
    # When the hourly pass runs
    accounts.keep()
    # Then one Freshness line lists both, sorted, in the documented shape
    (record,) = freshness_lines()
    assert record.__dict__["staleDatabases"] == 1
    assert (record.__dict__["part"], record.__dict__["parts"]) == (1, 1)
    analytics, orders = record.__dict__["databases"]
    assert orders == {
        "database": "orders-db",
        "kind": "db",
        "sourceAccount": MAIN_ACCOUNT,
        "newestCopy": copy,
        "recoveryPoint": iso(taken),
        "ageHours": 1.0,
        "stale": False,
    }
    assert analytics["database"] == "analytics"
    assert analytics["stale"] is True


def test_the_pass_writes_its_metrics_as_one_emf_line(
    accounts: Accounts, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given one fresh database and two stale ones
    accounts.backed_up("billing-db")
    accounts.backed_up("analytics", kind="cluster")
    accounts.clock.advance(3 * 86400)
    accounts.backed_up("orders-db")
    capsys.readouterr()
    # When the hourly pass runs (recording the three copies it has not seen)
    accounts.keep()
    # Then it writes one EMF line in the app's namespace, with its counts
    (line,) = emf_lines(capsys.readouterr().out)
    directive = line["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == NAMESPACE
    assert directive["Dimensions"] == [["service"]]
    assert line["service"] == SERVICE
    assert line["_aws"]["Timestamp"] == int(accounts.clock.now().timestamp() * 1000)
    assert {m["Name"]: line[m["Name"]] for m in directive["Metrics"]} == {
        STALE_DATABASES: 2,
        KEEPER_PASSES: 1,
        KEEPER_DELETIONS: 0,
        KEEPER_RECORDED: 3,
        UNREADABLE_COPIES: 0,
    }


def test_a_failing_freshness_check_leaves_out_its_metric_not_the_pass(
    accounts: Accounts, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a copy, and a freshness check that fails
    accounts.backed_up("orders-db")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("broken")

    monkeypatch.setattr(keeper_freshness, "run", broken)
    capsys.readouterr()
    # When the hourly pass runs
    result = accounts.keep()
    # Then the pass still records the copy and counts itself, and says what failed; the stale
    # count is missing (the alarm treats that as breaching)
    assert len(result["recorded"]) == 1
    assert result["freshness"] == {"problem": "RuntimeError: broken"}
    (line,) = emf_lines(capsys.readouterr().out)
    assert line[KEEPER_PASSES] == 1
    assert STALE_DATABASES not in line


class CountingRds:
    """The backup account's RDS client, recording each operation called (a listing by its
    paginator's operation)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[str] = []

    def get_paginator(self, operation: str) -> Any:
        self.calls.append(operation)
        return self._client.get_paginator(operation)

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self._client, name)


def test_freshness_costs_the_pass_no_rds_call(accounts: Accounts) -> None:
    # Given five copies the keeper has recorded already
    for name in ("a-db", "b-db", "c-db", "d-db", "e-db"):
        accounts.backed_up(name)
    accounts.keep()
    counting = CountingRds(accounts.rds)
    # When the next pass runs
    result = keeper_hourly.keep(
        settings=SETTINGS, now=accounts.clock.now, rds=counting, ledger=accounts.ledger
    )
    # Then it watched all five with nothing but its two listings (DB and cluster snapshots)
    assert result["freshness"]["watched"] == 5
    assert counting.calls == ["describe_db_snapshots", "describe_db_cluster_snapshots"]


# --- Requests, settings ------------------------------------------------------------------------------
def test_each_answer_to_a_request_is_counted(
    accounts: Accounts, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a copy made now
    copy = accounts.backed_up("orders-db")
    capsys.readouterr()
    request = {"kind": "db", "snapshot": copy.rsplit(":", 1)[-1], "execution": "run-1"}

    def ask(action: str) -> dict[str, Any]:
        return keeper_requests.handle_request(
            {**request, "action": action},
            settings=SETTINGS,
            caller=MAIN_ACCOUNT,
            now=accounts.clock.now,
            rds=accounts.rds,
            ledger=accounts.ledger,
        )

    # When the main account asks to record it, then to expire it at once
    assert ask("record")["decision"] == "kept"
    assert ask("expire")["decision"] == "refused"
    # Then each answer is counted, the refusal as one
    lines = emf_lines(capsys.readouterr().out)
    assert [(line[KEEPER_ANSWERED_REQUESTS], line[KEEPER_REFUSED_REQUESTS]) for line in lines] == [
        (1, 0),
        (1, 1),
    ]


def test_the_rpo_and_the_ignored_databases_are_read_from_the_environment() -> None:
    env = {
        "SOURCE_ACCOUNT_IDS": MAIN_ACCOUNT,
        "LEDGER_TABLE": "ledger",
        "RECOVERY_POINT_OBJECTIVE_HOURS": "50",
        "FRESHNESS_IGNORED_DATABASES": " Retired-DB, old-cluster ,,",
    }
    settings = KeeperSettings.from_env(env)
    assert settings.rpo_hours == 50
    assert settings.ignored == frozenset({"retired-db", "old-cluster"})


@pytest.mark.parametrize("value", ["0", "-1", "26.5", "x", str(366 * 24 + 1)])
def test_an_invalid_rpo_is_named(value: str) -> None:
    env = {
        "SOURCE_ACCOUNT_IDS": MAIN_ACCOUNT,
        "LEDGER_TABLE": "ledger",
        "RECOVERY_POINT_OBJECTIVE_HOURS": value,
    }
    with pytest.raises(ConfigurationError, match="RECOVERY_POINT_OBJECTIVE_HOURS must be"):
        KeeperSettings.from_env(env)


def test_no_line_is_written_when_metrics_are_turned_off(
    accounts: Accounts, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given metrics turned off, as the tests and the demo turn off Powertools' too
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    capsys.readouterr()
    # When the hourly pass runs / Then it writes no EMF line
    accounts.keep()
    assert emf_lines(capsys.readouterr().out) == []


def test_the_rpo_defaults_to_the_constant() -> None:
    settings = KeeperSettings.from_env({"SOURCE_ACCOUNT_IDS": MAIN_ACCOUNT, "LEDGER_TABLE": "l"})
    assert settings.rpo_hours == RECOVERY_POINT_OBJECTIVE_HOURS
    assert settings.ignored == frozenset()
