"""Statistics and numerics along axes: quantiles and percentiles, the nan-ignoring reductions,
trapezoid, interp, gradient, ediff1d, unwrap, cov, corrcoef, cumulative_sum/prod, histogram,
bincount, searchsorted, digitize, and spaced ranges with traced endpoints.

Everything is written from traced functions of the modules above (a sort, gathers, scatters,
comparisons), so every transformation applies. Quantiles sort and gather the order statistics
on both sides of each (virtual) index and interpolate as NumPy's methods do: the derivative
goes to those order statistics with the interpolation weights (as in JAX). The nan-ignoring
functions replace NaN entries before reducing, so NaN entries get a zero derivative. Integer
results (counts, indices) carry no derivative."""
from __future__ import annotations

import builtins
import operator

import numpy as _np

from ..core.trace import Tracer
from ..core.types import is_float as _is_float
from ..prims import indexing as _ix
from ..prims import linalg as _la
from ..prims import shape as _sh
from ..util import canonical_axes as _canonical_axes
from ..util import canonical_axis as _canonical_axis
from ._creation import _arr, asarray, float64, int64, result_type
from ._elementwise import (
    _safe_sqrt,
    abs,
    astype,
    ceil,
    clip,
    conjugate,
    floor,
    isnan,
    log10,
    logical_and,
    logical_not,
    logical_or,
    maximum,
    minimum,
    power,
    real,
    remainder,
    rint,
    sign,
    stop_gradient,
    where,
)
from ._indexing import take, take_along_axis
from ._reductions import all as _all
from ._reductions import argmax, argmin, average, max, min, prod, sum, var
from ._shapes import broadcast_to, concatenate, expand_dims, moveaxis, ravel, reshape, transpose
from ._sorting import argsort, cumprod, cumsum, diff, sort
from ._util import _dtype, _ndim, _no_out, _reports_user_line, _shape

# ---------------------------------------------------------------- helpers


def _traced(*xs) -> bool:
    return builtins.any(isinstance(x, Tracer) for x in xs)


def _concrete(x, op):
    """The concrete value of `x` (a traced value's, where one is known: eagerly, under grad)."""
    return x.concrete(op) if isinstance(x, Tracer) else _np.asarray(x)


def _float_dtype(dt):
    return dt if _is_float(dt) else _np.dtype(float64)


def _lt(x, v):
    """x < v in the order NumPy sorts in (NaN last)."""
    if not (_is_float(_dtype(x)) or _is_float(_dtype(v))):
        return x < v
    return logical_or(x < v, logical_and(isnan(v), logical_not(isnan(x))))


def _le(x, v):
    """x <= v in the order NumPy sorts in (NaN last, equal to NaN)."""
    if not (_is_float(_dtype(x)) or _is_float(_dtype(v))):
        return x <= v
    return logical_or(x <= v, isnan(v))


def _to_last(a, axes):
    """`a` with `axes` moved to the end and merged into one; also the kept axes' sizes."""
    shape = _shape(a)
    rest = [i for i in range(len(shape)) if i not in axes]
    x = reshape(transpose(a, rest + list(axes)), [shape[i] for i in rest] + [-1])
    return x, [shape[i] for i in rest]


# ---------------------------------------------------------------- quantiles

_ALPHA_BETA = {"interpolated_inverted_cdf": (0, 1), "hazen": (0.5, 0.5), "weibull": (0, 0),
               "median_unbiased": (1 / 3.0, 1 / 3.0), "normal_unbiased": (3 / 8.0, 3 / 8.0)}
_METHODS = ("inverted_cdf", "averaged_inverted_cdf", "closest_observation",
            "interpolated_inverted_cdf", "hazen", "weibull", "linear", "median_unbiased",
            "normal_unbiased", "lower", "higher", "midpoint", "nearest")


def _is_int(x) -> bool:
    return _dtype(x).kind in "iub"


def _virtual_index(method, n, q):
    """NumPy's virtual index of quantile `q` among `n` sorted values, and the fix of the
    interpolation weight gamma (None: the index is an integer, no interpolation)."""
    if method == "linear":
        return (n - 1) * q, (lambda g, v: g)
    if method in _ALPHA_BETA:
        alpha, beta = _ALPHA_BETA[method]
        return n * q + (alpha + q * (1 - alpha - beta)) - 1, (lambda g, v: g)
    if method == "lower":
        return astype(floor((n - 1) * q), int64), None
    if method == "higher":
        return astype(ceil((n - 1) * q), int64), None
    if method == "nearest":
        return astype(rint((n - 1) * q), int64), None
    if method == "midpoint":
        v = (n - 1) * q
        return (0.5 * (floor(v) + ceil(v)),
                lambda g, v: where(remainder(v, 1) == 0, 0.0, 0.5))
    if method == "averaged_inverted_cdf":
        return n * q - 1, (lambda g, v: where(g == 0, 0.5, 1.0))
    index = n * q - 1 - (0.5 if method == "closest_observation" else 0)
    prev = floor(index)
    gamma = index - prev
    if method == "closest_observation":
        at_prev = logical_and(gamma == 0, remainder(prev, 2) == 1)
    else:
        at_prev = gamma == 0
    return maximum(astype(where(at_prev, prev, prev + 1), int64), 0), None


def _lerp(a, b, t):
    """NumPy's _lerp: a + (b - a) t, computed from b's side where t >= 1/2."""
    d = b - a
    return where(t >= 0.5, b - d * (1 - t), a + d * t)


