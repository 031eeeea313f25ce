"""Sweep (daily schedule): delete the app's copies that no run will delete any more."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from rds_xacct.aws.observability import task_handler
from rds_xacct.model.settings import Settings
from rds_xacct.pipeline import reporting


@task_handler("Sweep")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return reporting.report_sweep(settings=Settings.from_env())
