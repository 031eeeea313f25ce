"""The main template's alarms made from the template, and CloudWatch's evaluation of alarms from
the metric data in moto (simulation/alarms.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto.sns.models import sns_backends

from simulation.alarm_evaluation import UnsupportedAlarm
from simulation.alarms import AlarmWatch, create_template_alarms
from simulation.moto import MotoPatches, SimClock
from simulation.sam_template import Resolver
from simulation.world import MAIN_ACCOUNT, REGION
from tests.conftest import START

MACHINE_ARN = f"arn:aws:states:{REGION}:{MAIN_ACCOUNT}:stateMachine:rds-xacct-copy-snapshot"


def template(**extra_resources: Any) -> dict[str, Any]:
    return {
        "Parameters": {
            "Prefix": {"Type": "String", "Default": "rds-xacct"},
            "Threshold": {"Type": "Number", "Default": 3},
            "Email": {"Type": "String", "Default": ""},
        },
        "Conditions": {"HasEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Email"}, ""]}]}},
        "Resources": {
            "Topic": {
                "Type": "AWS::SNS::Topic",
                "Properties": {"TopicName": {"Fn::Sub": "${Prefix}-alarms"}},
            },
            "Dlq": {
                "Type": "AWS::SQS::Queue",
                "Properties": {"QueueName": {"Fn::Sub": "${Prefix}-dlq"}},
            },
            "Machine": {"Type": "AWS::Serverless::StateMachine", "Properties": {}},
            "Logs": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"LogGroupName": {"Fn::Sub": "/aws/${Prefix}"}},
            },
            "DlqAlarm": {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "Namespace": "AWS/SQS",
                    "MetricName": "ApproximateNumberOfMessagesVisible",
                    "Dimensions": [
                        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["Dlq", "QueueName"]}}
                    ],
                    "Statistic": "Maximum",
                    "Period": 300,
                    "EvaluationPeriods": 1,
                    "Threshold": {"Ref": "Threshold"},
                    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                    "AlarmActions": [{"Ref": "Topic"}],
                },
            },
            "FailedAlarm": {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "AlarmName": {"Fn::Sub": "${Prefix}-failed"},
                    "AlarmDescription": {"Fn::Sub": "Runs failed: see their logs in ${Logs}"},
                    "Metrics": [
                        {"Id": "e1", "Expression": "FILL(m1, 0)", "ReturnData": True},
                        {
                            "Id": "m1",
                            "ReturnData": False,
                            "MetricStat": {
                                "Metric": {
                                    "Namespace": "AWS/States",
                                    "MetricName": "ExecutionsFailed",
                                    "Dimensions": [
                                        {"Name": "StateMachineArn", "Value": {"Ref": "Machine"}}
                                    ],
                                },
                                "Period": 300,
                                "Stat": "Sum",
                            },
                        },
                    ],
                    "EvaluationPeriods": 1,
                    "Threshold": 1,
                    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                    "TreatMissingData": "notBreaching",
                },
            },
            "OnlyWithEmail": {
                "Type": "AWS::CloudWatch::Alarm",
                "Condition": "HasEmail",
                "Properties": {
                    "AlarmName": "never",
                    "EvaluationPeriods": 1,
                    "ComparisonOperator": "LessThanThreshold",
                },
            },
            **extra_resources,
        },
    }


def resolver(given: dict[str, Any]) -> Resolver:
    return Resolver(given, {}, account=MAIN_ACCOUNT, region=REGION, refs={"Machine": MACHINE_ARN})


def test_the_main_templates_alarms_are_made_as_its_stack_would(patches: MotoPatches) -> None:
    # Given a template with a topic, a queue, and alarms on them and on the state machine
    session = boto3.Session(region_name=REGION)
    given = template()
    # When its alarms are made
    names = create_template_alarms(given, resolver(given), session)
    # Then each alarm whose condition holds exists, named as CloudFormation would name it
    cloudwatch = session.client("cloudwatch")
    described = {a["AlarmName"]: a for a in cloudwatch.describe_alarms()["MetricAlarms"]}
    assert sorted(names) == sorted(described)
    generated = next(n for n in names if n != "rds-xacct-failed")
    assert generated.startswith("rds-xacct-DlqAlarm-")
    # And its properties resolved: the queue's name, the parameter's threshold, the topic's ARN
    dlq = described[generated]
    assert dlq["Dimensions"] == [{"Name": "QueueName", "Value": "rds-xacct-dlq"}]
    assert dlq["Threshold"] == 3.0
    assert dlq["AlarmActions"] == [f"arn:aws:sns:{REGION}:{MAIN_ACCOUNT}:rds-xacct-alarms"]
    assert dlq["StateValue"] == "INSUFFICIENT_DATA"
    assert (
        described["rds-xacct-failed"]["AlarmDescription"]
        == "Runs failed: see their logs in /aws/rds-xacct"
    )
    failed = described["rds-xacct-failed"]["Metrics"][1]["MetricStat"]["Metric"]
    assert failed["Dimensions"] == [{"Name": "StateMachineArn", "Value": MACHINE_ARN}]
    # And the topic and the queue the alarms name exist
    assert session.client("sqs").get_queue_url(QueueName="rds-xacct-dlq")["QueueUrl"]
    assert [t["TopicArn"] for t in session.client("sns").list_topics()["Topics"]] == dlq[
        "AlarmActions"
    ]


def test_an_alarm_naming_what_the_simulation_does_not_make_is_refused_by_name(
    patches: MotoPatches,
) -> None:
    given = template(
        Odd={
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "Namespace": "AWS/Events",
                "MetricName": "FailedInvocations",
                "Dimensions": [{"Name": "RuleName", "Value": {"Ref": "SomeRule"}}],
                "Statistic": "Sum",
                "Period": 300,
                "EvaluationPeriods": 1,
                "Threshold": 1,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            },
        }
    )
    with pytest.raises(UnsupportedAlarm, match="Odd: Ref SomeRule"):
        create_template_alarms(given, resolver(given), boto3.Session(region_name=REGION))


def put_alarm(cloudwatch: Any, **overrides: Any) -> None:
    cloudwatch.put_metric_alarm(
        **{
            "AlarmName": "slow-copies",
            "Namespace": "RdsXacct",
            "MetricName": "BackupCopySeconds",
            "Dimensions": [{"Name": "service", "Value": "rds-xacct"}],
            "Statistic": "Average",
            "Period": 3600,
            "EvaluationPeriods": 1,
            "Threshold": 600,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            **overrides,
        }
    )


def test_alarms_are_evaluated_from_motos_data_and_tell_their_topic_once_per_change(
    patches: MotoPatches, clock: SimClock
) -> None:
    # Given an alarm on the average copy time, to a topic, and copies of 500 s and 900 s sent as
    # a statistic set and a value
    sns = boto3.client("sns", region_name=REGION)
    topic = sns.create_topic(Name="alarms")["TopicArn"]
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    put_alarm(cloudwatch, AlarmActions=[topic], OKActions=[topic])
    watch = AlarmWatch((MAIN_ACCOUNT,), REGION)
    dimensions = [{"Name": "service", "Value": "rds-xacct"}]
    cloudwatch.put_metric_data(
        Namespace="RdsXacct",
        MetricData=[
            {
                "MetricName": "BackupCopySeconds",
                "Dimensions": dimensions,
                "StatisticValues": {"SampleCount": 1, "Sum": 500, "Minimum": 500, "Maximum": 500},
                "Timestamp": START,
            },
            {
                "MetricName": "BackupCopySeconds",
                "Dimensions": dimensions,
                "Value": 900,
                "Timestamp": START,
            },
        ],
    )
    # When it is evaluated
    states = watch.states()
    # Then it is in ALARM (average 700 > 600), DescribeAlarms says so, the topic was told once
    assert states == {"slow-copies": "ALARM"}, str(watch.evaluation("slow-copies"))
    assert cloudwatch.describe_alarms()["MetricAlarms"][0]["StateValue"] == "ALARM"
    assert [(n.old_state, n.new_state, n.published) for n in watch.notifications] == [
        ("INSUFFICIENT_DATA", "ALARM", True)
    ]
    (_, message, subject, *_) = (
        sns_backends[MAIN_ACCOUNT][REGION].topics[topic].sent_notifications[0]
    )
    assert json.loads(message)["AlarmName"] == "slow-copies"
    assert subject == 'ALARM: "slow-copies"'
    # When it is evaluated again, nothing changed: nothing more is sent
    watch.evaluate()
    assert len(watch.notifications) == 1
    # When an hour passes without a copy, the last data point still decides (the guide: alarms
    # "may repeatedly re-evaluate the last set of data points for a period of time after the
    # metric has stopped flowing": it is in the evaluation range, three periods)
    clock.advance(3600)
    assert watch.states() == {"slow-copies": "ALARM"}
    # When it has left the range: OK (missing data not breaching), sent to its OK action
    clock.advance(2 * 3600)
    assert watch.states() == {"slow-copies": "OK"}, str(watch.evaluation("slow-copies"))
    assert [n.new_state for n in watch.notifications] == ["ALARM", "OK"]


def test_an_alarm_without_actions_enabled_changes_state_and_sends_nothing(
    patches: MotoPatches,
) -> None:
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    topic = boto3.client("sns", region_name=REGION).create_topic(Name="alarms")["TopicArn"]
    put_alarm(cloudwatch, AlarmActions=[topic], ActionsEnabled=False, TreatMissingData="breaching")
    watch = AlarmWatch((MAIN_ACCOUNT,), REGION)
    assert watch.states() == {"slow-copies": "ALARM"}
    assert watch.notifications == []


def test_the_evaluation_says_what_it_saw(patches: MotoPatches) -> None:
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    put_alarm(cloudwatch, EvaluationPeriods=2)
    moment = datetime.now(UTC) - timedelta(minutes=5)
    cloudwatch.put_metric_data(
        Namespace="RdsXacct",
        MetricData=[
            {
                "MetricName": "BackupCopySeconds",
                "Dimensions": [{"Name": "service", "Value": "rds-xacct"}],
                "Value": 650,
                "Timestamp": moment,
            }
        ],
    )
    text = str(AlarmWatch((MAIN_ACCOUNT,), REGION).evaluation("slow-copies"))
    assert text.splitlines()[0].startswith("slow-copies: OK - 1 datapoints of 2, 1 breaching")
    assert "650  breaching" in text
