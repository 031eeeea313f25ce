"""CloudFormation StackSets: a service-managed stack set refuses a template that uses a macro.

moto makes a stack set of any template and deploys it to the accounts of the organizational
units it is given, running no transform. AWS refuses it: "StackSets with service-managed
permissions don't currently support the use of macros in templates. (This includes the
AWS::Include and AWS::Serverless transforms, which are macros hosted by CloudFormation.) Even if
you specify this capability for a StackSet with service-managed permissions, if you reference a
macro in your template the StackSet operation will fail" (CloudFormation API reference,
CreateStackSet, `Capabilities`). The main stack is a SAM template: rolled out to many accounts
by a service-managed stack set, it must be the processed template (docs/regions-and-accounts.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import CloudFormationBackend

from simulation.cfn_yaml import parse_cfn_yaml
from simulation.moto.wrapping import argument, wrapping

SERVICE_MANAGED = "SERVICE_MANAGED"


def _macros(template: str) -> list[str]:
    """The transforms (macros) a template's text names at its top level."""
    parsed = parse_cfn_yaml(template) if template else None
    named = parsed.get("Transform") if isinstance(parsed, dict) else None
    if named is None:
        return []
    return [str(name) for name in (named if isinstance(named, list) else [named])]


def _service_managed_refuses_macros(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_stack_set(backend: CloudFormationBackend, *args: Any, **kwargs: Any) -> Any:
        template = str(argument(args, kwargs, 1, "template") or "")
        model = argument(args, kwargs, 4, "permission_model")
        macros = _macros(template)
        if model == SERVICE_MANAGED and macros:
            raise ValidationError(
                message=(
                    "StackSets with service-managed permissions don't currently support the "
                    f"use of macros in templates (the template uses {', '.join(macros)})"
                )
            )
        return original(backend, *args, **kwargs)

    return create_stack_set


def patches() -> list[Any]:
    return [wrapping(CloudFormationBackend, "create_stack_set", _service_managed_refuses_macros)]
