"""CloudWatch alarms as AWS makes them: in a CloudFormation stack, and born INSUFFICIENT_DATA.

* moto's CloudFormation has no model for `AWS::CloudWatch::Alarm`: a stack's alarms were skipped
  with a warning. `StackAlarm` makes each one with every property of the template (CloudFormation
  User Guide, "AWS::CloudWatch::Alarm": `Ref` is the alarm's name, `Fn::GetAtt Arn` its ARN; a
  property given as a string, such as a parameter's value, is read as the property's type).
* moto starts every alarm `OK`, and PutMetricAlarm of an existing alarm starts it anew. AWS
  (CloudWatch API reference, PutMetricAlarm): "When this operation creates an alarm, the alarm
  state is immediately set to INSUFFICIENT_DATA. The alarm is then evaluated and its state is
  set appropriately"; "When you update an existing alarm, its state is left unchanged". And it
  refuses an alarm evaluated over too long a time ("Period multiplied by EvaluationPeriods
  can't be more than 604,800 seconds. For alarms with a period of less than one hour (3,600
  seconds), the total evaluation period can't be longer than one day (86,400 seconds)").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from unittest import mock

from moto.cloudformation import parsing
from moto.cloudwatch.exceptions import ValidationError
from moto.cloudwatch.models import (
    CloudWatchBackend,
    Dimension,
    Metric,
    MetricDataQuery,
    MetricStat,
    cloudwatch_backends,
)

ALARM_TYPE = "AWS::CloudWatch::Alarm"
INITIAL_STATE = "INSUFFICIENT_DATA"
INITIAL_REASON = "Unchecked: Initial alarm creation"


def _truth(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() == "true"


def coerce(properties: dict[str, Any]) -> dict[str, Any]:
    """An alarm's properties with the types PutMetricAlarm takes (CloudFormation reads a
    string, such as a parameter's value, as the property's type)."""
    out = dict(properties)
    for key in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
        if key in out:
            out[key] = int(out[key])
    if "Threshold" in out:
        out["Threshold"] = float(out["Threshold"])
    if "ActionsEnabled" in out:
        out["ActionsEnabled"] = _truth(out["ActionsEnabled"])
    if "Metrics" in out:
        out["Metrics"] = [_coerce_query(item) for item in out["Metrics"]]
    return out


def _coerce_query(item: dict[str, Any]) -> dict[str, Any]:
    out = dict(item)
    if "Period" in out:
        out["Period"] = int(out["Period"])
    if "ReturnData" in out:
        out["ReturnData"] = _truth(out["ReturnData"])
    if "MetricStat" in out:
        out["MetricStat"] = {**out["MetricStat"], "Period": int(out["MetricStat"]["Period"])}
    return out


def put_alarm(backend: CloudWatchBackend, name: str, properties: dict[str, Any]) -> Any:
    """PutMetricAlarm with an alarm's CloudFormation properties (the API's names)."""
    missing = [p for p in ("ComparisonOperator", "EvaluationPeriods") if p not in properties]
    if missing:
        raise ValueError(f"{ALARM_TYPE} {name}: required properties missing: {missing}")
    given = coerce(properties)
    queries = [_query(item) for item in given["Metrics"]] if given.get("Metrics") else None
    return backend.put_metric_alarm(
        name=name,
        namespace=given.get("Namespace"),  # type: ignore[arg-type]
        metric_name=given.get("MetricName"),  # type: ignore[arg-type]
        comparison_operator=given["ComparisonOperator"],
        evaluation_periods=given["EvaluationPeriods"],
        period=given.get("Period"),  # type: ignore[arg-type]
        threshold=given.get("Threshold"),  # type: ignore[arg-type]
        statistic=given.get("Statistic"),  # type: ignore[arg-type]
        description=given.get("AlarmDescription"),  # type: ignore[arg-type]
        dimensions=given.get("Dimensions", []),
        alarm_actions=given.get("AlarmActions", []),
        metric_data_queries=queries,
        datapoints_to_alarm=given.get("DatapointsToAlarm"),
        extended_statistic=given.get("ExtendedStatistic"),
        ok_actions=given.get("OKActions", []),
        insufficient_data_actions=given.get("InsufficientDataActions", []),
        unit=given.get("Unit"),
        actions_enabled=given.get("ActionsEnabled", True),
        treat_missing_data=given.get("TreatMissingData"),
        evaluate_low_sample_count_percentile=given.get("EvaluateLowSampleCountPercentile"),
        threshold_metric_id=given.get("ThresholdMetricId"),
        tags=given.get("Tags"),
    )


def _query(item: dict[str, Any]) -> MetricDataQuery:
    """A `Metrics` entry as moto's PutMetricAlarm makes it (moto.cloudwatch.responses)."""
    stat = item.get("MetricStat")
    metric_stat = None
    if stat:
        metric = stat["Metric"]
        metric_stat = MetricStat(
            metric=Metric(
                metric_name=metric["MetricName"],
                namespace=metric["Namespace"],
                dimensions=[Dimension(d["Name"], d["Value"]) for d in metric.get("Dimensions", [])],
            ),
            period=stat["Period"],
            stat=stat["Stat"],
            unit=stat.get("Unit"),
        )
    return MetricDataQuery(
        query_id=item["Id"],
        label=item.get("Label"),  # type: ignore[arg-type]
        period=item.get("Period"),  # type: ignore[arg-type]
        return_data=item.get("ReturnData", True),
        expression=item.get("Expression"),
        metric_stat=metric_stat,
    )


