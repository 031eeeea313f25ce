"""Sweep (daily schedule): delete the app's copies that no run will delete any more."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from rds_xacct.aws.observability import task_handler
from rds_xacct.jobs import sweep
from rds_xacct.model.settings import Settings


@task_handler("Sweep")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return sweep.run(settings=Settings.from_env())
