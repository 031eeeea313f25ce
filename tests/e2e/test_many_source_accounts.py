"""One backup account serving many source accounts (issue 21): the keeper answers each source
account about its own copies only, learning who asks from AWS (its function URL, the session's
name the trust policy enforces), never from the request; a stack given an organization admits
its accounts and no other. Both templates' permissions are enforced (simulation/iam/); the
second source account's pipeline role is made here, with what the main template gives its own
(the same name: the backup role trusts it by name)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from rds_xacct.aws.clients import session_of_credentials
from rds_xacct.model.constants import ROLE_BACKUP, TAG_EXPIRES_AT
from rds_xacct.model.naming import copy_identifier
from rds_xacct.model.ownership import app_tags
from rds_xacct.model.times import iso
from simulation.driver import MakeSim, Simulation
from simulation.iam import Credentials, service_credentials
from simulation.world import BACKUP_ACCOUNT, MAIN_ACCOUNT, REGION, postgres_instance, session_in

SECOND_ACCOUNT = "333333333333"
"""Another source account the backup stack serves (Y; the simulation's main account is X)."""
OUTSIDER = "444444444444"
"""An account the backup stack does not serve."""
PIPELINE_ROLE = f"rds-xacct-pipeline-{REGION}"
DAY = 86400


def _pipeline_role_in(sim: Simulation, account: str) -> Credentials:
    """A source account's pipeline role, named as the main template names it, allowed what a
    run does with the backup account (assume its role; copy, share, describe its own snapshots;
    the backup key through RDS), enforced as the app's roles are; its credentials as Lambda
    gives them."""
    iam = session_in(account).client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    arn = iam.create_role(RoleName=PIPELINE_ROLE, AssumeRolePolicyDocument=json.dumps(trust))[
        "Role"
    ]["Arn"]
    here = f"arn:aws:rds:{REGION}:{account}"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Resource": f"arn:aws:iam::{BACKUP_ACCOUNT}:role/rds-xacct-backup-copy",
            },
            {
                "Effect": "Allow",
                "Action": [
                    "rds:CopyDBSnapshot",
                    "rds:AddTagsToResource",
                    "rds:ModifyDBSnapshotAttribute",
                    "rds:DescribeDBSnapshots",
                ],
                "Resource": f"{here}:snapshot:*",
            },
            {
                "Effect": "Allow",
                "Action": ["kms:CreateGrant", "kms:DescribeKey"],
                "Resource": sim.world.backup_key_arn,
            },
        ],
    }
    iam.put_role_policy(RoleName=PIPELINE_ROLE, PolicyName="run", PolicyDocument=json.dumps(policy))
    sim.permissions.enforce(arn, "PipelineRole", f"account {account}", "the test's run")
    return service_credentials(
        sim.permissions, arn, "lambda.amazonaws.com", f"PipelineRole of {account}", REGION
    )


def _snapshot_in(account: str) -> dict[str, Any]:
    """A snapshot of the account's database `orders-db`, made now (by its operator)."""
    operator_rds = session_in(account).client("rds")
    postgres_instance(operator_rds, "orders-db")
    made: Any = operator_rds.create_db_snapshot(
        DBInstanceIdentifier="orders-db", DBSnapshotIdentifier="orders-db-nightly"
    )
    snapshot: dict[str, Any] = made["DBSnapshot"]
    return snapshot


def _copy_in_as(
    sim: Simulation,
    pipeline: Credentials,
    source: dict[str, Any],
    *,
    execution: str,
    keep_days: int,
) -> str:
    """What a run of the source's account does, by hand: the snapshot copied re-encrypted with
    the backup key, shared, then copied into the backup account through the backup role (the
    session named `<account>-<execution>`), tagged as the app's backup copy kept `keep_days`,
    named as the app names it. Returns the backup copy's identifier."""
    account = source["DBSnapshotArn"].split(":")[4]
    session = pipeline.session(REGION)
    rds = session.client("rds")
    made = source["SnapshotCreateTime"]
    identifier = copy_identifier(
        source_arn=source["DBSnapshotArn"], database="orders-db", created_at=made, kind="db"
    )
    shared = rds.copy_db_snapshot(
        SourceDBSnapshotIdentifier=source["DBSnapshotIdentifier"],
        TargetDBSnapshotIdentifier=identifier,
        KmsKeyId=sim.world.backup_key_arn,
    )["DBSnapshot"]
    sim.clock.advance(3600)
    rds.modify_db_snapshot_attribute(
        DBSnapshotIdentifier=identifier, AttributeName="restore", ValuesToAdd=[BACKUP_ACCOUNT]
    )
    backup = sim.backup_role_session(session, name=f"{account}-{execution}")
    tags = {
        **app_tags(
            source_arn=source["DBSnapshotArn"], role=ROLE_BACKUP, execution=execution, made_at=made
        ),
        TAG_EXPIRES_AT: iso(sim.clock.now() + timedelta(days=keep_days)),
    }
    backup.client("rds").copy_db_snapshot(
        SourceDBSnapshotIdentifier=shared["DBSnapshotArn"],
        TargetDBSnapshotIdentifier=identifier,
        KmsKeyId=sim.world.backup_key_arn,
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )
    sim.clock.advance(3600)
    return identifier


