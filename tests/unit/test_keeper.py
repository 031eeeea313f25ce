"""The backup account's keeper (rds_xacct.keeper) on moto: which snapshots it treats as the
app's copies, how long it keeps them, its answers to the main account's requests, and its
hourly pass (Given / When / Then).

A copy is made as the app makes it: a snapshot in the main account, shared with the backup
account (`restore` attribute) and copied into the backup account by ARN with the app's tags.
RDS records the source of such a cross-account copy (`SourceDBSnapshotIdentifier`,
`SourceDBClusterSnapshotArn`); moto does with MotoPatches (`_recording_the_source`)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import keeper as keeper_function
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from moto.rds.models import rds_backends

from rds_xacct.aws.clients import new_session
from rds_xacct.keeper import hourly as keeper_hourly
from rds_xacct.keeper import requests as keeper_requests
from rds_xacct.keeper import rules as keeper_rules
from rds_xacct.keeper import url as keeper_url
from rds_xacct.keeper.ledger import Ledger
from rds_xacct.keeper.settings import KeeperSettings
from rds_xacct.model import errors
from rds_xacct.model.constants import (
    COPY_DEADLINE_HOURS,
    MAX_RETENTION_DAYS,
    ROLE_BACKUP,
    ROLE_INTERMEDIATE,
    SWEEP_GRACE_HOURS,
    TAG_APP,
    TAG_EXECUTION,
    TAG_EXPIRES_AT,
    TAG_KEEP,
    TAG_ROLE,
)
from rds_xacct.model.ownership import app_tags
from rds_xacct.model.settings import ConfigurationError
from rds_xacct.model.state import Kind
from rds_xacct.model.times import iso, parse_iso
from simulation.moto import MotoPatches, SimClock, make_fake_context
from simulation.world import (
    BACKUP_ACCOUNT,
    MAIN_ACCOUNT,
    REGION,
    postgres_instance,
)

ROOT = Path(__file__).resolve().parents[2]
LEDGER_TABLE = "rds-xacct-keeper-ledger"
OTHER_ACCOUNT = "333333333333"
MIN_DAYS = 3
SETTINGS = KeeperSettings(
    source_accounts=frozenset({MAIN_ACCOUNT}),
    min_retention_days=MIN_DAYS,
    ledger_table=LEDGER_TABLE,
)
SECOND = timedelta(seconds=1)
Answer = dict[str, Any]


@cache
def _session() -> boto3.Session:
    """One session for every test: a session of its own parses botocore's service models
    again (most of this file's time, were each test to make its own)."""
    return new_session(region_name=REGION)


def client_in(account: str, service: str) -> Any:
    """A client acting in `account`, as simulation.world.session_in makes one (moto maps
    assumed-role credentials to the role's account)."""
    if account == MAIN_ACCOUNT:
        return _session().client(service)  # type: ignore[call-overload]
    credentials = (
        _session()
        .client("sts")
        .assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/test-admin", RoleSessionName="test-admin"
        )["Credentials"]
    )
    return _session().client(  # type: ignore[call-overload]
        service,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


@dataclass(frozen=True)
class Copy:
    """A snapshot in the backup account, as RDS describes it."""

    identifier: str
    arn: str
    kind: Kind
    created_at: datetime
    """RDS's creation time (read back from Describe*)."""
    copied_from: str | None


def keeper_ledger(dynamodb: Any) -> Ledger:
    """The keeper's ledger as other/backup-account/backup-account.yaml makes it (KeeperLedger),
    in the account of `dynamodb`."""
    dynamodb.create_table(
        TableName=LEDGER_TABLE,
        AttributeDefinitions=[{"AttributeName": "arn", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "arn", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return Ledger(LEDGER_TABLE, client=dynamodb)


class BackupAccount:
    """The backup account with the keeper's ledger, and snapshots copied into it."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.rds = client_in(BACKUP_ACCOUNT, "rds")
        self.dynamodb = client_in(BACKUP_ACCOUNT, "dynamodb")
        self.ledger = keeper_ledger(self.dynamodb)
        self.settings = SETTINGS
        self._sources: dict[str, Any] = {}
        self._databases: set[tuple[str, Kind, str]] = set()

    # -- making snapshots -----------------------------------------------------------------------
    def _source(self, account: str, kind: Kind, database: str | None = None) -> Any:
        """An RDS client of `account` with the database of this kind (`orders-db`,
        `orders-cluster`, or `database`), made once."""
        database = database or ("orders-cluster" if kind == "cluster" else "orders-db")
        if account not in self._sources:
            rds = self.rds if account == BACKUP_ACCOUNT else client_in(account, "rds")
            self._sources[account] = rds
        rds = self._sources[account]
        if (account, kind, database) not in self._databases:
            self._databases.add((account, kind, database))
            if kind == "cluster":
                rds.create_db_cluster(
                    DBClusterIdentifier=database,
                    Engine="aurora-postgresql",
                    MasterUsername="admin_user",
                    MasterUserPassword="not-a-real-password",
                )
            else:
                postgres_instance(rds, database)
        return rds

    def shared_snapshot(
        self, account: str, kind: Kind, identifier: str, database: str | None = None
    ) -> str:
        """A snapshot of the database taken now in `account`, shared with the backup account
        (as the app shares its intermediate copy); its ARN."""
        database = database or ("orders-cluster" if kind == "cluster" else "orders-db")
        source = self._source(account, kind, database)
        if kind == "cluster":
            arn = source.create_db_cluster_snapshot(
                DBClusterIdentifier=database, DBClusterSnapshotIdentifier=identifier
            )["DBClusterSnapshot"]["DBClusterSnapshotArn"]
            source.modify_db_cluster_snapshot_attribute(
                DBClusterSnapshotIdentifier=identifier,
                AttributeName="restore",
                ValuesToAdd=[BACKUP_ACCOUNT],
            )
        else:
            arn = source.create_db_snapshot(
                DBInstanceIdentifier=database, DBSnapshotIdentifier=identifier
            )["DBSnapshot"]["DBSnapshotArn"]
            source.modify_db_snapshot_attribute(
                DBSnapshotIdentifier=identifier,
                AttributeName="restore",
                ValuesToAdd=[BACKUP_ACCOUNT],
            )
        return str(arn)

    def copy(
        self,
        identifier: str = "xacct-orders-db-20261124-023000-0a1b2c3d",
        *,
        kind: Kind = "db",
        execution: str = "run-1",
        retention_days: int = 7,
        tags: dict[str, str] | None = None,
        without: tuple[str, ...] = (),
        source_account: str = MAIN_ACCOUNT,
        status: str = "available",
    ) -> Copy:
        """A copy made as the app makes it: a snapshot in `source_account`, shared with the
        backup account and copied into it by ARN with the app's tags (`tags` added, `without`
        left out); `retention_days` 0: no expiry tag, as the app does."""
        made_at = self.clock.now()
        source_arn = f"arn:aws:rds:{REGION}:{source_account}:snapshot:awsbackup:job-{identifier}"
        written = app_tags(
            source_arn=source_arn, role=ROLE_BACKUP, execution=execution, made_at=made_at
        )
        if retention_days > 0:
            written[TAG_EXPIRES_AT] = iso(made_at + timedelta(days=retention_days))
        written.update(tags or {})
        tag_list = [{"Key": k, "Value": v} for k, v in written.items() if k not in without]
        shared = self.shared_snapshot(source_account, kind, identifier)
        if kind == "cluster":
            self.rds.copy_db_cluster_snapshot(
                SourceDBClusterSnapshotIdentifier=shared,
                TargetDBClusterSnapshotIdentifier=identifier,
                Tags=tag_list,
            )
        else:
            self.rds.copy_db_snapshot(
                SourceDBSnapshotIdentifier=shared,
                TargetDBSnapshotIdentifier=identifier,
                Tags=tag_list,
            )
        if status != "available":
            self.set_status(identifier, kind, status)
        return self.described(identifier, kind)

    def manual_snapshot(self, identifier: str, *, tags: dict[str, str]) -> Copy:
        """A snapshot made in the backup account itself (not a copy of anything)."""
        rds = self._source(BACKUP_ACCOUNT, "db")
        rds.create_db_snapshot(
            DBInstanceIdentifier="orders-db",
            DBSnapshotIdentifier=identifier,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
        return self.described(identifier, "db")

    def set_status(self, identifier: str, kind: Kind, status: str) -> None:
        """RDS's status of the copy (`creating` while it copies, `failed` if it failed)."""
        backend = rds_backends[BACKUP_ACCOUNT][REGION]
        found: Any = (
            backend.cluster_snapshots[identifier]
            if kind == "cluster"
            else backend.database_snapshots[identifier]
        )
        found.status = status

    # -- reading ----------------------------------------------------------------------------------
    def described(self, identifier: str, kind: Kind = "db") -> Copy:
        if kind == "cluster":
            raw = self.rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=identifier)[
                "DBClusterSnapshots"
            ][0]
            arn, source = raw["DBClusterSnapshotArn"], raw.get("SourceDBClusterSnapshotArn")
        else:
            raw = self.rds.describe_db_snapshots(DBSnapshotIdentifier=identifier)["DBSnapshots"][0]
            arn, source = raw["DBSnapshotArn"], raw.get("SourceDBSnapshotIdentifier")
        return Copy(identifier, arn, kind, raw["SnapshotCreateTime"], source)

    def exists(self, copy: Copy) -> bool:
        backend = rds_backends[BACKUP_ACCOUNT][REGION]
        found = backend.cluster_snapshots if copy.kind == "cluster" else backend.database_snapshots
        return copy.identifier in found

    def item(self, copy: Copy) -> dict[str, Any] | None:
        """The copy's ledger item, as DynamoDB holds it."""
        found: dict[str, Any] | None = self.dynamodb.get_item(
            TableName=LEDGER_TABLE, Key={"arn": {"S": copy.arn}}, ConsistentRead=True
        ).get("Item")
        return found

    # -- an administrator of the backup account ------------------------------------------------
    def tag(self, copy: Copy, tags: dict[str, str]) -> None:
        self.rds.add_tags_to_resource(
            ResourceName=copy.arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
        )

    def untag(self, copy: Copy, *keys: str) -> None:
        self.rds.remove_tags_from_resource(ResourceName=copy.arn, TagKeys=list(keys))

    # -- the keeper -------------------------------------------------------------------------------
    def ask(
        self,
        action: str,
        copy: Copy,
        *,
        at: datetime,
        execution: str = "run-1",
        rds: Any = None,
    ) -> Answer:
        """The main account's request about `copy`, answered at `at`."""
        request = {
            "action": action,
            "kind": copy.kind,
            "snapshot": copy.identifier,
            "execution": execution,
        }
        return self.request(request, at=at, rds=rds)

    def request(
        self, request: Any, *, at: datetime, rds: Any = None, caller: str = MAIN_ACCOUNT
    ) -> Answer:
        """`request` from the source account `caller` (as AWS names it: rds_xacct.keeper.url)."""
        return keeper_requests.handle_request(
            request,
            settings=self.settings,
            caller=caller,
            now=lambda: at,
            rds=rds or self.rds,
            ledger=self.ledger,
        )

    def keep(self, *, at: datetime, rds: Any = None) -> Answer:
        return keeper_hourly.keep(
            settings=self.settings, now=lambda: at, rds=rds or self.rds, ledger=self.ledger
        )


NETWORK = "network"
"""RefusingDeletes' `code` for RDS's answer never coming (botocore's ReadTimeoutError)."""


class RefusingDeletes:
    """The backup account's RDS client, except that deleting one snapshot fails with `code`."""

    def __init__(self, client: Any, identifier: str, code: str) -> None:
        self._client = client
        self._identifier = identifier
        self._code = code

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def _refuse(self, operation: str, identifier: str) -> None:
        if identifier == self._identifier and self._code == NETWORK:
            raise ReadTimeoutError(endpoint_url=f"https://rds.{REGION}.amazonaws.com/")
        if identifier == self._identifier:
            raise ClientError(
                {"Error": {"Code": self._code, "Message": "refused by the test"}}, operation
            )

    def delete_db_snapshot(self, **kwargs: Any) -> Any:
        self._refuse("DeleteDBSnapshot", kwargs["DBSnapshotIdentifier"])
        return self._client.delete_db_snapshot(**kwargs)

    def delete_db_cluster_snapshot(self, **kwargs: Any) -> Any:
        self._refuse("DeleteDBClusterSnapshot", kwargs["DBClusterSnapshotIdentifier"])
        return self._client.delete_db_cluster_snapshot(**kwargs)


@pytest.fixture
def backup(patches: MotoPatches) -> BackupAccount:
    return BackupAccount(patches.clock)


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- Settings -------------------------------------------------------------------------------------
GOOD_ENV = {"SOURCE_ACCOUNT_IDS": MAIN_ACCOUNT, "MIN_RETENTION_DAYS": "3", "LEDGER_TABLE": "ledger"}


def test_settings_are_read_from_the_environment() -> None:
    # Given the environment the backup-account stack sets
    # When the keeper reads it
    settings = KeeperSettings.from_env(GOOD_ENV)
    # Then it has the main account, the minimum retention and the ledger table
    assert settings == KeeperSettings(frozenset({MAIN_ACCOUNT}), 3, "ledger")
    assert settings.min_retention == timedelta(days=3)
    # And without a minimum retention, the default (7 days) applies
    unset = {k: v for k, v in GOOD_ENV.items() if k != "MIN_RETENTION_DAYS"}
    assert KeeperSettings.from_env(unset).min_retention_days == 7
    # And the largest allowed minimum retention is accepted
    largest = {**GOOD_ENV, "MIN_RETENTION_DAYS": str(MAX_RETENTION_DAYS)}
    assert KeeperSettings.from_env(largest).min_retention_days == MAX_RETENTION_DAYS == 345
    # And a copy made without an expiry is kept for good (0), unless a longest retention is set
    assert settings.longest_retention_days == 0
    for days in ("0", "3650"):
        longest = {**GOOD_ENV, "LONGEST_RETENTION_DAYS": days}
        assert KeeperSettings.from_env(longest).longest_retention_days == int(days)


def test_settings_are_read_from_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in GOOD_ENV.items():
        monkeypatch.setenv(name, value)
    assert KeeperSettings.from_env() == KeeperSettings(frozenset({MAIN_ACCOUNT}), 3, "ledger")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SOURCE_ACCOUNT_IDS", "12345678901"),
        ("SOURCE_ACCOUNT_IDS", "12345678901a"),
        ("SOURCE_ACCOUNT_IDS", None),
        ("MIN_RETENTION_DAYS", "0"),
        ("MIN_RETENTION_DAYS", "346"),
        ("MIN_RETENTION_DAYS", "seven"),
        ("LEDGER_TABLE", ""),
        ("LEDGER_TABLE", None),
        ("LONGEST_RETENTION_DAYS", "-1"),
        ("LONGEST_RETENTION_DAYS", "3651"),
        ("LONGEST_RETENTION_DAYS", "forever"),
    ],
)
def test_invalid_settings_name_the_variable(name: str, value: str | None) -> None:
    # Given the environment with one variable wrong or missing
    env = {k: v for k, v in GOOD_ENV.items() if k != name}
    if value is not None:
        env[name] = value
    # When the keeper reads it, Then it refuses to run, naming the variable
    with pytest.raises(ConfigurationError, match=name):
        KeeperSettings.from_env(env)


