"""The ``opsloop`` command: a thin Typer layer over the Python client."""

from __future__ import annotations

from typing import Annotated

import typer

from opsloop.cli import approvals, auth, datasets, db, experiments, models, runs, tokens, users
from opsloop.cli._common import console, err_console, escape, friendly_errors

__all__ = ["app", "main"]

app = typer.Typer(
    name="opsloop",
    help="opsloop: track, register, serve, monitor and retrain ML models.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(runs.app, name="runs")
app.add_typer(experiments.app, name="experiments")
app.add_typer(datasets.app, name="datasets")
app.add_typer(db.app, name="db")
app.add_typer(models.app, name="models")
app.add_typer(approvals.app, name="approvals")
app.add_typer(users.app, name="users")
app.add_typer(tokens.app, name="tokens")
app.command("login")(auth.login)
app.command("logout")(auth.logout)
app.command("whoami")(auth.whoami)
app.command("audit")(auth.audit)


@app.command()
def version() -> None:
    """Print the opsloop version."""
    import opsloop

    console().print(f"opsloop {opsloop.__version__}")


@app.command()
def server(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 5000,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
    auth_on: Annotated[
        bool | None,
        typer.Option("--auth/--no-auth",
                     help="Require a token for every call (default: OPSLOOP_AUTH, else off: "
                          "every caller acts as an admin)."),
    ] = None,
) -> None:
    """Serve the REST API (OpenAPI at /openapi.json, docs at /docs)."""
    import uvicorn

    from opsloop.config import Settings
    from opsloop.server import create_app

    with friendly_errors():
        settings = Settings.load(auth=auth_on)
        api = create_app(settings)
    state = "auth on" if settings.auth else "auth off"
    console().print(f"opsloop server on http://{host}:{port}  ({state}; API docs: /docs)",
                    markup=False)
    if not settings.auth and not _is_loopback(host):
        err_console().print(
            f"[yellow]warning:[/] auth is off and the server listens on {escape(host)}: anyone "
            "who can reach it acts as an admin. Use --auth (create the first admin with: "
            "opsloop users bootstrap NAME), or bind 127.0.0.1.")
    uvicorn.run(api, host=host, port=port, log_level=log_level)


def _is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (``localhost``, 127.0.0.0/8, ::1)."""
    import ipaddress

    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


@app.command()
def demo(
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the API after the scenario.")
    ] = True,
    port: Annotated[int, typer.Option(help="Port of the server.")] = 5000,
) -> None:
    """Run the demo scenario on the embedded stores, then serve the API."""
    from opsloop.demo import run_demo

    run_demo(console=console())
    if serve:
        server(host="127.0.0.1", port=port, log_level="warning")


def main() -> None:
    app()
