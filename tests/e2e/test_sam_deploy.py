"""template.yaml through the SAM transform, then created in moto's CloudFormation."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import boto3
import pytest
from samtranslator.translator.transform import transform

from tests.support.cfn_yaml import load_cfn_yaml
from tests.support.sam_template import ROOT, TEMPLATE, state_machine_resource
from tests.support.world import BACKUP_ACCOUNT, REGION

PARAMETERS = {
    "BackupAccountId": BACKUP_ACCOUNT,
    "BackupAccountKmsKeyArn": f"arn:aws:kms:{REGION}:{BACKUP_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "BackupAccountRoleArn": f"arn:aws:iam::{BACKUP_ACCOUNT}:role/rds-xacct-backup-copy",
    "RetentionDays": "7",
    "CopyRdsAutomatedSnapshots": "true",
    "SlackWebhookParameterName": "/rds-xacct/slack-webhook",
}


class _NoManagedPolicies:
    """The translator asks IAM for AWS managed policy ARNs; this template uses none."""

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


def test_the_sam_transform_gives_the_resources_the_app_needs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the packaged template
    monkeypatch.setenv("AWS_REGION", REGION)
    # When the SAM transform runs
    transformed = transform(packaged_template(), PARAMETERS, _NoManagedPolicies())
    # Then it holds thirteen functions (eleven for the flow, the sweep, the reconciliation), one
    # state machine, the copy-slot table and the rules, with no SAM types left
    types = [r["Type"] for r in transformed["Resources"].values()]
    assert types.count("AWS::Lambda::Function") == 13
    assert types.count("AWS::DynamoDB::Table") == 1
    assert types.count("AWS::StepFunctions::StateMachine") == 1
    assert types.count("AWS::Events::Rule") == 4
    assert not [t for t in types if t.startswith("AWS::Serverless::")]
    # And every function runs on the runtime and architecture the README names
    for resource in transformed["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            assert resource["Properties"]["Runtime"] == "python3.13"
            assert resource["Properties"]["Architectures"] == ["arm64"]


def test_the_transformed_template_creates_in_cloudformation(
    monkeypatch: pytest.MonkeyPatch, patches: Any
) -> None:
    # Given the transformed template and its code artifact
    monkeypatch.setenv("AWS_REGION", REGION)
    transformed = transform(packaged_template(), PARAMETERS, _NoManagedPolicies())
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="artifacts", CreateBucketConfiguration={"LocationConstraint": REGION})
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("describe_source.py", "def handler(event, context):\n    return event\n")
    s3.put_object(Bucket="artifacts", Key="functions.zip", Body=code.getvalue())
    boto3.client("ssm", region_name=REGION).put_parameter(
        Name="/rds-xacct/slack-webhook", Value="https://hooks.slack.com/x", Type="SecureString"
    )
    cfn = boto3.client("cloudformation", region_name=REGION)
    # When the stack is created
    cfn.create_stack(
        StackName="rds-xacct",
        TemplateBody=json.dumps(transformed),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in PARAMETERS.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    stack = cfn.describe_stacks(StackName="rds-xacct")["Stacks"][0]
    # Then it is complete, with the outputs the README names
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["StateMachineArn"].endswith(":stateMachine:rds-xacct-copy-snapshot")
    assert outputs["PipelineRoleArn"].endswith(":role/rds-xacct-pipeline-eu-west-1")
    # And the functions carry the environment the handlers read
    function = boto3.client("lambda", region_name=REGION).get_function(
        FunctionName="rds-xacct-copy-backup"
    )["Configuration"]
    variables = function["Environment"]["Variables"]
    assert variables["BACKUP_ROLE_ARN"] == PARAMETERS["BackupAccountRoleArn"]
    # (moto's CloudFormation keeps the Number parameter's type; Lambda stores every value as a
    # string, which is what the handlers read)
    assert str(variables["RETENTION_DAYS"]) == "7"
    # And the state machine exists as a stack resource (moto's CloudFormation creates it in a
    # backend that its Step Functions API does not read, so it is not described here)
    resources = {
        r["LogicalResourceId"]: r
        for r in cfn.list_stack_resources(StackName="rds-xacct")["StackResourceSummaries"]
    }
    assert resources["CopySnapshotStateMachine"]["ResourceStatus"] == "CREATE_COMPLETE"
    assert resources["AwsBackupJobCompletedRule"]["ResourceStatus"] == "CREATE_COMPLETE"
