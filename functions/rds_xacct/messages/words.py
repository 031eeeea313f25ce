"""The words of every message the app sends, in one shape: a `Message`.

A run's summary gives the run's message (`run_message`: the SNS subject and body people read,
with the summary as JSON for machines, and a Slack Block Kit message). Notices give theirs:
a manual snapshot quota past its mark (`quota_warning`), the daily sweep (`sweep_report`) and
the daily reconciliation (`reconcile_report`). Nothing here sends anything: `delivery` does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rds_xacct.model.constants import APP_NAME, QUOTA_WARN_FRACTION, RECONCILE_MAX_STARTS_PER_DAY

if TYPE_CHECKING:
    from rds_xacct.aws.quotas import QuotaUsage

SUBJECT_LIMIT = 99
"""SNS subjects are under 100 characters."""

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


@dataclass(frozen=True)
class Message:
    """One message, as every channel needs it."""

    subject: str
    """One line (SNS's subject: ASCII, under 100 characters for a run's message)."""
    body: str
    """Plain text people read."""
    attributes: dict[str, str] = field(default_factory=dict)
    """Filterable attributes (SNS message attributes; empty values are left out)."""
    slack: dict[str, Any] | None = None
    """The Slack payload (Block Kit, or plain `text`); None: the message is not for chat."""


# --- A run's message --------------------------------------------------------------------------
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


def run_message(summary: dict[str, Any]) -> Message:
    """A run's message: to SNS (filterable by outcome, database and engine) and to Slack."""
    engine = (summary.get("source") or {}).get("engine")
    return Message(
        subject=subject(summary),
        body=sns_body(summary),
        attributes={
            "outcome": str(summary["outcome"]),
            "database": _database(summary),
            "engine": str(engine or ""),
        },
        slack=slack_blocks(summary),
    )


# --- Notices ----------------------------------------------------------------------------------
def quota_warning(usage: QuotaUsage) -> Message:
    """A manual snapshot quota past QUOTA_WARN_FRACTION: to SNS and, as plain text, to Slack."""
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
    return Message(
        subject=headline[:SUBJECT_LIMIT],
        body=body,
        attributes={"outcome": "quota-warning"},
        slack={"text": f"{headline}\n{body}"},
    )


def sweep_report(result: dict[str, Any]) -> Message | None:
    """The daily sweep, when it deleted something or hit a problem (SNS only); else None."""
    deleted, problems = result["deleted"], result["problems"]
    if not (deleted or problems):
        return None
    headline = f"[{APP_NAME}] Swept: {len(deleted)} copies past their time deleted"
    body = "\n".join(
        [
            "Copies no run would delete any more (a stopped or lost run), deleted by the "
            "daily sweep:",
            *[f"  deleted  {arn}" for arn in deleted],
            *[f"  problem  {problem}" for problem in problems],
        ]
    )
    outcome = "swept" if not problems else "sweep-problems"
    return Message(headline[:SUBJECT_LIMIT], body, {"outcome": outcome})


def reconcile_report(result: dict[str, Any]) -> Message | None:
    """The daily reconciliation, when it started runs, left some over or hit a problem (SNS
    only); else None."""
    started, over, problems = result["started"], result["overCap"], result["problems"]
    if not (started or over or problems):
        return None
    headline = f"[{APP_NAME}] Reconciled: {len(started)} runs started for missed events"
    count = len(result["alreadyStarted"])
    already = f"; {count} already started by another reconciliation" if count else ""
    body = [
        f"The daily reconciliation looked at {result['looked']} source snapshots made from "
        f"{result['from']} to {result['to']} ({result['copied']} already copied, "
        f"{result['runs']} with a run, {result['excluded']} left out by the selection"
        f"{already}).",
        *[
            f"  started   {s['database']}: {s['source']} (made {s['createdAt']}, no event "
            f"arrived) -> {s['execution']}"
            for s in started
        ],
        *[
            f"  not yet   {arn}: over the limit of {RECONCILE_MAX_STARTS_PER_DAY} runs a day; "
            f'tomorrow, invoke the reconciler with {{"lookbackHours": 50}} to start it'
            for arn in over
        ],
        *[f"  problem   {problem}" for problem in problems],
    ]
    outcome = "reconcile-problems" if problems or over else "reconciled"
    return Message(headline[:SUBJECT_LIMIT], "\n".join(body), {"outcome": outcome})
