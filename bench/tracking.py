"""Tracking benchmark: the same workloads through opsloop and MLflow, in one run.

Usage (``make bench ARGS="..."`` runs it with the project's virtualenv)::

    python bench/tracking.py                    # everything, medians of 3 repetitions
    python bench/tracking.py --skip-mlflow      # opsloop only, for quick iteration
    python bench/tracking.py --only 1,search_all --repeat 5
    python bench/tracking.py --full --strict    # no extrapolation; exit 1 on a MISS

Each workload runs in a fresh worker process (``_opsloop_workloads.py`` with this
interpreter, ``_mlflow_workloads.py`` with MLflow's virtualenv, created on first use in
``bench/.venvs/mlflow``) against a fresh store: SQLite in a temporary folder, used
directly or behind a server on 127.0.0.1 started for that workload and repetition.
See bench/README.md for what is measured and how.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, Literal

from rich.console import Console
from rich.table import Table

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
MLFLOW_VENV = BENCH / ".venvs" / "mlflow"
MLFLOW_SPEC = "mlflow>=3.17,<3.18"
OPSLOOP_WORKER = BENCH / "_opsloop_workloads.py"
MLFLOW_WORKER = BENCH / "_mlflow_workloads.py"

SERVER_READY_TIMEOUT = 180.0
WORKER_TIMEOUT = 4 * 3600.0
IMPORT_SAMPLES = 5
SEARCH_RUNS = 1000

Tool = Literal["opsloop", "mlflow"]
Mode = Literal["local", "http"]


# -- what runs where ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One side of a comparison: a tool, used in-process (local) or through its server."""

    key: str
    tool: Tool
    mode: Mode
    label: str


TARGETS = (
    Target("opsloop-local", "opsloop", "local", "opsloop local"),
    Target("opsloop-http", "opsloop", "http", "opsloop HTTP"),
    Target("mlflow-local", "mlflow", "local", "MLflow local"),
    Target("mlflow-rest", "mlflow", "http", "MLflow REST"),
)


@dataclass(frozen=True)
class Workload:
    number: int
    key: str
    title: str


WORKLOADS = (
    Workload(1, "log_metric", "one log_metric call"),
    Workload(2, "points_10k", "10k points stored"),
    Workload(3, "log_batch", "batch of 10k points"),
    Workload(4, "create_runs", "1,000 runs x 10+10"),
    Workload(5, "search_all", "search all -> table"),
    Workload(6, "search_filtered", "filtered search"),
    Workload(7, "import_time", "import time"),
)
BY_KEY = {w.key: w for w in WORKLOADS}
RUN_STORE_WORKLOADS = ("create_runs", "search_all", "search_filtered")


@dataclass(frozen=True)
class Goal:
    """A goal of the issue: an upper bound on an opsloop figure, or a minimum speed-up."""

    workload: str
    mode: Mode
    kind: Literal["max", "ratio"]
    threshold: float
    field: str = "seconds"
    label: str = ""
    unit: str = ""

    @property
    def text(self) -> str:
        where = "local" if self.mode == "local" else "HTTP"
        what = BY_KEY[self.workload]
        if self.kind == "ratio":
            return f"{what.number}. {what.title}: >= {self.threshold:g}x MLflow ({where})"
        return (
            f"{what.number}. {what.title}: {self.label} <= {self.threshold:g} {self.unit} ({where})"
        )


GOALS = (
    Goal("log_metric", "local", "max", 20, "p99_us", "p99", "µs"),
    Goal("log_metric", "http", "max", 20, "p99_us", "p99", "µs"),
    Goal("points_10k", "local", "ratio", 500),
    Goal("points_10k", "http", "ratio", 500),
    Goal("log_batch", "local", "ratio", 20),
    Goal("log_batch", "http", "ratio", 20),
    Goal("create_runs", "local", "ratio", 50),
    Goal("create_runs", "http", "ratio", 50),
    Goal("search_all", "local", "max", 50, "ms", "median", "ms"),
    Goal("search_all", "http", "max", 50, "ms", "median", "ms"),
    Goal("search_filtered", "local", "max", 5, "ms", "median", "ms"),
    Goal("search_filtered", "http", "max", 10, "ms", "median", "ms"),
    Goal("import_time", "local", "max", 0.3, "seconds", "import", "s"),
)


