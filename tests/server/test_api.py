"""The REST API as a client in another language sees it: status codes, bodies, the schema.

Most tests talk to a real uvicorn server on loopback (the ``server`` fixture); the ones
that need an app they can modify, or many requests (the fuzz), use FastAPI's TestClient,
which runs the same ASGI stack in-process.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import json
import logging
import math
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

import opsloop
import opsloop.errors
from opsloop.config import Settings
from opsloop.server import create_app

with warnings.catch_warnings():
    # Starlette asks for httpx2 behind its TestClient; plain httpx works the same here.
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from fastapi.testclient import TestClient

API = "/api/v1"
RUN_ID = "0123456789abcdef0123456789abcdef"

# -- helpers ----------------------------------------------------------------------------

# Words that would mean a Python internal reached the wire.
_PYTHON_NAMES = sorted(
    {n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, Exception)}
    | {
        n
        for n, v in vars(opsloop.errors).items()
        if isinstance(v, type) and issubclass(v, Exception)
    }
    | {
        "RequestValidationError",
        "ValidationError",
        "HTTPException",
        "SearchIn",
        "BatchIn",
        "MetricColumns",
        "ExperimentIn",
        "ArtifactIn",
        "EndRunIn",
        "InputIn",
        "RunSpec",
        "DatasetSpec",
        "Traceback",
        "sqlalchemy",
        "sqlite3",
        "pydantic",
        "starlette",
        "fastapi",
        "opsloop.errors",
        "<class",
        "__init__",
    }
)
_PYTHON_NAME = re.compile(r"\b(?:" + "|".join(re.escape(n) for n in _PYTHON_NAMES) + r")\b")


def assert_no_python_names(text: str) -> None:
    found = _PYTHON_NAME.findall(text)
    assert not found, f"Python internals on the wire: {found} in {text[:300]}"
    assert 'File "' not in text


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The error envelope with ``code``; returns ``body["error"]``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "hint", "details"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict)
    assert_no_python_names(response.text)
    return error


def strict_json(text: str) -> Any:
    """Parse JSON refusing the bare NaN/Infinity tokens Python's json module accepts."""

    def refuse(token: str) -> Any:
        raise AssertionError(f"bare {token} is not JSON")

    return json.loads(text, parse_constant=refuse)


