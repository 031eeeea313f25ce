"""Admission control: at most N copies in progress per account and region, across all runs.

RDS allows 20 snapshot copies in progress per account and destination region and refuses the
21st (`SnapshotQuotaExceeded`, "Cannot copy more than 20 snapshots ..."). A backup window of
hundreds of databases would hit that wall at once. So every copy first takes a *slot* of the
pool of the account it lands in (the main account for the first hop, the backup account for
the second), and gives it back as soon as the copy is available.

The pool is a semaphore in DynamoDB, one partition per pool:

    (pool, "count")                      inUse: slots taken
    (pool, "holder#<execution>")         a run holding a slot, with its lease
    (pool, "waiter#<place>#<execution>")  a run waiting, with its task token

A run asks with a `.waitForTaskToken` task: its request joins the queue and the queue is served
at once. The queue is in arrival order by half-hour (SLOT_BATCH_MINUTES) and, within a
half-hour, the largest copy first: a backup window's runs all arrive within minutes, and the
longest copy started last is what makes a window drain late (in a scheduling model of
`make bench`'s 200-database window with 20 slots, first-come-first-served drains in about 1.22
times the physical floor, largest-first in 1.15); no run waits behind one that arrived in a
later half-hour, so none starves. Whoever frees a slot serves the queue too, completing the next
waiter's task token, so a freed slot goes to the next run immediately — nobody polls for room.
Every grant is one DynamoDB transaction (count below the limit, holder put, waiter removed with
its token), so two runs serving the queue at once can never over-grant.

Slots always come back: on release (copy available), in Cleanup (every failure path, and the
stopped-run path for aborted and timed-out runs), and by lease: a holder's lease is renewed by
each look at its copy; a lapsed lease (a lost run) is reaped whenever a waiting run's wait times
out (every SLOT_RECHECK_SECONDS), and its slot goes to the queue.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from rds_xacct.admission import contention
from rds_xacct.aws.clients import NETWORK_ERRORS, aws_call, default_client, network_error
from rds_xacct.aws.observability import logger
from rds_xacct.model import errors
from rds_xacct.model.constants import (
    POOL_BACKUP,
    POOL_MAIN,
    SLOT_BATCH_MINUTES,
    SLOT_LEASE_SECONDS,
    SLOT_WAIT_HOURS,
)
from rds_xacct.model.settings import Settings
from rds_xacct.model.times import Clock, iso, parse_iso, utc_now

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_stepfunctions import SFNClient

COUNT = "count"
HOLDER = "holder#"
WAITER = "waiter#"
SERVE_BATCH = 25
"""Serving the queue reads only its head: a grant per freed slot, whatever the queue's length."""
_TAKE = "SET inUse = if_not_exists(inUse, :zero) + :one"
_ROOM = "attribute_not_exists(inUse) OR inUse < :limit"
_GONE = {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}
"""SendTaskSuccess errors meaning the waiting run is no longer waiting on that token."""


def pool_key(account: str, region: str) -> str:
    """The pool of copies landing in one account and region."""
    return f"copies#{account}#{region}"


def _s(value: str) -> dict[str, Any]:
    return {"S": value}


def _n(value: float) -> dict[str, Any]:
    return {"N": str(int(value))}


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


@dataclass(frozen=True)
class Grant:
    """What a waiting run's task receives when it is given a slot."""

    pool: str
    grantedAt: str
    leaseUntil: str

    def output(self) -> str:
        return json.dumps(self.__dict__)


