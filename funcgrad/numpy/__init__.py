"""A NumPy-like namespace whose functions trace: each binds primitives, composites are built
from them. Importing it installs operators and the NumPy protocols on tracers."""
from __future__ import annotations

import builtins
import math
from typing import Any, Sequence

import numpy as _np

from ..core.trace import Tracer
from ..core.types import is_float
from ..prims import elementwise as _ew
from ..prims import indexing as _ix
from ..prims import linalg as _la
from ..prims import reductions as _red
from ..prims import shape as _sh
from ..prims.special import full as _full
from ..prims.special import stop_gradient_p as _stop_gradient_p
from ..util import canonical_axes, canonical_axis

ndarray = _np.ndarray
float16, float32, float64 = _np.float16, _np.float32, _np.float64
int8, int16, int32, int64, uint8 = _np.int8, _np.int16, _np.int32, _np.int64, _np.uint8
bool_, complex64, complex128 = _np.bool_, _np.complex64, _np.complex128
pi, e, inf, nan, newaxis = _np.pi, _np.e, _np.inf, _np.nan, None
dtype, finfo, iinfo, result_type = _np.dtype, _np.finfo, _np.iinfo, _np.result_type


def _shape(x) -> tuple:
    return x.shape if isinstance(x, (Tracer, _np.ndarray)) else _np.shape(x)


def _ndim(x) -> int:
    return len(_shape(x))


def _dtype(x):
    return x.dtype if isinstance(x, (Tracer, _np.ndarray, _np.generic)) else _np.result_type(x)


# ---------------------------------------------------------------- creation (concrete)

def array(obj: Any, dtype=None, copy: bool = True) -> Any:
    """Like np.array; traced values pass through (converted to `dtype` if given).

    >>> array([1.0, 2.0]).dtype
    dtype('float64')
    """
    if isinstance(obj, Tracer):
        return obj if dtype is None else astype(obj, dtype)
    if isinstance(obj, (list, tuple)) and builtins.any(isinstance(o, Tracer) for o in _flat(obj)):
        return stack([array(o, dtype) for o in obj])
    return _np.array(obj, dtype=dtype, copy=copy)


def asarray(obj: Any, dtype=None) -> Any:
    """Like np.asarray; traced values pass through. `asarray(3.0)` is a 0-d float64 array."""
    return array(obj, dtype=dtype, copy=False) if isinstance(obj, (Tracer, list, tuple)) \
        else _np.asarray(obj, dtype=dtype)


def _flat(obj):
    for o in obj:
        if isinstance(o, (list, tuple)):
            yield from _flat(o)
        else:
            yield o


zeros, ones, empty, full, eye, identity = _np.zeros, _np.ones, _np.zeros, _np.full, _np.eye, \
    _np.identity
arange, linspace, logspace, tri = _np.arange, _np.linspace, _np.logspace, _np.tri


def zeros_like(x, dtype=None) -> Any:
    """Zeros with the shape and dtype of `x` (traced or not)."""
    return _full(shape=_shape(x), fill_value=0, dtype=dtype or _dtype(x))


def ones_like(x, dtype=None) -> Any:
    """Ones with the shape and dtype of `x` (traced or not)."""
    return _full(shape=_shape(x), fill_value=1, dtype=dtype or _dtype(x))


def full_like(x, fill_value, dtype=None) -> Any:
    """An array like `x` filled with `fill_value`."""
    return _full(shape=_shape(x), fill_value=fill_value, dtype=dtype or _dtype(x))


def empty_like(x, dtype=None) -> Any:
    return zeros_like(x, dtype)


# ---------------------------------------------------------------- elementwise

def _unary(prim, name):
    def f(x):
        return prim.bind(x)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"Elementwise np.{name}, traced. >>> {name}(0.5)"
    return f


negative = _unary(_ew.neg_p, "negative")
exp, log, log1p, expm1 = (_unary(p, n) for p, n in [(_ew.exp_p, "exp"), (_ew.log_p, "log"),
                                                    (_ew.log1p_p, "log1p"),
                                                    (_ew.expm1_p, "expm1")])
