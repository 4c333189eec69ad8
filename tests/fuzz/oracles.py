"""The oracles every fuzzed program is checked against, all in one run.

- `numpy`:     eager funcgrad == the same source run on plain NumPy (values, shapes, dtypes)
- `jit`:       jit(f) == f, on the first (compiling) and the second (cached) call; the
               results are the caller's (overwriting them changes no argument or constant)
- `graphs`:    stage.graph (optimised) evaluates like stage.raw_graph, for f and grad(f)
- `grad_fd`:   grad of a scalar reduction vs a central difference (float64)
- `jvp_fd`:    jvp(f) vs a central difference (float64)
- `jacobians`: jacfwd == jacrev, and J t == jvp tangent
- `vmap`:      vmap(f)(xs) == stack([f(x) for x in xs]) (random in_axes/out_axes); jit(vmap(f))
- `vmap_grad`: vmap(grad(loss)) == per-example grads
- `grad_jit`:  grad(jit(loss)) == jit(grad(loss)) == grad(loss), with the arguments' dtypes
- `grad_repeat`: eager grad called 6 times from a cold tape: every call == the first
- `nested_repeat`: the same for eager grad(<grad(loss), t>) and jvp(grad(loss))
- `second_order`: Hessian-vector products: jvp(grad) vs a central difference of grad, and
               grad(<grad, t>) (reverse over reverse) vs jvp(grad) (float64)
- `linearize`: linearize(f)(t) == jvp tangent (float64)
- `inputs`:    no argument array was changed
- `survives`:  (nan/inf arguments) every transformation runs; derivative values unchecked
- `jax`:       (on request: `python -m tests.fuzz --oracle jax`, jax_oracle.py) values, grad,
               jvp and Hessian-vector product == JAX's (float64)
- `compiled`:  (on request: `--oracle compiled`; needs numba) jit(f) and jit(grad(loss)) on the
               compiled tier == the NumPy tier, first and cached call, and the compiled tier's
               own check of its kernels never found them to differ (a wrong native rule)

`run_oracles` returns the mismatches (an oracle that raises counts as one); `check_program`
raises AssertionError showing each mismatch and the program as runnable source.
"""
from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import tree
from funcgrad.run import eager as executor
from funcgrad.test_util import numerical_jvp
from funcgrad.transforms.interpret import eval_graph

from .programs import Program, array_source, compile_program, inject_nonfinite

# Relative tolerances (scaled by the largest expected magnitude, at least 1) by dtype.
_TOL = {np.dtype(np.float32): 2e-4, np.dtype(np.float64): 1e-9}
_FD_TOL, _FD_EPS = 1e-5, 1e-6        # float64 central differences
_BATCH = 3


@dataclass
class Mismatch:
    oracle: str
    message: str

    def __str__(self) -> str:
        return f"[{self.oracle}] {self.message}"


def _leaves(out) -> list:
    return list(out) if isinstance(out, tuple) else [out]


def _tol(*arrays) -> float:
    dts = [np.asarray(a).dtype for a in arrays]
    return _TOL[np.dtype(np.float32)] if np.dtype(np.float32) in dts else \
        _TOL[np.dtype(np.float64)]


def close(got, expected, tol: float, what: str, check_dtype: bool = True,
          slack=0.0) -> None:
    """Assert same shape (and dtype), and |got - expected| <= tol * max(1, max|expected|)
    (+ `slack`, elementwise: a finite difference's error bound); nan matches nan."""
    g, e = np.asarray(got), np.asarray(expected)
    if g.shape != e.shape:
        raise AssertionError(f"{what}: shape {g.shape}, expected {e.shape}")
    if check_dtype and g.dtype != e.dtype:
        raise AssertionError(f"{what}: dtype {g.dtype}, expected {e.dtype}")
    finite = e[np.isfinite(e)] if e.size else e
    scale = max(1.0, float(np.max(np.abs(finite)))) if finite.size else 1.0
    g64, e64 = g.astype(np.float64), e.astype(np.float64)
    with np.errstate(invalid="ignore"):
        diff = np.abs(g64 - e64)
        ok = (diff <= tol * scale + slack) | (g64 == e64) | (np.isnan(g64) & np.isnan(e64))
    if not np.all(ok):
        bad = diff[~ok]     # nan where one side is nan (or inf against -inf, or nan)
        err = np.nan if np.any(np.isnan(bad)) else np.max(bad)
        extra = f" + {np.max(slack):.3g}" if np.any(slack) else ""
        raise AssertionError(f"{what}: max error {err:.3g} > {tol:g} * {scale:.3g}{extra}\n"
                             f"  expected {_show(e)}\n  got      {_show(g)}")