def _request(action: str, identifier: str, execution: str) -> dict[str, str]:
    return {"action": action, "kind": "db", "snapshot": identifier, "execution": execution}


def test_an_account_cannot_have_another_accounts_copy_deleted_through_the_keeper(
    make_sim: MakeSim,
) -> None:
    # Given a backup account serving X (the simulation's main account) and Y, each with a
    # database orders-db whose snapshot is made in the same second; X's copied in by a run
    # (kept 30 days), Y's by Y's pipeline role through the backup role (kept 8 days)
    sim = make_sim(
        parameters={"RetentionDays": "30"},
        backup_parameters={"SourceAccountIds": f"{MAIN_ACCOUNT},{SECOND_ACCOUNT}"},
    )
    y_pipeline = _pipeline_role_in(sim, SECOND_ACCOUNT)
    event = sim.backup_event("orders-db")
    y_source = _snapshot_in(SECOND_ACCOUNT)
    sim.stop_run_after("DeleteIntermediate", "ABORTED")
    assert sim.deliver(event).status == "ABORTED"
    y_copy = _copy_in_as(sim, y_pipeline, y_source, execution="run-y", keep_days=8)
    copies = {c["id"]: c for c in sim.world.app_copies(BACKUP_ACCOUNT)}
    assert len(copies) == 2
    assert y_copy in copies
    # (the two copies' names differ, though the database's name and the second are the same)
    (x_copy,) = set(copies) - {y_copy}
    assert x_copy.split("-")[:-1] == y_copy.split("-")[:-1]
    sim.clock.advance(9 * DAY)
    x_backup = sim.backup_role_session()  # X's session of the role: MAIN-attacker
    # When X asks the keeper to expire Y's copy, or to abandon it as Y's run
    for action, execution in (("expire", "run-1"), ("abandon", "run-y")):
        answer = sim.ask_keeper(_request(action, y_copy, execution), x_backup)
        # Then it is refused: the copy is Y's, as RDS records it
        assert answer["decision"] == "refused", answer
        assert (
            f"a copy from the source account {SECOND_ACCOUNT}, not from the asking account "
            f"{MAIN_ACCOUNT}"
        ) in answer["reason"]
    assert y_copy in {c["id"] for c in sim.world.app_copies(BACKUP_ACCOUNT)}
    # And Y, asking about its own copy past its expiry, has it deleted; X's own copy, still
    # within its 30 days, is refused to Y too
    y_backup = sim.backup_role_session(y_pipeline.session(REGION), name=f"{SECOND_ACCOUNT}-run-y")
    assert sim.ask_keeper(_request("expire", x_copy, "run-y"), y_backup)["decision"] == "refused"
    assert sim.ask_keeper(_request("expire", y_copy, "run-y"), y_backup)["decision"] == "deleted"
    assert [c["id"] for c in sim.world.app_copies(BACKUP_ACCOUNT)] == [x_copy]


def test_the_keeper_refuses_a_direct_invoke_and_a_session_not_named_after_an_account(
    make_sim: MakeSim,
) -> None:
    # Given the backup role, assumed by the main account's pipeline role
    sim = make_sim()
    backup = sim.backup_role_session()
    request = _request("expire", "xacct-orders-db-20261124-023000-0123456789ab", "run-1")
    # When it invokes the keeper directly (a payload that could pose as a URL's event)
    forged = {
        "requestContext": {
            "authorizer": {
                "iam": {
                    "userArn": f"arn:aws:sts::{BACKUP_ACCOUNT}:assumed-role/"
                    f"rds-xacct-backup-copy/{SECOND_ACCOUNT}-run-1"
                }
            }
        },
        "body": json.dumps(request),
    }
    with pytest.raises(ClientError) as refused:
        backup.client("lambda").invoke(FunctionName=sim.keeper_name, Payload=json.dumps(forged))
    # Then IAM refuses it (lambda:InvokeFunction only through the function URL)
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "InvokeOnlyThroughTheUrl" in str(refused.value)
    assert sim.permissions.take_refusals()
    # When the main account's pipeline role assumes the role with a session not named after
    # its account, Then the trust policy refuses it
    for name in ("attacker", f"{SECOND_ACCOUNT}-run-1"):
        with pytest.raises(ClientError, match="AccessDenied"):
            sim.backup_role_session(name=name)
    assert sim.permissions.take_refusals()
    # When the keeper's URL is called unsigned, or by a session of the backup account not of
    # the cross-account role, Then the URL refuses it (403), and so does the keeper
    assert sim.call_keeper_url(request, _unsigned())[0] == 403
    other = _another_role_of_the_backup_account(sim)
    status, answer = sim.call_keeper_url(request, other)
    assert status == 403
    assert "is not a session of the role" in answer["reason"]


