"""DeleteIntermediate: Delete the intermediate copy in the main account."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from rds_xacct.aws.observability import task_handler
from rds_xacct.model.settings import Settings
from rds_xacct.model.state import IntermediateCopy, RunState
from rds_xacct.pipeline import retention


@task_handler("DeleteIntermediate")
def handler(event: RunState, context: LambdaContext) -> IntermediateCopy:
    return retention.delete_intermediate(event, settings=Settings.from_env())
