"""RDS: what moto lets pass that RDS refuses, and what RDS reports that moto leaves out.

Snapshots shared from another account found by ARN, KMS keys RDS may not use refused, snapshots
described by identifier only with their type, options' Persistent/Permanent flags, snapshots
with sticky options not shared, no key for a copy of an unencrypted cluster snapshot, a copy's
source recorded, tags checked. (Copies that take time and the limits on them:
`simulation.moto.rds_copies`.)
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from typing import Any
from unittest import mock

from moto.kms.models import kms_backends
from moto.rds.exceptions import KMSKeyNotAccessibleFault
from moto.rds.models import DBSnapshot, OptionGroup, RDSBackend, rds_backends
from moto.rds.utils import split_arn

from simulation.moto.wrapping import argument, wrapping


def _shared_with(snapshot: Any, account: str) -> bool:
    values = snapshot.attributes.get("restore", [])
    return account in values or "all" in values


def _key_policy_allows(policy_text: str | dict[str, Any], account: str) -> bool:
    """True if an Allow statement of the key policy names the account (root, id or any
    principal ARN in it)."""
    try:
        policy = json.loads(policy_text) if isinstance(policy_text, str) else policy_text
    except ValueError:
        return False
    statements = policy.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        # moto's CloudFormation leaves a list item that resolved to AWS::NoValue as None
        # (real CloudFormation drops it): skip anything that is not a statement.
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal", {})
        names = principal.get("AWS", []) if isinstance(principal, dict) else principal
        for name in [names] if isinstance(names, str) else names:
            if not isinstance(name, str):
                continue
            if name in ("*", account) or re.match(rf"^arn:aws[\w-]*:iam::{account}:", name):
                return True
    return False


def _get_snapshot_patch() -> Callable[..., Any]:
    # moto reads an ARN's region but not its account, so CopyDBSnapshot with the ARN of a
    # snapshot shared from another account finds nothing (or a same-named local one). Real RDS
    # reads the owner's snapshot and copies it only if it is shared with the caller (its
    # `restore` attribute lists the caller's account or `all`); otherwise DBSnapshotNotFound.
    original = RDSBackend.get_snapshot

    def get_snapshot(
        backend: RDSBackend, identifier: str, resource_type: Any, not_found_exception: Any
    ) -> Any:
        if identifier.startswith("arn:"):
            region, account, _, name = split_arn(identifier)
            if account != backend.account_id:
                owner = rds_backends[account][region]
                snapshot = owner.resource_map[resource_type].get(name)
                if snapshot is None or not _shared_with(snapshot, backend.account_id):
                    raise not_found_exception(identifier)
                return snapshot
        return original(backend, identifier, resource_type, not_found_exception)

    return get_snapshot


def key_usable_by(key: Any, key_account: str, caller_account: str) -> bool:
    """Whether RDS may use the KMS key (moto's `Key`, of `key_account`) for a caller of
    `caller_account`: the key is enabled, and it is the caller's own or its key policy allows
    the caller's account."""
    if not key.enabled or key.key_state != "Enabled":
        return False
    return key_account == caller_account or _key_policy_allows(key.policy, caller_account)


def _validate_kms_key_patch() -> Callable[..., str]:
    # moto only checks that a key exists. Real RDS also needs the key enabled and usable by the
    # caller: a key in another account must allow the caller's account in its key policy,
    # else KMSKeyNotAccessibleFault.
    original = RDSBackend._validate_kms_key

    def validate(backend: RDSBackend, kms_key_id: str) -> str:
        arn = original(backend, kms_key_id)
        region, account = arn.split(":")[3], arn.split(":")[4]
        key = kms_backends[account][region].describe_key(arn.rsplit("/", 1)[-1])
        if not key_usable_by(key, account, backend.account_id):
            raise KMSKeyNotAccessibleFault(kms_key_id)
        return arn

    return validate


def _describe_by_type(original: Callable[..., Any], kind: str) -> Callable[..., Any]:
    # moto describes a snapshot by identifier as one of the types `automated` or `manual`
    # whatever was asked. Real RDS (API reference, DescribeDBSnapshots and
    # DescribeDBClusterSnapshots, DBSnapshotIdentifier / DBClusterSnapshotIdentifier): "If this
    # identifier is for an automated snapshot, the SnapshotType parameter must also be
    # specified"; without a SnapshotType "both automated and manual snapshots are returned",
    # so by identifier without a type only a manual snapshot is found, and an AWS Backup DB
    # snapshot (type `awsbackup`) only with SnapshotType=awsbackup. For DB cluster snapshots the
    # types are automated, manual, shared and public: "The awsbackup type does not apply to
    # Aurora" (DescribeDBSnapshots, SnapshotType), so a cluster snapshot asked for as
    # `awsbackup` is not found. Anything not found by identifier is DBSnapshotNotFound /
    # DBClusterSnapshotNotFoundFault, as moto answers already.
    signature = inspect.signature(original)
    identifier = "db_snapshot_identifier"
    owner = "db_cluster_identifier" if kind == "cluster" else "db_instance_identifier"

    def describe(backend: RDSBackend, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(backend, *args, **kwargs)
        bound.apply_defaults()
        arguments = bound.arguments
        filters = arguments.get("filters")
        by_identifier = arguments.get(identifier) and not arguments.get(owner)
        if by_identifier and not (filters and "snapshot-type" in filters):
            snapshot_type = arguments.get("snapshot_type")
            if snapshot_type is None:
                arguments["snapshot_type"] = "manual"
            elif kind == "cluster" and snapshot_type == "awsbackup":
                from moto.rds.exceptions import DBClusterSnapshotNotFoundError

                raise DBClusterSnapshotNotFoundError(arguments[identifier])
        return original(*bound.args, **bound.kwargs)

    return describe


def _sticky(engine: str, option: str) -> tuple[bool, bool]:
    """(persistent, permanent) of an option, from the table of permanent and persistent options
    in the RDS User Guide, "Sharing a DB snapshot": TDE on SQL Server is persistent; TDE on
    Oracle, Timezone and OLS are persistent and permanent. Every other option is neither."""
    if option == "TDE" and engine.startswith("sqlserver"):
        return True, False
    if option in ("TDE", "Timezone", "OLS") and engine.startswith("oracle"):
        return True, True
    return False, False


def _options_with_flags() -> Any:
    # moto's DescribeOptionGroups gives each option its name and settings only. Real RDS also
    # says whether it is `Persistent` and `Permanent` (API reference, Option).
    declared: Any = OptionGroup.__dict__["options"]  # the property itself
    original = declared.fget

    def options(group: OptionGroup) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = original(group)
        flagged = []
        for option in listed:
            persistent, permanent = _sticky(group.engine_name, option["OptionName"])
            flagged.append({**option, "Persistent": persistent, "Permanent": permanent})
        return flagged

    return property(options)


def _snapshot_option_group() -> Any:
    # moto's DBSnapshot has no OptionGroupName. Real RDS reports the option group the snapshot
    # was taken with (API reference, DBSnapshot: "Provides the option group name for the DB
    # snapshot"); a copy keeps it.
    return property(lambda snapshot: snapshot.database.option_group_name)


def _unshareable_options(backend: RDSBackend, snapshot: Any) -> list[str]:
    """The options that stop RDS sharing this DB snapshot."""
    group = backend.option_groups.get(snapshot.database.option_group_name)
    if group is None:
        return []
    engine = str(group.engine_name)
    return [
        option["OptionName"]
        for option in group.options
        if (option["Persistent"] or option["Permanent"])
        and not (engine.startswith("oracle") and option["OptionName"] in ("Timezone", "OLS"))
    ]


def _refuse_unshareable(inner: Callable[..., Any]) -> Callable[..., Any]:
    # moto shares any DB snapshot. Real RDS (User Guide, "Sharing a DB snapshot"): "You can't
    # share a DB snapshot that uses an option group with permanent or persistent options, except
    # for Oracle DB instances that have the Timezone or OLS option (or both)", and Oracle or SQL
    # Server snapshots encrypted with TDE (a persistent option) can't be shared. RDS refuses with
    # InvalidParameterValue (the code sharing tools catch for it, e.g. base2Services/
    # shelvery-aws-backups, "Catch error when an RDS snapshot cannot be shared").
    from moto.rds.exceptions import RDSClientError

    def modify(backend: RDSBackend, *args: Any, **kwargs: Any) -> Any:
        identifier = str(argument(args, kwargs, 0, "db_snapshot_identifier") or "").lower()
        if argument(args, kwargs, 2, "values_to_add"):
            for snapshot in snapshots_of(backend, "db"):
                sticky = _unshareable_options(backend, snapshot)
                if snapshot.db_snapshot_identifier == identifier and sticky:
                    raise RDSClientError(
                        "InvalidParameterValue",
                        f"The snapshot {identifier} cannot be shared: its option group "
                        f"{snapshot.database.option_group_name} has permanent or persistent "
                        f"options ({', '.join(sticky)})",
                    )
        return inner(backend, *args, **kwargs)

    return modify


def _refuse_key_for_unencrypted_cluster(inner: Callable[..., Any]) -> Callable[..., Any]:
    # moto copies an unencrypted cluster snapshot with a KmsKeyId into an encrypted one (and marks
    # the source cluster encrypted). Real RDS (API reference, CopyDBClusterSnapshot, KmsKeyId):
    # "If you copy an unencrypted DB cluster snapshot and specify a value for the KmsKeyId
    # parameter, an error is returned." The reference names no code; RDS's code for a parameter
    # it refuses is InvalidParameterValue. (CopyDBSnapshot, by contrast: "If you specify this
    # parameter when you copy an unencrypted snapshot, the copy is encrypted", as moto does.)
    from moto.rds.exceptions import RDSClientError

    def copy(backend: RDSBackend, *args: Any, **kwargs: Any) -> Any:
        if argument(args, kwargs, 2, "kms_key_id"):
            source_id = argument(args, kwargs, 0, "source_db_cluster_snapshot_identifier")
            try:
                source = backend.get_db_cluster_snapshot(source_id)
            except RDSClientError:
                return inner(backend, *args, **kwargs)  # (not found: moto answers that)
            if not source.encrypted:
                raise RDSClientError(
                    "InvalidParameterValue",
                    f"The DB cluster snapshot {source_id} is not encrypted: a copy of it cannot "
                    "be encrypted, so KmsKeyId must not be given",
                )
        return inner(backend, *args, **kwargs)

    return copy


def _recording_the_source(attribute: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    # moto leaves a copy's source unrecorded. RDS records it for a cross-account or
    # cross-Region copy, and never changes it (API reference, DBSnapshot:
    # "SourceDBSnapshotIdentifier - The DB snapshot ARN that the DB snapshot was copied from. It
    # only has a value in the case of a cross-account or cross-Region copy"; DBClusterSnapshot:
    # "SourceDBClusterSnapshotArn - If the DB cluster snapshot was copied from a source DB
    # cluster snapshot, the ARN for the source DB cluster snapshot, otherwise, a null value").
    def wrap(inner: Callable[..., Any]) -> Callable[..., Any]:
        parameter = (
            "source_db_cluster_snapshot_identifier"
            if attribute == "source_db_cluster_snapshot_arn"
            else "source_db_snapshot_identifier"
        )

        def copy(backend: RDSBackend, *args: Any, **kwargs: Any) -> Any:
            snapshot = inner(backend, *args, **kwargs)
            source = str(kwargs[parameter] if parameter in kwargs else args[0])
            here = (backend.region_name, backend.account_id)
            elsewhere = source.startswith("arn:") and split_arn(source)[:2] != here
            if attribute == "source_db_cluster_snapshot_arn" and not source.startswith("arn:"):
                region, account = here
                source = f"arn:aws:rds:{region}:{account}:cluster-snapshot:{source}"
                elsewhere = True
            if elsewhere:
                setattr(snapshot, attribute, source)
            return snapshot

        return copy

    return wrap


def snapshots_of(backend: RDSBackend, kind: str) -> list[Any]:
    # list() of a dict's values is one step under the GIL: safe while other threads add.
    found = backend.cluster_snapshots if kind == "cluster" else backend.database_snapshots
    return list(found.values())


_TAG_KEY_MAX, _TAG_VALUE_MAX = 128, 256
_TAG_TEXT = re.compile(r"^[\w\s.:/=+\-@]*$")
r"""RDS API reference, `Tag`: a key "from 1 to 128 Unicode characters", a value "from 1 to 256
Unicode characters"; both "can only contain only the set of Unicode letters, digits,
white-space, '_', '.', ':', '/', '=', '+', '-', '@'" (Java regex
`^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`, which Python's Unicode `\w` and `\s` stand in for)."""


def _tag_problem(tag: dict[str, Any]) -> str | None:
    key, value = str(tag.get("Key", "")), str(tag.get("Value", ""))
    if not 1 <= len(key) <= _TAG_KEY_MAX:
        return f"tag key {key[:40]!r}...: length {len(key)}, must be 1 to {_TAG_KEY_MAX}"
    if len(value) > _TAG_VALUE_MAX:
        return f"value of tag {key!r}: length {len(value)}, at most {_TAG_VALUE_MAX}"
    if not (_TAG_TEXT.match(key) and _TAG_TEXT.match(value)):
        return f"tag {key!r}: only letters, digits, white space and _ . : / = + - @ are allowed"
    return None


def _checked_tags() -> Any:
    # moto keeps any tag on any RDS resource. Real RDS refuses a key over 128 characters, a
    # value over 256, or other characters than those listed (API reference, `Tag`), on every
    # call that sets tags (CreateDBSnapshot, CopyDBSnapshot, CopyDBClusterSnapshot,
    # AddTagsToResource, ...), with InvalidParameterValue (the code RDS gives for a tag value it
    # refuses: "Tag values may only contain unicode letters, digits, whitespace, or one of these
    # symbols", reported in cloud-custodian/cloud-custodian#2115). Every moto RDS resource sets
    # its tags through `TaggingMixin.tags`: checked there, before the resource is stored.
    from moto.rds.exceptions import RDSClientError
    from moto.rds.models import TaggingMixin

    original = vars(TaggingMixin)["tags"]
    assert isinstance(original, property)
    assert original.fset is not None
    setter = original.fset

    def set_tags(resource: Any, value: list[dict[str, Any]] | None) -> None:
        for tag in value or []:
            problem = _tag_problem(tag)
            if problem is not None:
                raise RDSClientError("InvalidParameterValue", f"Invalid tag: {problem}")
        setter(resource, value)

    return property(original.fget, set_tags)


def patches() -> list[Any]:
    """Snapshots found across accounts, keys checked, snapshots described by type."""
    return [
        mock.patch.object(RDSBackend, "get_snapshot", _get_snapshot_patch()),
        mock.patch.object(RDSBackend, "_validate_kms_key", _validate_kms_key_patch()),
        mock.patch.object(
            RDSBackend,
            "describe_db_snapshots",
            _describe_by_type(RDSBackend.describe_db_snapshots, "db"),
        ),
        mock.patch.object(
            RDSBackend,
            "describe_db_cluster_snapshots",
            _describe_by_type(RDSBackend.describe_db_cluster_snapshots, "cluster"),
        ),
    ]


def rule_patches() -> list[Any]:
    """Entered after the copy patches and the limits (`simulation.moto.rds_copies`): these
    checks come first."""
    from moto.rds.models import TaggingMixin

    return [
        mock.patch.object(OptionGroup, "options", _options_with_flags()),
        mock.patch.object(DBSnapshot, "option_group_name", _snapshot_option_group(), create=True),
        wrapping(RDSBackend, "modify_db_snapshot_attribute", _refuse_unshareable),
        wrapping(RDSBackend, "copy_db_cluster_snapshot", _refuse_key_for_unencrypted_cluster),
        wrapping(
            RDSBackend, "copy_db_snapshot", _recording_the_source("source_db_snapshot_identifier")
        ),
        wrapping(
            RDSBackend,
            "copy_db_cluster_snapshot",
            _recording_the_source("source_db_cluster_snapshot_arn"),
        ),
        mock.patch.object(TaggingMixin, "tags", _checked_tags()),
    ]


__all__ = ["key_usable_by", "patches", "rule_patches", "snapshots_of"]
