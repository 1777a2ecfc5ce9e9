"""The ``opsloop`` command: a thin Typer layer over the Python client."""

from __future__ import annotations

from typing import Annotated

import typer

from opsloop.cli import datasets, db, experiments, runs
from opsloop.cli._common import console, friendly_errors

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
) -> None:
    """Serve the REST API (OpenAPI at /openapi.json, docs at /docs)."""
    import uvicorn

    from opsloop.server import create_app

    with friendly_errors():
        api = create_app()
    console().print(f"opsloop server on http://{host}:{port}  (API docs: /docs)")
    uvicorn.run(api, host=host, port=port, log_level=log_level)


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
