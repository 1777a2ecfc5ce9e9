"""The registry contract: every test runs against SQLite, PostgreSQL and HTTP (over SQLite).

Through :class:`opsloop.Client` with auth off (the local user is an admin); permission
rules with auth on are in ``tests/auth`` and ``tests/server/test_registry_api.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from opsloop.errors import AlreadyExists, Conflict, InvalidInput, NotFound, UntrustedFormat
from opsloop.registry import save_model_files
from opsloop.registry.entities import AliasPolicy, ModelPolicy, PromotionStatus

X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 2.0]])
XF = pd.DataFrame(X, columns=["a", "b"])


def _model(scale: float = 2.0) -> LinearRegression:
    return LinearRegression().fit(XF, scale * X[:, 0])


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    out = tmp_path / "saved"
    save_model_files(_model(), out, input_example=XF)
    return out


def test_register_records_lineage_and_numbers_versions(client: Any) -> None:
    run = client.create_run("credit", params={"alpha": 0.5})
    client.log_metric(run.id, "auc", 0.91)
    train = client.log_dataset(XF, name="train",
                               run_id=run.id)
    evaluation = client.log_dataset(pd.DataFrame(X[:2], columns=["a", "b"]), name="eval")
    client.end_run(run.id)
    v1 = client.models.register("credit-risk", _model(), run_id=run.id,
                                input_example=XF,
                                description="baseline", tags={"team": "risk"},
                                datasets=[(evaluation.id, "eval")])
    assert (v1.model, v1.version, v1.flavor, v1.run_id) == ("credit-risk", 1, "sklearn", run.id)
    assert v1.params == {"alpha": "0.5"} and v1.metrics == {"auc": 0.91}
    assert {(d.dataset, d.role) for d in v1.datasets} == {("train", "train"), ("eval", "eval")}
    assert [d.digest for d in v1.datasets if d.role == "train"] == [train.digest]
    assert v1.signature is not None and [c.name for c in v1.signature.inputs] == ["a", "b"]
    assert set(v1.files) == {"model.skops", "opsloop-model.json"}
    assert v1.files["opsloop-model.json"].sha256 == v1.manifest_digest
    assert v1.environment["python"] and "scikit-learn" in v1.environment["packages"]
    assert (v1.description, v1.tags, v1.uri) == ("baseline", {"team": "risk"},
                                                 "models:/default/credit-risk/1")
    v2 = client.models.register("credit-risk", _model(3.0))
    assert v2.version == 2 and v2.run_id is None and v2.datasets == []
    assert [v.version for v in client.models.versions("credit-risk")] == [1, 2]
    model = client.models.get("credit-risk")
    assert model.latest_version == 2 and model.owners and model.created_by


def test_versions_are_immutable_but_description_and_tags_edit(client: Any) -> None:
    client.models.register("m", _model())
    v = client.models.update_version("m", 1, description="better words", tags={"k": "v"})
    assert (v.description, v.tags) == ("better words", {"k": "v"})
    assert client.models.get_version("m", 1).flavor == "sklearn"
    events = client.auth.audit(object_type="model_version", action="model_version.update")
    assert events[0].before == {"description": "", "tags": {}, "status": "ready"}
    assert events[0].after["description"] == "better words"


def test_load_by_alias_version_and_uri_verifies_digests(client: Any, folder: Path) -> None:
    client.models.register("doubler", folder)
    client.models.set_alias("doubler", "staging", 1, reason="smoke")
    data = pd.DataFrame([[5.0, 0.0]], columns=["a", "b"])
    for ref in ("doubler@staging", "doubler/1", "doubler/latest", "models:/doubler/1",
                "models:/default/doubler@staging"):
        loaded = client.models.load(ref)
        assert loaded.predict(data).round(6).tolist() == [10.0], ref
        assert loaded.version.version == 1
    # A cached file changed on disk is refused before it is parsed.
    cached = client.models.download("doubler/1")
    (cached / "model.skops").write_bytes(b"tampered")
    from opsloop.errors import DigestMismatch

    with pytest.raises(DigestMismatch, match=r"model\.skops"):
        client.models.load("doubler@staging")


def test_register_a_single_file_and_refuse_untrusted_pickles(client: Any,
                                                              tmp_path: Path) -> None:
    import joblib

    saved = tmp_path / "m"
    save_model_files(_model(), saved)
    v = client.models.register("one-file", saved / "model.skops")
    assert v.flavor == "sklearn"
    pkl = tmp_path / "model.pkl"
    joblib.dump(_model(), pkl)
    with pytest.raises(UntrustedFormat, match="pickle"):
        client.models.register("pickled", pkl)
    converted = client.models.register("pickled", pkl, trusted=True)
    assert converted.flavor == "sklearn"  # stored in a safe format, not as a pickle


def test_aliases_move_atomically_with_history(client: Any, folder: Path) -> None:
    for _ in range(3):
        client.models.register("m", folder)
    assert client.models.set_alias("m", "prod", 1) is None
    assert client.models.set_alias("m", "prod", 2, reason="better auc") == 1
    with pytest.raises(Conflict, match="points at 2"):
        client.models.set_alias("m", "prod", 3, expected_version=1)
    assert client.models.set_alias("m", "prod", 3, expected_version=2) == 2
    with pytest.raises(Conflict):
        client.models.set_alias("m", "new", 1, expected_version=2)
    assert client.models.set_alias("m", "new", 1, expected_version=None) is None
    assert client.models.get("m").aliases == {"new": 1, "prod": 3}
    assert client.models.get_version("m", 3).aliases == ["prod"]
    assert client.models.delete_alias("m", "new") == 1
    history = client.models.alias_history("m", "prod")
    assert [(e.from_version, e.to_version) for e in history] == [(None, 1), (1, 2), (2, 3)]
    assert history[1].reason == "better auc" and history[1].actor
    with pytest.raises(NotFound):
        client.models.resolve("m@new")


def test_bad_input_is_refused_with_the_rule(client: Any, folder: Path) -> None:
    client.models.register("m", folder)
    for bad in ("../x", "a/b", "x@y", ""):
        with pytest.raises(InvalidInput):
            client.models.register(bad, folder)
    for alias in ("Prod", "1", "latest", "a b", "x" * 65):
        with pytest.raises(InvalidInput, match="alias"):
            client.models.set_alias("m", alias, 1)
    for ref in ("m", "m/0", "m/x", "m@", "a/b/c/d", "models:/", "m@Prod"):
        with pytest.raises(InvalidInput, match=r"reference|alias"):
            client.models.resolve(ref)
    with pytest.raises(InvalidInput, match="description"):
        client.models.update_version("m", 1, description="x" * 20_001)
    with pytest.raises(InvalidInput, match="tags"):
        client.models.update_version("m", 1, tags={f"k{i}": "v" for i in range(101)})
    with pytest.raises(NotFound):
        client.models.set_alias("m", "prod", 9)
    with pytest.raises(NotFound):
        client.models.get("nope")
    assert [v.version for v in client.models.versions("m")] == [1]


def test_archive_and_delete_rules(client: Any, folder: Path) -> None:
    for _ in range(3):
        client.models.register("m", folder)
    client.models.set_alias("m", "prod", 2)
    with pytest.raises(Conflict, match="alias prod"):
        client.models.delete_version("m", 2)
    with pytest.raises(Conflict, match="aliases"):
        client.models.archive("m", 2)
    assert client.models.archive("m", 3).status == "archived"
    with pytest.raises(Conflict, match="archived"):
        client.models.set_alias("m", "prod", 3)
    assert client.models.resolve("m/latest").version == 2  # archived ones are skipped
    assert [v.version for v in client.models.versions("m", include_archived=False)] == [1, 2]
    client.models.delete_version("m", 1)
    v4 = client.models.register("m", folder)
    assert v4.version == 4  # numbers are never reused
    assert [v.version for v in client.models.versions("m")] == [2, 3, 4]


def test_protected_alias_needs_an_approved_request(client: Any, folder: Path) -> None:
    client.models.register("m", folder)
    client.models.register("m", folder)
    with pytest.raises(Conflict, match="protected"):
        client.models.set_alias("m", "champion", 1)
    req = client.models.promote("m", 1, to="champion", reason="first champion")
    assert req.status is PromotionStatus.PENDING and req.from_version is None
    assert req.missing == ["1 more approval(s)"]
    assert [r.id for r in client.models.requests("m", status="pending")] == [req.id]
    done = client.models.approve(req.id, "ship it")
    assert done.status is PromotionStatus.APPLIED
    assert done.approvals[0].comment == "ship it"
    assert client.models.resolve("m@champion").version == 1
    assert client.models.alias_history("m", "champion")[0].request_id == req.id
    # Rejection closes a request; nothing moves.
    second = client.models.promote("m", 2, to="champion")
    rejected = client.models.reject(second.id, "auc too low")
    assert rejected.status is PromotionStatus.REJECTED
    with pytest.raises(Conflict, match="rejected"):
        client.models.approve(second.id)
    assert client.models.resolve("m@champion").version == 1
    # Unprotected aliases promote at once; an admin may force a protected one.
    assert client.models.promote("m", 2, to="challenger").status is PromotionStatus.APPLIED
    assert client.models.set_alias("m", "champion", 2, force=True) == 1


def test_two_requests_for_one_alias_one_wins(client: Any, folder: Path) -> None:
    for _ in range(3):
        client.models.register("m", folder)
    first = client.models.promote("m", 2, to="champion")
    second = client.models.promote("m", 3, to="champion")
    assert client.models.approve(first.id).status is PromotionStatus.APPLIED
    with pytest.raises(Conflict, match="lost a race"):
        client.models.approve(second.id)
    assert client.models.get_request(second.id).status is PromotionStatus.STALE
    assert client.models.resolve("m@champion").version == 2


def test_policy_gates_and_roles(client: Any, folder: Path) -> None:
    client.models.register("m", folder)
    policy = ModelPolicy(protected={"champion": AliasPolicy(approvals=1, gates=["quality"])})
    assert client.models.update("m", policy=policy).policy == policy
    req = client.models.promote("m", 1, to="champion")
    after = client.models.approve(req.id)
    assert after.status is PromotionStatus.PENDING and after.missing == ["gate 'quality' not run"]
    failed = client.models.record_gate(req.id, "quality", passed=False, details={"auc": 0.5})
    assert failed.missing == ["gate 'quality' failed"]
    passed = client.models.record_gate(req.id, "quality", passed=True, details={"auc": 0.9})
    assert passed.status is PromotionStatus.APPLIED and passed.gates["quality"].passed
    strict = ModelPolicy(protected={"champion": AliasPolicy(approvals=1, roles=["business"])})
    client.models.update("m", policy=strict)
    client.models.register("m", folder)
    req2 = client.models.promote("m", 2, to="champion")
    # The local user is an admin, which is not the business role the policy asks for.
    with pytest.raises(Conflict, match="business"):
        client.models.approve(req2.id)
    assert client.models.cancel(req2.id).status is PromotionStatus.CANCELLED


def test_comments_and_owners(client: Any, folder: Path) -> None:
    client.models.register("m", folder)
    run = client.create_run("credit")
    client.comment_run(run.id, "looks overfit")
    client.models.comment("m", 1, "approved by risk committee")
    assert [c.text for c in client.run_comments(run.id)] == ["looks overfit"]
    comments = client.models.comments("m", 1)
    assert comments[0].text == "approved by risk committee" and comments[0].author
    with pytest.raises(InvalidInput):
        client.models.comment("m", 1, " ")
    with pytest.raises(NotFound):
        client.models.comment("m", 7, "no such version")
    assert client.models.update("m", owners=["ada", "bob"]).owners == ["ada", "bob"]
    with pytest.raises(AlreadyExists):
        client.models.create("m")
    assert client.models.create("m", exist_ok=True).name == "m"


def test_every_change_is_audited(client: Any, folder: Path) -> None:
    client.models.register("m", folder)
    client.models.set_alias("m", "prod", 1, reason="go")
    actions = [e.action for e in client.auth.audit(project="default")]
    assert actions[:3] == ["alias.set", "model_version.create", "model.create"]
    event = client.auth.audit(action="alias.set")[0]
    assert (event.object_id, event.before, event.after, event.reason) == (
        "default/m@prod", {"version": None}, {"version": 1}, "go")
    assert event.actor and event.at > 0


def test_oversized_metadata_is_refused_and_nothing_is_stored(client: Any, folder: Path) -> None:
    from opsloop.registry import ModelVersionSpec, read_manifest

    manifest = read_manifest(folder)
    blob = client.transport.put_blob_file(folder / "opsloop-model.json")
    files = dict(manifest.files)
    for path in files:
        client.transport.put_blob_file(folder / path)
    from opsloop.registry import FileDigest

    files["opsloop-model.json"] = FileDigest(sha256=blob.digest, size=blob.size)
    spec = ModelVersionSpec(project="default", model="big", flavor="sklearn", files=files,
                            manifest_digest=blob.digest,
                            environment={"packages": {f"p{i}": "1" * 100 for i in range(20_000)}})
    with pytest.raises(InvalidInput, match="environment"):
        client.registry_transport.create_version(spec)
    bad_flavor = spec.model_copy(update={"environment": {}, "flavor": "tensorflow-pickle"})
    with pytest.raises(InvalidInput, match="flavor"):
        client.registry_transport.create_version(bad_flavor)
    traversal = spec.model_copy(update={"environment": {}, "files": {
        **files, "../../etc/passwd": FileDigest(sha256=blob.digest, size=blob.size)}})
    with pytest.raises(InvalidInput):
        client.registry_transport.create_version(traversal)
    missing = spec.model_copy(update={"environment": {}, "files": {
        **files, "extra.bin": FileDigest(sha256="0" * 64, size=3)}})
    with pytest.raises(NotFound, match="blob"):
        client.registry_transport.create_version(missing)
    with pytest.raises(NotFound):
        client.models.get("big")


def test_download_never_overwrites_user_files(client: Any, folder: Path,
                                              tmp_path: Path) -> None:
    client.models.register("m", folder)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "precious.txt").write_text("keep me")
    with pytest.raises(InvalidInput, match="empty"):
        client.models.download("m/1", mine)
    assert (mine / "precious.txt").read_text() == "keep me"
    out = client.models.download("m/1", tmp_path / "fresh")
    assert (out / "opsloop-model.json").is_file()
    assert client.models.download("m/1", out) == out  # the same version: reused


def test_bad_enum_values_are_invalid_input(client: Any, folder: Path) -> None:
    client.models.register("m", folder)
    with pytest.raises(InvalidInput, match="status"):
        client.models.requests(status="bogus")
    with pytest.raises(InvalidInput, match="kind"):
        client.auth.create_user("robo", kind="robot")
