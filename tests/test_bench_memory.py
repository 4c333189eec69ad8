"""The peak-memory benchmark (benchmarks/memory.py) measures what it claims: known allocations,
and the W1 steps of the NumPy floor and funcgrad.jit, each in a fresh process (about 3 s)."""
import doctest
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks import memory

ROOT = Path(__file__).resolve().parents[1]
MIB = 2**20
N = 10_000          # W1's rows: its per-example vectors are N float64 = 80,000 bytes


def test_traced_peak_of_a_known_allocation():
    def step():
        a = np.ones(2 * MIB // 8)       # 2 MiB
        b = a + 1.0                     # 2 more MiB while a is alive
        del a
        return b * 2.0                  # reuses nothing: a is gone, b is alive -> 4 MiB peak

    peaks, kept = memory.measure_traced(step, 3)
    assert len(peaks) == 3
    for peak, left in zip(peaks, kept):
        assert 4 * MIB <= peak < 4 * MIB + 8192, peak
        assert 2 * MIB <= left < 2 * MIB + 4096, left      # the result


def test_rss_peak_of_a_known_allocation_in_a_fresh_process():
    if not memory.rss_available():
        pytest.skip("/proc/self/clear_refs is not writable here")
    # `a` is named, so NumPy cannot reuse it for `a + 1.0` (temporary elision): two 2 MiB
    # arrays are alive at once.
    code = ("import numpy as np; from benchmarks import memory; memory.configure_malloc(); "
            "step = lambda: (lambda a: (a + 1.0).sum())(np.ones(2**18)); step(); "
            "print(memory.measure_rss(step, 3))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, env={**os.environ, **memory.CHILD_ENV})
    assert out.returncode == 0, out.stderr
    peaks = json.loads(out.stdout)
    for peak in peaks:
        assert 4 * MIB - 8192 <= peak < 4 * MIB + 64 * 1024, peaks     # to a page or two


def test_w1_numpy_and_funcgrad_jit_in_fresh_processes():
    floor = memory.run_cell("W1", "numpy", steps=2)
    jit = memory.run_cell("W1", "funcgrad.jit", steps=2)
    assert (floor.status, jit.status) == ("ok", "ok"), (floor.note, jit.note)
    # The floor holds at most four N-vectors at once (z, logaddexp(0, z), y z, their
    # difference), plus a few small Python objects.
    assert all(4 * 8 * N <= p < 4 * 8 * N + 8192 for p in floor.traced_peaks), floor.traced_peaks
    # funcgrad.jit holds at least z; the target is <= 1.1x the floor.
    assert 8 * N < jit.traced_peak <= 1.1 * floor.traced_peak, jit.traced_peak
    if floor.rss_peaks:     # page-granular and noisier, but the same order as the traced peak
        assert abs(floor.rss_peak - floor.traced_peak) < 256 * 1024, floor.rss_peaks
    memory.score([floor, jit])
    assert jit.meets_target is True and jit.traced_ratio == jit.traced_peak / floor.traced_peak
    table = memory.format_table([floor, jit])
    assert "| W1 | funcgrad.jit |" in table and "<= 1.1x ok" in table


def test_compiled_backend_is_measured_or_reported_not_available():
    cell = memory.run_cell("W1", memory.COMPILED, steps=1)
    assert cell.status in ("ok", "n/a"), cell.note
    if cell.status == "ok":
        assert cell.traced_peak > 8 * N
    else:
        assert "backend" in cell.note


def test_child_output_round_trips_and_helpers():
    cell = memory.MemCell("W2", "torch", traced_peaks=[5], rss_peaks=[3 * MIB, MIB, 2 * MIB])
    parsed = memory.parse_child_output("log line\n" + memory.MARKER +
                                       json.dumps(cell.as_json()) + "\n")
    assert parsed.contender == "torch" and parsed.rss_peak == 2 * MIB
    assert memory.parse_child_output("Traceback (most recent call last):") is None
    assert memory.format_mib(MIB // 2) == "0.500 MiB"
    failures, _ = doctest.testmod(memory)
    assert failures == 0
