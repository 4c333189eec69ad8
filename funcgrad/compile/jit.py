"""jit (placeholder: runs the function as is until the compiler lands)."""
from __future__ import annotations

import functools


def jit(fun, static_argnums=(), static_argnames=()):
    """Compile `fun` (placeholder)."""
    @functools.wraps(fun)
    def wrapped(*args, **kwargs):
        return fun(*args, **kwargs)
    return wrapped
