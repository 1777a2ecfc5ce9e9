"""Business rules of the model registry. Every function takes a Session and never commits.

Rules kept here, whatever the caller (Python, CLI, REST):

* version numbers are 1, 2, ... per model with no gaps: ``registered_models.last_version``
  is incremented in the transaction that inserts the version (on PostgreSQL the update
  locks the model row; on SQLite the write transaction holds the database lock);
* an alias move is one UPDATE in one transaction, after locking the model row, and is
  recorded (alias history and audit log) in the same transaction;
* a protected alias moves only through a promotion request that satisfies the model's
  policy (or with ``force`` by a ``models.admin``); a request applies only if the alias
  still points where it pointed when the request was made, so of two racing promotions
  exactly one wins and the other becomes ``stale``;
* a version an alias points at cannot be deleted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from opsloop._names import check_choice, check_key, check_name, check_tag_value, check_text
from opsloop.auth import service as auth
from opsloop.auth.entities import Actor, Permission, Role
from opsloop.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from opsloop.registry.entities import (
    MAX_DESCRIPTION,
    MAX_FILES,
    MAX_TAGS,
    AliasEvent,
    AliasPolicy,
    Approval,
    Comment,
    DatasetRef,
    GateResult,
    ModelPolicy,
    ModelRef,
    ModelVersion,
    ModelVersionSpec,
    PromotionRequest,
    PromotionStatus,
    RegisteredModel,
    VersionStatus,
    check_alias,
)
from opsloop.registry.flavors import FLAVORS
from opsloop.registry.manifest import FileDigest
from opsloop.store.orm import (
    AliasEventRow,
    ApprovalRow,
    CommentRow,
    ModelAliasRow,
    ModelOwnerRow,
    ModelVersionRow,
    ProjectRow,
    PromotionRequestRow,
    RegisteredModelRow,
)
from opsloop.tracking import service as tracking
from opsloop.tracking.entities import SourceVersion

P = Permission


_mv, _ma, _rm, _pj = (cast(Table, row.__table__) for row in (
    ModelVersionRow, ModelAliasRow, RegisteredModelRow, ProjectRow))
# The hot path (serving and the loop resolve aliases all the time): prebuilt Core
# statements with bind parameters, two round trips, no ORM objects.
_RESOLVE_ALIAS = (
    select(*_mv.c)
    .join(_ma, _ma.c.version_id == _mv.c.id)
    .join(_rm, _rm.c.id == _ma.c.model_id)
    .join(_pj, _pj.c.id == _rm.c.project_id)
    .where(_pj.c.name == bindparam("project"), _rm.c.name == bindparam("model"),
           _ma.c.alias == bindparam("alias")))
_VERSION_COLUMNS = tuple(c.key for c in _mv.c)
_ALIASES_OF = select(_ma.c.alias).where(_ma.c.version_id == bindparam("vid")).order_by(
    _ma.c.alias)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# -- validation ----------------------------------------------------------------------------


def _check_description(text: str) -> str:
    check_text("description", text)
    if len(text) > MAX_DESCRIPTION:
        raise InvalidInput("description", f"{len(text):,} characters",
                           f"must be at most {MAX_DESCRIPTION:,} characters")
    return text


def _check_tags(tags: Mapping[str, Any]) -> dict[str, str]:
    if len(tags) > MAX_TAGS:
        raise InvalidInput("tags", f"{len(tags)} tags", f"at most {MAX_TAGS} tags")
    out = {}
    for key, value in tags.items():
        check_key("tag", key)
        out[key] = check_tag_value(key, str(value))
    return out


def _check_files(files: Mapping[str, FileDigest], manifest_digest: str) -> None:
    if not files or len(files) > MAX_FILES:
        raise InvalidInput("files", f"{len(files)} files", f"must hold 1-{MAX_FILES:,} files")
    for path, digest in files.items():
        tracking.check_artifact_path(path)
        if len(digest.sha256) != 64 or any(c not in "0123456789abcdef" for c in digest.sha256):
            raise InvalidInput(f"files[{path!r}].sha256", digest.sha256,
                               "must be 64 lower-case hex digits")
        if digest.size < 0:
            raise InvalidInput(f"files[{path!r}].size", digest.size, "must be >= 0")
    if not any(d.sha256 == manifest_digest for d in files.values()):
        raise InvalidInput("manifest_digest", manifest_digest,
                           "must be the digest of one of the files (opsloop-model.json)")


MAX_METADATA_BYTES = 1_000_000


def _check_size(field: str, value: Any) -> None:
    size = len(json.dumps(value, default=str))
    if size > MAX_METADATA_BYTES:
        raise InvalidInput(field, f"{size:,} bytes of JSON",
                           f"must be at most {MAX_METADATA_BYTES:,} bytes")


# -- models --------------------------------------------------------------------------------


def _model_row(s: Session, project: str, name: str, *, lock: bool = False
               ) -> RegisteredModelRow:
    stmt = (select(RegisteredModelRow).join(ProjectRow)
            .where(ProjectRow.name == project, RegisteredModelRow.name == name))
    if lock and s.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=RegisteredModelRow)
    row = s.scalars(stmt).first()
    if row is None:
        raise NotFound("registered model", f"{project}/{name}",
                       hint="list models with: opsloop models list")
    return row


def _policy(row: RegisteredModelRow) -> ModelPolicy:
    return ModelPolicy.model_validate(row.policy)


def _model(s: Session, row: RegisteredModelRow, project: str) -> RegisteredModel:
    aliases: dict[str, int] = {a: v for a, v in s.execute(  # noqa: C416 -- rows, not pairs
        select(ModelAliasRow.alias, ModelVersionRow.version)
        .join(ModelVersionRow, ModelVersionRow.id == ModelAliasRow.version_id)
        .where(ModelAliasRow.model_id == row.id).order_by(ModelAliasRow.alias))}
    owners = list(s.scalars(select(ModelOwnerRow.principal)
                            .where(ModelOwnerRow.model_id == row.id)
                            .order_by(ModelOwnerRow.principal)))
    return RegisteredModel(id=row.id, project=project, name=row.name,
                           description=row.description, tags=row.tags, owners=owners,
                           aliases=aliases, policy=_policy(row),
                           latest_version=row.last_version, created_at=row.created_at,
                           created_by=row.created_by, updated_at=row.updated_at)


def create_model(s: Session, actor: Actor, project: str, name: str, *,
                 description: str = "", tags: Mapping[str, Any] | None = None,
                 policy: ModelPolicy | None = None,
                 exist_ok: bool = False) -> RegisteredModel:
    """A new registered model; its creator is its first owner."""
    auth.require(actor, P.MODELS_REGISTER, project)
    check_name("model", name)
    proj = tracking.get_or_create_project(s, project)
    existing = s.scalars(select(RegisteredModelRow).where(
        RegisteredModelRow.project_id == proj.id, RegisteredModelRow.name == name)).first()
    if existing is not None:
        if exist_ok:
            return _model(s, existing, project)
        raise AlreadyExists("registered model", f"{project}/{name}")
    now = now_ms()
    row = RegisteredModelRow(
        project_id=proj.id, name=name, description=_check_description(description),
        tags=_check_tags(tags or {}), policy=(policy or ModelPolicy()).model_dump(mode="json"),
        last_version=0, created_at=now, created_by=actor.name, updated_at=now)
    s.add(row)
    s.flush()
    s.add(ModelOwnerRow(model_id=row.id, principal=actor.name))
    s.flush()
    auth.record(s, actor, "model.create", "model", f"{project}/{name}", project=project,
                after={"description": row.description, "tags": row.tags,
                       "policy": row.policy})
    return _model(s, row, project)


def get_model(s: Session, actor: Actor, project: str, name: str) -> RegisteredModel:
    auth.require(actor, P.VIEW, project)
    return _model(s, _model_row(s, project, name), project)


def list_models(s: Session, actor: Actor, project: str) -> list[RegisteredModel]:
    auth.require(actor, P.VIEW, project)
    rows = s.scalars(select(RegisteredModelRow).join(ProjectRow)
                     .where(ProjectRow.name == project).order_by(RegisteredModelRow.name))
    return [_model(s, r, project) for r in rows]


def _require_model_admin(actor: Actor, s: Session, row: RegisteredModelRow,
                         project: str) -> None:
    """Owners with ``models.register`` may manage their model; others need ``models.admin``."""
    if actor.principal.can(P.MODELS_ADMIN, project):
        return
    is_owner = s.get(ModelOwnerRow, (row.id, actor.name)) is not None
    if not (is_owner and actor.principal.can(P.MODELS_REGISTER, project)):
        auth.require(actor, P.MODELS_ADMIN, project)


def update_model(s: Session, actor: Actor, project: str, name: str, *,
                 description: str | None = None, tags: Mapping[str, Any] | None = None,
                 owners: list[str] | None = None,
                 policy: ModelPolicy | None = None) -> RegisteredModel:
    """Edit a model's description, tags, owners or policy (policy needs ``models.admin``)."""
    auth.require(actor, P.VIEW, project)  # before any lookup: no 404/403 oracle
    row = _model_row(s, project, name, lock=True)
    if policy is not None:
        auth.require(actor, P.MODELS_ADMIN, project)
    else:
        _require_model_admin(actor, s, row, project)
    before = _model(s, row, project)
    if description is not None:
        row.description = _check_description(description)
    if tags is not None:
        row.tags = _check_tags(tags)
    if policy is not None:
        row.policy = policy.model_dump(mode="json")
    if owners is not None:
        for owner in owners:
            check_name("owner", owner)
        s.execute(delete(ModelOwnerRow).where(ModelOwnerRow.model_id == row.id))
        for owner in sorted(set(owners)):
            s.add(ModelOwnerRow(model_id=row.id, principal=owner))
    row.updated_at = now_ms()
    s.flush()
    after = _model(s, row, project)
    keys = ("description", "tags", "owners", "policy")
    auth.record(s, actor, "model.update", "model", f"{project}/{name}", project=project,
                before=before.model_dump(mode="json", include=set(keys)),
                after=after.model_dump(mode="json", include=set(keys)))
    return after


