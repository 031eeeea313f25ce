"""Notify: the run's summary to SNS and Slack (also for runs that timed out, were aborted, or
failed with an error no Catch handles)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from rds_xacct.aws.observability import task_handler
from rds_xacct.model.settings import Settings
from rds_xacct.pipeline import reporting


@task_handler("Notify")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return reporting.handle(event, settings=Settings.from_env())
