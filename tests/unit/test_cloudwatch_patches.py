"""The simulation's CloudWatch (simulation/moto/emf.py, cloudwatch.py, cloudwatch_alarms.py): EMF
lines become metrics of the right account, one invocation's output never another's; AWS's own
metrics; alarms in CloudFormation stacks, born INSUFFICIENT_DATA."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.cloudwatch.models import cloudwatch_backends

from rds_xacct.aws.observability import metrics as powertools_metrics
from simulation.moto import MotoPatches, SimClock
from simulation.moto.emf import EmfRejected, FunctionLogs, emf_metrics, invocation
from simulation.sam_template import without_serverless
from simulation.world import BACKUP_ACCOUNT, MAIN_ACCOUNT, REGION, World, session_in
from tests.conftest import START


def emf(name: str, value: Any, at: datetime = START, **extra: Any) -> dict[str, Any]:
    """An EMF document of RdsXacct/<name> with the service dimension, as Powertools prints it."""
    return {
        "_aws": {
            "Timestamp": int(at.timestamp() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": "RdsXacct",
                    "Dimensions": [["service"]],
                    "Metrics": [{"Name": name, "Unit": "Count"}],
                }
            ],
        },
        "service": "rds-xacct",
        name: value,
        **extra,
    }


def stored(
    account: str, name: str | None = None
) -> list[tuple[str, str, float, str, tuple[tuple[str, str], ...]]]:
    """What moto's CloudWatch of `account` holds: (namespace, name, value, unit, dimensions)."""
    found = []
    for d in cloudwatch_backends[account][REGION].metric_data:
        if name is None or d.name == name:
            value: float = d.value  # type: ignore[attr-defined]  # (every one a MetricDatum)
            dimensions = tuple((str(x.name), str(x.value)) for x in d.dimensions)
            found.append((d.namespace, d.name, value, d.unit, dimensions))
    return found


# --- The embedded metric format ---------------------------------------------------------------------
def test_an_emf_document_gives_a_metric_per_dimension_set_and_value() -> None:
    # Given a document with two dimension sets and an array of values
    document = emf("Copies", [1, 2.5], step="Share")
    document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = [["service"], ["service", "step"]]
    # When CloudWatch Logs reads it
    found = emf_metrics(json.dumps(document), START)
    # Then each dimension set is a metric of its own, with both values, the unit and the time
    assert found is not None
    assert [(d.name, d.values, d.unit, d.dimensions, d.timestamp) for d in found] == [
        ("Copies", (1.0, 2.5), "Count", (("service", "rds-xacct"),), START),
        ("Copies", (1.0, 2.5), "Count", (("service", "rds-xacct"), ("step", "Share")), START),
    ]


@pytest.mark.parametrize(
    "line", ["plain text", '{"level": "INFO", "message": "no _aws"}', "{not json _aws"]
)
def test_a_line_that_is_not_emf_gives_nothing(line: str) -> None:
    assert emf_metrics(line, START) is None


def _broken(change: str) -> dict[str, Any]:
    document = emf("Copies", 1)
    directive = document["_aws"]["CloudWatchMetrics"][0]
    if change == "no timestamp":
        del document["_aws"]["Timestamp"]
    elif change == "a week ahead":
        document["_aws"]["Timestamp"] += 7 * 86_400_000
    elif change == "no directives":
        del document["_aws"]["CloudWatchMetrics"]
    elif change == "dimension not a string":
        document["service"] = 3
    elif change == "value not a number":
        document["Copies"] = "1"
    elif change == "101 values":
        document["Copies"] = [1] * 101
    elif change == "not a unit":
        directive["Metrics"][0]["Unit"] = "Copies"
    elif change == "no namespace":
        del directive["Namespace"]
    return document


@pytest.mark.parametrize(
    "change",
    [
        "no timestamp",
        "a week ahead",
        "no directives",
        "dimension not a string",
        "value not a number",
        "101 values",
        "not a unit",
        "no namespace",
    ],
)
def test_a_document_that_breaks_the_specification_gives_no_metric(change: str) -> None:
    with pytest.raises(EmfRejected):
        emf_metrics(json.dumps(_broken(change)), START)


