"""Business rules of the metadata store. Every function takes a Session and never commits.

The unit of work (:meth:`opsloop.store.Database.write`) commits; services only read and
stage changes, raise :mod:`opsloop.errors` exceptions naming what is wrong, and return
entities. Hot paths (metric batches, search) use SQLAlchemy Core statements on the ORM
tables: executemany inserts and a few set-based queries instead of object loading.
"""

from __future__ import annotations

import base64
import contextlib
import gc
import json
import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import lru_cache, partial
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from opsloop._names import (
    check_key,
    check_metric_value,
    check_name,
    check_param_value,
    check_step,
    check_tag_value,
    check_text,
    check_time,
)
from opsloop.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from opsloop.store.orm import (
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
from opsloop.tracking.entities import (
    Artifact,
    Dataset,
    DatasetVersion,
    Environment,
    Experiment,
    Metric,
    Page,
    Project,
    Run,
    RunStatus,
    SourceVersion,
    construct_trusted,
)
from opsloop.tracking.search import run_filter, run_order_by

# Hot-path statements are built once: constructing a statement costs more than running
# it on SQLite (about 60 us against 15 us for a prebuilt one with bind parameters).
_r, _p, _t, _m, _lm, _e, _pr, _env = (
    cast(Table, row.__table__)
    for row in (RunRow, ParamRow, TagRow, MetricRow, LatestMetricRow, ExperimentRow,
                ProjectRow, EnvironmentRow))
_IDS: BindParameter[Any] = bindparam("ids", expanding=True)
_KEYS: BindParameter[Any] = bindparam("keys", expanding=True)
_RUN_STATUS = select(_r.c.status).where(_r.c.id == bindparam("run_id"))
_RUNS_EXISTING = select(_r.c.id).where(_r.c.id.in_([bindparam("a"), bindparam("b")]))
_INSERT_RUN, _INSERT_PARAMS, _INSERT_TAGS = (
    insert(_r), insert(_p), insert(_t))
_DELETE_TAGS = delete(_t).where(_t.c.run_id == bindparam("run_id"), _t.c.key.in_(_KEYS))
_PARAMS_OF = select(_p.c.key, _p.c.value).where(_p.c.run_id == bindparam("run_id"),
                                                _p.c.key.in_(_KEYS))
_END_RUN = update(_r).where(_r.c.id == bindparam("run_id")).values(
    status=bindparam("new_status"), end_time=bindparam("new_end"),
    failure=bindparam("new_failure"))
_EXPERIMENT = (select(_e.c.id, _e.c.name, _e.c.description, _e.c.lifecycle, _e.c.created_at)
               .join_from(_e, _pr)
               .where(_pr.c.name == bindparam("project"), _e.c.name == bindparam("name")))
_ENV_EXISTS = select(_env.c.digest).where(_env.c.digest == bindparam("digest"))
_LOAD_TEXT = union_all(  # params (kind 0) and tags (kind 1) in one round trip
    select(_p.c.run_id, _p.c.key, _p.c.value, literal_column("0").label("kind"))
    .where(_p.c.run_id.in_(_IDS)),
    select(_t.c.run_id, _t.c.key, _t.c.value, literal_column("1")).where(_t.c.run_id.in_(_IDS)))
_LOAD_LATEST = select(_lm.c.run_id, _lm.c.key, _lm.c.value).where(_lm.c.run_id.in_(_IDS))
_UPSERT_LATEST: dict[str, Any] = {}


def _upsert_latest_statement(dialect: str) -> Any:
    stmt = _UPSERT_LATEST.get(dialect)
    if stmt is None:
        ins: Any = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_lm)
        newer = or_(ins.excluded.step > _lm.c.step,
                    and_(ins.excluded.step == _lm.c.step,
                         ins.excluded.timestamp >= _lm.c.timestamp))
        stmt = _UPSERT_LATEST[dialect] = ins.on_conflict_do_update(
            index_elements=[_lm.c.run_id, _lm.c.key],
            set_={"value": ins.excluded.value, "step": ins.excluded.step,
                  "timestamp": ins.excluded.timestamp},
            where=newer)
    return stmt


MAX_RESULTS = 50_000
MAX_BATCH_POINTS = 100_000

# A metric point as it travels from the buffer: (key, value, step, timestamp_ms).
Point = tuple[str, float, int, int]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# -- projects and experiments -------------------------------------------------------------


def get_or_create_project(s: Session, name: str) -> ProjectRow:
    check_name("project", name)
    row = s.scalars(select(ProjectRow).where(ProjectRow.name == name)).first()
    if row is None:
        row = ProjectRow(name=name, description="", created_at=now_ms())
        s.add(row)
        s.flush()
    return row


