"""The backup account owns its copies: whoever holds the main account's pipeline role can copy
in and ask, never delete, untag, re-share or shorten (issue "The backup account owns its
copies"). Both templates' permissions are enforced (simulation/iam/); the
attacker's requests go through the same enforcement as the app's."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.kms.models import kms_backends

from rds_xacct.model.constants import (
    APP_NAME,
    DEFAULT_MIN_RETENTION_DAYS,
    MAX_RETENTION_DAYS,
    ROLE_BACKUP,
    TAG_APP,
    TAG_EXPIRES_AT,
    TAG_KEEP,
    TAG_ROLE,
)
from rds_xacct.model.times import iso, parse_iso
from simulation.driver import MakeSim, Simulation
from simulation.world import BACKUP_ACCOUNT, MAIN_ACCOUNT, REGION

DAY = 86400
LEDGER = "rds-xacct-keeper-ledger"


def _copy(sim: Simulation) -> dict[str, Any]:
    copies = sim.world.app_copies(BACKUP_ACCOUNT)
    assert len(copies) == 1, copies
    return copies[0]


def _arn(identifier: str) -> str:
    return f"arn:aws:rds:{REGION}:{BACKUP_ACCOUNT}:snapshot:{identifier}"


def _kept_copy(make_sim: MakeSim, retention_days: int) -> tuple[Simulation, dict[str, Any]]:
    """A run whose complete backup copy is in place, stopped before its retention ends (as an
    operator's StopExecution would): the copy stays, with its expiry tag."""
    sim = make_sim(parameters={"RetentionDays": str(retention_days)})
    event = sim.backup_event("orders-db")
    sim.stop_run_after("DeleteIntermediate", "ABORTED")
    result = sim.deliver(event)
    assert result.status == "ABORTED"
    return sim, _copy(sim)


def _refused(attempt: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as raised:
        attempt()
    error = raised.value.response
    code = str(error["Error"]["Code"])
    status = error["ResponseMetadata"]["HTTPStatusCode"]
    assert "AccessDenied" in code or status == 403, raised.value
    return code


def _retag(session: Any, identifier: str, expires: str) -> None:
    """Re-tag a backup copy to expire at `expires`, with the app's tags (what the role may)."""
    session.client("rds").add_tags_to_resource(
        ResourceName=_arn(identifier),
        Tags=[
            {"Key": TAG_APP, "Value": APP_NAME},
            {"Key": TAG_ROLE, "Value": ROLE_BACKUP},
            {"Key": TAG_EXPIRES_AT, "Value": expires},
        ],
    )


def test_the_pipeline_role_can_delete_untag_share_or_administer_nothing_there(
    make_sim: MakeSim,
) -> None:
    # Given a complete backup copy kept for 30 days, and an attacker holding the main
    # account's pipeline role, who assumes the backup account's role as every run does
    sim, copy = _kept_copy(make_sim, 30)
    identifier, arn = copy["id"], _arn(copy["id"])
    backup = sim.backup_role_session()
    rds, kms = backup.client("rds"), backup.client("kms")
    key = sim.world.backup_key_arn
    # When the attacker tries every destructive or leaking request on the copy and the key
    attempts: dict[str, Callable[[], Any]] = {
        "delete the copy": lambda: rds.delete_db_snapshot(DBSnapshotIdentifier=identifier),
        "untag it": lambda: rds.remove_tags_from_resource(ResourceName=arn, TagKeys=[TAG_APP]),
        "tag it with a key of their own": lambda: rds.add_tags_to_resource(
            ResourceName=arn, Tags=[{"Key": "owner", "Value": "attacker"}]
        ),
        "re-tag its expiry without the app's tags": lambda: rds.add_tags_to_resource(
            ResourceName=arn, Tags=[{"Key": TAG_EXPIRES_AT, "Value": iso(sim.clock.now())}]
        ),
        "take over the keep tag": lambda: _retag_with(rds, arn, {TAG_KEEP: "no"}),
        "share it with another account": lambda: rds.modify_db_snapshot_attribute(
            DBSnapshotIdentifier=identifier, AttributeName="restore", ValuesToAdd=["999999999999"]
        ),
        "copy it out under a name of their own": lambda: rds.copy_db_snapshot(
            SourceDBSnapshotIdentifier=identifier, TargetDBSnapshotIdentifier="stolen"
        ),
        "rewrite the key policy": lambda: kms.put_key_policy(
            KeyId=key, PolicyName="default", Policy=json.dumps({"Statement": []})
        ),
        "schedule the key's deletion": lambda: kms.schedule_key_deletion(
            KeyId=key, PendingWindowInDays=7
        ),
        "disable the key": lambda: kms.disable_key(KeyId=key),
        "grant the key to themselves": lambda: kms.create_grant(
            KeyId=key,
            GranteePrincipal=f"arn:aws:iam::{MAIN_ACCOUNT}:root",
            Operations=["Decrypt"],
        ),
        "decrypt with the key outside RDS": lambda: kms.decrypt(
            KeyId=key, CiphertextBlob=b"\x01" * 64
        ),
        "rewrite the keeper's ledger": lambda: backup.client("dynamodb").put_item(
            TableName=LEDGER,
            Item={"arn": {"S": arn}, "createdAt": {"S": "2000-01-01T00:00:00Z"}},
        ),
        "replace the keeper's code": lambda: backup.client("lambda").update_function_code(
            FunctionName=sim.keeper_name, ZipFile=b"PK"
        ),
    }
    for what, attempt in attempts.items():
        # Then IAM refuses each (the backup-account template's permissions)
        try:
            _refused(attempt)
        except AssertionError as error:  # pragma: no cover - names the failing attempt
            raise AssertionError(f"the attacker could {what}: {error}") from error
    refusals = sim.permissions.take_refusals()
    refused_actions = sorted({r.action for r in refusals})
    assert len(refusals) >= len(attempts), refused_actions
    assert all("CrossAccountRole" in str(r) for r in refusals)
    # And with the pipeline role itself (without assuming), the key refuses administration
    main_kms = sim.pipeline_session().client("kms")
    _refused(lambda: main_kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7))
    _refused(lambda: main_kms.disable_key(KeyId=key))
    sim.permissions.take_refusals()
    # And the copy, its tags and the key are untouched
    after = _copy(sim)
    assert after["id"] == identifier
    assert after["status"] == "available"
    assert after["tags"] == copy["tags"]
    # (read from moto's backend: moto's DescribeKey can't read a key policy CloudFormation made)
    assert kms_backends[BACKUP_ACCOUNT][REGION].describe_key(key).key_state == "Enabled"


def _retag_with(rds: Any, arn: str, extra: dict[str, str]) -> None:
    tags = {TAG_APP: APP_NAME, TAG_ROLE: ROLE_BACKUP, **extra}
    rds.add_tags_to_resource(
        ResourceName=arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
    )


def test_the_keeper_refuses_the_pipeline_roles_early_deletes(make_sim: MakeSim) -> None:
    # Given a complete backup copy kept for 30 days, made by run R
    sim, copy = _kept_copy(make_sim, 30)
    backup = sim.backup_role_session()
    execution = copy["tags"]["rds-xacct:execution"]
    # When the attacker asks the keeper to expire it, or to abandon it as run R's
    request = {"kind": "db", "snapshot": copy["id"], "execution": execution}
    expire = sim.ask_keeper({"action": "expire", **request}, backup)
    abandon = sim.ask_keeper({"action": "abandon", **request}, backup)
    nonsense = sim.ask_keeper({"action": "delete-everything"}, backup)
    # Then the keeper refuses each, saying why and until when it keeps the copy
    assert expire["decision"] == "refused"
    kept_until = parse_iso(expire["keptUntil"])
    assert kept_until >= sim.clock.now() + timedelta(days=29)
    assert abandon["decision"] == "refused"
    assert "complete" in abandon["reason"]
    assert nonsense["decision"] == "refused"
    assert "unreadable request" in nonsense["reason"]
    # And the copy is still there
    assert _copy(sim)["status"] == "available"


def test_a_copy_retagged_to_expire_now_right_after_it_was_made_keeps_its_30_days(
    make_sim: MakeSim,
) -> None:
    # Given a complete backup copy kept for 30 days, which its run asked the keeper to record
    # as it made it; re-tagged at once by the pipeline role to expire now
    sim, copy = _kept_copy(make_sim, 30)
    expires = parse_iso(copy["tags"][TAG_EXPIRES_AT])
    _retag(sim.backup_role_session(), copy["id"], iso(sim.clock.now()))
    # When the keeper's hourly pass runs, and again past the minimum retention
    first = sim.keeper_pass()
    assert first["deleted"] == []
    assert first["recorded"] == []  # the run had it recorded already
    sim.clock.advance((DEFAULT_MIN_RETENTION_DAYS + 1) * DAY)
    assert sim.keeper_pass()["deleted"] == []
    # Then it is kept the 30 days it was made with, and only then goes
    sim.clock.advance((expires - sim.clock.now()).total_seconds() - 3600)
    assert sim.keeper_pass()["deleted"] == []
    sim.clock.advance(2 * 3600)
    assert sim.keeper_pass()["deleted"] == [_arn(copy["id"])]


def test_a_copy_retagged_to_expire_now_before_the_keeper_saw_it_survives_the_minimum(
    make_sim: MakeSim,
) -> None:
    # Given a complete backup copy kept for 30 days whose record the keeper never got (its
    # run's request lost: the record taken out of the ledger), re-tagged at once by the
    # pipeline role to expire now, before the keeper's hourly pass first saw it
    sim, copy = _kept_copy(make_sim, 30)
    made = parse_iso(copy["createdAt"])
    sim.world.backup.client("dynamodb").delete_item(
        TableName=LEDGER, Key={"arn": {"S": _arn(copy["id"])}}
    )
    _retag(sim.backup_role_session(), copy["id"], iso(sim.clock.now()))
    assert _copy(sim)["tags"][TAG_EXPIRES_AT] == iso(sim.clock.now())
    # When the keeper's hourly pass runs, and again until just before the minimum retention
    first = sim.keeper_pass()
    assert first["deleted"] == []
    assert first["recorded"] == [_arn(copy["id"])]
    minimum = made + timedelta(days=DEFAULT_MIN_RETENTION_DAYS)
    sim.clock.advance((minimum - sim.clock.now()).total_seconds() - 3600)
    assert sim.keeper_pass()["deleted"] == []
    # Then it survives until the backup account's minimum retention, and only then goes
    assert len(sim.world.app_copies(BACKUP_ACCOUNT)) == 1
    sim.clock.advance(2 * 3600)
    assert sim.keeper_pass()["deleted"] == [_arn(copy["id"])]
    assert sim.world.app_copies(BACKUP_ACCOUNT) == []


def test_a_copy_retagged_after_the_keeper_saw_it_keeps_its_recorded_expiry(
    make_sim: MakeSim,
) -> None:
    # Given a copy kept for 30 days, seen by the keeper's hourly pass
    sim, copy = _kept_copy(make_sim, 30)
    expires = parse_iso(copy["tags"][TAG_EXPIRES_AT])
    assert sim.keeper_pass()["recorded"] == []  # its run had it recorded as it made it
    # When the pipeline role re-tags it to expire now, and the keeper runs past the minimum
    _retag(sim.backup_role_session(), copy["id"], iso(sim.clock.now()))
    sim.clock.advance((DEFAULT_MIN_RETENTION_DAYS + 1) * DAY)
    # Then the keeper keeps it until the expiry it recorded (30 days), not the tag's
    assert sim.keeper_pass()["deleted"] == []
    sim.clock.advance((expires - sim.clock.now()).total_seconds() - 3600)
    assert sim.keeper_pass()["deleted"] == []
    sim.clock.advance(2 * 3600)
    assert sim.keeper_pass()["deleted"] == [_arn(copy["id"])]


def test_the_normal_flow_deletes_the_expired_copy_on_time(make_sim: MakeSim) -> None:
    # Given a retention equal to the backup account's minimum
    sim = make_sim(parameters={"RetentionDays": str(DEFAULT_MIN_RETENTION_DAYS)})
    # When a backup is delivered and its run goes through its retention
    result = sim.deliver(sim.backup_event("orders-db"))
    # Then the keeper honours the run's request at the expiry, and the run says so
    assert result.status == "SUCCEEDED"
    summary = result.summary
    assert summary is not None
    backup = summary["backupCopy"]
    assert backup["action"] == "deleted"
    assert "has come" in backup["note"]
    expires = parse_iso(summary["expiresAt"])
    assert abs((result.finished_at - expires).total_seconds()) < 600
    assert sim.world.app_copies(BACKUP_ACCOUNT) == []
    assert sim.world.app_copies(MAIN_ACCOUNT) == []


def test_a_retention_below_the_minimum_is_refused_then_kept_to_the_minimum(
    make_sim: MakeSim,
) -> None:
    # Given a main stack that keeps copies 1 day, and a backup account whose minimum is 7
    sim = make_sim(parameters={"RetentionDays": "1"})
    # When a backup's run reaches the end of its retention
    result = sim.deliver(sim.backup_event("orders-db"))
    # Then the run succeeds and reports the keeper's refusal, with until when it keeps it
    assert result.status == "SUCCEEDED"
    summary = result.summary
    assert summary is not None
    backup = summary["backupCopy"]
    assert backup["action"] == "refused"
    kept_until = parse_iso(backup["keptUntil"])
    copy = _copy(sim)
    made = parse_iso(copy["createdAt"])
    assert kept_until == made + timedelta(days=DEFAULT_MIN_RETENTION_DAYS)
    assert "minimum retention" in backup["note"]
    # And the keeper's hourly pass deletes it once the minimum has passed, not before
    sim.clock.advance((kept_until - sim.clock.now()).total_seconds() - 3600)
    assert sim.keeper_pass()["deleted"] == []
    sim.clock.advance(2 * 3600)
    assert sim.keeper_pass()["deleted"] == [copy["arn"]]


def test_a_failed_runs_unfinished_copy_is_deleted_by_the_keeper_on_its_request(
    make_sim: MakeSim,
) -> None:
    # Given a run that fails while its backup copy is still being made
    sim = make_sim()
    event = sim.backup_event("orders-db", size_gib=200)
    sim.inject_failure("CheckBackup")
    # When it cleans up
    result = sim.deliver(event)
    # Then the keeper honoured the run's request for its own unfinished copy, and the failure
    # notification says so
    assert result.status == "FAILED"
    assert sim.world.app_copies(BACKUP_ACCOUNT) == []
    assert "by the backup account" in result.sns[-1]["message"]


def test_the_keeper_never_deletes_a_snapshot_it_did_not_copy_from_the_main_account(
    make_sim: MakeSim,
) -> None:
    # Given a snapshot made in the backup account itself, with the app's name and tags and an
    # expiry long past (a look-alike: RDS records no source in the main account for it)
    sim = make_sim()
    backup_rds = sim.world.backup.client("rds")
    from simulation.world import postgres_instance

    postgres_instance(backup_rds, "backup-side-db")
    identifier = "xacct-backup-side-db-20200101-000000-00000000"
    backup_rds.create_db_snapshot(
        DBInstanceIdentifier="backup-side-db",
        DBSnapshotIdentifier=identifier,
        Tags=[
            {"Key": TAG_APP, "Value": APP_NAME},
            {"Key": TAG_ROLE, "Value": ROLE_BACKUP},
            {"Key": TAG_EXPIRES_AT, "Value": "2020-01-02T00:00:00Z"},
        ],
    )
    sim.clock.advance((DEFAULT_MIN_RETENTION_DAYS + 1) * DAY)
    # When the keeper's hourly pass runs, and a request asks it to expire the snapshot
    swept = sim.keeper_pass()
    answer = sim.ask_keeper(
        {"action": "expire", "kind": "db", "snapshot": identifier, "execution": "any-run"}
    )
    # Then the snapshot is left alone
    assert swept["deleted"] == []
    assert answer["decision"] == "refused"
    assert f"not from the source accounts {MAIN_ACCOUNT}" in answer["reason"]
    assert backup_rds.describe_db_snapshots(DBSnapshotIdentifier=identifier)["DBSnapshots"]


# --- The keeper against a hostile main account (issue 18, item 4) -----------------------------
EXTREME = "9999-12-31T23:59:59-23:59"
"""A valid ISO 8601 time that overflows once converted to UTC."""


def test_a_copy_retagged_with_an_extreme_time_stops_no_hourly_pass(make_sim: MakeSim) -> None:
    # Given a complete 30-day copy, re-tagged by the pipeline role with a valid but extreme
    # expiry (it parses, then overflows when converted to UTC)
    sim, copy = _kept_copy(make_sim, 30)
    expires = parse_iso(copy["tags"][TAG_EXPIRES_AT])
    _retag(sim.backup_role_session(), copy["id"], EXTREME)
    # When the keeper's hourly pass runs, and when a run asks about the copy
    first = sim.keeper_pass()
    asked = sim.ask_keeper(
        {"action": "expire", "kind": "db", "snapshot": copy["id"], "execution": "any-run"}
    )
    # Then both answer (the tag unreadable, never trusted): the copy is kept as recorded
    assert first["problems"] == []
    assert asked["decision"] == "refused"
    assert parse_iso(asked["keptUntil"]) == expires
    # And the pass goes on every hour, and deletes the copy at its recorded expiry
    sim.clock.advance((expires - sim.clock.now()).total_seconds() - 3600)
    assert sim.keeper_pass()["deleted"] == []
    sim.clock.advance(2 * 3600)
    assert sim.keeper_pass()["deleted"] == [_arn(copy["id"])]


def test_the_pipeline_role_can_not_fire_the_hourly_pass(make_sim: MakeSim) -> None:
    # Given a copy expired by its tag but kept by the backup account's minimum, and the
    # attacker holding the pipeline role (and so the cross-account role)
    sim, _ = _kept_copy(make_sim, 1)
    backup = sim.backup_role_session()
    # When the attacker sends the keeper a payload shaped like the schedule's event
    answer = sim.ask_keeper(sim.schedule_event(), backup)
    # Then the keeper refuses it as an unreadable request, and runs no pass
    assert answer["decision"] == "refused"
    assert "unreadable request" in answer["reason"]
    assert "deleted" not in answer
    # And the pass's own function refuses the role's invoke (IAM: the role may invoke the
    # keeper alone)
    _refused(
        lambda: backup.client("lambda").invoke(
            FunctionName=sim.keeper_pass_name,
            Payload=json.dumps(sim.schedule_event()).encode(),
        )
    )
    refused = sim.permissions.take_refusals()
    assert [r.action for r in refused] == ["lambda:InvokeFunction"]
    assert _copy(sim)["status"] == "available"


WIDENED: dict[str, Callable[[Any, str], Any]] = {
    "dynamodb:BatchWriteItem": lambda s, arn: s.client("dynamodb").batch_write_item(
        RequestItems={LEDGER: [{"DeleteRequest": {"Key": {"arn": {"S": arn}}}}]}
    ),
    "dynamodb:PartiQLUpdate": lambda s, arn: s.client("dynamodb").execute_statement(
        Statement="UPDATE \"rds-xacct-keeper-ledger\" SET keepUntil='2000-01-01T00:00:00Z' WHERE arn=?",
        Parameters=[{"S": arn}],
    ),
    "dynamodb:UpdateTimeToLive": lambda s, arn: s.client("dynamodb").update_time_to_live(
        TableName=LEDGER,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "keepUntil"},
    ),
    "lambda:PutFunctionConcurrency": lambda s, arn: s.client("lambda").put_function_concurrency(
        FunctionName="rds-xacct-keeper-pass", ReservedConcurrentExecutions=0
    ),
    "iam:AttachRolePolicy": lambda s, arn: s.client("iam").attach_role_policy(
        RoleName="rds-xacct-keeper", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"
    ),
    "iam:CreateUser": lambda s, arn: s.client("iam").create_user(UserName="attacker"),
}


