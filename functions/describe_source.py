"""DescribeSource: read the event and the source snapshot, decide what the run does."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from rds_xacct.aws.observability import task_handler
from rds_xacct.model.settings import Settings
from rds_xacct.model.state import RunState
from rds_xacct.pipeline import intake


@task_handler("DescribeSource")
def handler(event: dict[str, Any], context: LambdaContext) -> RunState:
    return intake.describe_source(
        event["event"], execution_arn=event["executionArn"], settings=Settings.from_env()
    )
