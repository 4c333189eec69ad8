"""Primitives with no family: stop_gradient and full (constant arrays made under a trace)."""
from __future__ import annotations

import numpy as np

from ..core.primitive import Primitive
from ..core.types import ArrayType


def _identity(x):
    return x


_identity.__name__ = "identity"

# The functional `detach`: identity forward, symbolic-zero tangent.
stop_gradient_p = Primitive("stop_gradient", _identity, lambda x: x.strong(), nondiff=True)
stop_gradient_p.jvp = lambda primals, tangents: (stop_gradient_p.bind(*primals), None)


def _full_impl(*, shape, fill_value, dtype):
    return np.full(shape, fill_value, dtype)


full_p = Primitive("full", _full_impl, lambda *, shape, fill_value, dtype: ArrayType(shape, dtype),
                   nondiff=True, emit=("call", "np.full", "shape, fill_value, dtype"))


def full(*, shape, fill_value, dtype):
    return full_p.bind(shape=tuple(shape), fill_value=fill_value, dtype=np.dtype(dtype))



# --- batching rules ----------------------------------------------------------------------
stop_gradient_p.batch = lambda vals, dims: (stop_gradient_p.bind(*vals), dims[0])
# full has no operands, so a vmap never sees it batched; the rule is here for completeness.
full_p.batch = lambda vals, dims, **params: (full_p.bind(**params), None)
