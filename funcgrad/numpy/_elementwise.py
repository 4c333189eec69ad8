"""Elementwise functions that bind one primitive (the ufuncs: exp, sin, add, less, ...), and
those close to them: power, square, reciprocal, where, select, clip, astype, real, imag,
conjugate, stop_gradient, the bitwise functions (logical on booleans, on the bits of integers),
the bits of floats (copysign, signbit, nextafter, spacing, ldexp, frexp), gcd and lcm, and NumPy
2's aliases (acos, atan2, pow, bitwise_invert, ...)."""
from __future__ import annotations

import builtins

import numpy as _np

from ..core import trace as _trace_state
from ..core.trace import Tracer
from ..core.types import is_float as _is_float
from ..prims import elementwise as _ew
from ..prims.special import stop_gradient_p as _stop_gradient_p
from ._creation import _arr, asarray, bool_, float64, result_type, zeros_like
from ._queries import nonzero
from ._util import _ERRORS, _add_user_line, _dtype, _no_out, _reports_user_line

# ---------------------------------------------------------------- one primitive each

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
cbrt = _unary(_ew.cbrt_p, "cbrt")
log2, log10, exp2 = (_unary(p, n) for p, n in [(_ew.log2_p, "log2"), (_ew.log10_p, "log10"),
                                               (_ew.exp2_p, "exp2")])
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
hypot = _binary(_ew.hypot_p, "hypot")
hypot.__doc__ = """sqrt(x1**2 + x2**2) without overflow (np.hypot), traced; its derivative x / out
is 0 at the origin (a subgradient, as norms have) instead of 0/0.

    >>> float(hypot(3.0, 4.0)), float(hypot(3e300, 4e300)) > 4e300
    (5.0, True)
"""
less, less_equal = _binary(_ew.lt_p, "less"), _binary(_ew.le_p, "less_equal")
greater, greater_equal = _binary(_ew.gt_p, "greater"), _binary(_ew.ge_p, "greater_equal")
equal, not_equal = _binary(_ew.eq_p, "equal"), _binary(_ew.ne_p, "not_equal")
logical_and, logical_or = _binary(_ew.and_p, "logical_and"), _binary(_ew.or_p, "logical_or")
logical_xor = _binary(_ew.xor_p, "logical_xor")
fmod, copysign = _binary(_ew.fmod_p, "fmod"), _binary(_ew.copysign_p, "copysign")
nextafter = _binary(_ew.nextafter_p, "nextafter")
signbit, spacing = _unary(_ew.signbit_p, "signbit"), _unary(_ew.spacing_p, "spacing")
acos, acosh, asin, asinh, atan, atanh = arccos, arccosh, arcsin, arcsinh, arctan, arctanh
atan2 = arctan2


def _integer(prim, name, example, result):
    """A traced ufunc of integers (no derivative), with its own doctest example."""
    f = _binary(prim, name) if prim.impl is not None and prim.impl.nin == 2 else \
        _unary(prim, name)
    f.__doc__ = (f"Elementwise np.{name}, traced (integers: no derivative).\n\n"
                 f"    >>> {example}\n    {result}\n")
    return f


gcd = _integer(_ew.gcd_p, "gcd", "gcd(_np.array([12, 18]), 8)", "array([4, 2])")
lcm = _integer(_ew.lcm_p, "lcm", "lcm(_np.array([4, 6]), 10)", "array([20, 30])")
left_shift = _integer(_ew.left_shift_p, "left_shift", "left_shift(_np.array([1, 3]), 2)",
                      "array([ 4, 12])")
right_shift = _integer(_ew.right_shift_p, "right_shift", "right_shift(_np.array([8, -8]), 2)",
                       "array([ 2, -2])")
bitwise_count = _integer(_ew.bitwise_count_p, "bitwise_count",
                         "bitwise_count(_np.array([7, 255], _np.uint8))",
                         "array([3, 8], dtype=uint8)")
bitwise_left_shift, bitwise_right_shift = left_shift, right_shift


def ldexp(x1, x2):
    """x1 * 2**x2 for integer x2, traced (linear in x1).

    >>> ldexp(_np.array([1.0, 3.0], _np.float32), 2)
    array([ 4., 12.], dtype=float32)
    """
    return _ew.ldexp_p.bind(_arr(x1), _arr(x2))


def frexp(x):
    """(mantissa, exponent) with x = mantissa * 2**exponent, 0.5 <= |mantissa| < 1, traced;
    the mantissa is differentiable (2**-exponent), the exponent (int32) is not.

    >>> frexp(_np.array([8.0, -3.0]))
    (array([ 0.5 , -0.75]), array([4, 2], dtype=int32))
    """
    x = _arr(x)
    e = _ew.frexp_exponent_p.bind(x)
    return ldexp(x, negative(e)), e


def isinf(x):
    """Elementwise np.isinf, traced.

    >>> isinf(_np.array([1.0, _np.inf]))
    array([False,  True])
    """
    x = _arr(x)
    return logical_and(logical_not(isfinite(x)), logical_not(isnan(x)))


# ---------------------------------------------------------------- bitwise

def _is_bool(x) -> bool:
    return type(x) is bool or getattr(x, "dtype", None) == bool_


def _bitwise(logical_p, bits_p, name):
    # On booleans the logical primitive (what masks meet in graphs), else the bitwise one
    # (integers; NumPy's dtype and weak-scalar rules come from the primitive's shape rule).
    state = _trace_state._state

    def f(x1, x2):
        if type(x1) in (list, tuple):
            x1 = asarray(x1)
        if type(x2) in (list, tuple):
            x2 = asarray(x2)
        try:
            return state.trace.process(logical_p if _is_bool(x1) and _is_bool(x2) else bits_p,
                                       (x1, x2), {})
        except _ERRORS as err:
            _add_user_line(err)
            raise
    f._reports_line = True
    f.__name__ = f.__qualname__ = name
    f.__doc__ = (f"np.{name}, traced: on the bits of integers (logical on booleans); no "
                 f"derivative.\n\n    >>> {name}(_np.array([12, 5]), 6)\n"
                 f"    {getattr(_np, name)(_np.array([12, 5]), 6)!r}\n")
    return f


bitwise_and = _bitwise(_ew.and_p, _ew.bitwise_and_p, "bitwise_and")
bitwise_or = _bitwise(_ew.or_p, _ew.bitwise_or_p, "bitwise_or")
bitwise_xor = _bitwise(_ew.xor_p, _ew.bitwise_xor_p, "bitwise_xor")


def invert(x):
    """np.invert (the ~ operator): bitwise not of integers, logical not of booleans; traced.

    >>> invert(_np.array([True, False])), invert(_np.array([0, 5], _np.int8))
    (array([False,  True]), array([-1, -6], dtype=int8))
    """
    x = _arr(x)
    return logical_not(x) if _is_bool(x) else _ew.invert_p.bind(x)


bitwise_not = bitwise_invert = invert


# ---------------------------------------------------------------- powers

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


pow = power


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


# ---------------------------------------------------------------- selection

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


# ---------------------------------------------------------------- dtypes and complex numbers

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


def _abs2(x):
    """|x|^2, real: x * x, or Re(x conj(x)) for complex x (no square root of a square)."""
    return real(x * conjugate(x)) if _dtype(x).kind == "c" else square(x)


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


def stop_gradient(x):
    """Identity on values, zero derivative.

    >>> stop_gradient(_np.array([1.0]))
    array([1.])
    """
    return _stop_gradient_p.bind(_arr(x))


__all__ = _reports_user_line(globals())
