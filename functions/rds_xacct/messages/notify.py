"""Telling people how a run went: one SNS message and, when configured, one Slack message.

A notification never changes a run's outcome: a Slack outage is retried within bounds, then
logged and counted, and the run still ends as it really ended.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rds_xacct.aws.clients import aws_call, default_client
from rds_xacct.model.constants import APP_NAME

if TYPE_CHECKING:
    import requests

# `requests` and Powertools' parameters are imported where Slack needs them, not here: together
# they add a sixth of an `import boto3` to the cold start of every function that imports this
# module, and most of those functions (and runs without Slack) never use them.

logger = logging.getLogger(__name__)

SUBJECT_LIMIT = 99
SLACK_TIMEOUT_SECONDS = 5
SLACK_ATTEMPTS = 4
SLACK_BACKOFF_SECONDS = 1.0
SLACK_MAX_RETRY_AFTER_SECONDS = 30.0

_TITLES = {
    "succeeded": "Succeeded",
    "failed": "FAILED",
    "skipped": "Skipped",
    "timed-out": "TIMED OUT",
    "aborted": "Aborted",
}
_EMOJI = {
    "succeeded": ":white_check_mark:",
    "failed": ":x:",
    "skipped": ":fast_forward:",
    "timed-out": ":hourglass:",
    "aborted": ":octagonal_sign:",
}
_WEBHOOK = re.compile(r"https://hooks\.slack\.com/\S+")


def redact(text: str) -> str:
    """Remove any Slack webhook URL from text that will be logged."""
    return _WEBHOOK.sub("https://hooks.slack.com/<redacted>", text)


def _database(summary: dict[str, Any]) -> str:
    source = summary.get("source") or {}
    return str(source.get("database") or source.get("arn") or "unknown source")


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def subject(summary: dict[str, Any]) -> str:
    """An SNS subject: ASCII, one line, under 100 characters. The database name is what gets
    shortened, never the outcome or the failing step."""
    outcome = _TITLES.get(summary["outcome"], summary["outcome"])
    head = f"[{APP_NAME}] {outcome}: "
    tail = ""
    expires = summary.get("expiresAt")
    if summary["outcome"] == "succeeded":
        tail = f", kept until {expires[:10]}" if expires else ", kept for good"
    elif summary["outcome"] == "failed" and summary.get("failure"):
        tail = f" at {summary['failure']['step']}"
    name = _database(summary).encode("ascii", "replace").decode()
    name = " ".join(name.split())  # one line
    room = SUBJECT_LIMIT - len(head) - len(tail)
    if len(name) > room:
        name = name[: room - 3] + "..."
    return head + name + tail


def lines(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs shared by the SNS body and the Slack message."""
    source = summary.get("source") or {}
    backup = summary.get("backupCopy") or {}
    durations = summary.get("durations") or {}
    rows = [
        ("Outcome", _TITLES.get(summary["outcome"], summary["outcome"])),
        (
            "Database",
            f"{_database(summary)} ({source.get('engine') or '?'}, {source.get('kind') or '?'})",
        ),
        ("Source snapshot", str(source.get("arn") or "-")),
    ]
    if backup.get("arn"):
        label = "Backup copy" if summary["outcome"] == "succeeded" else "Backup copy begun"
        rows.append((label, str(backup["arn"])))
    if source.get("sizeGiB") is not None:
        rows.append(("Size", f"{source['sizeGiB']} GiB"))
    if summary["outcome"] == "succeeded":
        expires = summary.get("expiresAt")
        rows.append(("Expires", expires or "never (retention 0: kept for good)"))
        rows.append(
            (
                "Took",
                f"intermediate copy {_duration(durations.get('intermediateCopySeconds'))}, "
                f"backup copy "
                f"{_duration(durations.get('backupCopySeconds'))}, whole run "
                f"{_duration(durations.get('totalSeconds'))}",
            )
        )
        if backup.get("action") and backup["action"] != "deleted":
            rows.append(("Retention", str(backup.get("action"))))
    if summary.get("skipReason"):
        rows.append(("Why skipped", str(summary["skipReason"])))
    for note in summary.get("notes") or []:
        rows.append(("Note", str(note)))
    for warning in summary.get("warnings") or []:
        rows.append(("Warning", str(warning)))
    failure = summary.get("failure")
    if failure:
        rows.append(("Failed step", str(failure["step"])))
        rows.append(("Error", f"{failure['error']}: {failure['message']}"))
        rows.append(("What to do", str(failure["hint"])))
    cleanup = summary.get("cleanup") or {}
    for action in cleanup.get("actions", []):
        rows.append(("Cleanup", str(action)))
    for problem in cleanup.get("problems", []):
        rows.append(("Cleanup problem", str(problem)))
    rows.append(("Execution", str((summary.get("execution") or {}).get("consoleUrl", "-"))))
    return rows


def sns_body(summary: dict[str, Any]) -> str:
    """A plain-text body people read, followed by the summary as JSON for machines."""
    width = max(len(label) for label, _ in lines(summary))
    text = "\n".join(f"{label.ljust(width)}  {value}" for label, value in lines(summary))
    return f"{text}\n\n--- summary (JSON) ---\n{json.dumps(summary, indent=2, default=str)}"


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


def publish_sns(topic_arn: str, summary: dict[str, Any]) -> str:
    """Publish a run's notification; returns the message id."""
    engine = (summary.get("source") or {}).get("engine")
    attributes = {
        "outcome": str(summary["outcome"]),
        "database": _database(summary),
        "engine": str(engine or ""),
    }
    return publish(topic_arn, subject(summary), sns_body(summary), attributes)


def slack_blocks(summary: dict[str, Any]) -> dict[str, Any]:
    """A Block Kit message: a header, the facts, and a link to the execution."""
    outcome = summary["outcome"]
    title = (
        f"{_EMOJI.get(outcome, '')} RDS cross-account copy {_TITLES.get(outcome, outcome)}: "
        f"{_database(summary)}"
    )
    fields = [
        {"type": "mrkdwn", "text": f"*{label}*\n{value}"}
        for label, value in lines(summary)
        if label not in ("Execution", "Outcome")
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150], "emoji": True}},
    ]
    # A section holds at most 10 fields of at most 2000 characters each.
    for start in range(0, len(fields), 10):
        chunk = [{**f, "text": f["text"][:2000]} for f in fields[start : start + 10]]
        blocks.append({"type": "section", "fields": chunk})
    url = (summary.get("execution") or {}).get("consoleUrl")
    if url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open the execution"},
                        "url": url,
                    }
                ],
            }
        )
    return {"text": title, "blocks": blocks}


@dataclass
class SlackResult:
    delivered: bool
    attempts: int
    detail: str


def post_slack(
    webhook_url: str,
    message: dict[str, Any],
    *,
    sleep: Callable[[float], None] | None = None,
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
        logger.error(  # noqa: TRY400 - the traceback adds nothing an operator can act on
            "Could not read the Slack webhook parameter %s: %s",
            parameter_name,
            type(error).__name__,
        )
        return None
    return str(value).strip() or None
