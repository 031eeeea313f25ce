"""The backup account's copy-slot broker: ONE pool of copy slots for every copy landing in this
account and region, whichever source account makes it.

RDS allows 20 snapshot copies in progress per account and destination region. Each main stack
counts its own first hop, but the second hop lands here: two source accounts counting their own
slots for it would together exceed the limit. So the pool of copies into the backup account
lives here, behind a function URL with IAM auth (functions/slot_broker.py), and is run by this
account's own function: no source account can write its table, zero its count or complete
another's wait.

The pool is the same semaphore as the main account's (`pool.Pool`, `pool_table`): a
transaction per grant, leases and reaping, the queue in arrival half-hours, largest copy first.
What the broker adds:

* **Who asks is AWS's word, not the request's:** the caller's account comes from the signed
  function-URL request (`rds_xacct.aws.function_url.caller_account`), and every run is known
  to the pool as `<account>-<execution>`, so two accounts' runs of the same name are two runs,
  and account X can neither renew, give back nor forget account Y's slot or place.
* **A run's execution ARN must be in the caller's account** (that is where its task token is
  completed), and its arrival is taken no earlier than `SLOT_WAIT_HOURS` ago nor later than now.
* **Waking a waiting run:** Step Functions has no resource policies (a task token can only be
  completed by a principal of the run's account), so the broker assumes the run's account's
  callback role, `<prefix>-slot-callback-<region>` (template.yaml `SlotCallbackRole`, which may
  only complete task tokens and trusts only this broker's role), named from the run's state
  machine `<prefix>-copy-snapshot`, in the run's region.

What a compromised source account can still do here: ask for slots for runs it does not have
(they are reaped when their lease lapses, `SLOT_LEASE_SECONDS`), and order its own runs within
a half-hour by the size it claims. It can't exceed the limit or touch another account's runs.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rds_xacct.admission import callbacks
from rds_xacct.admission.pool import Place, Pool
from rds_xacct.aws import function_url
from rds_xacct.aws.clients import (
    default_client,
)
from rds_xacct.model import errors
from rds_xacct.model.arns import Arn
from rds_xacct.model.constants import (
    APP_NAME,
    RDS_COPIES_IN_PROGRESS_LIMIT,
    SLOT_LEASE_SECONDS,
    SLOT_WAIT_HOURS,
)
from rds_xacct.model.settings import ConfigurationError
from rds_xacct.model.times import Clock, parse_iso, utc_now

if TYPE_CHECKING:
    pass

REQUEST, RELEASE, RENEW, FORGET, LOOK = "request", "release", "renew", "forget", "look"
ACTIONS = (REQUEST, RELEASE, RENEW, FORGET, LOOK)

logger = logging.getLogger(APP_NAME)

ENV_TABLE = "SLOTS_TABLE"
ENV_LIMIT = "SLOTS_POOL_SIZE"
"""The pool's size (the backup stack's MaxCopiesInFlight), named apart from the main functions'
MAX_COPIES_IN_FLIGHT: the simulation runs both in one process."""
ENV_CALLER_ROLE_ARN = "CALLER_ROLE_ARN"
"""The backup account's cross-account role, whose sessions alone may ask (named after their
source account: rds_xacct.aws.function_url.caller_account), as the keeper's."""
_EXECUTION = re.compile(r"^[\w.-]{1,80}$")


class Refused(Exception):
    """A request the broker will not act on (answered 400/403, never retried)."""


@dataclass(frozen=True)
class BrokerSettings:
    """The broker's settings, read from its environment (set by the backup-account stack)."""

    table: str
    limit: int
    account: str
    region: str
    role_name: str = ""

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, function_arn: str | None = None
    ) -> BrokerSettings:
        """From the function's environment; its region from its own ARN (the Lambda context's
        `invoked_function_arn`) when given, else from AWS_REGION (set by the Lambda runtime)."""
        env = os.environ if env is None else env
        table, region = env.get(ENV_TABLE, ""), env.get("AWS_REGION", "")
        if function_arn:
            region = Arn.parse(function_arn).region
        try:
            limit = int(env.get(ENV_LIMIT, "0"))
        except ValueError:
            limit = 0
        problems = [] if table else [f"{ENV_TABLE} must name the slots table"]
        role_name = Arn.name_of(env.get(ENV_CALLER_ROLE_ARN, ""))
        if not role_name:
            problems.append(f"{ENV_CALLER_ROLE_ARN} must be the cross-account role's ARN")
        if not 1 <= limit <= RDS_COPIES_IN_PROGRESS_LIMIT:
            problems.append(f"{ENV_LIMIT} must be from 1 to {RDS_COPIES_IN_PROGRESS_LIMIT}")
        if problems:
            raise ConfigurationError("Invalid slot broker settings: " + "; ".join(problems))
        return cls(
            table=table,
            limit=limit,
            account=env.get("BACKUP_ACCOUNT_ID", ""),
            region=region,
            role_name=role_name,
        )

    @property
    def pool_key(self) -> str:
        """The pool of copies landing here (as `slots.pool_key` names pools)."""
        return f"copies#{self.account}#{self.region}"


