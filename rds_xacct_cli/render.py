"""How the command prints: rich tables for people, JSON for machines (`--json`), a progress bar
on standard error (so that standard output stays the result)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rds_xacct.jobs.backfill import Listing, Started, entry
from rds_xacct.jobs.backfill import Progress as Told
from rds_xacct.jobs.runs import Run
from rds_xacct.jobs.status import FAILING, NEVER_COPIED, OK, STALE, DatabaseStatus, Status
from rds_xacct.model.arns import Arn
from rds_xacct.model.summary import BACKUP, MAIN

WIDTH_WHEN_PIPED = 160
"""Columns of the output when it is not a terminal (a file, a pipe, a cron job's mail)."""


def console(*, stderr: bool = False) -> Console:
    """A console on standard output (or error), as wide as the terminal, else 160 columns."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or os.environ.get("COLUMNS") else WIDTH_WHEN_PIPED
    return Console(file=stream, width=width, soft_wrap=False, highlight=False, markup=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def when(moment: datetime | str | None) -> str:
    """`2026-11-24 02:30Z`, or `-`."""
    if moment is None:
        return "-"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ")


def hours(value: float | None) -> str:
    """`3.5 h`, `2 d 4 h` from two days, or `-`."""
    if value is None:
        return "-"
    if value >= 48:
        days, rest = divmod(round(value), 24)
        return f"{days} d {rest} h"
    return f"{value:.1f} h"


@contextmanager
def progress_bar(out: Console) -> Iterator[Told]:
    """A progress bar per kind of work (what, done, of), removed when the work is done."""
    bars: dict[str, Any] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out,
        transient=True,
    ) as shown:

        def tell(what: str, done: int, of: int) -> None:
            if what not in bars:
                bars[what] = shown.add_task(what, total=of)
            shown.update(bars[what], completed=done, total=of)

        yield tell


# --- backfill -------------------------------------------------------------------------------------
def listing_data(found: Listing) -> dict[str, Any]:
    return {
        "since": found.since.isoformat(),
        "until": found.until.isoformat(),
        "toStart": [entry(c) for c in found.to_start],
        "copied": [entry(c) for c in found.copied],
        "withRun": [entry(c) for c in found.with_run],
        "notKeptByAwsBackup": [entry(c) for c in found.not_kept],
        "excludedBySelection": found.excluded,
    }


def print_listing(out: Console, found: Listing) -> None:
    table = Table(title=f"Snapshots to copy, made {when(found.since)} to {when(found.until)}")
    for column in ("Database", "Kind", "Origin", "Made", "GiB", "Snapshot"):
        table.add_column(column, justify="right" if column == "GiB" else "left")
    for candidate in found.to_start:
        snapshot = candidate.snapshot
        table.add_row(
            snapshot.database,
            snapshot.kind,
            candidate.origin,
            when(snapshot.created_at),
            str(snapshot.size_gib),
            snapshot.identifier,
        )
    if found.to_start:
        out.print(table)
    out.print(
        f"{len(found.to_start)} to copy; skipped: {len(found.copied)} already copied, "
        f"{len(found.with_run)} with a run, {len(found.not_kept)} that AWS Backup no longer "
        f"keeps, {found.excluded} of databases the deployment does not copy"
    )


def started_data(started: Started) -> dict[str, Any]:
    return {
        "started": started.started,
        "alreadyStarted": started.already_started,
        "problems": started.problems,
    }


def print_started(out: Console, started: Started) -> None:
    out.print(
        f"Started {len(started.started)} run(s); {len(started.already_started)} already "
        f"started by an earlier backfill; {len(started.problems)} problem(s)."
    )
    for problem in started.problems:
        out.print(f"  problem: {problem}")
    if started.started:
        out.print(
            "The runs wait for copy slots like any run (MaxCopiesInFlight per account): "
            "follow them with `rds-xacct status`."
        )


# --- explain --------------------------------------------------------------------------------------
def explain_data(run: Run) -> dict[str, Any]:
    return {**run.to_dict(), "leftBehind": run.left_behind, "consoleUrl": run.console_url}


def print_explained(out: Console, run: Run) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    rows = [
        ("Run", f"{run.name} ({run.status})"),
        ("Database", f"{run.database or '-'} ({run.kind or '?'})"),
        ("Source snapshot", run.source_arn or "-"),
        ("Started", when(run.started_at)),
        ("Ended", when(run.stopped_at)),
        ("Step", run.step or "-"),
    ]
    if run.error:
        rows += [("Error", run.error), ("Message", run.reason or "-"), ("Fix", run.hint or "-")]
    if run.status != "RUNNING":
        left = run.left_behind
        rows += [
            ("Main account", "\n".join(left[MAIN]) or "-"),
            ("Backup account", "\n".join(left[BACKUP]) or "-"),
        ]
    rows.append(("Console", run.console_url))
    for label, value in rows:
        table.add_row(label, value)
    out.print(table)


# --- status ---------------------------------------------------------------------------------------
VERDICTS = {OK: "ok", STALE: "STALE", NEVER_COPIED: "NEVER COPIED", FAILING: "FAILING"}
REASON_WIDTH = 70


def _copy(line: DatabaseStatus) -> str:
    if line.newest_copy is None:
        return "-"
    return f"{Arn.name_of(line.newest_copy)}\ndata of {when(line.recovery_point)}"


def _flying(line: DatabaseStatus) -> str:
    steps = [run.step or "starting" for run in line.in_flight]
    return f"{len(steps)}: {', '.join(dict.fromkeys(steps))}" if steps else "-"


def _last_failure(line: DatabaseStatus) -> str:
    run = line.last_failure
    if run is None:
        return "-"
    reason = " ".join((run.reason or "").split())
    if len(reason) > REASON_WIDTH:
        reason = reason[: REASON_WIDTH - 3] + "..."
    return f"{when(run.started_at)} at {run.step or '?'}: {run.error or run.status}\n{reason}"


def print_status(out: Console, status: Status) -> None:
    table = Table(title=f"rds-xacct status, {when(status.looked_at)} (RPO {status.rpo_hours:g} h)")
    for column in ("Database", "Kind", "Newest copy", "Age", "In flight", "Last failure", ""):
        table.add_column(column, overflow="fold")
    for line in status.databases:
        table.add_row(
            line.database,
            line.kind,
            _copy(line),
            hours(line.age_hours),
            _flying(line),
            _last_failure(line),
            VERDICTS.get(line.verdict, line.verdict),
        )
    out.print(table)
    attention = status.needs_a_look
    flying = sum(len(line.in_flight) for line in status.databases)
    out.print(
        f"{len(status.databases)} database(s), {len(attention)} needing a look "
        f"({', '.join(f'{d.database}: {VERDICTS[d.verdict]}' for d in attention) or 'none'}); "
        f"{flying} run(s) in flight."
    )
    for line in attention:
        if line.failing and line.last_failure is not None:
            out.print(
                f"{line.database}: {line.last_failure.hint or ''} "
                f"(rds-xacct explain {line.last_failure.name})"
            )
