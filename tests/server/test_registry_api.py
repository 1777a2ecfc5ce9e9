"""The registry and auth REST API over real servers on loopback.

The first half is the attacker's view of a server with auth on: every route of the
OpenAPI schema without a token, every write route with a viewer's token, a data
scientist of one project reaching into another, expired and revoked tokens, and token
secrets in logs. The second half checks the API as a user sees it, with auth off.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression
from tests.conftest import ServerThread

from opsloop.auth.api import LocalAuth
from opsloop.auth.entities import Permission, TokenInfo
from opsloop.client import Client
from opsloop.config import Settings
from opsloop.errors import Conflict
from opsloop.registry import save_model_files
from opsloop.store import open_database

API = "/api/v1"
PUBLIC = {("get", "/healthz"), ("get", "/readyz"), ("get", f"{API}/version")}
"""Routes anyone may call with auth on: probes and the version (nothing else)."""
READ_POSTS = {("post", f"{API}/runs/search"), ("post", f"{API}/runs/search-table")}
"""POST routes that only read (a search body does not fit in a query string)."""

XF = pd.DataFrame(np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0]]), columns=["a", "b"])


def _saved_model(tmp: Path) -> Path:
    out = tmp / "saved"
    save_model_files(LinearRegression().fit(XF, 2 * XF["a"]), out, input_example=XF)
    return out


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, (response.request.method, response.request.url,
                                            response.text)
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    return error


# -- a server with auth on, and a small world on it ------------------------------------------


@dataclass
class World:
    url: str
    settings: Settings
    tokens: dict[str, TokenInfo] = field(default_factory=dict)
    ids: dict[str, Any] = field(default_factory=dict)

    def http(self, who: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who].secret}"} if who else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def client(self, who: str, project: str) -> Client:
        return Client(Settings(home=self.settings.home / f"client-{who}", capture_source=False,
                               tracking_uri=self.url, token=self.tokens[who].secret,
                               project=project))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Users: ``root`` (admin), ``viewer`` (viewer everywhere), ``ds-a`` and ``ds-b``
    (data scientists of projects alpha and beta). ``ds-b`` owns a run, a dataset, two
    versions of model ``scorer`` (alias ``staging`` on 1), a pending promotion of 2 to
    ``champion`` and a comment, all in beta."""
    home = tmp_path_factory.mktemp("auth-server")
    settings = Settings(home=home, capture_source=False, auth=True)
    root = LocalAuth(open_database(settings.database_url)).bootstrap("root")
    with ServerThread(settings) as server:
        w = World(server.url, settings, tokens={"root": root})
        with w.http("root") as admin:
            for name, roles in (("viewer", {"*": ["viewer"]}),
                                ("ds-a", {"alpha": ["data-scientist"]}),
                                ("ds-b", {"beta": ["data-scientist"]})):
                assert admin.post(f"{API}/users", json={"name": name, "roles": roles}
                                  ).status_code == 201
                made = admin.post(f"{API}/tokens", json={"principal": name, "name": "t"})
                assert made.status_code == 201, made.text
                w.tokens[name] = TokenInfo.model_validate_json(made.content)
        with w.client("ds-b", "beta") as c:
            run = c.create_run("train")
            dataset = c.log_dataset(XF, name="features", run_id=run.id)
            c.end_run(run.id)
            folder = _saved_model(home)
            v1 = c.models.register("scorer", folder, run_id=run.id)
            c.models.register("scorer", folder)
            c.models.set_alias("scorer", "staging", 1)
            request = c.models.promote("scorer", 2, to="champion")
            c.models.comment("scorer", 1, "looks fine")
        w.ids.update(run=run.id, dataset_version=dataset.id, request=request.id,
                     digest=v1.manifest_digest, size=v1.files["opsloop-model.json"].size,
                     spec={"project": "beta", "model": "scorer", "flavor": v1.flavor,
                           "files": {k: f.model_dump() for k, f in v1.files.items()},
                           "manifest_digest": v1.manifest_digest})
        yield w


