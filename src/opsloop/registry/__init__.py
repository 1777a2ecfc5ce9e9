"""C6: model registry: registered models, immutable versions, aliases, promotions, and
the file layer (flavors, signatures, the model manifest).

Users reach it through ``client.models`` (see ``docs/registry.md``). A model is saved as a
folder of files in a safe format plus ``opsloop-model.json`` (``docs/model-format.md``).
Importing this package is cheap: each flavor imports its library (scikit-learn, LightGBM,
XGBoost, onnxruntime) the first time it is used.
"""

from opsloop.registry.entities import (
    AliasEvent,
    AliasPolicy,
    Approval,
    Comment,
    DatasetRef,
    GateResult,
    ModelPolicy,
    ModelRef,
    ModelVersion,
    ModelVersionSpec,
    PromotionRequest,
    PromotionStatus,
    RegisteredModel,
    VersionStatus,
    check_alias,
)
from opsloop.registry.flavors import FLAVORS, Flavor, PyFunc, detect_flavor, get_flavor
from opsloop.registry.manifest import (
    MANIFEST_NAME,
    FileDigest,
    LoadedModel,
    Manifest,
    load_model_files,
    read_manifest,
    save_model_file,
    save_model_files,
)
from opsloop.registry.signature import ColumnSpec, Signature, infer_signature

__all__ = [  # noqa: RUF022 -- plain sorted() order, as tests check for packages
    "AliasEvent",
    "AliasPolicy",
    "Approval",
    "ColumnSpec",
    "Comment",
    "DatasetRef",
    "FLAVORS",
    "FileDigest",
    "Flavor",
    "GateResult",
    "LoadedModel",
    "MANIFEST_NAME",
    "Manifest",
    "ModelPolicy",
    "ModelRef",
    "ModelVersion",
    "ModelVersionSpec",
    "PromotionRequest",
    "PromotionStatus",
    "PyFunc",
    "RegisteredModel",
    "Signature",
    "VersionStatus",
    "check_alias",
    "detect_flavor",
    "get_flavor",
    "infer_signature",
    "load_model_files",
    "read_manifest",
    "save_model_file",
    "save_model_files",
]
