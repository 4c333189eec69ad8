"""funcgrad.scipy.stats against scipy.stats: every function of every distribution in float64
and float32 with broadcasting parameters, points outside the support and invalid parameters
included; derivatives to order 2 in the data and the continuous parameters; vmap against a
loop; jit(grad) against grad; the tails; finite derivatives outside the support."""
from __future__ import annotations

import doctest
import importlib
import math
import zlib

import numpy as np
import pytest
import scipy.stats as sst

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.scipy import stats
from funcgrad.test_util import check_grads

RNG_SEED = 1234


def _rng(*key):
    return np.random.default_rng([RNG_SEED, *[zlib.crc32(str(k).encode()) for k in key]])


# ---------------------------------------------------------------- the table
#
# Each distribution: `params(rng, shape)` its parameters in SciPy's order (after the data),
# `data(rng, shape, params)` points (some outside the support), `inside(rng, shape, params)`
# points inside it, away from its edges, for derivatives; `functions` with, for each, the
# parameter positions it is differentiable in (0 is the data) and the kind of its first
# argument ("x" data, "q" probabilities).

def _u(rng, lo, hi, shape):
    return rng.uniform(lo, hi, shape)


def _loc_scale(rng, shape):
    return [_u(rng, -1.0, 1.0, shape), _u(rng, 0.5, 2.0, shape)]


def _ints(rng, lo, hi, shape):
    return rng.integers(lo, hi, shape).astype(np.float64)


def _mixed_k(rng, shape, hi):
    """integers (some out of range) and a few non-integers"""
    k = _ints(rng, -1, hi, shape)
    return np.where(rng.random(shape) < 0.15, k + 0.5, k)


def _y_to_x(y, loc, scale):
    return loc + scale * y