def test_a_policy_attached_to_the_role_later_widens_nothing(make_sim: MakeSim) -> None:
    # Given a complete copy, and a backup-account administrator who later attaches to the
    # cross-account role a policy allowing everything
    sim, copy = _kept_copy(make_sim, 30)
    iam = sim.world.backup.client("iam")
    role = sim.app.functions["DeleteBackupFunction"].environment["BACKUP_ROLE_ARN"]
    policy = iam.create_policy(
        PolicyName="granted-later",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": [*WIDENED, "iam:*"], "Resource": "*"}],
            }
        ),
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=role.rsplit("/", 1)[-1], PolicyArn=policy)
    backup = sim.backup_role_session()
    # When the attacker tries each action the policy grants
    for action, attempt in WIDENED.items():
        # Then the role's own Deny of everything it does not need refuses it
        try:
            _refused(partial(attempt, backup, _arn(copy["id"])))
        except AssertionError as error:  # pragma: no cover - names the failing attempt
            raise AssertionError(f"the attacker could {action}: {error}") from error
    refusals = sim.permissions.take_refusals()
    assert {r.action for r in refusals} >= set(WIDENED)
    # And the copy and its record are untouched
    assert sim.keeper_pass()["deleted"] == []
    assert _copy(sim)["status"] == "available"


