"""AWS clients and the translation of AWS errors into the app's exceptions."""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from rds_xacct.model import error_table, errors
from rds_xacct.model.constants import APP_NAME

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


def classify(error: ClientError, action: str) -> errors.PipelineError:
    """The app exception for an AWS error raised while doing `action`: the error table's row for
    its code (`error_table.for_aws_error`), with the row's words for the operator."""
    code = error.response.get("Error", {}).get("Code", "Unknown")
    message = error.response.get("Error", {}).get("Message", str(error))
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    row = error_table.for_aws_error(code, message, status)
    text = f"{action} failed: {code}: {message.rstrip('. ')}"
    return errors.exception(row.name)(f"{text}. {row.detail}" if row.detail else text)


NETWORK_ERRORS: tuple[type[Exception], ...] = (BotocoreConnectionError, HTTPClientError)
"""What botocore raises when AWS could not be reached or its answer never came: the bases of
EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError, SSLError (ConnectionError)
and of ReadTimeoutError, ConnectionClosedError, ResponseStreamingError (HTTPClientError), in
botocore/exceptions.py. They are not ClientError (no answer from AWS); botocore's standard retry
mode retries exactly these as transient (retries/standard.py, TransientRetryableChecker:
`_TRANSIENT_EXCEPTION_CLS = (ConnectionError, HTTPClientError)`), so what reaches the app has
outlasted the SDK's retries."""


def network_error(error: Exception, action: str) -> errors.NetworkError:
    """The app exception for a network failure (one of NETWORK_ERRORS) while doing `action`."""
    return errors.NetworkError(f"{action} failed: {type(error).__name__}: {error}")


def aws_code(error: BaseException) -> str | None:
    """The AWS error code behind an app exception raised by `aws_call` (or a ClientError), if
    any: what a caller that expects one code (`ConditionalCheckFailedException`, ...) reads."""
    cause = error if isinstance(error, ClientError) else error.__cause__
    if isinstance(cause, ClientError):
        return str(cause.response.get("Error", {}).get("Code", ""))
    return None


@contextmanager
def aws_call(action: str) -> Iterator[None]:
    """Run AWS calls, raising the app's exception for any AWS error or network failure."""
    try:
        yield
    except ClientError as error:
        raise classify(error, action) from error
    except NETWORK_ERRORS as error:
        raise network_error(error, action) from error


# One loader for every session: each new session would otherwise parse the service models
# again (about 80 ms per client), once per invocation for the backup account's session.
_LOADER = botocore.loaders.create_loader()


def new_session(**credentials: str) -> boto3.Session:
    """A boto3 session (default credentials, or the ones given) sharing the model loader."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER)
    return boto3.Session(botocore_session=core, **credentials)


def session_of_credentials(credentials: Any, region: str | None = None) -> boto3.Session:
    """A session of temporary credentials as STS AssumeRole answers them (`Credentials`), in
    `region` (None: the environment's)."""
    return new_session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        **({"region_name": region} if region else {}),
    )


_DEFAULT_CLIENTS: dict[tuple[str, ...], Any] = {}
_DEFAULT_CLIENTS_LOCK = threading.Lock()


def default_client(service: str) -> Any:
    """A client of the function's own account (default credentials), made once per process and
    reused: clients are thread-safe, and making one costs more than most calls through it
    (about 20 ms). Keyed by the credentials and region in the environment, so a new
    environment gets new clients."""
    key = (
        service,
        os.environ.get("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", "")),
        os.environ.get("AWS_ACCESS_KEY_ID", ""),
    )
    with _DEFAULT_CLIENTS_LOCK:
        if key not in _DEFAULT_CLIENTS:
            _DEFAULT_CLIENTS[key] = new_session().client(service, config=SDK_CONFIG)  # type: ignore[call-overload]
        return _DEFAULT_CLIENTS[key]


def forget_clients() -> None:
    """Drop every kept client (tests start each simulated world with none)."""
    with _DEFAULT_CLIENTS_LOCK:
        _DEFAULT_CLIENTS.clear()
        _ROLE_CLIENTS.clear()
        _ROLE_SESSIONS.clear()


