"""EventBridge: which events a rule's pattern matches (moto's rules do not deliver to Step
Functions: the simulation matches the template's patterns itself, with moto's own matcher)."""

from __future__ import annotations

import json
from typing import Any

from moto.events.models import EventPattern, EventPatternParser


def event_matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """Does EventBridge deliver `event` to a rule with this pattern? (moto's own matcher)"""
    raw = json.dumps(pattern)
    matcher = EventPattern(raw, EventPatternParser(raw).parse())
    return bool(matcher.matches_event(event))  # type: ignore[arg-type]


__all__ = ["event_matches"]
