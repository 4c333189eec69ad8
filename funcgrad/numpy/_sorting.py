"""Functions along one axis: sorting (sort, argsort, and median, which sorts) and the cumulative
ones (cumsum, cumprod, diff)."""
from __future__ import annotations

import builtins

import numpy as _np

from ..core.types import is_float as _is_float
from ..prims import indexing as _ix
from ..prims import reductions as _red
from ..prims import shape as _sh
from ..util import canonical_axes as _canonical_axes
from ..util import canonical_axis as _canonical_axis
from ._creation import _arr, bool_, float64
from ._elementwise import astype, not_equal, where
from ._reductions import prod
from ._shapes import broadcast_to, concatenate, expand_dims, moveaxis, reshape, transpose
from ._util import _dtype, _ndim, _no_out, _reports_user_line, _shape


def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    """np.sort, traced (the gradient follows each element to its sorted place).

    >>> sort(_np.array([3.0, 1.0, 2.0]))
    array([1., 2., 3.])
    """
    a = _arr(a)
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    return _red.sort_p.bind(a, axis=_canonical_axis(axis, _ndim(a)))


def argsort(a, axis=-1, kind=None, order=None, *, stable=None):
    """np.argsort (stable; an integer result).

    >>> argsort(_np.array([3.0, 1.0, 2.0]))
    array([1, 2, 0])
    """
    a = _arr(a)
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    return _red.argsort(a, _canonical_axis(axis, _ndim(a)))


def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """np.median, traced through a sort (the gradient goes to the middle element(s)).

    >>> float(median(_np.array([3.0, 1.0, 2.0, 10.0])))
    2.5
    """
    _no_out(out, "median")
    a = _arr(a)
    shape = _shape(a)
    axes = _canonical_axes(axis, len(shape), "median")
    rest = [i for i in range(len(shape)) if i not in axes]
    x = reshape(transpose(a, rest + list(axes)), [shape[i] for i in rest] + [-1])
    n = _shape(x)[-1]
    s = sort(x, axis=-1)
    if not _is_float(_dtype(s)):
        s = astype(s, float64)
    mid = s[..., n // 2] if n % 2 else (s[..., n // 2 - 1] + s[..., n // 2]) / 2
    return reshape(mid, _sh.keepdims_shape(shape, axes)) if keepdims else mid


def cumsum(a, axis=None, dtype=None, out=None):
    """np.cumsum, traced.

    >>> cumsum(_np.array([1.0, 2.0, 3.0]))
    array([1., 3., 6.])
    """
    _no_out(out, "cumsum")
    a = _arr(a)
    if dtype is not None:
        a = astype(a, dtype)
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    return _red.cumsum(a, _canonical_axis(axis, _ndim(a)))


def cumprod(a, axis=None, dtype=None, out=None):
    """np.cumprod, traced as products over a triangular mask (n*n work along the axis).

    >>> cumprod(_np.array([1.0, 2.0, 3.0]))
    array([1., 2., 6.])
    """
    _no_out(out, "cumprod")
    a = _arr(a)
    if dtype is not None:
        a = astype(a, dtype)
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    ax = _canonical_axis(axis, _ndim(a))
    x = moveaxis(a, ax, -1)
    n = _shape(x)[-1]
    rows = broadcast_to(expand_dims(x, -2), _shape(x)[:-1] + (n, n))  # rows[..., i, j] = x_j
    kept = where(_np.tril(_np.ones((n, n), bool)), rows, 1)
    return moveaxis(prod(kept, axis=-1), -1, ax)


def diff(a, n=1, axis=-1, prepend=None, append=None):
    """np.diff: n-th differences along `axis`.

    >>> diff(_np.array([1.0, 4.0, 9.0]))
    array([3., 5.])
    """
    a = _arr(a)
    ax = _canonical_axis(axis, _ndim(a))
    parts = []
    for extra in (prepend, a, append):
        if extra is None:
            continue
        if extra is not a and _ndim(extra) == 0:
            shape = list(_shape(a))
            shape[ax] = 1
            extra = broadcast_to(extra, shape)
        parts.append(extra)
    a = concatenate(parts, axis=ax) if len(parts) > 1 else a
    for _ in range(n):
        m = _shape(a)[ax]
        hi, lo = _ix.slice_axis(a, ax, 1, m), _ix.slice_axis(a, ax, 0, builtins.max(m - 1, 0))
        a = not_equal(hi, lo) if _dtype(a) == bool_ else hi - lo
    return a


__all__ = _reports_user_line(globals())
