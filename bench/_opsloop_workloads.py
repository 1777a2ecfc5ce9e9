"""One tracking workload through opsloop, in a fresh process; prints one JSON line.

Run by ``bench/tracking.py`` with the main virtualenv's interpreter::

    python bench/_opsloop_workloads.py log_metric --home /tmp/x --n 10000
    python bench/_opsloop_workloads.py create_runs --tracking-uri http://127.0.0.1:5001 --n 1000

``--home`` selects the embedded stores (SQLite under that folder); ``--tracking-uri``
an ``opsloop server``. Both are passed the way users pass them: as ``OPSLOOP_HOME`` and
``OPSLOOP_TRACKING_URI`` set before opsloop is imported. Source and environment capture
stay on (the defaults), as MLflow captures git info too.
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
ORDER_BY = ["metrics.m1 desc"]


def _values(n: int) -> list[float]:
    rng = random.Random(42)
    return [rng.random() for _ in range(n)]


def log_metric(n: int) -> dict[str, Any]:
    """Workload 1: ``run.log_metric`` timed call by call."""
    import opsloop

    values = _values(n)
    latencies = [0] * n
    clock = time.perf_counter_ns
    with opsloop.start_run(experiment=EXPERIMENT) as run:
        for i in range(WARMUP_CALLS):
            run.log_metric("warmup", 0.0, step=i)
        for i in range(n):
            value = values[i]
            t0 = clock()
            run.log_metric("loss", value, step=i)
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
    """Workload 2: ``n`` ``log_metric`` calls until ``flush()`` returned (all in the store)."""
    import opsloop

    values = _values(n)
    client = opsloop.get_client()
    with opsloop.start_run(experiment=EXPERIMENT) as run:
        t0 = time.perf_counter_ns()
        for i in range(n):
            run.log_metric("loss", values[i], step=i)
        client.flush()
        elapsed = time.perf_counter_ns() - t0
        stored = len(client.get_metric_history(run.id, "loss"))
    return {"points": n, "seconds": elapsed / 1e9, "stored_points": stored, "verified": stored == n}


def log_batch(n: int) -> dict[str, Any]:
    """Workload 3: one ``client.log_batch`` of ``n`` points (10 keys x n/10 steps)."""
    import opsloop

    keys = [f"k{j}" for j in range(10)]
    rng = random.Random(7)
    ts = time.time_ns() // 1_000_000
    points = [(key, rng.random(), step, ts) for step in range(n // 10) for key in keys]
    client = opsloop.get_client()
    with opsloop.start_run(experiment=EXPERIMENT) as run:
        t0 = time.perf_counter_ns()
        client.log_batch(run.id, metrics=points)
        elapsed = time.perf_counter_ns() - t0
        stored = sum(len(client.get_metric_history(run.id, key)) for key in keys)
    return {
        "points": len(points),
        "seconds": elapsed / 1e9,
        "stored_points": stored,
        "verified": stored == len(points),
    }


def create_runs(n: int) -> dict[str, Any]:
    """Workload 4: ``n`` runs, each with 10 params and 10 metrics, the idiomatic way."""
    import opsloop

    params = [run_params(i) for i in range(n)]
    metrics = [run_metrics(i) for i in range(n)]
    client = opsloop.get_client()
    client.create_experiment(EXPERIMENT)  # opens and migrates the store: not timed
    t0 = time.perf_counter_ns()
    for i in range(n):
        with opsloop.start_run(experiment=EXPERIMENT, params=params[i]) as run:
            run.log_metrics(metrics[i])
    elapsed = time.perf_counter_ns() - t0
    stored = len(client.search_runs(EXPERIMENT, max_results=max(n, 1)).items)
    return {
        "runs": n,
        "seconds": elapsed / 1e9,
        "ms_per_run": elapsed / 1e6 / n,
        "stored_runs": stored,
        "verified": stored == n,
    }


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
    import opsloop

    result = _timed_calls(lambda: len(opsloop.search_runs(EXPERIMENT)))
    result["verified"] = result["rows"] == n
    return result


def search_filtered(n: int) -> dict[str, Any]:
    """Workload 6: a filtered, ordered page of at most 100 runs."""
    import opsloop

    client = opsloop.get_client()

    def call() -> int:
        page = client.search_runs(EXPERIMENT, filter=FILTER, order_by=ORDER_BY, max_results=100)
        return len(page.items)

    result = _timed_calls(call)
    page = client.search_runs(EXPERIMENT, filter=FILTER, order_by=ORDER_BY, max_results=100)
    m1 = [run.metrics["m1"] for run in page.items]
    ok = all(run.metrics["m0"] > 0.5 and run.params["p0"] == "v3" for run in page.items)
    result["verified"] = ok and m1 == sorted(m1, reverse=True)
    return result


WORKLOADS: dict[str, Callable[[int], dict[str, Any]]] = {
    "log_metric": log_metric,
    "points_10k": points_10k,
    "log_batch": log_batch,
    "create_runs": create_runs,
    "search_all": search_all,
    "search_filtered": search_filtered,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--home", help="OPSLOOP_HOME of the embedded stores")
    where.add_argument("--tracking-uri", help="OPSLOOP_TRACKING_URI of an opsloop server")
    parser.add_argument("--n", type=int, required=True, help="calls, points or runs")
    args = parser.parse_args(argv)
    if args.home:
        os.environ["OPSLOOP_HOME"] = args.home
        os.environ.pop("OPSLOOP_TRACKING_URI", None)
    else:
        os.environ["OPSLOOP_TRACKING_URI"] = args.tracking_uri
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
