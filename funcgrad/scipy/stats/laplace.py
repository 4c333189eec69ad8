"""The Laplace distribution, as scipy.stats.laplace (jax.scipy.stats.laplace). NumPy only."""
from __future__ import annotations

import math

from ... import numpy as fnp
from ._common import nan_unless, reports_user_line, seen, standardize


def logpdf(x, loc=0, scale=1):
    """-|y| - log(2 scale).

    >>> float(logpdf(0.0))
    -0.6931471805599453
    """
    y, scale = standardize(x, loc, scale)
    return nan_unless(scale > 0, -fnp.abs(y) - fnp.log(scale) - math.log(2.0))


def pdf(x, loc=0, scale=1):
    """The Laplace density exp(-|y|) / (2 scale).

    >>> float(pdf(0.0))
    0.5
    """
    return fnp.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    """exp(y) / 2 for y < 0, 1 - exp(-y) / 2 from 0 on.

    >>> float(cdf(0.0))
    0.5
    """
    y, scale = standardize(x, loc, scale)
    left = y < 0
    out = fnp.where(left, 0.5 * fnp.exp(seen(left, y, 0.0)),
                    1.0 - 0.5 * fnp.exp(-seen(left, 0.0, y)))
    return nan_unless(scale > 0, out)


__all__ = reports_user_line(globals())
