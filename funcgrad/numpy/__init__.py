"""A NumPy-like namespace whose functions trace: each binds primitives, composites are built
from them. Importing it installs operators and the NumPy protocols on tracers."""
from __future__ import annotations

import builtins
import functools
import inspect
import math
import re
from typing import Any

import numpy as _np

from ..core import trace as _trace_state
from ..core.trace import Tracer
from ..core.types import is_float as _is_float
from ..prims import elementwise as _ew
from ..prims import indexing as _ix
from ..prims import linalg as _la
from ..prims import reductions as _red
from ..prims import shape as _sh
from ..prims.special import full as _full
from ..prims.special import stop_gradient_p as _stop_gradient_p
from ..util import canonical_axes as _canonical_axes
from ..util import canonical_axis as _canonical_axis

ndarray = _np.ndarray
float16, float32, float64 = _np.float16, _np.float32, _np.float64
int8, int16, int32, int64, uint8 = _np.int8, _np.int16, _np.int32, _np.int64, _np.uint8
bool_, complex64, complex128 = _np.bool_, _np.complex64, _np.complex128
pi, e, inf, nan, newaxis = _np.pi, _np.e, _np.inf, _np.nan, None
dtype, finfo, iinfo = _np.dtype, _np.finfo, _np.iinfo


def _shape(x) -> tuple:
    return x.shape if isinstance(x, (Tracer, _np.ndarray)) else _np.shape(x)


def _ndim(x) -> int:
    return len(_shape(x))


def _dtype(x):
    return x.dtype if isinstance(x, (Tracer, _np.ndarray, _np.generic)) else _np.result_type(x)


def _arr(x):
    """Array-likes (lists, tuples) become arrays, stacking any traced entries; others pass."""
    return asarray(x) if isinstance(x, (list, tuple)) else x


def _size(shape) -> int:
    return int(_np.prod(shape, dtype=_np.int64))


# ---------------------------------------------------------------- creation

def array(object: Any, dtype=None, *, copy: bool = True, ndmin: int = 0) -> Any:
    """Like np.array; traced values pass through, lists holding traced values are stacked.

    >>> array([1.0, 2.0]).dtype
    dtype('float64')
    """
    if isinstance(object, Tracer):
        out = object if dtype is None else astype(object, dtype)
    elif isinstance(object, (list, tuple)) and builtins.any(
            isinstance(o, Tracer) for o in _flat(object)):
        out = stack([array(o, dtype) for o in object])
    else:
        return _np.array(object, dtype=dtype, copy=copy, ndmin=ndmin)
    return reshape(out, (1,) * (ndmin - _ndim(out)) + _shape(out)) if ndmin > _ndim(out) else out


def asarray(a: Any, dtype=None, order=None, *, copy=None) -> Any:
    """Like np.asarray; traced values pass through. `asarray(3.0)` is a 0-d float64 array.

    >>> asarray([1, 2]).shape
    (2,)
    """
    if isinstance(a, (Tracer, list, tuple)):
        return array(a, dtype=dtype, copy=None)
    if copy is None:  # NumPy 1.x has no copy= here
        return _np.asarray(a, dtype=dtype, order=order)
    return _np.asarray(a, dtype=dtype, order=order, copy=copy)


def _flat(obj):
    stack_ = [iter(obj)]
    while stack_:  # iterative: no recursion on nesting depth
        for o in stack_[-1]:
            if isinstance(o, (list, tuple)):
                stack_.append(iter(o))
                break
            yield o
        else:
            stack_.pop()


zeros, ones, empty, eye, identity = _np.zeros, _np.ones, _np.zeros, _np.eye, _np.identity
arange, linspace, logspace, tri = _np.arange, _np.linspace, _np.logspace, _np.tri


def full(shape, fill_value, dtype=None, order="C") -> Any:
    """np.full; a traced `fill_value` is broadcast (and traced).

    >>> full(2, 7.0)
    array([7., 7.])
    """
    if isinstance(fill_value, Tracer):
        shape = (shape,) if isinstance(shape, (int, _np.integer)) else tuple(shape)
        return broadcast_to(fill_value if dtype is None else astype(fill_value, dtype), shape)
    return _np.full(shape, fill_value, dtype, order)


def zeros_like(a, dtype=None, order="K", subok=True, shape=None) -> Any:
    """Zeros with the shape and dtype of `a` (traced or not).

    >>> zeros_like(_np.ones(2, _np.float32))
    array([0., 0.], dtype=float32)
    """
    return full_like(a, 0, dtype, shape=shape)


def ones_like(a, dtype=None, order="K", subok=True, shape=None) -> Any:
    """Ones with the shape and dtype of `a` (traced or not).

    >>> ones_like(_np.zeros(2))
    array([1., 1.])
    """
    return full_like(a, 1, dtype, shape=shape)


def full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None) -> Any:
    """An array like `a` (shape and dtype) filled with `fill_value`.

    >>> full_like(_np.zeros(2), 3.0)
    array([3., 3.])
    """
    a = _arr(a)
    shape = _shape(a) if shape is None else (shape,) if isinstance(shape, int) else tuple(shape)
    dtype = _dtype(a) if dtype is None else dtype
    if isinstance(fill_value, Tracer):
        return full(shape, fill_value, dtype)
    return _full(shape=shape, fill_value=fill_value, dtype=dtype)


empty_like = zeros_like


def copy(a, order="K", subok=False) -> Any:
    """np.copy; traced values are immutable, so they pass through.

    >>> copy(_np.ones(2))
    array([1., 1.])
    """
    return a if isinstance(a, Tracer) else _np.copy(a)


