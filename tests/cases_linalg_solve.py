"""The cases of the solve and factorisation primitives (prims/linalg_solve.py) for
tests/test_prims.py and the execution-path matrix: cholesky, triangular_solve, solve, inv,
slogdet, det, cofactor, lu, lu_pivots_to_permutation, each through the public functions that
bind it (funcgrad.numpy.linalg and funcgrad.scipy.linalg) against NumPy's and SciPy's.

Stacks of matrices with broadcast stack axes, vector and matrix right-hand sides, float32 and
float64. The structure that keeps a case well conditioned (a dominant diagonal, a positive
definite product, a row permutation with clear pivots) is built inside the case's function from
entries in [-1, 1], so it survives what the generic tests do to the arguments (sin of them,
small perturbations, finite-difference steps); the structure's constants are closed over.
"""
from __future__ import annotations

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import strategies as st
from test_prims import values

import funcgrad.numpy as fnp
import funcgrad.scipy.linalg as fsl
from funcgrad.prims import linalg_solve as ls

try:
    import scipy.linalg as sl
except ImportError:     # the references of the SciPy-only cases need it
    sl = None

STACKS = hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3)
SIZES = st.integers(1, 4)
ENTRIES = (-1.0, 1.0)


def _rng(draw):
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))


def _stack_pair(draw):
    """Two stack shapes that broadcast together."""
    return draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2,
                                                  min_side=1, max_side=3),
                label="stacks").input_shapes


def _dominant_diagonal(rng, n: int, dtype):
    """A diagonal that makes x + D diagonally dominant (rows and columns) for entries of x in
    [-1, 1], with random signs: det(x + D) takes both signs, and its condition stays small."""
    return np.diag(rng.choice([-1.0, 1.0], n) * (n + 1.0)).astype(dtype)


def _m_t(xp, x):
    return xp.swapaxes(x, -1, -2)


def _tri_np(a, lower, unit):
    t = np.tril(a) if lower else np.triu(a)
    if unit:
        i = np.arange(a.shape[-1])
        t[..., i, i] = 1.0
    return t


# ---------------------------------------------------------------- cholesky

def cholesky_case(draw, dtype):
    stack, n = draw(STACKS, label="stack"), draw(SIZES, label="n")
    how = draw(st.sampled_from(["numpy", "numpy upper", "scipy", "scipy lower", "cho_factor",
                                "inv pos", "solve pos"]), label="function")
    x, s = values(draw, [stack + (n, n), ()], dtype, ENTRIES)
    eye = np.eye(n, dtype=dtype)

    def fn(xp, x, s):
        a = xp.matmul(x, _m_t(xp, x)) + (n + s * s) * eye    # positive definite
        if how == "inv pos":
            return (fsl if xp is fnp else sl).inv(a, assume_a="pos", lower=True)
        if how == "solve pos":
            return (fsl if xp is fnp else sl).solve(a, x, assume_a="pos")
        if xp is np:
            if how.startswith("numpy"):
                return np.linalg.cholesky(a, upper=how == "numpy upper")
            return sl.cholesky(a, lower=how == "scipy lower") if how != "cho_factor" else \
                np.triu(sl.cho_factor(a)[0])
        if how.startswith("numpy"):
            return fnp.linalg.cholesky(a, upper=how == "numpy upper")
        return fsl.cholesky(a, lower=how == "scipy lower") if how != "cho_factor" else \
            fsl.cho_factor(a)[0]
    return fn, [x, s]


# ---------------------------------------------------------------- triangular_solve

def triangular_solve_case(draw, dtype):
    how = draw(st.sampled_from(["solve_triangular", "right side", "cho_solve", "lu_solve"]),
               label="function")
    rng = _rng(draw)
    n, k = draw(SIZES, label="n"), draw(st.integers(1, 3), label="k")
    if how == "right side":     # the primitive itself (no public function solves x a = b)
        stack = draw(STACKS, label="stack")
        sa, sb = stack + (n, n), stack + (k, n)
    else:
        stack_a, stack_b = _stack_pair(draw)
        vector = draw(st.booleans(), label="vector b")
        sa, sb = stack_a + (n, n), (n,) if vector else stack_b + (n, k)
    lower, unit = draw(st.booleans(), label="lower"), draw(st.booleans(), label="unit")
    trans = draw(st.sampled_from([0, 1, 2, "N", "T"]), label="trans")
    a, b = values(draw, [sa, sb], dtype, ENTRIES)
    # |diagonal| >= 1.5 against off-diagonal entries in [-1, 1]: well-conditioned triangles
    diag = np.diag(rng.choice([-1.0, 1.0], n) * 2.5).astype(dtype)
    t = {0: 0, 1: 1, 2: 2, "N": 0, "T": 1}[trans]

    def fn(xp, a, b):
        a = a + diag
        if xp is fnp:
            if how == "right side":
                return ls.triangular_solve(a, b, left_side=False, lower=lower,
                                           transpose_a=t > 0, unit_diagonal=unit)
            if how == "cho_solve":
                return fsl.cho_solve((a, lower), b)
            if how == "lu_solve":    # a's two triangles as an LU factorisation, no pivoting
                return fsl.lu_solve((a, np.arange(n)), b, trans=t)
            return fsl.solve_triangular(a, b, trans=trans, lower=lower, unit_diagonal=unit)
        if how == "right side":
            op = _tri_np(a, lower, unit)
            op = np.swapaxes(op, -1, -2) if t else op
            return np.swapaxes(np.linalg.solve(np.swapaxes(op, -1, -2),
                                               np.swapaxes(b, -1, -2)), -1, -2)
        if how == "cho_solve":
            c = _tri_np(a, lower, False)        # a = L L^T, or U^T U
            ct = np.swapaxes(c, -1, -2)
            return np.linalg.solve(c @ ct if lower else ct @ c, b)
        if how == "lu_solve":
            full = _tri_np(a, True, True) @ _tri_np(a, False, False)
            return np.linalg.solve(np.swapaxes(full, -1, -2) if t else full, b)
        op = _tri_np(a, lower, unit)
        return np.linalg.solve(np.swapaxes(op, -1, -2) if t else op, b)
    return fn, [a, b]


