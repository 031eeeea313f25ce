"""other/backup-account/backup-account.yaml: least privilege, the app's tag on deletes, the main
account limited to RDS use of the key, the trust, and a stack created in moto's CloudFormation."""

from __future__ import annotations

import json
import re
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.kms.models import kms_backends

from rds_xacct.constants import APP_NAME, TAG_APP
from rds_xacct.settings import Settings
from tests.support.cfn_yaml import iam_actions, load_cfn_yaml
from tests.support.sam_template import BACKUP_TEMPLATE, TEMPLATE

ACCOUNT = "123456789012"  # moto's default account plays the backup account here
REGION = "eu-west-1"
MAIN_ACCOUNT_ID = "111111111111"
PIPELINE_ROLE_ARN = f"arn:aws:iam::{MAIN_ACCOUNT_ID}:role/rds-xacct-pipeline-{REGION}"
KEY_ADMIN_ARN = f"arn:aws:iam::{ACCOUNT}:role/key-admin"

MAIN_ROOT = {"Fn::Sub": "arn:${AWS::Partition}:iam::${MainAccountId}:root"}
KEY_ADMIN_ARN_REF = {"Ref": "KeyAdministratorArn"}
BACKUP_ROOT = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
VIA_RDS = {"StringEquals": {"kms:ViaService": {"Fn::Sub": "rds.${AWS::Region}.${AWS::URLSuffix}"}}}
FOR_AWS_RESOURCE = {"Bool": {"kms:GrantIsForAWSResource": "true"}}
KEY_USE_THROUGH_RDS = {
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
}
KEY_ADMINISTRATION = {
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:PutKeyPolicy",
    "kms:RetireGrant",
    "kms:RevokeGrant",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
}
CONDITION_SETTINGS = [
    pytest.param({"HasPipelineRole": False, "HasKeyAdministrator": False}, id="defaults"),
    pytest.param({"HasPipelineRole": True, "HasKeyAdministrator": True}, id="all-set"),
]

_NO_VALUE = object()


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_cfn_yaml(BACKUP_TEMPLATE)


def _resolve(node: Any, conditions: dict[str, bool]) -> Any:
    """`node` with every `Fn::If` decided by `conditions` and `AWS::NoValue` dropped, as
    CloudFormation does before it sends a policy to IAM or KMS."""
    if isinstance(node, dict):
        if node == {"Ref": "AWS::NoValue"}:
            return _NO_VALUE
        if set(node) == {"Fn::If"}:
            name, if_true, if_false = node["Fn::If"]
            return _resolve(if_true if conditions[name] else if_false, conditions)
        resolved = {key: _resolve(value, conditions) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not _NO_VALUE}
    if isinstance(node, list):
        items = [_resolve(item, conditions) for item in node]
        return [item for item in items if item is not _NO_VALUE]
    return node


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = _as_list(document["Statement"])
    return statements


def _actions(statement: dict[str, Any]) -> set[str]:
    return set(_as_list(statement["Action"]))


def _key_policy(template: dict[str, Any], conditions: dict[str, bool]) -> list[dict[str, Any]]:
    key = _resolve(template["Resources"]["BackupKey"]["Properties"], conditions)
    return _statements(key["KeyPolicy"])


def _role(template: dict[str, Any], conditions: dict[str, bool]) -> dict[str, Any]:
    role: dict[str, Any] = _resolve(
        template["Resources"]["CrossAccountRole"]["Properties"], conditions
    )
    return role


def _role_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    role = _role(template, {"HasPipelineRole": False, "HasKeyAdministrator": False})
    return [s for policy in role["Policies"] for s in _statements(policy["PolicyDocument"])]


def _principals(statement: dict[str, Any]) -> list[Any]:
    return _as_list(statement["Principal"]["AWS"])


# --- Least privilege ----------------------------------------------------------------------------


