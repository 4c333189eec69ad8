"""The cases of the decomposition primitives for tests/test_prims.py (and the execution-path
matrix): eigh, svd, qr, eig, pinv, expm, expm_frechet.

Each case builds its matrix inside the function from real arguments in [-1, 1] (complex ones
from two real arguments, so that finite differences run on real inputs), as a fixed matrix
with well-separated eigen- or singular values plus a small multiple of the arguments: by
Weyl's (Bauer-Fike's) bound the values stay apart for every argument the tests draw or
perturb. Outputs are gauge-invariant (they do not depend on the sign or phase of eigenvectors
and singular vectors, nor on the order of eig's eigenvalues): V diag(f(w)) V^H, U diag(f(s)) Vh,
symmetric functions of eigenvalues; QR's Q and R are compared as they are (LAPACK's signs are
constant near these matrices: diagonally dominant, pivots far from zero). Stacks of matrices,
float32 and float64 through `dtype`.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as sl
from hypothesis import strategies as st
from test_prims import values

import funcgrad.numpy as fnp
import funcgrad.scipy.linalg as fsl

BATCHES = [(), (2,), (2, 1)]
SCALE = 0.05        # the arguments' weight: eigenvalue shifts <= 2 * SCALE * n * 1 = 0.4


def _fixed(n: int, m: int, seed: int, complex_: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.uniform(-1.0, 1.0, (n, m))
    return z + 1j * rng.uniform(-1.0, 1.0, (n, m)) if complex_ else z


def unitary(n: int, seed: int, complex_: bool) -> np.ndarray:
    return np.linalg.qr(_fixed(n, n, seed, complex_))[0]


def _dtype(dtype, complex_: bool):
    return np.result_type(dtype, np.complex64) if complex_ else np.dtype(dtype)


def _mT(xp, x):
    return xp.swapaxes(x, -1, -2)


def _H(xp, x):
    t = _mT(xp, x)
    return xp.conj(t) if t.dtype.kind == "c" else t


def _draw_common(draw, square: bool, max_n: int = 4):
    n = draw(st.integers(1, max_n), label="n")
    m = n if square else draw(st.integers(1, max_n), label="m")
    batch = draw(st.sampled_from(BATCHES), label="batch shape")
    complex_ = draw(st.booleans(), label="complex")
    return m, n, batch, complex_


def _args(draw, shape, dtype, complex_):
    return values(draw, [shape] * (2 if complex_ else 1), dtype, (-1.0, 1.0))


def _perturbation(x, y):
    return SCALE * (x if y is None else x + 1j * y)


def hermitian(xp, x, y, dtype, centre):
    """Q (diag(centre) + SCALE (X + X^H)/2-ish) Q^H, exactly Hermitian."""
    n = x.shape[-1]
    complex_ = y is not None
    q = unitary(n, 0, complex_).astype(_dtype(dtype, complex_))
    b = _perturbation(x, y)
    b = b + _H(xp, b) + np.diag(centre).astype(dtype)
    a = q @ b @ _H(xp, q)
    return (a + _H(xp, a)) * 0.5


def eigh_case(draw, dtype):
    _, n, batch, complex_ = _draw_common(draw, square=True)
    vectors = draw(st.booleans(), label="eigenvectors")
    uplo = draw(st.sampled_from(["L", "U"]), label="UPLO")
    centre = 2.0 * np.arange(n)                             # gaps of 2

    def fn(xp, x, y=None):
        a = hermitian(xp, x, y, dtype, centre)
        if not vectors:
            return xp.linalg.eigvalsh(a, UPLO=uplo)
        w, v = xp.linalg.eigh(a, UPLO=uplo)
        return (v * xp.sin(w)[..., None, :]) @ _H(xp, v) + w[..., :, None]
    return fn, _args(draw, batch + (n, n), dtype, complex_)


def well_conditioned(xp, x, y, dtype):
    """U0 (diag(1.5 k, ..., 1.5) + small) V0^H: singular values >= 1.1, gaps >= 0.7."""
    m, n = x.shape[-2:]
    complex_ = y is not None
    k = min(m, n)
    base = np.zeros((m, n))
    base[range(k), range(k)] = 1.5 * np.arange(k, 0, -1)
    dt = _dtype(dtype, complex_)
    u0, v0 = unitary(m, 1, complex_).astype(dt), unitary(n, 2, complex_).astype(dt)
    return u0 @ (base.astype(dtype) + _perturbation(x, y)) @ _H(xp, v0)


def svd_case(draw, dtype):
    m, n, batch, complex_ = _draw_common(draw, square=False)
    compute_uv = draw(st.booleans(), label="compute_uv")
    full = m == n and draw(st.booleans(), label="full_matrices")

    def fn(xp, x, y=None):
        a = well_conditioned(xp, x, y, dtype)
        if not compute_uv:
            return xp.linalg.svdvals(a) if xp is fnp else np.linalg.svd(a, compute_uv=False)
        u, s, vh = xp.linalg.svd(a, full_matrices=full)
        return (u * xp.sin(s)[..., None, :]) @ vh
    return fn, _args(draw, batch + (m, n), dtype, complex_)


def qr_case(draw, dtype):
    m, n, batch, complex_ = _draw_common(draw, square=False)
    modes = ["reduced", "r"] + (["complete"] if m <= n else [])
    mode = draw(st.sampled_from(modes), label="mode")
    # diagonally dominant: every Householder pivot stays near the diagonal, far from zero
    base = 0.3 * _fixed(m, n, 3, False)
    k = min(m, n)
    base[range(k), range(k)] = 2.0 + 0.5 * np.arange(k)

    def fn(xp, x, y=None):
        a = base.astype(dtype) + 4.0 * _perturbation(x, y)
        if mode == "r":
            return xp.linalg.qr(a, mode="r")
        q, r = xp.linalg.qr(a, mode=mode)
        lead = q.shape[:-2]
        return xp.concatenate([xp.reshape(q, lead + (-1,)), xp.reshape(r, lead + (-1,))], -1)
    return fn, _args(draw, batch + (m, n), dtype, complex_)


# Real matrices with distinct eigenvalues 1 +- 1.5i, -2, 3 (at least 2.5 apart).
_EIG_D = np.array([[1.0, 1.5, 0.0, 0.0], [-1.5, 1.0, 0.0, 0.0], [0.0, 0.0, -2.0, 0.0],
                   [0.0, 0.0, 0.0, 3.0]])


def general(xp, x, y, dtype):
    """S (D + small) S^-1 with a well-conditioned S."""
    n = x.shape[-1]
    d = _EIG_D[:n, :n] if n != 1 else np.ones((1, 1))
    s = np.eye(n) + 0.3 * _fixed(n, n, 4, False)
    return s.astype(dtype) @ (d.astype(dtype) + _perturbation(x, y)) @ \
        np.linalg.inv(s).astype(dtype)


def eig_case(draw, dtype):
    _, n, batch, complex_ = _draw_common(draw, square=True)
    vectors = draw(st.booleans(), label="eigenvectors")

    def fn(xp, x, y=None):
        a = general(xp, x, y, dtype)
        ct = np.result_type(a.dtype, np.complex64)
        if not vectors:
            w = xp.linalg.eigvals(a)
            w = w.astype(ct) if xp is np else w     # NumPy's is real when all are
            return xp.stack([xp.sum(w * w, axis=-1), xp.sum(xp.exp(w), axis=-1)], axis=-1)
        w, v = xp.linalg.eig(a)
        if xp is np:
            w, v = w.astype(ct), v.astype(ct)
        return (v * xp.exp(w)[..., None, :]) @ _H(xp, v)
    return fn, _args(draw, batch + (n, n), dtype, complex_)


def pinv_case(draw, dtype):
    m, n, batch, complex_ = _draw_common(draw, square=False)
    herm = m == n and draw(st.booleans(), label="hermitian")
    centre = np.array([1.5, -2.5, 3.5, -4.5])[:n]           # no eigenvalue near 0

    def fn(xp, x, y=None):
        a = hermitian(xp, x, y, dtype, centre) if herm else well_conditioned(xp, x, y, dtype)
        return xp.linalg.pinv(a, hermitian=herm)
    return fn, _args(draw, batch + (m, n), dtype, complex_)


def expm_case(draw, dtype):
    _, n, batch, complex_ = _draw_common(draw, square=True)

    def fn(xp, x, y=None):
        a = 10.0 * _perturbation(x, y)
        return fsl.expm(a) if xp is fnp else sl.expm(a)
    return fn, _args(draw, batch + (n, n), dtype, complex_)


def expm_frechet_case(draw, dtype):
    _, n, batch, complex_ = _draw_common(draw, square=True, max_n=3)
    shape = batch + (n, n)
    x, e = values(draw, [shape, shape], dtype, (-1.0, 1.0))

    def fn(xp, x, e):
        a = 0.5 * x * (1.0 + 0.5j) if complex_ else 0.5 * x
        e = e * (1 - 1j) if complex_ else e
        if xp is fnp:
            return fsl.expm_frechet(a, e, compute_expm=False)
        return sl.expm_frechet(a, e, compute_expm=False).astype(np.result_type(a, e))
    return fn, [x, e]


CASES = {
    "eigh": eigh_case,
    "svd": svd_case,
    "qr": qr_case,
    "eig": eig_case,
    "pinv": pinv_case,
    "expm": expm_case,
    "expm_frechet": expm_frechet_case,
}
