"""The public transformations: pytree plumbing and argument checks around the flat passes."""
from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import tree
from ..core.ir import Graph, dce
from ..core.source import user_source, where
from ..core.trace import (
    CustomVJP,
    GraphTrace,
    Tracer,
    as_output,
    as_value,
    current_trace,
    reraise_conversion,
    set_trace,
)
from ..core.types import is_float, type_of
from ..errors import UnexpectedTracerError
from ..prims.shape import full, zeros
from ..prims.special import stop_gradient_p
from .ad import grad_flat, linearize_flat, vjp_flat
from .interpret import eval_graph
from .jvp import jvp_flat


def _flatten_fun(fun: Callable, in_tree, store: list) -> Callable:
    def flat_fun(*flat_args):
        out = fun(*tree.unflatten(in_tree, list(flat_args)))
        flat_out, out_tree = tree.flatten(out)
        store.append(out_tree)
        return flat_out
    return flat_fun


def _argnums_tuple(argnums, nargs: int, name: str) -> tuple[int, ...]:
    if not isinstance(argnums, int):
        argnums = check_argnums(name, argnums)
    nums = (argnums,) if isinstance(argnums, int) else argnums
    for i in nums:
        if not -nargs <= i < nargs:
            raise ValueError(
                f"{name}: argnums={argnums!r} is out of range for a function called with "
                f"{nargs} positional argument(s); argnums counts the function's positional "
                f"arguments from 0 (did you mean {name}(f)(x) rather than {name}(f, x)?)")
    return tuple(i % nargs for i in nums)


def check_argnums(name: str, argnums) -> tuple[int, ...] | int:
    """`argnums` as given if it is an int or a sequence of ints; else a TypeError that says
    what was received and how to fix it (`grad(f, x)` instead of `grad(f)(x)` comes here).

    >>> check_argnums("grad", (0, 1))
    (0, 1)
    """
    if isinstance(argnums, int) and not isinstance(argnums, bool):
        return argnums
    if isinstance(argnums, (tuple, list)) and all(
            isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in argnums):
        return tuple(int(i) for i in argnums)
    if isinstance(argnums, np.integer):
        return int(argnums)
    raise TypeError(
        f"{name}: argnums must be an int or a tuple of ints (which positional arguments to "
        f"differentiate), but got {describe_value(argnums)}. To differentiate f at x, call "
        f"the function that {name} returns: {name}(f)(x), not {name}(f, x)")


def describe_value(x) -> str:
    """A short description of a value for error messages: type, shape and dtype.

    >>> describe_value((np.zeros(3), 1.0))
    'a tuple of 2 values (f64[3], float)'
    """
    if isinstance(x, (np.ndarray, Tracer)):
        kind = "a traced array" if isinstance(x, Tracer) else "an array"
        return f"{kind} {type_of(x).short()}"
    if x is None:
        return "None"
    if isinstance(x, (tuple, list)):
        items = ", ".join(_short_value(v) for v in x[:6]) + (", ..." if len(x) > 6 else "")
        return f"a {type(x).__name__} of {len(x)} values ({items})"
    if isinstance(x, dict):
        return f"a dict with keys {list(x)[:8]}"
    if callable(x):
        return f"the function {getattr(x, '__qualname__', type(x).__name__)}"
    if isinstance(x, np.generic):
        return f"a NumPy scalar {type_of(x).short()}"
    if isinstance(x, (bool, int, float, complex)):
        return f"a {type(x).__name__} ({x!r})"
    return f"an object of type {type(x).__qualname__}"


def _short_value(v) -> str:
    if isinstance(v, (np.ndarray, Tracer, np.generic)):
        return type_of(v).short()
    if v is None:
        return "None"
    if isinstance(v, (tuple, list, dict)):
        return f"{type(v).__name__} of {len(v)}"
    return type(v).__name__


def _fun_name(fun) -> str:
    """'loss' for a named function; 'the lambda at file.py:12' for a lambda."""
    name = getattr(fun, "__name__", None) or type(fun).__name__
    code = getattr(fun, "__code__", None)
    if name == "<lambda>" and code is not None:
        return f"the lambda at {os.path.basename(code.co_filename)}:{code.co_firstlineno}"
    return name


