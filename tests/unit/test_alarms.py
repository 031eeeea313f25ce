"""The alarms and dashboards of both templates: each alarm on its metric, with its threshold, its
comparison, its missing-data rule, its topic and a description that says what happened and what
to do; each dashboard valid JSON, naming the template's own log groups and alarms; and the alarms'
topics ones CloudWatch can publish to."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from rds_xacct.model import metrics
from rds_xacct.model.constants import SLOT_WAIT_ALARM_MINUTES, SLOT_WAIT_HOURS
from simulation.sam_template import BACKUP_TEMPLATE, ROOT, TEMPLATE
from tests.support.watching import LONGEST_PREFIX, Watching, metric_widgets, watching

RUNBOOK = ROOT / "docs" / "runbook.md"
TOPIC = [{"Ref": "AlarmTopic"}]
SERVICE = {metrics.DIMENSION: metrics.SERVICE}
MAX_DESCRIPTION = 1024
"""PutMetricAlarm, `AlarmDescription`: "Length Constraints: Minimum length of 0. Maximum length
of 1024." """


class Expected(NamedTuple):
    namespace: str
    metric: str
    dimensions: dict[str, str]
    statistic: str
    period: int
    periods: int
    """EvaluationPeriods, and DatapointsToAlarm (all of them must breach)."""
    threshold: float
    comparison: str
    missing: str


def _app(metric: str, statistic: str, period: int, threshold: float, comparison: str) -> Expected:
    return Expected(
        metrics.NAMESPACE,
        metric,
        SERVICE,
        statistic,
        period,
        1,
        threshold,
        comparison,
        "notBreaching",
    )


AT_LEAST = "GreaterThanOrEqualToThreshold"
MAIN = watching(TEMPLATE)
BACKUP = watching(BACKUP_TEMPLATE)
STATE_MACHINE = {
    "StateMachineArn": f"arn:aws:states:{MAIN.region}:{MAIN.account}:stateMachine:"
    f"{LONGEST_PREFIX}-copy-snapshot"
}


def _runs(metric: str) -> Expected:
    return Expected("AWS/States", metric, STATE_MACHINE, "Sum", 300, 1, 1, AT_LEAST, "notBreaching")


def _errors(function: str, periods: int = 1) -> Expected:
    dimensions = {"FunctionName": f"{LONGEST_PREFIX}-{function}"}
    return Expected(
        "AWS/Lambda", "Errors", dimensions, "Sum", 3600, periods, 1, AT_LEAST, "notBreaching"
    )


def _fresh(metric: str) -> Expected:
    """A freshness alarm: one stale database, or no value (the check stopped), two hours running."""
    return Expected(
        metrics.NAMESPACE, metric, SERVICE, "Maximum", 3600, 2, 1, AT_LEAST, "breaching"
    )


EXPECTED: dict[Path, dict[str, Expected]] = {
    TEMPLATE: {
        "RunsFailedAlarm": _runs("ExecutionsFailed"),
        "RunsTimedOutAlarm": _runs("ExecutionsTimedOut"),
        "RunsAbortedAlarm": _runs("ExecutionsAborted"),
        "EventDeadLetterQueueAlarm": Expected(
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": f"{LONGEST_PREFIX}-events-dlq"},
            "Maximum",
            300,
            1,
            1,
            AT_LEAST,
            "notBreaching",
        ),
        "ReconcileFailedAlarm": _errors("reconcile"),
        "SweepFailedAlarm": _errors("sweep"),
        "WatchFailedAlarm": _errors("watch"),
        "DatabasesWithoutFreshCopyAlarm": _fresh(metrics.DATABASES_WITHOUT_FRESH_COPY),
        "SweptCopiesAlarm": _app(metrics.SWEPT_COPIES, "Sum", 3600, 1, AT_LEAST),
        "SlotWaitAlarm": _app(
            metrics.OLDEST_SLOT_WAIT_MINUTES,
            "Maximum",
            3600,
            SLOT_WAIT_ALARM_MINUTES,
            "GreaterThanThreshold",
        ),
    },
    BACKUP_TEMPLATE: {
        "KeeperPassFailingAlarm": _errors("keeper-pass", periods=2),
        "KeeperNotRunningAlarm": Expected(
            metrics.NAMESPACE,
            metrics.KEEPER_PASSES,
            SERVICE,
            "Sum",
            3600,
            2,
            1,
            "LessThanThreshold",
            "breaching",
        ),
        "KeeperErrorsAlarm": _errors("keeper"),
        "StaleCopiesAlarm": _fresh(metrics.STALE_DATABASES),
        "UnreadableCopiesAlarm": _app(metrics.UNREADABLE_COPIES, "Maximum", 3600, 1, AT_LEAST),
        "KeeperRefusedAlarm": _app(metrics.KEEPER_REFUSED_REQUESTS, "Sum", 3600, 1, AT_LEAST),
    },
}
"""Each alarm this part of the app defines, as it must be."""

STACKS = {TEMPLATE: MAIN, BACKUP_TEMPLATE: BACKUP}
ALARMS = [(path, logical_id) for path, alarms in EXPECTED.items() for logical_id in alarms]


