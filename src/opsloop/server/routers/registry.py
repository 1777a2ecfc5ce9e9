"""REST API of the model registry: models, versions, aliases, promotions and comments.

Every route calls :class:`~opsloop.registry.api.LocalRegistry` acting as the caller, so
permissions, validation and audit are the same as for a local client. Routes that touch
the database are plain ``def`` (run in the thread pool): a slow query never blocks the
event loop (see docs/decisions.md, "Server performance").

Models are addressed as ``/models/{name}?project=...`` (``default`` when omitted). Model
names may hold spaces and dots: clients percent-encode them as one path segment.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from opsloop.registry.api import LocalRegistry
from opsloop.registry.entities import (
    AliasEvent,
    Comment,
    ModelPolicy,
    ModelVersion,
    ModelVersionSpec,
    PromotionRequest,
    PromotionStatus,
    RegisteredModel,
    VersionStatus,
)
from opsloop.server.errors import ERROR_RESPONSES, ErrorResponse, responses
from opsloop.server.routers._common import INT64_MAX, Int64, json_response, registry

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    401: {"model": ErrorResponse,
          "description": "No valid token (missing, unknown, expired or revoked)"},
    **responses(403),
}
"""Errors any route of an API that checks permissions may answer."""

router = APIRouter(prefix="/api/v1", tags=["registry"], responses=AUTH_RESPONSES)
CONFLICT = responses(409)

Registry = Annotated[LocalRegistry, Depends(registry)]
ProjectQ = Annotated[str, Query(description="the project the model belongs to")]
# Any int64: a number that names nothing is 404, as for a local caller.
VersionNo = Annotated[int, Path(ge=-INT64_MAX - 1, le=INT64_MAX, description="version number")]
RequestNo = Annotated[int, Path(ge=-INT64_MAX - 1, le=INT64_MAX, description="request id")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelIn(_In):
    project: str = "default"
    name: str
    description: str = ""
    tags: dict[str, str] = {}
    policy: ModelPolicy | None = Field(
        None, description="protected aliases (default: champion needs one approval)")
    exist_ok: bool = Field(False, description="return the existing model of that name")


class ModelUpdateIn(_In):
    """Fields to change; those left out (or null) stay as they are."""

    description: str | None = None
    tags: dict[str, str] | None = None
    owners: list[str] | None = None
    policy: ModelPolicy | None = Field(None, description="needs models.admin")


class VersionUpdateIn(_In):
    """Fields to change; those left out (or null) stay as they are."""

    description: str | None = None
    tags: dict[str, str] | None = None
    status: VersionStatus | None = Field(None, description="archive or restore (models.admin)")


class AliasIn(_In):
    version: Int64
    reason: str = ""
    expected_version: Int64 | None = Field(
        -1, description="compare-and-set: the version the alias must point at now "
        "(null: the alias must not exist); -1 skips the check")
    force: bool = Field(False, description="move a protected alias without a promotion "
                        "request (models.admin)")


class AliasChange(BaseModel):
    """An alias move: where it points now and where it pointed before (null: unset)."""

    model: str
    alias: str
    version: int | None
    previous: int | None


class PromotionIn(_In):
    project: str = "default"
    model: str
    version: Int64
    alias: str
    reason: str = ""


class DecisionIn(_In):
    comment: str = ""


class GateIn(_In):
    gate: str
    passed: bool
    details: dict[str, Any] = {}


class CancelIn(_In):
    reason: str = ""


class CommentIn(_In):
    object_type: str = Field(description="run or model_version")
    object_id: str = Field(description="a run id, or [PROJECT/]MODEL/VERSION")
    text: str
    project: str | None = Field(None, description="the project of a model version")


# -- models --------------------------------------------------------------------------------


@router.post("/models", response_model=RegisteredModel, status_code=201, responses=CONFLICT)
def create_model(body: ModelIn, r: Registry) -> Response:
    """Register a model name (its creator becomes its first owner)."""
    model = r.create_model(body.project, body.name, description=body.description,
                           tags=body.tags, policy=body.policy, exist_ok=body.exist_ok)
    return json_response(model, status_code=200 if body.exist_ok else 201)


@router.get("/models", response_model=list[RegisteredModel])
def list_models(r: Registry, project: ProjectQ = "default") -> Response:
    """The registered models of a project, by name."""
    return json_response(r.list_models(project))


@router.get("/models/{name}", response_model=RegisteredModel)
def get_model(name: str, r: Registry, project: ProjectQ = "default") -> Response:
    """A registered model with its aliases, owners and promotion policy."""
    return json_response(r.get_model(project, name))


@router.patch("/models/{name}", response_model=RegisteredModel)
def update_model(name: str, body: ModelUpdateIn, r: Registry,
                 project: ProjectQ = "default") -> Response:
    """Edit a model's description, tags, owners or policy."""
    return json_response(r.update_model(project, name, description=body.description,
                                        tags=body.tags, owners=body.owners,
                                        policy=body.policy))


