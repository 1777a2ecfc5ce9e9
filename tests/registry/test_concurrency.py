"""Concurrent registrations get unique, gap-free version numbers; racing promotions for
one alias end with exactly one winner. On SQLite and on PostgreSQL, with real processes."""

from __future__ import annotations

import multiprocessing as mp
import threading
from pathlib import Path

import numpy as np
import pytest

from opsloop.config import Settings
from opsloop.errors import Conflict

PROCESSES = 20
VERSIONS_EACH = 3


def _register(args: tuple[str, str, str]) -> tuple[list[int], str]:
    home, database_url, folder = args
    from opsloop.client import Client

    settings = Settings(home=home, database_url=database_url, capture_source=False)
    try:
        with Client(settings) as client:
            return [client.models.register("shared", folder).version
                    for _ in range(VERSIONS_EACH)], ""
    except Exception as exc:  # reported to the parent, which fails the test with it
        return [], f"{type(exc).__name__}: {exc}"


def _saved_model(home: Path) -> Path:
    from sklearn.linear_model import LinearRegression

    from opsloop.registry import save_model_files

    folder = home / "saved"
    X = np.arange(8.0).reshape(4, 2)
    save_model_files(LinearRegression().fit(X, X[:, 0]), folder)
    return folder


def _race_registrations(home: Path, database_url: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    folder = _saved_model(home)
    from opsloop.store.db import open_database

    open_database(database_url).ensure_ready()
    with mp.get_context("spawn").Pool(PROCESSES) as pool:
        results = pool.map(_register, [(str(home), database_url, str(folder))] * PROCESSES)
    assert [e for _, e in results if e] == []
    numbers = sorted(n for got, _ in results for n in got)
    assert numbers == list(range(1, PROCESSES * VERSIONS_EACH + 1))  # unique, no gaps
    for got, _ in results:
        assert got == sorted(got)  # each process sees its own versions increase
    from opsloop.client import Client

    with Client(Settings(home=home, database_url=database_url, capture_source=False)) as c:
        assert c.models.get("shared").latest_version == PROCESSES * VERSIONS_EACH


@pytest.mark.slow
def test_twenty_processes_register_gap_free_on_sqlite(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _race_registrations(home, f"sqlite:///{home / 'opsloop.db'}")


@pytest.mark.slow
@pytest.mark.postgres
def test_twenty_processes_register_gap_free_on_postgres(tmp_path: Path,
                                                        postgres_url: str) -> None:
    _race_registrations(tmp_path / "home", postgres_url)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_racing_promotions_have_exactly_one_winner(tmp_path: Path, backend: str,
                                                   request: pytest.FixtureRequest) -> None:
    """Many requests for ``champion``, all approved at the same moment from threads."""
    from opsloop.client import Client

    home = tmp_path / "home"
    home.mkdir(parents=True)
    url = (request.getfixturevalue("postgres_url") if backend == "postgres"
           else f"sqlite:///{home / 'opsloop.db'}")
    settings = Settings(home=home, database_url=url, capture_source=False)
    folder = _saved_model(home)
    contenders = 8
    with Client(settings) as c:
        for _ in range(contenders):
            c.models.register("m", folder)
        requests = [c.models.promote("m", v, to="champion").id
                    for v in range(1, contenders + 1)]
    start = threading.Barrier(contenders)
    outcomes: list[str] = []

    def approve(request_id: int) -> None:
        with Client(settings) as client:
            start.wait()
            try:
                client.models.approve(request_id)
                outcomes.append("applied")
            except Conflict as exc:
                outcomes.append(f"conflict: {exc.message}")

    threads = [threading.Thread(target=approve, args=(r,)) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("applied") == 1, outcomes
    assert all("lost a race" in o for o in outcomes if o != "applied")
    with Client(settings) as c:
        winner = [r for r in c.models.requests("m") if r.status == "applied"]
        assert len(winner) == 1
        assert c.models.resolve("m@champion").version == winner[0].version
        history = c.models.alias_history("m", "champion")
        assert [(e.from_version, e.to_version) for e in history] == [
            (None, winner[0].version)]