# -- versions ------------------------------------------------------------------------------


def _version(row: ModelVersionRow, project: str, model: str,
             aliases: list[str]) -> ModelVersion:
    return _version_from_mapping({c: getattr(row, c) for c in _VERSION_COLUMNS}, project,
                                 model, aliases)


def _aliases_of(s: Session, version_id: int) -> list[str]:
    return list(s.scalars(select(ModelAliasRow.alias)
                          .where(ModelAliasRow.version_id == version_id)
                          .order_by(ModelAliasRow.alias)))


def create_version(s: Session, actor: Actor, spec: ModelVersionSpec) -> ModelVersion:
    """Register the next version of ``spec.model`` (the model is created if new).

    Lineage comes from the source run, read in the same transaction: its code version,
    the dataset versions it read, its params and latest metrics.
    """
    project = spec.project
    auth.require(actor, P.MODELS_REGISTER, project)
    check_name("model", spec.model)
    if spec.flavor not in FLAVORS:
        raise InvalidInput("flavor", spec.flavor, f"must be one of {', '.join(sorted(FLAVORS))}")
    _check_files(spec.files, spec.manifest_digest)
    _check_size("environment", spec.environment)
    if spec.signature is not None:
        _check_size("signature", spec.signature.model_dump(mode="json"))
    description, tags = _check_description(spec.description), _check_tags(spec.tags)
    source, datasets, params, metrics = SourceVersion(), [], {}, {}
    if spec.run_id is not None:
        run = tracking.get_run(s, spec.run_id)
        if run.project != project:
            raise InvalidInput("run_id", spec.run_id,
                               f"belongs to project {run.project!r}, not {project!r}")
        source, params, metrics = run.source, dict(run.params), dict(run.metrics)
        datasets = [DatasetRef(id=d.id, dataset=d.dataset, version=d.version, digest=d.digest,
                               role=d.role or "") for d in tracking.run_inputs(s, spec.run_id)]
    for dv_id, role in spec.datasets:
        check_key("dataset role", role)
        dv = tracking.get_dataset_version_by_id(s, dv_id)
        datasets.append(DatasetRef(id=dv.id, dataset=dv.dataset, version=dv.version,
                                   digest=dv.digest, role=role))
    conn = s.connection()
    model_id = _model_id(conn, project, spec.model)
    if model_id is None:
        model_id = create_model(s, actor, project, spec.model, exist_ok=True).id
    # The counter: one UPDATE, serialized by the row lock (PostgreSQL) or the write lock
    # (SQLite). Core statements: this is the registration hot path.
    number = conn.execute(_BUMP_VERSION, {"mid": model_id, "now": now_ms()}).scalar_one()
    values = {
        "model_id": model_id, "version": number, "status": VersionStatus.READY.value,
        "flavor": spec.flavor, "run_id": spec.run_id, "source": source.model_dump(mode="json"),
        "datasets": [d.model_dump(mode="json") for d in datasets], "params": params,
        "metrics": {k: v for k, v in metrics.items() if v == v and abs(v) != float("inf")},
        "signature": None if spec.signature is None else spec.signature.model_dump(mode="json"),
        "environment": dict(spec.environment),
        "files": {k: v.model_dump(mode="json") for k, v in spec.files.items()},
        "manifest_digest": spec.manifest_digest, "description": description, "tags": tags,
        "created_at": now_ms(), "created_by": actor.name}
    values["id"] = conn.execute(_INSERT_VERSION, values).scalar_one()
    auth.record(s, actor, "model_version.create", "model_version",
                f"{project}/{spec.model}/{number}", project=project,
                after={"run_id": spec.run_id, "flavor": spec.flavor,
                       "manifest_digest": spec.manifest_digest})
    return _version_from_mapping(values, project, spec.model, [])


