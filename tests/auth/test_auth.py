"""Auth on, in-process: tokens, roles per project, approvals, and the append-only audit log.

Permissions are checked in the service layer, so these hold for the embedded client as
much as for the REST API (``tests/server/test_registry_api.py`` covers the HTTP edge).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text

from opsloop.auth import LocalAuth, Permission, Principal, Role
from opsloop.client import Client
from opsloop.config import Settings
from opsloop.errors import Conflict, NotFound, PermissionDenied, Unauthenticated
from opsloop.registry.entities import PromotionStatus
from opsloop.store import open_database


@pytest.fixture(params=["sqlite", "postgres"])
def auth_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    base = Settings(home=tmp_path / "home", capture_source=False, auth=True)
    if request.param == "postgres":
        return base.model_copy(update={"database_url": request.getfixturevalue("postgres_url")})
    return base


@pytest.fixture
def admin_token(auth_settings: Settings) -> str:
    token = LocalAuth(open_database(auth_settings.database_url)).bootstrap("root")
    assert token.secret is not None
    return token.secret


@pytest.fixture
def as_user(auth_settings: Settings, admin_token: str) -> Iterator[Any]:
    """``as_user(name, roles)`` → a Client acting as a new user with those roles."""
    clients: list[Client] = []
    admin = Client(auth_settings.model_copy(update={"token": admin_token}))
    clients.append(admin)

    def make(name: str, roles: dict[str, list[str]] | None = None) -> Client:
        if name == "root":
            return admin
        admin.auth.create_user(name, roles=roles or {})
        secret = admin.auth.create_token(name).secret
        c = Client(auth_settings.model_copy(update={"token": secret}))
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


def _folder(tmp_path: Path) -> Path:
    from sklearn.linear_model import LinearRegression

    from opsloop.registry import save_model_files

    X = np.arange(8.0).reshape(4, 2)
    out = tmp_path / "saved"
    if not out.exists():
        save_model_files(LinearRegression().fit(X, X[:, 0]), out)
    return out


def test_without_a_valid_token_nothing_works(auth_settings: Settings, admin_token: str) -> None:
    with pytest.raises(Unauthenticated, match="requires a token"):
        Client(auth_settings)
    with pytest.raises(Unauthenticated, match="malformed"):
        Client(auth_settings.model_copy(update={"token": "nope"}))
    with pytest.raises(Unauthenticated, match="not known"):
        Client(auth_settings.model_copy(update={"token": "olp_" + "x" * 43}))
    with Client(auth_settings.model_copy(update={"token": admin_token})) as c:
        assert c.auth.whoami().name == "root" and c.auth.whoami().is_admin


def test_tokens_are_stored_hashed_expire_and_revoke(auth_settings: Settings,
                                                    admin_token: str, as_user: Any) -> None:
    import time

    ada = as_user("ada", {"credit": ["data-scientist"]})
    own = ada.auth.create_token(name="laptop")
    assert own.secret and own.secret.startswith("olp_") and own.secret not in repr(own)
    listed = ada.auth.list_tokens()
    assert {t.name for t in listed} >= {"laptop"} and all(t.secret is None for t in listed)
    db = open_database(auth_settings.database_url)
    with db.engine.connect() as conn:
        stored = [r[0] for r in conn.execute(text("SELECT secret_hash FROM tokens"))]
    assert own.secret not in stored and len(stored[0]) == 64
    ada.auth.revoke_token(own.id)
    with pytest.raises(Unauthenticated, match="revoked"):
        Client(auth_settings.model_copy(update={"token": own.secret}))
    soon = ada.auth.create_token(expires_at=int(time.time() * 1000) + 300)
    time.sleep(0.4)
    with pytest.raises(Unauthenticated, match="expired"):
        Client(auth_settings.model_copy(update={"token": soon.secret}))
    with pytest.raises(PermissionDenied, match=r"users\.manage"):
        ada.auth.create_token("root")  # tokens for someone else
    token = ada.settings.token_value
    as_user("root").auth.set_disabled("ada")
    with pytest.raises(Unauthenticated, match="disabled"):
        Client(auth_settings.model_copy(update={"token": token}))


def test_roles_are_scoped_per_project_in_the_service_layer(as_user: Any,
                                                           tmp_path: Path) -> None:
    ada = as_user("ada", {"credit": ["data-scientist"]})
    eve = as_user("eve", {"fraud": ["data-scientist"]})
    viewer = as_user("vic", {"*": ["viewer"]})
    run = ada.create_run("exp", project="credit")
    ada.models.register("risk", _folder(tmp_path), project="credit", run_id=run.id)
    assert viewer.models.resolve("risk/1", project="credit").version == 1
    with pytest.raises(PermissionDenied, match="'view' on project 'credit'"):
        eve.models.resolve("risk/1", project="credit")
    with pytest.raises(PermissionDenied, match="view"):
        eve.get_run(run.id)
    with pytest.raises(PermissionDenied, match=r"runs\.write"):
        eve.log_batch(run.id, params={"x": 1})
    with pytest.raises(PermissionDenied, match=r"models\.register"):
        viewer.models.register("risk", _folder(tmp_path), project="credit")
    with pytest.raises(PermissionDenied, match=r"runs\.write"):
        viewer.create_run("exp", project="credit")
    with pytest.raises(PermissionDenied):
        eve.comment_run(run.id, "hi")
    assert [p.name for p in eve.transport.list_projects()] == []
    assert [e.project for e in viewer.list_experiments(all_projects=True)] == ["credit"]
    with pytest.raises(PermissionDenied, match=r"audit\.read"):
        ada.auth.audit(project="credit")


def test_approvals_follow_the_policy_and_no_one_approves_their_own(as_user: Any,
                                                                   tmp_path: Path) -> None:
    ds = as_user("ada", {"credit": ["data-scientist"]})
    biz = as_user("bea", {"credit": ["business"]})
    biz2 = as_user("ben", {"credit": ["business"]})
    ops = as_user("oz", {"credit": ["ml-engineer"]})
    ds.models.register("risk", _folder(tmp_path), project="credit")
    with pytest.raises(Conflict, match="protected"):
        ds.models.set_alias("risk", "champion", 1, project="credit")
    with pytest.raises(PermissionDenied, match=r"models\.admin"):
        ds.models.set_alias("risk", "champion", 1, project="credit", force=True)
    req = ds.models.promote("risk", 1, to="champion", project="credit", reason="auc +2%")
    with pytest.raises(PermissionDenied, match=r"models\.approve"):
        ds.models.approve(req.id)
    from opsloop.registry.entities import AliasPolicy, ModelPolicy

    ops.models.update("risk", project="credit", policy=ModelPolicy(protected={
        "champion": AliasPolicy(approvals=2, roles=[Role.BUSINESS])}))
    req = ds.models.promote("risk", 1, to="champion", project="credit")
    assert req.policy.approvals == 2
    with pytest.raises(Conflict, match="business"):
        ops.models.approve(req.id)
    assert biz.models.approve(req.id, "ok").status is PromotionStatus.PENDING
    with pytest.raises(Conflict, match="already decided"):
        biz.models.approve(req.id)
    assert biz2.models.approve(req.id).status is PromotionStatus.APPLIED
    assert ds.models.resolve("risk@champion", project="credit").version == 1
    # The requester cannot approve their own request, whatever their roles.
    ops.models.register("risk", _folder(tmp_path), project="credit")
    mine = ops.models.promote("risk", 2, to="staging-approved", project="credit")
    assert mine.status is PromotionStatus.APPLIED  # unprotected: no approval needed
    ops.models.update("risk", project="credit", policy=ModelPolicy())
    own = ops.models.promote("risk", 2, to="champion", project="credit")
    with pytest.raises(Conflict, match="your own"):
        ops.models.approve(own.id)
    events = as_user("root").auth.audit(project="credit", object_type="promotion_request")
    assert {"promotion.request", "promotion.approve", "promotion.apply"} <= {
        e.action for e in events}
    assert all(e.actor in {"ada", "bea", "ben", "oz"} for e in events)


def test_audit_log_is_append_only_in_the_database(auth_settings: Settings,
                                                  admin_token: str) -> None:
    db = open_database(auth_settings.database_url)
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_events")).scalar_one() >= 2
    for statement in ("UPDATE audit_events SET actor = 'mallory'", "DELETE FROM audit_events"):
        with db.engine.begin() as conn, pytest.raises(Exception, match="append-only"):
            conn.execute(text(statement))
    with db.engine.connect() as conn:
        actors = {r[0] for r in conn.execute(text("SELECT actor FROM audit_events"))}
    assert "mallory" not in actors


def test_roles_map_to_the_documented_permissions() -> None:
    p = Principal(name="x", roles={"*": [Role.BUSINESS], "credit": [Role.DEVOPS]})
    assert p.can(Permission.MODELS_APPROVE, "fraud")
    assert p.can(Permission.MODELS_DEPLOY, "credit") and not p.can(Permission.MODELS_DEPLOY, "x")
    assert not p.can(Permission.MODELS_REGISTER, "credit")
    assert Principal(name="a", roles={"*": [Role.ADMIN]}).is_admin


def test_user_management_needs_users_manage(as_user: Any) -> None:
    ada = as_user("ada", {"*": ["ml-engineer"]})
    with pytest.raises(PermissionDenied, match=r"users\.manage"):
        ada.auth.create_user("mallory", roles={"*": ["admin"]})
    with pytest.raises(PermissionDenied, match=r"users\.manage"):
        ada.auth.grant("ada", "admin")
    admin = as_user("root")
    assert admin.auth.grant("ada", "business", "credit").roles["credit"] == [Role.BUSINESS]
    assert "credit" not in admin.auth.revoke_role("ada", "business", "credit").roles
    with pytest.raises(NotFound):
        admin.auth.grant("nobody", "viewer")
    with pytest.raises(PermissionDenied, match="bootstrap"):
        LocalAuth(admin.transport.db).bootstrap("again")  # type: ignore[attr-defined]
