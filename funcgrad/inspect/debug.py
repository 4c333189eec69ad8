"""NaN/Inf debugging: find the first equation, and the user's line, that produced a NaN or Inf."""
from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from .. import tree
from ..core.ir import Graph, Lit, _Printer
from ..core.trace import EvalTrace, as_output, current_trace
from ..core.types import dtype_short
from ..transforms.api import as_value_tree, trace_to_graph
from ..transforms.interpret import eval_graph
from .render import backward_mask


def debug_nans(fun: Callable, static_argnums=()) -> Callable:
    """Wrap `fun` so that the first NaN or Inf it creates raises FloatingPointError.

    The wrapped function traces `fun` to a graph (so `grad(f)` is checked through its backward
    pass too), then runs the graph one equation at a time. At the first equation whose output
    holds a NaN (or an Inf) although none of its inputs did, it raises FloatingPointError
    naming the primitive, the user's source line and a summary of the input values. Otherwise
    it returns what `fun` returns. NumPy's floating-point warnings are silenced meanwhile.
    Under another transformation (values are symbolic there) it simply calls `fun`.

    >>> import funcgrad.numpy as fnp, numpy as np
    >>> debug_nans(fnp.log)(np.array([1.0, 2.0]))
    array([0.        , 0.69314718])
    >>> debug_nans(fnp.log)(np.array([1.0, 0.0]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FloatingPointError: debug_nans: `log` produced -inf (1 of 2 values) from finite inputs, ...
    """
    static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    @functools.wraps(fun)
    def wrapped(*args, **kwargs):
        if not isinstance(current_trace(), EvalTrace):
            return fun(*args, **kwargs)
        graph, out_tree = trace_to_graph(fun, args, kwargs, static, "debug_nans")
        dyn = tuple(as_value_tree(a) for i, a in enumerate(args) if i not in static)
        outs = eval_graph_checked(graph, tree.flatten(dyn)[0])
        return tree.unflatten(out_tree, [as_output(o) for o in outs])
    return wrapped


def eval_graph_checked(graph: Graph, args: list) -> list:
    """Evaluate `graph` on concrete `args` equation by equation, raising FloatingPointError at
    the first equation that creates a NaN or Inf (see `debug_nans`).

    >>> import funcgrad as fg, numpy as np
    >>> g = fg.make_graph(lambda x: np.sqrt(x) + 1.0)(np.ones(2))
    >>> eval_graph_checked(g, [np.array([4.0, 9.0])])
    [array([3., 4.])]
    """
    def check(i, eqn, ins, outs):
        problem = _new_nonfinite(ins, outs)
        if problem is not None:
            raise FloatingPointError(_message(graph, i, ins, list(outs), problem))

    with np.errstate(all="ignore"):
        return eval_graph(graph, args, on_eqn=check)


def _counts(x) -> tuple[int, int]:
    """(number of NaNs, number of infinities) in a concrete value (0, 0 if not inexact)."""
    a = np.asarray(x)
    if a.dtype.kind not in "fc":
        return 0, 0
    nan = int(np.count_nonzero(np.isnan(a)))
    return nan, int(np.count_nonzero(np.isinf(a)))


def _new_nonfinite(ins: list, outs: list) -> str | None:
    """'nan', '-inf', 'inf' or 'inf and -inf' when the outputs hold a kind the inputs do not."""
    in_nan = in_inf = False
    for x in ins:
        n, f = _counts(x)
        in_nan, in_inf = in_nan or n > 0, in_inf or f > 0
    for x in outs:
        n, f = _counts(x)
        if n and not in_nan:
            return "nan"
        if f and not in_inf:
            a = np.asarray(x)
            signs = [s for s, hit in (("inf", np.any(a == np.inf)), ("-inf", np.any(a == -np.inf)))
                     if hit]
            return " and ".join(signs) or "inf"
    return None


def _summary(x) -> str:
    a = np.asarray(x)
    kind = f"{dtype_short(a.dtype)}[{','.join(map(str, a.shape))}]"
    if a.size == 0:
        return f"{kind} (empty)"
    if a.dtype.kind not in "fciub":
        return kind
    nan, inf = _counts(a)
    finite = a[np.isfinite(a)] if a.dtype.kind in "fc" else a
    if a.dtype.kind == "c":
        finite = np.abs(finite)
    if finite.size:
        lo, hi = finite.min(), finite.max()
        rng = f"min={lo:.6g} max={hi:.6g}" if a.dtype.kind in "fc" else f"min={lo} max={hi}"
    else:
        rng = "no finite values"
    return f"{kind} {rng} nan={nan} inf={inf}"


def _message(graph: Graph, i: int, ins: list, outs: list, problem: str) -> str:
    eqn = graph.eqns[i]
    printer = _Printer()
    printer.graph(graph, 0)                     # the names graph.pretty() shows
    bad = next(np.asarray(o) for o in outs if _counts(o) != (0, 0))
    n_bad = sum(_counts(bad))
    origin = ("finite inputs" if all(_counts(x) == (0, 0) for x in ins)
              else "inputs without NaN" if problem == "nan" else "inputs without infinities")
    phase = "backward" if backward_mask(graph)[i] else "forward"
    where = eqn.source.long() if eqn.source is not None else "an unknown source line"
    lines = [f"debug_nans: `{eqn.primitive.name}` produced {problem} ({n_bad} of {bad.size} "
             f"values) from {origin}, in the {phase} pass",
             f"  at {where}",
             f"  equation {i}: {printer.eqn_line(eqn).splitlines()[0]}",
             "  inputs:"]
    for v, x in zip(eqn.inputs, ins):
        name = printer.name(v)
        lines.append(f"    {name} (literal)" if isinstance(v, Lit) else
                     f"    {name}: {_summary(x)}")
    lines.append("  print(fg.make_graph(f)(*args).pretty(source=True)) shows the whole graph")
    return "\n".join(lines)