def new_run(
    client: httpx.Client | TestClient, run_id: str = RUN_ID, experiment: str = "exp"
) -> dict[str, Any]:
    response = client.post(
        f"{API}/runs",
        json={
            "id": run_id,
            "project": "default",
            "experiment": experiment,
            "name": "r",
            "start_time": 1_700_000_000_000,
        },
    )
    assert response.status_code == 201, response.text
    run: dict[str, Any] = response.json()
    return run


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def http(server: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


@pytest.fixture
def api(settings: Settings) -> TestClient:
    return TestClient(create_app(settings))


# -- the schema ----------------------------------------------------------------------------

ROUTES = [
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", f"{API}/version"),
    ("get", f"{API}/projects"),
    ("post", f"{API}/experiments"),
    ("get", f"{API}/experiments"),
    ("get", f"{API}/experiments/{{project}}/{{name}}"),
    ("post", f"{API}/runs"),
    ("post", f"{API}/runs/search"),
    ("post", f"{API}/runs/search-table"),
    ("get", f"{API}/runs/{{run_id}}"),
    ("post", f"{API}/runs/{{run_id}}/batch"),
    ("post", f"{API}/runs/{{run_id}}/end"),
    ("get", f"{API}/runs/{{run_id}}/metric-history"),
    ("get", f"{API}/runs/{{run_id}}/artifacts"),
    ("post", f"{API}/runs/{{run_id}}/artifacts"),
    ("get", f"{API}/runs/{{run_id}}/artifact"),
    ("get", f"{API}/runs/{{run_id}}/inputs"),
    ("post", f"{API}/runs/{{run_id}}/inputs"),
    ("post", f"{API}/runs/heartbeat"),
    ("post", f"{API}/runs/reap"),
    ("head", f"{API}/blobs/{{digest}}"),
    ("put", f"{API}/blobs/{{digest}}"),
    ("get", f"{API}/blobs/{{digest}}"),
    ("post", f"{API}/datasets/versions"),
    ("get", f"{API}/datasets"),
    ("get", f"{API}/datasets/{{project}}/{{name}}/versions"),
    ("get", f"{API}/datasets/{{project}}/{{name}}/versions/{{version}}"),
    # registry
    ("post", f"{API}/models"),
    ("get", f"{API}/models"),
    ("get", f"{API}/models/{{name}}"),
    ("patch", f"{API}/models/{{name}}"),
    ("post", f"{API}/model-versions"),
    ("get", f"{API}/model-versions/resolve"),
    ("get", f"{API}/models/{{name}}/versions"),
    ("get", f"{API}/models/{{name}}/versions/{{version}}"),
    ("patch", f"{API}/models/{{name}}/versions/{{version}}"),
    ("delete", f"{API}/models/{{name}}/versions/{{version}}"),
    ("get", f"{API}/models/{{name}}/aliases/{{alias}}"),
    ("put", f"{API}/models/{{name}}/aliases/{{alias}}"),
    ("delete", f"{API}/models/{{name}}/aliases/{{alias}}"),
    ("get", f"{API}/models/{{name}}/alias-history"),
    ("post", f"{API}/promotions"),
    ("get", f"{API}/promotions"),
    ("get", f"{API}/promotions/{{request_id}}"),
    ("post", f"{API}/promotions/{{request_id}}/approve"),
    ("post", f"{API}/promotions/{{request_id}}/reject"),
    ("post", f"{API}/promotions/{{request_id}}/gates"),
    ("post", f"{API}/promotions/{{request_id}}/cancel"),
    ("post", f"{API}/comments"),
    ("get", f"{API}/comments"),
    # auth
    ("get", f"{API}/whoami"),
    ("post", f"{API}/users"),
    ("get", f"{API}/users"),
    ("get", f"{API}/users/{{name}}"),
    ("post", f"{API}/users/{{name}}/roles"),
    ("delete", f"{API}/users/{{name}}/roles"),
    ("post", f"{API}/users/{{name}}/disable"),
    ("post", f"{API}/users/{{name}}/enable"),
    ("post", f"{API}/tokens"),
    ("get", f"{API}/tokens"),
    ("delete", f"{API}/tokens/{{token_id}}"),
    ("get", f"{API}/audit"),
]
JSON_BODIES = {  # route -> the schema its JSON request body refers to
    ("post", f"{API}/experiments"): "ExperimentIn",
    ("post", f"{API}/runs"): "RunSpec",
    ("post", f"{API}/runs/search"): "SearchIn",
    ("post", f"{API}/runs/search-table"): "SearchTableIn",
    ("post", f"{API}/runs/{{run_id}}/batch"): "BatchIn",
    ("post", f"{API}/runs/{{run_id}}/end"): "EndRunIn",
    ("post", f"{API}/runs/{{run_id}}/artifacts"): "ArtifactIn",
    ("post", f"{API}/runs/{{run_id}}/inputs"): "InputIn",
    ("post", f"{API}/runs/heartbeat"): "HeartbeatIn",
    ("post", f"{API}/datasets/versions"): "DatasetSpec",
    ("post", f"{API}/models"): "ModelIn",
    ("patch", f"{API}/models/{{name}}"): "ModelUpdateIn",
    ("post", f"{API}/model-versions"): "ModelVersionSpec",
    ("patch", f"{API}/models/{{name}}/versions/{{version}}"): "VersionUpdateIn",
    ("put", f"{API}/models/{{name}}/aliases/{{alias}}"): "AliasIn",
    ("post", f"{API}/promotions"): "PromotionIn",
    ("post", f"{API}/promotions/{{request_id}}/approve"): "DecisionIn",
    ("post", f"{API}/promotions/{{request_id}}/reject"): "DecisionIn",
    ("post", f"{API}/promotions/{{request_id}}/gates"): "GateIn",
    ("post", f"{API}/promotions/{{request_id}}/cancel"): "CancelIn",
    ("post", f"{API}/comments"): "CommentIn",
    ("post", f"{API}/users"): "UserIn",
    ("post", f"{API}/users/{{name}}/roles"): "RoleIn",
    ("post", f"{API}/tokens"): "TokenIn",
}
NO_CONTENT = {
    ("post", f"{API}/runs/{{run_id}}/batch"),
    ("post", f"{API}/runs/heartbeat"),
    ("post", f"{API}/runs/{{run_id}}/inputs"),
    ("head", f"{API}/blobs/{{digest}}"),
    ("put", f"{API}/blobs/{{digest}}"),
    ("delete", f"{API}/models/{{name}}/versions/{{version}}"),
}


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    app = create_app(Settings(home=tmp_path_factory.mktemp("openapi"), capture_source=False))
    response = TestClient(app).get("/openapi.json")
    assert response.status_code == 200
    spec: dict[str, Any] = response.json()
    return spec


def test_openapi_is_a_valid_document(openapi: dict[str, Any]) -> None:
    from openapi_spec_validator import validate

    validate(openapi)
    assert openapi["info"]["version"] == opsloop.__version__
    listed = {(m, p) for p, ops in openapi["paths"].items() for m in ops}
    assert listed == set(ROUTES)
    # Our 422 is the error envelope, not FastAPI's {"detail": [...]}.
    assert "HTTPValidationError" not in json.dumps(openapi)


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_openapi_describes_each_route(openapi: dict[str, Any], method: str, path: str) -> None:
    op = openapi["paths"][path][method]
    ok = [s for s in op["responses"] if s.startswith("2")]
    assert len(ok) == 1
    content = op["responses"][ok[0]].get("content", {})
    if (method, path) in NO_CONTENT:
        assert content == {}
    elif path == f"{API}/blobs/{{digest}}":
        assert content["application/octet-stream"]["schema"]["format"] == "binary"
    elif path == f"{API}/runs/search-table":
        assert content["application/vnd.apache.arrow.stream"]["schema"]["format"] == "binary"
    else:
        assert content["application/json"]["schema"]  # a real schema, not {}

    body = op.get("requestBody", {}).get("content", {})
    if (method, path) in JSON_BODIES:
        ref = body["application/json"]["schema"]["$ref"]
        assert ref == f"#/components/schemas/{JSON_BODIES[method, path]}"
    elif (method, path) == ("put", f"{API}/blobs/{{digest}}"):
        assert body["application/octet-stream"]["schema"]["format"] == "binary"
    else:
        assert body == {}

    errors = {s: r for s, r in op["responses"].items() if s[0] in "45"}
    assert "500" in errors
    if op.get("parameters") or body:
        assert "422" in errors
    if path.startswith(API) and path != f"{API}/version":
        assert "404" in errors
    for response in errors.values():
        schema = response["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorResponse"}


def test_openapi_error_schema(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    assert schemas["ErrorResponse"]["required"] == ["error"]
    assert set(schemas["ErrorBody"]["properties"]) == {"code", "message", "hint", "details"}
    columns = schemas["MetricColumns"]["properties"]["value"]["items"]
    assert {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]} in columns["anyOf"]


# -- meta ----------------------------------------------------------------------------------


def test_health_ready_and_version(http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").json() == {"status": "ready"}
    response = http.get(f"{API}/version")
    assert response.status_code == 200
    assert response.json() == {"version": opsloop.__version__, "api": "v1"}


# -- errors ----------------------------------------------------------------------------------


def test_unknown_run_is_404_naming_the_id(http: httpx.Client) -> None:
    for url in (
        f"{API}/runs/{RUN_ID}",
        f"{API}/runs/{RUN_ID}/artifacts",
        f"{API}/runs/{RUN_ID}/metric-history?key=auc",
        f"{API}/runs/{RUN_ID}/inputs",
    ):
        error = assert_error(http.get(url), 404, "NOT_FOUND")
        assert RUN_ID in error["message"]
        assert error["details"] == {"kind": "run", "id": RUN_ID}
    error = assert_error(http.post(f"{API}/runs/{RUN_ID}/end", json={}), 404, "NOT_FOUND")
    assert RUN_ID in error["message"]


def test_unknown_route_and_method_use_the_envelope(http: httpx.Client) -> None:
    error = assert_error(http.get(f"{API}/no-such-thing"), 404, "NOT_FOUND")
    assert error["message"] == f"no route GET {API}/no-such-thing"
    response = http.delete(f"{API}/projects")
    error = assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "GET"


def test_malformed_body_names_each_bad_field(http: httpx.Client) -> None:
    response = http.post(
        f"{API}/experiments", json={"name": 5, "project": [], "exist_ok": "maybe", "bogus": 1}
    )
    error = assert_error(response, 422, "INVALID_INPUT")
    problems = error["details"]["problems"]
    assert sorted(p["field"] for p in problems) == ["bogus", "exist_ok", "name", "project"]
    by_field = {p["field"]: p for p in problems}
    assert by_field["name"]["value"] == 5
    assert by_field["project"]["value"] == []
    assert by_field["bogus"]["rule"] == "Extra inputs are not permitted"
    assert all(p["in"] == "body" for p in problems)
    assert error["message"].startswith("invalid ")
    assert "(and 3 more problem(s))" in error["message"]


def test_missing_fields_nested_fields_and_query(http: httpx.Client) -> None:
    error = assert_error(http.post(f"{API}/runs", json={"id": RUN_ID}), 422, "INVALID_INPUT")
    assert sorted(p["field"] for p in error["details"]["problems"]) == [
        "experiment",
        "name",
        "project",
        "start_time",
    ]
    assert {p["rule"] for p in error["details"]["problems"]} == {"Field required"}

    new_run(http)
    body = {"metrics": {"key": ["a"], "value": ["high"], "step": [0.5], "timestamp": [1]}}
    error = assert_error(http.post(f"{API}/runs/{RUN_ID}/batch", json=body), 422, "INVALID_INPUT")
    assert sorted(p["field"] for p in error["details"]["problems"]) == [
        "metrics.step.0",
        "metrics.value.0",
    ]

    error = assert_error(http.get(f"{API}/runs/{RUN_ID}/metric-history"), 422, "INVALID_INPUT")
    assert error["details"]["problems"] == [
        {"field": "key", "in": "query", "rule": "Field required", "value": None}
    ]


def test_body_that_is_not_json_or_not_an_object(http: httpx.Client) -> None:
    response = http.post(
        f"{API}/runs/search", content=b'{"filter": ', headers={"content-type": "application/json"}
    )
    error = assert_error(response, 422, "INVALID_INPUT")
    [problem] = error["details"]["problems"]
    assert problem["field"] == "body"
    assert problem["rule"].startswith("must be valid JSON")

    error = assert_error(http.post(f"{API}/runs/search", json=[1, 2]), 422, "INVALID_INPUT")
    assert error["details"]["problems"] == [
        {"field": "body", "in": "body", "rule": "Input should be an object", "value": [1, 2]}
    ]
    error = assert_error(
        http.post(f"{API}/runs/{RUN_ID}/batch", json={"metrics": 7}), 422, "INVALID_INPUT"
    )
    assert error["details"]["problems"][0]["rule"] == "Input should be an object"


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("metrics.auc >", 13),
        ("bogus = 1", 0),
        ("metrics.auc > 0.5 and", 21),
        ("params.model = 'xgb", 15),
    ],
)
def test_bad_filter_is_422_with_a_position(api: TestClient, text: str, position: int) -> None:
    error = assert_error(
        api.post(f"{API}/runs/search", json={"filter": text}), 422, "INVALID_FILTER"
    )
    assert error["details"]["position"] == position
    assert error["details"]["field"] == "filter"
    assert f"at position {position}" in error["message"]
    assert error["hint"]


