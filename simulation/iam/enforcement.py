"""The simulation runs with the templates' permissions enforced.

* Every role of `template.yaml` (the roles it declares, and the ones SAM makes for a function or
  the state machine from `Policies`) is created in moto's IAM from the template's resolved
  policies; the backup account's roles and key come from `backup-account.yaml` through moto's
  CloudFormation. Each Lambda function gets the credentials of its role, as the Lambda service
  gives them (assumed from the role, whose trust policy must let `lambda.amazonaws.com` in);
  Step Functions calls Lambda with the state machine's role; EventBridge starts runs with the
  rule's role; the app's own `sts:AssumeRole` into the backup account gets that role's
  credentials, if the trust policy lets the caller in.
* moto's IAM enforcement is on (`moto.core.authorization.enable_iam_authentication`, the same
  switch as `INITIAL_NO_AUTH_ACTION_COUNT=0`): a request signed with unknown credentials or a
  wrong signature is refused by moto itself. Requests signed by one of the app's roles are then
  decided here instead of by moto's action check, which ignores `Resource` and `Condition`,
  compares a trust policy's principals as strings (an account root there admits no role of that
  account, unlike AWS), and reads no key policy. Here: every resource ARN the request touches
  (derived from its parameters, per operation: `simulation.iam.requests`) must match a
  `Resource` of an Allow statement for the action in the role's policies, with its conditions
  holding, and no Deny; `sts:AssumeRole` also needs the target role's trust policy, and a KMS
  key used for the caller by RDS (`kms:CreateGrant` and `kms:DescribeKey` through
  `rds.REGION.amazonaws.com`, RDS User Guide, "AWS KMS key management": "When RDS uses a
  customer managed key ... it acts on behalf of the user ... a user must have permissions to
  call kms:CreateGrant, kms:DescribeKey") also needs the key policy. AWS managed keys (`aws/...`) need no identity permission.
* Requests signed by anything else (the tests setting up databases, reading what happened) are
  the operator's: not enforced.
* A refusal answers AccessDenied as AWS would, and is recorded; the simulation fails the test
  with the action, the resource and the role named (`Enforcement.check`).
* Every Allow statement, action and resource pattern that allowed a request is recorded, so
  `tests/e2e/test_permissions.py` can assert that no permission of either template went unused.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock
from urllib.parse import unquote

from moto.core.authorization import ActionAuthenticatorMixin, enable_iam_authentication
from moto.core.exceptions import AccessDeniedError, JsonRESTError
from moto.iam.models import get_account_id_from, iam_backends
from moto.kms.models import kms_backends
from moto.organizations.models import organizations_backends
from moto.sts.models import sts_backends

from simulation.iam.policy import (
    Caller,
    Decision,
    Statement,
    UnsupportedCondition,
    evaluate,
    parse_policy,
)
from simulation.iam.requests import URL_CALL, RequestInfo, UnknownOperation, requests_of


# --- Who is calling ---------------------------------------------------------------------------------
@dataclass
class Role:
    """An enforced role: its ARN, the template resource it comes from, and its policies."""

    arn: str
    logical_id: str
    source: str
    used_by: list[str] = field(default_factory=list)
    """The functions (or the state machine, a rule) that run with it."""
    _statements: list[Statement] | None = None

    @property
    def account(self) -> str:
        return self.arn.split(":")[4]

    @property
    def name(self) -> str:
        return self.arn.rsplit("/", 1)[-1]

    def label(self) -> str:
        users = f", used by {', '.join(self.used_by)}" if self.used_by else ""
        return f"role {self.name} ({self.logical_id} in {self.source}{users})"

    def statements(self) -> list[Statement]:
        """The role's identity policies, read from moto's IAM (the role as deployed)."""
        if self._statements is None:
            backend = iam_backends[self.account]["aws"]
            role = backend.get_role(self.name)
            found: list[Statement] = []
            for name, document in role.policies.items():
                found += parse_policy(
                    document, holder=self.logical_id, policy=name, source=self.source
                )
            for managed in role.managed_policies.values():
                version = next(v for v in managed.versions if v.is_default)
                found += parse_policy(version.document, holder=self.logical_id, policy=managed.name)
            self._statements = found
        return self._statements


@dataclass(frozen=True)
class Violation:
    role: str
    action: str
    resource: str
    reason: str
    request: str

    def __str__(self) -> str:
        return (
            f"{self.role} may not {self.action} on {self.resource} ({self.request}): {self.reason}"
        )


def _explain(decision: Decision, what: str) -> str:
    if decision.denied_by is not None:
        return f"explicitly denied by {decision.denied_by.ref}"
    if decision.unmet:
        names = "; ".join(f"{s.ref} (Condition {json.dumps(s.conditions)})" for s in decision.unmet)
        return f"{what}: the statements for it have conditions that do not hold: {names}"
    return f"no Allow statement in {what} matches the action and this resource"


_ACCESS_KEY = re.compile(r"Credential=([^/,\s]+)/")


class Enforcement:
    """One simulation's enforced permissions: its roles, what they were refused, what they used."""

    def __init__(self) -> None:
        self.roles: dict[str, Role] = {}
        """Enforced roles by ARN."""
        self.resource_policies: dict[str, list[Statement]] = {}
        """Trust policies (role ARN) and key policies (key ARN), parsed once."""
        self.violations: list[Violation] = []
        self.used: set[tuple[str, str, int, str, str]] = set()
        """(holder, policy, statement index, action pattern, resource pattern) that allowed a
        request."""
        self.requests = 0
        """Requests decided here (by the app's roles)."""
        self._keys: dict[str, Role | None] = {}
        self.sessions: dict[str, str] = {}
        """Access key → the ARN of its assumed-role session (as AWS names the caller)."""
        self._lock = threading.Lock()

    # -- roles -----------------------------------------------------------------------------------
    def enforce(self, arn: str, logical_id: str, source: str, used_by: str = "") -> Role:
        role = self.roles.get(arn)
        if role is None:
            role = self.roles[arn] = Role(arn, logical_id, source)
        if used_by and used_by not in role.used_by:
            role.used_by.append(used_by)
        return role

    def role_of(self, headers: Any, account: str) -> Role | None:
        """The enforced role whose credentials signed a request, or None (the operator)."""
        found = _ACCESS_KEY.search(str(headers.get("Authorization", "")))
        if not found:
            return None
        key = found.group(1)
        with self._lock:
            if key in self._keys:
                return self._keys[key]
        role: Role | None = None
        for assumed in list(sts_backends[account]["aws"].assumed_roles):
            if assumed.access_key_id == key:
                role = self.roles.get(assumed.role_arn)
                if role is not None:
                    self.sessions[key] = (
                        f"arn:aws:sts::{role.account}:assumed-role/{role.name}/"
                        f"{assumed.session_name}"
                    )
                break
        with self._lock:
            self._keys[key] = role
        return role

    def trust_policy(self, role_arn: str) -> list[Statement]:
        if role_arn not in self.resource_policies:
            account, name = role_arn.split(":")[4], role_arn.rsplit("/", 1)[-1]
            role = iam_backends[account]["aws"].get_role(name)
            known = self.roles.get(role_arn)
            self.resource_policies[role_arn] = parse_policy(
                role.assume_role_policy_document,
                holder=known.logical_id if known else name,
                policy="trust",
                source=known.source if known else "",
            )
        return self.resource_policies[role_arn]

    def key_policy(self, key_arn: str, holder: str = "", source: str = "") -> list[Statement]:
        if key_arn not in self.resource_policies:
            region, account = key_arn.split(":")[3], key_arn.split(":")[4]
            key = kms_backends[account][region].describe_key(key_arn)
            self.resource_policies[key_arn] = parse_policy(
                key.policy, holder=holder or key_arn, policy="key policy", source=source
            )
        return self.resource_policies[key_arn]

    # -- deciding --------------------------------------------------------------------------------
    def decide(self, role: Role, info: RequestInfo) -> Violation | None:
        """Check every authorization the request needs; record what allowed it. Returns the
        first refusal."""
        request = f"{info.service}:{info.operation} in account {info.account}"
        try:
            needs = requests_of(info)
        except UnknownOperation as error:
            return Violation(
                role.label(),
                str(error),
                "?",
                "simulation/iam/requests.py does not know which resources this operation "
                "touches: add it there (Service Authorization Reference: its resource types)",
                request,
            )
        except KeyError as error:
            return Violation(
                role.label(), info.operation, "?", f"missing parameter {error}", request
            )
        caller = Caller(arn=role.arn, account=role.account)
        used: list[tuple[str, str, int, str, str]] = []
        for need in needs:
            context: dict[str, str | tuple[str, ...]] = {
                "aws:PrincipalArn": role.arn,
                "aws:PrincipalAccount": role.account,
                "aws:RequestedRegion": info.region,
                **organization_keys(role.account),
                **dict(need.context),
            }
            try:
                decision = evaluate(role.statements(), need.action, need.resource, context)
                if not decision.allowed:
                    return Violation(
                        role.label(),
                        need.action,
                        need.resource,
                        _explain(decision, f"the role's policies ({role.source})"),
                        request,
                    )
                used += [_key(m.statement, m.action, m.resource) for m in decision.matches]
                for kind, arn, statements in (
                    ("trust policy", need.trust, self.trust_policy if need.trust else None),
                    ("key policy", need.key_policy, self.key_policy if need.key_policy else None),
                ):
                    if statements is None:
                        continue
                    other = evaluate(statements(arn), need.action, None, context, caller)
                    if not other.allowed:
                        return Violation(
                            role.label(),
                            need.action,
                            need.resource,
                            _explain(other, f"the {kind} of {arn}"),
                            request,
                        )
                    used += [_key(m.statement, m.action, m.resource) for m in other.matches]
            except UnsupportedCondition as error:
                return Violation(
                    role.label(), need.action, need.resource, f"can't evaluate {error}", request
                )
        with self._lock:
            self.used.update(used)
            self.requests += 1
        return None

    def admit_service(self, role_arn: str, service: str) -> None:
        """A service principal (lambda.amazonaws.com, states..., events...) assumes a role for
        a resource of the role's account (aws:SourceAccount): its trust policy must let the
        service in. Raises AssertionError otherwise."""
        context = {"aws:SourceAccount": role_arn.split(":")[4]}
        decision = evaluate(
            self.trust_policy(role_arn), "sts:AssumeRole", None, context, Caller(service=service)
        )
        if not decision.allowed:
            raise AssertionError(f"The trust policy of {role_arn} does not let {service} assume it")
        with self._lock:
            self.used.update(_key(m.statement, m.action, m.resource) for m in decision.matches)

    def record(self, violation: Violation) -> None:
        with self._lock:
            self.violations.append(violation)

    def take_refusals(self) -> list[Violation]:
        """The requests refused so far, forgotten here: a test acting as an attacker expects
        them (the app's own requests must never be refused: `check`)."""
        with self._lock:
            found, self.violations = self.violations, []
        return found

    def check(self) -> None:
        """Fail (AssertionError) if any request was refused, naming each; then forget them."""
        with self._lock:
            found, self.violations = self.violations, []
        if found:
            lines = "\n".join(f"  - {v}" for v in dict.fromkeys(found))
            raise AssertionError(
                f"IAM refused {len(found)} request(s) of the app (the templates' permissions "
                f"are enforced in the simulation):\n{lines}"
            )


