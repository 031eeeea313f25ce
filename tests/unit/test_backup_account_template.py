"""other/backup-account/backup-account.yaml: least privilege; the main account copies in, tags
its copies as it makes them and asks the keeper, but never deletes, untags, re-shares or
administers the key; the keeper alone deletes, only the app's copies; the stack created in
moto's CloudFormation.

Permissions are evaluated as IAM and KMS would (simulation/iam/policy.py) on the policies as
CloudFormation sends them (intrinsics resolved), rather than read as strings."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.kms.models import kms_backends

from rds_xacct.admission import broker
from rds_xacct.keeper import settings as keeper
from rds_xacct.keeper.url import ENV_CALLER_ROLE_ARN
from rds_xacct.model.constants import (
    APP_NAME,
    BACKUP_COPY_TAG_KEYS,
    DEFAULT_MAX_COPIES_IN_FLIGHT,
    DEFAULT_MIN_RETENTION_DAYS,
    KEEPER_SCHEDULE,
    MAX_RECOVERY_POINT_OBJECTIVE_HOURS,
    MAX_RETENTION_DAYS,
    RDS_COPIES_IN_PROGRESS_LIMIT,
    RECOVERY_POINT_OBJECTIVE_HOURS,
    ROLE_BACKUP,
    ROLE_INTERMEDIATE,
    TAG_APP,
    TAG_EXPIRES_AT,
    TAG_KEEP,
    TAG_ROLE,
)
from rds_xacct.model.metrics import DIMENSION, NAMESPACE, SERVICE, STALE_DATABASES
from rds_xacct.model.ownership import app_tags
from rds_xacct.model.settings import ENV_RPO_HOURS, Settings
from simulation.cfn_yaml import iam_actions, load_cfn_yaml
from simulation.iam.policy import Caller, Context, Decision, Statement, evaluate, parse_policy
from simulation.sam_template import (
    BACKUP_TEMPLATE,
    ROOT,
    TEMPLATE,
    Resolver,
    function_names,
    function_specs,
    without_serverless,
)

ACCOUNT = "123456789012"  # moto's default account plays the backup account here
REGION = "eu-west-1"
MAIN_ACCOUNT_ID = "111111111111"
OTHER_ACCOUNT_ID = "222222222222"
KEY_ADMIN_ARN = f"arn:aws:iam::{ACCOUNT}:role/key-admin"

# What the resources of the stack are, for evaluating its policies (default ResourcePrefix)
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY_ID}"
KEEPER_NAME = f"{APP_NAME}-keeper"
KEEPER_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{KEEPER_NAME}"
LEDGER_NAME = f"{APP_NAME}-keeper-ledger"
LEDGER_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{LEDGER_NAME}"
LOG_GROUP_NAME = f"/aws/lambda/{KEEPER_NAME}"
LOG_GROUP_ARN = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{LOG_GROUP_NAME}:*"
BROKER_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{APP_NAME}-slot-broker"
SLOTS_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{APP_NAME}-backup-copy-slots"
BROKER_LOG_GROUP_NAME = f"/aws/lambda/{APP_NAME}-slot-broker"
KEEPER_FUNCTIONS = ("KeeperFunction", "KeeperPassFunction")
ATTRIBUTES = {
    ("BackupKey", "Arn"): KEY_ARN,
    ("KeeperFunction", "Arn"): KEEPER_ARN,
    ("SlotBrokerFunction", "Arn"): BROKER_ARN,
    ("SlotsTable", "Arn"): SLOTS_ARN,
    ("SlotBrokerLogGroup", "Arn"): f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:"
    f"{BROKER_LOG_GROUP_NAME}:*",
    ("KeeperLedger", "Arn"): LEDGER_ARN,
    ("KeeperLogGroup", "Arn"): LOG_GROUP_ARN,
}
REFS = {
    "BackupKey": KEY_ID,
    "KeeperFunction": KEEPER_NAME,
    "SlotsTable": f"{APP_NAME}-backup-copy-slots",
    "SlotBrokerLogGroup": BROKER_LOG_GROUP_NAME,
    "KeeperLedger": LEDGER_NAME,
    "KeeperLogGroup": LOG_GROUP_NAME,
}

KEY_ADMIN_ARN_REF = {"Ref": "KeyAdministratorArn"}
BACKUP_ROOT = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
VIA_RDS = {"StringEquals": {"kms:ViaService": {"Fn::Sub": "rds.${AWS::Region}.${AWS::URLSuffix}"}}}
VIA_RDS_OF_ANY_REGION = {"StringLike": {"kms:ViaService": {"Fn::Sub": "rds.*.${AWS::URLSuffix}"}}}
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
LIST = {
    "ByOrganization": False,
    "HasOrganizationalUnits": False,
    "HasKeyAdministrator": False,
    "HasSourceRegionKeys": False,
}
ORGANIZATION_ID = "o-a1b2c3d4e5"
OU_PATH = f"{ORGANIZATION_ID}/r-ab12/ou-ab12-11111111/"
CONDITION_SETTINGS = [
    pytest.param(LIST, id="defaults"),
    pytest.param({**LIST, "HasKeyAdministrator": True}, id="key-administrator"),
    pytest.param({**LIST, "ByOrganization": True}, id="organization"),
    pytest.param(
        {
            "ByOrganization": True,
            "HasOrganizationalUnits": True,
            "HasKeyAdministrator": True,
            "HasSourceRegionKeys": True,
        },
        id="organizational-units",
    ),
]
PARAMETER_SETTINGS = [
    pytest.param({}, id="defaults"),
    pytest.param({"KeyAdministratorArn": KEY_ADMIN_ARN}, id="key-administrator"),
    pytest.param(
        {"SourceAccountIds": f"{MAIN_ACCOUNT_ID},{OTHER_ACCOUNT_ID}"}, id="two-source-accounts"
    ),
    pytest.param(
        {"SourceAccountIds": "", "SourceOrganizationId": ORGANIZATION_ID}, id="organization"
    ),
    pytest.param(
        {
            "SourceAccountIds": "",
            "SourceOrganizationId": ORGANIZATION_ID,
            "SourceOrganizationalUnitPaths": OU_PATH,
        },
        id="organizational-units",
    ),
]
KINDS = ("snapshot", "cluster-snapshot")
DELETES = {"snapshot": "rds:DeleteDBSnapshot", "cluster-snapshot": "rds:DeleteDBClusterSnapshot"}

# An app copy in the backup account, as the main account's pipeline makes it
COPY_ID = "xacct-orders-20261124-023000-0123456789ab"
SOURCE_ARN = f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT_ID}:snapshot:rds:orders-2026-11-24-02-30"
CREATION_TAGS = {
    **app_tags(
        source_arn=SOURCE_ARN,
        role=ROLE_BACKUP,
        execution="run-1",
        made_at=datetime(2026, 11, 24, 2, 30, tzinfo=UTC),
    ),
    TAG_EXPIRES_AT: "2026-12-01T02:30:00Z",
}
APP_COPY = {f"aws:ResourceTag/{key}": value for key, value in CREATION_TAGS.items()}
"""The request context of an action on an app copy (its tags)."""

_NO_VALUE = object()


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_cfn_yaml(BACKUP_TEMPLATE)


def _resolve(node: Any, conditions: dict[str, bool]) -> Any:
    """`node` with every `Fn::If` decided by `conditions` and `AWS::NoValue` dropped, as
    CloudFormation does before it sends a policy to IAM or KMS (other intrinsics kept)."""
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


def _role(
    template: dict[str, Any], conditions: dict[str, bool], role_id: str = "CrossAccountRole"
) -> dict[str, Any]:
    role: dict[str, Any] = _resolve(template["Resources"][role_id]["Properties"], conditions)
    return role


def _role_statements(
    template: dict[str, Any], role_id: str = "CrossAccountRole"
) -> list[dict[str, Any]]:
    role = _role(template, LIST, role_id)
    return [s for policy in role["Policies"] for s in _statements(policy["PolicyDocument"])]


def _allow_statements(
    template: dict[str, Any], role_id: str = "CrossAccountRole"
) -> list[dict[str, Any]]:
    return [s for s in _role_statements(template, role_id) if s["Effect"] == "Allow"]


def _principals(statement: dict[str, Any]) -> list[Any]:
    return _as_list(statement["Principal"]["AWS"])


def _roles(template: dict[str, Any]) -> list[str]:
    return [k for k, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"]


# --- Evaluated policies -------------------------------------------------------------------------


def _resolver(template: dict[str, Any], parameters: Mapping[str, str] | None = None) -> Resolver:
    """Every intrinsic of the template resolved as CloudFormation would in the backup account."""

    def attribute(logical_id: str, name: str) -> str:
        return ATTRIBUTES[(logical_id, name)]

    return Resolver(
        template,
        {"SourceAccountIds": MAIN_ACCOUNT_ID, **(parameters or {})},
        account=ACCOUNT,
        region=REGION,
        refs=dict(REFS),
        attributes=attribute,
    )


def _identity_policy(
    template: dict[str, Any], role_id: str, parameters: Mapping[str, str] | None = None
) -> list[Statement]:
    """The statements of a role's inline policies, as IAM receives them."""
    role = _resolver(template, parameters).resolve(template["Resources"][role_id]["Properties"])
    return [
        statement
        for policy in role["Policies"]
        for statement in parse_policy(
            policy["PolicyDocument"], holder=role_id, policy=policy["PolicyName"]
        )
    ]


