"""``opsloop models``, ``approvals``, ``users``, ``tokens``, ``login``/``whoami``/``audit``
and ``server --auth``, run in-process with Typer's CliRunner over real local stores.

Setup data is written with the Python client; the commands read and write it through the
settings in the environment (``OPSLOOP_HOME``, ``OPSLOOP_AUTH``, ``OPSLOOP_TOKEN``), as a
user's shell would.
"""

from __future__ import annotations

import hashlib
import json
import stat
import time
from pathlib import Path
from typing import Any, get_args

import pytest
from tests.cli.conftest import invoke, make_settings, ok, rows

from opsloop.client import Client

# -- helpers ----------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny scikit-learn model, saved as an opsloop model folder and as one .skops file."""
    import numpy as np
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    from opsloop.registry import save_model_files

    base = tmp_path_factory.mktemp("saved")
    x = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
    model = LogisticRegression().fit(x, [0, 0, 1, 1])
    save_model_files(model, base / "folder", input_example=x)
    sio.dump(model, base / "model.skops")
    return base / "folder", base / "model.skops"


# -- help -------------------------------------------------------------------------------------

HELP = [
    ((), ["models", "approvals", "users", "tokens", "login", "logout", "whoami", "audit"]),
    (("models",), ["register", "list", "show", "versions", "version", "alias", "unalias",
                   "history", "promote", "archive", "restore", "delete", "download",
                   "comment", "comments"]),
    (("models", "register"), ["--run", "--flavor", "--description", "--tag", "--trusted",
                              "--project", "--json"]),
    (("models", "list"), ["--project", "--json"]),
    (("models", "show"), ["--project", "--json"]),
    (("models", "versions"), ["--all", "--project", "--json"]),
    (("models", "version"), ["--project", "--json"]),
    (("models", "alias"), ["--reason", "--expect", "--force", "--project"]),
    (("models", "unalias"), ["--force", "--project"]),
    (("models", "history"), ["--alias", "--project", "--json"]),
    (("models", "promote"), ["--to", "--reason", "--project", "--json"]),
    (("models", "delete"), ["--yes", "--project"]),
    (("models", "download"), ["--project"]),
    (("models", "comments"), ["--project", "--json"]),
    (("approvals",), ["list", "show", "approve", "reject", "gate", "cancel"]),
    (("approvals", "list"), ["--status", "--model", "--project", "--json", "pending"]),
    (("approvals", "approve"), ["--comment"]),
    (("approvals", "gate"), ["--passed", "--failed"]),
    (("users",), ["bootstrap", "create", "list", "show", "grant", "revoke", "disable",
                  "enable", "data-scientist", "ml-engineer", "admin"]),
    (("users", "create"), ["--service", "--role", "--email", "--display-name", "viewer",
                           "software-engineer"]),
    (("users", "grant"), ["--project", "business", "devops", "architect", "data-engineer"]),
    (("tokens",), ["create", "list", "revoke"]),
    (("tokens", "create"), ["--for", "--name", "--expires-in"]),
    (("tokens", "list"), ["--for", "--json"]),
    (("audit",), ["--project", "--object-type", "--object-id", "--actor", "--action",
                  "--since", "--limit", "--json"]),
    (("login",), ["--token"]),
    (("server",), ["--auth", "--no-auth"]),
]


@pytest.mark.parametrize(
    ("command", "expected"), HELP, ids=[" ".join(command) or "opsloop" for command, _ in HELP]
)
def test_help_lists_every_command(home: Path, command: tuple[str, ...],
                                  expected: list[str]) -> None:
    result = ok(home, *command, "--help")
    for word in expected:
        assert word in result.output
    assert not home.exists()  # asking for help touches no store


def test_the_spelled_out_choices_match_the_enums() -> None:
    from opsloop.auth.entities import Role
    from opsloop.cli.approvals import STATUSES
    from opsloop.cli.users import ROLES, RoleName
    from opsloop.registry.entities import PromotionStatus

    assert ROLES == get_args(RoleName) == tuple(r.value for r in Role)
    assert tuple(s.value for s in PromotionStatus) == STATUSES


# -- models -----------------------------------------------------------------------------------


