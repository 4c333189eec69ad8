"""The registry x execution-path matrix: every primitive, differentiated on every path.

For every registered primitive (the cases of tests/test_prims.py `CASES`, control flow
included) this builds a float64 scalar loss around the case and computes its gradient and a
Hessian-vector product on each of funcgrad's execution paths:

- eager `grad` on calls 1-6 after `executor.reset()`: call 1 differentiates each application the
  general way (linearize + transpose), call 2 compiles per-primitive rules, call 3 records the
  call lazily, call 4 compiles the recording as a whole-call program, calls 5-6 run it
  (`executor.stats()` must show the program where one is expected);
- a call that falls back from lazy recording half-way (`bool(...)` on a value forces the
  recorded applications to be computed), calls 1-6;
- under an outer transformation, calls 1-6 each (the inner tape's regimes change with the
  call count too): jvp(grad) (forward over reverse), grad(<grad, t>) (reverse over reverse),
  grad(grad(s -> loss(x + s t))), vmap(grad) against a Python loop of grads;
- under jit: jit(grad), grad(jit), jit(jvp(grad)).

All of them must agree to 1e-10 (relative to max(1, |value|)) in float64, and the gradient
and the Hessian-vector product must agree with Richardson-extrapolated central differences of
the loss and of the gradient. `while` has no reverse mode by design: its row is the
forward-mode analogue (jvp, jvp of jvp, under vmap and jit).
"""
from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_prims import CASES, MODES, NOT_EXERCISED_HERE, _import_every_module

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.core.primitive import registry
from funcgrad.core.trace import EVAL, current_trace
from funcgrad.run import eager as executor
from funcgrad.test_util import numerical_jvp

_import_every_module()      # primitives register on import: the registry is complete

# Primitives no case can bind directly (`custom_lin` only exists inside the linear graphs of
# custom_vjp / checkpoint): test_prims' exclusions, less the ones that have a case there.
NOT_IN_MATRIX = frozenset(NOT_EXERCISED_HERE - set(CASES))
MATRIX = sorted(set(registry) - NOT_IN_MATRIX)
# while_loop is forward-differentiable only (SPEC): no grad of it exists to compare.
FORWARD_ONLY = frozenset(n for n in MATRIX if "rev" not in MODES.get(n, ("fwd", "rev")))

CALLS = 6               # 1 general, 2 rules, 3 records + materialises, 4 compiles, 5-6 program
TOL = 1e-10             # between execution paths (float64)
FD_TOL = {np.dtype(np.float64): 1e-5, np.dtype(np.float32): 1e-3}   # vs central differences
FD_EPS = {np.dtype(np.float64): 1e-6, np.dtype(np.float32): 1e-3}
BATCH = 2


def test_matrix_covers_the_registry():
    missing = sorted(set(registry) - set(MATRIX) - NOT_IN_MATRIX)
    assert not missing, f"registered primitives missing from the matrix: {missing}"
    no_case = sorted(set(MATRIX) - set(CASES))
    assert not no_case, f"primitives in the matrix with no case in test_prims.CASES: {no_case}"
    assert NOT_IN_MATRIX <= {"custom_lin"}, sorted(NOT_IN_MATRIX)
    assert {"cond", "scan", "while", "stop_gradient"} <= set(MATRIX)


# ---------------------------------------------------------------- comparisons

def _show(x) -> str:
    return np.array2string(np.asarray(x), precision=17, threshold=20, max_line_width=110)


def close(got, expected, tol: float, what: str, slack=0.0, scale=None) -> None:
    """Same shape and dtype, |got - expected| <= tol * max(1, max|expected|) + slack."""
    g, e = np.asarray(got), np.asarray(expected)
    assert g.shape == e.shape, f"{what}: shape {g.shape}, expected {e.shape}"
    assert g.dtype == e.dtype, f"{what}: dtype {g.dtype}, expected {e.dtype}"
    if scale is None:
        scale = max(1.0, float(np.max(np.abs(e)))) if e.size else 1.0
    diff = np.abs(g.astype(np.float64) - e.astype(np.float64))
    ok = diff <= tol * scale + slack
    if not np.all(ok):
        raise AssertionError(f"{what}: max error {np.max(diff):.3g} > {tol:g} * {scale:.3g}"
                             f"{' + slack' if np.any(slack) else ''}\n"
                             f"  expected {_show(e)}\n  got      {_show(g)}")


def close_all(got, expected, tol: float, what: str) -> None:
    got, expected = fg.tree.leaves(got), fg.tree.leaves(expected)
    assert len(got) == len(expected), f"{what}: {len(got)} leaves, expected {len(expected)}"
    for i, (g, e) in enumerate(zip(got, expected)):
        assert type(g) is np.ndarray, f"{what}: leaf {i} is a {type(g).__name__}"
        close(g, e, tol, f"{what} (leaf {i})" if len(expected) > 1 else what)


