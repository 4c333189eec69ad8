"""`fnp.at(x)[idx].set(v)`: the functional index update that works on traced values *and* on
plain NumPy arrays, so one function runs both under a transformation and outside one.

Traced arrays have JAX's `x.at[idx].set(v)`; NumPy's `ndarray` cannot be given an `.at`
property, so on a plain array `x.at` does not exist. `fnp.at(x)` returns the same updater for
either: on a traced value it is `x.at`; on anything else (an array, a list, a number) it works
out of place with the same primitives, returning a new NumPy array and leaving `x` unchanged.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..core.trace import Tracer
from ._creation import asarray
from ._dispatch import _At

__all__ = ["at"]


class _PlainAt(_At):
    """`_At` for an untraced array: the same updates; `get()` gives a NumPy array (0-d for
    one element), as every funcgrad result does, never a NumPy scalar."""

    __slots__ = ()

    def __getitem__(self, idx):
        return _PlainAt(self.x, idx)

    def get(self):
        """x[idx], as a NumPy array (0-d for one element)."""
        out = super().get()
        return out if isinstance(out, (np.ndarray, Tracer)) else np.asarray(out)


def at(x: Any) -> _At:
    """Functional index updates, `at(x)[idx].set(v)`, on traced and plain arrays alike.

    `at(x)[idx]` offers `.set(v)`, `.add(v)`, `.subtract(v)`, `.multiply(v)`, `.divide(v)`,
    `.power(v)`, `.min(v)`, `.max(v)` and `.get()`, each returning a new array with `x[idx]`
    updated (repeated indices add up in `.add`), exactly as `x.at[idx]` does on a traced
    value; `x` itself is never modified. Use it in code that should run both transformed and
    untransformed: `x.at[...]` exists only on traced values, since NumPy's ndarray cannot be
    given new attributes.

    >>> import numpy as np, funcgrad as fg, funcgrad.numpy as fnp
    >>> def bump(x):
    ...     return fnp.at(x)[0].add(10.0) ** 2
    >>> x = np.array([1.0, 2.0])
    >>> bump(x), fg.jit(bump)(x)                       # untraced, and compiled
    (array([121.,   4.]), array([121.,   4.]))
    >>> fg.grad(lambda x: bump(x).sum())(x)            # differentiated
    array([22.,  4.])
    >>> fnp.at(x)[1].set(5.0), x                       # a new array; x is unchanged
    (array([1., 5.]), array([1., 2.]))
    """
    if isinstance(x, Tracer):
        return _At(x)
    return _PlainAt(x if type(x) is np.ndarray else asarray(x))
