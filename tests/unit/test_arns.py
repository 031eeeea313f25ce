"""The one ARN parser (rds_xacct.model.arns, rds_xacct.model.rds_arns), and a guard that no
module of functions/ splits an ARN by hand again."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from rds_xacct.model.arns import Arn
from rds_xacct.model.errors import UnsupportedEvent
from rds_xacct.model.rds_arns import SnapshotArn

FUNCTIONS = Path(__file__).parents[2] / "functions"


ROLE = "arn:aws:iam::222222222222:role/service-role/rds-xacct-backup-copy"
KEY = "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        (
            "arn:aws:rds:eu-west-1:111111111111:snapshot:awsbackup:job-1",
            "aws rds eu-west-1 111111111111 snapshot awsbackup:job-1 job-1",
        ),
        (
            "arn:aws-cn:rds:cn-north-1:111111111111:cluster-snapshot:rds:orders-2026-11-24",
            "aws-cn rds cn-north-1 111111111111 cluster-snapshot rds:orders-2026-11-24 "
            "orders-2026-11-24",
        ),
        (
            "arn:aws-us-gov:states:us-gov-west-1:111111111111:execution:copy:run-1",
            "aws-us-gov states us-gov-west-1 111111111111 execution copy:run-1 run-1",
        ),
        (KEY, f"aws kms eu-west-1 222222222222 key {KEY[-36:]} {KEY[-36:]}"),
        (
            ROLE,
            "aws iam - 222222222222 role service-role/rds-xacct-backup-copy rds-xacct-backup-copy",
        ),
        (
            "arn:aws:sns:eu-west-1:111111111111:rds-xacct-notifications",
            "aws sns eu-west-1 111111111111 rds-xacct-notifications - rds-xacct-notifications",
        ),
    ],
    ids=["rds-colons", "aws-cn", "aws-us-gov", "kms-slash", "iam-no-region-path", "untyped"],
)
def test_an_arn_is_read_in_every_partition_whatever_its_resource(text: str, parts: str) -> None:
    # (parts: partition service region account type id name, "-" for empty)
    arn = Arn.parse(text)
    assert (
        arn.partition,
        arn.service,
        arn.region,
        arn.account,
        arn.resource_type,
        arn.resource_id,
        arn.resource_name,
    ) == tuple("" if part == "-" else part for part in parts.split())
    assert str(arn) == text
    assert Arn.account_of(text) == arn.account != ""


@pytest.mark.parametrize(
    "text",
    [
        "",
        "rds-xacct-copy",
        "arn",
        "arn:aws:rds:eu-west-1:111111111111",  # five parts: no resource
        "arn:aws:rds:eu-west-1:111111111111:",  # an empty resource
        "arn::rds:eu-west-1:111111111111:db:x",  # no partition
        "arn:aws::eu-west-1:111111111111:db:x",  # no service
        "nra:aws:rds:eu-west-1:111111111111:db:x",  # not `arn:`
        "ARN:aws:rds:eu-west-1:111111111111:db:x",
        " arn:aws:rds:eu-west-1:111111111111:db:x",
    ],
)
def test_a_text_that_is_not_an_arn_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="is not an ARN"):
        Arn.parse(text)
    assert Arn.account_of(text) is None
    assert Arn.name_of(text) == text


@pytest.mark.parametrize("value", [None, 5, ["arn:aws:rds:r:1:db:x"], b"arn:aws:rds:r:1:db:x"])
def test_a_value_that_is_no_text_raises_value_error(value: object) -> None:
    with pytest.raises(ValueError, match="is not an ARN"):
        Arn.parse(value)  # type: ignore[arg-type]


def test_another_resource_of_the_same_account_and_region() -> None:
    machine = Arn.parse("arn:aws-cn:states:cn-north-1:111111111111:stateMachine:copy")
    execution = machine.with_resource(f"execution:{machine.resource_id}:run-1")
    assert str(execution) == "arn:aws-cn:states:cn-north-1:111111111111:execution:copy:run-1"
    assert Arn.name_of(str(execution)) == "run-1"


def test_a_resource_type_is_followed_by_its_separator() -> None:
    assert Arn.parse("arn:aws:rds:r:111111111111:snapshot:x").typed("snapshot")
    assert not Arn.parse("arn:aws:rds:r:111111111111:snapshot/x").typed("snapshot")
    assert not Arn.parse("arn:aws:rds:r:111111111111:snapshotx:y").typed("snapshot")
    assert Arn.parse("arn:aws:kms:r:111111111111:key/k").typed("key", "/")


# --- RDS ARNs -----------------------------------------------------------------------------------
@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov"])
def test_an_rds_snapshot_arn_keeps_its_identifier_whole(partition: str) -> None:
    text = f"arn:{partition}:rds:r-1:111111111111:cluster-snapshot:awsbackup:job-9"
    snapshot = SnapshotArn.parse(text)
    assert (snapshot.partition, snapshot.region, snapshot.account) == (
        partition,
        "r-1",
        "111111111111",
    )
    assert (snapshot.kind, snapshot.identifier) == ("cluster", "awsbackup:job-9")
    assert SnapshotArn.names_one(text)
    assert snapshot.database_arn("orders") == f"arn:{partition}:rds:r-1:111111111111:cluster:orders"
    built = SnapshotArn.build(
        partition=partition, region="r-1", account="111111111111", kind="cluster",
        identifier="awsbackup:job-9",
    )  # fmt: skip
    assert built == text


@pytest.mark.parametrize(
    "text",
    [
        "arn:aws:rds:eu-west-1:111111111111:db:orders",
        "arn:aws:rds:eu-west-1:111111111111:snapshot:",
        "arn:aws:rds:eu-west-1:111111111111:snapshot",
        "arn:aws:ec2:eu-west-1:111111111111:snapshot/snap-1",
        "arn:aws:backup:eu-west-1:111111111111:recovery-point:continuous:db-x",
        "not an arn",
        None,
    ],
)
def test_anything_but_an_rds_snapshot_arn_is_an_unsupported_event(text: str | None) -> None:
    with pytest.raises(UnsupportedEvent):
        SnapshotArn.parse(text)


def test_an_aws_backup_job_names_its_snapshot_in_its_databases_account_and_region() -> None:
    database = "arn:aws-us-gov:rds:us-gov-east-1:111111111111:db:orders"
    snapshot = SnapshotArn.of_backup_job(database, "db", "4f2a")
    assert (
        snapshot.arn == "arn:aws-us-gov:rds:us-gov-east-1:111111111111:snapshot:awsbackup:job-4f2a"
    )
    for wrong in ("arn:aws:ec2:eu-west-1:111111111111:volume/vol-1", "orders", None):
        with pytest.raises(UnsupportedEvent, match="is not an RDS resource ARN"):
            SnapshotArn.of_backup_job(wrong, "db", "4f2a")


# --- No ARN split by hand -----------------------------------------------------------------------
PARSER = "rds_xacct/model/arns.py"
NOT_AN_ARN = "# not an ARN"
"""A line that splits some other text on colons says so with this comment."""
PENDING: set[str] = set()
"""Modules whose owners are moving them to the parser (issue 19). Once a module has no hand
split left (or is gone), the guard below says to take it off this list."""


def _hand_splits(path: Path, root: Path = FUNCTIONS) -> list[str]:
    """`text.split(":")`, `.rsplit(":", …)`, `.partition(":")`, `":".join(…)` in a module."""
    source = path.read_text()
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        name, owner = node.func.attr, node.func.value
        colon_arg = bool(node.args) and _is_colon(node.args[0])
        splits = name in ("split", "rsplit", "partition", "rpartition") and colon_arg
        joins = name == "join" and _is_colon(owner)
        if (splits or joins) and NOT_AN_ARN not in lines[node.lineno - 1]:
            found.append(f"{path.relative_to(root)}:{node.lineno}: {ast.unparse(node)}")
    return sorted(found, key=lambda line: int(line.split(":")[1]))


def _is_colon(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value == ":"


def test_no_module_splits_an_arn_by_hand() -> None:
    # Every module of functions/ but the parser reads ARNs with rds_xacct.model.arns.Arn
    found = [
        split
        for path in sorted(FUNCTIONS.rglob("*.py"))
        if str(path.relative_to(FUNCTIONS)) not in {PARSER, *PENDING}
        for split in _hand_splits(path)
    ]
    assert found == [], "Read ARNs with rds_xacct.model.arns.Arn:\n" + "\n".join(found)


def test_the_modules_still_pending_still_split_by_hand() -> None:
    done = [
        p
        for p in sorted(PENDING)
        if not (FUNCTIONS / p).exists() or not _hand_splits(FUNCTIONS / p)
    ]
    assert done == [], f"No hand split left in {done}: take them off PENDING"


def test_the_guard_sees_a_hand_split(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text(
        "def account(arn):\n"
        "    return arn.split(':')[4]\n"
        "def name(execution_arn):\n"
        "    return execution_arn.rsplit(':', 1)[-1]\n"
        "def database(parts):\n"
        "    return ':'.join([*parts[:5], 'db', 'orders'])\n"
        "def key(key_arn):\n"
        "    return key_arn.partition(':')\n"
        "def tag(text):\n"
        "    return text.split(':')  # not an ARN: a tag of key:value\n"
    )
    assert [line.split(": ", 1)[0] for line in _hand_splits(module, tmp_path)] == [
        "module.py:2",
        "module.py:4",
        "module.py:6",
        "module.py:8",
    ]
