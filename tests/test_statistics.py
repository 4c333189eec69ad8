"""funcgrad.numpy's statistics beyond the cases of npcases_statistics.py: NaN entries get zero
derivatives (and finite entries never NaN ones), the derivatives at kinks follow JAX's
conventions, integer inputs and results follow NumPy, the errors are NumPy's (or say what
funcgrad cannot do), and the module's doctests."""
from __future__ import annotations

import doctest
import warnings

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
import funcgrad.numpy._statistics as stats
from funcgrad import tree
from funcgrad.errors import ConcretizationError


def test_doctests():
    assert doctest.testmod(stats).failed == 0


X_NAN = np.array([[1.0, np.nan, 3.0, 2.0], [np.nan] * 4, [0.5, 4.0, np.nan, -1.0]])

NAN_FUNCTIONS = {  # f(module, x), module np or fnp
    "nanmax": lambda m, x: m.nanmax(x, axis=1),
    "nanmin": lambda m, x: m.nanmin(x, axis=1),
    "nanvar": lambda m, x: m.nanvar(x, axis=1),
    "nanstd": lambda m, x: m.nanstd(x, axis=1),
    "nanstd(ddof=3)": lambda m, x: m.nanstd(x, axis=1, ddof=3),
    "nanprod": lambda m, x: m.nanprod(x, axis=1),
    "nancumsum": lambda m, x: m.nancumsum(x, axis=1),
    "nancumprod": lambda m, x: m.nancumprod(x, axis=1),
    "nanmedian": lambda m, x: m.nanmedian(x, axis=1),
    "nanquantile": lambda m, x: m.nanquantile(x, [0.3, 0.8], axis=1),
    "nanpercentile(nearest)": lambda m, x: m.nanpercentile(x, 30, axis=1, method="nearest"),
    "nanpercentile(all)": lambda m, x: m.nanpercentile(x, 70),
}


@pytest.mark.parametrize("name", NAN_FUNCTIONS)
def test_nan_entries_get_zero_derivative_and_finite_entries_no_nan(name):
    f = NAN_FUNCTIONS[name]
    loss = lambda x: fnp.nansum(f(fnp, x))  # noqa: E731  (drops the all-NaN row's NaN)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = f(np, X_NAN)
    np.testing.assert_allclose(f(fnp, X_NAN), want)
    for g in (fg.grad(loss)(X_NAN), fg.jit(fg.grad(loss))(X_NAN)):
        assert np.all(np.isfinite(g)), g
        assert np.all(g[np.isnan(X_NAN)] == 0), g


def test_derivatives_at_kinks_follow_jax():
    # the values jax.grad gives (jax 0.4, float64)
    x = np.array([3.0, 1.0, 4.0, 1.5, 9.0])
    np.testing.assert_allclose(fg.grad(lambda x: fnp.quantile(x, 0.5))(x), [1, 0, 0, 0, 0])
    np.testing.assert_allclose(fg.grad(lambda x: fnp.quantile(x, 0.3))(x), [0.2, 0, 0, 0.8, 0])
    np.testing.assert_allclose(fg.grad(lambda q: fnp.quantile(x, q))(0.3), 6.0)
    np.testing.assert_allclose(fg.grad(lambda x: fnp.quantile(x, 0.3, method="midpoint"))(x),
                               [0.5, 0, 0, 0.5, 0])
    np.testing.assert_allclose(fg.grad(lambda x: fnp.nanmedian(x))(x[:4]), [0.5, 0, 0, 0.5])
    np.testing.assert_allclose(fg.grad(fnp.nanmax)(np.array([3.0, 1.0, 3.0, np.nan])),
                               [0.5, 0, 0.5, 0])
    xp, fp = np.array([0.0, 1.0, 2.0]), np.array([0.0, 2.0, 6.0])
    dx = fg.grad(lambda x: fnp.interp(x, xp, fp))
    assert [float(dx(v)) for v in (-1.0, 0.0, 1.0, 2.0, 3.0)] == [0.0, 2.0, 4.0, 4.0, 0.0]
    np.testing.assert_allclose(fg.grad(lambda xp: fnp.interp(1.0, xp, fp))(xp), [0, -4, 0])
    np.testing.assert_allclose(fg.grad(lambda fp: fnp.interp(1.0, xp, fp))(fp), [0, 1, 0])
    np.testing.assert_allclose(fg.grad(lambda p: fnp.unwrap(p).sum())(np.array([0, 3, 6.5])),
                               [1, 1, 1])


