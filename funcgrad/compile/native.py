"""The compiled tier: an optimised graph -> NumPy driver code calling numba kernels.

The graph is cut into regions: maximal runs of equations whose primitives have a `native`
rule. Each region becomes one numba function (a "kernel"); the rest stays NumPy code, so what
the compiled tier cannot lower runs as before, never an error. Inside a kernel:

- elementwise chains on arrays are written as one loop nest over the elements (a value read
  once, by another elementwise operation, is inlined: no temporaries), with vectorisable
  exp, log, tanh, sin, cos, log1p, expm1 and logaddexp (`_numba_math`), which LLVM compiles
  to SIMD code;
- `scan` and `while` bodies become native loops (their per-iteration Python dispatch, the
  cost that dominates small-state loops, is gone);
- matrix products call BLAS through numba's np.dot.

Kernels are written to a module file in the cache directory (named by the hash of their
source) and compiled with numba's on-disk cache, so a second process loads them instead of
compiling. A compiled program is used only after one run on real arguments has matched the
NumPy tier's result (`build`); a region numba cannot type falls back to NumPy code.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import threading
import warnings

import numpy as np

from ..core.ir import Eqn, Graph, Lit, Var
from ..core.primitive import Lowering
from ..core.types import ArrayType
from ..prims.families import SCALAR_OPERATORS
from .codegen import compile_graph
from .passes import has_subgraph

INSTALL_HINT = "the compiled tier needs numba: pip install 'funcgrad[fast]'"
_MAX_REGION = 4000        # equations per kernel: LLVM's compile time grows faster than linear
# Outside loops, an operation on more elements than this stays NumPy code unless it is
# elementwise (a fused loop, which beats NumPy at any size): NumPy's reductions and its BLAS
# calls on strided views beat numba's loops and copies there; below it, a kernel saves a
# microsecond of dispatch per operation.
LARGE = 512
_SUPPORTED_KINDS = "biuf"


# NumPy's functions that `_numba_math` has in a form LLVM vectorises (numba calls libm per
# element for its own): the names kernels call
_FAST_MATH = {np.exp: "fast_exp", np.log: "fast_log", np.tanh: "fast_tanh",
              np.sin: "fast_sin", np.cos: "fast_cos", np.log1p: "fast_log1p",
              np.expm1: "fast_expm1", np.logaddexp: "fast_logaddexp"}
# exact for |x| <= TRIG_LIMIT only: a kernel using them sets _GUARD if an argument is beyond
# it, and that call of the kernel is redone by the region's NumPy code
_LIMITED_RANGE = {np.sin, np.cos}
_GUARD = "beyond_range"
# float arithmetic on scalars, written as operators; division too, as kernels use NumPy's
# error model (x / 0 is inf, not ZeroDivisionError)
_OPERATORS = {**SCALAR_OPERATORS, np.true_divide: "({0} / {1})"}


class Unsupported(Exception):
    """Raised by a `native` rule for an application it cannot write as kernel code."""


def available() -> bool:
    """Is numba importable (the `fast` extra installed)?

    >>> isinstance(available(), bool)
    True
    """
    return importlib.util.find_spec("numba") is not None    # without importing it (0.5 s)


# ------------------------------------------------------------------------- kernel builder


def _np_type(dt) -> str:
    dt = np.dtype(dt)
    return "np.bool_" if dt.kind == "b" else f"np.{dt.name}"


class KernelBuilder:
    """Writes the source of one kernel. `native` rules call it: `lit`, `tmp`, `line`,
    `ufunc`, `cast`, `for_each` (a loop nest), `guard`, `inline` (a sub-graph, for loop
    bodies) and `Unsupported`."""

    Unsupported = Unsupported

    def __init__(self):
        self.lines: list[str] = []
        self.prelude: list[str] = []
        self.depth = 1
        self._count = 0
        self._lits: dict = {}
        self.const_args: list[tuple[str, np.ndarray]] = []   # arrays loop bodies captured
        self.loop_depth = 0
        self._packed: list[Small] = []      # small values packed so far (undone on rollback)
        self._loop_nest = False             # writing one element of an elementwise loop nest?
        self._guards: list[str] = []        # arguments of limited-range fast functions there
        # arrays a loop nest allocated that only loop nests have read (by element): no other
        # name can alias them, so a nest reading one for the last time may write into it
        self._owned: set[str] = set()
        self._nest_reads: dict[Var, int] = {}     # reads of each value by nests written so far
        self._read_log: list[Var] = []            # ... in order (undone on rollback)
        self.guarded = False    # does the kernel set _GUARD (then it returns it last)?
        # loop nests computing these values write straight into these slices (a scan's
        # stacked outputs), and `written` names the views they wrote through
        self._dest: dict[Var, str] = {}
        self.written: dict[Var, str] = {}

    @staticmethod
    def dtype(dt) -> str:
        """The kernel's name for a dtype (np.float32, np.bool_ ...)."""
        return _np_type(dt)

    def guard(self, flag: str) -> None:
        """A line setting the kernel's guard where `flag` (a boolean expression) is true: that
        call of the kernel is then redone by the region's NumPy code (which raises where NumPy
        raises: a singular matrix, say)."""
        self.guarded = True
        self.line(f"{_GUARD} |= {flag}")

    @staticmethod
    def is_small(aval) -> bool:
        """Is a value of type `aval` kept as scalars in kernels (at most SMALL elements)?"""
        return is_small(aval)

    def write_into(self, dests: dict) -> dict:
        """Have the loop nests that compute the values in `dests` (Var -> an array slice of
        their shape and dtype, say `ys[i]`) write there in place of a new array: no copy
        afterwards. Returns the previous map, to restore."""
        prev, self._dest = self._dest, dests
        return prev

    def for_each(self, shape: tuple) -> list[str]:
        """Open a loop nest over the elements of `shape`; its index names. The caller writes
        the body, then closes the nest with `self.depth -= len(index)`."""
        index = [self.tmp("j") for _ in shape]
        for j, n in zip(index, shape):
            self.line(f"for {j} in range({n}):")
            self.depth += 1
        return index

    # -- names and lines
    def tmp(self, stem: str = "t") -> str:
        self._count += 1
        return f"{stem}{self._count}"

    def line(self, src: str) -> None:
        self.lines.append("    " * self.depth + src)

    def lit(self, val, dtype) -> str:
        """A named constant of `dtype` holding `val` (hoisted to the kernel's first lines)."""
        dt = np.dtype(dtype)
        if dt.kind not in _SUPPORTED_KINDS:
            raise Unsupported(f"constant of dtype {dt}")
        if dt.kind == "b":
            return "True" if val else "False"
        if dt.kind == "f":
            v = float(val)
            text = repr(v) if np.isfinite(v) else ("np.nan" if v != v else
                                                    ("np.inf" if v > 0 else "-np.inf"))
        else:
            text = repr(int(val))
        key = (text, dt.name)
        name = self._lits.get(key)
        if name is None:
            name = self._lits[key] = f"l{len(self._lits)}"
            self.prelude.append(f"    {name} = {_np_type(dt)}({text})")
        return name

    # -- typing helpers for rules
    def cast(self, expr: str, aval, dtype) -> str:
        """`expr` (of type `aval`) converted to `dtype`, or itself if it already has it."""
        dtype = np.dtype(dtype)
        if aval.dtype == dtype:
            return expr
        if aval.ndim == 0:
            return f"{_np_type(dtype)}({expr})"
        return f"{expr}.astype({_np_type(dtype)})"

    def ufunc(self, fn, args: list[str], eqn: Eqn) -> str:
        """`fn(*args)` for a NumPy ufunc numba supports, with NumPy's dtype rules: operands
        of one kind are first converted to the dtype the operation computes in (NumPy 2
        promotion, with weakly typed Python scalars, which numba's own promotion would not
        follow), and numba must have a loop from exactly those dtypes to the result's."""
        from numba.np.ufunc_db import get_ufunc_info, get_ufuncs
        if not isinstance(fn, np.ufunc) or fn not in get_ufuncs() or \
                getattr(np, fn.__name__, None) is not fn:
            raise Unsupported(f"{getattr(fn, '__name__', fn)} is not a numba ufunc")
        out = eqn.outputs[0].aval
        in_avals = [v.aval for v in eqn.inputs]
        # NumPy 2 promotion: a weakly typed operand acts as a Python scalar of its kind
        common = np.result_type(*[{"b": False, "i": 0, "u": 0, "f": 0.0}.get(a.dtype.kind, 0.0)
                                  if a.weak else a.dtype for a in in_avals])
        if out.dtype.kind in "iu" and fn in (np.true_divide, np.floor_divide, np.remainder,
                                             np.fmod, np.power):
            raise Unsupported("integer division and powers follow Python's rules in numba")
        loops = get_ufunc_info(fn)
        n = len(in_avals)
        # the operand dtypes NumPy computes in, most specific first: each operand brought to
        # the common dtype of its kind (ldexp's int exponent stays an int), every operand in
        # the common dtype (a comparison of floats with an int literal), or, for arithmetic,
        # every operand in the result's dtype (an int array times a float)
        choices = [[common if a.dtype.kind == common.kind else a.dtype for a in in_avals],
                   [common] * n]
        if out.dtype.kind in "fc":
            choices.append([out.dtype] * n)
        for dtypes in choices:
            if "".join(d.char for d in dtypes) + "->" + out.dtype.char in loops:
                break
        else:
            raise Unsupported(f"no numba loop of {fn.__name__} for these dtypes")
        args = [self.cast(a, av, d) for a, av, d in zip(args, in_avals, dtypes)]
        if out.ndim == 0 and fn in _FAST_MATH:
            return self.math(fn, args, out.dtype)  # an element of a loop nest, or unrolled
        if out.ndim == 0 and fn in _OPERATORS and out.dtype.kind == "f" and \
                all(d == out.dtype for d in dtypes):
            # the same IEEE operation, and numba types an operator faster than a ufunc
            # call: 12% of W5's compile time
            return _OPERATORS[fn].format(*args)
        return f"np.{fn.__name__}({', '.join(args)})"

    def math(self, fn, xs: list[str], dtype) -> str:
        """`fn(*xs)` for scalars `xs` of float `dtype`, where `fn` is in _FAST_MATH. In an
        elementwise loop nest it is `_numba_math`'s version, which LLVM vectorises (it
        computes in float64); elsewhere (unrolled scalars) libm's, quicker to compile."""
        if not self._loop_nest:
            return f"np.{fn.__name__}({', '.join(xs)})"
        if fn in _LIMITED_RANGE:
            xs = [self.materialize(xs[0], "e")]
            self._guards.append(xs[0])
        fast = f"{_FAST_MATH[fn]}({', '.join(xs)})"
        return fast if np.dtype(dtype) == np.float64 else f"{_np_type(dtype)}({fast})"

    # -- emitting graphs
    def emit(self, eqns, env: dict, uses: dict, consumer: dict, start: int = 0,
             stop: int | None = None) -> int:
        """Write `eqns[start:stop]` (a region, or a loop body: its block's `_uses`); returns
        how many were written before the first one that has no native rule."""
        stop = len(eqns) if stop is None else min(stop, len(eqns))
        for i in range(start, stop):
            try:
                self.emit_eqn(eqns[i], env, uses, consumer)
            except Unsupported:
                return i - start
        return stop - start

    def atom(self, v, env: dict):
        if isinstance(v, Lit):
            return self.lit(v.val, v.aval.dtype)
        return env[v]

    def emit_eqn(self, eqn: Eqn, env: dict, uses: dict, consumer: dict) -> None:
        prim = eqn.primitive
        rule = prim.native
        if rule is None or prim.effect:
            raise Unsupported(prim.name)
        for v in (*eqn.inputs, *eqn.outputs):
            if v.aval.dtype.kind not in _SUPPORTED_KINDS or v.aval.dtype == np.float16:
                raise Unsupported(f"dtype {v.aval.dtype}")
            if v.aval.size > LARGE and not (self.loop_depth or _loop_like(eqn)
                                            or prim.elementwise or _own_loop(eqn)):
                raise Unsupported("large arrays outside loops run faster as NumPy code")
        mark = self._mark()
        try:
            vals = [self.atom(v, env) for v in eqn.inputs]
            fusable = prim.elementwise and len(eqn.outputs) == 1 and \
                eqn.outputs[0].aval.ndim and not is_small(eqn.outputs[0].aval)
            if not fusable:
                vals = [self.materialize(x) if isinstance(x, Pending) else x for x in vals]
                self._owned.difference_update(x for x in vals if isinstance(x, str))
            if fusable:
                result = self._pending(eqn, vals, rule, uses)
            elif _loop_like(eqn):
                result = rule(self, vals, eqn)          # loops take small values as they are
            elif any(isinstance(x, Small) for x in vals) or any(
                    is_small(v.aval) for v in eqn.outputs):
                result = self._small(eqn, vals, rule)
            else:
                result = rule(self, vals, eqn)
        except Unsupported:
            self._rollback(mark)
            raise
        results = [result] if isinstance(result, (str, Small, Pending)) else list(result)
        for v, expr in zip(eqn.outputs, results):
            if isinstance(expr, Pending):
                # read once, by an elementwise equation: written inside that one's loop
                inline = uses.get(v) == 1 and v in consumer and \
                    consumer[v].primitive.elementwise
                env[v] = expr if inline else self._loop(expr)
            elif isinstance(expr, Small):
                env[v] = expr
            elif is_small(v.aval):
                env[v] = self.unpack(expr, v.aval)
            elif expr.isidentifier() or expr in ("True", "False"):
                env[v] = expr
            elif (prim.elementwise and uses.get(v) == 1 and v in consumer
                  and consumer[v].primitive.elementwise):
                env[v] = f"({expr})"       # inlined into its one consumer: fused, no temporary
            else:
                name = self.tmp()
                self.line(f"{name} = {expr}")
                env[v] = name

    # -- small arrays: unrolled into one scalar per element (no allocation, no loop)
    def _small(self, eqn: Eqn, vals: list, rule):
        prim = eqn.primitive
        scalar_ins = all(isinstance(x, Small) or v.aval.ndim == 0
                         for x, v in zip(vals, eqn.inputs))
        small_outs = all(is_small(v.aval) or v.aval.ndim == 0 for v in eqn.outputs)
        if scalar_ins and small_outs and not prim.multiple_results:
            if prim.elementwise:
                return self._unrolled(eqn, vals, rule)
            if not _loop_like(eqn):
                mark = self._mark()
                try:
                    return self._symbolic(eqn, vals)
                except Unsupported:
                    self._rollback(mark)
        return rule(self, [self.pack(x, v.aval) if isinstance(x, Small) else x
                           for x, v in zip(vals, eqn.inputs)], eqn)

    def _unrolled(self, eqn: Eqn, vals: list, rule) -> Small:
        """An elementwise operation applied element by element (its rule on 0-d operands)."""
        out = eqn.outputs[0].aval
        scalar = _scalar_eqn(eqn)
        elems = []
        for idx in np.ndindex(out.shape):
            args = []
            for x, v in zip(vals, eqn.inputs):
                if isinstance(x, Small):
                    # the element NumPy broadcasting reads (size-1 axes repeat)
                    shape = v.aval.shape
                    src = idx[len(idx) - len(shape):]
                    src = tuple(0 if d == 1 else j for j, d in zip(src, shape))
                    args.append(x.elems[int(np.ravel_multi_index(src, shape))] if shape
                                else x.elems[0])
                else:
                    args.append(x)
            elems.append(self.materialize(rule(self, args, scalar)))
        return Small(elems, out.shape)

    # -- arrays: elementwise chains written as one explicit loop nest
    def _pending(self, eqn: Eqn, vals: list, rule, uses: dict) -> Pending:
        """An elementwise operation on arrays, written later inside the loop of the value
        that reads it (`_loop`). Its rule is tried on scalars now, so that an operation the
        kernel cannot do is refused here, where the region can still end before it."""
        mark = self._mark()
        self._loop_nest = True
        try:
            rule(self, [self.tmp("z") for _ in eqn.inputs], _scalar_eqn(eqn))
        finally:
            self._loop_nest, self._guards = False, []
            self._rollback(mark)
        return Pending(eqn, vals, rule, uses)

    def _loop(self, root: Pending) -> str:
        """The array `root` computes, written as one loop nest over its elements with the
        pending operations it reads inlined: no temporary arrays, and no calls LLVM cannot
        vectorise (exp, log, tanh, sin, cos, log1p, expm1 and logaddexp are `_numba_math`'s)."""
        order, stack = [], [root]          # the pending operations, operands first
        while stack:
            node = stack.pop()
            order.append(node)
            stack.extend(x for x in node.vals if isinstance(x, Pending))
        order.reverse()
        # small operands become arrays before the loop, where the loop body can index them,
        # and scalar expressions names (computed once, not once per element)
        operands = {id(node): [self.pack(x, v.aval) if isinstance(x, Small) else
                               self.materialize(x) if isinstance(x, str) and v.aval.ndim == 0
                               else x for x, v in zip(node.vals, node.eqn.inputs)]
                    for node in order}
        out = root.eqn.outputs[0].aval
        name = self._dying_buffer(order, operands, out)
        dest = self._dest.get(root.eqn.outputs[0])
        if dest is not None:        # a view of the destination (never reused as a buffer)
            name = self.tmp()
            self.line(f"{name} = {dest}")
            self.written[root.eqn.outputs[0]] = name
        elif name is None:
            name = self.tmp()
            self.line(f"{name} = np.empty({out.shape!r}, {_np_type(out.dtype)})")
            self._owned.add(name)
        index = self.for_each(out.shape)
        done: dict[int, str] = {}
        self._loop_nest = True
        try:
            for node in order:
                args = []
                for x, v in zip(operands[id(node)], node.eqn.inputs):
                    if isinstance(x, Pending):
                        args.append(done[id(x)])
                    elif v.aval.ndim == 0:
                        args.append(x)
                    else:       # the element NumPy broadcasting reads (size-1 axes repeat)
                        shape = v.aval.shape
                        idx = [("0" if d == 1 else j)
                               for j, d in zip(index[len(index) - len(shape):], shape)]
                        args.append(f"{x}[{', '.join(idx)}]")
                expr = node.rule(self, args, _scalar_eqn(node.eqn))
                done[id(node)] = self.materialize(expr, "e") if node is not root else expr
        finally:
            self._loop_nest = False
        guards, self._guards = self._guards, []
        if guards:
            self.guard(" | ".join(f"(abs({g}) > TRIG_LIMIT)" for g in guards))
        self.line(f"{name}[{', '.join(index)}] = {done[id(root)]}")
        self.depth -= len(index)
        return name

    def _dying_buffer(self, order: list, operands: dict, out) -> str | None:
        """An array the nest reads for the last time, element by element at the index it
        writes, that nothing else can see: the nest may write its result there."""
        reads = self._nest_reads
        for node in order:
            for v in node.eqn.inputs:
                if isinstance(v, Var):
                    reads[v] = reads.get(v, 0) + 1
                    self._read_log.append(v)
        for node in order:
            for x, v in zip(operands[id(node)], node.eqn.inputs):
                if isinstance(x, str) and x in self._owned and isinstance(v, Var) and \
                        v.aval.shape == out.shape and v.aval.dtype == out.dtype and \
                        node.uses.get(v) == reads[v]:
                    return x
        return None

    def _symbolic(self, eqn: Eqn, vals: list) -> Small | str:
        """A primitive on small operands whose NumPy impl only moves, adds and multiplies
        elements (data movement, reductions by sums, products): that impl, run on arrays of
        symbolic scalars, gives each output element as an expression. An impl that does
        anything else with an element (compares it, takes its sine) raises, and the
        application is written as array code instead."""
        out = eqn.outputs[0].aval
        ins = []
        for x, v in zip(vals, eqn.inputs):
            elems = x.elems if isinstance(x, Small) else [x]
            cast = [_Sym(self.cast(e, ArrayType((), v.aval.dtype), out.dtype)) for e in elems]
            ins.append(cast[0] if v.aval.ndim == 0 else
                       np.array(cast + [None], dtype=object)[:-1].reshape(v.aval.shape))
        try:
            with _SymContext(self, out.dtype):
                res = eqn.primitive.impl(*ins, **eqn.params)
            res = np.asarray(res, dtype=object)
        except Exception as err:
            raise Unsupported(f"{eqn.primitive.name} on symbolic values: {err}") from None
        if res.shape != out.shape:
            raise Unsupported(f"{eqn.primitive.name} gave shape {res.shape} symbolically")
        elems = [self.materialize(_sym_text(e, self, out.dtype)) for e in res.ravel()]
        return Small(elems, out.shape) if out.ndim else elems[0]

    def pack(self, x: Small, aval) -> str:
        """A small value as an array (for an operation that is not unrolled)."""
        if x.packed is None:
            arr = self.tmp("p")
            self.line(f"{arr} = np.array(({', '.join(x.elems)},), {_np_type(aval.dtype)})"
                      + (f".reshape({aval.shape!r})" if aval.ndim > 1 else ""))
            x.packed = arr
            self._packed.append(x)
        return x.packed

    def _mark(self) -> tuple[int, int, int, int]:
        return len(self.lines), len(self._packed), self.depth, len(self._read_log)

    def _rollback(self, mark) -> None:
        """Forget lines written since `mark` (and arrays packed, and reads counted, by
        them)."""
        lines, packed, depth, reads = mark
        del self.lines[lines:]
        for x in self._packed[packed:]:
            x.packed = None
        del self._packed[packed:]
        self.depth = depth
        for v in self._read_log[reads:]:
            self._nest_reads[v] -= 1
        del self._read_log[reads:]

    def unpack(self, expr: str, aval) -> Small:
        arr = self.materialize(expr)
        elems = [self.materialize(f"{arr}[{', '.join(map(str, idx))}]")
                 for idx in np.ndindex(aval.shape)]
        small = Small(elems, aval.shape)
        small.packed = arr
        return small

    # -- loop support: carries, stacked outputs, slices (small values are unrolled there too)
    def carry(self, val, in_aval, body_aval):
        """A loop-carried value: fresh names (a loop rebinds them) holding `val`."""
        if isinstance(val, Small):
            return Small([self.materialize(self.cast(e, ArrayType((), in_aval.dtype),
                                                     body_aval.dtype), "c", force=True)
                          for e in val.elems], val.shape)
        return self.materialize(self.cast(val, in_aval, body_aval.dtype), "c", force=True)

    def rebind(self, carry: list, outs: list) -> None:
        """End of an iteration: `carry = outs` (all at once)."""
        names, vals = [], []
        for c, o in zip(carry, outs):
            if isinstance(c, Small):
                o = o if isinstance(o, Small) else self.unpack(o, ArrayType(c.shape, None))
                names += c.elems
                vals += o.elems
                c.packed = None     # an array packed from the old elements is stale now
            else:
                names.append(c)
                vals.append(self.pack(o, ArrayType(o.shape, None)) if isinstance(o, Small)
                            else o)
        if names:
            self.line(f"{', '.join(names)} = {', '.join(vals)}")

    def buffer(self, aval) -> str:
        """An uninitialised array for a loop's stacked outputs."""
        name = self.tmp("ys")
        self.line(f"{name} = np.empty({aval.shape!r}, {_np_type(aval.dtype)})")
        return name

    def store(self, buf: str, i: str, val, aval) -> None:
        """`buf[i] = val`, `aval` the type of val (one slice of buf). An array is copied by
        an explicit loop nest: numba's array-into-slice assignment costs about 3 s of
        compile time the first time in a process (0.1 s the loops)."""
        if isinstance(val, Small):
            for idx, e in zip(np.ndindex(val.shape), val.elems):
                self.line(f"{buf}[{', '.join([i, *map(str, idx)])}] = {e}")
        elif aval.ndim == 0:
            self.line(f"{buf}[{i}] = {val}")
        else:
            index = self.for_each(aval.shape)
            self.line(f"{buf}[{', '.join([i, *index])}] = {val}[{', '.join(index)}]")
            self.depth -= len(index)

    def load(self, xs: str, i: str, aval):
        """`xs[i]` (aval: the slice's type)."""
        if is_small(aval):
            return Small([self.materialize(f"{xs}[{', '.join([i, *map(str, idx)])}]", "x")
                          for idx in np.ndindex(aval.shape)], aval.shape)
        return self.materialize(f"{xs}[{i}]", "x")

    def inline(self, graph: Graph, args: list) -> list:
        """Write a sub-graph's equations (a loop body) here; its outputs' values."""
        env: dict = {}
        for v, a in zip(graph.invars, args):
            env[v] = a
        for v, c in zip(graph.constvars, graph.consts):
            if np.ndim(c) == 0:
                env[v] = self.lit(np.asarray(c)[()], v.aval.dtype)
            elif is_small(v.aval):
                env[v] = Small([self.lit(e, v.aval.dtype) for e in np.ravel(c)], v.aval.shape)
            else:      # passed to the kernel as an argument (never baked into its code)
                name = f"k{len(self.const_args)}"
                self.const_args.append((name, np.ascontiguousarray(c)))
                env[v] = name
        self.loop_depth += 1
        packed = len(self._packed)
        try:
            if self.emit(graph.eqns, env, *_uses(graph)) != len(graph.eqns):
                raise Unsupported("a loop body with an operation the compiled tier lacks")
        finally:
            self.loop_depth -= 1
            # an array packed inside the body is not defined after the loop (which may run
            # no iteration): later uses pack again
            for x in self._packed[packed:]:
                x.packed = None
            del self._packed[packed:]
        return [self.atom(v, env) for v in graph.outvars]

    def branches(self, index: str, graphs, args: list) -> list:
        """`if index == 0: <graph 0> elif ...: ... else: <last graph>`, each graph written
        inline on `args`; the names (or small values of names) every branch assigns."""
        if len(graphs) == 1:
            return self.inline(graphs[0], args)
        n = len(graphs)
        i = self.materialize(f"({index} + {n} if {index} < 0 else {index})", "b")
        targets = [Small([self.tmp("r") for _ in range(a.size)], a.shape) if is_small(a)
                   else self.tmp("r") for a in graphs[0].out_avals]
        for b, graph in enumerate(graphs):
            self.line(f"if {i} == 0:" if b == 0 else f"elif {i} == {b}:" if b < n - 1
                      else "else:")
            self.depth += 1
            outs = self.inline(graph, args)
            names, vals = [], []
            for t, o, a in zip(targets, outs, graph.out_avals):
                if isinstance(t, Small):
                    o = o if isinstance(o, Small) else self.unpack(o, a)
                    names += t.elems
                    vals += o.elems
                else:
                    names.append(t)
                    vals.append(self.pack(o, a) if isinstance(o, Small) else o)
            self.line(f"{', '.join(names)} = {', '.join(vals)}" if names else "pass")
            self.depth -= 1
        return targets

    def materialize(self, expr, stem: str = "t", force: bool = False):
        """`expr` as a name (evaluated once here); with `force`, always a new name (one that a
        loop may rebind). A small value is materialised element by element."""
        if isinstance(expr, Pending):
            expr = self._loop(expr)
        if isinstance(expr, Small):
            return Small([self.materialize(e, stem, force) for e in expr.elems], expr.shape)
        if not force and (expr.isidentifier() or expr in ("True", "False")):
            return expr
        name = self.tmp(stem)
        self.line(f"{name} = {expr}")
        return name


