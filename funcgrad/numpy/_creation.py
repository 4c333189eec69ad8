"""Array creation, and NumPy's dtypes and constants: array and asarray (lists holding traced
values are stacked), full and the *_like functions, copy, result_type. zeros, ones, arange,
eye, ... are NumPy's own: they take no traced values (linspace and logspace, which can, are in
_statistics.py). The shape functions are built on this module, so it binds primitives itself
where it needs a stack, reshape or broadcast."""
from __future__ import annotations

import builtins
from typing import Any

import numpy as _np

from ..core.trace import Tracer
from ..prims import elementwise as _ew
from ..prims import indexing as _ix
from ..prims import shape as _sh
from ..prims.shape import full as _full
from ._util import _dtype, _ndim, _reports_user_line, _shape

# NumPy's own types, constants and creation functions, re-exported (the traced ones are
# defined below and found by _reports_user_line)
_NUMPY_NAMES = [
    "ndarray", "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8",
    "bool_", "complex64", "complex128", "pi", "e", "inf", "nan", "newaxis", "dtype", "finfo",
    "iinfo", "zeros", "ones", "empty", "eye", "identity", "arange", "tri", "uint16", "uint32",
    "uint64", "complexfloating", "floating", "integer", "inexact", "number", "signedinteger",
    "unsignedinteger", "generic", "euler_gamma", "issubdtype",
    "can_cast", "promote_types", "isdtype", "bartlett", "blackman", "hamming", "hanning",
    "kaiser", "einsum_path", "min_scalar_type", "common_type",
]


ndarray = _np.ndarray
float16, float32, float64 = _np.float16, _np.float32, _np.float64
int8, int16, int32, int64, uint8 = _np.int8, _np.int16, _np.int32, _np.int64, _np.uint8
bool_, complex64, complex128 = _np.bool_, _np.complex64, _np.complex128
pi, e, inf, nan, newaxis = _np.pi, _np.e, _np.inf, _np.nan, None
dtype, finfo, iinfo = _np.dtype, _np.finfo, _np.iinfo
uint16, uint32, uint64 = _np.uint16, _np.uint32, _np.uint64
complexfloating, floating, integer, inexact = (_np.complexfloating, _np.floating, _np.integer,
                                               _np.inexact)
number, signedinteger, unsignedinteger, generic = (_np.number, _np.signedinteger,
                                                   _np.unsignedinteger, _np.generic)
euler_gamma = _np.euler_gamma
# dtype queries take dtypes (x.dtype of a traced x is one), not values
issubdtype, can_cast, promote_types, isdtype = (_np.issubdtype, _np.can_cast, _np.promote_types,
                                                _np.isdtype)
# window functions and planning queries take constants (lengths, shapes, dtypes)
bartlett, blackman, hamming, hanning, kaiser = (_np.bartlett, _np.blackman, _np.hamming,
                                                _np.hanning, _np.kaiser)
einsum_path, min_scalar_type, common_type = _np.einsum_path, _np.min_scalar_type, _np.common_type


def _arr(x):
    """Array-likes (lists, tuples) become arrays, stacking any traced entries; others pass."""
    return asarray(x) if isinstance(x, (list, tuple)) else x


def array(object: Any, dtype=None, *, copy: bool = True, ndmin: int = 0) -> Any:
    """Like np.array; traced values pass through, lists holding traced values are stacked.

    >>> array([1.0, 2.0]).dtype
    dtype('float64')
    """
    # Primitives, not astype/stack/reshape: the shape functions are built on this module.
    if isinstance(object, Tracer):
        out = object if dtype is None else _ew.convert(object, dtype)
    elif isinstance(object, (list, tuple)) and builtins.any(
            isinstance(o, Tracer) for o in _flat(object)):
        out = _stack([array(o, dtype) for o in object])
    else:
        return _np.array(object, dtype=dtype, copy=copy, ndmin=ndmin)
    if ndmin > _ndim(out):
        return _sh.reshape(out, (1,) * (ndmin - _ndim(out)) + _shape(out))
    return out


def asarray(a: Any, dtype=None, order=None, *, copy=None) -> Any:
    """Like np.asarray; traced values pass through. `asarray(3.0)` is a 0-d float64 array.

    >>> asarray([1, 2]).shape
    (2,)
    """
    if isinstance(a, (Tracer, list, tuple)):
        return array(a, dtype=dtype, copy=None)
    if copy is None:  # NumPy 1.x has no copy= here
        return _np.asarray(a, dtype=dtype, order=order)
    return _np.asarray(a, dtype=dtype, order=order, copy=copy)