def routes(world: World) -> list[tuple[str, str]]:
    """Every (method, path) of the served OpenAPI schema."""
    schema = httpx.get(f"{world.url}/openapi.json", timeout=60).json()
    return sorted((m, p) for p, ops in schema["paths"].items() for m in ops)


def fill(world: World, path: str) -> str:
    """A path with plausible values: the objects of project beta."""
    values = {"name": "ds-b" if path.startswith(f"{API}/users/") else "scorer",
              "project": "beta", "version": "1", "alias": "staging",
              "request_id": str(world.ids["request"]), "run_id": world.ids["run"],
              "digest": world.ids["digest"], "token_id": world.tokens["ds-b"].id}
    filled = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)
    assert "{" not in filled, path
    return filled


# -- (a) no token ---------------------------------------------------------------------------


def test_every_route_but_the_public_ones_needs_a_token(world: World) -> None:
    listed = routes(world)
    assert set(listed) >= PUBLIC
    assert len(listed) > 50
    # The header of a server without auth names a user; with auth on it means nothing.
    with httpx.Client(base_url=world.url, headers={"X-Opsloop-User": "root"}, timeout=60) as anon:
        for method, path in listed:
            response = anon.request(method.upper(), fill(world, path),
                                    json=None if method in ("get", "head", "delete") else {})
            if (method, path) in PUBLIC:
                assert response.status_code == 200, path
                continue
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
            if method != "head":
                assert error_of(response, 401, "UNAUTHENTICATED")["message"]
    # Nothing was written by the attempts (the PUT of a blob included).
    with world.http("root") as admin:
        events = admin.get(f"{API}/audit", params={"since": 0}).json()
        assert not [e for e in events if e["actor"] not in ("root", "ds-b")]


@pytest.mark.parametrize("header", ["Basic cm9vdDpyb290", "Bearer", "Bearer nope",
                                    "Bearer olp_" + "x" * 43, "bearer olp_"])
def test_a_bad_authorization_header_is_401(world: World, header: str) -> None:
    response = httpx.get(f"{world.url}{API}/whoami", headers={"Authorization": header})
    error = error_of(response, 401, "UNAUTHENTICATED")
    assert response.headers["www-authenticate"] == "Bearer"
    sent = header.partition(" ")[2].strip()
    assert len(sent) < 8 or sent not in response.text, error


# -- (b) a viewer writes ----------------------------------------------------------------------