def test_integer_inputs_and_q_follow_numpy():
    a = np.array([[7, 1, 4, 3], [2, 9, 5, 6]])
    for q, kw in [(0.4, {}), (1, {}), (np.array([0, 1]), {}), (0.4, {"method": "lower"}),
                  (np.array([0.25, 0.5], np.float32), {"axis": 1}), (0.5, {"axis": 0})]:
        for name in ("quantile", "nanquantile"):
            got, want = getattr(fnp, name)(a, q, **kw), getattr(np, name)(a, q, **kw)
            assert np.asarray(got).dtype == np.asarray(want).dtype, (name, q, kw)
            np.testing.assert_allclose(got, want)
    assert fnp.nanmedian(a).dtype == np.float64
    np.testing.assert_array_equal(fnp.nanmax(a, axis=0), np.nanmax(a, axis=0))
    np.testing.assert_array_equal(fnp.nanargmin(a, axis=1), np.nanargmin(a, axis=1))
    np.testing.assert_allclose(fnp.nanvar(a, axis=1), np.nanvar(a, axis=1))
    np.testing.assert_allclose(fnp.gradient(a[0]), np.gradient(a[0]))
    np.testing.assert_allclose(fnp.cov(a), np.cov(a))
    # a NaN in a slice makes quantile (not nanquantile) NaN there, as in NumPy
    b = np.array([[1.0, np.nan, 2.0], [1.0, 3.0, 2.0]])
    np.testing.assert_array_equal(fnp.quantile(b, 0.5, axis=1), np.quantile(b, 0.5, axis=1))
    np.testing.assert_array_equal(fg.jit(lambda b: fnp.percentile(b, [5, 60], axis=1))(b),
                                  np.percentile(b, [5, 60], axis=1))


def test_counting_searching_and_ranges():
    rng = np.random.default_rng(0)
    a = np.sort(rng.normal(size=1000))
    v = np.concatenate([rng.normal(size=50) * 2, a[::97], [np.nan, np.inf, -np.inf]])
    for side in ("left", "right"):
        got = fg.jit(lambda a, v, s=side: fnp.searchsorted(a, v, side=s))(a, v)
        np.testing.assert_array_equal(got, np.searchsorted(a, v, side=side))
    x = np.array([0, 3, 3, 1, 7])
    np.testing.assert_array_equal(fnp.bincount(x, minlength=9), np.bincount(x, minlength=9))
    g = fg.grad(lambda w, x: fnp.bincount(x, weights=w)[3])(np.ones(5), x)  # traced x, eager
    np.testing.assert_array_equal(g, [0, 1, 1, 0, 0])
    assert fnp.bincount(np.array([], int)).shape == (0,)
    y = rng.normal(size=200)
    for bins in ("auto", "fd", "sturges"):
        got = fnp.histogram(y, bins=bins)
        want = np.histogram(y, bins=bins)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_allclose(got[1], want[1])
    # string rules pick the number of bins; the edges stay differentiable (min and max of y)
    g = fg.grad(lambda y: fnp.histogram(y, bins="fd")[1][-1])(y)
    assert g[np.argmax(y)] == 1.0 and g.sum() == 1.0
    # linspace, logspace, geomspace of concrete values are NumPy's; traced ends differentiate
    assert fnp.linspace(0, 1, 5).dtype == np.float64 and "linspace" not in \
        fnp._creation._NUMPY_NAMES
    np.testing.assert_array_equal(fnp.linspace(0, 10, 4, dtype=int), np.linspace(0, 10, 4,
                                                                                 dtype=int))
    np.testing.assert_allclose(fg.jacfwd(lambda a: fnp.linspace(a, 2.0, 5))(1.0),
                               [1, 0.75, 0.5, 0.25, 0])
    np.testing.assert_allclose(fg.grad(lambda a: fnp.geomspace(a, 8.0, 4).sum())(1.0),
                               1 + 2 / 3 * 2 + 1 / 3 * 4)    # d/da of a^(1-k/3) 8^(k/3)
    np.testing.assert_allclose(fg.jit(lambda a: fnp.logspace(a, 3.0, 4))(0.0),
                               np.logspace(0.0, 3.0, 4))
    # log10 rounded as NumPy's: 10 ** log10(1000) / 3 * k lands on the integers
    np.testing.assert_array_equal(fg.jit(lambda a: fnp.geomspace(a, 1000, 4, dtype=int))(1.0),
                                  np.geomspace(1.0, 1000, 4, dtype=int))


