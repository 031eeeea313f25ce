"""DeleteBackup: At the end of the retention, delete the backup copy (tags permitting)."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from rds_xacct.aws.observability import task_handler
from rds_xacct.model.settings import Settings
from rds_xacct.model.state import BackupCopy, RunState
from rds_xacct.pipeline import retention


@task_handler("DeleteBackup")
def handler(event: RunState, context: LambdaContext) -> BackupCopy:
    return retention.delete_backup(event, settings=Settings.from_env())