# (method, path) -> (JSON body, the permission a viewer lacks). Every write route of the
# schema must be listed: a new one fails the test until it is.
P = Permission
WRITES: dict[tuple[str, str], tuple[Any, Permission]] = {
    ("post", f"{API}/experiments"): ({"project": "beta", "name": "x"}, P.RUNS_WRITE),
    ("post", f"{API}/runs"): ("run-spec", P.RUNS_WRITE),
    ("post", f"{API}/runs/heartbeat"): ("run-ids", P.RUNS_WRITE),
    ("post", f"{API}/runs/reap"): (None, P.RUNS_WRITE),
    ("post", f"{API}/runs/{{run_id}}/end"): ({}, P.RUNS_WRITE),
    ("post", f"{API}/runs/{{run_id}}/batch"): ({"params": {"a": "1"}}, P.RUNS_WRITE),
    ("post", f"{API}/runs/{{run_id}}/artifacts"): ("artifact", P.RUNS_WRITE),
    ("post", f"{API}/runs/{{run_id}}/inputs"): ("input", P.RUNS_WRITE),
    ("put", f"{API}/blobs/{{digest}}"): ("blob", P.RUNS_WRITE),
    ("post", f"{API}/datasets/versions"): ({
        "project": "beta", "name": "d", "digest": "0" * 64, "num_rows": 1, "schema": [],
        "profile": {}}, P.DATASETS_WRITE),
    ("post", f"{API}/models"): ({"project": "beta", "name": "new"}, P.MODELS_REGISTER),
    ("patch", f"{API}/models/{{name}}"): ({"description": "mine"}, P.MODELS_ADMIN),
    ("post", f"{API}/model-versions"): ("spec", P.MODELS_REGISTER),
    ("patch", f"{API}/models/{{name}}/versions/{{version}}"): (
        {"description": "mine"}, P.MODELS_REGISTER),
    ("delete", f"{API}/models/{{name}}/versions/{{version}}"): (None, P.MODELS_ADMIN),
    ("put", f"{API}/models/{{name}}/aliases/{{alias}}"): ({"version": 2}, P.MODELS_REGISTER),
    ("delete", f"{API}/models/{{name}}/aliases/{{alias}}"): (None, P.MODELS_REGISTER),
    ("post", f"{API}/promotions"): ({"project": "beta", "model": "scorer", "version": 1,
                                     "alias": "challenger"}, P.MODELS_PROPOSE),
    ("post", f"{API}/promotions/{{request_id}}/approve"): ({}, P.MODELS_APPROVE),
    ("post", f"{API}/promotions/{{request_id}}/reject"): ({}, P.MODELS_APPROVE),
    ("post", f"{API}/promotions/{{request_id}}/gates"): (
        {"gate": "quality", "passed": True}, P.MODELS_DEPLOY),
    ("post", f"{API}/promotions/{{request_id}}/cancel"): ({}, P.MODELS_ADMIN),
    ("post", f"{API}/comments"): ("comment", P.COMMENT),
    ("post", f"{API}/users"): ({"name": "eve", "roles": {"*": ["admin"]}}, P.USERS_MANAGE),
    ("post", f"{API}/users/{{name}}/roles"): ({"role": "admin"}, P.USERS_MANAGE),
    ("delete", f"{API}/users/{{name}}/roles"): (None, P.USERS_MANAGE),
    ("post", f"{API}/users/{{name}}/disable"): (None, P.USERS_MANAGE),
    ("post", f"{API}/users/{{name}}/enable"): (None, P.USERS_MANAGE),
    ("post", f"{API}/tokens"): ({"principal": "ds-b"}, P.USERS_MANAGE),
    ("delete", f"{API}/tokens/{{token_id}}"): (None, P.USERS_MANAGE),
}
def _body(world: World, key: Any) -> dict[str, Any]:
    """Request kwargs for a named body (ones that need ids of the world)."""
    ids = world.ids
    if key == "run-spec":
        return {"json": {"id": uuid.uuid4().hex, "project": "beta", "experiment": "train",
                         "name": "r", "start_time": int(time.time() * 1000)}}
    if key == "run-ids":
        return {"json": {"run_ids": [ids["run"]]}}
    if key == "artifact":
        return {"json": {"path": "x.json", "digest": ids["digest"], "size": ids["size"]}}
    if key == "input":
        return {"json": {"dataset_version_id": ids["dataset_version"], "role": "eval"}}
    if key == "blob":
        return {"content": b"a viewer's bytes"}
    if key == "spec":
        return {"json": ids["spec"]}
    if key == "comment":
        return {"json": {"object_type": "run", "object_id": ids["run"], "text": "hi"}}
    return {} if key is None else {"json": key}


def test_every_write_route_is_listed(world: World) -> None:
    writes = {(m, p) for m, p in routes(world) if m not in ("get", "head")} - READ_POSTS
    assert writes == set(WRITES)


@pytest.mark.parametrize(("method", "path"), sorted(WRITES))
def test_a_viewer_cannot_write(world: World, method: str, path: str) -> None:
    key, permission = WRITES[method, path]
    if path == f"{API}/blobs/{{digest}}":
        path = f"{API}/blobs/{hashlib.sha256(_body(world, key)['content']).hexdigest()}"
    with world.http("viewer") as viewer:
        response = viewer.request(method.upper(), fill(world, path), **_body(world, key),
                                  params={"project": "beta", "role": "data-scientist"})
    error = error_of(response, 403, "PERMISSION_DENIED")
    assert error["details"]["principal"] == "viewer"
    assert error["details"]["permission"] == permission.value
    assert permission.value in error["message"] + error["hint"]


