"""Step Functions: moto's interpreter (its port of LocalStack's) runs the real ASL; these patches
put its waits on the simulated clock, run each execution in one thread the clock can account
for, and make it follow Step Functions where it does not (a Catch back to the same state, errors
`States.ALL` cannot catch, Timestamp waits in UTC, the execution role's credentials).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import boto3
from botocore.config import Config as BotoConfig
from jsonpath_ng.ext.parser import parse as jsonpath_ext_parse
from jsonpath_ng.parser import parse as jsonpath_parse
from moto.stepfunctions.parser.asl.component.common.catch.catch_outcome import CatchOutcome
from moto.stepfunctions.parser.asl.component.common.path import result_path
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
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import json_path
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.utils import TMP_THREADS

from simulation.moto.clock import SimClock, Sleeper


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


def _wait_on_clock(clock: SimClock) -> Callable[..., None]:
    # moto's Wait state blocks the worker thread for the real number of seconds. Real Step
    # Functions waits that long too; here the simulated clock jumps ahead instead.
    def wait_interval(function: WaitFunction, env: Any, wait_seconds: int) -> None:
        clock.sleep(max(0, wait_seconds))

    return wait_interval


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
            # The run's execution role, for the clients its Lambda tasks call with
            _RUN.role_arn = worker._evaluation_details.aws_execution_details.role_arn
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


_RUN = threading.local()
"""What the execution running in this thread is (`role_arn`: its execution role)."""


def _reused_clients(
    credentials: Callable[[str | None], dict[str, str] | None],
) -> Callable[..., Any]:
    # moto's Step Functions calls Lambda with fake keys ("ak"/"sk"). Real Step Functions calls
    # with the state machine's execution role ("Step Functions: IAM policies for integrated
    # services"): `credentials(role ARN)` gives that role's keys when the simulation has them
    # (with permissions enforced, simulation/iam/), for the run of this thread's machine.
    # Also for speed, no change of behaviour: moto makes a new boto3 client for every Lambda task
    # it runs (about 15 ms each, most of a simulated run's real time); the clients are alike
    # (same credentials, region and config): reuse one per region.
    original = getattr(lambda_eval_utils, "boto_client_for")  # noqa: B009 - not re-exported
    made: dict[tuple[str, str, str], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # (moto's own ignores `state_credentials`: every client has the same fake keys)
        keys = credentials(getattr(_RUN, "role_arn", None))
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


_PARSED: dict[str, Any] = {}
_PARSED_LOCK = threading.Lock()


def _parsed_once() -> Any:
    # Speed only, no change of behaviour: moto parses the definition (ANTLR, in Python) when the
    # state machine is created and again for every execution, a seventh of a simulated run's
    # real time. The parsed program keeps no run's data (each run's is in its own environment),
    # so one per definition serves every run of every simulation in the process. A definition
    # that does not parse is parsed (and refused) each time.
    original = AmazonStateLanguageParser.parse

    def parse(definition: str) -> Any:
        with _PARSED_LOCK:
            if definition not in _PARSED:
                _PARSED[definition] = original(definition)
            return _PARSED[definition]

    return staticmethod(parse)


def _json_paths_parsed_once(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    # Speed only, no change of behaviour: moto parses a state's JSONPath (`ResultPath`,
    # `InputPath`, `OutputPath`, a parameter's `.$`) with jsonpath-ng for every evaluation, a
    # twentieth of a run's real time. A parsed path keeps nothing of the data it is applied to,
    # so one per path serves every evaluation; a path that does not parse fails each time.
    parsed: dict[str, Any] = {}

    def parse_once(path: str) -> Any:
        if path not in parsed:
            parsed[path] = parse(path)
        return parsed[path]

    return parse_once


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

        def remember(sleeper: Sleeper) -> None:
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


_JSON_PATHS = _json_paths_parsed_once(jsonpath_ext_parse)  # what moto's json_path imports
_RESULT_PATHS = _json_paths_parsed_once(jsonpath_parse)  # what moto's result_path imports


def patches(
    clock: SimClock, credentials: Callable[[str | None], dict[str, str] | None]
) -> list[Any]:
    """Every Step Functions patch; `credentials(execution role ARN)`: the keys Step Functions
    calls Lambda with for a run (None: moto's fake ones)."""
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import (
        ErrorEqualsDecl,
    )

    return [
        mock.patch.object(WaitFunction, "_wait_interval", _wait_on_clock(clock)),
        mock.patch.object(retrier_decl, "time", _ClockTime(clock)),
        mock.patch.object(ExecutionWorker, "start", _enlisted_start(clock)),
        mock.patch.object(ExecutionState, "_evaluate_with_timeout", _evaluate_inline),
        mock.patch.object(Program, "eval", _program_inline),
        mock.patch.object(AmazonStateLanguageParser, "parse", _parsed_once()),
        mock.patch.object(json_path, "parse", _JSON_PATHS),
        mock.patch.object(result_path, "parse", _RESULT_PATHS),
        mock.patch.object(ExecutionState, "_handle_catch", _catch_noted()),
        mock.patch.object(CommonStateField, "_set_next", _next_unless_caught()),
        mock.patch.object(lambda_eval_utils, "boto_client_for", _reused_clients(credentials)),
        mock.patch.object(CallbackEndpoint, "wait", _callback_wait(clock)),
        mock.patch.object(CallbackEndpoint, "notify", _callback_notify(clock)),
        mock.patch.object(CallbackEndpoint, "interrupt_all", _callback_interrupt(clock)),
        mock.patch.object(Timestamp, "_get_wait_seconds", _timestamp_wait_seconds()),
        mock.patch.object(ErrorEqualsDecl, "_eval_body", _uncatchable_errors()),
    ]


__all__ = ["patches", "wait_for_execution"]
