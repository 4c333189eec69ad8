"""Indexing: gather (NumPy basic and advanced indexing) and its transposes, scatter-add/set,
and concatenate (whose transpose is slicing).

An index is split into a static `spec` (ints, slices as (start, stop, step), None, and "a"
placeholders) and the integer index arrays, which are ordinary (possibly traced) inputs.
"""
from __future__ import annotations

import numpy as np

from ..core.ir import is_undefined
from ..core.primitive import Primitive, free
from ..core.trace import Tracer
from ..core.types import ArrayType, is_float, promote
from ..errors import ConcretizationError
from .shape import aval_of, batch_size, bdim_to, move_axis, reshape, shape_of, zeros


def parse_index(idx, shape: tuple) -> tuple[tuple, list]:
    """Python index -> (static spec, index arrays). Ellipsis is expanded against `shape`."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    items = []
    for it in idx:
        if isinstance(it, list):
            it = np.asarray(it)
        if isinstance(it, Tracer) and it.dtype == np.bool_ or (
                isinstance(it, np.ndarray) and it.dtype == np.bool_):
            try:
                mask = it.concrete("boolean mask indexing") if isinstance(it, Tracer) else it
            except ConcretizationError:
                raise ConcretizationError(
                    "boolean mask indexing x[mask] makes a shape that depends on values, which "
                    "is not allowed under transformations that trace abstractly; use "
                    "fnp.where(mask, x, 0) instead") from None
            items.extend(np.nonzero(np.asarray(mask)))
            continue
        items.append(it)
    consumed = sum(1 for it in items if it is not None and it is not Ellipsis)
    if sum(1 for it in items if it is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if consumed > len(shape):
        raise IndexError(f"too many indices for an array of shape {shape}: "
                         f"{consumed} were indexed")
    spec, arrays = [], []
    for it in items:
        if it is Ellipsis:
            spec.extend([(None, None, None)] * (len(shape) - consumed))
        elif it is None:
            spec.append(None)
        elif isinstance(it, slice):
            spec.append(tuple(_static_int(v) for v in (it.start, it.stop, it.step)))
        elif isinstance(it, (int, np.integer)) and not isinstance(it, (bool, np.bool_)):
            spec.append(int(it))
        elif isinstance(it, (Tracer, np.ndarray)):
            if it.dtype.kind not in "iu":
                raise IndexError(f"arrays used as indices must be of integer type, not "
                                 f"{it.dtype}")
            spec.append("a")
            arrays.append(it)
        else:
            raise IndexError(f"funcgrad indexing does not support index {it!r} of type "
                             f"{type(it).__name__}")
    return tuple(spec), arrays


def _static_int(v):
    if v is None:
        return None
    if isinstance(v, Tracer):
        v = v.concrete("a slice bound")
    return int(v)


def build_index(spec: tuple, arrays) -> tuple:
    it = iter(arrays)
    out = []
    for s in spec:
        if s == "a":
            out.append(next(it))
        elif isinstance(s, tuple):
            out.append(slice(*s))
        else:
            out.append(s)
    return tuple(out)


def _getitem_impl(x, *arrays, spec):
    return np.asarray(x)[build_index(spec, arrays)]


def _getitem_type(x: ArrayType, *arrays: ArrayType, spec):
    dummy = np.broadcast_to(np.zeros((), x.dtype), x.shape)
    try:
        out = dummy[build_index(spec, [np.zeros(a.shape, np.intp) for a in arrays])]
    except IndexError as e:
        raise ValueError(f"getitem: index {_spec_str(spec)} is invalid for an array of shape "
                         f"{x.shape}: {e}") from None
    return ArrayType(np.shape(out), x.dtype)


def _spec_str(spec):
    return "[" + ", ".join(":" if s == (None, None, None) else
                           "array" if s == "a" else
                           ":".join("" if v is None else str(v) for v in s) if isinstance(s, tuple)
                           else str(s) for s in spec) + "]"


def _getitem_jvp(primals, tangents, *, spec):
    x, *arrays = primals
    out = getitem_p.bind(x, *arrays, spec=spec)
    t = tangents[0]
    return out, (None if t is None or not is_float(out.dtype)
                 else getitem_p.bind(t, *arrays, spec=spec))


def _getitem_transpose(ct, x, *arrays, spec):
    return [scatter_add_p.bind(zeros(x.aval), ct, *arrays, spec=spec)] + [None] * len(arrays)


def _has_index_arrays(*, spec) -> bool:
    """Only index arrays can be out of bounds when the code runs: a static index is checked by
    the shape rule while tracing."""
    return "a" in spec


# Basic indexing gives a view (not fresh); index arrays can be out of bounds (checks_values).
getitem_p = Primitive("getitem", _getitem_impl, _getitem_type, jvp=_getitem_jvp,
                      transpose=_getitem_transpose, linear=True, cost=free,
                      checks_values=_has_index_arrays)


def _scatter_type(name):
    def rule(x: ArrayType, y: ArrayType, *arrays: ArrayType, spec):
        target = _getitem_type(x, *arrays, spec=spec)
        try:
            np.broadcast_shapes(y.shape, target.shape)
            if len(np.broadcast_shapes(y.shape, target.shape)) > len(target.shape) or \
                    np.broadcast_shapes(y.shape, target.shape) != target.shape:
                raise ValueError
        except ValueError:
            raise ValueError(f"{name}: values of shape {y.shape} do not fit the indexed region "
                             f"of shape {target.shape}") from None
        return x.strong()
    return rule


def _scatter_add_impl(x, y, *arrays, spec):
    out = np.array(x, copy=True)
    index = build_index(spec, arrays)
    if arrays:
        # The values are broadcast to the indexed region first: np.add.at with values of a
        # lower rank that it has to broadcast itself reads garbage (NumPy 2.4.6).
        target = np.broadcast_to(np.zeros((), out.dtype), out.shape)[index].shape
        np.add.at(out, index, np.broadcast_to(y, target))
    else:
        out[index] += y
    return out


def _scatter_set_impl(x, y, *arrays, spec):
    out = np.array(x, copy=True)
    out[build_index(spec, arrays)] = y
    return out


def _scatter_jvp(prim):
    def jvp(primals, tangents, *, spec):
        x, y, *arrays = primals
        out = prim.bind(x, y, *arrays, spec=spec)
        tx, ty = tangents[:2]
        if not is_float(out.dtype):
            return out, None
        tx = zeros(aval_of(x)) if tx is None else tx
        ty = zeros(aval_of(y)) if ty is None else ty
        return out, prim.bind(tx, ty, *arrays, spec=spec)
    return jvp


def _scatter_add_transpose(ct, x, y, *arrays, spec):
    return ([ct if is_undefined(x) else None,
             getitem_p.bind(ct, *arrays, spec=spec) if is_undefined(y) else None]
            + [None] * len(arrays))


def _scatter_set_transpose(ct, x, y, *arrays, spec):
    return ([scatter_set_p.bind(ct, 0.0, *arrays, spec=spec) if is_undefined(x) else None,
             getitem_p.bind(ct, *arrays, spec=spec) if is_undefined(y) else None]
            + [None] * len(arrays))


scatter_add_p = Primitive("scatter_add", _scatter_add_impl, _scatter_type("scatter_add"),
                          transpose=_scatter_add_transpose, linear=True,
                          cost=lambda x, y, *arrays, spec: y.size,   # one addition per update
                          fresh=True, checks_values=_has_index_arrays)
scatter_add_p.jvp = _scatter_jvp(scatter_add_p)


def native_index(k, spec) -> str:
    """A static index (integers and slices) as kernel code."""
    parts = []
    for s in spec:
        if isinstance(s, int):
            parts.append(str(s))
        elif isinstance(s, tuple) and len(s) == 3:
            parts.append(":".join("" if v is None else str(v) for v in s))
        else:
            raise k.Unsupported("an index with arrays or new axes")
    return ", ".join(parts) if parts else "()"


def _getitem_native(k, args, eqn):
    if len(args) != 1:
        raise k.Unsupported("indexing with arrays")
    if eqn.inputs[0].aval.ndim == 0:
        return args[0]
    return f"{k.materialize(args[0])}[{native_index(k, eqn.params['spec'])}]"


def _scatter_native(op):
    def rule(k, args, eqn):
        if len(args) != 2 or eqn.inputs[0].aval.ndim == 0:
            raise k.Unsupported("a scatter with index arrays")
        x_aval, y_aval = eqn.inputs[0].aval, eqn.inputs[1].aval
        index = native_index(k, eqn.params["spec"])
        out = k.tmp("u")
        k.line(f"{out} = np.copy({args[0]})")
        k.line(f"{out}[{index}] {op} {k.cast(args[1], y_aval, x_aval.dtype)}")
        return out
    return rule


getitem_p.native = _getitem_native
scatter_add_p.native = _scatter_native("+=")
scatter_set_p = Primitive("scatter_set", _scatter_set_impl, _scatter_type("scatter_set"),
                          transpose=_scatter_set_transpose, linear=True, cost=free, fresh=True,
                          checks_values=_has_index_arrays)
scatter_set_p.jvp = _scatter_jvp(scatter_set_p)
scatter_set_p.native = _scatter_native("=")


def getitem(x, idx):
    spec, arrays = parse_index(idx, x.shape if hasattr(x, "shape") else np.shape(x))
    return getitem_p.bind(x, *arrays, spec=spec)


def slice_axis(x, axis: int, start: int, stop: int):
    spec = tuple((None, None, None) if i != axis else (start, stop, None)
                 for i in range(len(x.shape)))
    return getitem_p.bind(x, spec=spec)


def take_along_axis(x, idx, axis: int):
    """NumPy's take_along_axis, as one gather with broadcast index grids."""
    shape = x.shape
    nd = len(shape)
    arrays = []
    for d in range(nd):
        if d == axis:
            arrays.append(idx)
        else:
            grid = [1] * nd
            grid[d] = shape[d]
            arrays.append(np.arange(shape[d]).reshape(grid))
    return getitem_p.bind(x, *arrays, spec=("a",) * nd)



