"""The fluent API: run context, failures, nesting, auto steps, exit and crash behaviour."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import opsloop
from opsloop.config import Settings
from opsloop.errors import Conflict
from opsloop.tracking.entities import RunStatus


@pytest.fixture(autouse=True)
def fresh(settings: Settings) -> Iterator[None]:
    opsloop.init(settings)
    yield
    opsloop.init(settings)  # ends anything a test left open
    opsloop.get_client().close()


def test_a_run_finishes_with_its_params_metrics_and_tags() -> None:
    with opsloop.start_run(experiment="credit", name="lgbm-1", params={"lr": 0.05},
                           tags={"team": "risk"}) as run:
        run.log_metrics({"auc": 0.81, "logloss": 0.4})
        run.set_tag("stage", "dev")
        assert opsloop.active_run() is run
    assert opsloop.active_run() is None
    got = opsloop.get_run(run.id)
    assert got.status is RunStatus.FINISHED and got.name == "lgbm-1"
    assert got.metrics == {"auc": 0.81, "logloss": 0.4}
    assert got.tags == {"team": "risk", "stage": "dev"} and got.params == {"lr": "0.05"}


def test_an_exception_marks_the_run_failed_with_the_traceback() -> None:
    with pytest.raises(ZeroDivisionError), opsloop.start_run(experiment="credit") as run:
        1 / 0  # noqa: B018
    got = opsloop.get_run(run.id)
    assert got.status is RunStatus.FAILED
    assert got.failure is not None and "ZeroDivisionError" in got.failure
    assert "test_fluent.py" in got.failure


def test_keyboard_interrupt_marks_the_run_killed() -> None:
    with pytest.raises(KeyboardInterrupt), opsloop.start_run(experiment="credit") as run:
        raise KeyboardInterrupt
    assert opsloop.get_run(run.id).status is RunStatus.KILLED


def test_steps_count_per_key_unless_given() -> None:
    with opsloop.start_run(experiment="credit") as run:
        for v in (3.0, 2.0, 1.0):
            run.log_metric("loss", v)
        run.log_metric("acc", 0.5)
        run.log_metric("loss", 0.5, step=10)
        run.log_metric("loss", 0.4)
    client = opsloop.get_client()
    assert [m.step for m in client.get_metric_history(run.id, "loss")] == [0, 1, 2, 10, 11]
    assert [m.step for m in client.get_metric_history(run.id, "acc")] == [0]


def test_nested_runs_and_the_conflict_without_nested() -> None:
    with opsloop.start_run(experiment="hpo") as parent:
        with pytest.raises(Conflict, match="nested=True"):
            opsloop.start_run()
        with opsloop.start_run(nested=True, params={"trial": 1}) as child:
            opsloop.log_metric("auc", 0.7)  # goes to the innermost run
        assert opsloop.active_run() is parent
    got = opsloop.get_run(child.id)
    assert got.parent_id == parent.id and got.experiment == "hpo"
    assert got.metrics == {"auc": 0.7} and opsloop.get_run(parent.id).metrics == {}


def test_module_functions_need_an_active_run() -> None:
    with pytest.raises(Conflict, match="start_run"):
        opsloop.log_metric("auc", 0.5)
    assert opsloop.end_run() is None


def test_log_dataset_links_the_active_run() -> None:
    df = pd.DataFrame({"x": [1, 2, 3]})
    with opsloop.start_run(experiment="credit") as run:
        dv = run.log_dataset(df, name="train-set")
        opsloop.log_dataset(df.iloc[:2], name="eval-set", role="eval")
    inputs = opsloop.get_client().get_run_inputs(run.id)
    assert sorted((i.dataset, i.role) for i in inputs) == [("eval-set", "eval"),
                                                           ("train-set", "train")]
    assert dv.version == 1


def test_search_runs_returns_a_table() -> None:
    for lr in (0.1, 0.2, 0.3):
        with opsloop.start_run(experiment="grid", params={"lr": lr}) as run:
            run.log_metric("auc", 0.7 + lr)
    table = opsloop.search_runs("grid", filter="metrics.auc >= 0.85",
                                order_by=["metrics.auc desc"])
    assert table["params.lr"].tolist() == ["0.3", "0.2"]


def test_source_version_is_captured_from_git(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
           "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "train.py").write_text("print('v1')\n")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "v1"], check=True)
    (repo / "train.py").write_text("print('v2')\n")
    client = opsloop.Client(Settings(home=tmp_path / "home"))
    run = client.create_run("src", source_path=repo)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    assert (run.source.commit, run.source.branch, run.source.dirty) == (head, "main", True)
    diff = client.read_artifact(run.id, "source/diff.patch")
    assert b"+print('v2')" in diff
    import hashlib

    assert run.source.diff_digest == hashlib.sha256(diff).hexdigest()
    client.close()


SCRIPT = textwrap.dedent("""
    import os, sys, time
    import opsloop
    opsloop.init(home=os.environ["HOME_DIR"], capture_source=False,
                 metric_flush_interval=0.2, heartbeat_interval=0.2)
    run = opsloop.start_run(experiment="exit")
    print(run.id, flush=True)
    for i in range(1000):
        run.log_metric("x", float(i))
    mode = sys.argv[1]
    if mode == "crash":
        raise RuntimeError("training blew up")
    if mode == "hang":
        time.sleep(1.0)  # longer than the flush interval: every point is written
        print("flushed", flush=True)
        time.sleep(60)
""")


def _spawn(mode: str, home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", SCRIPT, mode], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "HOME_DIR": str(home)})


def _client(home: Path) -> opsloop.Client:
    return opsloop.Client(Settings(home=home, capture_source=False, heartbeat_timeout=1.0))


def test_normal_exit_flushes_and_finishes_open_runs(tmp_path: Path) -> None:
    proc = _spawn("exit", tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    with _client(tmp_path) as c:
        run = c.get_run(out.split()[0])
        assert run.status is RunStatus.FINISHED
        assert len(c.get_metric_history(run.id, "x")) == 1000


def test_an_uncaught_exception_fails_open_runs_at_exit(tmp_path: Path) -> None:
    proc = _spawn("crash", tmp_path)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1
    with _client(tmp_path) as c:
        run = c.get_run(out.split()[0])
        assert run.status is RunStatus.FAILED
        assert "training blew up" in (run.failure or "")


@pytest.mark.slow
def test_a_killed_process_loses_at_most_the_flush_interval_and_becomes_lost(
        tmp_path: Path) -> None:
    proc = _spawn("hang", tmp_path)
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    assert proc.stdout.readline().strip() == "flushed"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    with _client(tmp_path) as c:
        assert len(c.get_metric_history(run_id, "x")) == 1000  # nothing older was lost
        assert c.get_run(run_id).status is RunStatus.RUNNING
        time.sleep(1.5)  # heartbeat_timeout=1.0 has passed since the last beat
        assert c.reap_lost_runs() == 1
        lost = c.get_run(run_id)
        assert lost.status is RunStatus.LOST and "heartbeats" in (lost.failure or "")
