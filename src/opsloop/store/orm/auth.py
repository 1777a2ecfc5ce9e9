"""Tables of the collaboration core (P5): principals, role bindings, tokens, audit log.

Role bindings name their project by name (``*`` for every project) so that a user can be
granted a role on a project before its first experiment exists.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from opsloop.store.orm.base import Base, Millis


class PrincipalRow(Base):
    """A user or a service account."""

    __tablename__ = "principals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(256), default="")
    email: Mapped[str] = mapped_column(String(256), default="")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[int] = mapped_column(Millis)
    created_by: Mapped[str] = mapped_column(String(128), default="")


class RoleBindingRow(Base):
    """``principal`` holds ``role`` on ``project`` (``*``: on every project)."""

    __tablename__ = "role_bindings"

    principal_id: Mapped[int] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), primary_key=True)
    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)


class TokenRow(Base):
    """An API token; only the sha256 of the secret is stored."""

    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    principal_id: Mapped[int] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[int] = mapped_column(Millis)
    expires_at: Mapped[int | None] = mapped_column(Millis)
    revoked_at: Mapped[int | None] = mapped_column(Millis)
    last_used_at: Mapped[int | None] = mapped_column(Millis)


class AuditEventRow(Base):
    """One state change. Append-only: triggers refuse UPDATE and DELETE (migration 0002)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index(None, "object_type", "object_id"),
        Index(None, "project", "at"),
        Index(None, "actor", "at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    at: Mapped[int] = mapped_column(Millis, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(256))
    project: Mapped[str | None] = mapped_column(String(128))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]
    request_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
