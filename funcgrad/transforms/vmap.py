"""vmap: batching as a trace (placeholder until the batching pass lands)."""
from __future__ import annotations


def vmap(fun, in_axes=0, out_axes=0):
    """Vectorise `fun` over a batch axis."""
    raise NotImplementedError("vmap is not implemented yet")
