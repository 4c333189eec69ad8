"""custom_vjp (user-given reverse rules) and checkpoint (recompute instead of storing)."""
from __future__ import annotations

import functools
from collections.abc import Callable

from .. import tree
from ..core.primitive import Primitive
from ..core.source import where
from ..core.trace import JVPTrace, JVPTracer, current_trace, set_trace
from ..errors import UnexpectedTracerError
from ..prims.families import zeros


def _custom_lin_transpose(cts, *tangents, bwd, res, in_tree, out_tree, in_avals, out_avals):
    ct_tree = tree.unflatten(out_tree, list(cts))
    result = bwd(res, ct_tree)
    if not isinstance(result, tuple):
        raise TypeError(f"custom_vjp: the bwd rule must return a tuple with one cotangent per "
                        f"primal argument, got {type(result).__name__}")
    flat, tree_ = tree.flatten(result, is_leaf=lambda x: x is None)
    if tree_ != in_tree and len(flat) != len(in_avals):
        raise ValueError(f"custom_vjp: the bwd rule returned cotangents with structure {tree_}, "
                         f"expected {in_tree} (one per primal argument)")
    return [zeros(a) if c is None else c for c, a in zip(flat, in_avals)]


# Linear in the tangents; the residuals from `fwd` ride along as a parameter. Only ever
# recorded in a linear graph and transposed.
custom_lin_p = Primitive("custom_lin", None,
                         lambda *avals, out_avals, **_: list(out_avals),
                         transpose=_custom_lin_transpose, multiple_results=True, linear=True,
                         cost=lambda *avals, **params: 0)   # the user's bwd: not modelled


def run_fwd_rule(fun_name: str, fwd: Callable, in_tree, primals: list):
    """Call a custom_vjp's fwd rule on flat primals (in the current trace): the flat outputs,
    their tree and the residuals, or a TypeError naming the function."""
    res_out = fwd(*tree.unflatten(in_tree, primals))
    if not (isinstance(res_out, tuple) and len(res_out) == 2):
        raise TypeError(f"custom_vjp: the fwd rule of {fun_name} must return a pair "
                        f"(output, residuals){where()}")
    out, res = res_out
    flat_out, out_tree = tree.flatten(out)
    return flat_out, out_tree, res


def _apply_custom_rule(fun_name: str, fwd: Callable, bwd: Callable, args: tuple):
    """Under the forward half of reverse mode: run fwd, and record bwd as a linear equation."""
    trace = current_trace()
    lift = getattr(trace, "process_custom_vjp", None)
    if lift is not None:  # under vmap: the BatchTrace lifts the rule to its parent trace
        return lift(fun_name, fwd, bwd, args)
    flat, in_tree = tree.flatten(args)
    if not (isinstance(trace, JVPTrace) and any(
            isinstance(a, JVPTracer) and a._trace is trace and a.tangent is not None
            for a in flat)):
        return None
    if not trace.linearizing:
        return NotImplemented
    primals = [a.primal if isinstance(a, JVPTracer) and a._trace is trace else a for a in flat]
    tangents = [a.tangent if isinstance(a, JVPTracer) and a._trace is trace else None
                for a in flat]
    prev = set_trace(trace.parent)
    try:
        flat_out, out_tree, res = run_fwd_rule(fun_name, fwd, in_tree, primals)
        from ..core.types import type_of
        in_avals = [type_of(p).strong() for p in primals]
        out_avals = [type_of(o).strong() for o in flat_out]
        ts = [zeros(a) if t is None else t for t, a in zip(tangents, in_avals)]
        t_out = custom_lin_p.bind(*ts, bwd=bwd, res=res, in_tree=in_tree, out_tree=out_tree,
                                  in_avals=tuple(in_avals), out_avals=tuple(out_avals))
    finally:
        set_trace(prev)
    return tree.unflatten(out_tree, [JVPTracer(trace, o, t) for o, t in zip(flat_out, t_out)])


