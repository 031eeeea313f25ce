"""Reading the EventBridge event that started a run.

The state machine's input is the event exactly as EventBridge delivered it. Copied:

* AWS Backup `Backup Job State Change` with `detail.state` COMPLETED and `detail.resourceType`
  `RDS` (a DB snapshot named `awsbackup:job-…`) or `Aurora` (a DB cluster snapshot).
* RDS `RDS DB Snapshot Event`: automated (RDS-EVENT-0091) or manual (RDS-EVENT-0042) snapshot
  created.
* RDS `RDS DB Cluster Snapshot Event`: automated (RDS-EVENT-0169) or manual (RDS-EVENT-0075)
  cluster snapshot created.

Any other well-formed event (a job of another resource type, of DocumentDB or Neptune, a job
not COMPLETED, a continuous recovery point, a copy job, another AWS Backup, RDS or service
event) raises `EventSkipped`: the run ends Skipped with the one-line reason, what it was and
what to do. An input that is not an EventBridge event, or one of the copied kinds without the
fields it needs, raises `UnsupportedEvent`: the run fails, for someone to look at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rds_xacct.model.errors import EventSkipped, UnsupportedEvent
from rds_xacct.model.state import Kind

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent

BACKUP_SOURCE = "aws.backup"
BACKUP_DETAIL_TYPE = "Backup Job State Change"
COPY_JOB_DETAIL_TYPE = "Copy Job State Change"
RDS_SOURCE = "aws.rds"
RDS_SNAPSHOT_DETAIL_TYPE = "RDS DB Snapshot Event"
RDS_CLUSTER_SNAPSHOT_DETAIL_TYPE = "RDS DB Cluster Snapshot Event"
COMPLETED = "COMPLETED"
WAITING_STATES = frozenset({"CREATED", "PENDING", "RUNNING"})
"""Backup job states before COMPLETED: the job's own COMPLETED event comes later."""

BACKUP_RESOURCE_TYPES: dict[str, Kind] = {"RDS": "db", "Aurora": "cluster"}
"""AWS Backup `detail.resourceType` → snapshot kind. AWS Backup reports Aurora (and RDS
Multi-AZ DB clusters) as `Aurora`; DocumentDB and Neptune have types of their own."""

OTHER_CLUSTER_ENGINES: dict[str, str] = {
    "DocumentDB": "an Amazon DocumentDB cluster",
    "Neptune": "an Amazon Neptune cluster",
}
"""AWS Backup resource types whose snapshots are DB cluster snapshots in RDS's control plane,
but which document their own APIs (docdb, neptune), engines and limits. Not copied: the RDS API
reference, this app's event rule, IAM scope and tests cover RDS and Aurora only."""

OTHER_ENGINES: dict[str, str] = {"docdb": "DocumentDB", "neptune": "Neptune"}
"""`Engine` of such clusters' snapshots, should one arrive as an `Aurora` job or RDS event."""

CONTINUOUS_RECOVERY_POINT = ":recovery-point:continuous:"
"""In the recovery point ARN of a continuous (point-in-time) backup:
`arn:aws:backup:REGION:ACCOUNT:recovery-point:continuous:db-…`. Not a snapshot."""

ORIGIN_AWS_BACKUP = "aws-backup"
ORIGIN_RDS_AUTOMATED = "rds-automated"
ORIGIN_RDS_MANUAL = "rds-manual"
"""Where a source snapshot came from: the `origin` of a run's job."""

RDS_EVENT_IDS: dict[str, tuple[Kind, str]] = {
    "RDS-EVENT-0091": ("db", ORIGIN_RDS_AUTOMATED),
    "RDS-EVENT-0042": ("db", ORIGIN_RDS_MANUAL),
    "RDS-EVENT-0169": ("cluster", ORIGIN_RDS_AUTOMATED),
    "RDS-EVENT-0075": ("cluster", ORIGIN_RDS_MANUAL),
}
"""The native RDS events that announce a finished snapshot → (kind, origin)."""

SNAPSHOT_TYPES: dict[tuple[str, Kind], str | None] = {
    (ORIGIN_AWS_BACKUP, "db"): "awsbackup",
    (ORIGIN_AWS_BACKUP, "cluster"): None,
    (ORIGIN_RDS_AUTOMATED, "db"): "automated",
    (ORIGIN_RDS_AUTOMATED, "cluster"): "automated",
    (ORIGIN_RDS_MANUAL, "db"): "manual",
    (ORIGIN_RDS_MANUAL, "cluster"): "manual",
}
"""(origin, kind) → the `SnapshotType` to describe the source with. RDS finds an automated
snapshot by identifier only with SnapshotType=automated, an AWS Backup DB snapshot only with
`awsbackup`; "the awsbackup type does not apply to Aurora", whose AWS Backup snapshots are
found without a type (API reference, DescribeDBSnapshots and DescribeDBClusterSnapshots)."""

_ARN_TYPES: dict[str, Kind] = {"snapshot": "db", "cluster-snapshot": "cluster"}