def _key_policy_statements(
    template: dict[str, Any], parameters: Mapping[str, str] | None = None
) -> list[Statement]:
    key = _resolver(template, parameters).resolve(template["Resources"]["BackupKey"]["Properties"])
    return parse_policy(key["KeyPolicy"], holder="BackupKey", policy="key policy")


def _allows_only(statements: list[Statement]) -> list[Statement]:
    """The Allow statements alone: does anything allow the request, Deny aside?"""
    return [s for s in statements if s.effect == "Allow"]


def _denied_by(decision: Decision) -> str | None:
    return decision.denied_by.ref.sid if decision.denied_by is not None else None


def _rds_arn(kind: str, identifier: str, account: str = ACCOUNT, region: str = REGION) -> str:
    return f"arn:aws:rds:{region}:{account}:{kind}:{identifier}"


def _tagging(tags: Mapping[str, str]) -> Context:
    """The request context of tags given to a create (or AddTagsToResource): each as
    aws:RequestTag/KEY, and their keys as aws:TagKeys (IAM User Guide, "Controlling access
    during AWS requests")."""
    return {
        **{f"aws:RequestTag/{key}": value for key, value in tags.items()},
        "aws:TagKeys": list(tags),
    }


def _key_administration_in_the_template(template: dict[str, Any]) -> set[str]:
    statements = template["Resources"]["BackupKey"]["Properties"]["KeyPolicy"]["Statement"]
    (administration,) = [s for s in statements if s.get("Sid") == "KeyAdministration"]
    return _actions(administration)


NOT_DENIED_BY_NAME = {
    # Decided by the grant itself, not by policies: its retiring or grantee principal may retire
    # it whatever a Deny says (KMS Developer Guide, "Retiring and revoking grants").
    "kms:RetireGrant",
    # Rotation only adds key material; what was encrypted stays decryptable: nothing is lost.
    "kms:EnableKeyRotation",
    "kms:RotateKeyOnDemand",
}


def _changes_the_key(action: str) -> bool:
    """A key administration action that changes the key or its access (not Describe*, Get*,
    List*), and that a policy's explicit Deny can stop (`NOT_DENIED_BY_NAME` aside)."""
    verb = action.split(":", 1)[1]
    return not verb.startswith(("Describe", "Get", "List")) and action not in NOT_DENIED_BY_NAME


# --- Least privilege ----------------------------------------------------------------------------


def test_no_action_anywhere_contains_a_wildcard(template: dict[str, Any]) -> None:
    # Given the key policy, the roles' trust policies and the roles' policies
    resources = template["Resources"]
    documents = {
        "key policy": resources["BackupKey"]["Properties"]["KeyPolicy"],
        **{
            f"{role} trust policy": resources[role]["Properties"]["AssumeRolePolicyDocument"]
            for role in _roles(template)
        },
        **{
            f"{role} policies": resources[role]["Properties"]["Policies"]
            for role in _roles(template)
        },
    }
    assert set(_roles(template)) == {"CrossAccountRole", "KeeperRole", "SlotBrokerRole"}

    for name, document in documents.items():
        # When every action is collected, both branches of every Fn::If included
        actions = iam_actions(document)

        # Then there are some, each a plain string naming one action, none with a `*`
        assert actions, name
        assert all(isinstance(a, str) and re.fullmatch(r"[a-z0-9-]+:[A-Za-z]+", a) for a in actions)
        assert [a for a in actions if "*" in a] == [], name
    # And NotAction and NotResource appear only in the cross-account role's Deny statements
    # (a NotAction or NotResource Allow would grant whatever is not listed)
    assert "NotPrincipal" not in str(template)
    for logical_id, resource in resources.items():
        if logical_id != "CrossAccountRole":
            assert "NotAction" not in str(resource), logical_id
            assert "NotResource" not in str(resource), logical_id
    for policy in resources["CrossAccountRole"]["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if "NotAction" in statement or "NotResource" in statement:
                assert statement["Effect"] == "Deny", statement["Sid"]


SOURCES = {"Fn::If": ["ByOrganization", {"AWS": "*"}, {"AWS": {"Ref": "SourceAccountIds"}}]}
"""The source accounts as Principal: a list of account ids, or everyone narrowed by the
organization (aws:PrincipalOrgID) in the statement's condition."""
IN_THE_ORGANIZATION = {"aws:PrincipalOrgID": {"Ref": "SourceOrganizationId"}}


@pytest.mark.parametrize("conditions", CONDITION_SETTINGS)
def test_no_statement_trusts_everyone_but_an_organization_it_names(
    template: dict[str, Any], conditions: dict[str, bool]
) -> None:
    # Given the key policy and the cross-account trust policy as CloudFormation sends them
    statements = [
        *_key_policy(template, conditions),
        *_statements(_role(template, conditions)["AssumeRolePolicyDocument"]),
    ]

    # When / Then every statement names the accounts or roles it is about: with an
    # organization, `*` only together with aws:PrincipalOrgID
    for statement in statements:
        if "*" in _principals(statement):
            assert conditions["ByOrganization"], statement["Sid"]
            assert statement["Condition"]["StringEquals"]["aws:PrincipalOrgID"] == {
                "Ref": "SourceOrganizationId"
            }, statement["Sid"]
        else:
            assert _principals(statement) in (
                [{"Ref": "SourceAccountIds"}],
                [BACKUP_ROOT],
                [BACKUP_ROOT, KEY_ADMIN_ARN_REF],
            ), statement["Sid"]
    # And the only Deny is the source accounts', on administering the key
    denies = [s for s in statements if s["Effect"] == "Deny"]
    assert [s["Sid"] for s in denies] == ["SourceAccountsNeverAdministerTheKey"]
    assert all(s["Effect"] == "Allow" for s in statements if s not in denies)


def test_the_keeper_role_is_assumed_only_by_lambda_for_this_account(
    template: dict[str, Any],
) -> None:
    # Given the keeper role's trust policy
    trust = template["Resources"]["KeeperRole"]["Properties"]["AssumeRolePolicyDocument"]

    # When / Then only the Lambda service assumes it, for a function of this account
    assert _statements(trust) == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
        }
    ]


# --- Outputs and parameters ---------------------------------------------------------------------


def test_outputs_are_exactly_the_main_stacks_parameters(template: dict[str, Any]) -> None:
    # Given the outputs of this template and the parameters of the main one
    outputs = {k: v for k, v in template["Outputs"].items() if k != "AlarmTopicArn"}
    main_parameters = load_cfn_yaml(TEMPLATE)["Parameters"]

    # When / Then (besides the alarms' topic, for whoever is on call here) there are exactly
    # the three the main stack asks for, by the same names
    assert set(outputs) == {
        "BackupAccountKmsKeyArn",
        "BackupAccountRoleArn",
        "BackupAccountKeeperUrl",
        "BackupAccountSlotBrokerUrl",
    }
    assert set(outputs) == {p for p in main_parameters if p.startswith("BackupAccount")} - {
        "BackupAccountId"
    }
    # And they are the key's full ARN, the role's ARN and the keeper's function URL (AWS_IAM),
    # each described
    assert outputs["BackupAccountKmsKeyArn"]["Value"] == {"Fn::GetAtt": ["BackupKey", "Arn"]}
    assert outputs["BackupAccountRoleArn"]["Value"] == {"Fn::GetAtt": ["CrossAccountRole", "Arn"]}
    assert outputs["BackupAccountKeeperUrl"]["Value"] == {
        "Fn::GetAtt": ["KeeperUrl", "FunctionUrl"]
    }
    assert template["Resources"]["KeeperUrl"]["Properties"] == {
        "TargetFunctionArn": {"Fn::GetAtt": ["KeeperFunction", "Arn"]},
        "AuthType": "AWS_IAM",
    }
    assert all(output["Description"] for output in outputs.values())
    assert template["Description"]


def test_parameters_and_their_defaults(template: dict[str, Any]) -> None:
    # Given the parameters
    parameters = template["Parameters"]

    # When / Then the names are the ones the README and the deploy command use
    assert set(parameters) == {
        "SourceAccountIds",
        "SourceOrganizationId",
        "SourceOrganizationalUnitPaths",
        "SourceResourcePrefix",
        "StackPurpose",
        "SourceRegionKmsKeyArns",
        "MinimumRetentionDays",
        "LongestRetentionDays",
        "MaxCopiesInFlight",
        "ResourcePrefix",
        "KeyAdministratorArn",
        "LogRetentionDays",
        "AlarmEmail",
        "RecoveryPointObjectiveHours",
        "FreshnessIgnoredDatabases",
    }
    # (exactly one of the list and the organization: the template's Rules)
    assert parameters["SourceAccountIds"]["Type"] == "CommaDelimitedList"
    assert parameters["SourceAccountIds"]["Default"] == ""
    assert parameters["SourceOrganizationId"]["Default"] == ""
    assert parameters["SourceOrganizationalUnitPaths"]["Type"] == "CommaDelimitedList"
    assert parameters["SourceResourcePrefix"]["Default"] == APP_NAME
    assert parameters["FreshnessIgnoredDatabases"]["Default"] == ""
    assert parameters["AlarmEmail"]["Default"] == ""
    assert parameters["KeyAdministratorArn"]["Default"] == ""
    assert parameters["ResourcePrefix"]["Default"] == APP_NAME
    assert (
        parameters["LogRetentionDays"]["Default"] in parameters["LogRetentionDays"]["AllowedValues"]
    )


