"""Lambda's log of each invocation, and the metrics CloudWatch Logs extracts from it.

On AWS a function's standard output goes to its log group, and CloudWatch Logs turns every line
in the embedded metric format (EMF) into metrics of the function's account ("Specification:
Embedded metric format", CloudWatch User Guide: "On Lambda ... Writing JSON to standard out in the
embedded metric format is sufficient"). Here every handler runs in-process, many at once in
threads, so `sys.stdout` becomes thread-aware (`ThreadStdout`): what a thread prints while it runs
an invocation (`invocation`) is that invocation's alone. Each complete line that is an EMF
document becomes PutMetricData in moto's CloudWatch of the function's account and region, with
the document's timestamp (simulated time), values, unit and dimensions, and is kept in the
simulation's log (`Simulation.logs`, as CloudWatch Logs keeps it), not printed; any other line
still reaches the terminal as before, whole.

Each invocation is also its own execution environment for Powertools' Metrics (Lambda runs each
concurrent invocation in an environment of its own; "Lambda execution environment", Lambda
Developer Guide): Powertools keeps the metrics a handler adds in dictionaries shared by the
process, which the simulation's concurrent runs would flush into each other's logs.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO
from unittest import mock

from aws_lambda_powertools import Metrics

from rds_xacct.aws import observability
from simulation.moto.cloudwatch import Datum, lambda_invoked, put_metrics

_LOCAL = threading.local()
"""`stack`: the invocations the thread is running, innermost last (a handler that invokes
another function in-process runs it in its own thread)."""

UNITS = frozenset(
    {
        *("Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes"),
        *("Gigabytes", "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits"),
        *("Percent", "Count", "Bytes/Second", "Kilobytes/Second", "Megabytes/Second"),
        *("Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second"),
        *("Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None"),
    }
)
"""CloudWatch's units (CloudWatch API reference, MetricDatum `Unit`; the EMF schema's pattern)."""
MAX_METRICS = 100
"""A directive's metrics, and the values of one metric ("Specification: Embedded metric
format": "This array MUST NOT contain more than 100 MetricDefinition objects"; "Numeric array
metric targets MUST NOT have more than 100 members")."""
MAX_DIMENSIONS = 30
"""Dimension keys in one DimensionSet (the specification; CloudWatch allows 30 dimensions to a
metric)."""
OLDEST = timedelta(days=14)
NEWEST = timedelta(hours=2)
"""CloudWatch Logs skips EMF metrics more than 14 days in the past or 2 hours in the future
("Specification: Embedded metric format", and Powertools' warning, which cites it)."""


class EmfRejected(ValueError):
    """A log line that claims the embedded metric format (`_aws`) but breaks the specification:
    CloudWatch Logs extracts no metric from it (it counts it in `AWS/Logs` EMFValidationErrors)."""


