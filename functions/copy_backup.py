"""CopyBackup: In the backup account, copy the intermediate copy with the backup key."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from rds_xacct.aws.observability import task_handler
from rds_xacct.model.settings import Settings
from rds_xacct.model.state import BackupCopy, RunState
from rds_xacct.pipeline import backup_copy


@task_handler("CopyBackup")
def handler(event: RunState, context: LambdaContext) -> BackupCopy:
    return backup_copy.copy_backup(event, settings=Settings.from_env())
