"""DynamoDB under real concurrency, as a fault mode of the simulation.

The simulation serializes every request, so two runs never touch the pool's count item at the
same moment: DynamoDB's answers to concurrent writers never appear on their own. This mode gives
them, at rates a test chooses, exactly as DynamoDB does (DynamoDB API reference,
TransactWriteItems and PutItem/UpdateItem/DeleteItem, "Errors"; developer guide, "Transaction
conflict handling in DynamoDB"):

* a transaction cancelled because another request touched one of its items:
  `TransactionCanceledException` with a `CancellationReasons` entry per item, `TransactionConflict`
  for one of them and `None` for the others; nothing of it is applied;
* a transaction cancelled by throttling: the same exception, reason `ThrottlingError`;
* a single write on an item an ongoing transaction holds: `TransactionConflictException`;
* a single write throttled: `ProvisionedThroughputExceededException` (the SDK retries it).

Every N-th request of a kind is answered so (the first, then every N-th after it), counted
over the whole simulation.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from moto.core.botocore_stubber import BotocoreStubber

_TRANSACT = "TransactWriteItems"
_SINGLE_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})


def _answer(status: int, code: str, message: str, **extra: Any) -> tuple[int, dict[str, str], str]:
    body = json.dumps(
        {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message, **extra}
    )
    headers = {"x-amzn-RequestId": str(uuid.uuid4()), "Content-Type": "application/x-amz-json-1.0"}
    return status, headers, body


def _cancelled(request: Any, reason: str, message: str) -> tuple[int, dict[str, str], str]:
    """`TransactionCanceledException`, one reason per item of the request: `reason` for the
    first item (the pool's count, in every transaction of the app), `None` for the others."""
    items = json.loads(request.body or b"{}").get("TransactItems", [])
    reasons = [{"Code": reason, "Message": message}] + [{"Code": "None"}] * (len(items) - 1)
    codes = ", ".join(r["Code"] for r in reasons)
    return _answer(
        400,
        "TransactionCanceledException",
        f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
        CancellationReasons=reasons,
    )


@dataclass
class DynamoDbContention:
    """Every `conflict_every`-th transaction cancelled for a conflict, every `throttle_every`-th
    write (transaction or single) throttled, every `single_conflict_every`-th single write
    refused for an ongoing transaction (0: never)."""

    conflict_every: int = 0
    throttle_every: int = 0
    single_conflict_every: int = 0
    tables: frozenset[str] | None = None
    """Only writes to these tables (None: every table of every account)."""
    seen: Counter[str] = field(default_factory=Counter)
    answered: Counter[str] = field(default_factory=Counter)
    """What was injected: "TransactionConflict", "ThrottlingError", ... by count."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def _every(count: int, every: int) -> bool:
        return every > 0 and (count - 1) % every == 0

    def _concerns(self, request: Any, operation: str) -> bool:
        if self.tables is None:
            return True
        body = json.loads(request.body or b"{}")
        if operation == _TRANSACT:
            names = {
                action.get("TableName")
                for item in body.get("TransactItems", [])
                for action in item.values()
            }
        else:
            names = {body.get("TableName")}
        return bool(names & self.tables)

    def _fault(self, request: Any, operation: str) -> tuple[int, dict[str, str], str] | None:
        if not self._concerns(request, operation):
            return None
        with self._lock:
            self.seen[operation] += 1
            self.seen["writes"] += 1
            writes, transactions = self.seen["writes"], self.seen[_TRANSACT]
            singles = self.seen["writes"] - transactions
            if operation == _TRANSACT and self._every(transactions, self.conflict_every):
                self.answered["TransactionConflict"] += 1
                return _cancelled(
                    request, "TransactionConflict", "Transaction is ongoing for the item"
                )
            if self._every(writes, self.throttle_every):
                if operation == _TRANSACT:
                    self.answered["ThrottlingError"] += 1
                    return _cancelled(
                        request,
                        "ThrottlingError",
                        "Throughput exceeds the current capacity of your table or index.",
                    )
                self.answered["ProvisionedThroughputExceededException"] += 1
                return _answer(
                    400,
                    "ProvisionedThroughputExceededException",
                    "The level of configured provisioned throughput for the table was exceeded.",
                )
            if operation in _SINGLE_WRITES and self._every(singles, self.single_conflict_every):
                self.answered["TransactionConflictException"] += 1
                return _answer(
                    400,
                    "TransactionConflictException",
                    "Transaction is ongoing for the item",
                )
        return None

    @contextmanager
    def installed(self) -> Iterator[DynamoDbContention]:
        original = BotocoreStubber.process_request
        contention = self

        def process_request(stubber: BotocoreStubber, request: Any) -> Any:
            if ".dynamodb." in str(request.url) or str(request.url).startswith("https://dynamodb."):
                target = request.headers.get("X-Amz-Target") or b""
                text = target.decode() if isinstance(target, bytes) else str(target)
                operation = text.rsplit(".", 1)[-1]
                if operation == _TRANSACT or operation in _SINGLE_WRITES:
                    fault = contention._fault(request, operation)
                    if fault is not None:
                        return fault
            return original(stubber, request)

        with mock.patch.object(BotocoreStubber, "process_request", process_request):
            yield self


__all__ = ["DynamoDbContention"]
