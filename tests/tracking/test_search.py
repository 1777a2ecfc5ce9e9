"""The run-search filter language, run against a small SQLite store.

The fixture data lives in plain dicts (RUNS, METRICS, PARAMS, TAGS) so that the Hypothesis
tests can check every SQL result against a reference evaluation written in Python.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, create_engine, func, inspect, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from opsloop.errors import InvalidFilter, InvalidInput
from opsloop.store.orm import (
    Base,
    ExperimentRow,
    LatestMetricRow,
    ParamRow,
    ProjectRow,
    RunRow,
    TagRow,
)
from opsloop.tracking.search import (
    MAX_COMPARISONS,
    MAX_DEPTH,
    MAX_FILTER_LENGTH,
    And,
    Comparison,
    Field,
    Node,
    Not,
    Or,
    Value,
    parse_filter,
    parse_order_item,
    run_filter,
    run_order_by,
)

NAN = float("nan")
_RUN_COLUMNS = ["experiment_id", "name", "status", "start_time", "end_time", "user", "host"]
_RUN_COLUMNS += ["parent_id", "source_commit", "source_branch", "source_dirty"]
RUNS: dict[str, dict[str, Any]] = {
    run_id: dict(zip(_RUN_COLUMNS, values, strict=True))
    for run_id, values in {
        "r1": (1, "alpha", "FINISHED", 1000, 2000, "ann", "h1", None, "abc123", "main", False),
        "r2": (1, "beta", "FINISHED", 2000, 3000, "bob", "h1", None, "abc123", "main", True),
        "r3": (1, "Gamma", "FAILED", 3000, 3500, "ann", "h2", "r1", "def456", "dev", False),
        "r4": (1, "delta", "RUNNING", 4000, None, "bob", "h2", "r1", None, None, None),
        "r5": (2, "eps ilon", "FINISHED", 5000, 6000, "cy", "h3", None, "abc123", "main", False),
        "r6": (2, "zeta", "KILLED", 6000, 6500, "cy", "h3", "r5", "fff000", "feat/x", True),
        "r7": (1, "eta", "FINISHED", 7000, 7100, "ann", "h1", None, None, None, None),
        "r8": (1, "theta", "FINISHED", 8000, 9000, "bob", "h1", None, "abc123", "main", False),
    }.items()
}
METRICS: dict[str, dict[str, float]] = {
    "r1": {"auc": 0.81, "loss": 0.5, "val loss": 0.2, "train/acc": 0.99},
    "r2": {"auc": 0.9, "loss": 0.3, "val loss": 0.4},
    "r3": {"auc": NAN, "loss": 0.2},  # NaN is stored as NULL
    "r4": {"loss": 1.5},
    "r5": {"auc": 0.95, "loss": 1e-3},
    "r6": {"auc": 0.7, "loss": -2.0},
    "r7": {"auc": 0.9},
    "r8": {},
}
PARAMS: dict[str, dict[str, str]] = {
    "r1": {"model": "xgb", "depth": "5", "lr": "1e-3"},
    "r2": {"model": "xgb", "depth": "10", "lr": "0.01"},
    "r3": {"model": "lgbm", "depth": "5.0"},
    "r4": {"model": "XGB"},
    "r5": {"model": "rf", "depth": "7"},
    "r6": {"model": "xgboost"},
    "r7": {},
    "r8": {"model": "it's"},
}
TAGS: dict[str, dict[str, str]] = {
    "r1": {"stage": "prod"},
    "r2": {"stage": "dev", "my tag": "x"},
    "r3": {"stage": "dev", "my tag": "y"},
    "r4": {"note": "50%_off"},
    "r5": {"stage": "prod"},
    "r6": {"stage": "staging"},
    "r7": {"note": "50% off"},
    "r8": {"note": 'say "hi"'},
}
ALL = set(RUNS)
T = TypeVar("T")


def populate(engine: Engine) -> None:
    """Create the schema and insert the fixture runs."""
    Base.metadata.create_all(engine)
    with Session(engine) as session:  # flushed parents first: the rows have no relationships
        session.add(ProjectRow(id=1, name="p", created_at=0))
        session.flush()
        session.add_all(
            ExperimentRow(id=i, project_id=1, name=f"e{i}", created_at=0) for i in (1, 2)
        )
        session.flush()
        session.add_all(RunRow(id=run_id, heartbeat_at=0, **row) for run_id, row in RUNS.items())
        session.flush()
        for run_id in RUNS:
            for key, value in METRICS[run_id].items():
                stored = None if math.isnan(value) else value
                session.add(
                    LatestMetricRow(run_id=run_id, key=key, value=stored, step=0, timestamp=0)
                )
            session.add_all(
                ParamRow(run_id=run_id, key=k, value=v) for k, v in PARAMS[run_id].items()
            )
            session.add_all(TagRow(run_id=run_id, key=k, value=v) for k, v in TAGS[run_id].items())
        session.commit()


@pytest.fixture(scope="module")
def conn() -> Iterator[Connection]:
    engine = create_engine("sqlite://")
    populate(engine)
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def matching(conn: Connection, text: str | None) -> set[str]:
    clause = run_filter(text)
    statement = select(RunRow.id) if clause is None else select(RunRow.id).where(clause)
    return set(conn.scalars(statement))


def ordered(conn: Connection, items: Sequence[str] | None) -> list[str]:
    return list(conn.scalars(select(RunRow.id).order_by(*run_order_by(items))))


def attempt(call: Callable[[], T]) -> T | InvalidFilter:
    """The result of ``call()``, or the InvalidFilter it raised."""
    try:
        return call()
    except InvalidFilter as exc:
        return exc


def runs(text: str) -> set[str]:
    return {f"r{n}" for n in text.split()}


FILTERS = [
    # metrics: numbers; missing or NaN never match, `is null` means never logged
    ("metrics.auc > 0.85", "2 5 7"),
    ("metrics.auc >= 0.9", "2 5 7"),
    ("metrics.auc = 0.9", "2 7"),
    ("metrics.auc == 0.9", "2 7"),
    ("metrics.auc != 0.9", "1 5 6"),
    ("metrics.auc <> 0.9", "1 5 6"),
    ("metrics.auc < 0.85", "1 6"),
    ("metrics.auc <= 0.81", "1 6"),
    ("metrics.auc in (0.7, 0.95)", "5 6"),
    ("metrics.auc not in (0.7, 0.95)", "1 2 7"),
    ("metrics.auc is null", "4 8"),
    ("metrics.auc is not null", "1 2 3 5 6 7"),
    ("not metrics.auc > 0.85", "1 3 4 6 8"),
    ("metrics.loss < 0", "6"),
    ("metrics.loss > -2.5", "1 2 3 4 5 6"),
    ("metrics.loss < 1e-2", "5 6"),
    ("metrics.loss = 1E-3", "5"),
    ("metrics.`val loss` < 0.3", "1"),
    ('metrics."val loss" >= 0.3', "2"),
    ("metrics.train/acc > 0.9", "1"),
    ("metrics.auc>0.85", "2 5 7"),
    ("metrics.nope > 0 or metrics.nope is not null", ""),
    # params and tags: strings
    ("params.model = 'xgb'", "1 2"),
    ('params.model = "xgb"', "1 2"),
    ("params.model != 'xgb'", "3 4 5 6 8"),
    ("params.model like 'xgb%'", "1 2 6"),
    ("params.model ilike 'xgb%'", "1 2 4 6"),
    ("params.model not like 'xgb%'", "3 4 5 8"),
    ("params.model not ilike 'xgb%'", "3 5 8"),
    ("params.model like 'x_b'", "1 2"),
    ("params.model in ('rf', 'lgbm')", "3 5"),
    ("params.model IN ('rf')", "5"),
    ("params.model not in ('rf', 'lgbm')", "1 2 4 6 8"),
    ("params.model is null", "7"),
    ("params.model is not null", "1 2 3 4 5 6 8"),
    ("params.model = 'it''s'", "8"),
    ("params.depth = 5", "1"),
    ("params.depth = 5.0", "3"),
    ("params.depth = '5'", "1"),
    ("params.depth in (5, 7)", "1 5"),
    ("params.lr = 1e-3", "1"),
    ("tags.stage = 'prod'", "1 5"),
    ("tags.`my tag` is not null", "2 3"),
    ("tags.`my tag` = 'x'", "2"),
    (r"tags.note like '50\%\_off'", "4"),
    (r"tags.note like '50%\_%'", "4"),
    ("tags.note like '50%'", "4 7"),
    ("tags.note = 'say \"hi\"'", "8"),
    ('tags.note = "say ""hi"""', "8"),
    # attributes, bare or prefixed, with their column types
    ("status = 'FINISHED'", "1 2 5 7 8"),
    ("attributes.status != 'FINISHED'", "3 4 6"),
    ("run.status in ('FAILED', 'KILLED')", "3 6"),
    ("status like 'F%'", "1 2 3 5 7 8"),
    ("name ilike 'g%'", "3"),
    ("name like 'g%'", ""),
    ("run_name = 'eps ilon'", "5"),
    ("id = 'r3'", "3"),
    ("run_id in ('r1', 'r2')", "1 2"),
    ("user = 'ann' and host = 'h1'", "1 7"),
    ("user='cy'and host='h3'", "5 6"),
    ("start_time >= 5000", "5 6 7 8"),
    ("start_time > 1.5e3 and start_time < 4000", "2 3"),
    ("end_time is null", "4"),
    ("end_time < 3000", "1"),
    ("not end_time < 3000", "2 3 4 5 6 7 8"),
    ("end_time != 2000", "2 3 5 6 7 8"),
    ("parent_id = 'r1'", "3 4"),
    ("parent_id is null", "1 2 5 7 8"),
    ("experiment_id = 2", "5 6"),
    ("source.commit = 'abc123'", "1 2 5 8"),
    ("run.source.branch like 'feat/%'", "6"),
    ("source.dirty = true", "2 6"),
    ("source.dirty = FALSE", "1 3 5 8"),
    ("source.dirty != true", "1 3 5 8"),
    ("source.dirty is null", "4 7"),
    # boolean structure: not > and > or, parentheses, case-insensitive keywords
    ("tags.stage = 'dev' or tags.stage = 'prod' and metrics.auc >= 0.9", "2 3 5"),
    ("(tags.stage = 'dev' or tags.stage = 'prod') and metrics.auc >= 0.9", "2 5"),
    ("not tags.stage = 'dev' and user = 'ann'", "1 7"),
    ("NOT (tags.stage = 'dev' AND user = 'ann')", "1 2 4 5 6 7 8"),
    ("not not user = 'ann'", "1 3 7"),
    ("metrics.auc > 0.85 Or params.model Like 'lg%'", "2 3 5 7"),
    ("((((user = 'cy'))))", "5 6"),
    ("user = 'cy' or user = 'bob' or user = 'nobody'", "2 4 5 6 8"),
]


