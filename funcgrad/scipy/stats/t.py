"""Student's t distribution, as scipy.stats.t (jax.scipy.stats.t); df = inf is the normal."""
from __future__ import annotations

import math

from ... import numpy as fnp
from .. import special
from ._common import LOG_2PI, nan_unless, promote, reports_user_line, seen


def logpdf(x, df, loc=0, scale=1):
    """log of the density gamma((df+1)/2) / (gamma(df/2) sqrt(df pi) scale)
    (1 + y^2 / df)^(-(df+1)/2), y = (x - loc) / scale.

    >>> float(logpdf(1.0, 3.0))
    -1.5762529945270716
    """
    x, df, loc, scale = promote(x, df, loc, scale)
    y = (x - loc) / scale
    finite = fnp.isfinite(df)
    d = seen(finite, df, 1.0)
    out = (special.gammaln(0.5 * (d + 1.0)) - special.gammaln(0.5 * d)
           - 0.5 * (fnp.log(d) + math.log(math.pi))
           - 0.5 * (d + 1.0) * fnp.log1p(y * y / d))
    normal = -0.5 * (y * y) - 0.5 * LOG_2PI
    return nan_unless((df > 0) & (scale > 0), fnp.where(finite, out, normal) - fnp.log(scale))


def pdf(x, df, loc=0, scale=1):
    """The density of Student's t.

    >>> float(pdf(0.0, 1.0))   # the Cauchy density at 0, 1 / pi
    0.31830988618379075
    """
    return fnp.exp(logpdf(x, df, loc, scale))


__all__ = reports_user_line(globals())
