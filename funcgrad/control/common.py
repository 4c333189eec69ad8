"""Shared machinery of the control-flow primitives: tracing user functions into closed
sub-graphs, running sub-graphs as compiled NumPy code, and type checks with clear messages."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import tree
from ..compile.codegen import compile_graph
from ..compile.passes import optimize
from ..core.ir import Graph, Lit, Var
from ..core.source import user_source
from ..core.trace import GraphTrace, current_trace, reraise_conversion, set_trace
from ..core.types import ArrayType, is_float, type_of
from ..prims.elementwise import select
from ..prims.shape import bdim_to, reshape
from ..transforms.ad import linearize_flat
from ..transforms.api import as_value
from ..transforms.interpret import eval_graph
from ..transforms.vmap import batch_flat


def trace_flat(fun: Callable, avals: list[ArrayType], kind: str) -> tuple[Graph, list]:
    """Trace `fun(*flat_inputs) -> flat list` into a closed Graph.

    The values `fun` captures (arrays, or tracers of outer transformations) become leading
    invars of the graph; they are returned as `consts`, to be passed as explicit operands of
    the equation, so outer transformations (grad, jit, vmap) see them.

    >>> g, consts = trace_flat(lambda x: [x * 2.0], [ArrayType((3,), "float64")], "cond")
    >>> [e.primitive.name for e in g.eqns], consts
    (['mul'], [])
    """
    trace = GraphTrace(current_trace(), kind)
    trace.source = user_source()
    ins = [trace.new_arg(a) for a in avals]
    prev = set_trace(trace)
    try:
        outs = fun(*ins)
        graph = trace.to_graph(trace.invars, list(outs))
    except ValueError as err:
        reraise_conversion(err)
        raise
    finally:
        set_trace(prev)
        trace.alive = False
    closed = Graph(graph.constvars + graph.invars, graph.outvars, graph.eqns)
    return closed, list(graph.consts)


def trace_tree(fun: Callable, args: tuple, kind: str) -> tuple[Graph, list, object]:
    """Trace a user function of the pytree `args` (flattened); returns (graph, consts, out_tree).
    The graph's invars are the consts then the flat leaves of `args`."""
    flat, in_tree = tree.flatten(args)
    store = []

    def flat_fun(*leaves):
        out = fun(*tree.unflatten(in_tree, list(leaves)))
        flat_out, out_tree = tree.flatten(out)
        store.append(out_tree)
        return [output_value(o) for o in flat_out]

    graph, consts = trace_flat(flat_fun, [aval_of(x) for x in flat], kind)
    return graph, consts, store[0]


def aval_of(x) -> ArrayType:
    return type_of(x).strong()


def out_avals(graph: Graph) -> list[ArrayType]:
    """Output types of a sub-graph (a literal output such as `1.0` is typed strongly)."""
    return [v.aval.strong() for v in graph.outvars]


def runner(graph: Graph) -> Callable:
    """The sub-graph as a generated NumPy function, compiled once and kept in `graph.info`."""
    fn = graph.info.get("_compiled")
    if fn is None:
        fn, _ = compile_graph(optimize(graph), "body")
        graph.info["_compiled"] = fn
    return fn


def nonzero_outputs(graph: Graph, nonzero_in: list[bool]) -> list[bool]:
    """Which outputs can have a nonzero tangent when the inputs marked True do (a cheap,
    conservative dependency walk: float values computed from a marked input)."""
    live = {v for v, m in zip(graph.invars, nonzero_in) if m}
    for eqn in graph.eqns:
        if not eqn.primitive.nondiff and any(isinstance(v, Var) and v in live
                                             for v in eqn.inputs):
            live.update(v for v in eqn.outputs if is_float(v.aval.dtype))
    return [isinstance(v, Var) and v in live for v in graph.outvars]


def same_types(a: list[ArrayType], b: list[ArrayType]) -> bool:
    return len(a) == len(b) and all(x.shape == y.shape and x.dtype == y.dtype
                                    for x, y in zip(a, b))


def output_value(x):
    """A traced function's output: Python numbers stay weakly typed literals (so a branch
    returning `0.0` can match a float32 branch), anything else becomes an array."""
    return x if type(x) in (bool, int, float, complex) else as_value(x)


_KIND_ORDER = "biufc"


def fit_outputs(graph: Graph, targets: list[ArrayType]) -> Graph:
    """Cast the graph's weakly typed literal outputs (Python numbers) to the target types,
    as NumPy would (0.0 next to a float32 array is float32). Other outputs are unchanged."""
    outvars = list(graph.outvars)
    for i, (v, t) in enumerate(zip(outvars, targets)):
        if isinstance(v, Lit) and v.aval.weak and t.shape == () and \
                _KIND_ORDER.index(v.aval.dtype.kind) <= _KIND_ORDER.index(t.dtype.kind):
            outvars[i] = Lit(np.asarray(v.val, t.dtype)[()], ArrayType((), t.dtype))
    return Graph(graph.invars, outvars, graph.eqns) if outvars != graph.outvars else graph


