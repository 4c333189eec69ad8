"""Helpers that compiled-tier kernels call (imported by the generated kernel modules; needs numba).

Inside a kernel a 0-d value is a numba scalar: `as_scalar` takes a 0-d array or a scalar from
the NumPy driver, and `to_0d` hands a scalar back as a 0-d array of its own dtype (numba would
box a float32 as a Python float and lose the dtype). The row and column reductions are what
`native_reduce` (prims/shape.py) writes for a reduction over some axes: numba's own take a
whole array or one axis only.
"""
from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import overload


def as_scalar(x):
    """The value of a 0-d array, or the scalar itself (a stub: numba compiles the overload)."""
    return x[()] if isinstance(x, np.ndarray) else x


def to_0d(x):
    """A scalar as a 0-d array (a stub: numba compiles the overload)."""
    return np.asarray(x)


@overload(as_scalar, inline="always")
def _as_scalar(x):
    if isinstance(x, types.Array):
        return lambda x: x[()]
    return lambda x: x


@overload(to_0d, inline="always")
def _to_0d(x):
    if isinstance(x, types.Array):
        return lambda x: x
    return lambda x: np.asarray(x)


def _per_row(method: str):
    """A stub reducing each row of a C-contiguous 2-d array with `method` (sum, max, min),
    and the numba overload that does it one row at a time (each row a vectorised loop)."""
    def stub(x):
        return getattr(x, method)(axis=-1)
    stub.__name__ = f"row_{method}"
    reduce = {"sum": np.sum, "max": np.max, "min": np.min}[method]

    @overload(stub)
    def _rows(x):
        def impl(x):
            out = np.empty(x.shape[0], x.dtype)
            for i in range(x.shape[0]):
                out[i] = reduce(x[i])
            return out
        return impl
    return stub


row_sums, row_max, row_min = _per_row("sum"), _per_row("max"), _per_row("min")


def col_sums(x):
    """Sum over the first axis of a 2-d array, a row at a time (vectorised rows)."""
    return x.sum(axis=0)


@overload(col_sums)
def _col_sums(x):
    def impl(x):
        out = x[0].copy()
        for i in range(1, x.shape[0]):
            out += x[i]
        return out
    return impl