# ---------------------------------------------------------------- triangular_matmul

def triangular_matmul_case(draw, dtype):
    """The primitive itself (cholesky's derivative binds it): every side, triangle and op, on
    stacks; n = 70 takes BLAS trmm (one matrix), smaller ones NumPy's batched product."""
    large = draw(st.booleans(), label="BLAS size")
    n = 70 if large else draw(SIZES, label="n")
    k = draw(st.integers(1, 3), label="k")
    stack = () if large else draw(STACKS, label="stack")
    left, lower = draw(st.booleans(), label="left side"), draw(st.booleans(), label="lower")
    transpose = draw(st.booleans(), label="transpose a")
    sa, sb = stack + (n, n), stack + ((n, k) if left else (k, n))
    a, b = values(draw, [sa, sb], dtype, ENTRIES)

    def fn(xp, a, b):
        if xp is fnp:
            return ls.triangular_matmul(a, b, left_side=left, lower=lower,
                                        transpose_a=transpose)
        t = _tri_np(a, lower, False)
        t = np.swapaxes(t, -1, -2) if transpose else t
        return t @ b if left else b @ t
    return fn, [a, b]


# ---------------------------------------------------------------- solve, inv

def solve_case(draw, dtype):
    rng = _rng(draw)
    how = draw(st.sampled_from(["numpy", "scipy", "scipy sym", "scipy tridiagonal",
                                "scipy transposed", "tensorsolve"]), label="function")
    n = draw(SIZES, label="n")
    stack_a, stack_b = _stack_pair(draw)
    if how == "tensorsolve":
        stack_a, stack_b = (), ()
    vector = how == "tensorsolve" or draw(st.booleans(), label="vector b")
    k = draw(st.integers(1, 3), label="k")
    a, b = values(draw, [stack_a + (n, n), (n,) if vector else stack_b + (n, k)], dtype,
                  ENTRIES)
    diag = _dominant_diagonal(rng, n, dtype)

    def fn(xp, a, b):
        if how != "scipy sym":
            a = a + diag
        if how == "numpy":
            return xp.linalg.solve(a, b)
        if how == "tensorsolve":
            return xp.linalg.tensorsolve(xp.reshape(a, (n, 1, n)), b)
        # NumPy references (SciPy 1.17's own solve fails on some stacks of 1 x 1 matrices)
        if how == "scipy":
            return fsl.solve(a, b) if xp is fnp else np.linalg.solve(a, b)
        if how == "scipy transposed":
            return fsl.solve(a, b, transposed=True) if xp is fnp else \
                np.linalg.solve(_m_t(np, a), b)
        if how == "scipy tridiagonal":
            band = np.abs(np.subtract.outer(np.arange(n), np.arange(n))) <= 1
            return fsl.solve(a, b, assume_a="tridiagonal") if xp is fnp else \
                np.linalg.solve(np.where(band, a, 0.0), b)
        # symmetric, so that SciPy's value (one triangle) and funcgrad's derivative (along
        # the symmetric part) describe the same function
        a = (a + _m_t(xp, a)) * 0.5 + diag
        if xp is fnp:
            return fsl.solve(a, b, assume_a="sym", lower=True)
        return np.linalg.solve(np.tril(a) + _m_t(np, np.tril(a, -1)), b)
    return fn, [a, b]


def inv_case(draw, dtype):
    rng = _rng(draw)
    how = draw(st.sampled_from(["inv", "matrix_power", "tensorinv", "scipy", "scipy her"]),
               label="function")
    n = draw(SIZES, label="n")
    stack = () if how == "tensorinv" else draw(STACKS, label="stack")
    (a,) = values(draw, [stack + (n, n)], dtype, ENTRIES)
    diag = _dominant_diagonal(rng, n, dtype)
    power = draw(st.sampled_from([-1, -2, -5]), label="power")

    def fn(xp, a):
        a = a + diag
        if how == "inv":
            return xp.linalg.inv(a)
        if how == "matrix_power":
            return xp.linalg.matrix_power(a, power)
        if how == "tensorinv":
            return xp.linalg.tensorinv(xp.reshape(a, (n, 1, n)), ind=2)
        if how == "scipy":
            return (fsl if xp is fnp else sl).inv(a)
        a = (a + _m_t(xp, a)) * 0.5     # symmetric: SciPy reads the upper triangle
        return (fsl if xp is fnp else sl).inv(a, assume_a="her")
    return fn, [a]


