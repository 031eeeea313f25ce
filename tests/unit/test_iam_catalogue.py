"""Every policy of both stacks, checked against AWS's own catalogue of actions, resource types
and condition keys (parliament's bundled copy of the Service Authorization Reference; offline).

The policies are taken from the stacks as deployed (tests/support/rendered.py: after the SAM
transform, so SAM's policy templates and the roles SAM makes are in; every intrinsic resolved to
a plausible value of its kind): role policies and trust policies, the backup key's policy, the
dead-letter queue's policy, the Lambda permissions. A finding fails the test unless it is listed
below with the AWS document that says the policy is right.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from parliament import analyze_policy_string

from simulation.cfn_yaml import load_cfn_yaml
from simulation.sam_template import BACKUP_TEMPLATE, TEMPLATE
from tests.support.rendered import Rendered, rendered

FAILING = {
    "MALFORMED",
    "MALFORMED_JSON",
    "UNKNOWN_ACTION",
    "UNKNOWN_PREFIX",
    "UNKNOWN_CONDITION_FOR_ACTION",
    "UNKNOWN_OPERATOR",
    "UNKNOWN_PRINCIPAL",
    "MISMATCHED_TYPE",
    "MISMATCHED_TYPE_BUT_USABLE",
    "MISMATCHED_TYPE_OPERATION_TO_NULL",
    "INVALID_ARN",
    "RESOURCE_MISMATCH",
    "RESOURCE_STAR",
    "NO_VERSION",
    "INVALID_VERSION",
    "OLD_VERSION",
    "DUPLICATE_SID",
    "INVALID_SID",
}
"""Every finding parliament makes of a policy's content (all of its own checks)."""

ALLOWED: dict[tuple[str, str, str], str] = {
    # Service Authorization Reference, "Actions, resources, and condition keys for AWS Step
    # Functions": ListExecutions lists the resource types mapRun* and stateMachine*, and
    # DescribeExecution execution* and express*: alternatives (the one the request names), each
    # marked required. parliament reads every required type as needed at once. The policy names
    # the copy state machine (ListExecutions of it) and its executions (DescribeExecution of a
    # standard workflow's execution), as the reference asks.
    (
        "main:PipelineRole.Policies.reconcile-missed-events",
        "RESOURCE_MISMATCH",
        '[{"action": "states:ListExecutions", "required_format": "arn:*:states:*:*:mapRun:*/*:*"}]',
    ): "a state machine's executions are listed by naming the state machine",
    (
        "main:PipelineRole.Policies.reconcile-missed-events",
        "RESOURCE_MISMATCH",
        '[{"action": "states:DescribeExecution", "required_format": '
        '"arn:*:states:*:*:express:*:*:*"}]',
    ): "a standard workflow's execution is described by its execution ARN",
    # Lambda Developer Guide, "Control access to Lambda function URLs": "Starting in October
    # 2025, new function URLs will require both lambda:InvokeFunctionUrl and
    # lambda:InvokeFunction permissions", the latter kept to URL calls with the condition key
    # lambda:InvokedViaFunctionUrl (what SAM writes for a URL's permission:
    # samtranslator/model/sam_resources.py, `InvokedViaFunctionUrl = True`). parliament's
    # catalogue predates the key.
    (
        "backup:CrossAccountRole.Policies.copy-snapshots-here",
        "UNKNOWN_CONDITION_FOR_ACTION",
        "Unknown condition lambda:InvokedViaFunctionUrl for action lambda:InvokeFunction",
    ): "the condition key of a function-URL call's lambda:InvokeFunction, newer than parliament",
}
"""Exact findings that are not faults, each with the AWS document that says why."""

KEY_POLICY_RESOURCE_STAR = (
    # AWS KMS Developer Guide, "Key policies in AWS KMS" ("Elements in a key policy"): in a key
    # policy "the value of the Resource element is "*", which means "this KMS key"". A key
    # policy's Resource is always "*": RESOURCE_STAR there is the only possible form.
    "RESOURCE_STAR"
)

SAM_MADE_ROLES = ("SweepFunctionDailyRole", "ReconcileFunctionDailyRole", "WatchFunctionHourlyRole")
"""Roles the SAM transform writes for a function's ScheduleV2 event."""