# --- batching rules ----------------------------------------------------------------------
# A batched gather or scatter stays one gather or scatter on the batched arrays. Without index
# arrays, a full slice over the batch axis is prepended. With them, batched index arrays get
# their batch axis first, and a batched `x` gets an arange over its batch axis as one more
# index array, placed just before the first advanced entry so that NumPy lays out the result
# as it would per example, with the batch axis first among the index arrays' axes.


def _unbatchedshape_of(x, d) -> tuple:
    return tuple(s for i, s in enumerate(shape_of(x)) if i != d)


def _advanced_position(spec: tuple) -> int:
    """Where NumPy puts the index arrays' axes in the result: in place of the advanced entries
    (arrays and, alongside them, ints) when these are adjacent in the index, else first."""
    pos = [i for i, s in enumerate(spec) if s == "a" or isinstance(s, int)]
    return pos[0] if pos == list(range(pos[0], pos[-1] + 1)) else 0


def _batch_index(x, dx, arrays, adims, spec, n):
    """-> (x, arrays, spec, x_dim, out_dim): one index on the batched arrays, the batch axis of
    the new `x` and that of the indexed result."""
    if not arrays:
        return move_axis(x, dx, 0), [], ((None, None, None),) + spec, 0, 0
    rank = len(np.broadcast_shapes(*(_unbatchedshape_of(a, d) for a, d in zip(arrays, adims))))
    out_arrays = []
    for a, d in zip(arrays, adims):
        if d is not None:
            a = move_axis(a, d, 0)
            shape = a.shape
            a = reshape(a, (shape[0],) + (1,) * (rank + 1 - len(shape)) + shape[1:])
        out_arrays.append(a)
    k = next(i for i, s in enumerate(spec) if s == "a" or isinstance(s, int))
    x_dim = None
    if dx is not None:
        x_dim = sum(1 for s in spec[:k] if isinstance(s, tuple))  # x axes indexed before k
        x = move_axis(x, dx, x_dim)
        spec = spec[:k] + ("a",) + spec[k:]
        out_arrays.insert(0, np.arange(n).reshape((n,) + (1,) * rank))
    return x, out_arrays, spec, x_dim, _advanced_position(spec)


