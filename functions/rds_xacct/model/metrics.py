"""The app's CloudWatch metrics: every name the code emits, the alarms watch and the dashboards
draw, defined once.

All are in `NAMESPACE` with one dimension, `service` = `SERVICE` (what Powertools' Metrics adds
to each metric; the keeper's embedded-metric-format lines add the same), so that an alarm or a
widget names a metric exactly as it is emitted. `tests/unit/test_metrics.py` collects the names
the code emits and the names the templates use, and fails on a name in one and not the other.

AWS's own metrics (AWS/States, AWS/Lambda, AWS/SQS) are named in the templates directly.
"""

from __future__ import annotations

from typing import Final

from rds_xacct.model.constants import APP_NAME

NAMESPACE: Final = "RdsXacct"
SERVICE: Final = APP_NAME
DIMENSION: Final = "service"

# --- The main account ---------------------------------------------------------------------------
RUN_OUTCOME_PREFIX: Final = "Run-"
"""`Run-<outcome>` (one per run's notification, outcome from model.summary.OUTCOMES)."""
INTERMEDIATE_COPY_SECONDS: Final = "IntermediateCopySeconds"
"""How long the intermediate copy took (a succeeded run's summary)."""
BACKUP_COPY_SECONDS: Final = "BackupCopySeconds"
"""How long the backup copy took (a succeeded run's summary)."""
SWEPT_COPIES: Final = "SweptCopies"
"""Copies the daily sweep deleted: each one a copy some run should have deleted."""
SLACK_DELIVERY_FAILED: Final = "SlackDeliveryFailed"
"""A run's message Slack did not take (after its retries); the run's outcome is unchanged."""
RECONCILED_RUNS: Final = "ReconciledRuns"
"""Runs the daily reconciliation started (each one a snapshot whose event never arrived)."""
COPY_SLOTS_IN_USE: Final = "CopySlotsInUse"
"""Copies in flight holding a slot (every pool), after each admission decision and each
hourly look."""
RUNS_WAITING_FOR_SLOT: Final = "RunsWaitingForSlot"
OLDEST_SLOT_WAIT_MINUTES: Final = "OldestSlotWaitMinutes"
"""How long the run that has waited longest for a copy slot has waited (0 with none waiting)."""
DATABASES_WITHOUT_FRESH_COPY: Final = "DatabasesWithoutFreshCopy"
"""The main account's half of freshness: databases the selection covers with no backup copy
newer than the recovery point objective (a database never copied counts)."""

# --- The backup account (the keeper; standard library only) -------------------------------------
STALE_DATABASES: Final = "StaleDatabases"
"""The backup account's half of freshness, from its own copies: source databases whose newest
complete copy is older than the recovery point objective."""
KEEPER_PASSES: Final = "KeeperPasses"
"""1 per hourly pass that ran to its end (the pass stopping shows as this missing)."""
KEEPER_DELETIONS: Final = "KeeperDeletions"
KEEPER_RECORDED: Final = "KeeperRecorded"
UNREADABLE_COPIES: Final = "UnreadableCopies"
"""Copies (or listings) the hourly pass could not look at: its `problems`."""
KEEPER_REFUSED_REQUESTS: Final = "KeeperRefusedRequests"
"""Requests of the main account the keeper refused (someone asked to delete what it keeps)."""
KEEPER_ANSWERED_REQUESTS: Final = "KeeperAnsweredRequests"
