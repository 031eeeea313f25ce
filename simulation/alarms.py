"""The templates' CloudWatch alarms in moto, and CloudWatch's evaluation of them.

* The backup account's alarms are made by its stack, through moto's CloudFormation
  (`simulation.moto.cloudwatch_alarms.StackAlarm`). The main template is not deployed through
  CloudFormation: `create_template_alarms` makes each of its `AWS::CloudWatch::Alarm` (and the
  topics and queues they name, which nothing else of the simulation makes) from the template,
  resolved with the driver's `Resolver`.
* `AlarmWatch` evaluates every alarm of an account from the metric data in moto's CloudWatch
  (`simulation.alarm_evaluation`), sets its state in moto (DescribeAlarms shows it) and, on a
  change of state, does what CloudWatch does with its actions ("Alarms invoke actions for
  sustained state changes only"; an SNS topic gets one message per change): the message is
  published to the topic in moto and recorded (`AlarmWatch.notifications`).

CloudWatch evaluates alarms continuously; here at `Simulation.alarm_states()` and at each hour
of `Simulation.advance()`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from moto.cloudwatch.models import Alarm, MetricAggregatedDatum, cloudwatch_backends
from moto.sns.models import sns_backends

from simulation.alarm_evaluation import (
    ALARM,
    INSUFFICIENT,
    OK,
    Dimensions,
    Evaluation,
    Sample,
    UnsupportedAlarm,
    evaluate,
)
from simulation.moto.cloudwatch_alarms import ALARM_TYPE, coerce
from simulation.sam_template import Resolver

ACTIONS = {ALARM: "alarm_actions", OK: "ok_actions", INSUFFICIENT: "insufficient_data_actions"}
STATE_MACHINES = ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
REF_IS_NAME = {
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::IAM::Role": "RoleName",
    "AWS::Events::Rule": "Name",
    "AWS::DynamoDB::Table": "TableName",
}
"""Resource types whose `Ref` is the name a property gives (CloudFormation User Guide, each
type's "Return values")."""


def alarm_parameters(alarm: Alarm) -> dict[str, Any]:
    """moto's alarm as PutMetricAlarm's parameters (what the evaluator reads)."""
    parameters: dict[str, Any] = {
        "AlarmName": alarm.name,
        "Namespace": alarm.namespace,
        "MetricName": alarm.metric_name,
        "Statistic": alarm.statistic,
        "ExtendedStatistic": alarm.extended_statistic,
        "Dimensions": [{"Name": d.name, "Value": d.value} for d in alarm.dimensions],
        "Period": alarm.period,
        "Unit": alarm.unit,
        "EvaluationPeriods": alarm.evaluation_periods,
        "DatapointsToAlarm": alarm.datapoints_to_alarm,
        "Threshold": alarm.threshold,
        "ComparisonOperator": alarm.comparison_operator,
        "TreatMissingData": alarm.treat_missing_data,
        "ThresholdMetricId": alarm.threshold_metric_id,
        "AlarmRule": alarm.rule,
    }
    if alarm.metric_data_queries:
        parameters["Metrics"] = [_query(q) for q in alarm.metric_data_queries]
    return parameters


def _query(query: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"Id": query.id, "ReturnData": query.return_data is not False}
    if query.expression:
        item["Expression"] = query.expression
    stat = query.metric_stat
    if stat is not None:
        item["MetricStat"] = {
            "Metric": {
                "Namespace": stat.metric.namespace,
                "MetricName": stat.metric.metric_name,
                "Dimensions": [{"Name": d.name, "Value": d.value} for d in stat.metric.dimensions],
            },
            "Period": int(stat.period),
            "Stat": stat.stat,
            "Unit": stat.unit,
        }
    return item


def moto_source(account: str, region: str) -> Callable[[str, str, Dimensions], list[Sample]]:
    """Every value moto's CloudWatch holds for a metric (namespace, name, exact dimensions)."""
    index: dict[tuple[str, str, Dimensions], list[Sample]] = {}
    for datum in list(cloudwatch_backends[account][region].metric_data):
        dimensions = tuple(sorted((str(d.name), str(d.value)) for d in datum.dimensions))
        stamp = datum.timestamp.replace(tzinfo=UTC)
        if isinstance(datum, MetricAggregatedDatum):
            sample = Sample(
                stamp, datum.sample_count, datum.sum, datum.min, datum.max, None, datum.unit
            )
        else:
            sample = Sample.of(stamp, getattr(datum, "value"), unit=datum.unit)  # noqa: B009
        index.setdefault((datum.namespace, datum.name, dimensions), []).append(sample)
    return lambda namespace, name, dimensions: index.get((namespace, name, dimensions), [])


@dataclass(frozen=True)
class AlarmNotification:
    """What an alarm's change of state sent to one of its actions."""

    account: str
    alarm: str
    action: str
    old_state: str
    new_state: str
    reason: str
    at: datetime
    published: bool
    """False: the action is not an SNS topic moto holds (CloudWatch does not check actions)."""


class AlarmWatch:
    """CloudWatch's evaluation of every alarm of the given accounts, each in its region
    (`region`, or the account's own in `regions`: a backup account in a disaster-recovery
    region)."""

    def __init__(
        self, accounts: tuple[str, ...], region: str, regions: dict[str, str] | None = None
    ) -> None:
        self.accounts = accounts
        self.region = region
        self.regions = regions or {}
        self.notifications: list[AlarmNotification] = []

    def region_of(self, account: str) -> str:
        return self.regions.get(account, self.region)

    def evaluate(self, account: str | None = None) -> dict[tuple[str, str], Evaluation]:
        """Every alarm's evaluation at the simulated now, by (account, name); states set."""
        found = {}
        for owner in self.accounts if account is None else (account,):
            backend = cloudwatch_backends[owner][self.region_of(owner)]
            source = moto_source(owner, self.region_of(owner))
            for alarm in list(backend.alarms.values()):
                try:
                    evaluation = evaluate(
                        alarm_parameters(alarm), source, datetime.now(UTC), alarm.state_value
                    )
                except UnsupportedAlarm as refused:
                    raise UnsupportedAlarm(f"alarm {alarm.name} ({owner}): {refused}") from None
                self._set(owner, alarm, evaluation)
                found[(owner, alarm.name)] = evaluation
        return found

    def states(self, account: str | None = None) -> dict[str, str]:
        evaluations = self.evaluate(account)
        names = [name for _, name in evaluations]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"Alarms of the same name in both accounts: {twice}; name one")
        return {name: e.state for (_, name), e in evaluations.items()}

    def evaluation(self, name: str, account: str | None = None) -> Evaluation:
        matches = [e for (owner, n), e in self.evaluate(account).items() if n == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} alarms named {name!r} (account {account})")
        return matches[0]

    def _set(self, account: str, alarm: Alarm, evaluation: Evaluation) -> None:
        old = alarm.state_value
        if evaluation.state == old:
            return
        data = json.dumps({"version": "1.0", "evaluatedDatapoints": _datapoints(evaluation)})
        backend = cloudwatch_backends[account][self.region_of(account)]
        backend.set_alarm_state(alarm.name, evaluation.reason, data, evaluation.state)
        if not alarm.actions_enabled:
            return
        now = datetime.now(UTC)
        for action in getattr(alarm, ACTIONS[evaluation.state]):
            message = {
                "AlarmName": alarm.name,
                "AlarmDescription": alarm.description,
                "AWSAccountId": account,
                "NewStateValue": evaluation.state,
                "NewStateReason": evaluation.reason,
                "StateChangeTime": now.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
                "Region": self.region_of(account),
                "AlarmArn": alarm.alarm_arn,
                "OldStateValue": old,
            }
            published = _publish(action, f'{evaluation.state}: "{alarm.name}"', message)
            self.notifications.append(
                AlarmNotification(
                    account,
                    alarm.name,
                    action,
                    old,
                    evaluation.state,
                    evaluation.reason,
                    now,
                    published,
                )
            )


