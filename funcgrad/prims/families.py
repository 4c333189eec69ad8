"""The elementwise family: one constructor fills every slot of a primitive applying a NumPy
function elementwise (impl, NumPy's shape and dtype rule, lowering, batching, cost), and the
unary/binary builders add its derivative from a calculus-table entry."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..core.primitive import Lowering, Primitive
from ..core.types import ArrayType
from .shape import broadcast_to_shape, move_axis, reshape, shape_of

_PROXY = {"f": 1.0, "i": 1, "u": 1, "b": True, "c": 1 + 0j}


def proxy(aval: ArrayType):
    """A tiny value with `aval`'s dtype (a Python scalar for weak types) to ask NumPy for dtypes."""
    return _PROXY[aval.dtype.kind] if aval.weak else np.ones((), aval.dtype)


@lru_cache(maxsize=8192)
def _result_dtype(fn, keys: tuple) -> np.dtype:
    args = [_PROXY[dt.kind] if weak else np.ones((), dt) for dt, weak in keys]
    with np.errstate(all="ignore"):
        return np.asarray(fn(*args)).dtype


def result_dtype(fn, *avals: ArrayType) -> np.dtype:
    """The dtype NumPy gives `fn(*args)` for arguments of these types (cached)."""
    return _result_dtype(fn, tuple((a.dtype, a.weak) for a in avals))


def broadcast_shapes(name: str, *avals: ArrayType) -> tuple:
    first = avals[0].shape
    if all(a.shape == first or not a.shape for a in avals[1:]):
        return first
    if not first and all(a.shape == avals[1].shape or not a.shape for a in avals[2:]):
        return avals[1].shape
    try:
        return np.broadcast_shapes(*(a.shape for a in avals))
    except ValueError:
        shapes = " and ".join(str(a.shape) for a in avals)
        raise ValueError(f"{name}: shapes {shapes} cannot be broadcast together") from None


def _elementwise_type(name, fn, real_only: bool = False):
    dtypes: dict = {}   # (dtype, weak, ...) -> result dtype; the rule runs on every trace step

    def rule(*avals):
        if len(avals) == 2:
            x, y = avals
            key = (x.dtype, x.weak, y.dtype, y.weak)
            shape = x.shape if x.shape == y.shape or not y.shape else \
                y.shape if not x.shape else broadcast_shapes(name, x, y)
        else:
            key = tuple((a.dtype, a.weak) for a in avals)
            shape = avals[0].shape if len(avals) == 1 else broadcast_shapes(name, *avals)
        dtype = dtypes.get(key)
        if dtype is None:
            if real_only:
                check_real(name, *avals)
            dtype = dtypes[key] = result_dtype(fn, *avals)
        return ArrayType(shape, dtype)
    return rule


def _checked_real(name: str, fn):
    """fn, refusing complex operands when evaluated eagerly (the shape rule refuses them
    when traced)."""
    def impl(*args):
        for a in args:
            if getattr(a, "dtype", None) is not None and a.dtype.kind == "c" or \
                    type(a) is complex:
                check_real(name, ArrayType(np.shape(a), np.result_type(a)))
        return fn(*args)
    impl.__name__ = getattr(fn, "__name__", name)
    return impl


def check_real(name: str, *avals: ArrayType) -> None:
    """TypeError for complex operands of an operation defined on real numbers only (an order,
    a kink or a real formula: its derivative would be meaningless for complex input)."""
    for a in avals:
        if a.dtype.kind == "c":
            raise TypeError(f"{name} is defined for real numbers only, not {a.short()}; apply "
                            f"it to fnp.real(z), fnp.imag(z) or fnp.abs(z)")


def elementwise_cost(*avals: ArrayType, **params) -> int:
    """One FLOP per element of the (broadcast) result, transcendental functions included."""
    shape = np.broadcast_shapes(*(a.shape for a in avals))
    return int(np.prod(shape, dtype=np.int64))


# Python's operators on NumPy scalars run NumPy's scalar arithmetic (the same IEEE result and
# dtype as the ufunc, ~15x cheaper than a ufunc call on 0-d values: the whole of a scalar
# function's cost). Not division: on two Python floats (a jit argument) `/` raises
# ZeroDivisionError where NumPy gives inf.
SCALAR_OPERATORS = {np.add: "({0} + {1})", np.subtract: "({0} - {1})",
                     np.multiply: "({0} * {1})", np.negative: "(-{0})"}


