"""REST API of dataset versions and run lineage."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict

from opsloop.errors import InvalidInput
from opsloop.server.errors import ERROR_RESPONSES
from opsloop.server.routers._common import INT64_MAX, Int64, json_response, tracking
from opsloop.tracking.api import LocalTracking
from opsloop.tracking.entities import Dataset, DatasetSpec, DatasetVersion

router = APIRouter(prefix="/api/v1", tags=["datasets"], responses=ERROR_RESPONSES)
Tracking = Annotated[LocalTracking, Depends(tracking)]


class InputIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset_version_id: Int64
    role: str = "train"


@router.post("/datasets/versions", response_model=DatasetVersion, status_code=201)
def register_version(spec: DatasetSpec, t: Tracking) -> Response:
    return json_response(t.register_dataset_version(spec), status_code=201)


@router.get("/datasets", response_model=list[Dataset])
def list_datasets(t: Tracking, project: str | None = None) -> Response:
    return json_response(t.list_datasets(project))


@router.get("/datasets/{project}/{name}/versions", response_model=list[DatasetVersion])
def list_versions(project: str, name: str, t: Tracking) -> Response:
    return json_response(t.list_dataset_versions(project, name))


@router.get("/datasets/{project}/{name}/versions/{version}", response_model=DatasetVersion)
def get_version(project: str, name: str, version: str, t: Tracking) -> Response:
    """A version by number, or ``latest``."""
    number = None
    if version != "latest":
        # isascii: str.isdigit() also accepts digits such as '²' that int() refuses.
        if not (version.isascii() and version.isdigit() and int(version) <= INT64_MAX):
            raise InvalidInput("version", version, "must be a version number or 'latest'")
        number = int(version)
    return json_response(t.get_dataset_version(project, name, number))


@router.post("/runs/{run_id}/inputs", status_code=204)
def link_input(run_id: str, body: InputIn, t: Tracking) -> Response:
    t.link_run_input(run_id, body.dataset_version_id, body.role)
    return Response(status_code=204)


@router.get("/runs/{run_id}/inputs", response_model=list[DatasetVersion])
def run_inputs(run_id: str, t: Tracking) -> Response:
    return json_response(t.run_inputs(run_id))
