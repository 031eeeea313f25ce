"""The keeper's hourly pass (`keep`; functions/keeper.py `hourly`, its own function that only the
backup account's schedule invokes): records new copies, deletes those whose kept-until time has
come (the runs' requests come first, rds_xacct.keeper.requests; this catches runs that were
stopped or lost) and unfinished copies no run will finish, then checks every source database's
freshness from the copies it listed (rds_xacct.keeper.freshness). No copy, whatever its tags,
stops the pass for the others.

At its end it writes its metrics (an EMF line, rds_xacct.aws.emf): KEEPER_PASSES (1: a pass that
stops running or fails shows as the metric missing), KEEPER_DELETIONS, KEEPER_RECORDED,
UNREADABLE_COPIES (its `problems`) and STALE_DATABASES (left out when the freshness check itself
failed: StaleCopiesAlarm treats a missing value as breaching).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from rds_xacct.aws import emf
from rds_xacct.aws.clients import rds_client
from rds_xacct.aws.snapshots import SnapshotApi
from rds_xacct.keeper import freshness
from rds_xacct.keeper.ledger import Ledger, delete, is_newer, recorded
from rds_xacct.keeper.rules import Answer, Record, due, not_a_copy
from rds_xacct.keeper.settings import KeeperSettings
from rds_xacct.model.constants import APP_NAME, COPY_DEADLINE_HOURS, SWEEP_GRACE_HOURS
from rds_xacct.model.metrics import (
    KEEPER_DELETIONS,
    KEEPER_PASSES,
    KEEPER_RECORDED,
    STALE_DATABASES,
    UNREADABLE_COPIES,
)
from rds_xacct.model.snapshot import Snapshot
from rds_xacct.model.times import Clock, iso, utc_now

logger = logging.getLogger(APP_NAME)


def _unfinished_due(snapshot: Snapshot, made: datetime, now: datetime) -> bool:
    """An unfinished copy no run will finish: failed a grace period ago, or still not available
    a grace period after the copy deadline."""
    age = now - made
    grace = timedelta(hours=SWEEP_GRACE_HOURS)
    if snapshot.failed:
        return age > grace
    return age > timedelta(hours=COPY_DEADLINE_HOURS) + grace


def keep(
    *,
    settings: KeeperSettings,
    now: Clock = utc_now,
    rds: Any = None,
    ledger: Ledger | None = None,
) -> Answer:
    """Look at every copy of the app in the backup account: record new ones, delete those
    whose kept-until time has come and unfinished ones no run will finish. A problem with one
    copy, whatever it is (an AWS error, or tags or times the keeper can't read), is reported
    and logged, and the others still looked at: no copy stops the pass. Then freshness, from
    the copies listed."""
    ledger = ledger or Ledger(settings.ledger_table)
    client = rds or rds_client()
    moment = now()
    records, items = ledger.read()
    result: dict[str, Any] = {"deleted": [], "recorded": [], "kept": 0, "problems": []}
    listed: list[Snapshot] = []
    for kind in ("db", "cluster"):
        api = SnapshotApi(client, kind)
        try:
            snapshots = api.list_manual()
        except Exception as error:  # the other kind is still looked at
            logger.exception("Could not list snapshots", extra={"kind": kind})
            result["problems"].append(f"{kind} snapshots: {error}")
            continue
        listed.extend(snapshots)
        for snapshot in snapshots:
            try:
                _pass_one(
                    api,
                    snapshot,
                    (ledger, records.get(snapshot.arn)),
                    settings,
                    now=moment,
                    result=result,
                )
            except Exception as error:  # one copy never stops the pass
                logger.exception("Could not look at a copy", extra={"snapshot": snapshot.arn})
                result["problems"].append(f"{snapshot.arn}: {type(error).__name__}: {error}")
    result["keptAt"] = iso(moment)
    metrics = {
        KEEPER_DELETIONS: len(result["deleted"]),
        KEEPER_RECORDED: len(result["recorded"]),
        UNREADABLE_COPIES: len(result["problems"]),
    }
    gone = set(result["deleted"])
    try:
        checked = freshness.run(
            [s for s in listed if s.arn not in gone],
            items,
            ledger=ledger,
            settings=settings,
            now=moment,
        )
    except Exception as error:  # the pass's other work stands; the alarm sees no value
        logger.exception("Could not check freshness")
        result["freshness"] = {"problem": f"{type(error).__name__}: {error}"}
    else:
        result["freshness"] = checked.__dict__
        metrics[STALE_DATABASES] = len(checked.stale)
    logger.info("Hourly pass", extra=result)
    emf.emit({**metrics, KEEPER_PASSES: 1}, now=moment)
    return result


def _pass_one(
    api: SnapshotApi,
    snapshot: Snapshot,
    ledger_and_record: tuple[Ledger, Record | None],
    settings: KeeperSettings,
    *,
    now: datetime,
    result: dict[str, Any],
) -> None:
    """The hourly pass's look at one snapshot, its outcome added to `result`."""
    if not_a_copy(snapshot, settings) is not None:
        return
    ledger, record = ledger_and_record
    if record is None or is_newer(snapshot, record):
        record = recorded(ledger, record, snapshot, settings, now)
        result["recorded"].append(snapshot.arn)
    if not snapshot.available:
        if _unfinished_due(snapshot, record.created_at, now) and delete(api, snapshot, ledger, now):
            result["deleted"].append(snapshot.arn)
        return
    may_delete, _, _ = due(snapshot, record, settings, now)
    if not may_delete:
        result["kept"] += 1
    elif delete(api, snapshot, ledger, now):
        result["deleted"].append(snapshot.arn)
