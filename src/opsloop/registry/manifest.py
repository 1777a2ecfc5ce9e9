"""A saved model: a folder of files in a safe format and the manifest that describes them.

:func:`save_model_files` writes a model with its flavor and adds ``opsloop-model.json``:
the flavor, the sha256 and size of every file, the signature, the Python and package
versions, and the lineage the caller gives. :func:`load_model_files` reads it back,
after checking every file against its digest, so a file changed after saving is
refused before any of it is parsed. The format is described in ``docs/model-format.md``.

Example:
    >>> import tempfile
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> X = np.array([[0.0], [1.0], [2.0]])
    >>> folder = tempfile.mkdtemp()
    >>> manifest = save_model_files(LinearRegression().fit(X, 2 * X[:, 0]), folder,
    ...                             input_example=X)
    >>> manifest.flavor, sorted(manifest.files), manifest.signature.outputs[0].name
    ('sklearn', ['model.skops'], 'prediction')
    >>> load_model_files(folder).predict(np.array([[10.0]])).round(6).tolist()
    [20.0]
"""

from __future__ import annotations

import functools
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from opsloop.errors import DigestMismatch, InvalidInput
from opsloop.registry.flavors import PyFunc, detect_flavor, get_flavor
from opsloop.registry.signature import Signature, infer_signature

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "FileDigest",
    "LoadedModel",
    "Manifest",
    "load_model_files",
    "read_manifest",
    "save_model_file",
    "save_model_files",
]

MANIFEST_NAME = "opsloop-model.json"
FORMAT_VERSION = 1
_log = logging.getLogger(__name__)


class FileDigest(BaseModel):
    """The sha256 hex digest and size in bytes of one model file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sha256: str
    size: int


class Manifest(BaseModel):
    """What ``opsloop-model.json`` records about a saved model.

    Attributes:
        format_version: the version of this layout; readers refuse versions they do
            not know.
        flavor: the flavor that wrote the files and loads them.
        files: every file of the model (relative POSIX paths) with its digest.
        signature: the input and output columns, when known.
        python: the Python version that saved the model.
        packages: versions of the flavor's libraries (and pandas when the example was
            a DataFrame), by distribution name.
        created_at: when the model was saved, epoch milliseconds.
        lineage: free-form provenance filled by the caller (run id, model name,
            version, ...).
        flavor_options: details of the flavor; ``model_class`` is the class of the
            object that was saved.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    format_version: int = FORMAT_VERSION
    flavor: str
    files: dict[str, FileDigest]
    signature: Signature | None = None
    python: str
    packages: dict[str, str] = {}
    created_at: int
    lineage: dict[str, Any] = {}
    flavor_options: dict[str, Any] = {}


class LoadedModel:
    """A model read back by :func:`load_model_files`.

    Attributes:
        manifest: its manifest.
        model: the object the flavor loaded (an estimator, a booster, an
            ``InferenceSession``, ...).
    """

    def __init__(self, manifest: Manifest, model: Any, version: Any = None) -> None:
        self.manifest = manifest
        self.model = model
        self.version = version  # the registry's ModelVersion, when loaded from it

    def __repr__(self) -> str:
        return f"LoadedModel(flavor={self.manifest.flavor!r}, model={type(self.model).__name__})"

    def predict(self, data: Any) -> Any:
        """The model's predictions on ``data``, after checking it against the signature.

        Raises:
            InvalidInput: ``data`` does not match the signature (names the column).
        """
        if self.manifest.signature is not None:
            data = self.manifest.signature.validate_input(data)
        return get_flavor(self.manifest.flavor).predict(self.model, _as_frame(data))