# --- Each invocation's output ------------------------------------------------------------------------
def test_concurrent_invocations_keep_their_output_and_metrics_apart(
    capsys: pytest.CaptureFixture[str], patches: MotoPatches
) -> None:
    # Given one invocation in each account, in two threads, and where their EMF lines are kept
    logs = FunctionLogs()
    kept: list[str] = []
    logs.log = kept.append
    step = threading.Barrier(2, timeout=10)
    main_line = json.dumps(emf("MainCopies", 1))
    backup_line = json.dumps(emf("StaleDatabases", 2))

    def main() -> None:
        with invocation("rds-xacct-notify", MAIN_ACCOUNT, REGION, logs):
            print(main_line[:40], end="")  # half a line
            step.wait()
            step.wait()  # the other thread printed all of its own meanwhile
            print(main_line[40:])

    def backup() -> None:
        with invocation("rds-xacct-keeper-pass", BACKUP_ACCOUNT, REGION, logs):
            step.wait()
            print(backup_line)
            print("not a metric")
            step.wait()

    threads = [threading.Thread(target=main), threading.Thread(target=backup)]
    # When both print at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then each account has its own function's metric only, whole
    dimension = (("service", "rds-xacct"),)
    assert stored(MAIN_ACCOUNT, "MainCopies") == [
        ("RdsXacct", "MainCopies", 1.0, "Count", dimension)
    ]
    assert stored(BACKUP_ACCOUNT, "StaleDatabases") == [
        ("RdsXacct", "StaleDatabases", 2.0, "Count", dimension)
    ]
    assert stored(MAIN_ACCOUNT, "StaleDatabases") == stored(BACKUP_ACCOUNT, "MainCopies") == []
    # And both EMF lines are kept whole in the log (as CloudWatch Logs keeps them), and only the
    # line that is no metric reached the terminal
    assert sorted(kept) == sorted([main_line + "\n", backup_line + "\n"])
    assert logs.rejected == []
    assert capsys.readouterr().out == "not a metric\n"
    # And Lambda counted one invocation of each function, without error, in its account
    lambda_ = ("Invocations", "Errors")
    assert [(d[1], d[2], d[4]) for d in stored(BACKUP_ACCOUNT) if d[1] in lambda_] == [
        ("Invocations", 1.0, (("FunctionName", "rds-xacct-keeper-pass"),)),
        ("Errors", 0.0, (("FunctionName", "rds-xacct-keeper-pass"),)),
    ]


def test_each_invocation_flushes_only_the_powertools_metrics_it_added(
    patches: MotoPatches, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Powertools' Metrics on (as on Lambda), and two invocations that each add a metric
    # before either flushes
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    logs = FunctionLogs()
    both_added = threading.Barrier(2, timeout=10)

    def run(account: str, name: str) -> None:
        with invocation(f"fn-{name}", account, REGION, logs):
            powertools_metrics.add_metric(name=name, unit="Count", value=1)
            both_added.wait()
            powertools_metrics.flush_metrics()

    threads = [
        threading.Thread(target=run, args=(MAIN_ACCOUNT, "ProbeMain")),
        threading.Thread(target=run, args=(BACKUP_ACCOUNT, "ProbeBackup")),
    ]
    # When they flush
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then each account holds its own invocation's metric alone, with the service dimension
    dimension = (("service", "rds-xacct"),)
    assert [d for d in stored(MAIN_ACCOUNT) if d[0] == "RdsXacct"] == [
        ("RdsXacct", "ProbeMain", 1.0, "Count", dimension)
    ]
    assert [d for d in stored(BACKUP_ACCOUNT) if d[0] == "RdsXacct"] == [
        ("RdsXacct", "ProbeBackup", 1.0, "Count", dimension)
    ]


def test_lambda_counts_a_function_error_but_not_an_error_of_its_own_service(
    patches: MotoPatches,
) -> None:
    logs = FunctionLogs()
    # Given a handler that raises, and an invocation the Lambda service failed
    with pytest.raises(RuntimeError), invocation("fn-raises", MAIN_ACCOUNT, REGION, logs):
        raise RuntimeError("the handler failed")
    service_error = type("Lambda.ServiceException", (Exception,), {})
    with pytest.raises(service_error), invocation("fn-unreached", MAIN_ACCOUNT, REGION, logs):
        raise service_error("Lambda ServiceException")
    # Then the first is an invocation with an error; the second is no invocation at all
    assert [(d[1], d[2]) for d in stored(MAIN_ACCOUNT)] == [("Invocations", 1.0), ("Errors", 1.0)]


# --- SQS ----------------------------------------------------------------------------------------------
def test_a_queue_is_sampled_each_minute_while_it_is_active(
    patches: MotoPatches, clock: SimClock
) -> None:
    # Given a queue with one message
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="events-dlq")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="an event EventBridge could not deliver")
    # When two and a half minutes pass
    clock.advance(150)
    # Then a sample of 1 at each whole minute
    samples = stored(MAIN_ACCOUNT, "ApproximateNumberOfMessagesVisible")
    assert (
        samples
        == [
            (
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                1.0,
                "Count",
                (("QueueName", "events-dlq"),),
            )
        ]
        * 2
    )
    # When the message is taken and seven hours pass
    message = sqs.receive_message(QueueUrl=url)["Messages"][0]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    clock.advance(7 * 3600)
    # Then samples of 0 follow for six hours after the last sample that saw it held (the queue
    # still active), then none
    values = [d[2] for d in stored(MAIN_ACCOUNT, "ApproximateNumberOfMessagesVisible")]
    assert values[:2] == [1.0, 1.0]
    assert values[2:] == [0.0] * (6 * 60)


