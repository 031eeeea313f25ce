"""One interface over DB snapshots and DB cluster snapshots.

RDS has two parallel APIs (`CopyDBSnapshot` / `CopyDBClusterSnapshot`, ...); everything above
this module works with `Snapshot` and `SnapshotApi` and never asks which kind it has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rds_xacct.aws.clients import aws_call
from rds_xacct.model import errors
from rds_xacct.model.arns import Arn
from rds_xacct.model.snapshot import Option, Snapshot
from rds_xacct.model.state import Kind

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient


def tags_from(tag_list: list[Any] | None) -> dict[str, str]:
    """A `TagList` of an RDS answer as a mapping (none: empty)."""
    return {t["Key"]: t.get("Value", "") for t in tag_list or []}


def _tag_list(tags: dict[str, str]) -> list[Any]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


_FIELDS: dict[Kind, tuple[str, str, str, str, str]] = {
    "db": (
        "DBSnapshotIdentifier",
        "DBSnapshotArn",
        "DBInstanceIdentifier",
        "Encrypted",
        "SourceDBSnapshotIdentifier",
    ),
    "cluster": (
        "DBClusterSnapshotIdentifier",
        "DBClusterSnapshotArn",
        "DBClusterIdentifier",
        "StorageEncrypted",
        "SourceDBClusterSnapshotArn",
    ),
}
"""Where the two APIs put identifier, ARN, database, encryption and the copy's source."""


