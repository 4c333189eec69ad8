"""Tiers: a compiled graph that runs its NumPy code and, where asked, moves to the compiled
tier (numba kernels, compile/native.py). jit's stages and the eager executor's whole-call
programs are both `Tiered`.

Backends: 'numpy' runs the NumPy code only; 'compiled' compiles the kernels at the first call;
'auto' (the default) compiles them on a background thread once the function has been called
$FUNCGRAD_JIT_HOT_CALLS times (20), and swaps them in only if they reproduce the NumPy code's
result and run faster.
"""
from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable

import numpy as np

from ..compile import native
from ..core.ir import Graph
from . import allocator

BACKENDS = ("numpy", "compiled", "auto")


def _hot_calls() -> int:
    return int(os.environ.get("FUNCGRAD_JIT_HOT_CALLS", "20"))


class Tiered:
    """`graph` (optimised) and `fn`, its generated NumPy code; calling it runs the tier that
    is current (`.tier`: 'numpy' or 'compiled'). With the compiled tier (backend 'compiled'
    or 'auto'), `.wait()` blocks until its compilation has finished (or failed:
    `.native_error` says why, and the NumPy code goes on running).

    >>> import numpy as np
    >>> from funcgrad import make_graph
    >>> from funcgrad.compile.codegen import compile_graph
    >>> g = make_graph(lambda x: x * 2.0)(np.ones(3))
    >>> t = Tiered(g, compile_graph(g, "double")[0], "numpy", "double")
    >>> t(np.ones(3))[0].tolist(), t.tier
    ([2.0, 2.0, 2.0], 'numpy')
    """

    def __init__(self, graph: Graph, fn: Callable, backend: str = "numpy",
                 name: str = "compiled", copy_outputs: bool = True):
        allocator.tune()    # compiled code allocates alike call after call: see allocator.py
        self.graph, self.fn, self.numpy_fn = graph, fn, fn
        self.backend, self.name = backend, name
        self.copy_outputs = copy_outputs     # as `fn` was generated (codegen.generate)
        self.tier = "numpy"
        self.native = None                 # the NativeProgram, once compiled and checked
        self.native_error: str | None = None
        self.calls = 0
        self._done = threading.Event()
        if backend == "numpy":
            self._done.set()
        elif backend == "compiled":
            self.fn = self._first_call
        else:
            self.fn = self._warm_call

    def wait(self, timeout: float | None = None) -> str:
        """Wait for the compiled tier (if one was asked for); the tier that now runs."""
        self._done.wait(timeout)
        return self.tier

    # -- the compiled tier: compiled at the first call, or in the background once hot
    def _first_call(self, *flat):
        out = self.numpy_fn(*flat)
        self._compile_native(flat, out)
        return out

    def _warm_call(self, *flat):
        out = self.numpy_fn(*flat)
        self.calls += 1
        if self.calls == _hot_calls():
            self.fn = self.numpy_fn      # stop counting; the compiled tier swaps itself in
            args = [_copy(a) if type(a) is np.ndarray else a for a in flat]
            ref = [np.array(o, copy=True) for o in out]
            _submit(self._compile_native, args, ref)
        return out

    def _compile_native(self, args, reference) -> None:
        try:
            prog = native.build(self.graph, args, reference, self.numpy_fn, self.name,
                                self.copy_outputs)
            if self.backend == "auto":
                # swapped in only where it is faster: a kernel can lose to NumPy's SIMD
                # functions and BLAS calls on large arrays
                t_numpy, t_native = _best_time(self.numpy_fn, args), _best_time(prog.fn, args)
                if t_native > 0.95 * t_numpy:
                    raise native.Mismatch(
                        f"the compiled tier measured slower ({t_native * 1e6:.1f} us vs "
                        f"{t_numpy * 1e6:.1f} us a call), so the NumPy tier runs")
        except native.Mismatch as err:
            self.native_error = str(err)
        except Exception as err:     # an unexpected failure leaves the NumPy tier running
            self.native_error = f"{type(err).__name__}: {err}"
        else:
            self.native, self.tier, self.fn = prog, "compiled", prog.fn
        finally:
            if self.fn in (self._first_call, self._warm_call):
                self.fn = self.numpy_fn
            self._done.set()

    def __call__(self, *flat_args):
        return self.fn(*flat_args)


def _copy(a: np.ndarray) -> np.ndarray:
    """A copy that is read-only where `a` is: numba compiles a kernel per argument type, and
    read-only arrays (the constants an eager program reads) are a type of their own, which
    would otherwise be compiled on the calling thread at the first call after the swap."""
    c = a.copy()
    c.flags.writeable = a.flags.writeable
    return c


def _best_time(fn, args, budget: float = 0.05) -> float:
    """The fastest of a few calls (within about `budget` seconds), in this thread's CPU time:
    the compile thread measures while the program goes on, and wall time there also counts
    waiting for the GIL or for a core (a benchmark saw the compiled tier of W8 measure 33 ms
    a call instead of 1.4 with other threads busy, and keep the slower tier)."""
    best, spent, n = float("inf"), 0.0, 0
    while n < 3 or (spent < budget and n < 50):
        t = time.thread_time()
        fn(*args)
        dt = time.thread_time() - t
        best, spent, n = min(best, dt), spent + dt, n + 1
    return best


_jobs: queue.SimpleQueue | None = None
_jobs_lock = threading.Lock()
_idle = threading.Condition()
_pending = [0]          # compilations queued or running


def _submit(fn, *args) -> None:
    """Queue `fn(*args)` (a `_compile_native`, which catches its own errors) for the one
    thread that compiles hot functions to the compiled tier. A daemon: a program that ends
    while it compiles does not wait for numba."""
    global _jobs
    with _jobs_lock:
        if _jobs is None:
            _jobs = queue.SimpleQueue()

            def work(jobs=_jobs):
                while True:
                    job, job_args = jobs.get()
                    try:
                        job(*job_args)
                    finally:
                        with _idle:
                            _pending[0] -= 1
                            _idle.notify_all()
            threading.Thread(target=work, name="funcgrad-compile", daemon=True).start()
        with _idle:
            _pending[0] += 1
        _jobs.put((fn, args))


def wait_idle(timeout: float | None = None) -> bool:
    """Block until no compilation to the compiled tier is queued or running (benchmarks and
    tests wait for `auto`'s background work this way); False if `timeout` passed first.

    >>> wait_idle(1.0)
    True
    """
    with _idle:
        return _idle.wait_for(lambda: _pending[0] == 0, timeout)


def resolve_backend(backend: str | None) -> str:
    """The backend asked for (default: $FUNCGRAD_JIT_BACKEND, else 'auto'); 'auto' without
    numba is 'numpy', and 'compiled' without numba is an ImportError saying what to
    install."""
    chosen = backend if backend is not None else os.environ.get("FUNCGRAD_JIT_BACKEND", "auto")
    if chosen not in BACKENDS:
        where_ = "backend" if backend is not None else "$FUNCGRAD_JIT_BACKEND"
        raise ValueError(f"jit: {where_} must be one of {', '.join(map(repr, BACKENDS))}, "
                         f"not {chosen!r}")
    if chosen != "numpy" and not native.available():
        if chosen == "compiled":
            raise ImportError(f"jit(backend='compiled'): {native.INSTALL_HINT}, or use "
                              f"backend='numpy'")
        return "numpy"
    return chosen
