"""Reverse mode: linearize (= forward mode + partial evaluation) and transpose.

`linearize_flat` runs a function under a JVP trace (transforms/jvp.py) whose primal values are
computed concretely, or by the enclosing transformation, while a partial-evaluation graph
trace records only the tangent operations: a linear graph. `backward_pass` transposes a linear
graph with each linear primitive's `transpose` rule. `vjp_flat` is the two together; how a
call is executed (traced whole, or on the eager tape) is an executor's choice (below).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..core.ir import Graph, Lit, UndefinedPrimal, Var
from ..core.source import set_source_override, user_source
from ..core.trace import (
    GraphTrace,
    GraphTracer,
    Trace,
    current_trace,
    reraise_conversion,
    set_trace,
)
from ..core.types import ArrayType, is_float, type_of
from ..prims.elementwise import add, convert
from ..prims.shape import unbroadcast, zeros
from .jvp import JVPTrace, JVPTracer, jvp_flat, split_outputs


def tangent_aval(x) -> ArrayType | None:
    """Tangent type of a primal, or None for integer/bool primals (they have no derivative)."""
    aval = type_of(x)
    return aval.strong() if is_float(aval.dtype) else None


def linearize_flat(f, primals: list, kind: str = "grad", linearizing: bool = True,
                   live: list | None = None):
    """Run `f` once, returning its outputs and a linear Graph from input to output tangents.

    The JVP trace computes primal values in the parent trace (concretely when there is no
    outer transformation) while the tangent operations are recorded by a partial-evaluation
    graph trace: primal values the tangents need become the graph's constants (residuals).
    With `linearizing` (reverse mode: the graph will be transposed) custom_vjp/checkpoint
    rules are recorded; fg.linearize runs the graph forward, so it passes False. `live`
    (one bool per primal) leaves the False ones out of differentiation, as constants.
    """
    parent = current_trace()
    pe = GraphTrace(parent, kind, delegate_known=True)
    jt = JVPTrace(pe, kind, linearizing=linearizing)
    jt.source = pe.source = user_source()
    in_tangents = []
    for i, p in enumerate(primals):
        aval = tangent_aval(p) if live is None or live[i] else None
        in_tangents.append(pe.new_arg(aval) if aval is not None else None)
    ins = [JVPTracer(jt, p, t) for p, t in zip(primals, in_tangents)]
    prev = set_trace(jt)
    try:
        out_p, out_t = split_outputs(jt, f(*ins))
        set_trace(pe)
        nonzero = [t is not None for t in out_t]
        out_t = [zeros(type_of(p).strong()) if t is None else t for p, t in zip(out_p, out_t)]
        graph = pe.to_graph([t.ir_var for t in in_tangents if t is not None], out_t)
    except ValueError as err:
        reraise_conversion(err)
        raise
    finally:
        set_trace(prev)
        jt.alive = pe.alive = False
    graph.info["linear_inputs"] = [t is not None for t in in_tangents]
    graph.info["nonzero_outputs"] = nonzero
    return out_p, graph


def backward_pass(graph: Graph, cts_out: list) -> list:
    """Transpose a linear graph: cotangents of its outputs -> cotangents of its inputs.

    Walks the equations once in reverse. Each linear primitive's transpose rule gives the
    cotangents of its linear inputs; they are summed back to each input's shape here (so rules
    never unbroadcast) and accumulated when a value fans out.
    """
    known = dict(zip(graph.constvars, graph.consts))
    cts: dict[Var, object] = {}

    def accumulate(v: Var, ct):
        aval = v.aval
        if ct.shape != aval.shape or ct.dtype != aval.dtype:
            ct = _fit(ct, aval)
        prev = cts.get(v)
        cts[v] = ct if prev is None else add(prev, ct)

    for v, ct in zip(graph.outvars, cts_out, strict=True):
        if isinstance(v, Var) and v not in known and ct is not None:
            accumulate(v, _as_array(ct))
    for eqn in reversed(graph.eqns):
        prim = eqn.primitive
        if prim.multiple_results:
            outs = [cts.pop(v, None) for v in eqn.outputs]
            if all(ct is None for ct in outs):
                continue
            outs = [zeros(v.aval) if ct is None else ct for v, ct in zip(eqn.outputs, outs)]
        else:
            outs = cts.pop(eqn.outputs[0], None)
            if outs is None:
                continue
        ins = [v.val if type(v) is Lit else known[v] if v in known else UndefinedPrimal(v.aval)
               for v in eqn.inputs]
        rule = prim.transpose
        if rule is None:
            raise NotImplementedError(f"funcgrad has no transpose rule for '{prim.name}'"
                                      f" (needed for reverse mode)")
        # Backward equations (and the sums of fanned-out cotangents) are attributed to the
        # forward line they differentiate.
        prev_source = set_source_override(eqn.source) if eqn.source is not None else None
        try:
            ct_ins = rule(outs, *ins, **eqn.params)
            for v, x, ct in zip(eqn.inputs, ins, ct_ins):
                if ct is not None and type(x) is UndefinedPrimal:
                    accumulate(v, _as_array(ct))
        finally:
            if eqn.source is not None:
                set_source_override(prev_source)
    return [cts.pop(v, None) for v in graph.invars]


def _as_array(x):
    """Cotangents are arrays or tracers (NumPy may hand back scalars or Python numbers)."""
    return x if hasattr(x, "shape") and hasattr(x, "dtype") else np.asarray(x)


def _fit(ct, aval: ArrayType):
    """Sum a cotangent over broadcast axes and cast it to its variable's dtype."""
    shape = ct.shape if hasattr(ct, "shape") else np.shape(ct)
    if shape != aval.shape:
        ct = unbroadcast(ct, aval.shape)
    if getattr(ct, "dtype", None) != aval.dtype:
        ct = convert(ct, aval.dtype)
    return ct


