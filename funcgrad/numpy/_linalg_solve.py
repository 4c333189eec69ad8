"""funcgrad.numpy.linalg's solves and factorisations: cholesky, solve, inv, det, slogdet,
matrix_power, multi_dot, tensorsolve, tensorinv (the primitives are in prims/linalg_solve.py).

Values and dtypes follow NumPy 2: stacks of matrices (..., n, n) everywhere, integer inputs
computed in float64, float32 and complex64 kept, and `solve`'s `b` is a vector only when it is
1-D (otherwise a stack of matrices (..., n, k)); stack axes broadcast. Singular and non-positive-
definite matrices raise LinAlgError (a ValueError) naming the matrix and the user's line, on
every execution path. Derivatives follow JAX: cholesky's is taken along the Hermitian part of
the perturbation (the gradient of a function of cholesky(a) is Hermitian), det's is exact at
singular matrices (the cofactor matrix), slogdet's never forms the determinant.
"""
from __future__ import annotations

import operator

import numpy as _np

from ..prims import linalg_solve as _ls
from ._creation import asarray as _asarray
from ._creation import result_type as _result_type
from ._creation import zeros_like as _zeros_like
from ._elementwise import astype as _astype
from ._elementwise import conjugate as _conjugate
from ._products import dot as _dot
from ._products import matmul as _matmul
from ._shapes import atleast_2d as _atleast_2d
from ._shapes import broadcast_to as _broadcast_to
from ._shapes import matrix_transpose as _matrix_transpose
from ._shapes import ravel as _ravel
from ._shapes import reshape as _reshape
from ._shapes import transpose as _transpose
from ._util import _dtype, _reports_user_line, _shape, _size

_LinAlgError = _np.linalg.LinAlgError
_SlogdetResult = type(_np.linalg.slogdet(_np.eye(1)))       # NumPy's namedtuple (sign, logabsdet)
_SUPPORTED = tuple(_np.dtype(t) for t in (_np.float32, _np.float64, _np.complex64,
                                           _np.complex128))


# ---------------------------------------------------------------- helpers (shared with scipy)

def _linalg_dtype(name: str, *arrays) -> _np.dtype:
    """The dtype NumPy's linalg computes in: integers and booleans in float64."""
    dtype = _result_type(*arrays)
    if dtype.kind in "biu":
        return _np.dtype(_np.float64)
    if dtype not in _SUPPORTED:
        raise TypeError(f"{name}: array type {dtype} is unsupported in linalg (float32, "
                        f"float64, complex64 and complex128 are)")
    return dtype


def _cast(x, dtype):
    return x if _dtype(x) == dtype else _astype(x, dtype)


def _check_square(name: str, shape: tuple, what: str = "a") -> None:
    if len(shape) < 2:
        raise _LinAlgError(f"{name}: {len(shape)}-dimensional array given ({what} of shape "
                           f"{shape}); it must be at least two-dimensional: a matrix or a "
                           f"stack of matrices (..., n, n)")
    if shape[-1] != shape[-2]:
        raise _LinAlgError(f"{name}: the last 2 dimensions of {what} must be square, got shape "
                           f"{shape}")


def _square(name: str, a, dtype=None):
    """`a` as a (stack of) square matrices in linalg's dtype (or `dtype`)."""
    a = _asarray(a)
    _check_square(name, _shape(a))
    return _cast(a, _linalg_dtype(name, a) if dtype is None else dtype)


def _stacks(name: str, a_shape: tuple, b_shape: tuple) -> tuple:
    try:
        return tuple(_np.broadcast_shapes(a_shape[:-2], b_shape[:-2]))
    except ValueError:
        raise ValueError(f"{name}: the stack axes of a (shape {a_shape}) and b (shape "
                         f"{b_shape}) do not broadcast") from None


def _rhs(name: str, a, b):
    """(a, b, vector): `a` (..., n, n) and `b` (..., n, k) broadcast to common stack axes, both
    in linalg's dtype; a 1-D `b` (NumPy 2's only vector case) becomes one column."""
    a, b = _asarray(a), _asarray(b)
    a_shape, b_shape = _shape(a), _shape(b)
    _check_square(name, a_shape)
    dtype = _linalg_dtype(name, a, b)
    n = a_shape[-1]
    vector = len(b_shape) == 1
    if len(b_shape) == 0:
        raise ValueError(f"{name}: b must be a vector (n,) or a stack of matrices (..., n, k), "
                         f"got a 0-d array")
    if vector:
        if b_shape[0] != n:
            raise ValueError(f"{name}: b of shape {b_shape} does not match a of shape "
                             f"{a_shape}: a vector b needs {n} entries")
        b, b_shape = _reshape(b, (n, 1)), (n, 1)
    elif b_shape[-2] != n:
        raise ValueError(f"{name}: b of shape {b_shape} does not match a of shape {a_shape}: "
                         f"b needs {n} rows (b.shape[-2]); as in NumPy 2, b is a vector only "
                         f"when it is 1-D (use b[..., None] for a stack of vectors)")
    stack = _stacks(name, a_shape, b_shape)
    a = _broadcast_to(_cast(a, dtype), stack + a_shape[-2:])
    b = _broadcast_to(_cast(b, dtype), stack + b_shape[-2:])
    return a, b, vector


