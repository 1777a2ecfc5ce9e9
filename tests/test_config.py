"""Settings: sources, precedence and fail-fast validation naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsloop.config import Settings
from opsloop.errors import ConfigError


def test_defaults_live_under_home(tmp_path: Path) -> None:
    s = Settings.load(env={"OPSLOOP_HOME": str(tmp_path)}, toml_path=None)
    assert s.database_url == f"sqlite:///{tmp_path}/opsloop.db"
    assert s.artifacts == str(tmp_path / "artifacts")
    assert not s.is_remote and s.project == "default"


def test_precedence_is_overrides_then_env_then_toml(tmp_path: Path) -> None:
    toml = tmp_path / "opsloop.toml"
    toml.write_text('[opsloop]\nproject = "from-toml"\nmetric_flush_interval = 5\n'
                    'http_timeout = 7\n')
    env = {"OPSLOOP_PROJECT": "from-env", "OPSLOOP_METRIC_FLUSH_INTERVAL": "2"}
    s = Settings.load(env=env, toml_path=toml, metric_flush_interval=0.5)
    assert (s.project, s.metric_flush_interval, s.http_timeout) == ("from-env", 0.5, 7.0)


def test_opsloop_config_points_at_another_file(tmp_path: Path) -> None:
    other = tmp_path / "prod.toml"
    other.write_text('tracking_uri = "http://127.0.0.1:5000/"\n')
    s = Settings.load(env={"OPSLOOP_CONFIG": str(other)}, toml_path=None)
    assert s.tracking_uri == "http://127.0.0.1:5000" and s.is_remote


@pytest.mark.parametrize(("env", "variable"), [
    ({"OPSLOOP_METRIC_FLUSH_INTERVAL": "soon"}, "OPSLOOP_METRIC_FLUSH_INTERVAL"),
    ({"OPSLOOP_METRIC_FLUSH_INTERVAL": "0"}, "OPSLOOP_METRIC_FLUSH_INTERVAL"),
    ({"OPSLOOP_TRACKING_URI": "ftp://x"}, "OPSLOOP_TRACKING_URI"),
    ({"OPSLOOP_DATABASE_URL": "mysql://x"}, "OPSLOOP_DATABASE_URL"),
    ({"OPSLOOP_PROJECT": "../etc"}, "OPSLOOP_PROJECT"),
    ({"OPSLOOP_CAPTURE_SOURCE": "maybe"}, "OPSLOOP_CAPTURE_SOURCE"),
])
def test_invalid_values_fail_fast_naming_the_variable(env: dict[str, str],
                                                      variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.load(env=env, toml_path=None)


def test_unknown_toml_keys_and_bad_toml_are_errors(tmp_path: Path) -> None:
    toml = tmp_path / "opsloop.toml"
    toml.write_text("databse_url = 'sqlite://'\n")
    with pytest.raises(ConfigError, match="databse_url"):
        Settings.load(env={}, toml_path=toml)
    toml.write_text("this is = = not toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Settings.load(env={}, toml_path=toml)


def test_postgres_scheme_is_normalized() -> None:
    s = Settings.load(env={"OPSLOOP_DATABASE_URL": "postgres://u@h/db"}, toml_path=None)
    assert s.database_url == "postgresql://u@h/db"


def test_settings_are_immutable(tmp_path: Path) -> None:
    s = Settings(home=tmp_path)
    with pytest.raises(ValueError, match="frozen"):
        s.project = "other"  # type: ignore[misc]
