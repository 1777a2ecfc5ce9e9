"""The fluent tracking API: ``with opsloop.start_run(...) as run: run.log_metric(...)``.

A process has a default :class:`~opsloop.client.Client`, built from the settings on
first use (or by :func:`init`), and a stack of active runs; nested runs take the run
below them as their parent.

Example:
    >>> import tempfile, opsloop
    >>> _ = opsloop.init(home=tempfile.mkdtemp())
    >>> with opsloop.start_run(experiment="credit", params={"model": "lgbm"}) as run:
    ...     for epoch in range(3):
    ...         run.log_metric("loss", 1.0 / (epoch + 1))
    >>> opsloop.get_run(run.id).metrics
    {'loss': 0.3333333333333333}
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from opsloop._names import _key_ok, check_key, check_metric_value, check_step
from opsloop.client._client import DEFAULT_EXPERIMENT, Client, TableFormat
from opsloop.config import Settings
from opsloop.errors import Conflict
from opsloop.tracking.entities import Artifact, DatasetVersion, Run, RunStatus

if TYPE_CHECKING:
    import pandas as pd

    from opsloop.registry.entities import ModelVersion

__all__ = [
    "ActiveRun",
    "active_run",
    "end_run",
    "get_client",
    "get_run",
    "init",
    "log_artifact",
    "log_dataset",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "register_model",
    "search_runs",
    "set_tag",
    "set_tags",
    "start_run",
]

_lock = threading.RLock()
_client: Client | None = None
_stack: list[ActiveRun] = []
_MAX_TRACEBACK = 64_000


def init(settings: Settings | None = None, **overrides: Any) -> Client:
    """(Re)build the process's default client, e.g. ``opsloop.init(home="/tmp/x")``.

    Active runs of the previous client are ended first.
    """
    global _client
    with _lock:
        while _stack:
            _stack[-1].end()
        if _client is not None:
            _client.close()
        _client = Client(settings, **overrides)
        return _client


def get_client() -> Client:
    """The default client (built from ``Settings.load()`` on first use)."""
    global _client
    with _lock:
        if _client is None:
            _client = Client()
        return _client


class ActiveRun:
    """A run this process is executing; use it as a context manager.

    Leaving the ``with`` block ends the run: FINISHED, or FAILED with the traceback when
    an exception escaped, or KILLED on KeyboardInterrupt.
    """

    def __init__(self, client: Client, run: Run) -> None:
        self.client = client
        self.info = run
        self.id = run.id
        self._steps: dict[str, int] = {}
        self._buffer = client._buffer
        self._ended = False

    def __repr__(self) -> str:
        return f"<ActiveRun {self.id} {self.info.experiment}/{self.info.name}>"

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.end()
        elif issubclass(exc_type, KeyboardInterrupt):
            self.end(RunStatus.KILLED, failure="KeyboardInterrupt")
        else:
            text = "".join(traceback.format_exception(exc_type, exc, tb))
            self.end(RunStatus.FAILED, failure=text[-_MAX_TRACEBACK:])

    # -- logging ----------------------------------------------------------------------------

    def log_metric(self, key: str, value: float, step: int | None = None,
                   timestamp: int | None = None) -> None:
        """Buffer one point. Without ``step``, each key counts its own steps 0, 1, 2, ..."""
        if key.__class__ is not str or not _key_ok(key):
            check_key("metric", key)
        value = value if value.__class__ is float else check_metric_value(key, value)
        if step is None:
            step = self._steps.get(key, -1) + 1
        elif step.__class__ is not int:
            step = check_step(step)
        self._steps[key] = step
        self._buffer.add(self.id, key, value, step,
                         time.time_ns() // 1_000_000 if timestamp is None else timestamp)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        ts = time.time_ns() // 1_000_000
        for key, value in metrics.items():
            self.log_metric(key, value, step, ts)

    def log_param(self, key: str, value: Any) -> None:
        self.client.log_params(self.id, {key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Params are immutable: logging a key again with another value is a Conflict."""
        self.client.log_params(self.id, params)

    def set_tag(self, key: str, value: Any) -> None:
        self.client.set_tags(self.id, {key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self.client.set_tags(self.id, tags)

    def log_artifact(self, local_path: str | os.PathLike[str],
                     artifact_path: str | None = None) -> list[Artifact]:
        return self.client.log_artifact(self.id, local_path, artifact_path)

    def log_text(self, text: str, artifact_path: str) -> Artifact:
        return self.client.log_text(self.id, text, artifact_path)

    def log_dict(self, data: Mapping[str, Any], artifact_path: str) -> Artifact:
        return self.client.log_dict(self.id, data, artifact_path)

    def log_table(self, data: Any, name: str) -> Artifact:
        return self.client.log_table(self.id, data, name)

    def log_figure(self, figure: Any, name: str = "figure.png") -> Artifact:
        return self.client.log_figure(self.id, figure, name)

    def log_dataset(self, data: Any, *, role: str = "train", name: str | None = None,
                    store: bool | None = None, source_uri: str | None = None) -> DatasetVersion:
        """Register a dataset version and record that this run read it in ``role``."""
        return self.client.log_dataset(data, name=name, role=role, run_id=self.id,
                                       project=self.info.project, store=store,
                                       source_uri=source_uri)

    def end(self, status: RunStatus | str = RunStatus.FINISHED, *,
            failure: str | None = None) -> Run:
        """End the run (idempotent) and pop it from the active stack."""
        with _lock:
            if self in _stack:
                _stack.remove(self)
        if not self._ended:
            self._ended = True
            self.info = self.client.end_run(self.id, status, failure=failure)
        return self.info


def start_run(
    experiment: str | None = None,
    *,
    name: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    nested: bool = False,
    project: str | None = None,
    client: Client | None = None,
) -> ActiveRun:
    """Start a run and make it the active run.

    Args:
        experiment: experiment name, created if needed (default: the active run's
            experiment when nested, else ``"Default"``).
        name: run name (default: a readable name derived from the id).
        params: params to log at once (immutable afterwards).
        tags: tags to set at once.
        nested: start a child of the active run; without it, starting a run while
            another is active is a Conflict.
        project: project of the experiment (default: ``OPSLOOP_PROJECT``).
        client: client to use (default: :func:`get_client`).
    """
    with _lock:
        parent = _stack[-1] if _stack else None
        if parent is not None and not nested:
            raise Conflict(f"run {parent.id} is already active",
                           hint="end it first, or pass nested=True to start a child run")
        cl = client or (parent.client if parent else get_client())
        exp = experiment or (parent.info.experiment if parent else DEFAULT_EXPERIMENT)
        run = cl.create_run(exp, name=name, params=params, tags=tags,
                            parent_id=parent.id if parent else None,
                            project=project or (parent.info.project if parent else None))
        active = ActiveRun(cl, run)
        _stack.append(active)
        _install_excepthook()
        return active


def active_run() -> ActiveRun | None:
    """The innermost active run, or ``None``."""
    with _lock:
        return _stack[-1] if _stack else None


def _require_run() -> ActiveRun:
    run = active_run()
    if run is None:
        raise Conflict("no run is active", hint="call opsloop.start_run() first")
    return run


def end_run(status: RunStatus | str = RunStatus.FINISHED) -> Run | None:
    """End the innermost active run, if any."""
    run = active_run()
    return None if run is None else run.end(status)


def log_metric(key: str, value: float, step: int | None = None) -> None:
    _require_run().log_metric(key, value, step)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    _require_run().log_metrics(metrics, step)


def log_param(key: str, value: Any) -> None:
    _require_run().log_param(key, value)


def log_params(params: Mapping[str, Any]) -> None:
    _require_run().log_params(params)


def set_tag(key: str, value: Any) -> None:
    _require_run().set_tag(key, value)


def set_tags(tags: Mapping[str, Any]) -> None:
    _require_run().set_tags(tags)


def log_artifact(local_path: str | os.PathLike[str],
                 artifact_path: str | None = None) -> list[Artifact]:
    return _require_run().log_artifact(local_path, artifact_path)


def log_dataset(data: Any, *, name: str | None = None, role: str = "train",
                store: bool | None = None, source_uri: str | None = None) -> DatasetVersion:
    """Register a dataset version; linked to the active run, if there is one."""
    run = active_run()
    if run is not None:
        return run.log_dataset(data, role=role, name=name, store=store, source_uri=source_uri)
    return get_client().log_dataset(data, name=name, role=role, store=store,
                                    source_uri=source_uri)


def get_run(run_id: str) -> Run:
    return get_client().get_run(run_id)


def register_model(run: ActiveRun | Run | str | None, name: str, model: Any,
                   **kwargs: Any) -> ModelVersion:
    """Register ``model`` as the next version of ``name``, with ``run`` as its lineage.

    ``run`` is an active run, a :class:`Run`, a run id, or ``None``. Other arguments are
    those of :meth:`opsloop.client.Models.register` (``flavor``, ``input_example``, ...).
    """
    run_id = run if isinstance(run, str) or run is None else run.id
    return get_client().models.register(name, model, run_id=run_id, **kwargs)


def search_runs(
    experiments: str | list[str] | None = None,
    *,
    filter: str | None = None,
    order_by: list[str] | None = None,
    max_results: int | None = None,
    output: TableFormat = "pandas",
) -> pd.DataFrame:
    """Matching runs as a table. See :meth:`Client.search_runs_table`."""
    table: pd.DataFrame = get_client().search_runs_table(
        experiments, filter=filter, order_by=order_by, max_results=max_results, output=output)
    return table


_hook_installed = False
_uncaught: BaseException | None = None


def _install_excepthook() -> None:
    """Remember an uncaught exception so the exit handler ends open runs as FAILED."""
    global _hook_installed
    if _hook_installed:
        return
    _hook_installed = True
    previous = sys.excepthook

    def hook(exc_type: type[BaseException], exc: BaseException,
             tb: TracebackType | None) -> None:
        global _uncaught
        _uncaught = exc
        previous(exc_type, exc, tb)

    sys.excepthook = hook


@atexit.register
def _end_runs_at_exit() -> None:
    while _stack:
        run = _stack[-1]
        try:
            if _uncaught is not None:
                run.end(RunStatus.FAILED, failure="".join(
                    traceback.format_exception(_uncaught))[-_MAX_TRACEBACK:])
            else:
                run.end()
        except Exception:
            _stack.remove(run)
