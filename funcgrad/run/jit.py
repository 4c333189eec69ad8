"""jit: trace once per argument signature, optimise the graph, generate NumPy code, cache it.

The cached call path is one signature computation, one dictionary lookup and one call of the
generated function. Under an outer transformation (grad of jit, jit of jit, vmap of jit) the
function is traced through inline, so every transformation composes with jit.
"""
from __future__ import annotations

import functools
import threading
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import tree
from ..compile.codegen import compile_graph, failing_equation
from ..compile.passes import optimize
from ..core import trace as _trace
from ..core.cost import graph_cost
from ..core.ir import Graph
from ..core.source import where
from ..core.types import ArrayType, dtype_short, type_of
from ..transforms.api import trace_to_graph
from .tiers import Tiered, resolve_backend

_SCALARS = (float, int, bool, complex)
_LEAF = tree.structure(0)


class CacheMissWarning(UserWarning):
    """jit traced and compiled again; the message says which part of the signature changed."""


def _leaf_key(x):
    t = type(x)
    if t is np.ndarray:
        return (x.shape, x.dtype)
    if t in _SCALARS:
        return t
    if isinstance(x, np.generic):
        return ((), x.dtype)
    if isinstance(x, _trace.Tracer):
        return (x.shape, x.dtype)
    raise TypeError(f"jit: argument leaf of type {t.__name__} is not an array or number; "
                    f"{tree.unknown_leaf_hint(x)} (or pass it with static_argnums/"
                    f"static_argnames if it is configuration)")


def _leaf_aval(x) -> ArrayType:
    aval = type_of(x)
    return aval if aval.weak else aval.strong()


def _describe_key(key) -> list[tuple[str, str]]:
    treedef, leaf_keys, statics = key
    out = []
    paths = [p for p, _ in tree.flatten_with_paths(treedef.unflatten(list(range(
        treedef.num_leaves))))]
    for p, k in zip(paths, leaf_keys):
        if isinstance(k, tuple):
            out.append((f"arg{p}", f"{dtype_short(k[1])}{list(k[0])}".replace(" ", "")))
        else:
            out.append((f"arg{p}", f"python {k.__name__}"))
    for i, v in statics:
        out.append((f"static {i}", repr(v)))
    return out


class Stage(Tiered):
    """The compiled stage of one signature: `.graph` (after the passes), `.as_text()` (the
    code that runs: NumPy, or the compiled tier's driver and kernels), `.tier` ('numpy' or
    'compiled'), `.cost()` (FLOPs, bytes moved, peak live memory).

    With the compiled tier (backend 'compiled' or 'auto'), `.wait()` blocks until its
    compilation has finished (or failed: `.native_error` says why; the NumPy code goes on
    running)."""

    def __init__(self, graph: Graph, raw_graph: Graph, fn: Callable, source: str, out_tree,
                 backend: str = "numpy", name: str = "compiled"):
        super().__init__(graph, fn, backend, name)
        self.raw_graph, self.source = raw_graph, source
        self.out_tree = out_tree
        self.single = out_tree == _LEAF    # the function returns one array, not a pytree

    def as_text(self) -> str:
        if self.native is not None:
            return self.native.source
        return self.source

    def cost(self) -> dict:
        return graph_cost(self.graph)


