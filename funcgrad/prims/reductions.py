"""Reductions over axes (max, min, prod; reduce_sum is in shape.py), argmax/argmin, cumsum,
sorting."""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ..core.primitive import Lowering, Primitive
from ..core.types import ArrayType, is_float
from .elementwise import convert, eq, mul
from .indexing import concatenate, slice_axis, take_along_axis
from .shape import (
    batch_reducer,
    check_axes,
    full,
    input_size,
    keepdims_shape,
    move_axis,
    native_reduce,
    reduce_sum,
    reduce_type,
    reducer,
    reshape,
    shift_axis,
    transpose,
    zeros,
)


def _extremum(name, fn):
    def jvp(primals, tangents, *, axes):
        (x,), (t,) = primals, tangents
        out = prim.bind(x, axes=axes)
        if not is_float(out.dtype):
            return out, None
        # The derivative is shared evenly between all positions that attain the extremum.
        mask = convert(eq(x, reshape(out, keepdims_shape(x.shape, axes))), out.dtype)
        return out, reduce_sum(mul(t, mask), axes) / reduce_sum(mask, axes)

    # np.maximum.reduce is np.max without its Python wrapper (and keeps every dtype)
    ufunc = np.maximum if fn is np.max else np.minimum

    def lower(in_avals, params):
        return Lowering(f"{{f}}({{0}}, axis={params['axes']!r})", {"f": ufunc.reduce})

    op = "max" if fn is np.max else "min"

    def native(k, args, eqn):
        if eqn.inputs[0].aval.dtype.kind != "f":
            raise k.Unsupported(f"{name} of a non-float")
        return native_reduce(k, args[0], eqn.inputs[0].aval, eqn.outputs[0].aval,
                             eqn.params["axes"], op)

    prim = Primitive(name, lambda x, *, axes: ufunc.reduce(x, axis=axes),
                     reduce_type(name, fn, needs_identity=True), jvp=jvp, lower=lower,
                     native=native, cost=input_size, fresh=True)
    return prim


reduce_max_p = _extremum("reduce_max", np.max)
reduce_min_p = _extremum("reduce_min", np.min)


def _prod_jvp(primals, tangents, *, axes):
    # d prod = sum_i t_i * prod_{j != i} x_j. Not out / x, which is nan at zeros: multiply
    # pairwise in a tree (as JAX does), carrying (a, ta) * (b, tb) = (a b, ta b + a tb), so the
    # rule is exact at zeros and, built from mul, differentiable to any order.
    (x,), (t,) = primals, tangents
    out = reduce_prod(x, axes)
    if not is_float(out.dtype):
        return out, None
    shape = x.shape
    keep = [i for i in range(len(shape)) if i not in axes]
    kept = [shape[i] for i in keep]
    n = int(np.prod([shape[a] for a in axes], dtype=np.int64))
    if n == 0:
        return out, zeros(ArrayType(tuple(kept), out.dtype))   # the empty product is 1
    perm = keep + list(axes)
    xs = reshape(transpose(x, perm), kept + [n])
    ts = reshape(transpose(t, perm), kept + [n])
    last = len(kept)
    while n > 1:
        if n % 2:   # pad with a one (and a zero tangent) to an even length
            xs = concatenate([xs, full(shape=kept + [1], fill_value=1, dtype=out.dtype)], last)
            ts = concatenate([ts, full(shape=kept + [1], fill_value=0, dtype=out.dtype)], last)
            n += 1
        h = n // 2
        a, b = slice_axis(xs, last, 0, h), slice_axis(xs, last, h, n)
        ta, tb = slice_axis(ts, last, 0, h), slice_axis(ts, last, h, n)
        xs, ts, n = a * b, ta * b + a * tb, h
    return out, reshape(ts, kept)


_prod_impl, _prod_lower = reducer(np.multiply, np.prod)
reduce_prod_p = Primitive("reduce_prod", _prod_impl, reduce_type("reduce_prod", np.prod),
                          jvp=_prod_jvp, lower=_prod_lower, cost=input_size, fresh=True)


def _arg_type(name):
    def rule(x: ArrayType, *, axis):
        if axis is None:
            if x.size == 0:
                raise ValueError(f"{name}: attempt to get {name} of an empty sequence")
            return ArrayType((), np.int64)
        check_axes(name, x, (axis,))
        if x.shape[axis] == 0:
            raise ValueError(f"{name}: attempt to get {name} of an empty sequence")
        return ArrayType(x.shape[:axis] + x.shape[axis + 1:], np.int64)
    return rule


def _arg_lower(fn):
    return lambda in_avals, params: Lowering(f"{{f}}({{0}}, axis={params['axis']!r})",
                                             {"f": fn})


