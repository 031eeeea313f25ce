"""The keeper's function URL: who asks, as AWS says, and the answer as an HTTP response.

The keeper is reached only through its function URL (`AuthType: AWS_IAM`; the cross-account role
may not invoke it directly: other/backup-account/backup-account.yaml). Lambda authenticates
each request (SigV4) and gives the function the caller in the event: "requestContext":
{"authorizer": {"iam": {"accountId", "callerId", "userArn", ...}}}, the request's body in
"body" (base64 when "isBase64Encoded"), and takes a response of "statusCode", "headers" and
"body" (Lambda Developer Guide, "Invoking Lambda function URLs": request and response payload
formats). Parsed by hand: the keeper ships the standard library and boto3 only.

The caller must be a session of this account's cross-account role, named
`<12-digit account>-...`: the role's trust policy lets a principal assume it only with a session
named after its own account (`sts:RoleSessionName` = `${aws:PrincipalAccount}-*`), and "the
role session name is also used in the ARN of the assumed role principal" (STS API Reference,
AssumeRole). That account is the one the keeper answers about (rds_xacct.keeper.requests).
Anything else (a direct Invoke's payload, another principal, a session not so named) is
refused with 403 and the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from rds_xacct.aws import function_url
from rds_xacct.keeper import requests
from rds_xacct.keeper.rules import answer
from rds_xacct.keeper.settings import KeeperSettings
from rds_xacct.model import errors
from rds_xacct.model.arns import Arn
from rds_xacct.model.constants import APP_NAME, KEEPER_REFUSED

logger = logging.getLogger(APP_NAME)

Response = dict[str, Any]

ENV_CALLER_ROLE_ARN = "CALLER_ROLE_ARN"
"""The cross-account role's ARN (the backup-account stack sets it): the only caller answered."""


def caller_account(event: Any, role_arn: str) -> tuple[str | None, str]:
    """The source account a function-URL request comes from, or None and why it is refused:
    the session of `role_arn` that signed it, named after the account that assumed the role
    (rds_xacct.aws.function_url.caller_account reads it)."""
    context = event.get("requestContext") if isinstance(event, Mapping) else None
    authorizer = context.get("authorizer") if isinstance(context, Mapping) else None
    iam = authorizer.get("iam") if isinstance(authorizer, Mapping) else None
    if not isinstance(iam, Mapping):
        return None, "not a request through the keeper's function URL signed with IAM credentials"
    source = function_url.caller_account(event, Arn.name_of(role_arn)) if role_arn else None
    if source is None:
        return None, (
            f"the caller {iam.get('userArn') or '?'} is not a session of the role {role_arn} "
            "named after the account that assumed it (<12-digit account>-...)"
        )
    return source, ""


def handle_url_event(event: Any, *, settings: KeeperSettings, role_arn: str) -> Response:
    """Answer one function-URL request: 403 when the caller is not a source account's session
    of the role (or its account is not one this account serves), else 200 with the keeper's
    answer (`refused` included). An AWS error that clears by itself is 503 with its name, any
    other error of the keeper's 500 (the asking step retries the first; nothing was deleted)."""
    source, problem = caller_account(event, role_arn)
    if source is not None and not settings.serves(source):
        source, problem = None, f"the account {source} is not one of {settings.describe_sources()}"
    if source is None:
        logger.warning("Refused a caller", extra={"reason": problem})
        return function_url.response(403, answer(KEEPER_REFUSED, "?", f"refused caller: {problem}"))
    try:
        decided = requests.handle_request(
            function_url.body(event), settings=settings, caller=source
        )
    except errors.PipelineError as error:
        status = 503 if isinstance(error, errors.RETRYABLE) else 500
        return function_url.response(
            status, {"errorType": type(error).__name__, "errorMessage": str(error)}
        )
    return function_url.response(200, decided)
