"""Public packages export a sorted, complete ``__all__``; ``import opsloop`` stays cheap."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest

PUBLIC = ["opsloop", "opsloop.client", "opsloop.config", "opsloop.errors", "opsloop.store",
          "opsloop.tracking", "opsloop.registry", "opsloop.auth", "opsloop.server",
          "opsloop.cli"]


@pytest.mark.parametrize("name", PUBLIC)
def test_all_is_sorted_and_resolves(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported), f"{name}.__all__ is not sorted"
    for attr in exported:
        assert getattr(module, attr) is not None


@pytest.mark.parametrize("name", ["opsloop.client", "opsloop.store", "opsloop.tracking",
                                  "opsloop.registry", "opsloop.auth", "opsloop.errors",
                                  "opsloop.config"])
def test_all_is_complete(name: str) -> None:
    """Every public class or function defined by the package is exported."""
    module = importlib.import_module(name)
    public = {n for n, v in vars(module).items()
              if not n.startswith("_") and (inspect.isclass(v) or inspect.isfunction(v))
              and getattr(v, "__module__", "").startswith(name)}
    assert public <= set(module.__all__)


def test_facade_exports_everything_it_lazily_provides() -> None:
    import opsloop

    assert set(opsloop._LAZY) | {"__version__", "models"} == set(opsloop.__all__)
    for name in opsloop.__all__:
        assert getattr(opsloop, name) is not None


@pytest.mark.parametrize(("module", "heavy"), [
    ("opsloop", ("sqlalchemy", "pandas", "pyarrow", "fastapi", "pydantic", "httpx", "numpy",
                 "alembic")),
    ("opsloop.registry", ("sklearn", "skops", "lightgbm", "xgboost", "onnx", "onnxruntime",
                          "pandas", "numpy", "sqlalchemy")),
])
def test_import_loads_no_heavy_library(module: str, heavy: tuple[str, ...]) -> None:
    code = (f"import sys, {module}; print(','.join(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ""


def test_unknown_attribute_is_an_attribute_error() -> None:
    import opsloop

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        opsloop.nope  # noqa: B018