def _getitem_batch(vals, dims, *, spec):
    x, arrays, spec, _, out_dim = _batch_index(vals[0], dims[0], list(vals[1:]), dims[1:],
                                               spec, batch_size(vals, dims))
    return getitem_p.bind(x, *arrays, spec=spec), out_dim


def _batch_scatter(prim):
    def rule(vals, dims, *, spec):
        n = batch_size(vals, dims)
        (x, y, *arrays), (dx, dy, *adims) = vals, dims
        # The result differs per example whenever anything is batched, so `x` must be.
        x, dx = bdim_to(x, dx, 0, n), 0
        ex_arrays = [ArrayType(_unbatchedshape_of(a, d), np.intp) for a, d in zip(arrays, adims)]
        ex_x = ArrayType(_unbatchedshape_of(x, dx), x.dtype)
        target = _getitem_type(ex_x, *ex_arrays, spec=spec).shape
        x, arrays, spec, x_dim, q = _batch_index(x, dx, arrays, adims, spec, n)
        # y takes the layout of the indexed region: full rank, batch axis (or 1) at q.
        if dy is not None:
            y = move_axis(y, dy, 0)
            rest = y.shape[1:]
            y = move_axis(reshape(y, (n,) + (1,) * (len(target) - len(rest)) + rest), 0, q)
        elif shape_of(y):
            full = (1,) * (len(target) - len(shape_of(y))) + tuple(shape_of(y))
            y = reshape(y, full[:q] + (1,) + full[q:])
        return prim.bind(x, y, *arrays, spec=spec), x_dim
    return rule


