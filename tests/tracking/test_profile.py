"""Tests of opsloop.tracking.profile: digests, schemas and statistics profiles."""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import subprocess
import sys
import types
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsloop.errors import InvalidInput, NotFound
from opsloop.tracking.profile import QUANTILES, Fingerprint, fingerprint


def digest(data: object) -> str:
    return fingerprint(data).digest


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "i": pd.array([1, 2, None, 4], dtype="Int64"),
            "f": [0.5, np.nan, 2.5, -1.0],
            "s": ["a", None, "bc", "a"],
            "b": [True, False, None, True],
            "c": pd.Categorical(["x", "y", "x", None]),
            "t": pd.to_datetime(["2024-01-01", None, "2024-03-01", "2024-02-01"]).as_unit("us"),
        }
    )


# -- digest invariance ------------------------------------------------------------------


def test_index_does_not_count(frame: pd.DataFrame) -> None:
    base = digest(frame)
    assert digest(frame.set_index(pd.Index([10, 20, 30, 40]))) == base
    assert digest(frame.set_index(pd.Index(list("wxyz"), name="key"))) == base
    assert digest(frame.sample(frac=1, random_state=1).sort_index()) == base


def test_memory_layout_does_not_count() -> None:
    values = np.arange(30, dtype="float64").reshape(10, 3)
    c_order = pd.DataFrame(values, columns=list("abc"))
    f_order = pd.DataFrame(np.asfortranarray(values), columns=list("abc"))
    assert digest(c_order) == digest(f_order)