_MODEL_ID = (select(_rm.c.id).join(_pj, _pj.c.id == _rm.c.project_id)
             .where(_pj.c.name == bindparam("project"), _rm.c.name == bindparam("model")))
_BUMP_VERSION = (update(_rm).where(_rm.c.id == bindparam("mid"))
                 .values(last_version=_rm.c.last_version + 1, updated_at=bindparam("now"))
                 .returning(_rm.c.last_version))
_INSERT_VERSION = insert(_mv).returning(_mv.c.id)


def _model_id(conn: Any, project: str, model: str) -> int | None:
    stmt = _MODEL_ID
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=_rm)
    found = conn.execute(stmt, {"project": project, "model": model}).scalar()
    return None if found is None else int(found)


def _version_row(s: Session, model_id: int, version: int, ref: str) -> ModelVersionRow:
    row = s.scalars(select(ModelVersionRow).where(ModelVersionRow.model_id == model_id,
                                                  ModelVersionRow.version == version)).first()
    if row is None:
        raise NotFound("model version", ref, hint="list versions with: opsloop models versions")
    return row


def get_version(s: Session, actor: Actor, project: str, model: str,
                version: int) -> ModelVersion:
    auth.require(actor, P.VIEW, project)
    model_row = _model_row(s, project, model)
    row = _version_row(s, model_row.id, version, f"{project}/{model}/{version}")
    return _version(row, project, model, _aliases_of(s, row.id))


