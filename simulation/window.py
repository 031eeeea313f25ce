"""A whole backup window on the simulation: many databases backed up at once, every run of the
real template, ASL and handlers sharing one simulated clock, RDS's limit of copies in progress
enforced in both accounts. Used by the end-to-end window test and by `make bench`."""

from __future__ import annotations

import bisect
import json
import random
import resource
import sys
import time
from collections import Counter, defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.rds.models import DBSnapshot, RDSBackend, rds_backends

from rds_xacct.admission.slots import pool_key
from rds_xacct.model.constants import (
    DEFAULT_MAX_COPIES_IN_FLIGHT,
    RDS_COPIES_IN_PROGRESS_LIMIT,
    ROLE_BACKUP,
    TAG_ROLE,
    TAG_SOURCE_ARN,
)
from rds_xacct.model.times import parse_iso
from simulation.contention import DynamoDbContention
from simulation.driver import Simulation
from simulation.moto import RDS_LIMITS
from simulation.world import BACKUP_ACCOUNT, MAIN_ACCOUNT, REGION

COPY_BASE_MINUTES = 3.0
"""The simulation's copy model: 3 minutes + 1 minute per GiB, per copy."""


@dataclass
class WindowReport:
    databases: int
    slots: int
    rds_limit: int
    statuses: Counter[str]
    copies_arrived: int
    duplicates: int
    left_in_main: int
    rejected_copy_calls: int
    peak_describes_per_minute: int
    drain_minutes: float
    floor_minutes: float
    """No schedule drains sooner: each account's copy work packed into RDS's lanes plus the
    shortest copy, and no database's two copies (one after the other, from its job's end)
    finished sooner."""
    real_seconds: float
    lambda_calls: int
    looks_per_copy: float
    peak_memory_mb: float = 0.0
    """The process's peak resident memory when the window had ended (`ru_maxrss`): anything run
    before it in the same process counts too."""
    slots_in_use_after: dict[str, int] = field(default_factory=dict)
    """Per pool: slots counted in use plus holders left (0 when every slot came back)."""
    waiting_after: int = 0
    peak_intermediate_copies: int = 0
    """Most of the app's intermediate copies in the main account at once (they count against
    its manual snapshot quota)."""
    failures: list[str] = field(default_factory=list)
    injected: int = 0
    """DynamoDB answers to concurrent writers injected (conflicts, throttling)."""
    peak_copying: dict[str, int] = field(default_factory=dict)
    """Per account: the most copies RDS was making at once."""
    timeline: Timeline | None = None
    """Slots held against copies running, per account, minute by minute."""

    @property
    def failed_runs(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != "SUCCEEDED")

    @property
    def ratio(self) -> float:
        return self.drain_minutes / self.floor_minutes


@dataclass
class Timeline:
    """Where a window's time goes, per account: the slots held and the runs waiting (DynamoDB,
    read at each step of the simulated clock) against the copies RDS was making (each copy's
    start and length), integrated over the window in slot-minutes."""

    spans: list[tuple[datetime, datetime, str, int, int]] = field(default_factory=list)
    """(from, to, account, slots held, runs waiting): the table between two clock steps."""
    copies: list[tuple[str, datetime, datetime]] = field(default_factory=list)
    """(account, started, ended) of every copy."""
    _last: datetime | None = None
    _bounds: tuple[int, dict[str, tuple[list[datetime], list[datetime]]]] | None = None

    def sample(self, now: datetime, state: dict[str, tuple[int, int]]) -> None:
        """The clock stepped to `now`; `state` (account → held, waiting) is how the table was
        since the last step (no run acts between two steps)."""
        if self._last is not None and now > self._last:
            for account, (held, waiting) in state.items():
                self.spans.append((self._last, now, account, held, waiting))
        self._last = now

    def peak_copying(self) -> dict[str, int]:
        """Per account: the most copies in progress at once."""
        peaks: dict[str, int] = {}
        for account in {a for a, _, _ in self.copies}:
            moments = sorted(
                [(start, 1) for a, start, _ in self.copies if a == account]
                + [(end, -1) for a, _, end in self.copies if a == account]
            )
            running = 0
            for _, change in moments:  # an end sorts before a start at the same moment
                running += change
                peaks[account] = max(peaks.get(account, 0), running)
        return peaks

    def copying(self, account: str, moment: datetime) -> int:
        """Copies of the account in progress at `moment` (started at or before it, not ended):
        those started by then less those ended by then (each ends after it starts), counted in
        the sorted starts and ends rather than over every copy at every moment of the window."""
        if self._bounds is None or self._bounds[0] != len(self.copies):
            bounds: dict[str, tuple[list[datetime], list[datetime]]] = {}
            for a, start, end in self.copies:
                starts, ends = bounds.setdefault(a, ([], []))
                starts.append(start)
                ends.append(end)
            for starts, ends in bounds.values():
                starts.sort()
                ends.sort()
            self._bounds = (len(self.copies), bounds)
        starts, ends = self._bounds[1].get(account, ([], []))
        return bisect.bisect_right(starts, moment) - bisect.bisect_right(ends, moment)

    def summary(
        self, lanes: int, slots: int, step_seconds: float = 30
    ) -> dict[str, defaultdict[str, float]]:
        """Slot-minutes per account: `held`; `copying` (copy-minutes RDS spent); `heldNotCopying`
        (a slot held with no copy for it: a copy being started, or finished and not yet
        noticed); `freeWhileWaiting` (a slot nobody held while a run waited: should be 0);
        `lanesIdleWhileWaiting` (RDS lanes with no copy while a run waited)."""
        out: dict[str, defaultdict[str, float]] = {}
        step = timedelta(seconds=step_seconds)
        for start, end, account, held, waiting in self.spans:
            totals = out.setdefault(account, defaultdict(float))
            moment = start
            while moment < end:
                piece = min(step, end - moment)
                minutes = piece.total_seconds() / 60
                copying = self.copying(account, moment + piece / 2)
                totals["held"] += held * minutes
                totals["copying"] += copying * minutes
                totals["heldNotCopying"] += max(0, held - copying) * minutes
                if waiting:
                    totals["freeWhileWaiting"] += max(0, slots - held) * minutes
                    totals["lanesIdleWhileWaiting"] += max(0, lanes - copying) * minutes
                moment += piece
        return out


