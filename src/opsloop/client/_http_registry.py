"""The registry and auth APIs over HTTP (being written; see tests/contracts)."""

from __future__ import annotations

from typing import Any

from opsloop.client._http import HttpTracking


class HttpRegistry:
    def __init__(self, http: HttpTracking) -> None:
        self._http = http

    def __getattr__(self, name: str) -> Any:
        raise NotImplementedError(f"registry over HTTP: {name}")


class HttpAuth(HttpRegistry):
    pass
