"""The uniform distribution on [loc, loc + scale], as scipy.stats.uniform
(jax.scipy.stats.uniform). NumPy only."""
from __future__ import annotations

from ... import numpy as fnp
from ._common import clip01, inf, nan_unless, promote, reports_user_line, standardize


def logpdf(x, loc=0, scale=1):
    """-log(scale) on [loc, loc + scale], -inf elsewhere.

    >>> float(logpdf(0.5, 0.0, 2.0))
    -0.6931471805599453
    """
    y, scale = standardize(x, loc, scale)
    inside = (y >= 0) & (y <= 1)
    return nan_unless(scale > 0, fnp.where(inside, -fnp.log(scale), -inf))


def pdf(x, loc=0, scale=1):
    """1 / scale on [loc, loc + scale], 0 elsewhere.

    >>> float(pdf(0.5, 0.0, 2.0))
    0.5
    """
    return fnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    """(x - loc) / scale clipped to [0, 1].

    >>> float(cdf(0.5, 0.0, 2.0))
    0.25
    """
    y, scale = standardize(x, loc, scale)
    return nan_unless(scale > 0, clip01(y))


def ppf(q, loc=0, scale=1):
    """loc + scale q on [0, 1], NaN outside.

    >>> float(ppf(0.25, 0.0, 2.0))
    0.5
    """
    q, loc, scale = promote(q, loc, scale)
    return nan_unless((scale > 0) & (q >= 0) & (q <= 1), loc + scale * q)


__all__ = reports_user_line(globals())
