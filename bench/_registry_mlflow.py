"""One registry workload through MLflow, in a fresh process; prints one JSON line.

Run by ``bench/registry.py`` with the interpreter of MLflow's own virtualenv
(``bench/.venvs/mlflow``); it imports nothing from opsloop::

    python bench/_registry_mlflow.py register --tracking-uri sqlite:////tmp/x/mlflow.db --n 1000
    python bench/_registry_mlflow.py resolve --tracking-uri http://127.0.0.1:5002 --n 1000

The registry URI is the tracking URI (MLflow's default). Before the clock starts, one
run with 10 params and 10 metrics logs the same tiny model as the opsloop side with
``mlflow.sklearn.log_model`` (MLflow 3: a LoggedModel with its artifacts), and the
registered model is created. Per registered version,
``MlflowClient().create_model_version(MODEL, source=<the logged model's artifact
location>, run_id=<the run>, model_id=<the logged model>)`` records a version pointing
at those already-stored artifacts; with its default ``await_creation_for`` the client
then reads the version back until it is READY (one more request over REST).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from _common import EXPERIMENT, emit, percentile, run_metrics, run_params

MODEL = "bench-model"
ALIAS = "prod"
WARMUP_CALLS = 10

# No usage data may leave the machine; set before mlflow is imported.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


def _setup() -> tuple[Any, str, str, str]:
    """Untimed: the source run with the logged model, and the registered model."""
    import logging

    import mlflow
    import numpy as np
    from mlflow import MlflowClient
    from sklearn.linear_model import LinearRegression

    # One INFO line per version ("Waiting up to 300 seconds...") would flood the log.
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    mlflow.set_experiment(EXPERIMENT)
    x = np.array([[0.0], [1.0], [2.0]])
    with mlflow.start_run() as run:
        mlflow.log_params(run_params(0))
        mlflow.log_metrics(run_metrics(0))
        info = mlflow.sklearn.log_model(LinearRegression().fit(x, 2 * x[:, 0]), name="model")
    source = mlflow.get_logged_model(info.model_id).artifact_location
    client = MlflowClient()
    client.create_registered_model(MODEL)
    return client, source, run.info.run_id, info.model_id


def _register(client: Any, source: str, run_id: str, model_id: str,
              n: int) -> tuple[list[int], int]:
    latencies = [0] * n
    clock = time.perf_counter_ns
    t0 = clock()
    for i in range(n):
        t = clock()
        client.create_model_version(MODEL, source=source, run_id=run_id, model_id=model_id)
        latencies[i] = clock() - t
    return latencies, clock() - t0


def _stored_versions(client: Any) -> list[int]:
    return [int(v.version) for v in client.search_model_versions(f"name = '{MODEL}'")]


def register(n: int) -> dict[str, Any]:
    """``n`` versions pointing at one logged model, each call timed."""
    client, source, run_id, model_id = _setup()
    latencies, elapsed = _register(client, source, run_id, model_id, n)
    versions = _stored_versions(client)
    ms = [ns / 1e6 for ns in latencies]
    return {
        "versions": n,
        "seconds": elapsed / 1e9,
        "ops_s": n / (elapsed / 1e9),
        "ms_per_version": elapsed / 1e6 / n,
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms),
        "stored_versions": len(versions),
        "verified": len(versions) == n and max(versions) == n,
    }


def populate(n: int) -> dict[str, Any]:
    """Not a workload: the store the resolve workload runs on (copied for each run).

    ``n`` versions registered as in ``register``, then alias ``prod`` -> version n/2.
    """
    client, source, run_id, model_id = _setup()
    _, elapsed = _register(client, source, run_id, model_id, n)
    client.set_registered_model_alias(MODEL, ALIAS, str(n // 2))
    version = int(client.get_model_version_by_alias(MODEL, ALIAS).version)
    return {"versions": n, "seconds": elapsed / 1e9, "alias_version": version,
            "verified": version == n // 2}


def resolve(n: int) -> dict[str, Any]:
    """``n`` calls of ``get_model_version_by_alias``, each timed (after 10 untimed ones)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    expected = client.get_model_version_by_alias(MODEL, ALIAS).version
    for _ in range(WARMUP_CALLS):
        client.get_model_version_by_alias(MODEL, ALIAS)
    latencies = [0] * n
    clock = time.perf_counter_ns
    wrong = 0
    t0 = clock()
    for i in range(n):
        t = clock()
        version = client.get_model_version_by_alias(MODEL, ALIAS)
        latencies[i] = clock() - t
        wrong += version.version != expected
    elapsed = clock() - t0
    us = [ns / 1e3 for ns in latencies]
    return {
        "calls": n,
        "seconds": elapsed / 1e9,
        "ops_s": n / (elapsed / 1e9),
        "p50_us": percentile(us, 50),
        "p99_us": percentile(us, 99),
        "max_us": max(us),
        "mean_us": sum(us) / n,
        "alias_version": int(expected),
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
    parser.add_argument(
        "--tracking-uri",
        required=True,
        help="sqlite:///... (local) or http://127.0.0.1:PORT (mlflow server)",
    )
    parser.add_argument("--n", type=int, required=True, help="versions or calls")
    args = parser.parse_args(argv)
    try:
        import mlflow

        mlflow.set_tracking_uri(args.tracking_uri)
        mlflow.set_registry_uri(args.tracking_uri)
        result = WORKLOADS[args.workload](args.n)
    except Exception:
        traceback.print_exc()
        return 1
    result["version"] = mlflow.__version__
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
