"""The polynomial functions (funcgrad/numpy/_polynomial.py) beyond the cases of test_numpy
(tests/npcases_polynomial.py): polyfit against NumPy with weights and its derivatives, the
roots/poly round trip, what depends on values (trimmed zeros, real results) with concrete and
traced inputs, integer dtypes, errors, np.poly1d, and the module's doctests."""
from __future__ import annotations

import doctest
import warnings

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.numpy import _polynomial
from funcgrad.test_util import check_grads

RNG = np.random.default_rng(0)


def same(got, want, rtol=1e-12, atol=1e-12):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (got, want)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


# ---------------------------------------------------------------- polyfit

@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("ycols", [None, 3])
def test_polyfit_with_weights_matches_numpy(dt, ycols):
    x = np.linspace(-2, 3, 12).astype(dt)
    y = RNG.normal(size=(12,) if ycols is None else (12, ycols)).astype(dt)
    w = RNG.uniform(0.2, 3.0, 12).astype(dt)
    for kw in ({}, {"full": True}, {"cov": True}, {"cov": "unscaled"}, {"rcond": 1e-4}):
        want = np.polyfit(x, y, 3, w=w, **kw)
        got = fnp.polyfit(x, y, 3, w=w, **kw)
        traced = fg.jit(lambda x, y, w, kw=kw: fnp.polyfit(x, y, 3, w=w, **kw))(x, y, w)
        if kw.get("full"):          # rank: an int32 array here, an int in NumPy
            assert int(got[2]) == int(traced[2]) == want[2] == 4 and got[4] == want[4]
            got, traced, want = got[:2] + got[3:4], traced[:2] + traced[3:4], \
                want[:2] + want[3:4]
        for g, t, ww in zip(*(r if isinstance(r, tuple) else (r,)
                              for r in (got, traced, want))):
            same(g, ww, rtol=1e-9, atol=1e-10)
            same(t, ww, rtol=1e-9, atol=1e-10)


def test_polyfit_derivatives_in_x_y_and_w():
    x, y = np.linspace(-1, 1, 8), RNG.normal(size=8)
    w = RNG.uniform(0.5, 2.0, 8)
    check_grads(lambda x, y, w: fnp.polyfit(x, y, 2, w=w), (x, y, w), order=1)
    check_grads(lambda x, y: fnp.polyfit(x, y, 2, cov=True)[1], (x, y), order=1)
    # the fitted polynomial recovers an exact one, and the fit's derivative in y is the
    # (scaled) pseudo-inverse of the Vandermonde matrix
    c = fnp.polyfit(x, np.polyval([0.5, -1.0, 2.0], x), 2)
    np.testing.assert_allclose(c, [0.5, -1.0, 2.0], rtol=1e-12)
    jac = fg.jacrev(lambda y: fnp.polyfit(x, y, 2))(y)
    np.testing.assert_allclose(jac, np.linalg.pinv(np.vander(x, 3)), atol=1e-12)