def close_trees(got, expected, tol: float, what: str, check_dtype: bool = True,
                slack=None) -> None:
    g, e = _leaves(got), _leaves(expected)
    if len(g) != len(e):
        raise AssertionError(f"{what}: {len(g)} outputs, expected {len(e)}")
    slack = [0.0] * len(e) if slack is None else slack
    for i, (a, b, s) in enumerate(zip(g, e, slack)):
        close(a, b, tol, what + (f" (output {i})" if len(e) > 1 else ""), check_dtype, s)


def central_difference(fn: Callable, args: list, tangents: list) -> tuple[list, list]:
    """The directional derivative of `fn` by central differences (test_util.numerical_jvp)
    at steps h and h/2, Richardson-extrapolated, and a bound on its error per output leaf.

    D(h) = D + c h^2 + ..., so (4 D(h/2) - D(h)) / 3 cancels the h^2 term, and |D(h) - D(h/2)|
    (3/4 of D(h)'s own error) bounds what is left: strongly curved programs (sin of a product
    in the hundreds) get a wider margin, smooth ones none to speak of.

    >>> est, err = central_difference(np.sin, [np.array(0.0)], [np.array(1.0)])
    >>> round(float(est[0]), 9), float(err[0]) < 1e-9
    (1.0, True)
    """
    d1 = _leaves(numerical_jvp(fn, args, tangents, _FD_EPS))
    d2 = _leaves(numerical_jvp(fn, args, tangents, _FD_EPS / 2))
    return [(4 * b - a) / 3 for a, b in zip(d1, d2)], [np.abs(b - a) for a, b in zip(d1, d2)]





def arrays(out, what: str):
    """Assert every leaf is a NumPy array (SPEC: results are arrays, 0-d for scalars)."""
    for leaf in tree.leaves(out):
        if type(leaf) is not np.ndarray:
            raise AssertionError(f"{what} returned a {type(leaf).__name__}, not a NumPy array")
    return out


def _show(x) -> str:
    return np.array2string(np.asarray(x), precision=6, threshold=20, max_line_width=100)


class _Ctx:
    """Everything the oracles share for one program."""

    def __init__(self, source: str, args: list, source64: str, seed: int,
                 nonfinite: bool = False):
        self.source, self.source64, self.seed, self.nonfinite = source, source64, seed, nonfinite
        self.f = compile_program(source)
        self.f_np = compile_program(source, "numpy")
        self.f64 = compile_program(source64)
        self.f64_np = compile_program(source64, "numpy")
        self.args = args
        self.args64 = [a.astype(np.float64) for a in args]
        self.argnums = tuple(range(len(args)))
        self.rng = np.random.default_rng(seed + 1)
        self.out_np = self.f_np(*args)
        self.out = self.f(*args)
        self.tol = _tol(*args, *_leaves(self.out_np))
        # Weights of the scalar loss: sum_i <out_i, W_i> (in each output's own dtype).
        self.weights = [self.rng.standard_normal(np.shape(o)).astype(np.asarray(o).dtype)
                        for o in _leaves(self.out_np)]
        self.tangents = [self.rng.standard_normal(a.shape) for a in self.args64]
        self.batch_inputs: list = []     # arrays made by the vmap oracle (checked unchanged)

    def loss(self, f: Callable, mod) -> Callable:
        """The scalar sum_i <f(*args)_i, W_i>, with `mod` = fnp (traced) or np (reference)."""
        weights = self.weights

        def loss(*args):
            total = 0.0
            for o, w in zip(_leaves(f(*args)), weights):
                total = total + mod.sum(o * w)
            return total
        return loss


def _numpy(c: _Ctx) -> None:
    # Eager funcgrad.numpy follows NumPy, which returns NumPy scalars from 0-d operations.
    close_trees(c.out, c.out_np, c.tol, "eager funcgrad vs NumPy")


def _jit(c: _Ctx) -> None:
    jf = fg.jit(c.f)
    for call in ("first", "cached"):
        got = arrays(jf(*c.args), "jit(f)")
        close_trees(got, c.out, c.tol, f"jit(f) ({call} call) vs f")
        # The caller owns the results: scribbling on them must not reach the arguments (checked
        # at the end) or the compiled function's constants (the cached call).
        for o in _leaves(got):
            if o.flags.writeable:
                o[...] = 1234.5


