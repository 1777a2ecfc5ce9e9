"""The metadata database: migrations, automatic upgrade, and the unit of work."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from opsloop.store.db import Database, RetryableConflict, head_revision
from opsloop.store.orm import Base


def _schema_diff(db: Database) -> list[object]:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with db.engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'meta.db'}")
    else:
        database = Database(request.getfixturevalue("postgres_url"))
    yield database
    database.dispose()


def test_migrations_build_exactly_the_orm_schema(db: Database) -> None:
    assert db.current_revision() is None
    db.ensure_ready()
    assert db.current_revision() == head_revision()
    assert _schema_diff(db) == []


def test_head_constant_matches_the_migration_scripts() -> None:
    from alembic.script import ScriptDirectory

    cfg = Database("sqlite://")._alembic_config()
    assert ScriptDirectory.from_config(cfg).get_current_head() == head_revision()


def test_a_store_behind_the_schema_is_refused_without_upgrade(tmp_path: Path) -> None:
    from opsloop.errors import StoreUnavailable

    db = Database(f"sqlite:///{tmp_path / 'm.db'}", upgrade=False)
    with pytest.raises(StoreUnavailable, match="opsloop db upgrade"):
        db.ensure_ready()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    db.ensure_ready()
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000


def test_write_commits_and_read_does_not(db: Database) -> None:
    db.write(lambda s: s.execute(text(
        "INSERT INTO projects (name, description, created_at) VALUES ('p', '', 1)")))
    assert db.read(lambda s: s.execute(text("SELECT count(*) FROM projects")).scalar()) == 1

    def failing(s: object) -> None:
        s.execute(text(  # type: ignore[attr-defined]
            "INSERT INTO projects (name, description, created_at) VALUES ('q', '', 1)"))
        raise ValueError("business rule broken")

    with pytest.raises(ValueError, match="business rule"):
        db.write(failing)
    assert db.read(lambda s: s.execute(text("SELECT count(*) FROM projects")).scalar()) == 1


def test_write_retries_a_retryable_conflict(db: Database) -> None:
    attempts = []

    def flaky(s: object) -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise RetryableConflict("lost a race")
        return "done"

    assert db.write(flaky) == "done" and len(attempts) == 3


def _migrate(url: str) -> str | None:
    db = Database(url)
    db.ensure_ready()
    revision = db.current_revision()
    db.dispose()
    return revision


def test_concurrent_first_use_migrates_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    with mp.get_context("spawn").Pool(4) as pool:
        revisions = pool.map(_migrate, [url] * 4)
    assert revisions == [head_revision()] * 4
