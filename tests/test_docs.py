"""Every ``python`` and ``bash`` example in README.md and docs/ runs.

Each document runs in a fresh folder with its own ``OPSLOOP_HOME``; its blocks run in
order, each ``python`` block as its own process (so blocks must be self-contained) and
each line of a ``bash`` block as a shell command. ``console`` blocks are shown, not run
(installs, long-running servers).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```(python|bash)\n(.*?)^```", re.S | re.M)


def blocks(doc: Path) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(doc.read_text())]


@pytest.mark.parametrize("doc", [d for d in DOCS if blocks(d)], ids=lambda d: d.name)
def test_examples_run(doc: Path, tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "OPSLOOP_HOME": str(tmp_path / ".opsloop"),
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           "COLUMNS": "200", "OPSLOOP_TRACKING_URI": ""}
    for i, (lang, code) in enumerate(blocks(doc)):
        cmd = [sys.executable, "-c", code] if lang == "python" else ["bash", "-euo",
                                                                     "pipefail", "-c", code]
        proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, (
            f"{doc.name} block {i + 1} ({lang}) failed:\n{code}\n--- stderr ---\n"
            f"{proc.stderr[-3000:]}\n--- stdout ---\n{proc.stdout[-2000:]}")