def test_traced_nanargmax_gives_minus_one_for_all_nan_slices():
    x = np.array([[np.nan, np.nan], [1.0, np.nan]])
    np.testing.assert_array_equal(fg.jit(lambda x: fnp.nanargmax(x, axis=1))(x), [-1, 0])
    with pytest.raises(ValueError, match="All-NaN slice"):
        fnp.nanargmax(x, axis=1)


@pytest.mark.parametrize("f,error,message", [
    (lambda: fnp.quantile(np.ones(3), 1.5), ValueError, "Quantiles must be in the range"),
    (lambda: fnp.percentile(np.ones(3), [-1, 50]), ValueError, "Percentiles must be"),
    (lambda: fnp.quantile(np.ones(3), 0.5, method="cubic"), ValueError, "not a valid method"),
    (lambda: fnp.quantile(np.ones(3), np.full((2, 2), 0.5)), ValueError, "scalar or 1d"),
    (lambda: fnp.quantile(np.ones(3) * 1j, 0.5), TypeError, "real numbers"),
    (lambda: fnp.quantile(np.ones(3), 0.5, weights=np.ones(3)), ValueError,
     "Only method 'inverted_cdf' supports weights"),
    (lambda: fnp.quantile(np.ones(3), 0.5, method="inverted_cdf", weights=-np.ones(3)),
     ValueError, "non-negative"),
    (lambda: fnp.quantile(np.ones(3), 0.5, method="inverted_cdf", weights=np.zeros(3)),
     ValueError, "all zero"),
    (lambda: fnp.quantile(np.ones((2, 3)), 0.5, axis=1, method="inverted_cdf",
                          weights=np.ones(2)), ValueError, "consistent with shape"),
    (lambda: fnp.quantile(np.ones((2, 3)), 0.5, method="inverted_cdf", weights=np.ones(3)),
     TypeError, "Axis must be specified"),
    (lambda: fnp.bincount(np.array([1, -1])), ValueError, "negative"),
    (lambda: fnp.bincount(np.array([1.0])), TypeError, "safe"),
    (lambda: fnp.bincount(np.ones((2, 2), int)), ValueError, "too deep"),
    (lambda: fg.jit(fnp.bincount)(np.array([1, 2])), ConcretizationError, "bincount"),
    (lambda: fg.jit(lambda y: fnp.histogram(y, "auto"))(np.ones(3)), ConcretizationError,
     "histogram_bin_edges"),
    (lambda: fnp.histogram(np.ones(3), bins=0), ValueError, "must be positive"),
    (lambda: fnp.histogram(np.ones(3), bins=[2.0, 1.0]), ValueError, "monotonically"),
    (lambda: fnp.histogram(np.ones(3), range=(2.0, 1.0)), ValueError, "max must be larger"),
    (lambda: fnp.digitize(np.ones(3), np.array([1.0, 3.0, 2.0])), ValueError, "monotonically"),
    (lambda: fnp.interp(1.0, [0.0, 1.0], [0.0, 1.0], period=0), ValueError, "non-zero"),
    (lambda: fnp.interp(1.0, [0.0, 1.0], [0.0]), ValueError, "same length"),
    (lambda: fnp.interp(1.0, [], []), ValueError, "empty"),
    (lambda: fnp.gradient(np.ones(3), edge_order=3), ValueError, "greater than 2"),
    (lambda: fnp.gradient(np.ones(2), edge_order=2), ValueError, "too small"),
    (lambda: fnp.gradient(np.ones((3, 3)), 1.0, 2.0, 3.0), TypeError, "number of arguments"),
    (lambda: fnp.gradient(np.ones(3), np.ones(4)), ValueError, "must match"),
    (lambda: fnp.cumulative_sum(np.ones((2, 2))), ValueError, "axis must be specified"),
    (lambda: fnp.ediff1d(np.ones(3, int), to_end=0.5), TypeError, "same_kind"),
    (lambda: fnp.searchsorted(np.ones(3), 1.0, side="middle"), ValueError, "side"),
    (lambda: fnp.cov(np.ones((2, 2, 2))), ValueError, "more than 2 dimensions"),
    (lambda: fnp.cov(np.ones((2, 3)), ddof=1.5), ValueError, "ddof must be integer"),
    (lambda: fnp.linspace(fnp.asarray(0.0), 1.0, -1), ValueError, "non-negative"),
    (lambda: fg.grad(lambda a: fnp.linspace(a, 1.0, -1).sum())(0.0), ValueError,
     "non-negative"),
    (lambda: fnp.nanvar(np.ones(3), mean=np.ones(1)), NotImplementedError, "mean"),
])
def test_errors(f, error, message):
    with pytest.raises(error, match=message):
        f()


