"""Graphviz rendering of graphs: DOT text, and SVG/PNG/PDF files through the `dot` program.

Equations are boxes labelled with the primitive and the type of what they produce; inputs,
constants, literals and outputs have their own shapes; sub-graphs held by an equation
(control flow) are drawn as dashed clusters. In gradient graphs the forward part is blue and
the backward part orange (see `backward_mask`).
"""
from __future__ import annotations

import os
import shutil
import subprocess

from ..core.ir import Graph, Lit, Var, _param, _Printer, subgraphs
from ..prims.shape import full_p

FORWARD_COLOR = "#dbeafe"
BACKWARD_COLOR = "#fed7aa"

NO_DOT_MESSAGE = (
    "rendering needs the Graphviz `dot` program, which was not found on PATH. Install it with "
    "`apt install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS) or "
    "`conda install graphviz`; `pip install funcgrad[viz]` adds the Python bindings. "
    "graph.to_dot() and graph.to_html() work without it.")

_FORMATS = ("svg", "png", "pdf")


def backward_mask(graph: Graph) -> list[bool]:
    """For each equation, whether it belongs to the backward pass of a gradient graph.

    The forward part is everything the function's primal output depends on; the rest is
    backward. From the graph's structure alone:

    1. equations that depend (transitively) on a cotangent seed, the scalar
       `full[fill_value=1, shape=()]` that `grad` starts the backward pass with, are backward;
    2. the primal outputs are the values made by the other equations that are graph outputs
       or that nothing reads (`grad` drops the primal value);
    3. the other equations are forward if a primal output depends on them, and backward
       otherwise: they compute residuals only the backward pass reads, such as `cos x` for
       `sin x`.

    With no seed everything is forward. (A user function that builds a scalar `ones_like`
    itself looks like a seed; the colouring is a visual aid, not a semantic property.)

    >>> import funcgrad as fg, funcgrad.numpy as fnp
    >>> g = fg.make_graph(fg.value_and_grad(lambda x: fnp.sin(x)))(1.0)
    >>> [(e.primitive.name, b) for e, b in zip(g.eqns, backward_mask(g))]
    [('sin', False), ('cos', True), ('full', True), ('mul', True)]
    """
    eqns = graph.eqns
    seeded: set = set()
    from_seed = []
    for e in eqns:
        seed = (e.primitive is full_p and e.params.get("shape") == ()
                and e.params.get("fill_value") == 1)
        back = seed or any(isinstance(v, Var) and v in seeded for v in e.inputs)
        if back:
            seeded.update(v for v in e.outputs if v is not None)
        from_seed.append(back)
    if not any(from_seed):
        return from_seed
    read = {v for e in eqns for v in e.inputs if isinstance(v, Var)}
    outs = {v for v in graph.outvars if isinstance(v, Var)}
    needed = {v for e, back in zip(eqns, from_seed) if not back
              for v in e.outputs if v is not None and (v in outs or v not in read)}
    if not needed:                  # e.g. the primal output was optimised away
        return from_seed
    forward = [False] * len(eqns)
    for i in reversed(range(len(eqns))):          # ancestors of the primal outputs
        e = eqns[i]
        if not from_seed[i] and any(v in needed for v in e.outputs):
            forward[i] = True
            needed.update(v for v in e.inputs if isinstance(v, Var))
    return [not f for f in forward]


