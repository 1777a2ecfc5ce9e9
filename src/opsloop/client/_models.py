"""``client.models``: the model registry from Python, local or remote alike."""

from __future__ import annotations

import builtins
import contextlib
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsloop.errors import DigestMismatch, InvalidInput, NotFound
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

if TYPE_CHECKING:
    from opsloop.client._client import Client
    from opsloop.client.transport import RegistryTransport
    from opsloop.registry.manifest import LoadedModel
    from opsloop.registry.signature import Signature

__all__ = ["Models"]


class Models:
    """Registered models, versions, aliases and promotions (``client.models``).

    References to versions are ``"name@alias"``, ``"name/3"``, ``"name/latest"`` or
    ``"models:/[project/]name..."``.

    Example:
        >>> import tempfile
        >>> import numpy as np
        >>> from sklearn.linear_model import LinearRegression
        >>> from opsloop import Client
        >>> client = Client(home=tempfile.mkdtemp(), capture_source=False)
        >>> X = np.array([[0.0], [1.0], [2.0]])
        >>> v = client.models.register("doubler", LinearRegression().fit(X, 2 * X[:, 0]),
        ...                            input_example=X)
        >>> client.models.set_alias("doubler", "staging", v.version)
        >>> client.models.load("doubler@staging").predict(np.array([[4.0]])).round(6).tolist()
        [8.0]
        >>> client.close()
    """

    def __init__(self, client: Client) -> None:
        self._client = client

    @property
    def _t(self) -> RegistryTransport:
        return self._client.registry_transport

    def _project(self, project: str | None) -> str:
        return project or self._client.settings.project

    # -- registration ------------------------------------------------------------------

    def register(
        self,
        name: str,
        model: Any,
        *,
        run_id: str | None = None,
        flavor: str | None = None,
        input_example: Any = None,
        signature: Signature | None = None,
        description: str = "",
        tags: Mapping[str, Any] | None = None,
        datasets: Sequence[tuple[int, str]] = (),
        trusted: bool = False,
        project: str | None = None,
    ) -> ModelVersion:
        """Save ``model`` in a safe format, upload its files and register the next version.

        Args:
            name: the registered model (created on first use).
            model: a model object (flavor detected), a folder written by
                ``save_model_files``, or one model file (``.skops``, ``.onnx``, LightGBM
                ``.txt``, XGBoost ``.json``; a pickle only with ``trusted=True``).
            run_id: the run that trained it: its code version, datasets, params and
                metrics become the version's lineage.
            input_example: infers the signature (inputs, and outputs by predicting).
            signature: the signature, instead of inferring it.
            datasets: extra ``(dataset version id, role)`` pairs, e.g. an evaluation set.
            trusted: allow reading a pickle file you produced (it is stored converted).
        """
        from opsloop.registry.manifest import (
            MANIFEST_NAME,
            FileDigest,
            read_manifest,
            save_model_file,
            save_model_files,
        )

        project = self._project(project)
        lineage = {"project": project, "model": name, "run_id": run_id}
        with contextlib.ExitStack() as stack:
            if isinstance(model, str | os.PathLike) and Path(model).is_dir():
                folder = Path(model)  # already saved: no copy, no temporary folder
                if not (folder / MANIFEST_NAME).is_file():
                    raise InvalidInput("model folder", str(folder), f"has no {MANIFEST_NAME}",
                                       hint="pass the model object, or save it first with "
                                            "opsloop.registry.save_model_files")
            else:
                tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="opsloop-model-"))
                folder = Path(tmp) / "model"
                if isinstance(model, str | os.PathLike):
                    save_model_file(Path(model), folder, flavor=flavor,
                                    input_example=input_example, signature=signature,
                                    lineage=lineage, trusted=trusted)
                else:
                    save_model_files(model, folder, flavor=flavor, input_example=input_example,
                                     signature=signature, lineage=lineage)
            manifest = read_manifest(folder)
            from opsloop.store.artifacts import sha256_file

            local = {path: sha256_file(folder / path)
                     for path in [*manifest.files, MANIFEST_NAME]}
            for path, digest in manifest.files.items():
                if local[path].digest != digest.sha256:  # edited after it was saved
                    raise DigestMismatch(path, digest.sha256, local[path].digest)
            files = {path: FileDigest(sha256=b.digest, size=b.size) for path, b in local.items()}
            spec = ModelVersionSpec(
                project=project, model=name, flavor=manifest.flavor, files=files,
                manifest_digest=local[MANIFEST_NAME].digest, run_id=run_id,
                signature=manifest.signature,
                environment={"python": manifest.python, "packages": manifest.packages},
                description=description, tags={k: str(v) for k, v in (tags or {}).items()},
                datasets=list(datasets))
            self._client.flush()  # the run's metrics are part of the snapshot
            try:
                # Content-addressed: files stored before (the usual case when a folder is
                # registered again, or a model is promoted across stores) are not re-sent.
                return self._t.create_version(spec)
            except NotFound as exc:
                if exc.details.get("kind") != "blob":
                    raise
            for path in files:
                self._client.transport.put_blob_file(folder / path)
            return self._t.create_version(spec)

    # -- reading -----------------------------------------------------------------------

    def create(self, name: str, *, description: str = "", tags: Mapping[str, Any] | None = None,
               policy: ModelPolicy | None = None, exist_ok: bool = False,
               project: str | None = None) -> RegisteredModel:
        return self._t.create_model(self._project(project), name, description=description,
                                    tags=tags, policy=policy, exist_ok=exist_ok)

    def get(self, name: str, *, project: str | None = None) -> RegisteredModel:
        return self._t.get_model(self._project(project), name)

    def list(self, *, project: str | None = None) -> builtins.list[RegisteredModel]:
        return self._t.list_models(self._project(project))

    def update(self, name: str, *, description: str | None = None,
               tags: Mapping[str, Any] | None = None, owners: builtins.list[str] | None = None,
               policy: ModelPolicy | None = None, project: str | None = None
               ) -> RegisteredModel:
        """Edit a model's description, tags, owners, or its promotion policy."""
        return self._t.update_model(self._project(project), name, description=description,
                                    tags=tags, owners=owners, policy=policy)

    def versions(self, name: str, *, include_archived: bool = True,
                 project: str | None = None) -> builtins.list[ModelVersion]:
        return self._t.list_versions(self._project(project), name,
                                     include_archived=include_archived)

    def get_version(self, name: str, version: int, *,
                    project: str | None = None) -> ModelVersion:
        return self._t.get_version(self._project(project), name, version)

    def resolve(self, ref: str, *, project: str | None = None) -> ModelVersion:
        """The version a reference names (``name@alias``, ``name/3``, ``models:/...``)."""
        return self._t.resolve(self._project(project), ref)

    def update_version(self, name: str, version: int, *, description: str | None = None,
                       tags: Mapping[str, Any] | None = None,
                       project: str | None = None) -> ModelVersion:
        """Edit a version's description or tags (everything else is immutable)."""
        return self._t.update_version(self._project(project), name, version,
                                      description=description, tags=tags)

    def archive(self, name: str, version: int, *, project: str | None = None) -> ModelVersion:
        return self._t.update_version(self._project(project), name, version,
                                      status=VersionStatus.ARCHIVED)

    def restore(self, name: str, version: int, *, project: str | None = None) -> ModelVersion:
        return self._t.update_version(self._project(project), name, version,
                                      status=VersionStatus.READY)

    def delete_version(self, name: str, version: int, *, project: str | None = None) -> None:
        """Delete a version; refused while an alias (or a deployment) points at it."""
        self._t.delete_version(self._project(project), name, version)

    # -- files -------------------------------------------------------------------------

    def download(self, ref: str, dest: str | os.PathLike[str] | None = None, *,
                 project: str | None = None) -> Path:
        """The version's folder on disk, every file verified against its digest.

        Without ``dest`` it goes to a cache under the opsloop home, reused when complete.
        """
        from opsloop.registry.manifest import MANIFEST_NAME
        from opsloop.store.artifacts import sha256_file

        version = self.resolve(ref, project=project)
        cache = dest is None
        if dest is None:
            dest = (self._client.settings.home / "models" / version.project / version.model
                    / f"{version.version}-{version.manifest_digest[:12]}")
        dest = Path(dest)
        if (dest / MANIFEST_NAME).is_file() and \
                sha256_file(dest / MANIFEST_NAME).digest == version.manifest_digest:
            return dest  # complete: the manifest is moved in last (and load verifies all)
        if not cache and dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise InvalidInput("download folder", str(dest), "must not exist or be empty",
                               hint="pick a new folder; opsloop never overwrites your files")
        staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=_parent(dest)))
        try:
            for path, digest in version.files.items():
                self._client.transport.download_blob(digest.sha256, staging / path,
                                                     name=f"{version.uri}/{path}")
            manifest = staging / MANIFEST_NAME
            os.replace(manifest, staging / f".{MANIFEST_NAME}")
            if dest.exists():
                shutil.rmtree(dest)
            os.replace(staging, dest)
            os.replace(dest / f".{MANIFEST_NAME}", dest / MANIFEST_NAME)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return dest

    def load(self, ref: str, *, trusted: bool = False,
             project: str | None = None) -> LoadedModel:
        """Load a version: files verified by sha256, then read by their flavor.

        Args:
            ref: ``name@alias``, ``name/3``, ``name/latest`` or ``models:/...``.
            trusted: allow formats that can run code (pickle, unknown skops types).
        """
        from opsloop.registry.manifest import MANIFEST_NAME, load_model_files, read_manifest

        version = self.resolve(ref, project=project)
        folder = self.download(f"{version.model}/{version.version}", project=version.project)
        recorded = {k: v for k, v in version.files.items() if k != MANIFEST_NAME}
        if read_manifest(folder).files != recorded:
            raise DigestMismatch(MANIFEST_NAME, version.manifest_digest, "a different manifest")
        loaded = load_model_files(folder, trusted=trusted)
        loaded.version = version
        return loaded

    # -- aliases -----------------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: int, *, reason: str = "",
                  expected_version: int | None = -1, force: bool = False,
                  project: str | None = None) -> int | None:
        """Point ``alias`` at ``version`` atomically; returns the version it pointed at.

        Protected aliases (``champion`` by default) move only through :meth:`promote`,
        or with ``force=True`` by a ``models.admin``. ``expected_version`` makes it a
        compare-and-set (``None``: the alias must not exist yet).
        """
        return self._t.set_alias(self._project(project), name, alias, version, reason=reason,
                                 expected_version=expected_version, force=force)

    def delete_alias(self, name: str, alias: str, *, reason: str = "", force: bool = False,
                     project: str | None = None) -> int | None:
        return self._t.delete_alias(self._project(project), name, alias, reason=reason,
                                    force=force)

    def alias_history(self, name: str, alias: str | None = None, *,
                      project: str | None = None) -> builtins.list[AliasEvent]:
        """Every set, move and delete of the model's aliases: who, when, why."""
        return self._t.alias_history(self._project(project), name, alias)

    # -- promotions --------------------------------------------------------------------

    def promote(self, name: str, version: int, *, to: str, reason: str = "",
                project: str | None = None) -> PromotionRequest:
        """Request that alias ``to`` point at ``version``; it applies once the model's
        policy is satisfied (at once for an unprotected alias)."""
        return self._t.request_promotion(self._project(project), name, version, to,
                                         reason=reason)

    def approve(self, request_id: int, comment: str = "") -> PromotionRequest:
        return self._t.decide(request_id, approve=True, comment=comment)

    def reject(self, request_id: int, comment: str = "") -> PromotionRequest:
        return self._t.decide(request_id, approve=False, comment=comment)

    def record_gate(self, request_id: int, gate: str, *, passed: bool,
                    details: Mapping[str, Any] | None = None) -> PromotionRequest:
        return self._t.record_gate(request_id, gate, passed=passed, details=details)

    def cancel(self, request_id: int, reason: str = "") -> PromotionRequest:
        return self._t.cancel_request(request_id, reason=reason)

    def get_request(self, request_id: int) -> PromotionRequest:
        return self._t.get_request(request_id)

    def requests(self, name: str | None = None, *,
                 status: PromotionStatus | str | None = None,
                 project: str | None = None) -> builtins.list[PromotionRequest]:
        return self._t.list_requests(self._project(project), model=name, status=status)

    # -- comments ----------------------------------------------------------------------

    def comment(self, name: str, version: int, text: str, *,
                project: str | None = None) -> Comment:
        return self._t.add_comment("model_version", f"{name}/{version}", text,
                                   project=self._project(project))

    def comments(self, name: str, version: int, *,
                 project: str | None = None) -> builtins.list[Comment]:
        return self._t.list_comments("model_version", f"{name}/{version}",
                                     project=self._project(project))


def _parent(dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    return dest.parent
