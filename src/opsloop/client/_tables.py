"""User tables (pandas, polars, Arrow) as Arrow and Parquet."""

from __future__ import annotations

import io
from typing import Any

from opsloop.errors import InvalidInput


def to_arrow(data: Any) -> Any:
    """A pandas/polars DataFrame or Arrow table as an Arrow table."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if hasattr(data, "to_arrow"):  # polars
        return data.to_arrow()
    try:
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            return pa.Table.from_pandas(data, preserve_index=False)
    except ImportError:  # pragma: no cover - pandas is a core dependency
        pass
    raise InvalidInput("table", type(data).__name__,
                       "must be a pandas or polars DataFrame or a pyarrow Table")


def to_parquet_bytes(table: Any) -> bytes:
    """Parquet bytes of an Arrow table (zstd, deterministic for the same table)."""
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()
