"""funcgrad.scipy.linalg's solves and factorisations: cholesky, cho_factor, cho_solve,
solve_triangular, lu, lu_factor, lu_solve, solve, inv, det.

Signatures are SciPy's; stacks of matrices (..., n, n) are accepted wherever SciPy 1.17 takes
them, and a right-hand side `b` is a vector only when it is 1-D (otherwise (..., n, k)). Only
lu and lu_factor need SciPy (pip install 'funcgrad[scipy]'); everything else runs on NumPy
alone. `overwrite_*` are accepted and ignored (inputs are never written), and so is
`check_finite` (values are not inspected while tracing; non-finite inputs give non-finite
results or a LinAlgError, as the underlying LAPACK call does).

Where SciPy reads one triangle of a symmetric, Hermitian or positive definite matrix
(cholesky, cho_factor, solve and inv with assume_a='sym', 'her' or 'pos'), the values use that
triangle only, as SciPy's, and the derivatives are taken along the symmetric (Hermitian) part of
the perturbation, as JAX's cholesky: the gradient with respect to `a` is a symmetric matrix.
cho_factor returns zeros in the triangle SciPy leaves arbitrary.
"""
from __future__ import annotations

import numpy as _np

from .. import util as _util
from ..numpy import _linalg_solve as _nls
from ..numpy._creation import asarray as _asarray
from ..numpy._elementwise import conjugate as _conjugate
from ..numpy._elementwise import real as _real
from ..numpy._elementwise import stop_gradient as _stop_gradient
from ..numpy._elementwise import where as _where
from ..numpy._indexing import take_along_axis as _take_along_axis
from ..numpy._indexing import tril as _tril
from ..numpy._indexing import triu as _triu
from ..numpy._shapes import broadcast_to as _broadcast_to
from ..numpy._shapes import matrix_transpose as _matrix_transpose
from ..numpy._sorting import argsort as _argsort
from ..numpy._util import _dtype, _reports_user_line, _shape
from ..prims import linalg_solve as _ls

_TRANS = {0: 0, 1: 1, 2: 2, "N": 0, "T": 1, "C": 2}
_STRUCTURES = {
    None: "gen", "gen": "gen", "general": "gen", "banded": "gen",
    "sym": "sym", "symmetric": "sym", "her": "her", "hermitian": "her",
    "pos": "pos", "positive definite": "pos", "diagonal": "diagonal",
    "tridiagonal": "tridiagonal", "upper triangular": "upper", "lower triangular": "lower",
}


def _need_scipy(feature: str):
    return _util.optional_import("scipy.linalg", feature, "scipy")


def _trans(name: str, trans) -> int:
    try:
        return _TRANS[trans]
    except (KeyError, TypeError):
        raise ValueError(f"{name}: trans must be 0, 1, 2 or 'N', 'T', 'C', got "
                         f"{trans!r}") from None


def _structure(name: str, assume_a) -> str:
    try:
        return _STRUCTURES[assume_a]
    except (KeyError, TypeError):
        known = ", ".join(repr(k) for k in _STRUCTURES if k is not None)
        raise ValueError(f"{name}: {assume_a!r} is not a recognized matrix structure; "
                         f"assume_a is one of {known} (or None)") from None


def _is_complex(x) -> bool:
    return _dtype(x).kind == "c"


def _tri_solve(a, b, *, lower, trans=0, unit_diagonal=False):
    return _ls.triangular_solve(a, b, left_side=True, lower=lower, transpose_a=trans != 0,
                                conjugate_a=trans == 2 and _is_complex(a),
                                unit_diagonal=unit_diagonal)


def _identity_like(a):
    """The identity matrix of a's shape (stack axes included) and dtype."""
    shape = _shape(a)
    return _broadcast_to(_np.eye(shape[-1], dtype=_dtype(a)), shape)


