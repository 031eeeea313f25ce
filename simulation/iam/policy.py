"""IAM policy evaluation, as AWS does it, for the simulation's enforced permissions.

Pure functions over policy documents (no moto): does a set of statements allow `action` on
`resource` with this request context? Used by `simulation/iam/`, which feeds it
the policies of the roles in moto's IAM, and tested on its own in
`tests/unit/test_iam_policy.py`.

What AWS does, and so what this does (IAM User Guide, "Policy evaluation logic", "IAM JSON
policy elements: Action / Resource / Condition", "IAM JSON policy elements: Condition
operators"):
* an explicit Deny in any applicable statement wins over every Allow;
* otherwise an Allow statement that matches the action, the resource and whose conditions all
  hold allows; with none, the request is implicitly denied;
* `Action` matches case-insensitively, `Resource` case-sensitively, both with the wildcards `*`
  (any run of characters, `:` and `/` included) and `?` (one character); `NotAction` and
  `NotResource` match everything else;
* a condition key absent from the request context makes the condition false, except for the
  negated operators (`StringNotEquals`, `ArnNotLike`, ...: true), `...IfExists` (true) and
  `Null`; condition keys are case-insensitive, every operator of a block and every key of an
  operator must hold (AND), any of a key's values may match (OR).

Operators evaluated: String(Not)Equals(IgnoreCase), String(Not)Like, Arn(Not)Equals,
Arn(Not)Like, Bool, Null, each with `IfExists`; `ForAllValues:` / `ForAnyValue:` with
StringEquals(IgnoreCase) or StringLike. Policy variables in a condition's values: `${key}` of a
single-valued key of the request context (`${aws:PrincipalAccount}`), and `${*}`, `${?}`, `${$}`
for the characters themselves (IAM User Guide, "IAM policy elements: Variables and tags": "You
can use any single-valued condition key as a variable"; a key absent from the request matches
nothing). Anything else (`Numeric*`, `Date*`, `IpAddress`, set operators with a negated
operator, a variable in a condition's key, a multivalued key as a variable) raises
`UnsupportedCondition`: the templates use none of them, and a permission that can't be
evaluated must not pass silently.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

ContextValue = str | Sequence[str]
Context = Mapping[str, ContextValue]


class UnsupportedCondition(Exception):
    """A condition this evaluator can't decide (named in the message)."""


@dataclass(frozen=True)
class StatementRef:
    """Where a statement comes from, for messages and for the coverage of permissions."""

    holder: str
    """The role (or key, or queue) whose policy this is: its logical id in the template."""
    policy: str
    """The policy's name (inline policy name, `trust`, `key policy`)."""
    index: int
    sid: str = ""
    source: str = ""
    """The template file it is declared in (empty: a managed policy AWS provides)."""

    def __str__(self) -> str:
        name = f"{self.sid}" if self.sid else f"statement {self.index + 1}"
        where = f" ({self.source})" if self.source else ""
        return f"{self.holder} / {self.policy} / {name}{where}"


@dataclass(frozen=True)
class Statement:
    ref: StatementRef
    effect: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[str, ...] | None = None
    """None: no Resource element (trust and other resource-based policies: the resource is the
    policy's holder)."""
    not_resources: tuple[str, ...] = ()
    principals: Mapping[str, tuple[str, ...]] | None = None
    """Resource-based policies: {"AWS": (...), "Service": (...)}; "*" as {"*": ("*",)}."""
    conditions: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Caller:
    """Who makes a request, for the Principal element of resource-based policies."""

    arn: str = ""
    """The role's ARN (arn:aws:iam::ACCOUNT:role/NAME), or empty for a service."""
    account: str = ""
    service: str = ""
    """A service principal (lambda.amazonaws.com), when the service itself is the caller."""


@dataclass(frozen=True)
class Match:
    """An Allow statement that allowed a request, with the action and resource patterns of it
    that matched."""

    statement: Statement
    action: str
    resource: str


@dataclass
class Decision:
    allowed: bool
    matches: list[Match] = field(default_factory=list)
    """Every Allow statement (and pattern) that allowed the request."""
    denied_by: Statement | None = None
    unmet: list[Statement] = field(default_factory=list)
    """Allow statements for the action and resource whose conditions did not hold."""


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str | int | bool):
        return (str(value).lower() if isinstance(value, bool) else str(value),)
    return tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in value)


