"""Both stacks as CloudFormation would deploy them in a partition: through the SAM transform,
then every intrinsic function resolved with plausible values (the partition's own ARNs, its
`AWS::URLSuffix`, a region of it), and the state machine's definition with its
DefinitionSubstitutions applied.

What the partition test (tests/unit/test_partitions.py) and the IAM catalogue check
(tests/unit/test_iam_catalogue.py) read; `packaged_template` is also what the SAM deploy test
creates in moto's CloudFormation.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from typing import Any
from unittest import mock

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.arn_generator import ArnGenerator
from samtranslator.translator.translator import Translator
from samtranslator.utils.py27hash_fix import undo_mark_unicode_str_in_template

from simulation.cfn_yaml import load_cfn_yaml
from simulation.sam_template import (
    BACKUP_TEMPLATE,
    PARTITIONS,
    ROOT,
    TEMPLATE,
    Resolver,
    state_machine_resource,
)

MAIN = "111111111111"
BACKUP = "222222222222"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"


class NoManagedPolicies:
    """The translator asks IAM for AWS managed policy ARNs; the templates name none by name."""

    def load(self) -> dict[str, str]:
        return {}


def packaged_template() -> dict[str, Any]:
    """What `sam package` uploads: local code and ASL replaced by S3 objects (the ASL inlined
    here, which is the same definition)."""
    template = load_cfn_yaml(TEMPLATE)
    template["Globals"]["Function"]["CodeUri"] = {"Bucket": "artifacts", "Key": "functions.zip"}
    _, machine = state_machine_resource(template)
    uri = machine["Properties"].pop("DefinitionUri")
    machine["Properties"]["Definition"] = json.loads((ROOT / uri).read_text())
    return template


def packaged_backup_template() -> dict[str, Any]:
    """What `sam deploy` of the backup-account template uploads: the keeper's code directory
    (functions/) replaced by an S3 object."""
    template = load_cfn_yaml(BACKUP_TEMPLATE)
    for logical_id in ("KeeperFunction", "KeeperPassFunction", "SlotBrokerFunction"):
        properties = template["Resources"][logical_id]["Properties"]
        assert (BACKUP_TEMPLATE.parent / properties["CodeUri"]).resolve() == ROOT / "functions"
        properties["CodeUri"] = {"Bucket": "backup-artifacts", "Key": "keeper.zip"}
    return template


def main_parameters(partition: str) -> dict[str, str]:
    region = PARTITIONS[partition][0]
    return {
        "BackupAccountId": BACKUP,
        "BackupAccountKmsKeyArn": f"arn:{partition}:kms:{region}:{BACKUP}:key/{KEY_ID}",
        "BackupAccountRoleArn": f"arn:{partition}:iam::{BACKUP}:role/rds-xacct-backup-copy",
        "BackupAccountKeeperUrl": f"https://k33p3r0123456789abcdef.lambda-url.{region}.on.aws/",
        "BackupAccountSlotBrokerUrl": f"https://s10t5b40k3r0123456789ab.lambda-url.{region}.on.aws/",
        "RetentionDays": "7",
        "CopyRdsAutomatedSnapshots": "true",
        "CopyRdsManualSnapshots": "true",
        "SlackWebhookParameterName": "/rds-xacct/slack-webhook",
    }


def backup_parameters(partition: str) -> dict[str, str]:
    return {
        "SourceAccountIds": f"{MAIN},333333333333",
        "KeyAdministratorArn": f"arn:{partition}:iam::{BACKUP}:role/key-admin",
    }


def sam_transform(template: dict[str, Any], parameters: dict[str, str], region: str) -> Any:
    """The SAM transform as `sam deploy` runs it in `region` (the translator takes the
    partition of the managed policies it adds from the region it runs in; no AWS call)."""
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    with mock.patch.object(ArnGenerator, "BOTO_SESSION_REGION_NAME", region):
        transformed = translator.translate(
            copy.deepcopy(template),
            parameter_values=dict(parameters),
            get_managed_policy_map=NoManagedPolicies().load,
        )
    return undo_mark_unicode_str_in_template(transformed)


_ARNS = {
    # CloudFormation resource type: (Ref, {attribute: value}), from the resource's name
    "AWS::Lambda::Function": ("{name}", {"Arn": "arn:{p}:lambda:{r}:{a}:function:{name}"}),
    "AWS::IAM::Role": ("{name}", {"Arn": "arn:{p}:iam::{a}:role/{name}", "RoleId": "AROA{name}"}),
    "AWS::StepFunctions::StateMachine": (
        "arn:{p}:states:{r}:{a}:stateMachine:{name}",
        {"Name": "{name}", "Arn": "arn:{p}:states:{r}:{a}:stateMachine:{name}"},
    ),
    "AWS::SQS::Queue": (
        "https://sqs.{r}.{suffix}/{a}/{name}",
        {"Arn": "arn:{p}:sqs:{r}:{a}:{name}", "QueueName": "{name}"},
    ),
    "AWS::SNS::Topic": (
        "arn:{p}:sns:{r}:{a}:{name}",
        {"TopicArn": "arn:{p}:sns:{r}:{a}:{name}", "TopicName": "{name}"},
    ),
    "AWS::DynamoDB::Table": (
        "{name}",
        {
            "Arn": "arn:{p}:dynamodb:{r}:{a}:table/{name}",
            "StreamArn": "arn:{p}:dynamodb:{r}:{a}:table/{name}/stream/2026-01-01T00:00:00.000",
        },
    ),
    "AWS::Logs::LogGroup": ("{name}", {"Arn": "arn:{p}:logs:{r}:{a}:log-group:{name}:*"}),
    "AWS::KMS::Key": (KEY_ID, {"Arn": "arn:{p}:kms:{r}:{a}:key/" + KEY_ID, "KeyId": KEY_ID}),
    "AWS::KMS::Alias": ("{name}", {}),
    "AWS::Events::Rule": ("{name}", {"Arn": "arn:{p}:events:{r}:{a}:rule/{name}"}),
    "AWS::IAM::ManagedPolicy": ("arn:{p}:iam::{a}:policy/{name}", {}),
    "AWS::Lambda::Url": (
        "arn:{p}:lambda:{r}:{a}:function:{name}",
        {"FunctionUrl": "https://{name}.lambda-url.{r}.on.aws/", "FunctionArn": "{name}"},
    ),
}
_NAMES = ("FunctionName", "RoleName", "TableName", "QueueName", "TopicName", "LogGroupName")


@dataclass
class Rendered:
    """One stack as deployed: resources with every intrinsic resolved, and (main stack) the
    state machine's definition."""

    partition: str
    region: str
    account: str
    resources: dict[str, Any]
    outputs: dict[str, Any]
    definition: dict[str, Any] | None


