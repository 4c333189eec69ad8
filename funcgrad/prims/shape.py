"""The structural core every other rule is written with: reshape, broadcast_to, transpose, rev,
reduce_sum (the transpose of broadcast_to) and full, and the helpers built on them (zeros,
unbroadcast, and the batching helpers move_axis, bdim_to, batch_size).

These primitives are each other's derivatives and transposes, so they live together, at the
bottom of funcgrad.prims: every other prims module imports this one and nothing imports back.
All but full are linear; their generated code is one NumPy call (`lower`).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..core.ir import Eqn
from ..core.primitive import Lowering, Primitive, free
from ..core.types import ArrayType, type_of


def shape_of(x) -> tuple:
    """The shape of an array, a tracer or a Python number."""
    return x.shape if hasattr(x, "shape") else ()


def aval_of(x) -> ArrayType:
    """The (strongly typed) ArrayType of a value: what a zero tangent of it looks like."""
    return type_of(x).strong()


def _with_param(fn, key: str):
    """The `lower` rule `fn(x, <params[key]>)`: a NumPy call with a static second argument."""
    return lambda in_avals, params: Lowering(f"{{f}}({{0}}, {params[key]!r})", {"f": fn})


# --- reshape, broadcast_to, transpose, rev ------------------------------------------------

def _reshape_type(x: ArrayType, *, shape):
    if int(np.prod(shape, dtype=np.int64)) != x.size:
        raise ValueError(f"reshape: cannot reshape an array of shape {x.shape} (size {x.size}) "
                         f"into shape {tuple(shape)}")
    return ArrayType(shape, x.dtype)


reshape_p = Primitive("reshape", lambda x, *, shape: np.reshape(x, shape), _reshape_type,
                      linear=True, lower=_with_param(np.reshape, "shape"), cost=free)


def _reshape_native(k, args, eqn):
    (x,), src, shape = args, eqn.inputs[0].aval, tuple(eqn.params["shape"])
    if src.ndim == 0:
        return x if not shape else f"np.full({shape!r}, {x})"
    if not shape:
        return f"np.ascontiguousarray({x}).ravel()[0]"
    return f"np.ascontiguousarray({x}).reshape({shape!r})"


reshape_p.native = _reshape_native
reshape_p.jvp = lambda primals, tangents, *, shape: (reshape(primals[0], shape),
                                                     reshape(tangents[0], shape))
reshape_p.transpose = lambda ct, x, *, shape: [reshape(ct, x.aval.shape)]


def _broadcast_type(x: ArrayType, *, shape):
    try:
        if np.broadcast_shapes(x.shape, shape) != tuple(shape):
            raise ValueError
    except ValueError:
        raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {tuple(shape)}"
                         ) from None
    return ArrayType(shape, x.dtype)


broadcast_to_p = Primitive("broadcast_to", lambda x, *, shape: np.broadcast_to(x, shape),
                           _broadcast_type, linear=True,
                           lower=_with_param(np.broadcast_to, "shape"), cost=free)
_BROADCAST_COPY_MAX = 4096     # elements


def _broadcast_native(k, args, eqn):
    """Kernel code of broadcast_to: up to _BROADCAST_COPY_MAX elements a copy written by a loop
    nest (numba's np.broadcast_to costs about 0.6 s of compile time once per process), beyond
    it numba's view."""
    src, shape = eqn.inputs[0].aval, tuple(eqn.params["shape"])
    if src.shape == shape:
        return args[0]
    if src.ndim == 0:
        return f"np.full({shape!r}, {args[0]})"
    if int(np.prod(shape)) > _BROADCAST_COPY_MAX:
        return f"np.broadcast_to({args[0]}, {shape!r})"
    x, out = k.materialize(args[0]), k.tmp()
    k.line(f"{out} = np.empty({shape!r}, {k.dtype(src.dtype)})")
    index = k.for_each(shape)
    read = ["0" if n == 1 else j for j, n in zip(index[len(shape) - src.ndim:], src.shape)]
    k.line(f"{out}[{', '.join(index)}] = {x}[{', '.join(read)}]")
    k.depth -= len(index)
    return out


broadcast_to_p.native = _broadcast_native
broadcast_to_p.jvp = lambda primals, tangents, *, shape: (broadcast_to(primals[0], shape),
                                                          broadcast_to(tangents[0], shape))
broadcast_to_p.transpose = lambda ct, x, *, shape: [unbroadcast(ct, x.aval.shape)]


def _transpose_type(x: ArrayType, *, perm):
    if sorted(perm) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {perm} are not a permutation of the {x.ndim} axes "
                         f"of an array of shape {x.shape}")
    return ArrayType(tuple(x.shape[p] for p in perm), x.dtype)