class _IntermediateCopies:
    """The most of the app's intermediate copies in the main account at once, read at each step
    of the clock: the DB snapshots there with the app's role tag. Those there when the window
    begins and the copies made in the main account since (RDS copies made are recorded,
    `MotoPatches.copies_made`) are followed while they are there, rather than every snapshot of
    the account looked at at every step."""

    def __init__(self, sim: Simulation) -> None:
        self._made = sim.patches.copies_made
        self._seen = len(self._made)
        self._backend = rds_backends[MAIN_ACCOUNT][REGION]
        self._live: list[Any] = list(self._backend.database_snapshots.values())
        self.peak = 0

    def sample(self, _: datetime) -> None:
        snapshots = self._backend.database_snapshots
        for made in self._made[self._seen :]:
            snapshot = made.snapshot
            if isinstance(snapshot, DBSnapshot) and snapshot.arn.split(":")[4] == MAIN_ACCOUNT:
                self._live.append(snapshot)
        self._seen = len(self._made)
        self._live = [s for s in self._live if snapshots.get(s.db_snapshot_identifier) is s]
        self.peak = max(self.peak, sum(1 for s in self._live if _has_role_tag(s)))


def _has_role_tag(snapshot: Any) -> bool:
    return any(t.get("Key") == TAG_ROLE for t in snapshot.tags or [])


