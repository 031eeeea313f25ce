"""AWS Backup's ListRecoveryPointsByResource for RDS and Aurora, which moto 5.2.5 lacks (its
AWS Backup keeps plans and vaults, no recovery points).

An AWS Backup recovery point of an RDS database or Aurora cluster *is* an RDS snapshot, named
`awsbackup:job-<id>` (a DB snapshot of type `awsbackup`, a manual cluster snapshot): the
simulation makes those in RDS (`World.backup_snapshot`), and this answers AWS Backup's listing
of a database's recovery points from them. `RECOVERY_POINTS.status` lets a test say what AWS
Backup reports of one (EXPIRED, DELETING, ...) while RDS still lists its snapshot.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from unittest import mock
from urllib.parse import unquote

from moto.backup import urls as backup_urls
from moto.backup.exceptions import InvalidParameterValueException
from moto.backup.responses import BackupResponse
from moto.rds.models import rds_backends

from rds_xacct.model.arns import Arn

AWS_BACKUP_PREFIX = "awsbackup:job-"
RDS_SMALLEST_PAGE = 20
PATH = "{0}/resources/(?P<resource_arn>.+)/recovery-points/?$"


@dataclass
class RecoveryPoints:
    status: dict[str, str] = field(default_factory=dict)
    """Recovery point ARN → the status AWS Backup reports (default: COMPLETED while its snapshot
    is available, CREATING before)."""


RECOVERY_POINTS = RecoveryPoints()


def _points(account: str, region: str, resource_arn: str) -> list[dict[str, Any]]:
    """The recovery points of a DB instance (`…:db:name`) or cluster (`…:cluster:name`)."""
    try:
        arn = Arn.parse(resource_arn)
    except ValueError:
        return []
    if arn.service != "rds" or arn.account != account or arn.region != region:
        return []
    backend = rds_backends[account][region]
    name = arn.resource_id.lower()
    snapshots: list[Any]
    if arn.typed("db"):
        snapshots = [
            s
            for s in backend.database_snapshots.values()
            if s.snapshot_type == "awsbackup" and s.db_instance_identifier == name
        ]
    elif arn.typed("cluster"):
        snapshots = [
            s
            for s in backend.cluster_snapshots.values()
            if s.db_cluster_snapshot_identifier.startswith(AWS_BACKUP_PREFIX)
            and s.cluster.db_cluster_identifier == name
        ]
    else:
        return []
    points = []
    for snapshot in sorted(snapshots, key=lambda s: s.snapshot_create_time, reverse=True):
        status = "COMPLETED" if snapshot.status == "available" else "CREATING"
        points.append(
            {
                "RecoveryPointArn": snapshot.arn,
                "CreationDate": snapshot.snapshot_create_time.timestamp(),
                "Status": RECOVERY_POINTS.status.get(snapshot.arn, status),
                **(
                    {"EncryptionKeyArn": key}
                    if (key := snapshot.kms_key_id or "").startswith("arn:")
                    else {}
                ),
                "BackupSizeBytes": int(snapshot.allocated_storage or 0) * 2**30,
                "BackupVaultName": "Default",
                "IsParent": False,
                "ResourceName": name,
            }
        )
    return points


def _list_recovery_points_by_resource() -> Any:
    # ListRecoveryPointsByResource API reference: GET /resources/{resourceArn}/recovery-points/
    # answers RecoveryPoints (RecoveryPointArn, CreationDate, Status COMPLETED | PARTIAL |
    # DELETING | EXPIRED | AVAILABLE | STOPPED | CREATING, EncryptionKeyArn, BackupSizeBytes,
    # BackupVaultName, ...) and a NextToken; MaxResults 1 to 1000, and "Amazon RDS requires a
    # value of at least 20". (Its order is not documented: newest first here.)
    def list_recovery_points_by_resource(response: BackupResponse) -> str:
        resource_arn = unquote(response.path.split("/resources/", 1)[1]).rsplit(
            "/recovery-points", 1
        )[0]
        params = response._get_params()
        size = int(params.get("maxResults") or 1000)
        if resource_arn.split(":")[2:3] == ["rds"] and size < RDS_SMALLEST_PAGE:
            raise InvalidParameterValueException(
                f"MaxResults must be at least {RDS_SMALLEST_PAGE} for Amazon RDS resources"
            )
        points = _points(response.current_account, response.region, resource_arn)
        first = int(params.get("nextToken") or 0)
        result: dict[str, Any] = {"RecoveryPoints": points[first : first + size]}
        if first + size < len(points):
            result["NextToken"] = str(first + size)
        return json.dumps(result)

    return list_recovery_points_by_resource


def patches() -> list[Any]:
    RECOVERY_POINTS.status.clear()
    return [
        mock.patch.dict(backup_urls.url_paths, {PATH: BackupResponse.dispatch}),
        mock.patch.object(
            BackupResponse,
            "list_recovery_points_by_resource",
            _list_recovery_points_by_resource(),
            create=True,
        ),
    ]


__all__ = ["RECOVERY_POINTS", "RecoveryPoints", "patches"]