def test_no_action_anywhere_contains_a_wildcard(template: dict[str, Any]) -> None:
    # Given the key policy, the trust policy and the role's policies
    resources = template["Resources"]
    documents = {
        "key policy": resources["BackupKey"]["Properties"]["KeyPolicy"],
        "trust policy": resources["CrossAccountRole"]["Properties"]["AssumeRolePolicyDocument"],
        "role policies": resources["CrossAccountRole"]["Properties"]["Policies"],
    }

    for name, document in documents.items():
        # When every action is collected, both branches of every Fn::If included
        actions = iam_actions(document)

        # Then there are some, each a plain string naming one action, none with a `*`
        assert actions, name
        assert all(isinstance(a, str) and re.fullmatch(r"[a-z0-9-]+:[A-Za-z]+", a) for a in actions)
        assert [a for a in actions if "*" in a] == [], name
    assert "NotAction" not in str(template)
    assert "NotPrincipal" not in str(template)


@pytest.mark.parametrize("conditions", CONDITION_SETTINGS)
def test_no_statement_trusts_everyone(
    template: dict[str, Any], conditions: dict[str, bool]
) -> None:
    # Given the key policy and the trust policy as CloudFormation sends them
    statements = [
        *_key_policy(template, conditions),
        *_statements(_role(template, conditions)["AssumeRolePolicyDocument"]),
    ]

    # When / Then every statement allows, and names the accounts or roles it allows
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert "*" not in _principals(statement)


# --- Outputs and parameters ---------------------------------------------------------------------


def test_outputs_are_exactly_the_main_stacks_parameters(template: dict[str, Any]) -> None:
    # Given the outputs of this template and the parameters of the main one
    outputs = template["Outputs"]
    main_parameters = load_cfn_yaml(TEMPLATE)["Parameters"]

    # When / Then there are exactly the two the main stack asks for, by the same names
    assert set(outputs) == {"BackupAccountKmsKeyArn", "BackupAccountRoleArn"}
    assert set(outputs) <= set(main_parameters)
    # And they are the key's full ARN and the role's ARN, each described
    assert outputs["BackupAccountKmsKeyArn"]["Value"] == {"Fn::GetAtt": ["BackupKey", "Arn"]}
    assert outputs["BackupAccountRoleArn"]["Value"] == {"Fn::GetAtt": ["CrossAccountRole", "Arn"]}
    assert all(output["Description"] for output in outputs.values())
    assert template["Description"]


def test_parameters_and_their_defaults(template: dict[str, Any]) -> None:
    # Given the parameters
    parameters = template["Parameters"]

    # When / Then the names are the ones the README and the deploy command use
    assert set(parameters) == {
        "MainAccountId",
        "PipelineRoleArn",
        "ResourcePrefix",
        "KeyAdministratorArn",
    }
    assert "Default" not in parameters["MainAccountId"]
    assert parameters["PipelineRoleArn"]["Default"] == ""
    assert parameters["KeyAdministratorArn"]["Default"] == ""
    assert parameters["ResourcePrefix"]["Default"] == APP_NAME


@pytest.mark.parametrize(
    ("parameter", "value", "accepted"),
    [
        ("MainAccountId", MAIN_ACCOUNT_ID, True),
        ("MainAccountId", "11111111111", False),
        ("MainAccountId", "arn:aws:iam::111111111111:root", False),
        ("PipelineRoleArn", "", True),
        ("PipelineRoleArn", PIPELINE_ROLE_ARN, True),
        ("PipelineRoleArn", "arn:aws:iam::111111111111:user/bob", False),
        ("PipelineRoleArn", "rds-xacct-pipeline-eu-west-1", False),
        ("ResourcePrefix", "rds-xacct", True),
        ("ResourcePrefix", "Has_Upper", False),
        ("ResourcePrefix", "a-prefix-far-too-long-1", False),
        ("KeyAdministratorArn", "", True),
        ("KeyAdministratorArn", KEY_ADMIN_ARN, True),
        ("KeyAdministratorArn", "arn:aws:iam::123456789012:user/alice", True),
        ("KeyAdministratorArn", "key-admin", False),
    ],
)
def test_parameter_patterns(
    template: dict[str, Any], parameter: str, value: str, accepted: bool
) -> None:
    # Given a parameter's AllowedPattern (moto's CloudFormation doesn't enforce it; AWS does)
    pattern = template["Parameters"][parameter]["AllowedPattern"]

    # When a value is matched / Then it is accepted or refused
    assert (re.fullmatch(pattern, value) is not None) is accepted


