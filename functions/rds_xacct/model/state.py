"""The run's state: the JSON the copy run's state machine carries from state to state.

Each key of `RunState` is written by the states whose `ResultPath` names it
(state-machine/copy-snapshot.asl.json), and each step's result is the TypedDict below that its
state writes there:

    Receive             $.event            the EventBridge event, as delivered
    DescribeSource      $ (= {"job": Job})  what the run will do
    WaitForMainSlot     $.slots.main       Slot (a callback's output: admission control)
    CopyIntermediate    $.intermediate     IntermediateCopy
    CheckIntermediate   $.intermediate     IntermediateCopy (+ ready, waitSeconds, lastLook)
    ReleaseMainSlot     $.slots.main       Slot (+ released, served)
    Share               $.intermediate     IntermediateCopy (+ sharedWith)
    WaitForBackupSlot   $.slots.backup     Slot
    CopyBackup          $.backup           BackupCopy
    CheckBackup         $.backup           BackupCopy
    ReleaseBackupSlot   $.slots.backup     Slot
    DeleteIntermediate  $.intermediate     IntermediateCopy (+ deletedAt, deleted, leftFor)
    NotifyCopied        $.summary          the run summary (rds_xacct.model.summary)
    DeleteBackup        $.backup           BackupCopy (+ action, note, keptUntil, deletedAt)
    Cleanup             $.cleanup          CleanupResult
    a Catch             $.error, $.slotWaitTimedOut, $.slotErrors.*, $.notifyError, ...

tests/unit/test_run_state.py walks the ASL: it fails when a state reads a path that no earlier
state writes, or writes one these types do not declare.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

Kind = Literal["db", "cluster"]
Which = Literal["intermediate", "backup"]
"""The run state's key of a copy: the intermediate copy, or the backup copy."""


class SnapshotSummary(TypedDict):
    """A snapshot as the state machine carries it (`Snapshot.summary`)."""

    arn: str
    id: str
    kind: Kind
    account: str
    status: str
    percent: int
    sizeGiB: int | None
    encrypted: bool
    kmsKeyId: str | None
    createdAt: str | None


class SourceSummary(SnapshotSummary, total=False):
    database: str
    engine: str
    region: str
    snapshotType: str | None


class SkippedSource(TypedDict):
    """The source of a run that skips before reading the snapshot: its ARN only."""

    arn: str


class Job(TypedDict, total=False):
    """What DescribeSource decided: the run's identity, its source and its copies' name."""

    execution: str
    executionArn: str
    startedAt: str
    backupAccountId: str
    origin: str | None
    eventId: str
    source: Any  # SourceSummary, or SkippedSource when the run skips early
    copyId: str
    skipped: str | None
    retentionDays: int
    notes: list[str]
    warnings: list[str]


class Look(TypedDict):
    """A look at a copy in progress, kept for the next one (rds_xacct.pipeline.polling)."""

    elapsedSeconds: float
    percent: int


class CopyProgress(SnapshotSummary, total=False):
    """What both copies carry while they are made and watched."""

    copyStartedAt: str
    adopted: bool
    waitSeconds: int
    ready: bool
    availableAt: str
    polls: int
    lastLook: Look
    note: str | None
    deletedAt: str


class IntermediateCopy(CopyProgress, total=False):
    """The intermediate copy in the main account."""

    quotaWarnings: list[str]
    sharedWith: str
    deleted: bool
    leftFor: str | None


class BackupCopy(CopyProgress, total=False):
    """The backup copy in the backup account."""

    expiresAt: str | None
    recordAsked: bool
    recordProblem: str
    action: str
    keptUntil: str | None


class RecordAsked(TypedDict, total=False):
    """Whether CopyBackup could ask the keeper to record the copy at once."""

    recordAsked: bool
    recordProblem: str


class Slot(TypedDict, total=False):
    """A copy slot: the grant a waiting run receives, then its release."""

    pool: str
    grantedAt: str
    leaseUntil: str
    outcome: str
    released: bool
    served: list[str]


class Slots(TypedDict, total=False):
    main: Slot
    backup: Slot


class CaughtError(TypedDict):
    """What a Catch writes: the error's name and its cause (a JSON text from Lambda)."""

    Error: str
    Cause: str


class SlotErrors(TypedDict, total=False):
    main: CaughtError
    backup: CaughtError


class CleanupResult(TypedDict):
    actions: list[str]
    problems: list[str]


class RunState(TypedDict, total=False):
    event: Any
    job: Job
    slots: Slots
    intermediate: IntermediateCopy
    backup: BackupCopy
    summary: dict[str, Any]
    cleanup: CleanupResult
    error: CaughtError
    slotWaitTimedOut: CaughtError
    slotErrors: SlotErrors
    notifyError: CaughtError
    summaryError: CaughtError
    cleanupError: CaughtError


def kind_of(state: RunState) -> Kind:
    """Which RDS API the run's snapshots use: DB snapshots or DB cluster snapshots."""
    kind: Kind = state["job"]["source"]["kind"]
    return kind