def list_projects(s: Session) -> list[Project]:
    rows = s.scalars(select(ProjectRow).order_by(ProjectRow.name))
    return [Project(id=r.id, name=r.name, description=r.description, created_at=r.created_at)
            for r in rows]


def _experiment(row: ExperimentRow, project: str) -> Experiment:
    return Experiment(id=row.id, project=project, name=row.name, description=row.description,
                      lifecycle=row.lifecycle, created_at=row.created_at)


def create_experiment(s: Session, project: str, name: str, description: str = "") -> Experiment:
    check_name("experiment", name)
    proj = get_or_create_project(s, project)
    exists = s.scalar(select(ExperimentRow.id).where(
        ExperimentRow.project_id == proj.id, ExperimentRow.name == name))
    if exists is not None:
        raise AlreadyExists("experiment", f"{project}/{name}",
                            hint="use get_or_create_experiment, or pick another name")
    row = ExperimentRow(project_id=proj.id, name=name, description=description,
                        lifecycle="active", created_at=now_ms())
    s.add(row)
    s.flush()
    return _experiment(row, project)


def get_experiment(s: Session, project: str, name: str) -> Experiment:
    row = s.connection().execute(_EXPERIMENT, {"project": project, "name": name}).first()
    if row is None:
        raise NotFound("experiment", f"{project}/{name}",
                       hint="list experiments with: opsloop experiments list")
    return Experiment(id=row.id, project=project, name=row.name, description=row.description,
                      lifecycle=row.lifecycle, created_at=row.created_at)


def get_experiment_by_id(s: Session, experiment_id: int) -> Experiment:
    row = s.execute(select(ExperimentRow, ProjectRow.name).join(ProjectRow).where(
        ExperimentRow.id == experiment_id)).first()
    if row is None:
        raise NotFound("experiment", experiment_id)
    return _experiment(row[0], row[1])


def get_or_create_experiment(s: Session, project: str, name: str) -> Experiment:
    try:
        return get_experiment(s, project, name)
    except NotFound:
        return create_experiment(s, project, name)


def list_experiments(s: Session, project: str | None = None) -> list[Experiment]:
    stmt = select(ExperimentRow, ProjectRow.name).join(ProjectRow) \
        .order_by(ProjectRow.name, ExperimentRow.name)
    if project is not None:
        stmt = stmt.where(ProjectRow.name == project)
    return [_experiment(e, p) for e, p in s.execute(stmt)]


# -- runs -----------------------------------------------------------------------------------


def ensure_environment(s: Session, env: Environment) -> str:
    """Store an environment once; runs with the same package set share it."""
    conn = s.connection()
    if conn.scalar(_ENV_EXISTS, {"digest": env.digest}) is None:
        conn.execute(insert(_env).values(digest=env.digest, python=env.python,
                                         platform=env.platform, packages=dict(env.packages)))
    return env.digest


def create_run(
    s: Session,
    *,
    run_id: str,
    experiment: Experiment,
    name: str,
    start_time: int,
    parent_id: str | None = None,
    user: str = "",
    host: str = "",
    command: str = "",
    source: SourceVersion | None = None,
    environment_digest: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
) -> Run:
    """Stage a new RUNNING run with its first params and tags; returns it."""
    if not (len(run_id) == 32 and all(c in "0123456789abcdef" for c in run_id)):
        raise InvalidInput("run id", run_id, "must be 32 lowercase hex characters")
    if len(name) > 256:
        raise InvalidInput("run name", name, "must be at most 256 characters")
    check_text("run name", name)
    check_time("run start_time", start_time)
    conn = s.connection()
    found = set(conn.scalars(_RUNS_EXISTING, {"a": run_id, "b": parent_id or run_id}))
    if run_id in found:
        raise AlreadyExists("run", run_id)
    if parent_id is not None and parent_id not in found:
        raise NotFound("parent run", parent_id)
    src = source or SourceVersion()
    conn.execute(_INSERT_RUN, {
        "id": run_id, "experiment_id": experiment.id, "parent_id": parent_id, "name": name,
        "status": RunStatus.RUNNING.value, "start_time": start_time, "end_time": None,
        "heartbeat_at": now_ms(), "user": user, "host": host, "command": command,
        "environment_digest": environment_digest, "source_repo": src.repo,
        "source_commit": src.commit, "source_branch": src.branch, "source_dirty": src.dirty,
        "source_diff_digest": src.diff_digest, "failure": None})
    clean_params = {check_key("param", k): check_param_value(k, v)
                    for k, v in (params or {}).items()}
    clean_tags = {check_key("tag", k): check_tag_value(k, v) for k, v in (tags or {}).items()}
    if clean_params:  # a new run has no params yet: nothing to compare against
        conn.execute(_INSERT_PARAMS, [
            {"run_id": run_id, "key": k, "value": v} for k, v in clean_params.items()])
    if clean_tags:
        conn.execute(_INSERT_TAGS, [
            {"run_id": run_id, "key": k, "value": v} for k, v in clean_tags.items()])
    return Run.model_construct(
        id=run_id, experiment_id=experiment.id, experiment=experiment.name,
        project=experiment.project, name=name, status=RunStatus.RUNNING,
        start_time=start_time, end_time=None, parent_id=parent_id, user=user, host=host,
        command=command, params=clean_params, metrics={}, tags=clean_tags, source=src,
        environment_digest=environment_digest, failure=None)