def _datapoints(evaluation: Evaluation) -> list[dict[str, Any]]:
    return [
        {"timestamp": p.end.strftime("%Y-%m-%dT%H:%M:%S.000+0000"), "value": p.value}
        for p in evaluation.points
        if p.value is not None
    ]


def _publish(action: str, subject: str, message: dict[str, Any]) -> bool:
    parts = action.split(":")
    if len(parts) < 6 or parts[2] != "sns":
        return False
    topic = sns_backends[parts[4]][parts[3]].topics.get(action)
    if topic is None:
        return False
    topic.publish(json.dumps(message), subject=subject[:100])
    return True


# --- The main template's alarms ---------------------------------------------------------------------
def create_template_alarms(
    template: dict[str, Any], resolver: Resolver, session: Any, stack: str = "rds-xacct"
) -> list[str]:
    """Every `AWS::CloudWatch::Alarm` of `template` in the account of `session`, as its stack
    would make them, with the SNS topics and SQS queues the template declares that the caller
    has not made (`resolver.refs` names those it has), and the names of the log groups, roles,
    rules and tables they may name. Returns the alarms' names."""
    resources: dict[str, Any] = template["Resources"]
    account, region = resolver.values["AWS::AccountId"], resolver.values["AWS::Region"]
    _create_topics_and_queues(resources, resolver, session, account, region)
    names = []
    cloudwatch = session.client("cloudwatch")
    for logical_id, resource in resources.items():
        if resource["Type"] != ALARM_TYPE:
            continue
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue
        try:
            properties = coerce(resolver.resolve(resource["Properties"]))
        except KeyError as missing:
            raise UnsupportedAlarm(
                f"{logical_id}: {missing.args[0]} (simulation/alarms.py makes the resources "
                "the main template's alarms name)"
            ) from None
        suffix = hashlib.sha256(logical_id.encode()).hexdigest()[:12].upper()
        name = str(properties.pop("AlarmName", f"{stack}-{logical_id}-{suffix}"))
        cloudwatch.put_metric_alarm(AlarmName=name, **properties)
        names.append(name)
    return names


