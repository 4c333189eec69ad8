"""exp, log, tanh, sin, cos, log1p, expm1 and logaddexp that LLVM can vectorise, for
compiled-tier kernels (needs numba).

numba calls libm once per element for `np.exp` and friends: pip's llvmlite has no vector math
library (SVML), so a loop calling them is scalar, 3-5x slower than NumPy's SIMD ufuncs. These
versions are branch-free float arithmetic, integer operations on the float's bits and
selects, which LLVM turns into SIMD code inside a kernel's loops.

Accuracy, float64: at most 1 ulp from NumPy's results for `fast_exp`, 2 ulps for the others
(for `fast_logaddexp`, 2 ulps of the larger argument), over the whole range (subnormals,
infinities and NaN included; checked by tests/test_compiled.py on dense grids). float32
arguments are computed in float64 and rounded, which is within an ulp of NumPy's float32
functions.

The polynomials are interpolants at Chebyshev nodes, computed once in 50-digit arithmetic
(mpmath) and rounded to float64:
- exp: the Taylor series of exp(r) to r^13 on |r| <= ln2/2 (its remainder is < 1e-17);
- tanh: tanh(x) = x + x u q(u), u = x^2, q of degree 11 on x in [0, 0.625) (0.07 ulp); beyond,
  1 - 2 / (exp(2|x|) + 1);
- log: log(m) = 2 atanh(s) = 2s + 2s z R(z), s = (m - 1)/(m + 1), z = s^2, R of degree 7 on
  m in [sqrt(1/2), sqrt(2)) (0.005 ulp); log(x) = e ln2 + log(m) for x = m 2^e;
- sin, cos: r = x - n pi/2 (pi/2 in three parts), then sin r = r + r^3 S(r^2) and
  cos r = 1 - r^2/2 + r^4 C(r^2), S and C of degree 5 on |r| <= pi/4 (0.2 and 0.01 ulp),
  chosen and signed by n mod 4. The reduction is exact for |x| <= TRIG_LIMIT only: a kernel
  checks the arguments, and a call that met a larger one is redone by NumPy code;
- log1p, expm1 and logaddexp are built on these (their docstrings say how).
"""
from __future__ import annotations

import numpy as np
from numba import njit

_LOG2E = 1.4426950408889634
_LN2 = 0.6931471805599453
_LN2_HI = 6.93147180369123816490e-01      # ln 2 to 32 bits: n * _LN2_HI is exact for |n| < 2**11
_LN2_LO = 1.90821492927058770002e-10
_ROUND = 6755399441055744.0               # 1.5 * 2**52: adding it rounds to an integer
_TWO52 = 4503599627370496.0
_TWO52_BITS = 0x4330000000000000           # the bits of 2**52
_TWO54 = 18014398509481984.0
_SQRT2 = 1.4142135623730951
_TINY = 2.2250738585072014e-308            # the smallest normal float64
_MANTISSA = 0x000FFFFFFFFFFFFF
_ONE_BITS = 0x3FF0000000000000
_TANH_SMALL = 0.625

_Q = (-0.3333333333333333, 0.13333333333333042, -0.05396825396789699, 0.021869488519008305,
      -0.008863235103240878, 0.0035921217511549622, -0.0014557754120478055,
      0.0005896606577757043, -0.0002375906496055562, 9.257116129556769e-05,
      -3.12011014257974e-05, 6.485163482793113e-06)
_R = (0.3333333333333333, 0.2000000000000044, 0.14285714285401807, 0.11111111195856958,
      0.09090897820066453, 0.07693119851407329, 0.06634386569328443, 0.06543313073920051)
_S = (-0.16666666666666666, 0.008333333333330948, -0.00019841269836758574,
      2.755731610255244e-06, -2.5051131845003624e-08, 1.5918129294866608e-10)
_C = (0.041666666666666664, -0.0013888888888887398, 2.480158729876569e-05,
      -2.7557317271729793e-07, 2.08761462684032e-09, -1.1382632425521717e-11)
# exp(r)'s Taylor coefficients 1/k!, k = 0..13
_E = tuple(1.0 / float(np.prod(np.arange(1, k + 1), dtype=np.float64)) for k in range(14))
# pi/2 in three parts, the first two of 33 bits: n * part is exact for n < 2**20
_PIO2_1, _PIO2_2, _PIO2_3 = 1.5707963267341256, 6.077100506303966e-11, 2.0222662487959506e-21
_2_OVER_PI = 0.6366197723675814
TRIG_LIMIT = 65536.0     # fast_sin/fast_cos are exact for |x| <= this; beyond, use libm's

# LLVM inlines these into the kernel (forceinline): it vectorises a loop only if no call is left
_jit = njit(forceinline=True, error_model="numpy", cache=True)


@njit(error_model="numpy", cache=True)
def _bits(x):
    """The bits of a float64 as an int64 (numba takes `.view` only of an explicit cast)."""
    return np.float64(x).view(np.int64)


@njit(error_model="numpy", cache=True)
def _float(bits):
    """The float64 with these bits."""
    return np.int64(bits).view(np.float64)


@_jit
def _poly(z, coeffs):
    """coeffs[0] + coeffs[1] z + ... (Horner; the tuple is a constant, so LLVM unrolls it)."""
    n = len(coeffs)
    p = coeffs[n - 1]
    for i in range(n - 2, -1, -1):
        p = p * z + coeffs[i]
    return p


@_jit
def _pow2(k):
    """2.0 ** k for an integral float k in [-1022, 1023], built from its bits."""
    return _float((_bits(np.float64(k + (1023.0 + _TWO52))) - _TWO52_BITS) << 52)


