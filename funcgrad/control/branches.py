"""cond and switch: one primitive, `cond`, choosing one of several sub-graphs by an index.

Inputs are `(index, *operands)`; each branch graph maps the operands (the values any branch
captures come first, as explicit operands) to outputs of one common type.

Derivatives: the JVP of a cond is two conds. The first runs, for the chosen branch, its
outputs and the residuals its linearization needs (every branch returns the residual slots
of all branches, zeros in the others'); the second maps (residuals, tangents) to output
tangents and is linear in the tangents, so reverse mode can transpose it: the transpose of
a linear cond is a cond over the transposed branches.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .. import tree
from ..core.cost import graph_cost
from ..core.ir import Graph, UndefinedPrimal
from ..core.primitive import Primitive
from ..core.source import where
from ..core.types import ArrayType, is_float, type_of
from ..prims.elementwise import convert, eq, maximum, minimum, ne_p
from ..prims.shape import batch_size, bdim_to, zeros
from ..transforms.ad import backward_pass
from ..transforms.api import as_value
from ..transforms.interpret import eval_graph
from ..transforms.vmap import batch_flat
from .common import (
    aval_of,
    batch_graph,
    describe,
    join_branches,
    join_traced,
    linearize_graph,
    out_avals,
    run,
    same_types,
    select_batched,
    to_front,
    trace_tree,
    unify_types,
)


def _cond_impl(index, *operands, branches):
    return run(branches[int(index)], list(operands))


def _cond_type(index: ArrayType, *operands: ArrayType, branches):
    if index.shape != () or index.dtype.kind not in "iu":
        raise TypeError(f"cond: the branch index must be an integer scalar, got {index.short()}")
    return out_avals(branches[0])


def _cond_jvp(primals, tangents, *, branches):
    index, ops = primals[0], list(primals[1:])
    nonzero = [t is not None and is_float(aval_of(p).dtype) for p, t in zip(ops, tangents[1:])]
    parts = [linearize_graph(g, nonzero, "cond") for g in branches]
    n_out = len(branches[0].outvars)
    res_avals = [[v.aval for v in lin.constvars] for _, _, lin in parts]

    def primal_branch(i):
        fwd, consts, _ = parts[i]

        def f(*args):
            outs = _eval(fwd, consts + list(args))
            res = []
            for j, avals in enumerate(res_avals):
                res += outs[n_out:] if j == i else [zeros(a) for a in avals]
            return outs[:n_out] + res
        return f

    fwds, consts = join_branches([primal_branch(i) for i in range(len(branches))],
                                 [aval_of(x) for x in ops], "cond")
    outs = cond_p.bind(index, *consts, *ops, branches=fwds)
    outs, res = outs[:n_out], outs[n_out:]

    float_out = [is_float(a.dtype) for a in out_avals(branches[0])]
    offsets = np.cumsum([0] + [len(r) for r in res_avals])

    def tangent_branch(i):
        lin = parts[i][2]
        lin_graph = Graph(lin.constvars + lin.invars, lin.outvars, lin.eqns)

        def f(*args):
            mine = list(args[offsets[i]:offsets[i + 1]])
            t_out = _eval(lin_graph, mine + list(args[offsets[-1]:]))
            return [t for t, fl in zip(t_out, float_out) if fl]
        return f

    t_in = [t for t in tangents[1:] if t is not None]
    lins, consts = join_branches([tangent_branch(i) for i in range(len(branches))],
                                 [aval_of(r) for r in res] + [aval_of(t) for t in t_in], "cond")
    t_out = iter(cond_p.bind(index, *consts, *res, *t_in, branches=lins))
    return outs, [next(t_out) if fl else None for fl in float_out]


def _cond_transpose(cts, index, *ins, branches):
    """Linear in the undefined inputs: a cond over each branch's transpose."""
    linear = [type(x) is UndefinedPrimal for x in ins]
    known = [x for x, m in zip(ins, linear) if not m]

    def transposed(g: Graph) -> Callable:
        def f(*args):
            kn, ct = list(args[:len(known)]), list(args[len(known):])
            lin_vars = [v for v, m in zip(g.invars, linear) if m]
            const_vars = [v for v, m in zip(g.invars, linear) if not m]
            lg = Graph(lin_vars, g.outvars, g.eqns, const_vars, kn)
            ct_in = backward_pass(lg, ct)
            return [zeros(v.aval) if c is None else c for c, v in zip(ct_in, lin_vars)]
        return f

    graphs, consts = join_branches([transposed(g) for g in branches],
                                   [aval_of(k) for k in known] + out_avals(branches[0]), "cond")
    ct_in = iter(cond_p.bind(index, *consts, *known, *cts, branches=graphs))
    return [None] + [next(ct_in) if m else None for m in linear]


def _eval(graph: Graph, args: list) -> list:
    return eval_graph(graph, args)