def _graphs(c: _Ctx) -> None:
    stage = fg.jit(c.f).lower(*c.args)
    expected = _leaves(c.out)
    raw = eval_graph(stage.raw_graph, list(c.args))
    opt = eval_graph(stage.graph, list(c.args))
    close_trees(tuple(raw), tuple(expected), c.tol, "raw_graph evaluated vs f")
    close_trees(tuple(opt), tuple(raw), c.tol, "optimised graph vs raw_graph")
    gstage = fg.jit(fg.grad(c.loss(c.f, fnp), argnums=c.argnums)).lower(*c.args)
    g_raw = eval_graph(gstage.raw_graph, list(c.args))
    g_opt = eval_graph(gstage.graph, list(c.args))
    close_trees(tuple(g_opt), tuple(g_raw), c.tol, "grad: optimised graph vs raw_graph")


def _grad_fd(c: _Ctx) -> None:
    grads = arrays(fg.grad(c.loss(c.f64, fnp), argnums=c.argnums)(*c.args64), "grad")
    for i, (g, a) in enumerate(zip(grads, c.args64)):
        if np.shape(g) != a.shape or np.asarray(g).dtype != a.dtype:
            raise AssertionError(f"grad {i}: {np.asarray(g).dtype}{list(np.shape(g))}, expected "
                                 f"{a.dtype}{list(a.shape)}")
    got = sum(float(np.sum(g * t)) for g, t in zip(grads, c.tangents))
    scale = sum(float(np.sum(np.abs(g * t))) for g, t in zip(grads, c.tangents))
    (fd,), (err,) = central_difference(c.loss(c.f64_np, np), c.args64, c.tangents)
    if not abs(got - float(fd)) <= _FD_TOL * max(1.0, scale) + float(err):
        raise AssertionError(f"<grad, t> = {got!r}, central difference {float(fd)!r} "
                             f"(float64 program; t = tangents of seed {c.seed + 1})\n"
                             f"  grads: {[_show(g) for g in grads]}")


def _jvp_fd(c: _Ctx) -> None:
    out, t_out = arrays(fg.jvp(c.f64, tuple(c.args64), tuple(c.tangents)), "jvp")
    close_trees(out, c.f64_np(*c.args64), _TOL[np.dtype(np.float64)], "jvp primal (float64)")
    fd, err = central_difference(c.f64_np, c.args64, c.tangents)
    close_trees(t_out, tuple(fd), _FD_TOL, "jvp tangent vs central difference (float64)",
                slack=err)


def _jacobians(c: _Ctx) -> None:
    jf = arrays(fg.jacfwd(c.f64, argnums=c.argnums)(*c.args64), "jacfwd")
    jr = arrays(fg.jacrev(c.f64, argnums=c.argnums)(*c.args64), "jacrev")
    lf, lr = tree.leaves(jf), tree.leaves(jr)
    if len(lf) != len(lr) or tree.structure(jf) != tree.structure(jr):
        raise AssertionError(f"jacfwd structure {tree.structure(jf)}, jacrev "
                             f"{tree.structure(jr)}")
    for i, (a, b) in enumerate(zip(lf, lr)):
        close(a, b, 1e-9, f"jacfwd vs jacrev (block {i})")
    # J t summed over the inputs equals the JVP tangent.
    _, t_out = fg.jvp(c.f64, tuple(c.args64), tuple(c.tangents))
    n = len(c.args64)
    for o, t in enumerate(_leaves(t_out)):
        jt = sum(np.tensordot(lf[o * n + i], c.tangents[i], axes=c.tangents[i].ndim)
                 for i in range(n))
        close(jt, t, 1e-9, f"jacfwd times tangent vs jvp (output {o})", check_dtype=False)


def _second_order(c: _Ctx) -> None:
    loss = c.loss(c.f64, fnp)
    g = fg.grad(loss, argnums=c.argnums)
    _, h_fwd = fg.jvp(g, tuple(c.args64), tuple(c.tangents))       # forward over reverse
    h_fd, err = central_difference(g, c.args64, c.tangents)

    def g_dot_t(*args):
        return sum(fnp.sum(gi * ti) for gi, ti in zip(g(*args), c.tangents))
    h_rev = fg.grad(g_dot_t, argnums=c.argnums)(*c.args64)         # reverse over reverse
    close_trees(tuple(h_fwd), tuple(h_fd), _FD_TOL, "Hessian-vector product: jvp(grad) vs "
                "central difference of grad (float64)", slack=err)
    close_trees(tuple(h_rev), tuple(h_fwd), 1e-9, "Hessian-vector product: grad(<grad, t>) vs "
                "jvp(grad) (float64)")