@dataclass(frozen=True)
class SnapshotArn:
    """The parts of an RDS snapshot ARN. The identifier may contain colons
    (`awsbackup:job-…`, `rds:mydb-2026-11-24-02-10`)."""

    arn: str
    partition: str
    region: str
    account: str
    kind: Kind
    identifier: str

    @classmethod
    def parse(cls, arn: Any) -> SnapshotArn:
        if not isinstance(arn, str):
            raise UnsupportedEvent(f"{arn!r} is not an RDS snapshot ARN")
        parts = arn.split(":", 6)
        if len(parts) != 7 or parts[0] != "arn" or parts[2] != "rds" or parts[5] not in _ARN_TYPES:
            raise UnsupportedEvent(f"{arn!r} is not an RDS snapshot or cluster snapshot ARN")
        if not parts[6]:
            raise UnsupportedEvent(f"{arn!r} has no snapshot identifier")
        return cls(
            arn=arn,
            partition=parts[1],
            region=parts[3],
            account=parts[4],
            kind=_ARN_TYPES[parts[5]],
            identifier=parts[6],
        )

    @classmethod
    def build(
        cls, *, partition: str, region: str, account: str, kind: Kind, identifier: str
    ) -> str:
        arn_type = "cluster-snapshot" if kind == "cluster" else "snapshot"
        return f"arn:{partition}:rds:{region}:{account}:{arn_type}:{identifier}"


@dataclass(frozen=True)
class SourceEvent:
    """What the event says about the snapshot to copy."""

    snapshot: SnapshotArn
    origin: str
    """`aws-backup`, `rds-automated` or `rds-manual`."""
    event_id: str
    event_time: str
    database_arn: str | None

    @property
    def kind(self) -> Kind:
        return self.snapshot.kind

    @property
    def snapshot_type(self) -> str | None:
        """The `SnapshotType` RDS needs to find the source by its identifier."""
        return SNAPSHOT_TYPES.get((self.origin, self.kind))


def _resources(event: EventBridgeEvent) -> list[Any]:
    resources = event.raw_event.get("resources")
    return list(resources) if isinstance(resources, list) else []


def _require(value: Any, what: str) -> Any:
    if value in (None, "", [], {}):
        raise UnsupportedEvent(f"The event has no {what}")
    return value


def _text(value: Any) -> str | None:
    """A field that should be a non-empty string, or None."""
    return value if isinstance(value, str) and value else None


def _job(detail: dict[str, Any], id_field: str, noun: str) -> tuple[str, str | None]:
    """("AWS Backup job <id> of <resource ARN>", the resource ARN) for a reason's start."""
    resource = _text(detail.get("resourceArn"))
    job_id = _text(detail.get(id_field))
    label = f"AWS Backup {noun}{f' {job_id}' if job_id else ''}"
    return (f"{label} of {resource}" if resource else label), resource


def _backup_event(event: EventBridgeEvent) -> SourceEvent:
    detail = event.detail
    job, resource = _job(detail, "backupJobId", "job")
    resource_type = detail.get("resourceType")
    if not _text(resource_type):
        raise UnsupportedEvent(
            f"{job}: the event has no detail.resourceType (expected one of "
            f"{sorted(BACKUP_RESOURCE_TYPES)})"
        )
    if resource_type in OTHER_CLUSTER_ENGINES:
        raise EventSkipped(
            f"{job} backed up {OTHER_CLUSTER_ENGINES[resource_type]}, not copied: this app "
            f"copies RDS and Aurora snapshots only; copy it with the {resource_type} API (copy "
            f"with a customer managed key, share, copy in the backup account)",
            resource,
        )
    if resource_type not in BACKUP_RESOURCE_TYPES:
        raise EventSkipped(
            f"{job} backed up a {resource_type!r} resource, not an RDS database or Aurora "
            f"cluster: nothing for this app to copy (AWS Backup's own cross-account copy handles "
            f"{resource_type!r})",
            resource,
        )
    kind = BACKUP_RESOURCE_TYPES[resource_type]
    state = detail.get("state")
    if state != COMPLETED:
        if not _text(state):
            raise UnsupportedEvent(f"{job}: the event has no detail.state")
        then = (
            "its COMPLETED event starts the copy"
            if state in WAITING_STATES
            else "no snapshot to copy; see the job in AWS Backup"
        )
        raise EventSkipped(f"The backup job is {state!r}, not COMPLETED: {job}; {then}", resource)
    recovery_point = detail.get("recoveryPointArn")
    continuous = [
        arn
        for arn in (recovery_point, *_resources(event))
        if isinstance(arn, str) and CONTINUOUS_RECOVERY_POINT in arn
    ]
    if continuous:
        raise EventSkipped(
            f"{job} made a continuous (point-in-time) recovery point {continuous[0]}, not a "
            f"snapshot: add a snapshot backup rule (continuous backup off) to the backup plan "
            f"to have the database copied",
            resource,
        )
    # The recovery point of an RDS backup is an RDS snapshot. Newer events name it in
    # detail.recoveryPointArn; otherwise it is in resources, or named after the job id.
    candidates = [recovery_point, *_resources(event)]
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.split(":")[5:6] in ([t] for t in _ARN_TYPES):
            snapshot = SnapshotArn.parse(candidate)
            break
    else:
        job_id = _require(detail.get("backupJobId"), "detail.backupJobId or recovery point ARN")
        database = ResourceArn.from_resource(
            _require(detail.get("resourceArn"), "detail.resourceArn")
        )
        snapshot = SnapshotArn.parse(
            SnapshotArn.build(
                partition=database.partition,
                region=database.region,
                account=database.account,
                kind=kind,
                identifier=f"awsbackup:job-{job_id}",
            )
        )
    if snapshot.kind != kind:
        raise UnsupportedEvent(
            f"AWS Backup says {resource_type!r} but the recovery point {snapshot.arn} is a "
            f"{snapshot.kind} snapshot"
        )
    return SourceEvent(
        snapshot=snapshot,
        origin=ORIGIN_AWS_BACKUP,
        event_id=str(event.raw_event.get("id", "")),
        event_time=str(event.raw_event.get("time", "")),
        database_arn=resource,
    )


