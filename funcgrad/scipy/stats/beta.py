"""The beta distribution on [loc, loc + scale], as scipy.stats.beta (jax.scipy.stats.beta).
The CDFs are differentiable in x, loc and scale; in a and b they raise NotImplementedError."""
from __future__ import annotations

from ... import numpy as fnp
from .. import special
from ._common import clip01, inf, nan_unless, promote, reports_user_line, seen


def _standard(x, a, b, loc, scale):
    x, a, b, loc, scale = promote(x, a, b, loc, scale)
    return (x - loc) / scale, a, b, scale, (a > 0) & (b > 0) & (scale > 0)


def logpdf(x, a, b, loc=0, scale=1):
    """(a - 1) log y + (b - 1) log(1 - y) - betaln(a, b) - log(scale) on 0 <= y <= 1.

    >>> float(logpdf(0.5, 2.0, 2.0))
    0.4054651081081644
    """
    y, a, b, scale, valid = _standard(x, a, b, loc, scale)
    inside = (y >= 0) & (y <= 1)
    y = seen(inside, y, 0.5)
    out = (special.xlogy(a - 1.0, y) + special.xlog1py(b - 1.0, -y) - special.betaln(a, b)
           - fnp.log(scale))
    return nan_unless(valid, fnp.where(inside, out, -inf))


def pdf(x, a, b, loc=0, scale=1):
    """The beta density.

    >>> float(pdf(0.5, 2.0, 2.0))
    1.5
    """
    return fnp.exp(logpdf(x, a, b, loc, scale))


def cdf(x, a, b, loc=0, scale=1):
    """betainc(a, b, y), y clipped to [0, 1].

    >>> float(cdf(0.5, 1.0, 2.0))
    0.75
    """
    y, a, b, scale, valid = _standard(x, a, b, loc, scale)
    return nan_unless(valid, special.betainc(a, b, clip01(y)))


def logcdf(x, a, b, loc=0, scale=1):
    """log(cdf).

    >>> float(logcdf(0.5, 1.0, 2.0))
    -0.2876820724517809
    """
    return fnp.log(cdf(x, a, b, loc, scale))


def sf(x, a, b, loc=0, scale=1):
    """1 - cdf, as betainc(b, a, 1 - y) (accurate where it is tiny).

    >>> float(sf(0.5, 1.0, 2.0))
    0.25
    """
    y, a, b, scale, valid = _standard(x, a, b, loc, scale)
    return nan_unless(valid, special.betainc(b, a, 1.0 - clip01(y)))


def logsf(x, a, b, loc=0, scale=1):
    """log(sf).

    >>> float(logsf(0.5, 1.0, 2.0))
    -1.3862943611198906
    """
    return fnp.log(sf(x, a, b, loc, scale))


__all__ = reports_user_line(globals())
