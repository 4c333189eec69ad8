"""Polynomials as coefficient arrays, highest power first (np.polyval and its family), and
1-D convolution and correlation (np.convolve, np.correlate)."""
from __future__ import annotations

import warnings as _warnings

import numpy as _np  # noqa: F401  (the docstring examples use _np)

from ..core.trace import Tracer as _Tracer
from ..prims import conv as _conv
from ._creation import asarray as _asarray
from ._creation import zeros_like as _zeros_like
from ._elementwise import astype as _astype
from ._elementwise import conjugate as _conjugate
from ._elementwise import real as _real
from ._elementwise import sqrt as _sqrt
from ._linalg_decomp import eigvals as _eigvals
from ._linalg_decomp import lstsq as _lstsq
from ._linalg_solve import inv as _inv
from ._products import dot as _dot
from ._products import outer as _outer
from ._reductions import sum as _sum
from ._shapes import concatenate as _concatenate
from ._shapes import flip as _flip
from ._shapes import reshape as _reshape
from ._shapes import stack as _stack
from ._shapes import transpose as _transpose
from ._util import _dtype, _ndim, _reports_user_line, _shape

# ---------------------------------------------------------------- polynomials (poly*)
#
# Coefficient arrays, highest power first, as NumPy's np.poly* functions (not np.polynomial).
# Where NumPy's result depends on the values -- roots strips leading and trailing zero
# coefficients, polydiv strips the remainder's leading (near-)zeros, poly returns real
# coefficients when complex roots come in conjugate pairs -- concrete inputs get NumPy's result
# exactly; traced inputs (jit, grad, vmap) cannot choose a shape or dtype by value, and each
# function's docstring says what they get instead. np.poly1d objects hold concrete coefficients
# only: pass coefficient arrays to these functions to trace.


def _is_traced(*xs) -> bool:
    return any(isinstance(x, _Tracer) for x in xs)


def _coeffs(p):
    """(p as an array, whether it was a np.poly1d)."""
    if isinstance(p, _np.poly1d):
        return p.coeffs, True
    return _asarray(p), False


def _as_poly1d(result, truepoly: bool, name: str):
    if not truepoly:
        return result
    if _is_traced(result):
        raise TypeError(f"{name}: np.poly1d cannot hold traced coefficients; pass coefficient "
                        f"arrays (highest power first) to funcgrad.numpy.{name} instead of "
                        f"np.poly1d objects")
    return _np.poly1d(result)


def _at_least_1d(p):
    return _reshape(p, (1,)) if _ndim(p) == 0 else p


def _pad_front(a, n: int):
    """`a` with n zero rows in front (the leading coefficients of a shorter polynomial)."""
    return a if n == 0 else _concatenate([_np.zeros((n,) + _shape(a)[1:], _dtype(a)), a])


def polyval(p, x):
    """np.polyval: the polynomial with coefficients `p` (highest power first) at `x`, by
    Horner's rule as NumPy (y = y * x + p[i]), so the rounding is NumPy's. `x` has any shape;
    differentiable in `p` and `x`.

    >>> polyval(_np.array([3.0, 0.0, 1.0]), _np.array([1.0, 2.0]))   # 3 x**2 + 1
    array([ 4., 13.])
    """
    if isinstance(x, _np.poly1d):
        if _is_traced(p):
            raise TypeError("polyval: np.poly1d cannot hold traced coefficients; compose "
                            "polynomials with coefficient arrays instead")
        return _np.polyval(p, x)
    p = p.coeffs if isinstance(p, _np.poly1d) else _asarray(p)
    x = _asarray(x)
    if _ndim(p) == 0:
        raise TypeError("polyval: p must be a 1-D array of coefficients (highest power first), "
                        "not a 0-d array")
    dtype = _np.result_type(_dtype(p), _dtype(x))
    n = _shape(p)[0]
    if n == 0:
        return _zeros_like(x)
    x = _astype(x, dtype) if _dtype(x) != dtype else x
    y = _np.zeros(_shape(x), dtype)
    for i in range(n):
        y = y * x + p[i]
    return y


def polyadd(a1, a2):
    """np.polyadd: the coefficients of the sum of two polynomials (the shorter one padded with
    leading zeros).

    >>> polyadd(_np.array([1.0, 2.0]), _np.array([9.0, 5.0, 4.0]))
    array([9., 6., 6.])
    """
    (a1, t1), (a2, t2) = _coeffs(a1), _coeffs(a2)
    a1, a2 = _at_least_1d(a1), _at_least_1d(a2)
    diff = _shape(a2)[0] - _shape(a1)[0]
    val = _pad_front(a1, max(diff, 0)) + _pad_front(a2, max(-diff, 0))
    return _as_poly1d(val, t1 or t2, "polyadd")


