"""Reductions: sum, prod, max, min, ptp, any, all, count_nonzero, mean, average, var, std,
nansum, nanmean, logsumexp, argmax, argmin."""
from __future__ import annotations

import builtins

import numpy as _np

from ..core.types import is_float as _is_float
from ..prims import elementwise as _ew
from ..prims import reductions as _red
from ..prims import shape as _sh
from ..util import canonical_axes as _canonical_axes
from ..util import canonical_axis as _canonical_axis
from ._creation import _arr, bool_, float64, full_like, int64, result_type
from ._elementwise import (
    _abs2,
    _safe_sqrt,
    astype,
    exp,
    isfinite,
    isnan,
    log,
    logical_and,
    logical_not,
    maximum,
    minimum,
    not_equal,
    stop_gradient,
    where,
)
from ._elementwise import where as _where_fn
from ._queries import size
from ._shapes import broadcast_to, expand_dims, reshape
from ._util import _dtype, _ndim, _no_out, _reports_user_line, _shape, _size


def _reduce(prim, x, axis, keepdims, name):
    nd = _ndim(x)
    if axis is None:
        axes = tuple(range(nd))
    elif type(axis) is int and -nd <= axis < nd:    # the common case, decided at once
        axes = (axis % nd,)
    else:
        axes = _canonical_axes(axis, nd, name)
    out = prim.bind(x, axes=axes)
    if keepdims:
        out = _sh.reshape(out, _sh.keepdims_shape(_shape(x), axes))
    return out


def _masked(a, where_, fill):
    """`a` with the entries outside `where_` replaced by `fill` (for where= arguments)."""
    if where_ is None or where_ is True:
        return a
    return _ew.select_p.bind(broadcast_to(_arr(where_), _shape(a)), a, fill)


def sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    """np.sum, traced.

    >>> sum(_np.ones((2, 3)), axis=0)
    array([2., 2., 2.])
    """
    _no_out(out, "sum")
    a = _arr(a)
    if dtype is not None:
        a = astype(a, dtype)
    r = _reduce(_sh.reduce_sum_p, _masked(a, where, 0), axis, keepdims, "sum")
    return r if initial is None else r + initial


def prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    """np.prod, traced.

    >>> prod(_np.array([2.0, 3.0]))
    np.float64(6.0)
    """
    _no_out(out, "prod")
    a = _arr(a)
    if dtype is not None:
        a = astype(a, dtype)
    r = _reduce(_red.reduce_prod_p, _masked(a, where, 1), axis, keepdims, "prod")
    return r if initial is None else r * initial


def _extremum(prim, combine, name, a, axis, out, keepdims, initial, where_):
    _no_out(out, name)
    a = _arr(a)
    if where_ is not None and initial is None:
        raise ValueError(f"reduction operation '{name}' with where= needs an initial value")
    shape = _shape(a)
    axes = _canonical_axes(axis, len(shape), name)
    if initial is not None and builtins.any(shape[i] == 0 for i in axes):  # nothing to reduce
        kept = _sh.keepdims_shape(shape, axes)
        return full_like(a, initial, shape=kept if keepdims else
                         [d for i, d in enumerate(shape) if i not in axes])
    r = _reduce(prim, _masked(a, where_, initial), axes, keepdims, name)
    return r if initial is None else combine(r, initial)


