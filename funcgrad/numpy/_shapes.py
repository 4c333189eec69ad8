"""Shapes: reshape, ravel, transposes and axis moves, squeeze, expand_dims, atleast_*d,
broadcasting, joining (concatenate, stack, vstack, ...), splitting, flips, tile, meshgrid."""
from __future__ import annotations

import builtins

import numpy as _np

from ..prims import indexing as _ix
from ..prims import shape as _sh
from ..util import canonical_axes as _canonical_axes
from ..util import canonical_axis as _canonical_axis
from ._creation import _arr, _same_shape
from ._elementwise import astype
from ._util import _ndim, _no_out, _reports_user_line, _shape, _size


def reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    """np.reshape, traced; one dimension may be -1.

    >>> reshape(_np.arange(6.0), (2, -1)).shape
    (2, 3)
    """
    a = _arr(a)
    shape = newshape if shape is None else shape
    if shape is None:
        raise TypeError("reshape: the new shape is missing")
    if order != "C":
        raise NotImplementedError("reshape: only order='C' is supported")
    shape = [int(shape)] if isinstance(shape, (int, _np.integer)) else [int(d) for d in shape]
    size = _size(_shape(a))
    if shape.count(-1) > 1:
        raise ValueError(f"reshape: can only specify one unknown dimension, got {tuple(shape)}")
    if -1 in shape:
        known = _size([d for d in shape if d != -1])
        if known == 0 or size % known:
            raise ValueError(f"reshape: cannot reshape an array of shape {_shape(a)} (size "
                             f"{size}) into shape {tuple(shape)}")
        shape[shape.index(-1)] = size // known
    return _sh.reshape(a, tuple(shape))


def ravel(a, order="C"):
    """Flatten to 1-D, traced.

    >>> ravel(_np.ones((2, 3))).shape
    (6,)
    """
    return reshape(a, (-1,), order)


def transpose(a, axes=None):
    """np.transpose, traced.

    >>> transpose(_np.ones((2, 3))).shape
    (3, 2)
    """
    a = _arr(a)
    nd = _ndim(a)
    perm = tuple(range(nd))[::-1] if axes is None else tuple(_canonical_axis(p, nd) for p in axes)
    if sorted(perm) != list(range(nd)):
        raise ValueError(f"transpose: axes {tuple(axes)} don't match an array of ndim {nd}")
    return _sh.transpose(a, perm)


permute_dims = transpose


def matrix_transpose(x):
    """Swap the last two axes.

    >>> matrix_transpose(_np.ones((4, 2, 3))).shape
    (4, 3, 2)
    """
    return swapaxes(x, -1, -2)


def swapaxes(a, axis1, axis2):
    """np.swapaxes, traced.

    >>> swapaxes(_np.ones((2, 3, 4)), 0, 2).shape
    (4, 3, 2)
    """
    a = _arr(a)
    nd = _ndim(a)
    perm = list(range(nd))
    i, j = _canonical_axis(axis1, nd), _canonical_axis(axis2, nd)
    perm[i], perm[j] = perm[j], perm[i]
    return _sh.transpose(a, perm)


