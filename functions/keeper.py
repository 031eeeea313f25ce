"""Keeper (backup account): the only code that deletes backup copies. Answers the main
account's requests (`expire`, `abandon`) and, every hour, deletes the copies whose kept-until
time has passed. Standard library and boto3 only (see rds_xacct.keeper)."""

from typing import Any

from rds_xacct import keeper


def handler(event: Any, context: object) -> dict[str, Any]:
    settings = keeper.KeeperSettings.from_env()
    if keeper.is_schedule(event):
        return keeper.keep(settings=settings)
    return keeper.handle_request(event, settings=settings)
