"""ARNs, read once: the app's one parser, over botocore's (`botocore.utils.ArnParser`).

`arn:partition:service:region:account-id:resource`, where the resource of the ARNs this app
meets is `type:name` (RDS snapshots and databases, Step Functions executions and state
machines, Lambda functions, SSM parameters) or `type/name` (KMS keys, IAM roles), and the name
may itself hold colons or slashes (`snapshot:awsbackup:job-1`, `execution:machine:run`,
`role/path/name`): "Amazon Resource Names (ARNs)", AWS General Reference. The partition is `aws`,
`aws-cn` (China) or `aws-us-gov` (GovCloud (US)); some ARNs omit the region, the account or
both (an IAM role's has no region).

No other module of rds_xacct splits an ARN by hand (tests/unit/test_arns.py keeps it so).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from botocore.utils import ArnParser, InvalidArnException

_PARSER = ArnParser()
_TYPE_END = re.compile(r"[:/]")
"""A resource's type ends at its first colon or slash, whichever comes first."""


@dataclass(frozen=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, text: str) -> Arn:
        """Read an ARN; a text that is not one (no `arn:` prefix, fewer than six parts, or no
        partition, service or resource) raises ValueError."""
        if not isinstance(text, str) or not text.startswith("arn:"):
            raise ValueError(f"{text!r} is not an ARN")
        try:
            arn = cls(**_PARSER.parse_arn(text))
        except InvalidArnException as error:
            raise ValueError(f"{text!r} is not an ARN") from error
        if not (arn.partition and arn.service and arn.resource):
            raise ValueError(f"{text!r} is not an ARN")
        return arn

    @classmethod
    def account_of(cls, text: str | None) -> str | None:
        """The account of an ARN, or None when the text is not an ARN."""
        try:
            return cls.parse(text or "").account
        except ValueError:
            return None

    @classmethod
    def name_of(cls, text: str) -> str:
        """The last part of an ARN's resource (the name of a run, of `execution:machine:name`),
        or the text itself when it is not an ARN (a run's name given as is)."""
        try:
            return cls.parse(text).resource_name
        except ValueError:
            return text

    @property
    def resource_type(self) -> str:
        """`snapshot` of `snapshot:name`, `key` of `key/id` (the whole resource when it has no
        type, as an SNS topic's)."""
        return _TYPE_END.split(self.resource, maxsplit=1)[0]

    @property
    def resource_id(self) -> str:
        """All that follows the resource type: `awsbackup:job-1` of `snapshot:awsbackup:job-1`,
        `path/name` of `role/path/name`; empty when the resource has no type."""
        parts = _TYPE_END.split(self.resource, maxsplit=1)
        return parts[1] if len(parts) == 2 else ""

    def typed(self, resource_type: str, separator: str = ":") -> bool:
        """Is the resource `resource_type` followed by `separator` (`snapshot:` of an RDS
        snapshot, `key/` of a KMS key)?"""
        return self.resource.startswith(f"{resource_type}{separator}")

    @property
    def resource_name(self) -> str:
        """What follows the resource type (`name` of `execution:machine:name`: the last part)."""
        return self.resource.replace("/", ":").rsplit(":", 1)[-1]

    @property
    def state_machine_name(self) -> str:
        """The state machine of a run's ARN (`machine` of `execution:machine:name`); empty for
        any other resource."""
        if not self.typed("execution"):
            return ""
        return self.resource_id.rsplit(":", 1)[0]

    def with_resource(self, resource: str) -> Arn:
        """The ARN of another resource of the same service, account and region."""
        return replace(self, resource=resource)

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"
