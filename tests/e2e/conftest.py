"""The end-to-end suites' fixture: simulations of both accounts, closed after each test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from simulation.driver import MakeSim, Simulation


@pytest.fixture
def make_sim() -> Iterator[MakeSim]:
    running: list[Simulation] = []

    def make(**kwargs: Any) -> Simulation:
        sim = Simulation(**kwargs).__enter__()
        running.append(sim)
        return sim

    yield make
    for sim in reversed(running):
        sim.__exit__(None, None, None)
