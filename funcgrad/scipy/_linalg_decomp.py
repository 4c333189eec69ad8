"""funcgrad.scipy.linalg's decompositions and matrix functions: eigh, qr, svd, expm,
expm_frechet, block_diag. The decompositions are funcgrad.numpy.linalg's (the same primitives,
values and derivatives; see its documentation) behind SciPy's signatures; expm and
expm_frechet need SciPy (`pip install 'funcgrad[scipy]'`), the others do not.
"""
from __future__ import annotations

import numpy as _np

from ..core.trace import Tracer
from ..numpy import _linalg_decomp as _dec
from ..numpy._creation import _arr
from ..numpy._elementwise import astype as _astype
from ..numpy._indexing import triu as _triu
from ..numpy._shapes import atleast_2d as _atleast_2d
from ..numpy._shapes import concatenate as _concatenate
from ..numpy._shapes import matrix_transpose as _matrix_transpose
from ..numpy._util import _dtype, _ndim, _reports_user_line, _shape
from ..prims import linalg_decomp as _ld

_QR_MODES = {"full": "complete", "economic": "reduced", "r": "r", "raw": "raw"}


def _not_supported(name: str, **options) -> None:
    """Refuse the options funcgrad does not implement (each given as (value, default))."""
    for option, (value, default) in options.items():
        if value is not None if default is None else value != default:
            raise NotImplementedError(f"{name}: the option {option} is not supported (only "
                                      f"{option}={default!r})")


def eigh(a, b=None, *, lower=True, eigvals_only=False, overwrite_a=False, overwrite_b=False,
         type=1, check_finite=True, subset_by_index=None, subset_by_value=None, driver=None):
    """scipy.linalg.eigh for the standard problem (b=None): (w, v), or w with
    eigvals_only=True. `lower` picks the triangle the values are read from; the derivative is
    that of the Hermitian matrix (see funcgrad.numpy.linalg.eigh).

    >>> eigh(_np.array([[2.0, 1.0], [1.0, 2.0]]), eigvals_only=True)
    array([1., 3.])
    """
    _not_supported("eigh", b=(b, None), type=(type, 1), subset_by_index=(subset_by_index, None),
                   subset_by_value=(subset_by_value, None))
    uplo = "L" if lower else "U"
    if eigvals_only:
        return _dec.eigvalsh(a, UPLO=uplo)
    w, v = _dec.eigh(a, UPLO=uplo)
    return w, v


def qr(a, overwrite_a=False, lwork=None, mode="full", pivoting=False, check_finite=True):
    """scipy.linalg.qr without pivoting: mode 'full' (Q m x m, R m x n), 'economic'
    (Q m x k, R k x n), 'r' (a 1-tuple (R,), R m x n) and 'raw' (((qr, tau), R)).
    Differentiable for 'economic' and 'r', and 'full' when m <= n.

    >>> q, r = qr(_np.array([[3.0, 0.0], [4.0, 1.0]]))
    >>> _np.allclose(q @ r, [[3.0, 0.0], [4.0, 1.0]])
    True
    """
    _not_supported("qr", pivoting=(pivoting, False))
    if mode not in _QR_MODES:
        raise ValueError(f"qr: mode must be one of 'full', 'r', 'economic' or 'raw', not "
                         f"{mode!r}")
    if mode == "r":
        a = _arr_matrix(a)
        r = _dec.qr(a, mode="r")        # k x n; SciPy's R has m rows
        return (_pad_rows(r, _shape(a)[-2]),)
    if mode == "raw":
        h, tau = _dec.qr(a, mode="raw")
        qr_ = _matrix_transpose(h)      # LAPACK's layout, m x n
        k = _shape(tau)[-1]
        return (qr_, tau), _triu(qr_[..., :k, :])
    q, r = _dec.qr(a, mode=_QR_MODES[mode])
    return q, r


def _arr_matrix(a):
    a = _arr(a)
    return a if isinstance(a, (Tracer, _np.ndarray)) else _np.asarray(a)


def _pad_rows(r, m: int):
    """R (..., k, n) with zero rows added up to m rows."""
    shape = _shape(r)
    if shape[-2] == m:
        return r
    zeros = _np.zeros(shape[:-2] + (m - shape[-2], shape[-1]), _dtype(r))
    return _concatenate([r, zeros], axis=-2)