def result_type(*arrays_and_dtypes):
    """np.result_type; a traced value counts as an array of its dtype.

    >>> result_type(_np.ones(2, _np.float32), 2.0)
    dtype('float32')
    """
    return _np.result_type(*(_np.empty(0, a.dtype) if isinstance(a, Tracer) else a
                             for a in arrays_and_dtypes))


def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    """np.meshgrid, traced (each output is a broadcast of one input).

    >>> [g.shape for g in meshgrid(_np.ones(2), _np.ones(3))]
    [(3, 2), (3, 2)]
    """
    n = len(xi)
    xi = [ravel(_arr(x)) for x in xi]
    shape = [_shape(x)[0] for x in xi]
    if indexing == "xy" and n > 1:
        shape[0], shape[1] = shape[1], shape[0]
    out = []
    for i, x in enumerate(xi):
        axis = (1 - i if i < 2 else i) if indexing == "xy" and n > 1 else i
        one = [1] * n
        one[axis] = _shape(x)[0]
        x = reshape(x, one)
        out.append(x if sparse else broadcast_to(x, shape))
    return tuple(out)


# ---------------------------------------------------------------- elementwise

_ERRORS = (ValueError, TypeError, IndexError, NotImplementedError)


def _unary(prim, name):
    # The hottest functions: they report the user's line themselves (no wrapper call) and
    # hand their primitive to the current trace directly (what prim.bind does).
    state = _trace_state._state

    def f(x):
        try:
            return state.trace.process(prim, (asarray(x) if type(x) in (list, tuple) else x,),
                                       {})
        except _ERRORS as err:
            _add_user_line(err)
            raise
    f._reports_line = True
    f.__name__ = f.__qualname__ = name
    arg = 2.0 if name == "arccosh" else 0.5
    f.__doc__ = (f"Elementwise np.{name}, traced.\n\n"
                 f"    >>> {name}(_np.full(2, {arg})).shape\n    (2,)\n")
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
absolute = fabs = abs
floor, ceil, rint = _unary(_ew.floor_p, "floor"), _unary(_ew.ceil_p, "ceil"), \
    _unary(_ew.round_p, "rint")
isfinite, isnan = _unary(_ew.isfinite_p, "isfinite"), _unary(_ew.isnan_p, "isnan")
logical_not = _unary(_ew.logical_not_p, "logical_not")


def _binary(prim, name):
    state = _trace_state._state

    def f(x1, x2):
        try:
            return state.trace.process(prim, (asarray(x1) if type(x1) in (list, tuple) else x1,
                                              asarray(x2) if type(x2) in (list, tuple) else x2),
                                       {})
        except _ERRORS as err:
            _add_user_line(err)
            raise
    f._reports_line = True
    f.__name__ = f.__qualname__ = name
    f.__doc__ = (f"Elementwise, broadcasting np.{name}, traced.\n\n"
                 f"    >>> {name}(_np.ones((2, 1)), _np.ones(3)).shape\n    (2, 3)\n")
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


def isinf(x):
    """Elementwise np.isinf, traced.

    >>> isinf(_np.array([1.0, _np.inf]))
    array([False,  True])
    """
    x = _arr(x)
    return logical_and(logical_not(isfinite(x)), logical_not(isnan(x)))


def _bitwise(logical, name):
    def f(x1, x2):
        x1, x2 = _arr(x1), _arr(x2)
        if _dtype(x1) != bool_ or _dtype(x2) != bool_:
            raise NotImplementedError(f"funcgrad supports np.{name} (and the operators & | ^) "
                                      f"on booleans only, not {_dtype(x1)} and {_dtype(x2)}")
        return logical(x1, x2)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = (f"np.{name} on booleans (the logical operation), traced.\n\n"
                 f"    >>> {name}(_np.array([True, False]), True).dtype\n    dtype('bool')\n")
    return f


bitwise_and = _bitwise(logical_and, "bitwise_and")
bitwise_or = _bitwise(logical_or, "bitwise_or")
bitwise_xor = _bitwise(logical_xor, "bitwise_xor")


def invert(x):
    """np.invert (the ~ operator) on booleans: logical not, traced.

    >>> invert(_np.array([True, False]))
    array([False,  True])
    """
    x = _arr(x)
    if _dtype(x) != bool_:
        raise NotImplementedError(f"funcgrad supports np.invert (the ~ operator) on booleans "
                                  f"only, not {_dtype(x)}")
    return logical_not(x)


bitwise_not = invert


def power(x1, x2):
    """x1 ** x2, traced; integer exponents use an exact, kink-free rule (x**2 at x=0 is fine).

    >>> power(_np.array([2.0, 3.0]), 2)
    array([4., 9.])
    """
    x1, x2 = _arr(x1), _arr(x2)
    if type(x2) is int and -64 <= x2 <= 64 and _is_float(_dtype(x1)):
        return _ew.integer_pow(x1, x2)      # x ** 2: the common case, decided at once
    n = _static_integer(x2)
    # integer_pow only where NumPy's dtype is x1's: x32 ** 2 stays float32, x32 ** np.int64(2)
    # and int ** -1 do not.
    if n is not None and (n >= 0 or _is_float(_dtype(x1))) and result_type(x1, x2) == _dtype(x1):
        return _ew.integer_pow(x1, n)
    return _ew.pow_p.bind(x1, x2)


