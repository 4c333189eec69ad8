"""dot_general: every product (dot, matmul, tensordot, einsum pairs) is one primitive."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..core.ir import Eqn, is_undefined
from ..core.primitive import Lowering, Primitive, compile_lowering
from ..core.types import ArrayType, promote
from .shape import shape_of, transpose, transpose_p

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _free(ndim, *used):
    used = set().union(*used)
    return [i for i in range(ndim) if i not in used]


@lru_cache(maxsize=1024)
def _dot_lowering(x_ndim: int, y_ndim: int, contract, batch) -> Lowering:
    """Which NumPy call computes a product: the one decision, for eager calls and jit alike."""
    (lc, rc), (lb, rb) = contract, batch
    if not lb:
        if x_ndim <= 2 and y_ndim <= 2 and len(lc) == 1:
            # BLAS takes transposed views without copying (tensordot would copy them);
            # matmul is as fast as dot or faster (4% on a transposed left operand)
            x = "{0}" if lc[0] == x_ndim - 1 else "{0}.T"
            y = "{1}" if rc[0] == 0 else "{1}.T"
            return Lowering(f"{{f}}({x}, {y})", {"f": np.matmul})
        return Lowering(f"{{f}}({{0}}, {{1}}, axes=({lc!r}, {rc!r}))", {"f": np.tensordot})
    x_free, y_free = _free(x_ndim, lc, lb), _free(y_ndim, rc, rb)
    if len(lc) == 1 and len(x_free) == 1 and len(y_free) == 1:
        # a stack of matrix products: matmul on views with the batch axes first and each
        # operand's free and summed axes last (BLAS per matrix; einsum's path search and
        # loops cost 2-9x more)
        px, py = lb + (x_free[0],) + lc, rb + rc + (y_free[0],)
        x = "{0}" if px == tuple(range(x_ndim)) else f"{{0}}.transpose({px!r})"
        y = "{1}" if py == tuple(range(y_ndim)) else f"{{1}}.transpose({py!r})"
        return Lowering(f"{{f}}({x}, {y})", {"f": np.matmul})
    letters = iter(_LETTERS)
    xs = [next(letters) for _ in range(x_ndim)]
    ys = [next(letters) for _ in range(y_ndim)]
    for a, b in zip(lc, rc):
        ys[b] = xs[a]
    for a, b in zip(lb, rb):
        ys[b] = xs[a]
    out = ([xs[a] for a in lb] + [xs[i] for i in _free(x_ndim, lc, lb)]
           + [ys[i] for i in _free(y_ndim, rc, rb)])
    spec = f"{''.join(xs)},{''.join(ys)}->{''.join(out)}"
    if not lc:
        # nothing summed (per-example outer products): no BLAS call to find, and searching
        # for one (optimize=True) costs more than the product itself (13.6 vs 3.9 us on
        # 128 x 32, 110 vs 70 us on 128 x 32 x 32)
        return Lowering(f"{{f}}({spec!r}, {{0}}, {{1}})", {"f": np.einsum})
    return Lowering(f"{{f}}({spec!r}, {{0}}, {{1}}, optimize=True)", {"f": np.einsum})


@lru_cache(maxsize=1024)
def _dot_callable(x_ndim: int, y_ndim: int, contract, batch):
    return compile_lowering(_dot_lowering(x_ndim, y_ndim, contract, batch), 2)


def _dot_impl(x, y, *, contract, batch):
    x, y = np.asarray(x), np.asarray(y)
    return _dot_callable(x.ndim, y.ndim, contract, batch)(x, y)


def _outer_operands(x_shape, y_shape, contract, batch):
    """For a product of two matrices over one axis of length 1 (an outer product, one term per
    element): how to read each operand as a column and a row; else None."""
    (lc, rc), (lb, _) = contract, batch
    if lb or len(lc) != 1 or len(x_shape) != 2 or len(y_shape) != 2 or x_shape[lc[0]] != 1:
        return None
    return ("{0}" if lc[0] == 1 else "{0}.T"), ("{1}" if rc[0] == 0 else "{1}.T")


def _dot_lower(in_avals, params):
    x, y = in_avals
    outer = _outer_operands(x.shape, y.shape, params["contract"], params["batch"])
    if outer is not None:
        # broadcasting's product, exactly the one term BLAS would sum, at twice its speed
        # (a 200 x 1 by 1 x 200 product: 21 vs 45 us)
        return Lowering(f"{{f}}({outer[0]}, {outer[1]})", {"f": np.multiply})
    return _dot_lowering(x.ndim, y.ndim, params["contract"], params["batch"])


def _dot_type(x: ArrayType, y: ArrayType, *, contract, batch):
    (lc, rc), (lb, rb) = contract, batch
    ok = (len(lc) == len(rc) and len(lb) == len(rb)
          and all(0 <= a < x.ndim for a in lc + lb) and all(0 <= b < y.ndim for b in rc + rb))
    if not ok or any(x.shape[a] != y.shape[b] for a, b in zip(lc + lb, rc + rb)):
        raise ValueError(
            f"dot_general: shapes {x.shape} and {y.shape} are not aligned: contracting axes "
            f"{lc} of the first with {rc} of the second (sizes "
            f"{tuple(x.shape[a] for a in lc if a < x.ndim)} vs "
            f"{tuple(y.shape[b] for b in rc if b < y.ndim)})"
            + (f", batch axes {lb} with {rb}" if lb else ""))
    shape = ([x.shape[a] for a in lb] + [x.shape[i] for i in _free(x.ndim, lc, lb)]
             + [y.shape[i] for i in _free(y.ndim, rc, rb)])
    dtype = promote(x, y)[0]
    if dtype == np.bool_:
        dtype = np.dtype(np.bool_)
    return ArrayType(shape, dtype)


def _dot_jvp(primals, tangents, *, contract, batch):
    (x, y), (tx, ty) = primals, tangents
    out = dot_general(x, y, contract, batch)
    t = None
    if tx is not None:
        t = dot_general(tx, y, contract, batch)
    if ty is not None:
        t2 = dot_general(x, ty, contract, batch)
        t = t2 if t is None else t + t2
    return out, t


def _transpose_side(ct, other, x_ndim, my_c, my_b, other_c, other_b, other_ndim, *, swap):
    """Cotangent of one operand of dot_general, given the other operand's value."""
    nb = len(my_b)
    my_free = _free(x_ndim, my_c, my_b)
    other_free = _free(other_ndim, other_c, other_b)
    # ct axes: batch, then the first operand's free axes, then the second's.
    n_first = len(other_free) if swap else len(my_free)
    other_free_in_ct = [nb + (0 if swap else n_first) + i for i in range(len(other_free))]
    mine_from_other = [my_c[other_c.index(r)] for r in sorted(other_c)]
    contract_ct, batch_ct = tuple(other_free_in_ct), tuple(range(nb))
    # ct . other gives axes (batch, my free, my contracting); other . ct gives (batch, my
    # contracting, my free). Take the order that needs no transpose (e.g. x.T @ ct for the
    # weight of x @ W), so the cotangent is a contiguous array, not a strided view.
    order = list(my_b) + mine_from_other + my_free
    if order == list(range(x_ndim)):
        return dot_general(other, ct, (tuple(other_free), contract_ct),
                           (tuple(other_b), batch_ct))
    raw = dot_general(ct, other, (contract_ct, tuple(other_free)), (batch_ct, tuple(other_b)))
    order = list(my_b) + my_free + mine_from_other
    return transpose(raw, tuple(order.index(k) for k in range(x_ndim)))


