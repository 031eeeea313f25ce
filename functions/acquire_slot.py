"""WaitForMainSlot / WaitForBackupSlot: join the pool's queue for a copy slot (admission
control); the state's task token is completed when the run is given its slot."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from rds_xacct.admission import slots as admission
from rds_xacct.aws.observability import task_handler
from rds_xacct.model.settings import Settings


@task_handler("AcquireSlot")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return admission.acquire_slot(
        event["state"], event["pool"], event["token"], settings=Settings.from_env()
    )
