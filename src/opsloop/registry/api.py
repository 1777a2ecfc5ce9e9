"""The registry API over the local stores, one unit of work per call, as one actor.

:class:`LocalRegistry` is what the embedded client uses and what the HTTP server calls
(with the actor of each request), so both behave the same by construction; the HTTP
client implements the same methods over the REST API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opsloop.auth.api import local_actor
from opsloop.auth.entities import Actor
from opsloop.errors import Conflict, InvalidInput, NotFound
from opsloop.registry import service
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
from opsloop.store import ArtifactStore, Database

__all__ = ["LocalRegistry"]


class LocalRegistry:
    """Registered models, versions, aliases, promotions and comments.

    Example:
        >>> import tempfile
        >>> from opsloop.config import Settings
        >>> reg = LocalRegistry.from_settings(Settings(home=tempfile.mkdtemp()))
        >>> reg.create_model("default", "credit-risk").policy.protected["champion"].approvals
        1
    """

    def __init__(self, db: Database, artifacts: ArtifactStore,
                 actor: Actor | None = None) -> None:
        self.db = db
        self.artifacts = artifacts
        self.actor = actor or local_actor()

    @classmethod
    def from_settings(cls, settings: Any, actor: Actor | None = None) -> LocalRegistry:
        from opsloop.store import open_artifact_store, open_database

        return cls(open_database(settings.database_url),
                   open_artifact_store(settings.artifacts,
                                       s3_endpoint_url=settings.s3_endpoint_url), actor)

    def with_actor(self, actor: Actor) -> LocalRegistry:
        return LocalRegistry(self.db, self.artifacts, actor)

    def close(self) -> None:
        """Nothing to release: engines are shared per process."""

    # -- models ------------------------------------------------------------------------

    def create_model(self, project: str, name: str, *, description: str = "",
                     tags: Mapping[str, Any] | None = None, policy: ModelPolicy | None = None,
                     exist_ok: bool = False) -> RegisteredModel:
        return self.db.write(lambda s: service.create_model(
            s, self.actor, project, name, description=description, tags=tags, policy=policy,
            exist_ok=exist_ok))

    def get_model(self, project: str, name: str) -> RegisteredModel:
        return self.db.read(lambda s: service.get_model(s, self.actor, project, name))

    def list_models(self, project: str) -> list[RegisteredModel]:
        return self.db.read(lambda s: service.list_models(s, self.actor, project))

    def update_model(self, project: str, name: str, *, description: str | None = None,
                     tags: Mapping[str, Any] | None = None, owners: list[str] | None = None,
                     policy: ModelPolicy | None = None) -> RegisteredModel:
        return self.db.write(lambda s: service.update_model(
            s, self.actor, project, name, description=description, tags=tags, owners=owners,
            policy=policy))

    # -- versions ----------------------------------------------------------------------

    def create_version(self, spec: ModelVersionSpec) -> ModelVersion:
        """Register a version whose files were uploaded as blobs (each is checked here)."""
        for path, digest in spec.files.items():
            try:
                size = self.artifacts.size(digest.sha256)
            except NotFound:
                raise NotFound("blob", f"sha256:{digest.sha256}",
                               hint=f"upload {path!r} before registering the version") from None
            if size != digest.size:
                raise InvalidInput(f"files[{path!r}].size", digest.size,
                                   f"the stored blob has {size} bytes")
        return self.db.write(lambda s: service.create_version(s, self.actor, spec))

    def get_version(self, project: str, model: str, version: int) -> ModelVersion:
        return self.db.read(lambda s: service.get_version(s, self.actor, project, model,
                                                          version))

    def list_versions(self, project: str, model: str, *,
                      include_archived: bool = True) -> list[ModelVersion]:
        return self.db.read(lambda s: service.list_versions(
            s, self.actor, project, model, include_archived=include_archived))

    def resolve(self, project: str, ref: str) -> ModelVersion:
        """The version ``name@alias``, ``name/3``, ``name/latest`` or ``models:/...`` names."""
        return self.db.read(lambda s: service.resolve(s, self.actor, project, ref))

    def update_version(self, project: str, model: str, version: int, *,
                       description: str | None = None, tags: Mapping[str, Any] | None = None,
                       status: VersionStatus | str | None = None) -> ModelVersion:
        return self.db.write(lambda s: service.update_version(
            s, self.actor, project, model, version, description=description, tags=tags,
            status=status))

    def delete_version(self, project: str, model: str, version: int) -> None:
        self.db.write(lambda s: service.delete_version(s, self.actor, project, model, version))

    # -- aliases -----------------------------------------------------------------------

    def set_alias(self, project: str, model: str, alias: str, version: int, *,
                  reason: str = "", expected_version: int | None = -1,
                  force: bool = False) -> int | None:
        return self.db.write(lambda s: service.set_alias(
            s, self.actor, project, model, alias, version, reason=reason,
            expected_version=expected_version, force=force))

    def delete_alias(self, project: str, model: str, alias: str, *, reason: str = "",
                     force: bool = False) -> int | None:
        return self.db.write(lambda s: service.set_alias(
            s, self.actor, project, model, alias, None, reason=reason, force=force))

    def alias_history(self, project: str, model: str,
                      alias: str | None = None) -> list[AliasEvent]:
        return self.db.read(lambda s: service.alias_history(s, self.actor, project, model,
                                                            alias))

    # -- promotions --------------------------------------------------------------------

    def request_promotion(self, project: str, model: str, version: int, alias: str, *,
                          reason: str = "") -> PromotionRequest:
        return _raise_if_stale(self.db.write(lambda s: service.request_promotion(
            s, self.actor, project, model, version, alias, reason=reason)))

    def decide(self, request_id: int, *, approve: bool, comment: str = "") -> PromotionRequest:
        return _raise_if_stale(self.db.write(lambda s: service.decide(
            s, self.actor, request_id, approve=approve, comment=comment)))

    def record_gate(self, request_id: int, gate: str, *, passed: bool,
                    details: Mapping[str, Any] | None = None) -> PromotionRequest:
        return _raise_if_stale(self.db.write(lambda s: service.record_gate(
            s, self.actor, request_id, gate, passed=passed, details=details)))

    def cancel_request(self, request_id: int, *, reason: str = "") -> PromotionRequest:
        return self.db.write(lambda s: service.cancel_request(s, self.actor, request_id,
                                                              reason))

    def get_request(self, request_id: int) -> PromotionRequest:
        return self.db.read(lambda s: service.get_request(s, self.actor, request_id))

    def list_requests(self, project: str, *, model: str | None = None,
                      status: PromotionStatus | str | None = None) -> list[PromotionRequest]:
        return self.db.read(lambda s: service.list_requests(s, self.actor, project,
                                                            model=model, status=status))

    # -- comments ----------------------------------------------------------------------

    def add_comment(self, object_type: str, object_id: str, text: str, *,
                    project: str | None = None) -> Comment:
        return self.db.write(lambda s: service.add_comment(s, self.actor, object_type,
                                                           object_id, text, project=project))

    def list_comments(self, object_type: str, object_id: str, *,
                      project: str | None = None) -> list[Comment]:
        return self.db.read(lambda s: service.list_comments(s, self.actor, object_type,
                                                            object_id, project=project))


def _raise_if_stale(request: PromotionRequest) -> PromotionRequest:
    """A request that became stale was committed as such; the caller still gets an error."""
    if request.status is PromotionStatus.STALE:
        raise Conflict(
            f"promotion request {request.id} lost a race: alias {request.alias!r} of "
            f"{request.project}/{request.model} moved after the request was made "
            f"(it expected version {request.from_version})",
            hint="look at the alias again and make a new request if still wanted",
            request_id=request.id)
    return request