def rds_client(session: boto3.Session | None = None) -> RDSClient:
    """An RDS client in the main account (default credentials) or a given session."""
    if session is None:
        client: RDSClient = default_client("rds")
        return client
    return session.client("rds", config=SDK_CONFIG)


ROLE_SESSION_SECONDS = 900
"""How long assumed-role credentials last (the shortest STS allows)."""
ROLE_SESSION_REUSE_SECONDS = 600
"""A warm Lambda reuses a run's backup-account client for this long (the run's next look, its
next step), then assumes the role again: one STS call and one client less per step."""
_ROLE_CLIENTS: OrderedDict[tuple[str, str, str, Config, str], tuple[float, Any]] = OrderedDict()
_ROLE_SESSIONS: OrderedDict[tuple[str, str, str], tuple[float, Any]] = OrderedDict()
_ROLE_CLIENTS_KEPT = 32


def own_account() -> str:
    """The account of the function's own credentials (STS GetCallerIdentity, which needs no
    permission: STS API Reference), asked once per credentials: what IAM knows the caller's
    requests by as `aws:PrincipalAccount`, which the backup role's trust policy requires its
    sessions to be named after (rds_xacct.model.naming.role_session_name)."""
    key = ("sts:account", os.environ.get("AWS_ACCESS_KEY_ID", ""))
    with _DEFAULT_CLIENTS_LOCK:
        if key in _DEFAULT_CLIENTS:
            return str(_DEFAULT_CLIENTS[key])
    with aws_call("Asking STS which account this is"):
        account = str(default_client("sts").get_caller_identity()["Account"])
    with _DEFAULT_CLIENTS_LOCK:
        _DEFAULT_CLIENTS[key] = account
    return account


def assumed_role_session(
    role_arn: str, session_name: str, region: str | None = None, *, reuse: bool = True
) -> Any:
    """A boto3 session in the backup account, through its cross-account role, in `region` (None:
    the function's own); the session name names the account and the run (CloudTrail shows which
    run did what there). Kept ROLE_SESSION_REUSE_SECONDS for the run's next steps on a warm
    Lambda; `reuse` False: assumed afresh and not kept (a call made once in a step, hours or days
    after the run's last: the keeper's)."""
    key = (role_arn, session_name[:64], region or "")
    now = time.monotonic()
    with _DEFAULT_CLIENTS_LOCK:
        kept = _ROLE_SESSIONS.get(key) if reuse else None
        if kept is not None and now - kept[0] < ROLE_SESSION_REUSE_SECONDS:
            return kept[1]
    sts = default_client("sts")
    with aws_call(f"Assuming the backup-account role {role_arn}"):
        credentials = sts.assume_role(
            RoleArn=role_arn, RoleSessionName=key[1], DurationSeconds=ROLE_SESSION_SECONDS
        )["Credentials"]
    session = session_of_credentials(credentials, region)
    if reuse:
        with _DEFAULT_CLIENTS_LOCK:
            _ROLE_SESSIONS[key] = (now, session)
            while len(_ROLE_SESSIONS) > _ROLE_CLIENTS_KEPT:
                _ROLE_SESSIONS.popitem(last=False)
    return session


def assumed_role_client(
    role_arn: str,
    session_name: str,
    service: str,
    config: Config = SDK_CONFIG,
    region: str | None = None,
) -> Any:
    """A client of `assumed_role_session`, kept as long as its session."""
    key = (role_arn, session_name[:64], service, config, region or "")
    now = time.monotonic()
    with _DEFAULT_CLIENTS_LOCK:
        kept = _ROLE_CLIENTS.get(key)
        if kept is not None and now - kept[0] < ROLE_SESSION_REUSE_SECONDS:
            return kept[1]
    session = assumed_role_session(role_arn, session_name, region)
    client = session.client(service, config=config)
    with _DEFAULT_CLIENTS_LOCK:
        _ROLE_CLIENTS[key] = (now, client)
        while len(_ROLE_CLIENTS) > _ROLE_CLIENTS_KEPT:
            _ROLE_CLIENTS.popitem(last=False)
    return client
