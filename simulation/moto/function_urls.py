"""Lambda function URLs, served: moto makes a function's URL config (CreateFunctionUrlConfig) but
nothing answers at the URL, https://<url-id>.lambda-url.<region>.on.aws/.

What AWS does, and so what this does (Lambda Developer Guide, "Invoking Lambda function URLs"
and "Control access to Lambda function URLs"):
* with `AuthType: AWS_IAM` every request must be signed with SigV4 (service `lambda`, the URL's
  region): no signature, an unknown access key or a wrong signature is refused with 403;
* the signer needs `lambda:InvokeFunctionUrl` and, for URLs made since October 2025,
  `lambda:InvokeFunction` too, which a policy can keep to URL calls with
  `lambda:InvokedViaFunctionUrl`: decided by the simulation's IAM enforcement
  (`simulation.iam.enforcement.authorize_url_call`), refused with 403;
* the function gets the request as an event of payload format 2.0: `rawPath`, `headers`,
  `body` (base64 when `isBase64Encoded`), `requestContext` with `http.method` and, for
  AWS_IAM, `authorizer.iam`: `accessKey`, `accountId` (the caller's), `callerId`,
  `userArn` (for an assumed role, its session: arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION),
  `userId`, `principalOrgId`;
* its result is the response: `statusCode`, `headers`, `body`; a result without `statusCode`
  is a 200 whose body is the result as JSON; a function that fails gives 502.

The requests come through the `requests` library, which moto's own `responses` mock intercepts
(moto.core.models.responses_mock, started by `mock_aws`): the URL is served by a callback
registered there. A `responses` mock started later (the simulation's Slack webhook) hands these
requests on to moto's (`passed_on`).
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import responses
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto.awslambda_simple.models import lambda_simple_backends
from moto.core.models import responses_mock
from moto.iam.models import get_account_id_from
from moto.sts.models import sts_backends

from simulation.iam.enforcement import authorize_url_call

FUNCTION_URL = re.compile(r"^https://([a-z0-9]+)\.lambda-url\.([a-z0-9-]+)\.on\.aws(/[^?]*)?")
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
_SIGNED_HEADERS = re.compile(r"SignedHeaders=([^,\s]+)")
_SIGNATURE = re.compile(r"Signature=([0-9a-f]+)")
_METHODS = (responses.GET, responses.POST, responses.PUT, responses.PATCH, responses.DELETE)

Reply = tuple[int, dict[str, str], str]


def _function_of(url_id: str, region: str) -> Any | None:
    """The function whose URL has this id, in any account (moto's LambdaFunction)."""
    for account in list(lambda_simple_backends.keys()):
        for function in lambda_simple_backends[account][region].list_functions():
            config = function.url_config
            if config is not None and f"//{url_id}.lambda-url." in config.url:
                return function
    return None


def _forbidden(message: str) -> Reply:
    return 403, {"content-type": "application/json"}, json.dumps({"Message": message})


def _assumed_role(access_key: str) -> Any | None:
    """moto's record of the assumed-role session whose credentials include `access_key`."""
    account = get_account_id_from(access_key)
    return sts_backends[account]["aws"].get_assumed_role_from_access_key(access_key)


def _signature_holds(request: Any, session: Any, region: str) -> bool:
    """Does the request's SigV4 signature verify with the session's secret key? (Signature
    Version 4: the canonical request of the signed headers, the string to sign at the
    request's X-Amz-Date, the signature from the secret key.)"""
    authorization = str(request.headers.get("Authorization", ""))
    signed = _SIGNED_HEADERS.search(authorization)
    given = _SIGNATURE.search(authorization)
    moment = request.headers.get("X-Amz-Date")
    if signed is None or given is None or moment is None:
        return False
    names = signed.group(1).split(";")
    headers = {name: request.headers[name] for name in names if name in request.headers}
    body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
    remade = AWSRequest(method=request.method, url=request.url, data=body, headers=headers)
    remade.context["timestamp"] = moment
    credentials = Credentials(
        session.access_key_id, session.secret_access_key, session.session_token
    )
    auth = SigV4Auth(credentials, "lambda", region)
    canonical = auth.canonical_request(remade)
    signature = auth.signature(auth.string_to_sign(remade, canonical), remade)
    return hmac.compare_digest(signature, given.group(1))


def _event(request: Any, session: Any, function: Any, path: str) -> dict[str, Any]:
    """The function-URL event (payload format 2.0) of a request signed by `session`."""
    body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    caller_account = session.account_id
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {name.lower(): str(value) for name, value in request.headers.items()},
        "requestContext": {
            "accountId": function.account_id,
            "apiId": request.url.split("//", 1)[1].split(".", 1)[0],
            "authorizer": {
                "iam": {
                    "accessKey": session.access_key_id,
                    "accountId": caller_account,
                    "callerId": session.user_id,
                    "cognitoIdentity": None,
                    "principalOrgId": None,
                    "userArn": session.arn,
                    "userId": session.user_id,
                }
            },
            "domainName": request.url.split("//", 1)[1].split("/", 1)[0],
            "http": {"method": request.method, "path": path, "protocol": "HTTP/1.1"},
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
        },
        "body": base64.b64encode(body).decode() if encoded else text,
        "isBase64Encoded": encoded,
    }


