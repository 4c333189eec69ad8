"""Random programs for differential fuzzing: a hypothesis strategy and the program type.

A `Program` is a list of `Op`s over named values (inputs `x0..`, results `v0..`). Each op is one
line of Python whose right-hand side names its operands; `Program.source()` prints the whole
thing as a runnable `def f(x0, ...)` using `fnp` (funcgrad.numpy) and `fg` (funcgrad), and
`compile_program` turns that source into a function over funcgrad or over plain NumPy (the
reference), so what is printed is exactly what is run.

Values stay in each primitive's domain: every op is evaluated with NumPy while it is generated,
and one that makes a non-finite or huge value is replaced by a bounded one; nonlinear ops with a
restricted domain are spelled with a guard (`log(a * a + 0.5)`, `sqrt(a * a + 0.1)`,
`b / (a * a + 0.5)`), so central finite differences are meaningful.

>>> from hypothesis import given
>>> @given(programs())
... def show(p):
...     assert p.source().startswith("def f(")
>>> show()
"""
from __future__ import annotations

import linecache
import re
import types
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

import funcgrad as fg
import funcgrad.numpy as fnp
import funcgrad.scipy as fsp

_LIMIT = 1e3          # largest magnitude a generated value may reach
_DIMS = (1, 2, 3, 4, 2, 3)
_LITERALS = (0.5, 2.0, -1.5, 3, 1.0, 0.0, 2)
_NAME = re.compile(r"\b[xv][0-9]+\b")


@dataclass(frozen=True)
class Op:
    """One line `name = expr`; `refs` are the operands' names, `defs` nested function lines
    (cond branches, scan bodies) printed before it."""

    kind: str
    name: str
    refs: tuple[str, ...]
    expr: str
    defs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Program:
    """Inputs (shape, dtype name), ops, the names returned, and the seed of the input values.

    >>> p = Program((((2,), "float64"),), (Op("sin", "v0", ("x0",), "fnp.sin(x0)"),),
    ...             ("v0",), seed=0)
    >>> print(p.source())
    def f(x0):
        v0 = fnp.sin(x0)
        return v0
    <BLANKLINE>
    """

    inputs: tuple[tuple[tuple[int, ...], str], ...]
    ops: tuple[Op, ...]
    outputs: tuple[str, ...]
    seed: int

    def source(self, f64: bool = False) -> str:
        """Runnable source of `f`; with `f64`, every dtype mentioned is float64 (the variant
        that finite differences are taken of)."""
        names = ", ".join(f"x{i}" for i in range(len(self.inputs)))
        lines = [f"def f({names}):"]
        for op in self.ops:
            lines += [f"    {d}" for d in op.defs]
            lines.append(f"    {op.name} = {op.expr}")
        ret = self.outputs[0] if len(self.outputs) == 1 else f"({', '.join(self.outputs)})"
        lines.append(f"    return {ret}")
        src = "\n".join(lines) + "\n"
        return src.replace("fnp.float32", "fnp.float64") if f64 else src

    def args(self, f64: bool = False, nonfinite: bool = False) -> list[np.ndarray]:
        """The input values: uniform in [-2, 2], seeded by `seed` (`nonfinite`: with some
        entries replaced by nan, inf and -inf)."""
        args = make_args(self.inputs, self.seed, f64)
        return inject_nonfinite(args, self.seed) if nonfinite else args

    def describe(self, f64: bool = False, args: list[np.ndarray] | None = None) -> str:
        """The source plus the statements that rebuild its arguments (`args`, by default
        the seeded ones), ready to paste."""
        args = self.args(f64) if args is None else args
        made = "\n".join(f"x{i} = {array_source(a)}" for i, a in enumerate(args))
        call = ", ".join(f"x{i}" for i in range(len(args)))
        return f"{self.source(f64)}{made}\nout = f({call})\n"


def make_args(inputs, seed: int, f64: bool = False) -> list[np.ndarray]:
    """Seeded uniform [-2, 2] arrays for `(shape, dtype)` pairs.

    >>> make_args([((2,), "float32")], seed=0)[0].dtype
    dtype('float32')
    """
    rng = np.random.default_rng(seed)
    out = []
    for shape, dtype in inputs:
        x = np.asarray(rng.uniform(-2.0, 2.0, shape)).astype("float64" if f64 else dtype)
        out.append(x)
    return out


def inject_nonfinite(arrays: list[np.ndarray], seed: int) -> list[np.ndarray]:
    """Copies of `arrays` with one to three entries of each set to nan, inf or -inf.

    >>> x, = inject_nonfinite([np.zeros(4)], seed=0)
    >>> int(np.sum(~np.isfinite(x))) >= 1
    True
    """
    rng = np.random.default_rng(seed + 7)
    out = []
    for a in arrays:
        a = a.copy()
        flat = a.reshape(-1)
        for _ in range(int(rng.integers(1, 4))):
            flat[rng.integers(0, a.size)] = rng.choice([np.nan, np.inf, -np.inf])
        out.append(a)
    return out


def array_source(a: np.ndarray) -> str:
    """Python source that rebuilds `a` exactly (repr of floats round-trips).

    >>> array_source(np.array([0.5, -np.inf], np.float32))
    'np.array([0.5, -np.inf], dtype=np.float32)'
    """
    values = re.sub(r"\b(nan|inf)\b", r"np.\1", repr(a.tolist()))
    return f"np.array({values}, dtype=np.{a.dtype.name})"


# ---------------------------------------------------------------- the NumPy reference

