"""Principals, roles, permissions and audit events, as users see them.

The roles are those of the reference MLOps architecture (R1-R7 of Kreuzberger et al.),
plus ``viewer`` and ``admin``. Each maps to a fixed set of permissions; a principal holds
roles per project (or on every project, ``*``). The table is in ``docs/security.md``.

Example:
    >>> p = Principal(name="ada", kind="user", roles={"credit": ["data-scientist"]})
    >>> p.can(Permission.MODELS_REGISTER, "credit"), p.can(Permission.MODELS_APPROVE, "credit")
    (True, False)
    >>> p.can(Permission.VIEW, "fraud")
    False
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = [
    "ALL_PROJECTS",
    "LOCAL_ADMIN",
    "ROLE_PERMISSIONS",
    "Actor",
    "AuditEvent",
    "Permission",
    "Principal",
    "PrincipalKind",
    "Role",
    "TokenInfo",
]

ALL_PROJECTS = "*"


class Permission(enum.StrEnum):
    """What a role allows on a project."""

    VIEW = "view"
    RUNS_WRITE = "runs.write"
    DATASETS_WRITE = "datasets.write"
    FEATURES_WRITE = "features.write"
    PIPELINES_RUN = "pipelines.run"
    MODELS_REGISTER = "models.register"
    MODELS_PROPOSE = "models.propose"
    MODELS_APPROVE = "models.approve"
    MODELS_DEPLOY = "models.deploy"
    MODELS_ADMIN = "models.admin"
    COMMENT = "comment"
    AUDIT_READ = "audit.read"
    USERS_MANAGE = "users.manage"


class Role(enum.StrEnum):
    """The reference roles. Values are what the CLI and API accept."""

    VIEWER = "viewer"
    BUSINESS = "business"  # R1 business stakeholder
    ARCHITECT = "architect"  # R2 solution architect
    DATA_SCIENTIST = "data-scientist"  # R3
    DATA_ENGINEER = "data-engineer"  # R4
    SOFTWARE_ENGINEER = "software-engineer"  # R5
    DEVOPS = "devops"  # R6 DevOps engineer
    ML_ENGINEER = "ml-engineer"  # R7 ML / MLOps engineer
    ADMIN = "admin"


P = Permission
ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({P.VIEW}),
    Role.BUSINESS: frozenset({P.VIEW, P.COMMENT, P.MODELS_APPROVE}),
    Role.ARCHITECT: frozenset({P.VIEW, P.COMMENT, P.AUDIT_READ}),
    Role.DATA_SCIENTIST: frozenset({P.VIEW, P.COMMENT, P.RUNS_WRITE, P.DATASETS_WRITE,
                                    P.PIPELINES_RUN, P.MODELS_REGISTER, P.MODELS_PROPOSE}),
    Role.DATA_ENGINEER: frozenset({P.VIEW, P.COMMENT, P.RUNS_WRITE, P.DATASETS_WRITE,
                                   P.FEATURES_WRITE, P.PIPELINES_RUN}),
    Role.SOFTWARE_ENGINEER: frozenset({P.VIEW, P.COMMENT, P.RUNS_WRITE, P.PIPELINES_RUN}),
    Role.DEVOPS: frozenset({P.VIEW, P.COMMENT, P.PIPELINES_RUN, P.MODELS_DEPLOY,
                            P.AUDIT_READ}),
    Role.ML_ENGINEER: frozenset({P.VIEW, P.COMMENT, P.RUNS_WRITE, P.DATASETS_WRITE,
                                 P.FEATURES_WRITE, P.PIPELINES_RUN, P.MODELS_REGISTER,
                                 P.MODELS_PROPOSE, P.MODELS_APPROVE, P.MODELS_DEPLOY,
                                 P.MODELS_ADMIN, P.AUDIT_READ}),
    Role.ADMIN: frozenset(Permission),
}
del P


class PrincipalKind(enum.StrEnum):
    USER = "user"
    SERVICE = "service"


class _Entity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Principal(_Entity):
    """A user or service account with its roles per project.

    Attributes:
        roles: project name (or ``*``) to the roles held there.
        authenticated: False for the implicit local admin when auth is off.
    """

    id: int | None = None
    name: str
    kind: PrincipalKind = PrincipalKind.USER
    display_name: str = ""
    email: str = ""
    disabled: bool = False
    roles: dict[str, list[Role]] = {}
    created_at: int = 0
    created_by: str = ""
    authenticated: bool = True

    def roles_on(self, project: str | None) -> set[Role]:
        """Roles held on ``project`` (with ``*`` bindings); all bindings when ``None``."""
        if project is None:
            return {r for rs in self.roles.values() for r in rs}
        return {*self.roles.get(ALL_PROJECTS, ()), *self.roles.get(project, ())}

    def can(self, permission: Permission, project: str | None) -> bool:
        """True if a role on ``project`` (or on every project) grants ``permission``."""
        return any(permission in ROLE_PERMISSIONS[r] for r in self.roles_on(project))

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles.get(ALL_PROJECTS, ())


LOCAL_ADMIN = Principal(name="local", roles={ALL_PROJECTS: [Role.ADMIN]}, authenticated=False)
"""Who acts when auth is off: every permission, on every project."""


@dataclass(frozen=True)
class Actor:
    """Who makes the current call, and the request it belongs to (for the audit log)."""

    principal: Principal = LOCAL_ADMIN
    request_id: str | None = None
    auth_enabled: bool = False

    @property
    def name(self) -> str:
        return self.principal.name


class TokenInfo(_Entity):
    """An API token as listed: never the secret, which is shown once at creation."""

    id: str
    principal: str
    name: str = ""
    created_at: int
    expires_at: int | None = None
    revoked_at: int | None = None
    last_used_at: int | None = None
    secret: str | None = None

    def __repr__(self) -> str:  # the secret never reaches logs or tracebacks
        return f"TokenInfo(id={self.id!r}, principal={self.principal!r})"

    __str__ = __repr__


class AuditEvent(_Entity):
    """One state change: who did what to which object, when, with before and after."""

    id: int
    at: int
    actor: str
    action: str
    object_type: str
    object_id: str
    project: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    request_id: str | None = None
    reason: str = ""
