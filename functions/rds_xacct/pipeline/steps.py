"""The work of each state of the state machine, as plain functions of the run's state.

The run's state is the JSON the state machine carries between states:

    {"job": {...},          set by DescribeSource
     "intermediate": {...}, the intermediate copy in the main account (CopyIntermediate, ...)
     "backup": {...},       the copy in the backup account (CopyBackup, CheckBackup, DeleteBackup)
     "error": {...},        set by a Catch: {"Error": name, "Cause": json}
     "cleanup": {...}}      set by Cleanup

Every function here raises an `errors.PipelineError` subclass for a condition the state machine
handles, and returns the piece of state its state writes (its `ResultPath`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from rds_xacct.admission import capacity
from rds_xacct.admission import slots as admission
from rds_xacct.aws import quotas
from rds_xacct.aws.accounts import Accounts, run_still_going
from rds_xacct.aws.observability import logger
from rds_xacct.aws.snapshots import Kind, Snapshot, SnapshotApi
from rds_xacct.model import errors
from rds_xacct.model.constants import (
    APP_NAME,
    COPY_DEADLINE_HOURS,
    KEEPER_ABANDON,
    KEEPER_ASK_AGAIN_SECONDS,
    KEEPER_DELETED,
    KEEPER_EXPIRE,
    KEEPER_GONE,
    KEEPER_RECORD,
    KEEPER_REFUSED,
    POLL_FIRST_SECONDS,
    POOL_BACKUP,
    POOL_MAIN,
    ROLE_BACKUP,
    ROLE_INTERMEDIATE,
    SLOT_LEASE_SECONDS,
    TAG_EXECUTION,
    TAG_EXPIRES_AT,
)
from rds_xacct.model.naming import copy_identifier
from rds_xacct.model.ownership import app_tags, is_app_snapshot, is_ours
from rds_xacct.model.selection import retention_days, skip_reason
from rds_xacct.model.settings import ConfigurationError, Settings
from rds_xacct.model.times import Clock, iso, parse_iso, utc_now
from rds_xacct.pipeline import backup_window
from rds_xacct.pipeline.events import OTHER_ENGINES, SnapshotArn, parse_event
from rds_xacct.pipeline.polling import next_look_seconds

State = dict[str, Any]


# --- Ownership ------------------------------------------------------------------------------------
def _not_ours(snapshot: Snapshot, *, where: str, source_arn: str) -> errors.SnapshotNotOwned:
    return errors.SnapshotNotOwned(
        f"A snapshot named {snapshot.identifier} already exists in the {where} account "
        f"({snapshot.arn}) but was not made by {APP_NAME} as a copy of {source_arn} "
        f"(its tags: {snapshot.tags or 'none'}). It was left alone. Rename or delete it if it is "
        f"not needed, then start the run again."
    )


# --- DescribeSource -------------------------------------------------------------------------------
def describe_source(
    event: Any, *, execution_arn: str, settings: Settings, now: Clock = utc_now
) -> State:
    """Read the event and the source snapshot; decide what this run will do."""
    arn_parts = execution_arn.split(":")
    job: dict[str, Any] = {
        "execution": arn_parts[-1],
        "executionArn": execution_arn,
        "startedAt": iso(now()),
        "backupAccountId": settings.backup_account_id,
    }
    try:
        source_event = parse_event(event)
    except errors.EventSkipped as skip:
        # A kind of event this app does not copy: a skip with the reason, not a failure.
        event_id = event.get("id") if isinstance(event, dict) else None
        return {
            "job": {
                **job,
                "origin": None,
                "eventId": str(event_id or ""),
                "source": {"arn": skip.about},
                "skipped": str(skip),
            }
        }
    source = source_event.snapshot
    region, account = (arn_parts[3], arn_parts[4]) if len(arn_parts) > 4 else ("", "")
    if (source.region, source.account) != (region, account):
        raise errors.UnsupportedEvent(
            f"The snapshot {source.arn} is in account {source.account}, region {source.region}; "
            f"this deployment copies snapshots of account {account} in {region}"
        )
    job.update(origin=source_event.origin, eventId=source_event.event_id)
    accounts = Accounts(settings, job["execution"])
    api = accounts.main(source.kind)
    snapshot = api.get(source.identifier, source_event.snapshot_type)
    if is_app_snapshot(snapshot.tags):
        # A native snapshot event about one of this app's own copies: never a new run.
        return {"job": {**job, "source": {"arn": source.arn}, "skipped": _own_copy(source)}}
    if snapshot.failed:
        raise errors.SnapshotFailed(f"The source snapshot {source.arn} is {snapshot.status}")
    if not snapshot.available:
        raise errors.SnapshotNotReady(
            f"The source snapshot {source.arn} is {snapshot.status} ({snapshot.percent}%)"
        )
    if snapshot.created_at is None:  # pragma: no cover - RDS sets it once available
        raise errors.SnapshotNotReady(f"The source snapshot {source.arn} has no creation time")

    database_tags = api.database_tags(snapshot)
    source_summary = {
        **snapshot.summary(),
        "database": snapshot.database,
        "engine": snapshot.engine,
        "region": source.region,
        "snapshotType": snapshot.snapshot_type,
    }
    job.update(
        source=source_summary,
        copyId=copy_identifier(
            source_arn=source.arn,
            database=snapshot.database or source.identifier,
            created_at=snapshot.created_at,
            kind=source.kind,
        ),
        skipped=_other_engine(snapshot)
        or skip_reason(settings, snapshot.database, database_tags)
        or _unshareable(api, snapshot),
    )
    if job["skipped"] is None:
        job["retentionDays"] = retention_days(settings, database_tags)
        if snapshot.kind == "cluster" and not snapshot.encrypted:
            job["notes"] = [UNENCRYPTED_CLUSTER_NOTE]
        warning = backup_window.automated_backup_warning(api.client, snapshot, job["origin"])
        job.update(warnings=[warning] if warning else [])
    return {"job": job}


UNENCRYPTED_CLUSTER_NOTE = (
    "The source cluster snapshot is not encrypted, so neither copy is: RDS cannot encrypt a copy "
    "of an unencrypted DB cluster snapshot (CopyDBClusterSnapshot refuses a KmsKeyId for one)"
)
"""Told in the run's summary and notification when an unencrypted cluster is copied."""