def _static_integer(x) -> int | None:
    """x as a Python int if it is a concrete, real, integral scalar of modest size."""
    if isinstance(x, (Tracer, bool, _np.bool_)) or _np.ndim(x) != 0:
        return None
    v = _np.asarray(x)
    if v.dtype.kind not in "iuf" or not _np.isfinite(v) or v != _np.round(v) or \
            builtins.abs(v) > 64:
        return None
    return int(v)


def float_power(x1, x2):
    """np.float_power: x1 ** x2 computed in at least float64.

    >>> float_power(_np.ones(2, _np.float32), 2).dtype
    dtype('float64')
    """
    x1 = _arr(x1)
    return power(astype(x1, _np.result_type(_dtype(x1), float64)), x2)


def square(x):
    """x * x, traced.

    >>> square(_np.array([3.0]))
    array([9.])
    """
    return _ew.integer_pow(_arr(x), 2)


def _abs2(x):
    """|x|^2, real: x * x, or Re(x conj(x)) for complex x (no square root of a square)."""
    return real(x * conjugate(x)) if _dtype(x).kind == "c" else square(x)


def reciprocal(x):
    """1 / x, traced (for floats; NumPy's integer reciprocal truncates).

    >>> reciprocal(_np.array([2.0]))
    array([0.5])
    """
    x = _arr(x)
    if not _is_float(_dtype(x)):
        return where(abs(x) == 1, x, 0)  # C integer division: 1 // x truncates to 0
    return divide(1, x)


def positive(x):
    """+x.

    >>> positive(_np.array([1.0]))
    array([1.])
    """
    return _arr(x)


def where(condition, x=None, y=None):
    """np.where(condition, x, y), traced (the one-argument form needs a concrete condition).

    >>> where(_np.array([True, False]), 1.0, 2.0)
    array([1., 2.])
    """
    if x is None and y is None:
        return nonzero(condition)
    if x is None or y is None:
        raise ValueError("where: either both or neither of x and y should be given")
    return _ew.select_p.bind(_arr(condition), _arr(x), _arr(y))


_where_fn = where  # for functions whose `where` argument shadows it


def select(condlist, choicelist, default=0):
    """np.select: the first true condition picks its choice, else `default` (traced).

    >>> select([_np.array([True, False])], [_np.array([1.0, 2.0])], 0.0)
    array([1., 0.])
    """
    if len(condlist) != len(choicelist):
        raise ValueError("select: list of cases must be same length as list of conditions")
    out = default
    for c, v in zip(reversed(condlist), reversed(choicelist)):
        out = where(c, v, out)
    return out


def clip(a, a_min=None, a_max=None, out=None, *, min=None, max=None):
    """Clip values to [a_min, a_max], traced (gradient 1 inside, 0 outside).

    >>> clip(_np.array([-1.0, 0.5, 2.0]), 0, 1)
    array([0. , 0.5, 1. ])
    """
    _no_out(out, "clip")
    a = _arr(a)
    a_min = min if a_min is None else a_min
    a_max = max if a_max is None else a_max
    if a_min is not None:
        a = maximum(a, a_min)
    if a_max is not None:
        a = minimum(a, a_max)
    return a


def astype(x, dtype, /, *, copy=True, device=None):
    """np.astype / x.astype(dtype), traced (the derivative is cast back).

    >>> astype(_np.ones(2), _np.float32).dtype
    dtype('float32')
    """
    return _ew.convert(_arr(x), dtype)


def real(val):
    """The real part (of a real array: the array itself).

    >>> real(_np.array([1.0 + 2.0j]))
    array([1.])
    """
    val = _arr(val)
    return _ew.real(val) if _dtype(val).kind == "c" else val


def imag(val):
    """The imaginary part (of a real array: zeros).

    >>> imag(_np.array([1.0 + 2.0j]))
    array([2.])
    """
    val = _arr(val)
    return _ew.imag(val) if _dtype(val).kind == "c" else zeros_like(val)


def conjugate(x):
    """The complex conjugate (of a real array: the array itself).

    >>> conjugate(_np.array([1.0 + 2.0j]))
    array([1.-2.j])
    """
    x = _arr(x)
    return _ew.conj(x) if _dtype(x).kind == "c" else x


conj = conjugate


def angle(z, deg: bool = False):
    """The argument of complex numbers, atan2(imag, real) (in degrees with `deg`).

    >>> float(angle(1.0j))
    1.5707963267948966
    """
    z = _arr(z)
    out = arctan2(imag(z), real(z)) if _dtype(z).kind == "c" else \
        where(less(z, 0), _np.pi, 0.0) * ones_like(z, dtype=result_type(z, 1.0))
    return out * (180.0 / _np.pi) if deg else out


def deg2rad(x):
    """Degrees to radians.

    >>> float(deg2rad(180.0))
    3.141592653589793
    """
    return _arr(x) * (_np.pi / 180.0)


def rad2deg(x):
    """Radians to degrees.

    >>> float(rad2deg(_np.pi))
    180.0
    """
    return _arr(x) * (180.0 / _np.pi)


radians, degrees = deg2rad, rad2deg


def hypot(x1, x2):
    """sqrt(x1**2 + x2**2), traced.

    >>> float(hypot(3.0, 4.0))
    5.0
    """
    x1, x2 = _arr(x1), _arr(x2)
    return sqrt(x1 * x1 + x2 * x2)


def exp2(x):
    """2 ** x.

    >>> exp2(_np.array([0.0, 3.0])).round(12)
    array([1., 8.])
    """
    return exp(_arr(x) * math.log(2.0))


def log2(x):
    """Base-2 logarithm.

    >>> float(log2(8.0))
    3.0
    """
    return log(x) / math.log(2.0)


