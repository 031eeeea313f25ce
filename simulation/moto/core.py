"""moto's core: every request applied alone, as each real service applies one atomically; no
model kept beyond its service's own state."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from unittest import mock

from moto.core.botocore_stubber import BotocoreStubber
from moto.core.common_models import BaseModel

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


def _untracked_models() -> Callable[..., Any]:
    # Memory. moto appends every model object it ever makes to its class's `instances_tracked`,
    # for moto server's dashboard (`/moto-api/data.json`) and its reset: nothing is ever let go.
    # A DynamoDB transaction deep-copies each table it writes (to put back if it fails), so a
    # window of N runs kept some N x (items in the table) items alive: 1.9 GB of a 200-database
    # window, and a 1,000-database one ran out of 16 GB. AWS keeps nothing of the kind, and the
    # simulation never reads the dashboard: a model lives as long as its service's state holds
    # it, as any Python object does. (mock_aws's reset empties the lists anyway; objects made
    # here are simply never put in them.)
    def new(cls: type[BaseModel], *args: Any, **kwargs: Any) -> BaseModel:
        instance: BaseModel = object.__new__(cls)
        return instance

    return new


def patches() -> list[Any]:
    return [
        mock.patch.object(BotocoreStubber, "process_request", _one_request_at_a_time()),
        mock.patch.object(BaseModel, "__new__", _untracked_models()),
    ]


__all__ = ["patches"]
