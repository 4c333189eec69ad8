"""Helpers that compiled-tier kernels call (imported by the generated kernel modules; needs numba).

Inside a kernel a 0-d value is a numba scalar: `as_scalar` takes a 0-d array or a scalar from
the NumPy driver, and `to_0d` hands a scalar back as a 0-d array of its own dtype (numba would
box a float32 as a Python float and lose the dtype). The row and column reductions are what
`native_reduce` (prims/shape.py) writes for a reduction over some axes: numba's own take a
whole array or one axis only.
"""
from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload
from numba.np.numpy_support import as_dtype


def as_scalar(x):
    """The value of a 0-d array, or the scalar itself (a stub: numba compiles the overload)."""
    return x[()] if isinstance(x, np.ndarray) else x


def to_0d(x):
    """A scalar as a 0-d array (a stub: numba compiles the overload)."""
    return np.asarray(x)


@overload(as_scalar, inline="always")
def _as_scalar(x):
    if isinstance(x, types.Array):
        return lambda x: x[()]
    return lambda x: x


@overload(to_0d, inline="always")
def _to_0d(x):
    if isinstance(x, types.Array):
        return lambda x: x
    return lambda x: np.asarray(x)


def _per_row(method: str):
    """A stub reducing each row of a C-contiguous 2-d array with `method` (sum, max, min),
    and the numba overload that does it one row at a time, as numba's np.sum, np.max and
    np.min do a whole array (a running sum from zero in order; a NaN wins a max or min), in
    explicit loops: calling numba's functions there cost about 1 s of compile time once per
    process."""
    def stub(x):
        return getattr(x, method)(axis=-1)
    stub.__name__ = f"row_{method}"

    @overload(stub)
    def _rows(x):
        if method == "sum":
            zero = as_dtype(x.dtype).type(0)

            def impl(x):
                out = np.empty(x.shape[0], x.dtype)
                for i in range(x.shape[0]):
                    acc = zero
                    for j in range(x.shape[1]):
                        acc += x[i, j]
                    out[i] = acc
                return out
            return impl
        greater = method == "max"

        def impl(x):
            if x.shape[1] == 0:
                raise ValueError("zero-size array to reduction operation")
            out = np.empty(x.shape[0], x.dtype)
            for i in range(x.shape[0]):
                m = x[i, 0]
                for j in range(1, x.shape[1]):
                    v = x[i, j]
                    if m != m:
                        break
                    if v != v or (v > m if greater else v < m):
                        m = v
                out[i] = m
            return out
        return impl
    return stub


row_sums, row_max, row_min = _per_row("sum"), _per_row("max"), _per_row("min")


def col_sums(x):
    """Sum over the first axis of a 2-d array, a row at a time (vectorised rows)."""
    return x.sum(axis=0)


@overload(col_sums)
def _col_sums(x):
    def impl(x):
        out = x[0].copy()
        for i in range(1, x.shape[0]):
            out += x[i]
        return out
    return impl


# --- small matrices: LU with partial pivoting inside the kernel ------------------------------
# For an 8 x 8 matrix a LAPACK call (through NumPy's batched gesv) costs more than its
# arithmetic: 0.44 us a solve, 1.0 us an inverse. These are LAPACK's unblocked algorithms
# (getf2: the first largest pivot of the column, rows swapped whole, the column scaled by the
# pivot's reciprocal unless that would overflow; getrs: the row swaps, then unit-lower and
# upper substitution), so the results agree with LAPACK's to rounding. An exactly zero pivot
# (a singular matrix) is reported, for the caller to redo the call with NumPy, which raises.

@njit(cache=True, nogil=True)
def _lu_factor(lu, piv, tiny):
    """LU of the square `lu` in place, row swaps in `piv`; True at an exactly zero pivot."""
    n = lu.shape[0]
    for j in range(n):
        p, best = j, abs(lu[j, j])
        for i in range(j + 1, n):
            v = abs(lu[i, j])
            if v > best:
                p, best = i, v
        piv[j] = p
        if lu[p, j] == 0:
            return True
        if p != j:
            for c in range(n):
                lu[j, c], lu[p, c] = lu[p, c], lu[j, c]
        d = lu[j, j]
        if abs(d) >= tiny:
            r = 1 / d
            for i in range(j + 1, n):
                lu[i, j] *= r
        else:
            for i in range(j + 1, n):
                lu[i, j] /= d
        for i in range(j + 1, n):
            m = lu[i, j]
            if m != 0:
                for c in range(j + 1, n):
                    lu[i, c] -= m * lu[j, c]
    return False