def _symmetric(a, lower: bool, hermitian: bool):
    """The matrix SciPy's symmetric (Hermitian) solvers see: the `lower` (upper) triangle of
    `a` mirrored (a Hermitian diagonal is real), whose derivative is the symmetric (Hermitian)
    part of a's: sym(a) + stop_gradient(mirrored - sym(a))."""
    n = _shape(a)[-1]
    strict = _tril(a, -1) if lower else _triu(a, 1)
    mirror = _matrix_transpose(strict)
    diag = _np.eye(n, dtype=bool)
    if hermitian and _is_complex(a):
        mirror = _conjugate(mirror)
        full = strict + mirror + _where(diag, _real(a), 0)
        part = (a + _conjugate(_matrix_transpose(a))) * 0.5
    else:
        full = strict + mirror + _where(diag, a, 0)
        part = (a + _matrix_transpose(a)) * 0.5
    return part + _stop_gradient(full - part)


def _cho_solve(c, b, lower: bool):
    if lower:       # L L^H x = b
        return _tri_solve(c, _tri_solve(c, b, lower=True), lower=True, trans=2)
    return _tri_solve(c, _tri_solve(c, b, lower=False, trans=2), lower=False)  # U^H U x = b


# ---------------------------------------------------------------- Cholesky

def cholesky(a, lower=False, overwrite_a=False, check_finite=True):
    """scipy.linalg.cholesky: the upper factor U with a = U^H U (`lower=True`: L, a = L L^H),
    reading that triangle of `a` only. Derivatives along the Hermitian part of da (JAX's).

    >>> cholesky(_np.array([[4.0, 2.0], [2.0, 5.0]]))
    array([[2., 1.],
           [0., 2.]])
    """
    return _nls.cholesky(a, upper=not lower)


def cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    """scipy.linalg.cho_factor: (c, lower) for cho_solve; c is the Cholesky factor, with zeros
    in the other triangle (SciPy leaves arbitrary values there; cho_solve reads neither).

    >>> c, low = cho_factor(_np.array([[4.0, 2.0], [2.0, 5.0]]))
    >>> c, low
    (array([[2., 1.],
           [0., 2.]]), False)
    """
    return cholesky(a, lower=lower), lower


def cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    """scipy.linalg.cho_solve: x with a x = b from cho_factor's (c, lower): two triangular
    solves reading c's triangle only.

    >>> cho_solve(cho_factor(_np.array([[4.0, 2.0], [2.0, 5.0]])), _np.array([6.0, 7.0]))
    array([1., 1.])
    """
    c, lower = c_and_lower
    flags = _np.unique(_np.asarray(lower, bool))    # SciPy's stacks give one flag a matrix
    if flags.size != 1:
        raise ValueError(f"cho_solve: the factors of a stack must all be lower or all upper, "
                         f"got lower={lower!r}")
    c, b, vector = _nls._rhs("cho_solve", c, b)
    return _nls._vector_result(_cho_solve(c, b, bool(flags[0])), vector)


# ---------------------------------------------------------------- triangular systems

def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False,
                     check_finite=True):
    """scipy.linalg.solve_triangular: x with op(a) x = b, op = a, a^T, a^H for trans = 0, 1, 2
    ('N', 'T', 'C'), reading the lower (upper) triangle of `a` (without its diagonal when
    `unit_diagonal`). Linear in b; SciPy does the solve when installed, NumPy otherwise.

    >>> solve_triangular(_np.array([[2.0, 0.0], [1.0, 1.0]]), _np.array([2.0, 3.0]), lower=True)
    array([1., 2.])
    """
    trans = _trans("solve_triangular", trans)
    a, b, vector = _nls._rhs("solve_triangular", a, b)
    x = _tri_solve(a, b, lower=bool(lower), trans=trans, unit_diagonal=bool(unit_diagonal))
    return _nls._vector_result(x, vector)


# ---------------------------------------------------------------- LU

def _lu_input(name: str, a):
    _need_scipy(f"funcgrad.scipy.linalg.{name}")
    a = _asarray(a)
    if len(_shape(a)) < 2:
        raise ValueError(f"{name}: the input array must be at least two-dimensional, got shape "
                         f"{_shape(a)}")
    return _nls._cast(a, _nls._linalg_dtype(name, a))


