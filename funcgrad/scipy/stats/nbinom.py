"""The negative binomial distribution, as scipy.stats.nbinom (jax.scipy.stats.nbinom): the
number of failures before the n-th success (n > 0 need not be an integer)."""
from __future__ import annotations

from ... import numpy as fnp
from .. import special
from ._common import inf, is_integer, nan_unless, promote, reports_user_line, seen


def logpmf(k, n, p, loc=0):
    """log(C(k + n - 1, k) p^n (1 - p)^k) at integers k >= loc (-inf elsewhere), with
    log C(k + n - 1, k) = -log(n + k) - betaln(n, k + 1); differentiable in n and p.

    >>> float(logpmf(2, 2.5, 0.3))
    -2.247375378882727
    """
    k, n, p, loc = promote(k, n, p, loc)
    x = k - loc
    ok = (x >= 0) & is_integer(x)
    x = seen(ok, x, 0.0)
    comb = -fnp.log(n + x) - special.betaln(n, x + 1.0)
    out = comb + special.xlogy(n, p) + special.xlog1py(x, -p)
    return nan_unless((n > 0) & (p > 0) & (p <= 1), fnp.where(ok, out, -inf))


def pmf(k, n, p, loc=0):
    """P(K = k).

    >>> round(float(pmf(0, 2.0, 0.5)), 12)
    0.25
    """
    return fnp.exp(logpmf(k, n, p, loc))


__all__ = reports_user_line(globals())