def test_every_invalid_setting_is_named_at_once() -> None:
    with pytest.raises(ConfigurationError) as raised:
        KeeperSettings.from_env({"SOURCE_ACCOUNT_IDS": "x", "MIN_RETENTION_DAYS": "0"})
    for name in ("SOURCE_ACCOUNT_IDS", "MIN_RETENTION_DAYS", "LEDGER_TABLE"):
        assert name in str(raised.value)


# --- The test's copies are what RDS makes -----------------------------------------------------------
def test_a_copy_into_the_backup_account_records_its_main_account_source(
    backup: BackupAccount,
) -> None:
    # Given a copy made as the app makes it, When RDS describes it
    copy = backup.copy()
    cluster = backup.copy("xacct-orders-cluster-1", kind="cluster")
    # Then its source is the main account's snapshot, and its creation time RDS's
    assert copy.copied_from == f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:snapshot:{copy.identifier}"
    assert cluster.copied_from == (
        f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:cluster-snapshot:{cluster.identifier}"
    )
    assert copy.arn.split(":")[4] == BACKUP_ACCOUNT
    assert copy.created_at == backup.clock.now()


# --- expire -----------------------------------------------------------------------------------------
def test_expire_is_refused_before_the_kept_until_time_and_honoured_after(
    backup: BackupAccount,
) -> None:
    # Given a copy made with a 7-day retention (longer than the 3-day minimum)
    copy = backup.copy(retention_days=7)
    expiry = copy.created_at + timedelta(days=7)
    # When the main account asks to expire it a day later
    early = backup.ask("expire", copy, at=copy.created_at + timedelta(days=1))
    # Then it is refused, with the time it is kept until, and still there
    assert early["decision"] == "refused"
    assert early["snapshot"] == copy.arn
    assert early["keptUntil"] == iso(expiry)
    assert iso(expiry) in early["reason"]
    assert backup.exists(copy)
    # And the ledger recorded it at first sight
    item = backup.item(copy)
    assert item is not None
    assert item["keepUntil"] == {"S": iso(expiry)}
    assert item["createdAt"] == {"S": iso(copy.created_at)}
    assert item["firstSeen"] == {"S": iso(copy.created_at + timedelta(days=1))}
    assert item["execution"] == {"S": "run-1"}
    assert "deletedAt" not in item
    # When it asks again after the expiry
    later = copy.created_at + timedelta(days=7, seconds=1)
    done = backup.ask("expire", copy, at=later)
    # Then the copy is deleted and its ledger entry marked deleted, removed by TTL in 90 days
    assert done["decision"] == "deleted"
    assert done["keptUntil"] == iso(expiry)
    assert not backup.exists(copy)
    item = backup.item(copy)
    assert item is not None
    assert item["deletedAt"] == {"S": iso(later)}
    assert item["expireAt"] == {"N": str(int((later + timedelta(days=90)).timestamp()))}
    # And asked once more, the copy is gone
    again = backup.ask("expire", copy, at=later + timedelta(hours=1))
    assert again["decision"] == "gone"
    assert again["snapshot"] == copy.identifier


