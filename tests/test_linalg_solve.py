"""Solves and factorisations: funcgrad.numpy.linalg (cholesky, solve, inv, det, slogdet,
matrix_power, multi_dot, tensorsolve, tensorinv) and funcgrad.scipy.linalg (cholesky,
cho_factor, cho_solve, solve_triangular, lu, lu_factor, lu_solve, solve, inv, det).

Each primitive's generic checks (values, jit, vmap, buffer reuse, order-2 derivatives of real
inputs, every execution path) come from tests/cases_linalg_solve.py; this file checks the public
functions against NumPy and SciPy on stacks, float32 and complex inputs, complex derivatives,
the derivative conventions (Hermitian part, det at singular matrices), errors on every path,
NumPy's own functions on traced values, and what happens without SciPy.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
import funcgrad.scipy.linalg as fsl
from funcgrad.errors import ConcretizationError
from funcgrad.prims import linalg_solve as ls
from funcgrad.test_util import check_grads

sl = pytest.importorskip("scipy.linalg")

DTYPES = [np.float32, np.float64, np.complex64, np.complex128]
LinAlgError = np.linalg.LinAlgError


def rand(rng, shape, dtype=np.float64):
    x = rng.uniform(-1.0, 1.0, shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.uniform(-1.0, 1.0, shape)
    return x.astype(dtype)


def well_conditioned(rng, shape, dtype=np.float64):
    n = shape[-1]
    return (rand(rng, shape, dtype) + (n + 1) * np.eye(n)).astype(dtype)


def hermitian_pd(rng, shape, dtype=np.float64):
    x = rand(rng, shape, dtype)
    return (x @ np.conj(np.swapaxes(x, -1, -2)) + shape[-1] * np.eye(shape[-1])).astype(dtype)


def tol(dtype):
    return 2e-4 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-10


def same(got, expected, dtype=None):
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    t = tol(dtype or expected.dtype)
    np.testing.assert_allclose(got, expected, rtol=t, atol=t)


def h(x):
    return np.conj(np.swapaxes(x, -1, -2))


# ---------------------------------------------------------------- values vs NumPy and SciPy

@pytest.mark.parametrize("dtype", DTYPES)
def test_numpy_functions_match_numpy(dtype):
    rng = np.random.default_rng(0)
    a = well_conditioned(rng, (2, 3, 3), dtype)
    b = rand(rng, (3, 1, 3, 2), dtype)          # stacks broadcast: (3, 2) with (2,)
    v = rand(rng, (3,), dtype)
    spd = hermitian_pd(rng, (2, 3, 3), dtype)
    same(fnp.linalg.solve(a, b), np.linalg.solve(a, b))
    same(fnp.linalg.solve(a, v), np.linalg.solve(a, v))
    same(fnp.linalg.solve(a[0], v), np.linalg.solve(a[0], v))
    same(fnp.linalg.inv(a), np.linalg.inv(a))
    same(fnp.linalg.det(a), np.linalg.det(a))
    got, expected = fnp.linalg.slogdet(a), np.linalg.slogdet(a)
    assert type(got) is type(expected) and got._fields == ("sign", "logabsdet")
    same(got.sign, expected.sign)
    same(got.logabsdet, expected.logabsdet)
    for upper in (False, True):
        same(fnp.linalg.cholesky(spd, upper=upper), np.linalg.cholesky(spd, upper=upper))
    for n in (0, 1, 2, 3, 5, -1, -3):
        same(fnp.linalg.matrix_power(a, n), np.linalg.matrix_power(a, n))
    t4, b4 = well_conditioned(rng, (6, 6), dtype).reshape(2, 3, 6), rand(rng, (2, 3), dtype)
    same(fnp.linalg.tensorsolve(t4, b4), np.linalg.tensorsolve(t4, b4))
    t4 = np.moveaxis(t4.reshape(2, 3, 2, 3), 1, 3)
    same(fnp.linalg.tensorsolve(t4, b4, axes=(1,)), np.linalg.tensorsolve(t4, b4, axes=(1,)))
    t = well_conditioned(rng, (6, 6), dtype).reshape(6, 2, 3)
    same(fnp.linalg.tensorinv(t, ind=1), np.linalg.tensorinv(t, ind=1))


def test_numpy_functions_on_integers_and_nonsymmetric_triangles():
    a = np.array([[4, 2], [2, 5]])
    same(fnp.linalg.solve(a, [1, 2]), np.linalg.solve(a, [1, 2]))
    same(fnp.linalg.inv(a), np.linalg.inv(a))
    same(fnp.linalg.matrix_power(a, 3), np.linalg.matrix_power(a, 3))     # stays int
    same(fnp.linalg.matrix_power(a, 0), np.linalg.matrix_power(a, 0))
    same(fnp.linalg.matrix_power(a, -2), np.linalg.matrix_power(a, -2))
    # cholesky reads one triangle, as NumPy: the other may hold anything
    m = np.array([[4.0, 100.0], [2.0, 5.0]])
    same(fnp.linalg.cholesky(m), np.linalg.cholesky(m))
    same(fnp.linalg.cholesky(m.T, upper=True), np.linalg.cholesky(m.T, upper=True))
    with pytest.raises(TypeError, match="exponent must be an integer"):
        fnp.linalg.matrix_power(a, 1.5)


def test_multi_dot_matches_numpy_and_takes_the_cheap_order():
    rng = np.random.default_rng(1)
    shapes = [(10, 100), (100, 5), (5, 50), (50, 2), (2, 30)]
    arrays = [rand(rng, s) for s in shapes]
    for k in (2, 3, 4, 5):
        same(fnp.linalg.multi_dot(arrays[:k]), np.linalg.multi_dot(arrays[:k]))
    vec = [rand(rng, 100), *arrays[1:3], rand(rng, 50)]
    same(fnp.linalg.multi_dot(vec), np.linalg.multi_dot(vec))
    same(fnp.linalg.multi_dot(vec[:3]), np.linalg.multi_dot(vec[:3]))
    # (A B) C is ten times cheaper than A (B C): the first product made is 10 x 5
    graph = fg.make_graph(lambda *xs: fnp.linalg.multi_dot(xs))(*arrays[:3])
    dots = [e for e in graph.eqns if e.primitive.name == "dot_general"]
    assert dots[0].outputs[0].aval.shape == (10, 5)
    graph = fg.make_graph(lambda *xs: fnp.linalg.multi_dot(xs))(*arrays)
    flops = sum(2 * e.inputs[0].aval.shape[0] * e.inputs[0].aval.shape[1]
                * e.outputs[0].aval.shape[1] for e in graph.eqns
                if e.primitive.name == "dot_general")
    dims = [s[0] for s in shapes] + [shapes[-1][1]]

    def cheapest(i, j):         # multiplications of the best parenthesisation of i..j
        return 0 if i == j else min(cheapest(i, k) + cheapest(k + 1, j)
                                    + dims[i] * dims[k + 1] * dims[j + 1] for k in range(i, j))
    assert flops == 2 * cheapest(0, len(shapes) - 1)
    with pytest.raises(ValueError, match="at least two arrays"):
        fnp.linalg.multi_dot([arrays[0]])


@pytest.mark.parametrize("dtype", DTYPES)
def test_scipy_functions_match_scipy(dtype):
    rng = np.random.default_rng(2)
    a = well_conditioned(rng, (2, 3, 3), dtype)
    b = rand(rng, (2, 3, 2), dtype)
    v = rand(rng, (3,), dtype)
    spd = hermitian_pd(rng, (2, 3, 3), dtype)
    for lower in (False, True):
        same(fsl.cholesky(spd, lower=lower), sl.cholesky(spd, lower=lower))
        c = fsl.cho_factor(spd, lower=lower)
        assert c[1] is lower
        same(fsl.cho_solve(c, b), sl.cho_solve(sl.cho_factor(spd, lower=lower), b))
        # SciPy's own factor (arbitrary values in its other triangle) works as well
        same(fsl.cho_solve(sl.cho_factor(spd, lower=lower), v),
             sl.cho_solve(sl.cho_factor(spd, lower=lower), v))
        for trans in (0, 1, 2, "N", "T", "C"):
            for unit in (False, True):
                kw = dict(trans=trans, lower=lower, unit_diagonal=unit)
                same(fsl.solve_triangular(a, b, **kw), sl.solve_triangular(a, b, **kw))
                same(fsl.solve_triangular(a[0], v, **kw), sl.solve_triangular(a[0], v, **kw))
    same(fsl.det(a), sl.det(a), dtype)                      # float64 for float32, as SciPy
    same(fsl.inv(a), sl.inv(a))
    for assume in (None, "gen", "general", "banded", "diagonal", "tridiagonal",
                   "upper triangular", "lower triangular", "sym", "her", "pos"):
        for lower in (False, True):
            m = spd if assume in ("pos", "her", "sym") else a
            if assume == "sym" and np.dtype(dtype).kind == "c":
                m = a + np.swapaxes(a, -1, -2)
            kw = dict(assume_a=assume, lower=lower)
            same(fsl.solve(m, b, **kw), sl.solve(m, b, **kw))
            same(fsl.solve(m, v, **kw), sl.solve(m, v, **kw))
            if assume not in ("tridiagonal", "banded", "general"):
                # SciPy 1.17's inv(assume_a='diagonal') does read the off-diagonal entries
                # (its documentation says it does not): compare on the diagonal part
                ref = m * np.eye(3, dtype=dtype) if assume == "diagonal" else m
                same(fsl.inv(m, **kw), sl.inv(ref, **kw))
    if np.dtype(dtype).kind == "f":
        same(fsl.solve(a, b, transposed=True), sl.solve(a, b, transposed=True))
    else:
        with pytest.raises(NotImplementedError, match="complex"):
            fsl.solve(a, b, transposed=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 3), (3, 5), (2, 1, 4, 4)])
def test_lu_matches_scipy(dtype, shape):
    rng = np.random.default_rng(3)
    a = rand(rng, shape, dtype)
    lu_, piv = fsl.lu_factor(a)
    e_lu, e_piv = sl.lu_factor(a)
    same(lu_, e_lu)
    np.testing.assert_array_equal(piv, e_piv)
    assert piv.dtype == e_piv.dtype
    for kw in ({}, {"permute_l": True}, {"p_indices": True}):
        for g, e in zip(fsl.lu(a, **kw), sl.lu(a, **kw)):
            if e.dtype.kind in "iu":
                np.testing.assert_array_equal(g, e)
                assert g.dtype == e.dtype
            else:
                same(g, e, dtype)
    if shape[-1] == shape[-2]:
        a = a + shape[-1] * np.eye(shape[-1], dtype=dtype)
        b = rand(rng, shape[:-1] + (2,), dtype)
        for trans in (0, 1, 2):
            same(fsl.lu_solve(fsl.lu_factor(a), b, trans=trans),
                 sl.lu_solve(sl.lu_factor(a), b, trans=trans))
            v = b[(0,) * (b.ndim - 2) + (slice(None), 0)]
            same(fsl.lu_solve(sl.lu_factor(a), v, trans=trans),
                 sl.lu_solve(sl.lu_factor(a), v, trans=trans))


# ---------------------------------------------------------------- derivatives

def test_complex_derivatives_to_order_2():
    rng = np.random.default_rng(4)
    z = well_conditioned(rng, (2, 3, 3), np.complex128)
    b = rand(rng, (2, 3, 2), np.complex128)
    x = rand(rng, (2, 3, 3), np.complex128)
    check_grads(fnp.linalg.solve, (z, b), order=2)
    check_grads(fnp.linalg.inv, (z,), order=2)
    check_grads(fnp.linalg.det, (z,), order=2)
    check_grads(lambda z: fnp.linalg.slogdet(z).sign, (z,), order=2)
    check_grads(lambda z: fnp.linalg.slogdet(z).logabsdet, (z,), order=2)
    check_grads(lambda z: fnp.linalg.matrix_power(z, -3), (z,), order=2)

    def hpd(x):
        return fnp.matmul(x, fnp.conj(fnp.swapaxes(x, -1, -2))) + 3.0 * np.eye(3)
    check_grads(lambda x: fnp.linalg.cholesky(hpd(x)), (x,), order=2)
    check_grads(lambda x: fnp.linalg.cholesky(hpd(x), upper=True), (x,), order=2)
    check_grads(lambda x, b: fsl.cho_solve(fsl.cho_factor(hpd(x)), b), (x, b), order=2)
    check_grads(lambda x, b: fsl.solve(hpd(x), b, assume_a="her"), (x, b), order=2)
    check_grads(lambda x, b: fsl.solve(x + fnp.swapaxes(x, -1, -2) + 6 * np.eye(3), b,
                                       assume_a="sym"), (x, b), order=2)
    for trans in (0, 1, 2):
        check_grads(lambda z, b, t=trans: fsl.solve_triangular(z, b, trans=t), (z, b), order=2)
        check_grads(lambda z, b, t=trans: fsl.lu_solve(fsl.lu_factor(z), b, trans=t), (z, b),
                    order=2)
    check_grads(lambda z: fsl.lu(z)[1] + fsl.lu(z)[2], (z,), order=2)
    check_grads(lambda z: fsl.lu(z[..., :2])[1], (z,), order=2)      # tall


def test_triangular_matmul_complex_every_op_and_side():
    """The product cholesky's derivative binds: every side, triangle, transposition and
    conjugation, on a stack (NumPy's batched product) and on one 70 x 70 matrix in both
    layouts (BLAS trmm), against NumPy; derivatives to order 2 on the small ones."""
    rng = np.random.default_rng(9)
    for n, stack in ((3, (2,)), (70, ())):
        z = rand(rng, stack + (n, n), np.complex128)
        for left in (True, False):
            b = rand(rng, stack + ((n, 2) if left else (2, n)), np.complex128)
            for lower in (True, False):
                for transpose, conjugate in ((False, False), (True, False), (True, True),
                                             (False, True)):
                    kw = dict(left_side=left, lower=lower, transpose_a=transpose,
                              conjugate_a=conjugate)
                    t = np.tril(z) if lower else np.triu(z)
                    t = np.swapaxes(t, -1, -2) if transpose else t
                    t = np.conj(t) if conjugate else t
                    want = t @ b if left else b @ t
                    for a in (z, np.asfortranarray(z)):
                        got = ls.triangular_matmul(a, b, **kw)
                        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
                    if n == 3:
                        check_grads(lambda z, b, kw=kw: ls.triangular_matmul(z, b, **kw),
                                    (z, b), order=2)


def test_float32_gradients_stay_float32():
    rng = np.random.default_rng(5)
    a = well_conditioned(rng, (3, 3), np.float32)
    b = rand(rng, (3,), np.float32)

    def f(a, b):
        return (fnp.sum(fnp.linalg.solve(a, b)) + fnp.linalg.slogdet(a).logabsdet
                + fnp.sum(fnp.linalg.cholesky(a @ a.T)) + fnp.linalg.det(a))
    ga, gb = fg.grad(f, argnums=(0, 1))(a, b)
    assert ga.dtype == gb.dtype == np.float32
    assert np.asarray(f(a, b)).dtype == np.float32
    g64 = fg.grad(f)(a.astype(np.float64), b.astype(np.float64))
    np.testing.assert_allclose(ga, g64, rtol=1e-3, atol=1e-3)


def test_cholesky_derivative_is_along_the_hermitian_part():
    # JAX's convention: the gradient with respect to a is Hermitian, the derivative of the
    # factor in a direction is that in its Hermitian part
    rng = np.random.default_rng(6)
    a = hermitian_pd(rng, (3, 3))
    w = rand(rng, (3, 3))
    g = fg.grad(lambda a: fnp.sum(w * fnp.linalg.cholesky(a)))(a)
    np.testing.assert_allclose(g, g.T, atol=1e-14)
    d = rand(rng, (3, 3))
    _, t = fg.jvp(fnp.linalg.cholesky, (a,), (d,))
    _, t_sym = fg.jvp(fnp.linalg.cholesky, (a,), ((d + d.T) / 2,))
    np.testing.assert_allclose(t, t_sym, atol=1e-14)
    # scipy's symmetric solves follow it: the symmetric part of the general gradient
    b = rand(rng, (3,))
    g_sym = fg.grad(lambda a: fnp.sum(fsl.solve(a, b, assume_a="sym") ** 2))(a)
    g_gen = fg.grad(lambda a: fnp.sum(fnp.linalg.solve(a, b) ** 2))(a)
    np.testing.assert_allclose(g_sym, (g_gen + g_gen.T) / 2, atol=1e-12)
    g_pos = fg.grad(lambda a: fnp.sum(fsl.solve(a, b, assume_a="pos") ** 2))(a)
    np.testing.assert_allclose(g_pos, g_sym, atol=1e-12)


def test_triangular_solve_derivative_ignores_the_other_triangle():
    rng = np.random.default_rng(7)
    a, b = well_conditioned(rng, (3, 3)), rand(rng, (3, 2))
    for lower in (False, True):
        for unit in (False, True):
            g = fg.grad(lambda a, lo=lower, u=unit: fnp.sum(
                fsl.solve_triangular(a, b, lower=lo, unit_diagonal=u)))(a)
            ignored = ~np.tri(3, 3, 0 if not unit else -1, dtype=bool) if lower else \
                np.tri(3, 3, -1 if not unit else 0, dtype=bool)
            assert np.all(g[ignored] == 0), (lower, unit)


def minors(a):
    """The cofactor matrix from its definition: signed (n-1) x (n-1) minors."""
    n = a.shape[-1]
    return np.array([[(-1) ** (i + j) * np.linalg.det(np.delete(np.delete(a, i, 0), j, 1))
                      for j in range(n)] for i in range(n)])


def test_det_derivative_at_singular_matrices():
    s = np.array([[1.0, 2.0], [2.0, 4.0]])                    # rank 1: the adjugate
    np.testing.assert_allclose(fg.grad(fnp.linalg.det)(s), [[4.0, -2.0], [-2.0, 1.0]])
    np.testing.assert_array_equal(fg.grad(fnp.linalg.det)(np.zeros((3, 3))), np.zeros((3, 3)))
    r = np.outer([1.0, 2.0, 3.0], [1.0, -1.0, 2.0]) + np.outer([0.0, 1.0, 0.0], [1, 0, 0])
    assert np.linalg.matrix_rank(r) == 2
    np.testing.assert_allclose(fg.grad(fnp.linalg.det)(r), minors(r), atol=1e-12)
    r2 = np.outer([1.0, 2.0, 3.0], [1.0, -1.0, 2.0])               # rank 1 of 3: zero
    np.testing.assert_allclose(fg.grad(fnp.linalg.det)(r2), np.zeros((3, 3)), atol=1e-12)
    np.testing.assert_allclose(fg.jit(fg.grad(fnp.linalg.det))(s), [[4.0, -2.0], [-2.0, 1.0]])
    stack = np.stack([s, 2 * s])        # vmap over a stack of singular matrices
    np.testing.assert_allclose(fg.vmap(fg.grad(fnp.linalg.det))(stack),
                               [[[4.0, -2.0], [-2.0, 1.0]], [[8.0, -4.0], [-4.0, 2.0]]])
    # det's second derivative needs the inverse: an error there, not a wrong number
    with pytest.raises(LinAlgError, match="singular"):
        fg.hessian(fnp.linalg.det)(s)
    a = well_conditioned(np.random.default_rng(8), (3, 3))
    check_grads(fnp.linalg.det, (a,), order=2)


def test_slogdet_of_large_matrices_does_not_overflow():
    rng = np.random.default_rng(9)
    a = 10.0 * well_conditioned(rng, (200, 200)) / 201
    assert np.isinf(np.linalg.det(a * 1e3))
    sign, logabsdet = fnp.linalg.slogdet(a * 1e3)
    assert np.isfinite(logabsdet) and sign != 0
    g = fg.grad(lambda a: fnp.linalg.slogdet(a).logabsdet)(a * 1e3)
    np.testing.assert_allclose(g, np.linalg.inv(a * 1e3).T, rtol=1e-8, atol=1e-14)


# ---------------------------------------------------------------- transformations

def test_vmap_matches_a_loop_and_folds_right_hand_sides():
    rng = np.random.default_rng(10)
    a = well_conditioned(rng, (3, 3))
    bs = rand(rng, (4, 3, 2))
    got = fg.vmap(fnp.linalg.solve, in_axes=(None, 0))(a, bs)
    same(got, np.stack([np.linalg.solve(a, b) for b in bs]))
    # one solve for the whole batch: the batch axis joined b's columns
    graph = fg.make_graph(fg.vmap(fnp.linalg.solve, in_axes=(None, 0)))(a, bs)
    (eqn,) = [e for e in graph.eqns if e.primitive.name == "solve"]
    assert eqn.inputs[0].aval.shape == (3, 3) and eqn.inputs[1].aval.shape == (3, 8)
    got = fg.vmap(lambda b: fsl.solve_triangular(a, b, trans=1), in_axes=2)(
        np.moveaxis(bs, 0, 2))
    same(got, np.stack([sl.solve_triangular(a, b, trans=1) for b in bs]))
    lu_piv = fsl.lu_factor(a + np.eye(3))
    got = fg.vmap(lambda b: fsl.lu_solve(lu_piv, b))(bs[:, :, 0])
    same(got, np.stack([sl.lu_solve(lu_piv, b) for b in bs[:, :, 0]]))
    stack = well_conditioned(rng, (4, 3, 3))
    got = fg.vmap(fg.grad(lambda a: fnp.linalg.slogdet(a).logabsdet))(stack)
    same(got, np.stack([np.linalg.inv(s).T for s in stack]))
    got = fg.vmap(lambda a: fsl.lu(a), in_axes=2)(np.moveaxis(stack, 0, 2))
    for g, e in zip(got, zip(*[sl.lu(s) for s in stack])):
        same(g, np.stack(e))


def test_jit_of_grad_equals_grad():
    rng = np.random.default_rng(11)
    a, b = well_conditioned(rng, (2, 3, 3)), rand(rng, (2, 3, 2))

    def f(a, b):
        x = fnp.linalg.solve(a, b) + fnp.linalg.inv(a) @ b
        c = fsl.cho_solve(fsl.cho_factor(a @ fnp.swapaxes(a, -1, -2)), b)
        y = fsl.lu_solve(fsl.lu_factor(a), b, trans=1)
        return (fnp.sum(x * x) + fnp.sum(fnp.linalg.det(a)) + fnp.sum(c * y)
                + fnp.sum(fnp.linalg.slogdet(a).logabsdet) + fnp.sum(fsl.lu(a)[2]))
    g = fg.grad(f, argnums=(0, 1))
    for got, expected in zip(fg.jit(g)(a, b), g(a, b)):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    for got, expected in zip(fg.grad(fg.jit(f), argnums=(0, 1))(a, b), g(a, b)):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    cost = fg.jit(fnp.linalg.cholesky).lower(hermitian_pd(rng, (2, 30, 30))).cost()
    assert cost["flops"] == 2 * 30 ** 3 // 3


def test_plain_numpy_functions_on_traced_values():
    rng = np.random.default_rng(12)
    a, b = well_conditioned(rng, (3, 3)), rand(rng, (3,))

    def f(a):
        return (np.sum(np.linalg.solve(a, b)) + np.linalg.det(a) + np.linalg.slogdet(a)[1]
                + np.sum(np.linalg.inv(a)) + np.sum(np.linalg.cholesky(a @ a.T))
                + np.sum(np.linalg.matrix_power(a, 3)) + np.linalg.multi_dot([b, a, a, b])
                + np.sum(np.linalg.tensorinv(a.reshape(3, 1, 3), ind=2))
                + np.sum(np.linalg.tensorsolve(a.reshape(3, 3, 1), b))
                + np.sum(np.linalg.cholesky(a @ a.T, upper=True)))
    expected = f(a)
    for run in (f, fg.jit(f)):
        np.testing.assert_allclose(run(a), expected, rtol=1e-12)
    np.testing.assert_allclose(fg.jit(fg.grad(f))(a), fg.grad(f)(a), rtol=1e-10)
    check_grads(f, (a,), order=1)


@pytest.mark.parametrize("name", ["cholesky", "solve_triangular", "expm", "lu_factor",
                                  "inv", "det"])
def test_plain_scipy_linalg_on_traced_values_names_our_function(name):
    # SciPy's batching decorator converts before the function runs: the wrapper's frame
    # still names it
    def f(a):
        args = (a, a) if name == "solve_triangular" else (a,)
        out = getattr(sl, name)(*args)
        return np.sum(out[0] if isinstance(out, tuple) else out)
    assert hasattr(fsl, name)
    with pytest.raises(ConcretizationError,
                       match=f"call funcgrad.scipy.linalg.{name} instead"):
        fg.grad(f)(np.eye(3) * 2.0)


# ---------------------------------------------------------------- errors

SINGULAR = np.array([[1.0, 2.0], [2.0, 4.0]])


@pytest.mark.parametrize("path", ["eager", "jit", "grad", "jit(grad)", "vmap"])
def test_singular_and_indefinite_matrices_raise_on_every_path(path):
    stack = np.stack([np.eye(2), SINGULAR])
    ones = np.ones((2, 2))

    def run(f, *args):
        loss = (lambda *xs: fnp.sum(f(*xs)))
        if path == "jit":
            return fg.jit(f)(*args)
        if path == "grad":
            return fg.grad(loss)(*args)
        if path == "jit(grad)":
            return fg.jit(fg.grad(loss))(*args)
        if path == "vmap":
            return fg.vmap(f)(*args)
        return f(*args)
    cases = [
        (fnp.linalg.solve, (stack, ones[None].repeat(2, 0)), "solve: matrix \\[1\\] of the "
         "stack of shape \\(2, 2, 2\\) is singular"),
        (fnp.linalg.inv, (stack,), "inv: matrix \\[1\\] of the stack .* is singular"),
        (fnp.linalg.cholesky, (np.stack([np.eye(2), -np.eye(2)]),),
         "cholesky: matrix \\[1\\] of the stack .* is not positive definite"),
        (lambda a: fsl.solve_triangular(a, ones), (np.stack([np.eye(2), np.diag([1.0, 0.0])]),),
         "triangular_solve: matrix \\[1\\] of the stack .* singular: its diagonal has a zero"),
    ]
    for f, args, message in cases:
        with pytest.raises(LinAlgError, match=message) as info:
            run(f, *args)
        assert "test_linalg_solve.py:" in str(info.value), str(info.value)
    jitted = fg.jit(fnp.linalg.inv)
    with pytest.raises(LinAlgError):
        jitted(SINGULAR)
    same(jitted(np.eye(2) * 2), np.eye(2) / 2)      # still works after the error


def test_shape_and_dtype_errors_name_the_shapes():
    with pytest.raises(LinAlgError, match=r"last 2 dimensions of a must be square.*\(2, 3\)"):
        fnp.linalg.inv(np.ones((2, 3)))
    with pytest.raises(LinAlgError, match="1-dimensional array given"):
        fnp.linalg.det(np.ones(3))
    with pytest.raises(ValueError, match=r"b of shape \(2,\) does not match a of shape \(3, 3\)"):
        fnp.linalg.solve(np.eye(3), np.ones(2))
    with pytest.raises(ValueError, match="vector only when it is 1-D"):
        fnp.linalg.solve(np.eye(2)[None].repeat(3, 0), np.ones((3, 2)))   # NumPy 2's rule
    with pytest.raises(ValueError, match="do not broadcast"):
        fnp.linalg.solve(np.ones((2, 3, 3)) + np.eye(3), np.ones((4, 3, 1)))
    with pytest.raises(TypeError, match="float16 is unsupported"):
        fnp.linalg.inv(np.eye(2, dtype=np.float16))
    with pytest.raises(ValueError, match="trans must be"):
        fsl.solve_triangular(np.eye(2), np.ones(2), trans=3)
    with pytest.raises(ValueError, match="'foo' is not a recognized matrix structure"):
        fsl.solve(np.eye(2), np.ones(2), assume_a="foo")
    with pytest.raises(ValueError, match="piv of shape"):
        fsl.lu_solve((np.eye(3), np.zeros(2, np.int32)), np.ones(3))
    with pytest.raises(IndexError, match="pivot indices must lie in"):
        fsl.lu_solve((np.eye(3), np.array([0, 5, 2])), np.ones(3))
    for f in (fg.jit(fnp.linalg.solve), fnp.linalg.solve):     # at trace time, with the line
        with pytest.raises(ValueError, match=r"does not match.*test_linalg_solve.py:"):
            f(np.eye(3), np.ones(2))
    # the primitives' own shape rules (what tracing checks)
    with pytest.raises(ValueError, match="does not fit a of shape"):
        fg.jit(ls.solve)(np.eye(3), np.ones((2, 3, 1)))
    with pytest.raises(TypeError, match="one dtype"):
        fg.jit(ls.solve)(np.eye(3), np.ones((3, 1), np.float32))


# ---------------------------------------------------------------- without SciPy

@pytest.fixture
def no_scipy(monkeypatch):
    """Importing scipy (and any submodule) fails, as when it is not installed."""
    for name in list(sys.modules):
        if name == "scipy" or name.startswith("scipy."):
            monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "scipy", None)


def test_without_scipy(no_scipy):
    with pytest.raises(ImportError, match=r"pip install 'funcgrad\[scipy\]'"):
        fsl.lu(np.eye(2))
    with pytest.raises(ImportError, match="lu_factor needs scipy"):
        fg.grad(lambda a: fnp.sum(fsl.lu_factor(a)[0]))(np.eye(2))
    rng = np.random.default_rng(13)
    a, b = well_conditioned(rng, (3, 4, 4)), rand(rng, (3, 4, 2))
    # everything else runs on NumPy alone, triangular solves included
    for lower in (False, True):
        for trans in (0, 1):
            for unit in (False, True):
                t = _triangle(a, lower, unit_diagonal=unit)
                expected = np.linalg.solve(np.swapaxes(t, -1, -2) if trans else t, b)
                same(fsl.solve_triangular(a, b, trans=trans, lower=lower, unit_diagonal=unit),
                     expected)
    same(fsl.cho_solve(fsl.cho_factor(a @ h(a)), b), np.linalg.solve(a @ h(a), b))
    same(fsl.lu_solve(LU_PIV, b), np.linalg.solve(LU_A, b))
    same(fsl.lu_solve(LU_PIV, b, trans=1), np.linalg.solve(np.swapaxes(LU_A, -1, -2), b))
    same(fsl.solve(a, b, assume_a="pos", lower=True), np.linalg.solve(
        np.tril(a) + np.swapaxes(np.tril(a, -1), -1, -2), b))
    check_grads(lambda a, b: fsl.solve_triangular(a, b), (a, b), order=2)


LU_A = well_conditioned(np.random.default_rng(15), (3, 4, 4)) - 3 * np.eye(4)
LU_PIV = sl.lu_factor(LU_A)


def test_numpy_and_scipy_triangular_solvers_agree():
    # SciPy solves one matrix (or large ones) by substitution, NumPy stacks of small ones by LU
    rng = np.random.default_rng(14)
    for shape in [(5, 5), (3, 4, 4), (2, 70, 70)]:
        a, b = well_conditioned(rng, shape), rand(rng, shape[:-1] + (3,))
        for kw in ({"lower": True}, {"lower": False, "transpose_a": True},
                   {"lower": True, "unit_diagonal": True}):
            got = ls.triangular_solve(a, b, **kw)
            t = _triangle(a, **kw)
            expected = np.linalg.solve(np.swapaxes(t, -1, -2) if kw.get("transpose_a") else t, b)
            np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def _triangle(a, lower, transpose_a=False, unit_diagonal=False):
    t = np.tril(a) if lower else np.triu(a)
    if unit_diagonal:
        i = np.arange(a.shape[-1])
        t[..., i, i] = 1.0
    return t


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
def test_triangular_solves_on_every_layout_agree_with_scipy(dtype):
    """The solve calls BLAS trsm from the right on C- or Fortran-ordered matrices (copying
    any other b into C order) and SciPy's trtrs otherwise: every layout, side of
    transposition, triangle and unit diagonal gives SciPy's result, a new array, b unchanged,
    and an exactly zero diagonal is still refused."""
    import scipy.linalg as sl

    from funcgrad.prims.linalg_solve import _solve_triangular_left
    rng = np.random.default_rng(8)
    n = 7
    noise = rng.standard_normal((n, n)) + (1j * rng.standard_normal((n, n))
                                           if dtype == np.complex128 else 0)
    base = (np.tril(noise) / n + np.eye(n)).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for b0 in (rng.standard_normal((n, 3)).astype(dtype), rng.standard_normal(n).astype(dtype)):
        wide = np.zeros((2 * n,) + b0.shape[1:], dtype)
        wide[::2] = b0                                    # b neither C- nor Fortran-ordered
        for b in (np.ascontiguousarray(b0), np.asfortranarray(b0), wide[::2]):
            for lower in (True, False):
                a0 = base if lower else base.T.copy()
                strided = np.zeros((n, 2 * n), dtype)
                strided[:, ::2] = a0                      # neither C- nor Fortran-ordered
                for a in (np.ascontiguousarray(a0), np.asfortranarray(a0), strided[:, ::2]):
                    for transpose_a, conjugate_a in ((False, False), (True, False), (True, True),
                                                     (False, True)):
                        for unit in (False, True):
                            got = _solve_triangular_left(a, b, lower, transpose_a, conjugate_a,
                                                         unit)
                            trans = (2 if conjugate_a else 1) if transpose_a else 0
                            op_a = np.conj(a) if conjugate_a and not transpose_a else a
                            want = sl.solve_triangular(op_a, b, trans=trans, lower=lower,
                                                       unit_diagonal=unit)
                            assert got.dtype == want.dtype and got.shape == want.shape
                            np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
                            assert not np.shares_memory(got, b)
                            np.testing.assert_array_equal(b, b0)   # b is never written
    singular = base.copy()
    singular[2, 2] = 0
    with pytest.raises(np.linalg.LinAlgError):
        _solve_triangular_left(singular, b0, True, False, False, False)
