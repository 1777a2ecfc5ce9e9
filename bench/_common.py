"""Helpers shared by the benchmark runner and both worker scripts.

Standard library only: the MLflow worker imports this module from MLflow's own
virtualenv, where neither opsloop nor rich is installed.
"""

from __future__ import annotations

import json
import math
import random
import statistics
import sys
from collections.abc import Sequence
from typing import Any

__all__ = [
    "EXPERIMENT",
    "N_PARAMS_METRICS",
    "SEARCH_CALLS",
    "emit",
    "median",
    "percentile",
    "run_metrics",
    "run_params",
]

N_PARAMS_METRICS = 10
"""Params and metrics per run in the create-runs workload."""

SEARCH_CALLS = 5
"""Timed calls per search workload (after one untimed warm-up call)."""

EXPERIMENT = "bench"
"""The experiment every workload logs to."""


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: the smallest sample with ``pct`` % of samples at or below it."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def median(samples: Sequence[float]) -> float:
    return float(statistics.median(samples))


def run_params(index: int) -> dict[str, str]:
    """The params of run ``index``: ``p0..p9`` with values ``v0..v9`` (same on both sides)."""
    rng = random.Random(index)
    return {f"p{j}": f"v{rng.randrange(10)}" for j in range(N_PARAMS_METRICS)}


def run_metrics(index: int) -> dict[str, float]:
    """The metrics of run ``index``: ``m0..m9`` uniform in [0, 1) (same on both sides)."""
    rng = random.Random(1_000_003 + index)
    return {f"m{j}": rng.random() for j in range(N_PARAMS_METRICS)}


def emit(result: dict[str, Any]) -> None:
    """Print the worker's result as the one JSON line the runner reads (the last line)."""
    sys.stdout.flush()
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    sys.stdout.flush()
