"""Registry benchmark: register versions and resolve ``name@alias``, opsloop vs MLflow.

Usage (``make bench`` runs it after ``bench/tracking.py``)::

    python bench/registry.py                    # everything, medians of 3 repetitions
    python bench/registry.py --skip-mlflow      # opsloop only, for quick iteration
    python bench/registry.py --only resolve --repeat 5
    python bench/registry.py --full --strict    # no extrapolation; exit 1 on a MISS

Each workload runs in a fresh worker process (``_registry_opsloop.py`` with this
interpreter, ``_registry_mlflow.py`` with MLflow's virtualenv in ``bench/.venvs/mlflow``,
created on first use) against a fresh store: SQLite in a temporary folder, used directly
or behind a server on 127.0.0.1 started for that workload and repetition. The process,
server and virtualenv helpers are those of ``bench/tracking.py``. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.table import Table

from tracking import (
    REPO,
    RESULTS,
    TARGETS,
    BenchError,
    Server,
    Store,
    Target,
    Tool,
    Workload,
    _interrupt,
    child_env,
    ensure_mlflow,
    fmt,
    git_commit,
    goals_table,
    parse_only,
    run_worker,
    source_digest,
)

BENCH = Path(__file__).resolve().parent
OPSLOOP_WORKER = BENCH / "_registry_opsloop.py"
MLFLOW_WORKER = BENCH / "_registry_mlflow.py"

VERSIONS = 1_000
"""Versions registered by the register workload, and held by the resolve store."""
RESOLVES = 10_000
"""Alias resolutions of the resolve workload."""

Mode = Literal["local", "http"]


WORKLOADS = (
    Workload(1, "register", "register versions"),
    Workload(2, "resolve", "resolve name@alias"),
)
BY_KEY = {w.key: w for w in WORKLOADS}


@dataclass(frozen=True)
class Goal:
    workload: str
    mode: Mode
    kind: Literal["max", "ratio"]
    threshold: float
    field: str
    text: str


GOALS = (
    Goal("register", "local", "ratio", 10, "ops_s", "1. register: >= 10x MLflow (local)"),
    Goal("register", "http", "ratio", 10, "ops_s", "1. register: >= 10x MLflow (HTTP)"),
    Goal("resolve", "local", "ratio", 10, "ops_s", "2. resolve: >= 10x MLflow (local)"),
    Goal("resolve", "http", "ratio", 10, "ops_s", "2. resolve: >= 10x MLflow (HTTP)"),
    Goal("resolve", "http", "max", 2, "p99_ms", "2. resolve: p99 <= 2 ms (HTTP)"),
)


@dataclass(frozen=True)
class Sizes:
    """How much work each target does; MLflow's may be scaled down (and the time scaled up)."""

    full: bool

    def n(self, target: Target, workload: str) -> int:
        if workload == "register":
            slow = target.key == "mlflow-rest" and not self.full
            return VERSIONS // 10 if slow else VERSIONS
        if target.tool == "opsloop" or self.full:
            return RESOLVES
        return 500 if target.mode == "http" else 2_000

    def scale(self, target: Target, workload: str) -> float:
        """Factor from the measured time to the time of the workload's full size."""
        return (VERSIONS if workload == "register" else RESOLVES) / self.n(target, workload)


# -- the benchmark -------------------------------------------------------------------------------


def _opsloop_cli() -> list[str]:
    script = Path(sys.executable).parent / "opsloop"
    if script.exists():
        return [str(script), "server"]
    return [sys.executable, "-c", "from opsloop.cli import main; main()", "server"]


