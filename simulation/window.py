"""A whole backup window on the simulation: many databases backed up at once, every run of the
real template, ASL and handlers sharing one simulated clock, RDS's limit of copies in progress
enforced in both accounts. Used by the end-to-end window test and by `make bench`."""

from __future__ import annotations

import json
import random
import time
from collections import Counter, defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

from moto.dynamodb.models import dynamodb_backends
from moto.rds.models import RDSBackend, rds_backends

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
        return sum(1 for a, start, end in self.copies if a == account and start <= moment < end)

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
        peak = [0]
        main_backend = rds_backends[MAIN_ACCOUNT][REGION]

        def sample(_: datetime) -> None:
            shared = sum(
                1
                for snapshot in list(main_backend.database_snapshots.values())
                if any(t.get("Key") == TAG_ROLE for t in snapshot.tags or [])
            )
            peak[0] = max(peak[0], shared)

        sim.clock.on_advance(sample)
        timeline = Timeline()
        dynamodb = dynamodb_backends[MAIN_ACCOUNT][REGION]
        pools = {pool_key(account, REGION): account for account in (MAIN_ACCOUNT, BACKUP_ACCOUNT)}

        def slots_and_copies(now: datetime) -> None:
            held: Counter[str] = Counter()
            waiting: Counter[str] = Counter()
            # looked up each time: moto replaces its tables with copies when a transaction fails
            for item in dynamodb.get_table(sim.table_name).all_items():
                account = pools.get(str(item.hash_key.value))
                sort = str(item.range_key.value) if item.range_key else ""
                if account and sort.startswith("holder#"):
                    held[account] += 1
                elif account and sort.startswith("waiter#"):
                    waiting[account] += 1
            timeline.sample(now, {a: (held[a], waiting[a]) for a in pools.values()})

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
        runs = sim.deliver_window(arrivals)
        real = time.perf_counter() - began
        report = _report(sim, runs, minutes, first, describes, slots, rds_limit)
        report.floor_minutes = max(report.floor_minutes, *chains)
        report.real_seconds = real
        report.lambda_calls = sim.lambda_calls - calls_before
        report.peak_intermediate_copies = peak[0]
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
        history = sim.sfn.get_execution_history(executionArn=run["executionArn"], maxResults=1000)[
            "events"
        ]
        entered = [
            e["stateEnteredEventDetails"]["name"]
            for e in history
            if "stateEnteredEventDetails" in e
        ]
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


__all__ = ["WindowReport", "copy_minutes_for", "run_window"]
