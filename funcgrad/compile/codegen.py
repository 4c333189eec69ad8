"""Graph -> the source of one straight-line Python function over NumPy, compiled with exec.

Each equation becomes one assignment: the primitive's `lower` rule gives its NumPy expression
(or its `impl` is called). Values are freed after their last use (large ones), and ufuncs write
into a dead input's buffer (`out=`) when that is safe: the buffer was allocated by a `fresh`
primitive of this function, is not an input, output or constant, no primitive that may return
a view of its operands (one that is not `fresh`) has read it, and it has the result's shape
and dtype. The code generator knows no primitive by name.
"""
from __future__ import annotations

import functools

import numpy as np

from ..core.ir import Graph, Lit, Var

_FREE_MIN = 4096       # elements; smaller values are not worth a `del`
_REUSE_MIN = 256       # elements; below this, out= costs more than it saves


def _names():
    i = 0
    while True:
        yield f"v{i}"
        i += 1


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
    if not bind:
        # A 0-d array argument becomes a NumPy scalar: ufuncs on scalars cost half as much
        # (sin 140 against 300 ns), and Python's operators apply (see call_lowering).
        for v in graph.invars:
            a = v.aval
            if a.shape == () and not a.weak and a.dtype.kind in "fc" and v in last_use:
                n = name_of[v]
                lines.append(f"    {n} = {n}[()] if {n}.__class__ is {ns(np.ndarray)} else {n}")
    origins: dict[int, object] = {}
    for i, eqn in enumerate(graph.eqns):
        prim = eqn.primitive
        args = [atom(v) for v in eqn.inputs]
        outs = [next(names) for _ in eqn.outputs]
        for v, n in zip(eqn.outputs, outs):
            name_of[v] = n
        if not prim.fresh:
            # The result may share an operand's memory (a view, a branch handing its operand
            # back): never overwrite the operands, and copy the result if it is returned.
            in_vars = [v for v in eqn.inputs if isinstance(v, Var)]
            viewed.update(in_vars)
            if any(v in aliased for v in in_vars):
                aliased.update(eqn.outputs)
        lowering = None if bind or prim.lower is None else \
            prim.lower([v.aval for v in eqn.inputs], eqn.params)
        if bind:
            fn = prim.bind if not eqn.params else functools.partial(prim.bind, **eqn.params)
            expr = f"{ns(fn, prim.name)}({', '.join(args)})"
        elif lowering is not None:
            refs = {k: ns(obj) for k, obj in lowering.refs.items()}
            expr = lowering.template.format(*args, **refs)
            out_v = eqn.outputs[0] if eqn.outputs else None
            if lowering.out and out_v is not None and out_v.aval.size >= _REUSE_MIN:
                for v in eqn.inputs:
                    if (isinstance(v, Var) and v in fresh and v not in viewed
                            and v not in pinned and last_use.get(v) == i
                            and v.aval.shape == out_v.aval.shape
                            and v.aval.dtype == out_v.aval.dtype):
                        expr = f"{expr[:-1]}, out={name_of[v]})"
                        break
        else:
            impl = prim.impl if not eqn.params else functools.partial(prim.impl, **eqn.params)
            expr = f"{ns(impl, prim.name)}({', '.join(args)})"
        if prim.fresh and not bind:
            fresh.update(eqn.outputs)
        target = ", ".join(outs) if prim.multiple_results else outs[0]
        if prim.multiple_results and len(outs) == 1:
            target += ","
        lines.append(f"    {target} = {expr}" if target else f"    {expr}")
        origins[len(lines)] = eqn      # line number in the generated source -> its equation
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
    ns.values["__funcgrad_origins__"] = origins
    return "\n".join(lines) + "\n", ns.values


def compile_graph(graph: Graph, fn_name: str = "compiled", copy_outputs: bool = True,
                  bind: bool = False):
    """Generate, exec and return (function, source)."""
    src, globs = generate(graph, fn_name, copy_outputs, bind)
    code = compile(src, f"<funcgrad.jit {fn_name}>", "exec")
    exec(code, globs)
    return globs[fn_name], src


def failing_equation(err: BaseException):
    """The equation whose generated line raised `err` (from its traceback), or None.

    >>> failing_equation(ValueError("not from generated code")) is None
    True
    """
    tb, found = err.__traceback__, None
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_filename.startswith("<funcgrad.jit"):
            found = frame.f_globals.get("__funcgrad_origins__", {}).get(tb.tb_lineno, found)
        tb = tb.tb_next
    return found