@dataclass
class Bench:
    console: Console
    workloads: list[str]
    targets: list[Target]
    repeat: int
    sizes: Sizes
    mlflow_python: Path | None
    scratch: Path
    results: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    templates: dict[Tool, Path] = field(default_factory=dict)

    def python(self, tool: Tool) -> Path:
        python = Path(sys.executable) if tool == "opsloop" else self.mlflow_python
        assert python is not None
        return python

    @staticmethod
    def worker(tool: Tool) -> Path:
        return OPSLOOP_WORKER if tool == "opsloop" else MLFLOW_WORKER

    @contextmanager
    def step(self, target: Target, what: str) -> Iterator[None]:
        t0 = time.monotonic()
        self.console.print(f"  {target.label:<14} {what} ...", end="")
        try:
            yield
        except BenchError:
            self.console.print(" [red]failed[/]")
            raise
        self.console.print(f" {time.monotonic() - t0:.1f} s")

    def fail(self, target: Target, workload: str, exc: BaseException) -> None:
        self.console.print(f"[red]error:[/] {exc}")
        self.failures.append({"target": target.key, "workload": workload, "error": str(exc)})

    # stores and servers ------------------------------------------------------------------------

    @contextmanager
    def store(self, target: Target, template: Path | None = None) -> Iterator[Store]:
        """A fresh store (a copy of ``template`` when given), behind a fresh server for HTTP."""
        folder = Path(tempfile.mkdtemp(prefix=f"{target.key}-", dir=self.scratch))
        server: Server | None = None
        try:
            if target.tool == "opsloop":
                home = folder / "home"
                if template is not None:
                    shutil.copytree(template, home)
                if target.mode == "local":
                    yield Store(target, folder, ["--home", str(home)])
                    return
                env = child_env(OPSLOOP_HOME=str(home))
                server = Server("opsloop server", _opsloop_cli(), folder, env, "/healthz")
            else:
                db = folder / "mlflow.db"
                if template is not None:
                    shutil.copyfile(template, db)
                if target.mode == "local":
                    yield Store(target, folder, ["--tracking-uri", f"sqlite:///{db}"])
                    return
                assert self.mlflow_python is not None
                argv = [
                    str(self.mlflow_python.parent / "mlflow"),
                    "server",
                    "--backend-store-uri",
                    f"sqlite:///{db}",
                    "--default-artifact-root",
                    str(folder / "artifacts"),
                ]
                server = Server("mlflow server", argv, folder, child_env(), "/health")
            server.start()
            yield Store(target, folder, ["--tracking-uri", server.url])
        finally:
            if server is not None:
                server.stop()
            shutil.rmtree(folder, ignore_errors=True)

    def template(self, tool: Tool) -> Path:
        """The resolve workload's store, written once per tool and copied for each run:
        1,000 versions of ``bench-model`` and alias ``prod`` -> version 500."""
        if tool in self.templates:
            return self.templates[tool]
        target = next(t for t in TARGETS if t.tool == tool and t.mode == "local")
        folder = self.scratch / f"template-{tool}"
        folder.mkdir()
        if tool == "opsloop":
            path = folder / "home"
            location = ["--home", str(path)]
        else:
            path = folder / "mlflow.db"
            location = ["--tracking-uri", f"sqlite:///{path}"]
        with self.step(target, f"populate ({VERSIONS:,} versions + alias, for resolve)"):
            result = run_worker(
                self.python(tool), self.worker(tool), "populate", Store(target, folder, location),
                VERSIONS,
            )
            if not result.get("verified"):
                raise BenchError(f"populating the {tool} resolve store failed: {result}")
        self.templates[tool] = path
        return path

    # running -----------------------------------------------------------------------------------

    def measure(self, target: Target, workload: str, store: Store) -> None:
        """Run one workload in a worker; keep its figures unless it failed or did not verify."""
        n = self.sizes.n(target, workload)
        try:
            with self.step(target, f"{workload} n={n:,}"):
                result = run_worker(
                    self.python(target.tool), self.worker(target.tool), workload, store, n
                )
        except BenchError as exc:
            self.fail(target, workload, exc)
            return
        if result.get("verified") is False:
            self.fail(target, workload, BenchError(f"the result did not verify: {result}"))
            return
        scale = self.sizes.scale(target, workload)
        if scale != 1.0:
            result["measured_seconds"] = result["seconds"]
            result["seconds"] = result["seconds"] * scale
            result["extrapolated_x"] = scale
        if "p50_us" in result:
            result["p50_ms"] = result["p50_us"] / 1000
            result["p99_ms"] = result["p99_us"] / 1000
        self.results.setdefault(workload, {}).setdefault(target.key, []).append(result)

    def run_target(self, target: Target) -> None:
        for workload in self.workloads:
            try:
                template = self.template(target.tool) if workload == "resolve" else None
                with self.store(target, template) as store:
                    self.measure(target, workload, store)
            except BenchError as exc:
                self.fail(target, workload, exc)

    def run(self) -> None:
        for rep in range(1, self.repeat + 1):
            self.console.rule(f"repetition {rep}/{self.repeat}")
            for target in self.targets:
                self.run_target(target)

    # figures -----------------------------------------------------------------------------------

    def median_of(self, workload: str, target_key: str) -> dict[str, Any] | None:
        reps = self.results.get(workload, {}).get(target_key)
        if not reps:
            return None
        out: dict[str, Any] = {"repetitions": len(reps)}
        for key in reps[0]:
            values = [r[key] for r in reps if key in r]
            if all(isinstance(v, bool) for v in values):
                out[key] = all(values)
            elif all(isinstance(v, int | float) for v in values):
                out[key] = statistics.median(values)
            elif all(isinstance(v, str) for v in values):
                out[key] = values[0]
        return out

    def figure(self, workload: str, field_: str, target_key: str) -> float | None:
        med = self.median_of(workload, target_key)
        if med is None or field_ not in med:
            return None
        return float(med[field_])

    def failed(self, workload: str, target_key: str) -> bool:
        return any(f["target"] == target_key and f["workload"] == workload for f in self.failures)


