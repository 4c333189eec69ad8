"""The array-manipulation long tail: r_/c_, h/v/dsplit, rot90, block, delete, insert, index
helpers (indices, ix_, unravel_index, *_indices), unique and the set operations, partition.

Everything here is built from the traced functions of the modules above and the indexing
primitives; no new primitive. Where NumPy's result has a shape that depends on values (delete
and insert with traced positions, trim_zeros, unique, the set operations, extract, compress),
the positions are computed concretely with NumPy and the values are gathered from the traced
arrays, so derivatives still flow (under grad, where values are concrete); under jit they raise
ConcretizationError (unique takes `size=` like JAX's to stay traceable). NumPy's in-place
functions (put_along_axis, fill_diagonal) are functional with `inplace=False`, as in JAX; the
others (copyto, place, put, putmask) raise, naming the functional alternative."""
from __future__ import annotations

import builtins
import collections
import functools
import re

import numpy as _np

from ..core.trace import Tracer
from ..errors import ConcretizationError
from ..prims import indexing as _ix
from ..transforms.vmap import vmap as _vmap
from ..util import canonical_axis as _canonical_axis
from ._creation import _arr, asarray, result_type
from ._elementwise import (
    astype,
    conjugate,
    equal,
    floor_divide,
    imag,
    less,
    logical_not,
    multiply,
    not_equal,
    real,
    remainder,
    where,
)
from ._indexing import diag, take, take_along_axis
from ._queries import _concrete
from ._reductions import any, sum
from ._shapes import (
    broadcast_to,
    concatenate,
    expand_dims,
    flip,
    moveaxis,
    ravel,
    reshape,
    split,
    transpose,
)
from ._sorting import argsort, cumsum
from ._util import _dtype, _ndim, _reports_user_line, _shape, _size

# ---------------------------------------------------------------- r_ and c_


class _AxisConcatenator:
    """NumPy's index-expression concatenators: `r_[...]` joins along the first axis, `c_[...]`
    along the last with 1-D entries as columns. Slices become aranges (`a:b:nj`, a linspace),
    a leading string `'axis[,ndmin[,trans1d]]'` sets the layout, traced arrays are joined
    (differentiably)."""

    def __init__(self, axis=0, ndmin=1, trans1d=-1, name="r_"):
        self.axis, self.ndmin, self.trans1d, self.name = axis, ndmin, trans1d, name

    def __getitem__(self, key):
        items = key if isinstance(key, tuple) else (key,)
        axis, ndmin, trans1d = self.axis, self.ndmin, self.trans1d
        parts, weak = [], []
        for i, item in enumerate(items):
            if isinstance(item, str):
                if i != 0:
                    raise ValueError(f"{self.name}: a string directive must come first, got "
                                     f"{item!r} at position {i}")
                if item in ("r", "c"):
                    raise NotImplementedError(f"{self.name}: the {item!r} directive makes an "
                                              f"np.matrix, which funcgrad does not support")
                try:
                    fields = [int(f) for f in item.split(",")]
                except ValueError:
                    raise ValueError(f"{self.name}: unknown special directive {item!r}") \
                        from None
                if not 1 <= len(fields) <= 3:
                    raise ValueError(f"{self.name}: the directive {item!r} has more than "
                                     f"three fields")
                axis, ndmin, trans1d = (fields + [ndmin, trans1d][len(fields) - 1:])[:3]
                continue
            if isinstance(item, slice):
                part = _np.r_[item]          # NumPy's arange / linspace rules
                weak.append(part)
            elif isinstance(item, (bool, int, float, complex, _np.generic)):
                part = _np.asarray(item)
                weak.append(item)            # Python scalars stay weak, as in NumPy
            else:
                part = asarray(item)
                weak.append(part)
            parts.append(self._layout(part, ndmin, trans1d))
        if not parts:
            return _np.array([])
        dtype = result_type(*weak)
        parts = [astype(p, dtype) if _dtype(p) != dtype else p for p in parts]
        return concatenate(parts, axis=axis)

    @staticmethod
    def _layout(a, ndmin, trans1d):
        nd = _ndim(a)
        if nd >= ndmin:
            return a
        a = reshape(a, (1,) * (ndmin - nd) + _shape(a))   # ndmin prepends axes, like np.array
        if trans1d == -1 or nd == 0:
            return a
        # NumPy's trans1d: the array's own axes start at position trans1d (counted from the
        # end when negative) instead of at the end.
        k1, k2 = trans1d, ndmin - nd
        if k1 < 0:
            k1 += k2 + 1
        order = list(range(ndmin))
        return transpose(a, order[:k1] + order[k2:] + order[k1:k2])

    def __len__(self):
        return 0


r_ = _AxisConcatenator(0, 1, -1, "r_")
r_.__doc__ = """Join along the first axis by index expression, like np.r_ (traced arrays too).

>>> r_[_np.array([1.0, 2.0]), 0, 3:5]
array([1., 2., 0., 3., 4.])
"""
c_ = _AxisConcatenator(-1, 2, 0, "c_")
c_.__doc__ = """Join along the last axis, 1-D entries as columns, like np.c_.

>>> c_[_np.array([1.0, 2.0]), _np.array([3.0, 4.0])]
array([[1., 3.],
       [2., 4.]])
"""
__test__ = {"r_": r_.__doc__, "c_": c_.__doc__}   # doctest finds no examples on instances


# ---------------------------------------------------------------- splitting, joining, turning

def hsplit(ary, indices_or_sections):
    """Split along the second axis (the first for 1-D arrays).

    >>> [p.shape for p in hsplit(_np.ones((2, 4)), 2)]
    [(2, 2), (2, 2)]
    """
    ary = _arr(ary)
    if _ndim(ary) == 0:
        raise ValueError("hsplit only works on arrays of 1 or more dimensions")
    return split(ary, indices_or_sections, axis=1 if _ndim(ary) > 1 else 0)


def vsplit(ary, indices_or_sections):
    """Split along the first axis (arrays of 2 or more dimensions).

    >>> [p.shape for p in vsplit(_np.ones((4, 2)), [1])]
    [(1, 2), (3, 2)]
    """
    ary = _arr(ary)
    if _ndim(ary) < 2:
        raise ValueError("vsplit only works on arrays of 2 or more dimensions")
    return split(ary, indices_or_sections, axis=0)


def dsplit(ary, indices_or_sections):
    """Split along the third axis (arrays of 3 or more dimensions).

    >>> [p.shape for p in dsplit(_np.ones((1, 2, 4)), 2)]
    [(1, 2, 2), (1, 2, 2)]
    """
    ary = _arr(ary)
    if _ndim(ary) < 3:
        raise ValueError("dsplit only works on arrays of 3 or more dimensions")
    return split(ary, indices_or_sections, axis=2)


