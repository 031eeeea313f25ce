"""AWS Backup: what the app asks of it that moto does not answer.

`ListProtectedResources` (moto 5.2.5 has no route nor handler for it: `404 Not yet
implemented`). Real AWS Backup "returns an array of resources successfully backed up by AWS
Backup, including the time the resource was saved, an Amazon Resource Name (ARN) of the
resource, and a resource type", a thousand to a page (AWS Backup API reference,
ListProtectedResources; ProtectedResource). The simulation's AWS Backup snapshots are made in
RDS directly (moto has no backup:StartBackupJob; simulation.world.World.backup_snapshot), so its
protected resources are read from them: each DB instance with an available `awsbackup` DB
snapshot (type `RDS`), each cluster with an available cluster snapshot named `awsbackup:job-…`
(type `Aurora`), with the time of its newest such snapshot and that snapshot as the recovery
point (for RDS, AWS Backup's recovery point is the snapshot).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from unittest import mock

from moto.backup import urls as backup_urls
from moto.backup.responses import BackupResponse
from moto.rds.models import rds_backends

from simulation.moto.rds import snapshots_of

PAGE = 1000
"""ListProtectedResources' largest page (`MaxResults`: 1 to 1000)."""
AWS_BACKUP_PREFIX = "awsbackup:job-"


def _newest_backups(account: str, region: str) -> dict[str, tuple[datetime, str, str, str]]:
    """Each resource AWS Backup backed up: its ARN to (newest backup time, type, name, the
    recovery point)."""
    backend = rds_backends[account][region]
    found: dict[str, tuple[datetime, str, str, str]] = {}
    for kind, resource_type in (("db", "RDS"), ("cluster", "Aurora")):
        for snapshot in snapshots_of(backend, kind):
            if kind == "db":
                ours = snapshot.snapshot_type == "awsbackup"
                owner = snapshot.database
                name = owner.db_instance_identifier
            else:
                ours = snapshot.db_cluster_snapshot_identifier.startswith(AWS_BACKUP_PREFIX)
                owner = snapshot.cluster
                name = owner.db_cluster_identifier
            if not ours or snapshot.status != "available":
                continue
            entry = (snapshot.created, resource_type, name, snapshot.arn)
            if owner.arn not in found or entry > found[owner.arn]:
                found[owner.arn] = entry
    return found


def _list_protected_resources() -> Callable[[Any], str]:
    # See the module's docstring: moto has none; AWS Backup answers each resource once, with
    # its type and the time of its last backup, in pages (NextToken).
    def list_protected_resources(response: Any) -> str:
        query = response.querystring
        size = min(int((query.get("maxResults") or [PAGE])[0]), PAGE)
        start = int((query.get("nextToken") or ["0"])[0])
        found = _newest_backups(response.current_account, response.region)
        arns = sorted(found)
        results = [
            {
                "ResourceArn": arn,
                "ResourceType": found[arn][1],
                "ResourceName": found[arn][2],
                "LastBackupTime": found[arn][0].timestamp(),
                "LastRecoveryPointArn": found[arn][3],
            }
            for arn in arns[start : start + size]
        ]
        answer: dict[str, Any] = {"Results": results}
        if start + size < len(arns):
            answer["NextToken"] = str(start + size)
        return json.dumps(answer)

    return list_protected_resources


def patches() -> list[Any]:
    """ListProtectedResources routed (GET /resources/) and answered."""
    return [
        mock.patch.dict(backup_urls.url_paths, {"{0}/resources/?$": BackupResponse.dispatch}),
        mock.patch.object(
            BackupResponse, "list_protected_resources", _list_protected_resources(), create=True
        ),
    ]


__all__ = ["patches"]