@pytest.mark.parametrize(("text", "expected"), FILTERS)
def test_filter_matches_expected_runs(conn: Connection, text: str, expected: str) -> None:
    assert matching(conn, text) == runs(expected)


@pytest.mark.parametrize("text", [None, "", "  \n\t"])
def test_blank_filter_is_none(conn: Connection, text: str | None) -> None:
    assert run_filter(text) is None
    assert matching(conn, text) == ALL


OP_ERROR = "expected a comparison operator (=, !=, <, <=, >, >=, like, ilike, in, is) after"
BAD_FILTERS = [
    ("metrics.auc 0.9", 12, f"{OP_ERROR} 'metrics.auc'"),
    ("metrics.a = 1 and metrics.b", 27, f"{OP_ERROR} 'metrics.b'"),
    ("metrics.auc > 'x'", 14, "metrics are numbers"),
    ("metrics.auc like 'x%'", 12, "metrics are numbers"),
    ("metrics.auc > 1e400", 14, "finite number"),
    ("params.lr < 0.1", 10, "params are strings"),
    ("params.lr >= 0.1", 10, "log the value as a metric"),
    ("tags.stage >= 'a'", 11, "tags are strings"),
    ("name < 'b'", 5, "name is a string"),
    ("foo = 1", 0, "unknown attribute 'foo'"),
    ("attributes.bogus = 1", 0, "start_time"),
    ("metrics. > 1", 8, "expected a key after 'metrics.'"),
    ("metrics.`` > 1", 8, "non-empty quoted key"),
    ("`metrics.auc` > 1", 0, "back-quote only the key"),
    ("'metrics.auc' > 1", 0, "quote only the key"),
    ("metrics.auc > ", 14, "expected a value"),
    ("metrics.auc > 0.9 and", 21, "expected a field"),
    ("metrics.auc > 0.9 and or", 22, "expected a field"),
    ("and", 0, "expected a field"),
    ("not", 3, "expected a field"),
    ("(metrics.auc > 0.9", 18, "to close the '(' at position 0"),
    ("metrics.auc > 0.9)", 17, "the end of the filter"),
    ("metrics.auc > 0.9 desc", 18, "the end of the filter"),
    ("params.model = 'xgb", 15, "a closing '"),
    ("metrics.`val loss = 1", 8, "a closing `"),
    ("params.model in ()", 17, "expected a value"),
    ("params.model in 'a'", 16, "expected '('"),
    ("params.model in ('a' 'b')", 21, "',' or ')'"),
    ("params.model in ('a',)", 21, "expected a value"),
    ("params.model is nul", 16, "expected null"),
    ("params.model not = 'a'", 17, "like, ilike or in"),
    ("params.model = null", 15, "is null"),
    ("params.model like 5", 18, "quoted pattern"),
    (r"params.model like 'a\'", 18, "lone '\\'"),
    ("params.flag = true", 14, "quoted string"),
    ("status = 'finished'", 9, "status is one of"),
    ("start_time > 1.5", 13, "whole number"),
    ("start_time > 'x'", 13, "start_time is a number"),
    ("experiment_id = 1e30", 16, "64-bit"),
    ("source.dirty = 'yes'", 15, "true or false"),
    ("source.dirty > true", 13, "use =, != or is null"),
    ("metrics.auc > 0.9 # x", 18, "found '#'"),
    ("params.model = 'a\x00'", 17, "NUL"),
    ("metrics.auc > 0.9 and x" + "y" * MAX_FILTER_LENGTH, MAX_FILTER_LENGTH, "4096 characters"),
]


