"""Hypothesis profiles: `ci` (default: derandomized, no deadline) and `nightly` (random, longer).

Select one with FUNCGRAD_HYPOTHESIS_PROFILE=nightly. Tests set their own `max_examples`; the
nightly profile multiplies nothing but explores new examples on every run.
"""
import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("nightly", deadline=None, derandomize=False, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("FUNCGRAD_HYPOTHESIS_PROFILE", "ci"))

# jit's default backend is 'auto': a signature called 20 times is compiled by the compiled
# tier (numba) on a background thread. The suite pins the NumPy tier so that its timings and
# results do not depend on when a background compile finishes; tests/test_compiled.py tests
# the compiled tier, and CI runs the jit tests again with FUNCGRAD_JIT_BACKEND=compiled.
os.environ.setdefault("FUNCGRAD_JIT_BACKEND", "numpy")
# Kernels the tests compile go to a directory of their own (not ~/.cache/funcgrad), and numba
# optimises them less: the suite checks what they compute, which optimisation does not change
# (no fast-math), and LLVM's optimiser is most of a kernel's compile time.
if "FUNCGRAD_CACHE_DIR" not in os.environ:
    import tempfile
    os.environ["FUNCGRAD_CACHE_DIR"] = tempfile.mkdtemp(prefix="funcgrad-test-kernels-")
os.environ.setdefault("NUMBA_OPT", "0")
