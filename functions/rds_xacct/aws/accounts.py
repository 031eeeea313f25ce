"""The app's access to AWS for a run: RDS in both accounts (the backup account through its
cross-account role), the backup account's keeper, and Step Functions' word on a run."""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from botocore.config import Config

from rds_xacct.aws import quotas, url_calls
from rds_xacct.aws.clients import (
    SDK_CONFIG,
    assumed_role_client,
    assumed_role_session,
    aws_call,
    aws_code,
    default_client,
    own_account,
    rds_client,
)
from rds_xacct.aws.snapshots import SnapshotApi
from rds_xacct.model import errors
from rds_xacct.model.arns import Arn
from rds_xacct.model.constants import (
    KEEPER_DECISIONS,
    KEEPER_READ_TIMEOUT_SECONDS,
    KEEPER_TELL_TIMEOUT_SECONDS,
    SLOT_BROKER_TIMEOUT_SECONDS,
)
from rds_xacct.model.naming import role_session_name
from rds_xacct.model.settings import (
    ENV_BACKUP_KEEPER_URL,
    ENV_BACKUP_SLOT_BROKER_URL,
    ENV_STATE_MACHINE_ARN,
    ConfigurationError,
    Settings,
)
from rds_xacct.model.state import Kind


@dataclass
class Accounts:
    """RDS access in both accounts. The backup account is reached through its role, assumed
    only when a step needs it (and kept for the run's next steps on a warm Lambda)."""

    settings: Settings
    execution: str

    def main(self, kind: Kind) -> SnapshotApi:
        return SnapshotApi(rds_client(), kind)

    def _in_backup_account(
        self, service: str, config: Config = SDK_CONFIG, region: str | None = None
    ) -> Any:
        """A client of the backup account through its role, the session named after this
        account and the run, in the region the backup copies land in (or `region`)."""
        return assumed_role_client(
            self.settings.backup_role_arn,
            self._session_name(),
            service,
            config=config,
            region=region or self.settings.backup_region or None,
        )

    def backup(self, kind: Kind) -> SnapshotApi:
        """The backup account's snapshots where the backup copies land."""
        return SnapshotApi(self._in_backup_account("rds"), kind)

    def backup_quota(self, kind: Kind) -> quotas.QuotaUsage | None:
        """How full the backup account's manual snapshot quota of this kind is."""
        return quotas.manual_snapshot_usage(
            self.backup(kind).client, self.settings.backup_account_id, kind
        )

    def ask_keeper(self, action: str, kind: Kind, identifier: str) -> dict[str, Any]:
        """Ask the backup account's keeper to delete a backup copy (`KEEPER_EXPIRE` at the end
        of the retention, `KEEPER_ABANDON` for this run's unfinished copy): the main account
        may not delete there. Returns its answer (`decision`: deleted, refused, kept or gone,
        and `reason`). Throttling (429), Lambda failing to run the keeper (5xx), the keeper's
        own retryable errors and the network raise the retryable errors the state machine
        retries; a refused caller (403) is `AccessDenied`; anything else `AwsError`
        (`_keeper_error`)."""
        status, payload = self._call_keeper(action, kind, identifier, KEEPER_READ_TIMEOUT_SECONDS)
        if status != HTTPStatus.OK:
            raise _keeper_error(status, payload)
        if not isinstance(payload, dict) or payload.get("decision") not in KEEPER_DECISIONS:
            raise errors.AwsError(f"The backup account's keeper answered {payload!r}")
        return payload

    def ask_slot_broker(self, request: dict[str, Any]) -> dict[str, Any]:
        """Ask the backup account's slot broker (its function URL), signed with the backup
        role's session of this run, for the pool of copies landing there (shared by every
        source account: rds_xacct.admission.broker). Errors that clear by themselves raise
        under their own names (the state machine retries them)."""
        url = self.settings.backup_slot_broker_url
        if not url:
            raise ConfigurationError(f"{ENV_BACKUP_SLOT_BROKER_URL} is not set")
        session = assumed_role_session(
            self.settings.backup_role_arn, self._session_name(), url_calls.region_of(url)
        )
        answer = url_calls.call(
            url,
            request,
            session,
            timeout=SLOT_BROKER_TIMEOUT_SECONDS,
            who="The backup account's slot broker",
        )
        if not isinstance(answer, dict):
            raise errors.AwsError(f"The backup account's slot broker answered {answer!r}")
        return answer

    def tell_keeper(self, action: str, kind: Kind, identifier: str) -> None:
        """Tell the backup account's keeper something it needs no answer to (`KEEPER_RECORD`
        right after a copy is made): a short synchronous call (a function URL answers only
        synchronously). Raises as `ask_keeper` does; the caller carries on (the keeper's
        hourly pass records what this misses)."""
        status, payload = self._call_keeper(action, kind, identifier, KEEPER_TELL_TIMEOUT_SECONDS)
        if status != HTTPStatus.OK:
            raise _keeper_error(status, payload)

    def _call_keeper(
        self, action: str, kind: Kind, identifier: str, timeout: int
    ) -> tuple[int, Any]:
        """POST this run's request to the keeper's function URL (rds_xacct.aws.url_calls: SigV4,
        service `lambda`, the URL's region) with the cross-account role's session named after
        this account and run, which the keeper reads as the asking account. Returns the HTTP
        status and the JSON body. Sent once, waiting longer than the keeper can run: a request
        sent again while the first may still be deleting would ask twice; every failure goes
        to the state machine instead, named (`Throttled`, `NetworkError`,
        `ServiceUnavailable`, retried with backoff): the keeper's requests are safe to repeat
        (a copy it already deleted is answered `gone`)."""
        url = self.settings.backup_keeper_url
        if not url:
            raise ConfigurationError(f"{ENV_BACKUP_KEEPER_URL} is not set")
        request = {
            "action": action,
            "kind": kind,
            "snapshot": identifier,
            "execution": self.execution,
        }
        session = assumed_role_session(
            self.settings.backup_role_arn,
            self._session_name(),
            url_calls.region_of(url),
            reuse=False,
        )
        try:
            return url_calls.post(url, request, session, timeout=timeout)
        except errors.NetworkError as error:
            raise errors.NetworkError(
                f"Asking the backup account's keeper {url} to {action} {identifier}: {error}"
            ) from error

    def _session_name(self) -> str:
        """`<this account>-<the run>`: the backup role's trust policy requires its sessions to be
        named after the account assuming it (rds_xacct.model.naming.role_session_name)."""
        return role_session_name(own_account(), self.execution)


