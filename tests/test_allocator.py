"""glibc malloc settings (funcgrad/run/allocator.py): arrays allocated alike call after call
are served from the heap instead of costing a page fault per 4 KiB page every call."""
import platform
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import resource, numpy as np
    import funcgrad as fg
    f = fg.jit(lambda x: x * 2.0, backend="numpy")
    f(np.ones(3))                  # compiling a function applies the settings
    from funcgrad.run import allocator
    def work():
        arrays = [np.ones(100_000) for _ in range(6)]     # 800 KB each, written
        del arrays
    work(); work()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):
        work()
    print(allocator.tune(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


def _run(**env):
    import os
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=dict(os.environ, **env),
                         check=True, capture_output=True, text=True).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="the settings are glibc's")
def test_compiled_code_reuses_heap_memory_instead_of_faulting_it_in_again():
    tuned, faults = _run()
    assert tuned and faults < 500, faults          # 50 calls x 6 arrays of 196 pages each
    # opted out (or glibc's own variables set): glibc's defaults, a fault per page per call
    for env in ({"FUNCGRAD_TUNE_MALLOC": "0"}, {"MALLOC_TRIM_THRESHOLD_": "131072"}):
        tuned, faults = _run(**env)
        assert not tuned and faults > 50 * 6 * 150, (env, faults)
