"""The eager executor of reverse mode: a tape of compiled per-primitive VJPs, and programs.

`grad(f)(x)` with no enclosing graph being built (no jit, make_graph or linearize around it)
runs `f` once on concrete values, or on the tracers of an enclosing jvp, vmap or grad. Tracing
it into a linear graph and transposing that (what reverse mode does when a graph is being
built) costs a shape rule, several tracer objects and two Python dispatches per primitive, on
every call.
This trace instead looks each primitive application up by its signature (primitive, input
shapes and dtypes, which inputs are differentiated, params) and runs a *rule* compiled for
that signature: a straight-line NumPy function computing the output and the residuals the
derivative needs, and one mapping the output cotangent to the input cotangents. The backward
pass walks the tape in reverse calling those functions.

A rule is derived from the primitive's own JVP and transpose rules (linearize + transpose of
that one primitive, optimised and compiled by the jit pipeline), so there is still one source
of truth for every derivative. A signature seen only once is differentiated the general way
(linearize + transpose of that one application), so shapes used once cost no compilation.

Once every signature a call meets has a rule, the trace goes further: it starts *lazy*,
recording the sequence of applications (which rule, wired to which values) without computing
anything. If the function finishes without needing a value, the recorded sequence is a
*program*; the second time the same program is seen it is compiled whole (forward with
residuals, and backward) by the jit pipeline, and later calls run those two functions: no
per-primitive Python in the backward pass, and the jit's buffer reuse. Anything that needs a
value (float(x), Python control flow on values, formatting it, has_aux, custom_vjp, control
flow primitives, indexing, an unknown signature) first *materialises*: the recorded applications
are replayed on the tape, which continues as above. So a program is only ever compiled for a
call whose whole computation was recorded, never guessed. Recording needs concrete inputs,
so under an enclosing jvp or vmap the tape runs the rules' graphs in that transformation.

This is an executor, not a transformation: reverse mode itself (linearize, then transpose) is
transforms/ad.py, and the code here computes exactly what it computes. The executor declares
itself to ad.py (`ad.register_executor`) and runs whenever no graph is being built. The
per-primitive rule cache is run/rules.py, the program cache run/programs.py; `stats()` and
`reset()` show and clear both.
"""
from __future__ import annotations

import numpy as np

from .. import tree
from ..core.ir import Eqn, Graph, Var
from ..core.primitive import on_rule_change
from ..core.source import user_source
from ..core.trace import (
    EVAL,
    CustomJVP,
    CustomVJP,
    GraphTrace,
    Trace,
    Tracer,
    current_trace,
    reraise_conversion,
    set_trace,
)
from ..core.types import ArrayType, type_of
from ..prims.shape import zeros
from ..transforms import ad
from ..transforms.custom import _custom_lin_transpose, run_fwd_rule
from . import programs, rules
from .rules import GENERAL, SCALARS, forward_sig, forward_sigs, miss, rule_key, sig, sig_types
from .rules import rules as _rules


class TapeTracer(Tracer):
    """A concrete value that the current eager reverse mode differentiates: its primal, the
    tape `slot` its cotangent accumulates in (negative: a value without derivative, computed
    from others while the trace was lazy), and `sig`, a small int naming its shape and dtype
    (cheap to hash in a rule's key; negative for values without derivative). While the trace
    is lazy the primal is not computed yet: reading it materialises the trace."""

    __slots__ = ("_primal", "slot", "sig")
    abstract = False

    def __init__(self, trace: TapeTrace, primal, slot: int, sig: int):
        self._trace, self._primal, self.slot, self.sig = trace, primal, slot, sig

    @property
    def primal(self):
        if self._primal is None:
            self._trace.materialize()
        return self._primal

    @property
    def aval(self) -> ArrayType:
        shape, dtype = sig_types[abs(self.sig)]
        return ArrayType(shape, dtype)

    shape = property(lambda self: sig_types[abs(self.sig)][0])
    dtype = property(lambda self: sig_types[abs(self.sig)][1])
    ndim = property(lambda self: len(sig_types[abs(self.sig)][0]))
    size = property(lambda self: int(np.prod(sig_types[abs(self.sig)][0], dtype=np.int64)))

    def unwrap(self, op: str):
        return self.primal

    def differentiated(self) -> bool:
        return self.slot >= 0