def test_the_recovery_point_objective_is_the_apps_default_within_the_keepers_bounds(
    template: dict[str, Any],
) -> None:
    # Given the parameter the freshness check's objective comes from
    rpo = template["Parameters"]["RecoveryPointObjectiveHours"]
    # When / Then it is a whole number of hours, by default the app's, within what the keeper
    # accepts (rds_xacct.model.settings.read_rpo_hours)
    assert rpo["Type"] == "Number"
    assert rpo["Default"] == RECOVERY_POINT_OBJECTIVE_HOURS
    assert (rpo["MinValue"], rpo["MaxValue"]) == (1, MAX_RECOVERY_POINT_OBJECTIVE_HOURS)


def test_the_stale_copies_alarm_watches_the_keepers_count_and_pages_when_it_stops(
    template: dict[str, Any],
) -> None:
    # Given the alarm, resolved with the longest prefix and objective the parameters allow
    parameters = {"ResourcePrefix": "a-prefix-of-20-chars", "RecoveryPointObjectiveHours": "8784"}
    declared = template["Resources"]["StaleCopiesAlarm"]["Properties"]
    alarm = _resolver(template, parameters).resolve(
        {k: v for k, v in declared.items() if not k.endswith("Actions")}
    )
    # When / Then it watches the metric the keeper's pass writes, as the pass writes it
    assert (alarm["Namespace"], alarm["MetricName"]) == (NAMESPACE, STALE_DATABASES)
    assert alarm["Dimensions"] == [{"Name": DIMENSION, "Value": SERVICE}]
    # And goes off on one stale database, or on no value at all (the pass stopped)
    assert alarm["Statistic"] == "Maximum"
    assert alarm["Period"] == 3600
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == (
        "GreaterThanOrEqualToThreshold",
        1,
    )
    assert alarm["TreatMissingData"] == "breaching"
    # And pages through this account's alarms topic, both ways
    assert declared["AlarmActions"] == declared["OKActions"] == [{"Ref": "AlarmTopic"}]
    # And says what happened and what to do, within CloudWatch's 1024 characters
    description = alarm["AlarmDescription"]
    assert len(description) <= 1024
    assert "8784 hours" in description
    assert "FreshnessIgnoredDatabases" in description
    assert "/aws/lambda/a-prefix-of-20-chars-keeper" in description


def test_the_minimum_retention_is_the_keepers_own_bounds(template: dict[str, Any]) -> None:
    # Given the parameter the keeper's minimum retention comes from
    minimum = template["Parameters"]["MinimumRetentionDays"]

    # When / Then it is a number, by default the app's, within what the keeper accepts
    assert minimum["Type"] == "Number"
    assert minimum["Default"] == DEFAULT_MIN_RETENTION_DAYS
    assert minimum["MinValue"] == 1
    assert minimum["MaxValue"] == MAX_RETENTION_DAYS


@pytest.mark.parametrize(
    ("parameter", "value", "accepted"),
    [
        ("SourceOrganizationId", "", True),
        ("SourceOrganizationId", ORGANIZATION_ID, True),
        ("SourceOrganizationId", "r-ab12", False),
        ("SourceOrganizationId", "o-short", False),
        ("SourceResourcePrefix", APP_NAME, True),
        ("SourceResourcePrefix", "Has_Upper", False),
        ("ResourcePrefix", "rds-xacct", True),
        ("ResourcePrefix", "Has_Upper", False),
        ("ResourcePrefix", "a-prefix-far-too-long-1", False),
        ("KeyAdministratorArn", "", True),
        ("KeyAdministratorArn", KEY_ADMIN_ARN, True),
        ("KeyAdministratorArn", "arn:aws:iam::123456789012:user/alice", True),
        ("KeyAdministratorArn", "key-admin", False),
        ("FreshnessIgnoredDatabases", "", True),
        ("FreshnessIgnoredDatabases", "retired-db, Old-Cluster", True),
        ("FreshnessIgnoredDatabases", "prod-*", False),
        ("FreshnessIgnoredDatabases", "db;drop", False),
    ],
)
def test_parameter_patterns(
    template: dict[str, Any], parameter: str, value: str, accepted: bool
) -> None:
    # Given a parameter's AllowedPattern (moto's CloudFormation doesn't enforce it; AWS does)
    pattern = template["Parameters"][parameter]["AllowedPattern"]

    # When a value is matched / Then it is accepted or refused
    assert (re.fullmatch(pattern, value) is not None) is accepted


# --- The cross-account role: what the main account can do here ----------------------------------


@pytest.mark.parametrize(
    ("action", "kind"),
    [
        ("rds:DeleteDBSnapshot", "snapshot"),
        ("rds:DeleteDBClusterSnapshot", "cluster-snapshot"),
        ("rds:RemoveTagsFromResource", "snapshot"),
        ("rds:RemoveTagsFromResource", "cluster-snapshot"),
        ("rds:ModifyDBSnapshotAttribute", "snapshot"),
        ("rds:ModifyDBClusterSnapshotAttribute", "cluster-snapshot"),
        ("rds:ModifyDBSnapshot", "snapshot"),
    ],
)
@pytest.mark.parametrize("parameters", PARAMETER_SETTINGS)
def test_the_cross_account_role_never_deletes_untags_or_reshares_a_copy(
    template: dict[str, Any], parameters: dict[str, str], action: str, kind: str
) -> None:
    # Given the cross-account role's policy, and an app copy with the app's tags
    statements = _identity_policy(template, "CrossAccountRole", parameters)
    resource = _rds_arn(kind, COPY_ID)
    context = {**APP_COPY, "aws:TagKeys": list(CREATION_TAGS)}

    # When the role would delete, untag, re-share or modify it
    allowed = evaluate(_allows_only(statements), action, resource, context)
    decision = evaluate(statements, action, resource, context)

    # Then no statement allows it, and an explicit Deny refuses it whatever is attached later
    assert not allowed.allowed
    assert not decision.allowed
    assert _denied_by(decision) == "NeverDestroyOrLeak"


def test_the_cross_account_role_never_administers_the_key(template: dict[str, Any]) -> None:
    # Given the cross-account role's policy and the key's administration actions
    statements = _identity_policy(template, "CrossAccountRole")
    administration = _key_administration_in_the_template(template)
    assert administration >= KEY_ADMINISTRATION

    for action in sorted(administration):
        # When the role would administer the key
        allowed = evaluate(_allows_only(statements), action, KEY_ARN)
        decision = evaluate(statements, action, KEY_ARN)

        # Then nothing allows it but describing the key (which copying needs)
        assert allowed.allowed is (action == "kms:DescribeKey"), action
        # And every action that changes the key is explicitly denied
        if _changes_the_key(action):
            assert _denied_by(decision) == "NeverDestroyOrLeak", action


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("dynamodb:PutItem", LEDGER_ARN),
        ("dynamodb:UpdateItem", LEDGER_ARN),
        ("dynamodb:DeleteItem", LEDGER_ARN),
        ("dynamodb:DeleteTable", LEDGER_ARN),
        ("lambda:UpdateFunctionCode", KEEPER_ARN),
        ("lambda:UpdateFunctionConfiguration", KEEPER_ARN),
        ("lambda:DeleteFunction", KEEPER_ARN),
    ],
)
def test_the_cross_account_role_never_changes_the_keeper_or_its_ledger(
    template: dict[str, Any], action: str, resource: str
) -> None:
    # Given the cross-account role's policy
    statements = _identity_policy(template, "CrossAccountRole")

    # When the role would rewrite the keeper's ledger or its code or settings
    allowed = evaluate(_allows_only(statements), action, resource)
    decision = evaluate(statements, action, resource)

    # Then nothing allows it and an explicit Deny refuses it
    assert not allowed.allowed
    assert _denied_by(decision) == "NeverDestroyOrLeak"


def test_the_cross_account_roles_deny_lists_exactly_what_its_allows_use(
    template: dict[str, Any],
) -> None:
    # Given the cross-account role's statements
    statements = _identity_policy(template, "CrossAccountRole")
    allowed = {a for s in statements if s.effect == "Allow" for a in s.actions}
    # When / Then one Deny refuses every action but those its Allow statements use
    (everything_else,) = [s for s in statements if s.not_actions]
    assert everything_else.effect == "Deny"
    assert everything_else.resources == ("*",)
    assert set(everything_else.not_actions) == allowed
    assert len(everything_else.not_actions) == len(allowed)