def _quantile(a, q, axis, method, keepdims, weak_q, ignore_nan, name, weights=None):
    a = _arr(a)
    if _dtype(a).kind == "c":
        raise TypeError("a must be an array of real numbers")
    if method not in _METHODS:
        raise ValueError(f"{method!r} is not a valid method. Use one of: {_METHODS}")
    if _ndim(q) > 1:
        raise ValueError("q must be a scalar or 1d")
    shape = _shape(a)
    axes = _canonical_axes(axis, len(shape), name)
    x, rest = _to_last(a, axes)
    size = _shape(x)[-1]
    out_shape = tuple(_sh.keepdims_shape(shape, axes) if keepdims else rest)
    if size == 0:
        if not ignore_nan:
            raise IndexError(f"{name}: no values to take quantiles of (axis of length 0)")
        return _np.full(_shape(q) + out_shape, _np.nan, _float_dtype(_dtype(a)))
    if weights is not None:
        if axis is None and _shape(weights) != shape:
            raise TypeError("Axis must be specified when shapes of a and weights differ.")
        return _weighted_quantile(a, x, rest, q, axes, weights, ignore_nan, out_shape)
    s = sort(x, axis=-1)
    nan_aware = _is_float(_dtype(a))
    qr = reshape(q, (1,) * len(rest) + (-1,)) if _ndim(q) else q
    if ignore_nan and nan_aware:
        n = sum(logical_not(isnan(x)), axis=-1, keepdims=True)  # per slice, int64
        if not _is_int(q):
            n = astype(n, _dtype(q))
        last = maximum(n - 1, 0)
    else:
        n, last = size, size - 1
    v, fix_gamma = _virtual_index(method, n, qr)
    if fix_gamma is None or (method == "linear" and _is_int(v)):     # an index: no lerp
        idx = astype(clip(v, 0, last), int64)
        out = _gather(s, idx, rest)
    else:
        prev = floor(v)
        above, below = v >= n - 1, v < 0
        prev = where(above, last, where(below, 0, prev))
        nxt = where(above, last, where(below, 0, floor(v) + 1))
        prev, nxt = astype(prev, int64), astype(nxt, int64)
        gamma = astype(fix_gamma(v - astype(prev, _dtype(v)), v), _dtype(v))
        if weak_q:      # NumPy makes gamma a Python float: it takes a's float dtype
            gamma = astype(gamma, _float_dtype(_dtype(a)))
        out = _lerp(_gather(s, prev, rest), _gather(s, nxt, rest), gamma)
    if nan_aware and ignore_nan:
        out = where(n == 0, _np.nan, out)
    elif nan_aware:     # a slice holding a NaN gives NaN (sorted last)
        lastv = s[..., -1:]
        out = where(isnan(lastv), astype(lastv, _dtype(out)), out)
    if _ndim(q):
        out, out_shape = moveaxis(out, -1, 0), _shape(q) + out_shape
    return reshape(out, out_shape)


def _weighted_quantile(a, x, rest, q, axes, weights, ignore_nan, out_shape):
    """NumPy's weighted inverted_cdf: the first order statistic whose share of the total
    weight reaches q. The derivative goes to that order statistic (none to the weights: the
    choice is piecewise constant in them)."""
    w = _arr(weights)
    shape = _shape(a)
    if _shape(w) != shape:
        if _shape(w) != tuple(shape[i] for i in axes):
            raise ValueError("Shape of weights must be consistent with shape of a along "
                             "specified axis.")
        w = reshape(transpose(w, tuple(_np.argsort(axes))),
                    tuple(d if i in axes else 1 for i, d in enumerate(shape)))
        w = broadcast_to(w, shape)
    if not _traced(w) and _np.any(_np.asarray(w) < 0):
        raise ValueError("Weights must be non-negative.")
    w, _ = _to_last(stop_gradient(w), axes)
    nan_aware = _is_float(_dtype(a))
    if ignore_nan and nan_aware:
        w = where(isnan(x), 0, w)
    order = argsort(x, axis=-1)
    s = take_along_axis(x, order, axis=-1)
    cdf = cumsum(astype(take_along_axis(w, order, axis=-1), float64), axis=-1)
    total = cdf[..., -1:]
    if ignore_nan and nan_aware:
        empty = sum(logical_not(isnan(x)), axis=-1, keepdims=True) == 0
        total = where(empty, 1.0, total)
    else:
        empty = None
    cdf = cdf / total
    if not _traced(cdf) and _np.isnan(cdf[..., -1]).any():
        raise ValueError("Weights included NaN, inf or were all zero.")
    if _dtype(q).kind == "f":
        cdf = astype(cdf, _dtype(q))
    cdf = where(cdf == 0, -1, cdf)
    qv = reshape(q, (-1,))
    # searchsorted(cdf, q, side="left") in each slice: how many cdf entries lie below q
    below = expand_dims(cdf, -2) < reshape(qv, (len(rest) * (1,)) + (-1, 1))
    idx = minimum(sum(below, axis=-1), _shape(x)[-1] - 1)
    out = take_along_axis(s, idx, axis=-1)
    if empty is not None:
        out = where(empty, _np.nan, out)
    elif nan_aware:
        lastv = s[..., -1:]
        out = where(isnan(lastv), lastv, out)
    if _ndim(q):
        return reshape(moveaxis(out, -1, 0), _shape(q) + out_shape)
    return reshape(out, out_shape)


def _gather(s, idx, rest):
    """s[..., idx] for an index of shape (1,..., Q) or rest + (1 or Q,), as rest + (Q,)."""
    idx = broadcast_to(idx, tuple(rest) + (_shape(idx)[-1] if _ndim(idx) else 1,))
    return take_along_axis(s, idx, axis=-1)


def _check_q(q, hi, what):
    if not _traced(q):
        qc = _np.asarray(q)
        if qc.size and not (qc.min() >= 0 and qc.max() <= hi):
            raise ValueError(f"{what} must be in the range [0, {hi}]")


def _prepare_q(q, percent):
    weak = type(q) in (int, float)
    q = asarray(q) if isinstance(q, (Tracer, list, tuple)) else _np.asarray(q)
    if percent:
        _check_q(q, 100, "Percentiles")
        q = q / 100 if _traced(q) else _np.true_divide(q, 100)
    else:
        _check_q(q, 1, "Quantiles")
    return q, weak


def quantile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
             keepdims=False, *, weights=None, interpolation=None):
    """np.quantile, traced through a sort: the derivative goes to the order statistics around
    each quantile, with the interpolation weights (and in `q`, their slope). Every method of
    NumPy's; `weights=` with method="inverted_cdf" (no derivative in the weights).

    >>> float(quantile(_np.array([1.0, 2.0, 4.0, 8.0]), 0.5))
    3.0
    >>> quantile(_np.array([1.0, 2.0, 4.0, 8.0]), [0.0, 0.5], method="lower")
    array([1., 2.])
    >>> float(quantile(_np.array([1.0, 2.0, 4.0]), 0.5, method="inverted_cdf",
    ...                weights=_np.array([1.0, 0.5, 2.0])))
    4.0
    """
    _no_out(out, "quantile")
    q, weak = _prepare_q(q, False)
    return _quantile(a, q, axis, _method(method, interpolation, weights), keepdims, weak, False,
                     "quantile", weights)