def _check_fun(name: str, fun) -> None:
    if not callable(fun):
        raise TypeError(
            f"{name} expects a function to transform, but got {describe_value(fun)}. Pass the "
            f"function itself and call the result: {name}(loss)(w), not {name}(loss(w))")


def _check_output(name: str, fun, out, has_aux: bool) -> None:
    """Called when `fun` returned something other than an array: a tuple (forgotten has_aux),
    None (forgotten return) or another pytree get errors that say so."""
    fname = _fun_name(fun)
    if out is None:
        raise TypeError(
            f"{name} requires the function to return a scalar array, but {fname} returned "
            f"None: does it lack a `return` statement?")
    if has_aux:
        return
    if isinstance(out, (tuple, list)):
        raise TypeError(
            f"{name} requires a scalar output, but {fname} returned {describe_value(out)}. If "
            f"the first value is the one to differentiate and the others are auxiliary data "
            f"(metrics, state), use {name}(f, has_aux=True), which gives "
            f"{'((value, aux), gradient)' if name == 'value_and_grad' else '(gradient, aux)'}; "
            f"for the derivatives of several outputs use fg.jacrev or fg.vjp")
    if isinstance(out, dict) or tree.structure(out).num_nodes > 1:
        raise TypeError(
            f"{name} requires a scalar output, but {fname} returned {describe_value(out)} "
            f"({tree.structure(out)}); return one scalar (put the rest in aux with "
            f"has_aux=True), or use fg.jacrev or fg.vjp for several outputs")


def _leaf_error(name: str, i: int, path: str, leaf) -> TypeError:
    """The error for an argument leaf that is not an array or number."""
    return TypeError(
        f"{name}: argument {i}{path} is {describe_value(leaf)}, which is not an array or a "
        f"number, so it cannot be differentiated (leave it out of argnums if it is not a "
        f"parameter). {tree.unknown_leaf_hint(leaf)}")


def _check_float_args(name: str, diff_args, argnums) -> None:
    for i, arg in zip(argnums, diff_args):
        if arg is None:
            raise TypeError(
                f"{name}: argument {i} is None, so there is nothing to differentiate; pass an "
                f"array (e.g. np.zeros(3)) or pick the arguments to differentiate with argnums")
        for path, leaf in tree.flatten_with_paths(arg):
            if not isinstance(leaf, (np.ndarray, Tracer, bool, int, float, complex, np.generic)):
                raise _leaf_error(name, i, path, leaf)
            dt = type_of(as_value(leaf)).dtype
            if not is_float(dt):
                raise TypeError(
                    f"{name}: argument {i}{path} has dtype {dt}; only floating-point inputs "
                    f"can be differentiated. Pass it as floats (e.g. x.astype(float)) or leave "
                    f"it out of argnums{where()}")


def _partial_argnums(fun, args, kwargs, argnums):
    def f(*diff):
        full = list(args)
        for i, d in zip(argnums, diff):
            full[i] = d
        return fun(*full, **kwargs)
    return f


