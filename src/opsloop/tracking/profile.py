"""Dataset fingerprints: a content digest, a schema and a statistics profile.

:func:`fingerprint` identifies a data set by content so that a run can record exactly
which data it read, and describes it well enough for drift monitoring to compare two
versions later.

Digest rules:

* **A table** (pandas, polars or Arrow) is digested from its column names, column types
  and values in row order, and nothing else: not the pandas index, not how Arrow arrays
  are chunked or laid out in memory, not schema metadata or declared nullability.
  Types are compared after mapping representation variants to one name (``string``,
  ``large_string`` and ``string_view`` are ``string``; ``large_list`` is ``list``), so
  a pandas frame and the Arrow table it converts to have the same digest. pandas
  ``NaN`` in a float column is a null (as in ``pyarrow.Table.from_pandas``); in Arrow,
  a ``NaN`` value and a null differ. Categorical (dictionary) columns are digested by
  their values, so unused categories and the index width do not count.
* **A file** is digested from its bytes, however it is read, so the same file always
  gives the same version. A folder is the sha256 of one ``"{path}\\0{sha256}\\n"`` line
  per file, sorted by relative POSIX path; hidden files and folders (names starting
  with ``.``) are skipped and folder symlinks are not followed.

``.parquet``, ``.csv``, ``.csv.gz``, ``.json`` and ``.jsonl`` files, and folders of
Parquet files, are also read with pyarrow to fill the schema and profile; any other
file is opaque (``num_rows == -1``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsloop.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    import pyarrow

__all__ = ["Fingerprint", "fingerprint"]

QUANTILES = {f"p{round(q * 100):02d}": q for q in (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)}
"""Quantiles each numeric column's profile reports (linear interpolation)."""
HISTOGRAM_BINS = 10
TOP_VALUES = 10
_KINDS = {".parquet": "parquet", ".csv": "csv", ".csv.gz": "csv", ".json": "json", ".jsonl": "json"}
_TABLE_DIGEST_VERSION = b"opsloop-table-v1\n"
_SUPPORTED = "must be a pandas/polars DataFrame, a pyarrow Table, or a path to a file or folder"


@dataclass(frozen=True)
class Fingerprint:
    """What :func:`fingerprint` found out about a data set.

    Attributes:
        digest: sha256 hex of the content (see the module docstring for the rules).
        num_rows: number of rows, ``-1`` when unknown (an opaque file).
        schema: ``{"name", "type", "nullable"}`` per column.
        profile: ``{"num_rows", "num_columns", "columns": {name: statistics}}``;
            JSON-serializable, with ``None`` wherever a statistic is undefined.
        table: the data as Arrow, when given as a table or read from a tabular file.
    """

    digest: str
    num_rows: int
    schema: list[dict[str, Any]]
    profile: dict[str, Any]
    table: pyarrow.Table | None = field(default=None, repr=False, compare=False)


def fingerprint(data: object) -> Fingerprint:
    """Digest, schema and statistics profile of a table, a file or a folder.

    Args:
        data: a pandas DataFrame, a pyarrow Table, a polars DataFrame, or a path to a
            file or folder.

    Returns:
        The :class:`Fingerprint`. Per column the profile holds ``type``, ``count``
        (present values), ``missing`` (nulls, and ``NaN`` in float columns) and
        ``missing_rate``; numeric columns add ``mean``, ``std`` (sample, ``ddof=1``),
        ``min``, ``max``, ``zeros``, ``inf_count``, ``p01`` ... ``p99`` and a 10-bin
        ``histogram`` (infinities are counted, never averaged); booleans add
        ``true_rate``; strings and categoricals add ``unique`` and ``top`` (most
        frequent first, ties by value); dates and times add ISO ``min`` and ``max``.

    Raises:
        InvalidInput: ``data`` is of another type, has duplicate column names, or is a
            tabular file pyarrow cannot read.
        NotFound: the path does not exist.

    Example:
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", None]})
        >>> fp = fingerprint(frame)
        >>> fp.num_rows, fp.schema[1]
        (3, {'name': 'y', 'type': 'string', 'nullable': True})
        >>> fp.profile["columns"]["x"]["mean"], fp.profile["columns"]["y"]["missing"]
        (2.0, 1)
        >>> fingerprint(frame.set_index(pd.Index([7, 8, 9]))).digest == fp.digest
        True
    """
    if isinstance(data, str | os.PathLike):
        return _of_path(Path(os.fsdecode(os.fspath(data))))
    table = _to_arrow(data)
    return _of_table(table, None)


