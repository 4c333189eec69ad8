"""Eager reverse mode: a tape of compiled per-primitive VJPs.

`grad(f)(x)` with no enclosing transformation runs `f` once on concrete values. Tracing it
into a linear graph and transposing that (what every other reverse mode here does) costs a
shape rule, several tracer objects and two Python dispatches per primitive, on every call.
This trace instead looks each primitive application up by its signature (primitive, input
shapes and dtypes, which inputs are differentiated, params) and runs a *rule* compiled for
that signature: a straight-line NumPy function computing the output and the residuals the
derivative needs, and one mapping the output cotangent to the input cotangents. The backward
pass walks the tape in reverse calling those functions.

A rule is derived from the primitive's own JVP and transpose rules (linearize + transpose of
that one primitive, optimised and compiled by the jit pipeline), so there is still one source
of truth for every derivative. A signature seen only once is differentiated the general way
(linearize + transpose of that one application), so shapes used once cost no compilation.
"""
from __future__ import annotations

import threading

import numpy as np

from ..core.ir import Graph, Var
from ..core.primitive import on_rule_change
from ..core.source import user_source
from ..core.trace import (
    EVAL,
    GraphTrace,
    GraphTracer,
    Trace,
    Tracer,
    current_trace,
    set_trace,
)
from ..core.types import ArrayType, type_of
from ..prims.families import zeros
from ..transforms import ad
from .codegen import compile_graph
from .passes import optimize

_COMPILE_AFTER = 2          # compile a signature's rule the second time it is seen
_MAX_RULES = 4096           # bound on cached rules (cleared when exceeded)


class _Rule:
    """The compiled VJP of one primitive at one signature.

    fwd(*primals) -> (out, *residuals); bwd(*residuals, ct) -> the non-zero input cotangents:
    of the differentiated inputs at positions `pos` among them (None: all of them). `out_sig`
    is the output's signature int; `has_tangent` is False when the output has no derivative
    (integer results, stop_gradient)."""

    __slots__ = ("fwd", "bwd", "fwd_graph", "bwd_graph", "pos", "has_tangent", "out_sig",
                 "_bound")

    def __init__(self, fwd, bwd, fwd_graph, bwd_graph, pos, has_tangent, out_sig):
        self.fwd, self.bwd, self.fwd_graph, self.bwd_graph = fwd, bwd, fwd_graph, bwd_graph
        self.pos, self.has_tangent, self.out_sig = pos, has_tangent, out_sig
        self._bound = None

    def bound(self) -> tuple:
        """(fwd, bwd) binding primitives instead of calling NumPy: they run under an outer
        transformation (jvp or vmap of grad, grad of grad, vmap of a vjp function)."""
        if self._bound is None:
            self._bound = (compile_graph(self.fwd_graph, "fwd", False, bind=True)[0],
                           compile_graph(self.bwd_graph, "bwd", False, bind=True)[0])
        return self._bound


_GENERAL = object()     # marker: this signature is differentiated the general way
_rules: dict = {}
_seen: dict = {}
_lock = threading.Lock()


def rule_count() -> int:
    """Number of compiled per-primitive rules cached (for tests and benchmarks).

    >>> rule_count() >= 0
    True
    """
    return sum(1 for r in _rules.values() if r is not _GENERAL)


class TapeTracer(Tracer):
    """A concrete value that the current eager reverse mode differentiates: its `primal`, the
    tape `slot` its cotangent accumulates in, and `sig`, a small int naming its shape and dtype
    (cheap to hash in a rule's key)."""

    __slots__ = ("primal", "slot", "sig")

    def __init__(self, trace: TapeTrace, primal, slot: int, sig: int):
        self._trace, self.primal, self.slot, self.sig = trace, primal, slot, sig

    @property
    def aval(self) -> ArrayType:
        return type_of(self.primal).strong()

    shape = property(lambda self: self.primal.shape)
    dtype = property(lambda self: self.primal.dtype)
    ndim = property(lambda self: self.primal.ndim)
    size = property(lambda self: self.primal.size)

    def concrete(self, op: str):
        return self.primal