def percentile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
               keepdims=False, *, weights=None, interpolation=None):
    """np.percentile: quantile of q / 100.

    >>> percentile(_np.array([1.0, 2.0, 4.0, 8.0]), [25, 50])
    array([1.75, 3.  ])
    """
    _no_out(out, "percentile")
    q, weak = _prepare_q(q, True)
    return _quantile(a, q, axis, _method(method, interpolation, weights), keepdims, weak, False,
                     "percentile", weights)


def nanquantile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
                keepdims=False, *, weights=None, interpolation=None):
    """np.nanquantile: quantiles of the non-NaN entries (NaN entries get no derivative; an
    all-NaN slice gives NaN).

    >>> float(nanquantile(_np.array([1.0, _np.nan, 4.0, 8.0]), 0.5))
    4.0
    """
    _no_out(out, "nanquantile")
    q, weak = _prepare_q(q, False)
    return _quantile(a, q, axis, _method(method, interpolation, weights), keepdims, weak, True,
                     "nanquantile", weights)


def nanpercentile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
                  keepdims=False, *, weights=None, interpolation=None):
    """np.nanpercentile: nanquantile of q / 100.

    >>> float(nanpercentile(_np.array([1.0, _np.nan, 4.0, 8.0]), 50))
    4.0
    """
    _no_out(out, "nanpercentile")
    q, weak = _prepare_q(q, True)
    return _quantile(a, q, axis, _method(method, interpolation, weights), keepdims, weak, True,
                     "nanpercentile", weights)