sin, cos, tan, tanh = (_unary(p, n) for p, n in [(_ew.sin_p, "sin"), (_ew.cos_p, "cos"),
                                                 (_ew.tan_p, "tan"), (_ew.tanh_p, "tanh")])
sinh, cosh = _unary(_ew.sinh_p, "sinh"), _unary(_ew.cosh_p, "cosh")
arcsin, arccos, arctan = (_unary(p, n) for p, n in [(_ew.arcsin_p, "arcsin"),
                                                    (_ew.arccos_p, "arccos"),
                                                    (_ew.arctan_p, "arctan")])
arcsinh, arccosh, arctanh = (_unary(p, n) for p, n in [(_ew.arcsinh_p, "arcsinh"),
                                                       (_ew.arccosh_p, "arccosh"),
                                                       (_ew.arctanh_p, "arctanh")])
sqrt, abs, sign = _unary(_ew.sqrt_p, "sqrt"), _unary(_ew.abs_p, "abs"), _unary(_ew.sign_p, "sign")
absolute = abs
floor, ceil, rint = _unary(_ew.floor_p, "floor"), _unary(_ew.ceil_p, "ceil"), \
    _unary(_ew.round_p, "rint")
isfinite, isnan = _unary(_ew.isfinite_p, "isfinite"), _unary(_ew.isnan_p, "isnan")
logical_not = _unary(_ew.logical_not_p, "logical_not")


def isinf(x):
    """Elementwise np.isinf, traced."""
    return logical_and(logical_not(isfinite(x)), logical_not(isnan(x)))


def _binary(prim, name):
    def f(x, y):
        return prim.bind(x, y)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"Elementwise, broadcasting np.{name}, traced."
    return f


add, subtract, multiply = _binary(_ew.add_p, "add"), _binary(_ew.sub_p, "subtract"), \
    _binary(_ew.mul_p, "multiply")
divide = true_divide = _binary(_ew.div_p, "divide")
floor_divide, remainder = _binary(_ew.floor_divide_p, "floor_divide"), _binary(_ew.rem_p,
                                                                               "remainder")
mod = remainder
maximum, minimum = _binary(_ew.max_p, "maximum"), _binary(_ew.min_p, "minimum")
arctan2, logaddexp = _binary(_ew.atan2_p, "arctan2"), _binary(_ew.logaddexp_p, "logaddexp")
less, less_equal = _binary(_ew.lt_p, "less"), _binary(_ew.le_p, "less_equal")
greater, greater_equal = _binary(_ew.gt_p, "greater"), _binary(_ew.ge_p, "greater_equal")
equal, not_equal = _binary(_ew.eq_p, "equal"), _binary(_ew.ne_p, "not_equal")
logical_and, logical_or = _binary(_ew.and_p, "logical_and"), _binary(_ew.or_p, "logical_or")
logical_xor = _binary(_ew.xor_p, "logical_xor")


def power(x, y):
    """x ** y, traced; integer exponents use an exact, kink-free rule (x**2 at x=0 is fine)."""
    if isinstance(y, (int, _np.integer)) and not isinstance(y, bool):
        return _ew.integer_pow(x, int(y))
    if isinstance(y, float) and y.is_integer() and builtins.abs(y) <= 64 and \
            is_float(_dtype(x)):
        return _ew.integer_pow(x, int(y))
    return _ew.pow_p.bind(x, y)


def square(x):
    """x * x, traced."""
    return _ew.integer_pow(x, 2)


def reciprocal(x):
    return divide(1.0, x)


def positive(x):
    return x


def where(condition, x=None, y=None):
    """np.where(condition, x, y), traced (the one-argument form needs a concrete condition)."""
    if x is None and y is None:
        return _np.nonzero(_concrete(condition, "where(condition)"))
    return _ew.select_p.bind(condition, x, y)


