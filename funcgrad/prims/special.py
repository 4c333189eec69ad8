"""Primitives with no family: stop_gradient, full (constant arrays made under a trace) and
debug_callback (a user's function called with concrete values when the program runs)."""
from __future__ import annotations

import numpy as np

from ..core.primitive import Lowering, Primitive, free
from ..core.types import ArrayType


def _identity(x):
    return x


_identity.__name__ = "identity"

# The functional `detach`: identity forward, symbolic-zero tangent.
# Generated code names the operand (`{0}`): no call at all.
stop_gradient_p = Primitive("stop_gradient", _identity, lambda x: x.strong(), nondiff=True,
                            lower=lambda in_avals, params: Lowering("{0}", {}), cost=free)
stop_gradient_p.jvp = lambda primals, tangents: (stop_gradient_p.bind(*primals), None)


def _full_impl(*, shape, fill_value, dtype):
    return np.full(shape, fill_value, dtype)


def _full_lower(in_avals, params):
    return Lowering(f"{{f}}({params['shape']!r}, {{v}}, {{dt}})",
                    {"f": np.full, "v": params["fill_value"], "dt": params["dtype"]})


full_p = Primitive("full", _full_impl, lambda *, shape, fill_value, dtype: ArrayType(shape, dtype),
                   nondiff=True, lower=_full_lower, cost=free, fresh=True)


def full(*, shape, fill_value, dtype):
    return full_p.bind(shape=tuple(shape), fill_value=fill_value, dtype=np.dtype(dtype))



def _debug_callback_impl(*args, callback):
    callback(*args)
    return []


# A side effect with no outputs: kept by dead-code elimination and never merged (the `effect`
# slot). Under differentiation it sees primal values only, under vmap one example at a time.
debug_callback_p = Primitive("debug_callback", _debug_callback_impl,
                             lambda *avals, callback: [], multiple_results=True, effect=True,
                             nondiff=True, cost=free)
debug_callback_p.jvp = lambda primals, tangents, *, callback: (
    debug_callback_p.bind(*primals, callback=callback), [])


def _debug_callback_batch(vals, dims, *, callback):
    from .families import batch_size, move_axis
    n = batch_size(vals, dims)
    vals = [v if d is None else move_axis(v, d, 0) for v, d in zip(vals, dims)]
    batched = [d is not None for d in dims]

    def per_example(*xs):
        for i in range(n):
            callback(*[x[i] if b else x for x, b in zip(xs, batched)])

    return debug_callback_p.bind(*vals, callback=per_example), []


# --- batching rules ----------------------------------------------------------------------
stop_gradient_p.batch = lambda vals, dims: (stop_gradient_p.bind(*vals), dims[0])
# full has no operands, so a vmap never sees it batched; the rule is here for completeness.
full_p.batch = lambda vals, dims, **params: (full_p.bind(**params), None)
debug_callback_p.batch = _debug_callback_batch
