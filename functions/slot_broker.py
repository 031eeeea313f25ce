"""Slot broker (backup account): one pool of copy slots for every copy landing in this account
and region, whichever source account makes it, answered behind a function URL with IAM auth
(rds_xacct.admission.broker). Standard library and boto3 only: it ships only what it imports
(rds_xacct.keeper.bundle, `slot_broker.py`)."""

from typing import Any

from rds_xacct.admission import broker


def handler(event: Any, context: Any) -> dict[str, Any]:
    settings = broker.BrokerSettings.from_env(function_arn=context.invoked_function_arn)
    return broker.answer_url_request(event, settings=settings)
