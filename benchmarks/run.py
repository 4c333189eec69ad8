"""Command line of the benchmark harness.

    python -m benchmarks [--quick] [--only W1,W3] [--rounds N] [--no-peers] [--json out.json]
    python benchmarks/run.py [same options]

Prints a Markdown table (median per call, ratio to the NumPy floor, noise, target) and exits
with status 1 if any contender's result differed from NumPy's or raised an unexpected error.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` and `funcgrad` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import benchmarks  # noqa: E402, I001  (first: it sets the thread counts before NumPy loads)
import numpy as np  # noqa: E402

import funcgrad  # noqa: E402
from benchmarks import peers  # noqa: E402
from benchmarks.harness import (  # noqa: E402
    Config,
    finish,
    format_table,
    profile_cell,
    run_workload,
)
from benchmarks.workloads import WORKLOADS  # noqa: E402

QUICK = Config(rounds=5, sample_ms=3.0, warmup_ms=15.0)
FULL = Config(rounds=20, sample_ms=20.0, warmup_ms=200.0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command-line options.

    >>> parse_args(["--quick", "--only", "W3"]).only
    'W3'
    """
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short run (well under a minute)")
    p.add_argument("--only", default="", help="comma-separated workloads, e.g. W1,W3")
    p.add_argument("--rounds", type=int, help="rounds of samples (default 20, quick 5)")
    p.add_argument("--no-peers", action="store_true", help="skip jax, torch and autograd")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--no-first-call", action="store_true",
                   help="do not time a fresh jit's first call (the 'first call' column)")
    p.add_argument("--profile", metavar="CONTENDER",
                   help="instead of timing, cProfile this contender (e.g. funcgrad) on the "
                        "selected workloads and print the hotspots")
    return p.parse_args(argv)


def blas() -> list[dict] | None:
    """The BLAS libraries loaded in this process and the kernel each runs (threadpoolctl's
    internal_api, version, architecture, threads), or None without threadpoolctl (it comes with
    scikit-learn: the `examples` extra). OpenBLAS picks its kernel for the CPU at load time;
    OPENBLAS_CORETYPE overrides that choice (see benchmarks/README.md).

    >>> info = blas()
    >>> info is None or all("internal_api" in lib for lib in info)
    True
    """
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return [{k: lib.get(k) for k in ("internal_api", "version", "architecture", "num_threads",
                                     "filepath")}
            for lib in threadpool_info() if lib.get("user_api") == "blas"]


def describe_blas(libs: list[dict] | None) -> str:
    """One line for the header: each BLAS and its kernel.

    >>> describe_blas([{"internal_api": "openblas", "version": "0.3.31", "num_threads": 1,
    ...                 "architecture": "Haswell", "filepath": "/x/libopenblas.so"}])
    'openblas 0.3.31 kernel Haswell, 1 thread(s) (libopenblas.so)'
    >>> describe_blas(None)
    'unknown (threadpoolctl is not installed)'
    """
    if libs is None:
        return "unknown (threadpoolctl is not installed)"
    return "; ".join(f"{lib['internal_api']} {lib['version']} kernel {lib['architecture']}, "
                     f"{lib['num_threads']} thread(s) ({Path(lib['filepath'] or '?').name})"
                     for lib in libs) or "none found"


def machine() -> dict:
    """What the numbers were measured on (recorded in the JSON and printed above the table).

    >>> machine()["cpus"] >= 1
    True
    """
    return {"python": platform.python_version(), "numpy": np.__version__,
            "funcgrad": funcgrad.__version__, "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "loadavg_1_5_15": os.getloadavg(), "blas": blas(),
            "threads": {v: os.environ.get(v) for v in ("BENCH_THREADS", "OPENBLAS_NUM_THREADS",
                                                       "OMP_NUM_THREADS", "MKL_NUM_THREADS")},
            "blas_env": {v: os.environ.get(v) for v in ("OPENBLAS_CORETYPE",
                                                        "OPENBLAS_L2_SIZE")}}


def main(argv: list[str] | None = None) -> int:
    """Run the selected workloads, print the table, write JSON; 1 on a mismatch or error."""
    args = parse_args(argv)
    base = QUICK if args.quick else FULL
    cfg = Config(rounds=args.rounds or base.rounds, sample_ms=base.sample_ms,
                 warmup_ms=base.warmup_ms, peers=not args.no_peers,
                 first_calls=not args.no_first_call)
    keys = [k.strip().upper() for k in args.only.split(",") if k.strip()] or list(WORKLOADS)
    unknown = [k for k in keys if k not in WORKLOADS]
    if unknown:
        print(f"unknown workload(s) {unknown}; choose from {list(WORKLOADS)}", file=sys.stderr)
        return 2
    if args.profile:
        for key in keys:
            print(profile_cell(WORKLOADS[key](), args.profile))
        return 0
    start = time.perf_counter()
    cells = []
    for key in keys:
        wl = WORKLOADS[key]()
        print(f"{key}: {wl.title} ...", file=sys.stderr, end=" ", flush=True)
        t0 = time.perf_counter()
        cells += run_workload(wl, cfg)
        print(f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
    info = machine()
    info["peers"] = {name: peers.version(name) for name in ("jax", "torch", "autograd")}
    wall = time.perf_counter() - start
    print(f"\nfuncgrad {info['funcgrad']}, numpy {info['numpy']}, Python {info['python']}, "
          f"{info['cpus']} CPUs, {benchmarks.THREADS} thread(s) per library, "
          f"{info['platform']}; peers {info['peers']}")
    forced = ", ".join(f"{k}={v}" for k, v in info["blas_env"].items() if v is not None)
    print(f"BLAS: {describe_blas(info['blas'])}"
          + (f"; {forced} is set (see benchmarks/README.md)" if forced else ""))
    print(f"{cfg.rounds} interleaved rounds of ~{cfg.sample_ms:g} ms samples per contender; "
          f"median per call; total {wall:.1f} s; load average at the end "
          f"{info['loadavg_1_5_15'][0]:.1f}; 'first call': a fresh jit's first call, once\n")
    print(format_table(cells))
    return finish(cells, args.json, {"machine": info, "config": vars(cfg), "wall_s": wall})


if __name__ == "__main__":
    raise SystemExit(main())
