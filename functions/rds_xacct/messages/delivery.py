"""Delivering a `Message` to every channel the deployment configures: SNS, Slack.

    delivery = deliver(message, settings)   # every configured channel, in CHANNELS' order
    delivery.channels                       # {"sns": message id, "slack": "delivered after ..."}
    delivery.settle()                       # the same, or the refusal raised

What every caller gets (the Notify step, stopped-run reports, the sweep and reconciliation
reports, quota warnings):

* A notification never changes a run's outcome: Slack is retried within bounds (429 waits for
  Retry-After, capped; 5xx and network errors back off), then logged, with the webhook redacted,
  and counted (metric `SlackDeliveryFailed`); it never raises.
* A channel refusing for good (SNS: a permission, its key, the topic gone) does not keep the
  channels after it from telling: they are sent, and `settle()` raises the refusal. An error the
  state machine retries (`Throttled`) is raised at once, so that the retry sends each message
  once: a channel that can raise one comes before the others (SNS first).

A new channel (Teams, email, ...) is one class with `name`, `configured` and `send`, and its
line in CHANNELS.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self

from aws_lambda_powertools.metrics import MetricUnit

from rds_xacct.aws.clients import aws_call, default_client
from rds_xacct.aws.observability import logger, metrics
from rds_xacct.model.errors import RETRYABLE, PipelineError
from rds_xacct.model.metrics import SLACK_DELIVERY_FAILED
from rds_xacct.model.settings import Settings

if TYPE_CHECKING:
    import requests

    from rds_xacct.messages.words import Message

# `requests` and Powertools' parameters are imported where Slack needs them, not here: together
# they add a sixth of an `import boto3` to the cold start of every function that imports this
# module, and most of those functions (and runs without Slack) never use them.

Sleep = Callable[[float], None]

SLACK_TIMEOUT_SECONDS = 5
SLACK_ATTEMPTS = 4
SLACK_BACKOFF_SECONDS = 1.0
SLACK_MAX_RETRY_AFTER_SECONDS = 30.0

_WEBHOOK = re.compile(r"https://hooks\.slack\.com/\S+")


def redact(text: str) -> str:
    """Remove any Slack webhook URL from text that will be logged."""
    return _WEBHOOK.sub("https://hooks.slack.com/<redacted>", text)


# --- The interface ------------------------------------------------------------------------------
class Channel(Protocol):
    """Somewhere messages go."""

    name: ClassVar[str]
    """Its key in what was delivered (`Delivery.channels`)."""

    @classmethod
    def configured(cls, settings: Settings, *, sleep: Sleep | None = None) -> Self | None:
        """The channel as the deployment configures it; None: not configured."""
        ...

    def send(self, message: Message) -> str | None:
        """Send the message; returns what happened (None: the message is not for this channel).
        Raises `PipelineError` when the channel refuses it."""
        ...


@dataclass
class Delivery:
    """What happened to one message on each channel."""

    channels: dict[str, str | None]
    """Per channel: what happened (SNS: the message id); None: not configured, or not for it."""
    refusal: PipelineError | None = field(default=None)
    """The first channel's refusal for good, raised by `settle`."""

    def settle(self) -> dict[str, str | None]:
        """What was delivered; raises the refusal, if a channel refused."""
        if self.refusal is not None:
            raise self.refusal
        return self.channels


def deliver(message: Message, settings: Settings, *, sleep: Sleep | None = None) -> Delivery:
    """Send the message to every configured channel (see the module's guarantees)."""
    delivery = Delivery({kind.name: None for kind in CHANNELS})
    for kind in CHANNELS:
        channel = kind.configured(settings, sleep=sleep)
        if channel is None:
            continue
        try:
            delivery.channels[kind.name] = channel.send(message)
        except PipelineError as error:
            if isinstance(error, RETRYABLE):
                raise
            delivery.refusal = delivery.refusal or error
            delivery.channels[kind.name] = f"not delivered: {error}"
    return delivery


# --- SNS ----------------------------------------------------------------------------------------
def publish(topic_arn: str, subject_line: str, body: str, attributes: dict[str, str]) -> str:
    """Publish one message with string attributes; returns the message id."""
    sns = default_client("sns")
    with aws_call(f"Publishing to {topic_arn}"):
        response = sns.publish(
            TopicArn=topic_arn,
            Subject=subject_line,
            Message=body,
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value}
                for name, value in attributes.items()
                if value
            },
        )
    return str(response["MessageId"])


