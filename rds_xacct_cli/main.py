"""`rds-xacct`: the commands and their options (typer). Each command reads its options, asks
rds_xacct.jobs and prints (rds_xacct_cli.render).

Exit codes: 0 all is well; 1 something needs a look (a database stale or failing, a run that
could not be started); 2 the command was used wrongly; 3 AWS or the deployment could not be
read (the message says what and why).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from botocore.exceptions import BotoCoreError

from rds_xacct.jobs import backfill as backfilling
from rds_xacct.jobs import runs
from rds_xacct.model import errors
from rds_xacct.model.arns import Arn
from rds_xacct.model.constants import (
    BACKFILL_DEFAULT_DAYS,
    RECONCILE_MIN_AGE_MINUTES,
    RECOVERY_POINT_OBJECTIVE_HOURS,
)
from rds_xacct_cli import render, rollout
from rds_xacct_cli.context import Operator, default_stack_name

OK, ATTENTION, USAGE, UNREADABLE = 0, 1, 2, 3

app = typer.Typer(
    name="rds-xacct",
    help="Operate rds-xacct: see every database's newest backup copy, copy old snapshots, "
    "copy one now, and explain a run.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    profile: Annotated[
        str | None, typer.Option(help="AWS profile of the main account (default: the SDK's).")
    ] = None,
    region: Annotated[
        str | None, typer.Option(help="Region of the deployment (default: the profile's).")
    ] = None,
    stack_name: Annotated[
        str | None,
        typer.Option(help="The main stack (default: samconfig.toml's stack_name, else rds-xacct)."),
    ] = None,
    backup_profile: Annotated[
        str | None,
        typer.Option(
            help="AWS profile of the backup account, to read its copies (status, backfill); "
            "used in the region the copies land in."
        ),
    ] = None,
) -> None:
    """Options every command shares. (The simulation and the tests give their own Operator.)"""
    if ctx.obj is None:
        ctx.obj = lambda: Operator.from_options(
            profile=profile,
            region=region,
            stack_name=stack_name or default_stack_name(),
            backup_profile=backup_profile,
        )


def _operator(ctx: typer.Context) -> Operator:
    if not isinstance(ctx.obj, Operator):
        ctx.obj = ctx.obj()
    operator: Operator = ctx.obj
    return operator


@contextmanager
def _reading() -> Iterator[None]:
    """AWS or the deployment could not be read: say why, exit 3."""
    try:
        yield
    except (errors.PipelineError, BotoCoreError) as error:
        render.console(stderr=True).print(f"rds-xacct: {error}")
        raise typer.Exit(UNREADABLE) from error


_AGO = re.compile(r"^(\d+(?:\.\d+)?)\s*([dhm])$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def moment(text: str, now: datetime) -> datetime:
    """A time given as `7d`, `36h` or `90m` (ago), or in ISO 8601 (`2026-11-01`,
    `2026-11-01T02:00`, `…Z` or with an offset; UTC when it has none)."""
    ago = _AGO.match(text.strip())
    if ago:
        return now - timedelta(**{_UNITS[ago[2]]: float(ago[1])})
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as error:
        raise typer.BadParameter(
            f"{text!r} is neither a time ago (7d, 36h, 90m) nor an ISO 8601 date or time"
        ) from error
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


@app.command()
def status(
    ctx: typer.Context,
    rpo_hours: Annotated[
        float | None,
        typer.Option(
            min=1,
            help="Recovery point objective in hours (default: the stack's "
            f"RecoveryPointObjectiveHours, else {RECOVERY_POINT_OBJECTIVE_HOURS}).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Every database the deployment covers: its newest copy in the backup account and its age
    against the RPO, runs in flight and their step, the last failure and why. Exits 1 when a
    database is stale or failing (for a cron job or a CI check)."""
    operator = _operator(ctx)
    with _reading():
        found = operator.status(rpo_hours)
    if as_json:
        render.print_json(found.to_dict())
    else:
        render.print_status(render.console(), found)
    if found.needs_a_look:
        raise typer.Exit(ATTENTION)