def clip(a, a_min=None, a_max=None):
    """Clip values to [a_min, a_max], traced (gradient 1 inside, 0 outside)."""
    if a_min is not None:
        a = maximum(a, a_min)
    if a_max is not None:
        a = minimum(a, a_max)
    return a


def astype(x, dtype):
    return _ew.convert(x, dtype)


def real(x):
    return x


def deg2rad(x):
    return x * (_np.pi / 180.0)


def hypot(x, y):
    return sqrt(x * x + y * y)


def exp2(x):
    return exp(x * math.log(2.0))


def log2(x):
    return log(x) / math.log(2.0)


def log10(x):
    return log(x) / math.log(10.0)


def cbrt(x):
    return sign(x) * power(abs(x), 1.0 / 3.0)


def sinc(x):
    px = _np.pi * x
    safe = where(x == 0, 1.0, px)
    return where(x == 0, 1.0, sin(safe) / safe)


def heaviside(x, h0):
    return where(x < 0, 0.0, where(x > 0, 1.0, h0))


# ---------------------------------------------------------------- reductions

def _reduce(prim, x, axis, keepdims, name):
    nd = _ndim(x)
    axes = canonical_axes(axis, nd, name)
    out = prim.bind(x, axes=axes)
    if keepdims:
        out = _sh.reshape(out, _red.keepdims_shape(_shape(x), axes))
    return out


def sum(a, axis=None, dtype=None, keepdims=False, out=None):
    """np.sum, traced."""
    _no_out(out, "sum")
    if dtype is not None:
        a = astype(a, dtype)
    return _reduce(_red.reduce_sum_p, a, axis, keepdims, "sum")


def prod(a, axis=None, dtype=None, keepdims=False, out=None):
    """np.prod, traced."""
    _no_out(out, "prod")
    if dtype is not None:
        a = astype(a, dtype)
    return _reduce(_red.reduce_prod_p, a, axis, keepdims, "prod")


def max(a, axis=None, keepdims=False, out=None):
    """np.max, traced; ties share the gradient evenly."""
    _no_out(out, "max")
    return _reduce(_red.reduce_max_p, a, axis, keepdims, "max")


def min(a, axis=None, keepdims=False, out=None):
    """np.min, traced; ties share the gradient evenly."""
    _no_out(out, "min")
    return _reduce(_red.reduce_min_p, a, axis, keepdims, "min")


amax, amin = max, min


def mean(a, axis=None, dtype=None, keepdims=False, out=None):
    """np.mean, traced."""
    _no_out(out, "mean")
    shape = _shape(a)
    axes = canonical_axes(axis, len(shape), "mean")
    count = int(_np.prod([shape[i] for i in axes], dtype=_np.int64))
    s = sum(a, axis=axes, dtype=dtype, keepdims=keepdims)
    if not is_float(_dtype(s)):
        s = astype(s, _np.float64)
    return s / count if count else s * _np.nan


def var(a, axis=None, dtype=None, ddof=0, keepdims=False, out=None):
    """np.var, traced (two-pass: subtract the mean first, for accuracy)."""
    _no_out(out, "var")
    shape = _shape(a)
    axes = canonical_axes(axis, len(shape), "var")
    count = int(_np.prod([shape[i] for i in axes], dtype=_np.int64))
    centered = a - mean(a, axis=axes, dtype=dtype, keepdims=True)
    return sum(square(centered), axis=axes, keepdims=keepdims) / builtins.max(count - ddof, 0)


def std(a, axis=None, dtype=None, ddof=0, keepdims=False, out=None):
    """np.std, traced."""
    return sqrt(var(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims, out=out))


def argmax(a, axis=None, keepdims=False):
    """np.argmax (not differentiable: an integer result)."""
    return _arg(_red.argmax_p, a, axis, keepdims)


def argmin(a, axis=None, keepdims=False):
    """np.argmin (not differentiable: an integer result)."""
    return _arg(_red.argmin_p, a, axis, keepdims)


