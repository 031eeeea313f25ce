"""Admission control on its own (Given / When / Then): the copy-slot pools in DynamoDB (moto) and
the steps that take and give back slots, without the state machine. The waiting runs' task
tokens go to a fake Step Functions client that records them (or finds the run gone)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any, cast

import pytest

from rds_xacct.admission import slots as admission
from rds_xacct.admission.pool import Place, Pool
from rds_xacct.admission.slots import pool_key
from rds_xacct.model import errors
from rds_xacct.model.constants import (
    POOL_BACKUP,
    POOL_MAIN,
    SLOT_BATCH_MINUTES,
    SLOT_LEASE_SECONDS,
    SLOT_WAIT_HOURS,
)
from rds_xacct.model.times import iso, parse_iso
from simulation.moto import SimClock
from simulation.world import BACKUP_ACCOUNT, MAIN_ACCOUNT, REGION, World
from tests.unit.conftest import TABLE, FakeSfn

MAIN = pool_key(MAIN_ACCOUNT, REGION)
BACKUP = pool_key(BACKUP_ACCOUNT, REGION)


def make_pool(sfn: FakeSfn, limit: int = 1, key: str = MAIN) -> Pool:
    return Pool(table=TABLE, key=key, limit=limit, sfn=cast(Any, sfn))


def ask(pool: Pool, run: str, place: Place, now: datetime, token: str | None = None) -> str:
    """A run's WaitFor…Slot task: its request, with a fresh task token unless given one."""
    return pool.request(
        execution=run,
        execution_arn=execution_arn(run),
        place=place,
        token=token or f"{run}-token",
        now=now,
    )


def hand_on(pool: Pool, run: str, now: datetime) -> list[str]:
    """`run`'s copy is available: it gives back its slot and serves the queue (ReleaseSlot)."""
    assert pool.release(run) is True
    return pool.serve(now)


def execution_arn(name: str) -> str:
    return f"arn:aws:states:{REGION}:{MAIN_ACCOUNT}:execution:rds-xacct-copy-snapshot:{name}"


def holders(pool: Pool) -> dict[str, int]:
    """Runs holding a slot → their lease (epoch seconds)."""
    return {h["execution"]["S"]: int(h["leaseUntil"]["N"]) for h in pool.holders()}