def call_lowering(fn, arity: int):
    """The `lower` rule `fn(x, y, ...)` (a ufunc also takes `out=`); on real float scalars of
    one dtype (and Python numbers), +, - and * are Python's operators.

    >>> from funcgrad.core.types import ArrayType
    >>> f64 = ArrayType((), np.dtype("float64"))
    >>> call_lowering(np.multiply, 2)([f64, f64], {}).template
    '({0} * {1})'
    >>> call_lowering(np.multiply, 2)([ArrayType((3,), f64.dtype), f64], {}).template
    '{f}({0}, {1})'
    """
    lowering = Lowering(f"{{f}}({', '.join(f'{{{i}}}' for i in range(arity))})", {"f": fn},
                        out=isinstance(fn, np.ufunc))
    operator = SCALAR_OPERATORS.get(fn)
    if operator is None:
        return lambda in_avals, params: lowering
    scalar = Lowering(operator, {})

    def lower(in_avals, params):
        strong = [a for a in in_avals if not a.weak]
        if strong and all(a.shape == () for a in in_avals):
            dtype = strong[0].dtype
            if dtype.kind == "f" and dtype.itemsize >= 4 and all(
                    a.dtype == dtype for a in strong) and all(
                    a.dtype.kind in "if" for a in in_avals if a.weak):
                return scalar   # a Python int or float operand takes the other's dtype
        return lowering
    return lower


def ufunc_native(fn):
    """The `native` rule `fn(x, y, ...)` of a NumPy ufunc (the kernel builder refuses one numba
    lacks); `.ufunc` names it."""
    def rule(k, args, eqn):
        return k.ufunc(fn, args, eqn)
    rule.ufunc = fn
    return rule


def elementwise(name: str, fn, arity: int, *, real_only: bool = False, **kw) -> Primitive:
    """A primitive applying NumPy's `fn` elementwise: its impl, shape and dtype rule
    (NumPy's), lowering, batching and cost. `real_only` ones refuse complex operands."""
    prim = Primitive(name, _checked_real(name, fn) if real_only else fn,
                     _elementwise_type(name, fn, real_only), lower=call_lowering(fn, arity),
                     native=ufunc_native(fn),
                     cost=elementwise_cost, elementwise=True, fresh=True, **kw)
    prim.batch = batch_elementwise(prim)
    return prim


def unary(name: str, fn, d=None, *, nondiff: bool = False, domain=None,
          real_only: bool = False, **kw) -> Primitive:
    """An elementwise primitive whose tangent is `t * d(x, out)` (`nondiff`: zero tangent).
    For complex x, `d` is the complex derivative (the function is holomorphic there);
    `real_only` primitives refuse complex operands."""
    prim = elementwise(name, fn, 1, real_only=real_only, nondiff=nondiff, domain=domain, **kw)
    if nondiff:
        prim.jvp = lambda primals, tangents: (prim.bind(*primals), None)
    elif d is not None:
        def jvp(primals, tangents):
            (x,), (t,) = primals, tangents
            out = prim.bind(x)
            if _dtype(out).kind not in "fc":
                return out, None
            return out, t * d(x, out)
        prim.jvp = jvp
    return prim


def binary(name: str, fn, dx=None, dy=None, *, nondiff: bool = False, domain=None,
           real_only: bool = False, **kw) -> Primitive:
    """A broadcasting elementwise primitive; tangent `tx * dx(x, y, out) + ty * dy(x, y, out)`."""
    prim = elementwise(name, fn, 2, real_only=real_only, nondiff=nondiff, domain=domain, **kw)
    if nondiff:
        prim.jvp = lambda primals, tangents: (prim.bind(*primals), None)
    elif dx is not None:
        def jvp(primals, tangents):
            (x, y), (tx, ty) = primals, tangents
            out = prim.bind(x, y)
            if _dtype(out).kind not in "fc":
                return out, None
            terms = [t * d(x, y, out) for t, d in ((tx, dx), (ty, dy)) if t is not None]
            t_out = terms[0] if len(terms) == 1 else terms[0] + terms[1]
            return out, broadcast_to_shape(t_out, shape_of(out))
        prim.jvp = jvp
    return prim


def _dtype(x):
    return x.dtype if hasattr(x, "dtype") else np.result_type(x)


def batch_elementwise(prim):
    """Batch rule of a broadcasting elementwise primitive.

    Batched operands get their batch axis moved to the front and size-1 axes for any rank
    difference, so NumPy broadcasting lines per-example axes up as it would without vmap.
    """
    def rule(vals, dims, **params):
        ranks = [len(shape_of(v)) - (d is not None) for v, d in zip(vals, dims)]
        rank = max(ranks)
        # Common case (x * 2.0, f(x)): keep the batch axis where it is, no transpose.
        common = None
        for r, d in zip(ranks, dims):
            if d is None:
                if r != 0:
                    break
            elif r != rank or (common is not None and d != common):
                break
            else:
                common = d
        else:
            return prim.bind(*vals, **params), common
        args = []
        for v, d, r in zip(vals, dims, ranks):
            if d is not None:
                v = move_axis(v, d, 0)
                if r < rank:
                    shape = shape_of(v)
                    v = reshape(v, (shape[0],) + (1,) * (rank - r) + shape[1:])
            args.append(v)
        return prim.bind(*args, **params), 0
    return rule
