"""Calling the backup account's function URLs (its slot broker, its keeper) from the main
account: a POST signed with SigV4 (service `lambda`) with the backup account's cross-account
role, as a function URL with `AuthType: AWS_IAM` requires (Lambda Developer Guide, "Control
access to Lambda function URLs"; the signing is botocore's own, `SigV4Auth`)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import requests
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


def call(url: str, payload: Mapping[str, Any], session: Any, *, timeout: float) -> Any:
    """`post`, the answer's JSON returned when it is a 200. HTTP 429 raises `Throttled`, 5xx
    `ServiceUnavailable` (both retried by the state machine); any other status `AwsError` with
    the answer (a 403 is IAM refusing the role, or the function refusing the caller)."""
    status, answer = post(url, payload, session, timeout=timeout)
    text = json.dumps(answer)[:500]
    if status == 429:
        raise errors.Throttled(f"{url} answered 429: {text}")
    if status >= 500:
        raise errors.ServiceUnavailable(f"{url} answered {status}: {text}")
    if status != 200:
        raise errors.AwsError(f"{url} answered {status}: {text}")
    if answer is None:
        raise errors.AwsError(f"{url} answered, not JSON")
    return answer