getitem_p.batch = _getitem_batch
scatter_add_p.batch = _batch_scatter(scatter_add_p)
scatter_set_p.batch = _batch_scatter(scatter_set_p)


# --- concatenate: its transpose slices the cotangent ----------------------------------------

def _concat_type(*xs: ArrayType, axis):
    if not xs:
        raise ValueError("concatenate: need at least one array to concatenate")
    nd = xs[0].ndim
    if nd == 0:
        raise ValueError("concatenate: zero-dimensional arrays cannot be concatenated")
    if not 0 <= axis < nd:
        raise ValueError(f"concatenate: axis {axis} is out of bounds for arrays of ndim {nd}")
    for x in xs:
        if x.ndim != nd or any(a != b for i, (a, b) in enumerate(zip(x.shape, xs[0].shape))
                               if i != axis):
            shapes = ", ".join(str(x.shape) for x in xs)
            raise ValueError(f"concatenate: shapes {shapes} must match except on axis {axis}")
    shape = list(xs[0].shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    return ArrayType(shape, promote(*xs)[0])


def _concat_jvp(primals, tangents, *, axis):
    ts = [zeros(aval_of(p)) if t is None else t for p, t in zip(primals, tangents)]
    return concatenate(primals, axis), concatenate(ts, axis)


def _concat_transpose(ct, *xs, axis):
    cts, start = [], 0
    for x in xs:
        n = (x.aval.shape if is_undefined(x) else np.shape(x))[axis]   # x may be a constant
        cts.append(slice_axis(ct, axis, start, start + n) if is_undefined(x) else None)
        start += n
    return cts


def _batch_concatenate(vals, dims, *, axis):
    n = batch_size(vals, dims)
    return concatenate([bdim_to(x, d, 0, n) for x, d in zip(vals, dims)], axis + 1), 0


concatenate_p = Primitive("concatenate", lambda *xs, axis: np.concatenate(xs, axis=axis),
                          _concat_type, jvp=_concat_jvp, transpose=_concat_transpose,
                          batch=_batch_concatenate, linear=True, cost=free, fresh=True)


def _concatenate_native(k, args, eqn):
    out = eqn.outputs[0].aval
    if any(v.aval.ndim == 0 for v in eqn.inputs):
        raise k.Unsupported("concatenating 0-d values")
    parts = [k.cast(a, v.aval, out.dtype) for a, v in zip(args, eqn.inputs)]
    return f"np.concatenate(({', '.join(parts)},), axis={eqn.params['axis']})"


concatenate_p.native = _concatenate_native


def concatenate(xs, axis: int):
    return concatenate_p.bind(*xs, axis=int(axis))