def _np_logsumexp(a, axis=None, keepdims=False):
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)     # as scipy: +-inf inputs give +-inf, not nan
    out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _np_cond(pred, true_fun, false_fun, *operands):
    return true_fun(*operands) if pred else false_fun(*operands)


def _np_switch(index, branches, *operands):
    return branches[int(np.clip(index, 0, len(branches) - 1))](*operands)


def _np_scan(f, init, xs, reverse=False):
    carry, ys = init, [None] * len(xs)
    for i in (range(len(xs) - 1, -1, -1) if reverse else range(len(xs))):
        carry, ys[i] = f(carry, xs[i])
    return carry, np.stack(ys)


def _np_fori_loop(lower, upper, body, init):
    val = init
    for i in range(lower, upper):   # i is a Python int; the carry keeps its dtype (as in JAX)
        val = np.asarray(body(i, val)).astype(np.asarray(init).dtype)
    return val


NP_FNP = types.SimpleNamespace(**{k: getattr(np, k) for k in dir(np) if not k.startswith("_")})
NP_FNP.logsumexp = _np_logsumexp
def _np_vmap(fun):
    return lambda *xs: np.stack([fun(*x) for x in zip(*xs)])


# Nested transformations in a program: the reference runs a loop for vmap, the function itself
# for jit and checkpoint, and funcgrad's eager grad (on NumPy functions, via the protocols).
NP_FG = types.SimpleNamespace(cond=_np_cond, switch=_np_switch, scan=_np_scan,
                              fori_loop=_np_fori_loop, vmap=_np_vmap, jit=lambda f: f,
                              checkpoint=lambda f: f, grad=fg.grad,
                              stop_gradient=lambda x: x)   # (hand-written programs only)

def _np_fsp():
    """SciPy's modules, the reference for `fsp` (funcgrad.scipy) in programs."""
    import scipy.linalg
    import scipy.signal
    import scipy.special
    import scipy.stats
    return types.SimpleNamespace(linalg=scipy.linalg, special=scipy.special, stats=scipy.stats,
                                 signal=scipy.signal)


_counter = [0]


def compile_program(source: str, backend: str = "funcgrad") -> Callable:
    """The function `f` defined by `source`, over funcgrad (`fnp`, `fg`) or over NumPy.

    >>> f = compile_program("def f(x0):\\n    return fnp.sin(x0) * 2.0\\n", "numpy")
    >>> float(f(np.array(0.0)))
    0.0
    """
    ns = {"np": np, "fnp": fnp, "fg": fg, "fsp": fsp} if backend == "funcgrad" else \
        {"np": np, "fnp": NP_FNP, "fg": NP_FG, "fsp": _np_fsp()}
    _counter[0] += 1
    filename = f"<fuzz program {_counter[0]}>"
    # Registered so tracebacks and funcgrad's error messages can show the program's lines.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), ns)
    return ns["f"]


# ---------------------------------------------------------------- the generator

@dataclass
class _Val:
    name: str
    value: np.ndarray       # its NumPy value for the program's seed (for shapes and ranges)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def ndim(self) -> int:
        return self.value.ndim


_UNARY = {
    "sin": "fnp.sin({a})", "cos": "fnp.cos({a})", "tanh": "fnp.tanh({a})",
    "arctan": "fnp.arctan({a})", "neg": "-{a}", "exp": "fnp.exp(fnp.tanh({a}))",
    "log": "fnp.log({a} * {a} + 0.5)", "log1p": "fnp.log1p({a} * {a})",
    "sqrt": "fnp.sqrt({a} * {a} + 0.1)", "square": "fnp.square({a})", "pow2": "{a} ** 2",
    "pow3": "{a} ** 3", "reciprocal": "1.0 / ({a} * {a} + 1.0)", "abs": "fnp.abs({a})",
    "expm1": "fnp.expm1(fnp.sin({a}))", "clip": "fnp.clip({a}, -0.5, 0.8)",
    "scale": "{a} * {lit}", "shift": "{a} + {lit}", "rsub": "{lit} - {a}",
    "rdiv": "{a} / 4.0", "astype": "{a}.astype(fnp.{dtype})",
}
_BINARY = {
    "add": "{a} + {b}", "sub": "{a} - {b}", "mul": "{a} * {b}",
    "div": "{a} / ({b} * {b} + 0.5)", "maximum": "fnp.maximum({a}, {b})",
    "minimum": "fnp.minimum({a}, {b})", "arctan2": "fnp.arctan2({a}, {b} * {b} + 0.5)",
    "power": "fnp.power({a} * {a} + 0.5, fnp.tanh({b}))", "logaddexp": "fnp.logaddexp({a}, {b})",
}
# `breadth` ops; {spd} is a symmetric positive definite matrix (stack) built from the operand
_BREADTH = {
    "solve": "fnp.linalg.solve({spd}, {vec}[..., None])[..., 0]",
    "cholesky": "fnp.linalg.cholesky({spd})",
    "slogdet": "fnp.linalg.slogdet({spd})[1]",
    "inv": "fnp.linalg.inv({spd})",
    "det": "fnp.linalg.det({spd} * 0.5)",
    "cho_solve": "fsp.linalg.cho_solve((fnp.linalg.cholesky({spd}), True), {vec}[..., None])",
    "eigvalsh": "fnp.linalg.eigvalsh({spd})",
    "fft": "fnp.real(fnp.fft.fft({a}, axis={ax}) * (0.5 - 1j))",
    "rfft": "fnp.imag(fnp.fft.rfft({a}, axis={ax})) + fnp.real(fnp.fft.rfft({a}, axis={ax}))",
    "irfft": "fnp.fft.irfft(fnp.fft.rfft({a}, axis={ax}) * 1.5, n={n} + 1, axis={ax})",
    "erf": "fsp.special.erf({a})",
    "gammaln": "fsp.special.gammaln({a} * {a} + 0.5)",
    "digamma": "fsp.special.digamma({a} * {a} + 0.5)",
    "expit": "fsp.special.expit({a})",
    "log_ndtr": "fsp.special.log_ndtr({a})",
    "xlogy": "fsp.special.xlogy({a}, {a} * {a} + 0.5)",
    "special_logsumexp": "fsp.special.logsumexp({a}, axis={ax}, b=fnp.cos({a}) + 2.0)",
    "quantile": "fnp.quantile({a}, 0.3, axis={ax})",
    "percentile": "fnp.percentile({a}, np.array([20.0, 70.0]))",
    "nanmax": "fnp.nanmax({a}, axis={ax})",
    "interp": "fnp.interp({a}, np.array([-1.0, 0.0, 0.5, 1.5]), np.array([0.5, -1.0, 2.0, 1.0]))",
    "trapezoid": "fnp.trapezoid({a}, axis={ax})",
    "cumulative_sum": "fnp.cumulative_sum({a}, axis={ax})",
    "convolve": "fnp.convolve({a}.ravel(), np.array([0.5, -1.0, 2.0]))",
    "polyval": "fnp.polyval(np.array([0.5, -1.0, 2.0]), {a})",
    "rot90": "fnp.rot90({a})",
    "hypot": "fnp.hypot({a}, 1.5)",
    "log10": "fnp.log10({a} * {a} + 0.5)",
    "logaddexp_reduce": "fnp.logaddexp.reduce({a}, axis={ax})",
    "maximum_accumulate": "fnp.maximum.accumulate({a}, axis={ax})",
    "signal_convolve": "fsp.signal.convolve({a}, fnp.ones({kshape}) * 0.5)",
}
_NEEDS_AXIS = {"fft", "rfft", "irfft", "quantile", "nanmax", "trapezoid", "cumulative_sum",
               "logaddexp_reduce", "maximum_accumulate"}
