"""Calling the backup account's function URLs (its slot broker, its keeper) from the main
account: a POST signed with SigV4 (service `lambda`) with the backup account's cross-account
role, as a function URL with `AuthType: AWS_IAM` requires (Lambda Developer Guide, "Control
access to Lambda function URLs"; the signing is botocore's own, `SigV4Auth`)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from rds_xacct.model import errors

_URL = re.compile(r"^https://[a-z0-9]+\.lambda-url\.(?P<region>[a-z0-9-]+)\.[a-z0-9.-]+/?$")


def region_of(url: str) -> str:
    """The region of a function URL (`https://<id>.lambda-url.<region>.on.aws/`)."""
    match = _URL.match(url)
    if match is None:
        raise errors.AwsError(f"{url} is not a Lambda function URL")
    return match["region"]


def post(url: str, payload: Mapping[str, Any], session: Any, *, timeout: float) -> tuple[int, Any]:
    """POST `payload` to the function URL, signed with `session`'s credentials, sent once (the
    `requests` library retries nothing by itself); the HTTP status and the answer's JSON (None
    when it is not JSON). A failure to reach it raises `NetworkError` (retried by the state
    machine)."""
    import requests  # noqa: PLC0415 - only a step that asks the backup account pays its import

    data = json.dumps(payload).encode()
    signed = AWSRequest(
        method="POST", url=url, data=data, headers={"content-type": "application/json"}
    )
    credentials = session.get_credentials().get_frozen_credentials()
    SigV4Auth(credentials, "lambda", region_of(url)).add_auth(signed)
    try:
        answer = requests.post(url, data=data, headers=dict(signed.headers), timeout=timeout)
    except requests.RequestException as error:
        raise errors.NetworkError(
            f"Calling {url} failed: {type(error).__name__}: {error}"
        ) from error
    try:
        return answer.status_code, answer.json()
    except ValueError:
        return answer.status_code, None


def error_of(status: int, payload: Any, who: str) -> errors.PipelineError:
    """The error for an answer of a backup-account function (`who`: its keeper, its slot
    broker) that is not 200. 429 (Lambda throttled the function) is `Throttled`. A 5xx is
    retried: the function's own retryable error by its name, Lambda failing to run it (Lambda
    Developer Guide, "Invoking Lambda function URLs") `ServiceUnavailable`; but an error the
    function names that does not clear by itself (its AccessDenied, its table gone) is
    `AwsError` naming it. 403 (Lambda refused the signature or the permission, or the function
    refused the caller) is `AccessDenied`; any other status `AwsError`."""
    body = payload if isinstance(payload, dict) else {}
    text = str(body.get("reason") or body.get("errorMessage") or body.get("message") or payload)[
        :500
    ]
    name = str(body.get("errorType", ""))
    if status == HTTPStatus.TOO_MANY_REQUESTS:
        return errors.Throttled(f"{who} is throttled (429): {text}")
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        retryable = {cls.__name__: cls for cls in errors.RETRYABLE}
        if name in retryable:
            return retryable[name](f"{who}: {text}")
        if name:
            return errors.AwsError(f"{who} failed ({name}): {text}")
        return errors.ServiceUnavailable(f"{who} failed ({status}): {text}")
    if status == HTTPStatus.FORBIDDEN:
        return errors.AccessDenied(f"{who} refused the call (403): {text}")
    return errors.AwsError(f"{who} answered {status}: {text}")


def call(url: str, payload: Mapping[str, Any], session: Any, *, timeout: float, who: str) -> Any:
    """`post`, the answer's JSON returned when it is a 200, else raised as `error_of`."""
    status, answer = post(url, payload, session, timeout=timeout)
    if status != HTTPStatus.OK:
        raise error_of(status, answer, who)
    if answer is None:
        raise errors.AwsError(f"{who} answered, not JSON")
    return answer
