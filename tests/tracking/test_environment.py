"""Tests of opsloop.tracking.environment."""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Iterator
from importlib import metadata

import pytest

from opsloop.tracking import environment
from opsloop.tracking.environment import capture_environment, clear_cache


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


def test_describes_this_interpreter() -> None:
    env = capture_environment()
    assert env.python == f"{platform.python_implementation()} {platform.python_version()}"
    assert env.platform == platform.platform()


def test_contains_real_package_versions() -> None:
    packages = capture_environment().packages
    assert packages["pydantic"] == metadata.version("pydantic")
    assert packages["pytest"] == metadata.version("pytest")
    assert list(packages) == sorted(packages)
    assert all(name == environment._normalize(name) for name in packages)


def test_digest_is_sha256_of_the_canonical_form() -> None:
    env = capture_environment()
    expected = hashlib.sha256(environment._canonical(env.python, env.packages)).hexdigest()
    assert env.digest == expected


def test_digest_is_stable_across_captures() -> None:
    first = capture_environment()
    clear_cache()
    second = capture_environment()
    assert second is not first
    assert second.digest == first.digest


def test_cached_for_the_process() -> None:
    assert capture_environment() is capture_environment()


def test_digest_changes_with_the_package_set() -> None:
    env = capture_environment()
    base = environment._digest(env.python, env.packages)
    upgraded = {**env.packages, "pydantic": "999.0"}
    added = {**env.packages, "some-new-package": "1.0"}
    removed = {k: v for k, v in env.packages.items() if k != "pydantic"}
    digests = {base, *(environment._digest(env.python, p) for p in (upgraded, added, removed))}
    assert len(digests) == 4
    assert environment._digest("CPython 0.0.1", env.packages) != base


def test_digest_ignores_insertion_order_and_platform() -> None:
    packages = {"b": "2", "a": "1"}
    assert environment._digest("CPython 3.11.7", packages) == environment._digest(
        "CPython 3.11.7", dict(reversed(packages.items()))
    )


@pytest.mark.parametrize(
    ("name", "normalized"),
    [
        ("PyYAML", "pyyaml"),
        ("typing_extensions", "typing-extensions"),
        ("zope.interface", "zope-interface"),
        ("a-_.b", "a-b"),
    ],
)
def test_normalize(name: str, normalized: str) -> None:
    assert environment._normalize(name) == normalized