SHAREABLE_STICKY_OPTIONS = frozenset({"Timezone", "OLS"})
"""Oracle's permanent/persistent options that do not stop a snapshot being shared (RDS User
Guide, "Sharing a DB snapshot"); its copy in another account then needs a target option group."""


def _other_engine(snapshot: Snapshot) -> str | None:
    """Why a DocumentDB or Neptune cluster snapshot met through the RDS API is not copied."""
    engine = OTHER_ENGINES.get(snapshot.engine)
    if engine is None:
        return None
    return (
        f"{snapshot.arn} is a snapshot of an Amazon {engine} cluster ({snapshot.database}): this "
        f"app copies RDS and Aurora snapshots only; copy it with the {engine} API (copy with a "
        f"customer managed key, share, copy in the backup account)"
    )


def _unshareable(api: SnapshotApi, snapshot: Snapshot) -> str | None:
    """Why RDS will not let this DB snapshot be shared (or copied into the backup account as
    this app copies), found before any copy is made; None if it can be.

    RDS User Guide, "Sharing a DB snapshot": a snapshot whose option group has permanent or
    persistent options can't be shared (TDE of Oracle and SQL Server among them), except Oracle's
    `Timezone` and `OLS`, whose copy in the other account needs a target option group with them.
    Default option groups can't be modified, so they hold no such options."""
    group = snapshot.option_group
    if snapshot.kind != "db" or not group or group.startswith("default:"):
        return None
    sticky = [o for o in api.option_group_options(group) if o.persistent or o.permanent]
    if not sticky:
        return None
    names = ", ".join(sorted(o.name for o in sticky))
    what = f"{snapshot.arn} ({snapshot.engine}, option group {group})"
    if any(o.name == "TDE" for o in sticky):
        return (
            f"{what} is encrypted with Transparent Data Encryption (option TDE): RDS cannot share "
            f"a TDE snapshot with another account; back the database up by the engine's own "
            f"means (native backup to S3) for the backup account"
        )
    if snapshot.engine.startswith("oracle") and all(
        o.name in SHAREABLE_STICKY_OPTIONS for o in sticky
    ):
        return (
            f"{what} has the Oracle option(s) {names}: its copy in the backup account needs an "
            f"option group there with the same options, which this app does not manage; copy it "
            f"by hand with CopyDBSnapshot --option-group-name in the backup account"
        )
    return (
        f"{what} has permanent or persistent options ({names}): RDS cannot share such a "
        f"snapshot with another account; move the database to an option group without them, or "
        f"back it up by other means"
    )


