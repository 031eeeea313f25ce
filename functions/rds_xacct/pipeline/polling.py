"""When to look again at a copy in progress: few looks, and a finished copy noticed soon.

Each look (a CheckIntermediate or CheckBackup call) costs a Lambda call and state transitions, and a
finished copy is only noticed at the next look. RDS reports a copy's progress as a whole percent
(`PercentProgress`): a reading p means the true progress is somewhere in [p, p + 1). So each
reading bounds when the copy will reach 100 %, and the schedule is:

* while the copy is at 0 %, look again at POLL_IDLE_FACTOR times the time spent (a copy at 0 %
  after t, progressing linearly, takes over 100 t; RDS may also still be setting it up);
* once it moves, bound its end from the rate between the previous look and this one (not since
  the start, so that time spent setting up at 0 % does not make a copy look slow);
* if those bounds are within the tolerance, aim just past the latest end; if not, look again
  shortly before the earliest end (POLL_AIM), where the reading will be precise;
* from POLL_STALL_PERCENT on, progress says nothing more: look again after the tolerance.

For a copy of 5 minutes to 12 hours with linear progress, that is at most 4 looks from the one at
POLL_FIRST_SECONDS, the last one within the tolerance (`tests/unit/test_polling.py` checks it).
The functions are pure: no AWS, no clock.
"""

from __future__ import annotations

import math

from rds_xacct.model.constants import (
    POLL_AIM,
    POLL_FIRST_SECONDS,
    POLL_IDLE_FACTOR,
    POLL_MARGIN_SECONDS,
    POLL_MAX_SECONDS,
    POLL_MIN_SECONDS,
    POLL_STALL_PERCENT,
    POLL_TAIL_SECONDS,
    POLL_TOLERANCE_SECONDS,
    POLL_TOLERANCE_SHARE,
)

Look = tuple[float, int]
"""One look at a copy: (seconds since the copy started, percent it reported)."""


def tolerance_seconds(elapsed: float) -> float:
    """How late a copy of `elapsed` seconds may be noticed: a minute, or 2 % of its time.

    A share because a few minutes matter little after hours of copying, and the looks it saves
    grow with the copy time; a minute's floor because whole percents of a short copy are
    seconds apart, and a look costs more than a minute's wait.
    """
    return max(float(POLL_TOLERANCE_SECONDS), POLL_TOLERANCE_SHARE * elapsed)


def end_bounds(elapsed: float, percent: int, previous: Look | None) -> tuple[float, float]:
    """(earliest, latest) seconds since the start at which the copy reaches 100 %.

    Progress is taken as linear between the previous look and this one, each reading p meaning
    [p, p + 1): the extremes are the steepest and the flattest lines through the two readings.
    Without a previous look, the start (0 s, exactly 0 %) stands in for it. The pace since the
    start gives another latest end, for a copy that does not slow down (time spent setting up at
    0 % only moves it later): it is used when sooner, unless it contradicts the rate between
    looks (a copy adopted part-way, whose recorded start is not its true start). `percent` must
    be in 1..98; the latest end is infinite when the two readings are too close to tell a rate.
    """
    since_start = 100 * elapsed / percent
    if previous is None or previous[0] >= elapsed or previous[1] > percent:
        return max(elapsed, 100 * elapsed / (percent + 1)), since_start
    then, before = previous
    span = elapsed - then
    earliest = then + (100 - before) * span / (percent + 1 - before)
    latest = (
        then + (99 - before) * span / (percent - 1 - before) if percent - before > 1 else math.inf
    )
    if since_start >= earliest:
        latest = min(latest, since_start)
    return max(elapsed, earliest), latest


def next_look_seconds(elapsed: float, percent: int, previous: Look | None) -> int:
    """Seconds to wait before the next look at a copy still in progress.

    `elapsed` is the time since the copy started, `percent` what RDS reports now, `previous`
    the (elapsed, percent) of the previous look, or None if this is the first. Always within
    [POLL_MIN_SECONDS, POLL_MAX_SECONDS].
    """
    percent = min(max(percent, 0), 100)
    if percent >= POLL_STALL_PERCENT:
        wait = tolerance_seconds(elapsed) - POLL_MARGIN_SECONDS
    elif percent == 0:
        wait = max(POLL_FIRST_SECONDS, POLL_IDLE_FACTOR * elapsed) - elapsed
    else:
        earliest, latest = end_bounds(elapsed, percent, previous)
        slack = tolerance_seconds(earliest) - (latest - earliest) - POLL_MARGIN_SECONDS
        if slack >= 0:
            # Any end in [earliest, latest] is noticed in time: look just after the latest.
            wait = latest + min(slack, POLL_TAIL_SECONDS) - elapsed
        else:
            wait = POLL_AIM * (earliest - elapsed)
    return int(min(max(math.ceil(wait), POLL_MIN_SECONDS), POLL_MAX_SECONDS))