@pytest.mark.parametrize(("text", "position", "message"), BAD_FILTERS)
def test_bad_filter_names_position_and_expectation(text: str, position: int, message: str) -> None:
    with pytest.raises(InvalidFilter) as caught:
        run_filter(text)
    assert caught.value.details["position"] == position
    assert f"at position {position}: " in str(caught.value)
    assert message in str(caught.value)
    assert isinstance(caught.value, InvalidInput)
    assert caught.value.details["field"] == "filter"


def nested(depth: int) -> str:
    return "(" * depth + "user = 'ann'" + ")" * depth


def test_nesting_limit(conn: Connection) -> None:
    assert matching(conn, nested(MAX_DEPTH)) == runs("1 3 7")
    assert matching(conn, "not " * MAX_DEPTH + "user = 'ann'") == runs("1 3 7")
    with pytest.raises(InvalidFilter) as caught:
        run_filter(nested(MAX_DEPTH + 1))
    assert caught.value.details["position"] == MAX_DEPTH
    with pytest.raises(InvalidFilter) as caught:
        run_filter("not " * (MAX_DEPTH + 1) + "user = 'ann'")
    assert caught.value.details["position"] == 4 * MAX_DEPTH


@pytest.mark.parametrize("negate", [False, True])
def test_deepest_alternating_nesting_runs_on_sqlite(conn: Connection, negate: bool) -> None:
    """SQLite's parser overflows at ~25 nested AND/OR; deep subtrees are hoisted into CTEs."""
    text = "user = 'ann'"
    for level in range(MAX_DEPTH // 2 if negate else MAX_DEPTH):
        right = f"not ({text})" if negate else f"({text})"
        left = f"start_time > {level * 100} and" if level % 2 else f"params.depth = '{level}' or"
        text = f"{left} {right}"
    expected = {run_id for run_id in RUNS if holds(parse_filter(text), run_id)}
    assert expected not in (set(), ALL)
    assert matching(conn, text) == expected


def test_comparison_and_length_limits(conn: Connection) -> None:
    clause = "user = 'ann' or "
    assert matching(conn, clause * (MAX_COMPARISONS - 1) + "user = 'ann'") == runs("1 3 7")
    with pytest.raises(InvalidFilter) as caught:
        run_filter(clause * MAX_COMPARISONS + "user = 'ann'")
    assert caught.value.details["position"] == len(clause) * MAX_COMPARISONS
    longest = "name = '" + "a" * (MAX_FILTER_LENGTH - 9) + "'"
    assert len(longest) == MAX_FILTER_LENGTH
    assert matching(conn, longest) == set()


def test_canonical_form() -> None:
    text = "METRICS.auc>=.5 AND NOT (tags.`my tag` = 'it''s' or run.id is NULL) or run_name = 5"
    canonical = "metrics.auc >= .5 and not (tags.`my tag` = 'it''s' or id is null) or name = 5"
    assert str(parse_filter(text)) == canonical
    assert parse_filter(canonical) == parse_filter(text)
    metric = Comparison(Field("metric", "a.b"), "=", (Value("number", "1"),))
    user = Comparison(Field("attribute", "user"), "=", (Value("string", "x"),))
    assert parse_filter('(metrics.a.b = 1 or USER = "x")') == Or((metric, user))
    assert parse_filter("not not (metrics.a.b = 1)") == metric
    flat = And((metric, user, metric))
    assert parse_filter("metrics.a.b = 1 and (user = 'x' and (metrics.a.b = 1))") == flat
    assert parse_filter("(metrics.a.b = 1 or user = 'x') or (metrics.a.b = 1)") == Or(flat.items)


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (None, "8 7 6 5 4 3 2 1"),
        ([], "8 7 6 5 4 3 2 1"),
        (["metrics.auc desc"], "5 2 7 1 6 3 4 8"),
        (["metrics.auc"], "6 1 2 7 5 3 4 8"),
        (["METRICS.auc ASC"], "6 1 2 7 5 3 4 8"),
        (["metrics.`val loss` DESC"], "2 1 3 4 5 6 7 8"),
        (["params.model asc"], "4 8 3 5 1 2 6 7"),
        (["params.model desc"], "6 1 2 5 3 8 4 7"),
        (["tags.stage"], "2 3 1 5 6 4 7 8"),
        (["end_time desc"], "8 7 6 5 3 2 1 4"),
        (["attributes.end_time"], "1 2 3 5 6 7 8 4"),
        (["user"], "1 3 7 2 4 8 5 6"),
        (["user asc", "start_time desc"], "7 3 1 8 4 2 6 5"),
        (["source.dirty desc", "run.id desc"], "6 2 8 5 3 1 7 4"),
    ],
)
def test_order_by(conn: Connection, items: list[str] | None, expected: str) -> None:
    assert ordered(conn, items) == [f"r{n}" for n in expected.split()]


