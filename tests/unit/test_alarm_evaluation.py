"""CloudWatch's evaluation of an alarm (simulation/alarm_evaluation.py), on hand-made metric data:
every row of the CloudWatch User Guide's tables of missing data, every comparison, M out of N,
the statistics, and metric math."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from simulation.alarm_evaluation import (
    ALARM,
    INSUFFICIENT,
    OK,
    Sample,
    Source,
    UnsupportedAlarm,
    evaluate,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
PERIOD = 300
DIMENSIONS = (("service", "rds-xacct"),)


def alarm(**overrides: Any) -> dict[str, Any]:
    """An alarm on RdsXacct/Errors, Sum over 5 minutes, >= 1 (3 of 3), as PutMetricAlarm takes it."""
    return {
        "AlarmName": "errors",
        "Namespace": "RdsXacct",
        "MetricName": "Errors",
        "Dimensions": [{"Name": "service", "Value": "rds-xacct"}],
        "Statistic": "Sum",
        "Period": PERIOD,
        "EvaluationPeriods": 3,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        **overrides,
    }


def source(*samples: Sample, dimensions: tuple[tuple[str, str], ...] = DIMENSIONS) -> Source:
    """RdsXacct/Errors with `dimensions` holds `samples`; no other metric has data."""

    def find(namespace: str, name: str, wanted: tuple[tuple[str, str], ...]) -> list[Sample]:
        return (
            list(samples) if (namespace, name, wanted) == ("RdsXacct", "Errors", dimensions) else []
        )

    return find


def in_period(index: int, *values: float, unit: str | None = None) -> Sample:
    """A sample in the period `index` periods before the newest (0: the newest)."""
    return Sample.of(NOW - timedelta(seconds=index * PERIOD + 60), *values, unit=unit)


def series(pattern: str) -> Source:
    """The guide's notation, oldest first: X breaching (2), 0 not breaching (0), - missing."""
    newest_first = pattern.split()[::-1]
    samples = [
        in_period(index, 2.0 if mark == "X" else 0.0)
        for index, mark in enumerate(newest_first)
        if mark != "-"
    ]
    return source(*samples)


RETAIN = "retain"
# "How alarm state is evaluated when data is missing", CloudWatch User Guide: the first table
# (Datapoints to Alarm 3, Evaluation Periods 3), then the second (2 out of 3).
GUIDE_TABLES = [
    # (M, pattern, missing, ignore, breaching, notBreaching)
    (3, "0 - X - X", OK, OK, OK, OK),
    (3, "0 - - - -", OK, OK, OK, OK),
    (3, "- - - - -", INSUFFICIENT, RETAIN, ALARM, OK),
    (3, "0 X X - X", ALARM, ALARM, ALARM, ALARM),
    (3, "- - - - X", INSUFFICIENT, RETAIN, ALARM, OK),
    (3, "X - - - -", ALARM, RETAIN, ALARM, OK),
    (2, "0 - X - X", ALARM, ALARM, ALARM, ALARM),
    (2, "0 0 X 0 X", ALARM, ALARM, ALARM, ALARM),
    (2, "0 - X - -", OK, OK, ALARM, OK),
    (2, "- - - - 0", OK, OK, ALARM, OK),
    (2, "- - - - X", INSUFFICIENT, RETAIN, ALARM, OK),
]
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")


@pytest.mark.parametrize(
    ("needed", "pattern", "treat", "expected"),
    [
        (row[0], row[1], treat, row[2 + column])
        for row in GUIDE_TABLES
        for column, treat in enumerate(TREATMENTS)
    ],
)
@pytest.mark.parametrize("current", [OK, ALARM])
def test_every_row_of_the_guides_tables_of_missing_data(
    needed: int, pattern: str, treat: str, expected: str, current: str
) -> None:
    # Given an alarm M out of 3 over a threshold of 1, its data as in the guide's row
    given = alarm(DatapointsToAlarm=needed, TreatMissingData=treat)
    # When it is evaluated, in state `current`
    evaluation = evaluate(given, series(pattern), NOW, current)
    # Then its state is the guide's (`ignore` keeps the current state)
    assert evaluation.state == (current if expected == RETAIN else expected), str(evaluation)
    # And the evaluation range holds the five data points of the row, newest first
    assert len(evaluation.points) == 5
    assert [p.value is None for p in evaluation.points] == [m == "-" for m in pattern.split()[::-1]]


def test_missing_data_is_missing_by_default() -> None:
    evaluation = evaluate(alarm(), series("- - - - -"), NOW, OK)
    assert evaluation.state == INSUFFICIENT


