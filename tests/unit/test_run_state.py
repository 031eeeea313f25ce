"""The run state's types (rds_xacct.model.state) against the ASL: every path a state reads was
written by every earlier state on the way there, and every path a state writes is declared."""

from __future__ import annotations

import copy
import json
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rds_xacct.model.state import RunState

ASL = Path(__file__).resolve().parents[2] / "state-machine" / "copy-snapshot.asl.json"

RESULT_OF_WHOLE_STATE = {"DescribeSource": {"$.job"}}
"""What a Task whose `ResultPath` is `$` leaves in the state (its result replaces it).
Summarize and NotifySkipped also write `$`, but only a Succeed state follows them."""

PATH_FIELDS = {"Variable", "SecondsPath", "TimestampPath", "InputPath", "ItemsPath"}


def _reads(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in {"Retry", "Catch", "Next", "Default"}:
                continue
            if isinstance(item, str) and (key.endswith(".$") or key in PATH_FIELDS):
                yield item
            else:
                yield from _reads(item)
    elif isinstance(value, list):
        for item in value:
            yield from _reads(item)


def reads(state: dict[str, Any]) -> set[str]:
    """The state-data paths a state reads (`$$.` is the context object, `$` the whole state)."""
    return {p for p in _reads(state) if p.startswith("$.")}


def writes(name: str, state: dict[str, Any], before: frozenset[str]) -> frozenset[str]:
    """The paths present after the state, given those present before it."""
    if state["Type"] == "Pass" and "Parameters" in state and "ResultPath" not in state:
        return frozenset(f"$.{key.removesuffix('.$')}" for key in state["Parameters"])
    if state["Type"] not in {"Task", "Pass"}:
        return before
    result_path = state.get("ResultPath", "$")
    if result_path == "$":
        return frozenset(RESULT_OF_WHOLE_STATE.get(name, set()))
    return before | {result_path}


def edges(state: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    """(next state, the path a Catch writes on the way, if any)."""
    for key in ("Next", "Default"):
        if key in state:
            yield state[key], None
    for choice in state.get("Choices", []):
        yield choice["Next"], None
    for catch in state.get("Catch", []):
        yield catch["Next"], catch.get("ResultPath", "$")


def present_before(definition: dict[str, Any]) -> dict[str, frozenset[str]]:
    """For each state, the paths written on every way there (a must-analysis to a fixpoint)."""
    states = definition["States"]
    present: dict[str, frozenset[str]] = {definition["StartAt"]: frozenset()}
    changed = True
    while changed:
        changed = False
        for name in list(present):
            state = states[name]
            for target, caught in edges(state):
                if caught is None:
                    after = writes(name, state, present[name])
                elif caught == "$":
                    after = frozenset()
                else:
                    after = present[name] | {caught}
                merged = after if target not in present else present[target] & after
                if present.get(target) != merged:
                    present[target] = merged
                    changed = True
    return present


def declared(path: str) -> bool:
    """Is `$.a.b.c` a path the run state's types declare?"""
    kind: Any = RunState
    for key in path.removeprefix("$.").split("."):
        if not typing.is_typeddict(kind):
            return True  # Any, or a mapping the types leave open
        hints = typing.get_type_hints(kind)
        if key not in hints:
            return False
        kind = hints[key]
    return True


def problems(definition: dict[str, Any]) -> list[str]:
    found: list[str] = []
    present = present_before(definition)
    for name, state in definition["States"].items():
        if name not in present:
            found.append(f"{name}: no way leads there")
            continue
        for path in sorted(reads(state)):
            if not declared(path):
                found.append(f"{name} reads {path}, which the run state does not declare")
            elif not any(path == w or path.startswith(f"{w}.") for w in present[name]):
                found.append(f"{name} reads {path}, which no earlier state always writes")
        written = [state.get("ResultPath")] + [c.get("ResultPath") for c in state.get("Catch", [])]
        for path in written:
            if path not in (None, "$") and not declared(path):
                found.append(f"{name} writes {path}, which the run state does not declare")
    return found


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(ASL.read_text())
    return loaded


def test_every_path_a_state_reads_is_declared_and_written_before(
    definition: dict[str, Any],
) -> None:
    assert problems(definition) == []


def test_the_check_sees_a_read_of_a_path_nothing_wrote(definition: dict[str, Any]) -> None:
    # Given a Choice that reads a key the copy's result does not declare
    broken = copy.deepcopy(definition)
    broken["States"]["IntermediateReady?"]["Choices"][0]["Variable"] = "$.intermediate.redy"
    # Then the check says so
    assert problems(broken) == [
        "IntermediateReady? reads $.intermediate.redy, which the run state does not declare"
    ]


def test_the_check_sees_a_read_before_the_write(definition: dict[str, Any]) -> None:
    # Given a run that waits on the backup copy's expiry before it has a backup copy
    broken = copy.deepcopy(definition)
    broken["States"]["Skipped?"]["Default"] = "Retention?"
    # Then the check says so
    assert "Retention? reads $.backup.expiresAt, which no earlier state always writes" in (
        problems(broken)
    )


def test_the_check_sees_a_write_the_types_do_not_declare(definition: dict[str, Any]) -> None:
    broken = copy.deepcopy(definition)
    broken["States"]["Share"]["ResultPath"] = "$.shared"
    assert "Share writes $.shared, which the run state does not declare" in problems(broken)