def test_duplicate_experiment_is_409(http: httpx.Client) -> None:
    assert http.post(f"{API}/experiments", json={"name": "credit"}).status_code == 201
    error = assert_error(
        http.post(f"{API}/experiments", json={"name": "credit"}), 409, "ALREADY_EXISTS"
    )
    assert "default/credit" in error["message"]
    same = http.post(f"{API}/experiments", json={"name": "credit", "exist_ok": True})
    assert same.status_code == 200
    assert same.json()["name"] == "credit"


def test_param_conflict_is_409(http: httpx.Client) -> None:
    new_run(http)
    url = f"{API}/runs/{RUN_ID}/batch"
    assert http.post(url, json={"params": {"lr": "0.1"}}).status_code == 204
    error = assert_error(http.post(url, json={"params": {"lr": "0.2"}}), 409, "CONFLICT")
    assert "lr" in error["message"]


def test_batch_with_columns_of_different_lengths_is_422(http: httpx.Client) -> None:
    new_run(http)
    body = {
        "metrics": {"key": ["a", "b"], "value": [1.0], "step": [0, 0], "timestamp": [1, 1]},
        "params": {"p": "1"},
    }
    error = assert_error(http.post(f"{API}/runs/{RUN_ID}/batch", json=body), 422, "INVALID_INPUT")
    assert error["details"]["field"] == "metrics"
    assert error["details"]["value"] == "key: 2, value: 1, step: 2, timestamp: 2"
    run = http.get(f"{API}/runs/{RUN_ID}").json()
    assert (run["metrics"], run["params"]) == ({}, {})  # nothing of the batch was written


