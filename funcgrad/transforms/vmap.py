"""vmap: batching as a trace.

A `BatchTracer` carries a value with one extra axis, the batch axis `bdim`. Each primitive
applied to one runs the primitive's `batch` rule in the parent trace: the rule gets the
values and their batch axes (None = not batched) and returns the batched result and its batch
axis. So `vmap(f)` costs one call of `f` on whole arrays, not one per example, and composes
with every other transformation (vmap of grad gives per-example gradients).
"""
from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import tree
from ..core.source import user_source, where
from ..core.trace import (
    CustomJVP,
    CustomVJP,
    Trace,
    Tracer,
    as_output,
    as_value,
    current_trace,
    custom_jvp_call,
    reraise_conversion,
    set_trace,
)
from ..core.types import ArrayType, type_of
from ..errors import ConcretizationError
from ..prims.shape import bdim_to


class BatchTracer(Tracer):
    """A value batched along axis `bdim` of `val` (None: the same value for every example)."""

    __slots__ = ("val", "bdim")
    abstract = False

    def __init__(self, trace: BatchTrace, val, bdim: int | None):
        self._trace, self.val, self.bdim = trace, val, bdim

    @property
    def aval(self) -> ArrayType:
        aval = type_of(self.val)
        if self.bdim is None:
            return aval.strong()
        shape = aval.shape
        return ArrayType(shape[:self.bdim] + shape[self.bdim + 1:], aval.dtype)

    def unwrap(self, op: str):
        if self.bdim is None:
            return self.val
        src = user_source()
        line = f" at {src.long()}" if src else ""
        raise ConcretizationError(
            f"{op} on a value batched by fg.vmap is ambiguous{line}: it holds one "
            f"{self.aval.short()} per example ({self._trace.size} examples), and Python control "
            f"flow cannot take a different branch for each. Select elementwise with "
            f"fnp.where(cond, a, b), or use fg.cond.")


class BatchTrace(Trace):
    """A vmap in progress over `size` examples."""

    __slots__ = ("size",)

    def __init__(self, parent: Trace, size: int):
        super().__init__(parent, "vmap")
        self.size = size

    def unwrap(self, x) -> tuple[Any, int | None]:
        """(value, batch axis) of `x`; values of outer traces are unbatched constants."""
        if isinstance(x, BatchTracer) and x._trace is self:
            return x.val, x.bdim
        if isinstance(x, Tracer):
            self.check_foreign(x)
        return x, None

    def process(self, prim, args, params):
        vals, dims, batched = [], [], False
        for a in args:
            if type(a) is BatchTracer and a._trace is self:
                vals.append(a.val)
                dims.append(a.bdim)
                batched = batched or a.bdim is not None
            else:
                if isinstance(a, Tracer):
                    self.check_foreign(a)
                vals.append(a)
                dims.append(None)
        if not batched:
            return self.parent.process(prim, vals, params)
        if prim.batch is None:
            raise NotImplementedError(f"funcgrad has no batching rule for '{prim.name}' "
                                      f"(needed by vmap){where()}")
        prev = set_trace(self.parent)
        try:
            out, out_dim = prim.batch(vals, dims, **params)
        finally:
            set_trace(prev)
        if prim.multiple_results:
            return [o if d is None else BatchTracer(self, o, d) for o, d in zip(out, out_dim)]
        return out if out_dim is None else BatchTracer(self, out, out_dim)

    def _rule_args(self, args: tuple):
        """(the values, batch axis 0 where batched, and whether any is) of `args`, or None
        when no transformation above this vmap differentiates (then the function just runs
        here, batched)."""
        outer = self.parent
        while isinstance(outer, BatchTrace):
            outer = outer.parent
        if not outer.differentiates:
            return None
        flat, in_tree = tree.flatten(args)
        vals, dims = zip(*(self.unwrap(a) for a in flat)) if flat else ((), ())
        batched = any(d is not None for d in dims)
        if batched:
            vals = [bdim_to(v, d, 0, self.size) for v, d in zip(vals, dims)]
        return tree.unflatten(in_tree, list(vals)), batched

    def _in_parent(self, apply, args, batched):
        prev = set_trace(self.parent)
        try:
            out = apply(args)
        finally:
            set_trace(prev)
        return tree.map(lambda o: BatchTracer(self, o, 0), out) if batched else out

    def process_custom_vjp(self, rule: CustomVJP, args: tuple):
        """A custom_vjp function called under this vmap: its rule, with `fun`, `fwd` and `bwd`
        vmapped (batch axis 0), goes to the parent trace, so that a differentiation outside
        this vmap (grad of vmap) still uses it."""
        split = self._rule_args(args)
        if split is None:
            return rule.fun(*args)
        vals, batched = split
        if batched:
            rule = CustomVJP(rule.name, vmap(rule.fun), vmap(rule.fwd),
                             lambda res, ct, bwd=rule.bwd: vmap(bwd)(res, ct),
                             rule.in_forward_mode)
        return self._in_parent(lambda a: self.parent.process_custom_vjp(rule, a), vals, batched)

    def process_custom_jvp(self, rule: CustomJVP, args: tuple):
        """A custom_jvp function called under this vmap: the function and its rule vmapped
        (batch axis 0) go to the parent trace."""
        split = self._rule_args(args)
        if split is None:
            return rule.fun(*args)
        vals, batched = split
        if batched:
            jvp = rule.jvp
            vfun, vjvp = vmap(rule.fun), vmap(lambda p, t: jvp(p, t))
            rule = CustomJVP(rule.name, vfun, vjvp, custom_jvp_call(rule.name, vfun, vjvp))
        return self._in_parent(lambda a: self.parent.process_custom_jvp(rule, a), vals, batched)


