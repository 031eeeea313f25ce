"""moto's core: every request applied alone, as each real service applies one atomically.

And speed, with no change of behaviour: what botocore and moto work out again and again for
every session, client, request or response, and whose answer never changes, worked out once
(the SDK's data files, event-name aliases, handlers' signatures, moto's handler names and
response attribute names), and a JSON template read as JSON."""

from __future__ import annotations

import contextlib
import json
import threading
import types
from collections.abc import Callable
from typing import Any
from unittest import mock

import botocore.hooks
import botocore.session
from botocore.compat import accepts_kwargs as botocore_accepts_kwargs
from botocore.loaders import Loader
from moto.cloudformation.models import Stack as CfnStack
from moto.core import responses as moto_responses
from moto.core.botocore_stubber import BotocoreStubber
from moto.core.constants import MISSING
from moto.core.serialize import AttributePicker, AttributePickerContext
from moto.core.utils import get_value as moto_get_value
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


def _kwargs_checked_once() -> Callable[[Any], Any]:
    # Speed only, no change of behaviour: botocore checks that every handler it registers takes
    # **kwargs by reading its signature (`inspect.getfullargspec`), for each of the hundreds of
    # handlers every new session and client registers. For a plain function (or a method's) the
    # answer is its code's: read once per code object for the process (code objects keep no
    # closure or client alive); anything else is asked every time.
    original = botocore_accepts_kwargs
    answers: dict[types.CodeType, Any] = {}

    def accepts_kwargs(func: Any) -> Any:
        function = getattr(func, "__func__", func)
        if type(function) is not types.FunctionType or hasattr(function, "__signature__"):
            return original(func)
        code = function.__code__
        if code not in answers:
            answers[code] = original(func)
        return answers[code]

    return accepts_kwargs


def _attribute_keys_once() -> Callable[[AttributePicker, AttributePickerContext], Any]:
    # Speed only, no change of behaviour: to serialize each member of a response, moto's
    # AttributePicker asks six alias providers which attribute names might hold it (the member's
    # name, its snake_case form, the name less its shape's or class's prefix, ...): a tenth of
    # every response's serializing. The names depend only on the picker's providers, the
    # object's class, the member and its shape (moto's response shapes are made once, by its
    # cached service models), so they are worked out once; the values are read from each object
    # as moto does. An object with serialization aliases of its own (`Meta`) is asked every time.
    original = AttributePicker.__call__
    keys: dict[tuple[Any, ...], tuple[str, ...]] = {}

    def pick(picker: AttributePicker, context: AttributePickerContext) -> Any:
        obj = context.obj
        if hasattr(obj, "Meta"):
            return original(picker, context)
        key = (type(picker), *picker.alias_providers, type(obj), context.key, context.shape)
        names = keys.get(key)
        if names is None:
            try:
                names = keys[key] = tuple(picker.get_possible_keys(context))
            except Exception:  # a provider that fails: moto's own way meets it as moto does
                return original(picker, context)
        for name in names:
            value = moto_get_value(obj, name, MISSING)
            if value is not MISSING:
                break
        else:
            value = None
        key_path = f"{context.key_path}.{context.key}"
        for transform_path, transform in picker.response_transformers.items():
            if key_path.endswith(transform_path):
                value = transform(value)
                break
        return value

    return pick


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


def _json_templates_read_as_json() -> Callable[[str], dict[str, Any]]:
    # moto's CloudFormation reads every template with PyYAML (pure Python) first, JSON only if
    # that fails: a fifth of a simulation's deploy for the backup stack's JSON body. JSON is YAML
    # (a JSON document loads to the same mapping either way), so a body that is JSON is read
    # with json, any other as moto reads it.
    original = CfnStack.parse_template

    def parse_template(template: str) -> dict[str, Any]:
        if template.lstrip().startswith("{"):
            with contextlib.suppress(ValueError):
                parsed: dict[str, Any] = json.loads(template)
                return parsed
        return original(template)

    return parse_template


def patches() -> list[Any]:
    return [
        mock.patch.object(CfnStack, "parse_template", staticmethod(_json_templates_read_as_json())),
        mock.patch.object(BotocoreStubber, "process_request", _one_request_at_a_time()),
        mock.patch.object(botocore.session, "create_loader", _one_loader()),
        mock.patch.object(moto_responses, "method_names_from_class", _handler_names_once()),
        mock.patch.object(botocore.hooks.EventAliaser, "__init__", _aliases_once()),
        mock.patch.object(botocore.hooks, "accepts_kwargs", _kwargs_checked_once()),
        mock.patch.object(AttributePicker, "__call__", _attribute_keys_once()),
    ]


__all__ = ["patches"]