def _run_status(s: Session, run_id: str) -> RunStatus:
    status = s.connection().scalar(_RUN_STATUS, {"run_id": run_id})
    if status is None:
        raise NotFound("run", run_id, hint="check the id with: opsloop runs list")
    return RunStatus(status)


def end_run(s: Session, run_id: str, status: RunStatus, end_time: int | None = None,
            failure: str | None = None, metrics: Iterable[Point] = ()) -> None:
    """Finish a run, writing its last metric points in the same transaction.

    A LOST run may still be ended by its (slow) process; ending again with the same
    status is a no-op, with another status a Conflict.
    """
    if not status.is_terminal or status is RunStatus.LOST:
        raise InvalidInput("run status", status.value,
                           "must be FINISHED, FAILED or KILLED to end a run")
    if end_time is not None:
        check_time("run end_time", end_time)
    current = _run_status(s, run_id)
    log_batch(s, run_id, metrics=metrics, check_run=False)
    if current.is_terminal and current is not RunStatus.LOST:
        if current is status:
            return
        raise Conflict(f"run {run_id!r} already ended as {current.value}",
                       hint="a run ends once", run_id=run_id, status=current.value)
    s.connection().execute(_END_RUN, {
        "run_id": run_id, "new_status": status.value,
        "new_end": end_time if end_time is not None else now_ms(), "new_failure": failure})


def heartbeat(s: Session, run_ids: Sequence[str]) -> None:
    if run_ids:
        s.execute(update(RunRow).where(RunRow.id.in_(run_ids),
                                       RunRow.status == RunStatus.RUNNING.value)
                  .values(heartbeat_at=now_ms()))


def mark_lost_runs(s: Session, timeout_ms: int) -> int:
    """RUNNING runs whose last heartbeat is older than ``timeout_ms`` become LOST."""
    cutoff = now_ms() - timeout_ms
    result = s.execute(update(RunRow).where(
        RunRow.status == RunStatus.RUNNING.value, RunRow.heartbeat_at < cutoff)
        .values(status=RunStatus.LOST.value, end_time=RunRow.heartbeat_at,
                failure="the run's process stopped sending heartbeats"))
    return int(getattr(result, "rowcount", 0) or 0)


def log_batch(
    s: Session,
    run_id: str,
    *,
    metrics: Iterable[Point] = (),
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    check_run: bool = True,
) -> None:
    """Stage metric points, params and tags of one run.

    Metric points are appended to the history, and the per-key latest value (highest
    step, then newest timestamp) is upserted. A param may be logged again only with
    the same value; tags are overwritten.
    """
    if check_run:
        _run_status(s, run_id)
    points = check_points(metrics)
    conn = s.connection()  # Core on the session's connection: the ORM adds nothing here
    if params:
        _log_params(s, run_id, params)
    if tags:
        clean = {check_key("tag", k): check_tag_value(k, v) for k, v in tags.items()}
        conn.execute(_DELETE_TAGS, {"run_id": run_id, "keys": list(clean)})
        conn.execute(_INSERT_TAGS, [{"run_id": run_id, "key": k, "value": v}
                                    for k, v in clean.items()])
    if points:
        # Driver-level executemany of plain tuples: SQLAlchemy's per-row parameter
        # processing cost more than SQLite's insert itself (10,000 points: 35 of 60 ms).
        conn.exec_driver_sql(_RAW_INSERT_METRICS[conn.dialect.paramstyle == "qmark"], [
            (run_id, k, None if v != v else v, st, ts) for k, v, st, ts in points])
        _upsert_latest(s, run_id, points)


