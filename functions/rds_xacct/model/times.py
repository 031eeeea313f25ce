"""Time as the app writes and reads it: UTC, ISO 8601 with a Z, to the second."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 UTC with a Z, to the second: the format of every time this app writes."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    """Read a time written by `iso` (or any ISO 8601 time with an offset), in UTC. A text that
    is not such a time raises ValueError, including one that parses but is out of datetime's
    range once in UTC (`9999-12-31T23:59:59-23:59`: comparing it with another time, or
    converting it, would raise OverflowError far from here)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError as error:
        raise ValueError(f"{text!r} is out of range in UTC") from error
