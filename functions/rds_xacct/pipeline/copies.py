"""What a run knows about its two copies, for the steps that make, watch and delete them: whose
a snapshot of the copy's name is, the key a copy is made with, the slot's lease, and whether the
backup copy is already there (made by another run of the same snapshot)."""

from __future__ import annotations

from datetime import timedelta

from rds_xacct.aws.accounts import Accounts
from rds_xacct.model import errors
from rds_xacct.model.constants import (
    APP_NAME,
    ROLE_BACKUP,
    SLOT_LEASE_SECONDS,
)
from rds_xacct.model.ownership import is_ours
from rds_xacct.model.settings import Settings
from rds_xacct.model.snapshot import Snapshot
from rds_xacct.model.state import Job, Kind


def not_ours(snapshot: Snapshot, *, where: str, source_arn: str) -> errors.SnapshotNotOwned:
    return errors.SnapshotNotOwned(
        f"A snapshot named {snapshot.identifier} already exists in the {where} account "
        f"({snapshot.arn}) but was not made by {APP_NAME} as a copy of {source_arn} "
        f"(its tags: {snapshot.tags or 'none'}). It was left alone. Rename or delete it if it is "
        f"not needed, then start the run again."
    )


def copy_key(job: Job, settings: Settings, *, backup: bool = False) -> str | None:
    """The key a copy is made with: the backup account's, of the region the copy lands in (the
    intermediate copy in the source's region; the backup copy in the backup region, when one is
    set); none for an unencrypted cluster snapshot ("If you copy an unencrypted DB cluster
    snapshot and specify a value for the KmsKeyId parameter, an error is returned": API
    reference, CopyDBClusterSnapshot). An
    unencrypted DB snapshot copied with the key comes out encrypted with it (CopyDBSnapshot: "If
    you specify this parameter when you copy an unencrypted snapshot, the copy is encrypted")."""
    source = job["source"]
    if source["kind"] == "cluster" and not source.get("encrypted"):
        return None
    return settings.backup_copy_kms_key_arn if backup else settings.backup_kms_key_arn


def lease() -> timedelta:
    return timedelta(seconds=SLOT_LEASE_SECONDS)


def find_backup(accounts: Accounts, job: Job, kind: Kind) -> Snapshot | None:
    """The backup copy of this source, if this app made it; raises if the name is taken."""
    api = accounts.backup(kind)
    existing = api.find(job["copyId"])
    if existing is not None and not is_ours(
        existing.tags, source_arn=job["source"]["arn"], role=ROLE_BACKUP
    ):
        raise not_ours(existing, where="backup", source_arn=job["source"]["arn"])
    return existing


SERVED_BY_ANOTHER_RUN = (
    "another run of the same snapshot deleted this intermediate copy after making the backup "
    "copy from it: this run carries on with that backup copy"
)


def backup_already_made(accounts: Accounts, job: Job, kind: Kind) -> bool:
    """When two runs copy one snapshot (a redelivered or late event, the reconciliation), they
    share the intermediate copy, and the first to finish deletes it once its backup copy is
    made. The other run then needs no intermediate copy: the backup copy is there to adopt."""
    backup = find_backup(accounts, job, kind)
    return backup is not None and not backup.failed