transpose_p = Primitive("transpose", lambda x, *, perm: np.transpose(x, perm), _transpose_type,
                        linear=True, lower=_with_param(np.transpose, "perm"), cost=free)
transpose_p.native = lambda k, args, eqn: (
    args[0] if tuple(eqn.params["perm"]) == tuple(range(eqn.inputs[0].aval.ndim)) else
    f"np.transpose({args[0]}, {tuple(eqn.params['perm'])!r})")
transpose_p.jvp = lambda primals, tangents, *, perm: (transpose(primals[0], perm),
                                                      transpose(tangents[0], perm))
transpose_p.transpose = lambda ct, x, *, perm: [transpose(ct, tuple(np.argsort(perm)))]

rev_p = Primitive("rev", lambda x, *, axes: np.flip(x, axes), lambda x, *, axes: x.strong(),
                  linear=True, lower=_with_param(np.flip, "axes"), cost=free)
rev_p.jvp = lambda primals, tangents, *, axes: (rev(primals[0], axes), rev(tangents[0], axes))
rev_p.transpose = lambda ct, x, *, axes: [rev(ct, axes)]


# --- reductions: the machinery of every reduce_*, and reduce_sum itself --------------------

def check_axes(name, x: ArrayType, axes):
    for a in axes:
        if not 0 <= a < x.ndim:
            raise ValueError(f"{name}: axis {a} is out of bounds for an array of shape {x.shape}")


@lru_cache(maxsize=4096)
def _reduced_dtype(fn, dtype):
    return np.asarray(fn(np.ones((1,), dtype), axis=(0,))).dtype


def reduce_type(name, fn, needs_identity: bool = False):
    """The shape rule of a reduction over `axes`, with the dtype NumPy's `fn` gives."""
    def rule(x: ArrayType, *, axes):
        check_axes(name, x, axes)
        if needs_identity and any(x.shape[a] == 0 for a in axes):
            raise ValueError(f"{name}: zero-size axis in {x.shape} has no identity")
        shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
        return ArrayType(shape, _reduced_dtype(fn, x.dtype))
    return rule


def keepdims_shape(shape, axes):
    return tuple(1 if i in axes else d for i, d in enumerate(shape))


def input_size(x: ArrayType, **params) -> int:
    """The `cost` of a reduction: one FLOP per input element."""
    return x.size


def reducer(ufunc, wrapper):
    """(impl, lower) of a reduction: the ufunc's reduce for floats (it skips the wrapper's
    Python), the wrapper (np.sum, np.prod) for bools and ints (its dtype promotion)."""
    def for_dtype(dtype) -> object:
        return ufunc.reduce if dtype.kind in "fc" else wrapper

    def impl(x, *, axes):
        return for_dtype(np.result_type(x))(x, axis=axes)

    def lower(in_avals, params):
        return Lowering(f"{{f}}({{0}}, axis={params['axes']!r})",
                        {"f": for_dtype(in_avals[0].dtype)})
    return impl, lower


def native_reduce(k, x: str, src: ArrayType, out: ArrayType, axes, op: str) -> str:
    """Kernel code reducing `x` over `axes` with op 'sum', 'max' or 'min': a whole-array
    reduction, a loop adding rows (leading axes) or one reducing each row (the reduced axes
    moved last)."""
    axes = sorted(axes)
    if not axes or src.ndim == 0:
        raise k.Unsupported("a trivial reduction")
    if src.size == 0:
        if op != "sum":      # the shape rule refuses max/min over an empty axis
            return f"np.empty({out.shape!r}, {k.dtype(out.dtype)})"
        zero = k.lit(0, out.dtype)
        return zero if out.ndim == 0 else f"np.full({out.shape!r}, {zero})"
    if src.dtype.kind not in "fiu" or out.dtype != src.dtype:
        if not (op == "sum" and len(axes) == src.ndim and out.dtype == np.int64
                and src.dtype.kind in "bi"):
            raise k.Unsupported("a reduction that changes the dtype")
    if len(axes) == src.ndim:
        return f"np.{op}({x})"
    kept = [i for i in range(src.ndim) if i not in axes]
    n_kept = int(np.prod([src.shape[i] for i in kept]))
    n_red = int(np.prod([src.shape[i] for i in axes]))
    reshape = "" if len(kept) == 1 else f".reshape({out.shape!r})"
    if op == "sum" and axes == list(range(len(axes))):
        return f"col_sums(np.ascontiguousarray({x}).reshape(({n_red}, {n_kept}))){reshape}"
    perm = tuple(kept + axes)
    moved = x if perm == tuple(range(src.ndim)) else f"np.transpose({x}, {perm!r})"
    fn = {"sum": "row_sums", "max": "row_max", "min": "row_min"}[op]
    return f"{fn}(np.ascontiguousarray({moved}).reshape(({n_kept}, {n_red}))){reshape}"


