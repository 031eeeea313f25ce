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
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any
from unittest import mock

from moto.awslambda_simple.models import LambdaSimpleBackend

from simulation.moto.emf import FunctionLogs, invocation

LambdaHandler = Callable[[dict[str, Any], Any], Any]
Route = tuple[LambdaHandler, dict[str, str] | None, dict[str, str] | None]
"""The handler a function runs, variables set in `os.environ` for its calls (under a lock), and
variables its calls alone see (`own_environment`)."""
Routes = dict[tuple[str, str], Route]
"""(account, function name) → its route: the same names exist in each source account."""


class FakeContext:
    """What a Lambda handler reads from its context object."""

    def __init__(
        self,
        function_name: str,
        memory: int = 256,
        account: str = "123456789012",
        region: str = "eu-west-1",
    ) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account}:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "simulated"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def make_fake_context(
    function_name: str, account: str = "123456789012", region: str = "eu-west-1"
) -> Any:
    """The context of an invocation of the function of `account` in `region`."""
    return FakeContext(function_name, account=account, region=region)


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


class _PerInvocation(MutableMapping[str, str]):
    """`os.environ` as each invocation sees it: the variables of the invocation running in this
    thread (`own_environment`), then the process's. Lambda runs each function in an execution
    environment of its own, with its configuration's variables and its role's credentials
    (Lambda Developer Guide, "Lambda execution environment", "Defined runtime environment
    variables"); here the functions of several accounts run side by side in one process.
    Writes go to the process's environment."""

    def __init__(self, process: MutableMapping[str, str]) -> None:
        self.process = process
        self._local = threading.local()

    @property
    def own(self) -> dict[str, str] | None:
        own: dict[str, str] | None = getattr(self._local, "own", None)
        return own

    @own.setter
    def own(self, variables: dict[str, str] | None) -> None:
        self._local.own = variables

    def __getitem__(self, name: str) -> str:
        own = getattr(self._local, "own", None)
        if own is not None and name in own:
            return str(own[name])
        return self.process[name]

    def get(self, name: str, default: Any = None) -> Any:
        # (faster than Mapping's, by way of a KeyError: botocore reads the environment often)
        own = getattr(self._local, "own", None)
        if own is not None and name in own:
            return own[name]
        return self.process.get(name, default)

    def __contains__(self, name: object) -> bool:
        own = getattr(self._local, "own", None)
        return (own is not None and name in own) or name in self.process

    def __setitem__(self, name: str, value: str) -> None:
        self.process[name] = value

    def __delitem__(self, name: str) -> None:
        del self.process[name]

    def __iter__(self) -> Iterator[str]:
        own = self.own or {}
        yield from own
        yield from (name for name in list(self.process) if name not in own)

    def __len__(self) -> int:
        return len({*(self.own or {}), *self.process})

    def copy(self) -> dict[str, str]:
        return dict(self)


@contextmanager
def environments_per_invocation() -> Iterator[None]:
    """While installed, `own_environment` gives each invocation variables of its own (functions
    of several accounts, each with its role's credentials, running at the same time)."""
    with mock.patch.object(os, "environ", _PerInvocation(os.environ)):
        yield


@contextmanager
def own_environment(variables: dict[str, str] | None) -> Iterator[None]:
    """The calling thread's invocation sees `variables` over the process's environment (None:
    the process's alone, for an invocation nested in another's); needs
    `environments_per_invocation`, else nothing changes."""
    per_invocation = os.environ
    if not isinstance(per_invocation, _PerInvocation):
        yield
        return
    previous, per_invocation.own = per_invocation.own, variables
    try:
        yield
    finally:
        per_invocation.own = previous


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
        # The function's own account: its ARN's, else the account the call was made in
        arn = function_name.split(":") if function_name.startswith("arn:") else None
        account = arn[4] if arn else backend.account_id
        region = arn[3] if arn else backend.region_name
        route = routes.get((account, name))
        if route is None:
            return original(backend, function_name, qualifier, body, headers, response_headers)
        handler, variables, own = route
        event = json.loads(body) if body else {}
        # A function with its own environment runs alone (os.environ is process-wide); the
        # simulation sets the one environment all its functions share once, so concurrent
        # runs are not serialised here (a handler may wait on the simulated clock). Functions
        # of other accounts see theirs alone (`own_environment`), without a lock.
        with (
            _ENV_LOCK if variables else contextlib.nullcontext(),
            environment(variables),
            own_environment(own),
        ):
            try:
                with invocation(name, account, region, logs):
                    result = handler(event, make_fake_context(name, account, region))
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


__all__ = [
    "FakeContext",
    "LambdaHandler",
    "Route",
    "Routes",
    "environment",
    "environments_per_invocation",
    "make_fake_context",
    "own_environment",
    "patches",
]