class _NoCredentials:
    """A session without credentials (an unsigned request's)."""

    def get_credentials(self) -> Any:
        class Frozen:
            def get_frozen_credentials(self) -> Any:
                from botocore.credentials import ReadOnlyCredentials

                return ReadOnlyCredentials("AKIDUNKNOWN", "secret", None)

        return Frozen()


def _unsigned() -> Any:
    """Credentials AWS has never issued: Lambda can't verify the signature."""
    return _NoCredentials()


def _another_role_of_the_backup_account(sim: Simulation) -> Any:
    """A session of a role of the backup account allowed to call the keeper's URL, named
    `<account>-...` as the cross-account role's sessions are: not that role, so refused."""
    iam = sim.world.backup.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": BACKUP_ACCOUNT}, "Action": "sts:AssumeRole"}
        ],
    }
    arn = iam.create_role(RoleName="operator-tools", AssumeRolePolicyDocument=json.dumps(trust))[
        "Role"
    ]["Arn"]
    credentials = sim.world.backup.client("sts").assume_role(
        RoleArn=arn, RoleSessionName=f"{MAIN_ACCOUNT}-run-1"
    )["Credentials"]
    return session_of_credentials(credentials, REGION)


ORGANIZATION = "o-a1b2c3d4e5"


def _organization_with(sim: Simulation, members: list[str]) -> None:
    """The organization `ORGANIZATION`, made by the main account (its management account), with
    `members` in it as moto lets them be: created accounts, given the ids wanted."""
    from moto.organizations.models import organizations_backends

    organizations = sim.world.main.client("organizations")
    organizations.create_organization(FeatureSet="ALL")
    backend = organizations_backends[MAIN_ACCOUNT]["aws"]
    assert backend.org is not None
    backend.org.id = ORGANIZATION
    for member in members:
        made = organizations.create_account(AccountName=member, Email=f"{member}@example.com")
        account_id = made["CreateAccountStatus"]["AccountId"]
        (account,) = [a for a in backend.accounts if a.id == account_id]
        account.id = member


def test_a_stack_given_an_organization_admits_its_accounts_and_refuses_others(
    make_sim: MakeSim,
) -> None:
    # Given an organization of the main account (X) and Y, and a backup stack given it
    sim = make_sim(
        parameters={"RetentionDays": "0"}, backup_parameters={"SourceOrganizationId": ORGANIZATION}
    )
    _organization_with(sim, [SECOND_ACCOUNT])
    # When X's run copies in (trust policy and key policy by aws:PrincipalOrgID), Then it
    # completes as with a list
    result = sim.deliver(sim.backup_event("orders-db"))
    assert result.status == "SUCCEEDED", result.error
    assert len(sim.world.app_copies(BACKUP_ACCOUNT)) == 1
    # And Y, a member, copies in through the role too
    y_pipeline = _pipeline_role_in(sim, SECOND_ACCOUNT)
    y_copy = _copy_in_as(
        sim, y_pipeline, _snapshot_in(SECOND_ACCOUNT), execution="run-y", keep_days=8
    )
    assert y_copy in {c["id"] for c in sim.world.app_copies(BACKUP_ACCOUNT)}
    # When an account outside the organization, with the same pipeline role, tries
    outsider = _pipeline_role_in(sim, OUTSIDER)
    # Then the trust policy refuses it the role
    with pytest.raises(ClientError, match="AccessDenied") as refused:
        sim.backup_role_session(outsider.session(REGION))
    assert "trust policy" in str(refused.value)
    # And the key policy refuses it the backup key, even through RDS
    _snapshot_in(OUTSIDER)
    with pytest.raises(ClientError, match="AccessDenied") as denied:
        outsider.session(REGION).client("rds").copy_db_snapshot(
            SourceDBSnapshotIdentifier="orders-db-nightly",
            TargetDBSnapshotIdentifier="xacct-orders-db-outsider",
            KmsKeyId=sim.world.backup_key_arn,
        )
    assert "key policy" in str(denied.value)
    assert sim.permissions.take_refusals()