_NEEDS_2D = {"rot90"}
_REDUCTIONS = ("sum", "mean", "max", "min", "prod", "logsumexp", "var")

# Top-level op kinds, simplest first (hypothesis shrinks towards the start of the list).
KINDS = ("unary", "binary", "reduce", "where", "reshape", "transpose", "index", "fancy_index",
         "matmul", "einsum", "concatenate", "stack", "broadcast", "axis_op", "cond", "scan",
         "squeeze_expand", "take", "switch", "fori_loop", "const", "misc", "inner", "int_mix",
         "breadth", "scan_matmul", "inner", "cond", "scan", "inner",
         "breadth")   # repeated: drawn more often
# With nan/inf arguments: einsum may sum an index out of one operand before multiplying (as
# opt_einsum and JAX do), so `inf * a + -inf * b` (nan in NumPy) can become `(a + b) * inf`.
# `breadth` (LAPACK, SciPy): SciPy's reference refuses nan/inf (check_finite), and what a
# factorisation of a non-finite matrix returns is LAPACK's business.
NONFINITE_KINDS = tuple(k for k in KINDS if k not in ("einsum", "breadth"))
# Ops inside cond branches and scan bodies keep the body's result shape (nested cond and
# transformations are added one level deep).
BODY_KINDS = ("unary", "binary", "where")


