"""What the daily jobs tell the notification topic: one SNS message when the reconciliation
started runs, left some over or hit a problem, and when the sweep deleted copies or hit a
problem; none when all is well."""

from __future__ import annotations

from typing import Any

from rds_xacct.messages import notify
from rds_xacct.model.constants import APP_NAME, RECONCILE_MAX_STARTS_PER_DAY
from rds_xacct.model.settings import Settings


def report_reconcile(result: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """One SNS message when reconciliation started runs, left some over or hit a problem."""
    started, over, problems = result["started"], result["overCap"], result["problems"]
    if not settings.topic_arn or not (started or over or problems):
        return result
    headline = f"[{APP_NAME}] Reconciled: {len(started)} runs started for missed events"
    lines = [
        f"The daily reconciliation looked at {result['looked']} source snapshots made from "
        f"{result['from']} to {result['to']} ({result['copied']} already copied, "
        f"{result['runs']} with a run, {result['excluded']} left out by the selection"
        f"{_already(result)}).",
        *[
            f"  started   {s['database']}: {s['source']} (made {s['createdAt']}, no event "
            f"arrived) -> {s['execution']}"
            for s in started
        ],
        *[
            f"  not yet   {arn}: over the limit of {RECONCILE_MAX_STARTS_PER_DAY} runs a day; "
            f'tomorrow, invoke the reconciler with {{"lookbackHours": 50}} to start it'
            for arn in over
        ],
        *[f"  problem   {problem}" for problem in problems],
    ]
    outcome = "reconcile-problems" if problems or over else "reconciled"
    result["sns"] = notify.publish(
        settings.topic_arn, headline[: notify.SUBJECT_LIMIT], "\n".join(lines), {"outcome": outcome}
    )
    return result


def _already(result: dict[str, Any]) -> str:
    count = len(result["alreadyStarted"])
    return f"; {count} already started by another reconciliation" if count else ""


def report_sweep(result: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """One SNS message when the sweep deleted something or hit a problem."""
    deleted, problems = result["deleted"], result["problems"]
    if settings.topic_arn and (deleted or problems):
        headline = f"[{APP_NAME}] Swept: {len(deleted)} copies past their time deleted"
        body = "\n".join(
            [
                "Copies no run would delete any more (a stopped or lost run), deleted by the "
                "daily sweep:",
                *[f"  deleted  {arn}" for arn in deleted],
                *[f"  problem  {problem}" for problem in problems],
            ]
        )
        outcome = "swept" if not problems else "sweep-problems"
        result["sns"] = notify.publish(
            settings.topic_arn, headline[: notify.SUBJECT_LIMIT], body, {"outcome": outcome}
        )
    return result