def rot90(m, k=1, axes=(0, 1)):
    """Rotate by 90 degrees `k` times in the plane of `axes` (a flip and a transpose).

    >>> rot90(_np.array([[1.0, 2.0], [3.0, 4.0]]))
    array([[2., 4.],
           [1., 3.]])
    """
    m = _arr(m)
    nd = _ndim(m)
    axes = tuple(axes)
    if len(axes) != 2:
        raise ValueError("rot90: len(axes) must be 2")
    a0, a1 = (_canonical_axis(ax, nd, "rot90") for ax in axes)
    if a0 == a1:
        raise ValueError("rot90: axes must be different")
    k = int(k) % 4
    if k == 0:
        return m
    if k == 2:
        return flip(flip(m, a0), a1)
    perm = list(range(nd))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    return transpose(flip(m, a1), perm) if k == 1 else flip(transpose(m, perm), a1)


def _block_depth(obj, where_="arrays"):
    """The nesting depth of the lists of `block` (all leaves at the same depth)."""
    if isinstance(obj, tuple):
        raise TypeError(f"block: {where_} is a tuple; only lists can be used to arrange "
                        f"blocks, and np.block does not allow implicit conversion from tuple")
    if not isinstance(obj, list):
        return 0
    if not obj:
        raise ValueError(f"block: {where_} is an empty list")
    depths = {_block_depth(o, f"{where_}[{i}]") for i, o in enumerate(obj)}
    if len(depths) > 1:
        raise ValueError(f"block: list depths are mismatched in {where_}")
    return depths.pop() + 1


def _block_leaves(obj):
    if isinstance(obj, list):
        for o in obj:
            yield from _block_leaves(o)
    else:
        yield obj


def block(arrays):
    """np.block: assemble an array from nested lists of blocks (innermost lists join along
    the last axis), traced.

    >>> block([[_np.eye(2), _np.zeros((2, 1))], [_np.ones((1, 3))]])
    array([[1., 0., 0.],
           [0., 1., 0.],
           [1., 1., 1.]])
    """
    depth = _block_depth(arrays)
    leaves = [asarray(x) for x in _block_leaves(arrays)]
    nd = builtins.max([depth] + [_ndim(x) for x in leaves])
    it = iter(leaves)

    def build(obj, level):
        if not isinstance(obj, list):
            x = next(it)
            return reshape(x, (1,) * (nd - _ndim(x)) + _shape(x))
        parts = [build(o, level + 1) for o in obj]
        return concatenate(parts, axis=level - depth) if len(parts) > 1 else parts[0]

    return build(arrays, 0)


def concat(arrays, /, axis=0, out=None, *, dtype=None, casting="same_kind"):
    """The array API's name for concatenate (NumPy 2).

    >>> concat([_np.ones(2), _np.zeros(1)])
    array([1., 1., 0.])
    """
    return concatenate(arrays, axis, out, dtype=dtype, casting=casting)


def unstack(x, /, *, axis=0):
    """Split along `axis` into a tuple of arrays with that axis removed (NumPy 2.1).

    >>> [u.shape for u in unstack(_np.ones((2, 3)), axis=1)]
    [(2,), (2,), (2,)]
    """
    x = _arr(x)
    if _ndim(x) == 0:
        raise ValueError("unstack: input must be at least 1-d")
    x = moveaxis(x, _canonical_axis(axis, _ndim(x), "unstack"), 0)
    return tuple(_ix.getitem(x, i) for i in range(_shape(x)[0]))


def rollaxis(a, axis, start=0):
    """np.rollaxis: move `axis` to just before position `start` (prefer moveaxis).

    >>> rollaxis(_np.ones((2, 3, 4)), 2).shape
    (4, 2, 3)
    """
    a = _arr(a)
    n = _ndim(a)
    axis = _canonical_axis(axis, n, "rollaxis")
    if start < 0:
        start += n
    if not 0 <= start <= n:
        raise ValueError(f"rollaxis: start {start} is out of bounds for an array of ndim {n} "
                         f"(it must be in [{-n}, {n}])")
    if axis < start:
        start -= 1
    if axis == start:
        return a
    order = [i for i in range(n) if i != axis]
    order.insert(start, axis)
    return transpose(a, order)


def resize(a, new_shape):
    """np.resize: the flattened array repeated (or cut) to fill `new_shape`, traced.

    >>> resize(_np.array([1.0, 2.0, 3.0]), (2, 2))
    array([[1., 2.],
           [3., 1.]])
    """
    a = _arr(a)
    shape = (new_shape,) if isinstance(new_shape, (int, _np.integer)) else tuple(new_shape)
    if builtins.any(int(d) < 0 for d in shape):
        raise ValueError("resize: all elements of `new_shape` must be non-negative")
    total, size = _size(shape), _size(_shape(a))
    flat = ravel(a)
    if size == 0 or total == 0:   # NumPy: zeros (nothing to repeat, or nothing to fill)
        return _np.zeros(shape, _dtype(a))
    return reshape(take(flat, _np.arange(total) % size), shape)


# ---------------------------------------------------------------- deleting and inserting

def _static_positions(obj, what):
    """Positions (ints, slices, lists, arrays; traced ones need concrete values)."""
    if isinstance(obj, Tracer):
        return _np.asarray(obj.concrete(f"{what} (the output's shape depends on the "
                                        f"positions)"))
    if isinstance(obj, (list, tuple)):
        return [_np.asarray(o.concrete(what)) if isinstance(o, Tracer) else o for o in obj]
    return obj


def delete(arr, obj, axis=None):
    """np.delete: the entries not at `obj` (ints, a slice, or a boolean mask) along `axis`
    (the flattened array when None), traced as a gather.

    >>> delete(_np.array([1.0, 2.0, 3.0]), 1)
    array([1., 3.])
    """
    arr = _arr(arr)
    if axis is None:
        arr, axis = ravel(arr), 0
    ax = _canonical_axis(axis, _ndim(arr), "delete")
    obj = _static_positions(obj, "delete()")
    keep = _np.delete(_np.arange(_shape(arr)[ax]), obj)
    return take(arr, keep, axis=ax)


def insert(arr, obj, values, axis=None):
    """np.insert: `values` inserted before the positions `obj` along `axis` (the flattened
    array when None), with NumPy's broadcasting of `values`; traced in both arguments.

    >>> insert(_np.array([1.0, 2.0, 3.0]), 1, 9.0)
    array([1., 9., 2., 3.])
    """
    arr, values = _arr(arr), asarray(values)
    obj = _static_positions(obj, "insert()")
    # NumPy places labels: +i+1 for arr's i-th flat entry, -j-1 for values' j-th flat entry;
    # the labelled result then says where each output entry comes from.
    arr_ids = _np.arange(1, _size(_shape(arr)) + 1).reshape(_shape(arr))
    val_ids = -_np.arange(1, _size(_shape(values)) + 1).reshape(_shape(values))
    ids = _np.insert(arr_ids, obj, val_ids, axis=axis)
    from_arr = ids > 0
    values = astype(values, _dtype(arr)) if _dtype(values) != _dtype(arr) else values
    flat_arr, flat_val = ravel(arr), ravel(values)
    got_arr = take(flat_arr, _np.where(from_arr, ids - 1, 0)) if _size(_shape(arr)) else None
    got_val = take(flat_val, _np.where(from_arr, 0, -ids - 1)) if _size(_shape(values)) else None
    if got_val is None:
        return got_arr if got_arr is not None else _np.zeros(ids.shape, _dtype(arr))
    if got_arr is None:
        return got_val
    return where(from_arr, got_arr, got_val)