def list_versions(s: Session, actor: Actor, project: str, model: str, *,
                  include_archived: bool = True) -> list[ModelVersion]:
    auth.require(actor, P.VIEW, project)
    model_row = _model_row(s, project, model)
    stmt = select(ModelVersionRow).where(ModelVersionRow.model_id == model_row.id)
    if not include_archived:
        stmt = stmt.where(ModelVersionRow.status == VersionStatus.READY.value)
    rows = list(s.scalars(stmt.order_by(ModelVersionRow.version)))
    aliases: dict[int, list[str]] = {}
    for alias, vid in s.execute(select(ModelAliasRow.alias, ModelAliasRow.version_id)
                                .where(ModelAliasRow.model_id == model_row.id)
                                .order_by(ModelAliasRow.alias)):
        aliases.setdefault(vid, []).append(alias)
    return [_version(r, project, model, aliases.get(r.id, [])) for r in rows]



def _version_from_mapping(row: Any, project: str, model: str,
                          aliases: list[str]) -> ModelVersion:
    return ModelVersion.model_validate({
        "id": row["id"], "project": project, "model": model, "version": row["version"],
        "status": row["status"], "flavor": row["flavor"], "run_id": row["run_id"],
        "source": row["source"], "datasets": row["datasets"], "params": row["params"],
        "metrics": row["metrics"], "signature": row["signature"],
        "environment": row["environment"], "files": row["files"],
        "manifest_digest": row["manifest_digest"], "description": row["description"],
        "tags": row["tags"], "aliases": aliases, "created_at": row["created_at"],
        "created_by": row["created_by"]})


def resolve(s: Session, actor: Actor, project: str, ref: str | ModelRef) -> ModelVersion:
    """The version a reference names: ``name@alias``, ``name/3``, ``name/latest`` or a
    ``models:/`` URI (whose project, if given, wins over ``project``)."""
    r = ModelRef.parse(ref) if isinstance(ref, str) else ref
    project = r.project or project
    auth.require(actor, P.VIEW, project)
    if r.alias is not None:
        conn = s.connection()
        found = conn.execute(_RESOLVE_ALIAS, {"project": project, "model": r.name,
                                              "alias": r.alias}).mappings().first()
        if found is None:
            _model_row(s, project, r.name)  # NotFound for the model, if that is the cause
            raise NotFound("alias", f"{project}/{r.name}@{r.alias}",
                           hint=f"set it with: opsloop models alias {r.name} {r.alias} VERSION")
        aliases = list(conn.execute(_ALIASES_OF, {"vid": found["id"]}).scalars())
        return _version_from_mapping(found, project, r.name, aliases)
    model_row = _model_row(s, project, r.name)
    if r.version is None:  # latest ready version
        row = s.scalars(select(ModelVersionRow).where(
            ModelVersionRow.model_id == model_row.id,
            ModelVersionRow.status == VersionStatus.READY.value)
            .order_by(ModelVersionRow.version.desc()).limit(1)).first()
        if row is None:
            raise NotFound("model version", f"{project}/{r.name}/latest")
    else:
        row = _version_row(s, model_row.id, r.version, f"{project}/{r.name}/{r.version}")
    return _version(row, project, r.name, _aliases_of(s, row.id))


