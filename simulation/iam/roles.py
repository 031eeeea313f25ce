"""The roles of both templates in moto's IAM, and their credentials.

`main_template_roles` reads the roles `template.yaml` declares or makes SAM generate, with
their resolved policies; `deploy_main_roles` creates them and enforces them; `enforce_stack`
does the same for a stack moto's CloudFormation made (the backup account's). Each function gets
its role's credentials as Lambda gives them (`service_credentials`). `declared_permissions` and
`used_permissions` tell which permissions of either template no run used.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto.iam.models import iam_backends
from moto.kms.models import kms_backends
from moto.sts.models import sts_backends

from rds_xacct.aws.clients import new_session
from simulation.iam.enforcement import Enforcement
from simulation.iam.policy import (
    Statement,
)
from simulation.sam_template import Resolver

MAIN_SOURCE = "template.yaml"
BACKUP_SOURCE = "other/backup-account/backup-account.yaml"

# Managed policies AWS attaches to what SAM generates (not the templates' own permissions:
# enforced, never reported as unexercised). AWSLambdaBasicExecutionRole and
# AWSXRayDaemonWriteAccess, as SAM attaches them to a function's generated role.
_LAMBDA_BASIC = {
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }
    ]
}
_XRAY_WRITE = {
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
                "xray:GetSamplingStatisticSummaries",
            ],
            "Resource": "*",
        }
    ]
}


# --- Roles from the templates -------------------------------------------------------------------
class NotSimulated(Exception):
    """The template uses a construct this harness does not turn into IAM roles (a SAM policy
    template, a policy form, a role reference). Raised at set-up, so the simulation never runs
    with permissions it did not build: teach the harness the construct."""


def _sam_policy_templates(
    name: str, arguments: Mapping[str, Any], region: str, account: str
) -> dict[str, Any]:
    """The SAM policy templates this app may use, expanded as SAM does (SAM Developer Guide,
    "AWS SAM policy templates")."""
    if name == "LambdaInvokePolicy":
        function = f"arn:aws:lambda:{region}:{account}:function:{arguments['FunctionName']}"
        return {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["lambda:InvokeFunction"],
                    "Resource": [function, f"{function}:*"],
                }
            ]
        }
    if name == "StepFunctionsExecutionPolicy":
        machine = f"arn:aws:states:{region}:{account}:stateMachine:{arguments['StateMachineName']}"
        return {
            "Statement": [
                {"Effect": "Allow", "Action": ["states:StartExecution"], "Resource": machine}
            ]
        }
    if name == "SNSPublishMessagePolicy":
        topic = f"arn:aws:sns:{region}:{account}:{arguments['TopicName']}"
        return {"Statement": [{"Effect": "Allow", "Action": ["sns:Publish"], "Resource": topic}]}
    raise NotSimulated(
        f"SAM policy template {name} is not expanded by simulation/iam/roles.py: add it"
    )


@dataclass
class RoleSpec:
    """A role the main template declares or makes SAM generate."""

    logical_id: str
    name: str
    trust: dict[str, Any]
    policies: dict[str, dict[str, Any]]
    """Inline policies (name → document) as resolved from the template."""
    managed: dict[str, dict[str, Any]] = field(default_factory=dict)
    used_by: list[str] = field(default_factory=list)
    service: str = ""
    """The service principal that assumes it (lambda.amazonaws.com, ...)."""


def _trust(service: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    }


def main_template_roles(
    template: dict[str, Any], resolver: Resolver, *, account: str, region: str
) -> list[RoleSpec]:
    """Every role of the main template, with its resolved policies: AWS::IAM::Role resources,
    and the roles SAM generates for functions and state machines without a `Role`."""
    resources: dict[str, Any] = template["Resources"]
    specs: dict[str, RoleSpec] = {}

    def declared(logical_id: str) -> RoleSpec:
        if logical_id not in specs:
            properties = resources[logical_id]["Properties"]
            policies = {
                str(p["PolicyName"]): resolver.resolve(p["PolicyDocument"])
                for p in resolver.resolve(properties.get("Policies", []))
            }
            specs[logical_id] = RoleSpec(
                logical_id=logical_id,
                name=str(resolver.resolve(properties.get("RoleName", logical_id))),
                trust=resolver.resolve(properties["AssumeRolePolicyDocument"]),
                policies=policies,
            )
        return specs[logical_id]

    def generated(logical_id: str, properties: Mapping[str, Any], service: str) -> RoleSpec:
        role_id = f"{logical_id}Role"
        policies: dict[str, dict[str, Any]] = {}
        for index, item in enumerate(properties.get("Policies", []) or []):
            if isinstance(item, dict) and "Statement" in item:
                policies[f"{logical_id}RolePolicy{index}"] = {
                    "Version": "2012-10-17",
                    "Statement": resolver.resolve(item["Statement"]),
                }
            elif isinstance(item, dict) and len(item) == 1:
                ((name, arguments),) = item.items()
                policies[f"{logical_id}Role{name}{index}"] = _sam_policy_templates(
                    name, resolver.resolve(arguments), region, account
                )
            else:
                raise NotSimulated(f"{logical_id}: policy {item!r} is not simulated")
        managed: dict[str, dict[str, Any]] = {}
        if service == "lambda.amazonaws.com":
            managed["AWSLambdaBasicExecutionRole"] = _LAMBDA_BASIC
        if _tracing(template, properties):
            managed["AWSXRayDaemonWriteAccess"] = _XRAY_WRITE
        spec = RoleSpec(role_id, role_id, _trust(service), policies, managed, service=service)
        specs[role_id] = spec
        return spec

    for logical_id, resource in resources.items():
        kind = resource["Type"]
        properties = {
            **(
                template.get("Globals", {}).get("Function", {})
                if kind == "AWS::Serverless::Function"
                else {}
            ),
            **resource.get("Properties", {}),
        }
        if kind == "AWS::IAM::Role":
            declared(logical_id)
        elif kind in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine"):
            service = (
                "lambda.amazonaws.com" if kind.endswith("Function") else "states.amazonaws.com"
            )
            role = properties.get("Role")
            if role is None:
                spec = generated(logical_id, properties, service)
            else:
                spec = declared(_logical_id_of(role, logical_id))
                spec.service = spec.service or service
            spec.used_by.append(logical_id)
        elif kind == "AWS::Events::Rule":
            for target in resource["Properties"].get("Targets", []):
                if "RoleArn" in target:
                    spec = declared(_logical_id_of(target["RoleArn"], logical_id))
                    spec.service = "events.amazonaws.com"
                    if logical_id not in spec.used_by:
                        spec.used_by.append(logical_id)
    return list(specs.values())


def _tracing(template: dict[str, Any], properties: Mapping[str, Any]) -> bool:
    tracing = properties.get("Tracing")
    return tracing == "Active" or (isinstance(tracing, dict) and bool(tracing.get("Enabled")))


def _logical_id_of(reference: Any, user: str) -> str:
    if isinstance(reference, dict) and "Fn::GetAtt" in reference:
        value = reference["Fn::GetAtt"]
        return str(value[0] if isinstance(value, list) else value.split(".", 1)[0])
    raise NotSimulated(f"{user}: a role given as {reference!r} is not simulated")


def template_attributes(
    template: dict[str, Any], resolver: Resolver, *, account: str, region: str
) -> Callable[[str, str], str]:
    """`Fn::GetAtt X.Arn` for the resource types the main template's policies name."""
    resources: dict[str, Any] = template["Resources"]
    previous = resolver.attributes

    def name(logical_id: str, prop: str) -> str:
        return str(resolver.resolve(resources[logical_id]["Properties"].get(prop, logical_id)))

    def attribute(logical_id: str, attribute: str) -> str:
        kind = resources.get(logical_id, {}).get("Type", "")
        if attribute == "Arn":
            if kind == "AWS::DynamoDB::Table":
                return f"arn:aws:dynamodb:{region}:{account}:table/{name(logical_id, 'TableName')}"
            if kind == "AWS::Logs::LogGroup":
                group = name(logical_id, "LogGroupName")
                return f"arn:aws:logs:{region}:{account}:log-group:{group}:*"
            if kind == "AWS::SQS::Queue":
                return f"arn:aws:sqs:{region}:{account}:{name(logical_id, 'QueueName')}"
            if kind == "AWS::IAM::Role":
                return f"arn:aws:iam::{account}:role/{name(logical_id, 'RoleName')}"
        if previous is None:
            raise KeyError(f"GetAtt {logical_id}.{attribute} is not simulated")
        return previous(logical_id, attribute)

    return attribute


