"""The tracking API over the local stores: a metadata database and an artifact store.

:class:`LocalTracking` runs each call as one unit of work. It is what the embedded
client uses and what the HTTP server calls, so both behave the same by construction;
the HTTP client (:mod:`opsloop.client`) implements the same methods over the REST API.
"""

from __future__ import annotations

import copy
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opsloop.auth import service as auth
from opsloop.auth.api import local_actor
from opsloop.auth.entities import Actor, Permission
from opsloop.config import Settings
from opsloop.errors import InvalidInput, NotFound, PermissionDenied
from opsloop.store import ArtifactStore, Blob, Database, open_artifact_store, open_database
from opsloop.tracking import service
from opsloop.tracking.entities import (
    Artifact,
    Dataset,
    DatasetSpec,
    DatasetVersion,
    Experiment,
    Metric,
    Page,
    Project,
    Run,
    RunSpec,
    RunStatus,
)

__all__ = ["DIFF_ARTIFACT", "LocalTracking"]

DIFF_ARTIFACT = "source/diff.patch"


class LocalTracking:
    """Tracking on a :class:`~opsloop.store.Database` and :class:`~opsloop.store.ArtifactStore`.

    Example:
        >>> import tempfile
        >>> from opsloop.config import Settings
        >>> t = LocalTracking.from_settings(Settings(home=tempfile.mkdtemp()))
        >>> t.get_or_create_experiment("default", "demo").name
        'demo'
    """

    def __init__(self, db: Database, artifacts: ArtifactStore, *,
                 heartbeat_timeout: float = 120.0, actor: Actor | None = None) -> None:
        self.db = db
        self.artifacts = artifacts
        self.actor = actor or local_actor()
        self._lost_timeout_ms = int(heartbeat_timeout * 1000)
        self._last_reap = [0.0]  # a list: copies made by with_actor share it
        self._reap_lock = threading.Lock()
        self._stored_environments: set[str] = set()  # never deleted: skip the lookup
        self._run_projects: dict[str, str] = {}  # runs never change project

    @classmethod
    def from_settings(cls, settings: Settings, actor: Actor | None = None) -> LocalTracking:
        return cls(open_database(settings.database_url),
                   open_artifact_store(settings.artifacts,
                                       s3_endpoint_url=settings.s3_endpoint_url),
                   heartbeat_timeout=settings.heartbeat_timeout, actor=actor)

    def with_actor(self, actor: Actor) -> LocalTracking:
        """The same stores and caches, acting as ``actor`` (one per server request)."""
        other = copy.copy(self)
        other.actor = actor
        return other

    def close(self) -> None:
        """Nothing to release: engines are shared per process (see ``open_database``)."""

    # -- permissions ---------------------------------------------------------------------

    def _require(self, permission: Permission, project: str | None) -> None:
        auth.require(self.actor, permission, project)

    def _require_run(self, permission: Permission, run_id: str) -> None:
        if self.actor.principal.is_admin:
            return  # every permission everywhere: skip the lookup (auth off, admins)
        project = self._run_projects.get(run_id)
        if project is None:
            project = self.db.read(lambda s: service.run_project(s, run_id))
            if len(self._run_projects) > 100_000:
                self._run_projects.clear()
            self._run_projects[run_id] = project
        auth.require(self.actor, permission, project)

    def require_writer(self) -> None:
        """Uploading bytes (and forcing a LOST-run sweep) needs a write permission on some
        project: viewers and business owners only read."""
        p = self.actor.principal
        if not any(p.can(permission, None) for permission in (
                Permission.RUNS_WRITE, Permission.DATASETS_WRITE, Permission.MODELS_REGISTER)):
            raise PermissionDenied(
                f"{p.name!r} lacks a write permission ('runs.write', 'datasets.write' or "
                "'models.register') on any project",
                hint="uploads and LOST-run sweeps are for writers; ask an admin for a role",
                permission=Permission.RUNS_WRITE.value, principal=p.name)

    # -- projects and experiments ------------------------------------------------------

    def list_projects(self) -> list[Project]:
        return [p for p in self.db.read(service.list_projects)
                if self.actor.principal.can(Permission.VIEW, p.name)]

    def create_experiment(self, project: str, name: str, description: str = "") -> Experiment:
        self._require(Permission.RUNS_WRITE, project)

        def tx(s: Any) -> Experiment:
            exp = service.create_experiment(s, project, name, description)
            auth.record(s, self.actor, "experiment.create", "experiment", exp.id,
                        project=project, after={"name": name})
            return exp

        return self.db.write(tx)

    def get_experiment(self, project: str, name: str) -> Experiment:
        self._require(Permission.VIEW, project)
        return self.db.read(lambda s: service.get_experiment(s, project, name))

    def get_or_create_experiment(self, project: str, name: str) -> Experiment:
        try:
            return self.get_experiment(project, name)
        except NotFound:
            self._require(Permission.RUNS_WRITE, project)
            return self.db.write(lambda s: service.get_or_create_experiment(s, project, name))

    def list_experiments(self, project: str | None = None) -> list[Experiment]:
        if project is not None:
            self._require(Permission.VIEW, project)
        return [e for e in self.db.read(lambda s: service.list_experiments(s, project))
                if self.actor.principal.can(Permission.VIEW, e.project)]

    # -- runs ----------------------------------------------------------------------------

    def create_run(self, spec: RunSpec) -> Run:
        """Start a run; its environment and source diff (already uploaded) are linked."""
        self._require(Permission.RUNS_WRITE, spec.project)
        self.reap_lost_runs()
        diff = spec.source.diff_digest
        diff_size = 0
        if diff is not None:
            try:
                diff_size = self.artifacts.size(diff)  # verified when read, not per run
            except NotFound:
                raise InvalidInput("source.diff_digest", diff,
                                   "upload the diff as a blob before creating the run") from None
        environment = spec.environment

        def tx(s: Any) -> Run:
            exp = service.get_or_create_experiment(s, spec.project, spec.experiment)
            env = None
            if environment is not None:
                env = environment.digest
                if env not in self._stored_environments:
                    service.ensure_environment(s, environment)
            run = service.create_run(
                s, run_id=spec.id, experiment=exp, name=spec.name,
                start_time=spec.start_time, parent_id=spec.parent_id, user=spec.user,
                host=spec.host, command=spec.command, source=spec.source,
                environment_digest=env, params=spec.params, tags=spec.tags)
            if diff is not None:
                service.add_artifact(s, spec.id, DIFF_ARTIFACT, diff, diff_size)
            auth.record(s, self.actor, "run.create", "run", spec.id, project=spec.project,
                        after={"experiment": spec.experiment, "name": spec.name})
            return run

        run = self.db.write(tx)
        if environment is not None:
            self._stored_environments.add(environment.digest)
        return run

    def end_run(self, run_id: str, status: RunStatus = RunStatus.FINISHED,
                end_time: int | None = None, failure: str | None = None,
                metrics: Sequence[service.Point] = ()) -> Run:
        """End a run, writing its last buffered points in the same transaction."""
        self._require_run(Permission.RUNS_WRITE, run_id)

        def tx(s: Any) -> Run:
            service.end_run(s, run_id, RunStatus(status), end_time, failure, metrics)
            run = service.get_run(s, run_id)
            auth.record(s, self.actor, "run.end", "run", run_id, project=run.project,
                        after={"status": run.status.value})
            return run

        return self.db.write(tx)

    def log_batch(self, run_id: str, *, metrics: Sequence[service.Point] = (),
                  params: Mapping[str, Any] | None = None,
                  tags: Mapping[str, Any] | None = None) -> None:
        self._require_run(Permission.RUNS_WRITE, run_id)
        self.db.write(lambda s: service.log_batch(s, run_id, metrics=metrics, params=params,
                                                  tags=tags))

    def heartbeat(self, run_ids: Sequence[str]) -> None:
        for run_id in run_ids:
            self._require_run(Permission.RUNS_WRITE, run_id)
        self.db.write(lambda s: service.heartbeat(s, run_ids))

    def reap_lost_runs(self, *, force: bool = False) -> int:
        """Mark RUNNING runs without a recent heartbeat as LOST (at most every few seconds)."""
        if force:
            self.require_writer()  # any writer may ask; viewers may not
        now = time.monotonic()
        with self._reap_lock:
            if not force and now - self._last_reap[0] < min(5.0, self._lost_timeout_ms / 4000):
                return 0
            self._last_reap[0] = now
        return self.db.write(lambda s: service.mark_lost_runs(s, self._lost_timeout_ms))

    def get_run(self, run_id: str) -> Run:
        self._require_run(Permission.VIEW, run_id)
        return self.db.read(lambda s: service.get_run(s, run_id))

    def search_runs(self, *, experiment_ids: Sequence[int] | None = None,
                    experiments: Sequence[str] | None = None, project: str | None = None,
                    filter: str | None = None,
                    order_by: Sequence[str] | None = None, max_results: int = 1000,
                    page_token: str | None = None) -> Page[Run]:
        self._require_search(project, experiment_ids)
        return self.db.read(lambda s: service.search_runs(
            s, experiment_ids=experiment_ids, experiments=experiments, project=project,
            filter=filter, order_by=order_by, max_results=max_results,
            page_token=page_token))

    def search_runs_table(self, *, experiments: Sequence[str] | None = None,
                          project: str | None = None, filter: str | None = None,
                          order_by: Sequence[str] | None = None,
                          max_results: int = service.MAX_RESULTS) -> Any:
        """Every matching run as a ``pyarrow.Table`` (one row per run)."""
        from opsloop.tracking.tables import columns_to_arrow

        self._require_search(project, None)
        cols = self.db.read(lambda s: service.search_run_columns(
            s, experiments=experiments, project=project, filter=filter, order_by=order_by,
            max_results=max_results))
        return columns_to_arrow(cols)

    def _require_search(self, project: str | None,
                        experiment_ids: Sequence[int] | None) -> None:
        if self.actor.principal.is_admin:
            return
        if experiment_ids:
            ids = list(experiment_ids)
            experiments = self.db.read(
                lambda s: [service.get_experiment_by_id(s, i) for i in ids])
            for exp in experiments:
                self._require(Permission.VIEW, exp.project)
        else:
            self._require(Permission.VIEW, project)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        self._require_run(Permission.VIEW, run_id)
        return self.db.read(lambda s: service.get_metric_history(s, run_id, key))

    # -- blobs and artifacts ---------------------------------------------------------------

    def has_blob(self, digest: str) -> bool:
        return self.artifacts.exists(digest)

    def put_blob_bytes(self, data: bytes) -> Blob:
        self.require_writer()
        return self.artifacts.put_bytes(data)

    def put_blob_file(self, path: str | os.PathLike[str]) -> Blob:
        self.require_writer()
        return self.artifacts.put_file(path)

    def get_blob_bytes(self, digest: str, *, name: str = "") -> bytes:
        return self.artifacts.get_bytes(digest, name=name)

    def download_blob(self, digest: str, dest: str | os.PathLike[str], *,
                      name: str = "") -> Path:
        return self.artifacts.get_file(digest, dest, name=name)

    def add_artifact(self, run_id: str, path: str, digest: str, size: int) -> Artifact:
        self._require_run(Permission.RUNS_WRITE, run_id)
        if not self.artifacts.exists(digest):
            raise NotFound("blob", f"sha256:{digest}", hint="upload the bytes first")
        return self.db.write(lambda s: service.add_artifact(s, run_id, path, digest, size))

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[Artifact]:
        self._require_run(Permission.VIEW, run_id)
        return self.db.read(lambda s: service.list_artifacts(s, run_id, prefix))

    def get_artifact(self, run_id: str, path: str) -> Artifact:
        self._require_run(Permission.VIEW, run_id)
        return self.db.read(lambda s: service.get_artifact(s, run_id, path))

    # -- datasets --------------------------------------------------------------------------

    def register_dataset_version(self, spec: DatasetSpec) -> DatasetVersion:
        self._require(Permission.DATASETS_WRITE, spec.project)
        if spec.data_digest is not None and not self.artifacts.exists(spec.data_digest):
            raise NotFound("blob", f"sha256:{spec.data_digest}", hint="upload the data first")
        return self.db.write(lambda s: service.register_dataset_version(
            s, project=spec.project, name=spec.name, digest=spec.digest,
            num_rows=spec.num_rows, schema=spec.schema_, profile=spec.profile,
            source_uri=spec.source_uri, data_digest=spec.data_digest,
            created_by=spec.created_by))

    def list_datasets(self, project: str | None = None) -> list[Dataset]:
        if project is not None:
            self._require(Permission.VIEW, project)
        return [d for d in self.db.read(lambda s: service.list_datasets(s, project))
                if self.actor.principal.can(Permission.VIEW, d.project)]

    def list_dataset_versions(self, project: str, name: str) -> list[DatasetVersion]:
        self._require(Permission.VIEW, project)
        return self.db.read(lambda s: service.list_dataset_versions(s, project, name))

    def get_dataset_version(self, project: str, name: str,
                            version: int | None = None) -> DatasetVersion:
        self._require(Permission.VIEW, project)
        return self.db.read(lambda s: service.get_dataset_version(s, project, name, version))

    def link_run_input(self, run_id: str, dataset_version_id: int, role: str) -> None:
        self._require_run(Permission.RUNS_WRITE, run_id)
        self.db.write(lambda s: service.link_run_input(s, run_id, dataset_version_id, role))

    def run_inputs(self, run_id: str) -> list[DatasetVersion]:
        self._require_run(Permission.VIEW, run_id)
        return self.db.read(lambda s: service.run_inputs(s, run_id))