def _id(value: Any) -> str:
    return value.name if isinstance(value, Path) else str(value)


@pytest.mark.parametrize(("path", "logical_id"), ALARMS, ids=_id)
def test_each_alarm_watches_its_metric_with_its_threshold(path: Path, logical_id: str) -> None:
    # Given the alarm as CloudFormation makes it
    alarm = STACKS[path].alarms[logical_id]
    expected = EXPECTED[path][logical_id]
    # When its metric and its rule are read
    actual = Expected(
        alarm["Namespace"],
        alarm["MetricName"],
        {d["Name"]: d["Value"] for d in alarm["Dimensions"]},
        alarm["Statistic"],
        int(alarm["Period"]),
        int(alarm["EvaluationPeriods"]),
        float(alarm["Threshold"]),
        alarm["ComparisonOperator"],
        alarm["TreatMissingData"],
    )
    # Then they are the ones meant, every evaluated period counting
    assert actual == expected
    assert int(alarm.get("DatapointsToAlarm", alarm["EvaluationPeriods"])) == expected.periods


@pytest.mark.parametrize("stack", [MAIN, BACKUP], ids=lambda s: s.path.name)
def test_every_alarm_pages_through_the_alarm_topic_going_off_and_clearing(stack: Watching) -> None:
    # Given every alarm of the stack (the ones listed above and any other)
    template_alarms = {
        k: r["Properties"]
        for k, r in stack.template["Resources"].items()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }
    assert set(EXPECTED[stack.path]) <= set(template_alarms)
    for logical_id, alarm in template_alarms.items():
        # When / Then it publishes to the stack's alarm topic when it goes off and when it clears
        assert alarm["AlarmActions"] == TOPIC, logical_id
        assert alarm["OKActions"] == TOPIC, logical_id
        # And its missing-data rule is chosen, not CloudWatch's default
        assert alarm["TreatMissingData"] in {"breaching", "notBreaching", "ignore", "missing"}
        assert alarm.get("ActionsEnabled", True) is True, logical_id


@pytest.mark.parametrize("stack", [MAIN, BACKUP], ids=lambda s: s.path.name)
def test_every_alarm_has_a_name_of_the_stack_and_says_what_happened_and_what_to_do(
    stack: Watching,
) -> None:
    # Given every alarm, resolved with the longest names the stack allows
    names = [alarm["AlarmName"] for alarm in stack.alarms.values()]
    # When / Then each is named under the stack's prefix, once
    assert all(name.startswith(f"{LONGEST_PREFIX}-") for name in names)
    assert len(set(names)) == len(names)
    runbook = RUNBOOK.read_text()
    headings = set(re.findall(r"^#+ (.+)$", runbook, re.MULTILINE))
    for logical_id, alarm in stack.alarms.items():
        description = alarm["AlarmDescription"]
        # And its description fits CloudWatch's limit even then
        assert 200 <= len(description) <= MAX_DESCRIPTION, logical_id
        # And it leads to the runbook's section on it, which exists
        match = re.search(r'docs/runbook\.md, "([^"]+)"', description)
        assert match, f"{logical_id}: no docs/runbook.md section named"
        assert match.group(1) in headings, f"{logical_id}: runbook has no {match.group(1)!r}"


def test_the_admission_backlog_threshold_is_a_parameter_within_a_runs_wait() -> None:
    # Given the parameter / When / Then its default is the code's, and it can't exceed the day
    # after which a run gives up waiting (an alarm that could never go off)
    parameter = MAIN.template["Parameters"]["SlotWaitAlarmMinutes"]
    assert parameter["Default"] == SLOT_WAIT_ALARM_MINUTES
    assert parameter["MaxValue"] == SLOT_WAIT_HOURS * 60
    assert parameter["MinValue"] >= 1
    # And the alarm's threshold follows it
    assert (
        watching(TEMPLATE, SlotWaitAlarmMinutes="90").alarms["SlotWaitAlarm"]["Threshold"] == "90"
    )


# --- Dashboards -------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", [MAIN, BACKUP], ids=lambda s: s.path.name)
def test_each_stack_has_one_dashboard_named_for_its_region(stack: Watching) -> None:
    # Given the stack's dashboards (the body is valid JSON once CloudFormation substitutes it:
    # `watching` parses it) / When / Then there is one, named with the region (dashboards are
    # global to an account), within CloudWatch's rules for names
    ((name, body),) = stack.dashboards.values()
    assert stack.region in name
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,255}", name)
    assert body["widgets"]


@pytest.mark.parametrize("stack", [MAIN, BACKUP], ids=lambda s: s.path.name)
def test_the_dashboard_fits_the_grid_and_every_widget_is_in_the_stacks_region(
    stack: Watching,
) -> None:
    # Given the dashboard's widgets
    ((_, body),) = stack.dashboards.values()
    cells: set[tuple[int, int]] = set()
    for widget in body["widgets"]:
        # When / Then each lies on the 24-column grid, without overlapping another
        x, y, width, height = (widget[k] for k in ("x", "y", "width", "height"))
        assert x >= 0, widget
        assert x + width <= 24, widget
        assert height >= 1, widget
        mine = {(column, row) for column in range(x, x + width) for row in range(y, y + height)}
        assert not mine & cells, f"overlaps: {widget}"
        cells |= mine
        # And the widgets that read data read the stack's own region
        if widget["type"] in {"metric", "log"}:
            assert widget["properties"]["region"] == stack.region


