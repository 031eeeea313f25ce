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

# --- Polling (see `polling.py`) ----------------------------------------------------------------
POLL_MIN_SECONDS: Final = 30
"""The shortest wait between two looks at a copy."""
POLL_MAX_SECONDS: Final = 8 * 3600
"""The longest wait between two looks: a safety net against a wrong estimate (progress that
slows down, a misread percent), which then costs at most this much delay. Not shorter: a 12-hour
copy seen in 4 looks needs one wait of about 7 hours (from its 10-minute look, at 1 %, to a look
near 60 %, the reading precise enough to aim at the end); 8 hours keeps an hour's margin."""
POLL_FIRST_SECONDS: Final = 60
"""The first look at a new copy is this long after it started."""
POLL_IDLE_FACTOR: Final = 10
"""While a copy still reports 0 %, look again at this many times the time spent so far (at 60 s,
then 10 min, ...). Linear progress at 0 % after t means a copy of over 100 t; a smaller factor
would hedge more against RDS's setup at 0 % but costs a copy of hours a 5th look."""
POLL_AIM: Final = 0.95
"""When the end is not yet known precisely, look again after this share of the time to the
earliest possible end: late enough for the next reading to pin the end down, early enough not to
miss it."""
POLL_TOLERANCE_SECONDS: Final = 60
POLL_TOLERANCE_SHARE: Final = 0.02
"""A finished copy is noticed within max(POLL_TOLERANCE_SECONDS, this share of its copy time)
after it became available."""
POLL_STALL_PERCENT: Final = 99
"""From this percent on, progress stalls (the last percent, then 100 % before `available`): the
estimate is no use, so look again after the tolerance."""
POLL_TAIL_SECONDS: Final = 60
"""When aiming at the end, look up to this much after it, as far as the tolerance allows: RDS
often shows 100 % for a while before `available`, and a look then is a wasted one."""
POLL_MARGIN_SECONDS: Final = 10
"""Kept in hand from the tolerance: a look runs a few seconds after its wait ends (a state
transition and a Lambda call)."""
COPY_DEADLINE_HOURS: Final = 168
"""A copy still not available this long after it started is a failure (`CopyTimedOut`). A week:
multi-TiB copies take many hours, and a stuck copy still surfaces."""

# --- Sweeper -----------------------------------------------------------------------------------
SWEEP_GRACE_HOURS: Final = 24
"""The daily sweeper deletes a backup copy this long after its expiry (a live run deletes it at
expiry; the sweeper catches runs that were stopped or lost), and an intermediate copy this long
after the copy deadline (no live run can still need it)."""

# --- Admission control (see `admission.py`) ---------------------------------------------------
RDS_COPIES_IN_PROGRESS_LIMIT: Final = 20
"""RDS refuses a 21st snapshot copy in progress per account and destination region."""
POOL_MAIN: Final = "main"
POOL_BACKUP: Final = "backup"
"""The two pools of a run: copies landing in the main account, and in the backup account."""
DEFAULT_MAX_COPIES_IN_FLIGHT: Final = 18
"""Copy slots per pool (account and region where copies land), the `MaxCopiesInFlight`
parameter's default: a little under RDS's 20, so that copies made outside the app still fit."""
SLOT_LEASE_SECONDS: Final = 3600
"""A slot's lease runs this long past the holder's next expected look (each look renews it): a
run lost while holding a slot gives it back at most this long after it stopped looking."""
SLOT_RECHECK_SECONDS: Final = 1800
"""A waiting run's wait times out after this long; it then reaps lapsed leases and waits again,
keeping its place (the state machine's `TimeoutSeconds` of the slot waits)."""
SLOT_BATCH_MINUTES: Final = 30
"""Slots go in arrival order by this many minutes and, within them, to the largest copy first
(`admission.Place`)."""
SLOT_WAIT_HOURS: Final = 24
"""A run that finds no slot within this long fails with `NoCopySlot`: a day, so a whole backup
window drains, while a stuck pool still surfaces."""

# --- Quotas ------------------------------------------------------------------------------------
QUOTA_WARN_FRACTION: Final = 0.8
"""Warn when an account's manual snapshot quota is this full (used / max), before it refuses
copies (`rds_xacct.quotas`)."""

# --- Snapshot states --------------------------------------------------------------------------
STATUS_AVAILABLE: Final = "available"
FAILED_STATUSES: Final = frozenset({"failed", "error", "incompatible-restore", "deleted"})
