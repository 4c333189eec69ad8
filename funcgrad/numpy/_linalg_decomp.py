"""funcgrad.numpy.linalg's decompositions: eigh, eigvalsh, eig, eigvals, svd, svdvals, qr, and
what is built on them: pinv, lstsq, matrix_rank (cond and the matrix 2-norms are in linalg.py,
beside the other norms). Every function takes stacks of matrices (..., m, n) where NumPy does.

Values follow NumPy, derivatives JAX (the rules are in funcgrad/prims/linalg_decomp.py):

- Eigenvectors and singular vectors are defined up to a sign (a phase for complex values), so
  only functions that do not depend on that choice have a derivative: V diag(f(w)) V^H,
  U diag(f(s)) V^H, |U|, projectors such as U U^H. Where eigenvalues (singular values) repeat,
  the vectors are not even unique: their derivatives are inf/NaN there, while the derivatives
  of the eigenvalues (singular values) stay finite; second derivatives are NaN there.
- eigh, eigvalsh (and svd, pinv, matrix_rank with hermitian=True): the values read one
  triangle of the matrix (UPLO, as NumPy); the derivative is that of the Hermitian matrix,
  taken along (dA + dA^H) / 2 (as JAX), so the gradient with respect to a Hermitian matrix is
  Hermitian.
- svd: with full_matrices=True (NumPy's default) the derivative of U and Vh exists only for
  square matrices (as JAX); use full_matrices=False.
- qr: derivatives for mode 'reduced' and 'r' (any shape) and 'complete' when m <= n.
- eig, eigvals: always complex (NumPy returns real arrays when every eigenvalue is real; a
  traced function cannot choose its dtype by value); derivatives need distinct eigenvalues.
- pinv, lstsq: differentiable where the rank is constant (the pseudo-inverse jumps where a
  singular value crosses the cutoff).
- matrix_rank: not differentiable; an integer array, computed from traced values under jit.
"""
from __future__ import annotations

import builtins
import warnings
from collections import namedtuple

import numpy as _np

from ..core.trace import Tracer
from ..prims import linalg_decomp as _ld
from ._creation import _arr
from ._creation import asarray as _asarray
from ._elementwise import abs as _abs
from ._elementwise import astype as _astype
from ._elementwise import conjugate as _conjugate
from ._elementwise import greater as _greater
from ._elementwise import not_equal as _not_equal
from ._elementwise import sign as _sign
from ._elementwise import stop_gradient as _stop_gradient
from ._elementwise import subtract as _subtract
from ._indexing import take_along_axis as _take_along_axis
from ._products import matmul as _matmul
from ._reductions import any as _any
from ._reductions import count_nonzero as _count_nonzero
from ._reductions import max as _max
from ._reductions import sum as _sum
from ._shapes import expand_dims as _expand_dims
from ._shapes import flip as _flip
from ._shapes import matrix_transpose as _matrix_transpose
from ._shapes import reshape as _reshape
from ._sorting import argsort as _argsort
from ._sorting import sort as _sort
from ._util import _dtype, _ndim, _reports_user_line, _shape

# NumPy's result types (numpy.linalg's own are private): the same names and fields.
_EighResult = namedtuple("EighResult", ["eigenvalues", "eigenvectors"])
_EigResult = namedtuple("EigResult", ["eigenvalues", "eigenvectors"])
_SVDResult = namedtuple("SVDResult", ["U", "S", "Vh"])
_QRResult = namedtuple("QRResult", ["Q", "R"])
_SUPPORTED = tuple(_np.dtype(t) for t in (_np.float32, _np.float64, _np.complex64,
                                          _np.complex128))
_NO_VALUE = object()


