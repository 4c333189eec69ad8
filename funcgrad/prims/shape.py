"""Shape primitives: reshape, broadcast_to, transpose, concatenate, rev. All linear."""
from __future__ import annotations

import numpy as np

from ..core.ir import Eqn
from ..core.primitive import Lowering, Primitive, free
from ..core.types import ArrayType, promote


def _with_param(fn, key: str):
    """The `lower` rule `fn(x, <params[key]>)`: a NumPy call with a static second argument."""
    return lambda in_avals, params: Lowering(f"{{f}}({{0}}, {params[key]!r})", {"f": fn})


def _reshape_type(x: ArrayType, *, shape):
    if int(np.prod(shape, dtype=np.int64)) != x.size:
        raise ValueError(f"reshape: cannot reshape an array of shape {x.shape} (size {x.size}) "
                         f"into shape {tuple(shape)}")
    return ArrayType(shape, x.dtype)


reshape_p = Primitive("reshape", lambda x, *, shape: np.reshape(x, shape), _reshape_type,
                      linear=True, lower=_with_param(np.reshape, "shape"), cost=free)
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
broadcast_to_p.jvp = lambda primals, tangents, *, shape: (broadcast_to(primals[0], shape),
                                                          broadcast_to(tangents[0], shape))
broadcast_to_p.transpose = lambda ct, x, *, shape: [unbroadcast(ct, x.aval.shape)]


def unbroadcast(x, shape: tuple):
    """Sum `x` over the axes that broadcasting added to reach its shape from `shape`."""
    from .reductions import reduce_sum
    xshape = x.shape
    if xshape == shape:
        return x
    lead = len(xshape) - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(shape)
                                      if d == 1 and xshape[lead + i] != 1)
    if axes:
        x = reduce_sum(x, axes)
    return reshape(x, shape) if x.shape != shape else x


def _transpose_type(x: ArrayType, *, perm):
    if sorted(perm) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {perm} are not a permutation of the {x.ndim} axes "
                         f"of an array of shape {x.shape}")
    return ArrayType(tuple(x.shape[p] for p in perm), x.dtype)


transpose_p = Primitive("transpose", lambda x, *, perm: np.transpose(x, perm), _transpose_type,
                        linear=True, lower=_with_param(np.transpose, "perm"), cost=free)
transpose_p.jvp = lambda primals, tangents, *, perm: (transpose(primals[0], perm),
                                                      transpose(tangents[0], perm))
transpose_p.transpose = lambda ct, x, *, perm: [transpose(ct, tuple(np.argsort(perm)))]


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
    from .elementwise import _aval
    from .families import zeros
    ts = [zeros(_aval(p)) if t is None else t for p, t in zip(primals, tangents)]
    return concatenate(primals, axis), concatenate(ts, axis)


def _concat_transpose(ct, *xs, axis):
    from .elementwise import is_undefined
    from .indexing import slice_axis
    cts, start = [], 0
    for x in xs:
        n = (x.aval.shape if is_undefined(x) else np.shape(x))[axis]   # x may be a constant
        cts.append(slice_axis(ct, axis, start, start + n) if is_undefined(x) else None)
        start += n
    return cts


concatenate_p = Primitive("concatenate", lambda *xs, axis: np.concatenate(xs, axis=axis),
                          _concat_type, jvp=_concat_jvp, transpose=_concat_transpose,
                          linear=True, cost=free, fresh=True)

rev_p = Primitive("rev", lambda x, *, axes: np.flip(x, axes), lambda x, *, axes: x.strong(),
                  linear=True, lower=_with_param(np.flip, "axes"), cost=free)
rev_p.jvp = lambda primals, tangents, *, axes: (rev(primals[0], axes), rev(tangents[0], axes))
rev_p.transpose = lambda ct, x, *, axes: [rev(ct, axes)]


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


def concatenate(xs, axis: int):
    return concatenate_p.bind(*xs, axis=int(axis))


def rev(x, axes):
    return rev_p.bind(x, axes=tuple(axes))


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
    if src is None:
        return None
    if src.primitive is transpose_p:                         # compose two transposes
        inner = src.params["perm"]
        composed = tuple(inner[p] for p in perm)
        if composed == tuple(range(len(composed))):
            return src.inputs[0]
        return Eqn(transpose_p, [src.inputs[0]], [], {"perm": composed})
    from .linalg import dot_general_p
    if src.primitive is dot_general_p and perm == (1, 0) and not src.params["batch"][0]:
        # (x . y)^T = y^T . x^T: swap the operands instead of transposing the result
        x, y = src.inputs
        lc, rc = src.params["contract"]
        if x.aval.ndim - len(lc) == 1 and y.aval.ndim - len(rc) == 1:
            return Eqn(dot_general_p, [y, x], [], {"contract": (rc, lc), "batch": ((), ())})
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


# --- batching rules ----------------------------------------------------------------------

def _batch_reshape(vals, dims, *, shape):
    from .families import move_axis
    (x,), (d,) = vals, dims
    x = move_axis(x, d, 0)
    return reshape(x, (x.shape[0],) + tuple(shape)), 0


def _batch_broadcast_to(vals, dims, *, shape):
    # Per-example rank r grows to len(shape): size-1 axes go after the batch axis.
    from .families import move_axis
    (x,), (d,) = vals, dims
    x = move_axis(x, d, 0)
    n, rest = x.shape[0], x.shape[1:]
    x = reshape(x, (n,) + (1,) * (len(shape) - len(rest)) + rest)
    return broadcast_to(x, (n,) + tuple(shape)), 0


def _batch_transpose(vals, dims, *, perm):
    # The batch axis goes first; the other axes are renumbered around it.
    (x,), (d,) = vals, dims
    return transpose(x, (d,) + tuple(p + (p >= d) for p in perm)), 0


def _batch_concatenate(vals, dims, *, axis):
    from .families import batch_size, bdim_to
    n = batch_size(vals, dims)
    return concatenate([bdim_to(x, d, 0, n) for x, d in zip(vals, dims)], axis + 1), 0


def _batch_rev(vals, dims, *, axes):
    (x,), (d,) = vals, dims
    return rev(x, tuple(a + (a >= d) for a in axes)), d


reshape_p.batch = _batch_reshape
broadcast_to_p.batch = _batch_broadcast_to
transpose_p.batch = _batch_transpose
concatenate_p.batch = _batch_concatenate
rev_p.batch = _batch_rev
