"""``opsloop users``: users and service accounts, their roles per project, and the first
admin (``bootstrap``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal, get_args

import typer
from rich.text import Text

from opsloop.cli._common import (
    JsonOpt,
    console,
    err_console,
    fmt_time,
    friendly_errors,
    open_client,
    print_json,
    print_table,
)
from opsloop.cli.auth import roles_text, where_text

if TYPE_CHECKING:
    from opsloop.auth.entities import Principal

# The values of opsloop.auth.entities.Role, spelled out so that `opsloop --help` does not
# import the auth package (and SQLAlchemy with it); a test keeps the two equal.
RoleName = Literal["viewer", "business", "architect", "data-scientist", "data-engineer",
                  "software-engineer", "devops", "ml-engineer", "admin"]
ROLES: tuple[str, ...] = get_args(RoleName)
ROLE_LIST = ", ".join(ROLES)

app = typer.Typer(
    help=f"Users, service accounts and their roles per project. Roles: {ROLE_LIST}.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="User or service account name.")]
RoleArg = Annotated[RoleName, typer.Argument(help=f"One of: {ROLE_LIST}.")]
GrantProjectOpt = Annotated[
    str, typer.Option("--project", "-p", help="Project, or '*' for every project.")
]


def parse_roles(values: list[str]) -> dict[str, list[str]]:
    """``ROLE`` or ``ROLE@PROJECT`` options as ``{project: [roles]}`` (``*``: every project).

    >>> parse_roles(["viewer", "data-scientist@credit"])
    {'*': ['viewer'], 'credit': ['data-scientist']}
    """
    out: dict[str, list[str]] = {}
    for value in values:
        role, at, project = value.partition("@")
        if role not in ROLES or (at and not project):
            raise typer.BadParameter(f"{value!r} must be ROLE or ROLE@PROJECT with ROLE one of "
                                     f"{ROLE_LIST}", param_hint="--role")
        out.setdefault(project or "*", []).append(role)
    return out


def _show(p: Principal) -> None:
    state = "disabled" if p.disabled else "enabled"
    console().print(Text.assemble((p.name, "bold"), f"  {p.kind.value}, {state}"))
    for label, value in (("display name", p.display_name), ("email", p.email),
                         ("created", f"{fmt_time(p.created_at)} by {p.created_by}"
                          if p.created_at else "")):
        if value:
            console().print(Text(f"{label}: {value}"))
    rows = [[project, ", ".join(r.value for r in roles)]
            for project, roles in sorted(p.roles.items())]
    if rows:
        print_table("roles", ["project", "roles"], rows)
    else:
        console().print("no roles")


@app.command("bootstrap")
def bootstrap(
    name: Annotated[str, typer.Argument(help="Name of the first admin.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the token as JSON (with its secret).")
    ] = False,
) -> None:
    """Create the first admin and its token, on the local database only, while no user
    exists. The token is printed once."""
    from opsloop.auth.api import LocalAuth
    from opsloop.cli.tokens import print_secret
    from opsloop.config import Settings
    from opsloop.errors import InvalidInput
    from opsloop.store import open_database

    with friendly_errors():
        settings = Settings.load()
        if settings.is_remote:
            raise InvalidInput(
                "OPSLOOP_TRACKING_URI", settings.tracking_uri,
                "bootstrap writes to the local metadata database, not through a server",
                hint="run it on the server host with the server's OPSLOOP_DATABASE_URL "
                     "and without OPSLOOP_TRACKING_URI")
        token = LocalAuth(open_database(settings.database_url)).bootstrap(name)
    err_console().print(f"created admin {name!r} in {where_text(settings)}", markup=False)
    print_secret(token, as_json=as_json)
    err_console().print("log in with: opsloop login", markup=False)


@app.command("create")
def create(
    name: NameArg,
    service: Annotated[
        bool, typer.Option("--service", help="A service account (for CI, pipelines, serving).")
    ] = False,
    role: Annotated[
        list[str] | None,
        typer.Option("--role", help=f"ROLE or ROLE@PROJECT (repeatable; without @PROJECT: "
                                    f"every project). Roles: {ROLE_LIST}."),
    ] = None,
    email: Annotated[str, typer.Option(help="Email address.")] = "",
    display_name: Annotated[str, typer.Option(help="Full name.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Create a user or service account (needs users.manage)."""
    roles = parse_roles(role or [])
    with open_client() as c:
        p = c.auth.create_user(name, kind="service" if service else "user", roles=roles,
                               display_name=display_name, email=email)
    if as_json:
        print_json(p.model_dump(mode="json"))
        return
    console().print(Text(f"created {p.kind.value} {p.name} ({roles_text(p.roles) or 'no roles'})"))
    console().print(Text(f"give it a token with: opsloop tokens create --for {p.name}"))


@app.command("list")
def list_users(as_json: JsonOpt = False) -> None:
    """List users and service accounts with their roles."""
    with open_client() as c:
        users = c.auth.list_users()
    if as_json:
        print_json([u.model_dump(mode="json") for u in users])
        return
    print_table(
        f"{len(users)} principal(s)",
        ["name", "kind", "roles", "state", "display name", "email", "created"],
        [[u.name, u.kind.value, roles_text(u.roles), "disabled" if u.disabled else "enabled",
          u.display_name, u.email, fmt_time(u.created_at)] for u in users],
    )


@app.command("show")
def show(name: NameArg, as_json: JsonOpt = False) -> None:
    """Show a user or service account and its roles."""
    with open_client() as c:
        p = c.auth.get_user(name)
    if as_json:
        print_json(p.model_dump(mode="json"))
        return
    _show(p)


@app.command("grant")
def grant(name: NameArg, role: RoleArg, project: GrantProjectOpt = "*") -> None:
    """Grant a role on a project (default: on every project)."""
    with open_client() as c:
        p = c.auth.grant(name, role, project)
    console().print(Text(f"{p.name}: {roles_text(p.roles) or 'no roles'}"))


@app.command("revoke")
def revoke(name: NameArg, role: RoleArg, project: GrantProjectOpt = "*") -> None:
    """Revoke a role on a project (default: the every-project binding)."""
    with open_client() as c:
        before = c.auth.get_user(name)
        p = c.auth.revoke_role(name, role, project)
    if p.roles == before.roles:
        err_console().print(f"{name} did not hold {role} on {project!r}; nothing changed",
                            markup=False)
    console().print(Text(f"{p.name}: {roles_text(p.roles) or 'no roles'}"))


@app.command("disable")
def disable(name: NameArg) -> None:
    """Disable a principal: its tokens stop working at once."""
    with open_client() as c:
        p = c.auth.set_disabled(name, True)
    console().print(Text(f"disabled {p.name}"))


@app.command("enable")
def enable(name: NameArg) -> None:
    """Enable a disabled principal again."""
    with open_client() as c:
        p = c.auth.set_disabled(name, False)
    console().print(Text(f"enabled {p.name}"))