# --- The role's permissions ---------------------------------------------------------------------


def test_deletes_are_allowed_only_on_snapshots_with_the_apps_tag(template: dict[str, Any]) -> None:
    # Given the role's policy statements
    statements = _role_statements(template)

    # When the statements that allow a delete are picked out
    deleting = [s for s in statements if any("Delete" in a for a in _actions(s))]

    # Then both deletes are allowed, each only under the app's tag, only in this account
    assert set().union(*(_actions(s) for s in deleting)) == {
        "rds:DeleteDBSnapshot",
        "rds:DeleteDBClusterSnapshot",
    }
    for statement in deleting:
        assert statement["Condition"] == {"StringEquals": {f"aws:ResourceTag/{TAG_APP}": APP_NAME}}
        assert all("${AWS::AccountId}" in r["Fn::Sub"] for r in _as_list(statement["Resource"]))


def test_the_role_copies_and_tags_snapshots_in_this_region(template: dict[str, Any]) -> None:
    # Given the role's RDS statements
    statements = [s for s in _role_statements(template) if "rds:CopyDBSnapshot" in _actions(s)]

    # When their resources are collected
    resources = {r["Fn::Sub"] for s in statements for r in _as_list(s["Resource"])}

    # Then they are snapshots of this account (the copy) and the main account (the source),
    # in this region, and tagging on create is allowed on this account's snapshots only
    assert resources == {
        f"arn:${{AWS::Partition}}:rds:${{AWS::Region}}:{account}:{kind}:*"
        for account in ("${AWS::AccountId}", "${MainAccountId}")
        for kind in ("snapshot", "cluster-snapshot")
    }
    for statement in statements:
        if "rds:AddTagsToResource" in _actions(statement):
            assert all("${AWS::AccountId}" in r["Fn::Sub"] for r in _as_list(statement["Resource"]))


def test_the_role_uses_only_the_backup_key_and_only_through_rds(template: dict[str, Any]) -> None:
    # Given the role's KMS statements
    statements = [
        s for s in _role_statements(template) if any(a.startswith("kms:") for a in _actions(s))
    ]

    # When / Then each names the backup key, and grants and data-key use are conditioned
    assert set().union(*(_actions(s) for s in statements)) == {
        *KEY_USE_THROUGH_RDS,
        "kms:DescribeKey",
        "kms:CreateGrant",
    }
    for statement in statements:
        assert statement["Resource"] == {"Fn::GetAtt": ["BackupKey", "Arn"]}
        if "kms:CreateGrant" in _actions(statement):
            assert statement["Condition"] == FOR_AWS_RESOURCE
        elif _actions(statement) & KEY_USE_THROUGH_RDS:
            assert statement["Condition"] == VIA_RDS


# --- The key ------------------------------------------------------------------------------------


def test_the_key_is_symmetric_rotated_kept_and_aliased(template: dict[str, Any]) -> None:
    # Given the key and its alias
    key = template["Resources"]["BackupKey"]
    alias = template["Resources"]["BackupKeyAlias"]["Properties"]

    # When / Then
    assert key["Properties"]["KeySpec"] == "SYMMETRIC_DEFAULT"
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == key["UpdateReplacePolicy"] == "Retain"
    assert alias == {
        "AliasName": {"Fn::Sub": "alias/${ResourcePrefix}-backup"},
        "TargetKeyId": {"Ref": "BackupKey"},
    }


