"""One saved-model case per flavor (see ``_cases.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.registry._cases import CASES, Case


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Case:
    return CASES[request.param](tmp_path)