def test_a_viewer_reads(world: World) -> None:
    with world.http("viewer") as viewer:
        assert viewer.get(f"{API}/models", params={"project": "beta"}).json()[0]["name"] == \
            "scorer"
        assert viewer.get(f"{API}/promotions/{world.ids['request']}").status_code == 200
        assert viewer.get(f"{API}/whoami").json()["name"] == "viewer"
        # Its own tokens, never anyone else's, and no secret in a listing.
        mine = viewer.get(f"{API}/tokens")
        assert [t["secret"] for t in mine.json()] == [None]
        error_of(viewer.get(f"{API}/tokens", params={"principal": "root"}), 403,
                 "PERMISSION_DENIED")
        error_of(viewer.get(f"{API}/audit"), 403, "PERMISSION_DENIED")


# -- (c) one project's data scientist in another project -------------------------------------


def test_a_data_scientist_cannot_reach_into_another_project(world: World) -> None:
    ids, beta = world.ids, {"project": "beta"}
    run, req = ids["run"], ids["request"]
    attempts: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", f"{API}/models", {"params": beta}),
        ("GET", f"{API}/models/scorer", {"params": beta}),
        ("GET", f"{API}/models/scorer/versions", {"params": beta}),
        ("GET", f"{API}/models/scorer/versions/1", {"params": beta}),
        ("GET", f"{API}/models/scorer/aliases/staging", {"params": beta}),
        ("GET", f"{API}/models/scorer/alias-history", {"params": beta}),
        ("GET", f"{API}/model-versions/resolve", {"params": {"ref": "scorer@staging",
                                                             "project": "beta"}}),
        # The project of a models:/ URI wins over the (allowed) query parameter.
        ("GET", f"{API}/model-versions/resolve", {"params": {"ref": "models:/beta/scorer/1",
                                                             "project": "alpha"}}),
        ("POST", f"{API}/models", {"json": {"project": "beta", "name": "mine"}}),
        ("PATCH", f"{API}/models/scorer", {"params": beta, "json": {"owners": ["ds-a"]}}),
        ("POST", f"{API}/model-versions", {"json": ids["spec"]}),
        ("PUT", f"{API}/models/scorer/aliases/staging", {"params": beta,
                                                         "json": {"version": 2}}),
        ("DELETE", f"{API}/models/scorer/aliases/staging", {"params": beta}),
        ("GET", f"{API}/runs/{run}", {}),
        ("POST", f"{API}/runs/{run}/batch", {"json": {"params": {"x": "1"}}}),
        ("POST", f"{API}/runs/{run}/end", {"json": {}}),
        ("POST", f"{API}/runs/search", {"json": {"project": "beta"}}),
        ("POST", f"{API}/runs", {"json": {"id": uuid.uuid4().hex, "project": "beta",
                                          "experiment": "x", "name": "r",
                                          "start_time": 1}}),
        ("GET", f"{API}/promotions", {"params": beta}),
        ("GET", f"{API}/promotions/{req}", {}),
        ("POST", f"{API}/promotions/{req}/approve", {"json": {}}),
        ("POST", f"{API}/promotions/{req}/reject", {"json": {}}),
        ("POST", f"{API}/promotions/{req}/gates", {"json": {"gate": "q", "passed": True}}),
        ("POST", f"{API}/promotions/{req}/cancel", {"json": {}}),
        ("POST", f"{API}/promotions", {"json": {"project": "beta", "model": "scorer",
                                                "version": 1, "alias": "x"}}),
        ("POST", f"{API}/comments", {"json": {"object_type": "run", "object_id": run,
                                              "text": "hi"}}),
        ("POST", f"{API}/comments", {"json": {"object_type": "model_version",
                                              "object_id": "beta/scorer/1", "text": "hi",
                                              "project": "alpha"}}),
        ("GET", f"{API}/comments", {"params": {"object_type": "model_version",
                                               "object_id": "scorer/1", "project": "beta"}}),
        ("GET", f"{API}/audit", {"params": beta}),
        # Whether something exists in beta is beta's business too: 403, never 404 or 409.
        ("GET", f"{API}/models/ghost", {"params": beta}),
        ("PATCH", f"{API}/models/ghost", {"params": beta, "json": {"description": "x"}}),
        ("PATCH", f"{API}/models/ghost/versions/1", {"params": beta,
                                                     "json": {"description": "x"}}),
        ("PUT", f"{API}/models/ghost/aliases/prod", {"params": beta, "json": {"version": 1}}),
        ("PUT", f"{API}/models/scorer/aliases/champion", {"params": beta,
                                                          "json": {"version": 1}}),
        ("DELETE", f"{API}/models/scorer/versions/9", {"params": beta}),
    ]
    with world.http("ds-a") as ds_a:
        for method, url, kwargs in attempts:
            response = ds_a.request(method, url, **kwargs)
            error = error_of(response, 403, "PERMISSION_DENIED")
            assert error["details"]["project"] == "beta", (method, url, error)
        # The same calls in its own project work: the refusals are about the project.
        assert ds_a.post(f"{API}/models", json={"project": "alpha", "name": "mine"}
                         ).status_code == 201
        assert ds_a.get(f"{API}/models/mine", params={"project": "alpha"}).status_code == 200
    with world.http("root") as admin:  # and nothing in beta changed
        assert admin.get(f"{API}/models/scorer", params=beta).json()["aliases"] == {
            "staging": 1}
        assert admin.get(f"{API}/promotions/{req}").json()["status"] == "pending"