def trim_zeros(filt, trim="fb", axis=None):
    """np.trim_zeros: strip leading ('f') and trailing ('b') zeros (along every axis, or
    `axis`). The result's shape depends on values: concrete values only (not under jit).

    >>> trim_zeros(_np.array([0.0, 1.0, 2.0, 0.0]))
    array([1., 2.])
    """
    filt = _arr(filt)
    v = _np.asarray(_concrete(filt, "trim_zeros() (its output shape depends on values)"))
    trim = trim.lower()
    if builtins.any(c not in "fb" for c in trim):
        raise ValueError(f"trim_zeros: unexpected character(s) in `trim`: {trim!r}")
    nd = v.ndim
    if nd == 0:
        raise ValueError("trim_zeros: the input must be at least 1-d")
    axes = range(nd) if axis is None else [_canonical_axis(a, nd, "trim_zeros")
                                           for a in _np.atleast_1d(axis)]
    where_nz = _np.nonzero(v)
    index = [slice(None)] * nd
    for ax in axes:
        if where_nz[ax].size == 0:
            start = stop = 0
        else:
            start = int(where_nz[ax].min()) if "f" in trim else 0
            stop = int(where_nz[ax].max()) + 1 if "b" in trim else v.shape[ax]
        index[ax] = slice(start, stop)
    return _ix.getitem(filt, tuple(index))


# ---------------------------------------------------------------- diagonals and scatters

def diagflat(v, k=0):
    """A 2-D array with the flattened `v` on its k-th diagonal.

    >>> diagflat(_np.array([[1.0, 2.0]]))
    array([[1., 0.],
           [0., 2.]])
    """
    return diag(ravel(_arr(v)), k)


def _in_place(name, alternative):
    return TypeError(f"{name} writes into its argument in place, which funcgrad does not "
                     f"trace (traced arrays are immutable); {alternative}")


def put_along_axis(arr, indices, values, axis, inplace=True, *, mode=None):
    """np.put_along_axis as a functional update: call it with `inplace=False` (as in JAX)
    and it returns the updated copy; NumPy's in-place form raises.

    >>> put_along_axis(_np.zeros((2, 2)), _np.array([[1], [0]]), 5.0, 1, inplace=False)
    array([[0., 5.],
           [5., 0.]])
    """
    if inplace:
        raise _in_place("put_along_axis", "call fnp.put_along_axis(..., inplace=False), which "
                        "returns the updated array, or use x.at[idx].set(values)")
    if mode not in (None, "promise_in_bounds"):
        raise NotImplementedError(f"put_along_axis: mode={mode!r} is not supported")
    arr, indices, values = _arr(arr), _arr(indices), asarray(values)
    shape = _shape(arr)
    if axis is None:
        arr, axis = ravel(arr), 0
    nd = _ndim(arr)
    ax = _canonical_axis(axis, nd, "put_along_axis")
    if _ndim(indices) != nd:
        raise ValueError(f"put_along_axis: `indices` and `arr` must have the same number of "
                         f"dimensions, got {_ndim(indices)} and {nd}")
    grids = []
    for d in range(nd):
        if d == ax:
            grids.append(indices)
        else:
            g = [1] * nd
            g[d] = _shape(arr)[d]
            grids.append(_np.arange(_shape(arr)[d]).reshape(g))
    target = _np.broadcast_shapes(*(_shape(g) for g in grids))
    values = astype(values, _dtype(arr)) if _dtype(values) != _dtype(arr) else values
    values = broadcast_to(values, target)
    out = _ix.scatter_set_p.bind(arr, values, *grids, spec=("a",) * nd)
    return reshape(out, shape)


def fill_diagonal(a, val, wrap=False, inplace=True):
    """np.fill_diagonal as a functional update: with `inplace=False` (as in JAX) it returns a
    copy of `a` whose main diagonal holds `val` (repeated as needed); the in-place form raises.

    >>> fill_diagonal(_np.zeros((2, 2)), 3.0, inplace=False)
    array([[3., 0.],
           [0., 3.]])
    """
    if inplace:
        raise _in_place("fill_diagonal", "call fnp.fill_diagonal(..., inplace=False), which "
                        "returns the updated array, or use x.at[i, i].set(val)")
    a, val = _arr(a), asarray(val)
    shape = _shape(a)
    if len(shape) < 2:
        raise ValueError("fill_diagonal: array must be at least 2-d")
    if len(shape) == 2:
        step = shape[1] + 1
        end = None if wrap else shape[1] * shape[1]
    else:
        if len(set(shape)) != 1:
            raise ValueError("fill_diagonal: all dimensions of input must be of equal length")
        step = 1 + int(_np.cumprod(shape[:-1]).sum())
        end = None
    idx = _np.arange(_size(shape))[:end:step]
    nv = _size(_shape(val))
    if nv == 0 or idx.size == 0:
        return a
    val = astype(val, _dtype(a)) if _dtype(val) != _dtype(a) else val
    vals = take(ravel(val), _np.arange(idx.size) % nv)
    return reshape(_ix.scatter_set_p.bind(ravel(a), vals, idx, spec=("a",)), shape)


# ---------------------------------------------------------------- index helpers

def indices(dimensions, dtype=int, sparse=False):
    """np.indices: index grids for a shape (concrete).

    >>> indices((2, 2))[1]
    array([[0, 1],
           [0, 1]])
    """
    return _np.indices(dimensions, dtype, sparse)


def ix_(*args):
    """np.ix_: open meshes from 1-D sequences (boolean ones become their indices; traced
    integer sequences stay traced).

    >>> [i.shape for i in ix_([0, 1], [2, 0, 1])]
    [(2, 1), (1, 3)]
    """
    n = len(args)
    out = []
    for k, seq in enumerate(args):
        if not isinstance(seq, Tracer):
            seq = _np.asarray(seq)
            if seq.size == 0:
                seq = seq.astype(_np.intp)
        if _ndim(seq) != 1:
            raise ValueError("ix_: cross index must be 1 dimensional")
        if _dtype(seq) == _np.bool_:
            seq = _np.nonzero(_np.asarray(_concrete(seq, "ix_() of a boolean mask")))[0]
        shape = [1] * n
        shape[k] = _shape(seq)[0]
        out.append(reshape(seq, shape))
    return tuple(out)


