"""Long-run fuzzing: `python -m tests.fuzz --programs 10000 [--seed S] [--jobs 2] [--nonfinite]
[--oracle jax]`.

Runs hypothesis-generated programs through every oracle outside pytest. A failing program is
shrunk by hypothesis and printed as runnable source; the run then goes on with the next seed
until the requested number of programs has been generated. Prints the programs run, the
mismatches (programs with at least one oracle disagreeing, by oracle) and the op kinds covered.

`--oracle jax` adds an external oracle (tests/fuzz/jax_oracle.py): values, gradient, JVP and
Hessian-vector product of every program compared with JAX's in float64. JAX is a development
tool only; without it the flag says so and the run stops (exit status 2).
"""
from __future__ import annotations

import argparse
import collections
import multiprocessing
import sys
import time
import warnings

from hypothesis import HealthCheck, Phase, given, seed, settings

from .oracles import check_program, default_oracles, report
from .programs import KINDS, NONFINITE_KINDS, programs


class _Found(AssertionError):
    pass


def run(n: int, start_seed: int, max_ops: int, nonfinite: bool = False,
        verbose: bool = True, extra: tuple = (), kinds: tuple | None = None) -> dict:
    """Generate and check `n` programs (with the `extra` oracles, e.g. ("jax",), as well as
    the default ones); returns counts and the shrunk failure reports."""
    stats = {"programs": 0, "mismatches": 0, "by_oracle": collections.Counter(),
             "kinds": collections.Counter(), "reports": [], "excused": collections.Counter()}
    excused = collections.Counter()
    if "jax" in extra:
        from . import jax_oracle
        jax_oracle.register()
        excused = jax_oracle.EXCUSED
    oracles = default_oracles(nonfinite) + tuple(extra)
    k, state = 0, {"failed": False}
    while stats["programs"] < n:
        state["failed"] = False

        @seed(start_seed * 100_003 + k)
        @settings(max_examples=n - stats["programs"], deadline=None, database=None,
                  derandomize=False, report_multiple_bugs=False, print_blob=False,
                  phases=(Phase.generate, Phase.shrink),
                  suppress_health_check=list(HealthCheck))
        @given(programs(max_ops=max_ops,
                        kinds=kinds or (NONFINITE_KINDS if nonfinite else KINDS)))
        def one(prog):
            before = excused.copy()
            found = check_program(prog, oracles, nonfinite=nonfinite)
            if not state["failed"]:     # count generated programs, not shrinking attempts
                stats["programs"] += 1
                stats["excused"].update(excused - before)
                for op in prog.ops:
                    stats["kinds"][op.kind] += 1
                if found:
                    state["failed"] = True
                    stats["mismatches"] += 1
                    stats["by_oracle"].update({m.oracle for m in found})
            if found:
                raise _Found(report(prog, found, nonfinite))

        try:
            one()
        except _Found as err:
            stats["reports"].append(str(err))
            if verbose:
                print(f"\n=== mismatch (seed {start_seed}, run {k}), shrunk:\n{err}", flush=True)
        k += 1
    return stats


def _worker(job):
    warnings.simplefilter("ignore")
    return run(*job)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    parser.add_argument("--programs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-ops", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--nonfinite", action="store_true",
                        help="arguments with nan/inf entries (values and no-crash oracles)")
    parser.add_argument("--kinds", default=None,
                        help="comma-separated op kinds to draw (default: all; e.g. breadth)")
    parser.add_argument("--oracle", action="append", default=[], choices=["jax", "compiled"],
                        help="add an external oracle: `jax` compares values and derivatives "
                             "with JAX (float64; needs jax importable), `compiled` runs jit "
                             "on the compiled tier against the NumPy tier (needs numba)")
    a = parser.parse_args(argv)
    extra = tuple(dict.fromkeys(a.oracle))
    if "jax" in extra:
        from .jax_oracle import available
        if not available():
            print("--oracle jax: JAX is not importable in this Python "
                  f"({sys.executable}); install jax (a development-only dependency) or "
                  "run without --oracle jax", file=sys.stderr)
            return 2
        if a.nonfinite:
            print("--oracle jax: the JAX oracle compares finite programs only; "
                  "it is not run with --nonfinite", file=sys.stderr)
            return 2
    warnings.simplefilter("ignore")   # the programs' own numerical warnings
    t0 = time.perf_counter()
    shares = [a.programs // a.jobs + (i < a.programs % a.jobs) for i in range(a.jobs)]
    kinds = tuple(a.kinds.split(",")) if a.kinds else None
    unknown = set(kinds or ()) - set(KINDS)
    if unknown:
        print(f"--kinds: unknown op kinds {sorted(unknown)}; the kinds are {sorted(set(KINDS))}",
              file=sys.stderr)
        return 2
    jobs = [(m, a.seed * 1000 + i, a.max_ops, a.nonfinite, True, extra, kinds)
            for i, m in enumerate(shares) if m]
    if len(jobs) == 1:
        results = [run(*jobs[0])]
    else:
        with multiprocessing.get_context("fork").Pool(len(jobs)) as pool:
            results = pool.map(_worker, jobs)
    total = {"programs": 0, "mismatches": 0, "by_oracle": collections.Counter(),
             "kinds": collections.Counter(), "excused": collections.Counter()}
    for r in results:
        for key in total:
            total[key] += r[key]
    elapsed = time.perf_counter() - t0
    print(f"\nprograms run: {total['programs']}  mismatches: {total['mismatches']}  "
          f"({elapsed:.0f} s, seed {a.seed}, {a.jobs} job(s), max {a.max_ops} ops)")
    if total["by_oracle"]:
        print("mismatches by oracle: " + ", ".join(f"{k}={v}" for k, v in
                                                   sorted(total["by_oracle"].items())))
    if extra:
        print(f"extra oracles: {', '.join(extra)}")
    if total["excused"]:
        from .jax_oracle import DIFFERENCES
        print("jax: programs excused by a known difference met at their arguments: " +
              ", ".join(f"{k}={v}" for k, v in sorted(total["excused"].items())))
        for k in sorted(total["excused"]):
            print(f"  {k}: {DIFFERENCES[k][1]}")
    print("ops generated: " + ", ".join(f"{k}={v}" for k, v in total["kinds"].most_common()))
    return 1 if total["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
