"""LightGBM boosters, stored in LightGBM's own text format.

A scikit-learn wrapper (``LGBMClassifier``, ``LGBMRegressor``, ...) is saved as its
fitted booster and loads as a ``lightgbm.Booster``, whose ``predict`` returns
probabilities for classifiers (the positive class for binary ones) and values for
regressors; the wrapper's ``predict`` would return labels. The text format is data
only: loading it runs no code from the file.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from opsloop.errors import import_extra

__all__ = ["LightGBMFlavor"]

FILE = "model.txt"


def _lightgbm() -> Any:
    return import_extra("lightgbm", extra="lightgbm", feature="the lightgbm flavor")


class LightGBMFlavor:
    """LightGBM models as ``model.txt``."""

    name = "lightgbm"
    packages: tuple[str, ...] = ("lightgbm", "numpy")

    def detect(self, model: Any) -> bool:
        lgb = sys.modules.get("lightgbm")
        return lgb is not None and isinstance(model, lgb.Booster | lgb.LGBMModel)

    def save(self, model: Any, folder: Path) -> list[str]:
        _booster(model).save_model(str(folder / FILE))
        return [FILE]

    def load(self, folder: Path, files: list[str], *, trusted: bool) -> Any:
        return _lightgbm().Booster(model_file=str(folder / FILE))

    def predict(self, model: Any, data: Any) -> Any:
        return _booster(model).predict(data)


def _booster(model: Any) -> Any:
    lgb = _lightgbm()
    return model.booster_ if isinstance(model, lgb.LGBMModel) else model