def _vector_result(x, vector: bool):
    return _reshape(x, _shape(x)[:-1]) if vector else x


def _hermitian_transpose(x):
    return _conjugate(_matrix_transpose(x))


# ---------------------------------------------------------------- the functions

def cholesky(a, /, *, upper=False):
    """np.linalg.cholesky: L with a = L L^H (lower triangular; `upper=True`: U = L^H, a = U^H U),
    reading only the lower (upper) triangle of `a`, as NumPy does.

    Derivatives are taken along the Hermitian part of the perturbation, (da + da^H) / 2, as in
    JAX: the gradient with respect to `a` is a Hermitian matrix.

    >>> cholesky(_np.array([[4.0, 2.0], [2.0, 5.0]]))
    array([[2., 0.],
           [1., 2.]])
    """
    a = _square("cholesky", a)
    if upper:       # U = chol(a^H)^H: the lower triangle of a^H is the upper one of a
        return _hermitian_transpose(_ls.cholesky(_hermitian_transpose(a)))
    return _ls.cholesky(a)


def solve(a, b):
    """np.linalg.solve: x with a @ x = b. `a` is (..., n, n); `b` is a vector (n,) or a stack
    of matrices (..., n, k) (NumPy 2's rule); stack axes broadcast.

    >>> solve(_np.array([[2.0, 0.0], [0.0, 4.0]]), _np.array([2.0, 2.0]))
    array([1. , 0.5])
    """
    a, b, vector = _rhs("solve", a, b)
    return _vector_result(_ls.solve(a, b), vector)


def inv(a):
    """np.linalg.inv, for stacks of matrices.

    >>> inv(_np.array([[2.0, 0.0], [0.0, 4.0]]))
    array([[0.5 , 0.  ],
           [0.  , 0.25]])
    """
    return _ls.inv(_square("inv", a))


def det(a):
    """np.linalg.det. Its derivative is the cofactor matrix, exact at singular matrices too
    (the second derivative there raises LinAlgError).

    >>> float(det(_np.array([[2.0, 0.0], [1.0, 3.0]])))
    6.0
    """
    return _ls.det(_square("det", a))


def slogdet(a):
    """np.linalg.slogdet: (sign, logabsdet) as NumPy's SlogdetResult; stable for large
    matrices (the determinant itself is never formed, not even in the derivative).

    >>> slogdet(_np.array([[-2.0, 0.0], [0.0, 3.0]]))
    SlogdetResult(sign=np.float64(-1.0), logabsdet=np.float64(1.791759469228055))
    """
    sign, logabsdet = _ls.slogdet(_square("slogdet", a))
    return _SlogdetResult(sign, logabsdet)


def matrix_power(a, n):
    """np.linalg.matrix_power: a @ a @ ... (n times) by repeated squaring; n = 0 gives the
    identity (a's dtype), a negative n powers the inverse.

    >>> matrix_power(_np.array([[1.0, 1.0], [0.0, 1.0]]), 3)
    array([[1., 3.],
           [0., 1.]])
    """
    a = _asarray(a)
    _check_square("matrix_power", _shape(a))
    try:
        n = operator.index(n)
    except TypeError as err:
        raise TypeError(f"matrix_power: the exponent must be an integer, got "
                        f"{type(n).__name__}") from err
    if n == 0:
        return _zeros_like(a) + _np.eye(_shape(a)[-1], dtype=_dtype(a))
    if n < 0:
        a, n = inv(a), -n
    if n == 1:
        return a
    if n == 2:
        return _matmul(a, a)
    if n == 3:
        return _matmul(_matmul(a, a), a)
    z = result = None       # NumPy's order of products: the bits of n from the lowest
    while n > 0:
        z = a if z is None else _matmul(z, z)
        n, bit = divmod(n, 2)
        if bit:
            result = z if result is None else _matmul(result, z)
    return result


