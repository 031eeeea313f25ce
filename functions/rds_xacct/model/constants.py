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
"""`intermediate` for the intermediate copy in the main account, `backup` for the copy kept in
the backup account (`ROLE_INTERMEDIATE_FORMERLY`: what releases before 0.2 wrote)."""
TAG_EXPIRES_AT: Final = "rds-xacct:expires-at"
"""ISO 8601 UTC (`2026-11-25T02:10:00Z`) after which the backup copy is deleted. Absent when
the retention is 0 (kept for good). The backup account's keeper records it when it first sees
the copy: an operator may move it later (never earlier), or tag the copy `rds-xacct:keep`."""
TAG_EXECUTION: Final = "rds-xacct:execution"
"""Name of the Step Functions execution that made the copy."""
TAG_MADE_AT: Final = "rds-xacct:made-at"
"""ISO 8601 UTC time the copy was started (the sweeper's clock for intermediate copies)."""
TAG_KEEP: Final = "rds-xacct:keep"
"""Set by an operator of the backup account (any value): the keeper never deletes the copy. The
main account can neither write nor remove it (other/backup-account: the cross-account role may
add only `BACKUP_COPY_TAG_KEYS` and remove none)."""
TAG_VALUE_MAX_LENGTH: Final = 256
"""RDS refuses a tag value longer than this (API reference, `Tag`: "from 1 to 256 Unicode
characters"). The source ARN of a long manual DB snapshot name is longer: its tag value is then
shortened (`naming.source_arn_tag`)."""

ROLE_INTERMEDIATE: Final = "intermediate"
ROLE_INTERMEDIATE_FORMERLY: Final = "shared"
"""The intermediate copy's role tag as releases before 0.2 wrote it: read as `ROLE_INTERMEDIATE`,
so that an upgrade in the middle of a run neither refuses nor leaves behind a copy made before."""
ROLE_BACKUP: Final = "backup"

BACKUP_COPY_TAG_KEYS: Final = (
    TAG_APP,
    TAG_SOURCE_ARN,
    TAG_SOURCE_ACCOUNT,
    TAG_ROLE,
    TAG_EXECUTION,
    TAG_MADE_AT,
    TAG_EXPIRES_AT,
)
"""Every tag key a backup copy is made with: the only keys the main account may write in the
backup account (the cross-account role's `aws:TagKeys` condition equals this list)."""

# --- Names ------------------------------------------------------------------------------------
COPY_ID_PREFIX: Final = "xacct"
"""Every copy's identifier starts with this, e.g. `xacct-mydb-20261124-021000-1a2b3c4d`."""
MAX_DB_SNAPSHOT_ID: Final = 255
MAX_CLUSTER_SNAPSHOT_ID: Final = 63
NAME_HASH_LENGTH: Final = 8

# --- Retention ----------------------------------------------------------------------------------
DEFAULT_RETENTION_DAYS: Final = 7
"""The main stack's `RetentionDays` default: equal to the backup account's default minimum, so
that a default deployment's deletes are honoured on the day they are asked for."""
DEFAULT_MIN_RETENTION_DAYS: Final = 7
"""The backup-account stack's `MinimumRetentionDays` default: the keeper deletes no backup copy
younger than this, whatever its tags or the main account say."""
# MAX_RETENTION_DAYS is derived from the run's other limits, below (Run length).
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

