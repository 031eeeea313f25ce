"""Reading the EventBridge event that started a run.

The state machine's input is the event exactly as EventBridge delivered it. Three shapes are
understood:

* AWS Backup `Backup Job State Change` with `detail.state` COMPLETED and `detail.resourceType`
  `RDS` (a DB snapshot named `awsbackup:job-…`) or `Aurora` (a DB cluster snapshot).
* RDS `RDS DB Snapshot Event`: automated (RDS-EVENT-0091) or manual (RDS-EVENT-0042) snapshot
  created.
* RDS `RDS DB Cluster Snapshot Event`: automated (RDS-EVENT-0169) or manual (RDS-EVENT-0075)
  cluster snapshot created.

Anything else raises `UnsupportedEvent` with what was wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rds_xacct.errors import UnsupportedEvent
from rds_xacct.snapshots import Kind

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent

BACKUP_SOURCE = "aws.backup"
BACKUP_DETAIL_TYPE = "Backup Job State Change"
RDS_SOURCE = "aws.rds"
RDS_SNAPSHOT_DETAIL_TYPE = "RDS DB Snapshot Event"
RDS_CLUSTER_SNAPSHOT_DETAIL_TYPE = "RDS DB Cluster Snapshot Event"

BACKUP_RESOURCE_TYPES: dict[str, Kind] = {"RDS": "db", "Aurora": "cluster"}
"""AWS Backup `detail.resourceType` → snapshot kind. AWS Backup reports Aurora and the other
cluster engines (Multi-AZ DB clusters, DocumentDB and Neptune use their own types) as `Aurora`."""

RDS_EVENT_IDS: dict[str, tuple[Kind, str]] = {
    "RDS-EVENT-0091": ("db", "rds-automated"),
    "RDS-EVENT-0042": ("db", "rds-manual"),
    "RDS-EVENT-0169": ("cluster", "rds-automated"),
    "RDS-EVENT-0075": ("cluster", "rds-manual"),
}
"""The native RDS events that announce a finished snapshot → (kind, origin)."""

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


def _resources(event: EventBridgeEvent) -> list[Any]:
    resources = event.raw_event.get("resources")
    return list(resources) if isinstance(resources, list) else []


def _require(value: Any, what: str) -> Any:
    if value in (None, "", [], {}):
        raise UnsupportedEvent(f"The event has no {what}")
    return value


def _backup_event(event: EventBridgeEvent) -> SourceEvent:
    detail = event.detail
    state = detail.get("state")
    if state != "COMPLETED":
        raise UnsupportedEvent(f"The backup job is {state!r}, not COMPLETED: nothing to copy")
    resource_type = detail.get("resourceType")
    if not isinstance(resource_type, str) or resource_type not in BACKUP_RESOURCE_TYPES:
        raise UnsupportedEvent(
            f"AWS Backup resource type {resource_type!r} is not an RDS database or cluster "
            f"(expected one of {sorted(BACKUP_RESOURCE_TYPES)})"
        )
    kind = BACKUP_RESOURCE_TYPES[resource_type]
    # The recovery point of an RDS backup is an RDS snapshot. Newer events name it in
    # detail.recoveryPointArn; otherwise it is in resources, or named after the job id.
    candidates = [detail.get("recoveryPointArn"), *_resources(event)]
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
        origin="aws-backup",
        event_id=str(event.raw_event.get("id", "")),
        event_time=str(event.raw_event.get("time", "")),
        database_arn=detail.get("resourceArn"),
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
    if event_id not in RDS_EVENT_IDS:
        raise UnsupportedEvent(
            f"RDS event {event_id or '(no EventID)'} does not announce a finished snapshot "
            f"(expected one of {sorted(RDS_EVENT_IDS)})"
        )
    kind, origin = RDS_EVENT_IDS[event_id]
    arn = detail.get("SourceArn") or next(iter(_resources(event)), None)
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
    """The snapshot an EventBridge event asks this app to copy."""
    if not isinstance(raw, dict):
        raise UnsupportedEvent(f"The input is a {type(raw).__name__}, not an EventBridge event")
    # Imported here: Powertools' data classes (all of them) cost every function's cold start
    # about a tenth of an `import boto3`, and only DescribeSource and Notify read an event.
    from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent  # noqa: PLC0415

    event = EventBridgeEvent(raw)
    source, detail_type = raw.get("source"), raw.get("detail-type")
    if not isinstance(raw.get("detail"), dict):
        raise UnsupportedEvent("The input has no 'detail' object: it is not an EventBridge event")
    if source == BACKUP_SOURCE and detail_type == BACKUP_DETAIL_TYPE:
        return _backup_event(event)
    if source == RDS_SOURCE and detail_type in (
        RDS_SNAPSHOT_DETAIL_TYPE,
        RDS_CLUSTER_SNAPSHOT_DETAIL_TYPE,
    ):
        return _rds_event(event)
    raise UnsupportedEvent(
        f"Events from {source!r} of type {detail_type!r} are not handled: expected an AWS Backup "
        f"'{BACKUP_DETAIL_TYPE}' or an RDS snapshot event"
    )
