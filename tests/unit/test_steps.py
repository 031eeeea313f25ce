"""Each step of the flow on two moto accounts (Given / When / Then)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, cast
from unittest import mock

import pytest
import responses
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from moto.rds.exceptions import RDSClientError
from moto.rds.models import RDSBackend, rds_backends

from rds_xacct.aws import accounts
from rds_xacct.aws.clients import classify, new_session
from rds_xacct.aws.snapshots import SnapshotApi
from rds_xacct.jobs import sweep
from rds_xacct.keeper import requests as keeper
from rds_xacct.model import errors
from rds_xacct.model.constants import (
    APP_NAME,
    ROLE_BACKUP,
    ROLE_INTERMEDIATE,
    ROLE_INTERMEDIATE_FORMERLY,
    TAG_APP,
    TAG_EXECUTION,
    TAG_EXPIRES_AT,
    TAG_MADE_AT,
    TAG_ROLE,
    TAG_SOURCE_ACCOUNT,
    TAG_SOURCE_ARN,
)
from rds_xacct.model.naming import role_session_name
from rds_xacct.model.settings import ConfigurationError, Settings
from rds_xacct.model.state import Kind
from rds_xacct.model.times import iso
from rds_xacct.pipeline import backup_copy, checking, copying, failure, intake, retention, sharing
from rds_xacct.pipeline.polling import next_look_seconds
from simulation.events import backup_job_event, load_event, rds_snapshot_event
from simulation.moto import RDS_LIMITS, MotoPatches, SimClock
from simulation.world import (
    BACKUP_ACCOUNT,
    BACKUP_ROLE_ARN,
    KEEPER_URL,
    MAIN_ACCOUNT,
    REGION,
    World,
    backup_key_policy,
)

State = Any  # the run state as the tests build it, partial on purpose
JOB = "4f1c0a3e-8d2b-4b4e-9b0e-2f6a8c9d1e77"


def execution_arn(name: str = "run-1") -> str:
    return f"arn:aws:states:{REGION}:{MAIN_ACCOUNT}:execution:rds-xacct-copy-snapshot:{name}"


def db_event(world: World, database: str = "orders-db", job: str = JOB, **db: Any) -> State:
    world.database(database, **db)
    arn = world.backup_snapshot(database, job)
    return backup_job_event(arn, f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:db:{database}")


def copy_through(state: State, settings: Settings) -> State:
    """Run CopyIntermediate → CheckIntermediate → Share → CopyBackup → CheckBackup → DeleteIntermediate, as the
    state machine does when every copy is available at once."""
    state["intermediate"] = copying.copy_intermediate(state, settings=settings)
    state["intermediate"] = checking.check_copy(state, "intermediate", settings=settings)
    assert state["intermediate"]["ready"] is True
    state["intermediate"] = sharing.share(state, settings=settings)
    state["backup"] = backup_copy.copy_backup(state, settings=settings)
    state["backup"] = checking.check_copy(state, "backup", settings=settings)
    assert state["backup"]["ready"] is True
    state["intermediate"] = retention.delete_intermediate(state, settings=settings)
    return state


Asked = tuple[str, str, str, str]
"""(action, kind, snapshot identifier, execution): one request a step made of the keeper."""


@dataclass
class KeeperStandIn:
    """Stands in for the backup account's keeper in unit tests of single steps: the keeper
    (rds_xacct.keeper) runs in the backup account by its own rules, and the simulation runs the
    real one end to end. Records what each step asks, answers as the test says, and when it
    answers `deleted` deletes the copy, as the keeper does with the backup account's rights."""

    world: World
    decision: str = keeper.DELETED
    reason: str = "as the test says"
    kept_until: str | None = None
    raises: errors.PipelineError | None = None
    asked: list[Asked] = field(default_factory=list)

    @classmethod
    def install(cls, world: World, monkeypatch: pytest.MonkeyPatch) -> KeeperStandIn:
        stand_in = cls(world)

        def ask_keeper(
            accounts: accounts.Accounts, action: str, kind: Kind, identifier: str
        ) -> dict[str, Any]:
            return stand_in.answer(action, kind, identifier, accounts.execution)

        monkeypatch.setattr(accounts.Accounts, "ask_keeper", ask_keeper)
        return stand_in

    def answer(self, action: str, kind: Kind, identifier: str, execution: str) -> dict[str, Any]:
        self.asked.append((action, kind, identifier, execution))
        if self.raises is not None:
            raise self.raises
        if self.decision == keeper.DELETED:
            assert SnapshotApi(self.world.backup.client("rds"), kind).delete(identifier)
        return {
            "decision": self.decision,
            "snapshot": identifier,
            "reason": self.reason,
            "keptUntil": self.kept_until,
        }


@pytest.fixture
def keeper_stand_in(world: World, monkeypatch: pytest.MonkeyPatch) -> KeeperStandIn:
    return KeeperStandIn.install(world, monkeypatch)


@pytest.mark.parametrize("encryption", ["aws/rds", "customer-key", "none"])
def test_a_backup_snapshot_ends_in_the_backup_account_encrypted_with_its_key(
    world: World, encryption: str
) -> None:
    # Given a database encrypted with aws/rds, with a customer key, or not encrypted, and its
    # AWS Backup snapshot
    if encryption == "customer-key":
        encryption = world.main.client("kms").create_key()["KeyMetadata"]["Arn"]
    event = db_event(world, encryption=encryption)
    settings = world.settings()
    # When the run describes the source and copies it through
    state = intake.describe_source(event, execution_arn=execution_arn(), settings=settings)
    state = copy_through(state, settings)
    # Then the backup account has one copy, encrypted with the backup key, tagged by the app
    copies = world.app_copies(BACKUP_ACCOUNT)
    assert len(copies) == 1
    tags = copies[0]["tags"]
    assert tags[TAG_APP] == APP_NAME
    assert tags[TAG_ROLE] == ROLE_BACKUP
    assert tags[TAG_SOURCE_ARN] == event["detail"]["recoveryPointArn"]
    assert tags[TAG_SOURCE_ACCOUNT] == MAIN_ACCOUNT
    assert tags[TAG_EXECUTION] == "run-1"
    assert TAG_EXPIRES_AT in tags
    described = world.backup.client("rds").describe_db_snapshots(
        DBSnapshotIdentifier=state["job"]["copyId"]
    )["DBSnapshots"][0]
    assert described["Encrypted"] is True
    assert described["KmsKeyId"] == world.backup_key_arn
    # And the shared intermediate copy is gone from the main account
    assert world.app_copies(MAIN_ACCOUNT) == []
    assert state["intermediate"]["deleted"] is True


def test_describe_source_names_the_copies_and_reads_the_retention(world: World) -> None:
    # Given an AWS Backup snapshot of a database tagged with its own retention
    event = db_event(world, tags={"rds-xacct:retention-days": "30"})
    # When the source is described
    job: Any = intake.describe_source(
        event, execution_arn=execution_arn(), settings=world.settings()
    )["job"]
    # Then the job names the copies after the database and keeps the tag's retention
    assert job["copyId"].startswith("xacct-orders-db-")
    assert job["retentionDays"] == 30
    assert job["skipped"] is None
    assert job["source"]["kind"] == "db"
    assert job["source"]["engine"] == "postgres"


def test_a_redelivered_event_makes_no_second_copy(world: World) -> None:
    # Given a run that copied a snapshot all the way
    event = db_event(world)
    settings = world.settings()
    first = copy_through(
        intake.describe_source(event, execution_arn=execution_arn("run-1"), settings=settings),
        settings,
    )
    # When the same event arrives again and a second run goes through the same steps
    again = intake.describe_source(event, execution_arn=execution_arn("run-2"), settings=settings)
    again["intermediate"] = copying.copy_intermediate(again, settings=settings)
    again["intermediate"] = checking.check_copy(again, "intermediate", settings=settings)
    again["intermediate"] = sharing.share(again, settings=settings)
    again["backup"] = backup_copy.copy_backup(again, settings=settings)
    # Then it finds the backup copy the first run made instead of making another
    assert again["backup"]["adopted"] is True
    assert again["backup"]["arn"] == first["backup"]["arn"]
    assert len(world.app_copies(BACKUP_ACCOUNT)) == 1


