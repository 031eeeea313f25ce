"""The state machine's retry policies, each defined once.

A policy is one ASL retrier without its `ErrorEquals`: how long to wait before the first retry,
how many retries, how fast the wait grows, its cap, and full jitter. Which errors a policy
retries is a column of the error table (`rds_xacct.model.error_table`, `ErrorName.retry`), so
the retrier's `ErrorEquals` is drawn from there. Each Task of
`state-machine/copy-snapshot.source.json` names the policies it retries with, in order;
`make asl` writes `state-machine/copy-snapshot.asl.json` with the retriers spelled out
(`rds_xacct.model.error_table.expand_retries`), and `tests/unit/test_error_table.py` fails when
the committed ASL is not what the source and these policies give.

Step Functions counts `MaxAttempts` as retries, not tries (Developer Guide, "Handling errors in
Step Functions workflows": a retrier with `MaxAttempts` 2 "already reached its maximum of two
retries"), and waits `IntervalSeconds x BackoffRate^n` before retry n+1, at most
`MaxDelaySeconds`; `JitterStrategy` FULL waits a random time up to that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RetryPolicy:
    """One kind of ASL retrier, without the errors it retries."""

    name: str
    """How a Task of the ASL's source names it."""
    interval_seconds: int
    max_attempts: int
    """Retries after the first try."""
    backoff_rate: float
    max_delay_seconds: int | None = None
    comment: str | None = None
    """The retrier's `Comment` in the ASL: why it retries."""
    jitter: str = "FULL"

    def retrier(self, error_equals: list[str]) -> dict[str, Any]:
        """The ASL retrier for these errors (keys in the order the ASL has always had them)."""
        retrier: dict[str, Any] = {"ErrorEquals": error_equals}
        if self.comment:
            retrier["Comment"] = self.comment
        retrier["IntervalSeconds"] = self.interval_seconds
        retrier["MaxAttempts"] = self.max_attempts
        retrier["BackoffRate"] = self.backoff_rate
        if self.max_delay_seconds is not None:
            retrier["MaxDelaySeconds"] = self.max_delay_seconds
        retrier["JitterStrategy"] = self.jitter
        return retrier

    def describe(self) -> str:
        """In words, as the docs give it: `up to 8 times (5 s first, x2 each time, at most 5 min
        apart)`."""
        most = (
            f", at most {_seconds(self.max_delay_seconds)} apart" if self.max_delay_seconds else ""
        )
        return (
            f"up to {self.max_attempts} times ({_seconds(self.interval_seconds)} first, "
            f"x{self.backoff_rate:g} each time{most})"
        )


def _seconds(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds >= 60 and seconds % 60 == 0 else f"{seconds} s"


LAMBDA_SERVICE = RetryPolicy(
    "lambda-service", interval_seconds=2, max_attempts=6, backoff_rate=2, max_delay_seconds=60
)
"""Lambda could not run the function (its service errors): the handler never ran."""

FUNCTION_DIED = RetryPolicy(
    "function-died",
    interval_seconds=5,
    max_attempts=2,
    backoff_rate=2,
    comment="The function timed out (Sandbox.Timedout on current runtimes, Lambda.Unknown on "
    "older ones) or ran out of memory (Runtime.ExitError on current runtimes, Lambda.Unknown), "
    "perhaps after its AWS calls took effect: each step first looks for what an earlier attempt "
    "made, so running it again is safe",
)
"""The function ran and died. Not for the notifications: their message may have been sent."""

TRANSIENT = RetryPolicy(
    "transient", interval_seconds=5, max_attempts=8, backoff_rate=2, max_delay_seconds=300
)
"""AWS throttled, could not be reached or failed on its side, through the SDK's own retries."""

SNAPSHOT_NOT_READY = RetryPolicy(
    "snapshot-not-ready",
    interval_seconds=60,
    max_attempts=10,
    backoff_rate=1.5,
    max_delay_seconds=900,
)
"""A snapshot the step needs is not `available` yet."""

COPY_EXISTS = RetryPolicy(
    "copy-exists",
    interval_seconds=2,
    max_attempts=2,
    backoff_rate=2,
    comment="A redelivered event's run made the copy a moment ago: look again and carry on with it",
)
"""The copy steps only: another run of the same source made the copy just before."""

COPY_LIMIT = RetryPolicy(
    "copy-limit",
    interval_seconds=60,
    max_attempts=24,
    backoff_rate=1.5,
    max_delay_seconds=1800,
    comment="20 copies already in progress in the account and region: room comes back as copies "
    "finish",
)
"""The copy steps only: RDS's limit of copies in progress is full."""

POLICIES: dict[str, RetryPolicy] = {
    policy.name: policy
    for policy in (
        LAMBDA_SERVICE,
        FUNCTION_DIED,
        TRANSIENT,
        SNAPSHOT_NOT_READY,
        COPY_EXISTS,
        COPY_LIMIT,
    )
}
"""Every retry policy, by the name the ASL's source uses."""