X = np.arange(12.0).reshape(3, 4)
EDGE_CASES = [  # f(module)
    lambda m: m.nanquantile(np.ones((0, 3)), 0.5, axis=0),
    lambda m: m.nanmedian(np.ones((0, 3), np.float32), axis=0),
    lambda m: m.quantile(X, [], axis=0),
    lambda m: m.quantile(np.float64(3), 0.5),
    lambda m: m.quantile(X.astype(np.float32), np.float64(0.3)),
    lambda m: m.quantile(np.array([1.0, -np.inf, np.inf]), [0.5]),
    lambda m: m.percentile(X, np.array([10, 50]), axis=1),
    lambda m: m.cumulative_sum(np.float64(2), include_initial=True),
    lambda m: m.cumulative_prod(np.arange(1, 4, dtype=np.int32), dtype=np.float32),
    lambda m: m.trapezoid(np.ones(1)),
    lambda m: m.gradient(X, np.array([0, 1, 3]), np.array([0, 1, 2, 3]), edge_order=2),
    lambda m: m.cov(np.array([[1.0], [2.0]])),           # no degrees of freedom: NaN
    lambda m: m.cov(X, dtype=np.float32),
    lambda m: m.cov(X, fweights=[1, 2, 1, 1], aweights=np.array([0.5, 1.0, 2.0, 1.0])),
    lambda m: m.corrcoef(np.array([1.0, 2.0, 4.0])),
    lambda m: m.ediff1d(X, to_begin=np.array([[1.0]])),
    lambda m: m.unwrap(np.array([0, 5, 10, 2]), period=6),
    lambda m: m.interp([1.0, 1.5, 2.0, 2.5], [1.0, 2.0, 2.0, 3.0], [0.0, 1.0, 5.0, 6.0]),
    lambda m: m.interp([np.nan, 0.0, 1.0], [1.0], [5.0]),
    lambda m: m.interp([-1.0, 7.5], [0.0, 2.0, 4.0], [1.0, 3.0, 0.0], period=-6),
    lambda m: m.digitize(np.array([1.0, 2.0]), np.array([])),
    lambda m: m.histogram(np.ones(0)),
    lambda m: m.histogram(np.ones(5), bins=3),
    lambda m: m.histogram(np.array([1, 2, 2, 5]), bins=2),
    lambda m: m.histogram_bin_edges(np.ones(3, np.float32), bins=4, range=(0, 2)),
    lambda m: m.nanmax(np.array([1.0, np.nan, 3.0]), initial=0.0,
                       where=np.array([True, True, False])),
    lambda m: m.nanvar(np.array([1.0, np.nan, 3.0, 7.0]),
                       where=np.array([True, True, True, False])),
    lambda m: m.nanargmin(np.array([[np.nan, 2.0], [1.0, 0.5]])),
]


@pytest.mark.parametrize("i", range(len(EDGE_CASES)))
def test_edge_cases_match_numpy_eagerly_and_traced(i):
    f = EDGE_CASES[i]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = [np.asarray(w) for w in tree.leaves(f(np))]
    for got in (f(fnp), fg.jit(lambda: f(fnp))()):
        got = [np.asarray(g) for g in tree.leaves(got)]
        assert [(g.shape, g.dtype) for g in got] == [(w.shape, w.dtype) for w in want]
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-12)


def test_quantile_of_nothing_raises_like_numpy():
    with pytest.raises(IndexError):
        fnp.quantile(np.ones((0, 3)), 0.5, axis=0)