class TapeTrace(Trace):
    """Eager reverse mode (its parent is the evaluation trace: every value is concrete).

    The tape holds one entry per differentiated primitive application:
    `(rule, residuals, in_slots, out_slot)` for compiled rules, or
    `(backward, None, in_slots, out_slots)` for general ones, where `backward(cts)` maps the
    list of output cotangents to one cotangent (or None) per slot in `in_slots`."""

    __slots__ = ("tape", "n_slots", "concrete")
    differentiates = True

    def __init__(self, parent: Trace, kind: str):
        super().__init__(parent, kind)
        self.tape: list = []
        self.n_slots = 0
        # Primal values are NumPy arrays (run compiled code) unless an outer transformation
        # (jvp, vmap, another grad) is in progress: then the rule's graphs are evaluated in it.
        self.concrete = parent is EVAL

    def new_input(self, value) -> TapeTracer:
        slot = self.n_slots
        self.n_slots = slot + 1
        return TapeTracer(self, value, slot, _sig(value))

    def process(self, prim, args, params):
        key = [prim]            # the signature: one rule per key
        primals, live = [], []  # slots of the differentiated inputs, in order
        opaque = prim.multiple_results   # no compiled rule (also: unusual argument types)
        for a in args:
            if type(a) is TapeTracer and a._trace is self:
                primals.append(a.primal)
                live.append(a.slot)
                key.append(a.sig)
                continue
            primals.append(a)
            t = type(a)
            if isinstance(a, Tracer):
                self.check_foreign(a)       # a value of an outer transformation: a constant
                key.append(-_sig(a))
            elif t is np.ndarray or isinstance(a, np.generic):
                key.append(-_sig(a))        # constants: negative
            elif t in _SCALARS:
                key.append(t)
            else:
                opaque = True
        if not live:
            return self.parent.process(prim, primals, params)
        if params:
            key.append(tuple(params.items()))
        key = tuple(key)
        try:
            rule = _GENERAL if opaque else _rules.get(key)
        except TypeError:           # unhashable params: differentiated the general way
            rule = _GENERAL
        if rule is None:
            rule = _miss(key, prim, primals, params,
                         [type(a) is TapeTracer and a._trace is self for a in args])
        if rule is _GENERAL:
            return self._general(prim, args, primals, params)
        if self.concrete:
            outs = rule.fwd(*primals)
        else:
            prev = set_trace(self.parent)
            try:
                outs = rule.bound()[0](*primals)
            finally:
                set_trace(prev)
        if not rule.has_tangent:
            return outs[0]
        slot = self.n_slots
        self.n_slots = slot + 1
        self.tape.append((rule, outs[1:], live if rule.pos is None else
                          [live[i] for i in rule.pos], slot))
        return TapeTracer(self, outs[0], slot, rule.out_sig)

    def _general(self, prim, args, primals, params):
        """Differentiate one application by linearize + transpose (any primitive)."""
        slots = [a.slot if type(a) is TapeTracer and a._trace is self else -1 for a in args]
        live = [s >= 0 for s in slots]

        def apply(*xs):
            out = prim.bind(*xs, **params)
            return list(out) if prim.multiple_results else [out]

        prev = set_trace(self.parent)
        try:
            outs, lin = ad.linearize_flat(apply, primals, self.kind, live=live)
        finally:
            set_trace(prev)
        in_slots = [s for s in slots if s >= 0]
        return self._record(lambda cts: ad.backward_pass(lin, cts), outs,
                            lin.info["nonzero_outputs"], in_slots, prim.multiple_results)

    def _record(self, backward, outs, nonzero, in_slots, multiple):
        out_slots, results = [], []
        for o, nz in zip(outs, nonzero):
            if nz:
                out_slots.append(self.n_slots)
                o = _as_array(o) if self.concrete else o
                results.append(TapeTracer(self, o, self.n_slots, _sig(o)))
                self.n_slots += 1
            else:
                out_slots.append(-1)
                results.append(o)
        if any(nonzero):
            self.tape.append((backward, None, in_slots, out_slots))
        return results if multiple else results[0]

    def process_custom_vjp(self, name: str, fwd, bwd, args: tuple):
        """A custom_vjp function (or checkpoint): run `fwd` on the primals, tape `bwd`."""
        from .. import tree
        flat, in_tree = tree.flatten(args)
        slots = [a.slot if type(a) is TapeTracer and a._trace is self else -1 for a in flat]
        if not any(s >= 0 for s in slots):
            return None
        primals = [a.primal if s >= 0 else a for a, s in zip(flat, slots)]
        in_avals = [type_of(p).strong() for p in primals]
        prev = set_trace(self.parent)
        try:
            res_out = fwd(*tree.unflatten(in_tree, primals))
        finally:
            set_trace(prev)
        if not (isinstance(res_out, tuple) and len(res_out) == 2):
            from ..core.source import where
            raise TypeError(f"custom_vjp: the fwd rule of {name} must return a pair "
                            f"(output, residuals){where()}")
        out, res = res_out
        flat_out, out_tree = tree.flatten(out)
        out_avals = [type_of(o).strong() for o in flat_out]
        from ..transforms.custom import _custom_lin_transpose

        def backward(cts):
            cts = [zeros(a) if c is None else c for c, a in zip(cts, out_avals)]
            cts_in = _custom_lin_transpose(cts, bwd=bwd, res=res, in_tree=in_tree,
                                           out_tree=out_tree, in_avals=in_avals,
                                           out_avals=out_avals)
            # the user's rule may hand back broadcastable shapes or other dtypes
            return [_fit(ad._as_array(c), a) for c, a, s in zip(cts_in, in_avals, slots)
                    if s >= 0]

        outs = self._record(backward, flat_out, [True] * len(flat_out),
                            [s for s in slots if s >= 0], True)
        return tree.unflatten(out_tree, outs)

    def backward(self, out_slots: list, cts_out: list) -> list:
        """Cotangents of the first `n` slots (the inputs) from those of the outputs."""
        cts: list = [None] * self.n_slots
        for s, c in zip(out_slots, cts_out):
            if s >= 0 and c is not None:
                cts[s] = c if cts[s] is None else cts[s] + c
        fast = current_trace() is EVAL and not any(isinstance(c, Tracer) for c in cts_out)
        for fn, res, in_slots, out_slot in reversed(self.tape):
            if type(out_slot) is int:
                ct = cts[out_slot]
                if ct is None:
                    continue
                cts[out_slot] = None
                in_cts = fn.bwd(*res, ct) if fast else fn.bound()[1](*res, ct)
            else:
                outs = [cts[s] if s >= 0 else None for s in out_slot]
                if all(c is None for c in outs):
                    continue
                for s in out_slot:
                    if s >= 0:
                        cts[s] = None
                in_cts = fn(outs)
            for s, c in zip(in_slots, in_cts):
                if c is not None:
                    prev = cts[s]
                    cts[s] = c if prev is None else prev + c
        return cts


