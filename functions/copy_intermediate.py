"""CopyIntermediate: copy the source in the main account, re-encrypted with the backup key."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from rds_xacct.aws.observability import task_handler
from rds_xacct.model.settings import Settings
from rds_xacct.model.state import IntermediateCopy, RunState
from rds_xacct.pipeline import copying


@task_handler("CopyIntermediate")
def handler(event: RunState, context: LambdaContext) -> IntermediateCopy:
    return copying.copy_intermediate(event, settings=Settings.from_env())
