"""The keeper's ledger: a DynamoDB table of the backup account recording, when the keeper first
sees a copy, the kept-until time it was made with (rds_xacct.keeper.rules.recorded_expiry), and
marking each copy the keeper deletes. Written only by the keeper; the main account has no access.

The run asks the keeper to `record` its copy right after making it; the hourly pass records any
other. A record is never replaced but by one of a newer snapshot under the same ARN, and a
replacement only ever lengthens what is kept. `delete` is the one place a copy is deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from rds_xacct.aws.clients import aws_call, aws_code, default_client
from rds_xacct.aws.snapshots import SnapshotApi
from rds_xacct.keeper.rules import Record, recorded_expiry
from rds_xacct.keeper.settings import KeeperSettings
from rds_xacct.model import errors
from rds_xacct.model.constants import APP_NAME, TAG_EXECUTION, TAG_KEEP
from rds_xacct.model.snapshot import Snapshot
from rds_xacct.model.times import iso, parse_iso

logger = logging.getLogger(APP_NAME)

LEDGER_TTL_DAYS = 90
"""A deleted copy's ledger entry is kept this long (DynamoDB TTL), for whoever audits."""


class Ledger:
    """The backup account's record of each copy's kept-until time (one DynamoDB item per
    copy, keyed by its ARN). Written only by the keeper; the main account has no access."""

    def __init__(self, table: str, client: Any = None) -> None:
        self.table = table
        self.client = client or default_client("dynamodb")

    @staticmethod
    def _record(item: Mapping[str, Any]) -> Record:
        until = item.get("keepUntil", {}).get("S")
        keep_tag = item.get("keepTag", {}).get("S")
        return Record(
            arn=item["arn"]["S"],
            created_at=parse_iso(item["createdAt"]["S"]),
            keep_until=parse_iso(until) if until else None,
            first_seen=parse_iso(item["firstSeen"]["S"]),
            # Records written before these were kept: an expiry then always came from a tag,
            # and no copy's `rds-xacct:keep` was recorded.
            expiry_tagged=item.get("expiryTagged", {}).get("BOOL", True),
            keep_tag=keep_tag,
        )

    def all(self) -> dict[str, Record]:
        """Every record, by ARN (one Scan)."""
        return self.read()[0]

    def read(self) -> tuple[dict[str, Record], list[dict[str, Any]]]:
        """Every copy's record, by ARN, and the other items (the databases the freshness check
        watches, rds_xacct.keeper.freshness): one Scan, which the hourly pass makes once. An item
        the keeper can't read is left out (logged): its copy is then looked at on its own."""
        found: dict[str, Record] = {}
        others: list[dict[str, Any]] = []
        with aws_call(f"Reading the ledger {self.table}"):
            for page in self.client.get_paginator("scan").paginate(
                TableName=self.table, ConsistentRead=True
            ):
                for item in page["Items"]:
                    if not str(item.get("arn", {}).get("S", "")).startswith("arn:"):
                        others.append(item)
                        continue
                    if "deletedAt" in item:
                        continue
                    try:
                        record = self._record(item)
                    except (KeyError, TypeError, ValueError):
                        logger.exception("Unreadable ledger item", extra={"item": str(item)[:500]})
                        continue
                    found[record.arn] = record
        return found, others

    def get(self, arn: str) -> Record | None:
        with aws_call(f"Reading the ledger {self.table}"):
            item = self.client.get_item(
                TableName=self.table, Key={"arn": {"S": arn}}, ConsistentRead=True
            ).get("Item")
        return None if item is None or "deletedAt" in item else self._record(item)

    def record(
        self,
        snapshot: Snapshot,
        settings: KeeperSettings,
        now: datetime,
        previous: Record | None = None,
    ) -> Record:
        """The copy's record: the one already there if it is of this very snapshot, else a new
        one, written only if no other writer got there first. A record replacing `previous`
        (RDS reports a creation time later than its first sight) keeps the later of the two
        expiries and `previous`'s keep tag: a replacement only ever lengthens what is kept."""
        created = iso(snapshot.created_at or now)
        until, tagged = recorded_expiry(snapshot, settings, now)
        keep_tag = snapshot.tags.get(TAG_KEEP)
        if previous is not None:
            until = (
                None
                if until is None or previous.keep_until is None
                else max(until, previous.keep_until)
            )
            tagged = tagged or previous.expiry_tagged
            keep_tag = previous.keep_tag
        item: dict[str, Any] = {
            "arn": {"S": snapshot.arn},
            "createdAt": {"S": created},
            "firstSeen": {"S": iso(now)},
            "execution": {"S": snapshot.tags.get(TAG_EXECUTION, "")[:100]},
            "expiryTagged": {"BOOL": tagged},
        }
        if until is not None:
            item["keepUntil"] = {"S": iso(until)}
        if keep_tag is not None:
            item["keepTag"] = {"S": keep_tag}
        # A record is never replaced, except one of a snapshot that is gone: marked deleted, or
        # (deleted by hand and made again under the same name, or RDS reporting a creation time
        # only after the keeper first saw the copy) RDS made this one after the keeper first
        # saw the one it recorded.
        condition = "attribute_not_exists(arn) OR attribute_exists(deletedAt)"
        values: dict[str, Any] = {}
        if snapshot.created_at is not None:
            condition += " OR firstSeen < :created"
            values[":created"] = {"S": created}
        try:
            with aws_call(f"Recording {snapshot.arn} in the ledger"):
                self.client.put_item(
                    TableName=self.table,
                    Item=item,
                    ConditionExpression=condition,
                    **({"ExpressionAttributeValues": values} if values else {}),
                )
        except errors.PipelineError as error:
            if aws_code(error) != "ConditionalCheckFailedException":
                raise
            existing = self.get(snapshot.arn)
            if existing is None:  # pragma: no cover - deleted between the two calls
                raise
            return existing
        logger.info(
            "Recorded a copy",
            extra={
                "snapshot": snapshot.arn,
                "keepUntil": iso(until) if until else None,
                "replaced": previous is not None,
            },
        )
        return Record(snapshot.arn, parse_iso(created), until, now, tagged, keep_tag)

    def forget(self, arn: str, now: datetime) -> None:
        """Mark the copy's record deleted; DynamoDB removes it after LEDGER_TTL_DAYS."""
        expire = int((now + timedelta(days=LEDGER_TTL_DAYS)).timestamp())
        with aws_call(f"Marking {arn} deleted in the ledger {self.table}"):
            self.client.update_item(
                TableName=self.table,
                Key={"arn": {"S": arn}},
                UpdateExpression="SET deletedAt = :at, expireAt = :ttl",
                ExpressionAttributeValues={":at": {"S": iso(now)}, ":ttl": {"N": str(expire)}},
            )


