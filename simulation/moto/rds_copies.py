"""RDS copies: they take simulated time, and RDS limits them (moto makes a copy `available` at
once, and copies any number of snapshots into any number of manual snapshots).

`CopyProgress`: copies start `creating`/`copying` and finish as the simulated clock advances.
`RDS_LIMITS`: the 20 copies in progress per account and region, the manual snapshot quotas, and
DescribeAccountAttributes answering them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from unittest import mock

from moto.rds.models import DBSnapshot, RDSBackend

from simulation.moto.clock import SimClock
from simulation.moto.rds import snapshots_of
from simulation.moto.wrapping import argument, wrapping


# --- Copies that take time ------------------------------------------------------------------------
@dataclass
class CopyMade:
    """A copy made while copies take time: its snapshot, start and length."""

    snapshot: Any
    started: datetime
    minutes: float
    fail: bool
    crossed_regions_gib: int = 0
    """GiB this copy moved from another region (billed as RDS data transfer), 0 for a copy in
    its source's region. Every copy here moves the whole snapshot: the source of a
    cross-region copy is always an intermediate copy, so never incremental (RDS User Guide,
    "Copying a DB snapshot": "When you copy a source snapshot that is a snapshot copy itself,
    the new copy isn't incremental")."""


CROSS_REGION_SLOWDOWN = 2.0
"""A copy from another region takes this many times longer per GiB than one within a region.
AWS gives no figure, only that cross-region copies "can take hours" and may be queued (RDS
User Guide, "Copying a DB snapshot"); an assumption of the simulation, to be measured on AWS
(docs/regions-and-accounts.md)."""


def _source_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The source identifier or ARN given to moto's copy_db_snapshot / copy_db_cluster_snapshot
    (their first parameter)."""
    for name in ("source_db_snapshot_identifier", "source_db_cluster_snapshot_identifier"):
        if name in kwargs:
            return str(kwargs[name])
    return str(args[0]) if args else ""


class CopyProgress:
    """Copies that take simulated time, once `simulate` is called (or `fail_next`)."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self._progress: list[CopyMade] = []
        self._model: tuple[float, float] | None = None
        self.copies_made: list[CopyMade] = []
        """Every copy made while copies take time."""
        self._fail_next = 0
        clock.on_advance(self._advance)

    def simulate(self, minutes_per_gib: float = 1.0, base_minutes: float = 3.0) -> None:
        """From now on, copies start `creating` at 0 % and become `available` after
        `base_minutes + size_gib * minutes_per_gib` simulated minutes, progress rising linearly
        as the clock advances."""
        self._model = (minutes_per_gib, base_minutes)

    def fail_next(self, count: int = 1) -> None:
        """The next `count` copies end in status `failed` instead of `available`."""
        self._fail_next += count
        if self._model is None:
            self._model = (1.0, 3.0)

    def _copy_patch(self, original: Callable[..., Any]) -> Callable[..., Any]:
        # moto makes a copy `available` at once. Real RDS shows it `creating` (DB snapshots)
        # or `copying` with a rising PercentProgress for minutes to hours.
        def copy(backend: RDSBackend, *args: Any, **kwargs: Any) -> Any:
            snapshot = original(backend, *args, **kwargs)
            if self._model is not None:
                per_gib, base = self._model
                size = int(getattr(snapshot, "allocated_storage", 0) or 0)
                source = _source_of(args, kwargs)
                crossed = source.startswith("arn:") and source.split(":")[3] != backend.region_name
                if crossed:
                    per_gib *= CROSS_REGION_SLOWDOWN
                snapshot.status = "creating" if isinstance(snapshot, DBSnapshot) else "copying"
                snapshot.percent_progress = 0
                fail = self._fail_next > 0
                if fail:
                    self._fail_next -= 1
                progress = CopyMade(
                    snapshot, self.clock.now(), base + size * per_gib, fail, size if crossed else 0
                )
                self._progress.append(progress)
                self.copies_made.append(progress)
            return snapshot

        return copy

    def _advance(self, now: datetime) -> None:
        for progress in list(self._progress):
            elapsed = (now - progress.started).total_seconds() / 60
            if elapsed >= progress.minutes:
                progress.snapshot.status = "failed" if progress.fail else "available"
                progress.snapshot.percent_progress = 100 if not progress.fail else 0
                self._progress.remove(progress)
            elif not progress.fail:
                progress.snapshot.percent_progress = int(100 * elapsed / progress.minutes)

    def patches(self) -> list[Any]:
        """The first patches of the copy calls: the limits and rules wrap them."""
        return [
            wrapping(RDSBackend, "copy_db_snapshot", self._copy_patch),
            wrapping(RDSBackend, "copy_db_cluster_snapshot", self._copy_patch),
        ]


# --- RDS: limits on snapshots ----------------------------------------------------------------------
_COPIES_IN_PROGRESS_LIMIT = 20
"""RDS User Guide, "Copying a DB snapshot", Limitations: "You can have up to 20 snapshot copy
requests in progress to a single destination Region per account"."""
_MANUAL_SNAPSHOT_QUOTA = 100
"""RDS User Guide, "Quotas in Amazon RDS": Manual DB instance snapshots, 100 per Region;
Manual DB cluster snapshots, 100 per Region (both adjustable in Service Quotas)."""
_IN_PROGRESS = frozenset({"pending", "creating", "copying"})
"""Statuses of a snapshot copy not finished yet (DB snapshots: `creating`; cluster: `copying`)."""


class RdsSnapshotLimits:
    """RDS's limits on snapshots, which moto 5.2.5 does not enforce, and what they refused.

    One for the process, `RDS_LIMITS`, as moto's backends are one for the process; reset each
    time `MotoPatches` is entered. A test or the bench sets `copies_in_progress_limit` and
    `set_manual_snapshot_quota(account, db=..., cluster=...)`, and reads `rejected_copies`
    (copies refused for too many in progress) and `rejected_for_quota` (copies and snapshots
    refused for a full manual snapshot quota)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        """Held over check-and-create: many executions copy at once, each in its own thread."""
        self.copies_in_progress_limit = _COPIES_IN_PROGRESS_LIMIT
        self.rejected_copies = 0
        self.rejected_for_quota = 0
        self._quotas: dict[str, dict[str, int]] = {}

    def reset(self) -> None:
        with self.lock:
            self.copies_in_progress_limit = _COPIES_IN_PROGRESS_LIMIT
            self.rejected_copies = 0
            self.rejected_for_quota = 0
            self._quotas.clear()

    def set_manual_snapshot_quota(
        self, account: str, db: int = _MANUAL_SNAPSHOT_QUOTA, cluster: int = _MANUAL_SNAPSHOT_QUOTA
    ) -> None:
        """The account's quotas of manual DB snapshots and manual DB cluster snapshots (each
        region of the account)."""
        with self.lock:
            self._quotas[account] = {"db": db, "cluster": cluster}

    def manual_snapshot_quota(self, account: str, kind: str) -> int:
        return self._quotas.get(account, {}).get(kind, _MANUAL_SNAPSHOT_QUOTA)

    @contextmanager
    def installed(self) -> Iterator[RdsSnapshotLimits]:
        """Enforce the limits for the duration (an entry of `MotoPatches.__enter__`)."""
        self.reset()
        with ExitStack() as stack:
            for patch in _rds_limit_patches(self):
                stack.enter_context(patch)
            try:
                yield self
            finally:
                self.reset()


RDS_LIMITS = RdsSnapshotLimits()


def _existing_ids(backend: RDSBackend, kind: str) -> list[str]:
    found = backend.cluster_snapshots if kind == "cluster" else backend.database_snapshots
    return list(found)


def _manual_snapshots(backend: RDSBackend, kind: str) -> int:
    """Manual snapshots of the kind in the backend's account and region: type `manual`, which
    copies are; not `automated` (RDS's own backups) nor `awsbackup` (AWS Backup's)."""
    return sum(1 for s in snapshots_of(backend, kind) if s.snapshot_type == "manual")


def _copies_in_progress(backend: RDSBackend) -> int:
    """Copies not finished in the backend's account and region, DB and cluster snapshots alike.
    (moto makes every other snapshot `available` at once: only copies are ever in progress.)"""
    snapshots = [*snapshots_of(backend, "db"), *snapshots_of(backend, "cluster")]
    return sum(1 for s in snapshots if s.status in _IN_PROGRESS)


def _check_manual_quota(limits: RdsSnapshotLimits, backend: RDSBackend, kind: str) -> None:
    from moto.rds.exceptions import RDSClientError

    quota = limits.manual_snapshot_quota(backend.account_id, kind)
    if _manual_snapshots(backend, kind) + 1 > quota:
        limits.rejected_for_quota += 1
        raise RDSClientError(
            "SnapshotQuotaExceeded", f"Cannot create more than {quota} manual snapshots"
        )


def _limited_copy(
    limits: RdsSnapshotLimits, kind: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    # moto copies any number of snapshots at once, into any number of manual snapshots. Real RDS
    # answers SnapshotQuotaExceeded (one code, two conditions) when
    # (1) the copy would exceed the account's manual snapshot quota (a copy is a manual
    #     snapshot): "Cannot create more than 100 manual snapshots"; it does not clear by itself;
    # (2) 20 snapshot copies are already in progress into this account and region (RDS User
    #     Guide, "Copying a DB snapshot"): "Cannot copy more than 20 snapshots at a time ..."
    #     (older, cross-region: "Cannot copy more than 5 snapshots across regions"); it clears
    #     as copies finish.
    # Checked before the copy is made, under one lock with the making, so that concurrent copies
    # cannot both take the last place. Composes with whatever copy patch is installed before it
    # (MotoPatches._copy_patch: the copy then starts `creating`/`copying`).
    target = (
        "target_db_cluster_snapshot_identifier"
        if kind == "cluster"
        else "target_db_snapshot_identifier"
    )

    def wrap(inner: Callable[..., Any]) -> Callable[..., Any]:
        from moto.rds.exceptions import RDSClientError

        def copy(backend: RDSBackend, *args: Any, **kwargs: Any) -> Any:
            with limits.lock:
                if argument(args, kwargs, 1, target) not in _existing_ids(backend, kind):
                    # (a copy onto an existing name is refused as AlreadyExists first)
                    _check_manual_quota(limits, backend, kind)
                    limit = limits.copies_in_progress_limit
                    if _copies_in_progress(backend) >= limit:
                        limits.rejected_copies += 1
                        raise RDSClientError(
                            "SnapshotQuotaExceeded",
                            f"Cannot copy more than {limit} snapshots at a time in this account "
                            "and region; wait for copies in progress to complete",
                        )
                return inner(backend, *args, **kwargs)

        return copy

    return wrap


def _limited_create(
    limits: RdsSnapshotLimits, kind: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    # moto makes manual snapshots without end (up to MOTO_RDS_SNAPSHOT_LIMIT, 1000, counting
    # every type). Real RDS refuses CreateDBSnapshot / CreateDBClusterSnapshot beyond the
    # account's manual snapshot quota ("Quotas in Amazon RDS": Manual DB instance snapshots,
    # Manual DB cluster snapshots; 100 by default) with SnapshotQuotaExceeded "Cannot create
    # more than 100 manual snapshots". Automated and AWS Backup snapshots do not count.
    identifier = "db_cluster_snapshot_identifier" if kind == "cluster" else "db_snapshot_identifier"

    def wrap(inner: Callable[..., Any]) -> Callable[..., Any]:
        def create(backend: RDSBackend, *args: Any, **kwargs: Any) -> Any:
            snapshot_type = argument(args, kwargs, 2, "snapshot_type") or "manual"
            if snapshot_type != "manual":
                return inner(backend, *args, **kwargs)
            with limits.lock:
                if argument(args, kwargs, 1, identifier) not in _existing_ids(backend, kind):
                    _check_manual_quota(limits, backend, kind)
                return inner(backend, *args, **kwargs)

        return create

    return wrap


def _describe_account_attributes(limits: RdsSnapshotLimits) -> Callable[[Any], Any]:
    # moto 5.2.5 does not implement RDS DescribeAccountAttributes. Real RDS returns the account's
    # quotas in the region as AccountQuotas, each {AccountQuotaName, Used, Max} (API reference:
    # DescribeAccountAttributes; AccountQuota), among them `ManualSnapshots` ("the number of
    # manual DB instance snapshots per account; the used value is the count of the manual DB
    # instance snapshots in the account") and `ManualClusterSnapshots` (likewise for DB cluster
    # snapshots). Only these two are answered here.
    from moto.core.responses import ActionResult

    def describe_account_attributes(response: Any) -> Any:
        backend: RDSBackend = response.backend
        quotas = [
            {
                "AccountQuotaName": name,
                "Used": _manual_snapshots(backend, kind),
                "Max": limits.manual_snapshot_quota(backend.account_id, kind),
            }
            for name, kind in (("ManualSnapshots", "db"), ("ManualClusterSnapshots", "cluster"))
        ]
        return ActionResult({"AccountQuotas": quotas})

    return describe_account_attributes


def _rds_limit_patches(limits: RdsSnapshotLimits) -> list[Any]:
    from moto.rds.responses import RDSResponse

    return [
        wrapping(RDSBackend, "copy_db_snapshot", _limited_copy(limits, "db")),
        wrapping(RDSBackend, "copy_db_cluster_snapshot", _limited_copy(limits, "cluster")),
        wrapping(RDSBackend, "create_db_snapshot", _limited_create(limits, "db")),
        wrapping(RDSBackend, "create_db_cluster_snapshot", _limited_create(limits, "cluster")),
        mock.patch.object(
            RDSResponse,
            "describe_account_attributes",
            _describe_account_attributes(limits),
            create=True,
        ),
    ]


__all__ = ["RDS_LIMITS", "CopyMade", "CopyProgress", "RdsSnapshotLimits"]
