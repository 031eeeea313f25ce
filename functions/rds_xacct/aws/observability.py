"""Logger and Metrics, created once, and the decorator every handler wears.

Traces come from Lambda itself (`Tracing: Active` in template.yaml): the function's segments,
linked to the state machine's trace. The X-Ray SDK (Powertools' Tracer) is not used: it is in
maintenance mode, and importing it cost every cold start about as much as boto3 itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from rds_xacct.model.errors import PipelineError
from rds_xacct.model.metrics import NAMESPACE, SERVICE

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

Handler = TypeVar("Handler", bound=Callable[[Any, LambdaContext], Any])


def execution_of(event: Any) -> str | None:
    """The execution ARN a task's input names, wherever the state puts it."""
    if not isinstance(event, dict):
        return None
    state = event.get("state")
    state = state if isinstance(state, dict) else event
    job = state.get("job")
    found = event.get("executionArn") or (
        job.get("executionArn") if isinstance(job, dict) else None
    )
    return str(found) if found else None


def task_handler(step: str) -> Callable[[Handler], Handler]:
    """Wrap a state's handler: structured logs with the step and execution, metrics flushed,
    and every error logged once with its class before it is re-raised for the state machine's
    Retry/Catch."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def run(event: Any, context: LambdaContext) -> Any:
            logger.append_keys(step=step, execution=execution_of(event))
            try:
                return handler(event, context)
            except PipelineError as error:
                logger.warning(f"{step} raised {type(error).__name__}: {error}")
                metrics.add_metric(name=f"{type(error).__name__}", unit=MetricUnit.Count, value=1)
                raise
            except Exception:
                logger.exception(f"{step} failed unexpectedly")
                raise
            finally:
                # Flushed only when something was counted: an empty flush logs a warning on
                # every invocation.
                if metrics.metric_set:
                    metrics.flush_metrics()

        wrapped: Callable[..., Any] = logger.inject_lambda_context(log_event=False)(run)
        return functools.wraps(handler)(wrapped)  # type: ignore[return-value]

    return decorate
