"""Every database the deployment covers, at a glance (`rds-xacct status`): its newest copy in the
backup account against the recovery point objective (rds_xacct.jobs.freshness), the runs in
flight and the step each is at, and the last run that ended badly, with why (rds_xacct.jobs.runs).

A database needs a look when it is **stale** (no complete copy holding data newer than the RPO,
or none at all) or **failing**: its last run that ended badly in the last RPO hours was about
data newer than its newest copy, and no run of it is in flight to try again. (A failure older
than the RPO shows as stale, if nothing was copied since.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from rds_xacct.jobs import runs
from rds_xacct.jobs.deployment import Deployment
from rds_xacct.jobs.freshness import Freshness, freshness
from rds_xacct.model.times import iso, parse_iso

OK, STALE, NEVER_COPIED, FAILING, NOT_COVERED = "ok", "stale", "never copied", "failing", "-"


@dataclass(frozen=True)
class DatabaseStatus:
    """One line of `rds-xacct status`."""

    database: str
    kind: str
    covered: bool
    """The deployment covers it (False: a database only runs were seen of)."""
    source_arn: str | None = None
    newest_copy: str | None = None
    recovery_point: datetime | None = None
    age_hours: float | None = None
    stale: bool = False
    in_flight: tuple[runs.Run, ...] = ()
    last_failure: runs.Run | None = None
    failing: bool = False

    @property
    def verdict(self) -> str:
        if self.failing:
            return FAILING
        if not self.covered:
            return NOT_COVERED
        if self.stale:
            return NEVER_COPIED if self.newest_copy is None else STALE
        return OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "kind": self.kind,
            "covered": self.covered,
            "sourceArn": self.source_arn,
            "newestCopy": self.newest_copy,
            "recoveryPoint": iso(self.recovery_point) if self.recovery_point else None,
            "ageHours": self.age_hours,
            "stale": self.stale,
            "failing": self.failing,
            "verdict": self.verdict,
            "inFlight": [{"name": r.name, "step": r.step} for r in self.in_flight],
            "lastFailure": _failure(self.last_failure),
        }


def _failure(run: runs.Run | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "name": run.name,
        "status": run.status,
        "startedAt": iso(run.started_at),
        "step": run.step,
        "error": run.error,
        "reason": run.reason,
        "hint": run.hint,
    }


@dataclass
class Status:
    """What `rds-xacct status` shows."""

    looked_at: datetime
    rpo_hours: float
    databases: list[DatabaseStatus] = field(default_factory=list)

    @property
    def needs_a_look(self) -> list[DatabaseStatus]:
        return [d for d in self.databases if d.stale or d.failing]

    def to_dict(self) -> dict[str, Any]:
        return {
            "lookedAt": iso(self.looked_at),
            "rpoHours": self.rpo_hours,
            "healthy": not self.needs_a_look,
            "databases": [d.to_dict() for d in self.databases],
        }


def _data_time(run: runs.Run) -> datetime:
    """When the data a run was copying was taken (its source snapshot), else when it started."""
    created = ((run.summary or {}).get("source") or {}).get("createdAt")
    return parse_iso(created) if created else run.started_at


def _key(run: runs.Run) -> tuple[str, str]:
    return run.database or "?", run.kind or "?"


def join(
    fresh: Sequence[Freshness], flying: Sequence[runs.Run], failed: Sequence[runs.Run]
) -> list[DatabaseStatus]:
    """One line per covered database (and per other database a run was seen of), sorted."""
    lines = {
        (f.database, f.kind): DatabaseStatus(
            database=f.database,
            kind=f.kind,
            covered=True,
            source_arn=f.source_arn,
            newest_copy=f.newest_copy,
            recovery_point=f.recovery_point,
            age_hours=f.age_hours,
            stale=f.stale,
        )
        for f in fresh
    }
    for run in [*flying, *failed]:
        lines.setdefault(
            _key(run), DatabaseStatus(database=_key(run)[0], kind=_key(run)[1], covered=False)
        )
    found = []
    for (database, kind), line in sorted(lines.items()):
        going = tuple(r for r in flying if _key(r) == (database, kind))
        last = next((r for r in failed if _key(r) == (database, kind)), None)
        failing = (
            last is not None
            and not going
            and (line.recovery_point is None or _data_time(last) > line.recovery_point)
        )
        found.append(replace(line, in_flight=going, last_failure=last, failing=failing))
    return found


def look(
    deployment: Deployment,
    *,
    rds: Any,
    backup_rds: Any,
    aws_backup: Any,
    sfn: Any,
    now: datetime,
    rpo_hours: float | None = None,
) -> Status:
    """The status of every database, now, against `rpo_hours` (default: the deployment's)."""
    rpo = deployment.rpo_hours if rpo_hours is None else rpo_hours
    fresh = freshness(
        deployment.settings,
        now=now,
        rpo_hours=rpo,
        rds=rds,
        backup_rds=backup_rds,
        aws_backup=aws_backup,
    )
    flying = runs.in_flight(sfn, deployment.state_machine_arn)
    failed = runs.ended_badly(sfn, deployment.state_machine_arn, now - timedelta(hours=rpo))
    return Status(looked_at=now, rpo_hours=rpo, databases=join(fresh, flying, failed))
