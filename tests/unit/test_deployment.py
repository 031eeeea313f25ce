"""The operator command finds the deployment from the main stack: its reconciliation function's
environment (CloudFormation names it, Lambda gives it) and the stack's parameters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from rds_xacct.jobs.deployment import READER_FUNCTION, Deployment
from rds_xacct.model.constants import RECOVERY_POINT_OBJECTIVE_HOURS
from rds_xacct.model.settings import ConfigurationError
from simulation.world import BACKUP_ACCOUNT, BACKUP_ROLE_ARN, KEEPER_URL, MAIN_ACCOUNT, REGION

KEY = f"arn:aws:kms:{REGION}:{BACKUP_ACCOUNT}:key/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
MACHINE = f"arn:aws:states:{REGION}:{MAIN_ACCOUNT}:stateMachine:rds-xacct-copy-snapshot"
ENVIRONMENT = {
    "BACKUP_ACCOUNT_ID": BACKUP_ACCOUNT,
    "BACKUP_KMS_KEY_ARN": KEY,
    "BACKUP_ROLE_ARN": BACKUP_ROLE_ARN,
    "BACKUP_KEEPER_URL": KEEPER_URL,
    "BACKUP_SLOT_BROKER_URL": KEEPER_URL.replace("https://", "https://b"),
    "RETENTION_DAYS": "14",
    "EXCLUDE_DATABASES": "scratch-*",
    "STATE_MACHINE_ARN": MACHINE,
    "COPY_RDS_AUTOMATED_SNAPSHOTS": "true",
}


def _stack(parameters: dict[str, str]) -> dict[str, Any]:
    """A main stack as far as the operator command reads it: the reconciliation function (with
    the environment the template gives it) and the parameters."""
    return {
        "Parameters": {name: {"Type": "String"} for name in parameters},
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {"AssumeRolePolicyDocument": {"Statement": []}},
            },
            READER_FUNCTION: {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": "rds-xacct-reconcile",
                    "Runtime": "python3.13",
                    "Handler": "reconcile.handler",
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Code": {"ZipFile": "def handler(event, context):\n    return event\n"},
                    "Environment": {"Variables": ENVIRONMENT},
                },
            },
        },
    }


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any]]:
    with mock_aws():
        yield (
            boto3.client("cloudformation", region_name=REGION),
            boto3.client("lambda", region_name=REGION),
        )


def _deploy(cloudformation: Any, parameters: dict[str, str]) -> None:
    cloudformation.create_stack(
        StackName="rds-xacct",
        TemplateBody=json.dumps(_stack(parameters)),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM"],
    )


def test_the_deployment_is_read_from_the_stacks_function_and_parameters(
    aws: tuple[Any, Any],
) -> None:
    cloudformation, lambda_client = aws
    _deploy(cloudformation, {"RecoveryPointObjectiveHours": "50"})
    deployment = Deployment.from_stack(cloudformation, lambda_client, "rds-xacct")
    assert deployment.stack_name == "rds-xacct"
    assert deployment.state_machine_arn == MACHINE
    assert deployment.rpo_hours == 50
    assert deployment.settings.backup_account_id == BACKUP_ACCOUNT
    assert deployment.settings.retention_days == 14
    assert deployment.settings.exclude == ("scratch-*",)
    assert deployment.scope.native == frozenset({("db", "rds-automated")})


def test_a_stack_without_the_parameter_has_the_default_rpo(aws: tuple[Any, Any]) -> None:
    cloudformation, lambda_client = aws
    _deploy(cloudformation, {})
    deployment = Deployment.from_stack(cloudformation, lambda_client, "rds-xacct")
    assert deployment.rpo_hours == RECOVERY_POINT_OBJECTIVE_HOURS


def test_no_such_stack_says_which_options_to_give(aws: tuple[Any, Any]) -> None:
    cloudformation, lambda_client = aws
    with pytest.raises(ConfigurationError, match=r"No stack 'elsewhere'.*--stack-name.*--region"):
        Deployment.from_stack(cloudformation, lambda_client, "elsewhere")
