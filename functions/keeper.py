"""Keeper (backup account): the only code that deletes backup copies. Two entries, two
functions of the backup-account stack sharing this code:

* `handler` (the keeper, which the cross-account role may call through its function URL only)
  answers a source account's requests (`record`, `expire`, `abandon`) about that account's own
  copies (the caller as AWS authenticated it: rds_xacct.keeper.url), and nothing else: whatever
  the payload, it never runs the hourly pass;
* `hourly` (the keeper's pass, invoked only by the backup account's schedule: the role's
  `lambda:InvokeFunction` names the keeper alone) records new copies and deletes those whose
  kept-until time has come.

Standard library and boto3 only, and its functions ship only this file and the rds_xacct
modules it imports (see rds_xacct.keeper)."""

import os
from typing import Any

from rds_xacct.keeper import hourly as hourly_pass
from rds_xacct.keeper import url
from rds_xacct.keeper.settings import KeeperSettings


def handler(event: Any, context: object) -> dict[str, Any]:
    return url.handle_url_event(
        event,
        settings=KeeperSettings.from_env(),
        role_arn=os.environ.get(url.ENV_CALLER_ROLE_ARN, ""),
    )


def hourly(event: Any, context: object) -> dict[str, Any]:
    return hourly_pass.keep(settings=KeeperSettings.from_env())
