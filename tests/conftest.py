"""Shared fixtures: settings on a temporary home, real backends, and a real HTTP server.

Backends that need a service (PostgreSQL, moto's S3 server) skip with the reason when
the service is unreachable, except under CI (``CI=true``), where a skip is a failure.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from opsloop.config import Settings

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
POSTGRES_URL = os.environ.get("OPSLOOP_TEST_POSTGRES_URL",
                              "postgresql://postgres@127.0.0.1:5432/test")


def unavailable(reason: str) -> None:
    """Skip locally; fail under CI, where every backend must be tested."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: backend tests are mandatory)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def settings(home: Path) -> Settings:
    return Settings(home=home, capture_source=False, metric_flush_interval=0.2)


# -- PostgreSQL ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            pass
    except Exception as exc:
        unavailable(f"PostgreSQL is unreachable at {POSTGRES_URL}: {exc}")
    return POSTGRES_URL


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty database per test, dropped afterwards."""
    import psycopg

    name = f"opsloop_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = postgres_server_url.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    from opsloop.store import db as dbmod

    for url, database in list(dbmod._cache.items()):
        if url.endswith(name):
            database.dispose()
            del dbmod._cache[url]
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- a real HTTP server on loopback -------------------------------------------------------


class ServerThread:
    """uvicorn serving ``create_app(settings)`` on 127.0.0.1 in a background thread."""

    def __init__(self, settings: Settings) -> None:
        import uvicorn

        from opsloop.server import create_app

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port,
                                log_level="error", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def server(settings: Settings) -> Iterator[ServerThread]:
    with ServerThread(settings) as srv:
        yield srv


# -- clients over every backend ------------------------------------------------------------

BACKENDS = ["local-sqlite", "local-postgres", "http-sqlite"]


@pytest.fixture(params=BACKENDS)
def backend_settings(request: pytest.FixtureRequest, home: Path) -> Iterator[Settings]:
    """Client settings for each backend; the HTTP one runs a real server on loopback."""
    kind = request.param
    base = Settings(home=home, capture_source=False, metric_flush_interval=0.2)
    if kind == "local-sqlite":
        yield base
    elif kind == "local-postgres":
        url = request.getfixturevalue("postgres_url")
        yield base.model_copy(update={"database_url": url})
    else:
        server_settings = Settings(home=home / "server", capture_source=False)
        with ServerThread(server_settings) as srv:
            yield base.model_copy(update={"tracking_uri": srv.url})


@pytest.fixture
def client(backend_settings: Settings) -> Iterator[Any]:
    from opsloop.client import Client

    c = Client(backend_settings)
    yield c
    c.close()
