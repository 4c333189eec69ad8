"""Gathers and scatters: take, take_along_axis, diagonal, diag, trace, triu, tril; and roll,
repeat and pad, which are gathers."""
from __future__ import annotations

import builtins

import numpy as _np

from ..prims import indexing as _ix
from ..util import canonical_axis as _canonical_axis
from ._creation import _arr, full_like
from ._elementwise import clip, remainder, where
from ._reductions import sum
from ._shapes import broadcast_to, concatenate, expand_dims, moveaxis, ravel, reshape
from ._util import _dtype, _ndim, _no_out, _reports_user_line, _shape


def take(a, indices, axis=None, out=None, mode=None):
    """np.take, traced (the gradient scatters back, adding repeats).

    >>> take(_np.array([1.0, 2.0, 3.0]), [2, 0])
    array([3., 1.])
    """
    _no_out(out, "take")
    a = _arr(a)
    if axis is None:
        a, axis = ravel(a), 0
    ax = _canonical_axis(axis, _ndim(a))
    idx = _arr(indices)
    if isinstance(idx, (int, _np.integer)):
        idx = int(idx)
    n = _shape(a)[ax]
    if mode == "wrap":
        idx = remainder(idx, n)
    elif mode == "clip":
        idx = clip(idx, 0, n - 1)
    elif mode not in (None, "raise"):
        raise ValueError(f"take: mode must be 'raise', 'wrap' or 'clip', not {mode!r}")
    return _ix.getitem(a, (slice(None),) * ax + (idx,))


def take_along_axis(arr, indices, axis=-1):
    """np.take_along_axis, traced.

    >>> take_along_axis(_np.array([[1.0, 2.0]]), _np.array([[1, 0]]), axis=1)
    array([[2., 1.]])
    """
    arr, indices = _arr(arr), _arr(indices)
    if axis is None:
        arr, axis = ravel(arr), 0
    return _ix.take_along_axis(arr, indices, _canonical_axis(axis, _ndim(arr)))


def diagonal(a, offset=0, axis1=0, axis2=1):
    """np.diagonal, traced (a gather; the diagonal becomes the last axis).

    >>> diagonal(_np.arange(9.0).reshape(3, 3))
    array([0., 4., 8.])
    """
    a = _arr(a)
    nd = _ndim(a)
    i1, i2 = _canonical_axis(axis1, nd), _canonical_axis(axis2, nd)
    if i1 == i2:
        raise ValueError("diagonal: axis1 and axis2 cannot be the same")
    x = moveaxis(a, (i1, i2), (-2, -1))
    n, m = _shape(x)[-2:]
    k = builtins.max(0, builtins.min(n - builtins.max(0, -offset), m - builtins.max(0, offset)))
    i = _np.arange(k) + builtins.max(0, -offset)
    return _ix.getitem(x, (Ellipsis, i, i + offset))


def diag(v, k=0):
    """The k-th diagonal of a matrix, or a matrix with `v` on its k-th diagonal.

    >>> diag(_np.array([1.0, 2.0]))
    array([[1., 0.],
           [0., 2.]])
    """
    v = _arr(v)
    if _ndim(v) == 2:
        return diagonal(v, k)
    if _ndim(v) != 1:
        raise ValueError("diag: input must be 1-d or 2-d")
    n = _shape(v)[0] + builtins.abs(k)
    rows = _np.arange(_shape(v)[0]) + builtins.max(0, -k)
    return _ix.scatter_add_p.bind(_np.zeros((n, n), _dtype(v)), v, rows, rows + k,
                                  spec=("a", "a"))


def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    """The sum along a diagonal.

    >>> float(trace(_np.eye(3)))
    3.0
    """
    _no_out(out, "trace")
    return sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


def triu(m, k=0):
    """The upper triangle (zeros below the k-th diagonal).

    >>> triu(_np.ones((2, 2)))
    array([[1., 1.],
           [0., 1.]])
    """
    m = _arr(m)
    n, mm = _shape(m)[-2:]
    return where(_np.triu(_np.ones((n, mm), bool), k), m, 0)


def tril(m, k=0):
    """The lower triangle (zeros above the k-th diagonal).

    >>> tril(_np.ones((2, 2)))
    array([[1., 0.],
           [1., 1.]])
    """
    m = _arr(m)
    n, mm = _shape(m)[-2:]
    return where(_np.tril(_np.ones((n, mm), bool), k), m, 0)


def roll(a, shift, axis=None):
    """np.roll, traced as one gather per axis.

    >>> roll(_np.array([1.0, 2.0, 3.0]), 1)
    array([3., 1., 2.])
    """
    a = _arr(a)
    if axis is None:
        return reshape(roll(ravel(a), shift, 0), _shape(a))
    shifts = shift if isinstance(shift, (list, tuple)) else [shift]
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    shifts, axes = _np.broadcast_arrays(_np.asarray(shifts), _np.asarray(axes))
    for s, ax in zip(shifts.ravel(), axes.ravel()):
        ax = _canonical_axis(int(ax), _ndim(a))
        a = take(a, _np.roll(_np.arange(_shape(a)[ax]), int(s)), axis=ax)
    return a


def repeat(a, repeats, axis=None):
    """np.repeat, traced.

    >>> repeat(_np.array([1.0, 2.0]), 2)
    array([1., 1., 2., 2.])
    """
    a = _arr(a)
    if axis is None:
        a, axis = ravel(a), 0
    ax = _canonical_axis(axis, _ndim(a))
    if not isinstance(repeats, (int, _np.integer)):
        return take(a, _np.repeat(_np.arange(_shape(a)[ax]), repeats), axis=ax)
    shape = list(_shape(a))
    b = broadcast_to(expand_dims(a, ax + 1), shape[:ax + 1] + [int(repeats)] + shape[ax + 1:])
    shape[ax] *= int(repeats)
    return reshape(b, shape)


def pad(array, pad_width, mode="constant", **kwargs):
    """np.pad for modes constant (a scalar value), edge, reflect, symmetric and wrap.

    >>> pad(_np.array([1.0, 2.0]), 1)
    array([0., 1., 2., 0.])
    """
    x = _arr(array)
    nd = _ndim(x)
    widths = _np.broadcast_to(_np.asarray(pad_width, dtype=_np.int64), (nd, 2))
    if mode == "constant":
        value = kwargs.pop("constant_values", 0)
        if _np.ndim(value) != 0:
            raise NotImplementedError("pad: constant_values must be one scalar")
    elif mode not in ("edge", "reflect", "symmetric", "wrap"):
        raise NotImplementedError(f"pad: mode={mode!r} is not supported")
    if kwargs:
        raise NotImplementedError(f"pad: arguments {sorted(kwargs)} are not supported")
    for ax, (before, after) in enumerate(widths):
        if before == after == 0:
            continue
        n = _shape(x)[ax]
        if mode != "constant":  # one gather whose indices NumPy pads for us
            x = take(x, _np.pad(_np.arange(n), (before, after), mode=mode), axis=ax)
            continue
        parts = []
        for w in (before, after):
            shape = list(_shape(x))
            shape[ax] = int(w)
            parts.append(full_like(x, value, shape=shape))
        x = concatenate([parts[0], x, parts[1]], axis=ax)
    return x


__all__ = _reports_user_line(globals())