ALL_LS = (0, 1, 2)           # x, loc, scale
DISTS = {
    "norm": dict(
        params=_loc_scale,
        data=lambda r, s, p: _u(r, -4, 4, s),
        inside=lambda r, s, p: _u(r, -3, 3, s),
        functions={"logpdf": ALL_LS, "pdf": ALL_LS, "cdf": ALL_LS, "logcdf": ALL_LS,
                   "sf": ALL_LS, "logsf": ALL_LS, "ppf": ALL_LS, "isf": ALL_LS}),
    "t": dict(
        params=lambda r, s: [_u(r, 1.0, 10.0, s), *_loc_scale(r, s)],
        data=lambda r, s, p: _u(r, -4, 4, s),
        inside=lambda r, s, p: _u(r, -3, 3, s),
        functions={"logpdf": (0, 1, 2, 3), "pdf": (0, 1, 2, 3)}),
    "poisson": dict(
        params=lambda r, s: [_u(r, 0.5, 5.0, s)],
        data=lambda r, s, p: _mixed_k(r, s, 9),
        inside=lambda r, s, p: _ints(r, 0, 8, s),
        functions={"logpmf": (1,), "pmf": (1,), "cdf": (1,)}),
    "bernoulli": dict(
        params=lambda r, s: [_u(r, 0.1, 0.9, s)],
        data=lambda r, s, p: _mixed_k(r, s, 3),
        inside=lambda r, s, p: _ints(r, 0, 2, s),
        functions={"logpmf": (1,), "pmf": (1,), "cdf": (1,), "ppf": ()}),
    "binom": dict(
        params=lambda r, s: [_ints(r, 1, 10, s), _u(r, 0.1, 0.9, s)],
        data=lambda r, s, p: _mixed_k(r, s, 12),
        inside=lambda r, s, p: np.minimum(_ints(r, 0, 10, s), p[0]),
        functions={"logpmf": (2,), "pmf": (2,)}),
    "nbinom": dict(
        params=lambda r, s: [_u(r, 0.5, 5.0, s), _u(r, 0.1, 0.9, s)],
        data=lambda r, s, p: _mixed_k(r, s, 9),
        inside=lambda r, s, p: _ints(r, 0, 8, s),
        functions={"logpmf": (1, 2), "pmf": (1, 2)}),
    "geom": dict(
        params=lambda r, s: [_u(r, 0.1, 0.9, s)],
        data=lambda r, s, p: _mixed_k(r, s, 7),
        inside=lambda r, s, p: _ints(r, 1, 7, s),
        functions={"logpmf": (1,), "pmf": (1,)}),
    "beta": dict(
        params=lambda r, s: [_u(r, 0.5, 3.0, s), _u(r, 0.5, 3.0, s), *_loc_scale(r, s)],
        data=lambda r, s, p: _y_to_x(_u(r, -0.3, 1.3, s), p[2], p[3]),
        inside=lambda r, s, p: _y_to_x(_u(r, 0.1, 0.9, s), p[2], p[3]),
        functions={"logpdf": (0, 1, 2, 3, 4), "pdf": (0, 1, 2, 3, 4), "cdf": (0, 3, 4),
                   "logcdf": (0, 3, 4), "sf": (0, 3, 4), "logsf": (0, 3, 4)}),
    "gamma": dict(
        params=lambda r, s: [_u(r, 0.5, 4.0, s), *_loc_scale(r, s)],
        data=lambda r, s, p: _y_to_x(_u(r, -1.0, 6.0, s), p[1], p[2]),
        inside=lambda r, s, p: _y_to_x(_u(r, 0.2, 5.0, s), p[1], p[2]),
        functions={"logpdf": (0, 1, 2, 3), "pdf": (0, 1, 2, 3), "cdf": (0, 2, 3),
                   "logcdf": (0, 2, 3), "sf": (0, 2, 3), "logsf": (0, 2, 3)}),
    "chi2": dict(
        params=lambda r, s: [_u(r, 1.0, 6.0, s), *_loc_scale(r, s)],
        data=lambda r, s, p: _y_to_x(_u(r, -1.0, 8.0, s), p[1], p[2]),
        inside=lambda r, s, p: _y_to_x(_u(r, 0.2, 6.0, s), p[1], p[2]),
        functions={"logpdf": (0, 1, 2, 3), "pdf": (0, 1, 2, 3), "cdf": (0, 2, 3),
                   "logcdf": (0, 2, 3), "sf": (0, 2, 3), "logsf": (0, 2, 3)}),
    "expon": dict(
        params=_loc_scale,
        data=lambda r, s, p: _y_to_x(_u(r, -1.0, 6.0, s), p[0], p[1]),
        inside=lambda r, s, p: _y_to_x(_u(r, 0.2, 5.0, s), p[0], p[1]),
        functions={"logpdf": ALL_LS, "pdf": ALL_LS, "cdf": ALL_LS, "logcdf": ALL_LS,
                   "sf": ALL_LS, "logsf": ALL_LS, "ppf": ALL_LS}),
    "laplace": dict(
        params=_loc_scale,
        data=lambda r, s, p: _u(r, -5, 5, s),
        inside=lambda r, s, p: _u(r, -4, 4, s),
        functions={"logpdf": ALL_LS, "pdf": ALL_LS, "cdf": ALL_LS}),
    "logistic": dict(
        params=_loc_scale,
        data=lambda r, s, p: _u(r, -6, 6, s),
        inside=lambda r, s, p: _u(r, -5, 5, s),
        functions={"logpdf": ALL_LS, "pdf": ALL_LS, "cdf": ALL_LS, "sf": ALL_LS,
                   "ppf": ALL_LS, "isf": ALL_LS}),
    "cauchy": dict(
        params=_loc_scale,
        data=lambda r, s, p: _u(r, -8, 8, s),
        inside=lambda r, s, p: _u(r, -6, 6, s),
        functions={"logpdf": ALL_LS, "pdf": ALL_LS, "cdf": ALL_LS, "logcdf": ALL_LS,
                   "sf": ALL_LS, "logsf": ALL_LS, "ppf": ALL_LS, "isf": ALL_LS}),
    "uniform": dict(
        params=_loc_scale,
        data=lambda r, s, p: _y_to_x(_u(r, -0.3, 1.3, s), p[0], p[1]),
        inside=lambda r, s, p: _y_to_x(_u(r, 0.1, 0.9, s), p[0], p[1]),
        functions={"logpdf": (2,), "pdf": (2,), "cdf": ALL_LS, "ppf": ALL_LS}),
    "truncnorm": dict(
        params=lambda r, s: (lambda a: [a, a + _u(r, 0.5, 3.0, s), *_loc_scale(r, s)])(
            _u(r, -2.0, 0.5, s)),
        data=lambda r, s, p: _y_to_x(_u(r, -3.0, 3.5, s), p[2], p[3]),
        inside=lambda r, s, p: _y_to_x(p[0] + (p[1] - p[0]) * _u(r, 0.1, 0.9, s), p[2], p[3]),
        functions={name: (0, 1, 2, 3, 4) for name in
                   ("logpdf", "pdf", "cdf", "logcdf", "sf", "logsf")}),
    "vonmises": dict(
        params=lambda r, s: [_u(r, 0.1, 5.0, s), *_loc_scale(r, s)],
        data=lambda r, s, p: _u(r, -4, 4, s),
        inside=lambda r, s, p: _u(r, -3, 3, s),
        functions={"logpdf": (0, 1, 2, 3), "pdf": (0, 1, 2, 3)}),
}
QUANTILES = {"ppf", "isf"}
CASES = [(d, f) for d, spec in DISTS.items() for f in spec["functions"]]
DIFF_CASES = [(d, f) for d, f in CASES if DISTS[d]["functions"][f]]


