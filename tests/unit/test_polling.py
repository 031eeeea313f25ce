"""The polling schedule: how many looks a copy costs and how late its end is noticed
(Given / When / Then).

The model tests run copies through `next_look_seconds` as the state machine does: the first look
POLL_FIRST_SECONDS after the copy started, then each wait as returned; RDS reports
floor(progress) while the copy is not available.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from rds_xacct.model.constants import (
    POLL_FIRST_SECONDS,
    POLL_IDLE_FACTOR,
    POLL_MAX_SECONDS,
    POLL_MIN_SECONDS,
)
from rds_xacct.pipeline.polling import end_bounds, next_look_seconds, tolerance_seconds

Progress = Callable[[float], int | None]
"""Percent a copy reports `t` seconds after it started, or None once it is available."""

MINUTE, HOUR = 60, 3600
COPY_TIMES = [5 * MINUTE * (12 * HOUR / (5 * MINUTE)) ** (i / 199) for i in range(200)]
"""200 copy times from 5 minutes to 12 hours, evenly spaced on a log scale."""


def linear(copy_seconds: float) -> Progress:
    """Progress rising evenly from 0 % at the start to available at `copy_seconds`."""

    def percent(t: float) -> int | None:
        return None if t >= copy_seconds else math.floor(100 * t / copy_seconds)

    return percent


def with_setup_and_tail(copy_seconds: float, setup: float = 120, tail: float = 60) -> Progress:
    """0 % for `setup` seconds, then linear to 100 %, then 100 % for `tail` seconds before
    available at `copy_seconds`: closer to what RDS shows."""
    moving = copy_seconds - setup - tail

    def percent(t: float) -> int | None:
        if t >= copy_seconds:
            return None
        return min(100, math.floor(100 * max(0.0, t - setup) / moving))

    return percent


def simulate(copy_seconds: float, progress: Progress, overhead: float = 0.0) -> tuple[int, float]:
    """(looks, seconds late): looks until one sees the copy available, counting that one, and
    how long after `copy_seconds` it came. `overhead` is added to every wait (a look runs a
    little after its wait ends)."""
    elapsed, previous, looks = float(POLL_FIRST_SECONDS), None, 0
    while True:
        looks += 1
        percent = progress(elapsed)
        if percent is None:
            return looks, elapsed - copy_seconds
        assert looks < 100, f"a copy of {copy_seconds:.0f} s was still not seen at {elapsed:.0f} s"
        wait = next_look_seconds(elapsed, percent, previous)
        previous = (elapsed, percent)
        elapsed += wait + overhead


def test_a_copy_may_be_noticed_a_minute_or_2_percent_of_its_time_late() -> None:
    assert tolerance_seconds(0) == 60
    assert tolerance_seconds(300) == 60
    assert tolerance_seconds(3000) == 60
    assert tolerance_seconds(HOUR) == 72
    assert tolerance_seconds(12 * HOUR) == 864


@pytest.mark.parametrize("overhead", [0.0, 5.0])
def test_a_linear_copy_of_5_minutes_to_12_hours_takes_at_most_4_looks(overhead: float) -> None:
    # Given copies of 5 minutes to 12 hours whose progress is linear, each look running
    # `overhead` seconds after its wait
    results = {t: simulate(t, linear(t), overhead) for t in COPY_TIMES}
    # Then each takes at most 4 looks and is noticed within the tolerance
    too_many = {round(t): looks for t, (looks, _) in results.items() if looks > 4}
    too_late = {round(t): late for t, (_, late) in results.items() if late > tolerance_seconds(t)}
    assert too_many == {}
    assert too_late == {}
    # And never before it is available (the look that sees it is counted)
    assert all(late >= 0 for _, late in results.values())


def test_with_a_setup_and_a_tail_a_copy_costs_at_most_one_more_look() -> None:
    # Given copies that sit at 0 % for 2 minutes and at 100 % for 1 minute (not required, a
    # guard on today's figures: the look at 60 s always reads 0 %, so a copy shorter than the
    # next look at POLL_IDLE_FACTOR x 60 s is seen then; a 0 % reading during the setup makes
    # the next estimate a little late)
    results = {t: simulate(t, with_setup_and_tail(t)) for t in COPY_TIMES}
    # Then each takes at most 5 looks
    assert max(looks for looks, _ in results.values()) <= 5
    # And is noticed by the second look, or within 3.5 times the tolerance
    second_look = POLL_IDLE_FACTOR * POLL_FIRST_SECONDS
    assert all(
        late <= max(second_look - t, 3.5 * tolerance_seconds(t)) for t, (_, late) in results.items()
    )


def test_a_copy_still_at_0_percent_is_looked_at_again_at_ten_times_the_time_spent() -> None:
    # Given a copy at 0 % at its first look, a minute in
    # Then the next look is at 10 minutes, then 100 minutes
    assert 60 + next_look_seconds(60, 0, None) == POLL_IDLE_FACTOR * 60
    assert 600 + next_look_seconds(600, 0, (60, 0)) == POLL_IDLE_FACTOR * 600
    # And a look made as the copy starts waits for the first look at POLL_FIRST_SECONDS
    assert 1 + next_look_seconds(1, 0, None) == POLL_FIRST_SECONDS
    # And the wait never exceeds the cap
    assert next_look_seconds(6000, 0, (600, 0)) == POLL_MAX_SECONDS


def test_a_precise_reading_aims_just_past_the_end() -> None:
    # Given a copy at 40 % after 10 minutes: its end is between 1463 s (41 %) and 1500 s
    earliest, latest = end_bounds(600, 40, None)
    assert (round(earliest), latest) == (1463, 1500)
    # When the next look is planned
    look = 600 + next_look_seconds(600, 40, None)
    # Then it comes after the latest end, late by less than the tolerance for any end between
    assert latest <= look <= earliest + tolerance_seconds(earliest)


def test_an_imprecise_reading_looks_again_just_before_the_earliest_end() -> None:
    # Given a copy at 0 % after a minute and 1 % after 10: it ends after 27060 s (7.5 h)
    earliest, latest = end_bounds(600, 1, (60, 0))
    assert earliest == 27060
    assert latest == 60_000  # its pace since the start: it will not be slower
    # When the next look is planned
    look = 600 + next_look_seconds(600, 1, (60, 0))
    # Then it comes before the earliest end, late enough that its reading will be precise
    assert 0.9 * earliest < look < earliest


def test_a_copy_that_sat_at_0_percent_is_estimated_from_the_rate_between_looks() -> None:
    # Given a copy that RDS kept at 0 % for its first 20 minutes (setup), then at 50 % ten
    # minutes later: it moves 5 % a minute and ends at about 40 minutes (2400 s)
    previous = (1200.0, 0)
    # When the next look is planned
    look = 1800 + next_look_seconds(1800, 50, previous)
    # Then it comes just after 40 minutes, within the tolerance
    assert 2400 <= look <= 2400 + tolerance_seconds(2400)
    # And not near the hour the pace since the start suggests, which would be too late
    assert 1800 + next_look_seconds(1800, 50, None) > 3400


def test_the_end_lies_between_the_bounds_for_linear_progress() -> None:
    # Given linear copies read at two looks
    for copy_seconds in COPY_TIMES[::10]:
        progress = linear(copy_seconds)
        for first, second in [(0.05, 0.1), (0.1, 0.6), (0.3, 0.95), (0.5, 0.51)]:
            then, now = first * copy_seconds, second * copy_seconds
            before, percent = progress(then), progress(now)
            assert before is not None
            assert percent is not None
            if percent == 0:
                continue
            # When the end is bounded from the two readings, or from the second alone
            # Then the true end lies between the bounds
            for previous in [(then, before), None]:
                earliest, latest = end_bounds(now, percent, previous)
                assert earliest <= copy_seconds <= latest


@pytest.mark.parametrize("percent", [99, 100])
@pytest.mark.parametrize("elapsed", [300, HOUR, 12 * HOUR])
def test_a_stalled_copy_is_looked_at_again_within_the_tolerance(
    percent: int, elapsed: float
) -> None:
    # Given a copy at 99 or 100 % but not yet available, whatever its previous look said
    for previous in [None, (elapsed / 2, 50), (elapsed - 30, percent)]:
        # When the next look is planned
        wait = next_look_seconds(elapsed, percent, previous)
        # Then it comes within the tolerance, so the copy is still noticed in time
        assert POLL_MIN_SECONDS <= wait <= tolerance_seconds(elapsed)


def test_a_copy_that_stalls_at_100_percent_is_noticed_within_the_tolerance() -> None:
    # Given a two-hour copy that reaches 100 % after 90 minutes and stays there
    copy_seconds = 2 * HOUR

    def stalled(t: float) -> int | None:
        return None if t >= copy_seconds else min(100, math.floor(100 * t / (90 * MINUTE)))

    # When it is polled
    looks, late = simulate(copy_seconds, stalled)
    # Then it is noticed within the tolerance, a look every 2 % of its time while it stalls
    assert 0 <= late <= tolerance_seconds(copy_seconds)
    assert looks <= 4 + 30 * MINUTE / (tolerance_seconds(90 * MINUTE) - 10)


def test_the_wait_is_never_under_30_seconds_nor_over_the_cap() -> None:
    # Given readings of every kind, including contradictory ones (a percent going back, a
    # previous look later than this one, a copy adopted part-way at 40 % as it "started")
    previous_looks: list[tuple[float, int] | None] = [None, (0.0, 0), (0.5, 40), (60.0, 0)]
    for elapsed in [0.0, 0.5, 30, 60, 61, 600, 3000, HOUR, 12 * HOUR, 100 * HOUR]:
        previous_looks.append((elapsed + 10, 5))
        for percent in [-1, 0, 1, 2, 10, 40, 50, 97, 98, 99, 100, 101]:
            for previous in previous_looks:
                # When the next look is planned
                wait = next_look_seconds(elapsed, percent, previous)
                # Then the wait is within [30 s, the cap]
                assert POLL_MIN_SECONDS <= wait <= POLL_MAX_SECONDS, (elapsed, percent, previous)
        previous_looks.append((elapsed, 3))