def max(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    """np.max, traced; ties share the gradient evenly.

    >>> max(_np.array([[1.0, 5.0], [3.0, 2.0]]), axis=1)
    array([5., 3.])
    """
    return _extremum(_red.reduce_max_p, maximum, "max", a, axis, out, keepdims, initial, where)


def min(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    """np.min, traced; ties share the gradient evenly.

    >>> min(_np.array([[1.0, 5.0], [3.0, 2.0]]), axis=1)
    array([1., 2.])
    """
    return _extremum(_red.reduce_min_p, minimum, "min", a, axis, out, keepdims, initial, where)


amax, amin = max, min


def ptp(a, axis=None, out=None, keepdims=False):
    """Peak to peak: max - min.

    >>> ptp(_np.array([1.0, 4.0, 2.0]))
    np.float64(3.0)
    """
    return max(a, axis, out, keepdims) - min(a, axis, out, keepdims)


def any(a, axis=None, out=None, keepdims=False, *, where=None):
    """np.any, traced.

    >>> bool(any(_np.array([0.0, 1.0])))
    True
    """
    a = astype(a, bool_)
    initial = False if where is not None or size(a) == 0 else None  # np.any([]) is False
    return max(a, axis, out, keepdims, initial=initial, where=where)


def all(a, axis=None, out=None, keepdims=False, *, where=None):
    """np.all, traced.

    >>> bool(all(_np.array([0.0, 1.0])))
    False
    """
    a = astype(a, bool_)
    initial = True if where is not None or size(a) == 0 else None  # np.all([]) is True
    return min(a, axis, out, keepdims, initial=initial, where=where)


def count_nonzero(a, axis=None, *, keepdims=False):
    """The number of non-zero entries, traced.

    >>> int(count_nonzero(_np.array([0.0, 3.0, 1.0])))
    2
    """
    return sum(astype(not_equal(_arr(a), 0), int64), axis=axis, keepdims=keepdims)


def _count(a, axes, keepdims, where_):
    """How many entries each reduction over `axes` sees (a Python int, or an array)."""
    shape = _shape(a)
    if where_ is None or where_ is True:
        return _size([shape[i] for i in axes])
    return sum(astype(broadcast_to(_arr(where_), shape), int64), axis=axes, keepdims=keepdims)


def _float_sum(a, axes, dtype, keepdims, where_):
    s = sum(a, axis=axes, dtype=dtype, keepdims=keepdims, where=where_)
    return s if _is_float(_dtype(s)) else astype(s, float64)


def mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=None):
    """np.mean, traced (integers average in float64).

    >>> mean(_np.array([1, 2]))
    np.float64(1.5)
    """
    _no_out(out, "mean")
    a = _arr(a)
    axes = _canonical_axes(axis, _ndim(a), "mean")
    s = _float_sum(a, axes, dtype, keepdims, where)
    count = _count(a, axes, keepdims, where)
    if isinstance(count, int) and count == 0:
        return s * _np.nan  # NumPy's mean of nothing, without its warning
    return s / (count if isinstance(count, int) else astype(count, _dtype(s)))


def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    """np.average: the (weighted) mean; `returned` also gives the sum of the weights.

    >>> float(average(_np.array([1.0, 3.0]), weights=_np.array([3.0, 1.0])))
    1.5
    """
    a = _arr(a)
    axes = _canonical_axes(axis, _ndim(a), "average")
    if weights is None:
        avg = mean(a, axis=axes, keepdims=keepdims)
        scl = full_like(avg, _size([_shape(a)[i] for i in axes]))
    else:
        w = _arr(weights)
        if _shape(w) != _shape(a):
            if axis is None or _ndim(w) != 1:
                raise TypeError("average: 1D weights expected when shapes of a and weights "
                                "differ; give the axis")
            w = reshape(w, [_shape(w)[0] if i == axes[0] else 1 for i in range(_ndim(a))])
        w = broadcast_to(w, _shape(a))
        dt = result_type(a, w, float64) if not _is_float(result_type(a, w)) else \
            result_type(a, w)
        scl = sum(astype(w, dt), axis=axes, keepdims=keepdims)
        avg = sum(astype(a, dt) * w, axis=axes, keepdims=keepdims) / scl
    return (avg, broadcast_to(scl, _shape(avg))) if returned else avg


def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None,
        correction=None):
    """np.var, traced (two-pass: subtract the mean first, for accuracy).

    >>> var(_np.array([1.0, 3.0]))
    np.float64(1.0)
    """
    _no_out(out, "var")
    ddof = ddof if correction is None else correction
    a = _arr(a) if dtype is None else astype(a, dtype)
    axes = _canonical_axes(axis, _ndim(a), "var")
    centered = a - mean(a, axis=axes, dtype=dtype, keepdims=True, where=where)
    sq = _float_sum(_abs2(centered), axes, None, keepdims, where)
    count = _count(a, axes, keepdims, where)
    if isinstance(count, int):  # NumPy's inf or NaN when ddof >= count
        return sq / (count - ddof) if count > ddof else sq * _np.inf
    return sq / astype(maximum(count - ddof, 0), _dtype(sq))


def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None,
        correction=None):
    """np.std, traced.

    >>> float(std(_np.array([1.0, 3.0])))
    1.0
    """
    return _safe_sqrt(var(a, axis, dtype, out, ddof, keepdims, where=where,
                         correction=correction))


def nansum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    """np.nansum: NaNs count as zero.

    >>> float(nansum(_np.array([1.0, _np.nan])))
    1.0
    """
    a = _arr(a)
    a = _where_fn(isnan(a), 0, a) if _is_float(_dtype(a)) else a
    return sum(a, axis, dtype, out, keepdims, initial, where)


def nanmean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=None):
    """np.nanmean: the mean of the non-NaN entries.

    >>> float(nanmean(_np.array([1.0, _np.nan, 3.0])))
    2.0
    """
    a = _arr(a)
    if not _is_float(_dtype(a)):
        return mean(a, axis, dtype, out, keepdims, where=where)
    keep = logical_not(isnan(a))
    if where is not None:
        keep = logical_and(keep, where)
    return mean(_where_fn(keep, a, 0), axis, dtype, out, keepdims, where=keep)


def logsumexp(a, axis=None, keepdims=False):
    """log(sum(exp(a))), stable: the max is subtracted first (and treated as a constant).

    >>> float(logsumexp(_np.array([1000.0, 1000.0])))  # 1000 + log(2), no overflow
    1000.6931471805599
    """
    a = _arr(a)
    axes = _canonical_axes(axis, _ndim(a), "logsumexp")
    m = stop_gradient(max(a, axis=axes, keepdims=True))
    m = where(isfinite(m), m, 0.0)
    out = log(sum(exp(a - m), axis=axes, keepdims=True)) + m
    return out if keepdims else _sh.reshape(out, [d for i, d in enumerate(_shape(a))
                                                  if i not in axes])


def argmax(a, axis=None, out=None, *, keepdims=False):
    """np.argmax (not differentiable: an integer result).

    >>> int(argmax(_np.array([1.0, 3.0, 2.0])))
    1
    """
    _no_out(out, "argmax")
    return _arg(_red.argmax_p, _arr(a), axis, keepdims)


def argmin(a, axis=None, out=None, *, keepdims=False):
    """np.argmin (not differentiable: an integer result).

    >>> int(argmin(_np.array([1.0, 3.0, 0.0])))
    2
    """
    _no_out(out, "argmin")
    return _arg(_red.argmin_p, _arr(a), axis, keepdims)


def _arg(prim, a, axis, keepdims):
    nd = _ndim(a)
    if axis is None:
        out = prim.bind(reshape(a, (-1,)) if nd != 1 else a, axis=0)
        return _sh.reshape(out, (1,) * nd) if keepdims else out
    ax = _canonical_axis(axis, nd)
    out = prim.bind(a, axis=ax)
    return expand_dims(out, ax) if keepdims else out


__all__ = _reports_user_line(globals())
