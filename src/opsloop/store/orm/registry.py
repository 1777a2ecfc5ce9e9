"""Tables of the model registry (C6): models, immutable versions, aliases, promotions.

``registered_models.last_version`` is the counter that makes version numbers gap-free:
a registration increments it in the same transaction that inserts the version, so a
rolled-back registration gives its number back.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from opsloop.store.orm.base import Base, Millis


class RegisteredModelRow(Base):
    __tablename__ = "registered_models"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[dict[str, Any]]
    policy: Mapped[dict[str, Any]]
    last_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[int] = mapped_column(Millis)
    created_by: Mapped[str] = mapped_column(String(128), default="")
    updated_at: Mapped[int] = mapped_column(Millis)


class ModelOwnerRow(Base):
    __tablename__ = "model_owners"

    model_id: Mapped[int] = mapped_column(
        ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True)
    principal: Mapped[str] = mapped_column(String(128), primary_key=True)


class ModelVersionRow(Base):
    """An immutable model version; only description, tags and status change after creation."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(
        ForeignKey("registered_models.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="ready")
    flavor: Mapped[str] = mapped_column(String(32))
    run_id: Mapped[str | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), index=True)
    source: Mapped[dict[str, Any]]
    datasets: Mapped[list[Any]]
    params: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any]]
    signature: Mapped[dict[str, Any] | None]
    environment: Mapped[dict[str, Any]]
    files: Mapped[dict[str, Any]]
    manifest_digest: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[dict[str, Any]]
    created_at: Mapped[int] = mapped_column(Millis)
    created_by: Mapped[str] = mapped_column(String(128), default="")


class ModelAliasRow(Base):
    __tablename__ = "model_aliases"
    __table_args__ = (Index(None, "version_id"),)

    model_id: Mapped[int] = mapped_column(
        ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True)
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    # RESTRICT: a version an alias points at cannot disappear under it.
    version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="RESTRICT"))
    updated_at: Mapped[int] = mapped_column(Millis)
    updated_by: Mapped[str] = mapped_column(String(128), default="")


class AliasEventRow(Base):
    """History of an alias: every set, move and delete, with who, when and why."""

    __tablename__ = "alias_events"
    __table_args__ = (Index(None, "model_id", "alias", "at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(
        ForeignKey("registered_models.id", ondelete="CASCADE"))
    alias: Mapped[str] = mapped_column(String(64))
    from_version: Mapped[int | None] = mapped_column(Integer)
    to_version: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[int] = mapped_column(Millis)
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text, default="")
    request_id: Mapped[int | None] = mapped_column(Integer)


class PromotionRequestRow(Base):
    __tablename__ = "promotion_requests"
    __table_args__ = (Index(None, "model_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(
        ForeignKey("registered_models.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    alias: Mapped[str] = mapped_column(String(64))
    from_version: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    policy: Mapped[dict[str, Any]]
    gates: Mapped[dict[str, Any]]
    requested_by: Mapped[str] = mapped_column(String(128))
    requested_at: Mapped[int] = mapped_column(Millis)
    decided_at: Mapped[int | None] = mapped_column(Millis)


class ApprovalRow(Base):
    """One principal's decision on a promotion request (one decision each)."""

    __tablename__ = "approvals"

    request_id: Mapped[int] = mapped_column(
        ForeignKey("promotion_requests.id", ondelete="CASCADE"), primary_key=True)
    principal: Mapped[str] = mapped_column(String(128), primary_key=True)
    roles: Mapped[list[Any]]
    decision: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[int] = mapped_column(Millis)


class CommentRow(Base):
    """A comment on a run (``object_type='run'``) or a model version (``'model_version'``)."""

    __tablename__ = "comments"
    __table_args__ = (Index(None, "object_type", "object_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(256))
    project: Mapped[str] = mapped_column(String(128))
    author: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[int] = mapped_column(Millis)