SMALL = 16      # arrays of at most this many elements are unrolled into scalars in kernels


def is_small(aval) -> bool:
    return aval.ndim > 0 and 0 < aval.size <= SMALL


class Small:
    """A small array inside a kernel: one scalar expression per element (C order)."""

    __slots__ = ("elems", "shape", "packed")

    def __init__(self, elems: list[str], shape: tuple):
        self.elems, self.shape, self.packed = elems, tuple(shape), None


class Pending:
    """An elementwise operation on arrays not written yet: `_loop` writes it inside the loop
    of the operation that reads it."""

    __slots__ = ("eqn", "vals", "rule", "uses")

    def __init__(self, eqn: Eqn, vals: list, rule, uses: dict):
        self.eqn, self.vals, self.rule = eqn, vals, rule
        self.uses = uses        # the read counts of the graph (or loop body) it is in


def _scalar_eqn(eqn: Eqn) -> Eqn:
    """The elementwise `eqn` on 0-d operands (what its rule writes for one element)."""
    return Eqn(eqn.primitive, [Var(ArrayType((), v.aval.dtype, v.aval.weak))
                               for v in eqn.inputs],
               [Var(ArrayType((), v.aval.dtype)) for v in eqn.outputs], eqn.params)


class _SymContext:
    """While a primitive's impl runs on symbolic values: the builder and dtype that turn a
    number it makes (a zero to add to) into a kernel constant (per thread: the background
    compiler and a caller's backend='compiled' may build kernels at once)."""

    _local = threading.local()

    def __init__(self, k, dtype):
        self.k, self.dtype = k, dtype

    @classmethod
    def stack(cls) -> list:
        if not hasattr(cls._local, "stack"):
            cls._local.stack = []
        return cls._local.stack

    def __enter__(self):
        _SymContext.stack().append(self)

    def __exit__(self, *exc):
        _SymContext.stack().pop()


