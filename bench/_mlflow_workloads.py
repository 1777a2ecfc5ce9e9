"""One tracking workload through MLflow, in a fresh process; prints one JSON line.

Run by ``bench/tracking.py`` with the interpreter of MLflow's own virtualenv
(``bench/.venvs/mlflow``); it imports nothing from opsloop::

    python bench/_mlflow_workloads.py log_metric --tracking-uri sqlite:////tmp/x/mlflow.db --n 200
    python bench/_mlflow_workloads.py create_runs --tracking-uri http://127.0.0.1:5002 --n 100

Each workload is the idiomatic MLflow equivalent of the opsloop one in
``_opsloop_workloads.py``. ``populate`` is not a workload: it fills a store with runs
quickly (one ``log_batch`` per run) for the search workloads.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from _common import EXPERIMENT, SEARCH_CALLS, emit, median, percentile, run_metrics, run_params

WARMUP_CALLS = 10
FILTER = "metrics.m0 > 0.5 and params.p0 = 'v3'"
ORDER_BY = ["metrics.m1 DESC"]

# No usage data may leave the machine; set before mlflow is imported.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


def _values(n: int) -> list[float]:
    rng = random.Random(42)
    return [rng.random() for _ in range(n)]


def _experiment_id() -> str:
    import mlflow

    exp = mlflow.get_experiment_by_name(EXPERIMENT)
    if exp is None:
        raise SystemExit(f"experiment {EXPERIMENT!r} not found in the store")
    return str(exp.experiment_id)


def log_metric(n: int) -> dict[str, Any]:
    """Workload 1: ``mlflow.log_metric`` timed call by call."""
    import mlflow

    mlflow.set_experiment(EXPERIMENT)
    values = _values(n)
    latencies = [0] * n
    clock = time.perf_counter_ns
    with mlflow.start_run():
        for i in range(WARMUP_CALLS):
            mlflow.log_metric("warmup", 0.0, step=i)
        for i in range(n):
            value = values[i]
            t0 = clock()
            mlflow.log_metric("loss", value, step=i)
            latencies[i] = clock() - t0
    us = [ns / 1000 for ns in latencies]
    return {
        "calls": n,
        "p50_us": percentile(us, 50),
        "p99_us": percentile(us, 99),
        "max_us": max(us),
        "mean_us": sum(us) / n,
    }


def points_10k(n: int) -> dict[str, Any]:
    """Workload 2: ``n`` ``mlflow.log_metric`` calls (each is stored when it returns)."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_experiment(EXPERIMENT)
    values = _values(n)
    with mlflow.start_run() as run:
        t0 = time.perf_counter_ns()
        for i in range(n):
            mlflow.log_metric("loss", values[i], step=i)
        elapsed = time.perf_counter_ns() - t0
        stored = len(MlflowClient().get_metric_history(run.info.run_id, "loss"))
    return {"points": n, "seconds": elapsed / 1e9, "stored_points": stored, "verified": stored == n}