def _cond_batch(vals, dims, *, branches):
    """Same index for all examples: one cond over the batched branches. A batched index:
    every branch runs on the whole batch and each example selects its branch's result."""
    size = batch_size(vals, dims)
    index, idx_dim = vals[0], dims[0]
    ops, op_dims = to_front(vals[1:], dims[1:], size)
    n_out = len(branches[0].outvars)
    if idx_dim is None:
        traced = [batch_graph(g, op_dims, size, [True] * n_out, "cond") for g in branches]
        graphs, consts = join_traced([(g, cs) for g, cs, _ in traced])
        return cond_p.bind(index, *consts, *ops, branches=graphs), [0] * n_out
    index = bdim_to(index, idx_dim, 0, size)
    results = []
    for g in branches:
        outs, ods = batch_flat(lambda *a, g=g: _eval(g, list(a)), ops, op_dims, size)
        results.append([bdim_to(as_value(o), d, 0, size) for o, d in zip(outs, ods)])
    outs = results[0]
    for i, res in enumerate(results[1:], 1):
        outs = [select_batched(eq(index, i), r, o) for r, o in zip(res, outs)]
    return outs, [0] * n_out


def _cond_cost(*avals, branches) -> int:
    return max(graph_cost(g)["flops"] for g in branches)    # the costliest branch


def _cond_native(k, args, eqn):
    """An `if`/`elif`/`else` chain in the kernel, each branch written inline."""
    return k.branches(k.materialize(args[0]), eqn.params["branches"], list(args[1:]))


# Not `fresh`: a branch may hand an operand back unchanged.
cond_p = Primitive("cond", _cond_impl, _cond_type, jvp=_cond_jvp, transpose=_cond_transpose,
                   batch=_cond_batch, native=_cond_native, cost=_cond_cost,
                   multiple_results=True)


def _bind_branches(index, funs: Sequence[Callable], names: list[str], operands: tuple,
                   what: str):
    ops = tuple(tree.map(as_value, operands))
    traced = [trace_tree(f, ops, what) for f in funs]
    fitted = unify_types([g for g, _, _ in traced])
    traced = [(g, cs, t) for g, (_, cs, t) in zip(fitted, traced)]
    # compared in reading order: cond reports true_fun first
    first = len(funs) - 1 if what == "cond" else 0
    (g0, _, tree0), name0 = traced[first], names[first]
    for (g, _, t), name in zip(traced, names):
        if t != tree0 or not same_types(out_avals(g), out_avals(g0)):
            raise ValueError(
                f"{what}: the branches must return the same structure, shapes and dtypes, but "
                f"{name0} returns {describe(tree0, out_avals(g0))} and {name} returns "
                f"{describe(t, out_avals(g))}{where()}")
    flat_ops = tree.leaves(ops)
    graphs, consts = join_traced([(g, cs) for g, cs, _ in traced])
    outs = cond_p.bind(index, *consts, *flat_ops, branches=graphs)
    return tree.unflatten(tree0, outs)


def _fun_name(f, default: str) -> str:
    name = getattr(f, "__name__", None)
    return f"{default} ({name})" if name and name != "<lambda>" else default


def cond(pred, true_fun: Callable, false_fun: Callable, *operands):
    """`true_fun(*operands)` if `pred` else `false_fun(*operands)`, as one graph equation.

    Both branches are traced; they must return the same pytree structure, shapes and dtypes.
    `pred` is a scalar (bool or number; nonzero is true). Differentiable in both modes.

    >>> import funcgrad as fg, funcgrad.numpy as fnp
    >>> f = lambda x: fg.cond(x > 0, lambda v: v * 2.0, lambda v: -v, x)
    >>> f(3.0), fg.grad(f)(-1.0)
    (array(6.), array(-1.))
    """
    pred = as_value(pred)
    aval = type_of(pred)
    if aval.shape != () or aval.dtype.kind not in "biuf":
        raise TypeError(f"cond: the predicate must be a scalar boolean or number, got "
                        f"{aval.short()}{where()}; reduce it (e.g. with .any() or .all()) or "
                        f"use fnp.where for an elementwise choice")
    index = convert(pred if aval.dtype.kind == "b" else ne_p.bind(pred, 0), np.int32)
    return _bind_branches(index, (false_fun, true_fun),
                          [_fun_name(false_fun, "false_fun"), _fun_name(true_fun, "true_fun")],
                          operands, "cond")


def switch(index, branches: Sequence[Callable], *operands):
    """`branches[index](*operands)`; `index` is clamped to `[0, len(branches) - 1]`.

    >>> import funcgrad as fg
    >>> fg.switch(1, [lambda x: x + 1.0, lambda x: x * 10.0, lambda x: -x], 2.0)
    array(20.)
    """
    branches = list(branches)
    if not branches:
        raise ValueError("switch: needs at least one branch")
    index = as_value(index)
    aval = type_of(index)
    if aval.shape != () or aval.dtype.kind not in "iub":
        raise TypeError(f"switch: the index must be an integer scalar, got {aval.short()}"
                        f"{where()}")
    index = convert(minimum(maximum(convert(index, np.int32), 0), len(branches) - 1), np.int32)
    names = [_fun_name(b, f"branches[{i}]") for i, b in enumerate(branches)]
    return _bind_branches(index, branches, names, operands, "switch")


__all__ = ["cond", "switch", "cond_p"]
