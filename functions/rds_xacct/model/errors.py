"""Exceptions the handlers raise. Each class name is an error name the state machine acts on.

Which of them clear by themselves (retried), the AWS codes that become each and what to do about
each are in the error table (`rds_xacct.model.error_table`); the comments below follow it.

A handler never returns an error object: it raises one of these, Lambda reports the class name
as `errorType`, and the ASL's `Retry`/`Catch` `ErrorEquals` lists these names. The message is
what an operator reads in the failure notification, so it says what happened and what to do.
"""

from __future__ import annotations

from rds_xacct.model import error_table


class PipelineError(Exception):
    """Base class: a condition this app recognises. Not caught by name in the ASL."""


# --- Retried by the state machine ---------------------------------------------------------------
class SnapshotNotReady(PipelineError):
    """The snapshot exists but is not `available` yet (retried with backoff)."""


class Throttled(PipelineError):
    """An AWS API kept throttling after the SDK's own retries (retried with backoff)."""


class NetworkError(PipelineError):
    """AWS could not be reached, or the connection broke before its answer (connect or read
    timeout, connection refused or closed), through the SDK's own retries (retried with
    backoff). A call that timed out may have taken effect: every step is safe to run again."""


class ServiceUnavailable(PipelineError):
    """An AWS service failed on its side through the SDK's own retries (an HTTP 5xx answer:
    `InternalFailure`, `ServiceUnavailable`, ...), or the backup account's keeper died before it
    answered (timed out, ran out of memory). Clears by itself (retried with backoff); every step
    and every request to the keeper is safe to run again."""


class CopyAlreadyExists(PipelineError):
    """Another run of the same source (a redelivered event) made the copy a moment before
    this one. Retried: the step then finds that copy and carries on with it."""


class CopyLimitReached(PipelineError):
    """RDS refuses more copies in progress in this account and region right now (up to 20
    snapshot copies at a time per account and destination region); wait and try again. Clears
    by itself as copies finish (retried with backoff)."""


# --- Not retried: they end the run (after cleanup) ----------------------------------------------
class UnsupportedEvent(PipelineError):
    """The input is not an event this app handles, or lacks the fields it needs."""


class EventSkipped(UnsupportedEvent):
    """A well-formed event of a kind this app does not copy (another resource type, a job that
    did not complete, a continuous recovery point, a copy job, ...). Never reaches the state
    machine: DescribeSource turns it into a skip (`job.skipped`, the reason), not a failure.
    `about` is the ARN the event names, for the notification."""

    def __init__(self, reason: str, about: str | None = None) -> None:
        super().__init__(reason)
        self.about = about


class SnapshotNotFound(PipelineError):
    """A snapshot the run needs does not exist (or is not shared with the caller)."""


class SnapshotFailed(PipelineError):
    """A snapshot is in a failed state, or a copy failed."""


class SnapshotNotOwned(PipelineError):
    """A snapshot with the name this app would use exists but was not made by this app for this
    source. The app leaves it alone."""


class UnreadableTag(PipelineError):
    """A tag the app reads on its own copy (the expiry, `rds-xacct:expires-at`) holds something
    that is not a time: edited by hand. The copy is left alone; the message says how to fix it."""


class KeyNotAccessible(PipelineError):
    """RDS could not use the KMS key (missing key, disabled key, or a key policy/grant gap)."""


class AccessDenied(PipelineError):
    """An IAM permission is missing, or the backup-account role cannot be assumed."""


class QuotaExceeded(PipelineError):
    """The account's manual snapshot quota is reached ("Manual DB instance snapshots" or
    "Manual DB cluster snapshots"): it does not clear by itself, unless snapshots are deleted
    or the quota is raised. (Too many copies in progress is `CopyLimitReached`.)"""


class NoCopySlot(PipelineError):
    """No copy slot of the account came free within SLOT_WAIT_HOURS (admission control)."""


class CopyTimedOut(PipelineError):
    """A copy did not become available within the copy deadline."""


class AwsError(PipelineError):
    """Any other AWS error, with the service's code and message."""


def exception(name: str) -> type[PipelineError]:
    """The exception class of an app error name of the error table (but ConfigurationError,
    which `rds_xacct.model.settings` defines)."""
    cls = globals().get(name)
    if not (isinstance(cls, type) and issubclass(cls, PipelineError)):
        raise KeyError(name)
    return cls


RETRYABLE: tuple[type[PipelineError], ...] = tuple(
    exception(name) for name in error_table.retried_app_errors()
)
"""The exceptions the state machine retries (they clear by themselves): the error table's."""
