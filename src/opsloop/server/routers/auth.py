"""REST API of users, service accounts, roles, tokens and the audit log.

There is deliberately no route that edits or deletes audit events (the database refuses
it too), and none that bootstraps the first admin: that is local only
(``opsloop users bootstrap``), so a fresh server cannot be claimed over the network.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from opsloop.auth.api import LocalAuth
from opsloop.auth.entities import (
    ALL_PROJECTS,
    AuditEvent,
    Principal,
    PrincipalKind,
    Role,
    TokenInfo,
)
from opsloop.server.errors import responses
from opsloop.server.routers._common import INT64_MAX, Int64, auth, json_response
from opsloop.server.routers.registry import AUTH_RESPONSES

router = APIRouter(prefix="/api/v1", tags=["auth"], responses=AUTH_RESPONSES)
CONFLICT = responses(409)

Auth = Annotated[LocalAuth, Depends(auth)]
Time = Annotated[int, Query(ge=-INT64_MAX - 1, le=INT64_MAX,
                            description="milliseconds since the Unix epoch")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserIn(_In):
    name: str
    kind: PrincipalKind = PrincipalKind.USER
    roles: dict[str, list[Role]] = Field({}, description="project (or * for every project) "
                                         "to the roles held there")
    display_name: str = ""
    email: str = ""


class RoleIn(_In):
    role: Role
    project: str = Field(ALL_PROJECTS, description="a project, or * for every project")


class TokenIn(_In):
    principal: str | None = Field(None, description="whose token (default: the caller's; "
                                  "others' need users.manage)")
    name: str = ""
    expires_at: Int64 | None = Field(None, description="milliseconds since the Unix epoch")


@router.get("/whoami", response_model=Principal)
def whoami(a: Auth) -> Response:
    """The principal the request acts as, with its roles."""
    return json_response(a.whoami())


# -- principals ----------------------------------------------------------------------------


@router.post("/users", response_model=Principal, status_code=201, responses=CONFLICT)
def create_user(body: UserIn, a: Auth) -> Response:
    """Create a user or service account with roles per project (users.manage)."""
    return json_response(a.create_user(body.name, kind=body.kind, roles=body.roles,
                                       display_name=body.display_name, email=body.email),
                         status_code=201)


@router.get("/users", response_model=list[Principal])
def list_users(a: Auth) -> Response:
    """Every principal, by name."""
    return json_response(a.list_users())


@router.get("/users/{name}", response_model=Principal)
def get_user(name: str, a: Auth) -> Response:
    """One principal with its roles."""
    return json_response(a.get_user(name))


@router.post("/users/{name}/roles", response_model=Principal)
def grant(name: str, body: RoleIn, a: Auth) -> Response:
    """Grant a role on a project, or on every project (``*``)."""
    return json_response(a.grant(name, body.role, body.project))


@router.delete("/users/{name}/roles", response_model=Principal)
def revoke_role(name: str, a: Auth, role: Annotated[Role, Query()],
                project: str = ALL_PROJECTS) -> Response:
    """Take a role back (a role held on ``*`` is revoked with ``project=*``)."""
    return json_response(a.revoke_role(name, role, project))


@router.post("/users/{name}/disable", response_model=Principal)
def disable(name: str, a: Auth) -> Response:
    """Disable a principal: its tokens stop working at once."""
    return json_response(a.set_disabled(name, True))


@router.post("/users/{name}/enable", response_model=Principal)
def enable(name: str, a: Auth) -> Response:
    """Enable a disabled principal again."""
    return json_response(a.set_disabled(name, False))


# -- tokens --------------------------------------------------------------------------------


@router.post("/tokens", response_model=TokenInfo, status_code=201)
def create_token(body: TokenIn, a: Auth) -> Response:
    """Create a token. The answer holds its ``secret``, the only time it is ever shown."""
    return json_response(a.create_token(body.principal, name=body.name,
                                        expires_at=body.expires_at), status_code=201)


@router.get("/tokens", response_model=list[TokenInfo])
def list_tokens(a: Auth, principal: str | None = None) -> Response:
    """Tokens of a principal (default: the caller's own), without their secrets."""
    return json_response(a.list_tokens(principal))


@router.delete("/tokens/{token_id}", response_model=TokenInfo)
def revoke_token(token_id: str, a: Auth) -> Response:
    """Revoke a token now (your own, or anyone's with users.manage)."""
    return json_response(a.revoke_token(token_id))


# -- audit ---------------------------------------------------------------------------------


@router.get("/audit", response_model=list[AuditEvent])
def audit(a: Auth, project: str | None = None, object_type: str | None = None,
          object_id: str | None = None, actor: str | None = None, action: str | None = None,
          since: Time | None = None, until: Time | None = None, limit: int = 1000) -> Response:
    """Audit events, newest first (audit.read). Read only: there is no API to change them."""
    return json_response(a.audit(project=project, object_type=object_type,
                                 object_id=object_id, actor=actor, action=action,
                                 since=since, until=until, limit=limit))