def _points(dist, fn, rng, shape, params, inside=False):
    if fn in QUANTILES:
        q = _u(rng, 0.05, 0.95, shape)
        if not inside:
            q.flat[:4] = [0.0, 1.0, -0.1, 1.1][:q.size]
        return q
    return DISTS[dist]["inside" if inside else "data"](rng, shape, params)


def _scipy(dist, fn, args):
    if dist == "bernoulli" and fn in ("cdf", "ppf"):
        return getattr(sst.bernoulli, fn)(*args)
    return getattr(getattr(sst, dist), fn)(*args)


def _ours(dist, fn):
    return getattr(getattr(stats, dist), fn)


# ---------------------------------------------------------------- values

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("dist,fn", CASES, ids=[f"{d}.{f}" for d, f in CASES])
def test_values_match_scipy(dist, fn, dtype):
    rng = _rng(dist, fn)
    params = DISTS[dist]["params"](rng, (4,))
    x = _points(dist, fn, rng, (6, 4), params)            # broadcasting against (4,)
    args = [np.asarray(a, dtype) for a in (x, *params)]
    with np.errstate(all="ignore"):
        expected = _scipy(dist, fn, [np.float64(a) if a.ndim == 0 else a.astype(np.float64)
                                     for a in args])
    got = _ours(dist, fn)(*args)
    assert np.asarray(got).dtype == dtype, f"{dist}.{fn}: {np.asarray(got).dtype}"
    assert np.shape(got) == np.shape(expected)
    tol = dict(rtol=1e-10, atol=1e-13) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(got, np.float64), expected, **tol,
                               err_msg=f"{dist}.{fn}")


def test_python_scalars_and_defaults():
    assert float(stats.norm.logpdf(0.5)) == pytest.approx(sst.norm.logpdf(0.5), rel=1e-14)
    assert float(stats.gamma.logpdf(2, 3)) == pytest.approx(sst.gamma.logpdf(2, 3), rel=1e-13)
    assert float(stats.poisson.logpmf(3, 2)) == pytest.approx(sst.poisson.logpmf(3, 2), rel=1e-13)
    x32 = np.float32(0.5) * np.ones(3, np.float32)
    assert stats.norm.logpdf(x32, 0, 1).dtype == np.float32      # Python numbers are weak
    assert stats.poisson.logpmf(np.arange(3), 2.0).dtype == np.float64   # ints compute in f64