def parse_policy(
    document: str | Mapping[str, Any], *, holder: str, policy: str, source: str = ""
) -> list[Statement]:
    """The statements of a policy document (JSON text or already parsed)."""
    parsed: Mapping[str, Any] = json.loads(document) if isinstance(document, str) else document
    raw = parsed.get("Statement", [])
    statements = [raw] if isinstance(raw, Mapping) else list(raw)
    found: list[Statement] = []
    for index, statement in enumerate(statements):
        if not isinstance(statement, Mapping):
            # moto's CloudFormation leaves a list item that resolved to AWS::NoValue as None
            continue
        principals: dict[str, tuple[str, ...]] | None = None
        if "Principal" in statement:
            principal = statement["Principal"]
            principals = (
                {"*": ("*",)}
                if principal == "*"
                else {str(k): _as_tuple(v) for k, v in dict(principal).items()}
            )
        conditions = {
            str(operator): {str(k): _as_tuple(v) for k, v in dict(block).items()}
            for operator, block in dict(statement.get("Condition", {})).items()
        }
        found.append(
            Statement(
                ref=StatementRef(holder, policy, index, str(statement.get("Sid", "")), source),
                effect=str(statement.get("Effect", "")),
                actions=_as_tuple(statement.get("Action")),
                not_actions=_as_tuple(statement.get("NotAction")),
                resources=_as_tuple(statement["Resource"]) if "Resource" in statement else None,
                not_resources=_as_tuple(statement.get("NotResource")),
                principals=principals,
                conditions=conditions,
            )
        )
    return found


