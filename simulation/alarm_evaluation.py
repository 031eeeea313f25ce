"""An alarm's state from its metric data, as CloudWatch computes it.

CloudWatch User Guide, "Using Amazon CloudWatch alarms" ("Evaluating an alarm", "Configuring how
CloudWatch alarms treat missing data", "Alarms on math expressions") and "Using metric math";
CloudWatch API reference, PutMetricAlarm.

* Each data point is the alarm's statistic (`Statistic`, or `ExtendedStatistic` pNN) of one
  `Period` of the metric's values (same namespace, name and exactly the same dimensions; the
  alarm's `Unit`, if it names one). The newest period ends at the moment of evaluation.
* CloudWatch retrieves more periods than `EvaluationPeriods` (N), the *evaluation range*: here
  N + 2, as in the guide's tables (N = 3, five data points). With N data points or more in the
  range, the newest N decide and missing data is not considered. With fewer, the missing ones
  are filled per `TreatMissingData`, "as few times as possible"; with none, `missing` is
  INSUFFICIENT_DATA, `ignore` keeps the state, `breaching` ALARM, `notBreaching` OK. ALARM when
  at least `DatapointsToAlarm` (M, default N) of the N are breaching, else OK. Every row of the
  guide's two tables is a case of tests/unit/test_alarm_evaluation.py.
* Metric math (`Metrics`): each `MetricStat` a time series over the same periods; the one query
  with `ReturnData` is the alarm's. Supported: numbers, ids, `+ - * / ^` (between two time
  series a missing value counts as 0; a division by zero drops the point), `[a, b]`,
  `METRICS()`, `FILL(x, number)`, and `SUM`, `AVG` (missing counts as 0), `MIN`, `MAX` of an
  array. Anything else is refused (`UnsupportedAlarm`), not guessed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

EXTRA_PERIODS = 2
"""The evaluation range beyond EvaluationPeriods (the guide's tables: 3 evaluation periods, the
5 most recent data points retrieved)."""
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
}
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
_PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d+)?|100)$")
OK, ALARM, INSUFFICIENT = "OK", "ALARM", "INSUFFICIENT_DATA"


class UnsupportedAlarm(ValueError):
    """An alarm the simulation does not evaluate (rather than evaluate it wrongly)."""


@dataclass(frozen=True)
class Sample:
    """What one PutMetricData value (or statistic set) holds."""

    timestamp: datetime
    count: float
    total: float
    minimum: float
    maximum: float
    values: tuple[float, ...] | None
    """The raw values; None for a statistic set (no percentile can be taken of it)."""
    unit: str | None = None

    @staticmethod
    def of(timestamp: datetime, *values: float, unit: str | None = None) -> Sample:
        return Sample(timestamp, len(values), sum(values), min(values), max(values), values, unit)


Dimensions = tuple[tuple[str, str], ...]
Source = Callable[[str, str, Dimensions], list[Sample]]
"""namespace, metric name, dimensions -> every sample of exactly that metric."""


@dataclass(frozen=True)
class Point:
    end: datetime
    """The period is the `Period` seconds up to here."""
    value: float | None
    breaching: bool | None


@dataclass(frozen=True)
class Evaluation:
    alarm: str
    state: str
    reason: str
    points: tuple[Point, ...]
    """The evaluation range, newest first."""
    threshold: float
    comparison: str

    def __str__(self) -> str:
        lines = [f"{self.alarm}: {self.state} - {self.reason}"]
        lines += [
            f"  {p.end:%Y-%m-%d %H:%M:%S}  "
            + ("missing" if p.value is None else f"{p.value:g}")
            + ("  breaching" if p.breaching else "")
            for p in self.points
        ]
        return "\n".join(lines)


def _statistic(samples: list[Sample], statistic: str) -> float | None:
    if not samples:
        return None
    count = sum(s.count for s in samples)
    if statistic == "SampleCount":
        return count
    if statistic == "Sum":
        return sum(s.total for s in samples)
    if statistic == "Average":
        return sum(s.total for s in samples) / count
    if statistic == "Minimum":
        return min(s.minimum for s in samples)
    if statistic == "Maximum":
        return max(s.maximum for s in samples)
    found = _PERCENTILE.match(statistic)
    if found is None:
        raise UnsupportedAlarm(f"statistic {statistic!r} (supported: {STATISTICS}, pNN)")
    if any(s.values is None for s in samples):
        raise UnsupportedAlarm(f"{statistic} of values sent as statistic sets")
    values = sorted(v for s in samples for v in s.values or ())
    rank = math.ceil(float(found.group(1)) / 100 * len(values))  # nearest rank
    return values[max(rank, 1) - 1]


def _series(
    source: Source,
    stat: dict[str, Any],
    ends: list[datetime],
    period: timedelta,
) -> dict[int, float]:
    """A metric's statistic in each period of the range (index 0: the newest), where it has
    data."""
    metric = stat["Metric"]
    dimensions = tuple(sorted((d["Name"], d["Value"]) for d in metric.get("Dimensions", [])))
    samples = source(metric["Namespace"], metric["MetricName"], dimensions)
    unit = stat.get("Unit")
    if unit:
        samples = [s for s in samples if s.unit == unit]
    series = {}
    for index, end in enumerate(ends):
        value = _statistic([s for s in samples if end - period < s.timestamp <= end], stat["Stat"])
        if value is not None:
            series[index] = value
    return series


def evaluate(alarm: dict[str, Any], source: Source, now: datetime, current: str) -> Evaluation:
    """The state of `alarm` (PutMetricAlarm's parameters, as DescribeAlarms or a template gives
    them) at `now`, its state so far being `current`."""
    name = str(alarm.get("AlarmName", "alarm"))
    if alarm.get("ThresholdMetricId") or alarm.get("AlarmRule"):
        raise UnsupportedAlarm(f"{name}: anomaly detection and composite alarms")
    comparison = str(alarm["ComparisonOperator"])
    if comparison not in COMPARISONS:
        raise UnsupportedAlarm(f"{name}: ComparisonOperator {comparison}")
    evaluations = int(alarm["EvaluationPeriods"])
    needed = int(alarm.get("DatapointsToAlarm") or evaluations)
    threshold = float(alarm["Threshold"])
    queries = alarm.get("Metrics") or []
    periods = {int(q["MetricStat"]["Period"]) for q in queries if q.get("MetricStat")}
    if queries and len(periods) != 1:
        raise UnsupportedAlarm(f"{name}: a math expression's metrics must share one period")
    period = timedelta(seconds=periods.pop() if queries else int(alarm["Period"]))
    ends = [now - index * period for index in range(evaluations + EXTRA_PERIODS)]
    if queries:
        series = MetricMath(queries, source, ends, period).result()
    else:
        statistic = alarm.get("ExtendedStatistic") or alarm["Statistic"]
        stat = {
            "Metric": {
                "Namespace": alarm["Namespace"],
                "MetricName": alarm["MetricName"],
                "Dimensions": alarm.get("Dimensions", []),
            },
            "Stat": statistic,
            "Unit": alarm.get("Unit"),
        }
        series = _series(source, stat, ends, period)
    breach = COMPARISONS[comparison]
    points = tuple(
        Point(end, series.get(i), None if i not in series else breach(series[i], threshold))
        for i, end in enumerate(ends)
    )
    treat = str(alarm.get("TreatMissingData") or "missing")
    if str(alarm.get("Namespace", "")) == "AWS/DynamoDB":
        treat = "ignore"  # PutMetricAlarm, TreatMissingData: always, whatever the setting
    state, reason = _decide(points, evaluations, needed, treat, current)
    return Evaluation(name, state, reason, points, threshold, comparison)


def _decide(
    points: tuple[Point, ...], evaluations: int, needed: int, treat: str, current: str
) -> tuple[str, str]:
    existing = [(i, p) for i, p in enumerate(points) if p.value is not None]
    if len(existing) >= evaluations:
        breaching = sum(1 for _, p in existing[:evaluations] if p.breaching)
        state = ALARM if breaching >= needed else OK
        return state, f"{breaching} of the last {evaluations} datapoints breaching ({needed} alarm)"
    breaching = sum(1 for _, p in existing if p.breaching)
    fill = evaluations - len(existing)
    described = f"{len(existing)} datapoints of {evaluations}, {breaching} breaching; "
    if treat == "breaching":
        state = ALARM if breaching + fill >= needed else OK
        return state, described + f"{fill} missing treated as breaching"
    if treat == "notBreaching":
        state = ALARM if breaching >= needed else OK
        return state, described + f"{fill} missing treated as not breaching"
    if treat not in ("missing", "ignore"):
        raise UnsupportedAlarm(f"TreatMissingData {treat!r}")
    if not existing:
        return (
            INSUFFICIENT if treat == "missing" else current
        ), described + f"all missing ({treat})"
    if breaching >= needed:
        return ALARM, described + "enough breaching"
    if breaching < len(existing):
        return OK, described + "not enough breaching"
    # Only breaching points, too few to alarm. The guide's first table: with `missing`, "X - - - -"
    # is ALARM ("the oldest evaluated data point is breaching and there aren't any
    # non-breaching data points"), "- - - - X" INSUFFICIENT_DATA; `ignore` keeps the state.
    if treat == "missing" and all(i >= evaluations for i, _ in existing):
        return ALARM, described + "only the oldest are breaching (missing)"
    return (INSUFFICIENT if treat == "missing" else current), described + f"too few ({treat})"


Value = float | dict[int, float] | list[dict[int, float]]
_TOKEN = re.compile(
    r"\s*(?:(\d+\.?\d*(?:[eE][-+]?\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|(\"[^\"]*\")|(.))"
)
_FUNCTIONS = ("FILL", "SUM", "AVG", "MIN", "MAX", "METRICS")


class MetricMath:
    """The time series of an alarm's `Metrics` (the one with ReturnData)."""

    def __init__(
        self, queries: list[dict[str, Any]], source: Source, ends: list[datetime], period: timedelta
    ) -> None:
        self.queries = {str(q["Id"]): q for q in queries}
        self.source, self.ends, self.period = source, ends, period
        self._done: dict[str, Value] = {}
        self._doing: set[str] = set()

    def result(self) -> dict[int, float]:
        returned = [i for i, q in self.queries.items() if q.get("ReturnData", True) is not False]
        if len(returned) != 1:
            raise UnsupportedAlarm(
                f"exactly one of an alarm's Metrics returns data, not {returned}"
            )
        value = self.value(returned[0])
        if not isinstance(value, dict):
            raise UnsupportedAlarm(f"{returned[0]} is not a single time series")
        return value

    def value(self, query_id: str) -> Value:
        if query_id not in self.queries:
            raise UnsupportedAlarm(f"no metric or expression with Id {query_id!r}")
        if query_id not in self._done:
            if query_id in self._doing:
                raise UnsupportedAlarm(f"{query_id} refers to itself")
            self._doing.add(query_id)
            query = self.queries[query_id]
            if query.get("MetricStat"):
                self._done[query_id] = _series(
                    self.source, query["MetricStat"], self.ends, self.period
                )
            else:
                self._done[query_id] = _Parser(self, str(query["Expression"])).parse()
        return self._done[query_id]