def asanyarray(a: Any, dtype=None, order=None) -> Any:
    """np.asanyarray: asarray (funcgrad has no array subclasses).

    >>> asanyarray([1.0, 2.0]).shape
    (2,)
    """
    return asarray(a, dtype=dtype, order=order)


def ascontiguousarray(a: Any, dtype=None) -> Any:
    """np.ascontiguousarray: asarray, at least 1-d (memory layout is NumPy's business: a traced
    value has none until it runs).

    >>> ascontiguousarray(2.0).shape
    (1,)
    """
    a = asarray(a, dtype=dtype)
    return a if _np.ndim(a) else array(a, ndmin=1)


def asfortranarray(a: Any, dtype=None) -> Any:
    """np.asfortranarray: asarray, at least 1-d (see ascontiguousarray).

    >>> asfortranarray([[1.0, 2.0]]).shape
    (1, 2)
    """
    return ascontiguousarray(a, dtype=dtype)


def _same_shape(arrays) -> tuple:
    """The shape all of `arrays` have, as stack requires."""
    shapes = {_shape(a) for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"stack: all input arrays must have the same shape, got {sorted(shapes)}")
    return shapes.pop()


def _stack(arrays):
    """stack(arrays) along a new first axis, in primitives (for array())."""
    shape = _same_shape(arrays)
    return _ix.concatenate([_sh.reshape(a, (1, *shape)) for a in arrays], 0)


def _flat(obj):
    stack_ = [iter(obj)]
    while stack_:  # iterative: no recursion on nesting depth
        for o in stack_[-1]:
            if isinstance(o, (list, tuple)):
                stack_.append(iter(o))
                break
            yield o
        else:
            stack_.pop()


zeros, ones, empty, eye, identity = _np.zeros, _np.ones, _np.zeros, _np.eye, _np.identity
arange, tri = _np.arange, _np.tri


def full(shape, fill_value, dtype=None, order="C") -> Any:
    """np.full; a traced `fill_value` is broadcast (and traced).

    >>> full(2, 7.0)
    array([7., 7.])
    """
    if isinstance(fill_value, Tracer):
        shape = (shape,) if isinstance(shape, (int, _np.integer)) else tuple(shape)
        return _sh.broadcast_to(fill_value if dtype is None else _ew.convert(fill_value, dtype),
                                shape)
    return _np.full(shape, fill_value, dtype, order)


def zeros_like(a, dtype=None, order="K", subok=True, shape=None) -> Any:
    """Zeros with the shape and dtype of `a` (traced or not).

    >>> zeros_like(_np.ones(2, _np.float32))
    array([0., 0.], dtype=float32)
    """
    return full_like(a, 0, dtype, shape=shape)


def ones_like(a, dtype=None, order="K", subok=True, shape=None) -> Any:
    """Ones with the shape and dtype of `a` (traced or not).

    >>> ones_like(_np.zeros(2))
    array([1., 1.])
    """
    return full_like(a, 1, dtype, shape=shape)


def full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None) -> Any:
    """An array like `a` (shape and dtype) filled with `fill_value`.

    >>> full_like(_np.zeros(2), 3.0)
    array([3., 3.])
    """
    a = _arr(a)
    shape = _shape(a) if shape is None else (shape,) if isinstance(shape, int) else tuple(shape)
    dtype = _dtype(a) if dtype is None else dtype
    if isinstance(fill_value, Tracer):
        return full(shape, fill_value, dtype)
    return _full(shape=shape, fill_value=fill_value, dtype=dtype)


empty_like = zeros_like


def copy(a, order="K", subok=False) -> Any:
    """np.copy; traced values are immutable, so they pass through.

    >>> copy(_np.ones(2))
    array([1., 1.])
    """
    return a if isinstance(a, Tracer) else _np.copy(a)


def result_type(*arrays_and_dtypes):
    """np.result_type; a traced value counts as an array of its dtype.

    >>> result_type(_np.ones(2, _np.float32), 2.0)
    dtype('float32')
    """
    return _np.result_type(*(_np.empty(0, a.dtype) if isinstance(a, Tracer) else a
                             for a in arrays_and_dtypes))


__all__ = _NUMPY_NAMES + _reports_user_line(globals())