def test_expire_is_refused_a_second_early_and_honoured_at_the_kept_until_time(
    backup: BackupAccount,
) -> None:
    # Given a copy kept until 7 days after it was made
    copy = backup.copy(retention_days=7)
    expiry = copy.created_at + timedelta(days=7)
    # When asked a second before, Then refused, and the hourly pass keeps it too
    assert backup.ask("expire", copy, at=expiry - SECOND)["decision"] == "refused"
    assert backup.keep(at=expiry - SECOND)["deleted"] == []
    # When asked at the kept-until time, Then deleted
    assert backup.ask("expire", copy, at=expiry)["decision"] == "deleted"
    assert not backup.exists(copy)


def test_a_copy_at_the_minimum_is_deleted_not_a_second_before_rds_creation_plus_the_minimum(
    backup: BackupAccount,
) -> None:
    # Given a copy made with the minimum retention, its expiry tag written a minute before RDS
    # made it (as a run writes it from the moment it started the copy)
    copy = backup.copy(retention_days=MIN_DAYS)
    minimum = copy.created_at + timedelta(days=MIN_DAYS)
    backup.tag(copy, {TAG_EXPIRES_AT: iso(minimum - timedelta(minutes=1))})
    # When the run asks at its tag's time, and a second before the minimum
    early = backup.ask("expire", copy, at=minimum - timedelta(minutes=1))
    late = backup.ask("expire", copy, at=minimum - SECOND)
    # Then both are refused, until RDS's creation time plus the minimum
    assert early["decision"] == late["decision"] == "refused"
    assert early["keptUntil"] == iso(minimum)
    assert "minimum retention" in early["reason"]
    assert backup.keep(at=minimum - SECOND)["deleted"] == []
    # And at that time, the hourly pass deletes it
    assert backup.keep(at=minimum)["deleted"] == [copy.arn]


def test_the_ledger_never_lets_a_copy_go_before_rds_creation_plus_the_minimum(
    backup: BackupAccount,
) -> None:
    # Given a copy whose ledger record says it may go at once (as a record written by an
    # earlier keeper, or by hand, might)
    copy = backup.copy(retention_days=MIN_DAYS)
    backup.dynamodb.put_item(
        TableName=LEDGER_TABLE,
        Item={
            "arn": {"S": copy.arn},
            "createdAt": {"S": "2001-01-01T00:00:00Z"},
            "firstSeen": {"S": iso(copy.created_at)},
            "keepUntil": {"S": "2001-01-02T00:00:00Z"},
        },
    )
    backup.tag(copy, {TAG_EXPIRES_AT: "2001-01-02T00:00:00Z"})
    # When asked to expire it the next day, and when the hourly pass runs
    asked = backup.ask("expire", copy, at=copy.created_at + timedelta(days=1))
    swept = backup.keep(at=copy.created_at + timedelta(days=1))
    # Then the keeper checks RDS's creation time and keeps it to the minimum
    assert asked["decision"] == "refused"
    assert asked["keptUntil"] == iso(copy.created_at + timedelta(days=MIN_DAYS))
    assert swept["deleted"] == []
    assert backup.exists(copy)


def test_a_cluster_copy_is_expired_like_a_db_copy(backup: BackupAccount) -> None:
    copy = backup.copy("xacct-orders-cluster-1", kind="cluster", retention_days=5)
    expiry = copy.created_at + timedelta(days=5)
    refused = backup.ask("expire", copy, at=copy.created_at + timedelta(hours=2))
    assert (refused["decision"], refused["keptUntil"]) == ("refused", iso(expiry))
    assert backup.ask("expire", copy, at=expiry + timedelta(hours=1))["decision"] == "deleted"
    assert not backup.exists(copy)


def test_an_expiry_moved_earlier_after_first_sight_is_not_honoured(backup: BackupAccount) -> None:
    # Given a 7-day copy the keeper has seen (a request an hour after it was made)
    copy = backup.copy(retention_days=7)
    expiry = copy.created_at + timedelta(days=7)
    seen = backup.ask("expire", copy, at=copy.created_at + timedelta(hours=1))
    assert seen["decision"] == "refused"
    # And an administrator re-tags it to expire now
    now = copy.created_at + timedelta(days=4)
    backup.tag(copy, {TAG_EXPIRES_AT: iso(now)})
    # When the main account asks to expire it
    answer = backup.ask("expire", copy, at=now)
    # Then it is refused until the expiry recorded at first sight
    assert answer["decision"] == "refused"
    assert answer["keptUntil"] == iso(expiry)
    assert "the expiry it was made with" in answer["reason"]
    assert backup.exists(copy)
    # And the hourly pass does not delete it either
    assert backup.keep(at=now + timedelta(hours=1))["deleted"] == []
    assert backup.exists(copy)
    # When asked after the recorded expiry, Then it is deleted
    assert backup.ask("expire", copy, at=expiry + timedelta(minutes=5))["decision"] == "deleted"


def test_an_expiry_moved_earlier_before_first_sight_keeps_the_minimum_retention(
    backup: BackupAccount,
) -> None:
    # Given a 7-day copy re-tagged to expire at once before the keeper ever saw it
    copy = backup.copy(retention_days=7)
    backup.tag(copy, {TAG_EXPIRES_AT: iso(copy.created_at)})
    floor = copy.created_at + timedelta(days=MIN_DAYS)
    # When the main account asks to expire it an hour later
    answer = backup.ask("expire", copy, at=copy.created_at + timedelta(hours=1))
    # Then it is kept until its creation plus the backup account's minimum retention
    assert answer["decision"] == "refused"
    assert answer["keptUntil"] == iso(floor)
    assert (
        f"minimum retention, {MIN_DAYS} days from its creation at {iso(copy.created_at)}"
        in answer["reason"]
    )
    item = backup.item(copy)
    assert item is not None
    assert item["keepUntil"] == {"S": iso(floor)}
    assert backup.ask("expire", copy, at=floor - timedelta(hours=1))["decision"] == "refused"
    # And after that, it is deleted
    assert backup.ask("expire", copy, at=floor + timedelta(seconds=1))["decision"] == "deleted"
    assert not backup.exists(copy)


def test_a_later_expiry_tag_is_honoured(backup: BackupAccount) -> None:
    # Given a 7-day copy the keeper has seen, then extended by an operator to 30 days
    copy = backup.copy(retention_days=7)
    backup.ask("expire", copy, at=copy.created_at + timedelta(hours=1))
    extended = copy.created_at + timedelta(days=30)
    backup.tag(copy, {TAG_EXPIRES_AT: iso(extended)})
    # When asked after the recorded 7 days
    answer = backup.ask("expire", copy, at=copy.created_at + timedelta(days=8))
    # Then it is refused until the later time
    assert answer["decision"] == "refused"
    assert answer["keptUntil"] == iso(extended)
    assert backup.keep(at=copy.created_at + timedelta(days=8))["deleted"] == []
    # And deleted after it
    assert backup.ask("expire", copy, at=extended + timedelta(hours=1))["decision"] == "deleted"