# --- Alarms in stacks ---------------------------------------------------------------------------------
STACK = {
    "Resources": {
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "alarms"}},
        "Stale": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmName": "stale-copies",
                "AlarmDescription": "A database has no fresh copy",
                "Namespace": "RdsXacct",
                "MetricName": "StaleDatabases",
                "Dimensions": [{"Name": "service", "Value": "rds-xacct"}],
                "Statistic": "Maximum",
                "Period": "3600",
                "EvaluationPeriods": "1",
                "Threshold": "1",
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "TreatMissingData": "breaching",
                "AlarmActions": [{"Ref": "Topic"}],
                "OKActions": [{"Ref": "Topic"}],
            },
        },
        "Passes": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "Metrics": [
                    {"Id": "e1", "Expression": "FILL(m1, 0)", "ReturnData": True},
                    {
                        "Id": "m1",
                        "ReturnData": False,
                        "MetricStat": {
                            "Metric": {"Namespace": "RdsXacct", "MetricName": "KeeperPasses"},
                            "Period": 3600,
                            "Stat": "Sum",
                        },
                    },
                ],
                "EvaluationPeriods": 3,
                "Threshold": 1,
                "ComparisonOperator": "LessThanThreshold",
            },
        },
    },
    "Outputs": {
        "Name": {"Value": {"Ref": "Stale"}},
        "Arn": {"Value": {"Fn::GetAtt": ["Stale", "Arn"]}},
        "Generated": {"Value": {"Ref": "Passes"}},
    },
}


def test_a_stacks_alarms_are_made_with_every_property_and_start_insufficient(world: World) -> None:
    # Given a stack with an alarm on a metric and one on a math expression, in the backup account
    backup = session_in(BACKUP_ACCOUNT)
    cfn = backup.client("cloudformation")
    # When it is made
    cfn.create_stack(StackName="alarms", TemplateBody=json.dumps(STACK))
    # Then both alarms exist with the template's properties, INSUFFICIENT_DATA
    cloudwatch = backup.client("cloudwatch")
    described = {a["AlarmName"]: a for a in cloudwatch.describe_alarms()["MetricAlarms"]}
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in cfn.describe_stacks(StackName="alarms")["Stacks"][0]["Outputs"]
    }
    stale = described["stale-copies"]
    topic = f"arn:aws:sns:{REGION}:{BACKUP_ACCOUNT}:alarms"
    assert (stale["Threshold"], stale["Period"], stale["EvaluationPeriods"]) == (1.0, 3600, 1)
    assert (stale["Statistic"], stale["TreatMissingData"], stale["StateValue"]) == (
        "Maximum",
        "breaching",
        "INSUFFICIENT_DATA",
    )
    assert stale["Dimensions"] == [{"Name": "service", "Value": "rds-xacct"}]
    assert stale["AlarmActions"] == stale["OKActions"] == [topic]
    assert stale["AlarmDescription"] == "A database has no fresh copy"
    generated = described[outputs["Generated"]]
    assert outputs["Generated"].startswith("alarms-Passes-")
    assert [m["Id"] for m in generated["Metrics"]] == ["e1", "m1"]
    assert generated["Metrics"][0]["Expression"] == "FILL(m1, 0)"
    assert generated["Metrics"][1]["MetricStat"]["Metric"]["MetricName"] == "KeeperPasses"
    # And Ref is the alarm's name, GetAtt Arn its ARN
    assert outputs["Name"] == "stale-copies"
    assert outputs["Arn"] == f"arn:aws:cloudwatch:{REGION}:{BACKUP_ACCOUNT}:alarm:stale-copies"
    # And none was made in the main account
    assert world.main.client("cloudwatch").describe_alarms()["MetricAlarms"] == []
    # When the stack is deleted, its alarms are
    cfn.delete_stack(StackName="alarms")
    assert cloudwatch.describe_alarms()["MetricAlarms"] == []


