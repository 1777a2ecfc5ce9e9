"""Model signatures: the columns a model takes and returns, with their types.

A :class:`Signature` is inferred from an example of the input (and of the output) when
a model is saved, stored in its manifest, and checked against every input before the
model predicts, so that a renamed, missing or mistyped column is reported by name
instead of failing deep inside the model library.

Column types are normalised to a small vocabulary, so that representation variants of
one type compare equal:

========================  =============================================================
type                      from
========================  =============================================================
``bool``                  numpy ``bool``, pandas ``boolean``
``int8`` .. ``int64``     signed integers, numpy or pandas nullable (``Int64``)
``uint8`` .. ``uint64``   unsigned integers
``float32``, ``float64``  floats, numpy or pandas nullable (``float16`` is ``float32``)
``string``                pandas ``str``/``string``, numpy ``U`` arrays, and ``object``
                          columns whose values are all strings
``category``              pandas ``category``
``datetime64[ns]``        naive datetimes of any unit; tz-aware ones are
                          ``datetime64[ns, <tz>]``
``timedelta64[ns]``       timedeltas of any unit
``object``                anything else (mixed Python objects)
========================  =============================================================

A column is ``nullable`` when the example has a missing value (``None``, ``NaN``,
``NaT``, ``pd.NA``) in it; :meth:`Signature.validate_input` then refuses missing
values in the columns that are not.

Example:
    >>> import pandas as pd
    >>> sig = infer_signature(pd.DataFrame({"age": [31, 45], "income": [1.5, None]}),
    ...                       [0.2, 0.9])
    >>> [(c.name, c.dtype, c.nullable) for c in sig.inputs]
    [('age', 'int64', False), ('income', 'float64', True)]
    >>> sig.outputs[0].name, sig.outputs[0].dtype
    ('prediction', 'float64')
    >>> sig.validate_input(pd.DataFrame({"age": [50]}))
    Traceback (most recent call last):
    ...
    opsloop.errors.InvalidInput: invalid input column 'income': is missing. ...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from opsloop.errors import InvalidInput

__all__ = ["ColumnSpec", "Signature", "infer_signature"]

_SUPPORTED_INPUT = "must be a pandas DataFrame, a 2-D numpy array or a dict of lists"
_INTS = {f"{sign}int{bits}" for sign in ("", "u") for bits in (8, 16, 32, 64)}
_FLOATS = {"float32", "float64"}


class ColumnSpec(BaseModel):
    """One column of a signature.

    Attributes:
        name: the column name (``"0"``, ``"1"``, ... for numpy arrays).
        dtype: the normalised type (see the module docstring).
        nullable: whether the column may hold missing values.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    dtype: str
    nullable: bool = False