def _sym_text(x, k=None, dtype=None) -> str:
    if isinstance(x, np.ndarray) and x.shape == ():
        x = x[()]
    if isinstance(x, _Sym):
        return x.text
    ctx = _SymContext.stack()[-1] if k is None else None
    k, dtype = (ctx.k, ctx.dtype) if ctx is not None else (k, dtype)
    return k.lit(x, dtype)


class _Sym:
    """A symbolic scalar: arithmetic builds the expression's text."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def _binary(symbol: str, reflected: bool = False):
        def method(self, o):
            a, b = (_sym_text(o), self.text) if reflected else (self.text, _sym_text(o))
            return _Sym(f"({a} {symbol} {b})")
        return method

    __add__, __radd__ = _binary("+"), _binary("+", True)
    __sub__, __rsub__ = _binary("-"), _binary("-", True)
    __mul__, __rmul__ = _binary("*"), _binary("*", True)
    del _binary

    def __neg__(self):
        return _Sym(f"(-{self.text})")

    def __pos__(self):
        return self

    def _refuse(self, *args):
        raise TypeError("a symbolic value has no truth value or order")

    __bool__ = __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __float__ = _refuse
    __hash__ = object.__hash__


# --------------------------------------------------------------------- regions and kernels

class Region:
    """A run of equations written as one kernel."""

    def __init__(self, eqns, inputs, outputs, source: str, views: bool, const_args: list,
                 guarded: bool = False):
        self.eqns, self.inputs, self.outputs, self.source = eqns, inputs, outputs, source
        self.views = views          # may an output share memory with an input?
        self.const_args = const_args    # arrays passed after the inputs (loop-body constants)
        self.guarded = guarded      # does the kernel also return _GUARD?
        self.kernel = None          # what the driver calls (the numba dispatcher, or a guard)

    def numpy_code(self):
        """The region's equations as NumPy code (what runs where the kernel cannot), with
        outputs as the kernel's are: arrays (0-d ones too), never views of the inputs."""
        fn, _ = compile_graph(Graph(self.inputs, self.outputs, self.eqns), "region")
        return fn

    def with_guard(self, disp):
        """`disp`, or for a guarded kernel, a function calling it that redoes the call with
        the region's NumPy code when the kernel's `_GUARD` says it left its exact range."""
        if not self.guarded:
            return disp
        fallback, n = self.numpy_code(), len(self.inputs)

        def call(*args):
            *outs, beyond = disp(*args)
            return fallback(*args[:n]) if beyond else outs
        return call


