"""CheckIntermediate / CheckBackup: is the copy available, and if not, how long to wait."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from rds_xacct.aws.observability import task_handler
from rds_xacct.model.settings import Settings
from rds_xacct.model.state import CopyProgress, Which
from rds_xacct.pipeline import copying


@task_handler("CheckCopy")
def handler(event: dict[str, Any], context: LambdaContext) -> CopyProgress:
    which: Which = event["which"]
    return copying.check_copy(event["state"], which, settings=Settings.from_env())
