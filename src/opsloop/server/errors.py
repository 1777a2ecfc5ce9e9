"""Errors at the HTTP edge: the one place where exception classes become status codes.

Every error answer has the body ``{"error": {"code", "message", "hint", "details"}}``
(:class:`ErrorResponse`): opsloop errors, request validation (one ``details.problems``
entry per bad field), unknown routes and methods, and unexpected failures. The wire never
names Python classes; an unexpected failure answers 500 with a reference to the one log
record that holds the traceback, and nothing else.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opsloop.errors import OpsloopError

__all__ = ["ERROR_RESPONSES", "STATUS", "ErrorBody", "ErrorResponse", "install", "responses"]

log = logging.getLogger("opsloop.server")

STATUS = {
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "CONFLICT": 409,
    "INVALID_INPUT": 422,
    "INVALID_FILTER": 422,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "UNTRUSTED_FORMAT": 422,
    "STORE_UNAVAILABLE": 503,
}
"""Status of each opsloop error code; any other code answers 500."""

# Codes for the errors Starlette raises itself (unknown route, wrong method, ...).
_HTTP_CODES = {
    400: "INVALID_INPUT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}

# pydantic messages of these error types name a Python class; say it without the class.
_NEUTRAL_RULES = {
    "model_type": "Input should be an object",
    "model_attributes_type": "Input should be an object",
    "dataclass_type": "Input should be an object",
    "dataclass_exact_type": "Input should be an object",
    "is_instance_of": "Input has the wrong type",
    "is_subclass_of": "Input has the wrong type",
}
_MAX_VALUE_CHARS = 200


class ErrorBody(BaseModel):
    """What went wrong, in words and in a form a program can act on."""

    code: str = Field(
        description="Stable, language-neutral name, e.g. NOT_FOUND or "
        "INVALID_INPUT; the HTTP status follows from it."
    )
    message: str = Field(description="What went wrong.")
    hint: str = Field("", description="What to do next (may be empty).")
    details: dict[str, Any] = Field(
        default_factory=dict,
        description="Context: kind and id of a missing object; field, value and rule of "
        "bad input; 'problems' (one per bad field) for a malformed request; "
        "'position' for a filter that does not parse.",
    )


class ErrorResponse(BaseModel):
    """The body of every error answer."""

    error: ErrorBody


_DESCRIPTIONS = {
    403: "Permission denied",
    404: "Not found",
    405: "Method not allowed",
    409: "Already exists, or conflicts with the current state",
    422: "Invalid input: a malformed request or a value that breaks a rule",
    500: "Unexpected server error; the message holds a reference to the server log",
    503: "The metadata or artifact store is unavailable",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the given error statuses, all with :class:`ErrorResponse`."""
    return {s: {"model": ErrorResponse, "description": _DESCRIPTIONS[s]} for s in statuses}


ERROR_RESPONSES = responses(404, 422, 500, 503)
"""Error answers any API route may give (declaring 422 also replaces FastAPI's default)."""


class ErrorJSONResponse(JSONResponse):
    """JSON in ASCII: an error may quote request text holding a lone surrogate, which
    UTF-8 cannot encode (the default rendering would fail and turn a 422 into a 500)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(
            content, ensure_ascii=True, allow_nan=False, separators=(",", ":")
        ).encode("ascii")


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    hint: str = "",
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"code": code, "message": message, "hint": hint, "details": details or {}}
    return ErrorJSONResponse({"error": body}, status_code=status, headers=headers)


def _json_value(value: Any) -> Any:
    """A request value as it can go back on the wire: JSON, and short."""
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):  # NaN from a bare NaN literal, or not JSON at all
        text = json.dumps(str(value))
        value = str(value)
    if len(text) <= _MAX_VALUE_CHARS:
        return value
    return text[: _MAX_VALUE_CHARS - 3] + "..."


def validation_problems(errors: Iterable[Any]) -> list[dict[str, Any]]:
    """One ``{"field", "in", "rule", "value"}`` entry per pydantic error of a request."""
    problems = []
    for e in errors:
        loc = tuple(e.get("loc", ()))
        where = str(loc[0]) if loc else "body"
        if e.get("type") == "json_invalid":
            reason = (e.get("ctx") or {}).get("error", "JSON decode error")
            at = f" at position {loc[1]}" if len(loc) > 1 else ""
            problems.append(
                {
                    "field": "body",
                    "in": "body",
                    "rule": f"must be valid JSON: {reason}{at}",
                    "value": None,
                }
            )
            continue
        field = ".".join(str(p) for p in loc[1:]) or where
        missing = e.get("type") == "missing"
        problems.append(
            {
                "field": field,
                "in": where,
                "rule": _NEUTRAL_RULES.get(str(e.get("type")), str(e.get("msg", "invalid"))),
                "value": None if missing else _json_value(e.get("input")),
            }
        )
    return problems


class InternalErrors:
    """ASGI middleware: any exception no handler took answers 500 with a reference.

    The traceback is logged once, under the reference the client sees; the body says
    nothing else (no class names, no traceback). Starlette's own last-resort handler
    would re-raise after answering, making the ASGI server log it a second time.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            ref = uuid.uuid4().hex[:12]
            log.exception(
                "unexpected error %s on %s %s", ref, scope.get("method"), scope.get("path")
            )
            if started:  # the status line is out: all that is left is to drop the connection
                raise
            response = error_response(
                500,
                "INTERNAL",
                f"internal server error (reference {ref})",
                hint="the server log has the details under this reference",
                details={"reference": ref},
            )
            await response(scope, receive, send)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into an :class:`ErrorResponse`."""

    @app.exception_handler(OpsloopError)
    async def _opsloop(_: Request, exc: OpsloopError) -> JSONResponse:
        status = STATUS.get(exc.code, 500)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return ErrorJSONResponse({"error": exc.to_dict()}, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = validation_problems(exc.errors())
        first = problems[0] if problems else {"field": "body", "rule": "invalid"}
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        return error_response(
            422,
            "INVALID_INPUT",
            f"invalid {first['field']}: {first['rule']}{more}",
            hint="see /docs for the request schema",
            details={"problems": problems},
        )

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
        if exc.status_code == 404:
            message = f"no route {request.method} {request.url.path}"
            hint = "see /docs for the API"
        elif exc.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
            hint = f"allowed: {(exc.headers or {}).get('Allow', '')}"
        else:
            message = exc.detail if isinstance(exc.detail, str) else "request refused"
            hint = ""
        return error_response(
            exc.status_code,
            code,
            message,
            hint=hint,
            headers=dict(exc.headers) if exc.headers else None,
        )

    app.add_middleware(InternalErrors)