def test_chunking_and_slicing_do_not_count(frame: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    rechunked = pa.Table.from_batches(table.to_batches(max_chunksize=1))
    assert rechunked.column("s").num_chunks == 4
    assert digest(rechunked) == digest(table)
    padded = pa.concat_tables([table.slice(0, 1), table, table.slice(1, 2)]).combine_chunks()
    assert digest(padded.slice(1, 4)) == digest(table)


def test_pandas_and_arrow_of_the_same_data_are_equal(frame: pd.DataFrame) -> None:
    table = pa.table(
        {
            "i": pa.array([1, 2, None, 4], pa.int64()),
            "f": pa.array([0.5, None, 2.5, -1.0], pa.float64()),
            "s": pa.array(["a", None, "bc", "a"], pa.string()),
            "b": pa.array([True, False, None, True]),
            "c": pa.array(["x", "y", "x", None]).dictionary_encode(),
            "t": pa.array(
                [datetime(2024, 1, 1), None, datetime(2024, 3, 1), datetime(2024, 2, 1)],
                pa.timestamp("us"),
            ),
        }
    )
    assert digest(table) == digest(frame)
    assert fingerprint(table).schema == fingerprint(frame).schema


def test_representation_variants_are_one_type() -> None:
    strings = ["a", None, "ccc"]
    variants = [
        pa.table({"s": pa.array(strings, t)})
        for t in (pa.string(), pa.large_string(), pa.string_view())
    ]
    assert len({digest(t) for t in variants}) == 1
    lists = [
        pa.table({"l": pa.array([[1], None, [2, 3]], t)})
        for t in (pa.list_(pa.int64()), pa.large_list(pa.int64()))
    ]
    assert digest(lists[0]) == digest(lists[1])


def test_metadata_and_declared_nullability_do_not_count() -> None:
    table = pa.table({"x": [1, 2]})
    strict = table.cast(pa.schema([pa.field("x", pa.int64(), nullable=False)]))
    assert digest(table.replace_schema_metadata({"a": "b"})) == digest(table)
    assert digest(strict) == digest(table)


def test_bytes_under_null_slots_do_not_count() -> None:
    validity = pa.py_buffer(np.packbits([1, 0, 1], bitorder="little").tobytes())
    ints = [
        pa.Array.from_buffers(
            pa.int64(),
            3,
            [validity, pa.py_buffer(np.array([7, garbage, 9], dtype="<i8").tobytes())],
        )
        for garbage in (0, 12345)
    ]
    assert digest(pa.table({"x": ints[0]})) == digest(pa.table({"x": ints[1]}))
    strings = [
        pa.Array.from_buffers(
            pa.string(),
            3,
            [validity, pa.py_buffer(np.array(offsets, dtype="<i4").tobytes()), pa.py_buffer(data)],
        )
        for offsets, data in (([0, 1, 1, 2], b"ab"), ([0, 1, 4, 5], b"aXYZb"))
    ]
    assert strings[0].to_pylist() == strings[1].to_pylist() == ["a", None, "b"]
    assert digest(pa.table({"s": strings[0]})) == digest(pa.table({"s": strings[1]}))


def test_nan_bit_patterns_are_one_value() -> None:
    quiet = np.array([1.0, np.nan])
    other = quiet.copy()
    other.view("<u8")[1] = 0x7FF8_0000_0000_0001
    assert math.isnan(other[1])
    assert digest(pa.table({"x": pa.array(quiet, from_pandas=False)})) == digest(
        pa.table({"x": pa.array(other, from_pandas=False)})
    )


def test_unused_categories_do_not_count() -> None:
    used = pd.DataFrame({"c": pd.Categorical(["a", "b"])})
    extra = pd.DataFrame({"c": pd.Categorical(["a", "b"], categories=["a", "b", "z"])})
    assert digest(used) == digest(extra)


# -- digest sensitivity -----------------------------------------------------------------


def changed_frames(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    changes: dict[str, pd.DataFrame] = {}
    for column in frame.columns:
        copy = frame.copy()
        copy.loc[0, column] = {
            "i": 99,
            "f": 0.25,
            "s": "z",
            "b": False,
            "c": "y",
            "t": pd.Timestamp("2000-01-01"),
        }[column]
        changes[f"value of {column}"] = copy
        nulled = frame.copy()
        nulled.loc[0, column] = None
        changes[f"null in {column}"] = nulled
    changes["renamed column"] = frame.rename(columns={"i": "j"})
    changes["swapped rows"] = frame.iloc[[1, 0, 2, 3]]
    changes["swapped columns"] = frame[["f", "i", "s", "b", "c", "t"]]
    changes["int to float"] = frame.astype({"i": "float64"})
    changes["int64 to int32"] = frame.astype({"i": "Int32"})
    changes["category to string"] = frame.astype({"c": "str"})
    changes["extra row"] = pd.concat([frame, frame.iloc[[3]]])
    changes["dropped column"] = frame.drop(columns="t")
    changes["datetime unit"] = frame.astype({"t": "datetime64[ns]"})
    changes["time zone"] = frame.assign(t=frame["t"].dt.tz_localize("UTC"))
    return changes


def test_any_change_changes_the_digest(frame: pd.DataFrame) -> None:
    changes = changed_frames(frame)
    digests = {name: digest(changed) for name, changed in changes.items()}
    digests["original"] = digest(frame)
    assert len(set(digests.values())) == len(digests), digests


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (["ab", "c"], ["a", "bc"]),
        (["", None], [None, ""]),
        ([""], [None]),
        ([[1, 2], [3]], [[1], [2, 3]]),
        ([[1], None], [[1], []]),
        ([{"a": 1, "b": "x"}], [{"a": 1, "b": "y"}]),
        ([{"a": 1}, None], [{"a": 1}, {"a": None}]),
        ([0.0], [-0.0]),
        ([float("nan")], [None]),
        ([b"\x00"], [b"\x00\x00"]),
    ],
)
def test_boundaries_and_nulls_are_distinguished(left: list[Any], right: list[Any]) -> None:
    assert digest(pa.table({"x": pa.array(left, from_pandas=False)})) != digest(
        pa.table({"x": pa.array(right, from_pandas=False)})
    )


def test_nested_columns_are_chunking_invariant() -> None:
    table = pa.table(
        {
            "l": pa.array([[1], None, [2, 3], []]),
            "m": pa.array([{"k": 1}, None, {"k": 2}, {"k": 3}]),
            "u": pa.array([[("a", 1)], None, [], [("b", 2)]], pa.map_(pa.string(), pa.int64())),
        }
    )
    rechunked = pa.Table.from_batches(table.to_batches(max_chunksize=1))
    assert digest(rechunked) == digest(table)
    assert digest(table.slice(1, 2)) == digest(
        pa.table(
            {
                "l": pa.array([None, [2, 3]]),
                "m": pa.array([None, {"k": 2}]),
                "u": pa.array([None, []], pa.map_(pa.string(), pa.int64())),
            }
        )
    )


def test_empty_table_has_a_digest_per_schema() -> None:
    assert digest(pa.table({"x": pa.array([], pa.int64())})) != digest(
        pa.table({"x": pa.array([], pa.float64())})
    )
    assert fingerprint(pd.DataFrame()).num_rows == 0


# -- profiles ---------------------------------------------------------------------------


