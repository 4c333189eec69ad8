"""Printing and callbacks from inside transformed functions (as `jax.debug`).

Inside `jit` values are abstract and inside `grad` converting one with `float()` would drop
its derivative, so `print(float(x))` is no way to look at a value. `fg.debug.print` and
`fg.debug.callback` record a side effect instead: it runs with concrete NumPy values when the
program runs (every call of a jitted function, once per example under `vmap`), sees primal
values only under differentiation, and never changes a result or a derivative.
"""
from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

import numpy as np

from . import tree
from .core.trace import Tracer
from .prims.special import debug_callback_p


def callback(fn: Callable, *args: Any, **kwargs: Any) -> None:
    """Call `fn(*args, **kwargs)` with concrete NumPy values when the program runs.

    Arguments are pytrees; their array leaves (traced or not) arrive as NumPy arrays, other
    leaves as they were passed. Returns None; `fn`'s result is ignored.

    >>> import funcgrad as fg, numpy as np
    >>> seen = []
    >>> f = fg.jit(lambda x: (fg.debug.callback(seen.append, x * 2.0), x)[1])
    >>> _ = f(np.arange(2.0)); _ = f(np.ones(2))
    >>> seen
    [array([0., 2.]), array([2., 2.])]
    """
    leaves, treedef = tree.flatten((args, kwargs))
    dynamic = [i for i, leaf in enumerate(leaves) if _is_array(leaf)]

    def call(*values):
        full = list(leaves)
        for i, v in zip(dynamic, values):
            full[i] = np.asarray(v)
        a, kw = tree.unflatten(treedef, full)
        fn(*a, **kw)

    call.__name__ = getattr(fn, "__name__", "callback")
    debug_callback_p.bind(*[leaves[i] for i in dynamic], callback=call)


def print(fmt: str, *args: Any, **kwargs: Any) -> None:  # noqa: A001 (jax.debug.print's name)
    """Print `fmt.format(*args, **kwargs)` with concrete values when the program runs.

    >>> import funcgrad as fg, funcgrad.numpy as fnp
    >>> def loss(x):
    ...     fg.debug.print("x = {}, loss = {:.2f}", x, fnp.sin(x))
    ...     return fnp.sin(x)
    >>> _ = fg.grad(loss)(0.5)
    x = 0.5, loss = 0.48
    >>> _ = fg.jit(loss)(1.0)
    x = 1.0, loss = 0.84
    """
    def show(*a, **kw):
        builtins.print(fmt.format(*[_scalar(x) for x in a],
                                  **{k: _scalar(v) for k, v in kw.items()}))
    show.__name__ = "print"
    callback(show, *args, **kwargs)


def _is_array(x) -> bool:
    return isinstance(x, (Tracer, np.ndarray, np.generic))


def _scalar(x):
    """0-d arrays print and format like the numbers they hold ('{:.2f}' works)."""
    return x[()] if isinstance(x, np.ndarray) and x.ndim == 0 else x


__all__ = ["print", "callback"]
