"""AWS clients and the translation of AWS errors into the app's exceptions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from rds_xacct import errors
from rds_xacct.constants import APP_NAME

if TYPE_CHECKING:
    from mypy_boto3_rds import RDSClient

# The SDK's standard retry mode retries throttling and transient errors with backoff and
# jitter; what still fails after that becomes `Throttled`, which the state machine retries.
SDK_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 6},
    user_agent_extra=APP_NAME,
    connect_timeout=5,
    read_timeout=30,
)

_NOT_FOUND = {
    "DBSnapshotNotFound",
    "DBSnapshotNotFoundFault",
    "DBClusterSnapshotNotFoundFault",
    "DBInstanceNotFound",
    "DBInstanceNotFoundFault",
    "DBClusterNotFoundFault",
}
_NOT_READY = {
    "InvalidDBSnapshotState",
    "InvalidDBSnapshotStateFault",
    "InvalidDBClusterSnapshotStateFault",
}
_EXISTS = {
    "DBSnapshotAlreadyExists",
    "DBSnapshotAlreadyExistsFault",
    "DBClusterSnapshotAlreadyExistsFault",
}
_KEY = {"KMSKeyNotAccessibleFault", "KMSKeyNotAccessible", "InvalidKMSKeyFault"}
_QUOTA = {
    "SnapshotQuotaExceeded",
    "SnapshotQuotaExceededFault",
    "SharedSnapshotQuotaExceeded",
    "SharedSnapshotQuotaExceededFault",
}
_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
    "InvalidClientTokenId",
}
_THROTTLED = {
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
}

_KINDS: tuple[tuple[set[str], type[errors.PipelineError]], ...] = (
    (_NOT_FOUND, errors.SnapshotNotFound),
    (_NOT_READY, errors.SnapshotNotReady),
    (_EXISTS, errors.CopyAlreadyExists),
    (_KEY, errors.KeyNotAccessible),
    (_QUOTA, errors.QuotaExceeded),
    (_DENIED, errors.AccessDenied),
    (_THROTTLED, errors.Throttled),
)
"""AWS error codes → the app's exception (anything else is AwsError)."""

_HINTS: dict[type[errors.PipelineError], str] = {
    errors.KeyNotAccessible: (
        "RDS could not use the KMS key. Check that the key exists and is enabled, and that its "
        "key policy lets the main account (and the backup-account role) use it for RDS: "
        "kms:Encrypt, kms:Decrypt, kms:ReEncrypt*, kms:GenerateDataKey*, kms:DescribeKey and "
        "kms:CreateGrant with kms:GrantIsForAWSResource (other/backup-account sets this up)."
    ),
    errors.QuotaExceeded: (
        "The account's manual snapshot quota is reached: delete old manual snapshots or ask "
        "for a higher 'Manual DB snapshots' quota in Service Quotas."
    ),
    errors.AccessDenied: (
        "An IAM permission is missing. Check the pipeline role in the main stack and the "
        "backup-account role's policy and trust (other/backup-account)."
    ),
}


def classify(error: ClientError, action: str) -> errors.PipelineError:
    """The app exception for an AWS error raised while doing `action`."""
    code = error.response.get("Error", {}).get("Code", "Unknown")
    message = error.response.get("Error", {}).get("Message", str(error))
    kind = next((k for codes, k in _KINDS if code in codes), errors.AwsError)
    hint = _HINTS.get(kind)
    text = f"{action} failed: {code}: {message.rstrip('. ')}"
    return kind(f"{text}. {hint}" if hint else text)


@contextmanager
def aws_call(action: str) -> Iterator[None]:
    """Run AWS calls, raising the app's exception for any AWS error."""
    try:
        yield
    except ClientError as error:
        raise classify(error, action) from error


# One loader for every session: each new session would otherwise parse the service models
# again (about 80 ms per client), once per invocation for the backup account's session.
_LOADER = botocore.loaders.create_loader()


def new_session(**credentials: str) -> boto3.Session:
    """A boto3 session (default credentials, or the ones given) sharing the model loader."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER)
    return boto3.Session(botocore_session=core, **credentials)


def rds_client(session: boto3.Session | None = None) -> RDSClient:
    """An RDS client in the main account (default credentials) or a given session."""
    return (session or new_session()).client("rds", config=SDK_CONFIG)


def assume_role_session(role_arn: str, session_name: str) -> boto3.Session:
    """A session in the backup account, through its cross-account role."""
    sts = new_session().client("sts", config=SDK_CONFIG)
    with aws_call(f"Assuming the backup-account role {role_arn}"):
        credentials = sts.assume_role(
            RoleArn=role_arn, RoleSessionName=session_name[:64], DurationSeconds=900
        )["Credentials"]
    return new_session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
