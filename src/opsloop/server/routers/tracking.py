"""REST API of the metadata store: projects, experiments, runs, metrics and artifacts."""

from __future__ import annotations

import hashlib
import os
import tempfile
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from opsloop.errors import InvalidInput, NotFound
from opsloop.server.errors import ERROR_RESPONSES, responses
from opsloop.server.routers._common import Caller, Int64, json_response, tracking
from opsloop.tracking.api import LocalTracking
from opsloop.tracking.entities import (
    Artifact,
    Experiment,
    Metric,
    Page,
    Project,
    Run,
    RunSpec,
    RunStatus,
)
from opsloop.tracking.service import MAX_RESULTS
from opsloop.tracking.tables import ARROW_STREAM, to_ipc

router = APIRouter(prefix="/api/v1", tags=["tracking"], responses=ERROR_RESPONSES)
CONFLICT = responses(409)
BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}

# NaN and the infinities travel as the strings "NaN", "Infinity" and "-Infinity".
MetricValue = Annotated[
    float,
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number"},
                {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]},
            ]
        }
    ),
]
Tracking = Annotated[LocalTracking, Depends(tracking)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExperimentIn(_In):
    project: str = "default"
    name: str
    description: str = ""
    exist_ok: bool = Field(False, description="return the existing experiment of that name")


class MetricColumns(_In):
    """Metric points as columns of equal length (NaN/Infinity may be sent as strings)."""

    key: list[str] = []
    value: list[MetricValue] = []
    step: list[Int64] = []
    timestamp: list[Int64] = []


class BatchIn(_In):
    metrics: MetricColumns = MetricColumns()
    params: dict[str, str] = {}
    tags: dict[str, str] = {}


class EndRunIn(_In):
    status: RunStatus = RunStatus.FINISHED
    end_time: Int64 | None = None
    failure: str | None = None
    metrics: MetricColumns = Field(
        MetricColumns(), description="last metric points, written with the end of the run"
    )


class HeartbeatIn(_In):
    run_ids: list[str] = Field(max_length=10_000)


class SearchIn(_In):
    experiment_ids: list[Int64] | None = None
    experiments: list[str] | None = None
    project: str | None = None
    filter: str | None = Field(None, max_length=4096)
    order_by: list[str] = []
    max_results: int = 1000
    page_token: str | None = None


class SearchTableIn(_In):
    experiments: list[str] | None = None
    project: str | None = None
    filter: str | None = Field(None, max_length=4096)
    order_by: list[str] = []
    max_results: int = Field(MAX_RESULTS, ge=1, le=MAX_RESULTS)


class ArtifactIn(_In):
    path: str
    digest: str
    size: Int64 = Field(ge=0)


class Reaped(BaseModel):
    lost: int


@router.get("/projects", response_model=list[Project])
def list_projects(t: Tracking) -> Response:
    return json_response(t.list_projects())


@router.post("/experiments", response_model=Experiment, status_code=201, responses=CONFLICT)
def create_experiment(body: ExperimentIn, t: Tracking) -> Response:
    if body.exist_ok:
        return json_response(t.get_or_create_experiment(body.project, body.name))
    return json_response(
        t.create_experiment(body.project, body.name, body.description), status_code=201
    )


@router.get("/experiments", response_model=list[Experiment])
def list_experiments(t: Tracking, project: str | None = None) -> Response:
    return json_response(t.list_experiments(project))


@router.get("/experiments/{project}/{name}", response_model=Experiment)
def get_experiment(project: str, name: str, t: Tracking) -> Response:
    return json_response(t.get_experiment(project, name))


@router.post("/runs", response_model=Run, status_code=201, responses=CONFLICT)
def create_run(spec: RunSpec, t: Tracking) -> Response:
    return json_response(t.create_run(spec), status_code=201)


@router.post("/runs/search", response_model=Page[Run])
def search_runs(body: SearchIn, t: Tracking) -> Response:
    return json_response(
        t.search_runs(
            experiment_ids=body.experiment_ids,
            experiments=body.experiments,
            project=body.project,
            filter=body.filter,
            order_by=body.order_by,
            max_results=body.max_results,
            page_token=body.page_token,
        )
    )


ARROW = {ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}}}


@router.post("/runs/search-table", response_class=Response,
             responses={200: {"content": ARROW, "description": "One row per run, as an "
                              "Arrow IPC stream: run fields, params.*, metrics.*, tags.*."}})
def search_runs_table(body: SearchTableIn, t: Tracking) -> Response:
    table = t.search_runs_table(experiments=body.experiments, project=body.project,
                                filter=body.filter, order_by=body.order_by,
                                max_results=body.max_results)
    return Response(to_ipc(table), media_type=ARROW_STREAM)


@router.post("/runs/heartbeat", status_code=204)
def heartbeat(body: HeartbeatIn, t: Tracking) -> Response:
    t.heartbeat(body.run_ids)
    return Response(status_code=204)