class TapeTrace(Trace):
    """Eager reverse mode (no enclosing transformation builds a graph).

    The tape holds one entry per differentiated primitive application:
    `(rule, residuals, in_slots, out_slot)` for compiled rules, or
    `(backward, None, in_slots, out_slots)` for general ones, where `backward(cts)` maps the
    list of output cotangents to one cotangent (or None) per slot in `in_slots`. While `lazy`,
    applications are only recorded, in `records` (and their structure in `shape_keys`)."""

    __slots__ = ("tape", "n_slots", "concrete", "lazy", "records", "n_records", "shape_keys",
                 "consts", "n_inputs", "n_consts", "protected")
    differentiates = True

    def __init__(self, parent: Trace, kind: str, lazy: bool = False):
        # (Trace.__init__, inlined: a trace is made per eager call)
        self.parent, self.kind, self.alive, self.source = parent, kind, True, None
        self.tape: list = []
        self.n_slots = 0
        # Primal values are NumPy arrays (run compiled code) unless an outer transformation
        # (jvp, vmap, another grad) is in progress: then the rule's graphs are evaluated in it.
        self.concrete = parent is EVAL
        self.lazy = lazy and self.concrete
        # Flat, per application: prim, params, output tracer, number of arguments, arguments
        # (no tuple per application: fewer objects for the garbage collector to scan).
        self.records: list = []
        self.n_records = 0
        self.shape_keys: list = []   # per record: (rule key, wiring): the program's identity
        self.consts: list = []       # arguments from outside the trace, in order of use
        self.n_inputs = 0
        self.n_consts = 0            # values recorded without derivative (slots -2, -3, ...)
        self.protected: list = []    # arrays made read-only while their use is recorded

    def new_input(self, value) -> TapeTracer:
        slot = self.n_slots
        self.n_slots = self.n_inputs = slot + 1
        return TapeTracer(self, value, slot, sig(value))

    def process(self, prim, args, params):
        if self.lazy:
            return self._record_lazy(prim, args, params)
        arg_keys = []           # the signature: one rule per key
        primals, live = [], []  # slots of the differentiated inputs, in order
        opaque = prim.multiple_results   # no compiled rule (also: unusual argument types)
        for a in args:
            if type(a) is TapeTracer and a._trace is self:
                primals.append(a._primal)
                arg_keys.append(a.sig)
                if a.slot >= 0:
                    live.append(a.slot)
                continue
            primals.append(a)
            t = type(a)
            if isinstance(a, Tracer):
                self.check_foreign(a)       # a value of an outer transformation: a constant
                arg_keys.append(-sig(a))
            elif t is np.ndarray or isinstance(a, np.generic):
                arg_keys.append(-sig(a))    # constants: negative
            elif t in SCALARS:
                arg_keys.append(t)
            else:
                opaque = True
        if not live:
            return self.parent.process(prim, primals, params)
        if self.concrete:
            for a in args:
                if type(a) is np.ndarray and a.flags.writeable:
                    self._capture(a)
        try:
            key = rule_key(prim, arg_keys, params)
            rule = GENERAL if opaque else _rules.get(key)
        except TypeError:           # unhashable params: differentiated the general way
            rule = GENERAL
        if rule is None:
            rule = miss(key, prim, primals, params,
                         [type(a) is TapeTracer and a._trace is self and a.slot >= 0
                          for a in args])
        if rule is GENERAL:
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

    # ------------------------------------------------------------------ lazy recording

    def _record_lazy(self, prim, args, params):
        """Record one application without computing it (every signature must be known; an
        application that checks values is evaluated at once, so that an error names the
        user's line: the fast paths see that in the rule, `recordable`)."""
        n = len(args)
        if n == 1:      # the commonest cases, without the general loop: f(x), ...
            a = args[0]
            if type(a) is TapeTracer and a._trace is self and a.slot >= 0:
                try:            # rule_key(prim, (a.sig,), params), inlined: the hottest line
                    rule = _rules.get((prim, a.sig, tuple(params.items())) if params
                                      else (prim, a.sig))
                except TypeError:           # unhashable params
                    rule = None
                if rule is not None and rule is not GENERAL and rule.recordable:
                    slot = self.n_slots
                    self.n_slots = slot + 1
                    out = TapeTracer(self, None, slot, rule.out_sig)
                    self.records += (prim, params, out, 1, a)
                    self.n_records += 1
                    self.shape_keys += (rule, a.slot)
                    return out
        elif n == 2:    # ... x * y, x * c, x + 1.0, x @ w
            a, b = args
            if type(a) is TapeTracer and a._trace is self and a.slot >= 0:
                if type(b) is TapeTracer and b._trace is self and b.slot >= 0:
                    b_key, wired, const = b.sig, b.slot, None
                elif type(b) is np.ndarray:
                    b_key, wired, const = -sig(b), None, b
                elif type(b) is float:
                    b_key, wired, const = float, None, b
                else:
                    b_key = None
                try:
                    rule = None if b_key is None else _rules.get(
                        (prim, a.sig, b_key, tuple(params.items())) if params
                        else (prim, a.sig, b_key))
                except TypeError:           # unhashable params
                    rule = None
                if rule is not None and rule is not GENERAL and rule.recordable:
                    if type(const) is np.ndarray:
                        b = const = self._capture(const)
                    slot = self.n_slots
                    self.n_slots = slot + 1
                    out = TapeTracer(self, None, slot, rule.out_sig)
                    self.records += (prim, params, out, 2, a, b)
                    self.n_records += 1
                    self.shape_keys += (rule, a.slot, wired)
                    if const is not None:
                        self.consts.append(const)
                    return out
        arg_keys = []
        wiring = []             # per argument: the slot of a value of this trace, or None
        consts = []
        live = mine = False
        for a in args:
            if type(a) is TapeTracer and a._trace is self:
                arg_keys.append(a.sig)
                s = a.slot
                wiring.append(s)
                mine = True
                if s >= 0:
                    live = True
                continue
            t = type(a)
            if t is np.ndarray or isinstance(a, np.generic):
                arg_keys.append(-sig(a))
            elif t in SCALARS:
                arg_keys.append(t)
            else:               # a foreign tracer (an error), or an unusual argument
                return self._materialize_then(prim, args, params)
            wiring.append(None)
            consts.append(a)
        if not mine:
            return self.parent.process(prim, args, params)
        checks = prim.checks_values
        if prim.multiple_results or checks and (checks is True or checks(**params)):
            return self._materialize_then(prim, args, params)
        try:
            key = rule_key(prim, arg_keys, params)
            if live:
                rule = _rules.get(key)
                if rule is None or rule is GENERAL:
                    return self._materialize_then(prim, args, params)
                out_sig = rule.out_sig
                differentiable = rule.has_tangent
            else:   # computed from values without derivative only
                rule = key
                out_sig = forward_sigs.get(key)
                if out_sig is None:
                    avals = [ArrayType(*sig_types[-a.sig]) if type(a) is TapeTracer
                             else type_of(a) for a in args]
                    out_sig = forward_sig(key, prim, avals, params)
                differentiable = False
        except TypeError:           # unhashable params
            return self._materialize_then(prim, args, params)
        if differentiable:
            slot = self.n_slots
            self.n_slots = slot + 1
        else:
            self.n_consts += 1
            slot, out_sig = -1 - self.n_consts, -out_sig
        if consts:
            captured = {id(c): self._capture(c) for c in consts if type(c) is np.ndarray}
            if captured:
                consts = [captured.get(id(c), c) for c in consts]
                args = tuple(captured.get(id(c), c) if type(c) is np.ndarray else c
                             for c in args)
        out = TapeTracer(self, None, slot, out_sig)
        self.records += (prim, params, out, len(args), *args)
        self.n_records += 1
        # the program's identity: the rule (a cached object standing for its signature, so
        # also for its number of arguments) and the wiring of its arguments
        self.shape_keys.append(rule)
        self.shape_keys.extend(wiring)
        if consts:
            self.consts.extend(consts)
        return out

    def _capture(self, a: np.ndarray) -> np.ndarray:
        """A constant array a differentiated application reads is kept by reference (for the
        backward pass, or until a lazy call runs): it is made read-only until the call ends,
        so that writing to it meanwhile raises instead of silently changing the result."""
        if a.flags.writeable:
            a.flags.writeable = False
            self.protected.append(a)
        return a

    def release(self) -> None:
        """Make the arrays `_capture` protected writeable again."""
        for a in self.protected:
            try:
                a.flags.writeable = True
            except ValueError:      # its base became read-only meanwhile: leave it
                pass
        self.protected = []

    def _materialize_then(self, prim, args, params):
        self.materialize()
        return self.process(prim, args, params)

    def materialize(self) -> None:
        """Compute everything recorded so far on the tape, and stop recording."""
        if not self.lazy:
            return
        self.lazy = False
        records, self.records, self.shape_keys, self.consts = self.records, [], [], []
        self.n_slots = self.n_inputs
        for prim, params, out, args in _applications(records):
            value = self.process(prim, args, params)
            if type(value) is TapeTracer:
                out._primal, out.slot, out.sig = value._primal, value.slot, value.sig
            else:
                value = ad._as_array(value)
                out._primal, out.slot, out.sig = value, -1, -sig(value)

    def program_key(self, outs) -> tuple:
        """What identifies the recorded call: its applications (rules), their wiring, the
        outputs and the number of inputs (every type is in the rules' signatures)."""
        wiring = tuple(o.slot if type(o) is TapeTracer and o._trace is self else None
                       for o in outs)
        return (tuple(self.shape_keys), wiring, self.n_inputs)

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
        return self._push(lambda cts: ad.backward_pass(lin, cts), outs,
                            lin.info["nonzero_outputs"], in_slots, prim.multiple_results)

    def _push(self, backward, outs, nonzero, in_slots, multiple):
        """Tape a general node (`backward` maps its output cotangents to its inputs')."""
        out_slots, results = [], []
        for o, nz in zip(outs, nonzero):
            if nz:
                out_slots.append(self.n_slots)
                o = ad._as_array(o) if self.concrete else o
                results.append(TapeTracer(self, o, self.n_slots, sig(o)))
                self.n_slots += 1
            else:
                out_slots.append(-1)
                results.append(o)
        if any(nonzero):
            self.tape.append((backward, None, in_slots, out_slots))
        return results if multiple else results[0]

    def process_custom_vjp(self, rule: CustomVJP, args: tuple):
        """A custom_vjp function (or checkpoint): run `fwd` on the primals, tape `bwd`."""
        self.materialize()
        flat, in_tree = tree.flatten(args)
        slots = [a.slot if type(a) is TapeTracer and a._trace is self else -1 for a in flat]
        primals = [a._primal if type(a) is TapeTracer and a._trace is self else a
                   for a in flat]
        if not any(s >= 0 for s in slots):
            return self.pass_on("process_custom_vjp", rule, args,
                                tree.unflatten(in_tree, primals))
        in_avals = [type_of(p).strong() for p in primals]
        bwd = rule.bwd
        prev = set_trace(self.parent)
        try:
            flat_out, out_tree, res = run_fwd_rule(rule.name, rule.fwd, in_tree, primals)
        finally:
            set_trace(prev)
        out_avals = [type_of(o).strong() for o in flat_out]

        def backward(cts):
            cts = [zeros(a) if c is None else c for c, a in zip(cts, out_avals)]
            cts_in = _custom_lin_transpose(cts, bwd=bwd, res=res, in_tree=in_tree,
                                           out_tree=out_tree, in_avals=in_avals,
                                           out_avals=out_avals)
            # the user's rule may hand back broadcastable shapes or other dtypes
            return [_fit(ad._as_array(c), a) for c, a, s in zip(cts_in, in_avals, slots)
                    if s >= 0]

        outs = self._push(backward, flat_out, [True] * len(flat_out),
                            [s for s in slots if s >= 0], True)
        return tree.unflatten(out_tree, outs)

    def process_custom_jvp(self, rule: CustomJVP, args: tuple):
        """A custom_jvp function: linearize it (its forward rule applies) and transpose that."""
        self.materialize()
        flat, in_tree = tree.flatten(args)
        slots = [a.slot if type(a) is TapeTracer and a._trace is self else -1 for a in flat]
        primals = [a._primal if type(a) is TapeTracer and a._trace is self else a
                   for a in flat]
        if not any(s >= 0 for s in slots):
            return self.pass_on("process_custom_jvp", rule, args,
                                tree.unflatten(in_tree, primals))
        store = []

        def apply(*xs):
            out_flat, out_tree = tree.flatten(rule.call(*tree.unflatten(in_tree, list(xs))))
            store.append(out_tree)
            return out_flat

        prev = set_trace(self.parent)
        try:
            outs, lin = ad.linearize_flat(apply, primals, self.kind, live=[s >= 0 for s in slots])
        finally:
            set_trace(prev)
        outs = self._push(lambda cts: ad.backward_pass(lin, cts), outs,
                          lin.info["nonzero_outputs"], [s for s in slots if s >= 0], True)
        return tree.unflatten(store[0], outs)

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


