"""Whole-call programs: the eager executor's capture-and-replay cache (as tinygrad's TinyJit:
the first sighting of a recorded call runs it, the second compiles it, later ones replay it).
Like a jitted function's stage, each half of a program is `Tiered`: with numba, a program run
often moves to the compiled tier's kernels.

A program is one recorded eager call (a Graph of primitive applications: see run/eager.py)
compiled whole, forward with residuals and backward, by the jit pipeline. Its key is the
call's identity: the rules of its applications (which stand for their signatures), their
wiring, its outputs and number of inputs.
"""
from __future__ import annotations

from ..core.ir import Graph
from ..transforms.interpret import eval_graph
from . import rules
from .rules import GENERAL, compile_vjp, lock, sighted_before
from .tiers import Tiered, resolve_backend

MAX_PROGRAMS = 256
MAX_PROGRAM_LENGTH = 4096    # longer calls stay on the tape (compiling them would stall)

programs: dict = {}          # key -> Program or GENERAL
_seen: dict = {}             # key -> sightings so far
runs = [0]                   # calls that ran as a compiled program


class Program:
    """A whole recorded call compiled: fwd(*inputs, *constants) -> (*outs, *residuals);
    bwd(*residuals, *cts of the outputs at `nonzero`) -> the non-zero input cotangents (for
    the inputs at `pos`)."""

    __slots__ = ("fwd", "bwd", "fwd_graph", "bwd_graph", "pos", "nonzero", "n_out", "_bound")

    def __init__(self, fwd, bwd, fwd_graph, bwd_graph, pos, nonzero, n_out):
        self.fwd, self.bwd, self.fwd_graph, self.bwd_graph = fwd, bwd, fwd_graph, bwd_graph
        self.pos, self.nonzero, self.n_out = pos, nonzero, n_out
        self._bound = None

    bound = rules.Rule.bound


def lookup(key, make_graph, in_avals: list, n_live: int) -> Program | None:
    """The compiled program for `key`, compiling it (from the Graph `make_graph()` returns,
    whose first `n_live` inputs are differentiated) on its second sighting; None before that,
    or when it cannot be compiled (the tape then runs the call and reports any error)."""
    prog = programs.get(key)
    if prog is not None:
        return None if prog is GENERAL else prog
    if not sighted_before(_seen, key):
        return None
    graph: Graph = make_graph()
    live = [True] * n_live + [False] * (len(in_avals) - n_live)
    try:
        fwd, bwd, fwd_graph, bwd_graph, pos, nonzero = compile_vjp(
            lambda *xs: eval_graph(graph, list(xs)), in_avals, live, "program")
        # each half moves to the compiled tier as a jitted function does ($FUNCGRAD_JIT_BACKEND)
        backend = resolve_backend(None)
        # (generated without copying returned inputs: see rules.compile_vjp)
        prog = Program(Tiered(fwd_graph, fwd, backend, "program_fwd", copy_outputs=False),
                       Tiered(bwd_graph, bwd, backend, "program_bwd", copy_outputs=False),
                       fwd_graph, bwd_graph, pos, nonzero, len(graph.outvars))
    except Exception:
        rules.failures[0] += 1
        prog = GENERAL
    with lock:
        if len(programs) > MAX_PROGRAMS:
            programs.clear()
        programs[key] = prog
    return None if prog is GENERAL else prog


def clear() -> None:
    """Forget every compiled program and sighting."""
    with lock:
        programs.clear()
        _seen.clear()
        runs[0] = 0


def program_count() -> int:
    """Number of compiled whole-call programs cached."""
    return sum(1 for p in programs.values() if p is not GENERAL)
