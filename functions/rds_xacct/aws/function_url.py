"""The backup account's functions that source accounts ask (the slot broker; the keeper), behind
Lambda function URLs with `AuthType: AWS_IAM`: calling one, and reading who called.

Why function URLs: a plain cross-account `Invoke` tells the function nothing about who invoked
it (the Python context has no caller), while a function URL with IAM auth verifies the SigV4
signature and passes the caller in the event: `requestContext.authorizer.iam` has `accountId`
("The AWS account ID of the caller identity") and `userArn` ("The user Amazon Resource Name
(ARN) of the caller identity"); `requestContext.accountId` is the function owner's (Lambda
Developer Guide, "Invoking Lambda function URLs", request payload format). The source accounts
reach the URL through the backup account's cross-account role, whose trust policy lets a
session be named only `<the assuming account>-...` (`sts:RoleSessionName` with
`${aws:PrincipalAccount}`), so the session's name in `userArn` is the source account, as IAM
checked it.

Standard library only: the backup account's functions ship no third-party package
(rds_xacct.keeper.bundle). Calling a URL is the main account's: rds_xacct.aws.url_calls.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any

_SESSION_ACCOUNT = re.compile(
    r"^arn:aws[a-z-]*:sts::(?P<owner>\d{12}):assumed-role/(?P<role>[\w+=,.@-]{1,64})/"
    r"(?P<account>\d{12})-[\w+=,.@-]+$"
)


def caller_account(event: Any, role_name: str) -> str | None:
    """The source account that signed this function-URL request: the 12 digits its session of
    the backup account's role `role_name` is named after. None for anything else: another
    principal, a session not named after an account, a direct invoke (no authorizer)."""
    if not isinstance(event, Mapping):
        return None
    context = event.get("requestContext")
    if not isinstance(context, Mapping):
        return None
    authorizer = context.get("authorizer")
    iam = authorizer.get("iam") if isinstance(authorizer, Mapping) else None
    user_arn = iam.get("userArn") if isinstance(iam, Mapping) else None
    match = _SESSION_ACCOUNT.match(user_arn) if isinstance(user_arn, str) else None
    if match is None or match["role"] != role_name:
        return None
    if match["owner"] != str(context.get("accountId") or ""):
        return None
    return match["account"]


def body(event: Mapping[str, Any]) -> Any:
    """The request's JSON body (function URLs may pass it base64-encoded); None if unreadable."""
    text = event.get("body") or ""
    try:
        if event.get("isBase64Encoded"):
            text = base64.b64decode(text).decode()
        return json.loads(text)
    except (ValueError, TypeError):
        return None


def response(status: int, payload: Any) -> dict[str, Any]:
    """What the function returns: Lambda turns it into the HTTP response."""
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(payload),
    }