class _Builder:
    """Draws ops one at a time, checking each with NumPy on the program's own input values."""

    def __init__(self, draw, values: list[_Val], prefix: str, counter: list[int],
                 depth: int = 0):
        self.draw, self.values, self.prefix, self.depth = draw, values, prefix, depth
        self.ops: list[Op] = []
        self.counter = counter      # shared with nested builders: unique function names
        self.env = {v.name: v.value for v in values}

    # -- helpers
    def pick(self, seq):
        return self.draw(st.sampled_from(list(seq)))

    def pick_value(self, cands: list[_Val]) -> _Val:
        """One of `cands`, the most recent first (so programs form chains, not piles)."""
        return self.pick(cands[::-1])

    def integer(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))

    def flip(self) -> bool:
        return self.draw(st.booleans())

    def try_expr(self, expr: str, defs: tuple[str, ...] = ()):
        """The NumPy value of `expr` (after running `defs`), or None if it fails or leaves the
        domain (non-finite, huge, empty, or not floating point)."""
        # one namespace: nested functions must see the values they close over as globals
        ns = {"np": np, "fnp": NP_FNP, "fg": NP_FG, "fsp": _np_fsp(), **self.env}
        try:
            with np.errstate(all="ignore"):
                if defs:
                    exec("\n".join(defs), ns)
                val = np.asarray(eval(expr, ns))
        except Exception:
            return None
        if val.dtype.kind != "f" or val.size == 0 or not np.all(np.isfinite(val)) or \
                np.max(np.abs(val)) > _LIMIT:
            return None
        return val

    def add(self, kind: str, expr: str, defs: tuple[str, ...] = ()) -> bool:
        val = self.try_expr(expr, defs)
        if val is None:
            return False
        name = f"{self.prefix}{len(self.ops)}"
        # the operands are every known name the line mentions (branches' arguments included)
        known = {v.name for v in self.values}
        refs = tuple(dict.fromkeys(n for n in _NAME.findall(expr + "\n".join(defs))
                                   if n in known))
        self.ops.append(Op(kind, name, refs, expr, defs))
        self.values.append(_Val(name, val))
        self.env[name] = val
        return True

    def literal(self):
        return self.pick(_LITERALS)

    # -- op kinds; each returns False when it does not apply
    def unary(self, target=None) -> bool:
        a = self.operand(target)
        kind = self.pick(_UNARY)
        dtype = self.pick(("float32", "float64"))
        expr = _UNARY[kind].format(a=a.name, lit=self.literal(), dtype=dtype)
        return self.add(kind, expr)

    def operand(self, target=None) -> _Val:
        if target is None:
            return self.pick_value(self.values)
        return self.pick_value([v for v in self.values if v.shape == target])

    def binary(self, target=None) -> bool:
        a = self.operand(target)
        if target is None:
            others = [v for v in self.values if _broadcasts(v.shape, a.shape)]
        else:
            others = [v for v in self.values if _broadcasts_into(v.shape, target)]
        kind = self.pick(_BINARY)
        b = str(self.literal()) if self.flip() or not others else self.pick_value(others).name
        x, y = (a.name, b) if self.flip() else (b, a.name)
        return self.add(kind, _BINARY[kind].format(a=x, b=y))

    def where(self, target=None) -> bool:
        a = self.operand(target)
        fits = (lambda s: _broadcasts_into(s, target)) if target is not None else \
            (lambda s: _broadcasts(s, a.shape))
        cands = [v for v in self.values if fits(v.shape)]
        c, d, e = (self.pick_value(cands) for _ in range(3))
        rhs = self.pick([d.name, "0.0", "0.5"])
        other = self.pick([e.name, str(self.literal())])
        expr = f"fnp.where({c.name} > {rhs}, {a.name}, {other})" if self.flip() else \
            f"fnp.where({c.name} > {rhs}, {other}, {a.name})"
        return self.add("where", expr)

    def reduce(self) -> bool:
        a = self.operand()
        kind = self.pick(_REDUCTIONS)
        axis = self.axes(a.ndim)
        keep = self.flip()
        args = f"axis={axis!r}" + (", keepdims=True" if keep else "")
        if kind in ("sum", "mean", "max", "min", "prod", "var") and self.flip():
            expr = f"{a.name}.{kind}({args})"
        else:
            expr = f"fnp.{kind}({a.name}, {args})"
        return self.add(kind, expr)

    def axes(self, ndim: int):
        choice = self.integer(0, 2) if ndim else 0
        if choice == 0:
            return None
        if choice == 1:
            return self.integer(-ndim, ndim - 1)
        picked = sorted({self.integer(0, ndim - 1) for _ in range(self.integer(1, ndim))})
        return tuple(picked)

    def reshape(self) -> bool:
        a = self.operand()
        shape = _factor(a.value.size, self.integer(0, 3), self.integer)
        if shape and self.flip():
            j = self.integer(0, len(shape) - 1)
            shape = shape[:j] + (-1,) + shape[j + 1:]
        if self.flip():
            return self.add("reshape", f"{a.name}.reshape({shape!r})")
        return self.add("reshape", f"fnp.reshape({a.name}, {shape!r})")

    def transpose(self) -> bool:
        a = self.operand()
        if a.ndim < 2:
            return False
        how = self.integer(0, 2)
        if how == 0:
            return self.add("transpose", f"{a.name}.T")
        if how == 1:
            i, j = self.integer(0, a.ndim - 1), self.integer(-a.ndim, a.ndim - 1)
            return self.add("swapaxes", f"fnp.swapaxes({a.name}, {i}, {j})")
        perm = self.draw(st.permutations(range(a.ndim)))
        return self.add("transpose", f"fnp.transpose({a.name}, {tuple(perm)!r})")

    def index(self) -> bool:
        """Basic indexing: integers, slices (any step), None and Ellipsis."""
        a = self.operand()
        parts, used_ellipsis = [], False
        for n in a.shape:
            how = self.integer(0, 4)
            if how == 0:
                parts.append(str(self.integer(-n, n - 1)))
            elif how == 1:
                parts.append(":")
            elif how == 2:
                start, stop = self.integer(-n, n - 1), self.integer(-n - 1, n)
                step = self.pick((1, 2, -1, -2, None))
                sl = f"{start}:{stop}" + (f":{step}" if step is not None else "")
                parts.append(sl)
            elif how == 3:
                parts.append("None")
                parts.append(":")
            elif not used_ellipsis:
                parts.append("...")
                used_ellipsis = True
                break
            else:
                parts.append("::-1")
        if not parts:
            parts = [self.pick(("None", "...", "()"))]
        return self.add("index", f"{a.name}[{', '.join(parts)}]")

    def fancy_index(self) -> bool:
        """Advanced indexing: integer lists (repeats, negatives), mixed with slices."""
        a = self.operand()
        if a.ndim == 0:
            return False
        axes = sorted({self.integer(0, a.ndim - 1) for _ in range(self.integer(1, 2))})
        count = self.integer(1, 4)
        parts = [":"] * a.ndim
        for ax in axes:
            n = a.shape[ax]
            parts[ax] = repr([self.integer(-n, n - 1) for _ in range(count)])
        while len(parts) > 1 and parts[-1] == ":" and self.flip():
            parts.pop()
        return self.add("fancy_index", f"{a.name}[{', '.join(parts)}]")

    def take(self) -> bool:
        a = self.operand()
        if a.ndim == 0:
            return False
        axis = self.integer(0, a.ndim - 1)
        n = a.shape[axis]
        if self.flip():
            idx = [self.integer(0, n - 1) for _ in range(self.integer(1, 4))]
            return self.add("take", f"fnp.take({a.name}, {idx!r}, axis={axis})")
        order = "fnp.argsort" if self.flip() else "fnp.argmax"
        keep = ", keepdims=True" if order == "fnp.argmax" else ""
        return self.add("take_along_axis",
                        f"fnp.take_along_axis({a.name}, {order}({a.name}, axis={axis}{keep}), "
                        f"axis={axis})")

    def matmul(self) -> bool:
        pairs = [(a, b) for a in self.values for b in self.values
                 if a.ndim >= 1 and b.ndim >= 1 and _matmul_ok(a.shape, b.shape)]
        if not pairs:
            return False
        a, b = self.pick(pairs[::-1])
        how = self.integer(0, 2)
        if how == 0:
            expr = f"{a.name} @ {b.name}"
        elif how == 1:
            expr = f"fnp.matmul({a.name}, {b.name})"
        else:
            expr = f"fnp.tensordot({a.name}, {b.name}, axes=([{a.ndim - 1}], [0]))"
            if a.shape[-1] != b.shape[0]:
                return False
        return self.add("matmul", expr)

    def einsum(self) -> bool:
        """A random einsum over one or two operands: shared letters contract or batch,
        repeated letters take diagonals, the output is a random selection of letters."""
        a = self.operand()
        letters, sizes = iter("abcdefgh"), {}
        sub_a = []
        for n in a.shape:
            same = [c for c in sub_a if sizes[c] == n]
            if same and self.integer(0, 4) == 0:
                sub_a.append(self.pick(same))      # a diagonal
            else:
                c = next(letters)
                sizes[c] = n
                sub_a.append(c)
        subs, refs = ["".join(sub_a)], [a]
        if self.flip():
            b = self.operand()
            sub_b = []
            for n in b.shape:
                same = [c for c in sizes if sizes[c] == n and c not in sub_b]
                if same and self.flip():
                    sub_b.append(self.pick(same))
                else:
                    c = next(letters)
                    sizes[c] = n
                    sub_b.append(c)
            subs.append("".join(sub_b))
            refs.append(b)
        used = sorted(set("".join(subs)))
        out = [c for c in used if self.flip()]
        out = list(self.draw(st.permutations(out))) if out else []
        spec = f"{','.join(subs)}->{''.join(out)}"
        names = ", ".join(r.name for r in refs)
        return self.add("einsum", f"fnp.einsum({spec!r}, {names})")

    def concatenate(self) -> bool:
        a = self.operand()
        if a.ndim == 0:
            return False
        axis = self.integer(-a.ndim, a.ndim - 1)
        ax = axis % a.ndim
        cands = [v for v in self.values if v.ndim == a.ndim and all(
            s == t for i, (s, t) in enumerate(zip(v.shape, a.shape)) if i != ax)]
        parts = [a] + [self.pick_value(cands) for _ in range(self.integer(1, 2))]
        names = ", ".join(p.name for p in parts)
        return self.add("concatenate", f"fnp.concatenate([{names}], axis={axis})")

    def stack(self) -> bool:
        a = self.operand()
        cands = [v for v in self.values if v.shape == a.shape]
        parts = [a] + [self.pick_value(cands) for _ in range(self.integer(1, 2))]
        axis = self.integer(-a.ndim - 1, a.ndim)
        names = ", ".join(p.name for p in parts)
        return self.add("stack", f"fnp.stack([{names}], axis={axis})")

    def broadcast(self) -> bool:
        a = self.operand()
        shape = tuple(self.pick(_DIMS) if n == 1 and self.flip() else n for n in a.shape)
        shape = tuple(self.pick(_DIMS) for _ in range(self.integer(0, 1))) + shape
        return self.add("broadcast", f"fnp.broadcast_to({a.name}, {shape!r})")

    def squeeze_expand(self) -> bool:
        a = self.operand()
        ones = [i for i, n in enumerate(a.shape) if n == 1]
        if ones and self.flip():
            return self.add("squeeze", f"fnp.squeeze({a.name}, axis={self.pick(ones)})")
        axis = self.integer(-a.ndim - 1, a.ndim)
        return self.add("expand_dims", f"fnp.expand_dims({a.name}, {axis})")

    def axis_op(self) -> bool:
        a = self.operand()
        if a.ndim == 0:
            return False
        axis = self.integer(-a.ndim, a.ndim - 1)
        kind = self.pick(("cumsum", "sort", "flip", "roll", "cumprod"))
        if kind == "roll":
            expr = f"fnp.roll({a.name}, {self.integer(-3, 3)}, axis={axis})"
        else:
            expr = f"fnp.{kind}({a.name}, axis={axis})"
        return self.add(kind, expr)

    # -- control flow and nested transformations: their bodies are nested builders of
    # shape-keeping ops (and, one level deep, nested cond and transformations themselves)
    def body(self, params: list[tuple[str, np.ndarray]], target, n_ops: int,
             closure: bool = False):
        """A nested function body over `params` whose result has shape `target`; it may also
        (with `closure`, it does) close over one value of the enclosing code (a tracer of the
        enclosing trace)."""
        vals = [_Val(n, v) for n, v in params]
        self.counter[0] += 1
        sub = _Builder(self.draw, vals, f"w{self.counter[0]}_", self.counter, self.depth + 1)
        for v in list(vals):
            if not _broadcasts_into(v.shape, target):
                sub.add("mean", f"fnp.mean({v.name})")   # a scalar view of it
        outer = [v for v in self.values if _broadcasts_into(v.shape, target)]
        if outer and (closure or self.integer(0, 2) < 2):
            v = self.pick_value(outer)
            sub.values.append(v)
            sub.env[v.name] = v.value
            op = self.pick(("+", "*"))
            sub.add("closure", f"{params[0][0]} {op} {v.name}")    # used, not just visible
        kinds = BODY_KINDS + (("inner", "cond") if sub.depth < 2 else ())
        for _ in range(n_ops):
            getattr(sub, sub.pick(kinds))(target) or sub.unary(target)
        fits = [v for v in sub.values if v.shape == target]
        result = fits[-1] if self.integer(0, 3) else sub.pick_value(fits)   # mostly live code
        return sub, result

    def _function(self, name: str, params: list[str], sub: _Builder, ret: str) -> list[str]:
        lines = [f"def {name}({', '.join(params)}):"]
        for op in sub.ops:
            lines += [f"    {d}" for d in op.defs]
            lines.append(f"    {op.name} = {op.expr}")
        lines.append(f"    return {ret}")
        return lines

    def cond(self, target=None) -> bool:
        a = self.operand(target)
        ops = [a] + [self.operand() for _ in range(self.integer(0, 1))]
        k = self.counter[0] + 1
        params = [(f"u{k}_{i}", v.value) for i, v in enumerate(ops)]
        pname = [n for n, _ in params]
        pred = self.pick([f"fnp.sum({ops[-1].name}) > 0.0", f"{ops[0].name}.mean() < 0.5",
                          "True", "False"])
        defs: list[str] = []
        for branch in ("true", "false"):
            sub, res = self.body(params, a.shape, self.integer(1, 3))
            defs += self._function(f"{branch}_fn{k}", pname, sub, self._same_dtype(res, a))
        args = ", ".join(v.name for v in ops)
        return self.add("cond", f"fg.cond({pred}, true_fn{k}, false_fn{k}, {args})", tuple(defs))

    def switch(self) -> bool:
        a = self.operand()
        k = self.counter[0] + 1
        params = [(f"u{k}", a.value)]
        defs, names = [], []
        for i in range(self.integer(2, 3)):
            sub, res = self.body(params, a.shape, self.integer(1, 2))
            defs += self._function(f"branch{k}_{i}", [f"u{k}"], sub, self._same_dtype(res, a))
            names.append(f"branch{k}_{i}")
        index = self.pick([f"fnp.sum({a.name} > 0.0)", "1", "-1", "7"])
        return self.add("switch", f"fg.switch({index}, [{', '.join(names)}], {a.name})",
                        tuple(defs))

    @staticmethod
    def _same_dtype(res: _Val, like: _Val) -> str:
        if res.value.dtype == like.value.dtype:
            return res.name
        return f"{res.name}.astype(fnp.{like.value.dtype.name})"

    def scan(self) -> bool:
        xs_cands = [v for v in self.values if v.ndim >= 1]
        if not xs_cands:
            return False
        xs, init = self.pick_value(xs_cands), self.operand()
        k = self.counter[0] + 1
        params = [(f"c{k}", init.value), (f"e{k}", xs.value[0])]
        sub, res = self.body(params, init.shape, self.integer(1, 3))
        y = sub.pick_value(sub.values)
        carry = self._same_dtype(res, init)
        defs = self._function(f"body{k}", [f"c{k}", f"e{k}"], sub, f"{carry}, {y.name}")
        rev = ", reverse=True" if self.flip() else ""
        which = self.pick(("[0]", "[1]"))
        return self.add("scan", f"fg.scan(body{k}, {init.name}, {xs.name}{rev}){which}",
                        tuple(defs))

    def scan_matmul(self) -> bool:
        """An RNN-like scan: each step multiplies its input slice and its carry by constant
        matrices and accumulates a product or a sum of what it computed, the loops whose
        products the optimiser takes out (control/loops.py, `_scan_expand`)."""
        cands = [v for v in self.values if v.ndim in (2, 3) and v.shape[0] >= 2]
        if not cands:
            return False
        xs = self.pick_value(cands)
        step_shape = xs.shape[1:]                   # (d,) or (b, d)
        d, h, k = step_shape[-1], self.integer(1, 4), self.counter[0] + 1
        rng = np.random.default_rng(self.integer(0, 100))
        w = np.round(rng.uniform(-1, 1, (d, h)), 2)
        u = np.round(rng.uniform(-0.6, 0.6, (h, h)), 2)
        consts = [f"W{k} = np.array({w.tolist()!r})", f"U{k} = np.array({u.tolist()!r})",
                  f"WT{k} = np.array({w.T.tolist()!r})"]
        vector = len(step_shape) == 1
        proj = f"WT{k} @ x" if vector and self.flip() else f"x @ W{k}"
        accum, acc_shape = self.pick(
            [("x[:, None] @ hid[None, :]", (d, h)), ("fnp.sum(hid * hid)", ())] if vector
            else [("x.T @ hid", (d, h)), ("fnp.sum(hid * hid, axis=0)", (h,)),
                  (f"W{k} @ hid.T", (d, step_shape[0]))])
        carry_shape = step_shape[:-1] + (h,)
        defs = consts + [f"def cell{k}(carry, x):", "    hid, acc = carry",
                         f"    hid = fnp.tanh({proj} + hid @ U{k})",
                         f"    return (hid, acc + {accum}), fnp.sum(hid)"]
        init = f"(fnp.zeros({carry_shape!r}), fnp.zeros({acc_shape!r}))"
        rev = ", reverse=True" if self.flip() else ""
        which = self.pick(("[0][0]", "[0][1]", "[1]"))
        return self.add("scan_matmul", f"fg.scan(cell{k}, {init}, {xs.name}{rev}){which}",
                        tuple(defs))

    def inner(self, target=None) -> bool:
        """A nested transformation: grad, vmap, jit or checkpoint of a body function (which
        may close over an enclosing value: a tracer of the outer transformation)."""
        how = self.pick(("grad", "jit", "vmap", "checkpoint"))
        a = self.operand(target)
        if how == "vmap" and a.ndim == 0:
            return False
        k = self.counter[0] + 1
        shape = a.shape[1:] if how == "vmap" else a.shape
        param = a.value[0] if how == "vmap" else a.value
        sub, res = self.body([(f"t{k}", param)], shape, self.integer(1, 3), closure=True)
        ret = f"fnp.sum({res.name})" if how == "grad" else res.name
        defs = self._function(f"inner{k}", [f"t{k}"], sub, ret)
        return self.add(f"inner_{how}", f"fg.{how}(inner{k})({a.name})", tuple(defs))

    def const(self) -> bool:
        """Constant arrays and constant sub-expressions (captured and folded by jit)."""
        a = self.operand()
        shape = tuple(1 if self.flip() else n for n in a.shape)[self.integer(0, a.ndim):]
        rng = np.random.default_rng(self.integer(0, 100))
        vals = np.round(rng.uniform(-2, 2, shape), 2)
        dtype = self.pick(("", ", dtype=fnp.float32"))
        arr = f"np.array({vals.tolist()!r}{dtype})"
        how = self.integer(0, 4)
        if how == 0:
            expr = f"{a.name} * {arr}"
        elif how == 1:
            expr = f"{a.name} + fnp.cos({arr}) * 2.0"
        elif how == 2:
            expr = f"fnp.ones_like({a.name}) * fnp.exp(fnp.sin(1.5)) - {a.name}"
        elif how == 3:
            expr = f"fnp.zeros_like({a.name}) + {arr} @ fnp.ones(({shape[-1] if shape else 1},))" \
                if shape else f"fnp.full_like({a.name}, 0.25) * {a.name}"
        else:
            expr = f"fnp.where({arr} > 0.0, {a.name}, {arr} * {a.name})"
        return self.add("const", expr)

    def int_mix(self) -> bool:
        """Integer and boolean values mixed into float code (promotion, zero derivatives)."""
        a = self.operand()
        n = a.shape[-1] if a.ndim else 1
        how = self.integer(0, 7)
        if how == 0:
            expr = f"{a.name} * fnp.arange({n})"                 # int64 array: float64
        elif how == 1:
            expr = f"({a.name} > 0.3).astype(fnp.float32) * {a.name}"
        elif how == 2:
            axis = self.integer(0, a.ndim - 1) if a.ndim else None
            expr = f"fnp.argmax({a.name}, axis={axis}) * 0.5 + fnp.sum({a.name})"
        elif how == 3:
            expr = f"fnp.floor({a.name}) + fnp.round({a.name}, 1) + fnp.sign({a.name}) * {a.name}"
        elif how == 4:
            expr = f"{a.name} // 0.7 + {a.name} % 0.9"
        elif how == 5:
            expr = f"fnp.where(fnp.isnan({a.name}) | ({a.name} < -1.0), 0.0, {a.name})"
        elif how == 6:
            expr = f"{a.name} * fnp.count_nonzero({a.name} > 0) + ({a.name} > 0)"
        else:
            expr = f"{a.name} ** 2 * fnp.int32(3) + {a.name} * True"
        return self.add("int_mix", expr)

    def misc(self) -> bool:
        """Less common NumPy functions, each a few primitives."""
        a = self.operand()
        n = a.ndim
        kind = self.pick(("diagonal", "trace", "tril", "repeat", "tile", "pad", "split",
                          "norm", "outer", "ravel", "moveaxis", "diff"))
        ax = self.integer(-n, n - 1) if n else 0
        if kind in ("diagonal", "trace", "tril") and n < 2:
            return False
        if kind in ("repeat", "split", "diff", "moveaxis") and n < 1:
            return False
        if kind == "diagonal":
            i, j = self.draw(st.permutations(range(n)))[:2]
            expr = f"fnp.diagonal({a.name}, {self.integer(-1, 1)}, {i}, {j})"
        elif kind == "trace":
            expr = f"fnp.trace({a.name})"
        elif kind == "tril":
            expr = f"fnp.{self.pick(('tril', 'triu'))}({a.name}, {self.integer(-1, 1)})"
        elif kind == "repeat":
            expr = f"fnp.repeat({a.name}, {self.integer(1, 2)}, axis={ax})"
        elif kind == "tile":
            reps = tuple(self.integer(1, 2) for _ in range(self.integer(1, 3)))
            expr = f"fnp.tile({a.name}, {reps!r})"
        elif kind == "pad":
            width = tuple((self.integer(0, 1), self.integer(0, 2)) for _ in range(n))
            expr = f"fnp.pad({a.name}, {width!r})"
        elif kind == "split":
            parts = self.pick([d for d in (1, 2, 3) if a.shape[ax] % d == 0])
            expr = f"fnp.split({a.name}, {parts}, axis={ax})[{self.integer(0, parts - 1)}]"
        elif kind == "norm":
            axis = self.pick([None] + list(range(n)))
            expr = f"fnp.linalg.norm({a.name} + 3.0, axis={axis})"
        elif kind == "outer":
            expr = f"fnp.outer({a.name}, {self.operand().name})"
        elif kind == "ravel":
            expr = f"{a.name}.ravel()"
        elif kind == "moveaxis":
            expr = f"fnp.moveaxis({a.name}, {ax}, {self.integer(-n, n - 1)})"
        else:
            expr = f"fnp.diff({a.name}, axis={ax})"
        return self.add(kind, expr)

    def breadth(self) -> bool:
        """Linear algebra, FFTs, SciPy's special functions and NumPy's long tail."""
        a = self.operand()
        n, name = (a.shape[-1] if a.ndim else 1), a.name
        vec = name if a.ndim else f"{name}[None]"
        # symmetric positive definite (diagonally dominant), batched over a's leading axes
        spd = f"(fnp.eye({n}) * {n + 2.0} + fnp.tanh({vec}[..., :, None] * {vec}[..., None, :]))"
        ax = self.integer(-a.ndim, a.ndim - 1) if a.ndim else None
        kind = self.pick(_BREADTH)
        if kind in _NEEDS_AXIS and a.ndim == 0 or kind in _NEEDS_2D and a.ndim < 2:
            return False
        kshape = tuple(min(2, d) for d in a.shape)   # JAX: no larger than the input anywhere
        expr = _BREADTH[kind].format(a=name, vec=vec, spd=spd, ax=ax, n=n, kshape=kshape)
        return self.add(kind, expr)

    def fori_loop(self) -> bool:
        init = self.operand()
        k = self.counter[0] + 1
        # the loop index (0 while generating) is a value the body may use
        params = [(f"c{k}", init.value), (f"i{k}", np.asarray(0))]
        sub, res = self.body(params, init.shape, self.integer(1, 2))
        defs = self._function(f"loop{k}", [f"i{k}", f"c{k}"], sub, self._same_dtype(res, init))
        hi = self.integer(0, 3)
        return self.add("fori_loop", f"fg.fori_loop(0, {hi}, loop{k}, {init.name})",
                        tuple(defs))


