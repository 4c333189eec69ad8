"""Products: matmul, dot, vdot, vecdot, inner, outer, kron, cross, tensordot, and einsum
(whose planning lives in _einsum.py)."""
from __future__ import annotations

import builtins

import numpy as _np

from ..prims import linalg as _la
from ..util import canonical_axis as _canonical_axis
from ._creation import _arr
from ._einsum import einsum as _einsum
from ._elementwise import conjugate, multiply
from ._reductions import sum
from ._shapes import broadcast_to, moveaxis, ravel, reshape, stack
from ._util import _ndim, _no_out, _reports_user_line, _shape, _where


def matmul(x1, x2):
    """x1 @ x2 with NumPy semantics (1-D promotion, broadcast batch axes), one dot_general.

    >>> matmul(_np.ones((2, 3)), _np.ones(3))
    array([3., 3.])
    """
    a, b = _arr(x1), _arr(x2)
    sa, sb = _shape(a), _shape(b)
    if not sa or not sb:
        raise ValueError(f"matmul: operands must not be 0-d (shapes {sa} and {sb}); use * "
                         f"to multiply by a scalar{_where()}")
    if len(sb) <= 2 and len(sa) >= len(sb):  # no batch axes on b: contract directly
        return _dot(a, b, (len(sa) - 1,), (0,), sa, sb, "matmul")
    if len(sa) == 1:
        return _batched(a, b, sa, sb, (), sb[:-2], "matmul", vec_lhs=True)
    return _batched(a, b, sa, sb, sa[:-2], sb[:-2], "matmul")


def _dot(a, b, lc, rc, sa, sb, name):
    if type(lc) is tuple and len(lc) == 1 and type(lc[0]) is int and type(rc[0]) is int \
            and sa[lc[0]] == sb[rc[0]]:            # the common case: one aligned axis
        return _la.dot_general_p.bind(a, b, contract=(lc, rc), batch=((), ()))
    if builtins.any(sa[i] != sb[j] for i, j in zip(lc, rc)):
        raise ValueError(f"{name}: shapes {sa} and {sb} are not aligned: "
                         f"{tuple(sa[i] for i in lc)} (axes {lc} of the first) != "
                         f"{tuple(sb[j] for j in rc)} (axes {rc} of the second)"
                         f"{_where()}")
    return _la.dot_general(a, b, (lc, rc))


def _batched(a, b, sa, sb, ba, bb, name, vec_lhs=False):
    k_b = sb[-2]
    if sa[-1] != k_b:
        raise ValueError(f"{name}: shapes {sa} and {sb} are not aligned: {sa[-1]} (last axis "
                         f"of the first) != {k_b} (second-to-last axis of the second)"
                         f"{_where()}")
    try:
        batch = _np.broadcast_shapes(ba, bb)
    except ValueError:
        raise ValueError(f"{name}: batch shapes {ba} and {bb} of {sa} and {sb} cannot be "
                         f"broadcast{_where()}") from None
    nb = len(batch)
    if vec_lhs:
        return _la.dot_general(broadcast_to(b, batch + tuple(sb[-2:])), a, ((nb,), (0,)))
    a = broadcast_to(a, batch + tuple(sa[-2:]))
    b = broadcast_to(b, batch + tuple(sb[-2:]))
    r = tuple(range(nb))
    return _la.dot_general(a, b, ((nb + 1,), (nb,)), (r, r))


def dot(a, b, out=None):
    """np.dot, traced.

    >>> dot(_np.ones((2, 3)), _np.ones((3, 4))).shape
    (2, 4)
    """
    _no_out(out, "dot")
    a, b = _arr(a), _arr(b)
    sa, sb = _shape(a), _shape(b)
    if not sa or not sb:
        return multiply(a, b)
    if len(sb) == 1:
        return _dot(a, b, (len(sa) - 1,), (0,), sa, sb, "dot")
    return _dot(a, b, (len(sa) - 1,), (len(sb) - 2,), sa, sb, "dot")


