"""Everything moto gets wrong for this app, patched in one place.

Each patch says what real AWS does. Product code is never bent to fit moto: if a patch here
is wrong, the tests are wrong, not the app. Checked against moto 5.2.5; re-check when
upgrading (tests/unit/test_moto_patches.py shows each patch at work).

Also here: the simulated clock (Wait states, retry backoff and copy progress run on it, never
on real time), routing Lambda invocations to the real handlers in-process, and EventBridge
pattern matching (moto's rules do not deliver to Step Functions).
"""

from __future__ import annotations

import contextlib
import copy
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

import boto3
import time_machine
from botocore.config import Config as BotoConfig
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.botocore_stubber import BotocoreStubber
from moto.core.config import DefaultConfig
from moto.events.models import EventPattern, EventPatternParser
from moto.kms.models import kms_backends
from moto.rds.exceptions import KMSKeyNotAccessibleFault
from moto.rds.models import DBSnapshot, OptionGroup, RDSBackend, rds_backends
from moto.rds.utils import split_arn
from moto.stepfunctions.parser.asl.component.common.catch.catch_outcome import CatchOutcome
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import EvalTimeoutError
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.program.program import Program
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.timestamp import Timestamp
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
    WaitFunction,
)
from moto.stepfunctions.parser.asl.eval.callback.callback import (
    CallbackConsumerTimeout,
    CallbackEndpoint,
)
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.utils import TMP_THREADS

from rds_xacct.aws import forget_clients

LambdaHandler = Callable[[dict[str, Any], Any], Any]

# No test starts an EC2 instance: moto's catalogue of default AMIs, loaded for every account and
# region its CloudFormation touches, was a tenth of each simulation's set-up.
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")

MOTO_CONFIG: DefaultConfig = {
    # Step Functions runs the real ASL (moto's port of the LocalStack interpreter), and Lambda
    # runs without Docker: invocations are routed to the handlers in-process (below).
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}


# --- The simulated clock ------------------------------------------------------------------------
@dataclass
class _Sleeper:
    wake_at: datetime | None
    """None: until woken by `SimClock.wake` (a task token's callback), however long."""
    woken: bool = False


