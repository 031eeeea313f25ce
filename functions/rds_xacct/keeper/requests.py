"""The keeper's answers to a source account's requests (through the cross-account role and the
keeper's function URL, which tells who asks: rds_xacct.keeper.url), each answered `deleted`,
`refused`, `kept` or `gone` with a reason, by the backup account's rules (rds_xacct.keeper.rules),
never by what the source account says. A source account is answered only about the copies RDS
records as copied from it (`Snapshot.copied_from`, never a tag): another account's copy is
refused, whatever its name:

* `record`: a run's new copy: recorded now from RDS's description (nothing else of the request
  is read but the copy's name), answered `kept` (idempotent);
* `expire`: the run's retention is over; honoured when the kept-until time has come;
* `abandon`: a failed run's own unfinished copy; honoured only for a copy of that very run that
  never completed and was made within the copy deadline.

No request runs the hourly pass (rds_xacct.keeper.hourly), whatever its payload.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from rds_xacct.aws import emf
from rds_xacct.aws.clients import rds_client
from rds_xacct.aws.snapshots import SnapshotApi
from rds_xacct.keeper.ledger import Ledger, delete, record_of
from rds_xacct.keeper.rules import Answer, answer, due, not_a_copy
from rds_xacct.keeper.settings import KeeperSettings
from rds_xacct.model import errors
from rds_xacct.model.arns import Arn
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
    TAG_EXECUTION,
)
from rds_xacct.model.metrics import KEEPER_ANSWERED_REQUESTS, KEEPER_REFUSED_REQUESTS
from rds_xacct.model.naming import is_valid_identifier
from rds_xacct.model.snapshot import Snapshot
from rds_xacct.model.state import Kind
from rds_xacct.model.times import Clock, iso, utc_now

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

_EXECUTION = re.compile(r"^[\w.-]{1,80}$")


def _expire(
    api: SnapshotApi, snapshot: Snapshot, ledger: Ledger, settings: KeeperSettings, now: datetime
) -> Answer:
    record = record_of(ledger, snapshot, settings, now)
    may_delete, until, why = due(snapshot, record, settings, now)
    if until is None:
        return answer(KEPT, snapshot.arn, why)
    if not may_delete:
        return answer(REFUSED, snapshot.arn, why, until)
    if not snapshot.available:
        return answer(REFUSED, snapshot.arn, f"it is {snapshot.status}, not available", until)
    delete(api, snapshot, ledger, now)
    return answer(DELETED, snapshot.arn, f"its kept-until time {iso(until)} has come", until)


def _record(snapshot: Snapshot, ledger: Ledger, settings: KeeperSettings, now: datetime) -> Answer:
    """A run's new copy, recorded now from what RDS says of it (idempotent: a copy already
    recorded keeps its record)."""
    record = record_of(ledger, snapshot, settings, now)
    _, until, why = due(snapshot, record, settings, now)
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
    delete(api, snapshot, ledger, now)
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
    caller: str,
    now: Clock = utc_now,
    rds: Any = None,
    ledger: Ledger | None = None,
) -> Answer:
    """Answer one request from the main account. A request the keeper can't read is refused
    (never an error: the run reports the answer), and so is one it fails to decide on for any
    other reason than AWS (logged). AWS errors raise (`Throttled`, `SnapshotNotReady` clear by
    themselves: the asking step retries). Each answer is counted (an EMF line:
    KEEPER_ANSWERED_REQUESTS, and KEEPER_REFUSED_REQUESTS 1 for a refusal, else 0). `caller`:
    the asking source account, as AWS authenticated it (rds_xacct.keeper.url)."""
    answered = _handle(request, settings=settings, now=now, rds=rds, ledger=ledger, caller=caller)
    refused = int(answered["decision"] == REFUSED)
    emf.emit({KEEPER_ANSWERED_REQUESTS: 1, KEEPER_REFUSED_REQUESTS: refused}, now=now())
    return answered


def _handle(
    request: Any,
    *,
    settings: KeeperSettings,
    now: Clock,
    rds: Any,
    ledger: Ledger | None,
    caller: str,
) -> Answer:
    problem = _request_problem(request)
    if problem is not None:
        about = request.get("snapshot") if isinstance(request, Mapping) else None
        return answer(REFUSED, str(about or "?")[:300], f"unreadable request: {problem}")
    try:
        return _answer(request, settings=settings, now=now, rds=rds, ledger=ledger, caller=caller)
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
    caller: str,
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
    source = Arn.account_of(snapshot.copied_from)
    if source != caller:
        return answer(
            REFUSED,
            snapshot.arn,
            f"it is a copy from the source account {source}, not from the asking account "
            f"{caller}: an account is answered about its own copies only",
        )
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
            "caller": caller,
            "decision": decided["decision"],
            "reason": decided["reason"],
        },
    )
    return decided