@_jit
def _exp_finite(x):
    """exp(x) for x that is not NaN (overflow to inf and underflow to 0 included)."""
    x = x if x < 710.0 else 710.0
    x = x if x > -746.0 else -746.0
    n = (x * _LOG2E + _ROUND) - _ROUND                      # round(x / ln 2)
    r = (x - n * _LN2_HI) - n * _LN2_LO                     # |r| <= ln2 / 2
    p = _poly(r, _E)
    # 2^n in two halves, so results near overflow and subnormal ones scale correctly
    half = np.floor(n * 0.5)
    return p * _pow2(half) * _pow2(n - half)


@_jit
def fast_exp(x):
    """exp(x) (within 1 ulp of NumPy's)."""
    return _exp_finite(x) if x == x else x + 0.0


@_jit
def fast_tanh(x):
    """tanh(x) (within 2 ulps of NumPy's)."""
    x = np.float64(x)
    u = x * x
    q = _poly(u, _Q)
    small = x + x * (u * q) if x != 0.0 else x              # keeps the sign of -0.0
    a = abs(x)
    big = 1.0 - 2.0 / (_exp_finite(2.0 * a) + 1.0)
    big = big if x >= 0.0 else -big
    return small if a < _TANH_SMALL else (big if x == x else x)


@_jit
def fast_log(x):
    """log(x) (within 2 ulps of NumPy's)."""
    x = np.float64(x)
    sub = x < _TINY
    xs = x * _TWO54 if sub else x                           # subnormals made normal
    bits = _bits(xs)
    e = np.float64((bits >> 52) - (1023 + 54 if sub else 1023))
    m = _float((bits & _MANTISSA) | _ONE_BITS)   # xs = m 2^e, m in [1, 2)
    big = m > _SQRT2
    m = m * 0.5 if big else m
    e = e + 1.0 if big else e
    s = (m - 1.0) / (m + 1.0)                               # |s| <= 0.1716
    z = s * s
    p = _poly(z, _R)
    two_s = s + s
    result = e * _LN2_HI + (two_s + (two_s * (z * p) + e * _LN2_LO))
    result = result if x < np.inf else x                     # inf
    result = result if x > 0.0 else (-np.inf if x == 0.0 else np.nan)
    return result if x == x else x


@_jit
def _sincos_reduced(x):
    """(n mod 4, sin r, cos r) for x = n pi/2 + r, |r| <= pi/4 (|x| <= TRIG_LIMIT)."""
    x = np.float64(x)
    t = x * _2_OVER_PI + _ROUND
    quadrant = _bits(t) & 3                                 # n mod 4, from n's low bits
    n = t - _ROUND
    r = ((x - n * _PIO2_1) - n * _PIO2_2) - n * _PIO2_3
    z = r * r
    ps = _poly(z, _S)
    pc = _poly(z, _C)
    sin_r = r + r * (z * ps) if r != 0.0 else r             # keeps the sign of -0.0
    cos_r = (1.0 - 0.5 * z) + (z * z) * pc
    return quadrant, sin_r, cos_r


@_jit
def fast_sin(x):
    """sin(x) for |x| <= TRIG_LIMIT (within 2 ulps of NumPy's, or 1e-16 near its zeros)."""
    q, s, c = _sincos_reduced(x)
    v = s if q & 1 == 0 else c
    return v if q & 2 == 0 else -v


@_jit
def fast_cos(x):
    """cos(x) for |x| <= TRIG_LIMIT (within 2 ulps of NumPy's, or 1e-16 near its zeros)."""
    q, s, c = _sincos_reduced(x)
    v = c if q & 1 == 0 else s
    return v if (q + 1) & 2 == 0 else -v


@_jit
def fast_log1p(x):
    """log(1 + x) (within 2 ulps of NumPy's): the log of u = 1 + x rounded, plus the rounding
    error of u relative to u, log(1 + x) = log(u) + (x - (u - 1)) / u to first order."""
    x = np.float64(x)
    u = 1.0 + x
    result = fast_log(u) + (x - (u - 1.0)) / u
    result = result if u != 0.0 else -np.inf                # x = -1
    result = result if x < np.inf else x                     # inf
    return result if x != 0.0 else x                         # keeps the sign of -0.0


@_jit
def fast_expm1(x):
    """exp(x) - 1 (within 2 ulps of NumPy's): expm1(r) = r + r^2 P(r) on |r| <= ln2/2 for
    x = n ln2 + r, then 2^n expm1(r) + (2^n - 1), which is exact in its parts for |n| <= 53."""
    x = np.float64(x)
    xc = x if x > -60.0 else -60.0                          # below, the result is -1
    xc = xc if xc < 60.0 else 60.0                          # above, exp(x) is the result
    n = (xc * _LOG2E + _ROUND) - _ROUND
    r = (xc - n * _LN2_HI) - n * _LN2_LO
    em1 = r + r * (r * _poly(r, _E[2:]))
    t = _pow2(n)
    result = t * em1 + (t - 1.0) if n != 0.0 else em1
    result = result if x < 60.0 else _exp_finite(x if x < 710.0 else 710.0)
    result = result if x != 0.0 else x                       # keeps the sign of -0.0
    return result if x == x else x


@_jit
def fast_logaddexp(a, b):
    """log(exp(a) + exp(b)) (within 2 ulps of NumPy's), as NumPy computes it: the larger
    plus log1p(exp(-|a - b|)); a + ln2 where a == b (equal infinities included)."""
    a, b = np.float64(a), np.float64(b)
    d = a - b
    larger = a if d > 0.0 else b
    gap = -abs(d) if d == d else 0.0
    result = larger + fast_log1p(_exp_finite(gap))
    result = result if d == d else d                         # a NaN, or opposite infinities
    return result if a != b else a + _LN2