# -- reporting -----------------------------------------------------------------------------------

ROWS: tuple[tuple[str, str, str, str], ...] = (
    # workload, result field, unit shown, name of the figure
    ("register", "seconds", "s", "time for 1,000"),
    ("register", "ops_s", "ops/s", "throughput"),
    ("register", "p50_ms", "ms", "p50 per call"),
    ("register", "p99_ms", "ms", "p99 per call"),
    ("resolve", "seconds", "s", "time for 10,000"),
    ("resolve", "ops_s", "ops/s", "throughput"),
    ("resolve", "p50_ms", "ms", "p50 per call"),
    ("resolve", "p99_ms", "ms", "p99 per call"),
)


def speedup(field_: str, opsloop: float | None, mlflow: float | None) -> float | None:
    """How many times better opsloop is: MLflow time / opsloop time, or opsloop ops/s / MLflow's."""
    if opsloop is None or mlflow is None or opsloop <= 0 or mlflow <= 0:
        return None
    return opsloop / mlflow if field_ == "ops_s" else mlflow / opsloop


def fmt_x(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}x" if value >= 10 else f"{value:.2g}x"


def extrapolated_note(bench: Bench, workload: str) -> str:
    parts = []
    for target in bench.targets:
        med = bench.median_of(workload, target.key)
        if med and med.get("extrapolated_x"):
            n = bench.sizes.n(target, workload)
            parts.append(f"{target.label.split()[1]} {n:,}")
    return "; ".join(parts)


def results_table(bench: Bench) -> Table:
    table = Table(
        title="Registry benchmark: medians of "
        f"{bench.repeat} repetition{'s' if bench.repeat > 1 else ''}",
        title_justify="left",
        header_style="bold cyan",
    )
    for name in (
        "workload",
        "figure",
        "unit",
        "opsloop local",
        "MLflow local",
        "x local",
        "opsloop HTTP",
        "MLflow REST",
        "x HTTP",
        "MLflow n",
    ):
        numeric = name.startswith(("opsloop", "MLflow ", "x ")) and name != "MLflow n"
        table.add_column(name, justify="right" if numeric else "left", no_wrap=not numeric)
    for workload, field_, unit, name in ROWS:
        if workload not in bench.workloads:
            continue
        w = BY_KEY[workload]
        v = {t.key: bench.figure(workload, field_, t.key) for t in TARGETS}
        first = field_ == "seconds"
        table.add_row(
            f"{w.number}. {w.title}" if first else "",
            name,
            unit,
            fmt(v["opsloop-local"]),
            fmt(v["mlflow-local"]),
            fmt_x(speedup(field_, v["opsloop-local"], v["mlflow-local"])),
            fmt(v["opsloop-http"]),
            fmt(v["mlflow-rest"]),
            fmt_x(speedup(field_, v["opsloop-http"], v["mlflow-rest"])),
            extrapolated_note(bench, workload) if first else "",
        )
    return table


def evaluate(bench: Bench) -> list[dict[str, Any]]:
    out = []
    for goal in GOALS:
        if goal.workload not in bench.workloads:
            continue
        ops_key = "opsloop-local" if goal.mode == "local" else "opsloop-http"
        ml_key = "mlflow-local" if goal.mode == "local" else "mlflow-rest"
        ours = bench.figure(goal.workload, goal.field, ops_key)
        value: float | None
        if goal.kind == "max":
            value = ours
            met = value is not None and value <= goal.threshold
            shown = "—" if value is None else f"{fmt(value)} ms"
        else:
            value = speedup(goal.field, ours, bench.figure(goal.workload, goal.field, ml_key))
            met = value is not None and value >= goal.threshold
            shown = "—" if value is None else f"{fmt(value)}x"
        if bench.failed(goal.workload, ops_key):
            status, shown = "MISS", "opsloop failed"
        elif value is None:
            status = "SKIP"
            if bench.failed(goal.workload, ml_key):
                shown = "MLflow failed"
        else:
            status = "PASS" if met else "MISS"
        out.append(
            {
                "goal": goal.text,
                "workload": goal.workload,
                "mode": goal.mode,
                "kind": goal.kind,
                "threshold": goal.threshold,
                "value": value,
                "shown": shown,
                "status": status,
            }
        )
    return out


