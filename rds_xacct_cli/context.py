"""What a command works with: boto3 sessions of both accounts, and the deployment read from the
main stack, each made when first needed (`explain` never reads the backup account).

The backup account is read with `--backup-profile` (a profile of that account, with read access
to its RDS snapshots) or, without one, through the backup stack's cross-account role, assumed
with the operator's own credentials, which its trust refuses unless they are the source
accounts' pipeline role's, with a session named after the account (other/backup-account):
`--backup-profile` is the way in.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3

from rds_xacct.aws.clients import SDK_CONFIG, new_session
from rds_xacct.jobs.deployment import Deployment
from rds_xacct.jobs.status import Status, look
from rds_xacct.model.constants import APP_NAME
from rds_xacct.model.settings import ConfigurationError
from rds_xacct.model.times import Clock, utc_now

SAMCONFIG = Path("samconfig.toml")
"""The session name of the backup role assumed by the operator (CloudTrail shows it)."""


def default_stack_name(samconfig: Path = SAMCONFIG) -> str:
    """The stack `sam deploy` deploys (samconfig.toml in the current directory), else the app's
    name, as samconfig.toml has it."""
    try:
        config = tomllib.loads(samconfig.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return APP_NAME
    default = config.get("default", {})
    for command in ("deploy", "global"):
        name = default.get(command, {}).get("parameters", {}).get("stack_name")
        if isinstance(name, str) and name:
            return name
    return APP_NAME


@dataclass
class Operator:
    """The sessions and deployment a command uses: from the command's options
    (`Operator.from_options`), or given (the simulation, the tests)."""

    main: boto3.Session
    backup_session: Callable[[Operator], boto3.Session]
    """The backup account's session, made when first needed."""
    find_deployment: Callable[[Operator], Deployment]
    now: Clock = utc_now
    sleep: Callable[[float], None] | None = None
    """How the backfill pauses between starts (None: time.sleep)."""
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_options(
        cls,
        *,
        profile: str | None,
        region: str | None,
        stack_name: str,
        backup_profile: str | None,
    ) -> Operator:
        main = _session(profile, region)

        def backup(operator: Operator) -> boto3.Session:
            # The backup account's role trusts only the source accounts' pipeline roles, with a
            # session named after their account: an operator reads the backup account with a
            # profile of its own, in the region the copies land in (BackupRegion, when set)
            if not backup_profile:
                raise ConfigurationError(
                    "Give --backup-profile: a profile of the backup account that may describe "
                    "its snapshots (the backup account's role trusts only the pipeline roles)"
                )
            here = operator.main.region_name or ""
            return _session(backup_profile, operator.deployment.settings.landing_region(here))

        def deployment(operator: Operator) -> Deployment:
            return Deployment.from_stack(
                operator.client("cloudformation"), operator.client("lambda"), stack_name
            )

        return cls(main=main, backup_session=backup, find_deployment=deployment)

    @cached_property
    def deployment(self) -> Deployment:
        return self.find_deployment(self)

    @cached_property
    def backup(self) -> boto3.Session:
        return self.backup_session(self)

    def client(self, service: str) -> Any:
        """A client of the main account, made once."""
        return self._client("main", self.main, service)

    def backup_client(self, service: str) -> Any:
        """A client of the backup account, made once."""
        return self._client("backup", self.backup, service)

    def status(self, rpo_hours: float | None = None) -> Status:
        """Every database's status now (`rds-xacct status`), against `rpo_hours` (default: the
        deployment's)."""
        return look(
            self.deployment,
            rds=self.client("rds"),
            backup_rds=self.backup_client("rds"),
            aws_backup=self.client("backup"),
            sfn=self.client("stepfunctions"),
            now=self.now(),
            rpo_hours=rpo_hours,
        )

    def _client(self, account: str, session: boto3.Session, service: str) -> Any:
        key = (account, service)
        if key not in self._clients:
            self._clients[key] = session.client(service, config=SDK_CONFIG)  # type: ignore[call-overload]
        return self._clients[key]


def _session(profile: str | None, region: str | None) -> boto3.Session:
    options = {"profile_name": profile, "region_name": region}
    return new_session(**{key: value for key, value in options.items() if value})
