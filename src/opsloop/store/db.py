"""The metadata database: engine setup, the unit of work, and automatic migrations.

:meth:`Database.write` is the only place in opsloop that commits. It runs a function in
one transaction and retries it with backoff when the backend reports a transient
conflict (SQLite's "database is locked", PostgreSQL serialization failures and
deadlocks), so concurrent writers never see those errors.

SQLite runs in WAL mode with ``synchronous=NORMAL`` (durable across process crashes; an
OS crash may lose the last transactions, see https://www.sqlite.org/wal.html) and write
transactions start with ``BEGIN IMMEDIATE`` so that two writers never deadlock on a
lock upgrade.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from opsloop.errors import ConfigError, StoreUnavailable, import_extra

__all__ = ["Database", "open_database"]

T = TypeVar("T")
log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")


class RetryableConflict(Exception):
    """Raised by a service to ask the unit of work to run it again (e.g. a lost race)."""


class Database:
    """One metadata database: an engine, a unit of work, and its migrations.

    Args:
        url: SQLAlchemy URL (``sqlite:///path`` or ``postgresql://...``).
        upgrade: apply pending migrations on first use (default); ``False`` only checks.
    """

    def __init__(self, url: str, *, upgrade: bool = True) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine = _make_engine(url)
        self._upgrade = upgrade
        self._ready = threading.Event()
        self._lock = threading.Lock()

    # -- unit of work -----------------------------------------------------------------

    def write(self, fn: Callable[[Session], T], *, retries: int = 12) -> T:
        """Run ``fn(session)`` in one transaction and commit it.

        Transient conflicts (locked database, serialization failure, deadlock, a
        :class:`RetryableConflict` or an ``IntegrityError`` raised while ``fn`` raced
        another writer) roll back and run ``fn`` again after an exponential backoff
        with jitter. Anything else rolls back and propagates.
        """
        self.ensure_ready()
        delay = 0.005
        for attempt in range(retries + 1):
            try:
                with Session(self.engine, expire_on_commit=False) as session:
                    session.connection(execution_options={"opsloop_write": True})
                    result = fn(session)
                    session.commit()
                    return result
            except (OperationalError, DBAPIError, RetryableConflict) as exc:
                if attempt == retries or not _is_transient(exc):
                    raise _unavailable(exc) from exc
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")  # pragma: no cover

    def read(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn(session)`` in a read-only transaction (never commits)."""
        self.ensure_ready()
        delay = 0.005
        for attempt in range(8):
            try:
                with Session(self.engine) as session:
                    return fn(session)
            except OperationalError as exc:
                if attempt == 7 or not _is_transient(exc):
                    raise _unavailable(exc) from exc
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- migrations -------------------------------------------------------------------

    def ensure_ready(self) -> None:
        """Check the schema once per process and upgrade it if it is behind."""
        if self._ready.is_set():
            return
        with self._lock:
            if self._ready.is_set():  # another thread finished while we waited
                return
            if self.current_revision() != head_revision():
                if not self._upgrade:
                    raise StoreUnavailable(
                        f"the metadata store at {self.safe_url} is not at the current schema",
                        hint="run: opsloop db upgrade")
                self.upgrade()
            self._ready.set()

    def current_revision(self) -> str | None:
        """The Alembic revision the database is at (``None`` for an empty database)."""
        try:
            with self.engine.connect() as conn:
                row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
                return None if row is None else str(row[0])
        except (OperationalError, DBAPIError) as exc:
            if _missing_table(exc):
                return None
            raise _unavailable(exc) from exc

    def upgrade(self, revision: str = "head") -> None:
        """Apply migrations up to ``revision``, holding a cross-process lock."""
        from alembic import command

        with self._migration_lock():
            command.upgrade(self._alembic_config(), revision)

    def _alembic_config(self) -> Any:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["engine"] = self.engine
        return cfg

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        if self.is_sqlite:
            path = self.engine.url.database
            lock_path = Path(path + ".migrate.lock") if path and path != ":memory:" else None
            if lock_path is None:
                yield
                return
            with open(lock_path, "a") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
        else:
            with self.engine.connect() as conn:
                # An arbitrary constant key: "opsloop" in ASCII.
                conn.execute(text("SELECT pg_advisory_lock(111112115108111111)"))
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(111112115108111111)"))
                    conn.commit()

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden, for messages and logs."""
        return self.engine.url.render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()


def head_revision() -> str:
    """The newest migration shipped with this version of opsloop."""
    return _HEAD


_HEAD = "0002"  # bump with every new migration; a test checks it against Alembic's head


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        database = url.split("///", 1)[1] if "///" in url else ""
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    if url.startswith("postgresql"):
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://"):]
        import_extra("psycopg", extra="postgres", feature="a PostgreSQL metadata store")
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    raise ConfigError(f"unsupported database URL {url!r}",
                      hint="use sqlite:///path/to/file.db or postgresql://user@host/db")


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module; _sqlite_on_begin emits BEGIN.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_on_begin(conn: Any) -> None:
    write = conn.get_execution_options().get("opsloop_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


_TRANSIENT = ("database is locked", "database table is locked", "deadlock detected",
              "could not serialize", "could not obtain lock", "server closed the connection")


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, RetryableConflict | IntegrityError):
        return True
    msg = str(exc).lower()
    return any(t in msg for t in _TRANSIENT)


def _missing_table(exc: BaseException) -> bool:
    msg = str(exc).lower()
    return "no such table" in msg or ("does not exist" in msg and "alembic_version" in msg)


def _unavailable(exc: BaseException) -> BaseException:
    if isinstance(exc, RetryableConflict | IntegrityError):
        return exc
    msg = str(exc).lower()
    if "connection" in msg or "could not connect" in msg or "unable to open" in msg:
        return StoreUnavailable(f"cannot reach the metadata store: {str(exc).splitlines()[0]}",
                                hint="check OPSLOOP_DATABASE_URL and that the server is up")
    return exc


_cache: dict[str, Database] = {}
_cache_lock = threading.Lock()


def open_database(url: str) -> Database:
    """The process-wide :class:`Database` for ``url`` (engines are reused, not per call)."""
    with _cache_lock:
        db = _cache.get(url)
        if db is None:
            db = _cache[url] = Database(url)
        return db


def _after_fork() -> None:
    # A child process must not reuse the parent's pooled connections.
    for db in _cache.values():
        db.engine.dispose(close=False)
    _cache.clear()


os.register_at_fork(after_in_child=_after_fork)