def unravel_index(indices, shape, order="C"):
    """np.unravel_index: flat indices to a tuple of coordinate arrays (traced indices are
    divided out; they are not checked to be in bounds).

    >>> unravel_index(5, (2, 3))
    (np.int64(1), np.int64(2))
    """
    if not isinstance(indices, Tracer):
        return _np.unravel_index(indices, shape, order)
    shape = (shape,) if isinstance(shape, (int, _np.integer)) else tuple(shape)
    if order not in ("C", "F"):
        raise ValueError("unravel_index: only 'C' or 'F' order is permitted")
    dims = list(enumerate(shape))
    out = [None] * len(shape)
    rest = indices
    for i, d in (reversed(dims) if order == "C" else dims):
        out[i], rest = remainder(rest, d), floor_divide(rest, d)
    return tuple(out)


def ravel_multi_index(multi_index, dims, mode="raise", order="C"):
    """np.ravel_multi_index: coordinate arrays to flat indices (traced coordinates are
    combined arithmetically, with mode 'clip' or 'wrap' applied; 'raise' checks nothing).

    >>> ravel_multi_index(([1, 0], [2, 1]), (2, 3))
    array([5, 1])
    """
    if not builtins.any(isinstance(i, Tracer) for i in multi_index):
        return _np.ravel_multi_index(multi_index, dims, mode, order)
    dims = tuple(int(d) for d in dims)
    if len(multi_index) != len(dims):
        raise ValueError(f"ravel_multi_index: parameter multi_index must be a sequence of "
                         f"length {len(dims)}")
    modes = (mode,) * len(dims) if isinstance(mode, str) else tuple(mode)
    strides = _np.cumprod((1,) + dims[::-1][:-1])[::-1] if order == "C" else \
        _np.cumprod((1,) + dims[:-1])
    total = None
    for i, d, s, md in zip(multi_index, dims, strides, modes):
        i = asarray(i)
        if md == "clip":
            i = where(less(i, 0), 0, where(less(i, d - 1), i, d - 1))
        elif md == "wrap":
            i = remainder(i, d)
        term = multiply(i, int(s))
        total = term if total is None else total + term
    return astype(total, _np.intp)


def tril_indices(n, k=0, m=None):
    """np.tril_indices: the indices of the lower triangle of an (n, m) array.

    >>> tril_indices(2)
    (array([0, 1, 1]), array([0, 0, 1]))
    """
    return _np.tril_indices(n, k, m)


def triu_indices(n, k=0, m=None):
    """np.triu_indices: the indices of the upper triangle of an (n, m) array.

    >>> triu_indices(2)
    (array([0, 0, 1]), array([0, 1, 1]))
    """
    return _np.triu_indices(n, k, m)


def _check_2d(arr, name):
    if _ndim(arr) != 2:
        raise ValueError(f"{name}: input array must be 2-d")
    return _shape(arr)


def tril_indices_from(arr, k=0):
    """The indices of the lower triangle of `arr` (only its shape is used).

    >>> tril_indices_from(_np.ones((2, 3)), 1)
    (array([0, 0, 1, 1, 1]), array([0, 1, 0, 1, 2]))
    """
    n, m = _check_2d(arr, "tril_indices_from")
    return _np.tril_indices(n, k, m)


def triu_indices_from(arr, k=0):
    """The indices of the upper triangle of `arr` (only its shape is used).

    >>> triu_indices_from(_np.ones((2, 2)))
    (array([0, 0, 1]), array([0, 1, 1]))
    """
    n, m = _check_2d(arr, "triu_indices_from")
    return _np.triu_indices(n, k, m)


def diag_indices(n, ndim=2):
    """np.diag_indices: the indices of the main diagonal of an n x ... x n array.

    >>> diag_indices(2)
    (array([0, 1]), array([0, 1]))
    """
    return _np.diag_indices(n, ndim)


def diag_indices_from(arr):
    """The indices of the main diagonal of `arr` (only its shape is used).

    >>> diag_indices_from(_np.ones((2, 2)))
    (array([0, 1]), array([0, 1]))
    """
    shape = _shape(arr)
    if len(shape) < 2:
        raise ValueError("diag_indices_from: input array must be at least 2-d")
    if len(set(shape)) != 1:
        raise ValueError("diag_indices_from: all dimensions of input must be of equal length")
    return _np.diag_indices(shape[0], len(shape))


def mask_indices(n, mask_func, k=0):
    """np.mask_indices: the indices where `mask_func(ones((n, n)), k)` is non-zero.

    >>> mask_indices(2, _np.triu)
    (array([0, 0, 1]), array([0, 1, 1]))
    """
    m = mask_func(_np.ones((n, n), int), k)
    return _np.nonzero(_np.asarray(_concrete(m, "mask_indices()")) != 0)


# ---------------------------------------------------------------- applying functions

def _map_rows(f, *xs):
    """f applied to each (x[i] for x in xs), all batched along axis 0: one trace through
    funcgrad's vmap; where `f` needs each example's value (`float(row[0])`, an `if`), a
    Python loop over the rows instead (values are concrete there unless under jit)."""
    if _shape(xs[0])[0] == 0:
        raise ValueError("cannot apply a function over an empty batch (its output shape is "
                         "unknown)")
    try:
        return _vmap(f)(*xs)
    except ConcretizationError:
        pass
    rows = [f(*(_ix.getitem(x, i) for x in xs)) for i in range(_shape(xs[0])[0])]
    if isinstance(rows[0], tuple):
        return tuple(_stack_rows([r[j] for r in rows]) for j in range(len(rows[0])))
    return _stack_rows(rows)


def _stack_rows(rows):
    rows = [asarray(r) for r in rows]
    dtype = result_type(*rows)
    return concatenate([expand_dims(astype(r, dtype) if _dtype(r) != dtype else r, 0)
                        for r in rows])


def apply_along_axis(func1d, axis, arr, *args, **kwargs):
    """np.apply_along_axis, traced: `func1d` is traced once, vectorised over the other axes
    with funcgrad's vmap; a `func1d` that needs each row's values (`float(r[0])`, an `if`)
    runs row by row instead.

    >>> apply_along_axis(lambda r: r[0] + r[-1], 1, _np.array([[1.0, 2.0], [3.0, 5.0]]))
    array([3., 8.])
    """
    arr = asarray(arr)
    nd = _ndim(arr)
    ax = _canonical_axis(axis, nd, "apply_along_axis")
    x = moveaxis(arr, ax, -1)
    lead = _shape(x)[:-1]
    rows = reshape(x, (-1, _shape(x)[-1]))
    out = _map_rows(lambda r: asarray(func1d(r, *args, **kwargs)), rows)
    res = _shape(out)[1:]
    out = reshape(out, lead + res)
    # the result's own axes go where `axis` was
    order = list(range(ax)) + list(range(len(lead), len(lead) + len(res))) + \
        list(range(ax, len(lead)))
    return transpose(out, order)


