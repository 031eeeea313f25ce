"""The backup account's half of freshness, computed in the keeper's hourly pass from the backup
account's own copies: does every source database have a complete copy here holding data newer
than the recovery point objective? A broken or compromised main account (its rule disabled,
its pipeline deleted, AWS Backup stopped) can't silence it: nothing here reads what the main
account says, and the pass runs on this account's schedule.

* What each copy is of, and how old its data is: RDS's own records (rds_xacct.model.freshness).
  No RDS call beyond the pass's listing of every copy.
* The databases watched are remembered in the keeper's ledger (one item per database, keyed
  `database#<account>#<kind>#<identifier>`, never expiring): a database whose copies all went at
  the end of their retention is still watched, and stale, rather than forgotten (the alarm
  would otherwise clear by itself a retention after the copies stopped).
* A database retired on purpose would be stale for ever: this account's people stop watching it
  with the stack's `FreshnessIgnoredDatabases` (`KeeperSettings.ignored`); nothing of the main
  account can.

The pass logs one line, message `Freshness`, with `databases`: [{database, kind, sourceAccount,
newestCopy, recoveryPoint, ageHours, stale}] (`lastRecoveryPoint` too, for a database whose
copies are gone), in parts of FRESHNESS_LOG_PART databases when there are more, and counts the
stale ones (STALE_DATABASES, which StaleCopiesAlarm watches).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rds_xacct.aws.clients import aws_call, aws_code
from rds_xacct.keeper.ledger import Ledger
from rds_xacct.keeper.settings import KeeperSettings
from rds_xacct.model import errors
from rds_xacct.model.constants import APP_NAME
from rds_xacct.model.freshness import (
    Source,
    age_hours,
    is_stale,
    log_lines,
    newest_copies,
    recovery_point,
)
from rds_xacct.model.snapshot import Snapshot
from rds_xacct.model.state import Kind
from rds_xacct.model.times import iso, parse_iso

logger = logging.getLogger(APP_NAME)

WATCHED = "database#"
"""The ledger key prefix of a watched database (every copy's record is keyed by its ARN)."""

Entry = dict[str, Any]
_KINDS: dict[str, Kind] = {"db": "db", "cluster": "cluster"}


def ledger_key(source: Source) -> str:
    return f"{WATCHED}{source.account}#{source.kind}#{source.database}"


def remembered(items: Iterable[Mapping[str, Any]]) -> dict[Source, datetime | None]:
    """The databases watched, from the ledger's items: each one's newest recovery point seen.
    An item the keeper can't read is left out (logged)."""
    found: dict[Source, datetime | None] = {}
    for item in items:
        key = str(item.get("arn", {}).get("S", ""))
        if not key.startswith(WATCHED):
            continue
        account, kind, database = [*key.removeprefix(WATCHED).split("#", 2), "", ""][:3]
        point = item.get("recoveryPoint", {}).get("S")
        try:
            when = parse_iso(point) if point else None
        except ValueError:
            when = None
        known = _KINDS.get(kind)
        if known and account and database and (when or not point):
            found[Source(account, known, database)] = when
            continue
        logger.error("Unreadable watched database in the ledger", extra={"key": key[:300]})
    return found


def _remember(
    ledger: Ledger, source: Source, copy: Snapshot, point: datetime, now: datetime
) -> None:
    """Write down that the database is watched, with its newest recovery point (only ever a
    later one)."""
    try:
        with aws_call(f"Recording in the ledger that {source.database} is watched"):
            ledger.client.put_item(
                TableName=ledger.table,
                Item={
                    "arn": {"S": ledger_key(source)},
                    "database": {"S": source.database},
                    "kind": {"S": source.kind},
                    "sourceAccount": {"S": source.account},
                    "recoveryPoint": {"S": iso(point)},
                    "newestCopy": {"S": copy.arn},
                    "seenAt": {"S": iso(now)},
                },
                ConditionExpression="attribute_not_exists(arn) OR recoveryPoint < :point",
                ExpressionAttributeValues={":point": {"S": iso(point)}},
            )
    except errors.PipelineError as error:
        if aws_code(error) != "ConditionalCheckFailedException":
            raise


def check(
    copies: Iterable[Snapshot],
    *,
    watched: Mapping[Source, datetime | None],
    ledger: Ledger,
    settings: KeeperSettings,
    now: datetime,
) -> tuple[list[Entry], list[str]]:
    """Each database watched (its copies here, or remembered) and whether it is stale, sorted
    by database; and the databases ignored. New databases and newer recovery points are written
    to the ledger."""
    newest = newest_copies(copies)
    entries: list[Entry] = []
    ignored: set[str] = set()
    for source in sorted(set(newest) | set(watched)):
        copy = newest.get(source)
        point = recovery_point(copy) if copy is not None else None
        last = watched.get(source)
        if copy is not None and point is not None and (last is None or point > last):
            _remember(ledger, source, copy, point, now)
        if source.database.lower() in settings.ignored:
            ignored.add(source.database)
            continue
        entry: Entry = {
            "database": source.database,
            "kind": source.kind,
            "sourceAccount": source.account,
            "newestCopy": copy.arn if copy is not None else None,
            "recoveryPoint": iso(point) if point is not None else None,
            "ageHours": age_hours(point, now) if point is not None else None,
            "stale": is_stale(point, now, settings.rpo_hours),
        }
        if copy is None and last is not None:
            entry["lastRecoveryPoint"] = iso(last)
        entries.append(entry)
    return entries, sorted(ignored)


def log(entries: list[Entry], ignored: list[str], *, rpo_hours: int) -> None:
    """The pass's `Freshness` line (in parts of FRESHNESS_LOG_PART databases)."""
    for line in log_lines(
        entries,
        staleDatabases=sum(1 for entry in entries if entry["stale"]),
        watchedDatabases=len(entries),
        ignoredDatabases=ignored,
        recoveryPointObjectiveHours=rpo_hours,
    ):
        logger.info("Freshness", extra=line)


@dataclass(frozen=True)
class Checked:
    """What the pass reports of freshness."""

    stale: list[str]
    watched: int
    ignored: list[str]


def run(
    copies: Iterable[Snapshot],
    items: Iterable[Mapping[str, Any]],
    *,
    ledger: Ledger,
    settings: KeeperSettings,
    now: datetime,
) -> Checked:
    """The hourly pass's freshness check: from the copies it listed (those it deleted left out)
    and the ledger's items it read; logged, and returned for the pass's answer and metrics."""
    entries, ignored = check(
        copies, watched=remembered(items), ledger=ledger, settings=settings, now=now
    )
    log(entries, ignored, rpo_hours=settings.rpo_hours)
    stale = [f"{e['sourceAccount']}/{e['kind']}/{e['database']}" for e in entries if e["stale"]]
    return Checked(stale=stale, watched=len(entries), ignored=ignored)
