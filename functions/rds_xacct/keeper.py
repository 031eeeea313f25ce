"""The backup account's keeper: the only code that deletes backup copies.

It runs in the backup account (other/backup-account/backup-account.yaml), with a role of that
account, and decides by its own rules, never by what the main account says:

* **Which snapshots are the app's copies**: tagged by the app as backup copies, named as the
  app names them (`xacct-...`), and copied from the main account, as RDS records it
  (`Snapshot.copied_from`, set by RDS and never changed). Anything else is never touched.
* **How long a copy is kept**: the ledger (a DynamoDB table of this account) records, when the
  keeper first sees a copy (within the hour it is made, or at the first request about it), the
  expiry it was made with, never earlier than its creation time (RDS's; the first sight while
  RDS reports none, for a copy still being made) plus the backup account's minimum retention.
  Tags rewritten later can move the expiry later (an operator keeping a copy longer), never
  earlier. `rds-xacct:keep` keeps a copy for good.
* **Requests from the main account** (`lambda:Invoke`, through the cross-account role), each
  answered `deleted`, `refused`, `kept` or `gone` with a reason:
  - `expire`: the run's retention is over; honoured when the kept-until time has passed;
  - `abandon`: a failed run's own unfinished copy; honoured only for a copy of that very run
    that never completed and was made within the copy deadline.
* **Every hour** (`keep`): records new copies, deletes those whose kept-until time has passed
  (the runs' requests come first; this catches runs that were stopped or lost) and unfinished
  copies no run will finish.

Only the standard library and boto3: the backup account runs no third-party code, and its
stack deploys in one command without a build.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from rds_xacct import errors
from rds_xacct.aws import (
    NETWORK_ERRORS,
    aws_call,
    classify,
    default_client,
    network_error,
    rds_client,
)
from rds_xacct.constants import (
    APP_NAME,
    COPY_DEADLINE_HOURS,
    COPY_ID_PREFIX,
    DEFAULT_MIN_RETENTION_DAYS,
    EXPIRY_GRACE_SECONDS,
    KEEPER_ABANDON,
    KEEPER_DECISIONS,
    KEEPER_DELETED,
    KEEPER_EXPIRE,
    KEEPER_GONE,
    KEEPER_KEPT,
    KEEPER_REFUSED,
    MAX_RETENTION_DAYS,
    ROLE_BACKUP,
    SWEEP_GRACE_HOURS,
    TAG_APP,
    TAG_EXECUTION,
    TAG_EXPIRES_AT,
    TAG_KEEP,
    TAG_ROLE,
)
from rds_xacct.naming import is_valid_identifier
from rds_xacct.settings import ConfigurationError
from rds_xacct.snapshots import Clock, Kind, Snapshot, SnapshotApi, iso, parse_iso, utc_now

logger = logging.getLogger(APP_NAME)

Answer = dict[str, Any]

ENV_MAIN_ACCOUNT_ID = "MAIN_ACCOUNT_ID"
ENV_MIN_RETENTION_DAYS = "MIN_RETENTION_DAYS"
ENV_LEDGER_TABLE = "LEDGER_TABLE"

EXPIRE = KEEPER_EXPIRE
ABANDON = KEEPER_ABANDON
ACTIONS = (EXPIRE, ABANDON)

DELETED = KEEPER_DELETED
REFUSED = KEEPER_REFUSED
KEPT = KEEPER_KEPT
GONE = KEEPER_GONE
DECISIONS = KEEPER_DECISIONS
"""The keeper's answers; `decision` in every answer."""

LEDGER_TTL_DAYS = 90
"""A deleted copy's ledger entry is kept this long (DynamoDB TTL), for whoever audits."""

_ACCOUNT = re.compile(r"^\d{12}$")
_EXECUTION = re.compile(r"^[\w.-]{1,80}$")