_sum_impl, _sum_lower = reducer(np.add, np.sum)
reduce_sum_p = Primitive("reduce_sum", _sum_impl, reduce_type("reduce_sum", np.sum),
                         linear=True, lower=_sum_lower, cost=input_size, fresh=True)
reduce_sum_p.native = lambda k, args, eqn: native_reduce(
    k, args[0], eqn.inputs[0].aval, eqn.outputs[0].aval, eqn.params["axes"], "sum")
reduce_sum_p.jvp = lambda primals, tangents, *, axes: (
    reduce_sum(primals[0], axes), reduce_sum(tangents[0], axes))
reduce_sum_p.transpose = lambda ct, x, *, axes: [
    broadcast_to(reshape(ct, keepdims_shape(x.aval.shape, axes)), x.aval.shape)]


# --- full: a constant array made under a trace --------------------------------------------

def _full_impl(*, shape, fill_value, dtype):
    return np.full(shape, fill_value, dtype)


def _full_lower(in_avals, params):
    return Lowering(f"{{f}}({params['shape']!r}, {{v}}, {{dt}})",
                    {"f": np.full, "v": params["fill_value"], "dt": params["dtype"]})


def _full_native(k, args, eqn):
    p = eqn.params
    value = k.lit(p["fill_value"], p["dtype"])
    return value if not p["shape"] else f"np.full({tuple(p['shape'])!r}, {value})"


full_p = Primitive("full", _full_impl, lambda *, shape, fill_value, dtype: ArrayType(shape, dtype),
                   nondiff=True, lower=_full_lower, native=_full_native, cost=free, fresh=True)


# --- bind wrappers and helpers -------------------------------------------------------------

def reshape(x, shape):
    shape = tuple(int(d) for d in shape)
    if getattr(x, "shape", None) == shape:
        return x
    return reshape_p.bind(x, shape=shape)


def broadcast_to(x, shape):
    shape = tuple(int(d) for d in shape)
    if getattr(x, "shape", None) == shape:
        return x
    return broadcast_to_p.bind(x, shape=shape)


def transpose(x, perm):
    perm = tuple(int(p) for p in perm)
    if perm == tuple(range(len(perm))):
        return x
    return transpose_p.bind(x, perm=perm)


def rev(x, axes):
    return rev_p.bind(x, axes=tuple(axes))


def reduce_sum(x, axes):
    return reduce_sum_p.bind(x, axes=tuple(axes))


def full(*, shape, fill_value, dtype):
    return full_p.bind(shape=tuple(shape), fill_value=fill_value, dtype=np.dtype(dtype))


def zeros(aval: ArrayType):
    """An array of zeros of this type, under the current trace."""
    return full(shape=aval.shape, fill_value=0, dtype=aval.dtype)


def broadcast_to_shape(x, shape):
    """Broadcast `x` up to `shape` when it is smaller (a no-op otherwise)."""
    if shape_of(x) == tuple(shape):
        return x
    return broadcast_to(x, tuple(shape))


def unbroadcast(x, shape: tuple):
    """Sum `x` over the axes that broadcasting added to reach its shape from `shape`."""
    xshape = x.shape
    if xshape == shape:
        return x
    lead = len(xshape) - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(shape)
                                      if d == 1 and xshape[lead + i] != 1)
    if axes:
        x = reduce_sum(x, axes)
    return reshape(x, shape) if x.shape != shape else x


# --- batching helpers (vmap): a batch rule gets `vals` and `dims` (the batch axis of each
# value, None = not batched) and returns `(out, out_dim)`. These bind primitives, so rules
# written with them work under any outer transformation.

def batch_size(vals, dims) -> int:
    """The size of the batch axis (taken from the first batched value)."""
    for v, d in zip(vals, dims):
        if d is not None:
            return shape_of(v)[d]
    raise ValueError("batch_size: no batched value")


def move_axis(x, src: int, dst: int):
    """Move axis `src` of `x` to position `dst` (a transpose; a no-op when they are equal)."""
    if src == dst:
        return x
    perm = [i for i in range(len(shape_of(x))) if i != src]
    perm.insert(dst, src)
    return transpose(x, perm)