def test_a_removed_expiry_tag_keeps_the_copy(backup: BackupAccount) -> None:
    # Given a 7-day copy the keeper has seen, whose expiry tag an operator then removed
    copy = backup.copy(retention_days=7)
    backup.ask("expire", copy, at=copy.created_at + timedelta(hours=1))
    backup.untag(copy, TAG_EXPIRES_AT)
    # When asked long after the recorded expiry
    answer = backup.ask("expire", copy, at=copy.created_at + timedelta(days=100))
    # Then it is kept for good
    assert answer["decision"] == "kept"
    assert answer["keptUntil"] is None
    assert "removed" in answer["reason"]
    assert backup.keep(at=copy.created_at + timedelta(days=100))["deleted"] == []
    assert backup.exists(copy)


def test_the_keep_tag_written_after_the_copy_was_recorded_keeps_the_copy(
    backup: BackupAccount,
) -> None:
    # Given a 7-day copy the keeper recorded, then tagged rds-xacct:keep by an operator here
    copy = backup.copy(retention_days=7)
    backup.ask("record", copy, at=copy.created_at)
    backup.tag(copy, {TAG_KEEP: "legal hold"})
    # When asked long after its expiry
    answer = backup.ask("expire", copy, at=copy.created_at + timedelta(days=100))
    # Then it is kept for good
    assert answer["decision"] == "kept"
    assert TAG_KEEP in answer["reason"]
    assert backup.keep(at=copy.created_at + timedelta(days=100))["deleted"] == []
    assert backup.exists(copy)


def test_a_keep_tag_the_copy_was_made_with_is_not_honoured_until_an_operator_changes_it(
    backup: BackupAccount,
) -> None:
    # Given a 7-day copy made carrying rds-xacct:keep (as RDS's CopyTags can carry it from a
    # source the main account tagged), recorded with it
    copy = backup.copy("xacct-orders-db-1", retention_days=7, tags={TAG_KEEP: "forever"})
    recorded = backup.ask("record", copy, at=copy.created_at)
    assert recorded["decision"] == "kept"
    assert recorded["keptUntil"] == iso(copy.created_at + timedelta(days=7))
    item = backup.item(copy)
    assert item is not None
    assert item["keepTag"] == {"S": "forever"}
    # When its expiry comes, Then the keeper deletes it: the main account's keep is no keep
    assert backup.keep(at=copy.created_at + timedelta(days=7))["deleted"] == [copy.arn]
    # And given another such copy whose keep tag an operator of this account rewrites
    other = backup.copy("xacct-orders-db-2", retention_days=7, tags={TAG_KEEP: "forever"})
    backup.ask("record", other, at=other.created_at)
    backup.tag(other, {TAG_KEEP: "legal hold"})
    # Then that copy is kept for good
    answer = backup.ask("expire", other, at=other.created_at + timedelta(days=100))
    assert answer["decision"] == "kept"
    assert backup.exists(other)


UNREADABLE_EXPIRIES = [
    "",
    "next tuesday",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+23:59",
    "1999-12-31T23:59:59Z",
    "2099-01-01T00:00:00Z",
    "x" * 256,
]


@pytest.mark.parametrize("expiry_tag", [None, *UNREADABLE_EXPIRIES])
def test_a_copy_made_without_a_readable_expiry_is_kept_the_longest_retention(
    backup: BackupAccount, expiry_tag: str | None
) -> None:
    # Given a copy made with retention 0 (no expiry tag), or an expiry tag that is not a time
    # or is out of the sane range (before 2000, or past creation + the longest retention)
    # in a backup account that bounds copies made without an expiry by the longest retention
    backup.settings = replace(SETTINGS, longest_retention_days=MAX_RETENTION_DAYS)
    tags = {} if expiry_tag is None else {TAG_EXPIRES_AT: expiry_tag}
    copy = backup.copy(retention_days=0, tags=tags)
    longest = copy.created_at + timedelta(days=MAX_RETENTION_DAYS)
    # When the keeper records it, and is asked to expire it a day before the longest retention
    recorded = backup.ask("record", copy, at=copy.created_at)
    early = backup.ask("expire", copy, at=longest - timedelta(days=1))
    # Then it is kept the longest retention a run can ask (345 days), never for good
    assert recorded["keptUntil"] == early["keptUntil"] == iso(longest)
    assert early["decision"] == "refused"
    assert "longest retention" in early["reason"]
    # And the hourly pass deletes it then
    assert backup.keep(at=longest - SECOND)["deleted"] == []
    assert backup.keep(at=longest)["deleted"] == [copy.arn]


def test_a_copy_made_without_an_expiry_is_kept_for_good_where_this_account_allows_it(
    backup: BackupAccount,
) -> None:
    # Given a backup account whose longest retention is 0 (the main account's RetentionDays 0
    # keeps copies for good), and a copy made without an expiry tag
    backup.settings = replace(SETTINGS, longest_retention_days=0)
    copy = backup.copy(retention_days=0)
    # When asked to expire it, even after a later expiry tag is written
    first = backup.ask("expire", copy, at=copy.created_at + timedelta(days=1))
    backup.tag(copy, {TAG_EXPIRES_AT: iso(copy.created_at + timedelta(days=4))})
    later = backup.ask("expire", copy, at=copy.created_at + timedelta(days=400))
    # Then it is kept for good, and recorded without a kept-until time
    assert first["decision"] == later["decision"] == "kept"
    assert later["keptUntil"] is None
    item = backup.item(copy)
    assert item is not None
    assert "keepUntil" not in item
    assert backup.exists(copy)


def test_an_empty_expiry_tag_written_later_is_not_a_removed_tag(backup: BackupAccount) -> None:
    # Given a 7-day copy the keeper recorded, whose expiry tag the main account's role then
    # empties (it may write the key; it can't remove it)
    copy = backup.copy(retention_days=7)
    backup.ask("record", copy, at=copy.created_at)
    backup.tag(copy, {TAG_EXPIRES_AT: ""})
    # When its recorded expiry comes, Then the copy is deleted, not kept for good
    assert backup.keep(at=copy.created_at + timedelta(days=7))["deleted"] == [copy.arn]


def test_expire_of_a_copy_not_available_is_refused(backup: BackupAccount) -> None:
    # Given an expired copy that RDS reports as not available
    copy = backup.copy(retention_days=7)
    backup.set_status(copy.identifier, "db", "creating")
    # When asked to expire it, Then it is refused, as RDS deletes only an available snapshot
    answer = backup.ask("expire", copy, at=copy.created_at + timedelta(days=8))
    assert answer["decision"] == "refused"
    assert "creating" in answer["reason"]
    assert backup.exists(copy)


def test_a_snapshot_that_does_not_exist_is_gone(backup: BackupAccount) -> None:
    request = {
        "action": "expire",
        "kind": "db",
        "snapshot": "xacct-never-made",
        "execution": "run-1",
    }
    answer = backup.request(request, at=backup.clock.now())
    assert answer["decision"] == "gone"
    assert answer["snapshot"] == "xacct-never-made"
    assert answer["keptUntil"] is None


@pytest.mark.parametrize(
    ("code", "raised"),
    [
        ("InvalidDBSnapshotState", errors.SnapshotNotReady),
        ("Throttling", errors.Throttled),
        (NETWORK, errors.NetworkError),
    ],
)
def test_errors_that_clear_by_themselves_raise_for_the_asking_step_to_retry(
    backup: BackupAccount, code: str, raised: type[errors.PipelineError]
) -> None:
    # Given an expired copy whose deletion RDS refuses for now
    copy = backup.copy(retention_days=7)
    rds = RefusingDeletes(backup.rds, copy.identifier, code)
    # When the main account asks to expire it, Then the error is raised by name
    with pytest.raises(raised):
        backup.ask("expire", copy, at=copy.created_at + timedelta(days=8), rds=rds)
    # And the copy is there, its ledger entry not marked deleted
    assert backup.exists(copy)
    item = backup.item(copy)
    assert item is not None
    assert "deletedAt" not in item


# --- Not the app's copies ------------------------------------------------------------------------
NOT_COPIES: dict[str, dict[str, Any]] = {
    "no app tag": {"without": (TAG_APP,)},
    "another app's tag": {"tags": {TAG_APP: "other-app"}},
    "no role tag": {"without": (TAG_ROLE,)},
    "the shared role": {"tags": {TAG_ROLE: ROLE_INTERMEDIATE}},
    "not named xacct-": {"identifier": "orders-db-copy-1"},
    "named xacct without the dash": {"identifier": "xacctorders-db-1"},
    "copied from another account": {"source_account": OTHER_ACCOUNT},
}


def not_a_copy(backup: BackupAccount, case: str) -> Copy:
    if case == "made in the backup account":
        tags = app_tags(
            source_arn=f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:snapshot:awsbackup:job-1",
            role=ROLE_BACKUP,
            execution="run-1",
            made_at=backup.clock.now(),
        )
        tags[TAG_EXPIRES_AT] = iso(backup.clock.now())
        return backup.manual_snapshot("xacct-orders-db-manual", tags=tags)
    return backup.copy(retention_days=1, status="failed", **NOT_COPIES[case])


