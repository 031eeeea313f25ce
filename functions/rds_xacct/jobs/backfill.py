"""The operator command's backfill and run: a run for each source snapshot made before the app
was deployed (or while it was down), with the input the rule gives.

What it looks at is what the daily reconciliation looks at (rds_xacct.jobs.reconcile_sources):
the source snapshots of the chosen databases in a time range that the deployment copies (AWS
Backup's always, native ones where their `CopyRds…` parameter is on, the databases its patterns
and selection tag choose), those the app already copied (a copy in either account, by tag or
name) and those a run was started for (each run's input). AWS Backup's snapshots are also
checked against AWS Backup itself (ListRecoveryPointsByResource): a recovery point it is
deleting or has expired is not copied.

Each run is started with the event the source would have sent (rds_xacct.jobs.reconcile_events,
marked as the backfill's) under a deterministic name, `backfill-<database>-<time>-<hash>`: a
second backfill is refused the names the first one took, and skips what is copied or has a run
anyway. The runs go through admission control like any run; the starts are paced
(`BACKFILL_START_INTERVAL_SECONDS`).
"""

from __future__ import annotations

import fnmatch
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rds_xacct.aws.clients import aws_call
from rds_xacct.aws.snapshots import SnapshotApi
from rds_xacct.jobs.deployment import Deployment
from rds_xacct.jobs.reconcile_events import build_event, execution_name, start_run
from rds_xacct.jobs.reconcile_sources import Candidate, candidates, copies, origin_of, runs
from rds_xacct.model import errors
from rds_xacct.model.constants import (
    APP_NAME,
    BACKFILL_EXECUTION_PREFIX,
    BACKFILL_START_INTERVAL_SECONDS,
    RUN_EXECUTION_PREFIX,
)
from rds_xacct.model.naming import source_arn_tag
from rds_xacct.model.rds_arns import SnapshotArn
from rds_xacct.model.state import Kind
from rds_xacct.model.times import Clock, iso, utc_now
from rds_xacct.pipeline.events import CONTINUOUS_RECOVERY_POINT, ORIGIN_AWS_BACKUP, SNAPSHOT_TYPES

KEPT_RECOVERY_POINTS = frozenset({"COMPLETED", "AVAILABLE"})
"""AWS Backup recovery point statuses of a snapshot that is there to copy (ListRecoveryPoints…:
`Status`; not PARTIAL, DELETING, EXPIRED, STOPPED or CREATING)."""
_RUNS_SLACK = timedelta(hours=1)
"""Runs are listed from this long before the oldest snapshot looked at (a clock's skew)."""

Progress = Callable[[str, int, int], None]
"""Told (what, done, of) as the work goes on: the command's progress bar."""


@dataclass(frozen=True)
class OperatorAccounts:
    """RDS of both accounts through the operator's own clients (`SnapshotAccounts`)."""

    main_rds: Any
    backup_rds: Any

    def main(self, kind: Kind) -> SnapshotApi:
        return SnapshotApi(self.main_rds, kind)

    def backup(self, kind: Kind) -> SnapshotApi:
        return SnapshotApi(self.backup_rds, kind)


@dataclass
class Listing:
    """What a backfill found, in the time range, of the databases chosen."""

    since: datetime
    until: datetime
    to_start: list[Candidate] = field(default_factory=list)
    copied: list[Candidate] = field(default_factory=list)
    with_run: list[Candidate] = field(default_factory=list)
    not_kept: list[Candidate] = field(default_factory=list)
    """AWS Backup snapshots whose recovery point AWS Backup is not keeping (deleting, expired)."""
    excluded: int = 0
    """Snapshots of databases the deployment's selection leaves out."""


@dataclass
class Started:
    """What a backfill started."""

    started: list[dict[str, Any]] = field(default_factory=list)
    already_started: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _chosen(candidate: Candidate, patterns: Sequence[str]) -> bool:
    database = candidate.snapshot.database or candidate.snapshot.identifier
    return not patterns or any(fnmatch.fnmatchcase(database, p) for p in patterns)


def kept_recovery_points(backup: Any, database_arn: str) -> set[str]:
    """The snapshot ARNs of the database's AWS Backup recovery points that are there to copy
    (ListRecoveryPointsByResource; a continuous recovery point is not a snapshot)."""
    kept = set()
    paginator = backup.get_paginator("list_recovery_points_by_resource")
    with aws_call(f"Listing the AWS Backup recovery points of {database_arn}"):
        for page in paginator.paginate(ResourceArn=database_arn):
            for point in page.get("RecoveryPoints", []):
                arn = str(point.get("RecoveryPointArn", ""))
                if (
                    point.get("Status") in KEPT_RECOVERY_POINTS
                    and CONTINUOUS_RECOVERY_POINT not in arn
                    and SnapshotArn.names_one(arn)
                ):
                    kept.add(arn)
    return kept


