"""Peak memory of one steady-state step of each contender of W1 and W2, each in a fresh process.

    python -m benchmarks.memory [--only W1,W2] [--contenders numpy,funcgrad.jit] [--steps N]
                                [--no-peers] [--json out.json]
    python -m benchmarks.memory --child W1 funcgrad.jit [--lower]    # one cell, in this process

Every (workload, contender) cell runs in its own subprocess, so that no contender's caches,
compiled code or allocator state can affect another's. In the child the step is built with the
workload's own builder (benchmarks/workloads.py), checked against the NumPy floor on the first
call, warmed up (compiles, caches; a jitted step also waits for the compilation fg.jit's
default backend starts in the background once a signature is hot, and warms up the tier that
then runs), checked again, and then measured over `--steps` steps:

- traced peak: with tracemalloc on, `reset_peak()`, one step, then the peak of the traced
  memory minus what was traced just before the step. NumPy reports its array data to
  tracemalloc, so this counts every temporary and output array plus Python objects, exactly
  and independently of the C allocator. JAX and PyTorch allocate outside Python's allocator
  (XLA buffers, c10 tensors): their traced peak misses their arrays; compare their RSS peak.
- RSS peak: `/proc/self/status` VmHWM after one step minus VmRSS just before it, the high-water
  mark reset first by writing "5" to /proc/self/clear_refs (n/a where that is not permitted).
  This sees every allocator, Python's or not. So that the baseline is the live memory and
  not what malloc keeps from earlier steps, the child tells glibc (mallopt) to serve blocks up
  to 32 MiB from its heaps and never to give memory back by itself, and calls malloc_trim(0)
  before each step: the pages the step touches are then exactly the ones it needs (a block
  freed and reused within the step counts once), and nothing is released before VmHWM is read.
  Resolution: pages (a known 4 MiB step reads 4 MiB to the page); between processes the heap's
  layout (which freed block a later allocation can reuse) moves a cell by up to ~0.4 MiB.

Both are reported in MiB with the ratio to the NumPy floor's; the target (the issue's) is
peak memory of jit(value_and_grad) on W1/W2 <= 1.1x the hand-written NumPy step (traced).

`funcgrad.jit[numpy]` and `funcgrad.jit[compiled]` pin the tier: `fg.jit(f, backend=...)` (the
workload's own contender of that name, else its funcgrad.jit one built with that keyword);
where funcgrad has no such backend, or numba is missing, the cell reads n/a. The note column
says which tier a funcgrad.jit cell ran when measured. The compiled tier's numba kernels
allocate through PyMem_RawMalloc (numba's runtime), which tracemalloc traces, so its traced
peak counts the kernels' temporaries too.

>>> format_mib(3 * 2**20), format_mib(None)
('3.000 MiB', '-')
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
import traceback
import tracemalloc
from dataclasses import asdict, dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` and `funcgrad` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import benchmarks  # noqa: E402, F401, I001  (first: it sets the thread counts before NumPy loads)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORKLOADS = ("W1", "W2")
COMPILED = "funcgrad.jit[compiled]"
# funcgrad.jit on one tier: fg.jit(f, backend=...). Plain funcgrad.jit is the default backend
# ('auto': the NumPy tier, swapped for the compiled tier once hot and compiled, if numba is
# installed).
BACKENDS = {"funcgrad.jit[numpy]": "numpy", COMPILED: "compiled"}
# Table order; NumPy first (the ratios are to it).
CONTENDERS = ("numpy", "funcgrad", "funcgrad.jit", *BACKENDS, "jax.jit", "jax", "torch",
              "autograd")
PEERS = ("jax.jit", "jax", "torch", "autograd")
# Allocate their arrays outside Python's allocator: tracemalloc does not see them.
OUTSIDE_TRACEMALLOC = ("jax.jit", "jax", "torch")
# The targets: traced peak, x the NumPy floor's, by workload and contender.
TARGETS = {w: {"funcgrad.jit": 1.1, **{c: 1.1 for c in BACKENDS}} for w in ("W1", "W2")}
MARKER = "MEMORY-RESULT "
# The child's environment: NumPy would madvise arrays of 4 MiB or more into 2 MiB huge pages,
# which rounds their RSS up; the traced peak does not depend on it.
CHILD_ENV = {"NUMPY_MADVISE_HUGEPAGE": "0"}
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3     # glibc's mallopt parameters
WARMUP_CALLS, WARMUP_S = 8, 0.3
SETTLE_TIMEOUT_S = 300.0


@dataclass
class MemCell:
    """One (workload, contender) measurement; bytes above the pre-step baseline.

    status: ok, n/a, skipped, MISMATCH or ERROR (as in the timing harness).
    """

    workload: str
    contender: str
    status: str = "ok"
    note: str = ""
    traced_peaks: list[int] = field(default_factory=list)   # one per measured step
    traced_kept: list[int] = field(default_factory=list)    # still held after the step (its result)
    rss_peaks: list[int] = field(default_factory=list)
    warmup_calls: int = 0
    tier: str = ""          # funcgrad.jit: the tier that ran when measured (numpy, compiled)
    setup_s: float = 0.0
    versions: dict = field(default_factory=dict)
    traced_ratio: float | None = None
    rss_ratio: float | None = None
    target: float | None = None
    meets_target: bool | None = None

    @property
    def traced_peak(self) -> int | None:
        """Median over the measured steps (they agree to a few hundred bytes in practice)."""
        return int(statistics.median(self.traced_peaks)) if self.traced_peaks else None

    @property
    def rss_peak(self) -> int | None:
        return int(statistics.median(self.rss_peaks)) if self.rss_peaks else None

    def as_json(self) -> dict:
        """A JSON-ready dict, with the medians.

        >>> MemCell("W1", "numpy", traced_peaks=[1, 3]).as_json()["traced_peak"]
        2
        """
        out = asdict(self)
        out["traced_peak"], out["rss_peak"] = self.traced_peak, self.rss_peak
        return out


def format_mib(nbytes: float | None) -> str:
    """Bytes as MiB: three decimals below 10 MiB, one above.

    >>> format_mib(1536 * 1024), format_mib(123.4 * 2**20)
    ('1.500 MiB', '123.4 MiB')
    """
    if nbytes is None:
        return "-"
    mib = nbytes / 2**20
    return f"{mib:.3f} MiB" if abs(mib) < 10 else f"{mib:.1f} MiB"


# --------------------------------------------------------------------------------------------
# Measuring, in the child

def _proc_status() -> dict[str, int] | None:
    """VmRSS and VmHWM of this process in bytes, or None off Linux."""
    try:
        with open("/proc/self/status") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    out = {}
    for line in lines:
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(rest.split()[0]) * 1024     # reported in kB
    return out if len(out) == 2 else None


def _reset_hwm() -> bool:
    """Reset this process's RSS high-water mark to its current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _libc():
    """glibc, for mallopt and malloc_trim, or None (another C library or platform)."""
    import ctypes
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def configure_malloc() -> bool:
    """Make glibc serve blocks up to 32 MiB from its heaps (not fresh mappings) and never
    trim them by itself; `measure_rss` trims before each step. False where not glibc."""
    libc = _libc()
    return bool(libc and libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
                and libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) and libc.mallopt(M_TOP_PAD, 0))


