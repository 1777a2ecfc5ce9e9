"""ONNX models, run with onnxruntime on the CPU.

The model is given as an ``onnx.ModelProto``, the bytes of a ``.onnx`` file, or the
path of one (models with external data files are not supported). It loads as an
``onnxruntime.InferenceSession``; ``predict`` feeds the model's first input with the
data as a float32 array and returns its first output. An ONNX file is a graph of
operators, not code: loading it runs nothing from the file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from opsloop.errors import InvalidInput, import_extra

__all__ = ["OnnxFlavor"]

FILE = "model.onnx"
_PROVIDERS = ["CPUExecutionProvider"]


def _onnxruntime() -> Any:
    return import_extra("onnxruntime", extra="onnx", feature="the onnx flavor")


class OnnxFlavor:
    """ONNX models as ``model.onnx``."""

    name = "onnx"
    packages: tuple[str, ...] = ("onnx", "onnxruntime", "numpy")

    def detect(self, model: Any) -> bool:
        onnx = sys.modules.get("onnx")
        if onnx is not None and isinstance(model, onnx.ModelProto):
            return True
        return isinstance(model, str | os.PathLike) and os.fspath(model).endswith(".onnx")

    def save(self, model: Any, folder: Path) -> list[str]:
        (folder / FILE).write_bytes(_model_bytes(model))
        return [FILE]

    def load(self, folder: Path, files: list[str], *, trusted: bool) -> Any:
        ort = _onnxruntime()
        return ort.InferenceSession(str(folder / FILE), providers=_PROVIDERS)

    def predict(self, model: Any, data: Any) -> Any:
        import numpy as np

        ort = _onnxruntime()
        session = model if isinstance(model, ort.InferenceSession) else \
            ort.InferenceSession(_model_bytes(model), providers=_PROVIDERS)
        feed = {session.get_inputs()[0].name: np.asarray(data, dtype=np.float32)}
        return session.run(None, feed)[0]


def _model_bytes(model: Any) -> bytes:
    if isinstance(model, bytes):
        return model
    if isinstance(model, str | os.PathLike):
        path = Path(os.fspath(model))
        if not path.is_file():
            raise InvalidInput("ONNX model path", str(path), "is not a file")
        return path.read_bytes()
    onnx = sys.modules.get("onnx")
    if onnx is not None and isinstance(model, onnx.ModelProto):
        data: bytes = model.SerializeToString()
        return data
    raise InvalidInput("ONNX model", type(model).__name__,
                       "must be an onnx.ModelProto, bytes, or the path of a .onnx file")