def test_register_folder_and_file_then_inspect(home: Path, saved: tuple[Path, Path]) -> None:
    folder, skops_file = saved
    csv = home.parent / "train.csv"
    csv.write_text("a,b\n1,2\n")
    with Client(make_settings(home)) as c:
        run = c.create_run("credit", params={"C": 1.0})
        c.log_batch(run.id, metrics=[("auc", 0.9, 0, 1000)])
        c.log_dataset(str(csv), run_id=run.id, role="train")
        c.end_run(run.id)

    result = ok(home, "models", "register", "credit-risk", str(folder), "--run", run.id,
                "--description", "first [/red] try", "--tag", "team=risk", "--tag", "q=a=b")
    assert result.stdout.startswith("registered default/credit-risk version 1 (sklearn, 2 file(s))")
    assert f"lineage: run {run.id}" in result.stdout
    result = ok(home, "models", "register", "credit-risk", str(skops_file), "--json")
    v2 = json.loads(result.stdout)
    assert (v2["version"], v2["flavor"], v2["run_id"]) == (2, "sklearn", None)

    [listed] = json.loads(ok(home, "models", "list", "--json").stdout)
    assert (listed["name"], listed["latest_version"]) == ("credit-risk", 2)
    assert rows(ok(home, "models", "list").stdout)[0][:2] == ["credit-risk", "2"]

    table = rows(ok(home, "models", "versions", "credit-risk").stdout)
    assert [r[:3] for r in table] == [["1", "ready", "sklearn"], ["2", "ready", "sklearn"]]
    assert table[0][4] == run.id

    result = ok(home, "models", "version", "credit-risk", "1")
    out = result.stdout
    assert out.splitlines()[0] == ("default/credit-risk version 1  ready, sklearn  "
                                   "models:/default/credit-risk/1")
    assert "first [/red] try" in out.splitlines()  # user text, not markup
    assert f"lineage run: {run.id}" in out
    table = rows(out)
    assert ["train", "train", "1", sha256(csv)] in table  # dataset lineage
    assert ["C", "1.0"] in table and ["auc", "0.9"] in table and ["team", "risk"] in table
    assert ["0", "float64", "no"] in table  # signature inputs
    assert ["model.skops", str((folder / "model.skops").stat().st_size),
            sha256(folder / "model.skops")] in table
    detail = json.loads(ok(home, "models", "version", "credit-risk", "1", "--json").stdout)
    assert detail["tags"] == {"team": "risk", "q": "a=b"}
    assert detail["files"]["model.skops"]["sha256"] == sha256(folder / "model.skops")

    result = invoke(home, "models", "version", "credit-risk", "9")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: model version 'default/credit-risk/9' does not")
    assert "hint: " in result.stderr

    result = invoke(home, "models", "register", "m", str(folder), "--tag", "nokey")
    assert result.exit_code == 2
    assert "KEY=VALUE" in result.output


def test_register_refuses_a_pickle_unless_trusted(home: Path, tmp_path: Path) -> None:
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(b"not even a pickle")
    result = invoke(home, "models", "register", "m", str(pickled))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: model.pkl is a pickle")
    assert "trusted" in result.stderr