# -- (d) expired, revoked and disabled ----------------------------------------------------------


def test_expired_revoked_and_disabled_tokens_are_401_naming_why(world: World) -> None:
    with world.http("root") as admin:
        soon = int(time.time() * 1000) + 300
        expiring = admin.post(f"{API}/tokens", json={"principal": "viewer",
                                                     "expires_at": soon}).json()
        revoked = admin.post(f"{API}/tokens", json={"principal": "viewer"}).json()
        assert admin.delete(f"{API}/tokens/{revoked['id']}").json()["revoked_at"]
        time.sleep(max(0.0, (soon - time.time() * 1000) / 1000) + 0.05)
        for token, why in ((expiring, "has expired"), (revoked, "was revoked")):
            response = httpx.get(f"{world.url}{API}/whoami",
                                 headers={"Authorization": f"Bearer {token['secret']}"})
            error = error_of(response, 401, "UNAUTHENTICATED")
            assert why in error["message"] and token["id"] in error["message"]
            assert token["secret"] not in response.text
        # A disabled principal's tokens stop at once, and work again once enabled.
        bob = admin.post(f"{API}/users", json={"name": "bob"}).json()["name"]
        secret = admin.post(f"{API}/tokens", json={"principal": bob}).json()["secret"]
        headers = {"Authorization": f"Bearer {secret}"}
        assert httpx.get(f"{world.url}{API}/whoami", headers=headers).status_code == 200
        assert admin.post(f"{API}/users/{bob}/disable").json()["disabled"] is True
        error = error_of(httpx.get(f"{world.url}{API}/whoami", headers=headers), 401,
                         "UNAUTHENTICATED")
        assert "disabled" in error["message"]
        admin.post(f"{API}/users/{bob}/enable")
        assert httpx.get(f"{world.url}{API}/whoami", headers=headers).status_code == 200


# -- (e) secrets stay secret ----------------------------------------------------------------


