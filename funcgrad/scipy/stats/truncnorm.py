"""The truncated normal distribution, as scipy.stats.truncnorm (jax.scipy.stats.truncnorm):
the normal N(loc, scale^2) restricted to [loc + a scale, loc + b scale] (a and b are in
standard units; either may be infinite).

The normalising mass Phi(b) - Phi(a) is computed in log space as SciPy's: from the left tail
when b <= 0, from the right tail when a > 0, as log1p(-Phi(a) - Phi(-b)) otherwise, so that
truncations far in a tail (a = 30) keep their digits. Differentiable in x, a, b, loc and scale.
"""
from __future__ import annotations

import math

from ... import numpy as fnp
from .. import special
from ._common import inf, log_diff_exp, nan_unless, promote, reports_user_line, seen


def _log_mass(a, b):
    """log(Phi(b) - Phi(a)) for a <= b, each of SciPy's three cases computed on its own
    arguments only (elsewhere at a harmless point)."""
    left, right = b <= 0, a > 0
    central = ~(left | right)
    la, lb = seen(left, a, -2.0), seen(left, b, -1.0)
    ra, rb = seen(right, a, 1.0), seen(right, b, 2.0)
    ca, cb = seen(central, a, -1.0), seen(central, b, 1.0)
    from_left = log_diff_exp(special.log_ndtr(lb), special.log_ndtr(la))
    from_right = log_diff_exp(special.log_ndtr(-ra), special.log_ndtr(-rb))
    middle = fnp.log1p(-special.ndtr(ca) - special.ndtr(-cb))
    return fnp.where(left, from_left, fnp.where(right, from_right, middle))


def _standard(x, a, b, loc, scale):
    x, a, b, loc, scale = promote(x, a, b, loc, scale)
    y = (x - loc) / scale
    inside = (y >= a) & (y <= b)
    # a point strictly inside [a, b] for the points outside (a, b may be infinite)
    fa, fb = fnp.isfinite(a), fnp.isfinite(b)
    a_f, b_f = seen(fa, a, 0.0), seen(fb, b, 0.0)
    fill = fnp.where(fa & fb, 0.5 * (a_f + b_f),
                     fnp.where(fa, a_f + 1.0, fnp.where(fb, b_f - 1.0, 0.0)))
    return y, seen(inside, y, fill), inside, a, b, scale, (a < b) & (scale > 0)


def logpdf(x, a, b, loc=0, scale=1):
    """The normal log-density less log(scale (Phi(b) - Phi(a))) on [a, b], -inf outside.

    >>> round(float(logpdf(0.0, -1.0, 1.0)), 12)
    -0.537223386903
    """
    y, ys, inside, a, b, scale, valid = _standard(x, a, b, loc, scale)
    out = (-0.5 * (ys * ys) - 0.5 * math.log(2.0 * math.pi) - _log_mass(a, b)
           - fnp.log(scale))
    return nan_unless(valid, fnp.where(inside, out, -inf))


def pdf(x, a, b, loc=0, scale=1):
    """The truncated normal density.

    >>> round(float(pdf(0.0, -1.0, 1.0)), 12)
    0.584368567257
    """
    return fnp.exp(logpdf(x, a, b, loc, scale))


def _log_cdf_sf(x, a, b, loc, scale):
    """(logcdf, logsf) at the points inside [a, b] (and harmless values outside): each from
    the log masses, or, where it is near 0 (above -0.1), as log1p(-exp(the other)), SciPy's
    way of keeping its digits there."""
    y, ys, inside, a, b, scale, valid = _standard(x, a, b, loc, scale)
    total = _log_mass(a, b)
    raw_cdf, raw_sf = _log_mass(a, ys) - total, _log_mass(ys, b) - total
    near_cdf, near_sf = raw_cdf > -0.1, raw_sf > -0.1
    log_cdf = fnp.where(near_cdf, fnp.log1p(-fnp.exp(seen(near_cdf, raw_sf, -1.0))), raw_cdf)
    log_sf = fnp.where(near_sf, fnp.log1p(-fnp.exp(seen(near_sf, raw_cdf, -1.0))), raw_sf)
    return y, ys, inside, a, valid, log_cdf, log_sf


def logcdf(x, a, b, loc=0, scale=1):
    """log((Phi(y) - Phi(a)) / (Phi(b) - Phi(a))): -inf below a, 0 above b.

    >>> round(float(logcdf(0.0, -1.0, 1.0)), 12)
    -0.69314718056
    """
    y, ys, inside, a, valid, out, _ = _log_cdf_sf(x, a, b, loc, scale)
    return nan_unless(valid, fnp.where(inside, out, fnp.where(y < a, -inf, fnp.zeros_like(ys))))


def cdf(x, a, b, loc=0, scale=1):
    """P(X <= x).

    >>> round(float(cdf(0.0, -1.0, 1.0)), 12)
    0.5
    """
    return fnp.exp(logcdf(x, a, b, loc, scale))


def logsf(x, a, b, loc=0, scale=1):
    """log((Phi(b) - Phi(y)) / (Phi(b) - Phi(a))): 0 below a, -inf above b.

    >>> round(float(logsf(0.0, -1.0, 1.0)), 12)
    -0.69314718056
    """
    y, ys, inside, a, valid, _, out = _log_cdf_sf(x, a, b, loc, scale)
    return nan_unless(valid, fnp.where(inside, out, fnp.where(y < a, fnp.zeros_like(ys), -inf)))


def sf(x, a, b, loc=0, scale=1):
    """P(X > x).

    >>> round(float(sf(0.0, -1.0, 1.0)), 12)
    0.5
    """
    return fnp.exp(logsf(x, a, b, loc, scale))


__all__ = reports_user_line(globals())
