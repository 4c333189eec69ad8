"""Graph -> Graph optimisation passes. Each is one linear, iterative walk over the equations."""
from __future__ import annotations

import numpy as np

from ..core.ir import Eqn, Graph, Lit, Var, dce
from ..core.types import ArrayType


def _rebuild(graph: Graph, outvars, eqns, const_pairs) -> Graph:
    g = Graph(graph.invars, outvars, eqns, [v for v, _ in const_pairs],
              [c for _, c in const_pairs], graph.names, dict(graph.info))
    return g


def _key(atom):
    if isinstance(atom, Lit):
        return ("lit", type(atom.val), atom.val if not isinstance(atom.val, float)
                or atom.val == atom.val else "nan", atom.aval)
    return atom


_COMMUTATIVE = {"add", "mul", "max", "min", "eq", "ne", "and", "or", "xor", "logaddexp"}


def _order(k):
    return (1, hash(k)) if isinstance(k, tuple) else (0, id(k))


def cse(graph: Graph) -> Graph:
    """Common-subexpression elimination: one equation per (primitive, inputs, params)."""
    seen: dict = {}
    subst: dict = {}
    eqns = []
    for eqn in graph.eqns:
        ins = [subst.get(v, v) if isinstance(v, Var) else v for v in eqn.inputs]
        try:
            if eqn.primitive.effect:
                raise TypeError   # each side effect happens: never merged with an equal one
            in_keys = tuple(_key(v) for v in ins)
            if eqn.primitive.name in _COMMUTATIVE:
                in_keys = tuple(sorted(in_keys, key=_order))
            key = (eqn.primitive, in_keys, tuple(sorted(eqn.params.items())))
            hash(key)
        except TypeError:
            key = None
        prev = seen.get(key) if key is not None else None
        if prev is not None:
            subst.update(zip(eqn.outputs, prev.outputs))
            continue
        new = Eqn(eqn.primitive, ins, eqn.outputs, eqn.params, eqn.source)
        if key is not None:
            seen[key] = new
        eqns.append(new)
    outs = [subst.get(v, v) if isinstance(v, Var) else v for v in graph.outvars]
    return _rebuild(graph, outs, eqns, list(zip(graph.constvars, graph.consts)))


_FOLD_MAX = 1 << 16   # don't bake huge arrays into the compiled function


def fold_and_simplify(graph: Graph) -> Graph:
    """Constant folding plus algebraic simplification (x*1, x+0, neg(neg x), reshape chains,
    transpose(transpose x), no-op broadcasts/converts, identity ops) in one forward walk."""
    const_of = dict(zip(graph.constvars, graph.consts))
    producer: dict[Var, Eqn] = {}
    subst: dict = {}
    eqns: list[Eqn] = []
    new_consts: list[tuple[Var, object]] = list(zip(graph.constvars, graph.consts))

    def value(atom):
        if isinstance(atom, Lit):
            return True, atom.val
        if atom in const_of:
            return True, const_of[atom]
        return False, None

    for eqn in graph.eqns:
        ins = [subst.get(v, v) if isinstance(v, Var) else v for v in eqn.inputs]
        prim, params = eqn.primitive, eqn.params
        if prim.effect:
            eqns.append(Eqn(prim, ins, eqn.outputs, params, eqn.source))
            continue
        out_aval = eqn.outputs[0].aval
        # 1. fold: every input known, small result, a plain (not multiple-result) primitive
        if not prim.multiple_results and prim.impl is not None and \
                out_aval.size <= _FOLD_MAX and not _has_subgraph(params):
            known = [value(v) for v in ins]
            if all(k for k, _ in known):
                with np.errstate(all="ignore"):
                    val = prim.impl(*[v for _, v in known], **params)
                val = np.asarray(val)
                if val.shape == out_aval.shape and val.dtype == out_aval.dtype:
                    subst[eqn.outputs[0]] = _const_atom(val, out_aval, const_of, new_consts)
                    continue
        # 2. simplify
        repl = _simplify(prim.name, ins, params, out_aval, producer, value)
        if repl is not None:
            if isinstance(repl, Eqn):
                repl.outputs, repl.source = eqn.outputs, eqn.source
                eqns.append(repl)
                producer[eqn.outputs[0]] = repl
            else:
                subst[eqn.outputs[0]] = repl
            continue
        new = Eqn(prim, ins, eqn.outputs, params, eqn.source)
        eqns.append(new)
        for v in eqn.outputs:
            producer[v] = new
    outs = [subst.get(v, v) if isinstance(v, Var) else v for v in graph.outvars]
    return _rebuild(graph, outs, eqns, new_consts)


def _has_subgraph(params) -> bool:
    return any(isinstance(v, Graph) or (isinstance(v, (tuple, list)) and any(
        isinstance(s, Graph) for s in v)) for v in params.values())


def _const_atom(val: np.ndarray, aval: ArrayType, const_of, new_consts):
    if val.ndim == 0:
        return Lit(val[()], aval)
    v = Var(aval)
    const_of[v] = val
    new_consts.append((v, val))
    return v


def _is_scalar_value(value, atom, x) -> bool:
    known, val = value(atom)
    return known and np.ndim(val) == 0 and val == x


def _same_type(atom, aval: ArrayType) -> bool:
    a = atom.aval
    return a.shape == aval.shape and a.dtype == aval.dtype


