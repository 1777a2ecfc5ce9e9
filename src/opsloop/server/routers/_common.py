"""Helpers shared by the routers: who is calling, the component APIs acting as them, and
fast JSON responses."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from opsloop.auth.api import LocalAuth, local_actor, resolve_actor
from opsloop.auth.entities import Actor
from opsloop.registry.api import LocalRegistry
from opsloop.tracking.api import LocalTracking

INT64_MAX = 2**63 - 1
Int64 = Annotated[int, Field(ge=-INT64_MAX - 1, le=INT64_MAX)]
"""An integer the metadata store can hold (larger ones are refused with 422, not 500)."""

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}")


def request_id(request: Request) -> str:
    """The caller's ``X-Request-ID`` when well-formed, else a new one (echoed back)."""
    rid = request.headers.get("x-request-id", "")
    return rid if _REQUEST_ID.fullmatch(rid) else uuid.uuid4().hex


async def actor(request: Request) -> Actor:
    """Who is calling. With auth on: the principal of the bearer token (401 without a
    valid one). With auth off: the user named by ``X-Opsloop-User`` (for the audit log
    only; everyone is an admin), or ``anonymous``."""
    found: Actor | None = getattr(request.state, "actor", None)
    if found is not None:
        return found
    state = request.app.state
    rid = request.state.request_id if hasattr(request.state, "request_id") else request_id(
        request)
    if not state.settings.auth:
        user = request.headers.get("x-opsloop-user", "")
        found = local_actor(user if _USER.fullmatch(user) else "anonymous", rid)
    else:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        found = await run_in_threadpool(resolve_actor, state.tracking.db, auth_enabled=True,
                                        token=token or None, request_id=rid)
    request.state.actor = found
    return found


Caller = Annotated[Actor, Depends(actor)]


async def tracking(request: Request, caller: Caller) -> LocalTracking:
    # async: a plain function dependency would cost a thread-pool round trip per request.
    t: LocalTracking = request.app.state.tracking
    return t.with_actor(caller)


async def registry(request: Request, caller: Caller) -> LocalRegistry:
    r: LocalRegistry = request.app.state.registry
    return r.with_actor(caller)


async def auth(request: Request, caller: Caller) -> LocalAuth:
    a: LocalAuth = request.app.state.auth
    return a.with_actor(caller)


def json_response(value: BaseModel | Sequence[BaseModel], *, status_code: int = 200) -> Response:
    """Serialize with pydantic directly (NaN and infinities as strings).

    Routes still declare ``response_model`` for the OpenAPI schema; returning a Response
    skips FastAPI's slower generic encoder.
    """
    if isinstance(value, BaseModel):
        body = value.model_dump_json(by_alias=True)
    else:
        body = "[" + ",".join(v.model_dump_json(by_alias=True) for v in value) + "]"
    return Response(body, status_code=status_code, media_type="application/json")