# --- Deploying the roles and giving out their credentials ---------------------------------------------
@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str

    def environment(self) -> dict[str, str]:
        """What the Lambda service sets in a function's environment."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }

    def client_arguments(self) -> dict[str, str]:
        return {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "aws_session_token": self.session_token,
        }

    def session(self, region: str) -> boto3.Session:
        return new_session(
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            aws_session_token=self.session_token,
            region_name=region,
        )


def operator_session(region: str) -> boto3.Session:
    """A session with the process's own credentials (moto's fake ones): the operator, whose
    requests are not enforced. Explicit, so it keeps them while a function's credentials are
    in the environment."""
    return new_session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "FOOBARKEY"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "FOOBARSECRET"),
        region_name=region,
    )


def _assume_as_service(role_arn: str, session_name: str, region: str) -> Credentials:
    """Credentials of the role as a service gets them (the Lambda service for a function,
    Step Functions for a state machine, EventBridge for a rule's target)."""
    account = role_arn.split(":")[4]
    assumed = sts_backends[account]["aws"].assume_role(
        region_name=region,
        role_session_name=session_name[:64],
        role_arn=role_arn,
        policy="",
        duration=3600,
        external_id="",
    )
    return Credentials(assumed.access_key_id, assumed.secret_access_key, assumed.session_token)


def service_credentials(
    enforcement: Enforcement, role_arn: str, service: str, user: str, region: str
) -> Credentials:
    """Credentials of an enforced role of a stack (made by `enforce_stack`) as `service`
    gets them for `user` (a function's logical id); its trust policy must let the service in."""
    role = enforcement.roles[role_arn]
    if user not in role.used_by:
        role.used_by.append(user)
    enforcement.admit_service(role_arn, service)
    return _assume_as_service(role_arn, role.name, region)


def deploy_main_roles(
    enforcement: Enforcement,
    template: dict[str, Any],
    resolver: Resolver,
    iam: Any,
    *,
    account: str,
    region: str,
) -> dict[str, Credentials]:
    """Create every role of the main template in moto's IAM, enforce them, and return the
    credentials of each user of a role (function, state machine or rule logical id)."""
    given: dict[str, Credentials] = {}
    for spec in main_template_roles(template, resolver, account=account, region=region):
        arn = iam.create_role(RoleName=spec.name, AssumeRolePolicyDocument=json.dumps(spec.trust))[
            "Role"
        ]["Arn"]
        for name, document in spec.policies.items():
            iam.put_role_policy(
                RoleName=spec.name,
                PolicyName=name,
                PolicyDocument=json.dumps({"Version": "2012-10-17", **document}),
            )
        for name, document in spec.managed.items():
            policy = iam.create_policy(
                PolicyName=f"{spec.name}-{name}",
                PolicyDocument=json.dumps({"Version": "2012-10-17", **document}),
            )["Policy"]["Arn"]
            iam.attach_role_policy(RoleName=spec.name, PolicyArn=policy)
        role = enforcement.enforce(arn, spec.logical_id, MAIN_SOURCE)
        for user in spec.used_by:
            role.used_by.append(user)
        if spec.service:
            enforcement.admit_service(arn, spec.service)
        # One session per role, not per function as Lambda makes them: the functions of a role
        # then share one environment, which the simulation sets once for the process.
        credentials = _assume_as_service(arn, spec.name, region)
        for user in spec.used_by:
            given[user] = credentials
    return given


def enforce_stack(
    enforcement: Enforcement, cfn: Any, stack: str, source: str, *, account: str, region: str
) -> None:
    """Enforce the roles a CloudFormation stack made, and read its keys' policies."""
    for resource in cfn.list_stack_resources(StackName=stack)["StackResourceSummaries"]:
        kind, logical_id = resource["ResourceType"], resource["LogicalResourceId"]
        physical = resource["PhysicalResourceId"]
        if kind == "AWS::IAM::Role":
            arn = str(iam_backends[account]["aws"].get_role(physical).arn)
            enforcement.enforce(arn, logical_id, source)
        elif kind == "AWS::KMS::Key":
            key = kms_backends[account][region].describe_key(physical)
            enforcement.key_policy(str(key.arn), holder=logical_id, source=source)


Permission = tuple[str, str, str, int, str]
"""("action" or "resource", holder, policy, statement index, the action or resource pattern)."""


def declared_permissions(enforcement: Enforcement) -> dict[Permission, str]:
    """Every permission the templates give (key → readable text): each action of each Allow
    statement, and each of its resource patterns, in the enforced roles' policies, their trust
    policies and the keys' policies. A statement's action counts as used when it allowed a
    request on any of the statement's resources, and a resource pattern when any of its actions
    did (an action that can never apply to a resource type, such as rds:CopyDBClusterSnapshot
    on `snapshot:*`, grants nothing). Managed policies AWS provides are not the templates'."""
    found: dict[Permission, str] = {}
    statements: list[Statement] = []
    for role in enforcement.roles.values():
        statements += role.statements()
        statements += enforcement.trust_policy(role.arn)
    for policy in list(enforcement.resource_policies.values()):
        statements += policy
    for statement in statements:
        ref = statement.ref
        if statement.effect != "Allow" or not ref.source:
            continue
        where = f"{ref.source}: {ref.holder} / {ref.policy} / {ref.sid or f'#{ref.index + 1}'}"
        for action in statement.actions:
            found[("action", ref.holder, ref.policy, ref.index, action)] = f"{where} / {action}"
        for resource in statement.resources or ():
            found[("resource", ref.holder, ref.policy, ref.index, resource)] = (
                f"{where} / on {resource}"
            )
    return found


def used_permissions(enforcement: Enforcement) -> set[Permission]:
    """The permissions (as `declared_permissions` keys) that allowed some request."""
    used: set[Permission] = set()
    for holder, policy, index, action, resource in enforcement.used:
        used.add(("action", holder, policy, index, action))
        used.add(("resource", holder, policy, index, resource))
    return used


def planned_output(
    template: dict[str, Any],
    output: str,
    parameters: Mapping[str, str],
    *,
    account: str,
    region: str,
) -> str | None:
    """A main-template output made of names only (the pipeline role's ARN), resolved before the
    main stack exists: what an operator reads off the template to deploy the backup account's
    stack narrowed to it. None if the template has no such output."""
    if output not in template.get("Outputs", {}):
        return None
    known = {
        name: parameters.get(name, "")
        for name, spec in template.get("Parameters", {}).items()
        if "Default" not in spec
    }
    resolver = Resolver(template, {**known, **parameters}, account=account, region=region)
    resolver.attributes = template_attributes(template, resolver, account=account, region=region)
    return str(resolver.resolve(template["Outputs"][output]["Value"]))