class StackAlarm:
    """An `AWS::CloudWatch::Alarm` of a stack (the CloudFormation model moto lacks)."""

    def __init__(self, name: str, account: str, region: str, arn: str) -> None:
        self.name = name
        self.account = account
        self.region = region
        self.arn = arn

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @staticmethod
    def cloudformation_name_type() -> str:
        return "AlarmName"

    @staticmethod
    def cloudformation_type() -> str:
        return ALARM_TYPE

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "Arn":
            return self.arn
        raise KeyError(f"{ALARM_TYPE} has no attribute {attribute_name}")

    def is_created(self) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> StackAlarm:
        backend = cloudwatch_backends[account_id][region_name]
        alarm = put_alarm(backend, resource_name, cloudformation_json["Properties"])
        return cls(resource_name, account_id, region_name, alarm.alarm_arn)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: StackAlarm,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> StackAlarm:
        if original_resource.name != new_resource_name:
            cls.delete_from_cloudformation_json(
                original_resource.name, cloudformation_json, account_id, region_name
            )
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        cloudwatch_backends[account_id][region_name].delete_alarms([resource_name])


def _alarms_in_stacks() -> list[Any]:
    # moto's CloudFormation finds a model per resource type in `get_model_map()` (and the name
    # property in `get_name_type_map()`), both cached lists of CloudFormationModel's subclasses:
    # the alarm's model is added to their answers while the patches are installed.
    model_map, name_map = parsing.get_model_map, parsing.get_name_type_map

    def get_model_map() -> dict[str, Any]:
        return {**model_map(), ALARM_TYPE: StackAlarm}

    def get_name_type_map() -> dict[str, str]:
        return {**name_map(), ALARM_TYPE: StackAlarm.cloudformation_name_type()}

    return [
        mock.patch.object(parsing, "get_model_map", get_model_map),
        mock.patch.object(parsing, "get_name_type_map", get_name_type_map),
    ]


LONGEST = 604_800
LONGEST_UNDER_AN_HOUR = 86_400


def _evaluated_for_too_long(alarm: Any) -> str | None:
    periods = [int(alarm.period)] if alarm.period else []
    periods += [int(q.metric_stat.period) for q in alarm.metric_data_queries if q.metric_stat]
    if not periods or alarm.evaluation_periods is None:
        return None
    period = max(periods)
    longest = LONGEST if period >= 3600 else LONGEST_UNDER_AN_HOUR
    if period * int(alarm.evaluation_periods) > longest:
        return (
            f"Period ({period}) multiplied by EvaluationPeriods ({alarm.evaluation_periods}) "
            f"must be {longest} seconds or less"
        )
    return None


def _born_insufficient() -> Callable[..., Any]:
    original = CloudWatchBackend.put_metric_alarm

    def put_metric_alarm(backend: CloudWatchBackend, *args: Any, **kwargs: Any) -> Any:
        name = kwargs["name"] if "name" in kwargs else args[0]
        previous = backend.alarms.get(name)
        alarm = original(backend, *args, **kwargs)
        too_long = _evaluated_for_too_long(alarm)
        if too_long is not None:
            if previous is None:
                del backend.alarms[name]
            else:
                backend.alarms[name] = previous
            raise ValidationError(too_long)
        if previous is None:
            alarm.state_value = INITIAL_STATE
            alarm.state_reason = INITIAL_REASON
        else:
            for kept in ("state_value", "state_reason", "state_reason_data", "history"):
                setattr(alarm, kept, getattr(previous, kept))
            alarm.state_updated_timestamp = previous.state_updated_timestamp
        return alarm

    return put_metric_alarm


def patches() -> list[Any]:
    return [
        *_alarms_in_stacks(),
        mock.patch.object(CloudWatchBackend, "put_metric_alarm", _born_insufficient()),
    ]


__all__ = ["ALARM_TYPE", "INITIAL_STATE", "StackAlarm", "coerce", "patches", "put_alarm"]
