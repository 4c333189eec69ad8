"""The Dirichlet distribution, as scipy.stats.dirichlet (jax.scipy.stats.dirichlet).

`alpha` is a vector of K concentrations; `x` has the K coordinates (or the first K - 1, the
last being 1 minus their sum) in its FIRST axis, as SciPy's: shape (K,) or (K, ...) for
several points. Off the simplex (a negative coordinate, or a sum off 1 by more than 1e-5) the
log-density is -inf, where SciPy raises.
"""
from __future__ import annotations

import numpy as np  # noqa: F401  (the doctests)

from ... import numpy as fnp
from .. import special
from ._common import inf, nan_unless, promote, reports_user_line, seen


def logpdf(x, alpha):
    """gammaln(sum alpha) - sum gammaln(alpha) + sum (alpha - 1) log(x) over the first axis.

    >>> float(logpdf(np.array([0.2, 0.3, 0.5]), np.array([1.0, 2.0, 3.0])))
    1.5040773967762737
    """
    x, alpha = promote(x, alpha)
    if fnp.ndim(alpha) != 1:
        raise ValueError(f"dirichlet: alpha must be a vector, got shape {fnp.shape(alpha)}")
    k = fnp.shape(alpha)[0]
    if fnp.ndim(x) == 0 or fnp.shape(x)[0] not in (k, k - 1):
        raise ValueError(f"dirichlet: x must have {k} (or {k - 1}) coordinates in its first "
                         f"axis, got shape {fnp.shape(x)}")
    if fnp.shape(x)[0] == k - 1:
        x = fnp.concatenate([x, 1.0 - fnp.sum(x, axis=0, keepdims=True)], axis=0)
    a = fnp.reshape(alpha, (k,) + (1,) * (fnp.ndim(x) - 1))
    on_simplex = fnp.all(x >= 0, axis=0) & (fnp.abs(fnp.sum(x, axis=0) - 1.0) <= 1e-5)
    x = seen(on_simplex, x, 1.0 / k)
    out = (special.gammaln(fnp.sum(alpha)) - fnp.sum(special.gammaln(alpha))
           + fnp.sum(special.xlogy(a - 1.0, x), axis=0))
    return nan_unless(fnp.all(alpha > 0), fnp.where(on_simplex, out, -inf))


def pdf(x, alpha):
    """The Dirichlet density.

    >>> float(pdf(np.array([0.5, 0.5]), np.array([1.0, 1.0])))
    1.0
    """
    return fnp.exp(logpdf(x, alpha))


__all__ = reports_user_line(globals())
