"""The Bernoulli distribution, as scipy.stats.bernoulli (jax.scipy.stats.bernoulli)."""
from __future__ import annotations

from ... import numpy as fnp
from .. import special
from ._common import inf, nan, nan_unless, promote, reports_user_line, seen


def _valid(p):
    return (p >= 0) & (p <= 1)


def logpmf(k, p, loc=0):
    """log p at k = loc + 1, log(1 - p) at k = loc, -inf elsewhere.

    >>> float(logpmf(1, 0.25))
    -1.3862943611198906
    """
    k, p, loc = promote(k, p, loc)
    x = k - loc
    ok = (x == 0) | (x == 1)
    x = seen(ok, x, 0.0)
    out = special.xlogy(x, p) + special.xlog1py(1.0 - x, -p)
    return nan_unless(_valid(p), fnp.where(ok, out, -inf))


def pmf(k, p, loc=0):
    """P(K = k).

    >>> float(pmf(0, 0.25))
    0.75
    """
    return fnp.exp(logpmf(k, p, loc))


def cdf(k, p, loc=0):
    """P(K <= k): 0 below loc, 1 - p on [loc, loc + 1), 1 from loc + 1 on.

    >>> float(cdf(0.5, 0.25))
    0.75
    """
    k, p, loc = promote(k, p, loc)
    x = k - loc
    out = fnp.where(x < 0, 0.0, fnp.where(x < 1, 1.0 - p, 1.0))
    return nan_unless(_valid(p), fnp.where(fnp.isnan(x), nan, out))


def ppf(q, p, loc=0):
    """The smallest k with cdf(k) >= q: loc - 1 at q = 0 (as SciPy), loc up to 1 - p, then
    loc + 1.

    >>> float(ppf(0.9, 0.25))
    1.0
    """
    q, p, loc = promote(q, p, loc)
    one = fnp.ones_like(q + p)
    out = fnp.where(q > 1.0 - p, one, 0.0 * one)
    out = fnp.where(q == 0, -one, out)
    return nan_unless(_valid(p) & (q >= 0) & (q <= 1), out + loc)


__all__ = reports_user_line(globals())
