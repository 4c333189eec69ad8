"""Rule builders shared by families of primitives (unary and binary elementwise ops)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..core.primitive import Primitive
from ..core.types import ArrayType, is_float

_PROXY = {"f": 1.0, "i": 1, "u": 1, "b": True, "c": 1 + 0j}


def proxy(aval: ArrayType):
    """A tiny value with `aval`'s dtype (a Python scalar for weak types) to ask NumPy for dtypes."""
    return _PROXY[aval.dtype.kind] if aval.weak else np.ones((), aval.dtype)


@lru_cache(maxsize=8192)
def _result_dtype(fn, keys: tuple) -> np.dtype:
    args = [_PROXY[dt.kind] if weak else np.ones((), dt) for dt, weak in keys]
    with np.errstate(all="ignore"):
        return np.asarray(fn(*args)).dtype


def result_dtype(fn, *avals: ArrayType) -> np.dtype:
    """The dtype NumPy gives `fn(*args)` for arguments of these types (cached)."""
    return _result_dtype(fn, tuple((a.dtype, a.weak) for a in avals))


def broadcast_shapes(name: str, *avals: ArrayType) -> tuple:
    try:
        return np.broadcast_shapes(*(a.shape for a in avals))
    except ValueError:
        shapes = " and ".join(str(a.shape) for a in avals)
        raise ValueError(f"{name}: shapes {shapes} cannot be broadcast together") from None


def _elementwise_type(name, fn):
    def rule(*avals):
        return ArrayType(broadcast_shapes(name, *avals), result_dtype(fn, *avals))
    return rule


def unary(name: str, fn, d=None, *, nondiff: bool = False, domain=None, **kw) -> Primitive:
    """An elementwise primitive whose tangent is `t * d(x, out)` (`nondiff`: zero tangent)."""
    prim = Primitive(name, fn, _elementwise_type(name, fn), nondiff=nondiff, domain=domain,
                     emit=("ufunc", fn), **kw)
    if nondiff:
        prim.jvp = lambda primals, tangents: (prim.bind(*primals), None)
    elif d is not None:
        def jvp(primals, tangents):
            (x,), (t,) = primals, tangents
            out = prim.bind(x)
            if not is_float(_dtype(out)):
                return out, None
            return out, t * d(x, out)
        prim.jvp = jvp
    return prim


def binary(name: str, fn, dx=None, dy=None, *, nondiff: bool = False, domain=None,
           **kw) -> Primitive:
    """A broadcasting elementwise primitive; tangent `tx * dx(x, y, out) + ty * dy(x, y, out)`."""
    prim = Primitive(name, fn, _elementwise_type(name, fn), nondiff=nondiff, domain=domain,
                     emit=("ufunc", fn), **kw)
    if nondiff:
        prim.jvp = lambda primals, tangents: (prim.bind(*primals), None)
    elif dx is not None:
        def jvp(primals, tangents):
            (x, y), (tx, ty) = primals, tangents
            out = prim.bind(x, y)
            if not is_float(_dtype(out)):
                return out, None
            terms = [t * d(x, y, out) for t, d in ((tx, dx), (ty, dy)) if t is not None]
            t_out = terms[0] if len(terms) == 1 else terms[0] + terms[1]
            return out, broadcast_to_shape(t_out, _shape(out))
        prim.jvp = jvp
    return prim


def _dtype(x):
    return x.dtype if hasattr(x, "dtype") else np.result_type(x)


def _shape(x):
    return x.shape if hasattr(x, "shape") else ()


def broadcast_to_shape(x, shape):
    """Broadcast `x` up to `shape` when it is smaller (a no-op otherwise)."""
    if _shape(x) == tuple(shape):
        return x
    from .shape import broadcast_to
    return broadcast_to(x, tuple(shape))


def zeros(aval: ArrayType):
    """An array of zeros of this type, under the current trace."""
    from .special import full
    return full(shape=aval.shape, fill_value=0, dtype=aval.dtype)