class SnapshotApi:
    """Describe, copy, share and delete snapshots of one kind with one RDS client."""

    def __init__(self, client: RDSClient, kind: Kind) -> None:
        self.client = client
        self.kind = kind
        self.noun = "DB cluster snapshot" if kind == "cluster" else "DB snapshot"

    # -- reading ---------------------------------------------------------------------------
    def _from_response(self, raw: Any) -> Snapshot:
        identifier, arn, database, encrypted, source = _FIELDS[self.kind]
        return Snapshot(
            kind=self.kind,
            identifier=raw[identifier],
            arn=raw[arn],
            database=raw.get(database, ""),
            engine=raw.get("Engine", ""),
            status=raw.get("Status", "unknown"),
            created_at=raw.get("SnapshotCreateTime"),
            encrypted=bool(raw.get(encrypted)),
            kms_key_id=raw.get("KmsKeyId"),
            size_gib=int(raw.get("AllocatedStorage") or 0),
            percent=int(raw.get("PercentProgress") or 0),
            snapshot_type=raw.get("SnapshotType", ""),
            option_group=raw.get("OptionGroupName"),
            tags=tags_from(raw.get("TagList")),
            copied_from=raw.get(source) or None,
            original_created_at=raw.get("OriginalSnapshotCreateTime"),
        )

    def find(self, identifier: str, snapshot_type: str | None = None) -> Snapshot | None:
        """The snapshot with this identifier or ARN, with its tags; None if there is none.

        RDS finds a snapshot by identifier only with its type: without `snapshot_type` only a
        manual snapshot (which every copy is); an automated one needs `automated`, an AWS
        Backup DB snapshot `awsbackup` (API reference, DescribeDBSnapshots and
        DescribeDBClusterSnapshots)."""
        typed: dict[str, Any] = {"SnapshotType": snapshot_type} if snapshot_type else {}
        try:
            with aws_call(f"Describing {self.noun} {identifier}"):
                if self.kind == "cluster":
                    found: list[Any] = list(
                        self.client.describe_db_cluster_snapshots(
                            DBClusterSnapshotIdentifier=identifier, **typed
                        )["DBClusterSnapshots"]
                    )
                else:
                    found = list(
                        self.client.describe_db_snapshots(DBSnapshotIdentifier=identifier, **typed)[
                            "DBSnapshots"
                        ]
                    )
        except errors.SnapshotNotFound:
            return None
        if not found:
            return None
        snapshot = self._from_response(found[0])
        if "TagList" not in found[0]:
            snapshot = self._with_tags(snapshot)
        return snapshot

    def get(self, identifier: str, snapshot_type: str | None = None) -> Snapshot:
        """Like `find`, but a missing snapshot raises `SnapshotNotFound`."""
        snapshot = self.find(identifier, snapshot_type)
        if snapshot is None:
            raise errors.SnapshotNotFound(f"The {self.noun} {identifier} does not exist")
        return snapshot

    def _with_tags(self, snapshot: Snapshot) -> Snapshot:
        with aws_call(f"Listing the tags of {snapshot.arn}"):
            tag_list = self.client.list_tags_for_resource(ResourceName=snapshot.arn)["TagList"]
        return Snapshot(**{**snapshot.__dict__, "tags": tags_from(list(tag_list))})

    def database_tags(self, snapshot: Snapshot) -> dict[str, str]:
        """Tags of the snapshot's database or cluster; empty if it no longer exists."""
        arn = str(Arn.parse(snapshot.arn).with_resource(f"{snapshot.kind}:{snapshot.database}"))
        try:
            with aws_call(f"Reading the tags of {arn}"):
                tag_list = self.client.list_tags_for_resource(ResourceName=arn)["TagList"]
        except errors.SnapshotNotFound:
            return {}
        return tags_from(list(tag_list))

    def list_manual(self) -> list[Snapshot]:
        """Every manual snapshot of this kind in the account, with tags."""
        return self.list_of_type("manual")

    def list_of_type(self, snapshot_type: str) -> list[Snapshot]:
        """Every snapshot of this kind and type (`manual`, `automated`, `awsbackup` for DB
        snapshots) in the account, with tags."""
        with aws_call(f"Listing the {snapshot_type} {self.noun}s"):
            if self.kind == "cluster":
                raws: list[Any] = [
                    raw
                    for page in self.client.get_paginator("describe_db_cluster_snapshots").paginate(
                        SnapshotType=snapshot_type
                    )
                    for raw in page["DBClusterSnapshots"]
                ]
            else:
                raws = [
                    raw
                    for page in self.client.get_paginator("describe_db_snapshots").paginate(
                        SnapshotType=snapshot_type
                    )
                    for raw in page["DBSnapshots"]
                ]
        found = []
        for raw in raws:
            snapshot = self._from_response(raw)
            found.append(snapshot if "TagList" in raw else self._with_tags(snapshot))
        return found

    def option_group_options(self, name: str) -> list[Option]:
        """The options of an option group, with their persistent and permanent flags."""
        with aws_call(f"Describing option group {name}"):
            groups: list[Any] = list(
                self.client.describe_option_groups(OptionGroupName=name)["OptionGroupsList"]
            )
        return [
            Option(
                name=str(raw.get("OptionName", "")),
                persistent=bool(raw.get("Persistent")),
                permanent=bool(raw.get("Permanent")),
            )
            for group in groups
            for raw in group.get("Options", [])
        ]

    # -- writing ---------------------------------------------------------------------------
    def copy(
        self,
        *,
        source: str,
        target: str,
        kms_key_id: str | None,
        tags: dict[str, str],
        source_region: str | None = None,
    ) -> Snapshot:
        """Start a copy of `source` (identifier or ARN) named `target`, encrypted with the key;
        without a key (None) the copy is encrypted as the source is, or not at all. A source in
        another region (`source_region`, its ARN as `source`) is copied into this client's
        region: `SourceRegion` makes boto3 sign the `PreSignedUrl` RDS needs in GovCloud and
        ignores elsewhere (CopyDBSnapshot / CopyDBClusterSnapshot, PreSignedUrl)."""
        keyed: dict[str, Any] = {"KmsKeyId": kms_key_id} if kms_key_id else {}
        if source_region:
            keyed["SourceRegion"] = source_region
        with aws_call(f"Copying {self.noun} {source} to {target}"):
            if self.kind == "cluster":
                raw: Any = self.client.copy_db_cluster_snapshot(
                    SourceDBClusterSnapshotIdentifier=source,
                    TargetDBClusterSnapshotIdentifier=target,
                    Tags=_tag_list(tags),
                    **keyed,
                )["DBClusterSnapshot"]
            else:
                raw = self.client.copy_db_snapshot(
                    SourceDBSnapshotIdentifier=source,
                    TargetDBSnapshotIdentifier=target,
                    Tags=_tag_list(tags),
                    **keyed,
                )["DBSnapshot"]
        snapshot = self._from_response(raw)
        return Snapshot(**{**snapshot.__dict__, "tags": {**snapshot.tags, **tags}})

    def share(self, identifier: str, account_id: str) -> None:
        """Let `account_id` copy the snapshot (the `restore` attribute)."""
        with aws_call(f"Sharing {self.noun} {identifier} with account {account_id}"):
            if self.kind == "cluster":
                self.client.modify_db_cluster_snapshot_attribute(
                    DBClusterSnapshotIdentifier=identifier,
                    AttributeName="restore",
                    ValuesToAdd=[account_id],
                )
            else:
                self.client.modify_db_snapshot_attribute(
                    DBSnapshotIdentifier=identifier,
                    AttributeName="restore",
                    ValuesToAdd=[account_id],
                )

    def shared_with(self, identifier: str) -> list[str]:
        """The accounts the snapshot is shared with."""
        with aws_call(f"Reading the attributes of {self.noun} {identifier}"):
            if self.kind == "cluster":
                result: Any = self.client.describe_db_cluster_snapshot_attributes(
                    DBClusterSnapshotIdentifier=identifier
                )["DBClusterSnapshotAttributesResult"]
                attributes = result.get("DBClusterSnapshotAttributes", [])
            else:
                result = self.client.describe_db_snapshot_attributes(
                    DBSnapshotIdentifier=identifier
                )["DBSnapshotAttributesResult"]
                attributes = result.get("DBSnapshotAttributes", [])
        return [
            value
            for attribute in attributes
            if attribute.get("AttributeName") == "restore"
            for value in attribute.get("AttributeValues", [])
        ]

    def delete(self, identifier: str) -> bool:
        """Delete the snapshot; False if it was already gone."""
        try:
            with aws_call(f"Deleting {self.noun} {identifier}"):
                if self.kind == "cluster":
                    self.client.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=identifier)
                else:
                    self.client.delete_db_snapshot(DBSnapshotIdentifier=identifier)
        except errors.SnapshotNotFound:
            return False
        return True
