"""``opsloop.Client``: one API whether the stores are local or behind an opsloop server."""

from __future__ import annotations

import atexit
import functools
import getpass
import io
import logging
import os
import shlex
import socket
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from opsloop._names import check_key, check_metric_value, check_step
from opsloop.client._models import Models
from opsloop.client.buffer import MetricBuffer
from opsloop.client.transport import AuthTransport, RegistryTransport, TrackingTransport
from opsloop.config import Settings
from opsloop.errors import InvalidInput, NotFound
from opsloop.tracking.entities import (
    Artifact,
    Dataset,
    DatasetSpec,
    DatasetVersion,
    Experiment,
    Metric,
    Page,
    Run,
    RunSpec,
    RunStatus,
    SourceVersion,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from opsloop.registry.entities import Comment

__all__ = ["Client"]

log = logging.getLogger(__name__)

DEFAULT_EXPERIMENT = "Default"
TableFormat = Literal["pandas", "arrow"]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@functools.lru_cache(maxsize=1)
def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return str(os.getuid())


class Client:
    """Tracking client over the local stores or a remote server.

    The transport is chosen by the settings: ``OPSLOOP_TRACKING_URI=http://host:port``
    talks to ``opsloop server``; otherwise the client opens the metadata database and the
    artifact store itself. Every method behaves the same over both.

    Args:
        settings: the settings to use (default: ``Settings.load()``).
        **overrides: setting values that win over the environment, e.g. ``home=...``.

    Example:
        >>> import tempfile
        >>> client = Client(home=tempfile.mkdtemp())
        >>> run = client.create_run("credit", params={"lr": 0.1})
        >>> client.log_metric(run.id, "auc", 0.91)
        >>> client.end_run(run.id).metrics
        {'auc': 0.91}
        >>> client.close()
    """

    def __init__(self, settings: Settings | None = None, **overrides: Any) -> None:
        self.settings = settings if settings is not None else Settings.load(**overrides)
        self.transport: TrackingTransport
        self.registry_transport: RegistryTransport
        self.auth: AuthTransport
        """Users, service accounts, roles, tokens and the audit log (see docs/security.md)."""
        self.transport, self.registry_transport, self.auth = self._make_transports()
        self.models = Models(self)
        """The model registry: register, load, aliases, promotions (see docs/registry.md)."""
        self._buffer = MetricBuffer(self._write_points,
                                    interval=self.settings.metric_flush_interval,
                                    max_points=self.settings.metric_buffer_max)
        self._active: set[str] = set()
        self._active_lock = threading.Lock()
        self._diffs_stored: set[str | None] = set()
        self._heartbeat: threading.Thread | None = None
        self._closed = threading.Event()
        _open_clients.add(self)

    def _make_transports(self) -> tuple[TrackingTransport, RegistryTransport, AuthTransport]:
        s = self.settings
        if s.is_remote:
            from opsloop.client._http import HttpTracking
            from opsloop.client._http_registry import HttpAuth, HttpRegistry

            tracking = HttpTracking(s.tracking_uri, timeout=s.http_timeout,
                                    token=s.token_value, user=_user())
            return tracking, HttpRegistry(tracking), HttpAuth(tracking)
        from opsloop.auth.api import LocalAuth, resolve_actor
        from opsloop.registry.api import LocalRegistry
        from opsloop.tracking.api import LocalTracking

        local = LocalTracking.from_settings(s)
        # Auth off: the local user acts as an admin, with no database access here.
        local = local.with_actor(resolve_actor(local.db, auth_enabled=s.auth,
                                               token=s.token_value if s.auth else None,
                                               user=_user()))
        return (local, LocalRegistry(local.db, local.artifacts, local.actor),
                LocalAuth(local.db, local.actor))

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.settings.tracking_uri or self.settings.database_url
        return f"Client({where!r})"

    def close(self) -> None:
        """Write buffered metrics, stop background threads and release connections."""
        if self._closed.is_set():
            return
        self._closed.set()
        if self._heartbeat is not None and self._heartbeat is not threading.current_thread():
            self._heartbeat.join(timeout=10)  # never leave a writer running into shutdown
        self._buffer.close()
        self.transport.close()
        _open_clients.discard(self)

    def flush(self) -> None:
        """Write every buffered metric point now."""
        self._buffer.flush()

    # -- experiments -----------------------------------------------------------------------

    def create_experiment(self, name: str, *, description: str = "",
                          project: str | None = None) -> Experiment:
        return self.transport.create_experiment(project or self.settings.project, name,
                                                description)

    def get_experiment(self, name: str, *, project: str | None = None) -> Experiment:
        return self.transport.get_experiment(project or self.settings.project, name)

    def list_experiments(self, *, project: str | None = None,
                         all_projects: bool = False) -> list[Experiment]:
        return self.transport.list_experiments(
            None if all_projects else project or self.settings.project)

    # -- runs --------------------------------------------------------------------------------

    def create_run(
        self,
        experiment: str = DEFAULT_EXPERIMENT,
        *,
        name: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        parent_id: str | None = None,
        project: str | None = None,
        source_path: str | os.PathLike[str] | None = None,
    ) -> Run:
        """Start a RUNNING run, capturing user, host, command line, environment and source.

        The source version (git commit, branch, dirty flag, digest of ``git diff HEAD``)
        is looked up from ``source_path`` (default: the main script's folder); the diff
        is stored as the artifact ``source/diff.patch``.
        """
        run_id = uuid.uuid4().hex
        source, diff = SourceVersion(), None
        if self.settings.capture_source:
            from opsloop.tracking.source import capture_source

            source, diff = capture_source(source_path)
        if diff is not None and source.diff_digest not in self._diffs_stored:
            self.transport.put_blob_bytes(diff)  # once per distinct diff, not once per run
            self._diffs_stored.add(source.diff_digest)
        environment = None
        if self.settings.capture_environment:
            from opsloop.tracking.environment import capture_environment

            environment = capture_environment()
        spec = RunSpec(
            id=run_id, project=project or self.settings.project, experiment=experiment,
            name=name or _run_name(run_id), start_time=_now_ms(), parent_id=parent_id,
            user=_user(), host=socket.gethostname(), command=shlex.join(sys.argv),
            params={k: str(v) for k, v in (params or {}).items()},
            tags={k: str(v) for k, v in (tags or {}).items()},
            source=source, environment=environment)
        run = self.transport.create_run(spec)
        with self._active_lock:
            self._active.add(run.id)
        self._start_heartbeat()
        return run

    def end_run(self, run_id: str, status: RunStatus | str = RunStatus.FINISHED, *,
                failure: str | None = None) -> Run:
        """Mark the run FINISHED, FAILED or KILLED, writing its buffered metrics with it."""
        points = self._buffer.take(run_id)
        try:
            run = self.transport.end_run(run_id, RunStatus(status), _now_ms(), failure,
                                         metrics=points)
        except BaseException:
            for p in points:  # not written: keep them for the next flush
                self._buffer.add(run_id, *p)
            raise
        with self._active_lock:
            self._active.discard(run_id)
        return run

    def get_run(self, run_id: str) -> Run:
        return self.transport.get_run(run_id)

    def log_metric(self, run_id: str, key: str, value: float, step: int = 0,
                   timestamp: int | None = None) -> None:
        """Buffer one metric point; it is written within the flush interval."""
        check_key("metric", key)
        self._buffer.add(run_id, key, check_metric_value(key, value), check_step(step),
                         _now_ms() if timestamp is None else check_step(timestamp))

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0,
                    timestamp: int | None = None) -> None:
        ts = _now_ms() if timestamp is None else timestamp
        for key, value in metrics.items():
            self.log_metric(run_id, key, value, step, ts)

    def log_batch(self, run_id: str, *, metrics: Iterable[Metric | Sequence[Any]] = (),
                  params: Mapping[str, Any] | None = None,
                  tags: Mapping[str, Any] | None = None) -> None:
        """Write metrics, params and tags of one run now, in one transaction."""
        now = _now_ms()
        points = [(m.key, m.value, m.step, m.timestamp) if isinstance(m, Metric)
                  else (m[0], m[1], m[2] if len(m) > 2 else 0, m[3] if len(m) > 3 else now)
                  for m in metrics]
        self.transport.log_batch(run_id, metrics=points, params=params, tags=tags)

    def log_param(self, run_id: str, key: str, value: Any) -> None:
        self.log_batch(run_id, params={key: value})

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        self.log_batch(run_id, params=params)

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self.log_batch(run_id, tags={key: value})

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        self.log_batch(run_id, tags=tags)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of ``key`` in step order (buffered points are flushed first)."""
        self._buffer.flush()
        return self.transport.get_metric_history(run_id, key)

    def _write_points(self, run_id: str, points: list[tuple[str, float, int, int]]) -> None:
        for i in range(0, len(points), 50_000):
            self.transport.log_batch(run_id, metrics=points[i:i + 50_000])

    # -- search ------------------------------------------------------------------------------

    def search_runs(
        self,
        experiments: str | Sequence[str] | None = None,
        *,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        project: str | None = None,
    ) -> Page[Run]:
        """One page of runs. See docs/tracking.md#search for the filter grammar.

        Args:
            experiments: experiment name(s); default every experiment of the project.
            filter: e.g. ``"metrics.auc > 0.8 and params.model = 'lgbm'"``.
            order_by: e.g. ``["metrics.auc desc", "start_time"]``.
            max_results: page size (1-50,000).
            page_token: ``next_page_token`` of the previous page.
        """
        self._buffer.flush()
        names = [experiments] if isinstance(experiments, str) else experiments
        return self.transport.search_runs(
            experiments=None if names is None else list(names),
            project=project or self.settings.project, filter=filter, order_by=order_by,
            max_results=max_results, page_token=page_token)

    def iter_runs(self, experiments: str | Sequence[str] | None = None, *,
                  filter: str | None = None,
                  order_by: Sequence[str] | None = None, page_size: int = 1000,
                  project: str | None = None) -> Iterator[Run]:
        """Every matching run, fetching pages as needed."""
        token: str | None = None
        while True:
            page = self.search_runs(experiments, filter=filter, order_by=order_by,
                                    max_results=page_size, page_token=token, project=project)
            yield from page.items
            token = page.next_page_token
            if token is None:
                return

    def search_runs_table(
        self,
        experiments: str | Sequence[str] | None = None,
        *,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int | None = None,
        output: TableFormat = "pandas",
        project: str | None = None,
    ) -> pd.DataFrame | pa.Table:
        """Matching runs as one table: a row per run, ``params.*``, ``metrics.*``, ``tags.*``.

        Args:
            output: ``"pandas"`` (default) or ``"arrow"``.
            max_results: at most this many runs (default and limit: 50,000).
        """
        if output not in ("pandas", "arrow"):
            raise InvalidInput("output", output, "must be 'pandas' or 'arrow'")
        self._buffer.flush()
        names = [experiments] if isinstance(experiments, str) else experiments
        table = self.transport.search_runs_table(
            experiments=None if names is None else list(names),
            project=project or self.settings.project, filter=filter, order_by=order_by,
            max_results=50_000 if max_results is None else max_results)
        return table if output == "arrow" else table.to_pandas()

    # -- artifacts ---------------------------------------------------------------------------

    def log_artifact(self, run_id: str, local_path: str | os.PathLike[str],
                     artifact_path: str | None = None) -> list[Artifact]:
        """Store a file, or every file under a folder, as artifacts of the run.

        A file goes to ``artifact_path/<file name>``; a folder's files keep their
        relative paths under ``artifact_path`` (or the folder's name).
        """
        src = Path(local_path)
        if not src.exists():
            raise NotFound("file", str(src))
        prefix = (artifact_path or "").strip("/")
        if src.is_file():
            files = [(src, f"{prefix}/{src.name}" if prefix else src.name)]
        else:
            base = prefix or src.name
            files = [(p, f"{base}/{p.relative_to(src).as_posix()}")
                     for p in sorted(src.rglob("*")) if p.is_file()]
        out = []
        for path, name in files:
            blob = self.transport.put_blob_file(path)
            out.append(self.transport.add_artifact(run_id, name, blob.digest, blob.size))
        return out

    def log_bytes(self, run_id: str, data: bytes, artifact_path: str) -> Artifact:
        blob = self.transport.put_blob_bytes(data)
        return self.transport.add_artifact(run_id, artifact_path, blob.digest, blob.size)

    def log_text(self, run_id: str, text: str, artifact_path: str) -> Artifact:
        return self.log_bytes(run_id, text.encode(), artifact_path)

    def log_dict(self, run_id: str, data: Mapping[str, Any], artifact_path: str) -> Artifact:
        """A dict as JSON (``.json``) or YAML (``.yaml``/``.yml``, needs PyYAML)."""
        if artifact_path.endswith((".yaml", ".yml")):
            import yaml

            return self.log_text(run_id, yaml.safe_dump(dict(data), sort_keys=False),
                                 artifact_path)
        import json

        return self.log_text(run_id, json.dumps(data, indent=2, default=str), artifact_path)

    def log_table(self, run_id: str, data: Any, name: str) -> Artifact:
        """A pandas/polars DataFrame or Arrow table as ``tables/<name>.parquet``."""
        from opsloop.client._tables import to_arrow, to_parquet_bytes

        return self.log_bytes(run_id, to_parquet_bytes(to_arrow(data)),
                              f"tables/{name.removesuffix('.parquet')}.parquet")

    def load_table(self, run_id: str, name: str) -> pd.DataFrame:
        import pyarrow.parquet as pq

        data = self.read_artifact(run_id, f"tables/{name.removesuffix('.parquet')}.parquet")
        return pq.read_table(io.BytesIO(data)).to_pandas()

    def log_figure(self, run_id: str, figure: Any, name: str = "figure.png") -> Artifact:
        """A matplotlib figure (PNG, SVG or PDF by extension) or a plotly figure (HTML)."""
        path = name if "/" in name else f"figures/{name}"
        if hasattr(figure, "savefig"):
            buf = io.BytesIO()
            fmt = Path(name).suffix.lstrip(".") or "png"
            figure.savefig(buf, format=fmt, bbox_inches="tight")
            return self.log_bytes(run_id, buf.getvalue(), path)
        if hasattr(figure, "to_html"):
            html_path = str(Path(path).with_suffix(".html"))
            return self.log_text(run_id, figure.to_html(include_plotlyjs="cdn"), html_path)
        raise InvalidInput("figure", type(figure).__name__,
                           "must be a matplotlib Figure or a plotly Figure")

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[Artifact]:
        return self.transport.list_artifacts(run_id, prefix)

    def read_artifact(self, run_id: str, path: str) -> bytes:
        """The verified bytes of one artifact."""
        art = self.transport.get_artifact(run_id, path)
        return self.transport.get_blob_bytes(art.digest, name=path)

    def download_artifacts(self, run_id: str, path: str = "",
                           dest: str | os.PathLike[str] = ".") -> Path:
        """Copy an artifact, or every artifact under ``path``, to ``dest`` (verified)."""
        dest = Path(dest)
        arts = self.transport.list_artifacts(run_id, path)
        if not arts:
            raise NotFound("artifact", f"{run_id}/{path}")
        for art in arts:
            self.transport.download_blob(art.digest, dest / art.path, name=art.path)
        return dest / path if path else dest

    # -- datasets ----------------------------------------------------------------------------

    def log_dataset(
        self,
        data: Any,
        *,
        name: str | None = None,
        role: str = "train",
        run_id: str | None = None,
        project: str | None = None,
        store: bool | None = None,
        source_uri: str | None = None,
    ) -> DatasetVersion:
        """Register a version of a dataset and, with ``run_id``, link the run to it.

        Identical content is the same version. Tables are stored as Parquet in the
        artifact store (``store=False`` to skip); files are referenced by their path.

        Args:
            data: a pandas/polars DataFrame, an Arrow table, or a path to a file or folder.
            name: dataset name (default: the file name without suffix; required for tables).
            role: how the run used it: ``train``, ``eval``, ``test``, ...
            run_id: the run that read it (lineage).
            store: keep a Parquet copy of table data (default: yes for tables).
            source_uri: where the data came from (default: the absolute path for files).
        """
        from opsloop.tracking.profile import fingerprint

        is_path = isinstance(data, str | os.PathLike)
        if name is None:
            if not is_path:
                raise InvalidInput("dataset name", None, "is required when logging a table",
                                   hint="pass name='credit-train'")
            name = Path(data).name.split(".")[0]
        fp = fingerprint(data)
        data_digest = None
        if fp.table is not None and (store if store is not None else not is_path):
            from opsloop.client._tables import to_parquet_bytes

            data_digest = self.transport.put_blob_bytes(to_parquet_bytes(fp.table)).digest
        if source_uri is None and is_path:
            source_uri = str(Path(data).absolute())
        version = self.transport.register_dataset_version(DatasetSpec(
            project=project or self.settings.project, name=name, digest=fp.digest,
            num_rows=fp.num_rows, schema=fp.schema, profile=fp.profile, source_uri=source_uri,
            data_digest=data_digest, created_by=_user()))
        if run_id is not None:
            check_key("dataset role", role)
            self.transport.link_run_input(run_id, version.id, role)
            version = version.model_copy(update={"role": role})
        return version

    def list_datasets(self, *, project: str | None = None,
                      all_projects: bool = False) -> list[Dataset]:
        return self.transport.list_datasets(
            None if all_projects else project or self.settings.project)

    def list_dataset_versions(self, name: str, *,
                              project: str | None = None) -> list[DatasetVersion]:
        return self.transport.list_dataset_versions(project or self.settings.project, name)

    def get_dataset_version(self, name: str, version: int | None = None, *,
                            project: str | None = None) -> DatasetVersion:
        """A dataset version by number (default: the latest)."""
        return self.transport.get_dataset_version(project or self.settings.project, name,
                                                  version)

    def load_dataset(self, name: str, version: int | None = None, *,
                     project: str | None = None) -> pd.DataFrame:
        """The stored table of a dataset version, verified against its digest."""
        import pyarrow.parquet as pq

        dv = self.get_dataset_version(name, version, project=project)
        if dv.data_digest is None:
            raise NotFound("stored data of dataset version", f"{dv.dataset}/{dv.version}",
                           hint=f"it was registered by reference; read {dv.source_uri}")
        data = self.transport.get_blob_bytes(dv.data_digest, name=f"{name}/{dv.version}")
        return pq.read_table(io.BytesIO(data)).to_pandas()

    def comment_run(self, run_id: str, text: str) -> Comment:
        """Add a comment to a run (comments on versions: ``client.models.comment``)."""
        return self.registry_transport.add_comment("run", run_id, text)

    def run_comments(self, run_id: str) -> list[Comment]:
        return self.registry_transport.list_comments("run", run_id)

    def get_run_inputs(self, run_id: str) -> list[DatasetVersion]:
        """The dataset versions a run read, each with its ``role``."""
        return self.transport.run_inputs(run_id)

    # -- liveness ------------------------------------------------------------------------------

    def _start_heartbeat(self) -> None:
        if self._heartbeat is not None:
            return
        self._heartbeat = threading.Thread(target=self._beat, name="opsloop-heartbeat",
                                           daemon=True)
        self._heartbeat.start()

    def _beat(self) -> None:
        while not self._closed.wait(self.settings.heartbeat_interval):
            with self._active_lock:
                ids = list(self._active)
            if not ids:
                continue
            try:
                self.transport.heartbeat(ids)
            except Exception as exc:
                log.warning("opsloop: heartbeat failed: %s", exc)

    def reap_lost_runs(self) -> int:
        """Mark RUNNING runs whose process stopped sending heartbeats as LOST now."""
        return self.transport.reap_lost_runs(force=True)


_ADJECTIVES = ("brave", "calm", "eager", "fond", "keen", "lucid", "merry", "noble", "proud",
               "quick", "sly", "tidy", "vast", "witty", "zesty", "bold")
_NOUNS = ("otter", "heron", "lynx", "panda", "raven", "tapir", "yak", "koala", "ibis", "orca",
          "moose", "gecko", "finch", "bison", "crane", "dingo")


def _run_name(run_id: str) -> str:
    """A readable default name derived from the id: ``keen-heron-42``."""
    n = int(run_id[:8], 16)
    return f"{_ADJECTIVES[n % 16]}-{_NOUNS[(n >> 4) % 16]}-{(n >> 8) % 1000}"


_open_clients: weakref.WeakSet[Client] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    for client in list(_open_clients):
        try:
            client.close()
        except Exception as exc:  # the process is ending; say what was lost
            log.error("opsloop: could not write buffered metrics at exit (%d points): %s",
                      len(client._buffer), exc)