def _matrices(a, name: str, square: bool = False):
    """`a` as a stack of matrices of a dtype LAPACK takes (integers and booleans become
    float64, as in NumPy), with NumPy's LinAlgError naming the shape otherwise."""
    a = _arr(a)
    if not isinstance(a, (Tracer, _np.ndarray)):
        a = _np.asarray(a)
    shape, dtype = _shape(a), _dtype(a)
    if len(shape) < 2:
        raise _np.linalg.LinAlgError(f"{name}: {len(shape)}-dimensional array given (shape "
                                     f"{shape}); it must be at least two-dimensional")
    if square and shape[-1] != shape[-2]:
        raise _np.linalg.LinAlgError(f"{name}: the last 2 dimensions of the array must be "
                                     f"square, not shape {shape}")
    if dtype.kind in "biu":
        return _astype(a, _np.float64)
    if dtype not in _SUPPORTED:
        raise TypeError(f"{name}: array type {dtype} is unsupported in linalg (float32, "
                        f"float64, complex64 and complex128 are)")
    return a


def _static_float(value, name: str, what: str) -> float:
    if isinstance(value, Tracer):
        raise NotImplementedError(f"{name}: {what} must be a number known when tracing, not a "
                                  f"traced value")
    if _np.ndim(value) != 0:
        raise NotImplementedError(f"{name}: {what} must be one number, not an array of shape "
                                  f"{_np.shape(value)}")
    return float(value)


def eigh(a, UPLO="L"):
    """np.linalg.eigh: the eigenvalues (ascending) and eigenvectors of Hermitian matrices.

    Differentiable where the eigenvalues are distinct; the eigenvalues' derivative is finite
    everywhere. The derivative is that of a Hermitian input (see the module's docstring).

    >>> w, v = eigh(_np.array([[2.0, 1.0], [1.0, 2.0]]))
    >>> w
    array([1., 3.])
    """
    if UPLO not in ("L", "U"):
        raise ValueError(f"eigh: UPLO must be 'L' or 'U', not {UPLO!r}")
    w, v = _ld.eigh_p.bind(_matrices(a, "eigh", square=True), lower=UPLO == "L", vectors=True)
    return _EighResult(w, v)


def eigvalsh(a, UPLO="L"):
    """np.linalg.eigvalsh: the eigenvalues (ascending) of Hermitian matrices; its derivative
    is finite and right at repeated eigenvalues too.

    >>> eigvalsh(_np.array([[2.0, 1.0], [1.0, 2.0]]))
    array([1., 3.])
    """
    if UPLO not in ("L", "U"):
        raise ValueError(f"eigvalsh: UPLO must be 'L' or 'U', not {UPLO!r}")
    (w,) = _ld.eigh_p.bind(_matrices(a, "eigvalsh", square=True), lower=UPLO == "L",
                           vectors=False)
    return w


def eig(a):
    """np.linalg.eig: the eigenvalues and unit-norm eigenvectors of general matrices, always
    complex (NumPy returns real arrays when all eigenvalues are real). Differentiable where the
    eigenvalues are distinct, for functions that do not depend on each eigenvector's phase.

    >>> w, v = eig(_np.array([[0.0, 1.0], [-1.0, 0.0]]))
    >>> w
    array([0.+1.j, 0.-1.j])
    """
    w, v = _ld.eig_p.bind(_matrices(a, "eig", square=True), vectors=True, inverse=False)
    return _EigResult(w, v)


def eigvals(a):
    """np.linalg.eigvals: the eigenvalues of general matrices, always complex.

    >>> eigvals(_np.diag([1.0, 2.0]))
    array([1.+0.j, 2.+0.j])
    """
    (w,) = _ld.eig_p.bind(_matrices(a, "eigvals", square=True), vectors=False, inverse=False)
    return w


def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """np.linalg.svd: U, S (descending), Vh with a = U diag(S) Vh, or S alone.

    Differentiable where the singular values are distinct and non-zero, for functions that do
    not depend on the singular vectors' signs (phases); S alone (compute_uv=False) wherever it
    is. With full_matrices=True (the default) U and Vh of a non-square matrix have no
    derivative (the extra columns are not unique; as in JAX): pass full_matrices=False.

    >>> svd(_np.diag([1.0, 3.0]), compute_uv=False)
    array([3., 1.])
    """
    a = _matrices(a, "svd", square=bool(hermitian))
    if hermitian:
        return _svd_hermitian(a, compute_uv)
    if not compute_uv:
        return _ld.svd_p.bind(a, full_matrices=bool(full_matrices), compute_uv=False)[0]
    u, s, vh = _ld.svd_p.bind(a, full_matrices=bool(full_matrices), compute_uv=True)
    return _SVDResult(u, s, vh)