def _to_arrow(data: object) -> Any:
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    # Only look at libraries the caller already imported: a DataFrame of a library
    # that is not loaded cannot exist, and importing it just to check costs seconds.
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(data, pd.DataFrame):
        return _from_pandas(data)
    pl = sys.modules.get("polars")
    if pl is not None and isinstance(data, pl.DataFrame):
        return data.to_arrow()
    hint = "convert it to a pandas DataFrame, or save it to a file and pass the path"
    raise InvalidInput("dataset", type(data).__name__, _SUPPORTED, hint=hint)


def _from_pandas(frame: Any) -> Any:
    import pyarrow as pa

    _check_unique([str(n) for n in frame.columns])
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        for position in range(frame.shape[1]):
            try:
                pa.Array.from_pandas(frame.iloc[:, position])
            except (pa.ArrowException, ValueError, TypeError) as column_error:
                name = frame.columns[position]
                rule = f"cannot be converted to Arrow: {column_error}"
                hint = f"give the column one type, e.g. frame[{name!r}].astype(str)"
                raise InvalidInput("dataset column", name, rule, hint=hint) from exc
        rule, hint = f"cannot be converted to Arrow: {exc}", "give each column a single type"
        raise InvalidInput("dataset", "DataFrame", rule, hint=hint) from exc


def _of_table(table: Any, digest: str | None) -> Fingerprint:
    names, fields = table.column_names, table.schema
    _check_unique([str(n) for n in names])
    arrays = [_combine(column) for column in table.columns]
    if digest is None:
        outer = hashlib.sha256(_TABLE_DIGEST_VERSION)
        outer.update(table.num_rows.to_bytes(8, "little"))
        for name, column, array in zip(names, table.columns, arrays, strict=True):
            outer.update(json.dumps([name, _type_name(column.type)]).encode() + b"\n")
            inner = hashlib.sha256()
            _feed(inner, array)
            outer.update(inner.digest())
        digest = outer.hexdigest()
    schema = [{"name": f.name, "type": _type_name(f.type), "nullable": f.nullable} for f in fields]
    columns = {
        name: _column_profile(column.type, array, table.num_rows)
        for name, column, array in zip(names, table.columns, arrays, strict=True)
    }
    profile = {"num_rows": table.num_rows, "num_columns": table.num_columns, "columns": columns}
    return Fingerprint(digest, table.num_rows, schema, profile, table)


def _check_unique(names: list[str]) -> None:
    if len(set(names)) != len(names):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        hint = "rename or drop the duplicate columns"
        raise InvalidInput("dataset columns", duplicates, "column names must be unique", hint=hint)


def _combine(column: Any) -> Any:
    """One contiguous array of a chunked column, with dictionaries decoded."""
    import pyarrow as pa

    chunks = [c.dictionary_decode() if pa.types.is_dictionary(c.type) else c for c in column.chunks]
    if chunks and pa.types.is_string_view(chunks[0].type):  # few kernels support views
        chunks = [c.cast(pa.large_string()) for c in chunks]
    elif chunks and pa.types.is_binary_view(chunks[0].type):
        chunks = [c.cast(pa.large_binary()) for c in chunks]
    if len(chunks) == 1:
        return chunks[0]
    if not chunks:
        value_type = column.type
        if pa.types.is_dictionary(value_type):
            value_type = value_type.value_type
        return pa.array([], type=value_type)
    return pa.concat_arrays(chunks)


def _type_name(t: Any) -> str:
    """The type name that schemas and digests use: representation variants merged."""
    import pyarrow as pa

    types = pa.types
    if types.is_dictionary(t):
        return f"dictionary<values={_type_name(t.value_type)}, ordered={int(t.ordered)}>"
    if types.is_string(t) or types.is_large_string(t) or types.is_string_view(t):
        return "string"
    if types.is_binary(t) or types.is_large_binary(t) or types.is_binary_view(t):
        return "binary"
    if types.is_list(t) or types.is_large_list(t):
        return f"list<{_type_name(t.value_type)}>"
    if types.is_fixed_size_list(t):
        return f"fixed_size_list<{_type_name(t.value_type)}>[{t.list_size}]"
    if types.is_struct(t):
        fields = ", ".join(
            f"{t.field(i).name}: {_type_name(t.field(i).type)}" for i in range(t.num_fields)
        )
        return f"struct<{fields}>"
    return str(t)


