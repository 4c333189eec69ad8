"""Graph -> the source of one straight-line Python function over NumPy, compiled with exec.

Each equation becomes one assignment. Values are freed after their last use (large ones), and
elementwise ufuncs write into a dead input's buffer (`out=`) when that is safe: the buffer
was freshly allocated by this function, is not an input, output, constant or view, and has
the same shape and dtype.
"""
from __future__ import annotations

import functools

import numpy as np

from ..core.ir import Graph, Lit, Var

_FREE_MIN = 4096       # elements; smaller values are not worth a `del`
_REUSE_MIN = 256       # elements; below this, out= costs more than it saves
_VIEW_PRIMS = {"reshape", "broadcast_to", "transpose", "getitem", "rev", "stop_gradient",
               "convert_element_type"}
# Primitives whose result may be (a view of) an input: views, and control flow, whose
# branches and bodies may hand an operand back unchanged.
_MAY_ALIAS = _VIEW_PRIMS | {"cond", "scan", "while"}


def _names():
    i = 0
    while True:
        yield f"v{i}"
        i += 1


# Expressions for primitives whose NumPy call is short; others call their impl directly.
def _emit_table():
    def ufunc(fn):
        return lambda a, p, ns: f"{ns(fn)}({', '.join(a)})"

    def reduce(fn):
        return lambda a, p, ns: f"{ns(fn)}.reduce({a[0]}, axis={p['axes']!r})"

    def dot(a, p, ns):
        (lc, rc), (lb, _) = p["contract"], p["batch"]
        return None if lb else f"{ns(np.tensordot)}({a[0]}, {a[1]}, axes=({lc!r}, {rc!r}))"

    return {
        "reduce_sum": reduce(np.add), "reduce_max": reduce(np.maximum),
        "reduce_min": reduce(np.minimum), "reduce_prod": reduce(np.multiply),
        "reshape": lambda a, p, ns: f"{ns(np.reshape)}({a[0]}, {p['shape']!r})",
        "transpose": lambda a, p, ns: f"{ns(np.transpose)}({a[0]}, {p['perm']!r})",
        "broadcast_to": lambda a, p, ns: f"{ns(np.broadcast_to)}({a[0]}, {p['shape']!r})",
        "select": ufunc(np.where),
        "stop_gradient": lambda a, p, ns: a[0],
        "integer_pow": lambda a, p, ns: (f"{ns(np.square)}({a[0]})" if p["y"] == 2 else None),
        "dot_general": dot,
    }


_EMIT = _emit_table()


class _Namespace:
    """Globals of the generated function: NumPy functions and constants, by short name."""

    def __init__(self):
        self.values: dict[str, object] = {"np": np}
        self.ids: dict[int, str] = {}

    def __call__(self, obj, label: str | None = None) -> str:
        name = self.ids.get(id(obj))
        if name is None:
            base = label or getattr(obj, "__name__", "k")
            base = "".join(c if c.isalnum() else "_" for c in base)
            name = f"_{base}_{len(self.values)}"
            self.ids[id(obj)] = name
            self.values[name] = obj
        return name


def _literal(lit: Lit, ns: _Namespace) -> str:
    val = lit.val
    if type(val) in (int, bool) or (type(val) is float and np.isfinite(val)):
        return repr(val)
    return ns(val)


def _dot_fast(a: list[str], params, in_avals, ns) -> str | None:
    """np.dot / matmul for the common 1-D/2-D products without batch axes."""
    (lc, rc), (lb, rb) = params["contract"], params["batch"]
    x, y = in_avals
    if lb:
        nb = len(lb)
        if lb == rb == tuple(range(nb)) and x.ndim == y.ndim == nb + 2 and \
                lc == (nb + 1,) and rc == (nb,):
            return f"{ns(np.matmul)}({a[0]}, {a[1]})"
        return None
    if x.ndim <= 2 and y.ndim <= 2 and len(lc) == 1:
        xa = a[0] if lc[0] == x.ndim - 1 else f"{a[0]}.T"
        if y.ndim == 1 or rc[0] == 0:
            return f"{ns(np.matmul)}({xa}, {a[1]})"
        return f"{ns(np.matmul)}({xa}, {a[1]}.T)"
    return None