@dataclass(frozen=True)
class KeeperSettings:
    """The keeper's settings, read from its environment (set by the backup-account stack)."""

    main_account_id: str
    min_retention_days: int
    ledger_table: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KeeperSettings:
        env = os.environ if env is None else env
        account = env.get(ENV_MAIN_ACCOUNT_ID, "")
        table = env.get(ENV_LEDGER_TABLE, "")
        problems = []
        if not _ACCOUNT.match(account):
            problems.append(f"{ENV_MAIN_ACCOUNT_ID} must be a 12-digit account id")
        try:
            days = int(env.get(ENV_MIN_RETENTION_DAYS, str(DEFAULT_MIN_RETENTION_DAYS)))
        except ValueError:
            days = 0
        if not 1 <= days <= MAX_RETENTION_DAYS:
            problems.append(
                f"{ENV_MIN_RETENTION_DAYS} must be a whole number from 1 to {MAX_RETENTION_DAYS}"
            )
        if not table:
            problems.append(f"{ENV_LEDGER_TABLE} must name the ledger table")
        if problems:
            raise ConfigurationError("Invalid keeper settings: " + "; ".join(problems))
        return cls(main_account_id=account, min_retention_days=days, ledger_table=table)

    @property
    def min_retention(self) -> timedelta:
        return timedelta(days=self.min_retention_days)


def answer(decision: str, snapshot: str, reason: str, kept_until: datetime | None = None) -> Answer:
    """One answer of the keeper (to a request, or for one copy in the hourly pass)."""
    return {
        "decision": decision,
        "snapshot": snapshot,
        "reason": reason,
        "keptUntil": iso(kept_until) if kept_until else None,
    }


# --- Which snapshots are the app's copies ---------------------------------------------------------
def not_a_copy(snapshot: Snapshot, settings: KeeperSettings) -> str | None:
    """Why the keeper must leave this snapshot alone, or None if it is one of the app's backup
    copies: app tags, the app's name, and copied from the main account (RDS's record)."""
    tags = snapshot.tags
    if tags.get(TAG_APP) != APP_NAME or tags.get(TAG_ROLE) != ROLE_BACKUP:
        return f"it does not carry the tags {TAG_APP}={APP_NAME} and {TAG_ROLE}={ROLE_BACKUP}"
    if not snapshot.identifier.startswith(f"{COPY_ID_PREFIX}-"):
        return f"its name does not start with {COPY_ID_PREFIX}-, as every copy of the app's does"
    source_account = (snapshot.copied_from or "").split(":")[4:5]
    if source_account != [settings.main_account_id]:
        return (
            f"RDS records it as copied from {snapshot.copied_from or 'no other account'}, not "
            f"from the main account {settings.main_account_id}"
        )
    return None


# --- The ledger -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Record:
    """What the ledger holds for one copy: recorded once, at first sight."""

    arn: str
    created_at: datetime
    """RDS's creation time of the copy; the keeper's first sight when RDS reported none yet (a
    copy still being made): later than the truth, so the minimum retention only grows."""
    keep_until: datetime | None
    """None: kept for good (made without an expiry)."""
    first_seen: datetime


def recorded_expiry(snapshot: Snapshot, settings: KeeperSettings, now: datetime) -> datetime | None:
    """The kept-until time to record for a copy seen for the first time: its expiry tag (the
    retention it was made with), never earlier than RDS's creation time plus the minimum
    retention. No expiry tag: kept for good. An expiry tag that is not a time is not what the
    app writes: the copy is kept for good (logged), rather than guessed at."""
    floor = (snapshot.created_at or now) + settings.min_retention
    text = snapshot.tags.get(TAG_EXPIRES_AT)
    if not text:
        return None
    try:
        tagged = parse_iso(text.strip())
    except ValueError:
        logger.warning(
            "Unreadable expiry tag: the copy is kept for good",
            extra={"snapshot": snapshot.arn, "tag": text},
        )
        return None
    return max(tagged, floor)


