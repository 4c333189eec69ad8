"""User-given derivative rules: custom_vjp (a reverse rule), custom_jvp (a forward rule).

Calling such a function hands it to the current trace (`process_custom_vjp` /
`process_custom_jvp`, declared on `core.trace.Trace`): traces that differentiate nothing run
the function, forward mode applies a jvp rule, the forward half of reverse mode runs `fwd`
and records `bwd` as one linear `custom_lin` equation, vmap batches the rules.
"""
from __future__ import annotations

import functools
from collections.abc import Callable

from .. import tree
from ..core.primitive import Primitive, free
from ..core.source import where
from ..core.trace import CustomJVP, CustomVJP, current_trace
from ..core.types import ArrayType
from ..prims.shape import batch_size, bdim_to, zeros
from .vmap import vmap


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


# custom_lin is recorded in linear graphs and transposed, never evaluated; vmap(grad(f)) and
# jacrev batch the backward pass, which calls `bwd` on batched values directly. Should a vmap
# ever map over a linear graph holding one, its batch rule maps it: tangents get the batch
# axis at 0 and `bwd` is vmapped over the cotangents (the residuals are shared by all examples).

def _custom_lin_batch(vals, dims, *, bwd, res, in_tree, out_tree, in_avals, out_avals):
    n = batch_size(vals, dims)

    def batched_bwd(res, cts):
        return vmap(lambda ct: bwd(res, ct))(cts)

    outs = custom_lin_p.bind(
        *[bdim_to(v, d, 0, n) for v, d in zip(vals, dims)], bwd=batched_bwd, res=res,
        in_tree=in_tree, out_tree=out_tree,
        in_avals=tuple(ArrayType((n,) + a.shape, a.dtype) for a in in_avals),
        out_avals=tuple(ArrayType((n,) + a.shape, a.dtype) for a in out_avals))
    return outs, [0] * len(outs)


# Linear in the tangents; the residuals from `fwd` ride along as a parameter.
custom_lin_p = Primitive("custom_lin", None,
                         lambda *avals, out_avals, **_: list(out_avals),
                         transpose=_custom_lin_transpose, batch=_custom_lin_batch,
                         multiple_results=True, linear=True,
                         cost=free)   # the user's bwd: not modelled


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
        rule = CustomVJP(self.fun.__name__, self.fun, self.fwd, self.bwd)
        return current_trace().process_custom_vjp(rule, args)


class custom_jvp:
    """A function with a hand-written forward-mode rule, as in JAX: `jvp(primals, tangents)`
    returns `(primal_out, tangent_out)`, linear in the tangents, so reverse mode (grad, vjp)
    transposes it too.

    >>> import funcgrad as fg, funcgrad.numpy as fnp
    >>> @fg.custom_jvp
    ... def safe_log1pexp(x):            # log(1 + e^x), with a derivative that never overflows
    ...     return fnp.logaddexp(0.0, x)
    >>> @safe_log1pexp.defjvp
    ... def _(primals, tangents):
    ...     (x,), (t,) = primals, tangents
    ...     return safe_log1pexp(x), t * fg.nn.sigmoid(x)
    >>> float(fg.grad(safe_log1pexp)(1000.0)), float(fg.jvp(safe_log1pexp, (0.0,), (2.0,))[1])
    (1.0, 1.0)
    """

    def __init__(self, fun: Callable):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.jvp: Callable | None = None

    def defjvp(self, jvp: Callable) -> Callable:
        """Set the rule `jvp(primals, tangents) -> (primal_out, tangent_out)` (usable as a
        decorator: returns `jvp`)."""
        self.jvp = jvp
        return jvp

    def __call__(self, *args):
        if self.jvp is None:
            raise TypeError(f"custom_jvp function {self.fun.__name__} has no rule yet: call "
                            f".defjvp(jvp) before using it")
        rule = CustomJVP(self.fun.__name__, self.fun, self.jvp, self)
        return current_trace().process_custom_jvp(rule, args)


__all__ = ["custom_vjp", "custom_jvp", "custom_lin_p", "run_fwd_rule"]