def _render(
    transformed: dict[str, Any], parameters: dict[str, str], account: str, region: str
) -> Rendered:
    resolver = Resolver(transformed, parameters, account=account, region=region)
    partition = resolver.partition
    suffix = PARTITIONS[partition][1]
    resources: dict[str, Any] = transformed["Resources"]

    def name(logical_id: str) -> str:
        properties = resources[logical_id].get("Properties", {})
        for key in (*_NAMES, "Name", "AliasName"):
            if key in properties:
                return str(resolver.resolve(properties[key]))
        return f"rds-xacct-{logical_id}"

    def fill(pattern: str, logical_id: str) -> str:
        return pattern.format(
            p=partition, r=region, a=account, suffix=suffix, name=name(logical_id)
        )

    def attributes(logical_id: str, attribute: str) -> str:
        kind = resources[logical_id]["Type"]
        known = _ARNS.get(kind, ("", {}))[1]
        if attribute not in known:
            raise KeyError(f"GetAtt {logical_id}.{attribute} ({kind}): add it to _ARNS")
        return fill(known[attribute], logical_id)

    class Refs(dict[str, str]):
        def __contains__(self, key: object) -> bool:
            return key in resources

        def __getitem__(self, key: str) -> str:
            kind = resources[key]["Type"]
            if kind not in _ARNS:
                raise KeyError(f"Ref {key} ({kind}): add it to _ARNS")
            return fill(_ARNS[kind][0], key)

    resolver.refs = Refs()
    resolver.attributes = attributes
    rendered = {
        logical_id: resolver.resolve(resource)
        for logical_id, resource in resources.items()
        if "Condition" not in resource or resolver.condition(resource["Condition"])
    }
    definition = None
    for resource in rendered.values():
        if resource["Type"] == "AWS::StepFunctions::StateMachine":
            properties = resource["Properties"]
            text = str(properties["DefinitionString"])  # (the transform writes it out)
            for key, value in properties.get("DefinitionSubstitutions", {}).items():
                text = text.replace("${" + key + "}", str(value))
            definition = json.loads(text)
    return Rendered(
        partition=partition,
        region=region,
        account=account,
        resources=rendered,
        outputs=resolver.resolve(transformed.get("Outputs", {})),
        definition=definition,
    )


@cache
def _rendered(which: str, partition: str) -> str:
    region = PARTITIONS[partition][0]
    if which == "main":
        parameters = main_parameters(partition)
        transformed = sam_transform(packaged_template(), parameters, region)
        result = _render(transformed, parameters, MAIN, region)
    else:
        parameters = backup_parameters(partition)
        transformed = sam_transform(packaged_backup_template(), parameters, region)
        result = _render(transformed, parameters, BACKUP, region)
    return json.dumps(result.__dict__)


def rendered(which: str, partition: str) -> Rendered:
    """The main ("main") or backup-account ("backup") stack as deployed in `partition` (a fresh
    copy: callers may change it)."""
    return Rendered(**json.loads(_rendered(which, partition)))
