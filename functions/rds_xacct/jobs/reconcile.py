"""The daily reconciliation: a run for every recent source snapshot whose event went missing.

AWS Backup and RDS deliver their events to EventBridge on a best-effort basis: an event that
never arrives means no run, no copy and no notification. Once a day this looks at the source
snapshots of the last `RECONCILE_LOOKBACK_HOURS` that the deployment copies (AWS Backup
snapshots always; native automated or manual ones when their `CopyRds…` parameter is on; the
databases the include/exclude patterns and the selection tag choose: rds_xacct.model.selection)
and, for each that has

* no copy made by the app (an intermediate copy in the main account or a backup copy in the
  backup account, by the `rds-xacct:source-arn` tag or the copy's deterministic name), and
* no run (running or ended, read from each run's input: the event it was started with),

starts a run with the event the source would have sent, built here, marked in
`detail["rds-xacct:reconciled"]`. Each run so started has a deterministic name
(`reconcile-<database>-<time>-<hash>`), so a second reconciliation finds it, and Step Functions
refuses the name twice. Not always: StartExecution with the name *and input* of a running
execution succeeds and returns that execution (StartExecution API reference: "idempotent for
STANDARD workflows ... if you call StartExecution with the same name and input as a running
execution, the call succeeds and return the same response as the original request. If the
execution is closed or if the input is different, it returns a 400 ExecutionAlreadyExists
error"). So each look marks its events with its own id (the mark's text): a run another look
started (two reconciliations at once: the scheduler delivers at least once) is refused,
`ExecutionAlreadyExists`, and counted `alreadyStarted`; a start answered with an existing run
is this look's own request sent twice (the SDK retrying a lost answer), the run it started.
At most `RECONCILE_MAX_STARTS_PER_DAY` in any 24 hours; the rest are
named in the report. One SNS message when it started something or hit a problem, none when all
is well.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from rds_xacct.aws.accounts import Accounts
from rds_xacct.aws.clients import aws_call, default_client
from rds_xacct.messages import notify
from rds_xacct.model import errors
from rds_xacct.model.constants import (
    APP_NAME,
    COPY_ID_PREFIX,
    MAX_EXECUTION_NAME,
    NAME_HASH_LENGTH,
    RECONCILE_EXECUTION_PREFIX,
    RECONCILE_LOOKBACK_HOURS,
    RECONCILE_MAX_LOOKBACK_HOURS,
    RECONCILE_MAX_STARTS_PER_DAY,
    RECONCILE_MIN_AGE_MINUTES,
    RECONCILED_FIELD,
    TAG_SOURCE_ARN,
)
from rds_xacct.model.naming import copy_identifier, sanitise, source_arn_tag
from rds_xacct.model.ownership import is_app_snapshot
from rds_xacct.model.selection import skip_reason
from rds_xacct.model.settings import ENV_STATE_MACHINE_ARN, ConfigurationError, Settings
from rds_xacct.model.snapshot import Snapshot
from rds_xacct.model.state import Kind
from rds_xacct.model.times import Clock, iso, utc_now
from rds_xacct.pipeline.events import (
    BACKUP_DETAIL_TYPE,
    BACKUP_RESOURCE_TYPES,
    BACKUP_SOURCE,
    ORIGIN_AWS_BACKUP,
    ORIGIN_RDS_AUTOMATED,
    ORIGIN_RDS_MANUAL,
    OTHER_ENGINES,
    RDS_CLUSTER_SNAPSHOT_DETAIL_TYPE,
    RDS_EVENT_IDS,
    RDS_SNAPSHOT_DETAIL_TYPE,
    RDS_SOURCE,
    SNAPSHOT_TYPES,
    parse_event,
)

ENV_NATIVE: dict[tuple[Kind, str], str] = {
    ("db", ORIGIN_RDS_AUTOMATED): "COPY_RDS_AUTOMATED_SNAPSHOTS",
    ("db", ORIGIN_RDS_MANUAL): "COPY_RDS_MANUAL_SNAPSHOTS",
    ("cluster", ORIGIN_RDS_AUTOMATED): "COPY_RDS_AUTOMATED_CLUSTER_SNAPSHOTS",
    ("cluster", ORIGIN_RDS_MANUAL): "COPY_RDS_MANUAL_CLUSTER_SNAPSHOTS",
}
"""The template's `CopyRds…` parameters, as the reconciler's environment gives them."""

_AWS_BACKUP_PREFIX = "awsbackup:"
_EXECUTIONS_SLACK = timedelta(hours=1)
"""Runs are listed from this long before the oldest snapshot looked at (a clock's skew)."""
_DAY = timedelta(days=1)
_KINDS: tuple[Kind, ...] = ("db", "cluster")


@dataclass(frozen=True)
class Scope:
    """What the deployment copies beyond AWS Backup snapshots, and the state machine to start."""

    state_machine_arn: str
    native: frozenset[tuple[Kind, str]] = frozenset()
    """(kind, origin) of the native snapshots the deployment copies, e.g. ("db", "rds-manual")."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Scope:
        env = os.environ if env is None else env
        arn = env.get(ENV_STATE_MACHINE_ARN, "")
        if not arn.startswith("arn:") or ":stateMachine:" not in arn:
            raise ConfigurationError(f"{ENV_STATE_MACHINE_ARN} must be a state machine ARN")
        native = frozenset(
            key for key, name in ENV_NATIVE.items() if env.get(name, "").lower() == "true"
        )
        return cls(state_machine_arn=arn, native=native)


@dataclass(frozen=True)
class Candidate:
    """A recent source snapshot of a chosen database, and the event it would have sent."""

    snapshot: Snapshot
    origin: str

    @property
    def copy_id(self) -> str:
        assert self.snapshot.created_at is not None
        return copy_identifier(
            source_arn=self.snapshot.arn,
            database=self.snapshot.database or self.snapshot.identifier,
            created_at=self.snapshot.created_at,
            kind=self.snapshot.kind,
        )


@dataclass
class Runs:
    """What the state machine's runs say: the sources they were started for, and how many runs
    reconciliation started in the last 24 hours."""

    sources: set[str] = field(default_factory=set)
    started_by_reconciliation: int = 0


# --- Names and events ---------------------------------------------------------------------------
def execution_name(snapshot: Snapshot) -> str:
    """`reconcile-<database>-<YYYYMMDDHHMMSS>-<hash>`: deterministic, at most 80 characters of
    letters, digits and hyphens (Step Functions' rules, and CloudWatch Logs' for its names)."""
    assert snapshot.created_at is not None
    digest = hashlib.sha256(snapshot.arn.encode()).hexdigest()[:NAME_HASH_LENGTH]
    stamp = snapshot.created_at.astimezone(UTC).strftime("%Y%m%d%H%M%S")
    suffix = f"-{stamp}-{digest}"
    room = MAX_EXECUTION_NAME - len(RECONCILE_EXECUTION_PREFIX) - 1 - len(suffix)
    middle = sanitise(snapshot.database or snapshot.identifier)[:room].rstrip("-") or "db"
    return f"{RECONCILE_EXECUTION_PREFIX}-{middle}{suffix}"


def _database_arn(snapshot: Snapshot) -> str:
    parts = snapshot.arn.split(":")
    arn_type = "cluster" if snapshot.kind == "cluster" else "db"
    return ":".join([*parts[:5], arn_type, snapshot.database])


def build_event(candidate: Candidate, look: str = "") -> dict[str, Any]:
    """The EventBridge event the source would have sent for this snapshot, in the shape AWS
    Backup or RDS delivers (tests/events), marked as built by reconciliation `look` (its id, in
    the mark's text). Deterministic: the same snapshot and look always give the same event."""
    snapshot = candidate.snapshot
    assert snapshot.created_at is not None
    parts = snapshot.arn.split(":")
    when = iso(snapshot.created_at)
    by = f"the daily {APP_NAME} reconciliation" + (f" {look}" if look else "")
    mark = {RECONCILED_FIELD: f"no event arrived; built by {by}"}
    common = {
        "version": "0",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{APP_NAME}:reconcile:{snapshot.arn}")),
        "account": parts[4],
        "time": when,
        "region": parts[3],
        "resources": [snapshot.arn],
    }
    if candidate.origin == ORIGIN_AWS_BACKUP:
        resource_type = next(t for t, k in BACKUP_RESOURCE_TYPES.items() if k == snapshot.kind)
        return {
            **common,
            "detail-type": BACKUP_DETAIL_TYPE,
            "source": BACKUP_SOURCE,
            "detail": {
                "backupJobId": snapshot.identifier.removeprefix(f"{_AWS_BACKUP_PREFIX}job-"),
                "creationDate": when,
                "resourceArn": _database_arn(snapshot),
                "resourceType": resource_type,
                "state": "COMPLETED",
                "percentDone": "100.0",
                "recoveryPointArn": snapshot.arn,
                **mark,
            },
        }
    event_id = next(
        e
        for e, (kind, origin) in RDS_EVENT_IDS.items()
        if (kind, origin) == (snapshot.kind, candidate.origin)
    )
    cluster = snapshot.kind == "cluster"
    automated = candidate.origin == ORIGIN_RDS_AUTOMATED
    return {
        **common,
        "detail-type": RDS_CLUSTER_SNAPSHOT_DETAIL_TYPE if cluster else RDS_SNAPSHOT_DETAIL_TYPE,
        "source": RDS_SOURCE,
        "detail": {
            "EventCategories": ["backup" if cluster else "creation"],
            "SourceType": "CLUSTER_SNAPSHOT" if cluster else "SNAPSHOT",
            "SourceArn": snapshot.arn,
            "Date": when,
            "Message": f"{'Automated' if automated else 'Manual'} "
            f"{'cluster ' if cluster else ''}snapshot created",
            "SourceIdentifier": snapshot.identifier,
            "EventID": event_id,
            **mark,
        },
    }


# --- Looking ------------------------------------------------------------------------------------
def _is_app_copy(snapshot: Snapshot) -> bool:
    return is_app_snapshot(snapshot.tags) or snapshot.identifier.startswith(f"{COPY_ID_PREFIX}-")


def _origin(snapshot: Snapshot) -> str | None:
    if snapshot.identifier.startswith(_AWS_BACKUP_PREFIX) or snapshot.snapshot_type == "awsbackup":
        return ORIGIN_AWS_BACKUP
    if snapshot.snapshot_type == "automated":
        return ORIGIN_RDS_AUTOMATED
    if snapshot.snapshot_type == "manual":
        return ORIGIN_RDS_MANUAL
    return None


def _listings(kind: Kind, scope: Scope) -> list[str]:
    """The snapshot types to list for a kind. AWS Backup's DB snapshots have their own type,
    `awsbackup`; its cluster snapshots are `manual` ones named `awsbackup:job-…`
    (DescribeDBSnapshots / DescribeDBClusterSnapshots, SnapshotType)."""
    types = ["awsbackup"] if kind == "db" else ["manual"]
    for origin in (ORIGIN_RDS_AUTOMATED, ORIGIN_RDS_MANUAL):
        listed = SNAPSHOT_TYPES[(origin, kind)]
        if (kind, origin) in scope.native and listed and listed not in types:
            types.append(listed)
    return types


def candidates(
    accounts: Accounts, scope: Scope, settings: Settings, since: datetime, until: datetime
) -> tuple[list[Candidate], int]:
    """The source snapshots made in [since, until] that the deployment copies, oldest first,
    and how many more were left out by the selection."""
    found: dict[str, Candidate] = {}
    excluded = 0
    tags_of: dict[tuple[Kind, str], dict[str, str]] = {}
    for kind in _KINDS:
        api = accounts.main(kind)
        for snapshot_type in _listings(kind, scope):
            for snapshot in api.list_of_type(snapshot_type):
                origin = _origin(snapshot)
                created = snapshot.created_at
                if (
                    origin is None
                    or (origin != ORIGIN_AWS_BACKUP and (kind, origin) not in scope.native)
                    or _is_app_copy(snapshot)
                    # DocumentDB and Neptune (listed by RDS's API too): never copied, and their
                    # jobs' events never start a run, so each would be "missed" every day
                    or snapshot.engine in OTHER_ENGINES
                    or not snapshot.available
                    or created is None
                    or not since <= created <= until
                    or snapshot.arn in found
                ):
                    continue
                key = (kind, snapshot.database)
                if key not in tags_of:
                    tags_of[key] = api.database_tags(snapshot)
                if skip_reason(settings, snapshot.database, tags_of[key]):
                    excluded += 1
                    continue
                found[snapshot.arn] = Candidate(snapshot, origin)
    ordered = sorted(found.values(), key=lambda c: (c.snapshot.created_at, c.snapshot.arn))
    return ordered, excluded


def copies(accounts: Accounts) -> tuple[set[str], set[str]]:
    """(`rds-xacct:source-arn` tag values, identifiers) of every copy the app made, in both
    accounts."""
    sources: set[str] = set()
    names: set[str] = set()
    for api_for in (accounts.main, accounts.backup):
        for kind in _KINDS:
            for snapshot in api_for(kind).list_manual():
                if is_app_snapshot(snapshot.tags) and snapshot.tags.get(TAG_SOURCE_ARN):
                    sources.add(snapshot.tags[TAG_SOURCE_ARN])
                if snapshot.identifier.startswith(f"{COPY_ID_PREFIX}-"):
                    names.add(snapshot.identifier)
    return sources, names


def _executions(sfn: Any, state_machine_arn: str, since: datetime) -> Iterator[dict[str, Any]]:
    """The state machine's runs started since `since`, newest first (ListExecutions sorts so)."""
    paginator = sfn.get_paginator("list_executions")
    with aws_call(f"Listing the runs of {state_machine_arn}"):
        for page in paginator.paginate(stateMachineArn=state_machine_arn):
            for execution in page["executions"]:
                if execution["startDate"] < since:
                    return
                yield execution


def runs(sfn: Any, state_machine_arn: str, since: datetime, now: datetime) -> Runs:
    """The sources of the runs started since `since` (from each run's input, the event), and
    the runs reconciliation started in the last 24 hours."""
    found = Runs()
    for execution in _executions(sfn, state_machine_arn, since):
        if (
            execution["name"].startswith(f"{RECONCILE_EXECUTION_PREFIX}-")
            and execution["startDate"] >= now - _DAY
        ):
            found.started_by_reconciliation += 1
        with aws_call(f"Describing the run {execution['name']}"):
            described = sfn.describe_execution(executionArn=execution["executionArn"])
        try:
            source = parse_event(json.loads(described.get("input") or "null")).snapshot.arn
        except (errors.PipelineError, ValueError):
            continue  # not a run about a snapshot: nothing it could stand for
        found.sources.add(source)
    return found


def _start(sfn: Any, scope: Scope, candidate: Candidate, look: str) -> tuple[str, bool]:
    """Start the run: (execution ARN, True), or (its name, False) if the name is taken (by a
    run another look started: its input, marked with that look's id, differs from this one's).
    The same name and input answered with the existing run is this look's own start."""
    name = execution_name(candidate.snapshot)
    with aws_call(f"Starting the run {name}"):
        try:
            response = sfn.start_execution(
                stateMachineArn=scope.state_machine_arn,
                name=name,
                input=json.dumps(build_event(candidate, look)),
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
                return name, False
            raise
    return str(response["executionArn"]), True


# --- The whole look -----------------------------------------------------------------------------
def lookback(event: Any) -> timedelta:
    """The lookback the invocation asks for (`{"lookbackHours": 72}` by hand), else the default."""
    hours = event.get("lookbackHours") if isinstance(event, dict) else None
    if hours is None:
        return timedelta(hours=RECONCILE_LOOKBACK_HOURS)
    if isinstance(hours, bool) or not isinstance(hours, (int, float)):
        raise errors.UnsupportedEvent(f"lookbackHours must be a number of hours, not {hours!r}")
    if not 1 <= hours <= RECONCILE_MAX_LOOKBACK_HOURS:
        raise errors.UnsupportedEvent(
            f"lookbackHours must be from 1 to {RECONCILE_MAX_LOOKBACK_HOURS}, not {hours}"
        )
    return timedelta(hours=hours)


def reconcile(
    event: Any,
    *,
    settings: Settings,
    scope: Scope,
    now: Clock = utc_now,
    sfn: Any = None,
    look: str | None = None,
) -> dict[str, Any]:
    """Look, and start a run for each missed source snapshot (see the module's docstring).
    `look` identifies this look in the events it builds (a new id unless given)."""
    look = look or uuid.uuid4().hex
    moment = now()
    window = lookback(event)
    since, until = moment - window, moment - timedelta(minutes=RECONCILE_MIN_AGE_MINUTES)
    result: dict[str, Any] = {
        "reconciledAt": iso(moment),
        "look": look,
        "lookbackHours": window.total_seconds() / 3600,
        "from": iso(since),
        "to": iso(until),
        "looked": 0,
        "excluded": 0,
        "copied": 0,
        "runs": 0,
        "started": [],
        "alreadyStarted": [],
        "overCap": [],
        "problems": [],
    }
    accounts = Accounts(settings, "reconcile")
    try:
        found, result["excluded"] = candidates(accounts, scope, settings, since, until)
        result["looked"] = len(found)
        missing = found
        if missing:
            sources, names = copies(accounts)
            missing = [
                c
                for c in missing
                if source_arn_tag(c.snapshot.arn) not in sources and c.copy_id not in names
            ]
            result["copied"] = len(found) - len(missing)
        sfn = sfn or default_client("stepfunctions")
        runs_since = min(since, moment - _DAY) - _EXECUTIONS_SLACK
        started_today = 0
        if missing:
            seen = runs(sfn, scope.state_machine_arn, runs_since, moment)
            started_today = seen.started_by_reconciliation
            before = len(missing)
            missing = [c for c in missing if c.snapshot.arn not in seen.sources]
            result["runs"] = before - len(missing)
    except errors.PipelineError as error:
        # Without the whole picture nothing is started: a run too many is worse than a day late.
        result["problems"].append(f"{type(error).__name__}: {error}")
        return result
    room = max(RECONCILE_MAX_STARTS_PER_DAY - started_today, 0)
    for candidate in missing:
        snapshot = candidate.snapshot
        if room <= 0:
            result["overCap"].append(snapshot.arn)
            continue
        try:
            arn, new = _start(sfn, scope, candidate, look)
        except errors.PipelineError as error:
            result["problems"].append(f"{snapshot.arn}: {type(error).__name__}: {error}")
            continue
        entry = {
            "source": snapshot.arn,
            "database": snapshot.database,
            "origin": candidate.origin,
            "createdAt": iso(snapshot.created_at) if snapshot.created_at else None,
            "execution": arn,
        }
        if new:
            room -= 1
            result["started"].append(entry)
        else:
            result["alreadyStarted"].append(entry)
    return result


def report(result: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """One SNS message when reconciliation started runs, left some over or hit a problem."""
    started, over, problems = result["started"], result["overCap"], result["problems"]
    if not settings.topic_arn or not (started or over or problems):
        return result
    headline = f"[{APP_NAME}] Reconciled: {len(started)} runs started for missed events"
    lines = [
        f"The daily reconciliation looked at {result['looked']} source snapshots made from "
        f"{result['from']} to {result['to']} ({result['copied']} already copied, "
        f"{result['runs']} with a run, {result['excluded']} left out by the selection"
        f"{_already(result)}).",
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
    result["sns"] = notify.publish(
        settings.topic_arn, headline[: notify.SUBJECT_LIMIT], "\n".join(lines), {"outcome": outcome}
    )
    return result


def _already(result: dict[str, Any]) -> str:
    count = len(result["alreadyStarted"])
    return f"; {count} already started by another reconciliation" if count else ""


def run(
    event: Any, *, settings: Settings, scope: Scope, now: Clock = utc_now, sfn: Any = None
) -> dict[str, Any]:
    """Reconcile and report: the handler's work."""
    return report(reconcile(event, settings=settings, scope=scope, now=now, sfn=sfn), settings)