class _Parser:
    def __init__(self, math_: MetricMath, text: str) -> None:
        self.math, self.text = math_, text
        self.tokens: list[str] = [
            next(part for part in found if part) for found in _TOKEN.findall(text) if any(found)
        ]
        self.at = 0

    def fail(self, why: str) -> UnsupportedAlarm:
        return UnsupportedAlarm(f"metric math {self.text!r}: {why}")

    def peek(self) -> str:
        return self.tokens[self.at] if self.at < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if expected is not None and token != expected:
            raise self.fail(f"expected {expected!r}, found {token or 'the end'!r}")
        self.at += 1
        return token

    def parse(self) -> Value:
        value = self.sum()
        if self.peek():
            raise self.fail(f"{self.peek()!r} is not supported here")
        return value

    def sum(self) -> Value:
        value = self.product()
        while self.peek() in ("+", "-"):
            operator = self.take()
            value = self.combine(value, operator, self.product())
        return value

    def product(self) -> Value:
        value = self.unary()
        while self.peek() in ("*", "/"):
            operator = self.take()
            value = self.combine(value, operator, self.unary())
        return value

    def unary(self) -> Value:
        if self.peek() == "-":
            self.take()
            return self.combine(-1.0, "*", self.unary())
        value = self.primary()
        if self.peek() == "^":
            self.take()
            value = self.combine(value, "^", self.unary())
        return value

    def primary(self) -> Value:
        token = self.take()
        if token == "(":
            value = self.sum()
            self.take(")")
            return value
        if token == "[":
            items = [self.sum()]
            while self.peek() == ",":
                self.take()
                items.append(self.sum())
            self.take("]")
            return [self.series(item) for item in items]
        if token and (token[0].isdigit()):
            return float(token)
        if token in _FUNCTIONS and self.peek() == "(":
            return self.function(token)
        if token[:1].isalpha() and token.isupper() and self.peek() == "(":
            raise self.fail(f"function {token} (supported: {', '.join(_FUNCTIONS)})")
        if token[:1].isalpha():
            if token in ("REPEAT", "LINEAR"):
                raise self.fail(f"FILL with {token} (only a number)")
            return self.math.value(token)
        raise self.fail(f"{token!r} is not supported here (arithmetic + - * / ^ only)")

    def series(self, value: Value) -> dict[int, float]:
        if not isinstance(value, dict):
            raise self.fail("an array holds time series only")
        return value

    def function(self, name: str) -> Value:
        self.take("(")
        if name == "METRICS":
            pattern = self.take()[1:-1] if self.peek().startswith('"') else ""
            self.take(")")
            found = self.math.queries
            return [
                self.series(self.math.value(i))
                for i, q in found.items()
                if q.get("MetricStat") and pattern in i
            ]
        argument = self.sum()
        if name == "FILL":
            self.take(",")
            filler = self.sum()
            self.take(")")
            if not isinstance(filler, float):
                raise self.fail("FILL with a time series (only a number)")
            every = range(len(self.math.ends))
            if isinstance(argument, float):
                raise self.fail("FILL of a number")
            if isinstance(argument, dict):
                return {i: argument.get(i, filler) for i in every}
            return [{i: s.get(i, filler) for i in every} for s in argument]
        self.take(")")
        if not isinstance(argument, list):
            raise self.fail(
                f"{name} of a single time series is a number over the whole range: CloudWatch "
                "recommends against it in alarms, and the simulation does not evaluate it"
            )
        keys = sorted({i for s in argument for i in s})
        if name == "SUM":
            return {i: sum(s.get(i, 0.0) for s in argument) for i in keys}
        if name == "AVG":
            return {i: sum(s.get(i, 0.0) for s in argument) / len(argument) for i in keys}
        pick = min if name == "MIN" else max
        return {i: pick(s[i] for s in argument if i in s) for i in keys}

    def combine(self, left: Value, operator: str, right: Value) -> Value:
        if isinstance(left, list) and isinstance(right, list):
            raise self.fail("arithmetic between two arrays of time series")
        if isinstance(left, list):
            return [self.series(self.combine(s, operator, right)) for s in left]
        if isinstance(right, list):
            return [self.series(self.combine(left, operator, s)) for s in right]
        if isinstance(left, float) and isinstance(right, float):
            result = _apply(left, operator, right)
            if result is None:
                raise self.fail("a division of a number by zero")
            return result
        if isinstance(left, dict) and isinstance(right, dict):
            keys = sorted(set(left) | set(right))  # a missing value counts as 0
            pairs = {i: (left.get(i, 0.0), right.get(i, 0.0)) for i in keys}
        elif isinstance(left, dict) and isinstance(right, float):
            pairs = {i: (v, right) for i, v in left.items()}
        elif isinstance(left, float) and isinstance(right, dict):
            pairs = {i: (left, v) for i, v in right.items()}
        else:  # pragma: no cover - every combination is handled above
            raise self.fail("operands")
        out = {i: _apply(a, operator, b) for i, (a, b) in pairs.items()}
        return {i: v for i, v in out.items() if v is not None}


def _apply(left: float, operator: str, right: float) -> float | None:
    if operator == "+":
        return left + right
    if operator == "-":
        return left - right
    if operator == "*":
        return left * right
    if operator == "/":
        return None if right == 0 else left / right
    return float(left**right)


__all__ = [
    "ALARM",
    "COMPARISONS",
    "EXTRA_PERIODS",
    "INSUFFICIENT",
    "OK",
    "Evaluation",
    "MetricMath",
    "Point",
    "Sample",
    "Source",
    "UnsupportedAlarm",
    "evaluate",
]
