"""SQLAlchemy 2.0 models of the metadata store, one module per component.

``Base.metadata`` is the schema Alembic migrations must match (a test checks this).
"""

from opsloop.store.orm.base import Base
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
    "ArtifactRow",
    "Base",
    "DatasetRow",
    "DatasetVersionRow",
    "EnvironmentRow",
    "ExperimentRow",
    "LatestMetricRow",
    "MetricRow",
    "ParamRow",
    "ProjectRow",
    "RunInputRow",
    "RunRow",
    "TagRow",
]