# --- Sweeper (main account) and keeper (backup account) ------------------------------------------
SWEEP_GRACE_HOURS: Final = 24
"""The main account's daily sweeper deletes an intermediate copy this long after the copy
deadline (no live run can still need it); the backup account's keeper deletes an unfinished
backup copy (never available) this long after the copy deadline, a failed one this long after
it was made."""
KEEPER_SCHEDULE: Final = "rate(1 hour)"
"""How often the backup account's keeper looks at every copy: records the expiry of new ones
and deletes those whose kept-until time has passed."""
KEEPER_TIMEOUT_SECONDS: Final = 90
"""The keeper function's timeout (the backup-account template's `Timeout`). A request is one
describe, a ledger read or write and at most one delete (seconds, or a minute of SDK retries
when throttled); the hourly pass lists the copies by the hundred and deletes the few due, and a
pass cut short leaves the rest to the next hour (every decision is made again from RDS and the
ledger). Short enough that a run's step waiting for an answer fits in the step's time."""
KEEPER_READ_TIMEOUT_SECONDS: Final = KEEPER_TIMEOUT_SECONDS + 10
"""How long a run waits for the keeper's answer (the Lambda client's `read_timeout`): longer
than the keeper may run, plus its cold start and the invoke's round trip, so that a slow answer
is waited for, never given up on and asked again while the first request still runs (a
synchronous Invoke sends nothing back until the function returns)."""
KEEPER_CONNECT_TIMEOUT_SECONDS: Final = 5
"""How long a run waits to connect to the keeper's function URL."""
KEEPER_TELL_TIMEOUT_SECONDS: Final = 10
"""How long a run waits for the keeper to record its new copy (`Accounts.tell_keeper`): a short
wait; the keeper's hourly pass records what a late or lost answer leaves."""
KEEPER_CALLER_TIMEOUT_SECONDS: Final = KEEPER_READ_TIMEOUT_SECONDS + 10
"""The timeout of the main stack's functions that ask the keeper (DeleteBackup, Cleanup; Notify
has more): the wait for the keeper's answer plus AssumeRole and the step's other calls. Under
the ASL's `TimeoutSeconds` of their states (120 s), so that the function's own timeout fires
first."""
KEEPER_EXPIRE: Final = "expire"
"""A run asks the keeper to delete its backup copy at the end of the retention."""
KEEPER_ABANDON: Final = "abandon"
"""A failed run asks the keeper to delete its own unfinished backup copy."""
KEEPER_DELETED: Final = "deleted"
KEEPER_REFUSED: Final = "refused"
KEEPER_KEPT: Final = "kept"
KEEPER_GONE: Final = "gone"
KEEPER_RECORD: Final = "record"
"""A run asks the keeper to record its backup copy right after making it (before anyone can
re-tag it), asynchronously: the copy goes on whether or not the keeper answers."""
KEEPER_DECISIONS: Final = (KEEPER_DELETED, KEEPER_REFUSED, KEEPER_KEPT, KEEPER_GONE)
"""The keeper's answers (`decision`), which a run reports. Defined here, not in rds_xacct.keeper,
so that the main account's functions need not import (and compile, at a cold start) the
keeper's code."""
KEEPER_ASK_AGAIN_SECONDS: Final = 120
"""The keeper deletes no copy a second before its kept-until time. A run whose request comes
that little early (its expiry tag counts from the moment it started the copy, RDS's creation
time is a moment later) asks again: DeleteBackup raises `SnapshotNotReady`, which the state
machine retries."""

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
copies (`rds_xacct.aws.quotas`)."""

# --- Snapshot states --------------------------------------------------------------------------
STATUS_AVAILABLE: Final = "available"
FAILED_STATUSES: Final = frozenset({"failed", "error", "incompatible-restore", "deleted"})

# --- Reconciliation (see `reconcile.py`) --------------------------------------------------------
RECONCILE_LOOKBACK_HOURS: Final = 26
"""The daily reconciliation looks at source snapshots made this far back: a day, plus two hours
of overlap with the previous day's look (a schedule that runs late, a snapshot just too young)."""
RECONCILE_MAX_LOOKBACK_HOURS: Final = 14 * 24
"""The longest lookback an operator may ask for (`{"lookbackHours": …}` when invoking by hand,
after an outage): closed runs stay listed for 90 days, far longer."""
RECONCILE_MIN_AGE_MINUTES: Final = 60
"""A snapshot younger than this is left to its event (EventBridge delivers within minutes;
`ListExecutions` is eventually consistent); the next day's look covers it."""
RECONCILE_MAX_STARTS_PER_DAY: Final = 100
"""At most this many runs started by reconciliation in any 24 hours (counted from the runs it
named `reconcile-…`): bounded work even if every event of a busy window went missing, and a
bug here cannot flood the account. What is left over is named in the report."""
RECONCILE_EXECUTION_PREFIX: Final = "reconcile"
"""Runs started by reconciliation are named `reconcile-<database>-<YYYYMMDDHHMMSS>-<hash>`."""
MAX_EXECUTION_NAME: Final = 80
"""Step Functions: an execution name is 1 to 80 characters (StartExecution, `name`)."""
RECONCILED_FIELD: Final = "rds-xacct:reconciled"
"""Field of `detail` in an event built by reconciliation (the parser ignores it)."""

# --- Copies and the source's automated backups (see `backup_window.py`) -------------------------
COPIES_PER_RUN: Final = 2
"""The copy in the main account and the one in the backup account. RDS does not say whether a
copy in another account counts as "the same database": both are counted, to warn rather than
miss."""
COPY_ESTIMATE_FIXED_MINUTES: Final = 3
COPY_ESTIMATE_MINUTES_PER_GIB: Final = 1.0
"""A rough estimate of one full snapshot copy: 3 minutes + 1 minute per GiB (the model
`make bench` uses). Both of a run's copies are full copies (README, Copies and the source's
own backups)."""

