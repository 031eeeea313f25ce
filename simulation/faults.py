"""The fault matrix: every step of the state machine x every fault, injected where it happens.

One source of truth for `tests/e2e/test_fault_matrix.py` and the failure table of
`docs/operations.md` (`FAILURE_TABLE_DOC`):

* `STEP_CALLS`: the AWS calls each step makes, and which faults each call can raise (from the
  APIs' documented errors). A fault no call of a step can raise is "not applicable: the step
  makes no such call"; the test checks the inventory against the calls the steps really make.
* `AWS_ERRORS`: per fault and service, the error code real AWS answers with, and the app's
  exception it becomes (`rds_xacct.aws.clients.classify`).
* `MATRIX`: one `Cell` per step x fault, with what the run must end as.

Faults are injected at the AWS call, not by making a handler raise: `AwsFaults` answers the
chosen calls made *inside the chosen step* with the AWS error (an HTTP error response, so the
SDK's own retries and the app's error mapping run as they would on AWS). A Lambda service error
and a function that died (timed out: `Sandbox.Timedout`; out of memory: `Lambda.Unknown`) happen
around the handler instead: the first means the handler never ran, the others that it ran to the
end (its AWS calls took effect) and its answer was lost.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlsplit

from botocore.exceptions import EndpointConnectionError
from moto.core.botocore_stubber import BotocoreStubber

from rds_xacct.aws.clients import SDK_CONFIG
from rds_xacct.model import error_table
from rds_xacct.model.constants import DEFAULT_MIN_RETENTION_DAYS

# --- Faults -------------------------------------------------------------------------------------
ACCESS_DENIED = "access-denied"
KMS_KEY = "kms-key"
MANUAL_QUOTA = "manual-quota"
COPY_LIMIT = "copy-limit"
INVALID_STATE = "invalid-state"
NOT_FOUND = "not-found"
THROTTLING = "throttling"
NETWORK = "network"
LAMBDA_SERVICE = "lambda-service"
LAMBDA_TIMEOUT = "lambda-timeout"
LAMBDA_OUT_OF_MEMORY = "lambda-out-of-memory"
STOPPED = "stopped"
FAULTS = (
    ACCESS_DENIED,
    KMS_KEY,
    MANUAL_QUOTA,
    COPY_LIMIT,
    INVALID_STATE,
    NOT_FOUND,
    THROTTLING,
    NETWORK,
    LAMBDA_SERVICE,
    LAMBDA_TIMEOUT,
    LAMBDA_OUT_OF_MEMORY,
    STOPPED,
)
LAMBDA_DIED = (LAMBDA_TIMEOUT, LAMBDA_OUT_OF_MEMORY)
"""The step's function died after its work was done (timed out, ran out of memory): its answer
was lost."""
AROUND_THE_HANDLER = (LAMBDA_SERVICE, *LAMBDA_DIED, STOPPED)
"""Faults of Lambda or of the run, not of an AWS call: every step can meet them."""

SDK_ATTEMPTS = 1 + int(SDK_CONFIG.retries["max_attempts"])  # type: ignore[attr-defined]
"""The SDK tries a throttled call this many times: once, then `max_attempts` retries
(`rds_xacct.aws.clients.SDK_CONFIG`; botocore's `max_attempts` does not count the first try)."""

TIMES: dict[str, int | None] = {
    ACCESS_DENIED: None,  # IAM does not change its mind: every call
    KMS_KEY: None,
    MANUAL_QUOTA: None,
    NOT_FOUND: None,
    COPY_LIMIT: 1,  # clears as other copies finish
    INVALID_STATE: 1,  # the snapshot becomes available
    THROTTLING: SDK_ATTEMPTS,  # outlasts the SDK's own retries once, then clears
    NETWORK: SDK_ATTEMPTS,
    LAMBDA_SERVICE: 1,
    LAMBDA_TIMEOUT: 1,
    LAMBDA_OUT_OF_MEMORY: 1,
}
"""How many calls of the step the fault answers (None: every one)."""

LAMBDA_TIMEOUT_ERROR = "Sandbox.Timedout"
"""What Step Functions reports for a Lambda function that timed out on current runtimes: the
runtime answers the invoke with `errorType` "Sandbox.Timedout" ("Task timed out after N seconds";
Lambda Developer Guide, "Troubleshoot invocation issues in Lambda", "Function times out during
Init phase (Sandbox.Timedout)",
https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html), and Step
Functions names a Lambda task's error after the function's `errorType`."""
LAMBDA_OUT_OF_MEMORY_ERROR = "Lambda.Unknown"
"""What Step Functions reports for an unhandled error without an error type ("Handle Lambda
service exceptions", Step Functions Developer Guide,
https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html:
"Unhandled errors in Lambda are reported as Lambda.Unknown in the error output. These include
out-of-memory errors and function timeouts")."""
LAMBDA_EXIT_ERROR = "Runtime.ExitError"
"""What current runtimes answer for a function whose process was killed, out of memory among
others ("Runtime exited with error: signal: killed"): the runtime's `errorType`, which Step
Functions reports as the error name, as it does `Sandbox.Timedout`."""
LAMBDA_DIED_ERRORS = (LAMBDA_OUT_OF_MEMORY_ERROR, LAMBDA_EXIT_ERROR, LAMBDA_TIMEOUT_ERROR)
"""The names a step's function that died (timed out, ran out of memory) comes back with: the
one the Step Functions guide names and the ones current runtimes raise. Every Retry or Catch
that means "the function died" names all of them (tests/unit/test_template.py)."""
LAMBDA_SERVICE_ERROR = "Lambda.ServiceException"
"""A transient Lambda service error (HTTP 500) on Invoke, reported as `Lambda.<ErrorName>`
(same page)."""


NETWORK_ERROR = "NetworkError"
"""What a network failure that outlasts the SDK's retries becomes (`rds_xacct.aws.clients.aws_call`)."""


def _network_failure(service: str) -> Exception:
    """What botocore raises when it cannot reach the endpoint (botocore.exceptions; no HTTP
    answer at all, so the fault is raised in place of one, where the HTTP layer would raise)."""
    return EndpointConnectionError(endpoint_url=f"https://{service}.eu-west-1.amazonaws.com/")


@dataclass(frozen=True)
class AwsError:
    code: str
    message: str
    status: int
    app_error: str
    """The exception the app raises for it (`rds_xacct.aws.clients.classify`)."""


_DENIED_MESSAGE = "User: arn:aws:sts::123456789012:assumed-role/rds-xacct-pipeline/run is not authorized to perform: {action}"
AWS_ERRORS: dict[str, dict[str, AwsError]] = {
    ACCESS_DENIED: {
        "rds": AwsError("AccessDenied", _DENIED_MESSAGE, 403, "AccessDenied"),
        "sts": AwsError("AccessDenied", _DENIED_MESSAGE, 403, "AccessDenied"),
        "dynamodb": AwsError("AccessDeniedException", _DENIED_MESSAGE, 400, "AccessDenied"),
        "states": AwsError("AccessDeniedException", _DENIED_MESSAGE, 400, "AccessDenied"),
        "sns": AwsError("AuthorizationError", _DENIED_MESSAGE, 403, "AccessDenied"),
        # Lambda API reference, Invoke: AccessDeniedException (403)
        "lambda": AwsError("AccessDeniedException", _DENIED_MESSAGE, 403, "AccessDenied"),
    },
    KMS_KEY: {
        "rds": AwsError(
            "KMSKeyNotAccessibleFault",
            "The specified KMS key is not accessible: {action}",
            400,
            "KeyNotAccessible",
        ),
        "sns": AwsError(
            "KMSAccessDenied",
            "The topic's KMS key (alias/aws/sns) cannot be used: {action}",
            400,
            "AwsError",
        ),
    },
    MANUAL_QUOTA: {
        "rds": AwsError(
            "SnapshotQuotaExceeded",
            "Cannot create more than 100 manual snapshots",
            400,
            "QuotaExceeded",
        ),
    },
    COPY_LIMIT: {
        "rds": AwsError(
            "SnapshotQuotaExceeded",
            "Cannot copy more than 20 snapshots at a time in this account and region",
            400,
            "CopyLimitReached",
        ),
    },
    INVALID_STATE: {
        "rds": AwsError(
            "InvalidDBSnapshotState",
            "Snapshot is not in the available state",
            400,
            "SnapshotNotReady",
        ),
    },
    NOT_FOUND: {
        "rds": AwsError(
            "DBSnapshotNotFound", "DBSnapshot not found: {action}", 404, "SnapshotNotFound"
        ),
        "dynamodb": AwsError(
            "ResourceNotFoundException", "Requested resource not found: {action}", 400, "AwsError"
        ),
        "sns": AwsError("NotFound", "Topic does not exist: {action}", 404, "AwsError"),
    },
    THROTTLING: {
        "rds": AwsError("Throttling", "Rate exceeded", 400, "Throttled"),
        "sts": AwsError("Throttling", "Rate exceeded", 400, "Throttled"),
        # The data plane's throttle ("Error handling with DynamoDB": ThrottlingException is for
        # control-plane operations such as CreateTable)
        "dynamodb": AwsError(
            "ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded",
            400,
            "Throttled",
        ),
        "states": AwsError("ThrottlingException", "Rate exceeded", 400, "Throttled"),
        "sns": AwsError("Throttling", "Rate exceeded", 400, "Throttled"),
        # Lambda API reference, Invoke: TooManyRequestsException (429), "The request throughput
        # limit was exceeded"
        "lambda": AwsError("TooManyRequestsException", "Rate exceeded", 429, "Throttled"),
    },
}


# --- What each step calls ---------------------------------------------------------------------
_RDS_READ = frozenset({ACCESS_DENIED, THROTTLING})
_DYNAMODB = frozenset({ACCESS_DENIED, NOT_FOUND, THROTTLING})
_STATES = frozenset({ACCESS_DENIED, THROTTLING})
_STS = frozenset({ACCESS_DENIED, THROTTLING})
_COPY = frozenset(
    {ACCESS_DENIED, KMS_KEY, MANUAL_QUOTA, COPY_LIMIT, INVALID_STATE, NOT_FOUND, THROTTLING}
)
_DELETE = frozenset({ACCESS_DENIED, INVALID_STATE, NOT_FOUND, THROTTLING})
_SHARE = frozenset({ACCESS_DENIED, INVALID_STATE, NOT_FOUND, THROTTLING})
_SLOTS = {
    "dynamodb:Query": _DYNAMODB,
    "dynamodb:GetItem": _DYNAMODB,
    "dynamodb:PutItem": _DYNAMODB,
    "dynamodb:UpdateItem": _DYNAMODB,
    "dynamodb:DeleteItem": _DYNAMODB,
    "dynamodb:TransactWriteItems": _DYNAMODB,
    "states:SendTaskSuccess": _STATES,
}
_BACKUP_SLOTS = {"sts:GetCallerIdentity": _STS, "sts:AssumeRole": _STS, **_SLOTS}
"""A step asking the backup account's slot broker (`slots.BrokerPool`): the backup role assumed
for a signed POST to the broker's function URL, then the broker's own calls (its table, a
waiting run woken through its account's callback role), the step's from the run's point of
view (the broker answers within the request)."""
_FIND = frozenset({ACCESS_DENIED, NOT_FOUND, THROTTLING})
"""A look at a snapshot the step needs to exist: not found is the snapshot gone."""
_RENEW = frozenset({ACCESS_DENIED, THROTTLING})
"""A copy step renewing its slot's lease (the slot table gone is the slot steps' cell)."""
_WARNING: dict[str, frozenset[str]] = {
    "sns:Publish": frozenset(),
    "ssm:GetParameter": frozenset(),
    "dynamodb:PutItem": frozenset(),
}
"""A copy step's warning that a quota is 80 % full (once a day; not a fault of the copy)."""
_KEEPER: dict[str, frozenset[str]] = {
    # the keeper's own calls, in the backup account, within the step's invoke: the copy (not
    # found is its "gone" answer), the ledger (a table gone is a fault), the delete
    "rds:DescribeDBSnapshots": _RDS_READ,
    "dynamodb:GetItem": _DYNAMODB,
    "dynamodb:PutItem": _DYNAMODB,
    "dynamodb:UpdateItem": _DYNAMODB,
    "rds:DeleteDBSnapshot": _DELETE,
}
"""A step asking the backup account's keeper (`copies.Accounts.ask_keeper`): a signed POST to
the keeper's function URL (an HTTP request, not an SDK call: no fault of this matrix meets it;
tests/unit/test_steps.py maps its HTTP statuses), then the keeper's calls, which are the step's
from the run's point of view (the keeper answers within the request). An error the keeper
raises comes back to the step under its own name when it clears by itself (`Throttled`,
`SnapshotNotReady`: retried as before); any other as `ServiceUnavailable` naming it. The
matrix's access denied, on every call of the step, is met at the step's own AssumeRole
first."""

STEP_CALLS: dict[str, dict[str, frozenset[str]]] = {
    "DescribeSource": {
        "rds:DescribeDBSnapshots": _FIND,
        "rds:ListTagsForResource": _RDS_READ,
        "rds:DescribeDBInstances": _RDS_READ,
        "rds:DescribeOptionGroups": _RDS_READ,
    },
    "WaitForMainSlot": _SLOTS,
    "CopyIntermediate": {
        # (the copy's own name, looked up before copying, is rightly not found)
        "rds:DescribeDBSnapshots": _RDS_READ,
        "rds:DescribeAccountAttributes": _RDS_READ,
        "sts:GetCallerIdentity": _STS,
        "sts:AssumeRole": _STS,
        "dynamodb:UpdateItem": _RENEW,
        "rds:CopyDBSnapshot": _COPY,
        **_WARNING,
    },
    "CheckIntermediate": {"rds:DescribeDBSnapshots": _FIND, "dynamodb:UpdateItem": _RENEW},
    "ReleaseMainSlot": _SLOTS,
    "Share": {
        "rds:DescribeDBSnapshots": _FIND,
        "rds:DescribeDBSnapshotAttributes": _FIND,
        "rds:ModifyDBSnapshotAttribute": _SHARE,
    },
    "WaitForBackupSlot": _BACKUP_SLOTS,
    "CopyBackup": {
        "sts:GetCallerIdentity": _STS,
        "sts:AssumeRole": _STS,
        "rds:DescribeDBSnapshots": _RDS_READ,
        "rds:DescribeAccountAttributes": _RDS_READ,
        "dynamodb:UpdateItem": _RENEW,
        "rds:CopyDBSnapshot": _COPY,
        **_WARNING,
        # telling the keeper to record the copy (`backup_copy._record`): a short call of its
        # URL whose failure never fails the copy, and the keeper's own reads and write of its
        # ledger (the simulation runs it within the call); no fault is planned there
        "dynamodb:GetItem": frozenset(),
        "dynamodb:PutItem": frozenset(),
    },
    "CheckBackup": {
        "sts:GetCallerIdentity": _STS,
        "sts:AssumeRole": _STS,
        "rds:DescribeDBSnapshots": _FIND,
        "dynamodb:UpdateItem": _RENEW,
    },
    "ReleaseBackupSlot": _BACKUP_SLOTS,
    "DeleteIntermediate": {
        "rds:DescribeDBSnapshots": _RDS_READ,
        "rds:DeleteDBSnapshot": _DELETE,
        # (a redelivered run adopted the intermediate copy: is the run that made it still going?)
        "states:DescribeExecution": frozenset(),
    },
    "DeleteBackup": {"sts:GetCallerIdentity": _STS, "sts:AssumeRole": _STS, **_KEEPER},
    "Cleanup": {
        "sts:GetCallerIdentity": _STS,
        "sts:AssumeRole": _STS,
        "rds:DescribeDBSnapshots": _RDS_READ,
        "rds:DeleteDBSnapshot": _DELETE,
        **_BACKUP_SLOTS,
        **_KEEPER,
    },
    "Notify": {
        "sns:Publish": frozenset({ACCESS_DENIED, KMS_KEY, NOT_FOUND, THROTTLING}),
        # read once per 5 minutes (Powertools' cache), and a failed read only skips Slack
        "ssm:GetParameter": frozenset(),
    },
}
# A stopped run is reported by Notify, which first reads the source again and cleans up as
# Cleanup does: those calls' faults are DescribeSource's and Cleanup's cells.
STEP_CALLS["Notify"].update(
    {call: frozenset() for step in ("DescribeSource", "Cleanup") for call in STEP_CALLS[step]}
)
"""Every AWS call each step may make, with the faults the call can raise (its API's documented
errors; access denied and throttling can come from any call). Describe calls of a snapshot the
step is about to make or delete are listed without "not found": for them it is the normal
answer, not a fault. A delete answered "not found" is the SDK retrying a delete that had
succeeded (the snapshot is gone either way)."""

# A network failure can meet any call: every call that can be throttled can also go unanswered.
for _calls in STEP_CALLS.values():
    for _call, _can in _calls.items():
        if THROTTLING in _can:
            _calls[_call] = _can | {NETWORK}

STEPS = tuple(STEP_CALLS)
AFTER_THE_REAL_CALL = {("rds:DeleteDBSnapshot", NOT_FOUND)}
"""Faults that happen after the call took effect (a retried delete finds nothing)."""
BOOKKEEPING = ("ReleaseMainSlot", "ReleaseBackupSlot", "Notify")
"""Steps whose failure the ASL catches and goes on: a lost slot lapses, a lost message is
logged."""
RETRIED = {COPY_LIMIT, INVALID_STATE, THROTTLING, NETWORK, LAMBDA_SERVICE, *LAMBDA_DIED}
"""Faults that clear: the ASL's Retry carries the run through."""
NOT_RETRIED_AT = {(fault, "Notify") for fault in LAMBDA_DIED}
"""A Notify whose answer was lost has sent its message: not retried (at most one message)."""
BASE_FAILURE_STEP = "CheckBackup"
"""Cleanup only runs after a failure: its cells fail the run here first (both copies exist)."""


def applicable(step: str, fault: str) -> bool:
    return fault in AROUND_THE_HANDLER or any(fault in f for f in STEP_CALLS[step].values())


@dataclass(frozen=True)
class Cell:
    step: str
    fault: str

    @property
    def id(self) -> str:
        return f"{self.step}-{self.fault}"

    @property
    def applicable(self) -> bool:
        return applicable(self.step, self.fault)

    @property
    def reason(self) -> str:
        return "" if self.applicable else "not applicable: the step makes no such call"

    @property
    def retention_days(self) -> int:
        """0 (kept for good) unless the cell is about the retention's end: then the backup
        account's minimum retention (its stack's default), so that the keeper honours the
        request to delete."""
        return DEFAULT_MIN_RETENTION_DAYS if self.step == "DeleteBackup" else 0

    @property
    def app_error(self) -> str | None:
        """The error the step meets (the app's exception, or Step Functions' name)."""
        if self.fault == LAMBDA_SERVICE:
            return LAMBDA_SERVICE_ERROR
        if self.fault == LAMBDA_TIMEOUT:
            return LAMBDA_TIMEOUT_ERROR
        if self.fault == LAMBDA_OUT_OF_MEMORY:
            return LAMBDA_OUT_OF_MEMORY_ERROR
        if self.fault == STOPPED:
            return None
        if self.fault == NETWORK:
            return NETWORK_ERROR
        raisers = [call for call, can in STEP_CALLS[self.step].items() if self.fault in can]
        # a fault after the real call (a retried delete finding nothing) is met only if no
        # other call of the step raises it first
        failing = [call for call in raisers if (call, self.fault) not in AFTER_THE_REAL_CALL]
        services = {call.split(":")[0] for call in failing or raisers}
        names = {AWS_ERRORS[self.fault][s].app_error for s in services}
        return names.pop() if len(names) == 1 else "/".join(sorted(names))

    @property
    def status(self) -> str:
        """How the run ends."""
        if self.fault == STOPPED:
            return "ABORTED"
        if self.step == "Cleanup":
            return "FAILED"
        if self.step in BOOKKEEPING or self.carried_through:
            return "SUCCEEDED"
        return "FAILED"

    @property
    def carried_through(self) -> bool:
        """True if the step meets the fault and the run goes on as if it had not."""
        if self.fault in RETRIED:
            return (self.fault, self.step) not in NOT_RETRIED_AT
        raisers = [call for call, can in STEP_CALLS[self.step].items() if self.fault in can]
        return bool(raisers) and all((call, self.fault) in AFTER_THE_REAL_CALL for call in raisers)

    @property
    def error(self) -> str | None:
        """The run's error when it ends FAILED."""
        if self.status != "FAILED":
            return None
        if self.step == "Cleanup":
            return "AwsError"  # the failure that sent the run to Cleanup
        return self.app_error

    @property
    def failed_step(self) -> str:
        return BASE_FAILURE_STEP if self.step == "Cleanup" else self.step

    @property
    def outcomes(self) -> list[str]:
        """The SNS messages the run sends, in order (`outcome` attribute)."""
        copied = ["succeeded"] if self.step in ("DeleteBackup", "Notify") else []
        if self.fault == STOPPED:
            return [*copied, "aborted"]
        if self.step == "Notify" and not self.carried_through and self.fault not in LAMBDA_DIED:
            return []  # SNS itself refused; Slack still says it
        if self.status == "FAILED":
            return [*([] if self.step == "Cleanup" else copied[:1]), "failed"]
        return ["succeeded"]

    @property
    def slack_messages(self) -> int:
        if self.step == "Notify" and self.outcomes == []:
            return 1
        return len(self.outcomes)


MATRIX = [Cell(step, fault) for step in STEPS for fault in FAULTS]
RUN = [c for c in MATRIX if c.applicable]
NOT_APPLICABLE = [c for c in MATRIX if not c.applicable]


# --- Injecting ------------------------------------------------------------------------------------
@dataclass
class _Plan:
    step: str
    fault: str
    times: int | None
    only: frozenset[str] | None = None
    """Only these calls of the step (None: any call that can raise the fault)."""
    hits: int = 0
    calls: list[str] = field(default_factory=list)


_REST_OPERATIONS = {
    ("lambda", "POST", re.compile(r"^/2015-03-31/functions/[^/]+/invocations$")): "Invoke",
}
"""REST-protocol operations the steps call, by method and path (Lambda API reference, Invoke:
`POST /2015-03-31/functions/FunctionName/invocations`)."""


def _operation(request: Any) -> tuple[str, str]:
    """("rds", "CopyDBSnapshot") for a botocore request (query, JSON or REST protocol; an
    unknown REST call is named by its method and path, so that the inventory check shows it)."""
    url = urlsplit(str(request.url))
    service = url.netloc.split(".")[0]
    method = str(request.method).upper()
    for (rest_service, rest_method, path), name in _REST_OPERATIONS.items():
        if service == rest_service and method == rest_method and path.match(url.path):
            return service, name
    target = request.headers.get("X-Amz-Target")
    if target:
        name = target.decode() if isinstance(target, bytes) else str(target)
        return service, name.rsplit(".", 1)[-1]
    body = request.body
    text = body.decode() if isinstance(body, bytes) else str(body or "")
    action = parse_qs(text).get("Action", [""])[0]
    return service, action or f"{method} {url.path}"


def _error_response(service: str, error: AwsError, action: str) -> tuple[int, dict[str, str], str]:
    """The HTTP answer real AWS gives (query protocol: XML; JSON protocols: `__type`)."""
    message = error.message.format(action=action)
    request_id = str(uuid.uuid4())
    if service in ("dynamodb", "states", "ssm"):
        body = json.dumps({"__type": error.code, "message": message})
        return (
            error.status,
            {"x-amzn-RequestId": request_id, "Content-Type": "application/x-amz-json-1.0"},
            body,
        )
    if service == "lambda":  # REST-JSON: the code in x-amzn-ErrorType
        body = json.dumps({"Type": "User", "message": message})
        headers = {
            "x-amzn-RequestId": request_id,
            "x-amzn-ErrorType": error.code,
            "Content-Type": "application/json",
        }
        return error.status, headers, body
    body = (
        "<ErrorResponse><Error><Type>Sender</Type>"
        f"<Code>{error.code}</Code><Message>{message}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return error.status, {"x-amzn-RequestId": request_id, "Content-Type": "text/xml"}, body


def _named_error(name: str, message: str) -> Exception:
    # The simulation reports a handler's exception to Step Functions by its class name
    # (`errorType`), which becomes the error name Retry and Catch match: a class named as the
    # error Step Functions would report.
    error: Exception = type(name, (Exception,), {})(message)
    return error


class AwsFaults:
    """Faults at the AWS call level, within one step. The simulation marks which step a thread
    is running (`in_step`); `plan` arms one fault for the next run."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._plan: _Plan | None = None
        self._lock = threading.Lock()
        self.observed: dict[str, set[str]] = {}
        """Every AWS call each step made ("rds:CopyDBSnapshot"), since the simulation began."""

    def plan(
        self, step: str, fault: str, times: int | None = None, *, only: set[str] | None = None
    ) -> None:
        self._plan = _Plan(
            step,
            fault,
            TIMES.get(fault) if times is None else times,
            frozenset(only) if only is not None else None,
        )

    def clear(self) -> _Plan | None:
        plan, self._plan = self._plan, None
        return plan

    @property
    def hits(self) -> int:
        return self._plan.hits if self._plan else 0

    def _take(self, step: str, fault: str) -> bool:
        with self._lock:
            plan = self._plan
            if plan is None or plan.step != step or plan.fault != fault:
                return False
            if plan.times is not None and plan.hits >= plan.times:
                return False
            plan.hits += 1
            return True

    @contextmanager
    def in_step(self, step: str) -> Iterator[None]:
        """The calling thread runs `step`'s handler for the duration."""
        if self._take(step, LAMBDA_SERVICE):
            raise _named_error(LAMBDA_SERVICE_ERROR, "Lambda ServiceException (injected)")
        previous = getattr(self._local, "step", None)
        self._local.step = step
        try:
            yield
        finally:
            self._local.step = previous
        if self._take(step, LAMBDA_TIMEOUT):
            raise _named_error(
                LAMBDA_TIMEOUT_ERROR, "Task timed out after 60.00 seconds (after its work was done)"
            )
        if self._take(step, LAMBDA_OUT_OF_MEMORY):
            raise _named_error(
                LAMBDA_OUT_OF_MEMORY_ERROR,
                "Runtime exited with error: signal: killed (out of memory, after its work was done)",
            )

    @contextmanager
    def installed(self) -> Iterator[AwsFaults]:
        original = BotocoreStubber.process_request
        faults = self

        def process_request(stubber: BotocoreStubber, request: Any) -> Any:
            step = getattr(faults._local, "step", None)
            if step is None:
                return original(stubber, request)
            service, operation = _operation(request)
            call = f"{service}:{operation}"
            with faults._lock:
                faults.observed.setdefault(step, set()).add(call)
            plan = faults._plan
            if plan is None or plan.step != step or plan.fault in AROUND_THE_HANDLER:
                return original(stubber, request)
            if plan.fault not in STEP_CALLS[step].get(call, frozenset()):
                return original(stubber, request)
            if plan.only is not None and call not in plan.only:
                return original(stubber, request)
            if not faults._take(step, plan.fault):
                return original(stubber, request)
            plan.calls.append(call)
            if plan.fault == NETWORK:
                raise _network_failure(service)
            if (call, plan.fault) in AFTER_THE_REAL_CALL:
                original(stubber, request)
            return _error_response(service, AWS_ERRORS[plan.fault][service], call)

        with ExitStack() as stack:
            stack.enter_context(
                mock.patch.object(BotocoreStubber, "process_request", process_request)
            )
            yield self


__all__ = [
    "AWS_ERRORS",
    "FAULTS",
    "MATRIX",
    "NOT_APPLICABLE",
    "RUN",
    "STEP_CALLS",
    "AwsFaults",
    "Cell",
]


# --- The documented failure table (docs/operations.md) --------------------------------------------
ASL = Path(__file__).resolve().parents[1] / "state-machine" / "copy-snapshot.asl.json"
FAILURE_TABLE_DOC = Path(__file__).resolve().parents[1] / "docs" / "operations.md"
"""The document that holds the failure table, under `TABLE_HEADING`."""
TABLE_HEADING = "### Failures, step by step"
ASL_STATE = {"Notify": "NotifyCopied"}
"""The state of the ASL whose Retry a step's error meets (Notify: the copy's notification)."""


def _retry(step: str, error: str) -> dict[str, Any] | None:
    states = json.loads(ASL.read_text())["States"]
    for retrier in states[ASL_STATE.get(step, step)].get("Retry", []):
        if error in retrier["ErrorEquals"] or "States.ALL" in retrier["ErrorEquals"]:
            found: dict[str, Any] = retrier
            return found
    return None


def _retry_text(retrier: dict[str, Any]) -> str:
    interval = int(retrier.get("IntervalSeconds", 1))
    rate = retrier.get("BackoffRate", 2.0)
    cap = retrier.get("MaxDelaySeconds")
    most = f", at most {_seconds(int(cap))} apart" if cap else ""
    return (
        f"retried up to {retrier.get('MaxAttempts', 3)} times ({_seconds(interval)} first, "
        f"x{rate:g} each time{most})"
    )


def _seconds(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds >= 60 and seconds % 60 == 0 else f"{seconds} s"


GOES_ON: dict[str, Any] = {
    "ReleaseMainSlot": lambda error: "the slot not given back is reaped when its lease lapses",
    "ReleaseBackupSlot": lambda error: "the slot not given back is reaped when its lease lapses",
    "Notify": lambda error: (
        "its message was sent; it is not retried, so never sent twice"
        if error in LAMBDA_DIED_ERRORS
        else "Slack still tells what SNS refused, and the error is logged"
    ),
}
"""What happens when a bookkeeping step fails."""


def _join(steps: list[str]) -> str:
    return ", ".join(steps)


def failure_table() -> list[str]:
    """The documented failure table, one row per error the matrix meets: where, what the app does,
    what to do (the failure notification's own hint)."""
    errors: dict[str, list[Cell]] = {}
    for cell in RUN:
        if cell.app_error and cell.step != "Cleanup":
            errors.setdefault(cell.app_error, []).append(cell)
    rows = [
        "| Error | At | What the app does | What to do |",
        "|---|---|---|---|",
    ]
    for error, cells in errors.items():
        steps = list(dict.fromkeys(c.step for c in cells))
        retried = sorted({_retry_text(r) for c in cells if (r := _retry(c.step, error))})
        fails = [c.step for c in cells if c.status == "FAILED"]
        goes_on = list(
            dict.fromkeys(c.step for c in cells if c.step in BOOKKEEPING and not c.carried_through)
        )
        nothing = [
            c.step
            for c in cells
            if c.carried_through and c.step not in BOOKKEEPING and not _retry(c.step, error)
        ]
        does = []
        if retried:
            where = [c.step for c in cells if _retry(c.step, error)]
            scope = "" if len(where) == len(cells) else f" at {_join(where)}"
            does.append(
                f"{'; '.join(retried).capitalize()}{scope}; the run goes on once it clears (if "
                "it never does, the run fails: Cleanup, one failure notification)."
            )
        if fails:
            does.append(
                f"At {_join(fails)}"
                + (" (once retries run out)" if retried else "")
                + ": the run fails; Cleanup deletes what the run made (never a complete backup "
                "copy), one failure notification names the step and the error."
            )
        for step in goes_on:
            does.append(f"At {step}: the run goes on; {GOES_ON[step](error)}.")
        if nothing:
            does.append(f"At {_join(nothing)}: already gone, nothing to do; the run goes on.")
        hint = error_table.hint(error)
        rows.append(f"| `{error}` | {_join(steps)} | {' '.join(does)} | {hint} |")
    cleanup = [c.fault for c in RUN if c.step == "Cleanup" and c.fault != STOPPED]
    rows.append(
        f"| any of the above at Cleanup | Cleanup ({', '.join(cleanup)}) | Cleanup goes on "
        "with the rest, then the failure notification names each copy it could not delete "
        "(`Cleanup problem`) and the error the run failed with. | Deliver the event again: the new "
        "run takes over the copies left and finishes (or delete the copies named). |"
    )
    stopped = [c.step for c in RUN if c.fault == STOPPED]
    rows.append(
        f"| run stopped (`ABORTED`, `TIMED_OUT`) | after any step: {_join(stopped)} | The "
        "stopped-run rule cleans up what the run made (a complete backup copy is kept), gives "
        "its copy slots back and sends one `aborted` / `timed-out` notification. | Deliver the "
        "event again (or start a run with it): the new run finds what is there and finishes. |"
    )
    return rows


def documented_failure_table() -> list[str]:
    """The failure table as `FAILURE_TABLE_DOC` has it (the lines after its heading, up to a
    blank)."""
    lines = FAILURE_TABLE_DOC.read_text().splitlines()
    start = lines.index(TABLE_HEADING)
    table: list[str] = []
    for line in lines[start + 1 :]:
        if table and not line.startswith("|"):
            break
        if line.startswith("|"):
            table.append(line)
    return table


if __name__ == "__main__":
    print("\n".join(failure_table()))