def emf_metrics(line: str, now: datetime) -> list[Datum] | None:
    """The metrics CloudWatch Logs extracts from one log line: None if the line is not an EMF
    document; `EmfRejected` if it is one that breaks the specification."""
    text = line.strip()
    if not text.startswith("{") or '"_aws"' not in text:
        return None
    try:
        root = json.loads(text)
    except ValueError:
        return None
    if not isinstance(root, dict) or "_aws" not in root:
        return None
    meta = root["_aws"]
    if not isinstance(meta, dict):
        raise EmfRejected("_aws is not an object")
    stamp = meta.get("Timestamp")
    if not isinstance(stamp, int | float) or isinstance(stamp, bool):
        raise EmfRejected("_aws.Timestamp is missing or not a number of milliseconds")
    timestamp = datetime.fromtimestamp(stamp / 1000, UTC)
    if not now - OLDEST <= timestamp <= now + NEWEST:
        raise EmfRejected(f"_aws.Timestamp {timestamp:%Y-%m-%dT%H:%M:%SZ} is out of range")
    directives = meta.get("CloudWatchMetrics")
    if not isinstance(directives, list):
        raise EmfRejected("_aws.CloudWatchMetrics is missing or not an array")
    found: list[Datum] = []
    for directive in directives:
        found.extend(_directive(root, directive, timestamp))
    return found


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _directive(root: dict[str, Any], directive: Any, timestamp: datetime) -> list[Datum]:
    if not isinstance(directive, dict):
        raise EmfRejected("a MetricDirective is not an object")
    namespace, sets, metrics = (directive.get(k) for k in ("Namespace", "Dimensions", "Metrics"))
    if not isinstance(namespace, str) or not 1 <= len(namespace) <= 255:
        raise EmfRejected("a MetricDirective has no Namespace")
    if not isinstance(sets, list) or not sets or not all(isinstance(s, list) for s in sets):
        raise EmfRejected(f"{namespace}: Dimensions is not an array of DimensionSets")
    if not isinstance(metrics, list) or len(metrics) > MAX_METRICS:
        raise EmfRejected(f"{namespace}: Metrics is not an array of at most {MAX_METRICS}")
    dimension_sets = []
    for keys in sets:
        if len(keys) > MAX_DIMENSIONS:
            raise EmfRejected(f"{namespace}: a DimensionSet of more than {MAX_DIMENSIONS} keys")
        for key in keys:
            if not isinstance(key, str) or not isinstance(root.get(key), str):
                raise EmfRejected(f"{namespace}: dimension {key!r} has no string value")
        dimension_sets.append(tuple((key, str(root[key])) for key in keys))
    found: list[Datum] = []
    for definition in metrics:
        name = definition.get("Name") if isinstance(definition, dict) else None
        if not isinstance(name, str) or not name:
            raise EmfRejected(f"{namespace}: a MetricDefinition has no Name")
        unit = definition.get("Unit") or "None"
        if unit not in UNITS:
            raise EmfRejected(f"{namespace}/{name}: {unit!r} is not a CloudWatch unit")
        target = root.get(name)
        values = target if isinstance(target, list) else [target]
        if not values or len(values) > MAX_METRICS or not all(_is_number(v) for v in values):
            raise EmfRejected(f"{namespace}/{name}: not a number or an array of 1-100 numbers")
        numbers = tuple(float(v) for v in values if isinstance(v, int | float))
        found.extend(
            Datum(namespace, name, numbers, unit, dims, timestamp) for dims in dimension_sets
        )
    return found


def _nowhere(line: str) -> None:
    pass


@dataclass
class FunctionLogs:
    """Where the functions' logs go."""

    log: Callable[[str], object] = _nowhere
    """Each EMF line, as the function's log group keeps it (`Simulation.logs`)."""
    rejected: list[str] = field(default_factory=list)
    """Each line that claims EMF but breaks the specification, and why (no metric made)."""


@dataclass
class Invocation:
    """One invocation of a function: what its handler prints, and Powertools' metrics it adds."""

    function: str
    account: str
    region: str
    started: datetime
    logs: FunctionLogs
    powertools: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"metrics": {}, "dimensions": {}, "metadata": {}}
    )
    documents: int = 0
    """EMF documents turned into metrics."""
    _partial: str = ""

    def write(self, text: str) -> None:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._line(line)

    def close(self) -> None:
        if self._partial:
            self._line(self._partial)
            self._partial = ""

    def _line(self, line: str) -> None:
        try:
            data = emf_metrics(line, datetime.now(UTC))
        except EmfRejected as error:
            self.logs.rejected.append(f"{self.function} ({self.account}): {error}: {line}")
            data = None
        if data is None:
            # Any other line reaches the terminal as before (what a test reads of a function's
            # output); an EMF line goes to the function's log only, as on Lambda
            _terminal().write(line + "\n")
            return
        put_metrics(self.account, self.region, data)
        self.documents += 1
        self.logs.log(line + "\n")


def current_invocation() -> Invocation | None:
    stack: list[Invocation] = getattr(_LOCAL, "stack", [])
    return stack[-1] if stack else None


@contextmanager
def invocation(
    function: str, account: str, region: str, logs: FunctionLogs
) -> Iterator[Invocation]:
    """The calling thread runs one invocation of `function` (in `account`, `region`) for the
    duration: what it prints is the invocation's, and so are Powertools' metrics; its EMF
    lines become metrics, and Lambda's own (`Invocations`, `Errors`) are published as it ends."""
    _wrapped()
    running = Invocation(function, account, region, datetime.now(UTC), logs)
    stack = getattr(_LOCAL, "stack", None)
    if stack is None:
        stack = _LOCAL.stack = []
    stack.append(running)
    error: BaseException | None = None
    try:
        yield running
    except BaseException as raised:
        error = raised
        raise
    finally:
        stack.pop()
        running.close()
        lambda_invoked(function, account, region, running.started, error)


