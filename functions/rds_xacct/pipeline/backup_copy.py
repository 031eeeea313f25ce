"""CopyBackup: the backup account copies the shared intermediate copy with its own key, and its
keeper is asked to record it at once."""

from __future__ import annotations

from datetime import datetime, timedelta

from rds_xacct.admission import capacity
from rds_xacct.admission import slots as admission
from rds_xacct.aws.accounts import Accounts
from rds_xacct.aws.observability import logger
from rds_xacct.model import errors
from rds_xacct.model.arns import Arn
from rds_xacct.model.constants import (
    KEEPER_RECORD,
    POLL_FIRST_SECONDS,
    POOL_BACKUP,
    ROLE_BACKUP,
    TAG_EXPIRES_AT,
)
from rds_xacct.model.ownership import app_tags
from rds_xacct.model.settings import ConfigurationError, Settings
from rds_xacct.model.snapshot import Snapshot
from rds_xacct.model.state import BackupCopy, RecordAsked, RunState, kind_of
from rds_xacct.model.times import Clock, iso, parse_iso, utc_now
from rds_xacct.pipeline.copies import copy_key, find_backup, lease


def expiry_of(snapshot: Snapshot) -> datetime | None:
    """The backup copy's expiry tag as a time; None when it has none (kept for good).

    An operator may edit the tag; whatever they wrote, the state machine only ever waits on the
    app's own format (`iso`, RFC 3339): a Wait state's timestamp that is not RFC 3339 fails the
    run with `States.Runtime`, which no Catch can handle. Anything that is not a time is refused
    here, with `UnreadableTag`."""
    text = snapshot.tags.get(TAG_EXPIRES_AT)
    if not text:
        return None
    try:
        return parse_iso(text.strip())
    except ValueError:
        raise errors.UnreadableTag(
            f"The backup copy {snapshot.arn} has {TAG_EXPIRES_AT}={text!r}, which is not a time. "
            f"Write it as ISO 8601 UTC (e.g. 2026-11-25T02:10:00Z) to move the expiry, or remove "
            f"the tag to keep the copy for good; the copy was left alone."
        ) from None


def _backup_summary(snapshot: Snapshot, started: datetime, adopted: bool) -> BackupCopy:
    expires = expiry_of(snapshot)
    return {
        **snapshot.summary(),
        "copyStartedAt": iso(started),
        "expiresAt": iso(expires) if expires else None,
        "adopted": adopted,
        "waitSeconds": POLL_FIRST_SECONDS,
    }


def copy_backup(state: RunState, *, settings: Settings, now: Clock = utc_now) -> BackupCopy:
    """Copy the intermediate copy into the backup account, encrypted with the backup key. With a
    backup region, one call copies it across accounts and regions (route (b) of
    docs/regions-and-accounts.md): the shared intermediate copy stays in the source's region,
    where the main account's cleanup and sweep watch it."""
    job, shared = state["job"], state["intermediate"]
    kind = kind_of(state)
    accounts = Accounts(settings, job["execution"])
    existing = find_backup(accounts, job, kind)
    if existing is not None:
        if existing.failed:
            raise errors.SnapshotFailed(f"The backup copy {existing.arn} is {existing.status}")
        return {**_backup_summary(existing, now(), adopted=True), **_record(accounts, existing)}
    capacity.check_room(
        [accounts.backup_quota(kind)],
        settings=settings,
        now=now(),
    )
    admission.renew_slot(job, POOL_BACKUP, now() + lease(), settings=settings)
    started = now()
    tags = app_tags(
        source_arn=job["source"]["arn"],
        role=ROLE_BACKUP,
        execution=job["execution"],
        made_at=started,
    )
    if job["retentionDays"] > 0:
        tags[TAG_EXPIRES_AT] = iso(started + timedelta(days=job["retentionDays"]))
    source_region = Arn.parse(shared["arn"]).region
    created = accounts.backup(kind).copy(
        source=shared["arn"],
        target=job["copyId"],
        kms_key_id=copy_key(job, settings, backup=True),
        tags=tags,
        source_region=source_region if settings.backup_region else None,
    )
    return {**_backup_summary(created, started, adopted=False), **_record(accounts, created)}


def _record(accounts: Accounts, snapshot: Snapshot) -> RecordAsked:
    """Ask the backup account's keeper to record the copy now, from its tags as made, before
    anyone can re-tag it (the keeper's hourly pass records any copy this misses). Idempotent,
    asynchronous, and never fails the copy: a problem is reported in the run's summary."""
    try:
        accounts.tell_keeper(KEEPER_RECORD, snapshot.kind, snapshot.identifier)
    except (errors.PipelineError, ConfigurationError) as error:
        logger.warning(
            "Could not ask the keeper to record the backup copy",
            extra={"snapshot": snapshot.arn, "error": str(error)},
        )
        return {"recordAsked": False, "recordProblem": str(error)}
    return {"recordAsked": True}
