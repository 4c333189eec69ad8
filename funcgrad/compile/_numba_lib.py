"""Helpers that compiled-tier kernels call (imported by the generated kernel modules; needs numba).

Inside a kernel a 0-d value is a numba scalar: `as_scalar` takes a 0-d array or a scalar from
the NumPy driver, and `to_0d` hands a scalar back as a 0-d array of its own dtype (numba would
box a float32 as a Python float and lose the dtype).
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


def row_sums(x):
    """Sum over the last axis of a C-contiguous 2-d array (a stub; see the overload)."""
    return x.sum(axis=-1)


@overload(row_sums)
def _row_sums(x):
    def impl(x):
        out = np.empty(x.shape[0], x.dtype)
        for i in range(x.shape[0]):
            out[i] = x[i].sum()
        return out
    return impl


def row_reduce(x, op):
    """Reduce the last axis of a 2-d array with op ('max' or 'min')."""
    return x.max(axis=-1) if op == "max" else x.min(axis=-1)


def row_max(x):
    return x.max(axis=-1)


def row_min(x):
    return x.min(axis=-1)


@overload(row_max)
def _row_max(x):
    def impl(x):
        out = np.empty(x.shape[0], x.dtype)
        for i in range(x.shape[0]):
            out[i] = x[i].max()
        return out
    return impl


@overload(row_min)
def _row_min(x):
    def impl(x):
        out = np.empty(x.shape[0], x.dtype)
        for i in range(x.shape[0]):
            out[i] = x[i].min()
        return out
    return impl


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