def _key(statement: Statement, action: str, resource: str) -> tuple[str, str, int, str, str]:
    ref = statement.ref
    return (ref.holder, ref.policy, ref.index, action, resource)


def organization_keys(account: str) -> dict[str, str | tuple[str, ...]]:
    """`aws:PrincipalOrgID` and `aws:PrincipalOrgPaths` of a principal of `account`, from
    moto's Organizations: "included in the request context only if the principal is a member
    of an organization"; a path is `o-.../r-.../ou-.../` down to the account's parent, and the
    key is multivalued (IAM User Guide, "AWS global condition context keys")."""
    for backend in list(organizations_backends.values()):
        for organizations in list(backend.values()):
            org = organizations.org
            member = next((a for a in organizations.accounts if a.id == account), None)
            if org is None or member is None:
                continue
            path = _path(organizations, member.parent_id)
            return {"aws:PrincipalOrgID": org.id, "aws:PrincipalOrgPaths": (path,)}
    return {}


def _path(organizations: Any, parent: str) -> str:
    """The organization's path down to `parent` (a root or an OU): o-x/r-x/ou-x/.../"""
    units = {unit.id: unit for unit in organizations.ou}
    chain = []
    while parent in units:
        chain.append(parent)
        parent = getattr(units[chain[-1]], "parent_id", None) or ""
    return "/".join([organizations.org.id, *reversed(chain)]) + "/"