@pytest.mark.parametrize("stack", [MAIN, BACKUP], ids=lambda s: s.path.name)
def test_the_dashboard_shows_every_alarm_of_the_stack(stack: Watching) -> None:
    # Given the dashboard's alarm widget
    ((_, body),) = stack.dashboards.values()
    (widget,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    # When / Then it names each alarm of the stack by its ARN, and nothing else
    arns = {
        f"arn:aws:cloudwatch:{stack.region}:{stack.account}:alarm:{alarm['AlarmName']}"
        for alarm in stack.alarms.values()
    }
    assert sorted(widget["properties"]["alarms"]) == sorted(arns)


@pytest.mark.parametrize("stack", [MAIN, BACKUP], ids=lambda s: s.path.name)
def test_the_dashboards_log_queries_read_log_groups_of_the_stack(stack: Watching) -> None:
    # Given the dashboard's Logs Insights widgets
    ((_, body),) = stack.dashboards.values()
    queries = [w["properties"]["query"] for w in body["widgets"] if w["type"] == "log"]
    for query in queries:
        # When their sources are read ("SOURCE 'group' | ...", CloudWatch API Reference,
        # "Dashboard Body Structure and Syntax": "Properties of a Log Widget Object")
        sources = re.findall(r"SOURCE '([^']+)'", query)
        # Then each is a log group the stack makes
        assert sources
        assert set(sources) <= stack.log_groups, sources


def test_the_backup_dashboard_lists_each_databases_newest_copy_from_the_keepers_log() -> None:
    # Given the backup dashboard's Logs Insights widget
    ((_, body),) = BACKUP.dashboards.values()
    (query,) = [w["properties"]["query"] for w in body["widgets"] if w["type"] == "log"]
    # When / Then it reads the keeper's "Freshness" line, one row per database of the pass's
    # `databases`, with the fields that line holds
    assert f"SOURCE '/aws/lambda/{LONGEST_PREFIX}-keeper'" in query
    assert 'filter message = "Freshness"' in query
    assert "unnest line.databases into db" in query
    for field in ("database", "sourceAccount", "kind", "ageHours", "stale", "newestCopy"):
        assert f"db.{field}" in query


@pytest.mark.parametrize("stack", [MAIN, BACKUP], ids=lambda s: s.path.name)
def test_every_metric_widget_names_each_metric_completely(stack: Watching) -> None:
    # Given the dashboard's metric widgets
    ((_, body),) = stack.dashboards.values()
    for widget in metric_widgets(body):
        properties = widget["properties"]
        for item in properties["metrics"]:
            options = item[-1] if isinstance(item[-1], dict) else {}
            # When / Then every series has a statistic and a period (its own or the widget's),
            # and every expression reads series the widget defines
            if "expression" in options:
                ids = {
                    i[-1]["id"]
                    for i in properties["metrics"]
                    if isinstance(i[-1], dict) and "id" in i[-1]
                }
                assert set(re.findall(r"\b[a-z]\w*\b", options["expression"])) <= ids
                continue
            assert "stat" in options or "stat" in properties, item
            assert "period" in options or "period" in properties, item
            assert int(options.get("period", properties.get("period"))) % 60 == 0


# --- The topics the alarms publish to ------------------------------------------------------------


@pytest.mark.parametrize("stack", [MAIN, BACKUP], ids=lambda s: s.path.name)
def test_the_alarm_topic_is_one_cloudwatch_can_publish_to(stack: Watching) -> None:
    resources = stack.template["Resources"]
    # Given the alarms' topic / When / Then it is encrypted with the stack's own key, not the
    # AWS managed aws/sns, whose policy can't let CloudWatch use it
    topic = resources["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmKey"}
    assert resources["AlarmKey"]["Type"] == "AWS::KMS::Key"
    # And the key lets CloudWatch decrypt and make data keys, for this account's alarms only
    statements = resources["AlarmKey"]["Properties"]["KeyPolicy"]["Statement"]
    (cloudwatch,) = [
        s for s in statements if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert cloudwatch["Effect"] == "Allow"
    assert set(cloudwatch["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert cloudwatch["Condition"]["StringEquals"] == {
        "aws:SourceAccount": {"Ref": "AWS::AccountId"}
    }
    # And the topic's policy lets CloudWatch publish to it, for this account's alarms only
    policy = resources["AlarmTopicPolicy"]["Properties"]
    assert policy["Topics"] == [{"Ref": "AlarmTopic"}]
    (publish,) = policy["PolicyDocument"]["Statement"]
    assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert publish["Action"] == "sns:Publish"
    assert publish["Resource"] == {"Ref": "AlarmTopic"}
    assert publish["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