GRANTED_LATER = [
    ("dynamodb:BatchWriteItem", LEDGER_ARN),
    ("dynamodb:PartiQLUpdate", LEDGER_ARN),
    ("dynamodb:PartiQLDelete", LEDGER_ARN),
    ("dynamodb:UpdateTimeToLive", LEDGER_ARN),
    ("dynamodb:ExecuteStatement", LEDGER_ARN),
    ("lambda:PutFunctionConcurrency", KEEPER_ARN),
    ("lambda:AddPermission", KEEPER_ARN),
    ("iam:AttachRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/rds-xacct-backup-copy"),
    ("iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/rds-xacct-keeper"),
    ("iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/attacker"),
    ("events:DisableRule", f"arn:aws:events:{REGION}:{ACCOUNT}:rule/any"),
    ("rds:DeleteDBSnapshot", _rds_arn("snapshot", COPY_ID)),
    ("rds:RestoreDBInstanceFromDBSnapshot", _rds_arn("snapshot", COPY_ID)),
]


@pytest.mark.parametrize(("action", "resource"), GRANTED_LATER)
def test_what_an_administrator_grants_the_role_later_is_still_refused(
    template: dict[str, Any], action: str, resource: str
) -> None:
    # Given the cross-account role's policy, and a policy attached later allowing everything
    statements = [
        *_identity_policy(template, "CrossAccountRole"),
        *parse_policy(
            {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
            holder="CrossAccountRole",
            policy="attached-later",
        ),
    ]
    # When the role would use an action the template does not give it
    decision = evaluate(statements, action, resource)
    # Then an explicit Deny refuses it
    assert not decision.allowed
    assert _denied_by(decision) in {"NeverDestroyOrLeak", "NothingButWhatThisPolicyAllows"}


def test_what_the_role_may_do_it_may_only_do_as_the_template_says_whatever_is_attached(
    template: dict[str, Any],
) -> None:
    # Given the cross-account role's policy with a policy allowing everything attached later
    statements = [
        *_identity_policy(template, "CrossAccountRole"),
        *parse_policy(
            {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
            holder="CrossAccountRole",
            policy="attached-later",
        ),
    ]
    copy = _rds_arn("snapshot", COPY_ID)
    app_tags = {"rds-xacct:app": "rds-xacct", "rds-xacct:role": "backup"}
    # When / Then it tags only the app's copies, only with the app's keys, only as backup copies
    assert evaluate(statements, "rds:AddTagsToResource", copy, _tagging(app_tags)).allowed
    refused = [
        (copy, {**app_tags, "owner": "attacker"}),
        (copy, {**app_tags, "rds-xacct:keep": "yes"}),
        (copy, {"rds-xacct:expires-at": "2030-01-01T00:00:00Z"}),
        (copy, {**app_tags, "rds-xacct:role": "intermediate"}),
        (_rds_arn("snapshot", "not-the-apps"), app_tags),
    ]
    for resource, tags in refused:
        assert not evaluate(statements, "rds:AddTagsToResource", resource, _tagging(tags)).allowed
    # And it invokes the keeper alone (never its hourly pass), only through its URL
    assert evaluate(statements, "lambda:InvokeFunction", KEEPER_ARN, THROUGH_THE_URL).allowed
    assert not evaluate(statements, "lambda:InvokeFunction", KEEPER_ARN).allowed
    pass_arn = f"{KEEPER_ARN}-pass"
    assert not evaluate(statements, "lambda:InvokeFunction", pass_arn, THROUGH_THE_URL).allowed
    # And it uses the key only through RDS, and grants it only to AWS resources
    via_rds = {"kms:ViaService": f"rds.{REGION}.amazonaws.com"}
    assert evaluate(statements, "kms:Decrypt", KEY_ARN, via_rds).allowed
    assert not evaluate(statements, "kms:Decrypt", KEY_ARN, {}).allowed
    grant = {"kms:GrantIsForAWSResource": "true"}
    assert evaluate(statements, "kms:CreateGrant", KEY_ARN, grant).allowed
    assert not evaluate(statements, "kms:CreateGrant", KEY_ARN, {}).allowed


THROUGH_THE_URL = {"lambda:InvokedViaFunctionUrl": "true"}
"""The context of the lambda:InvokeFunction a function-URL call also needs (Lambda Developer
Guide, "Control access to Lambda function URLs")."""
URL_AUTH = {"lambda:FunctionUrlAuthType": "AWS_IAM"}


@pytest.mark.parametrize(
    ("function", "allowed"),
    [
        pytest.param(KEEPER_ARN, True, id="the-keeper"),
        pytest.param(BROKER_ARN, True, id="the-slot-broker"),
        pytest.param(f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:other", False, id="another"),
    ],
)
def test_the_cross_account_role_may_only_call_the_keeper_and_the_broker_through_their_urls(
    template: dict[str, Any], function: str, allowed: bool
) -> None:
    # Given the cross-account role's policy
    statements = _identity_policy(template, "CrossAccountRole")

    # When it calls a function's URL (AWS_IAM) / Then only the keeper's
    assert evaluate(statements, "lambda:InvokeFunctionUrl", function, URL_AUTH).allowed is allowed
    assert evaluate(statements, "lambda:InvokeFunction", function, THROUGH_THE_URL).allowed is (
        allowed
    )
    # And a URL of another auth type, or a direct Invoke of any function, is refused
    assert not evaluate(
        statements, "lambda:InvokeFunctionUrl", function, {"lambda:FunctionUrlAuthType": "NONE"}
    ).allowed
    direct = evaluate(statements, "lambda:InvokeFunction", function)
    assert not direct.allowed
    assert _denied_by(direct) in {"InvokeOnlyThroughTheUrl", "InvokeOnlyTheKeeperAndTheSlotBroker"}
    not_via = {"lambda:InvokedViaFunctionUrl": "false"}
    assert _denied_by(evaluate(statements, "lambda:InvokeFunction", function, not_via)) in {
        "InvokeOnlyThroughTheUrl",
        "InvokeOnlyTheKeeperAndTheSlotBroker",
    }


@pytest.mark.parametrize(
    ("resource", "tags", "allowed"),
    [
        pytest.param(_rds_arn("snapshot", COPY_ID), CREATION_TAGS, True, id="copy-created"),
        pytest.param(
            _rds_arn("cluster-snapshot", COPY_ID), CREATION_TAGS, True, id="cluster-copy-created"
        ),
        pytest.param(
            _rds_arn("snapshot", COPY_ID),
            {k: v for k, v in CREATION_TAGS.items() if k != TAG_EXPIRES_AT},
            True,
            id="copy-created-kept-for-good",
        ),
        pytest.param(
            _rds_arn("snapshot", COPY_ID), {**CREATION_TAGS, TAG_KEEP: "true"}, False, id="keep"
        ),
        pytest.param(
            _rds_arn("snapshot", COPY_ID), {**CREATION_TAGS, "owner": "me"}, False, id="other-key"
        ),
        pytest.param(
            _rds_arn("snapshot", COPY_ID),
            {**CREATION_TAGS, TAG_ROLE: ROLE_INTERMEDIATE},
            False,
            id="role-shared",
        ),
        pytest.param(
            _rds_arn("snapshot", COPY_ID),
            {**CREATION_TAGS, TAG_APP: "someone-else"},
            False,
            id="other-app",
        ),
        pytest.param(
            _rds_arn("snapshot", COPY_ID),
            {TAG_EXPIRES_AT: "2026-11-24T03:00:00Z"},
            False,
            id="expiry-alone",
        ),
        pytest.param(
            _rds_arn("snapshot", "orders-manual-1"), CREATION_TAGS, False, id="not-an-xacct-copy"
        ),
        pytest.param(
            _rds_arn("cluster-snapshot", "rds:orders-2026-11-24-02-30"),
            CREATION_TAGS,
            False,
            id="automated-cluster-snapshot",
        ),
        pytest.param(
            _rds_arn("snapshot", COPY_ID, account=MAIN_ACCOUNT_ID),
            CREATION_TAGS,
            False,
            id="main-account",
        ),
        pytest.param(
            _rds_arn("snapshot", COPY_ID, region="us-east-1"),
            CREATION_TAGS,
            False,
            id="other-region",
        ),
    ],
)
def test_the_cross_account_role_tags_only_its_copies_and_only_with_the_apps_tags(
    template: dict[str, Any], resource: str, tags: dict[str, str], allowed: bool
) -> None:
    # Given the cross-account role's policy
    statements = _identity_policy(template, "CrossAccountRole")

    # When tags are added to a snapshot (RDS authorizes the tags of a CopyDBSnapshot as
    # rds:AddTagsToResource: RDS User Guide, "Grant permission to tag Amazon RDS resources
    # during creation")
    decision = evaluate(statements, "rds:AddTagsToResource", resource, _tagging(tags))

    # Then only the tags of a backup copy of the app, on a copy of the app here, are allowed
    assert decision.allowed is allowed


def test_tagging_is_as_narrow_as_rds_allows(template: dict[str, Any]) -> None:
    # Given the role's statements that allow tagging
    tagging = [s for s in _allow_statements(template) if "rds:AddTagsToResource" in _actions(s)]

    # When / Then one statement does, on this account's copies of the app only
    (statement,) = tagging
    assert _actions(statement) == {"rds:AddTagsToResource"}
    assert statement["Resource"] == [
        {
            "Fn::Sub": f"arn:${{AWS::Partition}}:rds:${{AWS::Region}}:${{AWS::AccountId}}:{kind}:xacct-*"
        }
        for kind in KINDS
    ]
    # And only with the tags of a backup copy of the app, by the app's keys exactly (the
    # constant is the one source of truth: the keys the pipeline gives a backup copy)
    condition = statement["Condition"]
    assert condition["StringEquals"] == {
        f"aws:RequestTag/{TAG_APP}": APP_NAME,
        f"aws:RequestTag/{TAG_ROLE}": ROLE_BACKUP,
    }
    keys = condition["ForAllValues:StringEquals"]["aws:TagKeys"]
    assert sorted(keys) == sorted(BACKUP_COPY_TAG_KEYS)
    assert len(keys) == len(set(keys))
    assert set(condition) == {"StringEquals", "ForAllValues:StringEquals"}
    # And the creation tags of a backup copy use exactly those keys
    assert set(CREATION_TAGS) == set(BACKUP_COPY_TAG_KEYS)


@pytest.mark.parametrize(
    ("resource", "allowed"),
    [
        pytest.param(_rds_arn("snapshot", COPY_ID), True, id="copy-here"),
        pytest.param(_rds_arn("cluster-snapshot", COPY_ID), True, id="cluster-copy-here"),
        pytest.param(_rds_arn("snapshot", "orders-manual-1"), False, id="other-name-here"),
        pytest.param(
            _rds_arn("snapshot", COPY_ID, account=MAIN_ACCOUNT_ID), True, id="main-account-source"
        ),
        pytest.param(
            _rds_arn("snapshot", COPY_ID, account=OTHER_ACCOUNT_ID), False, id="other-account"
        ),
        pytest.param(_rds_arn("snapshot", COPY_ID, region="us-east-1"), False, id="other-region"),
    ],
)
def test_the_role_copies_from_the_main_account_into_this_one_under_the_apps_names(
    template: dict[str, Any], resource: str, allowed: bool
) -> None:
    # Given the role's policy
    statements = _identity_policy(template, "CrossAccountRole")
    kind = resource.split(":")[5]
    action = "rds:CopyDBSnapshot" if kind == "snapshot" else "rds:CopyDBClusterSnapshot"

    # When it copies (RDS authorizes the copy on the source and on the target)
    decision = evaluate(statements, action, resource)

    # Then sources are the main account's, targets this account's copies of the app
    assert decision.allowed is allowed


def test_the_role_uses_only_the_backup_key_and_only_through_rds(template: dict[str, Any]) -> None:
    # Given the role's KMS Allow statements
    statements = [
        s for s in _allow_statements(template) if any(a.startswith("kms:") for a in _actions(s))
    ]

    # When / Then each names the backup key, and grants and data-key use are conditioned
    assert set().union(*(_actions(s) for s in statements)) == {
        *KEY_USE_THROUGH_RDS,
        "kms:DescribeKey",
        "kms:CreateGrant",
    }
    # (the backup key here, with no source-region keys given; through RDS of this region or of
    # a source's, which reads its own key there)
    for statement in statements:
        assert statement["Resource"] == {"Fn::GetAtt": ["BackupKey", "Arn"]}
        if "kms:CreateGrant" in _actions(statement):
            assert statement["Condition"] == FOR_AWS_RESOURCE
        elif _actions(statement) & KEY_USE_THROUGH_RDS:
            assert statement["Condition"] == VIA_RDS_OF_ANY_REGION


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


THIRD_ACCOUNT_ID = "444444444444"
OTHER_OU_PATH = f"{ORGANIZATION_ID}/r-ab12/ou-ab12-22222222/"
SOURCES_CASES = [
    # (parameters, (caller account, its org id, its org path) -> admitted?)
    pytest.param(
        {"SourceAccountIds": f"{MAIN_ACCOUNT_ID},{OTHER_ACCOUNT_ID}"},
        [
            ((MAIN_ACCOUNT_ID, None, None), True),
            ((OTHER_ACCOUNT_ID, ORGANIZATION_ID, OU_PATH), True),
            ((THIRD_ACCOUNT_ID, ORGANIZATION_ID, OU_PATH), False),
        ],
        id="a-list",
    ),
    pytest.param(
        {"SourceAccountIds": "", "SourceOrganizationId": ORGANIZATION_ID},
        [
            ((MAIN_ACCOUNT_ID, ORGANIZATION_ID, OU_PATH), True),
            ((THIRD_ACCOUNT_ID, ORGANIZATION_ID, f"{ORGANIZATION_ID}/r-ab12/"), True),
            ((OTHER_ACCOUNT_ID, "o-zzzzzzzzzz", "o-zzzzzzzzzz/r-zz99/"), False),
            ((OTHER_ACCOUNT_ID, None, None), False),
        ],
        id="an-organization",
    ),
    pytest.param(
        {
            "SourceAccountIds": "",
            "SourceOrganizationId": ORGANIZATION_ID,
            "SourceOrganizationalUnitPaths": OU_PATH,
        },
        [
            ((MAIN_ACCOUNT_ID, ORGANIZATION_ID, OU_PATH), True),
            ((MAIN_ACCOUNT_ID, ORGANIZATION_ID, f"{OU_PATH}ou-ab12-33333333/"), True),
            ((THIRD_ACCOUNT_ID, ORGANIZATION_ID, OTHER_OU_PATH), False),
            ((OTHER_ACCOUNT_ID, None, None), False),
        ],
        id="organizational-units",
    ),
]


def _principal_context(
    account: str, org: str | None, path: str | None, role: str = f"rds-xacct-pipeline-{REGION}"
) -> dict[str, Any]:
    """What IAM knows of a principal of `account` (IAM User Guide, "AWS global condition context
    keys"): its ARN and account, and its organization's keys only when it is in one."""
    return {
        "aws:PrincipalArn": f"arn:aws:iam::{account}:role/{role}",
        "aws:PrincipalAccount": account,
        **({"aws:PrincipalOrgID": org, "aws:PrincipalOrgPaths": [path]} if org and path else {}),
    }


def _pipeline_caller(account: str) -> Caller:
    """A source account's pipeline role, as the key policy sees it."""
    return Caller(arn=f"arn:aws:iam::{account}:role/rds-xacct-pipeline-{REGION}", account=account)


@pytest.mark.parametrize(("parameters", "callers"), SOURCES_CASES)
def test_the_source_accounts_may_only_use_the_key_through_rds(
    template: dict[str, Any], parameters: dict[str, str], callers: list[Any]
) -> None:
    # Given the key policy of a stack given a list of accounts, an organization or its OUs
    statements = _key_policy_statements(template, parameters)
    via_rds = {"kms:ViaService": f"rds.{REGION}.amazonaws.com"}
    for (account, org, path), admitted in callers:
        caller = _pipeline_caller(account)
        context = _principal_context(account, org, path)
        # When a principal of an account uses the key through RDS, directly, or grants it
        # Then a source account may, and only through RDS; any other account may not
        for action in sorted(KEY_USE_THROUGH_RDS):
            rds = evaluate(statements, action, None, {**context, **via_rds}, caller)
            assert rds.allowed is admitted, (account, action)
            assert not evaluate(statements, action, None, context, caller).allowed
        grant = {**context, "kms:GrantIsForAWSResource": "true"}
        assert evaluate(statements, "kms:CreateGrant", None, grant, caller).allowed is admitted
        assert not evaluate(statements, "kms:CreateGrant", None, context, caller).allowed
        described = evaluate(statements, "kms:DescribeKey", None, context, caller)
        assert described.allowed is admitted, account


@pytest.mark.parametrize(("parameters", "callers"), SOURCES_CASES)
def test_the_source_accounts_are_denied_administering_the_key(
    template: dict[str, Any], parameters: dict[str, str], callers: list[Any]
) -> None:
    # Given the key policy, and principals of the source accounts (which their own IAM policies
    # might allow anything: the key policy alone decides what they can't do)
    statements = _key_policy_statements(template, parameters)
    via_rds = {"kms:ViaService": f"rds.{REGION}.amazonaws.com"}
    for (account, org, path), admitted in callers:
        caller = _pipeline_caller(account)
        context = {**_principal_context(account, org, path), **via_rds}
        # When it administers the key / Then nothing but DescribeKey is allowed, and what
        # changes the key is explicitly denied to every source account
        for action in sorted(_key_administration_in_the_template(template)):
            decision = evaluate(statements, action, None, context, caller)
            assert decision.allowed is (admitted and action == "kms:DescribeKey"), action
            if admitted and _changes_the_key(action):
                assert _denied_by(decision) == "SourceAccountsNeverAdministerTheKey", action

    # And the cross-account role is explicitly denied exactly the same KMS actions
    (key_deny,) = [s for s in statements if s.effect == "Deny"]
    role_deny = [
        s
        for s in _identity_policy(template, "CrossAccountRole", parameters)
        if s.effect == "Deny" and not s.conditions and s.actions
    ]
    kms_denied = {a for s in role_deny for a in s.actions if a.startswith("kms:")}
    assert kms_denied == set(key_deny.actions)

    # And the backup account's root still administers it, in the organization too
    root = Caller(arn=f"arn:aws:iam::{ACCOUNT}:root", account=ACCOUNT)
    inside = _principal_context(ACCOUNT, ORGANIZATION_ID, OU_PATH)
    inside["aws:PrincipalArn"] = f"arn:aws:iam::{ACCOUNT}:root"
    for action in sorted(KEY_ADMINISTRATION):
        assert evaluate(statements, action, None, inside, root).allowed, action


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


def _trust_statements(template: dict[str, Any], parameters: dict[str, str]) -> list[Statement]:
    role = _resolver(template, parameters).resolve(
        template["Resources"]["CrossAccountRole"]["Properties"]
    )
    return parse_policy(role["AssumeRolePolicyDocument"], holder="CrossAccountRole", policy="trust")


def _assumes(
    statements: list[Statement], context: dict[str, Any], session: str, account: str
) -> bool:
    caller = Caller(arn=str(context["aws:PrincipalArn"]), account=account)
    full = {**context, "sts:RoleSessionName": session}
    return evaluate(statements, "sts:AssumeRole", None, full, caller).allowed


@pytest.mark.parametrize(("parameters", "callers"), SOURCES_CASES)
def test_only_a_source_accounts_pipeline_role_assumes_the_role_naming_the_session_after_it(
    template: dict[str, Any], parameters: dict[str, str], callers: list[Any]
) -> None:
    # Given the cross-account role's trust policy (a list, an organization, its OUs)
    statements = _trust_statements(template, parameters)
    for (account, org, path), admitted in callers:
        pipeline = _principal_context(account, org, path)
        # When the pipeline role of an account assumes it, the session named after the account
        # Then a source account's may; no other account's
        assert _assumes(statements, pipeline, f"{account}-run-1", account) is admitted, account
        # And never with a session named otherwise: unnamed, another account's, or its own
        # account's id without the dash
        for session in ("run-1", f"{MAIN_ACCOUNT_ID}{account}-run-1", account, "attacker"):
            if session.startswith(f"{account}-"):
                continue
            assert not _assumes(statements, pipeline, session, account), (account, session)
        other = OTHER_ACCOUNT_ID if account != OTHER_ACCOUNT_ID else MAIN_ACCOUNT_ID
        assert not _assumes(statements, pipeline, f"{other}-run-1", account)
        # And no other role of the account may, however its session is named
        someone = _principal_context(account, org, path, role="someone-else")
        assert not _assumes(statements, someone, f"{account}-run-1", account)


def test_the_trust_names_the_pipeline_role_and_the_session_in_every_mode(
    template: dict[str, Any],
) -> None:
    # Given the trust policy as written
    trust = template["Resources"]["CrossAccountRole"]["Properties"]["AssumeRolePolicyDocument"]
    (statement,) = _statements(trust)
    # When / Then the source accounts may assume the role, their pipeline role only (by name:
    # no PipelineRoleArn, one ARN can't name many accounts), each session named after its
    # account, and with an organization only its accounts
    assert statement["Principal"] == SOURCES
    assert statement["Action"] == "sts:AssumeRole"
    condition = statement["Condition"]
    assert condition["ArnLike"] == {
        "aws:PrincipalArn": {
            "Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${SourceResourcePrefix}-pipeline-*"
        }
    }
    assert condition["StringLike"] == {"sts:RoleSessionName": "${aws:PrincipalAccount}-*"}
    assert condition["StringEquals"] == {
        "Fn::If": ["ByOrganization", IN_THE_ORGANIZATION, {"Ref": "AWS::NoValue"}]
    }
    assert "PipelineRoleArn" not in template["Parameters"]


def test_exactly_one_of_the_list_and_the_organization_is_given(template: dict[str, Any]) -> None:
    # Given the template's Rules (CloudFormation refuses a stack whose assertion fails)
    rules = template["Rules"]
    (either,) = rules["SourceAccountsOrOrganization"]["Assertions"]
    listed = {"Fn::EachMemberEquals": [{"Ref": "SourceAccountIds"}, ""]}
    no_org = {"Fn::Equals": [{"Ref": "SourceOrganizationId"}, ""]}
    # When / Then a list and no organization, or an organization and no list
    assert either["Assert"] == {
        "Fn::Or": [
            {"Fn::And": [{"Fn::Not": [listed]}, no_org]},
            {"Fn::And": [listed, {"Fn::Not": [no_org]}]},
        ]
    }
    # And OU paths only with an organization
    units = rules["OrganizationalUnitsNeedTheOrganization"]
    assert units["RuleCondition"] == {
        "Fn::Not": [{"Fn::EachMemberEquals": [{"Ref": "SourceOrganizationalUnitPaths"}, ""]}]
    }
    assert units["Assertions"][0]["Assert"] == {"Fn::Not": [no_org]}


# --- The keeper ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("resource", "context", "allowed"),
    [
        pytest.param("{kind}:" + COPY_ID, APP_COPY, True, id="app-copy"),
        pytest.param("{kind}:" + COPY_ID, {}, False, id="untagged-xacct"),
        pytest.param(
            "{kind}:" + COPY_ID,
            {f"aws:ResourceTag/{TAG_APP}": "someone-else"},
            False,
            id="other-app-xacct",
        ),
        pytest.param("{kind}:orders-manual-1", APP_COPY, False, id="tagged-not-xacct"),
        pytest.param("{kind}:" + COPY_ID + "@main", APP_COPY, False, id="main-account"),
    ],
)
def test_the_keeper_deletes_only_the_apps_copies_here(
    template: dict[str, Any], kind: str, resource: str, context: Context, allowed: bool
) -> None:
    # Given the keeper role's policy and a snapshot of this (or the main) account
    statements = _identity_policy(template, "KeeperRole")
    name = resource.format(kind=kind).split(":", 1)[1]
    identifier, _, where = name.partition("@")
    arn = _rds_arn(kind, identifier, account=MAIN_ACCOUNT_ID if where else ACCOUNT)

    # When the keeper deletes it
    decision = evaluate(statements, DELETES[kind], arn, context)

    # Then only an xacct-* snapshot of this account carrying the app's tag
    assert decision.allowed is allowed


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("parameters", PARAMETER_SETTINGS)
def test_only_the_keeper_may_delete_a_snapshot(
    template: dict[str, Any], parameters: dict[str, str], kind: str
) -> None:
    # Given every role of the template, and an app copy here
    arn = _rds_arn(kind, COPY_ID)

    for role in _roles(template):
        # When the role deletes the copy
        decision = evaluate(
            _identity_policy(template, role, parameters), DELETES[kind], arn, APP_COPY
        )

        # Then only the keeper's role may
        assert decision.allowed is (role == "KeeperRole"), role

    # And no statement of the template but the keeper's allows any delete of RDS, DynamoDB,
    # Lambda or logs (the key policy's administration aside, which is KMS's)
    deleting = {
        (role, action)
        for role in _roles(template)
        for statement in _allow_statements(template, role)
        for action in _actions(statement)
        if action.split(":")[1].startswith(("Delete", "Remove"))
    }
    # (the slot broker deletes items of its own table: a waiter served, a holder given back)
    assert deleting == {("KeeperRole", action) for action in DELETES.values()} | {
        ("SlotBrokerRole", "dynamodb:DeleteItem")
    }


def test_the_keeper_writes_only_its_ledger_and_its_log(template: dict[str, Any]) -> None:
    # Given the keeper role's policy
    statements = _identity_policy(template, "KeeperRole")
    other_table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/other"

    # When / Then it reads and writes its ledger, and no other table, and deletes no item
    for action in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Scan"):
        assert evaluate(statements, action, LEDGER_ARN).allowed, action
        assert not evaluate(statements, action, other_table).allowed, action
    for action in ("dynamodb:DeleteItem", "dynamodb:DeleteTable"):
        assert not evaluate(statements, action, LEDGER_ARN).allowed, action
    # And it writes its own log
    for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
        stream = f"{LOG_GROUP_ARN.removesuffix('*')}log-stream:2026/11/24/[$LATEST]abc"
        assert evaluate(statements, action, stream).allowed, action
    # And changes nothing else: no tags, no copies, no key, no other function
    assert not evaluate(statements, "rds:AddTagsToResource", _rds_arn("snapshot", COPY_ID)).allowed
    assert not evaluate(statements, "rds:CopyDBSnapshot", _rds_arn("snapshot", COPY_ID)).allowed
    assert not evaluate(statements, "kms:Decrypt", KEY_ARN).allowed
    assert not evaluate(statements, "lambda:InvokeFunction", KEEPER_ARN).allowed


def test_the_keeper_and_its_pass_run_with_the_settings_they_read(template: dict[str, Any]) -> None:
    # Given the keeper function and its hourly pass
    resources = template["Resources"]
    keeper_properties = resources["KeeperFunction"]["Properties"]
    pass_properties = resources["KeeperPassFunction"]["Properties"]

    for logical_id in ("KeeperFunction", "KeeperPassFunction"):
        function = resources[logical_id]
        properties = function["Properties"]
        # When / Then each is a SAM function run by the keeper's role, on the same code
        assert function["Type"] == "AWS::Serverless::Function"
        assert properties["Role"] == {"Fn::GetAtt": ["KeeperRole", "Arn"]}
        assert properties["CodeUri"] == keeper_properties["CodeUri"]
        # And its environment is exactly what rds_xacct.keeper reads, from the parameters and
        # ledger (the pass's freshness check reads two more)
        # (the keeper's URL entry reads the one caller it answers, the cross-account role)
        own = (
            {
                ENV_RPO_HOURS: {"Ref": "RecoveryPointObjectiveHours"},
                keeper.ENV_IGNORED: {"Ref": "FreshnessIgnoredDatabases"},
            }
            if logical_id == "KeeperPassFunction"
            else {
                ENV_CALLER_ROLE_ARN: {
                    "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/"
                    "${ResourcePrefix}-backup-copy"
                }
            }
        )
        assert properties["Environment"]["Variables"] == {
            keeper.ENV_SOURCE_ACCOUNT_IDS: {"Fn::Join": [",", {"Ref": "SourceAccountIds"}]},
            keeper.ENV_SOURCE_ORGANIZATION_ID: {"Ref": "SourceOrganizationId"},
            keeper.ENV_MIN_RETENTION_DAYS: {"Ref": "MinimumRetentionDays"},
            keeper.ENV_LONGEST_RETENTION_DAYS: {"Ref": "LongestRetentionDays"},
            keeper.ENV_LEDGER_TABLE: {"Ref": "KeeperLedger"},
            **own,
        }
        # And it logs into the group whose retention the stack sets
        assert properties["LoggingConfig"]["LogGroup"] == {"Ref": "KeeperLogGroup"}
    # And the keeper answers requests, with no event; the pass's one event is the schedule
    assert keeper_properties["Handler"] == "keeper.handler"
    assert "Events" not in keeper_properties
    assert pass_properties["Handler"] == "keeper.hourly"
    events = pass_properties["Events"]
    assert [e["Type"] for e in events.values()] == ["Schedule"]
    (event,) = events.values()
    assert event["Properties"]["Schedule"] == KEEPER_SCHEDULE


def test_the_role_may_call_the_keeper_through_its_url_and_never_its_pass(
    template: dict[str, Any],
) -> None:
    # Given the cross-account role's statements that name Lambda
    role = template["Resources"]["CrossAccountRole"]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    invoking = [s for s in statements if s["Effect"] == "Allow" and "lambda:" in str(s["Action"])]
    # When / Then the Allows call the keeper alone, through its URL (Lambda authorizes a call
    # against the function's ARN: the pass is another function, so no call of it is allowed;
    # a URL made since October 2025 needs both actions)
    keeper_arn = {"Fn::GetAtt": ["KeeperFunction", "Arn"]}
    broker_arn = {"Fn::GetAtt": ["SlotBrokerFunction", "Arn"]}
    assert invoking[2:] == [
        {
            "Sid": "AskTheSlotBrokerThroughItsUrl",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunctionUrl",
            "Resource": broker_arn,
            "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}},
        },
        {
            "Sid": "AskTheSlotBroker",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": broker_arn,
            "Condition": {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}},
        },
    ]
    assert invoking[:2] == [
        {
            "Sid": "AskTheKeeperThroughItsUrl",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunctionUrl",
            "Resource": keeper_arn,
            "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}},
        },
        {
            "Sid": "AskTheKeeper",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": keeper_arn,
            "Condition": {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}},
        },
    ]