def _linearize(c: _Ctx) -> None:
    out, f_jvp = fg.linearize(c.f64, *c.args64)
    arrays((out, f_jvp(*c.tangents)), "linearize")
    _, t_out = fg.jvp(c.f64, tuple(c.args64), tuple(c.tangents))
    close_trees(out, c.f64_np(*c.args64), _TOL[np.dtype(np.float64)], "linearize primal")
    close_trees(f_jvp(*c.tangents), t_out, 1e-9, "linearize(f) applied to t vs jvp tangent")


def _batch(c: _Ctx):
    """Random in_axes (at least one mapped), batched arguments and the per-example calls."""
    axes = [None if c.rng.integers(3) == 0 else int(c.rng.integers(0, a.ndim + 1))
            for a in c.args]
    if all(a is None for a in axes):
        axes[0] = 0
    batched = []
    for a, ax in zip(c.args, axes):
        if ax is None:
            batched.append(a)
            continue
        xs = [c.rng.uniform(-2, 2, a.shape).astype(a.dtype) for _ in range(_BATCH)]
        batched.append(np.stack(xs, axis=ax))
    if c.nonfinite:
        batched = [b if ax is None else inject_nonfinite([b], c.seed)[0]
                   for b, ax in zip(batched, axes)]
    c.batch_inputs += [(b, b.copy()) for b in batched]
    examples = [[a if ax is None else np.take(a, i, axis=ax) for a, ax in zip(batched, axes)]
                for i in range(_BATCH)]
    return axes, batched, examples


def _stack_outputs(per_example: list, out_axis: int) -> tuple:
    leaves = [_leaves(o) for o in per_example]
    return tuple(np.moveaxis(np.stack([ex[k] for ex in leaves]), 0, out_axis)
                 for k in range(len(leaves[0])))


def _vmap(c: _Ctx) -> None:
    axes, batched, examples = _batch(c)
    out_axis = int(c.rng.choice([0, -1]))
    expected = _stack_outputs([c.f(*ex) for ex in examples], out_axis)
    vf = fg.vmap(c.f, in_axes=tuple(axes), out_axes=out_axis)
    what = f"vmap(f, in_axes={tuple(axes)}, out_axes={out_axis})"
    close_trees(arrays(vf(*batched), "vmap"), expected, c.tol, what)
    close_trees(fg.jit(vf)(*batched), expected, c.tol, f"jit({what})")


def _vmap_grad(c: _Ctx) -> None:
    axes, batched, examples = _batch(c)
    g = fg.grad(c.loss(c.f, fnp), argnums=c.argnums)
    expected = _stack_outputs([tuple(g(*ex)) for ex in examples], 0)
    got = arrays(fg.vmap(g, in_axes=tuple(axes))(*batched), "vmap(grad)")
    close_trees(tuple(got), expected, c.tol, f"vmap(grad(loss), in_axes={tuple(axes)})")


def _grad_jit(c: _Ctx) -> None:
    loss = c.loss(c.f, fnp)
    g0 = fg.grad(loss, argnums=c.argnums)(*c.args)
    g1 = arrays(fg.grad(fg.jit(loss), argnums=c.argnums)(*c.args), "grad(jit)")
    g2 = arrays(fg.jit(fg.grad(loss, argnums=c.argnums))(*c.args), "jit(grad)")
    for i, a in enumerate(c.args):
        if np.asarray(g0[i]).dtype != a.dtype:
            raise AssertionError(f"grad {i} has dtype {np.asarray(g0[i]).dtype}, argument "
                                 f"{a.dtype}")
    close_trees(tuple(g1), tuple(g0), c.tol, "grad(jit(loss)) vs grad(loss)")
    close_trees(tuple(g2), tuple(g0), c.tol, "jit(grad(loss)) vs grad(loss)")


_REPEATS = 6


# Where the eager tape's reset() lives (the executor moved once; the first found is used).


def cold_tape() -> None:
    """Forget the eager executor's compiled rules and programs (and their sightings), so that
    the next calls go through all three regimes: call 1 op by op with the general rules,
    calls 2-3 with per-primitive compiled rules, call 4 on recorded and then compiled whole."""
    executor.reset()