def _q(s: str) -> str:
    """A DOT double-quoted string."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _short_params(params: dict, limit: int = 30) -> str:
    # `shape` and `dtype` are visible in the output type, and an empty batch says nothing.
    shown = [f"{k}={_param(v)}".replace(", ", ",") for k, v in sorted(params.items())
             if not k.startswith("_") and k not in ("shape", "dtype") and not subgraphs({k: v})
             and not (k == "batch" and v == ((), ()))]
    text = ", ".join(shown)
    if not text:
        return ""
    return f"[{text}]" if len(text) <= limit else f"[{text[:limit - 3]}...]"


class _DotWriter:
    """Builds the DOT text; one printer so that names match `graph.pretty()`."""

    def __init__(self, graph: Graph):
        self.printer = _Printer()
        self.printer.graph(graph, 0)          # assign the same names as the text listing
        self.lines: list[str] = []
        self.counts = {"in": 0, "c": 0, "e": 0, "l": 0, "out": 0, "cluster": 0}

    def new_id(self, kind: str) -> str:
        n = self.counts[kind]
        self.counts[kind] = n + 1
        return f"{kind}{n}"

    def emit(self, indent: int, text: str) -> None:
        self.lines.append(" " * indent + text)

    def graph(self, g: Graph, indent: int, color: str | None) -> list[str]:
        """Emit the nodes and edges of `g`; returns the ids of its output nodes."""
        p = self.printer
        node_of: dict[Var, str] = {}
        for vars_, kind, shape, fill in ((g.invars, "in", "invhouse", "#e5e7eb"),
                                         (g.constvars, "c", "cylinder", "#f3f4f6")):
            for v in vars_:
                nid = node_of[v] = self.new_id(kind)
                self.emit(indent, f"{nid} [label={_q(p.binder(v))}, shape={shape}, "
                                  f"style=filled, fillcolor={_q(fill)}];")
        mask = backward_mask(g) if color is None else [None] * len(g.eqns)
        for e, back in zip(g.eqns, mask):
            fill = color or (BACKWARD_COLOR if back else FORWARD_COLOR)
            nid = self.new_id("e")
            outs = "\n".join(p.binder(v) for v in e.outputs if v is not None)
            label = f"{e.primitive.name}{_short_params(e.params)}\n{outs}".rstrip()
            tip = p.eqn_line(e).split("\n")[0] + (f"\n{e.source}" if e.source else "")
            self.emit(indent, f"{nid} [label={_q(label)}, tooltip={_q(tip)}, shape=box, "
                              f"style=\"rounded,filled\", fillcolor={_q(fill)}];")
            for i, v in enumerate(e.inputs):
                if isinstance(v, Lit):
                    lid = self.new_id("l")
                    self.emit(indent, f"{lid} [label={_q(p.name(v))}, shape=plaintext, "
                                      "fontsize=10];")
                    self.emit(indent, f"{lid} -> {nid} [style=dotted];")
                elif v in node_of:
                    self.emit(indent, f"{node_of[v]} -> {nid};")
                elif v is not None:               # a free variable of a sub-graph
                    self.emit(indent, f"// input {i} of {nid} ({p.name(v)}) is defined outside")
            for v in e.outputs:
                if v is not None:
                    node_of[v] = nid
            for k, sub in ((k, s) for k, s in sorted(e.params.items()) if subgraphs({k: s})):
                graphs = [sub] if isinstance(sub, Graph) else list(sub)
                for j, sg in enumerate(graphs):
                    cid = self.new_id("cluster")
                    title = f"{e.primitive.name}: {k}" + ("" if isinstance(sub, Graph)
                                                         else f"[{j}]")
                    self.emit(indent, f"subgraph cluster_{cid} {{")
                    self.emit(indent + 2, f"label={_q(title)}; style=dashed; color=gray40;")
                    sub_outs = self.graph(sg, indent + 2, fill)
                    self.emit(indent, "}")
                    for o in sub_outs:
                        self.emit(indent, f"{o} -> {nid} [style=dashed, arrowhead=odot];")
        out_ids = []
        for v in g.outvars:
            oid = self.new_id("out")
            out_ids.append(oid)
            label = p.name(v) if isinstance(v, Lit) else p.binder(v)
            self.emit(indent, f"{oid} [label={_q(label)}, shape=house, style=filled, "
                              f"fillcolor=\"#d1fae5\"];")
            if isinstance(v, Var) and v in node_of:
                self.emit(indent, f"{node_of[v]} -> {oid};")
        return out_ids


def graph_to_dot(graph: Graph, title: str | None = None) -> str:
    """Graphviz DOT source for `graph` (one box per equation, clusters for sub-graphs).

    >>> import funcgrad as fg, numpy as np
    >>> dot = fg.make_graph(lambda x: np.sin(x) * 2.0)(np.ones(3)).to_dot()
    >>> dot.splitlines()[0], dot.count("shape=box")
    ('digraph funcgrad {', 2)
    """
    w = _DotWriter(graph)
    w.emit(0, "digraph funcgrad {")
    w.emit(2, "rankdir=TB; nodesep=0.3; ranksep=0.35; fontname=\"Helvetica\";")
    w.emit(2, 'node [fontname="Helvetica", fontsize=11]; edge [color=gray35];')
    has_backward = any(backward_mask(graph))
    label = title or ""
    if has_backward:
        label = (label + "\n" if label else "") + "blue: forward    orange: backward"
    if label:
        w.emit(2, f"labelloc=t; label={_q(label)};")
    w.graph(graph, 2, None)
    w.emit(0, "}")
    return "\n".join(w.lines) + "\n"


def _dot_program() -> str:
    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError(NO_DOT_MESSAGE)
    return exe


def run_dot(dot_text: str, fmt: str = "svg") -> bytes:
    """Run Graphviz `dot` on DOT text; returns the rendered bytes (RuntimeError if no `dot`).

    >>> run_dot("digraph { a -> b }")[:5]    # doctest: +SKIP
    b'<?xml'
    """
    if fmt not in _FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(_FORMATS)}")
    proc = subprocess.run([_dot_program(), f"-T{fmt}"], input=dot_text.encode(),
                          capture_output=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"dot failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def render(graph: Graph, path: str, format: str | None = None, title: str | None = None) -> str:
    """Write a drawing of `graph` to `path` (svg, png or pdf; from the suffix by default).

    Needs Graphviz's `dot` program; without it raises RuntimeError saying how to install it.

    >>> import funcgrad as fg, numpy as np
    >>> g = fg.make_graph(np.sin)(np.ones(3))
    >>> g.render("/tmp/sin.svg")           # doctest: +SKIP
    '/tmp/sin.svg'
    """
    fmt = format or (os.path.splitext(path)[1].lstrip(".").lower() or "svg")
    data = run_dot(graph_to_dot(graph, title), fmt)
    with open(path, "wb") as f:
        f.write(data)
    return path


def graph_to_svg(graph: Graph, title: str | None = None) -> str:
    """The drawing of `graph` as SVG text (for inlining in HTML); needs `dot`."""
    svg = run_dot(graph_to_dot(graph, title), "svg").decode()
    return svg[svg.find("<svg"):]