class Pool:
    """One pool of copy slots (DynamoDB) and the callbacks that hand them out (Step Functions)."""

    def __init__(
        self,
        *,
        table: str,
        key: str,
        limit: int,
        dynamodb: DynamoDBClient | None = None,
        sfn: SFNClient | None = None,
    ) -> None:
        self.table = table
        self.key = key
        self.limit = limit
        self.dynamodb: DynamoDBClient = dynamodb or default_client("dynamodb")
        self.sfn: SFNClient = sfn or default_client("stepfunctions")

    # -- items -------------------------------------------------------------------------------
    def _item_key(self, sort: str) -> dict[str, Any]:
        return {"pk": _s(self.key), "sk": _s(sort)}

    def _holder(self, execution: str) -> str:
        return f"{HOLDER}{execution}"

    def _waiter(self, place: Place, execution: str) -> str:
        return f"{WAITER}{place.key}#{execution}"

    def _query(self, prefix: str, first: int | None = None) -> list[dict[str, Any]]:
        """The pool's items under `prefix`, in key order (all of them, or the `first` few)."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": _s(self.key), ":prefix": _s(prefix)},
            "ConsistentRead": True,
            **({"Limit": first} if first else {}),
        }
        with aws_call(f"Reading the copy slots of {self.key}"):
            while True:
                page = self.dynamodb.query(**kwargs)
                items.extend(page.get("Items", []))
                if "LastEvaluatedKey" not in page or (first and len(items) >= first):
                    return items
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def holders(self) -> list[dict[str, Any]]:
        return self._query(HOLDER)

    def waiters(self, first: int | None = None) -> list[dict[str, Any]]:
        """Waiting runs, in queue order (all, or the `first` few: the head of a long queue)."""
        return self._query(WAITER, first)

    def in_use(self) -> int:
        with aws_call(f"Reading the copy slots of {self.key}"):
            item = self.dynamodb.get_item(
                TableName=self.table, Key=self._item_key(COUNT), ConsistentRead=True
            ).get("Item")
        return int(item["inUse"]["N"]) if item and "inUse" in item else 0

    # -- taking and giving back --------------------------------------------------------------
    def request(
        self, *, execution: str, execution_arn: str, place: Place, token: str, now: datetime
    ) -> str:
        """A run asks for a slot: it gets one now if one is free and nobody waits before it,
        else when one is freed. Its task token is completed either way (`serve`).

        Asking again (the wait timed out; a Lambda retry) keeps the run's place in the queue."""
        if now - place.arrived > timedelta(hours=SLOT_WAIT_HOURS):
            self._forget(self._waiter(place, execution))
            raise errors.NoCopySlot(
                f"No copy slot of {self.key} came free in {SLOT_WAIT_HOURS} hours (the pool has "
                f"{self.limit} slot(s), {self.in_use()} taken, {len(self.waiters())} run(s) "
                f"waiting). "
                f"Copies may be stuck, or the window holds more than the account copies in a "
                f"day: check the runs holding slots, or raise MaxCopiesInFlight (RDS allows 20)."
            )
        lease = now + timedelta(seconds=SLOT_LEASE_SECONDS)
        if self.renew(execution, lease):
            # It holds a slot already (given one, but the answer went astray): answer it now,
            # rather than queue it behind others while the slot it holds sits idle.
            self._complete(token, Grant(self.key, iso(now), iso(lease)))
            return "granted"
        self.reap(now)
        contention.write(
            f"Queueing for a copy slot of {self.key}",
            lambda: self.dynamodb.put_item(
                TableName=self.table,
                Item={
                    **self._item_key(self._waiter(place, execution)),
                    "token": _s(token),
                    "execution": _s(execution),
                    "executionArn": _s(execution_arn),
                    "expiresAt": _n(_epoch(place.arrived + timedelta(hours=SLOT_WAIT_HOURS + 24))),
                },
            ),
        )
        granted = self.serve(now)
        return "granted" if execution in granted else "queued"

    def serve(self, now: datetime) -> list[str]:
        """Hand free slots to the waiting runs, first come first; returns the runs served."""
        served: list[str] = []
        while True:
            waiters = self.waiters(first=SERVE_BATCH)
            if not waiters:
                return served
            progressed = False
            for waiter in waiters:
                outcome = self._grant(waiter, now)
                if outcome == "full":
                    return served
                if outcome == "granted":
                    served.append(waiter["execution"]["S"])
                    progressed = True
                    break
            if not progressed:
                return served

    def _grant(self, waiter: dict[str, Any], now: datetime) -> str:
        """One waiter gets a slot (`granted`), the pool is `full`, or the waiter changed under us
        (`skipped`: another run served it, or it asked again with a new token)."""
        execution = waiter["execution"]["S"]
        token = waiter["token"]["S"]
        lease = now + timedelta(seconds=SLOT_LEASE_SECONDS)
        remove: Any = {
            "TableName": self.table,
            "Key": {"pk": waiter["pk"], "sk": waiter["sk"]},
            **_token_is(token),
        }
        try:
            contention.write(
                f"Giving a copy slot of {self.key} to {execution}",
                lambda: self.dynamodb.transact_write_items(
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": self.table,
                                "Key": self._item_key(COUNT),
                                "UpdateExpression": _TAKE,
                                "ConditionExpression": _ROOM,
                                "ExpressionAttributeValues": {
                                    ":zero": _n(0),
                                    ":one": _n(1),
                                    ":limit": _n(self.limit),
                                },
                            }
                        },
                        {
                            "Put": {
                                "TableName": self.table,
                                "Item": {
                                    **self._item_key(self._holder(execution)),
                                    "execution": _s(execution),
                                    "executionArn": waiter["executionArn"],
                                    "since": _s(iso(now)),
                                    "leaseUntil": _n(_epoch(lease)),
                                },
                                "ConditionExpression": "attribute_not_exists(sk)",
                            }
                        },
                        {"Delete": remove},
                    ]
                ),
            )
        except errors.PipelineError as error:
            reasons = _failed_conditions(error, items=3)
            if reasons is None:
                raise
            count_failed, holder_failed, waiter_failed = reasons
            if waiter_failed:
                return "skipped"
            if holder_failed:
                # It holds a slot already (it asked again after being given one): answer it.
                logger.info(f"{execution} asked again for the slot of {self.key} it holds")
                self._forget(waiter["sk"]["S"], token)
                self._complete(token, Grant(self.key, iso(now), iso(lease)))
                return "granted"
            if count_failed:
                return "full"
            raise
        if not self._complete(token, Grant(self.key, iso(now), iso(lease))):
            # The run stopped waiting (aborted, or its wait timed out and it will ask again):
            # the slot goes back to the pool at once.
            logger.info(f"{execution} no longer waits for a slot of {self.key}")
            self.release(execution)
            return "skipped"
        logger.info(f"Copy slot of {self.key} given to {execution}")
        return "granted"

    def _complete(self, token: str, grant: Grant) -> bool:
        try:
            self.sfn.send_task_success(taskToken=token, output=grant.output())
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _GONE:
                return False
            raise errors.AwsError(f"Completing a copy-slot wait failed: {error}") from error
        except NETWORK_ERRORS as error:
            raise network_error(error, "Completing a copy-slot wait") from error
        return True

    def _forget(self, sort: str, token: str | None = None) -> None:
        condition: Any = _token_is(token) if token is not None else {}
        try:
            contention.write(
                f"Removing {sort} from {self.key}",
                lambda: self.dynamodb.delete_item(
                    TableName=self.table, Key=self._item_key(sort), **condition
                ),
            )
        except errors.PipelineError as error:
            if not contention.condition_failed(error):
                raise

    def release(self, execution: str) -> bool:
        """Give back the run's slot, if it holds one (idempotent); the caller serves the queue
        after (`serve`)."""
        released = self._release(self._holder(execution))
        if released:
            logger.info(f"Copy slot of {self.key} given back by {execution}")
        return released

    def _release(self, sort: str, lease_seen: str | None = None) -> bool:
        condition = "attribute_exists(sk)"
        values: dict[str, Any] = {}
        if lease_seen is not None:
            condition += " AND leaseUntil = :seen"
            values[":seen"] = {"N": lease_seen}
        delete: Any = {
            "TableName": self.table,
            "Key": self._item_key(sort),
            "ConditionExpression": condition,
        }
        if values:
            delete["ExpressionAttributeValues"] = values
        try:
            contention.write(
                f"Giving back a copy slot of {self.key}",
                lambda: self.dynamodb.transact_write_items(
                    TransactItems=[
                        {"Delete": delete},
                        {
                            "Update": {
                                "TableName": self.table,
                                "Key": self._item_key(COUNT),
                                "UpdateExpression": "SET inUse = inUse - :one",
                                "ConditionExpression": "inUse > :zero",
                                "ExpressionAttributeValues": {":one": _n(1), ":zero": _n(0)},
                            }
                        },
                    ]
                ),
            )
        except errors.PipelineError as error:
            if _failed_conditions(error, items=2) is None:
                raise
            return False  # not held (already given back, or reaped)
        return True

    def forget_waiting(self, execution: str) -> int:
        """Remove the run's place in the queue (it failed or was stopped while waiting)."""
        mine = [w for w in self.waiters() if w["execution"]["S"] == execution]
        for waiter in mine:
            self._forget(waiter["sk"]["S"])
        return len(mine)

    def renew(self, execution: str, until: datetime) -> bool:
        """Extend the run's lease (each look at its copy does); False if it holds no slot."""
        try:
            contention.write(
                f"Renewing the copy slot of {execution} in {self.key}",
                lambda: self.dynamodb.update_item(
                    TableName=self.table,
                    Key=self._item_key(self._holder(execution)),
                    UpdateExpression="SET leaseUntil = :until",
                    ConditionExpression="attribute_exists(sk)",
                    ExpressionAttributeValues={":until": _n(_epoch(until))},
                ),
            )
        except errors.PipelineError as error:
            if contention.condition_failed(error):
                return False
            raise
        return True

    def reap(self, now: datetime) -> list[str]:
        """Give back the slots whose lease lapsed (their run is lost); returns those runs."""
        reaped = []
        for holder in self.holders():
            lease = holder.get("leaseUntil", {}).get("N")
            lapsed = lease is not None and int(lease) < _epoch(now)
            if lapsed and self._release(holder["sk"]["S"], lease_seen=lease):
                reaped.append(holder["execution"]["S"])
        return reaped


