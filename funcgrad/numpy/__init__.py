"""A NumPy-like namespace whose functions trace: each binds primitives, composites are built
from them. Importing it installs operators and the NumPy protocols on tracers.

This module only gathers the public names of the topic modules; where each topic lives (each
module imports only modules listed above it, and none imports this package):

    _util.py         helpers: shapes and dtypes of values, `out=` refused, the user's line in errors
    _queries.py      shape, ndim, size, iscomplexobj, isrealobj; nonzero, flatnonzero, argwhere,
                     allclose, array_equal (these need concrete values)
    _creation.py     dtypes and constants; array, asarray, full, zeros_like, ones_like, full_like,
                     copy, result_type; NumPy's own zeros, ones, arange, eye, ...
    _elementwise.py  the ufuncs that bind one primitive (exp, log2, sin, add, hypot, less, ...),
                     power, square, reciprocal, where, select, clip, astype, real, imag,
                     conjugate, stop_gradient; bitwise functions and shifts (booleans and
                     integers), gcd, lcm, fmod, copysign, ldexp, frexp, the bit queries, and
                     NumPy 2's aliases (acos, pow, ...); each binary one has .reduce,
                     .accumulate and .outer
    _math.py         elementwise composites: angle, degrees, logaddexp2, sinc, heaviside, trunc,
                     round, fmax, fmin, nan_to_num, isclose, modf, divmod, i0, isposinf, ...
    _shapes.py       reshape, ravel, transpose, swapaxes, moveaxis, squeeze, expand_dims,
                     atleast_*d, broadcast_to, concatenate, stack, *stack, append, split, flip,
                     tile, meshgrid
    _reductions.py   sum, prod, max, min, ptp, any, all, count_nonzero, mean, average, var, std,
                     nansum, nanmean, logsumexp, argmax, argmin
    _sorting.py      sort, argsort, median, cumsum, cumprod, diff
    _indexing.py     take, take_along_axis, diagonal, diag, trace, triu, tril, roll, repeat, pad
    _statistics.py   quantile, percentile, nan* reductions, trapezoid, interp, gradient, cov,
                     corrcoef, histogram(2d, dd), bincount, searchsorted, digitize, linspace,
                     logspace, geomspace, ...
    _arrays.py       r_, c_, h/v/dsplit, rot90, block, delete, insert, unique, set operations,
                     piecewise, choose, fromfunction, vectorize, apply_along_axis, ...
    _einsum.py       einsum's planning: diagonals, sums, a greedy chain of dot_generals
    _products.py     matmul, dot, vdot, vecdot, inner, outer, kron, cross, tensordot, einsum
    _linalg_solve.py, _linalg_decomp.py   funcgrad.numpy.linalg's solves and decompositions
    _polynomial.py   polyval and the poly* family, vander, roots, poly, convolve, correlate
    _at.py           at(x)[idx].set(v) ...: functional updates of traced and plain arrays alike
    linalg.py        funcgrad.numpy.linalg: norms and the array-API products
    fft.py           funcgrad.numpy.fft: np.fft's transforms, shifts and frequencies
    _dispatch.py     Tracer's operators and methods, __array_ufunc__ (with the ufunc methods
                     reduce, accumulate, outer) and __array_function__

Each topic module ends with `_reports_user_line(globals())`, which wraps its public functions so
that their errors name the user's line (the hottest, made by `_unary` and `_binary`, do it
themselves). Last, `_dispatch.install` builds the NumPy -> funcgrad tables from this namespace
and installs the operators and the NumPy protocols on Tracer.
"""
# ruff: noqa: F401, F403  (re-exports)
from __future__ import annotations

from . import (
    _arrays,
    _at,
    _creation,
    _dispatch,
    _elementwise,
    _indexing,
    _math,
    _polynomial,
    _products,
    _queries,
    _reductions,
    _shapes,
    _sorting,
    _statistics,
    fft,
    linalg,
)
from ._arrays import *
from ._at import *
from ._creation import *
from ._elementwise import *
from ._indexing import *
from ._math import *
from ._polynomial import *
from ._products import *
from ._queries import *
from ._reductions import *
from ._shapes import *
from ._sorting import *
from ._statistics import *

# The public names (help() lists the functions of __all__; they are defined in the modules).
__all__ = [*_queries.__all__, *_creation.__all__, *_elementwise.__all__, *_math.__all__,
           *_shapes.__all__, *_reductions.__all__, *_sorting.__all__, *_indexing.__all__,
           *_products.__all__, *_statistics.__all__, *_arrays.__all__, *_polynomial.__all__,
           *_at.__all__, "fft", "linalg"]

_dispatch.install(globals(), vars(linalg), vars(fft))
