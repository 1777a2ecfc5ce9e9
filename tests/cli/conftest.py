"""What every CLI test shares: a clean environment and helpers to run ``opsloop``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from opsloop.cli import app
from opsloop.config import Settings


def cli_env(home: Path) -> dict[str, str]:
    # COLUMNS: Rich sizes tables to it; wide enough that no cell wraps.
    return {"OPSLOOP_HOME": str(home), "OPSLOOP_CAPTURE_SOURCE": "false", "COLUMNS": "250"}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No OPSLOOP_* variable or opsloop.toml of the caller leaks into a command."""
    for name in list(os.environ):
        if name.startswith("OPSLOOP_") or name in ("FORCE_COLOR", "TTY_COMPATIBLE"):
            monkeypatch.delenv(name)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)


def invoke(home: Path, *args: str, input: str | None = None, **env: str) -> Result:
    result = CliRunner().invoke(app, list(args), input=input, env={**cli_env(home), **env})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback is always a bug: show it, not just exit 1
    return result


def ok(home: Path, *args: str, input: str | None = None, **env: str) -> Result:
    result = invoke(home, *args, input=input, **env)
    assert result.exit_code == 0, result.output
    return result


def rows(output: str) -> list[list[str]]:
    """The body rows of every Rich table in ``output``, as lists of stripped cells."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in output.splitlines()
        if line.startswith("│")
    ]


def make_settings(home: Path) -> Settings:
    return Settings(
        home=home, capture_source=False, capture_environment=False, metric_flush_interval=0.2
    )