def _copy_job_event(event: EventBridgeEvent) -> SourceEvent:
    detail = event.detail
    job, resource = _job(detail, "copyJobId", "copy job")
    state = _text(detail.get("state")) or "in an unknown state"
    raise EventSkipped(
        f"{job} ({state}) copies a recovery point between backup vaults, it makes no new "
        f"snapshot: this app copies when the backup job completes, nothing to do",
        resource,
    )


@dataclass(frozen=True)
class ResourceArn:
    """Partition, region and account of any RDS resource ARN (a database or cluster)."""

    partition: str
    region: str
    account: str

    @classmethod
    def from_resource(cls, arn: Any) -> ResourceArn:
        if not isinstance(arn, str):
            raise UnsupportedEvent(f"{arn!r} is not an RDS resource ARN")
        parts = arn.split(":")
        if len(parts) < 7 or parts[0] != "arn" or parts[2] != "rds":
            raise UnsupportedEvent(f"{arn!r} is not an RDS resource ARN")
        return cls(partition=parts[1], region=parts[3], account=parts[4])


def _rds_event(event: EventBridgeEvent) -> SourceEvent:
    detail = event.detail
    event_id = str(detail.get("EventID", "")).rsplit("#", 1)[-1]
    arn = detail.get("SourceArn") or next(iter(_resources(event)), None)
    if event_id not in RDS_EVENT_IDS:
        message = _text(detail.get("Message"))
        raise EventSkipped(
            f"RDS event {event_id or '(no EventID)'}{f' ({message})' if message else ''} "
            f"does not announce a finished snapshot (expected one of {sorted(RDS_EVENT_IDS)}): "
            f"nothing to copy",
            _text(arn),
        )
    kind, origin = RDS_EVENT_IDS[event_id]
    snapshot = SnapshotArn.parse(_require(arn, "detail.SourceArn"))
    if snapshot.kind != kind:
        raise UnsupportedEvent(f"{event_id} is about a {kind} snapshot, but {arn} is not one")
    return SourceEvent(
        snapshot=snapshot,
        origin=origin,
        event_id=str(event.raw_event.get("id", "")),
        event_time=str(event.raw_event.get("time", "")),
        database_arn=None,
    )


def parse_event(raw: Any) -> SourceEvent:
    """The snapshot an EventBridge event asks this app to copy.

    Raises `EventSkipped` (a kind of event this app does not copy) or `UnsupportedEvent` (not
    an event, or one without the fields it needs), and nothing else, whatever the input."""
    if not isinstance(raw, dict):
        raise UnsupportedEvent(f"The input is a {type(raw).__name__}, not an EventBridge event")
    # Imported here: Powertools' data classes (all of them) cost every function's cold start
    # about a tenth of an `import boto3`, and only DescribeSource and Notify read an event.
    from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent  # noqa: PLC0415

    event = EventBridgeEvent(raw)
    source, detail_type = raw.get("source"), raw.get("detail-type")
    if not isinstance(raw.get("detail"), dict):
        raise UnsupportedEvent("The input has no 'detail' object: it is not an EventBridge event")
    if not _text(source) or not _text(detail_type):
        raise UnsupportedEvent(
            "The input has no 'source' and 'detail-type' strings: it is not an EventBridge event"
        )
    if source == BACKUP_SOURCE and detail_type == BACKUP_DETAIL_TYPE:
        return _backup_event(event)
    if source == BACKUP_SOURCE and detail_type == COPY_JOB_DETAIL_TYPE:
        return _copy_job_event(event)
    if source == RDS_SOURCE and detail_type in (
        RDS_SNAPSHOT_DETAIL_TYPE,
        RDS_CLUSTER_SNAPSHOT_DETAIL_TYPE,
    ):
        return _rds_event(event)
    raise EventSkipped(
        f"Events from {source!r} of type {detail_type!r} are not handled: this app copies on an "
        f"AWS Backup '{BACKUP_DETAIL_TYPE}' COMPLETED event or an RDS snapshot event, nothing "
        f"to do",
        next((r for r in _resources(event) if isinstance(r, str)), None),
    )