# -- versions ------------------------------------------------------------------------------


@router.post("/model-versions", response_model=ModelVersion, status_code=201,
             responses=CONFLICT)
def create_version(spec: ModelVersionSpec, r: Registry) -> Response:
    """Register the next version of ``spec.model`` (created if new) from files uploaded
    as blobs (``PUT /blobs/{digest}``).

    The body names project and model, so this is not under ``/models/{name}/``: names
    are validated like every other field (a bad one is 422, not a missing route).
    """
    return json_response(r.create_version(spec), status_code=201)


@router.get("/models/{name}/versions", response_model=list[ModelVersion])
def list_versions(name: str, r: Registry, project: ProjectQ = "default",
                  include_archived: bool = True) -> Response:
    """The versions of a model, oldest first."""
    return json_response(r.list_versions(project, name, include_archived=include_archived))


@router.get("/models/{name}/versions/{version}", response_model=ModelVersion)
def get_version(name: str, version: VersionNo, r: Registry,
                project: ProjectQ = "default") -> Response:
    """One version with its files, signature and lineage."""
    return json_response(r.get_version(project, name, version))


@router.patch("/models/{name}/versions/{version}", response_model=ModelVersion,
              responses=CONFLICT)
def update_version(name: str, version: VersionNo, body: VersionUpdateIn, r: Registry,
                   project: ProjectQ = "default") -> Response:
    """Edit a version's description or tags, or archive/restore it (the rest is immutable)."""
    return json_response(r.update_version(project, name, version,
                                          description=body.description, tags=body.tags,
                                          status=body.status))


@router.delete("/models/{name}/versions/{version}", status_code=204, responses=CONFLICT)
def delete_version(name: str, version: VersionNo, r: Registry,
                   project: ProjectQ = "default") -> Response:
    """Delete a version (refused while an alias points at it; its number is not reused)."""
    r.delete_version(project, name, version)
    return Response(status_code=204)


@router.get("/model-versions/resolve", response_model=ModelVersion)
def resolve(r: Registry, ref: Annotated[str, Query(max_length=512, description=(
        "NAME@ALIAS, NAME/VERSION, NAME/latest or models:/[PROJECT/]NAME..."))],
            project: ProjectQ = "default") -> Response:
    """The version a reference names (a ``models:/PROJECT/...`` project wins).

    Not under ``/models/``: a model may be named ``resolve``.
    """
    # A sync route on purpose (the hot path of serving and the loop): calling the store
    # from an async route saved about 0.1 ms a call in the thread-pool hop, but a read
    # that waits (a locked SQLite file, a slow PostgreSQL) would then stall every request.
    return json_response(r.resolve(project, ref))


# -- aliases -------------------------------------------------------------------------------


@router.get("/models/{name}/aliases/{alias}", response_model=ModelVersion)
def get_alias(name: str, alias: str, r: Registry, project: ProjectQ = "default") -> Response:
    """The version ``alias`` points at (``GET /model-versions/resolve?ref=NAME@ALIAS``)."""
    return json_response(r.resolve(project, f"{name}@{alias}"))