def _broadcasts(s: tuple, t: tuple) -> bool:
    try:
        np.broadcast_shapes(s, t)
        return True
    except ValueError:
        return False


def _broadcasts_into(s: tuple, target: tuple) -> bool:
    return _broadcasts(s, target) and np.broadcast_shapes(s, target) == tuple(target)


def _matmul_ok(s: tuple, t: tuple) -> bool:
    try:
        np.matmul(np.zeros(s), np.zeros(t))
        return True
    except ValueError:
        return False


def _factor(size: int, ndim: int, integer) -> tuple[int, ...]:
    """A random shape with `ndim` axes (more if needed) and `size` elements."""
    if ndim == 0:
        return () if size == 1 else (size,)
    shape, left = [], size
    for _ in range(ndim - 1):
        divs = [d for d in range(1, left + 1) if left % d == 0]
        d = divs[integer(0, len(divs) - 1)]
        shape.append(d)
        left //= d
    return tuple(shape + [left])


@st.composite
def programs(draw, max_ops: int = 6, max_inputs: int = 3, kinds=KINDS) -> Program:
    """A random `Program`: 1-3 inputs of random shapes (0-3 axes) and float dtypes, 1-`max_ops`
    ops drawn from `kinds`, returning its last value (sometimes also another one).

    >>> from hypothesis import given
    >>> @given(programs(kinds=("unary",)))
    ... def ok(p):
    ...     assert all(op.kind != "matmul" for op in p.ops)
    >>> ok()
    """
    seed = draw(st.integers(0, 2 ** 16))
    dtype_all = draw(st.sampled_from(("float64", "float32", "mixed")))
    inputs = []
    for _ in range(draw(st.integers(1, max_inputs))):
        shape = tuple(draw(st.lists(st.sampled_from(_DIMS), max_size=3)))
        dtype = draw(st.sampled_from(("float32", "float64"))) if dtype_all == "mixed" \
            else dtype_all
        inputs.append((shape, dtype))
    values = [_Val(f"x{i}", a) for i, a in enumerate(make_args(inputs, seed))]
    b = _Builder(draw, values, "v", [0])
    for _ in range(draw(st.integers(1, max_ops))):
        kind = draw(st.sampled_from(kinds))
        if not getattr(b, kind)():
            b.unary()    # always applies (a failing guard only skips this op)
    if not b.ops:
        b.add("sin", "fnp.sin(x0)")
    # Return every result no later op uses, so that no op is dead code.
    used = {r for op in b.ops for r in op.refs}
    outputs = [op.name for op in b.ops if op.name not in used]
    if draw(st.integers(0, 5)) == 0:
        outputs.append(draw(st.sampled_from([v.name for v in b.values])))
    return Program(tuple(inputs), tuple(b.ops), tuple(outputs), seed)


__all__ = ["Op", "Program", "programs", "compile_program", "make_args", "array_source",
           "inject_nonfinite", "NONFINITE_KINDS",
           "KINDS", "NP_FNP", "NP_FG"]