def _feed(hasher: Any, array: Any) -> None:
    """Add one array's canonical form to ``hasher``: validity, then values, then children."""
    import numpy as np
    import pyarrow as pa

    types = pa.types
    if types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if isinstance(array.type, pa.ExtensionType):
        array = array.storage
    t, n = array.type, len(array)
    hasher.update(n.to_bytes(8, "little"))
    valid = array.is_valid().to_numpy(zero_copy_only=False) if array.null_count else None
    hasher.update(b"A" if valid is None else b"V" + np.packbits(valid).tobytes())
    if array.null_count == n:  # empty, all null, or the null type: nothing more to say
        return
    if types.is_boolean(t):
        hasher.update(array.fill_null(False).to_numpy(zero_copy_only=False).tobytes())
    elif _fixed_width(t):
        width = t.bit_width // 8
        raw = np.frombuffer(array.buffers()[1], dtype=np.uint8)
        raw = raw[array.offset * width : (array.offset + n) * width]
        if types.is_floating(t):
            values = raw.view(f"<f{width}")
            nans = np.isnan(values)
            if nans.any():  # NaN has many bit patterns; all are one value here
                values = values.copy()
                values[nans] = np.nan
                raw = values.view(np.uint8)
        if valid is not None:  # what lies under a null slot is undefined
            raw = raw.reshape(n, width).copy()
            raw[~valid] = 0
        hasher.update(np.ascontiguousarray(raw).data)
    elif _type_name(t) in ("string", "binary"):
        compact = array.cast(pa.large_binary())
        compact = compact if valid is None else compact.filter(compact.is_valid())
        offsets = np.frombuffer(compact.buffers()[1], dtype="<i8")
        offsets = offsets[compact.offset : compact.offset + len(compact) + 1]
        hasher.update(np.diff(offsets).astype("<i8").tobytes())
        data = compact.buffers()[2]
        if data is not None:
            hasher.update(memoryview(data)[int(offsets[0]) : int(offsets[-1])])
    elif types.is_list(t) or types.is_large_list(t) or types.is_fixed_size_list(t):
        compact = array if valid is None else array.filter(array.is_valid())
        import pyarrow.compute as pc

        lengths = pc.list_value_length(compact).to_numpy(zero_copy_only=False)
        hasher.update(lengths.astype("<i8").tobytes())
        _feed(hasher, compact.flatten())
    elif types.is_struct(t):
        compact = array if valid is None else array.filter(array.is_valid())
        for child in compact.flatten():
            _feed(hasher, child)
    else:  # maps, unions and rarer types: slow but exact
        hasher.update(json.dumps(array.to_pylist(), default=repr, sort_keys=True).encode())


def _fixed_width(t: Any) -> bool:
    try:
        return bool(t.bit_width % 8 == 0 and t.bit_width > 0)
    except ValueError:
        return False


def _column_profile(column_type: Any, array: Any, num_rows: int) -> dict[str, Any]:
    import pyarrow as pa

    types, t = pa.types, array.type
    present = array.drop_null() if array.null_count else array
    stats: dict[str, Any] = {"type": _type_name(column_type)}
    categorical = types.is_dictionary(column_type) or _type_name(t) in ("string", "binary")
    if not categorical and (types.is_integer(t) or types.is_floating(t) or types.is_decimal(t)):
        return stats | _numeric(present, num_rows)
    stats |= _counts(len(present), num_rows)
    if types.is_boolean(t):
        stats["true_rate"] = _rate(present.true_count, len(present))
    elif categorical:
        stats |= _categorical(present)
    elif types.is_timestamp(t) or types.is_date(t) or types.is_time(t):
        import pyarrow.compute as pc

        bounds = pc.min_max(present)
        stats |= {"min": _jsonable(bounds["min"]), "max": _jsonable(bounds["max"])}
    return stats


def _counts(count: int, num_rows: int) -> dict[str, Any]:
    missing = num_rows - count
    return {"count": count, "missing": missing, "missing_rate": _rate(missing, num_rows)}


def _numeric(present: Any, num_rows: int) -> dict[str, Any]:
    import numpy as np
    import pyarrow as pa

    exact_bounds = pa.types.is_integer(present.type)
    if pa.types.is_decimal(present.type):
        present = present.cast(pa.float64())
    values = present.to_numpy(zero_copy_only=False)
    if values.dtype.kind == "f":
        nan = np.isnan(values)
        if nan.any():
            values = values[~nan]
    count = len(values)
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    stats = _counts(count, num_rows)
    stats.update(inf_count=count - len(finite), zeros=int(np.count_nonzero(values == 0)))
    stats.update(dict.fromkeys(("mean", "std", "min", "max", *QUANTILES, "histogram")))
    if not len(finite):
        return stats
    with np.errstate(all="ignore"):  # overflow near the float limits gives None, not a warning
        as_float = finite.astype(np.float64, copy=False)
        low, high = finite.min(), finite.max()
        stats["min"] = low.item() if exact_bounds else _float(low)
        stats["max"] = high.item() if exact_bounds else _float(high)
        stats["mean"] = _float(as_float.mean())
        stats["std"] = _float(as_float.std(ddof=1)) if len(finite) > 1 else None
        levels = np.quantile(as_float, list(QUANTILES.values()))
        stats.update(zip(QUANTILES, (_float(v) for v in levels), strict=True))
        try:
            counts, edges = np.histogram(as_float, bins=HISTOGRAM_BINS)
        except ValueError:  # a range too wide for float64 bin edges
            return stats
    stats["histogram"] = {"edges": [_float(e) for e in edges], "counts": [int(c) for c in counts]}
    return stats