@pytest.mark.parametrize("conditions", CONDITION_SETTINGS)
def test_the_main_account_may_only_use_the_key_through_rds(
    template: dict[str, Any], conditions: dict[str, bool]
) -> None:
    # Given the key policy as CloudFormation sends it
    statements = _key_policy(template, conditions)

    # When the statements naming the main account are picked out
    main = [s for s in statements if MAIN_ROOT in _principals(s)]

    # Then they allow exactly RDS's use of the key and nothing administrative
    actions = set().union(*(_actions(s) for s in main))
    assert actions == {*KEY_USE_THROUGH_RDS, "kms:DescribeKey", "kms:CreateGrant"}
    assert actions.isdisjoint(KEY_ADMINISTRATION | {"kms:GetKeyPolicy", "kms:ListGrants"})
    # And grants only for AWS resources, data-key use only through RDS in this region
    for statement in main:
        if "kms:CreateGrant" in _actions(statement):
            assert statement["Condition"] == FOR_AWS_RESOURCE
        if _actions(statement) & KEY_USE_THROUGH_RDS:
            assert statement["Condition"] == VIA_RDS
        assert _principals(statement) == [MAIN_ROOT]


@pytest.mark.parametrize("conditions", CONDITION_SETTINGS)
def test_the_backup_account_always_administers_the_key(
    template: dict[str, Any], conditions: dict[str, bool]
) -> None:
    # Given the key policy as CloudFormation sends it
    statements = _key_policy(template, conditions)

    # When the actions allowed to this account's root are collected
    root_actions = set().union(*(_actions(s) for s in statements if BACKUP_ROOT in _principals(s)))
    admin = [s for s in statements if KEY_ADMIN_ARN_REF in _principals(s)]

    # Then the root can administer and use the key, whatever the parameters
    assert KEY_ADMINISTRATION | KEY_USE_THROUGH_RDS | {"kms:CreateGrant"} <= root_actions
    # And KeyAdministratorArn, when set, administers it without using it
    if conditions["HasKeyAdministrator"]:
        admin_actions = set().union(*(_actions(s) for s in admin))
        assert admin_actions >= KEY_ADMINISTRATION
        assert admin_actions.isdisjoint(KEY_USE_THROUGH_RDS | {"kms:CreateGrant"})
    else:
        assert admin == []


# --- The trust ----------------------------------------------------------------------------------


def test_trust_is_the_main_account_narrowed_by_an_if_on_the_pipeline_role(
    template: dict[str, Any],
) -> None:
    # Given the trust policy as written
    trust = template["Resources"]["CrossAccountRole"]["Properties"]["AssumeRolePolicyDocument"]
    (statement,) = _statements(trust)

    # When / Then it lets the main account assume the role, narrowed by one Fn::If
    assert statement["Principal"] == {"AWS": MAIN_ROOT}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {
        "Fn::If": [
            "HasPipelineRole",
            {"ArnEquals": {"aws:PrincipalArn": {"Ref": "PipelineRoleArn"}}},
            {"Ref": "AWS::NoValue"},
        ]
    }
    assert template["Conditions"]["HasPipelineRole"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "PipelineRoleArn"}, ""]}]
    }


@pytest.mark.parametrize(
    ("has_pipeline_role", "condition"),
    [
        (False, None),
        (True, {"ArnEquals": {"aws:PrincipalArn": {"Ref": "PipelineRoleArn"}}}),
    ],
)
def test_trust_is_any_main_account_principal_or_only_the_pipeline_role(
    template: dict[str, Any], has_pipeline_role: bool, condition: dict[str, Any] | None
) -> None:
    # Given PipelineRoleArn empty or set
    conditions = {"HasPipelineRole": has_pipeline_role, "HasKeyAdministrator": False}

    # When the trust policy is resolved as CloudFormation sends it to IAM
    (statement,) = _statements(_role(template, conditions)["AssumeRolePolicyDocument"])

    # Then the main account's root is trusted, alone or only for the pipeline role's ARN
    assert statement["Principal"] == {"AWS": MAIN_ROOT}
    assert statement.get("Condition") == condition


# --- Created in moto's CloudFormation -----------------------------------------------------------