@pytest.mark.parametrize("role", [ROLE_INTERMEDIATE, ROLE_INTERMEDIATE_FORMERLY])
def test_a_redelivered_event_during_the_first_copy_adopts_the_intermediate_copy(
    world: World, role: str
) -> None:
    event = db_event(world)
    settings = world.settings()
    first = intake.describe_source(event, execution_arn=execution_arn("run-1"), settings=settings)
    first["intermediate"] = copying.copy_intermediate(first, settings=settings)
    # (made by this release, or by one before 0.2 that tagged it with the former role name)
    world.main.client("rds").add_tags_to_resource(
        ResourceName=first["intermediate"]["arn"], Tags=[{"Key": TAG_ROLE, "Value": role}]
    )
    second = intake.describe_source(event, execution_arn=execution_arn("run-2"), settings=settings)
    adopted = copying.copy_intermediate(second, settings=settings)
    assert adopted["adopted"] is True
    assert adopted["arn"] == first["intermediate"]["arn"]
    assert len(world.app_copies(MAIN_ACCOUNT)) == 1


def test_a_snapshot_with_the_apps_name_that_the_app_did_not_make_is_left_alone(
    world: World,
) -> None:
    # Given someone else's snapshot already using the name the app would choose
    event = db_event(world)
    settings = world.settings()
    state = intake.describe_source(event, execution_arn=execution_arn(), settings=settings)
    world.main.client("rds").create_db_snapshot(
        DBInstanceIdentifier="orders-db", DBSnapshotIdentifier=state["job"]["copyId"]
    )
    # When the run tries to copy
    with pytest.raises(errors.SnapshotNotOwned, match="was not made by rds-xacct") as raised:
        copying.copy_intermediate(state, settings=settings)
    # Then the message names the snapshot and it is still there, untouched
    assert state["job"]["copyId"] in str(raised.value)
    cleanup = failure.cleanup(state, settings=settings)
    assert cleanup["actions"] == [
        f"left {raised.value.args[0].split('(')[1].split(')')[0]}: "
        "not made by rds-xacct for this source"
    ]
    assert world.main.client("rds").describe_db_snapshots(
        DBSnapshotIdentifier=state["job"]["copyId"]
    )["DBSnapshots"]


def test_a_failed_source_snapshot_is_a_readable_failure(world: World) -> None:
    # Given a snapshot that RDS marked failed
    event = db_event(world)
    rds_backends[MAIN_ACCOUNT][REGION].database_snapshots[f"awsbackup:job-{JOB}"].status = "failed"
    # When the run describes it
    # Then it fails saying so
    with pytest.raises(errors.SnapshotFailed, match="is failed"):
        intake.describe_source(event, execution_arn=execution_arn(), settings=world.settings())


def test_a_source_still_being_made_is_retried(world: World) -> None:
    event = db_event(world)
    rds_backends[MAIN_ACCOUNT][REGION].database_snapshots[
        f"awsbackup:job-{JOB}"
    ].status = "creating"
    with pytest.raises(errors.SnapshotNotReady):
        intake.describe_source(event, execution_arn=execution_arn(), settings=world.settings())


def test_a_missing_source_snapshot_is_a_readable_failure(world: World) -> None:
    event = backup_job_event(
        f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:snapshot:awsbackup:job-gone",
        f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:db:orders-db",
    )
    with pytest.raises(errors.SnapshotNotFound, match="awsbackup:job-gone"):
        intake.describe_source(event, execution_arn=execution_arn(), settings=world.settings())


def test_an_event_from_another_account_is_refused(world: World) -> None:
    event = backup_job_event(
        f"arn:aws:rds:{REGION}:999999999999:snapshot:awsbackup:job-x",
        f"arn:aws:rds:{REGION}:999999999999:db:orders-db",
    )
    with pytest.raises(errors.UnsupportedEvent, match="account 999999999999"):
        intake.describe_source(event, execution_arn=execution_arn(), settings=world.settings())


def test_a_key_the_main_account_may_not_use_is_a_readable_failure(world: World) -> None:
    # Given a backup key whose policy does not let the main account use it
    key = world.backup.client("kms").create_key(Policy=backup_key_policy())["KeyMetadata"]["Arn"]
    event = db_event(world)
    settings = world.settings(backup_kms_key_arn=key)
    state = intake.describe_source(event, execution_arn=execution_arn(), settings=settings)
    # When the run copies with it
    # Then it fails with KeyNotAccessible, saying what to check, and nothing was made
    with pytest.raises(errors.KeyNotAccessible, match="key policy lets the main account"):
        copying.copy_intermediate(state, settings=settings)
    assert world.app_copies(MAIN_ACCOUNT) == []


def _replaced_copy(copy: Any) -> Any:
    """RDS's CopyDBSnapshot replaced for the `with` block. (Not `monkeypatch`: the autouse
    environment fixture makes it before `world`, so it is undone after the simulation's own
    patches, and put their wrapper of CopyDBSnapshot back on moto for the rest of the session.)"""
    return mock.patch.object(RDSBackend, "copy_db_snapshot", copy)