def test_numeric_profile() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 0.0, None]
    stats = fingerprint(pd.DataFrame({"x": values})).profile["columns"]["x"]
    present = np.array(values[:-1], dtype=float)
    assert stats["type"] == "double"
    assert (stats["count"], stats["missing"], stats["missing_rate"]) == (5, 1, pytest.approx(1 / 6))
    assert stats["mean"] == pytest.approx(2.0)
    assert stats["std"] == pytest.approx(float(np.std(present, ddof=1)))
    assert (stats["min"], stats["max"], stats["zeros"], stats["inf_count"]) == (0.0, 4.0, 1, 0)
    for name, q in QUANTILES.items():
        assert stats[name] == pytest.approx(float(np.quantile(present, q)))
    assert stats["histogram"]["counts"] == np.histogram(present, bins=10)[0].tolist()
    assert stats["histogram"]["edges"] == pytest.approx(np.linspace(0, 4, 11).tolist())


def test_integer_profile_keeps_exact_bounds() -> None:
    big = 2**62 + 1
    stats = fingerprint(pa.table({"x": [big, 1, None]})).profile["columns"]["x"]
    assert (stats["min"], stats["max"], stats["count"], stats["missing"]) == (1, big, 2, 1)
    assert isinstance(stats["max"], int)


def test_string_profile_top_values() -> None:
    stats = fingerprint(pd.DataFrame({"s": ["a", "b", "a", "c", "a", "b", None]})).profile[
        "columns"
    ]["s"]
    assert (stats["count"], stats["missing"], stats["unique"]) == (6, 1, 3)
    assert stats["top"] == [
        {"value": "a", "count": 3},
        {"value": "b", "count": 2},
        {"value": "c", "count": 1},
    ]


def test_top_values_are_ten_most_frequent_with_ties_by_value() -> None:
    values = [f"v{i:02d}" for i in range(30)] + ["v29", "v29", "v28"]
    top = fingerprint(pa.table({"s": values})).profile["columns"]["s"]["top"]
    assert top[:2] == [{"value": "v29", "count": 3}, {"value": "v28", "count": 2}]
    assert [t["value"] for t in top[2:]] == [f"v{i:02d}" for i in range(8)]


def test_categorical_bool_and_datetime_profiles(frame: pd.DataFrame) -> None:
    columns = fingerprint(frame).profile["columns"]
    assert columns["c"]["type"] == "dictionary<values=string, ordered=0>"
    assert columns["c"]["top"] == [{"value": "x", "count": 2}, {"value": "y", "count": 1}]
    assert (columns["c"]["unique"], columns["c"]["missing"]) == (2, 1)
    assert columns["b"]["true_rate"] == pytest.approx(2 / 3)
    assert (columns["t"]["min"], columns["t"]["max"]) == (
        "2024-01-01T00:00:00",
        "2024-03-01T00:00:00",
    )
    assert columns["i"]["mean"] == pytest.approx(7 / 3)


def test_infinities_are_counted_not_averaged() -> None:
    values = [1.0, math.inf, -math.inf, math.nan, 3.0]
    stats = fingerprint(pd.DataFrame({"x": values})).profile["columns"]["x"]
    assert (stats["count"], stats["missing"], stats["inf_count"]) == (4, 1, 2)
    assert (stats["mean"], stats["min"], stats["max"]) == (2.0, 1.0, 3.0)
    assert sum(stats["histogram"]["counts"]) == 2


@pytest.mark.parametrize(
    "values", [[None, None], [math.inf, -math.inf], [1e308, -1e308], [5.0], []]
)
def test_degenerate_numeric_columns_are_json_safe(values: list[float | None]) -> None:
    fp = fingerprint(pa.table({"x": pa.array(values, pa.float64())}))
    json.dumps(fp.profile, allow_nan=False)
    stats = fp.profile["columns"]["x"]
    if len(values) < 2 or values[0] is None or math.isinf(values[0]):
        assert stats["std"] is None


def test_profile_and_schema_shape(frame: pd.DataFrame) -> None:
    fp = fingerprint(frame)
    assert fp.profile["num_rows"] == fp.num_rows == 4
    assert fp.profile["num_columns"] == 6
    assert [c["name"] for c in fp.schema] == list(frame.columns)
    assert {c["type"] for c in fp.schema} >= {"int64", "double", "string", "bool"}
    json.dumps(fp.profile, allow_nan=False)
    json.dumps(fp.schema)