@pytest.mark.parametrize(
    ("parameters", "accounts", "organization"),
    [
        pytest.param({}, {MAIN_ACCOUNT_ID}, "", id="one-account"),
        pytest.param(
            {"SourceAccountIds": f"{MAIN_ACCOUNT_ID},{OTHER_ACCOUNT_ID}"},
            {MAIN_ACCOUNT_ID, OTHER_ACCOUNT_ID},
            "",
            id="two-accounts",
        ),
        pytest.param(
            {"SourceAccountIds": "", "SourceOrganizationId": ORGANIZATION_ID},
            set(),
            ORGANIZATION_ID,
            id="an-organization",
        ),
    ],
)
def test_the_keeper_serves_the_source_accounts_the_stack_names(
    template: dict[str, Any], parameters: dict[str, str], accounts: set[str], organization: str
) -> None:
    resolver = _resolver(template, parameters)
    specs = function_specs(template, resolver, function_names(template, resolver))
    for spec in (specs[name] for name in KEEPER_FUNCTIONS):
        settings = keeper.KeeperSettings.from_env(spec.environment)
        assert settings.source_accounts == accounts
        assert settings.organization_id == organization
        # (with an organization, any account: only its accounts can assume the role)
        assert settings.serves(MAIN_ACCOUNT_ID)
        assert settings.serves(THIRD_ACCOUNT_ID) is bool(organization)
    caller_role = specs["KeeperFunction"].environment[ENV_CALLER_ROLE_ARN]
    assert caller_role == f"arn:aws:iam::{ACCOUNT}:role/rds-xacct-backup-copy"