@dataclass(frozen=True)
class Sizes:
    """How much work each side does (MLflow's may be scaled down and extrapolated)."""

    full: bool

    def n(self, tool: Tool, workload: str) -> int:
        if workload == "log_metric":
            return 10_000 if tool == "opsloop" else 200
        if workload == "points_10k":
            return 10_000 if tool == "opsloop" or self.full else 1_000
        if workload == "log_batch":
            return 10_000
        if workload == "create_runs":
            return 1_000 if tool == "opsloop" or self.full else 100
        return SEARCH_RUNS

    def scale(self, tool: Tool, workload: str) -> float:
        """Factor from the measured time to the time of the workload's full size."""
        if workload == "points_10k":
            return 10_000 / self.n(tool, workload)
        if workload == "create_runs":
            return 1_000 / self.n(tool, workload)
        return 1.0


# -- processes ---------------------------------------------------------------------------------


class BenchError(RuntimeError):
    """A worker or server failed; the message says which and shows its output."""


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def child_env(**extra: str) -> dict[str, str]:
    """The environment of workers and servers: none of the caller's tracking settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPSLOOP_", "MLFLOW_")) and k != "VIRTUAL_ENV"
    }
    # Nothing may leave the machine: MLflow sends usage data unless told not to.
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


@dataclass
class Server:
    """A tracking server subprocess in its own process group (so it is killed whole)."""

    name: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    health_path: str
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.cwd / "server.log"

    def start(self) -> None:
        argv = [*self.argv, "--host", "127.0.0.1", "--port", str(self.port)]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                argv,
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + SERVER_READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"{self.name} exited with {self.proc.returncode} on start:\n"
                    + _tail(self.log_path.read_text(errors="replace"))
                )
            try:
                with urllib.request.urlopen(self.url + self.health_path, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise BenchError(
            f"{self.name} not ready after {SERVER_READY_TIMEOUT:.0f} s:\n"
            + _tail(self.log_path.read_text(errors="replace"))
        )

    def stop(self) -> None:
        """SIGTERM to the whole process group, SIGKILL after 10 s; safe to call twice."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
                # The leader is gone; make sure its workers are too.
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                break
            except subprocess.TimeoutExpired:
                continue


@dataclass(frozen=True)
class Store:
    """A fresh store for one target: where its worker points and where it runs."""

    target: Target
    folder: Path
    location: list[str]


def run_worker(python: Path, script: Path, workload: str, store: Store, n: int) -> dict[str, Any]:
    argv = [str(python), str(script), workload, *store.location, "--n", str(n)]
    done = subprocess.run(
        argv,
        cwd=store.folder,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=WORKER_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        raise BenchError(
            f"{script.name} {workload} on {store.target.key} failed "
            f"(exit {done.returncode}):\n{_tail(done.stderr or done.stdout)}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# -- the MLflow virtualenv -----------------------------------------------------------------------


def ensure_mlflow(console: Console) -> Path:
    """MLflow's own virtualenv in bench/.venvs/mlflow, created and installed on first use."""
    python = MLFLOW_VENV / "bin" / "python"
    stamp = MLFLOW_VENV / ".installed"
    if python.exists() and stamp.exists() and stamp.read_text().strip() == MLFLOW_SPEC:
        return python
    log_path = MLFLOW_VENV.parent / "mlflow-install.log"
    MLFLOW_VENV.parent.mkdir(parents=True, exist_ok=True)
    console.print(
        f"[bold]Creating MLflow's virtualenv[/] in {MLFLOW_VENV.relative_to(REPO)} "
        f"and installing '{MLFLOW_SPEC}' from PyPI: the first time takes a few "
        f"minutes (log: {log_path.relative_to(REPO)})."
    )
    t0 = time.monotonic()
    with open(log_path, "w") as log, console.status("installing MLflow...") as status:
        steps = [
            [sys.executable, "-m", "venv", "--clear", str(MLFLOW_VENV)],
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--upgrade",
                "pip",
            ],
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", MLFLOW_SPEC],
        ]
        for argv in steps:
            status.update(f"{' '.join(argv[1:4])} ... ({time.monotonic() - t0:.0f} s)")
            log.write(f"$ {' '.join(argv)}\n")
            log.flush()
            proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=child_env(),
            )
            while proc.poll() is None:
                status.update(f"{' '.join(argv[1:4])} ... ({time.monotonic() - t0:.0f} s)")
                time.sleep(1)
            if proc.returncode != 0:
                raise BenchError(
                    f"installing MLflow failed (exit {proc.returncode}); "
                    f"see {log_path}:\n{_tail(log_path.read_text())}"
                )
    stamp.write_text(MLFLOW_SPEC + "\n")
    console.print(f"MLflow installed in {time.monotonic() - t0:.0f} s.")
    return python


