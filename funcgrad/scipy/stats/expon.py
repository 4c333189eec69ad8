"""The exponential distribution, as scipy.stats.expon (jax.scipy.stats.expon). NumPy only."""
from __future__ import annotations

from ... import numpy as fnp
from ._common import inf, log1mexp, nan_unless, promote, reports_user_line, seen, standardize


def logpdf(x, loc=0, scale=1):
    """-y - log(scale) for y = (x - loc) / scale >= 0, -inf below.

    >>> float(logpdf(1.0))
    -1.0
    """
    y, scale = standardize(x, loc, scale)
    return nan_unless(scale > 0, fnp.where(y >= 0, -y - fnp.log(scale), -inf))


def pdf(x, loc=0, scale=1):
    """The exponential density.

    >>> float(pdf(0.0))
    1.0
    """
    return fnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    """1 - exp(-y) for y >= 0 (as -expm1(-y): accurate near 0), 0 below.

    >>> float(cdf(1e-20))
    1e-20
    """
    y, scale = standardize(x, loc, scale)
    inside = y >= 0
    return nan_unless(scale > 0, fnp.where(inside, -fnp.expm1(-seen(inside, y, 0.0)), 0.0))


def logcdf(x, loc=0, scale=1):
    """log(1 - exp(-y)), accurate for small and large y; -inf for y <= 0.

    >>> float(logcdf(50.0))
    -1.9287498479639178e-22
    """
    y, scale = standardize(x, loc, scale)
    inside = y > 0
    out = log1mexp(-seen(inside, y, 1.0))
    return nan_unless(scale > 0, fnp.where(inside, out, -inf))


def sf(x, loc=0, scale=1):
    """exp(-y) for y >= 0, 1 below.

    >>> float(sf(1.0))
    0.36787944117144233
    """
    y, scale = standardize(x, loc, scale)
    inside = y >= 0
    return nan_unless(scale > 0, fnp.where(inside, fnp.exp(-seen(inside, y, 0.0)), 1.0))


def logsf(x, loc=0, scale=1):
    """-y for y >= 0, 0 below.

    >>> float(logsf(3.0))
    -3.0
    """
    y, scale = standardize(x, loc, scale)
    return nan_unless(scale > 0, fnp.where(y >= 0, -y, 0.0))


def ppf(q, loc=0, scale=1):
    """The quantile function loc - scale log1p(-q) on [0, 1] (NaN outside).

    >>> float(ppf(0.5))
    0.6931471805599453
    """
    q, loc, scale = promote(q, loc, scale)
    inside = (q >= 0) & (q <= 1)
    out = loc - scale * fnp.log1p(-seen(inside, q, 0.5))
    return nan_unless((scale > 0) & inside, out)


__all__ = reports_user_line(globals())