def test_the_keepers_settings_resolve_to_what_the_keeper_accepts(template: dict[str, Any]) -> None:
    # Given the template resolved with its defaults
    resolver = _resolver(template)

    # When the keeper's environment is resolved as CloudFormation would
    specs = function_specs(template, resolver, function_names(template, resolver))

    # Then the keeper and its pass read their settings from it
    for spec in (specs[name] for name in KEEPER_FUNCTIONS):
        settings = keeper.KeeperSettings.from_env(spec.environment)
        assert settings.source_accounts == {MAIN_ACCOUNT_ID}
        assert settings.min_retention_days == DEFAULT_MIN_RETENTION_DAYS
        assert settings.longest_retention_days == 0
        assert settings.ledger_table == LEDGER_NAME
        assert settings.rpo_hours == RECOVERY_POINT_OBJECTIVE_HOURS
        assert settings.ignored == frozenset()
    assert specs["KeeperFunction"].name == KEEPER_NAME
    assert specs["KeeperPassFunction"].name == f"{KEEPER_NAME}-pass"


def test_the_slot_brokers_settings_resolve_to_what_the_broker_accepts(
    template: dict[str, Any],
) -> None:
    # Given the template resolved with its defaults
    resolver = _resolver(template)
    specs = function_specs(template, resolver, function_names(template, resolver))
    # When the broker reads its environment, Then it keeps this account's pool, of the
    # parameter's size, answering only the cross-account role's sessions
    settings = broker.BrokerSettings.from_env(
        {**specs["SlotBrokerFunction"].environment, "AWS_REGION": REGION}
    )
    assert settings == broker.BrokerSettings(
        table=f"{APP_NAME}-backup-copy-slots",
        limit=DEFAULT_MAX_COPIES_IN_FLIGHT,
        account=ACCOUNT,
        region=REGION,
        role_name=f"{APP_NAME}-backup-copy",
    )
    assert template["Parameters"]["MaxCopiesInFlight"]["MaxValue"] == RDS_COPIES_IN_PROGRESS_LIMIT