@pytest.mark.parametrize(
    ("comparison", "below", "equal", "above"),
    [
        ("GreaterThanOrEqualToThreshold", OK, ALARM, ALARM),
        ("GreaterThanThreshold", OK, OK, ALARM),
        ("LessThanThreshold", ALARM, OK, OK),
        ("LessThanOrEqualToThreshold", ALARM, ALARM, OK),
    ],
)
def test_every_comparison_against_the_threshold(
    comparison: str, below: str, equal: str, above: str
) -> None:
    # Given an alarm 1 out of 1 with threshold 5
    given = alarm(ComparisonOperator=comparison, Threshold=5, EvaluationPeriods=1)
    # Then a data point below, at and above the threshold gives
    for value, expected in ((4.0, below), (5.0, equal), (6.0, above)):
        evaluation = evaluate(given, source(in_period(0, value)), NOW, INSUFFICIENT)
        assert evaluation.state == expected, f"{comparison} {value}: {evaluation}"


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("X 0 X", ALARM),  # 2 of 3, not consecutive
        ("0 X X", ALARM),
        ("X 0 0", OK),
        ("0 0 X", OK),
        ("X X X", ALARM),
    ],
)
def test_datapoints_to_alarm_m_out_of_n(pattern: str, expected: str) -> None:
    # Given an alarm 2 out of 3
    given = alarm(DatapointsToAlarm=2)
    # Then it alarms when 2 of the newest 3 are breaching, wherever they are
    assert evaluate(given, series(pattern), NOW, OK).state == expected


def test_only_the_newest_n_existing_points_decide() -> None:
    # Given 4 data points in the range of a 3 of 3 alarm: the oldest breaching, the rest not
    evaluation = evaluate(alarm(), series("- X 0 0 0"), NOW, ALARM)
    # Then the oldest is not among the evaluated and the alarm is OK
    assert evaluation.state == OK


@pytest.mark.parametrize(
    ("statistic", "value"),
    [
        ("Sum", 10.0),
        ("Average", 2.5),
        ("Minimum", 1.0),
        ("Maximum", 4.0),
        ("SampleCount", 4.0),
        ("p50", 2.0),
        ("p100", 4.0),
    ],
)
def test_statistics_of_one_period(statistic: str, value: float) -> None:
    # Given one period with the values 1, 2, 3 (one PutMetricData of two) and 4
    data = source(in_period(0, 1.0, 2.0), in_period(0, 3.0), in_period(0, 4.0))
    key = "ExtendedStatistic" if statistic.startswith("p") else "Statistic"
    given = alarm(**{key: statistic}, EvaluationPeriods=1, Threshold=value)
    if key == "ExtendedStatistic":
        given.pop("Statistic")
    # Then the data point is the statistic of the four values
    evaluation = evaluate(given, data, NOW, OK)
    assert evaluation.points[0].value == value
    assert evaluation.state == ALARM


def test_a_statistic_set_counts_as_its_values() -> None:
    # Given a statistic set (sum 9 of 3 values, 1 to 5) and a value of 3
    stats = Sample(NOW - timedelta(seconds=30), 3.0, 9.0, 1.0, 5.0, None)
    data = source(stats, in_period(0, 3.0))
    for statistic, value in (("Sum", 12.0), ("SampleCount", 4.0), ("Average", 3.0)):
        given = alarm(Statistic=statistic, EvaluationPeriods=1)
        assert evaluate(given, data, NOW, OK).points[0].value == value
    # But no percentile can be taken of a statistic set
    with pytest.raises(UnsupportedAlarm, match="statistic sets"):
        evaluate({**alarm(EvaluationPeriods=1), "ExtendedStatistic": "p90"}, data, NOW, OK)


def test_a_period_ends_at_its_end_and_starts_after_the_previous_one() -> None:
    # Given one value exactly at the end of the newest period, one exactly at its start
    data = source(Sample.of(NOW, 5.0), Sample.of(NOW - timedelta(seconds=PERIOD), 7.0))
    evaluation = evaluate(alarm(Statistic="Maximum"), data, NOW, OK)
    # Then each is in one period only: the newest has 5, the one before 7
    assert [p.value for p in evaluation.points[:2]] == [5.0, 7.0]


def test_the_alarm_sees_only_its_own_unit_and_dimensions() -> None:
    # Given values in Seconds and in Count, and others with one more dimension
    data = source(in_period(0, 1.0, unit="Count"), in_period(0, 50.0, unit="Seconds"))
    other = source(in_period(0, 9.0), dimensions=(("service", "rds-xacct"), ("step", "Share")))
    # Then an alarm on Count sees the Count only, and none sees the other dimensions' values
    counted = evaluate(alarm(Unit="Count", EvaluationPeriods=1), data, NOW, OK)
    assert counted.points[0].value == 1.0
    assert evaluate(alarm(EvaluationPeriods=1), other, NOW, OK).state == INSUFFICIENT