# -- the benchmark -------------------------------------------------------------------------------


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
    _template: Path | None = None

    # stores and servers ------------------------------------------------------------------------

    @contextmanager
    def store(self, target: Target, seed_db: Path | None = None) -> Iterator[Store]:
        folder = Path(tempfile.mkdtemp(prefix=f"{target.key}-", dir=self.scratch))
        server: Server | None = None
        try:
            if target.tool == "opsloop":
                home = folder / "home"
                if target.mode == "local":
                    yield Store(target, folder, ["--home", str(home)])
                    return
                server = Server(
                    "opsloop server",
                    self._opsloop_cli(),
                    folder,
                    child_env(OPSLOOP_HOME=str(home)),
                    "/healthz",
                )
            else:
                db = folder / "mlflow.db"
                if seed_db is not None:
                    shutil.copyfile(seed_db, db)
                if target.mode == "local":
                    yield Store(target, folder, ["--tracking-uri", f"sqlite:///{db}"])
                    return
                assert self.mlflow_python is not None
                server = Server(
                    "mlflow server",
                    [
                        str(self.mlflow_python.parent / "mlflow"),
                        "server",
                        "--backend-store-uri",
                        f"sqlite:///{db}",
                        "--default-artifact-root",
                        str(folder / "artifacts"),
                    ],
                    folder,
                    child_env(),
                    "/health",
                )
            server.start()
            yield Store(target, folder, ["--tracking-uri", server.url])
        finally:
            if server is not None:
                server.stop()
            shutil.rmtree(folder, ignore_errors=True)

    @staticmethod
    def _opsloop_cli() -> list[str]:
        script = Path(sys.executable).parent / "opsloop"
        if script.exists():
            return [str(script), "server"]
        return [sys.executable, "-c", "from opsloop.cli import main; main()", "server"]

    def mlflow_template(self) -> Path:
        """A SQLite store with 1,000 MLflow runs written quickly, copied for each search."""
        if self._template is None:
            folder = self.scratch / "mlflow-template"
            folder.mkdir()
            db = folder / "mlflow.db"
            target = TARGETS[2]
            with self.step(target, "populate (1,000 runs via log_batch, for searches)"):
                assert self.mlflow_python is not None
                result = run_worker(
                    self.mlflow_python,
                    MLFLOW_WORKER,
                    "populate",
                    Store(target, folder, ["--tracking-uri", f"sqlite:///{db}"]),
                    SEARCH_RUNS,
                )
            if not result.get("verified"):
                raise BenchError(f"populating the MLflow search store failed: {result}")
            self._template = db
            self.notes.append(
                "MLflow searches (5, 6) run on a copy of a store of 1,000 runs written with "
                "create_run + log_batch (params and metrics in one call) + set_terminated "
                "per run, with the same params, metrics and fluent tags as workload 4; "
                "workload 4 itself created only 100 MLflow runs (extrapolated x10)."
            )
        return self._template

    # running -----------------------------------------------------------------------------------

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

    def measure(self, target: Target, workload: str, store: Store, record: bool = True) -> bool:
        """Run one workload in a worker; keep its figures unless it failed or did not verify.

        A result that did not verify (wrong row or point count) is a failure, not a
        figure: a fast wrong answer must not count.
        """
        tool = target.tool
        python = Path(sys.executable) if tool == "opsloop" else self.mlflow_python
        script = OPSLOOP_WORKER if tool == "opsloop" else MLFLOW_WORKER
        assert python is not None
        n = self.sizes.n(tool, workload)
        label = workload if record else f"{workload} (setup for searches)"
        try:
            with self.step(target, f"{label} n={n:,}"):
                result = run_worker(python, script, workload, store, n)
        except BenchError as exc:
            self.fail(target, workload, exc)
            return False
        if result.get("verified") is False:
            self.fail(target, workload, BenchError(f"the result did not verify: {result}"))
            return False
        if not record:
            return True
        scale = self.sizes.scale(tool, workload)
        if scale != 1.0:
            result["measured_seconds"] = result["seconds"]
            result["seconds"] = result["seconds"] * scale
            result["extrapolated_x"] = scale
        self.results.setdefault(workload, {}).setdefault(target.key, []).append(result)
        return True

    def fail(self, target: Target, workload: str, exc: BaseException) -> None:
        self.console.print(f"[red]error:[/] {exc}")
        self.failures.append({"target": target.key, "workload": workload, "error": str(exc)})

    def run_target(self, target: Target) -> None:
        for workload in ("log_metric", "points_10k", "log_batch"):
            if workload in self.workloads:
                try:
                    with self.store(target) as store:
                        self.measure(target, workload, store)
                except BenchError as exc:
                    self.fail(target, workload, exc)
        wanted = [w for w in RUN_STORE_WORKLOADS if w in self.workloads]
        if not wanted:
            return
        searches = [w for w in wanted if w != "create_runs"]
        separate = target.tool == "mlflow" and not self.sizes.full and bool(searches)
        try:
            if separate:
                if "create_runs" in wanted:
                    with self.store(target) as store:
                        self.measure(target, "create_runs", store)
                seed = self.mlflow_template()
                with self.store(target, seed_db=seed) as store:
                    for workload in searches:
                        self.measure(target, workload, store)
            else:
                with self.store(target) as store:
                    if not self.measure(target, "create_runs", store, "create_runs" in wanted):
                        if searches:
                            self.fail(
                                target,
                                ",".join(searches),
                                BenchError("searches skipped: no store of runs to search"),
                            )
                        return
                    for workload in searches:
                        self.measure(target, workload, store)
        except BenchError as exc:
            self.fail(target, ",".join(wanted), exc)

    def import_time(self, tool: Tool) -> None:
        """Median wall time of ``import X`` minus that of ``pass``, in fresh interpreters."""
        python = Path(sys.executable) if tool == "opsloop" else self.mlflow_python
        assert python is not None
        target = TARGETS[0] if tool == "opsloop" else TARGETS[2]
        code = f"import {tool}"

        def wall(snippet: str) -> float:
            t0 = time.perf_counter()
            subprocess.run(
                [str(python), "-c", snippet],
                cwd=self.scratch,
                env=child_env(),
                check=True,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
            return time.perf_counter() - t0

        try:
            with self.step(target, f"import_time ({IMPORT_SAMPLES} x 'import {tool}')"):
                wall(code)  # warm-up: byte-compiles on a fresh install
                imports, bare = [], []
                for _ in range(IMPORT_SAMPLES):
                    bare.append(wall("pass"))
                    imports.append(wall(code))
        except subprocess.CalledProcessError as exc:
            self.fail(target, "import_time", BenchError(f"{python} -c '{code}' failed: {exc}"))
            return
        result = {
            "seconds": statistics.median(imports) - statistics.median(bare),
            "import_s": statistics.median(imports),
            "python_s": statistics.median(bare),
            "import_samples": imports,
            "python_samples": bare,
        }
        self.results.setdefault("import_time", {}).setdefault(target.key, []).append(result)

    def run(self) -> None:
        for rep in range(1, self.repeat + 1):
            self.console.rule(f"repetition {rep}/{self.repeat}")
            for target in self.targets:
                self.run_target(target)
            if "import_time" in self.workloads:
                for tool in dict.fromkeys(t.tool for t in self.targets):
                    self.import_time(tool)

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
        return any(
            f["target"] == target_key and workload in f["workload"].split(",")
            for f in self.failures
        )


# -- reporting -----------------------------------------------------------------------------------

ROWS: tuple[tuple[str, str, str, str], ...] = (
    # workload, result field, unit shown, name of the figure
    ("log_metric", "p50_us", "µs", "p50"),
    ("log_metric", "p99_us", "µs", "p99"),
    ("points_10k", "seconds", "s", "time to stored"),
    ("log_batch", "seconds", "s", "time"),
    ("create_runs", "seconds", "s", "time"),
    ("search_all", "ms", "ms", "median of 5"),
    ("search_filtered", "ms", "ms", "median of 5"),
    ("import_time", "seconds", "s", "minus bare python"),
)


def fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def fmt_ratio(opsloop: float | None, mlflow: float | None) -> str:
    if opsloop is None or mlflow is None or opsloop <= 0:
        return "—"
    return f"{mlflow / opsloop:,.0f}x" if mlflow / opsloop >= 10 else f"{mlflow / opsloop:.2g}x"


def extrapolated_note(bench: Bench, workload: str) -> str:
    parts = []
    for target in bench.targets:
        med = bench.median_of(workload, target.key)
        if med and med.get("extrapolated_x"):
            parts.append(target.label.split()[1])
    if not parts:
        return ""
    scale = bench.sizes.scale("mlflow", workload)
    n = bench.sizes.n("mlflow", workload)
    return f"MLflow {'+'.join(parts)}: {n:,} measured, x{scale:g}"


def results_table(bench: Bench) -> Table:
    table = Table(
        title="Tracking benchmark: medians of "
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
        "extrapolated",
    ):
        numeric = name.startswith(("opsloop", "MLflow", "x "))
        table.add_column(name, justify="right" if numeric else "left", no_wrap=not numeric)
    for workload, field_, unit, name in ROWS:
        if workload not in bench.workloads:
            continue
        w = BY_KEY[workload]
        values = {t.key: bench.figure(workload, field_, t.key) for t in TARGETS}
        first = workload != "log_metric" or field_ == "p50_us"
        table.add_row(
            f"{w.number}. {w.title}" if first else "",
            name,
            unit,
            fmt(values["opsloop-local"]),
            fmt(values["mlflow-local"]),
            fmt_ratio(values["opsloop-local"], values["mlflow-local"]),
            fmt(values["opsloop-http"]),
            fmt(values["mlflow-rest"]),
            fmt_ratio(values["opsloop-http"], values["mlflow-rest"]),
            extrapolated_note(bench, workload),
        )
    return table


def evaluate(bench: Bench) -> list[dict[str, Any]]:
    out = []
    for goal in GOALS:
        if goal.workload not in bench.workloads:
            continue
        field_ = goal.field
        ops_key = "opsloop-local" if goal.mode == "local" else "opsloop-http"
        ml_key = "mlflow-local" if goal.mode == "local" else "mlflow-rest"
        ours = bench.figure(goal.workload, field_, ops_key)
        value: float | None
        if goal.kind == "max":
            value = ours
            met = value is not None and value <= goal.threshold
            shown = "—" if value is None else f"{fmt(value)} {goal.unit}"
        else:
            theirs = bench.figure(goal.workload, field_, ml_key)
            value = theirs / ours if ours and theirs is not None else None
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


def goals_table(goals: list[dict[str, Any]]) -> Table:
    table = Table(title="Goals", title_justify="left", header_style="bold cyan")
    table.add_column("goal")
    table.add_column("measured", justify="right")
    table.add_column("result")
    colour = {"PASS": "green", "MISS": "red", "SKIP": "yellow"}
    for g in goals:
        table.add_row(g["goal"], g["shown"], f"[{colour[g['status']]}]{g['status']}[/]")
    return table


def source_digest() -> str:
    """sha256 of opsloop's source files: tells whether the code changed during the run."""
    h = hashlib.sha256()
    for path in sorted((REPO / "src").rglob("*.py")):
        h.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def write_json(
    bench: Bench,
    goals: list[dict[str, Any]],
    started: datetime,
    seconds: float,
    argv: Sequence[str],
) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"tracking-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
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
        "benchmark": "tracking",
        "started_at": started.isoformat(),
        "duration_s": round(seconds, 1),
        "argv": list(argv),
        "repeat": bench.repeat,
        "full": bench.sizes.full,
        "sizes": {
            w.key: {
                "opsloop": bench.sizes.n("opsloop", w.key),
                "mlflow": bench.sizes.n("mlflow", w.key),
            }
            for w in WORKLOADS
            if w.key != "import_time"
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


def parse_only(text: str | None, workloads: Sequence[Workload] = WORKLOADS) -> list[str]:
    """The keys ``--only`` names (by number or name), in benchmark order."""
    if not text:
        return [w.key for w in workloads]
    by_number = {str(w.number): w.key for w in workloads}
    known = {w.key for w in workloads}
    chosen = []
    for item in (part.strip() for part in text.split(",")):
        key = by_number.get(item, item.replace("-", "_"))
        if key not in known:
            names = ", ".join(f"{w.number}={w.key}" for w in workloads)
            raise argparse.ArgumentTypeError(f"unknown workload {item!r} (known: {names})")
        chosen.append(key)
    return [w.key for w in workloads if w.key in chosen]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/tracking.py",
        description="Tracking benchmark: opsloop (local and HTTP) vs MLflow (local and REST).",
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
        help="run MLflow's slow workloads (2, 4) at full size, no extrapolation",
    )
    parser.add_argument(
        "--skip-mlflow", action="store_true", help="opsloop only (no MLflow virtualenv, no ratios)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is a MISS")
    args = parser.parse_args(argv)
    try:
        workloads = parse_only(args.only)
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
    scratch = Path(tempfile.mkdtemp(prefix="opsloop-bench-"))
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
    console.print(
        f"{len(goals) - misses - sum(g['status'] == 'SKIP' for g in goals)} PASS, "
        f"{misses} MISS; took {seconds / 60:.1f} min; results: "
        f"{path.relative_to(REPO)}"
    )
    if bench.failures:
        console.print(f"[red]{len(bench.failures)} workload run(s) failed[/] (see above).")
        return 2
    return 1 if args.strict and misses else 0


if __name__ == "__main__":
    sys.exit(main())
