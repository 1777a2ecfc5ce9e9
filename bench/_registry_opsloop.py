"""One registry workload through opsloop, in a fresh process; prints one JSON line.

Run by ``bench/registry.py`` with the main virtualenv's interpreter::

    python bench/_registry_opsloop.py register --home /tmp/x --n 1000
    python bench/_registry_opsloop.py resolve --tracking-uri http://127.0.0.1:5001 --n 10000

``--home`` selects the embedded stores (SQLite and blobs under that folder);
``--tracking-uri`` an ``opsloop server`` (the client's own home is then a folder in the
working directory, for its caches). Source capture is off: the registry workloads log
no runs of their own, apart from the one source run created before the clock starts.

Per registered version, ``client.models.register(MODEL, folder, run_id=run)`` reads the
folder's manifest, hashes its two files and stores each blob (content-addressed: the
second and later versions find them already stored, so nothing is copied or uploaded
again), then creates the version in one transaction, which checks the blobs exist and
snapshots the source run's lineage (params, metrics, code version, datasets).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import EXPERIMENT, emit, percentile, run_metrics, run_params

MODEL = "bench-model"
ALIAS = "prod"
WARMUP_CALLS = 10

_where: dict[str, str] = {}


def _client() -> Any:
    import opsloop

    if "tracking_uri" in _where:
        home = Path.cwd() / "client-home"
        return opsloop.Client(home=str(home), tracking_uri=_where["tracking_uri"],
                              capture_source=False)
    return opsloop.Client(home=_where["home"], capture_source=False)


def _tiny_model_folder() -> Path:
    """A linear regression on 3 points, saved once (skops file + manifest, ~6 KB)."""
    import numpy as np
    from sklearn.linear_model import LinearRegression

    from opsloop.registry import save_model_files

    x = np.array([[0.0], [1.0], [2.0]])
    folder = Path(tempfile.mkdtemp(prefix="opsloop-bench-model-")) / "model"
    save_model_files(LinearRegression().fit(x, 2 * x[:, 0]), folder)
    return folder


def _setup(client: Any) -> tuple[Path, str]:
    """Untimed: the model folder, its source run (10 params, 10 metrics), the model."""
    folder = _tiny_model_folder()
    run = client.create_run(EXPERIMENT, params=run_params(0))
    client.log_metrics(run.id, run_metrics(0))
    client.end_run(run.id)
    client.models.create(MODEL, exist_ok=True)
    return folder, run.id


def _register(client: Any, folder: Path, run_id: str, n: int) -> tuple[list[int], int]:
    latencies = [0] * n
    clock = time.perf_counter_ns
    t0 = clock()
    for i in range(n):
        t = clock()
        client.models.register(MODEL, folder, run_id=run_id)
        latencies[i] = clock() - t
    return latencies, clock() - t0


def register(n: int) -> dict[str, Any]:
    """``n`` versions of one model folder, each call timed."""
    client = _client()
    folder, run_id = _setup(client)
    latencies, elapsed = _register(client, folder, run_id, n)
    versions = client.models.versions(MODEL)
    ms = [ns / 1e6 for ns in latencies]
    client.close()
    return {
        "versions": n,
        "seconds": elapsed / 1e9,
        "ops_s": n / (elapsed / 1e9),
        "ms_per_version": elapsed / 1e6 / n,
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms),
        "stored_versions": len(versions),
        "verified": len(versions) == n and max(v.version for v in versions) == n,
    }


def populate(n: int) -> dict[str, Any]:
    """Not a workload: the store the resolve workload runs on (copied for each run).

    ``n`` versions registered as in ``register``, then alias ``prod`` -> version n/2.
    """
    client = _client()
    folder, run_id = _setup(client)
    _, elapsed = _register(client, folder, run_id, n)
    client.models.set_alias(MODEL, ALIAS, n // 2)
    version = client.models.resolve(f"{MODEL}@{ALIAS}").version
    client.close()
    return {"versions": n, "seconds": elapsed / 1e9, "alias_version": version,
            "verified": version == n // 2}


def resolve(n: int) -> dict[str, Any]:
    """``n`` resolutions of ``bench-model@prod``, each call timed (after 10 untimed ones)."""
    client = _client()
    ref = f"{MODEL}@{ALIAS}"
    expected = client.models.resolve(ref).version
    for _ in range(WARMUP_CALLS):
        client.models.resolve(ref)
    latencies = [0] * n
    clock = time.perf_counter_ns
    wrong = 0
    t0 = clock()
    for i in range(n):
        t = clock()
        version = client.models.resolve(ref)
        latencies[i] = clock() - t
        wrong += version.version != expected
    elapsed = clock() - t0
    client.close()
    us = [ns / 1e3 for ns in latencies]
    return {
        "calls": n,
        "seconds": elapsed / 1e9,
        "ops_s": n / (elapsed / 1e9),
        "p50_us": percentile(us, 50),
        "p99_us": percentile(us, 99),
        "max_us": max(us),
        "mean_us": sum(us) / n,
        "alias_version": expected,
        "verified": wrong == 0,
    }


WORKLOADS: dict[str, Callable[[int], dict[str, Any]]] = {
    "register": register,
    "populate": populate,
    "resolve": resolve,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--home", help="home of the embedded stores")
    where.add_argument("--tracking-uri", help="URL of an opsloop server")
    parser.add_argument("--n", type=int, required=True, help="versions or calls")
    args = parser.parse_args(argv)
    if args.home:
        _where["home"] = args.home
    else:
        _where["tracking_uri"] = args.tracking_uri
    try:
        result = WORKLOADS[args.workload](args.n)
    except Exception:
        traceback.print_exc()
        return 1
    import opsloop

    result["version"] = opsloop.__version__
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
