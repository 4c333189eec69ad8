"""The graph IR: Var, Lit, Eqn, Graph (typed SSA with source lines) and its printer."""
from __future__ import annotations

from typing import Any

import numpy as np

from .types import ArrayType, dtype_short


class Var:
    """An SSA variable: defined once, typed by an ArrayType. Named only when printed."""

    __slots__ = ("aval",)

    def __init__(self, aval: ArrayType):
        self.aval = aval

    def __repr__(self) -> str:
        return f"Var({self.aval.short()})"


class Lit:
    """A literal scalar inlined in an equation (kept a Python scalar so it stays weakly typed)."""

    __slots__ = ("val", "aval")

    def __init__(self, val: Any, aval: ArrayType):
        self.val, self.aval = val, aval

    def __repr__(self) -> str:
        return f"Lit({self.val!r})"


class Eqn:
    """One primitive application: `outputs = primitive[params](*inputs)`, from `source`."""

    __slots__ = ("primitive", "inputs", "outputs", "params", "source")

    def __init__(self, primitive, inputs: list, outputs: list, params: dict, source=None):
        self.primitive, self.inputs, self.outputs = primitive, inputs, outputs
        self.params, self.source = params, source

    def __repr__(self) -> str:
        return _Printer().eqn_line(self).strip()


class Graph:
    """A typed SSA graph: `invars` (and `constvars` bound to `consts`) -> `eqns` -> `outvars`.

    `print(graph)` (or `graph.pretty(source=True)`, with the user's lines) shows it as text.
    The drawing methods `to_dot()`, `render(path)` and `to_html(path)` are funcgrad.inspect's
    (installed on Graph when it is imported, as `import funcgrad` does): the IR knows no
    renderer.

    >>> import funcgrad as fg, numpy as np
    >>> g = fg.make_graph(lambda x: np.sin(x) * 2.0)(np.ones(3))
    >>> [e.primitive.name for e in g.eqns]
    ['sin', 'mul']
    """

    __slots__ = ("invars", "outvars", "eqns", "constvars", "consts", "names", "info")

    def __init__(self, invars, outvars, eqns, constvars=(), consts=(), names=None, info=None):
        self.invars, self.outvars, self.eqns = list(invars), list(outvars), list(eqns)
        self.constvars, self.consts = list(constvars), list(consts)
        self.names = names            # optional {Var: preferred name} (argument names)
        self.info = info or {}        # free-form: in/out pytree structure, etc.

    @property
    def in_avals(self) -> list[ArrayType]:
        return [v.aval for v in self.invars]

    @property
    def out_avals(self) -> list[ArrayType]:
        return [v.aval for v in self.outvars]

    def pretty(self, source: bool = False) -> str:
        """The graph as text, one equation a line; `source=True` adds the user's file:line."""
        return _Printer(source=source).graph(self, 0)

    def __str__(self) -> str:
        return self.pretty()

    def __repr__(self) -> str:
        return self.pretty()


class UndefinedPrimal:
    """Stands for the linear input of an equation being transposed: a transpose rule gets
    one for each input it must give a cotangent for (and the values of the others)."""

    __slots__ = ("aval",)

    def __init__(self, aval: ArrayType):
        self.aval = aval


def is_undefined(x) -> bool:
    """Is `x` the UndefinedPrimal of a linear input (not a known value)?"""
    return type(x) is UndefinedPrimal


def dce(graph: Graph) -> Graph:
    """Dead-code elimination: drop equations none of whose outputs is needed (side effects,
    such as debug callbacks, are always needed)."""
    live = {v for v in graph.outvars if isinstance(v, Var)}
    kept = []
    for eqn in reversed(graph.eqns):
        if eqn.primitive.effect or any(v in live for v in eqn.outputs):
            kept.append(eqn)
            live.update(v for v in eqn.inputs if isinstance(v, Var))
    kept.reverse()
    pairs = [(v, c) for v, c in zip(graph.constvars, graph.consts) if v in live]
    return Graph(graph.invars, graph.outvars, kept, [v for v, _ in pairs],
                 [c for _, c in pairs], graph.names, dict(graph.info))


def subgraphs(params: dict) -> list[Graph]:
    """The sub-graphs held in an equation's params (control flow, custom rules)."""
    out = []
    for value in params.values():
        if isinstance(value, Graph):
            out.append(value)
        elif isinstance(value, (tuple, list)):
            out.extend(v for v in value if isinstance(v, Graph))
    return out


def _name(i: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = letters[r] + s
    return s


class _Printer:
    """Assigns short names in order of appearance; shared across nested sub-graphs."""

    def __init__(self, source: bool = False):
        self.names: dict[Var, str] = {}
        self.used: set[str] = set()
        self.counter = 0
        self.source = source

    def name(self, v) -> str:
        if isinstance(v, Lit):
            return _lit(v)
        if v is None:
            return "_"
        n = self.names.get(v)
        if n is None:
            while True:
                n = _name(self.counter)
                self.counter += 1
                if n not in self.used:
                    break
            self.names[v] = n
            self.used.add(n)
        return n

    def binder(self, v) -> str:
        return f"{self.name(v)}:{v.aval.short()}"

    def graph(self, g: Graph, indent: int) -> str:
        if g.names:
            for v, n in g.names.items():
                if n not in self.used and v not in self.names:
                    self.names[v] = n
                    self.used.add(n)
        pad = " " * indent
        head = " ".join(self.binder(v) for v in g.invars)
        consts = " ".join(self.binder(v) for v in g.constvars)
        lines = [f"{pad}{{ lambda {head} ; {consts}".rstrip()]
        lines += [self.eqn_line(e, indent + 4) for e in g.eqns]
        outs = ", ".join(self.name(v) for v in g.outvars)
        lines.append(f"{pad}  in ({outs}) }}")
        return "\n".join(lines)

    def eqn_line(self, e: Eqn, indent: int = 0) -> str:
        outs = " ".join(self.binder(v) for v in e.outputs) or "_"
        params, subs = [], []
        for k in sorted(e.params):
            v = e.params[k]
            if isinstance(v, Graph) or (isinstance(v, (tuple, list)) and v
                                        and all(isinstance(s, Graph) for s in v)):
                subs.append((k, v))
            elif not k.startswith("_"):
                params.append(f"{k}={_param(v)}")
        p = f"[{', '.join(params)}]" if params else ""
        ins = " ".join(self.name(v) for v in e.inputs)
        line = f"{' ' * indent}{outs} = {e.primitive.name}{p} {ins}".rstrip()
        if self.source and e.source is not None:
            line = f"{line:<60}  # {e.source}"
        for k, sub in subs:
            graphs = [sub] if isinstance(sub, Graph) else list(sub)
            for i, g in enumerate(graphs):
                label = k if isinstance(sub, Graph) else f"{k}[{i}]"
                line += f"\n{' ' * (indent + 4)}{label}=\n" + self.graph(g, indent + 6)
        return line


def _lit(v: Lit) -> str:
    val = v.val
    if isinstance(val, (bool, np.bool_)):
        s = str(bool(val))
    elif isinstance(val, (float, np.floating)):
        s = repr(float(val))
    elif isinstance(val, (int, np.integer)):
        s = str(int(val))
    else:
        s = str(val)
    return f"{s}:{v.aval.short()}"


def _param(v) -> str:
    if isinstance(v, np.dtype) or (isinstance(v, type) and issubclass(v, np.generic)):
        return dtype_short(v)
    if callable(v) and hasattr(v, "__name__"):
        return v.__name__
    s = repr(v) if not isinstance(v, str) else v
    return s if len(s) <= 60 else s[:57] + "..."