def unify_types(graphs: list[Graph]) -> list[Graph]:
    """Branch graphs whose literal outputs take the type of the other branches' outputs."""
    if len({len(g.outvars) for g in graphs}) != 1:
        return graphs     # different structures: reported by the caller
    targets = []
    for outs in zip(*(g.outvars for g in graphs)):
        strong = [v.aval for v in outs if not v.aval.weak]
        targets.append(strong[0] if strong else outs[0].aval.strong())
    return [fit_outputs(g, targets) for g in graphs]


def describe(out_tree, avals: list[ArrayType]) -> str:
    """A pytree of type names, e.g. '(f64[3], {'b': i64[]})', for error messages."""
    shorts = [_Short(a) for a in avals]
    try:
        return str(tree.unflatten(out_tree, shorts))
    except Exception:   # a custom node that validates its leaves: list them instead
        return f"{out_tree} with leaves {shorts}"


class _Short:
    def __init__(self, aval: ArrayType):
        self.text = aval.short()

    def __repr__(self) -> str:
        return self.text


def join_branches(funs: list[Callable], avals: list[ArrayType], kind: str
                  ) -> tuple[tuple[Graph, ...], list]:
    """Trace each function over the same input types; every resulting graph takes the consts
    captured by all of them (each uses its own), then the inputs. Returns (graphs, consts)."""
    return join_traced([trace_flat(f, avals, kind) for f in funs])


def join_traced(traced: list[tuple[Graph, list]]) -> tuple[tuple[Graph, ...], list]:
    """Closed graphs with their own consts -> graphs taking the consts of all, then inputs."""
    const_vars = [g.invars[:len(cs)] for g, cs in traced]
    graphs = []
    for i, (g, cs) in enumerate(traced):
        invars = []
        for j, vs in enumerate(const_vars):
            invars += g.invars[:len(cs)] if j == i else [Var(v.aval) for v in vs]
        graphs.append(Graph(invars + g.invars[len(cs):], g.outvars, g.eqns))
    return tuple(graphs), [c for _, cs in traced for c in cs]


def linearize_graph(graph: Graph, nonzero: list[bool], kind: str):
    """Split `graph` for differentiation w.r.t. the inputs marked in `nonzero` (floats).

    Returns (fwd, consts, lin): `fwd` takes (consts, graph's inputs) and returns the graph's
    outputs followed by residuals; `lin` is linear, with `lin.constvars` the residuals (in the
    order fwd returns them), `lin.invars` the tangents of the marked inputs, and
    `lin.outvars` the tangents of all outputs."""
    store = []

    def fwd_fun(*args):
        def f(*dyn):
            it = iter(dyn)
            return eval_graph(graph, [next(it) if m else a for a, m in zip(args, nonzero)])
        outs, lin = linearize_flat(f, [a for a, m in zip(args, nonzero) if m], kind)
        store.append(lin)
        return list(outs) + list(lin.consts)

    fwd, consts = trace_flat(fwd_fun, [v.aval for v in graph.invars], kind)
    return fwd, consts, store[0]


def run(graph: Graph, args: list) -> list:
    """Evaluate a sub-graph on concrete values: interpreted the first time (a graph traced for
    one eager call is often used once), compiled from the second use on."""
    if "_compiled" in graph.info or graph.info.get("_ran"):
        outs = runner(graph)(*args)
    else:
        graph.info["_ran"] = True
        outs = eval_graph(graph, list(args))
    return [o if type(o) is np.ndarray else np.asarray(o, a.dtype)
            for o, a in zip(outs, out_avals(graph))]


def batch_graph(graph: Graph, dims: list, size: int, force: list[bool], kind: str):
    """The graph vmapped over `size` examples: inputs with dims[i] == 0 carry a leading batch
    axis. Outputs marked in `force`, or batched anyway, get their batch axis at 0.
    Returns (graph, consts, out_dims) with out_dims[i] in (0, None)."""
    avals = [v.aval if d is None else ArrayType((size,) + v.aval.shape, v.aval.dtype)
             for v, d in zip(graph.invars, dims)]
    out_dims: list = []

    def f(*args):
        outs, ods = batch_flat(lambda *a: eval_graph(graph, list(a)), list(args), list(dims),
                               size)
        out_dims.clear()
        res = []
        for o, d, fo in zip(outs, ods, force):
            batched = d is not None or fo
            res.append(bdim_to(as_value(o), d, 0, size) if batched else o)
            out_dims.append(0 if batched else None)
        return res

    g, consts = trace_flat(f, avals, kind)
    return g, consts, list(out_dims)


def to_front(vals: list, dims: list, size: int) -> tuple[list, list]:
    """Move each batched value's batch axis to 0; unbatched values stay as they are."""
    return ([v if d is None else bdim_to(v, d, 0, size) for v, d in zip(vals, dims)],
            [None if d is None else 0 for d in dims])


def select_batched(pred, on_true, on_false):
    """Per-example choice: `pred` has shape (batch,), the values a leading batch axis."""
    rank = len(on_true.shape)
    return select(reshape(pred, pred.shape + (1,) * (rank - 1)), on_true, on_false)
