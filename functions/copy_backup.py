"""CopyBackup: In the backup account, copy the intermediate copy with the backup key."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from rds_xacct.aws.observability import task_handler
from rds_xacct.model.settings import Settings
from rds_xacct.pipeline import backup_copy


@task_handler("CopyBackup")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return backup_copy.copy_backup(event, settings=Settings.from_env())
