"""Everything moto gets wrong for this app, patched in one place.

Each patch says what real AWS does. Product code is never bent to fit moto: if a patch here
is wrong, the tests are wrong, not the app. Checked against moto 5.2.5; re-check when
upgrading (tests/unit/test_moto_patches.py shows each patch at work).

Also here: the simulated clock (Wait states, retry backoff and copy progress run on it, never
on real time), routing Lambda invocations to the real handlers in-process, and EventBridge
pattern matching (moto's rules do not deliver to Step Functions).
"""

from __future__ import annotations

import inspect
import json
import os
import re
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import time_machine
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.config import DefaultConfig
from moto.events.models import EventPattern, EventPatternParser
from moto.kms.models import kms_backends
from moto.rds.exceptions import KMSKeyNotAccessibleFault
from moto.rds.models import DBSnapshot, RDSBackend, rds_backends
from moto.rds.utils import split_arn
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.timestamp import Timestamp
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
    WaitFunction,
)

LambdaHandler = Callable[[dict[str, Any], Any], Any]

MOTO_CONFIG: DefaultConfig = {
    # Step Functions runs the real ASL (moto's port of the LocalStack interpreter), and Lambda
    # runs without Docker: invocations are routed to the handlers in-process (below).
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}


# --- The simulated clock ------------------------------------------------------------------------
class SimClock:
    """Simulated wall clock for a whole simulation.

    `start()` begins `time_machine.travel(start_at, tick=False)`: `datetime.now()` and
    `time.time()` everywhere (handlers, moto's timestamps, execution history) read simulated
    time, which moves only when `advance()` is called (by a Wait state, a retry backoff, or a
    test)."""

    def __init__(self, start_at: datetime) -> None:
        self._start_at = start_at
        self._travel: Any = None
        self._traveller: Any = None
        self._listeners: list[Callable[[datetime], None]] = []
        self._lock = threading.RLock()

    def start(self) -> None:
        self._travel = time_machine.travel(self._start_at, tick=False)
        self._traveller = self._travel.start()

    def stop(self) -> None:
        if self._traveller is not None:
            self._travel.stop()
            self._traveller = None

    def now(self) -> datetime:
        return datetime.now(UTC)

    def advance(self, seconds: float) -> None:
        if seconds <= 0:
            return
        with self._lock:
            if self._traveller is None:
                raise RuntimeError("SimClock.advance() before start()")
            self._traveller.shift(timedelta(seconds=seconds))
            now = self.now()
            for listener in list(self._listeners):
                listener(now)

    def on_advance(self, callback: Callable[[datetime], None]) -> None:
        self._listeners.append(callback)


# --- Lambda ---------------------------------------------------------------------------------------
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


def wait_for_execution(
    sfn_client: Any, execution_arn: str, timeout_s: float = 60
) -> dict[str, Any]:
    """Poll `describe_execution` until the run leaves RUNNING.

    moto runs an execution in a worker thread. This waits (in real time, briefly) for that
    thread, not for simulated time: the run's own waits are on the SimClock."""
    pause = threading.Event()
    deadline = timeout_s / 0.005
    polls = 0
    while True:
        described: dict[str, Any] = sfn_client.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        polls += 1
        if polls > deadline:
            raise TimeoutError(f"{execution_arn} still RUNNING after {timeout_s} s of real time")
        pause.wait(0.005)


# --- RDS ------------------------------------------------------------------------------------------
def _shared_with(snapshot: Any, account: str) -> bool:
    values = snapshot.attributes.get("restore", [])
    return account in values or "all" in values


def _key_policy_allows(policy_text: str | dict[str, Any], account: str) -> bool:
    """True if an Allow statement of the key policy names the account (root, id or any
    principal ARN in it)."""
    try:
        policy = json.loads(policy_text) if isinstance(policy_text, str) else policy_text
    except ValueError:
        return False
    statements = policy.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        # moto's CloudFormation leaves a list item that resolved to AWS::NoValue as None
        # (real CloudFormation drops it): skip anything that is not a statement.
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal", {})
        names = principal.get("AWS", []) if isinstance(principal, dict) else principal
        for name in [names] if isinstance(names, str) else names:
            if not isinstance(name, str):
                continue
            if name in ("*", account) or re.match(rf"^arn:aws[\w-]*:iam::{account}:", name):
                return True
    return False


@dataclass
class _Progress:
    snapshot: Any
    started: datetime
    minutes: float
    fail: bool


