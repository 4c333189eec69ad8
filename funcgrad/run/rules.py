"""Per-primitive compiled VJP rules: the eager executor's cache, keyed by signature.

The signature of one primitive application is what determines its derivative code: the
primitive, each argument's shape and dtype (a small int, `sig`), negated for constants, a
Python scalar's type, and the params. `rule_key` builds it, the only place that does. A rule is
compiled the second time its signature is seen (`COMPILE_AFTER`): the primitive's own JVP and
transpose rules, linearized and transposed abstractly, optimised and turned into two NumPy
functions (`compile_vjp`, which whole-call programs use too).
"""
from __future__ import annotations

import threading

import numpy as np

from ..compile.codegen import compile_graph
from ..compile.passes import optimize
from ..core.ir import Graph, Var
from ..core.trace import EVAL, GraphTrace, GraphTracer, abstract_eval, set_trace
from ..core.types import type_of
from ..transforms import ad

COMPILE_AFTER = 2           # compile a signature's rule the second time it is seen
MAX_RULES = 4096            # bound on cached rules (cleared when exceeded)
GENERAL = object()          # marker: this signature is differentiated the general way
SCALARS = (float, int, bool, complex)

rules: dict = {}            # rule_key -> Rule or GENERAL
_seen: dict = {}            # rule_key -> sightings so far
forward_sigs: dict = {}     # rule_key of an application without derivative -> output sig
lock = threading.Lock()
failures = [0]              # compilations that raised (the general path took over)


class Rule:
    """The compiled VJP of one primitive at one signature.

    fwd(*primals) -> (out, *residuals); bwd(*residuals, ct) -> the non-zero input cotangents:
    of the differentiated inputs at positions `pos` among them (None: all of them). `out_sig`
    is the output's signature int; `has_tangent` is False when the output has no derivative
    (integer results, stop_gradient); `recordable` says a lazy call may record it (it has a
    tangent, and its evaluation cannot fail on values: see Primitive.checks_values)."""

    __slots__ = ("fwd", "bwd", "fwd_graph", "bwd_graph", "pos", "has_tangent", "out_sig",
                 "recordable", "_bound")

    def __init__(self, fwd, bwd, fwd_graph, bwd_graph, pos, has_tangent, out_sig,
                 recordable):
        self.fwd, self.bwd, self.fwd_graph, self.bwd_graph = fwd, bwd, fwd_graph, bwd_graph
        self.pos, self.has_tangent, self.out_sig = pos, has_tangent, out_sig
        self.recordable = recordable
        self._bound = None

    def bound(self) -> tuple:
        """(fwd, bwd) binding primitives instead of calling NumPy: they run under an outer
        transformation (jvp or vmap of grad, grad of grad, vmap of a vjp function)."""
        if self._bound is None:
            self._bound = (compile_graph(self.fwd_graph, "fwd", False, bind=True)[0],
                           compile_graph(self.bwd_graph, "bwd", False, bind=True)[0])
        return self._bound


def rule_key(prim, arg_keys: tuple, params: dict) -> tuple:
    """The signature of one application: `(prim, *arg_keys)`, plus the params' items when
    there are any. `arg_keys` are `sig` ints (negative for constants) or Python scalar types.

    >>> from funcgrad.prims.elementwise import sin_p
    >>> rule_key(sin_p, (1,), {}) == (sin_p, 1)
    True
    """
    return (prim, *arg_keys, tuple(params.items())) if params else (prim, *arg_keys)


sig_ids: dict = {}
sig_types: list = [None]     # sig -> (shape, dtype)


def sig(x) -> int:
    """A positive int naming x's (shape, dtype), the same for every value of that type."""
    s = sig_ids.get((x.shape, x.dtype))
    return sig_of(x.shape, x.dtype) if s is None else s


def sig_of(shape: tuple, dtype) -> int:
    k = (tuple(shape), np.dtype(dtype))
    with lock:
        s = sig_ids.get(k)
        if s is None:
            s = sig_ids[k] = len(sig_types)
            sig_types.append(k)
        return s


def forward_sig(key, prim, avals: list, params) -> int:
    """The output signature of an application to values without derivative (shape rule)."""
    out = abstract_eval(prim, avals, params)
    out_sig = sig_of(out.shape, out.dtype)
    if len(forward_sigs) > MAX_RULES:
        forward_sigs.clear()
    forward_sigs[key] = out_sig
    return out_sig


def sighted_before(seen: dict, key) -> bool:
    """Count a sighting of `key`; True (and forget it) from the COMPILE_AFTER-th on."""
    with lock:
        n = seen.get(key, 0) + 1
        if n >= COMPILE_AFTER:
            seen.pop(key, None)
            return True
        if len(seen) > MAX_RULES:
            seen.clear()
        seen[key] = n
        return False