@pytest.mark.parametrize("case", [*NOT_COPIES, "made in the backup account"])
def test_a_snapshot_that_is_not_an_app_copy_is_never_deleted(
    backup: BackupAccount, case: str
) -> None:
    # Given a failed snapshot, long expired, that is not one of the app's copies
    snapshot = not_a_copy(backup, case)
    late = snapshot.created_at + timedelta(days=400)
    # When the main account asks to expire it
    expire = backup.ask("expire", snapshot, at=late)
    # Then it is refused, as not a copy the app made
    assert expire["decision"] == "refused"
    assert expire["reason"].startswith("not a copy this app made")
    # And an abandon, within the copy deadline, is refused too
    abandon = backup.ask("abandon", snapshot, at=snapshot.created_at + timedelta(hours=1))
    assert abandon["decision"] == "refused"
    assert abandon["reason"].startswith("not a copy this app made")
    # And the hourly pass leaves it alone, unrecorded
    passed = backup.keep(at=late)
    assert snapshot.arn not in passed["deleted"] + passed["recorded"]
    assert passed["kept"] == 0
    assert backup.exists(snapshot)
    assert backup.item(snapshot) is None


def test_the_reason_names_the_account_a_copy_came_from(backup: BackupAccount) -> None:
    copy = backup.copy(source_account=OTHER_ACCOUNT)
    answer = backup.ask("expire", copy, at=copy.created_at + timedelta(days=8))
    assert OTHER_ACCOUNT in answer["reason"]
    manual = not_a_copy(backup, "made in the backup account")
    assert "no other account" in backup.ask("expire", manual, at=manual.created_at)["reason"]


# --- abandon ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", ["creating", "failed"])
def test_abandon_deletes_the_asking_runs_unfinished_copy(
    backup: BackupAccount, status: str
) -> None:
    # Given run-1's copy, not completed
    copy = backup.copy(execution="run-1", status=status)
    # When run-1 abandons it within the copy deadline
    now = copy.created_at + timedelta(hours=COPY_DEADLINE_HOURS - 1)
    answer = backup.ask("abandon", copy, at=now, execution="run-1")
    # Then it is deleted, and marked deleted in the ledger
    assert answer["decision"] == "deleted"
    assert status in answer["reason"]
    assert not backup.exists(copy)
    item = backup.item(copy)
    assert item is not None
    assert item["deletedAt"] == {"S": iso(now)}


def test_abandon_deletes_a_cluster_copy_too(backup: BackupAccount) -> None:
    copy = backup.copy("xacct-orders-cluster-1", kind="cluster", status="copying")
    answer = backup.ask("abandon", copy, at=copy.created_at + timedelta(hours=1))
    assert answer["decision"] == "deleted"
    assert not backup.exists(copy)


def test_abandon_refuses_another_runs_copy(backup: BackupAccount) -> None:
    copy = backup.copy(execution="run-1", status="creating")
    answer = backup.ask("abandon", copy, at=copy.created_at + timedelta(hours=1), execution="run-2")
    assert answer["decision"] == "refused"
    assert "run-1" in answer["reason"]
    assert "run-2" in answer["reason"]
    assert backup.exists(copy)


def test_abandon_refuses_a_copy_without_an_execution_tag(backup: BackupAccount) -> None:
    copy = backup.copy(without=(TAG_EXECUTION,), status="creating")
    answer = backup.ask("abandon", copy, at=copy.created_at + timedelta(hours=1))
    assert answer["decision"] == "refused"
    assert backup.exists(copy)


def test_abandon_refuses_an_available_copy(backup: BackupAccount) -> None:
    copy = backup.copy(execution="run-1")
    answer = backup.ask("abandon", copy, at=copy.created_at + timedelta(hours=1))
    assert answer["decision"] == "refused"
    assert "complete" in answer["reason"]
    assert backup.exists(copy)


def test_abandon_refuses_a_copy_older_than_the_copy_deadline(backup: BackupAccount) -> None:
    copy = backup.copy(execution="run-1", status="creating")
    late = copy.created_at + timedelta(hours=COPY_DEADLINE_HOURS, seconds=1)
    answer = backup.ask("abandon", copy, at=late)
    assert answer["decision"] == "refused"
    assert "copy deadline" in answer["reason"]
    assert backup.exists(copy)


# --- Unreadable requests ---------------------------------------------------------------------------
COPY_ID = "xacct-orders-db-20261124-023000-0a1b2c3d"
GOOD_REQUEST = {"action": "expire", "kind": "db", "snapshot": COPY_ID, "execution": "run-1"}
UNREADABLE: dict[str, Any] = {
    "a list": [GOOD_REQUEST],
    "a string": "expire xacct-orders-db",
    "nothing": None,
    "another action": {**GOOD_REQUEST, "action": "delete"},
    "no action": {k: v for k, v in GOOD_REQUEST.items() if k != "action"},
    "another kind": {**GOOD_REQUEST, "kind": "instance"},
    "an ARN": {
        **GOOD_REQUEST,
        "snapshot": f"arn:aws:rds:{REGION}:{BACKUP_ACCOUNT}:snapshot:{COPY_ID}",
    },
    "no snapshot": {k: v for k, v in GOOD_REQUEST.items() if k != "snapshot"},
    "a number for snapshot": {**GOOD_REQUEST, "snapshot": 12},
    "no execution": {k: v for k, v in GOOD_REQUEST.items() if k != "execution"},
    "an empty execution": {**GOOD_REQUEST, "execution": ""},
    "an execution with spaces": {**GOOD_REQUEST, "execution": "run 1; drop"},
    "an execution ARN": {
        **GOOD_REQUEST,
        "execution": f"arn:aws:states:{REGION}:{MAIN_ACCOUNT}:execution:sm:run-1",
    },
    "an overlong execution": {**GOOD_REQUEST, "execution": "r" * 81},
    "a list for execution": {**GOOD_REQUEST, "execution": ["run-1"]},
}


@pytest.mark.parametrize("case", list(UNREADABLE))
def test_an_unreadable_request_is_refused_and_nothing_deleted(
    backup: BackupAccount, case: str
) -> None:
    # Given an expired copy
    copy = backup.copy(COPY_ID, retention_days=1)
    # When a request the keeper can't read arrives about it
    answer = backup.request(UNREADABLE[case], at=copy.created_at + timedelta(days=30))
    # Then it is refused as unreadable, and the copy is there, unrecorded
    assert answer["decision"] == "refused"
    assert answer["reason"].startswith("unreadable request: ")
    assert answer["keptUntil"] is None
    assert backup.exists(copy)
    assert backup.item(copy) is None


def test_the_readable_request_the_unreadable_ones_are_made_from_is_honoured(
    backup: BackupAccount,
) -> None:
    copy = backup.copy(COPY_ID, retention_days=1)
    answer = backup.request(GOOD_REQUEST, at=copy.created_at + timedelta(days=30))
    assert answer["decision"] == "deleted"


# --- The hourly pass --------------------------------------------------------------------------------
def test_the_hourly_pass_records_new_copies_once(backup: BackupAccount) -> None:
    # Given a 7-day copy, a copy without expiry and a cluster copy, unseen by the keeper
    dated = backup.copy("xacct-orders-db-1", retention_days=7)
    forever = backup.copy("xacct-orders-db-2", retention_days=0, execution="run-2")
    cluster = backup.copy("xacct-orders-cluster-1", kind="cluster", retention_days=2)
    now = dated.created_at + timedelta(hours=1)
    # When the hourly pass runs
    result = backup.keep(at=now)
    # Then it records each, deletes none, and keeps all three
    assert sorted(result["recorded"]) == sorted([dated.arn, forever.arn, cluster.arn])
    assert result["deleted"] == []
    assert result["kept"] == 3
    assert result["problems"] == []
    assert result["keptAt"] == iso(now)
    dated_item, forever_item, cluster_item = (backup.item(c) for c in (dated, forever, cluster))
    assert dated_item is not None
    assert forever_item is not None
    assert cluster_item is not None
    assert dated_item["keepUntil"] == {"S": iso(dated.created_at + timedelta(days=7))}
    assert dated_item["firstSeen"] == {"S": iso(now)}
    # (no expiry: kept for good, as the main account's RetentionDays 0 asks, by default)
    assert "keepUntil" not in forever_item
    assert forever_item["expiryTagged"] == {"BOOL": False}
    assert forever_item["execution"] == {"S": "run-2"}
    # (2 days is below the 3-day minimum: the minimum applies)
    assert cluster_item["keepUntil"] == {"S": iso(cluster.created_at + timedelta(days=MIN_DAYS))}
    # When it runs again an hour later, Then nothing is recorded again
    again = backup.keep(at=now + timedelta(hours=1))
    assert again["recorded"] == []
    assert again["kept"] == 3


