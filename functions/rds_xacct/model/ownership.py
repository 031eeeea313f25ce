"""Whose snapshot is this? The app's one ownership check, over a snapshot's tags.

The app deletes only what carries its tags (`TAG_APP`), in the role the deleting step expects
(`TAG_ROLE`: the intermediate copy in the main account, the backup copy in the backup account),
made from the source the run copies (`TAG_SOURCE_ARN`). Every step, the sweep, reconciliation and
the backup account's keeper ask here; the keeper adds rules of its own (rds_xacct.keeper.rules).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from rds_xacct.model.constants import (
    APP_NAME,
    ROLE_BACKUP,
    ROLE_INTERMEDIATE,
    ROLE_INTERMEDIATE_FORMERLY,
    TAG_APP,
    TAG_EXECUTION,
    TAG_MADE_AT,
    TAG_ROLE,
    TAG_SOURCE_ACCOUNT,
    TAG_SOURCE_ARN,
)
from rds_xacct.model.naming import source_arn_tag
from rds_xacct.model.times import iso

Tags = Mapping[str, str]


def app_tags(*, source_arn: str, role: str, execution: str, made_at: datetime) -> dict[str, str]:
    """The tags every copy this app makes carries."""
    return {
        TAG_APP: APP_NAME,
        TAG_SOURCE_ARN: source_arn_tag(source_arn),
        TAG_SOURCE_ACCOUNT: source_arn.split(":")[4],
        TAG_ROLE: role,
        TAG_EXECUTION: execution,
        TAG_MADE_AT: iso(made_at),
    }


def is_app_snapshot(tags: Tags) -> bool:
    """The snapshot carries the app's tag: one of its copies, whatever its role."""
    return tags.get(TAG_APP) == APP_NAME


def role_of(tags: Tags) -> str | None:
    """The role of the app's copy these tags describe, or None when they describe none."""
    if not is_app_snapshot(tags):
        return None
    role = tags.get(TAG_ROLE)
    if role == ROLE_INTERMEDIATE_FORMERLY:
        return ROLE_INTERMEDIATE
    return role if role in (ROLE_INTERMEDIATE, ROLE_BACKUP) else None


def is_ours(tags: Tags, *, role: str, source_arn: str | None = None) -> bool:
    """The app made this snapshot as its `role` copy (of `source_arn`, when given)."""
    if role_of(tags) != role:
        return False
    return source_arn is None or tags.get(TAG_SOURCE_ARN) == source_arn_tag(source_arn)