def polysub(a1, a2):
    """np.polysub: the coefficients of a1 - a2.

    >>> polysub(_np.array([2.0, 10.0, -2.0]), _np.array([3.0, 10.0, -4.0]))
    array([-1.,  0.,  2.])
    """
    (a1, t1), (a2, t2) = _coeffs(a1), _coeffs(a2)
    a1, a2 = _at_least_1d(a1), _at_least_1d(a2)
    diff = _shape(a2)[0] - _shape(a1)[0]
    val = _pad_front(a1, max(diff, 0)) - _pad_front(a2, max(-diff, 0))
    return _as_poly1d(val, t1 or t2, "polysub")


def polymul(a1, a2):
    """np.polymul: the coefficients of the product of two polynomials (their convolution).

    >>> polymul(_np.array([1.0, 2.0, 3.0]), _np.array([9.0, 5.0, 1.0]))
    array([ 9., 23., 38., 17.,  3.])
    """
    (a1, t1), (a2, t2) = _coeffs(a1), _coeffs(a2)
    a1, a2 = _at_least_1d(a1), _at_least_1d(a2)
    if _ndim(a1) != 1 or _ndim(a2) != 1:
        raise ValueError(f"polymul: the coefficient arrays must be 1-D, not shapes "
                         f"{_shape(a1)} and {_shape(a2)}")
    return _as_poly1d(convolve(a1, a2), t1 or t2, "polymul")


def _order(m, name: str, what: str) -> int:
    if _is_traced(m):
        raise TypeError(f"{name}: the order m must be an integer known when tracing, not a "
                        f"traced value")
    m = int(m)
    if m < 0:
        raise ValueError(f"{name}: the order of the {what} must be positive, got m={m}" +
                         (" (see polyint)" if name == "polyder" else " (see polyder)"))
    return m


def polyder(p, m=1):
    """np.polyder: the coefficients of the m-th derivative of the polynomial `p`. As in NumPy,
    the result is computed with int64 powers: float32 coefficients give float64.

    >>> polyder(_np.array([1.0, 1.0, 1.0, 1.0]))      # x**3 + x**2 + x + 1
    array([3., 2., 1.])
    """
    m = _order(m, "polyder", "derivative")
    p, truepoly = _coeffs(p)
    for _ in range(m):
        n = _shape(p)[0] - 1
        p = p[:-1] * _np.arange(n, 0, -1)
    return _as_poly1d(p, truepoly, "polyder")


def polyint(p, m=1, k=None):
    """np.polyint: the coefficients of an m-th antiderivative of `p`, with the integration
    constants `k` (a scalar or m values, the first for the first integration; by default 0),
    in float64 as NumPy computes it. Differentiable in `p` and `k`.

    >>> polyint(_np.array([3.0, 2.0, 1.0]), k=5.0)
    array([1., 1., 1., 5.])
    """
    m = _order(m, "polyint", "integral")
    k = _np.zeros(m, float) if k is None else _at_least_1d(_asarray(k))
    if _ndim(k) != 1:
        raise ValueError("polyint: k must be a scalar or a rank-1 array of length 1 or >m.")
    if _shape(k)[0] == 1 and m > 1:
        k = k[0] * _np.ones(m, float)
    if _shape(k)[0] < m:
        raise ValueError("polyint: k must be a scalar or a rank-1 array of length 1 or >m.")
    p, truepoly = _coeffs(p)
    for i in range(m):
        p = p / _np.arange(_shape(p)[0], 0, -1)
        p = _concatenate([p, _reshape(k[i], (1,))])
    return _as_poly1d(p, truepoly, "polyint")