# ---------------------------------------------------------------- executors
# What reverse mode computes is above; how it is executed is an executor's choice. The one
# here (linearize the whole function into a graph, then transpose it) runs whenever a graph
# is being built (jit, make_graph, control-flow bodies), so that backward equations carry the
# forward line they differentiate. Other executors declare themselves with register_executor:
# funcgrad.run.eager runs eager calls on a tape of compiled per-primitive rules and
# whole-call programs (the layer above this one, so it registers when imported).

class Executor(NamedTuple):
    """A way to execute reverse mode: `vjp_flat(f, primals, kind)`, used when
    `applies(current_trace())` is true (executors registered later are asked first)."""

    name: str
    applies: Callable[[Trace], bool]
    vjp_flat: Callable
    grad_flat: Callable | None = None    # `grad_flat(f, primals, kind, seed)`, if it has one


_executors: list[Executor] = []


def register_executor(executor: Executor) -> None:
    """Declare a reverse-mode executor (replacing one of the same name)."""
    _executors[:] = [e for e in _executors if e.name != executor.name]
    _executors.insert(0, executor)


def vjp_flat(f, primals: list, kind: str = "vjp"):
    """(outputs, vjp_fn) on flat lists; vjp_fn(cts) gives one cotangent (or None) per primal."""
    if _executors:
        trace = current_trace()
        for executor in _executors:
            if executor.applies(trace):
                return executor.vjp_flat(f, primals, kind)
    out, graph = linearize_flat(f, primals, kind)
    mask = graph.info["linear_inputs"]

    def vjp_fn(cts_out: list) -> list:
        cts = iter(backward_pass(graph, cts_out))
        return [next(cts) if m else None for m in mask]

    return out, vjp_fn


def grad_flat(f, primals: list, kind: str, seed: Callable[[list], list]):
    """`vjp_flat` and its vjp_fn at `seed(outputs)` (the output cotangents; it checks the
    outputs first) in one step: (outputs, one cotangent or None per primal). What grad and
    value_and_grad need: an executor can run both halves without building the vjp function."""
    if _executors:
        trace = current_trace()
        for executor in _executors:
            if executor.applies(trace):
                if executor.grad_flat is not None:
                    return executor.grad_flat(f, primals, kind, seed)
                break
    out, vjp_fn = vjp_flat(f, primals, kind)
    return out, vjp_fn(seed(out))


__all__ = ["grad_flat", "jvp_flat", "linearize_flat", "backward_pass", "vjp_flat", "GraphTracer"]