def nanmedian(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """np.nanmedian: the median of the non-NaN entries.

    >>> float(nanmedian(_np.array([1.0, _np.nan, 4.0, 8.0])))
    4.0
    """
    _no_out(out, "nanmedian")
    a = _arr(a)
    if not _is_float(_dtype(a)):
        return _quantile(a, _np.asarray(0.5), axis, "linear", keepdims, True, True, "nanmedian")
    shape = _shape(a)
    axes = _canonical_axes(axis, len(shape), "nanmedian")
    x, rest = _to_last(a, axes)
    if _shape(x)[-1] == 0:
        return _np.full(tuple(_sh.keepdims_shape(shape, axes) if keepdims else rest), _np.nan,
                        _dtype(a))
    s = sort(x, axis=-1)
    n = sum(logical_not(isnan(x)), axis=-1, keepdims=True)
    lo = _gather(s, maximum((n - 1) // 2, 0), rest)
    hi = _gather(s, maximum(n // 2 - (n == 0), 0), rest)
    out = where(n == 0, _np.nan, (lo + hi) / 2)   # the mean of the middle two, as NumPy
    return reshape(out, tuple(_sh.keepdims_shape(shape, axes) if keepdims else rest))


def _method(method, interpolation, weights):
    method = interpolation or method
    if weights is not None and method != "inverted_cdf":
        raise ValueError(f"Only method 'inverted_cdf' supports weights. Got: {method}.")
    return method


# ---------------------------------------------------------------- nan-ignoring reductions

def _nan_filled(a, fill):
    a = _arr(a)
    return where(isnan(a), fill, a) if _is_float(_dtype(a)) else a


def _nan_extremum(reduce, fill, name, a, axis, out, keepdims, initial, where_):
    _no_out(out, name)
    a = _arr(a)
    kw = {} if initial is None else {"initial": initial}
    if where_ is not None:
        kw["where"] = where_
    if not _is_float(_dtype(a)):
        return reduce(a, axis=axis, keepdims=keepdims, **kw)
    nan = isnan(a)
    r = reduce(where(nan, fill, a), axis=axis, keepdims=keepdims, **kw)
    if initial is not None:
        return r
    keep = logical_not(nan) if where_ is None else logical_and(logical_not(nan), where_)
    seen = sum(keep, axis=axis, keepdims=keepdims) > 0
    return where(seen, r, _np.nan)      # an all-NaN slice is NaN, as in NumPy


def nanmax(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    """np.nanmax: the maximum of the non-NaN entries (ties share the derivative).

    >>> float(nanmax(_np.array([1.0, _np.nan, 3.0])))
    3.0
    """
    return _nan_extremum(max, -_np.inf, "nanmax", a, axis, out, keepdims, initial, where)


def nanmin(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    """np.nanmin: the minimum of the non-NaN entries (ties share the derivative).

    >>> float(nanmin(_np.array([1.0, _np.nan, 3.0])))
    1.0
    """
    return _nan_extremum(min, _np.inf, "nanmin", a, axis, out, keepdims, initial, where)


def nanprod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    """np.nanprod: NaNs count as one.

    >>> float(nanprod(_np.array([2.0, _np.nan, 3.0])))
    6.0
    """
    return prod(_nan_filled(a, 1), axis, dtype, out, keepdims, initial, where)


def nancumsum(a, axis=None, dtype=None, out=None):
    """np.nancumsum: NaNs count as zero.

    >>> nancumsum(_np.array([1.0, _np.nan, 3.0]))
    array([1., 1., 4.])
    """
    return cumsum(_nan_filled(a, 0), axis, dtype, out)


def nancumprod(a, axis=None, dtype=None, out=None):
    """np.nancumprod: NaNs count as one.

    >>> nancumprod(_np.array([2.0, _np.nan, 3.0]))
    array([2., 2., 6.])
    """
    return cumprod(_nan_filled(a, 1), axis, dtype, out)


def _nan_arg(reduce, fill, name, a, axis, out, keepdims):
    _no_out(out, name)
    a = _arr(a)
    if not _is_float(_dtype(a)):
        return reduce(a, axis=axis, keepdims=keepdims)
    nan = isnan(a)
    all_nan = _all(nan, axis=axis, keepdims=keepdims)
    if not _traced(all_nan) and _np.any(all_nan):
        raise ValueError("All-NaN slice encountered")
    r = reduce(where(nan, fill, a), axis=axis, keepdims=keepdims)
    return where(all_nan, -1, r)     # traced, an all-NaN slice gives -1 (as in JAX)


def nanargmax(a, axis=None, out=None, *, keepdims=False):
    """np.nanargmax: the index of the largest non-NaN entry (an integer result).

    >>> int(nanargmax(_np.array([1.0, _np.nan, 3.0])))
    2
    """
    return _nan_arg(argmax, -_np.inf, "nanargmax", a, axis, out, keepdims)


def nanargmin(a, axis=None, out=None, *, keepdims=False):
    """np.nanargmin: the index of the smallest non-NaN entry (an integer result).

    >>> int(nanargmin(_np.array([1.0, _np.nan, 3.0])))
    0
    """
    return _nan_arg(argmin, _np.inf, "nanargmin", a, axis, out, keepdims)


def nanvar(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None,
           mean=None, correction=None):
    """np.nanvar: the variance of the non-NaN entries (NaN where no more than `ddof` are left).

    >>> float(nanvar(_np.array([1.0, _np.nan, 3.0])))
    1.0
    """
    _no_out(out, "nanvar")
    if mean is not None:
        raise NotImplementedError("nanvar(mean=...) is not supported by funcgrad")
    ddof = ddof if correction is None else correction
    a = _arr(a)
    if dtype is not None:
        a = astype(a, dtype)
    if not _is_float(_dtype(a)):
        return var(a, axis, None, None, ddof, keepdims, where=where)
    axes = _canonical_axes(axis, _ndim(a), "nanvar")
    keep = logical_not(isnan(a))
    if where is not None:
        keep = logical_and(keep, where)
    a0 = _where(keep, a, 0)
    cnt = sum(keep, axis=axes, keepdims=True)
    cntf = astype(cnt, _dtype(a))
    avg = sum(a0, axis=axes, keepdims=True) / _where(cnt > 0, cntf, 1)
    c = _where(keep, a0 - avg, 0)
    sq = sum(real(c * conjugate(c)), axis=axes, keepdims=keepdims)
    dof = cnt - ddof if keepdims else reshape(cnt - ddof, _shape(sq))
    ok = dof > 0
    return _where(ok, sq / _where(ok, astype(dof, _dtype(sq)), 1), _np.nan)


_where = where


def nanstd(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None,
           mean=None, correction=None):
    """np.nanstd: the standard deviation of the non-NaN entries.

    >>> float(nanstd(_np.array([1.0, _np.nan, 3.0])))
    1.0
    """
    return _safe_sqrt(nanvar(a, axis, dtype, out, ddof, keepdims, where=where, mean=mean,
                             correction=correction))


# ---------------------------------------------------------------- cumulative, differences

def _cumulative(f, fill, name, x, axis, dtype, include_initial):
    x = _arr(x)
    if axis is None:
        if _ndim(x) > 1:
            raise ValueError(f"{name}: axis must be specified for arrays of more than one "
                             f"dimension")
        axis = 0
        if _ndim(x) == 0:
            x = reshape(x, (1,))
    ax = _canonical_axis(axis, _ndim(x))
    out = f(x, axis=ax, dtype=dtype)
    if include_initial:
        shape = list(_shape(out))
        shape[ax] = 1
        out = concatenate([_np.full(shape, fill, _dtype(out)), out], axis=ax)
    return out


def cumulative_sum(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
    """np.cumulative_sum (NumPy 2): cumsum, optionally starting with 0.

    >>> cumulative_sum(_np.array([1.0, 2.0, 3.0]), include_initial=True)
    array([0., 1., 3., 6.])
    """
    _no_out(out, "cumulative_sum")
    return _cumulative(cumsum, 0, "cumulative_sum", x, axis, dtype, include_initial)


def cumulative_prod(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
    """np.cumulative_prod (NumPy 2): cumprod, optionally starting with 1.

    >>> cumulative_prod(_np.array([1.0, 2.0, 3.0]), include_initial=True)
    array([1., 1., 2., 6.])
    """
    _no_out(out, "cumulative_prod")
    return _cumulative(cumprod, 1, "cumulative_prod", x, axis, dtype, include_initial)


def ediff1d(ary, to_end=None, to_begin=None):
    """np.ediff1d: differences of the flattened array, with optional ends.

    >>> ediff1d(_np.array([1.0, 4.0, 9.0]), to_begin=0.0)
    array([0., 3., 5.])
    """
    ary = ravel(_arr(ary))
    dt = _dtype(ary)
    parts = []
    for extra, what in ((to_begin, "to_begin"), (to_end, "to_end")):
        if extra is None:
            parts.append(None)
            continue
        extra = _arr(extra)
        if not _np.can_cast(_dtype(extra), dt, casting="same_kind"):
            raise TypeError(f"dtype of `{what}` must be compatible with input `ary` under the "
                            f"`same_kind` rule.")
        parts.append(astype(ravel(extra), dt))
    d = diff(ary)
    pieces = [p for p in (parts[0], d, parts[1]) if p is not None]
    return concatenate(pieces) if len(pieces) > 1 else d


def trapezoid(y, x=None, dx=1.0, axis=-1):
    """np.trapezoid: the trapezoidal rule along `axis`, with sample points `x` or spacing `dx`.

    >>> float(trapezoid(_np.array([1.0, 2.0, 3.0]), dx=0.5))
    2.0
    """
    y = _arr(y)
    nd = _ndim(y)
    ax = _canonical_axis(axis, nd)
    if x is None:
        d = dx
    else:
        x = _arr(x)
        if _ndim(x) == 1:
            d = diff(x)
            shape = [1] * nd
            shape[ax] = _shape(d)[0]
            d = reshape(d, shape)
        else:
            d = diff(x, axis=ax)
    m = _shape(y)[ax]
    hi = _ix.slice_axis(y, ax, 1, m)
    lo = _ix.slice_axis(y, ax, 0, builtins.max(m - 1, 0))
    return sum(d * (hi + lo) / 2.0, axis=ax)


def unwrap(p, discont=None, axis=-1, *, period=2 * _np.pi):
    """np.unwrap: remove jumps larger than `discont` by adding multiples of `period` (the
    derivative is the identity: the corrections are piecewise constant).

    >>> unwrap(_np.array([0.0, 3.0, 6.5]), period=4.0)
    array([ 0. , -1. , -1.5])
    """
    p = _arr(p)
    ax = _canonical_axis(axis, _ndim(p))
    dd = diff(p, axis=ax)
    if discont is None:
        discont = period / 2
    dt = result_type(dd, period)
    if dt.kind in "iu":
        interval_high, rem = divmod(period, 2)
        boundary_ambiguous = rem == 0
    else:
        interval_high = period / 2
        boundary_ambiguous = True
    interval_low = -interval_high
    ddmod = remainder(dd - interval_low, period) + interval_low
    if boundary_ambiguous:
        ddmod = where(logical_and(ddmod == interval_low, dd > 0), interval_high, ddmod)
    correct = where(abs(dd) < discont, 0, ddmod - dd)
    correct = stop_gradient(astype(correct, dt))
    m = _shape(p)[ax]
    first = _ix.slice_axis(p, ax, 0, builtins.min(m, 1))
    rest = _ix.slice_axis(p, ax, 1, m)
    return concatenate([astype(first, dt), astype(rest + cumsum(correct, axis=ax), dt)],
                       axis=ax)


def gradient(f, *varargs, axis=None, edge_order=1):
    """np.gradient: central differences inside, one-sided (first or second order) at the ends;
    spacings are scalars or 1-D coordinates (traced or not).

    >>> gradient(_np.array([1.0, 4.0, 9.0, 16.0]))
    array([3., 4., 6., 7.])
    """
    f = _arr(f)
    nd = _ndim(f)
    axes = tuple(range(nd)) if axis is None else _canonical_axes(axis, nd, "gradient")
    if axis is not None and len(set(axes)) != len(axes):
        raise ValueError("repeated axis")
    n = len(varargs)
    if n == 0:
        dx = [1.0] * len(axes)
    elif n == 1 and _ndim(varargs[0]) == 0:
        dx = list(varargs) * len(axes)
    elif n == len(axes):
        dx = []
        for i, d in enumerate(varargs):
            d = _arr(d)
            if _ndim(d) == 0:
                dx.append(d)
                continue
            if _ndim(d) != 1:
                raise ValueError("distances must be either scalars or 1d")
            if _shape(d)[0] != _shape(f)[axes[i]]:
                raise ValueError("when 1d, distances must match the length of the "
                                 "corresponding dimension")
            if _dtype(d).kind in "iub":
                d = astype(d, float64)
            if _traced(d):
                dx.append(diff(d))
            else:
                dd = _np.diff(d)
                dx.append(dd[0] if _np.all(dd == dd[0]) else dd)   # uniform: a scalar
    else:
        raise TypeError("invalid number of arguments")
    if edge_order > 2:
        raise ValueError("'edge_order' greater than 2 not supported")
    otype = _dtype(f)
    if not _is_float(otype) and otype.kind != "c":
        f, otype = astype(f, float64), _np.dtype(float64)
    outs = []
    for ax, h in zip(axes, dx):
        m = _shape(f)[ax]
        if m < edge_order + 1:
            raise ValueError("Shape of array too small to calculate a numerical gradient, at "
                             "least (edge_order + 1) elements are required.")
        outs.append(astype(_gradient_axis(f, ax, h, edge_order, nd), otype))
    return outs[0] if len(axes) == 1 else tuple(outs)


def _gradient_axis(f, ax, h, edge_order, nd):
    def sl(start, stop):
        m = _shape(f)[ax]
        start, stop = start + m if start < 0 else start, stop + m if stop <= 0 else stop
        return _ix.slice_axis(f, ax, start, stop)

    uniform = _ndim(h) == 0
    shape = [1] * nd
    shape[ax] = -1
    if uniform:
        mid = (sl(2, 0) - sl(0, -2)) / (2.0 * h)
    else:
        dx1, dx2 = h[0:-1], h[1:]
        a = reshape(-(dx2) / (dx1 * (dx1 + dx2)), shape)
        b = reshape((dx2 - dx1) / (dx1 * dx2), shape)
        c = reshape(dx1 / (dx2 * (dx1 + dx2)), shape)
        mid = a * sl(0, -2) + b * sl(1, -1) + c * sl(2, 0)
    if edge_order == 1:
        first = (sl(1, 2) - sl(0, 1)) / (h if uniform else h[0])
        last = (sl(-1, 0) - sl(-2, -1)) / (h if uniform else h[-1])
    else:
        if uniform:
            a, b, c = -1.5 / h, 2.0 / h, -0.5 / h
        else:
            dx1, dx2 = h[0], h[1]
            a = -(2.0 * dx1 + dx2) / (dx1 * (dx1 + dx2))
            b = (dx1 + dx2) / (dx1 * dx2)
            c = -dx1 / (dx2 * (dx1 + dx2))
        first = a * sl(0, 1) + b * sl(1, 2) + c * sl(2, 3)
        if uniform:
            a, b, c = 0.5 / h, -2.0 / h, 1.5 / h
        else:
            dx1, dx2 = h[-2], h[-1]
            a = dx2 / (dx1 * (dx1 + dx2))
            b = -(dx2 + dx1) / (dx1 * dx2)
            c = (2.0 * dx2 + dx1) / (dx2 * (dx1 + dx2))
        last = a * sl(-3, -2) + b * sl(-2, -1) + c * sl(-1, 0)
    dt = result_type(first, mid, last)
    return concatenate([astype(first, dt), astype(mid, dt), astype(last, dt)], axis=ax)


# ---------------------------------------------------------------- interpolation

def interp(x, xp, fp, left=None, right=None, period=None):
    """np.interp: piecewise-linear interpolation, traced; differentiable in x, xp and fp (real
    or complex). At a knot the derivative is that of the segment to its right, at the last knot
    that of the last segment (as in JAX).

    >>> interp(_np.array([0.5, 2.5]), _np.array([0.0, 1.0, 2.0]), _np.array([0.0, 2.0, 6.0]))
    array([1., 6.])
    """
    x, xp, fp = _arr(x), _arr(xp), _arr(fp)
    out_dtype = _np.dtype(_np.complex128 if _dtype(fp).kind == "c" else float64)
    if _ndim(xp) != 1 or _ndim(fp) != 1:
        raise ValueError("Data points must be 1-D sequences")
    if _shape(xp)[0] != _shape(fp)[0]:
        raise ValueError("fp and xp are not of the same length")
    if _shape(xp)[0] == 0:
        raise ValueError("array of sample points is empty")
    x, xp, fp = astype(x, float64), astype(xp, float64), astype(fp, out_dtype)
    if period is not None:
        if period == 0:
            raise ValueError("period must be a non-zero value")
        period = abs(period)
        left = right = None
        x, xp = remainder(x, period), remainder(xp, period)
        order = argsort(xp)
        xp, fp = take(xp, order), take(fp, order)
        xp = concatenate([xp[-1:] - period, xp, xp[0:1] + period])
        fp = concatenate([fp[-1:], fp, fp[0:1]])
    n = _shape(xp)[0]
    j = clip(searchsorted(xp, x, side="right") - 1, 0, builtins.max(n - 2, 0))
    x0, f0 = take(xp, j), take(fp, j)
    if n > 1:
        x1, f1 = take(xp, j + 1), take(fp, j + 1)
        dxp = x1 - x0
        flat = dxp == 0
        slope = (f1 - f0) / where(flat, 1.0, dxp)
        y = where(flat, f0, slope * (x - x0) + f0)
        # NumPy's value fp[-1] at the last knot, with the derivative of the last segment (JAX)
        y = where(x == xp[-1], y + stop_gradient(fp[-1] - y), y)
    else:
        y = broadcast_to(f0, _shape(x))
    y = where(x < xp[0], fp[0] if left is None else left, y)
    y = where(x > xp[-1], fp[-1] if right is None else right, y)
    return astype(y, out_dtype)


# ---------------------------------------------------------------- sorted search, counting

def searchsorted(a, v, side="left", sorter=None):
    """np.searchsorted, traced as a binary search (log2(len(a)) gathers); an integer result.

    >>> searchsorted(_np.array([1.0, 2.0, 3.0]), _np.array([2.0, 2.5]), side="right")
    array([2, 2])
    """
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right' (got {side!r})")
    a, v = _arr(a), _arr(v)
    if _ndim(a) != 1:
        raise ValueError("object too deep for desired array")
    if not _traced(a, v, sorter):
        return _np.searchsorted(a, v, side=side, sorter=sorter)
    if sorter is not None:
        a = take(a, sorter)
    a, v = stop_gradient(a), stop_gradient(v)
    n = _shape(a)[0]
    vshape = _shape(v)
    lo = _np.zeros(vshape, _np.intp)
    hi = _np.full(vshape, n, _np.intp)
    before = _lt if side == "left" else _le
    for _ in range(n.bit_length()):
        mid = (lo + hi) // 2
        go = logical_and(before(take(a, minimum(mid, n - 1)), v), lo < hi)
        stay = logical_and(logical_not(go), lo < hi)
        lo, hi = where(go, mid + 1, lo), where(stay, mid, hi)
    return lo


def digitize(x, bins, right=False):
    """np.digitize: the index of the bin of each x (bins increasing or decreasing); an integer
    result.

    >>> digitize(_np.array([0.5, 1.5, 3.0]), _np.array([1.0, 2.0, 3.0]))
    array([0, 1, 3])
    """
    x, bins = _arr(x), _arr(bins)
    if _dtype(x).kind == "c":
        raise TypeError("x may not be complex")
    side = "left" if right else "right"
    n = _shape(bins)[0] if _ndim(bins) else 0
    if not _traced(bins):
        b = _np.asarray(bins)
        if b.ndim != 1:
            raise ValueError("object too deep for desired array")
        d = _np.diff(b)
        if _np.all(d >= 0):
            return searchsorted(bins, x, side=side)
        if _np.all(d <= 0):
            return n - searchsorted(b[::-1], x, side=side)
        raise ValueError("bins must be monotonically increasing or decreasing")
    up = searchsorted(bins, x, side=side)
    down = n - searchsorted(_sh.rev(bins, (0,)), x, side=side)
    return where(bins[-1] >= bins[0], up, down) if n else up


def bincount(x, weights=None, minlength=0):
    """np.bincount: occurrences (or summed weights) of each non-negative integer; the length
    needs x's values (eagerly, or under grad), the weights are differentiable.

    >>> bincount(_np.array([0, 2, 2]), weights=_np.array([0.5, 1.0, 2.0]))
    array([0.5, 0. , 3. ])
    """
    x = _arr(x)
    xc = _concrete(x, "bincount")
    if xc.ndim != 1:
        raise ValueError("object too deep for desired array" if xc.ndim > 1 else
                         "object of too small depth for desired array")
    if not _np.can_cast(xc.dtype, _np.intp, casting="safe"):
        raise TypeError(f"Cannot cast array data from {xc.dtype!r} to dtype('int64') according "
                        f"to the rule 'safe'")
    if minlength < 0:
        raise ValueError("'minlength' must not be negative")
    if xc.size and xc.min() < 0:
        raise ValueError("'list' argument must have no negative elements")
    length = builtins.max(int(xc.max()) + 1 if xc.size else 0, minlength)
    if weights is None:
        if not _traced(x):
            return _np.bincount(xc, minlength=minlength)
        vals, dt = _np.ones(_shape(x), _np.intp), _np.intp
    else:
        weights = _arr(weights)
        if _shape(weights) != _shape(x):
            raise ValueError("The weights and list don't have the same length.")
        vals, dt = astype(weights, float64), _np.float64
        if not _traced(x, weights):
            return _np.bincount(xc, weights=weights, minlength=minlength)
    idx = astype(x, _np.intp)
    return _ix.scatter_add_p.bind(_np.zeros(length, dt), vals, idx, spec=("a",))


def histogram_bin_edges(a, bins=10, range=None, weights=None):
    """np.histogram_bin_edges: the edges np.histogram uses (traced through a's min and max
    when bins is a number; string rules need concrete values).

    >>> histogram_bin_edges(_np.array([0.0, 1.0, 4.0]), bins=2)
    array([0., 2., 4.])
    """
    a = ravel(_arr(a))
    if isinstance(bins, str):
        # the rule picks the number of bins (piecewise constant in a); the edges stay traced
        w = None if weights is None else _concrete(weights, "histogram_bin_edges")
        edges = _np.histogram_bin_edges(_concrete(a, "histogram_bin_edges"), bins, range, w)
        if not _traced(a):
            return edges
        bins = len(edges) - 1
    if _ndim(bins) == 1:
        edges = _arr(bins)
        if not _traced(edges) and _np.any(edges[:-1] > edges[1:]):
            raise ValueError("`bins` must increase monotonically, when an array")
        return edges
    if _ndim(bins) != 0:
        raise ValueError("`bins` must be 1d, when an array")
    try:
        nbins = operator.index(bins)
    except TypeError:
        raise TypeError("`bins` must be an integer, a string, or an array") from None
    if nbins < 1:
        raise ValueError("`bins` must be positive, when an integer")
    if range is not None:
        first, last = range
        if first > last:
            raise ValueError("max must be larger than min in range parameter.")
        if not (_np.isfinite(first) and _np.isfinite(last)):
            raise ValueError(f"supplied range of [{first}, {last}] is not finite")
    elif _shape(a)[0] == 0:
        first, last = 0, 1
    else:
        first, last = min(a), max(a)
        if not _traced(first, last) and not (_np.isfinite(first) and _np.isfinite(last)):
            raise ValueError(f"autodetected range of [{first}, {last}] is not finite")
    if _traced(first, last):
        same = first == last
        first, last = where(same, first - 0.5, first), where(same, last + 0.5, last)
    elif first == last:
        first, last = first - 0.5, last + 0.5
    bin_type = result_type(first, last, a)
    if bin_type.kind in "iub":
        bin_type = _np.dtype(float64)
    return linspace(first, last, nbins + 1, endpoint=True, dtype=bin_type)


def histogram(a, bins=10, range=None, density=None, weights=None):
    """np.histogram: (counts, edges); counts are integers, or sums of the (differentiable)
    weights; the edges follow a's min and max.

    >>> histogram(_np.array([0.0, 1.0, 1.5, 4.0]), bins=2)
    (array([3, 1]), array([0., 2., 4.]))
    """
    a = _arr(a)
    if weights is not None:
        weights = _arr(weights)
        if _shape(weights) != _shape(a):
            raise ValueError("weights should have the same shape as a.")
        weights = ravel(weights)
    edges = histogram_bin_edges(a, bins, range, weights)
    a = ravel(a)
    nb = _shape(edges)[0] - 1
    if not _traced(a, edges, weights):
        return _np.histogram(a, edges, density=density, weights=weights)
    a_, e_ = stop_gradient(a), stop_gradient(edges)
    idx = clip(searchsorted(e_, a_, side="right") - 1, 0, nb - 1)
    keep = logical_and(a_ >= e_[0], a_ <= e_[-1])
    if weights is None:
        vals, dt = astype(keep, _np.intp), _np.intp
    else:
        vals, dt = where(keep, weights, 0), _dtype(weights)
    counts = _ix.scatter_add_p.bind(_np.zeros(nb, dt), vals, idx, spec=("a",))
    if density:
        db = astype(diff(edges), float64)
        return counts / db / sum(counts), edges
    return counts, edges


def histogramdd(sample, bins=10, range=None, density=None, weights=None):
    """np.histogramdd: (counts, [edges per dimension]); counts are float64, sums of the
    (differentiable) weights if given; each dimension's edges follow its min and max.

    >>> h, (ex, ey) = histogramdd(_np.array([[0.0, 0.0], [1.0, 2.0], [1.0, 0.5]]), bins=2)
    >>> h
    array([[1., 0.],
           [1., 1.]])
    """
    if isinstance(sample, (list, tuple)):
        sample = transpose(asarray([asarray(v) for v in sample]))
    sample = _arr(sample)
    if _ndim(sample) == 1:
        sample = reshape(sample, (-1, 1))
    if _ndim(sample) != 2:
        raise ValueError(f"histogramdd: sample must be (N, D) or a sequence of D arrays, got "
                         f"shape {_shape(sample)}")
    n, d = _shape(sample)
    if weights is not None:
        weights = _arr(weights)
        if _shape(weights) != (n,):
            raise ValueError(f"histogramdd: weights must have shape ({n},), got "
                             f"{_shape(weights)}")
    if not _traced(sample, weights) and not (isinstance(bins, (list, tuple)) and
                                              builtins.any(_traced(b) for b in bins)):
        return _np.histogramdd(sample, bins, range, density, weights)
    if isinstance(bins, (int, _np.integer)) or (not isinstance(bins, (list, tuple))
                                                 and _ndim(bins) == 0):
        bins = [bins] * d
    if len(bins) != d:
        raise ValueError("The dimension of bins must be equal to the dimension of the sample x.")
    ranges = [None] * d if range is None else list(range)
    edges = [histogram_bin_edges(sample[:, i], bins[i], ranges[i]) for i in builtins.range(d)]
    sizes = [_shape(e)[0] - 1 for e in edges]
    flat, keep = 0, True
    for i, e in enumerate(edges):
        col, e_ = stop_gradient(sample[:, i]), stop_gradient(e)
        idx = clip(searchsorted(e_, col, side="right") - 1, 0, sizes[i] - 1)
        keep = logical_and(keep, logical_and(col >= e_[0], col <= e_[-1]))
        flat = flat * sizes[i] + idx
    vals = astype(keep, float64) if weights is None else \
        where(keep, astype(weights, float64), 0.0)
    total = int(_np.prod(sizes))
    counts = _ix.scatter_add_p.bind(_np.zeros(total, float64), vals, flat, spec=("a",))
    counts = reshape(counts, tuple(sizes))
    if density:
        counts = counts / sum(counts)
        for i, e in enumerate(edges):
            width = astype(diff(e), float64)
            counts = counts / reshape(width, (1,) * i + (-1,) + (1,) * (d - i - 1))
    return counts, edges


def histogram2d(x, y, bins=10, range=None, density=None, weights=None):
    """np.histogram2d: (counts, x edges, y edges), as histogramdd of the pairs (x, y).

    >>> h, ex, ey = histogram2d(_np.array([0.0, 1.0, 1.0]), _np.array([0.0, 2.0, 0.5]), bins=2)
    >>> h.tolist()
    [[1.0, 0.0], [1.0, 1.0]]
    """
    if not isinstance(bins, (list, tuple)) or len(bins) not in (1, 2):
        bins = [bins, bins]
    counts, edges = histogramdd([x, y], bins, range, density, weights)
    return counts, edges[0], edges[1]


# ---------------------------------------------------------------- covariance

def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *,
        dtype=None):
    """np.cov, traced (the weights are differentiable too).

    >>> cov(_np.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]]))
    array([[ 1., -1.],
           [-1.,  1.]])
    """
    if ddof is not None and ddof != int(ddof):
        raise ValueError("ddof must be integer")
    m = _arr(m)
    if _ndim(m) > 2:
        raise ValueError("m has more than 2 dimensions")
    if y is not None:
        y = _arr(y)
        if _ndim(y) > 2:
            raise ValueError("y has more than 2 dimensions")
    if dtype is None:
        dtype = result_type(m, float64) if y is None else result_type(m, y, float64)
    X = astype(m, dtype)
    if _ndim(X) < 2:
        X = reshape(X, (1,) * (2 - _ndim(X)) + _shape(X))
    if not rowvar and _ndim(m) != 1:
        X = transpose(X)
    if _shape(X)[0] == 0:
        return _np.array([]).reshape(0, 0)
    if y is not None:
        y = astype(y, dtype)
        if _ndim(y) < 2:
            y = reshape(y, (1,) * (2 - _ndim(y)) + _shape(y))
        if not rowvar and _shape(y)[0] != 1:
            y = transpose(y)
        X = concatenate([X, y], axis=0)
    if ddof is None:
        ddof = 1 if bias == 0 else 0
    w = None
    n = _shape(X)[1]
    for name, wt in (("fweights", fweights), ("aweights", aweights)):
        if wt is None:
            continue
        wt = _arr(wt)
        wt = astype(wt, float64) if _traced(wt) else _np.asarray(wt, dtype=float)
        if not _traced(wt) and name == "fweights" and not _np.all(wt == _np.around(wt)):
            raise TypeError("fweights must be integer")
        if _ndim(wt) > 1:
            raise RuntimeError(f"cannot handle multidimensional {name}")
        if _shape(wt)[0] != n:
            raise RuntimeError(f"incompatible numbers of samples and {name}")
        if not _traced(wt) and _np.any(wt < 0):
            raise ValueError(f"{name} cannot be negative")
        if name == "aweights":
            aweights = wt
        w = wt if w is None else w * wt
    avg, w_sum = average(X, axis=1, weights=w, returned=True)
    w_sum = w_sum[0]
    if w is None:
        fact = n - ddof
    elif ddof == 0:
        fact = w_sum
    elif aweights is None:
        fact = w_sum - ddof
    else:
        fact = w_sum - ddof * sum(w * aweights) / w_sum
    if not _traced(fact) and fact <= 0:
        fact = 0.0      # NumPy's inf (or NaN) entries
    X = X - avg[:, None]
    X_T = transpose(X) if w is None else transpose(X * w)
    c = _la.dot_general(X, conjugate(X_T), ((1,), (0,)))
    if _traced(fact):
        c = astype(c * (1 / fact), _dtype(c))     # NumPy scales c in place
    else:
        with _np.errstate(divide="ignore"):
            c = astype(c * _np.true_divide(1, fact), _dtype(c))
    return reshape(c, tuple(d for d in _shape(c) if d != 1))


def corrcoef(x, y=None, rowvar=True, bias=None, ddof=None, *, dtype=None):
    """np.corrcoef: the correlation matrix, clipped to [-1, 1].

    >>> corrcoef(_np.array([[0.0, 1.0, 2.0], [2.0, 1.5, 0.0]]))[0, 1].round(3)
    np.float64(-0.961)
    """
    c = cov(x, y, rowvar, dtype=dtype)
    if _ndim(c) == 0:
        return c / c
    d = _ix.getitem(c, (_np.arange(_shape(c)[0]), _np.arange(_shape(c)[0])))
    stddev = _safe_sqrt(real(d))
    c = c / stddev[:, None]
    c = c / stddev[None, :]
    return clip(c, -1, 1)


# ---------------------------------------------------------------- spaced ranges

def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *,
             device=None):
    """np.linspace; traced when `start` or `stop` is (NumPy's own otherwise).

    >>> linspace(0.0, 1.0, 3)
    array([0. , 0.5, 1. ])
    """
    if not _traced(start, stop):
        return _np.linspace(start, stop, num, endpoint, retstep, dtype, axis)
    num = operator.index(num)
    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    div = (num - 1) if endpoint else num
    start, stop = asarray(start), asarray(stop)
    dt = result_type(start, stop, float(num))
    if not _is_float(dt) and dt.kind != "c":
        dt = _np.dtype(float64)
    integer_dtype = dtype is not None and _np.issubdtype(dtype, _np.integer)
    dtype = dt if dtype is None else dtype
    start, stop = astype(start, dt), astype(stop, dt)
    delta = stop - start
    y = _np.arange(0, num, dtype=dt).reshape((-1,) + (1,) * _ndim(delta))
    if div > 0:
        step = delta / div
        y = y * step
    else:
        step = _np.nan
        y = y * delta
    y = y + start
    if endpoint and num > 1:
        y = concatenate([y[:-1], expand_dims(broadcast_to(stop, _shape(y)[1:]), 0)])
    if axis != 0:
        y = moveaxis(y, 0, axis)
    if integer_dtype:
        y = floor(y)
    y = astype(y, dtype)
    return (y, step) if retstep else y


def logspace(start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
    """np.logspace; traced when `start`, `stop` or `base` is (NumPy's own otherwise).

    >>> logspace(0.0, 2.0, 3)
    array([  1.,  10., 100.])
    """
    if not _traced(start, stop, base):
        return _np.logspace(start, stop, num, endpoint, base, dtype, axis)
    if not isinstance(base, (float, int)) and _ndim(base):
        nd = builtins.max(_ndim(start), _ndim(stop), _ndim(base))
        start, stop, base = (_ndmin(v, nd) for v in (start, stop, base))
        base = expand_dims(base, axis)
    y = linspace(start, stop, num=num, endpoint=endpoint, axis=axis)
    out = power(base, y)
    return out if dtype is None else astype(out, dtype)


def _ndmin(v, nd):
    v = asarray(v) if isinstance(v, Tracer) else _np.asarray(v)
    return reshape(v, (1,) * (nd - _ndim(v)) + _shape(v)) if _ndim(v) < nd else v




def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """np.geomspace, traced (real values; the ends are exactly `start` and `stop`).

    >>> geomspace(1.0, 100.0, 3)
    array([  1.,  10., 100.])
    """
    if not _traced(start, stop):
        return _np.geomspace(start, stop, num, endpoint, dtype, axis)
    start, stop = asarray(start) * 1.0, asarray(stop) * 1.0
    dt = result_type(start, stop, float(num), _np.zeros((), dtype))
    if dt.kind == "c":
        raise NotImplementedError("geomspace of complex values is not supported by funcgrad")
    dtype = dt if dtype is None else _np.dtype(dtype)
    start, stop = astype(start, dt), astype(stop, dt)
    out_sign = stop_gradient(sign(start))
    start = start / out_sign
    stop = stop / out_sign
    result = logspace(log10(start), log10(stop), num=num, endpoint=endpoint, base=10.0,
                      dtype=dt)
    if num > 0:
        shape = _shape(result)[1:]
        parts = [expand_dims(broadcast_to(start, shape), 0)]
        if num > 1 and endpoint:
            parts += [result[1:-1], expand_dims(broadcast_to(stop, shape), 0)]
        else:
            parts += [result[1:]]
        result = concatenate(parts)
    result = out_sign * result
    if axis != 0:
        result = moveaxis(result, 0, axis)
    return astype(result, dtype)


__all__ = _reports_user_line(globals())
