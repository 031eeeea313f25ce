"""What the daily reconciliation looks at: the recent source snapshots the deployment copies,
the copies the app made of them, and the runs the state machine was started with.

The reconciliation itself (what it starts, and when not) is rds_xacct.jobs.reconcile; the
operator command's backfill (rds_xacct.jobs.backfill) looks at the same things.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from rds_xacct.aws.clients import aws_call
from rds_xacct.aws.snapshots import SnapshotApi
from rds_xacct.model import errors
from rds_xacct.model.arns import Arn
from rds_xacct.model.constants import COPY_ID_PREFIX, RECONCILE_EXECUTION_PREFIX, TAG_SOURCE_ARN
from rds_xacct.model.naming import copy_identifier
from rds_xacct.model.ownership import is_app_snapshot
from rds_xacct.model.selection import skip_reason
from rds_xacct.model.settings import (
    ENV_COPY_RDS_AUTOMATED,
    ENV_COPY_RDS_AUTOMATED_CLUSTER,
    ENV_STATE_MACHINE_ARN,
    ConfigurationError,
    Settings,
)
from rds_xacct.model.snapshot import Snapshot
from rds_xacct.model.state import Kind
from rds_xacct.pipeline.events import (
    ORIGIN_AWS_BACKUP,
    ORIGIN_RDS_AUTOMATED,
    ORIGIN_RDS_MANUAL,
    OTHER_ENGINES,
    SNAPSHOT_TYPES,
    parse_event,
)

ENV_NATIVE: dict[tuple[Kind, str], str] = {
    ("db", ORIGIN_RDS_AUTOMATED): ENV_COPY_RDS_AUTOMATED,
    ("db", ORIGIN_RDS_MANUAL): "COPY_RDS_MANUAL_SNAPSHOTS",
    ("cluster", ORIGIN_RDS_AUTOMATED): ENV_COPY_RDS_AUTOMATED_CLUSTER,
    ("cluster", ORIGIN_RDS_MANUAL): "COPY_RDS_MANUAL_CLUSTER_SNAPSHOTS",
}
"""The template's `CopyRds…` parameters, as the reconciler's environment gives them."""

AWS_BACKUP_PREFIX = "awsbackup:"
"""AWS Backup's snapshots are named `awsbackup:job-<backup job id>`."""
DAY = timedelta(days=1)
"""The cap's period: the runs reconciliation started in the last day count against it."""
_KINDS: tuple[Kind, ...] = ("db", "cluster")


class SnapshotAccounts(Protocol):
    """RDS snapshots of both accounts, by kind: `rds_xacct.aws.accounts.Accounts` (a function's
    access) or the operator's (`rds_xacct.jobs.backfill.OperatorAccounts`)."""

    def main(self, kind: Kind) -> SnapshotApi: ...

    def backup(self, kind: Kind) -> SnapshotApi: ...


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
        try:
            is_machine = Arn.parse(arn).typed("stateMachine")
        except ValueError:
            is_machine = False
        if not is_machine:
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


def is_app_copy(snapshot: Snapshot) -> bool:
    """A copy this app made (by its tags or its name): never a source."""
    return is_app_snapshot(snapshot.tags) or snapshot.identifier.startswith(f"{COPY_ID_PREFIX}-")


def origin_of(snapshot: Snapshot) -> str | None:
    """Where a source snapshot came from (`aws-backup`, `rds-automated`, `rds-manual`), if any."""
    if snapshot.identifier.startswith(AWS_BACKUP_PREFIX) or snapshot.snapshot_type == "awsbackup":
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
    accounts: SnapshotAccounts, scope: Scope, settings: Settings, since: datetime, until: datetime
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
                origin = origin_of(snapshot)
                created = snapshot.created_at
                if (
                    origin is None
                    or (origin != ORIGIN_AWS_BACKUP and (kind, origin) not in scope.native)
                    or is_app_copy(snapshot)
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


def copies(accounts: SnapshotAccounts) -> tuple[set[str], set[str]]:
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
            and execution["startDate"] >= now - DAY
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
