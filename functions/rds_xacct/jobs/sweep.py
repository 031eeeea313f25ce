"""The main account's daily sweep: intermediate copies no run will delete any more.

Backup copies are not its business: only the backup account's keeper deletes those
(rds_xacct.keeper)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from rds_xacct.aws.accounts import Accounts, run_still_going
from rds_xacct.aws.observability import logger, metrics
from rds_xacct.jobs import reports
from rds_xacct.model import errors
from rds_xacct.model.constants import (
    COPY_DEADLINE_HOURS,
    ROLE_INTERMEDIATE,
    SWEEP_GRACE_HOURS,
    TAG_EXECUTION,
    TAG_MADE_AT,
)
from rds_xacct.model.metrics import SWEPT_COPIES
from rds_xacct.model.ownership import is_ours
from rds_xacct.model.settings import Settings
from rds_xacct.model.snapshot import Snapshot
from rds_xacct.model.times import Clock, iso, parse_iso, utc_now

State = dict[str, Any]


def _due(snapshot: Snapshot, now: datetime) -> bool:
    """Has this intermediate copy outlived every run that could still need it?"""
    grace = timedelta(hours=SWEEP_GRACE_HOURS)
    made = snapshot.tags.get(TAG_MADE_AT)
    return bool(made) and parse_iso(str(made)) + timedelta(hours=COPY_DEADLINE_HOURS) + grace < now


def sweep(*, settings: Settings, now: Clock = utc_now) -> State:
    """Delete the intermediate copies (main account) that no run will delete any more: past the
    copy deadline, their run stopped or lost. Backup copies are the backup account's keeper's
    to delete (rds_xacct.keeper): the main account can't.

    Only snapshots tagged by this app as intermediate copies are considered; nor a copy whose
    run is still running (the backup account still copies from it, when both copies of a huge
    database take over a week), which is named in `left`.
    """
    accounts = Accounts(settings, "sweeper")
    moment = now()
    deleted: list[str] = []
    left: list[str] = []
    problems: list[str] = []
    for kind in ("db", "cluster"):
        try:
            api = accounts.main(kind)
            for snapshot in api.list_manual():
                tags = snapshot.tags
                if not is_ours(tags, role=ROLE_INTERMEDIATE):
                    continue
                try:
                    due = _due(snapshot, moment)
                except (ValueError, OverflowError):  # a time near datetime's end overflows
                    problems.append(f"{snapshot.arn}: unreadable time tags {tags}")
                    continue
                if not due:
                    continue
                try:
                    running = run_still_going(tags.get(TAG_EXECUTION), settings)
                except errors.PipelineError as error:
                    problems.append(f"{snapshot.arn}: left, its run is unknown: {error}")
                    continue
                if running:
                    left.append(f"{snapshot.arn}: its run {tags[TAG_EXECUTION]} still runs")
                elif api.delete(snapshot.identifier):
                    deleted.append(snapshot.arn)
        except errors.PipelineError as error:
            problems.append(f"{ROLE_INTERMEDIATE} {kind} snapshots: {error}")
    return {"deleted": deleted, "left": left, "problems": problems, "sweptAt": iso(moment)}


def run(*, settings: Settings, now: Clock = utc_now) -> State:
    """Sweep and report (the handler's work): tell SNS when it deleted something or hit a
    problem."""
    result = sweep(settings=settings, now=now)
    metrics.add_metric(name=SWEPT_COPIES, unit=MetricUnit.Count, value=len(result["deleted"]))
    logger.info("Sweep", extra={"sweep": result})
    return reports.report_sweep(result, settings)
