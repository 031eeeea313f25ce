"""The keeper's settings, read from its environment (set by the backup-account stack): the
source accounts (or the organization) it serves, its retentions, its ledger and what the
freshness check ignores."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from rds_xacct.model.constants import (
    DEFAULT_MIN_RETENTION_DAYS,
    MAX_RETENTION_DAYS,
    RECOVERY_POINT_OBJECTIVE_HOURS,
)
from rds_xacct.model.settings import ConfigurationError, read_rpo_hours

ENV_SOURCE_ACCOUNT_IDS = "SOURCE_ACCOUNT_IDS"
ENV_SOURCE_ORGANIZATION_ID = "SOURCE_ORGANIZATION_ID"
ENV_MIN_RETENTION_DAYS = "MIN_RETENTION_DAYS"
ENV_LONGEST_RETENTION_DAYS = "LONGEST_RETENTION_DAYS"
ENV_LEDGER_TABLE = "LEDGER_TABLE"
ENV_IGNORED = "FRESHNESS_IGNORED_DATABASES"

LONGEST_RETENTION_LIMIT_DAYS = 3650
"""The most a backup-account operator may set as the longest retention (ten years)."""


TAG_MARGIN = timedelta(days=1)
"""An expiry tag may lie this far past creation + the longest retention a run can ask for: the
run writes its tag from the moment it started the copy (at most seconds before RDS's creation
time), and clocks differ by seconds. Anything later is unreadable, not trusted."""

_ACCOUNT = re.compile(r"^\d{12}$")
_ORGANIZATION = re.compile(r"^o-[a-z0-9]{10,32}$")


@dataclass(frozen=True)
class KeeperSettings:
    """The keeper's settings, read from its environment (set by the backup-account stack)."""

    source_accounts: frozenset[str]
    """The source (main) accounts whose copies are kept here; empty with an organization."""
    min_retention_days: int
    ledger_table: str
    organization_id: str = ""
    """The organization whose accounts are the source accounts (`SourceOrganizationId`), or
    empty: the list `source_accounts`."""
    longest_retention_days: int = 0
    """How long a copy the main account made without an expiry tag is kept; 0 (the default): for
    good, as the main account's RetentionDays 0 asks. A backup account that will not trust the
    main account with its snapshot quota sets a number of days. (A copy with an unreadable expiry
    tag is never kept for good: `longest_retention`.)"""
    rpo_hours: int = RECOVERY_POINT_OBJECTIVE_HOURS
    ignored: frozenset[str] = frozenset()
    """Databases (identifiers, lower case) the freshness check no longer watches: retired on
    purpose, by this account's people (`FreshnessIgnoredDatabases`)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KeeperSettings:
        env = os.environ if env is None else env
        accounts = frozenset(a.strip() for a in env.get(ENV_SOURCE_ACCOUNT_IDS, "").split(","))
        accounts -= {""}
        organization = env.get(ENV_SOURCE_ORGANIZATION_ID, "").strip()
        table = env.get(ENV_LEDGER_TABLE, "")
        problems = _source_problems(accounts, organization)
        days = _whole(env.get(ENV_MIN_RETENTION_DAYS, str(DEFAULT_MIN_RETENTION_DAYS)))
        if not 1 <= days <= MAX_RETENTION_DAYS:
            problems.append(
                f"{ENV_MIN_RETENTION_DAYS} must be a whole number from 1 to {MAX_RETENTION_DAYS}"
            )
        longest = _whole(env.get(ENV_LONGEST_RETENTION_DAYS, "0"))
        if not 0 <= longest <= LONGEST_RETENTION_LIMIT_DAYS:
            problems.append(
                f"{ENV_LONGEST_RETENTION_DAYS} must be a whole number from 0 to "
                f"{LONGEST_RETENTION_LIMIT_DAYS}"
            )
        if not table:
            problems.append(f"{ENV_LEDGER_TABLE} must name the ledger table")
        rpo_hours, rpo_problem = read_rpo_hours(env)
        problems.extend([rpo_problem] if rpo_problem else [])
        if problems:
            raise ConfigurationError("Invalid keeper settings: " + "; ".join(problems))
        return cls(
            source_accounts=accounts,
            organization_id=organization,
            min_retention_days=days,
            ledger_table=table,
            longest_retention_days=longest,
            rpo_hours=rpo_hours,
            ignored=frozenset(n.strip().lower() for n in env.get(ENV_IGNORED, "").split(","))
            - {""},
        )

    @property
    def min_retention(self) -> timedelta:
        return timedelta(days=self.min_retention_days)

    def serves(self, account: str | None) -> bool:
        """Is `account` a source account of this backup account? With an organization, any
        account: IAM admits only its accounts to the role that copies in (its trust policy,
        `aws:PrincipalOrgID`), and the keeper answers a caller about its own copies only."""
        if account is None or not _ACCOUNT.match(account):
            return False
        return bool(self.organization_id) or account in self.source_accounts

    def describe_sources(self) -> str:
        if self.organization_id:
            return f"the accounts of the organization {self.organization_id}"
        return "the source accounts " + ", ".join(sorted(self.source_accounts))

    @property
    def longest_retention(self) -> timedelta:
        """How long a copy without a readable expiry is kept (at least the minimum)."""
        days = self.longest_retention_days or MAX_RETENTION_DAYS
        return max(timedelta(days=days), self.min_retention)

    @property
    def tag_horizon(self) -> timedelta:
        """The latest expiry tag read, from a copy's creation; later ones are unreadable."""
        return max(timedelta(days=MAX_RETENTION_DAYS), self.longest_retention) + TAG_MARGIN


def _source_problems(accounts: frozenset[str], organization: str) -> list[str]:
    """Exactly one of a list of accounts or an organization (the stack's Rules say the same)."""
    if bool(accounts) == bool(organization):
        return [f"exactly one of {ENV_SOURCE_ACCOUNT_IDS} and {ENV_SOURCE_ORGANIZATION_ID} is set"]
    if organization and not _ORGANIZATION.match(organization):
        return [f"{ENV_SOURCE_ORGANIZATION_ID} must be an organization id (o-...)"]
    if any(not _ACCOUNT.match(account) for account in accounts):
        return [f"{ENV_SOURCE_ACCOUNT_IDS} must be 12-digit account ids, comma-separated"]
    return []


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return -1