def batch_flat(f: Callable, vals: list, dims: list, size: int) -> tuple[list, list]:
    """Run `f` on flat lists with `vals[i]` batched along `dims[i]` (None: not batched).

    Returns `(outs, out_dims)`: the batched outputs (values of the caller's trace) and the
    batch axis of each (None when an output does not depend on the batched inputs).
    """
    trace = BatchTrace(current_trace(), size)
    trace.source = user_source()
    ins = [v if d is None else BatchTracer(trace, v, d) for v, d in zip(vals, dims, strict=True)]
    prev = set_trace(trace)
    try:
        outs = f(*ins)
        pairs = [trace.unwrap(o) for o in outs]
    except ValueError as err:
        reraise_conversion(err)
        raise
    finally:
        set_trace(prev)
        trace.alive = False
    return [v for v, _ in pairs], [d for _, d in pairs]


def _axis_leaves(name: str, axes, full) -> list:
    """One axis (int or None) per leaf of `full`, from `axes` (an int, None or a prefix)."""
    try:
        leaves = tree.broadcast_prefix(axes, full)
    except ValueError as err:
        raise ValueError(f"vmap: {name}={axes!r} does not match the structure of the "
                         f"{'arguments' if name == 'in_axes' else 'outputs'}: {err}") from None
    for a in leaves:
        if a is not None and (isinstance(a, bool) or not hasattr(a, "__index__")):
            raise ValueError(f"vmap: {name} entries must be ints or None, got {a!r} in "
                             f"{name}={axes!r}")
    return [a if a is None else operator.index(a) for a in leaves]


def _describe(path: str) -> str:
    """'[1]['w']' -> "argument 1['w']"."""
    if path.startswith("[") and "]" in path:
        i = path.index("]")
        return f"argument {path[1:i]}{path[i + 1:]}"
    return f"argument {path}"


