"""Each patch in simulation/moto/ at work: if moto changes, these say where."""

from __future__ import annotations

import contextlib
import io
import json
import os
import threading
import time
import zipfile
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models.table import Table
from moto.rds.models import RDSBackend, rds_backends

from simulation.moto import (
    RDS_LIMITS,
    MotoPatches,
    SimClock,
    event_matches,
    wait_for_execution,
)
from simulation.world import (
    BACKUP_ACCOUNT,
    MAIN_ACCOUNT,
    REGION,
    World,
    backup_key_policy,
    postgres_instance,
)

_MOTO_TABLE_QUERY = Table.query
"""moto's own Query of a table (read before any test patches it)."""


class MyCustomError(Exception):
    pass


def _state_machine(definition: dict[str, Any]) -> tuple[Any, str]:
    iam = boto3.client("iam")
    role = iam.create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    sfn = boto3.client("stepfunctions")
    arn = sfn.create_state_machine(name="sm", definition=json.dumps(definition), roleArn=role)[
        "stateMachineArn"
    ]
    return sfn, arn


def _function(name: str) -> str:
    role = boto3.client("iam").create_role(RoleName=f"fn-{name}", AssumeRolePolicyDocument="{}")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("h.py", "def handler(e, c):\n    return e\n")
    return str(
        boto3.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.13",
            Role=role["Role"]["Arn"],
            Handler="h.handler",
            Code={"ZipFile": code.getvalue()},
        )["FunctionArn"]
    )


def _run(sfn: Any, arn: str, name: str = "run", data: Any = None) -> dict[str, Any]:
    execution = sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(data or {}))
    return wait_for_execution(sfn, execution["executionArn"])


