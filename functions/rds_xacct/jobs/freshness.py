"""The main account's half of freshness: every database the selection covers now, joined with the
app's copies in the backup account, so that a database that was never copied shows up too (the
backup account's half, rds_xacct.keeper.freshness, only knows databases it holds copies of).

A database is covered when it exists now (a DB instance outside any cluster, or a DB cluster;
not DocumentDB nor Neptune), is chosen by the include/exclude patterns and the selection tag
(rds_xacct.model.selection, as every run and the reconciliation apply them), and either

* AWS Backup has backed it up (ListProtectedResources: the deployment copies every AWS Backup
  snapshot), or
* its automated backups are on and the deployment copies that kind's automated snapshots
  (`CopyRdsAutomated…`). Manual snapshots come when someone makes them: no freshness is
  expected of them.

Its copies are read in the backup account through the cross-account role, as the runs read
them (rds_xacct.aws.accounts), and judged by the rules the keeper applies
(rds_xacct.model.freshness). The hourly watch (rds_xacct.jobs.watch) and the operator command
call `freshness`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rds_xacct.aws.accounts import Accounts
from rds_xacct.aws.clients import default_client, rds_client
from rds_xacct.aws.databases import Database, databases, protected
from rds_xacct.aws.snapshots import SnapshotApi
from rds_xacct.model.arns import Arn
from rds_xacct.model.freshness import Source, age_hours, is_stale, newest_copies, recovery_point
from rds_xacct.model.selection import skip_reason
from rds_xacct.model.settings import Settings
from rds_xacct.model.snapshot import Snapshot
from rds_xacct.model.state import Kind
from rds_xacct.model.times import iso
from rds_xacct.pipeline.events import OTHER_ENGINES

WATCH_EXECUTION = "watch"
"""The session name's source when the watch assumes the backup account's role."""
_KINDS: tuple[Kind, ...] = ("db", "cluster")


@dataclass(frozen=True)
class Freshness:
    """One covered database and its newest copy in the backup account."""

    database: str
    kind: str
    """`db` or `cluster`."""
    source_arn: str
    """The database's ARN in the main account."""
    newest_copy: str | None
    """The ARN of its newest complete copy in the backup account; None: it has none."""
    recovery_point: datetime | None
    """When the data that copy holds was taken (rds_xacct.model.freshness.recovery_point)."""
    age_hours: float | None
    stale: bool
    """Older than the recovery point objective, or no copy at all."""

    def entry(self) -> dict[str, Any]:
        """As the `Freshness` log line lists it (the keeper's line has the same fields)."""
        return {
            "database": self.database,
            "kind": self.kind,
            "sourceAccount": Arn.account_of(self.source_arn),
            "sourceArn": self.source_arn,
            "newestCopy": self.newest_copy,
            "recoveryPoint": iso(self.recovery_point) if self.recovery_point else None,
            "ageHours": self.age_hours,
            "stale": self.stale,
        }


def covered(settings: Settings, *, rds: Any = None, aws_backup: Any = None) -> list[Database]:
    """The databases the deployment covers now (see the module's docstring)."""
    found = [d for d in databases(rds or rds_client()) if d.engine not in OTHER_ENGINES]
    backed_up = protected(aws_backup or default_client("backup"))
    return [
        database
        for database in found
        if (
            database.arn in backed_up
            or (database.kind in settings.automated_copies and database.automated_backups)
        )
        and skip_reason(settings, database.name, database.tags) is None
    ]


def _copies(settings: Settings, backup_rds: Any) -> list[Snapshot]:
    """Every manual snapshot of the backup account, through its role unless a client of that
    account is given."""
    accounts = Accounts(settings, WATCH_EXECUTION)
    found: list[Snapshot] = []
    for kind in _KINDS:
        api = SnapshotApi(backup_rds, kind) if backup_rds is not None else accounts.backup(kind)
        found.extend(api.list_manual())
    return found


def freshness(
    settings: Settings,
    *,
    now: datetime,
    rpo_hours: float,
    rds: Any = None,
    backup_rds: Any = None,
    aws_backup: Any = None,
) -> list[Freshness]:
    """Every database the selection covers now, with its newest complete copy in the backup
    account and whether that is stale, sorted by database. `rds`: the main account's RDS client;
    `backup_rds`: the backup account's (default: through the cross-account role); `aws_backup`:
    the main account's AWS Backup client."""
    chosen = covered(settings, rds=rds, aws_backup=aws_backup)
    newest = newest_copies(_copies(settings, backup_rds)) if chosen else {}
    found = []
    for database in chosen:
        account = Arn.parse(database.arn).account
        copy = newest.get(Source(account, database.kind, database.name))
        point = recovery_point(copy) if copy is not None else None
        found.append(
            Freshness(
                database=database.name,
                kind=database.kind,
                source_arn=database.arn,
                newest_copy=copy.arn if copy is not None else None,
                recovery_point=point,
                age_hours=age_hours(point, now) if point is not None else None,
                stale=is_stale(point, now, rpo_hours),
            )
        )
    return sorted(found, key=lambda f: (f.database, f.kind, f.source_arn))
