"""The IAM policy checker the simulation enforces permissions with (simulation/iam/policy.py)
and the resources it derives from requests (simulation/iam/)."""

from __future__ import annotations

from typing import Any

import pytest

from simulation.iam import RequestInfo, UnknownOperation, requests_of
from simulation.iam.policy import (
    Caller,
    UnsupportedCondition,
    action_matches,
    evaluate,
    parse_policy,
    resource_matches,
)

MAIN = "123456789012"
SNAPSHOTS = f"arn:aws:rds:eu-west-1:{MAIN}:snapshot:*"
COPY = f"arn:aws:rds:eu-west-1:{MAIN}:snapshot:xacct-orders-db-1"


def policy(*statements: dict[str, Any]) -> list[Any]:
    return parse_policy({"Statement": list(statements)}, holder="Role", policy="p", source="t")


ALLOW_COPY = {"Effect": "Allow", "Action": "rds:CopyDBSnapshot", "Resource": SNAPSHOTS}


def test_an_arn_inside_the_resource_is_allowed_and_the_statement_named() -> None:
    decision = evaluate(policy(ALLOW_COPY), "rds:CopyDBSnapshot", COPY)
    assert decision.allowed
    assert [(m.action, m.resource) for m in decision.matches] == [("rds:CopyDBSnapshot", SNAPSHOTS)]


def test_an_arn_outside_the_resource_is_refused() -> None:
    other_account = "arn:aws:rds:eu-west-1:999999999999:snapshot:xacct-orders-db-1"
    cluster = f"arn:aws:rds:eu-west-1:{MAIN}:cluster-snapshot:xacct-orders-db-1"
    for resource in (other_account, cluster):
        assert not evaluate(policy(ALLOW_COPY), "rds:CopyDBSnapshot", resource).allowed


def test_an_action_not_granted_is_refused_even_on_a_granted_resource() -> None:
    assert not evaluate(policy(ALLOW_COPY), "rds:DeleteDBSnapshot", COPY).allowed


def test_a_deny_wins_over_any_allow() -> None:
    deny = {"Sid": "NoCopies", "Effect": "Deny", "Action": "rds:Copy*", "Resource": "*"}
    decision = evaluate(policy(ALLOW_COPY, deny), "rds:CopyDBSnapshot", COPY)
    assert not decision.allowed
    assert decision.denied_by is not None
    assert decision.denied_by.ref.sid == "NoCopies"


def test_wildcards_match_as_iam_does() -> None:
    assert action_matches("kms:ReEncrypt*", "kms:ReEncryptFrom")
    assert action_matches("RDS:copydbsnapshot", "rds:CopyDBSnapshot")  # actions: any case
    assert action_matches("rds:Describe?BSnapshots", "rds:DescribeDBSnapshots")
    assert not action_matches("rds:Describe?Snapshots", "rds:DescribeDBSnapshots")
    assert resource_matches(SNAPSHOTS, COPY)
    assert resource_matches("arn:aws:rds:*:*:snapshot:xacct-*", COPY)  # `*` crosses `:`
    assert not resource_matches(SNAPSHOTS.replace("snapshot", "SNAPSHOT"), COPY)  # case counts
    assert not resource_matches("arn:aws:rds:eu-west-1:123456789012:snapshot:[x]*", COPY)
    assert evaluate(policy({**ALLOW_COPY, "Resource": "*"}), "rds:CopyDBSnapshot", COPY).allowed


def test_a_resource_tag_condition_allows_only_tagged_resources() -> None:
    tagged_only = {
        "Effect": "Allow",
        "Action": "rds:DeleteDBSnapshot",
        "Resource": SNAPSHOTS,
        "Condition": {"StringEquals": {"aws:ResourceTag/rds-xacct:app": "rds-xacct"}},
    }
    statements = policy(tagged_only)
    ours = {"aws:resourcetag/rds-xacct:app": "rds-xacct"}  # (keys: any case)
    assert evaluate(statements, "rds:DeleteDBSnapshot", COPY, ours).allowed
    decision = evaluate(statements, "rds:DeleteDBSnapshot", COPY, {"aws:ResourceTag/x": "y"})
    assert not decision.allowed
    assert decision.unmet == statements  # named as "conditions that do not hold"
    assert not evaluate(statements, "rds:DeleteDBSnapshot", COPY, {}).allowed