@dataclass(frozen=True)
class SnsChannel:
    """The deployment's SNS topic: every message, with its attributes to filter on."""

    name: ClassVar[str] = "sns"
    topic_arn: str

    @classmethod
    def configured(cls, settings: Settings, *, sleep: Sleep | None = None) -> Self | None:
        return cls(settings.topic_arn) if settings.topic_arn else None

    def send(self, message: Message) -> str | None:
        return publish(self.topic_arn, message.subject, message.body, message.attributes)


# --- Slack --------------------------------------------------------------------------------------
@dataclass
class SlackResult:
    delivered: bool
    attempts: int
    detail: str


def post_slack(
    webhook_url: str,
    message: dict[str, Any],
    *,
    sleep: Sleep | None = None,
    session: requests.Session | None = None,
) -> SlackResult:
    """Post to an incoming webhook with bounded retries.

    429 waits for Retry-After (capped), 5xx and network errors back off exponentially; other
    4xx are not retried (the webhook is wrong or revoked). Never raises.
    """
    import requests  # noqa: PLC0415 - Slack only: see the imports

    http = session or requests.Session()
    pause = sleep or time.sleep  # looked up at call time, so a simulated clock can replace it
    detail = ""
    for attempt in range(1, SLACK_ATTEMPTS + 1):
        delay = SLACK_BACKOFF_SECONDS * 2 ** (attempt - 1)
        try:
            response = http.post(webhook_url, json=message, timeout=SLACK_TIMEOUT_SECONDS)
        except requests.RequestException as error:
            detail = f"network error: {type(error).__name__}"
        else:
            if response.status_code < 300:
                return SlackResult(True, attempt, f"HTTP {response.status_code}")
            detail = f"HTTP {response.status_code}: {response.text[:200]}"
            if response.status_code == 429:
                with contextlib.suppress(ValueError):
                    delay = float(response.headers.get("Retry-After", delay))
                delay = min(max(delay, 0.0), SLACK_MAX_RETRY_AFTER_SECONDS)
            elif response.status_code < 500:
                return SlackResult(False, attempt, detail)
        if attempt < SLACK_ATTEMPTS:
            pause(delay)
    return SlackResult(False, SLACK_ATTEMPTS, detail)


def slack_webhook(parameter_name: str) -> str | None:
    """The webhook URL from its SSM SecureString, cached for 5 minutes by Powertools."""
    from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415 - see the imports

    try:
        value = parameters.get_parameter(parameter_name, decrypt=True, max_age=300)
    except parameters.exceptions.GetParameterError as error:
        # (no traceback: it adds nothing an operator can act on)
        logger.error(
            f"Could not read the Slack webhook parameter {parameter_name}: {type(error).__name__}"
        )
        return None
    return str(value).strip() or None


@dataclass(frozen=True)
class SlackChannel:
    """An incoming webhook, read from its SSM SecureString: the messages that have a Slack
    payload. Never raises: a failure is logged (redacted) and counted."""

    name: ClassVar[str] = "slack"
    parameter: str
    sleep: Sleep | None = None

    @classmethod
    def configured(cls, settings: Settings, *, sleep: Sleep | None = None) -> Self | None:
        return cls(settings.slack_parameter, sleep) if settings.slack_parameter else None

    def send(self, message: Message) -> str | None:
        if message.slack is None:
            return None
        webhook = slack_webhook(self.parameter)
        if webhook is None:
            return "not delivered: the webhook parameter could not be read"
        result = post_slack(webhook, message.slack, sleep=self.sleep)
        if result.delivered:
            return f"delivered after {result.attempts} attempt(s)"
        logger.error(f"Slack notification not delivered: {redact(result.detail)}")
        metrics.add_metric(name=SLACK_DELIVERY_FAILED, unit=MetricUnit.Count, value=1)
        return f"not delivered after {result.attempts} attempt(s): {result.detail}"


CHANNELS: tuple[type[Channel], ...] = (SnsChannel, SlackChannel)
"""Every channel, in the order they are sent to (one that can raise a retryable error first)."""