def generate(graph: Graph, fn_name: str = "compiled", copy_outputs: bool = True,
             bind: bool = False) -> tuple[str, dict]:
    """Python source of `def compiled(v0, v1, ...): ...` and its globals. With `copy_outputs`
    False, outputs may be inputs, views of them or NumPy scalars (for internal callers). With
    `bind`, each equation binds its primitive (so the function runs under any transformation,
    like `eval_graph` without the interpretation) instead of calling NumPy."""
    ns = _Namespace()
    names = _names()
    name_of: dict[Var, str] = {}
    for v, c in zip(graph.constvars, graph.consts):
        name_of[v] = ns(c)
    params_src = []
    for v in graph.invars:
        name_of[v] = next(names)
        params_src.append(name_of[v])

    # liveness: index of the last equation reading each var
    last_use: dict[Var, int] = {}
    for i, eqn in enumerate(graph.eqns):
        for v in eqn.inputs:
            if isinstance(v, Var):
                last_use[v] = i
    pinned = set(graph.invars) | set(graph.constvars) | {
        v for v in graph.outvars if isinstance(v, Var)}
    fresh: set[Var] = set()        # buffers this function allocated and may overwrite
    viewed: set[Var] = set()       # buffers some view still refers to
    # values that may share memory with an input or a constant: returned, they are copied
    aliased: set[Var] = set(graph.invars) | set(graph.constvars)

    def atom(v) -> str:
        return _literal(v, ns) if isinstance(v, Lit) else name_of[v]

    lines = [f"def {fn_name}({', '.join(params_src)}):"]
    for i, eqn in enumerate(graph.eqns):
        prim = eqn.primitive
        args = [atom(v) for v in eqn.inputs]
        outs = [next(names) for _ in eqn.outputs]
        for v, n in zip(eqn.outputs, outs):
            name_of[v] = n
        if prim.name in _MAY_ALIAS:     # the result may share the input's memory: never
            viewed.update(v for v in eqn.inputs if isinstance(v, Var))   # overwrite it
        if prim.name in _MAY_ALIAS and any(v in aliased for v in eqn.inputs
                                           if isinstance(v, Var)):
            aliased.update(eqn.outputs)
        expr = None
        emit_spec = prim.emit
        if bind:
            fn = prim.bind if not eqn.params else functools.partial(prim.bind, **eqn.params)
            expr = f"{ns(fn, prim.name)}({', '.join(args)})"
            emit_spec = None
        if expr is None and prim.name == "dot_general":
            expr = _dot_fast(args, eqn.params, [v.aval for v in eqn.inputs], ns)
        if expr is None and isinstance(emit_spec, tuple) and emit_spec[0] == "ufunc" \
                and not eqn.params:
            fn = emit_spec[1]
            expr = f"{ns(fn)}({', '.join(args)})"
            out_v = eqn.outputs[0]
            if out_v.aval.size >= _REUSE_MIN and isinstance(fn, np.ufunc):
                for v in eqn.inputs:
                    if (isinstance(v, Var) and v in fresh and v not in viewed
                            and v not in pinned and last_use.get(v) == i
                            and v.aval.shape == out_v.aval.shape
                            and v.aval.dtype == out_v.aval.dtype):
                        expr = f"{ns(fn)}({', '.join(args)}, out={name_of[v]})"
                        break
            fresh.add(out_v)
        if expr is None and prim.name in _EMIT:
            expr = _EMIT[prim.name](args, eqn.params, ns)
            if prim.name in ("dot_general", "reduce_sum", "reduce_max", "reduce_min",
                             "reduce_prod"):
                fresh.add(eqn.outputs[0])
        if expr is None:
            impl = prim.impl if not eqn.params else functools.partial(prim.impl, **eqn.params)
            expr = f"{ns(impl, prim.name)}({', '.join(args)})"
        elif prim.name == "dot_general":
            fresh.add(eqn.outputs[0])
        target = ", ".join(outs) if prim.multiple_results else outs[0]
        if prim.multiple_results and len(outs) == 1:
            target += ","
        lines.append(f"    {target} = {expr}" if target else f"    {expr}")
        dead = [name_of[v] for v in dict.fromkeys(eqn.inputs) if isinstance(v, Var)
                and last_use.get(v) == i and v not in pinned and v.aval.size >= _FREE_MIN]
        if dead:
            lines.append(f"    del {', '.join(dead)}")
    outs = []
    for v in graph.outvars:
        if not copy_outputs:
            outs.append(atom(v))
        elif isinstance(v, Lit):
            outs.append(f"{ns(np.asarray)}({_literal(v, ns)})")
        elif v in graph.constvars:
            outs.append(f"{name_of[v]}.copy()")    # never hand out the cached constant
        elif v.aval.ndim == 0 or v in aliased:
            # NumPy gives scalars for 0-d results; a returned input (or a view of one, or of a
            # constant) must not alias the caller's array or the cached constant
            outs.append(f"{ns(np.array)}({name_of[v]})")
        else:
            outs.append(name_of[v])
    lines.append(f"    return ({', '.join(outs)}{',' if len(outs) == 1 else ''})")
    return "\n".join(lines) + "\n", ns.values


def compile_graph(graph: Graph, fn_name: str = "compiled", copy_outputs: bool = True,
                  bind: bool = False):
    """Generate, exec and return (function, source)."""
    src, globs = generate(graph, fn_name, copy_outputs, bind)
    code = compile(src, f"<funcgrad.jit {fn_name}>", "exec")
    exec(code, globs)
    return globs[fn_name], src
