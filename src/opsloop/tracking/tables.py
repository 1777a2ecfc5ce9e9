"""Runs as Arrow tables: columns from the store, typed for analysis."""

from __future__ import annotations

from typing import Any

__all__ = ["ARROW_STREAM", "columns_to_arrow", "from_ipc", "to_ipc"]

ARROW_STREAM = "application/vnd.apache.arrow.stream"
_TIMES = ("start_time", "end_time")


def columns_to_arrow(cols: dict[str, list[Any]]) -> Any:
    """A ``pyarrow.Table`` from :func:`opsloop.tracking.service.run_columns` output.

    Times become UTC timestamps, ``metrics.*`` float64 (NaN kept, missing null),
    ``params.*`` and ``tags.*`` strings, ``duration`` seconds.
    """
    import pyarrow as pa

    arrays: dict[str, Any] = {}
    for name, values in cols.items():
        if name in _TIMES:
            arrays[name] = pa.array(values, type=pa.timestamp("ms", tz="UTC"))
        elif name.startswith("metrics."):
            arrays[name] = pa.array(values, type=pa.float64())
        elif name.startswith(("params.", "tags.")) or name in ("run_id", "status", "name"):
            arrays[name] = pa.array(values, type=pa.string())
        elif name == "source.dirty":
            arrays[name] = pa.array(values, type=pa.bool_())
        else:
            arrays[name] = pa.array(values, type=pa.string())
        if name == "end_time":
            start, end = cols["start_time"], values
            arrays["duration"] = pa.array(
                [None if e is None else (e - s) / 1000 for s, e in zip(start, end, strict=True)],
                type=pa.float64())
    return pa.table(arrays)


def to_ipc(table: Any) -> bytes:
    """Arrow IPC stream bytes: the wire format of run tables."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def from_ipc(data: bytes) -> Any:
    import pyarrow as pa

    return pa.ipc.open_stream(data).read_all()