def test_invalid_parameters_give_nan_as_scipy():
    rows = [
        (stats.norm.logpdf, sst.norm.logpdf, (0.5, 0.0, -1.0)),
        (stats.norm.cdf, sst.norm.cdf, (0.5, 0.0, 0.0)),
        (stats.gamma.logpdf, sst.gamma.logpdf, (0.5, -1.0)),
        (stats.beta.logpdf, sst.beta.logpdf, (0.5, 0.0, 1.0)),
        (stats.t.logpdf, sst.t.logpdf, (0.5, -2.0)),
        (stats.poisson.logpmf, sst.poisson.logpmf, (1.0, -1.0)),
        (stats.binom.logpmf, sst.binom.logpmf, (1.0, 2.5, 0.5)),
        (stats.binom.logpmf, sst.binom.logpmf, (1.0, 3.0, 1.5)),
        (stats.nbinom.logpmf, sst.nbinom.logpmf, (1.0, 0.0, 0.5)),
        (stats.geom.logpmf, sst.geom.logpmf, (1.0, 0.0)),
        (stats.bernoulli.logpmf, sst.bernoulli.logpmf, (1.0, 1.2)),
        (stats.truncnorm.logpdf, sst.truncnorm.logpdf, (0.0, 1.0, 0.0)),
        (stats.vonmises.logpdf, sst.vonmises.logpdf, (0.0, -1.0)),
        (stats.uniform.ppf, sst.uniform.ppf, (1.5,)),
        (stats.expon.ppf, sst.expon.ppf, (-0.5,)),
    ]
    for ours, theirs, args in rows:
        with np.errstate(all="ignore"):
            expected = theirs(*args)
        assert np.isnan(expected), (theirs, args)
        assert np.isnan(ours(*args)), (ours, args)


def test_edges_of_supports_as_scipy():
    rows = [
        (stats.beta.logpdf, sst.beta.logpdf, [0.0, 1.0], (1.0, 2.0)),
        (stats.beta.logpdf, sst.beta.logpdf, [0.0, 1.0], (0.5, 0.5)),
        (stats.beta.logpdf, sst.beta.logpdf, [0.0, 1.0], (2.0, 2.0)),
        (stats.gamma.logpdf, sst.gamma.logpdf, [0.0], (1.0,)),
        (stats.gamma.logpdf, sst.gamma.logpdf, [0.0], (0.5,)),
        (stats.chi2.logpdf, sst.chi2.logpdf, [0.0], (2.0,)),
        (stats.expon.logpdf, sst.expon.logpdf, [0.0], ()),
        (stats.expon.logcdf, sst.expon.logcdf, [0.0], ()),
        (stats.expon.ppf, sst.expon.ppf, [0.0, 1.0], ()),
        (stats.uniform.logpdf, sst.uniform.logpdf, [0.0, 1.0], ()),
        (stats.poisson.logpmf, sst.poisson.logpmf, [0.0], (0.0,)),
        (stats.binom.logpmf, sst.binom.logpmf, [0.0, 5.0], (5.0, 0.0)),
        (stats.binom.logpmf, sst.binom.logpmf, [0.0, 5.0], (5.0, 1.0)),
        (stats.bernoulli.ppf, sst.bernoulli.ppf, [0.0, 0.7, 0.71, 1.0], (0.3,)),
        (stats.cauchy.ppf, sst.cauchy.ppf, [0.0, 1.0], ()),
        (stats.cauchy.isf, sst.cauchy.isf, [0.0, 1.0], ()),
        (stats.norm.ppf, sst.norm.ppf, [0.0, 1.0], ()),
        (stats.truncnorm.logcdf, sst.truncnorm.logcdf, [-2.0, -1.0, 1.0, 2.0], (-1.0, 1.0)),
        (stats.truncnorm.logsf, sst.truncnorm.logsf, [-2.0, -1.0, 1.0, 2.0], (-1.0, 1.0)),
        (stats.truncnorm.logpdf, sst.truncnorm.logpdf, [0.5, 3.0], (0.0, np.inf)),
        (stats.truncnorm.logpdf, sst.truncnorm.logpdf, [-30.5], (-np.inf, -30.0)),
        (stats.t.logpdf, sst.t.logpdf, [0.5], (np.inf,)),
        (stats.vonmises.logpdf, sst.vonmises.logpdf, [0.5], (0.0,)),
    ]
    for ours, theirs, x, args in rows:
        x = np.array(x)
        np.testing.assert_allclose(ours(x, *args), theirs(x, *args), rtol=1e-12,
                                   err_msg=f"{theirs.__self__.name}.{theirs.__name__}{args}")


