"""Permissions proven by running: every permission the templates give is used by some run.

Every end-to-end run enforces the templates' permissions (simulation/iam/): a
call they don't allow fails its test, naming the action, the resource and the role. This test
asserts the converse. It runs the scenarios that together take every path (a database and a
cluster copied and deleted after their retention, a failure cleaned up, stopped runs swept, a
full quota warned about, a source with a customer managed key, a run that waits for a copy slot,
a run that fails with an error no Catch handles, a missed event reconciled, the hourly watch) and
fails if any Allow statement, action and resource of `template.yaml` or `backup-account.yaml`
(identity policies, trust policies and the backup key's policy) allowed none of their requests:
an excess permission, to be removed, or a path no test takes. `NEEDED_ONLY_BY_REAL_AWS` lists
what only AWS itself uses, each with why.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from simulation.driver import Simulation, outcomes
from simulation.events import backup_job_event
from simulation.iam import Permission, declared_permissions, used_permissions
from simulation.iam.policy import glob
from simulation.moto import RDS_LIMITS
from simulation.world import BACKUP_ACCOUNT, MAIN_ACCOUNT, REGION

NEEDED_ONLY_BY_REAL_AWS: dict[str, str] = {
    # (patterns over the texts of `declared_permissions`; a statement whose actions are all
    # excused here has its resources excused too)
    # The Lambda service writes the functions' logs and traces with their role; the functions
    # never call CloudWatch Logs or X-Ray themselves.
    "template.yaml: PipelineRole / logs-and-traces / * / logs:*": "written by the Lambda service",
    "template.yaml: PipelineRole / logs-and-traces / * / xray:*": "written by the Lambda service",
    # Step Functions sets up the state machine's log delivery with its role ("Logging Step
    # Functions executions in CloudWatch Logs": the role needs these log-delivery actions).
    "template.yaml: CopySnapshotStateMachineRole / * / logs:*": "Step Functions' log delivery",
    # SAM's LambdaInvokePolicy also grants each function's qualified ARNs (FUNCTION:*, versions
    # and aliases); the ASL invokes the unqualified ones.
    "template.yaml: CopySnapshotStateMachineRole / *LambdaInvokePolicy* / on *:function:*:*": (
        "part of SAM's policy template"
    ),
    # RDS encrypts and decrypts a copy itself, under the grant it makes with the caller's
    # kms:CreateGrant (RDS User Guide, "AWS KMS key management": the caller needs CreateGrant
    # and DescribeKey, which the runs use). The cryptographic operations are RDS's and can't be
    # observed on moto; the RDS guide to copying shared encrypted snapshots ("Sharing encrypted
    # snapshots") asks for them for the copying account, and they are only usable through RDS
    # (kms:ViaService in the key policy).
    "* / UseTheBackupKeyThroughRds / kms:Encrypt": "RDS's cryptography under its grant",
    "* / UseTheBackupKeyThroughRds / kms:Decrypt": "RDS's cryptography under its grant",
    "* / UseTheBackupKeyThroughRds / kms:ReEncrypt*": "RDS's cryptography under its grant",
    "* / UseTheBackupKeyThroughRds / kms:GenerateDataKey*": "RDS's cryptography under its grant",
    "* / ReadSourcesEncryptedWithCustomerKeys / kms:Decrypt": "RDS's cryptography under its grant",
    "*: BackupKey / key policy / BackupAccountUsesTheKey / kms:[EDRG]*": "RDS's cryptography",
    "*: BackupKey / key policy / SourceAccountsUseTheKeyThroughRds / kms:*": "RDS's cryptography",
    # The key's administration is for people of the backup account, not for the app.
    "*: BackupKey / key policy / KeyAdministration / kms:*": "the backup account's administrators",
    # The alarms' topic and its key are used by CloudWatch (its service principal) and by the
    # people who subscribe and administer; no function of the app uses them.
    "*: AlarmKey / key policy / * / kms:*": "CloudWatch and the account's administrators",
    # snapshots.py lists a snapshot's tags only when a Describe answer has no TagList; RDS (and
    # moto) answer with it, so no run needs this in the backup account.
    "*: CrossAccountRole / copy-snapshots-here / DescribeCopiesHere / rds:ListTagsForResource": (
        "the fallback of a Describe answer without TagList"
    ),
    "*: KeeperRole / keep-the-copies / DescribeSnapshotsHere / rds:ListTagsForResource": (
        "the fallback of a Describe answer without TagList"
    ),
    # The Lambda service writes the keeper's log with its role (LoggingConfig's log group).
    "*: KeeperRole / keep-the-copies / WriteItsLog / logs:*": "written by the Lambda service",
    "*: SlotBrokerRole / keep-the-copy-slots / WriteItsLog / logs:*": "written by the Lambda service",
}


def _copied(sim: Simulation, event: dict[str, Any]) -> None:
    result = sim.deliver(event)
    assert result.status == "SUCCEEDED", (result.error, result.cause)


def _database_and_cluster(sim: Simulation) -> None:
    # Copied, kept a day, deleted by the run (DB snapshot, then cluster snapshot)
    _copied(sim, sim.backup_event("orders-db"))
    _copied(sim, sim.backup_event("analytics", kind="cluster"))


def _failure_cleaned_up(sim: Simulation) -> None:
    sim.inject_failure("CheckBackup")
    result = sim.deliver(sim.backup_event("billing-db"))
    sim.failures.clear()
    assert result.status == "FAILED"
    assert sim.world.app_copies(MAIN_ACCOUNT) == []
    assert sim.world.app_copies(BACKUP_ACCOUNT) == []


def _stopped_runs_swept(sim: Simulation) -> None:
    # One stopped with its backup copy made, one with only its intermediate copy: the main
    # account's sweep deletes the intermediate copy, the backup account's keeper the other
    sim.stop_run_after("Notify", "ABORTED")
    sim.deliver(sim.backup_event("crm-db"))
    sim.stop_run_after("CopyIntermediate", "ABORTED", reported=False)  # a lost run: no cleanup
    sim.deliver(sim.backup_event("hr-db"))
    sim.stop_after = None
    sim.clock.advance(9 * 86400)
    swept = sim.sweep()
    assert len(swept["deleted"]) >= 1, swept
    assert sim.world.app_copies(MAIN_ACCOUNT) == []
    assert sim.keeper_pass()["deleted"] != []
    assert sim.world.app_copies(BACKUP_ACCOUNT) == []


def _quota_warned(sim: Simulation) -> None:
    # Four manual snapshots of five: the copy fits, and the 80 % warning goes out
    sim.world.database("quota-db")
    for n in range(4):
        sim.world.snapshot("quota-db", f"manual-{n}")
    RDS_LIMITS.set_manual_snapshot_quota(MAIN_ACCOUNT, db=5)
    sent_before = len(sim.sns_messages())
    event = backup_job_event(
        sim.world.backup_snapshot("quota-db", "quota-job"),
        f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:db:quota-db",
    )
    _copied(sim, event)
    assert "quota-warning" in outcomes(sim.sns_messages()[sent_before:])
    RDS_LIMITS.set_manual_snapshot_quota(MAIN_ACCOUNT)


def _customer_key_source(sim: Simulation) -> None:
    key = sim.world.main.client("kms").create_key(Description="a database's own key")
    sim.world.database("keyed-db", encryption=key["KeyMetadata"]["Arn"])
    event = backup_job_event(
        sim.world.backup_snapshot("keyed-db", "keyed-job"),
        f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:db:keyed-db",
    )
    _copied(sim, event)


def _uncaught_failure_reported(sim: Simulation) -> None:
    sim.corrupt_result("CheckIntermediate", waitSeconds="soon")
    result = sim.deliver(sim.backup_event("ledger-db"))
    sim.corruptions.clear()
    assert result.status == "FAILED"
    assert result.error == "States.Runtime"


def _missed_event_reconciled(sim: Simulation) -> None:
    now = sim.clock.now()
    target = now.replace(hour=7, minute=47, second=0, microsecond=0)
    target += timedelta(days=1) if target <= now else timedelta(0)
    sim.clock.advance((target - now).total_seconds() + 180)
    sim.backup_event("missed-db")  # its event never arrives
    sim.clock.advance(86400 - 180)
    started = sim.reconcile()["started"]
    assert [s["database"] for s in started] == ["missed-db"]
    (ended,) = sim.wait_for_runs([s["execution"] for s in started])
    assert ended["status"] == "SUCCEEDED"


def _freshness_watched(sim: Simulation) -> None:
    # The hourly watch: AWS Backup's protected resources, the databases and clusters there
    # are, their copies in the backup account, the copy slots
    watched = sim.watch()
    assert watched["problems"] == []
    assert watched["covered"] >= 2


def _unshareable_source_skipped(sim: Simulation) -> None:
    sim.world.database_with_options(
        "vault", engine="oracle-ee", major_version="19", options=["TDE"]
    )
    event = backup_job_event(
        sim.world.backup_snapshot("vault", "vault-job"),
        f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:db:vault",
    )
    assert outcomes(sim.deliver(event).sns) == ["skipped"]


def _waits_for_a_slot(sim: Simulation) -> None:
    first, second = sim.backup_event("first-db"), sim.backup_event("second-db")
    runs = sim.deliver_window([(0, first), (60, second)])
    assert [r["status"] for r in runs] == ["SUCCEEDED", "SUCCEEDED"]


def _waits_a_day_for_a_slot_in_vain(sim: Simulation) -> None:
    # A 2 TiB copy holds the one slot for 33 hours: the next run gives up after a day
    huge, late = sim.backup_event("huge-db", size_gib=2000), sim.backup_event("late-db")
    runs = sim.deliver_window([(0, huge), (60, late)])
    assert [r["status"] for r in runs] == ["SUCCEEDED", "FAILED"]
    assert runs[1]["error"] == "NoCopySlot"


SCENARIOS: list[tuple[dict[str, Any], list[Callable[[Simulation], None]]]] = [
    (
        {
            "parameters": {"RetentionDays": "1"},
            "backup_parameters": {"MinimumRetentionDays": "1"},
        },
        [
            _database_and_cluster,
            _failure_cleaned_up,
            _stopped_runs_swept,
            _quota_warned,
            _customer_key_source,
            _uncaught_failure_reported,
            _missed_event_reconciled,
            _unshareable_source_skipped,
            _freshness_watched,
        ],
    ),
    (
        {"parameters": {"RetentionDays": "0", "MaxCopiesInFlight": "1"}, "slack": False},
        [_waits_for_a_slot, _waits_a_day_for_a_slot_in_vain],
    ),
]


def test_every_permission_of_both_templates_is_used_by_some_run() -> None:
    # Given every scenario run, with the templates' permissions enforced (each run would fail
    # its scenario, naming the call, had a permission been missing)
    declared: dict[Permission, str] = {}
    used: set[Permission] = set()
    for options, scenarios in SCENARIOS:
        with Simulation(**options) as sim:  # (one simulated world at a time)
            for scenario in scenarios:
                scenario(sim)
            declared.update(declared_permissions(sim.permissions))
            used |= used_permissions(sim.permissions)

    # Then every permission the templates give allowed some request, or is one only AWS uses
    def excused(text: str) -> bool:
        return any(glob(pattern, text) for pattern in NEEDED_ONLY_BY_REAL_AWS)

    idle_statements = {
        raw[1:4]
        for raw, text in declared.items()
        if raw[0] == "action"
        and not any(
            other[0] == "action" and other[1:4] == raw[1:4] and (other in used or not excused(t))
            for other, t in declared.items()
        )
    }
    """Statements whose every action is excused: their resources are excused too."""
    unused = sorted(
        text
        for raw, text in declared.items()
        if raw not in used and not excused(text) and raw[1:4] not in idle_statements
    )
    assert unused == [], (
        "Permissions no run used (remove them, or run a path that needs them):\n"
        + "\n".join(unused)
    )
    # And the allow-list excuses only permissions that are declared and unused
    stale = [
        pattern
        for pattern in NEEDED_ONLY_BY_REAL_AWS
        if not any(glob(pattern, text) and raw not in used for raw, text in declared.items())
    ]
    assert stale == []


def _without(document: dict[str, Any], action: str) -> dict[str, Any]:
    statements = []
    for statement in document["Statement"]:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        kept = [a for a in actions if a != action]
        if kept:
            statements.append({**statement, "Action": kept})
    return {**document, "Statement": statements}


def test_a_call_the_policies_do_not_allow_fails_naming_the_action_resource_and_role() -> None:
    with Simulation() as sim:
        # Given the pipeline role deployed without rds:CopyDBSnapshot
        iam = sim.world.main.client("iam")
        role = next(r for r in sim.permissions.roles.values() if r.logical_id == "PipelineRole")
        for name in iam.list_role_policies(RoleName=role.name)["PolicyNames"]:
            document: Any = iam.get_role_policy(RoleName=role.name, PolicyName=name)[
                "PolicyDocument"
            ]
            iam.put_role_policy(
                RoleName=role.name,
                PolicyName=name,
                PolicyDocument=json.dumps(_without(document, "rds:CopyDBSnapshot")),
            )
        # When a backup's event arrives
        with pytest.raises(AssertionError) as refused:
            sim.deliver(sim.backup_event("orders-db"))
        # Then the test fails naming the action, the snapshot and the role
        message = str(refused.value)
        assert "rds:CopyDBSnapshot" in message
        assert f"arn:aws:rds:{REGION}:{MAIN_ACCOUNT}:snapshot:awsbackup:job-" in message
        assert f"role {role.name} (PipelineRole in template.yaml" in message
        # And the app saw AWS's AccessDenied: the run failed and cleaned up
        assert sim.world.app_copies(MAIN_ACCOUNT) == []


def test_the_backup_role_trusts_only_the_pipeline_role() -> None:
    with Simulation() as sim:
        # Given the backup account's role, trusting the source accounts' pipeline role by name,
        # each session named after its account
        iam = sim.world.backup.client("iam")
        trust: Any = iam.get_role(RoleName="rds-xacct-backup-copy")["Role"][
            "AssumeRolePolicyDocument"
        ]
        assert trust["Statement"][0]["Principal"] == {"AWS": [MAIN_ACCOUNT]}
        assert trust["Statement"][0]["Condition"] == {
            "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/rds-xacct-pipeline-*"},
            "StringLike": {"sts:RoleSessionName": "${aws:PrincipalAccount}-*"},
        }
        # When it trusts another role of the main account instead
        other = f"arn:aws:iam::{MAIN_ACCOUNT}:role/someone-else"
        trust["Statement"][0]["Condition"]["ArnLike"]["aws:PrincipalArn"] = other
        iam.update_assume_role_policy(
            RoleName="rds-xacct-backup-copy", PolicyDocument=json.dumps(trust)
        )
        sim.permissions.resource_policies.clear()
        # Then the pipeline can't reach the backup account, and the test says why
        with pytest.raises(
            AssertionError,
            match=r"sts:AssumeRole on arn:aws:iam::222222222222:role/rds-xacct-backup-copy .*trust policy",
        ):
            sim.deliver(sim.backup_event("orders-db"))
