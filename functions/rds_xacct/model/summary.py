"""The run summary: what a run did, for operators, notifications and the execution's output."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from rds_xacct.model import error_table
from rds_xacct.model.arns import Arn
from rds_xacct.model.times import iso, parse_iso

OUTCOMES = ("succeeded", "failed", "skipped", "timed-out", "aborted")


def failed_step(state: Mapping[str, Any]) -> str:
    """The state that failed, read from which results the run had when it failed: each Task
    writes its result only when it succeeds."""
    intermediate, backup = state.get("intermediate") or {}, state.get("backup") or {}
    slots = state.get("slots") or {}
    steps = [
        ("DescribeSource", "job" in state),
        ("WaitForMainSlot", bool(slots.get("main"))),
        ("CopyIntermediate", bool(intermediate)),
        ("CheckIntermediate", bool(intermediate.get("ready"))),
        ("Share", bool(intermediate.get("sharedWith"))),
        ("WaitForBackupSlot", bool(slots.get("backup"))),
        ("CopyBackup", bool(backup)),
        ("CheckBackup", bool(backup.get("ready"))),
        ("DeleteIntermediate", "deletedAt" in intermediate),
    ]
    for step, done in steps:
        if not done:
            return step
    return "DeleteBackup"


def _error(state: Mapping[str, Any]) -> tuple[str, str]:
    """(error name, plain message) from a Catch's `{"Error", "Cause"}`."""
    error = state.get("error") or {}
    name = str(error.get("Error", "Unknown"))
    cause = error.get("Cause", "")
    try:
        parsed = json.loads(cause) if isinstance(cause, str) and cause.startswith("{") else None
    except json.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        return str(parsed.get("errorType", name)), str(parsed["errorMessage"])
    return name, str(cause or name)


def _cleanup_failed(state: Mapping[str, Any]) -> dict[str, Any] | None:
    """What a failed Cleanup's Catch left (`cleanupError`), as a cleanup problem."""
    if not state.get("cleanupError"):
        return None
    error, message = _error({"error": state["cleanupError"]})
    return {"actions": [], "problems": [f"Cleanup failed ({error}): {message}"]}


_CONSOLES = {
    "aws": "{region}.console.aws.amazon.com",
    # China: the console of Amazon Web Services China (its domain is amazonaws.cn, "General
    # Information About Amazon Web Services China"); GovCloud: the console of AWS GovCloud (US)
    # ("Accessing the AWS GovCloud (US) Regions", sign-in at signin.amazonaws-us-gov.com).
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}


def console_url(execution_arn: str) -> str:
    """The run in the Step Functions console of the execution's own partition and region."""
    try:
        arn = Arn.parse(execution_arn)
        partition, region = arn.partition, arn.region
    except ValueError:
        partition, region = "aws", "us-east-1"
    host = _CONSOLES.get(partition, _CONSOLES["aws"]).format(region=region)
    return f"https://{host}/states/home?region={region}#/v2/executions/details/{execution_arn}"


def _seconds_between(start: str | None, end: str | None) -> int | None:
    if not start or not end:
        return None
    return int((parse_iso(end) - parse_iso(start)).total_seconds())