def _loop_like(eqn: Eqn) -> bool:
    """Does the equation hold sub-graphs (a loop body, cond's branches)?"""
    return has_subgraph(eqn.params)


def _own_loop(eqn: Eqn) -> bool:
    """Is the equation's kernel code a loop NumPy would run in C only call by call (its
    `native` rule says `own_loop`: small solves over a stack)? Worth a kernel at any size,
    and alone."""
    return getattr(eqn.primitive.native, "own_loop", False)


def _uses(graph: Graph) -> tuple[dict, dict]:
    """How many times each variable is read (an output of the graph counts once), and the
    equation that reads it (the last one)."""
    uses: dict[Var, int] = {}
    consumer: dict[Var, Eqn] = {}
    for eqn in graph.eqns:
        for v in eqn.inputs:
            if isinstance(v, Var):
                uses[v] = uses.get(v, 0) + 1
                consumer[v] = eqn
    for v in graph.outvars:
        if isinstance(v, Var):
            uses[v] = uses.get(v, 0) + 1
    return uses, consumer


def partition(graph: Graph) -> list:
    """The graph's equations as a list of `Eqn` (NumPy code) and `Region` (a kernel).
    Linear in the graph's size: the use counts are the graph's, computed once."""
    uses, consumer = _uses(graph)
    items: list = []
    eqns, i = graph.eqns, 0
    while i < len(eqns):
        region, n = _build_region(eqns, i, uses, consumer)
        if region is None:
            items.extend(eqns[i:i + max(n, 1)])
            i += max(n, 1)
        else:
            items.append(region)
            i += n
    return items