def polydiv(u, v):
    """np.polydiv: the quotient and remainder of the polynomial division u / v, by NumPy's
    long division (the same rounding). Differentiable in `u` and `v`.

    NumPy then strips the remainder's leading entries while they are within 1e-8 of zero.
    With concrete values so does this function; under tracing the remainder has the length
    the division gives it: len(v) - 1 (at least 1), or len(u) when u is shorter than v.

    >>> q, r = polydiv(_np.array([3.0, 5.0, 2.0]), _np.array([2.0, 1.0]))
    >>> q, r
    (array([1.5 , 1.75]), array([0.25]))
    """
    (u, t1), (v, t2) = _coeffs(u), _coeffs(v)
    u, v = _at_least_1d(u) + 0.0, _at_least_1d(v) + 0.0
    dtype = _np.result_type(_dtype(u), _dtype(v))
    u, v = _astype(u, dtype), _astype(v, dtype)
    m, n = _shape(u)[0] - 1, _shape(v)[0] - 1
    scale = 1.0 / v[0]
    r, q = u, []
    for k in range(m - n + 1):
        d = scale * r[k]
        q.append(d)
        r = _concatenate([r[:k], r[k:k + n + 1] - d * v, r[k + n + 1:]])
    q = _stack(q) if q else _np.zeros((1,), dtype)
    if _is_traced(r):
        r = r[min(m - n + 1, m):] if m >= n else r
    else:
        r = _np.asarray(r)
        while _np.allclose(r[0], 0, rtol=1e-14) and r.shape[-1] > 1:
            r = r[1:]
    truepoly = t1 or t2
    return _as_poly1d(q, truepoly, "polydiv"), _as_poly1d(r, truepoly, "polydiv")


def vander(x, N=None, increasing=False):
    """np.vander: the Vandermonde matrix of the 1-D `x`, columns x**(N-1), ..., x, 1 (or the
    reverse with increasing=True), as running products as NumPy computes them. The dtype is
    x's promoted with int64 (float32 gives float64), as in NumPy.

    >>> vander(_np.array([1.0, 2.0, 3.0]), 3)
    array([[1., 1., 1.],
           [4., 2., 1.],
           [9., 3., 1.]])
    """
    x = _asarray(x)
    if _ndim(x) != 1:
        raise ValueError(f"vander: x must be a one-dimensional array or sequence, not shape "
                         f"{_shape(x)}")
    n = _shape(x)[0]
    N = n if N is None else N
    if _is_traced(N):
        raise TypeError("vander: N must be an integer known when tracing, not a traced value")
    N = int(N)
    if N < 0:
        raise ValueError(f"vander: N must be non-negative, got {N}")
    dtype = _np.promote_types(_dtype(x), _np.int_)
    x = _astype(x, dtype) if _dtype(x) != dtype else x
    if N == 0:
        return _outer(x, _np.zeros((0,), dtype))
    cols = [_np.ones((n,), dtype)]
    for _ in range(1, N):
        cols.append(x if len(cols) == 1 else cols[-1] * x)
    return _stack(cols if increasing else cols[::-1], axis=1)


def polyfit(x, y, deg, rcond=None, full=False, w=None, cov=False):
    """np.polyfit: the least-squares polynomial fit of degree `deg` to the points (x, y) (y may
    hold K data sets as columns), by NumPy's method: the Vandermonde matrix, weighted by `w`
    and its columns scaled to unit norm, solved by funcgrad.numpy.linalg.lstsq, so the fit is
    differentiable in x, y and w (where the rank is constant). Returns the coefficients
    (highest power first); with full=True also the residuals, rank, singular values and rcond;
    with cov=True (or "unscaled") the covariance matrix of the coefficients.

    As NumPy, the fit is computed in float64 (vander promotes float32 with int64). NumPy warns
    (RankWarning) when the matrix is rank-deficient; so does this function with concrete
    values, not under tracing (the rank is a traced value there). As in lstsq, the residuals
    are returned even for a rank-deficient fit (NumPy returns an empty array then).

    >>> polyfit(_np.array([0.0, 1.0, 2.0, 3.0]), _np.array([1.0, 3.0, 5.0, 7.0]), 1).round(6)
    array([2., 1.])
    """
    if _is_traced(deg):
        raise TypeError("polyfit: deg must be an integer known when tracing, not a traced value")
    order = int(deg) + 1
    x, y = _asarray(x) + 0.0, _asarray(y) + 0.0
    if deg < 0:
        raise ValueError("polyfit: expected deg >= 0")
    if _ndim(x) != 1:
        raise TypeError(f"polyfit: expected 1D vector for x, got shape {_shape(x)}")
    if _shape(x)[0] == 0:
        raise TypeError("polyfit: expected non-empty vector for x")
    if _ndim(y) < 1 or _ndim(y) > 2:
        raise TypeError(f"polyfit: expected 1D or 2D array for y, got shape {_shape(y)}")
    if _shape(x)[0] != _shape(y)[0]:
        raise TypeError(f"polyfit: expected x and y to have same length, got shapes "
                        f"{_shape(x)} and {_shape(y)}")
    npts = _shape(x)[0]
    if rcond is None:
        rcond = npts * _np.finfo(_dtype(x)).eps
    elif _is_traced(rcond):
        raise TypeError("polyfit: rcond must be a number known when tracing, not a traced "
                        "value")
    lhs, rhs = vander(x, order), y
    if w is not None:
        w = _asarray(w) + 0.0
        if _ndim(w) != 1:
            raise TypeError(f"polyfit: expected a 1-d array for weights, got shape {_shape(w)}")
        if _shape(w)[0] != _shape(y)[0]:
            raise TypeError(f"polyfit: expected w and y to have the same length, got shapes "
                            f"{_shape(w)} and {_shape(y)}")
        wcol = _reshape(w, (npts, 1))
        lhs = _astype(lhs * wcol, _dtype(lhs))              # NumPy multiplies in place
        rhs = _astype(rhs * (wcol if _ndim(rhs) == 2 else w), _dtype(rhs))
    scale = _sqrt(_sum(lhs * lhs, axis=0))
    lhs = lhs / scale
    c, resids, rank, s = _lstsq(lhs, rhs, rcond)
    c = _transpose(_transpose(c) / scale)
    if not full and not _is_traced(rank) and rank != order:
        _warnings.warn("Polyfit may be poorly conditioned", _np.exceptions.RankWarning,
                       stacklevel=3)
    if full:
        return c, resids, rank, s, rcond
    if cov:
        vbase = _inv(_dot(_transpose(lhs), lhs)) / _outer(scale, scale)
        if cov == "unscaled":
            fac = 1
        else:
            if npts <= order:
                raise ValueError("polyfit: the number of data points must exceed order to "
                                 "scale the covariance matrix")
            fac = resids / (npts - order)
        if _ndim(y) == 1:
            return c, vbase * fac
        return c, _reshape(vbase, (order, order, 1)) * fac
    return c