def vjp_flat(f, primals: list, kind: str = "vjp"):
    """`ad.vjp_flat` when no graph is being built: run `f` once on a tape (or lazily, as a
    compiled program); (outputs, vjp_fn) on flat lists."""
    trace, ins, in_avals, outs, prog = _record(f, primals, kind)
    if prog is not None:
        return _run_program(prog, trace, outs, ins, in_avals)
    return _tape_vjp(trace, ins, in_avals, outs)


def grad_flat(f, primals: list, kind: str, seed):
    """`ad.grad_flat` when no graph is being built: `vjp_flat` and its vjp_fn at
    `seed(outputs)` in one step; a compiled program runs its two halves back to back."""
    trace, ins, in_avals, outs, prog = _record(f, primals, kind)
    if prog is None:
        out_p, vjp_fn = _tape_vjp(trace, ins, in_avals, outs)
        return out_p, vjp_fn(seed(out_p))
    results = _program_forward(prog, trace, outs, ins)
    out_p = list(results[:prog.n_out])
    return out_p, _program_backward(prog, results[prog.n_out:], seed(out_p), out_p, ins,
                                    in_avals)


def _record(f, primals: list, kind: str):
    """Run `f` on the inputs of a new lazy tape: (trace, inputs, in_avals, outputs, the
    compiled program of the call or None, in which case the tape holds the computed call)."""
    trace = TapeTrace(current_trace(), kind, lazy=True)
    trace.source = user_source()
    ins = [trace.new_input(p) if (p.dtype.kind in "fc" if type(p) is np.ndarray
                                  else ad.tangent_aval(p) is not None) else p
           for p in primals]
    in_avals = [p if type(p) is np.ndarray or hasattr(p, "dtype") else np.asarray(p)
                for p in primals]  # for fitting
    prev = set_trace(trace)
    try:
        outs = f(*ins)
    except BaseException as err:
        trace.alive = False
        trace.release()
        reraise_conversion(err)
        raise
    finally:
        set_trace(prev)
    try:
        for o in outs:
            if isinstance(o, Tracer) and not (type(o) is TapeTracer and o._trace is trace):
                trace.check_foreign(o)
        if trace.lazy:
            prog = _program(trace, outs, ins) \
                if trace.n_records <= programs.MAX_PROGRAM_LENGTH else None
            if prog is not None:
                return trace, ins, in_avals, outs, prog
            trace.materialize()
    finally:
        trace.alive = False
        trace.release()
    return trace, ins, in_avals, outs, None


