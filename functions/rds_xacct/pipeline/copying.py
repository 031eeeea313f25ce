"""CopyIntermediate: the intermediate copy in the main account, re-encrypted with the backup
account's key, once both accounts' manual snapshot quotas have room for it."""

from __future__ import annotations

from rds_xacct.admission import capacity
from rds_xacct.admission import slots as admission
from rds_xacct.aws import quotas
from rds_xacct.aws.accounts import Accounts
from rds_xacct.aws.snapshots import SnapshotApi
from rds_xacct.model import errors
from rds_xacct.model.arns import Arn
from rds_xacct.model.constants import (
    APP_NAME,
    POLL_FIRST_SECONDS,
    POOL_MAIN,
    ROLE_INTERMEDIATE,
)
from rds_xacct.model.ownership import app_tags, is_ours
from rds_xacct.model.settings import Settings
from rds_xacct.model.state import (
    IntermediateCopy,
    RunState,
    kind_of,
)
from rds_xacct.model.times import Clock, iso, utc_now
from rds_xacct.pipeline.copies import copy_key, lease, not_ours


def copy_intermediate(
    state: RunState, *, settings: Settings, now: Clock = utc_now
) -> IntermediateCopy:
    """Copy the source in the main account, re-encrypted with the backup account's key."""
    job = state["job"]
    source_arn, copy_id = job["source"]["arn"], job["copyId"]
    api = Accounts(settings, job["execution"]).main(kind_of(state))
    existing = api.find(copy_id)
    if existing is not None:
        if not is_ours(existing.tags, source_arn=source_arn, role=ROLE_INTERMEDIATE):
            raise not_ours(existing, where="main", source_arn=source_arn)
        if existing.failed:
            raise errors.SnapshotFailed(
                f"The intermediate copy {existing.arn} is {existing.status}"
            )
        # Made by an earlier delivery of the same event: carry on watching it from now.
        return {
            **existing.summary(),
            "copyStartedAt": iso(now()),
            "adopted": True,
            "waitSeconds": POLL_FIRST_SECONDS,
        }
    # Room in both accounts' manual snapshot quotas, before the first copy is made
    kind = kind_of(state)
    accounts = Accounts(settings, job["execution"])
    main_account = Arn.parse(job["executionArn"]).account
    main_usage = quotas.manual_snapshot_usage(api.client, main_account, kind)
    if main_usage is not None and main_usage.room == 0:
        _wait_if_room_comes_back(api, main_usage)
    warnings = capacity.check_room(
        [
            main_usage,
            accounts.backup_quota(kind),
        ],
        settings=settings,
        now=now(),
    )
    admission.renew_slot(job, POOL_MAIN, now() + lease(), settings=settings)
    started = now()
    created = api.copy(
        source=job["source"]["id"],
        target=copy_id,
        kms_key_id=copy_key(job, settings),
        tags=app_tags(
            source_arn=source_arn,
            role=ROLE_INTERMEDIATE,
            execution=job["execution"],
            made_at=started,
        ),
    )
    result: IntermediateCopy = {
        **created.summary(),
        "copyStartedAt": iso(started),
        "adopted": False,
        "waitSeconds": POLL_FIRST_SECONDS,
    }
    if warnings:
        result["quotaWarnings"] = warnings
    return result


def _wait_if_room_comes_back(api: SnapshotApi, usage: quotas.QuotaUsage) -> None:
    """The main account's quota is full. If the app's own intermediate copies fill it, other
    runs delete them within the hour: a reason to wait (`CopyLimitReached`, retried), not to
    fail. Otherwise the quota is full for good and `check_room` says so."""
    passing = [s for s in api.list_manual() if is_ours(s.tags, role=ROLE_INTERMEDIATE)]
    if passing:
        raise errors.CopyLimitReached(
            f"{usage.text}: {len(passing)} of them are intermediate copies of other runs of "
            f"{APP_NAME}, deleted as those runs finish. Waiting for room."
        )
