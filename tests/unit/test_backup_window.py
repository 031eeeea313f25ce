"""The warning when a run's copies may overlap the source's automated-backup window."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rds_xacct.aws import accounts
from rds_xacct.pipeline import backup_window, intake
from rds_xacct.pipeline.backup_window import (
    estimated_copy_end,
    overlap_warning,
    parse_window,
    window_overlaps,
)
from simulation.events import backup_job_event, rds_snapshot_event
from simulation.world import MAIN_ACCOUNT, REGION, World


def at(text: str) -> datetime:
    return datetime.fromisoformat(f"{text}+00:00").astimezone(UTC)


def test_a_window_reads_as_minutes_after_midnight() -> None:
    assert parse_window("03:00-03:30") == (180, 210)
    assert parse_window("23:45-00:15") == (1425, 15)
    for wrong in ("3:00-3:30", "24:00-00:30", "03:00", "03:00-03:60", ""):
        with pytest.raises(ValueError, match="backup window"):
            parse_window(wrong)


@pytest.mark.parametrize(
    ("window", "start", "end", "expected"),
    [
        # the same night
        ("03:00-03:30", "2026-11-24T02:10", "2026-11-24T02:59", False),
        ("03:00-03:30", "2026-11-24T02:10", "2026-11-24T03:01", True),
        ("03:00-03:30", "2026-11-24T03:29", "2026-11-24T04:00", True),
        ("03:00-03:30", "2026-11-24T03:30", "2026-11-24T04:00", False),
        # a copy that runs past midnight into the next night's window
        ("01:00-01:30", "2026-11-24T22:00", "2026-11-25T00:59", False),
        ("01:00-01:30", "2026-11-24T22:00", "2026-11-25T01:10", True),
        # a window that crosses midnight, met before and after midnight
        ("23:45-00:15", "2026-11-24T23:50", "2026-11-24T23:55", True),
        ("23:45-00:15", "2026-11-24T00:05", "2026-11-24T00:10", True),
        ("23:45-00:15", "2026-11-24T00:15", "2026-11-24T23:44", False),
        ("23:45-00:15", "2026-11-24T23:00", "2026-11-25T01:00", True),
        # a copy longer than a day meets every window
        ("12:00-12:30", "2026-11-24T13:00", "2026-11-25T13:00", True),
    ],
)
def test_overlap_with_a_daily_window(window: str, start: str, end: str, expected: bool) -> None:
    assert window_overlaps(window, at(start), at(end)) is expected


def test_the_copy_end_is_estimated_for_both_copies() -> None:
    # 20 GiB: two copies of 3 + 20 minutes
    assert estimated_copy_end(at("2026-11-24T02:00"), 20) == at("2026-11-24T02:46")


def test_the_warning_is_one_line_and_only_when_backups_are_on_and_overlap() -> None:
    start, end = at("2026-11-24T02:00"), at("2026-11-24T03:10")
    warning = overlap_warning(
        database="orders-db", window="03:00-03:30", retention_days=7, start=start, end=end
    )
    assert warning is not None
    assert "\n" not in warning
    assert "orders-db" in warning
    assert "03:00-03:30" in warning
    off = overlap_warning(
        database="orders-db", window="03:00-03:30", retention_days=0, start=start, end=end
    )
    apart = overlap_warning(
        database="orders-db", window="05:00-05:30", retention_days=7, start=start, end=end
    )
    assert off is None
    assert apart is None


def _warnings(
    world: World, database: str, window: str, retention: int, event_of: str = "aws-backup"
) -> list[str]:
    """DescribeSource's warnings for a snapshot made at 02:10 of a 20 GiB database (both copies
    estimated to end about 02:56) whose automated backups run in `window`."""
    world.database(database, size_gib=20)
    world.main.client("rds").modify_db_instance(
        DBInstanceIdentifier=database,
        PreferredBackupWindow=window,
        BackupRetentionPeriod=retention,
        ApplyImmediately=True,
    )
    made = datetime(2026, 11, 24, 2, 10, tzinfo=UTC)
    if event_of == "aws-backup":
        arn = world.backup_snapshot(database, f"job-{database}", created_at=made)
        event = backup_job_event(arn, f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:db:{database}")
    else:
        arn = world.snapshot(
            database, f"rds:{database}-2026-11-24-02-10", snapshot_type="automated", created_at=made
        )
        event = rds_snapshot_event(arn, "RDS-EVENT-0091")
    state = intake.describe_source(
        event,
        execution_arn=f"arn:aws:states:{REGION}:{MAIN_ACCOUNT}:execution:sm:run-{database}",
        settings=world.settings(),
    )
    warnings: list[str] = state["job"]["warnings"]
    return warnings


def test_describe_source_warns_only_when_the_copies_run_into_the_backup_window(
    world: World,
) -> None:
    # Given automated backups at 02:30-03:00: the run carries one warning naming the window
    warnings = _warnings(world, "overlapping", "02:30-03:00", 7)
    assert len(warnings) == 1
    assert "02:30-03:00" in warnings[0]
    # Not when the window is after the copies' estimated end
    assert _warnings(world, "apart", "04:00-04:30", 7) == []
    # Not when automated backups are off
    assert _warnings(world, "no-backups", "02:30-03:00", 0) == []
    # Not for a native automated snapshot: the automated backup is the source itself
    assert _warnings(world, "native", "02:30-03:00", 7, event_of="rds-automated") == []


def test_no_warning_when_the_instance_cannot_be_read(world: World) -> None:
    # Given a snapshot of a database that no longer exists
    made = datetime(2026, 11, 24, 2, 10, tzinfo=UTC)
    world.database("gone-db")
    world.backup_snapshot("gone-db", "job-2", created_at=made)
    api = accounts.Accounts(world.settings(), "run-1").main("db")
    snapshot = api.get("awsbackup:job-job-2", "awsbackup")
    world.main.client("rds").delete_db_instance(
        DBInstanceIdentifier="gone-db", SkipFinalSnapshot=True
    )
    # Then the check gives no warning rather than failing the run
    client = world.main.client("rds")
    assert backup_window.automated_backup_warning(client, snapshot, "aws-backup") is None
