"""The one settings object.

Settings are read at the edge (the CLI, the server, the first fluent call) from, in order
of precedence: keyword arguments, ``OPSLOOP_*`` environment variables, an ``opsloop.toml``
file, and the defaults below. Every component receives a :class:`Settings`; none reads
the environment itself. Invalid values fail fast with a :class:`~opsloop.errors.ConfigError`
naming the environment variable.

Example:
    >>> s = Settings.load(env={"OPSLOOP_HOME": "/tmp/ol"}, toml_path=None)
    >>> s.database_url
    'sqlite:////tmp/ol/opsloop.db'
    >>> Settings.load(env={"OPSLOOP_METRIC_FLUSH_INTERVAL": "soon"}, toml_path=None)
    Traceback (most recent call last):
    ...
    opsloop.errors.ConfigError: OPSLOOP_METRIC_FLUSH_INTERVAL='soon': Input should be ...
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from opsloop.errors import ConfigError

__all__ = ["CREDENTIALS_FILE", "ENV_PREFIX", "Settings", "load_token", "save_token"]

CREDENTIALS_FILE = "credentials.json"

ENV_PREFIX = "OPSLOOP_"


class Settings(BaseModel):
    """Typed, immutable settings shared by every component.

    Attributes:
        home: folder for embedded state (``OPSLOOP_HOME``, default ``./.opsloop``).
        database_url: SQLAlchemy URL of the metadata store (``OPSLOOP_DATABASE_URL``);
            default ``sqlite:///<home>/opsloop.db``; ``postgresql://...`` needs
            ``opsloop[postgres]``.
        artifacts: artifact store root (``OPSLOOP_ARTIFACTS``): a folder or an fsspec URL
            such as ``s3://bucket/prefix`` (needs ``opsloop[s3]``); default ``<home>/artifacts``.
        tracking_uri: ``http(s)://host:port`` of a remote opsloop server
            (``OPSLOOP_TRACKING_URI``); when set, the client talks HTTP instead of using the
            local stores.
        project: project that new experiments belong to (``OPSLOOP_PROJECT``).
        metric_flush_interval: seconds a buffered metric point may wait before it is written.
        metric_buffer_max: points buffered before a caller blocks on a flush (bounds memory).
        heartbeat_interval: seconds between heartbeats of an active run.
        heartbeat_timeout: a RUNNING run with no heartbeat for this long is marked LOST.
        capture_source: record git commit, branch, dirty flag and diff digest on runs.
        capture_environment: record Python and installed package versions on runs.
        http_timeout: seconds the HTTP client waits for the server.
        s3_endpoint_url: endpoint of an S3-compatible service (MinIO, moto, ...).
        auth: require a token for every call (``OPSLOOP_AUTH=on``); off by default, when
            the local user acts as an admin.
        token: the bearer token to present (``OPSLOOP_TOKEN``); ``opsloop login`` stores
            one in ``<home>/credentials.json`` instead. Never printed.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    home: Path = Path(".opsloop")
    database_url: str = ""
    artifacts: str = ""
    tracking_uri: str = ""
    project: str = "default"
    metric_flush_interval: float = Field(1.0, gt=0, le=3600)
    metric_buffer_max: int = Field(100_000, ge=100)
    heartbeat_interval: float = Field(10.0, gt=0)
    heartbeat_timeout: float = Field(120.0, gt=0)
    capture_source: bool = True
    capture_environment: bool = True
    http_timeout: float = Field(30.0, gt=0)
    s3_endpoint_url: str = ""
    auth: bool = False
    token: SecretStr | None = None

    @field_validator("tracking_uri")
    @classmethod
    def _http_only(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql", "postgres://")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        if value.startswith("postgres://"):
            value = "postgresql://" + value[len("postgres://"):]
        return value

    @field_validator("project")
    @classmethod
    def _project_name(cls, value: str) -> str:
        from opsloop._names import check_name  # local: keeps this module import-light
        from opsloop.errors import InvalidInput

        try:
            return check_name("project", value)
        except InvalidInput as exc:
            raise ValueError(exc.details["rule"]) from None

    def model_post_init(self, __context: Any) -> None:
        home = self.home.expanduser().absolute()
        object.__setattr__(self, "home", home)
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{home / 'opsloop.db'}")
        if not self.artifacts:
            object.__setattr__(self, "artifacts", str(home / "artifacts"))

    @property
    def token_value(self) -> str | None:
        """The token from ``OPSLOOP_TOKEN``, else the one ``opsloop login`` stored for this
        server (or for the local store)."""
        token: Any = self.token
        if token is not None:  # a str when set through model_copy(update=...)
            return str(token.get_secret_value() if isinstance(token, SecretStr) else token)
        return load_token(self.home, self.tracking_uri or self.database_url)

    @property
    def is_remote(self) -> bool:
        """True when the client should talk to a server over HTTP."""
        return bool(self.tracking_uri)

    @classmethod
    def load(cls, *, env: Mapping[str, str] | None = None,
             toml_path: str | Path | None = "opsloop.toml", **overrides: Any) -> Settings:
        """Build settings from overrides, the environment and ``opsloop.toml``.

        Args:
            env: the environment to read (default: ``os.environ``).
            toml_path: a TOML file with a ``[opsloop]`` table or top-level keys; ignored if
                missing. ``OPSLOOP_CONFIG`` in ``env`` overrides it. ``None`` skips the file.
            **overrides: values that win over everything else.

        Raises:
            ConfigError: a value is invalid; the message names the variable and the rule.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        toml_file = env.get(f"{ENV_PREFIX}CONFIG") or toml_path
        if toml_file is not None and Path(toml_file).is_file():
            try:
                data = tomllib.loads(Path(toml_file).read_text())
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{toml_file} is not valid TOML: {exc}") from exc
            table = data.get("opsloop", data)
            unknown = set(table) - set(cls.model_fields)
            if unknown:
                raise ConfigError(f"{toml_file}: unknown setting(s) {sorted(unknown)}",
                                  hint=f"known settings: {sorted(cls.model_fields)}")
            values.update(table)
        for name in cls.model_fields:
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is not None and raw != "":
                values[name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except ValidationError as exc:
            err = exc.errors()[0]
            name = str(err["loc"][0]) if err["loc"] else "?"
            shown = "***" if name == "token" else values.get(name)
            raise ConfigError(
                f"{ENV_PREFIX}{name.upper()}={shown!r}: {err['msg'].removeprefix('Value error, ')}",
                hint="fix the environment variable or opsloop.toml") from None


def _credentials(home: Path) -> dict[str, str]:
    path = home / CREDENTIALS_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}",
                          hint="delete it and log in again: opsloop login") from None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def load_token(home: Path, where: str) -> str | None:
    """The token ``opsloop login`` stored in ``<home>/credentials.json`` for ``where``."""
    return _credentials(home).get(where)


def save_token(home: Path, where: str, token: str | None) -> Path:
    """Store (or with ``None`` forget) the token for ``where``; the file is private (0600)."""
    data = _credentials(home)
    if token is None:
        data.pop(where, None)
    else:
        data[where] = token
    home.mkdir(parents=True, exist_ok=True)
    path = home / CREDENTIALS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)  # a stale file would keep its (maybe wider) permissions
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, path)
    return path
