"""The backup account's keeper: the only code that deletes backup copies.

It runs in the backup account (other/backup-account/backup-account.yaml), with a role of that
account, and decides by its own rules (rds_xacct.keeper.rules), never by what the main account
says:

* **Which snapshots are the app's copies**: tagged by the app as backup copies, named as the
  app names them (`xacct-...`), and copied from the main account, as RDS records it
  (`Snapshot.copied_from`, set by RDS and never changed). Anything else is never touched.
* **How long a copy is kept**: the ledger (a DynamoDB table of this account) records, when the
  keeper first sees a copy (the run asks it to `record` its copy right after making it; the
  hourly pass records any other), the expiry it was made with, never earlier than its creation
  time (RDS's; the first sight while RDS reports none, for a copy still being made) plus the
  backup account's minimum retention. Tags rewritten later can move the expiry later (up to
  the longest retention), never earlier. `rds-xacct:keep` written after the copy was recorded
  keeps it for good. At delete time RDS's creation time plus the minimum is checked again.
* **Requests from the main account** (`lambda:Invoke`, through the cross-account role), each
  answered `deleted`, `refused`, `kept` or `gone` with a reason:
  - `record`: a run's new copy: recorded now from RDS's description (nothing else of the
    request is read but the copy's name), answered `kept` (idempotent);
  - `expire`: the run's retention is over; honoured when the kept-until time has come;
  - `abandon`: a failed run's own unfinished copy; honoured only for a copy of that very run
    that never completed and was made within the copy deadline.
* **Every hour** (`keep`, its own function that only the schedule invokes): records new copies,
  deletes those whose kept-until time has come (the runs' requests come first; this catches
  runs that were stopped or lost) and unfinished copies no run will finish. No copy, whatever
  its tags, stops the pass for the others.

Only the standard library and boto3: the backup account runs no third-party code, and its
stack deploys in one command without a build.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from rds_xacct.aws.clients import aws_call, aws_code, default_client, rds_client
from rds_xacct.aws.snapshots import SnapshotApi
from rds_xacct.keeper.rules import (
    ENV_LEDGER_TABLE,
    ENV_LONGEST_RETENTION_DAYS,
    ENV_MAIN_ACCOUNT_ID,
    ENV_MIN_RETENTION_DAYS,
    Answer,
    KeeperSettings,
    Record,
    answer,
    kept_until,
    not_a_copy,
    not_before,
    recorded_expiry,
)
from rds_xacct.model import errors
from rds_xacct.model.constants import (
    APP_NAME,
    COPY_DEADLINE_HOURS,
    KEEPER_ABANDON,
    KEEPER_DECISIONS,
    KEEPER_DELETED,
    KEEPER_EXPIRE,
    KEEPER_GONE,
    KEEPER_KEPT,
    KEEPER_RECORD,
    KEEPER_REFUSED,
    SWEEP_GRACE_HOURS,
    TAG_EXECUTION,
    TAG_KEEP,
)
from rds_xacct.model.naming import is_valid_identifier
from rds_xacct.model.snapshot import Snapshot
from rds_xacct.model.state import Kind
from rds_xacct.model.times import Clock, iso, parse_iso, utc_now

__all__ = [
    "ENV_LEDGER_TABLE",
    "ENV_LONGEST_RETENTION_DAYS",
    "ENV_MAIN_ACCOUNT_ID",
    "ENV_MIN_RETENTION_DAYS",
    "KeeperSettings",
    "Ledger",
    "Record",
    "handle_request",
    "keep",
    "kept_until",
    "not_a_copy",
    "recorded_expiry",
]

logger = logging.getLogger(APP_NAME)

EXPIRE = KEEPER_EXPIRE
ABANDON = KEEPER_ABANDON
RECORD = KEEPER_RECORD
ACTIONS = (EXPIRE, ABANDON, RECORD)

DELETED = KEEPER_DELETED
REFUSED = KEEPER_REFUSED
KEPT = KEEPER_KEPT
GONE = KEEPER_GONE
DECISIONS = KEEPER_DECISIONS
"""The keeper's answers; `decision` in every answer."""

LEDGER_TTL_DAYS = 90
"""A deleted copy's ledger entry is kept this long (DynamoDB TTL), for whoever audits."""

_EXECUTION = re.compile(r"^[\w.-]{1,80}$")