def authorize_url_call(access_key: str, function_arn: str, auth_type: str) -> str | None:
    """A function-URL request signed by `access_key` (simulation/moto/function_urls.py),
    decided as the app's other requests: None when allowed (or not the app's role: the
    operator), else why it is refused (recorded, as any refusal)."""
    account = get_account_id_from(access_key)
    headers = {"Authorization": f"Credential={access_key}/"}
    for enforcement in _ACTIVE:
        role = enforcement.role_of(headers, account)
        if role is None:
            continue
        arn = function_arn.split(":")
        info = RequestInfo(
            service="lambda",
            operation=URL_CALL,
            params={"FunctionName": function_arn, "AuthType": auth_type},
            account=arn[4],
            region=arn[3],
        )
        violation = enforcement.decide(role, info)
        if violation is not None:
            enforcement.record(violation)
            return str(violation)
        return None
    return None


# --- The hook into moto -----------------------------------------------------------------------------
_ACTIVE: list[Enforcement] = []


def _operation(response: Any, service: str) -> str:
    if service == "lambda":
        path = str(getattr(response, "path", "") or getattr(response, "raw_path", ""))
        if path.rstrip("/").endswith("/invocations"):
            return "Invoke"
    return str(response._get_action())


def _params(response: Any, service: str) -> dict[str, Any]:
    if service == "lambda":
        found = re.search(r"/functions/([^/]+)/", str(getattr(response, "path", "")))
        return {"FunctionName": unquote(found.group(1))} if found else {}
    body = getattr(response, "body", None)
    if isinstance(body, dict):
        return body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if body and str(body).lstrip().startswith("{"):
        try:
            parsed = json.loads(body)
            if isinstance(parsed, dict):
                return parsed
        except ValueError:
            pass
    flat: dict[str, Any] = {}
    tags: dict[str, dict[str, str]] = {}
    for name, values in dict(getattr(response, "querystring", {}) or {}).items():
        value = values[0] if isinstance(values, list) and values else values
        matched = re.match(r"^Tags\.(?:member|Tag)\.(\d+)\.(Key|Value)$", name)
        if matched:
            tags.setdefault(matched.group(1), {})[matched.group(2)] = str(value)
        else:
            flat[name] = value
    if tags:
        flat["Tags"] = [tags[i] for i in sorted(tags, key=int)]
    return flat


