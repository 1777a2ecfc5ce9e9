"""scikit-learn estimators and pipelines, stored with skops instead of pickle.

skops (https://skops.readthedocs.io/en/stable/persistence.html) stores an object as a
tree of types and state and, when loading, refuses every type it does not trust. Its
defaults trust builtins, numpy and most estimators and transformers. On top of them this
flavor trusts a short list of scikit-learn types we reviewed as plain Python holding
plain values (Gaussian process kernels, calibrators, MLP optimizers) and the scoring
functions feature selectors hold by default, so linear models, pipelines of standard
transformers, MLPs and Gaussian processes load without a prompt.

Everything else is listed in an :class:`~opsloop.errors.UntrustedFormat` error until you
review it and pass ``trusted=True``: your own classes, functions of other libraries,
and, on purpose, the compiled tree structures of decision trees, forests, gradient
boosting and neighbour indexes. skops keeps those untrusted because scikit-learn
indexes their node arrays without bounds checks, so a crafted file can crash the
process or read memory at ``predict`` time; a digest check cannot tell a crafted file
from an honest one, so we do not override that decision.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from opsloop.errors import UntrustedFormat, import_extra

__all__ = ["SklearnFlavor"]

FILE = "model.skops"

# Reviewed: pure Python, state of plain values. Not compiled structures (see above).
_TRUSTED_TYPES = frozenset({
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.calibration._TemperatureScaling",
    "sklearn.gaussian_process._gpc._BinaryGaussianProcessClassifierLaplace",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    # Pure functions that feature selectors hold as their default ``score_func``.
    "sklearn.feature_selection._mutual_info.mutual_info_classif",
    "sklearn.feature_selection._mutual_info.mutual_info_regression",
    "sklearn.feature_selection._univariate_selection.chi2",
    "sklearn.feature_selection._univariate_selection.f_classif",
    "sklearn.feature_selection._univariate_selection.f_oneway",
    "sklearn.feature_selection._univariate_selection.f_regression",
    "sklearn.feature_selection._univariate_selection.r_regression",
})
_KERNELS = "sklearn.gaussian_process.kernels"


def _skops_io() -> Any:
    return import_extra("skops.io", extra="sklearn", feature="the sklearn flavor")


class SklearnFlavor:
    """scikit-learn models as ``model.skops``."""

    name = "sklearn"
    packages: tuple[str, ...] = ("scikit-learn", "skops", "numpy")

    def detect(self, model: Any) -> bool:
        sklearn_base = sys.modules.get("sklearn.base")
        return sklearn_base is not None and isinstance(model, sklearn_base.BaseEstimator)

    def save(self, model: Any, folder: Path) -> list[str]:
        _skops_io().dump(model, folder / FILE)
        return [FILE]

    def load(self, folder: Path, files: list[str], *, trusted: bool) -> Any:
        sio = _skops_io()
        path = folder / FILE
        found = sio.get_untrusted_types(file=path)
        untrusted = sorted(t for t in found if not _is_trusted_by_default(t))
        if untrusted and not trusted:
            raise UntrustedFormat(
                f"{FILE} holds types that are not trusted by default: "
                f"{', '.join(untrusted)}{_reasons(untrusted)}",
                hint=f"loading builds these types: review {', '.join(untrusted)}, and pass "
                     f"trusted=True only if you trust them and where the file came from",
                file=FILE, untrusted_types=untrusted)
        return sio.load(path, trusted=found)

    def predict(self, model: Any, data: Any) -> Any:
        return model.predict(data)


def _is_trusted_by_default(name: str) -> bool:
    """On the reviewed list, or a class of scikit-learn's kernels module."""
    if name in _TRUSTED_TYPES:
        return True
    module_name, _, attr = name.rpartition(".")
    if module_name != _KERNELS:
        return False
    value = getattr(importlib.import_module(_KERNELS), attr, None)
    return isinstance(value, type) and value.__module__ == _KERNELS


def _reasons(types: list[str]) -> str:
    """Why, when skops explains why it keeps one of ``types`` untrusted."""
    try:
        from skops.io.exceptions import UNTRUSTED_TYPE_REASONS
    except ImportError:  # an older skops without explanations
        return ""
    flagged = [t.rsplit(".", 1)[-1] for t in types if t in UNTRUSTED_TYPE_REASONS]
    if not flagged:
        return ""
    return (f"; skops keeps {', '.join(flagged)} untrusted on purpose: scikit-learn indexes "
            f"its node arrays without bounds checks, so a crafted file can crash predict "
            f"or read out-of-bounds memory")
