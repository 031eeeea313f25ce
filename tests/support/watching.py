"""The templates' alarms and dashboards as CloudFormation would make them, for the template
tests: every intrinsic resolved (`Resolver`) with sample parameters and the longest
`ResourcePrefix` the templates allow, each `Ref` and `GetAtt` to the value CloudFormation
returns for that resource type (CloudFormation User Guide, each type's "Return values"), so that
a variable naming nothing fails here as it would at deploy."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulation.cfn_yaml import load_cfn_yaml
from simulation.sam_template import BACKUP_TEMPLATE, TEMPLATE, Resolver
from simulation.world import BACKUP_ACCOUNT, MAIN_ACCOUNT, REGION

LONGEST_PREFIX = "r" * 20
"""`ResourcePrefix` at its longest (AllowedPattern `^[a-z][a-z0-9-]{0,19}$`): the longest names,
hence the longest descriptions."""

ACCOUNTS = {TEMPLATE: MAIN_ACCOUNT, BACKUP_TEMPLATE: BACKUP_ACCOUNT}
PARAMETERS: dict[Path, dict[str, str]] = {
    TEMPLATE: {
        "BackupAccountId": BACKUP_ACCOUNT,
        "BackupAccountKmsKeyArn": f"arn:aws:kms:{REGION}:{BACKUP_ACCOUNT}:key/"
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        "BackupAccountRoleArn": f"arn:aws:iam::{BACKUP_ACCOUNT}:role/rds-xacct-backup-copy",
        "BackupAccountKeeperUrl": f"https://k33p3r0123456789abcdef.lambda-url.{REGION}.on.aws/",
        "BackupAccountSlotBrokerUrl": f"https://s10t5b40k3r0123456789ab.lambda-url.{REGION}.on.aws/",
    },
    BACKUP_TEMPLATE: {"SourceAccountIds": MAIN_ACCOUNT},
}
NAMED_BY = {
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::IAM::Role": "RoleName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::Serverless::StateMachine": "Name",
}
"""Each named resource type's name property (Ref returns the name for the first four)."""


@dataclass(frozen=True)
class Watching:
    """One template's alarms and dashboards, resolved."""

    path: Path
    template: dict[str, Any]
    alarms: dict[str, dict[str, Any]]
    """Logical id → the alarm's properties, resolved."""
    dashboards: dict[str, tuple[str, dict[str, Any]]]
    """Logical id → the dashboard's name and its body, parsed."""
    log_groups: frozenset[str]
    """The names of the template's log groups."""
    region: str
    account: str


def watching(path: Path, **parameters: str) -> Watching:
    """The template at `path` resolved with its sample parameters (and `parameters`)."""
    template = load_cfn_yaml(path)
    account = ACCOUNTS[path]
    values = {**PARAMETERS[path], "ResourcePrefix": LONGEST_PREFIX, **parameters}
    resources: dict[str, Any] = template["Resources"]
    names = Resolver(template, values, account=account, region=REGION)
    named = {
        logical_id: str(names.resolve(r["Properties"][NAMED_BY[r["Type"]]]))
        for logical_id, r in resources.items()
        if r["Type"] in NAMED_BY and NAMED_BY[r["Type"]] in r.get("Properties", {})
    }
    partition = names.partition

    def ref(logical_id: str) -> str:
        kind, name = resources[logical_id]["Type"], named.get(logical_id, logical_id)
        if kind == "AWS::Serverless::StateMachine":
            return f"arn:{partition}:states:{REGION}:{account}:stateMachine:{name}"
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{account}/{name}"
        if kind == "AWS::SNS::Topic":
            return f"arn:{partition}:sns:{REGION}:{account}:{name}"
        return name if logical_id in named else f"{logical_id}-id"

    def attribute(logical_id: str, name: str) -> str:
        kind = resources[logical_id]["Type"]
        if kind == "AWS::SQS::Queue" and name == "QueueName":
            return named[logical_id]
        if kind == "AWS::CloudWatch::Alarm" and name == "Arn":
            return f"arn:{partition}:cloudwatch:{REGION}:{account}:alarm:{named[logical_id]}"
        return f"{logical_id}.{name}"

    resolver = Resolver(
        template,
        values,
        account=account,
        region=REGION,
        refs={logical_id: ref(logical_id) for logical_id in resources},
        attributes=attribute,
    )
    return Watching(
        path=path,
        template=template,
        alarms={
            logical_id: resolver.resolve(r["Properties"])
            for logical_id, r in resources.items()
            if r["Type"] == "AWS::CloudWatch::Alarm"
        },
        dashboards={
            logical_id: (
                str(resolver.resolve(r["Properties"]["DashboardName"])),
                json.loads(resolver.resolve(r["Properties"]["DashboardBody"])),
            )
            for logical_id, r in resources.items()
            if r["Type"] == "AWS::CloudWatch::Dashboard"
        },
        log_groups=frozenset(
            named[logical_id]
            for logical_id, r in resources.items()
            if r["Type"] == "AWS::Logs::LogGroup"
        ),
        region=REGION,
        account=account,
    )


def metric_widgets(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [w for w in body["widgets"] if w["type"] == "metric"]


def widget_metrics(widget: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """Each single metric of a metric widget as (namespace, name, dimensions), with `"."`
    meaning the previous metric's value in that position (CloudWatch API Reference, "Dashboard
    Body Structure and Syntax": "Metric Widget: Format for Each Metric in the Array")."""
    found: list[tuple[str, str, dict[str, str]]] = []
    previous: list[str] = []
    for item in widget["properties"].get("metrics", []):
        fields = [f for f in item if not isinstance(f, dict)]
        if not fields:  # an expression
            continue
        fields = [
            previous[i] if f == "." and i < len(previous) else str(f) for i, f in enumerate(fields)
        ]
        previous = fields
        namespace, name, *pairs = fields
        found.append((namespace, name, dict(zip(pairs[::2], pairs[1::2], strict=True))))
    return found
