"""AWS's own metrics, which moto never produces, produced as each service documents them.

* Lambda (`AWS/Lambda`, dimension `FunctionName`; "Types of metrics for Lambda functions", Lambda
  Developer Guide): `Invocations` 1 for each invocation of the function's code, and `Errors` 1
  if it ended in a function error (an exception of the handler or of the runtime), else 0; both
  stamped with the time it was invoked ("the timestamp on an error metric reflects when the
  function was invoked"). An invocation error of the Lambda service itself (the handler never
  ran) records neither. Published by `emf.invocation`, around every handler the simulation runs.
* Step Functions (`AWS/States`, dimension `StateMachineArn`; "Monitoring Step Functions metrics
  using Amazon CloudWatch", Step Functions Developer Guide): `ExecutionsStarted` as a run
  starts; `ExecutionsSucceeded`, `ExecutionsFailed`, `ExecutionsAborted` (StopExecution too) or
  `ExecutionsTimedOut`, and `ExecutionTime` (milliseconds), as it ends.
* SQS (`AWS/SQS`, dimension `QueueName`; "Available CloudWatch metrics for Amazon SQS", SQS
  Developer Guide): `ApproximateNumberOfMessagesVisible`, one sample per simulated minute
  ("collected and pushed to CloudWatch at one-minute intervals"), for queues CloudWatch
  considers active ("up to six hours if it contains any messages or if any API action accesses
  it"; here: while it holds messages and for six hours after it last did or was made, which
  is never longer than AWS would publish). Sampled as the clock moves (`SqsSampler`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

from moto.cloudwatch.models import cloudwatch_backends
from moto.sqs.models import sqs_backends
from moto.stepfunctions.parser.asl.eval.program_state import (
    ProgramEnded,
    ProgramError,
    ProgramStopped,
    ProgramTimedOut,
)
from moto.stepfunctions.parser.backend.execution import (
    BaseExecutionWorkerCommunication,
    Execution,
)

LAMBDA = "AWS/Lambda"
STATES = "AWS/States"
SQS = "AWS/SQS"
INVOCATION_ERRORS = frozenset(
    {
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
    }
)
"""Errors of the Lambda service, not of the function ("Handle transient Lambda service
exceptions", Step Functions Developer Guide): "Invocations aren't recorded if the invocation
request is throttled or otherwise results in an invocation error"."""
SQS_SAMPLE = timedelta(minutes=1)
SQS_ACTIVE = timedelta(hours=6)
ONE_MINUTE_RETENTION = timedelta(days=15)
"""CloudWatch keeps one-minute data points for 15 days ("Metrics concepts", retention): a long
jump of the clock samples no further back than that."""


@dataclass(frozen=True)
class Datum:
    """One metric's values at one time, as PutMetricData takes them."""

    namespace: str
    name: str
    values: tuple[float, ...]
    unit: str
    dimensions: tuple[tuple[str, str], ...]
    timestamp: datetime


def put_metrics(account: str, region: str, data: list[Datum]) -> None:
    """PutMetricData in moto's CloudWatch of `account` and `region`, as the service that owns
    the metrics does (CloudWatch Logs for EMF, Lambda, Step Functions, SQS): no one's request."""
    backend = cloudwatch_backends[account][region]
    for datum in data:
        backend.put_metric_data(
            datum.namespace,
            [
                {
                    "MetricName": datum.name,
                    "Values": list(datum.values),
                    "Unit": datum.unit,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in datum.dimensions],
                    # moto keeps naive UTC times (its `utcnow`)
                    "Timestamp": datum.timestamp.astimezone(UTC).replace(tzinfo=None),
                }
            ],
        )


def _count(
    namespace: str, name: str, value: float, dimension: tuple[str, str], at: datetime
) -> Datum:
    return Datum(namespace, name, (value,), "Count", (dimension,), at)


# --- Lambda ---------------------------------------------------------------------------------------
def lambda_invoked(
    function: str, account: str, region: str, invoked: datetime, error: BaseException | None
) -> None:
    """One invocation of `function` ended (`error`: what its handler raised, if anything)."""
    if error is not None and type(error).__name__ in INVOCATION_ERRORS:
        return
    dimension = ("FunctionName", function)
    failed = 1.0 if isinstance(error, Exception) else 0.0
    put_metrics(
        account,
        region,
        [
            _count(LAMBDA, "Invocations", 1.0, dimension, invoked),
            _count(LAMBDA, "Errors", failed, dimension, invoked),
        ],
    )


