"""The Cauchy distribution, as scipy.stats.cauchy (jax.scipy.stats.cauchy). NumPy only.

The CDF is arctan2(1, -y) / pi (= 1/2 + arctan(y) / pi), the survival function
arctan2(1, y) / pi: each is accurate in its small tail, where 1/2 + arctan(y) / pi cancels.
"""
from __future__ import annotations

import math

from ... import numpy as fnp
from ._common import inf, nan_unless, promote, reports_user_line, seen, standardize


def logpdf(x, loc=0, scale=1):
    """-log(pi scale) - log1p(y^2).

    >>> float(logpdf(0.0))
    -1.1447298858494002
    """
    y, scale = standardize(x, loc, scale)
    return nan_unless(scale > 0, -fnp.log1p(y * y) - fnp.log(scale) - math.log(math.pi))


def pdf(x, loc=0, scale=1):
    """The Cauchy density 1 / (pi scale (1 + y^2)).

    >>> float(pdf(0.0))
    0.3183098861837907
    """
    return fnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    """1/2 + arctan(y) / pi.

    >>> float(cdf(-1e10))
    3.183098861837907e-11
    """
    y, scale = standardize(x, loc, scale)
    return nan_unless(scale > 0, fnp.arctan2(1.0, -y) / math.pi)


def logcdf(x, loc=0, scale=1):
    """log(cdf).

    >>> float(logcdf(0.0))
    -0.6931471805599453
    """
    return fnp.log(cdf(x, loc, scale))


def sf(x, loc=0, scale=1):
    """1/2 - arctan(y) / pi.

    >>> float(sf(1e10))
    3.183098861837907e-11
    """
    y, scale = standardize(x, loc, scale)
    return nan_unless(scale > 0, fnp.arctan2(1.0, y) / math.pi)


def logsf(x, loc=0, scale=1):
    """log(sf).

    >>> float(logsf(0.0))
    -0.6931471805599453
    """
    return fnp.log(sf(x, loc, scale))


def _quantile(q, loc, scale, sign):
    q, loc, scale = promote(q, loc, scale)
    inside = (q > 0) & (q < 1)
    y = sign * fnp.tan(math.pi * (seen(inside, q, 0.5) - 0.5))
    edge = fnp.where(q == 0, -sign * inf, fnp.where(q == 1, sign * inf, q + math.nan))
    y = fnp.where(inside, y, edge)
    return nan_unless(scale > 0, loc + scale * y)


def ppf(q, loc=0, scale=1):
    """loc + scale tan(pi (q - 1/2)); -inf at 0, inf at 1.

    >>> float(ppf(0.75))
    0.9999999999999999
    """
    return _quantile(q, loc, scale, 1.0)


def isf(q, loc=0, scale=1):
    """ppf(1 - q) = loc + scale tan(pi (1/2 - q)).

    >>> float(isf(0.25))
    0.9999999999999999
    """
    return _quantile(q, loc, scale, -1.0)


__all__ = reports_user_line(globals())