def test_the_slot_broker_may_keep_its_table_and_only_wake_runs_through_their_callback_roles(
    template: dict[str, Any],
) -> None:
    statements = _identity_policy(template, "SlotBrokerRole")
    for action in ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"):
        assert evaluate(statements, action, SLOTS_ARN).allowed
        assert not evaluate(statements, action, LEDGER_ARN).allowed
    callback = f"arn:aws:iam::{MAIN_ACCOUNT_ID}:role/{APP_NAME}-slot-callback-{REGION}"
    assert evaluate(statements, "sts:AssumeRole", callback).allowed
    assert not evaluate(
        statements, "sts:AssumeRole", f"arn:aws:iam::{MAIN_ACCOUNT_ID}:role/admin"
    ).allowed
    for action in ("rds:DeleteDBSnapshot", "lambda:InvokeFunction", "kms:Decrypt"):
        assert not evaluate(statements, action, "*").allowed


def test_the_keepers_code_is_the_functions_directory_on_the_main_runtime(
    template: dict[str, Any],
) -> None:
    # Given the keeper function and the main template's functions
    properties = template["Resources"]["KeeperFunction"]["Properties"]
    main = load_cfn_yaml(TEMPLATE)["Globals"]["Function"]

    # When its code directory and handler are resolved from the template's own directory
    code = (BACKUP_TEMPLATE.parent / properties["CodeUri"]).resolve()
    module_name, function_name = properties["Handler"].rsplit(".", 1)

    # Then it is the app's functions/ directory, the handler file exists, its function too
    assert code == (ROOT / "functions").resolve()
    assert (code / f"{module_name}.py").is_file()
    module = importlib.import_module(module_name)
    assert callable(getattr(module, function_name))
    assert module.__file__ is not None
    assert (code / f"{module_name}.py").samefile(module.__file__)
    # And it runs on the main stack's runtime and architecture
    assert properties["Runtime"] == main["Runtime"]
    assert properties["Architectures"] == main["Architectures"]


