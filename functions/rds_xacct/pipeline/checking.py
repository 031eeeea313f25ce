"""CheckIntermediate / CheckBackup: a look at a copy in progress, and when to look again; the
run's copy slot is renewed at each look. Its own module, so that the most frequent Lambda call
imports no more than it needs (no quota checks, no messages)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal, overload

from rds_xacct.admission import slots as admission
from rds_xacct.aws.accounts import Accounts
from rds_xacct.model import errors
from rds_xacct.model.constants import (
    COPY_DEADLINE_HOURS,
    POOL_BACKUP,
    POOL_MAIN,
)
from rds_xacct.model.settings import Settings
from rds_xacct.model.state import (
    BackupCopy,
    CopyProgress,
    IntermediateCopy,
    Look,
    RunState,
    Which,
    kind_of,
)
from rds_xacct.model.times import Clock, iso, parse_iso, utc_now
from rds_xacct.pipeline.copies import SERVED_BY_ANOTHER_RUN, backup_already_made, lease
from rds_xacct.pipeline.polling import next_look_seconds


@overload
def check_copy(
    state: RunState, which: Literal["intermediate"], *, settings: Settings, now: Clock = ...
) -> IntermediateCopy: ...


@overload
def check_copy(
    state: RunState, which: Literal["backup"], *, settings: Settings, now: Clock = ...
) -> BackupCopy: ...


def check_copy(
    state: RunState, which: Which, *, settings: Settings, now: Clock = utc_now
) -> CopyProgress:
    """Look at a copy in progress: ready, or how long to wait before looking again.

    The look is kept as `lastLook` so that the next one can estimate the copy's end from the
    progress between the two (`polling.next_look_seconds`).
    """
    job = state["job"]
    summary: CopyProgress = state[which]
    accounts = Accounts(settings, job["execution"])
    api = (
        accounts.main(kind_of(state))
        if which == "intermediate"
        else accounts.backup(kind_of(state))
    )
    where = "main" if which == "intermediate" else "backup"
    snapshot = api.find(summary["id"])
    if snapshot is None:
        if which == "intermediate" and backup_already_made(accounts, job, kind_of(state)):
            return {
                **summary,
                "ready": True,
                "waitSeconds": 0,
                "availableAt": iso(now()),
                "note": SERVED_BY_ANOTHER_RUN,
            }
        raise errors.SnapshotNotFound(
            f"The {which} copy {summary['id']} disappeared from the {where} account while it was "
            f"being made (deleted by someone else?)"
        )
    if snapshot.failed:
        raise errors.SnapshotFailed(
            f"The {which} copy {snapshot.arn} is {snapshot.status}: RDS could not make the copy"
        )
    started = parse_iso(summary["copyStartedAt"])
    elapsed = (now() - started).total_seconds()
    look: Look = {"elapsedSeconds": round(elapsed, 1), "percent": snapshot.percent}
    result: CopyProgress = {
        **summary,
        **snapshot.summary(),
        "polls": int(summary.get("polls", 0)) + 1,
        "lastLook": look,
    }
    if snapshot.available:
        return {**result, "ready": True, "waitSeconds": 0, "availableAt": iso(now())}
    if elapsed > COPY_DEADLINE_HOURS * 3600:
        raise errors.CopyTimedOut(
            f"The {which} copy {snapshot.arn} is still {snapshot.status} ({snapshot.percent}%) "
            f"after {elapsed / 3600:.1f} hours (the limit is {COPY_DEADLINE_HOURS} h)"
        )
    last = summary.get("lastLook")
    previous = (float(last["elapsedSeconds"]), int(last["percent"])) if last else None
    wait = next_look_seconds(elapsed, snapshot.percent, previous)
    pool = POOL_MAIN if which == "intermediate" else POOL_BACKUP
    admission.renew_slot(job, pool, now() + timedelta(seconds=wait) + lease(), settings=settings)
    return {**result, "ready": False, "waitSeconds": wait}