class ThreadStdout:
    """`sys.stdout` while a simulation runs: a thread inside an invocation writes to that
    invocation; any other write goes to the stream this one replaced."""

    def __init__(self, terminal: TextIO) -> None:
        self.terminal = terminal

    def write(self, text: str) -> int:
        running = current_invocation()
        if running is None:
            return self.terminal.write(text)
        running.write(text)
        return len(text)

    def flush(self) -> None:
        self.terminal.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.terminal, name)


class _Installed:
    """How many simulations want `sys.stdout` thread-aware."""

    users = 0
    lock = threading.Lock()


def _terminal() -> TextIO:
    """Where output outside the functions' logs goes: the stream a `ThreadStdout` replaced."""
    current = sys.stdout
    return current.terminal if isinstance(current, ThreadStdout) else current


def _wrapped() -> None:
    """Make `sys.stdout` thread-aware if someone set another since (pytest's capture does, at
    each phase of a test): checked as each invocation starts."""
    with _Installed.lock:
        if _Installed.users and not isinstance(sys.stdout, ThreadStdout):
            sys.stdout = ThreadStdout(sys.stdout)


@contextmanager
def thread_stdout() -> Iterator[None]:
    """`sys.stdout` made thread-aware for the duration (however many simulations are open)."""
    with _Installed.lock:
        _Installed.users += 1
    _wrapped()
    try:
        yield
    finally:
        with _Installed.lock:
            _Installed.users -= 1
            if not _Installed.users and isinstance(sys.stdout, ThreadStdout):
                sys.stdout = sys.stdout.terminal


class _PerInvocation(MutableMapping[str, Any]):
    """One of Powertools' metric dictionaries, the running invocation's own (a thread outside
    any invocation has one of its own)."""

    def __init__(self, which: str) -> None:
        self._which = which
        self._outside = threading.local()
        """A thread's own outside any invocation, for as long as this patch is installed (a
        test that calls a handler directly starts with none)."""

    def _own(self) -> dict[str, Any]:
        running = current_invocation()
        if running is not None:
            return running.powertools[self._which]
        own: dict[str, Any] | None = getattr(self._outside, "found", None)
        if own is None:
            own = self._outside.found = {}
        return own

    def __getitem__(self, key: str) -> Any:
        return self._own()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._own()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._own()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._own()))

    def __len__(self) -> int:
        return len(self._own())

    def copy(self) -> dict[str, Any]:
        return dict(self._own())


def _powertools_per_invocation() -> list[Any]:
    # Powertools' Metrics keeps what handlers add in class-level dictionaries shared by every
    # instance and thread ("We use class attrs to share metrics data across instances"): one
    # run's handler would flush another's metrics, or clear its dimensions mid-flush. On Lambda
    # each concurrent invocation has an execution environment (a process) of its own.
    instance = observability.metrics
    made = {which: _PerInvocation(which) for which in ("metrics", "dimensions", "metadata")}
    return [
        mock.patch.object(Metrics, "_metrics", made["metrics"]),
        mock.patch.object(Metrics, "_dimensions", made["dimensions"]),
        mock.patch.object(Metrics, "_metadata", made["metadata"]),
        mock.patch.object(instance, "metric_set", made["metrics"]),
        mock.patch.object(instance, "dimension_set", made["dimensions"]),
        mock.patch.object(instance, "metadata_set", made["metadata"]),
        mock.patch.object(instance.provider, "metric_set", made["metrics"]),
        mock.patch.object(instance.provider, "dimension_set", made["dimensions"]),
        mock.patch.object(instance.provider, "metadata_set", made["metadata"]),
    ]


@contextmanager
def captured() -> Iterator[None]:
    """Thread-aware stdout and Powertools' metrics per invocation, for the duration."""
    with ExitStack() as stack:
        stack.enter_context(thread_stdout())
        for patch in _powertools_per_invocation():
            stack.enter_context(patch)
        yield


__all__ = [
    "EmfRejected",
    "FunctionLogs",
    "Invocation",
    "ThreadStdout",
    "captured",
    "current_invocation",
    "emf_metrics",
    "invocation",
]