@pytest.mark.parametrize(
    "optional",
    [
        pytest.param({}, id="defaults"),
        pytest.param(
            {
                "PipelineRoleArn": PIPELINE_ROLE_ARN,
                "KeyAdministratorArn": KEY_ADMIN_ARN,
                "ResourcePrefix": "xacct-test",
            },
            id="all-set",
        ),
    ],
)
def test_the_stack_is_created_and_its_outputs_feed_the_main_stack(optional: dict[str, str]) -> None:
    with mock_aws():
        # Given the template and its parameters, in the backup account
        cfn = boto3.client("cloudformation", region_name=REGION)
        parameters = {"MainAccountId": MAIN_ACCOUNT_ID, **optional}
        prefix = optional.get("ResourcePrefix", APP_NAME)

        # When the stack is created
        cfn.create_stack(
            StackName="rds-xacct-backup-account",
            TemplateBody=BACKUP_TEMPLATE.read_text(),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )

        # Then it is complete, with a KMS key ARN and an IAM role ARN as outputs
        (stack,) = cfn.describe_stacks(StackName="rds-xacct-backup-account")["Stacks"]
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        assert set(outputs) == {"BackupAccountKmsKeyArn", "BackupAccountRoleArn"}
        key_arn = outputs["BackupAccountKmsKeyArn"]
        assert re.fullmatch(
            rf"arn:aws:kms:{REGION}:{ACCOUNT}:key/[0-9a-f]{{8}}(-[0-9a-f]{{4}}){{3}}-[0-9a-f]{{12}}",
            key_arn,
        )
        assert (
            outputs["BackupAccountRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{prefix}-backup-copy"
        )
        # And the main stack's functions accept them as their settings
        settings = Settings.from_env(
            {
                "BACKUP_ACCOUNT_ID": ACCOUNT,
                "BACKUP_KMS_KEY_ARN": key_arn,
                "BACKUP_ROLE_ARN": outputs["BackupAccountRoleArn"],
            }
        )
        assert settings.backup_kms_key_arn == key_arn

        # And the key rotates and carries its alias
        kms = boto3.client("kms", region_name=REGION)
        key_id = key_arn.rsplit("/", 1)[-1]
        assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
        aliases = kms.list_aliases(KeyId=key_id)["Aliases"]
        assert [a["AliasName"] for a in aliases] == [f"alias/{prefix}-backup"]

        # And the key policy names this account, the main account and the administrator (if
        # set), with no statement left empty by an Fn::If. moto 5.2's CloudFormation keeps
        # KeyPolicy as the template's dict instead of a JSON string, so kms:GetKeyPolicy answers
        # NotFound and kms:DescribeKey fails on that key: the policy is read from moto's backend.
        raw: Any = kms_backends[ACCOUNT][REGION].keys[key_id].policy
        policy = json.loads(raw) if isinstance(raw, str) else raw
        assert all(isinstance(s, dict) for s in policy["Statement"])
        principals = {p for s in policy["Statement"] for p in _as_list(s["Principal"]["AWS"])}
        expected = {f"arn:aws:iam::{ACCOUNT}:root", f"arn:aws:iam::{MAIN_ACCOUNT_ID}:root"}
        if "KeyAdministratorArn" in optional:
            expected.add(KEY_ADMIN_ARN)
        assert principals == expected

        # And the role trusts the main account, narrowed to the pipeline role when given
        role = boto3.client("iam").get_role(RoleName=f"{prefix}-backup-copy")["Role"]
        document: Any = role["AssumeRolePolicyDocument"]  # boto3 decodes it into a dict
        (trust,) = document["Statement"]
        assert trust["Principal"] == {"AWS": f"arn:aws:iam::{MAIN_ACCOUNT_ID}:root"}
        if "PipelineRoleArn" in optional:
            assert trust["Condition"] == {"ArnEquals": {"aws:PrincipalArn": PIPELINE_ROLE_ARN}}
        else:
            assert "Condition" not in trust