def test_alias_promote_approve_show(home: Path, saved: tuple[Path, Path]) -> None:
    folder, skops_file = saved
    ok(home, "models", "register", "credit-risk", str(folder))
    ok(home, "models", "register", "credit-risk", str(skops_file))

    result = ok(home, "models", "alias", "credit-risk", "staging", "1", "--reason", "smoke")
    assert result.stdout == "credit-risk@staging -> version 1 (was unset)\n"
    result = invoke(home, "models", "alias", "credit-risk", "staging", "2", "--expect", "2")
    assert result.exit_code == 1
    assert "points at 1, not 2" in result.stderr
    ok(home, "models", "alias", "credit-risk", "staging", "2", "--expect", "1")
    result = invoke(home, "models", "alias", "credit-risk", "champion", "1")
    assert result.exit_code == 1
    assert "protected" in result.stderr and "opsloop models promote" in result.stderr

    result = ok(home, "models", "promote", "credit-risk", "1", "--to", "champion",
                "--reason", "beats baseline")
    lines = result.stdout.splitlines()
    request_id = int(lines[0].split()[0].lstrip("#"))
    assert lines[0] == f"#{request_id} default/credit-risk version 1 -> champion: pending"
    assert "still needed: 1 more approval(s)" in lines
    assert f"approve with: opsloop approvals approve {request_id}" in lines

    [pending] = json.loads(ok(home, "approvals", "list", "--status", "pending", "--json").stdout)
    assert (pending["id"], pending["alias"], pending["version"]) == (request_id, "champion", 1)
    table = rows(ok(home, "approvals", "list", "--model", "credit-risk").stdout)
    assert table[0][:6] == [str(request_id), "credit-risk", "1", "champion", "", "pending"]
    assert table[0][-1] == "1 more approval(s)"
    assert "still needed: 1 more approval(s)" in ok(home, "approvals", "show",
                                                    str(request_id)).stdout

    result = ok(home, "approvals", "approve", str(request_id), "--comment", "lgtm")
    assert result.stdout.splitlines() == [
        f"#{request_id} default/credit-risk version 1 -> champion: applied",
        "credit-risk@champion now points at version 1",
    ]
    shown = ok(home, "approvals", "show", str(request_id)).stdout
    assert [r[3] for r in rows(shown)] == ["lgtm"]
    assert "reason: beats baseline" in shown

    out = ok(home, "models", "show", "credit-risk").stdout
    assert out.splitlines()[0] == "default/credit-risk  latest version 2"
    table = rows(out)
    assert ["champion", "1"] in table and ["staging", "2"] in table
    assert ["champion", "1", "any approver", ""] in table  # the policy
    model = json.loads(ok(home, "models", "show", "credit-risk", "--json").stdout)
    assert model["aliases"] == {"champion": 1, "staging": 2}

    history = json.loads(ok(home, "models", "history", "credit-risk", "--json").stdout)
    assert [(e["alias"], e["from_version"], e["to_version"]) for e in history] == [
        ("staging", None, 1), ("staging", 1, 2), ("champion", None, 1)]
    assert history[2]["request_id"] == request_id
    table = rows(ok(home, "models", "history", "credit-risk", "--alias", "staging").stdout)
    assert [r[1:4] for r in table] == [["staging", "", "1"], ["staging", "1", "2"]]
    assert table[0][5] == "smoke"

    # in use: neither archived nor deleted; after unalias, both work
    result = invoke(home, "models", "delete", "credit-risk", "2", "--yes")
    assert result.exit_code == 1
    assert "in use (alias staging)" in result.stderr
    result = invoke(home, "models", "archive", "credit-risk", "2")
    assert result.exit_code == 1
    result = ok(home, "models", "unalias", "credit-risk", "staging")
    assert result.stdout == "removed credit-risk@staging (was version 2)\n"
    ok(home, "models", "archive", "credit-risk", "2")
    versions = rows(ok(home, "models", "versions", "credit-risk").stdout)
    assert [r[0] for r in versions] == ["1"]
    versions = rows(ok(home, "models", "versions", "credit-risk", "--all").stdout)
    assert [r[:2] for r in versions] == [["1", "ready"], ["2", "archived"]]
    result = invoke(home, "models", "delete", "credit-risk", "2", input="n\n")
    assert result.exit_code == 1  # not confirmed: nothing deleted
    ok(home, "models", "delete", "credit-risk", "2", input="y\n")
    assert [v["version"] for v in json.loads(
        ok(home, "models", "versions", "credit-risk", "--all", "--json").stdout)] == [1]


def test_gates_reject_and_cancel(home: Path, saved: tuple[Path, Path]) -> None:
    from opsloop.registry.entities import AliasPolicy, ModelPolicy

    folder, skops_file = saved
    with Client(make_settings(home)) as c:
        c.models.create("gated", policy=ModelPolicy(
            protected={"champion": AliasPolicy(approvals=0, gates=["ci"])}))
    ok(home, "models", "register", "gated", str(folder))
    ok(home, "models", "register", "gated", str(skops_file))

    promoted = json.loads(ok(home, "models", "promote", "gated", "1", "--to", "champion",
                             "--json").stdout)
    assert promoted["status"] == "pending"
    assert promoted["missing"] == ["gate 'ci' not run"]
    result = ok(home, "approvals", "gate", str(promoted["id"]), "ci", "--failed")
    assert "still needed: gate 'ci' failed" in result.stdout.splitlines()
    result = invoke(home, "approvals", "gate", str(promoted["id"]), "ci")
    assert result.exit_code == 2
    assert "--passed or --failed" in result.output
    result = ok(home, "approvals", "gate", str(promoted["id"]), "ci", "--passed")
    assert result.stdout.splitlines()[0].endswith(": applied")

    rejected = json.loads(ok(home, "models", "promote", "gated", "2", "--to", "champion",
                             "--json").stdout)
    result = ok(home, "approvals", "reject", str(rejected["id"]), "-c", "too slow")
    assert result.stdout.splitlines() == [
        f"#{rejected['id']} default/gated version 2 -> champion (was 1): rejected"]
    cancelled = json.loads(ok(home, "models", "promote", "gated", "2", "--to", "champion",
                              "--json").stdout)
    result = ok(home, "approvals", "cancel", str(cancelled["id"]), "--reason", "later")
    assert result.stdout.endswith(": cancelled\n")
    result = invoke(home, "approvals", "approve", str(cancelled["id"]))
    assert result.exit_code == 1
    assert "is cancelled, not pending" in result.stderr

    listed = json.loads(ok(home, "approvals", "list", "--json").stdout)
    assert [r["status"] for r in listed] == ["applied", "rejected", "cancelled"]
    assert json.loads(ok(home, "approvals", "list", "--status", "rejected", "--json").stdout
                      )[0]["id"] == rejected["id"]
    result = invoke(home, "approvals", "list", "--status", "open")
    assert result.exit_code == 2


