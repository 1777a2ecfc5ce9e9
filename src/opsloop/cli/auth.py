"""``opsloop login``, ``logout``, ``whoami`` and ``audit``: who you are and who did what.

Also the pieces the other collaboration and registry groups share: the parsers
of durations (``30d``, ``12h``, ``90m``) and points in time (ISO 8601 or ``1h`` ago).
"""

from __future__ import annotations

import re
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from opsloop.cli._common import (
    JsonOpt,
    console,
    err_console,
    escape,
    fmt_time,
    friendly_errors,
    open_client,
    print_json,
    print_table,
)

if TYPE_CHECKING:
    from opsloop.auth.entities import Principal
    from opsloop.config import Settings

__all__ = [
    "audit",
    "login",
    "logout",
    "parse_duration",
    "parse_time",
    "roles_text",
    "where_text",
    "whoami",
]

# -- shared helpers -------------------------------------------------------------------------

_UNITS_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION = re.compile(r"(?:\d{1,9}[smhdw])+")
MAX_DURATION_MS = 3650 * _UNITS_MS["d"]  # ten years: beyond that, say "no expiry" instead


def parse_duration(text: str, option: str) -> int:
    """A duration such as ``30d``, ``12h``, ``90m``, ``45s``, ``2w`` or ``1h30m``, in ms.

    Raises:
        typer.BadParameter: not a duration, zero, or longer than ten years (names the
            option and shows the accepted forms).
    """
    value = text.strip().lower()
    if not _DURATION.fullmatch(value):
        raise typer.BadParameter(
            f"{text!r} is not a duration; use a number and a unit (s, m, h, d, w), "
            "e.g. 30d, 12h, 90m or 1h30m", param_hint=option)
    ms = sum(int(n) * _UNITS_MS[u] for n, u in re.findall(r"(\d+)([smhdw])", value))
    if ms <= 0 or ms > MAX_DURATION_MS:
        raise typer.BadParameter(f"{text!r} must be more than 0s and at most 3650d",
                                 param_hint=option)
    return ms


def parse_time(text: str, option: str) -> int:
    """A point in time in epoch ms: ISO 8601 (UTC unless it names a zone), or a duration
    ago (``1h``: one hour before now)."""
    if _DURATION.fullmatch(text.strip().lower()):
        return time.time_ns() // 1_000_000 - parse_duration(text, option)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is neither an ISO 8601 time (2024-05-01 or 2024-05-01T12:00:00Z) "
            "nor a duration ago (30m, 1h, 7d)", param_hint=option) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def where_text(settings: Settings) -> str:
    """The server, or the metadata store with any password hidden, that ``settings`` name."""
    if settings.tracking_uri:
        return settings.tracking_uri
    from sqlalchemy.engine import make_url

    return make_url(settings.database_url).render_as_string(hide_password=True)


def roles_text(roles: dict[str, list[Any]]) -> str:
    """``*: admin; credit: data-scientist, viewer`` (project ``*`` is every project)."""
    return "; ".join(f"{project}: {', '.join(str(r) for r in rs)}"
                     for project, rs in sorted(roles.items()) if rs)


def _describe(p: Principal) -> str:
    if not p.authenticated:
        return (f"{p.name} (auth is off: acting as an admin on every project; "
                "set OPSLOOP_AUTH=on to require tokens)")
    roles = roles_text(p.roles) or "no roles"
    return f"{p.name} ({p.kind.value}; {roles})"


# -- commands -------------------------------------------------------------------------------


