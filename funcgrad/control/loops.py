"""Loops: scan, while_loop and fori_loop, each one graph equation holding its body as a
sub-graph. On concrete values (eagerly or in jit-compiled code) a loop is a Python loop
calling the body compiled once to NumPy code; nothing is traced per iteration.

scan's inputs are `(consts, carry, xs)` and its outputs `(carry, stacked ys)`; the body maps
`(consts, carry, x slices) -> (carry, y slices)`. Its JVP is two scans: a primal scan that
also stacks the residuals each iteration's linearization needs, and a tangent scan over
(residuals, tangents), linear in the tangents. The transpose of a linear scan is a scan in the
opposite direction running the body's backward pass, accumulating the consts' cotangents in
its carry. while_loop's JVP is one while loop carrying tangents (forward mode only).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import tree
from ..core.cost import graph_cost
from ..core.ir import Eqn, Graph, Lit, UndefinedPrimal, Var, dce
from ..core.primitive import Primitive
from ..core.source import where
from ..core.trace import GraphTrace, current_trace
from ..core.types import ArrayType, is_float, type_of
from ..prims.elementwise import add, add_p, convert
from ..prims.linalg import dot_general_p
from ..prims.reductions import reduce_max
from ..prims.shape import batch_size, bdim_to, reduce_sum_p, reshape_p, transpose_p, zeros
from ..transforms.ad import backward_pass
from ..transforms.api import as_value
from ..transforms.interpret import eval_graph
from ..transforms.jvp import jvp_flat
from .common import (
    aval_of,
    batch_graph,
    describe,
    fit_outputs,
    linearize_graph,
    nonzero_outputs,
    out_avals,
    output_value,
    runner,
    same_types,
    select_batched,
    to_front,
    trace_flat,
    trace_tree,
)

# ------------------------------------------------------------------------------------ scan


def _scan_impl(*args, body, num_consts, num_carry, length, reverse):
    nc, nk = num_consts, num_carry
    y_avals = out_avals(body)[nk:]
    ys = [np.empty((length,) + a.shape, a.dtype) for a in y_avals]
    carry = _scan_driver(body, nc, nk, len(args) - nc - nk, reverse)(*args, *ys, length)
    return [np.asarray(c, a.dtype) for c, a in zip(carry, out_avals(body))] + ys


def _scan_driver(body: Graph, nc: int, nk: int, nx: int, reverse: bool) -> Callable:
    """A generated Python loop calling the compiled body once per iteration, e.g.
    `for i in range(n): c0, y0 = body(k0, c0, x0[i]); y0_[i] = y0` (no per-step lists)."""
    key = ("_scan_driver", nc, nk, nx, reverse)
    fn = body.info.get(key)
    if fn is None:
        ny = len(body.outvars) - nk
        k = [f"k{i}" for i in range(nc)]
        c = [f"c{i}" for i in range(nk)]
        x = [f"x{i}" for i in range(nx)]
        y = [f"y{i}" for i in range(ny)]
        ys = [f"ys{i}" for i in range(ny)]
        steps = "range(n - 1, -1, -1)" if reverse else "range(n)"
        outs = ", ".join(c + y) + ("," if len(c + y) == 1 else "")
        lines = [f"def scan_loop({', '.join(k + c + x + ys + ['n'])}):",
                 f"    for i in {steps}:"]
        lines.append(f"        {outs or '_'} = body({', '.join(k + c + [v + '[i]' for v in x])})")
        lines += [f"        {a}[i] = {b}" for a, b in zip(ys, y)]
        lines.append(f"    return ({', '.join(c)}{',' if len(c) == 1 else ''})")
        globs = {"body": runner(body)}
        exec(compile("\n".join(lines) + "\n", "<funcgrad.scan>", "exec"), globs)
        fn = body.info[key] = globs["scan_loop"]
    return fn


def _scan_type(*avals: ArrayType, body, num_consts, num_carry, length, reverse):
    outs = out_avals(body)
    return outs[:num_carry] + [ArrayType((length,) + a.shape, a.dtype)
                               for a in outs[num_carry:]]


def _scan_jvp(primals, tangents, *, body, num_consts, num_carry, length, reverse):
    nc, nk = num_consts, num_carry
    n_in = len(primals)
    # Which carries have a nonzero tangent: iterate to a fixed point (a carry's tangent can
    # become nonzero after an iteration even if its initial tangent is zero).
    nonzero = [t is not None and is_float(aval_of(p).dtype) for p, t in zip(primals, tangents)]
    while True:
        out_nz = nonzero_outputs(body, nonzero)
        new = [a or b for a, b in zip(nonzero[nc:nc + nk], out_nz[:nk])]
        if new == nonzero[nc:nc + nk]:
            break
        nonzero[nc:nc + nk] = new
    tangents = [(zeros(aval_of(p)) if t is None else t) if m else None
                for p, t, m in zip(primals, tangents, nonzero)]

    fwd, fwd_consts, lin = linearize_graph(body, nonzero, "scan")
    n_out = len(body.outvars)
    nh = len(fwd_consts)
    # Residuals: invariant ones (captured or const inputs, literals) are passed to the tangent
    # scan as consts; an x slice is the x itself; all others are stacked by the primal scan.
    res_outs = fwd.outvars[n_out:]
    position = {v: i for i, v in enumerate(fwd.invars)}
    outer = list(fwd_consts) + list(primals)   # the values of fwd's invars
    kinds = []
    for v in res_outs:
        p = position.get(v) if isinstance(v, Var) else None
        if isinstance(v, Lit):
            kinds.append(("const", np.asarray(v.val, v.aval.dtype)))
        elif p is not None and p < nh + nc:
            kinds.append(("const", outer[p]))
        elif p is not None and p >= nh + nc + nk:
            kinds.append(("xs", outer[p]))
        else:
            kinds.append(("stacked", v))
    stacked = [v for k, v in kinds if k == "stacked"]
    fwd = Graph(fwd.invars, fwd.outvars[:n_out] + stacked, fwd.eqns)
    outs = scan_p.bind(*fwd_consts, *primals, body=fwd, num_consts=nh + nc, num_carry=nk,
                       length=length, reverse=reverse)
    outs, stacked_vals = outs[:n_out], iter(outs[n_out:])
    res_vals = [next(stacked_vals) if k == "stacked" else val for k, val in kinds]

    # Tangent body: (const residuals, const tangents, carry tangents, x residuals, x tangents)
    t_in_vars = iter(lin.invars)
    t_vars = [next(t_in_vars) if m else None for m in nonzero]
    const_res = [i for i, (k, _) in enumerate(kinds) if k == "const"]
    x_res = [i for i, (k, _) in enumerate(kinds) if k != "const"]
    t_const = [i for i in range(nc) if nonzero[i]]
    t_carry = [i for i in range(nc, nc + nk) if nonzero[i]]
    t_xs = [i for i in range(nc + nk, n_in) if nonzero[i]]
    float_ys = [j for j in range(nk, n_out) if is_float(body.outvars[j].aval.dtype)]
    res_vars = lin.constvars
    invars = ([res_vars[i] for i in const_res] + [t_vars[i] for i in t_const]
              + [t_vars[i] for i in t_carry] + [res_vars[i] for i in x_res]
              + [t_vars[i] for i in t_xs])
    outvars = [lin.outvars[i - nc] for i in t_carry] + [lin.outvars[j] for j in float_ys]
    tan_body = Graph(invars, outvars, lin.eqns)
    t_outs = scan_p.bind(*[res_vals[i] for i in const_res], *[tangents[i] for i in t_const],
                         *[tangents[i] for i in t_carry], *[res_vals[i] for i in x_res],
                         *[tangents[i] for i in t_xs], body=tan_body,
                         num_consts=len(const_res) + len(t_const), num_carry=len(t_carry),
                         length=length, reverse=reverse)
    t_outs = iter(t_outs)
    carry_t = [next(t_outs) if nonzero[nc + k] else None for k in range(nk)]
    ys_t = [next(t_outs) if j in float_ys else None for j in range(nk, n_out)]
    return outs, carry_t + ys_t


def _scan_transpose(cts, *args, body, num_consts, num_carry, length, reverse):
    """A linear scan (in its undefined consts and xs, and all its carries) run backward: the
    carry holds the carries' cotangents and accumulates the consts' cotangents."""
    nc, nk = num_consts, num_carry
    consts, xs = args[:nc], args[nc + nk:]
    lin_c = [type(c) is UndefinedPrimal for c in consts]
    lin_x = [type(x) is UndefinedPrimal for x in xs]
    res_c = [c for c, m in zip(consts, lin_c) if not m]
    res_x = [x for x, m in zip(xs, lin_x) if not m]
    c_vars, k_vars, x_vars = body.invars[:nc], body.invars[nc:nc + nk], body.invars[nc + nk:]
    lin_vars = ([v for v, m in zip(c_vars, lin_c) if m] + k_vars
                + [v for v, m in zip(x_vars, lin_x) if m])
    known_vars = [v for v, m in zip(c_vars, lin_c) if not m] + \
        [v for v, m in zip(x_vars, lin_x) if not m]
    ct_c_avals = [v.aval for v, m in zip(c_vars, lin_c) if m]
    y_avals = out_avals(body)[nk:]
    n_rc, n_cc, n_rx = len(res_c), len(ct_c_avals), len(res_x)

    def body_t(*a):
        rc, acc, ct_carry = a[:n_rc], a[n_rc:n_rc + n_cc], a[n_rc + n_cc:n_rc + n_cc + nk]
        rx, ct_y = a[n_rc + n_cc + nk:n_rc + n_cc + nk + n_rx], a[n_rc + n_cc + nk + n_rx:]
        g = Graph(lin_vars, body.outvars, body.eqns, known_vars, list(rc) + list(rx))
        ct_in = backward_pass(g, list(ct_carry) + list(ct_y))
        ct_in = [zeros(v.aval) if c is None else c for c, v in zip(ct_in, lin_vars)]
        new_acc = [add(s, c) for s, c in zip(acc, ct_in[:n_cc])]
        return new_acc + ct_in[n_cc:n_cc + nk] + ct_in[n_cc + nk:]

    avals = ([aval_of(r) for r in res_c] + ct_c_avals + [v.aval for v in k_vars]
             + [v.aval for v in known_vars[n_rc:]] + y_avals)
    g, g_consts = trace_flat(body_t, avals, "scan")
    ct_carry, ct_ys = cts[:nk], cts[nk:]
    outs = scan_p.bind(*g_consts, *res_c, *[zeros(a) for a in ct_c_avals], *ct_carry, *res_x,
                       *ct_ys, body=g, num_consts=len(g_consts) + n_rc,
                       num_carry=n_cc + nk, length=length, reverse=not reverse)
    ct_consts, ct_init, ct_xs = iter(outs[:n_cc]), outs[n_cc:n_cc + nk], iter(outs[n_cc + nk:])
    return ([next(ct_consts) if m else None for m in lin_c] + list(ct_init)
            + [next(ct_xs) if m else None for m in lin_x])


def _scan_batch(vals, dims, *, body, num_consts, num_carry, length, reverse):
    """A scan over the batched body: consts and carries batched along axis 0, xs and ys
    along axis 1 (axis 0 is the scanned one). A carry is batched if its initial value is or
    the body makes it so (found by iterating to a fixed point)."""
    size = batch_size(vals, dims)
    nc, nk = num_consts, num_carry
    consts, c_dims = to_front(vals[:nc], dims[:nc], size)
    carry, k_dims = to_front(vals[nc:nc + nk], dims[nc:nc + nk], size)
    xs = [x if d is None else bdim_to(x, d, 1, size) for x, d in zip(vals[nc + nk:],
                                                                      dims[nc + nk:])]
    x_dims = [None if d is None else 0 for d in dims[nc + nk:]]
    n_ys = len(body.outvars) - nk
    carry_b = [d is not None for d in k_dims]
    while True:
        in_dims = c_dims + [0 if b else None for b in carry_b] + x_dims
        g, g_consts, out_dims = batch_graph(body, in_dims, size, carry_b + [True] * n_ys, "scan")
        new = [b or d is not None for b, d in zip(carry_b, out_dims[:nk])]
        if new == carry_b:
            break
        carry_b = new
    carry = [bdim_to(c, d, 0, size) if b else c for c, d, b in zip(carry, k_dims, carry_b)]
    outs = scan_p.bind(*g_consts, *consts, *carry, *xs, body=g, num_consts=len(g_consts) + nc,
                       num_carry=nk, length=length, reverse=reverse)
    return outs, [0 if b else None for b in carry_b] + [1] * n_ys


def _scan_cost(*avals, body, length, **params) -> int:
    return length * graph_cost(body)["flops"]


def _scan_native(k, args, eqn):
    """A native loop: `for i in range(length): carry, y = body(consts, carry, xs[i]);
    ys[i] = y`, the body written inline."""
    p = eqn.params
    body, nc, nk, n = p["body"], p["num_consts"], p["num_carry"], p["length"]
    in_avals = [v.aval for v in eqn.inputs]
    consts = [k.materialize(a) for a in args[:nc]]
    xs = [k.materialize(k.pack(a, v) if not isinstance(a, str) else a)
          for a, v in zip(args[nc + nk:], in_avals[nc + nk:])]
    carry = [k.carry(a, av, bv) for a, av, bv in
             zip(args[nc:nc + nk], in_avals[nc:nc + nk], body.out_avals[:nk])]
    ys = [k.buffer(v.aval) for v in eqn.outputs[nk:]]
    i = k.tmp("i")
    k.line(f"for {i} in {f'range({n} - 1, -1, -1)' if p['reverse'] else f'range({n})'}:")
    k.depth += 1
    x_now = [k.load(x, i, v.aval) for x, v in zip(xs, body.invars[nc + nk:])]
    # a stacked output computed by a loop nest is written straight into its slice
    dests = {v: f"{y}[{i}]" for y, v in zip(ys, body.outvars[nk:])
             if isinstance(v, Var) and v.aval.ndim and not k.is_small(v.aval)}
    prev = k.write_into(dests)
    try:
        outs = [k.materialize(o) for o in k.inline(body, consts + carry + x_now)]
    finally:
        k.write_into(prev)
    for y, o, v, var in zip(ys, outs[nk:], body.out_avals[nk:], body.outvars[nk:]):
        if dests.get(var) != f"{y}[{i}]" or k.written.get(var) != o:
            k.store(y, i, o, v)
    k.rebind(carry, outs[:nk])
    k.depth -= 1
    return carry + ys


# ------------------------------------------------ the optimiser: products taken out of a scan

_STACKED_BYTES = 1 << 25    # new stacked values one scan's restructuring may allocate (32 MB)


def _scan_expand(eqn: Eqn) -> list[Eqn] | None:
    """The scan with its products taken out of the loop, where that turns `length` small
    matrix products into one large one (one BLAS call at full speed):

    - hoisted: `x_t . W`, a product of an x slice and a loop constant, becomes `X . W` over
      every step before the loop, read back a slice per step (an RNN's input projection);
    - sunk: a carry that only accumulates, `acc + u_t` with `u_t` a product or a sum of x
      slices, constants and values of the step, becomes `acc + sum_t u_t` after the loop, one
      product over the values the loop now stacks (backpropagation through time's weight
      gradients, sum_t x_t^T d_t, as X^T D).

    The sums run in another order: the results agree to rounding. None if nothing applies."""
    p = eqn.params
    body, nc, nk, n = p["body"], p["num_consts"], p["num_carry"], p["length"]
    if n < 2 or body.constvars:
        return None
    k_vars, x_vars = body.invars[nc:nc + nk], body.invars[nc + nk:]
    consts = set(body.invars[:nc])
    outer = dict(zip(body.invars, eqn.inputs))  # consts, initial carries, stacked xs
    sliced = set(x_vars)                # values read a slice per step from a stacked array
    uses: dict = {}
    producer: dict = {}
    for e in body.eqns:
        for v in e.inputs:
            if isinstance(v, Var):
                uses[v] = uses.get(v, 0) + 1
        for o in e.outputs:
            producer[o] = e
    for v in body.outvars:
        if isinstance(v, Var):
            uses[v] = uses.get(v, 0) + 1
    budget = [_STACKED_BYTES]
    before: list[Eqn] = []
    after: list[Eqn] = []
    taken: set = set()                  # body equations the loop no longer runs
    new_x: list = []                    # (body var now read per step, its stacked outer var)
    new_y: list = []                    # (body var now stacked, its outer var)

    def afford(*vs) -> bool:
        """Take from the budget the bytes of `vs` stacked over the steps, if it holds them."""
        size = n * sum(v.aval.size * v.aval.dtype.itemsize for v in vs)
        if size > budget[0]:
            return False
        budget[0] -= size
        return True

    # 1. hoisting: a product of an x slice and a constant
    for e in body.eqns:
        if e.primitive is not dot_general_p or e.params["batch"] != ((), ()):
            continue
        a, b = e.inputs
        side = 0 if a in sliced and b in consts else 1 if b in sliced and a in consts else None
        out = e.outputs[0]
        if side is None or not afford(out):
            continue
        stacked = _product_over_steps(before, e, side, outer[e.inputs[side]],
                                      outer[e.inputs[1 - side]], n)
        taken.add(e)
        new_x.append((out, stacked))
        sliced.add(out)
        outer[out] = stacked

    def stacked_values(*vs):
        """The values of each of `vs` over the steps, as outer variables (the loop stacks
        those it does not read per step already); None if they are not all affordable."""
        stacked = {bv: ov for bv, ov in new_y}
        missing = list({v: None for v in vs if v not in sliced and v not in stacked})
        if not afford(*missing):
            return None
        for v in missing:
            stacked[v] = Var(ArrayType((n,) + v.aval.shape, v.aval.dtype))
            new_y.append((v, stacked[v]))
        return [outer[v] if v in sliced else stacked[v] for v in vs]

    # 2. sinking: a carry that only accumulates per-step products or sums
    kept = []
    for k, (kin, kout) in enumerate(zip(k_vars, body.outvars[:nk])):
        acc = producer.get(kout) if isinstance(kout, Var) else None
        total = None
        if acc is not None and acc.primitive is add_p and uses.get(kin) == 1 and \
                uses.get(kout) == 1 and kin in acc.inputs and acc.inputs[0] is not acc.inputs[1]:
            u = acc.inputs[1] if acc.inputs[0] is kin else acc.inputs[0]
            if isinstance(u, Var) and u.aval.shape == kin.aval.shape and \
                    u.aval.dtype == kin.aval.dtype and u in producer:
                total = _summed_over_steps(after, producer[u], consts, outer, stacked_values, n)
        if total is None:
            kept.append(k)
            continue
        after.append(Eqn(add_p, [outer[kin], total], [eqn.outputs[k]], {}, eqn.source))
        taken.add(acc)
    if not taken:
        return None
    outvars = ([body.outvars[k] for k in kept] + body.outvars[nk:] + [bv for bv, _ in new_y])
    new_body = dce(Graph(body.invars, outvars, [e for e in body.eqns if e not in taken]))
    # the consts and x slices the loop still reads (a hoisted product's operands may not be,
    # nor a hoisted product whose only reader was an accumulation taken out too)
    read = {v for e in new_body.eqns for v in e.inputs} | set(outvars)
    consts_kept = [v for v in body.invars[:nc] if v in read]
    xs_kept = [v for v in x_vars + [bv for bv, _ in new_x] if v in read]
    new_body = Graph(consts_kept + [k_vars[k] for k in kept] + xs_kept, outvars,
                     new_body.eqns)
    ins = ([outer[v] for v in consts_kept] + [eqn.inputs[nc + k] for k in kept]
           + [outer[v] for v in xs_kept])
    outs = [eqn.outputs[k] for k in kept] + eqn.outputs[nk:] + [ov for _, ov in new_y]
    loop = Eqn(scan_p, ins, outs, dict(p, body=new_body, num_consts=len(consts_kept),
                                       num_carry=len(kept)), eqn.source)
    return before + [loop] + after       # (the optimiser's DCE drops what none reads)


def _emit(eqns: list, prim, ins: list, aval: ArrayType, source, **params) -> Var:
    out = Var(aval)
    eqns.append(Eqn(prim, ins, [out], params, source))
    return out


def _product_over_steps(eqns: list, e: Eqn, side: int, xs, w, n: int) -> Var:
    """`e`'s product of x slices (operand `side`, stacked in `xs`) and the constant `w`, for
    every step at once: an array with the steps on axis 0."""
    (lc, rc), out = e.params["contract"], e.outputs[0].aval
    x_aval = e.inputs[side].aval
    stacked = ArrayType((n,) + out.shape, out.dtype)
    if side == 0 and x_aval.ndim == 2 and lc == (1,):
        # a matrix product of (n * rows) rows: the stacked rows need no copy
        rows = _emit(eqns, reshape_p, [xs], ArrayType((n * x_aval.shape[0], x_aval.shape[1]),
                     x_aval.dtype), e.source, shape=(n * x_aval.shape[0], x_aval.shape[1]))
        flat = _emit(eqns, dot_general_p, [rows, w], ArrayType(
            (n * out.shape[0],) + out.shape[1:], out.dtype), e.source, contract=(lc, rc),
            batch=((), ()))
        return _emit(eqns, reshape_p, [flat], stacked, e.source, shape=stacked.shape)
    if side == 0:
        return _emit(eqns, dot_general_p, [xs, w], stacked, e.source,
                     contract=(tuple(a + 1 for a in lc), rc), batch=((), ()))
    # w . x_t: the steps come out after w's free axes, and are moved to the front
    n_free = e.inputs[0].aval.ndim - len(lc)
    raw_shape = out.shape[:n_free] + (n,) + out.shape[n_free:]
    raw = _emit(eqns, dot_general_p, [w, xs], ArrayType(raw_shape, out.dtype), e.source,
                contract=(lc, tuple(a + 1 for a in rc)), batch=((), ()))
    perm = (n_free,) + tuple(a for a in range(len(raw_shape)) if a != n_free)
    return _emit(eqns, transpose_p, [raw], stacked, e.source, perm=perm)


def _summed_over_steps(eqns: list, e: Eqn, consts: set, outer: dict, stacked_values,
                       n: int) -> Var | None:
    """sum over the steps of `e`'s output, computed after the loop from its operands' values
    over the steps (`stacked_values`) or, for loop constants, their one value; None where `e`
    is not a product or a sum."""
    out = e.outputs[0].aval
    if e.primitive is reduce_sum_p:
        (v,) = e.inputs
        got = stacked_values(v) if isinstance(v, Var) and v not in consts else None
        if got is None:
            return None
        (sv,) = got
        axes = (0,) + tuple(a + 1 for a in e.params["axes"])
        return _emit(eqns, reduce_sum_p, [sv], out, e.source, axes=axes)
    if e.primitive is not dot_general_p or e.params["batch"] != ((), ()) or \
            not all(isinstance(v, Var) for v in e.inputs) or all(v in consts for v in e.inputs):
        return None
    (lc, rc) = e.params["contract"]
    a, b = e.inputs
    if a in consts or b in consts:
        # sum_t c . v_t = c . sum_t v_t
        v = b if a in consts else a
        got = stacked_values(v)
        if got is None:
            return None
        (sv,) = got
        vsum = _emit(eqns, reduce_sum_p, [sv], v.aval, e.source, axes=(0,))
        ins = [outer[a], vsum] if a in consts else [vsum, outer[b]]
        return _emit(eqns, dot_general_p, ins, out, e.source, contract=(lc, rc),
                     batch=((), ()))
    got = stacked_values(a, b)
    if got is None:
        return None
    sa, sb = got
    if lc == (0,) and rc == (0,):
        # sum_t a_t^T b_t over leading axes: the steps join them (a reshape, no copy)
        flat = []
        for sv, v in ((sa, a), (sb, b)):
            shape = (n * v.aval.shape[0],) + v.aval.shape[1:]
            flat.append(_emit(eqns, reshape_p, [sv], ArrayType(shape, v.aval.dtype),
                              e.source, shape=shape))
        return _emit(eqns, dot_general_p, flat, out, e.source, contract=(lc, rc),
                     batch=((), ()))
    return _emit(eqns, dot_general_p, [sa, sb], out, e.source,
                 contract=((0,) + tuple(x + 1 for x in lc), (0,) + tuple(x + 1 for x in rc)),
                 batch=((), ()))


# Not `fresh` (nor is while): a body may hand its carry back unchanged.
scan_p = Primitive("scan", _scan_impl, _scan_type, jvp=_scan_jvp, transpose=_scan_transpose,
                   batch=_scan_batch, native=_scan_native, cost=_scan_cost,
                   expand=_scan_expand, multiple_results=True)


def scan(f: Callable, init, xs=None, length: int | None = None, reverse: bool = False):
    """Loop `carry, y = f(carry, x)` over the leading axis of `xs`; returns `(carry, ys)` with
    the `y`s stacked. JAX semantics: pytrees for carry, xs and ys; `xs=None` needs `length`;
    `reverse=True` runs from the end (ys keep xs's order). Differentiable in both modes.

    >>> import funcgrad as fg, numpy as np
    >>> fg.scan(lambda c, x: (c + x, c * x), 0.0, np.arange(1.0, 5.0))
    (array(10.), array([ 0.,  2.,  9., 24.]))
    """
    init = tree.map(as_value, init)
    xs = tree.map(as_value, xs)
    x_flat, x_tree = tree.flatten(xs)
    lengths = {int(x.shape[0]) for x in x_flat if len(x.shape) > 0}
    if any(len(x.shape) == 0 for x in x_flat):
        raise ValueError(f"scan: every leaf of xs needs a leading axis to scan over, got "
                         f"{describe(x_tree, [type_of(x) for x in x_flat])}{where()}")
    if length is not None:
        lengths.add(int(length))
    if len(lengths) != 1:
        raise ValueError("scan: " + (f"the leading axes of xs (and length) disagree: "
                                      f"{sorted(lengths)}" if lengths else
                                      "with xs=None, pass length=") + where())
    (n,) = lengths
    x_avals = [ArrayType(tuple(x.shape[1:]), aval_of(x).dtype) for x in x_flat]
    init_flat, init_tree = tree.flatten(init)
    init_avals = [aval_of(c) for c in init_flat]
    store = []

    def flat_body(*leaves):
        carry = tree.unflatten(init_tree, list(leaves[:len(init_flat)]))
        x = tree.unflatten(x_tree, list(leaves[len(init_flat):]))
        out = f(carry, x)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(f"scan: the body function must return a pair (carry, y), got "
                            f"{type(out).__name__}{where()}")
        c_flat, c_tree = tree.flatten(out[0])
        y_flat, y_tree = tree.flatten(out[1])
        store.append((c_tree, y_tree))
        return [output_value(o) for o in c_flat + y_flat]

    body, consts = trace_flat(flat_body, init_avals + x_avals, "scan")
    body = fit_outputs(body, init_avals + [v.aval.strong() for v in body.outvars[len(init_avals):]])
    c_tree, y_tree = store[0]
    _check_carry("scan", init_tree, init_avals, c_tree, out_avals(body)[:len(init_flat)])
    outs = scan_p.bind(*consts, *init_flat, *x_flat, body=body, num_consts=len(consts),
                       num_carry=len(init_flat), length=n, reverse=bool(reverse))
    return (tree.unflatten(init_tree, outs[:len(init_flat)]),
            tree.unflatten(y_tree, outs[len(init_flat):]))


def _check_carry(what: str, in_tree, in_avals, out_tree, avals) -> None:
    if in_tree != out_tree or not same_types(in_avals, avals):
        raise ValueError(
            f"{what}: the body must return a carry of the same structure, shapes and dtypes as "
            f"its input, but the input carry is {describe(in_tree, in_avals)} and the body "
            f"returns {describe(out_tree, avals)}{where()}")


# ------------------------------------------------------------------------------ while_loop


def _while_impl(*args, cond, body, cond_nconsts, body_nconsts):
    cc, bc = args[:cond_nconsts], args[cond_nconsts:cond_nconsts + body_nconsts]
    carry = args[cond_nconsts + body_nconsts:]
    test, step = runner(cond), runner(body)
    while test(*cc, *carry)[0]:
        carry = step(*bc, *carry)
    return [np.asarray(c, a.dtype) for c, a in zip(carry, out_avals(body))]


def _while_type(*avals, cond, body, cond_nconsts, body_nconsts):
    return out_avals(body)


def _while_jvp(primals, tangents, *, cond, body, cond_nconsts, body_nconsts):
    ncc, nbc = cond_nconsts, body_nconsts
    params = dict(cond=cond, body=body, cond_nconsts=ncc, body_nconsts=nbc)
    nonzero = [t is not None and is_float(aval_of(p).dtype) for p, t in zip(primals, tangents)]
    body_nz = nonzero[ncc:]
    nk = len(body_nz) - nbc
    while True:
        out_nz = nonzero_outputs(body, body_nz)
        new = [a or b for a, b in zip(body_nz[nbc:], out_nz)]
        if new == body_nz[nbc:]:
            break
        body_nz[nbc:] = new
    carry_nz = body_nz[nbc:]
    if not any(carry_nz):   # tangents of the predicate's inputs alone change nothing
        return while_p.bind(*primals, **params), [None] * nk
    trace = current_trace()
    if isinstance(trace, GraphTrace) and trace.delegate_known:
        raise NotImplementedError(_no_reverse_message())
    nonzero[ncc:] = body_nz
    tangents = [(zeros(aval_of(p)) if t is None else t) if m else None
                for p, t, m in zip(primals, tangents, nonzero)]
    bc_t = [t for t in tangents[ncc:ncc + nbc] if t is not None]
    carry_t = [t for t in tangents[ncc + nbc:] if t is not None]

    def jvp_body(*a):
        consts, ct = a[:nbc], a[nbc:nbc + len(bc_t)]
        carry, kt = a[nbc + len(bc_t):nbc + len(bc_t) + nk], a[nbc + len(bc_t) + nk:]
        cti, kti = iter(ct), iter(kt)
        ts = [next(cti) if m else None for m in body_nz[:nbc]] + \
            [next(kti) if m else None for m in carry_nz]
        outs, t_outs = jvp_flat(lambda *v: eval_graph(body, list(v)), list(consts) + list(carry),
                                ts, "jvp")
        return list(outs) + [zeros(v.aval.strong()) if t is None else t
                             for t, v, m in zip(t_outs, body.outvars, carry_nz) if m]

    def jvp_cond(*a):
        return eval_graph(cond, list(a[:ncc + nk]))

    b_avals = [v.aval for v in body.invars]
    bt_avals = [aval_of(t) for t in bc_t]
    kt_avals = [aval_of(t) for t in carry_t]
    body_g, body_consts = trace_flat(jvp_body, b_avals[:nbc] + bt_avals + b_avals[nbc:]
                                     + kt_avals, "while_loop")
    cond_g, cond_consts = trace_flat(jvp_cond, [v.aval for v in cond.invars] + kt_avals,
                                     "while_loop")
    ccs, bcs, carry = primals[:ncc], primals[ncc:ncc + nbc], primals[ncc + nbc:]
    outs = while_p.bind(*cond_consts, *ccs, *body_consts, *bcs, *bc_t, *carry, *carry_t,
                        cond=cond_g, body=body_g, cond_nconsts=len(cond_consts) + ncc,
                        body_nconsts=len(body_consts) + nbc + len(bc_t))
    kt = iter(outs[nk:])
    return outs[:nk], [next(kt) if m else None for m in carry_nz]


def _no_reverse_message() -> str:
    return (f"reverse-mode differentiation (grad, vjp, jacrev) of fg.while_loop is not "
            f"supported{where()}: its number of iterations is only known at run time. Use "
            f"fg.scan, or fg.fori_loop with static (Python int) bounds, which are "
            f"reverse-differentiable; forward mode (fg.jvp, fg.jacfwd) works with while_loop.")


def _while_transpose(cts, *args, **params):
    raise NotImplementedError(_no_reverse_message())


def _while_batch(vals, dims, *, cond, body, cond_nconsts, body_nconsts):
    """A while loop over batched values. If the predicate is batched, the loop runs while any
    example's predicate holds, and examples that are done keep their carry (a select)."""
    size = batch_size(vals, dims)
    ncc, nbc = cond_nconsts, body_nconsts
    vals, dims = to_front(list(vals), list(dims), size)
    cc, bc, carry = vals[:ncc], vals[ncc:ncc + nbc], vals[ncc + nbc:]
    cc_dims, bc_dims, k_dims = dims[:ncc], dims[ncc:ncc + nbc], dims[ncc + nbc:]
    nk = len(carry)
    carry_b = [d is not None for d in k_dims]
    while True:
        k = [0 if b else None for b in carry_b]
        bg, bg_consts, out_dims = batch_graph(body, bc_dims + k, size, carry_b, "while_loop")
        cg, cg_consts, (p_dim,) = batch_graph(cond, cc_dims + k, size, [False], "while_loop")
        new = [b or d is not None for b, d in zip(carry_b, out_dims)]
        if p_dim is not None:
            new = [True] * nk
        if new == carry_b:
            break
        carry_b = new
    carry = [bdim_to(c, d, 0, size) if b else c for c, d, b in zip(carry, k_dims, carry_b)]
    out_dims = [0 if b else None for b in carry_b]
    if p_dim is None:
        outs = while_p.bind(*cg_consts, *cc, *bg_consts, *bc, *carry, cond=cg, body=bg,
                            cond_nconsts=len(cg_consts) + ncc,
                            body_nconsts=len(bg_consts) + nbc)
        return outs, out_dims
    n_cc = len(cg_consts) + ncc
    n_bc = len(bg_consts) + nbc

    def any_cond(*a):
        return [reduce_max(eval_graph(cg, list(a))[0], (0,))]

    def masked_body(*a):
        c_in, b_in, k_in = a[:n_cc], a[n_cc:n_cc + n_bc], list(a[n_cc + n_bc:])
        (pred,) = eval_graph(cg, list(c_in) + k_in)
        new = eval_graph(bg, list(b_in) + k_in)
        return [select_batched(pred, n, o) for n, o in zip(new, k_in)]

    k_avals = [aval_of(c) for c in carry]
    c_avals = [v.aval for v in cg.invars[:n_cc]]
    b_avals = [v.aval for v in bg.invars[:n_bc]]
    g_cond, consts1 = trace_flat(any_cond, c_avals + k_avals, "while_loop")
    g_body, consts2 = trace_flat(masked_body, c_avals + b_avals + k_avals, "while_loop")
    cc_all = list(cg_consts) + list(cc)
    bc_all = list(bg_consts) + list(bc)
    outs = while_p.bind(*consts1, *cc_all, *consts2, *cc_all, *bc_all, *carry, cond=g_cond,
                        body=g_body, cond_nconsts=len(consts1) + n_cc,
                        body_nconsts=len(consts2) + n_cc + n_bc)
    return outs, out_dims


def _while_cost(*avals, cond, body, **params) -> int:
    # one iteration: the trip count is only known when the loop runs
    return graph_cost(cond)["flops"] + graph_cost(body)["flops"]


def _while_native(k, args, eqn):
    """A native `while cond(carry): carry = body(carry)`."""
    p = eqn.params
    cond, body, ncc, nbc = p["cond"], p["body"], p["cond_nconsts"], p["body_nconsts"]
    in_avals = [v.aval for v in eqn.inputs]
    cc = [k.materialize(a) for a in args[:ncc]]
    bc = [k.materialize(a) for a in args[ncc:ncc + nbc]]
    carry = [k.carry(a, av, bv) for a, av, bv in
             zip(args[ncc + nbc:], in_avals[ncc + nbc:], body.out_avals)]
    k.line("while True:")
    k.depth += 1
    test = k.inline(cond, cc + carry)[0]
    k.line(f"if not {test}:")
    k.line("    break")
    k.rebind(carry, [k.materialize(o) for o in k.inline(body, bc + carry)])
    k.depth -= 1
    return carry


while_p = Primitive("while", _while_impl, _while_type, jvp=_while_jvp,
                    transpose=_while_transpose, batch=_while_batch, native=_while_native,
                    cost=_while_cost, multiple_results=True)


def while_loop(cond_fun: Callable, body_fun: Callable, init_val):
    """`val = init_val; while cond_fun(val): val = body_fun(val); return val`, as one
    equation. Forward-differentiable; for reverse mode use scan or fori_loop with static
    bounds.

    >>> import funcgrad as fg
    >>> fg.while_loop(lambda v: v < 10, lambda v: v * 2, 1)
    array(16)
    """
    init = tree.map(as_value, init_val)
    flat, in_tree = tree.flatten(init)
    avals = [aval_of(x) for x in flat]
    cond_g, cond_consts, c_tree = trace_tree(cond_fun, (init,), "while_loop")
    c_avals = out_avals(cond_g)
    if len(c_avals) != 1 or c_avals[0].shape != () or c_avals[0].dtype.kind != "b":
        raise TypeError(f"while_loop: cond_fun must return a scalar boolean, got "
                        f"{describe(c_tree, c_avals)}{where()}")
    body_g, body_consts, b_tree = trace_tree(body_fun, (init,), "while_loop")
    body_g = fit_outputs(body_g, avals)
    _check_carry("while_loop", in_tree, avals, b_tree, out_avals(body_g))
    outs = while_p.bind(*cond_consts, *body_consts, *flat, cond=cond_g, body=body_g,
                        cond_nconsts=len(cond_consts), body_nconsts=len(body_consts))
    return tree.unflatten(in_tree, outs)


# ------------------------------------------------------------------------------- fori_loop


def _static_int(v) -> int | None:
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return int(v)
    if isinstance(v, np.ndarray) and v.shape == () and v.dtype.kind in "iu":
        return int(v)
    return None


def _index_promotion_undone(new, old):
    """Float leaves of the new carry cast back to the old carry's float dtypes.

    The index is an integer array, and NumPy promotes `c32 * i` to float64, where a Python
    `for i in range(...)` loop (and JAX) keeps float32; the carry keeps its dtype as there."""
    if tree.structure(new) != tree.structure(old):
        return new  # scan/while_loop explain the mismatch

    def cast(n, o):
        dt, want = type_of(as_value(n)).dtype, type_of(o).dtype
        return convert(n, want) if dt != want and is_float(dt) and is_float(want) else n
    return tree.map(cast, new, old)


def fori_loop(lower, upper, body_fun: Callable, init_val):
    """`val = init_val; for i in range(lower, upper): val = body_fun(i, val)`.

    With static (Python int) bounds this is a scan, so it is reverse-differentiable; with
    traced bounds it is a while_loop.

    >>> import funcgrad as fg
    >>> fg.fori_loop(0, 4, lambda i, x: x * 2.0 + i, 1.0)
    array(27.)
    """
    lo, hi = _static_int(lower), _static_int(upper)
    if lo is not None and hi is not None:
        def step(carry, _):
            i, x = carry
            return (i + 1, _index_promotion_undone(body_fun(i, x), x)), None
        (_, out), _ = scan(step, (np.asarray(lo), init_val), None, length=max(hi - lo, 0))
        return out
    lower, upper = as_value(lower), as_value(upper)
    dtype = np.result_type(type_of(lower).dtype, type_of(upper).dtype)
    lower, upper = convert(lower, dtype), convert(upper, dtype)

    def body(carry):
        i, hi_, x = carry
        return i + 1, hi_, _index_promotion_undone(body_fun(i, x), x)
    _, _, out = while_loop(lambda c: c[0] < c[1], body, (lower, upper, init_val))
    return out


__all__ = ["scan", "while_loop", "fori_loop", "scan_p", "while_p"]
