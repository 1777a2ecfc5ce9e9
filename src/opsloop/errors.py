"""The one exception tree of opsloop.

Every error opsloop raises on purpose is an :class:`OpsloopError`; each carries the
context a user needs (the object kind and id, or the field, value and rule) and a hint
that says what to do next. The server maps ``code`` to an HTTP status once, at its
edge; the HTTP client maps it back, so remote and local callers catch the same classes.

::

    OpsloopError                       code
    ├── NotFound                       NOT_FOUND          (404)
    ├── AlreadyExists                  ALREADY_EXISTS     (409)
    ├── Conflict                       CONFLICT           (409)
    ├── InvalidInput                   INVALID_INPUT      (422)
    │   └── InvalidFilter              INVALID_FILTER     (422)
    ├── PermissionDenied               PERMISSION_DENIED  (403)
    ├── Unauthenticated                UNAUTHENTICATED    (401)
    ├── UntrustedFormat                UNTRUSTED_FORMAT   (422)
    ├── DigestMismatch                 DIGEST_MISMATCH    (500)
    ├── MissingExtra                   MISSING_EXTRA      (500)
    ├── ConfigError                    CONFIG_ERROR       (500)
    └── StoreUnavailable               STORE_UNAVAILABLE  (503)

Example:
    >>> try:
    ...     raise NotFound("run", "0123")
    ... except OpsloopError as exc:
    ...     print(exc.code, exc)
    NOT_FOUND run '0123' does not exist
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AlreadyExists",
    "ConfigError",
    "Conflict",
    "DigestMismatch",
    "InvalidFilter",
    "InvalidInput",
    "MissingExtra",
    "NotFound",
    "OpsloopError",
    "PermissionDenied",
    "StoreUnavailable",
    "Unauthenticated",
    "UntrustedFormat",
    "error_class_for_code",
    "from_wire",
    "import_extra",
]


class OpsloopError(Exception):
    """Root of every error opsloop raises on purpose.

    Attributes:
        code: a stable, language-neutral name used on the wire.
        message: what went wrong.
        hint: what to do next (may be empty).
        details: machine-readable context (field, value, rule, kind, id, ...).
    """

    code: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str, *, hint: str = "", **details: Any) -> None:
        self.message = message
        self.hint = hint
        self.details = details
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.message}. {self.hint}" if self.hint else self.message

    def to_dict(self) -> dict[str, Any]:
        """The JSON body the server sends for this error."""
        return {"code": self.code, "message": self.message, "hint": self.hint,
                "details": {k: _jsonable(v) for k, v in self.details.items()}}


class NotFound(OpsloopError):
    """An object that was asked for by name or id does not exist."""

    code = "NOT_FOUND"

    def __init__(self, kind: str, ident: object, *, hint: str = "") -> None:
        super().__init__(f"{kind} {str(ident)!r} does not exist", hint=hint,
                         kind=kind, id=str(ident))


class AlreadyExists(OpsloopError):
    """Creating an object whose name is taken."""

    code = "ALREADY_EXISTS"

    def __init__(self, kind: str, ident: object, *, hint: str = "") -> None:
        super().__init__(f"{kind} {str(ident)!r} already exists", hint=hint,
                         kind=kind, id=str(ident))


class Conflict(OpsloopError):
    """The request contradicts the current state (a param logged twice, a finished run)."""

    code = "CONFLICT"


class InvalidInput(OpsloopError):
    """A value from outside broke a rule; names the field, the value and the rule."""

    code = "INVALID_INPUT"

    def __init__(self, field: str, value: object, rule: str, *, hint: str = "") -> None:
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"invalid {field} {shown}: {rule}", hint=hint,
                         field=field, value=value, rule=rule)


class InvalidFilter(InvalidInput):
    """A search filter that does not parse; names the position and what was expected."""

    code = "INVALID_FILTER"

    def __init__(self, text: str, position: int, expected: str) -> None:
        super().__init__("filter", text, f"at position {position}: {expected}",
                         hint="see docs/tracking.md#search for the filter grammar")
        self.details["position"] = position


class PermissionDenied(OpsloopError):
    """The caller lacks a permission; names the permission."""

    code = "PERMISSION_DENIED"


class Unauthenticated(OpsloopError):
    """No valid credentials: a missing, unknown, expired or revoked token."""

    code = "UNAUTHENTICATED"


class UntrustedFormat(OpsloopError):
    """Loading would run code from the file (pickle, joblib): refused unless trusted."""

    code = "UNTRUSTED_FORMAT"


class DigestMismatch(OpsloopError):
    """Stored bytes no longer match the sha256 recorded for them."""

    code = "DIGEST_MISMATCH"

    def __init__(self, name: str, expected: str, actual: str) -> None:
        super().__init__(
            f"{name}: content digest sha256:{actual[:12]}... does not match the recorded "
            f"sha256:{expected[:12]}...",
            hint="the artifact was modified or corrupted after it was stored; restore it "
                 "or log it again",
            name=name, expected=expected, actual=actual)


class MissingExtra(OpsloopError):
    """An optional dependency is needed; says the exact pip command."""

    code = "MISSING_EXTRA"

    def __init__(self, extra: str, package: str, feature: str) -> None:
        super().__init__(f"{feature} needs the package {package!r}, which is not installed",
                         hint=f"install it with: pip install 'opsloop[{extra}]'",
                         extra=extra, package=package)


def import_extra(module: str, *, extra: str, feature: str, package: str | None = None) -> Any:
    """Import an optional dependency, or raise :class:`MissingExtra` with the pip command.

    >>> import_extra("json", extra="none", feature="parsing").__name__
    'json'
    >>> import_extra("no_such_module", extra="s3", feature="an s3:// store")
    Traceback (most recent call last):
    ...
    opsloop.errors.MissingExtra: an s3:// store needs the package 'no_such_module', ...
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(extra, package or module.split(".")[0], feature) from None


class ConfigError(OpsloopError):
    """A setting has an invalid value; names the setting."""

    code = "CONFIG_ERROR"


class StoreUnavailable(OpsloopError):
    """The metadata store, artifact store or server cannot be reached."""

    code = "STORE_UNAVAILABLE"


_BY_CODE: dict[str, type[OpsloopError]] = {
    cls.code: cls
    for cls in (OpsloopError, NotFound, AlreadyExists, Conflict, InvalidInput, InvalidFilter,
                PermissionDenied, Unauthenticated, UntrustedFormat, DigestMismatch, MissingExtra,
                ConfigError, StoreUnavailable)
}


def error_class_for_code(code: str) -> type[OpsloopError]:
    """The exception class for a wire ``code``; unknown codes map to the root."""
    return _BY_CODE.get(code, OpsloopError)


def from_wire(body: dict[str, Any]) -> OpsloopError:
    """Rebuild the error a server sent, keeping its class, message, hint and details."""
    cls = error_class_for_code(str(body.get("code", "")))
    exc = cls.__new__(cls)
    OpsloopError.__init__(exc, str(body.get("message", "server error")),
                          hint=str(body.get("hint", "")), **dict(body.get("details") or {}))
    return exc


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) \
            else str(value)
    return repr(value)
