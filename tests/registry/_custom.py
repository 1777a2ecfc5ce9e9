"""Importable user code for the registry tests: a pyfunc model, a custom transformer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


class Scaler:
    """A pyfunc model built from its config: multiplies the first column."""

    def __init__(self, factor: float = 1.0) -> None:
        self.factor = factor

    def predict(self, data: Any) -> Any:
        return np.asarray(data, dtype="float64")[:, 0] * self.factor


class Weighted:
    """A pyfunc model that reads its weights from an artifact file."""

    def __init__(self, weights: list[float], bias: float) -> None:
        self.weights = np.asarray(weights)
        self.bias = bias

    @classmethod
    def load(cls, folder: Path, config: dict[str, Any]) -> Weighted:
        weights = json.loads((folder / "artifacts" / "weights.json").read_text())
        return cls(weights, config["bias"])

    def predict(self, data: Any) -> Any:
        return np.asarray(data, dtype="float64") @ self.weights + self.bias


class AddOne(TransformerMixin, BaseEstimator):
    """A transformer scikit-learn does not define: skops does not trust it by default."""

    def fit(self, X: Any, y: Any = None) -> AddOne:
        return self

    def transform(self, X: Any) -> Any:
        return np.asarray(X, dtype="float64") + 1.0


class Threshold:
    """A plain Python model, for the pickle flavor."""

    def __init__(self, cut: float) -> None:
        self.cut = cut

    def predict(self, data: Any) -> Any:
        return (np.asarray(data, dtype="float64")[:, 0] > self.cut).astype("int64")