def save_model_files(model: Any, folder: str | Path, *, flavor: str | None = None,
                     input_example: Any = None, output_example: Any = None,
                     signature: Signature | None = None,
                     lineage: dict[str, Any] | None = None) -> Manifest:
    """Save ``model`` into ``folder`` with its manifest.

    Args:
        model: the model; its flavor is detected unless ``flavor`` is given.
        folder: where to write; created if missing, and must be empty.
        flavor: one of :data:`~opsloop.registry.flavors.FLAVORS`.
        input_example: data to infer the signature from (unless ``signature`` is
            given); also fed to the model to infer the outputs when
            ``output_example`` is not given and the model can predict on it.
        output_example: an example of the predictions.
        signature: the signature, instead of inferring it.
        lineage: provenance to record (run id, model name, version, ...); must be
            JSON-serialisable.

    Returns:
        The manifest written to ``folder/opsloop-model.json``.

    Raises:
        InvalidInput: ``folder`` is not empty, the flavor is unknown or cannot be
            detected, or an example cannot give a signature.
    """
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InvalidInput("model folder", str(folder), "must be empty or not exist",
                           hint="save each model into a fresh folder")
    name = flavor if flavor is not None else detect_flavor(model)
    implementation = get_flavor(name)
    if signature is None and input_example is not None:
        if output_example is None:
            output_example = _try_predict(implementation, model, input_example)
        signature = infer_signature(input_example, output_example)
    try:
        json.dumps(lineage or {}, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput("lineage", lineage, f"must be JSON-serialisable ({exc})") from None
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        written = implementation.save(model, folder)
        # Every file in the folder is recorded, even one a library wrote on its own.
        names = sorted(set(written) | {p.relative_to(folder).as_posix()
                                       for p in folder.rglob("*") if p.is_file()})
        for file in names:
            _check_file_name(file)
        model_class = _class_name(model)
        manifest = Manifest(
            flavor=name,
            files={file: _digest(folder / file) for file in names},
            signature=signature,
            python=platform.python_version(),
            packages=_versions(implementation.packages, model_class, input_example),
            created_at=int(time.time() * 1000),
            lineage=dict(lineage or {}),
            flavor_options={"model_class": model_class},
        )
        text = json.dumps(manifest.model_dump(mode="json"), indent=2, sort_keys=True)
        # Written last and moved into place whole: a folder with a manifest is complete.
        partial = folder / f".{MANIFEST_NAME}.part"
        partial.write_text(text + "\n")
        os.replace(partial, folder / MANIFEST_NAME)
    except BaseException:
        _empty(folder, remove=created)
        raise
    return manifest


# A model given as one file: its suffix, the flavor that reads it, and the name it takes.
_SINGLE_FILES = {".skops": "sklearn", ".onnx": "onnx", ".txt": "lightgbm", ".json": "xgboost"}
_PICKLES = (".pkl", ".pickle", ".joblib")


def save_model_file(path: str | Path, folder: str | Path, *, flavor: str | None = None,
                    input_example: Any = None, signature: Signature | None = None,
                    lineage: dict[str, Any] | None = None, trusted: bool = False) -> Manifest:
    """Save a model given as one file (``.skops``, ``.onnx``, LightGBM ``.txt``, XGBoost
    ``.json``; a pickle only with ``trusted=True``) into ``folder`` with its manifest.

    The file is loaded with its flavor first, so a file that is not what its name says is
    refused. A trusted pickle is converted: the object is saved with the safe flavor that
    recognises it (``pickle`` only if none does).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in _PICKLES or flavor == "pickle":
        if not trusted:
            from opsloop.errors import UntrustedFormat

            raise UntrustedFormat(
                f"{path.name} is a pickle: loading it can run any code it contains",
                hint="if you made this file, pass trusted=True; opsloop then stores the "
                     "model in a safe format (skops, native LightGBM/XGBoost) when it can")
        try:
            import joblib  # type: ignore[import-untyped]

            model = joblib.load(path)
        except ImportError:  # joblib comes with scikit-learn; plain pickles need neither
            import pickle

            with open(path, "rb") as fh:
                model = pickle.load(fh)
        try:
            name = flavor if flavor not in (None, "pickle") else detect_flavor(model)
        except InvalidInput:
            name = "pickle"
        return save_model_files(model, folder, flavor=name, input_example=input_example,
                                signature=signature, lineage=lineage)
    found = flavor or _SINGLE_FILES.get(suffix)
    if found is None:
        raise InvalidInput("model file", path.name, "has no known format",
                           hint=f"pass flavor=; known single-file formats: "
                                f"{', '.join(sorted(_SINGLE_FILES))} and pickles (trusted)")
    name = found
    implementation = get_flavor(name)
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp)
        file_name = getattr(sys.modules[type(implementation).__module__], "FILE", path.name)
        shutil.copyfile(path, staged / file_name)
        model = implementation.load(staged, [file_name], trusted=trusted)
        if name == "onnx":  # saved as given: an InferenceSession cannot be written back
            import onnx

            model = onnx.load(str(path))
        return save_model_files(model, folder, flavor=name, input_example=input_example,
                                signature=signature, lineage=lineage)


def read_manifest(folder: str | Path) -> Manifest:
    """The manifest of the model in ``folder``, checked but not yet verified.

    Raises:
        InvalidInput: there is no readable manifest, its format version is unknown, it
            does not match the format, or a file name in it is absolute or leaves the
            folder.
    """
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        raise InvalidInput("model folder", str(folder), f"has no {MANIFEST_NAME}",
                           hint="save the model with save_model_files first")
    try:
        raw = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(MANIFEST_NAME, str(path), f"is not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise InvalidInput(MANIFEST_NAME, str(path), "must hold a JSON object")
    version = raw.get("format_version")
    if version != FORMAT_VERSION:
        raise InvalidInput("manifest format_version", version,
                           f"must be {FORMAT_VERSION}, the only version this opsloop reads",
                           hint="a model saved by a newer opsloop needs an upgrade")
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInput(MANIFEST_NAME, str(path), f"does not match the format: {exc}"
                           ) from None
    for name in manifest.files:
        _check_file_name(name)
    return manifest


def load_model_files(folder: str | Path, *, trusted: bool = False) -> LoadedModel:
    """Load the model saved in ``folder``, after verifying every file's digest.

    Args:
        folder: a folder written by :func:`save_model_files`.
        trusted: allow formats or types that can run code from the files (pickle, skops
            types outside the default trust list). Only for files you produced or
            reviewed.

    Raises:
        InvalidInput: the manifest is missing or malformed, names a file outside the
            folder, has an unknown flavor or format version, or a file is missing.
        DigestMismatch: a file's size or sha256 is not the recorded one.
        UntrustedFormat: loading would run code from the files and ``trusted`` is
            false.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    implementation = get_flavor(manifest.flavor)
    for name, recorded in manifest.files.items():
        path = folder / name
        if not path.is_file():
            raise InvalidInput("model file", name, "is in the manifest but missing",
                               hint="the folder is incomplete; copy the whole folder again")
        actual = _digest(path)
        if actual.sha256 != recorded.sha256:
            raise DigestMismatch(name, recorded.sha256, actual.sha256)
        if actual.size != recorded.size:
            raise InvalidInput("manifest size of", name, f"is {recorded.size} bytes but "
                                                         f"the file has {actual.size}",
                               hint="the manifest was edited by hand; do not load it")
    model = implementation.load(folder, list(manifest.files), trusted=trusted)
    return LoadedModel(manifest, model)


def _digest(path: Path) -> FileDigest:
    from opsloop.store.artifacts import sha256_file  # opsloop.store loads SQLAlchemy

    blob = sha256_file(path)
    return FileDigest(sha256=blob.digest, size=blob.size)


def _empty(folder: Path, *, remove: bool) -> None:
    """Undo a failed save: the folder was empty (or absent) before it started."""
    if remove:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _check_file_name(name: str) -> None:
    parts = PurePosixPath(name).parts
    if (not name or "\\" in name or name.startswith("/") or ".." in parts
            or (len(name) > 1 and name[1] == ":") or name == MANIFEST_NAME):
        raise InvalidInput("model file name", name,
                           "must be a relative path inside the model folder, without '..'",
                           hint="the manifest was edited by hand or crafted; do not load it")


def _try_predict(flavor: Any, model: Any, example: Any) -> Any:
    """The model's output on ``example``, or None when it cannot predict on it."""
    try:
        return flavor.predict(model, _as_frame(example))
    except Exception as exc:  # any failure only means the outputs stay unknown
        _log.debug("no output signature: predicting on the input example failed: %r", exc)
        return None


def _as_frame(data: Any) -> Any:
    """Dicts of lists become DataFrames; every other input goes to the model as is."""
    if isinstance(data, dict):
        import pandas as pd

        return pd.DataFrame(data)
    return data


def _versions(distributions: tuple[str, ...], model_class: str, example: Any) -> dict[str, str]:
    """Versions of the flavor's libraries, of the package defining the model's class,
    and of pandas when the example is a DataFrame: what loading needs, not the whole
    environment (the run that produced the model records that)."""
    names = list(distributions)
    top = model_class.split(".", 1)[0]
    if top not in ("builtins", "opsloop"):
        names.extend(_distributions_of(top))
    if type(example).__module__.startswith("pandas") or isinstance(example, dict):
        names.append("pandas")
    versions: dict[str, str] = {}
    for name in dict.fromkeys(names):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _distributions_of(module: str) -> list[str]:
    """The installed distributions providing the top-level ``module`` (none for the
    standard library or code that is not installed)."""
    if module in sys.stdlib_module_names:
        return []
    return list(_module_distributions().get(module, []))


@functools.cache
def _module_distributions() -> Mapping[str, list[str]]:
    # Scanning every installed distribution takes a fifth of a second: once a process.
    return metadata.packages_distributions()


def _class_name(model: Any) -> str:
    if isinstance(model, PyFunc):
        return model.class_path.replace(":", ".")
    cls = type(model)
    return f"{cls.__module__}.{cls.__qualname__}"
