"""``opsloop db``: manage the metadata store schema."""

from __future__ import annotations

import typer
from rich.text import Text

from opsloop.cli._common import console, friendly_errors

app = typer.Typer(help="Manage the metadata store schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Apply pending migrations to OPSLOOP_DATABASE_URL (safe to run again)."""
    from opsloop.config import Settings
    from opsloop.store.db import Database, head_revision

    with friendly_errors():
        db = Database(Settings.load().database_url)
        try:
            before = db.current_revision()
            db.upgrade()
        finally:
            db.dispose()
    console().print(Text(f"{db.safe_url}: schema {before or 'empty'} -> {head_revision()}"))


@app.command("current")
def current() -> None:
    """Print the schema revision of the metadata store (and whether it is up to date)."""
    from opsloop.config import Settings
    from opsloop.store.db import Database, head_revision

    with friendly_errors():
        db = Database(Settings.load().database_url, upgrade=False)
        try:
            rev = db.current_revision()
        finally:
            db.dispose()
    head = head_revision()
    state = (
        "up to date"
        if rev == head
        else f"behind: the current schema is {head}; run opsloop db upgrade"
    )
    console().print(Text(f"{db.safe_url}: {rev or 'empty'} ({state})"))
