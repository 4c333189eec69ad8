"""Pytrees of arrays as one flat vector, and back (as jax.flatten_util).

For optimisers and solvers that want one 1-D vector of parameters: `ravel_pytree(params)`
gives the vector and the function that rebuilds the pytree from one like it. Both trace, so
they work inside `grad`, `jit` and `vmap`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import numpy as fnp
from . import tree


def ravel_pytree(pytree: Any) -> tuple[Any, Callable[[Any], Any]]:
    """`(flat, unravel)`: the leaves raveled and concatenated into one 1-D array (of the dtype
    they promote to), and `unravel(flat)`, which splits such a vector back into the pytree with
    each leaf's shape and dtype.

    >>> import numpy as np
    >>> flat, unravel = ravel_pytree({"w": np.ones((2, 2)), "b": np.zeros(3)})
    >>> flat
    array([0., 0., 0., 1., 1., 1., 1.])
    >>> unravel(flat * 2.0)["w"]
    array([[2., 2.],
           [2., 2.]])
    """
    leaves, treedef = tree.flatten(pytree)
    leaves = [fnp.asarray(x) for x in leaves]
    shapes = [fnp.shape(x) for x in leaves]
    dtypes = [x.dtype for x in leaves]
    sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes]
    if not leaves:
        flat = np.zeros(0)
    else:
        common = np.result_type(*dtypes)
        flat = fnp.concatenate([fnp.ravel(fnp.astype(x, common)) for x in leaves])
    offsets = np.cumsum([0] + sizes)

    def unravel(vector: Any) -> Any:
        if fnp.shape(vector) != (int(offsets[-1]),):
            raise ValueError(f"unravel: expected a vector of shape ({int(offsets[-1])},) like "
                             f"the one ravel_pytree made, got shape {fnp.shape(vector)}")
        parts = [fnp.astype(fnp.reshape(vector[offsets[i]:offsets[i + 1]], shape), dtype)
                 for i, (shape, dtype) in enumerate(zip(shapes, dtypes))]
        return tree.unflatten(treedef, parts)

    return flat, unravel


__all__ = ["ravel_pytree"]