def _companion_roots(p):
    """The eigenvalues of the companion matrix of the 1-D `p` (len(p) >= 2), always complex."""
    n = _shape(p)[0]
    first = _reshape(-p[1:] / p[0], (1, n - 1))
    if n == 2:
        a = first
    else:
        below = _np.eye(n - 2, n - 1, dtype=_dtype(first))
        a = _concatenate([first, below])
    return _eigvals(a)


def _complex_of(dtype):
    return _np.result_type(dtype, _np.complex64)


def roots(p):
    """np.roots: the roots of the polynomial with coefficients `p` (highest power first), the
    eigenvalues of its companion matrix (funcgrad.numpy.linalg.eigvals), in NumPy's order.
    Differentiable where the roots are distinct.

    The result is always complex, as funcgrad.numpy.linalg.eigvals' (NumPy returns a real
    array when every root is real; a traced function cannot choose its dtype by value).
    NumPy strips leading zero coefficients and puts one root 0 for each trailing zero at the
    end. With concrete values so does this function; under tracing the shape cannot depend
    on the values, so the companion matrix of the whole `p` is used: a leading zero then
    makes it infinite (LinAlgError), and trailing zeros give roots 0 in eigvals' order.

    >>> roots(_np.array([1.0, -3.0, 2.0]))            # (x - 2)(x - 1)
    array([2.+0.j, 1.+0.j])
    """
    p = _at_least_1d(_asarray(p))
    if _ndim(p) != 1:
        raise ValueError(f"roots: input must be a rank-1 array, not shape {_shape(p)}")
    if _dtype(p).kind not in "fc":
        p = _astype(p, _np.float64)
    cdtype = _complex_of(_dtype(p))
    trailing = 0
    if not _is_traced(p):
        nz = _np.nonzero(p)[0]
        if len(nz) == 0:
            return _np.zeros((0,), cdtype)
        trailing = len(p) - int(nz[-1]) - 1
        p = p[int(nz[0]):int(nz[-1]) + 1]
    if _shape(p)[0] < 2:
        r = _np.zeros((0,), cdtype)
    else:
        r = _companion_roots(p)
    return _concatenate([r, _np.zeros((trailing,), cdtype)]) if trailing else r