def _simplify(name, ins, params, out_aval, producer, value):
    """A replacement atom, a replacement Eqn, or None."""
    if name in ("mul", "add", "sub", "div"):
        x, y = ins
        if name == "mul":
            for a, b in ((x, y), (y, x)):
                if _is_scalar_value(value, b, 1) and _same_type(a, out_aval):
                    return a
        if name in ("add", "sub"):
            if _is_scalar_value(value, y, 0) and _same_type(x, out_aval):
                return x
            if name == "add" and _is_scalar_value(value, x, 0) and _same_type(y, out_aval):
                return y
        if name == "div" and _is_scalar_value(value, y, 1) and _same_type(x, out_aval):
            return x
        if name == "mul":
            for a, b in ((x, y), (y, x)):
                if _is_ones(value, b) and _same_type(a, out_aval):
                    return a
        # a broadcast input is unnecessary when NumPy's implicit broadcasting gives the same
        # one input at a time: each check must see the others as already replaced
        new_ins = list(ins)
        for i, a in enumerate(ins):
            new_ins[i] = _unbroadcast_input(a, new_ins, i, out_aval, producer)
        if any(a is not b for a, b in zip(new_ins, ins)):
            return _eqn_like(producer, name, new_ins, params)
        return None
    if name in ("reshape", "broadcast_to", "convert_element_type", "transpose",
                "rev") and _same_type(ins[0], out_aval) and (
            name != "transpose" or params["perm"] == tuple(range(out_aval.ndim))) and (
            name != "rev" or not any(out_aval.shape[a] > 1 for a in params["axes"])):
        return ins[0]
    if name == "reduce_sum" and not params["axes"]:
        return ins[0] if _same_type(ins[0], out_aval) else None
    if name == "dot_general":
        return _dot_with_identity(ins, params, out_aval, value)
    src = producer.get(ins[0]) if isinstance(ins[0], Var) else None
    if src is None:
        return None
    if name == "transpose" and src.primitive.name == "dot_general" and \
            params["perm"] == (1, 0) and not src.params["batch"][0]:
        # (x . y)^T = y^T . x^T: swap the operands instead of transposing the result
        x, y = src.inputs
        (lc, rc), _ = src.params["contract"], src.params["batch"]
        if x.aval.ndim - len(lc) == 1 and y.aval.ndim - len(rc) == 1:
            return _eqn_like(producer, "dot_general", [y, x],
                             {"contract": (rc, lc), "batch": ((), ())})
    if name == "neg" and src.primitive.name == "neg":
        return src.inputs[0]
    if name == "reshape" and src.primitive.name == "reshape":
        return _eqn_like(producer, "reshape", [src.inputs[0]], params)
    if name == "broadcast_to" and src.primitive.name == "reshape":
        # a reshape that only adds leading 1s is implied by the broadcast
        x = src.inputs[0]
        shape = src.outputs[0].aval.shape
        k = len(shape) - x.aval.ndim
        if k >= 0 and shape[k:] == x.aval.shape and all(d == 1 for d in shape[:k]):
            return _eqn_like(producer, "broadcast_to", [x], params)
    if name == "transpose" and src.primitive.name == "transpose":
        inner, outer = src.params["perm"], params["perm"]
        perm = tuple(inner[p] for p in outer)
        if perm == tuple(range(len(perm))):
            return src.inputs[0]
        return _eqn_like(producer, "transpose", [src.inputs[0]], {"perm": perm})
    return None


def _is_ones(value, atom) -> bool:
    known, val = value(atom)
    return known and np.ndim(val) > 0 and bool(np.all(np.asarray(val) == 1))


def _dot_with_identity(ins, params, out_aval, value):
    """x . I over one axis is x with that axis moved last (I . y: moved first)."""
    (lc, rc), (lb, _) = params["contract"], params["batch"]
    if lb or len(lc) != 1:
        return None
    for side, (a, b) in enumerate(((ins[0], ins[1]), (ins[1], ins[0]))):
        known, val = value(b)
        if not known or np.ndim(val) != 2 or val.shape[0] != val.shape[1] or \
                not np.array_equal(val, np.eye(val.shape[0])):
            continue
        axis = (lc if side == 0 else rc)[0]
        rest = [d for d in range(a.aval.ndim) if d != axis]
        perm = rest + [axis] if side == 0 else [axis] + rest
        if a.aval.dtype != out_aval.dtype:
            return None
        if perm == list(range(a.aval.ndim)):
            return a
        return _eqn_like(None, "transpose", [a], {"perm": tuple(perm)})
    return None


def _unbroadcast_input(atom, ins, i, out_aval, producer):
    if not isinstance(atom, Var):
        return atom
    src = producer.get(atom)
    if src is None or src.primitive.name not in ("broadcast_to", "reshape"):
        return atom
    # reshape that only adds leading/size-1 axes to a scalar-like value, or a broadcast
    inner = src.inputs[0]
    if src.primitive.name == "reshape" and inner.aval.size != 1:
        return atom
    shapes = [a.aval.shape for j, a in enumerate(ins) if j != i] + [inner.aval.shape]
    try:
        ok = np.broadcast_shapes(*shapes) == out_aval.shape
    except ValueError:
        ok = False
    if ok and inner.aval.dtype == atom.aval.dtype:
        return _unbroadcast_input(inner, ins, i, out_aval, producer) if isinstance(
            inner, Var) else inner
    return atom


def _eqn_like(producer, name, ins, params):
    from ..core.primitive import registry
    return Eqn(registry[name], ins, [], params, None)


def optimize(graph: Graph) -> Graph:
    """The jit pipeline: simplify and fold, share common subexpressions, drop dead code."""
    graph = fold_and_simplify(graph)
    graph = cse(graph)
    graph = fold_and_simplify(graph)
    return dce(graph)
