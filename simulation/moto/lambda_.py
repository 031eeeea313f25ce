"""Lambda: invocations run the real handlers in-process (moto without Docker echoes its input).

Also what a handler reads of its context object, and the function's environment for the call.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from moto.awslambda_simple.models import LambdaSimpleBackend

from simulation.moto.emf import FunctionLogs, invocation

LambdaHandler = Callable[[dict[str, Any], Any], Any]
Routes = dict[str, tuple[LambdaHandler, dict[str, str] | None]]
"""Function name → the handler it runs and the environment the template gives it."""


class FakeContext:
    """What a Lambda handler reads from its context object."""

    def __init__(self, function_name: str, memory: int = 256) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory
        self.invoked_function_arn = (
            f"arn:aws:lambda:eu-west-1:123456789012:function:{function_name}"
        )
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "simulated"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def make_fake_context(function_name: str) -> Any:
    return FakeContext(function_name)


@contextmanager
def environment(variables: dict[str, str] | None) -> Iterator[None]:
    """`os.environ` extended by `variables` for the duration (a Lambda's configuration)."""
    if not variables:
        yield
        return
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


_ENV_LOCK = threading.RLock()


def _routed_invoke(routes: Routes, logs: FunctionLogs) -> Callable[..., Any]:
    original = LambdaSimpleBackend.invoke

    # moto's Lambda without Docker echoes its input. Real Lambda runs the handler; a raised
    # exception comes back with the header `X-Amz-Function-Error: Unhandled` and the payload
    # {"errorType": <class name>, "errorMessage": ..., "stackTrace": [...]}, which Step
    # Functions turns into the error name that Retry and Catch match.
    def invoke(
        backend: LambdaSimpleBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> Any:
        name = function_name.split(":function:", 1)[-1].split(":", 1)[0]
        if name not in routes:
            return original(backend, function_name, qualifier, body, headers, response_headers)
        handler, variables = routes[name]
        event = json.loads(body) if body else {}
        # The function's own account: its ARN's, else the account the call was made in
        arn = function_name.split(":") if function_name.startswith("arn:") else None
        account = arn[4] if arn else backend.account_id
        region = arn[3] if arn else backend.region_name
        # A function with its own environment runs alone (os.environ is process-wide); the
        # simulation sets the one environment all its functions share once, so concurrent
        # runs are not serialised here (a handler may wait on the simulated clock).
        with _ENV_LOCK if variables else contextlib.nullcontext(), environment(variables):
            try:
                with invocation(name, account, region, logs):
                    result = handler(event, make_fake_context(name))
            except Exception as error:
                response_headers["x-amz-function-error"] = "Unhandled"
                return json.dumps(
                    {
                        "errorType": type(error).__name__,
                        "errorMessage": str(error),
                        "stackTrace": traceback.format_tb(error.__traceback__)[-3:],
                    }
                ).encode()
        return json.dumps(result).encode()

    return invoke


def patches(routes: Routes, logs: FunctionLogs) -> list[Any]:
    """Invocations of a function in `routes` (by name or ARN, any account) call its handler,
    each one an invocation of its own (`emf.invocation`: its output, its metrics)."""
    return [mock.patch.object(LambdaSimpleBackend, "invoke", _routed_invoke(routes, logs))]


__all__ = ["FakeContext", "LambdaHandler", "Routes", "environment", "make_fake_context", "patches"]