def test_order_by_ends_with_the_id_tie_breaker() -> None:
    for items in (None, ["user"], ["metrics.auc desc", "params.model"]):
        assert str(run_order_by(items)[-1]) == "runs.id ASC"


@pytest.mark.parametrize(
    ("item", "position", "message"),
    [
        ("metrics.auc up", 12, "expected asc, desc or the end of the order-by item"),
        ("metrics.auc desc desc", 17, "expected asc, desc or the end"),
        ("", 0, "expected a field"),
        ("bogus desc", 0, "unknown attribute 'bogus'"),
        ("desc", 0, "unknown attribute 'desc'"),
        ("metrics.", 8, "expected a key"),
    ],
)
def test_bad_order_by_item(item: str, position: int, message: str) -> None:
    with pytest.raises(InvalidFilter) as caught:
        run_order_by([item])
    assert caught.value.details["position"] == position
    assert message in str(caught.value)


def test_order_by_item_count_and_a_single_string(conn: Connection) -> None:
    with pytest.raises(InvalidFilter, match="at most 16 order-by items"):
        run_order_by(["user"] * 17)
    assert parse_order_item("run.user").field == Field("attribute", "user")
    assert ordered(conn, "metrics.auc desc") == ordered(conn, ["metrics.auc desc"])


def test_filter_and_order_work_with_a_join_without_duplicating_runs(conn: Connection) -> None:
    clause = run_filter("metrics.loss > -5 and (tags.stage is not null or params.model != 'a')")
    assert clause is not None
    statement = (
        select(RunRow.id)
        .join(ExperimentRow, ExperimentRow.id == RunRow.experiment_id)
        .where(ExperimentRow.name == "e1", clause)
        .order_by(*run_order_by(["metrics.loss desc"]))
    )
    assert list(conn.scalars(statement)) == ["r4", "r1", "r2", "r3"]


