"""Value objects of the ML metadata store, as users see them.

They are frozen pydantic models: the same objects come back from the local store and
from the HTTP API (where they are the wire format), and NaN/infinity survive JSON as
the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``.
"""

from __future__ import annotations

import enum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Artifact",
    "Dataset",
    "DatasetSpec",
    "DatasetVersion",
    "Environment",
    "Experiment",
    "Metric",
    "Page",
    "Project",
    "Run",
    "RunSpec",
    "RunStatus",
    "SourceVersion",
]

T = TypeVar("T")


class _Entity(BaseModel):
    model_config = ConfigDict(frozen=True, ser_json_inf_nan="strings", extra="forbid")


E = TypeVar("E", bound=BaseModel)


def construct_trusted(cls: type[E], values: dict[str, Any]) -> E:
    """An entity from values the store already validated, every field given.

    What ``model_construct`` does, minus its per-field default handling: a quarter of
    its cost, which matters when a search builds hundreds of runs.
    """
    entity = cls.__new__(cls)
    object.__setattr__(entity, "__dict__", values)
    object.__setattr__(entity, "__pydantic_fields_set__", set(values))
    object.__setattr__(entity, "__pydantic_extra__", None)
    object.__setattr__(entity, "__pydantic_private__", None)
    return entity


class RunStatus(enum.StrEnum):
    """Life cycle of a run. LOST: its process stopped sending heartbeats."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"
    LOST = "LOST"

    @property
    def is_terminal(self) -> bool:
        return self is not RunStatus.RUNNING


class Project(_Entity):
    """A group of experiments, models, features and pipelines owned by one team."""

    id: int
    name: str
    description: str = ""
    created_at: int


class Experiment(_Entity):
    """A named set of runs that answer one question."""

    id: int
    project: str
    name: str
    description: str = ""
    lifecycle: str = "active"
    created_at: int


class Metric(_Entity):
    """One point of a metric: value (NaN and infinities allowed) at a step and time (ms)."""

    key: str
    value: float
    step: int = 0
    timestamp: int


class SourceVersion(_Entity):
    """The code a run came from (C2): a git commit, and a digest of uncommitted changes.

    ``diff_digest`` is the sha256 of ``git diff HEAD`` (stored as the run artifact
    ``source/diff.patch``) and is ``None`` when the tree was clean.
    """

    repo: str | None = None
    commit: str | None = None
    branch: str | None = None
    dirty: bool | None = None
    diff_digest: str | None = None


class Environment(_Entity):
    """The Python environment a run used; ``digest`` identifies the exact package set."""

    digest: str
    python: str
    platform: str
    packages: dict[str, str]


class Run(_Entity):
    """One execution of training or evaluation code, with what it logged.

    ``metrics`` holds the latest value of each metric (highest step, then newest);
    the whole history is :meth:`opsloop.Client.get_metric_history`.
    """

    id: str
    experiment_id: int
    experiment: str
    project: str
    name: str
    status: RunStatus
    start_time: int
    end_time: int | None = None
    parent_id: str | None = None
    user: str = ""
    host: str = ""
    command: str = ""
    params: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    source: SourceVersion = Field(default_factory=SourceVersion)
    environment_digest: str | None = None
    failure: str | None = None

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, or ``None`` while running."""
        return None if self.end_time is None else (self.end_time - self.start_time) / 1000


class Artifact(_Entity):
    """A file a run logged: its path in the run, its content digest and size."""

    run_id: str
    path: str
    digest: str
    size: int
    created_at: int


class Dataset(_Entity):
    """A named data set whose content changes over time; each content is a version."""

    id: int
    project: str
    name: str
    created_at: int
    latest_version: int | None = None


class DatasetVersion(_Entity):
    """One exact content of a data set: digest, schema, row count and a statistics profile.

    ``schema_`` lists ``{"name", "type", "nullable"}`` per column; ``profile`` holds per
    column statistics (count, missing, mean/std/min/max/quantiles or top values).
    ``data_digest`` is the stored Parquet copy, when the data was given as a table.
    """

    id: int
    dataset: str
    project: str
    version: int
    digest: str
    num_rows: int
    schema_: list[dict[str, Any]] = Field(alias="schema")
    profile: dict[str, Any]
    source_uri: str | None = None
    data_digest: str | None = None
    created_at: int
    created_by: str = ""
    role: str | None = None

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="strings", extra="forbid",
                              populate_by_name=True, serialize_by_alias=True)


class Page(BaseModel, Generic[T]):
    """One page of results; pass ``next_page_token`` back to get the next."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="strings")

    items: list[T]
    next_page_token: str | None = None


class RunSpec(_Entity):
    """What a client sends to start a run (the id is chosen by the client: retries are safe)."""

    id: str
    project: str
    experiment: str
    name: str
    start_time: int
    parent_id: str | None = None
    user: str = ""
    host: str = ""
    command: str = ""
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    source: SourceVersion = Field(default_factory=SourceVersion)
    environment: Environment | None = None


class DatasetSpec(_Entity):
    """What a client sends to register a dataset version (computed where the data is)."""

    project: str
    name: str
    digest: str
    num_rows: int
    schema_: list[dict[str, Any]] = Field(alias="schema")
    profile: dict[str, Any]
    source_uri: str | None = None
    data_digest: str | None = None
    created_by: str = ""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="strings", extra="forbid",
                              populate_by_name=True, serialize_by_alias=True)
