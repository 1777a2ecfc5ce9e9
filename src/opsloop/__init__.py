"""opsloop: the MLOps platform that closes the loop.

``import opsloop`` is cheap: the names below load their modules on first use.

Example:
    >>> import tempfile, opsloop
    >>> _ = opsloop.init(home=tempfile.mkdtemp())
    >>> with opsloop.start_run(experiment="quickstart", params={"alpha": 0.5}) as run:
    ...     run.log_metric("rmse", 0.42)
    >>> opsloop.search_runs("quickstart")[["params.alpha", "metrics.rmse"]].values.tolist()
    [['0.5', 0.42]]
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> module that defines it
_LAZY = {
    "ActiveRun": "opsloop.client.fluent",
    "Client": "opsloop.client._client",
    "RunStatus": "opsloop.tracking.entities",
    "Settings": "opsloop.config",
    "active_run": "opsloop.client.fluent",
    "end_run": "opsloop.client.fluent",
    "get_client": "opsloop.client.fluent",
    "get_run": "opsloop.client.fluent",
    "init": "opsloop.client.fluent",
    "log_artifact": "opsloop.client.fluent",
    "log_dataset": "opsloop.client.fluent",
    "log_metric": "opsloop.client.fluent",
    "log_metrics": "opsloop.client.fluent",
    "log_param": "opsloop.client.fluent",
    "log_params": "opsloop.client.fluent",
    "register_model": "opsloop.client.fluent",
    "search_runs": "opsloop.client.fluent",
    "set_tag": "opsloop.client.fluent",
    "set_tags": "opsloop.client.fluent",
    "start_run": "opsloop.client.fluent",
}

__all__ = [
    "ActiveRun",
    "Client",
    "RunStatus",
    "Settings",
    "__version__",
    "active_run",
    "end_run",
    "get_client",
    "get_run",
    "init",
    "log_artifact",
    "log_dataset",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "models",
    "register_model",
    "search_runs",
    "set_tag",
    "set_tags",
    "start_run",
]

if TYPE_CHECKING:
    from opsloop.client._client import Client
    from opsloop.client._models import Models
    from opsloop.client.fluent import (
        ActiveRun,
        active_run,
        end_run,
        get_client,
        get_run,
        init,
        log_artifact,
        log_dataset,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        register_model,
        search_runs,
        set_tag,
        set_tags,
        start_run,
    )
    from opsloop.config import Settings
    from opsloop.tracking.entities import RunStatus

    models: Models


def __getattr__(name: str) -> Any:
    if name == "models":  # the default client's registry; not cached: init() may replace it
        from opsloop.client.fluent import get_client

        return get_client().models
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'opsloop' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
