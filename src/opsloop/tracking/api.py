"""The tracking API over the local stores: a metadata database and an artifact store.

:class:`LocalTracking` runs each call as one unit of work. It is what the embedded
client uses and what the HTTP server calls, so both behave the same by construction;
the HTTP client (:mod:`opsloop.client`) implements the same methods over the REST API.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opsloop.config import Settings
from opsloop.errors import InvalidInput, NotFound
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
                 heartbeat_timeout: float = 120.0) -> None:
        self.db = db
        self.artifacts = artifacts
        self._lost_timeout_ms = int(heartbeat_timeout * 1000)
        self._last_reap = 0.0
        self._reap_lock = threading.Lock()
        self._stored_environments: set[str] = set()  # never deleted: skip the lookup

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalTracking:
        return cls(open_database(settings.database_url),
                   open_artifact_store(settings.artifacts,
                                       s3_endpoint_url=settings.s3_endpoint_url),
                   heartbeat_timeout=settings.heartbeat_timeout)

    def close(self) -> None:
        """Nothing to release: engines are shared per process (see ``open_database``)."""

    # -- projects and experiments ------------------------------------------------------

    def list_projects(self) -> list[Project]:
        return self.db.read(service.list_projects)

    def create_experiment(self, project: str, name: str, description: str = "") -> Experiment:
        return self.db.write(lambda s: service.create_experiment(s, project, name, description))

    def get_experiment(self, project: str, name: str) -> Experiment:
        return self.db.read(lambda s: service.get_experiment(s, project, name))

    def get_or_create_experiment(self, project: str, name: str) -> Experiment:
        try:
            return self.get_experiment(project, name)
        except NotFound:
            return self.db.write(lambda s: service.get_or_create_experiment(s, project, name))

    def list_experiments(self, project: str | None = None) -> list[Experiment]:
        return self.db.read(lambda s: service.list_experiments(s, project))

    # -- runs ----------------------------------------------------------------------------

    def create_run(self, spec: RunSpec) -> Run:
        """Start a run; its environment and source diff (already uploaded) are linked."""
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
            return run

        run = self.db.write(tx)
        if environment is not None:
            self._stored_environments.add(environment.digest)
        return run

    def end_run(self, run_id: str, status: RunStatus = RunStatus.FINISHED,
                end_time: int | None = None, failure: str | None = None,
                metrics: Sequence[service.Point] = ()) -> Run:
        """End a run, writing its last buffered points in the same transaction."""
        def tx(s: Any) -> Run:
            service.end_run(s, run_id, RunStatus(status), end_time, failure, metrics)
            return service.get_run(s, run_id)

        return self.db.write(tx)

    def log_batch(self, run_id: str, *, metrics: Sequence[service.Point] = (),
                  params: Mapping[str, Any] | None = None,
                  tags: Mapping[str, Any] | None = None) -> None:
        self.db.write(lambda s: service.log_batch(s, run_id, metrics=metrics, params=params,
                                                  tags=tags))

    def heartbeat(self, run_ids: Sequence[str]) -> None:
        self.db.write(lambda s: service.heartbeat(s, run_ids))

    def reap_lost_runs(self, *, force: bool = False) -> int:
        """Mark RUNNING runs without a recent heartbeat as LOST (at most every few seconds)."""
        now = time.monotonic()
        with self._reap_lock:
            if not force and now - self._last_reap < min(5.0, self._lost_timeout_ms / 4000):
                return 0
            self._last_reap = now
        return self.db.write(lambda s: service.mark_lost_runs(s, self._lost_timeout_ms))

    def get_run(self, run_id: str) -> Run:
        return self.db.read(lambda s: service.get_run(s, run_id))

    def search_runs(self, *, experiment_ids: Sequence[int] | None = None,
                    experiments: Sequence[str] | None = None, project: str | None = None,
                    filter: str | None = None,
                    order_by: Sequence[str] | None = None, max_results: int = 1000,
                    page_token: str | None = None) -> Page[Run]:
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

        cols = self.db.read(lambda s: service.search_run_columns(
            s, experiments=experiments, project=project, filter=filter, order_by=order_by,
            max_results=max_results))
        return columns_to_arrow(cols)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        return self.db.read(lambda s: service.get_metric_history(s, run_id, key))

    # -- blobs and artifacts ---------------------------------------------------------------

    def has_blob(self, digest: str) -> bool:
        return self.artifacts.exists(digest)

    def put_blob_bytes(self, data: bytes) -> Blob:
        return self.artifacts.put_bytes(data)

    def put_blob_file(self, path: str | os.PathLike[str]) -> Blob:
        return self.artifacts.put_file(path)

    def get_blob_bytes(self, digest: str, *, name: str = "") -> bytes:
        return self.artifacts.get_bytes(digest, name=name)

    def download_blob(self, digest: str, dest: str | os.PathLike[str], *,
                      name: str = "") -> Path:
        return self.artifacts.get_file(digest, dest, name=name)

    def add_artifact(self, run_id: str, path: str, digest: str, size: int) -> Artifact:
        if not self.artifacts.exists(digest):
            raise NotFound("blob", f"sha256:{digest}", hint="upload the bytes first")
        return self.db.write(lambda s: service.add_artifact(s, run_id, path, digest, size))

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[Artifact]:
        return self.db.read(lambda s: service.list_artifacts(s, run_id, prefix))

    def get_artifact(self, run_id: str, path: str) -> Artifact:
        return self.db.read(lambda s: service.get_artifact(s, run_id, path))

    # -- datasets --------------------------------------------------------------------------

    def register_dataset_version(self, spec: DatasetSpec) -> DatasetVersion:
        if spec.data_digest is not None and not self.artifacts.exists(spec.data_digest):
            raise NotFound("blob", f"sha256:{spec.data_digest}", hint="upload the data first")
        return self.db.write(lambda s: service.register_dataset_version(
            s, project=spec.project, name=spec.name, digest=spec.digest,
            num_rows=spec.num_rows, schema=spec.schema_, profile=spec.profile,
            source_uri=spec.source_uri, data_digest=spec.data_digest,
            created_by=spec.created_by))

    def list_datasets(self, project: str | None = None) -> list[Dataset]:
        return self.db.read(lambda s: service.list_datasets(s, project))

    def list_dataset_versions(self, project: str, name: str) -> list[DatasetVersion]:
        return self.db.read(lambda s: service.list_dataset_versions(s, project, name))

    def get_dataset_version(self, project: str, name: str,
                            version: int | None = None) -> DatasetVersion:
        return self.db.read(lambda s: service.get_dataset_version(s, project, name, version))

    def link_run_input(self, run_id: str, dataset_version_id: int, role: str) -> None:
        self.db.write(lambda s: service.link_run_input(s, run_id, dataset_version_id, role))

    def run_inputs(self, run_id: str) -> list[DatasetVersion]:
        return self.db.read(lambda s: service.run_inputs(s, run_id))