def _token_is(token: str) -> Any:
    """The condition that a waiter item still holds this task token (not a newer one)."""
    return {
        "ConditionExpression": "#token = :token",
        "ExpressionAttributeNames": {"#token": "token"},
        "ExpressionAttributeValues": {":token": _s(token)},
    }


def _failed_conditions(error: errors.PipelineError, *, items: int) -> tuple[bool, ...] | None:
    """Which items' conditions failed in a transaction cancelled for that reason, or None if it
    was not (not a cancellation, or one for conflicts and throttling that outlasted `write`)."""
    reasons = contention.cancellation_reasons(error)
    if reasons is None or contention.CONDITION_FAILED not in reasons:
        return None
    failed = [reason == contention.CONDITION_FAILED for reason in reasons]
    return tuple(failed + [False] * (items - len(failed)))


@dataclass(frozen=True)
class Place:
    """A run's place in a pool's queue: deterministic from the run's state, so that asking
    again (a wait timed out, a Lambda retry) keeps it."""

    arrived: datetime
    weight: int
    """How big the copy is: the larger goes first within its half-hour."""

    @property
    def key(self) -> str:
        batch = self.arrived - timedelta(
            minutes=self.arrived.minute % SLOT_BATCH_MINUTES,
            seconds=self.arrived.second,
            microseconds=self.arrived.microsecond,
        )
        return f"{iso(batch)}#{max(0, 10**10 - self.weight):011d}#{iso(self.arrived)}"