def vjp(fun: Callable, *primals: Any, has_aux: bool = False) -> tuple:
    """Reverse mode: `(out, vjp_fn)`; `vjp_fn(cotangent)` gives one cotangent per primal.

    >>> import funcgrad as fg, numpy as np
    >>> out, f_vjp = fg.vjp(lambda x: x ** 2, np.array([1.0, 2.0]))
    >>> f_vjp(np.ones(2))
    (array([2., 4.]),)
    """
    flat, in_tree = tree.flatten(tuple(as_value_tree(p) for p in primals))
    store: list = []
    aux_store: list = []
    target = fun
    if has_aux:
        def target(*args):
            return _split_aux(fun(*args), aux_store)
    out_flat, flat_vjp = vjp_flat(_flatten_fun(target, in_tree, store), flat, "vjp")
    out_tree = store[0]
    out = tree.unflatten(out_tree, [as_output(o) for o in out_flat])
    in_avals = [type_of(x) for x in flat]

    def vjp_fn(cotangent):
        ct_flat, ct_tree = tree.flatten(cotangent)
        if ct_tree != out_tree:
            raise ValueError(f"vjp: the cotangent has structure {ct_tree}, but the function's "
                             f"output has structure {out_tree}")
        for c, o in zip(ct_flat, out_flat):
            if np.shape(c) != np.shape(o) and getattr(c, "shape", None) != getattr(o, "shape",
                                                                                    ()):
                raise ValueError(f"vjp: cotangent of shape {np.shape(c)} for an output of shape "
                                 f"{np.shape(o)}")
        cts = flat_vjp([as_value(c) for c in ct_flat])
        cts = [as_output(zeros(a.strong())) if c is None else as_output(c)
               for c, a in zip(cts, in_avals)]
        return tuple(tree.unflatten(in_tree, cts))

    if has_aux:
        return out, vjp_fn, aux_store[0]
    return out, vjp_fn


def as_value_tree(x):
    return tree.map(as_value, x)


def value_and_grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
                   holomorphic: bool = False) -> Callable:
    """A function returning `(fun(*args), grad)`; with has_aux, `((value, aux), grad)`.

    Complex numbers follow JAX: for a real output and complex inputs the gradient is the
    conjugate of the direction of steepest ascent (2 conj(z) for |z|^2); a complex output
    needs `holomorphic=True` (complex inputs, and the gradient is f'(z)).

    >>> import funcgrad as fg, numpy as np
    >>> fg.value_and_grad(lambda x: x ** 2)(3.0)
    (array(9.), array(6.))
    >>> fg.value_and_grad(lambda z: z ** 2, holomorphic=True)(np.array(1.0 + 1.0j))
    (array(0.+2.j), array(2.+2.j))
    """
    return _value_and_grad(fun, argnums, has_aux, holomorphic, "value_and_grad")


def _value_and_grad(fun: Callable, argnums, has_aux: bool, holomorphic: bool,
                    name: str) -> Callable:
    """value_and_grad's function, or grad's (`name` "grad": the gradient, and aux)."""
    # Checks of the transformation's own arguments run once, here; per call, the argument and
    # output checks run only on the slow path (a value that is not a float array).
    _check_fun(name, fun)
    argnums = check_argnums(name, argnums)

    @functools.wraps(fun)
    def wrapped(*args, **kwargs):
        x = args[argnums] if type(argnums) is int and -len(args) <= argnums < len(args) \
            and not holomorphic else None
        if type(x) is float or type(x) is np.ndarray and x.dtype.kind == "f":
            # the commonest call, grad(f)(x) at a float or a float array: checks it needs none
            nums, flat, in_tree = (argnums % len(args),), [np.asarray(x)], _ONE_LEAF
        else:
            nums = _argnums_tuple(argnums, len(args), name)
            flat0, in_tree = tree.flatten(tuple(args[i] for i in nums))
            try:
                flat = [as_value(x) for x in flat0]
            except TypeError:
                flat = None
            if holomorphic or flat is None or len(flat) < len(nums) or \
                    not all(is_float(x.dtype) for x in flat):
                if holomorphic and flat is not None:
                    _check_complex_args(name, tree.unflatten(in_tree, flat), nums)
                else:
                    _check_float_args(name, tree.unflatten(in_tree, flat0), nums)
                if flat is None:
                    flat = [as_value(x) for x in flat0]
        aux_store: list = []

        def flat_fun(*flat_diff):
            full = list(args)
            if in_tree is _ONE_LEAF:
                full[nums[0]] = flat_diff[0]
            else:
                for i, d in zip(nums, tree.unflatten(in_tree, flat_diff)):
                    full[i] = d
            out = fun(*full, **kwargs)
            if type(out) is not np.ndarray and not isinstance(out, Tracer):
                _check_output(name, fun, out, has_aux)
            if has_aux:
                out = _split_aux(out, aux_store, name)
            return [out]

        def seed(outs: list) -> list:
            out = outs[0] = as_output(outs[0]) \
                if not isinstance(outs[0], (tuple, list, dict)) else outs[0]
            _check_scalar_output(name, out, holomorphic)
            # (np.array, not np.ones: 0.1 against 0.7 us, a tenth of a scalar gradient's time)
            return [_ones_like(out) if isinstance(out, Tracer) else np.array(1, out.dtype)]

        (out,), cts = grad_flat(flat_fun, flat, name, seed)
        out = as_output(out)
        cts = [as_output(zeros(type_of(x).strong())) if c is None else as_output(c)
               for c, x in zip(cts, flat)]
        if in_tree is _ONE_LEAF and type(argnums) is int:
            g = cts[0]
        else:
            g = tree.unflatten(in_tree, cts)
            g = g[0] if isinstance(argnums, int) else g
        if name == "grad":
            return (g, aux_store[0]) if has_aux else g
        return ((out, aux_store[0]), g) if has_aux else (out, g)
    return wrapped