def update_version(s: Session, actor: Actor, project: str, model: str, version: int, *,
                   description: str | None = None, tags: Mapping[str, Any] | None = None,
                   status: VersionStatus | str | None = None) -> ModelVersion:
    """Edit what may change on a version: description, tags, and archived/ready status."""
    auth.require(actor, P.MODELS_ADMIN if status is not None else P.MODELS_REGISTER, project)
    model_row = _model_row(s, project, model)
    row = _version_row(s, model_row.id, version, f"{project}/{model}/{version}")
    before = {"description": row.description, "tags": row.tags, "status": row.status}
    if description is not None:
        row.description = _check_description(description)
    if tags is not None:
        row.tags = _check_tags(tags)
    if status is not None:
        new = check_choice(VersionStatus, status, "status")
        if new is VersionStatus.ARCHIVED and _aliases_of(s, row.id):
            raise Conflict(f"version {version} of {project}/{model} has aliases "
                           f"{_aliases_of(s, row.id)}; move them before archiving it")
        row.status = new.value
    s.flush()
    after = {"description": row.description, "tags": row.tags, "status": row.status}
    if after != before:
        auth.record(s, actor, "model_version.update", "model_version",
                    f"{project}/{model}/{version}", project=project, before=before,
                    after=after)
    return _version(row, project, model, _aliases_of(s, row.id))


def version_in_use(s: Session, version_id: int) -> list[str]:
    """What points at a version (aliases now; deployments once serving records them)."""
    return [f"alias {a}" for a in _aliases_of(s, version_id)]


def delete_version(s: Session, actor: Actor, project: str, model: str, version: int) -> None:
    """Delete a version's record (its number is never reused; its blobs stay until GC)."""
    auth.require(actor, P.MODELS_ADMIN, project)
    model_row = _model_row(s, project, model, lock=True)
    row = _version_row(s, model_row.id, version, f"{project}/{model}/{version}")
    users = version_in_use(s, row.id)
    if users:
        raise Conflict(f"version {version} of {project}/{model} is in use ({', '.join(users)})",
                       hint="move or delete the alias first")
    before = _version(row, project, model, []).model_dump(
        mode="json", include={"flavor", "run_id", "manifest_digest", "status"})
    s.delete(row)
    s.flush()
    auth.record(s, actor, "model_version.delete", "model_version",
                f"{project}/{model}/{version}", project=project, before=before)


# -- aliases -------------------------------------------------------------------------------


def _current_alias(s: Session, model_id: int, alias: str) -> tuple[ModelAliasRow | None,
                                                                     int | None]:
    row = s.get(ModelAliasRow, (model_id, alias))
    if row is None:
        return None, None
    number = s.scalar(select(ModelVersionRow.version).where(ModelVersionRow.id == row.version_id))
    return row, number


def _move_alias(s: Session, actor: Actor, project: str, model_row: RegisteredModelRow,
                alias: str, version: int | None, *, reason: str,
                request_id: int | None = None) -> int | None:
    """Point ``alias`` at ``version`` (``None`` deletes it); record it. Returns the old one."""
    current, old = _current_alias(s, model_row.id, alias)
    now = now_ms()
    if version is None:
        if current is None:
            raise NotFound("alias", f"{project}/{model_row.name}@{alias}")
        s.delete(current)
    else:
        target = _version_row(s, model_row.id, version, f"{project}/{model_row.name}/{version}")
        if target.status != VersionStatus.READY.value:
            raise Conflict(f"version {version} of {project}/{model_row.name} is {target.status}",
                           hint="set it back to ready before pointing an alias at it")
        if current is None:
            s.add(ModelAliasRow(model_id=model_row.id, alias=alias, version_id=target.id,
                                updated_at=now, updated_by=actor.name))
        else:
            current.version_id, current.updated_at = target.id, now
            current.updated_by = actor.name
    s.add(AliasEventRow(model_id=model_row.id, alias=alias, from_version=old,
                        to_version=version, at=now, actor=actor.name, reason=reason,
                        request_id=request_id))
    model_row.updated_at = now
    s.flush()
    auth.record(s, actor, "alias.delete" if version is None else "alias.set", "alias",
                f"{project}/{model_row.name}@{alias}", project=project,
                before={"version": old}, after={"version": version}, reason=reason)
    return old