def sam_policy_templates() -> set[str]:
    """The inline policies the SAM transform writes from a SAM policy template of ours
    (`LambdaInvokePolicy: ...`), by the name SAM gives them (`<LogicalId>RolePolicy<index>`)."""
    names = set()
    for path in (TEMPLATE, BACKUP_TEMPLATE):
        for logical_id, resource in load_cfn_yaml(path)["Resources"].items():
            for i, item in enumerate(resource.get("Properties", {}).get("Policies", [])):
                if (
                    isinstance(item, dict)
                    and len(item) == 1
                    and next(iter(item)).endswith("Policy")
                ):
                    names.add(f"{logical_id}RolePolicy{i}")
    return names


def _sam_wrote_it(where: str) -> bool:
    """A policy whose text is the SAM transform's: it has no Version (IAM reads it in the
    2008-10-17 language). Each is one lambda:InvokeFunction statement of a function, which needs
    no policy variable, the one thing that language lacks (IAM User Guide, "IAM JSON policy
    elements: Version"); the template's own policies all say 2012-10-17."""
    logical_id = where.split(":")[1].split(".", maxsplit=1)[0]
    return logical_id in SAM_MADE_ROLES or where.rsplit(".", 1)[-1] in sam_policy_templates()


def findings(document: Any) -> list[tuple[str, str]]:
    """parliament's findings of one policy document: (issue, detail as JSON)."""
    policy = analyze_policy_string(json.dumps(document))
    return [
        (
            f.issue,
            json.dumps(f.detail, sort_keys=True) if not isinstance(f.detail, str) else f.detail,
        )
        for f in policy.findings
    ]


def _role_arn(stack: Rendered, name: str) -> str:
    return f"arn:{stack.partition}:iam::{stack.account}:role/{name}"


