"""Models of every flavor, trained on small synthetic data, with what they should predict.

Each :class:`Case` is (flavor, model, input data, expected predictions of the *loaded* model).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest


@dataclass
class Case:
    flavor: str
    model: Any
    data: Any
    expected: Any
    trusted: bool = False


def frame(n: int = 80, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"age": rng.integers(18, 80, n), "income": rng.normal(50, 10, n),
                      "score": rng.random(n)})
    y = ((X["income"] > 50) ^ (X["score"] > 0.7)).to_numpy().astype("int64")
    return X, y


def sklearn_case(tmp_path: Path) -> Case:
    from sklearn.linear_model import LogisticRegression

    X, y = frame()
    model = LogisticRegression(max_iter=500).fit(X, y)
    return Case("sklearn", model, X, model.predict(X))


def lightgbm_case(tmp_path: Path) -> Case:
    lgb = pytest.importorskip("lightgbm", reason="needs opsloop[lightgbm]")
    X, y = frame()
    model = lgb.LGBMClassifier(n_estimators=10, num_leaves=4, min_child_samples=5,
                               verbose=-1).fit(X, y)
    return Case("lightgbm", model, X, model.predict_proba(X)[:, 1])


def xgboost_case(tmp_path: Path) -> Case:
    xgb = pytest.importorskip("xgboost", reason="needs opsloop[xgboost]")
    X, _ = frame()
    model = xgb.XGBRegressor(n_estimators=8, max_depth=3).fit(X, X["income"] * 2)
    return Case("xgboost", model, X, model.predict(X))


def onnx_model(weights: np.ndarray, bias: float) -> Any:
    """``Y = X @ W + B``, built with onnx.helper: no converter library needed."""
    onnx = pytest.importorskip("onnx", reason="needs opsloop[onnx]")
    pytest.importorskip("onnxruntime", reason="needs opsloop[onnx]")
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(weights.astype("float32").reshape(-1, 1), name="W")
    b = numpy_helper.from_array(np.array([bias], dtype="float32"), name="B")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["XW"]),
         helper.make_node("Add", ["XW", "B"], ["Y"])],
        "linear",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, len(weights)])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])],
        initializer=[w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def onnx_case(tmp_path: Path) -> Case:
    weights = np.array([0.5, -1.0, 2.0])
    X = np.random.default_rng(1).random((20, 3)).astype("float32")
    expected = (X @ weights.astype("float32").reshape(-1, 1) + np.float32(0.25))
    return Case("onnx", onnx_model(weights, 0.25), X, expected)


def pyfunc_case(tmp_path: Path) -> Case:
    from opsloop.registry import PyFunc

    weights = tmp_path / "src" / "weights.json"
    weights.parent.mkdir()
    weights.write_text(json.dumps([1.0, 2.0]))
    X = np.array([[1.0, 1.0], [2.0, 0.5]])
    model = PyFunc("tests.registry._custom:Weighted", config={"bias": 0.5},
                   artifacts=[weights])
    return Case("pyfunc", model, X, X @ np.array([1.0, 2.0]) + 0.5)


def pickle_case(tmp_path: Path) -> Case:
    from tests.registry._custom import Threshold

    X = np.array([[0.1], [0.9], [0.5]])
    return Case("pickle", Threshold(0.4), X, np.array([0, 1, 1]), trusted=True)


CASES: dict[str, Callable[[Path], Case]] = {
    "sklearn": sklearn_case, "lightgbm": lightgbm_case, "xgboost": xgboost_case,
    "onnx": onnx_case, "pyfunc": pyfunc_case, "pickle": pickle_case,
}

