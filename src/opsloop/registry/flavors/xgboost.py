"""XGBoost boosters, stored in XGBoost's own JSON format.

A scikit-learn wrapper (``XGBClassifier``, ``XGBRegressor``, ...) is saved as its
booster and loads as an ``xgboost.Booster``; ``predict`` goes through a ``DMatrix``
and returns what the booster's objective outputs (probabilities for
``binary:logistic``, values for regression). The JSON format is data only: loading it
runs no code from the file.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from opsloop.errors import import_extra

__all__ = ["XGBoostFlavor"]

FILE = "model.json"


def _xgboost() -> Any:
    return import_extra("xgboost", extra="xgboost", feature="the xgboost flavor")


class XGBoostFlavor:
    """XGBoost models as ``model.json``."""

    name = "xgboost"
    packages: tuple[str, ...] = ("xgboost", "numpy")

    def detect(self, model: Any) -> bool:
        xgb = sys.modules.get("xgboost")
        return xgb is not None and isinstance(model, xgb.Booster | xgb.XGBModel)

    def save(self, model: Any, folder: Path) -> list[str]:
        _booster(model).save_model(str(folder / FILE))
        return [FILE]

    def load(self, folder: Path, files: list[str], *, trusted: bool) -> Any:
        booster = _xgboost().Booster()
        booster.load_model(str(folder / FILE))
        return booster

    def predict(self, model: Any, data: Any) -> Any:
        xgb = _xgboost()
        return _booster(model).predict(xgb.DMatrix(data, enable_categorical=True))


def _booster(model: Any) -> Any:
    xgb = _xgboost()
    return model.get_booster() if isinstance(model, xgb.XGBModel) else model
