"""The main account's hourly watch (functions/watch.py, on an hourly schedule): does every
database the selection covers have a fresh copy in the backup account (rds_xacct.jobs.freshness),
and how full are the copy slots (rds_xacct.admission.slots)?

It writes, through Powertools' metrics (rds_xacct.model.metrics):

* DATABASES_WITHOUT_FRESH_COPY, which DatabasesWithoutFreshCopyAlarm watches: covered databases
  with no copy newer than the recovery point objective (a database never copied counts);
* COPY_SLOTS_IN_USE, RUNS_WAITING_FOR_SLOT and OLDEST_SLOT_WAIT_MINUTES.

and one log line per run, message `Freshness` (in parts of FRESHNESS_LOG_PART databases), with
`databases`: [{database, kind, sourceAccount, sourceArn, newestCopy, recoveryPoint, ageHours,
stale}]. A look that fails (AWS Backup, the backup account's role) is logged and named in
`problems`, and its metric is not written: the alarm treats a missing value as breaching.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from rds_xacct.admission.slots import gauges
from rds_xacct.aws.observability import logger, metrics
from rds_xacct.jobs.freshness import freshness
from rds_xacct.model import errors
from rds_xacct.model.freshness import log_lines
from rds_xacct.model.metrics import (
    COPY_SLOTS_IN_USE,
    DATABASES_WITHOUT_FRESH_COPY,
    OLDEST_SLOT_WAIT_MINUTES,
    RUNS_WAITING_FOR_SLOT,
)
from rds_xacct.model.settings import Settings
from rds_xacct.model.times import Clock, iso, utc_now


def _log(entries: list[dict[str, Any]], *, rpo_hours: int) -> None:
    for line in log_lines(
        entries,
        databasesWithoutFreshCopy=sum(1 for entry in entries if entry["stale"]),
        coveredDatabases=len(entries),
        recoveryPointObjectiveHours=rpo_hours,
    ):
        logger.info("Freshness", extra=line)


def watch(
    *,
    settings: Settings,
    now: Clock = utc_now,
    rds: Any = None,
    backup_rds: Any = None,
    aws_backup: Any = None,
    dynamodb: Any = None,
) -> dict[str, Any]:
    """Look at freshness and at the copy slots, and write their metrics; returns what it saw."""
    moment = now()
    result: dict[str, Any] = {"watchedAt": iso(moment), "problems": []}
    try:
        found = freshness(
            settings,
            now=moment,
            rpo_hours=settings.rpo_hours,
            rds=rds,
            backup_rds=backup_rds,
            aws_backup=aws_backup,
        )
    except errors.PipelineError as error:
        logger.error(f"Could not look at freshness: {type(error).__name__}: {error}")
        result["problems"].append(f"freshness: {type(error).__name__}: {error}")
    else:
        without = [f"{f.kind}/{f.database}" for f in found if f.stale]
        metrics.add_metric(DATABASES_WITHOUT_FRESH_COPY, MetricUnit.Count, len(without))
        _log([f.entry() for f in found], rpo_hours=settings.rpo_hours)
        result["covered"] = len(found)
        result["withoutFreshCopy"] = without
    try:
        slots = gauges(settings, now=moment, dynamodb=dynamodb)
    except errors.PipelineError as error:
        logger.error(f"Could not read the copy slots: {type(error).__name__}: {error}")
        result["problems"].append(f"copy slots: {type(error).__name__}: {error}")
    else:
        metrics.add_metric(COPY_SLOTS_IN_USE, MetricUnit.Count, slots.in_use)
        metrics.add_metric(RUNS_WAITING_FOR_SLOT, MetricUnit.Count, slots.waiting)
        metrics.add_metric(OLDEST_SLOT_WAIT_MINUTES, MetricUnit.NoUnit, slots.oldest_wait_minutes)
        result["slots"] = slots.__dict__
    return result
