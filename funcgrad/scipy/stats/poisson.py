"""The Poisson distribution, as scipy.stats.poisson (jax.scipy.stats.poisson)."""
from __future__ import annotations

from ... import numpy as fnp
from .. import special
from ._common import inf, is_integer, nan_unless, promote, reports_user_line, seen


def logpmf(k, mu, loc=0):
    """k log(mu) - mu - log(k!) at integers k >= loc (-inf elsewhere); differentiable in mu.

    >>> float(logpmf(0, 2.0))
    -2.0
    """
    k, mu, loc = promote(k, mu, loc)
    x = k - loc
    ok = (x >= 0) & is_integer(x)
    x = seen(ok, x, 0.0)
    out = special.xlogy(x, mu) - special.gammaln(x + 1.0) - mu
    return nan_unless(mu >= 0, fnp.where(ok, out, -inf))


def pmf(k, mu, loc=0):
    """P(K = k).

    >>> float(pmf(1, 2.0))
    0.2706705664732254
    """
    return fnp.exp(logpmf(k, mu, loc))


def cdf(k, mu, loc=0):
    """P(K <= k) = gammaincc(floor(k - loc) + 1, mu); differentiable in mu.

    >>> float(cdf(1.5, 2.0))
    0.40600584970983794
    """
    k, mu, loc = promote(k, mu, loc)
    x = fnp.floor(k - loc)
    ok = x >= 0
    out = special.gammaincc(seen(ok, x, 0.0) + 1.0, mu)
    return nan_unless(mu >= 0, fnp.where(ok, out, 0.0))


__all__ = reports_user_line(globals())
