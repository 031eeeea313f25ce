"""The deployment's settings, read from the functions' environment (set by template.yaml)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from rds_xacct.model.arns import Arn
from rds_xacct.model.constants import (
    DEFAULT_MAX_COPIES_IN_FLIGHT,
    DEFAULT_RETENTION_DAYS,
    MAX_RECOVERY_POINT_OBJECTIVE_HOURS,
    MAX_RETENTION_DAYS,
    RDS_COPIES_IN_PROGRESS_LIMIT,
    RECOVERY_POINT_OBJECTIVE_HOURS,
)
from rds_xacct.model.errors import PipelineError

ENV_BACKUP_ACCOUNT_ID = "BACKUP_ACCOUNT_ID"
ENV_BACKUP_KMS_KEY_ARN = "BACKUP_KMS_KEY_ARN"
ENV_BACKUP_ROLE_ARN = "BACKUP_ROLE_ARN"
ENV_BACKUP_KEEPER_URL = "BACKUP_KEEPER_URL"
"""The backup account's keeper (its function URL): runs ask it to delete their backup copies."""
ENV_BACKUP_SLOT_BROKER_URL = "BACKUP_SLOT_BROKER_URL"
"""The backup account's slot broker (its function URL): the pool of copies landing there."""
ENV_BACKUP_REGION = "BACKUP_REGION"
"""The region the backup copies land in (the template's `BackupRegion`); empty: this region."""
ENV_BACKUP_REGION_KMS_KEY_ARN = "BACKUP_REGION_KMS_KEY_ARN"
"""The backup account's key in `BACKUP_REGION`, the backup copies' key there."""
ENV_RETENTION_DAYS = "RETENTION_DAYS"
ENV_INCLUDE = "INCLUDE_DATABASES"
ENV_EXCLUDE = "EXCLUDE_DATABASES"
ENV_SELECTION_TAG = "SELECTION_TAG"
ENV_TOPIC_ARN = "NOTIFY_TOPIC_ARN"
ENV_SLACK_PARAMETER = "SLACK_WEBHOOK_PARAMETER"
ENV_ADMISSION_TABLE = "ADMISSION_TABLE"
ENV_NOTICE_TABLE = "NOTICE_TABLE"
ENV_MAX_COPIES = "MAX_COPIES_IN_FLIGHT"
ENV_STATE_MACHINE_ARN = "STATE_MACHINE_ARN"
ENV_RPO_HOURS = "RECOVERY_POINT_OBJECTIVE_HOURS"
"""Both stacks' `RecoveryPointObjectiveHours` (the main account's functions, the keeper's pass)."""
ENV_COPY_RDS_AUTOMATED = "COPY_RDS_AUTOMATED_SNAPSHOTS"
ENV_COPY_RDS_AUTOMATED_CLUSTER = "COPY_RDS_AUTOMATED_CLUSTER_SNAPSHOTS"
"""The template's `CopyRdsAutomated…` parameters (the reconciliation and the watch read them)."""
ENV_REGION = "AWS_REGION"
"""Set by the Lambda runtime: the function's region."""

_ACCOUNT = re.compile(r"^\d{12}$")
_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/(mrk-)?[0-9a-f-]{32,36}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_FUNCTION_URL = re.compile(
    r"^https://[a-z0-9]{1,64}\.lambda-url\.(?P<region>[a-z0-9-]+)\."
    r"on\.(aws|amazonwebservices\.com\.cn)/?$"
)
"""A function URL: https://<url-id>.lambda-url.<region>.on.aws/ (Lambda Developer Guide, "Lambda
function URLs"; the China Regions' end on.amazonwebservices.com.cn)."""


class ConfigurationError(PipelineError):
    """The deployment's settings are missing or invalid."""


def read_rpo_hours(env: Mapping[str, str]) -> tuple[int, str | None]:
    """The recovery point objective in the environment (its default when unset), and what is
    wrong with it (None when nothing is)."""
    try:
        hours = int(env.get(ENV_RPO_HOURS, str(RECOVERY_POINT_OBJECTIVE_HOURS)))
    except ValueError:
        hours = 0
    if not 1 <= hours <= MAX_RECOVERY_POINT_OBJECTIVE_HOURS:
        return hours, (
            f"{ENV_RPO_HOURS} must be a whole number of hours from 1 to "
            f"{MAX_RECOVERY_POINT_OBJECTIVE_HOURS}"
        )
    return hours, None