def build_summary(
    state: Mapping[str, Any], *, outcome: str, execution_arn: str, now: datetime
) -> dict[str, Any]:
    """The summary of a run, from its state when it ended."""
    job = state.get("job") or {}
    source = job.get("source") or {}
    intermediate = state.get("intermediate") or {}
    backup = state.get("backup") or {}
    started = job.get("startedAt")
    finished = iso(now)
    summary: dict[str, Any] = {
        "outcome": outcome,
        "execution": {
            "name": Arn.name_of(execution_arn),
            "arn": execution_arn,
            "consoleUrl": console_url(execution_arn),
        },
        "origin": job.get("origin"),
        "source": {
            key: source.get(key)
            for key in ("arn", "database", "engine", "kind", "sizeGiB", "createdAt", "encrypted")
        },
        "intermediateCopy": {
            key: intermediate.get(key)
            for key in ("arn", "sizeGiB", "copyStartedAt", "availableAt", "deletedAt")
        }
        if intermediate
        else None,
        "backupCopy": {
            key: backup.get(key)
            for key in (
                "arn",
                "sizeGiB",
                "copyStartedAt",
                "availableAt",
                "expiresAt",
                "action",
                "note",
                "keptUntil",
            )
        }
        if backup
        else None,
        "expiresAt": backup.get("expiresAt"),
        "retentionDays": job.get("retentionDays"),
        "startedAt": started,
        "finishedAt": finished,
        "durations": {
            "intermediateCopySeconds": _seconds_between(
                intermediate.get("copyStartedAt"), intermediate.get("availableAt")
            ),
            "backupCopySeconds": _seconds_between(
                backup.get("copyStartedAt"), backup.get("availableAt")
            ),
            "totalSeconds": _seconds_between(started, finished),
        },
        "skipReason": job.get("skipped"),
        "notes": list(job.get("notes") or []),
        "warnings": list(job.get("warnings") or []),
        "failure": None,
        "cleanup": state.get("cleanup") or _cleanup_failed(state),
    }
    event = state.get("event")
    if not job and event is not None:
        # The run failed before DescribeSource understood its input: say what arrived.
        if isinstance(event, dict):
            resources = event.get("resources") or []
            summary["event"] = {
                "id": event.get("id"),
                "source": event.get("source"),
                "detailType": event.get("detail-type"),
                "resources": resources,
            }
            summary["source"]["arn"] = resources[0] if resources else None
        else:
            summary["event"] = {"input": json.dumps(event)[:500]}
    if outcome == "failed":
        name, message = _error(state)
        summary["failure"] = {
            "step": failed_step(state),
            "error": name,
            "message": message,
            "hint": error_table.hint(name),
        }
    return summary


MAIN, BACKUP = "main", "backup"
"""The accounts `left_behind` speaks of."""


def left_behind(summary: Mapping[str, Any]) -> dict[str, list[str]]:
    """What a run left in each account, from its summary (its copies, and what its cleanup did
    or could not do): the words `rds-xacct explain` prints."""
    cleanup = summary.get("cleanup")
    intermediate = summary.get("intermediateCopy") or {}
    backup = summary.get("backupCopy") or {}
    said: dict[str, list[str]] = {MAIN: [], BACKUP: []}
    for line in [*(cleanup or {}).get("actions", []), *(cleanup or {}).get("problems", [])]:
        said[_account_of(line, intermediate.get("arn"), backup.get("arn"))].append(
            f"cleanup: {line}"
        )
    unrecorded = cleanup is None and summary.get("outcome") != "succeeded"
    for account, copy, noun in ((MAIN, intermediate, "intermediate"), (BACKUP, backup, "backup")):
        lines = said[account]
        if unrecorded:
            made = f"the {noun} copy {copy['arn']}" if copy else f"no {noun} copy recorded"
            lines.insert(0, f"{made}: {_unsaid(cleanup)}")
        elif not copy:
            lines.insert(0, f"no {noun} copy was made")
        elif copy.get("deletedAt"):
            lines.insert(0, f"nothing: the run deleted {copy.get('arn')}")
        elif account == BACKUP and summary.get("outcome") == "succeeded":
            until = summary.get("expiresAt") or "for good (retention 0)"
            lines.insert(0, f"the backup copy {copy.get('arn')}, kept until {until}")
        elif not any(f"{noun} copy" in line or str(copy.get("arn")) in line for line in lines):
            lines.insert(0, f"the {noun} copy {copy.get('arn')}: {_unsaid(cleanup)}")
    return said


def _account_of(line: str, intermediate_arn: str | None, backup_arn: str | None) -> str:
    """The account a cleanup line is about: the copy it names (by ARN, else by its label);
    copy slots live in the main account's table, whichever pool they are of."""
    if backup_arn and backup_arn in line:
        return BACKUP
    if intermediate_arn and intermediate_arn in line:
        return MAIN
    return BACKUP if "backup copy" in line and "slot" not in line else MAIN


def _unsaid(cleanup: Any) -> str:
    """About a copy a failed run's cleanup said nothing of."""
    if cleanup is None:
        return (
            "the run recorded no cleanup: a run stopped, or failed with an error no Catch "
            "handles, is cleaned up by the stopped-run rule's Notify function (see its log and "
            "the run's notification)"
        )
    return "its cleanup found it gone"