def test_end_run_writes_its_last_points(http: httpx.Client) -> None:
    new_run(http)
    url = f"{API}/runs/{RUN_ID}/end"
    bad = {"metrics": {"key": ["auc"], "value": [], "step": [], "timestamp": []}}
    error = assert_error(http.post(url, json=bad), 422, "INVALID_INPUT")
    assert error["details"]["field"] == "metrics"
    assert http.get(f"{API}/runs/{RUN_ID}").json()["status"] == "RUNNING"

    body = {
        "status": "FAILED",
        "failure": "ValueError: boom",
        "metrics": {
            "key": ["auc", "loss"],
            "value": [0.9, "NaN"],
            "step": [3, 3],
            "timestamp": [5, 5],
        },
    }
    response = http.post(url, json=body)
    assert response.status_code == 200
    run = strict_json(response.text)
    assert (run["status"], run["failure"]) == ("FAILED", "ValueError: boom")
    assert run["metrics"] == {"auc": 0.9, "loss": "NaN"}
    assert run["end_time"] >= run["start_time"]


def test_non_finite_metrics_travel_as_strings(http: httpx.Client) -> None:
    new_run(http)
    body = {
        "metrics": {
            "key": ["nan", "up", "down", "ok"],
            "value": ["NaN", "Infinity", "-Infinity", 0.5],
            "step": [0, 0, 0, 0],
            "timestamp": [1, 1, 1, 1],
        }
    }
    assert http.post(f"{API}/runs/{RUN_ID}/batch", json=body).status_code == 204

    run = strict_json(http.get(f"{API}/runs/{RUN_ID}").text)
    assert run["metrics"] == {"nan": "NaN", "up": "Infinity", "down": "-Infinity", "ok": 0.5}
    for key, wire in (("nan", "NaN"), ("up", "Infinity"), ("down", "-Infinity")):
        response = http.get(f"{API}/runs/{RUN_ID}/metric-history", params={"key": key})
        assert strict_json(response.text) == [
            {"key": key, "value": wire, "step": 0, "timestamp": 1}
        ]
    page = strict_json(http.post(f"{API}/runs/search", json={}).text)
    assert page["items"][0]["metrics"]["nan"] == "NaN"


