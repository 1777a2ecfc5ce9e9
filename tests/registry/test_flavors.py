"""Every flavor: save, load, predict the same; detection; each flavor's safety rules."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from tests.registry._cases import Case, frame, onnx_model

from opsloop.errors import InvalidInput, MissingExtra, UntrustedFormat
from opsloop.registry import (
    FLAVORS,
    PyFunc,
    detect_flavor,
    get_flavor,
    load_model_files,
    save_model_files,
)


def test_round_trip_predicts_the_same(case: Case, tmp_path: Path) -> None:
    manifest = save_model_files(case.model, tmp_path / "model", flavor=case.flavor)
    loaded = load_model_files(tmp_path / "model", trusted=case.trusted)
    assert loaded.manifest == manifest
    assert manifest.flavor == case.flavor
    np.testing.assert_allclose(np.asarray(loaded.predict(case.data)), case.expected,
                               rtol=1e-6, atol=1e-6)


def test_detected_flavor_is_the_case_flavor(case: Case) -> None:
    if case.flavor == "pickle":
        with pytest.raises(InvalidInput, match=r"is not of a known flavor. pass flavor="):
            detect_flavor(case.model)
    else:
        assert detect_flavor(case.model) == case.flavor


def test_detect_native_objects_and_paths(tmp_path: Path) -> None:
    lgb = pytest.importorskip("lightgbm")
    xgb = pytest.importorskip("xgboost")
    X, y = frame(40)
    booster = lgb.train({"objective": "regression", "verbose": -1, "min_data_in_leaf": 5},
                        lgb.Dataset(X, label=X["income"]), num_boost_round=2)
    assert detect_flavor(booster) == "lightgbm"
    xgb_booster = xgb.train({"max_depth": 2}, xgb.DMatrix(X, label=y), num_boost_round=2)
    assert detect_flavor(xgb_booster) == "xgboost"
    # The scikit-learn wrappers subclass BaseEstimator, but keep their native flavor.
    assert detect_flavor(xgb.XGBClassifier()) == "xgboost"
    assert detect_flavor(lgb.LGBMRegressor()) == "lightgbm"
    assert detect_flavor(tmp_path / "m.onnx") == "onnx"


@pytest.mark.parametrize("model", [object(), {"weights": [1, 2]}, "model.txt", b"\x00"])
def test_detect_refuses_unknown_objects_with_a_hint(model: object) -> None:
    with pytest.raises(InvalidInput, match="is not of a known flavor") as info:
        detect_flavor(model)
    assert "pass flavor= explicitly (one of lightgbm, onnx, pickle, pyfunc, sklearn, " \
           "xgboost)" in info.value.hint


def test_get_flavor_lists_the_flavors() -> None:
    assert get_flavor("sklearn") is FLAVORS["sklearn"]
    with pytest.raises(InvalidInput, match="invalid flavor 'torch': must be one of lightgbm, "
                                           "onnx, pickle, pyfunc, sklearn, xgboost"):
        get_flavor("torch")


# -- sklearn ------------------------------------------------------------------------------


def test_standard_sklearn_models_load_without_trust(tmp_path: Path) -> None:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.compose import make_column_transformer
    from sklearn.feature_selection import SelectKBest
    from sklearn.gaussian_process import GaussianProcessClassifier
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X, y = frame(40)
    X["city"] = np.where(X["age"] > 40, "oslo", "lima")
    numeric = X.drop(columns="city")
    models = {
        "pipeline": (make_pipeline(
            make_column_transformer((OneHotEncoder(), ["city"]), remainder=StandardScaler()),
            SelectKBest(k=3), LogisticRegression()), X),
        "calibrated": (CalibratedClassifierCV(LogisticRegression(), cv=2), numeric),
        "mlp": (make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(4,),
                                                              max_iter=20)), numeric),
        "gp": (GaussianProcessClassifier(ConstantKernel() * RBF()), numeric),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the MLP stops before it converges, on purpose
        for name, (model, data) in models.items():
            model.fit(data, y)
            save_model_files(model, tmp_path / name, input_example=data.head())
            loaded = load_model_files(tmp_path / name)
            np.testing.assert_array_equal(loaded.predict(data), model.predict(data))


def test_sklearn_tree_structures_need_trust(tmp_path: Path) -> None:
    """skops keeps compiled trees untrusted (unchecked node indexes); so do we."""
    from sklearn.ensemble import RandomForestClassifier

    X, y = frame()
    model = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    save_model_files(model, tmp_path / "m")
    with pytest.raises(UntrustedFormat, match=r"sklearn\.tree\._tree\.Tree; skops keeps Tree "
                                              r"untrusted on purpose"):
        load_model_files(tmp_path / "m")
    loaded = load_model_files(tmp_path / "m", trusted=True)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_sklearn_custom_class_needs_trust(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from tests.registry._custom import AddOne

    X, y = frame()
    model = make_pipeline(AddOne(), LogisticRegression(max_iter=500)).fit(X, y)
    save_model_files(model, tmp_path / "m")
    with pytest.raises(UntrustedFormat) as info:
        load_model_files(tmp_path / "m")
    assert "model.skops holds types that are not trusted by default: " \
           "tests.registry._custom.AddOne" in str(info.value)
    assert "review tests.registry._custom.AddOne, and pass trusted=True" in info.value.hint
    assert info.value.details["untrusted_types"] == ["tests.registry._custom.AddOne"]
    loaded = load_model_files(tmp_path / "m", trusted=True)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


# -- pickle -------------------------------------------------------------------------------


def test_pickle_is_refused_unless_trusted(tmp_path: Path) -> None:
    from tests.registry._custom import Threshold

    save_model_files(Threshold(0.5), tmp_path / "m", flavor="pickle")
    with pytest.raises(UntrustedFormat, match="pickle runs arbitrary code on load") as info:
        load_model_files(tmp_path / "m")
    assert "convert the model to a safe format" in info.value.hint
    assert "trusted=True only for files you produced" in info.value.hint
    assert load_model_files(tmp_path / "m", trusted=True).model.cut == 0.5


# -- pyfunc -------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["tests.registry._custom:Scaler", "Scaler-class",
                                    "Scaler-instance"])
def test_pyfunc_from_a_path_a_class_or_an_instance(target: str, tmp_path: Path) -> None:
    from tests.registry._custom import Scaler

    model = {"Scaler-class": Scaler, "Scaler-instance": Scaler(9.0)}.get(target, target)
    manifest = save_model_files(PyFunc(model, config={"factor": 3.0}), tmp_path / "m",
                                input_example=np.array([[1.0, 5.0]]))
    body = json.loads((tmp_path / "m" / "pyfunc.json").read_text())
    assert body == {"class": "tests.registry._custom:Scaler", "config": {"factor": 3.0},
                    "artifacts": []}
    assert manifest.flavor_options["model_class"] == "tests.registry._custom.Scaler"
    loaded = load_model_files(tmp_path / "m")
    assert loaded.predict(np.array([[2.0, 0.0]])).tolist() == [6.0]


def test_pyfunc_with_flavor_given_wraps_a_bare_class_path(tmp_path: Path) -> None:
    save_model_files("tests.registry._custom:Scaler", tmp_path / "m", flavor="pyfunc")
    assert load_model_files(tmp_path / "m").model.factor == 1.0


@pytest.mark.parametrize(("target", "match"), [
    ("tests.registry._custom.Scaler", "must be 'package.module:ClassName'"),
    ("__main__:Model", "is defined in __main__"),
    ("tests.registry._nope:Model", "does not import"),
    ("tests.registry._custom:Nope", "must be 'package.module:ClassName'"),
    ("os:system", "must be 'package.module:ClassName'"),
    ("subprocess:Popen", "must define a predict"),
])
def test_pyfunc_refuses_what_is_not_an_importable_model_class(target: str, match: str,
                                                              tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=match):
        save_model_files(PyFunc(target), tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_pyfunc_local_class_is_refused(tmp_path: Path) -> None:
    class Local:
        def predict(self, data: object) -> object:
            return data

    with pytest.raises(InvalidInput, match="define the class at the top level"):
        save_model_files(PyFunc(Local()), tmp_path / "m")


def test_pyfunc_file_naming_another_callable_is_not_called(tmp_path: Path) -> None:
    """A crafted pyfunc.json cannot turn loading into a call of any function."""
    save_model_files(PyFunc("tests.registry._custom:Scaler"), tmp_path / "m")
    (tmp_path / "m" / "pyfunc.json").write_text(json.dumps(
        {"class": "os:system", "config": {"command": "touch pwned"}, "artifacts": []}))
    manifest = tmp_path / "m" / "opsloop-model.json"
    body = json.loads(manifest.read_text())
    from opsloop.registry.manifest import _digest

    body["files"]["pyfunc.json"] = _digest(tmp_path / "m" / "pyfunc.json").model_dump()
    manifest.write_text(json.dumps(body))
    with pytest.raises(InvalidInput, match="invalid pyfunc class 'os:system'"):
        load_model_files(tmp_path / "m")


def test_pyfunc_config_must_be_json_and_artifacts_distinct(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"pyfunc config .* must be JSON-serialisable"):
        save_model_files(PyFunc("tests.registry._custom:Scaler", config={"f": object()}),
                         tmp_path / "a")
    for name in ("x", "y"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "w.json").write_text("[]")
    with pytest.raises(InvalidInput, match="same file name as another artifact"):
        save_model_files(PyFunc("tests.registry._custom:Scaler",
                                artifacts=[tmp_path / "x" / "w.json", tmp_path / "y" / "w.json"]),
                         tmp_path / "b")
    with pytest.raises(InvalidInput, match=r"pyfunc artifact .* is not a file"):
        save_model_files(PyFunc("tests.registry._custom:Scaler", artifacts=[tmp_path / "no"]),
                         tmp_path / "c")


# -- onnx ---------------------------------------------------------------------------------


def test_onnx_from_bytes_and_from_a_path(tmp_path: Path) -> None:
    model = onnx_model(np.array([1.0, 2.0]), 0.0)
    X = np.array([[1.0, 1.0]], dtype="float32")
    save_model_files(model.SerializeToString(), tmp_path / "bytes", flavor="onnx")
    path = tmp_path / "linear.onnx"
    path.write_bytes(model.SerializeToString())
    manifest = save_model_files(path, tmp_path / "path", input_example=X)
    assert manifest.signature is not None
    assert [c.dtype for c in manifest.signature.outputs] == ["float32"]
    for folder in ("bytes", "path"):
        assert load_model_files(tmp_path / folder).predict(X).tolist() == [[3.0]]
    with pytest.raises(InvalidInput, match=r"ONNX model path .* is not a file"):
        save_model_files(tmp_path / "missing.onnx", tmp_path / "x")


# -- missing libraries --------------------------------------------------------------------


def test_missing_library_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    """With the library unimportable, loading says which extra to install."""
    import sys

    from tests.registry._cases import lightgbm_case

    case = lightgbm_case(tmp_path)
    save_model_files(case.model, tmp_path / "m")
    monkeypatch.setitem(sys.modules, "lightgbm", None)  # makes `import lightgbm` fail
    with pytest.raises(MissingExtra, match="needs the package 'lightgbm'") as info:
        load_model_files(tmp_path / "m")
    assert info.value.hint == "install it with: pip install 'opsloop[lightgbm]'"
