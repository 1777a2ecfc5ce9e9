"""20 processes logging to one store at once lose no points and see no lock errors."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from opsloop.config import Settings

PROCESSES = 20
POINTS = 400


def _worker(args: tuple[str, str, int]) -> tuple[str, str]:
    home, database_url, i = args
    from opsloop.client import Client

    settings = Settings(home=home, database_url=database_url, capture_source=False,
                        metric_flush_interval=0.01)
    try:
        with Client(settings) as client:
            run = client.create_run("race", params={"worker": i})
            for step in range(POINTS):
                client.log_metric(run.id, "loss", 1.0 / (step + 1), step=step)
                if step % 100 == 99:
                    client.flush()  # several write transactions per process
            client.log_dataset(str(Path(home) / "shared.csv"), name="shared", run_id=run.id)
            client.end_run(run.id)
            return run.id, ""
    except Exception as exc:  # reported to the parent, which fails the test with it
        return "", f"{type(exc).__name__}: {exc}"


def _hammer(home: Path, database_url: str) -> None:
    (home).mkdir(parents=True, exist_ok=True)
    (home / "shared.csv").write_text("a,b\n1,2\n")
    from opsloop.store.db import open_database

    open_database(database_url).ensure_ready()  # the schema exists before the race starts
    with mp.get_context("spawn").Pool(PROCESSES) as pool:
        results = pool.map(_worker, [(str(home), database_url, i) for i in range(PROCESSES)])
    errors = [e for _, e in results if e]
    assert errors == []
    from opsloop.client import Client

    with Client(Settings(home=home, database_url=database_url, capture_source=False)) as c:
        runs = c.search_runs("race", max_results=100).items
        assert len(runs) == PROCESSES
        assert {r.status.value for r in runs} == {"FINISHED"}
        for run in runs:
            history = c.get_metric_history(run.id, "loss")
            assert [m.step for m in history] == list(range(POINTS))
            assert run.metrics["loss"] == pytest.approx(1.0 / POINTS)
        # The same content registered by 20 processes at once is one version.
        assert [v.version for v in c.list_dataset_versions("shared")] == [1]


@pytest.mark.slow
def test_twenty_processes_on_sqlite(tmp_path: Path) -> None:
    _hammer(tmp_path, f"sqlite:///{tmp_path / 'opsloop.db'}")


@pytest.mark.slow
@pytest.mark.postgres
def test_twenty_processes_on_postgres(tmp_path: Path, postgres_url: str) -> None:
    _hammer(tmp_path, postgres_url)
