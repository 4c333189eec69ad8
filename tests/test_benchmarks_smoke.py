"""The benchmark harness runs and checks its results against NumPy (no timing asserted)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_harness_runs_and_checks_results():
    out = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--only", "W3,W5",
                          "--rounds", "1", "--no-peers"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "W3" in out.stdout and "W5" in out.stdout