def login(
    token: Annotated[
        str | None,
        typer.Option(help="The token (olp_...). Default: a hidden prompt, or stdin when "
                          "piped; both stay out of your shell history."),
    ] = None,
) -> None:
    """Verify a token and store it for this server (or local store) in OPSLOOP_HOME."""
    from opsloop.config import Settings, save_token

    if token is None:
        if sys.stdin.isatty():
            token = typer.prompt("Token", hide_input=True)
        else:
            token = sys.stdin.readline()
    token = token.strip()
    if not token:
        raise typer.BadParameter("no token given", param_hint="--token")
    with friendly_errors():
        base = Settings.load()
        # A local store checks the token itself, even while its auth is off, so a typo
        # is caught now rather than when auth is switched on.
        checked = Settings.load(token=token, auth=True if not base.is_remote else None)
    with open_client(settings=checked) as c:
        principal = c.auth.whoami()
    with friendly_errors():
        path = save_token(base.home, base.tracking_uri or base.database_url, token)
    mode = path.stat().st_mode & 0o777
    console().print(Text(f"logged in to {where_text(base)} as {_describe(principal)}"))
    console().print(Text(f"token stored in {path} (permissions {mode:04o}"
                         + (": readable by you only)" if mode == 0o600 else ")")))
    if mode & 0o077:
        err_console().print(f"[yellow]warning:[/] {escape(str(path))} is readable by others; "
                            f"run: chmod 600 {escape(str(path))}")
    if not principal.authenticated:
        err_console().print("[yellow]warning:[/] the server has auth off, so it could not "
                            "check the token")
    if base.token is not None:
        err_console().print("[yellow]warning:[/] OPSLOOP_TOKEN is set and wins over the "
                            "stored token; unset it to use this login")
    if not base.is_remote and not base.auth:
        err_console().print("[yellow]note:[/] auth is off for this store; the token is "
                            "used once OPSLOOP_AUTH=on")


def logout() -> None:
    """Forget the token stored for this server (or local store)."""
    from opsloop.config import Settings, load_token, save_token

    with friendly_errors():
        settings = Settings.load()
        key = settings.tracking_uri or settings.database_url
        had = load_token(settings.home, key) is not None
        if had:
            save_token(settings.home, key, None)
    where = where_text(settings)
    console().print(Text(f"logged out of {where}" if had else f"no token stored for {where}"))
    if settings.token is not None:
        err_console().print("[yellow]warning:[/] OPSLOOP_TOKEN is still set in the "
                            "environment and is still used")


def whoami(as_json: JsonOpt = False) -> None:
    """Show who the current token (or, with auth off, the local user) acts as."""
    with open_client() as c:
        principal = c.auth.whoami()
        where = where_text(c.settings)
    if as_json:
        print_json(principal.model_dump(mode="json"))
        return
    console().print(Text(_describe(principal)))
    console().print(Text(f"on {where}"))


def audit(
    project: Annotated[
        str | None,
        typer.Option("--project", "-p",
                     help="Only this project (default: every project, which needs "
                          "audit.read on every project and adds user and token events)."),
    ] = None,
    object_type: Annotated[
        str | None,
        typer.Option(help="Only this kind of object: model, model_version, alias, "
                          "promotion_request, principal, token, ..."),
    ] = None,
    object_id: Annotated[str | None, typer.Option(help="Only this object id.")] = None,
    actor: Annotated[str | None, typer.Option(help="Only what this principal did.")] = None,
    action: Annotated[
        str | None, typer.Option(help="Only this action, e.g. alias.set, token.revoke.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="From this time: ISO 8601 (UTC unless a zone is given), or a "
                          "duration ago such as 30m, 1h, 7d."),
    ] = None,
    limit: Annotated[int, typer.Option(help="Maximum number of events (newest first).")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """The audit log, newest first: who did what to which object, when and why."""
    since_ms = None if since is None else parse_time(since, "--since")
    with open_client() as c:
        events = c.auth.audit(project=project, object_type=object_type, object_id=object_id,
                              actor=actor, action=action, since=since_ms, limit=limit)
    if as_json:
        print_json([e.model_dump(mode="json") for e in events])
        return
    print_table(
        f"{len(events)} event(s)",
        ["time", "actor", "action", "object", "project", "reason", "request id"],
        [[fmt_time(e.at), e.actor, e.action, f"{e.object_type} {e.object_id}",
          e.project or "", e.reason, e.request_id or ""] for e in events],
    )