def math_alarm(expression: str, **overrides: Any) -> dict[str, Any]:
    """An alarm on a math expression of RdsXacct/Errors (m1) and RdsXacct/Other (m2)."""
    given = alarm(**overrides)
    for key in ("Namespace", "MetricName", "Dimensions", "Statistic", "Period"):
        given.pop(key)
    stat = {"Period": PERIOD, "Stat": "Sum"}
    given["Metrics"] = [
        {"Id": "e1", "Expression": expression, "ReturnData": True},
        {
            "Id": "m1",
            "MetricStat": {
                **stat,
                "Metric": {"Namespace": "RdsXacct", "MetricName": "Errors", "Dimensions": []},
            },
            "ReturnData": False,
        },
        {
            "Id": "m2",
            "MetricStat": {
                **stat,
                "Metric": {"Namespace": "RdsXacct", "MetricName": "Other", "Dimensions": []},
            },
            "ReturnData": False,
        },
    ]
    return given


def two_metrics(errors: dict[int, float], other: dict[int, float]) -> Source:
    def find(namespace: str, name: str, dimensions: tuple[tuple[str, str], ...]) -> list[Sample]:
        chosen = errors if name == "Errors" else other
        return [in_period(index, value) for index, value in chosen.items()]

    return find


def test_fill_turns_missing_data_into_a_value() -> None:
    # Given no data at all, and an alarm on FILL(m1, 0) >= 1 (missing: INSUFFICIENT_DATA)
    given = math_alarm("FILL(m1, 0)")
    evaluation = evaluate(given, two_metrics({}, {}), NOW, INSUFFICIENT)
    # Then every period is 0, and the alarm OK
    assert [p.value for p in evaluation.points] == [0.0] * 5
    assert evaluation.state == OK
    # And FILL(m1, 5) of the same is ALARM
    assert evaluate(math_alarm("FILL(m1, 5)"), two_metrics({}, {}), NOW, OK).state == ALARM


def test_arithmetic_and_sum_between_time_series() -> None:
    # Given m1 with 1 in periods 0 and 1, m2 with 2 in periods 1 and 2
    data = two_metrics({0: 1.0, 1: 1.0}, {1: 2.0, 2: 2.0})
    # Then m1 + m2 and SUM([m1, m2]) count a missing value as 0
    for expression in ("m1 + m2", "SUM([m1, m2])", "SUM(METRICS())"):
        points = evaluate(math_alarm(expression), data, NOW, OK).points
        assert [p.value for p in points] == [1.0, 3.0, 2.0, None, None], expression
    # And m1 / m2 drops a division by zero; 10 * m1 - 1 and MAX([m1, m2]) as written
    points = evaluate(math_alarm("m2 / m1"), data, NOW, OK).points
    assert [p.value for p in points] == [0.0, 2.0, None, None, None]
    points = evaluate(math_alarm("10 * m1 - 1"), data, NOW, OK).points
    assert [p.value for p in points] == [9.0, 9.0, None, None, None]
    points = evaluate(math_alarm("MAX([m1, m2])"), data, NOW, OK).points
    assert [p.value for p in points] == [1.0, 2.0, 2.0, None, None]
    points = evaluate(math_alarm("AVG([m1, m2])"), data, NOW, OK).points
    assert [p.value for p in points] == [0.5, 1.5, 1.0, None, None]


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ("IF(m1 > 0, 1, 0)", "function IF"),
        ("m1 > 0", "'>' is not supported"),
        ("SUM(m1)", "single time series"),
        ("FILL(m1, REPEAT)", "REPEAT"),
        ("METRICS()", "not a single time series"),
        ("m3 + 1", "no metric or expression with Id 'm3'"),
    ],
)
def test_what_the_simulation_does_not_evaluate_is_refused(expression: str, why: str) -> None:
    with pytest.raises(UnsupportedAlarm, match=why):
        evaluate(math_alarm(expression), two_metrics({0: 1.0}, {}), NOW, OK)


def test_an_alarm_of_two_returned_series_or_of_anomaly_detection_is_refused() -> None:
    given = math_alarm("m1")
    given["Metrics"][1]["ReturnData"] = True
    with pytest.raises(UnsupportedAlarm, match="exactly one"):
        evaluate(given, two_metrics({}, {}), NOW, OK)
    anomaly = alarm(ComparisonOperator="LessThanLowerOrGreaterThanUpperThreshold")
    with pytest.raises(UnsupportedAlarm, match="ComparisonOperator"):
        evaluate(anomaly, source(), NOW, OK)
    with pytest.raises(UnsupportedAlarm, match="statistic 'tm90'"):
        evaluate(
            {**alarm(), "Statistic": None, "ExtendedStatistic": "tm90"},
            source(in_period(0, 1)),
            NOW,
            OK,
        )