@contextlib.contextmanager
def _all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every record of opsloop and uvicorn at DEBUG (uvicorn's loggers do not propagate)."""
    names = ("opsloop", "uvicorn", "uvicorn.error", "uvicorn.access")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.addHandler(caplog.handler)
    caplog.handler.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(caplog.handler)
            lg.setLevel(level)


def test_token_secrets_never_reach_logs_or_reprs(world: World,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    with _all_logs(caplog), world.http("root") as admin:
        made = admin.post(f"{API}/tokens", json={"principal": "viewer", "name": "logged"})
        info = TokenInfo.model_validate_json(made.content)
        secret = info.secret
        assert secret and secret.startswith("olp_")
        headers = {"Authorization": f"Bearer {secret}"}
        assert httpx.get(f"{world.url}{API}/whoami", headers=headers).status_code == 200
        httpx.post(f"{world.url}{API}/users", headers=headers, json={"name": "x"})  # 403
        httpx.get(f"{world.url}{API}/no-such-route", headers=headers)  # 404
        admin.delete(f"{API}/tokens/{info.id}")
        httpx.get(f"{world.url}{API}/whoami", headers=headers)  # 401 revoked
        httpx.get(f"{world.url}{API}/whoami", headers={"Authorization": f"Bearer {secret}x"})
        audit = admin.get(f"{API}/audit", params={"object_type": "token"})
        listed = admin.get(f"{API}/tokens", params={"principal": "viewer"})
    assert caplog.records, "the capture saw nothing: it would prove nothing"
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}"
                       for r in caplog.records)
    assert secret not in logged and secret[4:] not in logged
    assert secret not in audit.text and secret not in listed.text
    assert all(t["secret"] is None for t in listed.json())
    for text in (repr(info), str(info), f"{info}", repr([info]), repr({"t": info})):
        assert secret not in text


# -- the API as a user sees it (auth off) -------------------------------------------------------


@pytest.fixture
def remote(server: ServerThread, tmp_path: Path) -> Iterator[Client]:
    with Client(Settings(home=tmp_path / "client", capture_source=False,
                         tracking_uri=server.url)) as client:
        yield client


def test_register_and_resolve_over_http(remote: Client, server: ServerThread,
                                        tmp_path: Path) -> None:
    name = "credit risk.v2"  # spaces and dots travel as one path segment
    folder = _saved_model(tmp_path)
    assert [remote.models.register(name, folder).version for _ in range(2)] == [1, 2]
    assert remote.models.set_alias(name, "staging", 1) is None
    for ref, version in ((f"{name}@staging", 1), (f"{name}/1", 1), (f"{name}/latest", 2),
                         (f"models:/default/{name}/1", 1), (f"models:/{name}@staging", 1)):
        resolved = remote.models.resolve(ref)
        assert (resolved.model, resolved.version) == (name, version), ref
    assert remote.models.get(name).aliases == {"staging": 1}
    with httpx.Client(base_url=server.url, timeout=60) as http:
        by_alias = http.get(f"{API}/models/credit%20risk.v2/aliases/staging").json()
        assert by_alias["version"] == 1 and by_alias["aliases"] == ["staging"]
        moved = http.put(f"{API}/models/credit%20risk.v2/aliases/staging",
                         json={"version": 2, "expected_version": 1})
        assert moved.json() == {"model": name, "alias": "staging", "version": 2,
                                "previous": 1}
        error = error_of(http.put(f"{API}/models/credit%20risk.v2/aliases/staging",
                                  json={"version": 1, "expected_version": None}),
                         409, "CONFLICT")
        assert error["details"]["current"] == 2
    assert remote.models.load(f"{name}@staging").version.version == 2