def test_download_comments_and_unprotected_promotion(home: Path, tmp_path: Path,
                                                     saved: tuple[Path, Path]) -> None:
    folder, _ = saved
    ok(home, "models", "register", "m", str(folder))
    result = ok(home, "models", "promote", "m", "1", "--to", "staging")
    assert result.stdout.splitlines()[1] == "m@staging now points at version 1"

    dest = tmp_path / "out"
    result = ok(home, "models", "download", "m@staging", str(dest))
    assert result.stdout.startswith("downloaded default/m version 1 (2 file(s), verified)")
    assert sorted(p.name for p in dest.iterdir()) == ["model.skops", "opsloop-model.json"]
    assert sha256(dest / "model.skops") == sha256(folder / "model.skops")
    keep = tmp_path / "busy"
    keep.mkdir()
    (keep / "precious.txt").write_text("keep me")
    result = invoke(home, "models", "download", "m/1", str(keep))
    assert result.exit_code == 1
    assert "is not an empty folder" in result.stderr
    assert (keep / "precious.txt").read_text() == "keep me"
    result = invoke(home, "models", "download", "m@nope", str(tmp_path / "x"))
    assert result.exit_code == 1
    assert "alias 'default/m@nope' does not exist" in result.stderr

    ok(home, "models", "comment", "m", "1", "looks [bold]good")
    [c] = json.loads(ok(home, "models", "comments", "m", "1", "--json").stdout)
    assert c["text"] == "looks [bold]good"
    assert rows(ok(home, "models", "comments", "m", "1").stdout)[0][2] == "looks [bold]good"


def test_project_option(home: Path, saved: tuple[Path, Path]) -> None:
    folder, _ = saved
    ok(home, "models", "register", "m", str(folder), "-p", "fraud")
    assert json.loads(ok(home, "models", "list", "--json").stdout) == []
    [m] = json.loads(ok(home, "models", "list", "-p", "fraud", "--json").stdout)
    assert m["project"] == "fraud"
    assert ok(home, "models", "version", "m", "1", "--project", "fraud").stdout.startswith(
        "fraud/m version 1")


# -- users, tokens, login, audit --------------------------------------------------------------


