"""The error table: every error name the state machine acts on, and what goes with it.

For each name: who names it (this app's exception, Lambda or Step Functions), the retry policy
the ASL retries it with (it clears by itself; none: it ends the run), the AWS error codes that
become it, the words added to its message, and the failure notification's hint (what to do).
What reads it: `errors.RETRYABLE`, `rds_xacct.aws.clients.classify` (through `for_aws_error`),
the run summary's hint, the ASL's retriers and the troubleshooting table of docs/operations.md
(`rds_xacct.model.generated`, `make asl`; tests/unit/test_error_table.py fails when either is
not what this table gives). A new error is one row here, then `make asl`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rds_xacct.model.retry_policy import (
    COPY_EXISTS,
    COPY_LIMIT,
    FUNCTION_DIED,
    LAMBDA_SERVICE,
    SNAPSHOT_NOT_READY,
    TRANSIENT,
    RetryPolicy,
)

APP, LAMBDA, STEP_FUNCTIONS = "app", "Lambda", "Step Functions"
DEFAULT_HINT = "See the execution in the console for details."


@dataclass(frozen=True)
class ErrorName:
    """One error name the state machine acts on (`ErrorEquals`) and what goes with it."""

    name: str
    by: str = APP
    """Who names it: `APP` (an exception class of `rds_xacct.model.errors`, or
    `settings.ConfigurationError`), `LAMBDA` or `STEP_FUNCTIONS`."""
    retry: RetryPolicy | None = None
    """The policy the ASL retries it with: it clears by itself. None: it ends the run."""
    aws_codes: frozenset[str] = frozenset()
    """AWS error codes that become it (`for_aws_error`)."""
    aws_message: re.Pattern[str] | None = None
    """When set, a code of `aws_codes` becomes it only if the message matches."""
    detail: str | None = None
    """Added to the message of the exception `classify` raises."""
    hint: str = DEFAULT_HINT
    """What to do: the failure notification's hint."""


def _codes(codes: str) -> frozenset[str]:
    return frozenset(codes.split())


