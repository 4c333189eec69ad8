"""The multivariate normal distribution, as scipy.stats.multivariate_normal
(jax.scipy.stats.multivariate_normal).

`mean` (default zeros) is a vector of the dimension d, or a number when d = 1; `cov` (default
1) a positive definite (d, d) matrix, a vector (a diagonal covariance) or a number (a multiple
of the identity). `x` is (..., d); the result has shape x.shape[:-1] with SciPy's squeezing of
size-1 axes. A full `cov` goes through its Cholesky factor L: the log-density is
-(d log(2 pi) + 2 sum(log diag L) + |L^-1 (x - mean)|^2) / 2, differentiable in x, mean and cov
(along symmetric perturbations of cov, as funcgrad.numpy.linalg.cholesky).
"""
from __future__ import annotations

import numpy as np

from ... import numpy as fnp
from .. import linalg as _linalg
from ._common import LOG_2PI, promote, reports_user_line


def _dimension(mean, cov) -> int:
    if mean is not None:
        return int(np.prod(fnp.shape(mean), dtype=np.int64))
    return 1 if fnp.ndim(cov) < 2 else fnp.shape(cov)[0]


def _logpdf(x, mean, cov):
    d = _dimension(mean, cov)
    if mean is None:
        mean = np.zeros(d)
    x, mean, cov = promote(x, mean, cov)
    if fnp.ndim(mean) > 1 or fnp.size(mean) != d:
        raise ValueError(f"multivariate_normal: mean must be a vector, got shape "
                         f"{fnp.shape(mean)}")
    mean = fnp.reshape(mean, (d,))
    # SciPy's quantiles: a number is one point of a 1-dimensional distribution, a vector one
    # point (or, for d = 1, many points)
    if fnp.ndim(x) == 0:
        x = fnp.reshape(x, (1,))
    elif fnp.ndim(x) == 1 and d == 1:
        x = fnp.reshape(x, (-1, 1))
    if fnp.shape(x)[-1] != d:
        raise ValueError(f"multivariate_normal: x has {fnp.shape(x)[-1]} coordinates in its "
                         f"last axis, the distribution {d}")
    diff = x - mean
    if fnp.ndim(cov) < 2:
        var = fnp.broadcast_to(cov, (d,))
        maha = fnp.sum(diff * diff / var, axis=-1)
        logdet = fnp.sum(fnp.log(var))
    else:
        if fnp.shape(cov) != (d, d):
            raise ValueError(f"multivariate_normal: cov must be ({d}, {d}), got "
                             f"{fnp.shape(cov)}")
        chol = fnp.linalg.cholesky(cov)
        flat = fnp.reshape(diff, (-1, d))
        z = _linalg.solve_triangular(chol, fnp.transpose(flat), lower=True)
        maha = fnp.reshape(fnp.sum(z * z, axis=0), fnp.shape(diff)[:-1])
        logdet = 2.0 * fnp.sum(fnp.log(fnp.diagonal(chol)))
    out = -0.5 * (d * LOG_2PI + logdet + maha)
    return fnp.squeeze(out) if any(n == 1 for n in fnp.shape(out)) else out


def logpdf(x, mean=None, cov=1, allow_singular=False):
    """log of the density of N(mean, cov) at x.

    >>> float(logpdf(np.array([1.0, 2.0]), np.zeros(2), np.array([[2.0, 0.5], [0.5, 1.0]])))
    -4.117684960377057
    """
    if allow_singular:
        raise NotImplementedError("multivariate_normal: allow_singular=True is not supported; "
                                  "cov must be positive definite")
    return _logpdf(x, mean, cov)


def pdf(x, mean=None, cov=1, allow_singular=False):
    """The density of N(mean, cov) at x.

    >>> float(pdf(0.0))
    0.3989422804014327
    """
    return fnp.exp(logpdf(x, mean, cov, allow_singular))


__all__ = reports_user_line(globals())
