"""Tables of the ML metadata store (C7), source capture (C2) and dataset versions.

Times are epoch milliseconds. A metric value of NULL means NaN: SQLite cannot store NaN
(it turns it into NULL anyway), so both backends use the same encoding.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from opsloop.store.orm.base import Base, Millis


class ProjectRow(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[int] = mapped_column(Millis)


class ExperimentRow(Base):
    __tablename__ = "experiments"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    lifecycle: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[int] = mapped_column(Millis)


class EnvironmentRow(Base):
    """A Python environment, shared by every run that had exactly the same one."""

    __tablename__ = "environments"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    python: Mapped[str] = mapped_column(String(64))
    platform: Mapped[str] = mapped_column(String(256))
    packages: Mapped[dict[str, Any]]


class RunRow(Base):
    __tablename__ = "runs"
    __table_args__ = (
        Index(None, "experiment_id", "start_time"),
        Index(None, "status", "heartbeat_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16))
    start_time: Mapped[int] = mapped_column(Millis)
    end_time: Mapped[int | None] = mapped_column(Millis)
    heartbeat_at: Mapped[int] = mapped_column(Millis)
    user: Mapped[str] = mapped_column(String(256), default="")
    host: Mapped[str] = mapped_column(String(256), default="")
    command: Mapped[str] = mapped_column(Text, default="")
    environment_digest: Mapped[str | None] = mapped_column(
        ForeignKey("environments.digest", ondelete="SET NULL"))
    source_repo: Mapped[str | None] = mapped_column(Text)
    source_commit: Mapped[str | None] = mapped_column(String(64))
    source_branch: Mapped[str | None] = mapped_column(String(256))
    source_dirty: Mapped[bool | None] = mapped_column(Boolean)
    source_diff_digest: Mapped[str | None] = mapped_column(String(64))
    failure: Mapped[str | None] = mapped_column(Text)


class ParamRow(Base):
    __tablename__ = "params"
    __table_args__ = (Index(None, "key", "value"),)

    run_id: Mapped[str] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(String(6000))


class TagRow(Base):
    __tablename__ = "tags"
    __table_args__ = (Index(None, "key", "value"),)

    run_id: Mapped[str] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class MetricRow(Base):
    """Every point ever logged; the history of a metric."""

    __tablename__ = "metrics"
    __table_args__ = (Index(None, "run_id", "key", "step"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[float | None] = mapped_column(Double)
    step: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[int] = mapped_column(Millis)


class LatestMetricRow(Base):
    """The point with the highest (step, timestamp) per run and key: what search filters on."""

    __tablename__ = "latest_metrics"
    __table_args__ = (Index(None, "key", "value"),)

    run_id: Mapped[str] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[float | None] = mapped_column(Double)
    step: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[int] = mapped_column(Millis)


class ArtifactRow(Base):
    """A run's artifact: a logical path mapped to content-addressed bytes."""

    __tablename__ = "artifacts"

    run_id: Mapped[str] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(Millis)


class DatasetRow(Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[int] = mapped_column(Millis)


class DatasetVersionRow(Base):
    __tablename__ = "dataset_versions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "version"),
        UniqueConstraint("dataset_id", "digest"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))
    source_uri: Mapped[str | None] = mapped_column(Text)
    data_digest: Mapped[str | None] = mapped_column(String(64))
    num_rows: Mapped[int] = mapped_column(BigInteger)
    schema_: Mapped[list[Any]] = mapped_column("schema")
    profile: Mapped[dict[str, Any]]
    created_at: Mapped[int] = mapped_column(Millis)
    created_by: Mapped[str] = mapped_column(String(256), default="")


class RunInputRow(Base):
    """Lineage: a run read a dataset version in a role (train, eval, ...)."""

    __tablename__ = "run_inputs"

    run_id: Mapped[str] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    dataset_version_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(64), primary_key=True)
