"""``opsloop models``: register, inspect, alias, promote and download model versions.

Versions are addressed as ``NAME VERSION`` (two arguments); ``download`` takes a
reference: ``name@alias``, ``name/3``, ``name/latest`` or ``models:/[project/]name...``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from opsloop.cli._common import (
    JsonOpt,
    ProjectOpt,
    console,
    err_console,
    escape,
    fmt_time,
    open_client,
    print_json,
    print_table,
)
from opsloop.cli.approvals import print_outcome

if TYPE_CHECKING:
    from opsloop.registry.entities import ModelVersion, RegisteredModel

app = typer.Typer(
    help="Register, inspect, alias, promote and download model versions.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="Registered model name.")]
VersionArg = Annotated[int, typer.Argument(help="Version number.", min=1)]
ReasonOpt = Annotated[str, typer.Option(help="Why (kept in the alias history and audit log).")]


def parse_tags(values: list[str]) -> dict[str, str]:
    """``k=v`` options as a dict (the value may contain ``=``).

    >>> parse_tags(["team=risk", "q=a=b"])
    {'team': 'risk', 'q': 'a=b'}
    """
    tags = {}
    for value in values:
        key, eq, val = value.partition("=")
        if not eq or not key.strip():
            raise typer.BadParameter(f"{value!r} must be KEY=VALUE", param_hint="--tag")
        tags[key.strip()] = val
    return tags


def parse_expect(value: str | None) -> int | None:
    """``--expect``: a version number, or ``none`` for "the alias must not exist yet";
    -1 (no check) when absent."""
    if value is None:
        return -1
    if value.strip().lower() == "none":
        return None
    if value.strip().isdigit() and int(value) >= 1:
        return int(value)
    raise typer.BadParameter(f"{value!r} must be a version number or 'none'",
                             param_hint="--expect")


def _aliases(aliases: dict[str, int]) -> str:
    return ", ".join(f"{a}={v}" for a, v in sorted(aliases.items()))


def _describe_version(v: ModelVersion) -> str:
    return f"{v.project}/{v.model} version {v.version}"


# -- registering -------------------------------------------------------------------------


@app.command("register")
def register(
    name: NameArg,
    path: Annotated[
        Path,
        typer.Argument(exists=True, help="A model folder written by "
                       "opsloop.registry.save_model_files, or one model file: .skops, "
                       ".onnx, LightGBM .txt, XGBoost .json (a pickle only with --trusted)."),
    ],
    run: Annotated[
        str | None,
        typer.Option("--run", help="The run that trained it: its code version, datasets, "
                                   "params and metrics become the version's lineage."),
    ] = None,
    flavor: Annotated[
        str | None, typer.Option(help="Flavor of a single file whose suffix is ambiguous.")
    ] = None,
    description: Annotated[str, typer.Option(help="What this version is.")] = "",
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="KEY=VALUE (repeatable).")
    ] = None,
    trusted: Annotated[
        bool,
        typer.Option("--trusted", help="Allow reading a pickle file you produced yourself "
                                       "(loading a pickle can run code); it is stored "
                                       "converted to a safe format when possible."),
    ] = False,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a saved model folder or a model file as the next version of NAME."""
    tags = parse_tags(tag or [])
    with open_client(project) as c:
        v = c.models.register(name, os.path.abspath(path), run_id=run, flavor=flavor,
                              description=description, tags=tags, trusted=trusted,
                              project=project)
    if as_json:
        print_json(v.model_dump(mode="json"))
        return
    console().print(Text(f"registered {_describe_version(v)} ({v.flavor}, {len(v.files)} "
                         f"file(s))  {v.uri}"))
    if v.run_id:
        console().print(Text(f"lineage: run {v.run_id}"))


# -- reading -------------------------------------------------------------------------------


