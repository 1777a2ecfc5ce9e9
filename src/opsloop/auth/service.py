"""Business rules of principals, tokens, permissions and the audit log.

Every function takes a Session and never commits (the unit of work does). Functions that
change state take the :class:`~opsloop.auth.entities.Actor` making the call, check its
permission and append an audit event in the same transaction as the change, so the log
and the state can never disagree.

Tokens are ``olp_`` followed by 256 random bits; only their sha256 is stored. A fast hash
is the right one here: the secret has full entropy, so there is nothing for a slow
password hash to protect against, and every API call verifies one.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.orm import Session

from opsloop._names import check_choice, check_name, check_text
from opsloop.auth.entities import (
    ALL_PROJECTS,
    Actor,
    AuditEvent,
    Permission,
    Principal,
    PrincipalKind,
    Role,
    TokenInfo,
)
from opsloop.errors import AlreadyExists, InvalidInput, NotFound, PermissionDenied, Unauthenticated
from opsloop.store.orm import AuditEventRow, PrincipalRow, RoleBindingRow, TokenRow

__all__ = [
    "TOKEN_PREFIX",
    "authenticate",
    "count_principals",
    "create_principal",
    "create_token",
    "get_principal",
    "grant",
    "list_audit",
    "list_principals",
    "list_tokens",
    "record",
    "require",
    "revoke_role",
    "revoke_token",
    "set_disabled",
    "touch_token",
]

TOKEN_PREFIX = "olp_"
_INSERT_AUDIT = insert(cast(Table, AuditEventRow.__table__))
MAX_AUDIT = 10_000
_TOUCH_EVERY_MS = 60_000  # last_used_at is refreshed at most once a minute per token


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# -- permissions ---------------------------------------------------------------------------


def require(actor: Actor, permission: Permission, project: str | None) -> None:
    """Raise :class:`PermissionDenied` unless ``actor`` holds ``permission`` on ``project``.

    ``project=None`` asks for the permission on every project (a ``*`` binding).
    """
    p = actor.principal
    if p.can(permission, ALL_PROJECTS if project is None else project):
        return
    where = "on every project" if project is None else f"on project {project!r}"
    raise PermissionDenied(
        f"{p.name!r} lacks the permission {permission.value!r} {where}",
        hint="ask an admin for a role that grants it (see docs/security.md#roles)",
        permission=permission.value, project=project, principal=p.name)


def check_role(value: object) -> Role:
    return check_choice(Role, str(value), "role")


def _check_project(project: str) -> str:
    return project if project == ALL_PROJECTS else check_name("project", project)


# -- audit ---------------------------------------------------------------------------------


def record(s: Session, actor: Actor, action: str, object_type: str, object_id: object, *,
           project: str | None = None, before: Mapping[str, Any] | None = None,
           after: Mapping[str, Any] | None = None, reason: str = "") -> None:
    """Append one audit event in the caller's transaction (Core: runs call it twice each)."""
    s.connection().execute(_INSERT_AUDIT, [{
        "at": now_ms(), "actor": actor.name, "action": action, "object_type": object_type,
        "object_id": str(object_id), "project": project,
        "before": None if before is None else dict(before),
        "after": None if after is None else dict(after),
        "request_id": actor.request_id, "reason": reason}])


def list_audit(s: Session, actor: Actor, *, project: str | None = None,
               object_type: str | None = None, object_id: str | None = None,
               actor_name: str | None = None, action: str | None = None,
               since: int | None = None, until: int | None = None,
               limit: int = 1000) -> list[AuditEvent]:
    """Audit events, newest first. Needs ``audit.read`` on the project (or on every project
    without a project filter, which also shows user and token events)."""
    require(actor, Permission.AUDIT_READ, project)
    if not 1 <= limit <= MAX_AUDIT:
        raise InvalidInput("limit", limit, f"must be between 1 and {MAX_AUDIT:,}")
    a = AuditEventRow
    stmt = select(a).order_by(a.id.desc()).limit(limit)
    for column, value in ((a.project, project), (a.object_type, object_type),
                          (a.object_id, object_id), (a.actor, actor_name), (a.action, action)):
        if value is not None:
            stmt = stmt.where(column == value)
    if since is not None:
        stmt = stmt.where(a.at >= since)
    if until is not None:
        stmt = stmt.where(a.at < until)
    return [AuditEvent(id=r.id, at=r.at, actor=r.actor, action=r.action,
                       object_type=r.object_type, object_id=r.object_id, project=r.project,
                       before=r.before, after=r.after, request_id=r.request_id,
                       reason=r.reason) for r in s.scalars(stmt)]


# -- principals ----------------------------------------------------------------------------


def count_principals(s: Session) -> int:
    return int(s.scalar(select(func.count()).select_from(PrincipalRow)) or 0)