class Jitted:
    """A function compiled per input signature; see `jit`."""

    def __init__(self, fun: Callable, static_argnums=(), static_argnames=(),
                 explain_cache_misses: bool = False, backend: str | None = None):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.backend = resolve_backend(backend)
        nums = (static_argnums,) if isinstance(static_argnums, int) else static_argnums
        if not isinstance(nums, (tuple, list, range)) or \
                not all(isinstance(i, int) for i in nums):
            raise TypeError(f"jit: static_argnums must be an int or a sequence of ints, got "
                            f"{type(static_argnums).__name__}; to call the compiled function "
                            f"write jit(f)(x), not jit(f, x)")
        self.static_argnums = tuple(nums)
        self.static_argnames = (static_argnames,) if isinstance(static_argnames, str) \
            else tuple(static_argnames)
        self.explain_cache_misses = explain_cache_misses
        self._cache: dict = {}
        self._lock = threading.Lock()

    def cache_size(self) -> int:
        """Number of compiled signatures."""
        return len(self._cache)

    def clear_cache(self) -> None:
        self._cache.clear()

    def _split(self, args, kwargs):
        nargs = len(args)
        static_idx = tuple(sorted(i % nargs for i in self.static_argnums if -nargs <= i < nargs))
        statics = []
        for i in static_idx:
            statics.append((i, _hashable(args[i], f"static argument {i}")))
        for k in sorted(kwargs):
            if k in self.static_argnames:
                statics.append((k, _hashable(kwargs[k], f"static argument '{k}'")))
        dyn = tuple(a for i, a in enumerate(args) if i not in static_idx)
        dyn_kw = {k: v for k, v in kwargs.items() if k not in self.static_argnames}
        return static_idx, tuple(statics), dyn, dyn_kw

    def _key(self, args, kwargs):
        """(cache key, flat dynamic leaves, static argument indices) for one call."""
        if self.static_argnums or self.static_argnames or kwargs:
            static_idx, statics, dyn, dyn_kw = self._split(args, kwargs)
            flat, treedef = tree.flatten((dyn, dyn_kw))
        else:
            static_idx, statics = (), ()
            flat, treedef = tree.flatten(args)
        return (treedef, tuple(map(_leaf_key, flat)), statics), flat, static_idx

    def __call__(self, *args, **kwargs):
        if _trace._state.trace is not _trace.EVAL:
            return self.fun(*args, **kwargs)   # traced inline by the outer transformation
        if kwargs or self.static_argnums or self.static_argnames:
            key, flat, static_idx = self._key(args, kwargs)
        else:   # the fast path: positional array arguments only
            flat, treedef = tree.flatten(args)
            key, static_idx = (treedef, tuple(map(_leaf_key, flat)), ()), ()
        stage = self._cache.get(key)
        if stage is None:
            stage = self._compile(key, args, kwargs, static_idx)
        try:
            out = stage.fn(*flat)     # generated code returns arrays, 0-d ones included
        except Exception as err:
            _name_the_line(err)
            raise
        return out[0] if stage.single else tree.unflatten(stage.out_tree, out)

    def _compile(self, key, args, kwargs, static_idx) -> Stage:
        if self.explain_cache_misses and self._cache:
            warnings.warn(self.explain(key), CacheMissWarning, stacklevel=3)
        stage = self._build(args, kwargs, static_idx)
        with self._lock:
            self._cache.setdefault(key, stage)
        return stage

    def _build(self, args, kwargs, static_idx) -> Stage:
        static_kw = {k: v for k, v in kwargs.items() if k in self.static_argnames}
        dyn_kw = {k: v for k, v in kwargs.items() if k not in self.static_argnames}
        dyn_pos = [i for i in range(len(args)) if i not in static_idx]
        flat_all, _ = tree.flatten((tuple(args[i] for i in dyn_pos), dyn_kw))
        avals = [_leaf_aval(x) for x in flat_all]

        def fun_of_dyn(dyn_args, dyn_kwargs):
            full = list(args)
            for i, a in zip(dyn_pos, dyn_args):
                full[i] = a
            return self.fun(*full, **static_kw, **dyn_kwargs)

        arg_index = [i for i in dyn_pos for _ in tree.leaves(args[i])]
        arg_index += [k for k in sorted(dyn_kw) for _ in tree.leaves(dyn_kw[k])]
        graph, out_tree = trace_to_graph(fun_of_dyn, (tuple(args[i] for i in dyn_pos), dyn_kw),
                                         {}, (), "jit", avals=avals, arg_index=arg_index,
                                         static_hint=_static_hint(self.fun))
        # Captured arrays are copied: the compiled function sees them as they were at trace
        # time (as in JAX), even if the caller mutates them later, and folding (which
        # evaluates some uses now) cannot disagree with the uses evaluated at call time.
        graph.consts[:] = [c.copy() if type(c) is np.ndarray else c for c in graph.consts]
        optimized = optimize(graph)
        fn, src = compile_graph(optimized, _fn_name(self.fun))
        return Stage(optimized, graph, fn, src, out_tree, self.backend, _fn_name(self.fun))

    def lower(self, *args, **kwargs) -> Stage:
        """The compiled stage for these arguments (compiling it if needed).

        >>> import funcgrad as fg, numpy as np
        >>> stage = fg.jit(lambda x: np.sin(x) * 2.0).lower(np.ones(3))
        >>> [e.primitive.name for e in stage.graph.eqns]
        ['sin', 'mul']
        """
        key, _, static_idx = self._key(args, kwargs)
        stage = self._cache.get(key)
        return stage if stage is not None else self._compile(key, args, kwargs, static_idx)

    def explain(self, key) -> str:
        """Why `key` missed the cache: what differs from the closest compiled signature."""
        new = _describe_key(key)
        best_diff = None
        for old_key in self._cache:
            old = _describe_key(old_key)
            if len(old) != len(new) or [n for n, _ in old] != [n for n, _ in new]:
                diff = [f"argument structure {old_key[0]} -> {key[0]}"]
            else:
                diff = [f"{n} {a} -> {b}" for (n, a), (_, b) in zip(old, new) if a != b]
            if best_diff is None or len(diff) < len(best_diff):
                best_diff = diff
        name = getattr(self.fun, "__name__", "function")
        return (f"jit({name}) retraced ({len(self._cache)} compiled so far): "
                + "; ".join(best_diff or ["no difference found"]))