_SCALARS = (float, int, bool, complex)
_sig_ids: dict = {}


def _sig(x) -> int:
    """A positive int naming x's (shape, dtype), the same for every value of that type."""
    s = _sig_ids.get((x.shape, x.dtype))
    return _sig_of(x.shape, x.dtype) if s is None else s


def _sig_of(shape: tuple, dtype) -> int:
    with _lock:
        return _sig_ids.setdefault((shape, np.dtype(dtype)), len(_sig_ids) + 1)


def _as_array(x):
    return x if isinstance(x, (np.ndarray, np.generic)) else np.asarray(x)


def _clear() -> None:
    with _lock:
        _rules.clear()
        _seen.clear()


on_rule_change(_clear)


def _miss(key, prim, primals, params, live):
    """A signature without a cached rule: compile one if it has been seen before."""
    with _lock:
        n = _seen.get(key, 0) + 1
        if n < _COMPILE_AFTER:
            if len(_seen) > _MAX_RULES:
                _seen.clear()
            _seen[key] = n
            return _GENERAL
        _seen.pop(key, None)
    try:
        rule = _build(prim, primals, live, params)
    except Exception:
        # The general path gives the user's error (or handles what the rule cannot).
        rule = _GENERAL
    with _lock:
        if len(_rules) > _MAX_RULES:
            _rules.clear()
        _rules[key] = rule
    return rule


