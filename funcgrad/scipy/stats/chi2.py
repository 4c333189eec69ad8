"""The chi-squared distribution, as scipy.stats.chi2 (jax.scipy.stats.chi2): the gamma
distribution of shape df / 2 and scale 2 scale. The CDFs are differentiable in x, loc and
scale; in df they raise NotImplementedError."""
from __future__ import annotations

from . import gamma as _gamma
from ._common import promote, reports_user_line


def _gamma_args(x, df, loc, scale):
    x, df, loc, scale = promote(x, df, loc, scale)
    return x, 0.5 * df, loc, 2.0 * scale


def logpdf(x, df, loc=0, scale=1):
    """log of the chi-squared density.

    >>> float(logpdf(1.0, 2.0))
    -1.1931471805599454
    """
    return _gamma.logpdf(*_gamma_args(x, df, loc, scale))


def pdf(x, df, loc=0, scale=1):
    """The chi-squared density.

    >>> float(pdf(2.0, 2.0))
    0.18393972058572114
    """
    return _gamma.pdf(*_gamma_args(x, df, loc, scale))


def cdf(x, df, loc=0, scale=1):
    """P(X <= x).

    >>> float(cdf(2.0, 2.0))
    0.6321205588285577
    """
    return _gamma.cdf(*_gamma_args(x, df, loc, scale))


def logcdf(x, df, loc=0, scale=1):
    """log P(X <= x).

    >>> float(logcdf(2.0, 2.0))
    -0.45867514538708193
    """
    return _gamma.logcdf(*_gamma_args(x, df, loc, scale))


def sf(x, df, loc=0, scale=1):
    """P(X > x).

    >>> float(sf(2.0, 2.0))
    0.36787944117144245
    """
    return _gamma.sf(*_gamma_args(x, df, loc, scale))


def logsf(x, df, loc=0, scale=1):
    """log P(X > x).

    >>> float(logsf(2.0, 2.0))
    -0.9999999999999997
    """
    return _gamma.logsf(*_gamma_args(x, df, loc, scale))


__all__ = reports_user_line(globals())