def place_of(state: Mapping[str, Any], which: str) -> Place:
    """The main pool: from when the run started, weighed by the source's size; the backup pool:
    from when its intermediate copy became available, weighed by how long that copy took (the best
    estimate of the second copy's time)."""
    job = state["job"]
    if which == POOL_BACKUP:
        intermediate = state["intermediate"]
        available = parse_iso(intermediate.get("availableAt") or job["startedAt"])
        took = available - parse_iso(intermediate.get("copyStartedAt") or iso(available))
        return Place(available, int(took.total_seconds()))
    return Place(parse_iso(job["startedAt"]), int(job["source"].get("sizeGiB") or 0))


# --- The states that take and give back slots ---------------------------------------------------
def pools(job: Mapping[str, Any], settings: Settings) -> dict[str, Pool]:
    """The run's two pools: `main` (first hop, main account) and `backup` (second hop)."""
    if not settings.admission_table:
        return {}
    parts = job["executionArn"].split(":")
    region, main_account = parts[3], parts[4]
    return {
        which: Pool(table=settings.admission_table, key=key, limit=settings.max_copies_in_flight)
        for which, key in (
            (POOL_MAIN, pool_key(main_account, region)),
            (POOL_BACKUP, pool_key(settings.backup_account_id, region)),
        )
    }


def acquire_slot(
    state: dict[str, Any], which: str, token: str, *, settings: Settings, now: Clock = utc_now
) -> dict[str, Any]:
    """Join the pool's queue; the task token is completed when the run gets its slot."""
    job = state["job"]
    pool = pools(job, settings)[which]
    outcome = pool.request(
        execution=job["execution"],
        execution_arn=job["executionArn"],
        place=place_of(state, which),
        token=token,
        now=now(),
    )
    return {"pool": pool.key, "outcome": outcome}


def release_slot(
    state: dict[str, Any], which: str, *, settings: Settings, now: Clock = utc_now
) -> dict[str, Any]:
    """The copy is available: give its slot back and hand it to the next waiting run."""
    job = state["job"]
    pool = pools(job, settings)[which]
    released = pool.release(job["execution"])
    served = pool.serve(now())
    return {**(state.get("slots") or {}).get(which, {}), "released": released, "served": served}


def renew_slot(job: Mapping[str, Any], which: str, until: datetime, *, settings: Settings) -> None:
    """A look at a copy in progress: its run is alive, extend its lease."""
    pool = pools(job, settings).get(which)
    if pool is not None and not pool.renew(job["execution"], until):
        logger.warning(f"{job['execution']} holds no slot of {pool.key} while copying")


def give_back_everything(job: Mapping[str, Any], *, settings: Settings, now: datetime) -> list[str]:
    """After a failure or a stop: the run's slots and places in the queues, all given back."""
    actions = []
    for which, pool in pools(job, settings).items():
        if pool.forget_waiting(job["execution"]):
            actions.append(f"left the queue for a {which} copy slot")
        if pool.release(job["execution"]):
            actions.append(f"gave back its {which} copy slot")
        pool.serve(now)
    return actions
