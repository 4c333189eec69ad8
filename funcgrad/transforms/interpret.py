"""Evaluate a Graph by binding each equation's primitive (works under any outer trace)."""
from __future__ import annotations

from ..core.ir import Graph, Lit


def eval_graph(graph: Graph, args: list) -> list:
    """Run `graph` on `args`, one equation at a time, in order (no recursion)."""
    env = dict(zip(graph.constvars, graph.consts))
    env.update(zip(graph.invars, args, strict=True))

    def read(v):
        return v.val if isinstance(v, Lit) else env[v]

    for eqn in graph.eqns:
        out = eqn.primitive.bind(*[read(v) for v in eqn.inputs], **eqn.params)
        if eqn.primitive.multiple_results:
            env.update(zip(eqn.outputs, out))
        else:
            env[eqn.outputs[0]] = out
    return [read(v) for v in graph.outvars]