def log_batch(n: int) -> dict[str, Any]:
    """Workload 3: one ``MlflowClient.log_batch`` of ``n`` points (10 keys x n/10 steps)."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    mlflow.set_experiment(EXPERIMENT)
    keys = [f"k{j}" for j in range(10)]
    rng = random.Random(7)
    ts = time.time_ns() // 1_000_000
    metrics = [Metric(key, rng.random(), ts, step) for step in range(n // 10) for key in keys]
    client = MlflowClient()
    with mlflow.start_run() as run:
        t0 = time.perf_counter_ns()
        client.log_batch(run.info.run_id, metrics=metrics)
        elapsed = time.perf_counter_ns() - t0
        stored = sum(len(client.get_metric_history(run.info.run_id, key)) for key in keys)
    return {
        "points": len(metrics),
        "seconds": elapsed / 1e9,
        "stored_points": stored,
        "verified": stored == len(metrics),
    }


def create_runs(n: int) -> dict[str, Any]:
    """Workload 4: ``n`` runs, each with 10 params and 10 metrics, the idiomatic way."""
    import mlflow

    params = [run_params(i) for i in range(n)]
    metrics = [run_metrics(i) for i in range(n)]
    exp_id = mlflow.set_experiment(EXPERIMENT).experiment_id  # opens the store: not timed
    t0 = time.perf_counter_ns()
    for i in range(n):
        with mlflow.start_run():
            mlflow.log_params(params[i])
            mlflow.log_metrics(metrics[i])
    elapsed = time.perf_counter_ns() - t0
    stored = len(mlflow.search_runs(experiment_ids=[exp_id]))
    return {
        "runs": n,
        "seconds": elapsed / 1e9,
        "ms_per_run": elapsed / 1e6 / n,
        "stored_runs": stored,
        "verified": stored == n,
    }


def populate(n: int) -> dict[str, Any]:
    """Not timed as a workload: ``n`` finished runs, each written with one ``log_batch``.

    The runs carry the same params and metrics as ``create_runs`` and the tags a
    fluent ``mlflow.start_run`` would set (user, source, git commit, run name).
    """
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param
    from mlflow.tracking.context.registry import resolve_tags

    exp_id = mlflow.set_experiment(EXPERIMENT).experiment_id
    client = MlflowClient()
    tags = resolve_tags({})
    t0 = time.perf_counter_ns()
    for i in range(n):
        run = client.create_run(exp_id, tags=tags, run_name=f"bench-{i}")
        ts = time.time_ns() // 1_000_000
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(k, v, ts, 0) for k, v in run_metrics(i).items()],
            params=[Param(k, v) for k, v in run_params(i).items()],
        )
        client.set_terminated(run.info.run_id)
    elapsed = time.perf_counter_ns() - t0
    stored = len(mlflow.search_runs(experiment_ids=[exp_id]))
    return {"runs": n, "seconds": elapsed / 1e9, "stored_runs": stored, "verified": stored == n}


def _timed_calls(call: Callable[[], int]) -> dict[str, Any]:
    rows = call()  # warm-up
    times = []
    for _ in range(SEARCH_CALLS):
        t0 = time.perf_counter_ns()
        rows = call()
        times.append((time.perf_counter_ns() - t0) / 1e6)
    return {"ms": median(times), "calls_ms": times, "rows": rows}


def search_all(n: int) -> dict[str, Any]:
    """Workload 5: every run of the experiment as a pandas DataFrame."""
    import mlflow

    exp_id = _experiment_id()
    result = _timed_calls(lambda: len(mlflow.search_runs(experiment_ids=[exp_id])))
    result["verified"] = result["rows"] == n
    return result


def search_filtered(n: int) -> dict[str, Any]:
    """Workload 6: a filtered, ordered page of at most 100 runs."""
    from mlflow import MlflowClient

    exp_id = _experiment_id()
    client = MlflowClient()

    def search() -> list[Any]:
        return list(
            client.search_runs(
                experiment_ids=[exp_id], filter_string=FILTER, order_by=ORDER_BY, max_results=100
            )
        )

    result = _timed_calls(lambda: len(search()))
    runs = search()
    m1 = [run.data.metrics["m1"] for run in runs]
    ok = all(run.data.metrics["m0"] > 0.5 and run.data.params["p0"] == "v3" for run in runs)
    result["verified"] = ok and m1 == sorted(m1, reverse=True)
    return result


WORKLOADS: dict[str, Callable[[int], dict[str, Any]]] = {
    "log_metric": log_metric,
    "points_10k": points_10k,
    "log_batch": log_batch,
    "create_runs": create_runs,
    "populate": populate,
    "search_all": search_all,
    "search_filtered": search_filtered,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument(
        "--tracking-uri",
        required=True,
        help="sqlite:///... (local) or http://127.0.0.1:PORT (mlflow server)",
    )
    parser.add_argument("--n", type=int, required=True, help="calls, points or runs")
    args = parser.parse_args(argv)
    try:
        import mlflow

        mlflow.set_tracking_uri(args.tracking_uri)
        result = WORKLOADS[args.workload](args.n)
    except Exception:
        traceback.print_exc()
        return 1
    result["version"] = mlflow.__version__
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