def _patterns(value: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (value or "").split(",") if p.strip())


def _key_problems(
    key: str, account: str, region: str | None, name: str = ENV_BACKUP_KMS_KEY_ARN
) -> list[str]:
    """A backup key (`name`) must be a full key ARN in the backup account and in the region the
    copy made with it lands in. (Checked here, not in the template's Rules: rules cannot read
    inside a string.)"""
    if not _KEY_ARN.match(key):
        return [f"{name} must be a full KMS key ARN"]
    arn = Arn.parse(key)
    if arn.account != account:
        return [f"{name} must be a key in the backup account"]
    if region and arn.region != region:
        return [
            f"{name} must be a key in {region}, where its copies land: RDS copies a snapshot "
            "with a key of the destination region (CopyDBSnapshot, KmsKeyId)"
        ]
    return []


def _backup_region_problems(env: Mapping[str, str], account: str) -> list[str]:
    """A backup region other than this one needs the backup account's key there."""
    region, here = env.get(ENV_BACKUP_REGION, ""), env.get(ENV_REGION)
    if not region or region == here:
        return []
    if not _REGION.match(region):
        return [f"{ENV_BACKUP_REGION} must be a region name (us-east-1), or empty"]
    key = env.get(ENV_BACKUP_REGION_KMS_KEY_ARN, "")
    return _key_problems(key, account, region, ENV_BACKUP_REGION_KMS_KEY_ARN)


def _url_problems(name: str, url: str, region: str | None) -> list[str]:
    """The keeper and the slot broker are the backup-account stack's function URLs, in the
    region the backup copies land in (the keeper deletes only in its own region; the broker
    counts the copies landing in its own)."""
    match = _FUNCTION_URL.match(url)
    if match is None:
        return [f"{name} must be a Lambda function URL (https://ID.lambda-url.REGION.on.aws/)"]
    if region and match["region"] != region:
        return [f"{name} must be a function URL in {region}, where the copies land"]
    return []