class SimClock:
    """Simulated wall clock for a whole simulation, shared by every run at once.

    `start()` begins `time_machine.travel(start_at, tick=False)`: `datetime.now()` and
    `time.time()` everywhere (handlers, moto's timestamps, execution history) read simulated
    time, which moves only when the clock is told to.

    Many executions run at once, each in its own moto worker thread. Each such thread is
    *enlisted*; a thread that waits (a Wait state, a Retry's backoff, `time.sleep`, a task token
    not yet sent) calls `sleep` and blocks. Only when every enlisted thread is blocked does the
    clock jump to the earliest wake-up and release the threads due then: a discrete-event
    simulation, so 200 concurrent runs share one consistent timeline and a run's waits never
    move the clock under another run's feet. A lone run behaves as before (its own wait moves the
    clock at once). `advance()` is the direct jump for tests and the demo while no run waits.
    """

    def __init__(self, start_at: datetime) -> None:
        self._start_at = start_at
        self._travel: Any = None
        self._traveller: Any = None
        self._listeners: list[Callable[[datetime], None]] = []
        self._cv = threading.Condition(threading.RLock())
        self._running = 0
        self._sleepers: list[_Sleeper] = []
        self._local = threading.local()
        self.stalls = 0
        """Times a waiting thread found nothing had happened for 5 s of real time (a missed
        wake-up would show here)."""

    def start(self) -> None:
        self._travel = time_machine.travel(self._start_at, tick=False)
        self._traveller = self._travel.start()

    def stop(self) -> None:
        if self._traveller is not None:
            self._travel.stop()
            self._traveller = None

    def now(self) -> datetime:
        return datetime.now(UTC)

    def on_advance(self, callback: Callable[[datetime], None]) -> None:
        self._listeners.append(callback)

    # -- direct jumps ----------------------------------------------------------------------------
    def advance(self, seconds: float) -> None:
        """Move the clock now (a test, or the demo between two runs), waking what is due."""
        if seconds <= 0:
            return
        with self._cv:
            self._shift_to(self.now() + timedelta(seconds=seconds))

    def _shift_to(self, moment: datetime) -> None:
        if self._traveller is None:
            raise RuntimeError("SimClock used before start()")
        if moment > self.now():
            self._traveller.shift(moment - self.now())
            now = self.now()
            for listener in list(self._listeners):
                listener(now)
        now = self.now()
        for sleeper in self._sleepers:
            if not sleeper.woken and sleeper.wake_at is not None and sleeper.wake_at <= now:
                self._wake(sleeper)
        self._sleepers = [s for s in self._sleepers if not s.woken]
        self._cv.notify_all()

    # -- threads that take part ------------------------------------------------------------------
    def enlist(self) -> None:
        """Count a thread about to start (call before `Thread.start`, so the clock cannot move
        between the start and the thread's first step); the thread calls `adopt()` first."""
        with self._cv:
            self._running += 1

    def adopt(self) -> None:
        self._local.enlisted = True

    def retire(self) -> None:
        """The enlisted thread is done: it no longer holds the clock back."""
        with self._cv:
            self._local.enlisted = False
            self._running -= 1
            self._step()

    @contextmanager
    def taking_part(self) -> Iterator[None]:
        """The calling thread takes part for a while (the bench's driver between arrivals)."""
        self.enlist()
        self.adopt()
        try:
            yield
        finally:
            self.retire()

    # -- waiting ---------------------------------------------------------------------------------
    def sleep(self, seconds: float) -> None:
        """Block the calling thread for `seconds` of simulated time."""
        if seconds <= 0:
            return
        self.wait_until(self.now() + timedelta(seconds=seconds))

    def wait_until(
        self,
        moment: datetime | None,
        woken: Callable[[], bool] = lambda: False,
        on_sleep: Callable[[_Sleeper], None] | None = None,
    ) -> bool:
        """Block until simulated `moment` (None: no limit) or until `woken()` is true after a
        `wake`; returns `woken()`. `on_sleep` learns the sleeper (under the clock's lock) so
        that another thread can `wake` it."""
        temporary = not getattr(self._local, "enlisted", False)
        with self._cv:
            if woken():
                return True
            if temporary:
                self._running += 1
            sleeper = _Sleeper(moment)
            self._sleepers.append(sleeper)
            if on_sleep is not None:
                on_sleep(sleeper)
            self._running -= 1
            self._step()
            while not sleeper.woken:
                if not self._cv.wait(timeout=5):
                    self.stalls += 1
            if temporary:
                self._running -= 1
                self._step()
            return woken()

    def wake(self, find: Callable[[], _Sleeper | None]) -> None:
        """Release the thread blocked in `wait_until` that `find()` names (read under the
        clock's lock, so a thread just going to sleep is not missed)."""
        with self._cv:
            sleeper = find()
            if sleeper is not None and not sleeper.woken:
                self._wake(sleeper)
                self._sleepers = [s for s in self._sleepers if not s.woken]
                self._cv.notify_all()

    def _wake(self, sleeper: _Sleeper) -> None:
        sleeper.woken = True
        self._running += 1

    def _step(self) -> None:
        """Every enlisted thread is blocked: jump to the earliest wake-up (under the lock)."""
        while self._running <= 0:
            due = [s.wake_at for s in self._sleepers if s.wake_at is not None and not s.woken]
            if not due:
                return
            self._shift_to(min(due))


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
    """Wait until the run leaves RUNNING, then `describe_execution` it.

    moto runs an execution in a worker thread. This waits (in real time, briefly) for that
    thread, not for simulated time: the run's own waits are on the SimClock. The status is read
    from moto's backend while waiting: a `describe_execution` every 5 ms took a third of the
    simulation's time from the worker it waits for."""
    from moto.stepfunctions.responses import get_backend

    _, _, _, region, account, *_ = execution_arn.split(":")
    execution = get_backend(account, region).describe_execution(execution_arn)
    pause = threading.Event()
    deadline = timeout_s / 0.005
    polls = 0
    while execution.status == "RUNNING":
        polls += 1
        if polls > deadline:
            raise TimeoutError(f"{execution_arn} still RUNNING after {timeout_s} s of real time")
        pause.wait(0.005)
    described: dict[str, Any] = sfn_client.describe_execution(executionArn=execution_arn)
    return described


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
        self.copies_made: list[_Progress] = []
        """Every copy made while copies take time: its snapshot, start and length."""
        self._fail_next_copy = 0
        self.state_machine_credentials: dict[str, str] | None = None
        """Keys Step Functions calls Lambda with (boto3 client keyword arguments); None:
        moto's fake ones."""
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
        # A new moto world: the app's kept clients (and their credentials) belong to the last one
        forget_clients()
        self._stack.callback(forget_clients)
        patches: list[Any] = [
            mock.patch.object(LambdaSimpleBackend, "invoke", self._invoke_patch()),
            mock.patch.object(WaitFunction, "_wait_interval", self._wait_patch()),
            mock.patch.object(retrier_decl, "time", _ClockTime(self.clock)),
            mock.patch.object(ExecutionWorker, "start", _enlisted_start(self.clock)),
            mock.patch.object(ExecutionState, "_evaluate_with_timeout", _evaluate_inline),
            mock.patch.object(Program, "eval", _program_inline),
            mock.patch.object(ExecutionWorker, "_get_evaluation_entrypoint", _parsed_once()),
            mock.patch.object(ExecutionState, "_handle_catch", _catch_noted()),
            mock.patch.object(CommonStateField, "_set_next", _next_unless_caught()),
            mock.patch.object(
                lambda_eval_utils,
                "boto_client_for",
                _reused_clients(lambda: self.state_machine_credentials),
            ),
            mock.patch.object(BotocoreStubber, "process_request", _one_request_at_a_time()),
            mock.patch.object(CallbackEndpoint, "wait", _callback_wait(self.clock)),
            mock.patch.object(CallbackEndpoint, "notify", _callback_notify(self.clock)),
            mock.patch.object(CallbackEndpoint, "interrupt_all", _callback_interrupt(self.clock)),
            mock.patch.object(Timestamp, "_get_wait_seconds", _timestamp_wait_seconds()),
            mock.patch.object(RDSBackend, "get_snapshot", _get_snapshot_patch()),
            mock.patch.object(RDSBackend, "_validate_kms_key", _validate_kms_key_patch()),
            mock.patch.object(
                RDSBackend,
                "describe_db_snapshots",
                _describe_by_type(RDSBackend.describe_db_snapshots, "db"),
            ),
            mock.patch.object(
                RDSBackend,
                "describe_db_cluster_snapshots",
                _describe_by_type(RDSBackend.describe_db_cluster_snapshots, "cluster"),
            ),
            mock.patch.object(
                RDSBackend, "copy_db_snapshot", self._copy_patch(RDSBackend.copy_db_snapshot)
            ),
            mock.patch.object(
                RDSBackend,
                "copy_db_cluster_snapshot",
                self._copy_patch(RDSBackend.copy_db_cluster_snapshot),
            ),
            # after the copy patches: the limits wrap them (checked before a copy is made)
            RDS_LIMITS.installed(),
            *_rds_rule_patches(),
            *_tag_and_error_patches(),
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
            # A function with its own environment runs alone (os.environ is process-wide); the
            # simulation sets the one environment all its functions share once, so concurrent
            # runs are not serialised here (a handler may wait on the simulated clock).
            with _ENV_LOCK if variables else contextlib.nullcontext(), environment(variables):
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
            clock.sleep(max(0, wait_seconds))

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
                progress = _Progress(snapshot, self.clock.now(), base + size * per_gib, fail)
                self._progress.append(progress)
                self.copies_made.append(progress)
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
        self._clock.sleep(seconds)

    def __getattr__(self, name: str) -> Any:
        import time

        return getattr(time, name)


def _enlisted_start(clock: SimClock) -> Callable[[ExecutionWorker], None]:
    # moto runs each execution in a worker thread. Enlisting it with the clock lets many runs
    # wait at once on one simulated timeline (see SimClock); real Step Functions runs them side
    # by side in real time.
    def start(worker: ExecutionWorker) -> None:
        def logic() -> None:
            clock.adopt()
            try:
                worker._execution_logic()  # type: ignore[no-untyped-call]
            finally:
                clock.retire()

        clock.enlist()
        thread = threading.Thread(target=logic, daemon=True)
        TMP_THREADS.append(thread)
        thread.start()

    return start


def _catch_noted() -> Callable[..., None]:
    # A Catch may send a state back to itself (a wait that timed out asks again). moto takes a
    # next state equal to the current one for "not overridden" and goes on to the state's
    # `Next`. Real Step Functions follows the Catch ("Error handling in Step Functions": the
    # Catch's `Next` is the state to transition to, any state of the machine). Noted here, for
    # `_set_next` below.
    original = ExecutionState._handle_catch

    def handle_catch(self: ExecutionState, env: Any, failure_event: Any) -> None:
        original(self, env, failure_event)
        if env.stack and env.stack[-1] == CatchOutcome.Caught:
            env.sim_caught = True

    return handle_catch


def _next_unless_caught() -> Callable[..., None]:
    original = CommonStateField._set_next

    def set_next(self: CommonStateField, env: Any) -> None:
        if getattr(env, "sim_caught", False):
            env.sim_caught = False
            return
        original(self, env)

    return set_next


def _reused_clients(credentials: Callable[[], dict[str, str] | None]) -> Callable[..., Any]:
    # moto's Step Functions calls Lambda with fake keys ("ak"/"sk"). Real Step Functions calls
    # with the state machine's execution role ("Step Functions: IAM policies for integrated
    # services"): `credentials()` gives that role's keys when the simulation has them (with
    # permissions enforced, simulation/iam_enforcement.py).
    # Also for speed, no change of behaviour: moto makes a new boto3 client for every Lambda task
    # it runs (about 15 ms each, most of a simulated run's real time); the clients are alike
    # (same credentials, region and config): reuse one per region.
    original = getattr(lambda_eval_utils, "boto_client_for")  # noqa: B009 - not re-exported
    made: dict[tuple[str, str, str], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # (moto's own ignores `state_credentials`: every client has the same fake keys)
        keys = credentials()
        key = (region, service, keys["aws_access_key_id"] if keys else "")
        with lock:
            if key not in made:
                if keys:
                    make: Any = boto3.client  # (keyword arguments the stubs can't follow)
                    made[key] = make(
                        service,
                        region_name=region,
                        config=BotoConfig(
                            parameter_validation=False,
                            retries={"max_attempts": 0, "total_max_attempts": 1},
                        ),
                        **keys,
                    )
                else:
                    made[key] = original(region, service)
            return made[key]

    return boto_client_for


def _parsed_once() -> Callable[[ExecutionWorker], Any]:
    # Speed only, no change of behaviour: moto parses the definition (ANTLR, in Python) again
    # for every execution, a seventh of a simulated run's real time. The parsed program keeps
    # no run's data (each run's is in its own environment), so one per definition serves all.
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    parsed: dict[str, Any] = {}
    lock = threading.Lock()

    def entrypoint(worker: ExecutionWorker) -> Any:
        definition = worker._evaluation_details.state_machine_details.definition
        with lock:
            if definition not in parsed:
                parsed[definition] = AmazonStateLanguageParser.parse(definition)[0]
            return parsed[definition]

    return entrypoint


def _program_inline(self: Program, env: Any) -> None:
    # moto runs the program in yet another thread, joined for the state machine's TimeoutSeconds
    # of real time; here it runs in the execution's thread (this app sets no TimeoutSeconds).
    env.next_state_name = self.start_at.start_at_name
    EvalComponent.eval(self, env)


def _evaluate_inline(self: ExecutionState, env: Any) -> None:
    # moto evaluates every Task in a second thread and waits for it `TimeoutSeconds` of *real*
    # time. Here the Task is evaluated in the execution's own thread (one thread per run, which
    # the clock can account for); a task token's timeout is enforced on the simulated clock by
    # the callback wait below, as Step Functions enforces it in time.
    self.timeout.eval(env=env)
    env.stack.pop()
    frame = env.open_frame()
    frame.states.reset(input_value=env.states.get_input())
    frame.stack = copy.deepcopy(env.stack)
    try:
        self._eval_execution(frame)
        output = frame.stack.pop()
    finally:
        frame.set_ended()
        env.close_frame(frame)
    env.stack.append(output)
    if not self._is_language_query_jsonpath():
        env.states.set_result(output)
    if self.assign_decl:
        self.assign_decl.eval(env=env)
    if self.result_selector:
        self.result_selector.eval(env=env)
    if self.result_path:
        self.result_path.eval(env)
    else:
        env.states.reset(input_value=env.stack.pop())


def _callback_wait(clock: SimClock) -> Callable[..., Any]:
    # A `.waitForTaskToken` task waits for SendTaskSuccess/Failure up to its TimeoutSeconds, on
    # the simulated clock. Real Step Functions then fails the task with States.Timeout, and a
    # later SendTaskSuccess with that token is refused (TaskTimedOut).
    def wait(endpoint: CallbackEndpoint, timeout: float | None = None) -> Any:
        moment = None if timeout is None else clock.now() + timedelta(seconds=timeout)
        notified = endpoint._notify_event.is_set

        def remember(sleeper: _Sleeper) -> None:
            endpoint._sim_waiter = sleeper  # type: ignore[attr-defined]

        if not clock.wait_until(moment, notified, on_sleep=remember):
            endpoint.report(CallbackConsumerTimeout())
            raise EvalTimeoutError()
        return endpoint.get_outcome()

    return wait


def _callback_notify(clock: SimClock) -> Callable[..., None]:
    original = CallbackEndpoint.notify

    def notify(endpoint: CallbackEndpoint, outcome: Any) -> None:
        original(endpoint, outcome)
        _wake_waiter(endpoint, clock)

    return notify


def _callback_interrupt(clock: SimClock) -> Callable[..., None]:
    original = CallbackEndpoint.interrupt_all

    def interrupt_all(endpoint: CallbackEndpoint) -> None:
        original(endpoint)
        _wake_waiter(endpoint, clock)

    return interrupt_all


def _wake_waiter(endpoint: CallbackEndpoint, clock: SimClock) -> None:
    clock.wake(lambda: getattr(endpoint, "_sim_waiter", None))


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


def _describe_by_type(original: Callable[..., Any], kind: str) -> Callable[..., Any]:
    # moto describes a snapshot by identifier as one of the types `automated` or `manual`
    # whatever was asked. Real RDS (API reference, DescribeDBSnapshots and
    # DescribeDBClusterSnapshots, DBSnapshotIdentifier / DBClusterSnapshotIdentifier): "If this
    # identifier is for an automated snapshot, the SnapshotType parameter must also be
    # specified"; without a SnapshotType "both automated and manual snapshots are returned",
    # so by identifier without a type only a manual snapshot is found, and an AWS Backup DB
    # snapshot (type `awsbackup`) only with SnapshotType=awsbackup. For DB cluster snapshots the
    # types are automated, manual, shared and public: "The awsbackup type does not apply to
    # Aurora" (DescribeDBSnapshots, SnapshotType), so a cluster snapshot asked for as
    # `awsbackup` is not found. Anything not found by identifier is DBSnapshotNotFound /
    # DBClusterSnapshotNotFoundFault, as moto answers already.
    signature = inspect.signature(original)
    identifier = "db_snapshot_identifier"
    owner = "db_cluster_identifier" if kind == "cluster" else "db_instance_identifier"

    def describe(backend: RDSBackend, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(backend, *args, **kwargs)
        bound.apply_defaults()
        arguments = bound.arguments
        filters = arguments.get("filters")
        by_identifier = arguments.get(identifier) and not arguments.get(owner)
        if by_identifier and not (filters and "snapshot-type" in filters):
            snapshot_type = arguments.get("snapshot_type")
            if snapshot_type is None:
                arguments["snapshot_type"] = "manual"
            elif kind == "cluster" and snapshot_type == "awsbackup":
                from moto.rds.exceptions import DBClusterSnapshotNotFoundError

                raise DBClusterSnapshotNotFoundError(arguments[identifier])
        return original(*bound.args, **bound.kwargs)

    return describe


# --- RDS: encryption and sharing rules --------------------------------------------------------------
def _sticky(engine: str, option: str) -> tuple[bool, bool]:
    """(persistent, permanent) of an option, from the table of permanent and persistent options
    in the RDS User Guide, "Sharing a DB snapshot": TDE on SQL Server is persistent; TDE on
    Oracle, Timezone and OLS are persistent and permanent. Every other option is neither."""
    if option == "TDE" and engine.startswith("sqlserver"):
        return True, False
    if option in ("TDE", "Timezone", "OLS") and engine.startswith("oracle"):
        return True, True
    return False, False


def _options_with_flags() -> Any:
    # moto's DescribeOptionGroups gives each option its name and settings only. Real RDS also
    # says whether it is `Persistent` and `Permanent` (API reference, Option).
    declared: Any = OptionGroup.__dict__["options"]  # the property itself
    original = declared.fget

    def options(group: OptionGroup) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = original(group)
        flagged = []
        for option in listed:
            persistent, permanent = _sticky(group.engine_name, option["OptionName"])
            flagged.append({**option, "Persistent": persistent, "Permanent": permanent})
        return flagged

    return property(options)


def _snapshot_option_group() -> Any:
    # moto's DBSnapshot has no OptionGroupName. Real RDS reports the option group the snapshot
    # was taken with (API reference, DBSnapshot: "Provides the option group name for the DB
    # snapshot"); a copy keeps it.
    return property(lambda snapshot: snapshot.database.option_group_name)


def _unshareable_options(backend: RDSBackend, snapshot: Any) -> list[str]:
    """The options that stop RDS sharing this DB snapshot."""
    group = backend.option_groups.get(snapshot.database.option_group_name)
    if group is None:
        return []
    engine = str(group.engine_name)
    return [
        option["OptionName"]
        for option in group.options
        if (option["Persistent"] or option["Permanent"])
        and not (engine.startswith("oracle") and option["OptionName"] in ("Timezone", "OLS"))
    ]


def _refuse_unshareable(inner: Callable[..., Any]) -> Callable[..., Any]:
    # moto shares any DB snapshot. Real RDS (User Guide, "Sharing a DB snapshot"): "You can't
    # share a DB snapshot that uses an option group with permanent or persistent options, except
    # for Oracle DB instances that have the Timezone or OLS option (or both)", and Oracle or SQL
    # Server snapshots encrypted with TDE (a persistent option) can't be shared. RDS refuses with
    # InvalidParameterValue (the code sharing tools catch for it, e.g. base2Services/
    # shelvery-aws-backups, "Catch error when an RDS snapshot cannot be shared").
    from moto.rds.exceptions import RDSClientError

    def modify(backend: RDSBackend, *args: Any, **kwargs: Any) -> Any:
        identifier = str(_argument(args, kwargs, 0, "db_snapshot_identifier") or "").lower()
        if _argument(args, kwargs, 2, "values_to_add"):
            for snapshot in _snapshots_of(backend, "db"):
                sticky = _unshareable_options(backend, snapshot)
                if snapshot.db_snapshot_identifier == identifier and sticky:
                    raise RDSClientError(
                        "InvalidParameterValue",
                        f"The snapshot {identifier} cannot be shared: its option group "
                        f"{snapshot.database.option_group_name} has permanent or persistent "
                        f"options ({', '.join(sticky)})",
                    )
        return inner(backend, *args, **kwargs)

    return modify


def _refuse_key_for_unencrypted_cluster(inner: Callable[..., Any]) -> Callable[..., Any]:
    # moto copies an unencrypted cluster snapshot with a KmsKeyId into an encrypted one (and marks
    # the source cluster encrypted). Real RDS (API reference, CopyDBClusterSnapshot, KmsKeyId):
    # "If you copy an unencrypted DB cluster snapshot and specify a value for the KmsKeyId
    # parameter, an error is returned." The reference names no code; RDS's code for a parameter
    # it refuses is InvalidParameterValue. (CopyDBSnapshot, by contrast: "If you specify this
    # parameter when you copy an unencrypted snapshot, the copy is encrypted", as moto does.)
    from moto.rds.exceptions import RDSClientError

    def copy(backend: RDSBackend, *args: Any, **kwargs: Any) -> Any:
        if _argument(args, kwargs, 2, "kms_key_id"):
            source_id = _argument(args, kwargs, 0, "source_db_cluster_snapshot_identifier")
            try:
                source = backend.get_db_cluster_snapshot(source_id)
            except RDSClientError:
                return inner(backend, *args, **kwargs)  # (not found: moto answers that)
            if not source.encrypted:
                raise RDSClientError(
                    "InvalidParameterValue",
                    f"The DB cluster snapshot {source_id} is not encrypted: a copy of it cannot "
                    "be encrypted, so KmsKeyId must not be given",
                )
        return inner(backend, *args, **kwargs)

    return copy


def _recording_the_source(attribute: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    # moto leaves a copy's source unrecorded. RDS records it for a cross-account or
    # cross-Region copy, and never changes it (API reference, DBSnapshot:
    # "SourceDBSnapshotIdentifier - The DB snapshot ARN that the DB snapshot was copied from. It
    # only has a value in the case of a cross-account or cross-Region copy"; DBClusterSnapshot:
    # "SourceDBClusterSnapshotArn - If the DB cluster snapshot was copied from a source DB
    # cluster snapshot, the ARN for the source DB cluster snapshot, otherwise, a null value").
    def wrap(inner: Callable[..., Any]) -> Callable[..., Any]:
        parameter = (
            "source_db_cluster_snapshot_identifier"
            if attribute == "source_db_cluster_snapshot_arn"
            else "source_db_snapshot_identifier"
        )

        def copy(backend: RDSBackend, *args: Any, **kwargs: Any) -> Any:
            snapshot = inner(backend, *args, **kwargs)
            source = str(kwargs[parameter] if parameter in kwargs else args[0])
            here = (backend.region_name, backend.account_id)
            elsewhere = source.startswith("arn:") and split_arn(source)[:2] != here
            if attribute == "source_db_cluster_snapshot_arn" and not source.startswith("arn:"):
                region, account = here
                source = f"arn:aws:rds:{region}:{account}:cluster-snapshot:{source}"
                elsewhere = True
            if elsewhere:
                setattr(snapshot, attribute, source)
            return snapshot

        return copy

    return wrap


def _rds_rule_patches() -> list[Any]:
    """Entered after the copy patches and the limits: these checks come first."""
    return [
        mock.patch.object(OptionGroup, "options", _options_with_flags()),
        mock.patch.object(DBSnapshot, "option_group_name", _snapshot_option_group(), create=True),
        _wrapping(RDSBackend, "modify_db_snapshot_attribute", _refuse_unshareable),
        _wrapping(RDSBackend, "copy_db_cluster_snapshot", _refuse_key_for_unencrypted_cluster),
        _wrapping(
            RDSBackend, "copy_db_snapshot", _recording_the_source("source_db_snapshot_identifier")
        ),
        _wrapping(
            RDSBackend,
            "copy_db_cluster_snapshot",
            _recording_the_source("source_db_cluster_snapshot_arn"),
        ),
    ]


# --- RDS: limits on snapshots ------------------------------------------------------------------------
_COPIES_IN_PROGRESS_LIMIT = 20
"""RDS User Guide, "Copying a DB snapshot", Limitations: "You can have up to 20 snapshot copy
requests in progress to a single destination Region per account"."""
_MANUAL_SNAPSHOT_QUOTA = 100
"""RDS User Guide, "Quotas in Amazon RDS": Manual DB instance snapshots, 100 per Region;
Manual DB cluster snapshots, 100 per Region (both adjustable in Service Quotas)."""
_IN_PROGRESS = frozenset({"pending", "creating", "copying"})
"""Statuses of a snapshot copy not finished yet (DB snapshots: `creating`; cluster: `copying`)."""


class RdsSnapshotLimits:
    """RDS's limits on snapshots, which moto 5.2.5 does not enforce, and what they refused.

    One for the process, `RDS_LIMITS`, as moto's backends are one for the process; reset each
    time `MotoPatches` is entered. A test or the bench sets `copies_in_progress_limit` and
    `set_manual_snapshot_quota(account, db=..., cluster=...)`, and reads `rejected_copies`
    (copies refused for too many in progress) and `rejected_for_quota` (copies and snapshots
    refused for a full manual snapshot quota)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        """Held over check-and-create: many executions copy at once, each in its own thread."""
        self.copies_in_progress_limit = _COPIES_IN_PROGRESS_LIMIT
        self.rejected_copies = 0
        self.rejected_for_quota = 0
        self._quotas: dict[str, dict[str, int]] = {}

    def reset(self) -> None:
        with self.lock:
            self.copies_in_progress_limit = _COPIES_IN_PROGRESS_LIMIT
            self.rejected_copies = 0
            self.rejected_for_quota = 0
            self._quotas.clear()

    def set_manual_snapshot_quota(
        self, account: str, db: int = _MANUAL_SNAPSHOT_QUOTA, cluster: int = _MANUAL_SNAPSHOT_QUOTA
    ) -> None:
        """The account's quotas of manual DB snapshots and manual DB cluster snapshots (each
        region of the account)."""
        with self.lock:
            self._quotas[account] = {"db": db, "cluster": cluster}

    def manual_snapshot_quota(self, account: str, kind: str) -> int:
        return self._quotas.get(account, {}).get(kind, _MANUAL_SNAPSHOT_QUOTA)

    @contextmanager
    def installed(self) -> Iterator[RdsSnapshotLimits]:
        """Enforce the limits for the duration (an entry of `MotoPatches.__enter__`)."""
        self.reset()
        with ExitStack() as stack:
            for patch in _rds_limit_patches(self):
                stack.enter_context(patch)
            try:
                yield self
            finally:
                self.reset()


RDS_LIMITS = RdsSnapshotLimits()


def _argument(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str) -> Any:
    """A backend method's argument, given by keyword (moto's responses) or by position."""
    return kwargs[name] if name in kwargs else (args[index] if len(args) > index else None)


def _snapshots_of(backend: RDSBackend, kind: str) -> list[Any]:
    # list() of a dict's values is one step under the GIL: safe while other threads add.
    found = backend.cluster_snapshots if kind == "cluster" else backend.database_snapshots
    return list(found.values())


def _existing_ids(backend: RDSBackend, kind: str) -> list[str]:
    found = backend.cluster_snapshots if kind == "cluster" else backend.database_snapshots
    return list(found)


def _manual_snapshots(backend: RDSBackend, kind: str) -> int:
    """Manual snapshots of the kind in the backend's account and region: type `manual`, which
    copies are; not `automated` (RDS's own backups) nor `awsbackup` (AWS Backup's)."""
    return sum(1 for s in _snapshots_of(backend, kind) if s.snapshot_type == "manual")


def _copies_in_progress(backend: RDSBackend) -> int:
    """Copies not finished in the backend's account and region, DB and cluster snapshots alike.
    (moto makes every other snapshot `available` at once: only copies are ever in progress.)"""
    snapshots = [*_snapshots_of(backend, "db"), *_snapshots_of(backend, "cluster")]
    return sum(1 for s in snapshots if s.status in _IN_PROGRESS)


def _check_manual_quota(limits: RdsSnapshotLimits, backend: RDSBackend, kind: str) -> None:
    from moto.rds.exceptions import RDSClientError

    quota = limits.manual_snapshot_quota(backend.account_id, kind)
    if _manual_snapshots(backend, kind) + 1 > quota:
        limits.rejected_for_quota += 1
        raise RDSClientError(
            "SnapshotQuotaExceeded", f"Cannot create more than {quota} manual snapshots"
        )


def _limited_copy(
    limits: RdsSnapshotLimits, kind: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    # moto copies any number of snapshots at once, into any number of manual snapshots. Real RDS
    # answers SnapshotQuotaExceeded (one code, two conditions) when
    # (1) the copy would exceed the account's manual snapshot quota (a copy is a manual
    #     snapshot): "Cannot create more than 100 manual snapshots"; it does not clear by itself;
    # (2) 20 snapshot copies are already in progress into this account and region (RDS User
    #     Guide, "Copying a DB snapshot"): "Cannot copy more than 20 snapshots at a time ..."
    #     (older, cross-region: "Cannot copy more than 5 snapshots across regions"); it clears
    #     as copies finish.
    # Checked before the copy is made, under one lock with the making, so that concurrent copies
    # cannot both take the last place. Composes with whatever copy patch is installed before it
    # (MotoPatches._copy_patch: the copy then starts `creating`/`copying`).
    target = (
        "target_db_cluster_snapshot_identifier"
        if kind == "cluster"
        else "target_db_snapshot_identifier"
    )

    def wrap(inner: Callable[..., Any]) -> Callable[..., Any]:
        from moto.rds.exceptions import RDSClientError

        def copy(backend: RDSBackend, *args: Any, **kwargs: Any) -> Any:
            with limits.lock:
                if _argument(args, kwargs, 1, target) not in _existing_ids(backend, kind):
                    # (a copy onto an existing name is refused as AlreadyExists first)
                    _check_manual_quota(limits, backend, kind)
                    limit = limits.copies_in_progress_limit
                    if _copies_in_progress(backend) >= limit:
                        limits.rejected_copies += 1
                        raise RDSClientError(
                            "SnapshotQuotaExceeded",
                            f"Cannot copy more than {limit} snapshots at a time in this account "
                            "and region; wait for copies in progress to complete",
                        )
                return inner(backend, *args, **kwargs)

        return copy

    return wrap


def _limited_create(
    limits: RdsSnapshotLimits, kind: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    # moto makes manual snapshots without end (up to MOTO_RDS_SNAPSHOT_LIMIT, 1000, counting
    # every type). Real RDS refuses CreateDBSnapshot / CreateDBClusterSnapshot beyond the
    # account's manual snapshot quota ("Quotas in Amazon RDS": Manual DB instance snapshots,
    # Manual DB cluster snapshots; 100 by default) with SnapshotQuotaExceeded "Cannot create
    # more than 100 manual snapshots". Automated and AWS Backup snapshots do not count.
    identifier = "db_cluster_snapshot_identifier" if kind == "cluster" else "db_snapshot_identifier"

    def wrap(inner: Callable[..., Any]) -> Callable[..., Any]:
        def create(backend: RDSBackend, *args: Any, **kwargs: Any) -> Any:
            snapshot_type = _argument(args, kwargs, 2, "snapshot_type") or "manual"
            if snapshot_type != "manual":
                return inner(backend, *args, **kwargs)
            with limits.lock:
                if _argument(args, kwargs, 1, identifier) not in _existing_ids(backend, kind):
                    _check_manual_quota(limits, backend, kind)
                return inner(backend, *args, **kwargs)

        return create

    return wrap


def _describe_account_attributes(limits: RdsSnapshotLimits) -> Callable[[Any], Any]:
    # moto 5.2.5 does not implement RDS DescribeAccountAttributes. Real RDS returns the account's
    # quotas in the region as AccountQuotas, each {AccountQuotaName, Used, Max} (API reference:
    # DescribeAccountAttributes; AccountQuota), among them `ManualSnapshots` ("the number of
    # manual DB instance snapshots per account; the used value is the count of the manual DB
    # instance snapshots in the account") and `ManualClusterSnapshots` (likewise for DB cluster
    # snapshots). Only these two are answered here.
    from moto.core.responses import ActionResult

    def describe_account_attributes(response: Any) -> Any:
        backend: RDSBackend = response.backend
        quotas = [
            {
                "AccountQuotaName": name,
                "Used": _manual_snapshots(backend, kind),
                "Max": limits.manual_snapshot_quota(backend.account_id, kind),
            }
            for name, kind in (("ManualSnapshots", "db"), ("ManualClusterSnapshots", "cluster"))
        ]
        return ActionResult({"AccountQuotas": quotas})

    return describe_account_attributes


@contextmanager
def _wrapping(
    owner: Any, name: str, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]
) -> Iterator[None]:
    """Patch `owner.name` with `wrap(what is installed when entered)`: composes with a patch of
    the same method entered before this one."""
    with mock.patch.object(owner, name, wrap(getattr(owner, name))):
        yield


def _rds_limit_patches(limits: RdsSnapshotLimits) -> list[Any]:
    from moto.rds.responses import RDSResponse

    return [
        _wrapping(RDSBackend, "copy_db_snapshot", _limited_copy(limits, "db")),
        _wrapping(RDSBackend, "copy_db_cluster_snapshot", _limited_copy(limits, "cluster")),
        _wrapping(RDSBackend, "create_db_snapshot", _limited_create(limits, "db")),
        _wrapping(RDSBackend, "create_db_cluster_snapshot", _limited_create(limits, "cluster")),
        mock.patch.object(
            RDSResponse,
            "describe_account_attributes",
            _describe_account_attributes(limits),
            create=True,
        ),
    ]


# --- RDS: tags; Step Functions: errors no Catch handles -------------------------------------------
_TAG_KEY_MAX, _TAG_VALUE_MAX = 128, 256
_TAG_TEXT = re.compile(r"^[\w\s.:/=+\-@]*$")
r"""RDS API reference, `Tag`: a key "from 1 to 128 Unicode characters", a value "from 1 to 256
Unicode characters"; both "can only contain only the set of Unicode letters, digits,
white-space, '_', '.', ':', '/', '=', '+', '-', '@'" (Java regex
`^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`, which Python's Unicode `\w` and `\s` stand in for)."""


def _tag_problem(tag: dict[str, Any]) -> str | None:
    key, value = str(tag.get("Key", "")), str(tag.get("Value", ""))
    if not 1 <= len(key) <= _TAG_KEY_MAX:
        return f"tag key {key[:40]!r}...: length {len(key)}, must be 1 to {_TAG_KEY_MAX}"
    if len(value) > _TAG_VALUE_MAX:
        return f"value of tag {key!r}: length {len(value)}, at most {_TAG_VALUE_MAX}"
    if not (_TAG_TEXT.match(key) and _TAG_TEXT.match(value)):
        return f"tag {key!r}: only letters, digits, white space and _ . : / = + - @ are allowed"
    return None


def _checked_tags() -> Any:
    # moto keeps any tag on any RDS resource. Real RDS refuses a key over 128 characters, a
    # value over 256, or other characters than those listed (API reference, `Tag`), on every
    # call that sets tags (CreateDBSnapshot, CopyDBSnapshot, CopyDBClusterSnapshot,
    # AddTagsToResource, ...), with InvalidParameterValue (the code RDS gives for a tag value it
    # refuses: "Tag values may only contain unicode letters, digits, whitespace, or one of these
    # symbols", reported in cloud-custodian/cloud-custodian#2115). Every moto RDS resource sets
    # its tags through `TaggingMixin.tags`: checked there, before the resource is stored.
    from moto.rds.exceptions import RDSClientError
    from moto.rds.models import TaggingMixin

    original = vars(TaggingMixin)["tags"]
    assert isinstance(original, property)
    assert original.fset is not None
    setter = original.fset

    def set_tags(resource: Any, value: list[dict[str, Any]] | None) -> None:
        for tag in value or []:
            problem = _tag_problem(tag)
            if problem is not None:
                raise RDSClientError("InvalidParameterValue", f"Invalid tag: {problem}")
        setter(resource, value)

    return property(original.fget, set_tags)


def _uncatchable_errors() -> Callable[..., None]:
    # moto's `States.ALL` matches every error. Real Step Functions ("Error handling in Step
    # Functions", States.ALL): it "can't catch the States.DataLimitExceeded terminal error or
    # Runtime error types"; a run that meets one ends FAILED without its Catch.
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import (
        ErrorEqualsDecl,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )

    original = ErrorEqualsDecl._eval_body
    terminal = (
        StatesErrorNameType.StatesRuntime,
        StatesErrorNameType.StatesStatesDataLimitExceeded,
    )

    def eval_body(decl: Any, env: Any) -> None:
        error_name = env.stack[-1]
        original(decl, env)
        if isinstance(error_name, StatesErrorName) and error_name.typ in terminal:
            # Only a Catch or Retry naming the error itself (States.ALL stands alone).
            env.stack[-1] = error_name in decl.error_names

    return eval_body


def _tag_and_error_patches() -> list[Any]:
    from moto.rds.models import TaggingMixin
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import (
        ErrorEqualsDecl,
    )

    return [
        mock.patch.object(TaggingMixin, "tags", _checked_tags()),
        mock.patch.object(ErrorEqualsDecl, "_eval_body", _uncatchable_errors()),
    ]


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
