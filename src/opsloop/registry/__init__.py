"""C6: model registry. For now its file layer: flavors, signatures and the model manifest.

A model is saved as a folder of files in a safe format plus ``opsloop-model.json``
(see ``docs/model-format.md``). Importing this package is cheap: each flavor imports
its library (scikit-learn, LightGBM, XGBoost, onnxruntime) the first time it is used.
"""

from opsloop.registry.flavors import FLAVORS, Flavor, PyFunc, detect_flavor, get_flavor
from opsloop.registry.manifest import (
    MANIFEST_NAME,
    FileDigest,
    LoadedModel,
    Manifest,
    load_model_files,
    read_manifest,
    save_model_files,
)
from opsloop.registry.signature import ColumnSpec, Signature, infer_signature

__all__ = [  # noqa: RUF022 -- plain sorted() order, as tests check for packages
    "ColumnSpec",
    "FLAVORS",
    "FileDigest",
    "Flavor",
    "LoadedModel",
    "MANIFEST_NAME",
    "Manifest",
    "PyFunc",
    "Signature",
    "detect_flavor",
    "get_flavor",
    "infer_signature",
    "load_model_files",
    "read_manifest",
    "save_model_files",
]