def _categorical(present: Any) -> dict[str, Any]:
    import numpy as np
    import pyarrow.compute as pc

    counted = pc.value_counts(present)
    values, counts = counted.field("values"), counted.field("counts").to_numpy()
    chosen = np.arange(len(counts))
    if len(counts) > TOP_VALUES:
        # The top values without sorting every distinct value: all counts above the
        # 10th largest, then the smallest values among those tied with it.
        kth = np.partition(counts, -TOP_VALUES)[-TOP_VALUES]
        above, tied = np.flatnonzero(counts > kth), np.flatnonzero(counts == kth)
        need = TOP_VALUES - len(above)
        if len(tied) > need:
            smallest = pc.bottom_k_unstable(values.take(tied), need).to_numpy()
            tied = tied[smallest]
        chosen = np.concatenate([above, tied])
    pairs = [(int(counts[i]), values[int(i)].as_py()) for i in chosen]
    pairs.sort(key=lambda pair: (-pair[0], pair[1]))
    top = [{"value": _jsonable(value), "count": n} for n, value in pairs]
    return {"unique": len(counts), "top": top}


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _float(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _jsonable(value: Any) -> Any:
    """A JSON-safe form of one value (Arrow scalars included): ISO for times."""
    try:
        value = value.as_py() if hasattr(value, "as_py") else value
    except (ValueError, OverflowError):  # out of Python's datetime range: Arrow's text
        return str(value.cast("string").as_py())
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value.isoformat() if hasattr(value, "isoformat") else value)


def _of_path(path: Path) -> Fingerprint:
    if not path.exists():
        hint = f"check the path (relative paths start at {os.getcwd()})"
        raise NotFound("dataset file", path, hint=hint)
    if path.is_dir():
        files = _folder_files(path)
        outer = hashlib.sha256()
        for relative, file in files:
            outer.update(f"{relative}\0{_file_digest(file)}\n".encode())
        parquet = [f for r, f in files if r.rsplit("/", 1)[-1].lower().endswith(".parquet")]
        markers = [r for r, _ in files if r.rsplit("/", 1)[-1].startswith("_")]
        if parquet and len(parquet) + len(markers) == len(files):
            return _of_table(_read(path, "parquet folder", parquet), outer.hexdigest())
        return Fingerprint(outer.hexdigest(), -1, [], {})
    digest = _file_digest(path)
    name = path.name.lower()
    kind = next((k for suffix, k in _KINDS.items() if name.endswith(suffix)), None)
    if kind is None:
        return Fingerprint(digest, -1, [], {})
    return _of_table(_read(path, kind, [path]), digest)


def _folder_files(folder: Path) -> list[tuple[str, Path]]:
    """Every non-hidden regular file under ``folder``, as (relative POSIX path, path)."""
    found = []
    for root, directories, names in os.walk(folder):
        directories[:] = [d for d in directories if not d.startswith(".")]
        for name in names:
            file = Path(root, name)
            if not name.startswith(".") and file.is_file():
                found.append((file.relative_to(folder).as_posix(), file))
    return sorted(found)


def _file_digest(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def _read(path: Path, kind: str, files: list[Path]) -> Any:
    import pyarrow as pa

    try:
        if kind == "parquet folder":
            import pyarrow.dataset as ds

            paths, base = [str(f) for f in files], str(path)
            found = ds.dataset(
                paths, format="parquet", partitioning="hive", partition_base_dir=base
            )
            return found.to_table()
        if kind == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(str(path))
        if kind == "csv":
            import pyarrow.csv

            # Empty fields are missing values, as in pandas.read_csv.
            options = pyarrow.csv.ConvertOptions(strings_can_be_null=True)
            return pyarrow.csv.read_csv(str(path), convert_options=options)
        with path.open("rb") as stream:
            head = stream.read(4096).lstrip()
        if head.startswith(b"["):  # one JSON array of records, not JSON lines
            with path.open("rb") as stream:
                return pa.Table.from_pylist(json.load(stream))
        import pyarrow.json

        return pyarrow.json.read_json(str(path))
    except (pa.ArrowException, ValueError, TypeError, AttributeError) as exc:
        rule, hint = f"cannot be read as {kind}: {exc}", "fix the file, or save the data as Parquet"
        raise InvalidInput("dataset", str(path), rule, hint=hint) from exc