_ONE_LEAF = tree.flatten((0.0,))[1]     # the structure of one differentiated argument


def _split_aux(out, aux_store: list, name: str = "vjp"):
    """(value, aux) -> value; aux is kept with its primal values (it has no derivative)."""
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise TypeError(
            f"{name} with has_aux=True requires the function to return a pair (output, aux), "
            f"but it returned {describe_value(out)}{where()}; put the auxiliary values in one "
            f"container: return loss, (metric1, metric2)")
    jt = current_trace()
    aux_store.append(tree.map(lambda a: a.primal if isinstance(a, Tracer) and a._trace is jt
                              and hasattr(a, "primal") else a, out[1]))
    return out[0]


def _ones_like(x):
    return full(shape=x.shape, fill_value=1, dtype=x.dtype)


def _check_scalar_output(name: str, out, holomorphic: bool = False) -> None:
    if type(out) is np.ndarray and out.shape == () and out.dtype.kind == "f" \
            and not holomorphic:
        return
    if not isinstance(out, (np.ndarray, Tracer)):
        raise TypeError(f"{name} requires the function to return one scalar array, got "
                        f"{tree.structure(out)}; use fg.vjp or fg.jacrev for other outputs")
    aval = type_of(out)
    if aval.shape != () or not is_float(aval.dtype):
        raise TypeError(
            f"{name} requires a real floating-point scalar output (shape ()), but the function "
            f"returned {aval.short()}. For a non-scalar output use fg.vjp or fg.jacrev, or "
            f"reduce it first (e.g. .sum()); integer outputs have no gradient.")
    check_output_kind(name, aval, holomorphic)


def check_output_kind(name: str, aval, holomorphic: bool) -> None:
    """Complex outputs need holomorphic=True, and holomorphic=True needs complex outputs."""
    if aval.dtype.kind == "c" and not holomorphic:
        raise TypeError(
            f"{name} requires real-valued outputs, but the function returned {aval.short()}"
            f"{where()}. For a holomorphic function pass holomorphic=True; for other complex "
            f"outputs differentiate fnp.real(out) and fnp.imag(out), or use fg.vjp directly.")
    if holomorphic and aval.dtype.kind != "c":
        raise TypeError(f"{name} with holomorphic=True requires complex outputs, but the "
                        f"function returned {aval.short()}{where()}")


def _check_complex_args(name: str, diff_args, argnums) -> None:
    for i, arg in zip(argnums, diff_args):
        for path, leaf in tree.flatten_with_paths(arg):
            dt = type_of(as_value(leaf)).dtype
            if dt.kind != "c":
                raise TypeError(
                    f"{name} with holomorphic=True requires complex inputs, but argument {i}"
                    f"{path} has dtype {dt}; pass it as complex (x.astype(complex)){where()}")


def grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
         holomorphic: bool = False) -> Callable:
    """The gradient of a scalar function, shaped and typed like the arguments in `argnums`.

    `argnums` (an int or a tuple of ints) picks the arguments to differentiate (a tuple gives
    a tuple of gradients); with `has_aux` the function returns `(value, aux)` and the result is
    `(gradient, aux)`, aux undifferentiated. The output must be a real scalar of shape ()
    (a shape-(1,) array is refused, as in JAX: reduce it with `.sum()`); a complex output needs
    `holomorphic=True`, which gives f'(z).

    >>> import funcgrad as fg, funcgrad.numpy as fnp
    >>> fg.grad(lambda x: x ** 2)(3.0)
    array(6.)
    >>> fg.grad(lambda x: fnp.sin(x ** 2))(1.0)      # 2x cos(x^2)
    array(1.08060461)
    >>> fg.grad(lambda x, y: x * y, argnums=(0, 1))(2.0, 3.0)
    (array(3.), array(2.))
    """
    return _value_and_grad(fun, argnums, has_aux, holomorphic, "grad")


def jvp(fun: Callable, primals: Sequence, tangents: Sequence) -> tuple[Any, Any]:
    """Forward mode: `(fun(*primals), J @ tangents)`.

    >>> import funcgrad as fg, funcgrad.numpy as fnp
    >>> fg.jvp(fnp.sin, (0.0,), (1.0,))
    (array(0.), array(1.))
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp: primals and tangents must be tuples (one entry per argument), "
                        f"got {type(primals).__name__} and {type(tangents).__name__}")
    flat_p, in_tree = tree.flatten(tuple(as_value_tree(p) for p in primals))
    flat_t, t_tree = tree.flatten(tuple(as_value_tree(t) for t in tangents))
    if in_tree != t_tree:
        raise ValueError(f"jvp: tangents have structure {t_tree} but primals have {in_tree}")
    for p, t in zip(flat_p, flat_t):
        ap, at = type_of(p), type_of(t)
        if ap.shape != at.shape:
            raise ValueError(f"jvp: tangent of shape {at.shape} for a primal of shape "
                             f"{ap.shape}; they must match")
    flat_t = [t if is_float(type_of(p).dtype) else None for p, t in zip(flat_p, flat_t)]
    flat_t = [t if t is None or type_of(t).dtype == type_of(p).dtype
              else t.astype(type_of(p).dtype) for p, t in zip(flat_p, flat_t)]
    store: list = []
    out_p, out_t = jvp_flat(_flatten_fun(fun, in_tree, store), flat_p, flat_t)
    out_t = [zeros(type_of(p).strong()) if t is None else t for p, t in zip(out_p, out_t)]
    return (tree.unflatten(store[0], [as_output(o) for o in out_p]),
            tree.unflatten(store[0], [as_output(t) for t in out_t]))


def linearize(fun: Callable, *primals: Any) -> tuple[Any, Callable]:
    """`(out, f_jvp)` where f_jvp(*tangents) is the linear map at `primals` (evaluated once).

    >>> import funcgrad as fg, funcgrad.numpy as fnp
    >>> out, f_jvp = fg.linearize(fnp.sin, 0.0)
    >>> f_jvp(2.0)
    array(2.)
    """
    flat, in_tree = tree.flatten(tuple(as_value_tree(p) for p in primals))
    store: list = []
    out, graph = linearize_flat(_flatten_fun(fun, in_tree, store), flat, "linearize",
                                linearizing=False)
    mask = graph.info["linear_inputs"]

    def f_jvp(*tangents):
        flat_t, t_tree = tree.flatten(tuple(as_value_tree(t) for t in tangents))
        if t_tree != in_tree:
            raise ValueError(f"linearize: tangents have structure {t_tree}, expected {in_tree}")
        outs = eval_graph(graph, [t for t, m in zip(flat_t, mask) if m])
        return tree.unflatten(store[0], [as_output(o) for o in outs])

    return tree.unflatten(store[0], [as_output(o) for o in out]), f_jvp


def checkpoint(fun: Callable) -> Callable:
    """Rematerialise: in reverse mode, store only `fun`'s inputs and recompute its
    intermediates during the backward pass (less memory, one more forward evaluation).

    >>> import funcgrad as fg, funcgrad.numpy as fnp
    >>> f = fg.checkpoint(lambda x: fnp.sin(fnp.sin(x)))
    >>> round(float(fg.grad(f)(0.5)), 6) == round(float(fnp.cos(fnp.sin(0.5)) * fnp.cos(0.5)), 6)
    True
    """
    def fwd(*args):
        return fun(*args), args

    def bwd(args, ct):
        return vjp(fun, *args)[1](ct)

    rule = CustomVJP(getattr(fun, "__name__", "fun"), fun, fwd, bwd, in_forward_mode="run")

    @functools.wraps(fun)
    def wrapped(*args):
        try:
            return current_trace().process_custom_vjp(rule, args)
        except UnexpectedTracerError:
            # `fun` closes over a value being differentiated: the rule runs `fwd` outside that
            # differentiation, where the value cannot be used. Differentiate `fun` directly
            # (same derivatives, nothing rematerialised).
            return fun(*args)

    return wrapped


def stop_gradient(x: Any) -> Any:
    """Identity on values, zero derivative: the functional `detach` (maps over pytrees).

    >>> import funcgrad as fg
    >>> fg.grad(lambda x: x * fg.stop_gradient(x))(3.0)
    array(3.)
    """
    return tree.map(lambda v: stop_gradient_p.bind(as_value(v)), x)


def make_graph(fun: Callable, static_argnums: int | Sequence[int] = ()) -> Callable:
    """Trace `fun` abstractly for the given arguments and return its Graph.

    >>> import funcgrad as fg, numpy as np
    >>> print(fg.make_graph(lambda x: np.sin(x) * 2.0)(np.ones(3)))
    { lambda x:f64[3] ;
        a:f64[3] = sin x
        b:f64[3] = mul a 2.0:f64[]
      in (b) }
    """
    static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    @functools.wraps(fun)
    def wrapped(*args, **kwargs):
        graph, _ = trace_to_graph(fun, args, kwargs, static, "make_graph")
        return dce(graph)   # show what is computed: a gradient graph drops the unused value
    return wrapped


def trace_to_graph(fun, args, kwargs, static, kind: str, avals=None, static_hint=None,
                   arg_index=None):
    """Trace `fun` abstractly; returns (Graph, out_tree). Static args are passed as is.
    `avals` overrides the input types; `arg_index` gives each flat input's user argument."""
    dyn_idx = [i for i in range(len(args)) if i not in static]
    dyn = tuple(as_value_tree(args[i]) for i in dyn_idx) if avals is None else \
        tuple(args[i] for i in dyn_idx)
    flat, in_tree = tree.flatten(dyn)
    trace = GraphTrace(current_trace(), kind)
    trace.source = user_source()
    trace.static_hint = static_hint
    tracers = [trace.new_arg(type_of(x).strong() if avals is None else a)
               for x, a in zip(flat, avals or flat)]
    if arg_index is None:
        arg_index = [i for i, a in zip(dyn_idx, dyn) for _ in tree.leaves(a)]
    trace.arg_of = dict(zip(trace.invars, arg_index))
    dyn_args = tree.unflatten(in_tree, tracers)
    full = list(args)
    for i, a in zip(dyn_idx, dyn_args):
        full[i] = a
    prev = set_trace(trace)
    try:
        out = fun(*full, **kwargs)
        flat_out, out_tree = tree.flatten(out)
        graph = trace.to_graph(trace.invars, flat_out)
    except ValueError as err:
        reraise_conversion(err)
        raise
    finally:
        set_trace(prev)
        trace.alive = False
    graph.names = _arg_names(fun, dyn_idx, dyn, graph)
    graph.info.update(in_tree=in_tree, out_tree=out_tree)
    return graph, out_tree


def _arg_names(fun, dyn_idx, dyn, graph: Graph):
    try:
        params = list(inspect.signature(fun).parameters)
    except (TypeError, ValueError):
        return None
    names, k = {}, 0
    for i, a in zip(dyn_idx, dyn):
        n = len(tree.leaves(a))
        if n == 1 and i < len(params) and len(params[i]) <= 3 and params[i].isidentifier():
            names[graph.invars[k]] = params[i]
        k += n
    return names