def _build(prim, primals, live, params) -> _Rule:
    """Linearize one application abstractly, transpose it, optimise and compile both halves."""
    g = GraphTrace(EVAL, "grad")
    g.record_source = False
    args = [g.new_arg(type_of(p).strong() if is_live else type_of(p))
            for p, is_live in zip(primals, live)]
    prev = set_trace(g)
    try:
        (out,), lin = ad.linearize_flat(lambda *xs: [prim.bind(*xs, **params)], args, "grad",
                                        live=live)
    finally:
        set_trace(prev)
    has_tangent = lin.info["nonzero_outputs"][0]
    residuals = [c for c in lin.consts if type(c) is GraphTracer and c._trace is g]

    # backward: (residuals, ct) -> input cotangents
    gb = GraphTrace(EVAL, "grad")
    gb.record_source = False
    res_args = [gb.new_arg(r.aval) for r in residuals]
    ct_arg = gb.new_arg(lin.outvars[0].aval)
    as_arg = dict(zip(map(id, residuals), res_args))
    lin_b = Graph(lin.invars, lin.outvars, lin.eqns, lin.constvars,
                  [as_arg.get(id(c), c) for c in lin.consts])
    prev = set_trace(gb)
    try:
        cts = ad.backward_pass(lin_b, [ct_arg]) if has_tangent else []
        pos = [i for i, c in enumerate(cts) if c is not None]
        bwd_graph = optimize(gb.to_graph(gb.invars, [cts[i] for i in pos]))
    finally:
        set_trace(prev)
        gb.alive = False
    # residuals the optimised backward no longer reads are not computed or kept
    used = {v for e in bwd_graph.eqns for v in e.inputs if isinstance(v, Var)}
    used.update(v for v in bwd_graph.outvars if isinstance(v, Var))
    keep = [i for i, v in enumerate(bwd_graph.invars[:-1]) if v in used]
    bwd_graph = Graph([bwd_graph.invars[i] for i in keep] + bwd_graph.invars[-1:],
                      bwd_graph.outvars, bwd_graph.eqns, bwd_graph.constvars, bwd_graph.consts)
    prev = set_trace(g)
    try:
        fwd_graph = g.to_graph(g.invars, [out] + [residuals[i] for i in keep])
    finally:
        set_trace(prev)
        g.alive = False
    fwd_graph = optimize(fwd_graph)
    fwd, _ = compile_graph(fwd_graph, f"{prim.name}_fwd", copy_outputs=False)
    bwd, _ = compile_graph(bwd_graph, f"{prim.name}_bwd", copy_outputs=False)
    all_live = len(pos) == sum(live)
    aval = fwd_graph.outvars[0].aval
    return _Rule(fwd, bwd, fwd_graph, bwd_graph, None if all_live else tuple(pos),
                 has_tangent and bool(pos), _sig_of(aval.shape, aval.dtype))


def vjp_flat(f, primals: list, kind: str = "vjp"):
    """`ad.vjp_flat` when no graph is being built: run `f` once on a tape; (outputs, vjp_fn)
    on flat lists."""
    trace = TapeTrace(current_trace(), kind)
    trace.source = user_source()
    ins = [trace.new_input(p) if ad.tangent_aval(p) is not None else p for p in primals]
    in_avals = [type_of(p).strong() for p in primals]
    prev = set_trace(trace)
    try:
        outs = f(*ins)
    finally:
        set_trace(prev)
        trace.alive = False
    out_p, out_slots = [], []
    for o in outs:
        if type(o) is TapeTracer and o._trace is trace:
            out_p.append(o.primal)
            out_slots.append(o.slot)
        else:
            if isinstance(o, Tracer):
                trace.check_foreign(o)
            out_p.append(o)
            out_slots.append(-1)
    in_slots = [x.slot if type(x) is TapeTracer else -1 for x in ins]
    out_avals = [type_of(o).strong() for o in out_p]

    def vjp_fn(cts_out: list) -> list:
        cts_out = [c if c is None else _fit(ad._as_array(c), a)
                   for c, a in zip(cts_out, out_avals)]
        cts = trace.backward(out_slots, cts_out)
        result = []
        taken = {id(c) for c in cts_out}
        for s, aval in zip(in_slots, in_avals):
            c = cts[s] if s >= 0 else None
            if c is not None:
                c = _fit(ad._as_array(c), aval)
                # Each result owns its memory: not a view (of a residual, say), not the
                # caller's cotangent, not another argument's result (x + y gives ct twice).
                if type(c) is np.ndarray and (c.base is not None or not c.flags.writeable
                                              or id(c) in taken):
                    c = np.array(c)
                taken.add(id(c))
            result.append(c)
        return result

    return out_p, vjp_fn


def eager(trace: Trace) -> bool:
    """True when no enclosing transformation builds a graph (jit, make_graph, a linearize):
    then reverse mode runs on a tape (a graph being built keeps the linearize + transpose
    design, whose backward equations carry the forward line they differentiate)."""
    while trace is not None:
        if isinstance(trace, GraphTrace):
            return False
        trace = trace.parent
    return True


def _fit(ct, aval: ArrayType):
    """A cotangent in its variable's shape and dtype (summed over broadcast axes, cast)."""
    if ct.shape != aval.shape or ct.dtype != aval.dtype:
        return ad._fit(ct, aval)
    return ct


ad.eager_vjp = (eager, vjp_flat)