def _tape_vjp(trace: TapeTrace, ins: list, in_avals: list, outs: list):
    """(outputs, vjp_fn) of a call computed on the tape."""
    out_p, out_slots = [], []
    for o in outs:
        if type(o) is TapeTracer and o._trace is trace:
            out_p.append(o._primal)
            out_slots.append(o.slot)
        else:
            out_p.append(o)
            out_slots.append(-1)
    in_slots = [x.slot if type(x) is TapeTracer else -1 for x in ins]
    out_avals = [ad._as_array(o) for o in out_p]

    def vjp_fn(cts_out: list) -> list:
        cts_out = [c if c is None else _fit(ad._as_array(c), a)
                   for c, a in zip(cts_out, out_avals)]
        cts = trace.backward(out_slots, cts_out)
        return _input_cotangents([cts[s] if s >= 0 else None for s in in_slots], in_avals,
                                 cts_out)

    return out_p, vjp_fn


def _applications(records: list):
    """(prim, params, output tracer, arguments) of each application in a flat record list."""
    i, n = 0, len(records)
    while i < n:
        prim, params, out, nargs = records[i:i + 4]
        yield prim, params, out, tuple(records[i + 4:i + 4 + nargs])
        i += 4 + nargs


def _records_graph(trace: TapeTrace, outs: list, in_avals: list) -> Graph:
    """The recorded call as a Graph from (*inputs, *constants in order of use, *constant
    outputs): what a program compiles. Holds no values of the call."""
    invars = [Var(a) for a in in_avals]
    var_of = dict(enumerate(invars[:trace.n_inputs]))     # slot -> Var
    consts = iter(invars[trace.n_inputs:])
    eqns = []
    for prim, params, out, args in _applications(trace.records):
        ins = [var_of[a.slot] if type(a) is TapeTracer and a._trace is trace else next(consts)
               for a in args]
        out_var = var_of[out.slot] = Var(ArrayType(*sig_types[abs(out.sig)]))
        eqns.append(Eqn(prim, ins, [out_var], params))
    outvars = [var_of[o.slot] if type(o) is TapeTracer and o._trace is trace else next(consts)
               for o in outs]
    return Graph(invars, outvars, eqns)