def _repeat(fn: Callable, args: list, tol: float, what: str) -> None:
    first = tuple(arrays(fn(*args), what))
    for k in range(2, _REPEATS + 1):
        close_trees(tuple(arrays(fn(*args), what)), first, tol, f"{what} call {k} vs call 1")


def _grad_repeat(c: _Ctx) -> None:
    """Eager grad called again and again, from a cold tape: the first calls run on the tape,
    later ones record the call and run it as one compiled program. Every call must agree."""
    cold_tape()
    _repeat(fg.grad(c.loss(c.f, fnp), argnums=c.argnums), c.args, c.tol, "grad")


def _nested_repeat(c: _Ctx) -> None:
    """Eager nested derivatives called again and again, from a cold tape: reverse over
    reverse (grad of <grad(loss), t>) and forward over reverse (jvp of grad). The inner grad
    runs under an outer differentiation, on the tape's rules and compiled programs as well (a
    program that dropped `stop_gradient` once made grad(grad(x * stop_gradient(x))) differ
    between call 1 and call 2). Every call must agree with the first."""
    g = fg.grad(c.loss(c.f, fnp), argnums=c.argnums)
    ts = [t.astype(a.dtype) for t, a in zip(c.tangents, c.args)]

    def g_dot_t(*args):
        return sum(fnp.sum(gi * ti) for gi, ti in zip(g(*args), ts))

    def hvp(*args):
        return tuple(fg.jvp(g, tuple(args), tuple(ts))[1])

    cold_tape()
    _repeat(fg.grad(g_dot_t, argnums=c.argnums), c.args, c.tol, "grad(<grad(loss), t>)")
    cold_tape()
    _repeat(hvp, c.args, c.tol, "jvp(grad(loss))")


def _survives(c: _Ctx) -> None:
    """With nan/inf arguments the derivatives' values are not compared: whether a `0 * inf`
    is computed depends on what is concrete (eagerly, `x ** fnp.tanh(0.0)` is an integer
    power with a symbolic-zero derivative; under jit the exponent is traced, and the chain
    rule gives 0 * inf = nan). Every transformation must still run."""
    loss = c.loss(c.f, fnp)
    grads = fg.grad(loss, argnums=c.argnums)(*c.args)
    for g, a in zip(grads, c.args):
        if np.shape(g) != a.shape:
            raise AssertionError(f"grad has shape {np.shape(g)}, argument {a.shape}")
    fg.jvp(c.f, tuple(c.args), tuple(c.args))
    fg.linearize(c.f, *c.args)[1](*c.args)
    fg.jacfwd(c.f, argnums=c.argnums)(*c.args)
    fg.jacrev(c.f, argnums=c.argnums)(*c.args)
    fg.jvp(fg.grad(loss, argnums=c.argnums), tuple(c.args), tuple(c.args))
    fg.grad(fg.jit(loss), argnums=c.argnums)(*c.args)
    fg.jit(fg.grad(loss, argnums=c.argnums))(*c.args)
    _vmap_grad_values_unchecked(c)


def _vmap_grad_values_unchecked(c: _Ctx) -> None:
    axes, batched, _ = _batch(c)
    fg.vmap(fg.grad(c.loss(c.f, fnp), argnums=c.argnums), in_axes=tuple(axes))(*batched)


def _compiled(c: _Ctx) -> None:
    fns = [(c.f, "f")]
    if not c.nonfinite:
        fns.append((fg.grad(c.loss(c.f, fnp), argnums=c.argnums), "grad(loss)"))
    for fn, what in fns:
        jf = fg.jit(fn, backend="compiled")
        first = arrays(jf(*c.args), f"compiled {what}")
        stage = jf.lower(*c.args)
        if stage.native_error and "differs" in stage.native_error:
            raise AssertionError(f"compiled tier of {what}: {stage.native_error}")
        want = arrays(fg.jit(fn, backend="numpy")(*c.args), f"numpy tier {what}")
        close_trees(first, want, c.tol, f"compiled {what} (first call) vs the NumPy tier")
        close_trees(arrays(jf(*c.args), f"compiled {what}"), want, c.tol,
                    f"compiled {what} (kernels) vs the NumPy tier")


