"""The templates' IAM permissions, enforced in every simulated run (moto checks actions only).

`policy` evaluates IAM and key policies as AWS does; `requests` says which resources each request
of the app touches; `enforcement` decides each request of the app's roles in place of moto's
check; `roles` creates both templates' roles in moto's IAM and gives out their credentials.
"""

from simulation.iam.enforcement import Enforcement, Role, Violation, enforced
from simulation.iam.requests import Need, RequestInfo, UnknownOperation, requests_of
from simulation.iam.roles import (
    BACKUP_SOURCE,
    MAIN_SOURCE,
    Credentials,
    NotSimulated,
    Permission,
    RoleSpec,
    declared_permissions,
    deploy_main_roles,
    enforce_stack,
    main_template_roles,
    operator_session,
    planned_output,
    service_credentials,
    template_attributes,
    used_permissions,
)

__all__ = [
    "BACKUP_SOURCE",
    "MAIN_SOURCE",
    "Credentials",
    "Enforcement",
    "Need",
    "NotSimulated",
    "Permission",
    "RequestInfo",
    "Role",
    "RoleSpec",
    "UnknownOperation",
    "Violation",
    "declared_permissions",
    "deploy_main_roles",
    "enforce_stack",
    "enforced",
    "main_template_roles",
    "operator_session",
    "planned_output",
    "requests_of",
    "service_credentials",
    "template_attributes",
    "used_permissions",
]