# ---------------------------------------------------------------- derivatives

@pytest.mark.parametrize("dist,fn", DIFF_CASES, ids=[f"{d}.{f}" for d, f in DIFF_CASES])
def test_derivatives_to_order_2(dist, fn):
    rng = _rng("grad", dist, fn)
    params = DISTS[dist]["params"](rng, (3,))
    x = _points(dist, fn, rng, (3,), params, inside=True)
    args = [x, *params]
    wrt = DISTS[dist]["functions"][fn]
    f = _ours(dist, fn)

    def g(*dyn):
        full = list(args)
        for i, v in zip(wrt, dyn):
            full[i] = v
        return f(*full)
    check_grads(g, [args[i] for i in wrt], order=2)


def test_cdfs_through_incomplete_gamma_and_beta_raise_in_their_shapes():
    with pytest.raises(NotImplementedError, match="gammainc.*shape a"):
        fg.grad(lambda a: stats.gamma.cdf(1.5, a))(2.0)
    with pytest.raises(NotImplementedError, match="shape a"):
        fg.grad(lambda df: stats.chi2.sf(1.5, df))(2.0)
    with pytest.raises(NotImplementedError, match="betainc.*shape b"):
        fg.grad(lambda b: stats.beta.cdf(0.3, 2.0, b))(2.0)
    # and the data still differentiates: d/dx gamma.cdf = gamma.pdf
    np.testing.assert_allclose(fg.grad(lambda x: stats.gamma.cdf(x, 2.5))(1.5),
                               sst.gamma.pdf(1.5, 2.5), rtol=1e-12)
    np.testing.assert_allclose(fg.grad(lambda x: stats.beta.cdf(x, 2.5, 1.5))(0.3),
                               sst.beta.pdf(0.3, 2.5, 1.5), rtol=1e-12)
    np.testing.assert_allclose(fg.grad(lambda mu: stats.poisson.cdf(3, mu))(2.0),
                               -sst.poisson.pmf(3, 2.0), rtol=1e-12)


OUTSIDE = [
    # (function, point outside the support, parameters): the derivative in every float
    # argument must be 0 (the value is a constant there), not NaN
    (stats.gamma.logpdf, -1.0, (2.5, 0.0, 1.5)),
    (stats.beta.logpdf, 1.5, (2.0, 3.0)),
    (stats.beta.logpdf, -0.5, (0.5, 0.5)),
    (stats.expon.logpdf, -1.0, (0.0, 2.0)),
    (stats.expon.cdf, -50.0, (0.0, 0.1)),
    (stats.expon.logcdf, -1.0, (0.0, 2.0)),
    (stats.expon.sf, -50.0, (0.0, 0.1)),
    (stats.laplace.cdf, 800.0, (0.0, 1.0)),
    (stats.laplace.cdf, -800.0, (0.0, 1.0)),
    (stats.truncnorm.logpdf, 5.0, (-1.0, 1.0, 0.0, 1.0)),
    (stats.truncnorm.logcdf, -5.0, (-1.0, 1.0, 0.0, 1.0)),
    (stats.truncnorm.logsf, 5.0, (-1.0, 1.0, 0.0, 1.0)),
    (stats.poisson.logpmf, -2.0, (3.0,)),
    (stats.nbinom.logpmf, 1.5, (2.0, 0.4)),
    (stats.geom.logpmf, 0.0, (0.4,)),
    (stats.binom.logpmf, 7.0, (5.0, 0.4)),
    (stats.bernoulli.logpmf, 2.0, (0.4,)),
    (stats.uniform.logpdf, 2.0, (0.0, 1.0)),
    (stats.dirichlet.logpdf, np.array([0.5, 0.7, -0.2]), (np.array([0.5, 2.0, 3.0]),)),
]


