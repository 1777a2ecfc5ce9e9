"""Custom predict code, saved by reference instead of by pickle.

A pyfunc model is an importable class plus JSON configuration plus optional files. The
folder holds ``pyfunc.json``::

    {"class": "mypkg.models:Ensemble", "config": {"threshold": 0.4},
     "artifacts": ["artifacts/weights.npz"]}

and the artifact files under ``artifacts/``. Loading imports the class and calls
``cls.load(folder, config)`` when the class defines it (to read the artifacts),
otherwise ``cls(**config)``; predicting calls the instance's ``predict(data)``. The code
itself is not stored: the class must be importable wherever the model loads, which is
what makes this flavor safe to load without ``trusted=True``. The file only chooses
*which* installed class to build, so it must name a class that defines ``predict``
(not a function, not a module attribute of any other kind).

An instance's attributes are not saved; only the class, ``config`` and artifacts are.

Example:
    >>> spec = PyFunc("json:JSONDecoder", config={"strict": False})
    >>> spec.class_path
    'json:JSONDecoder'
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsloop.errors import InvalidInput

__all__ = ["PyFunc", "PyFuncFlavor"]

FILE = "pyfunc.json"
ARTIFACTS = "artifacts"
_CLASS_RULE = "must be 'package.module:ClassName', naming an importable class"


@dataclass(frozen=True)
class PyFunc:
    """A pyfunc model to save: the class, its configuration and its files.

    Args:
        python_model: ``"package.module:ClassName"``, the class itself, or an instance
            of it (only its class is recorded). The module must be importable where
            the model will load: not ``__main__``, not a function's local class.
        config: JSON-serialisable keyword arguments for ``cls.load`` or ``cls()``.
        artifacts: paths of files copied into the model's ``artifacts/`` folder
            (distinct file names).
    """

    python_model: Any
    config: Mapping[str, Any] = field(default_factory=dict)
    artifacts: Sequence[str | os.PathLike[str]] = ()

    @property
    def class_path(self) -> str:
        """The ``"package.module:ClassName"`` the model loads from."""
        target = self.python_model
        if isinstance(target, str):
            return target
        cls = target if isinstance(target, type) else type(target)
        return f"{cls.__module__}:{cls.__qualname__}"


class PyFuncFlavor:
    """Importable classes with JSON config, as ``pyfunc.json`` and ``artifacts/``."""

    name = "pyfunc"
    packages: tuple[str, ...] = ()

    def detect(self, model: Any) -> bool:
        return isinstance(model, PyFunc)

    def save(self, model: Any, folder: Path) -> list[str]:
        spec = model if isinstance(model, PyFunc) else PyFunc(model)
        class_path = spec.class_path
        resolve_class(class_path)  # fail now, not when someone loads it
        try:
            config = json.loads(json.dumps(dict(spec.config), allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise InvalidInput("pyfunc config", spec.config, f"must be JSON-serialisable "
                                                             f"({exc})") from None
        artifacts = _copy_artifacts(spec.artifacts, folder)
        body = {"class": class_path, "config": config, "artifacts": artifacts}
        (folder / FILE).write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
        return [FILE, *artifacts]

    def load(self, folder: Path, files: list[str], *, trusted: bool) -> Any:
        body = json.loads((folder / FILE).read_text())
        if not isinstance(body, dict) or not isinstance(body.get("config", {}), dict):
            raise InvalidInput(FILE, "content", "must be an object with 'class', 'config' "
                                                "and 'artifacts'")
        cls = resolve_class(str(body.get("class", "")))
        config: dict[str, Any] = body.get("config", {})
        loader = getattr(cls, "load", None)
        return loader(folder, config) if callable(loader) else cls(**config)

    def predict(self, model: Any, data: Any) -> Any:
        if isinstance(model, PyFunc):
            if isinstance(model.python_model, str | type):
                raise InvalidInput("pyfunc model", model.class_path,
                                   "is a class, not an instance; load it to predict")
            model = model.python_model
        return model.predict(data)


def resolve_class(class_path: str) -> type:
    """The class named ``"package.module:ClassName"``, which must define ``predict``.

    Raises:
        InvalidInput: the path is malformed, does not import, or names something else.

    Example:
        >>> resolve_class("json:JSONDecoder")
        Traceback (most recent call last):
        ...
        opsloop.errors.InvalidInput: invalid pyfunc class 'json:JSONDecoder': must define \
a predict(data) method. ...
    """
    module_name, sep, qualname = class_path.partition(":")
    if not sep or not module_name or not qualname or "<locals>" in qualname:
        raise InvalidInput("pyfunc class", class_path, _CLASS_RULE,
                           hint="define the class at the top level of a module")
    if module_name == "__main__":
        raise InvalidInput("pyfunc class", class_path, "is defined in __main__, which the "
                                                       "loading process cannot import",
                           hint="move the class into a module of your package")
    try:
        value: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInput("pyfunc class", class_path, f"does not import: {exc}",
                           hint="install the package that defines it") from None
    for part in qualname.split("."):
        value = getattr(value, part, None)
    if not isinstance(value, type):
        raise InvalidInput("pyfunc class", class_path, _CLASS_RULE)
    if not callable(getattr(value, "predict", None)):
        raise InvalidInput("pyfunc class", class_path, "must define a predict(data) method",
                           hint="pyfunc loads only classes written to predict")
    return value


def _copy_artifacts(paths: Sequence[str | os.PathLike[str]], folder: Path) -> list[str]:
    names: list[str] = []
    for path in map(Path, paths):
        if not path.is_file():
            raise InvalidInput("pyfunc artifact", str(path), "is not a file")
        name = f"{ARTIFACTS}/{path.name}"
        if name in names:
            raise InvalidInput("pyfunc artifact", str(path),
                               f"has the same file name as another artifact ({path.name})",
                               hint="give every artifact a distinct file name")
        (folder / ARTIFACTS).mkdir(exist_ok=True)
        shutil.copyfile(path, folder / name)
        names.append(name)
    return names
