"""The last of NumPy's array functions: piecewise, histogramdd/histogram2d, fromfunction, the
asarray variants, and the constant-input functions funcgrad takes from NumPy."""
from __future__ import annotations

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.test_util import check_grads

X = np.linspace(-2.0, 2.0, 9) + 0.013


@pytest.mark.parametrize("conds, funcs, extra", [
    (lambda x: [x < 0, x > 1], [lambda v: -v, lambda v: v * v, 0.5], ()),
    (lambda x: [x < 0], [np.sin, 3.0], ()),
    (lambda x: [x < 0, x > -1], [1.0, 2.0], ()),                # overlapping: the later wins
    (lambda x: x > 0.5, [lambda v: v ** 3], ()),                  # one condition, no list
    (lambda x: [x < 0, x > 1], [lambda v, k: v * k, lambda v, k: -k, 0.0], (2.5,)),
])
def test_piecewise_matches_numpy_traced_and_differentiated(conds, funcs, extra):
    want = np.piecewise(X, conds(X), funcs, *extra)
    f = lambda x: fnp.piecewise(x, conds(x), funcs, *extra)      # noqa: E731
    for got in (f(X), fg.jit(f)(X)):
        np.testing.assert_allclose(got, want, rtol=1e-14)
        assert got.dtype == want.dtype
    check_grads(lambda x: fnp.sum(f(x) ** 2), (X,), order=2)


def test_piecewise_integer_and_scalar_inputs():
    i = np.arange(-3, 4)
    np.testing.assert_array_equal(fnp.piecewise(i, [i < 0], [lambda v: v * 2, 7]),
                                  np.piecewise(i, [i < 0], [lambda v: v * 2, 7]))
    x = np.array(0.5)
    assert fnp.piecewise(x, x > 0, [lambda v: v * 2, 0.0]) == 1.0
    with pytest.raises(ValueError, match="piecewise: with 1 condition"):
        fnp.piecewise(X, [X > 0], [1.0, 2.0, 3.0])


SAMPLE = np.random.default_rng(0).normal(size=(40, 3))
W = np.random.default_rng(1).uniform(size=40)


@pytest.mark.parametrize("kw", [
    {"bins": 4}, {"bins": [2, 3, 4], "weights": W}, {"bins": 3, "density": True},
    {"bins": 3, "range": [(-1, 1), (-2, 2), (0, 1)], "weights": W, "density": True},
])
def test_histogramdd_matches_numpy_under_jit(kw):
    want = np.histogramdd(SAMPLE, **kw)
    got = fg.jit(lambda s: fnp.histogramdd(s, **kw))(SAMPLE)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
    assert got[0].dtype == want[0].dtype
    for e, f in zip(got[1], want[1]):
        np.testing.assert_allclose(e, f, rtol=1e-12)


def test_histogram2d_matches_numpy_and_its_weights_are_differentiable():
    x, y = SAMPLE[:, 0], SAMPLE[:, 1]
    want = np.histogram2d(x, y, bins=[3, 4], weights=W)
    got = fg.jit(lambda x, y, w: fnp.histogram2d(x, y, bins=[3, 4], weights=w))(x, y, W)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12)
    # d/dw_i sum(h**2) = 2 h[bin of i]
    grad = fg.grad(lambda w: fnp.sum(fnp.histogram2d(x, y, bins=3, weights=w)[0] ** 2))(W)
    h, ex, ey = np.histogram2d(x, y, bins=3, weights=W)
    ix = np.clip(np.searchsorted(ex, x, side="right") - 1, 0, 2)
    iy = np.clip(np.searchsorted(ey, y, side="right") - 1, 0, 2)
    np.testing.assert_allclose(grad, 2 * h[ix, iy], rtol=1e-12)


def test_fromfunction_and_asarray_variants():
    np.testing.assert_array_equal(fnp.fromfunction(lambda i, j: i * 10 + j, (2, 3), dtype=int),
                                  np.fromfunction(lambda i, j: i * 10 + j, (2, 3), dtype=int))
    g = fg.grad(lambda s: fnp.sum(fnp.fromfunction(lambda i, j: s * i + j, (2, 3))))(1.5)
    assert g == 3.0                                     # sum of i over the grid
    for f in (fnp.asanyarray, fnp.ascontiguousarray, fnp.asfortranarray):
        assert fg.grad(lambda x, f=f: fnp.sum(f(x) * 2.0))(1.5) == 2.0
        np.testing.assert_array_equal(f([[1.0, 2.0]]), getattr(np, f.__name__)([[1.0, 2.0]]))
    assert fnp.ascontiguousarray(3.0).shape == np.ascontiguousarray(3.0).shape == (1,)


def test_constant_input_functions_are_numpys():
    for name in ("bartlett", "blackman", "hamming", "hanning", "kaiser", "einsum_path",
                 "min_scalar_type", "common_type"):
        assert getattr(fnp, name) is getattr(np, name)
