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


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """An exception a test is parametrized with, once raised, keeps the traceback of that test's
    every frame: its clients and its whole moto world, for the rest of the session (the
    parameters live as long as the session), each one more for the garbage collector to scan
    again and again. Forgotten after the test (a test raising it again gets a traceback anew)."""
    callspec = getattr(item, "callspec", None)
    for value in callspec.params.values() if callspec is not None else ():
        if isinstance(value, BaseException):
            value.__traceback__ = None
            value.__context__ = None


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