def _dot_transpose(ct, x, y, *, contract, batch):
    (lc, rc), (lb, rb) = contract, batch
    cx = cy = None
    if is_undefined(x):
        cx = _transpose_side(ct, y, x.aval.ndim, lc, lb, rc, rb, np.ndim(y) if not hasattr(
            y, "ndim") else y.ndim, swap=False)
    if is_undefined(y):
        cy = _transpose_side(ct, x, y.aval.ndim, rc, rb, lc, lb, np.ndim(x) if not hasattr(
            x, "ndim") else x.ndim, swap=True)
    return [cx, cy]


def _dot_cost(x: ArrayType, y: ArrayType, *, contract, batch):
    out = _dot_type(x, y, contract=contract, batch=batch)
    k = int(np.prod([x.shape[a] for a in contract[0]], dtype=np.int64))
    return 2 * out.size * k


def _dot_native(k, args, eqn):
    """np.dot (BLAS) for products of vectors and matrices over one axis, as `_dot_lowering`
    chooses them; numba's np.dot needs both operands of the result's float dtype."""
    (lc, rc), (lb, _) = eqn.params["contract"], eqn.params["batch"]
    xa, ya, out = eqn.inputs[0].aval, eqn.inputs[1].aval, eqn.outputs[0].aval
    if not lb and not lc and xa.ndim == ya.ndim == 1 and out.dtype.kind == "f" and \
            xa.dtype == ya.dtype == out.dtype:
        return f"np.outer({args[0]}, {args[1]})"
    if _outer_operands(xa.shape, ya.shape, eqn.params["contract"], eqn.params["batch"]) \
            and out.dtype.kind == "f" and xa.dtype == ya.dtype == out.dtype:
        column = f"{args[0]}[:, 0]" if lc[0] == 1 else f"{args[0]}[0, :]"
        row = f"{args[1]}[0, :]" if rc[0] == 0 else f"{args[1]}[:, 0]"
        return f"np.outer({column}, {row})"
    if lb or len(lc) != 1 or not (1 <= xa.ndim <= 2 and 1 <= ya.ndim <= 2) or \
            out.dtype.kind != "f" or xa.dtype != out.dtype or ya.dtype != out.dtype or \
            0 in xa.shape or 0 in ya.shape:
        raise k.Unsupported("this dot_general")
    x = args[0] if lc[0] == xa.ndim - 1 else f"{args[0]}.T"
    y = args[1] if rc[0] == 0 else f"{args[1]}.T"
    return f"dot({x}, {y})"     # compile/_numba_lib.py's np.dot, disk-cached


