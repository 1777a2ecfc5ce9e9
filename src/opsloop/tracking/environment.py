"""Capture of the Python environment a run used: interpreter, platform and packages.

:func:`capture_environment` lists every installed distribution once per process (it
costs tens of milliseconds) and identifies the package set by a digest, so two runs
can be compared by one string and a model can record exactly what it was trained with.
"""

from __future__ import annotations

import functools
import hashlib
import json
import platform
import re
from importlib import metadata

from opsloop.tracking.entities import Environment

__all__ = ["capture_environment", "clear_cache"]

_SEPARATORS = re.compile(r"[-_.]+")


def capture_environment() -> Environment:
    """The interpreter, platform and installed packages of this process.

    ``packages`` maps each installed distribution's normalized name
    (`PEP 503 <https://peps.python.org/pep-0503/#normalized-names>`_: lower case, runs of
    ``-_.`` become ``-``) to its version, sorted by name. When a name is installed twice
    on ``sys.path``, the first one wins, as it does for ``importlib.metadata.version``.

    ``digest`` is the sha256 of a canonical JSON of ``python`` and ``packages`` only.
    The platform is recorded but deliberately left out of the digest: the same
    interpreter and package set on a laptop and on a CI runner is one environment, so a
    model trained on one and evaluated on the other shows the same digest. Compare
    ``platform`` as well when the operating system or CPU architecture matters.

    The answer is computed once per process; :func:`clear_cache` forgets it (after
    installing packages at run time, or in tests).

    Example:
        >>> env = capture_environment()
        >>> env.python.split()[0] in {"CPython", "PyPy", "GraalVM", "IronPython", "Jython"}
        True
        >>> "pydantic" in env.packages and len(env.digest) == 64
        True
        >>> capture_environment() is env
        True
    """
    return _capture()


def clear_cache() -> None:
    """Forget the environment captured by :func:`capture_environment`.

    Example:
        >>> clear_cache()
    """
    _capture.cache_clear()


@functools.cache
def _capture() -> Environment:
    python = f"{platform.python_implementation()} {platform.python_version()}"
    packages = _installed_packages()
    return Environment(
        digest=_digest(python, packages),
        python=python,
        platform=platform.platform(),
        packages=packages,
    )


def _installed_packages() -> dict[str, str]:
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        # A broken install can leave metadata without a name; it is not a package.
        name = dist.metadata["Name"]
        if not name:
            continue
        found.setdefault(_normalize(name), dist.version)
    return dict(sorted(found.items()))


def _normalize(name: str) -> str:
    """The PEP 503 normalized form of a distribution name.

    Example:
        >>> _normalize("Typing_Extensions")
        'typing-extensions'
        >>> _normalize("zope.interface")
        'zope-interface'
    """
    return _SEPARATORS.sub("-", name).lower()


def _canonical(python: str, packages: dict[str, str]) -> bytes:
    """The bytes the environment digest is computed from: sorted, compact UTF-8 JSON.

    Example:
        >>> _canonical("CPython 3.11.7", {"b": "2", "a": "1"})
        b'{"packages":{"a":"1","b":"2"},"python":"CPython 3.11.7"}'
    """
    document = {"packages": packages, "python": python}
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def _digest(python: str, packages: dict[str, str]) -> str:
    return hashlib.sha256(_canonical(python, packages)).hexdigest()