def rss_available() -> bool:
    """Whether the RSS high-water mark can be read and reset here.

    >>> isinstance(rss_available(), bool)
    True
    """
    return _proc_status() is not None and _reset_hwm()


def measure_traced(step, steps: int) -> tuple[list[int], list[int]]:
    """(peaks, kept): per step, the traced peak above the traced memory held just before it,
    and what the step left held (its result, alive until the next step starts).

    >>> import numpy as np
    >>> peaks, kept = measure_traced(lambda: np.ones(2**17), 2)   # a 1 MiB array
    >>> all(2**20 <= p < 2**20 + 4096 for p in peaks)
    True
    """
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    peaks, kept = [], []
    try:
        step()       # once under tracing first: tracemalloc's own tables reach their size
        for _ in range(steps):
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            result = step()
            current, peak = tracemalloc.get_traced_memory()
            peaks.append(peak - before)
            kept.append(current - before)
            del result
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return peaks, kept


def measure_rss(step, steps: int) -> list[int]:
    """Per step, the RSS high-water mark during it above the RSS just before it (empty where
    the mark cannot be reset). Run with tracemalloc off: its tables would count too."""
    if not rss_available():
        return []
    libc = _libc()
    peaks = []
    for _ in range(steps):
        gc.collect()
        if libc is not None:
            libc.malloc_trim(0)     # give back what earlier steps freed: the baseline is live
        _reset_hwm()
        before = _proc_status()["VmRSS"]
        result = step()
        peaks.append(_proc_status()["VmHWM"] - before)
        del result
    return peaks