@app.command("list")
def list_models(project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """List registered models with their latest version and aliases."""
    with open_client(project) as c:
        models = c.models.list(project=project)
    if as_json:
        print_json([m.model_dump(mode="json") for m in models])
        return
    print_table(
        f"{len(models)} model(s)",
        ["name", "latest", "aliases", "owners", "updated", "description"],
        [[m.name, m.latest_version or "", _aliases(m.aliases), ", ".join(m.owners),
          fmt_time(m.updated_at), m.description] for m in models],
    )


def _show_model(m: RegisteredModel) -> None:
    console().print(Text.assemble((f"{m.project}/{m.name}", "bold"),
                                  f"  latest version {m.latest_version or 'none'}"))
    if m.description:
        console().print(Text(m.description))
    console().print(Text(f"created {fmt_time(m.created_at)} by {m.created_by}, "
                         f"updated {fmt_time(m.updated_at)}"))
    console().print(Text(f"owners: {', '.join(m.owners) or 'none'}"))
    if m.aliases:
        print_table("aliases", ["alias", "version"], sorted(m.aliases.items()))
    if m.tags:
        print_table("tags", ["key", "value"], sorted(m.tags.items()))
    protected = sorted(m.policy.protected.items())
    if protected:
        print_table(
            "policy: protected aliases (moved by approved promotions)",
            ["alias", "approvals", "approver roles", "gates"],
            [[alias, p.approvals, ", ".join(r.value for r in p.roles) or "any approver",
              ", ".join(p.gates)] for alias, p in protected],
        )
    else:
        console().print("policy: no protected aliases")


@app.command("show")
def show(name: NameArg, project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Show a model: aliases, owners, tags and its promotion policy."""
    with open_client(project) as c:
        m = c.models.get(name, project=project)
    if as_json:
        print_json(m.model_dump(mode="json"))
        return
    _show_model(m)


@app.command("versions")
def versions(
    name: NameArg,
    all_: Annotated[bool, typer.Option("--all", help="Include archived versions.")] = False,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the versions of a model (archived ones with --all)."""
    with open_client(project) as c:
        items = c.models.versions(name, include_archived=all_, project=project)
    if as_json:
        print_json([v.model_dump(mode="json") for v in items])
        return
    print_table(
        f"{name}: {len(items)} version(s)" + ("" if all_ else " (without archived; see --all)"),
        ["version", "status", "flavor", "aliases", "run", "created", "by", "description"],
        [[v.version, v.status.value, v.flavor, ", ".join(v.aliases), v.run_id or "",
          fmt_time(v.created_at), v.created_by, v.description] for v in items],
    )


def _show_version(v: ModelVersion) -> None:
    console().print(Text.assemble((_describe_version(v), "bold"),
                                  f"  {v.status.value}, {v.flavor}  {v.uri}"))
    console().print(Text(f"created {fmt_time(v.created_at)} by {v.created_by}"))
    if v.aliases:
        console().print(Text(f"aliases: {', '.join(v.aliases)}"))
    if v.description:
        console().print(Text(v.description))
    console().print(Text(f"lineage run: {v.run_id or 'none'}"))
    src = v.source
    if src.commit or src.repo:
        dirty = " (dirty)" if src.dirty else ""
        console().print(Text(f"source: {src.repo or ''} {src.branch or ''} "
                             f"{src.commit or ''}{dirty}".replace("  ", " ")))
    env = v.environment
    if env.get("python"):
        console().print(Text(f"python {env['python']}"))
    if v.datasets:
        print_table("datasets", ["role", "dataset", "version", "sha256"],
                    [[d.role, d.dataset, d.version, d.digest] for d in v.datasets])
    if v.signature is not None:
        for title, cols in (("signature inputs", v.signature.inputs),
                            ("signature outputs", v.signature.outputs)):
            if cols:
                print_table(title, ["column", "type", "nullable"],
                            [[c.name, c.dtype, "yes" if c.nullable else "no"] for c in cols])
    for title, data in (("params", v.params), ("metrics", v.metrics), ("tags", v.tags),
                        ("packages", env.get("packages") or {})):
        if data:
            print_table(title, ["key", "value"], sorted(data.items()))
    print_table("files", ["path", "size", "sha256"],
                [[path, d.size, d.sha256] for path, d in sorted(v.files.items())])


@app.command("version")
def version(
    name: NameArg, number: VersionArg, project: ProjectOpt = None, as_json: JsonOpt = False
) -> None:
    """Show a version in full: lineage run, source commit, datasets, signature, params,
    metrics, environment and files with their sha256."""
    with open_client(project) as c:
        v = c.models.get_version(name, number, project=project)
    if as_json:
        print_json(v.model_dump(mode="json"))
        return
    _show_version(v)


# -- aliases -------------------------------------------------------------------------------


@app.command("alias")
def alias(
    name: NameArg,
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="e.g. staging.")],
    number: VersionArg,
    reason: ReasonOpt = "",
    expect: Annotated[
        str | None,
        typer.Option(help="Compare-and-set: move only if the alias points at this version "
                          "now ('none': only if it does not exist yet)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Move a protected alias without a promotion "
                                           "(needs models.admin; audited).")
    ] = False,
    project: ProjectOpt = None,
) -> None:
    """Point ALIAS at a version (a protected alias needs 'models promote' or --force)."""
    expected = parse_expect(expect)
    with open_client(project) as c:
        old = c.models.set_alias(name, alias_name, number, reason=reason,
                                 expected_version=expected, force=force, project=project)
    was = "unset" if old is None else f"version {old}"
    console().print(Text(f"{name}@{alias_name} -> version {number} (was {was})"))