def test_each_invocation_sees_its_own_environment_over_the_process(patches: MotoPatches) -> None:
    # Given invocations that may have variables of their own (functions of several accounts)
    os.environ["SHARED_SETTING"] = "process"
    seen: dict[str, tuple[str | None, str | None]] = {}
    with patches.environments_per_invocation():

        def read(name: str) -> None:
            seen[name] = (os.environ.get("SHARED_SETTING"), os.getenv("OWN_SETTING"))

        def invocation(name: str, own: dict[str, str] | None) -> None:
            with patches.own_environment(own):
                read(name)
                if own is not None:
                    # a function invoked from within this one runs in its own environment
                    with patches.own_environment(None):
                        read(f"{name}/nested")

        # When two run at the same time in two threads, one with variables of its own
        threads = [
            threading.Thread(
                target=invocation, args=("other", {"SHARED_SETTING": "own", "OWN_SETTING": "x"})
            ),
            threading.Thread(target=invocation, args=("main", None)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    # Then each saw its own, a nested invocation and the other thread the process's
    assert seen == {
        "other": ("own", "x"),
        "other/nested": ("process", None),
        "main": ("process", None),
    }
    # And the process's environment is what it was, the wrapper gone
    assert type(os.environ).__name__ == "_Environ"
    assert os.environ.pop("SHARED_SETTING") == "process"


def test_lambda_errors_reach_retry_and_catch_by_class_name(patches: MotoPatches) -> None:
    # Given a handler that fails twice with MyCustomError, then once more for good
    calls: list[int] = []

    def flaky(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append(1)
        if len(calls) <= 2:
            raise MyCustomError("not yet")
        if event.get("fail"):
            raise MyCustomError("for good")
        return {"ok": True, "env": __import__("os").environ.get("GREETING")}

    arn = _function("flaky")
    patches.route_lambda("flaky", flaky, {"GREETING": "hello"})
    sfn, machine = _state_machine(
        {
            "StartAt": "Call",
            "States": {
                "Call": {
                    "Type": "Task",
                    "Resource": arn,
                    "Retry": [
                        {"ErrorEquals": ["MyCustomError"], "IntervalSeconds": 30, "MaxAttempts": 2}
                    ],
                    "Catch": [
                        {
                            "ErrorEquals": ["MyCustomError"],
                            "ResultPath": "$.error",
                            "Next": "Caught",
                        }
                    ],
                    "End": True,
                },
                "Caught": {"Type": "Pass", "End": True},
            },
        }
    )
    # When it runs, Then the Retry absorbs the first two errors and the handler's result (with
    # the environment it was given) is the output
    started = time.monotonic()
    done = _run(sfn, machine, "first")
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == {"ok": True, "env": "hello"}
    assert len(calls) == 3
    # And the backoff ran on the simulated clock, not in real time
    assert time.monotonic() - started < 5
    # When every attempt fails, Then the Catch sees the class name and the message
    calls.clear()
    caught = _run(sfn, machine, "second", {"fail": True})
    assert caught["status"] == "SUCCEEDED"
    error = json.loads(caught["output"])["error"]
    assert error["Error"] == "MyCustomError"
    assert json.loads(error["Cause"])["errorMessage"] == "for good"


@pytest.mark.parametrize(
    "wait",
    [{"Seconds": 86400}, {"SecondsPath": "$.seconds"}, {"TimestampPath": "$.until"}],
    ids=["Seconds", "SecondsPath", "TimestampPath"],
)
def test_waits_run_on_the_simulated_clock(
    patches: MotoPatches, clock: SimClock, wait: dict[str, Any]
) -> None:
    # Given a Wait of one day
    sfn, machine = _state_machine(
        {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", **wait, "End": True}}}
    )
    before = clock.now()
    until = before.replace(day=before.day + 1).strftime("%Y-%m-%dT%H:%M:%SZ")
    # When it runs
    started = time.monotonic()
    done = _run(sfn, machine, data={"seconds": 86400, "until": until})
    # Then a simulated day passed in well under a second of real time
    assert done["status"] == "SUCCEEDED"
    assert time.monotonic() - started < 2
    assert 86390 <= (clock.now() - before).total_seconds() <= 86410


def test_two_executions_of_one_state_machine(patches: MotoPatches) -> None:
    sfn, machine = _state_machine({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    assert _run(sfn, machine, "one")["status"] == "SUCCEEDED"
    assert _run(sfn, machine, "two")["status"] == "SUCCEEDED"


def test_a_snapshot_shared_from_another_account_is_copied_by_arn(world: World) -> None:
    # Given a manual snapshot in the main account (unencrypted: the backup account could copy
    # no snapshot encrypted with the main account's aws/rds, nor one encrypted without a key)
    world.database("orders-db", encryption="none")
    rds = world.main.client("rds")
    arn = rds.create_db_snapshot(DBInstanceIdentifier="orders-db", DBSnapshotIdentifier="s1")[
        "DBSnapshot"
    ]["DBSnapshotArn"]
    backup_rds = world.backup.client("rds")
    # When the backup account copies it by ARN before it is shared, Then it is not found
    with pytest.raises(ClientError, match="DBSnapshotNotFound"):
        backup_rds.copy_db_snapshot(SourceDBSnapshotIdentifier=arn, TargetDBSnapshotIdentifier="c1")
    # When it is shared, Then the copy is made in the backup account
    rds.modify_db_snapshot_attribute(
        DBSnapshotIdentifier="s1", AttributeName="restore", ValuesToAdd=[BACKUP_ACCOUNT]
    )
    copy = backup_rds.copy_db_snapshot(
        SourceDBSnapshotIdentifier=arn, TargetDBSnapshotIdentifier="c1"
    )["DBSnapshot"]
    assert copy["DBSnapshotArn"] == f"arn:aws:rds:{REGION}:{BACKUP_ACCOUNT}:snapshot:c1"
    assert "s1" in rds_backends[MAIN_ACCOUNT][REGION].database_snapshots


def test_kms_keys_rds_may_not_use_are_refused(world: World) -> None:
    world.database("orders-db")
    rds = world.main.client("rds")
    rds.create_db_snapshot(DBInstanceIdentifier="orders-db", DBSnapshotIdentifier="s1")
    kms = world.backup.client("kms")
    unlisted = kms.create_key(Policy=backup_key_policy())["KeyMetadata"]["Arn"]
    disabled_key = kms.create_key(Policy=backup_key_policy(MAIN_ACCOUNT))["KeyMetadata"]
    kms.disable_key(KeyId=disabled_key["KeyId"])
    disabled = disabled_key["Arn"]
    for key in (unlisted, disabled):
        with pytest.raises(ClientError, match="KMSKeyNotAccessibleFault"):
            rds.copy_db_snapshot(
                SourceDBSnapshotIdentifier="s1", TargetDBSnapshotIdentifier="c1", KmsKeyId=key
            )
    made = rds.copy_db_snapshot(
        SourceDBSnapshotIdentifier="s1",
        TargetDBSnapshotIdentifier="c1",
        KmsKeyId=world.backup_key_arn,
    )["DBSnapshot"]
    assert made["KmsKeyId"] == world.backup_key_arn


# --- RDS: copies of encrypted snapshots across accounts and Regions -----------------------------
def _snapshot_of(world: World, kind: str, encryption: str) -> str:
    """A manual snapshot in the main account of a new database or cluster; its ARN.
    `encryption` as `World.database` takes it, or "no key given" (encrypted, with no KmsKeyId:
    RDS uses aws/rds)."""
    if encryption == "no key given":
        rds = world.main_client("rds")
        if kind == "cluster":
            rds.create_db_cluster(
                DBClusterIdentifier="ledger",
                Engine="aurora-postgresql",
                MasterUsername="admin_user",
                MasterUserPassword="not-a-real-password",
                StorageEncrypted=True,
            )
        else:
            postgres_instance(rds, "orders-db", StorageEncrypted=True)
    elif kind == "cluster":
        world.cluster("ledger", encryption=encryption)
    else:
        world.database("orders-db", encryption=encryption)
    if kind == "cluster":
        return world.native_snapshot("ledger", "s1", kind="cluster")
    return world.native_snapshot("orders-db", "s1")


def _copy(rds: Any, kind: str, source: str, target: str, **key: str) -> dict[str, Any]:
    if kind == "cluster":
        return dict(
            rds.copy_db_cluster_snapshot(
                SourceDBClusterSnapshotIdentifier=source,
                TargetDBClusterSnapshotIdentifier=target,
                **key,
            )["DBClusterSnapshot"]
        )
    return dict(
        rds.copy_db_snapshot(
            SourceDBSnapshotIdentifier=source, TargetDBSnapshotIdentifier=target, **key
        )["DBSnapshot"]
    )


def _share(rds: Any, kind: str, identifier: str) -> None:
    if kind == "cluster":
        rds.modify_db_cluster_snapshot_attribute(
            DBClusterSnapshotIdentifier=identifier,
            AttributeName="restore",
            ValuesToAdd=[BACKUP_ACCOUNT],
        )
    else:
        rds.modify_db_snapshot_attribute(
            DBSnapshotIdentifier=identifier, AttributeName="restore", ValuesToAdd=[BACKUP_ACCOUNT]
        )


def _refused(copying: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as refused:
        copying()
    error = refused.value.response["Error"]
    return str(error["Code"]), str(error["Message"])


@pytest.mark.parametrize(
    ("kind", "encryption"), [("db", "aws/rds"), ("cluster", "aws/rds"), ("cluster", "no key given")]
)
def test_a_snapshot_encrypted_with_aws_rds_is_shared_but_only_a_copy_with_a_shared_key_is_copied(
    world: World, kind: str, encryption: str
) -> None:
    # Given a snapshot encrypted with the main account's aws/rds (named, or used because no key
    # was given), shared with the backup account
    source = _snapshot_of(world, kind, encryption)
    rds, backup_rds = world.main_client("rds"), world.backup.client("rds")
    _share(rds, kind, "s1")
    # When the backup account copies it with its own key, Then RDS refuses: aws/rds is the
    # main account's only
    key = {"KmsKeyId": world.backup_key_arn}
    code, message = _refused(lambda: _copy(backup_rds, kind, source, "c1", **key))
    assert code == "KMSKeyNotAccessibleFault"
    assert message.startswith(f"The source snapshot KMS key [arn:aws:kms:{REGION}:{MAIN_ACCOUNT}:")
    # When the main account copies it with the backup key (as the app does), shares that copy,
    # and the backup account copies the shared copy with its key, Then the copy is made
    intermediate = _copy(rds, kind, "s1", "i1", **key)
    _share(rds, kind, "i1")
    arn = intermediate["DBClusterSnapshotArn" if kind == "cluster" else "DBSnapshotArn"]
    made = _copy(backup_rds, kind, arn, "c1", **key)
    assert made["KmsKeyId"] == world.backup_key_arn


@pytest.mark.parametrize("kind", ["db", "cluster"])
def test_a_copy_of_an_encrypted_snapshot_of_another_account_or_region_needs_a_key(
    world: World, kind: str
) -> None:
    # Given an encrypted snapshot in the main account, copied as the app copies it with the
    # backup key and shared with the backup account
    _snapshot_of(world, kind, "aws/rds")
    rds, backup_rds = world.main_client("rds"), world.backup.client("rds")
    shared = _copy(rds, kind, "s1", "i1", KmsKeyId=world.backup_key_arn)
    _share(rds, kind, "i1")
    arn = shared["DBClusterSnapshotArn" if kind == "cluster" else "DBSnapshotArn"]
    # When the backup account copies it without a key, Then RDS refuses
    code, message = _refused(lambda: _copy(backup_rds, kind, arn, "c1"))
    assert (code, message) == (
        "InvalidParameterValue",
        f"The snapshot {arn} is encrypted and shared from account {MAIN_ACCOUNT}: a KmsKeyId "
        "must be specified to copy it",
    )
    # When the main account copies its own snapshot into another Region without a key, Then
    # RDS refuses; with a key of that Region, the copy is made there
    other_region = "us-east-1"
    there = world.main.client("rds", region_name=other_region)
    source = shared["DBClusterSnapshotArn" if kind == "cluster" else "DBSnapshotArn"]
    code, message = _refused(lambda: _copy(there, kind, source, "c2"))
    assert (code, message) == (
        "InvalidParameterValue",
        "Must specify new KMS key for cross region encrypted snapshot copy.",
    )
    key = world.main.client("kms", region_name=other_region).create_key()["KeyMetadata"]["Arn"]
    made = _copy(there, kind, source, "c2", KmsKeyId=key)
    assert made["KmsKeyId"] == key
    # And within the account and Region a copy without a key is made, with the source's key
    assert _copy(rds, kind, "i1", "c3")["KmsKeyId"] == world.backup_key_arn


def _main_key(world: World, *users: str) -> str:
    """A customer managed key of the main account whose key policy lets `users` (and the main
    account) use it; its ARN."""
    accounts = [MAIN_ACCOUNT, *users]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": [f"arn:aws:iam::{a}:root" for a in accounts]},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
    kms = world.main_client("kms")
    return str(kms.create_key(Policy=json.dumps(policy))["KeyMetadata"]["Arn"])


def test_a_copy_needs_the_use_of_the_key_that_encrypts_its_source(world: World) -> None:
    # Given two snapshots shared with the backup account: one encrypted with a main-account key
    # only the main account may use, one with a key that also lets the backup account use it
    rds, backup_rds = world.main_client("rds"), world.backup.client("rds")
    closed, open_ = _main_key(world), _main_key(world, BACKUP_ACCOUNT)
    sources = {}
    for name, key in (("closed", closed), ("open", open_)):
        world.database(f"{name}-db", encryption=key)
        sources[name] = world.native_snapshot(f"{name}-db", name)
        _share(rds, "db", name)
    own_key = {"KmsKeyId": world.backup_key_arn}
    # When the backup account copies each with its own key, Then the first is refused, naming
    # the source's key, and the second is made
    code, message = _refused(lambda: _copy(backup_rds, "db", sources["closed"], "c1", **own_key))
    assert code == "KMSKeyNotAccessibleFault"
    assert f"[{closed}]" in message
    assert (
        _copy(backup_rds, "db", sources["open"], "c1", **own_key)["KmsKeyId"] == own_key["KmsKeyId"]
    )
    # And when the open key is disabled, no one can copy its snapshot, the main account neither
    world.main_client("kms").disable_key(KeyId=open_.rsplit("/", 1)[-1])
    for caller in (backup_rds, rds):
        with pytest.raises(ClientError, match="KMSKeyNotAccessibleFault"):
            _copy(caller, "db", sources["open"], "c2", **own_key)


def _described(rds: Any, identifier: str, kind: str = "db", **typed: str) -> str:
    """The type RDS describes the snapshot as, or the error code."""
    try:
        if kind == "cluster":
            found = rds.describe_db_cluster_snapshots(
                DBClusterSnapshotIdentifier=identifier, **typed
            )["DBClusterSnapshots"]
        else:
            found = rds.describe_db_snapshots(DBSnapshotIdentifier=identifier, **typed)[
                "DBSnapshots"
            ]
    except ClientError as error:
        return str(error.response["Error"]["Code"])
    return str(found[0]["SnapshotType"])


def test_a_snapshot_is_described_by_identifier_only_with_its_type(world: World) -> None:
    # Given an AWS Backup, an automated and a manual DB snapshot, and an automated and an AWS
    # Backup cluster snapshot
    world.database("orders-db")
    world.cluster("ledger")
    world.backup_snapshot("orders-db", "j1")
    world.native_snapshot("orders-db", "rds:orders-db-2026-11-24")
    world.native_snapshot("orders-db", "before-upgrade")
    world.native_snapshot("ledger", "rds:ledger-2026-11-24", kind="cluster")
    world.backup_snapshot("ledger", "j2", kind="cluster")
    rds = world.main.client("rds")
    # When each is described by identifier without a type, Then only the manual ones are found
    assert _described(rds, "awsbackup:job-j1") == "DBSnapshotNotFound"
    assert _described(rds, "rds:orders-db-2026-11-24") == "DBSnapshotNotFound"
    assert _described(rds, "before-upgrade") == "manual"
    assert _described(rds, "rds:ledger-2026-11-24", "cluster") == "DBClusterSnapshotNotFoundFault"
    assert _described(rds, "awsbackup:job-j2", "cluster") == "manual"
    # And with its type, each is found
    assert _described(rds, "awsbackup:job-j1", SnapshotType="awsbackup") == "awsbackup"
    assert _described(rds, "rds:orders-db-2026-11-24", SnapshotType="automated") == "automated"
    assert _described(rds, "before-upgrade", SnapshotType="manual") == "manual"
    cluster_automated = _described(
        rds, "rds:ledger-2026-11-24", "cluster", SnapshotType="automated"
    )
    assert cluster_automated == "automated"
    # And `awsbackup` does not apply to cluster snapshots
    awsbackup_cluster = _described(rds, "awsbackup:job-j2", "cluster", SnapshotType="awsbackup")
    assert awsbackup_cluster == "DBClusterSnapshotNotFoundFault"
    # And listing without an identifier still lists automated and manual snapshots
    listed = rds.describe_db_snapshots(DBInstanceIdentifier="orders-db")["DBSnapshots"]
    assert {s["SnapshotType"] for s in listed} == {"automated", "manual"}


def test_an_unencrypted_cluster_snapshot_is_copied_only_without_a_key(world: World) -> None:
    # Given an unencrypted cluster's snapshot and an unencrypted DB instance's snapshot
    world.cluster("ledger", encryption="none")
    world.database("orders-db", encryption="none")
    world.native_snapshot("ledger", "k1", kind="cluster")
    world.native_snapshot("orders-db", "s1")
    rds = world.main.client("rds")
    # When the cluster snapshot is copied with a key, Then RDS refuses
    with pytest.raises(ClientError, match="InvalidParameterValue") as refused:
        rds.copy_db_cluster_snapshot(
            SourceDBClusterSnapshotIdentifier="k1",
            TargetDBClusterSnapshotIdentifier="k2",
            KmsKeyId=world.backup_key_arn,
        )
    assert "not encrypted" in str(refused.value)
    # And without a key the copy is made, unencrypted, and the cluster stays unencrypted
    copied = rds.copy_db_cluster_snapshot(
        SourceDBClusterSnapshotIdentifier="k1", TargetDBClusterSnapshotIdentifier="k2"
    )["DBClusterSnapshot"]
    assert copied["StorageEncrypted"] is False
    assert rds.describe_db_clusters()["DBClusters"][0]["StorageEncrypted"] is False
    # And an unencrypted DB snapshot copied with a key comes out encrypted with it
    encrypted = rds.copy_db_snapshot(
        SourceDBSnapshotIdentifier="s1",
        TargetDBSnapshotIdentifier="s2",
        KmsKeyId=world.backup_key_arn,
    )["DBSnapshot"]
    assert (encrypted["Encrypted"], encrypted["KmsKeyId"]) == (True, world.backup_key_arn)


@pytest.mark.parametrize(
    ("engine", "version", "options", "shareable"),
    [
        ("oracle-ee", "19", ["TDE"], False),
        ("sqlserver-ee", "15.00", ["TDE"], False),
        ("oracle-ee", "19", ["Timezone", "OLS"], True),
        ("oracle-ee", "19", ["Timezone", "TDE"], False),
        ("mysql", "8.0", ["MARIADB_AUDIT_PLUGIN"], True),
    ],
)
def test_a_snapshot_whose_option_group_has_sticky_options_is_not_shared(
    world: World, engine: str, version: str, options: list[str], shareable: bool
) -> None:
    # Given a database in an option group with these options, and a copy of its snapshot
    world.database_with_options("db1", engine=engine, major_version=version, options=options)
    world.native_snapshot("db1", "s1")
    rds = world.main.client("rds")
    rds.copy_db_snapshot(SourceDBSnapshotIdentifier="s1", TargetDBSnapshotIdentifier="c1")
    # Then the snapshot and its copy name the option group, whose options say if they stick
    for name in ("s1", "c1"):
        snapshot = rds.describe_db_snapshots(DBSnapshotIdentifier=name)["DBSnapshots"][0]
        assert snapshot["OptionGroupName"] == "db1-options"
    listed = rds.describe_option_groups(OptionGroupName="db1-options")["OptionGroupsList"]
    flags = {o["OptionName"]: (o["Persistent"], o["Permanent"]) for o in listed[0]["Options"]}
    assert set(flags) == set(options)
    if "TDE" in flags:
        assert flags["TDE"] == ((True, True) if engine.startswith("oracle") else (True, False))
    # When the copy is shared, Then RDS shares it, or refuses as it does
    share = {"DBSnapshotIdentifier": "c1", "AttributeName": "restore"}
    if shareable:
        rds.modify_db_snapshot_attribute(**share, ValuesToAdd=[BACKUP_ACCOUNT])
        return
    with pytest.raises(ClientError, match="InvalidParameterValue") as refused:
        rds.modify_db_snapshot_attribute(**share, ValuesToAdd=[BACKUP_ACCOUNT])
    assert "permanent or persistent" in str(refused.value)


def test_copies_take_simulated_time(world: World, patches: MotoPatches, clock: SimClock) -> None:
    # Given copies that take 3 + 1 minute per GiB
    patches.simulate_copy_progress(minutes_per_gib=1.0, base_minutes=3.0)
    world.database("orders-db", size_gib=7)
    rds = world.main.client("rds")
    rds.create_db_snapshot(DBInstanceIdentifier="orders-db", DBSnapshotIdentifier="s1")
    rds.copy_db_snapshot(SourceDBSnapshotIdentifier="s1", TargetDBSnapshotIdentifier="c1")

    def look() -> tuple[str, int]:
        snap = rds.describe_db_snapshots(DBSnapshotIdentifier="c1")["DBSnapshots"][0]
        return snap["Status"], snap["PercentProgress"]

    # When the clock moves, Then the copy progresses and becomes available after 10 minutes
    assert look() == ("creating", 0)
    clock.advance(300)
    assert look() == ("creating", 50)
    clock.advance(300)
    assert look() == ("available", 100)


def test_event_patterns_match_as_eventbridge_does() -> None:
    pattern = {
        "source": ["aws.rds"],
        "detail": {
            "EventID": ["RDS-EVENT-0042"],
            "SourceIdentifier": [{"anything-but": {"prefix": "xacct-"}}],
        },
    }
    event: dict[str, Any] = {
        "source": "aws.rds",
        "detail": {"EventID": "RDS-EVENT-0042", "SourceIdentifier": "mine"},
    }
    assert event_matches(pattern, event)
    event["detail"]["SourceIdentifier"] = "xacct-orders-db-1"
    assert not event_matches(pattern, event)


# --- RDS: limits on snapshots --------------------------------------------------------------------
def _copies(rds: Any, source: str, names: list[str], kind: str = "db") -> list[str]:
    """Copy `source` to each name; the messages of the copies RDS refused."""
    refused: list[tuple[str, str]] = []
    for name in names:
        try:
            if kind == "cluster":
                rds.copy_db_cluster_snapshot(
                    SourceDBClusterSnapshotIdentifier=source,
                    TargetDBClusterSnapshotIdentifier=name,
                )
            else:
                rds.copy_db_snapshot(
                    SourceDBSnapshotIdentifier=source, TargetDBSnapshotIdentifier=name
                )
        except ClientError as error:
            answer = error.response["Error"]
            refused.append((answer.get("Code", ""), answer.get("Message", "")))
    assert {code for code, _ in refused} <= {"SnapshotQuotaExceeded"}
    return [message for _, message in refused]


def test_the_21st_copy_in_progress_is_refused_until_one_finishes(
    world: World, patches: MotoPatches, clock: SimClock
) -> None:
    # Given copies that take 3 minutes, of a DB snapshot and of a cluster snapshot
    patches.simulate_copy_progress(minutes_per_gib=0, base_minutes=3)
    world.database("orders-db")
    world.cluster("ledger")
    rds = world.main.client("rds")
    rds.create_db_snapshot(DBInstanceIdentifier="orders-db", DBSnapshotIdentifier="s1")
    rds.create_db_cluster_snapshot(DBClusterIdentifier="ledger", DBClusterSnapshotIdentifier="k1")
    # When 15 DB snapshot copies and 5 cluster snapshot copies are in progress
    assert _copies(rds, "s1", [f"c{i}" for i in range(15)]) == []
    assert _copies(rds, "k1", [f"k-c{i}" for i in range(5)], kind="cluster") == []
    # Then the 21st copy, of either kind, is refused, and the refusals are counted
    refused = _copies(rds, "s1", ["c15"]) + _copies(rds, "k1", ["k-c5"], kind="cluster")
    assert len(refused) == 2
    assert refused[0].startswith(
        "Cannot copy more than 20 snapshots at a time in this account and region"
    )
    assert RDS_LIMITS.rejected_copies == 2
    assert "c15" not in rds_backends[MAIN_ACCOUNT][REGION].database_snapshots
    # When the copies finish, Then there is room again
    clock.advance(3 * 60)
    assert _copies(rds, "s1", ["c15"]) == []


def test_the_copy_limit_holds_under_concurrent_copies(
    world: World, patches: MotoPatches, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given copies that stay in progress, and a limit of 5
    patches.simulate_copy_progress(minutes_per_gib=0, base_minutes=60)
    RDS_LIMITS.copies_in_progress_limit = 5
    world.database("orders-db")
    rds = world.main.client("rds")
    rds.create_db_snapshot(DBInstanceIdentifier="orders-db", DBSnapshotIdentifier="s1")
    # (and an RDS slow to make a copy once it has decided to: other threads run meanwhile)
    read_source = RDSBackend.get_db_snapshot

    def slow_read(backend: RDSBackend, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.02)
        return read_source(backend, *args, **kwargs)

    monkeypatch.setattr(RDSBackend, "get_db_snapshot", slow_read)
    refused: list[str] = []
    # When 16 threads copy at once
    threads = [
        threading.Thread(target=lambda i=i: refused.extend(_copies(rds, "s1", [f"c{i}"])))
        for i in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then exactly 5 copies are made and the rest are refused
    made = [s for s in rds_backends[MAIN_ACCOUNT][REGION].database_snapshots if s.startswith("c")]
    assert len(made) == 5
    assert len(refused) == 11 == RDS_LIMITS.rejected_copies


def test_the_manual_snapshot_quota_refuses_copies_and_snapshots(world: World) -> None:
    # Given a main account allowed 3 manual DB snapshots and 2 manual cluster snapshots
    RDS_LIMITS.set_manual_snapshot_quota(MAIN_ACCOUNT, db=3, cluster=2)
    world.database("orders-db")
    world.cluster("ledger")
    # (automated and AWS Backup DB snapshots do not count; an AWS Backup cluster snapshot is a
    # manual one: cluster snapshots have no `awsbackup` type)
    world.native_snapshot("orders-db", "rds:orders-db-2026-11-24")
    world.backup_snapshot("orders-db", "j1")
    world.backup_snapshot("ledger", "j2", kind="cluster")
    rds = world.main.client("rds")
    rds.create_db_snapshot(DBInstanceIdentifier="orders-db", DBSnapshotIdentifier="s1")
    rds.create_db_cluster_snapshot(DBClusterIdentifier="ledger", DBClusterSnapshotIdentifier="k1")
    # When it copies three times, Then the copies make the 2nd and 3rd manual DB snapshots and the
    # one that would make a 4th is refused
    assert _copies(rds, "s1", ["c1", "c2", "c3"]) == ["Cannot create more than 3 manual snapshots"]
    # And a new manual snapshot is refused the same way
    with pytest.raises(ClientError, match="Cannot create more than 3 manual snapshots"):
        rds.create_db_snapshot(DBInstanceIdentifier="orders-db", DBSnapshotIdentifier="s2")
    # And the cluster quota is full with two
    assert _copies(rds, "k1", ["k2"], kind="cluster") == [
        "Cannot create more than 2 manual snapshots"
    ]
    assert RDS_LIMITS.rejected_for_quota == 3
    assert RDS_LIMITS.rejected_copies == 0
    # When a manual snapshot is deleted, Then there is room again
    rds.delete_db_snapshot(DBSnapshotIdentifier="c1")
    assert _copies(rds, "s1", ["c3"]) == []
    # And the backup account keeps its own quota (100 by default)
    assert RDS_LIMITS.manual_snapshot_quota(BACKUP_ACCOUNT, "db") == 100


def test_describe_account_attributes_reports_the_manual_snapshot_quotas(world: World) -> None:
    # Given a backup account allowed 50 manual DB snapshots, holding 2 (and an automated one)
    RDS_LIMITS.set_manual_snapshot_quota(BACKUP_ACCOUNT, db=50, cluster=7)
    backup_rds = world.backup.client("rds")
    postgres_instance(backup_rds, "restored")
    for name in ("b1", "b2"):
        backup_rds.create_db_snapshot(DBInstanceIdentifier="restored", DBSnapshotIdentifier=name)
    rds_backends[BACKUP_ACCOUNT][REGION].create_db_snapshot(
        "restored", "rds:restored-1", snapshot_type="automated"
    )
    # When each account describes its attributes
    backup = {
        q["AccountQuotaName"]: (q["Used"], q["Max"])
        for q in backup_rds.describe_account_attributes()["AccountQuotas"]
    }
    main = {
        q["AccountQuotaName"]: (q["Used"], q["Max"])
        for q in world.main.client("rds").describe_account_attributes()["AccountQuotas"]
    }
    # Then each sees its own usage and maximum
    assert backup["ManualSnapshots"] == (2, 50)
    assert backup["ManualClusterSnapshots"] == (0, 7)
    assert main["ManualSnapshots"] == (0, 100)
    assert main["ManualClusterSnapshots"] == (0, 100)


def test_aws_backup_lists_each_resource_it_backed_up_once_with_its_last_backup(
    world: World, clock: SimClock
) -> None:
    # Given a database AWS Backup backed up twice, a day apart, a cluster once, a database it
    # never backed up and a manual snapshot of it
    world.database("orders-db")
    world.backup_snapshot("orders-db", "day-1")
    clock.advance(86400)
    newest = world.backup_snapshot("orders-db", "day-2")
    world.cluster("analytics")
    world.backup_snapshot("analytics", "day-2c", kind="cluster")
    world.database("scratch-db")
    world.snapshot("scratch-db", "by-hand")
    # When the main account lists AWS Backup's protected resources, one to a page
    backup = world.main.client("backup")
    pages = list(
        backup.get_paginator("list_protected_resources").paginate(PaginationConfig={"PageSize": 1})
    )
    # Then each resource AWS Backup backed up is listed once, with its type and its newest
    # recovery point, page by page
    assert [len(page["Results"]) for page in pages] == [1, 1]
    listed = {r["ResourceName"]: r for page in pages for r in page["Results"]}
    assert set(listed) == {"orders-db", "analytics"}
    assert listed["orders-db"]["ResourceType"] == "RDS"
    assert listed["orders-db"]["ResourceArn"] == f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:db:orders-db"
    assert listed["orders-db"]["LastRecoveryPointArn"] == newest
    assert listed["orders-db"]["LastBackupTime"] == clock.now()
    assert listed["analytics"]["ResourceType"] == "Aurora"


def _token_machine(arn: str, timeout: int, again: bool = False) -> tuple[Any, str]:
    """A task waiting for a token; on States.Timeout it gives up, or (`again`) enters itself
    anew through its Catch, as the app's slot waits do."""
    ask: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": arn, "Payload": {"token.$": "$$.Task.Token"}},
        "TimeoutSeconds": timeout,
        "Catch": [
            {
                "ErrorEquals": ["States.Timeout"],
                "ResultPath": "$.error",
                "Next": "Ask" if again else "Gave up",
            }
        ],
        "End": True,
    }
    return _state_machine(
        {"StartAt": "Ask", "States": {"Ask": ask, "Gave up": {"Type": "Pass", "End": True}}}
    )


def test_a_task_token_wait_times_out_on_the_simulated_clock(
    patches: MotoPatches, clock: SimClock
) -> None:
    # Given a task that waits an hour for a token nobody sends
    arn = _function("asker")
    asked: list[str] = []
    patches.route_lambda("asker", lambda event, context: asked.append(event["token"]))
    sfn, machine = _token_machine(arn, timeout=3600)
    before = clock.now()
    started = time.monotonic()
    # When it runs
    done = _run(sfn, machine)
    # Then the wait ended with States.Timeout after a simulated hour, at once in real time
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"])["error"]["Error"] == "States.Timeout"
    assert 3600 <= (clock.now() - before).total_seconds() <= 3610
    assert time.monotonic() - started < 5
    # And a token sent after its wait timed out is refused, as Step Functions refuses it
    with pytest.raises(ClientError) as refused:
        sfn.send_task_success(taskToken=asked[0], output="{}")
    assert refused.value.response["Error"]["Code"] in ("TaskTimedOut", "InvalidToken")


def test_a_catch_may_send_a_state_back_to_itself(patches: MotoPatches, clock: SimClock) -> None:
    # Given a wait that, timed out, asks again through its own Catch; the second ask answers
    arn = _function("asker")
    asked: list[str] = []

    def ask(event: dict[str, Any], context: Any) -> None:
        asked.append(event["token"])
        if len(asked) == 2:
            boto3.client("stepfunctions").send_task_success(
                taskToken=event["token"], output=json.dumps({"answered": len(asked)})
            )

    patches.route_lambda("asker", ask)
    sfn, machine = _token_machine(arn, timeout=3600, again=True)
    before = clock.now()
    # When it runs
    done = _run(sfn, machine)
    # Then the Catch entered the state anew (a new token) and the second answer ended it
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == {"answered": 2}
    assert len(asked) == 2
    assert asked[0] != asked[1]
    assert 3600 <= (clock.now() - before).total_seconds() <= 3610


def test_runs_waiting_on_each_other_share_one_simulated_timeline(
    patches: MotoPatches, clock: SimClock
) -> None:
    # Given runs that each wait for a token, and a second state machine that waits 10 minutes
    # then sends the first run's token
    tokens: list[str] = []
    arn = _function("asker")
    patches.route_lambda("asker", lambda event, context: tokens.append(event["token"]))
    sfn, waiting = _token_machine(arn, timeout=86400)
    sender = _function("sender")
    patches.route_lambda(
        "sender",
        lambda event, context: (
            boto3.client("stepfunctions").send_task_success(
                taskToken=tokens[0], output=json.dumps({"sent": True})
            )
            and None
        ),
    )
    sending = boto3.client("stepfunctions").create_state_machine(
        name="sender",
        definition=json.dumps(
            {
                "StartAt": "Later",
                "States": {
                    "Later": {"Type": "Wait", "Seconds": 600, "Next": "Send"},
                    "Send": {"Type": "Task", "Resource": sender, "End": True},
                },
            }
        ),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )["stateMachineArn"]
    before = clock.now()
    # When both start at once (this thread takes part in the clock while it starts them: else
    # the first run, blocked on its token alone, let the clock jump to its day-long timeout
    # before the second had started, about one run in eight)
    with clock.taking_part():
        first = sfn.start_execution(stateMachineArn=waiting, name="waits", input="{}")
        second = sfn.start_execution(stateMachineArn=sending, name="sends", input="{}")
    waited = wait_for_execution(sfn, first["executionArn"])
    sent = wait_for_execution(sfn, second["executionArn"])
    # Then the waiting run got the token 10 simulated minutes in, not after its day-long timeout
    assert sent["status"] == "SUCCEEDED"
    assert waited["status"] == "SUCCEEDED"
    assert json.loads(waited["output"]) == {"sent": True}
    assert 600 <= (clock.now() - before).total_seconds() < 700


def test_rds_refuses_tag_values_over_256_characters(world: World) -> None:
    rds = world.main.client("rds")
    world.database("orders-db")
    arn = world.native_snapshot("orders-db", "nightly")
    # A value of 256 characters is taken; one of 257 is refused, on every call that sets tags
    rds.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "k", "Value": "v" * 256}])
    with pytest.raises(ClientError, match=r"InvalidParameterValue.*length 257, at most 256"):
        rds.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "k", "Value": "v" * 257}])
    with pytest.raises(ClientError, match="InvalidParameterValue"):
        rds.copy_db_snapshot(
            SourceDBSnapshotIdentifier="nightly",
            TargetDBSnapshotIdentifier="copy",
            Tags=[{"Key": "k", "Value": "v" * 257}],
        )
    with pytest.raises(ClientError, match=r"InvalidParameterValue.*only letters, digits"):
        rds.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "k", "Value": "a#b"}])
    # And a refused copy is not made; the refused tags were not kept
    assert "copy" not in [s["id"] for s in world.snapshots(MAIN_ACCOUNT)]
    tags = rds.list_tags_for_resource(ResourceName=arn)["TagList"]
    assert tags == [{"Key": "k", "Value": "v" * 256}]


