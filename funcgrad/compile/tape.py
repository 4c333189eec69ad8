"""Eager reverse mode: a tape of compiled per-primitive VJPs.

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
"""
from __future__ import annotations

import threading

import numpy as np

from .. import tree
from ..core.ir import Graph, Var
from ..core.primitive import on_rule_change
from ..core.source import user_source
from ..core.trace import (
    EVAL,
    CustomJVP,
    CustomVJP,
    GraphTrace,
    GraphTracer,
    Trace,
    Tracer,
    current_trace,
    reraise_conversion,
    set_trace,
)
from ..core.types import ArrayType, type_of
from ..prims.families import zeros
from ..transforms import ad
from ..transforms.custom import _custom_lin_transpose, run_fwd_rule
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


class _Program:
    """A whole recorded call compiled: fwd(*inputs, *constants) -> (*outs, *residuals);
    bwd(*residuals, *cts of the outputs at `nonzero`) -> the non-zero input cotangents (for
    the inputs at `pos`)."""

    __slots__ = ("fwd", "bwd", "fwd_graph", "bwd_graph", "pos", "nonzero", "n_out", "_bound")

    def __init__(self, fwd, bwd, fwd_graph, bwd_graph, pos, nonzero, n_out):
        self.fwd, self.bwd, self.fwd_graph, self.bwd_graph = fwd, bwd, fwd_graph, bwd_graph
        self.pos, self.nonzero, self.n_out = pos, nonzero, n_out
        self._bound = None

    bound = _Rule.bound


_GENERAL = object()     # marker: this signature is differentiated the general way
_rules: dict = {}
_seen: dict = {}
_programs: dict = {}
_seen_programs: dict = {}
_forward_sigs: dict = {}    # signature of an application without derivative -> output sig
_lock = threading.Lock()
_MAX_PROGRAMS = 256
_MAX_PROGRAM_LENGTH = 4096    # longer calls stay on the tape (compiling them would stall)


def rule_count() -> int:
    """Number of compiled per-primitive rules cached (for tests and benchmarks).

    >>> rule_count() >= 0
    True
    """
    return sum(1 for r in _rules.values() if r is not _GENERAL)


