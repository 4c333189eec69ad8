"""The logistic distribution, as scipy.stats.logistic (jax.scipy.stats.logistic). NumPy
only."""
from __future__ import annotations

from ... import numpy as fnp
from .. import special
from ._common import nan_unless, promote, reports_user_line, standardize


def logpdf(x, loc=0, scale=1):
    """log_expit(y) + log_expit(-y) - log(scale): finite for any y.

    >>> float(logpdf(0.0))
    -1.3862943611198906
    """
    y, scale = standardize(x, loc, scale)
    out = special.log_expit(y) + special.log_expit(-y) - fnp.log(scale)
    return nan_unless(scale > 0, out)


def pdf(x, loc=0, scale=1):
    """The logistic density.

    >>> float(pdf(0.0))
    0.25
    """
    return fnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    """expit(y).

    >>> float(cdf(0.0))
    0.5
    """
    y, scale = standardize(x, loc, scale)
    return nan_unless(scale > 0, special.expit(y))


def sf(x, loc=0, scale=1):
    """expit(-y).

    >>> float(sf(40.0))
    4.248354255291589e-18
    """
    y, scale = standardize(x, loc, scale)
    return nan_unless(scale > 0, special.expit(-y))


def ppf(q, loc=0, scale=1):
    """loc + scale logit(q).

    >>> float(ppf(0.5))
    0.0
    """
    q, loc, scale = promote(q, loc, scale)
    return nan_unless(scale > 0, loc + scale * special.logit(q))


def isf(q, loc=0, scale=1):
    """ppf(1 - q) = loc - scale logit(q).

    >>> float(isf(0.25)) == -float(ppf(0.25))
    True
    """
    q, loc, scale = promote(q, loc, scale)
    return nan_unless(scale > 0, loc - scale * special.logit(q))


__all__ = reports_user_line(globals())