def test_the_hourly_pass_deletes_expired_copies_and_keeps_the_others(
    backup: BackupAccount,
) -> None:
    # Given copies of 7 days (one of each kind), 30 days, 7 days tagged keep, and without
    # expiry, and snapshots that are not the app's copies
    expired = backup.copy("xacct-orders-db-1", retention_days=7)
    expired_cluster = backup.copy("xacct-orders-cluster-1", kind="cluster", retention_days=7)
    longer = backup.copy("xacct-orders-db-2", retention_days=30)
    kept = backup.copy("xacct-orders-db-3", retention_days=7)
    backup.ask("record", kept, at=kept.created_at)
    backup.tag(kept, {TAG_KEEP: ""})
    forever = backup.copy("xacct-orders-db-4", retention_days=0)
    foreign = backup.copy("xacct-orders-db-5", retention_days=1, source_account=OTHER_ACCOUNT)
    manual = not_a_copy(backup, "made in the backup account")
    # When the hourly pass runs 8 days later
    now = expired.created_at + timedelta(days=8)
    result = backup.keep(at=now)
    # Then the expired copies are deleted and marked deleted in the ledger
    assert sorted(result["deleted"]) == sorted([expired.arn, expired_cluster.arn])
    for copy in (expired, expired_cluster):
        assert not backup.exists(copy)
        item = backup.item(copy)
        assert item is not None
        assert item["deletedAt"] == {"S": iso(now)}
    # And the others are kept, the snapshots that are not copies left alone
    assert result["kept"] == 3
    assert result["problems"] == []
    for snapshot in (longer, kept, forever, foreign, manual):
        assert backup.exists(snapshot)
    assert backup.item(foreign) is None
    assert backup.item(manual) is None
    # And a later pass does not see the deleted ones again
    again = backup.keep(at=now + timedelta(hours=1))
    assert again["deleted"] == []
    assert again["recorded"] == []


def test_the_hourly_pass_deletes_unfinished_copies_no_run_will_finish(
    backup: BackupAccount,
) -> None:
    # Given a failed copy and a copy still creating, both kept for 30 days if they completed
    failed = backup.copy("xacct-orders-db-1", retention_days=30, status="failed")
    creating = backup.copy("xacct-orders-db-2", retention_days=30, status="creating")
    start = failed.created_at
    grace = timedelta(hours=SWEEP_GRACE_HOURS)
    deadline = timedelta(hours=COPY_DEADLINE_HOURS)
    # When the hourly pass runs within the grace period of the failure, Then it keeps both
    first = backup.keep(at=start + grace - timedelta(minutes=1))
    assert first["deleted"] == []
    assert sorted(first["recorded"]) == sorted([failed.arn, creating.arn])
    # When it runs after the grace period, Then the failed copy is deleted
    second = backup.keep(at=start + grace + timedelta(minutes=1))
    assert second["deleted"] == [failed.arn]
    assert not backup.exists(failed)
    assert backup.exists(creating)
    # When it runs within the copy deadline plus the grace period, Then the other is kept
    assert backup.keep(at=start + deadline + grace - timedelta(minutes=1))["deleted"] == []
    # When it runs after, Then the copy no run will finish is deleted
    last = backup.keep(at=start + deadline + grace + timedelta(minutes=1))
    assert last["deleted"] == [creating.arn]
    assert not backup.exists(creating)
    item = backup.item(creating)
    assert item is not None
    assert "deletedAt" in item


def test_a_problem_with_one_copy_is_reported_and_the_others_handled(
    backup: BackupAccount,
) -> None:
    # Given two expired copies, and RDS refusing to delete the first
    stuck = backup.copy("xacct-orders-db-1", retention_days=7)
    other = backup.copy("xacct-orders-db-2", retention_days=7)
    rds = RefusingDeletes(backup.rds, stuck.identifier, "AccessDenied")
    # When the hourly pass runs after their expiry
    result = backup.keep(at=stuck.created_at + timedelta(days=8), rds=rds)
    # Then the problem is reported, naming the copy, and the other copy is deleted
    assert len(result["problems"]) == 1
    assert result["problems"][0].startswith(f"{stuck.arn}: ")
    assert "AccessDenied" in result["problems"][0]
    assert result["deleted"] == [other.arn]
    assert not backup.exists(other)
    # And the copy RDS kept stays in the ledger, to be deleted by a later pass
    assert backup.exists(stuck)
    item = backup.item(stuck)
    assert item is not None
    assert "deletedAt" not in item
    later = backup.keep(at=stuck.created_at + timedelta(days=8, hours=1))
    assert later["deleted"] == [stuck.arn]
    assert later["problems"] == []


class Exploding(RefusingDeletes):
    """The backup account's RDS client, except that deleting one snapshot raises an exception
    no AWS call raises (as a bug, or a value nobody foresaw, would)."""

    def _refuse(self, operation: str, identifier: str) -> None:
        if identifier == self._identifier:
            raise RuntimeError(f"{operation} exploded")


def test_no_copy_stops_the_hourly_pass_whatever_its_tags_or_error(backup: BackupAccount) -> None:
    # Given copies whose expiry tags are valid but extreme times (they parse, then overflow in
    # UTC), one recorded before being re-tagged and one never seen; a copy whose delete raises
    # an unforeseen exception; and an expired copy made as the app makes it
    extreme = "9999-12-31T23:59:59-23:59"
    retagged = backup.copy("xacct-orders-db-1", retention_days=7)
    backup.ask("record", retagged, at=retagged.created_at)
    backup.tag(retagged, {TAG_EXPIRES_AT: extreme})
    unseen = backup.copy("xacct-orders-db-2", retention_days=7, tags={TAG_EXPIRES_AT: extreme})
    exploding = backup.copy("xacct-orders-db-3", retention_days=7)
    expired = backup.copy("xacct-orders-db-4", retention_days=7)
    # When the hourly pass runs after their expiry
    at = expired.created_at + timedelta(days=8)
    result = backup.keep(at=at, rds=Exploding(backup.rds, exploding.identifier, ""))
    # Then the unforeseen error is reported for its copy alone, and the pass goes on
    assert result["problems"] == [f"{exploding.arn}: RuntimeError: DeleteDBSnapshot exploded"]
    # And the extreme tags are unreadable, never trusted: the re-tagged copy keeps its recorded
    # 7 days (and goes), the unseen one is recorded for the longest retention
    assert sorted(result["deleted"]) == sorted([retagged.arn, expired.arn])
    assert result["recorded"] == [unseen.arn, exploding.arn, expired.arn]
    item = backup.item(unseen)
    assert item is not None
    assert item["keepUntil"] == {"S": iso(unseen.created_at + timedelta(days=MAX_RETENTION_DAYS))}
    # And the next pass deletes the copy whose delete failed
    assert backup.keep(at=at + timedelta(hours=1))["deleted"] == [exploding.arn]


def test_an_unreadable_ledger_item_stops_nothing(backup: BackupAccount) -> None:
    # Given an expired copy, and a ledger item the keeper can't read
    expired = backup.copy("xacct-orders-db-1", retention_days=7)
    backup.dynamodb.put_item(
        TableName=LEDGER_TABLE,
        Item={"arn": {"S": "junk"}, "createdAt": {"S": "9999-12-31T23:59:59-23:59"}},
    )
    # When the hourly pass runs after the expiry, Then the copy is deleted
    result = backup.keep(at=expired.created_at + timedelta(days=8))
    assert result["deleted"] == [expired.arn]
    assert result["problems"] == []


