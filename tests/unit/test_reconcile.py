"""The daily reconciliation's logic on two moto accounts and a state machine (Given / When /
Then): which recent source snapshots get a run, and which never do."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from rds_xacct.aws import accounts
from rds_xacct.jobs import reconcile, reconcile_events
from rds_xacct.jobs.reconcile_sources import Candidate, Scope
from rds_xacct.model import errors
from rds_xacct.model.constants import (
    APP_NAME,
    MAX_EXECUTION_NAME,
    RECONCILED_FIELD,
    ROLE_BACKUP,
    TAG_APP,
    TAG_ROLE,
    TAG_SOURCE_ARN,
)
from rds_xacct.model.naming import copy_identifier
from rds_xacct.model.settings import ConfigurationError, Settings
from rds_xacct.model.snapshot import Snapshot
from rds_xacct.pipeline.events import parse_event
from simulation.events import backup_job_event
from simulation.sam_template import load_app
from simulation.world import (
    BACKUP_ACCOUNT,
    KEEPER_URL,
    MAIN_ACCOUNT,
    REGION,
    World,
    postgres_instance,
    session_in,
)
from tests.conftest import START

NOW = START
"""The tests' simulated clock (and so every run's start) is here."""


@pytest.fixture
def scope(world: World) -> Scope:
    """A state machine that only passes its input on (the runs' content does not matter here)."""
    sfn = world.main.client("stepfunctions")
    arn = sfn.create_state_machine(
        name="rds-xacct-copy-snapshot",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn=f"arn:aws:iam::{MAIN_ACCOUNT}:role/rds-xacct-states",
    )["stateMachineArn"]
    return Scope(state_machine_arn=arn)


def look(world: World, scope: Scope, settings: Settings | None = None, **event: Any) -> Any:
    return reconcile.reconcile(
        event, settings=settings or world.settings(), scope=scope, now=lambda: NOW
    )


def backup_snapshot(world: World, database: str, hours_ago: float, kind: str = "db") -> str:
    if kind == "cluster":
        world.cluster(database)
    else:
        world.database(database)
    return world.backup_snapshot(
        database, str(uuid.uuid4()), kind=kind, created_at=NOW - timedelta(hours=hours_ago)
    )


def runs(world: World, scope: Scope) -> list[Any]:
    sfn = world.main.client("stepfunctions")
    return list(sfn.list_executions(stateMachineArn=scope.state_machine_arn)["executions"])


def run_input(world: World, execution_arn: str) -> dict[str, Any]:
    sfn = world.main.client("stepfunctions")
    described = sfn.describe_execution(executionArn=execution_arn)
    value: dict[str, Any] = json.loads(described["input"])
    return value


def test_a_snapshot_whose_event_went_missing_gets_a_run_with_the_event_it_would_have_sent(
    world: World, scope: Scope
) -> None:
    # Given an AWS Backup snapshot made 3 hours ago, with no copy and no run
    arn = backup_snapshot(world, "orders-db", 3)
    # When reconciliation looks
    result = look(world, scope)
    # Then it started one run for it, named after the source
    assert [s["source"] for s in result["started"]] == [arn]
    started = runs(world, scope)
    assert len(started) == 1
    assert started[0]["name"].startswith("reconcile-orders-db-")
    # And the run's input is an AWS Backup event for that snapshot, marked as built here
    event = run_input(world, started[0]["executionArn"])
    assert event["source"] == "aws.backup"
    assert event["detail"][RECONCILED_FIELD]
    parsed = parse_event(event)
    assert (parsed.snapshot.arn, parsed.origin, parsed.kind) == (arn, "aws-backup", "db")
    assert event["detail"]["resourceArn"] == f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:db:orders-db"
    # And nothing else was found wanting
    assert result["overCap"] == []
    assert result["problems"] == []


def test_a_second_reconciliation_starts_nothing(world: World, scope: Scope) -> None:
    # Given a missed snapshot that the first reconciliation started a run for
    backup_snapshot(world, "orders-db", 3)
    first = look(world, scope)
    assert len(first["started"]) == 1
    # When reconciliation looks again the same day
    second = look(world, scope)
    # Then it finds that run and starts nothing
    assert second["started"] == []
    assert second["runs"] == 1
    assert len(runs(world, scope)) == 1


def test_a_snapshot_whose_event_started_a_run_is_not_started_again(
    world: World, scope: Scope
) -> None:
    # Given a snapshot whose event did arrive and started a run (a random name, as EventBridge
    # gives) that has made no copy yet
    arn = backup_snapshot(world, "orders-db", 3)
    event = backup_job_event(arn, f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:db:orders-db")
    world.main.client("stepfunctions").start_execution(
        stateMachineArn=scope.state_machine_arn, name=str(uuid.uuid4()), input=json.dumps(event)
    )
    # When reconciliation looks
    result = look(world, scope)
    # Then the run is found by its input and no other is started
    assert result["started"] == []
    assert result["runs"] == 1
    assert len(runs(world, scope)) == 1


def _copy_in_backup_account(world: World, source_arn: str, identifier: str, tags: bool) -> None:
    backup = session_in(BACKUP_ACCOUNT)
    rds = backup.client("rds")
    postgres_instance(rds, "restored")
    tag_list: list[Any] = (
        [
            {"Key": TAG_APP, "Value": APP_NAME},
            {"Key": TAG_SOURCE_ARN, "Value": source_arn},
            {"Key": TAG_ROLE, "Value": ROLE_BACKUP},
        ]
        if tags
        else []
    )
    rds.create_db_snapshot(
        DBInstanceIdentifier="restored", DBSnapshotIdentifier=identifier, Tags=tag_list
    )


@pytest.mark.parametrize("tags", [True, False], ids=["by-tag", "by-name-tags-removed"])
def test_a_snapshot_already_copied_is_not_started(world: World, scope: Scope, tags: bool) -> None:
    # Given a snapshot whose backup copy is in the backup account: tagged by the app, or with
    # its tags removed by an operator (known by its deterministic name)
    arn = backup_snapshot(world, "orders-db", 3)
    identifier = copy_identifier(
        source_arn=arn, database="orders-db", created_at=NOW - timedelta(hours=3), kind="db"
    )
    _copy_in_backup_account(world, arn, identifier, tags)
    # When reconciliation looks
    result = look(world, scope)
    # Then nothing is started
    assert result["started"] == []
    assert result["copied"] == 1
    assert runs(world, scope) == []


def test_databases_the_selection_leaves_out_are_not_started(world: World, scope: Scope) -> None:
    # Given missed snapshots of an excluded database, of one without the selection tag, and of
    # one the selection chooses
    backup_snapshot(world, "orders-test", 3)
    world.database("billing", tags={"backup-copy": "false"})
    world.backup_snapshot("billing", "job-b", created_at=NOW - timedelta(hours=3))
    world.database("ledger", tags={"backup-copy": "true"})
    chosen = world.backup_snapshot("ledger", "job-l", created_at=NOW - timedelta(hours=3))
    settings = world.settings(exclude=("*-test",), selection_tag=("backup-copy", "true"))
    # When reconciliation looks
    result = look(world, scope, settings)
    # Then only the chosen database's snapshot is started
    assert [s["source"] for s in result["started"]] == [chosen]
    assert result["excluded"] == 2


def test_only_the_last_day_is_looked_at_and_not_the_last_hour(world: World, scope: Scope) -> None:
    # Given snapshots made 30 minutes, 5 hours and 30 hours ago
    backup_snapshot(world, "young-db", 0.5)
    middle = backup_snapshot(world, "middle-db", 5)
    backup_snapshot(world, "old-db", 30)
    # When reconciliation looks with the default lookback, then with 36 hours
    result = look(world, scope)
    longer = look(world, scope, lookbackHours=36)
    # Then the young one is left to its event, the old one only to the longer look
    assert [s["source"] for s in result["started"]] == [middle]
    assert [s["database"] for s in longer["started"]] == ["old-db"]


def test_a_wrong_lookback_is_refused(world: World, scope: Scope) -> None:
    with pytest.raises(errors.UnsupportedEvent, match="lookbackHours"):
        look(world, scope, lookbackHours="a week")
    with pytest.raises(errors.UnsupportedEvent, match="lookbackHours"):
        look(world, scope, lookbackHours=10_000)


def test_native_snapshots_only_when_the_deployment_copies_them_and_never_its_own_copies(
    world: World, scope: Scope
) -> None:
    # Given a native manual snapshot, an automated one, and a manual snapshot named like the
    # app's copies, all made 3 hours ago
    world.database("orders-db")
    made = NOW - timedelta(hours=3)
    manual = world.snapshot("orders-db", "before-upgrade", created_at=made)
    world.snapshot(
        "orders-db", "rds:orders-db-2026-11-23-23-30", snapshot_type="automated", created_at=made
    )
    world.snapshot("orders-db", "xacct-orders-db-20261123-233000-0a1b2c3d", created_at=made)
    # When reconciliation looks for a deployment without native snapshots
    without = look(world, scope)
    # Then nothing is started
    assert without["looked"] == 0
    # When the deployment copies native manual DB snapshots
    with_manual = Scope(scope.state_machine_arn, frozenset({("db", "rds-manual")}))
    result = look(world, with_manual)
    # Then the manual snapshot is started with RDS's own event, and the app's copy is not
    assert [s["source"] for s in result["started"]] == [manual]
    event = run_input(world, result["started"][0]["execution"])
    assert event["detail"]["EventID"] == "RDS-EVENT-0042"
    assert parse_event(event).snapshot.arn == manual


def test_an_aurora_backup_gets_an_aurora_event(world: World, scope: Scope) -> None:
    # Given a missed AWS Backup snapshot of an Aurora cluster
    arn = backup_snapshot(world, "billing-aurora", 3, kind="cluster")
    # When reconciliation looks
    result = look(world, scope)
    # Then its run's event says Aurora and names the cluster
    event = run_input(world, result["started"][0]["execution"])
    assert event["detail"]["resourceType"] == "Aurora"
    assert parse_event(event).snapshot.arn == arn


def test_the_runs_started_a_day_are_capped_and_the_rest_reported(
    world: World, scope: Scope, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given three missed snapshots and a cap of two runs a day
    monkeypatch.setattr(reconcile, "RECONCILE_MAX_STARTS_PER_DAY", 2)
    arns = [backup_snapshot(world, f"db-{n}", 5 - n) for n in range(3)]
    topic = world.main.client("sns").create_topic(Name="rds-xacct-notifications")["TopicArn"]
    settings = world.settings(topic_arn=topic)
    # When reconciliation looks, then looks again
    result = reconcile.run({}, settings=settings, scope=scope, now=lambda: NOW)
    again = reconcile.run({}, settings=settings, scope=scope, now=lambda: NOW)
    # Then the two oldest are started, the third is named as over the cap, twice (the cap is
    # for 24 hours, not for one look)
    assert [s["source"] for s in result["started"]] == arns[:2]
    assert result["overCap"] == [arns[2]]
    assert again["started"] == []
    assert again["overCap"] == [arns[2]]
    # And each look said so on SNS
    assert "sns" in result
    assert "sns" in again


def test_nothing_is_sent_when_all_is_well(world: World, scope: Scope) -> None:
    # Given no missed snapshot
    topic = world.main.client("sns").create_topic(Name="rds-xacct-notifications")["TopicArn"]
    # When reconciliation looks
    result = reconcile.run({}, settings=world.settings(topic_arn=topic), scope=scope)
    # Then it sends nothing
    assert result["started"] == []
    assert "sns" not in result


def test_without_the_whole_picture_nothing_is_started(
    world: World, scope: Scope, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a missed snapshot, and a backup account that cannot be read
    backup_snapshot(world, "orders-db", 3)

    def denied(self: accounts.Accounts, kind: str) -> None:
        raise errors.AccessDenied("Assuming the backup-account role failed: AccessDenied")

    monkeypatch.setattr(accounts.Accounts, "backup", denied)
    # When reconciliation looks
    result = look(world, scope)
    # Then it starts nothing (it cannot tell whether a copy exists) and reports the problem
    assert result["started"] == []
    assert runs(world, scope) == []
    assert result["problems"] == [
        "AccessDenied: Assuming the backup-account role failed: AccessDenied"
    ]


def test_execution_names_follow_step_functions_rules() -> None:
    # Given sources with short, long and odd database names
    for database in ("orders-db", "x" * 200, "Weird_Name.With--Dots", "--"):
        snapshot = Snapshot(
            kind="db",
            identifier=f"awsbackup:job-{uuid.uuid4()}",
            arn=f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:snapshot:awsbackup:job-1",
            database=database,
            engine="postgres",
            status="available",
            created_at=NOW,
            encrypted=True,
            kms_key_id=None,
            size_gib=20,
            percent=100,
            snapshot_type="awsbackup",
        )
        # Then each name is at most 80 letters, digits and hyphens, and the same every time
        name = reconcile_events.execution_name(snapshot)
        assert len(name) <= MAX_EXECUTION_NAME
        assert re.fullmatch(r"reconcile-[a-z0-9-]+-\d{14}-[0-9a-f]{8}", name)
        assert name == reconcile_events.execution_name(snapshot)


def test_scope_reads_the_template_environment() -> None:
    arn = f"arn:aws:states:{REGION}:{MAIN_ACCOUNT}:stateMachine:rds-xacct-copy-snapshot"
    scope = Scope.from_env(
        {
            "STATE_MACHINE_ARN": arn,
            "COPY_RDS_AUTOMATED_SNAPSHOTS": "true",
            "COPY_RDS_MANUAL_CLUSTER_SNAPSHOTS": "true",
            "COPY_RDS_MANUAL_SNAPSHOTS": "false",
        }
    )
    assert scope.native == {("db", "rds-automated"), ("cluster", "rds-manual")}
    with pytest.raises(ConfigurationError):
        Scope.from_env({})


def test_the_reconciler_may_list_and_start_exactly_the_copy_state_machine() -> None:
    # Given the template as deployed
    app = load_app(
        {
            "BackupAccountId": BACKUP_ACCOUNT,
            "BackupAccountKmsKeyArn": f"arn:aws:kms:{REGION}:{BACKUP_ACCOUNT}:key/"
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "BackupAccountRoleArn": f"arn:aws:iam::{BACKUP_ACCOUNT}:role/rds-xacct-backup-copy",
            "BackupAccountKeeperUrl": KEEPER_URL,
            "BackupAccountSlotBrokerUrl": KEEPER_URL.replace("https://", "https://b"),
        },
        account=MAIN_ACCOUNT,
        region=REGION,
        refs={"NotificationTopic": "topic", "AdmissionTable": "table"},
    )
    # Then the reconciler is told the copy state machine and scheduled daily
    state_machine = app.functions["ReconcileFunction"].environment["STATE_MACHINE_ARN"]
    assert state_machine.endswith(f":stateMachine:{app.state_machine_name}")
    reconciler = app.template["Resources"]["ReconcileFunction"]["Properties"]
    assert reconciler["Events"]["Daily"]["Type"] == "ScheduleV2"
    # And its permissions name that state machine (by name: a reference would be a cycle) and
    # its runs, nothing wider
    (policy,) = [
        p
        for p in app.template["Resources"]["PipelineRole"]["Properties"]["Policies"]
        if p["PolicyName"] == "reconcile-missed-events"
    ]
    granted = {
        action: app.resolver.resolve(statement["Resource"])
        for statement in policy["PolicyDocument"]["Statement"]
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    }
    assert granted == {
        "states:ListExecutions": state_machine,
        "states:StartExecution": state_machine,
        "states:DescribeExecution": state_machine.replace(":stateMachine:", ":execution:") + ":*",
    }


def test_a_neptune_backup_is_never_started(world: World, scope: Scope) -> None:
    # Given an AWS Backup snapshot of a Neptune cluster, which RDS's API lists among its cluster
    # snapshots but whose event (resourceType Neptune) the rule never delivers, and a missed
    # Aurora backup
    world.main.client("rds").create_db_cluster(DBClusterIdentifier="graph", Engine="neptune")
    world.backup_snapshot("graph", "9c8b7a6d", kind="cluster", created_at=NOW - timedelta(hours=3))
    aurora = backup_snapshot(world, "billing-aurora", 3, kind="cluster")
    # When reconciliation looks
    result = look(world, scope)
    # Then only the Aurora backup gets a run: the other would only end skipped, every day
    assert [s["source"] for s in result["started"]] == [aurora]
    assert result["looked"] == 1


def _candidate(database: str = "orders-db") -> Candidate:
    snapshot = Snapshot(
        kind="db",
        identifier="awsbackup:job-1",
        arn=f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:snapshot:awsbackup:job-1",
        database=database,
        engine="postgres",
        status="available",
        created_at=NOW - timedelta(hours=3),
        encrypted=True,
        kms_key_id=None,
        size_gib=20,
        percent=100,
        snapshot_type="awsbackup",
    )
    return Candidate(snapshot, "aws-backup")


@pytest.fixture
def waiting() -> Iterator[tuple[Any, Scope]]:
    """Step Functions (moto, not executing: its runs stay RUNNING, and StartExecution's
    idempotency holds only for a running execution) and a state machine."""
    with mock_aws():
        sfn = boto3.client("stepfunctions", region_name=REGION)
        arn = sfn.create_state_machine(
            name="rds-xacct-copy-snapshot",
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
            roleArn=f"arn:aws:iam::{MAIN_ACCOUNT}:role/rds-xacct-states",
        )["stateMachineArn"]
        yield sfn, Scope(state_machine_arn=arn)


def _start(sfn: Any, scope: Scope, candidate: Candidate, look: str) -> tuple[str, bool]:
    """What a look does to start a run: its name, its event marked with the look's id."""
    name = reconcile_events.execution_name(candidate.snapshot)
    event = reconcile_events.build_event(candidate, look)
    return reconcile_events.start_run(sfn, scope.state_machine_arn, name, event)


def test_two_reconciliations_at_once_start_one_run_and_count_it_apart(
    waiting: tuple[Any, Scope],
) -> None:
    # Given two looks at the same time (the scheduler delivers at least once) that both found
    # the same missed snapshot
    sfn, waiting_scope = waiting
    candidate = _candidate()
    # When the first starts its run
    arn, new = _start(sfn, waiting_scope, candidate, "look-a")
    assert new
    # Then the same start sent again by the first look (the SDK retrying a lost answer) is the
    # run it started: StartExecution answers the running execution of that name and input
    assert _start(sfn, waiting_scope, candidate, "look-a") == (arn, True)
    # And the second look's start, its input marked with its own id, is refused
    # (ExecutionAlreadyExists): not counted as a run it started
    name, new = _start(sfn, waiting_scope, candidate, "look-b")
    assert (name, new) == (reconcile_events.execution_name(candidate.snapshot), False)
    listed = sfn.list_executions(stateMachineArn=waiting_scope.state_machine_arn)["executions"]
    assert [e["executionArn"] for e in listed] == [arn]


def test_each_look_marks_its_events_with_its_own_id(world: World, scope: Scope) -> None:
    backup_snapshot(world, "orders-db", 3)
    result = reconcile.reconcile(
        {}, settings=world.settings(), scope=scope, now=lambda: NOW, look="look-1"
    )
    assert result["look"] == "look-1"
    [started] = runs(world, scope)
    assert "look-1" in run_input(world, started["executionArn"])["detail"][RECONCILED_FIELD]
    # (the rest of the event is the same for every look: the snapshot's)
    candidate = _candidate()
    one, two = (
        reconcile_events.build_event(candidate, "a"),
        reconcile_events.build_event(candidate, "b"),
    )
    assert one["detail"][RECONCILED_FIELD] != two["detail"][RECONCILED_FIELD]
    one["detail"].pop(RECONCILED_FIELD)
    two["detail"].pop(RECONCILED_FIELD)
    assert one == two