def apply_over_axes(func, a, axes):
    """np.apply_over_axes: `func(a, axis)` for each axis in turn, keeping the dimensions.

    >>> apply_over_axes(sum, _np.ones((2, 3)), [0, 1])
    array([[6.]])
    """
    val = asarray(a)
    n = _ndim(val)
    for axis in _np.atleast_1d(axes):
        ax = int(axis) + n if axis < 0 else int(axis)
        res = func(val, ax)
        if _ndim(res) == _ndim(val):
            val = res
        elif _ndim(res) == _ndim(val) - 1:
            val = expand_dims(res, ax)
        else:
            raise ValueError("apply_over_axes: function is not returning an array of the "
                             "correct shape")
    return val


_DIM = r"\w+"
_CORE = rf"\((?:{_DIM}(?:,{_DIM})*)?\)"
_SIGNATURE = re.compile(rf"^{_CORE}(?:,{_CORE})*->{_CORE}(?:,{_CORE})*$")


def _parse_signature(signature):
    sig = re.sub(r"\s+", "", signature)
    if not _SIGNATURE.match(sig):
        raise ValueError(f"vectorize: not a valid gufunc signature: {signature!r}")
    ins, outs = sig.split("->")
    parse = lambda side: [tuple(d for d in core[1:-1].split(",") if d)   # noqa: E731
                          for core in re.findall(_CORE, side)]
    return parse(ins), parse(outs)


class vectorize:
    """np.vectorize, traced: `pyfunc` is traced once on elements (or on core blocks, with a
    gufunc `signature=` like '(n),(n)->()') and vectorised with funcgrad's vmap; inputs are
    broadcast as NumPy does. `excluded` positions and names are passed as they are. A
    `pyfunc` that needs each element's value (an `if` on it) runs element by element instead.

    >>> vectorize(lambda a, b: a * b + 1)(_np.array([1.0, 2.0]), 3.0)
    array([4., 7.])
    >>> vectorize(lambda r: r.sum(), signature="(n)->()")(_np.ones((2, 3)))
    array([3., 3.])
    """

    def __init__(self, pyfunc=None, otypes=None, doc=None, excluded=None, cache=False,
                 signature=None):
        self.pyfunc, self.cache, self.signature = pyfunc, cache, signature
        self.otypes = list(otypes) if isinstance(otypes, (list, tuple)) else \
            list(otypes) if isinstance(otypes, str) else otypes
        self.excluded = set(excluded or ())
        self.__doc__ = doc if doc is not None else getattr(pyfunc, "__doc__", None)
        self._core = _parse_signature(signature) if signature is not None else None
        if pyfunc is not None:
            functools.update_wrapper(self, pyfunc, assigned=("__name__", "__qualname__"),
                                     updated=())

    def __call__(self, *args, **kwargs):
        if self.pyfunc is None:        # used as a decorator with arguments
            return vectorize(args[0], self.otypes, self.__doc__, self.excluded, self.cache,
                             self.signature)
        # the vectorised arguments, by position or name; the excluded ones are closed over
        keys = [i for i in range(len(args)) if i not in self.excluded] + \
            [k for k in kwargs if k not in self.excluded]
        vals = [asarray(args[k] if isinstance(k, int) else kwargs[k]) for k in keys]

        def call(*vs):
            pos, kw = list(args), dict(kwargs)
            for k, v in zip(keys, vs):
                if isinstance(k, int):
                    pos[k] = v
                else:
                    kw[k] = v
            return self.pyfunc(*pos, **kw)

        if self._core is None:
            core_ins, core_outs = [()] * len(vals), None
        else:
            core_ins, core_outs = self._core
            if len(core_ins) != len(vals):
                raise TypeError(f"vectorize: wrong number of positional arguments: expected "
                                f"{len(core_ins)}, got {len(vals)}")
        sizes: dict = {}
        loops = []
        for v, core in zip(vals, core_ins):
            shape = _shape(v)
            if len(shape) < len(core):
                raise ValueError(f"vectorize: input with shape {shape} has fewer dimensions "
                                 f"than its core dimensions {core} in signature "
                                 f"{self.signature!r}")
            for name, d in zip(core, shape[len(shape) - len(core):]):
                if sizes.setdefault(name, d) != d:
                    raise ValueError(f"vectorize: inconsistent size for core dimension "
                                     f"{name!r}: {d} vs {sizes[name]}")
            loops.append(shape[:len(shape) - len(core)])
        loop = _np.broadcast_shapes(*loops) if loops else ()
        flat = [reshape(broadcast_to(v, loop + _shape(v)[len(_shape(v)) - len(c):]),
                        (-1,) + _shape(v)[len(_shape(v)) - len(c):])
                for v, c in zip(vals, core_ins)]
        if not vals:
            return self._cast(call())
        out = _map_rows(lambda *vs: self._cast(call(*vs)), *flat)
        single = not isinstance(out, tuple)
        outs = [out] if single else list(out)
        if core_outs is not None and len(core_outs) != len(outs):
            raise ValueError(f"vectorize: the function returned {len(outs)} outputs, the "
                             f"signature {self.signature!r} says {len(core_outs)}")
        outs = [reshape(o, loop + _shape(o)[1:]) for o in outs]
        return outs[0] if single else tuple(outs)

    def _cast(self, out):
        if not self.otypes:
            return out if isinstance(out, tuple) else asarray(out)
        outs = out if isinstance(out, tuple) else (out,)
        outs = tuple(astype(asarray(o), t) for o, t in zip(outs, self.otypes))
        return outs if isinstance(out, tuple) else outs[0]


# ---------------------------------------------------------------- selecting

def extract(condition, arr):
    """np.extract: the entries of the flattened `arr` where `condition` is non-zero
    (`condition` needs concrete values; `arr` stays traced).

    >>> extract(_np.array([True, False, True]), _np.array([1.0, 2.0, 3.0]))
    array([1., 3.])
    """
    c = _np.asarray(_concrete(condition, "extract() (its output shape depends on the "
                                         "condition)"))
    return take(ravel(_arr(arr)), _np.flatnonzero(c))


def compress(condition, a, axis=None, out=None):
    """np.compress: the slices of `a` along `axis` where the 1-D `condition` is true
    (`condition` needs concrete values; `a` stays traced).

    >>> compress([False, True], _np.array([[1.0, 2.0], [3.0, 4.0]]), axis=0)
    array([[3., 4.]])
    """
    if out is not None:
        raise TypeError("compress(out=...) writes in place, which funcgrad does not trace; use "
                        "the returned value instead")
    c = _np.asarray(_concrete(condition, "compress() (its output shape depends on the "
                                         "condition)"))
    if c.ndim != 1:
        raise ValueError("compress: condition must be a 1-d array")
    a = _arr(a)
    if axis is None:
        a, axis = ravel(a), 0
    ax = _canonical_axis(axis, _ndim(a), "compress")
    if c.size > _shape(a)[ax]:
        raise IndexError(f"compress: condition has {c.size} entries but axis {ax} has size "
                         f"{_shape(a)[ax]}")
    return take(a, _np.flatnonzero(c), axis=ax)


