"""One pool of copy slots as DynamoDB holds it: its items, and the writes that change them.

One partition per pool (`pk`, e.g. `copies#<account>#<region>`):

    (pool, "count")                       inUse: slots taken
    (pool, "holder#<execution>")          a run holding a slot, with its lease (leaseUntil)
    (pool, "waiter#<place>#<execution>")  a run waiting, with its task token

Taking a slot is one transaction (the count below the limit, the holder put, the waiter removed
with its token), and so is giving one back (the holder deleted, the count lowered): two runs
writing at once can never over-grant. Every write goes through `contention.write`, which retries
DynamoDB's conflicts and throttling. Who gets a slot, and when, is `pool.Pool`'s business.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from rds_xacct.admission import contention
from rds_xacct.aws.clients import aws_call, default_client
from rds_xacct.model import errors
from rds_xacct.model.times import iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

COUNT = "count"
HOLDER = "holder#"
WAITER = "waiter#"
_TAKE = "SET inUse = if_not_exists(inUse, :zero) + :one"
_ROOM = "attribute_not_exists(inUse) OR inUse < :limit"

Taken = Literal["taken", "full", "held", "changed"]
"""A waiter's slot: `taken`; the pool is `full`; the run `held` one already; or the waiter
`changed` under us (another run served it, or it asked again with a new token)."""


def _s(value: str) -> dict[str, Any]:
    return {"S": value}


def _n(value: float) -> dict[str, Any]:
    return {"N": str(int(value))}


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


class PoolTable:
    """The items of one pool in the copy-slot table."""

    def __init__(
        self, *, table: str, key: str, limit: int, dynamodb: DynamoDBClient | None = None
    ) -> None:
        self.table = table
        self.key = key
        self.limit = limit
        self.dynamodb: DynamoDBClient = dynamodb or default_client("dynamodb")

    def _item_key(self, sort: str) -> dict[str, Any]:
        return {"pk": _s(self.key), "sk": _s(sort)}

    @staticmethod
    def holder(execution: str) -> str:
        return f"{HOLDER}{execution}"

    @staticmethod
    def waiter(place_key: str, execution: str) -> str:
        return f"{WAITER}{place_key}#{execution}"

    # -- reading ---------------------------------------------------------------------------------
    def _query(self, prefix: str, first: int | None = None) -> list[dict[str, Any]]:
        """The pool's items under `prefix`, in key order (all of them, or the `first` few)."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": _s(self.key), ":prefix": _s(prefix)},
            "ConsistentRead": True,
            **({"Limit": first} if first else {}),
        }
        with aws_call(f"Reading the copy slots of {self.key}"):
            while True:
                page = self.dynamodb.query(**kwargs)
                items.extend(page.get("Items", []))
                if "LastEvaluatedKey" not in page or (first and len(items) >= first):
                    return items
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def holders(self) -> list[dict[str, Any]]:
        return self._query(HOLDER)

    def waiters(self, first: int | None = None) -> list[dict[str, Any]]:
        """Waiting runs, in queue order (all, or the `first` few: the head of a long queue)."""
        return self._query(WAITER, first)

    def in_use(self) -> int:
        with aws_call(f"Reading the copy slots of {self.key}"):
            item = self.dynamodb.get_item(
                TableName=self.table, Key=self._item_key(COUNT), ConsistentRead=True
            ).get("Item")
        return int(item["inUse"]["N"]) if item and "inUse" in item else 0

    # -- writing ---------------------------------------------------------------------------------
    def queue(
        self, sort: str, *, execution: str, execution_arn: str, token: str, expires: datetime
    ) -> None:
        """Put (or replace) a waiter with its task token."""
        contention.write(
            f"Queueing for a copy slot of {self.key}",
            lambda: self.dynamodb.put_item(
                TableName=self.table,
                Item={
                    **self._item_key(sort),
                    "token": _s(token),
                    "execution": _s(execution),
                    "executionArn": _s(execution_arn),
                    "expiresAt": _n(epoch(expires)),
                },
            ),
        )

    def take(self, waiter: dict[str, Any], *, now: datetime, lease: datetime) -> Taken:
        """One transaction: the count below the limit and raised, the waiter's holder put, the
        waiter removed (if it still holds its token)."""
        execution = waiter["execution"]["S"]
        remove: Any = {
            "TableName": self.table,
            "Key": {"pk": waiter["pk"], "sk": waiter["sk"]},
            **_token_is(waiter["token"]["S"]),
        }
        try:
            contention.write(
                f"Giving a copy slot of {self.key} to {execution}",
                lambda: self.dynamodb.transact_write_items(
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": self.table,
                                "Key": self._item_key(COUNT),
                                "UpdateExpression": _TAKE,
                                "ConditionExpression": _ROOM,
                                "ExpressionAttributeValues": {
                                    ":zero": _n(0),
                                    ":one": _n(1),
                                    ":limit": _n(self.limit),
                                },
                            }
                        },
                        {
                            "Put": {
                                "TableName": self.table,
                                "Item": {
                                    **self._item_key(self.holder(execution)),
                                    "execution": _s(execution),
                                    "executionArn": waiter["executionArn"],
                                    "since": _s(iso(now)),
                                    "leaseUntil": _n(epoch(lease)),
                                },
                                "ConditionExpression": "attribute_not_exists(sk)",
                            }
                        },
                        {"Delete": remove},
                    ]
                ),
            )
        except errors.PipelineError as error:
            reasons = _failed_conditions(error, items=3)
            if reasons is None:
                raise
            count_failed, holder_failed, waiter_failed = reasons
            if waiter_failed:
                return "changed"
            if holder_failed:
                return "held"
            if count_failed:
                return "full"
            raise
        return "taken"

    def give_back(self, sort: str, lease_seen: str | None = None) -> bool:
        """One transaction: the holder deleted (if its lease is still `lease_seen`, when given)
        and the count lowered. False: not held (already given back, or reaped)."""
        condition = "attribute_exists(sk)"
        values: dict[str, Any] = {}
        if lease_seen is not None:
            condition += " AND leaseUntil = :seen"
            values[":seen"] = {"N": lease_seen}
        delete: Any = {
            "TableName": self.table,
            "Key": self._item_key(sort),
            "ConditionExpression": condition,
        }
        if values:
            delete["ExpressionAttributeValues"] = values
        try:
            contention.write(
                f"Giving back a copy slot of {self.key}",
                lambda: self.dynamodb.transact_write_items(
                    TransactItems=[
                        {"Delete": delete},
                        {
                            "Update": {
                                "TableName": self.table,
                                "Key": self._item_key(COUNT),
                                "UpdateExpression": "SET inUse = inUse - :one",
                                "ConditionExpression": "inUse > :zero",
                                "ExpressionAttributeValues": {":one": _n(1), ":zero": _n(0)},
                            }
                        },
                    ]
                ),
            )
        except errors.PipelineError as error:
            if _failed_conditions(error, items=2) is None:
                raise
            return False
        return True

    def forget(self, sort: str, token: str | None = None) -> None:
        """Delete an item (a waiter: only while it holds `token`, when given); gone already is
        fine."""
        condition: Any = _token_is(token) if token is not None else {}
        try:
            contention.write(
                f"Removing {sort} from {self.key}",
                lambda: self.dynamodb.delete_item(
                    TableName=self.table, Key=self._item_key(sort), **condition
                ),
            )
        except errors.PipelineError as error:
            if not contention.condition_failed(error):
                raise

    def renew(self, execution: str, until: datetime) -> bool:
        """Extend the run's lease (each look at its copy does); False if it holds no slot."""
        try:
            contention.write(
                f"Renewing the copy slot of {execution} in {self.key}",
                lambda: self.dynamodb.update_item(
                    TableName=self.table,
                    Key=self._item_key(self.holder(execution)),
                    UpdateExpression="SET leaseUntil = :until",
                    ConditionExpression="attribute_exists(sk)",
                    ExpressionAttributeValues={":until": _n(epoch(until))},
                ),
            )
        except errors.PipelineError as error:
            if contention.condition_failed(error):
                return False
            raise
        return True


def _token_is(token: str) -> Any:
    """The condition that a waiter item still holds this task token (not a newer one)."""
    return {
        "ConditionExpression": "#token = :token",
        "ExpressionAttributeNames": {"#token": "token"},
        "ExpressionAttributeValues": {":token": _s(token)},
    }


def _failed_conditions(error: errors.PipelineError, *, items: int) -> tuple[bool, ...] | None:
    """Which items' conditions failed in a transaction cancelled for that reason, or None if it
    was not (not a cancellation, or one for conflicts and throttling that outlasted `write`)."""
    reasons = contention.cancellation_reasons(error)
    if reasons is None or contention.CONDITION_FAILED not in reasons:
        return None
    failed = [reason == contention.CONDITION_FAILED for reason in reasons]
    return tuple(failed + [False] * (items - len(failed)))