class MotoPatches:
    """Installs every patch on enter and removes them on exit."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self._stack = ExitStack()
        self._routes: dict[str, tuple[LambdaHandler, dict[str, str] | None]] = {}
        self._progress: list[_Progress] = []
        self._progress_model: tuple[float, float] | None = None
        self._fail_next_copy = 0
        clock.on_advance(self._advance_copies)

    # -- public ----------------------------------------------------------------------------------
    def route_lambda(
        self, function_name: str, handler: LambdaHandler, environment: dict[str, str] | None = None
    ) -> None:
        """Invocations of this function (by name or ARN, any account) call `handler` in-process
        with `os.environ` extended by `environment`."""
        self._routes[function_name] = (handler, environment)

    def environment(self, variables: dict[str, str] | None) -> Any:
        return environment(variables)

    def simulate_copy_progress(
        self, minutes_per_gib: float = 1.0, base_minutes: float = 3.0
    ) -> None:
        """From now on, copies start `creating` at 0 % and become `available` after
        `base_minutes + size_gib * minutes_per_gib` simulated minutes, progress rising linearly
        as the clock advances."""
        self._progress_model = (minutes_per_gib, base_minutes)

    def fail_next_copy(self, count: int = 1) -> None:
        """The next `count` copies end in status `failed` instead of `available`."""
        self._fail_next_copy += count
        if self._progress_model is None:
            self._progress_model = (1.0, 3.0)

    def __enter__(self) -> MotoPatches:
        patches: list[Any] = [
            mock.patch.object(LambdaSimpleBackend, "invoke", self._invoke_patch()),
            mock.patch.object(WaitFunction, "_wait_interval", self._wait_patch()),
            mock.patch.object(retrier_decl, "time", _ClockTime(self.clock)),
            mock.patch.object(Timestamp, "_get_wait_seconds", _timestamp_wait_seconds()),
            mock.patch.object(RDSBackend, "get_snapshot", _get_snapshot_patch()),
            mock.patch.object(RDSBackend, "_validate_kms_key", _validate_kms_key_patch()),
            mock.patch.object(
                RDSBackend,
                "describe_db_snapshots",
                _describe_any_type(RDSBackend.describe_db_snapshots),
            ),
            mock.patch.object(
                RDSBackend,
                "describe_db_cluster_snapshots",
                _describe_any_type(RDSBackend.describe_db_cluster_snapshots),
            ),
            mock.patch.object(
                RDSBackend, "copy_db_snapshot", self._copy_patch(RDSBackend.copy_db_snapshot)
            ),
            mock.patch.object(
                RDSBackend,
                "copy_db_cluster_snapshot",
                self._copy_patch(RDSBackend.copy_db_cluster_snapshot),
            ),
        ]
        for patch in patches:
            self._stack.enter_context(patch)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    # -- Lambda: route to the real handler -------------------------------------------------------
    def _invoke_patch(self) -> Callable[..., Any]:
        routes = self._routes
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
            with _ENV_LOCK, environment(variables):
                try:
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

    # -- Step Functions: waits on the simulated clock ---------------------------------------------
    def _wait_patch(self) -> Callable[..., None]:
        clock = self.clock

        # moto's Wait state blocks the worker thread for the real number of seconds. Real Step
        # Functions waits that long too; here the simulated clock jumps ahead instead.
        def wait_interval(function: WaitFunction, env: Any, wait_seconds: int) -> None:
            clock.advance(max(0, wait_seconds))

        return wait_interval

    # -- RDS: copies that take time ----------------------------------------------------------------
    def _copy_patch(self, original: Callable[..., Any]) -> Callable[..., Any]:
        # moto makes a copy `available` at once. Real RDS shows it `creating` (DB snapshots)
        # or `copying` with a rising PercentProgress for minutes to hours.
        def copy(backend: RDSBackend, *args: Any, **kwargs: Any) -> Any:
            snapshot = original(backend, *args, **kwargs)
            if self._progress_model is not None:
                per_gib, base = self._progress_model
                size = int(getattr(snapshot, "allocated_storage", 0) or 0)
                snapshot.status = "creating" if isinstance(snapshot, DBSnapshot) else "copying"
                snapshot.percent_progress = 0
                fail = self._fail_next_copy > 0
                if fail:
                    self._fail_next_copy -= 1
                self._progress.append(
                    _Progress(snapshot, self.clock.now(), base + size * per_gib, fail)
                )
            return snapshot

        return copy

    def _advance_copies(self, now: datetime) -> None:
        for progress in list(self._progress):
            elapsed = (now - progress.started).total_seconds() / 60
            if elapsed >= progress.minutes:
                progress.snapshot.status = "failed" if progress.fail else "available"
                progress.snapshot.percent_progress = 100 if not progress.fail else 0
                self._progress.remove(progress)
            elif not progress.fail:
                progress.snapshot.percent_progress = int(100 * elapsed / progress.minutes)


class _ClockTime:
    """Stands in for the `time` module in moto's retrier: its `sleep` advances the clock.

    Real Step Functions waits out a Retry's backoff; the simulation jumps ahead."""

    def __init__(self, clock: SimClock) -> None:
        self._clock = clock

    def sleep(self, seconds: float) -> None:
        self._clock.advance(seconds)

    def __getattr__(self, name: str) -> Any:
        import time

        return getattr(time, name)