class _JsonAccessDenied(JsonRESTError):
    code = 403

    def __init__(self, message: str) -> None:
        super().__init__("AccessDeniedException", message)


def _denied(response: Any, violation: Violation, caller: str) -> Exception:
    # AWS's answer: AccessDenied (query protocols: RDS, STS, SNS) or AccessDeniedException
    # (JSON protocols: DynamoDB, Step Functions, SSM, KMS, Lambda), "User: ... is not
    # authorized to perform: ACTION on resource: ARN ...".
    detail = f"{violation.action} on resource: {violation.resource} ({violation.reason})"
    content_type = str(response.headers.get("Content-Type", ""))
    if "json" in content_type or violation.action.startswith("lambda:"):
        return _JsonAccessDenied(f"User: {caller} is not authorized to perform: {detail}")
    return AccessDeniedError(user_arn=caller, action=detail)


def _authorize_patch() -> Callable[..., None]:
    # Replaces moto's `_authenticate_and_authorize_action` for the app's roles: moto's own checks
    # of the credentials and the signature, then `Enforcement.decide` instead of moto's action
    # check (see the module's docstring for why).
    def authorize(response: Any, iam_request_cls: type, resource: str = "*") -> None:
        account = str(response.current_account)
        role = None
        for enforcement in _ACTIVE:
            role = enforcement.role_of(response.headers, account)
            if role is not None:
                break
        if role is None:
            return  # the operator (test set-up and inspection): not enforced
        # moto's own checks of the credentials and the signature
        scope = str(response.headers.get("Authorization", "")).split("Credential=", 1)[-1]
        parts = scope.split("/")
        service, region = (parts[3], parts[2]) if len(parts) > 3 else ("", response.region)
        iam_request = iam_request_cls(
            account_id=account,
            method=response.method,
            path=response.raw_path
            + (("?" + response.uri.split("?", 1)[1]) if "?" in response.uri else ""),
            # A GET (AWS Backup's ListProtectedResources) signs an empty payload, where moto's
            # `data` would be hashed instead: its query string's parameters, or the request's
            # headers when there are none (moto.core.responses.BaseResponse.setup_class)
            data=response.data if response.method != "GET" else {},
            body=response.raw_body,
            headers=response.headers,
            action=response._get_action(),
        )
        iam_request.check_signature()
        info = RequestInfo(
            service={"monitoring": "cloudwatch"}.get(service, service),
            operation=_operation(response, service),
            params=_params(response, service),
            account=account,
            region=region,
        )
        violation = enforcement.decide(role, info)
        if violation is not None:
            enforcement.record(violation)
            key = _ACCESS_KEY.search(str(response.headers.get("Authorization", "")))
            caller = enforcement.sessions.get(key.group(1) if key else "", role.arn)
            raise _denied(response, violation, caller)

    return authorize


@contextmanager
def enforced(enforcement: Enforcement) -> Iterator[Enforcement]:
    """moto's IAM enforcement on, with the app's requests decided by `enforcement`."""
    with ExitStack() as stack:
        stack.enter_context(enable_iam_authentication())
        if not _ACTIVE:
            stack.enter_context(
                mock.patch.object(
                    ActionAuthenticatorMixin,
                    "_authenticate_and_authorize_action",
                    _authorize_patch(),
                )
            )
        _ACTIVE.append(enforcement)
        stack.callback(_ACTIVE.remove, enforcement)
        yield enforcement