def log10(x):
    """Base-10 logarithm.

    >>> log10(_np.array([1.0, 1000.0])).round(12)
    array([0., 3.])
    """
    return log(x) / math.log(10.0)


def logaddexp2(x1, x2):
    """log2(2**x1 + 2**x2), stable.

    >>> float(logaddexp2(1.0, 1.0))
    2.0
    """
    ln2 = math.log(2.0)
    return logaddexp(_arr(x1) * ln2, _arr(x2) * ln2) / ln2


def cbrt(x):
    """Cube root, traced (real for negative x).

    >>> float(cbrt(-8.0))
    -2.0
    """
    x = _arr(x)
    return sign(x) * power(abs(x), 1.0 / 3.0)


def sinc(x):
    """sin(pi x) / (pi x), 1 at 0.

    >>> float(sinc(0.0))
    1.0
    """
    x = _arr(x)
    px = _np.pi * x
    safe = where(x == 0, 1.0, px)  # so the untaken branch has no 0/0 in its derivative
    return where(x == 0, 1.0, sin(safe) / safe)


def heaviside(x1, x2):
    """0 for x1 < 0, x2 at 0, 1 for x1 > 0.

    >>> heaviside(_np.array([-1.0, 0.0, 2.0]), 0.5)
    array([0. , 0.5, 1. ])
    """
    x1, x2 = _arr(x1), _arr(x2)
    dt = result_type(x1, x2)
    return astype(where(x1 < 0, 0, where(x1 > 0, 1, x2)), dt)


def trunc(x):
    """Round towards zero.

    >>> trunc(_np.array([-1.5, 1.5]))
    array([-1.,  1.])
    """
    x = _arr(x)
    return where(x < 0, ceil(x), floor(x))


fix = trunc


def round(a, decimals=0, out=None):
    """np.round: half to even, to `decimals` places (traced; zero derivative).

    >>> round(_np.array([0.5, 1.5, 0.123]), 2)
    array([0.5 , 1.5 , 0.12])
    """
    _no_out(out, "round")
    a = _arr(a)
    if not _is_float(_dtype(a)):
        if decimals >= 0:
            return a
        scale = 10 ** -decimals
        return astype(rint(a / scale) * scale, _dtype(a))
    if decimals == 0:
        return rint(a)
    scale = 10.0 ** decimals
    return rint(a * scale) / scale


around = round


def fmax(x1, x2):
    """Elementwise maximum that ignores NaNs.

    >>> fmax(_np.array([1.0, _np.nan]), 0.0)
    array([1., 0.])
    """
    x1, x2 = _arr(x1), _arr(x2)
    return where(isnan(x2), x1, where(isnan(x1), x2, maximum(x1, x2)))


def fmin(x1, x2):
    """Elementwise minimum that ignores NaNs.

    >>> fmin(_np.array([1.0, _np.nan]), 0.0)
    array([0., 0.])
    """
    x1, x2 = _arr(x1), _arr(x2)
    return where(isnan(x2), x1, where(isnan(x1), x2, minimum(x1, x2)))


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """NaN -> `nan`, +-inf -> the largest finite values (or `posinf`/`neginf`).

    >>> nan_to_num(_np.array([_np.nan, 1.0]))
    array([0., 1.])
    """
    x = _arr(x)
    dt = _dtype(x)
    if not _is_float(dt):
        return x
    big = _np.finfo(dt).max
    x = where(isnan(x), nan, x)
    x = where(x == _np.inf, big if posinf is None else posinf, x)
    return where(x == -_np.inf, -big if neginf is None else neginf, x)


# ---------------------------------------------------------------- reductions

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
        out = _sh.reshape(out, _red.keepdims_shape(_shape(x), axes))
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
    r = _reduce(_red.reduce_sum_p, _masked(a, where, 0), axis, keepdims, "sum")
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
        kept = _red.keepdims_shape(shape, axes)
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


def _safe_sqrt(x):
    """sqrt whose derivative at 0 is 0 (a subgradient) instead of inf * 0 = NaN: for norms and
    standard deviations, which are not differentiable where they are 0.

    >>> import funcgrad as fg
    >>> fg.grad(lambda x: _safe_sqrt(x * x))(0.0)
    array(0.)
    """
    x = _arr(x)
    zero = x == 0  # only 0 itself: NaN and negative inputs still give NaN, as sqrt does
    return where(zero, 0, sqrt(where(zero, 1, x)))


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
    return reshape(mid, _red.keepdims_shape(shape, axes)) if keepdims else mid


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


def stop_gradient(x):
    """Identity on values, zero derivative.

    >>> stop_gradient(_np.array([1.0]))
    array([1.])
    """
    return _stop_gradient_p.bind(_arr(x))


def _no_out(out, name):
    if out is not None:
        raise TypeError(f"{name}(out=...) writes in place, which funcgrad does not trace; "
                        f"use the returned value instead")


# ---------------------------------------------------------------- shapes

def reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    """np.reshape, traced; one dimension may be -1.

    >>> reshape(_np.arange(6.0), (2, -1)).shape
    (2, 3)
    """
    a = _arr(a)
    shape = newshape if shape is None else shape
    if shape is None:
        raise TypeError("reshape: the new shape is missing")
    if order != "C":
        raise NotImplementedError("reshape: only order='C' is supported")
    shape = [int(shape)] if isinstance(shape, (int, _np.integer)) else [int(d) for d in shape]
    size = _size(_shape(a))
    if shape.count(-1) > 1:
        raise ValueError(f"reshape: can only specify one unknown dimension, got {tuple(shape)}")
    if -1 in shape:
        known = _size([d for d in shape if d != -1])
        if known == 0 or size % known:
            raise ValueError(f"reshape: cannot reshape an array of shape {_shape(a)} (size "
                             f"{size}) into shape {tuple(shape)}")
        shape[shape.index(-1)] = size // known
    return _sh.reshape(a, tuple(shape))


