"""The normal distribution N(loc, scale^2), as scipy.stats.norm (jax.scipy.stats.norm)."""
from __future__ import annotations

from ... import numpy as fnp
from .. import special
from ._common import LOG_2PI, nan_unless, promote, reports_user_line, standardize


def logpdf(x, loc=0, scale=1):
    """log of the normal density.

    >>> float(logpdf(0.0))
    -0.9189385332046727
    """
    y, scale = standardize(x, loc, scale)
    return nan_unless(scale > 0, -0.5 * (y * y) - fnp.log(scale) - 0.5 * LOG_2PI)


def pdf(x, loc=0, scale=1):
    """The normal density.

    >>> float(pdf(0.0))
    0.3989422804014327
    """
    return fnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    """P(X <= x) = ndtr((x - loc) / scale).

    >>> float(cdf(1.0))
    0.8413447460685429
    """
    y, scale = standardize(x, loc, scale)
    return nan_unless(scale > 0, special.ndtr(y))


def logcdf(x, loc=0, scale=1):
    """log P(X <= x), finite far in the left tail (log_ndtr).

    >>> float(logcdf(-40.0))
    -804.6084420137538
    """
    y, scale = standardize(x, loc, scale)
    return nan_unless(scale > 0, special.log_ndtr(y))


def sf(x, loc=0, scale=1):
    """P(X > x) = ndtr(-(x - loc) / scale), accurate in the right tail.

    >>> float(sf(10.0))
    7.619853024160583e-24
    """
    y, scale = standardize(x, loc, scale)
    return nan_unless(scale > 0, special.ndtr(-y))


def logsf(x, loc=0, scale=1):
    """log P(X > x), finite far in the right tail.

    >>> float(logsf(40.0))
    -804.6084420137538
    """
    y, scale = standardize(x, loc, scale)
    return nan_unless(scale > 0, special.log_ndtr(-y))


def ppf(q, loc=0, scale=1):
    """The quantile function loc + scale ndtri(q).

    >>> float(ppf(0.975))
    1.959963984540054
    """
    q, loc, scale = promote(q, loc, scale)
    return nan_unless(scale > 0, loc + scale * special.ndtri(q))


def isf(q, loc=0, scale=1):
    """The inverse survival function ppf(1 - q) = loc - scale ndtri(q) (exact for tiny q).

    >>> float(isf(0.025))
    1.9599639845400545
    """
    q, loc, scale = promote(q, loc, scale)
    return nan_unless(scale > 0, loc - scale * special.ndtri(q))


__all__ = reports_user_line(globals())