class Ledger:
    """The backup account's record of each copy's kept-until time (one DynamoDB item per
    copy, keyed by its ARN). Written only by the keeper; the main account has no access."""

    def __init__(self, table: str, client: Any = None) -> None:
        self.table = table
        self.client = client or default_client("dynamodb")

    @staticmethod
    def _record(item: Mapping[str, Any]) -> Record:
        until = item.get("keepUntil", {}).get("S")
        keep_tag = item.get("keepTag", {}).get("S")
        return Record(
            arn=item["arn"]["S"],
            created_at=parse_iso(item["createdAt"]["S"]),
            keep_until=parse_iso(until) if until else None,
            first_seen=parse_iso(item["firstSeen"]["S"]),
            # Records written before these were kept: an expiry then always came from a tag,
            # and no copy's `rds-xacct:keep` was recorded.
            expiry_tagged=item.get("expiryTagged", {}).get("BOOL", True),
            keep_tag=keep_tag,
        )

    def all(self) -> dict[str, Record]:
        """Every record, by ARN (one Scan: the hourly pass reads them once). An item the keeper
        can't read is left out (logged): its copy is then looked at on its own."""
        found: dict[str, Record] = {}
        with aws_call(f"Reading the ledger {self.table}"):
            for page in self.client.get_paginator("scan").paginate(
                TableName=self.table, ConsistentRead=True
            ):
                for item in page["Items"]:
                    if "deletedAt" in item:
                        continue
                    try:
                        record = self._record(item)
                    except (KeyError, TypeError, ValueError):
                        logger.exception("Unreadable ledger item", extra={"item": str(item)[:500]})
                        continue
                    found[record.arn] = record
        return found

    def get(self, arn: str) -> Record | None:
        with aws_call(f"Reading the ledger {self.table}"):
            item = self.client.get_item(
                TableName=self.table, Key={"arn": {"S": arn}}, ConsistentRead=True
            ).get("Item")
        return None if item is None or "deletedAt" in item else self._record(item)

    def record(
        self,
        snapshot: Snapshot,
        settings: KeeperSettings,
        now: datetime,
        previous: Record | None = None,
    ) -> Record:
        """The copy's record: the one already there if it is of this very snapshot, else a new
        one, written only if no other writer got there first. A record replacing `previous`
        (RDS reports a creation time later than its first sight) keeps the later of the two
        expiries and `previous`'s keep tag: a replacement only ever lengthens what is kept."""
        created = iso(snapshot.created_at or now)
        until, tagged = recorded_expiry(snapshot, settings, now)
        keep_tag = snapshot.tags.get(TAG_KEEP)
        if previous is not None:
            until = (
                None
                if until is None or previous.keep_until is None
                else max(until, previous.keep_until)
            )
            tagged = tagged or previous.expiry_tagged
            keep_tag = previous.keep_tag
        item: dict[str, Any] = {
            "arn": {"S": snapshot.arn},
            "createdAt": {"S": created},
            "firstSeen": {"S": iso(now)},
            "execution": {"S": snapshot.tags.get(TAG_EXECUTION, "")[:100]},
            "expiryTagged": {"BOOL": tagged},
        }
        if until is not None:
            item["keepUntil"] = {"S": iso(until)}
        if keep_tag is not None:
            item["keepTag"] = {"S": keep_tag}
        # A record is never replaced, except one of a snapshot that is gone: marked deleted, or
        # (deleted by hand and made again under the same name, or RDS reporting a creation time
        # only after the keeper first saw the copy) RDS made this one after the keeper first
        # saw the one it recorded.
        condition = "attribute_not_exists(arn) OR attribute_exists(deletedAt)"
        values: dict[str, Any] = {}
        if snapshot.created_at is not None:
            condition += " OR firstSeen < :created"
            values[":created"] = {"S": created}
        try:
            with aws_call(f"Recording {snapshot.arn} in the ledger"):
                self.client.put_item(
                    TableName=self.table,
                    Item=item,
                    ConditionExpression=condition,
                    **({"ExpressionAttributeValues": values} if values else {}),
                )
        except errors.PipelineError as error:
            if aws_code(error) != "ConditionalCheckFailedException":
                raise
            existing = self.get(snapshot.arn)
            if existing is None:  # pragma: no cover - deleted between the two calls
                raise
            return existing
        logger.info(
            "Recorded a copy",
            extra={
                "snapshot": snapshot.arn,
                "keepUntil": iso(until) if until else None,
                "replaced": previous is not None,
            },
        )
        return Record(snapshot.arn, parse_iso(created), until, now, tagged, keep_tag)

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
    return _recorded(ledger, ledger.get(snapshot.arn), snapshot, settings, now)


def _recorded(
    ledger: Ledger,
    record: Record | None,
    snapshot: Snapshot,
    settings: KeeperSettings,
    now: datetime,
) -> Record:
    if record is None or is_newer(snapshot, record):
        record = ledger.record(snapshot, settings, now, previous=record)
    return record


def is_newer(snapshot: Snapshot, record: Record) -> bool:
    """Did RDS make this snapshot after the keeper first saw the one it recorded under its ARN
    (the recorded one deleted by hand, another made under its name)?"""
    return snapshot.created_at is not None and snapshot.created_at > record.first_seen


