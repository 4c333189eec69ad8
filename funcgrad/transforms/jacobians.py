"""Jacobians and Hessians, as vmaps of forward or reverse mode over standard-basis vectors.

The layout is JAX's: for an output of shape `o` and an input of shape `i` the block has shape
`o + i`; for pytrees the outer structure is the output's and the inner one the input's (a
tuple over `argnums` when it is a tuple).
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from .. import tree
from ..core.types import is_float, type_of
from ..prims.indexing import slice_axis
from ..prims.shape import bdim_to, reshape, zeros
from .ad import jvp_flat, vjp_flat
from .api import (
    _argnums_tuple,
    _check_complex_args,
    _check_float_args,
    _flatten_fun,
    _partial_argnums,
    as_output,
    as_value_tree,
    check_output_kind,
)
from .vmap import batch_flat


def _basis(leaves: list, dtypes: list) -> list:
    """Standard-basis vectors split like `leaves`: leaf j gets shape (N, *shape_j), where N is
    the total size and row k is 1 at flat position k of the concatenated leaves."""
    shapes = [type_of(x).shape for x in leaves]
    sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes]
    if len(leaves) == 1:
        return [np.eye(sizes[0], dtype=dtypes[0]).reshape((sizes[0],) + shapes[0])]
    total, start, out = sum(sizes), 0, []
    for shape, size, dtype in zip(shapes, sizes, dtypes):
        b = np.zeros((total, size), dtype)
        b[start + np.arange(size), np.arange(size)] = 1
        out.append(b.reshape((total,) + shape))
        start += size
    return out


def _block(j, axis: int, start: int, size: int, shape: tuple):
    """Rows start:start+size of the stacked Jacobian `j` along `axis`, reshaped to `shape`."""
    if j.shape[axis] != size:
        j = slice_axis(j, axis, start, start + size)
    return as_output(reshape(j, shape))


def _assemble(blocks: list[list], out_tree, in_tree, argnums) -> object:
    """blocks[i][j] (output leaf i, input leaf j) -> the nested pytree, outer = output."""
    inner = [tree.unflatten(in_tree, row) for row in blocks]
    if isinstance(argnums, int):
        inner = [t[0] for t in inner]
    return tree.unflatten(out_tree, inner)


def _setup(name: str, fun: Callable, argnums, args, kwargs, holomorphic: bool):
    nums = _argnums_tuple(argnums, len(args), name)
    diff = tuple(as_value_tree(args[i]) for i in nums)
    flat_in, in_tree = tree.flatten(diff)
    if holomorphic:
        _check_complex_args(name, diff, nums)
    elif not all(is_float(type_of(x).dtype) for x in flat_in):
        _check_float_args(name, diff, nums)     # names the offending argument
    elif name == "jacfwd" and any(type_of(x).dtype.kind == "c" for x in flat_in):
        raise TypeError("jacfwd requires real-valued inputs unless holomorphic=True: a "
                        "complex input has two real directions. Pass holomorphic=True for a "
                        "holomorphic function, or use fg.jvp directly.")
    store: list = []
    flat_fun = _flatten_fun(_partial_argnums(fun, args, kwargs, nums), in_tree, store)
    return flat_in, in_tree, flat_fun, store


def jacfwd(fun: Callable, argnums=0, holomorphic: bool = False) -> Callable:
    """The Jacobian of `fun` by forward mode: one jvp, vmapped over the input basis (cheap
    for few inputs and many outputs). Complex inputs need `holomorphic=True` (as in JAX).

    >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
    >>> fg.jacfwd(lambda x: x ** 2)(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """
    @functools.wraps(fun)
    def jacfun(*args, **kwargs):
        flat_in, in_tree, flat_fun, store = _setup("jacfwd", fun, argnums, args, kwargs,
                                                   holomorphic)

        def push(*tangents):
            outs, out_t = jvp_flat(flat_fun, flat_in, list(tangents), "jacfwd")
            if holomorphic:
                for o in outs:
                    check_output_kind("jacfwd", type_of(o), True)
            return [zeros(type_of(o).strong()) if t is None else t for o, t in zip(outs, out_t)]

        basis = _basis(flat_in, [type_of(x).dtype for x in flat_in])
        n = len(basis[0]) if basis else 0
        cols, dims = batch_flat(push, basis, [0] * len(basis), n)
        blocks = []
        for col, d in zip(cols, dims):
            out_shape = type_of(col).shape if d is None else \
                tuple(s for k, s in enumerate(col.shape) if k != d)
            col = bdim_to(col, d, len(out_shape), n)  # (*out_shape, N)
            row, start = [], 0
            for x in flat_in:
                shape = type_of(x).shape
                size = int(np.prod(shape, dtype=np.int64))
                row.append(_block(col, len(out_shape), start, size, out_shape + shape))
                start += size
            blocks.append(row)
        return _assemble(blocks, store[0], in_tree, argnums)

    return jacfun


def jacrev(fun: Callable, argnums=0, holomorphic: bool = False) -> Callable:
    """The Jacobian of `fun` by reverse mode: one linearization, then the backward pass
    vmapped over the output basis (cheap for few outputs and many inputs). Complex outputs
    need `holomorphic=True` (as in JAX); for complex inputs and real outputs each row is the
    conjugate gradient, as `grad` gives.

    >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
    >>> fg.jacrev(lambda x: fnp.sin(x) * x[0])(np.array([0.0, 1.0]))
    array([[0.        , 0.        ],
           [0.84147098, 0.        ]])
    """
    @functools.wraps(fun)
    def jacfun(*args, **kwargs):
        flat_in, in_tree, flat_fun, store = _setup("jacrev", fun, argnums, args, kwargs,
                                                   holomorphic)
        outs, f_vjp = vjp_flat(flat_fun, flat_in, "jacrev")
        for o in outs:
            if is_float(type_of(o).dtype):
                check_output_kind("jacrev", type_of(o), holomorphic)

        def pull(*cts):
            cts_in = f_vjp(list(cts))
            return [zeros(type_of(x).strong()) if c is None else c
                    for c, x in zip(cts_in, flat_in)]

        # Cotangents of integer outputs are never used; float64 keeps the basis valid.
        dtypes = [o.dtype if o.dtype.kind in "fc" else np.dtype(np.float64)
                  for o in map(type_of, outs)]
        if len(outs) == 1 and type_of(outs[0]).size == 1:
            # One output element (a scalar function): a single backward pass, no vmap.
            shape = type_of(outs[0]).shape
            row = pull(np.ones(shape, dtypes[0]))
            blocks = [[as_output(reshape(r, shape + type_of(x).shape))
                       for r, x in zip(row, flat_in)]]
            return _assemble(blocks, store[0], in_tree, argnums)
        basis = _basis(outs, dtypes)
        m = len(basis[0]) if basis else 0
        rows, dims = batch_flat(pull, basis, [0] * len(basis), m) if outs else ([], [])
        rows = [bdim_to(r, d, 0, m) for r, d in zip(rows, dims)]  # (M, *in_shape)
        blocks, start = [], 0
        for o in outs:
            shape = type_of(o).shape
            size = int(np.prod(shape, dtype=np.int64))
            blocks.append([_block(r, 0, start, size, shape + type_of(x).shape)
                           for r, x in zip(rows, flat_in)])
            start += size
        return _assemble(blocks, store[0], in_tree, argnums)

    return jacfun


def hessian(fun: Callable, argnums=0, holomorphic: bool = False) -> Callable:
    """The Hessian of a scalar function: `jacfwd(jacrev(fun))` (forward over reverse).

    >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
    >>> fg.hessian(lambda x: fnp.sum(x ** 3))(np.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    return jacfwd(jacrev(fun, argnums, holomorphic), argnums, holomorphic)


__all__ = ["jacfwd", "jacrev", "hessian"]
