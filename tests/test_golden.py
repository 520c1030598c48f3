"""Golden outputs: the same data and seeds give the same model-file and sample bytes as recorded
(`tests/golden/golden.json`). A refactor must leave every digest alone; a change of behaviour
re-records them with `python tests/golden/cases.py --write` and says so in its commit."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "golden"))
import cases  # noqa: E402

EXPECTED = json.loads((Path(__file__).parent / "golden" / "golden.json").read_text())
CASES = dict(cases.cases())


def test_every_recorded_case_runs():
    assert set(CASES) == set(EXPECTED), "a golden case needs a path that is missing here (../shared/datasets)"


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_bytes(name):
    assert hashlib.sha256(CASES[name]()).hexdigest() == EXPECTED[name], f"{name}: output bytes changed"