dot_general_p = Primitive("dot_general", _dot_impl, _dot_type, jvp=_dot_jvp,
                          transpose=_dot_transpose, lower=_dot_lower, native=_dot_native,
                          cost=_dot_cost, fresh=True)


def dtype_of(x) -> np.dtype:
    """The dtype of an array, a traced value or a Python number."""
    return x.dtype if hasattr(x, "dtype") else np.result_type(x)


def is_complex(x) -> bool:
    return dtype_of(x).kind == "c"


def matrix_transpose(x):
    """Swap the last two axes (the matrix transpose of a stack of matrices)."""
    nd = len(shape_of(x))
    return transpose(x, tuple(range(nd - 2)) + (nd - 1, nd - 2))


def dot_general(x, y, contract, batch=((), ())):
    contract = (tuple(int(a) for a in contract[0]), tuple(int(b) for b in contract[1]))
    batch = (tuple(int(a) for a in batch[0]), tuple(int(b) for b in batch[1]))
    return dot_general_p.bind(x, y, contract=contract, batch=batch)


# --- batching rules ----------------------------------------------------------------------

def _dot_batch(vals, dims, *, contract, batch):
    """Two batched operands: the vmap axis becomes one more dot_general batch axis (output
    axis 0). One batched operand: it is a free axis of that operand and passes through."""
    (x, y), (dx, dy) = vals, dims
    (lc, rc), (lb, rb) = contract, batch

    def shift(axes, d):
        return tuple(a + (d is not None and a >= d) for a in axes)

    lc, lb, rc, rb = shift(lc, dx), shift(lb, dx), shift(rc, dy), shift(rb, dy)
    if dx is not None and dy is not None:
        return dot_general(x, y, (lc, rc), ((dx,) + lb, (dy,) + rb)), 0
    out = dot_general(x, y, (lc, rc), (lb, rb))
    if dx is not None:
        return out, len(lb) + _free(np.ndim(x) if not hasattr(x, "ndim") else x.ndim,
                                    lc, lb).index(dx)
    x_free = len(_free(np.ndim(x) if not hasattr(x, "ndim") else x.ndim, lc, lb))
    return out, len(lb) + x_free + _free(y.ndim, rc, rb).index(dy)


dot_general_p.batch = _dot_batch


def _dot_simplify(g, ins, params, out):
    """x . I over one axis is x with that axis moved last (I . y: moved first)."""
    (lc, rc), (lb, _) = params["contract"], params["batch"]
    if lb or len(lc) != 1:
        return None
    for side, (a, b) in enumerate(((ins[0], ins[1]), (ins[1], ins[0]))):
        known, val = g.value(b)
        if not known or np.ndim(val) != 2 or val.shape[0] != val.shape[1] or \
                not np.array_equal(val, np.eye(val.shape[0])):
            continue
        axis = (lc if side == 0 else rc)[0]
        rest = [d for d in range(a.aval.ndim) if d != axis]
        perm = rest + [axis] if side == 0 else [axis] + rest
        if a.aval.dtype != out.dtype:
            return None
        if perm == list(range(a.aval.ndim)):
            return a
        return Eqn(transpose_p, [a], [], {"perm": tuple(perm)})
    return None


dot_general_p.simplify = _dot_simplify


# dot_general also teaches transpose's simplifier a rule: (x . y)^T = y^T . x^T for matrix
# products, swapping the operands instead of transposing the result.
_transpose_simplify = transpose_p.simplify


def _transpose_of_dot(g, ins, params, out):
    src = g.producer(ins[0])
    if src is not None and src.primitive is dot_general_p and params["perm"] == (1, 0) and \
            not src.params["batch"][0]:
        x, y = src.inputs
        lc, rc = src.params["contract"]
        if x.aval.ndim - len(lc) == 1 and y.aval.ndim - len(rc) == 1:
            return Eqn(dot_general_p, [y, x], [], {"contract": (rc, lc), "batch": ((), ())})
    return _transpose_simplify(g, ins, params, out)


transpose_p.simplify = _transpose_of_dot