def test_racing_one_alias_one_wins(remote: Client, tmp_path: Path) -> None:
    folder = _saved_model(tmp_path)
    for _ in range(3):
        remote.models.register("m", folder)
    for round_ in range(3):
        alias = f"race{round_}"
        barrier = threading.Barrier(2)
        outcomes: list[object] = []

        def move(version: int, alias: str = alias, barrier: threading.Barrier = barrier,
                 outcomes: list[object] = outcomes) -> None:
            with Client(remote.settings) as own:
                barrier.wait()
                try:
                    outcomes.append(own.models.set_alias("m", alias, version,
                                                         expected_version=None))
                except Conflict as exc:
                    outcomes.append(exc)

        threads = [threading.Thread(target=move, args=(v,)) for v in (2, 3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(outcomes) == 2
        assert [o for o in outcomes if not isinstance(o, Conflict)] == [None]
        assert len([o for o in outcomes if isinstance(o, Conflict)]) == 1
        assert len(remote.models.alias_history("m", alias)) == 1


def test_request_id_is_echoed_and_audited(server: ServerThread, remote: Client,
                                          tmp_path: Path) -> None:
    remote.models.register("m", _saved_model(tmp_path))
    with httpx.Client(base_url=server.url, timeout=60) as http:
        response = http.put(f"{API}/models/m/aliases/prod", json={"version": 1},
                            headers={"X-Request-ID": "deploy-42"})
        assert response.status_code == 200, response.text
        assert response.headers["x-request-id"] == "deploy-42"
        own = http.get(f"{API}/whoami")  # none sent: one is made up and echoed
        assert re.fullmatch(r"[0-9a-f]{32}", own.headers["x-request-id"])
    [event] = remote.auth.audit(action="alias.set")
    assert (event.request_id, event.object_id) == ("deploy-42", "default/m@prod")


def test_there_is_no_api_to_change_the_audit_log(server: ServerThread) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert http.get(f"{API}/audit").status_code == 200
        for method in ("PUT", "PATCH", "DELETE", "POST"):
            assert http.request(method, f"{API}/audit", json={}).status_code == 405
            for url in (f"{API}/audit/1", f"{API}/audit/events/1"):
                assert http.request(method, url, json={}).status_code in (404, 405)
        schema = http.get("/openapi.json").json()["paths"]
    assert sorted(schema[f"{API}/audit"]) == ["get"]
    assert not [p for p in schema if "audit" in p and p != f"{API}/audit"]
    assert not [p for p in schema if "bootstrap" in p]


def test_every_route_documents_its_answers(server: ServerThread) -> None:
    """The registry and auth routes in the schema: a summary, one success answer with a
    real schema, and every error answer (401, 403, 404, 422, 500) as ErrorResponse."""
    schema = httpx.get(f"{server.url}/openapi.json", timeout=60).json()
    ours = {(m, p): op for p, ops in schema["paths"].items() for m, op in ops.items()
            if {"registry", "auth"} & set(op.get("tags", []))}
    assert len(ours) == 35
    for (method, path), op in ours.items():
        assert op.get("description"), (method, path)
        ok = [s for s in op["responses"] if s.startswith("2")]
        assert len(ok) == 1, (method, path)
        content = op["responses"][ok[0]].get("content", {})
        if ok[0] == "204":
            assert content == {}
        else:
            assert content["application/json"]["schema"], (method, path)
        errors = {s for s in op["responses"] if s[0] in "45"}
        assert {"401", "403", "404", "422", "500"} <= errors, (method, path)
        for status in errors:
            assert op["responses"][status]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorResponse"}


def test_http_errors_are_the_local_classes(remote: Client, tmp_path: Path) -> None:
    from opsloop.errors import AlreadyExists, InvalidInput, NotFound

    remote.models.register("m", _saved_model(tmp_path))
    with pytest.raises(NotFound, match="registered model"):
        remote.models.get("nope")
    for odd in ("", ".", ".."):
        with pytest.raises(NotFound):
            remote.models.get(odd)
    with pytest.raises(InvalidInput, match="alias"):
        remote.models.set_alias("m", "", 1)
    with pytest.raises(InvalidInput, match="alias"):
        remote.models.set_alias("m", "a/b", 1)
    with pytest.raises(NotFound, match="model version"):
        remote.models.get_version("m", 0)
    with pytest.raises(AlreadyExists):
        remote.models.create("m")
    with pytest.raises(NotFound, match="promotion request"):
        remote.models.get_request(2**62)