def _own_copy(source: SnapshotArn) -> str:
    return f"{source.arn} is a copy made by {APP_NAME}: copies are never copied again"


# --- CopyIntermediate -----------------------------------------------------------------------------
def _kind(state: State) -> Kind:
    kind: Kind = state["job"]["source"]["kind"]
    return kind


def copy_intermediate(state: State, *, settings: Settings, now: Clock = utc_now) -> State:
    """Copy the source in the main account, re-encrypted with the backup account's key."""
    job = state["job"]
    source_arn, copy_id = job["source"]["arn"], job["copyId"]
    api = Accounts(settings, job["execution"]).main(_kind(state))
    existing = api.find(copy_id)
    if existing is not None:
        if not is_ours(existing.tags, source_arn=source_arn, role=ROLE_INTERMEDIATE):
            raise _not_ours(existing, where="main", source_arn=source_arn)
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
    kind = _kind(state)
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
    admission.renew_slot(job, POOL_MAIN, now() + _lease(), settings=settings)
    started = now()
    created = api.copy(
        source=job["source"]["id"],
        target=copy_id,
        kms_key_id=_copy_key(job, settings),
        tags=app_tags(
            source_arn=source_arn,
            role=ROLE_INTERMEDIATE,
            execution=job["execution"],
            made_at=started,
        ),
    )
    return {
        **created.summary(),
        "copyStartedAt": iso(started),
        "adopted": False,
        "waitSeconds": POLL_FIRST_SECONDS,
        **({"quotaWarnings": warnings} if warnings else {}),
    }


def _copy_key(job: dict[str, Any], settings: Settings) -> str | None:
    """The key both copies are made with: the backup account's; none for an unencrypted cluster
    snapshot ("If you copy an unencrypted DB cluster snapshot and specify a value for the
    KmsKeyId parameter, an error is returned": API reference, CopyDBClusterSnapshot). An
    unencrypted DB snapshot copied with the key comes out encrypted with it (CopyDBSnapshot: "If
    you specify this parameter when you copy an unencrypted snapshot, the copy is encrypted")."""
    source = job["source"]
    if source["kind"] == "cluster" and not source.get("encrypted"):
        return None
    return settings.backup_kms_key_arn


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


def _lease() -> timedelta:
    return timedelta(seconds=SLOT_LEASE_SECONDS)