def test_auth_flow(home: Path, saved: tuple[Path, Path]) -> None:
    """bootstrap -> login -> whoami -> users -> tokens -> two-person promotion -> revoke."""
    on = {"OPSLOOP_AUTH": "on"}
    result = invoke(home, "whoami", **on)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: this opsloop requires a token")

    result = ok(home, "users", "bootstrap", "root", **on)
    admin_token = result.stdout.strip()
    assert admin_token.startswith("olp_") and "\n" not in admin_token
    assert "shown only once" in result.stderr
    result = invoke(home, "users", "bootstrap", "other", **on)
    assert result.exit_code == 1
    assert "only allowed while no user exists" in result.stderr

    result = invoke(home, "login", input="olp_wrong\n", **on)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: the token is not known")
    assert not (home / "credentials.json").exists()
    result = ok(home, "login", input=admin_token + "\n", **on)
    assert result.stdout.splitlines()[0].startswith("logged in to sqlite:///")
    assert "as root (user; *: admin)" in result.stdout
    credentials = home / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert f"token stored in {credentials} (permissions 0600" in result.stdout
    assert admin_token not in result.output
    assert ok(home, "whoami", **on).stdout.splitlines()[0] == "root (user; *: admin)"

    # users
    ok(home, "users", "create", "ada", "--role", "data-scientist@default", "--email",
       "ada@example.com", **on)
    ok(home, "users", "create", "ci-bot", "--service", "--role", "devops", **on)
    result = invoke(home, "users", "create", "bob", "--role", "wizard", **on)
    assert result.exit_code == 2
    users = {u["name"]: u for u in json.loads(ok(home, "users", "list", "--json", **on).stdout)}
    assert set(users) == {"root", "ada", "ci-bot"}
    assert users["ada"]["roles"] == {"default": ["data-scientist"]}
    assert users["ci-bot"]["kind"] == "service"
    assert rows(ok(home, "users", "list", **on).stdout)[0][:6] == [
        "ada", "user", "default: data-scientist", "enabled", "", "ada@example.com"]
    ok(home, "users", "grant", "ada", "viewer", "-p", "fraud", **on)
    result = ok(home, "users", "show", "ada", **on)
    assert ["fraud", "viewer"] in rows(result.stdout)
    ok(home, "users", "revoke", "ada", "viewer", "--project", "fraud", **on)
    assert json.loads(ok(home, "users", "show", "ada", "--json", **on).stdout)["roles"] == {
        "default": ["data-scientist"]}
    result = invoke(home, "users", "grant", "ada", "wizard", **on)
    assert result.exit_code == 2

    # tokens: ada's own, expiring in 30 days; listings never hold secrets
    result = ok(home, "tokens", "create", "--for", "ada", "--name", "laptop",
                "--expires-in", "30d", **on)
    ada_token = result.stdout.strip()
    assert ada_token.startswith("olp_")
    [listed] = json.loads(ok(home, "tokens", "list", "--for", "ada", "--json", **on).stdout)
    assert "secret" not in listed
    assert listed["name"] == "laptop"
    days = (listed["expires_at"] - listed["created_at"]) / 86_400_000
    assert 29.99 < days <= 30.01
    table = ok(home, "tokens", "list", "--for", "ada", **on).stdout
    assert ada_token not in table
    assert rows(table)[0][:4] == [listed["id"], "ada", "laptop", "active"]
    as_ada = {**on, "OPSLOOP_TOKEN": ada_token}
    assert ok(home, "whoami", **as_ada).stdout.startswith("ada (user; default: data-scientist)")
    result = invoke(home, "users", "list", **as_ada)
    assert result.exit_code == 1
    assert "lacks the permission" in result.stderr

    # two-person rule: ada proposes, cannot approve her own request; root approves
    folder, _ = saved
    ok(home, "models", "register", "credit-risk", str(folder), **as_ada)
    result = ok(home, "models", "promote", "credit-risk", "1", "--to", "champion", **as_ada)
    request_id = result.stdout.split()[0].lstrip("#")
    result = invoke(home, "approvals", "approve", request_id, **as_ada)
    assert result.exit_code == 1
    assert "lacks the permission 'models.approve'" in result.stderr
    result = ok(home, "approvals", "approve", request_id, **on)
    assert result.stdout.splitlines()[-1] == "credit-risk@champion now points at version 1"
    [event] = json.loads(ok(home, "models", "history", "credit-risk", "--json", **as_ada
                            ).stdout)
    assert (event["actor"], event["request_id"]) == ("root", int(request_id))

    # revoke: the token stops working at once, with a clear message
    ok(home, "tokens", "revoke", listed["id"], **on)
    result = invoke(home, "whoami", **as_ada)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: the token {listed['id']} was revoked")
    assert "hint: create a new one: opsloop tokens create" in result.stderr
    assert rows(ok(home, "tokens", "list", "--for", "ada", **on).stdout)[0][3] == "revoked"

    # disable: even a fresh token of a disabled principal fails
    fresh = ok(home, "tokens", "create", "--for", "ci-bot", **on).stdout.strip()
    ok(home, "users", "disable", "ci-bot", **on)
    result = invoke(home, "whoami", **on, OPSLOOP_TOKEN=fresh)
    assert result.exit_code == 1
    assert "'ci-bot' is disabled" in result.stderr
    ok(home, "users", "enable", "ci-bot", **on)
    assert ok(home, "whoami", **on, OPSLOOP_TOKEN=fresh).stdout.startswith("ci-bot (service")

    # audit: who did what, newest first
    events = json.loads(ok(home, "audit", "--json", **on).stdout)
    actions = [e["action"] for e in events]
    assert actions[0] == "principal.enable"
    assert {"principal.create", "token.create", "token.revoke", "role.grant", "role.revoke",
            "promotion.request", "promotion.approve", "promotion.apply",
            "alias.set"} <= set(actions)
    assert all(e["actor"] == "ada" for e in json.loads(ok(
        home, "audit", "--actor", "ada", "--json", **on).stdout))
    table = rows(ok(home, "audit", "--action", "alias.set", "--since", "1h", **on).stdout)
    [row] = table
    assert row[1:4] == ["root", "alias.set", "alias default/credit-risk@champion"]
    assert json.loads(ok(home, "audit", "--since", "2999-01-01", "--json", **on).stdout) == []
    result = invoke(home, "audit", "--since", "yesterday", **on)
    assert result.exit_code == 2
    assert "ISO 8601" in result.output
    result = invoke(home, "audit", **as_ada)  # revoked
    assert result.exit_code == 1

    # logout forgets the stored token
    assert ok(home, "logout", **on).stdout.startswith("logged out of sqlite:///")
    assert json.loads(credentials.read_text()) == {}
    assert invoke(home, "whoami", **on).exit_code == 1


