"""``opsloop runs``: list, show and compare runs."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from opsloop.cli._common import (
    JsonOpt,
    ProjectOpt,
    console,
    fmt_time,
    fmt_value,
    open_client,
    print_json,
    print_table,
)

app = typer.Typer(help="List, show and compare runs.", no_args_is_help=True)

MAX_METRIC_COLUMNS = 6


@app.command("list")
def list_runs(
    experiment: Annotated[
        list[str] | None,
        typer.Option("--experiment", "-e", help="Experiment name (repeatable); default: all."),
    ] = None,
    filter_: Annotated[
        str | None,
        typer.Option(
            "--filter", "-f", help="Filter, e.g. \"metrics.auc > 0.8 and params.model = 'lgbm'\"."
        ),
    ] = None,
    order_by: Annotated[
        list[str] | None,
        typer.Option("--order-by", "-o", help="Sort key, e.g. 'metrics.auc desc' (repeatable)."),
    ] = None,
    limit: Annotated[int, typer.Option(help="Maximum number of runs.")] = 50,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List runs, newest first, with their latest metrics."""
    with open_client(project) as c:
        runs = c.search_runs(experiment, filter=filter_, order_by=order_by, max_results=limit).items
    if as_json:
        print_json([r.model_dump(mode="json") for r in runs])
        return
    metric_keys = sorted({k for r in runs for k in r.metrics})[:MAX_METRIC_COLUMNS]
    # The full id: it is what `runs show` and `runs compare` take.
    print_table(
        f"{len(runs)} run(s)",
        ["run id", "experiment", "name", "status", "started", *metric_keys],
        [
            [
                r.id,
                r.experiment,
                r.name,
                r.status.value,
                fmt_time(r.start_time),
                *(r.metrics.get(k) for k in metric_keys),
            ]
            for r in runs
        ],
    )


@app.command("show")
def show_run(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    as_json: JsonOpt = False,
) -> None:
    """Show one run: status, params, metrics, tags, source, datasets and artifacts."""
    with open_client() as c:
        run = c.get_run(run_id)
        arts = c.list_artifacts(run_id)
        inputs = c.get_run_inputs(run_id)
    if as_json:
        print_json(
            {
                "run": run.model_dump(mode="json"),
                "artifacts": [a.model_dump(mode="json") for a in arts],
                "inputs": [i.model_dump(mode="json", by_alias=True) for i in inputs],
            }
        )
        return
    console().print(Text.assemble((f"{run.experiment}/{run.name}", "bold"), f"  {run.id}"))
    console().print(
        Text(
            f"status {run.status.value}   started {fmt_time(run.start_time)}   "
            f"duration {fmt_value(run.duration)} s   user {run.user}@{run.host}"
        )
    )
    src = run.source
    if src.commit or src.repo:
        dirty = " (dirty, diff in source/diff.patch)" if src.dirty else ""
        console().print(
            Text(f"source {src.repo or ''} {src.branch or ''} {src.commit or ''}{dirty}")
        )
    failure = (run.failure or "").strip()
    if failure:  # the last line of a traceback names the exception
        console().print(Text(f"failure: {failure.splitlines()[-1].strip()}", style="red"))
    for title, data in (("params", run.params), ("metrics", run.metrics), ("tags", run.tags)):
        if data:
            print_table(title, ["key", "value"], sorted(data.items()))
    if inputs:
        print_table(
            "datasets",
            ["role", "dataset", "version", "rows", "digest"],
            [[i.role, i.dataset, i.version, i.num_rows, i.digest[:12]] for i in inputs],
        )
    if arts:
        print_table(
            "artifacts", ["path", "size", "sha256"], [[a.path, a.size, a.digest[:12]] for a in arts]
        )


@app.command("compare")
def compare_runs(
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids.")],
    all_keys: Annotated[
        bool, typer.Option("--all", help="Show keys whose values are equal across runs too.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Compare params and metrics of runs side by side (differences by default)."""
    if len(run_ids) < 2:
        raise typer.BadParameter("give two or more run ids to compare", param_hint="RUN_IDS")
    with open_client() as c:
        runs = [c.get_run(r) for r in run_ids]
    rows = []
    for kind in ("params", "metrics"):
        keys = sorted({k for r in runs for k in getattr(r, kind)})
        for k in keys:
            values = [getattr(r, kind).get(k) for r in runs]
            if all_keys or len({fmt_value(v) for v in values}) > 1:
                rows.append([f"{kind}.{k}", *values])
    if as_json:
        print_json({"runs": [r.id for r in runs], "rows": rows})
        return
    print_table(
        "comparison" + ("" if all_keys else " (differences)"),
        ["key", *[f"{r.name} ({r.id[:8]})" for r in runs]],
        rows,
    )


@app.command("reap")
def reap() -> None:
    """Mark RUNNING runs whose process stopped sending heartbeats as LOST."""
    with open_client() as c:
        n = c.reap_lost_runs()
    console().print(f"{n} run(s) marked LOST")
