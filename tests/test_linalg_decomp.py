"""The decompositions of funcgrad.numpy.linalg and funcgrad.scipy.linalg (eigh, eigvalsh, eig,
eigvals, svd, svdvals, qr, pinv, lstsq, matrix_rank, cond, the matrix 2-norms; SciPy's eigh, qr,
svd, expm, expm_frechet, block_diag): values against NumPy and SciPy (up to the sign or phase
of eigen- and singular vectors) on stacks, float32 and complex inputs; derivatives of
gauge-invariant functions against finite differences to second order; vmap against a loop;
jit(grad) against grad; the documented behaviour at repeated eigen- and singular values and
where no derivative exists; np.linalg on traced values; expm without SciPy.

The primitives themselves are also in tests/test_prims.py's generic tests and the execution-
path matrix of tests/test_eager.py, through tests/cases_linalg_decomp.py.
"""
from __future__ import annotations

import doctest
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.linalg as sl

import funcgrad as fg
import funcgrad.numpy as fnp
import funcgrad.numpy._linalg_decomp as decomp
import funcgrad.scipy._linalg_decomp as scipy_decomp
import funcgrad.scipy.linalg as fsl
from funcgrad.test_util import check_grads

LA = fnp.linalg
RNG = np.random.default_rng(20261204)


def rand(*shape, dtype=np.float64):
    x = RNG.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * RNG.standard_normal(shape)
    return x.astype(dtype)


def herm(*shape, dtype=np.float64):
    x = rand(*shape, dtype=dtype)
    return (x + np.conj(np.swapaxes(x, -1, -2))) / 2


def H(x):
    return fnp.conj(fnp.swapaxes(x, -1, -2))


def close(got, expected, dtype=np.float64, scale=1.0):
    tol = (1e-4 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-10) * scale
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=tol, atol=tol)


DTYPES = [np.float32, np.float64, np.complex64, np.complex128]


# ---------------------------------------------------------------- values vs NumPy / SciPy

@pytest.mark.parametrize("dtype", DTYPES)
def test_eigh_and_eigvalsh_match_numpy(dtype):
    a = herm(2, 3, 4, 4, dtype=dtype)
    for uplo in ("L", "U"):
        w, v = LA.eigh(a, UPLO=uplo)
        ref = np.linalg.eigh(a, UPLO=uplo)
        assert type(LA.eigh(a)).__name__ == "EighResult" and LA.eigh(a).eigenvectors is not None
        assert (w.dtype, v.dtype) == (ref.eigenvalues.dtype, ref.eigenvectors.dtype)
        close(w, ref.eigenvalues, dtype)
        # eigenvectors up to a phase per column: |V^H V_ref| is the identity
        overlap = np.abs(np.conj(np.swapaxes(v, -1, -2)) @ ref.eigenvectors)
        close(overlap, np.broadcast_to(np.eye(4), overlap.shape), dtype)
        close(LA.eigvalsh(a, UPLO=uplo), np.linalg.eigvalsh(a, UPLO=uplo), dtype)
    # the values read one triangle, as NumPy
    b = rand(3, 3)
    close(LA.eigvalsh(b, UPLO="U"), np.linalg.eigvalsh(b, UPLO="U"))


@pytest.mark.parametrize("dtype", DTYPES)
def test_eig_and_eigvals_match_numpy_and_are_complex(dtype):
    a = rand(2, 4, 4, dtype=dtype)
    w, v = LA.eig(a)
    ct = np.result_type(dtype, np.complex64)
    assert w.dtype == v.dtype == ct and LA.eigvals(a).dtype == ct
    ref = np.linalg.eigvals(a)
    close(np.sort_complex(w), np.sort_complex(ref), dtype)
    close(np.sort_complex(LA.eigvals(a)), np.sort_complex(ref), dtype)
    close(a @ v, v * w[..., None, :], dtype, scale=10)                  # A V = V diag(w)
    close(np.linalg.norm(v, axis=-2), np.ones((2, 4)), dtype)         # unit columns
    # real eigenvalues: NumPy returns real arrays, funcgrad complex ones with zero imaginary part
    wr = LA.eigvals(np.diag([1.0, 2.0]))
    assert wr.dtype == np.complex128 and np.array_equal(wr, [1.0, 2.0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 4, 3), (3, 5), (3, 3)])
