"""moto's core: every request applied alone, as each real service applies one atomically; the
SDK's data files read once per process, and moto's request handlers looked up once per class
(speed)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from unittest import mock

import botocore.hooks
import botocore.session
from botocore.loaders import Loader
from moto.core import responses as moto_responses
from moto.core.botocore_stubber import BotocoreStubber
from moto.core.utils import method_names_from_class as method_names_from_class_in_moto

_REQUEST_LOCK = threading.RLock()
_LOADERS: dict[Any, Loader] = {}
_LOADERS_LOCK = threading.Lock()


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


def _one_loader() -> Callable[..., Loader]:
    # Speed only, no change of behaviour: each botocore session reads the SDK's data files
    # (endpoints, each service's model) again through a loader of its own, and moto gives boto3
    # a new default session for every mock, Powertools makes its own, ...: a tenth of the tests'
    # time. One loader per data path for the process, as the app's `new_session` does.
    original = botocore.session.create_loader

    def create_loader(search_path_string: str | None = None) -> Loader:
        with _LOADERS_LOCK:
            if search_path_string not in _LOADERS:
                _LOADERS[search_path_string] = original(search_path_string)
            return _LOADERS[search_path_string]

    return create_loader


def _aliases_once() -> Callable[..., None]:
    # Speed only, no change of behaviour: botocore renames event names by its table of aliases
    # (`EVENT_ALIASES`) with a cache of its own in each emitter, and every new session and
    # client starts with an empty one: a session registers hundreds of handlers, each name
    # worked out again (most of a session's making). One cache for the process, for emitters
    # with botocore's own table (a pure function of the name and the table).
    original = botocore.hooks.EventAliaser.__init__
    shared: dict[str, str] = {}

    def __init__(aliaser: Any, event_emitter: Any, event_aliases: Any = None) -> None:
        original(aliaser, event_emitter, event_aliases)
        if aliaser._event_aliases == botocore.hooks.EVENT_ALIASES:
            aliaser._alias_name_cache = shared

    return __init__


def _handler_names_once() -> Callable[[object], list[str]]:
    # Speed only, no change of behaviour: for every request moto lists the methods of the
    # response class (`inspect.getmembers`) to find the action's handler. The list is made once
    # per class while the patches are installed (every patch of a class is in place by then).
    original = method_names_from_class_in_moto
    names: dict[object, list[str]] = {}

    def method_names_from_class(clazz: object) -> list[str]:
        if clazz not in names:
            names[clazz] = original(clazz)
        return names[clazz]

    return method_names_from_class


def patches() -> list[Any]:
    return [
        mock.patch.object(BotocoreStubber, "process_request", _one_request_at_a_time()),
        mock.patch.object(botocore.session, "create_loader", _one_loader()),
        mock.patch.object(moto_responses, "method_names_from_class", _handler_names_once()),
        mock.patch.object(botocore.hooks.EventAliaser, "__init__", _aliases_once()),
    ]


__all__ = ["patches"]