_INT64 = range(-(2**63), 2**63)
_RAW_INSERT_METRICS = {  # by "the driver takes ? placeholders"; otherwise %s (psycopg)
    qmark: 'INSERT INTO metrics (run_id, "key", value, step, "timestamp") VALUES '
           + ("(?, ?, ?, ?, ?)" if qmark else "(%s, %s, %s, %s, %s)")
    for qmark in (True, False)}


def check_points(metrics: Iterable[Sequence[Any]]) -> list[Point]:
    """Validate metric points; the common case (str, float, int, int) takes a fast path."""
    points = metrics if isinstance(metrics, list) else list(metrics)
    if len(points) > MAX_BATCH_POINTS:
        raise InvalidInput("metric batch", f"{len(points)} points",
                           f"must hold at most {MAX_BATCH_POINTS} points; split it")
    out: list[Point] = []
    keys: set[str] = set()
    for p in points:
        if len(p) != 4:
            raise InvalidInput("metric point", p, "must be (key, value, step, timestamp)")
        key, value, step, ts = p
        if key not in keys:
            keys.add(check_key("metric", key))
        if value.__class__ is not float:
            value = check_metric_value(key, value)
        if step.__class__ is not int or step not in _INT64:
            step = check_step(step)
        if ts.__class__ is not int or ts not in _INT64:
            ts = check_timestamp(ts)
        out.append((key, value, step, ts))
    return out


def check_timestamp(value: object) -> int:
    try:
        return check_step(value)
    except InvalidInput:
        raise InvalidInput("metric timestamp", value,
                           "must be epoch milliseconds as a 64-bit integer") from None


def _log_params(s: Session, run_id: str, params: Mapping[str, Any]) -> None:
    clean = {check_key("param", k): check_param_value(k, v) for k, v in params.items()}
    rows = s.connection().execute(_PARAMS_OF, {"run_id": run_id, "keys": list(clean)})
    existing: dict[str, str] = {key: value for key, value in rows.all()}  # noqa: C416
    for key, old in existing.items():
        if old != clean[key]:
            raise Conflict(
                f"param {key!r} of run {run_id} was already logged as {old!r}; "
                f"it cannot change to {clean[key]!r}",
                hint="params are immutable: start a new run, or log a metric or tag instead",
                run_id=run_id, key=key, old_value=old, new_value=clean[key])
    new = [{"run_id": run_id, "key": k, "value": v} for k, v in clean.items()
           if k not in existing]
    if new:
        s.connection().execute(_INSERT_PARAMS, new)


def _upsert_latest(s: Session, run_id: str, points: list[Point]) -> None:
    latest: dict[str, Point] = {}
    for p in points:
        cur = latest.get(p[0])
        if cur is None or (p[2], p[3]) >= (cur[2], cur[3]):
            latest[p[0]] = p
    rows = [{"run_id": run_id, "key": k, "value": None if v != v else v, "step": st,
             "timestamp": ts} for k, v, st, ts in latest.values()]
    conn = s.connection()
    conn.execute(_upsert_latest_statement(conn.dialect.name), rows)


def get_metric_history(s: Session, run_id: str, key: str) -> list[Metric]:
    _run_status(s, run_id)
    rows = s.execute(select(MetricRow.key, MetricRow.value, MetricRow.step, MetricRow.timestamp)
                     .where(MetricRow.run_id == run_id, MetricRow.key == key)
                     .order_by(MetricRow.step, MetricRow.timestamp, MetricRow.id))
    return [Metric.model_construct(key=k, value=math.nan if v is None else v, step=st,
                                   timestamp=ts) for k, v, st, ts in rows]


# -- reading runs ---------------------------------------------------------------------------


def get_run(s: Session, run_id: str) -> Run:
    runs = _load_runs(s, [run_id])
    if not runs:
        raise NotFound("run", run_id, hint="check the id with: opsloop runs list")
    return runs[0]


def _tuples(conn: Any, stmt: Any, params: Any = None) -> list[tuple[Any, ...]]:
    """Rows as the driver's tuples: SQLAlchemy binds the statement, but its Row objects
    (a third of a search's time) are skipped. Only for columns of plain types."""
    result = conn.execute(stmt, params)
    try:
        rows: list[tuple[Any, ...]] = result.cursor.fetchall()
    finally:
        result.close()
    return rows


_RUN_FIELDS = ("id", "experiment_id", "experiment", "project", "name", "status", "start_time",
               "end_time", "parent_id", "user", "host", "command", "environment_digest",
               "source_repo", "source_commit", "source_branch", "source_dirty",
               "source_diff_digest", "failure")