def piecewise(x, condlist, funclist, *args, **kw):
    """np.piecewise, traced: where condition k holds, funclist[k] (a function of x, or a
    value); one function more than conditions is the "otherwise" case; elsewhere 0. Later
    conditions win where several hold, as in NumPy.

    Each function is applied to the whole of x (NumPy applies it to x[cond]), so it must be
    elementwise, as JAX's piecewise requires too; its values outside its condition are
    selected away (a function that is inf or nan there still gives finite values, but its
    derivative there can be nan: keep the functions finite on all of x, e.g. with
    fnp.where on the input).

    >>> piecewise(_np.array([-1.0, 0.5, 2.0]), [_np.array([True, False, False])],
    ...           [lambda v: -v, lambda v: v * 10.0])
    array([ 1.,  5., 20.])
    """
    x = asarray(x)
    if isinstance(condlist, (bool, _np.bool_)) or (
            not isinstance(condlist, (list, tuple)) and _ndim(condlist) == _ndim(x)) or (
            isinstance(condlist, (list, tuple)) and condlist
            and not isinstance(condlist[0], (list, tuple, _np.ndarray, Tracer))
            and _ndim(x) != 0):
        condlist = [condlist]
    conds = [broadcast_to(asarray(c, dtype=bool), _shape(x)) for c in condlist]
    n, n2 = len(funclist), len(conds)
    if n == n2 + 1:
        conds.append(logical_not(any(concatenate([expand_dims(c, 0) for c in conds]), axis=0))
                     if conds else _np.ones(_shape(x), bool))
    elif n != n2:
        raise ValueError(f"piecewise: with {n2} condition(s), funclist must have {n2} or "
                         f"{n2 + 1} entries, got {n}")
    out = _np.zeros(_shape(x), _dtype(x))
    for cond, f in zip(conds, funclist):
        value = f(x, *args, **kw) if callable(f) else f
        out = where(cond, astype(asarray(value), _dtype(x)), out)
    return out


def fromfunction(function, shape, *, dtype=float, like=None, **kwargs):
    """np.fromfunction: `function` called once on the index grids (of `dtype`); what it
    closes over may be traced.

    >>> fromfunction(lambda i, j: i * 10 + j, (2, 3), dtype=int)
    array([[ 0,  1,  2],
           [10, 11, 12]])
    """
    return function(*_np.indices(shape, dtype=dtype), **kwargs)


def choose(a, choices, out=None, mode="raise"):
    """np.choose: `choices[a[i]][i]`, everything broadcast; traced (a gather from the stacked
    choices, differentiable in them).

    >>> choose([1, 0], [_np.array([1.0, 2.0]), _np.array([3.0, 4.0])])
    array([3., 2.])
    """
    if out is not None:
        raise TypeError("choose(out=...) writes in place, which funcgrad does not trace; use "
                        "the returned value instead")
    a = asarray(a)
    choices = [asarray(c) for c in choices]
    n = len(choices)
    if n == 0:
        raise ValueError("choose: choices must not be empty")
    shape = _np.broadcast_shapes(_shape(a), *(_shape(c) for c in choices))
    dtype = result_type(*choices)
    stacked = concatenate([expand_dims(broadcast_to(astype(c, dtype) if _dtype(c) != dtype
                                                    else c, shape), 0) for c in choices])
    if mode == "clip":
        a = where(less(a, 0), 0, where(less(a, n - 1), a, n - 1))
    elif mode == "wrap":
        a = remainder(a, n)
    elif mode != "raise":
        raise ValueError(f"choose: mode must be 'raise', 'wrap' or 'clip', not {mode!r}")
    elif not isinstance(a, Tracer) and (_np.any(a < 0) or _np.any(a >= n)):
        raise ValueError("choose: invalid entry in choice array")
    idx = expand_dims(broadcast_to(astype(a, _np.intp), shape), 0)
    return _ix.getitem(take_along_axis(stacked, idx, 0), 0)


def partition(a, kth, axis=-1, kind="introselect", order=None):
    """np.partition, traced as a full sort: the k-th entries are NumPy's, everything before
    them is no larger and everything after no smaller (the arrangement within each side is
    sorted, where NumPy's is unspecified); the gradient follows each entry, as for sort.

    >>> partition(_np.array([3.0, 1.0, 2.0]), 1)[1]
    np.float64(2.0)
    """
    a = _arr(a)
    if axis is None:
        a, axis = ravel(a), 0
    _check_kth(kth, _shape(a)[_canonical_axis(axis, _ndim(a), "partition")], "partition")
    return take_along_axis(a, argsort(a, axis=axis), axis)


def argpartition(a, kth, axis=-1, kind="introselect", order=None):
    """np.argpartition, as a stable argsort (see partition).

    >>> argpartition(_np.array([3.0, 1.0, 2.0]), 0)[0]
    np.int64(1)
    """
    a = _arr(a)
    if axis is None:
        a, axis = ravel(a), 0
    _check_kth(kth, _shape(a)[_canonical_axis(axis, _ndim(a), "argpartition")], "argpartition")
    return argsort(a, axis=axis)


def _check_kth(kth, n, name):
    for k in _np.atleast_1d(_np.asarray(_concrete(kth, name))):
        if not -n <= int(k) < n:
            raise ValueError(f"{name}: kth(={int(k)}) out of bounds ({n})")


def lexsort(keys, axis=-1):
    """np.lexsort: the indirect stable sort by several keys, the last one primary (traced as
    a chain of stable argsorts).

    >>> lexsort(([1.0, 0.0, 2.0], [0.0, 0.0, 1.0]))
    array([1, 0, 2])
    """
    keys = [asarray(k) for k in keys] if isinstance(keys, (list, tuple)) else \
        [keys[i] for i in range(_shape(keys)[0])]
    if not keys:
        raise TypeError("lexsort: need sequence of keys with len > 0")
    shape = _np.broadcast_shapes(*(_shape(k) for k in keys))
    keys = [broadcast_to(k, shape) for k in keys]
    ax = _canonical_axis(axis, len(shape), "lexsort")
    perm = argsort(keys[0], axis=ax)
    for k in keys[1:]:
        perm = take_along_axis(perm, argsort(take_along_axis(k, perm, ax), axis=ax), ax)
    return perm


def sort_complex(a):
    """np.sort_complex: sort by real part, then imaginary part; the result is complex.

    >>> sort_complex(_np.array([2.0, 1.0]))
    array([1.+0.j, 2.+0.j])
    """
    a = _arr(a)
    dt = _np.dtype(_dtype(a))
    # NumPy's choice: complex64 for the small integers, complex128 otherwise (float32 too)
    cdt = dt if dt.kind == "c" else _np.dtype(_np.complex64 if dt.char in "bhBH" else
                                               _np.complex128)
    if dt.kind == "c":
        perm = lexsort([imag(a), real(a)], axis=-1)
    else:
        perm = argsort(a, axis=-1)
    return astype(take_along_axis(a, perm, _ndim(a) - 1), cdt)