ORACLES: dict[str, Callable[[_Ctx], None]] = {
    "numpy": _numpy, "jit": _jit, "graphs": _graphs, "grad_fd": _grad_fd, "jvp_fd": _jvp_fd,
    "jacobians": _jacobians, "vmap": _vmap, "vmap_grad": _vmap_grad, "grad_jit": _grad_jit,
    "second_order": _second_order, "linearize": _linearize, "grad_repeat": _grad_repeat,
    "nested_repeat": _nested_repeat,
}
_F64_ORACLES = ("grad_fd", "jvp_fd", "jacobians", "second_order", "linearize")
# With nan/inf arguments: values of f are compared (NumPy's propagation) and so are the
# optimised and raw graphs of f and grad(f) (one trace: the passes must keep nan and inf);
# the other derivatives only run.
NONFINITE_ORACLES = ("numpy", "jit", "graphs", "vmap", "survives")
ORACLES["survives"] = _survives
ORACLES["compiled"] = _compiled
# Run on request only (`python -m tests.fuzz --oracle jax`; see jax_oracle.register).
EXTERNAL_ORACLES = ("jax", "compiled")


def default_oracles(nonfinite: bool = False) -> tuple:
    """The oracles run when none are named: all but `survives` and the external ones (with
    `nonfinite`: NONFINITE_ORACLES)."""
    if nonfinite:
        return NONFINITE_ORACLES
    return tuple(k for k in ORACLES if k != "survives" and k not in EXTERNAL_ORACLES)


def run_oracles(source: str, args: list, seed: int = 0, source64: str | None = None,
                oracles=None, nonfinite: bool = False) -> list[Mismatch]:
    """Run the oracles (all but `survives`; with `nonfinite`, NONFINITE_ORACLES) on the
    program `source` (defining `f`) at `args`; the mismatches.

    >>> src = "def f(x0):\\n    return fnp.sin(x0) * x0\\n"
    >>> run_oracles(src, [np.linspace(-1.0, 1.0, 3)])
    []
    """
    if oracles is None:
        oracles = default_oracles(nonfinite)
    if source64 is None:
        source64 = source.replace("fnp.float32", "fnp.float64")
    originals = [(a, a.copy()) for a in args]
    with np.errstate(all="ignore"):   # the programs' own overflow/invalid warnings
        try:
            c = _Ctx(source, list(args), source64, seed, nonfinite)
        except Exception as err:
            return [Mismatch("setup", _describe_error(err))]
        originals += [(a, a.copy()) for a in c.args64]
        found = []
        for name in oracles:
            try:
                ORACLES[name](c)
            except AssertionError as err:
                found.append(Mismatch(name, str(err)))
            except Exception as err:
                found.append(Mismatch(name, _describe_error(err)))
    changed = [i for i, (a, copy) in enumerate(originals + c.batch_inputs)
               if a.dtype != copy.dtype or not np.array_equal(a, copy, equal_nan=True)]
    if changed:
        found.append(Mismatch("inputs", f"argument arrays {changed} were modified"))
    return found


def _describe_error(err: BaseException) -> str:
    tb = traceback.format_exception(type(err), err, err.__traceback__)
    return f"raised {type(err).__name__}: {err}\n" + "".join(tb[-6:])


def check_program(prog: Program, oracles=None, nonfinite: bool = False) -> list[Mismatch]:
    """The mismatches of one generated program (`nonfinite`: with nan/inf arguments)."""
    return run_oracles(prog.source(), prog.args(nonfinite=nonfinite), prog.seed,
                       prog.source(f64=True), oracles, nonfinite)


def report(prog: Program, found: list[Mismatch], nonfinite: bool = False) -> str:
    """A failure report: each mismatch, then the program (float64 variant too when an oracle
    that runs it failed) as runnable source with its arguments."""
    parts = [f"{len(found)} oracle mismatch(es):"] + [str(m) for m in found]
    parts += ["", "# program (import numpy as np, funcgrad as fg, funcgrad.numpy as fnp):",
              prog.describe(args=prog.args(nonfinite=nonfinite))]
    if any(m.oracle in _F64_ORACLES for m in found) and prog.source(f64=True) != prog.source():
        parts += ["# float64 variant, used by the derivative oracles:", prog.describe(True)]
    return "\n".join(parts)


def assert_program_ok(prog: Program, oracles=None, nonfinite: bool = False) -> None:
    """Raise AssertionError with `report` if any oracle disagrees."""
    found = check_program(prog, oracles, nonfinite)
    if found:
        raise AssertionError(report(prog, found, nonfinite))


__all__ = ["Mismatch", "ORACLES", "cold_tape", "NONFINITE_ORACLES", "default_oracles",
           "run_oracles", "check_program", "assert_program_ok", "report", "close",
           "central_difference", "array_source"]