# --- CheckIntermediate / CheckBackup -------------------------------------------------------------
def check_copy(state: State, which: str, *, settings: Settings, now: Clock = utc_now) -> State:
    """Look at a copy in progress: ready, or how long to wait before looking again.

    The look is kept as `lastLook` so that the next one can estimate the copy's end from the
    progress between the two (`polling.next_look_seconds`).
    """
    job, summary = state["job"], state[which]
    accounts = Accounts(settings, job["execution"])
    api = accounts.main(_kind(state)) if which == "intermediate" else accounts.backup(_kind(state))
    where = "main" if which == "intermediate" else "backup"
    snapshot = api.find(summary["id"])
    if snapshot is None:
        if which == "intermediate" and _backup_already_made(accounts, job, _kind(state)):
            return {
                **summary,
                "ready": True,
                "waitSeconds": 0,
                "availableAt": iso(now()),
                "note": _SERVED_BY_ANOTHER_RUN,
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
    look = {"elapsedSeconds": round(elapsed, 1), "percent": snapshot.percent}
    result = {
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
    admission.renew_slot(job, pool, now() + timedelta(seconds=wait) + _lease(), settings=settings)
    return {**result, "ready": False, "waitSeconds": wait}


# --- Share ----------------------------------------------------------------------------------------
def share(state: State, *, settings: Settings) -> State:
    """Let the backup account copy the intermediate copy."""
    job, summary = state["job"], state["intermediate"]
    accounts = Accounts(settings, job["execution"])
    api = accounts.main(_kind(state))
    found = api.find(summary["id"])
    if found is None and _backup_already_made(accounts, job, _kind(state)):
        return {**summary, "note": _SERVED_BY_ANOTHER_RUN}
    snapshot = found or api.get(summary["id"])
    if not is_ours(snapshot.tags, source_arn=job["source"]["arn"], role=ROLE_INTERMEDIATE):
        raise _not_ours(snapshot, where="main", source_arn=job["source"]["arn"])
    if not snapshot.available:
        raise errors.SnapshotNotReady(f"The intermediate copy {snapshot.arn} is {snapshot.status}")
    if settings.backup_account_id not in api.shared_with(snapshot.identifier):
        api.share(snapshot.identifier, settings.backup_account_id)
    return {**summary, "sharedWith": settings.backup_account_id}


# --- CopyBackup -----------------------------------------------------------------------------------
def find_backup(accounts: Accounts, job: dict[str, Any], kind: Kind) -> Snapshot | None:
    """The backup copy of this source, if this app made it; raises if the name is taken."""
    api = accounts.backup(kind)
    existing = api.find(job["copyId"])
    if existing is not None and not is_ours(
        existing.tags, source_arn=job["source"]["arn"], role=ROLE_BACKUP
    ):
        raise _not_ours(existing, where="backup", source_arn=job["source"]["arn"])
    return existing


_SERVED_BY_ANOTHER_RUN = (
    "another run of the same snapshot deleted this intermediate copy after making the backup "
    "copy from it: this run carries on with that backup copy"
)


def _backup_already_made(accounts: Accounts, job: dict[str, Any], kind: Kind) -> bool:
    """When two runs copy one snapshot (a redelivered or late event, the reconciliation), they
    share the intermediate copy, and the first to finish deletes it once its backup copy is
    made. The other run then needs no intermediate copy: the backup copy is there to adopt."""
    backup = find_backup(accounts, job, kind)
    return backup is not None and not backup.failed


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


def _backup_summary(snapshot: Snapshot, started: datetime, adopted: bool) -> State:
    expires = expiry_of(snapshot)
    return {
        **snapshot.summary(),
        "copyStartedAt": iso(started),
        "expiresAt": iso(expires) if expires else None,
        "adopted": adopted,
        "waitSeconds": POLL_FIRST_SECONDS,
    }


def copy_backup(state: State, *, settings: Settings, now: Clock = utc_now) -> State:
    """Copy the intermediate copy into the backup account, encrypted with the backup key."""
    job, shared = state["job"], state["intermediate"]
    kind = _kind(state)
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
    admission.renew_slot(job, POOL_BACKUP, now() + _lease(), settings=settings)
    started = now()
    tags = app_tags(
        source_arn=job["source"]["arn"],
        role=ROLE_BACKUP,
        execution=job["execution"],
        made_at=started,
    )
    if job["retentionDays"] > 0:
        tags[TAG_EXPIRES_AT] = iso(started + timedelta(days=job["retentionDays"]))
    created = accounts.backup(kind).copy(
        source=shared["arn"],
        target=job["copyId"],
        kms_key_id=_copy_key(job, settings),
        tags=tags,
    )
    return {**_backup_summary(created, started, adopted=False), **_record(accounts, created)}


def _record(accounts: Accounts, snapshot: Snapshot) -> State:
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


# --- DeleteIntermediate ---------------------------------------------------------------------------
def delete_intermediate(state: State, *, settings: Settings, now: Clock = utc_now) -> State:
    """Delete the intermediate copy in the main account (it has served its purpose).

    A copy another run made (this run adopted it) is left to that run while it still runs: it
    may still be copying from it, and two runs deleting one snapshot race (the loser's delete
    is refused by IAM, the snapshot's tags being gone). A copy whose maker has ended is
    deleted here.
    """
    job, summary = state["job"], state["intermediate"]
    api = Accounts(settings, job["execution"]).main(_kind(state))
    snapshot = api.find(summary["id"])
    if snapshot is None:
        return {**summary, "deletedAt": iso(now()), "deleted": False}
    if not is_ours(snapshot.tags, source_arn=job["source"]["arn"], role=ROLE_INTERMEDIATE):
        raise _not_ours(snapshot, where="main", source_arn=job["source"]["arn"])
    maker = snapshot.tags.get(TAG_EXECUTION)
    if maker != job["execution"] and run_still_going(maker, settings):
        return {**summary, "deleted": False, "leftFor": maker}
    deleted = api.delete(snapshot.identifier)
    return {**summary, "deletedAt": iso(now()), "deleted": deleted}


# --- DeleteBackup (after the retention) --------------------------------------------------------
def delete_backup(state: State, *, settings: Settings, now: Clock = utc_now) -> State:
    """At the end of the retention, ask the backup account's keeper to delete the backup copy.

    The keeper decides by its own rules (rds_xacct.keeper); `action` is its answer, reported by
    the run: `deleted`; `refused` (`keptUntil` says until when the backup account keeps it: its
    minimum retention, or an expiry an operator moved later; its hourly pass deletes it then);
    `kept` (kept for good: `rds-xacct:keep`, or its expiry tag removed); `gone` (already
    deleted). `note` is the keeper's reason.
    """
    job, summary = state["job"], state["backup"]
    answer = Accounts(settings, job["execution"]).ask_keeper(
        KEEPER_EXPIRE, _kind(state), summary["id"]
    )
    _ask_again_if_nearly_due(answer, now())
    result = {
        **summary,
        "action": answer["decision"],
        "note": answer["reason"],
        "keptUntil": answer.get("keptUntil"),
    }
    if answer["decision"] == KEEPER_DELETED:
        result["deletedAt"] = iso(now())
    return result


def _ask_again_if_nearly_due(answer: dict[str, Any], now: datetime) -> None:
    """The keeper deletes nothing a second early; the run's expiry tag counts from the moment
    it started the copy, RDS's creation time a moment later, so a request at the tag's time may
    come that moment too early. Refused for a kept-until time that close, the step raises
    `SnapshotNotReady`: the state machine asks again (DeleteBackup's Retry)."""
    until = answer.get("keptUntil")
    if answer["decision"] != KEEPER_REFUSED or not until:
        return
    wait = (parse_iso(until) - now).total_seconds()
    if 0 <= wait <= KEEPER_ASK_AGAIN_SECONDS:
        raise errors.SnapshotNotReady(
            f"The backup account keeps {answer.get('snapshot')} until {until}, {wait:.0f} s from "
            f"now: asking again then ({answer.get('reason')})"
        )


# --- Cleanup (after a failure) ----------------------------------------------------------------
def _cleanup_one(accounts: Accounts, kind: Kind, job: dict[str, Any], role: str) -> str | None:
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


def cleanup(state: State, *, settings: Settings, now: Clock = utc_now) -> State:
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
        kind = _kind(state)
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