def test_condition_operators_and_absent_keys() -> None:
    def allows(condition: dict[str, Any], context: dict[str, Any]) -> bool:
        statement = {**ALLOW_COPY, "Condition": condition}
        return evaluate(policy(statement), "rds:CopyDBSnapshot", COPY, context).allowed

    via = {"StringEquals": {"kms:ViaService": "rds.eu-west-1.amazonaws.com"}}
    assert allows(via, {"kms:ViaService": "rds.eu-west-1.amazonaws.com"})
    assert not allows(via, {"kms:ViaService": "s3.eu-west-1.amazonaws.com"})
    assert not allows(via, {})  # an absent key: false
    assert allows({"StringNotEquals": {"aws:ResourceTag/keep": "yes"}}, {})  # negated: true
    assert allows({"StringEqualsIfExists": {"aws:ResourceTag/keep": "yes"}}, {})
    assert allows(
        {"Bool": {"kms:GrantIsForAWSResource": "true"}}, {"kms:GrantIsForAWSResource": "true"}
    )
    assert not allows({"Bool": {"kms:GrantIsForAWSResource": True}}, {})
    arn = "arn:aws:iam::123456789012:role/rds-xacct-pipeline-eu-west-1"
    assert allows({"ArnEquals": {"aws:PrincipalArn": arn}}, {"aws:PrincipalArn": arn})
    assert allows(
        {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/rds-*"}}, {"aws:PrincipalArn": arn}
    )
    assert not allows({"ArnEquals": {"aws:PrincipalArn": arn}}, {"aws:PrincipalArn": arn + "x"})
    assert allows({"StringLike": {"aws:ResourceTag/a": ["x*", "y"]}}, {"aws:ResourceTag/a": "xz"})
    assert allows({"Null": {"aws:ResourceTag/a": "true"}}, {})
    with pytest.raises(UnsupportedCondition, match="NumericLessThan"):
        allows({"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}, {})


APP_TAG_KEYS = ["rds-xacct:app", "rds-xacct:role"]


def test_for_all_values_holds_when_every_request_value_matches_or_the_key_is_absent() -> None:
    # IAM User Guide, "Set operators for multivalued context keys": ForAllValues is true when
    # every value in the request matches some value of the policy, and when the key is absent
    # or empty (so it is paired with another condition wherever absence must not allow)
    def allows(context: dict[str, Any]) -> bool:
        condition = {"ForAllValues:StringEquals": {"aws:TagKeys": APP_TAG_KEYS}}
        statement = {**ALLOW_COPY, "Condition": condition}
        return evaluate(policy(statement), "rds:CopyDBSnapshot", COPY, context).allowed

    # Given a policy allowing only the app's tag keys
    # Then a request with only those keys, some of them, one of them, or none is allowed
    assert allows({"aws:TagKeys": ["rds-xacct:app", "rds-xacct:role"]})
    assert allows({"aws:TagKeys": ["rds-xacct:role"]})
    assert allows({"aws:TagKeys": "rds-xacct:app"})  # a single value
    assert allows({})  # the key absent: true
    assert allows({"aws:TagKeys": []})  # the key empty: true
    # And one key outside the list refuses the whole request
    assert not allows({"aws:TagKeys": ["rds-xacct:app", "owner"]})
    assert not allows({"aws:tagkeys": ["owner"]})  # (keys: any case)
    # And StringLike's wildcards apply to each value
    statement = {
        **ALLOW_COPY,
        "Condition": {"ForAllValues:StringLike": {"aws:TagKeys": "rds-xacct:*"}},
    }
    assert evaluate(
        policy(statement),
        "rds:CopyDBSnapshot",
        COPY,
        {"aws:TagKeys": ["rds-xacct:a", "rds-xacct:b"]},
    ).allowed
    assert not evaluate(
        policy(statement), "rds:CopyDBSnapshot", COPY, {"aws:TagKeys": ["rds-xacct:a", "b"]}
    ).allowed


def test_for_any_value_holds_when_one_request_value_matches_never_when_absent() -> None:
    def allows(context: dict[str, Any]) -> bool:
        condition = {"ForAnyValue:StringEquals": {"aws:TagKeys": APP_TAG_KEYS}}
        statement = {**ALLOW_COPY, "Condition": condition}
        return evaluate(policy(statement), "rds:CopyDBSnapshot", COPY, context).allowed

    # Given a policy asking for at least one of the app's tag keys
    # Then one of them among others is enough; none of them, an absent or empty key is not
    assert allows({"aws:TagKeys": ["owner", "rds-xacct:role"]})
    assert allows({"aws:TagKeys": "rds-xacct:app"})
    assert not allows({"aws:TagKeys": ["owner", "team"]})
    assert not allows({})
    assert not allows({"aws:TagKeys": []})


def test_a_negated_set_operator_matches_as_the_iam_user_guides_table_says() -> None:
    # IAM User Guide, "Multivalued context key examples": a Deny with
    # "ForAllValues:StringNotLike": {"aws:TagKeys": "key1*"} matches key2:audit and a request
    # without tag keys, not key1:legal nor [key1:hr, key1:personnel]
    def denied(operator: str, context: dict[str, Any]) -> bool:
        deny = {
            "Effect": "Deny",
            "Action": "rds:CopyDBSnapshot",
            "Resource": "*",
            "Condition": {operator: {"aws:TagKeys": ["key1*"]}},
        }
        return not evaluate(policy(ALLOW_COPY, deny), "rds:CopyDBSnapshot", COPY, context).allowed

    assert denied("ForAllValues:StringNotLike", {"aws:TagKeys": ["key2:audit"]})
    assert denied("ForAllValues:StringNotLike", {})
    assert not denied("ForAllValues:StringNotLike", {"aws:TagKeys": ["key1:legal"]})
    assert not denied("ForAllValues:StringNotLike", {"aws:TagKeys": ["key1:hr", "key1:x"]})
    # And ForAnyValue with a negated operator matches when one request value matches none of
    # the policy's values (never when the key is absent)
    assert denied("ForAnyValue:StringNotLike", {"aws:TagKeys": ["key1:legal", "owner"]})
    assert not denied("ForAnyValue:StringNotLike", {"aws:TagKeys": ["key1:legal"]})
    assert not denied("ForAnyValue:StringNotLike", {})


@pytest.mark.parametrize(
    "operator",
    [
        "ForAllValues:ArnEquals",
        "ForAnyValue:ArnNotLike",
        "Sometimes:StringEquals",
    ],
)
def test_a_set_operator_the_evaluator_does_not_decide_is_refused(operator: str) -> None:
    # Anything but the string operators under a set operator is not simulated: the harness
    # says so rather than guess
    statement = {**ALLOW_COPY, "Condition": {operator: {"aws:TagKeys": APP_TAG_KEYS}}}
    with pytest.raises(UnsupportedCondition, match=operator):
        evaluate(policy(statement), "rds:CopyDBSnapshot", COPY, {"aws:TagKeys": ["a"]})


def test_a_trust_policy_admits_the_account_its_principal_names_and_no_other() -> None:
    trust = parse_policy(
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{MAIN}:root"},
                    "Action": "sts:AssumeRole",
                }
            ]
        },
        holder="CrossAccountRole",
        policy="trust",
    )
    role = f"arn:aws:iam::{MAIN}:role/rds-xacct-pipeline-eu-west-1"
    assert evaluate(trust, "sts:AssumeRole", None, {}, Caller(arn=role, account=MAIN)).allowed
    stranger = Caller(arn="arn:aws:iam::999999999999:role/x", account="999999999999")
    assert not evaluate(trust, "sts:AssumeRole", None, {}, stranger).allowed
    lambda_trust = policy(
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    )
    assert evaluate(
        lambda_trust, "sts:AssumeRole", None, {}, Caller(service="lambda.amazonaws.com")
    ).allowed
    assert not evaluate(
        lambda_trust, "sts:AssumeRole", None, {}, Caller(service="states.amazonaws.com")
    ).allowed