def test_no_request_crashes_the_keeper(
    backup: BackupAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a copy re-tagged with an extreme expiry, and the keeper's rules failing on another
    copy = backup.copy("xacct-orders-db-1", retention_days=7)
    backup.tag(copy, {TAG_EXPIRES_AT: "9999-12-31T23:59:59-23:59"})
    other = backup.copy("xacct-orders-db-2", retention_days=7)
    at = copy.created_at + timedelta(days=8)
    # When asked about the first, Then it is answered by the rules (the tag unreadable: the
    # longest retention)
    answer = backup.ask("expire", copy, at=at)
    assert answer["decision"] == "refused"
    assert answer["keptUntil"] == iso(copy.created_at + timedelta(days=MAX_RETENTION_DAYS))

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OverflowError("date value out of range")

    monkeypatch.setattr(keeper_rules, "kept_until", broken)
    # When asked about the other, Then it is refused with the error's name, nothing deleted
    refused = backup.ask("expire", other, at=at)
    assert refused["decision"] == "refused"
    assert "OverflowError" in refused["reason"]
    assert backup.exists(other)


def test_record_records_a_new_copy_from_rds_once(backup: BackupAccount) -> None:
    # Given a 30-day copy just made
    copy = backup.copy(retention_days=30)
    expiry = copy.created_at + timedelta(days=30)
    # When its run asks the keeper to record it, twice (a retried step)
    first = backup.ask("record", copy, at=copy.created_at)
    backup.tag(copy, {TAG_EXPIRES_AT: iso(copy.created_at)})
    second = backup.ask("record", copy, at=copy.created_at + timedelta(minutes=1))
    # Then it is recorded once, from its tags as they were at the first request
    assert first["decision"] == second["decision"] == "kept"
    assert first["keptUntil"] == second["keptUntil"] == iso(expiry)
    item = backup.item(copy)
    assert item is not None
    assert item["firstSeen"] == {"S": iso(copy.created_at)}
    assert item["keepUntil"] == {"S": iso(expiry)}
    # And the hourly pass finds nothing new to record
    assert backup.keep(at=copy.created_at + timedelta(hours=1))["recorded"] == []


def test_the_hourly_pass_records_a_copy_once_whatever_the_fraction_of_its_creation_second(
    backup: BackupAccount,
) -> None:
    # Given a copy whose creation time RDS reports to the millisecond
    copy = backup.copy(retention_days=7)
    precise = copy.created_at.astimezone(UTC) + timedelta(milliseconds=484)
    rds_backends[BACKUP_ACCOUNT][REGION].database_snapshots[copy.identifier].created = precise
    assert backup.described(copy.identifier).created_at.microsecond == 484_000
    # When the hourly pass runs twice
    first = backup.keep(at=precise + timedelta(hours=1))
    second = backup.keep(at=precise + timedelta(hours=2))
    # Then it records the copy the first time only
    assert first["recorded"] == [copy.arn]
    assert second["recorded"] == []
    assert second["kept"] == 1


class WithoutCreationTime:
    """The backup account's RDS client, except that Describe* leaves out SnapshotCreateTime for
    a copy still being made (as RDS may before the copy has a creation time)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def describe_db_snapshots(self, **kwargs: Any) -> Any:
        answer = self._client.describe_db_snapshots(**kwargs)
        for raw in answer["DBSnapshots"]:
            if raw.get("Status") != "available":
                raw.pop("SnapshotCreateTime", None)
        return answer

    def get_paginator(self, name: str) -> Any:
        client = self

        class Pages:
            def paginate(self, **kwargs: Any) -> Any:
                if name == "describe_db_snapshots":
                    return [client.describe_db_snapshots(**kwargs)]
                return client._client.get_paginator(name).paginate(**kwargs)

        return Pages()


def test_a_copy_without_a_creation_time_yet_is_kept_from_the_keepers_first_sight(
    backup: BackupAccount,
) -> None:
    # Given a copy still being made, whose creation time RDS does not report yet, re-tagged to
    # expire at once
    copy = backup.copy(retention_days=7, status="creating")
    backup.tag(copy, {TAG_EXPIRES_AT: iso(copy.created_at)})
    rds = WithoutCreationTime(backup.rds)
    seen = copy.created_at + timedelta(minutes=30)
    # When the hourly pass first sees it
    first = backup.keep(at=seen, rds=rds)
    # Then it records it, counting the minimum retention from its first sight
    assert first["recorded"] == [copy.arn]
    item = backup.item(copy)
    assert item is not None
    assert item["createdAt"] == {"S": iso(seen)}
    assert item["keepUntil"] == {"S": iso(seen + timedelta(days=MIN_DAYS))}
    # And once the copy is complete (RDS now reporting an earlier creation time), the record
    # stands: the copy is kept until its first sight plus the minimum
    backup.set_status(copy.identifier, "db", "available")
    before = backup.ask("expire", copy, at=copy.created_at + timedelta(days=MIN_DAYS, minutes=5))
    assert before["decision"] == "refused"
    assert before["keptUntil"] == iso(seen + timedelta(days=MIN_DAYS))
    after = backup.ask("expire", copy, at=seen + timedelta(days=MIN_DAYS, seconds=1))
    assert after["decision"] == "deleted"


def test_abandon_of_a_copy_without_a_creation_time_yet_counts_from_first_sight(
    backup: BackupAccount,
) -> None:
    # Given a failed run's copy still being made, without a creation time from RDS yet
    copy = backup.copy(retention_days=7, status="creating")
    rds = WithoutCreationTime(backup.rds)
    # When its run asks the keeper to abandon it
    answer = backup.ask("abandon", copy, at=copy.created_at + timedelta(minutes=5), rds=rds)
    # Then the keeper deletes it (its run's own unfinished copy, within the copy deadline)
    assert answer["decision"] == "deleted"
    assert not backup.exists(copy)


def test_a_snapshot_made_again_under_a_recorded_name_is_kept_at_least_as_the_old_record_said(
    backup: BackupAccount,
) -> None:
    # Given a 30-day copy the keeper recorded, then deleted by hand in the backup account
    old = backup.copy(retention_days=30)
    assert backup.keep(at=old.created_at + timedelta(minutes=5))["recorded"] == [old.arn]
    backup.rds.delete_db_snapshot(DBSnapshotIdentifier=old.identifier)
    client_in(MAIN_ACCOUNT, "rds").delete_db_snapshot(DBSnapshotIdentifier=old.identifier)
    # When a new copy is made under the same name two days later, with a 7-day retention
    backup.clock.advance(2 * 86400)
    new = backup.copy(old.identifier, retention_days=7)
    assert new.arn == old.arn
    assert new.created_at > old.created_at
    # Then the hourly pass records it anew, from its own creation time, and a replacement only
    # ever lengthens what is kept: the old record's 30 days still hold
    later = backup.keep(at=new.created_at + timedelta(minutes=5))
    assert later["recorded"] == [new.arn]
    item = backup.item(new)
    assert item is not None
    assert item["createdAt"] == {"S": iso(new.created_at)}
    assert item["keepUntil"] == {"S": iso(old.created_at + timedelta(days=30))}
    assert backup.keep(at=new.created_at + timedelta(days=7, minutes=5))["deleted"] == []
    done = backup.keep(at=old.created_at + timedelta(days=30))
    assert done["deleted"] == [new.arn]


def test_a_record_replaced_when_rds_reports_a_later_creation_time_is_never_shortened(
    backup: BackupAccount,
) -> None:
    # Given a 30-day copy still being made, recorded by the keeper before RDS reported a
    # creation time (so from its first sight)
    copy = backup.copy(retention_days=30, status="creating")
    seen = copy.created_at + timedelta(minutes=1)
    assert backup.keep(at=seen, rds=WithoutCreationTime(backup.rds))["recorded"] == [copy.arn]
    # When the main account's role re-tags it to expire at once, and RDS then reports a
    # creation time later than the keeper's first sight (the record is replaced)
    backup.tag(copy, {TAG_EXPIRES_AT: iso(seen)})
    later = seen + timedelta(hours=2)
    backend = rds_backends[BACKUP_ACCOUNT][REGION].database_snapshots[copy.identifier]
    backend.created = later
    backend.status = "available"
    replaced = backup.keep(at=later + timedelta(minutes=5))
    # Then the replacement keeps the 30 days recorded first (and the minimum from RDS's time)
    assert replaced["recorded"] == [copy.arn]
    item = backup.item(copy)
    assert item is not None
    assert item["keepUntil"] == {"S": iso(copy.created_at + timedelta(days=30))}
    assert item["createdAt"] == {"S": iso(later)}
    assert backup.keep(at=copy.created_at + timedelta(days=29))["deleted"] == []
    assert backup.keep(at=copy.created_at + timedelta(days=30))["deleted"] == [copy.arn]


# --- The handler ------------------------------------------------------------------------------------
@pytest.fixture
def keeper_env(monkeypatch: pytest.MonkeyPatch) -> KeeperSettings:
    for name, value in GOOD_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(keeper_url.ENV_CALLER_ROLE_ARN, CALLER_ROLE_ARN)
    return KeeperSettings(frozenset({MAIN_ACCOUNT}), 3, "ledger")


CALLER_ROLE_ARN = f"arn:aws:iam::{BACKUP_ACCOUNT}:role/rds-xacct-backup-copy"


def session_arn(session: str, role: str = "rds-xacct-backup-copy") -> str:
    return f"arn:aws:sts::{BACKUP_ACCOUNT}:assumed-role/{role}/{session}"


def url_event(body: Any, user_arn: str | None = None) -> dict[str, Any]:
    """A function-URL event (payload format 2.0) as Lambda gives it for `AuthType: AWS_IAM`
    (Lambda Developer Guide, "Invoking Lambda function URLs"): the caller in
    requestContext.authorizer.iam."""
    user_arn = user_arn or session_arn(f"{MAIN_ACCOUNT}-run-1")
    return {
        "version": "2.0",
        "rawPath": "/",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": BACKUP_ACCOUNT,
            "authorizer": {
                "iam": {
                    "accessKey": "ASIAEXAMPLE",
                    "accountId": BACKUP_ACCOUNT,
                    "callerId": "AROAEXAMPLE:session",
                    "userArn": user_arn,
                    "userId": "AROAEXAMPLE:session",
                }
            },
            "http": {"method": "POST", "path": "/"},
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


SCHEDULED_EVENT = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": BACKUP_ACCOUNT,
    "time": "2026-11-24T03:00:00Z",
    "region": REGION,
    "resources": [f"arn:aws:events:{REGION}:{BACKUP_ACCOUNT}:rule/rds-xacct-keeper-hourly"],
    "detail": {},
}


def _answered(response: dict[str, Any]) -> tuple[int, Any]:
    return response["statusCode"], json.loads(response["body"])


def test_the_request_entry_never_runs_the_pass_and_the_pass_entry_only_runs_it(
    keeper_env: KeeperSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, ...]] = []

    def keep(*, settings: KeeperSettings) -> Answer:
        calls.append(("keep", settings))
        return {"deleted": []}

    def handle_request(event: Any, *, settings: KeeperSettings, caller: str) -> Answer:
        calls.append(("request", settings, caller))
        return {"decision": "refused"}

    monkeypatch.setattr(keeper_hourly, "keep", keep)
    monkeypatch.setattr(keeper_requests, "handle_request", handle_request)
    context = make_fake_context("rds-xacct-keeper")
    # When anything arrives at the keeper through its URL, the schedule's event included, Then
    # it is answered as a request of the calling account, with the environment's settings
    bodies: list[Any] = [SCHEDULED_EVENT, GOOD_REQUEST, {"detail-type": "Other"}, [], "expire"]
    for body in bodies:
        answered = keeper_function.handler(url_event(body), context)
        assert _answered(answered) == (200, {"decision": "refused"})
    assert calls == [("request", keeper_env, MAIN_ACCOUNT)] * 5
    # When the schedule's event (or anything) arrives at the pass, Then the pass runs
    calls.clear()
    assert keeper_function.hourly(SCHEDULED_EVENT, context) == {"deleted": []}
    assert calls == [("keep", keeper_env)]


def test_the_schedules_event_sent_to_the_keeper_is_refused_as_an_unreadable_request(
    keeper_env: KeeperSettings,
) -> None:
    response = keeper_function.handler(
        url_event(SCHEDULED_EVENT), make_fake_context("rds-xacct-keeper")
    )
    status, answer = _answered(response)
    assert status == 200
    assert answer["decision"] == "refused"
    assert answer["reason"].startswith("unreadable request")


def test_the_handler_refuses_an_unreadable_request(keeper_env: KeeperSettings) -> None:
    response = keeper_function.handler(
        url_event({"action": "delete"}), make_fake_context("rds-xacct-keeper")
    )
    status, answer = _answered(response)
    assert status == 200
    assert answer["decision"] == "refused"
    assert answer["reason"].startswith("unreadable request")


@pytest.mark.parametrize(
    ("event", "says"),
    [
        pytest.param(GOOD_REQUEST, "not a request through the keeper's function URL", id="invoke"),
        pytest.param(SCHEDULED_EVENT, "not a request through the keeper's function URL", id="rule"),
        pytest.param(
            url_event(GOOD_REQUEST, session_arn("attacker")),
            "is not a session of the role",
            id="session-not-named-after-an-account",
        ),
        pytest.param(
            url_event(GOOD_REQUEST, session_arn(f"{MAIN_ACCOUNT}-run-1", "someone-else")),
            "is not a session of the role",
            id="another-role",
        ),
        pytest.param(
            url_event(GOOD_REQUEST, f"arn:aws:iam::{BACKUP_ACCOUNT}:user/{MAIN_ACCOUNT}-bob"),
            "is not a session of the role",
            id="a-user",
        ),
        pytest.param(
            url_event(
                GOOD_REQUEST,
                f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/rds-xacct-backup-copy/"
                f"{MAIN_ACCOUNT}-run-1",
            ),
            "is not a session of the role",
            id="a-role-of-that-name-in-another-account",
        ),
        pytest.param(
            url_event(GOOD_REQUEST, session_arn(f"{OTHER_ACCOUNT}-run-1")),
            f"the account {OTHER_ACCOUNT} is not one of the source accounts {MAIN_ACCOUNT}",
            id="an-account-not-served",
        ),
    ],
)
def test_the_keeper_answers_only_a_source_accounts_session_of_the_role_through_its_url(
    keeper_env: KeeperSettings, monkeypatch: pytest.MonkeyPatch, event: Any, says: str
) -> None:
    # Given a keeper that would answer anything it were asked
    asked: list[Any] = []
    monkeypatch.setattr(keeper_requests, "handle_request", lambda *a, **k: asked.append(a))
    # When a direct Invoke's payload (a URL's event forged in it is refused by IAM), or a URL
    # request not signed by a session of the cross-account role named after a source
    # account, arrives
    status, answer = _answered(keeper_function.handler(event, make_fake_context("k")))
    # Then it is refused (403), saying why, and nothing is asked
    assert status == 403
    assert answer["decision"] == "refused"
    assert says in answer["reason"]
    assert asked == []


def test_an_aws_error_that_clears_by_itself_is_503_and_any_other_500(
    keeper_env: KeeperSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for raised, status in ((errors.Throttled("slow down"), 503), (errors.AwsError("no"), 500)):

        def handle_request(*args: Any, error: Exception = raised, **kwargs: Any) -> Answer:
            raise error

        monkeypatch.setattr(keeper_requests, "handle_request", handle_request)
        response = keeper_function.handler(url_event(GOOD_REQUEST), make_fake_context("k"))
        assert _answered(response) == (
            status,
            {"errorType": type(raised).__name__, "errorMessage": str(raised)},
        )


def test_a_base64_body_is_read(keeper_env: KeeperSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    got: list[Any] = []

    def handle_request(request: Any, **kwargs: Any) -> Answer:
        got.append(request)
        return {"decision": "kept"}

    monkeypatch.setattr(keeper_requests, "handle_request", handle_request)
    event = url_event(None)
    event["body"] = base64.b64encode(json.dumps(GOOD_REQUEST).encode()).decode()
    event["isBase64Encoded"] = True
    keeper_function.handler(event, make_fake_context("k"))
    assert got == [GOOD_REQUEST]


def test_the_handler_fails_without_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in GOOD_ENV:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match="SOURCE_ACCOUNT_IDS"):
        keeper_function.handler(url_event(GOOD_REQUEST), make_fake_context("rds-xacct-keeper"))


def test_the_keeper_imports_no_third_party_code_but_boto3() -> None:
    # The keeper ships no third-party package (rds_xacct.keeper.bundle): no Powertools, no requests
    script = (
        "import sys; sys.path.insert(0, 'functions'); import keeper; "
        "print(sorted(m for m in sys.modules "
        "if m.startswith(('aws_lambda_powertools', 'requests'))))"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and a script of our own
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
def test_a_time_out_of_range_in_utc_is_not_a_time(text: str) -> None:
    # It parses, then overflows once converted to UTC (as any comparison would)
    with pytest.raises(ValueError, match="out of range"):
        parse_iso(text)
    assert parse_iso("2027-01-05T03:10:00+01:00") == datetime(2027, 1, 5, 2, 10, tzinfo=UTC)


def test_a_kept_until_time_with_a_fraction_of_a_second_is_answered_rounded_up() -> None:
    # Given RDS's creation times carry fractions of a second: a kept-until time written down to
    # the second was up to a second early, and a run asking again then was refused once more
    # (and took it as final)
    moment = datetime(2026, 12, 8, 4, 39, 34, 690000, tzinfo=UTC)
    # When the keeper answers with it, Then it is the next whole second; a whole second stays
    assert keeper_rules.answer("refused", "s", "r", moment)["keptUntil"] == "2026-12-08T04:39:35Z"
    whole = moment.replace(microsecond=0)
    assert keeper_rules.answer("refused", "s", "r", whole)["keptUntil"] == "2026-12-08T04:39:34Z"
    assert keeper_rules.answer("kept", "s", "r")["keptUntil"] is None