# -- blobs and artifacts ----------------------------------------------------------------------


def test_blob_round_trip(http: httpx.Client) -> None:
    data = b"model weights \x00\xff"
    digest = sha(data)
    assert http.head(f"{API}/blobs/{digest}").status_code == 404
    response = http.put(f"{API}/blobs/{digest}", content=data)
    assert (response.status_code, response.content) == (201, b"")
    assert http.head(f"{API}/blobs/{digest}").status_code == 200
    response = http.get(f"{API}/blobs/{digest}")
    assert response.content == data
    assert response.headers["content-type"] == "application/octet-stream"


def test_blob_whose_bytes_do_not_match_is_refused_and_not_stored(
    http: httpx.Client, settings: Settings
) -> None:
    claimed = sha(b"the real bytes")
    response = http.put(f"{API}/blobs/{claimed}", content=b"other bytes")
    error = assert_error(response, 422, "INVALID_INPUT")
    assert claimed in error["message"]
    assert sha(b"other bytes") in error["message"]
    assert http.head(f"{API}/blobs/{claimed}").status_code == 404
    assert http.head(f"{API}/blobs/{sha(b'other bytes')}").status_code == 404
    assert_error(http.get(f"{API}/blobs/{claimed}"), 404, "NOT_FOUND")
    objects = Path(settings.artifacts) / "objects"
    assert not objects.exists() or not any(p.is_file() for p in objects.rglob("*"))