class Ledger:
    """The backup account's record of each copy's kept-until time (one DynamoDB item per
    copy, keyed by its ARN). Written only by the keeper; the main account has no access."""

    def __init__(self, table: str, client: Any = None) -> None:
        self.table = table
        self.client = client or default_client("dynamodb")

    @staticmethod
    def _record(item: Mapping[str, Any]) -> Record:
        until = item.get("keepUntil", {}).get("S")
        return Record(
            arn=item["arn"]["S"],
            created_at=parse_iso(item["createdAt"]["S"]),
            keep_until=parse_iso(until) if until else None,
            first_seen=parse_iso(item["firstSeen"]["S"]),
        )

    def all(self) -> dict[str, Record]:
        """Every record, by ARN (one Scan: the hourly pass reads them once)."""
        found: dict[str, Record] = {}
        with aws_call(f"Reading the ledger {self.table}"):
            for page in self.client.get_paginator("scan").paginate(
                TableName=self.table, ConsistentRead=True
            ):
                for item in page["Items"]:
                    if "deletedAt" not in item:
                        record = self._record(item)
                        found[record.arn] = record
        return found

    def get(self, arn: str) -> Record | None:
        with aws_call(f"Reading the ledger {self.table}"):
            item = self.client.get_item(
                TableName=self.table, Key={"arn": {"S": arn}}, ConsistentRead=True
            ).get("Item")
        return None if item is None or "deletedAt" in item else self._record(item)

    def record(self, snapshot: Snapshot, settings: KeeperSettings, now: datetime) -> Record:
        """The copy's record: the one already there if it is of this very snapshot (same
        creation time), else a new one, written only if no other writer got there first."""
        created = iso(snapshot.created_at or now)
        until = recorded_expiry(snapshot, settings, now)
        item: dict[str, Any] = {
            "arn": {"S": snapshot.arn},
            "createdAt": {"S": created},
            "firstSeen": {"S": iso(now)},
            "execution": {"S": snapshot.tags.get(TAG_EXECUTION, "")},
        }
        if until is not None:
            item["keepUntil"] = {"S": iso(until)}
        # A record is never replaced, except one of a snapshot that is gone: marked deleted, or
        # (deleted by hand and made again under the same name) RDS made this one after the
        # keeper first saw the one it recorded.
        condition = "attribute_not_exists(arn) OR attribute_exists(deletedAt)"
        values: dict[str, Any] = {}
        if snapshot.created_at is not None:
            condition += " OR firstSeen < :created"
            values[":created"] = {"S": created}
        try:
            self.client.put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression=condition,
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise classify(error, f"Recording {snapshot.arn} in the ledger") from error
            existing = self.get(snapshot.arn)
            if existing is None:  # pragma: no cover - deleted between the two calls
                raise
            return existing
        except NETWORK_ERRORS as error:
            raise network_error(error, f"Recording {snapshot.arn} in the ledger") from error
        logger.info(
            "Recorded a new copy",
            extra={"snapshot": snapshot.arn, "keepUntil": iso(until) if until else None},
        )
        return Record(snapshot.arn, parse_iso(created), until, now)

    def forget(self, arn: str, now: datetime) -> None:
        """Mark the copy's record deleted; DynamoDB removes it after LEDGER_TTL_DAYS."""
        expire = int((now + timedelta(days=LEDGER_TTL_DAYS)).timestamp())
        with aws_call(f"Marking {arn} deleted in the ledger {self.table}"):
            self.client.update_item(
                TableName=self.table,
                Key={"arn": {"S": arn}},
                UpdateExpression="SET deletedAt = :at, expireAt = :ttl",
                ExpressionAttributeValues={":at": {"S": iso(now)}, ":ttl": {"N": str(expire)}},
            )


def record_of(
    ledger: Ledger, snapshot: Snapshot, settings: KeeperSettings, now: datetime
) -> Record:
    """The copy's record in the ledger, made now if the keeper never saw this copy."""
    record = ledger.get(snapshot.arn)
    if record is None or is_newer(snapshot, record):
        record = ledger.record(snapshot, settings, now)
    return record


def is_newer(snapshot: Snapshot, record: Record) -> bool:
    """Did RDS make this snapshot after the keeper first saw the one it recorded under its ARN
    (the recorded one deleted by hand, another made under its name)?"""
    return snapshot.created_at is not None and snapshot.created_at > record.first_seen


