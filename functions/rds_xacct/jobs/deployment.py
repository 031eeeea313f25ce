"""A deployment as an operator finds it: its settings, what it copies and its state machine, read
from the main stack (the operator command's `--stack-name`).

The stack's daily reconciliation function carries everything in its environment (the functions'
settings, the state machine, the `CopyRds…` parameters): CloudFormation names the function
(DescribeStackResource), Lambda gives its environment (GetFunctionConfiguration), and the
stack's parameters give its recovery point objective when it has one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rds_xacct.aws.clients import aws_call, aws_code
from rds_xacct.jobs.reconcile_sources import Scope
from rds_xacct.model import errors
from rds_xacct.model.arns import Arn
from rds_xacct.model.constants import RECOVERY_POINT_OBJECTIVE_HOURS
from rds_xacct.model.settings import ENV_REGION, ConfigurationError, Settings

READER_FUNCTION = "ReconcileFunction"
"""The main stack's function whose environment the operator reads (template.yaml's logical id)."""
RPO_PARAMETER = "RecoveryPointObjectiveHours"
"""The main stack's parameter of the recovery point objective, if the stack has it."""


@dataclass(frozen=True)
class Deployment:
    """What the operator command needs to know about the deployment."""

    settings: Settings
    scope: Scope
    rpo_hours: float = RECOVERY_POINT_OBJECTIVE_HOURS
    stack_name: str | None = None

    @property
    def state_machine_arn(self) -> str:
        return self.scope.state_machine_arn

    @classmethod
    def from_environment(
        cls,
        env: Mapping[str, str],
        *,
        region: str,
        rpo_hours: float | None = None,
        stack_name: str | None = None,
    ) -> Deployment:
        """From the reconciliation function's environment (the region is the function's)."""
        env = {**env, ENV_REGION: region}
        return cls(
            settings=Settings.from_env(env),
            scope=Scope.from_env(env),
            rpo_hours=RECOVERY_POINT_OBJECTIVE_HOURS if rpo_hours is None else rpo_hours,
            stack_name=stack_name,
        )

    @classmethod
    def from_function(
        cls,
        lambda_client: Any,
        function_name: str,
        *,
        rpo_hours: float | None = None,
        stack_name: str | None = None,
    ) -> Deployment:
        """From the environment of the stack's reconciliation function, by name or ARN."""
        with aws_call(f"Reading the configuration of the function {function_name}"):
            configuration = lambda_client.get_function_configuration(FunctionName=function_name)
        env = (configuration.get("Environment") or {}).get("Variables") or {}
        region = Arn.parse(str(configuration["FunctionArn"])).region
        return cls.from_environment(env, region=region, rpo_hours=rpo_hours, stack_name=stack_name)

    @classmethod
    def from_stack(cls, cloudformation: Any, lambda_client: Any, stack_name: str) -> Deployment:
        """From the main stack: its reconciliation function's environment, its parameters."""
        try:
            with aws_call(f"Reading the stack {stack_name}"):
                resource = cloudformation.describe_stack_resource(
                    StackName=stack_name, LogicalResourceId=READER_FUNCTION
                )["StackResourceDetail"]
                stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        except errors.PipelineError as error:
            if aws_code(error) == "ValidationError":
                raise ConfigurationError(
                    f"No stack {stack_name!r} with a {READER_FUNCTION} in this account and "
                    f"region: give the main stack's name (--stack-name) and region (--region)"
                ) from error
            raise
        parameters = {
            p["ParameterKey"]: p.get("ResolvedValue", p.get("ParameterValue"))
            for p in stack.get("Parameters") or []
        }
        rpo = parameters.get(RPO_PARAMETER)
        return cls.from_function(
            lambda_client,
            str(resource["PhysicalResourceId"]),
            rpo_hours=float(rpo) if rpo else None,
            stack_name=stack_name,
        )
