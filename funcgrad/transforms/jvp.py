"""Forward mode: a JVPTrace carries a tangent beside every primal value.

Each primitive's `jvp` rule runs in the parent trace on the primals and tangents (None is a
symbolic zero). The forward half of reverse mode is this trace with `linearizing` set, under a
partial-evaluation graph trace (transforms/ad.py): there a custom_vjp's `fwd` runs and its
`bwd` is recorded as one linear `custom_lin` equation.
"""
from __future__ import annotations

from .. import tree
from ..core.source import user_source, where
from ..core.trace import (
    CustomJVP,
    CustomVJP,
    Trace,
    Tracer,
    current_trace,
    reraise_conversion,
    set_trace,
)
from ..core.types import ArrayType, type_of
from ..prims.shape import zeros
from .custom import custom_lin_p, run_fwd_rule


class JVPTracer(Tracer):
    """A primal value and its tangent (None: a symbolic zero)."""

    __slots__ = ("primal", "tangent")
    abstract = False

    def __init__(self, trace: JVPTrace, primal, tangent):
        self._trace, self.primal, self.tangent = trace, primal, tangent

    @property
    def aval(self) -> ArrayType:
        return type_of(self.primal).strong()

    def unwrap(self, op: str):
        return self.primal

    def differentiated(self) -> bool:
        return self.tangent is not None


class JVPTrace(Trace):
    """Forward mode: each tracer carries a primal and a tangent (None is a symbolic zero).
    `linearizing` marks the forward half of reverse mode (custom VJP rules apply there)."""

    __slots__ = ("linearizing",)
    differentiates = True

    def __init__(self, parent: Trace, kind: str, linearizing: bool = False):
        super().__init__(parent, kind)
        self.linearizing = linearizing

    def process(self, prim, args, params):
        primals, tangents, any_tangent = [], [], False
        for a in args:
            if type(a) is JVPTracer and a._trace is self:
                primals.append(a.primal)
                tangents.append(a.tangent)
                any_tangent = any_tangent or a.tangent is not None
            else:
                if isinstance(a, Tracer):
                    self.check_foreign(a)
                primals.append(a)
                tangents.append(None)
        if not any_tangent:
            return self.parent.process(prim, primals, params)
        if prim.jvp is None:
            raise NotImplementedError(
                f"funcgrad has no derivative rule for '{prim.name}'{where()}"
                + ("; it is not differentiable (wrap its inputs in fg.stop_gradient)"
                   if prim.nondiff else ""))
        prev = set_trace(self.parent)
        try:
            out, tangent_out = prim.jvp(primals, tangents, **params)
        finally:
            set_trace(prev)
        if prim.multiple_results:
            return [o if t is None else JVPTracer(self, o, t) for o, t in zip(out, tangent_out)]
        return out if tangent_out is None else JVPTracer(self, out, tangent_out)

    def _split(self, args: tuple):
        """(flat primals, flat tangents or None, tree) of this trace's values in `args`."""
        flat, in_tree = tree.flatten(args)
        primals, tangents = [], []
        for a in flat:
            mine = type(a) is JVPTracer and a._trace is self
            primals.append(a.primal if mine else a)
            tangents.append(a.tangent if mine else None)
        return primals, tangents, in_tree

    def process_custom_vjp(self, rule: CustomVJP, args: tuple):
        """Under the forward half of reverse mode: run `fwd`, and record `bwd` as a linear
        equation. Plain forward mode runs the function (checkpoint) or refuses (custom_vjp)."""
        primals, tangents, in_tree = self._split(args)
        if all(t is None for t in tangents):
            return self.pass_on("process_custom_vjp", rule, args,
                                tree.unflatten(in_tree, primals))
        if not self.linearizing:
            if rule.in_forward_mode == "run":
                return rule.fun(*args)
            raise TypeError(f"forward-mode differentiation (jvp, jacfwd, hessian) of custom_vjp "
                            f"function {rule.name} is not supported{where()}: it has only a "
                            f"reverse rule. Use grad/vjp/jacrev, or give it a fg.custom_jvp "
                            f"rule instead.")
        prev = set_trace(self.parent)
        try:
            flat_out, out_tree, res = run_fwd_rule(rule.name, rule.fwd, in_tree, primals)
            in_avals = [type_of(p).strong() for p in primals]
            out_avals = [type_of(o).strong() for o in flat_out]
            ts = [zeros(a) if t is None else t for t, a in zip(tangents, in_avals)]
            t_out = custom_lin_p.bind(*ts, bwd=rule.bwd, res=res, in_tree=in_tree,
                                      out_tree=out_tree, in_avals=tuple(in_avals),
                                      out_avals=tuple(out_avals))
        finally:
            set_trace(prev)
        return tree.unflatten(out_tree, [JVPTracer(self, o, t) for o, t in zip(flat_out, t_out)])

    def process_custom_jvp(self, rule: CustomJVP, args: tuple):
        """Apply the user's jvp rule to the primals and tangents (zeros where a value has no
        tangent here), in the parent trace."""
        primals, tangents, in_tree = self._split(args)
        if all(t is None for t in tangents):
            return self.pass_on("process_custom_jvp", rule, args,
                                tree.unflatten(in_tree, primals))
        prev = set_trace(self.parent)
        try:
            ts = [zeros(type_of(p).strong()) if t is None else t
                  for p, t in zip(primals, tangents)]
            result = rule.jvp(tree.unflatten(in_tree, primals), tree.unflatten(in_tree, ts))
            if not (isinstance(result, tuple) and len(result) == 2):
                raise TypeError(f"custom_jvp: the jvp rule of {rule.name} must return a pair "
                                f"(primal_out, tangent_out){where()}")
            flat_out, out_tree = tree.flatten(result[0])
            flat_t, t_tree = tree.flatten(result[1])
            if t_tree != out_tree:
                raise TypeError(f"custom_jvp: the jvp rule of {rule.name} returned tangents "
                                f"with structure {t_tree} for outputs {out_tree}{where()}")
            for o, t in zip(flat_out, flat_t):
                if type_of(o).shape != type_of(t).shape:
                    raise ValueError(f"custom_jvp: the jvp rule of {rule.name} returned a "
                                     f"tangent of shape {type_of(t).shape} for an output of "
                                     f"shape {type_of(o).shape}{where()}")
        finally:
            set_trace(prev)
        return tree.unflatten(out_tree, [JVPTracer(self, o, t) for o, t in zip(flat_out, flat_t)])


def jvp_flat(f, primals: list, tangents: list, kind: str = "jvp"):
    """Forward mode on flat lists. `tangents` may hold None (a symbolic zero)."""
    trace = JVPTrace(current_trace(), kind)
    trace.source = user_source()
    ins = [JVPTracer(trace, p, t) for p, t in zip(primals, tangents, strict=True)]
    prev = set_trace(trace)
    try:
        outs = f(*ins)
    except ValueError as err:
        reraise_conversion(err)
        raise
    finally:
        set_trace(prev)
        trace.alive = False
    return split_outputs(trace, outs)


def split_outputs(trace: JVPTrace, outs) -> tuple[list, list]:
    """Outputs of a JVP trace -> (primals, tangents); values it did not touch have None."""
    out_p, out_t = [], []
    for o in outs:
        if isinstance(o, JVPTracer) and o._trace is trace:
            out_p.append(o.primal)
            out_t.append(o.tangent)
        else:
            if isinstance(o, Tracer):
                trace.check_foreign(o)
            out_p.append(o)
            out_t.append(None)
    return out_p, out_t


__all__ = ["JVPTrace", "JVPTracer", "jvp_flat", "split_outputs"]
