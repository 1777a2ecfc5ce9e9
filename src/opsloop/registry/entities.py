"""Value objects of the model registry, as users see them (and as the REST API sends them).

Example:
    >>> ModelRef.parse("credit-risk@champion")
    ModelRef(project=None, name='credit-risk', alias='champion', version=None)
    >>> ModelRef.parse("models:/credit/credit-risk/3").version
    3
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from opsloop.auth.entities import Role
from opsloop.errors import InvalidInput
from opsloop.registry.manifest import FileDigest
from opsloop.registry.signature import Signature
from opsloop.tracking.entities import SourceVersion

__all__ = [
    "AliasEvent",
    "AliasPolicy",
    "Approval",
    "Comment",
    "DatasetRef",
    "GateResult",
    "ModelPolicy",
    "ModelRef",
    "ModelVersion",
    "ModelVersionSpec",
    "PromotionRequest",
    "PromotionStatus",
    "RegisteredModel",
    "VersionStatus",
    "check_alias",
]

MAX_DESCRIPTION = 20_000
MAX_TAGS = 100
MAX_FILES = 10_000

_ALIAS = re.compile(r"[a-z][a-z0-9_-]{0,63}")


def check_alias(alias: object) -> str:
    """An alias: 1-64 lower-case letters, digits, ``_`` or ``-``, starting with a letter.

    >>> check_alias("champion")
    'champion'
    """
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias) or alias == "latest":
        raise InvalidInput("alias", alias, "must be 1-64 lower-case letters, digits, '_' or "
                           "'-', start with a letter, and not be 'latest'")
    return alias


class _Entity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="strings")


class VersionStatus(enum.StrEnum):
    READY = "ready"
    ARCHIVED = "archived"


class PromotionStatus(enum.StrEnum):
    """``stale``: the alias moved after the request was made, so it can no longer apply."""

    PENDING = "pending"
    APPLIED = "applied"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    STALE = "stale"

    @property
    def is_open(self) -> bool:
        return self is PromotionStatus.PENDING


class AliasPolicy(_Entity):
    """What it takes to move a protected alias.

    Attributes:
        approvals: approvals needed from distinct principals other than the requester.
        roles: roles an approver must hold on the project (empty: any role with the
            ``models.approve`` permission).
        gates: CI/CD gates that must have passed (recorded on the request).
    """

    approvals: int = Field(1, ge=0, le=10)
    roles: list[Role] = []
    gates: list[str] = []


class ModelPolicy(_Entity):
    """Which aliases of a model are protected, and by what. ``champion`` by default."""

    protected: dict[str, AliasPolicy] = Field(
        default_factory=lambda: {"champion": AliasPolicy(approvals=1)})


class DatasetRef(_Entity):
    """A dataset version a model version was trained or evaluated on."""

    id: int
    dataset: str
    version: int
    digest: str
    role: str


class RegisteredModel(_Entity):
    id: int
    project: str
    name: str
    description: str = ""
    tags: dict[str, str] = {}
    owners: list[str] = []
    aliases: dict[str, int] = {}
    policy: ModelPolicy = Field(default_factory=ModelPolicy)
    latest_version: int = 0
    created_at: int
    created_by: str = ""
    updated_at: int


class ModelVersion(_Entity):
    """An immutable model version with everything needed to trace and reproduce it.

    Attributes:
        files: the model folder's files (content-addressed blobs) with their digests.
        manifest_digest: sha256 of ``opsloop-model.json`` among ``files``.
        source: git version of the code that trained it (from the source run).
        datasets: dataset versions the source run read, with their roles.
        params, metrics: snapshot of the source run's params and latest metrics.
        environment: ``python`` and ``packages`` the model was saved with.
    """

    id: int
    project: str
    model: str
    version: int
    status: VersionStatus = VersionStatus.READY
    flavor: str
    run_id: str | None = None
    source: SourceVersion = Field(default_factory=SourceVersion)
    datasets: list[DatasetRef] = []
    params: dict[str, str] = {}
    metrics: dict[str, float] = {}
    signature: Signature | None = None
    environment: dict[str, Any] = {}
    files: dict[str, FileDigest]
    manifest_digest: str
    description: str = ""
    tags: dict[str, str] = {}
    aliases: list[str] = []
    created_at: int
    created_by: str = ""

    @property
    def uri(self) -> str:
        return f"models:/{self.project}/{self.model}/{self.version}"


class ModelVersionSpec(_Entity):
    """What a client sends to create a version (the files are uploaded as blobs first)."""

    project: str
    model: str
    flavor: str
    files: dict[str, FileDigest]
    manifest_digest: str
    run_id: str | None = None
    signature: Signature | None = None
    environment: dict[str, Any] = {}
    description: str = ""
    tags: dict[str, str] = {}
    datasets: list[tuple[int, str]] = Field(
        default=[], description="extra (dataset version id, role) pairs beyond the run's inputs")


class AliasEvent(_Entity):
    model: str
    alias: str
    from_version: int | None = None
    to_version: int | None = None
    at: int
    actor: str
    reason: str = ""
    request_id: int | None = None


class Approval(_Entity):
    principal: str
    roles: list[str] = []
    decision: str
    comment: str = ""
    at: int


class GateResult(_Entity):
    passed: bool
    details: dict[str, Any] = {}
    by: str = ""
    at: int


class PromotionRequest(_Entity):
    """A request to point ``alias`` at ``version``; applied once its policy is satisfied."""

    id: int
    project: str
    model: str
    version: int
    alias: str
    from_version: int | None = None
    status: PromotionStatus
    reason: str = ""
    policy: AliasPolicy
    gates: dict[str, GateResult] = {}
    approvals: list[Approval] = []
    requested_by: str
    requested_at: int
    decided_at: int | None = None

    @property
    def missing(self) -> list[str]:
        """What the request still needs, in words (empty when satisfied)."""
        out = []
        approved = sum(1 for a in self.approvals if a.decision == "approve")
        if approved < self.policy.approvals:
            roles = f" from {' or '.join(self.policy.roles)}" if self.policy.roles else ""
            out.append(f"{self.policy.approvals - approved} more approval(s){roles}")
        for gate in self.policy.gates:
            result = self.gates.get(gate)
            if result is None or not result.passed:
                out.append(f"gate {gate!r} " + ("not run" if result is None else "failed"))
        return out


class Comment(_Entity):
    id: int
    object_type: str
    object_id: str
    project: str
    author: str
    text: str
    at: int


@dataclass(frozen=True)
class ModelRef:
    """A parsed model reference: ``name@alias``, ``name/3``, ``name/latest``, optionally
    as ``models:/[project/]name...``."""

    project: str | None
    name: str
    alias: str | None = None
    version: int | None = None

    @classmethod
    def parse(cls, ref: str) -> ModelRef:
        text = ref.removeprefix("models:/")
        project = None
        if "@" in text:
            head, alias = text.rsplit("@", 1)
            parts = head.split("/")
            if len(parts) > 2 or not all(parts):
                raise _bad_ref(ref)
            if len(parts) == 2:
                project = parts[0]
            return cls(project, parts[-1], alias=check_alias(alias))
        parts = text.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise _bad_ref(ref)
        if len(parts) == 3:
            project = parts[0]
        last = parts[-1]
        if last == "latest":
            return cls(project, parts[-2])
        if not last.isdigit() or int(last) < 1 or len(last) > 9:
            raise _bad_ref(ref)
        return cls(project, parts[-2], version=int(last))


def _bad_ref(ref: str) -> InvalidInput:
    return InvalidInput("model reference", ref, "must be NAME@ALIAS, NAME/VERSION or "
                        "NAME/latest, optionally as models:/[PROJECT/]NAME...")
