"""CopyIntermediate, CheckIntermediate / CheckBackup and Share: the intermediate copy in the main
account, re-encrypted with the backup account's key, watched until it is available and shared
with the backup account."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal, overload

from rds_xacct.admission import capacity
from rds_xacct.admission import slots as admission
from rds_xacct.aws import quotas
from rds_xacct.aws.accounts import Accounts
from rds_xacct.aws.snapshots import SnapshotApi
from rds_xacct.model import errors
from rds_xacct.model.constants import (
    APP_NAME,
    COPY_DEADLINE_HOURS,
    POLL_FIRST_SECONDS,
    POOL_BACKUP,
    POOL_MAIN,
    ROLE_INTERMEDIATE,
)
from rds_xacct.model.ownership import app_tags, is_ours
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
from rds_xacct.pipeline.copies import (
    SERVED_BY_ANOTHER_RUN,
    backup_already_made,
    copy_key,
    lease,
    not_ours,
)
from rds_xacct.pipeline.polling import next_look_seconds


def copy_intermediate(
    state: RunState, *, settings: Settings, now: Clock = utc_now
) -> IntermediateCopy:
    """Copy the source in the main account, re-encrypted with the backup account's key."""
    job = state["job"]
    source_arn, copy_id = job["source"]["arn"], job["copyId"]
    api = Accounts(settings, job["execution"]).main(kind_of(state))
    existing = api.find(copy_id)
    if existing is not None:
        if not is_ours(existing.tags, source_arn=source_arn, role=ROLE_INTERMEDIATE):
            raise not_ours(existing, where="main", source_arn=source_arn)
        if existing.failed:
            raise errors.SnapshotFailed(
                f"The intermediate copy {existing.arn} is {existing.status}"
            )
        # Made by an earlier delivery of the same event: carry on watching it from now.
        return {
            **existing.summary(),
            "copyStartedAt": iso(now()),
            "adopted": True,
            "waitSeconds": POLL_FIRST_SECONDS,
        }
    # Room in both accounts' manual snapshot quotas, before the first copy is made
    kind = kind_of(state)
    accounts = Accounts(settings, job["execution"])
    main_usage = quotas.manual_snapshot_usage(api.client, job["executionArn"].split(":")[4], kind)
    if main_usage is not None and main_usage.room == 0:
        _wait_if_room_comes_back(api, main_usage)
    warnings = capacity.check_room(
        [
            main_usage,
            accounts.backup_quota(kind),
        ],
        settings=settings,
        now=now(),
    )
    admission.renew_slot(job, POOL_MAIN, now() + lease(), settings=settings)
    started = now()
    created = api.copy(
        source=job["source"]["id"],
        target=copy_id,
        kms_key_id=copy_key(job, settings),
        tags=app_tags(
            source_arn=source_arn,
            role=ROLE_INTERMEDIATE,
            execution=job["execution"],
            made_at=started,
        ),
    )
    result: IntermediateCopy = {
        **created.summary(),
        "copyStartedAt": iso(started),
        "adopted": False,
        "waitSeconds": POLL_FIRST_SECONDS,
    }
    if warnings:
        result["quotaWarnings"] = warnings
    return result


def _wait_if_room_comes_back(api: SnapshotApi, usage: quotas.QuotaUsage) -> None:
    """The main account's quota is full. If the app's own intermediate copies fill it, other
    runs delete them within the hour: a reason to wait (`CopyLimitReached`, retried), not to
    fail. Otherwise the quota is full for good and `check_room` says so."""
    passing = [s for s in api.list_manual() if is_ours(s.tags, role=ROLE_INTERMEDIATE)]
    if passing:
        raise errors.CopyLimitReached(
            f"{usage.text}: {len(passing)} of them are intermediate copies of other runs of "
            f"{APP_NAME}, deleted as those runs finish. Waiting for room."
        )


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


def share(state: RunState, *, settings: Settings) -> IntermediateCopy:
    """Let the backup account copy the intermediate copy."""
    job, summary = state["job"], state["intermediate"]
    accounts = Accounts(settings, job["execution"])
    api = accounts.main(kind_of(state))
    found = api.find(summary["id"])
    if found is None and backup_already_made(accounts, job, kind_of(state)):
        return {**summary, "note": SERVED_BY_ANOTHER_RUN}
    snapshot = found or api.get(summary["id"])
    if not is_ours(snapshot.tags, source_arn=job["source"]["arn"], role=ROLE_INTERMEDIATE):
        raise not_ours(snapshot, where="main", source_arn=job["source"]["arn"])
    if not snapshot.available:
        raise errors.SnapshotNotReady(f"The intermediate copy {snapshot.arn} is {snapshot.status}")
    if settings.backup_account_id not in api.shared_with(snapshot.identifier):
        api.share(snapshot.identifier, settings.backup_account_id)
    return {**summary, "sharedWith": settings.backup_account_id}
