"""The opsloop HTTP server: a FastAPI app with one router per component.

Example:
    >>> import tempfile
    >>> from opsloop.config import Settings
    >>> app = create_app(Settings(home=tempfile.mkdtemp()))
    >>> sorted(app.openapi()["paths"]["/api/v1/runs/search"])
    ['post']

Serve it with ``opsloop server`` (uvicorn); the API is described at ``/openapi.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import opsloop
from opsloop.auth.api import LocalAuth
from opsloop.config import Settings
from opsloop.registry.api import LocalRegistry
from opsloop.server import errors
from opsloop.server.routers import auth, datasets, meta, registry, tracking
from opsloop.server.routers._common import actor, request_id
from opsloop.tracking.api import LocalTracking

__all__ = ["create_app"]

log = logging.getLogger("opsloop.server")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app over the stores named by ``settings`` (default: ``Settings.load()``)."""
    settings = settings or Settings.load()
    local = LocalTracking.from_settings(settings)
    local.db.ensure_ready()
    if not settings.auth:
        log.info("auth is off: every caller acts as an admin (set OPSLOOP_AUTH=on)")

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_reap_forever(local, settings.heartbeat_timeout / 4))
        try:
            yield
        finally:
            task.cancel()

    app = FastAPI(
        title="opsloop",
        version=opsloop.__version__,
        description="REST API of opsloop: tracking, datasets, and (as they land) registry, "
        "features, pipelines, serving and monitoring.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.tracking = local
    app.state.registry = LocalRegistry(local.db, local.artifacts)
    app.state.auth = LocalAuth(local.db)
    errors.install(app)
    app.add_middleware(RequestId)
    app.include_router(meta.router)  # health and version: public
    for module in (tracking, datasets, registry, auth):
        # Every route authenticates, even one that forgets to ask for the caller (a
        # route's own dependency on it is the same call, made once per request).
        app.include_router(module.router, dependencies=[Depends(actor)])
    return app


class RequestId:
    """Give every request an id (the caller's ``X-Request-ID`` if well-formed), recorded
    in audit events and echoed in the response header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(Request(scope))
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)


async def _reap_forever(local: LocalTracking, every: float) -> None:
    """Mark runs whose processes died as LOST, in the background."""
    while True:
        await asyncio.sleep(every)
        try:
            await run_in_threadpool(local.reap_lost_runs, force=True)
        except Exception as exc:  # never let the loop die; the next round tries again
            log.warning("marking lost runs failed: %s", exc)