def poly(seq_of_zeros):
    """np.poly: the coefficients (highest power first, leading 1) of the monic polynomial with
    the given roots, or the characteristic polynomial of a square matrix (through
    funcgrad.numpy.linalg.eigvals: differentiable where its eigenvalues are distinct; real for
    a real matrix). Real roots give real coefficients (float32 stays float32).

    NumPy returns real coefficients for complex roots that come in conjugate pairs; so does
    this function with concrete values, while under tracing complex roots give complex
    coefficients (take funcgrad.numpy.real of them).

    >>> poly(_np.array([1.0, 2.0]))                   # (x - 1)(x - 2)
    array([ 1., -3.,  2.])
    >>> poly(_np.array([[1.0, 2.0], [3.0, 4.0]])).round(6)
    array([ 1., -5., -2.])
    """
    z = _at_least_1d(_asarray(seq_of_zeros))
    sh = _shape(z)
    real_matrix = False
    if len(sh) == 2 and sh[0] == sh[1] and sh[0] != 0:
        real_matrix = _dtype(z).kind != "c"
        z = _eigvals(z)
    elif len(sh) == 1:
        dt = _np.dtype(_np.mintypecode(_dtype(z).char))
        z = _astype(z, dt) if _dtype(z) != dt else z
    else:
        raise ValueError(f"poly: input must be 1d or non-empty square 2d array, not shape {sh}")
    if _shape(z)[0] == 0:
        return 1.0
    dt = _dtype(z)
    a = _np.ones((1,), dt)
    zero = _np.zeros((1,), dt)
    for i in range(_shape(z)[0]):
        a = _concatenate([a, zero]) + _concatenate([zero, a]) * -z[i]
    if dt.kind == "c":
        if real_matrix:
            return _real(a)
        if not _is_traced(a):
            r = _np.asarray(z, complex)
            if _np.all(_np.sort(r) == _np.sort(r.conjugate())):
                return _np.asarray(a).real.copy()
    return a


# ---------------------------------------------------------------- convolve, correlate

def _vector(x, name: str, what: str):
    x = _asarray(x)
    if _ndim(x) == 0:
        x = _reshape(x, (1,))
    if _ndim(x) != 1:
        raise ValueError(f"{name}: object too deep for desired array ({what} has shape "
                         f"{_shape(x)}; expected 1-D)")
    if _shape(x)[0] == 0:
        raise ValueError(f"{name}: {what} cannot be empty")
    return x


def _correlate_1d(a, v, mode, name: str):
    """NumPy's correlation of 1-D `a` and `v` (no conjugation here), as the conv primitive: the
    full correlation z[k] = sum_j a[j + k] v[j], k = -(m - 1) .. n - 1, cut as NumPy cuts it."""
    n, m = _shape(a)[0], _shape(v)[0]
    if mode == "full":
        start, length = 0, n + m - 1
    elif mode == "same":
        start, length = ((m - 1) // 2 if n >= m else n // 2), max(n, m)
    elif mode == "valid":
        start, length = min(n, m) - 1, abs(n - m) + 1
    else:
        raise ValueError(f"{name}: mode must be 'full', 'same' or 'valid', not {mode!r}")
    dtype = _np.result_type(_dtype(a), _dtype(v))
    work = dtype if dtype.kind in "fc" else _np.dtype(_np.float64)
    lo = m - 1 - start
    hi = length + m - 1 - n - lo
    out = _conv.conv(_reshape(_astype(a, work), (1, 1, n)), _reshape(_astype(v, work),
                     (1, 1, m)), padding=[(lo, hi)])
    out = _reshape(out, (length,))
    return out if work == dtype else _astype(out, dtype)   # integers: exact sums in float64


def convolve(a, v, mode="full"):
    """The discrete linear convolution of two 1-D sequences, as np.convolve (`mode` 'full',
    'same' or 'valid'; 'same' is centred as NumPy centres it). Differentiable in both.

    >>> convolve(_np.array([1.0, 2.0, 3.0]), _np.array([0.0, 1.0, 0.5]))
    array([0. , 1. , 2.5, 4. , 1.5])
    >>> convolve(_np.array([1.0, 2.0, 3.0]), _np.array([0.0, 1.0, 0.5]), mode="same")
    array([1. , 2.5, 4. ])
    """
    a, v = _vector(a, "convolve", "a"), _vector(v, "convolve", "v")
    if _shape(v)[0] > _shape(a)[0]:
        a, v = v, a
    return _correlate_1d(a, _flip(v, 0), mode, "convolve")


def correlate(a, v, mode="valid"):
    """The cross-correlation of two 1-D sequences, as np.correlate: c[k] = sum_n a[n + k]
    conj(v[n]) (the second operand is conjugated), `mode` 'valid' (the default), 'same' or
    'full'. Differentiable in both.

    >>> correlate(_np.array([1.0, 2.0, 3.0]), _np.array([0.0, 1.0, 0.5]))
    array([3.5])
    >>> correlate(_np.array([1.0, 2.0, 3.0]), _np.array([0.0, 1.0, 0.5]), mode="full")
    array([0.5, 2. , 3.5, 3. , 0. ])
    """
    a, v = _vector(a, "correlate", "a"), _vector(v, "correlate", "v")
    if _dtype(v).kind == "c":
        v = _conjugate(v)
    return _correlate_1d(a, v, mode, "correlate")


__all__ = _reports_user_line(globals())