def _roles(s: Session, principal_ids: Iterable[int]) -> dict[int, dict[str, list[Role]]]:
    out: dict[int, dict[str, list[Role]]] = {}
    rows = s.execute(select(RoleBindingRow.principal_id, RoleBindingRow.project,
                            RoleBindingRow.role)
                     .where(RoleBindingRow.principal_id.in_(list(principal_ids)))
                     .order_by(RoleBindingRow.project, RoleBindingRow.role))
    for pid, project, role in rows:
        out.setdefault(pid, {}).setdefault(project, []).append(Role(role))
    return out


def _principal(row: PrincipalRow, roles: dict[str, list[Role]]) -> Principal:
    return Principal(id=row.id, name=row.name, kind=PrincipalKind(row.kind),
                     display_name=row.display_name, email=row.email, disabled=row.disabled,
                     roles=roles, created_at=row.created_at, created_by=row.created_by)


def _principal_row(s: Session, name: str) -> PrincipalRow:
    row = s.scalars(select(PrincipalRow).where(PrincipalRow.name == name)).first()
    if row is None:
        raise NotFound("principal", name, hint="list them with: opsloop users list")
    return row


def get_principal(s: Session, name: str, actor: Actor | None = None) -> Principal:
    """A principal with its roles: yourself, or anyone with ``view`` on every project."""
    if actor is not None and actor.name != name:
        require(actor, Permission.VIEW, None)
    row = _principal_row(s, name)
    return _principal(row, _roles(s, [row.id]).get(row.id, {}))


def list_principals(s: Session, actor: Actor) -> list[Principal]:
    require(actor, Permission.VIEW, None)
    rows = list(s.scalars(select(PrincipalRow).order_by(PrincipalRow.name)))
    roles = _roles(s, [r.id for r in rows])
    return [_principal(r, roles.get(r.id, {})) for r in rows]


def create_principal(s: Session, actor: Actor, name: str, *,
                     kind: PrincipalKind | str = PrincipalKind.USER,
                     roles: Mapping[str, Sequence[Role | str]] | None = None,
                     display_name: str = "", email: str = "",
                     bootstrap: bool = False) -> Principal:
    """Create a user or service account with roles per project (``*``: every project).

    ``bootstrap=True`` lets the very first principal be created without permissions
    (it is refused once any principal exists).
    """
    if bootstrap:
        if count_principals(s) > 0:
            raise PermissionDenied("bootstrap is only allowed while no user exists",
                                   hint="log in as an admin to create more users")
    else:
        require(actor, Permission.USERS_MANAGE, None)
    check_name("principal", name)
    check_text("display name", display_name)
    check_text("email", email)
    if len(display_name) > 256 or len(email) > 256:
        raise InvalidInput("display name or email", display_name or email,
                           "must be at most 256 characters")
    if s.scalar(select(PrincipalRow.id).where(PrincipalRow.name == name)) is not None:
        raise AlreadyExists("principal", name)
    bindings = {(_check_project(project), check_role(role))
                for project, rs in (roles or {}).items() for role in rs}
    row = PrincipalRow(name=name, kind=check_choice(PrincipalKind, kind, "kind").value,
                       display_name=display_name, email=email, disabled=False,
                       created_at=now_ms(), created_by=actor.name)
    s.add(row)
    s.flush()
    for project, role in sorted(bindings):
        s.add(RoleBindingRow(principal_id=row.id, project=project, role=role.value))
    s.flush()
    created = get_principal(s, name)
    record(s, actor, "principal.create", "principal", name,
           after={"kind": created.kind.value, "roles": _jsonable_roles(created.roles)})
    return created


def _jsonable_roles(roles: Mapping[str, Sequence[Role]]) -> dict[str, list[str]]:
    return {p: [r.value for r in rs] for p, rs in roles.items()}


def grant(s: Session, actor: Actor, name: str, role: Role | str,
          project: str = ALL_PROJECTS) -> Principal:
    require(actor, Permission.USERS_MANAGE, None)
    row = _principal_row(s, name)
    r, project = check_role(role), _check_project(project)
    exists = s.get(RoleBindingRow, (row.id, project, r.value))
    if exists is None:
        s.add(RoleBindingRow(principal_id=row.id, project=project, role=r.value))
        s.flush()
        record(s, actor, "role.grant", "principal", name,
               project=None if project == ALL_PROJECTS else project,
               after={"role": r.value, "project": project})
    return get_principal(s, name)


def revoke_role(s: Session, actor: Actor, name: str, role: Role | str,
                project: str = ALL_PROJECTS) -> Principal:
    require(actor, Permission.USERS_MANAGE, None)
    row = _principal_row(s, name)
    r, project = check_role(role), _check_project(project)
    done = s.execute(delete(RoleBindingRow).where(
        RoleBindingRow.principal_id == row.id, RoleBindingRow.project == project,
        RoleBindingRow.role == r.value))
    if getattr(done, "rowcount", 0):
        record(s, actor, "role.revoke", "principal", name,
               project=None if project == ALL_PROJECTS else project,
               before={"role": r.value, "project": project})
    return get_principal(s, name)


