"""The daily reconciliation: a run for every recent source snapshot whose event went missing.

AWS Backup and RDS deliver their events to EventBridge on a best-effort basis: an event that
never arrives means no run, no copy and no notification. Once a day this looks at the source
snapshots of the last `RECONCILE_LOOKBACK_HOURS` that the deployment copies (AWS Backup
snapshots always; native automated or manual ones when their `CopyRds…` parameter is on; the
databases the include/exclude patterns and the selection tag choose: rds_xacct.model.selection)
and, for each that has

* no copy made by the app (an intermediate copy in the main account or a backup copy in the
  backup account, by the `rds-xacct:source-arn` tag or the copy's deterministic name), and
* no run (running or ended, read from each run's input: the event it was started with),

starts a run with the event the source would have sent, built here, marked in
`detail["rds-xacct:reconciled"]`. Each run so started has a deterministic name
(`reconcile-<database>-<time>-<hash>`), so a second reconciliation finds it, and Step Functions
refuses the name twice. Not always: StartExecution with the name *and input* of a running
execution succeeds and returns that execution (StartExecution API reference: "idempotent for
STANDARD workflows ... if you call StartExecution with the same name and input as a running
execution, the call succeeds and return the same response as the original request. If the
execution is closed or if the input is different, it returns a 400 ExecutionAlreadyExists
error"). So each look marks its events with its own id (the mark's text): a run another look
started (two reconciliations at once: the scheduler delivers at least once) is refused,
`ExecutionAlreadyExists`, and counted `alreadyStarted`; a start answered with an existing run
is this look's own request sent twice (the SDK retrying a lost answer), the run it started.
At most `RECONCILE_MAX_STARTS_PER_DAY` in any 24 hours; the rest are
named in the report. One SNS message when it started something or hit a problem, none when all
is well.

What it looks at is rds_xacct.jobs.reconcile_sources; the events it builds and its runs' names,
rds_xacct.jobs.reconcile_events; its message, rds_xacct.jobs.reports.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from rds_xacct.aws.accounts import Accounts
from rds_xacct.aws.clients import default_client
from rds_xacct.jobs import reports
from rds_xacct.jobs.reconcile_events import build_event, execution_name, start_run
from rds_xacct.jobs.reconcile_sources import DAY, Scope, candidates, copies, runs
from rds_xacct.model import errors
from rds_xacct.model.constants import (
    RECONCILE_LOOKBACK_HOURS,
    RECONCILE_MAX_LOOKBACK_HOURS,
    RECONCILE_MAX_STARTS_PER_DAY,
    RECONCILE_MIN_AGE_MINUTES,
)
from rds_xacct.model.naming import source_arn_tag
from rds_xacct.model.settings import Settings
from rds_xacct.model.times import Clock, iso, utc_now

_EXECUTIONS_SLACK = timedelta(hours=1)
"""Runs are listed from this long before the oldest snapshot looked at (a clock's skew)."""


def lookback(event: Any) -> timedelta:
    """The lookback the invocation asks for (`{"lookbackHours": 72}` by hand), else the default."""
    hours = event.get("lookbackHours") if isinstance(event, dict) else None
    if hours is None:
        return timedelta(hours=RECONCILE_LOOKBACK_HOURS)
    if isinstance(hours, bool) or not isinstance(hours, (int, float)):
        raise errors.UnsupportedEvent(f"lookbackHours must be a number of hours, not {hours!r}")
    if not 1 <= hours <= RECONCILE_MAX_LOOKBACK_HOURS:
        raise errors.UnsupportedEvent(
            f"lookbackHours must be from 1 to {RECONCILE_MAX_LOOKBACK_HOURS}, not {hours}"
        )
    return timedelta(hours=hours)


def reconcile(
    event: Any,
    *,
    settings: Settings,
    scope: Scope,
    now: Clock = utc_now,
    sfn: Any = None,
    look: str | None = None,
) -> dict[str, Any]:
    """Look, and start a run for each missed source snapshot (see the module's docstring).
    `look` identifies this look in the events it builds (a new id unless given)."""
    look = look or uuid.uuid4().hex
    moment = now()
    window = lookback(event)
    since, until = moment - window, moment - timedelta(minutes=RECONCILE_MIN_AGE_MINUTES)
    result: dict[str, Any] = {
        "reconciledAt": iso(moment),
        "look": look,
        "lookbackHours": window.total_seconds() / 3600,
        "from": iso(since),
        "to": iso(until),
        "looked": 0,
        "excluded": 0,
        "copied": 0,
        "runs": 0,
        "started": [],
        "alreadyStarted": [],
        "overCap": [],
        "problems": [],
    }
    accounts = Accounts(settings, "reconcile")
    try:
        found, result["excluded"] = candidates(accounts, scope, settings, since, until)
        result["looked"] = len(found)
        missing = found
        if missing:
            sources, names = copies(accounts)
            missing = [
                c
                for c in missing
                if source_arn_tag(c.snapshot.arn) not in sources and c.copy_id not in names
            ]
            result["copied"] = len(found) - len(missing)
        sfn = sfn or default_client("stepfunctions")
        runs_since = min(since, moment - DAY) - _EXECUTIONS_SLACK
        started_today = 0
        if missing:
            seen = runs(sfn, scope.state_machine_arn, runs_since, moment)
            started_today = seen.started_by_reconciliation
            before = len(missing)
            missing = [c for c in missing if c.snapshot.arn not in seen.sources]
            result["runs"] = before - len(missing)
    except errors.PipelineError as error:
        # Without the whole picture nothing is started: a run too many is worse than a day late.
        result["problems"].append(f"{type(error).__name__}: {error}")
        return result
    room = max(RECONCILE_MAX_STARTS_PER_DAY - started_today, 0)
    for candidate in missing:
        snapshot = candidate.snapshot
        if room <= 0:
            result["overCap"].append(snapshot.arn)
            continue
        try:
            name = execution_name(candidate.snapshot)
            event = build_event(candidate, look)
            arn, new = start_run(sfn, scope.state_machine_arn, name, event)
        except errors.PipelineError as error:
            result["problems"].append(f"{snapshot.arn}: {type(error).__name__}: {error}")
            continue
        entry = {
            "source": snapshot.arn,
            "database": snapshot.database,
            "origin": candidate.origin,
            "createdAt": iso(snapshot.created_at) if snapshot.created_at else None,
            "execution": arn,
        }
        if new:
            room -= 1
            result["started"].append(entry)
        else:
            result["alreadyStarted"].append(entry)
    return result


def run(
    event: Any, *, settings: Settings, scope: Scope, now: Clock = utc_now, sfn: Any = None
) -> dict[str, Any]:
    """Reconcile and report: the handler's work."""
    return reports.report_reconcile(
        reconcile(event, settings=settings, scope=scope, now=now, sfn=sfn), settings
    )