def test_polyfit_rank_warning_with_concrete_values_only():
    x, y = np.array([1.0, 1.0, 1.0, 2.0]), np.arange(4.0)
    with pytest.warns(np.exceptions.RankWarning):
        want = np.polyfit(x, y, 2)
    with pytest.warns(np.exceptions.RankWarning):
        got = fnp.polyfit(x, y, 2)
    np.testing.assert_allclose(got, want, atol=1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fg.jit(lambda x, y: fnp.polyfit(x, y, 2))(x, y)      # the rank is traced: no warning


# ---------------------------------------------------------------- roots and poly

def test_roots_and_poly_round_trip():
    r = np.array([-2.0, -0.5, 1.0, 1.5 + 0.5j, 1.5 - 0.5j])
    p = np.real(np.poly(r)) * 3.0
    got = fnp.roots(p)
    assert got.dtype == np.complex128
    np.testing.assert_allclose(np.sort_complex(got), np.sort_complex(r), atol=1e-10)
    back = fnp.poly(got)                # concrete conjugate pairs: real, as NumPy
    same(back, np.poly(np.roots(p)), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(back, p / 3.0, atol=1e-10)
    traced = fg.jit(lambda p: fnp.poly(fnp.roots(p)))(p)
    assert traced.dtype == np.complex128            # traced: complex, real part is NumPy's
    np.testing.assert_allclose(traced.real, p / 3.0, atol=1e-10)
    np.testing.assert_allclose(traced.imag, 0.0, atol=1e-10)
    # float32 stays single precision
    assert fnp.roots(p.astype(np.float32)).dtype == np.complex64
    assert fnp.poly(r.real.astype(np.float32)).dtype == np.float32
    assert fnp.poly(np.eye(3, dtype=np.float32)).dtype == np.float32


def test_roots_derivative_is_implicit_function_derivative():
    p = np.array([2.0, -3.0, -11.0, 6.0])              # roots 3, -2, 1/2
    r = np.roots(p).real
    jac = fg.jacfwd(lambda p: fnp.real(fnp.roots(p)))(p)
    # p(r) = 0: dr/dp_k = -r**(n-k) / p'(r)
    want = -np.vander(r, 4) / np.polyval(np.polyder(p), r)[:, None]
    np.testing.assert_allclose(jac, want, rtol=1e-10, atol=1e-12)
    check_grads(lambda p: fnp.real(fnp.roots(p)), (p,), order=2)
    check_grads(lambda a: fnp.poly(a), (RNG.normal(size=(3, 3)),), order=1)


def test_value_dependent_results_concrete_and_traced():
    p = np.array([0.0, 0.0, 1.0, -3.0, 2.0, 0.0, 0.0])
    want = np.roots(p)                                  # leading zeros stripped, 0s at the end
    same(fnp.roots(p), want.astype(complex))
    traced = fg.jit(fnp.roots)(p[2:])                   # trailing zeros: roots 0, some order
    np.testing.assert_allclose(np.sort_complex(traced), [0, 0, 1, 2], atol=1e-12)
    with pytest.raises(np.linalg.LinAlgError):          # a leading zero under tracing
        fg.jit(fnp.roots)(p)
    same(fnp.roots(np.zeros(3)), np.zeros(0, complex))
    same(fnp.roots([4.0]), np.zeros(0, complex))
    # polydiv: NumPy strips the remainder's leading entries within 1e-8 of 0, by value
    for u, v in [(np.ones(3, np.float32), np.ones(2, np.float32)),   # float32 residue kept
                 (np.array([1.0, 3.0, 2.0]), np.array([1.0, 1.0])),  # remainder exactly 0
                 (np.array([1.0, 2.0]), np.array([1.0, 0.0, 1.0])),  # u shorter than v
                 (np.array([0.0, 0.0, 5.0]), np.array([1.0, 2.0, 0.5, 1.0]))]:
        for g, w in zip(fnp.polydiv(u, v), np.polydiv(u, v)):
            same(g, w)
    q, r = fg.jit(fnp.polydiv)(np.array([1.0, 3.0, 2.0, 5.0]), np.array([1.0, 1.0, 0.0]))
    assert q.shape == (2,) and r.shape == (2,)          # traced: len(v) - 1
    q, r = fg.jit(fnp.polydiv)(np.array([1.0, 3.0]), np.array([2.0]))
    assert q.shape == (2,) and r.shape == (1,)          # at least one entry


@pytest.mark.parametrize("f", [
    lambda m, p, x: m.polyval(p, x), lambda m, p, x: m.polyadd(p, x),
    lambda m, p, x: m.polysub(p, x), lambda m, p, x: m.polymul(p, x),
    lambda m, p, x: m.polyder(p, 2), lambda m, p, x: m.polyint(p, 2),
    lambda m, p, x: m.polydiv(p, x), lambda m, p, x: m.vander(x, 4),
    lambda m, p, x: m.polyfit(x, p, 1), lambda m, p, x: m.poly(x),
    lambda m, p, x: m.polyval(p.astype(np.float32), x),
    lambda m, p, x: m.polyval(p, x.astype(np.float32)),
])
def test_integer_and_mixed_dtypes_follow_numpy(f):
    p, x = np.array([3, -1, 2]), np.array([1, 2, 4], np.int32)
    want = f(np, p, x)
    for got in (f(fnp, p, x), fg.jit(lambda p, x: f(fnp, p, x))(p, x)):
        for g, w in zip(*(r if isinstance(r, tuple) else (r,) for r in (got, want))):
            same(g, w)


# ---------------------------------------------------------------- errors and np.poly1d

@pytest.mark.parametrize("call,err,match", [
    (lambda: fnp.polyder([1.0, 2.0], -1), ValueError, "positive"),
    (lambda: fnp.polyint([1.0, 2.0], 3, k=[1.0, 2.0]), ValueError, "length 1 or >m"),
    (lambda: fnp.polyfit(np.ones(3), np.ones(3), -1), ValueError, "deg >= 0"),
    (lambda: fnp.polyfit(np.ones((3, 1)), np.ones(3), 1), TypeError, "1D vector for x"),
    (lambda: fnp.polyfit(np.ones(3), np.ones(4), 1), TypeError, "same length"),
    (lambda: fnp.polyfit(np.arange(3.0), np.ones(3), 1, w=np.ones(2)), TypeError, "same len"),
    (lambda: fnp.roots(np.ones((2, 2))), ValueError, "rank-1"),
    (lambda: fnp.poly(np.ones((2, 3))), ValueError, "square 2d"),
    (lambda: fnp.vander(np.ones((2, 2))), ValueError, "one-dimensional"),
    (lambda: fnp.polyval(np.float64(1.0), 2.0), TypeError, "1-D"),
    (lambda: fnp.polymul([], [1.0]), ValueError, "empty"),
    (lambda: fg.jit(lambda d: fnp.polyfit(np.arange(3.0), np.ones(3), d))(1), TypeError,
     "deg must be an integer known when tracing"),
    (lambda: fg.jit(lambda p: fnp.polyadd(np.poly1d([1.0, 2.0]), p))(np.ones(2)), TypeError,
     "np.poly1d cannot hold traced coefficients"),
])
def test_errors(call, err, match):
    with pytest.raises(err, match=match):
        call()


def test_poly1d_inputs():
    a, b = np.poly1d([1.0, 2.0]), np.poly1d([1.0, -1.0, 3.0])
    for name in ("polyadd", "polysub", "polymul", "polydiv"):
        got, want = getattr(fnp, name)(a, b), getattr(np, name)(a, b)
        for g, w in zip(*(r if isinstance(r, tuple) else (r,) for r in (got, want))):
            assert isinstance(g, np.poly1d) and g == w
    assert fnp.polyder(b) == np.polyder(b) and fnp.polyint(b) == np.polyint(b)
    assert fnp.polyval(b, a) == np.polyval(b, a)
    # a concrete poly1d evaluated at a traced point goes through np.polyval -> fnp.polyval
    g = fg.grad(lambda x: b(x))(2.0)
    np.testing.assert_allclose(g, np.polyval(np.polyder(b), 2.0))


def test_module_doctests():
    result = doctest.testmod(_polynomial)
    assert result.failed == 0 and result.attempted > 0
