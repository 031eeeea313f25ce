"""Watch (hourly schedule): does every covered database have a fresh copy in the backup account,
and how full are the copy slots? Writes the metrics the main account's alarms watch."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from rds_xacct.aws.observability import task_handler
from rds_xacct.jobs.watch import watch
from rds_xacct.model.settings import Settings


@task_handler("Watch")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return watch(settings=Settings.from_env())