@pytest.mark.parametrize("i", range(len(OUTSIDE)))
def test_derivatives_outside_the_support_are_zero(i):
    f, x, params = OUTSIDE[i]
    args = (np.asarray(x, np.float64), *(np.asarray(p, np.float64) for p in params))
    grads = fg.grad(f, argnums=tuple(range(len(args))))(*args)
    for g in grads:
        assert np.all(np.asarray(g) == 0.0), (f, grads)


def test_vmap_matches_a_loop():
    rng = _rng("vmap")
    for dist, spec in DISTS.items():
        for fn in list(spec["functions"])[:2]:
            params = spec["params"](rng, (3,))
            x = _points(dist, fn, rng, (3,), params, inside=True)
            f = _ours(dist, fn)
            got = fg.vmap(f)(x, *params)
            loop = [f(x[i], *[p[i] for p in params]) for i in range(3)]
            np.testing.assert_allclose(got, np.stack(loop), rtol=1e-13, err_msg=f"{dist}.{fn}")
            got = fg.vmap(f, in_axes=(0,) + (None,) * len(params))(x, *[p[0] for p in params])
            loop = [f(x[i], *[p[0] for p in params]) for i in range(3)]
            np.testing.assert_allclose(got, np.stack(loop), rtol=1e-13, err_msg=f"{dist}.{fn}")


@pytest.mark.parametrize("dist,fn", [("norm", "logcdf"), ("truncnorm", "logpdf"),
                                     ("t", "logpdf"), ("beta", "logpdf"), ("gamma", "cdf"),
                                     ("binom", "logpmf"), ("vonmises", "logpdf"),
                                     ("cauchy", "logsf")])
def test_jit_of_grad_is_grad(dist, fn):
    rng = _rng("jit", dist, fn)
    params = DISTS[dist]["params"](rng, (3,))
    x = _points(dist, fn, rng, (3,), params, inside=True)
    wrt = DISTS[dist]["functions"][fn]
    f = _ours(dist, fn)

    def loss(*args):
        return fnp.sum(f(*args))
    g = fg.grad(loss, argnums=wrt)
    eager = g(x, *params)
    compiled = fg.jit(g)(x, *params)
    for a, b in zip(eager, compiled):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- tails

def test_tails_are_stable():
    with np.errstate(all="ignore"):
        x = np.array([-40.0, -10.0, 10.0, 40.0])
        np.testing.assert_allclose(stats.norm.logcdf(x), sst.norm.logcdf(x), rtol=1e-13)
        np.testing.assert_allclose(stats.norm.logsf(x), sst.norm.logsf(x), rtol=1e-13)
        g = fg.vmap(fg.grad(stats.norm.logcdf))(x)
        assert np.all(np.isfinite(g)) and g[0] == pytest.approx(40.02496884720727, rel=1e-12)
        # a truncation far in the tail keeps its digits (SciPy's log-space mass)
        y = np.array([30.2, 30.5, 30.9])
        for fn in ("logpdf", "logcdf", "logsf"):
            np.testing.assert_allclose(getattr(stats.truncnorm, fn)(y, 30.0, 31.0),
                                       getattr(sst.truncnorm, fn)(y, 30.0, 31.0), rtol=1e-9)
        check_grads(lambda a, b: stats.truncnorm.logpdf(y, a, b), (30.0, 31.0), order=1)
        # expon's log-CDF near 0 and far out; cauchy's small tails
        y = np.array([1e-12, 1e-3, 50.0])
        np.testing.assert_allclose(stats.expon.logcdf(y),
                                   [math.log(-math.expm1(-v)) if v < 0.69 else
                                    math.log1p(-math.exp(-v)) for v in y], rtol=1e-13)
        np.testing.assert_allclose(stats.cauchy.cdf(-1e10), 1 / (math.pi * 1e10), rtol=1e-12)
        np.testing.assert_allclose(stats.cauchy.sf(1e10), 1 / (math.pi * 1e10), rtol=1e-12)
        # logistic at +-1e4: finite values and derivatives
        x = np.array([-1e4, 1e4])
        assert np.all(np.isfinite(stats.logistic.logpdf(x)))
        assert np.all(np.isfinite(fg.vmap(fg.grad(stats.logistic.logpdf))(x)))
        # vonmises with a large concentration
        np.testing.assert_allclose(stats.vonmises.logpdf(0.1, 1e4), sst.vonmises.logpdf(0.1, 1e4),
                                   rtol=1e-10)