def record_of(
    ledger: Ledger, snapshot: Snapshot, settings: KeeperSettings, now: datetime
) -> Record:
    """The copy's record in the ledger, made now if the keeper never saw this copy."""
    return recorded(ledger, ledger.get(snapshot.arn), snapshot, settings, now)


def recorded(
    ledger: Ledger,
    record: Record | None,
    snapshot: Snapshot,
    settings: KeeperSettings,
    now: datetime,
) -> Record:
    """`record`, or the copy's record made now if there is none or it is of an older snapshot."""
    if record is None or is_newer(snapshot, record):
        record = ledger.record(snapshot, settings, now, previous=record)
    return record


def is_newer(snapshot: Snapshot, record: Record) -> bool:
    """Did RDS make this snapshot after the keeper first saw the one it recorded under its ARN
    (the recorded one deleted by hand, another made under its name)?"""
    return snapshot.created_at is not None and snapshot.created_at > record.first_seen


def delete(api: SnapshotApi, snapshot: Snapshot, ledger: Ledger, now: datetime) -> bool:
    """Delete the copy and mark its record deleted: the one place the keeper deletes. False
    if it was already gone."""
    deleted = api.delete(snapshot.identifier)
    ledger.forget(snapshot.arn, now)
    logger.info(
        "Deleted a backup copy", extra={"snapshot": snapshot.arn, "status": snapshot.status}
    )
    return deleted