def program_count() -> int:
    """Number of compiled whole-call programs cached (for tests and benchmarks).

    >>> program_count() >= 0
    True
    """
    return sum(1 for p in _programs.values() if p is not _GENERAL)


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
        shape, dtype = _sig_types[abs(self.sig)]
        return ArrayType(shape, dtype)

    shape = property(lambda self: _sig_types[abs(self.sig)][0])
    dtype = property(lambda self: _sig_types[abs(self.sig)][1])
    ndim = property(lambda self: len(_sig_types[abs(self.sig)][0]))
    size = property(lambda self: int(np.prod(_sig_types[abs(self.sig)][0], dtype=np.int64)))

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
        super().__init__(parent, kind)
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
        return TapeTracer(self, value, slot, _sig(value))

    def process(self, prim, args, params):
        if self.lazy:
            return self._record_lazy(prim, args, params)
        key = [prim]            # the signature: one rule per key
        primals, live = [], []  # slots of the differentiated inputs, in order
        opaque = prim.multiple_results   # no compiled rule (also: unusual argument types)
        for a in args:
            if type(a) is TapeTracer and a._trace is self:
                primals.append(a._primal)
                key.append(a.sig)
                if a.slot >= 0:
                    live.append(a.slot)
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
        if self.concrete:
            for a in args:
                if type(a) is np.ndarray and a.flags.writeable:
                    self._capture(a)
        if params:
            key.append(tuple(params.items()))
        key = tuple(key)
        try:
            rule = _GENERAL if opaque else _rules.get(key)
        except TypeError:           # unhashable params: differentiated the general way
            rule = _GENERAL
        if rule is None:
            rule = _miss(key, prim, primals, params,
                         [type(a) is TapeTracer and a._trace is self and a.slot >= 0
                          for a in args])
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

    # ------------------------------------------------------------------ lazy recording

    def _record_lazy(self, prim, args, params):
        """Record one application without computing it (every signature must be known)."""
        n = len(args)
        if n == 1:      # the commonest cases, without the general loop: f(x), ...
            a = args[0]
            if type(a) is TapeTracer and a._trace is self and a.slot >= 0:
                try:
                    rule = _rules.get((prim, a.sig, tuple(params.items())) if params
                                      else (prim, a.sig))
                except TypeError:           # unhashable params
                    rule = None
                if rule is not None and rule is not _GENERAL and rule.has_tangent:
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
                    key, wired, const = (prim, a.sig, b.sig), b.slot, None
                elif type(b) is np.ndarray:
                    key, wired, const = (prim, a.sig, -_sig(b)), None, b
                elif type(b) is float:
                    key, wired, const = (prim, a.sig, float), None, b
                else:
                    key = None
                try:
                    rule = None if key is None else _rules.get(
                        key + (tuple(params.items()),) if params else key)
                except TypeError:           # unhashable params
                    rule = None
                if rule is not None and rule is not _GENERAL and rule.has_tangent:
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
        key = [prim]
        wiring = []             # per argument: the slot of a value of this trace, or None
        consts = []
        live = mine = False
        for a in args:
            if type(a) is TapeTracer and a._trace is self:
                key.append(a.sig)
                s = a.slot
                wiring.append(s)
                mine = True
                if s >= 0:
                    live = True
                continue
            t = type(a)
            if t is np.ndarray or isinstance(a, np.generic):
                key.append(-_sig(a))
            elif t in _SCALARS:
                key.append(t)
            else:               # a foreign tracer (an error), or an unusual argument
                return self._materialize_then(prim, args, params)
            wiring.append(None)
            consts.append(a)
        if not mine:
            return self.parent.process(prim, args, params)
        # checks_values: evaluated at once, so that an error points at the user's line
        if prim.multiple_results or prim.checks_values:
            return self._materialize_then(prim, args, params)
        if params:
            key.append(tuple(params.items()))
        key = tuple(key)
        try:
            if live:
                rule = _rules.get(key)
                if rule is None or rule is _GENERAL:
                    return self._materialize_then(prim, args, params)
                out_sig = rule.out_sig
                differentiable = rule.has_tangent
            else:   # computed from values without derivative only
                rule = key
                out_sig = _forward_sigs.get(key)
                if out_sig is None:
                    out_sig = _forward_sig(key, prim, args, params)
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
                out._primal, out.slot, out.sig = value, -1, -_sig(value)

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
                results.append(TapeTracer(self, o, self.n_slots, _sig(o)))
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
        if not any(s >= 0 for s in slots):
            return rule.fun(*args)
        primals = [a._primal if type(a) is TapeTracer and a._trace is self else a
                   for a in flat]
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
        if not any(s >= 0 for s in slots):
            return rule.fun(*args)
        primals = [a._primal if type(a) is TapeTracer and a._trace is self else a
                   for a in flat]
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


_SCALARS = (float, int, bool, complex)
_sig_ids: dict = {}
_sig_types: list = [None]     # sig -> (shape, dtype)


def _sig(x) -> int:
    """A positive int naming x's (shape, dtype), the same for every value of that type."""
    s = _sig_ids.get((x.shape, x.dtype))
    return _sig_of(x.shape, x.dtype) if s is None else s


def _sig_of(shape: tuple, dtype) -> int:
    k = (tuple(shape), np.dtype(dtype))
    with _lock:
        s = _sig_ids.get(k)
        if s is None:
            s = _sig_ids[k] = len(_sig_types)
            _sig_types.append(k)
        return s