def test_table_is_kept_and_not_compared(frame: pd.DataFrame) -> None:
    fp = fingerprint(frame)
    assert isinstance(fp.table, pa.Table)
    assert fp.table.column_names == list(frame.columns)
    assert fp == Fingerprint(fp.digest, fp.num_rows, fp.schema, fp.profile, None)
    assert "table" not in repr(fp)
    with pytest.raises(AttributeError):
        fp.digest = "x"  # type: ignore[misc]


def test_every_arrow_type_is_digested_and_profiled() -> None:
    table = pa.table(
        {
            "date": pa.array([date(2024, 1, 2), None, date(2023, 5, 1)]),
            "time": pa.array([time(1, 2), time(3, 4), None], pa.time64("us")),
            "duration": pa.array([timedelta(seconds=5), None, timedelta(days=1)], pa.duration("s")),
            "tz": pa.array([datetime(2024, 1, 1), None, None], pa.timestamp("ns", tz="UTC")),
            "far": pa.array([10**13, 0, None], pa.int64()).cast(pa.timestamp("s")),
            "decimal": pa.array([Decimal("1.50"), None, Decimal("-2.25")], pa.decimal128(5, 2)),
            "half": pa.array(np.array([1, 2, 3], dtype=np.float16)),
            "uint8": pa.array([1, 255, None], pa.uint8()),
            "binary": pa.array([b"\xff\x00", None, b"ab"]),
            "fixed": pa.array([b"ab", b"cd", None], pa.binary(2)),
            "list": pa.array([[1.0, 2.0], None, []]),
            "fixed_list": pa.array([[1, 2], [3, 4], None], pa.list_(pa.int8(), 2)),
            "struct": pa.array([{"a": 1}, None, {"a": 2}]),
            "null": pa.nulls(3),
            "interval": pa.array([None, None, None], pa.month_day_nano_interval()),
            "int_category": pa.array([1, 2, 1]).dictionary_encode(),
        }
    )
    fp = fingerprint(table)
    json.dumps(fp.profile, allow_nan=False)
    assert digest(pa.Table.from_batches(table.to_batches(max_chunksize=1))) == fp.digest
    columns = fp.profile["columns"]
    assert (columns["date"]["min"], columns["date"]["max"]) == ("2023-05-01", "2024-01-02")
    assert columns["time"]["max"] == "03:04:00"
    assert columns["tz"]["min"] == "2024-01-01T00:00:00+00:00"
    assert (columns["decimal"]["min"], columns["decimal"]["mean"]) == (-2.25, -0.375)
    assert (columns["uint8"]["max"], columns["half"]["mean"]) == (255, 2.0)
    assert columns["binary"]["top"][0] == {"value": "ab", "count": 1}
    assert columns["int_category"]["top"] == [{"value": 1, "count": 2}, {"value": 2, "count": 1}]
    assert (columns["null"]["count"], columns["null"]["missing_rate"]) == (0, 1.0)
    for name in ("fixed", "fixed_list"):
        changed = table.set_column(
            table.column_names.index(name), name, table.column(name).take([1, 0, 2])
        )
        assert digest(changed) != fp.digest


# -- files and folders ------------------------------------------------------------------


@pytest.fixture
def small() -> pd.DataFrame:
    return pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None]})


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet", ".json", ".jsonl"])
def test_tabular_files_are_read(tmp_path: Path, small: pd.DataFrame, suffix: str) -> None:
    path = tmp_path / f"data{suffix}"
    if suffix == ".parquet":
        small.to_parquet(path)
    elif suffix == ".csv":
        small.to_csv(path, index=False)
    elif suffix == ".csv.gz":
        path.write_bytes(gzip.compress(small.to_csv(index=False).encode()))
    elif suffix == ".json":
        path.write_text(json.dumps([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}, {"a": 3, "b": None}]))
    else:
        path.write_text('{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n{"a": 3, "b": null}\n')
    fp = fingerprint(path)
    assert fp.digest == sha256_file(path)
    assert fp.num_rows == 3
    assert [c["name"] for c in fp.schema] == ["a", "b"]
    assert fp.profile["columns"]["a"]["mean"] == 2.0
    assert fp.profile["columns"]["b"]["missing"] == 1
    assert fp.table is not None
    assert fp.table.num_rows == 3
    assert fingerprint(str(path)) == fp


