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
            if eqn.primitive.commutative:
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


class Rewrite:
    """What a primitive's `simplify` rule may ask about the graph being optimised: the known
    (constant) value of an atom, and the equation that produced a variable."""

    __slots__ = ("const_of", "producers")

    def __init__(self, const_of: dict, producers: dict):
        self.const_of, self.producers = const_of, producers

    def value(self, atom) -> tuple[bool, object]:
        """(True, value) for a literal or a constant, else (False, None)."""
        if isinstance(atom, Lit):
            return True, atom.val
        if atom in self.const_of:
            return True, self.const_of[atom]
        return False, None

    def producer(self, atom) -> Eqn | None:
        return self.producers.get(atom) if isinstance(atom, Var) else None

    def is_scalar(self, atom, x) -> bool:
        """Is the atom a known 0-d value equal to x?"""
        known, val = self.value(atom)
        return known and np.ndim(val) == 0 and val == x

    def is_filled(self, atom, x) -> bool:
        """Is the atom a known array (not a scalar) whose every element equals x?"""
        known, val = self.value(atom)
        return known and np.ndim(val) > 0 and bool(np.all(np.asarray(val) == x))

    @staticmethod
    def same_type(atom, aval: ArrayType) -> bool:
        """Does the atom have the shape and dtype of `aval` (so it can replace that value)?"""
        a = atom.aval
        return a.shape == aval.shape and a.dtype == aval.dtype


def fold_and_simplify(graph: Graph) -> Graph:
    """Constant folding plus each primitive's algebraic `simplify` rule (x*1, x+0, neg(neg x),
    reshape chains, transpose(transpose x), no-op broadcasts/converts...) in one forward walk."""
    const_of = dict(zip(graph.constvars, graph.consts))
    producer: dict[Var, Eqn] = {}
    subst: dict = {}
    eqns: list[Eqn] = []
    new_consts: list[tuple[Var, object]] = list(zip(graph.constvars, graph.consts))
    rewrite = Rewrite(const_of, producer)
    value = rewrite.value

    for eqn in graph.eqns:
        ins = [subst.get(v, v) if isinstance(v, Var) else v for v in eqn.inputs]
        prim, params = eqn.primitive, eqn.params
        if prim.effect:
            eqns.append(Eqn(prim, ins, eqn.outputs, params, eqn.source))
            continue
        out_aval = eqn.outputs[0].aval
        # 1. fold: every input known, small result, a plain (not multiple-result) primitive
        if not prim.multiple_results and prim.impl is not None and \
                out_aval.size <= _FOLD_MAX and not has_subgraph(params):
            known = [value(v) for v in ins]
            if all(k for k, _ in known):
                with np.errstate(all="ignore"):
                    val = prim.impl(*[v for _, v in known], **params)
                val = np.asarray(val)
                if val.shape == out_aval.shape and val.dtype == out_aval.dtype:
                    subst[eqn.outputs[0]] = _const_atom(val, out_aval, const_of, new_consts)
                    continue
        # 2. simplify
        repl = prim.simplify(rewrite, ins, params, out_aval) if prim.simplify else None
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


def has_subgraph(params) -> bool:
    """Do an equation's params hold a Graph (a loop body, cond's branches)?"""
    return any(isinstance(v, Graph) or (isinstance(v, (tuple, list)) and any(
        isinstance(s, Graph) for s in v)) for v in params.values())


def _const_atom(val: np.ndarray, aval: ArrayType, const_of, new_consts):
    if val.ndim == 0:
        return Lit(val[()], aval)
    v = Var(aval)
    const_of[v] = val
    new_consts.append((v, val))
    return v


def expand(graph: Graph) -> Graph:
    """Each primitive's `expand` rule: an equation replaced by the equations it returns, which
    compute the same outputs in a better structure (scan: products taken out of its loop)."""
    eqns, changed = [], False
    for eqn in graph.eqns:
        new = eqn.primitive.expand(eqn) if eqn.primitive.expand is not None else None
        if new is None:
            eqns.append(eqn)
        else:
            eqns.extend(new)
            changed = True
    if not changed:
        return graph
    return _rebuild(graph, graph.outvars, eqns, list(zip(graph.constvars, graph.consts)))


def optimize(graph: Graph) -> Graph:
    """The jit pipeline: simplify and fold, share common subexpressions, restructure (the
    `expand` rules), simplify again, drop dead code."""
    graph = cse(fold_and_simplify(graph))
    expanded = expand(graph)
    changed = expanded is not graph
    graph = fold_and_simplify(expanded)
    if changed:
        graph = cse(graph)      # what the new equations share (a reshape of the same input)
    return dce(graph)