def set_alias(s: Session, actor: Actor, project: str, model: str, alias: str,
              version: int | None, *, reason: str = "", expected_version: int | None = -1,
              force: bool = False) -> int | None:
    """Point ``alias`` at ``version`` (``None`` deletes it) in one transaction.

    Args:
        expected_version: compare-and-set: refuse with :class:`Conflict` unless the alias
            points at this version now (``None``: unset). The default ``-1`` skips the check.
        force: move a protected alias without a promotion request (``models.admin``).

    Returns:
        The version the alias pointed at before.
    """
    check_alias(alias)
    check_text("reason", reason)
    auth.require(actor, P.VIEW, project)  # before any lookup: no 404/403 oracle
    model_row = _model_row(s, project, model, lock=True)
    policy = _policy(model_row).protected.get(alias)
    if policy is not None:
        if not force:
            raise Conflict(
                f"alias {alias!r} of {project}/{model} is protected",
                hint=f"request it: opsloop models promote {model} VERSION --to {alias} "
                     "(or an admin may pass --force)")
        auth.require(actor, P.MODELS_ADMIN, project)
    else:
        auth.require(actor, P.MODELS_REGISTER, project)
    if expected_version != -1:
        _, current = _current_alias(s, model_row.id, alias)
        if current != expected_version:
            raise Conflict(f"alias {alias!r} of {project}/{model} points at {current}, "
                           f"not {expected_version}", hint="read it again and retry",
                           current=current)
    return _move_alias(s, actor, project, model_row, alias, version,
                       reason=reason or ("forced" if force else ""))


def alias_history(s: Session, actor: Actor, project: str, model: str,
                  alias: str | None = None) -> list[AliasEvent]:
    auth.require(actor, P.VIEW, project)
    model_row = _model_row(s, project, model)
    stmt = select(AliasEventRow).where(AliasEventRow.model_id == model_row.id)
    if alias is not None:
        stmt = stmt.where(AliasEventRow.alias == alias)
    return [AliasEvent(model=model, alias=e.alias, from_version=e.from_version,
                       to_version=e.to_version, at=e.at, actor=e.actor, reason=e.reason,
                       request_id=e.request_id)
            for e in s.scalars(stmt.order_by(AliasEventRow.id))]


# -- promotion requests --------------------------------------------------------------------


def _request(s: Session, row: PromotionRequestRow, project: str,
             model: str) -> PromotionRequest:
    approvals = [Approval(principal=a.principal, roles=a.roles, decision=a.decision,
                          comment=a.comment, at=a.at)
                 for a in s.scalars(select(ApprovalRow).where(ApprovalRow.request_id == row.id)
                                    .order_by(ApprovalRow.at, ApprovalRow.principal))]
    return PromotionRequest.model_validate({
        "id": row.id, "project": project, "model": model, "version": row.version,
        "alias": row.alias, "from_version": row.from_version, "status": row.status,
        "reason": row.reason, "policy": row.policy, "gates": row.gates,
        "approvals": approvals, "requested_by": row.requested_by,
        "requested_at": row.requested_at, "decided_at": row.decided_at})


def _request_row(s: Session, request_id: int) -> tuple[PromotionRequestRow, RegisteredModelRow,
                                                        str]:
    found = s.execute(select(PromotionRequestRow, RegisteredModelRow, ProjectRow.name)
                      .join(RegisteredModelRow,
                            RegisteredModelRow.id == PromotionRequestRow.model_id)
                      .join(ProjectRow, ProjectRow.id == RegisteredModelRow.project_id)
                      .where(PromotionRequestRow.id == request_id)).first()
    if found is None:
        raise NotFound("promotion request", request_id,
                       hint="list them with: opsloop approvals list")
    return found[0], found[1], found[2]


def request_promotion(s: Session, actor: Actor, project: str, model: str, version: int,
                      alias: str, *, reason: str = "") -> PromotionRequest:
    """Ask for ``alias`` to point at ``version``. It applies as soon as the policy is met
    (at once for an unprotected alias, or a policy that needs no approval and no gate)."""
    check_alias(alias)
    check_text("reason", reason)
    auth.require(actor, P.MODELS_PROPOSE, project)
    model_row = _model_row(s, project, model, lock=True)
    target = _version_row(s, model_row.id, version, f"{project}/{model}/{version}")
    if target.status != VersionStatus.READY.value:
        raise Conflict(f"version {version} of {project}/{model} is {target.status}")
    _, current = _current_alias(s, model_row.id, alias)
    if current == version:
        raise Conflict(f"alias {alias!r} of {project}/{model} already points at {version}")
    policy = _policy(model_row).protected.get(alias, AliasPolicy(approvals=0))
    row = PromotionRequestRow(
        model_id=model_row.id, version=version, alias=alias, from_version=current,
        status=PromotionStatus.PENDING.value, reason=reason,
        policy=policy.model_dump(mode="json"), gates={}, requested_by=actor.name,
        requested_at=now_ms())
    s.add(row)
    s.flush()
    auth.record(s, actor, "promotion.request", "promotion_request", row.id, project=project,
                after={"model": model, "version": version, "alias": alias,
                       "from_version": current}, reason=reason)
    return _maybe_apply(s, actor, row, model_row, project)