def policies(stack: Rendered, which: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(where, kind, document) of every policy the stack deploys."""
    found: list[tuple[str, str, dict[str, Any]]] = []
    for logical_id, resource in stack.resources.items():
        kind, properties = resource["Type"], resource.get("Properties", {})
        where = f"{which}:{logical_id}"
        if kind == "AWS::IAM::Role":
            # A trust policy's resource is the role itself (it has no Resource element): checked
            # with the role as its Resource, so that the catalogue sees sts:AssumeRole on a role.
            trust = json.loads(json.dumps(properties["AssumeRolePolicyDocument"]))
            role = _role_arn(stack, properties.get("RoleName", logical_id))
            for trusted in trust["Statement"]:
                trusted.setdefault("Resource", role)
            found.append((f"{where}.AssumeRolePolicyDocument", "trust", trust))
            for policy in properties.get("Policies", []):
                found.append(
                    (f"{where}.Policies.{policy['PolicyName']}", "role", policy["PolicyDocument"])
                )
        elif kind in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            found.append((where, "role", properties["PolicyDocument"]))
        elif kind in ("AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
            found.append((where, "resource", properties["PolicyDocument"]))
        elif kind == "AWS::KMS::Key":
            found.append((f"{where}.KeyPolicy", "key", properties["KeyPolicy"]))
        elif kind == "AWS::Lambda::Permission":
            function = str(properties["FunctionName"])
            if not function.startswith("arn:"):
                function = (
                    f"arn:{stack.partition}:lambda:{stack.region}:{stack.account}:"
                    f"function:{function}"
                )
            statement: dict[str, Any] = {
                "Effect": "Allow",
                "Principal": {"Service": properties["Principal"]},
                "Action": properties["Action"],
                "Resource": function,
            }
            if "SourceArn" in properties:
                statement["Condition"] = {"ArnLike": {"aws:SourceArn": properties["SourceArn"]}}
            found.append((where, "resource", {"Version": "2012-10-17", "Statement": [statement]}))
    return found


def faults(where: str, kind: str, document: dict[str, Any]) -> list[str]:
    """The findings of one policy that fail the check (not allowed, with their reason)."""
    out = []
    for issue, detail in findings(document):
        if issue not in FAILING:
            continue
        if (where, issue, detail) in ALLOWED:
            continue
        if kind == "key" and issue == KEY_POLICY_RESOURCE_STAR:
            continue
        if issue == "NO_VERSION" and _sam_wrote_it(where):
            continue
        out.append(f"{where}: {issue} {detail}")
    return out


@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov"])
@pytest.mark.parametrize("which", ["main", "backup"])
def test_every_policy_agrees_with_the_iam_catalogue(which: str, partition: str) -> None:
    stack = rendered(which, partition)
    found = policies(stack, which)
    kinds = {kind for _, kind, _ in found}
    assert kinds >= (
        {"trust", "role", "resource", "key"} if which == "backup" else {"trust", "role", "resource"}
    )
    problems = [p for where, kind, document in found for p in faults(where, kind, document)]
    assert problems == []


def test_every_allowed_finding_still_happens() -> None:
    # An allow-list entry whose finding is gone (the policy changed, parliament learned) goes too
    seen: set[tuple[str, str, str]] = set()
    for which in ("main", "backup"):
        for where, _, document in policies(rendered(which, "aws"), which):
            seen.update((where, issue, detail) for issue, detail in findings(document))
    assert set(ALLOWED) <= seen


# --- The check finds what it is for --------------------------------------------------------------
def _one(statement: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [statement]}


SNAPSHOT = "arn:aws:rds:eu-west-1:111111111111:snapshot:xacct-*"


def test_a_misspelled_action_is_reported() -> None:
    document = _one({"Effect": "Allow", "Action": "rds:CopyDBSnapshott", "Resource": SNAPSHOT})
    assert faults("planted:Role", "role", document) == [
        "planted:Role: UNKNOWN_ACTION Unknown action rds:CopyDBSnapshott"
    ]


def test_an_unknown_service_is_reported() -> None:
    document = _one({"Effect": "Allow", "Action": "rdss:CopyDBSnapshot", "Resource": SNAPSHOT})
    assert [f.split(" ")[1] for f in faults("planted:Role", "role", document)] == ["UNKNOWN_PREFIX"]


def test_a_condition_key_the_action_does_not_support_is_reported() -> None:
    document = _one(
        {
            "Effect": "Allow",
            "Action": "rds:DeleteDBSnapshot",
            "Resource": SNAPSHOT,
            "Condition": {"StringEquals": {"kms:ViaService": "rds.eu-west-1.amazonaws.com"}},
        }
    )
    assert faults("planted:Role", "role", document) == [
        "planted:Role: UNKNOWN_CONDITION_FOR_ACTION "
        "Unknown condition kms:ViaService for action rds:DeleteDBSnapshot"
    ]


def test_a_global_condition_key_is_fine() -> None:
    document = _one(
        {
            "Effect": "Allow",
            "Action": "rds:DeleteDBSnapshot",
            "Resource": SNAPSHOT,
            "Condition": {"StringEquals": {"aws:ResourceTag/rds-xacct:app": "rds-xacct"}},
        }
    )
    assert faults("planted:Role", "role", document) == []


def test_a_resource_of_the_wrong_shape_is_reported() -> None:
    document = _one(
        {
            "Effect": "Allow",
            "Action": "states:StartExecution",
            "Resource": "arn:aws:states:eu-west-1:111111111111:stateMachin:rds-xacct-copy-snapshot",
        }
    )
    assert faults("planted:Role", "role", document) == [
        'planted:Role: RESOURCE_MISMATCH [{"action": "states:StartExecution", '
        '"required_format": "arn:*:states:*:*:stateMachine:*"}]'
    ]


def test_a_typo_planted_in_a_stack_is_reported() -> None:
    # Given the main stack with one action of the pipeline role misspelled
    stack = rendered("main", "aws")
    policy = stack.resources["PipelineRole"]["Properties"]["Policies"][1]["PolicyDocument"]
    statement = policy["Statement"][0]
    actions = (
        statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    )
    statement["Action"] = [*actions[1:], actions[0] + "s"]
    # Then the stack's check names it
    problems = [p for where, kind, doc in policies(stack, "main") for p in faults(where, kind, doc)]
    assert problems == [
        f"main:PipelineRole.Policies.{stack.resources['PipelineRole']['Properties']['Policies'][1]['PolicyName']}: "
        f"UNKNOWN_ACTION Unknown action {actions[0]}s"
    ]