def _warm_up(step) -> int:
    # at least as many calls as make a jitted signature hot (fg.jit's default backend then
    # compiles it in the background)
    least = max(WARMUP_CALLS, int(os.environ.get("FUNCGRAD_JIT_HOT_CALLS", "20")) + 2)
    n, t0 = 0, time.perf_counter()
    while n < least or (time.perf_counter() - t0 < WARMUP_S and n < 1000):
        step()
        n += 1
    return n


def _settle(made: list, step) -> tuple[int, str]:
    """Reach the steady state of a jitted step: fg.jit's default backend compiles a hot
    signature on a background thread and swaps it in when ready; wait for that (a compile
    in flight would be measured too), warm up the tier that now runs, and wait again.
    (calls made, the tiers that run)."""
    from benchmarks.harness import jit_stages
    calls = 0
    for _ in range(2):
        calls += _warm_up(step)
        for stage in jit_stages(made):
            stage.wait(SETTLE_TIMEOUT_S)
    return calls, ",".join(sorted({stage.tier for stage in jit_stages(made)}))


class _NoSuchContender(LookupError):
    pass


def child(key: str, contender: str, steps: int = 5, lower: bool = False,
          log=sys.stderr) -> MemCell:
    """Build, check, warm up and measure one cell in this process (see the module docstring)."""
    from benchmarks import peers
    from benchmarks.harness import Mismatch, check_close, recording_jits
    from benchmarks.workloads import WORKLOADS

    cell = MemCell(key, contender)
    malloc_configured = configure_malloc()
    t0 = time.perf_counter()
    backend, made = None, []
    try:
        wl = WORKLOADS[key]()
        builders = {c.name: c.build for c in wl.contenders}
        name = contender
        if contender in BACKENDS and contender not in builders:
            # a workload without its own such contender: its funcgrad.jit one, built with
            # fg.jit(..., backend=...)
            name, backend = "funcgrad.jit", BACKENDS[contender]
            if backend == "compiled" and importlib.util.find_spec("numba") is None:
                raise NotImplementedError("the compiled tier needs numba, not installed")
        if name not in builders:
            raise _NoSuchContender(f"{key} has no such contender (it has {list(builders)})")
        ref = [peers.to_numpy(a) for a in wl.reference()]
        with recording_jits(made, backend):
            step = builders[name]()
        check_close(wl.view(peers.to_numpy(step())), ref, wl.rtol)
        cell.warmup_calls, cell.tier = _settle(made, step)
        check_close(wl.view(peers.to_numpy(step())), ref, wl.rtol)
        del ref
    except (peers.Unavailable, _NoSuchContender) as e:
        cell.status, cell.note = "skipped", str(e)
    except NotImplementedError as e:
        cell.status, cell.note = "n/a", f"NotImplementedError: {e}"
    except (TypeError, ValueError) as e:
        if backend is not None and "backend" in str(e):
            cell.status, cell.note = "n/a", f"backend={backend!r}: {e}"
        else:
            cell.status, cell.note = "ERROR", f"{type(e).__name__}: {e}"
            traceback.print_exc(file=log)
    except Mismatch as e:
        cell.status, cell.note = "MISMATCH", str(e)
    except Exception as e:
        cell.status, cell.note = "ERROR", f"{type(e).__name__}: {e}"
        traceback.print_exc(file=log)
    cell.setup_s = time.perf_counter() - t0
    cell.versions = {name: peers.version(name) for name in ("jax", "torch", "autograd")
                     if peers.version(name)}
    if cell.status != "ok":
        return cell
    cell.traced_peaks, cell.traced_kept = measure_traced(step, steps)
    cell.rss_peaks = measure_rss(step, steps)
    if not cell.rss_peaks:
        cell.note = "RSS n/a (/proc/self/clear_refs not writable)"
    elif not malloc_configured:
        cell.note = "RSS: not glibc, malloc's retained memory is not trimmed"
    if contender in OUTSIDE_TRACEMALLOC:
        cell.note = "allocates outside Python's allocator: compare RSS"
    if cell.tier:
        cell.note = "; ".join(filter(None, [f"{cell.tier} tier", cell.note]))
    if lower:
        _print_lowered(made, log)
    return cell