class Signature(BaseModel):
    """The input and output columns of a model.

    Attributes:
        inputs: the columns the model takes, in order.
        outputs: the columns it returns (empty when unknown).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    inputs: list[ColumnSpec]
    outputs: list[ColumnSpec] = []

    def validate_input(self, data: Any) -> Any:
        """Check ``data`` against :attr:`inputs`; returns it ready for the model.

        Rules: every column is present and no other; each has the recorded type, except
        that float columns accept integers and the other float width, integer columns
        accept any integer width, ``category`` columns accept strings and ``object``
        columns accept anything; columns that are not nullable hold no missing values.
        A DataFrame comes back with its columns in signature order; other inputs come
        back unchanged.

        Args:
            data: a pandas DataFrame, a 2-D numpy array or a dict of lists.

        Raises:
            InvalidInput: naming the first column that breaks a rule.

        Example:
            >>> import numpy as np
            >>> sig = infer_signature(np.zeros((2, 3), dtype="float32"))
            >>> sig.validate_input(np.ones((1, 3), dtype="int64")).shape
            (1, 3)
            >>> sig.validate_input(np.ones((1, 2)))
            Traceback (most recent call last):
            ...
            opsloop.errors.InvalidInput: invalid input column '2': is missing. ...
        """
        frame = _to_frame(data, "input")
        expected = {c.name: c for c in self.inputs}
        names = [str(n) for n in frame.columns]
        for spec in self.inputs:
            if spec.name not in names:
                raise InvalidInput("input column", spec.name, "is missing",
                                   hint=f"the model takes the columns {_listing(expected)}")
        for name in names:
            if name not in expected:
                raise InvalidInput("input column", name, "is not in the model's signature",
                                   hint=f"drop it; the model takes the columns "
                                        f"{_listing(expected)}")
        for position, name in enumerate(names):
            spec, column = expected[name], frame.iloc[:, position]
            actual = _column_type(column)
            if not _compatible(spec.dtype, actual):
                raise InvalidInput("input column", name,
                                   f"has type {actual}, the model expects {spec.dtype}",
                                   hint=f"convert it, e.g. frame[{name!r}].astype("
                                        f"{spec.dtype!r})")
            if not spec.nullable and bool(column.isna().any()):
                raise InvalidInput("input column", name,
                                   "has missing values and the signature says it is not "
                                   "nullable",
                                   hint="fill them first, or save the model with an input "
                                        "example that has missing values in this column")
        import pandas as pd

        if isinstance(data, pd.DataFrame) and names != list(expected):
            return data[[_original(data, n) for n in expected]]
        return data


def infer_signature(input_example: Any, output_example: Any = None) -> Signature:
    """The signature of a model from an example of its input (and output).

    Args:
        input_example: a pandas DataFrame, a 2-D numpy array (columns named ``"0"``,
            ``"1"``, ...) or a dict of lists.
        output_example: optional; the same kinds, or a pandas Series, a 1-D array or a
            list (one column, named after the Series or ``"prediction"``).

    Raises:
        InvalidInput: an example of another kind, or with duplicate column names.

    Example:
        >>> import numpy as np
        >>> sig = infer_signature({"city": ["Oslo", "Lima"], "n": [1, 2]},
        ...                       np.array([[0.1, 0.9], [0.7, 0.3]]))
        >>> [(c.name, c.dtype) for c in sig.inputs + sig.outputs]
        [('city', 'string'), ('n', 'int64'), ('0', 'float64'), ('1', 'float64')]
    """
    inputs = _columns(_to_frame(input_example, "input example"))
    outputs = [] if output_example is None else _columns(_output_frame(output_example))
    return Signature(inputs=inputs, outputs=outputs)


def _columns(frame: Any) -> list[ColumnSpec]:
    names = [str(n) for n in frame.columns]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidInput("example column", duplicates[0], "appears more than once",
                           hint="give every column a distinct name")
    return [ColumnSpec(name=name, dtype=_column_type(frame.iloc[:, i]),
                       nullable=bool(frame.iloc[:, i].isna().any()))
            for i, name in enumerate(names)]


def _to_frame(data: Any, field: str) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Mapping):
        try:
            return pd.DataFrame({str(k): v for k, v in data.items()})
        except (TypeError, ValueError) as exc:
            raise InvalidInput(field, "dict", f"must map column names to equal-length "
                                              f"lists ({exc})") from None
    if isinstance(data, np.ndarray):
        if data.ndim != 2:
            raise InvalidInput(field, f"array of shape {data.shape}", "must be 2-D",
                               hint="reshape a single feature with array.reshape(-1, 1)")
        return pd.DataFrame(data, columns=[str(i) for i in range(data.shape[1])], copy=False)
    raise InvalidInput(field, type(data).__name__, _SUPPORTED_INPUT,
                       hint="convert it to a pandas DataFrame")


def _output_frame(data: Any) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.Series):
        return data.to_frame("prediction" if data.name is None else str(data.name))
    if isinstance(data, list | tuple):
        data = np.asarray(data)
    if isinstance(data, np.ndarray) and data.ndim == 1:
        return pd.DataFrame({"prediction": data})
    return _to_frame(data, "output example")


def _column_type(column: Any) -> str:
    import pandas as pd

    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if isinstance(dtype, pd.DatetimeTZDtype):
        return f"datetime64[ns, {dtype.tz}]"
    if isinstance(dtype, pd.StringDtype):
        return "string"
    kind = dtype.kind
    if kind == "b":
        return "bool"
    if kind in "iu":
        return f"{'u' if kind == 'u' else ''}int{dtype.itemsize * 8}"
    if kind == "f":
        return "float64" if dtype.itemsize >= 8 else "float32"
    if kind == "M":
        return "datetime64[ns]"
    if kind == "m":
        return "timedelta64[ns]"
    if kind == "U":
        return "string"
    if kind == "O":
        values = column.dropna()
        if all(isinstance(v, str) for v in values):
            return "string"
    return "object"


def _compatible(expected: str, actual: str) -> bool:
    if expected in (actual, "object"):
        return True
    if expected in _FLOATS:
        return actual in _FLOATS or actual in _INTS
    if expected in _INTS:
        return actual in _INTS
    return expected == "category" and actual == "string"


def _listing(columns: Mapping[str, ColumnSpec]) -> str:
    names = list(columns)
    shown = ", ".join(repr(n) for n in names[:10])
    return shown + (f" and {len(names) - 10} more" if len(names) > 10 else "")


def _original(frame: Any, name: str) -> Any:
    """The column label of ``frame`` whose string form is ``name``."""
    for label in frame.columns:
        if str(label) == name:
            return label
    raise KeyError(name)  # unreachable: validate_input checked every name