def _build_region(eqns, start: int, uses: dict, consumer: dict) -> tuple[Region | None, int]:
    """The longest run of `eqns` from `start` that is one worthwhile kernel (at most
    _MAX_REGION equations), or (None, its length)."""
    k = KernelBuilder()
    params: dict[Var, str] = {}

    class Env(dict):
        def __missing__(self, v):       # a value from outside the region: a parameter
            name = f"a{len(params)}"
            params[v] = name
            value = name
            if v.aval.ndim == 0:
                k.prelude.append(f"    s{name} = as_scalar({name})")
                value = f"s{name}"
            elif is_small(v.aval):
                elems = []
                for j, idx in enumerate(np.ndindex(v.aval.shape)):
                    k.prelude.append(f"    {name}_{j} = {name}[{', '.join(map(str, idx))}]")
                    elems.append(f"{name}_{j}")
                value = Small(elems, v.aval.shape)
                value.packed = name         # an operation that takes arrays takes it as is
            self[v] = value
            return value
    env = Env()
    # A value read once, by an elementwise equation, is inlined into it; if that reader is
    # not in the region after all, the value is an output, materialised at the end.
    n = k.emit(eqns, env, uses, consumer, start, start + _MAX_REGION)
    body = eqns[start:start + n]
    if n == 0 or (n == 1 and not (_loop_like(body[0]) or _own_loop(body[0]))):
        return None, n
    used_inside, _ = _uses(Graph([], [], body))
    outputs = [v for v in dict.fromkeys(v for e in body for v in e.outputs)
               if uses.get(v, 0) > used_inside.get(v, 0)]
    if not outputs:
        return None, n
    out_exprs = []
    for v in outputs:
        val = env[v]
        if isinstance(val, Small):
            out_exprs.append(k.pack(val, v.aval))
            continue
        expr = k.materialize(val, "o")
        out_exprs.append(expr if v.aval.ndim else f"to_0d({expr})")
    inputs = list(params)
    # an output made by a primitive that may return a view (reshape, broadcast_to, a loop
    # handing its carry back) is not fresh memory the NumPy driver could overwrite
    viewish = {v for e in body if not e.primitive.fresh for v in e.outputs}
    views = any(v in viewish for v in outputs)
    names = [params[v] for v in inputs] + [name for name, _ in k.const_args]
    if k.guarded:
        k.prelude.append(f"    {_GUARD} = False")
        out_exprs.append(_GUARD)
    src = ["def kernel(" + ", ".join(names) + "):", *k.prelude, *k.lines,
           f"    return ({', '.join(out_exprs)},)"]
    return Region(body, inputs, outputs, "\n".join(src) + "\n", views,
                  [c for _, c in k.const_args], k.guarded), n