def set_disabled(s: Session, actor: Actor, name: str, disabled: bool) -> Principal:
    """Disable (or enable again) a principal: its tokens stop working at once."""
    require(actor, Permission.USERS_MANAGE, None)
    row = _principal_row(s, name)
    if row.disabled != disabled:
        record(s, actor, "principal.disable" if disabled else "principal.enable",
               "principal", name, before={"disabled": row.disabled},
               after={"disabled": disabled})
        row.disabled = disabled
        s.flush()
    return get_principal(s, name)


# -- tokens --------------------------------------------------------------------------------


def _token_info(row: TokenRow, principal: str, secret: str | None = None) -> TokenInfo:
    return TokenInfo(id=row.id, principal=principal, name=row.name, created_at=row.created_at,
                     expires_at=row.expires_at, revoked_at=row.revoked_at,
                     last_used_at=row.last_used_at, secret=secret)


def create_token(s: Session, actor: Actor, principal: str | None = None, *, name: str = "",
                 expires_at: int | None = None, bootstrap: bool = False) -> TokenInfo:
    """A new token for ``principal`` (default: the actor). The secret is returned once.

    Anyone may create tokens for themselves; tokens for others need ``users.manage``.
    """
    target = principal or actor.name
    if not bootstrap and target != actor.name:
        require(actor, Permission.USERS_MANAGE, None)
    if name:
        check_name("token", name)
    now = now_ms()
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("expires_at", expires_at, "must be in the future")
    row = _principal_row(s, target)
    if row.disabled:
        raise InvalidInput("principal", target, "is disabled")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = TokenRow(id=secrets.token_hex(6), principal_id=row.id, name=name,
                     secret_hash=hash_secret(secret), created_at=now, expires_at=expires_at)
    s.add(token)
    s.flush()
    record(s, actor, "token.create", "token", token.id,
           after={"principal": target, "name": name, "expires_at": expires_at})
    return _token_info(token, target, secret)


def list_tokens(s: Session, actor: Actor, principal: str | None = None) -> list[TokenInfo]:
    """Tokens of ``principal`` (default: the actor's own); others' need ``users.manage``."""
    target = principal or actor.name
    if target != actor.name:
        require(actor, Permission.USERS_MANAGE, None)
    row = _principal_row(s, target)
    tokens = s.scalars(select(TokenRow).where(TokenRow.principal_id == row.id)
                       .order_by(TokenRow.created_at))
    return [_token_info(t, target) for t in tokens]


def revoke_token(s: Session, actor: Actor, token_id: str) -> TokenInfo:
    """Revoke a token now. Your own, or anyone's with ``users.manage``."""
    found = s.execute(select(TokenRow, PrincipalRow.name).join(
        PrincipalRow, PrincipalRow.id == TokenRow.principal_id).where(TokenRow.id == token_id)
    ).first()
    if found is None:
        raise NotFound("token", token_id, hint="list them with: opsloop tokens list")
    token, owner = found
    if owner != actor.name:
        require(actor, Permission.USERS_MANAGE, None)
    if token.revoked_at is None:
        token.revoked_at = now_ms()
        s.flush()
        record(s, actor, "token.revoke", "token", token_id, after={"principal": owner})
    return _token_info(token, owner)


_AUTH = (select(TokenRow.id, TokenRow.expires_at, TokenRow.revoked_at, TokenRow.last_used_at,
                PrincipalRow)
         .join(PrincipalRow, PrincipalRow.id == TokenRow.principal_id))


def authenticate(s: Session, secret: str) -> tuple[Principal, str, bool]:
    """The principal a token secret belongs to, its token id, and whether ``last_used_at``
    is due for a refresh. Raises :class:`Unauthenticated` naming the reason."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        raise Unauthenticated("the token is malformed",
                              hint="opsloop tokens start with 'olp_'; create one with: "
                              "opsloop tokens create")
    found = s.execute(_AUTH.where(TokenRow.secret_hash == hash_secret(secret))).first()
    if found is None:
        raise Unauthenticated("the token is not known", hint="log in again: opsloop login")
    token_id, expires_at, revoked_at, last_used, row = found
    now = now_ms()
    if revoked_at is not None:
        raise Unauthenticated(f"the token {token_id} was revoked",
                              hint="create a new one: opsloop tokens create")
    if expires_at is not None and expires_at <= now:
        raise Unauthenticated(f"the token {token_id} has expired",
                              hint="create a new one: opsloop tokens create")
    if row.disabled:
        raise Unauthenticated(f"the principal {row.name!r} is disabled",
                              hint="ask an admin to enable it")
    principal = _principal(row, _roles(s, [row.id]).get(row.id, {}))
    return principal, token_id, last_used is None or now - last_used >= _TOUCH_EVERY_MS


def touch_token(s: Session, token_id: str) -> None:
    s.execute(update(TokenRow).where(TokenRow.id == token_id).values(last_used_at=now_ms()))
