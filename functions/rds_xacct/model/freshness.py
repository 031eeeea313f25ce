"""Freshness: does each source database have, in the backup account, a complete copy holding
data newer than the recovery point objective (RPO)? The rules both accounts apply to the backup
account's copies: the keeper's hourly pass from its own listing (rds_xacct.keeper.freshness) and
the main account's hourly watch through its role there (rds_xacct.jobs.freshness).

Every fact comes from RDS's own record of a copy, never from the tags the main account wrote:

* **which database**: the copy's `DBInstanceIdentifier` / `DBClusterIdentifier`, the database
  the snapshot "was created from", which a copy keeps (RDS API reference, DBSnapshot and
  DBClusterSnapshot);
* **which source account**: the account of the snapshot it was copied from, which RDS records
  for a cross-account copy (`Snapshot.copied_from`);
* **how old its data is**: its recovery point (`recovery_point`).

Tags only narrow which snapshots count (the app's backup copies, named `xacct-…`): a tag can
keep a copy from counting, never make one count for another database or look newer. So a
compromised main account can't make a stale database look fresh by tagging, nor (for a DB
instance) by copying an old snapshot in again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from rds_xacct.model.arns import Arn
from rds_xacct.model.constants import COPY_ID_PREFIX, FRESHNESS_LOG_PART, ROLE_BACKUP
from rds_xacct.model.ownership import is_ours
from rds_xacct.model.snapshot import Snapshot
from rds_xacct.model.state import Kind

_Entry = TypeVar("_Entry")


@dataclass(frozen=True, order=True)
class Source:
    """A source database, as RDS records it on its copies: two source accounts with a database
    of the same name are two databases."""

    account: str
    kind: Kind
    database: str


def recovery_point(snapshot: Snapshot) -> datetime | None:
    """When the data a copy holds was taken, as RDS records it (None: RDS says nothing that
    survives a copy, and the copy counts for nothing).

    * A DB snapshot: its `OriginalSnapshotCreateTime`, "the time of the CreateDBSnapshot
      operation ... Doesn't change when the snapshot is copied" (RDS API reference, DBSnapshot;
      its `SnapshotCreateTime`, in contrast, "changes for the copy when the snapshot is
      copied"). A copy re-made today of a month-old snapshot is a month old.
    * A DB cluster snapshot: RDS records no such time. DBClusterSnapshot has only
      `SnapshotCreateTime`, "the time when the snapshot was taken" (RDS API reference), and the
      reference does not say that a copy keeps its source's. It is the best RDS gives and is
      used, as a time never earlier than the data's: a copy made the usual way (hours after
      its source) counts from at most those hours late. What it can't tell is a cluster copy
      re-made of an old snapshot: a compromised main account that copies an old cluster
      snapshot in again makes that cluster look fresh (docs/threat-model.md). Every such copy
      is recorded by the keeper (its ledger: when, by which run), and stays a real copy.
    """
    if snapshot.kind == "db":
        return snapshot.original_created_at
    return snapshot.created_at


def source_of(snapshot: Snapshot) -> Source | None:
    """The database and account a copy was made from, as RDS records them; None for a snapshot
    that is not a cross-account or cross-Region copy, or names no database."""
    account = Arn.account_of(snapshot.copied_from)
    if not account or not snapshot.database:
        return None
    return Source(account, snapshot.kind, snapshot.database)


def is_backup_copy(snapshot: Snapshot) -> bool:
    """One of the app's backup copies: its tags and its name (`xacct-…`)."""
    return is_ours(snapshot.tags, role=ROLE_BACKUP) and snapshot.identifier.startswith(
        f"{COPY_ID_PREFIX}-"
    )


def newest_copies(snapshots: Iterable[Snapshot]) -> dict[Source, Snapshot]:
    """Each source database's complete (available) backup copy holding the newest data."""
    newest: dict[Source, tuple[datetime, str, Snapshot]] = {}
    for snapshot in snapshots:
        point = recovery_point(snapshot)
        source = source_of(snapshot)
        if point is None or source is None or not snapshot.available:
            continue
        if not is_backup_copy(snapshot):
            continue
        ranked = (point, snapshot.arn, snapshot)
        if source not in newest or ranked[:2] > newest[source][:2]:
            newest[source] = ranked
    return {source: ranked[2] for source, ranked in newest.items()}


def age_hours(point: datetime, now: datetime) -> float:
    """How old the data is, in hours (two decimals)."""
    return round((now - point).total_seconds() / 3600, 2)


def is_stale(point: datetime | None, now: datetime, rpo_hours: float) -> bool:
    """Is the newest data older than the recovery point objective? No copy at all is stale;
    data exactly the RPO old is not yet."""
    return point is None or (now - point).total_seconds() > rpo_hours * 3600


def log_lines(entries: Sequence[Mapping[str, Any]], **summary: Any) -> list[dict[str, Any]]:
    """The fields of each `Freshness` log line both accounts write: the databases in parts of
    FRESHNESS_LOG_PART, each line with the `summary` and its part's number."""
    parts = in_parts(entries)
    return [
        {"databases": part, **summary, "part": number, "parts": len(parts)}
        for number, part in enumerate(parts, start=1)
    ]


def in_parts(entries: Sequence[_Entry]) -> list[Sequence[_Entry]]:
    """The databases of a `Freshness` log line, in parts of FRESHNESS_LOG_PART (one part, empty
    or not, for a few)."""
    return [
        entries[start : start + FRESHNESS_LOG_PART]
        for start in range(0, max(len(entries), 1), FRESHNESS_LOG_PART)
    ]