@lru_cache(maxsize=4096)
def _pattern(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    # fnmatch's `[` classes are not IAM syntax: escape everything but * and ?
    literal = {"\x01": "*", "\x02": "?"}  # a policy variable's own * and ? (`_escape`)
    body = "".join(
        ".*" if c == "*" else "." if c == "?" else re.escape(literal.get(c, c)) for c in pattern
    )
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def action_matches(pattern: str, action: str) -> bool:
    return bool(_pattern(pattern, True).match(action))


def resource_matches(pattern: str, resource: str) -> bool:
    return bool(_pattern(pattern, False).match(resource))


def _first(patterns: Iterable[str], value: str, *, ignore_case: bool) -> str | None:
    for pattern in patterns:
        if _pattern(pattern, ignore_case).match(value):
            return pattern
    return None


def _lookup(context: Context, key: str) -> tuple[str, ...] | None:
    lowered = key.lower()
    for name, value in context.items():
        if name.lower() == lowered:
            return (value,) if isinstance(value, str) else tuple(value)
    return None


_NEGATED = (
    "StringNotEquals",
    "StringNotEqualsIgnoreCase",
    "StringNotLike",
    "ArnNotEquals",
    "ArnNotLike",
)
_OPERATORS = (
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "ArnEquals",
    "ArnNotEquals",
    "ArnLike",
    "ArnNotLike",
    "Bool",
    "Null",
)


def _compare(operator: str, expected: str, actual: str) -> bool:
    if operator in ("StringEquals", "StringNotEquals", "ArnEquals", "ArnNotEquals"):
        if operator.startswith("Arn"):
            return bool(_pattern(expected, False).match(actual))
        return expected == actual
    if operator in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        return expected.lower() == actual.lower()
    if operator in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike"):
        return bool(_pattern(expected, False).match(actual))
    if operator == "Bool":
        return expected.lower() == actual.lower()
    raise UnsupportedCondition(f"condition operator {operator}")


def condition_holds(
    conditions: Mapping[str, Mapping[str, tuple[str, ...]]], context: Context
) -> bool:
    """Does a statement's Condition block hold for the request context?"""
    for raw_operator, block in conditions.items():
        if ":" in raw_operator:
            if not _set_condition_holds(raw_operator, block, context):
                return False
            continue
        if_exists = raw_operator.endswith("IfExists")
        operator = raw_operator.removesuffix("IfExists")
        if operator not in _OPERATORS:
            raise UnsupportedCondition(f"condition operator {raw_operator}")
        for key, written in block.items():
            if "${" in key:
                raise UnsupportedCondition(f"policy variable in the key {raw_operator} {key}")
            expected = _substituted(written, context, like="Like" in operator)
            actual = _lookup(context, key)
            if operator == "Null":
                absent = actual is None
                if not any((e.lower() == "true") == absent for e in expected):
                    return False
                continue
            negated = operator in _NEGATED
            if actual is None:
                if if_exists or negated:
                    continue
                return False
            hit = any(_compare(operator, e, a) for e in expected for a in actual)
            if hit == negated:
                return False
    return True


_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_LITERAL = {"*": "*", "?": "?", "$": "$"}


def _substituted(values: tuple[str, ...], context: Context, *, like: bool) -> tuple[str, ...]:
    """A condition's values with their policy variables replaced from the request context. A
    value naming a key absent from the request is dropped (it matches nothing). In a `...Like`
    operator a substituted value's own `*` and `?` are taken literally."""
    found: list[str] = []
    for value in values:
        if "${" not in value:
            found.append(value)
            continue
        missing = False

        def replace(match: re.Match[str]) -> str:
            nonlocal missing
            name = match.group(1)
            if name in _LITERAL:
                return _escape(_LITERAL[name]) if like else _LITERAL[name]
            given = _lookup(context, name)
            if given is None:
                missing = True
                return ""
            if len(given) != 1:
                raise UnsupportedCondition(f"multivalued policy variable ${{{name}}}")
            return _escape(given[0]) if like else given[0]

        text = _VARIABLE.sub(replace, value)
        if not missing:
            found.append(text)
    return tuple(found)


def _escape(text: str) -> str:
    """`*` and `?` of a substituted value, literal in a pattern (`_pattern` reads `\x01` and
    `\x02` as the characters themselves)."""
    return text.replace("*", "\x01").replace("?", "\x02")


def _set_condition_holds(
    raw_operator: str, block: Mapping[str, tuple[str, ...]], context: Context
) -> bool:
    """`ForAllValues:` / `ForAnyValue:` with a positive string operator, over a multivalued
    context key such as `aws:TagKeys` (IAM User Guide, "Set operators for multivalued context
    keys"): ForAllValues holds when every value in the request matches some value of the
    policy, and also when the key is absent or empty; ForAnyValue holds when at least one value
    in the request matches, never when the key is absent. With a negated operator
    (`ForAnyValue:StringNotEquals`), a request value matches when it equals none of the
    policy's values (a negated operator with several values holds when none matches)."""
    qualifier, _, operator = raw_operator.partition(":")
    if qualifier not in ("ForAllValues", "ForAnyValue") or operator not in (
        "StringEquals",
        "StringLike",
        "StringEqualsIgnoreCase",
        "StringNotEquals",
        "StringNotLike",
    ):
        raise UnsupportedCondition(f"set operator {raw_operator}")
    negated = operator in _NEGATED
    positive = operator.replace("Not", "", 1) if negated else operator
    for key, written in block.items():
        if "${" in key:
            raise UnsupportedCondition(f"policy variable in the key {raw_operator} {key}")
        expected = _substituted(written, context, like="Like" in operator)
        actual = _lookup(context, key) or ()
        matches = [any(_compare(positive, e, a) for e in expected) != negated for a in actual]
        holds = all(matches) if qualifier == "ForAllValues" else any(matches)
        if not holds:
            return False
    return True


def principal_matches(principals: Mapping[str, tuple[str, ...]] | None, caller: Caller) -> bool:
    """Does a resource-based policy's Principal name the caller? An account (`ACCOUNT` or
    `arn:aws:iam::ACCOUNT:root`) names every principal of that account (whose own identity
    policies must then allow too); a role ARN names that role."""
    if principals is None:
        return True
    if "*" in principals:
        return True
    for name in principals.get("AWS", ()):
        if name == "*":
            return True
        if caller.account and name in (caller.account, f"arn:aws:iam::{caller.account}:root"):
            return True
        if caller.arn and name == caller.arn:
            return True
    return bool(caller.service and caller.service in principals.get("Service", ()))


def evaluate(
    statements: Iterable[Statement],
    action: str,
    resource: str | None,
    context: Context | None = None,
    caller: Caller | None = None,
) -> Decision:
    """AWS's decision for one policy set. `resource` None: a resource-based policy, whose
    statements have no Resource element or name the holder; `caller`: match Principal."""
    context = context or {}
    decision = Decision(allowed=False)
    for statement in statements:
        if statement.not_actions:
            if _first(statement.not_actions, action, ignore_case=True) is not None:
                continue
            action_pattern = "NotAction"
        else:
            found = _first(statement.actions, action, ignore_case=True)
            if found is None:
                continue
            action_pattern = found
        if resource is not None and statement.not_resources:
            # (checked first: a NotResource statement has no Resource element)
            if _first(statement.not_resources, resource, ignore_case=False) is not None:
                continue
            resource_pattern = "NotResource"
        elif resource is None or statement.resources is None:
            resource_pattern = "-" if statement.resources is None else statement.resources[0]
        else:
            found = _first(statement.resources, resource, ignore_case=False)
            if found is None:
                continue
            resource_pattern = found
        if caller is not None and not principal_matches(statement.principals, caller):
            continue
        if not condition_holds(statement.conditions, context):
            if statement.effect == "Allow":
                decision.unmet.append(statement)
            continue
        if statement.effect == "Deny":
            decision.denied_by = statement
            decision.allowed = False
            decision.matches = []
            return decision
        if statement.effect == "Allow":
            decision.matches.append(Match(statement, action_pattern, resource_pattern))
    decision.allowed = bool(decision.matches)
    return decision


def glob(pattern: str, text: str) -> bool:
    """fnmatch for the allow-list of unexercised permissions (case-sensitive)."""
    return fnmatch.fnmatchcase(text, pattern)