# ---------------------------------------------------------------- multivariate normal

def _spd(rng, d):
    a = rng.standard_normal((d, d))
    return a @ a.T + d * np.eye(d)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_multivariate_normal_values(dtype):
    rng = _rng("mvn")
    tol = dict(rtol=1e-11) if dtype == np.float64 else dict(rtol=1e-4)
    d = 3
    mean, cov = rng.standard_normal(d), _spd(rng, d)
    for x in (rng.standard_normal(d), rng.standard_normal((5, d)),
              rng.standard_normal((2, 4, d)), rng.standard_normal((1, d))):
        args = [np.asarray(a, dtype) for a in (x, mean, cov)]
        got = stats.multivariate_normal.logpdf(*args)
        expected = sst.multivariate_normal.logpdf(x, mean, cov)
        assert np.asarray(got).dtype == dtype and np.shape(got) == np.shape(expected)
        np.testing.assert_allclose(got, expected, **tol)
        np.testing.assert_allclose(stats.multivariate_normal.pdf(*args),
                                   sst.multivariate_normal.pdf(x, mean, cov), **tol)
    x = rng.standard_normal((4, d))
    for cov in (2.5, np.array([1.0, 2.0, 0.5])):               # scalar and diagonal
        np.testing.assert_allclose(stats.multivariate_normal.logpdf(x, mean, cov),
                                   sst.multivariate_normal.logpdf(x, mean, cov), rtol=1e-12)
    x1 = rng.standard_normal(4)                                 # one dimension, defaults
    np.testing.assert_allclose(stats.multivariate_normal.logpdf(x1),
                               sst.multivariate_normal.logpdf(x1), rtol=1e-12)
    np.testing.assert_allclose(stats.multivariate_normal.logpdf(x1, 0.5, 2.0),
                               sst.multivariate_normal.logpdf(x1, 0.5, 2.0), rtol=1e-12)
    with pytest.raises(ValueError, match="coordinates"):
        stats.multivariate_normal.logpdf(np.ones(2), mean, _spd(rng, d))
    with pytest.raises(NotImplementedError, match="allow_singular"):
        stats.multivariate_normal.logpdf(x, mean, _spd(rng, d), allow_singular=True)


def test_multivariate_normal_derivatives():
    rng = _rng("mvn grad")
    d = 3
    x, mean, a = rng.standard_normal((2, d)), rng.standard_normal(d), rng.standard_normal((d, d))

    def f(x, mean, a):       # cov = a a^T + d I: derivatives along any direction of a
        return stats.multivariate_normal.logpdf(x, mean, a @ a.T + d * np.eye(d))
    check_grads(f, (x, mean, a), order=2)
    check_grads(lambda x, v: stats.multivariate_normal.logpdf(x, mean, v),
                (x, np.array([1.0, 2.0, 0.5])), order=2)
    g = fg.grad(lambda x: fnp.sum(stats.multivariate_normal.logpdf(x, mean, a @ a.T + np.eye(d))))
    cov = a @ a.T + np.eye(d)
    np.testing.assert_allclose(g(x), -np.linalg.solve(cov, (x - mean).T).T, rtol=1e-10)
    batched = fg.vmap(lambda m: stats.multivariate_normal.logpdf(x[0], m, cov))(
        np.stack([mean, mean + 1.0]))
    np.testing.assert_allclose(batched, [sst.multivariate_normal.logpdf(x[0], m, cov)
                                         for m in (mean, mean + 1.0)], rtol=1e-12)


