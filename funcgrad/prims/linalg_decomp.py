"""Matrix decompositions, each one primitive on stacks of matrices (..., m, n): eigh, svd, qr,
eig, pinv, expm and expm's Fréchet derivative (expm_frechet).

Each is computed by NumPy (np.linalg; expm by SciPy) on the whole stack at once, so a batching
rule only moves the vmapped axis to the front. The derivative rules are JAX's
(jax/_src/lax/linalg.py), written with dot_general and elementwise primitives, so they can be
differentiated again:

- eigh: dw = Re diag(V^H dA V) and dV = V (F o V^H dA V), F_ij = 1 / (w_j - w_i) (0 on the
  diagonal), with dA symmetrised, (dA + dA^H) / 2, as JAX does: the derivative is that of a
  Hermitian input (its gradient is Hermitian), whichever triangle the values are read from.
- svd: JAX's svd_jvp_rule (any m, n) with F_ij = 1 / (s_j^2 - s_i^2).
- qr: JAX's qr_jvp_rule for m >= n, and for m < n the same rule on the leading square block
  with dR = dQ^H A + Q^H dA. It needs R^-1: the primitive returns it as a third result when
  asked (`rinv=True`), so the rule needs no solve primitive and stays differentiable.
- eig: dw = diag(V^-1 dA V), dV = V (F o V^-1 dA V) less each column's component along itself
  (the unit-norm normalisation of NumPy's eigenvectors); V^-1 is a result of the primitive
  when asked (`inverse=True`), as R^-1 is for qr.
- pinv: Golub and Pereyra's derivative of the pseudo-inverse X,
  dX = -X dA X + X X^H dA^H (I - A X) + (I - X A) dA^H X^H X, valid where the rank is constant
  (with hermitian=True, dA symmetrised as for eigh).
- expm: dexp = L(A, dA), the Fréchet derivative, which is the upper-right block of
  expm([[A, dA], [0, A]]) (the primitive expm_frechet). L is linear in its second operand
  (its transpose is L(A^T, .)), and its own derivative is again the upper-right block of a
  Fréchet derivative of the block matrix, so every order uses the same primitive.

Where a derivative does not exist, the rules give inf or NaN, never a finite wrong number:
repeated eigenvalues (eigh, eig) or singular values (svd) make F infinite, so the derivatives
of eigenvectors and singular vectors there are inf/NaN (as in JAX). The derivatives of the
eigenvalues and singular values alone (eigh with vectors=False, svd with compute_uv=False,
eig with vectors=False) use no F, so they stay finite at repeated values; they are the
derivative of any function symmetric in each group of equal values (a trace, a norm, a sum of
f(w)), which is what is differentiable there. Second derivatives do pass through F: they are
NaN at repeated values.
"""
from __future__ import annotations

import numpy as np

from ..core.ir import is_undefined
from ..core.primitive import Primitive
from ..core.types import ArrayType, promote
from ..util import optional_import
from .elementwise import add, conj, convert, div, eq, mul, neg, real, sub
from .indexing import concatenate, slice_axis
from .linalg import dot_general
from .linalg import dtype_of as _dtype
from .linalg import is_complex as _is_complex
from .linalg import matrix_transpose as _mT
from .shape import (
    aval_of,
    batch_size,
    bdim_to,
    move_axis,
    reduce_sum,
    reshape,
    shape_of,
    zeros,
)

_INEXACT = tuple(np.dtype(t) for t in (np.float32, np.float64, np.complex64, np.complex128))


def _check(name: str, x: ArrayType, square: bool = False) -> None:
    """Operands are (stacks of) matrices of a dtype LAPACK takes."""
    if x.ndim < 2:
        raise ValueError(f"{name}: needs a matrix or a stack of matrices (..., m, n), not an "
                         f"array of shape {x.shape}")
    if square and x.shape[-1] != x.shape[-2]:
        raise ValueError(f"{name}: needs square matrices (..., n, n), not shape {x.shape}")
    if x.dtype not in _INEXACT:
        raise TypeError(f"{name}: arrays of dtype {x.dtype} are not supported (float32, "
                        f"float64, complex64 or complex128)")