def kept_until(
    snapshot: Snapshot, record: Record, minimum: timedelta
) -> tuple[datetime | None, str]:
    """When the copy may be deleted (None: never), and why. The record is the floor; a tag
    can only move it later: an expiry tag later than the record, or no expiry tag at all (an
    operator of this account removed it), or `rds-xacct:keep`."""
    if TAG_KEEP in snapshot.tags:
        return None, f"it is tagged {TAG_KEEP}: kept for good"
    if record.keep_until is None:
        return None, "it was made without an expiry: kept for good"
    text = snapshot.tags.get(TAG_EXPIRES_AT)
    if not text:
        return None, f"its {TAG_EXPIRES_AT} tag was removed: kept for good"
    try:
        tagged = parse_iso(text.strip())
    except ValueError:
        tagged = record.keep_until
    if tagged > record.keep_until:
        return tagged, f"its {TAG_EXPIRES_AT} tag keeps it until {iso(tagged)}"
    if record.keep_until <= record.created_at + minimum:
        why = f"the backup account's minimum retention, {minimum.days} days from its creation at"
        return record.keep_until, (
            f"the backup account keeps it until {iso(record.keep_until)}: {why} "
            f"{iso(record.created_at)}"
        )
    return record.keep_until, (
        f"the backup account keeps it until {iso(record.keep_until)}: the expiry it was made "
        f"with, recorded when the keeper first saw it"
    )


# --- Deleting -----------------------------------------------------------------------------------
def _delete(api: SnapshotApi, snapshot: Snapshot, ledger: Ledger, now: datetime) -> bool:
    deleted = api.delete(snapshot.identifier)
    ledger.forget(snapshot.arn, now)
    logger.info(
        "Deleted a backup copy", extra={"snapshot": snapshot.arn, "status": snapshot.status}
    )
    return deleted


def _expire(
    api: SnapshotApi, snapshot: Snapshot, ledger: Ledger, settings: KeeperSettings, now: datetime
) -> Answer:
    record = record_of(ledger, snapshot, settings, now)
    until, why = kept_until(snapshot, record, settings.min_retention)
    if until is None:
        return answer(KEPT, snapshot.arn, why)
    if until > now + timedelta(seconds=EXPIRY_GRACE_SECONDS):
        return answer(REFUSED, snapshot.arn, why, until)
    if not snapshot.available:
        return answer(REFUSED, snapshot.arn, f"it is {snapshot.status}, not available", until)
    _delete(api, snapshot, ledger, now)
    return answer(DELETED, snapshot.arn, f"its kept-until time {iso(until)} has passed", until)


def _abandon(
    api: SnapshotApi,
    snapshot: Snapshot,
    ledger: Ledger,
    request: tuple[str, KeeperSettings],
    now: datetime,
) -> Answer:
    """A failed run's own copy: deleted only if that run made it, it never completed, and it
    was made within the copy deadline (no complete backup is ever deleted early)."""
    execution, settings = request
    maker = snapshot.tags.get(TAG_EXECUTION)
    if maker != execution:
        return answer(REFUSED, snapshot.arn, f"it was made by run {maker}, not by run {execution}")
    if snapshot.available:
        return answer(
            REFUSED, snapshot.arn, "it is complete: a complete backup copy is never deleted early"
        )
    made = record_of(ledger, snapshot, settings, now).created_at
    if now - made > timedelta(hours=COPY_DEADLINE_HOURS):
        return answer(
            REFUSED,
            snapshot.arn,
            f"it was made at {iso(made)}, more than the copy deadline "
            f"({COPY_DEADLINE_HOURS} h) ago: the hourly pass decides",
        )
    _delete(api, snapshot, ledger, now)
    return answer(
        DELETED, snapshot.arn, f"run {execution}'s own copy, {snapshot.status}, never completed"
    )


def _request_problem(request: Any) -> str | None:
    if not isinstance(request, Mapping):
        return "a request is a JSON object"
    if request.get("action") not in ACTIONS:
        return f"action must be one of {', '.join(ACTIONS)}"
    if request.get("kind") not in ("db", "cluster"):
        return "kind must be db or cluster"
    identifier = request.get("snapshot")
    if not isinstance(identifier, str) or not is_valid_identifier(identifier, request["kind"]):
        return "snapshot must be a snapshot identifier (not an ARN) of this account"
    execution = request.get("execution")
    if not isinstance(execution, str) or not _EXECUTION.match(execution):
        return "execution must name the run asking (its execution name)"
    return None


