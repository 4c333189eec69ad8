"""Evaluate a Graph by binding each equation's primitive (works under any outer trace)."""
from __future__ import annotations

from collections.abc import Callable

from ..core.ir import Graph, Lit


def eval_graph(graph: Graph, args: list, on_eqn: Callable | None = None) -> list:
    """Run `graph` on `args`, one equation at a time, in order (no recursion).

    `on_eqn(index, eqn, inputs, outputs)`, if given, sees every equation's values as it runs
    (debug_nans checks them for new NaNs).

    >>> import funcgrad as fg, numpy as np
    >>> g = fg.make_graph(lambda x: np.sin(x) * 2.0)(np.zeros(2))
    >>> eval_graph(g, [np.zeros(2)])
    [array([0., 0.])]
    """
    env = dict(zip(graph.constvars, graph.consts))
    env.update(zip(graph.invars, args, strict=True))

    def read(v):
        return v.val if isinstance(v, Lit) else env[v]

    for i, eqn in enumerate(graph.eqns):
        ins = [read(v) for v in eqn.inputs]
        out = eqn.primitive.bind(*ins, **eqn.params)
        outs = out if eqn.primitive.multiple_results else [out]
        env.update(zip(eqn.outputs, outs))
        if on_eqn is not None:
            on_eqn(i, eqn, ins, outs)
    return [read(v) for v in graph.outvars]
