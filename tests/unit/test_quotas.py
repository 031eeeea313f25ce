"""Room for one more manual snapshot, found out before copying (Given / When / Then)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber
from moto.sns.models import sns_backends

from rds_xacct.admission import capacity
from rds_xacct.aws import quotas
from rds_xacct.aws.clients import aws_call
from rds_xacct.aws.quotas import QuotaUsage, ensure_room, manual_snapshot_usage
from rds_xacct.model import errors
from rds_xacct.model.constants import QUOTA_WARN_FRACTION
from rds_xacct.model.state import Kind
from simulation.moto import RDS_LIMITS
from simulation.sam_template import load_template
from simulation.world import BACKUP_ACCOUNT, MAIN_ACCOUNT, REGION, World


def _manual_snapshots(world: World, count: int, *, kind: str = "db") -> None:
    if kind == "cluster":
        world.cluster("ledger")
    else:
        world.database("orders-db")
    for i in range(count):
        world.native_snapshot("ledger" if kind == "cluster" else "orders-db", f"m{i}", kind=kind)


def test_usage_reports_the_main_accounts_manual_db_snapshots(world: World) -> None:
    # Given a main account allowed 10 manual DB snapshots, holding 8 (and an automated one)
    RDS_LIMITS.set_manual_snapshot_quota(MAIN_ACCOUNT, db=10)
    _manual_snapshots(world, 8)
    world.native_snapshot("orders-db", "rds:orders-db-2026-11-24")
    # When its usage is read
    usage = manual_snapshot_usage(world.main.client("rds"), MAIN_ACCOUNT, "db")
    # Then it names the quota and counts the manual snapshots only
    assert usage == QuotaUsage(
        account=MAIN_ACCOUNT,
        region=REGION,
        kind="db",
        name="Manual DB instance snapshots",
        code="L-272F1212",
        used=8,
        max=10,
    )
    assert usage.fraction == 0.8
    assert usage.room == 2
    # And at 80 % it is near full: time to warn
    assert QUOTA_WARN_FRACTION == 0.8
    assert usage.near_full
    assert usage.text == (
        f"Account {MAIN_ACCOUNT} ({REGION}): 'Manual DB instance snapshots' 8 of 10 used (80 %)"
    )
    # And there is room for one more
    ensure_room(usage)


def test_usage_in_the_backup_account_through_its_role(world: World) -> None:
    # Given the backup account's cluster quota, read through the assumed role
    RDS_LIMITS.set_manual_snapshot_quota(BACKUP_ACCOUNT, cluster=40)
    client = world.backup.client("rds")
    # When its cluster usage is read
    usage = manual_snapshot_usage(client, BACKUP_ACCOUNT, "cluster")
    # Then it is the backup account's quota of manual cluster snapshots, empty
    assert usage is not None
    assert (usage.account, usage.name, usage.code) == (
        BACKUP_ACCOUNT,
        "Manual DB cluster snapshots",
        "L-9B510759",
    )
    assert (usage.used, usage.max, usage.fraction, usage.near_full) == (0, 40, 0.0, False)


@pytest.mark.parametrize(
    ("kind", "name", "code", "noun"),
    [
        ("db", "Manual DB instance snapshots", "L-272F1212", "DB snapshot"),
        ("cluster", "Manual DB cluster snapshots", "L-9B510759", "DB cluster snapshot"),
    ],
)
def test_a_full_quota_is_refused_before_copying_with_what_to_do(
    world: World, kind: Kind, name: str, code: str, noun: str
) -> None:
    # Given a main account whose quota of 3 manual snapshots of the kind is full
    RDS_LIMITS.set_manual_snapshot_quota(MAIN_ACCOUNT, db=3, cluster=3)
    _manual_snapshots(world, 3, kind=kind)
    usage = manual_snapshot_usage(world.main.client("rds"), MAIN_ACCOUNT, kind)
    assert usage is not None
    assert usage.fraction == 1.0
    # When the room for one more is checked
    with pytest.raises(errors.QuotaExceeded) as raised:
        ensure_room(usage)
    # Then the message names the account, the quota, the usage and the maximum, and says how to
    # raise it or make room
    message = str(raised.value)
    assert f"Account {MAIN_ACCOUNT} has no room for another manual {noun} in {REGION}" in message
    assert f"'{name}' ({code}) is full, 3 of 3 used" in message
    assert f"Delete old manual {noun}s" in message
    assert "Service Quotas console" in message
    assert (
        f"aws service-quotas request-service-quota-increase --service-code rds "
        f"--quota-code {code} --desired-value 6 --region {REGION}` run in account {MAIN_ACCOUNT}"
    ) in message


def test_the_check_agrees_with_what_rds_then_refuses(world: World) -> None:
    # Given a full quota of 2 manual DB snapshots
    RDS_LIMITS.set_manual_snapshot_quota(MAIN_ACCOUNT, db=2)
    _manual_snapshots(world, 2)
    rds = world.main.client("rds")
    usage = manual_snapshot_usage(rds, MAIN_ACCOUNT, "db")
    # When the copy is tried anyway, Then RDS refuses it as the check said: QuotaExceeded
    with pytest.raises(errors.QuotaExceeded):
        ensure_room(usage)
    with (
        pytest.raises(errors.QuotaExceeded, match="Cannot create more than 2 manual snapshots"),
        aws_call("Copying DB snapshot m0 to c1"),
    ):
        rds.copy_db_snapshot(SourceDBSnapshotIdentifier="m0", TargetDBSnapshotIdentifier="c1")


def _stubbed(error_code: str | None = None, response: dict[str, Any] | None = None) -> Any:
    """An RDS client whose one DescribeAccountAttributes answers as given."""
    client = boto3.client("rds", region_name=REGION)
    stubber = Stubber(client)
    if error_code is not None:
        stubber.add_client_error("describe_account_attributes", error_code, "not authorized")
    else:
        stubber.add_response("describe_account_attributes", response or {})
    stubber.activate()
    return client


def test_no_usage_when_describe_account_attributes_is_denied() -> None:
    # Given a role without rds:DescribeAccountAttributes
    client = _stubbed(error_code="AccessDenied")
    # When the usage is read, Then it is unknown (None), and the copy is not blocked
    usage = manual_snapshot_usage(client, MAIN_ACCOUNT, "db")
    assert usage is None
    ensure_room(usage)


def test_no_usage_when_the_call_fails_or_the_quota_is_not_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given an answer without the quota
    client = _stubbed(
        response={"AccountQuotas": [{"AccountQuotaName": "DBInstances", "Used": 1, "Max": 40}]}
    )
    # Then the usage is unknown
    assert manual_snapshot_usage(client, MAIN_ACCOUNT, "db") is None
    # Given a call that cannot reach RDS
    unreachable = boto3.client("rds", region_name=REGION)

    def fail() -> None:
        raise EndpointConnectionError(endpoint_url="https://rds.eu-west-1.amazonaws.com")

    monkeypatch.setattr(unreachable, "describe_account_attributes", fail)
    # Then the usage is unknown too
    assert manual_snapshot_usage(unreachable, MAIN_ACCOUNT, "cluster") is None


def test_the_quota_names_come_from_one_table() -> None:
    assert {k: q.api_name for k, q in quotas.MANUAL_SNAPSHOT_QUOTAS.items()} == {
        "db": "ManualSnapshots",
        "cluster": "ManualClusterSnapshots",
    }


def test_a_quota_warning_goes_out_once_a_day_marked_in_the_notices_table(world: World) -> None:
    # Given the notices table as template.yaml declares it, a topic, and a quota 90 % full
    properties = load_template()["Resources"]["NoticeTable"]["Properties"]
    dynamodb = world.main.client("dynamodb")
    dynamodb.create_table(
        TableName="rds-xacct-notices",
        BillingMode=properties["BillingMode"],
        AttributeDefinitions=properties["AttributeDefinitions"],
        KeySchema=properties["KeySchema"],
    )
    topic = world.main.client("sns").create_topic(Name="rds-xacct-notifications")["TopicArn"]
    settings = world.settings(topic_arn=topic, notice_table="rds-xacct-notices")
    usage = QuotaUsage(
        MAIN_ACCOUNT, REGION, "db", "Manual DB instance snapshots", "L-272F1212", 9, 10
    )
    morning = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    # When three runs notice it that day, and one the next day
    sent = [
        capacity.warn_once(usage, settings=settings, now=morning),
        capacity.warn_once(usage, settings=settings, now=morning + timedelta(hours=5)),
        capacity.warn_once(usage, settings=settings, now=morning + timedelta(hours=20)),
        capacity.warn_once(usage, settings=settings, now=morning + timedelta(days=1)),
    ]
    # Then one warning a day went out, to SNS
    assert sent == [True, False, False, True]
    messages: list[Any] = list(sns_backends[MAIN_ACCOUNT][REGION].topics[topic].sent_notifications)
    assert [m[3]["outcome"]["Value"] for m in messages] == ["quota-warning"] * 2
    assert (
        messages[0][2]
        == f"[rds-xacct] Warning: account {MAIN_ACCOUNT} manual snapshot quota 90% full"
    )
    # And the notices table holds one item per account, quota and day, each expiring two days on
    items = dynamodb.scan(TableName="rds-xacct-notices")["Items"]
    assert sorted(item["notice"]["S"] for item in items) == [
        f"quota-warning#{MAIN_ACCOUNT}#{REGION}#L-272F1212#2026-11-24",
        f"quota-warning#{MAIN_ACCOUNT}#{REGION}#L-272F1212#2026-11-25",
    ]
    assert int(min(item["expiresAt"]["N"] for item in items)) == int(
        (morning + timedelta(days=2)).timestamp()
    )
