"""Admission control: at most N copies in progress per account and region, across all runs.

RDS allows 20 snapshot copies in progress per account and destination region and refuses the
21st (`SnapshotQuotaExceeded`, "Cannot copy more than 20 snapshots ..."). A backup window of
hundreds of databases would hit that wall at once. So every copy first takes a *slot* of the
pool of the account it lands in (the main account for the first hop, the backup account for
the second), and gives it back as soon as the copy is available.

The pool is a semaphore in DynamoDB, one partition per pool (its items and transactions:
`pool_table`; its queue and who gets a slot: `pool`; the states that take and give back slots:
here):

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

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rds_xacct.admission import broker
from rds_xacct.admission.pool import Place, Pool
from rds_xacct.admission.pool_table import PoolTable
from rds_xacct.aws.accounts import Accounts
from rds_xacct.aws.observability import logger
from rds_xacct.model.arns import Arn
from rds_xacct.model.constants import POOL_BACKUP, POOL_MAIN
from rds_xacct.model.settings import Settings
from rds_xacct.model.times import Clock, iso, parse_iso, utc_now


def pool_key(account: str, region: str) -> str:
    """The pool of copies landing in one account and region."""
    return f"copies#{account}#{region}"


def place_of(state: dict[str, Any], which: str) -> Place:
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


class BrokerPool:
    """The backup account's pool, as a run sees it: each call asks the slot broker there
    (rds_xacct.admission.broker), which runs the pool for every source account copying there.
    It serves the queue on every give-back itself, so `serve` here has nothing to do."""

    def __init__(self, key: str, execution_arn: str, ask: Callable[[dict[str, Any]], Any]):
        self.key = key
        self.execution_arn = execution_arn
        self._ask = ask

    def _call(self, action: str, execution: str, **fields: Any) -> dict[str, Any]:
        request = {"action": action, "execution": execution, "executionArn": self.execution_arn}
        answer: dict[str, Any] = self._ask({**request, **fields})
        return answer

    def request(
        self, *, execution: str, execution_arn: str, place: Place, token: str, now: datetime
    ) -> str:
        weight = {"arrived": iso(place.arrived), "weight": place.weight}
        return str(self._call(broker.REQUEST, execution, place=weight, token=token)["outcome"])

    def release(self, execution: str) -> bool:
        return bool(self._call(broker.RELEASE, execution).get("released"))

    def serve(self, now: datetime) -> list[str]:
        return []

    def renew(self, execution: str, until: datetime) -> bool:
        return bool(self._call(broker.RENEW, execution, leaseUntil=iso(until)).get("renewed"))

    def forget_waiting(self, execution: str) -> int:
        return int(self._call(broker.FORGET, execution).get("forgotten") or 0)


# --- The states that take and give back slots ---------------------------------------------------
def pools(job: Mapping[str, Any], settings: Settings) -> dict[str, Pool | BrokerPool]:
    """The run's two pools: `main` (first hop, main account, the source's region, in this
    account's table) and `backup` (second hop, the backup account, the region the backup copies
    land in, kept by its slot broker): slots count where the copy lands."""
    if not settings.admission_table:
        return {}
    execution = Arn.parse(job["executionArn"])
    region, main_account = execution.region, execution.account
    main = Pool(
        table=settings.admission_table,
        key=pool_key(main_account, region),
        limit=settings.max_copies_in_flight,
    )
    backup_key = pool_key(settings.backup_account_id, settings.landing_region(region))
    backup: Pool | BrokerPool
    if settings.backup_slot_broker_url:
        ask = Accounts(settings, str(job["execution"])).ask_slot_broker
        backup = BrokerPool(backup_key, str(job["executionArn"]), ask)
    else:  # (unit tests of single steps: the backup account's pool in this account's table)
        backup = Pool(
            table=settings.admission_table, key=backup_key, limit=settings.max_copies_in_flight
        )
    return {POOL_MAIN: main, POOL_BACKUP: backup}


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


# --- What the pools hold, for the hourly watch ----------------------------------------------------
@dataclass(frozen=True)
class SlotGauges:
    """Both pools at a glance."""

    in_use: int
    """Copies in flight holding a slot."""
    waiting: int
    """Runs waiting for a slot."""
    oldest_wait_minutes: float
    """How long the run that has waited longest has waited (0 with none waiting)."""


def gauges(settings: Settings, *, now: datetime, dynamodb: Any = None) -> SlotGauges:
    """Both pools of the deployment (the main account's, from its state machine's ARN, read in
    its table; the backup account's, as its slot broker sees it, for every source account):
    slots in use, runs waiting, the longest wait. Reads the whole queue."""
    if not settings.admission_table or not settings.state_machine_arn:
        return SlotGauges(0, 0, 0.0)
    machine = Arn.parse(settings.state_machine_arn)
    places = [(machine.account, machine.region)]
    if not settings.backup_slot_broker_url:
        places.append((settings.backup_account_id, settings.landing_region(machine.region)))
    in_use, waiting, oldest = 0, 0, 0.0
    for account, region in places:
        items = PoolTable(
            table=settings.admission_table,
            key=pool_key(account, region),
            limit=settings.max_copies_in_flight,
            dynamodb=dynamodb,
        )
        in_use += items.in_use()
        arrivals = [Place.arrival_in(w["sk"]["S"]) for w in items.waiters()]
        waiting += len(arrivals)
        known = [arrived for arrived in arrivals if arrived is not None]
        if known:
            oldest = max(oldest, *((now - arrived).total_seconds() / 60 for arrived in known))
    if settings.backup_slot_broker_url:
        looked = Accounts(settings, WATCH_SESSION).ask_slot_broker({"action": broker.LOOK})
        in_use += int(looked.get("inUse") or 0)
        waiting += int(looked.get("waiting") or 0)
        oldest = max(oldest, float(looked.get("oldestWaitMinutes") or 0.0))
    return SlotGauges(in_use, waiting, round(max(oldest, 0.0), 1))


WATCH_SESSION = "watch"
"""The backup role's session name of the hourly watch's look at the backup account's pool."""