def peak_memory_mb() -> float:
    """The process's peak resident memory so far, in MB (`ru_maxrss`: KB on Linux, bytes on
    macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def copy_minutes_for(size_gib: int) -> float:
    return COPY_BASE_MINUTES + size_gib


def run_window(
    databases: int,
    *,
    slots: int = DEFAULT_MAX_COPIES_IN_FLIGHT,
    rds_limit: int = RDS_COPIES_IN_PROGRESS_LIMIT,
    arrival_spread_seconds: float = 600,
    copy_minutes: tuple[int, int] = (10, 60),
    seed: int = 2026,
    contention: DynamoDbContention | None = None,
) -> WindowReport:
    """`databases` AWS Backup jobs completing within `arrival_spread_seconds`, each database's
    copies taking a time drawn from `copy_minutes`; `slots` is MaxCopiesInFlight, `rds_limit`
    the copies in progress RDS allows per account (both enforced). Retention 0: the report is
    about getting every copy across. `contention`: DynamoDB's answers to concurrent writers,
    injected into the admission table's writes (simulation/contention.py)."""
    rng = random.Random(seed)
    parameters = {"RetentionDays": "0", "MaxCopiesInFlight": str(slots)}
    describes: Counter[int] = Counter()
    with Simulation(parameters=parameters, slack=False) as sim, ExitStack() as stack:
        RDS_LIMITS.copies_in_progress_limit = rds_limit
        if contention is not None:
            contention.tables = frozenset({sim.table_name})
            stack.enter_context(contention.installed())
        for account in (MAIN_ACCOUNT, BACKUP_ACCOUNT):
            # Room for the window's copies: the manual snapshot quota is another test's subject
            RDS_LIMITS.set_manual_snapshot_quota(account, db=10 * databases, cluster=10 * databases)
        first = sim.clock.now()
        for name in ("describe_db_snapshots", "describe_db_cluster_snapshots"):
            original = getattr(RDSBackend, name)

            def counted(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
                describes[int((sim.clock.now() - first).total_seconds() // 60)] += 1
                return _original(*args, **kwargs)

            stack.enter_context(mock.patch.object(RDSBackend, name, counted))
        intermediate = _IntermediateCopies(sim)
        sim.clock.on_advance(intermediate.sample)
        timeline = Timeline()
        dynamodb = dynamodb_backends[MAIN_ACCOUNT][REGION]
        pools = {
            account: DynamoType({"S": pool_key(account, REGION)})
            for account in (MAIN_ACCOUNT, BACKUP_ACCOUNT)
        }

        def slots_and_copies(now: datetime) -> None:
            # Each pool's items, read from its partition of the table (not every item of the
            # table, sorted, at every step of the clock). Looked up each time: moto replaces
            # its tables with copies when a transaction fails.
            items = dynamodb.get_table(sim.table_name).items
            state = {}
            for account, pool in pools.items():
                sorts = [str(key.value) for key in items.get(pool) or {}]
                held = sum(1 for sort in sorts if sort.startswith("holder#"))
                waiting = sum(1 for sort in sorts if sort.startswith("waiter#"))
                state[account] = (held, waiting)
            timeline.sample(now, state)

        sim.clock.on_advance(slots_and_copies)
        minutes: dict[str, float] = {}
        chains: list[float] = []
        arrivals = []
        low, high = copy_minutes
        for index in range(databases):
            size = rng.randint(int(low - COPY_BASE_MINUTES), int(high - COPY_BASE_MINUTES))
            event = sim.backup_event(f"db-{index:04d}", size_gib=size)
            minutes[event["detail"]["resourceArn"].rsplit(":", 1)[-1]] = copy_minutes_for(size)
            offset = rng.uniform(0, arrival_spread_seconds)
            arrivals.append((offset, event))
            chains.append(offset / 60 + 2 * copy_minutes_for(size))
        calls_before = sim.lambda_calls
        began = time.perf_counter()
        runs = sim.deliver_window(arrivals, keep_histories=False)
        real = time.perf_counter() - began
        report = _report(sim, runs, minutes, first, describes, slots, rds_limit)
        report.floor_minutes = max(report.floor_minutes, *chains)
        report.real_seconds = real
        report.lambda_calls = sim.lambda_calls - calls_before
        report.peak_memory_mb = peak_memory_mb()
        report.peak_intermediate_copies = intermediate.peak
        timeline.copies = [
            (p.snapshot.arn.split(":")[4], p.started, p.started + timedelta(minutes=p.minutes))
            for p in sim.patches.copies_made
        ]
        report.timeline = timeline
        report.peak_copying = timeline.peak_copying()
        report.injected = sum(contention.answered.values()) if contention is not None else 0
        return report


def _report(
    sim: Simulation,
    runs: list[dict[str, Any]],
    minutes: dict[str, float],
    first: datetime,
    describes: Counter[int],
    slots: int,
    rds_limit: int,
) -> WindowReport:
    backups = [
        s for s in sim.world.app_copies(BACKUP_ACCOUNT) if s["tags"].get(TAG_ROLE) == ROLE_BACKUP
    ]
    sources = Counter(s["tags"].get(TAG_SOURCE_ARN) for s in backups)
    landed = []
    looks = []
    failures = []
    for run in runs:
        output = json.loads(run.get("output") or "{}")
        available = (output.get("backupCopy") or {}).get("availableAt")
        if available:
            landed.append(parse_iso(available))
        if run["status"] != "SUCCEEDED":
            failures.append(
                f"{run['status']}: {run.get('error')}: {(run.get('cause') or '')[:300]}"
            )
    for run in runs:
        entered = sim.states_entered(run["executionArn"])
        looks.append(sum(1 for name in entered if name in ("CheckIntermediate", "CheckBackup")) / 2)
    work = sum(minutes.values())
    shortest = min(minutes.values())
    floor = work / rds_limit + shortest
    drain = (max(landed) - first).total_seconds() / 60 if landed else float("inf")
    pools = sim.copy_slots()
    in_use = {pool: entry["inUse"] + len(entry["holders"]) for pool, entry in pools.items()}
    waiting = sum(len(entry["waiting"]) for entry in pools.values())
    return WindowReport(
        databases=len(runs),
        slots=slots,
        rds_limit=rds_limit,
        statuses=Counter(run["status"] for run in runs),
        copies_arrived=len(sources),
        duplicates=len(backups) - len(sources),
        left_in_main=len(sim.world.app_copies(MAIN_ACCOUNT)),
        rejected_copy_calls=RDS_LIMITS.rejected_copies,
        peak_describes_per_minute=max(describes.values()) if describes else 0,
        drain_minutes=drain,
        floor_minutes=floor,
        real_seconds=0.0,
        lambda_calls=0,
        looks_per_copy=sum(looks) / len(looks) if looks else 0.0,
        slots_in_use_after=in_use,
        waiting_after=waiting,
        failures=failures[:5],
    )


__all__ = ["WindowReport", "copy_minutes_for", "peak_memory_mb", "run_window"]