def test_throttling_that_outlasts_the_sdk_becomes_throttled(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = db_event(world)
    settings = world.settings()
    state = intake.describe_source(event, execution_arn=execution_arn(), settings=settings)

    def always_throttled(self: RDSBackend, *args: Any, **kwargs: Any) -> Any:
        raise RDSClientError("Throttling", "Rate exceeded")

    monkeypatch.setattr("time.sleep", lambda seconds: None)
    with _replaced_copy(always_throttled), pytest.raises(errors.Throttled):
        copying.copy_intermediate(state, settings=settings)


@pytest.mark.parametrize(
    ("code", "status"),
    [("InternalFailure", 500), ("ServiceUnavailable", 503), ("SomethingNew", 502)],
)
def test_a_service_failing_on_its_side_through_the_sdks_retries_is_service_unavailable(
    code: str, status: int
) -> None:
    # Given an AWS answer of the 5xx family (botocore's standard mode has retried it already)
    error = ClientError(
        cast(
            Any,
            {
                "Error": {"Code": code, "Message": "later"},
                "ResponseMetadata": {"HTTPStatusCode": status},
            },
        ),
        "CopyDBSnapshot",
    )
    # When it is classified, Then it is ServiceUnavailable, which the state machine retries
    classified = classify(error, "Copying")
    assert type(classified) is errors.ServiceUnavailable
    assert errors.ServiceUnavailable in errors.RETRYABLE
    # And a 4xx answer the app does not know stays AwsError (not retried)
    refused = ClientError(
        cast(
            Any,
            {"Error": {"Code": code, "Message": "no"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
        ),
        "CopyDBSnapshot",
    )
    assert type(classify(refused, "Copying")) is errors.AwsError


NETWORK_FAILURES = [
    EndpointConnectionError(endpoint_url="https://rds.eu-west-1.amazonaws.com/"),
    ConnectTimeoutError(endpoint_url="https://rds.eu-west-1.amazonaws.com/"),
    ReadTimeoutError(endpoint_url="https://rds.eu-west-1.amazonaws.com/"),
    ConnectionClosedError(endpoint_url="https://rds.eu-west-1.amazonaws.com/"),
]
"""What botocore raises when AWS cannot be reached or its answer never comes (no ClientError:
no answer from AWS at all)."""


@pytest.mark.parametrize(
    "failure",
    [RDSClientError("Throttling", "Rate exceeded"), *NETWORK_FAILURES],
    ids=lambda e: getattr(e, "code", None) or type(e).__name__,
)
def test_throttling_and_network_failures_are_retried_by_the_sdk(
    world: World, monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    # Given RDS throttles the first two copy requests, or they never get an answer
    event = db_event(world)
    settings = world.settings()
    state = intake.describe_source(event, execution_arn=execution_arn(), settings=settings)
    real_copy = RDSBackend.copy_db_snapshot
    calls = {"n": 0}

    def failing_copy(self: RDSBackend, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise failure
        return real_copy(self, *args, **kwargs)

    monkeypatch.setattr("time.sleep", lambda seconds: None)  # the SDK's backoff, not for real
    # When the run copies, Then the SDK's own retries carry it through
    with _replaced_copy(failing_copy):
        shared = copying.copy_intermediate(state, settings=settings)
    assert calls["n"] == 3
    assert shared["id"] == state["job"]["copyId"]


@pytest.mark.parametrize("failure", NETWORK_FAILURES, ids=lambda e: type(e).__name__)
def test_a_network_failure_that_outlasts_the_sdk_becomes_network_error_which_is_retried(
    world: World, monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    event = db_event(world)
    settings = world.settings()
    state = intake.describe_source(event, execution_arn=execution_arn(), settings=settings)

    def unreachable(self: RDSBackend, *args: Any, **kwargs: Any) -> Any:
        raise failure

    monkeypatch.setattr("time.sleep", lambda seconds: None)
    # When the run copies and RDS stays out of reach, Then the step raises NetworkError (the
    # state machine retries it), saying what it was doing and what botocore met; not an
    # unexpected error that ends the run
    with (
        _replaced_copy(unreachable),
        pytest.raises(errors.NetworkError, match=f"Copying DB snapshot .*{type(failure).__name__}"),
    ):
        copying.copy_intermediate(state, settings=settings)
    assert errors.NetworkError in errors.RETRYABLE


def test_quota_reached_is_a_readable_failure(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    event = db_event(world)
    settings = world.settings()
    state = intake.describe_source(event, execution_arn=execution_arn(), settings=settings)
    monkeypatch.setattr(RDSBackend, "SNAPSHOT_QUOTA", 1)
    with pytest.raises(errors.QuotaExceeded, match="Service Quotas"):
        copying.copy_intermediate(state, settings=settings)


@pytest.mark.parametrize(
    ("code", "message", "kind"),
    [
        (
            "SnapshotQuotaExceeded",
            "Cannot copy more than 20 snapshots at a time in this account and region",
            errors.CopyLimitReached,
        ),
        (
            "SnapshotQuotaExceededFault",
            "Cannot copy more than 5 snapshots across regions",
            errors.CopyLimitReached,
        ),
        (
            "SnapshotQuotaExceeded",
            "Cannot create more than 100 manual snapshots",
            errors.QuotaExceeded,
        ),
        (
            "SnapshotQuotaExceeded",
            "The request cannot be processed because it would exceed the maximum number of "
            "snapshots.",
            errors.QuotaExceeded,
        ),
        (
            "SharedSnapshotQuotaExceeded",
            "The request cannot be processed because it would exceed the maximum number of "
            "snapshots.",
            errors.QuotaExceeded,
        ),
    ],
    ids=["copies-at-a-time", "copies-across-regions", "manual-quota", "unknown", "intermediate"],
)
def test_snapshot_quota_exceeded_is_two_conditions_told_apart_by_the_message(
    code: str, message: str, kind: type[errors.PipelineError]
) -> None:
    # Given RDS's answer to a copy
    error = ClientError({"Error": {"Code": code, "Message": message}}, "CopyDBSnapshot")
    # When it is classified
    found = classify(error, "Copying DB snapshot s1 to c1")
    # Then too many copies in progress is CopyLimitReached (wait), anything else the quota
    assert type(found) is kind
    assert str(found).startswith(
        f"Copying DB snapshot s1 to c1 failed: {code}: {message.rstrip('. ')}. "
    )
    if kind is errors.CopyLimitReached:
        assert "20 snapshot copies in progress" in str(found)
        assert "waits and tries again" in str(found)
    else:
        assert "'Manual DB instance snapshots' or 'Manual DB cluster snapshots'" in str(found)
        assert "Service Quotas" in str(found)


def test_copies_in_progress_are_waited_for_and_a_full_quota_is_not(
    world: World, patches: MotoPatches
) -> None:
    # Given a run about to make its intermediate copy, while 20 copies are in progress in the account
    event = db_event(world)
    settings = world.settings()
    state = intake.describe_source(event, execution_arn=execution_arn(), settings=settings)
    patches.simulate_copy_progress(minutes_per_gib=0, base_minutes=30)
    rds = world.main.client("rds")
    rds.create_db_snapshot(DBInstanceIdentifier="orders-db", DBSnapshotIdentifier="other")
    for i in range(20):
        rds.copy_db_snapshot(SourceDBSnapshotIdentifier="other", TargetDBSnapshotIdentifier=f"o{i}")
    # When the run copies, Then RDS's refusal is CopyLimitReached, which the state machine retries
    with pytest.raises(errors.CopyLimitReached, match="Cannot copy more than 20 snapshots"):
        copying.copy_intermediate(state, settings=settings)
    assert errors.CopyLimitReached in errors.RETRYABLE
    assert RDS_LIMITS.rejected_copies == 1
    # Given instead a manual DB snapshot quota that is full
    RDS_LIMITS.copies_in_progress_limit = 100
    RDS_LIMITS.set_manual_snapshot_quota(MAIN_ACCOUNT, db=21)
    # When the run copies, Then it is QuotaExceeded before any copy is tried, naming the
    # account, the quota, the usage and how to raise it
    with pytest.raises(errors.QuotaExceeded) as full:
        copying.copy_intermediate(state, settings=settings)
    message = str(full.value)
    assert f"Account {MAIN_ACCOUNT}" in message
    assert "'Manual DB instance snapshots'" in message
    assert "21 of 21 used" in message
    assert "service-quotas request-service-quota-increase" in message
    assert RDS_LIMITS.rejected_for_quota == 0


def test_a_main_quota_full_of_the_apps_intermediate_copies_is_waited_for(world: World) -> None:
    # Given a run about to copy, and a main account whose manual snapshot quota is full
    event = db_event(world)
    settings = world.settings()
    state = intake.describe_source(event, execution_arn=execution_arn(), settings=settings)
    rds = world.main.client("rds")
    app: list[Any] = [
        {"Key": "rds-xacct:app", "Value": "rds-xacct"},
        {"Key": "rds-xacct:role", "Value": "intermediate"},
    ]
    rds.create_db_snapshot(
        DBInstanceIdentifier="orders-db", DBSnapshotIdentifier="xacct-o", Tags=app
    )
    RDS_LIMITS.set_manual_snapshot_quota(MAIN_ACCOUNT, db=1)
    # When what fills it is another run's intermediate copy, Then the run waits (retried)
    with pytest.raises(errors.CopyLimitReached, match="intermediate copies of other runs"):
        copying.copy_intermediate(state, settings=settings)
    # When instead it is full of snapshots that are not the app's, Then it fails at once
    rds.delete_db_snapshot(DBSnapshotIdentifier="xacct-o")
    rds.create_db_snapshot(DBInstanceIdentifier="orders-db", DBSnapshotIdentifier="by-hand")
    with pytest.raises(errors.QuotaExceeded, match="1 of 1 used"):
        copying.copy_intermediate(state, settings=settings)


def test_check_copy_reports_progress_and_times_out(world: World, clock: SimClock) -> None:
    # Given a intermediate copy still being made
    event = db_event(world)
    settings = world.settings()
    state = intake.describe_source(event, execution_arn=execution_arn(), settings=settings)
    state["intermediate"] = copying.copy_intermediate(state, settings=settings)
    snapshot = rds_backends[MAIN_ACCOUNT][REGION].database_snapshots[state["job"]["copyId"]]
    snapshot.status = "creating"
    snapshot.percent_progress = 40  # type: ignore[attr-defined]
    clock.advance(600)
    # When it is checked
    checked = checking.check_copy(state, "intermediate", settings=settings)
    # Then it is not ready; at 40 % in 10 minutes it ends by 25 minutes: the next look is just
    # after that (the schedule itself is tested in test_polling.py)
    assert checked["ready"] is False
    assert checked["percent"] == 40
    assert checked["waitSeconds"] == next_look_seconds(600, 40, None) == 914
    assert checked["lastLook"] == {"elapsedSeconds": 600, "percent": 40}
    # And the next look estimates from the progress between the two looks
    state["intermediate"] = checked
    snapshot.percent_progress = 70  # type: ignore[attr-defined]
    clock.advance(914)
    checked = checking.check_copy(state, "intermediate", settings=settings)
    assert checked["polls"] == 2
    assert checked["lastLook"] == {"elapsedSeconds": 1514, "percent": 70}
    assert checked["waitSeconds"] == next_look_seconds(1514, 70, (600, 40))
    assert checked["waitSeconds"] != next_look_seconds(1514, 70, None)
    # And after a week it is a failure
    clock.advance(7 * 24 * 3600)
    with pytest.raises(errors.CopyTimedOut, match="still creating"):
        checking.check_copy(state, "intermediate", settings=settings)


def test_a_failed_copy_is_reported(world: World) -> None:
    event = db_event(world)
    settings = world.settings()
    state = intake.describe_source(event, execution_arn=execution_arn(), settings=settings)
    state["intermediate"] = copying.copy_intermediate(state, settings=settings)
    rds_backends[MAIN_ACCOUNT][REGION].database_snapshots[state["job"]["copyId"]].status = "failed"
    with pytest.raises(errors.SnapshotFailed, match="RDS could not make the copy"):
        checking.check_copy(state, "intermediate", settings=settings)


def finished_run(world: World, settings: Settings, run: str = "run-1") -> State:
    """A run that made its backup copy (1-day retention) and deleted its intermediate copy."""
    return copy_through(
        intake.describe_source(
            db_event(world), execution_arn=execution_arn(run), settings=settings
        ),
        settings,
    )


@pytest.mark.parametrize(
    ("decision", "reason", "kept_until"),
    [
        (keeper.DELETED, "its kept-until time 2026-11-25T02:30:00Z has passed", None),
        (
            keeper.REFUSED,
            "the backup account keeps it until 2026-12-01T02:30:00Z (the expiry it was made "
            "with, and at least the minimum retention from its creation at 2026-11-24T02:30:00Z)",
            "2026-12-01T02:30:00Z",
        ),
        (keeper.KEPT, "it is tagged rds-xacct:keep: kept for good", None),
        (keeper.GONE, "there is no such snapshot in the backup account", None),
    ],
)
def test_delete_backup_asks_the_keeper_to_expire_the_copy_and_reports_its_answer(
    world: World,
    clock: SimClock,
    keeper_stand_in: KeeperStandIn,
    decision: str,
    reason: str,
    kept_until: str | None,
) -> None:
    # Given a finished copy with a one-day retention, and the backup account's keeper, which
    # alone decides (the main account may not delete there)
    settings = world.settings()
    state = finished_run(world, settings)
    keeper_stand_in.decision, keeper_stand_in.reason = decision, reason
    keeper_stand_in.kept_until = kept_until
    # When the retention is over and DeleteBackup runs
    clock.advance(86400)
    result = retention.delete_backup(state, settings=settings)
    # Then it asked the keeper to expire this run's copy, by its identifier, once
    assert keeper_stand_in.asked == [("expire", "db", state["job"]["copyId"], "run-1")]
    # And it reports the keeper's answer with the copy's summary
    expected = {**state["backup"], "action": decision, "note": reason, "keptUntil": kept_until}
    if decision == keeper.DELETED:
        expected["deletedAt"] = iso(clock.now())
    assert result == expected
    # And only the keeper's deletion removed the copy: a refusal leaves it where it is
    copies = world.app_copies(BACKUP_ACCOUNT)
    assert len(copies) == (0 if decision == keeper.DELETED else 1)


def test_delete_backup_asks_about_a_cluster_copy_as_a_cluster_snapshot(
    world: World, keeper_stand_in: KeeperStandIn
) -> None:
    world.cluster("billing-aurora")
    arn = world.backup_snapshot("billing-aurora", "9c8b7a6d", kind="cluster")
    event = backup_job_event(arn, f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:cluster:billing-aurora")
    settings = world.settings()
    state = copy_through(
        intake.describe_source(event, execution_arn=execution_arn(), settings=settings), settings
    )
    result = retention.delete_backup(state, settings=settings)
    assert keeper_stand_in.asked == [("expire", "cluster", state["job"]["copyId"], "run-1")]
    assert result["action"] == "deleted"
    assert world.app_copies(BACKUP_ACCOUNT) == []


@pytest.mark.parametrize("raised", [errors.Throttled, errors.SnapshotNotReady])
def test_what_the_keeper_raises_when_it_clears_by_itself_is_raised_for_the_retry(
    world: World, keeper_stand_in: KeeperStandIn, raised: type[errors.PipelineError]
) -> None:
    # Given a finished copy, and a keeper that meets throttling or a copy not ready to delete
    settings = world.settings()
    state = finished_run(world, settings)
    keeper_stand_in.raises = raised("The backup account's keeper: Rate exceeded")
    # When DeleteBackup runs, Then it raises the same error, which the state machine retries
    with pytest.raises(raised, match="keeper"):
        retention.delete_backup(state, settings=settings)
    assert raised in errors.RETRYABLE
    # And the copy is untouched
    assert len(world.app_copies(BACKUP_ACCOUNT)) == 1


# --- Asking the backup account's keeper (Accounts.ask_keeper) ------------------------------------
KEEPER_SETTINGS = Settings(
    backup_account_id=BACKUP_ACCOUNT,
    backup_kms_key_arn=f"arn:aws:kms:{REGION}:{BACKUP_ACCOUNT}:key/k",
    backup_role_arn=BACKUP_ROLE_ARN,
    backup_keeper_url=KEEPER_URL,
    retention_days=1,
)


@dataclass
class FakeKeeperUrl:
    """The keeper's function URL answering as Lambda does (Lambda Developer Guide, "Invoking
    Lambda function URLs"): the function's `statusCode` and body; Lambda's own 403, 429 or
    5xx; or no answer at all (`error`: a connection error). Served with the `responses` library
    (no network); each request it got is kept."""

    status: int
    body: Any
    error: Exception | None = None
    got: list[Any] = field(default_factory=list)

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.got.append(request)
        if self.error is not None:
            raise self.error
        return self.status, {"content-type": "application/json"}, json.dumps(self.body)


def reach_keeper(
    monkeypatch: pytest.MonkeyPatch, fake: FakeKeeperUrl
) -> Callable[[], list[tuple[str, str]]]:
    """Serve `fake` at the keeper's URL, give the step the backup role's session (fake keys)
    and this account's id; returns the role sessions asked for (role ARN, session name)."""
    assumed: list[tuple[str, str]] = []

    def assumed_role_session(
        role_arn: str, session_name: str, region: str | None = None, *, reuse: bool = True
    ) -> Any:
        assumed.append((role_arn, session_name))
        return new_session(
            aws_access_key_id="ASIAFAKE",
            aws_secret_access_key="secret",
            aws_session_token="token",
            region_name=region or REGION,
        )

    monkeypatch.setattr(accounts, "assumed_role_session", assumed_role_session)
    monkeypatch.setattr(accounts, "own_account", lambda: MAIN_ACCOUNT)
    mock_http = responses.RequestsMock(assert_all_requests_are_fired=False)
    mock_http.add_callback(responses.POST, KEEPER_URL, callback=fake)
    mock_http.start()
    _KEEPER_MOCKS.append(mock_http)  # stopped when the test ends
    return lambda: assumed


_KEEPER_MOCKS: list[Any] = []


@pytest.fixture(autouse=True)
def _stop_keeper_mocks() -> Any:
    yield
    while _KEEPER_MOCKS:
        _KEEPER_MOCKS.pop().stop()


def keeper_error(error_type: str, message: str = "Rate exceeded") -> dict[str, Any]:
    return {"errorType": error_type, "errorMessage": message}


def test_ask_keeper_posts_to_the_keepers_url_signed_by_the_backup_role_and_returns_its_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the keeper's answer
    answer = {
        "decision": "refused",
        "snapshot": f"arn:aws:rds:{REGION}:{BACKUP_ACCOUNT}:snapshot:xacct-orders-db-1",
        "reason": "the backup account keeps it until 2026-12-01T02:30:00Z",
        "keptUntil": "2026-12-01T02:30:00Z",
    }
    fake = FakeKeeperUrl(200, answer)
    assumed = reach_keeper(monkeypatch, fake)
    # When a run asks it to expire its copy
    got = accounts.Accounts(KEEPER_SETTINGS, "run:1").ask_keeper(
        "expire", "db", "xacct-orders-db-1"
    )
    # Then the keeper's URL got a POST signed (SigV4, service lambda, the URL's region) with the
    # backup account's role, the session named after this account and the run
    assert assumed() == [(BACKUP_ROLE_ARN, role_session_name(MAIN_ACCOUNT, "run:1"))]
    assert role_session_name(MAIN_ACCOUNT, "run:1").startswith(f"{MAIN_ACCOUNT}-run-1-")
    [request] = fake.got
    assert request.method == "POST"
    authorization = request.headers["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=ASIAFAKE/")
    assert f"/{REGION}/lambda/aws4_request" in authorization
    assert request.headers["X-Amz-Security-Token"] == "token"
    assert json.loads(request.body) == {
        "action": "expire",
        "kind": "db",
        "snapshot": "xacct-orders-db-1",
        "execution": "run:1",
    }
    # And its answer is returned as it is
    assert got == answer


@pytest.mark.parametrize(
    ("status", "body", "raised"),
    [
        (503, keeper_error("Throttled"), errors.Throttled),
        (503, keeper_error("SnapshotNotReady"), errors.SnapshotNotReady),
        (503, keeper_error("NetworkError"), errors.NetworkError),
        # the keeper's error that does not clear by itself: named, not retried
        (500, keeper_error("AccessDenied"), errors.AwsError),
        (500, keeper_error("ConfigurationError"), errors.AwsError),
        # Lambda throttling the keeper, or failing to run it (its timeout, its memory)
        (429, {"Message": "Rate exceeded"}, errors.Throttled),
        (502, {"Message": "Rate exceeded"}, errors.ServiceUnavailable),
        (504, {"Message": "Rate exceeded"}, errors.ServiceUnavailable),
        # Lambda refusing the signature or the permission, or the keeper refusing the caller
        (403, {"Message": "Rate exceeded"}, errors.AccessDenied),
        (404, {"Message": "Rate exceeded"}, errors.AwsError),
    ],
)
def test_a_keeper_error_that_clears_by_itself_is_raised_retryable(
    monkeypatch: pytest.MonkeyPatch, status: int, body: Any, raised: type[errors.PipelineError]
) -> None:
    # Given a keeper URL answering an error
    reach_keeper(monkeypatch, FakeKeeperUrl(status, body))
    both = accounts.Accounts(KEEPER_SETTINGS, "run-1")
    # When a run asks it, Then 429 and 5xx come back as errors the state machine retries (the
    # keeper's own by name), 403 as AccessDenied, anything else as AwsError
    with pytest.raises(errors.PipelineError) as caught:
        both.ask_keeper("abandon", "cluster", "xacct-billing-aurora-1")
    assert type(caught.value) is raised
    assert "Rate exceeded" in str(caught.value)


def test_the_keeper_never_answering_is_a_network_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import requests

    reach_keeper(monkeypatch, FakeKeeperUrl(0, None, error=requests.ConnectionError("reset")))
    with pytest.raises(errors.NetworkError, match="Asking the backup account's keeper"):
        accounts.Accounts(KEEPER_SETTINGS, "run-1").ask_keeper("expire", "db", "xacct-orders-db-1")


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "deleted",
        [],
        {},
        {"decision": "maybe", "reason": "?"},
        {"action": "expire", "kind": "db", "snapshot": "xacct-orders-db-1", "execution": "r"},
    ],
    ids=["null", "a-string", "a-list", "empty", "unknown-decision", "the-request-echoed"],
)
def test_an_answer_without_a_known_decision_is_an_aws_error(
    monkeypatch: pytest.MonkeyPatch, payload: Any
) -> None:
    # (the last is what a function that is not the keeper, returning its event, answers)
    reach_keeper(monkeypatch, FakeKeeperUrl(200, payload))
    with pytest.raises(errors.AwsError, match="The backup account's keeper answered"):
        accounts.Accounts(KEEPER_SETTINGS, "run-1").ask_keeper("expire", "db", "xacct-orders-db-1")


def test_ask_keeper_without_the_keepers_url_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeKeeperUrl(200, {"decision": "deleted", "reason": "", "keptUntil": None})
    assumed = reach_keeper(monkeypatch, fake)
    settings = replace(KEEPER_SETTINGS, backup_keeper_url=None)
    with pytest.raises(ConfigurationError, match="BACKUP_KEEPER_URL is not set"):
        accounts.Accounts(settings, "run-1").ask_keeper("expire", "db", "xacct-orders-db-1")
    # And nothing was asked, the role not even assumed
    assert assumed() == []
    assert fake.got == []


def test_retention_zero_writes_no_expiry(world: World) -> None:
    event = db_event(world)
    settings = world.settings(retention_days=0)
    state = copy_through(
        intake.describe_source(event, execution_arn=execution_arn(), settings=settings), settings
    )
    assert state["backup"]["expiresAt"] is None
    assert TAG_EXPIRES_AT not in world.app_copies(BACKUP_ACCOUNT)[0]["tags"]


def run_with_an_unfinished_backup_copy(world: World, settings: Settings) -> State:
    """Run run-1 that made its intermediate copy and a backup copy still being copied."""
    event = db_event(world)
    state = intake.describe_source(event, execution_arn=execution_arn("run-1"), settings=settings)
    state["intermediate"] = copying.copy_intermediate(state, settings=settings)
    state["intermediate"] = sharing.share(state, settings=settings)
    state["backup"] = backup_copy.copy_backup(state, settings=settings)
    copy_id = state["job"]["copyId"]
    rds_backends[BACKUP_ACCOUNT][REGION].database_snapshots[copy_id].status = "copying"
    return state


def test_cleanup_deletes_this_runs_unfinished_copies_only(
    world: World, keeper_stand_in: KeeperStandIn
) -> None:
    # Given a run that made its intermediate copy and a backup copy still in progress
    settings = world.settings()
    state = run_with_an_unfinished_backup_copy(world, settings)
    copy_id = state["job"]["copyId"]
    # When a different run (a redelivery) cleans up after failing
    other: Any = {**state, "job": {**state["job"], "execution": "run-2"}}
    assert [a.split(" arn:")[0] for a in failure.cleanup(other, settings=settings)["actions"]] == [
        "left intermediate copy",
        "left backup copy",
    ]
    # Then nothing of run-1 was touched, nor the keeper asked
    assert keeper_stand_in.asked == []
    # When run-1 cleans up, Then it deletes its intermediate copy itself and asks the backup
    # account's keeper to abandon its unfinished backup copy, which goes
    cleaned = failure.cleanup(state, settings=settings)
    assert keeper_stand_in.asked == [("abandon", "db", copy_id, "run-1")]
    assert [a.split(" arn:")[0] for a in cleaned["actions"]] == [
        "deleted intermediate copy",
        "deleted backup copy",
    ]
    assert cleaned["actions"][1].endswith("(copying) by the backup account")
    assert cleaned["problems"] == []
    assert world.app_copies(MAIN_ACCOUNT) == []
    assert world.app_copies(BACKUP_ACCOUNT) == []


def test_cleanup_reports_the_keepers_refusal_and_says_nothing_of_a_copy_gone(
    world: World, keeper_stand_in: KeeperStandIn
) -> None:
    # Given run-1's unfinished backup copy, and a keeper that refuses to delete it
    settings = world.settings()
    state = run_with_an_unfinished_backup_copy(world, settings)
    reason = "it was made at 2026-11-24T02:30:00Z, more than the copy deadline (168 h) ago"
    keeper_stand_in.decision, keeper_stand_in.reason = keeper.REFUSED, reason
    # When run-1 cleans up
    cleaned = failure.cleanup(state, settings=settings)
    # Then the refusal is reported with the keeper's reason, and the copy left
    (left,) = [a for a in cleaned["actions"] if "backup copy" in a]
    assert left == (
        f"left backup copy {state['backup']['arn']}: the backup account's keeper refused to "
        f"delete it: {reason}"
    )
    assert len(world.app_copies(BACKUP_ACCOUNT)) == 1
    # When the keeper answers that it is gone (its hourly pass got there first), Then Cleanup
    # has nothing to say about it
    keeper_stand_in.decision = keeper.GONE
    assert [a for a in failure.cleanup(state, settings=settings)["actions"] if "backup" in a] == []


def test_cleanup_does_everything_else_then_raises_when_the_keeper_is_throttled(
    world: World, keeper_stand_in: KeeperStandIn
) -> None:
    # Given run-1's copies, and a keeper throttled by RDS
    settings = world.settings()
    state = run_with_an_unfinished_backup_copy(world, settings)
    keeper_stand_in.raises = errors.Throttled("The backup account's keeper: Rate exceeded")
    # When run-1 cleans up, Then it raises Throttled for the state machine's Retry...
    with pytest.raises(errors.Throttled):
        failure.cleanup(state, settings=settings)
    # ... after deleting the intermediate copy; the backup copy waits for the retry
    assert world.app_copies(MAIN_ACCOUNT) == []
    assert len(world.app_copies(BACKUP_ACCOUNT)) == 1
    # When the retry runs and the keeper answers, Then the backup copy goes too
    keeper_stand_in.raises = None
    cleaned = failure.cleanup(state, settings=settings)
    assert [a.split(" arn:")[0] for a in cleaned["actions"]] == ["deleted backup copy"]
    assert world.app_copies(BACKUP_ACCOUNT) == []


def test_cleanup_never_deletes_a_complete_backup_copy(
    world: World, keeper_stand_in: KeeperStandIn
) -> None:
    settings = world.settings()
    state = finished_run(world, settings)
    cleaned = failure.cleanup(state, settings=settings)
    assert any("kept backup copy" in action for action in cleaned["actions"])
    assert len(world.app_copies(BACKUP_ACCOUNT)) == 1
    # (the keeper is not even asked: it would refuse to abandon a complete copy as well)
    assert keeper_stand_in.asked == []


def test_selection_skips_with_a_reason(world: World) -> None:
    event = db_event(world, database="orders-test")
    settings = world.settings(exclude=("*-test",))
    job = intake.describe_source(event, execution_arn=execution_arn(), settings=settings)["job"]
    assert job["skipped"] == "orders-test matches the excluded pattern '*-test'"


def test_an_event_about_the_apps_own_copy_starts_nothing(world: World) -> None:
    # Given a finished intermediate copy (before it is deleted) and the manual-snapshot event RDS
    # sends for it
    event = db_event(world)
    settings = world.settings()
    state = intake.describe_source(event, execution_arn=execution_arn(), settings=settings)
    state["intermediate"] = copying.copy_intermediate(state, settings=settings)
    own = rds_snapshot_event(state["intermediate"]["arn"], "RDS-EVENT-0042")
    # When a run starts from it
    job: Any = intake.describe_source(own, execution_arn=execution_arn("loop"), settings=settings)[
        "job"
    ]
    # Then it is skipped as the app's own copy
    assert "copies are never copied again" in job["skipped"]


def test_aurora_cluster_snapshot_is_copied(world: World) -> None:
    world.cluster("billing-aurora")
    arn = world.backup_snapshot("billing-aurora", "9c8b7a6d", kind="cluster")
    event = backup_job_event(arn, f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:cluster:billing-aurora")
    settings = world.settings()
    state = copy_through(
        intake.describe_source(event, execution_arn=execution_arn(), settings=settings), settings
    )
    assert state["job"]["source"]["kind"] == "cluster"
    assert len(state["job"]["copyId"]) <= 63
    copies = world.app_copies(BACKUP_ACCOUNT)
    assert [c["kind"] for c in copies] == ["cluster"]
    assert copies[0]["tags"][TAG_ROLE] == ROLE_BACKUP
    assert world.app_copies(MAIN_ACCOUNT) == []
    assert ROLE_INTERMEDIATE == "intermediate"


def test_two_runs_racing_to_make_the_same_copy_end_with_one(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two runs of the same event; the second looks for the copy just before the first
    # makes it
    event = db_event(world)
    settings = world.settings()
    first = intake.describe_source(event, execution_arn=execution_arn("run-1"), settings=settings)
    second = intake.describe_source(event, execution_arn=execution_arn("run-2"), settings=settings)
    real_find = SnapshotApi.find
    looks = {"n": 0}

    def late_find(api: SnapshotApi, identifier: str) -> Any:
        looks["n"] += 1
        if looks["n"] == 1:
            first["intermediate"] = copying.copy_intermediate(first, settings=settings)
            return None
        return real_find(api, identifier)

    monkeypatch.setattr(SnapshotApi, "find", late_find)
    # When the second run copies, Then RDS refuses the duplicate and the step says to retry
    with pytest.raises(errors.CopyAlreadyExists):
        copying.copy_intermediate(second, settings=settings)
    # When the state machine retries it, Then it carries on with the first run's copy
    adopted = copying.copy_intermediate(second, settings=settings)
    assert adopted["adopted"] is True
    assert adopted["arn"] == first["intermediate"]["arn"]
    assert len(world.app_copies(MAIN_ACCOUNT)) == 1


def test_the_sweep_deletes_only_the_apps_stale_intermediate_copies(
    world: World, clock: SimClock
) -> None:
    # Given a finished copy (1-day retention) whose run was lost, a copy kept for good, a
    # stale intermediate copy, and someone else's snapshot
    settings = world.settings()
    lost = finished_run(world, settings, "lost")
    kept_settings = world.settings(retention_days=0)
    kept = copy_through(
        intake.describe_source(
            db_event(world, database="kept-db", job="j2"),
            execution_arn=execution_arn("kept"),
            settings=kept_settings,
        ),
        kept_settings,
    )
    stale = intake.describe_source(
        db_event(world, database="stale-db", job="j3"),
        execution_arn=execution_arn("stale"),
        settings=settings,
    )
    stale["intermediate"] = copying.copy_intermediate(stale, settings=settings)
    world.main.client("rds").create_db_snapshot(
        DBInstanceIdentifier="orders-db", DBSnapshotIdentifier="xacct-looks-like-ours"
    )
    # When the sweep runs before the copy deadline and its grace day have passed
    clock.advance(86400 + 3600)
    assert sweep.sweep(settings=settings)["deleted"] == []
    # When it runs after the copy deadline + a day
    clock.advance(8 * 86400)
    result = sweep.sweep(settings=settings)
    # Then the stale intermediate copy is gone
    assert result["deleted"] == [stale["intermediate"]["arn"]]
    assert result["problems"] == []
    assert world.app_copies(MAIN_ACCOUNT) == []
    # And both backup copies are still there, the expired one too: they are the backup
    # account's keeper's to delete (its hourly pass), not the main account's
    backup_copies = sorted(c["arn"] for c in world.app_copies(BACKUP_ACCOUNT))
    assert backup_copies == sorted([lost["backup"]["arn"], kept["backup"]["arn"]])
    # And a snapshot without the app's tags is never touched, whatever its name
    assert "xacct-looks-like-ours" in [s["id"] for s in world.snapshots(MAIN_ACCOUNT)]


@pytest.mark.parametrize(
    "made_at", ["9999-12-31T23:59:59-23:59", "9999-12-31T23:00:00Z", "not a time"]
)
def test_a_sweep_meeting_an_intermediate_copy_with_an_extreme_time_tag_goes_on(
    world: World, clock: SimClock, made_at: str
) -> None:
    # Given two stale intermediate copies, one of them retagged with a time that parses but
    # overflows once in UTC or once the copy deadline is added (or is no time at all)
    settings = world.settings()
    copies = []
    for name in ("odd-db", "plain-db"):
        state = intake.describe_source(
            db_event(world, database=name, job=name),
            execution_arn=execution_arn(name),
            settings=settings,
        )
        copies.append(copying.copy_intermediate(state, settings=settings)["arn"])
    world.main.client("rds").add_tags_to_resource(
        ResourceName=copies[0], Tags=[{"Key": TAG_MADE_AT, "Value": made_at}]
    )
    # When the sweep runs after the copy deadline + a day
    clock.advance(10 * 86400)
    result = sweep.sweep(settings=settings)
    # Then the other copy is deleted, and the odd one is named as a problem and left alone
    assert result["deleted"] == [copies[1]]
    assert len(result["problems"]) == 1
    assert copies[0] in result["problems"][0]


def test_the_sweep_never_touches_the_backup_account(
    world: World, clock: SimClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a backup copy long past its expiry whose run was lost
    settings = world.settings()
    state = finished_run(world, settings, "lost")
    clock.advance(30 * 86400)
    # When the sweep runs, with any way into the backup account watched
    reached: list[str] = []

    def into_the_backup_account(*args: Any, **kwargs: Any) -> Any:
        reached.append(repr((args, kwargs)))
        raise AssertionError("the sweep reached into the backup account")

    monkeypatch.setattr(accounts, "assumed_role_client", into_the_backup_account)
    monkeypatch.setattr(accounts.Accounts, "ask_keeper", into_the_backup_account)
    result = sweep.sweep(settings=settings)
    # Then it neither assumed the backup role nor asked the keeper, and the copy is there
    assert reached == []
    assert result == {"deleted": [], "left": [], "problems": [], "sweptAt": iso(clock.now())}
    assert [c["arn"] for c in world.app_copies(BACKUP_ACCOUNT)] == [state["backup"]["arn"]]


# --- Every event shape, and sources RDS will not share (issue 11) --------------------------------
@pytest.mark.parametrize(
    ("kind", "identifier", "event_id"),
    [
        ("db", "rds:orders-db-2026-11-24-02-10", "RDS-EVENT-0091"),
        ("cluster", "rds:billing-aurora-2026-11-24-02-10", "RDS-EVENT-0169"),
        ("db", "before-upgrade", "RDS-EVENT-0042"),
    ],
)
def test_a_native_snapshot_is_described_with_the_type_its_event_implies(
    world: World, kind: str, identifier: str, event_id: str
) -> None:
    # Given a native automated or manual snapshot (RDS finds an automated one by identifier
    # only with SnapshotType=automated)
    database = world.cluster("billing-aurora") if kind == "cluster" else world.database("orders-db")
    arn = world.native_snapshot(database, identifier, kind=kind)
    # When its event starts a run, Then the source is found and read
    job = intake.describe_source(
        rds_snapshot_event(arn, event_id), execution_arn=execution_arn(), settings=world.settings()
    )["job"]
    assert job["source"]["arn"] == arn
    assert job["skipped"] is None


def test_an_unencrypted_aurora_snapshot_is_copied_without_a_key_and_says_so(world: World) -> None:
    # Given an unencrypted Aurora cluster's AWS Backup snapshot
    world.cluster("billing-aurora", encryption="none")
    arn = world.backup_snapshot("billing-aurora", "9c8b7a6d", kind="cluster")
    event = backup_job_event(arn, f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:cluster:billing-aurora")
    settings = world.settings()
    # When it is copied through both hops
    state = intake.describe_source(event, execution_arn=execution_arn(), settings=settings)
    state = copy_through(state, settings)
    # Then the backup copy exists, unencrypted (RDS refuses a key for such a copy), and the run
    # carries the one-line reason for its summary and notification
    copies = world.app_copies(BACKUP_ACCOUNT)
    assert [c["kind"] for c in copies] == ["cluster"]
    assert state["backup"]["encrypted"] is False
    assert state["job"]["notes"] == [intake.UNENCRYPTED_CLUSTER_NOTE]
    assert "RDS cannot encrypt a copy" in intake.UNENCRYPTED_CLUSTER_NOTE


def test_an_encrypted_aurora_snapshot_carries_no_note(world: World) -> None:
    world.cluster("billing-aurora")
    arn = world.backup_snapshot("billing-aurora", "9c8b7a6d", kind="cluster")
    event = backup_job_event(arn, f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:cluster:billing-aurora")
    job = intake.describe_source(event, execution_arn=execution_arn(), settings=world.settings())
    assert "notes" not in job["job"]


@pytest.mark.parametrize(
    ("engine", "version", "options", "says"),
    [
        ("oracle-ee", "19", ["TDE"], "Transparent Data Encryption.*native backup to S3"),
        ("sqlserver-ee", "15.00", ["TDE"], "Transparent Data Encryption.*native backup to S3"),
        ("oracle-ee", "19", ["Timezone"], "Oracle option.*Timezone.*--option-group-name"),
        ("oracle-ee", "19", ["OLS", "Timezone"], "Oracle option.*OLS, Timezone"),
    ],
)
def test_a_snapshot_rds_will_not_share_is_skipped_before_any_copy(
    world: World, engine: str, version: str, options: list[str], says: str
) -> None:
    # Given a database whose option group has persistent or permanent options, and its snapshot
    world.database_with_options("ledger-db", engine=engine, major_version=version, options=options)
    arn = world.backup_snapshot("ledger-db", JOB)
    event = backup_job_event(arn, f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:db:ledger-db")
    # When the source is described
    job: Any = intake.describe_source(
        event, execution_arn=execution_arn(), settings=world.settings()
    )["job"]
    # Then the run is skipped with a reason naming the engine and option group, and nothing is
    # copied
    assert re.search(says, job["skipped"])
    assert f"({engine}, option group ledger-db-options)" in job["skipped"]
    assert world.app_copies(MAIN_ACCOUNT) == []


def test_a_snapshot_with_only_ordinary_options_is_copied(world: World) -> None:
    world.database_with_options(
        "audit-db", engine="mysql", major_version="8.0", options=["MARIADB_AUDIT_PLUGIN"]
    )
    arn = world.backup_snapshot("audit-db", JOB)
    event = backup_job_event(arn, f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:db:audit-db")
    settings = world.settings()
    state = intake.describe_source(event, execution_arn=execution_arn(), settings=settings)
    assert state["job"]["skipped"] is None
    copy_through(state, settings)
    assert len(world.app_copies(BACKUP_ACCOUNT)) == 1


def test_a_neptune_snapshot_reported_as_aurora_is_skipped(world: World) -> None:
    world.main.client("rds").create_db_cluster(DBClusterIdentifier="graph", Engine="neptune")
    arn = world.backup_snapshot("graph", "9c8b7a6d", kind="cluster")
    event = backup_job_event(arn, f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:cluster:graph")
    job: Any = intake.describe_source(
        event, execution_arn=execution_arn(), settings=world.settings()
    )["job"]
    assert "Amazon Neptune cluster (graph): this app copies RDS and Aurora" in job["skipped"]


@pytest.mark.parametrize(
    "event_file",
    [
        "aws-backup-rds-continuous-completed.json",
        "aws-backup-copy-job-completed.json",
        "aws-backup-documentdb-completed.json",
        "aws-backup-neptune-completed.json",
        "aws-backup-ebs-completed.json",
        "aws-backup-rds-running.json",
        "aws-backup-rds-failed.json",
        "rds-instance-restarted.json",
    ],
)
def test_an_event_shape_not_copied_is_a_skip_not_a_failure(event_file: str) -> None:
    # Given a recorded event of a kind the app does not copy (and no AWS at all: none is needed)
    event = load_event(event_file)
    settings = Settings(
        backup_account_id=BACKUP_ACCOUNT,
        backup_kms_key_arn=f"arn:aws:kms:{REGION}:{BACKUP_ACCOUNT}:key/k",
        backup_role_arn=f"arn:aws:iam::{BACKUP_ACCOUNT}:role/r",
        retention_days=1,
    )
    # When a run starts from it
    job = intake.describe_source(event, execution_arn=execution_arn(), settings=settings)["job"]
    # Then DescribeSource returns a skip with the reason and the resource, reading nothing else
    assert job["skipped"]
    detail = event["detail"]
    assert job["source"]["arn"] == detail.get("resourceArn", detail.get("SourceArn"))
    assert job["eventId"] == event["id"]
    assert "copyId" not in job


class _Unreachable:
    """A client whose every call meets a network failure after the SDK's retries."""

    def __getattr__(self, name: str) -> Any:
        def call(**kwargs: Any) -> Any:
            raise EndpointConnectionError(endpoint_url="https://states.eu-west-1.amazonaws.com/")

        return call


def test_the_calls_that_read_error_codes_themselves_also_turn_network_failures_into_network_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given Step Functions out of reach (the calls that catch ClientError themselves, to read
    # its code, must not let a network failure through unclassified)
    monkeypatch.setattr(accounts, "default_client", lambda service: _Unreachable())
    settings = replace(
        KEEPER_SETTINGS,
        state_machine_arn=f"arn:aws:states:{REGION}:{MAIN_ACCOUNT}:stateMachine:copy",
    )
    # When a step asks whether another run still goes, Then it is NetworkError (retried)
    with pytest.raises(errors.NetworkError, match="EndpointConnectionError"):
        accounts.run_still_going("run-1", settings)


def test_a_call_of_the_keeper_that_times_out_is_not_sent_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a keeper whose answer never comes (the HTTP client's read timeout)
    import requests

    fake = FakeKeeperUrl(0, None, error=requests.ReadTimeout("no answer"))
    reach_keeper(monkeypatch, fake)
    # When a run asks the keeper, Then the request was sent once (the keeper may still be
    # running it: not sent a second time) and the step raises NetworkError, which the state
    # machine retries with backoff; the keeper answers a repeat after its delete `gone`
    with pytest.raises(errors.NetworkError, match="ReadTimeout"):
        accounts.Accounts(KEEPER_SETTINGS, "run-1").ask_keeper("expire", "db", "xacct-orders-db-1")
    assert len(fake.got) == 1


def test_a_keeper_asked_again_after_it_deleted_is_done_for_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the keeper deleted the copy but its answer was lost: asked again, it answers `gone`
    gone = {
        "decision": "gone",
        "snapshot": "xacct-orders-db-1",
        "reason": "there is no such snapshot in the backup account",
        "keptUntil": None,
    }
    reach_keeper(monkeypatch, FakeKeeperUrl(200, gone))
    state: Any = {
        "job": {"execution": "run-1", "source": {"kind": "db"}},
        "backup": {"id": "xacct-orders-db-1"},
    }
    # When DeleteBackup runs again, Then the run goes on, reporting the copy gone
    result = retention.delete_backup(state, settings=KEEPER_SETTINGS)
    assert result["action"] == "gone"


# --- Recording at copy time; asking again a moment later (issue 18, item 4) ---------------------
@dataclass
class TellStandIn:
    """Stands in for `Accounts.tell_keeper`: records what each step tells, or fails."""

    told: list[Asked] = field(default_factory=list)
    raises: Exception | None = None

    @classmethod
    def install(cls, monkeypatch: pytest.MonkeyPatch) -> TellStandIn:
        stand_in = cls()

        def tell_keeper(
            accounts: accounts.Accounts, action: str, kind: Kind, identifier: str
        ) -> None:
            stand_in.told.append((action, kind, identifier, accounts.execution))
            if stand_in.raises is not None:
                raise stand_in.raises

        monkeypatch.setattr(accounts.Accounts, "tell_keeper", tell_keeper)
        return stand_in


def test_copy_backup_asks_the_keeper_to_record_the_copy_it_made_or_adopted(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the keeper (told, not asked: nothing waits for its answer)
    told = TellStandIn.install(monkeypatch)
    settings = world.settings()
    # When a run makes its backup copy, and a second run of the same event adopts it
    event = db_event(world)
    first = copy_through(
        intake.describe_source(event, execution_arn=execution_arn("run-1"), settings=settings),
        settings,
    )
    copy_id = first["job"]["copyId"]
    again = intake.describe_source(event, execution_arn=execution_arn("run-2"), settings=settings)
    again["intermediate"] = copying.copy_intermediate(again, settings=settings)
    again["intermediate"] = checking.check_copy(again, "intermediate", settings=settings)
    again["intermediate"] = sharing.share(again, settings=settings)
    adopted = backup_copy.copy_backup(again, settings=settings)
    # Then each told the keeper to record the copy, and says so
    assert told.told == [("record", "db", copy_id, "run-1"), ("record", "db", copy_id, "run-2")]
    assert first["backup"]["recordAsked"] is True
    assert adopted["adopted"] is True
    assert adopted["recordAsked"] is True


@pytest.mark.parametrize(
    "error",
    [errors.Throttled("slow down"), errors.AwsError("AccessDenied"), ConfigurationError("unset")],
)
def test_a_keeper_that_cant_be_told_never_fails_the_copy(
    world: World, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    # Given a keeper that can't be reached (its hourly pass records the copy later)
    told = TellStandIn.install(monkeypatch)
    told.raises = error
    settings = world.settings()
    # When a run makes its backup copy, Then the copy goes on, the problem in its summary
    state = finished_run(world, settings)
    assert state["backup"]["ready"] is True
    assert state["backup"]["recordAsked"] is False
    assert str(error) in state["backup"]["recordProblem"]
    assert len(world.app_copies(BACKUP_ACCOUNT)) == 1


def test_tell_keeper_posts_to_the_keepers_url_and_waits_a_short_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the keeper's URL
    fake = FakeKeeperUrl(200, {"decision": "kept", "reason": "recorded", "keptUntil": None})
    reach_keeper(monkeypatch, fake)
    # When a run tells the keeper to record its copy
    accounts.Accounts(KEEPER_SETTINGS, "run-1").tell_keeper("record", "db", "xacct-orders-db-1")
    # Then the keeper got the request (a function URL answers synchronously only)
    [request] = fake.got
    assert json.loads(request.body) == {
        "action": "record",
        "kind": "db",
        "snapshot": "xacct-orders-db-1",
        "execution": "run-1",
    }
    # And a failure is raised for the caller to report (the hourly pass records the copy)
    reach_keeper(monkeypatch, FakeKeeperUrl(502, {"Message": "Internal Server Error"}))
    with pytest.raises(errors.ServiceUnavailable):
        accounts.Accounts(KEEPER_SETTINGS, "run-1").tell_keeper("record", "db", "x")


@pytest.mark.parametrize(
    ("seconds", "asks_again"), [(0, True), (1, True), (120, True), (121, False)]
)
def test_delete_backup_asks_again_when_refused_a_moment_too_early(
    world: World,
    clock: SimClock,
    keeper_stand_in: KeeperStandIn,
    seconds: int,
    asks_again: bool,
) -> None:
    # Given a finished copy, and a keeper refusing it until a moment after the run asks
    settings = world.settings()
    state = finished_run(world, settings)
    clock.advance(86400)
    keeper_stand_in.decision = keeper.REFUSED
    keeper_stand_in.kept_until = iso(clock.now() + timedelta(seconds=seconds))
    # When DeleteBackup runs
    if asks_again:
        # Then it raises SnapshotNotReady, which the state machine retries
        with pytest.raises(errors.SnapshotNotReady, match="asking again"):
            retention.delete_backup(state, settings=settings)
    else:
        # Then (the kept-until time further away) it reports the refusal
        assert retention.delete_backup(state, settings=settings)["action"] == keeper.REFUSED
