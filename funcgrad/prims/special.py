"""Primitives with no family: stop_gradient (the functional `detach`) and debug_callback (a
user's function called with concrete values when the program runs)."""
from __future__ import annotations

from ..core.primitive import Lowering, Primitive, free
from .shape import batch_size, move_axis


def _identity(x):
    return x


_identity.__name__ = "identity"

# The functional `detach`: identity forward, symbolic-zero tangent.
# Generated code names the operand (`{0}`): no call at all.
stop_gradient_p = Primitive("stop_gradient", _identity, lambda x: x.strong(), nondiff=True,
                            lower=lambda in_avals, params: Lowering("{0}", {}), cost=free)
stop_gradient_p.jvp = lambda primals, tangents: (stop_gradient_p.bind(*primals), None)
stop_gradient_p.native = lambda k, args, eqn: args[0]


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
    n = batch_size(vals, dims)
    vals = [v if d is None else move_axis(v, d, 0) for v, d in zip(vals, dims)]
    batched = [d is not None for d in dims]

    def per_example(*xs):
        for i in range(n):
            callback(*[x[i] if b else x for x, b in zip(xs, batched)])

    return debug_callback_p.bind(*vals, callback=per_example), []


# --- batching rules ----------------------------------------------------------------------
stop_gradient_p.batch = lambda vals, dims: (stop_gradient_p.bind(*vals), dims[0])
debug_callback_p.batch = _debug_callback_batch
