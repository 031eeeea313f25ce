"""Which databases the deployment copies, and for how long it keeps their copies: the rules
DescribeSource applies to every run and the daily reconciliation to every source it looks at.
"""

from __future__ import annotations

import fnmatch

from rds_xacct.model import errors
from rds_xacct.model.constants import MAX_RETENTION_DAYS, RETENTION_TAG
from rds_xacct.model.settings import Settings


def retention_days(settings: Settings, database_tags: dict[str, str]) -> int:
    """Days to keep the backup copy: the database's retention tag, else the deployment's."""
    override = database_tags.get(RETENTION_TAG)
    if override is None:
        return settings.retention_days
    try:
        days = int(override.strip())
    except ValueError:
        days = -1
    if not 0 <= days <= MAX_RETENTION_DAYS:
        raise errors.UnsupportedEvent(
            f"The database's {RETENTION_TAG} tag is {override!r}: it must be a whole number of "
            f"days from 0 (keep for good) to {MAX_RETENTION_DAYS}"
        )
    return days


def skip_reason(settings: Settings, database: str, database_tags: dict[str, str]) -> str | None:
    """Why this database is not copied under the deployment's selection, or None."""
    if settings.include and not any(fnmatch.fnmatchcase(database, p) for p in settings.include):
        return f"{database} matches none of the included patterns {list(settings.include)}"
    for pattern in settings.exclude:
        if fnmatch.fnmatchcase(database, pattern):
            return f"{database} matches the excluded pattern {pattern!r}"
    if settings.selection_tag:
        key, value = settings.selection_tag
        if database_tags.get(key) != value:
            return f"{database} does not carry the selection tag {key}={value}"
    return None
