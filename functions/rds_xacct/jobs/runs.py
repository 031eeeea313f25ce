"""The copy runs as an operator sees them: those in flight and the step each is at, those that
ended badly and why, and one run explained (the operator command's `status` and `explain`).

Read from Step Functions: ListExecutions, DescribeExecution (a failed run's error and cause),
and each run's latest history event that entered a state (GetExecutionHistory, newest first),
whose input is the run's state: its event (the source), its job (the database) and, for a run
that failed through the failure notification, its summary.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from rds_xacct.aws.clients import aws_call, aws_code
from rds_xacct.model import error_table, errors
from rds_xacct.model.arns import Arn
from rds_xacct.model.summary import build_summary, console_url, left_behind
from rds_xacct.model.times import iso
from rds_xacct.pipeline.events import parse_event

RUNNING = "RUNNING"
ENDED_BADLY = ("FAILED", "TIMED_OUT", "ABORTED")
"""The statuses of a run that made no copy (ListExecutions `statusFilter`)."""
HISTORY_PAGE = 20
"""Events read per GetExecutionHistory call, newest first: the latest state entered is among
the last few events of a run."""
_OUTCOMES = {"SUCCEEDED": "succeeded", "FAILED": "failed", "TIMED_OUT": "timed-out"}
_STOPPED_HINTS = {
    "ABORTED": "The run was stopped (StopExecution). The stopped-run rule cleaned up what it made "
    "and gave its copy slots back; start it again (rds-xacct run <snapshot>) if the copy is "
    "still wanted.",
    "TIMED_OUT": error_table.hint("States.Timeout"),
}


@dataclass(frozen=True)
class Run:
    """One run of the state machine, as the operator command shows it."""

    name: str
    arn: str
    status: str
    started_at: datetime
    stopped_at: datetime | None = None
    source_arn: str | None = None
    database: str | None = None
    kind: str | None = None
    step: str | None = None
    """Running: the state it is in. Ended badly: the step it stopped at."""
    error: str | None = None
    reason: str | None = None
    """Why it ended badly: the failure's message."""
    hint: str | None = None
    """What to do about it (the error table's hint)."""
    summary: dict[str, Any] | None = field(default=None, repr=False)
    """The run's summary, when it ended (read or rebuilt from its last state)."""

    def to_dict(self) -> dict[str, Any]:
        found = asdict(self)
        found["started_at"] = iso(self.started_at)
        found["stopped_at"] = iso(self.stopped_at) if self.stopped_at else None
        return found

    @property
    def left_behind(self) -> dict[str, list[str]]:
        """What the run left in each account (from its summary)."""
        return left_behind(self.summary or {})

    @property
    def console_url(self) -> str:
        return console_url(self.arn)


def _listed(sfn: Any, state_machine_arn: str, status: str) -> Iterator[dict[str, Any]]:
    """The state machine's runs of a status, newest first (ListExecutions sorts so)."""
    paginator = sfn.get_paginator("list_executions")
    with aws_call(f"Listing the {status} runs of {state_machine_arn}"):
        for page in paginator.paginate(stateMachineArn=state_machine_arn, statusFilter=status):
            yield from page["executions"]


def last_state(sfn: Any, execution_arn: str) -> tuple[str | None, dict[str, Any]]:
    """The state the run entered last, and the run's state then (that state's input)."""
    paginator = sfn.get_paginator("get_execution_history")
    pages = paginator.paginate(
        executionArn=execution_arn,
        reverseOrder=True,
        includeExecutionData=True,
        PaginationConfig={"PageSize": HISTORY_PAGE},
    )
    with aws_call(f"Reading the history of the run {execution_arn}"):
        for page in pages:
            for event in page["events"]:
                entered = event.get("stateEnteredEventDetails")
                if entered:
                    try:
                        state = json.loads(entered.get("input") or "{}")
                    except ValueError:
                        state = {}
                    return str(entered["name"]), state if isinstance(state, dict) else {}
    return None, {}


