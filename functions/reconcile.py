"""Reconcile (daily schedule): start a run for each recent source snapshot whose event never
arrived."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from rds_xacct.aws.observability import logger, metrics, task_handler
from rds_xacct.jobs import reconcile
from rds_xacct.jobs.reconcile_sources import Scope
from rds_xacct.model.metrics import RECONCILED_RUNS
from rds_xacct.model.settings import Settings


@task_handler("Reconcile")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result = reconcile.run(event, settings=Settings.from_env(), scope=Scope.from_env())
    metrics.add_metric(name=RECONCILED_RUNS, unit=MetricUnit.Count, value=len(result["started"]))
    logger.info("Reconcile", extra={"reconcile": result})
    return result
