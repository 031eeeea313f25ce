"""`MotoPatches`: every patch of `simulation.moto`, installed on enter and removed on exit.

Each patch says what real AWS does. Product code is never bent to fit moto: if a patch is
wrong, the tests are wrong, not the app. Written against the moto that requirements-dev.txt
pins; `simulation.guard` refuses any other at import (tests/unit/test_moto_patches.py shows
each patch at work, simulation/README.md lists them).
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from moto.core.config import DefaultConfig
from moto.core.models import DEFAULT_ACCOUNT_ID

from rds_xacct.aws.clients import forget_clients
from simulation.moto import (
    backup,
    cloudwatch,
    cloudwatch_alarms,
    core,
    emf,
    function_urls,
    history,
    kms,
    lambda_,
    rds,
    rds_encryption,
    recovery_points,
    sfn,
    stacksets,
)
from simulation.moto.clock import SimClock
from simulation.moto.dynamodb import patches as dynamodb_patches
from simulation.moto.lambda_ import (
    LambdaHandler,
    Routes,
    environment,
    environments_per_invocation,
    own_environment,
)
from simulation.moto.memory import patches as memory_patches
from simulation.moto.rds_copies import RDS_LIMITS, CopyMade, CopyProgress

MOTO_CONFIG: DefaultConfig = {
    # Step Functions runs the real ASL (moto's port of the LocalStack interpreter), and Lambda
    # runs without Docker: invocations are routed to the handlers in-process.
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}


class MotoPatches:
    """Installs every patch on enter and removes them on exit."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self._stack = ExitStack()
        self._routes: Routes = {}
        self._copies = CopyProgress(clock)
        self.state_machine_credentials: dict[str, str] | None = None
        """Keys Step Functions calls Lambda with (boto3 client keyword arguments); None:
        moto's fake ones."""
        self.execution_role_credentials: dict[str, dict[str, str]] = {}
        """Keys of other state machines' execution roles, by role ARN (state machines of
        several accounts): a run of such a machine calls Lambda with them."""
        self.states_entered: dict[str, list[str]] | None = None
        """None: every run's history is kept, as Step Functions keeps it. A dict: a run's
        history is forgotten when it ends, and the names of the states it entered kept here by
        execution ARN (a window of many runs: `Simulation.deliver_window`)."""
        self.function_logs = emf.FunctionLogs()
        """Where the functions' EMF lines go, and the lines CloudWatch Logs would reject."""
        self.timing_out: set[str] = set()
        """Runs stopped as their time limit would stop them: their end counts as
        `ExecutionsTimedOut` (moto can only abort)."""

    # -- public ----------------------------------------------------------------------------------
    def route_lambda(
        self,
        function_name: str,
        handler: LambdaHandler,
        environment: dict[str, str] | None = None,
        *,
        account: str = DEFAULT_ACCOUNT_ID,
        own_environment: dict[str, str] | None = None,
    ) -> None:
        """Invocations of this function of `account` (by name or ARN) call `handler`
        in-process with `os.environ` extended by `environment`, and, with
        `environments_per_invocation`, by `own_environment` for its calls alone."""
        self._routes[(account, function_name)] = (handler, environment, own_environment)

    def environment(self, variables: dict[str, str] | None) -> Any:
        return environment(variables)

    def environments_per_invocation(self) -> Any:
        """Each invocation may see variables of its own (`own_environment`)."""
        return environments_per_invocation()

    def own_environment(self, variables: dict[str, str] | None) -> Any:
        """The calling thread's invocation sees `variables` over the process's environment."""
        return own_environment(variables)

    def _execution_credentials(self, role_arn: str | None) -> dict[str, str] | None:
        if role_arn is not None and role_arn in self.execution_role_credentials:
            return self.execution_role_credentials[role_arn]
        return self.state_machine_credentials

    def invocation(self, function_name: str, account: str, region: str) -> Any:
        """A context in which the calling thread runs one invocation of a function it calls
        directly, as a schedule or EventBridge would invoke it (`emf.invocation`)."""
        return emf.invocation(function_name, account, region, self.function_logs)

    def simulate_copy_progress(
        self, minutes_per_gib: float = 1.0, base_minutes: float = 3.0
    ) -> None:
        """From now on, copies start `creating` at 0 % and become `available` after
        `base_minutes + size_gib * minutes_per_gib` simulated minutes, progress rising linearly
        as the clock advances."""
        self._copies.simulate(minutes_per_gib, base_minutes)

    def fail_next_copy(self, count: int = 1) -> None:
        """The next `count` copies end in status `failed` instead of `available`."""
        self._copies.fail_next(count)

    @property
    def copies_made(self) -> list[CopyMade]:
        """Every copy made while copies take time: its snapshot, start and length."""
        return self._copies.copies_made

    def __enter__(self) -> MotoPatches:
        # A new moto world: the app's kept clients (and their credentials) belong to the last one
        forget_clients()
        self._stack.callback(forget_clients)
        self._stack.enter_context(emf.captured())
        self.clock.on_advance(cloudwatch.SqsSampler(self.clock.now()))
        patches: list[Any] = [
            *lambda_.patches(self._routes, self.function_logs),
            function_urls.serving(),
            *sfn.patches(self.clock, self._execution_credentials),
            *core.patches(),
            *kms.patches(),
            *rds.patches(),
            *backup.patches(),
            # RDS's copy calls, innermost first: copies take time, the limits wrap them (checked
            # before a copy is made), and the rules wrap both (checked first of all), those on
            # encrypted sources outermost
            *self._copies.patches(),
            RDS_LIMITS.installed(),
            *rds.rule_patches(),
            *rds_encryption.patches(),
            # Speed and memory for windows of many runs
            *dynamodb_patches(),
            *memory_patches(lambda: self.states_entered),
            # What the operator command reads that moto answers unlike AWS, or not at all
            *history.patches(),
            *recovery_points.patches(),
            # CloudWatch: AWS's own metrics, and alarms as AWS makes them
            *cloudwatch.patches(lambda: self.timing_out),
            *cloudwatch_alarms.patches(),
            # Rolling the main stack out to many accounts
            *stacksets.patches(),
        ]
        for patch in patches:
            self._stack.enter_context(patch)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()


__all__ = ["MOTO_CONFIG", "MotoPatches"]
