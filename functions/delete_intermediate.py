"""DeleteIntermediate: Delete the intermediate copy in the main account."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from rds_xacct.aws.observability import task_handler
from rds_xacct.model.settings import Settings
from rds_xacct.pipeline import retention


@task_handler("DeleteIntermediate")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return retention.delete_intermediate(event, settings=Settings.from_env())