def waiting(pool: Pool) -> list[tuple[str, str]]:
    """(run, token) of the waiting runs, in queue order."""
    return [(w["execution"]["S"], w["token"]["S"]) for w in pool.waiters()]


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def job_state(
    name: str,
    started: datetime,
    size_gib: int | None = 20,
    intermediate: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The run's state as the WaitFor…Slot states pass it (`state.$: $`)."""
    state: dict[str, Any] = {
        "job": {
            "execution": name,
            "executionArn": execution_arn(name),
            "startedAt": iso(started),
            "source": {"sizeGiB": size_gib},
        }
    }
    if intermediate is not None:
        state["intermediate"] = intermediate
    return state


# --- Taking a slot ------------------------------------------------------------------------------
def test_a_free_slot_is_granted_at_once(table: str, sfn: FakeSfn, clock: SimClock) -> None:
    # Given an empty pool of two slots
    pool = make_pool(sfn, limit=2)
    now = clock.now()
    # When a run asks for a slot
    outcome = ask(pool, "run-1", Place(now, 20), now, token="token-1")
    # Then its own task token is completed at once with the grant
    assert outcome == "granted"
    assert sfn.sent == [
        (
            "token-1",
            {
                "pool": MAIN,
                "grantedAt": iso(now),
                "leaseUntil": iso(now + timedelta(seconds=SLOT_LEASE_SECONDS)),
            },
        )
    ]
    # And the pool counts it, holds it with its lease, and no longer has it waiting
    assert pool.in_use() == 1
    assert holders(pool) == {"run-1": epoch(now) + SLOT_LEASE_SECONDS}
    assert pool.holders()[0]["executionArn"]["S"] == execution_arn("run-1")
    assert waiting(pool) == []


def test_a_full_pool_queues_and_a_freed_slot_goes_to_the_next_run_at_once(
    table: str, sfn: FakeSfn, clock: SimClock
) -> None:
    # Given a pool of one slot held by run-1
    pool = make_pool(sfn, limit=1)
    now = clock.now()
    assert ask(pool, "run-1", Place(now, 20), now) == "granted"
    # When run-2 asks for a slot
    outcome = ask(pool, "run-2", Place(now + timedelta(seconds=5), 20), now)
    # Then it waits: no token is sent, and the pool stays at its limit
    assert outcome == "queued"
    assert sfn.tokens() == ["run-1-token"]
    assert waiting(pool) == [("run-2", "run-2-token")]
    assert pool.in_use() == 1
    # When run-1's copy is available and it gives its slot back
    clock.advance(600)
    served = hand_on(pool, "run-1", clock.now())
    # Then run-2 is given the slot in the same call: its token is completed, nobody polled
    assert served == ["run-2"]
    assert sfn.tokens() == ["run-1-token", "run-2-token"]
    assert sfn.sent[-1][1]["grantedAt"] == iso(clock.now())
    assert holders(pool) == {"run-2": epoch(clock.now()) + SLOT_LEASE_SECONDS}
    assert pool.in_use() == 1
    assert waiting(pool) == []


def test_slots_go_by_half_hour_of_arrival_then_largest_first(
    table: str, sfn: FakeSfn, clock: SimClock
) -> None:
    # Given a pool of one slot held by a run, and runs that arrived in two half-hours
    pool = make_pool(sfn, limit=1)
    start = clock.now()
    assert (start.minute % SLOT_BATCH_MINUTES, start.second) == (0, 0)  # a half-hour begins
    half_hour = timedelta(minutes=SLOT_BATCH_MINUTES)
    assert ask(pool, "holder", Place(start - timedelta(hours=1), 1), start) == "granted"
    places = {
        "first-small": Place(start + timedelta(minutes=1), 10),
        "first-small-later": Place(start + timedelta(minutes=2), 10),
        "first-large": Place(start + timedelta(minutes=20), 900),
        "first-mid": Place(start + half_hour - timedelta(seconds=1), 100),
        "second-huge": Place(start + half_hour, 10**6),
        "second-small": Place(start + half_hour + timedelta(minutes=1), 1),
    }
    clock.advance(35 * 60)
    # When they ask in another order (the later half-hour's largest copy first)
    for run in ("second-huge", "first-small-later", "second-small", "first-mid", "first-small"):
        assert ask(pool, run, places[run], clock.now()) == "queued"
    assert ask(pool, "first-large", places["first-large"], clock.now()) == "queued"
    # And the slot is handed on each time its holder gives it back
    order: list[str] = []
    holder = "holder"
    for _ in places:
        clock.advance(60)
        served = hand_on(pool, holder, clock.now())
        assert len(served) == 1
        holder = served[0]
        order.append(holder)
    # Then the first half-hour goes first, largest copy first, ties in arrival order; the later
    # half-hour's huge copy never overtakes a run that arrived before it
    assert order == [
        "first-large",
        "first-mid",
        "first-small",
        "first-small-later",
        "second-huge",
        "second-small",
    ]
    assert sfn.tokens()[1:] == [f"{run}-token" for run in order]
    assert waiting(pool) == []


def test_asking_again_keeps_the_place_and_replaces_the_token(
    table: str, sfn: FakeSfn, clock: SimClock
) -> None:
    # Given a full pool and two waiting runs, run-a before run-b
    pool = make_pool(sfn, limit=1)
    now = clock.now()
    ask(pool, "holder", Place(now, 1), now)
    place_a = Place(now + timedelta(minutes=1), 20)
    ask(pool, "run-a", place_a, now, token="a-1")
    ask(pool, "run-b", Place(now + timedelta(minutes=2), 20), now, token="b-1")
    # When run-a's wait times out and it asks again (same place, a new task token)
    clock.advance(1800)
    outcome = ask(pool, "run-a", place_a, clock.now(), token="a-2")
    # Then it keeps its place in front of run-b, now waiting on the new token only
    assert outcome == "queued"
    assert waiting(pool) == [("run-a", "a-2"), ("run-b", "b-1")]
    # And when the slot is freed, the new token is the one completed
    assert hand_on(pool, "holder", clock.now()) == ["run-a"]
    assert sfn.tokens() == ["holder-token", "a-2"]


@pytest.mark.parametrize("code", ["TaskTimedOut", "InvalidToken"])
def test_a_grant_to_a_stale_token_is_undone_and_the_slot_goes_to_the_next_run(
    table: str, sfn: FakeSfn, clock: SimClock, code: str
) -> None:
    # Given a full pool, run-a waiting on a token that is no longer waited on (its wait timed
    # out and it has not asked again yet, or it was stopped), and run-b behind it
    pool = make_pool(sfn, limit=1)
    now = clock.now()
    ask(pool, "holder", Place(now, 1), now)
    place_a = Place(now + timedelta(minutes=1), 20)
    ask(pool, "run-a", place_a, now, token="a-1")
    ask(pool, "run-b", Place(now + timedelta(minutes=2), 20), now, token="b-1")
    sfn.gone["a-1"] = code
    # When the slot is freed
    clock.advance(600)
    served = hand_on(pool, "holder", clock.now())
    # Then run-a's grant is undone and the slot goes to run-b at once
    assert served == ["run-b"]
    assert sfn.tokens() == ["holder-token", "b-1"]
    assert holders(pool) == {"run-b": epoch(clock.now()) + SLOT_LEASE_SECONDS}
    assert pool.in_use() == 1
    assert waiting(pool) == []
    # When run-a asks again with a new token, it is first in the queue again (its place kept)
    ask(pool, "run-c", Place(now + timedelta(minutes=3), 20), clock.now(), token="c-1")
    assert ask(pool, "run-a", place_a, clock.now(), token="a-2") == "queued"
    assert waiting(pool) == [("run-a", "a-2"), ("run-c", "c-1")]
    # And it gets the next freed slot
    assert hand_on(pool, "run-b", clock.now()) == ["run-a"]
    assert sfn.tokens()[-1] == "a-2"


def test_a_run_that_asks_again_while_holding_its_slot_is_answered_without_a_second_slot(
    table: str, sfn: FakeSfn, clock: SimClock
) -> None:
    # Given a run given the only slot (its answer was lost, and it asks again)
    pool = make_pool(sfn, limit=1)
    now = clock.now()
    place = Place(now, 20)
    assert ask(pool, "run-1", place, now, token="t-1") == "granted"
    # When it asks again with a new token
    outcome = ask(pool, "run-1", place, now, token="t-2")
    # Then the new token is completed, and it still holds one slot
    assert outcome == "granted"
    assert sfn.tokens() == ["t-1", "t-2"]
    assert pool.in_use() == 1
    assert list(holders(pool)) == ["run-1"]
    assert waiting(pool) == []


def test_a_run_holding_its_slot_is_answered_even_behind_a_queue(
    table: str, sfn: FakeSfn, clock: SimClock
) -> None:
    # Given a run given the only slot, and a larger copy of the same half-hour queued since
    pool = make_pool(sfn, limit=1)
    now = clock.now()
    assert ask(pool, "run-1", Place(now, 20), now, token="t-1") == "granted"
    assert ask(pool, "run-big", Place(now, 500), now, token="t-big") == "queued"
    # When the holder asks again (its first answer went astray), half an hour later
    clock.advance(1800)
    later = clock.now()
    outcome = ask(pool, "run-1", Place(now, 20), later, token="t-2")
    # Then it is answered at once with its slot (lease renewed), not queued behind run-big
    assert outcome == "granted"
    assert sfn.tokens() == ["t-1", "t-2"]
    assert list(holders(pool)) == ["run-1"]
    assert waiting(pool) == [("run-big", "t-big")]
    assert pool.in_use() == 1


# --- Giving back --------------------------------------------------------------------------------
def test_release_is_idempotent(table: str, sfn: FakeSfn, clock: SimClock) -> None:
    # Given a run holding a slot
    pool = make_pool(sfn, limit=2)
    now = clock.now()
    ask(pool, "run-1", Place(now, 20), now)
    # When it gives it back twice (a retried ReleaseSlot, then Cleanup)
    first = pool.release("run-1")
    second = pool.release("run-1")
    # Then the slot comes back once: the count does not go below 0
    assert (first, second) == (True, False)
    assert pool.in_use() == 0
    assert holders(pool) == {}
    # And a run that never held a slot gives nothing back
    assert pool.release("run-never") is False
    assert pool.in_use() == 0


def test_the_count_never_exceeds_the_limit_when_runs_serve_the_queue_at_once(
    table: str, sfn: FakeSfn, clock: SimClock
) -> None:
    # Given twelve runs waiting, and four slots free (the blocking run gave its slot back
    # without serving)
    now = clock.now()
    single = make_pool(sfn, limit=1)
    ask(single, "blocker", Place(now - timedelta(hours=1), 1), now)
    runs = [f"run-{i:02d}" for i in range(12)]
    for i, run in enumerate(runs):
        assert ask(single, run, Place(now + timedelta(seconds=i), 20), now) == "queued"
    assert single.release("blocker") is True
    limit = 4
    pool = make_pool(sfn, limit=limit)
    over: list[int] = []

    def check(_token: str) -> None:
        # at each grant, read the count as another run would
        if pool.in_use() > limit:
            over.append(pool.in_use())
        time.sleep(0.002)  # let the other threads' transactions interleave with this one

    sfn.on_send.append(check)
    # When eight runs serve the queue at the same moment (each its own Lambda)
    barrier = threading.Barrier(8)
    results: list[list[str]] = []
    failures: list[BaseException] = []

    def serve() -> None:
        try:
            mine = make_pool(sfn, limit=limit)
            barrier.wait()
            results.append(mine.serve(now))
        except BaseException as error:  # reported by the main thread
            failures.append(error)

    threads = [threading.Thread(target=serve) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # Then exactly four slots are given, each once, to the first four runs in the queue
    assert failures == []
    assert over == []
    served = [run for result in results for run in result]
    assert sorted(served) == runs[:4]
    assert sorted(sfn.tokens()) == ["blocker-token", *(f"{run}-token" for run in runs[:4])]
    assert pool.in_use() == limit
    assert sorted(holders(pool)) == runs[:4]
    assert [run for run, _ in waiting(pool)] == runs[4:]


# --- Leases -------------------------------------------------------------------------------------
def test_a_lapsed_lease_is_reaped_by_the_next_request(
    table: str, sfn: FakeSfn, clock: SimClock
) -> None:
    # Given a run that took the only slot and was then lost (it never looks at its copy again)
    pool = make_pool(sfn, limit=1)
    now = clock.now()
    ask(pool, "lost", Place(now, 20), now)
    # When its lease lapses and another run asks for a slot
    clock.advance(SLOT_LEASE_SECONDS + 1)
    outcome = ask(pool, "run-2", Place(clock.now(), 20), clock.now())
    # Then the lost run's slot comes back and goes to the asking run
    assert outcome == "granted"
    assert holders(pool) == {"run-2": epoch(clock.now()) + SLOT_LEASE_SECONDS}
    assert pool.in_use() == 1
    # And the lost run giving it back late changes nothing
    assert pool.release("lost") is False
    assert pool.in_use() == 1


def test_a_renewed_lease_is_not_reaped(table: str, sfn: FakeSfn, clock: SimClock) -> None:
    # Given a run holding the only slot, looking at its copy half an hour later
    pool = make_pool(sfn, limit=1)
    now = clock.now()
    ask(pool, "alive", Place(now, 20), now)
    clock.advance(1800)
    until = clock.now() + timedelta(seconds=SLOT_LEASE_SECONDS)
    # When its look renews the lease
    renewed = pool.renew("alive", until)
    # Then the lease is extended
    assert renewed is True
    assert holders(pool) == {"alive": epoch(until)}
    # And when the first lease would have lapsed, another run's request does not take the slot
    clock.advance(1800 + 1)
    assert ask(pool, "run-2", Place(clock.now(), 20), clock.now()) == "queued"
    assert list(holders(pool)) == ["alive"]
    assert pool.in_use() == 1
    # And only when the renewed lease lapses too does the slot come back
    clock.advance(1800)
    assert ask(pool, "run-3", Place(clock.now(), 20), clock.now()) == "queued"
    assert list(holders(pool)) == ["run-2"]


def test_renewing_a_slot_not_held_changes_nothing(
    table: str, sfn: FakeSfn, clock: SimClock
) -> None:
    # Given an empty pool
    pool = make_pool(sfn, limit=1)
    # When a run that holds no slot renews
    renewed = pool.renew("run-1", clock.now() + timedelta(hours=1))
    # Then it is told so, and no slot appears
    assert renewed is False
    assert holders(pool) == {}
    assert pool.in_use() == 0


# --- Giving up ----------------------------------------------------------------------------------
def test_no_copy_slot_after_a_day_of_waiting(table: str, sfn: FakeSfn, clock: SimClock) -> None:
    # Given a pool of two slots kept busy by runs that stay alive, and a run waiting behind them
    pool = make_pool(sfn, limit=2)
    arrived = clock.now()
    place = Place(arrived, 20)
    for run in ("busy-1", "busy-2"):
        ask(pool, run, Place(arrived, 50), arrived)
    assert ask(pool, "waiting", place, arrived) == "queued"
    every = 3  # hours: the busy runs renew their leases, and the waiting run asks again
    for _ in range(SLOT_WAIT_HOURS // every):
        clock.advance(every * 3600)
        for run in ("busy-1", "busy-2"):
            pool.renew(run, clock.now() + timedelta(hours=every + 1))
        if clock.now() - arrived < timedelta(hours=SLOT_WAIT_HOURS):
            # Then it keeps waiting for a day
            assert ask(pool, "waiting", place, clock.now()) == "queued"
    assert clock.now() - arrived == timedelta(hours=SLOT_WAIT_HOURS)
    # When it asks again after more than a day
    clock.advance(1)
    with pytest.raises(errors.NoCopySlot) as raised:
        ask(pool, "waiting", place, clock.now())
    # Then it fails, naming the pool, its limit and what to do
    message = str(raised.value)
    assert MAIN in message
    assert f"{SLOT_WAIT_HOURS} hours" in message
    assert "2 slot(s), 2 taken, 0 run(s) waiting" in message
    assert "MaxCopiesInFlight" in message
    # And it has left the queue: the slots freed later go to nobody
    assert waiting(pool) == []
    assert hand_on(pool, "busy-1", clock.now()) == []
    assert sfn.tokens() == ["busy-1-token", "busy-2-token"]


# --- The steps ----------------------------------------------------------------------------------
def test_acquire_and_release_slot_steps(
    world: World, table: str, sfn: FakeSfn, clock: SimClock
) -> None:
    # Given a deployment with one copy slot per pool, and two runs started a minute apart
    settings = world.settings(admission_table=table, max_copies_in_flight=1)
    first = job_state("run-1", clock.now())
    clock.advance(60)
    second = job_state("run-2", clock.now())
    # When both wait for a main-account slot
    got_first = admission.acquire_slot(first, POOL_MAIN, "t-1", settings=settings, now=clock.now)
    got_second = admission.acquire_slot(second, POOL_MAIN, "t-2", settings=settings, now=clock.now)
    # Then the first is given the main account's slot, and the second waits
    assert got_first == {"pool": MAIN, "outcome": "granted"}
    assert got_second == {"pool": MAIN, "outcome": "queued"}
    assert sfn.tokens() == ["t-1"]
    # When the first run's intermediate copy is available (the grant is in its state as slots.main)
    clock.advance(600)
    first["slots"] = {POOL_MAIN: sfn.sent[0][1]}
    released = admission.release_slot(first, POOL_MAIN, settings=settings, now=clock.now)
    # Then its slot is given back and handed to the second run at once
    assert released == {**sfn.sent[0][1], "released": True, "served": ["run-2"]}
    assert sfn.tokens() == ["t-1", "t-2"]
    # And a second release (a retry) gives back nothing
    again = admission.release_slot(first, POOL_MAIN, settings=settings, now=clock.now)
    assert (again["released"], again["served"]) == (False, [])
    assert make_pool(sfn).in_use() == 1


def test_the_backup_pool_is_the_backup_accounts(
    world: World, table: str, sfn: FakeSfn, clock: SimClock
) -> None:
    # Given a deployment with one slot per pool, and a run holding the main account's slot
    settings = world.settings(admission_table=table, max_copies_in_flight=1)
    run = job_state("run-1", clock.now())
    admission.acquire_slot(run, POOL_MAIN, "main-token", settings=settings, now=clock.now)
    run["intermediate"] = {"copyStartedAt": iso(clock.now()), "availableAt": iso(clock.now())}
    # When it asks for a backup-account slot
    outcome = admission.acquire_slot(run, POOL_BACKUP, "b-token", settings=settings, now=clock.now)
    # Then it is given one: the backup account's pool is its own
    assert outcome == {"pool": BACKUP, "outcome": "granted"}
    token, grant = sfn.sent[-1]
    assert (token, grant["pool"]) == ("b-token", BACKUP)
    assert make_pool(sfn, key=MAIN).in_use() == 1
    assert make_pool(sfn, key=BACKUP).in_use() == 1


def test_give_back_everything_leaves_both_queues_and_hands_on_its_slots(
    world: World, table: str, sfn: FakeSfn, clock: SimClock
) -> None:
    # Given run-1 holding the main account's only slot and waiting for the backup account's
    # (held by run-0), and run-2 waiting for the main account's
    settings = world.settings(admission_table=table, max_copies_in_flight=1)
    now = clock.now()
    zero = job_state("run-0", now - timedelta(hours=2))
    zero["intermediate"] = {"copyStartedAt": iso(now - timedelta(hours=1)), "availableAt": iso(now)}
    admission.acquire_slot(zero, POOL_BACKUP, "zero-backup", settings=settings, now=clock.now)
    one = job_state("run-1", now)
    admission.acquire_slot(one, POOL_MAIN, "one-main", settings=settings, now=clock.now)
    one["intermediate"] = {"copyStartedAt": iso(now), "availableAt": iso(now)}
    waits = admission.acquire_slot(one, POOL_BACKUP, "one-backup", settings=settings, now=clock.now)
    assert waits["outcome"] == "queued"
    two = job_state("run-2", now + timedelta(minutes=1))
    admission.acquire_slot(two, POOL_MAIN, "two-main", settings=settings, now=clock.now)
    main, backup = make_pool(sfn, key=MAIN), make_pool(sfn, key=BACKUP)
    assert [run for run, _ in waiting(main)] == ["run-2"]
    assert [run for run, _ in waiting(backup)] == ["run-1"]
    # When run-1 fails and Cleanup gives back everything it has
    clock.advance(300)
    actions = admission.give_back_everything(one["job"], settings=settings, now=clock.now())
    # Then it gave back its main slot, which went to run-2 at once, and left the backup queue
    assert actions == [
        "gave back its main copy slot",
        "left the queue for a backup copy slot",
    ]
    assert sfn.tokens() == ["zero-backup", "one-main", "two-main"]
    assert list(holders(main)) == ["run-2"]
    assert main.in_use() == 1
    assert waiting(main) == []
    assert waiting(backup) == []
    assert list(holders(backup)) == ["run-0"]
    assert backup.in_use() == 1
    # And doing it again (a retried Cleanup) finds nothing left to give back
    assert admission.give_back_everything(one["job"], settings=settings, now=clock.now()) == []


def test_without_an_admission_table_the_steps_do_nothing(world: World, clock: SimClock) -> None:
    # Given a deployment without admission control (and no table anywhere)
    settings = world.settings()
    assert settings.admission_table is None
    job = job_state("run-1", clock.now())["job"]
    # When a look renews the run's lease, and Cleanup gives back everything
    admission.renew_slot(job, POOL_MAIN, clock.now() + timedelta(hours=1), settings=settings)
    actions = admission.give_back_everything(job, settings=settings, now=clock.now())
    # Then there are no pools, and nothing is done (no DynamoDB call would have found a table)
    assert admission.pools(job, settings) == {}
    assert actions == []


def test_renew_slot_extends_the_lease_of_the_runs_slot(
    world: World, table: str, sfn: FakeSfn, clock: SimClock
) -> None:
    # Given a run holding a main-account slot
    settings = world.settings(admission_table=table, max_copies_in_flight=2)
    run = job_state("run-1", clock.now())
    admission.acquire_slot(run, POOL_MAIN, "t-1", settings=settings, now=clock.now)
    # When a look at its copy renews the lease, and a look of a run holding no slot does too
    until = clock.now() + timedelta(hours=3)
    admission.renew_slot(run["job"], POOL_MAIN, until, settings=settings)
    admission.renew_slot(
        job_state("run-2", clock.now())["job"], POOL_MAIN, until, settings=settings
    )
    # Then the run's lease runs until then, and no slot appears for the other run
    assert holders(make_pool(sfn, key=MAIN)) == {"run-1": epoch(until)}
    assert make_pool(sfn, key=MAIN).in_use() == 1


# --- Places -------------------------------------------------------------------------------------
def test_place_of_the_main_pool_is_the_run_start_weighed_by_the_source_size() -> None:
    # Given a run started at 02:41:07 for a source of 500 GiB
    started = parse_iso("2026-11-24T02:41:07Z")
    # When its place in the main pool is read
    place = admission.place_of(job_state("run-1", started, size_gib=500), POOL_MAIN)
    # Then it arrived when the run started, weighing the source's size
    assert place == Place(started, 500)
    assert place.key.startswith("2026-11-24T02:30:00Z#")
    # And a source of unknown size weighs nothing
    assert admission.place_of(job_state("run-2", started, size_gib=None), POOL_MAIN).weight == 0


def test_place_of_the_backup_pool_is_the_shared_copy_weighed_by_its_copy_time() -> None:
    # Given a run whose intermediate copy took 90 minutes and became available at 03:12:00
    state = job_state(
        "run-1",
        parse_iso("2026-11-24T01:30:00Z"),
        intermediate={
            "copyStartedAt": "2026-11-24T01:42:00Z",
            "availableAt": "2026-11-24T03:12:00Z",
        },
    )
    # When its place in the backup pool is read
    place = admission.place_of(state, POOL_BACKUP)
    # Then it arrived when the intermediate copy became available, weighing its copy time
    assert place == Place(parse_iso("2026-11-24T03:12:00Z"), 90 * 60)
    assert place.key.startswith("2026-11-24T03:00:00Z#")


def test_places_sort_by_half_hour_then_largest_then_arrival() -> None:
    # Given places in the same half-hour and the next one
    base = parse_iso("2026-11-24T02:30:00Z")
    small_early = Place(base, 1)
    big_late = Place(base + timedelta(minutes=29, seconds=59), 10**9)
    same_weight_later = Place(base + timedelta(minutes=1), 1)
    next_half_hour = Place(base + timedelta(minutes=30), 10**12)
    # When their keys are sorted (as DynamoDB sorts the waiters)
    keys = sorted(p.key for p in (next_half_hour, small_early, same_weight_later, big_late))
    # Then the order is half-hour, then largest, then arrival
    assert keys == [big_late.key, small_early.key, same_weight_later.key, next_half_hour.key]