def central_difference(fn, args, tangents, eps):
    """tests/fuzz/oracles.py central_difference with a given step: the directional
    derivative at steps eps and eps/2, Richardson-extrapolated, and a bound on its error."""
    d1 = fg.tree.leaves(numerical_jvp(fn, args, tangents, eps))
    d2 = fg.tree.leaves(numerical_jvp(fn, args, tangents, eps / 2))
    return [(4 * b - a) / 3 for a, b in zip(d1, d2)], [np.abs(b - a) for a, b in zip(d1, d2)]


@contextlib.contextmanager
def frozen_stop_gradients(loss, xs):
    """AD treats `stop_gradient(v)` as a constant at every order, so the function that finite
    differences must see is the loss with each stop_gradient's value frozen at the base point
    (plain finite differences of x * stop_gradient(x) would differentiate x * x). Yields a
    wrapper of a function that runs it with `fnp.stop_gradient` returning, call by call, the
    values it had when `loss` ran at `xs`."""
    real = fnp.stop_gradient
    values: list = []

    def recording(v):
        values.append(np.array(v))
        return real(v)
    fnp.stop_gradient = recording
    try:
        loss(*xs)
        position = [0]

        def frozen(v):
            i = position[0]
            position[0] += 1
            assert np.shape(v) == values[i].shape
            return values[i]

        def wrap(f):
            def run(*args):
                position[0] = 0
                return f(*args)
            return run
        fnp.stop_gradient = frozen
        yield wrap
    finally:
        fnp.stop_gradient = real


# ---------------------------------------------------------------- the loss of a case

class Case:
    """A case of test_prims.CASES made a float64 scalar loss of float64 inputs.

    Boolean arguments (select's condition, the logical ops', cond's predicate) become float
    inputs u with `u > 0` passed in their place, so the primitive sits in the differentiated
    computation. The loss is sum(W * out) + sum(V * out * out) + sum(W2 * out) * k with
    k = sum_i sum(U_i * sin(x_i)), plus sum(W3 * out * cos(x_j)) for an input x_j shaped like
    out: the product terms make the value of a primitive without derivative (comparisons,
    argmax, sign, floor...; `out` converted to float64) matter at first and second order."""

    def __init__(self, name, draw):
        fn, args = CASES[name](draw, np.float64)
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="loss seed"))
        self.name, self.fn = name, fn
        self.kinds, self.xs, self.consts = [], [], []
        for a in args:
            a = np.asarray(a)
            if a.dtype.kind == "f":
                self.kinds.append("float")
                self.xs.append(a.astype(np.float64))
            elif a.dtype == np.bool_:
                self.kinds.append("bool")
                self.xs.append(np.where(a, 1.0, -1.0) * rng.uniform(0.5, 1.5, a.shape))
            else:
                self.kinds.append("const")
                self.consts.append(a)
        assert self.xs, f"{name}: the case has no float or boolean argument to differentiate"
        out = np.asarray(fn(fnp, *self.full(self.xs)))
        self.out_dtype = out.dtype
        self.W, self.V, self.W2, self.W3 = (rng.standard_normal(out.shape) for _ in range(4))
        self.U = [rng.standard_normal(x.shape) for x in self.xs]
        self.like_out = next((i for i, x in enumerate(self.xs) if x.shape == out.shape), None)
        self.ts = [rng.standard_normal(x.shape) for x in self.xs]
        dom = registry[name].domain
        self.centers = [0.0 if k == "bool" or not isinstance(dom, (tuple, str))
                        else (sum(dom) / 2 if isinstance(dom, tuple) else
                              1.25 if dom == "positive" else 0.0)
                        for k in self.kinds if k != "const"]
        fd_dtype = out.dtype if out.dtype == np.float32 else np.dtype(np.float64)
        self.fd_eps, self.fd_tol = FD_EPS[fd_dtype], FD_TOL[fd_dtype]

    def full(self, xs):
        """The case's arguments from the loss inputs."""
        xs, consts = iter(xs), iter(self.consts)
        return [next(xs) if k == "float" else next(xs) > 0.0 if k == "bool" else next(consts)
                for k in self.kinds]

    def loss(self, *xs, fall_back=False):
        out = self.fn(fnp, *self.full(xs))
        if fall_back:
            # A value without derivative used by Python: a lazily recorded call must compute
            # what it recorded so far and carry on op by op.
            assert bool(fnp.sum(xs[0]) > -1e300)
        if out.dtype.kind == "c":
            out = fnp.real(out) + 0.5 * fnp.imag(out)
        if out.dtype != np.float64:
            out = fnp.astype(out, np.float64)
        k = sum(fnp.sum(u * fnp.sin(x)) for u, x in zip(self.U, xs))
        total = fnp.sum(self.W * out) + fnp.sum(self.V * out * out) + fnp.sum(self.W2 * out) * k
        if self.like_out is not None:
            total = total + fnp.sum(self.W3 * out * fnp.cos(xs[self.like_out]))
        return total

    def loss_fall_back(self, *xs):
        return self.loss(*xs, fall_back=True)

    def batch(self):
        """BATCH examples stacked on axis 0: the inputs, moved slightly towards the middle of
        the primitive's domain (no ordering, sign or domain boundary is crossed)."""
        return [np.stack([x + 0.003 * b * (c - x) for b in range(BATCH)])
                for x, c in zip(self.xs, self.centers)]