def _maybe_apply(s: Session, actor: Actor, row: PromotionRequestRow,
                 model_row: RegisteredModelRow, project: str) -> PromotionRequest:
    """Apply a pending request whose policy is satisfied; mark it stale if the alias moved."""
    request = _request(s, row, project, model_row.name)
    if request.status is not PromotionStatus.PENDING or request.missing:
        return request
    _, current = _current_alias(s, model_row.id, row.alias)
    row.decided_at = now_ms()
    if current != row.from_version:
        row.status = PromotionStatus.STALE.value
        auth.record(s, actor, "promotion.stale", "promotion_request", row.id, project=project,
                    after={"alias_now": current, "expected": row.from_version})
    else:
        _move_alias(s, actor, project, model_row, row.alias, row.version,
                    reason=row.reason or f"promotion request {row.id}", request_id=row.id)
        row.status = PromotionStatus.APPLIED.value
        auth.record(s, actor, "promotion.apply", "promotion_request", row.id, project=project,
                    after={"alias": row.alias, "version": row.version})
    s.flush()
    return _request(s, row, project, model_row.name)


def decide(s: Session, actor: Actor, request_id: int, *, approve: bool,
           comment: str = "") -> PromotionRequest:
    """Approve or reject a pending request. One decision per principal; with auth on, the
    requester cannot approve their own request; a rejection closes the request."""
    check_text("comment", comment)
    row, model_row, project = _request_row(s, request_id)
    auth.require(actor, P.MODELS_APPROVE, project)
    if row.status != PromotionStatus.PENDING.value:
        raise Conflict(f"promotion request {request_id} is {row.status}, not pending")
    # Lock the model row first (PostgreSQL): racing approvals apply one after the other.
    _model_row(s, project, model_row.name, lock=True)
    s.refresh(row)
    if row.status != PromotionStatus.PENDING.value:
        raise Conflict(f"promotion request {request_id} is {row.status}, not pending")
    policy = AliasPolicy.model_validate(row.policy)
    roles = sorted(r.value for r in actor.principal.roles_on(project))
    if approve:
        if actor.auth_enabled and actor.name == row.requested_by:
            raise Conflict("you cannot approve your own promotion request",
                           hint="ask another approver")
        if policy.roles and not set(policy.roles) & {Role(r) for r in roles}:
            raise Conflict(
                f"this request needs approval from {' or '.join(policy.roles)}; "
                f"{actor.name!r} holds {roles or 'no role'} on {project!r}",
                hint="ask someone with one of those roles")
    if s.get(ApprovalRow, (row.id, actor.name)) is not None:
        raise Conflict(f"{actor.name!r} already decided on promotion request {request_id}")
    s.add(ApprovalRow(request_id=row.id, principal=actor.name, roles=roles,
                      decision="approve" if approve else "reject", comment=comment,
                      at=now_ms()))
    s.flush()
    auth.record(s, actor, "promotion.approve" if approve else "promotion.reject",
                "promotion_request", row.id, project=project, reason=comment)
    if not approve:
        row.status, row.decided_at = PromotionStatus.REJECTED.value, now_ms()
        s.flush()
        return _request(s, row, project, model_row.name)
    return _maybe_apply(s, actor, row, model_row, project)


def record_gate(s: Session, actor: Actor, request_id: int, gate: str, *, passed: bool,
                details: Mapping[str, Any] | None = None) -> PromotionRequest:
    """Record a CI/CD gate result on a pending request (``models.deploy``)."""
    check_key("gate", gate)
    row, model_row, project = _request_row(s, request_id)
    auth.require(actor, P.MODELS_DEPLOY, project)
    if row.status != PromotionStatus.PENDING.value:
        raise Conflict(f"promotion request {request_id} is {row.status}, not pending")
    _model_row(s, project, model_row.name, lock=True)
    result = GateResult(passed=passed, details=dict(details or {}), by=actor.name, at=now_ms())
    row.gates = {**row.gates, gate: result.model_dump(mode="json")}
    s.flush()
    auth.record(s, actor, "promotion.gate", "promotion_request", row.id, project=project,
                after={"gate": gate, "passed": passed})
    return _maybe_apply(s, actor, row, model_row, project)


