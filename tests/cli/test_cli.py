"""The ``opsloop`` command, run in-process with Typer's CliRunner over real stores.

Data is written with the Python client; the commands read it back through the settings
in the environment (``OPSLOOP_HOME``), as a user's shell would.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.cli.conftest import invoke, make_settings, rows

import opsloop
from opsloop.client import Client
from opsloop.store.db import head_revision

CREDIT_CSV = "age,income,city\n30,1000.5,Berlin\n40,2000,Paris\n,1500,Berlin\n"


# -- helpers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Populated:
    """A home with three runs in two experiments, a dataset, and an artifact."""

    home: Path
    a: str  # credit / lgbm-a: FAILED, auc 0.91, loss 0.2, dataset + artifact
    b: str  # credit / lgbm-b: FINISHED, auc 0.85
    c: str  # churn / xgb-c: FINISHED, auc 0.7


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Populated:
    base = tmp_path_factory.mktemp("populated")
    home = base / "home"
    csv = base / "credit.csv"
    csv.write_text(CREDIT_CSV)
    with Client(make_settings(home)) as c:
        a = c.create_run(
            "credit", name="lgbm-a", params={"lr": 0.1, "model": "lgbm"}, tags={"team": "risk"}
        )
        c.log_batch(a.id, metrics=[("auc", 0.91, 0, 1000), ("loss", 0.2, 0, 1000)])
        c.log_dataset(str(csv), run_id=a.id, role="train")
        c.log_text(a.id, "roc curve", "plots/roc.txt")
        c.end_run(
            a.id,
            "FAILED",
            failure='Traceback (most recent call last):\n  File "train.py", line 3\n'
            "ValueError: boom\n",
        )
        b = c.create_run("credit", name="lgbm-b", params={"lr": 0.05, "model": "lgbm"})
        c.log_batch(b.id, metrics=[("auc", 0.85, 0, 1000)])
        c.end_run(b.id)
        r = c.create_run("churn", name="xgb-c", params={"lr": 0.1, "model": "xgb"})
        c.log_batch(r.id, metrics=[("auc", 0.7, 0, 1000)])
        c.end_run(r.id)
    return Populated(home, a.id, b.id, r.id)


# -- help ---------------------------------------------------------------------------------

HELP = [
    ((), ["runs", "experiments", "datasets", "db", "version", "server"]),
    (("runs",), ["list", "show", "compare", "reap"]),
    (
        ("runs", "list"),
        ["--experiment", "--filter", "--order-by", "--limit", "--project", "--json"],
    ),
    (("runs", "show"), ["--json"]),
    (("runs", "compare"), ["--all", "--json"]),
    (("runs", "reap"), ["--help"]),
    (("experiments",), ["list", "create"]),
    (("experiments", "list"), ["--project", "--all-projects", "--json"]),
    (("experiments", "create"), ["--description", "--project"]),
    (("datasets",), ["register", "list", "show"]),
    (("datasets", "register"), ["--name", "--store", "--project", "--json"]),
    (("datasets", "list"), ["--project", "--json"]),
    (("datasets", "show"), ["--version", "--project", "--json"]),
    (("db",), ["upgrade", "current"]),
    (("db", "upgrade"), ["--help"]),
    (("db", "current"), ["--help"]),
    (("version",), ["--help"]),
    (("server",), ["--host", "--port", "--log-level"]),
]


@pytest.mark.parametrize(
    ("command", "expected"), HELP, ids=[" ".join(command) or "opsloop" for command, _ in HELP]
)
def test_help_lists_every_option(home: Path, command: tuple[str, ...], expected: list[str]) -> None:
    result = invoke(home, *command, "--help")
    assert result.exit_code == 0, result.output
    for word in expected:
        assert word in result.output
    assert "TODO" not in result.output.upper()
    assert "Usage: opsloop" in result.output
    assert not home.exists()  # asking for help touches no store


# -- runs list ------------------------------------------------------------------------------


def test_runs_list_shows_every_run_with_its_metrics(populated: Populated) -> None:
    result = invoke(populated.home, "runs", "list")
    assert result.exit_code == 0
    assert "3 run(s)" in result.output
    table = rows(result.output)
    by_id = {r[0]: r for r in table}
    assert set(by_id) == {populated.a, populated.b, populated.c}
    # columns: run id, experiment, name, status, started, auc, loss
    assert by_id[populated.a][1:4] == ["credit", "lgbm-a", "FAILED"]
    assert by_id[populated.a][5:] == ["0.91", "0.2"]
    assert by_id[populated.b][5:] == ["0.85", ""]
    assert by_id[populated.c][1:4] == ["churn", "xgb-c", "FINISHED"]
    assert by_id[populated.c][5:] == ["0.7", ""]


def test_runs_list_filter(populated: Populated) -> None:
    result = invoke(populated.home, "runs", "list", "--filter", "metrics.auc > 0.8")
    assert result.exit_code == 0
    assert {r[0] for r in rows(result.output)} == {populated.a, populated.b}

    result = invoke(populated.home, "runs", "list", "-f", "params.model = 'xgb'", "--json")
    assert [r["id"] for r in json.loads(result.stdout)] == [populated.c]


def test_runs_list_order_by_and_limit(populated: Populated) -> None:
    result = invoke(populated.home, "runs", "list", "--order-by", "metrics.auc desc", "--json")
    assert [r["id"] for r in json.loads(result.stdout)] == [populated.a, populated.b, populated.c]
    result = invoke(populated.home, "runs", "list", "-o", "metrics.auc", "--limit", "2", "--json")
    assert [r["id"] for r in json.loads(result.stdout)] == [populated.c, populated.b]


def test_runs_list_experiment(populated: Populated) -> None:
    result = invoke(populated.home, "runs", "list", "--experiment", "churn", "--json")
    assert [r["id"] for r in json.loads(result.stdout)] == [populated.c]
    result = invoke(populated.home, "runs", "list", "-e", "credit", "-e", "churn", "--json")
    assert {r["id"] for r in json.loads(result.stdout)} == {populated.a, populated.b, populated.c}
    result = invoke(populated.home, "runs", "list", "-e", "no such experiment", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []


def test_runs_list_json(populated: Populated) -> None:
    result = invoke(populated.home, "runs", "list", "--json")
    assert result.exit_code == 0
    runs = {r["id"]: r for r in json.loads(result.stdout)}
    assert set(runs) == {populated.a, populated.b, populated.c}
    a = runs[populated.a]
    assert (a["experiment"], a["name"], a["status"]) == ("credit", "lgbm-a", "FAILED")
    assert a["params"] == {"lr": "0.1", "model": "lgbm"}
    assert a["metrics"] == {"auc": 0.91, "loss": 0.2}
    assert a["tags"] == {"team": "risk"}


def test_runs_list_json_is_strict_json_with_non_finite_metrics(home: Path) -> None:
    with Client(make_settings(home)) as c:
        run = c.create_run("edge")
        c.log_batch(
            run.id,
            metrics=[
                ("nan", float("nan"), 0, 1),
                ("up", float("inf"), 0, 1),
                ("down", float("-inf"), 0, 1),
            ],
        )
    result = invoke(home, "runs", "list", "--json")

    def reject(token: str) -> Any:
        raise AssertionError(f"not JSON: bare {token}")

    [listed] = json.loads(result.stdout, parse_constant=reject)
    assert listed["metrics"] == {"nan": "NaN", "up": "Infinity", "down": "-Infinity"}


@pytest.mark.parametrize("bad", ["metrics.auc >", "bogus = 1", "metrics.auc > 0.8 and"])
def test_runs_list_bad_filter_is_one_clear_error(populated: Populated, bad: str) -> None:
    result = invoke(populated.home, "runs", "list", "--filter", bad)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: invalid filter")
    assert "at position" in result.stderr
    assert "\nhint: " in result.stderr
    assert "Traceback" not in result.output


def test_runs_list_bad_limit(populated: Populated) -> None:
    result = invoke(populated.home, "runs", "list", "--limit", "0")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: invalid max_results 0")


# -- runs show --------------------------------------------------------------------------------


def test_runs_show(populated: Populated) -> None:
    result = invoke(populated.home, "runs", "show", populated.a)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == f"credit/lgbm-a  {populated.a}"
    assert lines[1].startswith("status FAILED   started ")
    assert "failure: ValueError: boom" in lines
    table = rows(result.stdout)
    for row in (
        ["lr", "0.1"],
        ["model", "lgbm"],  # params
        ["auc", "0.91"],
        ["loss", "0.2"],  # metrics
        ["team", "risk"],
    ):  # tags
        assert row in table
    csv_digest = hashlib.sha256(CREDIT_CSV.encode()).hexdigest()
    assert ["train", "credit", "1", "3", csv_digest[:12]] in table
    text_digest = hashlib.sha256(b"roc curve").hexdigest()
    assert ["plots/roc.txt", "9", text_digest[:12]] in table


def test_runs_show_json(populated: Populated) -> None:
    result = invoke(populated.home, "runs", "show", populated.a, "--json")
    shown = json.loads(result.stdout)
    assert shown["run"]["id"] == populated.a
    assert shown["run"]["failure"].endswith("ValueError: boom\n")
    assert [a["path"] for a in shown["artifacts"]] == ["plots/roc.txt"]
    [dataset] = shown["inputs"]
    assert (dataset["dataset"], dataset["version"], dataset["role"]) == ("credit", 1, "train")
    assert [c["name"] for c in dataset["schema"]] == ["age", "income", "city"]


def test_runs_show_without_failure_or_extras(populated: Populated) -> None:
    result = invoke(populated.home, "runs", "show", populated.b)
    assert result.exit_code == 0
    assert "failure" not in result.stdout
    assert "datasets" not in result.stdout
    assert "artifacts" not in result.stdout
    assert "tags" not in result.stdout


def test_runs_show_unknown_id(populated: Populated) -> None:
    result = invoke(populated.home, "runs", "show", "0" * 32)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert f"error: run '{'0' * 32}' does not exist" in result.stderr
    assert "hint: " in result.stderr


def test_runs_show_prints_user_text_literally(home: Path) -> None:
    """Names, values and failures that look like Rich markup are shown as written."""
    with Client(make_settings(home)) as c:
        run = c.create_run("e", name="[/]odd :rocket:", params={"p": "[/red] [bold]x"})
        c.end_run(run.id, "FAILED", failure=" \n\t\n")  # blank: no failure line at all
        other = c.create_run("e", name="plain", params={"p": "[b]"})
        c.end_run(other.id, "KILLED", failure="KeyError: '[/x]'")
    result = invoke(home, "runs", "show", run.id)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == f"e/[/]odd :rocket:  {run.id}"
    assert ["p", "[/red] [bold]x"] in rows(result.stdout)
    assert "failure" not in result.stdout

    result = invoke(home, "runs", "show", other.id)
    assert "failure: KeyError: '[/x]'" in result.stdout.splitlines()

    result = invoke(home, "runs", "list")
    assert {r[2] for r in rows(result.stdout)} == {"[/]odd :rocket:", "plain"}


# -- runs compare --------------------------------------------------------------------------


def test_runs_compare_shows_only_differences(populated: Populated) -> None:
    result = invoke(populated.home, "runs", "compare", populated.a, populated.b)
    assert result.exit_code == 0
    assert "comparison (differences)" in result.stdout
    table = rows(result.stdout)
    assert table == [
        ["params.lr", "0.1", "0.05"],
        ["metrics.auc", "0.91", "0.85"],
        ["metrics.loss", "0.2", ""],
    ]
    header = f"lgbm-a ({populated.a[:8]})"
    assert header in result.stdout


def test_runs_compare_all(populated: Populated) -> None:
    result = invoke(populated.home, "runs", "compare", populated.a, populated.b, "--all")
    assert result.exit_code == 0
    assert rows(result.stdout) == [
        ["params.lr", "0.1", "0.05"],
        ["params.model", "lgbm", "lgbm"],
        ["metrics.auc", "0.91", "0.85"],
        ["metrics.loss", "0.2", ""],
    ]


def test_runs_compare_three_runs_json(populated: Populated) -> None:
    result = invoke(
        populated.home, "runs", "compare", populated.a, populated.b, populated.c, "--json"
    )
    data = json.loads(result.stdout)
    assert data["runs"] == [populated.a, populated.b, populated.c]
    assert data["rows"] == [
        ["params.lr", "0.1", "0.05", "0.1"],
        ["params.model", "lgbm", "lgbm", "xgb"],
        ["metrics.auc", 0.91, 0.85, 0.7],
        ["metrics.loss", 0.2, None, None],
    ]


def test_runs_compare_needs_two_runs(populated: Populated) -> None:
    result = invoke(populated.home, "runs", "compare", populated.a)
    assert result.exit_code == 2
    assert "two or more run ids" in result.output


def test_runs_compare_unknown_id(populated: Populated) -> None:
    result = invoke(populated.home, "runs", "compare", populated.a, "f" * 32)
    assert result.exit_code == 1
    assert f"run '{'f' * 32}' does not exist" in result.stderr


def test_runs_reap(populated: Populated) -> None:
    result = invoke(populated.home, "runs", "reap")
    assert result.exit_code == 0
    assert result.stdout == "0 run(s) marked LOST\n"


# -- experiments ------------------------------------------------------------------------------


def test_experiments_list(populated: Populated) -> None:
    result = invoke(populated.home, "experiments", "list")
    assert result.exit_code == 0
    assert "2 experiment(s)" in result.stdout
    assert [r[1:3] for r in rows(result.stdout)] == [["default", "churn"], ["default", "credit"]]
    listed = json.loads(invoke(populated.home, "experiments", "list", "--json").stdout)
    assert [(e["project"], e["name"]) for e in listed] == [
        ("default", "churn"),
        ("default", "credit"),
    ]


def test_experiments_create_and_duplicate(home: Path) -> None:
    result = invoke(home, "experiments", "create", "fraud", "--description", "card fraud")
    assert result.exit_code == 0
    assert result.stdout.startswith("created experiment default/fraud (id ")
    [exp] = json.loads(invoke(home, "experiments", "list", "--json").stdout)
    assert (exp["name"], exp["description"]) == ("fraud", "card fraud")
    assert result.stdout == f"created experiment default/fraud (id {exp['id']})\n"

    result = invoke(home, "experiments", "create", "fraud")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: experiment 'default/fraud' already exists")
    assert "Traceback" not in result.output


def test_experiments_projects(home: Path) -> None:
    assert invoke(home, "experiments", "create", "fraud", "-p", "bank").exit_code == 0
    assert invoke(home, "experiments", "create", "fraud").exit_code == 0  # another project
    default = json.loads(invoke(home, "experiments", "list", "--json").stdout)
    assert [e["project"] for e in default] == ["default"]
    bank = json.loads(invoke(home, "experiments", "list", "-p", "bank", "--json").stdout)
    assert [e["project"] for e in bank] == ["bank"]
    every = json.loads(invoke(home, "experiments", "list", "--all-projects", "--json").stdout)
    assert sorted(e["project"] for e in every) == ["bank", "default"]


def test_experiments_create_invalid_name(home: Path) -> None:
    result = invoke(home, "experiments", "create", "../etc")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: invalid experiment name '../etc'")


# -- datasets -----------------------------------------------------------------------------------


def test_datasets_register_list_show(home: Path, tmp_path: Path) -> None:
    csv = tmp_path / "credit.csv"
    csv.write_text(CREDIT_CSV)
    digest = hashlib.sha256(CREDIT_CSV.encode()).hexdigest()

    result = invoke(home, "datasets", "register", str(csv))
    assert result.exit_code == 0
    assert result.stdout == f"default/credit version 1: 3 rows, sha256 {digest[:16]}\n"
    again = invoke(home, "datasets", "register", str(csv))
    assert again.stdout == result.stdout  # same content, same version

    csv.write_text(CREDIT_CSV + "50,3000,Rome\n")
    result = invoke(home, "datasets", "register", str(csv), "--json")
    v2 = json.loads(result.stdout)
    assert (v2["dataset"], v2["version"], v2["num_rows"]) == ("credit", 2, 4)
    assert v2["source_uri"] == str(csv)

    result = invoke(home, "datasets", "list")
    assert result.exit_code == 0
    assert [r[:3] for r in rows(result.stdout)] == [["default", "credit", "2"]]
    listed = json.loads(invoke(home, "datasets", "list", "--json").stdout)
    assert [(d["name"], d["latest_version"]) for d in listed] == [("credit", 2)]

    result = invoke(home, "datasets", "list", "credit")
    assert "credit: 2 version(s)" in result.stdout
    assert [r[:4] for r in rows(result.stdout)] == [
        ["1", "3", "3", digest[:12]],
        ["2", "4", "3", v2["digest"][:12]],
    ]
    versions = json.loads(invoke(home, "datasets", "list", "credit", "--json").stdout)
    assert [v["version"] for v in versions] == [1, 2]

    result = invoke(home, "datasets", "show", "credit", "--version", "1")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == f"default/credit version 1  3 rows  sha256 {digest}"
    assert rows(result.stdout) == [
        ["age", "int64", "1", "mean 35 std 7.071"],
        ["income", "double", "0", "mean 1500 std 499.8"],
        ["city", "string", "0", "2 unique"],
    ]
    shown = json.loads(invoke(home, "datasets", "show", "credit", "--json").stdout)
    assert shown["version"] == 2
    assert shown["profile"]["columns"]["city"]["unique"] == 3
    assert [c["name"] for c in shown["schema"]] == ["age", "income", "city"]


def test_datasets_register_with_name_and_project(home: Path, tmp_path: Path) -> None:
    csv = tmp_path / "raw.csv"
    csv.write_text(CREDIT_CSV)
    result = invoke(home, "datasets", "register", str(csv), "--name", "loans", "-p", "bank")
    assert result.stdout.startswith("bank/loans version 1: 3 rows")
    assert invoke(home, "datasets", "show", "loans").exit_code == 1  # not in 'default'
    assert invoke(home, "datasets", "show", "loans", "-p", "bank").exit_code == 0


def test_datasets_register_current_folder(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "features"
    folder.mkdir()
    (folder / "part-0.csv").write_text(CREDIT_CSV)
    monkeypatch.chdir(folder)
    result = invoke(home, "datasets", "register", ".")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("default/features version 1: unknown (not a table file) rows")


def test_datasets_errors(home: Path, tmp_path: Path) -> None:
    result = invoke(home, "datasets", "register", str(tmp_path / "missing.csv"))
    assert result.exit_code == 1
    assert "missing.csv' does not exist" in result.stderr

    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2,3\n")
    result = invoke(home, "datasets", "register", str(bad))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: invalid dataset '{bad}': cannot be read as csv")

    result = invoke(home, "datasets", "show", "nope")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: dataset 'default/nope' does not exist")
    result = invoke(home, "datasets", "list", "nope")
    assert result.exit_code == 1


# -- db, version, settings -----------------------------------------------------------------------


def test_db_current_and_upgrade_on_a_fresh_home(home: Path) -> None:
    url = f"sqlite:///{home / 'opsloop.db'}"
    head = head_revision()
    result = invoke(home, "db", "current")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"{url}: empty (behind: the current schema is {head}")

    result = invoke(home, "db", "upgrade")
    assert result.exit_code == 0
    assert result.stdout == f"{url}: schema empty -> {head}\n"

    result = invoke(home, "db", "current")
    assert result.stdout == f"{url}: {head} (up to date)\n"
    result = invoke(home, "db", "upgrade")  # idempotent
    assert result.stdout == f"{url}: schema {head} -> {head}\n"


def test_version(home: Path) -> None:
    result = invoke(home, "version")
    assert result.exit_code == 0
    assert result.stdout == f"opsloop {opsloop.__version__}\n"


def test_invalid_setting_is_reported_not_raised(home: Path) -> None:
    result = invoke(home, "runs", "list", OPSLOOP_METRIC_FLUSH_INTERVAL="soon")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: OPSLOOP_METRIC_FLUSH_INTERVAL='soon'")
    result = invoke(home, "db", "current", OPSLOOP_DATABASE_URL="mysql://db")
    assert result.exit_code == 1
    assert "OPSLOOP_DATABASE_URL" in result.stderr