@app.command("unalias")
def unalias(
    name: NameArg,
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="The alias to remove.")],
    reason: ReasonOpt = "",
    force: Annotated[
        bool, typer.Option("--force", help="Remove a protected alias (needs models.admin).")
    ] = False,
    project: ProjectOpt = None,
) -> None:
    """Remove an alias."""
    with open_client(project) as c:
        old = c.models.delete_alias(name, alias_name, reason=reason, force=force,
                                    project=project)
    console().print(Text(f"removed {name}@{alias_name} (was version {old})"))


@app.command("history")
def history(
    name: NameArg,
    alias_name: Annotated[
        str | None, typer.Option("--alias", help="Only this alias.")
    ] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every set, move and removal of a model's aliases: who, when, why."""
    with open_client(project) as c:
        events = c.models.alias_history(name, alias_name, project=project)
    if as_json:
        print_json([e.model_dump(mode="json") for e in events])
        return
    print_table(
        f"{name}: {len(events)} alias change(s)",
        ["time", "alias", "from", "to", "actor", "reason", "request"],
        [[fmt_time(e.at), e.alias, e.from_version, e.to_version, e.actor, e.reason,
          e.request_id] for e in events],
    )


@app.command("promote")
def promote(
    name: NameArg,
    number: VersionArg,
    to: Annotated[str, typer.Option("--to", help="The alias to move, e.g. champion.")],
    reason: ReasonOpt = "",
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Request that an alias point at a version; it moves once the model's policy is met
    (at once for an unprotected alias)."""
    with open_client(project) as c:
        r = c.models.promote(name, number, to=to, reason=reason, project=project)
    if as_json:
        print_json({**r.model_dump(mode="json"), "missing": r.missing})
        return
    print_outcome(r)
    if r.status.value == "pending":
        console().print(Text(f"approve with: opsloop approvals approve {r.id}"))


# -- lifecycle -----------------------------------------------------------------------------


@app.command("archive")
def archive(name: NameArg, number: VersionArg, project: ProjectOpt = None) -> None:
    """Archive a version: hidden from 'versions' and 'latest'; refused while aliased."""
    with open_client(project) as c:
        v = c.models.archive(name, number, project=project)
    console().print(Text(f"archived {_describe_version(v)}"))


@app.command("restore")
def restore(name: NameArg, number: VersionArg, project: ProjectOpt = None) -> None:
    """Make an archived version ready again."""
    with open_client(project) as c:
        v = c.models.restore(name, number, project=project)
    console().print(Text(f"restored {_describe_version(v)}"))


@app.command("delete")
def delete(
    name: NameArg,
    number: VersionArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    project: ProjectOpt = None,
) -> None:
    """Delete a version's record (its number is never reused); refused while aliased."""
    if not yes:
        typer.confirm(f"Delete version {number} of {name}?", abort=True)
    with open_client(project) as c:
        c.models.delete_version(name, number, project=project)
    console().print(Text(f"deleted version {number} of {name}"))


@app.command("download")
def download(
    ref: Annotated[str, typer.Argument(help="name@alias, name/3, name/latest or models:/...")],
    dest: Annotated[Path, typer.Argument(help="A folder to create (or an empty one).")],
    project: ProjectOpt = None,
) -> None:
    """Download a version's files into DEST, each verified against its sha256."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        err_console().print(f"[bold red]error:[/] {escape(str(dest))} exists and is not an "
                            "empty folder")
        err_console().print("[yellow]hint:[/] give a new folder (download never replaces "
                            "files)")
        raise typer.Exit(1)
    with open_client(project) as c:
        v = c.models.resolve(ref, project=project)
        folder = c.models.download(f"{v.model}/{v.version}", dest, project=v.project)
    console().print(Text(f"downloaded {_describe_version(v)} ({len(v.files)} file(s), "
                         f"verified) to {folder}"))


# -- comments ------------------------------------------------------------------------------


@app.command("comment")
def comment(
    name: NameArg,
    number: VersionArg,
    text: Annotated[str, typer.Argument(help="The comment.")],
    project: ProjectOpt = None,
) -> None:
    """Comment on a version."""
    with open_client(project) as c:
        made = c.models.comment(name, number, text, project=project)
    console().print(Text(f"comment {made.id} on {made.project}/{made.object_id}"))


@app.command("comments")
def comments(
    name: NameArg, number: VersionArg, project: ProjectOpt = None, as_json: JsonOpt = False
) -> None:
    """The comments on a version, oldest first."""
    with open_client(project) as c:
        items = c.models.comments(name, number, project=project)
    if as_json:
        print_json([m.model_dump(mode="json") for m in items])
        return
    print_table(f"{name}/{number}: {len(items)} comment(s)", ["time", "author", "comment"],
                [[fmt_time(m.at), m.author, m.text] for m in items])
