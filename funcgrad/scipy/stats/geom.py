"""The geometric distribution, as scipy.stats.geom (jax.scipy.stats.geom): the number of
trials up to the first success, k = 1, 2, ..."""
from __future__ import annotations

from ... import numpy as fnp
from .. import special
from ._common import inf, is_integer, nan_unless, promote, reports_user_line, seen


def logpmf(k, p, loc=0):
    """(k - 1) log(1 - p) + log(p) at integers k >= loc + 1 (-inf elsewhere).

    >>> float(logpmf(2, 0.3))
    -1.5606477482646683
    """
    k, p, loc = promote(k, p, loc)
    x = k - loc
    ok = (x >= 1) & is_integer(x)
    x = seen(ok, x, 1.0)
    out = special.xlog1py(x - 1.0, -p) + fnp.log(p)
    return nan_unless((p > 0) & (p <= 1), fnp.where(ok, out, -inf))


def pmf(k, p, loc=0):
    """P(K = k).

    >>> round(float(pmf(2, 0.5)), 12)
    0.25
    """
    return fnp.exp(logpmf(k, p, loc))


__all__ = reports_user_line(globals())
