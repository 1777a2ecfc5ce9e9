"""``opsloop approvals``: review promotion requests, record CI/CD gates, approve or reject.

A request (made with ``opsloop models promote``) moves its alias as soon as the model's
policy is met: enough approvals from the right roles and every required gate passed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal, get_args

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

if TYPE_CHECKING:
    from opsloop.registry.entities import PromotionRequest

# The values of opsloop.registry.entities.PromotionStatus (a test keeps them equal),
# spelled out so that `--help` does not import the registry.
StatusName = Literal["pending", "applied", "rejected", "cancelled", "stale"]
STATUSES: tuple[str, ...] = get_args(StatusName)

app = typer.Typer(
    help="Review promotion requests: approve, reject, record gates, cancel.",
    no_args_is_help=True,
)

IdArg = Annotated[int, typer.Argument(help="Promotion request id (see: approvals list).")]
CommentOpt = Annotated[str, typer.Option("--comment", "-c", help="Why (kept in the audit log).")]


def summary(r: PromotionRequest) -> str:
    """``#7 credit-risk version 3 -> champion (was 2): pending``."""
    was = f" (was {r.from_version})" if r.from_version is not None else ""
    return f"#{r.id} {r.project}/{r.model} version {r.version} -> {r.alias}{was}: {r.status.value}"


def print_outcome(r: PromotionRequest) -> None:
    """The request's state, and what it still needs or what it did."""
    console().print(Text(summary(r)))
    if r.status.value == "applied":
        console().print(Text(f"{r.model}@{r.alias} now points at version {r.version}"))
    elif r.status.value == "pending":
        for need in r.missing:
            console().print(Text(f"still needed: {need}"))
        if not r.missing:  # cannot stay pending when satisfied; say so rather than hide it
            console().print(Text("nothing missing"))


def show_request(r: PromotionRequest) -> None:
    console().print(Text(summary(r), style="bold"))
    console().print(Text(f"requested by {r.requested_by} at {fmt_time(r.requested_at)}"
                         + (f", decided {fmt_time(r.decided_at)}" if r.decided_at else "")))
    if r.reason:
        console().print(Text(f"reason: {r.reason}"))
    p = r.policy
    console().print(Text(
        f"policy: {p.approvals} approval(s)"
        + (f" from {' or '.join(role.value for role in p.roles)}" if p.roles else "")
        + (f"; gates: {', '.join(p.gates)}" if p.gates else "")))
    if r.approvals:
        print_table("decisions", ["principal", "decision", "roles", "comment", "at"],
                    [[a.principal, a.decision, ", ".join(a.roles), a.comment, fmt_time(a.at)]
                     for a in r.approvals])
    if r.gates:
        print_table("gates", ["gate", "result", "by", "at", "details"],
                    [[g, "passed" if res.passed else "failed", res.by, fmt_time(res.at),
                      ", ".join(f"{k}={v}" for k, v in sorted(res.details.items()))]
                     for g, res in sorted(r.gates.items())])
    if r.status.value == "pending":
        for need in r.missing:
            console().print(Text(f"still needed: {need}"))


@app.command("list")
def list_requests(
    status: Annotated[
        StatusName | None, typer.Option(help="Only requests in this state (default: all).")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Only this model.")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List promotion requests, oldest first, with what each still needs."""
    with open_client(project) as c:
        requests = c.models.requests(model, status=status, project=project)
    if as_json:
        print_json([r.model_dump(mode="json") for r in requests])
        return
    print_table(
        f"{len(requests)} request(s)",
        ["id", "model", "version", "alias", "from", "status", "requested by", "requested",
         "missing"],
        [[r.id, r.model, r.version, r.alias, r.from_version, r.status.value, r.requested_by,
          fmt_time(r.requested_at), "; ".join(r.missing) if r.status.value == "pending" else ""]
         for r in requests],
    )


@app.command("show")
def show(request_id: IdArg, as_json: JsonOpt = False) -> None:
    """Show a request: policy, decisions, gate results and what is missing."""
    with open_client() as c:
        r = c.models.get_request(request_id)
    if as_json:
        print_json(r.model_dump(mode="json"))
        return
    show_request(r)


@app.command("approve")
def approve(request_id: IdArg, comment: CommentOpt = "") -> None:
    """Approve a pending request (needs models.approve; not your own request)."""
    with open_client() as c:
        r = c.models.approve(request_id, comment)
    print_outcome(r)


@app.command("reject")
def reject(request_id: IdArg, comment: CommentOpt = "") -> None:
    """Reject a pending request; this closes it."""
    with open_client() as c:
        r = c.models.reject(request_id, comment)
    print_outcome(r)


@app.command("gate")
def gate(
    request_id: IdArg,
    gate_name: Annotated[str, typer.Argument(metavar="GATE", help="Gate name, e.g. 'ci'.")],
    passed: Annotated[
        bool | None, typer.Option("--passed/--failed", help="The gate's result (required).")
    ] = None,
) -> None:
    """Record a CI/CD gate result on a pending request (needs models.deploy)."""
    if passed is None:
        raise typer.BadParameter("say --passed or --failed", param_hint="--passed/--failed")
    with open_client() as c:
        r = c.models.record_gate(request_id, gate_name, passed=passed)
    print_outcome(r)


@app.command("cancel")
def cancel(
    request_id: IdArg,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "",
) -> None:
    """Cancel a pending request (your own, or any with models.admin)."""
    with open_client() as c:
        r = c.models.cancel(request_id, reason)
    print_outcome(r)