_RUN_SELECT = (select(*(_r.c[f] for f in _RUN_FIELDS if f not in ("experiment", "project")),
                      _e.c.name, _pr.c.name)
               .join(_e, _e.c.id == _r.c.experiment_id)
               .join(_pr, _pr.c.id == _e.c.project_id))
# Positions in a _RUN_SELECT row: experiment and project come last.
_RI = {f: i for i, f in enumerate(f for f in _RUN_FIELDS if f not in ("experiment", "project"))}
_RI["experiment"], _RI["project"] = len(_RI), len(_RI) + 1
_LOAD_RUN_ROWS = _RUN_SELECT.where(_r.c.id.in_(_IDS))


class _RunData:
    """Rows of a set of runs: three set-based queries per 900 runs, whatever their number
    (two when the caller already has the run rows)."""

    def __init__(self, s: Session, run_ids: list[str],
                 rows: list[tuple[Any, ...]] | None = None) -> None:
        self.params: dict[str, dict[str, str]] = {r: {} for r in run_ids}
        self.tags: dict[str, dict[str, str]] = {r: {} for r in run_ids}
        self.metrics: dict[str, dict[str, float]] = {r: {} for r in run_ids}
        self.rows: dict[str, tuple[Any, ...]] = {row[0]: row for row in rows or ()}
        conn = s.connection()  # Core statements, driver tuples: this is the search hot path
        nan = math.nan
        with _no_gc():
            for chunk in _chunks(run_ids, 900):  # stay under SQLite's bound-parameter limit
                ids = {"ids": chunk}
                for rid, key, text, kind in _tuples(conn, _LOAD_TEXT, ids):
                    (self.params if kind == 0 else self.tags)[rid][key] = text
                for rid, key, value in _tuples(conn, _LOAD_LATEST, ids):
                    self.metrics[rid][key] = nan if value is None else value  # SQLite: NaN->NULL
                if rows is None:
                    for row in _tuples(conn, _LOAD_RUN_ROWS, ids):
                        self.rows[row[0]] = row


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building large acyclic results.

    Tens of thousands of fresh tuples trigger full collections that scan the whole heap
    (a 1,000-run table took 110 ms instead of 40 one call in three); reference
    counting still frees everything here.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def run_columns(s: Session, rows: list[tuple[Any, ...]], scope: Any) -> dict[str, list[Any]]:
    """Runs as columns (no entity per run): the fast path behind tables of runs.

    ``rows`` are :data:`_RUN_SELECT` rows in the wanted order and ``scope`` a query
    selecting their ids (a subquery, not thousands of bound ids). Base columns, then
    ``params.*``, ``metrics.*`` and ``tags.*`` sorted by key; a value a run does not have
    is None; times are epoch milliseconds.
    """
    conn = s.connection()
    with _no_gc():
        ids = [row[0] for row in rows]
        position = {rid: i for i, rid in enumerate(ids)}
        n = len(ids)
        cols: dict[str, list[Any]] = {"run_id": ids}
        for name, field in _TABLE_COLUMNS:
            i = _RI[field]
            cols[name] = [row[i] for row in rows]
        cols["source.dirty"] = [None if d is None else bool(d) for d in cols["source.dirty"]]
        for prefix, table in (("params", _p), ("metrics", _lm), ("tags", _t)):
            triples = _tuples(conn, select(table.c.run_id, table.c.key, table.c.value)
                              .where(table.c.run_id.in_(scope)))
            pivot: dict[str, list[Any]] = {}
            stored_null = math.nan if prefix == "metrics" else None  # SQLite: NaN -> NULL
            for rid, key, value in triples:
                col = pivot.get(key)
                if col is None:
                    col = pivot[key] = [None] * n
                col[position[rid]] = stored_null if value is None else value
            for key in sorted(pivot):
                cols[f"{prefix}.{key}"] = pivot[key]
    return cols


_TABLE_COLUMNS = (("experiment", "experiment"), ("name", "name"), ("status", "status"),
                  ("start_time", "start_time"), ("end_time", "end_time"), ("user", "user"),
                  ("parent_id", "parent_id"), ("source.commit", "source_commit"),
                  ("source.dirty", "source_dirty"))


