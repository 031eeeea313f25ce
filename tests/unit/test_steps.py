"""Each step of the flow on two moto accounts (Given / When / Then)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.rds.exceptions import RDSClientError
from moto.rds.models import RDSBackend, rds_backends

from rds_xacct import errors, steps
from rds_xacct.aws import classify
from rds_xacct.constants import (
    APP_NAME,
    ROLE_BACKUP,
    ROLE_SHARED,
    TAG_APP,
    TAG_EXECUTION,
    TAG_EXPIRES_AT,
    TAG_ROLE,
    TAG_SOURCE_ACCOUNT,
    TAG_SOURCE_ARN,
)
from rds_xacct.polling import next_look_seconds
from rds_xacct.settings import Settings
from rds_xacct.snapshots import SnapshotApi
from tests.support.events import backup_job_event, load_event, rds_snapshot_event
from tests.support.moto_patches import RDS_LIMITS, MotoPatches, SimClock
from tests.support.world import BACKUP_ACCOUNT, MAIN_ACCOUNT, REGION, World, backup_key_policy

State = dict[str, Any]
JOB = "4f1c0a3e-8d2b-4b4e-9b0e-2f6a8c9d1e77"


def execution_arn(name: str = "run-1") -> str:
    return f"arn:aws:states:{REGION}:{MAIN_ACCOUNT}:execution:rds-xacct-copy-snapshot:{name}"


def db_event(world: World, database: str = "orders-db", job: str = JOB, **db: Any) -> State:
    world.database(database, **db)
    arn = world.backup_snapshot(database, job)
    return backup_job_event(arn, f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:db:{database}")


def copy_through(state: State, settings: Settings) -> State:
    """Run CopyShared → CheckShared → Share → CopyBackup → CheckBackup → DeleteShared, as the
    state machine does when every copy is available at once."""
    state["shared"] = steps.copy_shared(state, settings=settings)
    state["shared"] = steps.check_copy(state, "shared", settings=settings)
    assert state["shared"]["ready"] is True
    state["shared"] = steps.share(state, settings=settings)
    state["backup"] = steps.copy_backup(state, settings=settings)
    state["backup"] = steps.check_copy(state, "backup", settings=settings)
    assert state["backup"]["ready"] is True
    state["shared"] = steps.delete_shared(state, settings=settings)
    return state


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
    state = steps.describe_source(event, execution_arn=execution_arn(), settings=settings)
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
    assert state["shared"]["deleted"] is True


def test_describe_source_names_the_copies_and_reads_the_retention(world: World) -> None:
    # Given an AWS Backup snapshot of a database tagged with its own retention
    event = db_event(world, tags={"rds-xacct:retention-days": "30"})
    # When the source is described
    job = steps.describe_source(event, execution_arn=execution_arn(), settings=world.settings())[
        "job"
    ]
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
        steps.describe_source(event, execution_arn=execution_arn("run-1"), settings=settings),
        settings,
    )
    # When the same event arrives again and a second run goes through the same steps
    again = steps.describe_source(event, execution_arn=execution_arn("run-2"), settings=settings)
    again["shared"] = steps.copy_shared(again, settings=settings)
    again["shared"] = steps.check_copy(again, "shared", settings=settings)
    again["shared"] = steps.share(again, settings=settings)
    again["backup"] = steps.copy_backup(again, settings=settings)
    # Then it finds the backup copy the first run made instead of making another
    assert again["backup"]["adopted"] is True
    assert again["backup"]["arn"] == first["backup"]["arn"]
    assert len(world.app_copies(BACKUP_ACCOUNT)) == 1


def test_a_redelivered_event_during_the_first_copy_adopts_the_shared_copy(world: World) -> None:
    event = db_event(world)
    settings = world.settings()
    first = steps.describe_source(event, execution_arn=execution_arn("run-1"), settings=settings)
    first["shared"] = steps.copy_shared(first, settings=settings)
    second = steps.describe_source(event, execution_arn=execution_arn("run-2"), settings=settings)
    shared = steps.copy_shared(second, settings=settings)
    assert shared["adopted"] is True
    assert shared["arn"] == first["shared"]["arn"]
    assert len(world.app_copies(MAIN_ACCOUNT)) == 1


def test_a_snapshot_with_the_apps_name_that_the_app_did_not_make_is_left_alone(
    world: World,
) -> None:
    # Given someone else's snapshot already using the name the app would choose
    event = db_event(world)
    settings = world.settings()
    state = steps.describe_source(event, execution_arn=execution_arn(), settings=settings)
    world.main.client("rds").create_db_snapshot(
        DBInstanceIdentifier="orders-db", DBSnapshotIdentifier=state["job"]["copyId"]
    )
    # When the run tries to copy
    with pytest.raises(errors.SnapshotNotOwned, match="was not made by rds-xacct") as raised:
        steps.copy_shared(state, settings=settings)
    # Then the message names the snapshot and it is still there, untouched
    assert state["job"]["copyId"] in str(raised.value)
    cleanup = steps.cleanup(state, settings=settings)
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
        steps.describe_source(event, execution_arn=execution_arn(), settings=world.settings())


def test_a_source_still_being_made_is_retried(world: World) -> None:
    event = db_event(world)
    rds_backends[MAIN_ACCOUNT][REGION].database_snapshots[
        f"awsbackup:job-{JOB}"
    ].status = "creating"
    with pytest.raises(errors.SnapshotNotReady):
        steps.describe_source(event, execution_arn=execution_arn(), settings=world.settings())


def test_a_missing_source_snapshot_is_a_readable_failure(world: World) -> None:
    event = backup_job_event(
        f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:snapshot:awsbackup:job-gone",
        f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:db:orders-db",
    )
    with pytest.raises(errors.SnapshotNotFound, match="awsbackup:job-gone"):
        steps.describe_source(event, execution_arn=execution_arn(), settings=world.settings())


def test_an_event_from_another_account_is_refused(world: World) -> None:
    event = backup_job_event(
        f"arn:aws:rds:{REGION}:999999999999:snapshot:awsbackup:job-x",
        f"arn:aws:rds:{REGION}:999999999999:db:orders-db",
    )
    with pytest.raises(errors.UnsupportedEvent, match="account 999999999999"):
        steps.describe_source(event, execution_arn=execution_arn(), settings=world.settings())


def test_a_key_the_main_account_may_not_use_is_a_readable_failure(world: World) -> None:
    # Given a backup key whose policy does not let the main account use it
    key = world.backup.client("kms").create_key(Policy=backup_key_policy())["KeyMetadata"]["Arn"]
    event = db_event(world)
    settings = world.settings(backup_kms_key_arn=key)
    state = steps.describe_source(event, execution_arn=execution_arn(), settings=settings)
    # When the run copies with it
    # Then it fails with KeyNotAccessible, saying what to check, and nothing was made
    with pytest.raises(errors.KeyNotAccessible, match="key policy lets the main account"):
        steps.copy_shared(state, settings=settings)
    assert world.app_copies(MAIN_ACCOUNT) == []


def test_throttling_is_retried_by_the_sdk(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given RDS throttles the first two copy requests
    event = db_event(world)
    settings = world.settings()
    state = steps.describe_source(event, execution_arn=execution_arn(), settings=settings)
    real_copy = RDSBackend.copy_db_snapshot
    calls = {"n": 0}

    def throttled_copy(self: RDSBackend, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise RDSClientError("Throttling", "Rate exceeded")
        return real_copy(self, *args, **kwargs)

    monkeypatch.setattr(RDSBackend, "copy_db_snapshot", throttled_copy)
    monkeypatch.setattr("time.sleep", lambda seconds: None)  # the SDK's backoff, not for real
    # When the run copies
    shared = steps.copy_shared(state, settings=settings)
    # Then the copy is made after the retries
    assert calls["n"] == 3
    assert shared["id"] == state["job"]["copyId"]


def test_throttling_that_outlasts_the_sdk_becomes_throttled(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = db_event(world)
    settings = world.settings()
    state = steps.describe_source(event, execution_arn=execution_arn(), settings=settings)

    def always_throttled(self: RDSBackend, *args: Any, **kwargs: Any) -> Any:
        raise RDSClientError("Throttling", "Rate exceeded")

    monkeypatch.setattr(RDSBackend, "copy_db_snapshot", always_throttled)
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    with pytest.raises(errors.Throttled):
        steps.copy_shared(state, settings=settings)


def test_quota_reached_is_a_readable_failure(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    event = db_event(world)
    settings = world.settings()
    state = steps.describe_source(event, execution_arn=execution_arn(), settings=settings)
    monkeypatch.setattr(RDSBackend, "SNAPSHOT_QUOTA", 1)
    with pytest.raises(errors.QuotaExceeded, match="Service Quotas"):
        steps.copy_shared(state, settings=settings)


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
    ids=["copies-at-a-time", "copies-across-regions", "manual-quota", "unknown", "shared"],
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
    # Given a run about to make its shared copy, while 20 copies are in progress in the account
    event = db_event(world)
    settings = world.settings()
    state = steps.describe_source(event, execution_arn=execution_arn(), settings=settings)
    patches.simulate_copy_progress(minutes_per_gib=0, base_minutes=30)
    rds = world.main.client("rds")
    rds.create_db_snapshot(DBInstanceIdentifier="orders-db", DBSnapshotIdentifier="other")
    for i in range(20):
        rds.copy_db_snapshot(SourceDBSnapshotIdentifier="other", TargetDBSnapshotIdentifier=f"o{i}")
    # When the run copies, Then RDS's refusal is CopyLimitReached, which the state machine retries
    with pytest.raises(errors.CopyLimitReached, match="Cannot copy more than 20 snapshots"):
        steps.copy_shared(state, settings=settings)
    assert errors.CopyLimitReached in errors.RETRYABLE
    assert RDS_LIMITS.rejected_copies == 1
    # Given instead a manual DB snapshot quota that is full
    RDS_LIMITS.copies_in_progress_limit = 100
    RDS_LIMITS.set_manual_snapshot_quota(MAIN_ACCOUNT, db=21)
    # When the run copies, Then it is QuotaExceeded before any copy is tried, naming the
    # account, the quota, the usage and how to raise it
    with pytest.raises(errors.QuotaExceeded) as full:
        steps.copy_shared(state, settings=settings)
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
    state = steps.describe_source(event, execution_arn=execution_arn(), settings=settings)
    rds = world.main.client("rds")
    app: list[Any] = [
        {"Key": "rds-xacct:app", "Value": "rds-xacct"},
        {"Key": "rds-xacct:role", "Value": "shared"},
    ]
    rds.create_db_snapshot(
        DBInstanceIdentifier="orders-db", DBSnapshotIdentifier="xacct-o", Tags=app
    )
    RDS_LIMITS.set_manual_snapshot_quota(MAIN_ACCOUNT, db=1)
    # When what fills it is another run's intermediate copy, Then the run waits (retried)
    with pytest.raises(errors.CopyLimitReached, match="intermediate copies of other runs"):
        steps.copy_shared(state, settings=settings)
    # When instead it is full of snapshots that are not the app's, Then it fails at once
    rds.delete_db_snapshot(DBSnapshotIdentifier="xacct-o")
    rds.create_db_snapshot(DBInstanceIdentifier="orders-db", DBSnapshotIdentifier="by-hand")
    with pytest.raises(errors.QuotaExceeded, match="1 of 1 used"):
        steps.copy_shared(state, settings=settings)


def test_check_copy_reports_progress_and_times_out(world: World, clock: SimClock) -> None:
    # Given a shared copy still being made
    event = db_event(world)
    settings = world.settings()
    state = steps.describe_source(event, execution_arn=execution_arn(), settings=settings)
    state["shared"] = steps.copy_shared(state, settings=settings)
    snapshot = rds_backends[MAIN_ACCOUNT][REGION].database_snapshots[state["job"]["copyId"]]
    snapshot.status = "creating"
    snapshot.percent_progress = 40  # type: ignore[attr-defined]
    clock.advance(600)
    # When it is checked
    checked = steps.check_copy(state, "shared", settings=settings)
    # Then it is not ready; at 40 % in 10 minutes it ends by 25 minutes: the next look is just
    # after that (the schedule itself is tested in test_polling.py)
    assert checked["ready"] is False
    assert checked["percent"] == 40
    assert checked["waitSeconds"] == next_look_seconds(600, 40, None) == 914
    assert checked["lastLook"] == {"elapsedSeconds": 600, "percent": 40}
    # And the next look estimates from the progress between the two looks
    state["shared"] = checked
    snapshot.percent_progress = 70  # type: ignore[attr-defined]
    clock.advance(914)
    checked = steps.check_copy(state, "shared", settings=settings)
    assert checked["polls"] == 2
    assert checked["lastLook"] == {"elapsedSeconds": 1514, "percent": 70}
    assert checked["waitSeconds"] == next_look_seconds(1514, 70, (600, 40))
    assert checked["waitSeconds"] != next_look_seconds(1514, 70, None)
    # And after a week it is a failure
    clock.advance(7 * 24 * 3600)
    with pytest.raises(errors.CopyTimedOut, match="still creating"):
        steps.check_copy(state, "shared", settings=settings)


def test_a_failed_copy_is_reported(world: World) -> None:
    event = db_event(world)
    settings = world.settings()
    state = steps.describe_source(event, execution_arn=execution_arn(), settings=settings)
    state["shared"] = steps.copy_shared(state, settings=settings)
    rds_backends[MAIN_ACCOUNT][REGION].database_snapshots[state["job"]["copyId"]].status = "failed"
    with pytest.raises(errors.SnapshotFailed, match="RDS could not make the copy"):
        steps.check_copy(state, "shared", settings=settings)


def test_delete_backup_waits_for_a_later_expiry_and_keeps_an_untagged_copy(
    world: World, clock: SimClock
) -> None:
    # Given a finished copy with a one-day retention
    event = db_event(world)
    settings = world.settings()
    state = copy_through(
        steps.describe_source(event, execution_arn=execution_arn(), settings=settings), settings
    )
    backup_rds = world.backup.client("rds")
    arn = state["backup"]["arn"]
    # When an operator moves the expiry a week later, and the day is over
    backup_rds.add_tags_to_resource(
        ResourceName=arn, Tags=[{"Key": TAG_EXPIRES_AT, "Value": "2026-12-01T00:00:00Z"}]
    )
    clock.advance(86400 + 60)
    result = steps.delete_backup(state, settings=settings)
    # Then the run waits until the new expiry
    assert result == {**state["backup"], "action": "wait", "expiresAt": "2026-12-01T00:00:00Z"}
    # When the operator removes the app tag instead
    backup_rds.remove_tags_from_resource(ResourceName=arn, TagKeys=[TAG_APP])
    result = steps.delete_backup(state, settings=settings)
    # Then the copy is kept for good
    assert result["action"] == "kept"
    assert len(world.snapshots(BACKUP_ACCOUNT)) == 1


def test_delete_backup_deletes_at_expiry(world: World, clock: SimClock) -> None:
    event = db_event(world)
    settings = world.settings()
    state = copy_through(
        steps.describe_source(event, execution_arn=execution_arn(), settings=settings), settings
    )
    clock.advance(86400)
    assert steps.delete_backup(state, settings=settings)["action"] == "deleted"
    assert world.snapshots(BACKUP_ACCOUNT) == []
    assert steps.delete_backup(state, settings=settings)["action"] == "gone"


def test_retention_zero_writes_no_expiry(world: World) -> None:
    event = db_event(world)
    settings = world.settings(retention_days=0)
    state = copy_through(
        steps.describe_source(event, execution_arn=execution_arn(), settings=settings), settings
    )
    assert state["backup"]["expiresAt"] is None
    assert TAG_EXPIRES_AT not in world.app_copies(BACKUP_ACCOUNT)[0]["tags"]


def test_cleanup_deletes_this_runs_unfinished_copies_only(world: World) -> None:
    # Given a run that made its shared copy and a backup copy still in progress
    event = db_event(world)
    settings = world.settings()
    state = steps.describe_source(event, execution_arn=execution_arn("run-1"), settings=settings)
    state["shared"] = steps.copy_shared(state, settings=settings)
    state["shared"] = steps.share(state, settings=settings)
    state["backup"] = steps.copy_backup(state, settings=settings)
    copy_id = state["job"]["copyId"]
    rds_backends[BACKUP_ACCOUNT][REGION].database_snapshots[copy_id].status = "copying"
    # When a different run (a redelivery) cleans up after failing
    other = {**state, "job": {**state["job"], "execution": "run-2"}}
    assert [a.split(" arn:")[0] for a in steps.cleanup(other, settings=settings)["actions"]] == [
        "left shared copy",
        "left backup copy",
    ]
    # Then nothing of run-1 was touched; when run-1 cleans up, both of its copies go
    cleaned = steps.cleanup(state, settings=settings)
    assert len(cleaned["actions"]) == 2
    assert world.app_copies(MAIN_ACCOUNT) == []
    assert world.app_copies(BACKUP_ACCOUNT) == []


def test_cleanup_never_deletes_a_complete_backup_copy(world: World) -> None:
    event = db_event(world)
    settings = world.settings()
    state = copy_through(
        steps.describe_source(event, execution_arn=execution_arn(), settings=settings), settings
    )
    cleaned = steps.cleanup(state, settings=settings)
    assert any("kept backup copy" in action for action in cleaned["actions"])
    assert len(world.app_copies(BACKUP_ACCOUNT)) == 1


def test_selection_skips_with_a_reason(world: World) -> None:
    event = db_event(world, database="orders-test")
    settings = world.settings(exclude=("*-test",))
    job = steps.describe_source(event, execution_arn=execution_arn(), settings=settings)["job"]
    assert job["skipped"] == "orders-test matches the excluded pattern '*-test'"


def test_an_event_about_the_apps_own_copy_starts_nothing(world: World) -> None:
    # Given a finished shared copy (before it is deleted) and the manual-snapshot event RDS
    # sends for it
    event = db_event(world)
    settings = world.settings()
    state = steps.describe_source(event, execution_arn=execution_arn(), settings=settings)
    state["shared"] = steps.copy_shared(state, settings=settings)
    own = rds_snapshot_event(state["shared"]["arn"], "RDS-EVENT-0042")
    # When a run starts from it
    job = steps.describe_source(own, execution_arn=execution_arn("loop"), settings=settings)["job"]
    # Then it is skipped as the app's own copy
    assert "copies are never copied again" in job["skipped"]


def test_aurora_cluster_snapshot_is_copied(world: World) -> None:
    world.cluster("billing-aurora")
    arn = world.backup_snapshot("billing-aurora", "9c8b7a6d", kind="cluster")
    event = backup_job_event(arn, f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:cluster:billing-aurora")
    settings = world.settings()
    state = copy_through(
        steps.describe_source(event, execution_arn=execution_arn(), settings=settings), settings
    )
    assert state["job"]["source"]["kind"] == "cluster"
    assert len(state["job"]["copyId"]) <= 63
    copies = world.app_copies(BACKUP_ACCOUNT)
    assert [c["kind"] for c in copies] == ["cluster"]
    assert copies[0]["tags"][TAG_ROLE] == ROLE_BACKUP
    assert world.app_copies(MAIN_ACCOUNT) == []
    assert ROLE_SHARED == "shared"


def test_two_runs_racing_to_make_the_same_copy_end_with_one(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two runs of the same event; the second looks for the copy just before the first
    # makes it
    event = db_event(world)
    settings = world.settings()
    first = steps.describe_source(event, execution_arn=execution_arn("run-1"), settings=settings)
    second = steps.describe_source(event, execution_arn=execution_arn("run-2"), settings=settings)
    real_find = SnapshotApi.find
    looks = {"n": 0}

    def late_find(api: SnapshotApi, identifier: str) -> Any:
        looks["n"] += 1
        if looks["n"] == 1:
            first["shared"] = steps.copy_shared(first, settings=settings)
            return None
        return real_find(api, identifier)

    monkeypatch.setattr(SnapshotApi, "find", late_find)
    # When the second run copies, Then RDS refuses the duplicate and the step says to retry
    with pytest.raises(errors.CopyAlreadyExists):
        steps.copy_shared(second, settings=settings)
    # When the state machine retries it, Then it carries on with the first run's copy
    adopted = steps.copy_shared(second, settings=settings)
    assert adopted["adopted"] is True
    assert adopted["arn"] == first["shared"]["arn"]
    assert len(world.app_copies(MAIN_ACCOUNT)) == 1


def test_the_sweep_deletes_only_the_apps_copies_past_their_time(
    world: World, clock: SimClock
) -> None:
    # Given a finished copy (1-day retention) whose run was lost, a copy kept for good, a
    # stale intermediate copy, and someone else's snapshot
    settings = world.settings()
    lost = copy_through(
        steps.describe_source(
            db_event(world), execution_arn=execution_arn("lost"), settings=settings
        ),
        settings,
    )
    kept_settings = world.settings(retention_days=0)
    kept = copy_through(
        steps.describe_source(
            db_event(world, database="kept-db", job="j2"),
            execution_arn=execution_arn("kept"),
            settings=kept_settings,
        ),
        kept_settings,
    )
    stale = steps.describe_source(
        db_event(world, database="stale-db", job="j3"),
        execution_arn=execution_arn("stale"),
        settings=settings,
    )
    stale["shared"] = steps.copy_shared(stale, settings=settings)
    world.main.client("rds").create_db_snapshot(
        DBInstanceIdentifier="orders-db", DBSnapshotIdentifier="xacct-looks-like-ours"
    )
    # When the sweep runs before the grace day has passed
    clock.advance(86400 + 3600)
    assert steps.sweep(settings=settings)["deleted"] == []
    # When it runs after expiry + a day, and after the copy deadline + a day
    clock.advance(8 * 86400)
    result = steps.sweep(settings=settings)
    # Then the expired backup copy and the stale intermediate copy are gone; the kept one stays
    assert sorted(result["deleted"]) == sorted([lost["backup"]["arn"], stale["shared"]["arn"]])
    assert result["problems"] == []
    assert [c["arn"] for c in world.app_copies(BACKUP_ACCOUNT)] == [kept["backup"]["arn"]]
    assert world.app_copies(MAIN_ACCOUNT) == []
    # And a snapshot without the app's tags is never touched, whatever its name
    assert "xacct-looks-like-ours" in [s["id"] for s in world.snapshots(MAIN_ACCOUNT)]


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
    job = steps.describe_source(
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
    state = steps.describe_source(event, execution_arn=execution_arn(), settings=settings)
    state = copy_through(state, settings)
    # Then the backup copy exists, unencrypted (RDS refuses a key for such a copy), and the run
    # carries the one-line reason for its summary and notification
    copies = world.app_copies(BACKUP_ACCOUNT)
    assert [c["kind"] for c in copies] == ["cluster"]
    assert state["backup"]["encrypted"] is False
    assert state["job"]["notes"] == [steps.UNENCRYPTED_CLUSTER_NOTE]
    assert "RDS cannot encrypt a copy" in steps.UNENCRYPTED_CLUSTER_NOTE


def test_an_encrypted_aurora_snapshot_carries_no_note(world: World) -> None:
    world.cluster("billing-aurora")
    arn = world.backup_snapshot("billing-aurora", "9c8b7a6d", kind="cluster")
    event = backup_job_event(arn, f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:cluster:billing-aurora")
    job = steps.describe_source(event, execution_arn=execution_arn(), settings=world.settings())
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
    job = steps.describe_source(event, execution_arn=execution_arn(), settings=world.settings())[
        "job"
    ]
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
    state = steps.describe_source(event, execution_arn=execution_arn(), settings=settings)
    assert state["job"]["skipped"] is None
    copy_through(state, settings)
    assert len(world.app_copies(BACKUP_ACCOUNT)) == 1


def test_a_neptune_snapshot_reported_as_aurora_is_skipped(world: World) -> None:
    world.main.client("rds").create_db_cluster(DBClusterIdentifier="graph", Engine="neptune")
    arn = world.backup_snapshot("graph", "9c8b7a6d", kind="cluster")
    event = backup_job_event(arn, f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:cluster:graph")
    job = steps.describe_source(event, execution_arn=execution_arn(), settings=world.settings())[
        "job"
    ]
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
    job = steps.describe_source(event, execution_arn=execution_arn(), settings=settings)["job"]
    # Then DescribeSource returns a skip with the reason and the resource, reading nothing else
    assert job["skipped"]
    detail = event["detail"]
    assert job["source"]["arn"] == detail.get("resourceArn", detail.get("SourceArn"))
    assert job["eventId"] == event["id"]
    assert "copyId" not in job
