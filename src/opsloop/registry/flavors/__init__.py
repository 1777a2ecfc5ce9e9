"""Flavors: how a model of one library is written to files, read back and asked to predict.

One module per format, each importing its library on first use (a missing library
raises :class:`~opsloop.errors.MissingExtra` with the ``pip install`` to run):

============ =================================== ===================================
flavor       files                               loaded as
============ =================================== ===================================
``sklearn``  ``model.skops`` (skops, no pickle)  the estimator or pipeline
``lightgbm`` ``model.txt`` (native text)         ``lightgbm.Booster``
``xgboost``  ``model.json`` (native JSON)        ``xgboost.Booster``
``onnx``     ``model.onnx``                      ``onnxruntime.InferenceSession``
``pyfunc``   ``pyfunc.json`` + ``artifacts/...`` an instance of your class
``pickle``   ``model.pkl``                       whatever was pickled (trusted only)
============ =================================== ===================================

Example:
    >>> sorted(FLAVORS)
    ['lightgbm', 'onnx', 'pickle', 'pyfunc', 'sklearn', 'xgboost']
    >>> detect_flavor(object())
    Traceback (most recent call last):
    ...
    opsloop.errors.InvalidInput: invalid model 'object': is not of a known flavor. ...
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from opsloop.errors import InvalidInput
from opsloop.registry.flavors.lightgbm import LightGBMFlavor
from opsloop.registry.flavors.onnx import OnnxFlavor
from opsloop.registry.flavors.pickle import PickleFlavor
from opsloop.registry.flavors.pyfunc import PyFunc, PyFuncFlavor
from opsloop.registry.flavors.sklearn import SklearnFlavor
from opsloop.registry.flavors.xgboost import XGBoostFlavor

__all__ = ["DETECTION_ORDER", "FLAVORS", "Flavor", "PyFunc", "detect_flavor", "get_flavor"]


class Flavor(Protocol):
    """How models of one library are saved, loaded and asked to predict.

    Attributes:
        name: the short name recorded in the manifest.
        packages: the distributions whose versions the manifest records.
    """

    name: str
    packages: tuple[str, ...]

    def detect(self, model: Any) -> bool:
        """Whether ``model`` is of this flavor; never imports the library to find out."""
        ...

    def save(self, model: Any, folder: Path) -> list[str]:
        """Write ``model`` into the empty ``folder``; the POSIX paths written, relative."""
        ...

    def load(self, folder: Path, files: list[str], *, trusted: bool) -> Any:
        """The model saved in ``folder`` as ``files`` (already digest-verified).

        Raises:
            UntrustedFormat: loading would run code from the files and ``trusted`` is
                false.
        """
        ...

    def predict(self, model: Any, data: Any) -> Any:
        """Predictions of a model (as saved, or as loaded) on ``data``."""
        ...


FLAVORS: dict[str, Flavor] = {
    flavor.name: flavor
    for flavor in (SklearnFlavor(), LightGBMFlavor(), XGBoostFlavor(), OnnxFlavor(),
                   PyFuncFlavor(), PickleFlavor())
}
"""Every flavor, by name."""

DETECTION_ORDER = ("lightgbm", "xgboost", "sklearn", "onnx", "pyfunc")
"""The order :func:`detect_flavor` tries; library wrappers come before scikit-learn,
whose base class they subclass. ``pickle`` is never chosen automatically."""


def get_flavor(name: str) -> Flavor:
    """The flavor called ``name``.

    Raises:
        InvalidInput: no flavor has that name.
    """
    try:
        return FLAVORS[name]
    except KeyError:
        raise InvalidInput("flavor", name, f"must be one of {', '.join(sorted(FLAVORS))}",
                           hint="a model saved by a newer opsloop may need an upgrade"
                           ) from None


def detect_flavor(model: Any) -> str:
    """The name of the flavor that can save ``model``.

    Raises:
        InvalidInput: no flavor recognises it.

    Example:
        >>> detect_flavor(PyFunc("json:JSONDecoder"))
        'pyfunc'
    """
    for name in DETECTION_ORDER:
        if FLAVORS[name].detect(model):
            return name
    raise InvalidInput(
        "model", type(model).__name__, "is not of a known flavor",
        hint=f"pass flavor= explicitly (one of {', '.join(sorted(FLAVORS))}); wrap custom "
             f"predict code in PyFunc('package.module:Class', config=...), or use "
             f"flavor='pickle' as a last resort")