def _in_values(trace: TapeTrace, ins: list) -> list:
    """The primals of the differentiated inputs (a program's first inputs)."""
    return [x._primal for x in ins if type(x) is TapeTracer]


def _program(trace: TapeTrace, outs: list, ins: list) -> programs.Program | None:
    """The compiled program of this lazy call (compiled on its second sighting)."""
    key = trace.program_key(outs)
    prog = programs.programs.get(key)
    if prog is not None:                # the common case: no types to work out
        return None if prog is GENERAL else prog
    values = _in_values(trace, ins) + trace.consts + [o for o in outs if not (
        type(o) is TapeTracer and o._trace is trace)]
    n_in = trace.n_inputs
    in_avals = [type_of(v).strong() if i < n_in else type_of(v) for i, v in enumerate(values)]
    return programs.lookup(key, lambda: _records_graph(trace, outs, in_avals), in_avals, n_in)


def _program_forward(prog: programs.Program, trace: TapeTrace, outs: list, ins: list):
    """(*outputs, *residuals) of the recorded call, by its program."""
    programs.runs[0] += 1
    if len(ins) == trace.n_inputs:      # every input differentiated; no constant outputs
        args = [x._primal for x in ins]
    else:
        args = _in_values(trace, ins)
    if trace.consts:
        args += trace.consts
    for o in outs:
        if not (type(o) is TapeTracer and o._trace is trace):
            args.append(o)
    return prog.fwd(*args)


