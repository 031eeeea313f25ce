"""DynamoDB, faster with no change of behaviour: a transaction's rollback copy made of the items it
names, not of the whole table; a string compared as itself."""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable
from typing import Any
from unittest import mock

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

_Key = tuple[DynamoType, DynamoType | None]


def _named_keys(
    backend: DynamoDBBackend, transact_items: list[Any]
) -> dict[str, list[_Key]] | None:
    """The keys each table's items are named by in a transaction, or None when it is not plain
    (moto's own answer then: a malformed request, a table unknown or with a stream)."""
    keys: dict[str, list[_Key]] = defaultdict(list)
    for entry in transact_items:
        if not isinstance(entry, dict) or len(entry) != 1:
            return None
        (operation,) = entry.values()
        table = backend.tables.get(str(operation.get("TableName")))
        attributes = operation.get("Item") or operation.get("Key") or {}
        if table is None or table.stream_shard is not None:
            return None
        if table.hash_key_attr not in attributes:
            return None
        range_attr = table.range_key_attr
        if range_attr is not None and range_attr not in attributes:
            return None
        keys[table.name].append(
            (
                DynamoType(attributes[table.hash_key_attr]),
                DynamoType(attributes[range_attr]) if range_attr is not None else None,
            )
        )
    return keys


def _rollback_copy(keys: dict[str, list[_Key]]) -> Callable[[Table, dict[int, Any]], Table]:
    """A table as moto's rollback keeps it: its own attributes, its partitions copied, the
    items the transaction names deep-copied and every other item shared."""

    def table_copy(table: Table, memo: dict[int, Any]) -> Table:
        kept: Table = copy.copy(table)
        kept.items = defaultdict(dict)
        for hash_key, partition in table.items.items():
            kept.items[hash_key] = dict(partition) if isinstance(partition, dict) else partition
        for hash_key, range_key in keys.get(table.name, []):
            named: Any = table.items.get(hash_key)
            if range_key is None:
                if named is not None:
                    kept.items[hash_key] = copy.deepcopy(named, memo)
            elif isinstance(named, dict) and range_key in named:
                kept.items[hash_key][range_key] = copy.deepcopy(named[range_key], memo)
        return kept

    return table_copy


def _rollback_of_named_items() -> Callable[..., Any]:
    # Speed. Before a transaction, moto deep-copies every table it writes, to put back if the
    # transaction fails: each item of the table, for every transaction (a window's admission
    # table holds a place per waiting run: O(runs) per transaction, most of a large window's
    # time). A transaction changes only the items it names by key (Put, Update, Delete,
    # ConditionCheck; moto's Update changes the item in place, Put and Delete replace it in its
    # partition): the table put back after a failure is the same when only those items are
    # deep-copied and the others shared, as DynamoDB's all-or-nothing requires ("Amazon DynamoDB
    # Transactions: How it works"). Any other transaction (a table unknown or with a stream, a
    # malformed item) is left to moto's whole copy and its own answer.
    original = DynamoDBBackend.transact_write_items

    def transact_write_items(backend: DynamoDBBackend, transact_items: list[Any]) -> Any:
        keys = _named_keys(backend, transact_items)
        if keys is None:
            return original(backend, transact_items)
        with mock.patch.object(Table, "__deepcopy__", _rollback_copy(keys), create=True):
            return original(backend, transact_items)

    return transact_write_items


def _strings_as_themselves() -> property:
    # Speed. moto compares, hashes and sorts attribute values by their `cast_value`, which asks
    # the value's type five questions (number? set? list? map? null?) before it answers a string
    # with the string itself. A Query sorts the table's items by key that way, several times
    # per call: with a window's queue of 1,000 runs, most of a Query's time. A string answers at
    # once, the same value; any other type as moto does.
    original = DynamoType.cast_value

    def cast_value(value: DynamoType) -> Any:
        if value.type == "S":
            return value.value
        return original.fget(value)  # type: ignore[attr-defined]

    return property(cast_value)


def patches() -> list[Any]:
    return [
        mock.patch.object(DynamoDBBackend, "transact_write_items", _rollback_of_named_items()),
        mock.patch.object(DynamoType, "cast_value", _strings_as_themselves()),
    ]


__all__ = ["patches"]