def test_states_all_does_not_catch_runtime_errors(patches: MotoPatches) -> None:
    # Given a Task whose timeout path names nothing (States.Runtime), under a Catch of States.ALL
    fn = _function("echo")
    patches.route_lambda("echo", lambda event, context: event)
    catch = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}]
    task = {"Type": "Task", "Resource": fn, "TimeoutSecondsPath": "$.missing", "End": True}
    sfn, machine = _state_machine(
        {
            "StartAt": "Task",
            "States": {"Task": {**task, "Catch": catch}, "Caught": {"Type": "Pass", "End": True}},
        }
    )
    # When it runs, Then the run fails: the Catch does not apply
    done = _run(sfn, machine)
    assert (done["status"], done["error"]) == ("FAILED", "States.Runtime")


@pytest.mark.parametrize("until", ["2026-11-25 02:10:00", "2026-11-25T02:10:00", "tomorrow"])
def test_a_wait_on_a_timestamp_that_is_not_rfc_3339_fails_with_states_runtime(
    patches: MotoPatches, until: str
) -> None:
    # moto does this itself: checked here so that an upgrade that stops doing it shows
    wait = {"Type": "Wait", "TimestampPath": "$.until", "End": True}
    sfn, machine = _state_machine({"StartAt": "Wait", "States": {"Wait": wait}})
    done = _run(sfn, machine, data={"until": until})
    assert (done["status"], done["error"]) == ("FAILED", "States.Runtime")