def test_an_updated_alarm_keeps_its_state_and_too_long_an_evaluation_is_refused(
    patches: MotoPatches,
) -> None:
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    alarm: dict[str, Any] = {
        "AlarmName": "failed-runs",
        "Namespace": "AWS/States",
        "MetricName": "ExecutionsFailed",
        "Statistic": "Sum",
        "Period": 300,
        "EvaluationPeriods": 1,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    }
    # Given an alarm, new (INSUFFICIENT_DATA), then set to ALARM
    cloudwatch.put_metric_alarm(**alarm)
    assert cloudwatch.describe_alarms()["MetricAlarms"][0]["StateValue"] == "INSUFFICIENT_DATA"
    cloudwatch.set_alarm_state(AlarmName="failed-runs", StateValue="ALARM", StateReason="test")
    # When it is updated, its state is left unchanged
    cloudwatch.put_metric_alarm(**{**alarm, "Threshold": 2})
    described = cloudwatch.describe_alarms()["MetricAlarms"][0]
    assert (described["Threshold"], described["StateValue"]) == (2.0, "ALARM")
    # And an evaluation longer than a day with periods under an hour is refused, the alarm as was
    with pytest.raises(ClientError, match="must be 86400 seconds or less"):
        cloudwatch.put_metric_alarm(**{**alarm, "EvaluationPeriods": 289})
    assert cloudwatch.describe_alarms()["MetricAlarms"][0]["EvaluationPeriods"] == 1
    # But seven days of hourly periods are not
    cloudwatch.put_metric_alarm(**{**alarm, "Period": 3600, "EvaluationPeriods": 168})
    with pytest.raises(ClientError, match="must be 604800 seconds or less"):
        cloudwatch.put_metric_alarm(
            **{**alarm, "AlarmName": "longer", "Period": 3600, "EvaluationPeriods": 169}
        )
    assert [a["AlarmName"] for a in cloudwatch.describe_alarms()["MetricAlarms"]] == ["failed-runs"]


def test_the_clock_stamps_every_metric(patches: MotoPatches, clock: SimClock) -> None:
    # Given the simulated clock a day on
    clock.advance(86_400)
    # When an invocation ends
    with invocation("fn", MAIN_ACCOUNT, REGION, FunctionLogs()):
        pass
    # Then Lambda's metrics carry the simulated time (moto keeps naive UTC)
    stamps = {d.timestamp for d in cloudwatch_backends[MAIN_ACCOUNT][REGION].metric_data}
    assert stamps == {(START + timedelta(days=1)).astimezone(UTC).replace(tzinfo=None)}


def test_a_stacks_alarm_may_name_its_serverless_functions(world: World) -> None:
    # Given a SAM template whose alarm names a function by Ref and in its description's Sub
    template = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Parameters": {"Prefix": {"Type": "String", "Default": "rds-xacct"}},
        "Resources": {
            "PassFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "FunctionName": {"Fn::Sub": "${Prefix}-keeper-pass"},
                    "Handler": "keeper.hourly",
                },
            },
            "PassFailing": {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "AlarmName": "pass-failing",
                    "AlarmDescription": {"Fn::Sub": "${PassFunction} (${PassFunction.Arn}) failed"},
                    "Namespace": "AWS/Lambda",
                    "MetricName": "Errors",
                    "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": "PassFunction"}}],
                    "Statistic": "Sum",
                    "Period": 3600,
                    "EvaluationPeriods": 1,
                    "Threshold": 1,
                    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                },
            },
        },
    }
    # When its stack is made as the simulation makes the backup account's (without the functions)
    backup = session_in(BACKUP_ACCOUNT)
    plain = without_serverless(template)
    backup.client("cloudformation").create_stack(StackName="pass", TemplateBody=json.dumps(plain))
    # Then the alarm names the function by its name, its ARN in the description
    (alarm,) = backup.client("cloudwatch").describe_alarms()["MetricAlarms"]
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": "rds-xacct-keeper-pass"}]
    arn = f"arn:aws:lambda:{REGION}:{BACKUP_ACCOUNT}:function:rds-xacct-keeper-pass"
    assert alarm["AlarmDescription"] == f"rds-xacct-keeper-pass ({arn}) failed"
