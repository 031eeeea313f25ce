"""The backup account's keeper, its rules: which snapshots are the app's copies, what a copy's
tags may say, and how long a copy is kept (pure functions; rds_xacct.keeper.requests and
rds_xacct.keeper.hourly apply them with RDS and the ledger).

* **Which snapshots are the app's copies** (`not_a_copy`): tagged by the app as backup copies,
  named as the app names them (`xacct-...`), and copied from a source account this backup
  account serves, as RDS records it (`Snapshot.copied_from`, set by RDS and never changed).
  Anything else is never touched. The source accounts are a list, or an organization: then any
  account, since only the organization's accounts can assume the role that copies in (its trust
  policy), so a copy from elsewhere was not made by the app's role.
* **How long a copy is kept** (`recorded_expiry`, `kept_until`, `due`): the expiry it was made
  with, recorded at first sight, never earlier than RDS's creation time plus the backup
  account's minimum retention. Tags rewritten later can move it later (up to the longest
  retention), never earlier; `rds-xacct:keep` written after the copy was recorded keeps it for
  good. At delete time RDS's creation time plus the minimum is checked again.

Every tag of a copy may have been written by an attacker holding the main account (its role
here may tag the app's copies with the app's keys, and RDS may carry a source's tags onto a
copy made with `CopyTags`), so a tag is read as a claim: a time outside a sane range is
unreadable, an unreadable tag never shortens anything, and `rds-xacct:keep` counts only when it
changed after the keeper recorded the copy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rds_xacct.keeper.settings import KeeperSettings
from rds_xacct.model.arns import Arn
from rds_xacct.model.constants import (
    APP_NAME,
    COPY_ID_PREFIX,
    ROLE_BACKUP,
    TAG_APP,
    TAG_EXPIRES_AT,
    TAG_KEEP,
    TAG_ROLE,
)
from rds_xacct.model.ownership import is_ours
from rds_xacct.model.snapshot import Snapshot
from rds_xacct.model.times import iso, parse_iso

logger = logging.getLogger(APP_NAME)

Answer = dict[str, Any]

EARLIEST_TAG_TIME = datetime(2000, 1, 1, tzinfo=UTC)
"""An expiry tag before this is not a time the app wrote: unreadable."""


def answer(decision: str, snapshot: str, reason: str, kept_until: datetime | None = None) -> Answer:
    """One answer of the keeper (to a request, or for one copy in the hourly pass). Its
    `keptUntil` is written to the second rounded up (RDS's creation times carry fractions): a
    run that asks again at that time is never a moment early (written down, it was up to a
    second early, and such a run took the refusal as final)."""
    if kept_until is not None and kept_until.microsecond:
        kept_until = kept_until.replace(microsecond=0) + timedelta(seconds=1)
    return {
        "decision": decision,
        "snapshot": snapshot,
        "reason": reason,
        "keptUntil": iso(kept_until) if kept_until else None,
    }


# --- Which snapshots are the app's copies ---------------------------------------------------------
def not_a_copy(snapshot: Snapshot, settings: KeeperSettings) -> str | None:
    """Why the keeper must leave this snapshot alone, or None if it is one of the app's backup
    copies: app tags, the app's name, and copied from a source account (RDS's record)."""
    tags = snapshot.tags
    if not is_ours(tags, role=ROLE_BACKUP):
        return f"it does not carry the tags {TAG_APP}={APP_NAME} and {TAG_ROLE}={ROLE_BACKUP}"
    if not snapshot.identifier.startswith(f"{COPY_ID_PREFIX}-"):
        return f"its name does not start with {COPY_ID_PREFIX}-, as every copy of the app's does"
    if not settings.serves(Arn.account_of(snapshot.copied_from)):
        return (
            f"RDS records it as copied from {snapshot.copied_from or 'no other account'}, not "
            f"from {settings.describe_sources()}"
        )
    return None


# --- Reading a copy's tags ------------------------------------------------------------------------
def read_expiry(text: str, created: datetime, settings: KeeperSettings) -> datetime | None:
    """An expiry tag as a time, or None if it is unreadable: not an ISO 8601 time, out of
    datetime's range in UTC, before 2000, or later than the copy's creation plus the longest
    retention anyone may ask (`tag_horizon`)."""
    try:
        moment = parse_iso(text.strip())
        if EARLIEST_TAG_TIME <= moment <= created + settings.tag_horizon:
            return moment
    except (ValueError, OverflowError):
        pass
    return None


# --- What the ledger holds, and how long a copy is kept -------------------------------------------
@dataclass(frozen=True)
class Record:
    """What the ledger holds for one copy: recorded once, at first sight (the run asks the
    keeper to record its copy right after making it; the hourly pass records any other)."""

    arn: str
    created_at: datetime
    """RDS's creation time of the copy; the keeper's first sight when RDS reported none yet (a
    copy still being made): later than the truth, so the minimum retention only grows."""
    keep_until: datetime | None
    """None: kept for good (made without an expiry, where this account allows that)."""
    first_seen: datetime
    expiry_tagged: bool = True
    """Did the copy carry a readable expiry tag when recorded? (Its removal later is then an
    operator of this account keeping it: the main account's role can't remove tags.)"""
    keep_tag: str | None = None
    """The value of `rds-xacct:keep` the copy carried when recorded (RDS's `CopyTags` can carry
    a source's tags, which the main account chose): only a different value counts."""


def recorded_expiry(
    snapshot: Snapshot, settings: KeeperSettings, now: datetime
) -> tuple[datetime | None, bool]:
    """The kept-until time to record for a copy seen for the first time, and whether it came
    from a readable expiry tag: its expiry tag (the retention it was made with), never earlier
    than RDS's creation time plus the minimum retention. No expiry tag: kept the longest
    retention (or for good, where this account allows it). An unreadable expiry tag (logged)
    is not trusted either way: kept the longest retention."""
    created = snapshot.created_at or now
    floor = created + settings.min_retention
    longest = max(created + settings.longest_retention, floor)
    if TAG_EXPIRES_AT not in snapshot.tags:
        return (None if settings.longest_retention_days == 0 else longest), False
    text = snapshot.tags[TAG_EXPIRES_AT]
    tagged = read_expiry(text, created, settings)
    if tagged is None:
        logger.warning(
            "Unreadable expiry tag: the copy is kept the longest retention",
            extra={"snapshot": snapshot.arn, "tag": text[:100], "keepUntil": iso(longest)},
        )
        return longest, False
    return max(tagged, floor), True


def kept_until(
    snapshot: Snapshot, record: Record, settings: KeeperSettings
) -> tuple[datetime | None, str]:
    """When the copy may be deleted (None: never), and why. The record is the floor; a tag
    can only move it later: a readable expiry tag later than the record, or the expiry tag
    removed (by an operator of this account: the main account can't), or `rds-xacct:keep`
    written after the copy was recorded."""
    keep = snapshot.tags.get(TAG_KEEP)
    if keep is not None and keep != record.keep_tag:
        return None, f"it is tagged {TAG_KEEP}: kept for good"
    if record.keep_until is None:
        return None, "it was made without an expiry: kept for good"
    text = snapshot.tags.get(TAG_EXPIRES_AT)
    if text is None and record.expiry_tagged:
        return None, f"its {TAG_EXPIRES_AT} tag was removed: kept for good"
    tagged = read_expiry(text, record.created_at, settings) if text is not None else None
    if tagged is not None and tagged > record.keep_until:
        return tagged, f"its {TAG_EXPIRES_AT} tag keeps it until {iso(tagged)}"
    minimum = settings.min_retention
    if record.keep_until <= record.created_at + minimum:
        why = f"the backup account's minimum retention, {minimum.days} days from its creation at"
        return record.keep_until, (
            f"the backup account keeps it until {iso(record.keep_until)}: {why} "
            f"{iso(record.created_at)}"
        )
    how = "the expiry it was made with" if record.expiry_tagged else "the longest retention"
    return record.keep_until, (
        f"the backup account keeps it until {iso(record.keep_until)}: {how}, recorded when the "
        f"keeper first saw it"
    )


def not_before(snapshot: Snapshot, until: datetime, settings: KeeperSettings) -> datetime | None:
    """The earliest time the copy may be deleted, checked again against RDS at delete time:
    its kept-until time, and never before RDS's creation time plus the minimum retention
    (whatever the ledger says). None: RDS reports no creation time, so no delete."""
    if snapshot.created_at is None:
        return None
    return max(until, snapshot.created_at + settings.min_retention)


def due(
    snapshot: Snapshot, record: Record, settings: KeeperSettings, now: datetime
) -> tuple[bool, datetime | None, str]:
    """May the copy be deleted now, until when is it kept (None: for good), and why. Never a
    second before its kept-until time, nor before RDS's creation time (read now) plus the
    minimum retention, whatever the ledger says."""
    until, why = kept_until(snapshot, record, settings)
    if until is None:
        return False, None, why
    earliest = not_before(snapshot, until, settings)
    if earliest is None:
        return False, until, f"{why}; RDS reports no creation time for it yet"
    if earliest > until:
        why = (
            f"the backup account's minimum retention, {settings.min_retention_days} days from "
            f"its creation at {iso(earliest - settings.min_retention)} (RDS's)"
        )
    return earliest <= now, earliest, why
