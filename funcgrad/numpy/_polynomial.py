"""Polynomials as coefficient arrays, highest power first (np.polyval and its family), and
1-D convolution and correlation (np.convolve, np.correlate)."""
from __future__ import annotations

import numpy as _np  # noqa: F401  (the docstring examples use _np)

from ..prims import conv as _conv
from ._creation import asarray as _asarray
from ._elementwise import astype as _astype
from ._elementwise import conjugate as _conjugate
from ._shapes import flip as _flip
from ._shapes import reshape as _reshape
from ._util import _dtype, _ndim, _reports_user_line, _shape

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