def _calls(what, f, args, check=None):
    """Call f CALLS times after forgetting every compiled rule and program; each result must
    agree with the first. Returns the first result."""
    executor.reset()
    results = []
    for k in range(1, CALLS + 1):
        results.append(f(*args))
        if check is not None:
            check(k)
    for k, r in enumerate(results[1:], start=2):
        close_all(r, results[0], TOL, f"{what}: call {k} vs call 1")
    assert current_trace() is EVAL
    return results[0]


def _expects_program(case):
    """Whether eager grad of the case's loss should run as a compiled whole-call program from
    call 4 on: not when it binds a control-flow primitive (they always materialise); None
    (either) for indexing, which is run eagerly only when it has index arrays."""
    prims = {e.primitive for e in fg.make_graph(case.loss)(*case.xs).eqns}
    if any(p.multiple_results for p in prims):
        return False
    if any(p.checks_values for p in prims):
        return None
    return True


def _inner(a, b) -> float:
    return sum(float(np.sum(x * y)) for x, y in zip(fg.tree.leaves(a), fg.tree.leaves(b)))


# ---------------------------------------------------------------- the matrix

SETTINGS = settings(max_examples=3, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("name", sorted(set(MATRIX) - FORWARD_ONLY))
@SETTINGS
@given(data=st.data())
def test_every_execution_path_agrees(name, data):
    case = Case(name, data.draw)
    xs, ts, n = case.xs, case.ts, len(case.xs)
    argnums = tuple(range(n))
    graph = fg.make_graph(case.loss)(*xs)
    assert name in {e.primitive.name for e in graph.eqns}, f"the loss does not bind {name}"
    g = fg.grad(case.loss, argnums=argnums)

    # eager grad: the tape's regimes, with the program showing up where one is expected
    program = _expects_program(case)

    def eager_regimes(k):
        programs = executor.stats()["programs"]
        if k <= 3:
            assert programs == 0, f"call {k} compiled a program"
        if k == CALLS:
            assert executor.stats()["rules"] > 0, "no per-primitive rule was compiled"
            assert program is None or (programs > 0) == program, \
                f"call {k}: programs {programs}, expected {'one' if program else 'none'}"
    grad = _calls(f"{name}: eager grad", g, xs, eager_regimes)
    for i, (a, x) in enumerate(zip(grad, xs)):
        assert (a.shape, a.dtype) == (x.shape, x.dtype), f"{name}: gradient {i} is " \
            f"{a.dtype}{list(a.shape)} for an input {x.dtype}{list(x.shape)}"

    # the first-order value vs central differences of the loss (stop_gradient frozen)
    with frozen_stop_gradients(case.loss, xs) as frozen:
        (fd,), (err,) = central_difference(frozen(case.loss), xs, ts, case.fd_eps)
        got = _inner(grad, ts)
        scale = max(1.0, sum(float(np.sum(np.abs(a * t))) for a, t in zip(grad, ts)))
        close(np.float64(got), np.float64(fd), case.fd_tol,
              f"{name}: <grad, t> vs central difference of the loss", slack=err, scale=scale)

    # a call that falls back from lazy recording in the middle
    def no_program(k):
        assert executor.stats()["programs"] == 0, f"call {k}: a call that falls back compiled one"
    close_all(_calls(f"{name}: grad, falling back mid-call",
                     fg.grad(case.loss_fall_back, argnums=argnums), xs, no_program),
              grad, TOL, f"{name}: grad falling back mid-call vs eager grad")

    # second order: forward over reverse (the reference HVP)
    def fwd_rev(*xs):
        return fg.jvp(g, tuple(xs), tuple(ts))
    g_fr, hvp = _calls(f"{name}: jvp(grad)", fwd_rev, xs)
    close_all(g_fr, grad, TOL, f"{name}: jvp(grad) primal vs eager grad")
    with frozen_stop_gradients(case.loss, xs) as frozen:
        fd, err = central_difference(frozen(g), xs, ts, case.fd_eps)
    for i, (h, d, e) in enumerate(zip(hvp, fd, err)):
        close(h, d, case.fd_tol, f"{name}: jvp(grad) vs central difference of grad "
              f"(input {i})", slack=e)

    # reverse over reverse
    def g_dot_t(*xs):
        return sum(fnp.sum(a * t) for a, t in zip(g(*xs), ts))
    close_all(_calls(f"{name}: grad(<grad, t>)", fg.grad(g_dot_t, argnums=argnums), xs), hvp,
              TOL, f"{name}: grad(<grad, t>) vs jvp(grad)")

    # grad of grad: t^T H t as the second derivative of s -> loss(x + s t)
    def along(s):
        return case.loss(*[x + s * t for x, t in zip(xs, ts)])
    tht = _calls(f"{name}: grad(grad(s -> loss(x + s t)))", fg.grad(fg.grad(along)),
                 [np.float64(0.0)])
    close(tht, np.float64(_inner(hvp, ts)), TOL, f"{name}: grad(grad(loss(x + s t))) vs "
          "<jvp(grad), t>", scale=max(1.0, sum(float(np.sum(np.abs(h * t)))
                                               for h, t in zip(hvp, ts))))

    # vmap(grad) vs a Python loop of grads
    batched = case.batch()
    expected = [np.stack(parts) for parts in
                zip(*[g(*[b[i] for b in batched]) for i in range(BATCH)])]
    close_all(_calls(f"{name}: vmap(grad)", fg.vmap(g), batched), expected, TOL,
              f"{name}: vmap(grad) vs a loop of grads")

    # under jit
    close_all(_calls(f"{name}: jit(grad)", fg.jit(g), xs), grad, TOL,
              f"{name}: jit(grad) vs eager grad")
    close_all(_calls(f"{name}: grad(jit)", fg.grad(fg.jit(case.loss), argnums=argnums), xs),
              grad, TOL, f"{name}: grad(jit(loss)) vs eager grad")
    j_fr = fg.jit(lambda xs, ts: fg.jvp(g, xs, ts))
    g_j, h_j = _calls(f"{name}: jit(jvp(grad))", j_fr, (tuple(xs), tuple(ts)))
    close_all(g_j, grad, TOL, f"{name}: jit(jvp(grad)) primal vs eager grad")
    close_all(h_j, hvp, TOL, f"{name}: jit(jvp(grad)) vs jvp(grad)")


@pytest.mark.parametrize("name", sorted(FORWARD_ONLY))
@SETTINGS
@given(data=st.data())
def test_forward_only_execution_paths_agree(name, data):
    """The forward-mode row (while_loop has no reverse mode by design, so no grad cell):
    jvp and jvp of jvp, eagerly, under vmap and under jit, against central differences."""
    case = Case(name, data.draw)
    xs, ts = tuple(case.xs), tuple(case.ts)
    graph = fg.make_graph(case.loss)(*xs)
    assert name in {e.primitive.name for e in graph.eqns}, f"the loss does not bind {name}"

    def d1(*xs):                        # <grad, t> by forward mode
        return fg.jvp(case.loss, tuple(xs), ts)[1]

    def d2(*xs):                        # t^T H t by forward over forward
        return fg.jvp(d1, tuple(xs), ts)

    first = _calls(f"{name}: jvp", d1, xs)
    (fd,), (err,) = central_difference(case.loss, xs, ts, case.fd_eps)
    close(first, np.float64(fd), case.fd_tol, f"{name}: jvp vs central difference",
          slack=err)
    d1_again, second = _calls(f"{name}: jvp(jvp)", d2, xs)
    close(d1_again, first, TOL, f"{name}: jvp(jvp) primal vs jvp")
    (fd,), (err,) = central_difference(d1, xs, ts, case.fd_eps)
    close(second, np.float64(fd), case.fd_tol, f"{name}: jvp(jvp) vs central difference of jvp",
          slack=err)

    batched = case.batch()
    expected = np.stack([d2(*[b[i] for b in batched])[1] for i in range(BATCH)])
    close(_calls(f"{name}: vmap(jvp(jvp))", fg.vmap(lambda *xs: d2(*xs)[1]), batched),
          expected, TOL, f"{name}: vmap(jvp(jvp)) vs a loop")
    close_all(_calls(f"{name}: jit(jvp(jvp))", fg.jit(d2), xs), (first, second), TOL,
              f"{name}: jit(jvp(jvp)) vs jvp(jvp)")
    close(_calls(f"{name}: jvp(jit)", lambda *xs: fg.jvp(fg.jit(case.loss), xs, ts)[1], xs),
          first, TOL, f"{name}: jvp(jit(loss)) vs jvp")