def bdim_to(x, bdim: int | None, dst: int, size: int):
    """Put `x`'s batch axis at `dst`; an unbatched `x` is broadcast along a new axis there."""
    if bdim is not None:
        return move_axis(x, bdim, dst)
    shape = shape_of(x)
    return move_axis(broadcast_to(x, (size,) + shape), 0, dst)


def shift_axis(axis: int, bdim: int) -> int:
    """Position in the batched array of per-example axis `axis`."""
    return axis + (axis >= bdim)


def batch_reducer(prim):
    """Batch rule of a reduction over `axes`: the axes are renumbered around the batch axis,
    which survives, shifted left by the number of reduced axes before it."""
    def rule(vals, dims, *, axes):
        (x,), (d,) = vals, dims
        axes = tuple(shift_axis(a, d) for a in axes)
        return prim.bind(x, axes=axes), d - sum(a < d for a in axes)
    return rule


# --- simplification rules (the optimiser's algebra; `g` is its Rewrite context) -------------

def _reshape_simplify(g, ins, params, out):
    if g.same_type(ins[0], out):
        return ins[0]
    src = g.producer(ins[0])
    if src is not None and src.primitive is reshape_p:       # reshape(reshape(x)) -> reshape(x)
        return Eqn(reshape_p, [src.inputs[0]], [], params)
    return None


def _broadcast_to_simplify(g, ins, params, out):
    if g.same_type(ins[0], out):
        return ins[0]
    src = g.producer(ins[0])
    if src is not None and src.primitive is reshape_p:
        # a reshape that only adds leading 1s is implied by the broadcast
        x = src.inputs[0]
        shape = src.outputs[0].aval.shape
        k = len(shape) - x.aval.ndim
        if k >= 0 and shape[k:] == x.aval.shape and all(d == 1 for d in shape[:k]):
            return Eqn(broadcast_to_p, [x], [], params)
    return None


def _transpose_simplify(g, ins, params, out):
    perm = params["perm"]
    if perm == tuple(range(out.ndim)) and g.same_type(ins[0], out):
        return ins[0]
    src = g.producer(ins[0])
    if src is not None and src.primitive is transpose_p:     # compose two transposes
        inner = src.params["perm"]
        composed = tuple(inner[p] for p in perm)
        if composed == tuple(range(len(composed))):
            return src.inputs[0]
        return Eqn(transpose_p, [src.inputs[0]], [], {"perm": composed})
    return None


def _rev_simplify(g, ins, params, out):
    # flipping only axes of size 1 changes nothing
    if g.same_type(ins[0], out) and not any(out.shape[a] > 1 for a in params["axes"]):
        return ins[0]
    return None


reshape_p.simplify = _reshape_simplify
broadcast_to_p.simplify = _broadcast_to_simplify
transpose_p.simplify = _transpose_simplify
rev_p.simplify = _rev_simplify
reduce_sum_p.simplify = lambda g, ins, params, out: (
    ins[0] if not params["axes"] and g.same_type(ins[0], out) else None)


# --- batching rules ----------------------------------------------------------------------

def _batch_reshape(vals, dims, *, shape):
    (x,), (d,) = vals, dims
    x = move_axis(x, d, 0)
    return reshape(x, (x.shape[0],) + tuple(shape)), 0


def _batch_broadcast_to(vals, dims, *, shape):
    # Per-example rank r grows to len(shape): size-1 axes go after the batch axis.
    (x,), (d,) = vals, dims
    x = move_axis(x, d, 0)
    n, rest = x.shape[0], x.shape[1:]
    x = reshape(x, (n,) + (1,) * (len(shape) - len(rest)) + rest)
    return broadcast_to(x, (n,) + tuple(shape)), 0


def _batch_transpose(vals, dims, *, perm):
    # The batch axis goes first; the other axes are renumbered around it.
    (x,), (d,) = vals, dims
    return transpose(x, (d,) + tuple(p + (p >= d) for p in perm)), 0


def _batch_rev(vals, dims, *, axes):
    (x,), (d,) = vals, dims
    return rev(x, tuple(a + (a >= d) for a in axes)), d


reshape_p.batch = _batch_reshape
broadcast_to_p.batch = _batch_broadcast_to
transpose_p.batch = _batch_transpose
rev_p.batch = _batch_rev
reduce_sum_p.batch = batch_reducer(reduce_sum_p)
# full has no operands, so a vmap never sees it batched; the rule is here for completeness.
full_p.batch = lambda vals, dims, **params: (full_p.bind(**params), None)
