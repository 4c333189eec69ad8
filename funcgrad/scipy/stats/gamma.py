"""The gamma distribution, as scipy.stats.gamma (jax.scipy.stats.gamma): shape a, density
y^(a-1) exp(-y) / (gamma(a) scale), y = (x - loc) / scale >= 0. The CDFs are differentiable in
x, loc and scale; in a they raise NotImplementedError."""
from __future__ import annotations

from ... import numpy as fnp
from .. import special
from ._common import inf, nan_unless, promote, reports_user_line, seen


def _standard(x, a, loc, scale):
    x, a, loc, scale = promote(x, a, loc, scale)
    return (x - loc) / scale, a, scale, (a > 0) & (scale > 0)


def logpdf(x, a, loc=0, scale=1):
    """(a - 1) log y - y - gammaln(a) - log(scale) for y >= 0, -inf below.

    >>> float(logpdf(1.0, 2.0))
    -1.0
    """
    y, a, scale, valid = _standard(x, a, loc, scale)
    inside = y >= 0
    y = seen(inside, y, 1.0)
    out = special.xlogy(a - 1.0, y) - y - special.gammaln(a) - fnp.log(scale)
    return nan_unless(valid, fnp.where(inside, out, -inf))


def pdf(x, a, loc=0, scale=1):
    """The gamma density.

    >>> float(pdf(1.0, 1.0))
    0.36787944117144233
    """
    return fnp.exp(logpdf(x, a, loc, scale))


def cdf(x, a, loc=0, scale=1):
    """gammainc(a, max(y, 0)).

    >>> float(cdf(1.0, 1.0))
    0.6321205588285577
    """
    y, a, scale, valid = _standard(x, a, loc, scale)
    return nan_unless(valid, special.gammainc(a, fnp.where(y > 0, y, 0.0)))


def logcdf(x, a, loc=0, scale=1):
    """log(cdf).

    >>> float(logcdf(1.0, 1.0))
    -0.45867514538708193
    """
    return fnp.log(cdf(x, a, loc, scale))


def sf(x, a, loc=0, scale=1):
    """gammaincc(a, max(y, 0)) (accurate where it is tiny).

    >>> float(sf(1.0, 1.0))
    0.36787944117144245
    """
    y, a, scale, valid = _standard(x, a, loc, scale)
    return nan_unless(valid, special.gammaincc(a, fnp.where(y > 0, y, 0.0)))


def logsf(x, a, loc=0, scale=1):
    """log(sf).

    >>> float(logsf(1.0, 1.0))
    -0.9999999999999997
    """
    return fnp.log(sf(x, a, loc, scale))


__all__ = reports_user_line(globals())