def test_each_item_of_a_transaction_is_authorized_as_its_own_action() -> None:
    table = f"arn:aws:dynamodb:eu-west-1:{MAIN}:table/rds-xacct-copy-slots"
    info = RequestInfo(
        "dynamodb",
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Update": {"TableName": "rds-xacct-copy-slots"}},
                {"Put": {"TableName": "rds-xacct-copy-slots"}},
                {"ConditionCheck": {"TableName": table}},
            ]
        },
        MAIN,
        "eu-west-1",
    )
    assert [(n.action, n.resource) for n in requests_of(info)] == [
        ("dynamodb:UpdateItem", table),
        ("dynamodb:PutItem", table),
        ("dynamodb:ConditionCheckItem", table),
    ]


def test_requests_name_their_resources_and_an_unknown_operation_is_refused() -> None:
    def needs(service: str, operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
        info = RequestInfo(service, operation, params, MAIN, "eu-west-1")
        return [(n.action, n.resource) for n in requests_of(info)]

    assert needs("ssm", "GetParameter", {"Name": "/rds-xacct/slack-webhook"}) == [
        ("ssm:GetParameter", f"arn:aws:ssm:eu-west-1:{MAIN}:parameter/rds-xacct/slack-webhook")
    ]
    assert needs("states", "SendTaskSuccess", {"taskToken": "t"}) == [
        ("states:SendTaskSuccess", "*")
    ]
    assert needs("rds", "DescribeDBSnapshots", {"DBInstanceIdentifier": "orders-db"}) == [
        ("rds:DescribeDBSnapshots", SNAPSHOTS),
        ("rds:DescribeDBSnapshots", f"arn:aws:rds:eu-west-1:{MAIN}:db:orders-db"),
    ]
    role = "arn:aws:iam::222222222222:role/rds-xacct-backup-copy"
    assert needs("sts", "AssumeRole", {"RoleArn": role}) == [("sts:AssumeRole", role)]
    with pytest.raises(UnknownOperation, match="rds:RebootDBInstance"):
        needs("rds", "RebootDBInstance", {})


def test_a_policy_variable_of_the_request_context_is_replaced_in_a_condition() -> None:
    # Given the backup role's trust condition: a session named after the account assuming it
    # (IAM User Guide: "You can use any single-valued condition key as a variable")
    statement = {
        **ALLOW_COPY,
        "Condition": {"StringLike": {"sts:RoleSessionName": "${aws:PrincipalAccount}-*"}},
    }

    def allows(context: dict[str, Any]) -> bool:
        return evaluate(policy(statement), "rds:CopyDBSnapshot", COPY, context).allowed

    # When / Then the variable is the caller's account; absent from the context, nothing matches
    assert allows({"aws:PrincipalAccount": MAIN, "sts:RoleSessionName": f"{MAIN}-run-1"})
    assert not allows({"aws:PrincipalAccount": MAIN, "sts:RoleSessionName": "333333333333-run"})
    assert not allows({"aws:PrincipalAccount": MAIN, "sts:RoleSessionName": "run-1"})
    assert not allows({"sts:RoleSessionName": f"{MAIN}-run-1"})
    # And a substituted value's own * is literal in a Like operator
    assert not allows({"aws:PrincipalAccount": "*", "sts:RoleSessionName": f"{MAIN}-run-1"})
    # And the special variables are the characters themselves
    literal = {**ALLOW_COPY, "Condition": {"StringEquals": {"aws:ResourceTag/a": "${*}x${$}"}}}
    assert evaluate(policy(literal), "rds:CopyDBSnapshot", COPY, {"aws:ResourceTag/a": "*x$"})
    # And a variable in a condition's key, or a multivalued one, is not decided
    in_key = {**ALLOW_COPY, "Condition": {"StringEquals": {"aws:ResourceTag/${aws:username}": "x"}}}
    with pytest.raises(UnsupportedCondition, match="policy variable in the key"):
        evaluate(policy(in_key), "rds:CopyDBSnapshot", COPY, {})
    multi = {**ALLOW_COPY, "Condition": {"StringEquals": {"aws:ResourceTag/a": "${aws:TagKeys}"}}}
    with pytest.raises(UnsupportedCondition, match="multivalued"):
        evaluate(policy(multi), "rds:CopyDBSnapshot", COPY, {"aws:TagKeys": ["a", "b"]})


def test_an_assume_role_request_carries_its_session_name() -> None:
    info = RequestInfo(
        service="sts",
        operation="AssumeRole",
        params={"RoleArn": "arn:aws:iam::222222222222:role/r", "RoleSessionName": f"{MAIN}-run"},
        account=MAIN,
        region="eu-west-1",
    )
    (need,) = requests_of(info)
    assert dict(need.context) == {"sts:RoleSessionName": f"{MAIN}-run"}
    assert need.trust == "arn:aws:iam::222222222222:role/r"


def test_a_function_url_call_needs_both_lambda_actions_the_second_as_a_url_call() -> None:
    arn = "arn:aws:lambda:eu-west-1:222222222222:function:rds-xacct-keeper"
    info = RequestInfo(
        service="lambda",
        operation="InvokeFunctionUrl",
        params={"FunctionName": arn, "AuthType": "AWS_IAM"},
        account="222222222222",
        region="eu-west-1",
    )
    url, invoke = requests_of(info)
    assert (url.action, url.resource) == ("lambda:InvokeFunctionUrl", arn)
    assert dict(url.context) == {"lambda:FunctionUrlAuthType": "AWS_IAM"}
    assert (invoke.action, invoke.resource) == ("lambda:InvokeFunction", arn)
    assert dict(invoke.context) == {"lambda:InvokedViaFunctionUrl": "true"}


def test_the_organization_keys_of_a_principal_come_from_moto_organizations() -> None:
    from moto import mock_aws

    from rds_xacct.aws.clients import new_session
    from simulation.iam.enforcement import organization_keys

    with mock_aws():
        organizations = new_session(region_name="us-east-1").client("organizations")
        # Given an organization made by MAIN, an account in an OU of it, and an account outside
        org = organizations.create_organization(FeatureSet="ALL")["Organization"]["Id"]
        root = organizations.list_roots()["Roots"][0]["Id"]
        unit = organizations.create_organizational_unit(ParentId=root, Name="prod")
        unit_id = unit["OrganizationalUnit"]["Id"]
        made = organizations.create_account(AccountName="a", Email="a@example.com")
        member = made["CreateAccountStatus"]["AccountId"]
        organizations.move_account(
            AccountId=member, SourceParentId=root, DestinationParentId=unit_id
        )
        # When / Then each member has the organization's id and its path down to its parent
        # (IAM User Guide: aws:PrincipalOrgPaths, o-.../r-.../ou-.../); an outsider has neither
        assert organization_keys(MAIN) == {
            "aws:PrincipalOrgID": org,
            "aws:PrincipalOrgPaths": (f"{org}/{root}/",),
        }
        assert organization_keys(member) == {
            "aws:PrincipalOrgID": org,
            "aws:PrincipalOrgPaths": (f"{org}/{root}/{unit_id}/",),
        }
        assert organization_keys("444444444444") == {}