# --- Step Functions ---------------------------------------------------------------------------------
def _execution_started() -> Callable[[Execution], None]:
    original = Execution.start

    def start(execution: Execution) -> None:
        dimension = ("StateMachineArn", execution.state_machine_arn)
        put_metrics(
            execution.account_id,
            execution.region_name,
            [_count(STATES, "ExecutionsStarted", 1.0, dimension, datetime.now(UTC))],
        )
        original(execution)

    return start


def _execution_ended(timing_out: Callable[[], set[str]]) -> Callable[..., None]:
    original = BaseExecutionWorkerCommunication._reflect_execution_status

    # Published before moto sets the run's status, so whoever sees the run ended finds them.
    def reflect(communication: BaseExecutionWorkerCommunication) -> None:
        execution = communication.execution
        worker: Any = execution.exec_worker
        state = worker.env.program_state()
        name = None
        if isinstance(state, ProgramEnded):
            name = "ExecutionsSucceeded"
        elif isinstance(state, ProgramStopped):
            # moto can only abort; a run the simulation stopped as its time limit would
            # (`Simulation.stop_run_after(step, "TIMED_OUT")`) timed out
            timed_out = execution.exec_arn in timing_out()
            name = "ExecutionsTimedOut" if timed_out else "ExecutionsAborted"
        elif isinstance(state, ProgramError):
            name = "ExecutionsFailed"
        elif isinstance(state, ProgramTimedOut):
            name = "ExecutionsTimedOut"
        if name is not None:
            now = datetime.now(UTC)
            dimension = ("StateMachineArn", execution.state_machine_arn)
            took = (now - execution.start_date).total_seconds() * 1000
            put_metrics(
                execution.account_id,
                execution.region_name,
                [
                    _count(STATES, name, 1.0, dimension, now),
                    Datum(STATES, "ExecutionTime", (took,), "Milliseconds", (dimension,), now),
                ],
            )
        original(communication)  # type: ignore[no-untyped-call]

    return reflect


# --- SQS ----------------------------------------------------------------------------------------------
class SqsSampler:
    """`ApproximateNumberOfMessagesVisible` of every queue, at each whole simulated minute the
    clock passes (the count cannot change while the clock jumps: nothing runs in between)."""

    def __init__(self, start: datetime) -> None:
        self._last = start
        self._active_until: dict[tuple[str, str, str], datetime] = {}
        self._lock = threading.Lock()

    def __call__(self, now: datetime) -> None:
        """The clock moved to `now` (`SimClock.on_advance`)."""
        with self._lock:
            first, self._last = self._last, now
            minute = first.replace(second=0, microsecond=0) + SQS_SAMPLE
            minute = max(minute, now - ONE_MINUTE_RETENTION)
            marks = []
            while minute <= now:
                marks.append(minute)
                minute += SQS_SAMPLE
            if marks:
                self._sample(marks)

    def _sample(self, marks: list[datetime]) -> None:
        for account, regions in list(sqs_backends.items()):
            for region, backend in list(regions.items()):
                for queue in list(backend.queues.values()):
                    self._queue(account, region, queue, marks)

    def _queue(self, account: str, region: str, queue: Any, marks: list[datetime]) -> None:
        key = (account, region, queue.name)
        held = len(queue._messages)
        made = datetime.fromtimestamp(queue.created_timestamp, UTC)
        until = max(self._active_until.get(key, made + SQS_ACTIVE), made + SQS_ACTIVE)
        if held:
            until = max(until, marks[-1] + SQS_ACTIVE)
        self._active_until[key] = until
        visible = float(queue.approximate_number_of_messages)
        dimension = ("QueueName", queue.name)
        put_metrics(
            account,
            region,
            [
                _count(SQS, "ApproximateNumberOfMessagesVisible", visible, dimension, mark)
                for mark in marks
                if mark <= until
            ],
        )


def patches(timing_out: Callable[[], set[str]]) -> list[Any]:
    """Step Functions' execution metrics (`timing_out()`: runs whose stop is a time-out)."""
    return [
        mock.patch.object(Execution, "start", _execution_started()),
        mock.patch.object(
            BaseExecutionWorkerCommunication,
            "_reflect_execution_status",
            _execution_ended(timing_out),
        ),
    ]


__all__ = [
    "INVOCATION_ERRORS",
    "LAMBDA",
    "SQS",
    "STATES",
    "Datum",
    "SqsSampler",
    "lambda_invoked",
    "patches",
    "put_metrics",
]
