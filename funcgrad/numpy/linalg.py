"""funcgrad.numpy.linalg: np.linalg's functions, traced and differentiable, for stacks of
matrices wherever NumPy takes them: norms and the array-API products here, solves and
factorisations in _linalg_solve.py, decompositions in _linalg_decomp.py."""
# ruff: noqa: F403  (re-exports)
from __future__ import annotations

import numpy as _np

from ..core.types import is_float as _is_float
from ..util import canonical_axis as _canonical_axis
from . import _indexing, _linalg_decomp, _linalg_solve
from ._creation import asarray as _asarray
from ._creation import result_type as _result_type
from ._elementwise import _abs2, _safe_sqrt
from ._elementwise import abs as _abs
from ._elementwise import astype as _astype
from ._linalg_decomp import *
from ._linalg_solve import *
from ._products import cross, matmul, outer, tensordot, vecdot  # noqa: F401 (re-exported)
from ._reductions import max as _max
from ._reductions import min as _min
from ._reductions import sum as _sum
from ._shapes import matrix_transpose  # noqa: F401 (re-exported)
from ._shapes import ravel as _ravel
from ._shapes import reshape as _reshape
from ._shapes import squeeze as _squeeze
from ._shapes import transpose as _transpose
from ._util import _ndim, _reports_user_line, _shape


def _as_float(x):
    x = _asarray(x)
    return x if _is_float(_result_type(x)) else _astype(x, _np.float64)


def _sqrt_sum_squares(x, axes, keepdims):
    # sqrt is not differentiable at 0; a zero vector gets the subgradient 0 instead of NaN.
    return _safe_sqrt(_sum(_abs2(x), axis=axes, keepdims=keepdims))


def _vector_norm(x, ord, axis, keepdims):
    if ord is None or ord == 2:
        return _sqrt_sum_squares(x, axis, keepdims)
    a = _abs(x)
    if ord == _np.inf:
        return _max(a, axis=axis, keepdims=keepdims)
    if ord == -_np.inf:
        return _min(a, axis=axis, keepdims=keepdims)
    if ord == 0:
        return _astype(_sum(x != 0, axis=axis, keepdims=keepdims), _result_type(x))
    if ord == 1:
        return _sum(a, axis=axis, keepdims=keepdims)
    if isinstance(ord, str):
        raise ValueError(f"norm: invalid norm order {ord!r} for vectors")
    return _sum(a ** ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)


def _matrix_norm(x, ord, axes, keepdims):
    row, col = axes
    if ord is None or ord == "fro":
        out = _sqrt_sum_squares(x, axes, keepdims=True)
    elif ord in (1, -1, _np.inf, -_np.inf):
        # 1: the largest column sum of |x|; inf: the largest row sum (negative: smallest).
        summed, other = (row, col) if ord in (1, -1) else (col, row)
        best = _max if ord > 0 else _min
        out = best(_sum(_abs(x), axis=summed, keepdims=True), axis=other, keepdims=True)
    elif ord in (2, -2, "nuc"):
        # the largest (2) or smallest (-2) singular value, or their sum (the nuclear norm)
        rest = [i for i in range(_ndim(x)) if i not in axes]
        s = svdvals(_transpose(x, rest + [row, col]))  # noqa: F405 (from _linalg_decomp)
        s = (_sum if ord == "nuc" else _max if ord == 2 else _min)(s, axis=-1)
        out = _reshape(s, [1 if i in axes else d for i, d in enumerate(_shape(x))])
    else:
        raise ValueError(f"norm: invalid norm order {ord!r} for matrices")
    return out if keepdims else _squeeze(out, axis=axes)


def norm(x, ord=None, axis=None, keepdims=False):
    """np.linalg.norm for vector norms and the matrix norms 'fro', 1, -1, inf and -inf.

    >>> float(norm(_np.array([3.0, 4.0])))
    5.0
    >>> float(norm(_np.ones((2, 2)), ord=1))
    2.0
    """
    x = _as_float(x)
    nd = _ndim(x)
    if axis is None:
        if ord is None:  # the 2-norm of the flattened array, for any number of axes
            return _sqrt_sum_squares(x, None, keepdims)
        if nd not in (1, 2):
            raise ValueError("norm: improper number of dimensions to norm")
        axis = tuple(range(nd))
    axes = (axis,) if _np.ndim(axis) == 0 else tuple(axis)
    axes = tuple(_canonical_axis(int(a), nd, "norm") for a in axes)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) == 2:
        if axes[0] == axes[1]:
            raise ValueError("norm: duplicate axes given")
        return _matrix_norm(x, ord, axes, keepdims)
    raise ValueError("norm: improper number of dimensions to norm")


