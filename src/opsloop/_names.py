"""Validation of names, keys and values that come from users.

Rules (also in docs/tracking.md):

* names of projects, experiments and datasets: 1-128 characters, letters, digits and
  ``_ - . space``, starting with a letter or digit;
* metric, param and tag keys: 1-250 characters, letters, digits and ``_ - . / : space``,
  no leading ``/`` and no ``..`` segment (keys become artifact-like paths in exports);
* param values: at most 6,000 characters; tag values: at most 8,000 characters.
"""

from __future__ import annotations

import enum
import math
import re
from functools import lru_cache
from typing import TypeVar

from opsloop.errors import InvalidInput

E = TypeVar("E", bound=enum.Enum)

MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-. ]{0,127}")
_KEY = re.compile(r"[A-Za-z0-9_\-. /:]{1,250}")


def check_name(kind: str, value: object) -> str:
    """Return ``value`` if it is a valid name of ``kind``, else raise InvalidInput.

    >>> check_name("experiment", "credit risk")
    'credit risk'
    >>> check_name("experiment", "../etc")
    Traceback (most recent call last):
    ...
    opsloop.errors.InvalidInput: invalid experiment name '../etc': must be 1-128 letters, ...
    """
    if not isinstance(value, str) or not _NAME.fullmatch(value) or value != value.strip():
        raise InvalidInput(f"{kind} name", value,
                           "must be 1-128 letters, digits, '_', '-', '.' or spaces, "
                           "starting with a letter or digit")
    return value


@lru_cache(maxsize=4096)
def _key_ok(value: str) -> bool:
    return bool(_KEY.fullmatch(value)) and not value.startswith("/") \
        and ".." not in value.split("/")


def check_key(kind: str, value: object) -> str:
    """Return ``value`` if it is a valid metric/param/tag key (cached: cheap on hot paths)."""
    if isinstance(value, str) and _key_ok(value):
        return value
    raise InvalidInput(f"{kind} key", value,
                       "must be 1-250 letters, digits, '_', '-', '.', '/', ':' or spaces, "
                       "with no leading '/' and no '..' segment")


def check_text(kind: str, text: str) -> str:
    r"""Return ``text`` if it can be stored: valid Unicode (no lone surrogates).

    >>> check_text("tag 't' value", "caf\u00e9")
    'café'
    >>> check_text("tag 't' value", "\ud800")
    Traceback (most recent call last):
    ...
    opsloop.errors.InvalidInput: invalid tag 't' value '\ud800': must be valid Unicode text ...
    """
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(kind, text, "must be valid Unicode text "
                               "(it holds a lone surrogate)") from None
    return text


def check_time(kind: str, value: object) -> int:
    """Times are integer milliseconds since the Unix epoch, 0 to 2**63 - 1."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise InvalidInput(kind, value, "must be milliseconds since the Unix epoch "
                           "(an integer from 0 to 2**63 - 1)")
    return value


def check_param_value(key: str, value: object) -> str:
    """Params are stored as strings; return the string form, checking its length."""
    text = check_text(f"param {key!r} value", value if isinstance(value, str) else str(value))
    if len(text) > MAX_PARAM_VALUE:
        raise InvalidInput(f"param {key!r} value", text,
                           f"must be at most {MAX_PARAM_VALUE} characters (got {len(text)})",
                           hint="log long values as an artifact instead")
    return text


def check_tag_value(key: str, value: object) -> str:
    """Tags are stored as strings; return the string form, checking its length."""
    text = check_text(f"tag {key!r} value", value if isinstance(value, str) else str(value))
    if len(text) > MAX_TAG_VALUE:
        raise InvalidInput(f"tag {key!r} value", text,
                           f"must be at most {MAX_TAG_VALUE} characters (got {len(text)})")
    return text


def check_metric_value(key: str, value: object) -> float:
    """Metric values are floats; NaN and +-inf are kept as they are."""
    if isinstance(value, bool):
        return float(value)
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput(f"metric {key!r} value", value, "must be a number") from None


def check_step(value: object) -> int:
    """Steps are integers in the signed 64-bit range."""
    as_int: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        as_int = value
    elif isinstance(value, float | str) or hasattr(value, "__index__"):
        try:
            as_int = int(value)
        except (TypeError, ValueError, OverflowError):
            as_int = None
    if as_int is None or as_int != value or not -(2**63) <= as_int < 2**63:
        raise InvalidInput("metric step", value, "must be an integer in the 64-bit range")
    return as_int


def is_finite(value: float) -> bool:
    """True for ordinary floats (not NaN, not infinite)."""
    return math.isfinite(value)


def check_choice(cls: type[E], value: object, field: str) -> E:
    """``cls(value)``, or an InvalidInput naming ``field`` and listing the allowed values.

    >>> import enum
    >>> class Color(enum.StrEnum):
    ...     RED = "red"
    >>> check_choice(Color, "blue", "color")
    Traceback (most recent call last):
    ...
    opsloop.errors.InvalidInput: invalid color 'blue': must be one of red
    """
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in cls)
        raise InvalidInput(field, value, f"must be one of {allowed}") from None
