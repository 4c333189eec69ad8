"""funcgrad.scipy.stats: scipy.stats' distributions, traced and differentiable (as
jax.scipy.stats): one module per distribution with the functions jax.scipy.stats has for it,
in SciPy's argument order and with its defaults, e.g. `norm.logpdf(x, loc=0, scale=1)`.

    norm, t, multivariate_normal, poisson, bernoulli, binom, dirichlet, beta, gamma, chi2,
    expon, laplace, logistic, cauchy, uniform, truncnorm, geom, nbinom, vonmises

As SciPy's: outside the support a log-density is -inf (a density 0, a CDF 0 or 1), invalid
parameters (a scale <= 0, a probability outside [0, 1], ...) give NaN, and a discrete
distribution's mass is 0 at non-integers. Unlike SciPy, dirichlet returns -inf for points off
the simplex instead of raising (traced values cannot be inspected), and float32 arguments give
float32 results. Everything is differentiable in the data and in the continuous parameters,
except the CDFs that go through an incomplete gamma or beta function (gamma, chi2 and beta's
cdf/sf and logs), which are differentiable in x only: their derivative in the shape raises
NotImplementedError. Derivatives outside the support are 0, never NaN.

The log-CDFs are stable in the tails (norm.logcdf(-40) is finite: log_ndtr). Functions using
erf, gammaln and the like need SciPy (pip install 'funcgrad[scipy]'); expon, laplace, logistic,
cauchy and uniform run on NumPy alone.
"""
from . import (  # noqa: F401
    bernoulli,
    beta,
    binom,
    cauchy,
    chi2,
    dirichlet,
    expon,
    gamma,
    geom,
    laplace,
    logistic,
    multivariate_normal,
    nbinom,
    norm,
    poisson,
    t,
    truncnorm,
    uniform,
    vonmises,
)

__all__ = ["norm", "t", "multivariate_normal", "poisson", "bernoulli", "binom", "dirichlet",
           "beta", "gamma", "chi2", "expon", "laplace", "logistic", "cauchy", "uniform",
           "truncnorm", "geom", "nbinom", "vonmises"]