argmax_p = Primitive("argmax", lambda x, *, axis: np.argmax(x, axis=axis), _arg_type("argmax"),
                     nondiff=True, lower=_arg_lower(np.argmax), cost=input_size, fresh=True)
argmin_p = Primitive("argmin", lambda x, *, axis: np.argmin(x, axis=axis), _arg_type("argmin"),
                     nondiff=True, lower=_arg_lower(np.argmin), cost=input_size, fresh=True)
argmax_p.jvp = lambda primals, tangents, *, axis: (argmax_p.bind(*primals, axis=axis), None)
argmin_p.jvp = lambda primals, tangents, *, axis: (argmin_p.bind(*primals, axis=axis), None)


@lru_cache(maxsize=1024)
def _cumsum_dtype(dtype):
    return np.cumsum(np.ones((1,), dtype)).dtype


def _cum_type(x: ArrayType, *, axis, reverse=False):
    check_axes("cumsum", x, (axis,))
    return ArrayType(x.shape, _cumsum_dtype(x.dtype))


def _cumsum_impl(x, *, axis, reverse=False):
    if reverse:
        return np.flip(np.cumsum(np.flip(x, axis), axis=axis), axis)
    return np.cumsum(x, axis=axis)


cumsum_p = Primitive("cumsum", _cumsum_impl, _cum_type, linear=True, cost=input_size,
                     fresh=True)
cumsum_p.jvp = lambda primals, tangents, *, axis, reverse=False: (
    cumsum(primals[0], axis, reverse), cumsum(tangents[0], axis, reverse))
cumsum_p.transpose = lambda ct, x, *, axis, reverse=False: [cumsum(ct, axis, not reverse)]


def _sort_type(x: ArrayType, *, axis):
    check_axes("sort", x, (axis,))
    return x.strong()


def _sort_jvp(primals, tangents, *, axis):
    (x,), (t,) = primals, tangents
    idx = argsort(x, axis)
    return take_along_axis(x, idx, axis), take_along_axis(t, idx, axis)


def _sort_cost(x: ArrayType, *, axis) -> int:
    """n log2(n) comparisons along the sorted axis, for every other index."""
    n = x.shape[axis] if x.ndim else 1
    return x.size * math.ceil(math.log2(n)) if n > 1 else 0


sort_p = Primitive("sort", lambda x, *, axis: np.sort(x, axis=axis, kind="stable"), _sort_type,
                   jvp=_sort_jvp, domain="distinct", cost=_sort_cost, fresh=True)
argsort_p = Primitive("argsort", lambda x, *, axis: np.argsort(x, axis=axis, kind="stable"),
                      lambda x, *, axis: ArrayType(_sort_type(x, axis=axis).shape, np.int64),
                      nondiff=True, cost=_sort_cost, fresh=True)
argsort_p.jvp = lambda primals, tangents, *, axis: (argsort(primals[0], axis), None)


def reduce_max(x, axes):
    return reduce_max_p.bind(x, axes=tuple(axes))


def reduce_min(x, axes):
    return reduce_min_p.bind(x, axes=tuple(axes))


def reduce_prod(x, axes):
    return reduce_prod_p.bind(x, axes=tuple(axes))


def cumsum(x, axis: int, reverse: bool = False):
    return cumsum_p.bind(x, axis=axis, reverse=reverse)


def argsort(x, axis: int):
    return argsort_p.bind(x, axis=axis)



# --- batching rules ----------------------------------------------------------------------
# Reductions renumber their axes around the batch axis; it survives, shifted left by the
# number of reduced axes before it.

for _p in (reduce_max_p, reduce_min_p, reduce_prod_p):
    _p.batch = batch_reducer(_p)


def _batch_arg(prim):
    def rule(vals, dims, *, axis):
        (x,), (d,) = vals, dims
        if axis is None:  # over all elements: flatten each example
            x = move_axis(x, d, 0)
            shape = x.shape
            x = reshape(x, (shape[0], int(np.prod(shape[1:], dtype=np.int64))))
            return prim.bind(x, axis=1), 0
        axis = shift_axis(axis, d)
        return prim.bind(x, axis=axis), d - (axis < d)
    return rule


argmax_p.batch = _batch_arg(argmax_p)
argmin_p.batch = _batch_arg(argmin_p)


def _batch_along(prim):
    """cumsum, sort, argsort: the output keeps the input's shape, so the batch axis stays."""
    def rule(vals, dims, *, axis, **params):
        (x,), (d,) = vals, dims
        return prim.bind(x, axis=shift_axis(axis, d), **params), d
    return rule


for _p in (cumsum_p, sort_p, argsort_p):
    _p.batch = _batch_along(_p)