ERRORS: tuple[ErrorName, ...] = (
    # --- The app's errors that clear by themselves -----------------------------------------
    ErrorName(
        "Throttled",
        retry=TRANSIENT,
        aws_codes=_codes(
            # ProvisionedThroughputExceededException: DynamoDB's throttling of reads and writes
            # ("The request was denied due to request throttling", API reference;
            # ThrottlingException is its control plane's)
            "Throttling ThrottlingException RequestLimitExceeded TooManyRequestsException "
            "RequestThrottled ProvisionedThroughputExceededException"
        ),
        hint="AWS kept throttling the app's calls through every retry; start the run again "
        "later, and look for other tools calling the same API.",
    ),
    ErrorName(
        "NetworkError",
        retry=TRANSIENT,
        hint="AWS could not be reached through every retry (a network or endpoint outage); check "
        "the AWS Health Dashboard and the functions' network, then start the run again.",
    ),
    ErrorName(
        # Also any AWS answer of the 5xx family no code above names (`for_aws_error`)
        "ServiceUnavailable",
        retry=TRANSIENT,
        hint="AWS (or the backup account's keeper) kept failing on its side through every "
        "retry; check the AWS Health Dashboard (and the keeper's log in the backup account), "
        "then start the run again.",
    ),
    ErrorName(
        "CopyAlreadyExists",
        retry=COPY_EXISTS,
        aws_codes=_codes(
            "DBSnapshotAlreadyExists DBSnapshotAlreadyExistsFault "
            "DBClusterSnapshotAlreadyExistsFault"
        ),
    ),
    ErrorName(
        "SnapshotNotReady",
        retry=SNAPSHOT_NOT_READY,
        aws_codes=_codes(
            "InvalidDBSnapshotState InvalidDBSnapshotStateFault InvalidDBClusterSnapshotStateFault"
        ),
        hint="The snapshot stayed unavailable through every retry; check its status in the RDS "
        "console, then start the run again.",
    ),
    ErrorName(
        "CopyLimitReached",
        retry=COPY_LIMIT,
        # RDS answers `SnapshotQuotaExceeded` for two conditions, told apart only by the
        # message: too many copies in progress ("Cannot copy more than 20 snapshots at a time
        # ...", formerly "Cannot copy more than 5 snapshots across regions"), which clears as
        # copies finish, and a full manual snapshot quota ("Cannot create more than 100 manual
        # snapshots"), which does not. Any other message is taken as the quota: the condition
        # that needs an operator.
        aws_codes=_codes("SnapshotQuotaExceeded SnapshotQuotaExceededFault"),
        aws_message=re.compile(r"cannot copy more than|copies in progress|at a time", re.I),
        detail="RDS allows up to 20 snapshot copies in progress per account and destination "
        "region; this clears as copies finish, so the run waits and tries again. If a run still "
        "fails with it, copies made outside this app filled the limit for hours: lower "
        "MaxCopiesInFlight to leave them room, then start the run again.",
        hint="RDS's limit of 20 copies in progress stayed full for hours: something outside "
        "this app copies snapshots in that account. Lower MaxCopiesInFlight to leave it room, "
        "then start the run again.",
    ),
    # --- The app's errors that end the run (after cleanup) ---------------------------------
    ErrorName(
        "UnsupportedEvent",
        hint="The event is not one this app copies; nothing was made.",
    ),
    ErrorName(
        "SnapshotNotFound",
        aws_codes=_codes(
            "DBSnapshotNotFound DBSnapshotNotFoundFault DBClusterSnapshotNotFoundFault "
            "DBInstanceNotFound DBInstanceNotFoundFault DBClusterNotFoundFault"
        ),
        hint="A snapshot the run needed is missing; check that the source still exists.",
    ),
    ErrorName(
        "SnapshotFailed",
        hint="RDS reported the snapshot or copy as failed; start the run again.",
    ),
    ErrorName(
        "SnapshotNotOwned",
        hint="A snapshot with the app's name exists but is not the app's; it was left alone. "
        "Rename or delete it, then start the run again.",
    ),
    ErrorName(
        "UnreadableTag",
        hint="Fix or remove the tag named in the message; the copy was left alone.",
    ),
    ErrorName(
        "KeyNotAccessible",
        aws_codes=_codes("KMSKeyNotAccessibleFault KMSKeyNotAccessible InvalidKMSKeyFault"),
        detail="RDS could not use the KMS key. Check that the key exists and is enabled, and "
        "that its key policy lets the main account (and the backup-account role) use it for "
        "RDS: kms:Encrypt, kms:Decrypt, kms:ReEncrypt*, kms:GenerateDataKey*, kms:DescribeKey "
        "and kms:CreateGrant with kms:GrantIsForAWSResource (other/backup-account sets this "
        "up).",
        hint="Fix the backup key's policy or grants (other/backup-account), then start the run "
        "again.",
    ),
    ErrorName(
        "AccessDenied",
        aws_codes=_codes(
            "AccessDenied AccessDeniedException UnauthorizedOperation AuthorizationError "
            "InvalidClientTokenId"
        ),
        detail="An IAM permission is missing. Check the pipeline role in the main stack and the "
        "backup-account role's policy and trust (other/backup-account).",
        hint="Fix the IAM role or trust policy named in the message, then start again.",
    ),
    ErrorName(
        "QuotaExceeded",
        aws_codes=_codes(
            "SnapshotQuotaExceeded SnapshotQuotaExceededFault SharedSnapshotQuotaExceeded "
            "SharedSnapshotQuotaExceededFault"
        ),
        detail="The account's manual snapshot quota is reached in this region (Service Quotas: "
        "'Manual DB instance snapshots' or 'Manual DB cluster snapshots', 100 by default): "
        "delete old manual snapshots or ask for a higher quota in Service Quotas.",
        hint="Delete old manual snapshots or raise the quota, then start again.",
    ),
    ErrorName(
        "NoCopySlot",
    ),
    ErrorName(
        "CopyTimedOut",
        hint="The copy took longer than the deadline; check the RDS console.",
    ),
    ErrorName(
        "ConfigurationError",
        hint="Fix the stack's parameters (sam deploy --guided).",
    ),
    ErrorName(
        # Also any AWS error no row names (`for_aws_error`)
        "AwsError",
        hint="AWS refused a call (the message names it and the error code); fix what it names, "
        "then start the run again.",
    ),
    # --- Lambda's: it could not run the function ("Handle Lambda service exceptions") -----
    ErrorName("Lambda.ClientExecutionTimeoutException", by=LAMBDA, retry=LAMBDA_SERVICE),
    ErrorName(
        "Lambda.ServiceException",
        by=LAMBDA,
        retry=LAMBDA_SERVICE,
        hint="Lambda failed to run the step through every retry; check the AWS Health "
        "Dashboard, then start the run again.",
    ),
    ErrorName("Lambda.AWSLambdaException", by=LAMBDA, retry=LAMBDA_SERVICE),
    ErrorName("Lambda.SdkClientException", by=LAMBDA, retry=LAMBDA_SERVICE),
    ErrorName("Lambda.TooManyRequestsException", by=LAMBDA, retry=LAMBDA_SERVICE),
    # --- Lambda's: the function died. Step Functions' name for it (out of memory; timeouts
    # on older runtimes) and the ones current runtimes give ("Troubleshoot invocation issues in
    # Lambda": Sandbox.Timedout, Runtime.ExitError). The ASL retries them alike.
    ErrorName(
        "Lambda.Unknown",
        by=LAMBDA,
        retry=FUNCTION_DIED,
        hint="The step's function timed out or ran out of memory twice; look at its log, then "
        "start the run again (what the run made was cleaned up).",
    ),
    ErrorName(
        "Runtime.ExitError",
        by=LAMBDA,
        retry=FUNCTION_DIED,
        hint="The step's function was killed twice (out of memory, most often); look at its "
        "log, then start the run again (what the run made was cleaned up).",
    ),
    ErrorName(
        "Sandbox.Timedout",
        by=LAMBDA,
        retry=FUNCTION_DIED,
        hint="The step's function timed out twice; look at its log, then start the run again "
        "(what the run made was cleaned up).",
    ),
    # --- Step Functions' ------------------------------------------------------------------
    ErrorName(
        "States.Timeout",
        by=STEP_FUNCTIONS,
        hint="A step ran out of time; start the run again.",
    ),
    ErrorName(
        "States.Runtime",
        by=STEP_FUNCTIONS,
        hint="Step Functions could not process the run's data (an error no Catch can handle); "
        "what the run made was cleaned up. Look at the execution's history, then start the run "
        "again.",
    ),
    ErrorName(
        "States.DataLimitExceeded",
        by=STEP_FUNCTIONS,
        hint="The run's data grew past Step Functions' payload limit (an error no Catch can "
        "handle); what the run made was cleaned up. Start the run again.",
    ),
)
"""Every error name the state machine acts on. Within one retry policy, in `ErrorEquals` order."""

