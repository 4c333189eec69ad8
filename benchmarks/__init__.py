"""funcgrad benchmarks: funcgrad vs hand-written NumPy (the floor) and peers, in one process.

Run ``python -m benchmarks [--quick] [--only W1,W3] [--json out.json]`` from the repo root;
see benchmarks/README.md.

Every library runs single-threaded unless BENCH_THREADS says otherwise: the comparison is of
the libraries, not of thread pools, and on a small shared machine a multi-threaded BLAS call
stalls whenever another process holds one of its cores. The thread variables are set here,
before NumPy is imported (the runner imports this package first); values already in the
environment win.
"""
import os

THREADS = os.environ.get("BENCH_THREADS", "1")
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, THREADS)