@pytest.mark.parametrize(
    "digest",
    [
        "abc123",  # short
        "g" * 64,  # not hex
        sha(b"x").upper(),  # upper case
        sha(b"x") + "0",  # long
        sha(b"x")[:63] + ".",  # a dot
    ],
)
def test_malformed_digest_is_422(api: TestClient, digest: str) -> None:
    error = assert_error(api.put(f"{API}/blobs/{digest}", content=b"x"), 422, "INVALID_INPUT")
    assert error["details"]["field"] == "digest"
    assert_error(api.get(f"{API}/blobs/{digest}"), 422, "INVALID_INPUT")
    response = api.head(f"{API}/blobs/{digest}")
    assert (response.status_code, response.content) == (422, b"")


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/../../b", "a\\..\\b", "./x", ""])
def test_artifact_path_traversal_is_422(api: TestClient, path: str) -> None:
    new_run(api)
    digest = sha(b"x")
    assert api.put(f"{API}/blobs/{digest}", content=b"x").status_code == 201
    body = {"path": path, "digest": digest, "size": 1}
    error = assert_error(
        api.post(f"{API}/runs/{RUN_ID}/artifacts", json=body), 422, "INVALID_INPUT"
    )
    assert error["details"]["field"] == "artifact path"
    assert api.get(f"{API}/runs/{RUN_ID}/artifacts").json() == []


def test_artifact_round_trip(http: httpx.Client) -> None:
    new_run(http)
    digest = sha(b"x")
    http.put(f"{API}/blobs/{digest}", content=b"x")
    body = {"path": "plots/roc.png", "digest": digest, "size": 1}
    created = http.post(f"{API}/runs/{RUN_ID}/artifacts", json=body)
    assert created.status_code == 201
    listed = http.get(f"{API}/runs/{RUN_ID}/artifacts", params={"prefix": "plots"}).json()
    assert [(a["path"], a["digest"], a["size"]) for a in listed] == [("plots/roc.png", digest, 1)]
    one = http.get(f"{API}/runs/{RUN_ID}/artifact", params={"path": "plots/roc.png"})
    assert one.json() == created.json()


def test_reading_an_artifact_by_a_traversal_path_is_422(http: httpx.Client) -> None:
    new_run(http)
    response = http.get(f"{API}/runs/{RUN_ID}/artifact", params={"path": "../x"})
    assert_error(response, 422, "INVALID_INPUT")