def _run_program(prog: programs.Program, trace: TapeTrace, outs, ins, in_avals):
    results = _program_forward(prog, trace, outs, ins)
    out_p = [ad._as_array(o) for o in results[:prog.n_out]]
    residuals = results[prog.n_out:]

    def vjp_fn(cts_out: list) -> list:
        return _program_backward(prog, residuals, cts_out, out_p, ins, in_avals)

    return out_p, vjp_fn


def _program_backward(prog: programs.Program, residuals, cts_out: list, out_p: list,
                      ins: list, in_avals: list) -> list:
    """The input cotangents of a program's call from its outputs' (`cts_out`)."""
    cts = []
    for c, a, nz in zip(cts_out, out_p, prog.nonzero):
        if c is not None:
            c = ad._as_array(c)
            if c.shape != a.shape or c.dtype != a.dtype:
                c = _fit(c, a)
        if nz:
            cts.append(np.zeros(a.shape, a.dtype) if c is None else c)
    if current_trace() is EVAL and not any(isinstance(c, Tracer) for c in cts):
        got = prog.bwd(*residuals, *cts)
    else:
        got = prog.bound()[1](*residuals, *cts)
    if len(got) == len(ins):    # every input differentiated, each with a cotangent, in order
        per_input = list(got)
    else:
        per_input = [None] * len(ins)
        # cotangent i of the program's inputs belongs to primal in_index[i]
        in_index = [i for i, x in enumerate(ins) if type(x) is TapeTracer]
        for p, c in zip(prog.pos, got):
            per_input[in_index[p]] = c
    return _input_cotangents(per_input, in_avals, cts_out)


