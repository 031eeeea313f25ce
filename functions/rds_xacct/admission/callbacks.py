"""Waking a run of another account: the slot broker (rds_xacct.admission.broker) completes a
waiting run's task token through the run's account's callback role.

Step Functions has no resource-based policies (Step Functions Developer Guide, "How Step
Functions works with IAM": "Resource-based policies: No"): only a principal of the run's own
account can complete its task token. Each main stack has a role for that alone,
`<prefix>-slot-callback-<region>` (template.yaml `SlotCallbackRole`), which trusts only a role
of the backup account named `*-slot-broker`; the broker assumes it with its own credentials
(`default_client("sts")`) and keeps the client a few minutes per role and region.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rds_xacct.aws.clients import (
    ROLE_SESSION_REUSE_SECONDS,
    ROLE_SESSION_SECONDS,
    SDK_CONFIG,
    aws_call,
    default_client,
    session_of_credentials,
)
from rds_xacct.model.arns import Arn
from rds_xacct.model.constants import MACHINE_SUFFIX, SLOT_CALLBACK_ROLE_SUFFIX

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

_STATE_MACHINE = re.compile(rf"^(?P<prefix>[a-z][a-z0-9-]{{0,19}}){MACHINE_SUFFIX}$")


def role_arn(execution_arn: str) -> str:
    """The role of the run's account that may complete its task token: named from its state
    machine (`<prefix>-copy-snapshot`) and region, as template.yaml names `SlotCallbackRole`."""
    arn = Arn.parse(execution_arn)
    match = _STATE_MACHINE.match(arn.state_machine_name)
    if match is None:
        raise ValueError(f"{execution_arn} is not a run of a rds-xacct state machine")
    name = f"{match['prefix']}{SLOT_CALLBACK_ROLE_SUFFIX}-{arn.region}"
    return f"arn:{arn.partition}:iam::{arn.account}:role/{name}"


def client(backup_account: str) -> Callable[[str], SFNClient]:
    """Step Functions in the run's account and region, through its callback role (assumed with
    the broker's own credentials: `default_client("sts")`), kept a few minutes per role and
    region as any assumed-role client is."""

    def client(execution_arn: str) -> SFNClient:
        role = role_arn(execution_arn)
        region = Arn.parse(execution_arn).region
        key = (role, region)
        now = time.monotonic()
        with _CALLBACKS_LOCK:
            kept = _CALLBACKS.get(key)
            if kept is not None and now - kept[0] < ROLE_SESSION_REUSE_SECONDS:
                reused: SFNClient = kept[1]
                return reused
        with aws_call(f"Assuming {role} to hand a waiting run its copy slot"):
            credentials = default_client("sts").assume_role(
                RoleArn=role,
                RoleSessionName=f"{backup_account}-slot-broker",
                DurationSeconds=ROLE_SESSION_SECONDS,
            )["Credentials"]
        made: SFNClient = session_of_credentials(credentials, region).client(
            "stepfunctions", config=SDK_CONFIG
        )
        with _CALLBACKS_LOCK:
            _CALLBACKS[key] = (now, made)
        return made

    return client


_CALLBACKS: dict[tuple[str, str], tuple[float, Any]] = {}
_CALLBACKS_LOCK = threading.Lock()


def forget() -> None:
    """Drop the kept callback clients (a new simulated world has new credentials)."""
    with _CALLBACKS_LOCK:
        _CALLBACKS.clear()
