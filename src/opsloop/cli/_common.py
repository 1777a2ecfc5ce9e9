"""Shared pieces of the CLI: the client, tables, JSON output and error display.

User data (run names, params, failure messages, paths) is printed as plain text, never
as Rich markup: a param value such as ``[/red]`` must show as written, not crash.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from opsloop.errors import OpsloopError

if TYPE_CHECKING:
    from opsloop.client import Client
    from opsloop.config import Settings


def console() -> Console:
    """The console for output, made per use so that it sizes itself to the terminal (and
    ``COLUMNS``) of this invocation, not to the environment at import time."""
    # emoji=False: a name such as "exp:rocket:" is text, not a picture.
    return Console(emoji=False, highlight=False)


def err_console() -> Console:
    """The console for errors, on stderr."""
    return Console(stderr=True, emoji=False, highlight=False)


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ProjectOpt = Annotated[
    str | None,
    typer.Option("--project", "-p", help="Project (default: OPSLOOP_PROJECT or 'default')."),
]

__all__ = [
    "JsonOpt",
    "ProjectOpt",
    "console",
    "err_console",
    "escape",
    "fmt_time",
    "fmt_value",
    "friendly_errors",
    "open_client",
    "print_json",
    "print_table",
]


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Show opsloop errors as one readable message and exit 1, not a traceback."""
    try:
        yield
    except OpsloopError as exc:
        err_console().print(f"[bold red]error:[/] {escape(exc.message)}")
        if exc.hint:
            err_console().print(f"[yellow]hint:[/] {escape(exc.hint)}")
        raise typer.Exit(1) from None


@contextmanager
def open_client(project: str | None = None, *,
                settings: Settings | None = None) -> Iterator[Client]:
    """A client on ``settings`` (default: from the environment), closed on exit; errors
    as above."""
    from opsloop.client import Client

    with friendly_errors():
        c = Client(settings) if settings is not None else Client(project=project)
        try:
            yield c
        finally:
            c.close()


def fmt_time(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def _jsonable(value: Any) -> Any:
    """NaN and the infinities as the strings the REST API uses: the output stays JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(_jsonable(data), indent=2, default=str, allow_nan=False) + "\n")


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=Text(title), header_style="bold cyan", title_justify="left")
    for col in columns:
        table.add_column(Text(col), overflow="fold")
    for row in rows:
        table.add_row(*(Text(fmt_value(v)) for v in row))
    console().print(table)