INJECTIONS = [
    "params.model = 'x''; DROP TABLE runs; --'",
    'params.model = "x""; DROP TABLE runs; --"',
    "tags.stage in ('a'') OR 1=1 --', 'b')",
    "name like '%'' OR ''1''=''1'",
    "metrics.`auc = 1 OR 1=1; DROP TABLE runs; --` > 0",
]


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_is_data_not_sql(conn: Connection, text: str) -> None:
    assert matching(conn, text) == set()
    clause = run_filter(text)
    assert clause is not None
    assert "DROP" not in str(select(RunRow.id).where(clause).compile(dialect=sqlite.dialect()))
    assert inspect(conn).has_table("runs")
    assert conn.scalar(select(func.count()).select_from(RunRow)) == len(RUNS)


# ---- Hypothesis: any text parses or fails cleanly; valid filters agree with Python -----

TOKENS = [
    "metrics.auc", "metrics.`val loss`", 'metrics."x', "params.model", "params.depth",
    "tags.stage", "start_time", "end_time", "source.dirty", "status", "run.id", "bogus",
    "and", "or", "not", "AND", "Not", "(", ")", ",", "=", "==", "!=", "<>", "<", "<=", ">",
    ">=", "like", "ilike", "in", "is", "null", "true", "false", "asc", "desc", "0.9", "-1e3",
    "5", "1e999", "99999999999999999999", "'xgb'", "'it''s'", '"x"', "'%\\'", "'FINISHED'",
    "`", "'", '"', "\\", "metrics.", "#", ";", "--", "DROP TABLE runs", "\x00", "é",
]  # fmt: skip
soup = st.lists(
    st.tuples(st.sampled_from(TOKENS), st.sampled_from([" ", "", "  "])), max_size=25
).map(lambda parts: "".join(token + space for token, space in parts))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=120), soup))
def test_any_text_compiles_and_runs_or_is_an_invalid_filter(conn: Connection, text: str) -> None:
    found = attempt(lambda: matching(conn, text))
    if isinstance(found, InvalidFilter):
        assert 0 <= found.details["position"] <= len(text)
        return
    assert found <= ALL
    if text.strip():  # the canonical form is a fixed point with the same meaning
        canonical = str(parse_filter(text))
        assert parse_filter(canonical) == parse_filter(text)
        assert matching(conn, canonical) == found


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=40), soup.map(lambda text: text[:60])))
def test_any_order_item_compiles_and_runs_or_is_an_invalid_filter(
    conn: Connection, item: str
) -> None:
    order = attempt(lambda: ordered(conn, [item]))
    if isinstance(order, InvalidFilter):
        assert 0 <= order.details["position"] <= len(item)
        return
    assert sorted(order) == sorted(ALL)