def svd(a, full_matrices=True, compute_uv=True, overwrite_a=False, check_finite=True,
        lapack_driver="gesdd"):
    """scipy.linalg.svd: (U, s, Vh), or s with compute_uv=False (NumPy's SVD, whichever
    lapack_driver is named). With full_matrices=True (the default) U and Vh of a non-square
    matrix have no derivative; pass full_matrices=False.

    >>> svd(_np.diag([1.0, 3.0]), compute_uv=False)
    array([3., 1.])
    """
    if lapack_driver not in ("gesdd", "gesvd"):
        raise ValueError(f"svd: lapack_driver must be 'gesdd' or 'gesvd', not "
                         f"{lapack_driver!r}")
    if not compute_uv:
        return _dec.svd(a, full_matrices=full_matrices, compute_uv=False)
    u, s, vh = _dec.svd(a, full_matrices=full_matrices)
    return u, s, vh


def _square(a, name: str):
    a = _arr_matrix(a)
    if _ndim(a) < 2 or _shape(a)[-1] != _shape(a)[-2]:
        raise _np.linalg.LinAlgError(f"{name}: expected a square matrix or a stack of them "
                                     f"(..., n, n), not shape {_shape(a)}")
    if _dtype(a).kind in "biu":
        a = _astype(a, _np.float64)
    return a


def expm(A):
    """scipy.linalg.expm: the matrix exponential of (stacks of) square matrices, by SciPy.
    Its derivative is the Fréchet derivative (expm_frechet), at every order.

    >>> expm(_np.zeros((2, 2)))
    array([[1., 0.],
           [0., 1.]])
    """
    _ld.scipy_linalg()      # says what to install, before any tracing
    return _ld.expm_p.bind(_square(A, "expm"))


def expm_frechet(A, E, method=None, compute_expm=True, check_finite=True):
    """scipy.linalg.expm_frechet: (expm(A), L(A, E)), or L(A, E) with compute_expm=False,
    where L(A, E) is the derivative of expm at A in the direction E (the upper-right block of
    expm([[A, E], [0, A]])). Differentiable in A and E at every order.

    >>> expm_frechet(_np.zeros((2, 2)), _np.eye(2), compute_expm=False)
    array([[1., 0.],
           [0., 1.]])
    """
    _ld.scipy_linalg()
    A, E = _square(A, "expm_frechet"), _square(E, "expm_frechet")
    if _shape(A) != _shape(E):
        raise ValueError(f"expm_frechet: A and E must have the same shape, not {_shape(A)} "
                         f"and {_shape(E)}")
    dtype = _np.result_type(_dtype(A), _dtype(E))
    A, E = _astype(A, dtype), _astype(E, dtype)
    frechet = _ld.expm_frechet(A, E)
    return (_ld.expm_p.bind(A), frechet) if compute_expm else frechet


def block_diag(*arrs):
    """scipy.linalg.block_diag: the arrays (0-d, 1-d as one row, or 2-d) on the diagonal of
    one matrix, zeros elsewhere; differentiable in every array.

    >>> block_diag(_np.ones((1, 2)), 2.0)
    array([[1., 1., 0.],
           [0., 0., 2.]])
    """
    if not arrs:
        return _np.empty((1, 0))
    arrs = [_atleast_2d(_arr_matrix(a)) for a in arrs]
    bad = [k for k, a in enumerate(arrs) if _ndim(a) > 2]
    if bad:
        raise ValueError(f"block_diag: arguments in the following positions have dimension "
                         f"greater than 2: {bad} (shapes {[_shape(arrs[k]) for k in bad]})")
    dtype = _np.result_type(*[_dtype(a) for a in arrs])
    widths = [_shape(a)[1] for a in arrs]
    total = sum(widths)
    rows, before = [], 0
    for a, w in zip(arrs, widths):
        h = _shape(a)[0]
        parts = [_np.zeros((h, before), dtype), _astype(a, dtype),
                 _np.zeros((h, total - before - w), dtype)]
        rows.append(_concatenate(parts, axis=1))
        before += w
    return _concatenate(rows, axis=0)


__all__ = _reports_user_line(globals())
