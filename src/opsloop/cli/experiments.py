"""``opsloop experiments``: list and create experiments."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from opsloop.cli._common import (
    JsonOpt,
    ProjectOpt,
    console,
    fmt_time,
    open_client,
    print_json,
    print_table,
)

app = typer.Typer(help="List and create experiments.", no_args_is_help=True)


@app.command("list")
def list_experiments(
    project: ProjectOpt = None,
    all_projects: Annotated[bool, typer.Option("--all-projects", help="Every project.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List experiments of a project."""
    with open_client(project) as c:
        exps = c.list_experiments(all_projects=all_projects)
    if as_json:
        print_json([e.model_dump(mode="json") for e in exps])
        return
    print_table(
        f"{len(exps)} experiment(s)",
        ["id", "project", "name", "created"],
        [[e.id, e.project, e.name, fmt_time(e.created_at)] for e in exps],
    )


@app.command("create")
def create_experiment(
    name: Annotated[str, typer.Argument(help="Experiment name.")],
    description: Annotated[str, typer.Option(help="What the experiment is about.")] = "",
    project: ProjectOpt = None,
) -> None:
    """Create an experiment."""
    with open_client(project) as c:
        exp = c.create_experiment(name, description=description)
    console().print(Text(f"created experiment {exp.project}/{exp.name} (id {exp.id})"))