def _keeper_error(status: int, payload: Any) -> errors.PipelineError:
    """The error for a keeper's answer that is not 200 (`url_calls.error_of`)."""
    return url_calls.error_of(status, payload, "The backup account's keeper")


RUNNING = "RUNNING"


def run_still_going(execution: str | None, settings: Settings) -> bool:
    """Is the run of this name (a copy's execution tag) still running? Asks Step Functions
    (DescribeExecution); a run it no longer knows (closed runs are kept 90 days) is not."""
    if not execution or not settings.state_machine_arn:
        return False
    try:
        machine = Arn.parse(settings.state_machine_arn)
    except ValueError as error:
        raise ConfigurationError(f"{ENV_STATE_MACHINE_ARN} must be a state machine ARN") from error
    # A run's ARN: the machine's, with `execution:<machine>:<run>` for `stateMachine:<machine>`.
    execution_arn = str(machine.with_resource(f"execution:{machine.resource_id}:{execution}"))
    try:
        with aws_call(f"Asking Step Functions whether run {execution} still runs"):
            client = default_client("stepfunctions")
            described = client.describe_execution(executionArn=execution_arn)
    except errors.PipelineError as error:
        if aws_code(error) == "ExecutionDoesNotExist":
            return False
        raise
    return str(described["status"]) == RUNNING
