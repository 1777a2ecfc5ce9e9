"""Capture of the source-code version a run came from (C2 in ARCHITECTURE.md).

:func:`capture_source` asks ``git`` (a subprocess, never a shell) for the enclosing
work tree's commit, branch, remote and uncommitted changes. It is called on every run
start, so it never raises for a missing repository or a missing or slow ``git`` (it
returns an empty :class:`~opsloop.tracking.entities.SourceVersion` instead), it never
takes git's index lock (``GIT_OPTIONAL_LOCKS=0``, see
https://git-scm.com/docs/git#Documentation/git.txt-codeGITOPTIONALLOCKScode), and it
caches its answer per work tree for a few seconds.

What the fields mean:

* ``repo``: the ``origin`` remote URL with any credentials removed
  (``https://user:token@host/x.git`` becomes ``https://host/x.git``), or the work
  tree's top-level path when there is no ``origin``;
* ``commit``: the full sha of ``HEAD`` (``None`` before the first commit);
* ``branch``: the current branch (``None`` when ``HEAD`` is detached);
* ``dirty``: ``git status --porcelain`` is not empty, so untracked files that are not
  ignored make the tree dirty;
* ``diff_digest``: sha256 of ``git diff HEAD --binary`` (against the empty tree before
  the first commit) when dirty, else ``None``. The diff holds tracked changes only:
  untracked files make the tree dirty but are not in the diff, so their content is
  not part of the digest.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from opsloop.errors import InvalidInput
from opsloop.tracking.entities import SourceVersion

__all__ = ["capture_source", "clear_cache"]

GIT_TIMEOUT = 5.0
"""Seconds one git subprocess may take before the capture gives up."""

_Result = tuple[SourceVersion, bytes | None]
_EMPTY: _Result = (SourceVersion(), None)

_MAX_ENTRIES = 1024
_lock = threading.Lock()
# start directory -> (monotonic time, top level or None when it is not in a work tree)
_tops: dict[str, tuple[float, str | None]] = {}
# work-tree top level -> (monotonic time of the capture, result)
_results: dict[str, tuple[float, _Result]] = {}

# Options that make the diff bytes independent of the user's git configuration
# (colors, external diff drivers, textconv filters, custom or missing path prefixes).
_DIFF_OPTIONS = (
    "--binary",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--src-prefix=a/",
    "--dst-prefix=b/",
)


class _GitFailed(Exception):
    """git is missing, timed out, or could not run; the capture returns empty."""


def capture_source(
    path: str | os.PathLike[str] | None = None, *, max_age: float = 30.0
) -> tuple[SourceVersion, bytes | None]:
    """The git version of the code at ``path``, and its uncommitted diff.

    Args:
        path: a file or directory inside the work tree. Default: the directory of the
            main script (``sys.argv[0]``) when it exists, else the working directory.
        max_age: seconds a previous answer for the same work tree may be reused;
            ``0`` always asks git again.

    Returns:
        ``(source, diff)``: ``diff`` is the bytes of ``git diff HEAD --binary`` when
        the tree is dirty (possibly empty when only untracked files changed) and
        ``None`` when it is clean; ``source.diff_digest`` is its sha256. Outside a work
        tree, or when git is missing or times out, ``(SourceVersion(), None)``.

    Raises:
        InvalidInput: ``max_age`` is negative or not a number.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     capture_source(folder)
        (SourceVersion(repo=None, commit=None, branch=None, dirty=None, diff_digest=None), None)
    """
    if not max_age >= 0:
        raise InvalidInput(
            "max_age",
            max_age,
            "must be a number of seconds >= 0",
            hint="pass max_age=0 to disable the cache",
        )
    start = _start_directory(path)
    if start is None:
        return _EMPTY
    now = time.monotonic()  # an answer's age counts from before git was asked
    if max_age > 0:
        with _lock:
            known = _tops.get(start)
            if known is not None and now - known[0] < max_age:
                if known[1] is None:
                    return _EMPTY
                cached = _results.get(known[1])
                if cached is not None and now - cached[0] < max_age:
                    return cached[1]
    try:
        top = _top_level(start)
        result = _EMPTY if top is None else _capture(top)
    except _GitFailed:
        return _EMPTY
    if max_age > 0:
        with _lock:
            if len(_tops) > _MAX_ENTRIES:
                _tops.clear()
                _results.clear()
            _tops[start] = (now, top)
            if top is not None:
                _results[top] = (now, result)
    return result


def clear_cache() -> None:
    """Forget every cached answer of :func:`capture_source`.

    Example:
        >>> clear_cache()
    """
    with _lock:
        _tops.clear()
        _results.clear()


def _start_directory(path: str | os.PathLike[str] | None) -> str | None:
    """The existing directory to run git in, or ``None`` when ``path`` does not exist."""
    if path is None:
        script = sys.argv[0] if sys.argv else ""
        candidate = Path(script) if script else None
        if candidate is None or not candidate.exists():
            return os.getcwd()
    else:
        candidate = Path(path)
        if not candidate.exists():
            return None
    directory = candidate if candidate.is_dir() else candidate.parent
    return str(directory.resolve())


def _git(cwd: str, *args: str, stdin: bytes | None = None) -> tuple[int, bytes]:
    """Run ``git args`` in ``cwd``; returns (exit code, stdout)."""
    env = dict(os.environ)
    # The repository is found from cwd alone, never from variables set by a hook.
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        env.pop(name, None)
    env["GIT_OPTIONAL_LOCKS"] = "0"
    env["GIT_TERMINAL_PROMPT"] = "0"
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env,
            input=stdin,
            capture_output=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise _GitFailed(str(exc)) from exc
    return done.returncode, done.stdout


def _top_level(start: str) -> str | None:
    code, out = _git(start, "rev-parse", "--show-toplevel")
    top = os.fsdecode(out.strip())
    return top if code == 0 and top else None


def _capture(top: str) -> _Result:
    code, out = _git(top, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    commit = out.decode("ascii", "replace").strip() if code == 0 else None
    code, out = _git(top, "symbolic-ref", "--quiet", "--short", "HEAD")
    branch = out.decode("utf-8", "replace").strip() if code == 0 else None
    code, status = _git(top, "status", "--porcelain", "--untracked-files=normal")
    if code != 0:
        raise _GitFailed("git status failed")
    dirty = bool(status.strip())
    diff: bytes | None = None
    if dirty:
        base = commit or _empty_tree(top)
        code, diff = _git(top, "diff", base, *_DIFF_OPTIONS)
        if code != 0:
            raise _GitFailed("git diff failed")
    code, out = _git(top, "remote", "get-url", "origin")
    remote = out.decode("utf-8", "replace").strip() if code == 0 else ""
    source = SourceVersion(
        repo=_strip_credentials(remote) if remote else top,
        commit=commit or None,
        branch=branch or None,
        dirty=dirty,
        diff_digest=None if diff is None else hashlib.sha256(diff).hexdigest(),
    )
    return source, diff


def _empty_tree(top: str) -> str:
    """The id of the empty tree in this repository's hash (sha1 or sha256); writes nothing."""
    code, out = _git(top, "hash-object", "-t", "tree", "--stdin", stdin=b"")
    if code != 0:
        raise _GitFailed("git hash-object failed")
    return out.decode("ascii").strip()


def _strip_credentials(url: str) -> str:
    """``url`` without a password or token; an ssh user name (``git@``) is kept.

    Example:
        >>> _strip_credentials("https://alice:ghp_secret@github.com/org/repo.git")
        'https://github.com/org/repo.git'
        >>> _strip_credentials("https://ghp_token@github.com/org/repo.git")
        'https://github.com/org/repo.git'
        >>> _strip_credentials("ssh://git:pw@example.com/repo.git")
        'ssh://git@example.com/repo.git'
        >>> _strip_credentials("git@github.com:org/repo.git")
        'git@github.com:org/repo.git'
    """
    if "://" not in url:
        return url  # scp-like "user@host:path" or a local path: no password field
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    if parts.scheme.lower() in ("ssh", "git+ssh", "ssh+git"):
        # ssh authenticates with keys; the user name is part of the address.
        host = f"{userinfo.partition(':')[0]}@{host}"
    return urlunsplit(parts._replace(netloc=host))