def test_moto_answers_start_execution_with_a_running_executions_name_as_aws_does() -> None:
    # No patch: moto already does what the StartExecution API reference says ("For a STANDARD
    # workflow, if you call StartExecution with the same name and input as a running execution,
    # the call succeeds and return the same response as the original request. If the execution
    # is closed or if the input is different, it returns a 400 ExecutionAlreadyExists error").
    # This test says so if moto changes (rds_xacct.jobs.reconcile relies on it).

    with mock_aws():  # (its runs stay RUNNING: it does not execute them)
        sfn, machine = _state_machine({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
        first = sfn.start_execution(stateMachineArn=machine, name="same", input='{"a": 1}')
        again = sfn.start_execution(stateMachineArn=machine, name="same", input='{"a": 1}')
        assert (again["executionArn"], again["startDate"]) == (
            first["executionArn"],
            first["startDate"],
        )
        with pytest.raises(ClientError) as refused:
            sfn.start_execution(stateMachineArn=machine, name="same", input='{"a": 2}')
        assert refused.value.response["Error"]["Code"] == "ExecutionAlreadyExists"
        sfn.stop_execution(executionArn=first["executionArn"])
        with pytest.raises(ClientError) as closed:
            sfn.start_execution(stateMachineArn=machine, name="same", input='{"a": 1}')
        assert closed.value.response["Error"]["Code"] == "ExecutionAlreadyExists"


def test_moto_keeps_no_model_for_its_dashboard(patches: MotoPatches) -> None:
    # Given moto's models, each of which moto would keep in its class's `instances_tracked`
    from moto.dynamodb.models.table import Table

    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    # When a transaction copies the table (to put back if it failed)
    dynamodb.transact_write_items(
        TransactItems=[{"Put": {"TableName": "t", "Item": {"pk": {"S": "a"}}}}]
    )
    # Then the table works as before, and none of moto's objects is kept for the dashboard
    assert dynamodb.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"] == {"pk": {"S": "a"}}
    assert Table.instances_tracked == []  # type: ignore[attr-defined]


def _slots_table() -> Any:
    """A DynamoDB client, and a table `slots` of the copy slots' key shape (pk, sk)."""
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName="slots",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return dynamodb


def test_a_failed_transaction_leaves_every_item_as_it_was(patches: MotoPatches) -> None:
    # Given a table of many items, some of them updated in place by moto
    dynamodb = _slots_table()

    def key(sk: str) -> dict[str, Any]:
        return {"pk": {"S": "pool"}, "sk": {"S": sk}}

    for n in range(5):
        dynamodb.put_item(TableName="slots", Item={**key(f"waiter#{n}"), "n": {"N": str(n)}})
    dynamodb.put_item(TableName="slots", Item={**key("count"), "inUse": {"N": "3"}})
    before = dynamodb.scan(TableName="slots")["Items"]
    # When a transaction updates one item, puts one, deletes one, then fails its last condition
    with pytest.raises(ClientError, match="TransactionCanceled"):
        dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": "slots",
                        "Key": key("count"),
                        "UpdateExpression": "SET inUse = inUse + :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
                {"Put": {"TableName": "slots", "Item": {**key("holder#x"), "n": {"N": "9"}}}},
                {"Delete": {"TableName": "slots", "Key": key("waiter#0")}},
                {
                    "ConditionCheck": {
                        "TableName": "slots",
                        "Key": key("waiter#1"),
                        "ConditionExpression": "n = :no",
                        "ExpressionAttributeValues": {":no": {"N": "7"}},
                    }
                },
            ]
        )
    # Then the table is as it was, every item (moto's rollback copy deep-copies those named)
    assert dynamodb.scan(TableName="slots")["Items"] == before
    # And a transaction that succeeds is applied whole
    dynamodb.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": "slots",
                    "Key": key("count"),
                    "UpdateExpression": "SET inUse = inUse + :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
            {"Delete": {"TableName": "slots", "Key": key("waiter#0")}},
        ]
    )
    items = {i["sk"]["S"]: i for i in dynamodb.scan(TableName="slots")["Items"]}
    assert items["count"]["inUse"] == {"N": "4"}
    assert "waiter#0" not in items
    assert len(items) == 5