def test_opaque_file(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(bytes(range(256)) * 10)
    assert fingerprint(path) == Fingerprint(sha256_file(path), -1, [], {}, None)


def test_unreadable_tabular_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(InvalidInput, match=r"broken\.parquet") as caught:
        fingerprint(path)
    assert caught.value.details["field"] == "dataset"
    assert caught.value.hint


def test_folder_digest(tmp_path: Path) -> None:
    root = tmp_path / "d"
    (root / "sub").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "b.txt").write_text("b")
    (root / "sub" / "a.txt").write_text("a")
    (root / ".hidden").write_text("h")
    (root / ".git" / "config").write_text("c")
    lines = [f"{name}\0{sha256_file(root / name)}\n" for name in ("b.txt", "sub/a.txt")]
    expected = hashlib.sha256("".join(lines).encode()).hexdigest()
    fp = fingerprint(root)
    assert fp == Fingerprint(expected, -1, [], {}, None)

    (root / ".hidden").write_text("changed")
    assert digest(root) == expected
    (root / "sub" / "a.txt").write_text("A")
    changed = digest(root)
    assert changed != expected
    (root / "sub" / "a.txt").rename(root / "sub" / "c.txt")
    assert digest(root) not in (expected, changed)


def test_folder_of_parquet_files(tmp_path: Path, small: pd.DataFrame) -> None:
    root = tmp_path / "parts"
    root.mkdir()
    small.to_parquet(root / "part-0.parquet")
    small.to_parquet(root / "part-1.parquet")
    (root / "_SUCCESS").write_bytes(b"")
    fp = fingerprint(root)
    assert fp.num_rows == 6
    assert fp.profile["columns"]["a"]["count"] == 6
    assert fp.table is not None
    (root / "notes.txt").write_text("not data")
    assert fingerprint(root).num_rows == -1


# -- inputs and errors ------------------------------------------------------------------


@pytest.mark.parametrize("data", [[1, 2], {"a": [1]}, b"bytes", 3, None])
def test_unsupported_inputs(data: object) -> None:
    with pytest.raises(InvalidInput, match="must be a pandas/polars DataFrame") as caught:
        fingerprint(data)
    assert caught.value.details["value"] == type(data).__name__


def test_series_is_not_a_table() -> None:
    with pytest.raises(InvalidInput, match="Series"):
        fingerprint(pd.Series([1, 2]))


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="dataset file"):
        fingerprint(tmp_path / "nope.csv")


def test_duplicate_column_names() -> None:
    with pytest.raises(InvalidInput, match="unique"):
        fingerprint(pd.DataFrame([[1, 2]], columns=["a", "a"]))


def test_mixed_object_column_is_named() -> None:
    with pytest.raises(InvalidInput, match="'mixed'") as caught:
        fingerprint(pd.DataFrame({"ok": [1, 2], "mixed": [1, "a"]}))
    assert "astype" in caught.value.hint


def test_polars_frames_go_through_arrow(monkeypatch: pytest.MonkeyPatch) -> None:
    table = pa.table({"x": [1, 2]})

    class DataFrame:
        def to_arrow(self) -> pa.Table:
            return table

    fake = types.ModuleType("polars")
    fake.DataFrame = DataFrame  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "polars", fake)
    assert digest(DataFrame()) == digest(table)


def test_import_is_cheap() -> None:
    code = (
        "import sys, opsloop.tracking.profile; "
        "print(sorted(m for m in ('numpy', 'pandas', 'pyarrow') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# -- properties -------------------------------------------------------------------------


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    rows = draw(st.integers(min_value=0, max_value=12))
    ints = draw(
        st.lists(st.none() | st.integers(-(2**63), 2**63 - 1), min_size=rows, max_size=rows)
    )
    floats = draw(st.lists(st.none() | st.floats(), min_size=rows, max_size=rows))
    strings = draw(st.lists(st.none() | st.text(max_size=5), min_size=rows, max_size=rows))
    return pd.DataFrame(
        {
            "i": pd.array(ints, dtype="Int64"),
            "f": pd.array(floats, dtype="float64"),
            "s": pd.array(strings, dtype="str"),
        }
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=frames(), seed=st.integers(0, 2**32 - 1))
def test_digest_ignores_index_and_profile_is_json(frame: pd.DataFrame, seed: int) -> None:
    restored = frame.sample(frac=1, random_state=seed).sort_index()
    relabelled = frame.set_index(pd.Index(np.random.default_rng(seed).permutation(len(frame))))
    fp = fingerprint(frame)
    assert fingerprint(restored).digest == fp.digest
    assert fingerprint(relabelled).digest == fp.digest
    json.dumps(fp.profile, allow_nan=False)
    if len(frame) > 1 and not frame.iloc[0].equals(frame.iloc[1]):
        assert fingerprint(frame.iloc[[1, 0, *range(2, len(frame))]]).digest != fp.digest
