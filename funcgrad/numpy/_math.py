"""Elementwise math composed of other functions: angle, degrees and radians, logaddexp2,
sinc, heaviside, trunc, round, fmax, fmin, nan_to_num, isclose, modf, divmod, i0, isposinf,
isneginf, real_if_close."""
from __future__ import annotations

import math

import numpy as _np

from ..core.types import is_float as _is_float
from ..prims import special_functions as _sf
from ._creation import _arr, ones_like, result_type
from ._elementwise import (
    abs,
    arctan2,
    astype,
    ceil,
    copysign,
    equal,
    floor,
    floor_divide,
    imag,
    isinf,
    isnan,
    less,
    less_equal,
    logaddexp,
    logical_and,
    logical_not,
    logical_or,
    maximum,
    minimum,
    real,
    remainder,
    rint,
    signbit,
    sin,
    where,
)
from ._util import _dtype, _no_out, _reports_user_line


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








def logaddexp2(x1, x2):
    """log2(2**x1 + 2**x2), stable.

    >>> float(logaddexp2(1.0, 1.0))
    2.0
    """
    ln2 = math.log(2.0)
    return logaddexp(_arr(x1) * ln2, _arr(x2) * ln2) / ln2


def sinc(x):
    """sin(pi x) / (pi x), 1 at 0. Near 0 (|pi x| < 0.1) it is its Taylor polynomial, so
    values and derivatives there (at 0 itself: the second is -pi^2/3) have no 0/0 and no
    cancellation; the polynomial's error is below 1e-21.

    >>> float(sinc(0.0)), float(sinc(0.5))
    (1.0, 0.6366197723675814)
    """
    x = _arr(x)
    px = _np.pi * x
    near = abs(px) < 0.1
    safe = where(near, 1.0, px)             # the untaken branch has no 0/0 in its derivative
    small = where(near, px, 0.0)
    s2 = small * small
    taylor = 1.0 + s2 * (-1 / 6 + s2 * (1 / 120 + s2 * (-1 / 5040 + s2 * (
        1 / 362880 + s2 * (-1 / 39916800)))))
    return where(near, taylor, sin(safe) / safe)


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


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """np.isclose, traced: |a - b| <= atol + rtol |b| (infinities equal themselves).

    >>> isclose(_np.array([1.0, 2.0]), 1.0)
    array([ True, False])
    """
    a, b = _arr(a), _arr(b)
    close = logical_or(equal(a, b), less_equal(abs(a - b), atol + rtol * abs(b)))
    return logical_or(close, logical_and(isnan(a), isnan(b))) if equal_nan else close


def modf(x):
    """(fractional part, integral part), both with x's sign, traced: the fractional part has
    derivative 1, the integral part none.

    >>> modf(_np.array([2.5, -0.75]))
    (array([ 0.5 , -0.75]), array([ 2., -0.]))
    """
    x = _arr(x)
    dt = _np.modf(_np.ones((), _dtype(x)))[0].dtype     # ints: float64, as NumPy
    x = astype(x, dt)
    whole, infinite = trunc(x), isinf(x)
    frac = x - where(infinite, 0.0, whole)      # no inf - inf
    return where(infinite, copysign(0.0, x), frac), whole


def divmod(x1, x2):
    """(x1 // x2, x1 % x2), traced (the remainder is differentiable, the quotient is not).

    >>> divmod(_np.array([7, -7]), 3)
    (array([ 2, -3]), array([1, 2]))
    """
    return floor_divide(x1, x2), remainder(x1, x2)


def i0(x):
    """The modified Bessel function of the first kind, order 0, traced (derivative i1; the
    primitive of funcgrad.scipy.special.i0, which needs SciPy).

    >>> i0(_np.array([0.0, 1.0]))
    array([1.        , 1.26606588])
    """
    x = _arr(x)
    if _dtype(x).kind == "c":
        raise TypeError("i0 is not supported for complex values")
    if not _is_float(_dtype(x)):
        x = astype(x, _np.float64)
    return _sf.i0(x)


def isposinf(x):
    """x == +inf, elementwise, traced.

    >>> isposinf(_np.array([_np.inf, -_np.inf, 1.0]))
    array([ True, False, False])
    """
    return _isinf_signed(x, positive=True)


def isneginf(x):
    """x == -inf, elementwise, traced.

    >>> isneginf(_np.array([_np.inf, -_np.inf, 1.0]))
    array([False,  True, False])
    """
    return _isinf_signed(x, positive=False)


def _isinf_signed(x, positive: bool):
    x = _arr(x)
    if _dtype(x).kind == "c":
        raise TypeError("This operation is not supported for complex values because it would "
                        "be ambiguous.")
    if not _is_float(_dtype(x)):
        return equal(x, _np.inf if positive else -_np.inf)
    sb = signbit(x)
    return logical_and(isinf(x), logical_not(sb) if positive else sb)


def real_if_close(a, tol=100):
    """The real part of complex `a` if every imaginary part is within `tol` machine epsilons of
    zero (`tol` < 1: an absolute tolerance), else `a` (decided on concrete values: under `jit`
    it raises ConcretizationError).

    >>> real_if_close(_np.array([1.0 + 1e-20j, 2.0]))
    array([1., 2.])
    """
    a = _arr(a)
    dt = _dtype(a)
    if dt.kind != "c":
        return a
    if tol > 1:
        tol = _np.finfo(dt).eps * tol
    close = abs(imag(a)) < tol
    if bool(_np.all(close.concrete("real_if_close") if hasattr(close, "concrete")
                    else close)):
        return real(a)
    return a


__all__ = _reports_user_line(globals())
