"""CopyIntermediate: copy the source in the main account, re-encrypted with the backup key."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from rds_xacct.aws.observability import task_handler
from rds_xacct.model.settings import Settings
from rds_xacct.pipeline import copying


@task_handler("CopyIntermediate")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return copying.copy_intermediate(event, settings=Settings.from_env())