def _real_dtype(dtype) -> np.dtype:
    return np.finfo(dtype).dtype


def _complex_dtype(dtype) -> np.dtype:
    return np.result_type(dtype, np.complex64)


def _count(shape) -> int:
    """The number of matrices in a stack of this shape."""
    return int(np.prod(shape[:-2], dtype=np.int64))


# --- matrix helpers: they bind primitives, so rules written with them are differentiable ----

def _H(x):
    t = _mT(x)
    return conj(t) if _is_complex(t) else t


def _mm(a, b):
    """a @ b for two stacks with the same batch shape."""
    nb = len(shape_of(a)) - 2
    r = tuple(range(nb))
    return dot_general(a, b, ((nb + 1,), (nb,)), (r, r))


def _re(x):
    return real(x) if _is_complex(x) else x


def _eye(n: int, dtype) -> np.ndarray:
    return np.eye(n, dtype=_real_dtype(dtype))


def _diag(x):
    """The diagonals (..., n) of a stack of square matrices (..., n, n)."""
    shape = shape_of(x)
    return reduce_sum(mul(x, _eye(shape[-1], _dtype(x))), (len(shape) - 1,))


def _diag_matrix(v):
    """Diagonal matrices (..., n, n) with the entries v (..., n)."""
    return mul(_cols_of(v), _eye(shape_of(v)[-1], _dtype(v)))


def _cols_of(v):
    """v (..., n) as (..., 1, n): multiplying a matrix by it scales column j by v_j."""
    s = shape_of(v)
    return reshape(v, s[:-1] + (1, s[-1]))


def _rows_of(v):
    """v (..., n) as (..., n, 1): multiplying a matrix by it scales row i by v_i."""
    s = shape_of(v)
    return reshape(v, s[:-1] + (s[-1], 1))


def _inverse_gaps(w):
    """F_ij = 1 / (w_j - w_i) off the diagonal, 0 on it: inf where w_i == w_j (i != j)."""
    eye = _eye(shape_of(w)[-1], _dtype(w))
    return sub(div(1.0, add(sub(_cols_of(w), _rows_of(w)), eye)), eye)


def _safe_reciprocal(s):
    """1 / s, and 0 where s == 0 (JAX's s_inv)."""
    z = convert(eq(s, 0.0), _dtype(s))
    return sub(div(1.0, add(s, z)), z)


def _symmetrize(x):
    return mul(add(x, _H(x)), 0.5)


def _safe_inv(x: np.ndarray) -> np.ndarray:
    """np.linalg.inv of a stack, with NaN matrices where a matrix is singular (derivative
    rules use inverses only where the derivative exists; the values never fail on them)."""
    with np.errstate(all="ignore"):
        try:
            return np.linalg.inv(x)
        except np.linalg.LinAlgError:
            n = x.shape[-1]
            out = np.full(x.shape, np.nan, x.dtype)
            flat_in, flat_out = x.reshape(-1, n, n), out.reshape(-1, n, n)
            for i in range(flat_in.shape[0]):
                try:
                    flat_out[i] = np.linalg.inv(flat_in[i])
                except np.linalg.LinAlgError:
                    pass
            return out


def _batch_one_operand(prim):
    """Batching rule of a primitive on one stack of matrices: the vmapped axis goes first and
    becomes one more stack axis."""
    def rule(vals, dims, **params):
        (x,), (d,) = vals, dims
        out = prim.bind(move_axis(x, d, 0), **params)
        return (out, [0] * len(out)) if prim.multiple_results else (out, 0)
    return rule


# --- eigh: eigenvalues (ascending) and eigenvectors of Hermitian matrices -----------------

def _eigh_impl(a, *, lower, vectors):
    uplo = "L" if lower else "U"
    if vectors:
        w, v = np.linalg.eigh(a, UPLO=uplo)
        return [w, v]
    return [np.linalg.eigvalsh(a, UPLO=uplo)]


