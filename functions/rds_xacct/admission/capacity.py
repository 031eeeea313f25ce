"""Before a copy: is there room in the manual snapshot quotas, and should anyone be warned?

A full quota ("Cannot create more than 100 manual snapshots") does not clear by itself, unlike
the limit of copies in progress (admission control waits that out). So each copy step reads
the usage first (`quotas.manual_snapshot_usage`) and fails at once with a message that names
the account, the quota, the usage and how to raise it. As a quota passes QUOTA_WARN_FRACTION,
one warning goes out (`messages`: SNS and Slack) per account, quota and day — not one per run:
the first run of the day to notice records it in the notices table (template.yaml's
`NoticeTable`, not the copy-slot table, which holds slots only) with a conditional write.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from botocore.exceptions import ClientError

from rds_xacct.aws import quotas
from rds_xacct.aws.clients import NETWORK_ERRORS, default_client
from rds_xacct.aws.observability import logger
from rds_xacct.model.errors import PipelineError
from rds_xacct.model.settings import Settings


def check_room(
    usages: list[quotas.QuotaUsage | None], *, settings: Settings, now: datetime
) -> list[str]:
    """Raise `QuotaExceeded` if a copy would not fit; warn once a day about a quota past the
    mark. Returns the warnings sent (for the step's output)."""
    sent = []
    for usage in usages:
        if usage is not None and usage.near_full and warn_once(usage, settings=settings, now=now):
            sent.append(usage.text)
    for usage in usages:
        quotas.ensure_room(usage)
    return sent


def _first_today(usage: quotas.QuotaUsage, settings: Settings, now: datetime) -> bool:
    """True for the first caller of the day for this account, region and quota: one item per
    notice and day in the notices table, put only if absent. The day is in the key, so an item
    that expired and still shows (DynamoDB's TTL deletes within days) never hides a new day's.
    Should the write fail otherwise, the warning goes out all the same."""
    if not settings.notice_table:
        return True
    dynamodb = default_client("dynamodb")
    day = now.strftime("%Y-%m-%d")
    try:
        dynamodb.put_item(
            TableName=settings.notice_table,
            Item={
                "notice": {"S": f"quota-warning#{usage.account}#{usage.region}#{usage.code}#{day}"},
                "expiresAt": {"N": str(int((now + timedelta(days=2)).timestamp()))},
            },
            ConditionExpression="attribute_not_exists(notice)",
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        logger.warning(f"Could not record the quota warning: {error}")
    except NETWORK_ERRORS as error:
        logger.warning(f"Could not record the quota warning: {error}")
    return True


def warn_once(usage: quotas.QuotaUsage, *, settings: Settings, now: datetime) -> bool:
    """Send the day's warning about this quota, unless another run already did."""
    if not _first_today(usage, settings, now):
        return False
    # Imported here: warnings are rare, and every copy step imports this module.
    from rds_xacct.messages import words  # noqa: PLC0415
    from rds_xacct.messages.delivery import deliver  # noqa: PLC0415

    message = words.quota_warning(usage)
    logger.warning(message.body)
    try:
        deliver(message, settings).settle()
    except PipelineError as error:
        logger.error(f"Quota warning not delivered: {error}")
    return True