def _reply(result: bytes, failed: bool) -> Reply:
    """The function's result as the URL's response."""
    if failed:
        return 502, {"content-type": "application/json"}, json.dumps({"Message": "Bad Gateway"})
    answer = json.loads(result or b"null")
    if not isinstance(answer, dict) or "statusCode" not in answer:
        return 200, {"content-type": "application/json"}, json.dumps(answer)
    body = str(answer.get("body") or "")
    if answer.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    headers = {str(k): str(v) for k, v in dict(answer.get("headers") or {}).items()}
    return int(answer["statusCode"]), headers, body


def serve(request: Any) -> Reply:
    """Answer one request to a function URL, as Lambda does for `AuthType: AWS_IAM`."""
    matched = FUNCTION_URL.match(str(request.url))
    if matched is None:
        return 404, {}, ""
    url_id, region, path = matched.group(1), matched.group(2), matched.group(3) or "/"
    function = _function_of(url_id, region)
    if function is None:
        return 404, {"content-type": "application/json"}, json.dumps({"Message": "Not Found"})
    key = _CREDENTIAL.search(str(request.headers.get("Authorization", "")))
    session = _assumed_role(key.group(1)) if key else None
    if session is None or not _signature_holds(request, session, region):
        return _forbidden("Forbidden")
    auth_type = str(function.url_config.config.get("AuthType", "AWS_IAM"))
    refused = authorize_url_call(session.access_key_id, function.function_arn, auth_type)
    if refused is not None:
        return _forbidden(f"Forbidden: {refused}")
    backend = lambda_simple_backends[function.account_id][region]
    response_headers: dict[str, str] = {}
    result = backend.invoke(
        function.function_arn,
        None,
        json.dumps(_event(request, session, function, path)),
        {},
        response_headers,
    )
    body = result.encode() if isinstance(result, str) else (result or b"")
    return _reply(body, "x-amz-function-error" in response_headers)


@contextmanager
def serving() -> Iterator[None]:
    """Function URLs answer (a callback on moto's `responses` mock) for the duration."""
    callbacks = [
        responses.CallbackResponse(method=method, url=FUNCTION_URL, callback=serve)
        for method in _METHODS
    ]
    for callback in callbacks:
        responses_mock.add(callback)
    try:
        yield
    finally:
        for callback in callbacks:
            responses_mock.remove(callback)


def passed_on(mock: responses.RequestsMock) -> None:
    """Let a `responses` mock started after moto's hand function-URL requests on to moto's
    (each mock started replaces the one before it, and answers what it does not know with a
    connection error)."""
    mock.add_passthru(FUNCTION_URL)


def moto_send() -> Any:
    """What a later `responses` mock passes requests on to: moto's mock (its `real_adapter_send`)."""
    return responses_mock.unbound_on_send()


__all__ = ["FUNCTION_URL", "moto_send", "passed_on", "serve", "serving"]