def test_the_keepers_ledger_and_log_are_kept(template: dict[str, Any]) -> None:
    # Given the ledger and the log group
    resources = template["Resources"]
    ledger, log = resources["KeeperLedger"], resources["KeeperLogGroup"]

    # When / Then both survive the stack, the ledger can't be deleted by mistake and is keyed
    # by the copy's ARN (rds_xacct.keeper.ledger.Ledger)
    for resource in (ledger, log):
        assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain"
    assert ledger["Properties"]["DeletionProtectionEnabled"] is True
    assert ledger["Properties"]["KeySchema"] == [{"AttributeName": "arn", "KeyType": "HASH"}]
    assert log["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


# --- Created in moto's CloudFormation -----------------------------------------------------------


@pytest.mark.parametrize(
    "optional",
    [
        pytest.param({}, id="defaults"),
        pytest.param(
            {
                "SourceAccountIds": f"{MAIN_ACCOUNT_ID},{OTHER_ACCOUNT_ID}",
                "KeyAdministratorArn": KEY_ADMIN_ARN,
                "ResourcePrefix": "xacct-test",
                "MinimumRetentionDays": "3",
            },
            id="all-set",
        ),
        pytest.param(
            {
                "SourceAccountIds": "",
                "SourceOrganizationId": ORGANIZATION_ID,
                "SourceOrganizationalUnitPaths": OU_PATH,
            },
            id="organizational-units",
        ),
    ],
)
def test_the_stack_is_created_and_its_outputs_feed_the_main_stack(optional: dict[str, str]) -> None:
    with mock_aws():
        # Given the template as plain CloudFormation (moto runs no SAM transform: the keeper
        # function is left out and its ARN written as Lambda gives it, as the simulation
        # deploys it; tests/e2e/test_sam_deploy.py creates the transformed template)
        cfn = boto3.client("cloudformation", region_name=REGION)
        parameters = {"SourceAccountIds": MAIN_ACCOUNT_ID, **optional}
        by_organization = bool(parameters.get("SourceOrganizationId"))
        sources = [a for a in parameters["SourceAccountIds"].split(",") if a]
        prefix = optional.get("ResourcePrefix", APP_NAME)
        template = load_cfn_yaml(BACKUP_TEMPLATE)

        # When the stack is created
        cfn.create_stack(
            StackName="rds-xacct-backup-account",
            TemplateBody=json.dumps(without_serverless(template)),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )

        # Then it is complete, with a KMS key and an IAM role as outputs (and the alarms' topic;
        # the keeper's URL is made with the function, by the simulation)
        (stack,) = cfn.describe_stacks(StackName="rds-xacct-backup-account")["Stacks"]
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        assert outputs.pop("AlarmTopicArn") == f"arn:aws:sns:{REGION}:{ACCOUNT}:{prefix}-alarms"
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
                "AWS_REGION": REGION,
                "BACKUP_ACCOUNT_ID": ACCOUNT,
                "BACKUP_KMS_KEY_ARN": key_arn,
                "BACKUP_ROLE_ARN": outputs["BackupAccountRoleArn"],
                "BACKUP_KEEPER_URL": f"https://k33p3r.lambda-url.{REGION}.on.aws/",
                "BACKUP_SLOT_BROKER_URL": f"https://s10t5.lambda-url.{REGION}.on.aws/",
            }
        )
        assert settings.backup_kms_key_arn == key_arn

        # And the key rotates and carries its alias
        kms = boto3.client("kms", region_name=REGION)
        key_id = key_arn.rsplit("/", 1)[-1]
        assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
        aliases = kms.list_aliases(KeyId=key_id)["Aliases"]
        assert [a["AliasName"] for a in aliases] == [f"alias/{prefix}-backup"]

        # And the key policy names this account, the source accounts (or everyone, narrowed to
        # the organization) and the administrator (if set), with no statement left empty by an
        # Fn::If. moto 5.2's CloudFormation keeps
        # KeyPolicy as the template's dict instead of a JSON string, so kms:GetKeyPolicy answers
        # NotFound and kms:DescribeKey fails on that key: the policy is read from moto's backend.
        raw: Any = kms_backends[ACCOUNT][REGION].keys[key_id].policy
        policy = json.loads(raw) if isinstance(raw, str) else raw
        assert all(isinstance(s, dict) for s in policy["Statement"])
        principals = {p for s in policy["Statement"] for p in _as_list(s["Principal"]["AWS"])}
        expected = {f"arn:aws:iam::{ACCOUNT}:root", *(["*"] if by_organization else sources)}
        if "KeyAdministratorArn" in optional:
            expected.add(KEY_ADMIN_ARN)
        assert principals == expected

        # And the role trusts the source accounts (or the organization's), their pipeline role
        # only, each session named after its account
        iam = boto3.client("iam")
        role = iam.get_role(RoleName=f"{prefix}-backup-copy")["Role"]
        document: Any = role["AssumeRolePolicyDocument"]  # boto3 decodes it into a dict
        (trust,) = document["Statement"]
        assert trust["Principal"] == {"AWS": "*" if by_organization else sources}
        assert trust["Condition"]["ArnLike"] == {
            "aws:PrincipalArn": "arn:aws:iam::*:role/rds-xacct-pipeline-*"
        }
        assert trust["Condition"]["StringLike"] == {
            "sts:RoleSessionName": "${aws:PrincipalAccount}-*"
        }
        if by_organization:
            assert trust["Condition"]["StringEquals"] == {"aws:PrincipalOrgID": ORGANIZATION_ID}
            assert trust["Condition"]["ForAnyValue:StringLike"] == {
                "aws:PrincipalOrgPaths": [f"{OU_PATH}*"]
            }
        else:
            assert set(trust["Condition"]) == {"ArnLike", "StringLike"}
        # And the keeper's role and ledger exist, and its environment, resolved against the
        # stack's resources, is what the keeper accepts
        iam.get_role(RoleName=f"{prefix}-keeper")
        resources = {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in cfn.list_stack_resources(StackName="rds-xacct-backup-account")[
                "StackResourceSummaries"
            ]
        }
        assert resources["KeeperLedger"] == f"{prefix}-keeper-ledger"
        table = boto3.client("dynamodb", region_name=REGION).describe_table(
            TableName=resources["KeeperLedger"]
        )["Table"]
        assert table["KeySchema"] == [{"AttributeName": "arn", "KeyType": "HASH"}]
        resolver = Resolver(template, parameters, account=ACCOUNT, region=REGION, refs=resources)
        specs = function_specs(template, resolver, function_names(template, resolver))
        settings_here = keeper.KeeperSettings.from_env(specs["KeeperFunction"].environment)
        assert settings_here.ledger_table == resources["KeeperLedger"]
        assert settings_here.min_retention_days == int(
            optional.get("MinimumRetentionDays", DEFAULT_MIN_RETENTION_DAYS)
        )


def test_a_backup_region_reads_the_source_regions_keys_through_rds(
    template: dict[str, Any],
) -> None:
    # Given the stack of a backup region given the keys of its source regions' stacks
    conditions = {**LIST, "HasSourceRegionKeys": True}
    statements = [
        s
        for s in _statements(_role(template, conditions)["Policies"][0]["PolicyDocument"])
        if s["Effect"] == "Allow" and any(a.startswith("kms:") for a in _actions(s))
    ]
    # When / Then every KMS statement names the key here and those keys, nothing else
    expected = {
        "Fn::Split": [
            ",",
            {
                "Fn::Join": [
                    ",",
                    [
                        {"Fn::GetAtt": ["BackupKey", "Arn"]},
                        {"Fn::Join": [",", {"Ref": "SourceRegionKmsKeyArns"}]},
                    ],
                ]
            },
        ]
    }
    assert statements
    assert all(s["Resource"] == expected for s in statements)


def test_a_source_region_key_stack_makes_the_key_alone(template: dict[str, Any]) -> None:
    # Given StackPurpose source-region-key (the key of a source region whose copies land in
    # another region)
    made = [
        name
        for name, resource in template["Resources"].items()
        if resource.get("Condition") not in ("ReceivesCopies", "HasAlarmEmail")
    ]
    # (HasAlarmEmail holds only with ReceivesCopies)
    assert "ReceivesCopies" in str(template["Conditions"]["HasAlarmEmail"])
    outputs = [
        name for name, output in template["Outputs"].items() if output.get("Condition") is None
    ]
    # When / Then only the key, its alias and its ARN are made: no role, keeper or alarm
    assert sorted(made) == ["BackupKey", "BackupKeyAlias"]
    assert outputs == ["BackupAccountKmsKeyArn"]
