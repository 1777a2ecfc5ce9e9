"""SQLAlchemy 2.0 models of the metadata store, one module per component.

``Base.metadata`` is the schema Alembic migrations must match (a test checks this).
"""

from opsloop.store.orm.auth import AuditEventRow, PrincipalRow, RoleBindingRow, TokenRow
from opsloop.store.orm.base import Base
from opsloop.store.orm.registry import (
    AliasEventRow,
    ApprovalRow,
    CommentRow,
    ModelAliasRow,
    ModelOwnerRow,
    ModelVersionRow,
    PromotionRequestRow,
    RegisteredModelRow,
)
from opsloop.store.orm.tracking import (
    ArtifactRow,
    DatasetRow,
    DatasetVersionRow,
    EnvironmentRow,
    ExperimentRow,
    LatestMetricRow,
    MetricRow,
    ParamRow,
    ProjectRow,
    RunInputRow,
    RunRow,
    TagRow,
)

__all__ = [
    "AliasEventRow",
    "ApprovalRow",
    "ArtifactRow",
    "AuditEventRow",
    "Base",
    "CommentRow",
    "DatasetRow",
    "DatasetVersionRow",
    "EnvironmentRow",
    "ExperimentRow",
    "LatestMetricRow",
    "MetricRow",
    "ModelAliasRow",
    "ModelOwnerRow",
    "ModelVersionRow",
    "ParamRow",
    "PrincipalRow",
    "ProjectRow",
    "PromotionRequestRow",
    "RegisteredModelRow",
    "RoleBindingRow",
    "RunInputRow",
    "RunRow",
    "TagRow",
    "TokenRow",
]
