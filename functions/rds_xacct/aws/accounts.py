"""The app's access to AWS for a run: RDS in both accounts (the backup account through its
cross-account role), the backup account's keeper, and Step Functions' word on a run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.config import Config

from rds_xacct.aws import quotas, url_calls
from rds_xacct.aws.clients import (
    KEEPER_CONFIG,
    SDK_CONFIG,
    assumed_role_client,
    assumed_role_session,
    aws_call,
    aws_code,
    default_client,
    rds_client,
)
from rds_xacct.aws.snapshots import SnapshotApi
from rds_xacct.model import errors
from rds_xacct.model.arns import Arn
from rds_xacct.model.constants import KEEPER_DECISIONS, SLOT_BROKER_TIMEOUT_SECONDS
from rds_xacct.model.naming import role_session_name
from rds_xacct.model.settings import (
    ENV_BACKUP_KEEPER_ARN,
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
        """A client of the backup account through its role, the session named after the run,
        in the region the backup copies land in (or `region`)."""
        return assumed_role_client(
            self.settings.backup_role_arn,
            role_session_name(self.execution),
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
        and `reason`). An error that clears by itself, raised by the keeper, is raised here
        under its own name (the state machine retries it); any other is `AwsError`."""
        arn, request = self._keeper_request(action, kind, identifier)
        client = self._in_backup_account("lambda", KEEPER_CONFIG, Arn.parse(arn).region)
        with aws_call(f"Asking the backup account's keeper {arn} to {action} {identifier}"):
            response = client.invoke(FunctionName=arn, Payload=request)
        payload = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            name = str((payload or {}).get("errorType", "Unknown"))
            text = str((payload or {}).get("errorMessage", ""))
            retryable = {cls.__name__: cls for cls in errors.RETRYABLE}
            if name in retryable:
                raise retryable[name](f"The backup account's keeper: {text}")
            if _died(name, text):
                raise errors.ServiceUnavailable(
                    f"The backup account's keeper died before it answered ({name}): {text}"
                )
            raise errors.AwsError(f"The backup account's keeper failed ({name}): {text}")
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
            self.settings.backup_role_arn,
            role_session_name(self.execution),
            url_calls.region_of(url),
        )
        answer = url_calls.call(url, request, session, timeout=SLOT_BROKER_TIMEOUT_SECONDS)
        if not isinstance(answer, dict):
            raise errors.AwsError(f"The backup account's slot broker answered {answer!r}")
        return answer

    def tell_keeper(self, action: str, kind: Kind, identifier: str) -> None:
        """Ask the backup account's keeper without waiting for its answer (`KEEPER_RECORD`
        right after a copy is made): an asynchronous invoke, which Lambda queues and retries
        by itself (two more attempts on a function error, up to 6 hours when throttled:
        Lambda Developer Guide, "How Lambda handles errors and retries with asynchronous
        invocation"). The keeper answering late, or never, delays nothing here."""
        arn, request = self._keeper_request(action, kind, identifier)
        client = self._in_backup_account("lambda", region=Arn.parse(arn).region)
        with aws_call(f"Telling the backup account's keeper {arn} to {action} {identifier}"):
            client.invoke(FunctionName=arn, InvocationType="Event", Payload=request)

    def _keeper_request(self, action: str, kind: Kind, identifier: str) -> tuple[str, bytes]:
        """The keeper's ARN and this run's request to it, as the keeper reads it."""
        arn = self.settings.backup_keeper_arn
        if not arn:
            raise ConfigurationError(f"{ENV_BACKUP_KEEPER_ARN} is not set")
        request = {
            "action": action,
            "kind": kind,
            "snapshot": identifier,
            "execution": self.execution,
        }
        return arn, json.dumps(request).encode()


def _died(error_type: str, message: str) -> bool:
    """Did the keeper's function die rather than raise? Lambda reports a timeout as
    `Sandbox.Timedout` ("Task timed out after N seconds"; older runtimes give no type, only that
    message) and a runtime that exited (out of memory: "signal: killed") as `Runtime.ExitError`
    or `Runtime.OutOfMemory` (Lambda Developer Guide, "Troubleshoot invocation issues"; Invoke
    API, `FunctionError`: errors the runtime did not handle, out of memory and timeouts). Every
    request to the keeper is safe to send again: the step is retried."""
    return error_type in _DIED or "Task timed out after" in message


_DIED = {"Sandbox.Timedout", "Runtime.ExitError", "Runtime.OutOfMemory"}


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
