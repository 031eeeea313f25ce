"""One pool of copy slots and its queue: who gets a slot, and when (see `slots` for the why).

A run asks (`request`): its place joins the queue (`pool_table`), and the queue is served at
once (`serve`): each free slot goes to the head of the queue in one DynamoDB transaction, and
the waiting run's task token is completed with its `Grant`. Whoever frees a slot serves the
queue too (`release`, then `serve`), so a freed slot goes to the next run immediately. A holder
whose lease lapsed (a lost run) is reaped when a run asks.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from rds_xacct.admission.pool_table import PoolTable, epoch
from rds_xacct.aws.clients import NETWORK_ERRORS, default_client, network_error
from rds_xacct.model import errors
from rds_xacct.model.constants import (
    APP_NAME,
    SLOT_BATCH_MINUTES,
    SLOT_LEASE_SECONDS,
    SLOT_WAIT_HOURS,
)
from rds_xacct.model.times import iso, parse_iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_stepfunctions import SFNClient

logger = logging.getLogger(APP_NAME)
"""The stdlib logger of the app's name: in the main account's functions, the one Powertools'
Logger configures (same name); in the backup account's slot broker, which ships no Powertools,
a plain one."""

SERVE_BATCH = 25
"""Serving the queue reads only its head: a grant per freed slot, whatever the queue's length."""
_GONE = {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}
"""SendTaskSuccess errors meaning the waiting run is no longer waiting on that token."""


@dataclass(frozen=True)
class Grant:
    """What a waiting run's task receives when it is given a slot."""

    pool: str
    grantedAt: str
    leaseUntil: str

    def output(self) -> str:
        return json.dumps(self.__dict__)


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

    @staticmethod
    def arrival_in(waiter_key: str) -> datetime | None:
        """When a waiter arrived, read back from its sort key (`waiter#<key>#<execution>`, the
        key as `key` writes it); None for a key not so written."""
        parts = waiter_key.split("#")
        try:
            return parse_iso(parts[3]) if len(parts) >= 5 else None
        except ValueError:
            return None


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
        sfn_for: Callable[[str], SFNClient] | None = None,
    ) -> None:
        self.items = PoolTable(table=table, key=key, limit=limit, dynamodb=dynamodb)
        self.key = key
        self.limit = limit
        self._sfn = sfn
        self._sfn_for = sfn_for
        """A Step Functions client able to complete the task tokens of a run (by its execution
        ARN): the function's own, or (the backup account's slot broker) one in the run's
        account and region."""

    def sfn(self, execution_arn: str) -> SFNClient:
        if self._sfn_for is not None:
            return self._sfn_for(execution_arn)
        if self._sfn is None:
            self._sfn = default_client("stepfunctions")
        return self._sfn

    def holders(self) -> list[dict[str, Any]]:
        return self.items.holders()

    def waiters(self, first: int | None = None) -> list[dict[str, Any]]:
        """Waiting runs, in queue order (all, or the `first` few: the head of a long queue)."""
        return self.items.waiters(first)

    def in_use(self) -> int:
        return self.items.in_use()

    def renew(self, execution: str, until: datetime) -> bool:
        """Extend the run's lease (each look at its copy does); False if it holds no slot."""
        return self.items.renew(execution, until)

    # -- taking and giving back --------------------------------------------------------------
    def request(
        self, *, execution: str, execution_arn: str, place: Place, token: str, now: datetime
    ) -> str:
        """A run asks for a slot: it gets one now if one is free and nobody waits before it,
        else when one is freed. Its task token is completed either way (`serve`).

        Asking again (the wait timed out; a Lambda retry) keeps the run's place in the queue."""
        waiter = self.items.waiter(place.key, execution)
        if now - place.arrived > timedelta(hours=SLOT_WAIT_HOURS):
            self.items.forget(waiter)
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
            self._complete(execution_arn, token, Grant(self.key, iso(now), iso(lease)))
            return "granted"
        self.reap(now)
        self.items.queue(
            waiter,
            execution=execution,
            execution_arn=execution_arn,
            token=token,
            expires=place.arrived + timedelta(hours=SLOT_WAIT_HOURS + 24),
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
        execution_arn = waiter.get("executionArn", {}).get("S", "")
        lease = now + timedelta(seconds=SLOT_LEASE_SECONDS)
        taken = self.items.take(waiter, now=now, lease=lease)
        if taken == "changed":
            return "skipped"
        if taken == "held":
            # It holds a slot already (it asked again after being given one): answer it.
            logger.info(f"{execution} asked again for the slot of {self.key} it holds")
            self.items.forget(waiter["sk"]["S"], token)
            self._complete(execution_arn, token, Grant(self.key, iso(now), iso(lease)))
            return "granted"
        if taken == "full":
            return "full"
        if not self._complete(execution_arn, token, Grant(self.key, iso(now), iso(lease))):
            # The run stopped waiting (aborted, or its wait timed out and it will ask again):
            # the slot goes back to the pool at once.
            logger.info(f"{execution} no longer waits for a slot of {self.key}")
            self.release(execution)
            return "skipped"
        logger.info(f"Copy slot of {self.key} given to {execution}")
        return "granted"

    def _complete(self, execution_arn: str, token: str, grant: Grant) -> bool:
        try:
            self.sfn(execution_arn).send_task_success(taskToken=token, output=grant.output())
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _GONE:
                return False
            raise errors.AwsError(f"Completing a copy-slot wait failed: {error}") from error
        except NETWORK_ERRORS as error:
            raise network_error(error, "Completing a copy-slot wait") from error
        return True

    def release(self, execution: str) -> bool:
        """Give back the run's slot, if it holds one (idempotent); the caller serves the queue
        after (`serve`)."""
        released = self.items.give_back(self.items.holder(execution))
        if released:
            logger.info(f"Copy slot of {self.key} given back by {execution}")
        return released

    def forget_waiting(self, execution: str) -> int:
        """Remove the run's place in the queue (it failed or was stopped while waiting)."""
        mine = [w for w in self.waiters() if w["execution"]["S"] == execution]
        for waiter in mine:
            self.items.forget(waiter["sk"]["S"])
        return len(mine)

    def reap(self, now: datetime) -> list[str]:
        """Give back the slots whose lease lapsed (their run is lost); returns those runs."""
        reaped = []
        for holder in self.holders():
            lease = holder.get("leaseUntil", {}).get("N")
            lapsed = lease is not None and int(lease) < epoch(now)
            if lapsed and self.items.give_back(holder["sk"]["S"], lease_seen=lease):
                reaped.append(holder["execution"]["S"])
        return reaped