def _svd_hermitian(a, compute_uv):
    # NumPy's algorithm: the eigendecomposition, with the signs of the eigenvalues moved to Vh.
    if not compute_uv:
        return _flip(_sort(_abs(eigvalsh(a)), axis=-1), axis=-1)
    w, u = eigh(a)
    sidx = _flip(_argsort(_abs(w), axis=-1), axis=-1)
    sgn = _take_along_axis(_sign(w), sidx, axis=-1)
    s = _take_along_axis(_abs(w), sidx, axis=-1)
    u = _take_along_axis(u, _expand_dims(sidx, -2), axis=-1)
    vh = _matrix_transpose(u * _expand_dims(sgn, -2))
    return _SVDResult(u, s, _conjugate(vh) if _dtype(vh).kind == "c" else vh)


def svdvals(x, /):
    """np.linalg.svdvals: the singular values (descending); differentiable wherever they are,
    repeated ones included (the derivative of a symmetric function of them, e.g. a norm).

    >>> svdvals(_np.diag([1.0, -3.0]))
    array([3., 1.])
    """
    return _ld.svd_p.bind(_matrices(x, "svdvals"), full_matrices=False, compute_uv=False)[0]


def qr(a, mode="reduced"):
    """np.linalg.qr: modes 'reduced' (Q, R), 'complete' (Q, R), 'r' (R) and 'raw' (h, tau).

    Differentiable for 'reduced' and 'r' (any shape, full rank) and 'complete' when m <= n;
    'raw' is not differentiable.

    >>> q, r = qr(_np.array([[3.0, 0.0], [4.0, 1.0]]))
    >>> _np.allclose(q @ r, [[3.0, 0.0], [4.0, 1.0]])
    True
    """
    if mode in ("f", "full"):
        warnings.warn("qr: the 'full' option is deprecated in favor of 'reduced' (as in NumPy)",
                      DeprecationWarning, stacklevel=3)
        mode = "reduced"
    if mode not in _ld.QR_MODES:
        raise ValueError(f"qr: unrecognized mode {mode!r} (one of "
                         f"{', '.join(map(repr, _ld.QR_MODES))})")
    outs = _ld.qr_p.bind(_matrices(a, "qr"), mode=mode, rinv=False)
    if mode == "r":
        return outs[0]
    if mode == "raw":
        return tuple(outs)
    return _QRResult(*outs)


def pinv(a, rcond=None, hermitian=False, *, rtol=_NO_VALUE):
    """np.linalg.pinv: the Moore-Penrose pseudo-inverse (singular values at most rcond times
    the largest count as zero). Differentiable where the rank is constant, e.g. everywhere for
    matrices of full rank; `rcond` must be a number.

    >>> pinv(_np.array([[2.0, 0.0], [0.0, 0.0]]))
    array([[0.5, 0. ],
           [0. , 0. ]])
    """
    a = _matrices(a, "pinv", square=bool(hermitian))
    if rcond is None:
        if rtol is _NO_VALUE:
            rcond = 1e-15
        elif rtol is None:
            rcond = builtins.max(_shape(a)[-2:]) * _np.finfo(_dtype(a)).eps
        else:
            rcond = rtol
    elif rtol is not _NO_VALUE:
        raise ValueError("pinv: `rtol` and `rcond` can't be both set")
    return _ld.pinv_p.bind(a, rcond=_static_float(rcond, "pinv", "rcond"),
                           hermitian=bool(hermitian))


