"""The simulated clock: Wait states, retry backoff, task-token waits and copy progress run on it.

`time_machine` makes `datetime.now()` and `time.time()` read simulated time everywhere; the
Step Functions patches (`simulation.moto.sfn`) block waiting threads on this clock instead of
sleeping in real time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import time_machine


@dataclass
class Sleeper:
    wake_at: datetime | None
    """None: until woken by `SimClock.wake` (a task token's callback), however long."""
    woken: bool = False
    ready: threading.Condition | None = field(default=None, repr=False, compare=False)
    """Notified when the sleeper is woken (on the clock's lock): only its own thread wakes."""


class SimClock:
    """Simulated wall clock for a whole simulation, shared by every run at once.

    `start()` begins `time_machine.travel(start_at, tick=False)`: `datetime.now()` and
    `time.time()` everywhere (handlers, moto's timestamps, execution history) read simulated
    time, which moves only when the clock is told to.

    Many executions run at once, each in its own moto worker thread. Each such thread is
    *enlisted*; a thread that waits (a Wait state, a Retry's backoff, `time.sleep`, a task token
    not yet sent) calls `sleep` and blocks. Only when every enlisted thread is blocked does the
    clock jump to the earliest wake-up and release the threads due then: a discrete-event
    simulation, so 200 concurrent runs share one consistent timeline and a run's waits never
    move the clock under another run's feet. A lone run behaves as before (its own wait moves the
    clock at once). `advance()` is the direct jump for tests and the demo while no run waits.
    """

    def __init__(self, start_at: datetime) -> None:
        self._start_at = start_at
        self._travel: Any = None
        self._traveller: Any = None
        self._listeners: list[Callable[[datetime], None]] = []
        self._lock = threading.RLock()
        self._cv = threading.Condition(self._lock)
        self._running = 0
        self._sleepers: list[Sleeper] = []
        self._local = threading.local()
        self.stalls = 0
        """Times a waiting thread found nothing had happened for 5 s of real time (a missed
        wake-up would show here)."""

    def start(self) -> None:
        self._travel = time_machine.travel(self._start_at, tick=False)
        self._traveller = self._travel.start()

    def stop(self) -> None:
        if self._traveller is not None:
            self._travel.stop()
            self._traveller = None

    def now(self) -> datetime:
        return datetime.now(UTC)

    def on_advance(self, callback: Callable[[datetime], None]) -> None:
        self._listeners.append(callback)

    # -- direct jumps ----------------------------------------------------------------------------
    def advance(self, seconds: float) -> None:
        """Move the clock now (a test, or the demo between two runs), waking what is due."""
        if seconds <= 0:
            return
        with self._cv:
            self._shift_to(self.now() + timedelta(seconds=seconds))

    def _shift_to(self, moment: datetime) -> None:
        if self._traveller is None:
            raise RuntimeError("SimClock used before start()")
        if moment > self.now():
            self._traveller.shift(moment - self.now())
            now = self.now()
            for listener in list(self._listeners):
                listener(now)
        now = self.now()
        for sleeper in self._sleepers:
            if not sleeper.woken and sleeper.wake_at is not None and sleeper.wake_at <= now:
                self._wake(sleeper)
        self._sleepers = [s for s in self._sleepers if not s.woken]

    # -- threads that take part ------------------------------------------------------------------
    def enlist(self) -> None:
        """Count a thread about to start (call before `Thread.start`, so the clock cannot move
        between the start and the thread's first step); the thread calls `adopt()` first."""
        with self._cv:
            self._running += 1

    def adopt(self) -> None:
        self._local.enlisted = True

    def retire(self) -> None:
        """The enlisted thread is done: it no longer holds the clock back."""
        with self._cv:
            self._local.enlisted = False
            self._running -= 1
            self._step()

    @contextmanager
    def taking_part(self) -> Iterator[None]:
        """The calling thread takes part for a while (the bench's driver between arrivals)."""
        self.enlist()
        self.adopt()
        try:
            yield
        finally:
            self.retire()

    # -- waiting ---------------------------------------------------------------------------------
    def sleep(self, seconds: float) -> None:
        """Block the calling thread for `seconds` of simulated time."""
        if seconds <= 0:
            return
        self.wait_until(self.now() + timedelta(seconds=seconds))

    def wait_until(
        self,
        moment: datetime | None,
        woken: Callable[[], bool] = lambda: False,
        on_sleep: Callable[[Sleeper], None] | None = None,
    ) -> bool:
        """Block until simulated `moment` (None: no limit) or until `woken()` is true after a
        `wake`; returns `woken()`. `on_sleep` learns the sleeper (under the clock's lock) so
        that another thread can `wake` it."""
        temporary = not getattr(self._local, "enlisted", False)
        with self._cv:
            if woken():
                return True
            if temporary:
                self._running += 1
            # A condition of its own: waking one sleeper wakes its thread alone, not every
            # waiting thread to check whether it was the one (a window of 1,000 runs has 1,000
            # threads waiting: each step of the clock woke them all)
            ready = threading.Condition(self._lock)
            sleeper = Sleeper(moment, ready=ready)
            self._sleepers.append(sleeper)
            if on_sleep is not None:
                on_sleep(sleeper)
            self._running -= 1
            self._step()
            while not sleeper.woken:
                if not ready.wait(timeout=5):
                    self.stalls += 1
            if temporary:
                self._running -= 1
                self._step()
            return woken()

    def wake(self, find: Callable[[], Sleeper | None]) -> None:
        """Release the thread blocked in `wait_until` that `find()` names (read under the
        clock's lock, so a thread just going to sleep is not missed)."""
        with self._cv:
            sleeper = find()
            if sleeper is not None and not sleeper.woken:
                self._wake(sleeper)
                self._sleepers = [s for s in self._sleepers if not s.woken]

    def _wake(self, sleeper: Sleeper) -> None:
        sleeper.woken = True
        self._running += 1
        if sleeper.ready is not None:
            sleeper.ready.notify()

    def _step(self) -> None:
        """Every enlisted thread is blocked: jump to the earliest wake-up (under the lock)."""
        while self._running <= 0:
            due = [s.wake_at for s in self._sleepers if s.wake_at is not None and not s.woken]
            if not due:
                return
            self._shift_to(min(due))


__all__ = ["SimClock", "Sleeper"]