def _timestamp_wait_seconds() -> Callable[..., int]:
    original = Timestamp._get_wait_seconds

    # moto subtracts the local naive `datetime.now()` from the UTC timestamp, so on a machine
    # whose time zone is not UTC a Timestamp wait is off by the offset. Real Step Functions
    # reads the timestamp as the UTC instant it is.
    def get_wait_seconds(function: Timestamp, env: Any) -> int:
        function.string.eval(env=env)
        text: str = env.stack.pop()
        moment = Timestamp._from_timestamp_string(text)
        if moment is None:
            env.stack.append(text)
            return int(original(function, env))
        delta = moment.replace(tzinfo=UTC) - datetime.now(UTC)
        return int(delta.total_seconds())

    return get_wait_seconds


def _get_snapshot_patch() -> Callable[..., Any]:
    # moto reads an ARN's region but not its account, so CopyDBSnapshot with the ARN of a
    # snapshot shared from another account finds nothing (or a same-named local one). Real RDS
    # reads the owner's snapshot and copies it only if it is shared with the caller (its
    # `restore` attribute lists the caller's account or `all`); otherwise DBSnapshotNotFound.
    original = RDSBackend.get_snapshot

    def get_snapshot(
        backend: RDSBackend, identifier: str, resource_type: Any, not_found_exception: Any
    ) -> Any:
        if identifier.startswith("arn:"):
            region, account, _, name = split_arn(identifier)
            if account != backend.account_id:
                owner = rds_backends[account][region]
                snapshot = owner.resource_map[resource_type].get(name)
                if snapshot is None or not _shared_with(snapshot, backend.account_id):
                    raise not_found_exception(identifier)
                return snapshot
        return original(backend, identifier, resource_type, not_found_exception)

    return get_snapshot


def _validate_kms_key_patch() -> Callable[..., str]:
    # moto only checks that a key exists. Real RDS also needs the key enabled and usable by the
    # caller: a key in another account must allow the caller's account in its key policy,
    # else KMSKeyNotAccessibleFault.
    original = RDSBackend._validate_kms_key

    def validate(backend: RDSBackend, kms_key_id: str) -> str:
        arn = original(backend, kms_key_id)
        region, account = arn.split(":")[3], arn.split(":")[4]
        key = kms_backends[account][region].describe_key(arn.rsplit("/", 1)[-1])
        if not key.enabled or key.key_state != "Enabled":
            raise KMSKeyNotAccessibleFault(kms_key_id)
        if account != backend.account_id and not _key_policy_allows(key.policy, backend.account_id):
            raise KMSKeyNotAccessibleFault(kms_key_id)
        return arn

    return validate


def _describe_any_type(original: Callable[..., Any]) -> Callable[..., Any]:
    # Describing by identifier, moto adds a filter for the types `automated` and `manual`, so
    # a snapshot made by AWS Backup (type `awsbackup`) is "not found". Real RDS returns the
    # snapshot named, whatever its type.
    signature = inspect.signature(original)

    def describe(backend: RDSBackend, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(backend, *args, **kwargs)
        bound.apply_defaults()
        arguments = bound.arguments
        filters = arguments.get("filters")
        if (
            arguments.get("db_snapshot_identifier")
            and arguments.get("snapshot_type") is None
            and not (filters and "snapshot-type" in filters)
        ):
            arguments["filters"] = {
                **(filters or {}),
                "snapshot-type": ["automated", "manual", "awsbackup"],
            }
        return original(*bound.args, **bound.kwargs)

    return describe


# --- EventBridge -----------------------------------------------------------------------------------
def event_matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """Does EventBridge deliver `event` to a rule with this pattern? (moto's own matcher)"""
    raw = json.dumps(pattern)
    matcher = EventPattern(raw, EventPatternParser(raw).parse())
    return bool(matcher.matches_event(event))  # type: ignore[arg-type]


__all__ = [
    "MOTO_CONFIG",
    "LambdaHandler",
    "MotoPatches",
    "SimClock",
    "environment",
    "event_matches",
    "make_fake_context",
    "wait_for_execution",
]