def _load_runs(s: Session, run_ids: list[str],
               rows: list[tuple[Any, ...]] | None = None) -> list[Run]:
    """Runs with params, tags and latest metrics, in the order of ``run_ids`` (missing skipped).

    Entities are built without re-validation: the rows were validated on the way in.
    """
    if not run_ids:
        return []
    data = _RunData(s, run_ids, rows)
    by_id, params, tags, metrics = data.rows, data.params, data.tags, data.metrics
    out = []
    fields = [(f, _RI[f]) for f in _RUN_FIELDS if not f.startswith("source_")]
    for rid in run_ids:
        r = by_id.get(rid)
        if r is None:
            continue
        dirty = r[_RI["source_dirty"]]
        source = construct_trusted(SourceVersion, {
            "repo": r[_RI["source_repo"]], "commit": r[_RI["source_commit"]],
            "branch": r[_RI["source_branch"]], "dirty": None if dirty is None else bool(dirty),
            "diff_digest": r[_RI["source_diff_digest"]]})
        run = {f: r[i] for f, i in fields}
        run["status"] = RunStatus(run["status"])
        run.update(params=params[rid], metrics=metrics[rid], tags=tags[rid], source=source)
        out.append(construct_trusted(Run, run))
    return out


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def search_runs(
    s: Session,
    *,
    experiment_ids: Sequence[int] | None = None,
    experiments: Sequence[str] | None = None,
    project: str | None = None,
    filter: str | None = None,
    order_by: Sequence[str] | None = None,
    max_results: int = 1000,
    page_token: str | None = None,
) -> Page[Run]:
    """One page of runs matching ``filter``, ordered by ``order_by``.

    Runs are scoped by experiment ids, or by experiment names within ``project``, or by
    ``project`` alone; with none of these, every run. The page token is an opaque
    offset; pass it back to get the next page.
    """
    _check_limit(max_results)
    offset = _decode_token(page_token)
    stmt = _search_statement(experiment_ids=experiment_ids, experiments=experiments,
                             project=project, filter=filter, order_by=order_by,
                             limit=max_results + 1, offset=offset, rows=True)
    rows = _tuples(s.connection(), stmt)  # the page's run rows, in order, plus one
    more = len(rows) > max_results
    rows = rows[:max_results]
    token = _encode_token(offset + len(rows)) if more else None
    items = _load_runs(s, [row[0] for row in rows], rows)
    return Page[Run].model_construct(items=items, next_page_token=token)


def search_run_columns(
    s: Session,
    *,
    experiment_ids: Sequence[int] | None = None,
    experiments: Sequence[str] | None = None,
    project: str | None = None,
    filter: str | None = None,
    order_by: Sequence[str] | None = None,
    max_results: int = MAX_RESULTS,
) -> dict[str, list[Any]]:
    """Every matching run (up to ``max_results``) as columns; see :func:`run_columns`."""
    _check_limit(max_results)
    search = partial(
        _search_statement, experiment_ids=experiment_ids, experiments=experiments,
        project=project, filter=filter, order_by=order_by, limit=max_results, offset=0)
    rows = _tuples(s.connection(), search(rows=True))
    return run_columns(s, rows, scope=select(search().subquery().c.id))


def _check_limit(max_results: int) -> None:
    if not 1 <= max_results <= MAX_RESULTS:
        raise InvalidInput("max_results", max_results, f"must be between 1 and {MAX_RESULTS}")


def _search_statement(
    *,
    experiment_ids: Sequence[int] | None,
    experiments: Sequence[str] | None,
    project: str | None,
    filter: str | None,
    order_by: Sequence[str] | None,
    limit: int,
    offset: int,
    rows: bool = False,
) -> Any:
    """The search as a SELECT of run ids, or with ``rows`` of :data:`_RUN_SELECT` rows."""
    stmt = _RUN_SELECT if rows else select(_r.c.id)
    if experiment_ids is not None:
        stmt = stmt.where(_r.c.experiment_id.in_(list(experiment_ids)))
    if experiments is not None or project is not None:
        scope = select(_e.c.id).join_from(_e, _pr)
        if project is not None:
            scope = scope.where(_pr.c.name == project)
        if experiments is not None:
            scope = scope.where(_e.c.name.in_(list(experiments)))
        stmt = stmt.where(_r.c.experiment_id.in_(scope))
    where = _compiled_filter(filter)
    if where is not None:
        stmt = stmt.where(where)
    return stmt.order_by(*_compiled_order(tuple(order_by or ()))).offset(offset).limit(limit)


# Compiled filters are immutable SQL expressions: dashboards and clients repeat the same
# few filters, so parse and compile each once.
_compiled_filter = lru_cache(maxsize=256)(run_filter)
_compiled_order = lru_cache(maxsize=256)(run_order_by)


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
        if isinstance(offset, int) and 0 <= offset < 2**62:
            return offset
    except (ValueError, KeyError, TypeError):
        pass
    raise InvalidInput("page_token", token, "is not a token returned by a previous search")