def _eigh_type(a: ArrayType, *, lower, vectors):
    _check("eigh", a, square=True)
    w = ArrayType(a.shape[:-1], _real_dtype(a.dtype))
    return [w, ArrayType(a.shape, a.dtype)] if vectors else [w]


def _eigh_jvp(primals, tangents, *, lower, vectors):
    (a,), (da,) = primals, tangents
    w, v = eigh_p.bind(a, lower=lower, vectors=True)
    vdav = _mm(_H(v), _mm(_symmetrize(da), v))
    dw = _re(_diag(vdav))          # no F: finite and right at repeated eigenvalues too
    if not vectors:
        return [w], [dw]
    return [w, v], [dw, _mm(v, mul(_inverse_gaps(w), vdav))]


def _eigh_cost(a: ArrayType, *, lower, vectors):
    n = a.shape[-1]
    return _count(a.shape) * (4 * n ** 3 // 3 + (6 * n ** 3 if vectors else 0))


eigh_p = Primitive("eigh", _eigh_impl, _eigh_type, jvp=_eigh_jvp, cost=_eigh_cost,
                   multiple_results=True, checks_values=True)
eigh_p.batch = _batch_one_operand(eigh_p)


# --- svd: U, s (descending), Vh -----------------------------------------------------------

def _svd_impl(a, *, full_matrices, compute_uv):
    if compute_uv:
        u, s, vh = np.linalg.svd(a, full_matrices=full_matrices)
        return [u, s, vh]
    return [np.linalg.svd(a, compute_uv=False)]


def _svd_type(a: ArrayType, *, full_matrices, compute_uv):
    _check("svd", a)
    *batch, m, n = a.shape
    batch, k = tuple(batch), min(m, n)
    s = ArrayType(batch + (k,), _real_dtype(a.dtype))
    if not compute_uv:
        return [s]
    ku, kv = (m, n) if full_matrices else (k, k)
    return [ArrayType(batch + (m, ku), a.dtype), s, ArrayType(batch + (kv, n), a.dtype)]


def _svd_jvp(primals, tangents, *, full_matrices, compute_uv):
    (a,), (da,) = primals, tangents
    m, n = shape_of(a)[-2:]
    if compute_uv and full_matrices and m != n:
        raise NotImplementedError(
            f"svd: the derivative of U and Vh with full_matrices=True is not defined for a "
            f"non-square matrix (shape {shape_of(a)}): the extra columns are not unique. Use "
            f"full_matrices=False (as in JAX)")
    u, s, vh = svd_p.bind(a, full_matrices=False, compute_uv=True)
    uh, v = _H(u), _H(vh)
    ds_mat = _mm(uh, _mm(da, v))                            # dS = U^H dA V
    ds = _re(_diag(ds_mat))        # no F: finite and right at repeated singular values too
    if not compute_uv:
        return [s], [ds]
    f = _inverse_gaps(mul(s, s))                            # 1 / (s_j^2 - s_i^2)
    dss = mul(ds_mat, _cols_of(s))                          # dS diag(s)
    sds = mul(ds_mat, _rows_of(s))                          # diag(s) dS
    inner_u = mul(f, add(dss, _H(dss)))
    if _is_complex(ds_mat):   # the imaginary part of diag(dS) goes to U (JAX's choice)
        inner_u = add(inner_u, mul(mul(sub(ds_mat, _H(ds_mat)), 0.5),
                                   _diag_matrix(_safe_reciprocal(s))))
    du = _mm(u, inner_u)
    dv = _mm(v, mul(f, add(sds, _H(sds))))
    if m > n:
        dav = _mm(da, v)
        du = add(du, div(sub(dav, _mm(u, _mm(uh, dav))), _cols_of(s)))
    if n > m:
        dahu = _mm(_H(da), u)
        dv = add(dv, div(sub(dahu, _mm(v, _mm(vh, dahu))), _cols_of(s)))
    return [u, s, vh], [du, ds, _H(dv)]


def _svd_cost(a: ArrayType, *, full_matrices, compute_uv):
    m, n = a.shape[-2:]
    k = min(m, n)
    return _count(a.shape) * (4 * m * n * k + (8 * m * n * k if compute_uv else 0))


svd_p = Primitive("svd", _svd_impl, _svd_type, jvp=_svd_jvp, cost=_svd_cost,
                  multiple_results=True, checks_values=True)
svd_p.batch = _batch_one_operand(svd_p)


# --- qr: NumPy's modes; R^-1 for the derivative rule ---------------------------------------

QR_MODES = ("reduced", "complete", "r", "raw")


def _right_inverse(r: np.ndarray) -> np.ndarray:
    """X with R X = I for R (..., k, n), n >= k: R1^-1 over zeros, R1 the leading square block
    (then A X = Q for A = Q R)."""
    k, n = r.shape[-2:]
    inv = _safe_inv(r[..., :k])
    if n == k:
        return inv
    return np.concatenate([inv, np.zeros(r.shape[:-2] + (n - k, k), r.dtype)], axis=-2)


def _qr_impl(a, *, mode, rinv):
    if mode == "raw":
        h, tau = np.linalg.qr(a, mode="raw")
        return [h, tau]
    if mode == "r":
        return [np.linalg.qr(a, mode="r")]
    q, r = np.linalg.qr(a, mode=mode)
    return [q, r, _right_inverse(r)] if rinv else [q, r]


def _qr_type(a: ArrayType, *, mode, rinv):
    _check("qr", a)
    if mode not in QR_MODES:
        raise ValueError(f"qr: unknown mode {mode!r} (one of {', '.join(QR_MODES)})")
    *batch, m, n = a.shape
    batch, k = tuple(batch), min(m, n)
    if mode == "raw":
        return [ArrayType(batch + (n, m), a.dtype), ArrayType(batch + (k,), a.dtype)]
    if mode == "r":
        return [ArrayType(batch + (k, n), a.dtype)]
    kq = m if mode == "complete" else k
    out = [ArrayType(batch + (m, kq), a.dtype), ArrayType(batch + (kq, n), a.dtype)]
    if rinv:
        if kq != k:
            raise ValueError(f"qr: rinv needs R's rows to be min(m, n), not so for "
                             f"mode='complete' and shape {a.shape}")
        out.append(ArrayType(batch + (n, k), a.dtype))
    return out


def _qr_jvp(primals, tangents, *, mode, rinv):
    # See j-towns.github.io/papers/qr-derivative.pdf for the derivation (JAX's rule).
    (x,), (dx,) = primals, tangents
    m, n = shape_of(x)[-2:]
    if mode == "raw":
        raise NotImplementedError("qr: mode='raw' (Householder reflectors) is not "
                                  "differentiable; use mode='reduced'")
    if mode == "complete" and m > n:
        raise NotImplementedError(
            f"qr: the derivative with mode='complete' is not defined for a matrix with more "
            f"rows than columns (shape {shape_of(x)}): the last {m - n} columns of Q are not "
            f"unique. Use mode='reduced' (as in JAX)")
    q, r, ri = qr_p.bind(x, mode="reduced", rinv=True)
    k = min(m, n)
    dx_rinv = _mm(dx, ri)                                   # dA R^-1  (m, k)
    qt = _mm(_H(q), dx_rinv)                                # Q^H dA R^-1  (k, k)
    low = mul(qt, np.tril(np.ones((k, k), _real_dtype(_dtype(qt))), -1))
    do = sub(low, _H(low))                                  # skew-Hermitian
    if _is_complex(qt):                                     # i Im(diag): R's diagonal is real
        do = add(do, mul(_eye(k, _dtype(qt)), sub(qt, convert(real(qt), _dtype(qt)))))
    dq = add(_mm(q, sub(do, qt)), dx_rinv)
    if m >= n:
        dr = _mm(sub(qt, do), r)
    else:   # R = Q^H A with a square, unitary Q
        dr = add(_mm(_H(dq), x), _mm(_H(q), dx))
    if mode == "r":
        return [r], [dr]
    outs, ts = [q, r], [dq, dr]
    if rinv:
        outs.append(ri)
        ts.append(neg(_mm(ri, _mm(dr, ri))))
    return outs, ts


def _qr_cost(a: ArrayType, *, mode, rinv):
    m, n = a.shape[-2:]
    k = min(m, n)
    flops = 2 * m * n * k - 2 * k ** 3 // 3
    if mode in ("reduced", "complete"):
        flops *= 2              # forming Q
    return _count(a.shape) * (flops + (2 * k ** 3 if rinv else 0))


qr_p = Primitive("qr", _qr_impl, _qr_type, jvp=_qr_jvp, cost=_qr_cost, multiple_results=True)
qr_p.batch = _batch_one_operand(qr_p)


# --- eig: complex eigenvalues and unit-norm eigenvectors of general matrices ----------------

def _eig_impl(a, *, vectors, inverse):
    dtype = _complex_dtype(a.dtype)
    if not vectors:
        return [np.linalg.eigvals(a).astype(dtype, copy=False)]
    w, v = np.linalg.eig(a)     # real arrays when every eigenvalue is real: always complex here
    w, v = w.astype(dtype, copy=False), v.astype(dtype, copy=False)
    return [w, v, _safe_inv(v)] if inverse else [w, v]


def _eig_type(a: ArrayType, *, vectors, inverse):
    _check("eig", a, square=True)
    dtype = _complex_dtype(a.dtype)
    w = ArrayType(a.shape[:-1], dtype)
    if not vectors:
        return [w]
    v = ArrayType(a.shape, dtype)
    return [w, v, v] if inverse else [w, v]


def _eig_jvp(primals, tangents, *, vectors, inverse):
    (a,), (da,) = primals, tangents
    w, v, vi = eig_p.bind(a, vectors=True, inverse=True)
    vdav = _mm(vi, _mm(convert(da, _dtype(w)), v))          # V^-1 dA V
    dw = _diag(vdav)
    if not vectors:
        return [w], [dw]
    du = _mm(v, mul(_inverse_gaps(w), vdav))
    # Each column keeps unit norm: remove its component along itself (v_k^H v_k = 1).
    nd = len(shape_of(v))
    dv = sub(du, mul(v, _cols_of(reduce_sum(mul(conj(v), du), (nd - 2,)))))
    outs, ts = [w, v], [dw, dv]
    if inverse:
        outs.append(vi)
        ts.append(neg(_mm(vi, _mm(dv, vi))))
    return outs, ts


def _eig_cost(a: ArrayType, *, vectors, inverse):
    n = a.shape[-1]
    return _count(a.shape) * ((25 if vectors else 10) * n ** 3 + (2 * n ** 3 if inverse else 0))


eig_p = Primitive("eig", _eig_impl, _eig_type, jvp=_eig_jvp, cost=_eig_cost,
                  multiple_results=True, checks_values=True)
eig_p.batch = _batch_one_operand(eig_p)


# --- pinv: the Moore-Penrose pseudo-inverse --------------------------------------------------

def _pinv_impl(a, *, rcond, hermitian):
    if rcond < 0 and a.shape[-1] == a.shape[-2]:
        # No cutoff: the inverse of a square matrix, by LU as np.linalg.inv (NaN where it is
        # singular); cond uses this, so that it is inf exactly where NumPy's is.
        return _safe_inv(a)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.linalg.pinv(a, rcond=rcond, hermitian=hermitian)


def _pinv_type(a: ArrayType, *, rcond, hermitian):
    _check("pinv", a, square=hermitian)
    return ArrayType(a.shape[:-2] + (a.shape[-1], a.shape[-2]), a.dtype)


def _pinv_jvp(primals, tangents, *, rcond, hermitian):
    # Golub & Pereyra (1973), valid where the rank is constant.
    (a,), (da,) = primals, tangents
    if hermitian:           # as eigh: the derivative of the Hermitian matrix
        da = _symmetrize(da)
    x = pinv_p.bind(a, rcond=rcond, hermitian=hermitian)
    xh, dah = _H(x), _H(da)
    t = neg(_mm(x, _mm(da, x)))
    t = add(t, _mm(_mm(x, xh), sub(dah, _mm(dah, _mm(a, x)))))
    t = add(t, _mm(sub(dah, _mm(_mm(x, a), dah)), _mm(xh, x)))
    return x, t


def _pinv_cost(a: ArrayType, *, rcond, hermitian):
    m, n = a.shape[-2:]
    return _count(a.shape) * 14 * m * n * min(m, n)


pinv_p = Primitive("pinv", _pinv_impl, _pinv_type, jvp=_pinv_jvp, cost=_pinv_cost, fresh=True,
                   checks_values=True)
pinv_p.batch = _batch_one_operand(pinv_p)


# --- expm and its Fréchet derivative (SciPy) -------------------------------------------------

def scipy_linalg():
    """scipy.linalg, or an ImportError saying what to install."""
    return optional_import("scipy.linalg", "funcgrad.scipy.linalg.expm", "scipy")


def _expm_impl(a):
    return np.asarray(scipy_linalg().expm(a))


def _expm_type(a: ArrayType):
    _check("expm", a, square=True)
    return ArrayType(a.shape, a.dtype)


def _expm_cost(a: ArrayType):
    return _count(a.shape) * 20 * a.shape[-1] ** 3


expm_p = Primitive("expm", _expm_impl, _expm_type, cost=_expm_cost, fresh=True)
expm_p.jvp = lambda primals, tangents: (expm_p.bind(primals[0]),
                                        expm_frechet(primals[0], tangents[0]))
expm_p.batch = _batch_one_operand(expm_p)


def _block(a, e):
    """[[a, e], [0, a]] for stacks of square matrices."""
    nd = len(shape_of(a))
    top = concatenate([a, e], nd - 1)
    bottom = concatenate([zeros(aval_of(a)), a], nd - 1)
    return concatenate([top, bottom], nd - 2)


def _frechet_impl(a, e):
    dtype = np.result_type(a, e)
    a, e = np.asarray(a, dtype), np.asarray(e, dtype)
    n = a.shape[-1]
    big = np.concatenate([np.concatenate([a, e], -1),
                          np.concatenate([np.zeros_like(a), a], -1)], -2)
    return np.ascontiguousarray(scipy_linalg().expm(big)[..., :n, n:])


def _frechet_type(a: ArrayType, e: ArrayType):
    _check("expm_frechet", a, square=True)
    _check("expm_frechet", e, square=True)
    if a.shape != e.shape:
        raise ValueError(f"expm_frechet: A and E must have the same shape, not {a.shape} and "
                         f"{e.shape}")
    return ArrayType(a.shape, promote(a, e)[0])


def _frechet_jvp(primals, tangents):
    (a, e), (da, de) = primals, tangents
    out = expm_frechet(a, e)
    if da is None:              # linear in E
        return out, expm_frechet(a, de)
    de = zeros(aval_of(e)) if de is None else de
    n, nd = shape_of(a)[-1], len(shape_of(a))
    t = expm_frechet(_block(a, e), _block(da, de))
    return out, slice_axis(slice_axis(t, nd - 2, 0, n), nd - 1, n, 2 * n)


def _frechet_transpose(ct, a, e):
    if is_undefined(a):
        raise NotImplementedError("expm_frechet is linear in its second operand only")
    return [None, expm_frechet(_mT(a), ct)]


def _frechet_batch(vals, dims):
    n = batch_size(vals, dims)
    a, e = (bdim_to(x, d, 0, n) for x, d in zip(vals, dims))
    return expm_frechet(a, e), 0


def _frechet_cost(a: ArrayType, e: ArrayType):
    return _count(a.shape) * 160 * a.shape[-1] ** 3


expm_frechet_p = Primitive("expm_frechet", _frechet_impl, _frechet_type, jvp=_frechet_jvp,
                           transpose=_frechet_transpose, batch=_frechet_batch,
                           cost=_frechet_cost, linear=True, fresh=True)


def expm_frechet(a, e):
    """L(A, E): the derivative of expm at A in the direction E."""
    return expm_frechet_p.bind(a, e)
