"""The binomial distribution, as scipy.stats.binom (jax.scipy.stats.binom)."""
from __future__ import annotations

from ... import numpy as fnp
from .. import special
from ._common import inf, is_integer, nan_unless, promote, reports_user_line, seen


def logpmf(k, n, p, loc=0):
    """log(C(n, k) p^k (1 - p)^(n - k)) at integers loc <= k <= loc + n (-inf elsewhere), with
    log C(n, k) = -log(n + 1) - betaln(n - k + 1, k + 1); differentiable in p.

    >>> float(logpmf(2, 5, 0.3))
    -1.1753853474740237
    """
    k, n, p, loc = promote(k, n, p, loc)
    x = k - loc
    ok = (x >= 0) & (x <= n) & is_integer(x)
    x = seen(ok, x, 0.0)
    comb = -fnp.log1p(n) - special.betaln(n - x + 1.0, x + 1.0)
    out = comb + special.xlogy(x, p) + special.xlog1py(n - x, -p)
    valid = (n >= 0) & is_integer(n) & (p >= 0) & (p <= 1)
    return nan_unless(valid, fnp.where(ok, out, -inf))


def pmf(k, n, p, loc=0):
    """P(K = k).

    >>> round(float(pmf(2, 5, 0.3)), 12)
    0.3087
    """
    return fnp.exp(logpmf(k, n, p, loc))


__all__ = reports_user_line(globals())
