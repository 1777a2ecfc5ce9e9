"""The tracking contract: every test runs against SQLite, PostgreSQL and HTTP (over SQLite).

Tests go through :class:`opsloop.Client`, so they pin what users rely on whichever
transport and database sit underneath.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from opsloop.errors import (
    AlreadyExists,
    Conflict,
    DigestMismatch,
    InvalidFilter,
    InvalidInput,
    NotFound,
)
from opsloop.tracking.entities import Run, RunStatus

# -- experiments ----------------------------------------------------------------------------


def test_experiments_are_created_listed_and_unique(client: Any) -> None:
    exp = client.create_experiment("credit", description="default risk")
    assert exp.name == "credit" and exp.project == "default"
    assert client.get_experiment("credit").id == exp.id
    with pytest.raises(AlreadyExists, match="credit"):
        client.create_experiment("credit")
    assert [e.name for e in client.list_experiments()] == ["credit"]
    with pytest.raises(NotFound, match="nope"):
        client.get_experiment("nope")


def test_projects_separate_experiments(client: Any) -> None:
    client.create_experiment("shared", project="team-a")
    client.create_experiment("shared", project="team-b")
    assert [e.project for e in client.list_experiments(all_projects=True)] == [
        "team-a", "team-b"]
    assert client.list_experiments(project="team-a")[0].project == "team-a"


@pytest.mark.parametrize("bad", ["", " lead", "a" * 129, "../x", "x\ny", "a/b"])
def test_bad_experiment_names_are_refused_with_the_rule(client: Any, bad: str) -> None:
    with pytest.raises(InvalidInput, match="experiment name") as info:
        client.create_experiment(bad)
    assert info.value.details["rule"].startswith("must be 1-128")


# -- runs -------------------------------------------------------------------------------------


def test_run_lifecycle_params_metrics_tags(client: Any) -> None:
    run = client.create_run("credit", name="baseline", params={"lr": 0.1, "model": "lgbm"},
                            tags={"team": "risk"})
    assert run.status is RunStatus.RUNNING and run.name == "baseline"
    assert run.params == {"lr": "0.1", "model": "lgbm"}
    assert run.user and run.host and run.environment_digest
    client.log_metric(run.id, "auc", 0.7, step=0)
    client.log_metric(run.id, "auc", 0.8, step=1)
    client.set_tag(run.id, "team", "credit-risk")
    ended = client.end_run(run.id)
    assert ended.status is RunStatus.FINISHED
    assert ended.end_time is not None and ended.end_time >= ended.start_time
    assert ended.metrics == {"auc": 0.8}
    assert ended.tags == {"team": "credit-risk"}
    history = client.get_metric_history(run.id, "auc")
    assert [(m.step, m.value) for m in history] == [(0, 0.7), (1, 0.8)]


def test_latest_metric_is_highest_step_not_last_logged(client: Any) -> None:
    run = client.create_run("credit")
    client.log_batch(run.id, metrics=[("loss", 0.1, 5, 1000), ("loss", 0.9, 2, 2000)])
    assert client.get_run(run.id).metrics == {"loss": 0.1}
    client.log_batch(run.id, metrics=[("loss", 0.05, 5, 3000)])
    assert client.get_run(run.id).metrics == {"loss": 0.05}


def test_nan_and_infinities_are_stored_faithfully(client: Any) -> None:
    run = client.create_run("credit")
    client.log_batch(run.id, metrics=[("a", math.nan, 0, 1), ("b", math.inf, 0, 1),
                                      ("c", -math.inf, 0, 1), ("d", 1e308, 0, 1)])
    got = client.get_run(run.id).metrics
    assert math.isnan(got["a"])
    assert got["b"] == math.inf and got["c"] == -math.inf and got["d"] == 1e308
    [point] = client.get_metric_history(run.id, "a")
    assert math.isnan(point.value)


def test_a_param_logged_twice_with_another_value_names_both(client: Any) -> None:
    run = client.create_run("credit", params={"lr": 0.1})
    client.log_param(run.id, "lr", 0.1)  # same value: fine
    with pytest.raises(Conflict) as info:
        client.log_param(run.id, "lr", 0.2)
    assert "'0.1'" in str(info.value) and "'0.2'" in str(info.value)
    assert client.get_run(run.id).params == {"lr": "0.1"}


def test_unknown_run_is_not_found_naming_it(client: Any) -> None:
    missing = "0" * 32
    with pytest.raises(NotFound, match=missing):
        client.get_run(missing)
    with pytest.raises(NotFound, match=missing):
        client.log_param(missing, "a", 1)


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "x" * 251, "semi;colon", "new\nline"])
def test_bad_keys_are_refused(client: Any, key: str) -> None:
    run = client.create_run("credit")
    with pytest.raises(InvalidInput, match="key"):
        client.log_batch(run.id, params={key: 1})
    with pytest.raises(InvalidInput, match="key"):
        client.log_metric(run.id, key, 1.0)


def test_bad_metric_values_are_refused_at_the_call(client: Any) -> None:
    run = client.create_run("credit")
    with pytest.raises(InvalidInput, match="must be a number"):
        client.log_metric(run.id, "auc", "high")
    with pytest.raises(InvalidInput, match="step"):
        client.log_metric(run.id, "auc", 1.0, step=2**70)


def test_long_param_values_are_refused(client: Any) -> None:
    run = client.create_run("credit")
    with pytest.raises(InvalidInput, match="at most 6000"):
        client.log_param(run.id, "blob", "x" * 6001)


def test_ending_twice_differently_is_a_conflict(client: Any) -> None:
    run = client.create_run("credit")
    client.end_run(run.id, "FAILED", failure="boom")
    assert client.end_run(run.id, "FAILED").status is RunStatus.FAILED
    with pytest.raises(Conflict, match="already ended"):
        client.end_run(run.id, "FINISHED")
    assert client.get_run(run.id).failure == "boom"


def test_nested_runs_record_their_parent(client: Any) -> None:
    parent = client.create_run("credit")
    child = client.create_run("credit", parent_id=parent.id)
    assert child.parent_id == parent.id
    page = client.search_runs("credit", filter=f"parent_id = '{parent.id}'")
    assert [r.id for r in page.items] == [child.id]
    with pytest.raises(NotFound, match="parent run"):
        client.create_run("credit", parent_id="f" * 32)


# -- search ------------------------------------------------------------------------------------


@pytest.fixture
def populated(client: Any) -> list[str]:
    ids = []
    for i in range(12):
        run = client.create_run("search", params={"model": "lgbm" if i % 2 else "logreg",
                                                  "depth": i},
                                tags={"team": "risk" if i < 6 else "growth"})
        client.log_batch(run.id, metrics=[("auc", 0.5 + i / 100, 0, 1000 + i)])
        client.end_run(run.id)
        ids.append(run.id)
    return ids


def test_search_filters_and_orders(client: Any, populated: list[str]) -> None:
    page = client.search_runs("search",
                              filter="metrics.auc > 0.52 and params.model = 'lgbm' "
                                     "and tags.team = 'risk'",
                              order_by=["metrics.auc desc"])
    assert [r.id for r in page.items] == [populated[5], populated[3]]


def test_search_paginates_without_loss_or_repeats(client: Any, populated: list[str]) -> None:
    seen, token, pages = [], None, 0
    while True:
        page = client.search_runs("search", order_by=["params.depth"], max_results=5,
                                  page_token=token)
        seen += [r.id for r in page.items]
        pages += 1
        token = page.next_page_token
        if token is None:
            break
    assert pages == 3
    assert sorted(seen) == sorted(populated) and len(seen) == 12


def test_search_table_has_a_row_per_run_and_columns_per_key(client: Any,
                                                           populated: list[str]) -> None:
    table = client.search_runs_table("search", order_by=["metrics.auc"])
    assert isinstance(table, pd.DataFrame)
    assert list(table["run_id"]) == populated
    assert {"params.model", "params.depth", "metrics.auc", "tags.team"} <= set(table.columns)
    assert table["metrics.auc"].tolist() == pytest.approx([0.5 + i / 100 for i in range(12)])
    arrow = client.search_runs_table("search", output="arrow", max_results=3)
    assert arrow.num_rows == 3


def test_searched_runs_are_whole_valid_entities(client: Any, populated: list[str]) -> None:
    # Search builds runs from store rows without re-validating them: they must still be
    # exactly what validation of the same data gives, and equal to get_run's.
    for run in client.search_runs("search").items:
        assert Run.model_validate(run.model_dump()) == run
        assert client.get_run(run.id) == run
        assert run.status is RunStatus.FINISHED and run.source.dirty in (None, True, False)
    nan_run = client.create_run("search-nan", params={"p": 1})
    client.log_batch(nan_run.id, metrics=[("m", math.nan, 0, 1)])
    client.end_run(nan_run.id)
    (found,) = client.search_runs("search-nan").items
    assert math.isnan(found.metrics["m"]) and found.params == {"p": "1"}


def test_bad_filters_are_clear_errors(client: Any, populated: list[str]) -> None:
    with pytest.raises(InvalidFilter, match="position"):
        client.search_runs("search", filter="metrics.auc >")
    with pytest.raises(InvalidInput, match="page_token"):
        client.search_runs("search", page_token="garbage")


def test_search_of_an_unknown_experiment_is_empty(client: Any) -> None:
    assert client.search_runs("never-created").items == []


# -- artifacts ---------------------------------------------------------------------------------


def test_artifacts_round_trip_and_are_verified(client: Any, tmp_path: Path) -> None:
    run = client.create_run("credit")
    f = tmp_path / "model.txt"
    f.write_text("weights")
    folder = tmp_path / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("A")
    (folder / "sub" / "b.txt").write_text("B")
    [art] = client.log_artifact(run.id, f, "model")
    assert art.path == "model/model.txt" and art.size == 7
    client.log_artifact(run.id, folder)
    client.log_dict(run.id, {"threshold": 0.5}, "config.json")
    paths = [a.path for a in client.list_artifacts(run.id)]
    assert paths == ["config.json", "model/model.txt", "plots/a.txt", "plots/sub/b.txt"]
    assert [a.path for a in client.list_artifacts(run.id, "plots")] == [
        "plots/a.txt", "plots/sub/b.txt"]
    assert client.read_artifact(run.id, "model/model.txt") == b"weights"
    out = client.download_artifacts(run.id, "plots", tmp_path / "dl")
    assert (out / "sub" / "b.txt").read_text() == "B"


@pytest.mark.parametrize("path", ["../escape.txt", "/etc/passwd", "a//b", "a/./b", "a\\b"])
def test_artifact_path_traversal_is_refused(client: Any, path: str) -> None:
    run = client.create_run("credit")
    with pytest.raises(InvalidInput, match="artifact path"):
        client.log_bytes(run.id, b"x", path)


def test_tampered_artifact_raises_digest_mismatch(client: Any, backend_settings: Any,
                                                  tmp_path: Path) -> None:
    run = client.create_run("credit")
    art = client.log_bytes(run.id, b"original bytes", "data.bin")
    root = Path(backend_settings.artifacts if not backend_settings.tracking_uri
                else backend_settings.home / "server" / "artifacts")
    obj = root / "objects" / art.digest[:2] / art.digest[2:4] / art.digest
    obj.write_bytes(b"tampered bytes")
    with pytest.raises(DigestMismatch, match=r"data\.bin"):
        client.read_artifact(run.id, "data.bin")
    with pytest.raises(DigestMismatch):
        client.download_artifacts(run.id, "data.bin", tmp_path / "dl")
    assert not (tmp_path / "dl" / "data.bin").exists()


def test_tables_and_figures_are_logged(client: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = client.create_run("credit")
    df = pd.DataFrame({"threshold": [0.1, 0.5], "precision": [0.6, 0.9]})
    client.log_table(run.id, df, "pr")
    pd.testing.assert_frame_equal(client.load_table(run.id, "pr"), df)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    art = client.log_figure(run.id, fig, "roc.png")
    plt.close(fig)
    assert art.path == "figures/roc.png"
    assert client.read_artifact(run.id, "figures/roc.png")[:8] == b"\x89PNG\r\n\x1a\n"


# -- datasets ----------------------------------------------------------------------------------


def test_dataset_versions_dedupe_by_content_and_link_runs(client: Any) -> None:
    df = pd.DataFrame({"income": [10.0, 20.0, None], "grade": ["a", "b", "a"]})
    run = client.create_run("credit")
    v1 = client.log_dataset(df, name="applicants", role="train", run_id=run.id)
    again = client.log_dataset(df.copy(), name="applicants", role="eval", run_id=run.id)
    assert (v1.version, again.version, again.id) == (1, 1, v1.id)
    v2 = client.log_dataset(df.assign(income=[10.0, 21.0, None]), name="applicants")
    assert v2.version == 2 and v2.digest != v1.digest
    assert v1.num_rows == 3
    assert [c["name"] for c in v1.schema_] == ["income", "grade"]
    assert v1.profile["columns"]["income"]["missing"] == 1
    inputs = client.get_run_inputs(run.id)
    assert sorted((i.role, i.version) for i in inputs) == [("eval", 1), ("train", 1)]
    assert [v.version for v in client.list_dataset_versions("applicants")] == [1, 2]
    assert client.get_dataset_version("applicants").version == 2
    pd.testing.assert_frame_equal(client.load_dataset("applicants", 1), df)
    [ds] = client.list_datasets()
    assert (ds.name, ds.latest_version) == ("applicants", 2)


def test_dataset_files_are_referenced_not_copied(client: Any, tmp_path: Path) -> None:
    path = tmp_path / "loans.csv"
    pd.DataFrame({"a": [1, 2, 3]}).to_csv(path, index=False)
    dv = client.log_dataset(str(path))
    assert (dv.dataset, dv.num_rows, dv.source_uri) == ("loans", 3, str(path))
    assert dv.data_digest is None
    with pytest.raises(NotFound, match="registered by reference"):
        client.load_dataset("loans")


def test_dataset_errors(client: Any, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="dataset name"):
        client.log_dataset(pd.DataFrame({"a": [1]}))
    with pytest.raises(NotFound):
        client.log_dataset(str(tmp_path / "missing.csv"))
    with pytest.raises(NotFound, match="dataset"):
        client.get_dataset_version("nothing")
