"""The Notify step: build the run's summary and send it to SNS and Slack.

Runs that reach a result by themselves (copied, failed, skipped) call this from the state
machine.
Runs that are stopped from outside (timed out, aborted) cannot, nor runs that fail with an
error no Catch can handle (`States.Runtime`, `States.DataLimitExceeded`: they end FAILED without
passing through Cleanup and the failure notification): an EventBridge rule on `Step Functions
Execution Status Change` for TIMED_OUT, ABORTED and FAILED with one of those errors calls it
instead (and for a FAILED event that names no error: the error is then read from
DescribeExecution), cleans up what the run left, and reports. A run that failed through its own
Catch ends FAILED with the caught error, which the rule does not match: it has reported already.
Each terminal outcome so gives exactly one notification.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, cast

from aws_lambda_powertools.metrics import MetricUnit

from rds_xacct.aws.clients import aws_call, default_client
from rds_xacct.aws.observability import logger, metrics
from rds_xacct.messages import words
from rds_xacct.messages.delivery import deliver
from rds_xacct.model.arns import Arn
from rds_xacct.model.constants import UNCATCHABLE_ERRORS
from rds_xacct.model.errors import PipelineError
from rds_xacct.model.metrics import (
    BACKUP_COPY_SECONDS,
    INTERMEDIATE_COPY_SECONDS,
    RUN_OUTCOME_PREFIX,
)
from rds_xacct.model.settings import Settings
from rds_xacct.model.state import CaughtError, Job, RunState
from rds_xacct.model.summary import OUTCOMES, build_summary
from rds_xacct.model.times import Clock, utc_now

STATUS_CHANGE_DETAIL_TYPE = "Step Functions Execution Status Change"
STOPPED_STATUSES = {"TIMED_OUT": "timed-out", "ABORTED": "aborted"}
FAILED_STATUS = "FAILED"
_STATE_IN_CAUSE = re.compile(r"state '([^']+)'")


def send(
    summary: dict[str, Any], settings: Settings, *, sleep: Callable[[float], None] | None = None
) -> dict[str, Any]:
    """Send the run's message to every configured channel (SNS; Slack if configured). Returns
    what was delivered.

    SNS refusing for good (a permission, its key, the topic gone) does not keep Slack from
    telling: Slack is sent, then the SNS error raised. An SNS error the state machine retries
    (`Throttled`) is raised at once, so that the retry sends each message once (`deliver`)."""
    delivery = deliver(words.run_message(summary), settings, sleep=sleep)
    metrics.add_metric(
        name=f"{RUN_OUTCOME_PREFIX}{summary['outcome']}", unit=MetricUnit.Count, value=1
    )
    if summary["outcome"] == "succeeded":
        # How long each hop took (the dashboard's minutes per hop), once per copied run
        durations = summary.get("durations") or {}
        intermediate, backup = (
            durations.get("intermediateCopySeconds"),
            durations.get("backupCopySeconds"),
        )
        if intermediate is not None:
            metrics.add_metric(
                name=INTERMEDIATE_COPY_SECONDS, unit=MetricUnit.Seconds, value=intermediate
            )
        if backup is not None:
            metrics.add_metric(name=BACKUP_COPY_SECONDS, unit=MetricUnit.Seconds, value=backup)
    logger.info("Run summary", extra={"summary": summary, "delivered": delivery.channels})
    return delivery.settle()


def report_run(
    event: dict[str, Any], *, settings: Settings, now: Clock = utc_now
) -> dict[str, Any]:
    """Notify for a run (unless `send` is false); returns the summary.

    The state machine notifies when the backup copy is in place (`succeeded`), when a run is
    skipped or fails; at the end of the retention it asks for the summary again without
    sending, as the run's output."""
    outcome = event["outcome"]
    if outcome not in OUTCOMES:
        raise ValueError(f"Unknown outcome {outcome!r}")
    summary = build_summary(
        event["state"], outcome=outcome, execution_arn=event["executionArn"], now=now()
    )
    if event.get("send", True):
        summary["notifications"] = send(summary, settings)
    return summary


def outcome_of_status_change(detail: dict[str, Any]) -> str | None:
    """The outcome to report for a run's status change, or None if the run reported itself."""
    status, error = str(detail.get("status")), detail.get("error")
    if status == FAILED_STATUS and error in UNCATCHABLE_ERRORS:
        return "failed"
    return STOPPED_STATUSES.get(status)


def failure_of(detail: dict[str, Any]) -> dict[str, Any]:
    """The status change's detail with the run's `error` and `cause`. Step Functions puts
    DescribeExecution's fields in the event; should a FAILED event come without `error`, they
    are read from DescribeExecution, so that the run is not taken for one that reported itself."""
    if detail.get("status") != FAILED_STATUS or "error" in detail:
        return detail
    execution_arn = str(detail.get("executionArn", ""))
    with aws_call(f"Reading how run {execution_arn} failed"):
        described = default_client("stepfunctions").describe_execution(executionArn=execution_arn)
    return {**detail, "error": described.get("error"), "cause": described.get("cause", "")}


def report_stopped(
    event: dict[str, Any], *, settings: Settings, now: Clock = utc_now
) -> dict[str, Any]:
    """Clean up after, and notify for, a run that timed out, was aborted, or failed with an
    error its Catch could not handle."""
    detail = failure_of(event.get("detail") or {})
    outcome = outcome_of_status_change(detail)
    execution_arn = str(detail.get("executionArn", ""))
    if outcome is None:
        return {
            "ignored": f"status {detail.get('status')!r} ({detail.get('error')}) is reported by "
            "the run itself"
        }
    # Imported here: a run stopped from outside is rare, and the Notify function runs for every
    # run; the steps it needs then (read the source again, clean up) weigh on its cold start.
    from rds_xacct.pipeline import failure, intake  # noqa: PLC0415

    state: RunState = {}
    problems: list[str] = []
    try:
        source_event = json.loads(detail.get("input") or "null")
        state = intake.describe_source(
            source_event, execution_arn=execution_arn, settings=settings, now=now
        )
        state["cleanup"] = failure.cleanup(state, settings=settings, now=now)
    except (PipelineError, ValueError) as error:
        problems.append(f"could not clean up after the stopped run: {error}")
        # Its copy slots go back all the same: they are the run's, whatever its source.
        job: Job = {"execution": Arn.name_of(execution_arn), "executionArn": execution_arn}
        state["cleanup"] = failure.cleanup({"job": job}, settings=settings, now=now)
    if problems:
        cleanup = state.setdefault("cleanup", {"actions": [], "problems": []})
        cleanup["problems"] = [*cleanup.get("problems", []), *problems]
    if outcome == "failed":
        cause = str(detail.get("cause") or "")
        # (a FAILED run's error, as Step Functions reports it: None only if it reports none)
        state["error"] = cast(CaughtError, {"Error": detail.get("error"), "Cause": cause})
    summary = build_summary(state, outcome=outcome, execution_arn=execution_arn, now=now())
    if outcome == "failed" and summary.get("failure"):
        named = _STATE_IN_CAUSE.search(str(detail.get("cause") or ""))
        summary["failure"]["step"] = (
            named.group(1) if named else "unknown (see the execution's history)"
        )
    summary["notifications"] = send(summary, settings)
    return summary


def handle(event: dict[str, Any], *, settings: Settings) -> dict[str, Any]:
    """Dispatch the Notify function's two kinds of input."""
    if event.get("detail-type") == STATUS_CHANGE_DETAIL_TYPE:
        return report_stopped(event, settings=settings)
    return report_run(event, settings=settings)