@router.post("/runs/reap", response_model=Reaped)
def reap(t: Tracking) -> Reaped:
    return Reaped(lost=t.reap_lost_runs(force=True))


@router.get("/runs/{run_id}", response_model=Run)
def get_run(run_id: str, t: Tracking) -> Response:
    return json_response(t.get_run(run_id))


@router.post("/runs/{run_id}/end", response_model=Run, responses=CONFLICT)
def end_run(run_id: str, body: EndRunIn, t: Tracking) -> Response:
    points = _points(body.metrics)
    return json_response(
        t.end_run(run_id, body.status, body.end_time, body.failure, metrics=points)
    )


@router.post("/runs/{run_id}/batch", status_code=204, responses=CONFLICT)
def log_batch(run_id: str, body: BatchIn, t: Tracking) -> Response:
    t.log_batch(run_id, metrics=_points(body.metrics), params=body.params, tags=body.tags)
    return Response(status_code=204)


def _points(m: MetricColumns) -> list[tuple[str, float, int, int]]:
    """The columns as (key, value, step, timestamp) points; they must be equally long."""
    if not len(m.key) == len(m.value) == len(m.step) == len(m.timestamp):
        lengths = ", ".join(
            f"{k}: {len(getattr(m, k))}" for k in ("key", "value", "step", "timestamp")
        )
        raise InvalidInput(
            "metrics", lengths, "key, value, step and timestamp must have the same length"
        )
    return list(zip(m.key, m.value, m.step, m.timestamp, strict=True))


@router.get("/runs/{run_id}/metric-history", response_model=list[Metric])
def metric_history(run_id: str, t: Tracking, key: Annotated[str, Query()]) -> Response:
    return json_response(t.get_metric_history(run_id, key))


@router.get("/runs/{run_id}/artifacts", response_model=list[Artifact])
def list_artifacts(run_id: str, t: Tracking, prefix: str = "") -> Response:
    return json_response(t.list_artifacts(run_id, prefix))


@router.get("/runs/{run_id}/artifact", response_model=Artifact)
def get_artifact(run_id: str, t: Tracking, path: Annotated[str, Query()]) -> Response:
    return json_response(t.get_artifact(run_id, path))


@router.post("/runs/{run_id}/artifacts", response_model=Artifact, status_code=201)
def add_artifact(run_id: str, body: ArtifactIn, t: Tracking) -> Response:
    return json_response(t.add_artifact(run_id, body.path, body.digest, body.size), status_code=201)


# -- content-addressed blobs -----------------------------------------------------------------


def _check_digest(digest: str) -> str:
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise InvalidInput("digest", digest, "must be a sha256: 64 lowercase hex characters")
    return digest


@router.head(
    "/blobs/{digest}",
    response_class=Response,
    responses={200: {"description": "A blob is stored under this digest"}},
)
def has_blob(digest: str, t: Tracking) -> Response:
    """Whether bytes are stored under ``digest`` (200, or 404 with no body)."""
    if not t.has_blob(_check_digest(digest)):
        raise NotFound("blob", f"sha256:{digest}")
    return Response(status_code=200)


@router.put(
    "/blobs/{digest}",
    status_code=201,
    response_class=Response,
    responses={201: {"description": "Stored (or already there)"}},
    openapi_extra={"requestBody": {"required": True, "content": BINARY}},
)
async def put_blob(digest: str, request: Request, caller: Caller) -> Response:
    """Upload bytes under their sha256; bytes that do not hash to ``digest`` are refused."""
    t: LocalTracking = request.app.state.tracking
    t.with_actor(caller).require_writer()
    _check_digest(digest)
    h = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix="opsloop-upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                h.update(chunk)
                await run_in_threadpool(out.write, chunk)
        if h.hexdigest() != digest:
            raise InvalidInput(
                "blob", f"sha256:{h.hexdigest()}", f"the uploaded bytes do not hash to {digest}"
            )
        await run_in_threadpool(t.put_blob_file, tmp)
    finally:
        os.unlink(tmp)
    return Response(status_code=201)


VERIFY_IN_MEMORY = 64 << 20


@router.get(
    "/blobs/{digest}",
    response_class=Response,
    responses={200: {"description": "The stored bytes", "content": BINARY}},
)
def get_blob(digest: str, t: Tracking) -> Response:
    """The bytes stored under ``digest``.

    Blobs up to 64 MiB are verified before the first byte is sent, so corruption is a
    clean DIGEST_MISMATCH error; larger ones stream and the client verifies the digest.
    """
    if t.artifacts.size(_check_digest(digest)) <= VERIFY_IN_MEMORY:
        return Response(t.artifacts.get_bytes(digest), media_type="application/octet-stream")
    return StreamingResponse(t.artifacts.iter_chunks(digest), media_type="application/octet-stream")