# ----------------------------------------------------------------------- numba and caching

def _library_digest() -> str:
    """A hash of the helper modules kernels call: numba's disk cache checks a kernel file's
    own timestamp only, and a kernel inlines these helpers, so it is part of the file name."""
    here = os.path.dirname(__file__)
    h = hashlib.sha256()
    for name in ("_numba_lib.py", "_numba_math.py"):
        with open(os.path.join(here, name), "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


_HEADER = (f"# kernel helpers {_library_digest()}\n"
           "import numpy as np\nimport numba\n"
           "from funcgrad.compile._numba_lib import as_scalar, to_0d, row_sums, row_max, "
           "row_min, col_sums, small_solve, small_inv, dot\n"
           "from funcgrad.compile._numba_math import TRIG_LIMIT, fast_cos, fast_exp, fast_expm1, "
           "fast_log, fast_log1p, fast_logaddexp, fast_sin, fast_tanh\n\n")
_DECORATOR = '@numba.njit(cache=True, nogil=True, error_model="numpy")\n'
_kernels: dict[str, object] = {}
_kernels_lock = threading.Lock()


def cache_dir() -> str:
    """Where kernel modules (and numba's compiled code beside them) are kept across
    processes: $FUNCGRAD_CACHE_DIR, else ~/.cache/funcgrad/kernels."""
    root = os.environ.get("FUNCGRAD_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "funcgrad")
    return os.path.join(root, "kernels")


def _writable_dir() -> str:
    path = cache_dir()
    try:
        os.makedirs(path, exist_ok=True)
        if os.access(path, os.W_OK):
            return path
    except OSError:
        pass
    path = os.path.join(tempfile.gettempdir(), f"funcgrad-kernels-{os.getuid()}")
    os.makedirs(path, exist_ok=True)
    return path


def load_kernel(source: str):
    """The numba dispatcher of a kernel's source (one module file per distinct source)."""
    with _kernels_lock:
        disp = _kernels.get(source)
        if disp is not None:
            return disp
        # numba's disk cache does not key on the optimisation level: a kernel compiled at
        # NUMBA_OPT=0 (as the test suite runs) would be loaded, slow, at level 3. So the level
        # is part of the text, hence of the file name.
        from numba.core import config
        text = f"# numba optimisation level {int(config.OPT)}\n" + _HEADER + _DECORATOR + source
        digest = hashlib.sha256(text.encode()).hexdigest()[:24]
        name = f"funcgrad_kernel_{digest}"
        path = os.path.join(_writable_dir(), name + ".py")
        if not os.path.exists(path):
            # written once, atomically: numba's disk cache is keyed by the file's timestamp
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.replace(tmp, path)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        disp = _kernels[source] = module.kernel
        return disp


class _KernelCall:
    """What the NumPy code generator sees of a region: a multiple-result operation whose
    lowering calls the kernel."""

    name = "native_kernel"
    multiple_results = True
    effect = False
    simplify = None

    def __init__(self, region: Region, fn):
        self.region, self.impl = region, fn
        self.fresh = not region.views
        n = len(region.inputs)
        refs = {"k": fn, **{f"c{i}": c for i, c in enumerate(region.const_args)}}
        operands = [f"{{{i}}}" for i in range(n)] + [
            f"{{c{i}}}" for i in range(len(region.const_args))]
        self._lowering = Lowering("{k}(" + ", ".join(operands) + ")", refs)

    def lower(self, in_avals, params):
        return self._lowering

    def bind(self, *args, **params):   # pragma: no cover - compiled graphs are not re-traced
        raise TypeError("a compiled kernel is not traceable")


def _driver_graph(graph: Graph, items, call_of) -> Graph:
    eqns = []
    for it in items:
        if isinstance(it, Region):
            eqns.append(Eqn(_KernelCall(it, call_of(it)), list(it.inputs), list(it.outputs),
                            {}, None))
        else:
            eqns.append(it)
    return Graph(graph.invars, graph.outvars, eqns, graph.constvars, graph.consts,
                 graph.names, dict(graph.info))


class NativeProgram:
    """A compiled-tier program: `fn` (the driver), `source` (driver and kernels)."""

    def __init__(self, fn, driver_source: str, regions: list[Region], fallbacks: list[str]):
        self.fn, self.regions, self.fallbacks = fn, regions, fallbacks
        parts = [driver_source]
        for i, r in enumerate(regions):
            parts.append(f"# kernel {i} ({len(r.eqns)} equations), numba\n" + _DECORATOR
                         + r.source)
        self.source = "\n".join(parts)


class Mismatch(Exception):
    """The compiled tier's result differs from the NumPy tier's (so it is not used)."""


def _tolerance(dtype) -> float:
    return 1e-4 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-7


def check_same(got, want, slack=None) -> None:
    """Raise Mismatch unless the two tiers' outputs agree (shapes, dtypes, values to a few
    ulps times the depth of the computation, plus `slack[i]` for output i; NaNs where NaNs
    are)."""
    for i, (g, w) in enumerate(zip(got, want)):
        g, w = np.asarray(g), np.asarray(w)
        if g.shape != w.shape or g.dtype != w.dtype:
            raise Mismatch(f"output {i}: {g.dtype}{list(g.shape)} vs the NumPy tier's "
                           f"{w.dtype}{list(w.shape)}")
        if w.dtype.kind in "fc":
            tol = _tolerance(w.dtype)
            finite = np.isfinite(w)
            scale = max(1.0, float(np.max(np.abs(w[finite]), initial=0.0)))
            atol = tol * scale + (slack[i] if slack is not None else 0.0)
            ok = np.array_equal(np.isnan(g), np.isnan(w)) and np.allclose(
                g[finite], w[finite], rtol=tol, atol=atol) and \
                np.array_equal(g[~finite & ~np.isnan(w)], w[~finite & ~np.isnan(w)])
        else:
            ok = np.array_equal(g, w)
        if not ok:
            with np.errstate(all="ignore"):
                err = np.max(np.abs(g.astype(np.float64) - w.astype(np.float64)), initial=0.0)
            raise Mismatch(f"output {i} ({w.dtype}{list(w.shape)}) differs from the NumPy "
                           f"tier's by up to {err:.3g}")


def _nudged(a):
    """`a` with each float element moved by about 4 ulps (a fixed pattern of signs)."""
    arr = np.asarray(a)
    if arr.dtype.kind != "f":
        return a
    eps = np.finfo(arr.dtype).eps * 4
    signs = np.where(np.arange(arr.size).reshape(arr.shape) % 2 == 0, 1.0, -1.0)
    out = (arr * (1 + eps * signs)).astype(arr.dtype)
    return out if isinstance(a, np.ndarray) else out[()] if out.ndim == 0 else out


def _numba_error(err: Exception) -> str:
    """numba's error, short: its kind, what failed and the kernel line it failed on."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    keep = [ln for ln in lines if not ln.startswith(("File ", "During:", "^"))][:6]
    return f"{type(err).__name__}: " + " | ".join(keep)[:1200]


def build(graph: Graph, args, reference, numpy_fn, fn_name: str = "compiled",
          copy_outputs: bool = True) -> NativeProgram:
    """Compile `graph` (optimised) to the compiled tier, run it on `args` and check it
    against `reference` (what the NumPy tier's code, `numpy_fn`, gave on the same arguments).
    Regions numba cannot compile run as NumPy code; a mismatch raises `Mismatch`.
    `copy_outputs` is the NumPy tier's setting (codegen.generate): False where an output may
    be an input itself (an eager program's residuals), which is then not copied."""
    from numba.core.errors import NumbaError
    if any(e.primitive.effect for e in graph.eqns):
        raise Mismatch("a program with side effects (debug callbacks) stays on the NumPy "
                       "tier, so they run once per call")
    items = partition(graph)
    regions = [it for it in items if isinstance(it, Region)]
    if not regions:
        raise Mismatch("no part of the program has compiled-tier code")
    failed: dict[int, str] = {}

    def checked(region: Region):
        disp = region.kernel = region.with_guard(load_kernel(region.source))
        n_in = len(region.inputs)

        def call(*a):
            if id(region) not in failed:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")   # numba's performance notes
                        return disp(*a)
                except NumbaError as err:
                    failed[id(region)] = _numba_error(err)
            # this run goes on with the region's NumPy code (the program drops the kernel),
            # generated only for a region that failed
            return region.numpy_code()(*a[:n_in])
        return call

    trial, _ = compile_graph(_driver_graph(graph, items, checked), fn_name, copy_outputs)
    got = trial(*args)
    fallbacks = []
    if failed:
        fallbacks = list(failed.values())
        new_items = []
        for it in items:
            if isinstance(it, Region) and id(it) in failed:
                new_items.extend(it.eqns)
            else:
                new_items.append(it)
        items = new_items
        regions = [it for it in items if isinstance(it, Region)]
        if not regions:
            raise Mismatch("numba could not compile any region: " + "; ".join(fallbacks))
    try:
        check_same(got, reference)
    except Mismatch as err:
        # Some programs amplify rounding (Adam's m / sqrt(v) on near-zero gradients, chaotic
        # loops): summing in another order legitimately moves their result. Allow what the
        # NumPy tier itself moves when its float inputs are nudged in their last bits, ten
        # times over; a wrong kernel (sin written as cos) moves results far more than that.
        moved = numpy_fn(*[_nudged(a) for a in args])
        slack = []
        for m, w in zip(moved, reference):
            m, w = np.asarray(m), np.asarray(w)
            both = np.isfinite(m) & np.isfinite(w) if w.dtype.kind in "fc" else None
            slack.append(10.0 * float(np.max(np.abs(m[both] - w[both]), initial=0.0))
                         if both is not None else 0.0)
        try:
            check_same(got, reference, slack)
        except Mismatch:
            raise err from None
    fn, src = compile_graph(_driver_graph(graph, items, lambda r: r.kernel), fn_name,
                            copy_outputs)
    return NativeProgram(fn, src, regions, fallbacks)