def ravel(a, order="C"):
    """Flatten to 1-D, traced.

    >>> ravel(_np.ones((2, 3))).shape
    (6,)
    """
    return reshape(a, (-1,), order)


def transpose(a, axes=None):
    """np.transpose, traced.

    >>> transpose(_np.ones((2, 3))).shape
    (3, 2)
    """
    a = _arr(a)
    nd = _ndim(a)
    perm = tuple(range(nd))[::-1] if axes is None else tuple(_canonical_axis(p, nd) for p in axes)
    if sorted(perm) != list(range(nd)):
        raise ValueError(f"transpose: axes {tuple(axes)} don't match an array of ndim {nd}")
    return _sh.transpose(a, perm)


permute_dims = transpose


def matrix_transpose(x):
    """Swap the last two axes.

    >>> matrix_transpose(_np.ones((4, 2, 3))).shape
    (4, 3, 2)
    """
    return swapaxes(x, -1, -2)


def swapaxes(a, axis1, axis2):
    """np.swapaxes, traced.

    >>> swapaxes(_np.ones((2, 3, 4)), 0, 2).shape
    (4, 3, 2)
    """
    a = _arr(a)
    nd = _ndim(a)
    perm = list(range(nd))
    i, j = _canonical_axis(axis1, nd), _canonical_axis(axis2, nd)
    perm[i], perm[j] = perm[j], perm[i]
    return _sh.transpose(a, perm)


