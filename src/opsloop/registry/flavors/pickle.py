"""Any Python object, pickled: the format of last resort, loaded only when trusted.

Unpickling runs whatever code the file names, so a pickle from anyone but yourself is
a program you are about to execute. :meth:`PickleFlavor.load` refuses with
:class:`~opsloop.errors.UntrustedFormat` unless the caller passes ``trusted=True``,
and :func:`~opsloop.registry.flavors.detect_flavor` never picks this flavor: ask for it
with ``flavor="pickle"``.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from opsloop.errors import UntrustedFormat

__all__ = ["PickleFlavor"]

FILE = "model.pkl"


class PickleFlavor:
    """Pickled models as ``model.pkl``; ``predict`` calls the object's ``predict``."""

    name = "pickle"
    packages: tuple[str, ...] = ()

    def detect(self, model: Any) -> bool:
        return False

    def save(self, model: Any, folder: Path) -> list[str]:
        with open(folder / FILE, "wb") as fh:
            pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return [FILE]

    def load(self, folder: Path, files: list[str], *, trusted: bool) -> Any:
        if not trusted:
            raise UntrustedFormat(
                f"{FILE} is a pickle, and pickle runs arbitrary code on load",
                hint="convert the model to a safe format (skops for scikit-learn, ONNX, "
                     "the library's native format, or a pyfunc), or pass trusted=True "
                     "only for files you produced yourself",
                file=FILE)
        with open(folder / FILE, "rb") as fh:
            return pickle.load(fh)  # the caller said trusted=True

    def predict(self, model: Any, data: Any) -> Any:
        return model.predict(data)
