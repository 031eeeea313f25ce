"""AWS's limits and formats: tag values, a run's one-year life, Wait timestamps, live runs' copies.

Each test fails on moto made as strict as AWS (simulation/moto/) if the app does not
respect the limit."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest
from moto.rds.models import rds_backends

from rds_xacct.aws.snapshots import SnapshotApi
from rds_xacct.jobs import sweep
from rds_xacct.keeper import requests as keeper
from rds_xacct.model import errors
from rds_xacct.model.constants import (
    MAX_RETENTION_DAYS,
    RETENTION_TAG,
    TAG_EXECUTION,
    TAG_EXPIRES_AT,
    TAG_SOURCE_ARN,
    TAG_VALUE_MAX_LENGTH,
)
from rds_xacct.model.naming import SOURCE_TAG_HASH_MARK, source_arn_tag
from rds_xacct.model.times import iso, parse_iso
from rds_xacct.pipeline import backup_copy, checking, copying, intake, retention, sharing
from rds_xacct.pipeline.polling import next_look_seconds
from simulation.events import backup_job_event, rds_snapshot_event
from simulation.moto import SimClock
from simulation.world import BACKUP_ACCOUNT, MAIN_ACCOUNT, REGION, World
from tests.unit.test_steps import KeeperStandIn

State = Any  # the run state as the tests build it, partial on purpose
MACHINE = "rds-xacct-copy-snapshot"


def execution_arn(name: str) -> str:
    return f"arn:aws:states:{REGION}:{MAIN_ACCOUNT}:execution:{MACHINE}:{name}"


def long_manual_snapshot(world: World, database: str = "orders-db", ending: str = "a") -> str:
    """A native manual DB snapshot with the longest name RDS allows (255 characters)."""
    world.database(database)
    identifier = f"nightly-{database}-" + "x" * (254 - len(database) - 9) + ending
    assert len(identifier) == 255
    return world.native_snapshot(database, identifier)


def copy_through(state: State, settings: Any) -> State:
    state["intermediate"] = copying.copy_intermediate(state, settings=settings)
    state["intermediate"] = checking.check_copy(state, "intermediate", settings=settings)
    state["intermediate"] = sharing.share(state, settings=settings)
    state["backup"] = backup_copy.copy_backup(state, settings=settings)
    state["backup"] = checking.check_copy(state, "backup", settings=settings)
    state["intermediate"] = retention.delete_intermediate(state, settings=settings)
    return state


# --- Tag values: at most 256 characters ------------------------------------------------------------
def test_the_source_arn_tag_is_the_arn_when_it_fits_else_short_and_unique() -> None:
    short = f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:snapshot:awsbackup:job-1234"
    assert source_arn_tag(short) == short
    # Two ARNs of the longest DB snapshot names, alike but for their last character
    stem = f"arn:aws-us-gov:rds:us-gov-west-1:{MAIN_ACCOUNT}:snapshot:" + "n" * 254
    first, second = source_arn_tag(stem + "a"), source_arn_tag(stem + "b")
    assert len(first) == len(second) == TAG_VALUE_MAX_LENGTH
    assert first != second
    assert first.startswith(stem[:200])
    assert SOURCE_TAG_HASH_MARK in first
    assert first.endswith(hashlib.sha256((stem + "a").encode()).hexdigest()[:32])


def test_a_manual_snapshot_with_a_255_character_name_is_copied_and_owned(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a native manual snapshot whose ARN is longer than a tag value may be
    source_arn = long_manual_snapshot(world)
    assert len(source_arn) > TAG_VALUE_MAX_LENGTH
    event = rds_snapshot_event(source_arn, "RDS-EVENT-0042")
    settings = world.settings()
    # When a run copies it (RDS refuses a tag value over 256 characters)
    state = intake.describe_source(event, execution_arn=execution_arn("long"), settings=settings)
    state = copy_through(state, settings)
    # Then the backup copy carries the shortened source tag
    [backup] = world.app_copies(BACKUP_ACCOUNT)
    assert backup["tags"][TAG_SOURCE_ARN] == source_arn_tag(source_arn)
    assert len(backup["tags"][TAG_SOURCE_ARN]) <= TAG_VALUE_MAX_LENGTH
    # And every ownership check compares like with like: a redelivery adopts the copy...
    again = intake.describe_source(event, execution_arn=execution_arn("again"), settings=settings)
    assert backup_copy.copy_backup(
        {**again, "intermediate": state["intermediate"]}, settings=settings
    )["adopted"]
    # ... and at expiry the run asks the backup account's keeper about the copy by the copy's
    # own name (at most 63 characters), never the source's
    keeper_stand_in = KeeperStandIn.install(world, monkeypatch)
    after_expiry = parse_iso(backup["tags"][TAG_EXPIRES_AT]) + timedelta(minutes=5)
    deleted = retention.delete_backup(state, settings=settings, now=lambda: after_expiry)
    assert keeper_stand_in.asked == [("expire", "db", backup["id"], "long")]
    assert len(backup["id"]) <= 63
    assert deleted["action"] == "deleted"
    assert world.app_copies(BACKUP_ACCOUNT) == []


# --- A run lasts at most a year -----------------------------------------------------------------
def test_a_database_retention_tag_is_held_to_what_fits_in_one_run(world: World) -> None:
    settings = world.settings()
    for days, allowed in ((MAX_RETENTION_DAYS, True), (MAX_RETENTION_DAYS + 1, False)):
        name = f"db-{days}"
        world.database(name, tags={RETENTION_TAG: str(days)})
        arn = world.backup_snapshot(name, name)
        event = backup_job_event(arn, f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:db:{name}")
        run = execution_arn(name)
        if allowed:
            state = intake.describe_source(event, execution_arn=run, settings=settings)
            assert state["job"]["retentionDays"] == MAX_RETENTION_DAYS
        else:
            with pytest.raises(errors.UnsupportedEvent, match=f"0 .keep for good. to {days - 1}"):
                intake.describe_source(event, execution_arn=run, settings=settings)


# --- A Wait's timestamp is always RFC 3339 ---------------------------------------------------------
def adopted_backup(world: World, expiry: str) -> tuple[State, Any]:
    """A finished run's state and settings, its backup copy's expiry tag then edited by hand."""
    settings = world.settings(retention_days=30)
    world.database("orders-db")
    arn = world.backup_snapshot("orders-db", "j1")
    event = backup_job_event(arn, f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:db:orders-db")
    state = copy_through(
        intake.describe_source(event, execution_arn=execution_arn("first"), settings=settings),
        settings,
    )
    snapshot = rds_backends[BACKUP_ACCOUNT][REGION].database_snapshots[state["backup"]["id"]]
    snapshot.add_tags([{"Key": TAG_EXPIRES_AT, "Value": expiry}])
    return state, settings


@pytest.mark.parametrize(
    ("edited", "written"),
    [
        ("2027-01-05 02:10", "2027-01-05T02:10:00Z"),
        ("2027-01-05", "2027-01-05T00:00:00Z"),
        ("2027-01-05T03:10:00+01:00", "2027-01-05T02:10:00Z"),
        (" 2027-01-05T02:10:00Z ", "2027-01-05T02:10:00Z"),
    ],
)
def test_a_hand_edited_expiry_is_given_to_the_wait_in_the_apps_own_format(
    world: World, edited: str, written: str
) -> None:
    # Given a backup copy whose expiry an operator rewrote in another ISO 8601 form
    state, settings = adopted_backup(world, edited)
    # When a redelivered run adopts it
    adopted = backup_copy.copy_backup(state, settings=settings)
    # Then the retention's Wait state (TimestampPath $.backup.expiresAt) gets RFC 3339 UTC
    # with a Z (else States.Runtime, which nothing catches)
    assert adopted["expiresAt"] == written
    assert adopted["adopted"] is True
    # And it is the time the operator meant
    copy = SnapshotApi(world.backup.client("rds"), "db").get(state["backup"]["id"])
    assert backup_copy.expiry_of(copy) == parse_iso(written)


def test_an_expiry_that_is_not_a_time_is_refused_with_what_to_do(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a backup copy whose expiry tag was rewritten as something that is not a time
    state, settings = adopted_backup(world, "next tuesday")
    # When a redelivered run adopts it, Then it fails saying what to write, before any Wait
    with pytest.raises(errors.UnreadableTag, match="'next tuesday', which is not a time"):
        backup_copy.copy_backup(state, settings=settings)
    # And the copy is left alone
    assert len(world.app_copies(BACKUP_ACCOUNT)) == 1
    # When the first run's retention ends, Then DeleteBackup does not read the tag: the backup
    # account's keeper decides by its ledger (it keeps a copy it can't read the expiry of)
    keeper_stand_in = KeeperStandIn.install(world, monkeypatch)
    keeper_stand_in.decision = keeper.REFUSED
    result = retention.delete_backup(state, settings=settings)
    assert keeper_stand_in.asked == [("expire", "db", state["backup"]["id"], "first")]
    assert result["action"] == "refused"
    assert len(world.app_copies(BACKUP_ACCOUNT)) == 1


@pytest.mark.parametrize("elapsed", [0.0, 59.0, 600.0, 3600.0, 86400.0, 7 * 86400.0])
@pytest.mark.parametrize("percent", [0, 1, 50, 99, 100])
def test_every_wait_in_seconds_is_a_whole_non_negative_number(elapsed: float, percent: int) -> None:
    # SecondsPath must reference a non-negative integer (else States.Runtime)
    for previous in (None, (elapsed / 2, percent // 2)):
        wait = next_look_seconds(elapsed, percent, previous)
        assert type(wait) is int
        assert 0 <= wait <= 99_999_999


# --- The sweep leaves the copies of runs still going -------------------------------------------------
def test_the_sweep_leaves_an_intermediate_copy_whose_run_still_runs(
    world: World, clock: SimClock
) -> None:
    # Given the copy runs' state machine, with a run that lasts (both copies of a huge database)
    iam = world.main.client("iam")
    role = iam.create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    sfn = world.main.client("stepfunctions")
    long_wait = {"Type": "Wait", "Seconds": 30 * 86400, "End": True}
    machine = sfn.create_state_machine(
        name=MACHINE,
        definition=json.dumps({"StartAt": "Copying", "States": {"Copying": long_wait}}),
        roleArn=role,
    )["stateMachineArn"]
    settings = world.settings(state_machine_arn=machine)
    with clock.taking_part():  # the clock moves only as this test says
        live_run = sfn.start_execution(stateMachineArn=machine, name="live")["executionArn"]
        # And an intermediate copy made by that run, one by a run that no longer exists
        events = [
            backup_job_event(
                world.backup_snapshot(world_db(world, name), name),
                f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:db:{name}",
            )
            for name in ("huge-db", "lost-db")
        ]
        copies = {}
        for run, event in zip(("live", "gone"), events, strict=True):
            state = intake.describe_source(
                event, execution_arn=execution_arn(run), settings=settings
            )
            copies[run] = copying.copy_intermediate(state, settings=settings)["arn"]
        # When the sweep runs 9 days later (past the copy deadline and its grace day)
        clock.advance(9 * 86400)
        assert sfn.describe_execution(executionArn=live_run)["status"] == "RUNNING"
        result = sweep.sweep(settings=settings)
        sfn.stop_execution(executionArn=live_run)
    # Then the lost run's copy is deleted, the live run's copy is left, and the sweep says why
    assert result["deleted"] == [copies["gone"]]
    assert result["left"] == [f"{copies['live']}: its run live still runs"]
    assert result["problems"] == []
    remaining = world.app_copies(MAIN_ACCOUNT)
    assert [(c["arn"], c["tags"][TAG_EXECUTION]) for c in remaining] == [(copies["live"], "live")]


def world_db(world: World, name: str) -> str:
    world.database(name)
    return name


def test_a_backup_copy_past_its_expiry_is_left_to_the_backup_account_when_its_run_is_over(
    world: World, clock: SimClock
) -> None:
    # Given a backup copy past its expiry whose run Step Functions no longer knows
    settings = world.settings(
        state_machine_arn=f"arn:aws:states:{REGION}:{MAIN_ACCOUNT}:stateMachine:{MACHINE}"
    )
    state, _ = adopted_backup(world, iso(clock.now() + timedelta(days=1)))
    clock.advance(3 * 86400)
    # When the main account's sweep runs
    result = sweep.sweep(settings=settings)
    # Then it leaves the copy: only the backup account's keeper deletes backup copies (its
    # hourly pass catches the copies of runs that were stopped or lost)
    assert result["deleted"] == []
    assert result["left"] == []
    assert result["problems"] == []
    assert [c["arn"] for c in world.app_copies(BACKUP_ACCOUNT)] == [state["backup"]["arn"]]
