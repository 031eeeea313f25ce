"""Copy identifiers: valid under RDS rules, deterministic, distinct."""

import re
from datetime import UTC, datetime

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from rds_xacct.model.constants import MAX_CLUSTER_SNAPSHOT_ID, MAX_DB_SNAPSHOT_ID
from rds_xacct.model.naming import copy_identifier, is_valid_identifier, role_session_name, sanitise

CREATED = datetime(2026, 11, 24, 2, 10, 4, tzinfo=UTC)
ARN = "arn:aws:rds:eu-west-1:123456789012:snapshot:awsbackup:job-4f1c0a3e"


def test_name_reads_database_time_and_hash() -> None:
    # Given a source snapshot of orders-db
    # When its copy is named
    name = copy_identifier(source_arn=ARN, database="orders-db", created_at=CREATED, kind="db")
    # Then the name says what it is a copy of, and when
    assert name.startswith("xacct-orders-db-20261124-021004-")
    assert is_valid_identifier(name, "db")


def test_same_source_gives_same_name() -> None:
    first = copy_identifier(source_arn=ARN, database="orders-db", created_at=CREATED, kind="db")
    again = copy_identifier(source_arn=ARN, database="orders-db", created_at=CREATED, kind="db")
    assert first == again


def test_two_sources_of_one_database_in_one_second_get_distinct_names() -> None:
    # Given an AWS Backup snapshot and a native one of the same database, same second
    native = "arn:aws:rds:eu-west-1:123456789012:snapshot:rds:orders-db-2026-11-24-02-10"
    # When both are named
    a = copy_identifier(source_arn=ARN, database="orders-db", created_at=CREATED, kind="db")
    b = copy_identifier(source_arn=native, database="orders-db", created_at=CREATED, kind="db")
    # Then the names differ
    assert a != b


@pytest.mark.parametrize("kind", ["db", "cluster"])
def test_the_same_database_of_two_source_accounts_in_one_second_gets_distinct_names(
    kind: str,
) -> None:
    # Given two source accounts, each with a database and a snapshot of the same name made in
    # the same second (one backup account receives copies from both: their copies sit side by
    # side there)
    resource = "snapshot" if kind == "db" else "cluster-snapshot"
    arns = [
        f"arn:aws:rds:eu-west-1:{account}:{resource}:awsbackup:job-4f1c0a3e"
        for account in ("111111111111", "333333333333")
    ]
    # When both copies are named
    names = {
        copy_identifier(source_arn=arn, database="orders-db", created_at=CREATED, kind=kind)
        for arn in arns
    }
    # Then the names differ, and both are valid
    assert len(names) == 2
    assert all(is_valid_identifier(name, kind) for name in names)


@pytest.mark.parametrize(
    ("kind", "limit"), [("db", MAX_DB_SNAPSHOT_ID), ("cluster", MAX_CLUSTER_SNAPSHOT_ID)]
)
def test_longest_identifiers_are_shortened_validly_and_stay_distinct(kind: str, limit: int) -> None:
    # Given two 63-character cluster (or 255-character db) identifiers that differ only at the end
    long_a = "a" + "b" * 61 + "1" if kind == "cluster" else "a" + "b" * 252 + "1"
    long_b = long_a[:-1] + "2"
    # When their snapshots taken at the same second are named
    name_a = copy_identifier(
        source_arn=f"arn:aws:rds:eu-west-1:1:x:{long_a}",
        database=long_a,
        created_at=CREATED,
        kind=kind,
    )
    name_b = copy_identifier(
        source_arn=f"arn:aws:rds:eu-west-1:1:x:{long_b}",
        database=long_b,
        created_at=CREATED,
        kind=kind,
    )
    # Then both fit and are valid, and they differ
    assert len(name_a) <= limit
    assert len(name_b) <= limit
    assert is_valid_identifier(name_a, kind)
    assert is_valid_identifier(name_b, kind)
    assert name_a != name_b


@pytest.mark.parametrize(
    "database",
    [
        "awsbackup:job-4f1c0a3e-8d2b",
        "rds:orders-db-2026-11-24-02-10",
        "Orders_DB",
        "db--with--double-hyphens-",
        "x" * 62 + "-",
        "---",
        "日本語のデータベース",
        "9starts-with-digit",
    ],
)
def test_odd_identifiers_give_valid_names(database: str) -> None:
    for kind in ("db", "cluster"):
        name = copy_identifier(
            source_arn=ARN + database, database=database, created_at=CREATED, kind=kind
        )
        assert is_valid_identifier(name, kind), name
        assert "--" not in name
        assert not name.endswith("-")


def test_sanitise_folds_runs_of_invalid_characters() -> None:
    assert sanitise("awsbackup:job-1__2") == "awsbackup-job-1-2"


def test_validity_rules() -> None:
    assert is_valid_identifier("a-b1", "db")
    assert not is_valid_identifier("1ab", "db")
    assert not is_valid_identifier("a--b", "db")
    assert not is_valid_identifier("ab-", "db")
    assert not is_valid_identifier("a_b", "db")
    assert not is_valid_identifier("a" * 64, "cluster")


# --- STS session names ------------------------------------------------------------------------
_STS_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$", re.ASCII)
"""STS AssumeRole, RoleSessionName: 2 to 64 characters of `[\\w+=,.@-]` (ASCII)."""


ACCOUNT = "111111111111"
OTHER_ACCOUNT = "333333333333"


@given(st.text())
def test_any_run_name_gives_a_session_name_sts_accepts_named_after_the_account(
    execution: str,
) -> None:
    name = role_session_name(ACCOUNT, execution)
    assert _STS_SESSION_NAME.match(name), name
    assert name == role_session_name(ACCOUNT, execution)
    # (the backup role's trust policy: sts:RoleSessionName like ${aws:PrincipalAccount}-*)
    assert name.startswith(f"{ACCOUNT}-")


@given(st.text(min_size=1), st.text(min_size=1))
def test_two_run_names_give_two_session_names(first: str, second: str) -> None:
    assume(first != second)
    assert role_session_name(ACCOUNT, first) != role_session_name(ACCOUNT, second)


@given(st.text(min_size=1))
def test_one_run_name_in_two_accounts_gives_two_session_names(execution: str) -> None:
    assert role_session_name(ACCOUNT, execution) != role_session_name(OTHER_ACCOUNT, execution)


@pytest.mark.parametrize(
    ("execution", "expected"),
    [
        (
            "0b5c6c1e-8a0e-4c43-9f4e-2b8f0d7f9a11",
            f"{ACCOUNT}-0b5c6c1e-8a0e-4c43-9f4e-2b8f0d7f9a11",
        ),
        ("run_1", f"{ACCOUNT}-run_1"),
    ],
)
def test_a_run_name_sts_accepts_is_the_session_name_as_it_is(execution: str, expected: str) -> None:
    # (a run started by EventBridge is named with a UUID: CloudTrail shows it unchanged)
    assert role_session_name(ACCOUNT, execution) == expected


def test_a_long_or_non_ascii_run_name_is_shortened_with_a_hash() -> None:
    reconciled = "reconcile-" + "a" * 46 + "-20261124021000-1a2b3c4d"  # 80 characters
    name = role_session_name(ACCOUNT, reconciled)
    assert len(name) == 64
    assert name.startswith(f"{ACCOUNT}-reconcile-aaa")
    assert role_session_name(ACCOUNT, "données") != role_session_name(ACCOUNT, "donnèes")
    assert _STS_SESSION_NAME.match(role_session_name(ACCOUNT, "données"))
