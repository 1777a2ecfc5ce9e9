"""``opsloop tokens``: create, list and revoke API tokens.

A secret is shown once, when the token is created: it goes alone to stdout (so
``TOKEN=$(opsloop tokens create)`` works) and the explanation to stderr. Listings never
contain secrets; only their sha256 is stored.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from opsloop.cli._common import (
    JsonOpt,
    console,
    err_console,
    escape,
    fmt_time,
    open_client,
    print_json,
    print_table,
)
from opsloop.cli.auth import parse_duration

if TYPE_CHECKING:
    from opsloop.auth.entities import TokenInfo

app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)

ForOpt = Annotated[
    str | None,
    typer.Option("--for", help="The user or service account (default: yourself; others "
                               "need users.manage)."),
]


def state(token: TokenInfo, now_ms: int) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now_ms:
        return "expired"
    return "active"


def print_secret(token: TokenInfo, *, as_json: bool) -> None:
    """The one time a secret is shown: alone on stdout, the warning on stderr."""
    if as_json:
        print_json(token.model_dump(mode="json"))
    else:
        typer.echo(token.secret)
    expires = f", expires {fmt_time(token.expires_at)} UTC" if token.expires_at else ""
    err_console().print(f"token {escape(token.id)} for {escape(token.principal)}{expires}")
    err_console().print("[yellow]warning:[/] store this secret now (a password manager, "
                        "a CI secret): it is shown only once and cannot be recovered")


@app.command("create")
def create(
    for_: ForOpt = None,
    name: Annotated[str, typer.Option(help="A label, e.g. 'ci' or 'laptop'.")] = "",
    expires_in: Annotated[
        str | None,
        typer.Option(help="Lifetime: a number and a unit (s, m, h, d, w), e.g. 30d, 12h, "
                          "90m or 1h30m; at most 3650d. Default: never expires."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the token as JSON (with its secret).")
    ] = False,
) -> None:
    """Create a token; its secret is printed once."""
    expires_at = (None if expires_in is None else
                  time.time_ns() // 1_000_000 + parse_duration(expires_in, "--expires-in"))
    with open_client() as c:
        token = c.auth.create_token(for_, name=name, expires_at=expires_at)
    print_secret(token, as_json=as_json)


@app.command("list")
def list_tokens(for_: ForOpt = None, as_json: JsonOpt = False) -> None:
    """List tokens (never their secrets)."""
    with open_client() as c:
        tokens = c.auth.list_tokens(for_)
    if as_json:
        print_json([t.model_dump(mode="json", exclude={"secret"}) for t in tokens])
        return
    now = time.time_ns() // 1_000_000
    print_table(
        f"{len(tokens)} token(s)",
        ["id", "principal", "name", "state", "created", "expires", "revoked", "last used"],
        [[t.id, t.principal, t.name, state(t, now), fmt_time(t.created_at),
          fmt_time(t.expires_at) or "never", fmt_time(t.revoked_at), fmt_time(t.last_used_at)]
         for t in tokens],
    )


@app.command("revoke")
def revoke(token_id: Annotated[str, typer.Argument(help="Token id (see: tokens list).")]) -> None:
    """Revoke a token now: it stops working at once (yours, or any with users.manage)."""
    with open_client() as c:
        token = c.auth.revoke_token(token_id)
    console().print(
        Text(f"revoked token {token.id} of {token.principal} ({fmt_time(token.revoked_at)})"))