def lu_factor(a, overwrite_a=False, check_finite=True):
    """scipy.linalg.lu_factor: (lu, piv), L below lu's diagonal (unit diagonal implied), U on
    and above it, piv LAPACK's 0-based row interchanges (int32). Needs SciPy.

    >>> lu, piv = lu_factor(_np.array([[1.0, 2.0], [3.0, 4.0]]))
    >>> lu, piv
    (array([[3.        , 4.        ],
           [0.33333333, 0.66666667]]), array([1, 1], dtype=int32))
    """
    lu_, piv, _ = _ls.lu(_lu_input("lu_factor", a))
    return lu_, piv


def lu(a, permute_l=False, overwrite_a=False, check_finite=True, p_indices=False):
    """scipy.linalg.lu: (p, l, u) with a = p @ l @ u (`permute_l`: (p @ l, u); `p_indices`:
    p as int32 row indices, a = l[p] @ u), also for rectangular matrices and stacks. Needs
    SciPy. The derivative is JAX's (through L^-1 P da U^-1); the permutation has none.

    >>> p, l, u = lu(_np.array([[1.0, 2.0], [3.0, 4.0]]))
    >>> p
    array([[0., 1.],
           [1., 0.]])
    >>> bool(_np.allclose(p @ l @ u, [[1.0, 2.0], [3.0, 4.0]]))
    True
    """
    a = _lu_input("lu", a)
    lu_, _, perm = _ls.lu(a)
    m, n = _shape(a)[-2:]
    k = min(m, n)
    dtype = _dtype(a)
    low = _tril(lu_[..., :, :k], -1) + _np.eye(m, k, dtype=dtype)
    up = _triu(lu_[..., :k, :])
    p = _nls._cast(_argsort(perm, axis=-1), _np.int32)       # row i of a is row p[i] of l u
    if permute_l:
        return _take_along_axis(low, p[..., :, None], axis=-2), up
    if p_indices:
        return p, low, up
    eye = perm[..., None, :] == _np.arange(m)[:, None]          # P[i, j] = (perm[j] == i)
    return _nls._cast(eye, _np.finfo(dtype).dtype), low, up


def lu_solve(lu_and_piv, b, trans=0, overwrite_b=False, check_finite=True):
    """scipy.linalg.lu_solve: x with a x = b (trans = 1: a^T x = b, 2: a^H x = b) from
    lu_factor's (lu, piv). Triangular solves and a row permutation: NumPy alone suffices.

    >>> lu_solve((_np.array([[3.0, 4.0], [1 / 3, 2 / 3]]), _np.array([1, 1])), [5.0, 11.0])
    array([1., 2.])
    """
    trans = _trans("lu_solve", trans)
    lu_, piv = lu_and_piv
    lu_, b, vector = _nls._rhs("lu_solve", lu_, b)
    piv = _asarray(piv)
    n = _shape(lu_)[-1]
    if not _shape(piv) or _shape(piv)[-1] != n:
        raise ValueError(f"lu_solve: piv of shape {_shape(piv)} does not fit lu of shape "
                         f"{_shape(lu_)}: it needs {n} pivots")
    stack = _shape(b)[:-2]
    try:
        piv = _broadcast_to(piv, stack + (n,))
    except ValueError:
        raise ValueError(f"lu_solve: the stack axes of piv (shape {_shape(piv)}) do not "
                         f"broadcast to those of lu and b {stack}") from None
    perm = _ls.lu_pivots_to_permutation(piv, n)[..., :, None]
    if trans == 0:      # P a = L U: x = U^-1 L^-1 (P b)
        y = _tri_solve(lu_, _take_along_axis(b, perm, axis=-2), lower=True, unit_diagonal=True)
        x = _tri_solve(lu_, y, lower=False)
    else:               # a^T = U^T L^T P: P x = L^-T U^-T b
        y = _tri_solve(lu_, b, lower=False, trans=trans)
        y = _tri_solve(lu_, y, lower=True, trans=trans, unit_diagonal=True)
        x = _take_along_axis(y, _argsort(perm, axis=-2), axis=-2)
    return _nls._vector_result(x, vector)


