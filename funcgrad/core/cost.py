"""A simple, documented cost model for graphs: FLOPs, bytes moved and peak live memory.

FLOPs come from each primitive's `cost` slot, which its family fills (deliberately simple
rules, so the numbers can be checked by hand):

- elementwise primitives count one FLOP per output element, transcendental functions (exp,
  log, tanh, ...) included; `dot_general` 2 * output size * contracted size;
- reductions (`reduce_*`, `argmax`, `argmin`, `cumsum`) count one FLOP per input element;
  `sort`/`argsort` count `n * ceil(log2 n)` comparisons along the sorted axis;
  `scatter_add` one addition per update element;
- shape and data-movement primitives (reshape, broadcast_to, transpose, concatenate, rev,
  getitem, scatter_set, full, stop_gradient, convert_element_type, real, imag) count zero;
- control flow: `scan` its body times the length, `cond` its costliest branch, `while` one
  iteration (the trip count is not known);
- a primitive without a `cost` counts the sum of its sub-graphs' FLOPs if it holds some, and
  otherwise zero, and is listed under `"uncounted"`.

Bytes: an equation reads the bytes of its variable inputs (literals are inlined scalars and
count nothing) and writes the bytes of its outputs.
"""
from __future__ import annotations

from .ir import Eqn, Graph, Lit, Var, subgraphs


def nbytes(v) -> int:
    """Bytes taken by the value of a variable (0 for literals, which are inlined)."""
    if isinstance(v, Lit) or v is None:
        return 0
    return v.aval.size * v.aval.dtype.itemsize


def eqn_flops(eqn: Eqn) -> int | None:
    """FLOPs of one equation under the rules in this module's docstring; None if unknown.

    >>> import funcgrad as fg, numpy as np
    >>> g = fg.make_graph(lambda a, b: a @ b)(np.ones((4, 3)), np.ones((3, 5)))
    >>> eqn_flops(g.eqns[0])          # 2 * (4 * 5) * 3
    120
    """
    prim = eqn.primitive
    if prim.cost is not None:
        return int(prim.cost(*[v.aval for v in eqn.inputs], **eqn.params))
    subs = subgraphs(eqn.params)
    if subs:
        return sum(graph_cost(g)["flops"] for g in subs)
    return None


def graph_cost(graph: Graph) -> dict:
    """Per-equation and total FLOPs and bytes, and the peak live memory of running `graph`.

    Returns a dict with `flops`, `bytes_read`, `bytes_written`, `bytes` (read + written),
    `input_bytes` (inputs and constants), `peak_bytes`, `uncounted` (names of primitives the
    model does not know) and `eqns`: one dict per equation with `index`, `primitive`, `flops`,
    `bytes_read`, `bytes_written`, `source`.

    `peak_bytes` is the largest live memory when the equations run in order and every value is
    freed right after its last use; inputs and constants stay live throughout, outputs from
    their definition to the end, and an equation's inputs and outputs are live together.

    >>> import funcgrad as fg, numpy as np
    >>> c = graph_cost(fg.make_graph(lambda x: np.sin(x) * 2.0)(np.ones(3)))
    >>> c["flops"], c["bytes_read"], c["bytes_written"], c["peak_bytes"]
    (6, 48, 48, 72)
    """
    eqns = graph.eqns
    last_use: dict[Var, int] = {}
    for i, e in enumerate(eqns):
        for v in e.inputs:
            if isinstance(v, Var):
                last_use[v] = i
    pinned = set(graph.invars) | set(graph.constvars) | {v for v in graph.outvars
                                                         if isinstance(v, Var)}
    for v in pinned:
        last_use[v] = len(eqns)

    live = sum(nbytes(v) for v in set(graph.invars) | set(graph.constvars))
    input_bytes = peak = live
    rows, uncounted = [], []
    for i, e in enumerate(eqns):
        flops = eqn_flops(e)
        if flops is None:
            flops = 0
            uncounted.append(e.primitive.name)
        read = sum(nbytes(v) for v in e.inputs)
        written = sum(nbytes(v) for v in e.outputs)
        rows.append(dict(index=i, primitive=e.primitive.name, flops=flops, bytes_read=read,
                         bytes_written=written, source=e.source))
        live += written
        peak = max(peak, live)
        # Free the inputs used for the last time here, and outputs that nothing reads.
        dying = {v for v in e.inputs if isinstance(v, Var) and last_use.get(v) == i}
        dying |= {v for v in e.outputs if v is not None and v not in last_use}
        live -= sum(nbytes(v) for v in dying)
    totals = {k: sum(r[k] for r in rows) for k in ("flops", "bytes_read", "bytes_written")}
    return dict(totals, bytes=totals["bytes_read"] + totals["bytes_written"],
                input_bytes=input_bytes, peak_bytes=peak,
                uncounted=list(dict.fromkeys(uncounted)), eqns=rows)