def _forward_sig(key, prim, args, params) -> int:
    """The output signature of an application to values without derivative (shape rule)."""
    from ..core.trace import abstract_eval
    avals = [ArrayType(*_sig_types[-a.sig]) if type(a) is TapeTracer else type_of(a)
             for a in args]
    out = abstract_eval(prim, avals, params)
    sig = _sig_of(out.shape, out.dtype)
    if len(_forward_sigs) > _MAX_RULES:
        _forward_sigs.clear()
    _forward_sigs[key] = sig
    return sig


def reset() -> None:
    """Forget every compiled rule and program and every sighting: the next eager call runs as
    a first call would (for tests of the execution regimes, and benchmarks of cold calls).

    >>> reset(); stats()
    {'rules': 0, 'programs': 0}
    """
    with _lock:
        _rules.clear()
        _seen.clear()
        _programs.clear()
        _seen_programs.clear()
        _forward_sigs.clear()


_clear = reset
on_rule_change(reset)


def stats() -> dict:
    """How many per-primitive rules and whole-call programs are compiled and cached.

    >>> sorted(stats())
    ['programs', 'rules']
    """
    return {"rules": rule_count(), "programs": program_count()}


def _sighted_before(seen: dict, key) -> bool:
    """Count a sighting of `key`; True (and forget it) from the _COMPILE_AFTER-th on."""
    with _lock:
        n = seen.get(key, 0) + 1
        if n >= _COMPILE_AFTER:
            seen.pop(key, None)
            return True
        if len(seen) > _MAX_RULES:
            seen.clear()
        seen[key] = n
        return False


def _miss(key, prim, primals, params, live):
    """A signature without a cached rule: compile one if it has been seen before."""
    if not _sighted_before(_seen, key):
        return _GENERAL
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


def _compile_vjp(fun, in_avals: list, live: list, name: str):
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


def _build(prim, primals, live, params) -> _Rule:
    """The rule of one primitive application."""
    in_avals = [type_of(p).strong() if is_live else type_of(p)
                for p, is_live in zip(primals, live)]
    fwd, bwd, fwd_graph, bwd_graph, pos, nonzero = _compile_vjp(
        lambda *xs: [prim.bind(*xs, **params)], in_avals, live, prim.name)
    aval = fwd_graph.outvars[0].aval
    return _Rule(fwd, bwd, fwd_graph, bwd_graph, None if len(pos) == sum(live) else tuple(pos),
                 nonzero[0] and bool(pos), _sig_of(aval.shape, aval.dtype))


def _applications(records: list):
    """(prim, params, output tracer, arguments) of each application in a flat record list."""
    i, n = 0, len(records)
    while i < n:
        prim, params, out, nargs = records[i:i + 4]
        yield prim, params, out, tuple(records[i + 4:i + 4 + nargs])
        i += 4 + nargs


def _replayer(records: list, trace: TapeTrace, outs: list):
    """A function re-running a recorded call from (*inputs, *constants), by binding its
    primitives: what a program compiles. Holds no values of the call."""
    steps, out_refs = [], []
    for prim, params, out, args in _applications(records):
        steps.append((prim, params, tuple(a.slot if type(a) is TapeTracer and a._trace is trace
                                          else None for a in args), out.slot))
    for o in outs:
        out_refs.append(o.slot if type(o) is TapeTracer and o._trace is trace else None)
    n_inputs = trace.n_inputs

    def replay(*xs):
        env = dict(enumerate(xs[:n_inputs]))
        consts = iter(xs[n_inputs:])
        for prim, params, refs, out in steps:
            args = [next(consts) if r is None else env[r] for r in refs]
            env[out] = prim.bind(*args, **params)
        return [next(consts) if r is None else env[r] for r in out_refs]

    return replay