def moveaxis(a, source, destination):
    """np.moveaxis (ints or sequences of axes), traced.

    >>> moveaxis(_np.ones((2, 3, 4)), 0, -1).shape
    (3, 4, 2)
    """
    a = _arr(a)
    nd = _ndim(a)
    src = [_canonical_axis(s, nd) for s in (source if isinstance(source, (list, tuple))
                                           else [source])]
    dst = [_canonical_axis(d, nd) for d in (destination if isinstance(destination, (list, tuple))
                                           else [destination])]
    if len(src) != len(dst) or len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ValueError("moveaxis: source and destination must be distinct axes, as many of "
                         "each")
    order = [i for i in range(nd) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return _sh.transpose(a, order)


def squeeze(a, axis=None):
    """np.squeeze, traced.

    >>> squeeze(_np.ones((1, 3, 1))).shape
    (3,)
    """
    a = _arr(a)
    shape = _shape(a)
    if axis is None:
        axes = tuple(i for i, d in enumerate(shape) if d == 1)
    else:
        axes = _canonical_axes(axis, len(shape), "squeeze")
        for i in axes:
            if shape[i] != 1:
                raise ValueError(f"squeeze: cannot select an axis to squeeze out which has "
                                 f"size not equal to one (axis {i} of shape {shape})")
    return _sh.reshape(a, tuple(d for i, d in enumerate(shape) if i not in axes))


def expand_dims(a, axis):
    """np.expand_dims, traced.

    >>> expand_dims(_np.ones(3), (0, 2)).shape
    (1, 3, 1)
    """
    a = _arr(a)
    shape = list(_shape(a))
    axes = _canonical_axes(axis, len(shape) + (1 if _np.ndim(axis) == 0 else len(axis)),
                          "expand_dims")
    for ax in axes:
        shape.insert(ax, 1)
    return _sh.reshape(a, tuple(shape))


def _atleast(arys, n):
    out = []
    for a in arys:
        a = _arr(a)
        shape = _shape(a)
        if len(shape) < n:
            # NumPy's placements: (N,) -> (1, N) -> (1, N, 1); () -> (1,) * n
            new = {0: (1,) * n, 1: (1, *shape, 1)[:n] if n > 1 else shape,
                   2: (*shape, 1)}[len(shape)]
            a = reshape(a, new)
        out.append(a)
    return out[0] if len(out) == 1 else tuple(out)


def atleast_1d(*arys):
    """Arrays with at least one axis.

    >>> atleast_1d(1.0).shape
    (1,)
    """
    return _atleast(arys, 1)


def atleast_2d(*arys):
    """Arrays with at least two axes ((N,) becomes (1, N)).

    >>> atleast_2d(_np.ones(3)).shape
    (1, 3)
    """
    return _atleast(arys, 2)


def atleast_3d(*arys):
    """Arrays with at least three axes ((N,) -> (1, N, 1), (M, N) -> (M, N, 1)).

    >>> atleast_3d(_np.ones(3)).shape
    (1, 3, 1)
    """
    return _atleast(arys, 3)


def broadcast_to(array, shape, subok=False):
    """np.broadcast_to, traced (its derivative sums back).

    >>> broadcast_to(_np.ones(3), (2, 3)).shape
    (2, 3)
    """
    shape = (shape,) if isinstance(shape, (int, _np.integer)) else tuple(shape)
    return _sh.broadcast_to(_arr(array), shape)


def broadcast_arrays(*args, subok=False):
    """np.broadcast_arrays, traced.

    >>> [a.shape for a in broadcast_arrays(_np.ones((2, 1)), _np.ones(3))]
    [(2, 3), (2, 3)]
    """
    args = [_arr(a) for a in args]
    shape = _np.broadcast_shapes(*(_shape(a) for a in args))
    return tuple(broadcast_to(a, shape) for a in args)


def _cast_all(arrays, dtype):
    return [a if dtype is None else astype(a, dtype) for a in arrays]


def concatenate(arrays, /, axis=0, out=None, *, dtype=None, casting="same_kind"):
    """np.concatenate, traced.

    >>> concatenate([_np.ones(2), _np.zeros(1)])
    array([1., 1., 0.])
    """
    _no_out(out, "concatenate")
    arrays = _cast_all([_arr(a) for a in arrays], dtype)
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    nd = _ndim(arrays[0]) if arrays else 1
    if nd == 0:
        raise ValueError("concatenate: zero-dimensional arrays cannot be concatenated")
    return _ix.concatenate(arrays, _canonical_axis(axis, nd, "concatenate"))


def stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    """np.stack, traced.

    >>> stack([_np.ones(2), _np.zeros(2)], axis=1).shape
    (2, 2)
    """
    _no_out(out, "stack")
    arrays = _cast_all([_arr(a) for a in arrays], dtype)
    if not arrays:
        raise ValueError("stack: need at least one array to stack")
    _same_shape(arrays)
    ax = _canonical_axis(axis, _ndim(arrays[0]) + 1, "stack")
    return _ix.concatenate([expand_dims(a, ax) for a in arrays], ax)


def vstack(tup, *, dtype=None, casting="same_kind"):
    """Stack along the first axis (1-D arrays become rows).

    >>> vstack([_np.ones(2), _np.zeros(2)]).shape
    (2, 2)
    """
    return concatenate([atleast_2d(a) for a in tup], axis=0, dtype=dtype)


row_stack = vstack


def hstack(tup, *, dtype=None, casting="same_kind"):
    """Stack along the second axis (the first for 1-D arrays).

    >>> hstack([_np.ones(2), _np.zeros(1)]).shape
    (3,)
    """
    arrays = [atleast_1d(a) for a in tup]
    return concatenate(arrays, axis=0 if _ndim(arrays[0]) == 1 else 1, dtype=dtype)


def dstack(tup):
    """Stack along the third axis.

    >>> dstack([_np.ones(2), _np.zeros(2)]).shape
    (1, 2, 2)
    """
    return concatenate([atleast_3d(a) for a in tup], axis=2)


def column_stack(tup):
    """1-D arrays become columns, then stack along the second axis.

    >>> column_stack([_np.ones(3), _np.zeros(3)]).shape
    (3, 2)
    """
    arrays = [_arr(a) for a in tup]
    return concatenate([reshape(a, (-1, 1)) if _ndim(a) < 2 else a for a in arrays], axis=1)


def append(arr, values, axis=None):
    """np.append: concatenate (flattened when axis is None).

    >>> append(_np.ones(2), 0.0)
    array([1., 1., 0.])
    """
    arr, values = _arr(arr), _arr(values)
    if axis is None:
        return concatenate([ravel(arr), ravel(values)])
    return concatenate([arr, values], axis=axis)


def split(ary, indices_or_sections, axis=0):
    """np.split, traced: a list of slices.

    >>> [p.shape for p in split(_np.ones(4), 2)]
    [(2,), (2,)]
    """
    ary = _arr(ary)
    shape = _shape(ary)
    ax = _canonical_axis(axis, len(shape))
    n = shape[ax]
    if isinstance(indices_or_sections, (int, _np.integer)):
        k = int(indices_or_sections)
        if k <= 0 or n % k:
            raise ValueError(f"split: array of size {n} on axis {ax} does not divide into {k} "
                             f"equal sections")
        bounds = [i * (n // k) for i in range(k + 1)]
    else:
        bounds = [0] + [int(i) for i in indices_or_sections] + [n]
    # NumPy's slicing rules: negative bounds count from the end, all are clipped to [0, n].
    bounds = [builtins.min(builtins.max(b + n if b < 0 else b, 0), n) for b in bounds]
    return [_ix.slice_axis(ary, ax, bounds[i], builtins.max(bounds[i], bounds[i + 1]))
            for i in range(len(bounds) - 1)]


def array_split(ary, indices_or_sections, axis=0):
    """np.array_split: like split, sections may differ in size by one.

    >>> [p.shape for p in array_split(_np.ones(5), 2)]
    [(3,), (2,)]
    """
    if isinstance(indices_or_sections, (int, _np.integer)):
        n = _shape(ary)[axis]
        k = int(indices_or_sections)
        sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
        indices_or_sections = [int(i) for i in _np.cumsum(sizes)[:-1]]
    return split(ary, indices_or_sections, axis)


def flip(m, axis=None):
    """Reverse the order of elements along `axis` (all axes when None).

    >>> flip(_np.array([1.0, 2.0]))
    array([2., 1.])
    """
    m = _arr(m)
    return _sh.rev(m, _canonical_axes(axis, _ndim(m), "flip"))


def fliplr(m):
    """Reverse the second axis.

    >>> fliplr(_np.eye(2))
    array([[0., 1.],
           [1., 0.]])
    """
    return flip(m, 1)


def flipud(m):
    """Reverse the first axis.

    >>> flipud(_np.array([1.0, 2.0]))
    array([2., 1.])
    """
    return flip(m, 0)


def tile(A, reps):
    """np.tile, traced (a broadcast and a reshape).

    >>> tile(_np.array([1.0, 2.0]), 2)
    array([1., 2., 1., 2.])
    """
    A = _arr(A)
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    shape = _shape(A)
    nd = builtins.max(len(shape), len(reps))
    shape = (1,) * (nd - len(shape)) + tuple(shape)
    reps = (1,) * (nd - len(reps)) + reps
    A = reshape(A, [d for s in shape for d in (1, s)])
    A = broadcast_to(A, [d for r, s in zip(reps, shape) for d in (r, s)])
    return reshape(A, [r * s for r, s in zip(reps, shape)])


def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    """np.meshgrid, traced (each output is a broadcast of one input).

    >>> [g.shape for g in meshgrid(_np.ones(2), _np.ones(3))]
    [(3, 2), (3, 2)]
    """
    n = len(xi)
    xi = [ravel(_arr(x)) for x in xi]
    shape = [_shape(x)[0] for x in xi]
    if indexing == "xy" and n > 1:
        shape[0], shape[1] = shape[1], shape[0]
    out = []
    for i, x in enumerate(xi):
        axis = (1 - i if i < 2 else i) if indexing == "xy" and n > 1 else i
        one = [1] * n
        one[axis] = _shape(x)[0]
        x = reshape(x, one)
        out.append(x if sparse else broadcast_to(x, shape))
    return tuple(out)


__all__ = _reports_user_line(globals())
