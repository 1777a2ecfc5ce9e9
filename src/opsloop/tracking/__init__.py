"""ML metadata store (C7) and source capture (C2): experiments, runs, metrics, datasets.

The user-facing entry points are :func:`opsloop.start_run` and :class:`opsloop.Client`;
this package holds the entities, the services over the store and the local API.
"""

from opsloop.tracking.entities import (
    Artifact,
    Dataset,
    DatasetSpec,
    DatasetVersion,
    Environment,
    Experiment,
    Metric,
    Page,
    Project,
    Run,
    RunSpec,
    RunStatus,
    SourceVersion,
)

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
