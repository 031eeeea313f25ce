"""Is there room for one more manual snapshot? Found out before copying.

Every copy this app makes is a manual snapshot, and RDS counts manual snapshots against a
quota per account and region ("Quotas in Amazon RDS": Manual DB instance snapshots, Manual DB
cluster snapshots; 100 each by default, adjustable in Service Quotas). A copy beyond it is
refused with `SnapshotQuotaExceeded` "Cannot create more than N manual snapshots", which does
not clear by itself. `DescribeAccountAttributes` reports each quota's usage and maximum
(`AccountQuotas`: `ManualSnapshots`, `ManualClusterSnapshots`), so a step can say which
account's quota is full, by how much, and how to raise it, before it tries; and warn as the
quota fills (`QUOTA_WARN_FRACTION`).

    usage = quotas.manual_snapshot_usage(client, account_id, kind)
    if usage is not None:
        if usage.near_full:
            logger.warning(usage.text)
        quotas.ensure_room(usage)  # raises errors.QuotaExceeded

The look is advisory: if it is denied (the role lacks `rds:DescribeAccountAttributes`) or fails,
`manual_snapshot_usage` returns None and the copy goes ahead; RDS still refuses it if full.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from rds_xacct.aws.observability import logger
from rds_xacct.model import errors
from rds_xacct.model.constants import QUOTA_WARN_FRACTION
from rds_xacct.model.state import Kind

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient


@dataclass(frozen=True)
class Quota:
    """One RDS quota under its three names."""

    api_name: str
    """`AccountQuotaName` in DescribeAccountAttributes (RDS API reference, AccountQuota)."""
    name: str
    """Its name in Service Quotas and in "Quotas in Amazon RDS"."""
    code: str
    """Its Service Quotas quota code (service code `rds`)."""
    noun: str


MANUAL_SNAPSHOT_QUOTAS: dict[Kind, Quota] = {
    "db": Quota("ManualSnapshots", "Manual DB instance snapshots", "L-272F1212", "DB snapshot"),
    "cluster": Quota(
        "ManualClusterSnapshots", "Manual DB cluster snapshots", "L-9B510759", "DB cluster snapshot"
    ),
}
"""The quota a copy of each kind counts against."""


@dataclass(frozen=True)
class QuotaUsage:
    """How full one account's manual snapshot quota is, in one region."""

    account: str
    region: str
    kind: Kind
    name: str
    """The quota's Service Quotas name, e.g. "Manual DB instance snapshots"."""
    code: str
    used: int
    max: int
    fraction: float = field(init=False)
    """used / max (1.0 when max is 0)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "fraction", self.used / self.max if self.max > 0 else 1.0)

    @property
    def room(self) -> int:
        """How many more manual snapshots of the kind fit."""
        return max(0, self.max - self.used)

    @property
    def near_full(self) -> bool:
        """At or past the warning mark (`QUOTA_WARN_FRACTION`)."""
        return self.fraction >= QUOTA_WARN_FRACTION

    @property
    def text(self) -> str:
        """E.g. "Account 222222222222 (eu-west-1): 'Manual DB instance snapshots' 85 of 100
        used (85 %)"."""
        return (
            f"Account {self.account} ({self.region}): '{self.name}' {self.used} of {self.max} "
            f"used ({round(100 * self.fraction)} %)"
        )


def manual_snapshot_usage(client: RDSClient, account_id: str, kind: Kind) -> QuotaUsage | None:
    """The usage of the account's manual snapshot quota for `kind` ("db" or "cluster") in the
    client's region, read with DescribeAccountAttributes; None if that is denied, fails, or
    does not report the quota (the caller goes ahead: RDS still enforces the quota)."""
    quota = MANUAL_SNAPSHOT_QUOTAS[kind]
    try:
        reported = client.describe_account_attributes().get("AccountQuotas", [])
    except (ClientError, BotoCoreError) as error:
        logger.info(f"Could not read the RDS quotas of account {account_id}: {error}")
        return None
    for entry in reported:
        if entry.get("AccountQuotaName") != quota.api_name:
            continue
        used, maximum = entry.get("Used"), entry.get("Max")
        if used is None or maximum is None:
            return None
        return QuotaUsage(
            account=account_id,
            region=client.meta.region_name,
            kind=kind,
            name=quota.name,
            code=quota.code,
            used=int(used),
            max=int(maximum),
        )
    return None


def ensure_room(usage: QuotaUsage | None) -> None:
    """Raise `errors.QuotaExceeded` if one more manual snapshot would not fit (used + 1 > max);
    nothing if it fits or the usage is unknown (None)."""
    if usage is None or usage.used + 1 <= usage.max:
        return
    noun = MANUAL_SNAPSHOT_QUOTAS[usage.kind].noun
    raise errors.QuotaExceeded(
        f"Account {usage.account} has no room for another manual {noun} in {usage.region}: "
        f"its quota '{usage.name}' ({usage.code}) is full, {usage.used} of {usage.max} used. "
        f"Delete old manual {noun}s in that account and region, or raise the quota in the "
        f"Service Quotas console (Amazon RDS, '{usage.name}') or with "
        f"`aws service-quotas request-service-quota-increase --service-code rds "
        f"--quota-code {usage.code} --desired-value {max(2 * usage.max, usage.used + 1)} "
        f"--region {usage.region}` run in account {usage.account}."
    )
