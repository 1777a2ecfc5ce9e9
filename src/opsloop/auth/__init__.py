"""P5: collaboration core: principals and tokens, roles and permissions, the audit log.

Approvals of model promotions live with the registry (:mod:`opsloop.registry`), which
checks them against the roles defined here. See ``docs/security.md``. Importing it is
cheap: the database-backed API (:class:`LocalAuth`) loads on first use.
"""

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from opsloop.auth.api import LocalAuth, local_actor, resolve_actor

_LAZY = {"LocalAuth", "local_actor", "resolve_actor"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from opsloop.auth import api

        return getattr(api, name)
    raise AttributeError(f"module 'opsloop.auth' has no attribute {name!r}")
