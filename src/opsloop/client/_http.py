"""The tracking API over HTTP: the same methods as :class:`opsloop.tracking.api.LocalTracking`.

Errors come back as ``{"error": {"code", "message", "hint", "details"}}`` and are raised
as the matching :mod:`opsloop.errors` class, so callers cannot tell the transports apart.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter

from opsloop.errors import DigestMismatch, OpsloopError, StoreUnavailable, from_wire
from opsloop.store import Blob
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

API = "/api/v1"

_experiments = TypeAdapter(list[Experiment])
_projects = TypeAdapter(list[Project])
_metrics = TypeAdapter(list[Metric])
_artifacts = TypeAdapter(list[Artifact])
_datasets = TypeAdapter(list[Dataset])
_versions = TypeAdapter(list[DatasetVersion])
_run_page = TypeAdapter(Page[Run])


def _seg(value: str) -> str:
    """One URL path segment (names may hold spaces, dots and slashes)."""
    return quote(value, safe="")


def _float(v: float) -> float | str:
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def _columns(metrics: Sequence[tuple[str, float, int, int]]) -> dict[str, list[Any]]:
    """Points as columns, not objects: a 10,000-point batch stays small and parses fast."""
    return {"key": [m[0] for m in metrics], "value": [_float(float(m[1])) for m in metrics],
            "step": [m[2] for m in metrics], "timestamp": [m[3] for m in metrics]}


class HttpTracking:
    """Talks to ``opsloop server`` at ``base_url``.

    Args:
        base_url: ``http://host:port`` of the server.
        timeout: seconds to wait for a response.
        token: bearer token sent with every request, if set.
        user: the local user name, sent for servers that run without auth.
    """

    def __init__(self, base_url: str, *, timeout: float = 30.0, token: str | None = None,
                 retries: int = 3, user: str | None = None) -> None:
        headers = {"User-Agent": "opsloop-client"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if user:  # who acts, for the audit log of a server without auth (ignored with auth)
            headers["X-Opsloop-User"] = user
        self.base_url = base_url.rstrip("/")
        # TCP_NODELAY: httpx writes headers and body separately, and Nagle's algorithm would
        # hold the body back until the server acknowledges the headers (about 1 ms a call).
        transport = httpx.HTTPTransport(
            retries=0, socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, headers=headers,
                                  transport=transport)
        self._retries = retries

    def close(self) -> None:
        self._http.close()

    # -- plumbing ------------------------------------------------------------------------

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        delay = 0.05
        for attempt in range(self._retries + 1):
            try:
                response = self._http.request(method, url, **kwargs)
            except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
                if attempt == self._retries:
                    raise StoreUnavailable(
                        f"cannot reach the opsloop server at {self.base_url}: {exc}",
                        hint="start it with 'opsloop server' or check OPSLOOP_TRACKING_URI",
                    ) from None
                time.sleep(delay)
                delay *= 4
                continue
            except httpx.TimeoutException:
                raise StoreUnavailable(f"the opsloop server at {self.base_url} timed out",
                                       hint="raise OPSLOOP_HTTP_TIMEOUT or check the server"
                                       ) from None
            if response.status_code >= 400:
                raise self._error(response)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _error(self, response: httpx.Response) -> OpsloopError:
        try:
            body = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            return StoreUnavailable(
                f"the server answered HTTP {response.status_code}: {response.text[:200]}",
                hint="is OPSLOOP_TRACKING_URI pointing at an opsloop server?")
        return from_wire(body)

    def _get(self, url: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self._request("GET", url, params=clean).content

    def _post(self, url: str, body: Any) -> bytes:
        return self._request("POST", url, json=body).content

    # -- projects and experiments -------------------------------------------------------

    def list_projects(self) -> list[Project]:
        return _projects.validate_json(self._get(f"{API}/projects"))

    def create_experiment(self, project: str, name: str, description: str = "") -> Experiment:
        return Experiment.model_validate_json(self._post(
            f"{API}/experiments", {"project": project, "name": name, "description": description}))

    def get_experiment(self, project: str, name: str) -> Experiment:
        return Experiment.model_validate_json(
            self._get(f"{API}/experiments/{_seg(project)}/{_seg(name)}"))

    def get_or_create_experiment(self, project: str, name: str) -> Experiment:
        return Experiment.model_validate_json(self._post(
            f"{API}/experiments", {"project": project, "name": name, "exist_ok": True}))

    def list_experiments(self, project: str | None = None) -> list[Experiment]:
        return _experiments.validate_json(self._get(f"{API}/experiments", project=project))

    # -- runs ----------------------------------------------------------------------------

    def create_run(self, spec: RunSpec) -> Run:
        return Run.model_validate_json(self._request(
            "POST", f"{API}/runs", content=spec.model_dump_json(),
            headers={"Content-Type": "application/json"}).content)

    def end_run(self, run_id: str, status: RunStatus = RunStatus.FINISHED,
                end_time: int | None = None, failure: str | None = None,
                metrics: Sequence[tuple[str, float, int, int]] = ()) -> Run:
        return Run.model_validate_json(self._post(
            f"{API}/runs/{_seg(run_id)}/end",
            {"status": RunStatus(status).value, "end_time": end_time, "failure": failure,
             "metrics": _columns(metrics)}))

    def log_batch(self, run_id: str, *, metrics: Sequence[tuple[str, float, int, int]] = (),
                  params: Mapping[str, Any] | None = None,
                  tags: Mapping[str, Any] | None = None) -> None:
        body = {
            "metrics": _columns(metrics),
            "params": {k: str(v) for k, v in (params or {}).items()},
            "tags": {k: str(v) for k, v in (tags or {}).items()},
        }
        self._post(f"{API}/runs/{_seg(run_id)}/batch", body)

    def heartbeat(self, run_ids: Sequence[str]) -> None:
        self._post(f"{API}/runs/heartbeat", {"run_ids": list(run_ids)})

    def reap_lost_runs(self, *, force: bool = False) -> int:
        return int(self._request("POST", f"{API}/runs/reap").json()["lost"])

    def get_run(self, run_id: str) -> Run:
        return Run.model_validate_json(self._get(f"{API}/runs/{_seg(run_id)}"))

    def search_runs(self, *, experiment_ids: Sequence[int] | None = None,
                    experiments: Sequence[str] | None = None, project: str | None = None,
                    filter: str | None = None,
                    order_by: Sequence[str] | None = None, max_results: int = 1000,
                    page_token: str | None = None) -> Page[Run]:
        body = {"experiment_ids": None if experiment_ids is None else list(experiment_ids),
                "experiments": None if experiments is None else list(experiments),
                "project": project,
                "filter": filter, "order_by": list(order_by or []),
                "max_results": max_results, "page_token": page_token}
        return _run_page.validate_json(self._post(f"{API}/runs/search", body))

    def search_runs_table(self, *, experiments: Sequence[str] | None = None,
                          project: str | None = None, filter: str | None = None,
                          order_by: Sequence[str] | None = None,
                          max_results: int = 50_000) -> Any:
        """Matching runs as an Arrow table, sent as an Arrow IPC stream."""
        from opsloop.tracking.tables import ARROW_STREAM, from_ipc

        body = {"experiments": None if experiments is None else list(experiments),
                "project": project, "filter": filter, "order_by": list(order_by or []),
                "max_results": max_results}
        return from_ipc(self._request("POST", f"{API}/runs/search-table", json=body,
                                      headers={"Accept": ARROW_STREAM}).content)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        return _metrics.validate_json(
            self._get(f"{API}/runs/{_seg(run_id)}/metric-history", key=key))

    # -- blobs and artifacts ---------------------------------------------------------------

    def has_blob(self, digest: str) -> bool:
        # A HEAD answer has no body to carry an error, so read the status alone.
        try:
            status = self._http.head(f"{API}/blobs/{_seg(digest)}").status_code
        except httpx.TransportError as exc:
            raise StoreUnavailable(f"cannot reach the opsloop server at {self.base_url}: "
                                   f"{exc}") from None
        if status == 404:
            return False
        if status >= 400:
            return self._request("GET", f"{API}/blobs/{_seg(digest)}") is None  # raises
        return True

    def put_blob_bytes(self, data: bytes) -> Blob:
        digest = hashlib.sha256(data).hexdigest()
        if not self.has_blob(digest):
            self._request("PUT", f"{API}/blobs/{digest}", content=data)
        return Blob(digest, len(data))

    def put_blob_file(self, path: str | os.PathLike[str]) -> Blob:
        from opsloop.store.artifacts import sha256_file

        blob = sha256_file(path)
        if not self.has_blob(blob.digest):
            with open(path, "rb") as fh:
                self._request("PUT", f"{API}/blobs/{blob.digest}", content=fh)
        return blob

    def get_blob_bytes(self, digest: str, *, name: str = "") -> bytes:
        try:
            data = self._request("GET", f"{API}/blobs/{_seg(digest)}").content
        except DigestMismatch as exc:  # detected by the server: name it as the caller knows it
            raise DigestMismatch(name or digest, digest, exc.details.get("actual", "?")) from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise DigestMismatch(name or digest, digest, actual)
        return data

    def download_blob(self, digest: str, dest: str | os.PathLike[str], *,
                      name: str = "") -> Path:
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        h = hashlib.sha256()
        with self._http.stream("GET", f"{API}/blobs/{_seg(digest)}") as response:
            if response.status_code >= 400:
                response.read()
                error = self._error(response)
                if isinstance(error, DigestMismatch):
                    error = DigestMismatch(name or str(dest), digest,
                                           error.details.get("actual", "?"))
                raise error
            with open(part, "wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    h.update(chunk)
                    out.write(chunk)
        if h.hexdigest() != digest:
            part.unlink()
            raise DigestMismatch(name or str(dest), digest, h.hexdigest())
        os.replace(part, dest)
        return dest

    def add_artifact(self, run_id: str, path: str, digest: str, size: int) -> Artifact:
        return Artifact.model_validate_json(self._post(
            f"{API}/runs/{_seg(run_id)}/artifacts",
            {"path": path, "digest": digest, "size": size}))

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[Artifact]:
        return _artifacts.validate_json(
            self._get(f"{API}/runs/{_seg(run_id)}/artifacts", prefix=prefix or None))

    def get_artifact(self, run_id: str, path: str) -> Artifact:
        return Artifact.model_validate_json(
            self._get(f"{API}/runs/{_seg(run_id)}/artifact", path=path))

    # -- datasets --------------------------------------------------------------------------

    def register_dataset_version(self, spec: DatasetSpec) -> DatasetVersion:
        return DatasetVersion.model_validate_json(self._request(
            "POST", f"{API}/datasets/versions", content=spec.model_dump_json(),
            headers={"Content-Type": "application/json"}).content)

    def list_datasets(self, project: str | None = None) -> list[Dataset]:
        return _datasets.validate_json(self._get(f"{API}/datasets", project=project))

    def list_dataset_versions(self, project: str, name: str) -> list[DatasetVersion]:
        return _versions.validate_json(
            self._get(f"{API}/datasets/{_seg(project)}/{_seg(name)}/versions"))

    def get_dataset_version(self, project: str, name: str,
                            version: int | None = None) -> DatasetVersion:
        which = "latest" if version is None else str(version)
        return DatasetVersion.model_validate_json(
            self._get(f"{API}/datasets/{_seg(project)}/{_seg(name)}/versions/{which}"))

    def link_run_input(self, run_id: str, dataset_version_id: int, role: str) -> None:
        self._post(f"{API}/runs/{_seg(run_id)}/inputs",
                   {"dataset_version_id": dataset_version_id, "role": role})

    def run_inputs(self, run_id: str) -> list[DatasetVersion]:
        return _versions.validate_json(self._get(f"{API}/runs/{_seg(run_id)}/inputs"))