class custom_vjp:
    """A function with a hand-written reverse-mode rule, as in JAX.

    >>> import funcgrad as fg, funcgrad.numpy as fnp
    >>> @fg.custom_vjp
    ... def clip_grad(x):
    ...     return x
    >>> clip_grad.defvjp(lambda x: (x, None), lambda res, g: (fnp.clip(g, -1.0, 1.0),))
    >>> float(fg.grad(lambda x: 5.0 * clip_grad(x))(2.0))
    1.0
    """

    def __init__(self, fun: Callable):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.fwd: Callable | None = None
        self.bwd: Callable | None = None

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        """fwd(*args) -> (out, residuals); bwd(residuals, out_cotangent) -> tuple of cotangents."""
        self.fwd, self.bwd = fwd, bwd

    def __call__(self, *args):
        if self.fwd is None:
            raise TypeError(f"custom_vjp function {self.fun.__name__} has no rule yet: call "
                            f".defvjp(fwd, bwd) before using it")
        out = _apply_custom_rule(self.fun.__name__, self.fwd, self.bwd, args)
        if out is NotImplemented:
            raise TypeError(f"forward-mode differentiation (jvp, jacfwd, hessian) of custom_vjp "
                            f"function {self.fun.__name__} is not supported{where()}: it has "
                            f"only a reverse rule. Use grad/vjp/jacrev, or fg.custom_jvp-free "
                            f"code.")
        return self.fun(*args) if out is None else out


def checkpoint(fun: Callable) -> Callable:
    """Rematerialise: in reverse mode, store only `fun`'s inputs and recompute its
    intermediates during the backward pass (less memory, one more forward evaluation).

    >>> import funcgrad as fg, funcgrad.numpy as fnp
    >>> f = fg.checkpoint(lambda x: fnp.sin(fnp.sin(x)))
    >>> round(float(fg.grad(f)(0.5)), 6) == round(float(fnp.cos(fnp.sin(0.5)) * fnp.cos(0.5)), 6)
    True
    """
    from .api import vjp

    def fwd(*args):
        return fun(*args), args

    def bwd(args, ct):
        return vjp(fun, *args)[1](ct)

    @functools.wraps(fun)
    def wrapped(*args):
        try:
            out = _apply_custom_rule(getattr(fun, "__name__", "fun"), fwd, bwd, args)
        except UnexpectedTracerError:
            # `fun` closes over a value being differentiated: the rule runs `fwd` outside that
            # differentiation, where the value cannot be used. Differentiate `fun` directly
            # (same derivatives, nothing rematerialised).
            out = None
        return fun(*args) if out is None or out is NotImplemented else out

    return wrapped


# --- batching rules ----------------------------------------------------------------------
# custom_lin is recorded in linear graphs and transposed, never evaluated; vmap(grad(f)) and
# jacrev batch the backward pass, which calls `bwd` on batched values directly. Should a vmap
# ever map over a linear graph holding one, this maps it: tangents get the batch axis at 0
# and `bwd` is vmapped over the cotangents (the residuals are shared by all examples).

def _custom_lin_batch(vals, dims, *, bwd, res, in_tree, out_tree, in_avals, out_avals):
    from ..core.types import ArrayType
    from ..prims.families import batch_size, bdim_to
    from .vmap import vmap
    n = batch_size(vals, dims)

    def batched_bwd(res, cts):
        return vmap(lambda ct: bwd(res, ct))(cts)

    outs = custom_lin_p.bind(
        *[bdim_to(v, d, 0, n) for v, d in zip(vals, dims)], bwd=batched_bwd, res=res,
        in_tree=in_tree, out_tree=out_tree,
        in_avals=tuple(ArrayType((n,) + a.shape, a.dtype) for a in in_avals),
        out_avals=tuple(ArrayType((n,) + a.shape, a.dtype) for a in out_avals))
    return outs, [0] * len(outs)


custom_lin_p.batch = _custom_lin_batch