def test_svd_matches_numpy(dtype, shape):
    a = rand(*shape, dtype=dtype)
    for full in (True, False):
        u, s, vh = LA.svd(a, full_matrices=full)
        ref = np.linalg.svd(a, full_matrices=full)
        assert type(LA.svd(a)).__name__ == "SVDResult"
        assert [x.shape for x in (u, s, vh)] == [x.shape for x in ref]
        assert [x.dtype for x in (u, s, vh)] == [x.dtype for x in ref]
        close(s, ref.S, dtype)
        k = s.shape[-1]
        close((u[..., :k] * s[..., None, :]) @ vh[..., :k, :], a, dtype)
    close(LA.svd(a, compute_uv=False), np.linalg.svd(a, compute_uv=False), dtype)
    close(LA.svdvals(a), np.linalg.svd(a, compute_uv=False), dtype)
    assert LA.svdvals(a).dtype == np.linalg.svd(a, compute_uv=False).dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_svd_hermitian_is_numpy_s(dtype):
    a = herm(2, 4, 4, dtype=dtype)
    got, ref = LA.svd(a, hermitian=True), np.linalg.svd(a, hermitian=True)
    for g, r in zip(got, ref):
        assert g.dtype == r.dtype
        close(g, r, dtype)
    close(LA.svd(a, compute_uv=False, hermitian=True),
          np.linalg.svd(a, compute_uv=False, hermitian=True), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 4, 3), (3, 5), (3, 3)])
