"""Does a run's copy overlap the source database's automated-backup window?

RDS User Guide, "Introduction to backups": "Automated backups don't occur while a DB snapshot
copy is running in the same AWS Region for the same database." Both of a run's copies are full
copies ("When you copy a source snapshot that is a snapshot copy itself, the new copy isn't
incremental", "Incremental snapshot copying"; the first copy is full too, as the app deletes its
previous intermediate copy), so a copy of a large database runs for hours. When that period
crosses the database's `PreferredBackupWindow`, the day's automated backup can be skipped. The
run then carries a one-line warning in its summary and notification.

Only DB instances are checked (Aurora backs up continuously; its rule is not this one), only for
AWS Backup snapshots (a native automated snapshot is the automated backup itself), and only when
automated backups are on (`BackupRetentionPeriod` > 0).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rds_xacct.aws.clients import aws_call
from rds_xacct.model import errors
from rds_xacct.model.constants import (
    COPIES_PER_RUN,
    COPY_ESTIMATE_FIXED_MINUTES,
    COPY_ESTIMATE_MINUTES_PER_GIB,
)
from rds_xacct.model.snapshot import Snapshot
from rds_xacct.pipeline.events import ORIGIN_AWS_BACKUP

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient

_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


def parse_window(text: str) -> tuple[int, int]:
    """`hh24:mi-hh24:mi` (UTC, as RDS writes `PreferredBackupWindow`) → (start, end) in minutes
    after midnight. The end is before the start when the window crosses midnight."""
    match = _WINDOW.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a backup window of the form hh24:mi-hh24:mi")
    start_h, start_m, end_h, end_m = (int(part) for part in match.groups())
    return start_h * 60 + start_m, end_h * 60 + end_m


def window_overlaps(window: str, start: datetime, end: datetime) -> bool:
    """Does the daily `window` (UTC) intersect the period [start, end)?"""
    first, last = parse_window(window)
    length = (last - first) % (24 * 60) or 24 * 60
    day = start.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    while day < end:
        opens = day + timedelta(minutes=first)
        closes = opens + timedelta(minutes=length)
        if opens < end and start < closes:
            return True
        day += timedelta(days=1)
    return False


def estimated_copy_end(created_at: datetime, size_gib: int) -> datetime:
    """When a run's copies of a snapshot made at `created_at` can be expected to be done: both
    copies one after the other, each estimated at 3 minutes + 1 minute per GiB."""
    one_copy = COPY_ESTIMATE_FIXED_MINUTES + COPY_ESTIMATE_MINUTES_PER_GIB * max(size_gib, 0)
    return created_at + timedelta(minutes=COPIES_PER_RUN * one_copy)


def overlap_warning(
    *, database: str, window: str, retention_days: int, start: datetime, end: datetime
) -> str | None:
    """The one-line warning, or None when automated backups are off or nothing overlaps."""
    if retention_days <= 0 or not window or not window_overlaps(window, start, end):
        return None
    return (
        f"{database}'s automated-backup window ({window} UTC) falls within this copy's expected "
        f"time ({start:%H:%M} to about {end:%H:%M} UTC): RDS skips automated backups while a "
        f"snapshot copy of the database runs. Move the AWS Backup window so that the copies end "
        f"before {window.split('-', maxsplit=1)[0]} UTC"
    )


def automated_backup_warning(client: RDSClient, snapshot: Snapshot, origin: str) -> str | None:
    """The warning for this run's source, read from its DB instance; None if there is none or
    the instance cannot be read (a warning never fails a run)."""
    if origin != ORIGIN_AWS_BACKUP or snapshot.kind != "db" or snapshot.created_at is None:
        return None
    try:
        with aws_call(f"Describing DB instance {snapshot.database}"):
            found: list[Any] = list(
                client.describe_db_instances(DBInstanceIdentifier=snapshot.database)["DBInstances"]
            )
    except errors.PipelineError:
        return None
    if not found:
        return None
    instance = found[0]
    try:
        return overlap_warning(
            database=snapshot.database,
            window=str(instance.get("PreferredBackupWindow") or ""),
            retention_days=int(instance.get("BackupRetentionPeriod") or 0),
            start=snapshot.created_at,
            end=estimated_copy_end(snapshot.created_at, snapshot.size_gib),
        )
    except ValueError:
        return None