# -- artifacts -------------------------------------------------------------------------------


def check_artifact_path(path: str) -> str:
    """Artifact paths are relative POSIX paths inside the run: no '..', no absolute paths."""
    parts = path.split("/")
    check_text("artifact path", path)
    if (not path or len(path) > 1024 or path.startswith("/") or "\\" in path or "\x00" in path
            or any(p in ("", ".", "..") for p in parts)):
        raise InvalidInput("artifact path", path,
                           "must be a relative path like 'plots/roc.png' without '..', '.', "
                           "empty segments, backslashes or a leading '/'")
    return path


def add_artifact(s: Session, run_id: str, path: str, digest: str, size: int) -> Artifact:
    _run_status(s, run_id)
    check_artifact_path(path)
    row = s.get(ArtifactRow, (run_id, path))
    created = now_ms()
    if row is None:
        s.add(ArtifactRow(run_id=run_id, path=path, digest=digest, size=size, created_at=created))
    else:
        row.digest, row.size, row.created_at = digest, size, created
    return Artifact(run_id=run_id, path=path, digest=digest, size=size, created_at=created)


def list_artifacts(s: Session, run_id: str, prefix: str = "") -> list[Artifact]:
    _run_status(s, run_id)
    stmt = select(ArtifactRow).where(ArtifactRow.run_id == run_id).order_by(ArtifactRow.path)
    if prefix:
        p = prefix.rstrip("/")
        stmt = stmt.where(or_(ArtifactRow.path == p, ArtifactRow.path.startswith(p + "/",
                                                                                 autoescape=True)))
    return [Artifact(run_id=r.run_id, path=r.path, digest=r.digest, size=r.size,
                     created_at=r.created_at) for r in s.scalars(stmt)]


def get_artifact(s: Session, run_id: str, path: str) -> Artifact:
    check_artifact_path(path)
    row = s.get(ArtifactRow, (run_id, path))
    if row is None:
        _run_status(s, run_id)
        raise NotFound("artifact", f"{run_id}/{path}",
                       hint=f"list them with: opsloop runs show {run_id}")
    return Artifact(run_id=row.run_id, path=row.path, digest=row.digest, size=row.size,
                    created_at=row.created_at)


# -- datasets --------------------------------------------------------------------------------


def _dataset_version(row: DatasetVersionRow, dataset: str, project: str,
                     role: str | None = None) -> DatasetVersion:
    return DatasetVersion(
        id=row.id, dataset=dataset, project=project, version=row.version, digest=row.digest,
        num_rows=row.num_rows, schema=row.schema_, profile=row.profile,
        source_uri=row.source_uri, data_digest=row.data_digest, created_at=row.created_at,
        created_by=row.created_by, role=role)


def register_dataset_version(
    s: Session,
    *,
    project: str,
    name: str,
    digest: str,
    num_rows: int,
    schema: list[dict[str, Any]],
    profile: dict[str, Any],
    source_uri: str | None = None,
    data_digest: str | None = None,
    created_by: str = "",
) -> DatasetVersion:
    """The version of ``name`` with this content digest, created (as max+1) if new."""
    check_name("dataset", name)
    proj = get_or_create_project(s, project)
    ds = s.scalars(select(DatasetRow).where(DatasetRow.project_id == proj.id,
                                            DatasetRow.name == name)).first()
    if ds is None:
        ds = DatasetRow(project_id=proj.id, name=name, created_at=now_ms())
        s.add(ds)
        s.flush()
    row = s.scalars(select(DatasetVersionRow).where(DatasetVersionRow.dataset_id == ds.id,
                                                    DatasetVersionRow.digest == digest)).first()
    if row is None:
        last = s.scalar(select(func.max(DatasetVersionRow.version))
                        .where(DatasetVersionRow.dataset_id == ds.id)) or 0
        row = DatasetVersionRow(
            dataset_id=ds.id, version=last + 1, digest=digest, source_uri=source_uri,
            data_digest=data_digest, num_rows=num_rows, schema_=schema, profile=profile,
            created_at=now_ms(), created_by=created_by)
        s.add(row)
        s.flush()  # a concurrent writer of the same version raises here; the UoW retries
    elif data_digest and not row.data_digest:
        row.data_digest = data_digest
    return _dataset_version(row, name, project)


