"""DynamoDB, faster with no change of behaviour: a transaction's rollback copy made of the items it
names, not of the whole table; a string compared as itself; a Query's key condition applied to
its partition before moto's query runs."""

from __future__ import annotations

import copy
import heapq
import inspect
from collections import defaultdict
from collections.abc import Callable
from typing import Any
from unittest import mock

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, Table

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


_ITEM_SIZE_LIMIT = 400_000
"""The largest item moto stores (400 KB, as DynamoDB: `ItemSizeTooLarge` beyond)."""


def _chosen_items(table: Table, query: inspect.BoundArguments) -> list[Any] | None:
    """The items of a Query's partition that moto's query can reach, in no order; None when the
    Query is not one this applies to (moto's own then)."""
    arguments = query.arguments
    range_objs = arguments["range_objs"]
    hash_key = arguments["hash_key"]
    if (
        hash_key is None
        or arguments.get("index_name")
        or arguments.get("filter_kwargs")
        or not arguments["scan_index_forward"]
        or len(arguments.get("range_key_conditions") or []) > 1
        or arguments["range_comparison"] != "BEGINS_WITH"
        or len(range_objs) != 1
        or range_objs[0].type != "S"
        or table.range_key_attr is None
        or getattr(table, "range_key_type", None) != "S"
    ):
        return None
    prefix = range_objs[0].value
    partition = table.items.get(hash_key)
    if not isinstance(partition, dict):
        return [] if partition is None else None
    matching: list[Any] = []
    after: tuple[str, Any] | None = None
    for key, item in partition.items():
        value = key.value
        if value.startswith(prefix):
            matching.append(item)
        elif value > prefix and (after is None or value < after[0]):
            after = (value, item)
    limit = arguments["limit"]
    if limit and not arguments["exclusive_start_key"] and len(matching) > limit + 1:
        matching = heapq.nsmallest(limit + 1, matching, key=lambda item: item.range_key.value)
    if sum(item.size() for item in matching) > RESULT_SIZE_LIMIT - _ITEM_SIZE_LIMIT:
        return None
    return matching + ([after[1]] if after is not None else [])


def _query_of_the_partition() -> Callable[..., Any]:
    # Speed. moto's Query sorts every item of the table by key (`all_items`), keeps those of the
    # partition, then walks them in order, sizing each (`Item.size`) and testing the key
    # condition: O(items in the table) per Query, with Python's slowest comparisons; with a
    # window's queue of 1,000 runs, a third of a large window's time (the app reads the first
    # waiters, and the holders, of a partition holding every waiting run). The same answer from
    # the items moto's walk can reach, handed to moto's own query (the rest of it unchanged):
    # for `begins_with` on a string sort key, read forward, the items matching form one run in
    # key order, and an item outside it changes nothing but where the walk stops: an item
    # before them never stops it (nothing is gathered yet, and no item is over 400 KB); the
    # first item after them stops it when the Limit is reached (LastEvaluatedKey), and any
    # later one only by the 1 MB size limit, which no item reaches while those gathered hold
    # 600 KB or less (else moto's own walk). With a Limit and no ExclusiveStartKey, the walk
    # stops by the Limit + 1st match, so only the first Limit + 1 matches are handed. Any other
    # Query (an index, a filter, backwards, another condition or key type) is moto's own.
    original = Table.query
    signature = inspect.signature(original)

    def query(table: Table, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(table, *args, **kwargs)
        chosen = _chosen_items(table, bound)
        if chosen is None:
            return original(table, *args, **kwargs)
        table.all_items = lambda: chosen  # type: ignore[method-assign]
        try:
            return original(table, *args, **kwargs)
        finally:
            del table.all_items

    return query


def patches() -> list[Any]:
    return [
        mock.patch.object(DynamoDBBackend, "transact_write_items", _rollback_of_named_items()),
        mock.patch.object(DynamoType, "cast_value", _strings_as_themselves()),
        mock.patch.object(Table, "query", _query_of_the_partition()),
    ]


__all__ = ["patches"]
