"""Before a copy: is there room in the manual snapshot quotas, and should anyone be warned?

A full quota ("Cannot create more than 100 manual snapshots") does not clear by itself, unlike
the limit of copies in progress (admission control waits that out). So each copy step reads
the usage first (`quotas.manual_snapshot_usage`) and fails at once with a message that names
the account, the quota, the usage and how to raise it. As a quota passes QUOTA_WARN_FRACTION,
one warning goes out (SNS and Slack) per account, quota and day — not one per run: the first
run of the day to notice records it in the copy-slot table with a conditional write.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from rds_xacct.aws import quotas
from rds_xacct.aws.clients import NETWORK_ERRORS, default_client
from rds_xacct.aws.observability import logger
from rds_xacct.messages import notify
from rds_xacct.model.constants import APP_NAME, QUOTA_WARN_FRACTION
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
    """True for the first caller of the day for this account, region and quota."""
    if not settings.admission_table:
        return True
    dynamodb = default_client("dynamodb")
    day = now.strftime("%Y-%m-%d")
    try:
        dynamodb.put_item(
            TableName=settings.admission_table,
            Item={
                "pk": {"S": f"warning#quota#{usage.account}#{usage.region}"},
                "sk": {"S": f"{usage.code}#{day}"},
                "expiresAt": {"N": str(int((now + timedelta(days=2)).timestamp()))},
            },
            ConditionExpression="attribute_not_exists(sk)",
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
    headline = (
        f"[{APP_NAME}] Warning: account {usage.account} manual snapshot quota "
        f"{round(100 * usage.fraction)}% full"
    )
    body = "\n".join(
        [
            f"{usage.text}: past {round(100 * QUOTA_WARN_FRACTION)} %.",
            f"Copies are refused once it is full ({usage.room} more fit). Delete old manual "
            "snapshots there, or raise the quota: Service Quotas console, Amazon RDS, "
            f"'{usage.name}', or `aws service-quotas request-service-quota-increase "
            f"--service-code rds --quota-code {usage.code} --desired-value "
            f"{2 * usage.max} --region {usage.region}`.",
            "This warning is sent once a day per account and quota while it stays this full.",
        ]
    )
    logger.warning(body)
    attributes: dict[str, Any] = {"outcome": "quota-warning"}
    try:
        if settings.topic_arn:
            notify.publish(settings.topic_arn, headline[: notify.SUBJECT_LIMIT], body, attributes)
        if settings.slack_parameter:
            webhook = notify.slack_webhook(settings.slack_parameter)
            if webhook is not None:
                notify.post_slack(webhook, {"text": f"{headline}\n{body}"})
    except PipelineError as error:
        logger.error(f"Quota warning not delivered: {error}")
    return True
