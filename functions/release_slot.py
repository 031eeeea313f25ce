"""ReleaseMainSlot / ReleaseBackupSlot: the copy is available; give its slot to the next run."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from rds_xacct.admission import slots as admission
from rds_xacct.aws.observability import task_handler
from rds_xacct.model.settings import Settings


@task_handler("ReleaseSlot")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return admission.release_slot(event["state"], event["pool"], settings=Settings.from_env())