def _dataset_row(s: Session, project: str, name: str) -> DatasetRow:
    ds = s.scalars(select(DatasetRow).join(ProjectRow).where(
        ProjectRow.name == project, DatasetRow.name == name)).first()
    if ds is None:
        raise NotFound("dataset", f"{project}/{name}",
                       hint="list datasets with: opsloop datasets list")
    return ds


def list_datasets(s: Session, project: str | None = None) -> list[Dataset]:
    latest = (select(DatasetVersionRow.dataset_id, func.max(DatasetVersionRow.version)
                     .label("v")).group_by(DatasetVersionRow.dataset_id).subquery())
    stmt = (select(DatasetRow, ProjectRow.name, latest.c.v).join(ProjectRow)
            .outerjoin(latest, latest.c.dataset_id == DatasetRow.id)
            .order_by(ProjectRow.name, DatasetRow.name))
    if project is not None:
        stmt = stmt.where(ProjectRow.name == project)
    return [Dataset(id=d.id, project=p, name=d.name, created_at=d.created_at, latest_version=v)
            for d, p, v in s.execute(stmt)]


def list_dataset_versions(s: Session, project: str, name: str) -> list[DatasetVersion]:
    ds = _dataset_row(s, project, name)
    rows = s.scalars(select(DatasetVersionRow).where(DatasetVersionRow.dataset_id == ds.id)
                     .order_by(DatasetVersionRow.version))
    return [_dataset_version(r, name, project) for r in rows]


def get_dataset_version(s: Session, project: str, name: str,
                        version: int | None = None) -> DatasetVersion:
    """A version by number; ``None`` is the latest."""
    ds = _dataset_row(s, project, name)
    stmt = select(DatasetVersionRow).where(DatasetVersionRow.dataset_id == ds.id)
    stmt = stmt.where(DatasetVersionRow.version == version) if version is not None \
        else stmt.order_by(DatasetVersionRow.version.desc()).limit(1)
    row = s.scalars(stmt).first()
    if row is None:
        raise NotFound("dataset version", f"{project}/{name}/{version}")
    return _dataset_version(row, name, project)


def run_project(s: Session, run_id: str) -> str:
    """The name of the project a run belongs to."""
    name = s.scalar(select(ProjectRow.name).join_from(RunRow, ExperimentRow)
                    .join(ProjectRow, ProjectRow.id == ExperimentRow.project_id)
                    .where(RunRow.id == run_id))
    if name is None:
        raise NotFound("run", run_id, hint="check the id with: opsloop runs list")
    return name


def get_dataset_version_by_id(s: Session, dataset_version_id: int) -> DatasetVersion:
    found = s.execute(select(DatasetVersionRow, DatasetRow.name, ProjectRow.name)
                      .join(DatasetRow, DatasetRow.id == DatasetVersionRow.dataset_id)
                      .join(ProjectRow, ProjectRow.id == DatasetRow.project_id)
                      .where(DatasetVersionRow.id == dataset_version_id)).first()
    if found is None:
        raise NotFound("dataset version", dataset_version_id)
    return _dataset_version(found[0], found[1], found[2])


def link_run_input(s: Session, run_id: str, dataset_version_id: int, role: str) -> None:
    check_key("dataset role", role)
    _run_status(s, run_id)
    if s.get(DatasetVersionRow, dataset_version_id) is None:
        raise NotFound("dataset version", dataset_version_id)
    if s.get(RunInputRow, (run_id, dataset_version_id, role)) is None:
        s.add(RunInputRow(run_id=run_id, dataset_version_id=dataset_version_id, role=role))


def run_inputs(s: Session, run_id: str) -> list[DatasetVersion]:
    _run_status(s, run_id)
    stmt = (select(DatasetVersionRow, DatasetRow.name, ProjectRow.name, RunInputRow.role)
            .join(RunInputRow, RunInputRow.dataset_version_id == DatasetVersionRow.id)
            .join(DatasetRow, DatasetRow.id == DatasetVersionRow.dataset_id)
            .join(ProjectRow, ProjectRow.id == DatasetRow.project_id)
            .where(RunInputRow.run_id == run_id)
            .order_by(RunInputRow.role, DatasetRow.name))
    return [_dataset_version(v, d, p, role) for v, d, p, role in s.execute(stmt)]


def dataset_consumers(s: Session, dataset_version_id: int) -> list[tuple[str, str]]:
    """(run id, role) of every run that read a dataset version: lineage downstream."""
    return [(r, role) for r, role in s.execute(
        select(RunInputRow.run_id, RunInputRow.role)
        .where(RunInputRow.dataset_version_id == dataset_version_id)
        .order_by(RunInputRow.run_id))]