@router.put("/models/{name}/aliases/{alias}", response_model=AliasChange, responses=CONFLICT)
def set_alias(name: str, alias: str, body: AliasIn, r: Registry,
              project: ProjectQ = "default") -> AliasChange:
    """Point ``alias`` at a version in one transaction (compare-and-set with
    ``expected_version``). A protected alias moves only through a promotion request, or
    with ``force`` by a models.admin."""
    previous = r.set_alias(project, name, alias, body.version, reason=body.reason,
                           expected_version=body.expected_version, force=body.force)
    return AliasChange(model=name, alias=alias, version=body.version, previous=previous)


@router.delete("/models/{name}/aliases/{alias}", response_model=AliasChange,
               responses=CONFLICT)
def delete_alias(name: str, alias: str, r: Registry, project: ProjectQ = "default",
                 reason: str = "", force: bool = False) -> AliasChange:
    """Remove an alias (a protected one only with ``force``, by a models.admin)."""
    previous = r.delete_alias(project, name, alias, reason=reason, force=force)
    return AliasChange(model=name, alias=alias, version=None, previous=previous)


@router.get("/models/{name}/alias-history", response_model=list[AliasEvent])
def alias_history(name: str, r: Registry, project: ProjectQ = "default",
                  alias: str | None = None) -> Response:
    """Every set, move and delete of the model's aliases (or of one), oldest first."""
    return json_response(r.alias_history(project, name, alias))


# -- promotion requests --------------------------------------------------------------------


@router.post("/promotions", response_model=PromotionRequest, status_code=201,
             responses=CONFLICT)
def request_promotion(body: PromotionIn, r: Registry) -> Response:
    """Ask for ``alias`` to point at ``version``; it applies as soon as the model's policy
    is met (at once for an unprotected alias)."""
    return json_response(r.request_promotion(body.project, body.model, body.version,
                                             body.alias, reason=body.reason), status_code=201)


@router.get("/promotions", response_model=list[PromotionRequest])
def list_requests(r: Registry, project: ProjectQ = "default", model: str | None = None,
                  status: PromotionStatus | None = None) -> Response:
    """Promotion requests of a project, oldest first."""
    return json_response(r.list_requests(project, model=model, status=status))


@router.get("/promotions/{request_id}", response_model=PromotionRequest)
def get_request(request_id: RequestNo, r: Registry) -> Response:
    """One promotion request with its approvals and gate results."""
    return json_response(r.get_request(request_id))


@router.post("/promotions/{request_id}/approve", response_model=PromotionRequest,
             responses=CONFLICT)
def approve(request_id: RequestNo, body: DecisionIn, r: Registry) -> Response:
    """Approve a pending request (applied if that satisfies the policy)."""
    return json_response(r.decide(request_id, approve=True, comment=body.comment))


@router.post("/promotions/{request_id}/reject", response_model=PromotionRequest,
             responses=CONFLICT)
def reject(request_id: RequestNo, body: DecisionIn, r: Registry) -> Response:
    """Reject a pending request, which closes it."""
    return json_response(r.decide(request_id, approve=False, comment=body.comment))


@router.post("/promotions/{request_id}/gates", response_model=PromotionRequest,
             responses=CONFLICT)
def record_gate(request_id: RequestNo, body: GateIn, r: Registry) -> Response:
    """Record a CI/CD gate result on a pending request (models.deploy)."""
    return json_response(r.record_gate(request_id, body.gate, passed=body.passed,
                                       details=body.details))


@router.post("/promotions/{request_id}/cancel", response_model=PromotionRequest,
             responses=CONFLICT)
def cancel_request(request_id: RequestNo, body: CancelIn, r: Registry) -> Response:
    """Withdraw a pending request (its requester, or a models.admin)."""
    return json_response(r.cancel_request(request_id, reason=body.reason))


# -- comments ------------------------------------------------------------------------------


@router.post("/comments", response_model=Comment, status_code=201)
def add_comment(body: CommentIn, r: Registry) -> Response:
    """Comment on a run or a model version."""
    return json_response(r.add_comment(body.object_type, body.object_id, body.text,
                                       project=body.project), status_code=201)


@router.get("/comments", response_model=list[Comment])
def list_comments(r: Registry, object_type: Annotated[str, Query()],
                  object_id: Annotated[str, Query()], project: str | None = None) -> Response:
    """Comments on a run or a model version, oldest first."""
    return json_response(r.list_comments(object_type, object_id, project=project))