def _input_cotangents(cts: list, in_avals: list, cts_out: list) -> list:
    """Each input's cotangent in its shape and dtype, owning its memory: not a view (of a
    residual, say), not the caller's cotangent, not another argument's (x + y gives ct twice)."""
    result = []
    taken = [id(c) for c in cts_out]
    for c, aval in zip(cts, in_avals):
        if c is not None:
            c = ad._as_array(c)
            if c.shape != aval.shape or c.dtype != aval.dtype:
                c = _fit(c, aval)
            if type(c) is np.ndarray and (c.base is not None or id(c) in taken
                                          or not c.flags.writeable):
                c = np.array(c)
            taken.append(id(c))
        result.append(c)
    return result


def eager(trace: Trace) -> bool:
    """True when no enclosing transformation builds a graph (jit, make_graph, a linearize):
    then reverse mode runs on a tape (a graph being built keeps the linearize + transpose
    design, whose backward equations carry the forward line they differentiate)."""
    while trace is not None:
        if isinstance(trace, GraphTrace):
            return False
        trace = trace.parent
    return True


def _fit(ct, like):
    """A cotangent in the shape and dtype of `like` (an ArrayType or an array): summed over
    broadcast axes, cast."""
    if ct.shape != like.shape or ct.dtype != like.dtype:
        return ad._fit(ct, ArrayType(like.shape, like.dtype))
    return ct



def reset() -> None:
    """Forget every compiled rule and program and every sighting: the next eager call runs as
    a first call would (for tests of the execution regimes, and benchmarks of cold calls).

    >>> reset(); stats()
    {'rules': 0, 'programs': 0, 'program_runs': 0, 'compile_failures': 0}
    """
    rules.clear()
    programs.clear()


def stats() -> dict:
    """How many per-primitive rules and whole-call programs are compiled and cached, how many
    calls ran as a compiled program, and how many compilations failed (the tape then
    differentiated those the general way). All counts start again at `reset()`.

    >>> sorted(stats())
    ['compile_failures', 'program_runs', 'programs', 'rules']
    """
    return {"rules": rules.rule_count(), "programs": programs.program_count(),
            "program_runs": programs.runs[0], "compile_failures": rules.failures[0]}


on_rule_change(reset)
ad.register_executor(ad.Executor("eager", eager, vjp_flat, grad_flat))
