"""Deterministic, valid identifiers for the copies this app makes.

RDS rules for a snapshot identifier: starts with a letter; letters, digits and hyphens only;
no two consecutive hyphens; no trailing hyphen; at most 255 characters for a DB snapshot and 63
for a DB cluster snapshot. The identifier is

    xacct-<database>-<YYYYMMDD>-<HHMMSS>-<hash>

where <database> is the sanitised database or cluster identifier, the time is the source
snapshot's creation time (UTC) and <hash> is the first 8 hex digits of SHA-256 over the source
snapshot ARN. The hash makes two different sources never share a name (two snapshots of the
same database in the same second, an AWS Backup and a native snapshot, ...), and keeps the name
unique when a long database identifier is shortened to fit.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

from rds_xacct.model.constants import (
    COPY_ID_PREFIX,
    MAX_CLUSTER_SNAPSHOT_ID,
    MAX_DB_SNAPSHOT_ID,
    NAME_HASH_LENGTH,
    TAG_VALUE_MAX_LENGTH,
)

_INVALID = re.compile(r"[^a-z0-9]+")
_VALID = re.compile(r"^[a-z](?!.*--)[a-z0-9-]*[a-z0-9]$")


def max_length(kind: str) -> int:
    """The identifier limit for a `db` or `cluster` snapshot."""
    return MAX_CLUSTER_SNAPSHOT_ID if kind == "cluster" else MAX_DB_SNAPSHOT_ID


def sanitise(text: str) -> str:
    """Lower-case; every run of characters RDS does not allow becomes one hyphen."""
    return _INVALID.sub("-", text.lower()).strip("-")


def is_valid_identifier(identifier: str, kind: str) -> bool:
    """True if RDS accepts `identifier` as a snapshot identifier of this kind."""
    return len(identifier) <= max_length(kind) and bool(_VALID.match(identifier))


def copy_identifier(*, source_arn: str, database: str, created_at: datetime, kind: str) -> str:
    """The identifier of both copies (shared and backup) of the source snapshot.

    The same source always gives the same identifier, so a redelivered event finds the copies
    it made before instead of making new ones.
    """
    digest = hashlib.sha256(source_arn.encode()).hexdigest()[:NAME_HASH_LENGTH]
    stamp = created_at.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    suffix = f"-{stamp}-{digest}"
    room = max_length(kind) - len(COPY_ID_PREFIX) - 1 - len(suffix)
    middle = sanitise(database)[:room].rstrip("-") or "db"
    identifier = f"{COPY_ID_PREFIX}-{middle}{suffix}"
    if not is_valid_identifier(identifier, kind):  # pragma: no cover - guarded by tests
        raise ValueError(f"internal error: {identifier!r} is not a valid snapshot identifier")
    return identifier


SOURCE_TAG_HASH_MARK = "+sha256="
"""Marks a shortened source-ARN tag value; never part of an ARN (a snapshot identifier has no
`+`), so a shortened value never equals a real ARN."""
SOURCE_TAG_HASH_LENGTH = 32
"""Hex digits of SHA-256 kept in a shortened value: 128 bits, unique among any snapshots."""


def source_arn_tag(source_arn: str) -> str:
    """The value of the `rds-xacct:source-arn` tag for a source: the ARN itself when it fits
    RDS's limit on tag values, else its beginning, the mark and a hash of the whole ARN.

    The one function that gives this value: copies are tagged with it and every ownership check
    compares with it, so both sides always agree. A DB snapshot identifier may have 255
    characters, and its ARN about 300; a cluster snapshot's (63) always fits.
    """
    if len(source_arn) <= TAG_VALUE_MAX_LENGTH:
        return source_arn
    digest = hashlib.sha256(source_arn.encode()).hexdigest()[:SOURCE_TAG_HASH_LENGTH]
    suffix = f"{SOURCE_TAG_HASH_MARK}{digest}"
    return source_arn[: TAG_VALUE_MAX_LENGTH - len(suffix)] + suffix


MAX_ROLE_SESSION_NAME = 64
_SESSION_INVALID = re.compile(r"[^\w+=,.@-]", re.ASCII)


def role_session_name(account: str, execution: str) -> str:
    """The STS `RoleSessionName` for a run (`<account>-<execution>`): the one function that
    builds it. It starts with the 12-digit account that assumes the role, as the backup
    account's trust policy requires (`sts:RoleSessionName` like `${aws:PrincipalAccount}-*`), so
    that the keeper knows from the session's ARN which source account asks. STS accepts 2 to 64
    characters of `[\\w+=,.@-]` (AssumeRole, RoleSessionName), ASCII only: every other character
    becomes `-`. A name that had to be changed or shortened ends with a hash of the whole, so that
    two runs never share a session name in CloudTrail."""
    text = f"{account}-{execution}"
    name = _SESSION_INVALID.sub("-", text)
    if name == text and len(name) <= MAX_ROLE_SESSION_NAME:
        return name
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:NAME_HASH_LENGTH]
    return f"{name[: MAX_ROLE_SESSION_NAME - NAME_HASH_LENGTH - 1]}-{digest}"