def _source(state: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(source snapshot ARN, database, kind) from a run's state: its job once DescribeSource
    ran, else its event."""
    source = (state.get("job") or {}).get("source") or {}
    if source.get("arn"):
        return source.get("arn"), source.get("database"), source.get("kind")
    try:
        event = parse_event(state.get("event"))
    except errors.PipelineError:
        return None, None, None
    database = Arn.name_of(event.database_arn) if event.database_arn else None
    return event.snapshot.arn, database, event.kind


def _run(execution: dict[str, Any], step: str | None, state: dict[str, Any]) -> Run:
    source_arn, database, kind = _source(state)
    return Run(
        name=str(execution["name"]),
        arn=str(execution["executionArn"]),
        status=str(execution["status"]),
        started_at=execution["startDate"],
        stopped_at=execution.get("stopDate"),
        source_arn=source_arn,
        database=database,
        kind=kind,
        step=step,
    )


def in_flight(sfn: Any, state_machine_arn: str) -> list[Run]:
    """Every run still going, with the state it is in, newest first."""
    found = []
    for execution in _listed(sfn, state_machine_arn, RUNNING):
        step, state = last_state(sfn, execution["executionArn"])
        found.append(_run(execution, step, state))
    return found


def ended_badly(sfn: Any, state_machine_arn: str, since: datetime) -> list[Run]:
    """The runs started since `since` that failed, timed out or were stopped, newest first,
    each with the step it stopped at, its error and what to do."""
    found = []
    for status in ENDED_BADLY:
        for execution in _listed(sfn, state_machine_arn, status):
            if execution["startDate"] < since:
                break
            found.append(explained(sfn, execution["executionArn"], execution))
    return sorted(found, key=lambda run: run.started_at, reverse=True)


def execution_arn(state_machine_arn: str, run: str) -> str:
    """A run's ARN, from its ARN or its name (a run of this state machine)."""
    if run.startswith("arn:"):
        return run
    machine = Arn.parse(state_machine_arn)
    return str(machine.with_resource(f"execution:{machine.resource_id}:{run}"))


def explain(sfn: Any, state_machine_arn: str, run: str) -> Run:
    """One run (by name or ARN), explained: where it is or stopped, its error, what to do, and
    its summary (what it left in each account)."""
    arn = execution_arn(state_machine_arn, run)
    try:
        with aws_call(f"Describing the run {arn}"):
            described = sfn.describe_execution(executionArn=arn)
    except errors.PipelineError as error:
        if aws_code(error) in ("ExecutionDoesNotExist", "InvalidArn"):
            raise errors.SnapshotNotFound(
                f"No run {run!r} of the state machine {state_machine_arn}"
            ) from error
        raise
    return explained(sfn, arn, described)


def explained(sfn: Any, arn: str, execution: dict[str, Any]) -> Run:
    """A run that ended (or still runs), with its step, error, hint and summary."""
    status = str(execution["status"])
    if "error" not in execution and status in ENDED_BADLY:
        with aws_call(f"Describing the run {arn}"):
            execution = {**execution, **sfn.describe_execution(executionArn=arn)}
    execution = {**execution, "executionArn": arn}
    step, state = last_state(sfn, arn)
    run = _run(execution, step, state)
    if status == RUNNING:
        return run
    summary = state.get("summary") if isinstance(state.get("summary"), dict) else None
    if summary is None and status == "SUCCEEDED" and execution.get("output"):
        output = json.loads(execution["output"])
        summary = output if isinstance(output, dict) and "outcome" in output else None
    if summary is None:
        summary = _rebuilt(state, status, arn, execution, step)
    failure = summary.get("failure") or {}
    source = summary.get("source") or {}
    return replace(
        run,
        source_arn=run.source_arn or source.get("arn"),
        database=run.database or source.get("database"),
        kind=run.kind or source.get("kind"),
        step=failure.get("step", step if status in ENDED_BADLY else None),
        error=failure.get("error"),
        reason=failure.get("message"),
        hint=failure.get("hint"),
        summary=summary,
    )


def _rebuilt(
    state: dict[str, Any], status: str, arn: str, execution: dict[str, Any], step: str | None
) -> dict[str, Any]:
    """The summary of a run that ended without writing one: stopped, or failed with an error
    no Catch handles (its cleanup and notification are the stopped-run rule's)."""
    ended = execution.get("stopDate") or execution["startDate"]
    if status == "FAILED" and not state.get("error"):
        state = {
            **state,
            "error": {"Error": execution.get("error"), "Cause": execution.get("cause")},
        }
    outcome = _OUTCOMES.get(status, "aborted")
    summary = build_summary(state, outcome=outcome, execution_arn=arn, now=ended)
    summary["cleanup"] = None  # not the run's: the stopped-run rule's
    if status == "FAILED":
        summary["failure"]["step"] = step or summary["failure"]["step"]
    elif status in _STOPPED_HINTS:
        summary["failure"] = {
            "step": step,
            "error": "States.Timeout" if status == "TIMED_OUT" else "Aborted",
            "message": f"The run was {status.lower().replace('_', ' ')} at {step}",
            "hint": _STOPPED_HINTS[status],
        }
    return summary