def handle_request(
    request: Any,
    *,
    settings: KeeperSettings,
    now: Clock = utc_now,
    rds: Any = None,
    ledger: Ledger | None = None,
) -> Answer:
    """Answer one request from the main account. A request the keeper can't read is refused
    (never an error: the run reports the answer). AWS errors that clear by themselves raise
    (`Throttled`, `SnapshotNotReady`), so the asking step retries."""
    problem = _request_problem(request)
    if problem is not None:
        about = request.get("snapshot") if isinstance(request, Mapping) else None
        return answer(REFUSED, str(about or "?"), f"unreadable request: {problem}")
    kind: Kind = request["kind"]
    api = SnapshotApi(rds or rds_client(), kind)
    ledger = ledger or Ledger(settings.ledger_table)
    moment = now()
    snapshot = api.find(request["snapshot"])
    if snapshot is None:
        return answer(GONE, request["snapshot"], "there is no such snapshot in the backup account")
    problem = not_a_copy(snapshot, settings)
    if problem is not None:
        return answer(REFUSED, snapshot.arn, f"not a copy this app made: {problem}")
    if request["action"] == EXPIRE:
        decided = _expire(api, snapshot, ledger, settings, moment)
    else:
        decided = _abandon(api, snapshot, ledger, (request["execution"], settings), moment)
    logger.info(
        "Answered a request",
        extra={
            "request": dict(request),
            "decision": decided["decision"],
            "reason": decided["reason"],
        },
    )
    return decided


# --- The hourly pass ---------------------------------------------------------------------------
def _unfinished_due(snapshot: Snapshot, made: datetime, now: datetime) -> bool:
    """An unfinished copy no run will finish: failed a grace period ago, or still not available
    a grace period after the copy deadline."""
    age = now - made
    grace = timedelta(hours=SWEEP_GRACE_HOURS)
    if snapshot.failed:
        return age > grace
    return age > timedelta(hours=COPY_DEADLINE_HOURS) + grace


def keep(
    *,
    settings: KeeperSettings,
    now: Clock = utc_now,
    rds: Any = None,
    ledger: Ledger | None = None,
) -> Answer:
    """Look at every copy of the app in the backup account: record new ones, delete those
    whose kept-until time has passed and unfinished ones no run will finish. A problem with one
    copy is reported and the others still looked at."""
    ledger = ledger or Ledger(settings.ledger_table)
    client = rds or rds_client()
    moment = now()
    records = ledger.all()
    deleted: list[str] = []
    recorded: list[str] = []
    problems: list[str] = []
    kept = 0
    for kind in ("db", "cluster"):
        api = SnapshotApi(client, kind)
        try:
            snapshots = api.list_manual()
        except errors.PipelineError as error:
            problems.append(f"{kind} snapshots: {error}")
            continue
        for snapshot in snapshots:
            if not_a_copy(snapshot, settings) is not None:
                continue
            try:
                record = records.get(snapshot.arn)
                if record is None or is_newer(snapshot, record):
                    record = ledger.record(snapshot, settings, moment)
                    recorded.append(snapshot.arn)
                if not snapshot.available:
                    if _unfinished_due(snapshot, record.created_at, moment) and _delete(
                        api, snapshot, ledger, moment
                    ):
                        deleted.append(snapshot.arn)
                    continue
                until, _ = kept_until(snapshot, record, settings.min_retention)
                due = until is not None and until <= moment + timedelta(
                    seconds=EXPIRY_GRACE_SECONDS
                )
                if not due:
                    kept += 1
                elif _delete(api, snapshot, ledger, moment):
                    deleted.append(snapshot.arn)
            except errors.PipelineError as error:
                problems.append(f"{snapshot.arn}: {error}")
    result = {
        "deleted": deleted,
        "recorded": recorded,
        "kept": kept,
        "problems": problems,
        "keptAt": iso(moment),
    }
    logger.info("Hourly pass", extra=result)
    return result


def is_schedule(event: Any) -> bool:
    """The EventBridge schedule's event (its hourly pass), as opposed to a request."""
    return isinstance(event, Mapping) and event.get("detail-type") == "Scheduled Event"