def miss(key, prim, primals, params, live):
    """A signature without a cached rule: compile one if it has been seen before."""
    if not sighted_before(_seen, key):
        return GENERAL
    try:
        rule = build(prim, primals, live, params)
    except Exception:
        # The general path gives the user's error (or handles what the rule cannot); the
        # count shows in the executor's stats(), so tests notice rules that never compile.
        failures[0] += 1
        rule = GENERAL
    with lock:
        if len(rules) > MAX_RULES:
            rules.clear()
        rules[key] = rule
    return rule


def compile_vjp(fun, in_avals: list, live: list, name: str):
    """Linearize `fun` (flat list -> flat list) abstractly, transpose it, optimise and compile
    both halves: fwd(*inputs) -> (*outs, *residuals), bwd(*residuals, *cts of the non-zero
    outputs) -> the non-None cotangents of the live inputs. Returns (fwd, bwd, fwd_graph,
    bwd_graph, pos, nonzero)."""
    g = GraphTrace(EVAL, "grad")
    g.record_source = False
    args = [g.new_arg(a) for a in in_avals]
    prev = set_trace(g)
    try:
        outs, lin = ad.linearize_flat(fun, args, "grad", live=live)
    finally:
        set_trace(prev)
    nonzero = lin.info["nonzero_outputs"]
    residuals = [c for c in lin.consts if type(c) is GraphTracer and c._trace is g]

    # backward: (residuals, cts) -> input cotangents
    gb = GraphTrace(EVAL, "grad")
    gb.record_source = False
    res_args = [gb.new_arg(r.aval) for r in residuals]
    ct_args = [gb.new_arg(v.aval) for v, nz in zip(lin.outvars, nonzero) if nz]
    as_arg = dict(zip(map(id, residuals), res_args))
    lin_b = Graph(lin.invars, lin.outvars, lin.eqns, lin.constvars,
                  [as_arg.get(id(c), c) for c in lin.consts])
    cts_iter = iter(ct_args)
    prev = set_trace(gb)
    try:
        cts = ad.backward_pass(lin_b, [next(cts_iter) if nz else None for nz in nonzero]) \
            if any(nonzero) else []
        pos = [i for i, c in enumerate(cts) if c is not None]
        bwd_graph = optimize(gb.to_graph(gb.invars, [cts[i] for i in pos]))
    finally:
        set_trace(prev)
        gb.alive = False
    # residuals the optimised backward no longer reads are not computed or kept
    used = {v for e in bwd_graph.eqns for v in e.inputs if isinstance(v, Var)}
    used.update(v for v in bwd_graph.outvars if isinstance(v, Var))
    n_res = len(residuals)
    keep = [i for i, v in enumerate(bwd_graph.invars[:n_res]) if v in used]
    bwd_graph = Graph([bwd_graph.invars[i] for i in keep] + bwd_graph.invars[n_res:],
                      bwd_graph.outvars, bwd_graph.eqns, bwd_graph.constvars, bwd_graph.consts)
    prev = set_trace(g)
    try:
        fwd_graph = g.to_graph(g.invars, list(outs) + [residuals[i] for i in keep])
    finally:
        set_trace(prev)
        g.alive = False
    fwd_graph = optimize(fwd_graph)
    fwd, _ = compile_graph(fwd_graph, f"{name}_fwd", copy_outputs=False)
    bwd, _ = compile_graph(bwd_graph, f"{name}_bwd", copy_outputs=False)
    return fwd, bwd, fwd_graph, bwd_graph, pos, nonzero


def build(prim, primals, live, params) -> Rule:
    """The rule of one primitive application."""
    in_avals = [type_of(p).strong() if is_live else type_of(p)
                for p, is_live in zip(primals, live)]
    fwd, bwd, fwd_graph, bwd_graph, pos, nonzero = compile_vjp(
        lambda *xs: [prim.bind(*xs, **params)], in_avals, live, prim.name)
    aval = fwd_graph.outvars[0].aval
    has_tangent = nonzero[0] and bool(pos)
    checks = prim.checks_values
    checks = bool(checks) and (checks is True or checks(**params))
    return Rule(fwd, bwd, fwd_graph, bwd_graph, None if len(pos) == sum(live) else tuple(pos),
                has_tangent, sig_of(aval.shape, aval.dtype), has_tangent and not checks)


def clear() -> None:
    """Forget every compiled rule and sighting."""
    with lock:
        rules.clear()
        _seen.clear()
        forward_sigs.clear()
        failures[0] = 0


def rule_count() -> int:
    """Number of compiled per-primitive rules cached."""
    return sum(1 for r in rules.values() if r is not GENERAL)
