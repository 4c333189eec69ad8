"""funcgrad.scipy.special against scipy.special: every function in float64 and float32 with
broadcasting; derivatives to order 2; vmap against a loop; jit(grad) against grad; the stable
tails (log_ndtr, logsumexp with negative weights, xlogy at 0, expit at +-1e4); SciPy's own
ufuncs on traced values; the errors for SciPy functions that cannot trace; and life without
SciPy (what needs it says what to install, the rest works)."""
from __future__ import annotations

import doctest
import math
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest
import scipy.special as sps

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.errors import ConcretizationError
from funcgrad.prims import special_functions as sf
from funcgrad.scipy import special as fsp
from funcgrad.test_util import check_grads


def _rng(*key):
    return np.random.default_rng([77, *[zlib.crc32(str(k).encode()) for k in key]])


# ---------------------------------------------------------------- the table
#
# name: the domains of its arguments (values compared with SciPy there, edges included by
# `EDGES`), and the arguments it is differentiable in (with domains away from kinks and poles).

ELEMENTWISE = {
    # name: ([value domain per argument], [derivative domain per argument or None])
    "erf": ([(-4, 4)], [(-2, 2)]),
    "erfc": ([(-4, 12)], [(-2, 3)]),
    "erfinv": ([(-0.99, 0.99)], [(-0.9, 0.9)]),
    "erfcx": ([(-3, 40)], [(-2, 5)]),
    "gamma": ([(0.05, 10)], [(0.3, 4)]),
    "gammaln": ([(0.05, 60)], [(0.3, 6)]),
    "digamma": ([(0.05, 30)], [(0.3, 6)]),
    "psi": ([(0.05, 30)], [(0.3, 6)]),
    "ndtri": ([(0.001, 0.999)], [(0.05, 0.95)]),
    "i0": ([(-6, 6)], [(-3, 3)]),
    "i0e": ([(-60, 60)], [(0.2, 4)]),
    "i1": ([(-6, 6)], [(-3, 3)]),
    "i1e": ([(-60, 60)], [(0.2, 4)]),
    "expit": ([(-60, 60)], [(-5, 5)]),
    "log_expit": ([(-60, 60)], [(-5, 5)]),
    "logit": ([(0.001, 0.999)], [(0.05, 0.95)]),
    "ndtr": ([(-12, 12)], [(-4, 4)]),
    "log_ndtr": ([(-60, 12)], [(-8, 5)]),
    "entr": ([(-1, 3)], [(0.2, 3)]),
    "sinc": ([(-3, 3)], [(-2, 2)]),
    "beta": ([(0.1, 5), (0.1, 5)], [(0.5, 3), (0.5, 3)]),
    "betaln": ([(0.1, 50), (0.1, 50)], [(0.5, 3), (0.5, 3)]),
    "gammainc": ([(0.1, 5), (0.0, 10)], [None, (0.3, 4)]),
    "gammaincc": ([(0.1, 5), (0.0, 10)], [None, (0.3, 4)]),
    "xlogy": ([(-2, 2), (0.0, 3)], [(-2, 2), (0.2, 3)]),
    "xlog1py": ([(-2, 2), (-0.9, 3)], [(-2, 2), (-0.8, 3)]),
    "rel_entr": ([(-0.5, 2), (-0.5, 2)], [(0.2, 2), (0.2, 2)]),
    "kl_div": ([(-0.5, 2), (-0.5, 2)], [(0.2, 2), (0.2, 2)]),
    "zeta": ([(1.1, 6), (0.1, 5)], [None, (0.3, 3)]),
    "betainc": ([(0.2, 5), (0.2, 5), (0.0, 1.0)], [None, None, (0.1, 0.9)]),
}
# values where the functions have edges or conventions, checked against SciPy too
EDGES = {
    "xlogy": [(0.0, 0.0), (0.0, 3.0), (2.0, 0.0), (0.0, -1.0), (0.0, np.inf), (-1.5, 0.5)],
    "xlog1py": [(0.0, -1.0), (0.0, 2.0), (2.0, -1.0), (0.0, -3.0)],
    "entr": [(0.0,), (-1.0,), (np.inf,)],
    "rel_entr": [(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (0.0, -1.0), (0.0, np.inf), (-1.0, 1.0)],
    "kl_div": [(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (0.0, -1.0), (0.0, np.inf), (-1.0, 1.0)],
    "logit": [(0.0,), (1.0,), (0.3,), (0.65,), (0.5,), (1.5,)],
    "expit": [(-1e4,), (1e4,)],
    "log_expit": [(-1e4,), (1e4,)],
    "log_ndtr": [(-40.0,), (10.0,), (-1e5,), (40.0,), (0.0,)],
    "ndtr": [(-40.0,), (10.0,), (0.0,)],
    "erfcx": [(1e5,), (-5.0,)],
    "gammainc": [(1.0, 0.0), (2.0, 0.0)],
    "gammaincc": [(1.0, 0.0), (2.0, 0.0)],
}
SHAPES = [(5, 1), (4,), (1, 4)]         # the arguments broadcast to (5, 4)


def _args(name, rng, dtype, domains=None):
    doms = domains or ELEMENTWISE[name][0]
    return [np.asarray(rng.uniform(lo, hi, SHAPES[i % len(SHAPES)]), dtype)
            for i, (lo, hi) in enumerate(doms)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_values_match_scipy(name, dtype):
    rng = _rng(name)
    args = _args(name, rng, dtype)
    expected = getattr(sps, name)(*args)
    got = getattr(fsp, name)(*args)
    assert np.asarray(got).dtype == np.asarray(expected).dtype == dtype, name
    assert np.shape(got) == (5, 4) if len(args) > 1 else (5, 1)
    tol = dict(rtol=1e-12, atol=1e-300) if dtype == np.float64 else dict(rtol=5e-6, atol=1e-6)
    np.testing.assert_allclose(got, expected, **tol, err_msg=name)
    for point in EDGES.get(name, []):
        point = [np.asarray(v, dtype) for v in point]
        with np.errstate(all="ignore"):
            want = getattr(sps, name)(*point)
        np.testing.assert_allclose(getattr(fsp, name)(*point), want, **tol,
                                   err_msg=f"{name}{tuple(map(float, point))}")


def test_python_scalars_are_weak_and_integers_compute_in_float64():
    x32 = np.linspace(0.1, 0.9, 3).astype(np.float32)
    for name in ("xlogy", "xlog1py", "rel_entr", "kl_div", "beta", "gammainc"):
        assert getattr(fsp, name)(x32, 2.0).dtype == np.float32, name
        assert getattr(fsp, name)(2.0, x32).dtype == np.float32, name
    for name in ("expit", "logit", "log_expit", "ndtr", "log_ndtr", "entr", "erf", "gammaln"):
        assert np.asarray(getattr(fsp, name)(np.arange(1, 3))).dtype == np.float64, name
    assert fsp.polygamma(2, x32).dtype == np.float32        # x's dtype (SciPy: float64)
    assert fsp.logsumexp(x32).dtype == np.float32
    assert fsp.softmax(x32).dtype == np.float32


def test_polygamma_zeta_and_multigammaln():
    x = np.array([0.3, 1.0, 2.5, 7.0])
    for n in range(4):
        np.testing.assert_allclose(fsp.polygamma(n, x), sps.polygamma(n, x), rtol=1e-12)
    np.testing.assert_allclose(fsp.polygamma(np.array([[0], [1], [3]]), x),
                               sps.polygamma(np.array([[0], [1], [3]]), x), rtol=1e-12)
    # Riemann's zeta (q=None), also below 1 where SciPy's two-argument form gives NaN
    s = np.array([-2.5, -1.0, 0.0, 0.5, 2.0, 4.5])
    np.testing.assert_allclose(fsp.zeta(s), sps.zeta(s), rtol=1e-13)
    np.testing.assert_allclose(fsp.zeta(s, 1.0), sps.zeta(s), rtol=1e-13)
    np.testing.assert_allclose(fsp.zeta(2.5, x), sps.zeta(2.5, x), rtol=1e-13)
    for d in (1, 2, 3, 5):
        a = np.array([2.6, 3.0, 7.5])
        np.testing.assert_allclose(fsp.multigammaln(a, d), sps.multigammaln(a, d), rtol=1e-13)
    assert np.isnan(fsp.multigammaln(0.9, 3))              # SciPy raises: a <= (d - 1) / 2
    for bad in (0, 2.5, -1, np.array([1, 2])):
        with pytest.raises(ValueError, match="positive integer"):
            fsp.multigammaln(3.0, bad)
    np.testing.assert_allclose(fsp.betainc(2.0, 3.0, x / 8), sps.betainc(2.0, 3.0, x / 8),
                               rtol=1e-13)


# ---------------------------------------------------------------- reductions

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_logsumexp_softmax_log_softmax_match_scipy(dtype):
    rng = _rng("lse")
    a = np.asarray(rng.normal(0, 3, (3, 4, 2)), dtype)
    b = np.asarray(rng.normal(0, 1, (4, 1)), dtype)            # some negative weights
    tol = dict(rtol=1e-12) if dtype == np.float64 else dict(rtol=2e-6, atol=2e-6)
    for axis in (None, 0, -1, (0, 2)):
        for keepdims in (False, True):
            got = fsp.logsumexp(a, axis=axis, keepdims=keepdims)
            want = sps.logsumexp(a, axis=axis, keepdims=keepdims)
            assert np.shape(got) == np.shape(want) and np.asarray(got).dtype == dtype
            np.testing.assert_allclose(got, want, **tol)
            got = fsp.logsumexp(a, axis=axis, b=b, keepdims=keepdims, return_sign=True)
            want = sps.logsumexp(a, axis=axis, b=b, keepdims=keepdims, return_sign=True)
            np.testing.assert_allclose(got[0], want[0], **tol)
            np.testing.assert_array_equal(got[1], want[1])
            with np.errstate(invalid="ignore"):
                np.testing.assert_allclose(fsp.logsumexp(a, axis=axis, b=b),
                                           sps.logsumexp(a, axis=axis, b=b), **tol)
        np.testing.assert_allclose(fsp.softmax(a, axis=axis), sps.softmax(a, axis=axis), **tol)
        np.testing.assert_allclose(fsp.log_softmax(a, axis=axis),
                                   sps.log_softmax(a, axis=axis), **tol)


def test_logsumexp_edges():
    big = np.array([1e4, 1e4 - 1.0, -np.inf])
    np.testing.assert_allclose(fsp.logsumexp(big), sps.logsumexp(big), rtol=1e-15)
    assert fsp.logsumexp(np.array([-np.inf, -np.inf])) == -np.inf
    # entries weighted 0 do not set the shift (their a may be anything)
    a, b = np.array([1e4, 1.0, 2.0]), np.array([0.0, 1.0, -0.5])
    np.testing.assert_allclose(fsp.logsumexp(a, b=b), sps.logsumexp(a, b=b), rtol=1e-15)
    # a sum that cancels exactly: -inf with sign 0, as SciPy
    out, sign = fsp.logsumexp(np.array([1.0, 1.0]), b=np.array([1.0, -1.0]), return_sign=True)
    assert out == -np.inf and sign == 0.0
    assert np.isnan(fsp.logsumexp(np.array([1.0, 2.0]), b=np.array([1.0, -1.0])))


# ---------------------------------------------------------------- derivatives

DIFF = sorted(n for n, (_, d) in ELEMENTWISE.items() if any(d))


@pytest.mark.parametrize("name", DIFF)
def test_derivatives_to_order_2(name):
    rng = _rng("grad", name)
    doms = ELEMENTWISE[name][1]
    values = [rng.uniform(lo, hi, 3) if (lo, hi) != (None, None) else None
              for lo, hi in [(d or (None, None)) for d in doms]]
    consts = [rng.uniform(*ELEMENTWISE[name][0][i], 3) for i in range(len(doms))]
    wrt = [i for i, d in enumerate(doms) if d is not None]
    f = getattr(fsp, name)

    def g(*dyn):
        full = list(consts)
        for i, v in zip(wrt, dyn):
            full[i] = v
        return f(*full)
    check_grads(g, [values[i] for i in wrt], order=2)


def test_derivatives_of_the_reductions_and_multigammaln():
    rng = _rng("grad reductions")
    a = rng.normal(0, 2, (3, 4))
    b = rng.normal(0, 1, (3, 4))
    b[0] = np.abs(b[0]) + 1.0                   # the first row's sum stays positive
    check_grads(lambda a, b: fsp.logsumexp(a, axis=1, b=b, return_sign=True)[0], (a, b),
                order=2)
    check_grads(lambda a: fsp.logsumexp(a, axis=0, keepdims=True), (a,), order=2)
    check_grads(lambda a, b: fsp.logsumexp(a[0], b=b[0]), (a, b), order=2)
    check_grads(lambda a: fsp.softmax(a, axis=1), (a,), order=2)
    check_grads(lambda a: fsp.log_softmax(a), (a,), order=2)
    check_grads(lambda a: fsp.multigammaln(a, 3), (np.array([1.7, 2.5, 4.0]),), order=2)
    check_grads(lambda q: fsp.zeta(3.0, q), (np.array([0.5, 1.5]),), order=2)
    check_grads(lambda x: fsp.polygamma(1, x), (np.array([0.5, 1.5]),), order=2)


def test_vmap_matches_a_loop():
    rng = _rng("vmap")
    a = rng.normal(0, 2, (3, 4, 5))
    for f in (lambda v: fsp.logsumexp(v, axis=-1), lambda v: fsp.softmax(v, axis=0),
              lambda v: fsp.log_softmax(v), lambda v: fsp.logsumexp(v, b=v, return_sign=True),
              fsp.log_ndtr, fsp.xlogy, fsp.logit, fsp.entr, fsp.erf,
              lambda v: fsp.polygamma(2, v), lambda v: fsp.gammainc(2.0, v)):
        x = np.abs(a) / 8.0 if f in (fsp.logit, fsp.entr) else a
        args = (x, x + 1.0) if f is fsp.xlogy else (x,)
        got = fg.vmap(f)(*args)
        loop = [f(*(arg[i] for arg in args)) for i in range(3)]
        if isinstance(got, tuple):
            for k in range(2):
                np.testing.assert_allclose(got[k], np.stack([r[k] for r in loop]), rtol=1e-13)
        else:
            np.testing.assert_allclose(got, np.stack(loop), rtol=1e-13)


def test_jit_of_grad_is_grad():
    rng = _rng("jit")
    x = rng.uniform(0.2, 0.8, 6)

    def loss(x):
        return (fnp.sum(fsp.log_ndtr(x * 10 - 8) + fsp.xlogy(x, x) + fsp.gammaln(x)
                        + fsp.i0e(x) + fsp.logit(x) * fsp.erf(x) + fsp.digamma(x))
                + fsp.logsumexp(x, b=x - 0.5, return_sign=True)[0]
                + fnp.sum(fsp.softmax(x) * fsp.log_expit(x)) + fnp.sum(fsp.betainc(2.0, 3.0, x)))
    g = fg.grad(loss)
    np.testing.assert_allclose(fg.jit(g)(x), g(x), rtol=1e-12)
    h = fg.grad(lambda x: fnp.sum(fg.grad(loss)(x) ** 2))
    np.testing.assert_allclose(fg.jit(h)(x), h(x), rtol=1e-10)


def test_shape_parameters_without_a_rule_raise_clearly():
    cases = [
        (lambda a: fsp.gammainc(a, 2.0), "gammainc: the derivative with respect to the shape a"),
        (lambda a: fsp.gammaincc(a, 2.0), "gammaincc: .* shape a"),
        (lambda a: fsp.betainc(a, 2.0, 0.3), "betainc: .* shape a"),
        (lambda b: fsp.betainc(2.0, b, 0.3), "betainc: .* shape b"),
        (lambda x: fsp.zeta(x, 2.0), "zeta: .* exponent x"),
        (lambda n: fsp.polygamma(n, 2.0), "polygamma: .* order n"),
    ]
    for f, msg in cases:
        with pytest.raises(NotImplementedError, match=msg) as info:
            fg.grad(f)(1.5)
        assert "test_scipy_special.py" in str(info.value)        # the user's line
    # the other arguments still differentiate
    np.testing.assert_allclose(fg.grad(lambda x: fsp.gammainc(2.0, x))(1.5),
                               1.5 * math.exp(-1.5), rtol=1e-14)


# ---------------------------------------------------------------- stability

def test_log_ndtr_is_stable_in_both_tails():
    x = np.array([-1e5, -40.0, -20.0, -5.0, 0.0, 5.0, 10.0, 40.0])
    with np.errstate(all="ignore"):
        want = sps.log_ndtr(x)
    np.testing.assert_allclose(fsp.log_ndtr(x), want, rtol=1e-13)
    g = fg.vmap(fg.grad(fsp.log_ndtr))(x)
    # d/dx log ndtr = phi(x) / ndtr(x) = exp(-x^2 / 2 - log_ndtr(x)) / sqrt(2 pi)
    expected = np.exp(-0.5 * x * x - want) / math.sqrt(2 * math.pi)
    expected[0] = 1e5 + 1e-5         # (-x + 1/|x| - ...: the formula above cancels there)
    np.testing.assert_allclose(g, expected, rtol=1e-10)
    h = fg.vmap(fg.grad(fg.grad(fsp.log_ndtr)))(x)
    assert np.all(np.isfinite(h))
    np.testing.assert_allclose(h[1], -expected[1] * (expected[1] + x[1]), rtol=1e-9)
    x32 = x.astype(np.float32)[1:]
    np.testing.assert_allclose(fsp.log_ndtr(x32), want[1:], rtol=1e-6)
    assert np.all(np.isfinite(fg.vmap(fg.grad(fsp.log_ndtr))(x32)))


def test_expit_log_expit_and_xlogy_at_the_edges():
    x = np.array([-1e4, 1e4])
    np.testing.assert_array_equal(fsp.expit(x), [0.0, 1.0])
    np.testing.assert_allclose(fsp.log_expit(x), [-1e4, 0.0])
    np.testing.assert_array_equal(fg.vmap(fg.grad(fsp.expit))(x), [0.0, 0.0])
    np.testing.assert_array_equal(fg.vmap(fg.grad(fsp.log_expit))(x), [1.0, 0.0])
    for f in (fsp.expit, fsp.log_expit):
        assert np.all(np.isfinite(fg.vmap(fg.grad(fg.grad(f)))(x)))
    # xlogy at 0: 0 log 0 = 0, finite derivatives (log y in x, 0 in y where x = 0)
    assert fsp.xlogy(0.0, 0.0) == 0.0
    gx, gy = fg.grad(fsp.xlogy, argnums=(0, 1))(0.0, 0.0)
    assert (gx, gy) == (0.0, 0.0)
    gx, gy = fg.grad(fsp.xlogy, argnums=(0, 1))(0.0, 2.0)
    assert gx == pytest.approx(math.log(2.0)) and gy == 0.0
    for f in (fsp.xlog1py, fsp.rel_entr, fsp.kl_div):
        grads = fg.grad(f, argnums=(0, 1))(0.0, 0.0 if f is not fsp.xlog1py else -1.0)
        assert np.all(np.isfinite(grads)), f
    assert np.isfinite(fg.grad(fsp.entr)(0.0))
    hess = fg.hessian(lambda v: fsp.xlogy(v[0], v[1]))(np.array([0.0, 0.0]))
    assert np.all(np.isfinite(hess))


# ---------------------------------------------------------------- SciPy's ufuncs on tracers

UFUNC_ARGS = {1: (np.array([0.3, 0.6]),), 2: (np.array([0.3, 0.6]), np.array([1.5, 2.5])),
              3: (np.array([1.5, 2.0]), np.array([2.5, 1.5]), np.array([0.3, 0.6]))}


def test_scipy_ufuncs_on_traced_values_bind_funcgrad_primitives():
    for name in fsp._TRACED_UFUNCS:
        u = getattr(sps, name)
        args = UFUNC_ARGS[u.nin]
        want = u(*args)
        np.testing.assert_allclose(fg.jit(lambda *a, u=u: u(*a))(*args), want, rtol=1e-14,
                                   err_msg=name)
        np.testing.assert_allclose(fg.vmap(lambda *a, u=u: u(*a))(*args), want, rtol=1e-14,
                                   err_msg=name)
        ours = fg.grad(lambda x, n=name, a=args: fnp.sum(getattr(fsp, n)(*a[:-1], x)))(args[-1])
        theirs = fg.grad(lambda x, u=u, a=args: fnp.sum(u(*a[:-1], x)))(args[-1])
        np.testing.assert_allclose(theirs, ours, rtol=1e-14, err_msg=name)
    graph = fg.make_graph(lambda x: sps.erf(x) + sps.gammaln(x))(np.ones(2))
    assert {"erf", "gammaln"} <= {e.primitive.name for e in graph.eqns}
    # scipy.special.zeta is a Python function calling one of two ufuncs: both dispatch
    q = np.array([0.5, 1.5])
    np.testing.assert_allclose(fg.jit(lambda q: sps.zeta(3.0, q))(q), sps.zeta(3.0, q))
    np.testing.assert_allclose(fg.jit(lambda s: sps.zeta(s))(q), sps.zeta(q))
    np.testing.assert_allclose(fg.grad(lambda q: fnp.sum(sps.zeta(3.0, q)))(q),
                               -3.0 * sps.zeta(4.0, q), rtol=1e-13)
    np.testing.assert_allclose(fg.jit(lambda x: sps.xlogy.outer(x, x))(q), sps.xlogy.outer(q, q),
                               rtol=1e-14)


def test_scipy_ufuncs_funcgrad_does_not_trace_are_named():
    with pytest.raises(NotImplementedError, match=r"scipy\.special\.jv; funcgrad\.scipy"):
        fg.grad(lambda x: fnp.sum(sps.jv(1.0, x)))(np.ones(2))
    with pytest.raises(TypeError, match=r"erf\(\.\.\., out=\.\.\.\)"):
        fg.grad(lambda x: fnp.sum(sps.erf(x, out=np.empty(2))))(np.ones(2))


@pytest.mark.parametrize("call,name", [
    (lambda x: sps.logsumexp(x), "logsumexp"),
    (lambda x: fnp.sum(sps.softmax(x)), "softmax"),
    (lambda x: fnp.sum(sps.log_softmax(x)), "log_softmax"),
    (lambda x: fnp.sum(sps.polygamma(1, x)), "polygamma"),
    (lambda x: fnp.sum(sps.multigammaln(x, 2)), "multigammaln"),
])
def test_scipy_functions_that_convert_name_the_funcgrad_function(call, name):
    for transform in (fg.grad, fg.jit):
        with pytest.raises(ConcretizationError) as info:
            transform(call)(np.array([1.5, 2.0]))
        msg = str(info.value)
        assert f"scipy.special.{name} (called at " in msg and "test_scipy_special.py" in msg
        assert f"call funcgrad.scipy.special.{name} instead" in msg


def test_conversion_messages_elsewhere_are_unchanged():
    with pytest.raises(ConcretizationError) as info:
        fg.grad(lambda x: float(x) * x)(1.0)
    msg = str(info.value)
    assert "converts its arguments" not in msg and "Compute with funcgrad.numpy" in msg
    # a SciPy function funcgrad has no version of
    with pytest.raises(ConcretizationError, match=r"scipy\.special\.comb .*funcgrad\.scipy\."
                                                  r"special has no comb"):
        fg.grad(lambda x: fnp.sum(sps.comb(x, 2)))(np.array([4.0, 5.0]))


# ---------------------------------------------------------------- without SciPy

def test_without_scipy_the_scipy_functions_say_what_to_install(monkeypatch):
    x = np.array([0.2, 0.7])
    expected = {name: getattr(fsp, name)(x) for name in (
        "expit", "logit", "log_expit", "entr", "sinc", "softmax", "log_softmax", "logsumexp")}
    expected_binary = {name: getattr(fsp, name)(x, x + 0.5) for name in (
        "xlogy", "xlog1py", "rel_entr", "kl_div")}
    from funcgrad.scipy.stats import cauchy, expon, laplace, logistic, uniform
    dists = {(m.__name__, f): getattr(m, f)(x) for m in (cauchy, expon, laplace, logistic, uniform)
             for f in m.__all__}
    monkeypatch.setattr(sf, "_modules", {})
    monkeypatch.setitem(sys.modules, "scipy.special", None)     # `import scipy.special` fails
    for name, f in [("erf", lambda: fsp.erf(x)), ("gammaln", lambda: fsp.gammaln(x)),
                    ("gammainc", lambda: fsp.gammainc(1.0, x)),
                    ("polygamma", lambda: fsp.polygamma(1, x)),
                    ("betainc", lambda: fsp.betainc(1.0, 2.0, x))]:
        with pytest.raises(ImportError, match=rf"funcgrad\.scipy\.special\.{name} needs scipy, "
                                              rf"which is not installed: pip install "
                                              rf"'funcgrad\[scipy\]'"):
            f()
    # the composites, and the distributions built from them alone, need no SciPy
    for name, want in expected.items():
        np.testing.assert_array_equal(getattr(fsp, name)(x), want, err_msg=name)
    for name, want in expected_binary.items():
        np.testing.assert_array_equal(getattr(fsp, name)(x, x + 0.5), want, err_msg=name)
    for (module, f), want in dists.items():
        np.testing.assert_array_equal(getattr(sys.modules[module], f)(x), want,
                                      err_msg=f"{module}.{f}")


def test_import_funcgrad_needs_no_scipy():
    code = textwrap.dedent("""
        import sys
        sys.modules["scipy"] = None                     # SciPy is not installed
        import numpy as np
        import funcgrad as fg
        assert not [m for m in sys.modules if m.startswith("scipy") and sys.modules[m]]
        print(float(fg.scipy.special.expit(0.0)), float(fg.scipy.stats.expon.logpdf(1.0)))
        try:
            fg.scipy.special.erf(0.5)
        except ImportError as err:
            print(err)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "0.5 -1.0", "funcgrad.scipy.special.erf needs scipy, which is not installed: pip "
        "install 'funcgrad[scipy]'"]


# ---------------------------------------------------------------- the modules

def test_the_namespace_and_doctests():
    promised = ("erf erfc erfinv erfcx gamma gammaln digamma polygamma beta betaln gammainc "
                "gammaincc logsumexp expit logit log_expit xlogy xlog1py entr rel_entr kl_div "
                "ndtr ndtri log_ndtr i0 i0e i1 i1e softmax log_softmax multigammaln zeta "
                "sinc").split()
    assert set(promised) <= set(fsp.__all__)
    assert fg.scipy.special is fsp
    for module in (fsp, sf):
        assert doctest.testmod(module).failed == 0, module.__name__