@app.command()
def backfill(
    ctx: typer.Context,
    *,
    database: Annotated[
        list[str] | None,
        typer.Option(
            "--database",
            "-d",
            help="A database or cluster identifier, or a pattern (orders-*); repeat for more "
            "(default: every database the deployment copies).",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help=f"Snapshots made from (7d, 36h, 2026-11-01; default {BACKFILL_DEFAULT_DAYS}d)."
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help=f"Snapshots made until (default {RECONCILE_MIN_AGE_MINUTES}m ago)."),
    ] = None,
    start: Annotated[
        bool,
        typer.Option("--start", help="Start the runs (without it: a dry run that only lists)."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Copy existing snapshots: AWS Backup's and, where the deployment copies them, native ones,
    of chosen databases in a time range, one run each with the input the rule gives. A dry run
    unless --start; a second backfill starts nothing the first one started or copied."""
    operator = _operator(ctx)
    now = operator.now()
    first = moment(since, now) if since else now - timedelta(days=BACKFILL_DEFAULT_DAYS)
    last = moment(until, now) if until else now - timedelta(minutes=RECONCILE_MIN_AGE_MINUTES)
    if first >= last:
        raise typer.BadParameter("--since must be before --until")
    out, bar = render.console(), render.console(stderr=True)
    with _reading(), render.progress_bar(bar) as told:
        deployment = operator.deployment
        found = backfilling.listing(
            deployment,
            accounts=backfilling.OperatorAccounts(
                operator.client("rds"), operator.backup_client("rds")
            ),
            backup=operator.client("backup"),
            sfn=operator.client("stepfunctions"),
            since=first,
            until=last,
            databases=database or (),
            now=operator.now,
            progress=told,
        )
        started = None
        if start and found.to_start:
            started = backfilling.start(
                deployment,
                found.to_start,
                sfn=operator.client("stepfunctions"),
                sleep=operator.sleep,
                progress=told,
            )
    if as_json:
        render.print_json(
            {**render.listing_data(found), **(render.started_data(started) if started else {})}
        )
    else:
        render.print_listing(out, found)
        if started is not None:
            render.print_started(out, started)
        elif found.to_start:
            out.print(
                f"Dry run: nothing started. Add --start to start {len(found.to_start)} run(s)."
            )
    if started is not None and started.problems:
        raise typer.Exit(ATTENTION)


@app.command()
def run(
    ctx: typer.Context,
    snapshot: Annotated[str, typer.Argument(help="The snapshot's ARN or identifier.")],
    as_json: JsonOption = False,
) -> None:
    """Copy one snapshot now, with the input the rule gives."""
    operator = _operator(ctx)
    with _reading():
        started = backfilling.run_one(
            operator.deployment,
            snapshot,
            main_rds=operator.client("rds"),
            sfn=operator.client("stepfunctions"),
            now=operator.now,
        )
    if as_json:
        render.print_json(started)
        return
    out = render.console()
    if not started["started"]:
        out.print(f"A run of {snapshot} was started this very second: {started['execution']}")
        raise typer.Exit(ATTENTION)
    out.print(f"Started {started['execution']}")
    out.print(f"Follow it: rds-xacct explain {Arn.name_of(started['execution'])}")


@app.command()
def explain(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="RUN", help="The run's name or ARN.")],
    as_json: JsonOption = False,
) -> None:
    """Where a run is or stopped, its error, what it left in each account, and the fix."""
    operator = _operator(ctx)
    with _reading():
        found = runs.explain(
            operator.client("stepfunctions"), operator.deployment.state_machine_arn, name
        )
    if as_json:
        render.print_json(render.explain_data(found))
    else:
        render.print_explained(render.console(), found)


@app.command("stackset-template")
def stackset_template(
    packaged: Annotated[Path, typer.Argument(help="`sam package`'s output template.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the processed template.")
    ] = Path("processed.json"),
    region: Annotated[
        str, typer.Option(help="A region of the partition the stack set deploys in.")
    ] = "us-east-1",
) -> None:
    """Write the main stack as plain CloudFormation (no SAM transform), for a StackSet with
    service-managed permissions (docs/regions-and-accounts.md, "Rolling the main stack out")."""
    try:
        processed = rollout.processed_template(packaged.read_text(), region)
    except (OSError, rollout.NotPackaged) as error:
        render.console(stderr=True).print(f"[red]{error}[/red]")
        raise typer.Exit(USAGE) from error
    text = json.dumps(processed, indent=1)
    output.write_text(text)
    size = len(text.encode())
    render.console().print(
        f"{output}: {size:,} bytes, {len(processed['Resources'])} resources; upload it to S3 and "
        f"give its URL as --template-url (a template over {rollout.TEMPLATE_BODY_LIMIT:,} bytes "
        "can't be a --template-body)."
    )
