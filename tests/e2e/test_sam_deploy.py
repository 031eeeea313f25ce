"""template.yaml and other/backup-account/backup-account.yaml through the SAM transform, then
created in moto's CloudFormation (each in its own account)."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import boto3
import pytest
from samtranslator.translator.transform import transform

from rds_xacct.keeper import settings as keeper
from rds_xacct.model.constants import DEFAULT_MIN_RETENTION_DAYS, KEEPER_SCHEDULE
from rds_xacct.model.settings import Settings
from simulation.cfn_yaml import load_cfn_yaml
from simulation.sam_template import ROOT, TEMPLATE
from simulation.world import BACKUP_ACCOUNT, MAIN_ACCOUNT, REGION, session_in
from tests.support.rendered import (
    NoManagedPolicies,
    packaged_backup_template,
    packaged_template,
)

PARAMETERS = {
    "BackupAccountId": BACKUP_ACCOUNT,
    "BackupAccountKmsKeyArn": f"arn:aws:kms:{REGION}:{BACKUP_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "BackupAccountRoleArn": f"arn:aws:iam::{BACKUP_ACCOUNT}:role/rds-xacct-backup-copy",
    "BackupAccountKeeperUrl": f"https://k33p3r0123456789abcdef.lambda-url.{REGION}.on.aws/",
    "BackupAccountSlotBrokerUrl": f"https://s10t5b40k3r0123456789ab.lambda-url.{REGION}.on.aws/",
    "RetentionDays": "7",
    "CopyRdsAutomatedSnapshots": "true",
    "SlackWebhookParameterName": "/rds-xacct/slack-webhook",
}


BACKUP_PARAMETERS = {"SourceAccountIds": MAIN_ACCOUNT}


def test_the_sam_transform_gives_the_resources_the_app_needs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the packaged template
    monkeypatch.setenv("AWS_REGION", REGION)
    # When the SAM transform runs
    transformed = transform(packaged_template(), PARAMETERS, NoManagedPolicies())
    # Then it holds fourteen functions (eleven for the flow, the sweep, the reconciliation, the
    # watch), one state machine, the copy-slot and notices tables and the rules, with no SAM
    # types left
    types = [r["Type"] for r in transformed["Resources"].values()]
    assert types.count("AWS::Lambda::Function") == 14
    assert types.count("AWS::DynamoDB::Table") == 2
    assert types.count("AWS::StepFunctions::StateMachine") == 1
    assert types.count("AWS::Events::Rule") == 4
    assert not [t for t in types if t.startswith("AWS::Serverless::")]
    # And every function runs on the runtime and architecture the docs name
    for resource in transformed["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            assert resource["Properties"]["Runtime"] == "python3.13"
            assert resource["Properties"]["Architectures"] == ["arm64"]


def test_the_transformed_template_creates_in_cloudformation(
    monkeypatch: pytest.MonkeyPatch, patches: Any
) -> None:
    # Given the transformed template and its code artifact
    monkeypatch.setenv("AWS_REGION", REGION)
    transformed = transform(packaged_template(), PARAMETERS, NoManagedPolicies())
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
    assert variables["BACKUP_KEEPER_URL"] == PARAMETERS["BackupAccountKeeperUrl"]
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


def test_the_sam_transform_gives_the_backup_account_its_keeper(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the packaged backup-account template
    monkeypatch.setenv("AWS_REGION", REGION)
    # When the SAM transform runs
    transformed = transform(packaged_backup_template(), BACKUP_PARAMETERS, NoManagedPolicies())
    resources = transformed["Resources"]
    # Then it holds the keeper, its hourly pass, the pass's rule and permission to invoke it, and
    # no role of SAM's making (the keeper runs as KeeperRole), with no SAM types left; besides
    # what pages people (the alarms, their topic and its key, the dashboard)
    watching = {"AWS::CloudWatch::Alarm", "AWS::CloudWatch::Dashboard"}
    types = sorted(
        r["Type"]
        for logical_id, r in resources.items()
        if not logical_id.startswith("Alarm") and r["Type"] not in watching
    )
    assert types == sorted(
        [
            "AWS::KMS::Key",
            "AWS::KMS::Alias",
            "AWS::IAM::Role",
            "AWS::IAM::Role",
            "AWS::DynamoDB::Table",
            "AWS::Logs::LogGroup",
            "AWS::Lambda::Function",
            "AWS::Lambda::Function",
            "AWS::Lambda::Url",
            "AWS::Events::Rule",
            "AWS::Lambda::Permission",
            # the slot broker: its table, role, log, function and URL
            "AWS::DynamoDB::Table",
            "AWS::IAM::Role",
            "AWS::Logs::LogGroup",
            "AWS::Lambda::Function",
            "AWS::Lambda::Url",
        ]
    )
    function = resources["KeeperFunction"]["Properties"]
    assert function["Role"] == {"Fn::GetAtt": ["KeeperRole", "Arn"]}
    assert function["Handler"] == "keeper.handler"
    assert function["Code"] == {"S3Bucket": "backup-artifacts", "S3Key": "keeper.zip"}
    # And it runs on the runtime and architecture of the main stack's functions
    main = load_cfn_yaml(TEMPLATE)["Globals"]["Function"]
    assert function["Runtime"] == main["Runtime"]
    assert function["Architectures"] == main["Architectures"]
    # And the hourly pass is a function of its own on the same code and role
    hourly = resources["KeeperPassFunction"]["Properties"]
    assert hourly["Role"] == function["Role"]
    assert hourly["Handler"] == "keeper.hourly"
    assert hourly["Code"] == function["Code"]
    # And the rule is the keeper's schedule, targeting the pass alone, allowed to invoke it
    ((rule_id, rule),) = [(k, r) for k, r in resources.items() if r["Type"] == "AWS::Events::Rule"]
    assert rule["Properties"]["ScheduleExpression"] == KEEPER_SCHEDULE
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["KeeperPassFunction", "Arn"]}
    (permission,) = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"]
    assert permission["Properties"] == {
        "Action": "lambda:InvokeFunction",
        "FunctionName": {"Ref": "KeeperPassFunction"},
        "Principal": "events.amazonaws.com",
        "SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]},
    }
    # And the keeper's function URL, AWS_IAM, is the output the main stacks take
    assert resources["KeeperUrl"]["Properties"] == {
        "TargetFunctionArn": {"Fn::GetAtt": ["KeeperFunction", "Arn"]},
        "AuthType": "AWS_IAM",
    }
    assert transformed["Outputs"]["BackupAccountKeeperUrl"]["Value"] == {
        "Fn::GetAtt": ["KeeperUrl", "FunctionUrl"]
    }
    # And so is the slot broker's
    assert resources["SlotBrokerUrl"]["Properties"] == {
        "TargetFunctionArn": {"Fn::GetAtt": ["SlotBrokerFunction", "Arn"]},
        "AuthType": "AWS_IAM",
    }
    assert transformed["Outputs"]["BackupAccountSlotBrokerUrl"]["Value"] == {
        "Fn::GetAtt": ["SlotBrokerUrl", "FunctionUrl"]
    }


def test_the_transformed_backup_template_creates_in_cloudformation(
    monkeypatch: pytest.MonkeyPatch, patches: Any
) -> None:
    # Given the transformed backup-account template and the keeper's code, in the backup account
    monkeypatch.setenv("AWS_REGION", REGION)
    transformed = transform(packaged_backup_template(), BACKUP_PARAMETERS, NoManagedPolicies())
    # (moto's CloudFormation makes no AWS::Lambda::Url: the keeper's URL and its output are
    # checked on the transformed template above, and made by the simulation with the function)
    for url, output in (
        ("KeeperUrl", "BackupAccountKeeperUrl"),
        ("SlotBrokerUrl", "BackupAccountSlotBrokerUrl"),
    ):
        del transformed["Resources"][url]
        del transformed["Outputs"][output]
    backup = session_in(BACKUP_ACCOUNT)
    s3 = backup.client("s3")
    s3.create_bucket(
        Bucket="backup-artifacts", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.write(ROOT / "functions" / "keeper.py", "keeper.py")
    s3.put_object(Bucket="backup-artifacts", Key="keeper.zip", Body=code.getvalue())
    cfn = backup.client("cloudformation")
    # When the stack is created
    cfn.create_stack(
        StackName="rds-xacct-backup-account",
        TemplateBody=json.dumps(transformed),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in BACKUP_PARAMETERS.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    stack = cfn.describe_stacks(StackName="rds-xacct-backup-account")["Stacks"][0]
    # Then it is complete, with the outputs the main stack takes as parameters (the URL aside: above; and the
    # alarms' topic)
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs.pop("AlarmTopicArn").endswith(":rds-xacct-alarms")
    assert set(outputs) == {"BackupAccountKmsKeyArn", "BackupAccountRoleArn"}
    keeper_url = f"https://k33p3r0123456789abcdef.lambda-url.{REGION}.on.aws/"
    settings = Settings.from_env(
        {
            "AWS_REGION": REGION,
            "BACKUP_ACCOUNT_ID": BACKUP_ACCOUNT,
            "BACKUP_KMS_KEY_ARN": outputs["BackupAccountKmsKeyArn"],
            "BACKUP_ROLE_ARN": outputs["BackupAccountRoleArn"],
            "BACKUP_KEEPER_URL": keeper_url,
            "BACKUP_SLOT_BROKER_URL": keeper_url.replace("k33p3r", "s10t5"),
        }
    )
    assert settings.backup_keeper_url == keeper_url
    keeper_arn = f"arn:aws:lambda:{REGION}:{BACKUP_ACCOUNT}:function:rds-xacct-keeper"
    # And the keeper exists there, as its role, with the settings the keeper reads
    function = backup.client("lambda").get_function(FunctionName=keeper_arn)["Configuration"]
    assert function["Role"] == f"arn:aws:iam::{BACKUP_ACCOUNT}:role/rds-xacct-keeper"
    assert function["Handler"] == "keeper.handler"
    # (moto's CloudFormation keeps the Number parameter's type; Lambda stores every value as a
    # string, which is what the keeper reads)
    variables = {k: str(v) for k, v in function["Environment"]["Variables"].items()}
    settings_here = keeper.KeeperSettings.from_env(variables)
    assert settings_here.source_accounts == {MAIN_ACCOUNT}
    assert settings_here.min_retention_days == DEFAULT_MIN_RETENTION_DAYS
    assert settings_here.ledger_table == "rds-xacct-keeper-ledger"
    # And the ledger, the hourly rule and its permission are stack resources
    resources = {
        r["LogicalResourceId"]: r
        for r in cfn.list_stack_resources(StackName="rds-xacct-backup-account")[
            "StackResourceSummaries"
        ]
    }
    for logical_id in (
        "KeeperLedger",
        "KeeperPassFunction",
        "KeeperPassFunctionHourly",
        "KeeperPassFunctionHourlyPermission",
    ):
        assert resources[logical_id]["ResourceStatus"] == "CREATE_COMPLETE", logical_id
