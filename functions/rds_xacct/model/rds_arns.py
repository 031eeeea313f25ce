"""What an RDS ARN means: which snapshot (DB or cluster, its identifier) or which database.

`arn:partition:rds:region:account:snapshot:identifier` (a DB snapshot),
`…:cluster-snapshot:identifier` (a DB cluster snapshot), `…:db:name` and `…:cluster:name` (the
databases they are made of): "Constructing an ARN for Amazon RDS", RDS User Guide. An
identifier may contain colons (`awsbackup:job-…`, `rds:mydb-2026-11-24-02-10`). Read with the
one parser, rds_xacct.model.arns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rds_xacct.model.arns import Arn
from rds_xacct.model.errors import UnsupportedEvent
from rds_xacct.model.state import Kind

SNAPSHOT_TYPES: dict[str, Kind] = {"snapshot": "db", "cluster-snapshot": "cluster"}
"""The resource type of a snapshot ARN → the snapshot's kind."""

_DATABASE_TYPES: dict[Kind, str] = {"db": "db", "cluster": "cluster"}
"""The kind of a snapshot → the resource type of its database's ARN."""


def _rds(arn: Any, what: str) -> Arn:
    """The ARN of an RDS resource, or UnsupportedEvent naming `what` it should have been."""
    try:
        parsed = Arn.parse(arn)
    except ValueError:
        raise UnsupportedEvent(f"{arn!r} is not an {what} ARN") from None
    if parsed.service != "rds":
        raise UnsupportedEvent(f"{arn!r} is not an {what} ARN")
    return parsed


@dataclass(frozen=True)
class SnapshotArn:
    """The parts of an RDS snapshot ARN. The identifier may contain colons
    (`awsbackup:job-…`, `rds:mydb-2026-11-24-02-10`)."""

    arn: str
    partition: str
    region: str
    account: str
    kind: Kind
    identifier: str

    @classmethod
    def parse(cls, arn: Any) -> SnapshotArn:
        """Read an RDS snapshot or cluster snapshot ARN; anything else raises UnsupportedEvent."""
        if not isinstance(arn, str):
            raise UnsupportedEvent(f"{arn!r} is not an RDS snapshot ARN")
        parsed = _rds(arn, "RDS snapshot or cluster snapshot")
        arn_type = next((t for t in SNAPSHOT_TYPES if parsed.typed(t)), None)
        if arn_type is None:
            raise UnsupportedEvent(f"{arn!r} is not an RDS snapshot or cluster snapshot ARN")
        if not parsed.resource_id:
            raise UnsupportedEvent(f"{arn!r} has no snapshot identifier")
        return cls(
            arn=arn,
            partition=parsed.partition,
            region=parsed.region,
            account=parsed.account,
            kind=SNAPSHOT_TYPES[arn_type],
            identifier=parsed.resource_id,
        )

    @classmethod
    def names_one(cls, text: Any) -> bool:
        """Is this an ARN whose resource is a snapshot or cluster snapshot?"""
        try:
            parsed = Arn.parse(text)
        except ValueError:
            return False
        return any(parsed.typed(t) for t in SNAPSHOT_TYPES)

    @classmethod
    def build(
        cls, *, partition: str, region: str, account: str, kind: Kind, identifier: str
    ) -> str:
        arn_type = next(t for t, k in SNAPSHOT_TYPES.items() if k == kind)
        return str(Arn(partition, "rds", region, account, f"{arn_type}:{identifier}"))

    @classmethod
    def of_backup_job(cls, database_arn: Any, kind: Kind, job_id: str) -> SnapshotArn:
        """The snapshot an AWS Backup job makes of a database: `awsbackup:job-<id>`, in the
        database's partition, region and account."""
        database = _rds(database_arn, "RDS resource")
        if not database.typed(database.resource_type):
            raise UnsupportedEvent(f"{database_arn!r} is not an RDS resource ARN")
        return cls.parse(
            cls.build(
                partition=database.partition,
                region=database.region,
                account=database.account,
                kind=kind,
                identifier=f"awsbackup:job-{job_id}",
            )
        )

    def database_arn(self, database: str) -> str:
        """The ARN of the DB instance or cluster named `database` this snapshot was made of."""
        resource = f"{_DATABASE_TYPES[self.kind]}:{database}"
        return str(Arn.parse(self.arn).with_resource(resource))
