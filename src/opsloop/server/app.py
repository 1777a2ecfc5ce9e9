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

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

import opsloop
from opsloop.config import Settings
from opsloop.server import errors
from opsloop.server.routers import datasets, meta, tracking
from opsloop.tracking.api import LocalTracking

__all__ = ["create_app"]

log = logging.getLogger("opsloop.server")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app over the stores named by ``settings`` (default: ``Settings.load()``)."""
    settings = settings or Settings.load()
    local = LocalTracking.from_settings(settings)
    local.db.ensure_ready()

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
    errors.install(app)
    for module in (meta, tracking, datasets):
        app.include_router(module.router)
    return app


async def _reap_forever(local: LocalTracking, every: float) -> None:
    """Mark runs whose processes died as LOST, in the background."""
    while True:
        await asyncio.sleep(every)
        try:
            await run_in_threadpool(local.reap_lost_runs, force=True)
        except Exception as exc:  # never let the loop die; the next round tries again
            log.warning("marking lost runs failed: %s", exc)
