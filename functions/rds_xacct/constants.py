"""Names, tags, limits and defaults: the one place they are defined.

The template, the backup-account template, the README and the tests all follow these values;
`tests/unit/test_contracts.py` checks that the templates agree with them.
"""

from __future__ import annotations

from typing import Final

APP_NAME: Final = "rds-xacct"
"""Value of the `rds-xacct:app` tag on every copy this app makes."""

# --- Tags -------------------------------------------------------------------------------------
TAG_PREFIX: Final = "rds-xacct:"
TAG_APP: Final = "rds-xacct:app"
TAG_SOURCE_ARN: Final = "rds-xacct:source-arn"
TAG_SOURCE_ACCOUNT: Final = "rds-xacct:source-account"
TAG_ROLE: Final = "rds-xacct:role"
"""`shared` for the intermediate copy in the main account, `backup` for the copy kept in the
backup account."""
TAG_EXPIRES_AT: Final = "rds-xacct:expires-at"
"""ISO 8601 UTC (`2026-11-25T02:10:00Z`) after which the backup copy is deleted. Absent when
the retention is 0 (kept for good). An operator may move it later, or remove the app tag to
keep the copy."""
TAG_EXECUTION: Final = "rds-xacct:execution"
"""Name of the Step Functions execution that made the copy."""
TAG_MADE_AT: Final = "rds-xacct:made-at"
"""ISO 8601 UTC time the copy was started (the sweeper's clock for intermediate copies)."""

ROLE_SHARED: Final = "shared"
ROLE_BACKUP: Final = "backup"

# --- Names ------------------------------------------------------------------------------------
COPY_ID_PREFIX: Final = "xacct"
"""Every copy's identifier starts with this, e.g. `xacct-mydb-20261124-021000-1a2b3c4d`."""
MAX_DB_SNAPSHOT_ID: Final = 255
MAX_CLUSTER_SNAPSHOT_ID: Final = 63
NAME_HASH_LENGTH: Final = 8

# --- Retention ----------------------------------------------------------------------------------
DEFAULT_RETENTION_DAYS: Final = 1
MAX_RETENTION_DAYS: Final = 364
"""A Standard execution lasts at most a year; the wait for the retention must fit in it."""
RETENTION_TAG: Final = "rds-xacct:retention-days"
"""Optional tag on a source database or cluster: overrides `RetentionDays` for its copies."""

# --- Polling ----------------------------------------------------------------------------------
POLL_MIN_SECONDS: Final = 30
POLL_MAX_SECONDS: Final = 3600
POLL_FIRST_SECONDS: Final = 60
POLL_AIM: Final = 0.8
"""Look again after this share of the estimated time left: a little before the copy should end,
so a finished copy is noticed within about POLL_MIN_SECONDS with a handful of looks."""
COPY_DEADLINE_HOURS: Final = 168
"""A copy still not available this long after it started is a failure (`CopyTimedOut`). A week:
multi-TiB copies take many hours, and a stuck copy still surfaces."""

# --- Sweeper -----------------------------------------------------------------------------------
SWEEP_GRACE_HOURS: Final = 24
"""The daily sweeper deletes a backup copy this long after its expiry (a live run deletes it at
expiry; the sweeper catches runs that were stopped or lost), and an intermediate copy this long
after the copy deadline (no live run can still need it)."""

# --- Snapshot states --------------------------------------------------------------------------
STATUS_AVAILABLE: Final = "available"
FAILED_STATUSES: Final = frozenset({"failed", "error", "incompatible-restore", "deleted"})
