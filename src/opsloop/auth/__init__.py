"""P5: collaboration core: principals and tokens, roles and permissions, the audit log.

Approvals of model promotions live with the registry (:mod:`opsloop.registry`), which
checks them against the roles defined here. See ``docs/security.md``.
"""

from opsloop.auth.api import LocalAuth, local_actor, resolve_actor
from opsloop.auth.entities import (
    ALL_PROJECTS,
    LOCAL_ADMIN,
    ROLE_PERMISSIONS,
    Actor,
    AuditEvent,
    Permission,
    Principal,
    PrincipalKind,
    Role,
    TokenInfo,
)

__all__ = [  # noqa: RUF022 -- plain sorted() order, as tests check for packages
    "ALL_PROJECTS",
    "Actor",
    "AuditEvent",
    "LOCAL_ADMIN",
    "LocalAuth",
    "Permission",
    "Principal",
    "PrincipalKind",
    "ROLE_PERMISSIONS",
    "Role",
    "TokenInfo",
    "local_actor",
    "resolve_actor",
]