def cancel_request(s: Session, actor: Actor, request_id: int,
                   reason: str = "") -> PromotionRequest:
    row, model_row, project = _request_row(s, request_id)
    if actor.name != row.requested_by:
        auth.require(actor, P.MODELS_ADMIN, project)
    if row.status != PromotionStatus.PENDING.value:
        raise Conflict(f"promotion request {request_id} is {row.status}, not pending")
    row.status, row.decided_at = PromotionStatus.CANCELLED.value, now_ms()
    s.flush()
    auth.record(s, actor, "promotion.cancel", "promotion_request", row.id, project=project,
                reason=reason)
    return _request(s, row, project, model_row.name)


def get_request(s: Session, actor: Actor, request_id: int) -> PromotionRequest:
    row, model_row, project = _request_row(s, request_id)
    auth.require(actor, P.VIEW, project)
    return _request(s, row, project, model_row.name)


def list_requests(s: Session, actor: Actor, project: str, *, model: str | None = None,
                  status: PromotionStatus | str | None = None) -> list[PromotionRequest]:
    auth.require(actor, P.VIEW, project)
    stmt = (select(PromotionRequestRow, RegisteredModelRow.name)
            .join(RegisteredModelRow, RegisteredModelRow.id == PromotionRequestRow.model_id)
            .join(ProjectRow, ProjectRow.id == RegisteredModelRow.project_id)
            .where(ProjectRow.name == project).order_by(PromotionRequestRow.id))
    if model is not None:
        stmt = stmt.where(RegisteredModelRow.name == model)
    if status is not None:
        stmt = stmt.where(PromotionRequestRow.status ==
                          check_choice(PromotionStatus, status, "status").value)
    return [_request(s, r, project, name) for r, name in s.execute(stmt)]


# -- comments ------------------------------------------------------------------------------

MAX_COMMENT = 10_000
COMMENTABLE = ("run", "model_version")


def _comment_target(s: Session, object_type: str, object_id: str,
                    project: str | None) -> tuple[str, str]:
    """(project, canonical id) of a run or a model version (``name/version``)."""
    if object_type == "run":
        return tracking.run_project(s, object_id), object_id
    if object_type == "model_version":
        ref = ModelRef.parse(object_id)
        if ref.version is None or (project is None and ref.project is None):
            raise InvalidInput("object_id", object_id, "must be [PROJECT/]MODEL/VERSION")
        proj = ref.project or project or ""
        model_row = _model_row(s, proj, ref.name)
        _version_row(s, model_row.id, ref.version, f"{proj}/{ref.name}/{ref.version}")
        return proj, f"{ref.name}/{ref.version}"
    raise InvalidInput("object_type", object_type, f"must be one of {COMMENTABLE}")


def add_comment(s: Session, actor: Actor, object_type: str, object_id: str, text: str, *,
                project: str | None = None) -> Comment:
    check_text("comment", text)
    if not text.strip() or len(text) > MAX_COMMENT:
        raise InvalidInput("comment", f"{len(text):,} characters",
                           f"must hold 1-{MAX_COMMENT:,} characters")
    proj, oid = _comment_target(s, object_type, object_id, project)
    auth.require(actor, P.COMMENT, proj)
    row = CommentRow(object_type=object_type, object_id=oid, project=proj, author=actor.name,
                     text=text, at=now_ms())
    s.add(row)
    s.flush()
    auth.record(s, actor, "comment.add", object_type, oid, project=proj, after={"id": row.id})
    return Comment(id=row.id, object_type=object_type, object_id=oid, project=proj,
                   author=row.author, text=text, at=row.at)


def list_comments(s: Session, actor: Actor, object_type: str, object_id: str, *,
                  project: str | None = None) -> list[Comment]:
    proj, oid = _comment_target(s, object_type, object_id, project)
    auth.require(actor, P.VIEW, proj)
    rows = s.scalars(select(CommentRow).where(CommentRow.object_type == object_type,
                                              CommentRow.object_id == oid,
                                              CommentRow.project == proj)
                     .order_by(CommentRow.at, CommentRow.id))
    return [Comment(id=r.id, object_type=r.object_type, object_id=r.object_id,
                    project=r.project, author=r.author, text=r.text, at=r.at) for r in rows]