def cond(x, p=None):
    """np.linalg.cond: the condition number of (stacks of) matrices in the norm `p` (None, 2,
    -2: from the singular values, any shape; 'fro', 'nuc', 1, -1, inf, -inf: norm(x, p) times
    norm(inv(x), p), square matrices; the inverse is NumPy's, by LU). A singular matrix gives
    inf, as in NumPy (for 'nuc', NumPy's and funcgrad's SVD of the inverse fails instead).
    Differentiable where x is invertible (for None, 2, -2: where the largest and smallest
    singular values are simple).

    >>> float(cond(_np.diag([1.0, 4.0])))
    4.0
    """
    x = _as_float(x)
    shape = _shape(x)
    if len(shape) < 2:
        raise _np.linalg.LinAlgError(f"cond: {len(shape)}-dimensional array given (shape "
                                     f"{shape}); it must be at least two-dimensional")
    if 0 in shape[-2:]:
        raise _np.linalg.LinAlgError(f"cond is not defined on empty arrays (shape {shape})")
    if p is None or (not isinstance(p, str) and p in (2, -2)):
        s = svdvals(x)  # noqa: F405 (from _linalg_decomp)
        large, small = s[..., 0], s[..., -1]
        r = small / large if p == -2 else large / small
    elif p in ("fro", "nuc", 1, -1, _np.inf, -_np.inf):
        if shape[-1] != shape[-2]:
            raise _np.linalg.LinAlgError(f"cond: p={p!r} needs square matrices, not shape "
                                         f"{shape}")
        # pinv with no cutoff is the inverse, by LU (NaN where it fails: inf below)
        inv_x = pinv(x, rcond=-1.0)  # noqa: F405 (from _linalg_decomp)
        r = norm(x, p, axis=(-2, -1)) * norm(inv_x, p, axis=(-2, -1))
    else:
        raise ValueError(f"cond: invalid norm order {p!r} for matrices")
    # NaN (from a singular matrix) becomes inf, unless x itself holds NaN
    # (NumPy's functions on traced values dispatch to funcgrad's)
    bad = _np.logical_and(_np.isnan(r), _np.logical_not(_np.any(_np.isnan(x), axis=(-2, -1))))
    return _np.where(bad, _np.inf, r)


def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    """np.linalg.vector_norm: the norm of the vectors along `axis` (all axes when None).

    >>> float(vector_norm(_np.ones((2, 2))))
    2.0
    """
    x = _as_float(x)
    if axis is None:
        out = _vector_norm(_ravel(x), ord, 0, False)
        return _reshape(out, (1,) * _ndim(x)) if keepdims else out
    if _np.ndim(axis) != 0:
        axes = tuple(_canonical_axis(int(a), _ndim(x)) for a in axis)
        rest = [i for i in range(_ndim(x)) if i not in axes]
        y = _reshape(_transpose(x, rest + list(axes)), [_shape(x)[i] for i in rest] + [-1])
        out = _vector_norm(y, ord, -1, False)
        if keepdims:
            out = _reshape(out, [1 if i in axes else d for i, d in enumerate(_shape(x))])
        return out
    return _vector_norm(x, ord, axis, keepdims)


def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    """np.linalg.matrix_norm over the last two axes.

    >>> float(matrix_norm(_np.ones((2, 2))))
    2.0
    """
    x = _as_float(x)
    return _matrix_norm(x, ord, (_ndim(x) - 2, _ndim(x) - 1), keepdims)


def diagonal(x, /, *, offset=0):
    """np.linalg.diagonal: the diagonal of the last two axes.

    >>> diagonal(_np.eye(2))
    array([1., 1.])
    """
    return _indexing.diagonal(x, offset, -2, -1)


def trace(x, /, *, offset=0, dtype=None):
    """np.linalg.trace over the last two axes.

    >>> float(trace(_np.eye(3)))
    3.0
    """
    return _indexing.trace(x, offset, -2, -1, dtype)


__all__ = [*_reports_user_line(globals()), "cross", "matmul", "outer", "tensordot", "vecdot",
           "matrix_transpose", *_linalg_solve.__all__, *_linalg_decomp.__all__]


def __getattr__(name: str):
    # Anything else np.linalg has is named in the error, with what funcgrad supports.
    if not name.startswith("_") and hasattr(_np.linalg, name):
        supported = sorted(n for n, v in globals().items() if not n.startswith("_")
                           and callable(v) and hasattr(_np.linalg, n))
        raise NotImplementedError(f"funcgrad does not support np.linalg.{name}; supported: "
                                  f"{', '.join(supported)}")
    raise AttributeError(f"module 'funcgrad.numpy.linalg' has no attribute {name!r}")