@njit(cache=True, nogil=True)
def _lu_apply(lu, piv, x):
    """x <- A^-1 x in place (x: n x k), A's LU from `_lu_factor`."""
    n, k = x.shape
    for j in range(n):
        p = piv[j]
        if p != j:
            for c in range(k):
                x[j, c], x[p, c] = x[p, c], x[j, c]
    # Each element sees the same updates in the same order either way: row by row (a loop
    # over the k columns LLVM vectorises) for many columns, column by column for one.
    if k == 1:
        for j in range(n):
            xj = x[j, 0]
            if xj != 0:
                for i in range(j + 1, n):
                    x[i, 0] -= lu[i, j] * xj
        for j in range(n - 1, -1, -1):
            xj = x[j, 0] / lu[j, j]
            x[j, 0] = xj
            if xj != 0:
                for i in range(j):
                    x[i, 0] -= lu[i, j] * xj
        return
    for j in range(n):
        for i in range(j + 1, n):
            m = lu[i, j]
            if m != 0:
                for c in range(k):
                    x[i, c] -= m * x[j, c]
    for j in range(n - 1, -1, -1):
        d = lu[j, j]
        for c in range(k):
            x[j, c] /= d
        for i in range(j):
            m = lu[i, j]
            if m != 0:
                for c in range(k):
                    x[i, c] -= m * x[j, c]


def small_solve(a, b, out):
    """out = a^-1 b for a matrix or a stack of them (2-d or 3-d arrays of one real dtype);
    True if some matrix is singular (its `out` is then left unfinished)."""
    try:
        out[...] = np.linalg.solve(a, b)
        return False
    except np.linalg.LinAlgError:
        return True


def small_inv(a, out):
    """out = a^-1 for a matrix or a stack of them; True if some matrix is singular."""
    try:
        out[...] = np.linalg.inv(a)
        return False
    except np.linalg.LinAlgError:
        return True


@njit(cache=True, nogil=True)
def _lu_one(a, b, out, lu, piv, tiny, inverse):
    """out = a^-1 b (or a^-1, `inverse`) for one matrix, with scratch `lu` and `piv`; True if
    it is singular. (Element loops, not slice assignments: numba compiles the error message of
    those's shape check, 4 s of string formatting.)"""
    n = a.shape[0]
    for r in range(n):
        for c in range(n):
            lu[r, c] = a[r, c]
    if _lu_factor(lu, piv, tiny):
        return True
    for r in range(n):
        for c in range(out.shape[1]):
            out[r, c] = (1 if r == c else 0) if inverse else b[r, c]
    _lu_apply(lu, piv, out)
    return False


def _lu_stack(a, inverse: bool):
    """small_solve's work for `a`'s type (one matrix, or a stack of them; `inverse`: against
    the identity, b unused), compiled."""
    tiny = float(np.finfo(as_dtype(a.dtype)).tiny)
    if a.ndim == 2:
        def impl(a, b, out):
            n = a.shape[-1]
            return _lu_one(a, b, out, np.empty((n, n), a.dtype), np.empty(n, np.intp), tiny,
                           inverse)
    else:
        def impl(a, b, out):
            n = a.shape[-1]
            lu, piv = np.empty((n, n), a.dtype), np.empty(n, np.intp)
            singular = False
            for s in range(a.shape[0]):
                singular |= _lu_one(a[s], b[s], out[s], lu, piv, tiny, inverse)
            return singular
    return njit(nogil=True)(impl)


@overload(small_solve)
def _small_solve(a, b, out):
    stack = _lu_stack(a, False)
    return lambda a, b, out: stack(a, b, out)


@overload(small_inv)
def _small_inv(a, out):
    stack = _lu_stack(a, True)
    return lambda a, out: stack(a, a, out)


@njit(cache=True, nogil=True)
def dot(x, y):
    """np.dot (BLAS) of vectors and matrices, compiled once per machine for each layout and
    disk-cached: numba's np.dot costs about 1 s of compile time in every process whose
    kernels call it; a kernel calling this one loads it compiled."""
    return np.dot(x, y)
