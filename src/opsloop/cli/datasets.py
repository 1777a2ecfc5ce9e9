"""``opsloop datasets``: register, list and show dataset versions."""

from __future__ import annotations

import os
from pathlib import Path
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

app = typer.Typer(help="Register, list and show dataset versions.", no_args_is_help=True)


def _rows(n: int) -> str:
    return "unknown (not a table file)" if n < 0 else str(n)


@app.command("register")
def register(
    path: Annotated[Path, typer.Argument(help="A data file or folder (Parquet, CSV, ...).")],
    name: Annotated[str | None, typer.Option(help="Dataset name (default: file name).")] = None,
    store: Annotated[bool, typer.Option(help="Keep a Parquet copy in the artifact store.")] = False,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a file or folder as a dataset version (same content = same version)."""
    # abspath, not resolve: '.' and '..' get the folder's name, a symlink keeps its own.
    data = os.path.abspath(path)
    with open_client(project) as c:
        dv = c.log_dataset(data, name=name, store=store)
    if as_json:
        print_json(dv.model_dump(mode="json", by_alias=True))
        return
    console().print(
        Text(
            f"{dv.project}/{dv.dataset} version {dv.version}: "
            f"{_rows(dv.num_rows)} rows, sha256 {dv.digest[:16]}"
        )
    )


@app.command("list")
def list_datasets(
    name: Annotated[str | None, typer.Argument(help="Show the versions of this dataset.")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List datasets, or the versions of one dataset."""
    with open_client(project) as c:
        if name is None:
            items = c.list_datasets()
        else:
            versions = c.list_dataset_versions(name)
    if name is None:
        if as_json:
            print_json([d.model_dump(mode="json") for d in items])
            return
        print_table(
            f"{len(items)} dataset(s)",
            ["project", "name", "latest", "created"],
            [[d.project, d.name, d.latest_version, fmt_time(d.created_at)] for d in items],
        )
        return
    if as_json:
        print_json([v.model_dump(mode="json", by_alias=True) for v in versions])
        return
    print_table(
        f"{name}: {len(versions)} version(s)",
        ["version", "rows", "columns", "sha256", "source", "created"],
        [
            [
                v.version,
                _rows(v.num_rows),
                len(v.schema_),
                v.digest[:12],
                v.source_uri or "",
                fmt_time(v.created_at),
            ]
            for v in versions
        ],
    )


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    version: Annotated[int | None, typer.Option(help="Version (default: latest).")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a dataset version: schema and column statistics."""
    with open_client(project) as c:
        dv = c.get_dataset_version(name, version)
    if as_json:
        print_json(dv.model_dump(mode="json", by_alias=True))
        return
    console().print(
        Text.assemble(
            (f"{dv.project}/{dv.dataset}", "bold"),
            f" version {dv.version}  {_rows(dv.num_rows)} rows  sha256 {dv.digest}",
        )
    )
    if dv.source_uri:
        console().print(Text(f"source {dv.source_uri}"))
    stats = dv.profile.get("columns", {})
    rows = []
    for col in dv.schema_:
        st = stats.get(col["name"], {})
        numbers = [
            f"{k} {st[k]:.4g}" for k in ("mean", "std") if isinstance(st.get(k), int | float)
        ]
        summary = (
            " ".join(numbers) if numbers else f"{st['unique']} unique" if "unique" in st else ""
        )
        rows.append([col["name"], col["type"], st.get("missing", ""), summary])
    print_table("columns", ["name", "type", "missing", "summary"], rows)