def listing(
    deployment: Deployment,
    *,
    accounts: OperatorAccounts,
    backup: Any,
    sfn: Any,
    since: datetime,
    until: datetime,
    databases: Sequence[str] = (),
    now: Clock = utc_now,
    progress: Progress | None = None,
) -> Listing:
    """The source snapshots made in [since, until] of the databases matching `databases`
    (patterns; none: every database the deployment copies), sorted into those to start, those
    copied, those with a run and those AWS Backup no longer keeps. `backup` is an AWS Backup
    client of the main account."""
    tell = progress or (lambda what, done, of: None)
    found, excluded = candidates(accounts, deployment.scope, deployment.settings, since, until)
    chosen = [c for c in found if _chosen(c, databases)]
    result = Listing(since=since, until=until, excluded=excluded)
    backed_up = sorted(
        {_database_arn(c) for c in chosen if c.origin == ORIGIN_AWS_BACKUP},
    )
    kept: set[str] = set()
    for done, database_arn in enumerate(backed_up):
        tell("AWS Backup recovery points", done, len(backed_up))
        kept |= kept_recovery_points(backup, database_arn)
    tell("AWS Backup recovery points", len(backed_up), len(backed_up))
    for candidate in chosen:
        if candidate.origin == ORIGIN_AWS_BACKUP and candidate.snapshot.arn not in kept:
            result.not_kept.append(candidate)
    left = [c for c in chosen if c not in result.not_kept]
    if left:
        tell("copies in both accounts", 0, 1)
        sources, names = copies(accounts)
        tell("copies in both accounts", 1, 1)
        result.copied = [
            c for c in left if source_arn_tag(c.snapshot.arn) in sources or c.copy_id in names
        ]
        left = [c for c in left if c not in result.copied]
    if left:
        tell("runs", 0, 1)
        seen = runs(sfn, deployment.state_machine_arn, since - _RUNS_SLACK, now())
        tell("runs", 1, 1)
        result.with_run = [c for c in left if c.snapshot.arn in seen.sources]
        left = [c for c in left if c not in result.with_run]
    result.to_start = left
    return result


def _database_arn(candidate: Candidate) -> str:
    snapshot = candidate.snapshot
    return SnapshotArn.parse(snapshot.arn).database_arn(snapshot.database)


def entry(candidate: Candidate, execution: str | None = None) -> dict[str, Any]:
    """One snapshot as the backfill reports it."""
    snapshot = candidate.snapshot
    return {
        "source": snapshot.arn,
        "database": snapshot.database,
        "kind": snapshot.kind,
        "origin": candidate.origin,
        "createdAt": iso(snapshot.created_at) if snapshot.created_at else None,
        "sizeGiB": snapshot.size_gib,
        **({"execution": execution} if execution else {}),
    }


def start(
    deployment: Deployment,
    to_start: Sequence[Candidate],
    *,
    sfn: Any,
    interval: float = BACKFILL_START_INTERVAL_SECONDS,
    sleep: Callable[[float], None] | None = None,
    look: str | None = None,
    progress: Progress | None = None,
) -> Started:
    """Start one run per snapshot, oldest first, at most one each `interval` seconds."""
    look = look or uuid.uuid4().hex
    note = f"started by the {APP_NAME} operator command's backfill {look}"
    pause = sleep or time.sleep  # read when called: the simulation's clock replaces time.sleep
    tell = progress or (lambda what, done, of: None)
    result = Started()
    for done, candidate in enumerate(to_start):
        tell("starting runs", done, len(to_start))
        if done:
            pause(interval)
        name = execution_name(candidate.snapshot, BACKFILL_EXECUTION_PREFIX)
        try:
            arn, new = start_run(
                sfn, deployment.state_machine_arn, name, build_event(candidate, note=note)
            )
        except errors.PipelineError as error:
            result.problems.append(f"{candidate.snapshot.arn}: {type(error).__name__}: {error}")
            continue
        (result.started if new else result.already_started).append(entry(candidate, arn))
    tell("starting runs", len(to_start), len(to_start))
    return result


def run_one(
    deployment: Deployment, snapshot: str, *, main_rds: Any, sfn: Any, now: Clock = utc_now
) -> dict[str, Any]:
    """Start a run for one snapshot now (`rds-xacct run`), by ARN or identifier (a DB snapshot
    is looked for first, then a cluster snapshot), with the event its source would have sent."""
    candidate = _find(snapshot, main_rds)
    name = execution_name(candidate.snapshot, RUN_EXECUTION_PREFIX, at=now())
    note = f"started by the {APP_NAME} operator command's run"
    arn, new = start_run(sfn, deployment.state_machine_arn, name, build_event(candidate, note=note))
    return {**entry(candidate, arn), "started": new}


def _find(snapshot: str, main_rds: Any) -> Candidate:
    """The snapshot, looked for with each SnapshotType its kind has (RDS finds an automated or
    an AWS Backup DB snapshot by identifier only with its type)."""
    kinds: tuple[Kind, ...] = ("db", "cluster")
    identifier = snapshot
    if snapshot.startswith("arn:"):
        parsed = SnapshotArn.parse(snapshot)
        kinds, identifier = (parsed.kind,), parsed.identifier
    for kind in kinds:
        api = SnapshotApi(main_rds, kind)
        types = dict.fromkeys(t for (_, k), t in SNAPSHOT_TYPES.items() if k == kind)
        for snapshot_type in types:
            found = api.find(identifier, snapshot_type)
            origin = origin_of(found) if found else None
            if found is not None and origin is not None and found.created_at is not None:
                return Candidate(found, origin)
    supported = sorted({t for t in SNAPSHOT_TYPES.values() if t})
    raise errors.SnapshotNotFound(
        f"No DB or DB cluster snapshot {snapshot!r} of type {', '.join(supported)} in this "
        "account and region"
    )
