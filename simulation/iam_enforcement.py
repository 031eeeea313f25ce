"""The simulation runs with the templates' permissions enforced.

* Every role of `template.yaml` (the roles it declares, and the ones SAM makes for a function or
  the state machine from `Policies`) is created in moto's IAM from the template's resolved
  policies; the backup account's roles and key come from `backup-account.yaml` through moto's
  CloudFormation. Each Lambda function gets the credentials of its role, as the Lambda service
  gives them (assumed from the role, whose trust policy must let `lambda.amazonaws.com` in);
  Step Functions calls Lambda with the state machine's role; EventBridge starts runs with the
  rule's role; the app's own `sts:AssumeRole` into the backup account gets that role's
  credentials, if the trust policy lets the caller in.
* moto's IAM enforcement is on (`moto.core.authorization.enable_iam_authentication`, the same
  switch as `INITIAL_NO_AUTH_ACTION_COUNT=0`): a request signed with unknown credentials or a
  wrong signature is refused by moto itself. Requests signed by one of the app's roles are then
  decided here instead of by moto's action check, which ignores `Resource` and `Condition`,
  compares a trust policy's principals as strings (an account root there admits no role of that
  account, unlike AWS), and reads no key policy. Here: every resource ARN the request touches
  (derived from its parameters, per operation: `_requests_of`) must match a `Resource` of an
  Allow statement for the action in the role's policies, with its conditions holding, and no
  Deny; `sts:AssumeRole` also needs the target role's trust policy, and a KMS key used for the
  caller by RDS (`kms:CreateGrant` and `kms:DescribeKey` through `rds.REGION.amazonaws.com`, RDS
  User Guide, "AWS KMS key management": "When RDS uses a customer managed key ... it acts on
  behalf of the user ... a user must have permissions to call kms:CreateGrant, kms:DescribeKey")
  also needs the key policy. AWS managed keys (`aws/...`) need no identity permission.
* Requests signed by anything else (the tests setting up databases, reading what happened) are
  the operator's: not enforced.
* A refusal answers AccessDenied as AWS would, and is recorded; the simulation fails the test
  with the action, the resource and the role named (`Enforcement.check`).
* Every Allow statement, action and resource pattern that allowed a request is recorded, so
  `tests/e2e/test_permissions.py` can assert that no permission of either template went unused.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock
from urllib.parse import unquote

import boto3
from moto.core.authorization import ActionAuthenticatorMixin, enable_iam_authentication
from moto.core.exceptions import AccessDeniedError, JsonRESTError
from moto.iam.models import iam_backends
from moto.kms.models import kms_backends
from moto.rds.models import rds_backends
from moto.sts.models import sts_backends

from rds_xacct.aws import new_session
from simulation.iam_policy import (
    Caller,
    Decision,
    Statement,
    UnsupportedCondition,
    evaluate,
    parse_policy,
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


# --- Which resources a request touches -----------------------------------------------------------
@dataclass(frozen=True)
class Need:
    """One authorization a request needs: an action on a resource, in a context."""

    action: str
    resource: str
    context: tuple[tuple[str, str | tuple[str, ...]], ...] = ()
    """Condition keys of the request; a multivalued key (`aws:TagKeys`) has a tuple."""
    key_policy: str = ""
    """A KMS key ARN whose key policy must allow it too (RDS using the key for the caller)."""
    trust: str = ""
    """A role ARN whose trust policy must allow it too (sts:AssumeRole)."""


class UnknownOperation(Exception):
    """The harness does not know which resources an operation touches."""


@dataclass
class RequestInfo:
    service: str
    operation: str
    params: dict[str, Any]
    account: str
    region: str


def _rds_arn(region: str, account: str, kind: str, name: str) -> str:
    return name if name.startswith("arn:") else f"arn:aws:rds:{region}:{account}:{kind}:{name}"


def _rds_object(arn: str) -> Any:
    parts = arn.split(":", 6)
    if len(parts) < 7:
        return None
    region, account, kind, name = parts[3], parts[4], parts[5], parts[6]
    try:
        return rds_backends[account][region]._find_resource(kind, name)
    except KeyError:
        return None


def _resource_tags(arn: str) -> tuple[tuple[str, str], ...]:
    """`aws:ResourceTag/KEY` of an RDS resource, as IAM sees it when authorizing."""
    found = _rds_object(arn)
    if found is None:
        return ()
    return tuple((f"aws:ResourceTag/{t['Key']}", t["Value"]) for t in found.get_tags() or [])


def _aws_managed_key(arn: str) -> bool:
    region, account = arn.split(":")[3], arn.split(":")[4]
    try:
        key = kms_backends[account][region].describe_key(arn)
    except KeyError:
        return False
    if getattr(key, "key_manager", "") == "AWS":
        return True
    return any(str(alias).startswith("alias/aws/") for alias in key.aliases)


def _key_arn(key_id: str, account: str, region: str) -> str:
    if key_id.startswith("arn:") and ":key/" in key_id:
        return key_id
    backend = kms_backends[account][region]
    return str(backend.describe_key(key_id).arn)


def _rds_key_needs(key_ids: list[str], info: RequestInfo) -> list[Need]:
    # RDS uses the keys for the caller: CreateGrant and DescribeKey through RDS (see above).
    needs = []
    for key_id in key_ids:
        try:
            arn = _key_arn(key_id, info.account, info.region)
        except KeyError:
            continue  # RDS answers KMSKeyNotAccessible itself (moto_patches)
        if _aws_managed_key(arn):
            continue
        via = ("kms:ViaService", f"rds.{info.region}.amazonaws.com")
        caller_account = ("kms:CallerAccount", info.account)
        needs.append(Need("kms:DescribeKey", arn, (via, caller_account), key_policy=arn))
        needs.append(
            Need(
                "kms:CreateGrant",
                arn,
                (via, caller_account, ("kms:GrantIsForAWSResource", "true")),
                key_policy=arn,
            )
        )
    return needs


def _rds_copy(info: RequestInfo, kind: str) -> list[Need]:
    noun = "DBClusterSnapshot" if kind == "cluster-snapshot" else "DBSnapshot"
    p = info.params
    source = _rds_arn(info.region, info.account, kind, str(p[f"SourceDB{noun[2:]}Identifier"]))
    target = _rds_arn(info.region, info.account, kind, str(p[f"TargetDB{noun[2:]}Identifier"]))
    action = f"rds:Copy{noun}"
    needs = [Need(action, source), Need(action, target)]
    tags = _request_tags(p)
    if tags:
        # RDS User Guide, "Grant permission to tag Amazon RDS resources during creation": "If
        # tags are specified in the create action, RDS performs additional authorization on the
        # rds:AddTagsToResource action" (with aws:RequestTag/KEY in the context).
        needs.append(Need("rds:AddTagsToResource", target, tags))
    keys = [str(p["KmsKeyId"])] if p.get("KmsKeyId") else []
    source_object = _rds_object(source)
    source_key = str(getattr(source_object, "kms_key_id", None) or "")
    if source_key:
        region, account = source.split(":")[3], source.split(":")[4]
        # (moto's default keys, aws/rds, are aliases without a key: AWS managed, skipped)
        with contextlib.suppress(KeyError):
            keys.append(_key_arn(source_key, account, region))
    return needs + _rds_key_needs(keys, info)


def _request_tags(params: Mapping[str, Any]) -> tuple[tuple[str, str | tuple[str, ...]], ...]:
    """`aws:RequestTag/KEY` of each tag a request sets, and `aws:TagKeys`, the set of their keys
    (IAM User Guide, "Controlling access during AWS requests")."""
    tags = params.get("Tags")
    if isinstance(tags, list):
        pairs: list[tuple[str, str | tuple[str, ...]]] = [
            (f"aws:RequestTag/{t['Key']}", str(t.get("Value", ""))) for t in tags
        ]
        pairs.append(("aws:TagKeys", tuple(str(t["Key"]) for t in tags)))
        return tuple(pairs)
    return ()


def _rds(info: RequestInfo) -> list[Need]:
    p, op, region, account = info.params, info.operation, info.region, info.account

    def arn(kind: str, key: str) -> str:
        return _rds_arn(region, account, kind, str(p[key])) if p.get(key) else ""

    def with_tags(action: str, resource: str) -> Need:
        return Need(action, resource, _resource_tags(resource))

    every = {
        kind: f"arn:aws:rds:{region}:{account}:{kind}:*"
        for kind in ("snapshot", "cluster-snapshot", "db", "cluster", "og")
    }
    if op == "DescribeDBSnapshots":
        needs = [
            Need(
                "rds:DescribeDBSnapshots",
                arn("snapshot", "DBSnapshotIdentifier") or every["snapshot"],
            )
        ]
        if p.get("DBInstanceIdentifier"):
            needs.append(Need("rds:DescribeDBSnapshots", arn("db", "DBInstanceIdentifier")))
        return needs
    if op == "DescribeDBClusterSnapshots":
        needs = [
            Need(
                "rds:DescribeDBClusterSnapshots",
                arn("cluster-snapshot", "DBClusterSnapshotIdentifier") or every["cluster-snapshot"],
            )
        ]
        if p.get("DBClusterIdentifier"):
            needs.append(
                Need("rds:DescribeDBClusterSnapshots", arn("cluster", "DBClusterIdentifier"))
            )
        return needs
    if op == "DescribeDBInstances":
        return [Need("rds:DescribeDBInstances", arn("db", "DBInstanceIdentifier") or every["db"])]
    if op == "DescribeDBClusters":
        return [
            Need(
                "rds:DescribeDBClusters", arn("cluster", "DBClusterIdentifier") or every["cluster"]
            )
        ]
    if op == "DescribeOptionGroups":
        return [Need("rds:DescribeOptionGroups", arn("og", "OptionGroupName") or every["og"])]
    if op in ("DescribeDBSnapshotAttributes", "ModifyDBSnapshotAttribute", "DeleteDBSnapshot"):
        return [with_tags(f"rds:{op}", arn("snapshot", "DBSnapshotIdentifier"))]
    if op in (
        "DescribeDBClusterSnapshotAttributes",
        "ModifyDBClusterSnapshotAttribute",
        "DeleteDBClusterSnapshot",
    ):
        return [with_tags(f"rds:{op}", arn("cluster-snapshot", "DBClusterSnapshotIdentifier"))]
    if op == "CopyDBSnapshot":
        return _rds_copy(info, "snapshot")
    if op == "CopyDBClusterSnapshot":
        return _rds_copy(info, "cluster-snapshot")
    if op in ("ListTagsForResource", "RemoveTagsFromResource"):
        return [with_tags(f"rds:{op}", str(p["ResourceName"]))]
    if op == "AddTagsToResource":
        resource = str(p["ResourceName"])
        return [
            Need("rds:AddTagsToResource", resource, _resource_tags(resource) + _request_tags(p))
        ]
    if op in ("DescribeAccountAttributes", "DescribeEvents", "DescribeDBEngineVersions"):
        # (no resource type: only "*" can be granted)
        return [Need(f"rds:{op}", "*")]
    raise UnknownOperation(f"rds:{op}")


def _dynamodb(info: RequestInfo) -> list[Need]:
    p, op = info.params, info.operation

    def table(name: str) -> str:
        if name.startswith("arn:"):
            return name
        return f"arn:aws:dynamodb:{info.region}:{info.account}:table/{name}"

    if op in ("TransactWriteItems", "TransactGetItems"):
        # Each item is authorized as its own action (DynamoDB Developer Guide, "Using IAM with
        # DynamoDB transactions").
        actions = {
            "Put": "PutItem",
            "Update": "UpdateItem",
            "Delete": "DeleteItem",
            "ConditionCheck": "ConditionCheckItem",
            "Get": "GetItem",
        }
        return [
            Need(f"dynamodb:{actions[kind]}", table(str(body["TableName"])))
            for item in p.get("TransactItems", [])
            for kind, body in item.items()
        ]
    if op == "ExecuteStatement":
        # A PartiQL statement is authorized by its verb, on the table it names (DynamoDB
        # Developer Guide, "IAM security policies with PartiQL for DynamoDB":
        # dynamodb:PartiQLSelect / PartiQLInsert / PartiQLUpdate / PartiQLDelete).
        statement = str(p.get("Statement", ""))
        verb = statement.split(None, 1)[0].capitalize() if statement.strip() else "Select"
        named = re.search(r'(?:FROM|INTO|UPDATE)\s+"?([\w.-]+)"?', statement, re.IGNORECASE)
        return [Need(f"dynamodb:PartiQL{verb}", table(named.group(1) if named else "*"))]
    if op in ("BatchWriteItem", "BatchGetItem"):
        action = "BatchWriteItem" if op == "BatchWriteItem" else "BatchGetItem"
        return [Need(f"dynamodb:{action}", table(name)) for name in p.get("RequestItems", {})]
    if "TableName" in p:
        resource = table(str(p["TableName"]))
        if p.get("IndexName"):
            resource += f"/index/{p['IndexName']}"
        return [Need(f"dynamodb:{op}", resource)]
    raise UnknownOperation(f"dynamodb:{op}")


def _states(info: RequestInfo) -> list[Need]:
    p, op = info.params, info.operation
    if op in ("SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"):
        # Tokens of service-integration tasks name no IAM resource: only "*" can be granted.
        return [Need(f"states:{op}", "*")]
    for key in ("executionArn", "stateMachineArn", "mapRunArn", "activityArn"):
        if key in p:
            return [Need(f"states:{op}", str(p[key]))]
    if op in ("ListStateMachines", "ListActivities"):
        return [Need(f"states:{op}", "*")]
    raise UnknownOperation(f"states:{op}")


def _ssm(info: RequestInfo) -> list[Need]:
    def parameter(name: str) -> str:
        if name.startswith("arn:"):
            return name
        slash = "" if name.startswith("/") else "/"
        return f"arn:aws:ssm:{info.region}:{info.account}:parameter{slash}{name}"

    p, op = info.params, info.operation
    if op in ("GetParameter", "PutParameter", "DeleteParameter", "GetParameterHistory"):
        return [Need(f"ssm:{op}", parameter(str(p["Name"])))]
    if op == "GetParameters":
        return [Need("ssm:GetParameters", parameter(str(n))) for n in p.get("Names", [])]
    if op == "GetParametersByPath":
        return [Need("ssm:GetParametersByPath", parameter(str(p["Path"])))]
    raise UnknownOperation(f"ssm:{op}")


def _sns(info: RequestInfo) -> list[Need]:
    p, op = info.params, info.operation
    if op == "Publish":
        return [Need("sns:Publish", str(p.get("TopicArn") or p.get("TargetArn") or "*"))]
    if "TopicArn" in p:
        return [Need(f"sns:{op}", str(p["TopicArn"]))]
    raise UnknownOperation(f"sns:{op}")


def _sts(info: RequestInfo) -> list[Need]:
    p, op = info.params, info.operation
    if op == "AssumeRole":
        role = str(p["RoleArn"])
        return [Need("sts:AssumeRole", role, trust=role)]
    if op == "GetCallerIdentity":
        return []  # (no permission needed: IAM User Guide, GetCallerIdentity)
    raise UnknownOperation(f"sts:{op}")


def _kms(info: RequestInfo) -> list[Need]:
    p, op = info.params, info.operation
    if "KeyId" in p:
        arn = _key_arn(str(p["KeyId"]), info.account, info.region)
        return [Need(f"kms:{op}", arn, key_policy=arn)]
    raise UnknownOperation(f"kms:{op}")


_LAMBDA_ACTIONS = {
    "Invoke": "lambda:InvokeFunction",
    "UpdateFunctionCode": "lambda:UpdateFunctionCode",
    "UpdateFunctionConfiguration": "lambda:UpdateFunctionConfiguration",
    "DeleteFunction": "lambda:DeleteFunction",
    "AddPermission": "lambda:AddPermission",
}
"""Lambda operations on a function (Service Authorization Reference: resource type
`function`)."""


def _lambda(info: RequestInfo) -> list[Need]:
    action = _LAMBDA_ACTIONS.get(info.operation)
    if action is not None:
        name = str(info.params["FunctionName"])
        arn = (
            name
            if name.startswith("arn:")
            else (f"arn:aws:lambda:{info.region}:{info.account}:function:{name}")
        )
        return [Need(action, arn)]
    raise UnknownOperation(f"lambda:{info.operation}")


def _cloudwatch(info: RequestInfo) -> list[Need]:
    if info.operation == "PutMetricData":
        return [
            Need(
                "cloudwatch:PutMetricData",
                "*",
                (("cloudwatch:namespace", str(info.params.get("Namespace", ""))),),
            )
        ]
    raise UnknownOperation(f"cloudwatch:{info.operation}")


def _backup(info: RequestInfo) -> list[Need]:
    p, op = info.params, info.operation
    if "BackupVaultName" in p:
        vault = f"arn:aws:backup:{info.region}:{info.account}:backup-vault:{p['BackupVaultName']}"
        return [Need(f"backup:{op}", vault)]
    if op.startswith("List") or op.startswith("Describe"):
        return [Need(f"backup:{op}", "*")]
    raise UnknownOperation(f"backup:{op}")


_SERVICES: dict[str, Callable[[RequestInfo], list[Need]]] = {
    "rds": _rds,
    "dynamodb": _dynamodb,
    "states": _states,
    "ssm": _ssm,
    "sns": _sns,
    "sts": _sts,
    "kms": _kms,
    "lambda": _lambda,
    "cloudwatch": _cloudwatch,
    "monitoring": _cloudwatch,
    "backup": _backup,
}


def requests_of(info: RequestInfo) -> list[Need]:
    """The authorizations a request needs. An operation not known here raises
    `UnknownOperation` (extend the service's function above, citing the Service
    Authorization Reference's resource types for the action)."""
    handler = _SERVICES.get(info.service)
    if handler is None:
        raise UnknownOperation(f"{info.service}:{info.operation}")
    return handler(info)


# --- Who is calling ---------------------------------------------------------------------------------
@dataclass
class Role:
    """An enforced role: its ARN, the template resource it comes from, and its policies."""

    arn: str
    logical_id: str
    source: str
    used_by: list[str] = field(default_factory=list)
    """The functions (or the state machine, a rule) that run with it."""
    _statements: list[Statement] | None = None

    @property
    def account(self) -> str:
        return self.arn.split(":")[4]

    @property
    def name(self) -> str:
        return self.arn.rsplit("/", 1)[-1]

    def label(self) -> str:
        users = f", used by {', '.join(self.used_by)}" if self.used_by else ""
        return f"role {self.name} ({self.logical_id} in {self.source}{users})"

    def statements(self) -> list[Statement]:
        """The role's identity policies, read from moto's IAM (the role as deployed)."""
        if self._statements is None:
            backend = iam_backends[self.account]["aws"]
            role = backend.get_role(self.name)
            found: list[Statement] = []
            for name, document in role.policies.items():
                found += parse_policy(
                    document, holder=self.logical_id, policy=name, source=self.source
                )
            for managed in role.managed_policies.values():
                version = next(v for v in managed.versions if v.is_default)
                found += parse_policy(version.document, holder=self.logical_id, policy=managed.name)
            self._statements = found
        return self._statements


@dataclass(frozen=True)
class Violation:
    role: str
    action: str
    resource: str
    reason: str
    request: str

    def __str__(self) -> str:
        return (
            f"{self.role} may not {self.action} on {self.resource} ({self.request}): {self.reason}"
        )


def _explain(decision: Decision, what: str) -> str:
    if decision.denied_by is not None:
        return f"explicitly denied by {decision.denied_by.ref}"
    if decision.unmet:
        names = "; ".join(f"{s.ref} (Condition {json.dumps(s.conditions)})" for s in decision.unmet)
        return f"{what}: the statements for it have conditions that do not hold: {names}"
    return f"no Allow statement in {what} matches the action and this resource"


_ACCESS_KEY = re.compile(r"Credential=([^/,\s]+)/")


class Enforcement:
    """One simulation's enforced permissions: its roles, what they were refused, what they used."""

    def __init__(self) -> None:
        self.roles: dict[str, Role] = {}
        """Enforced roles by ARN."""
        self.resource_policies: dict[str, list[Statement]] = {}
        """Trust policies (role ARN) and key policies (key ARN), parsed once."""
        self.violations: list[Violation] = []
        self.used: set[tuple[str, str, int, str, str]] = set()
        """(holder, policy, statement index, action pattern, resource pattern) that allowed a
        request."""
        self.requests = 0
        """Requests decided here (by the app's roles)."""
        self._keys: dict[str, Role | None] = {}
        self.sessions: dict[str, str] = {}
        """Access key → the ARN of its assumed-role session (as AWS names the caller)."""
        self._lock = threading.Lock()

    # -- roles -----------------------------------------------------------------------------------
    def enforce(self, arn: str, logical_id: str, source: str, used_by: str = "") -> Role:
        role = self.roles.get(arn)
        if role is None:
            role = self.roles[arn] = Role(arn, logical_id, source)
        if used_by and used_by not in role.used_by:
            role.used_by.append(used_by)
        return role

    def role_of(self, headers: Any, account: str) -> Role | None:
        """The enforced role whose credentials signed a request, or None (the operator)."""
        found = _ACCESS_KEY.search(str(headers.get("Authorization", "")))
        if not found:
            return None
        key = found.group(1)
        with self._lock:
            if key in self._keys:
                return self._keys[key]
        role: Role | None = None
        for assumed in list(sts_backends[account]["aws"].assumed_roles):
            if assumed.access_key_id == key:
                role = self.roles.get(assumed.role_arn)
                if role is not None:
                    self.sessions[key] = (
                        f"arn:aws:sts::{role.account}:assumed-role/{role.name}/"
                        f"{assumed.session_name}"
                    )
                break
        with self._lock:
            self._keys[key] = role
        return role

    def trust_policy(self, role_arn: str) -> list[Statement]:
        if role_arn not in self.resource_policies:
            account, name = role_arn.split(":")[4], role_arn.rsplit("/", 1)[-1]
            role = iam_backends[account]["aws"].get_role(name)
            known = self.roles.get(role_arn)
            self.resource_policies[role_arn] = parse_policy(
                role.assume_role_policy_document,
                holder=known.logical_id if known else name,
                policy="trust",
                source=known.source if known else "",
            )
        return self.resource_policies[role_arn]

    def key_policy(self, key_arn: str, holder: str = "", source: str = "") -> list[Statement]:
        if key_arn not in self.resource_policies:
            region, account = key_arn.split(":")[3], key_arn.split(":")[4]
            key = kms_backends[account][region].describe_key(key_arn)
            self.resource_policies[key_arn] = parse_policy(
                key.policy, holder=holder or key_arn, policy="key policy", source=source
            )
        return self.resource_policies[key_arn]

    # -- deciding --------------------------------------------------------------------------------
    def decide(self, role: Role, info: RequestInfo) -> Violation | None:
        """Check every authorization the request needs; record what allowed it. Returns the
        first refusal."""
        request = f"{info.service}:{info.operation} in account {info.account}"
        try:
            needs = requests_of(info)
        except UnknownOperation as error:
            return Violation(
                role.label(),
                str(error),
                "?",
                "simulation/iam_enforcement.py does not know which resources this operation "
                "touches: add it there (Service Authorization Reference: its resource types)",
                request,
            )
        except KeyError as error:
            return Violation(
                role.label(), info.operation, "?", f"missing parameter {error}", request
            )
        caller = Caller(arn=role.arn, account=role.account)
        used: list[tuple[str, str, int, str, str]] = []
        for need in needs:
            context: dict[str, str | tuple[str, ...]] = {
                "aws:PrincipalArn": role.arn,
                "aws:PrincipalAccount": role.account,
                "aws:RequestedRegion": info.region,
                **dict(need.context),
            }
            try:
                decision = evaluate(role.statements(), need.action, need.resource, context)
                if not decision.allowed:
                    return Violation(
                        role.label(),
                        need.action,
                        need.resource,
                        _explain(decision, f"the role's policies ({role.source})"),
                        request,
                    )
                used += [_key(m.statement, m.action, m.resource) for m in decision.matches]
                for kind, arn, statements in (
                    ("trust policy", need.trust, self.trust_policy if need.trust else None),
                    ("key policy", need.key_policy, self.key_policy if need.key_policy else None),
                ):
                    if statements is None:
                        continue
                    other = evaluate(statements(arn), need.action, None, context, caller)
                    if not other.allowed:
                        return Violation(
                            role.label(),
                            need.action,
                            need.resource,
                            _explain(other, f"the {kind} of {arn}"),
                            request,
                        )
                    used += [_key(m.statement, m.action, m.resource) for m in other.matches]
            except UnsupportedCondition as error:
                return Violation(
                    role.label(), need.action, need.resource, f"can't evaluate {error}", request
                )
        with self._lock:
            self.used.update(used)
            self.requests += 1
        return None

    def admit_service(self, role_arn: str, service: str) -> None:
        """A service principal (lambda.amazonaws.com, states..., events...) assumes a role for
        a resource of the role's account (aws:SourceAccount): its trust policy must let the
        service in. Raises AssertionError otherwise."""
        context = {"aws:SourceAccount": role_arn.split(":")[4]}
        decision = evaluate(
            self.trust_policy(role_arn), "sts:AssumeRole", None, context, Caller(service=service)
        )
        if not decision.allowed:
            raise AssertionError(f"The trust policy of {role_arn} does not let {service} assume it")
        with self._lock:
            self.used.update(_key(m.statement, m.action, m.resource) for m in decision.matches)

    def record(self, violation: Violation) -> None:
        with self._lock:
            self.violations.append(violation)

    def take_refusals(self) -> list[Violation]:
        """The requests refused so far, forgotten here: a test acting as an attacker expects
        them (the app's own requests must never be refused: `check`)."""
        with self._lock:
            found, self.violations = self.violations, []
        return found

    def check(self) -> None:
        """Fail (AssertionError) if any request was refused, naming each; then forget them."""
        with self._lock:
            found, self.violations = self.violations, []
        if found:
            lines = "\n".join(f"  - {v}" for v in dict.fromkeys(found))
            raise AssertionError(
                f"IAM refused {len(found)} request(s) of the app (the templates' permissions "
                f"are enforced in the simulation):\n{lines}"
            )


def _key(statement: Statement, action: str, resource: str) -> tuple[str, str, int, str, str]:
    ref = statement.ref
    return (ref.holder, ref.policy, ref.index, action, resource)


# --- The hook into moto -----------------------------------------------------------------------------
_ACTIVE: list[Enforcement] = []


def _operation(response: Any, service: str) -> str:
    if service == "lambda":
        path = str(getattr(response, "path", "") or getattr(response, "raw_path", ""))
        if path.rstrip("/").endswith("/invocations"):
            return "Invoke"
    return str(response._get_action())


def _params(response: Any, service: str) -> dict[str, Any]:
    if service == "lambda":
        found = re.search(r"/functions/([^/]+)/", str(getattr(response, "path", "")))
        return {"FunctionName": unquote(found.group(1))} if found else {}
    body = getattr(response, "body", None)
    if isinstance(body, dict):
        return body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if body and str(body).lstrip().startswith("{"):
        try:
            parsed = json.loads(body)
            if isinstance(parsed, dict):
                return parsed
        except ValueError:
            pass
    flat: dict[str, Any] = {}
    tags: dict[str, dict[str, str]] = {}
    for name, values in dict(getattr(response, "querystring", {}) or {}).items():
        value = values[0] if isinstance(values, list) and values else values
        matched = re.match(r"^Tags\.(?:member|Tag)\.(\d+)\.(Key|Value)$", name)
        if matched:
            tags.setdefault(matched.group(1), {})[matched.group(2)] = str(value)
        else:
            flat[name] = value
    if tags:
        flat["Tags"] = [tags[i] for i in sorted(tags, key=int)]
    return flat


class _JsonAccessDenied(JsonRESTError):
    code = 403

    def __init__(self, message: str) -> None:
        super().__init__("AccessDeniedException", message)


def _denied(response: Any, violation: Violation, caller: str) -> Exception:
    # AWS's answer: AccessDenied (query protocols: RDS, STS, SNS) or AccessDeniedException
    # (JSON protocols: DynamoDB, Step Functions, SSM, KMS, Lambda), "User: ... is not
    # authorized to perform: ACTION on resource: ARN ...".
    detail = f"{violation.action} on resource: {violation.resource} ({violation.reason})"
    content_type = str(response.headers.get("Content-Type", ""))
    if "json" in content_type or violation.action.startswith("lambda:"):
        return _JsonAccessDenied(f"User: {caller} is not authorized to perform: {detail}")
    return AccessDeniedError(user_arn=caller, action=detail)


def _authorize_patch() -> Callable[..., None]:
    # Replaces moto's `_authenticate_and_authorize_action` for the app's roles: moto's own checks
    # of the credentials and the signature, then `Enforcement.decide` instead of moto's action
    # check (see the module's docstring for why).
    def authorize(response: Any, iam_request_cls: type, resource: str = "*") -> None:
        account = str(response.current_account)
        role = None
        for enforcement in _ACTIVE:
            role = enforcement.role_of(response.headers, account)
            if role is not None:
                break
        if role is None:
            return  # the operator (test set-up and inspection): not enforced
        # moto's own checks of the credentials and the signature
        scope = str(response.headers.get("Authorization", "")).split("Credential=", 1)[-1]
        parts = scope.split("/")
        service, region = (parts[3], parts[2]) if len(parts) > 3 else ("", response.region)
        iam_request = iam_request_cls(
            account_id=account,
            method=response.method,
            path=response.raw_path
            + (("?" + response.uri.split("?", 1)[1]) if "?" in response.uri else ""),
            data=response.data,
            body=response.raw_body,
            headers=response.headers,
            action=response._get_action(),
        )
        iam_request.check_signature()
        info = RequestInfo(
            service={"monitoring": "cloudwatch"}.get(service, service),
            operation=_operation(response, service),
            params=_params(response, service),
            account=account,
            region=region,
        )
        violation = enforcement.decide(role, info)
        if violation is not None:
            enforcement.record(violation)
            key = _ACCESS_KEY.search(str(response.headers.get("Authorization", "")))
            caller = enforcement.sessions.get(key.group(1) if key else "", role.arn)
            raise _denied(response, violation, caller)

    return authorize


@contextmanager
def enforced(enforcement: Enforcement) -> Iterator[Enforcement]:
    """moto's IAM enforcement on, with the app's requests decided by `enforcement`."""
    with ExitStack() as stack:
        stack.enter_context(enable_iam_authentication())
        if not _ACTIVE:
            stack.enter_context(
                mock.patch.object(
                    ActionAuthenticatorMixin,
                    "_authenticate_and_authorize_action",
                    _authorize_patch(),
                )
            )
        _ACTIVE.append(enforcement)
        stack.callback(_ACTIVE.remove, enforcement)
        yield enforcement


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
        f"SAM policy template {name} is not expanded by simulation/iam_enforcement.py: add it"
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
