"""Running extrema along one axis: np.maximum.accumulate and np.minimum.accumulate.

    cummax_p(x, axis)    out[..., j, ...] = max(x[..., :j + 1, ...])
    cummin_p(x, axis)

The derivative follows the running argmax: out[j]'s tangent is the tangent of the element
that attains it (the latest of equal ones), gathered with take_along_axis, so it is linear
in the tangent (its transpose is the gather's scatter-add) and every order works. The
index of that element is itself a running maximum, of the positions where x equals its own
running maximum (-1 elsewhere): an integer cummax, which has no derivative.
"""
from __future__ import annotations

import numpy as np

from ..core.primitive import Lowering, Primitive
from ..core.types import ArrayType, is_float
from .elementwise import eq, select
from .families import check_real
from .indexing import take_along_axis
from .shape import check_axes, input_size, shift_axis


def _running(name: str, ufunc):
    def impl(x, *, axis):
        return ufunc.accumulate(x, axis=axis)

    def type_rule(x: ArrayType, *, axis):
        check_axes(name, x, (axis,))
        check_real(name, x)
        if x.ndim == 0:
            raise ValueError(f"{name}: a 0-d operand has no axis to accumulate along")
        return x.strong()

    def jvp(primals, tangents, *, axis):
        (x,), (t,) = primals, tangents
        out = prim.bind(x, axis=axis)
        if not is_float(out.dtype):
            return out, None
        n = x.shape[axis]
        grid = np.arange(n).reshape([n if i == axis else 1 for i in range(x.ndim)])
        record = select(eq(x, out), grid, -1)          # where x is its own running extremum
        idx = cummax_p.bind(record, axis=axis)         # the latest such position so far
        return out, take_along_axis(t, idx, axis)

    def lower(in_avals, params):
        return Lowering(f"{{f}}({{0}}, axis={params['axis']!r})", {"f": ufunc.accumulate})

    def batch(vals, dims, *, axis):
        (x,), (d,) = vals, dims
        return prim.bind(x, axis=shift_axis(axis, d)), d

    prim = Primitive(name, impl, type_rule, jvp=jvp, lower=lower, cost=input_size,
                     fresh=True)
    prim.batch = batch
    return prim


cummax_p = _running("cummax", np.maximum)
cummin_p = _running("cummin", np.minimum)


def cummax(x, axis: int):
    return cummax_p.bind(x, axis=axis)


def cummin(x, axis: int):
    return cummin_p.bind(x, axis=axis)
