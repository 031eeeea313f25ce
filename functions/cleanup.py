"""Cleanup: after a failure, delete what this run made and did not finish."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from rds_xacct.aws.observability import task_handler
from rds_xacct.model.settings import Settings
from rds_xacct.model.state import CleanupResult, RunState
from rds_xacct.pipeline import failure


@task_handler("Cleanup")
def handler(event: RunState, context: LambdaContext) -> CleanupResult:
    return failure.cleanup(event, settings=Settings.from_env())