# ---------------------------------------------------------------- unique and set operations

_UniqueAllResult = collections.namedtuple(
    "UniqueAllResult", ["values", "indices", "inverse_indices", "counts"])
_UniqueCountsResult = collections.namedtuple("UniqueCountsResult", ["values", "counts"])
_UniqueInverseResult = collections.namedtuple("UniqueInverseResult",
                                             ["values", "inverse_indices"])


def _unique_sized(ar, size, fill_value, return_index, return_inverse, return_counts):
    """unique(size=...) traceable: sort, mark the first of each run, scatter the marked to
    their rank (the others go to a slot past the end, which is cut off)."""
    shape = _shape(ar)
    flat = ravel(ar)
    n = _shape(flat)[0]
    perm = argsort(flat)
    s = _ix.getitem(flat, perm)
    first = concatenate([_np.ones(1, bool), not_equal(_ix.slice_axis(s, 0, 1, n),
                                                      _ix.slice_axis(s, 0, 0, n - 1))])
    rank = cumsum(astype(first, _np.intp)) - 1          # each sorted entry's unique number
    slot = where(first & less(rank, size), rank, size)
    fill = _ix.getitem(s, 0) if fill_value is None else fill_value
    base = broadcast_to(astype(asarray(fill), _dtype(ar)), (size + 1,))
    values = _ix.slice_axis(_ix.scatter_set_p.bind(base, s, slot, spec=("a",)), 0, 0, size)
    out = [values]
    if return_index:
        idx = _ix.scatter_set_p.bind(_np.zeros(size + 1, _np.intp), perm, slot, spec=("a",))
        out.append(_ix.slice_axis(idx, 0, 0, size))
    if return_inverse:
        inv = _ix.scatter_set_p.bind(_np.zeros(n, _np.intp), rank, perm, spec=("a",))
        out.append(reshape(inv, shape))
    if return_counts:
        counts = _ix.scatter_add_p.bind(_np.zeros(size + 1, _np.intp),
                                        _np.ones(n, _np.intp), where(less(rank, size), rank,
                                                                     size), spec=("a",))
        out.append(_ix.slice_axis(counts, 0, 0, size))
    return out[0] if len(out) == 1 else tuple(out)


def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None, *,
           equal_nan=True, sorted=True, size=None, fill_value=None):
    """np.unique. Its output's shape depends on values, so it needs concrete ones (under grad,
    not jit); the values are gathered from `ar`, so they carry derivatives (each to the first
    occurrence). With `size=` (as in JAX; flattened input only) it traces under jit too: the
    first `size` unique values, padded with `fill_value` (default: the smallest value).

    >>> unique(_np.array([3.0, 1.0, 3.0]))
    array([1., 3.])
    >>> unique(_np.array([3.0, 1.0, 3.0]), size=3, fill_value=0.0)
    array([1., 3., 0.])
    """
    ar = _arr(ar)
    if size is not None:
        if axis is not None:
            raise NotImplementedError("unique(size=...) supports only axis=None")
        return _unique_sized(ar, int(size), fill_value, return_index, return_inverse,
                             return_counts)
    v = _np.asarray(_concrete(ar, "unique() (its output shape depends on values; pass size= "
                                  "to trace it)"))
    res = _np.unique(v, return_index=True, return_inverse=return_inverse,
                     return_counts=return_counts, axis=axis, equal_nan=equal_nan)
    index = res[1]
    values = take(ravel(ar), index) if axis is None else take(ar, index, axis=axis)
    out = [values] + ([index] if return_index else []) + list(res[2:])
    return out[0] if len(out) == 1 else tuple(out)


def unique_values(x):
    """np.unique_values: the unique values (concrete values; see unique).

    >>> unique_values(_np.array([2.0, 1.0, 2.0]))
    array([1., 2.])
    """
    return unique(x)


def unique_counts(x):
    """np.unique_counts: (values, counts) (concrete values; see unique).

    >>> unique_counts(_np.array([2.0, 1.0, 2.0])).counts
    array([1, 2])
    """
    return _UniqueCountsResult(*unique(x, return_counts=True))


def unique_inverse(x):
    """np.unique_inverse: (values, inverse_indices) shaped like x (concrete values).

    >>> unique_inverse(_np.array([2.0, 1.0, 2.0])).inverse_indices
    array([1, 0, 1])
    """
    values, inverse = unique(x, return_inverse=True)
    return _UniqueInverseResult(values, _np.reshape(inverse, _shape(x)))


def unique_all(x):
    """np.unique_all: (values, indices, inverse_indices, counts) (concrete values).

    >>> unique_all(_np.array([2.0, 1.0, 2.0])).indices
    array([1, 0])
    """
    values, index, inverse, counts = unique(x, return_index=True, return_inverse=True,
                                            return_counts=True)
    return _UniqueAllResult(values, index, _np.reshape(inverse, _shape(x)), counts)


def isin(element, test_elements, assume_unique=False, invert=False, *, kind=None):
    """np.isin, traced (each element compared with every test element).

    >>> isin(_np.array([1.0, 2.0]), [2.0, 3.0])
    array([False,  True])
    """
    element, test = asarray(element), ravel(asarray(test_elements))
    hits = any(equal(expand_dims(element, -1), test), axis=-1)
    return ~hits if invert else hits


def _flat_concrete(x, name):
    x = ravel(_arr(x))
    return x, _np.asarray(_concrete(x, f"{name}() (its output shape depends on values)"))


def union1d(ar1, ar2):
    """np.union1d: the sorted unique values of both (concrete values; differentiable).

    >>> union1d([1.0, 3.0], [2.0, 1.0])
    array([1., 2., 3.])
    """
    (x1, _), (x2, _) = _flat_concrete(ar1, "union1d"), _flat_concrete(ar2, "union1d")
    return unique(concatenate([x1, x2]))


def intersect1d(ar1, ar2, assume_unique=False, return_indices=False):
    """np.intersect1d: the sorted values in both (concrete values; the values come from
    `ar1`).

    >>> intersect1d([1.0, 3.0, 4.0], [3.0, 1.0])
    array([1., 3.])
    """
    x1, v1 = _flat_concrete(ar1, "intersect1d")
    x2, v2 = _flat_concrete(ar2, "intersect1d")
    _, i1, i2 = _np.intersect1d(v1, v2, assume_unique, return_indices=True)
    dtype = result_type(x1, x2)
    values = take(x1, i1)
    values = astype(values, dtype) if _dtype(values) != dtype else values
    return (values, i1, i2) if return_indices else values