def _name_the_line(err: Exception) -> None:
    """An error raised by the compiled code (a value NumPy refuses: an index out of bounds, a
    singular matrix) gets the user's line of the operation that raised it, and of the call."""
    eqn = failing_equation(err)
    if eqn is None or not err.args or not isinstance(err.args[0], str) or \
            " at " in err.args[0]:
        return
    at = f" at {eqn.source.long()}" if eqn.source is not None else ""
    err.args = (f"{err.args[0]} (in {eqn.primitive.name}{at}, run by fg.jit{where()})",
                *err.args[1:])


def _hashable(v, what: str):
    try:
        hash(v)
    except TypeError:
        raise TypeError(f"jit: {what} of type {type(v).__name__} is not hashable, so it cannot "
                        f"be part of the cache key; pass a hashable value (e.g. a tuple instead "
                        f"of a list) or make it a traced argument") from None
    return v


def _static_hint(fun) -> Callable:
    name = getattr(fun, "__name__", "f")

    def hint(arg) -> str:
        if arg is None:
            return ", or mark the argument static with fg.jit(..., static_argnums=(i,))"
        if isinstance(arg, str):
            return (f", or, if '{arg}' is configuration rather than data, mark it static: "
                    f"fg.jit({name}, static_argnames=('{arg}',))")
        return (f", or, if argument {arg} is configuration rather than data, mark it static: "
                f"fg.jit({name}, static_argnums=({arg},))")
    return hint


def _fn_name(fun) -> str:
    name = getattr(fun, "__name__", "compiled")
    return name if name.isidentifier() else "compiled"


def jit(fun: Callable | None = None, static_argnums=(), static_argnames=(),
        explain_cache_misses: bool = False, backend: str | None = None) -> Any:
    """Compile `fun`: trace once per signature (shapes, dtypes, pytree structure, static
    values), optimise the graph and generate straight-line NumPy code; calls then cost one
    cache lookup plus the generated code.

    `backend` chooses the code that runs: 'numpy' (the generated NumPy code), 'compiled'
    (the compiled tier, from the first call: fused numba kernels and native loops; needs
    `pip install 'funcgrad[fast]'`) or 'auto' (the default, from $FUNCGRAD_JIT_BACKEND if
    set): NumPy code first, then, once a signature has been called 20 times, the compiled
    tier, compiled on a background thread and swapped in when ready. The compiled tier is
    used only after it reproduced the NumPy code's result on a real call; what it cannot
    compile runs as NumPy code.

    >>> import funcgrad as fg, numpy as np
    >>> f = fg.jit(lambda x, y: (x * y).sum())
    >>> f(np.ones(3), np.arange(3.0))
    array(3.)
    >>> f.cache_size()
    1
    """
    if fun is None:
        return functools.partial(jit, static_argnums=static_argnums,
                                 static_argnames=static_argnames,
                                 explain_cache_misses=explain_cache_misses, backend=backend)
    return Jitted(fun, static_argnums, static_argnames, explain_cache_misses, backend)
