"""DynamoDB's answers to concurrent writers (rds_xacct.admission.contention), and the copy-slot pools under
them: a conflict or throttling is tried again, a failed condition is the answer, and under any
interleaving of requests, grants, renewals, releases, reaps, timeouts, retries and stopped runs
the copies in progress never exceed the slots."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, cast
from unittest import mock

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from rds_xacct.admission import contention
from rds_xacct.admission.pool import Place, Pool
from rds_xacct.model import errors
from rds_xacct.model.constants import SLOT_LEASE_SECONDS
from simulation.contention import DynamoDbContention
from simulation.moto import SimClock
from tests.unit.conftest import TABLE, FakeSfn
from tests.unit.test_admission import ask, execution_arn, make_pool


def _cancelled(*codes: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
            "CancellationReasons": [{"Code": code} for code in codes],
        },
        "TransactWriteItems",
    )


def _error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "UpdateItem")


@pytest.fixture
def pauses() -> Iterator[list[float]]:
    """The backoff pauses `write` takes (never slept for real)."""
    taken: list[float] = []
    with mock.patch("time.sleep", taken.append):
        yield taken


# --- What clears by itself ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (_cancelled("TransactionConflict", "None", "None"), True),
        (_cancelled("None", "ThrottlingError"), True),
        (_cancelled("ProvisionedThroughputExceeded", "None"), True),
        (_cancelled("ConditionalCheckFailed", "None", "None"), False),
        # a condition that failed is the answer, whatever else happened to the other items
        (_cancelled("TransactionConflict", "ConditionalCheckFailed"), False),
        (_cancelled("ValidationError", "None"), False),
        (_error("TransactionConflictException"), True),
        (_error("ConditionalCheckFailedException"), False),
        (_error("ValidationException"), False),
    ],
)
def test_what_clears_by_itself(error: ClientError, retried: bool) -> None:
    assert contention.clears_by_itself(error) is retried


def test_a_throttled_write_that_outlasted_the_sdk_is_tried_again() -> None:
    assert contention.clears_by_itself(errors.Throttled("still throttled")) is True


def test_cancellation_reasons_are_read_in_item_order() -> None:
    assert contention.cancellation_reasons(_cancelled("None", "ConditionalCheckFailed")) == [
        "None",
        "ConditionalCheckFailed",
    ]
    assert contention.cancellation_reasons(_error("ConditionalCheckFailedException")) is None


def test_backoff_is_full_jitter_under_a_cap() -> None:
    for attempt in range(20):
        ceiling = min(contention.BACKOFF_CAP_SECONDS, contention.BACKOFF_BASE_SECONDS * 2**attempt)
        assert 0 <= contention.backoff_seconds(attempt) <= ceiling


# --- write --------------------------------------------------------------------------------------
def _failing(*raised: ClientError, then: str = "done") -> Any:
    remaining = list(raised)

    def call() -> str:
        if remaining:
            raise remaining.pop(0)
        return then

    return call


def test_a_conflict_is_tried_again_until_it_goes_through(pauses: list[float]) -> None:
    call = _failing(_cancelled("TransactionConflict"), _error("TransactionConflictException"))
    assert contention.write("Giving a slot", call) == "done"
    assert len(pauses) == 2


def test_a_failed_condition_is_raised_at_once(pauses: list[float]) -> None:
    with pytest.raises(errors.AwsError) as raised:
        contention.write("Giving a slot", _failing(_cancelled("ConditionalCheckFailed")))
    assert contention.cancellation_reasons(raised.value) == ["ConditionalCheckFailed"]
    assert pauses == []


def test_conflicts_that_outlast_every_try_become_throttled(pauses: list[float]) -> None:
    attempts = contention.WRITE_ATTEMPTS
    call = _failing(*[_cancelled("TransactionConflict")] * attempts)
    with pytest.raises(errors.Throttled, match=f"still after {attempts} tries") as raised:
        contention.write("Giving back a slot", call)
    # the state machine retries Throttled; the AWS error stays readable behind it
    assert contention.cancellation_reasons(raised.value) == ["TransactionConflict"]
    assert len(pauses) == attempts - 1
    assert sum(pauses) <= attempts * contention.BACKOFF_CAP_SECONDS


# --- The pools under contention (moto's DynamoDB answering as DynamoDB does) ---------------------
def test_a_release_meeting_conflicts_always_completes(
    table: str, sfn: FakeSfn, clock: SimClock, pauses: list[float]
) -> None:
    # Given a run holding the only slot, and a table where every other transaction conflicts
    pool = make_pool(sfn, limit=1)
    now = clock.now()
    assert ask(pool, "run-1", Place(now, 1), now, token="t1") == "granted"
    faults = DynamoDbContention(conflict_every=2, tables=frozenset({TABLE}))
    with faults.installed():
        # When it gives its slot back
        released = pool.release("run-1")
    # Then the slot came back (the conflict was tried again), once
    assert faults.answered["TransactionConflict"] >= 1
    assert released is True
    assert pool.in_use() == 0
    assert pool.holders() == []


def test_a_release_that_never_gets_through_raises_and_keeps_the_slot_counted(
    table: str, sfn: FakeSfn, clock: SimClock, pauses: list[float]
) -> None:
    # Given a run holding the only slot, and a table where every transaction conflicts
    pool = make_pool(sfn, limit=1)
    now = clock.now()
    ask(pool, "run-1", Place(now, 1), now, token="t1")
    # When it gives its slot back, it is told to try again (the step retries Throttled): never
    # "not held", which would leave the slot taken until its lease ran out
    every_one = DynamoDbContention(conflict_every=1, tables=frozenset({TABLE}))
    with every_one.installed(), pytest.raises(errors.Throttled):
        pool.release("run-1")
    # And the count and the holder still agree, so the retried release gives it back
    assert pool.in_use() == 1
    assert pool.release("run-1") is True
    assert pool.in_use() == 0


def test_a_grant_meeting_conflicts_still_goes_to_the_run(
    table: str, sfn: FakeSfn, clock: SimClock, pauses: list[float]
) -> None:
    pool = make_pool(sfn, limit=2)
    now = clock.now()
    faults = DynamoDbContention(
        conflict_every=2, throttle_every=3, single_conflict_every=2, tables=frozenset({TABLE})
    )
    with faults.installed():
        outcome = ask(pool, "run-1", Place(now, 1), now, token="t1")
    assert outcome == "granted"
    assert sfn.tokens() == ["t1"]
    assert pool.in_use() == 1
    assert sum(faults.answered.values()) >= 2


# --- Any interleaving ---------------------------------------------------------------------------
class PoolInterleavings(RuleBasedStateMachine):
    """Runs asking for, holding and giving back the slots of one pool, in any order, with the
    table answering as DynamoDB does under concurrency. A run copies from the moment its task
    token is completed until it gives its slot back or is stopped (Cleanup deletes its copy)."""

    LIMIT = 2

    def __init__(self) -> None:
        super().__init__()
        self.sfn = FakeSfn()
        self.pool = Pool(
            table=TABLE, key=f"copies#{uuid.uuid4().hex}", limit=self.LIMIT, sfn=cast(Any, self.sfn)
        )
        self.clock = CLOCK
        self.tokens: dict[str, str] = {}
        """Waiting run → its current task token."""
        self.places: dict[str, Place] = {}
        self.copying: set[str] = set()
        self.done: set[str] = set()
        self.seen_sent = 0
        self.runs = 0

    @initialize()
    def start(self) -> None:
        self.clock.advance(1)

    def _take_grants(self) -> None:
        """Runs whose current token was completed start their copy."""
        for token, _grant in self.sfn.sent[self.seen_sent :]:
            run = next((r for r, t in self.tokens.items() if t == token), None)
            assert run is not None, f"a token no run waits on was completed: {token}"
            del self.tokens[run]
            self.copying.add(run)
        self.seen_sent = len(self.sfn.sent)

    def _ask(self, run: str) -> None:
        token = f"{run}-{uuid.uuid4().hex[:6]}"
        self.tokens[run] = token
        self.pool.request(
            execution=run,
            execution_arn=execution_arn(run),
            place=self.places[run],
            token=token,
            now=self.clock.now(),
        )
        self._take_grants()

    @rule(weight=st.integers(0, 100))
    def a_run_arrives(self, weight: int) -> None:
        self.runs += 1
        run = f"run-{self.runs}"
        self.places[run] = Place(self.clock.now(), weight)
        self._ask(run)

    @precondition(lambda self: self.tokens)
    @rule(data=st.data())
    def a_wait_times_out_and_the_run_asks_again(self, data: st.DataObject) -> None:
        run = data.draw(st.sampled_from(sorted(self.tokens)))
        self.sfn.gone[self.tokens[run]] = "TaskTimedOut"
        self._ask(run)

    @precondition(lambda self: self.tokens)
    @rule(data=st.data())
    def a_lambda_retry_asks_again_with_the_same_token(self, data: st.DataObject) -> None:
        run = data.draw(st.sampled_from(sorted(self.tokens)))
        self.pool.request(
            execution=run,
            execution_arn=execution_arn(run),
            place=self.places[run],
            token=self.tokens[run],
            now=self.clock.now(),
        )
        self._take_grants()

    @precondition(lambda self: self.copying)
    @rule(data=st.data())
    def a_copy_is_available_and_its_slot_handed_on(self, data: st.DataObject) -> None:
        run = data.draw(st.sampled_from(sorted(self.copying)))
        self.copying.discard(run)
        self.done.add(run)
        self.pool.release(run)
        self.pool.serve(self.clock.now())
        self._take_grants()

    @precondition(lambda self: self.copying)
    @rule(data=st.data())
    def a_look_renews_the_lease(self, data: st.DataObject) -> None:
        run = data.draw(st.sampled_from(sorted(self.copying)))
        self.pool.renew(run, self.clock.now() + timedelta(seconds=SLOT_LEASE_SECONDS))

    @precondition(lambda self: self.tokens or self.copying)
    @rule(data=st.data())
    def a_run_is_stopped_and_cleaned_up(self, data: st.DataObject) -> None:
        run = data.draw(st.sampled_from(sorted(set(self.tokens) | self.copying)))
        if run in self.tokens:
            self.sfn.gone[self.tokens.pop(run)] = "TaskTimedOut"
        self.copying.discard(run)  # Cleanup deletes its unfinished copy
        self.done.add(run)
        self.pool.forget_waiting(run)
        self.pool.release(run)
        self.pool.serve(self.clock.now())
        self._take_grants()

    @rule(minutes=st.integers(1, 90))
    def time_passes(self, minutes: int) -> None:
        # A run copying looks at its copy before its lease lapses (CheckCopy renews it past the
        # next look), so only lost runs' leases lapse, and they are not copying
        until = self.clock.now() + timedelta(minutes=minutes, seconds=SLOT_LEASE_SECONDS)
        for run in sorted(self.copying):
            self.pool.renew(run, until)
        self.clock.advance(minutes * 60)

    @rule()
    def a_request_reaps_lapsed_leases(self) -> None:
        self.pool.reap(self.clock.now())
        self.pool.serve(self.clock.now())
        self._take_grants()

    @invariant()
    def copies_in_progress_never_exceed_the_slots(self) -> None:
        assert len(self.copying) <= self.LIMIT
        holders = {h["execution"]["S"] for h in self.pool.holders()}
        assert self.copying <= holders
        assert self.pool.in_use() == len(holders) <= self.LIMIT

    @invariant()
    def nobody_waits_while_a_slot_is_free(self) -> None:
        if self.pool.in_use() < self.LIMIT:
            assert self.pool.waiters() == []


CLOCK: SimClock


def test_any_interleaving_keeps_copies_in_progress_within_the_slots(
    table: str, clock: SimClock, pauses: list[float]
) -> None:
    global CLOCK  # noqa: PLW0603 - the machine is built by Hypothesis, without arguments
    CLOCK = clock
    faults = DynamoDbContention(
        conflict_every=3, throttle_every=5, single_conflict_every=4, tables=frozenset({TABLE})
    )
    with faults.installed():
        run_state_machine_as_test(
            PoolInterleavings,
            settings=settings(
                max_examples=15,
                stateful_step_count=20,
                deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
            ),
        )
    assert faults.answered["TransactionConflict"] > 0