# --- Deleting -----------------------------------------------------------------------------------
def _delete(api: SnapshotApi, snapshot: Snapshot, ledger: Ledger, now: datetime) -> bool:
    deleted = api.delete(snapshot.identifier)
    ledger.forget(snapshot.arn, now)
    logger.info(
        "Deleted a backup copy", extra={"snapshot": snapshot.arn, "status": snapshot.status}
    )
    return deleted


def _due(
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


def _expire(
    api: SnapshotApi, snapshot: Snapshot, ledger: Ledger, settings: KeeperSettings, now: datetime
) -> Answer:
    record = record_of(ledger, snapshot, settings, now)
    due, until, why = _due(snapshot, record, settings, now)
    if until is None:
        return answer(KEPT, snapshot.arn, why)
    if not due:
        return answer(REFUSED, snapshot.arn, why, until)
    if not snapshot.available:
        return answer(REFUSED, snapshot.arn, f"it is {snapshot.status}, not available", until)
    _delete(api, snapshot, ledger, now)
    return answer(DELETED, snapshot.arn, f"its kept-until time {iso(until)} has come", until)


def _record(snapshot: Snapshot, ledger: Ledger, settings: KeeperSettings, now: datetime) -> Answer:
    """A run's new copy, recorded now from what RDS says of it (idempotent: a copy already
    recorded keeps its record)."""
    record = record_of(ledger, snapshot, settings, now)
    _, until, why = _due(snapshot, record, settings, now)
    return answer(KEPT, snapshot.arn, f"recorded: {why}", until)


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
    (never an error: the run reports the answer), and so is one it fails to decide on for any
    other reason than AWS (logged). AWS errors raise (`Throttled`, `SnapshotNotReady` clear by
    themselves: the asking step retries)."""
    problem = _request_problem(request)
    if problem is not None:
        about = request.get("snapshot") if isinstance(request, Mapping) else None
        return answer(REFUSED, str(about or "?")[:300], f"unreadable request: {problem}")
    try:
        return _answer(request, settings=settings, now=now, rds=rds, ledger=ledger)
    except errors.PipelineError:
        raise
    except Exception as error:  # no request may crash the keeper
        logger.exception("Could not decide on a request", extra={"request": dict(request)})
        return answer(
            REFUSED,
            request["snapshot"],
            f"the keeper could not decide ({type(error).__name__}): nothing was deleted",
        )


def _answer(
    request: Mapping[str, Any],
    *,
    settings: KeeperSettings,
    now: Clock,
    rds: Any,
    ledger: Ledger | None,
) -> Answer:
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
    if request["action"] == RECORD:
        decided = _record(snapshot, ledger, settings, moment)
    elif request["action"] == EXPIRE:
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
    whose kept-until time has come and unfinished ones no run will finish. A problem with one
    copy, whatever it is (an AWS error, or tags or times the keeper can't read), is reported
    and logged, and the others still looked at: no copy stops the pass."""
    ledger = ledger or Ledger(settings.ledger_table)
    client = rds or rds_client()
    moment = now()
    records = ledger.all()
    result: dict[str, Any] = {"deleted": [], "recorded": [], "kept": 0, "problems": []}
    for kind in ("db", "cluster"):
        api = SnapshotApi(client, kind)
        try:
            snapshots = api.list_manual()
        except Exception as error:  # the other kind is still looked at
            logger.exception("Could not list snapshots", extra={"kind": kind})
            result["problems"].append(f"{kind} snapshots: {error}")
            continue
        for snapshot in snapshots:
            try:
                _pass_one(
                    api,
                    snapshot,
                    (ledger, records.get(snapshot.arn)),
                    settings,
                    now=moment,
                    result=result,
                )
            except Exception as error:  # one copy never stops the pass
                logger.exception("Could not look at a copy", extra={"snapshot": snapshot.arn})
                result["problems"].append(f"{snapshot.arn}: {type(error).__name__}: {error}")
    result["keptAt"] = iso(moment)
    logger.info("Hourly pass", extra=result)
    return result


def _pass_one(
    api: SnapshotApi,
    snapshot: Snapshot,
    ledger_and_record: tuple[Ledger, Record | None],
    settings: KeeperSettings,
    *,
    now: datetime,
    result: dict[str, Any],
) -> None:
    """The hourly pass's look at one snapshot, its outcome added to `result`."""
    if not_a_copy(snapshot, settings) is not None:
        return
    ledger, record = ledger_and_record
    if record is None or is_newer(snapshot, record):
        record = _recorded(ledger, record, snapshot, settings, now)
        result["recorded"].append(snapshot.arn)
    if not snapshot.available:
        if _unfinished_due(snapshot, record.created_at, now) and _delete(
            api, snapshot, ledger, now
        ):
            result["deleted"].append(snapshot.arn)
        return
    due, _, _ = _due(snapshot, record, settings, now)
    if not due:
        result["kept"] += 1
    elif _delete(api, snapshot, ledger, now):
        result["deleted"].append(snapshot.arn)