def _print_lowered(made: list, log) -> None:
    """The generated code and cost estimate of every signature the jitted step compiled."""
    for jitted in made:
        for stage in getattr(jitted, "_cache", {}).values():
            print(stage.as_text(), file=log)
            with contextlib.suppress(Exception):
                cost = {k: v for k, v in stage.cost().items() if not isinstance(v, list)}
                print(f"# cost estimate: {cost}", file=log)


# --------------------------------------------------------------------------------------------
# Running the cells, in the parent

def run_cell(key: str, contender: str, steps: int = 5, timeout: float = 600.0) -> MemCell:
    """Measure one cell in a fresh `python -m benchmarks.memory --child` process."""
    env = {**os.environ, **CHILD_ENV}
    cmd = [sys.executable, "-m", "benchmarks.memory", "--child", key, contender,
           "--steps", str(steps)]
    try:
        out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=timeout)
    except subprocess.TimeoutExpired:
        return MemCell(key, contender, "ERROR", f"timed out after {timeout:g} s")
    cell = parse_child_output(out.stdout)
    if cell is None:
        tail = (out.stderr or out.stdout).strip().splitlines()[-1:] or ["no output"]
        return MemCell(key, contender, "ERROR", f"child exited {out.returncode}: {tail[0]}")
    if cell.status in ("ERROR", "MISMATCH") and out.stderr.strip():
        print(out.stderr, file=sys.stderr)
    return cell


def parse_child_output(stdout: str) -> MemCell | None:
    """The MemCell a child printed (its last MARKER line), or None.

    >>> c = parse_child_output('noise\\nMEMORY-RESULT {"workload": "W1", "contender": "numpy", '
    ...                        '"traced_peaks": [10, 30, 20]}\\n')
    >>> c.contender, c.traced_peak
    ('numpy', 20)
    >>> parse_child_output("Traceback ...") is None
    True
    """
    lines = [line for line in stdout.splitlines() if line.startswith(MARKER)]
    if not lines:
        return None
    data = json.loads(lines[-1][len(MARKER):])
    known = MemCell.__dataclass_fields__
    return MemCell(**{k: v for k, v in data.items() if k in known})


def score(cells: list[MemCell]) -> None:
    """Fill in the ratios to each workload's NumPy floor and the target verdicts.

    >>> cells = [MemCell("W1", "numpy", traced_peaks=[100]),
    ...          MemCell("W1", "funcgrad.jit", traced_peaks=[120])]
    >>> score(cells)
    >>> cells[1].traced_ratio, cells[1].meets_target
    (1.2, False)
    """
    floors = {c.workload: c for c in cells if c.contender == "numpy" and c.status == "ok"}
    for c in cells:
        floor = floors.get(c.workload)
        if c.status != "ok" or floor is None:
            continue
        if c.traced_peak is not None and floor.traced_peak and \
                c.contender not in OUTSIDE_TRACEMALLOC:
            c.traced_ratio = c.traced_peak / floor.traced_peak
        if c.rss_peak is not None and floor.rss_peak:
            c.rss_ratio = c.rss_peak / floor.rss_peak
        c.target = TARGETS.get(c.workload, {}).get(c.contender)
        if c.target is not None and c.traced_ratio is not None:
            c.meets_target = c.traced_ratio <= c.target