def test_attribute_values_compare_as_dynamodb_orders_them(patches: MotoPatches) -> None:
    # Strings answered at once (`cast_value`) still order as strings, numbers as numbers
    from moto.dynamodb.models.dynamo_type import DynamoType

    assert DynamoType({"S": "waiter#10"}) < DynamoType({"S": "waiter#9"})
    assert DynamoType({"N": "9"}) < DynamoType({"N": "10"})
    assert DynamoType({"S": "a"}) == DynamoType({"S": "a"})
    assert DynamoType({"S": "1"}) != DynamoType({"N": "1"})
    assert DynamoType({"SS": ["b", "a"]}).cast_value == {"a", "b"}


def test_transactions_on_a_long_table_retain_no_memory(patches: MotoPatches) -> None:
    # Given a table of 100 items (a window's queue of 100 waiting runs)
    import gc
    import tracemalloc

    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName="queue",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for n in range(100):
        waiter = {"pk": {"S": f"waiter#{n:03d}"}, "execution": {"S": f"arn:aws:states:run-{n}"}}
        waiter |= {"token": {"S": "t" * 200}, "expires": {"N": "1795000000"}}
        dynamodb.put_item(TableName="queue", Item=waiter)
    count: Any = {"Update": {"TableName": "queue", "Key": {"pk": {"S": "count"}}}}
    count["Update"] |= {
        "UpdateExpression": "ADD n :one",
        "ExpressionAttributeValues": {":one": {"N": "1"}},
    }
    refused: Any = {
        "ConditionCheck": {
            "TableName": "queue",
            "Key": {"pk": {"S": "waiter#000"}},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }

    def transactions(many: int) -> None:
        for n in range(many):
            items = [count, refused] if n % 2 else [count]
            with contextlib.suppress(ClientError):
                dynamodb.transact_write_items(TransactItems=items)

    transactions(2)  # (the client's and moto's caches filled)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        # When 100 transactions write it, every other one refused (rolled back)
        transactions(100)
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # Then no copy of the table a transaction made is kept: moto as shipped keeps each (for its
    # dashboard), 12.7 MB here, 1.9 GB in a window of 200 databases; 1.0 MB with the rollback
    # copy alone (memory._untracked_models off); 0.08 MB with both
    assert retained < 500_000


@pytest.mark.parametrize("prefix", ["holder#", "waiter#", "waiter#0", "w", "count", "a", "zz"])
def test_a_query_of_the_partition_answers_as_moto_does(patches: MotoPatches, prefix: str) -> None:
    # Given the slot table's shape: two pools, each a count, holders and a queue of waiters
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType

    dynamodb = _slots_table()
    for pool in ("pool-a", "pool-b"):
        sorts = (
            ["count"] + [f"holder#{n}" for n in range(4)] + [f"waiter#{n:02d}" for n in range(30)]
        )
        for sort in sorts:
            dynamodb.put_item(
                TableName="slots",
                Item={"pk": {"S": pool}, "sk": {"S": sort}, "n": {"N": str(len(sort))}},
            )
    table = dynamodb_backends[MAIN_ACCOUNT][REGION].get_table("slots")
    pool_a = DynamoType({"S": "pool-a"})

    def answer(query: Any, limit: int | None, start: str | None) -> Any:
        start_key = {"pk": {"S": "pool-a"}, "sk": {"S": start}} if start else None
        items, scanned, last = query(
            table, pool_a, "BEGINS_WITH", [DynamoType({"S": prefix})], limit, start_key, True, None
        )
        return [i.to_json() for i in items], scanned, {k: str(v) for k, v in (last or {}).items()}

    # When each Query is asked of moto's own and of the patched one, every Limit, from the start
    # or after a key, Then the answers are the same: items, count scanned, LastEvaluatedKey
    for limit in (None, 1, 3, 4, 5, 25, 30, 31, 40):
        for start in (None, "holder#1", "waiter#05", "waiter#29"):
            assert answer(Table.query, limit, start) == answer(_MOTO_TABLE_QUERY, limit, start)


# --- What the operator command reads ---------------------------------------------------------------
def test_an_execution_history_comes_oldest_first_or_newest_first_a_page_at_a_time(
    patches: MotoPatches,
) -> None:
    sfn, arn = _state_machine(
        {
            "StartAt": "One",
            "States": {
                "One": {"Type": "Pass", "Next": "Two"},
                "Two": {"Type": "Pass", "Next": "Three"},
                "Three": {"Type": "Pass", "End": True},
            },
        }
    )
    run = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    wait_for_execution(sfn, run)
    every = sfn.get_execution_history(executionArn=run)["events"]
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in every if "stateEnteredEventDetails" in e
    ]
    assert entered == ["One", "Two", "Three"]
    assert every[0]["type"] == "ExecutionStarted"
    # newest first, two at a time, all of them once
    newest = sfn.get_execution_history(executionArn=run, reverseOrder=True, maxResults=2)
    assert [e["id"] for e in newest["events"]] == [every[-1]["id"], every[-2]["id"]]
    pages = sfn.get_paginator("get_execution_history").paginate(
        executionArn=run, reverseOrder=True, PaginationConfig={"PageSize": 2}
    )
    assert [e["id"] for page in pages for e in page["events"]] == [e["id"] for e in every][::-1]
    assert "nextToken" not in sfn.get_execution_history(executionArn=run, maxResults=1000)
    with pytest.raises(ClientError, match="maxResults"):
        sfn.get_execution_history(executionArn=run, maxResults=1001)


