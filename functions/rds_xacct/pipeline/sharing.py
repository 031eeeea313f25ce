"""Share: the main account lets the backup account copy the intermediate copy."""

from __future__ import annotations

from rds_xacct.aws.accounts import Accounts
from rds_xacct.model import errors
from rds_xacct.model.constants import (
    ROLE_INTERMEDIATE,
)
from rds_xacct.model.ownership import is_ours
from rds_xacct.model.settings import Settings
from rds_xacct.model.state import (
    IntermediateCopy,
    RunState,
    kind_of,
)
from rds_xacct.pipeline.copies import SERVED_BY_ANOTHER_RUN, backup_already_made, not_ours


def share(state: RunState, *, settings: Settings) -> IntermediateCopy:
    """Let the backup account copy the intermediate copy."""
    job, summary = state["job"], state["intermediate"]
    accounts = Accounts(settings, job["execution"])
    api = accounts.main(kind_of(state))
    found = api.find(summary["id"])
    if found is None and backup_already_made(accounts, job, kind_of(state)):
        return {**summary, "note": SERVED_BY_ANOTHER_RUN}
    snapshot = found or api.get(summary["id"])
    if not is_ours(snapshot.tags, source_arn=job["source"]["arn"], role=ROLE_INTERMEDIATE):
        raise not_ours(snapshot, where="main", source_arn=job["source"]["arn"])
    if not snapshot.available:
        raise errors.SnapshotNotReady(f"The intermediate copy {snapshot.arn} is {snapshot.status}")
    if settings.backup_account_id not in api.shared_with(snapshot.identifier):
        api.share(snapshot.identifier, settings.backup_account_id)
    return {**summary, "sharedWith": settings.backup_account_id}
