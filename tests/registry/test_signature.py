"""Signature inference and input validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from opsloop.errors import InvalidInput
from opsloop.registry import ColumnSpec, Signature, infer_signature


def specs(sig: Signature, side: str = "inputs") -> list[tuple[str, str, bool]]:
    return [(c.name, c.dtype, c.nullable) for c in getattr(sig, side)]


def test_dataframe_types_are_normalised() -> None:
    frame = pd.DataFrame({
        "i64": [1, 2], "i32": np.array([1, 2], dtype="int32"), "u8": np.array([1, 2], "uint8"),
        "f64": [1.0, np.nan], "f32": np.array([1, 2], dtype="float32"),
        "f16": np.array([1, 2], dtype="float16"), "b": [True, False],
        "nb": pd.array([True, None], dtype="boolean"), "ni": pd.array([1, None], "Int64"),
        "s": ["a", None], "sp": pd.array(["a", "b"], dtype="string"),
        "obj_str": pd.Series(["a", "b"], dtype=object),
        "mixed": pd.Series([1, "b"], dtype=object), "cat": pd.Categorical(["x", "y"]),
        "dt": pd.to_datetime(["2024-01-01", "2024-01-02"]),
        "dt_s": pd.Series(pd.to_datetime(["2024-01-01", None])).astype("datetime64[s]"),
        "tz": pd.to_datetime(["2024-01-01", "2024-01-02"]).tz_localize("UTC"),
        "td": pd.to_timedelta([1, 2], unit="s"),
    })
    assert specs(infer_signature(frame)) == [
        ("i64", "int64", False), ("i32", "int32", False), ("u8", "uint8", False),
        ("f64", "float64", True), ("f32", "float32", False), ("f16", "float32", False),
        ("b", "bool", False), ("nb", "bool", True), ("ni", "int64", True),
        ("s", "string", True), ("sp", "string", False), ("obj_str", "string", False),
        ("mixed", "object", False), ("cat", "category", False),
        ("dt", "datetime64[ns]", False), ("dt_s", "datetime64[ns]", True),
        ("tz", "datetime64[ns, UTC]", False), ("td", "timedelta64[ns]", False),
    ]


def test_ndarray_columns_are_numbered() -> None:
    sig = infer_signature(np.zeros((3, 2), dtype="float32"), np.array([0, 1, 1]))
    assert specs(sig) == [("0", "float32", False), ("1", "float32", False)]
    assert specs(sig, "outputs") == [("prediction", "int64", False)]


def test_dict_of_lists() -> None:
    sig = infer_signature({"city": ["Oslo", None], "n": [1, 2]})
    assert specs(sig) == [("city", "string", True), ("n", "int64", False)]
    assert sig.outputs == []


@pytest.mark.parametrize(("output", "expected"), [
    (pd.Series([0.5, 0.2]), [("prediction", "float64", False)]),
    (pd.Series([1, 0], name="label"), [("label", "int64", False)]),
    ([True, False], [("prediction", "bool", False)]),
    (np.array([[0.1, 0.9], [0.4, 0.6]]), [("0", "float64", False), ("1", "float64", False)]),
    (pd.DataFrame({"p": [0.1, None]}), [("p", "float64", True)]),
])
def test_output_kinds(output: object, expected: list[tuple[str, str, bool]]) -> None:
    sig = infer_signature(np.zeros((2, 1)), output)
    assert specs(sig, "outputs") == expected


@pytest.mark.parametrize(("example", "match"), [
    (np.zeros(3), r"array of shape \(3,\).*must be 2-D.*reshape"),
    ([1, 2, 3], "invalid input example 'list'.*DataFrame"),
    ({"a": [1, 2], "b": [1]}, "invalid input example 'dict': must map"),
    (pd.DataFrame([[1, 2]], columns=["a", "a"]), "invalid example column 'a'.*more than once"),
])
def test_bad_examples(example: object, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        infer_signature(example)


@pytest.fixture
def sig() -> Signature:
    return infer_signature(pd.DataFrame({"age": [30, 40], "income": [1.0, None],
                                         "city": ["a", "b"]}))


def test_valid_input_passes_and_is_reordered(sig: Signature) -> None:
    frame = pd.DataFrame({"city": ["x"], "income": [np.nan], "age": [np.int32(5)]})
    out = sig.validate_input(frame)
    assert list(out.columns) == ["age", "income", "city"]
    same = frame[["age", "income", "city"]]
    assert sig.validate_input(same) is same


def test_ints_are_accepted_for_float_columns(sig: Signature) -> None:
    sig.validate_input(pd.DataFrame({"age": [1], "income": [3], "city": ["x"]}))
    sig.validate_input({"age": [1], "income": [3], "city": ["x"]})


@pytest.mark.parametrize(("frame", "match"), [
    ({"age": [1], "city": ["x"]}, "invalid input column 'income': is missing. the model "
                                  "takes the columns 'age', 'income', 'city'"),
    ({"age": [1], "income": [1.0], "city": ["x"], "zip": [1]},
     "invalid input column 'zip': is not in the model's signature. drop it"),
    ({"age": [1.5], "income": [1.0], "city": ["x"]},
     "invalid input column 'age': has type float64, the model expects int64"),
    ({"age": [1], "income": [1.0], "city": [1]},
     "invalid input column 'city': has type int64, the model expects string"),
    ({"age": [1], "income": [1.0], "city": [None]},
     "invalid input column 'city': has missing values and the signature says it is not "
     "nullable"),
])
def test_invalid_inputs_name_the_column(sig: Signature, frame: dict[str, list[object]],
                                        match: str) -> None:
    with pytest.raises(InvalidInput, match=match) as info:
        sig.validate_input(pd.DataFrame(frame))
    assert info.value.details["field"] == "input column"


def test_ndarray_input_against_ndarray_signature() -> None:
    sig = infer_signature(np.zeros((2, 2)))
    sig.validate_input(np.ones((5, 2), dtype="int64"))
    with pytest.raises(InvalidInput, match="column '2': is not in the model's signature"):
        sig.validate_input(np.ones((5, 3)))
    with pytest.raises(InvalidInput, match="column '0': has type string"):
        sig.validate_input(np.array([["a", "b"]]))


def test_category_accepts_strings_and_object_accepts_anything() -> None:
    sig = Signature(inputs=[ColumnSpec(name="c", dtype="category"),
                            ColumnSpec(name="o", dtype="object", nullable=True)])
    sig.validate_input({"c": ["x"], "o": [None]})


def test_signature_round_trips_json(sig: Signature) -> None:
    assert Signature.model_validate_json(sig.model_dump_json()) == sig
    with pytest.raises(ValueError, match="extra"):
        ColumnSpec.model_validate({"name": "a", "dtype": "int64", "shape": [1]})
