"""Check, then time, the contenders of a workload in one process, in interleaved rounds.

Method: every contender's result is compared with the NumPy floor first, on the first call
and again after the warmup (a jitted function's cached path); a mismatch is reported loudly,
that contender is not timed, and the run exits with status 1. Each contender is warmed up and
given an inner repeat count so that one sample lasts about `sample_ms`; then `rounds` rounds
each take one sample of every contender, in an order rotated each round, so that drift in
machine speed (other processes, turbo, thermal) falls on all contenders alike. The result is
the median per-call time over the rounds, and the ratio of medians to NumPy's.

A step built with `fg.jit` is first brought to its steady state: fg.jit's default backend
swaps in its compiled tier on a background thread once a function is hot, so the harness calls
the step until it is hot and waits for that compilation (the note then names the tier that
ran). A contender whose name contains "jit" also gets its compile cost measured: after its checks,
a fresh step is built (a fresh function and jit object) and its first call is timed once
(`Cell.first_call_ns`: trace + compile + one run, with the process's imports and the library's
process-wide state already warm) and checked like the others.

>>> from benchmarks.harness import Config, run_workload
>>> from benchmarks.workloads import WORKLOADS
>>> cells = run_workload(WORKLOADS["W3"](), Config(rounds=1, sample_ms=1, warmup_ms=1,
...                                                peers=False))     # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
import gc
import json
import os
import statistics
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .peers import Unavailable, to_numpy
from .workloads import Contender, Workload

PEERS = ("jax", "jax.jit", "torch", "autograd")


@dataclass
class Config:
    """How long to measure: `rounds` samples per contender, each about `sample_ms` long."""

    rounds: int = 20
    sample_ms: float = 20.0
    warmup_ms: float = 200.0
    peers: bool = True
    first_calls: bool = True  # time a fresh jit's first call (jit contenders)


@dataclass
class Cell:
    """One (workload, contender) result. status: ok, n/a, skipped, MISMATCH or ERROR."""

    workload: str
    contender: str
    status: str = "ok"
    note: str = ""
    inner: int = 0
    samples_ns: list[float] = field(default_factory=list)
    ratio: float | None = None
    setup_s: float = 0.0  # build + check + warmup (JAX's compile, a peer's import)
    first_call_ns: float | None = None  # a fresh jit's first call (jit contenders only)
    target: str = ""
    meets_target: bool | None = None

    @property
    def median_ns(self) -> float | None:
        return statistics.median(self.samples_ns) if self.samples_ns else None

    @property
    def iqr_pct(self) -> float | None:
        """Interquartile range of the samples, in % of the median (the noise of this cell)."""
        if len(self.samples_ns) < 4:
            return None
        q1, _, q3 = statistics.quantiles(self.samples_ns, n=4)
        return 100.0 * (q3 - q1) / self.median_ns

    def as_json(self) -> dict:
        """A JSON-ready dict of this cell (times in nanoseconds).

        >>> Cell("W3", "numpy", samples_ns=[1.0, 3.0]).as_json()["median_ns"]
        2.0
        """
        return {"workload": self.workload, "contender": self.contender,
                "status": self.status, "note": self.note, "median_ns": self.median_ns,
                "iqr_pct": self.iqr_pct, "ratio_to_numpy": self.ratio, "inner": self.inner,
                "min_ns": min(self.samples_ns, default=None), "setup_s": self.setup_s,
                "first_call_ns": self.first_call_ns,
                "rounds": len(self.samples_ns), "target": self.target,
                "meets_target": self.meets_target, "samples_ns": self.samples_ns}


class Mismatch(AssertionError):
    """A contender's result differs from the NumPy floor's."""


def check_close(got: list[np.ndarray], ref: list[np.ndarray], rtol: float) -> None:
    """Raise Mismatch unless each array matches the reference (shape, and values to `rtol`
    relative to the largest reference entry, so tiny entries do not need tiny relative error).

    >>> check_close([np.ones(2)], [np.ones(2) + 1e-12], 1e-9)
    """
    if len(got) != len(ref):
        raise Mismatch(f"{len(got)} outputs, the NumPy floor has {len(ref)}")
    for i, (a, b) in enumerate(zip(got, ref)):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if a.shape != b.shape:
            raise Mismatch(f"output {i}: shape {a.shape}, the NumPy floor has {b.shape}")
        scale = float(np.max(np.abs(b))) if b.size else 0.0
        if not np.allclose(a, b, rtol=rtol, atol=rtol * scale):
            err = float(np.max(np.abs(a - b)))
            raise Mismatch(f"output {i} (shape {b.shape}): max abs error {err:.3g}, "
                           f"largest |value| {scale:.3g}, rtol {rtol:g}")


def _sample(fn, inner: int) -> float:
    gc.collect()  # start each sample from a clean heap; gc stays on, as in real use
    t0 = time.perf_counter_ns()
    for _ in range(inner):
        fn()
    return (time.perf_counter_ns() - t0) / inner


def _calibrate(fn, cfg: Config) -> int:
    """Warm up, and pick the inner repeat count that makes a sample about cfg.sample_ms,
    from calls after the warm-up (one slow call in it, a compilation say, must not make
    every sample a single call, which runs with caches cold after the sample's gc.collect)."""
    for phase in range(2):
        n, t0 = 0, time.perf_counter_ns()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter_ns() - t0
            if (n >= 2 and elapsed >= cfg.warmup_ms * 1e6 / (1 + phase)) or n >= 10_000:
                break
    return max(1, min(100_000, round(cfg.sample_ms * 1e6 / (elapsed / n))))


@contextlib.contextmanager
def recording_jits(made: list, backend: str | None = None):
    """While a contender is built, `fg.jit` (as the workloads call it) records the jitted
    functions it makes in `made`, and passes `backend=` when one is given."""
    import funcgrad as fg
    original = fg.jit

    def jit(fun=None, *args, **kwargs):
        if backend is not None:
            kwargs["backend"] = backend
        out = original(fun, *args, **kwargs)
        made.append(out)
        return out
    fg.jit = jit
    try:
        yield
    finally:
        fg.jit = original


def jit_stages(made: list) -> list:
    """The compiled stages (one per signature) of the jitted functions in `made`."""
    return [stage for jitted in made for stage in jitted._cache.values()]


def _settle(made: list, fn, timeout_s: float = 600.0) -> str:
    """Bring a funcgrad jit step to its steady state and name the tier(s) that run.

    fg.jit's default backend runs the NumPy tier, and once a signature has been called
    $FUNCGRAD_JIT_HOT_CALLS times (20) compiles it on a background thread and swaps the compiled
    tier in. Call the step until every signature is that hot, then wait for the compilations:
    a compile in flight would run during the samples, and a swap mid-run would mix two tiers."""
    hot = int(os.environ.get("FUNCGRAD_JIT_HOT_CALLS", "20"))
    for _ in range(hot + 2):
        stages = jit_stages(made)
        if stages and all(st.backend != "auto" or st.calls >= hot for st in stages):
            break
        fn()
    stages = jit_stages(made)
    for st in stages:
        st.wait(timeout_s)
    tiers = sorted({st.tier for st in stages})
    errors = {st.native_error for st in stages if st.native_error}
    note = f"{'+'.join(tiers)} tier" if tiers else ""
    if errors and stages[0].backend != "numpy":
        note += f" (compiled tier refused: {sorted(errors)[0][:60]})"
    return note


def _program_keys() -> set:
    from funcgrad.run import programs
    return set(programs.programs)


def _settle_eager(fn, known: set, timeout_s: float = 600.0) -> str:
    """The same for an eager step: its recorded programs (those not in `known`) move to the
    compiled tier as jitted functions do (after $FUNCGRAD_JIT_HOT_CALLS runs, in the
    background); the tiers they run."""
    from funcgrad.run import programs, tiers
    for _ in range(int(os.environ.get("FUNCGRAD_JIT_HOT_CALLS", "20")) + 2):
        fn()
    tiers.wait_idle(timeout_s)
    ran = [p for k, p in programs.programs.items()
           if k not in known and p is not programs.GENERAL]
    found = sorted({half.tier for p in ran for half in (p.fwd, p.bwd)})
    return f"programs: {'+'.join(found)} tier" if found else ""


def finish(cells: list, json_path: str | None, report: dict) -> int:
    """End of a command line run: `report` plus the cells' results written to `json_path`
    (if given); exit status 1 (and the cells named) if a result differed from NumPy's or
    raised an unexpected error."""
    if json_path:
        out = {**report, "results": [c.as_json() for c in cells]}
        Path(json_path).write_text(json.dumps(out, indent=1))
    bad = [f"{c.workload} {c.contender}" for c in cells if c.status in ("MISMATCH", "ERROR")]
    if bad:
        print(f"\nFAILED: {', '.join(bad)} (see above)", file=sys.stderr)
        return 1
    return 0


def _first_call(c: Contender, wl: Workload, ref: list[np.ndarray]) -> float:
    """Build a fresh step of `c` and time its first call once (ns); its result is checked."""
    fn = c.build()
    gc.collect()
    t0 = time.perf_counter_ns()
    out = fn()
    elapsed = time.perf_counter_ns() - t0
    check_close(wl.view(to_numpy(out)), ref, wl.rtol)
    return elapsed


def is_peer(name: str) -> bool:
    """Whether a contender is a peer library's (skipped by --no-peers).

    >>> is_peer("jax.jit(loop)"), is_peer("torch"), is_peer("funcgrad.jit")
    (True, True, False)
    """
    return name.split("(")[0] in PEERS


def run_workload(wl: Workload, cfg: Config, log=sys.stderr) -> list[Cell]:
    """Check every contender against the NumPy floor, then time them in interleaved rounds."""
    ref = [np.asarray(a) for a in wl.reference()]
    cells, ready = [], []
    for c in wl.contenders:
        cell = Cell(wl.key, c.name)
        cells.append(cell)
        if not cfg.peers and is_peer(c.name):
            cell.status, cell.note = "skipped", "--no-peers"
            continue
        t0 = time.perf_counter()
        setup_end = None
        try:
            made: list = []
            known = _program_keys()
            with recording_jits(made):
                fn = c.build()
            check_close(wl.view(to_numpy(fn())), ref, wl.rtol)
            if made and not wl.first_call:
                cell.note = _settle(made, fn)
            elif c.name.split("(")[0] == "funcgrad" and not wl.first_call:
                cell.note = _settle_eager(fn, known)
            # A jitted step runs its compiled (cached) path from the second call on: check it.
            cell.inner = 1 if wl.first_call else _calibrate(fn, cfg)
            check_close(wl.view(to_numpy(fn())), ref, wl.rtol)
            setup_end = time.perf_counter()
            if cfg.first_calls and "jit" in c.name and not wl.first_call:
                cell.first_call_ns = _first_call(c, wl, ref)
        except Unavailable as e:
            cell.status, cell.note = "skipped", str(e)
        except NotImplementedError as e:
            cell.status, cell.note = "n/a", f"NotImplementedError: {e}"
        except Mismatch as e:
            cell.status, cell.note = "MISMATCH", str(e)
            print(f"\n*** {wl.key} {c.name}: RESULT DIFFERS FROM NUMPY: {e}\n", file=log)
        except Exception as e:
            cell.status, cell.note = "ERROR", f"{type(e).__name__}: {e}"
            print(f"\n*** {wl.key} {c.name} raised:", file=log)
            traceback.print_exc(file=log)
        else:
            ready.append((cell, fn))
        cell.setup_s = (setup_end or time.perf_counter()) - t0
    # Move everything alive now (the peers' modules above all) out of the collector's reach:
    # collections during the samples then cost the same whatever libraries are loaded.
    gc.collect()
    gc.freeze()
    for r in range(cfg.rounds):
        k = r % len(ready) if ready else 0
        for cell, fn in ready[k:] + ready[:k]:
            cell.samples_ns.append(_sample(fn, cell.inner))
    _score(wl, cells)
    return cells


def profile_cell(wl: Workload, contender: str, seconds: float = 1.0, top: int = 15) -> str:
    """cProfile one contender of `wl` for about `seconds`; the top functions by own time and
    by cumulative time, as text.

    >>> from benchmarks.workloads import WORKLOADS
    >>> print(profile_cell(WORKLOADS["W3"](), "funcgrad", seconds=0.1))   # doctest: +SKIP
    """
    import cProfile
    import io
    import pstats

    c = next(c for c in wl.contenders if c.name == contender)
    fn = c.build()
    fn()
    n = 1 if wl.first_call else max(1, round(seconds * 1e9 / _sample(fn, _calibrate(
        fn, Config(sample_ms=10.0, warmup_ms=50.0)))))
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        fn()
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    out.write(f"== {wl.key} {contender}: {n} calls under cProfile ==\n")
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def _score(wl: Workload, cells: list[Cell]) -> None:
    floor = next((c.median_ns for c in cells if c.contender == "numpy" and c.median_ns), None)
    for cell in cells:
        med, target = cell.median_ns, wl.targets.get(cell.contender)
        if target is not None:
            cell.target = target.describe()   # shown on n/a and skipped cells too
        if med is None:
            continue
        if floor and not wl.first_call:
            cell.ratio = med / floor
        if target is not None:
            value = cell.ratio if target.kind == "ratio" else med / 1e3
            cell.meets_target = value is not None and value <= target.value


def format_time(ns: float | None) -> str:
    """A duration in ns, in the unit that reads best.

    >>> format_time(1234.0), format_time(2.5e6), format_time(None)
    ('1.23 us', '2.50 ms', '-')
    """
    if ns is None:
        return "-"
    if ns < 1e3:
        return f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:#.3g} us" if ns < 1e5 else f"{ns / 1e3:.0f} us"
    if ns < 1e9:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e9:.2f} s"


def format_table(cells: list[Cell]) -> str:
    """The results as a Markdown table: median, ratio to NumPy, noise, a fresh jit's first
    call, target.

    >>> print(format_table([Cell("W3", "numpy", samples_ns=[2000.0], ratio=1.0)]).splitlines()[2])
    | W3 | numpy | 2.00 us | 1.00x |  |  |  |  |
    """
    rows = [("workload", "contender", "median", "vs numpy", "IQR", "first call", "target",
             "note"), ("---",) * 8]
    for c in cells:
        first = format_time(c.first_call_ns) if c.first_call_ns is not None else ""
        if c.status != "ok":
            rows.append((c.workload, c.contender, c.status, "", "", first, c.target,
                         c.note[:70]))
            continue
        ratio = f"{c.ratio:.2f}x" if c.ratio is not None else ""
        iqr = f"{c.iqr_pct:.0f}%" if c.iqr_pct is not None else ""
        verdict = ""
        if c.target:
            verdict = f"{c.target} {'ok' if c.meets_target else 'MISSED'}"
        rows.append((c.workload, c.contender, format_time(c.median_ns), ratio, iqr, first,
                     verdict, c.note))
    return "\n".join("| " + " | ".join(r) + " |" for r in rows)
