"""The HTTP API (FastAPI) and, later, the web UI. Nothing in opsloop imports this package."""

from opsloop.server.app import create_app

__all__ = ["create_app"]
