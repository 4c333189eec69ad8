"""The von Mises distribution, as scipy.stats.vonmises (jax.scipy.stats.vonmises): the density
exp(kappa cos(y)) / (2 pi i0(kappa)), periodic in y = (x - loc) / scale, computed with
i0e(kappa) = exp(-kappa) i0(kappa) so that a large kappa does not overflow."""
from __future__ import annotations

import math

from ... import numpy as fnp
from .. import special
from ._common import nan_unless, promote, reports_user_line


def logpdf(x, kappa, loc=0, scale=1):
    """kappa (cos(y) - 1) - log(2 pi i0e(kappa)) - log(scale).

    >>> float(logpdf(0.5, 1.0))
    -1.1962088630261514
    """
    x, kappa, loc, scale = promote(x, kappa, loc, scale)
    y = (x - loc) / scale
    out = (kappa * (fnp.cos(y) - 1.0) - fnp.log(special.i0e(kappa)) - math.log(2.0 * math.pi)
           - fnp.log(scale))
    return nan_unless((kappa >= 0) & (scale > 0), out)


def pdf(x, kappa, loc=0, scale=1):
    """The von Mises density.

    >>> float(pdf(0.5, 1.0))
    0.3023382476531484
    """
    return fnp.exp(logpdf(x, kappa, loc, scale))


__all__ = reports_user_line(globals())