# -- integers beyond 64 bits: 422, never 500 -----------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("post", f"{API}/runs/search", {"experiment_ids": [2**63]}),
        ("post", f"{API}/runs/{RUN_ID}/end", {"end_time": 2**70}),
        ("post", f"{API}/runs/{RUN_ID}/inputs", {"dataset_version_id": 2**64}),
        (
            "post",
            f"{API}/runs/{RUN_ID}/artifacts",
            {"path": "a", "digest": "0" * 64, "size": 2**63},
        ),
        (
            "post",
            f"{API}/runs/{RUN_ID}/batch",
            {"metrics": {"key": ["a"], "value": [1], "step": [2**63], "timestamp": [1]}},
        ),
    ],
)
def test_huge_integers_are_invalid_input(
    api: TestClient, method: str, url: str, body: dict[str, Any]
) -> None:
    new_run(api)
    assert_error(api.request(method, url, json=body), 422, "INVALID_INPUT")


@pytest.mark.parametrize("version", ["²", "99999999999999999999", "-1", "1.0", "latest1"])
def test_bad_dataset_version_is_422(api: TestClient, version: str) -> None:
    response = api.get(f"{API}/datasets/default/credit/versions/{version}")
    error = assert_error(response, 422, "INVALID_INPUT")
    assert error["details"]["field"] == "version"


def test_run_with_a_huge_start_time_is_422(api: TestClient) -> None:
    response = api.post(
        f"{API}/runs",
        json={
            "id": RUN_ID,
            "project": "default",
            "experiment": "e",
            "name": "r",
            "start_time": 2**63,
        },
    )
    assert_error(response, 422, "INVALID_INPUT")


def test_page_token_with_a_huge_offset_is_422(api: TestClient) -> None:
    token = base64.urlsafe_b64encode(json.dumps({"offset": 2**64}).encode()).decode()
    response = api.post(f"{API}/runs/search", json={"page_token": token})
    assert_error(response, 422, "INVALID_INPUT")


def test_lone_surrogate_in_a_tag_is_422(api: TestClient) -> None:
    new_run(api)
    response = api.post(
        f"{API}/runs/{RUN_ID}/batch",
        content=b'{"tags": {"t": "\\ud800"}}',
        headers={"content-type": "application/json"},
    )
    assert_error(response, 422, "INVALID_INPUT")


def test_error_quoting_a_lone_surrogate_is_still_an_answer(api: TestClient) -> None:
    response = api.post(
        f"{API}/runs/search",
        content=b'{"filter": "tags.t = \'\\ud800\'"}',
        headers={"content-type": "application/json"},
    )
    error = assert_error(response, 422, "INVALID_INPUT")
    assert error["details"]["problems"][0]["field"] == "filter"


# -- unexpected failures -------------------------------------------------------------------------


class LeakyInternalError(Exception):
    pass


def test_unexpected_exception_is_500_with_a_reference_only(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings)

    @app.get("/boom")
    def boom() -> None:
        raise LeakyInternalError("password=hunter2 in /srv/secret.py")

    with caplog.at_level(logging.ERROR, logger="opsloop.server"):
        response = TestClient(app).get("/boom")
    error = assert_error(response, 500, "INTERNAL")
    ref = error["details"]["reference"]
    assert re.fullmatch(r"[0-9a-f]{12}", ref)
    assert error["message"] == f"internal server error (reference {ref})"
    for leak in ("LeakyInternalError", "hunter2", "secret", "Traceback", "boom"):
        assert leak not in response.text
    # Logged once, with the traceback, under the reference the client got.
    [record] = [r for r in caplog.records if ref in r.getMessage()]
    assert record.exc_info is not None and record.exc_info[0] is LeakyInternalError


