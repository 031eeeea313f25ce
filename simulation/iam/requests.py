"""Which resources, in which context, each request of the app touches: the authorizations IAM
needs for it (`requests_of`), derived from the request's parameters, operation by operation.
An operation this does not know raises `UnknownOperation`, so nothing goes unchecked."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from moto.kms.models import kms_backends
from moto.rds.models import rds_backends


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
        # RDS of the key's own region uses it: a copy's source key in another region (a copy
        # into a disaster-recovery region) is read there (RDS User Guide, "Copying a DB
        # snapshot": the caller "must have access to the AWS KMS key" of the source)
        via = ("kms:ViaService", f"rds.{arn.split(':')[3]}.amazonaws.com")
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
        # The session's name is in the request's context (IAM User Guide, "IAM and AWS STS
        # condition context keys": sts:RoleSessionName, "available ... on AssumeRole")
        role = str(p["RoleArn"])
        session = (("sts:RoleSessionName", str(p.get("RoleSessionName", ""))),)
        return [Need("sts:AssumeRole", role, context=session, trust=role)]
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


URL_CALL = "InvokeFunctionUrl"
"""A request to a function URL (simulation/moto/function_urls.py): not an API operation."""


def _lambda(info: RequestInfo) -> list[Need]:
    if info.operation == URL_CALL:
        # A function URL made since October 2025 needs lambda:InvokeFunctionUrl and
        # lambda:InvokeFunction both; the latter with lambda:InvokedViaFunctionUrl true in the
        # context (Lambda Developer Guide, "Control access to Lambda function URLs")
        arn = str(info.params["FunctionName"])
        auth = (("lambda:FunctionUrlAuthType", str(info.params.get("AuthType", "AWS_IAM"))),)
        return [
            Need("lambda:InvokeFunctionUrl", arn, context=auth),
            Need("lambda:InvokeFunction", arn, context=(("lambda:InvokedViaFunctionUrl", "true"),)),
        ]
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
