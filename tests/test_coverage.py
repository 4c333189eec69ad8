"""docs/coverage.md is what tools/coverage.py writes today, and the probe behind it tells the
kinds of function apart."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

import funcgrad.numpy as fnp

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def coverage():
    spec = importlib.util.spec_from_file_location("coverage_tool", ROOT / "tools" / "coverage.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(text: str) -> dict[str, str]:
    return dict(re.findall(r"^\| `([^`]+)` \| (.+) \|$", text, flags=re.M))


def test_the_table_is_current(coverage):
    committed = (ROOT / "docs" / "coverage.md").read_text()
    fresh = coverage.table()
    header = re.compile(r"^Probed with .*$", flags=re.M)
    if header.search(committed).group() == header.search(fresh).group():
        assert fresh == committed, "docs/coverage.md is out of date: run python tools/coverage.py"
    else:   # another NumPy/SciPy lists other names: the names both list must agree
        old, new = _rows(committed), _rows(fresh)
        differ = {n: (old[n], new[n]) for n in old.keys() & new.keys() if old[n] != new[n]}
        assert not differ, f"statuses changed; run python tools/coverage.py: {differ}"


def test_every_numpy_function_funcgrad_has_is_in_the_table(coverage):
    rows = _rows((ROOT / "docs" / "coverage.md").read_text())
    missing = [name for name in fnp.__all__
               if callable(getattr(np, name, None)) and not isinstance(getattr(np, name), type)
               and name not in coverage.NOT_ARRAY_MATH and f"numpy.{name}" not in rows]
    assert not missing, f"not in docs/coverage.md (run python tools/coverage.py): {missing}"


def test_the_probe_tells_the_kinds_apart(coverage):
    from funcgrad.scipy import special

    assert coverage.probe(fnp.sin, "sin") == "differentiable"
    assert coverage.probe(fnp.linalg.solve, "solve") == "differentiable"
    assert coverage.probe(fnp.argmax, "argmax") == "forward only"
    assert coverage.probe(fnp.less, "less") == "forward only"
    assert coverage.probe(fnp.zeros, "zeros") == "NumPy's own"
    assert coverage.probe(special.gammainc, "gammainc").startswith("differentiable in ")

    def refuses(x):
        raise NotImplementedError("no")
    assert coverage.probe(refuses, "refuses") == "traces (probe needs arguments)"