def vdot(a, b):
    """The dot product of the flattened inputs.

    >>> float(vdot(_np.ones((2, 2)), _np.ones((2, 2))))
    4.0
    """
    return dot(ravel(conjugate(a)), ravel(b))     # the first argument conjugated, as NumPy


def vecdot(x1, x2, axis=-1):
    """The dot product over `axis`, broadcasting the rest (np.vecdot: x1 conjugated).

    >>> vecdot(_np.ones((2, 3)), _np.ones(3))
    array([3., 3.])
    """
    return sum(multiply(conjugate(x1), x2), axis=axis)


def inner(a, b):
    """np.inner: contract the last axes.

    >>> float(inner(_np.ones(3), _np.ones(3)))
    3.0
    """
    a, b = _arr(a), _arr(b)
    sa, sb = _shape(a), _shape(b)
    if not sa or not sb:
        return multiply(a, b)
    return _dot(a, b, (len(sa) - 1,), (len(sb) - 1,), sa, sb, "inner")


def outer(a, b, out=None):
    """np.outer, traced (inputs are flattened).

    >>> outer(_np.ones(2), _np.ones(3)).shape
    (2, 3)
    """
    _no_out(out, "outer")
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))


def kron(a, b):
    """np.kron, traced (a broadcast product and a reshape).

    >>> kron(_np.eye(2), _np.ones((1, 2))).shape
    (2, 4)
    """
    a, b = _arr(a), _arr(b)
    nd = builtins.max(_ndim(a), _ndim(b))
    sa = (1,) * (nd - _ndim(a)) + _shape(a)
    sb = (1,) * (nd - _ndim(b)) + _shape(b)
    prod_ = reshape(a, [d for s in sa for d in (s, 1)]) * reshape(b, [d for s in sb
                                                                     for d in (1, s)])
    return reshape(prod_, [x * y for x, y in zip(sa, sb)])


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """np.cross for 3-vectors, traced.

    >>> cross(_np.array([1.0, 0, 0]), _np.array([0.0, 1, 0]))
    array([0., 0., 1.])
    """
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = moveaxis(_arr(a), axisa, -1), moveaxis(_arr(b), axisb, -1)
    if _shape(a)[-1] != 3 or _shape(b)[-1] != 3:
        raise NotImplementedError("cross: funcgrad supports 3-vectors only")
    a0, a1, a2 = (a[..., i] for i in range(3))
    b0, b1, b2 = (b[..., i] for i in range(3))
    c = stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
    return moveaxis(c, -1, axisc)


def tensordot(a, b, axes=2):
    """np.tensordot, traced.

    >>> tensordot(_np.ones((2, 3, 4)), _np.ones((3, 4, 5))).shape
    (2, 5)
    """
    a, b = _arr(a), _arr(b)
    sa, sb = _shape(a), _shape(b)
    if isinstance(axes, (int, _np.integer)):
        n = int(axes)
        lc, rc = tuple(range(len(sa) - n, len(sa))), tuple(range(n))
    else:
        la, lb = axes
        la = (la,) if isinstance(la, int) else tuple(la)
        lb = (lb,) if isinstance(lb, int) else tuple(lb)
        lc = tuple(_canonical_axis(i, len(sa)) for i in la)
        rc = tuple(_canonical_axis(i, len(sb)) for i in lb)
    return _dot(a, b, lc, rc, sa, sb, "tensordot")


def einsum(*operands, out=None, optimize=None, dtype=None):
    """np.einsum: any number of operands, '...', repeated indices (diagonals) and the
    interleaved (operand, sublist) form, as dot_generals, sums and gathers (traced).

    >>> einsum("ij,jk->ik", _np.ones((2, 3)), _np.ones((3, 4))).shape
    (2, 4)
    """
    _no_out(out, "einsum")
    return _einsum(*operands, dtype=dtype)


__all__ = _reports_user_line(globals())