def _arg(prim, a, axis, keepdims):
    nd = _ndim(a)
    if axis is None:
        out = prim.bind(reshape(a, (-1,)) if nd != 1 else a, axis=0)
        return _sh.reshape(out, (1,) * nd) if keepdims else out
    ax = canonical_axis(axis, nd)
    out = prim.bind(a, axis=ax)
    return expand_dims(out, ax) if keepdims else out


def cumsum(a, axis=None, dtype=None):
    """np.cumsum, traced."""
    if dtype is not None:
        a = astype(a, dtype)
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    return _red.cumsum(a, canonical_axis(axis, _ndim(a)))


def sort(a, axis=-1):
    """np.sort, traced (the gradient follows each element to its sorted place)."""
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    return _red.sort_p.bind(a, axis=canonical_axis(axis, _ndim(a)))


def argsort(a, axis=-1):
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    return _red.argsort(a, canonical_axis(axis, _ndim(a)))


def logsumexp(a, axis=None, keepdims=False):
    """log(sum(exp(a))), stable: the max is subtracted first (and treated as a constant)."""
    axes = canonical_axes(axis, _ndim(a), "logsumexp")
    m = stop_gradient(max(a, axis=axes, keepdims=True))
    m = where(isfinite(m), m, 0.0)
    out = log(sum(exp(a - m), axis=axes, keepdims=True)) + m
    return out if keepdims else _sh.reshape(out, [d for i, d in enumerate(_shape(a))
                                                  if i not in axes])


def stop_gradient(x):
    return _stop_gradient_p.bind(x)


def _no_out(out, name):
    if out is not None:
        raise TypeError(f"{name}(out=...) writes in place, which funcgrad does not trace; "
                        f"use the returned value instead")


# ---------------------------------------------------------------- shapes

def reshape(a, newshape=None, order="C", *, shape=None):
    """np.reshape, traced; one dimension may be -1."""
    newshape = shape if newshape is None else newshape
    if isinstance(newshape, (int, _np.integer)):
        newshape = (int(newshape),)
    newshape = [int(d) for d in newshape]
    size = int(_np.prod(_shape(a), dtype=_np.int64))
    if newshape.count(-1) == 1:
        known = int(_np.prod([d for d in newshape if d != -1], dtype=_np.int64))
        newshape[newshape.index(-1)] = size // known if known else 0
    if order != "C":
        raise NotImplementedError("reshape: only order='C' is supported")
    return _sh.reshape(a, tuple(newshape))


def ravel(a):
    return reshape(a, (-1,))


def transpose(a, axes=None):
    """np.transpose, traced."""
    nd = _ndim(a)
    perm = tuple(range(nd))[::-1] if axes is None else tuple(canonical_axis(p, nd) for p in axes)
    return _sh.transpose(a, perm)


def swapaxes(a, axis1, axis2):
    nd = _ndim(a)
    perm = list(range(nd))
    i, j = canonical_axis(axis1, nd), canonical_axis(axis2, nd)
    perm[i], perm[j] = perm[j], perm[i]
    return _sh.transpose(a, perm)


def moveaxis(a, source, destination):
    nd = _ndim(a)
    src = canonical_axis(source, nd)
    dst = canonical_axis(destination, nd)
    perm = [i for i in range(nd) if i != src]
    perm.insert(dst, src)
    return _sh.transpose(a, perm)


def squeeze(a, axis=None):
    """np.squeeze, traced."""
    shape = _shape(a)
    if axis is None:
        axes = tuple(i for i, d in enumerate(shape) if d == 1)
    else:
        axes = canonical_axes(axis, len(shape), "squeeze")
        for i in axes:
            if shape[i] != 1:
                raise ValueError(f"squeeze: cannot select an axis to squeeze out which has "
                                 f"size not equal to one (axis {i} of shape {shape})")
    return _sh.reshape(a, tuple(d for i, d in enumerate(shape) if i not in axes))