# ---------------------------------------------------------------- determinants

def slogdet_case(draw, dtype):
    rng = _rng(draw)
    stack, n = draw(STACKS, label="stack"), draw(SIZES, label="n")
    (a,) = values(draw, [stack + (n, n)], dtype, ENTRIES)
    diag = _dominant_diagonal(rng, n, dtype)

    def fn(xp, a):
        sign, logabsdet = xp.linalg.slogdet(a + diag)
        return sign * logabsdet
    return fn, [a]


def det_case(draw, dtype):
    rng = _rng(draw)
    stack, n = draw(STACKS, label="stack"), draw(SIZES, label="n")
    (a,) = values(draw, [stack + (n, n)], dtype, ENTRIES)
    diag = _dominant_diagonal(rng, n, dtype) / n    # determinants of modest size

    scipy = draw(st.booleans(), label="scipy.linalg.det")

    def fn(xp, a):
        if scipy:
            return (fsl if xp is fnp else sl).det(a + diag)
        return xp.linalg.det(a + diag)
    return fn, [a]


def cofactor_case(draw, dtype):
    rng = _rng(draw)
    stack, n = draw(STACKS, label="stack"), draw(SIZES, label="n")
    (a,) = values(draw, [stack + (n, n)], dtype, ENTRIES)
    diag = _dominant_diagonal(rng, n, dtype) / n

    def fn(xp, a):
        a = a + diag
        if xp is fnp:
            return ls.cofactor(a)
        return np.linalg.det(a)[..., None, None] * np.swapaxes(np.linalg.inv(a), -1, -2)
    return fn, [a]


# ---------------------------------------------------------------- LU

def lu_case(draw, dtype):
    if sl is None:
        pytest.skip("the LU factorisation needs SciPy")
    rng = _rng(draw)
    how = draw(st.sampled_from(["lu_factor", "lu", "permute_l", "p_indices"]), label="function")
    stack = draw(STACKS, label="stack")
    m, n = draw(SIZES, label="m"), draw(SIZES, label="n")
    (x,) = values(draw, [stack + (m, n)], dtype, ENTRIES)
    # x + D is column diagonally dominant (no pivoting needed, with a margin); a row
    # permutation then fixes the pivots, far from ties
    k = min(m, n)
    dom = np.zeros((m, n), dtype)
    dom[np.arange(k), np.arange(k)] = rng.choice([-1.0, 1.0], k) * (m + 1.0)
    perm = np.eye(m, dtype=dtype)[rng.permutation(m)]

    def fn(xp, x):
        a = xp.matmul(perm, x + dom)
        mod = fsl if xp is fnp else sl
        if how == "lu_factor":
            return mod.lu_factor(a)[0]
        if how == "lu":
            p, low, up = mod.lu(a)
            return xp.concatenate([xp.reshape(p @ low, stack + (-1,)),
                                   xp.reshape(up, stack + (-1,))], axis=-1)
        if how == "permute_l":
            pl, up = mod.lu(a, permute_l=True)
            return xp.concatenate([xp.reshape(pl, stack + (-1,)),
                                   xp.reshape(up, stack + (-1,))], axis=-1)
        p, low, up = mod.lu(a, p_indices=True)
        return xp.take_along_axis(low, p[..., :, None], axis=-2) * 2.0 + up[..., :1, :1]
    return fn, [x]


def _permutation_np(piv, m):
    perm = np.empty(piv.shape[:-1] + (m,), np.int32)
    for idx in np.ndindex(piv.shape[:-1]):
        p = list(range(m))
        for i, j in enumerate(piv[idx]):
            p[i], p[j] = p[j], p[i]
        perm[idx] = p
    return perm


def lu_pivots_to_permutation_case(draw, dtype):
    rng = _rng(draw)
    stack = draw(STACKS, label="stack")
    m, n = draw(SIZES, label="m"), draw(st.integers(1, 3), label="n")
    k = draw(st.integers(0, m), label="pivots")
    piv = rng.integers(0, m, stack + (k,)).astype(np.int32)
    (x,) = values(draw, [stack + (m, n)], dtype, None)

    def fn(xp, piv, x):
        if xp is fnp:
            perm = ls.lu_pivots_to_permutation(piv, m)
        else:
            perm = _permutation_np(np.asarray(piv), m)
        return xp.take_along_axis(x, perm[..., :, None], axis=-2) * x
    return fn, [piv, x]


CASES = {
    "cholesky": cholesky_case,
    "triangular_solve": triangular_solve_case,
    "triangular_matmul": triangular_matmul_case,
    "solve": solve_case,
    "inv": inv_case,
    "slogdet": slogdet_case,
    "det": det_case,
    "cofactor": cofactor_case,
    "lu": lu_case,
    "lu_pivots_to_permutation": lu_pivots_to_permutation_case,
}
