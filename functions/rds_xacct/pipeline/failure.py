"""Cleanup: after a failure or a stop, delete only what this run made and did not finish (never
a complete backup copy), then give back its copy slots."""

from __future__ import annotations

from rds_xacct.admission import slots as admission
from rds_xacct.aws.accounts import Accounts
from rds_xacct.model import errors
from rds_xacct.model.constants import (
    APP_NAME,
    KEEPER_ABANDON,
    KEEPER_DELETED,
    KEEPER_GONE,
    ROLE_BACKUP,
    ROLE_INTERMEDIATE,
    TAG_EXECUTION,
)
from rds_xacct.model.ownership import is_ours
from rds_xacct.model.settings import Settings
from rds_xacct.model.snapshot import Snapshot
from rds_xacct.model.state import CleanupResult, Job, Kind, RunState, kind_of
from rds_xacct.model.times import Clock, utc_now


def _cleanup_one(accounts: Accounts, kind: Kind, job: Job, role: str) -> str | None:
    api = accounts.main(kind) if role == ROLE_INTERMEDIATE else accounts.backup(kind)
    snapshot = api.find(job["copyId"])
    if snapshot is None:
        return None
    label = "intermediate copy" if role == ROLE_INTERMEDIATE else "backup copy"
    if not is_ours(snapshot.tags, source_arn=job["source"]["arn"], role=role):
        return f"left {snapshot.arn}: not made by {APP_NAME} for this source"
    if snapshot.tags.get(TAG_EXECUTION) != job["execution"]:
        return f"left {label} {snapshot.arn}: made by run {snapshot.tags.get(TAG_EXECUTION)}"
    if role == ROLE_BACKUP:
        return _abandon_backup(accounts, snapshot)
    api.delete(snapshot.identifier)
    return f"deleted {label} {snapshot.arn} ({snapshot.status})"


def _abandon_backup(accounts: Accounts, snapshot: Snapshot) -> str | None:
    """This run's backup copy: kept when complete; otherwise only the backup account's keeper
    deletes it, by its own rules."""
    if snapshot.available:
        return f"kept backup copy {snapshot.arn}: it is complete"
    answer = accounts.ask_keeper(KEEPER_ABANDON, snapshot.kind, snapshot.identifier)
    if answer["decision"] == KEEPER_GONE:
        return None
    if answer["decision"] == KEEPER_DELETED:
        return f"deleted backup copy {snapshot.arn} ({snapshot.status}) by the backup account"
    return (
        f"left backup copy {snapshot.arn}: the backup account's keeper refused to delete it: "
        f"{answer['reason']}"
    )


def cleanup(state: RunState, *, settings: Settings, now: Clock = utc_now) -> CleanupResult:
    """After a failure (or a stop), delete what this run made and did not finish, then give
    back its copy slots.

    Only copies tagged by this app, for this source, by this very run are deleted; a complete
    backup copy is always kept. The slots go back after the unfinished copies are deleted (RDS
    counts a copy in progress until then). A problem here is reported, not raised, so the
    failure notification still goes out; except one that clears by itself (throttling, a
    snapshot not ready to delete yet): raised once everything else is done, so that the state
    machine's Retry runs Cleanup again (it is safe to run twice) instead of leaving the copy.
    """
    job = state.get("job") or {}
    actions: list[str] = []
    problems: list[str] = []
    passing: errors.PipelineError | None = None
    if job.get("copyId"):
        kind = kind_of(state)
        accounts = Accounts(settings, job["execution"])
        for role in (ROLE_INTERMEDIATE, ROLE_BACKUP):
            try:
                action = _cleanup_one(accounts, kind, job, role)
            except errors.PipelineError as error:
                problems.append(f"{role} copy {job['copyId']}: {error}")
                if isinstance(error, errors.RETRYABLE):
                    passing = passing or error
            else:
                if action:
                    actions.append(action)
    if job.get("executionArn"):
        try:
            actions.extend(admission.give_back_everything(job, settings=settings, now=now()))
        except errors.PipelineError as error:
            problems.append(f"copy slots (their leases will lapse): {error}")
    if passing is not None:
        raise passing
    return {"actions": actions, "problems": problems}
