"""Notifications: the SNS message, the Slack message, and Slack's failures."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, ClassVar

import boto3
import pytest
import requests
import responses
from moto.sns.models import sns_backends

from rds_xacct.messages import delivery, words
from rds_xacct.model.errors import PipelineError
from rds_xacct.model.summary import build_summary, console_url, failed_step
from rds_xacct.pipeline import reporting
from simulation.world import MAIN_ACCOUNT, REGION, World

WEBHOOK = "https://hooks.slack.com/services/T0000/B0000/secret-part"
EXECUTION = f"arn:aws:states:{REGION}:{MAIN_ACCOUNT}:execution:rds-xacct-copy-snapshot:run-1"
NOW = datetime(2026, 11, 24, 3, 20, tzinfo=UTC)


def state(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "job": {
            "execution": "run-1",
            "executionArn": EXECUTION,
            "startedAt": "2026-11-24T02:30:00Z",
            "origin": "aws-backup",
            "retentionDays": 7,
            "skipped": None,
            "source": {
                "arn": f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:snapshot:awsbackup:job-1",
                "database": "orders-db",
                "engine": "postgres",
                "kind": "db",
                "sizeGiB": 20,
            },
        },
        "slots": {"main": {"outcome": "granted"}, "backup": {"outcome": "granted"}},
        "intermediate": {
            "arn": "arn:intermediate",
            "copyStartedAt": "2026-11-24T02:30:00Z",
            "availableAt": "2026-11-24T02:53:00Z",
            "ready": True,
            "sharedWith": "222222222222",
            "deletedAt": "2026-11-24T03:16:00Z",
        },
        "backup": {
            "arn": "arn:aws:rds:eu-west-1:222222222222:snapshot:xacct-orders-db-1",
            "copyStartedAt": "2026-11-24T02:53:00Z",
            "availableAt": "2026-11-24T03:16:00Z",
            "expiresAt": "2026-12-01T02:53:00Z",
            "ready": True,
        },
    }
    base.update(extra)
    return base


def summary(outcome: str = "succeeded", **extra: Any) -> dict[str, Any]:
    return build_summary(state(**extra), outcome=outcome, execution_arn=EXECUTION, now=NOW)


def test_success_summary_has_what_an_operator_needs() -> None:
    result = summary()
    assert result["backupCopy"]["arn"].endswith("xacct-orders-db-1")
    assert result["expiresAt"] == "2026-12-01T02:53:00Z"
    assert result["durations"] == {
        "intermediateCopySeconds": 23 * 60,
        "backupCopySeconds": 23 * 60,
        "totalSeconds": 50 * 60,
    }
    assert result["execution"]["consoleUrl"].startswith(
        "https://eu-west-1.console.aws.amazon.com/states/"
    )
    body = words.sns_body(result)
    for text in ("orders-db (postgres, db)", "Expires", "2026-12-01T02:53:00Z", "23m 00s"):
        assert text in body


@pytest.mark.parametrize(
    ("execution_arn", "console"),
    [
        (
            "arn:aws:states:eu-west-1:111111111111:execution:m:r",
            "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#",
        ),
        (
            "arn:aws-cn:states:cn-north-1:111111111111:execution:m:r",
            "https://console.amazonaws.cn/states/home?region=cn-north-1#",
        ),
        (
            "arn:aws-us-gov:states:us-gov-west-1:111111111111:execution:m:r",
            "https://console.amazonaws-us-gov.com/states/home?region=us-gov-west-1#",
        ),
    ],
    ids=["aws", "aws-cn", "aws-us-gov"],
)
def test_the_console_link_is_the_executions_own_partitions(
    execution_arn: str, console: str
) -> None:
    assert console_url(execution_arn).startswith(console)
    assert console_url(execution_arn).endswith(f"/v2/executions/details/{execution_arn}")


def test_failure_summary_names_the_step_error_and_what_to_do() -> None:
    error = {
        "Error": "KeyNotAccessible",
        "Cause": json.dumps(
            {
                "errorType": "KeyNotAccessible",
                "errorMessage": "Copying ... failed: KMSKeyNotAccessibleFault",
            }
        ),
    }
    result = summary("failed", backup={}, error=error)
    assert result["failure"]["step"] == "CopyBackup"
    assert result["failure"]["error"] == "KeyNotAccessible"
    assert "KMSKeyNotAccessibleFault" in result["failure"]["message"]
    assert "key's policy" in result["failure"]["hint"]
    assert words.subject(result) == "[rds-xacct] FAILED: orders-db at CopyBackup"


MAIN = {"main": {"outcome": "granted"}}
BOTH = {**MAIN, "backup": {"outcome": "granted"}}


@pytest.mark.parametrize(
    ("results", "step"),
    [
        ({}, "DescribeSource"),
        ({"job": {}}, "WaitForMainSlot"),
        ({"job": {}, "slots": MAIN}, "CopyIntermediate"),
        ({"job": {}, "slots": MAIN, "intermediate": {"id": "x"}}, "CheckIntermediate"),
        ({"job": {}, "slots": MAIN, "intermediate": {"ready": True}}, "Share"),
        (
            {"job": {}, "slots": MAIN, "intermediate": {"ready": True, "sharedWith": "2"}},
            "WaitForBackupSlot",
        ),
        (
            {"job": {}, "slots": BOTH, "intermediate": {"ready": True, "sharedWith": "2"}},
            "CopyBackup",
        ),
        (
            {
                "job": {},
                "slots": BOTH,
                "intermediate": {"ready": True, "sharedWith": "2"},
                "backup": {"id": "x"},
            },
            "CheckBackup",
        ),
    ],
)
def test_failed_step_is_read_from_the_results(results: dict[str, Any], step: str) -> None:
    assert failed_step(results) == step


def test_subject_is_ascii_one_line_and_under_100_characters() -> None:
    long = summary()
    long["source"]["database"] = "データベース-" + "x" * 200
    text = words.subject(long)
    assert len(text) < 100
    assert text.isascii()
    assert "\n" not in text


def test_slack_message_is_block_kit_with_a_button_to_the_execution() -> None:
    message = words.slack_blocks(summary())
    assert message["blocks"][0]["type"] == "header"
    assert any(b["type"] == "section" for b in message["blocks"])
    button = message["blocks"][-1]["elements"][0]
    assert button["url"].endswith(EXECUTION)
    assert all(len(b.get("fields", [])) <= 10 for b in message["blocks"])


@responses.activate
def test_slack_200_is_delivered_once() -> None:
    responses.add(responses.POST, WEBHOOK, status=200, body="ok")
    waits: list[float] = []
    result = delivery.post_slack(WEBHOOK, {"text": "hi"}, sleep=waits.append)
    assert (result.delivered, result.attempts, waits) == (True, 1, [])


@responses.activate
def test_slack_429_waits_for_retry_after() -> None:
    responses.add(
        responses.POST, WEBHOOK, status=429, headers={"Retry-After": "7"}, body="slow down"
    )
    responses.add(responses.POST, WEBHOOK, status=200, body="ok")
    waits: list[float] = []
    result = delivery.post_slack(WEBHOOK, {"text": "hi"}, sleep=waits.append)
    assert (result.delivered, result.attempts, waits) == (True, 2, [7.0])


@responses.activate
def test_slack_retry_after_is_capped() -> None:
    responses.add(responses.POST, WEBHOOK, status=429, headers={"Retry-After": "3600"})
    responses.add(responses.POST, WEBHOOK, status=200)
    waits: list[float] = []
    delivery.post_slack(WEBHOOK, {"text": "hi"}, sleep=waits.append)
    assert waits == [delivery.SLACK_MAX_RETRY_AFTER_SECONDS]


@responses.activate
def test_slack_500_is_retried_with_backoff_then_given_up() -> None:
    responses.add(responses.POST, WEBHOOK, status=500, body="oops")
    waits: list[float] = []
    result = delivery.post_slack(WEBHOOK, {"text": "hi"}, sleep=waits.append)
    assert (result.delivered, result.attempts) == (False, delivery.SLACK_ATTEMPTS)
    assert waits == [1.0, 2.0, 4.0]
    assert "HTTP 500" in result.detail


@responses.activate
def test_slack_timeout_is_retried_then_given_up() -> None:
    responses.add(responses.POST, WEBHOOK, body=requests.Timeout("read timed out"))
    waits: list[float] = []
    result = delivery.post_slack(WEBHOOK, {"text": "hi"}, sleep=waits.append)
    assert (result.delivered, result.attempts) == (False, delivery.SLACK_ATTEMPTS)
    assert result.detail == "network error: Timeout"
    assert len(responses.calls) == delivery.SLACK_ATTEMPTS


@responses.activate
def test_a_revoked_webhook_is_not_retried() -> None:
    responses.add(responses.POST, WEBHOOK, status=404, body="no_service")
    result = delivery.post_slack(WEBHOOK, {"text": "hi"}, sleep=lambda s: None)
    assert (result.delivered, result.attempts) == (False, 1)


def _topic_messages(topic_arn: str) -> list[Any]:
    return list(sns_backends[MAIN_ACCOUNT][REGION].topics[topic_arn].sent_notifications)


def test_without_slack_only_sns_is_sent(world: World) -> None:
    # Given a deployment with a topic and no Slack
    topic = boto3.client("sns").create_topic(Name="rds-xacct-notifications")["TopicArn"]
    settings = world.settings(topic_arn=topic)
    # When a run reports
    with responses.RequestsMock() as slack:  # any HTTP call would fail the test
        delivered = reporting.send(summary(), settings)
        assert len(slack.calls) == 0
    # Then one SNS message with filterable attributes was published
    messages = _topic_messages(topic)
    assert len(messages) == 1
    _, body, subject, attributes, _ = messages[0]
    assert subject == "[rds-xacct] Succeeded: orders-db, kept until 2026-12-01"
    assert attributes["outcome"]["Value"] == "succeeded"
    assert attributes["database"]["Value"] == "orders-db"
    assert json.loads(body.split("--- summary (JSON) ---\n", 1)[1])["outcome"] == "succeeded"
    assert delivered == {"sns": messages[0][0], "slack": None}


def test_a_slack_outage_is_logged_and_never_raises(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    # Given Slack configured through an SSM SecureString, and Slack down
    boto3.client("ssm").put_parameter(Name="/rds-xacct/slack", Value=WEBHOOK, Type="SecureString")
    topic = boto3.client("sns").create_topic(Name="rds-xacct-notifications")["TopicArn"]
    settings = world.settings(topic_arn=topic, slack_parameter="/rds-xacct/slack")
    with responses.RequestsMock() as slack:
        slack.add(responses.POST, WEBHOOK, status=503)
        # When a failure is reported
        delivered = reporting.send(
            summary("failed", error={"Error": "X", "Cause": "y"}), settings, sleep=lambda s: None
        )
    # Then SNS still got it, Slack's failure is recorded, and the webhook is nowhere in the logs
    assert len(_topic_messages(topic)) == 1
    assert delivered["slack"].startswith("not delivered after 4 attempt(s): HTTP 503")
    assert "Slack notification not delivered: HTTP 503" in caplog.text
    assert "hooks.slack.com" not in caplog.text


def test_redact_removes_webhooks() -> None:
    assert delivery.redact(f"posting to {WEBHOOK} failed") == (
        "posting to https://hooks.slack.com/<redacted> failed"
    )


def test_a_run_that_failed_on_its_event_says_what_arrived() -> None:
    # Given the state of a run whose DescribeSource failed: the event itself, plus the error
    event_state = {
        "event": {
            "id": "e-1",
            "source": "aws.backup",
            "detail-type": "Backup Job State Change",
            "resources": ["arn:aws:ec2:eu-west-1:123456789012:volume/vol-1"],
            "detail": {"resourceType": "EBS"},
        },
        "error": {
            "Error": "UnsupportedEvent",
            "Cause": json.dumps(
                {"errorType": "UnsupportedEvent", "errorMessage": "'EBS' is not an RDS database"}
            ),
        },
    }
    # When the failure is summarised
    result = build_summary(event_state, outcome="failed", execution_arn=EXECUTION, now=NOW)
    # Then the summary names the event and the reason
    assert result["failure"]["step"] == "DescribeSource"
    assert result["event"]["detailType"] == "Backup Job State Change"
    assert "volume/vol-1" in words.sns_body(result)
    assert "not an RDS database" in words.sns_body(result)


class _Teams:
    """A channel as a newcomer would add one: a class, and its line in CHANNELS."""

    name: ClassVar[str] = "teams"
    sent: ClassVar[list[words.Message]] = []

    @classmethod
    def configured(cls, settings: Any, *, sleep: Any = None) -> _Teams:
        return cls()

    def send(self, message: words.Message) -> str:
        self.sent.append(message)
        return "posted"


def test_a_new_channel_is_one_class_and_one_line(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a deployment with a topic, and a third channel added to the list
    topic = boto3.client("sns").create_topic(Name="rds-xacct-notifications")["TopicArn"]
    monkeypatch.setattr(delivery, "CHANNELS", (*delivery.CHANNELS, _Teams))
    _Teams.sent.clear()
    # When a run reports
    delivered = reporting.send(summary(), world.settings(topic_arn=topic))
    # Then every channel got the one message, each saying what became of it
    assert set(delivered) == {"sns", "slack", "teams"}
    assert (delivered["slack"], delivered["teams"]) == (None, "posted")
    assert [m.subject for m in _Teams.sent] == [words.subject(summary())]
    assert len(_topic_messages(topic)) == 1


def test_sns_refusing_for_good_still_lets_the_other_channels_tell(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a topic that is gone, and another channel after it
    monkeypatch.setattr(delivery, "CHANNELS", (*delivery.CHANNELS, _Teams))
    _Teams.sent.clear()
    settings = world.settings(topic_arn=f"arn:aws:sns:{REGION}:{MAIN_ACCOUNT}:gone")
    # When a message is delivered
    result = delivery.deliver(words.run_message(summary()), settings)
    # Then the other channel told, and settling raises SNS's refusal
    assert len(_Teams.sent) == 1
    assert str(result.channels["sns"]).startswith("not delivered: ")
    with pytest.raises(PipelineError):
        result.settle()
