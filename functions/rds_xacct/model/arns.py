"""ARNs, read once: the app's one parser, over botocore's (`botocore.utils.ArnParser`).

`arn:partition:service:region:account-id:resource`, where the resource of the ARNs this app
meets is `type:name` (RDS snapshots and databases, Step Functions executions and state
machines, Lambda functions, SSM parameters) or `type/name` (KMS keys, IAM roles).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from botocore.utils import ArnParser, InvalidArnException

_PARSER = ArnParser()


@dataclass(frozen=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, text: str) -> Arn:
        """Read an ARN; a text that is not one raises ValueError."""
        try:
            return cls(**_PARSER.parse_arn(text))
        except (InvalidArnException, AttributeError, TypeError) as error:
            raise ValueError(f"{text!r} is not an ARN") from error

    @classmethod
    def account_of(cls, text: str | None) -> str | None:
        """The account of an ARN, or None when the text is not an ARN."""
        try:
            return cls.parse(text or "").account
        except ValueError:
            return None

    @property
    def resource_type(self) -> str:
        """`snapshot` of `snapshot:name`, `key` of `key/id`."""
        return self.resource.replace("/", ":", 1).split(":", 1)[0]

    @property
    def resource_name(self) -> str:
        """What follows the resource type (`name` of `execution:machine:name`: the last part)."""
        return self.resource.replace("/", ":").rsplit(":", 1)[-1]

    def with_resource(self, resource: str) -> Arn:
        """The ARN of another resource of the same service, account and region."""
        return replace(self, resource=resource)

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"
