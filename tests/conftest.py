"""Shared fixtures: fake credentials, no network, and two accounts on moto."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from moto import mock_aws

from simulation.moto import MOTO_CONFIG, MotoPatches, SimClock
from simulation.world import TEST_ENVIRONMENT, UNSET_IN_TESTS, World

START = datetime(2026, 11, 24, 2, 30, tzinfo=UTC)


def pytest_configure(config: pytest.Config) -> None:
    """Fewer garbage collections: a simulation makes hundreds of thousands of long-lived objects
    (moto's backends, botocore's models), and Python's default thresholds scanned them again and
    again, about half of every end-to-end test's time. What is loaded by now is never collected."""
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region; never a real account or a profile."""
    for name in UNSET_IN_TESTS:
        monkeypatch.delenv(name, raising=False)
    for name, value in TEST_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def clock() -> Iterator[SimClock]:
    sim = SimClock(START)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def patches(clock: SimClock) -> Iterator[MotoPatches]:
    with mock_aws(config=MOTO_CONFIG), MotoPatches(clock) as installed:
        yield installed


@pytest.fixture
def world(patches: MotoPatches) -> World:
    return World.create()