def _chain_order(shapes: list) -> list:
    """Cormen's matrix-chain order (as NumPy's multi_dot): split[i][j] is where the product of
    matrices i..j is cut."""
    n = len(shapes)
    p = [s[0] for s in shapes] + [shapes[-1][1]]
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = None
            for k in range(i, j):
                q = cost[i][k] + cost[k + 1][j] + p[i] * p[k + 1] * p[j + 1]
                if cost[i][j] is None or q < cost[i][j]:
                    cost[i][j], split[i][j] = q, k
    return split


def _chain(arrays, split, i, j):
    if i == j:
        return arrays[i]
    k = split[i][j]
    return _dot(_chain(arrays, split, i, k), _chain(arrays, split, k + 1, j))


def multi_dot(arrays, *, out=None):
    """np.linalg.multi_dot: the product of a chain of matrices in the cheapest order (a 1-D
    first array is a row vector, a 1-D last one a column).

    >>> multi_dot([_np.ones((2, 3)), _np.ones((3, 4)), _np.ones(4)])
    array([12., 12.])
    """
    if out is not None:
        raise TypeError("multi_dot(out=...) writes in place, which funcgrad does not trace; "
                        "use the returned value instead")
    n = len(arrays)
    if n < 2:
        raise ValueError("multi_dot: expecting at least two arrays")
    if n == 2:
        return _dot(arrays[0], arrays[1])
    arrays = [_asarray(a) for a in arrays]
    first, last = len(_shape(arrays[0])), len(_shape(arrays[-1]))
    if first == 1:
        arrays[0] = _atleast_2d(arrays[0])
    if last == 1:
        arrays[-1] = _transpose(_atleast_2d(arrays[-1]))
    for i, a in enumerate(arrays):
        if len(_shape(a)) != 2:
            raise _LinAlgError(f"multi_dot: array {i} has {len(_shape(a))} dimensions (shape "
                               f"{_shape(a)}); only the first and last may be 1-D, the others "
                               f"must be two-dimensional")
    shapes = [_shape(a) for a in arrays]
    if n == 3:
        (a0, a1), (_, c1) = shapes[0], shapes[2]
        b1 = shapes[1][1]
        if a0 * b1 * (a1 + c1) < a1 * c1 * (a0 + b1):
            result = _dot(_dot(arrays[0], arrays[1]), arrays[2])
        else:
            result = _dot(arrays[0], _dot(arrays[1], arrays[2]))
    else:
        result = _chain(arrays, _chain_order(shapes), 0, n - 1)
    if first == 1 and last == 1:
        return _reshape(result, ())
    if first == 1 or last == 1:
        return _ravel(result)
    return result


def tensorsolve(a, b, axes=None):
    """np.linalg.tensorsolve: x with tensordot(a, x, x.ndim) == b, where x has the shape of
    a's trailing axes (after moving `axes` last).

    >>> tensorsolve(_np.eye(4).reshape(2, 2, 2, 2), _np.ones((2, 2))).shape
    (2, 2)
    """
    a, b = _asarray(a), _asarray(b)
    an = len(_shape(a))
    if axes is not None:
        order = list(range(an))
        for k in axes:
            order.remove(k)
            order.insert(an, k)
        a = _transpose(a, order)
    old = _shape(a)[-(an - len(_shape(b))):]
    prod = _size(old)
    if _size(_shape(a)) != prod ** 2:
        raise _LinAlgError(f"tensorsolve: a of shape {_shape(a)} and b of shape {_shape(b)} "
                           f"do not satisfy prod(a.shape[b.ndim:]) == prod(a.shape[:b.ndim])")
    x = solve(_reshape(a, (prod, prod)), _ravel(b))
    return _reshape(x, old)


def tensorinv(a, ind=2):
    """np.linalg.tensorinv: the inverse of `a` seen as a matrix of its first `ind` axes by the
    rest.

    >>> tensorinv(_np.eye(4).reshape(4, 2, 2), ind=1).shape
    (2, 2, 4)
    """
    a = _asarray(a)
    shape = _shape(a)
    if ind <= 0:
        raise ValueError(f"tensorinv: invalid ind argument {ind}; it must be positive")
    inv_shape = shape[ind:] + shape[:ind]
    prod = _size(shape[ind:])
    if _size(shape[:ind]) != prod:
        raise _LinAlgError(f"tensorinv: a of shape {shape} with ind={ind} is not square: "
                           f"prod(a.shape[:ind]) must equal prod(a.shape[ind:])")
    return _reshape(inv(_reshape(a, (prod, prod))), inv_shape)


__all__ = _reports_user_line(globals())