def like_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    out, chars = [], iter(pattern)
    for char in chars:
        if char == "\\":
            out.append(re.escape(next(chars)))
        else:
            out.append({"%": ".*", "_": "."}.get(char, re.escape(char)))
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def holds(node: Node, run_id: str) -> bool:
    """The reference semantics of a filter, evaluated in Python over the fixture dicts."""
    if isinstance(node, And):
        return all(holds(item, run_id) for item in node.items)
    if isinstance(node, Or):
        return any(holds(item, run_id) for item in node.items)
    if isinstance(node, Not):
        return not holds(node.item, run_id)
    field, op = node.field, node.op
    actual: Any
    if field.kind == "attribute":
        key = field.key.replace(".", "_")
        actual = run_id if key == "id" else RUNS[run_id][key]
        present = actual is not None
    else:
        tables: dict[str, dict[str, dict[str, Any]]] = {"metric": METRICS, "param": PARAMS}
        values = (tables | {"tag": TAGS})[field.kind][run_id]
        present = field.key in values
        actual = values.get(field.key)
        if isinstance(actual, float) and math.isnan(actual):
            actual = None
    if op.startswith("is"):
        return present != (op == "is null")
    if actual is None:
        return False
    wanted = [convert(value, actual) for value in node.values]
    if op.endswith("like"):
        found = bool(like_regex(str(wanted[0]), "ilike" in op).fullmatch(actual))
        return found != op.startswith("not")
    if op.endswith("in"):
        return (actual in wanted) != op.startswith("not")
    compare = {"=": "__eq__", "!=": "__ne__", "<": "__lt__", "<=": "__le__", ">": "__gt__"}
    return bool(getattr(actual, compare.get(op, "__ge__"))(wanted[0]))