def test_aws_backup_lists_a_databases_recovery_points_from_the_snapshots_it_made(
    patches: MotoPatches,
) -> None:
    from simulation.moto.recovery_points import RECOVERY_POINTS

    world = World.create()
    world.database("orders-db")
    world.database("other-db")
    first = world.backup_snapshot("orders-db", "j1")
    second = world.backup_snapshot("orders-db", "j2")
    world.backup_snapshot("other-db", "j3")
    world.native_snapshot("orders-db", "by-hand")
    world.cluster("orders-cluster")
    cluster = world.backup_snapshot("orders-cluster", "j4", kind="cluster")
    RECOVERY_POINTS.status[second] = "EXPIRED"
    backup = world.main.client("backup")
    database = f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:db:orders-db"
    points = backup.list_recovery_points_by_resource(ResourceArn=database)["RecoveryPoints"]
    # Then only the database's own AWS Backup snapshots, with the status AWS Backup reports
    assert {p["RecoveryPointArn"]: p["Status"] for p in points} == {
        first: "COMPLETED",
        second: "EXPIRED",
    }
    clusters = backup.list_recovery_points_by_resource(
        ResourceArn=f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:cluster:orders-cluster"
    )["RecoveryPoints"]
    assert [p["RecoveryPointArn"] for p in clusters] == [cluster]
    # And RDS's smallest page is 20
    with pytest.raises(ClientError, match="at least 20"):
        backup.list_recovery_points_by_resource(ResourceArn=database, MaxResults=19)


def test_a_json_template_reads_as_moto_reads_it(patches: MotoPatches) -> None:
    # Given the backup-account template as the simulation gives it to CloudFormation (JSON), and
    # a YAML body
    from moto.cloudformation.models import Stack

    from simulation.cfn_yaml import load_cfn_yaml
    from simulation.sam_template import BACKUP_TEMPLATE, without_serverless

    body = json.dumps(without_serverless(load_cfn_yaml(BACKUP_TEMPLATE)))
    yaml_body = "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n"
    # When CloudFormation reads them, patched (json for JSON) and as moto does (PyYAML first)
    read, yaml_read = Stack.parse_template(body), Stack.parse_template(yaml_body)
    import yaml

    original = yaml.load(body, Loader=yaml.Loader)  # noqa: S506 - moto's own reading of it
    # Then the mapping is the same either way, and a YAML body still reads
    assert read == original
    assert yaml_read == {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