# --- Run length ------------------------------------------------------------------------------
# Derived here, in one place, from the limits above: the template's `RetentionDays` MaxValue
# equals MAX_RETENTION_DAYS (tests/unit/test_template.py checks it).
EXECUTION_LIMIT_DAYS: Final = 365
"""A Standard workflow execution lasts at most one year (Step Functions service quotas); a run
still going then ends TIMED_OUT."""
RETRY_ALLOWANCE_HOURS: Final = 72
"""Upper bound of the time a run can spend in Retry backoffs and task timeouts over all its
states (tests/unit/test_template.py adds them up from the ASL and checks they fit)."""
WORST_CASE_COPY_HOURS: Final = 2 * (SLOT_WAIT_HOURS + COPY_DEADLINE_HOURS) + RETRY_ALLOWANCE_HOURS
"""The longest a run can take from its start until its retention starts counting and its backup
copy is complete: two slot waits, two copies up to their deadline, every retry."""
RUN_MARGIN_HOURS: Final = 24
"""Kept in hand below the execution limit."""
MAX_RETENTION_DAYS: Final = (
    EXECUTION_LIMIT_DAYS * 24 - RUN_MARGIN_HOURS - WORST_CASE_COPY_HOURS
) // 24
"""The longest retention a run can wait out within one execution (345 days): retention plus
the worst-case copies, slot waits and retries fit under a year with a day's margin."""

# --- Errors Step Functions cannot catch -----------------------------------------------------------
UNCATCHABLE_ERRORS: Final = ("States.Runtime", "States.DataLimitExceeded")
"""A run that fails with one of these ends FAILED without passing through Cleanup and the
failure notification ("Error handling in Step Functions": `States.ALL` cannot catch
`States.DataLimitExceeded` nor `States.Runtime`). The template's stopped-run rule also sends
these FAILED runs to the Notify function, which cleans up and reports them."""

# --- Operations ---------------------------------------------------------------------------------
RECOVERY_POINT_OBJECTIVE_HOURS: Final = 26
"""Default recovery point objective: a database whose newest backup copy holds data older than
this is stale (a daily plan, its backup window and a copy's hours). Both stacks' parameter
`RecoveryPointObjectiveHours` defaults to it; the alarms, the hourly checks and
`rds-xacct status` judge by it."""
BACKFILL_EXECUTION_PREFIX: Final = "backfill"
"""Runs `rds-xacct backfill` starts are named `backfill-<database>-<YYYYMMDDHHMMSS>-<hash>` (the
snapshot's time): a second backfill's start of the same snapshot is refused by Step Functions."""
RUN_EXECUTION_PREFIX: Final = "run"
"""Runs `rds-xacct run` starts are named `run-<database>-<YYYYMMDDHHMMSS>-<hash>` (the time of the
start: the same snapshot may be run again later, not twice in one second)."""
BACKFILL_START_INTERVAL_SECONDS: Final = 1.0
"""`rds-xacct backfill --start` starts at most one run a second: a backlog of old snapshots
arrives like a busy backup window (each run's first look at RDS and at the copy slots spread
out), never as one burst; admission control then holds the copies to `MaxCopiesInFlight`."""
BACKFILL_DEFAULT_DAYS: Final = 7
"""`rds-xacct backfill` looks this many days back unless told `--since`."""
MAX_RECOVERY_POINT_OBJECTIVE_HOURS: Final = 366 * 24
"""The longest recovery point objective either stack takes (a yearly plan, with a day's
margin)."""
FRESHNESS_LOG_PART: Final = 100
"""The freshness log lines (message `Freshness`, both accounts) list at most this many databases
each, so that a line stays far below CloudWatch Logs' 256 KB per event (a database's entry is
about 300 bytes); more databases make more lines, each naming its `part` and `parts`."""
WATCH_SCHEDULE: Final = "rate(1 hour)"
"""How often the main account's watch looks at freshness and the copy slots (template.yaml's
`WatchFunction` schedule)."""
SLOT_WAIT_ALARM_MINUTES: Final = 240
"""Default of the main stack's `SlotWaitAlarmMinutes`: a run waiting this long for a copy slot
raises the admission backlog alarm (runs give up after `SLOT_WAIT_HOURS`)."""

MACHINE_SUFFIX: Final = "-copy-snapshot"
"""The copy runs' state machine is `<ResourcePrefix>-copy-snapshot` (template.yaml)."""
SLOT_CALLBACK_ROLE_SUFFIX: Final = "-slot-callback"
"""The main account's role the backup account's slot broker assumes to complete a waiting run's
task token: `<ResourcePrefix>-slot-callback-<region>` (template.yaml `SlotCallbackRole`)."""
SLOT_BROKER_ROLE_SUFFIX: Final = "-slot-broker"
"""The backup account's slot broker's role: `<ResourcePrefix>-slot-broker` (the callback role
trusts only a role so named in the backup account)."""
SLOT_BROKER_TIMEOUT_SECONDS: Final = 30
"""How long a run waits for the backup account's slot broker to answer (its function runs a few
DynamoDB transactions and, for each grant, one callback: seconds)."""
