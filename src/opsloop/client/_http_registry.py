"""The registry and auth APIs over HTTP: the same methods as
:class:`~opsloop.registry.api.LocalRegistry` and :class:`~opsloop.auth.api.LocalAuth`.

They share the connection, token and error mapping of :class:`HttpTracking`, so a
server's error comes back as the same :mod:`opsloop.errors` class a local call raises.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, TypeAdapter

from opsloop.auth.entities import (
    ALL_PROJECTS,
    AuditEvent,
    Principal,
    PrincipalKind,
    Role,
    TokenInfo,
)
from opsloop.client._http import API, HttpTracking, _seg
from opsloop.errors import NotFound
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
    check_alias,
)

__all__ = ["HttpAuth", "HttpRegistry"]

_models = TypeAdapter(list[RegisteredModel])
_versions = TypeAdapter(list[ModelVersion])
_alias_events = TypeAdapter(list[AliasEvent])
_requests = TypeAdapter(list[PromotionRequest])
_comments = TypeAdapter(list[Comment])
_principals = TypeAdapter(list[Principal])
_tokens = TypeAdapter(list[TokenInfo])
_audit = TypeAdapter(list[AuditEvent])


def _tags(tags: Mapping[str, Any] | None) -> dict[str, str] | None:
    """Tag values as the local API stores them (``str(value)``)."""
    return None if tags is None else {k: str(v) for k, v in tags.items()}


def _policy(policy: ModelPolicy | None) -> dict[str, Any] | None:
    return None if policy is None else policy.model_dump(mode="json")


def _segment(value: str, kind: str, ident: str) -> str:
    """``value`` as one path segment, whatever a caller passes.

    ``.`` and ``..`` are percent-encoded so that no one on the way removes them as dot
    segments; an empty name cannot be a segment, and names nothing, as it does locally.
    """
    if not value:
        raise NotFound(kind, ident)
    return value.replace(".", "%2E") if value in (".", "..") else _seg(value)


def _model(project: str, name: str) -> str:
    return f"{API}/models/{_segment(name, 'registered model', f'{project}/{name}')}"


def _user(name: str) -> str:
    return f"{API}/users/{_segment(name, 'principal', name)}"


def _alias(alias: str) -> str:
    """An alias as a path segment; checked first, as the local API does (a bad alias is
    invalid input, not a route that does not exist)."""
    return _seg(check_alias(alias))


def _enum(value: Any) -> Any:
    return getattr(value, "value", value)


class _Api:
    def __init__(self, http: HttpTracking) -> None:
        self._http = http

    def close(self) -> None:
        """Nothing to release: the connection belongs to the tracking transport."""

    def _call(self, method: str, url: str, *, params: Mapping[str, Any] | None = None,
              body: Any = None) -> bytes:
        clean = {k: _enum(v) for k, v in (params or {}).items() if v is not None}
        if isinstance(body, BaseModel):
            return self._http._request(method, url, params=clean,
                                       content=body.model_dump_json(),
                                       headers={"Content-Type": "application/json"}).content
        if body is None:
            return self._http._request(method, url, params=clean).content
        return self._http._request(method, url, params=clean, json=body).content


class HttpRegistry(_Api):
    """:class:`~opsloop.client.transport.RegistryTransport` over ``/api/v1``."""

    # -- models ------------------------------------------------------------------------

    def create_model(self, project: str, name: str, *, description: str = "",
                     tags: Mapping[str, Any] | None = None, policy: ModelPolicy | None = None,
                     exist_ok: bool = False) -> RegisteredModel:
        return RegisteredModel.model_validate_json(self._call("POST", f"{API}/models", body={
            "project": project, "name": name, "description": description,
            "tags": _tags(tags) or {}, "policy": _policy(policy), "exist_ok": exist_ok}))

    def get_model(self, project: str, name: str) -> RegisteredModel:
        return RegisteredModel.model_validate_json(
            self._call("GET", _model(project, name), params={"project": project}))

    def list_models(self, project: str) -> list[RegisteredModel]:
        return _models.validate_json(
            self._call("GET", f"{API}/models", params={"project": project}))

    def update_model(self, project: str, name: str, *, description: str | None = None,
                     tags: Mapping[str, Any] | None = None, owners: list[str] | None = None,
                     policy: ModelPolicy | None = None) -> RegisteredModel:
        body = {"description": description, "tags": _tags(tags),
                "owners": None if owners is None else list(owners), "policy": _policy(policy)}
        return RegisteredModel.model_validate_json(self._call(
            "PATCH", _model(project, name), params={"project": project}, body=body))

    # -- versions ----------------------------------------------------------------------

    def create_version(self, spec: ModelVersionSpec) -> ModelVersion:
        return ModelVersion.model_validate_json(
            self._call("POST", f"{API}/model-versions", body=spec))

    def get_version(self, project: str, model: str, version: int) -> ModelVersion:
        return ModelVersion.model_validate_json(self._call(
            "GET", f"{_model(project, model)}/versions/{int(version)}",
            params={"project": project}))

    def list_versions(self, project: str, model: str, *,
                      include_archived: bool = True) -> list[ModelVersion]:
        return _versions.validate_json(self._call(
            "GET", f"{_model(project, model)}/versions",
            params={"project": project, "include_archived": include_archived}))

    def resolve(self, project: str, ref: str) -> ModelVersion:
        return ModelVersion.model_validate_json(self._call(
            "GET", f"{API}/model-versions/resolve", params={"project": project, "ref": ref}))

    def update_version(self, project: str, model: str, version: int, *,
                       description: str | None = None, tags: Mapping[str, Any] | None = None,
                       status: VersionStatus | str | None = None) -> ModelVersion:
        body = {"description": description, "tags": _tags(tags), "status": _enum(status)}
        return ModelVersion.model_validate_json(self._call(
            "PATCH", f"{_model(project, model)}/versions/{int(version)}",
            params={"project": project}, body=body))

    def delete_version(self, project: str, model: str, version: int) -> None:
        self._call("DELETE", f"{_model(project, model)}/versions/{int(version)}",
                   params={"project": project})

    # -- aliases -----------------------------------------------------------------------

    def set_alias(self, project: str, model: str, alias: str, version: int, *,
                  reason: str = "", expected_version: int | None = -1,
                  force: bool = False) -> int | None:
        segment = _alias(alias)
        body = {"version": version, "reason": reason, "expected_version": expected_version,
                "force": force}
        return _previous(self._call("PUT", f"{_model(project, model)}/aliases/{segment}",
                                    params={"project": project}, body=body))

    def delete_alias(self, project: str, model: str, alias: str, *, reason: str = "",
                     force: bool = False) -> int | None:
        segment = _alias(alias)
        return _previous(self._call(
            "DELETE", f"{_model(project, model)}/aliases/{segment}",
            params={"project": project, "reason": reason, "force": force}))

    def alias_history(self, project: str, model: str,
                      alias: str | None = None) -> list[AliasEvent]:
        return _alias_events.validate_json(self._call(
            "GET", f"{_model(project, model)}/alias-history",
            params={"project": project, "alias": alias}))

    # -- promotions --------------------------------------------------------------------

    def request_promotion(self, project: str, model: str, version: int, alias: str, *,
                          reason: str = "") -> PromotionRequest:
        return PromotionRequest.model_validate_json(self._call("POST", f"{API}/promotions", body={
            "project": project, "model": model, "version": version, "alias": alias,
            "reason": reason}))

    def decide(self, request_id: int, *, approve: bool, comment: str = "") -> PromotionRequest:
        verb = "approve" if approve else "reject"
        return PromotionRequest.model_validate_json(self._call(
            "POST", f"{API}/promotions/{int(request_id)}/{verb}", body={"comment": comment}))

    def record_gate(self, request_id: int, gate: str, *, passed: bool,
                    details: Mapping[str, Any] | None = None) -> PromotionRequest:
        return PromotionRequest.model_validate_json(self._call(
            "POST", f"{API}/promotions/{int(request_id)}/gates",
            body={"gate": gate, "passed": passed, "details": dict(details or {})}))

    def cancel_request(self, request_id: int, *, reason: str = "") -> PromotionRequest:
        return PromotionRequest.model_validate_json(self._call(
            "POST", f"{API}/promotions/{int(request_id)}/cancel", body={"reason": reason}))

    def get_request(self, request_id: int) -> PromotionRequest:
        return PromotionRequest.model_validate_json(
            self._call("GET", f"{API}/promotions/{int(request_id)}"))

    def list_requests(self, project: str, *, model: str | None = None,
                      status: PromotionStatus | str | None = None) -> list[PromotionRequest]:
        return _requests.validate_json(self._call(
            "GET", f"{API}/promotions",
            params={"project": project, "model": model, "status": status}))

    # -- comments ----------------------------------------------------------------------

    def add_comment(self, object_type: str, object_id: str, text: str, *,
                    project: str | None = None) -> Comment:
        return Comment.model_validate_json(self._call("POST", f"{API}/comments", body={
            "object_type": object_type, "object_id": object_id, "text": text,
            "project": project}))

    def list_comments(self, object_type: str, object_id: str, *,
                      project: str | None = None) -> list[Comment]:
        return _comments.validate_json(self._call(
            "GET", f"{API}/comments",
            params={"object_type": object_type, "object_id": object_id, "project": project}))


def _previous(answer: bytes) -> int | None:
    """The version an alias pointed at before a change, from an ``AliasChange``."""
    previous = json.loads(answer)["previous"]
    return None if previous is None else int(previous)


class HttpAuth(_Api):
    """:class:`~opsloop.client.transport.AuthTransport` over ``/api/v1``."""

    def whoami(self) -> Principal:
        return Principal.model_validate_json(self._call("GET", f"{API}/whoami"))

    def create_user(self, name: str, *, kind: PrincipalKind | str = PrincipalKind.USER,
                    roles: Mapping[str, Sequence[Role | str]] | None = None,
                    display_name: str = "", email: str = "") -> Principal:
        body = {"name": name, "kind": _enum(kind),
                "roles": {p: [_enum(r) for r in rs] for p, rs in (roles or {}).items()},
                "display_name": display_name, "email": email}
        return Principal.model_validate_json(self._call("POST", f"{API}/users", body=body))

    def get_user(self, name: str) -> Principal:
        return Principal.model_validate_json(self._call("GET", _user(name)))

    def list_users(self) -> list[Principal]:
        return _principals.validate_json(self._call("GET", f"{API}/users"))

    def grant(self, name: str, role: Role | str, project: str = ALL_PROJECTS) -> Principal:
        return Principal.model_validate_json(self._call(
            "POST", f"{_user(name)}/roles",
            body={"role": _enum(role), "project": project}))

    def revoke_role(self, name: str, role: Role | str,
                    project: str = ALL_PROJECTS) -> Principal:
        return Principal.model_validate_json(self._call(
            "DELETE", f"{_user(name)}/roles",
            params={"role": role, "project": project}))

    def set_disabled(self, name: str, disabled: bool = True) -> Principal:
        verb = "disable" if disabled else "enable"
        return Principal.model_validate_json(
            self._call("POST", f"{_user(name)}/{verb}"))

    def create_token(self, principal: str | None = None, *, name: str = "",
                     expires_at: int | None = None) -> TokenInfo:
        return TokenInfo.model_validate_json(self._call("POST", f"{API}/tokens", body={
            "principal": principal, "name": name, "expires_at": expires_at}))

    def list_tokens(self, principal: str | None = None) -> list[TokenInfo]:
        return _tokens.validate_json(
            self._call("GET", f"{API}/tokens", params={"principal": principal}))

    def revoke_token(self, token_id: str) -> TokenInfo:
        return TokenInfo.model_validate_json(
            self._call("DELETE", f"{API}/tokens/{_segment(token_id, 'token', token_id)}"))

    def audit(self, *, project: str | None = None, object_type: str | None = None,
              object_id: str | None = None, actor: str | None = None,
              action: str | None = None, since: int | None = None, until: int | None = None,
              limit: int = 1000) -> list[AuditEvent]:
        return _audit.validate_json(self._call("GET", f"{API}/audit", params={
            "project": project, "object_type": object_type, "object_id": object_id,
            "actor": actor, "action": action, "since": since, "until": until,
            "limit": limit}))
