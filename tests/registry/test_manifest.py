"""The manifest: what it records, digest verification, and the folders it refuses."""

from __future__ import annotations

import json
import pickle
import platform
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tests.registry._cases import Case, frame, sklearn_case

from opsloop.errors import DigestMismatch, InvalidInput
from opsloop.registry import (
    MANIFEST_NAME,
    Manifest,
    Signature,
    infer_signature,
    load_model_files,
    read_manifest,
    save_model_files,
)
from opsloop.registry.manifest import _digest


def model_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and p.name != MANIFEST_NAME)


def edit_manifest(folder: Path, **changes: Any) -> None:
    path = folder / MANIFEST_NAME
    body = json.loads(path.read_text())
    body.update(changes)
    path.write_text(json.dumps(body))


def test_manifest_records_every_file_with_its_digest(case: Case, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    manifest = save_model_files(case.model, folder, flavor=case.flavor,
                                lineage={"run_id": "r1", "model": "credit", "version": 3})
    assert sorted(manifest.files) == model_files(folder)
    for name, digest in manifest.files.items():
        assert digest == _digest(folder / name)
    text = (folder / MANIFEST_NAME).read_text()
    assert Manifest.model_validate_json(text) == manifest == read_manifest(folder)
    body = json.loads(text)
    assert list(body) == sorted(body)
    assert text.startswith('{\n  "created_at"')
    assert manifest.format_version == 1
    assert manifest.python == platform.python_version()
    assert manifest.lineage == {"run_id": "r1", "model": "credit", "version": 3}
    # Versions of the flavor's libraries; user code that is not installed has none.
    assert "numpy" in manifest.packages or case.flavor in ("pickle", "pyfunc")


def test_tampered_file_is_refused_before_loading(case: Case, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    manifest = save_model_files(case.model, folder, flavor=case.flavor)
    name = sorted(manifest.files)[0]
    data = bytearray((folder / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / name).write_bytes(bytes(data))
    with pytest.raises(DigestMismatch) as info:
        load_model_files(folder, trusted=True)
    assert str(info.value).startswith(f"{name}: content digest")
    assert info.value.details["name"] == name
    assert info.value.details["expected"] == manifest.files[name].sha256


def test_missing_file_is_refused(case: Case, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    manifest = save_model_files(case.model, folder, flavor=case.flavor)
    name = sorted(manifest.files)[-1]
    (folder / name).unlink()
    with pytest.raises(InvalidInput, match=f"invalid model file '{name}': is in the manifest "
                                           "but missing"):
        load_model_files(folder, trusted=True)


def test_signature_is_inferred_with_outputs_from_the_model(tmp_path: Path) -> None:
    case = sklearn_case(tmp_path)
    manifest = save_model_files(case.model, tmp_path / "m", input_example=case.data.head(3))
    assert manifest.signature == infer_signature(case.data.head(3),
                                                 case.model.predict(case.data.head(3)))
    assert manifest.packages.keys() == {"scikit-learn", "skops", "numpy", "pandas"}
    assert manifest.flavor_options == {
        "model_class": "sklearn.linear_model._logistic.LogisticRegression"}


def test_given_signature_and_output_example_win(tmp_path: Path) -> None:
    case = sklearn_case(tmp_path)
    sig = infer_signature(case.data)
    assert save_model_files(case.model, tmp_path / "a", signature=sig,
                            input_example=np.zeros((1, 7))).signature == sig
    manifest = save_model_files(case.model, tmp_path / "b", input_example=case.data,
                                output_example=pd.Series([1], name="label"))
    assert manifest.signature is not None
    assert [c.name for c in manifest.signature.outputs] == ["label"]


def test_outputs_stay_unknown_when_the_model_cannot_predict(tmp_path: Path) -> None:
    case = sklearn_case(tmp_path)
    manifest = save_model_files(case.model, tmp_path / "m", input_example={"other": [1]})
    assert manifest.signature == Signature(inputs=infer_signature({"other": [1]}).inputs)


def test_loaded_model_validates_input(tmp_path: Path) -> None:
    case = sklearn_case(tmp_path)
    save_model_files(case.model, tmp_path / "m", input_example=case.data)
    loaded = load_model_files(tmp_path / "m")
    reordered = case.data[["score", "age", "income"]]
    np.testing.assert_array_equal(loaded.predict(reordered), case.expected)
    with pytest.raises(InvalidInput, match="input column 'score': is missing"):
        loaded.predict(case.data.drop(columns="score"))
    assert repr(loaded) == "LoadedModel(flavor='sklearn', model=LogisticRegression)"


def test_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "notes.txt").write_text("x")
    with pytest.raises(InvalidInput, match="must be empty or not exist"):
        save_model_files(sklearn_case(tmp_path).model, tmp_path / "m")
    save_model_files(sklearn_case(tmp_path).model, tmp_path / "empty")
    with pytest.raises(InvalidInput, match="must be empty"):
        save_model_files(sklearn_case(tmp_path).model, tmp_path / "empty")


def test_a_failed_save_leaves_the_folder_empty(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    with pytest.raises((AttributeError, pickle.PicklingError)):
        save_model_files(lambda x: x, tmp_path / "m", flavor="pickle")
    assert list((tmp_path / "m").iterdir()) == []


def test_lineage_must_be_json(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"invalid lineage .* must be JSON-serialisable"):
        save_model_files(sklearn_case(tmp_path).model, tmp_path / "m",
                         lineage={"when": object()})
    assert not (tmp_path / "m").exists()


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    save_model_files(sklearn_case(tmp_path).model, tmp_path / "m")
    return tmp_path / "m"


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/etc/passwd", "C:/x", "a\\..\\x", "",
                                  MANIFEST_NAME])
def test_file_names_outside_the_folder_are_refused(saved: Path, name: str) -> None:
    body = json.loads((saved / MANIFEST_NAME).read_text())
    body["files"][name] = body["files"].pop("model.skops")
    (saved / MANIFEST_NAME).write_text(json.dumps(body))
    with pytest.raises(InvalidInput, match="must be a relative path inside the model folder"):
        load_model_files(saved)


def test_unknown_flavor_is_refused(saved: Path) -> None:
    edit_manifest(saved, flavor="torch")
    with pytest.raises(InvalidInput, match="invalid flavor 'torch': must be one of"):
        load_model_files(saved)


@pytest.mark.parametrize("version", [2, 0, "1", None])
def test_unknown_format_version_is_refused(saved: Path, version: object) -> None:
    edit_manifest(saved, format_version=version, new_field_of_v2=True)
    with pytest.raises(InvalidInput, match=r"invalid manifest format_version .*: must be 1") \
            as info:
        load_model_files(saved)
    assert "newer opsloop" in info.value.hint


def test_malformed_manifests_are_refused(saved: Path) -> None:
    edit_manifest(saved, surprise=1)
    with pytest.raises(InvalidInput, match="does not match the format"):
        load_model_files(saved)
    (saved / MANIFEST_NAME).write_text("[1]")
    with pytest.raises(InvalidInput, match="must hold a JSON object"):
        load_model_files(saved)
    (saved / MANIFEST_NAME).write_text("{")
    with pytest.raises(InvalidInput, match="is not valid JSON"):
        load_model_files(saved)
    (saved / MANIFEST_NAME).unlink()
    with pytest.raises(InvalidInput, match=f"has no {MANIFEST_NAME}"):
        load_model_files(saved)


def test_edited_size_is_refused(saved: Path) -> None:
    body = json.loads((saved / MANIFEST_NAME).read_text())
    body["files"]["model.skops"]["size"] += 1
    (saved / MANIFEST_NAME).write_text(json.dumps(body))
    with pytest.raises(InvalidInput, match=r"manifest size of 'model.skops'"):
        load_model_files(saved)


def test_extra_files_written_by_a_library_are_recorded(tmp_path: Path) -> None:
    """The manifest covers the folder, not only the names a flavor reports."""
    from opsloop.registry import FLAVORS

    flavor = FLAVORS["pickle"]
    original = flavor.save

    def save(model: object, folder: Path) -> list[str]:
        (folder / "side.bin").write_bytes(b"x")
        return original(model, folder)

    X, _ = frame(5)
    try:
        flavor.save = save  # type: ignore[method-assign]
        manifest = save_model_files(X, tmp_path / "m", flavor="pickle")
    finally:
        del flavor.save  # type: ignore[misc]
    assert sorted(manifest.files) == ["model.pkl", "side.bin"]
