"""moto's core: every request applied alone, as each real service applies one atomically."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from unittest import mock

from moto.core.botocore_stubber import BotocoreStubber

_REQUEST_LOCK = threading.RLock()


def _one_request_at_a_time() -> Callable[..., Any]:
    # Each AWS request is applied atomically by the real service: DynamoDB checks a condition and
    # writes as one step ("Amazon DynamoDB Transactions: How it works"), RDS lists its snapshots
    # while others are created. moto's backends are plain Python objects: a DynamoDB
    # transaction restores a copy of the whole table when it fails, and RDS iterates its
    # snapshot dict while another thread adds to it ("OrderedDict mutated during iteration").
    # With many runs in threads, each request is processed alone. Lambda invocations are not:
    # the handler's own requests go through here, and a handler may wait on the simulated clock.
    original = BotocoreStubber.process_request

    def process_request(stubber: BotocoreStubber, request: Any) -> Any:
        if "://lambda." in str(request.url):
            return original(stubber, request)
        with _REQUEST_LOCK:
            return original(stubber, request)

    return process_request


def patches() -> list[Any]:
    return [mock.patch.object(BotocoreStubber, "process_request", _one_request_at_a_time())]


__all__ = ["patches"]