def setdiff1d(ar1, ar2, assume_unique=False):
    """np.setdiff1d: the values of `ar1` not in `ar2` (concrete values; differentiable).

    >>> setdiff1d([3.0, 1.0, 2.0], [2.0])
    array([1., 3.])
    """
    x1, v1 = _flat_concrete(ar1, "setdiff1d")
    _, v2 = _flat_concrete(ar2, "setdiff1d")
    if assume_unique:
        idx = _np.arange(v1.size)
    else:
        _, idx = _np.unique(v1, return_index=True)
    keep = idx[~_np.isin(v1[idx], v2)]
    return take(x1, keep)


def setxor1d(ar1, ar2, assume_unique=False):
    """np.setxor1d: the sorted values in exactly one of the two (concrete values).

    >>> setxor1d([1.0, 2.0], [2.0, 3.0])
    array([1., 3.])
    """
    x1, v1 = _flat_concrete(ar1, "setxor1d")
    x2, v2 = _flat_concrete(ar2, "setxor1d")
    if not assume_unique:
        v1, i1 = _np.unique(v1, return_index=True)
        v2, i2 = _np.unique(v2, return_index=True)
        x1, x2 = take(x1, i1), take(x2, i2)
    both = concatenate([x1, x2])
    _, idx, counts = _np.unique(_np.concatenate([v1, v2]), return_index=True,
                                return_counts=True)
    return take(both, idx[counts == 1])


# ---------------------------------------------------------------- products

def matvec(x1, x2, /):
    """The matrix-vector product gufunc (NumPy 2.2): (..., m, n), (..., n) -> (..., m).

    >>> matvec(_np.eye(2), _np.array([1.0, 2.0]))
    array([1., 2.])
    """
    x1, x2 = _arr(x1), _arr(x2)
    if _ndim(x1) < 2 or _ndim(x2) < 1:
        raise ValueError("matvec: the first argument must be at least 2-d, the second 1-d")
    if _shape(x1)[-1] != _shape(x2)[-1]:
        raise ValueError(f"matvec: core dimension mismatch: {_shape(x1)} and {_shape(x2)}")
    return sum(multiply(x1, expand_dims(x2, -2)), axis=-1)


def vecmat(x1, x2, /):
    """The vector-matrix product gufunc (NumPy 2.2), conjugating the vector:
    (..., n), (..., n, m) -> (..., m).

    >>> vecmat(_np.array([1.0, 2.0]), _np.eye(2))
    array([1., 2.])
    """
    x1, x2 = _arr(x1), _arr(x2)
    if _ndim(x1) < 1 or _ndim(x2) < 2:
        raise ValueError("vecmat: the first argument must be at least 1-d, the second 2-d")
    if _shape(x1)[-1] != _shape(x2)[-2]:
        raise ValueError(f"vecmat: core dimension mismatch: {_shape(x1)} and {_shape(x2)}")
    return sum(multiply(expand_dims(conjugate(x1), -1), x2), axis=-2)


# ---------------------------------------------------------------- predicates

def array_equiv(a1, a2):
    """np.array_equiv: equal after broadcasting (concrete values; a Python bool).

    >>> array_equiv(_np.ones((2, 2)), [1.0, 1.0])
    True
    """
    return bool(_np.array_equiv(_concrete(a1, "array_equiv"), _concrete(a2, "array_equiv")))


def iscomplex(x):
    """np.iscomplex: whether each entry has a non-zero imaginary part (traced).

    >>> iscomplex(_np.array([1.0 + 1.0j, 2.0]))
    array([ True, False])
    """
    return not_equal(imag(asarray(x)), 0)


def isreal(x):
    """np.isreal: whether each entry's imaginary part is zero (traced).

    >>> isreal(_np.array([1.0 + 1.0j, 2.0]))
    array([False,  True])
    """
    return equal(imag(asarray(x)), 0)


def isscalar(element):
    """np.isscalar: True for Python and NumPy scalars; False for arrays, traced ones too.

    >>> isscalar(3.0), isscalar(_np.ones(1))
    (True, False)
    """
    return False if isinstance(element, Tracer) else _np.isscalar(element)


def iterable(y):
    """np.iterable: whether `y` can be iterated (a traced value if it has an axis).

    >>> iterable(_np.ones(2)), iterable(1.0)
    (True, False)
    """
    return _ndim(y) > 0 if isinstance(y, Tracer) else _np.iterable(y)


def shares_memory(a, b, max_work=None):
    """np.shares_memory; False when either is traced (traced values are immutable).

    >>> x = _np.ones(3); shares_memory(x, x[1:])
    True
    """
    if isinstance(a, Tracer) or isinstance(b, Tracer):
        return False
    return _np.shares_memory(a, b, max_work)


def may_share_memory(a, b, max_work=None):
    """np.may_share_memory; False when either is traced.

    >>> may_share_memory(_np.ones(2), _np.ones(2))
    False
    """
    if isinstance(a, Tracer) or isinstance(b, Tracer):
        return False
    return _np.may_share_memory(a, b, max_work)


def broadcast_shapes(*args):
    """np.broadcast_shapes: the shape that arrays of these shapes broadcast to.

    >>> broadcast_shapes((2, 1), (3,))
    (2, 3)
    """
    return _np.broadcast_shapes(*args)


# ---------------------------------------------------------------- in-place functions (refused)

def copyto(dst, src, casting="same_kind", where=None):
    """np.copyto writes into `dst` in place: refused; use fnp.where(where, src, dst) (or
    broadcast_to/astype) and the returned value.

    >>> copyto(_np.zeros(2), 1.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    TypeError: copyto writes into its argument in place, ...
    """
    raise _in_place("copyto", "use dst = fnp.where(mask, src, dst) (or fnp.broadcast_to(src, "
                    "dst.shape).astype(dst.dtype)) instead")


def place(arr, mask, vals):
    """np.place writes in place: refused; use fnp.where or x.at[fnp.nonzero(mask)].set(...).

    >>> place(_np.zeros(2), [True, False], 1.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    TypeError: place writes into its argument in place, ...
    """
    raise _in_place("place", "use arr = arr.at[fnp.nonzero(mask)].set(vals) (vals in order) "
                    "or fnp.where(mask, vals, arr) instead")


def put(a, ind, v, mode="raise"):
    """np.put writes in place: refused; use a.ravel().at[ind].set(v).reshape(a.shape).

    >>> put(_np.zeros(2), 0, 1.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    TypeError: put writes into its argument in place, ...
    """
    raise _in_place("put", "use a = a.ravel().at[ind].set(v).reshape(a.shape) instead")


def putmask(a, mask, values):
    """np.putmask writes in place: refused; use fnp.where(mask, values, a).

    >>> putmask(_np.zeros(2), [True, False], 1.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    TypeError: putmask writes into its argument in place, ...
    """
    raise _in_place("putmask", "use a = fnp.where(mask, values, a) instead (values broadcast "
                    "to a's shape)")


__all__ = _reports_user_line(globals()) + ["r_", "c_"]
