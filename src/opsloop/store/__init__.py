"""Persistence only: the metadata database, its unit of work, migrations and the artifact store.

No business rules live here; components call these pieces from their services.
"""

from opsloop.store.artifacts import ArtifactStore, Blob, open_artifact_store
from opsloop.store.db import Database, open_database

__all__ = ["ArtifactStore", "Blob", "Database", "open_artifact_store", "open_database"]