def vmap(fun: Callable, in_axes=0, out_axes=0) -> Callable:
    """Vectorise `fun` over a batch axis of its arguments: `vmap(f)(xs)` stacks `f(x)` for each
    `x` along the batch axis, but calls `f` once, on whole arrays.

    `in_axes` says which axis of each argument is the batch axis: an int for all, None for an
    argument used as is by every example, or a tuple with one entry per positional argument
    (each an int, None, or a pytree prefix of that argument). `out_axes` places the batch
    axis in the outputs the same way. Keyword arguments are batched along axis 0.

    >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
    >>> xs, w = np.arange(6.0).reshape(3, 2), np.array([1.0, 10.0])
    >>> fg.vmap(lambda x, w: fnp.dot(x, w), in_axes=(0, None))(xs, w)
    array([10., 32., 54.])
    >>> fg.vmap(fg.grad(lambda w, x: fnp.dot(x, w) ** 2), in_axes=(None, 0))(w, xs).shape
    (3, 2)
    """
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)  # a list is taken as the tuple of per-argument axes
    if not (in_axes is None or isinstance(in_axes, (tuple, int, np.integer))):
        raise ValueError(f"vmap: in_axes must be an int, None, or a tuple with one entry per "
                         f"positional argument, got a {type(in_axes).__name__}; to call the "
                         f"vectorised function write vmap(f)(xs), not vmap(f, xs)")

    @functools.wraps(fun)
    def batched(*args, **kwargs):
        if isinstance(in_axes, tuple) and len(in_axes) != len(args):
            raise ValueError(f"vmap: in_axes={in_axes!r} has {len(in_axes)} entries but the "
                             f"function was called with {len(args)} positional argument(s)")
        full = (args, kwargs)
        flat, in_tree = tree.flatten(full)
        axes = _axis_leaves("in_axes", in_axes, args) + [0] * len(tree.leaves(kwargs))
        names = [_describe(p) for p, _ in tree.flatten_with_paths(args)] + \
            [f"keyword argument {p}" for p, _ in tree.flatten_with_paths(kwargs)]
        vals, dims, sizes = [], [], []
        for x, ax, name in zip(flat, axes, names, strict=True):
            if ax is None:
                vals.append(x)
                dims.append(None)
                continue
            if not isinstance(x, (Tracer, np.ndarray, np.generic, bool, int, float, complex)):
                raise TypeError(f"vmap: {name} is a {type(x).__name__}, not an array or "
                                f"number: {tree.unknown_leaf_hint(x)}{where()}")
            x = as_value(x)
            shape = type_of(x).shape
            if not -len(shape) <= ax < len(shape):
                raise ValueError(f"vmap: in_axes {ax} is out of range for {name} of "
                                 f"shape {shape} (it has {len(shape)} axes){where()}")
            ax %= len(shape)
            vals.append(x)
            dims.append(ax)
            sizes.append((name, ax, shape[ax]))
        if not sizes:
            raise ValueError(f"vmap: in_axes={in_axes!r} maps no argument; at least one must "
                             f"have an int batch axis{where()}")
        if len({s for _, _, s in sizes}) > 1:
            listing = ", ".join(f"{n} has size {s} (axis {a})" for n, a, s in sizes)
            raise ValueError(f"vmap: the mapped axes have different sizes: {listing}{where()}")
        size = sizes[0][2]
        store: list = []

        def flat_fun(*flat_args):
            a, kw = tree.unflatten(in_tree, list(flat_args))
            out, out_tree = tree.flatten(fun(*a, **kw))
            store.append(out_tree)
            return out

        outs, out_dims = batch_flat(flat_fun, vals, dims, size)
        out = tree.unflatten(store[0], outs)
        results = []
        out_paths = [p for p, _ in tree.flatten_with_paths(out)]
        for o, d, ax, path in zip(outs, out_dims, _axis_leaves("out_axes", out_axes, out),
                                  out_paths, strict=True):
            if ax is None:
                if d is not None:
                    raise ValueError(f"vmap: out_axes is None for output {path or '(root)'}, "
                                     f"but that output is batched (it depends on the mapped "
                                     f"arguments); give it an int out_axes")
                results.append(as_output(o))
                continue
            rank = len(type_of(o).shape) + (d is None)
            if not -rank <= ax < rank:
                raise ValueError(f"vmap: out_axes {ax} is out of range for output "
                                 f"{path or '(root)'} with {rank} axes (batch axis included)")
            results.append(as_output(bdim_to(as_value(o), d, ax % rank, size)))
        return tree.unflatten(store[0], results)

    return batched


__all__ = ["vmap", "batch_flat", "BatchTrace", "BatchTracer"]