def _program(trace: TapeTrace, outs: list, in_values: list) -> _Program | None:
    """The compiled program of this lazy call: cached, compiled on its second sighting."""
    if trace.n_records > _MAX_PROGRAM_LENGTH:
        return None
    key = trace.program_key(outs)
    prog = _programs.get(key)
    if prog is not None:
        return None if prog is _GENERAL else prog
    if not _sighted_before(_seen_programs, key):
        return None
    consts = [o for o in outs if not (type(o) is TapeTracer and o._trace is trace)]
    values = in_values + trace.consts + consts
    n_in = trace.n_inputs
    live = [True] * n_in + [False] * (len(values) - n_in)
    in_avals = [type_of(v).strong() if i < n_in else type_of(v) for i, v in enumerate(values)]
    try:
        fwd, bwd, fwd_graph, bwd_graph, pos, nonzero = _compile_vjp(
            _replayer(trace.records, trace, outs), in_avals, live, "program")
        prog = _Program(fwd, bwd, fwd_graph, bwd_graph, pos, nonzero, len(outs))
    except Exception:
        prog = _GENERAL         # the tape handles it (and reports any error)
    with _lock:
        if len(_programs) > _MAX_PROGRAMS:
            _programs.clear()
        _programs[key] = prog
    return None if prog is _GENERAL else prog


def vjp_flat(f, primals: list, kind: str = "vjp"):
    """`ad.vjp_flat` when no graph is being built: run `f` once on a tape (or lazily, as a
    compiled program); (outputs, vjp_fn) on flat lists."""
    trace = TapeTrace(current_trace(), kind, lazy=True)
    trace.source = user_source()
    ins = [trace.new_input(p) if (p.dtype.kind in "fc" if type(p) is np.ndarray
                                  else ad.tangent_aval(p) is not None) else p
           for p in primals]
    in_avals = [p if hasattr(p, "dtype") else np.asarray(p) for p in primals]  # for fitting
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
            in_values = [x._primal for x in ins if type(x) is TapeTracer]
            prog = _program(trace, outs, in_values)
            if prog is not None:
                return _run_program(prog, trace, outs, in_values, ins, in_avals)
            trace.materialize()
    finally:
        trace.alive = False
        trace.release()
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


def _run_program(prog: _Program, trace: TapeTrace, outs, in_values, ins, in_avals):
    consts = [o for o in outs if not (type(o) is TapeTracer and o._trace is trace)]
    results = prog.fwd(*in_values, *trace.consts, *consts)
    out_p = [ad._as_array(o) for o in results[:prog.n_out]]
    residuals = results[prog.n_out:]
    out_avals = out_p
    # cotangent i of the program's inputs belongs to primal in_index[i]
    in_index = [i for i, x in enumerate(ins) if type(x) is TapeTracer]

    def vjp_fn(cts_out: list) -> list:
        cts_out = [c if c is None else _fit(ad._as_array(c), a)
                   for c, a in zip(cts_out, out_avals)]
        cts = [np.zeros(a.shape, a.dtype) if c is None else c
               for c, a, nz in zip(cts_out, out_avals, prog.nonzero) if nz]
        fast = current_trace() is EVAL and not any(isinstance(c, Tracer) for c in cts)
        got = prog.bwd(*residuals, *cts) if fast else prog.bound()[1](*residuals, *cts)
        per_input: list = [None] * len(ins)
        for p, c in zip(prog.pos, got):
            per_input[in_index[p]] = c
        return _input_cotangents(per_input, in_avals, cts_out)

    return out_p, vjp_fn


def _input_cotangents(cts: list, in_avals: list, cts_out: list) -> list:
    """Each input's cotangent in its shape and dtype, owning its memory: not a view (of a
    residual, say), not the caller's cotangent, not another argument's (x + y gives ct twice)."""
    result = []
    taken = {id(c) for c in cts_out}
    for c, aval in zip(cts, in_avals):
        if c is not None:
            c = _fit(ad._as_array(c), aval)
            if type(c) is np.ndarray and (id(c) in taken or c.base is not None
                                          or not c.flags.writeable):
                c = np.array(c)
            taken.add(id(c))
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


ad.eager_vjp = (eager, vjp_flat)
