"""A snapshot as the app sees it, DB snapshot or DB cluster snapshot alike (read from RDS by
rds_xacct.aws.snapshots), and the JSON the state machine carries for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from rds_xacct.model.arns import Arn
from rds_xacct.model.constants import FAILED_STATUSES, STATUS_AVAILABLE
from rds_xacct.model.state import Kind, SnapshotSummary
from rds_xacct.model.times import iso


@dataclass(frozen=True)
class Snapshot:
    """What the app needs to know about one snapshot."""

    kind: Kind
    identifier: str
    arn: str
    database: str
    engine: str
    status: str
    created_at: datetime | None
    encrypted: bool
    kms_key_id: str | None
    size_gib: int
    percent: int
    snapshot_type: str
    option_group: str | None = None
    """The DB snapshot's option group (cluster snapshots have none)."""
    tags: dict[str, str] = field(default_factory=dict)
    copied_from: str | None = None
    """The ARN of the snapshot this one was copied from, as RDS records it for a cross-account
    or cross-Region copy (`SourceDBSnapshotIdentifier`, `SourceDBClusterSnapshotArn`): set by
    RDS, never changed, so it says which account a copy came from whatever its tags say."""
    original_created_at: datetime | None = None
    """A DB snapshot's `OriginalSnapshotCreateTime`: "the time of the CreateDBSnapshot operation
    ... Doesn't change when the snapshot is copied" (RDS API reference, DBSnapshot), whereas
    its `SnapshotCreateTime` "changes for the copy". RDS reports none for cluster snapshots."""

    @property
    def available(self) -> bool:
        return self.status == STATUS_AVAILABLE

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES

    @property
    def account(self) -> str:
        return Arn.parse(self.arn).account

    def summary(self) -> SnapshotSummary:
        """The JSON the state machine carries for this snapshot."""
        return {
            "arn": self.arn,
            "id": self.identifier,
            "kind": self.kind,
            "account": self.account,
            "status": self.status,
            "percent": self.percent,
            "sizeGiB": self.size_gib,
            "encrypted": self.encrypted,
            "kmsKeyId": self.kms_key_id,
            "createdAt": iso(self.created_at) if self.created_at else None,
        }


@dataclass(frozen=True)
class Option:
    """One option of an option group (DescribeOptionGroups)."""

    name: str
    persistent: bool
    permanent: bool
