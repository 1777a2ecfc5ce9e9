"""Tests of opsloop.tracking.source: git capture in throwaway repositories."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsloop.errors import InvalidInput
from opsloop.tracking import source
from opsloop.tracking.entities import SourceVersion
from opsloop.tracking.source import capture_source, clear_cache


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, check=True, text=True)
    return done.stdout.strip()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    # Ignore the developer's git configuration and any repository a hook points at.
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-global-config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with one commit on branch ``main``: tracked ``a.txt``, ignored ``*.log``."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "--quiet", "--initial-branch=main")
    git(root, "config", "user.name", "Test")
    git(root, "config", "user.email", "test@example.com")
    git(root, "config", "commit.gpgsign", "false")
    (root / "a.txt").write_text("one\n")
    (root / ".gitignore").write_text("*.log\n")
    git(root, "add", "a.txt", ".gitignore")
    git(root, "commit", "--quiet", "-m", "first")
    return root


def test_clean_tree(repo: Path) -> None:
    got, diff = capture_source(repo, max_age=0)
    assert got == SourceVersion(
        repo=str(repo.resolve()),
        commit=git(repo, "rev-parse", "HEAD"),
        branch="main",
        dirty=False,
        diff_digest=None,
    )
    assert diff is None


def test_modified_file_is_dirty_with_diff(repo: Path) -> None:
    (repo / "a.txt").write_text("two\n")
    got, diff = capture_source(repo, max_age=0)
    assert got.dirty is True
    assert diff is not None
    assert b"-one" in diff
    assert b"+two" in diff
    assert got.diff_digest == hashlib.sha256(diff).hexdigest()


def test_binary_change_is_in_the_diff(repo: Path) -> None:
    (repo / "blob.bin").write_bytes(b"\x00\x01\x02")
    git(repo, "add", "blob.bin")
    got, diff = capture_source(repo, max_age=0)
    assert diff is not None
    assert b"GIT binary patch" in diff
    assert got.diff_digest == hashlib.sha256(diff).hexdigest()


def test_staged_change_is_in_the_diff(repo: Path) -> None:
    (repo / "a.txt").write_text("staged\n")
    git(repo, "add", "a.txt")
    got, diff = capture_source(repo, max_age=0)
    assert got.dirty is True
    assert diff is not None
    assert b"+staged" in diff


def test_untracked_file_is_dirty_but_not_in_the_diff(repo: Path) -> None:
    (repo / "new.py").write_text("print('hi')\n")
    got, diff = capture_source(repo, max_age=0)
    assert got.dirty is True
    assert diff == b""
    assert got.diff_digest == hashlib.sha256(b"").hexdigest()


def test_ignored_file_keeps_the_tree_clean(repo: Path) -> None:
    (repo / "train.log").write_text("noise\n")
    got, diff = capture_source(repo, max_age=0)
    assert got.dirty is False
    assert diff is None


def test_detached_head_has_no_branch(repo: Path) -> None:
    commit = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "--quiet", "--detach", commit)
    got, _ = capture_source(repo, max_age=0)
    assert got.branch is None
    assert got.commit == commit


def test_repository_without_commits(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    root.mkdir()
    git(root, "init", "--quiet", "--initial-branch=dev")
    got, diff = capture_source(root, max_age=0)
    assert (got.commit, got.branch, got.dirty, diff) == (None, "dev", False, None)

    (root / "a.txt").write_text("one\n")
    got, diff = capture_source(root, max_age=0)
    assert (got.commit, got.dirty, diff) == (None, True, b"")

    git(root, "add", "a.txt")
    got, diff = capture_source(root, max_age=0)
    assert got.dirty is True
    assert diff is not None
    assert b"+one" in diff
    assert got.diff_digest == hashlib.sha256(diff).hexdigest()


def test_subdirectory_and_file_paths_find_the_top_level(repo: Path) -> None:
    (repo / "pkg").mkdir()
    (repo / "pkg" / "mod.py").write_text("x = 1\n")
    expected = capture_source(repo, max_age=0)[0]
    assert capture_source(repo / "pkg", max_age=0)[0].repo == expected.repo
    assert capture_source(repo / "pkg" / "mod.py", max_age=0)[0].commit == expected.commit


@pytest.mark.parametrize("where", ["plain", "missing", "inside-git-dir"])
def test_outside_a_work_tree_is_empty(tmp_path: Path, repo: Path, where: str) -> None:
    path = {
        "plain": tmp_path / "plain",
        "missing": tmp_path / "nope",
        "inside-git-dir": repo / ".git",
    }[where]
    if where == "plain":
        path.mkdir()
    assert capture_source(path, max_age=0) == (SourceVersion(), None)


def test_git_not_installed(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(repo / "no-bin-here"))
    assert capture_source(repo, max_age=0) == (SourceVersion(), None)


def test_git_timeout(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(*args: object, **kwargs: object) -> None:
        raise subprocess.TimeoutExpired(cmd="git", timeout=source.GIT_TIMEOUT)

    monkeypatch.setattr(subprocess, "run", slow)
    assert capture_source(repo, max_age=0) == (SourceVersion(), None)


def test_never_takes_the_index_lock(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str | None] = []
    real_run = subprocess.run

    def spy(*args: object, **kwargs: object) -> object:
        env = kwargs.get("env")
        assert isinstance(env, dict)
        seen.append(env.get("GIT_OPTIONAL_LOCKS"))
        assert kwargs.get("timeout") is not None
        assert "shell" not in kwargs
        return real_run(*args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(subprocess, "run", spy)
    capture_source(repo, max_age=0)
    assert seen
    assert set(seen) == {"0"}


@pytest.mark.parametrize(
    ("remote", "expected"),
    [
        ("https://alice:s3cret@github.com/org/repo.git", "https://github.com/org/repo.git"),
        ("https://ghp_token@github.com/org/repo.git", "https://github.com/org/repo.git"),
        ("http://u:p@host:8080/r.git", "http://host:8080/r.git"),
        ("https://github.com/org/repo.git", "https://github.com/org/repo.git"),
        ("ssh://git:pw@example.com:22/repo.git", "ssh://git@example.com:22/repo.git"),
        ("ssh://git@example.com/repo.git", "ssh://git@example.com/repo.git"),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
    ],
)
def test_origin_url_without_credentials(repo: Path, remote: str, expected: str) -> None:
    git(repo, "remote", "add", "origin", remote)
    assert capture_source(repo, max_age=0)[0].repo == expected


def test_cache_reuses_the_answer_until_cleared(repo: Path) -> None:
    first = capture_source(repo)
    (repo / "a.txt").write_text("changed\n")
    assert capture_source(repo) is first
    assert capture_source(repo / ".gitignore") is first  # same work tree, another path
    clear_cache()
    fresh = capture_source(repo)
    assert fresh is not first
    assert fresh[0].dirty is True


def test_cache_expires_and_max_age_zero_bypasses_it(repo: Path) -> None:
    first = capture_source(repo, max_age=60)
    assert capture_source(repo, max_age=0) is not first
    assert capture_source(repo, max_age=1e-9) is not first


def test_default_path_is_the_main_script(
    repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    script = repo / "train.py"
    script.write_text("")
    monkeypatch.setattr(sys, "argv", [str(script)])
    monkeypatch.chdir(tmp_path)
    assert capture_source(max_age=0)[0].commit == git(repo, "rev-parse", "HEAD")


def test_default_path_falls_back_to_the_working_directory(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["-c"])
    monkeypatch.chdir(repo)
    assert capture_source(max_age=0)[0].branch == "main"


@pytest.mark.parametrize("max_age", [-1.0, float("nan")])
def test_bad_max_age(max_age: float) -> None:
    with pytest.raises(InvalidInput, match="max_age"):
        capture_source(max_age=max_age)