def convert(value: Value, like: object) -> object:
    if value.kind == "bool":
        return value.text == "true"
    if isinstance(like, str):
        return value.text
    return float(value.text) if isinstance(like, float) else int(float(value.text))


NUMBERS = ["0", "0.3", "0.81", "0.9", "0.95", "1e-3", "-2", "-2.0", "1.5", "0.2"]
STRINGS = ["xgb", "XGB", "5", "it's", "rf", "dev", "prod", "x", "50%_off", "ann", "h1", "r1"]
PATTERNS = ["xgb%", "%b%", "x_b", "%", "X%", r"50\%\_off", "5%", "%''%", "d_v", "a%"]
FIELDS: list[tuple[Field, str]] = [
    *((Field("metric", key), "number") for key in ("auc", "loss", "val loss", "nope")),
    *((Field("param", key), "string") for key in ("model", "depth", "nope")),
    *((Field("tag", key), "string") for key in ("stage", "my tag", "note")),
    *((Field("attribute", key), "int") for key in ("start_time", "end_time", "experiment_id")),
    *((Field("attribute", key), "string") for key in ("id", "name", "user", "host", "parent_id")),
    (Field("attribute", "source.branch"), "string"),
    (Field("attribute", "status"), "status"),
    (Field("attribute", "source.dirty"), "bool"),
]
NULL_TESTS = ["is null", "is not null"]
OPERATORS = {
    "number": ["=", "!=", "<", "<=", ">", ">=", "in", "not in", *NULL_TESTS],
    "int": ["=", "!=", "<", ">", "in", "not in", *NULL_TESTS],
    "string": ["=", "!=", "like", "ilike", "not like", "not ilike", "in", "not in", *NULL_TESTS],
    "status": ["=", "!=", "like", "in", "not in"],
    "bool": ["=", "!=", *NULL_TESTS],
}
LITERALS = {
    "number": [Value("number", text) for text in NUMBERS],
    "int": [Value("number", text) for text in ("1", "2", "3000", "3.5e3", "6500", "-5")],
    "string": [Value("string", text) for text in STRINGS] + [Value("number", "5")],
    "status": [Value("string", text) for text in ("FINISHED", "FAILED", "RUNNING", "LOST")],
    "bool": [Value("bool", "true"), Value("bool", "false")],
}


@st.composite
def comparisons(draw: st.DrawFn) -> Comparison:
    field, kind = draw(st.sampled_from(FIELDS))
    op = draw(st.sampled_from(OPERATORS[kind]))
    if op.startswith("is"):
        return Comparison(field, op)
    if op.endswith("like"):
        return Comparison(field, op, (Value("string", draw(st.sampled_from(PATTERNS))),))
    literals = st.sampled_from(LITERALS[kind])
    size = 3 if op.endswith("in") else 1
    return Comparison(field, op, tuple(draw(st.lists(literals, min_size=1, max_size=size))))


def combine(cls: type[And] | type[Or], items: list[Node]) -> Node:
    return cls(tuple(j for i in items for j in (i.items if isinstance(i, cls) else (i,))))


filters = st.recursive(
    comparisons(),
    lambda children: st.one_of(
        st.lists(children, min_size=2, max_size=3).map(lambda items: combine(And, items)),
        st.lists(children, min_size=2, max_size=3).map(lambda items: combine(Or, items)),
        children.map(lambda item: item.item if isinstance(item, Not) else Not(item)),
    ),
    max_leaves=10,
)


@settings(max_examples=250, deadline=None)
@given(filters)
def test_valid_filters_round_trip_and_match_the_reference(conn: Connection, node: Node) -> None:
    text = str(node)
    assert parse_filter(text) == node
    assert matching(conn, text) == {run_id for run_id in RUNS if holds(node, run_id)}