def test_qr_matches_numpy_in_every_mode(dtype, shape):
    a = rand(*shape, dtype=dtype)
    for mode in ("reduced", "complete", "r", "raw"):
        got, ref = LA.qr(a, mode=mode), np.linalg.qr(a, mode=mode)
        got, ref = fg.tree.leaves(got), fg.tree.leaves(ref)
        assert len(got) == len(ref)
        for g, r in zip(got, ref):
            assert (g.shape, g.dtype) == (r.shape, r.dtype), mode
            close(g, r, dtype)
    assert type(LA.qr(a)).__name__ == "QRResult"
    with pytest.warns(DeprecationWarning):
        close(LA.qr(a, mode="full")[0], np.linalg.qr(a)[0], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pinv_lstsq_matrix_rank_match_numpy(dtype):
    a = rand(2, 5, 3, dtype=dtype)
    close(LA.pinv(a), np.linalg.pinv(a), dtype)
    assert LA.pinv(a).dtype == np.linalg.pinv(a).dtype
    h = herm(4, 4, dtype=dtype)
    close(LA.pinv(h, hermitian=True), np.linalg.pinv(h, hermitian=True), dtype)
    low = rand(5, 2, dtype=dtype) @ rand(2, 3, dtype=dtype)            # rank 2
    for kw in ({}, {"rcond": 1e-3}, {"rtol": None}, {"rtol": 1e-3}):
        close(LA.pinv(low, **kw), np.linalg.pinv(low, **kw), dtype, scale=10)
    assert int(LA.matrix_rank(low)) == np.linalg.matrix_rank(low) == 2
    np.testing.assert_array_equal(LA.matrix_rank(a), np.linalg.matrix_rank(a))
    assert LA.matrix_rank(a).dtype == np.linalg.matrix_rank(a).dtype
    for kw in ({"tol": 0.5}, {"rtol": 0.3}, {"hermitian": True}):
        m = h if kw.get("hermitian") else a
        np.testing.assert_array_equal(LA.matrix_rank(m, **kw), np.linalg.matrix_rank(m, **kw))
    assert LA.matrix_rank(np.zeros(3)) == 0 and LA.matrix_rank(np.ones(3)) == 1
    for b in (rand(5, dtype=dtype), rand(5, 2, dtype=dtype)):
        got, ref = LA.lstsq(a[0], b), np.linalg.lstsq(a[0], b)
        for g, r in zip(got, ref):
            assert np.shape(g) == np.shape(r) and np.asarray(g).dtype == np.asarray(r).dtype
            close(g, r, dtype, scale=10)
    wide = rand(3, 5, dtype=dtype)
    for g, r in zip(LA.lstsq(wide, rand(3, dtype=dtype)), np.linalg.lstsq(wide, rand(3))):
        assert np.shape(g) == np.shape(r)


def test_lstsq_residuals_of_a_rank_deficient_tall_matrix():
    # NumPy returns no residuals when the rank is below n; funcgrad's shape cannot depend on
    # the (traced) rank, so it returns them (as JAX does).
    a = np.array([[1.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    b = np.array([1.0, 2.0, 3.0])
    x, res, rank, s = LA.lstsq(a, b)
    xr, resr, rankr, sr = np.linalg.lstsq(a, b)
    close(x, xr)
    assert int(rank) == rankr == 1 and resr.shape == (0,)
    close(res, [np.sum((b - a @ xr) ** 2)])


def test_cond_and_matrix_norms_match_numpy():
    a = rand(2, 3, 3)
    for p in (None, 2, -2, "fro", "nuc", 1, -1, np.inf, -np.inf):
        close(LA.cond(a, p), np.linalg.cond(a, p))
        close(fg.jit(lambda a, p=p: LA.cond(a, p))(a), np.linalg.cond(a, p))
    wide = rand(3, 5)
    close(LA.cond(wide), np.linalg.cond(wide))
    close(LA.cond(wide, -2), np.linalg.cond(wide, -2))
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    for p in ("fro", 1, -1, np.inf, -np.inf):
        assert LA.cond(singular, p) == np.linalg.cond(singular, p) == np.inf
    b = rand(3, 4, 2) + 1j * rand(3, 4, 2)
    for o in (2, -2, "nuc"):
        close(LA.norm(b[..., 0], o), np.linalg.norm(b[..., 0], o))
        for axis in ((0, 1), (2, 0), (-1, -3)):
            for keepdims in (False, True):
                close(LA.norm(b, o, axis=axis, keepdims=keepdims),
                      np.linalg.norm(b, o, axis=axis, keepdims=keepdims))
        close(LA.matrix_norm(b, ord=o), np.linalg.matrix_norm(b, ord=o))


def test_integers_become_float64_and_float32_stays():
    i = np.array([[2, 1], [1, 2]])
    assert LA.eigvalsh(i).dtype == np.float64 and LA.svdvals(i).dtype == np.float64
    close(LA.eigvalsh(i), [1.0, 3.0])
    f = herm(3, 3, dtype=np.float32)
    for fn in (LA.eigvalsh, LA.svdvals, LA.pinv, fsl.expm, lambda a: LA.qr(a)[0],
               lambda a: LA.norm(a, 2), lambda a: LA.cond(a)):
        assert fn(f).dtype == np.float32
        assert fg.grad(lambda a, fn=fn: fnp.sum(fnp.real(fn(a))))(f).dtype == np.float32
    c = herm(3, 3, dtype=np.complex64)
    assert LA.eigh(c).eigenvalues.dtype == np.float32 and LA.eig(c).eigenvectors.dtype == \
        np.complex64


def test_scipy_functions_match_scipy():
    a = herm(2, 4, 4)
    for lower in (True, False):
        close(fsl.eigh(a, lower=lower, eigvals_only=True), sl.eigh(a, lower=lower,
                                                                    eigvals_only=True))
        w, v = fsl.eigh(a[0], lower=lower)
        wr, vr = sl.eigh(a[0], lower=lower)
        close(w, wr)
        close(np.abs(v.T @ vr), np.eye(4))
    m = rand(5, 3) + 1j * rand(5, 3)
    for mode in ("full", "economic", "r", "raw"):
        for x in (m, m.T):
            got, ref = fg.tree.leaves(fsl.qr(x, mode=mode)), fg.tree.leaves(sl.qr(x, mode=mode))
            assert [g.shape for g in got] == [r.shape for r in ref], mode
            for g, r in zip(got, ref):
                close(g, r)
    assert isinstance(fsl.qr(m, mode="r"), tuple) and len(fsl.qr(m, mode="r")) == 1
    for full in (True, False):
        got, ref = fsl.svd(m, full_matrices=full), sl.svd(m, full_matrices=full)
        assert [g.shape for g in got] == [r.shape for r in ref]
        close(got[1], ref[1])
    close(fsl.svd(m, compute_uv=False, lapack_driver="gesvd"), sl.svd(m, compute_uv=False))
    e = rand(2, 3, 3) * 0.7
    close(fsl.expm(e), sl.expm(e))
    close(fsl.expm(e[0] + 1j * e[1]), sl.expm(e[0] + 1j * e[1]))
    close(fsl.expm(np.eye(2, dtype=int)), sl.expm(np.eye(2, dtype=int)))
    f, fr = fsl.expm_frechet(e[0], e[1]), sl.expm_frechet(e[0], e[1])
    close(f[0], fr[0])
    close(f[1], fr[1])
    close(fsl.expm_frechet(e, e[::-1], compute_expm=False),
          sl.expm_frechet(e, e[::-1], compute_expm=False))
    blocks = (np.ones((1, 2)), [3, 4], 5, np.zeros((0, 2)), np.eye(2, dtype=np.float32))
    close(fsl.block_diag(*blocks), sl.block_diag(*blocks))
    assert fsl.block_diag(*blocks).dtype == sl.block_diag(*blocks).dtype
    assert fsl.block_diag().shape == sl.block_diag().shape == (1, 0)
    close(fsl.block_diag(1j * np.ones((2, 2)), 2.0), sl.block_diag(1j * np.ones((2, 2)), 2.0))


# ---------------------------------------------------------------- errors

def test_errors_name_shapes_and_the_user_line():
    with pytest.raises(np.linalg.LinAlgError, match=r"shape \(3,\).* at .*test_linalg_decomp"):
        LA.svd(np.ones(3))
    with pytest.raises(np.linalg.LinAlgError, match=r"square.*\(2, 3\)"):
        LA.eigh(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"square.*\(4, 2, 3\)"):       # under jit too
        fg.jit(LA.eig)(np.ones((4, 2, 3)))
    with pytest.raises(TypeError, match="float16"):
        LA.eigvalsh(np.eye(2, dtype=np.float16))
    with pytest.raises(ValueError, match="UPLO"):
        LA.eigh(np.eye(2), UPLO="X")
    with pytest.raises(ValueError, match="mode 'bad'"):
        LA.qr(np.eye(2), mode="bad")
    with pytest.raises(np.linalg.LinAlgError, match="incompatible dimensions"):
        LA.lstsq(np.ones((3, 2)), np.ones(4))
    with pytest.raises(NotImplementedError, match="rcond"):
        fg.jit(lambda a, r: LA.pinv(a, rcond=r))(np.eye(2), 0.1)
    with pytest.raises(NotImplementedError, match="option b "):
        fsl.eigh(np.eye(2), np.eye(2))
    with pytest.raises(NotImplementedError, match="pivoting"):
        fsl.qr(np.eye(2), pivoting=True)
    with pytest.raises(ValueError, match=r"dimension greater than 2.*\[1\]"):
        fsl.block_diag(np.eye(2), np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="cond is not defined on empty"):
        LA.cond(np.zeros((0, 0)))


# ---------------------------------------------------------------- derivatives

def _hermitian_from(x, y=None):
    """A Hermitian matrix with well-separated eigenvalues, from real arguments."""
    n = x.shape[-1]
    b = x if y is None else x + 1j * y
    return 0.1 * (b + H(b)) + np.diag(2.0 * np.arange(n))


@pytest.mark.parametrize("complex_", [False, True])
def test_eigh_derivatives(complex_):
    args = [rand(2, 4, 4)] + ([rand(2, 4, 4)] if complex_ else [])

    def f(*xs):
        w, v = LA.eigh(_hermitian_from(*xs))
        return (v * fnp.exp(w * 0.3)[..., None, :]) @ H(v)     # expm(0.3 A), gauge-invariant
    check_grads(f, args, order=2)
    check_grads(lambda *xs: LA.eigvalsh(_hermitian_from(*xs), UPLO="U"), args, order=2)
    check_grads(lambda *xs: fsl.eigh(_hermitian_from(*xs), eigvals_only=True), args, order=1)
    # as a matrix function it is expm: the same derivative as scipy's
    got = fg.grad(lambda *xs: fnp.sum(fnp.abs(f(*xs)) ** 2))(*args)
    want = fg.grad(lambda *xs: fnp.sum(fnp.abs(fsl.expm(0.3 * _hermitian_from(*xs))) ** 2))(*args)
    close(got, want, scale=100)


def test_the_gradient_of_a_hermitian_input_is_hermitian():
    a = herm(3, 3, dtype=np.complex128) + np.diag([0.0, 3.0, 6.0])
    g = fg.grad(lambda a: LA.eigvalsh(a)[2])(a)
    close(g, np.conj(g.T))
    v = np.linalg.eigh(a)[1][:, 2]
    close(g, np.conj(np.outer(v, np.conj(v))))      # d w_max = v^H dA v; grad conj (JAX)


@pytest.mark.parametrize("shape", [(2, 4, 3), (3, 5), (3, 3)])
@pytest.mark.parametrize("complex_", [False, True])
def test_svd_derivatives(shape, complex_):
    def mat(*xs):
        base = np.zeros(shape[-2:])
        k = min(shape[-2:])
        base[range(k), range(k)] = 1.5 * np.arange(k, 0, -1)
        return base + 0.1 * (xs[0] if len(xs) == 1 else xs[0] + 1j * xs[1])
    args = [rand(*shape)] + ([rand(*shape)] if complex_ else [])

    def f(*xs):
        u, s, vh = LA.svd(mat(*xs), full_matrices=False)
        return (u * fnp.sin(s)[..., None, :]) @ vh + (u @ H(u)).sum() + (H(vh) @ vh).sum()
    check_grads(f, args, order=2)
    check_grads(lambda *xs: LA.svdvals(mat(*xs)), args, order=2)
    check_grads(lambda *xs: LA.norm(mat(*xs)[..., :, :], "nuc", axis=(-2, -1)), args, order=2)
    check_grads(lambda *xs: LA.cond(mat(*xs)), args, order=1)


def test_svd_hermitian_derivative():
    x = rand(4, 4)
    centre = np.diag([1.0, -2.5, 4.0, -5.5])        # distinct |eigenvalues|, none near 0

    def f(x):
        u, s, vh = LA.svd(centre + 0.1 * (x + x.T), hermitian=True)
        return (u * s[..., None, :]) @ vh + u @ H(u) * s[0]
    check_grads(f, (x,), order=2)
    check_grads(lambda x: LA.svd(centre + 0.1 * (x + x.T), compute_uv=False, hermitian=True),
                (x,), order=2)


@pytest.mark.parametrize("shape", [(2, 5, 3), (3, 5), (3, 3)])
@pytest.mark.parametrize("complex_", [False, True])
def test_qr_derivatives(shape, complex_):
    def mat(*xs):
        base = np.zeros(shape[-2:])
        k = min(shape[-2:])
        base[range(k), range(k)] = 2.0 + np.arange(k)
        return base + 0.2 * (xs[0] if len(xs) == 1 else xs[0] + 1j * xs[1])
    args = [rand(*shape) * 0.5] + ([rand(*shape) * 0.5] if complex_ else [])
    check_grads(lambda *xs: LA.qr(mat(*xs))[0], args, order=2)
    check_grads(lambda *xs: LA.qr(mat(*xs))[1], args, order=2)
    check_grads(lambda *xs: LA.qr(mat(*xs), mode="r"), args, order=1)
    check_grads(lambda *xs: fsl.qr(mat(*xs), mode="r")[0], args, order=1)
    if shape[-2] <= shape[-1]:
        check_grads(lambda *xs: LA.qr(mat(*xs), mode="complete")[0], args, order=1)


def test_eig_derivatives():
    x, y = rand(2, 3, 3), rand(2, 3, 3)
    d = np.array([[1.0, 1.5, 0.0], [-1.5, 1.0, 0.0], [0.0, 0.0, -2.0]])

    def f(x, y):
        w, v = LA.eig(d + 0.1 * (x + 1j * y))
        return (v * fnp.exp(w)[..., None, :]) @ H(v)     # phase-invariant
    check_grads(f, (x, y), order=2)
    check_grads(lambda x: fnp.sum(LA.eigvals(d + 0.1 * x) ** 2, axis=-1), (x,), order=2)
    # real input, complex eigenvalues: the gradient of a real function is real
    g = fg.grad(lambda x: fnp.sum(fnp.abs(LA.eigvals(d + 0.1 * x))))(x[0])
    assert g.dtype == np.float64


def test_pinv_and_lstsq_derivatives_where_the_rank_is_constant():
    a, b = rand(5, 3), rand(5, 2)
    check_grads(LA.pinv, (a,), order=2)
    check_grads(lambda a: LA.pinv(a + 1j * a[::-1]), (a,), order=2)
    # rank 2 for every b, c: pinv is differentiable although the matrix is rank-deficient
    check_grads(lambda b, c: LA.pinv(b @ c, rcond=1e-10), (rand(4, 2), rand(2, 3)), order=2)
    h = herm(3, 3) + np.diag([2.0, -3.0, 4.0])
    check_grads(lambda h: LA.pinv(h + h.T, hermitian=True), (h,), order=2)
    g = fg.grad(lambda h: fnp.sum(LA.pinv(h, hermitian=True)[0]))(h)
    close(g, g.T)                   # the derivative of the Hermitian matrix, as eigh's
    check_grads(lambda a, b: LA.lstsq(a, b)[0], (a, b), order=2)
    check_grads(lambda a, b: LA.lstsq(a, b)[1], (a, b), order=2)
    check_grads(lambda a, b: LA.lstsq(a, b[:, 0])[3], (a, b), order=1)
    # the normal equations' gradient
    ga = fg.grad(lambda a: fnp.sum(LA.lstsq(a, b)[0]))(a)
    ref = fg.grad(lambda a: fnp.sum(fnp.linalg.solve(a.T @ a, a.T @ b)))(a) \
        if hasattr(fnp.linalg, "solve") else ga
    close(ga, ref, scale=100)


def test_expm_derivatives_every_order():
    x, y = rand(2, 3, 3) * 0.5, rand(2, 3, 3) * 0.5
    check_grads(fsl.expm, (x,), order=2)
    check_grads(lambda x, y: fsl.expm(x + 1j * y), (x, y), order=2)
    check_grads(lambda x, y: fsl.expm_frechet(x, y, compute_expm=False), (x, y), order=2)
    # third order through the same primitive: d^3/dt^3 tr expm(t A) = tr(A^3 expm(t A))
    a = x[0]

    def tr(t):
        return fnp.trace(fsl.expm(t * a))
    d3 = fg.grad(fg.grad(fg.grad(tr)))(0.7)
    close(d3, np.trace(np.linalg.matrix_power(a, 3) @ sl.expm(0.7 * a)))
    # the gradient of tr(expm(A)) is expm(A)^T
    close(fg.grad(lambda a: fnp.trace(fsl.expm(a)))(a), sl.expm(a).T)


def test_block_diag_and_norm_derivatives():
    a, b = rand(2, 3), rand(1, 2)
    check_grads(lambda a, b: fsl.block_diag(a, b, 2.0 * b), (a, b), order=2)
    check_grads(lambda a: LA.norm(a, 2), (a,), order=2)
    check_grads(lambda a: LA.norm(a, -2), (a,), order=2)
    check_grads(lambda a: LA.cond(a[:, :2] + 2 * np.eye(2), 1), (a,), order=2)


# ---------------------------------------------------------------- transformations

def test_vmap_equals_a_loop():
    xs = rand(3, 4, 4)
    fns = [lambda x: LA.eigh(_hermitian_from(x))[1] @ LA.eigh(_hermitian_from(x))[1].T,
           lambda x: LA.svdvals(x[:, :3]), lambda x: LA.pinv(x[:3]), lambda x: LA.qr(x)[1],
           lambda x: LA.eigvals(x) * 0 + fnp.sum(LA.eigvals(x) ** 2),
           lambda x: fsl.expm(0.3 * x), lambda x: LA.matrix_rank(x[:, :2] @ x[:2]),
           lambda x: LA.lstsq(x, x[:, 0])[0], lambda x: LA.cond(x, "fro"),
           lambda x: LA.norm(x, "nuc")]
    for fn in fns:
        close(fg.vmap(fn)(xs), np.stack([fn(x) for x in xs]))
        close(fg.vmap(fn, in_axes=1)(np.moveaxis(xs, 0, 1)), np.stack([fn(x) for x in xs]))
        close(fg.vmap(fg.vmap(fn))(xs.reshape(3, 1, 4, 4))[:, 0],
              np.stack([fn(x) for x in xs]))


def test_jit_grad_equals_grad():
    x = rand(2, 4, 4)

    def loss(x):
        a = _hermitian_from(x)
        w, v = LA.eigh(a)
        u, s, vh = LA.svd(x, full_matrices=False)
        q, r = LA.qr(x)
        return (fnp.sum(w ** 2) + fnp.sum(fnp.abs(v @ v.mT)) + fnp.sum(s) + fnp.sum(q @ r)
                + fnp.sum(LA.pinv(x)) + fnp.sum(fnp.real(LA.eigvals(x)) ** 2)
                + fnp.sum(fsl.expm(0.2 * x)) + LA.norm(x[0], 2) + fnp.sum(LA.cond(x)))
    g = fg.grad(loss)(x)
    close(fg.jit(fg.grad(loss))(x), g)
    close(fg.grad(fg.jit(loss))(x), g)
    for _ in range(4):                  # the eager tape's regimes
        close(fg.grad(loss)(x), g)


def test_numpy_calls_on_traced_values_dispatch():
    x = rand(2, 3, 3)

    def f(x):
        a = x + np.swapaxes(x, -1, -2)
        w, v = np.linalg.eigh(a)
        u, s, vh = np.linalg.svd(x, full_matrices=False)
        q, r = np.linalg.qr(x)
        return (np.sum(w * w) + np.sum(np.linalg.eigvalsh(a)) + np.sum(s)
                + np.sum(np.linalg.svdvals(x)) + np.sum(r * r) + np.sum(np.linalg.pinv(x))
                + np.sum(np.abs(np.linalg.eigvals(x))) + np.sum(np.abs(np.linalg.eig(x)[0]))
                + np.sum(np.linalg.lstsq(x[0], x[1, 0])[0]) + np.sum(np.linalg.cond(x))
                + np.linalg.norm(x[0], 2) + np.sum(np.linalg.matrix_rank(x)))
    close(fg.jit(f)(x), f(x))
    g = fg.grad(f)(x)
    close(fg.jit(fg.grad(f))(x), g)
    graph = fg.make_graph(f)(x)
    assert {"eigh", "svd", "qr", "pinv", "eig"} <= {e.primitive.name for e in graph.eqns}


def test_matrix_rank_is_an_integer_without_derivative():
    x = rand(3, 4, 4)
    x[1, :, 0] = x[1, :, 1]
    r = fg.jit(LA.matrix_rank)(x)
    assert r.dtype == np.linalg.matrix_rank(x).dtype and list(r) == [4, 3, 4]
    g = fg.grad(lambda x: fnp.sum(x * LA.matrix_rank(x)[:, None, None]))(x)
    close(g, np.broadcast_to(np.array([4.0, 3.0, 4.0])[:, None, None], x.shape))
    assert fg.make_graph(lambda x: LA.matrix_rank(x))(x).out_avals[0].dtype.kind == "i"


# ---------------------------------------------------------------- degenerate values

def test_repeated_eigenvalues():
    a = np.diag([1.0, 1.0, 2.0])
    # eigenvalues: finite, exact for functions symmetric in the repeated ones (here sum w^2,
    # whose gradient is 2 A), on every path; via eigh's w too
    for f in (lambda a: fnp.sum(LA.eigvalsh(a) ** 2), lambda a: fnp.sum(LA.eigh(a)[0] ** 2)):
        for grad in (fg.grad(f), fg.jit(fg.grad(f))):
            for _ in range(4):
                close(grad(a), 2 * a)
        close(fg.jvp(f, (a,), (np.ones((3, 3)),))[1], 2 * np.sum(a))
    # eigenvectors: undefined there, inf/NaN
    _, dv = fg.jvp(lambda a: LA.eigh(a)[1], (a,), (np.ones((3, 3)),))
    assert not np.all(np.isfinite(dv))
    # second derivatives pass through the eigenvectors: NaN
    assert np.isnan(fg.hessian(lambda a: fnp.sum(LA.eigvalsh(a) ** 2))(a)).any()


def test_repeated_singular_values():
    a = np.eye(3)[:, :2] * 2.0           # singular values 2, 2
    close(fg.grad(lambda a: fnp.sum(LA.svdvals(a)))(a), np.eye(3)[:, :2])    # nuclear: U V^T
    close(fg.grad(lambda a: LA.norm(a, "nuc"))(a), np.eye(3)[:, :2])
    _, du = fg.jvp(lambda a: LA.svd(a, full_matrices=False)[0], (a,), (np.ones((3, 2)),))
    assert not np.all(np.isfinite(du))
    # pinv of an orthogonal matrix: repeated singular values, but pinv is smooth there
    q = np.linalg.qr(rand(3, 3))[0]
    check_grads(LA.pinv, (q,), order=2)


def test_repeated_eigenvalues_of_eig():
    a = np.array([[2.0, 0.0], [0.0, 2.0]])
    t = rand(2, 2)
    close(fg.jvp(lambda a: fnp.sum(LA.eigvals(a)), (a,), (t,))[1], np.trace(t))
    _, dv = fg.jvp(lambda a: LA.eig(a)[1], (a,), (np.array([[0.0, 1.0], [0.0, 0.0]]),))
    assert not np.all(np.isfinite(dv))


# ---------------------------------------------------------------- what has no derivative

def test_svd_full_matrices_has_no_derivative_for_non_square_matrices():
    a = rand(4, 3)
    with pytest.raises(NotImplementedError,
                       match=r"full_matrices=True.*\(4, 3\).*full_matrices=False"):
        fg.grad(lambda a: fnp.sum(LA.svd(a)[0]))(a)
    with pytest.raises(NotImplementedError, match="full_matrices"):
        fg.jvp(lambda a: fsl.svd(a)[2], (a,), (a,))
    # square: the same as full_matrices=False; singular values alone: any shape
    check_grads(lambda a: LA.svd(a[:3])[1], (a,), order=1)
    check_grads(lambda a: LA.svd(a, compute_uv=False), (a,), order=1)


def test_qr_modes_without_derivative():
    a = rand(4, 3)
    with pytest.raises(NotImplementedError, match="complete.*\\(4, 3\\).*reduced"):
        fg.grad(lambda a: fnp.sum(LA.qr(a, mode="complete")[0]))(a)
    with pytest.raises(NotImplementedError, match="raw"):
        fg.grad(lambda a: fnp.sum(LA.qr(a, mode="raw")[1]))(a)
    with pytest.raises(NotImplementedError, match="complete"):
        fg.grad(lambda a: fnp.sum(fsl.qr(a)[1]))(a)


# ---------------------------------------------------------------- without SciPy

def test_expm_without_scipy_says_what_to_install(monkeypatch):
    for name in [n for n in sys.modules if n == "scipy" or n.startswith("scipy.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"expm needs scipy.*pip install 'funcgrad\[scipy\]'"):
        fsl.expm(np.eye(2))
    with pytest.raises(ImportError, match="funcgrad\\[scipy\\]"):
        fg.jit(fsl.expm_frechet)(np.eye(2), np.eye(2))
    # the decompositions need no SciPy
    close(fsl.eigh(np.eye(2), eigvals_only=True), [1.0, 1.0])
    close(fsl.block_diag(np.eye(1), 2.0), np.diag([1.0, 2.0]))


def test_funcgrad_imports_without_scipy():
    code = ("import sys; sys.modules['scipy'] = None\n"
            "import funcgrad.scipy.linalg as l, numpy as np\n"
            "print(l.svd(np.eye(2), compute_uv=False))\n"
            "try:\n    l.expm(np.eye(2))\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "[1. 1.]" in out and "pip install 'funcgrad[scipy]'" in out


def test_no_warnings_on_ordinary_values():
    x = rand(3, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fg.grad(lambda x: fnp.sum(LA.svdvals(x)) + fnp.sum(LA.eigvalsh(x + x.T))
                + LA.cond(x, 1))(x)


def test_module_doctests():
    for module in (decomp, scipy_decomp, fnp.linalg):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__