def format_table(cells: list[MemCell]) -> str:
    """The cells as a Markdown table: traced and RSS peak above the baseline, ratios, target.

    >>> cells = [MemCell("W1", "numpy", traced_peaks=[2**20], rss_peaks=[2**20]),
    ...          MemCell("W1", "funcgrad.jit", traced_peaks=[2**20], rss_peaks=[2**21]),
    ...          MemCell("W1", "jax", "skipped", "not importable")]
    >>> score(cells)
    >>> print(format_table(cells))      # doctest: +NORMALIZE_WHITESPACE
    | workload | contender | traced peak | vs numpy | RSS peak | vs numpy | target | note |
    | --- | --- | --- | --- | --- | --- | --- | --- |
    | W1 | numpy | 1.000 MiB | 1.00x | 1.000 MiB | 1.00x |  |  |
    | W1 | funcgrad.jit | 1.000 MiB | 1.00x | 2.000 MiB | 2.00x | <= 1.1x ok |  |
    | W1 | jax | skipped |  |  |  |  | not importable |
    """
    rows = [("workload", "contender", "traced peak", "vs numpy", "RSS peak", "vs numpy",
             "target", "note"), ("---",) * 8]
    for c in cells:
        if c.status != "ok":
            rows.append((c.workload, c.contender, c.status, "", "", "", "", c.note[:80]))
            continue
        verdict = ""
        if c.target is not None and c.meets_target is not None:
            verdict = f"<= {c.target:g}x {'ok' if c.meets_target else 'MISSED'}"
        rows.append((c.workload, c.contender, format_mib(c.traced_peak), _ratio(c.traced_ratio),
                     format_mib(c.rss_peak), _ratio(c.rss_ratio), verdict, c.note))
    return "\n".join("| " + " | ".join(r) + " |" for r in rows)


def _ratio(r: float | None) -> str:
    return "" if r is None else f"{r:.2f}x"


# --------------------------------------------------------------------------------------------
# Command line

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command-line options.

    >>> a = parse_args(["--only", "W2", "--steps", "3"])
    >>> a.only, a.steps, a.child
    ('W2', 3, None)
    >>> parse_args(["--child", "W1", "numpy"]).child
    ['W1', 'numpy']
    """
    p = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default=",".join(DEFAULT_WORKLOADS),
                   help="comma-separated workloads (default W1,W2)")
    p.add_argument("--contenders", default="",
                   help=f"comma-separated contenders (default all: {','.join(CONTENDERS)})")
    p.add_argument("--steps", type=int, default=5, help="measured steps per cell (default 5)")
    p.add_argument("--no-peers", action="store_true", help="skip jax, torch and autograd")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--child", nargs=2, metavar=("WORKLOAD", "CONTENDER"),
                   help="measure one cell in this process and print it as JSON")
    p.add_argument("--lower", action="store_true",
                   help="with --child: also print the jitted step's generated code and cost")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Measure the selected cells, each in a fresh process; print the table; 1 on a mismatch
    or an error."""
    args = parse_args(argv)
    if args.child:
        cell = child(*args.child, steps=args.steps, lower=args.lower)
        print(MARKER + json.dumps(cell.as_json()), flush=True)
        return 0
    from benchmarks.workloads import WORKLOADS
    keys = [k.strip().upper() for k in args.only.split(",") if k.strip()]
    names = [n.strip() for n in args.contenders.split(",") if n.strip()] or list(CONTENDERS)
    if args.no_peers:
        names = [n for n in names if n not in PEERS]
    unknown = [k for k in keys if k not in WORKLOADS] + [n for n in names
                                                         if n not in CONTENDERS]
    if unknown:
        print(f"unknown workload(s) or contender(s) {unknown}; choose from "
              f"{list(WORKLOADS)} and {list(CONTENDERS)}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    cells = []
    for key in keys:
        for name in names:
            print(f"{key} {name} ...", file=sys.stderr, end=" ", flush=True)
            t0 = time.perf_counter()
            cells.append(run_cell(key, name, args.steps))
            print(f"{cells[-1].status}, {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    score(cells)
    from benchmarks.run import machine
    info = machine()
    info["peers"] = {k: v for c in cells for k, v in c.versions.items()}
    wall = time.perf_counter() - start
    print(f"\nfuncgrad {info['funcgrad']}, numpy {info['numpy']}, Python {info['python']}, "
          f"{info['platform']}; peers {info['peers']}")
    print(f"Peak memory of one steady-state step above the memory held before it; median of "
          f"{args.steps} steps, each cell in a fresh process; total {wall:.1f} s. traced: "
          f"tracemalloc (NumPy's arrays + Python objects); RSS: VmHWM - VmRSS after "
          f"malloc_trim.\n")
    print(format_table(cells))
    from benchmarks.harness import finish
    return finish(cells, args.json, {"machine": info, "steps": args.steps,
                                     "child_env": CHILD_ENV, "wall_s": wall})


if __name__ == "__main__":
    raise SystemExit(main())