def lstsq(a, b, rcond=None):
    """np.linalg.lstsq: (x, residuals, rank, s) for the least-squares solution of a x = b.

    x = pinv(a) b: differentiable in a and b where the rank is constant. The residuals are
    the squared norms of the columns of b - a x when a has more rows than columns, even when
    a is rank-deficient (NumPy then returns an empty array; the rank is a traced value here,
    so the shape cannot depend on it, as in JAX); empty otherwise. rank is an int32 array.

    >>> x, res, rank, s = lstsq(_np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]),
    ...                         _np.array([1.0, 2.0, 3.0]))
    >>> x, res, int(rank)
    (array([1., 2.]), array([9.]), 2)
    """
    a, b = _matrices(a, "lstsq"), _arr(b)
    if not isinstance(b, (Tracer, _np.ndarray)):
        b = _np.asarray(b)
    sa, sb = _shape(a), _shape(b)
    if len(sa) != 2 or len(sb) not in (1, 2):
        raise _np.linalg.LinAlgError(f"lstsq: a must be two-dimensional and b one- or "
                                     f"two-dimensional, not shapes {sa} and {sb}")
    m, n = sa
    if sb[0] != m:
        raise _np.linalg.LinAlgError(f"lstsq: incompatible dimensions: a has {m} rows, b "
                                     f"(shape {sb}) has {sb[0]}")
    dtype = _np.result_type(_dtype(a), _np.float64 if _dtype(b).kind in "biu" else _dtype(b))
    a, b = _astype(a, dtype), _astype(b, dtype)
    eps = _np.finfo(dtype).eps
    rcond = eps * builtins.max(m, n) if rcond is None else \
        _static_float(rcond, "lstsq", "rcond")
    rcond = eps if rcond < 0 else rcond     # LAPACK's convention: machine precision
    x = _matmul(_ld.pinv_p.bind(a, rcond=rcond, hermitian=False), b)
    s = svdvals(a)
    if n:
        cutoff = _max(_stop_gradient(s), axis=-1) * rcond
        rank = _astype(_count_nonzero(_greater(_stop_gradient(s), cutoff)), _np.int32)
    else:
        rank = _np.int32(0)
    real = _np.finfo(dtype).dtype
    if m > n:
        r = _subtract(b, _matmul(a, x))
        resid = _sum(_abs(r) ** 2 if _dtype(r).kind == "c" else r * r, axis=0)
        resid = _reshape(resid, (1,)) if len(sb) == 1 else resid
    else:
        resid = _np.zeros((0,), real)
    return x, resid, rank, s


def matrix_rank(A, tol=None, hermitian=False, *, rtol=None):
    """np.linalg.matrix_rank: the number of singular values above tol (by default
    max(s) * max(m, n) * eps). Not differentiable: an integer array, computed from traced
    values under jit.

    >>> int(matrix_rank(_np.array([[1.0, 2.0], [2.0, 4.0]])))
    1
    """
    if rtol is not None and tol is not None:
        raise ValueError("matrix_rank: `tol` and `rtol` can't be both set")
    A = _arr(A)
    if not isinstance(A, (Tracer, _np.ndarray)):
        A = _np.asarray(A)
    if _ndim(A) < 2:
        nonzero = _astype(_any(_not_equal(A, 0)), _np.intp)
        return nonzero if isinstance(nonzero, Tracer) else int(nonzero)
    A = _stop_gradient(_matrices(A, "matrix_rank", square=bool(hermitian)))
    S = _abs(eigvalsh(A)) if hermitian else svdvals(A)
    k = _shape(S)[-1]
    if tol is None:
        if rtol is None:
            rtol = builtins.max(_shape(A)[-2:]) * _np.finfo(_dtype(S)).eps
        else:
            rtol = _expand_dims(_asarray(rtol), -1)
        tol = (_max(S, axis=-1, keepdims=True) if k else _np.zeros(_shape(S)[:-1] + (1,),
                                                                      _dtype(S))) * rtol
    else:
        tol = _expand_dims(_asarray(tol), -1)
    return _count_nonzero(_greater(S, tol), axis=-1)


__all__ = _reports_user_line(globals())
