"""The scenario behind ``make demo`` / ``opsloop demo``.

Until the closed-loop issue lands the full credit-risk loop, the demo exercises the
foundation: a seeded, synthetic credit-applicant table is registered as a dataset
version, a small learning-rate sweep of a logistic model (NumPy only) is tracked as
nested runs with per-epoch metrics, and the best run is found with a search.
"""

from __future__ import annotations

from opsloop.demo.tracking import run_demo

__all__ = ["run_demo"]
