"""Copies in another region (disaster recovery): the main stack's BackupRegion. The backup
account's stack runs in that region, its source-region-key stack in the main account's region;
the backup copy lands in the backup region, with the backup account's key there, and is kept,
expired and deleted there (docs/regions-and-accounts.md)."""

from __future__ import annotations

from typing import Any

import pytest
from moto.rds.models import rds_backends

from rds_xacct.model.constants import ROLE_BACKUP, TAG_APP, TAG_ROLE
from simulation.driver import MakeSim, Simulation
from simulation.world import BACKUP_ACCOUNT, MAIN_ACCOUNT, REGION

DR_REGION = "us-east-1"


def _app_snapshots(account: str, region: str) -> list[str]:
    """The app's snapshots of `account` in `region`, read from moto's RDS."""
    backend = rds_backends[account][region]
    found = [*backend.database_snapshots.values(), *backend.cluster_snapshots.values()]
    return [str(s.arn) for s in found if any(t["Key"] == TAG_APP for t in s.tags or [])]


def _watch_the_backup_copy(sim: Simulation, kind: str) -> dict[str, Any]:
    """What the backup copy is right after CopyBackup made it: its ARN and key, read by the
    backup account in the backup region."""
    seen: dict[str, Any] = {}

    def look() -> None:
        rds = sim.world.backup.client("rds")
        if kind == "cluster":
            clusters = rds.describe_db_cluster_snapshots(SnapshotType="manual")
            (cluster,) = clusters["DBClusterSnapshots"]
            seen.update({"arn": cluster["DBClusterSnapshotArn"], "key": cluster.get("KmsKeyId")})
        else:
            (db,) = rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
            seen.update({"arn": db["DBSnapshotArn"], "key": db.get("KmsKeyId")})

    sim.after_step["CopyBackup"] = look
    return seen


@pytest.mark.parametrize("kind", ["db", "cluster"])
def test_a_copy_lands_in_the_backup_region_with_its_key_and_is_deleted_there(
    make_sim: MakeSim, kind: str
) -> None:
    # Given the main stack in eu-west-1 with BackupRegion us-east-1, a retention of 2 days and
    # a backup account that keeps copies at least 1 day
    sim = make_sim(
        backup_region=DR_REGION,
        parameters={"RetentionDays": "2"},
        backup_parameters={"MinimumRetentionDays": "1"},
    )
    seen = _watch_the_backup_copy(sim, kind)
    dr_key = sim.app.functions["CopyBackupFunction"].environment["BACKUP_REGION_KMS_KEY_ARN"]
    # When AWS Backup's event for a DB instance (or an Aurora cluster) is delivered
    result = sim.deliver(sim.backup_event("orders-db", kind=kind))
    # Then the run succeeds, its backup copy made in the backup account in us-east-1, encrypted
    # with the backup account's key there (not the intermediate's key of eu-west-1)
    assert result.status == "SUCCEEDED", result.cause
    noun = "cluster-snapshot" if kind == "cluster" else "snapshot"
    assert seen["arn"].startswith(f"arn:aws:rds:{DR_REGION}:{BACKUP_ACCOUNT}:{noun}:xacct-")
    assert seen["key"] == dr_key
    assert f":{DR_REGION}:" in dr_key
    assert sim.world.backup_key_arn != dr_key
    assert f":{REGION}:" in sim.world.backup_key_arn
    # And at the end of the retention the keeper there deleted it: nothing of the app is left in
    # either account, in either region
    summary = result.summary
    assert summary is not None
    assert summary["backupCopy"]["arn"] == seen["arn"]
    assert summary["backupCopy"]["action"] == "deleted"
    for account in (MAIN_ACCOUNT, BACKUP_ACCOUNT):
        for region in (REGION, DR_REGION):
            assert _app_snapshots(account, region) == [], (account, region)


def test_the_keepers_hourly_pass_deletes_in_the_backup_region(make_sim: MakeSim) -> None:
    # Given a run whose own delete the keeper refused (its retention of 1 day is shorter than
    # the backup account's minimum of 3): the copy stays in us-east-1
    sim = make_sim(
        backup_region=DR_REGION,
        parameters={"RetentionDays": "1"},
        backup_parameters={"MinimumRetentionDays": "3"},
    )
    result = sim.deliver(sim.backup_event("orders-db"))
    assert result.status == "SUCCEEDED", result.cause
    kept = [c for c in sim.world.app_copies(BACKUP_ACCOUNT) if c["tags"][TAG_ROLE] == ROLE_BACKUP]
    assert [c["arn"].split(":")[3] for c in kept] == [DR_REGION]
    # When three days pass, the backup account's hourly schedule running the keeper's pass there
    sim.advance(hours=3 * 24)
    # Then the pass deleted it in us-east-1, once its minimum retention was over
    assert sim.world.app_copies(BACKUP_ACCOUNT) == []
    assert _app_snapshots(BACKUP_ACCOUNT, DR_REGION) == []


def test_copy_slots_count_where_the_copy_lands(make_sim: MakeSim) -> None:
    # Given a run in flight with BackupRegion us-east-1
    sim = make_sim(backup_region=DR_REGION, parameters={"RetentionDays": "1"})
    pools: list[set[str]] = []
    sim.after_step["CopyIntermediate"] = lambda: pools.append(set(sim.copy_slots()))
    sim.after_step["CopyBackup"] = lambda: pools.append(set(sim.copy_slots()))
    # When it copies
    result = sim.deliver(sim.backup_event("orders-db"))
    # Then the first hop took a slot of the main account's pool in eu-west-1, the second one of
    # the backup account's pool in us-east-1
    assert result.status == "SUCCEEDED", result.cause
    assert f"copies#{MAIN_ACCOUNT}#{REGION}" in pools[0]
    assert f"copies#{BACKUP_ACCOUNT}#{DR_REGION}" in pools[1]
    assert f"copies#{BACKUP_ACCOUNT}#{REGION}" not in pools[1]
    assert sim.world.app_copies(MAIN_ACCOUNT) == []


def test_a_failed_backup_copy_in_the_backup_region_is_abandoned_there(make_sim: MakeSim) -> None:
    # Given BackupRegion us-east-1 and a backup copy that fails while copying
    sim = make_sim(backup_region=DR_REGION, parameters={"RetentionDays": "1"})
    event = sim.backup_event("orders-db")
    # (the copy made after the intermediate one, the backup copy, ends `failed`)
    sim.after_step["CopyIntermediate"] = lambda: sim.patches.fail_next_copy(1)
    # When the run goes on
    result = sim.deliver(event)
    # Then it fails, the keeper there deleted the failed copy, and nothing it made is left in
    # either region
    assert result.status == "FAILED"
    assert "CheckBackup" in result.states
    for account in (MAIN_ACCOUNT, BACKUP_ACCOUNT):
        for region in (REGION, DR_REGION):
            assert _app_snapshots(account, region) == [], (account, region)