def write_json(
    bench: Bench,
    goals: list[dict[str, Any]],
    started: datetime,
    seconds: float,
    argv: Sequence[str],
) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"registry-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    versions = {}
    for tool, key in (("opsloop", "opsloop-local"), ("mlflow", "mlflow-local")):
        for workload in bench.results:
            med = bench.median_of(workload, key)
            if med and "version" in med:
                versions[tool] = med["version"]
    workloads: dict[str, Any] = {}
    for w in WORKLOADS:
        if w.key not in bench.results:
            continue
        workloads[w.key] = {
            "number": w.number,
            "title": w.title,
            "targets": {
                t: {"median": bench.median_of(w.key, t), "repetitions": reps}
                for t, reps in bench.results[w.key].items()
            },
        }
    doc = {
        "benchmark": "registry",
        "started_at": started.isoformat(),
        "duration_s": round(seconds, 1),
        "argv": list(argv),
        "repeat": bench.repeat,
        "full": bench.sizes.full,
        "sizes": {
            w.key: {t.key: bench.sizes.n(t, w.key) for t in TARGETS} for w in WORKLOADS
        },
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "git_commit": git_commit(),
            "source_sha256": source_digest(),
        },
        "versions": versions,
        "workloads": workloads,
        "goals": goals,
        "notes": bench.notes,
        "failures": bench.failures,
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


# -- command line --------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/registry.py",
        description="Registry benchmark: opsloop (local and HTTP) vs MLflow (local and REST).",
    )
    parser.add_argument(
        "--only",
        metavar="WORKLOAD[,..]",
        help="workloads by number or name: " + ", ".join(f"{w.number}={w.key}" for w in WORKLOADS),
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        metavar="N",
        help="repetitions; medians are reported (default 3)",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="MLflow at full size too (1,000 versions over REST, 10,000 resolutions): slow",
    )
    parser.add_argument(
        "--skip-mlflow", action="store_true", help="opsloop only (no MLflow virtualenv, no ratios)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is a MISS")
    args = parser.parse_args(argv)
    try:
        workloads = parse_only(args.only, WORKLOADS)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    console = Console(width=None if sys.stdout.isatty() else 150)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    started = datetime.now(UTC)
    t0 = time.monotonic()
    digest_before = source_digest()
    targets = [t for t in TARGETS if not (args.skip_mlflow and t.tool == "mlflow")]
    scratch = Path(tempfile.mkdtemp(prefix="opsloop-bench-registry-"))
    bench = Bench(console, workloads, targets, args.repeat, Sizes(args.full), None, scratch)
    try:
        if not args.skip_mlflow:
            bench.mlflow_python = ensure_mlflow(console)
        bench.run()
    except KeyboardInterrupt:
        console.print("\n[red]interrupted[/]: servers stopped, nothing written.")
        return 130
    except BenchError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.monotonic() - t0
    if source_digest() != digest_before:
        bench.notes.append(
            "opsloop's source (src/) changed while the benchmark ran: "
            "figures may mix two versions of the code."
        )
    if "resolve" in workloads:
        bench.notes.append(
            f"resolve runs on a copy of a store holding {VERSIONS:,} versions of bench-model "
            "with alias 'prod' -> version 500 (written once per tool, before the clock)."
        )
    if any(bench.sizes.scale(t, w) != 1.0 for t in targets for w in workloads):
        bench.notes.append(
            "MLflow ran fewer operations where 'MLflow n' says so (to keep a run "
            "short); its time is scaled to the full size, its throughput and percentiles "
            "are those measured (--full: no scaling)."
        )

    goals = evaluate(bench)
    console.print()
    console.print(results_table(bench))
    for note in bench.notes:
        console.print(f"[dim]note:[/] {note}")
    if args.skip_mlflow:
        console.print("[dim]note:[/] --skip-mlflow: no MLflow figures, ratio goals are SKIP.")
    console.print(goals_table(goals))
    path = write_json(bench, goals, started, seconds, sys.argv if argv is None else argv)
    misses = sum(g["status"] == "MISS" for g in goals)
    skips = sum(g["status"] == "SKIP" for g in goals)
    console.print(
        f"{len(goals) - misses - skips} PASS, {misses} MISS; took {seconds / 60:.1f} min; "
        f"results: {path.relative_to(REPO)}"
    )
    if bench.failures:
        console.print(f"[red]{len(bench.failures)} workload run(s) failed[/] (see above).")
        return 2
    return 1 if args.strict and misses else 0


if __name__ == "__main__":
    sys.exit(main())
