"""Health and version endpoints."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

import opsloop
from opsloop.server.errors import responses

router = APIRouter(tags=["meta"], responses=responses(500))


class Health(BaseModel):
    status: str


class Version(BaseModel):
    version: str
    api: str = "v1"


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses=responses(503))
def readyz(request: Request) -> Health:
    """The metadata store answers."""
    request.app.state.tracking.list_projects()
    return Health(status="ready")


@router.get("/api/v1/version", response_model=Version)
def version() -> Version:
    """The opsloop version of the server and the API version."""
    return Version(version=opsloop.__version__)