def moveaxis(a, source, destination):
    """np.moveaxis (ints or sequences of axes), traced.

    >>> moveaxis(_np.ones((2, 3, 4)), 0, -1).shape
    (3, 4, 2)
    """
    a = _arr(a)
    nd = _ndim(a)
    src = [_canonical_axis(s, nd) for s in (source if isinstance(source, (list, tuple))
                                           else [source])]
    dst = [_canonical_axis(d, nd) for d in (destination if isinstance(destination, (list, tuple))
                                           else [destination])]
    if len(src) != len(dst) or len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ValueError("moveaxis: source and destination must be distinct axes, as many of "
                         "each")
    order = [i for i in range(nd) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return _sh.transpose(a, order)


def squeeze(a, axis=None):
    """np.squeeze, traced.

    >>> squeeze(_np.ones((1, 3, 1))).shape
    (3,)
    """
    a = _arr(a)
    shape = _shape(a)
    if axis is None:
        axes = tuple(i for i, d in enumerate(shape) if d == 1)
    else:
        axes = _canonical_axes(axis, len(shape), "squeeze")
        for i in axes:
            if shape[i] != 1:
                raise ValueError(f"squeeze: cannot select an axis to squeeze out which has "
                                 f"size not equal to one (axis {i} of shape {shape})")
    return _sh.reshape(a, tuple(d for i, d in enumerate(shape) if i not in axes))


def expand_dims(a, axis):
    """np.expand_dims, traced.

    >>> expand_dims(_np.ones(3), (0, 2)).shape
    (1, 3, 1)
    """
    a = _arr(a)
    shape = list(_shape(a))
    axes = _canonical_axes(axis, len(shape) + (1 if _np.ndim(axis) == 0 else len(axis)),
                          "expand_dims")
    for ax in axes:
        shape.insert(ax, 1)
    return _sh.reshape(a, tuple(shape))


def _atleast(arys, n):
    out = []
    for a in arys:
        a = _arr(a)
        shape = _shape(a)
        if len(shape) < n:
            # NumPy's placements: (N,) -> (1, N) -> (1, N, 1); () -> (1,) * n
            new = {0: (1,) * n, 1: (1, *shape, 1)[:n] if n > 1 else shape,
                   2: (*shape, 1)}[len(shape)]
            a = reshape(a, new)
        out.append(a)
    return out[0] if len(out) == 1 else tuple(out)


def atleast_1d(*arys):
    """Arrays with at least one axis.

    >>> atleast_1d(1.0).shape
    (1,)
    """
    return _atleast(arys, 1)


def atleast_2d(*arys):
    """Arrays with at least two axes ((N,) becomes (1, N)).

    >>> atleast_2d(_np.ones(3)).shape
    (1, 3)
    """
    return _atleast(arys, 2)


def atleast_3d(*arys):
    """Arrays with at least three axes ((N,) -> (1, N, 1), (M, N) -> (M, N, 1)).

    >>> atleast_3d(_np.ones(3)).shape
    (1, 3, 1)
    """
    return _atleast(arys, 3)


def broadcast_to(array, shape, subok=False):
    """np.broadcast_to, traced (its derivative sums back).

    >>> broadcast_to(_np.ones(3), (2, 3)).shape
    (2, 3)
    """
    shape = (shape,) if isinstance(shape, (int, _np.integer)) else tuple(shape)
    return _sh.broadcast_to(_arr(array), shape)


def broadcast_arrays(*args, subok=False):
    """np.broadcast_arrays, traced.

    >>> [a.shape for a in broadcast_arrays(_np.ones((2, 1)), _np.ones(3))]
    [(2, 3), (2, 3)]
    """
    args = [_arr(a) for a in args]
    shape = _np.broadcast_shapes(*(_shape(a) for a in args))
    return tuple(broadcast_to(a, shape) for a in args)


def _cast_all(arrays, dtype):
    return [a if dtype is None else astype(a, dtype) for a in arrays]


def concatenate(arrays, /, axis=0, out=None, *, dtype=None, casting="same_kind"):
    """np.concatenate, traced.

    >>> concatenate([_np.ones(2), _np.zeros(1)])
    array([1., 1., 0.])
    """
    _no_out(out, "concatenate")
    arrays = _cast_all([_arr(a) for a in arrays], dtype)
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    nd = _ndim(arrays[0]) if arrays else 1
    if nd == 0:
        raise ValueError("concatenate: zero-dimensional arrays cannot be concatenated")
    return _sh.concatenate(arrays, _canonical_axis(axis, nd, "concatenate"))


def stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    """np.stack, traced.

    >>> stack([_np.ones(2), _np.zeros(2)], axis=1).shape
    (2, 2)
    """
    _no_out(out, "stack")
    arrays = _cast_all([_arr(a) for a in arrays], dtype)
    if not arrays:
        raise ValueError("stack: need at least one array to stack")
    shapes = {_shape(a) for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"stack: all input arrays must have the same shape, got {sorted(shapes)}")
    ax = _canonical_axis(axis, _ndim(arrays[0]) + 1, "stack")
    return _sh.concatenate([expand_dims(a, ax) for a in arrays], ax)


def vstack(tup, *, dtype=None, casting="same_kind"):
    """Stack along the first axis (1-D arrays become rows).

    >>> vstack([_np.ones(2), _np.zeros(2)]).shape
    (2, 2)
    """
    return concatenate([atleast_2d(a) for a in tup], axis=0, dtype=dtype)


row_stack = vstack


def hstack(tup, *, dtype=None, casting="same_kind"):
    """Stack along the second axis (the first for 1-D arrays).

    >>> hstack([_np.ones(2), _np.zeros(1)]).shape
    (3,)
    """
    arrays = [atleast_1d(a) for a in tup]
    return concatenate(arrays, axis=0 if _ndim(arrays[0]) == 1 else 1, dtype=dtype)


def dstack(tup):
    """Stack along the third axis.

    >>> dstack([_np.ones(2), _np.zeros(2)]).shape
    (1, 2, 2)
    """
    return concatenate([atleast_3d(a) for a in tup], axis=2)


def column_stack(tup):
    """1-D arrays become columns, then stack along the second axis.

    >>> column_stack([_np.ones(3), _np.zeros(3)]).shape
    (3, 2)
    """
    arrays = [_arr(a) for a in tup]
    return concatenate([reshape(a, (-1, 1)) if _ndim(a) < 2 else a for a in arrays], axis=1)


def append(arr, values, axis=None):
    """np.append: concatenate (flattened when axis is None).

    >>> append(_np.ones(2), 0.0)
    array([1., 1., 0.])
    """
    arr, values = _arr(arr), _arr(values)
    if axis is None:
        return concatenate([ravel(arr), ravel(values)])
    return concatenate([arr, values], axis=axis)


def split(ary, indices_or_sections, axis=0):
    """np.split, traced: a list of slices.

    >>> [p.shape for p in split(_np.ones(4), 2)]
    [(2,), (2,)]
    """
    ary = _arr(ary)
    shape = _shape(ary)
    ax = _canonical_axis(axis, len(shape))
    n = shape[ax]
    if isinstance(indices_or_sections, (int, _np.integer)):
        k = int(indices_or_sections)
        if k <= 0 or n % k:
            raise ValueError(f"split: array of size {n} on axis {ax} does not divide into {k} "
                             f"equal sections")
        bounds = [i * (n // k) for i in range(k + 1)]
    else:
        bounds = [0] + [int(i) for i in indices_or_sections] + [n]
    # NumPy's slicing rules: negative bounds count from the end, all are clipped to [0, n].
    bounds = [builtins.min(builtins.max(b + n if b < 0 else b, 0), n) for b in bounds]
    return [_ix.slice_axis(ary, ax, bounds[i], builtins.max(bounds[i], bounds[i + 1]))
            for i in range(len(bounds) - 1)]


def array_split(ary, indices_or_sections, axis=0):
    """np.array_split: like split, sections may differ in size by one.

    >>> [p.shape for p in array_split(_np.ones(5), 2)]
    [(3,), (2,)]
    """
    if isinstance(indices_or_sections, (int, _np.integer)):
        n = _shape(ary)[axis]
        k = int(indices_or_sections)
        sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
        indices_or_sections = [int(i) for i in _np.cumsum(sizes)[:-1]]
    return split(ary, indices_or_sections, axis)


def flip(m, axis=None):
    """Reverse the order of elements along `axis` (all axes when None).

    >>> flip(_np.array([1.0, 2.0]))
    array([2., 1.])
    """
    m = _arr(m)
    return _sh.rev(m, _canonical_axes(axis, _ndim(m), "flip"))


def fliplr(m):
    """Reverse the second axis.

    >>> fliplr(_np.eye(2))
    array([[0., 1.],
           [1., 0.]])
    """
    return flip(m, 1)


def flipud(m):
    """Reverse the first axis.

    >>> flipud(_np.array([1.0, 2.0]))
    array([2., 1.])
    """
    return flip(m, 0)


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


def tile(A, reps):
    """np.tile, traced (a broadcast and a reshape).

    >>> tile(_np.array([1.0, 2.0]), 2)
    array([1., 2., 1., 2.])
    """
    A = _arr(A)
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    shape = _shape(A)
    nd = builtins.max(len(shape), len(reps))
    shape = (1,) * (nd - len(shape)) + tuple(shape)
    reps = (1,) * (nd - len(reps)) + reps
    A = reshape(A, [d for s in shape for d in (1, s)])
    A = broadcast_to(A, [d for r, s in zip(reps, shape) for d in (r, s)])
    return reshape(A, [r * s for r, s in zip(reps, shape)])


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


# ---------------------------------------------------------------- products

def matmul(x1, x2):
    """x1 @ x2 with NumPy semantics (1-D promotion, broadcast batch axes), one dot_general.

    >>> matmul(_np.ones((2, 3)), _np.ones(3))
    array([3., 3.])
    """
    a, b = _arr(x1), _arr(x2)
    sa, sb = _shape(a), _shape(b)
    if not sa or not sb:
        raise ValueError(f"matmul: operands must not be 0-d (shapes {sa} and {sb}); use * "
                         f"to multiply by a scalar{_where()}")
    if len(sb) <= 2 and len(sa) >= len(sb):  # no batch axes on b: contract directly
        return _dot(a, b, (len(sa) - 1,), (0,), sa, sb, "matmul")
    if len(sa) == 1:
        return _batched(a, b, sa, sb, (), sb[:-2], "matmul", vec_lhs=True)
    return _batched(a, b, sa, sb, sa[:-2], sb[:-2], "matmul")


def _dot(a, b, lc, rc, sa, sb, name):
    if type(lc) is tuple and len(lc) == 1 and type(lc[0]) is int and type(rc[0]) is int \
            and sa[lc[0]] == sb[rc[0]]:            # the common case: one aligned axis
        return _la.dot_general_p.bind(a, b, contract=(lc, rc), batch=((), ()))
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
    k_b = sb[-2]
    if sa[-1] != k_b:
        raise ValueError(f"{name}: shapes {sa} and {sb} are not aligned: {sa[-1]} (last axis "
                         f"of the first) != {k_b} (second-to-last axis of the second)"
                         f"{_where()}")
    try:
        batch = _np.broadcast_shapes(ba, bb)
    except ValueError:
        raise ValueError(f"{name}: batch shapes {ba} and {bb} of {sa} and {sb} cannot be "
                         f"broadcast{_where()}") from None
    nb = len(batch)
    if vec_lhs:
        return _la.dot_general(broadcast_to(b, batch + tuple(sb[-2:])), a, ((nb,), (0,)))
    a = broadcast_to(a, batch + tuple(sa[-2:]))
    b = broadcast_to(b, batch + tuple(sb[-2:]))
    r = tuple(range(nb))
    return _la.dot_general(a, b, ((nb + 1,), (nb,)), (r, r))


def dot(a, b, out=None):
    """np.dot, traced.

    >>> dot(_np.ones((2, 3)), _np.ones((3, 4))).shape
    (2, 4)
    """
    _no_out(out, "dot")
    a, b = _arr(a), _arr(b)
    sa, sb = _shape(a), _shape(b)
    if not sa or not sb:
        return multiply(a, b)
    if len(sb) == 1:
        return _dot(a, b, (len(sa) - 1,), (0,), sa, sb, "dot")
    return _dot(a, b, (len(sa) - 1,), (len(sb) - 2,), sa, sb, "dot")


def vdot(a, b):
    """The dot product of the flattened inputs.

    >>> float(vdot(_np.ones((2, 2)), _np.ones((2, 2))))
    4.0
    """
    return dot(ravel(conjugate(a)), ravel(b))     # the first argument conjugated, as NumPy


def vecdot(x1, x2, axis=-1):
    """The dot product over `axis`, broadcasting the rest (np.vecdot: x1 conjugated).

    >>> vecdot(_np.ones((2, 3)), _np.ones(3))
    array([3., 3.])
    """
    return sum(multiply(conjugate(x1), x2), axis=axis)


def inner(a, b):
    """np.inner: contract the last axes.

    >>> float(inner(_np.ones(3), _np.ones(3)))
    3.0
    """
    a, b = _arr(a), _arr(b)
    sa, sb = _shape(a), _shape(b)
    if not sa or not sb:
        return multiply(a, b)
    return _dot(a, b, (len(sa) - 1,), (len(sb) - 1,), sa, sb, "inner")


def outer(a, b, out=None):
    """np.outer, traced (inputs are flattened).

    >>> outer(_np.ones(2), _np.ones(3)).shape
    (2, 3)
    """
    _no_out(out, "outer")
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))


def kron(a, b):
    """np.kron, traced (a broadcast product and a reshape).

    >>> kron(_np.eye(2), _np.ones((1, 2))).shape
    (2, 4)
    """
    a, b = _arr(a), _arr(b)
    nd = builtins.max(_ndim(a), _ndim(b))
    sa = (1,) * (nd - _ndim(a)) + _shape(a)
    sb = (1,) * (nd - _ndim(b)) + _shape(b)
    prod_ = reshape(a, [d for s in sa for d in (s, 1)]) * reshape(b, [d for s in sb
                                                                     for d in (1, s)])
    return reshape(prod_, [x * y for x, y in zip(sa, sb)])


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """np.cross for 3-vectors, traced.

    >>> cross(_np.array([1.0, 0, 0]), _np.array([0.0, 1, 0]))
    array([0., 0., 1.])
    """
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = moveaxis(_arr(a), axisa, -1), moveaxis(_arr(b), axisb, -1)
    if _shape(a)[-1] != 3 or _shape(b)[-1] != 3:
        raise NotImplementedError("cross: funcgrad supports 3-vectors only")
    a0, a1, a2 = (a[..., i] for i in range(3))
    b0, b1, b2 = (b[..., i] for i in range(3))
    c = stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
    return moveaxis(c, -1, axisc)


def tensordot(a, b, axes=2):
    """np.tensordot, traced.

    >>> tensordot(_np.ones((2, 3, 4)), _np.ones((3, 4, 5))).shape
    (2, 5)
    """
    a, b = _arr(a), _arr(b)
    sa, sb = _shape(a), _shape(b)
    if isinstance(axes, (int, _np.integer)):
        n = int(axes)
        lc, rc = tuple(range(len(sa) - n, len(sa))), tuple(range(n))
    else:
        la, lb = axes
        la = (la,) if isinstance(la, int) else tuple(la)
        lb = (lb,) if isinstance(lb, int) else tuple(lb)
        lc = tuple(_canonical_axis(i, len(sa)) for i in la)
        rc = tuple(_canonical_axis(i, len(sb)) for i in lb)
    return _dot(a, b, lc, rc, sa, sb, "tensordot")


def einsum(*operands, out=None, optimize=None, dtype=None):
    """np.einsum: any number of operands, '...', repeated indices (diagonals) and the
    interleaved (operand, sublist) form, as dot_generals, sums and gathers (traced).

    >>> einsum("ij,jk->ik", _np.ones((2, 3)), _np.ones((3, 4))).shape
    (2, 4)
    """
    from ._einsum import einsum as _einsum
    _no_out(out, "einsum")
    return _einsum(*operands, dtype=dtype)


# ---------------------------------------------------------------- predicates, queries

def _concrete(x, op):
    if isinstance(x, Tracer):
        return x.concrete(op)
    return x


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    """np.allclose on concrete values (a traced value raises ConcretizationError under jit).

    >>> allclose(_np.ones(2), 1.0)
    True
    """
    return bool(_np.allclose(_concrete(a, "allclose"), _concrete(b, "allclose"), rtol, atol,
                             equal_nan))


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """np.isclose, traced: |a - b| <= atol + rtol |b| (infinities equal themselves).

    >>> isclose(_np.array([1.0, 2.0]), 1.0)
    array([ True, False])
    """
    a, b = _arr(a), _arr(b)
    close = logical_or(equal(a, b), less_equal(abs(a - b), atol + rtol * abs(b)))
    return logical_or(close, logical_and(isnan(a), isnan(b))) if equal_nan else close


def array_equal(a1, a2, equal_nan=False) -> bool:
    """np.array_equal on concrete values.

    >>> array_equal(_np.ones(2), [1.0, 1.0])
    True
    """
    return bool(_np.array_equal(_concrete(a1, "array_equal"), _concrete(a2, "array_equal"),
                                equal_nan))


def nonzero(a):
    """np.nonzero: needs concrete values (the output's shape depends on them).

    >>> nonzero(_np.array([0.0, 3.0]))
    (array([1]),)
    """
    return _np.nonzero(_concrete(a, "nonzero() (its output shape depends on values)"))


def flatnonzero(a):
    """Indices of the non-zero entries of the flattened array (concrete values).

    >>> flatnonzero(_np.array([0.0, 3.0]))
    array([1])
    """
    return _np.flatnonzero(_concrete(a, "flatnonzero() (its output shape depends on values)"))


def argwhere(a):
    """Indices of the non-zero entries, one row each (concrete values).

    >>> argwhere(_np.array([0.0, 3.0]))
    array([[1]])
    """
    return _np.argwhere(_concrete(a, "argwhere() (its output shape depends on values)"))


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


def shape(a):
    """The shape of an array or traced value.

    >>> shape(_np.ones((2, 3)))
    (2, 3)
    """
    return _shape(a)


def ndim(a):
    """The number of axes.

    >>> ndim(_np.ones((2, 3)))
    2
    """
    return _ndim(a)


def size(a, axis=None):
    """The number of elements (along `axis` if given).

    >>> size(_np.ones((2, 3)))
    6
    """
    s = _shape(a)
    return _size(s) if axis is None else s[axis]


def iscomplexobj(x) -> bool:
    """Whether the dtype is complex.

    >>> iscomplexobj(_np.ones(2))
    False
    """
    return _dtype(x).kind == "c"


def isrealobj(x) -> bool:
    """Whether the dtype is not complex.

    >>> isrealobj(_np.ones(2))
    True
    """
    return not iscomplexobj(x)


# ---------------------------------------------------------------- the user's line in errors

_HAS_LINE = re.compile(r" at \S+:\d+")


def _add_user_line(err: BaseException) -> BaseException:
    """Append ' at file:line (in fn)' of the user's code to an error's message, in place (the
    type and traceback stay), unless the message already names a line."""
    msg = str(err)
    if err.args and isinstance(err.args[0], str) and not _HAS_LINE.search(msg):
        err.args = (f"{err.args[0]}{_where()}",) + err.args[1:]
    return err


def _reports_line(f):
    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except (ValueError, TypeError, IndexError, NotImplementedError) as err:
            _add_user_line(err)
            raise
    return wrapped


def _reports_user_line(namespace: dict) -> None:
    """Wrap the public functions defined in a module so their errors name the user's line."""
    done: dict = {}
    for name, f in list(namespace.items()):
        if (not name.startswith("_") and inspect.isfunction(f)
                and f.__module__ == namespace["__name__"]
                and not getattr(f, "_reports_line", False)):
            namespace[name] = done.setdefault(id(f), _reports_line(f))


_reports_user_line(globals())

from . import _dispatch, linalg  # noqa: E402,F401  (installs operators and NumPy protocols)