def test_a_keep_tag_copied_from_the_source_does_not_keep_the_copy(make_sim: MakeSim) -> None:
    # Given an attacker holding the main account, who tags a snapshot there with the app's tags
    # and rds-xacct:keep, shares it with the backup account, and copies it in through the
    # cross-account role under an app name with CopyTags (RDS carries the source's tags). (Its
    # database is unencrypted: a snapshot encrypted with aws/rds, the main account's own key,
    # could not be copied by the backup account.)
    sim = make_sim()
    world = sim.world
    world.database("junk-db", encryption="none")
    source = world.native_snapshot("junk-db", "junk-source")
    main_rds = world.main_client("rds")
    tags = {
        TAG_APP: APP_NAME,
        TAG_ROLE: ROLE_BACKUP,
        TAG_EXPIRES_AT: "9999-12-31T23:59:59Z",
        TAG_KEEP: "forever",
    }
    main_rds.add_tags_to_resource(
        ResourceName=source, Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
    )
    main_rds.modify_db_snapshot_attribute(
        DBSnapshotIdentifier="junk-source", AttributeName="restore", ValuesToAdd=[BACKUP_ACCOUNT]
    )
    identifier = "xacct-junk-20261124-023000-00000000"
    sim.backup_role_session().client("rds").copy_db_snapshot(
        SourceDBSnapshotIdentifier=source, TargetDBSnapshotIdentifier=identifier, CopyTags=True
    )
    (junk,) = [c for c in world.app_copies(BACKUP_ACCOUNT) if c["id"] == identifier]
    assert junk["tags"][TAG_KEEP] == "forever"
    made = parse_iso(junk["createdAt"])
    # When the keeper's hourly pass first sees it, and runs until the longest retention
    first = sim.keeper_pass()
    assert first["recorded"] == [_arn(identifier)]
    longest = made + timedelta(days=MAX_RETENTION_DAYS)
    sim.clock.advance((longest - sim.clock.now()).total_seconds() - 3600)
    assert sim.keeper_pass()["deleted"] == []
    # Then the keep tag it was made with keeps nothing, nor its far expiry: it goes then
    sim.clock.advance(2 * 3600)
    assert sim.keeper_pass()["deleted"] == [_arn(identifier)]