# ---------------------------------------------------------------- solve, inv, det

def solve(a, b, lower=False, overwrite_a=False, overwrite_b=False, check_finite=True,
          assume_a=None, transposed=False):
    """scipy.linalg.solve: x with a x = b (`transposed`: a^T x = b, real `a` only). `assume_a`
    picks the structure: general (None, 'gen', 'banded'), 'sym', 'her', 'pos' (the `lower`
    (upper) triangle only), 'diagonal', 'tridiagonal' (only those entries are read),
    'upper triangular', 'lower triangular'.

    >>> solve(_np.array([[3.0, 2.0], [1.0, -1.0]]), _np.array([2.0, 4.0]))
    array([ 2., -2.])
    """
    kind = _structure("solve", assume_a)
    a, b, vector = _nls._rhs("solve", a, b)
    lower = bool(lower)
    if transposed and _is_complex(a):
        raise NotImplementedError("solve: transposed=True (a^T x = b) is not supported for "
                                  "complex matrices, as in SciPy")
    if kind in ("upper", "lower"):
        x = _tri_solve(a, b, lower=kind == "lower", trans=int(bool(transposed)))
    elif kind == "diagonal":
        x = _tri_solve(_where(_np.eye(_shape(a)[-1], dtype=bool), a, 0), b, lower=True)
    elif kind == "pos":
        x = _cho_solve(_nls.cholesky(a, upper=not lower), b, lower)
    elif kind in ("sym", "her"):    # the matrix is symmetric: transposing changes nothing
        x = _ls.solve(_symmetric(a, lower, hermitian=kind == "her"), b)
    else:
        if kind == "tridiagonal":
            i = _np.arange(_shape(a)[-1])
            a = _where(abs(i[:, None] - i[None, :]) <= 1, a, 0)
        x = _ls.solve(_matrix_transpose(a) if transposed else a, b)
    return _nls._vector_result(x, vector)


def inv(a, overwrite_a=False, check_finite=True, *, assume_a=None, lower=False):
    """scipy.linalg.inv, for stacks; `assume_a` as in solve ('pos', 'sym', 'her' read the
    `lower` (upper) triangle only, 'diagonal' the diagonal, 'upper triangular' and
    'lower triangular' their triangle).

    >>> inv(_np.array([[2.0, 0.0], [0.0, 4.0]]))
    array([[0.5 , 0.  ],
           [0.  , 0.25]])
    """
    kind = _structure("inv", assume_a)
    a = _nls._square("inv", a)
    if kind == "tridiagonal":
        raise ValueError(f"inv: assume_a={assume_a!r} is not one of inv's structures (general, "
                         f"'diagonal', 'upper triangular', 'lower triangular', 'pos', 'sym', "
                         f"'her')")
    if kind == "gen":
        return _ls.inv(a)
    eye = _identity_like(a)
    if kind in ("upper", "lower"):
        return _tri_solve(a, eye, lower=kind == "lower")
    if kind == "diagonal":
        return _tri_solve(_where(_np.eye(_shape(a)[-1], dtype=bool), a, 0), eye, lower=True)
    if kind == "pos":
        return _cho_solve(_nls.cholesky(a, upper=not lower), eye, bool(lower))
    return _ls.inv(_symmetric(a, bool(lower), hermitian=kind == "her"))


def det(a, overwrite_a=False, check_finite=True):
    """scipy.linalg.det, for stacks; the derivative is exact at singular matrices. As SciPy's,
    the result is float64 (complex128) for float32 (complex64) input: computed in double
    precision, so the determinant of a large single-precision matrix does not overflow.

    >>> float(det(_np.array([[2.0, 0.0], [1.0, 3.0]])))
    6.0
    """
    a = _asarray(a)
    double = _np.complex128 if _is_complex(a) else _np.float64
    return _nls.det(_nls._cast(a, _np.dtype(double)))


__all__ = _reports_user_line(globals())