def test_a_store_failure_inside_a_route_is_500(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(settings)

    def broken(*_: Any, **__: Any) -> Any:
        raise KeyError("column 'x'")

    monkeypatch.setattr(app.state.tracking, "list_projects", broken)
    error = assert_error(TestClient(app).get(f"{API}/projects"), 500, "INTERNAL")
    assert "column" not in json.dumps(error)


# -- a bounded fuzz: random bodies never make the server fail --------------------------------------

# Each field is drawn from plausible values first (so that one field at a time is wrong and
# the request reaches the store) and from any JSON at all; integers include the 64-bit edge,
# where SQLite stops, which plain integers() rarely reach.
_ints = st.sampled_from([0, 1, -1, 2**63 - 1, 2**63, -(2**63) - 1, 10**30]) | st.integers()
_json = st.recursive(
    st.none() | st.booleans() | _ints | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_FILTER_FIELDS = ["metrics.auc", "params.model", "tags.team", "status", "start_time"]
_FILTER_MORE_FIELDS = ["source.dirty", "attributes.name", "metrics.`a_b`"]
_FILTER_OPERATORS = ["=", "!=", "<>", ">", "<=", "like", "ilike", "in", "not", "is", "null"]
_FILTER_GLUE = ["and", "or", "(", ")", ","]
_FILTER_VALUES = ["'x'", "'%'", '"q"', "1", "-1.5e-3", "1e999", "9" * 22, "true"]
_FILTER_JUNK = ["`", "'", "\\", "\x00"]
_FILTER_WORDS = (
    _FILTER_FIELDS
    + _FILTER_MORE_FIELDS
    + _FILTER_OPERATORS
    + _FILTER_GLUE
    + _FILTER_VALUES
    + _FILTER_JUNK
)
_filters = (
    st.sampled_from(["metrics.auc > 0.5", "params.model = 'x'", "status != 'LOST'"])
    | st.lists(st.sampled_from(_FILTER_WORDS), max_size=10).map(" ".join)
    | st.text(max_size=40)
)
_order = st.sampled_from(["metrics.auc desc", "start_time", "params.model asc"]) | _filters
_search_bodies = (
    st.fixed_dictionaries(
        {},
        optional={
            "filter": st.none() | _filters | _json,
            "order_by": st.lists(_order, max_size=3) | _json,
            "max_results": _ints | _json,
            "experiment_ids": st.none() | st.lists(_ints, max_size=3) | _json,
            "page_token": st.none() | st.text(max_size=20) | _json,
        },
    )
    | _json
)
_values = (
    st.floats().map(lambda v: v if math.isfinite(v) else str(v))
    | st.sampled_from(["NaN", "Infinity", "-Infinity", "nan", "inf", "x"])
    | _ints
)
COLUMNS = ("key", "value", "step", "timestamp")
_points = st.lists(st.tuples(st.text(max_size=12), _values, _ints, _ints), max_size=5).map(
    lambda ps: {name: [p[i] for p in ps] for i, name in enumerate(COLUMNS)}
)
_strings = st.dictionaries(st.text(max_size=12), st.text(max_size=12), max_size=3)
_batch_bodies = (
    st.fixed_dictionaries(
        {},
        optional={
            "metrics": _points | _json,
            "params": _strings | _json,
            "tags": _strings | _json,
        },
    )
    | _json
)
_fuzz = hypothesis_settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _check_answer(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_error(response, response.status_code, response.json()["error"]["code"])


@pytest.fixture
def fuzz_api(settings: Settings) -> TestClient:
    client = TestClient(create_app(settings))
    new_run(client)
    return client


@_fuzz
@given(body=_search_bodies)
def test_fuzz_search(fuzz_api: TestClient, body: Any) -> None:
    response = fuzz_api.post(
        f"{API}/runs/search", content=json.dumps(body), headers={"content-type": "application/json"}
    )
    _check_answer(response)


@_fuzz
@given(body=_batch_bodies)
def test_fuzz_batch(fuzz_api: TestClient, body: Any) -> None:
    response = fuzz_api.post(
        f"{API}/runs/{RUN_ID}/batch",
        content=json.dumps(body),
        headers={"content-type": "application/json"},
    )
    _check_answer(response)