# ---------------------------------------------------------------- dirichlet

def test_dirichlet():
    rng = _rng("dirichlet")
    alpha = np.array([0.7, 2.0, 3.5])
    x = rng.dirichlet(alpha, size=4).T                       # (K, N), SciPy's layout
    np.testing.assert_allclose(stats.dirichlet.logpdf(x, alpha),
                               sst.dirichlet.logpdf(x, alpha), rtol=1e-12)
    np.testing.assert_allclose(stats.dirichlet.pdf(x[:, 0], alpha),
                               sst.dirichlet.pdf(x[:, 0], alpha), rtol=1e-12)
    np.testing.assert_allclose(stats.dirichlet.logpdf(x[:2], alpha),      # K - 1 coordinates
                               sst.dirichlet.logpdf(x[:2], alpha), rtol=1e-10)
    x32 = x.astype(np.float32)
    got = stats.dirichlet.logpdf(x32, alpha.astype(np.float32))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, sst.dirichlet.logpdf(x, alpha), rtol=1e-4)
    assert stats.dirichlet.logpdf(np.array([0.5, 0.7, -0.2]), alpha) == -np.inf
    assert stats.dirichlet.logpdf(np.array([0.5, 0.6, 0.2]), alpha) == -np.inf
    check_grads(lambda x, a: stats.dirichlet.logpdf(x, a), (x[:, :2], alpha), order=2)
    with pytest.raises(ValueError, match="coordinates"):
        stats.dirichlet.logpdf(np.ones(5) / 5, alpha)


# ---------------------------------------------------------------- modules

def test_every_distribution_has_jax_s_functions():
    expected = {
        "norm": "logpdf pdf cdf logcdf sf logsf ppf isf", "t": "logpdf pdf",
        "multivariate_normal": "logpdf pdf", "poisson": "logpmf pmf cdf",
        "bernoulli": "logpmf pmf cdf ppf", "binom": "logpmf pmf", "dirichlet": "logpdf pdf",
        "beta": "logpdf pdf cdf logcdf sf logsf", "gamma": "logpdf pdf cdf logcdf sf logsf",
        "chi2": "logpdf pdf cdf logcdf sf logsf",
        "expon": "logpdf pdf cdf logcdf sf logsf ppf", "laplace": "logpdf pdf cdf",
        "logistic": "logpdf pdf cdf sf ppf isf",
        "cauchy": "logpdf pdf cdf logcdf sf logsf ppf isf", "uniform": "logpdf pdf cdf ppf",
        "truncnorm": "logpdf pdf cdf logcdf sf logsf", "geom": "logpmf pmf",
        "nbinom": "logpmf pmf", "vonmises": "logpdf pdf",
    }
    assert sorted(stats.__all__) == sorted(expected)
    for dist, names in expected.items():
        module = getattr(stats, dist)
        assert sorted(module.__all__) == sorted(names.split()), dist
        assert fg.scipy.stats is stats


def test_module_doctests():
    for dist in stats.__all__:
        module = importlib.import_module(f"funcgrad.scipy.stats.{dist}")
        result = doctest.testmod(module)
        assert result.failed == 0, dist


def test_scipy_stats_frozen_method_names_the_funcgrad_function():
    with pytest.raises(fg.errors.ConcretizationError,
                       match=r"scipy\.stats\.norm\.logpdf .*call funcgrad\.scipy\.stats\.norm"
                             r"\.logpdf instead"):
        fg.grad(lambda x: sst.norm.logpdf(x).sum())(np.ones(2))
