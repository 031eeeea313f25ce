"""Notify: the run's summary to SNS and Slack (also for runs that timed out, were aborted, or
failed with an error no Catch handles)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from rds_xacct import reporting
from rds_xacct.observability import task_handler
from rds_xacct.settings import Settings


@task_handler("Notify")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return reporting.handle(event, settings=Settings.from_env())
