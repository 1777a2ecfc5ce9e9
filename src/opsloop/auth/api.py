"""The collaboration core over the local metadata database, one unit of work per call.

:func:`resolve_actor` turns a bearer token (or, with auth off, the local user) into the
:class:`~opsloop.auth.entities.Actor` that every component's API checks permissions
against. :class:`LocalAuth` manages principals, tokens and reads the audit log; the
server and the embedded client both use it, and the HTTP client mirrors it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.orm import Session

from opsloop.auth import service
from opsloop.auth.entities import (
    LOCAL_ADMIN,
    Actor,
    AuditEvent,
    Principal,
    PrincipalKind,
    Role,
    TokenInfo,
)
from opsloop.errors import Unauthenticated
from opsloop.store import Database

__all__ = ["LocalAuth", "local_actor", "resolve_actor"]


def local_actor(user: str | None = None, request_id: str | None = None) -> Actor:
    """The actor when auth is off: the local user, with every permission."""
    principal = LOCAL_ADMIN if not user else LOCAL_ADMIN.model_copy(update={"name": user})
    return Actor(principal=principal, request_id=request_id)


def resolve_actor(db: Database, *, auth_enabled: bool, token: str | None,
                  request_id: str | None = None, user: str | None = None) -> Actor:
    """Who is calling: the token's principal when auth is on, else the local user.

    Raises:
        Unauthenticated: auth is on and the token is missing, unknown, expired or revoked.
    """
    if not auth_enabled:
        return local_actor(user, request_id)
    if not token:
        raise Unauthenticated("this opsloop requires a token",
                              hint="log in with 'opsloop login' or set OPSLOOP_TOKEN")
    principal, token_id, touch = db.read(lambda s: service.authenticate(s, token))
    if touch:
        db.write(lambda s: service.touch_token(s, token_id))
    return Actor(principal=principal, request_id=request_id, auth_enabled=True)


class LocalAuth:
    """Users, service accounts, roles, tokens and the audit log.

    Example:
        >>> import tempfile
        >>> from opsloop.store import open_database
        >>> auth = LocalAuth(open_database(f"sqlite:///{tempfile.mkdtemp()}/a.db"))
        >>> auth.create_user("ada", roles={"credit": ["data-scientist"]}).roles
        {'credit': [<Role.DATA_SCIENTIST: 'data-scientist'>]}
    """

    def __init__(self, db: Database, actor: Actor | None = None) -> None:
        self.db = db
        self.actor = actor or local_actor()

    def with_actor(self, actor: Actor) -> LocalAuth:
        return LocalAuth(self.db, actor)

    def close(self) -> None:
        """Nothing to release: engines are shared per process."""

    def whoami(self) -> Principal:
        return self.actor.principal

    def bootstrap(self, name: str, *, token_name: str = "bootstrap") -> TokenInfo:
        """Create the first admin and a token for it; refused once any principal exists."""
        def tx(s: Session) -> TokenInfo:
            actor = local_actor(name, self.actor.request_id)
            service.create_principal(s, actor, name, roles={"*": [Role.ADMIN]}, bootstrap=True)
            return service.create_token(s, actor, name, name=token_name, bootstrap=True)

        return self.db.write(tx)

    def create_user(self, name: str, *, kind: PrincipalKind | str = PrincipalKind.USER,
                    roles: Mapping[str, Sequence[Role | str]] | None = None,
                    display_name: str = "", email: str = "") -> Principal:
        return self.db.write(lambda s: service.create_principal(
            s, self.actor, name, kind=kind, roles=roles,
            display_name=display_name, email=email))

    def get_user(self, name: str) -> Principal:
        return self.db.read(lambda s: service.get_principal(s, name, self.actor))

    def list_users(self) -> list[Principal]:
        return self.db.read(lambda s: service.list_principals(s, self.actor))

    def grant(self, name: str, role: Role | str, project: str = "*") -> Principal:
        return self.db.write(lambda s: service.grant(s, self.actor, name, role, project))

    def revoke_role(self, name: str, role: Role | str, project: str = "*") -> Principal:
        return self.db.write(lambda s: service.revoke_role(s, self.actor, name, role, project))

    def set_disabled(self, name: str, disabled: bool = True) -> Principal:
        return self.db.write(lambda s: service.set_disabled(s, self.actor, name, disabled))

    def create_token(self, principal: str | None = None, *, name: str = "",
                     expires_at: int | None = None) -> TokenInfo:
        return self.db.write(lambda s: service.create_token(
            s, self.actor, principal, name=name, expires_at=expires_at))

    def list_tokens(self, principal: str | None = None) -> list[TokenInfo]:
        return self.db.read(lambda s: service.list_tokens(s, self.actor, principal))

    def revoke_token(self, token_id: str) -> TokenInfo:
        return self.db.write(lambda s: service.revoke_token(s, self.actor, token_id))

    def audit(self, *, project: str | None = None, object_type: str | None = None,
              object_id: str | None = None, actor: str | None = None,
              action: str | None = None, since: int | None = None, until: int | None = None,
              limit: int = 1000) -> list[AuditEvent]:
        return self.db.read(lambda s: service.list_audit(
            s, self.actor, project=project, object_type=object_type, object_id=object_id,
            actor_name=actor, action=action, since=since, until=until, limit=limit))
