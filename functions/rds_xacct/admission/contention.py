"""DynamoDB writes that meet other writers: retried on conflict and throttling, never on a
refused condition.

On a busy night every copy-slot grant and release touches the same item (the pool's count), so
DynamoDB cancels some of them for reasons that clear by themselves:

* `TransactWriteItems` is cancelled (`TransactionCanceledException`) with a reason per item;
  `TransactionConflict` (another request touched the item at that moment), `ThrottlingError`
  and `ProvisionedThroughputExceeded` clear by themselves, `ConditionalCheckFailed` is the
  answer (DynamoDB API reference, TransactWriteItems, "Errors"; developer guide, "Transaction
  conflict handling in DynamoDB").
* A single `PutItem`/`UpdateItem`/`DeleteItem` on an item that an ongoing transaction holds is
  refused with `TransactionConflictException` (same guide), which the SDK does not retry.
* Throttled single writes are retried by the SDK (standard mode); what outlasts it arrives here
  as `Throttled`.

`write` runs one write again after a full-jitter exponential backoff (AWS Architecture Blog,
"Exponential Backoff And Jitter") until it succeeds, is refused for a reason of its own, or
`WRITE_ATTEMPTS` are used; then the last error is raised (`Throttled`: the state machine
retries the step). Every write retried this way is conditional or a transaction, so a retry of
a write that did take effect is refused by its own condition, never applied twice.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from rds_xacct.aws.clients import aws_call, aws_code
from rds_xacct.model import errors

T = TypeVar("T")

WRITE_ATTEMPTS = 10
"""Tries of one write under contention (about 6 s of backoff at most, all told)."""
BACKOFF_BASE_SECONDS = 0.025
BACKOFF_CAP_SECONDS = 2.0

CLEARS_BY_ITSELF = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)
"""Cancellation reasons of a transaction that clear by themselves (retried)."""
_CONFLICT = "TransactionConflictException"
_CANCELLED = "TransactionCanceledException"
_CONDITION = "ConditionalCheckFailedException"
CONDITION_FAILED = "ConditionalCheckFailed"


def cancellation_reasons(error: BaseException) -> list[str] | None:
    """Each item's reason (`None`, `ConditionalCheckFailed`, `TransactionConflict`, ...) for a
    cancelled transaction, in the order of its items; None if the error is not a cancellation."""
    cause = error if isinstance(error, ClientError) else error.__cause__
    if not isinstance(cause, ClientError) or aws_code(cause) != _CANCELLED:
        return None
    reasons: Any = cause.response.get("CancellationReasons") or []
    return [str(reason.get("Code") or "None") for reason in reasons]


def condition_failed(error: BaseException) -> bool:
    """A single write refused by its condition."""
    return aws_code(error) == _CONDITION


def clears_by_itself(error: BaseException) -> bool:
    """Would the same write, tried again in a moment, meet other circumstances? (A conflict or
    throttling; never a condition that failed: that is the write's answer.)"""
    if isinstance(error, errors.Throttled) or aws_code(error) == _CONFLICT:
        return True
    reasons = cancellation_reasons(error)
    if reasons is None or CONDITION_FAILED in reasons:
        return False
    return any(reason in CLEARS_BY_ITSELF for reason in reasons)


def backoff_seconds(attempt: int, rng: random.Random | None = None) -> float:
    """Full jitter: uniform in [0, min(cap, base x 2^attempt)]."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)
    return (rng or random).uniform(0, ceiling)  # jitter, not a secret


def write(action: str, call: Callable[[], T], *, attempts: int = WRITE_ATTEMPTS) -> T:
    """`call()` (one DynamoDB write) under `aws_call(action)`, tried again while it fails for a
    reason that clears by itself. Any other failure is raised at once."""
    for attempt in range(attempts):
        try:
            with aws_call(action):
                return call()
        except errors.PipelineError as error:
            if not clears_by_itself(error):
                raise
            if attempt + 1 == attempts:
                raise errors.Throttled(
                    f"{error} (still after {attempts} tries: DynamoDB is busy or throttling; "
                    f"the step is tried again)"
                ) from error.__cause__
            time.sleep(backoff_seconds(attempt))
    raise AssertionError("unreachable")  # pragma: no cover
