"""AWS accounts on moto: the main account (and other source accounts) with databases and their
snapshots, and the backup account with its key and cross-account role. Used by unit tests, end-to-end tests and the
local simulation. Must be used inside `mock_aws`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from moto.rds.models import rds_backends

from rds_xacct.aws.clients import new_session, session_of_credentials
from rds_xacct.model.constants import APP_NAME, TAG_APP
from rds_xacct.model.settings import Settings
from rds_xacct.model.times import iso

MAIN_ACCOUNT = "123456789012"
BACKUP_ACCOUNT = "222222222222"
SECOND_ACCOUNT = "333333333333"
"""Another source account, copying into the same backup account (`Simulation(source_accounts=
(MAIN_ACCOUNT, SECOND_ACCOUNT))`)."""
REGION = "eu-west-1"
BACKUP_ROLE_NAME = "rds-xacct-backup-copy"
BACKUP_ROLE_ARN = f"arn:aws:iam::{BACKUP_ACCOUNT}:role/{BACKUP_ROLE_NAME}"
KEEPER_URL = f"https://k33p3r0123456789abcdef0123456789.lambda-url.{REGION}.on.aws/"
"""The backup account's keeper as the backup-account stack names it (the simulation makes it;
unit tests of single steps stand in for it)."""
SLOT_BROKER_URL = f"https://{'b' * 32}.lambda-url.{REGION}.on.aws/"
"""A slot broker's function URL, for unit tests of settings (the simulation's is its own)."""

TEST_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "rds-xacct",
}
"""Fake credentials and a region for every test: never a real account."""
UNSET_IN_TESTS = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "MOTO_ACCOUNT_ID")
"""Variables that could point a test at a real account or another moto account."""


def session_in(account: str, region: str = REGION) -> boto3.Session:
    """A session acting in `account` (moto maps assumed-role credentials to the role's account),
    in `region`."""
    if account == MAIN_ACCOUNT:
        return new_session(region_name=region)
    credentials = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/test-admin", RoleSessionName="test-admin"
    )["Credentials"]
    return session_of_credentials(credentials, region)


def backup_key_policy(*principals: str) -> str:
    """A key policy like other/backup-account's: the backup account administers the key; the
    given accounts may use it for RDS."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "BackupAccountAdministers",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{BACKUP_ACCOUNT}:root"},
            "Action": ["kms:DescribeKey", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"],
            "Resource": "*",
        }
    ]
    if principals:
        statements.append(
            {
                "Sid": "MainAccountUsesForRds",
                "Effect": "Allow",
                "Principal": {"AWS": [f"arn:aws:iam::{p}:root" for p in principals]},
                "Action": [
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncryptFrom",
                    "kms:ReEncryptTo",
                    "kms:GenerateDataKey",
                    "kms:DescribeKey",
                    "kms:CreateGrant",
                ],
                "Resource": "*",
            }
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def postgres_instance(rds: Any, identifier: str, *, size_gib: int = 20, **extra: Any) -> str:
    """A PostgreSQL DB instance made with `rds`, a client of any account; `extra` goes to
    CreateDBInstance (tags, encryption)."""
    rds.create_db_instance(
        DBInstanceIdentifier=identifier,
        DBInstanceClass="db.t4g.medium",
        Engine="postgres",
        AllocatedStorage=size_gib,
        MasterUsername="admin_user",
        MasterUserPassword="not-a-real-password",
        **extra,
    )
    return identifier


def _created(moment: datetime | str) -> str:
    """RDS's SnapshotCreateTime of a moto snapshot, as the app writes times."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return iso(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


@dataclass
class World:
    backup_key_arn: str
    main: boto3.Session
    backup: boto3.Session
    """The backup account, in the region its copies land in (`backup_region`)."""
    backup_region: str = REGION
    """Where the backup copies land: the main account's region, or a disaster-recovery region
    (the main stack's BackupRegion)."""
    sources: dict[str, boto3.Session] = field(default_factory=dict)
    """Operator sessions of the source accounts other than the main account, by account."""
    _clients: dict[tuple[str, str], Any] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def session_of(self, account: str = MAIN_ACCOUNT) -> boto3.Session:
        """The operator's session in a source account (the main account's: `main`)."""
        if account == MAIN_ACCOUNT:
            return self.main
        if account not in self.sources:
            self.sources[account] = session_in(account)
        return self.sources[account]

    def main_client(self, service: str, account: str = MAIN_ACCOUNT) -> Any:
        """A client of the main account (or another source account), made once: making one
        costs more than most calls."""
        key = (account, service)
        if key not in self._clients:
            self._clients[key] = self.session_of(account).client(service)  # type: ignore[call-overload]
        return self._clients[key]

    @classmethod
    def create(cls) -> World:
        """The backup account's key (usable by the main account) and role."""
        backup = session_in(BACKUP_ACCOUNT)
        key = backup.client("kms").create_key(
            Description="rds-xacct backup key", Policy=backup_key_policy(MAIN_ACCOUNT)
        )["KeyMetadata"]
        backup.client("iam").create_role(
            RoleName=BACKUP_ROLE_NAME,
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": f"arn:aws:iam::{MAIN_ACCOUNT}:root"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )
        return cls(backup_key_arn=key["Arn"], main=session_in(MAIN_ACCOUNT), backup=backup)

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "backup_account_id": BACKUP_ACCOUNT,
            "backup_kms_key_arn": self.backup_key_arn,
            "backup_role_arn": BACKUP_ROLE_ARN,
            "backup_keeper_url": KEEPER_URL,
            "retention_days": 1,
        }
        values.update(overrides)
        return Settings(**values)

    def environment(self, **overrides: str) -> dict[str, str]:
        """The functions' environment variables, as the template sets them."""
        env = {
            "BACKUP_ACCOUNT_ID": BACKUP_ACCOUNT,
            "BACKUP_KMS_KEY_ARN": self.backup_key_arn,
            "BACKUP_ROLE_ARN": BACKUP_ROLE_ARN,
            "BACKUP_KEEPER_URL": KEEPER_URL,
            "BACKUP_SLOT_BROKER_URL": SLOT_BROKER_URL,
            "RETENTION_DAYS": "1",
        }
        env.update(overrides)
        return env

    # -- the main account's databases and snapshots ------------------------------------------
    def database(
        self,
        identifier: str,
        *,
        encryption: str = "aws/rds",
        size_gib: int = 20,
        tags: dict[str, str] | None = None,
        account: str = MAIN_ACCOUNT,
    ) -> str:
        """A DB instance of a source account. `encryption`: "aws/rds" (the default key),
        "none", or a key ARN."""
        return postgres_instance(
            self.main_client("rds", account),
            identifier,
            size_gib=size_gib,
            Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
            **self._encryption(encryption, account),
        )

    def cluster(
        self,
        identifier: str,
        *,
        encryption: str = "aws/rds",
        tags: dict[str, str] | None = None,
        account: str = MAIN_ACCOUNT,
    ) -> str:
        """An Aurora PostgreSQL cluster of a source account."""
        kwargs = self._encryption(encryption, account)
        self.main_client("rds", account).create_db_cluster(
            DBClusterIdentifier=identifier,
            Engine="aurora-postgresql",
            MasterUsername="admin_user",
            MasterUserPassword="not-a-real-password",
            Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
            **kwargs,
        )
        return identifier

    def database_with_options(
        self, identifier: str, *, engine: str, major_version: str, options: list[str]
    ) -> str:
        """A DB instance (encrypted with aws/rds) in an option group of its own holding
        `options`, e.g. an Oracle database with TDE ("oracle-ee", "19", ["TDE"])."""
        rds = self.main_client("rds")
        group = f"{identifier}-options"
        rds.create_option_group(
            OptionGroupName=group,
            EngineName=engine,
            MajorEngineVersion=major_version,
            OptionGroupDescription=f"options of {identifier}",
        )
        rds.modify_option_group(
            OptionGroupName=group,
            OptionsToInclude=[{"OptionName": name} for name in options],
            ApplyImmediately=True,
        )
        rds.create_db_instance(
            DBInstanceIdentifier=identifier,
            DBInstanceClass="db.m5.large",
            Engine=engine,
            AllocatedStorage=20,
            MasterUsername="admin_user",
            MasterUserPassword="not-a-real-password",
            OptionGroupName=group,
            **self._encryption("aws/rds"),
        )
        return identifier

    def _encryption(self, encryption: str, account: str = MAIN_ACCOUNT) -> dict[str, Any]:
        if encryption == "none":
            return {}
        return {"StorageEncrypted": True, "KmsKeyId": self._key(encryption, account)}

    def _key(self, encryption: str, account: str = MAIN_ACCOUNT) -> str:
        if encryption != "aws/rds":
            return encryption
        kms = self.main_client("kms", account)
        aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
        if aliases.get("alias/aws/rds"):
            return str(aliases["alias/aws/rds"])
        key_id = kms.create_key(Description="Default key that protects my RDS databases")[
            "KeyMetadata"
        ]["KeyId"]
        kms.create_alias(AliasName="alias/aws/rds", TargetKeyId=key_id)
        return str(key_id)

    def snapshot(
        self,
        database: str,
        identifier: str,
        *,
        kind: str = "db",
        snapshot_type: str = "manual",
        created_at: datetime | None = None,
        account: str = MAIN_ACCOUNT,
    ) -> str:
        """A snapshot of the database or cluster of a source account; returns its ARN.

        Made in moto's RDS backend directly: the RDS API refuses the colons of the identifiers
        AWS Backup (`awsbackup:job-…`) and RDS automated backups (`rds:…`) use, and moto does
        not implement backup:StartBackupJob."""
        backend = rds_backends[account][REGION]
        if kind == "cluster":
            snapshot: Any = backend.create_db_cluster_snapshot(
                database, identifier, snapshot_type=snapshot_type
            )
        else:
            snapshot = backend.create_db_snapshot(
                database, identifier, snapshot_type=snapshot_type, original_created_at=created_at
            )
        if created_at is not None:
            snapshot.created = created_at
        return str(snapshot.arn)

    def backup_snapshot(
        self,
        database: str,
        job_id: str,
        *,
        kind: str = "db",
        created_at: datetime | None = None,
        account: str = MAIN_ACCOUNT,
    ) -> str:
        """A snapshot made by AWS Backup (`awsbackup:job-…`); returns its ARN.

        A DB snapshot's type is `awsbackup`; a cluster snapshot's is `manual` (DescribeDBSnapshots,
        SnapshotType: "The awsbackup type does not apply to Aurora"; DescribeDBClusterSnapshots
        knows automated, manual, shared and public only)."""
        return self.snapshot(
            database,
            f"awsbackup:job-{job_id}",
            kind=kind,
            snapshot_type="manual" if kind == "cluster" else "awsbackup",
            created_at=created_at,
            account=account,
        )

    def native_snapshot(
        self, database: str, identifier: str, *, kind: str = "db", account: str = MAIN_ACCOUNT
    ) -> str:
        """A native manual snapshot, or an automated one when named `rds:…`; returns its ARN."""
        snapshot_type = "automated" if identifier.startswith("rds:") else "manual"
        return self.snapshot(
            database, identifier, kind=kind, snapshot_type=snapshot_type, account=account
        )

    # -- what is where -------------------------------------------------------------------------
    def snapshots(self, account: str) -> list[dict[str, Any]]:
        """Every DB and cluster snapshot in the account, with tags: a source account's in its
        region, the backup account's where the backup copies land."""
        found: list[dict[str, Any]] = []
        backend = rds_backends[account][self.backup_region if account == BACKUP_ACCOUNT else REGION]
        for snap in backend.database_snapshots.values():
            found.append(
                {
                    "id": snap.db_snapshot_identifier,
                    "kind": "db",
                    "arn": snap.arn,
                    # RDS's record of a cross-account copy's source (SourceDBSnapshotIdentifier)
                    "source": getattr(snap, "source_db_snapshot_identifier", None),
                    "key": getattr(snap, "kms_key_id", None),
                    "status": snap.status,
                    "createdAt": _created(snap.snapshot_create_time),
                    "tags": {t["Key"]: t["Value"] for t in snap.tags or []},
                }
            )
        for csnap in backend.cluster_snapshots.values():
            found.append(
                {
                    "id": csnap.db_cluster_snapshot_identifier,
                    "kind": "cluster",
                    "arn": csnap.arn,
                    "source": getattr(csnap, "source_db_cluster_snapshot_arn", None),
                    "key": getattr(csnap, "kms_key_id", None),
                    "status": csnap.status,
                    "createdAt": _created(csnap.snapshot_create_time),
                    "tags": {t["Key"]: t["Value"] for t in csnap.tags or []},
                }
            )
        return found

    def app_copies(self, account: str) -> list[dict[str, Any]]:
        """The snapshots in the account that carry this app's tag."""
        return [s for s in self.snapshots(account) if s["tags"].get(TAG_APP) == APP_NAME]