def _run(request: Mapping[str, Any], caller: str) -> tuple[str, str]:
    """The run asking, as the pool knows it (`<account>-<execution>`), and its execution ARN,
    which must be a run of the caller's account."""
    execution = request.get("execution")
    if not isinstance(execution, str) or not _EXECUTION.match(execution):
        raise Refused("execution must name the run asking (its execution name)")
    execution_arn = str(request.get("executionArn") or "")
    try:
        arn = Arn.parse(execution_arn)
    except ValueError:
        raise Refused("executionArn must be the run's execution ARN") from None
    if arn.service != "states" or arn.account != caller:
        raise Refused(f"{execution_arn} is not a run of the asking account {caller}")
    try:
        callbacks.role_arn(execution_arn)
    except ValueError as error:
        raise Refused(str(error)) from None
    return f"{caller}-{execution}", execution_arn


def _place(request: Mapping[str, Any], now: datetime) -> Place:
    """The run's place, as it claims it, its arrival kept within the last SLOT_WAIT_HOURS."""
    place = request.get("place")
    if not isinstance(place, Mapping):
        raise Refused("place must give the run's arrival and weight")
    try:
        arrived = parse_iso(str(place["arrived"]))
        weight = max(0, int(place["weight"]))
    except (KeyError, TypeError, ValueError):
        raise Refused("place must give the run's arrival (a time) and weight (a number)") from None
    earliest = now - timedelta(hours=SLOT_WAIT_HOURS)
    return Place(min(max(arrived, earliest), now), weight)


def handle(
    request: Any,
    caller: str,
    *,
    settings: BrokerSettings,
    now: datetime,
    pool: Pool | None = None,
) -> dict[str, Any]:
    """Answer one request of a source account (`caller`, from AWS's record of who signed it).
    Raises `Refused` for a request it will not act on; AWS errors raise as the pool raises them
    (the asking step retries those that clear by themselves)."""
    if not isinstance(request, Mapping) or request.get("action") not in ACTIONS:
        raise Refused(f"a request is a JSON object whose action is one of {', '.join(ACTIONS)}")
    pool = pool or Pool(
        table=settings.table,
        key=settings.pool_key,
        limit=settings.limit,
        dynamodb=default_client("dynamodb"),
        sfn_for=callbacks.client(settings.account),
    )
    action = request["action"]
    if action == LOOK:
        return _look(pool, now)
    run, execution_arn = _run(request, caller)
    if action == REQUEST:
        token = request.get("token")
        if not isinstance(token, str) or not token:
            raise Refused("token must be the waiting task's token")
        outcome = pool.request(
            execution=run,
            execution_arn=execution_arn,
            place=_place(request, now),
            token=token,
            now=now,
        )
        return {"pool": pool.key, "outcome": outcome}
    if action == RENEW:
        try:
            until = parse_iso(str(request["leaseUntil"]))
        except (KeyError, ValueError):
            raise Refused("leaseUntil must be a time") from None
        # (no lease longer than a slot's own: a run that stops looking is reaped in time)
        longest = now + timedelta(seconds=SLOT_LEASE_SECONDS)
        return {"pool": pool.key, "renewed": pool.renew(run, min(until, longest))}
    if action == RELEASE:
        released = pool.release(run)
        return {"pool": pool.key, "released": released, "served": pool.serve(now)}
    # (a place in the queue holds no slot: forgetting it frees none; a run that failed gives its
    # slot back with `release`, as `slots.give_back_everything` asks for both pools)
    return {"pool": pool.key, "forgotten": pool.forget_waiting(run)}


def _look(pool: Pool, now: datetime) -> dict[str, Any]:
    """The pool at a glance (the main account's hourly watch): slots in use, runs waiting and
    when the longest-waiting one arrived. Nothing about whose runs they are."""
    arrivals = [Place.arrival_in(w["sk"]["S"]) for w in pool.waiters()]
    known = [arrived for arrived in arrivals if arrived is not None]
    oldest = max((now - arrived).total_seconds() / 60 for arrived in known) if known else 0.0
    return {
        "pool": pool.key,
        "inUse": pool.in_use(),
        "waiting": len(arrivals),
        "oldestWaitMinutes": round(max(oldest, 0.0), 1),
    }


def answer_url_request(
    event: Any, *, settings: BrokerSettings, now: Clock = utc_now, pool: Pool | None = None
) -> dict[str, Any]:
    """The function URL's answer: 403 unless a session of the cross-account role named after a
    source account signed the request; 400 for a request the broker refuses; 503 for an AWS
    error that clears by itself (the asking step retries), 500 for any other; else 200 and the
    broker's answer."""
    caller = function_url.caller_account(event, settings.role_name)
    if caller is None:
        return function_url.response(
            403, {"message": f"only the {settings.role_name} role's sessions may ask"}
        )
    request = function_url.body(event)
    try:
        answered = handle(request, caller, settings=settings, now=now(), pool=pool)
    except Refused as refused:
        logger.warning("Refused a slot request", extra={"caller": caller, "reason": str(refused)})
        return function_url.response(400, {"message": str(refused)})
    except errors.PipelineError as error:
        retryable = isinstance(error, errors.RETRYABLE)
        logger.warning("A slot request failed", extra={"caller": caller, "error": str(error)})
        return function_url.response(
            503 if retryable else 500,
            {"errorType": type(error).__name__, "errorMessage": str(error)},
        )
    return function_url.response(200, answered)