def _create_topics_and_queues(
    resources: dict[str, Any], resolver: Resolver, session: Any, account: str, region: str
) -> None:
    made: dict[tuple[str, str], str] = {}
    for logical_id, resource in resources.items():
        if logical_id in resolver.refs:
            continue
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::SNS::Topic":
            name = str(resolver.resolve(properties.get("TopicName", logical_id)))
            arn = session.client("sns").create_topic(Name=name)["TopicArn"]
            resolver.refs[logical_id] = arn
            made[(logical_id, "TopicName")] = name
            made[(logical_id, "TopicArn")] = arn
        elif resource["Type"] == "AWS::SQS::Queue":
            name = str(resolver.resolve(properties.get("QueueName", logical_id)))
            resolver.refs[logical_id] = session.client("sqs").create_queue(QueueName=name)[
                "QueueUrl"
            ]
            made[(logical_id, "QueueName")] = name
            made[(logical_id, "Arn")] = f"arn:{resolver.partition}:sqs:{region}:{account}:{name}"
        elif REF_IS_NAME.get(resource["Type"], "") in properties:
            # named in an alarm's description: its name, as `Ref` gives it
            named = properties[REF_IS_NAME[resource["Type"]]]
            resolver.refs[logical_id] = str(resolver.resolve(named))
    previous = resolver.attributes

    def attributes(logical_id: str, attribute: str) -> str:
        if (logical_id, attribute) in made:
            return made[(logical_id, attribute)]
        kind = resources.get(logical_id, {}).get("Type")
        if kind in STATE_MACHINES and attribute == "Name":
            return str(resolver.refs[logical_id]).rsplit(":", 1)[-1]
        if previous is None:
            raise KeyError(f"GetAtt {logical_id}.{attribute} is not simulated")
        return previous(logical_id, attribute)

    resolver.attributes = attributes


__all__ = [
    "AlarmNotification",
    "AlarmWatch",
    "alarm_parameters",
    "create_template_alarms",
    "moto_source",
]