@dataclass(frozen=True)
class Settings:
    backup_account_id: str
    backup_kms_key_arn: str
    backup_role_arn: str
    retention_days: int
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    selection_tag: tuple[str, str] | None = None
    topic_arn: str | None = None
    slack_parameter: str | None = None
    admission_table: str | None = None
    """The DynamoDB table of the copy-slot pools (admission control); None: no admission
    control (unit tests of single steps)."""
    notice_table: str | None = None
    """The DynamoDB table of the notices sent once a day (a quota warning); None: each run that
    notices warns (unit tests of single steps)."""
    max_copies_in_flight: int = DEFAULT_MAX_COPIES_IN_FLIGHT
    state_machine_arn: str | None = None
    """The copy runs' state machine: the sweep asks it whether a copy's run is still going."""
    backup_keeper_url: str | None = None
    """The backup account's keeper's function URL: the main account asks it to delete a backup
    copy (it can't delete one itself). None only in unit tests of steps that never ask."""
    rpo_hours: int = RECOVERY_POINT_OBJECTIVE_HOURS
    """The recovery point objective: a database whose newest backup copy holds older data is
    stale (the hourly watch, `rds-xacct status`)."""
    backup_slot_broker_url: str | None = None
    """The backup account's slot broker: its pool of copy slots, shared by every source account
    copying there. None only in unit tests of steps that take no backup slot."""
    backup_region: str = ""
    """The region the backup copies land in, when not this one (`BackupRegion`: disaster
    recovery); empty: this region."""
    backup_region_kms_key_arn: str = ""
    """The backup account's key in `backup_region` (the backup copies' key there)."""
    automated_copies: frozenset[str] = frozenset()
    """The kinds (`db`, `cluster`) whose native automated snapshots the deployment copies
    (`CopyRdsAutomatedSnapshots`, `CopyRdsAutomatedClusterSnapshots`): every database of that
    kind with automated backups on is then expected to have fresh copies."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        account = env.get(ENV_BACKUP_ACCOUNT_ID, "")
        key = env.get(ENV_BACKUP_KMS_KEY_ARN, "")
        role = env.get(ENV_BACKUP_ROLE_ARN, "")
        problems = []
        if not _ACCOUNT.match(account):
            problems.append(f"{ENV_BACKUP_ACCOUNT_ID} must be a 12-digit account id")
        problems.extend(_key_problems(key, account, env.get(ENV_REGION)))
        if not _ROLE_ARN.match(role):
            problems.append(f"{ENV_BACKUP_ROLE_ARN} must be an IAM role ARN")
        elif Arn.parse(role).account != account:
            problems.append(f"{ENV_BACKUP_ROLE_ARN} must be a role in the backup account")
        here = env.get(ENV_REGION)
        backup_region = env.get(ENV_BACKUP_REGION, "").strip()
        backup_region = "" if backup_region == here else backup_region
        problems.extend(_backup_region_problems(env, account))
        keeper = env.get(ENV_BACKUP_KEEPER_URL, "")
        problems.extend(_url_problems(ENV_BACKUP_KEEPER_URL, keeper, backup_region or here))
        broker = env.get(ENV_BACKUP_SLOT_BROKER_URL, "")
        problems.extend(_url_problems(ENV_BACKUP_SLOT_BROKER_URL, broker, backup_region or here))
        try:
            retention = int(env.get(ENV_RETENTION_DAYS, str(DEFAULT_RETENTION_DAYS)))
        except ValueError:
            retention = -1
        if not 0 <= retention <= MAX_RETENTION_DAYS:
            problems.append(
                f"{ENV_RETENTION_DAYS} must be a whole number from 0 to {MAX_RETENTION_DAYS}"
            )
        selection = env.get(ENV_SELECTION_TAG, "").strip()
        selection_tag = None
        if selection:
            tag_key, sep, tag_value = selection.partition("=")
            if not sep or not tag_key.strip():
                problems.append(f"{ENV_SELECTION_TAG} must read key=value")
            selection_tag = (tag_key.strip(), tag_value.strip())
        try:
            max_copies = int(env.get(ENV_MAX_COPIES, str(DEFAULT_MAX_COPIES_IN_FLIGHT)))
        except ValueError:
            max_copies = 0
        if not 1 <= max_copies <= RDS_COPIES_IN_PROGRESS_LIMIT:
            problems.append(
                f"{ENV_MAX_COPIES} must be a whole number from 1 to {RDS_COPIES_IN_PROGRESS_LIMIT}"
            )
        rpo_hours, rpo_problem = read_rpo_hours(env)
        if rpo_problem:
            problems.append(rpo_problem)
        if problems:
            raise ConfigurationError("Invalid settings: " + "; ".join(problems))
        automated = {"db": ENV_COPY_RDS_AUTOMATED, "cluster": ENV_COPY_RDS_AUTOMATED_CLUSTER}
        return cls(
            backup_account_id=account,
            backup_kms_key_arn=key,
            backup_role_arn=role,
            retention_days=retention,
            include=_patterns(env.get(ENV_INCLUDE)),
            exclude=_patterns(env.get(ENV_EXCLUDE)),
            selection_tag=selection_tag,
            topic_arn=env.get(ENV_TOPIC_ARN) or None,
            slack_parameter=env.get(ENV_SLACK_PARAMETER) or None,
            admission_table=env.get(ENV_ADMISSION_TABLE) or None,
            notice_table=env.get(ENV_NOTICE_TABLE) or None,
            max_copies_in_flight=max_copies,
            state_machine_arn=env.get(ENV_STATE_MACHINE_ARN) or None,
            backup_keeper_url=keeper,
            backup_slot_broker_url=broker or None,
            rpo_hours=rpo_hours,
            backup_region=backup_region,
            backup_region_kms_key_arn=(
                env.get(ENV_BACKUP_REGION_KMS_KEY_ARN, "") if backup_region else ""
            ),
            automated_copies=frozenset(
                kind for kind, name in automated.items() if env.get(name, "").lower() == "true"
            ),
        )

    def landing_region(self, here: str) -> str:
        """Where the backup copies land: the backup region, or `here` (the source's region)."""
        return self.backup_region or here

    @property
    def backup_copy_kms_key_arn(self) -> str:
        """The key the backup copies are made with: the backup account's key in the region they
        land in (the intermediate copies are made with `backup_kms_key_arn`, of this region)."""
        return self.backup_region_kms_key_arn or self.backup_kms_key_arn