def expand_dims(a, axis):
    """np.expand_dims, traced."""
    shape = list(_shape(a))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    nd = len(shape) + len(axes)
    for ax in sorted(canonical_axis(x, nd) for x in axes):
        shape.insert(ax, 1)
    return _sh.reshape(a, tuple(shape))


def atleast_1d(a):
    return reshape(a, (1,)) if _ndim(a) == 0 else a


def atleast_2d(a):
    nd = _ndim(a)
    return reshape(a, (1,) * (2 - nd) + tuple(_shape(a))) if nd < 2 else a


def broadcast_to(array, shape):
    """np.broadcast_to, traced."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return _sh.broadcast_to(array, shape)


def broadcast_arrays(*args):
    shape = _np.broadcast_shapes(*(_shape(a) for a in args))
    return [broadcast_to(a, shape) for a in args]


def concatenate(arrays, axis=0):
    """np.concatenate, traced."""
    arrays = [asarray(a) if isinstance(a, (list, tuple)) else a for a in arrays]
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    nd = _ndim(arrays[0]) if arrays else 1
    return _sh.concatenate(arrays, canonical_axis(axis, nd) if nd else axis)


def stack(arrays, axis=0):
    """np.stack, traced."""
    arrays = list(arrays)
    if not arrays:
        raise ValueError("stack: need at least one array to stack")
    shapes = {_shape(a) for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"stack: all input arrays must have the same shape, got {sorted(shapes)}")
    nd = _ndim(arrays[0]) + 1
    ax = canonical_axis(axis, nd)
    return _sh.concatenate([expand_dims(a, ax) for a in arrays], ax)


def vstack(arrays):
    return concatenate([atleast_2d(a) for a in arrays], axis=0)


def hstack(arrays):
    arrays = [atleast_1d(a) for a in arrays]
    return concatenate(arrays, axis=0 if _ndim(arrays[0]) == 1 else 1)


def split(ary, indices_or_sections, axis=0):
    """np.split, traced: a list of slices."""
    shape = _shape(ary)
    ax = canonical_axis(axis, len(shape))
    n = shape[ax]
    if isinstance(indices_or_sections, (int, _np.integer)):
        k = int(indices_or_sections)
        if k <= 0 or n % k:
            raise ValueError(f"split: array of size {n} on axis {ax} does not divide into {k} "
                             f"equal sections")
        bounds = [i * (n // k) for i in range(k + 1)]
    else:
        bounds = [0] + [int(i) for i in indices_or_sections] + [n]
    return [_ix.slice_axis(ary, ax, bounds[i], builtins.max(bounds[i], bounds[i + 1]))
            for i in range(len(bounds) - 1)]


def array_split(ary, indices_or_sections, axis=0):
    if isinstance(indices_or_sections, int):
        n = _shape(ary)[axis]
        k = indices_or_sections
        sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
        indices_or_sections = list(_np.cumsum(sizes)[:-1])
    return split(ary, indices_or_sections, axis)


def flip(m, axis=None):
    return _sh.rev(m, canonical_axes(axis, _ndim(m), "flip"))


def tile(a, reps):
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    shape = _shape(a)
    nd = builtins.max(len(shape), len(reps))
    shape = (1,) * (nd - len(shape)) + tuple(shape)
    reps = (1,) * (nd - len(reps)) + reps
    a = reshape(a, [d for s in shape for d in (1, s)])
    a = broadcast_to(a, [d for r, s in zip(reps, shape) for d in (r, s)])
    return reshape(a, [r * s for r, s in zip(reps, shape)])


def repeat(a, repeats, axis=None):
    if axis is None:
        a, axis = ravel(a), 0
    if not isinstance(repeats, int):
        return take(a, _np.repeat(_np.arange(_shape(a)[axis]), repeats), axis=axis)
    shape = list(_shape(a))
    ax = canonical_axis(axis, len(shape))
    b = expand_dims(a, ax + 1)
    b = broadcast_to(b, shape[:ax + 1] + [repeats] + shape[ax + 1:])
    shape[ax] *= repeats
    return reshape(b, shape)


def take(a, indices, axis=None):
    """np.take, traced (gradient scatters back, adding repeats)."""
    if axis is None:
        a, axis = ravel(a), 0
    nd = _ndim(a)
    ax = canonical_axis(axis, nd)
    idx = asarray(indices) if isinstance(indices, list) else indices
    if isinstance(idx, (int, _np.integer)):
        idx = int(idx)
    return _ix.getitem(a, (slice(None),) * ax + (idx,))


def take_along_axis(arr, indices, axis):
    """np.take_along_axis, traced."""
    return _ix.take_along_axis(arr, indices, canonical_axis(axis, _ndim(arr)))


def diagonal(a, offset=0, axis1=0, axis2=1):
    if (axis1, axis2) != (0, 1) or _ndim(a) != 2:
        raise NotImplementedError("diagonal: only 2-D arrays with axis1=0, axis2=1")
    n, m = _shape(a)
    k = builtins.max(0, builtins.min(n - builtins.max(0, -offset), m - builtins.max(0, offset)))
    i = _np.arange(k) + builtins.max(0, -offset)
    return _ix.getitem(a, (i, i + offset))


def diag(v, k=0):
    if _ndim(v) == 2:
        return diagonal(v, k)
    n = _shape(v)[0] + builtins.abs(k)
    rows = _np.arange(_shape(v)[0]) + builtins.max(0, -k)
    cols = rows + k
    return _ix.scatter_add_p.bind(_np.zeros((n, n), _dtype(v)), v, rows, cols, spec=("a", "a"))


def trace(a, offset=0):
    return sum(diagonal(a, offset))


def triu(m, k=0):
    n, mm = _shape(m)[-2:]
    return where(_np.triu(_np.ones((n, mm), bool), k), m, 0)


def tril(m, k=0):
    n, mm = _shape(m)[-2:]
    return where(_np.tril(_np.ones((n, mm), bool), k), m, 0)


# ---------------------------------------------------------------- products

def matmul(a, b):
    """a @ b with NumPy semantics (1-D promotion, broadcast batch axes), one dot_general."""
    sa, sb = _shape(a), _shape(b)
    if not sa or not sb:
        raise ValueError(f"matmul: operands must not be 0-d (shapes {sa} and {sb}); use * "
                         f"to multiply by a scalar")
    if len(sa) == 1 and len(sb) == 1:
        return _dot(a, b, (0,), (0,), sa, sb, "matmul")
    if len(sb) == 1:
        return _dot(a, b, (len(sa) - 1,), (0,), sa, sb, "matmul")
    if len(sa) == 1:
        bb = sb[:-2]
        return _batched(a, b, sa, sb, (), bb, "matmul", vec_lhs=True)
    return _batched(a, b, sa, sb, sa[:-2], sb[:-2], "matmul")


def _dot(a, b, lc, rc, sa, sb, name):
    if builtins.any(sa[i] != sb[j] for i, j in zip(lc, rc)):
        raise ValueError(f"{name}: shapes {sa} and {sb} are not aligned: "
                         f"{tuple(sa[i] for i in lc)} (axes {lc} of the first) != "
                         f"{tuple(sb[j] for j in rc)} (axes {rc} of the second)"
                         f"{_where()}")
    return _la.dot_general(a, b, (lc, rc))


def _where():
    from ..core.source import where as _w
    return _w()


def _batched(a, b, sa, sb, ba, bb, name, vec_lhs=False):
    if sa[-1] != sb[-2]:
        raise ValueError(f"{name}: shapes {sa} and {sb} are not aligned: {sa[-1]} (last axis "
                         f"of the first) != {sb[-2]} (second-to-last axis of the second)"
                         f"{_where()}")
    try:
        batch = _np.broadcast_shapes(ba, bb)
    except ValueError:
        raise ValueError(f"{name}: batch shapes {ba} and {bb} of {sa} and {sb} cannot be "
                         f"broadcast{_where()}") from None
    nb = len(batch)
    if vec_lhs:
        if not batch:
            return _la.dot_general(a, b, ((0,), (0,)))
        b = broadcast_to(b, batch + tuple(sb[-2:]))
        return _la.dot_general(b, a, ((nb,), (0,)))
    if not batch:
        return _la.dot_general(a, b, ((1,), (0,)))
    a = broadcast_to(a, batch + tuple(sa[-2:]))
    b = broadcast_to(b, batch + tuple(sb[-2:]))
    r = tuple(range(nb))
    return _la.dot_general(a, b, ((nb + 1,), (nb,)), (r, r))


def dot(a, b, out=None):
    """np.dot, traced."""
    _no_out(out, "dot")
    sa, sb = _shape(a), _shape(b)
    if not sa or not sb:
        return multiply(a, b)
    if len(sb) == 1:
        return _dot(a, b, (len(sa) - 1,), (0,), sa, sb, "dot")
    return _dot(a, b, (len(sa) - 1,), (len(sb) - 2,), sa, sb, "dot")


def vdot(a, b):
    return dot(ravel(a), ravel(b))


def inner(a, b):
    sa, sb = _shape(a), _shape(b)
    if not sa or not sb:
        return multiply(a, b)
    return _dot(a, b, (len(sa) - 1,), (len(sb) - 1,), sa, sb, "inner")


def outer(a, b):
    """np.outer, traced."""
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))


def tensordot(a, b, axes=2):
    """np.tensordot, traced."""
    sa, sb = _shape(a), _shape(b)
    if isinstance(axes, (int, _np.integer)):
        n = int(axes)
        lc, rc = tuple(range(len(sa) - n, len(sa))), tuple(range(n))
    else:
        la, lb = axes
        la = (la,) if isinstance(la, int) else tuple(la)
        lb = (lb,) if isinstance(lb, int) else tuple(lb)
        lc = tuple(canonical_axis(i, len(sa)) for i in la)
        rc = tuple(canonical_axis(i, len(sb)) for i in lb)
    return _dot(a, b, lc, rc, sa, sb, "tensordot")


def einsum(subscripts: str, *operands, optimize=None):
    """np.einsum for any number of operands, as a chain of dot_generals (traced)."""
    from ._einsum import einsum as _einsum
    return _einsum(subscripts, *operands)


# ---------------------------------------------------------------- predicates (concrete)

def _concrete(x, op):
    if isinstance(x, Tracer):
        return x.concrete(op)
    return x


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    """np.allclose on concrete values (a traced value raises ConcretizationError under jit)."""
    return bool(_np.allclose(_concrete(a, "allclose"), _concrete(b, "allclose"), rtol, atol,
                             equal_nan))


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return abs(a - b) <= atol + rtol * abs(b)


def array_equal(a, b) -> bool:
    return bool(_np.array_equal(_concrete(a, "array_equal"), _concrete(b, "array_equal")))


def any(a, axis=None, keepdims=False):
    return max(astype(a, bool_), axis=axis, keepdims=keepdims)


def all(a, axis=None, keepdims=False):
    return min(astype(a, bool_), axis=axis, keepdims=keepdims)


def count_nonzero(a, axis=None):
    return sum(astype(a != 0, _np.int64), axis=axis)


def shape(a):
    return _shape(a)


def ndim(a):
    return _ndim(a)


def size(a, axis=None):
    s = _shape(a)
    return int(_np.prod(s, dtype=_np.int64)) if axis is None else s[axis]


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    dt = _dtype(x)
    big = _np.finfo(dt).max if is_float(dt) else 0
    x = where(isnan(x), nan, x)
    x = where(x == _np.inf, big if posinf is None else posinf, x)
    return where(x == -_np.inf, -big if neginf is None else neginf, x)


from . import _dispatch  # noqa: E402,F401  (installs operators and NumPy protocols)