def test_login_while_auth_is_off_still_checks_the_token(home: Path) -> None:
    result = ok(home, "users", "bootstrap", "root")
    token = result.stdout.strip()
    result = invoke(home, "login", "--token", "olp_" + "x" * 40)
    assert result.exit_code == 1
    result = ok(home, "login", "--token", token)
    assert "as root" in result.stdout
    assert "auth is off for this store" in result.stderr
    who = json.loads(ok(home, "whoami", "--json").stdout)
    assert who["authenticated"] is False  # auth off: the local user, as an admin
    assert "auth is off" in ok(home, "whoami").stdout


@pytest.mark.parametrize(
    ("text", "ms"),
    [("90m", 90 * 60_000), ("12h", 12 * 3_600_000), ("30d", 30 * 86_400_000),
     ("1h30m", 90 * 60_000), ("2w", 14 * 86_400_000), ("45s", 45_000), (" 7D ", 7 * 86_400_000)],
)
def test_parse_duration(text: str, ms: int) -> None:
    from opsloop.cli.auth import parse_duration

    assert parse_duration(text, "--expires-in") == ms


@pytest.mark.parametrize("bad", ["", "30", "d", "-1d", "1.5h", "0m", "3651d", "1 h", "1y"])
def test_bad_expires_in_is_a_usage_error(home: Path, bad: str) -> None:
    result = invoke(home, "tokens", "create", "--expires-in", bad)
    assert result.exit_code == 2
    assert "--expires-in" in result.output
    assert not home.exists()  # refused before any store is opened


def test_parse_time() -> None:
    from opsloop.cli.auth import parse_time

    assert parse_time("2024-05-01T00:00:00Z", "--since") == 1_714_521_600_000
    assert parse_time("2024-05-01", "--since") == 1_714_521_600_000
    assert parse_time("2024-05-01T02:00:00+02:00", "--since") == 1_714_521_600_000
    now = time.time() * 1000
    assert abs(parse_time("1h", "--since") - (now - 3_600_000)) < 5_000


def test_bootstrap_refuses_a_remote_store(home: Path) -> None:
    result = invoke(home, "users", "bootstrap", "root",
                    OPSLOOP_TRACKING_URI="http://127.0.0.1:9")
    assert result.exit_code == 1
    assert "local metadata database" in result.stderr


# -- server ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "auth", "warned"),
    [
        (["--host", "0.0.0.0"], {}, False, True),
        (["--host", "0.0.0.0", "--auth"], {}, True, False),
        (["--host", "10.1.2.3"], {"OPSLOOP_AUTH": "on"}, True, False),
        (["--host", "0.0.0.0", "--no-auth"], {"OPSLOOP_AUTH": "on"}, False, True),
        ([], {}, False, False),
        (["--host", "::1"], {}, False, False),
        (["--host", "localhost"], {}, False, False),
    ],
)
def test_server_auth_flag(home: Path, monkeypatch: pytest.MonkeyPatch, args: list[str],
                          env: dict[str, str], auth: bool, warned: bool) -> None:
    import uvicorn

    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda api, **kw: served.update(api=api, **kw))
    result = ok(home, "server", *args, **env)
    assert served["api"].state.settings.auth is auth
    assert ("auth on" if auth else "auth off") in result.stdout
    assert ("warning: auth is off" in result.stderr) is warned