_BY_NAME = {error.name: error for error in ERRORS}
WILDCARD = "States.ALL"
"""Matches every error but `States.Runtime` and `States.DataLimitExceeded`: not in the table."""


def entry(name: str) -> ErrorName | None:
    """The table's row for an error name, if it has one."""
    return _BY_NAME.get(name)


def hint(name: str) -> str:
    """What to do about an error, as the failure notification says it."""
    found = _BY_NAME.get(name)
    return found.hint if found else DEFAULT_HINT


def retried_app_errors() -> tuple[str, ...]:
    """The names of the app's exceptions the state machine retries (`errors.RETRYABLE`)."""
    return tuple(e.name for e in ERRORS if e.by == APP and e.retry)


_SERVER_ERROR = 500


def for_aws_error(code: str, message: str, status: int) -> ErrorName:
    """The row for an AWS error: the one naming its code (with a matching message where a row
    asks for one), else `ServiceUnavailable` for a 5xx answer (the service failed on its side,
    through the SDK's retries of it: botocore's standard mode retries every 500, 502, 503 and
    504 answer), else `AwsError`."""
    named = [e for e in ERRORS if code in e.aws_codes]
    for error in named:
        if error.aws_message is not None and error.aws_message.search(message):
            return error
    for error in named:
        if error.aws_message is None:
            return error
    return _BY_NAME["ServiceUnavailable" if status >= _SERVER_ERROR else "AwsError"]


def error_equals(policy: RetryPolicy) -> list[str]:
    """The errors a policy retries, in table order."""
    return [e.name for e in ERRORS if e.retry is policy]
