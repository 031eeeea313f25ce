"""DeleteIntermediate and DeleteBackup: the intermediate copy goes once the backup copy is made;
the backup copy, at the end of its retention, only if the backup account's keeper agrees."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rds_xacct.aws.accounts import Accounts, run_still_going
from rds_xacct.model import errors
from rds_xacct.model.constants import (
    KEEPER_ASK_AGAIN_SECONDS,
    KEEPER_DELETED,
    KEEPER_EXPIRE,
    KEEPER_REFUSED,
    ROLE_INTERMEDIATE,
    TAG_EXECUTION,
)
from rds_xacct.model.ownership import is_ours
from rds_xacct.model.settings import Settings
from rds_xacct.model.state import BackupCopy, IntermediateCopy, RunState, kind_of
from rds_xacct.model.times import Clock, iso, parse_iso, utc_now
from rds_xacct.pipeline.copies import not_ours


def delete_intermediate(
    state: RunState, *, settings: Settings, now: Clock = utc_now
) -> IntermediateCopy:
    """Delete the intermediate copy in the main account (it has served its purpose).

    A copy another run made (this run adopted it) is left to that run while it still runs: it
    may still be copying from it, and two runs deleting one snapshot race (the loser's delete
    is refused by IAM, the snapshot's tags being gone). A copy whose maker has ended is
    deleted here.
    """
    job, summary = state["job"], state["intermediate"]
    api = Accounts(settings, job["execution"]).main(kind_of(state))
    snapshot = api.find(summary["id"])
    if snapshot is None:
        return {**summary, "deletedAt": iso(now()), "deleted": False}
    if not is_ours(snapshot.tags, source_arn=job["source"]["arn"], role=ROLE_INTERMEDIATE):
        raise not_ours(snapshot, where="main", source_arn=job["source"]["arn"])
    maker = snapshot.tags.get(TAG_EXECUTION)
    if maker != job["execution"] and run_still_going(maker, settings):
        return {**summary, "deleted": False, "leftFor": maker}
    deleted = api.delete(snapshot.identifier)
    return {**summary, "deletedAt": iso(now()), "deleted": deleted}


# --- DeleteBackup (after the retention) --------------------------------------------------------
def delete_backup(state: RunState, *, settings: Settings, now: Clock = utc_now) -> BackupCopy:
    """At the end of the retention, ask the backup account's keeper to delete the backup copy.

    The keeper decides by its own rules (rds_xacct.keeper); `action` is its answer, reported by
    the run: `deleted`; `refused` (`keptUntil` says until when the backup account keeps it: its
    minimum retention, or an expiry an operator moved later; its hourly pass deletes it then);
    `kept` (kept for good: `rds-xacct:keep`, or its expiry tag removed); `gone` (already
    deleted). `note` is the keeper's reason.
    """
    job, summary = state["job"], state["backup"]
    answer = Accounts(settings, job["execution"]).ask_keeper(
        KEEPER_EXPIRE, kind_of(state), summary["id"]
    )
    _ask_again_if_nearly_due(answer, now())
    result: BackupCopy = {
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
