"""The main account's databases as RDS and AWS Backup describe them: the DB instances and clusters
there are now (DescribeDBInstances, DescribeDBClusters), and those AWS Backup has backed up
(ListProtectedResources). What the hourly watch and `rds-xacct status` expect fresh copies of
(rds_xacct.jobs.freshness) is decided above, from these."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rds_xacct.aws.clients import aws_call
from rds_xacct.aws.snapshots import tags_from
from rds_xacct.model.state import Kind

PROTECTED_TYPES = ("RDS", "Aurora")
"""AWS Backup's resource types of RDS DB instances and clusters (ProtectedResource,
`ResourceType`); DocumentDB and Neptune have their own."""


@dataclass(frozen=True)
class Database:
    """A DB instance or a DB cluster of the account."""

    kind: Kind
    name: str
    arn: str
    engine: str
    automated_backups: bool
    """Automated backups on (`BackupRetentionPeriod` above 0)."""
    tags: dict[str, str] = field(default_factory=dict)


def _database(kind: Kind, raw: Any, identifier: str, arn: str) -> Database:
    """A DB instance or cluster from its Describe answer (`identifier`, `arn`: its fields)."""
    return Database(
        kind,
        raw[identifier],
        raw[arn],
        raw.get("Engine", ""),
        int(raw.get("BackupRetentionPeriod") or 0) > 0,
        tags_from(raw.get("TagList")),
    )


def databases(rds: Any) -> list[Database]:
    """Every DB instance that is not a member of a cluster (a cluster's instances are backed up
    as the cluster), and every DB cluster, with their tags (both Describe answers carry them)."""
    found: list[Database] = []
    with aws_call("Listing the DB instances"):
        for page in rds.get_paginator("describe_db_instances").paginate():
            found.extend(
                _database("db", raw, "DBInstanceIdentifier", "DBInstanceArn")
                for raw in page["DBInstances"]
                if not raw.get("DBClusterIdentifier")
            )
    with aws_call("Listing the DB clusters"):
        for page in rds.get_paginator("describe_db_clusters").paginate():
            found.extend(
                _database("cluster", raw, "DBClusterIdentifier", "DBClusterArn")
                for raw in page["DBClusters"]
            )
    return found


def protected(backup: Any) -> set[str]:
    """The ARNs of the DB instances and clusters AWS Backup has backed up: "resources
    successfully backed up by AWS Backup" (AWS Backup API reference, ListProtectedResources),
    one entry per resource, a thousand to a page."""
    found: set[str] = set()
    with aws_call("Listing the resources AWS Backup protects"):
        for page in backup.get_paginator("list_protected_resources").paginate():
            found.update(
                str(resource["ResourceArn"])
                for resource in page.get("Results", [])
                if resource.get("ResourceType") in PROTECTED_TYPES and resource.get("ResourceArn")
            )
    return found
