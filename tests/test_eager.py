"""Eager reverse mode (funcgrad/run/eager.py), call by call.

`grad`, `value_and_grad`, `vjp` and `jacrev` with no graph being built around them (no `jit`,
`make_graph` or `linearize`) run the function on a tape. What a call runs depends on how often
the executor has seen its computation; `executor.reset()` forgets everything and
`executor.stats()` shows the caches (`rules`, `programs`), the calls run as a compiled program
(`program_runs`) and the compilations that failed (`compile_failures`: the tape then falls back
to the general path silently, so tests check that it stays 0). From a reset:

- call 1: every primitive signature is new, each application is differentiated the general way
  (linearize + transpose of that one application);
- calls 2-3: signatures seen before get a per-primitive rule (run/rules.py), compiled on the
  second sighting, and the backward pass walks the tape calling the rules; once every
  signature has a rule (call 3), the call is *recorded* lazily, without computing anything;
- call 4 on: the second sighting of the same recording compiles it whole (run/programs.py)
  and calls 4, 5, 6... run one generated forward and one generated backward.

*Materialisation*: anything that needs a value while a call is being recorded (`float(x)`, an
`if` on a traced value, formatting it, `has_aux`, custom_vjp / custom_jvp / checkpoint, control
flow primitives, indexing, an unknown signature) computes what was recorded so far and carries
on on the tape: such a call never becomes a program, and never reuses a stale one.

*Under outer transformations* (jvp, vmap or grad of grad) the tape runs the rules' graphs in the
enclosing transformation; recording needs concrete values, so the inner tape never records.
Under jit no tape runs at all (a graph is being built).

Sections:

1. The matrix: every registered primitive on every execution path (eager calls 1-6, a call
   falling back mid-recording, jvp / grad / vmap around grad, jit around and inside), first
   and second order, against each other and against finite differences; no compilation may
   fail, and a program must run where one is expected.
2. Composite functions: hand-written losses mixing many primitives, argument kinds (pytrees,
   Python scalars, float32) and closed-over constants: calls 1-6 agree with call 1, with jit
   and with finite differences; results are owned arrays of the arguments' shapes and dtypes.
3. Results: dtypes, broadcasting, ownership and aliasing of gradients and cotangents;
   `vjp` functions (reused, under jit / vmap / grad); jacrev; signatures kept apart.
4. New values on every call: programs take inputs and constants as inputs, never baked in;
   arrays a call reads are read-only until it returns.
5. Program identity: value-dependent Python control flow, static structure, wiring, long
   calls staying on the tape.
6. What needs values: has_aux, custom_vjp, custom_jvp, checkpoint, control-flow primitives,
   integer-valued operations.
7. Higher order and transformations inside a warm grad.
8. Failure modes and state: leaked tracers, errors naming the user's line, rule changes
   clearing the caches, threads sharing the caches.
9. A training loop.
"""
from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import pkgutil
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_prims import CASES as PRIM_CASES
from test_prims import MODES, NOT_EXERCISED_HERE

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.core.primitive import registry
from funcgrad.core.trace import EVAL, Tracer, current_trace
from funcgrad.errors import UnexpectedTracerError
from funcgrad.prims import elementwise
from funcgrad.run import eager as executor
from funcgrad.run import programs
from funcgrad.test_util import numerical_jvp

CALLS = 6               # 1 general, 2 rules, 3 records + materialises, 4 compiles, 5-6 program
RTOL = 1e-12            # hand-written float64 tests
TOL = 1e-10             # the matrix, between execution paths (float64, random values)
FD_TOL = {np.dtype(np.float64): 1e-5, np.dtype(np.float32): 1e-3}   # vs central differences
FD_EPS = {np.dtype(np.float64): 1e-6, np.dtype(np.float32): 1e-3}
BATCH = 2


@pytest.fixture(autouse=True)
def fresh_executor():
    """Every test starts from empty caches, and leaves no transformation current and the
    executor working."""
    executor.reset()
    yield
    assert current_trace() is EVAL
    assert fg.grad(lambda x: x ** 2)(3.0) == 6.0


# ================================================================ shared helpers

def _show(x) -> str:
    return np.array2string(np.asarray(x), precision=17, threshold=20, max_line_width=110)


def close(got, expected, tol: float, what: str = "", slack=0.0, scale=None) -> None:
    """Same shape and dtype, |got - expected| <= tol * max(1, max|expected|) + slack (the
    matrix's measure: random values, some near zero)."""
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


def close_all(got, expected, tol: float, what: str = "") -> None:
    """`close` leaf by leaf; every leaf of `got` a NumPy array."""
    got, expected = fg.tree.leaves(got), fg.tree.leaves(expected)
    assert len(got) == len(expected), f"{what}: {len(got)} leaves, expected {len(expected)}"
    for i, (g, e) in enumerate(zip(got, expected)):
        assert type(g) is np.ndarray, f"{what}: leaf {i} is a {type(g).__name__}"
        close(g, e, tol, f"{what} (leaf {i})" if len(expected) > 1 else what)


def assert_tree_close(got, expected, rtol=RTOL, atol=0.0) -> None:
    """Same tree structure; every leaf of `got` a NumPy array (not a tracer, not a Python
    number) of the expected shape and dtype; values allclose (tight by default)."""
    assert fg.tree.structure(got) == fg.tree.structure(expected)
    for g, e in zip(fg.tree.leaves(got), fg.tree.leaves(expected), strict=True):
        assert type(g) is np.ndarray, type(g)
        e = np.asarray(e)
        assert g.shape == e.shape, (g.shape, e.shape)
        assert g.dtype == e.dtype, (g.dtype, e.dtype)
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol)


def central_difference(fn, args, tangents, eps):
    """The directional derivative at steps eps and eps/2, Richardson-extrapolated, and a
    bound on its error (as tests/fuzz/oracles.py)."""
    d1 = fg.tree.leaves(numerical_jvp(fn, args, tangents, eps))
    d2 = fg.tree.leaves(numerical_jvp(fn, args, tangents, eps / 2))
    return [(4 * b - a) / 3 for a, b in zip(d1, d2)], [np.abs(b - a) for a, b in zip(d1, d2)]


def _inner(a, b) -> float:
    return sum(float(np.sum(x * y)) for x, y in zip(fg.tree.leaves(a), fg.tree.leaves(b)))


def _expects_program(graph) -> bool:
    """Whether eager grad of the function `graph` was made from (`fg.make_graph`) should run as
    a compiled whole-call program from call 4 on: not when it binds a primitive with several
    results (control flow, decompositions) or one that checks values (index arrays, solves),
    which always materialise."""
    for e in graph.eqns:
        checks = e.primitive.checks_values
        if e.primitive.multiple_results or checks is True or (checks and checks(**e.params)):
            return False
    return True


def _line_of(fn, text: str) -> str:
    """`file:line` of the first line of fn's source containing `text`: what an error raised
    there must name."""
    lines, start = inspect.getsourcelines(fn)
    offset = next(i for i, line in enumerate(lines) if text in line)
    return f"{os.path.basename(fn.__code__.co_filename)}:{start + offset}"


def _run_in_threads(work, n: int) -> list:
    """Run work(0..n-1) in n threads started together; the exceptions they raised."""
    errors: list = []
    barrier = threading.Barrier(n)

    def run(k):
        try:
            barrier.wait()
            work(k)
        except BaseException as err:  # noqa: BLE001 - reported in the main thread
            errors.append(err)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


# ================================================================ 1. the matrix
#
# For every registered primitive (the cases of tests/test_prims.py `CASES`, control flow
# included) a float64 scalar loss is built around the case, and its gradient and a
# Hessian-vector product are computed on each execution path:
#
# - eager `grad` on calls 1-6 after `executor.reset()` (`stats()` must show the program where
#   one is expected), then grad(jit(loss)) (jit is traced inline by the tape) with its caches;
# - a call that falls back from lazy recording half-way (`bool(...)` on a value forces the
#   recorded applications to be computed), calls 1-6 with the rules of eager grad's calls
#   kept, so each of them records up to the `bool`: never a program;
# - under an outer transformation, calls 1-6 each (the inner tape's regimes change with the
#   call count too): jvp(grad) (forward over reverse), grad(<grad, t>) (reverse over
#   reverse), grad(grad(s -> loss(x + s t))), vmap(grad) against a Python loop of grads;
# - under jit: jit(grad), jit(jvp(grad)).
#
# All of them must agree to 1e-10 (relative to max(1, |value|)) in float64, and the gradient
# and the Hessian-vector product must agree with Richardson-extrapolated central differences
# of the loss and of the gradient. After every series of calls no rule or program may have
# failed to compile; a compiled program must have run where one is expected and none where
# none can: eager grad and grad(jit) (jit inside grad is traced inline by the tape) when the
# loss binds no control flow, the grad of grad rows (the outer call is recorded) when the
# gradient's graph binds none either, never under jvp, vmap or jit, never when falling back
# (indexing may go either way).
# `while` has no reverse mode by design: its row is the forward-mode analogue (jvp, jvp of
# jvp, under vmap and jit).

for _info in pkgutil.walk_packages(fg.__path__, "funcgrad."):   # primitives register on
    if not _info.name.endswith("__main__"):                     # import: load them all
        importlib.import_module(_info.name)

# Primitives no case can bind directly (`custom_lin` only exists inside the linear graphs of
# custom_vjp / checkpoint): test_prims' exclusions, less the ones that have a case there.
NOT_IN_MATRIX = frozenset(NOT_EXERCISED_HERE - set(PRIM_CASES))
MATRIX = sorted(set(registry) - NOT_IN_MATRIX)
# while_loop is forward-differentiable only (SPEC): no grad of it exists to compare.
FORWARD_ONLY = frozenset(n for n in MATRIX if "rev" not in MODES.get(n, ("fwd", "rev")))


def test_matrix_covers_the_registry():
    missing = sorted(set(registry) - set(MATRIX) - NOT_IN_MATRIX)
    assert not missing, f"registered primitives missing from the matrix: {missing}"
    no_case = sorted(set(MATRIX) - set(PRIM_CASES))
    assert not no_case, f"primitives in the matrix with no case in test_prims.CASES: {no_case}"
    assert NOT_IN_MATRIX <= {"custom_lin"}, sorted(NOT_IN_MATRIX)
    assert {"cond", "scan", "while", "stop_gradient"} <= set(MATRIX)


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


class Case:
    """A case of test_prims.CASES made a float64 scalar loss of float64 inputs.

    Boolean arguments (select's condition, the logical ops', cond's predicate) become float
    inputs u with `u > 0` passed in their place, so the primitive sits in the differentiated
    computation. The loss is sum(W * out) + sum(V * out * out) + sum(W2 * out) * k with
    k = sum_i sum(U_i * sin(x_i)), plus sum(W3 * out * cos(x_j)) for an input x_j shaped like
    out: the product terms make the value of a primitive without derivative (comparisons,
    argmax, sign, floor...; `out` converted to float64) matter at first and second order."""

    def __init__(self, name, draw):
        fn, args = PRIM_CASES[name](draw, np.float64)
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


def _calls(what, f, args, check=None, program=None, reset=True):
    """Call f CALLS times, after forgetting every compiled rule and program unless `reset` is
    False; each result must agree with the first, no compilation may fail, and a program must
    have run if `program` is True (none if False; None: either). Returns the first result."""
    if reset:
        executor.reset()
    before = executor.stats()
    results = []
    for k in range(1, CALLS + 1):
        results.append(f(*args))
        if check is not None:
            check(k)
    for k, r in enumerate(results[1:], start=2):
        close_all(r, results[0], TOL, f"{what}: call {k} vs call 1")
    assert current_trace() is EVAL
    stats = executor.stats()
    failures = stats["compile_failures"] - before["compile_failures"]
    assert failures == 0, f"{what}: {failures} rules or programs failed to compile (the tape " \
        f"fell back to the general path)"
    runs = stats["program_runs"] - before["program_runs"]
    if program is not None:
        assert (runs > 0) == program, \
            f"{what}: {runs} calls ran a compiled program, expected {'some' if program else 'none'}"
    return results[0]


SETTINGS = settings(max_examples=3, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


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
    program = _expects_program(graph)

    def eager_regimes(k):
        compiled = executor.stats()["programs"]
        if k <= 3:
            assert compiled == 0, f"call {k} compiled a program"
        if k == CALLS:
            assert executor.stats()["rules"] > 0, "no per-primitive rule was compiled"
            assert program is None or (compiled > 0) == program, \
                f"call {k}: programs {compiled}, expected {'one' if program else 'none'}"
    grad = _calls(f"{name}: eager grad", g, xs, eager_regimes, program)
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

    # jit inside grad: under the tape, jit is traced inline, so with eager grad's caches kept
    # the calls are recorded as eager grad's and run its program (from a reset they would
    # repeat eager grad's calls; were jit not inlined, its own signatures would start cold)
    close_all(_calls(f"{name}: grad(jit)", fg.grad(fg.jit(case.loss), argnums=argnums), xs,
                     program=program, reset=False),
              grad, TOL, f"{name}: grad(jit(loss)) vs eager grad")

    # a call that falls back from lazy recording in the middle: with the rules of the calls
    # above kept, every call is recorded up to the `bool`, computes that, and goes on on the
    # tape (from a reset, calls 1-2 would repeat what eager grad checked)
    compiled = executor.stats()["programs"]

    def no_program(k):
        assert executor.stats()["programs"] == compiled, \
            f"call {k}: a call that falls back compiled a program"
    close_all(_calls(f"{name}: grad, falling back mid-call",
                     fg.grad(case.loss_fall_back, argnums=argnums), xs, no_program, False,
                     reset=False),
              grad, TOL, f"{name}: grad falling back mid-call vs eager grad")

    # second order: forward over reverse (the reference HVP); the inner tape never records
    def fwd_rev(*xs):
        return fg.jvp(g, tuple(xs), tuple(ts))
    g_fr, hvp = _calls(f"{name}: jvp(grad)", fwd_rev, xs, program=False)
    close_all(g_fr, grad, TOL, f"{name}: jvp(grad) primal vs eager grad")
    with frozen_stop_gradients(case.loss, xs) as frozen:
        fd, err = central_difference(frozen(g), xs, ts, case.fd_eps)
    for i, (h, d, e) in enumerate(zip(hvp, fd, err)):
        close(h, d, case.fd_tol, f"{name}: jvp(grad) vs central difference of grad "
              f"(input {i})", slack=e)

    # reverse over reverse: the outer call is recorded, and becomes a program, when what the
    # inner tape binds in it (the primitives of the gradient's graph) needs no value
    def g_dot_t(*xs):
        return sum(fnp.sum(a * t) for a, t in zip(g(*xs), ts))
    outer_program = _expects_program(fg.make_graph(g_dot_t)(*xs))
    close_all(_calls(f"{name}: grad(<grad, t>)", fg.grad(g_dot_t, argnums=argnums), xs,
                     program=outer_program),
              hvp, TOL, f"{name}: grad(<grad, t>) vs jvp(grad)")

    # grad of grad: t^T H t as the second derivative of s -> loss(x + s t)
    def along(s):
        return case.loss(*[x + s * t for x, t in zip(xs, ts)])
    tht = _calls(f"{name}: grad(grad(s -> loss(x + s t)))", fg.grad(fg.grad(along)),
                 [np.float64(0.0)], program=outer_program)
    close(tht, np.float64(_inner(hvp, ts)), TOL, f"{name}: grad(grad(loss(x + s t))) vs "
          "<jvp(grad), t>", scale=max(1.0, sum(float(np.sum(np.abs(h * t)))
                                               for h, t in zip(hvp, ts))))

    # vmap(grad) vs a Python loop of grads
    batched = case.batch()
    expected = [np.stack(parts) for parts in
                zip(*[g(*[b[i] for b in batched]) for i in range(BATCH)])]
    close_all(_calls(f"{name}: vmap(grad)", fg.vmap(g), batched, program=False), expected,
              TOL, f"{name}: vmap(grad) vs a loop of grads")

    # under jit: no tape runs (a graph is built)
    close_all(_calls(f"{name}: jit(grad)", fg.jit(g), xs, program=False), grad, TOL,
              f"{name}: jit(grad) vs eager grad")
    j_fr = fg.jit(lambda xs, ts: fg.jvp(g, xs, ts))
    g_j, h_j = _calls(f"{name}: jit(jvp(grad))", j_fr, (tuple(xs), tuple(ts)), program=False)
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

    first = _calls(f"{name}: jvp", d1, xs, program=False)
    (fd,), (err,) = central_difference(case.loss, xs, ts, case.fd_eps)
    close(first, np.float64(fd), case.fd_tol, f"{name}: jvp vs central difference",
          slack=err)
    d1_again, second = _calls(f"{name}: jvp(jvp)", d2, xs, program=False)
    close(d1_again, first, TOL, f"{name}: jvp(jvp) primal vs jvp")
    (fd,), (err,) = central_difference(d1, xs, ts, case.fd_eps)
    close(second, np.float64(fd), case.fd_tol, f"{name}: jvp(jvp) vs central difference of jvp",
          slack=err)

    batched = case.batch()
    expected = np.stack([d2(*[b[i] for b in batched])[1] for i in range(BATCH)])
    close(_calls(f"{name}: vmap(jvp(jvp))", fg.vmap(lambda *xs: d2(*xs)[1]), batched,
                 program=False),
          expected, TOL, f"{name}: vmap(jvp(jvp)) vs a loop")
    close_all(_calls(f"{name}: jit(jvp(jvp))", fg.jit(d2), xs, program=False), (first, second),
              TOL, f"{name}: jit(jvp(jvp)) vs jvp(jvp)")
    close(_calls(f"{name}: jvp(jit)", lambda *xs: fg.jvp(fg.jit(case.loss), xs, ts)[1], xs,
                 program=False),
          first, TOL, f"{name}: jvp(jit(loss)) vs jvp")


# ================================================================ 2. composite functions
#
# The matrix puts one primitive in a fixed loss. These losses mix many, with the argument
# kinds and constants user code has; each is called CALLS times from cold caches.

_rng = np.random.default_rng(0)
V5 = _rng.standard_normal(5)
POS5 = _rng.uniform(0.5, 2.0, 5)
COL = _rng.standard_normal((3, 1))
ROW = _rng.standard_normal(4)
M34 = _rng.standard_normal((3, 4))
W32 = _rng.standard_normal((3, 2))
X53 = _rng.standard_normal((5, 3))
T234 = _rng.standard_normal((2, 3, 4))
LOGITS = _rng.standard_normal((4, 6))
LABELS = np.array([0, 5, 2, 2])
C4 = _rng.standard_normal(4)            # a closed-over constant
M43 = _rng.standard_normal((4, 3))
V8 = _rng.standard_normal(8)
X62 = _rng.standard_normal((6, 3))
IDX5 = np.array([0, 3, 1, 2, 4])
LABELS4 = np.array([0, 2, 1, 2])
Y43 = np.eye(3)[[1, 0, 2, 2]]


def _unary_chain(x):
    y = fnp.tanh(fnp.sin(x) * fnp.exp(-x)) + fnp.log1p(x * x) + fnp.sqrt(fnp.abs(x) + 1.0)
    return fnp.sum(fnp.cos(y) + fnp.arctan(x) + fnp.sinh(x) * 0.1 + fnp.square(fnp.tanh(x)))


def _broadcast_binary(a, b):
    return fnp.sum(a * b - a / (1.0 + b * b) + fnp.arctan2(a, b + 3.0) + (a - b) ** 2
                   + fnp.hypot(a, b) + fnp.logaddexp(a, b) + fnp.exp(a - b) / (1.0 + b * b))


def _broadcast_against_a_constant(x):
    return fnp.sum(x * COL + fnp.cos(x))       # (4,) * (3, 1): x's gradient sums over rows


def _scalar_constants(x):
    y = 2.0 * x + 3 - x / 4 + x ** 2 + x ** 3 + np.float64(0.5) * x + np.array(1.5) * x
    y = y + 1.0 / x + x ** 0.5 + 2.0 ** x + x ** -1 + True * x - 7 * x * x
    return fnp.sum(y * np.array(0.25)) + fnp.mean(x ** 2.5)


def _power_arrays(x, y):
    return fnp.sum(x ** y + fnp.power(y, 2.0) * fnp.log(x) + fnp.exp2(y) / x)


def _reductions(x):
    return (fnp.sum(fnp.max(x, axis=0)) + fnp.sum(fnp.mean(x, axis=1) ** 2)
            + fnp.prod(x[0]) + fnp.var(x) + fnp.sum(x, axis=(0, 1), keepdims=True)[0, 0]
            + fnp.sum(fnp.min(x, axis=1) * fnp.std(x, axis=1)) + fnp.sum(fnp.cumsum(x, axis=1)))


def _logsumexp_softmax(logits):
    shifted = logits - fnp.max(logits, axis=-1, keepdims=True)
    log_probs = shifted - fnp.log(fnp.sum(fnp.exp(shifted), axis=-1, keepdims=True))
    nll = -fnp.mean(fnp.take_along_axis(log_probs, LABELS[:, None], axis=1))
    probs = fnp.exp(log_probs)
    return nll + fnp.sum(fnp.logsumexp(logits, axis=1)) + 0.1 * fnp.sum(probs * probs)


def _nn_losses(z):
    return (fnp.sum(fg.nn.logsumexp(z, axis=1)) + fg.nn.softmax_cross_entropy(z, LABELS4)
            + fg.nn.softmax_cross_entropy(z, Y43) * 0.5)


def _matmul_dot_einsum(w, x):
    h = fnp.tanh(x @ w)                                     # (5, 2)
    return (fnp.sum(h * h) + fnp.dot(w[:, 0], w[:, 1]) + fnp.einsum("ij,jk->", x, w)
            + fnp.einsum("ij,ij->i", x, x)[2] + fnp.dot(x[0], w)[1]
            + fnp.trace(w.T @ w) + fnp.sum(fnp.matmul(x, w) @ w.T) + fnp.vdot(x[1], x[2])
            + fnp.sum(fnp.outer(w[:, 0], x[:, 1])) + fnp.sum(fnp.tensordot(x, w, axes=1)))


def _linear_algebra_with_constants(x):
    y = fnp.tanh(x @ M43)
    z = fnp.einsum("ij,jk->ik", x, M43) * 0.5
    return fnp.sum(y ** 2 + z) + fnp.dot(fnp.reshape(x, (8,)), V8)


def _reshape_transpose_index(x):
    y = fnp.reshape(x, (6, 4)).T                            # (4, 6)
    z = y[1:3, ::2] * fnp.sin(x[:, np.array([0, 2, 2]), 1])[..., None].sum()
    w = fnp.transpose(x, (2, 0, 1))[np.array([3, 0, 3])]    # repeated rows accumulate
    v = x[..., -1] * x[0][None, :, 1] + fnp.take(x, np.array([1, 1, 0]), axis=2).sum(axis=2)
    u = fnp.moveaxis(x, 0, -1).reshape(-1)[::3] + fnp.squeeze(x[:1, :1, :])[1]
    return (fnp.sum(z ** 2) + fnp.sum(fnp.cos(w)) + fnp.sum(v * v) + fnp.sum(u ** 3)
            + x[1, 2, 3] * x[0, 0, 0] + fnp.sum(fnp.flip(x, axis=1)[0] * fnp.arange(4.0)))


def _shapes_without_indexing(x):
    y = fnp.concatenate([fnp.transpose(x.reshape(3, 2)), fnp.sin(x) * 2.0], axis=1)
    return fnp.sum(fnp.cos(y) * fnp.reshape(y, (3, 4)).T.reshape(2, 6))


def _concatenate(x, y):
    z = fnp.concatenate([x, 2.0 * x, y[:2]], axis=0)       # (12,)
    s = fnp.stack([x[:4], y, C4], axis=1)                  # (4, 3)
    return fnp.sum(fnp.sin(z) * fnp.arange(12.0)) + fnp.sum(s ** 2 * fnp.arange(3.0))


def _misc_shape_ops(x):
    return (fnp.sum(fnp.sort(x) * fnp.arange(5.0)) + fnp.sum(fnp.cumprod(x * 0.5 + 1.0))
            + fnp.sum(fnp.pad(x, (1, 2)) * fnp.arange(8.0)) + fnp.sum(fnp.roll(x, 2) * x)
            + fnp.sum(fnp.tile(x, 2) ** 2) + fnp.sum(fnp.repeat(x, 2) * fnp.arange(10.0))
            + fnp.linalg.norm(x) + fnp.sum(fnp.split(x[:4], 2)[1] ** 3))


def _where_maximum(x, y):
    a = fnp.where(x > 0.1, x ** 2, fnp.sin(x))
    b = fnp.maximum(x, 0.2) + fnp.minimum(x, y) + fnp.maximum(y, x * 0.5)
    c = fnp.clip(x, -0.5, 0.5) + fnp.abs(x - y) + fnp.where(y < 0, 0.0, y)
    return fnp.sum(a * b + c + fg.nn.relu(x - 0.1) + fnp.minimum(y * 2.0, fnp.exp(y)))


def _integer_comparisons(x):
    k = fnp.astype(fnp.floor(x * 3.0), np.int64)          # traced integers, no derivative
    odd = (k % 2) == 1
    return fnp.sum(fnp.where(odd, x * x, fnp.sin(x)) + fnp.where(IDX5 >= 2, x * 3.0, 0.0)
                   + fnp.where(k > 0, 1.0, x))


def _stop_gradient(x):
    return fnp.sum(x * fg.stop_gradient(fnp.exp(x)) + fg.stop_gradient(x) ** 2 * x)


def _scatter_updates(x, v):
    y = x.at[np.array([1, 3])].set(v * 2.0).at[np.array([0, 0])].add(v ** 2)
    return fnp.sum(fnp.sin(y) * x) + fnp.sum(fnp.where(x, v[0] * x, -x))   # float predicate


def _float32(x):
    return fnp.sum(fnp.sin(x) * np.float32(2.0) + x * 0.5 + fnp.exp(x / 4.0))


def _float32_mlp(w, b, x):
    h = fnp.tanh(x @ w + b)
    return fnp.mean(h ** 2) + 0.5 * fnp.sum(w * w) + fnp.sum(fnp.exp(b) * 2)


def _float32_mixed(x, y):
    # float32 with Python scalars (weak: stays float32) and a float64 array (promotes)
    return fnp.sum(fnp.sin(x) * 2.0 + x ** 2) + fnp.sum(x * y) + fnp.sum(fnp.exp(y * 0.5))


def _nested_vmap_jit(x):
    rows = fg.vmap(lambda r: fnp.dot(r, x[:3]) * fnp.sin(r[0]))(X53)   # closes over x
    return fnp.sum(rows ** 2) + fnp.sum(fg.jit(lambda v: fnp.tanh(v) * v)(x))


def _python_scalar_arg(x):
    return fnp.exp(x) * fnp.cos(x) + x


def _multiple_arguments(x, y, s, z):
    return fnp.sum(fnp.sin(x) * y * s + fnp.tanh(z) * x + z ** 2)


def _pytree(params, data):
    h = fnp.tanh(data @ params["w"] + params["b"])
    return fnp.mean(h ** 2) + 0.1 * fnp.sum(params["w"] ** 2) + fnp.sum(params["b"]) * 0.5


# name -> (function, arguments, argnums)
COMPOSITES = {
    "unary_chain": (_unary_chain, (V5,), 0),
    "broadcast_binary": (_broadcast_binary, (COL, ROW), (0, 1)),
    "broadcast_with_0d": (lambda a, s: fnp.sum(fnp.tanh(a * s + s ** 2)),
                          (M34, np.array(0.7)), (0, 1)),
    "broadcast_against_a_constant": (_broadcast_against_a_constant, (ROW,), 0),
    "scalar_constants": (_scalar_constants, (POS5,), 0),
    "power_arrays": (_power_arrays, (POS5, V5), (0, 1)),
    "reductions": (_reductions, (M34,), 0),
    "logsumexp_softmax": (_logsumexp_softmax, (LOGITS,), 0),
    "nn_losses": (_nn_losses, (_rng.standard_normal((4, 3)),), 0),
    "matmul_dot_einsum": (_matmul_dot_einsum, (W32, X53), (0, 1)),
    "linear_algebra_with_constants": (_linear_algebra_with_constants,
                                      (_rng.standard_normal((2, 4)),), 0),
    "reshape_transpose_index": (_reshape_transpose_index, (T234,), 0),
    "shapes_without_indexing": (_shapes_without_indexing, (_rng.standard_normal((2, 3)),), 0),
    "concatenate": (_concatenate, (V5, ROW), (0, 1)),
    "misc_shape_ops": (_misc_shape_ops, (V5,), 0),
    "where_maximum": (_where_maximum, (V5, V5[::-1].copy()), (0, 1)),
    "integer_comparisons": (_integer_comparisons, (_rng.standard_normal(5),), 0),
    "stop_gradient": (_stop_gradient, (_rng.standard_normal(4),), 0),
    "scatter_updates": (_scatter_updates, (np.array([0.0, 1.0, 2.0, -0.5]),
                                           np.array([0.3, 0.4])), (0, 1)),
    "float32": (_float32, (_rng.standard_normal((2, 3)).astype(np.float32),), 0),
    "float32_mlp": (_float32_mlp, (W32.astype(np.float32), np.float32([0.1, -0.2]),
                                   X53.astype(np.float32)), (0, 1, 2)),
    "float32_mixed": (_float32_mixed, (V5.astype(np.float32), V5), (0, 1)),
    "nested_vmap_jit": (_nested_vmap_jit, (V5,), 0),
    "python_scalar_arg": (_python_scalar_arg, (0.3,), 0),
    "multiple_arguments": (_multiple_arguments, (_rng.standard_normal(3),
                                                 _rng.standard_normal(3), 1.5,
                                                 _rng.standard_normal(3)), (0, 3)),
    "pytree": (_pytree, ({"w": _rng.standard_normal((3, 2)), "b": _rng.standard_normal(2)},
                         X62), 0),
}
# no finite differences: `where`'s float predicate is discontinuous at x[0] == 0; finite
# differences see through stop_gradient (AD treats its value as a constant)
NO_FINITE_DIFFERENCES = {"scatter_updates", "stop_gradient"}


@pytest.mark.parametrize("name", sorted(COMPOSITES))
def test_every_call_agrees_with_the_first_with_jit_and_with_finite_differences(name):
    f, args, argnums = COMPOSITES[name]
    copies = fg.tree.map(np.copy, args)
    vg = fg.value_and_grad(f, argnums=argnums)
    ref = fg.jit(fg.value_and_grad(f, argnums=argnums))(*args)  # linearize + transpose whole
    program = _expects_program(fg.make_graph(f)(*args))
    diff = args[argnums] if isinstance(argnums, int) else tuple(args[i] for i in argnums)
    single = any(np.asarray(a).dtype == np.float32 for a in fg.tree.leaves(args))
    executor.reset()
    first, rules = None, []
    for call in range(1, CALLS + 1):
        value, g = vg(*args)
        rules.append(executor.stats()["rules"])
        if call <= 3:
            assert executor.stats()["programs"] == 0, f"call {call} compiled a program"
        assert type(value) is np.ndarray and value.shape == ()
        assert fg.tree.structure(g) == fg.tree.structure(diff)
        for gl, xl in zip(fg.tree.leaves(g), fg.tree.leaves(diff), strict=True):
            assert type(gl) is np.ndarray
            assert gl.shape == np.shape(xl) and gl.dtype == np.asarray(xl).dtype
            assert gl.flags.writeable
            assert not any(np.shares_memory(gl, a) for a in fg.tree.leaves(args)
                           if isinstance(a, np.ndarray))
        if first is None:
            first = (value, g)
        assert_tree_close((value, g), first, rtol=RTOL)
        assert_tree_close((value, g), ref, rtol=1e-6 if single else RTOL,
                          atol=1e-6 if single else 1e-12)
    # rules are compiled on the second sighting of a signature, then only reused
    assert rules[1] > 0 and all(n == rules[1] for n in rules[2:]), rules
    stats = executor.stats()
    assert stats["compile_failures"] == 0
    if program is not None:
        assert (stats["program_runs"] > 0) == program, (program, stats)
    for a, c in zip(fg.tree.leaves(args), fg.tree.leaves(copies), strict=True):
        np.testing.assert_array_equal(a, c)        # inputs never written
    if name in NO_FINITE_DIFFERENCES:
        return
    # the gradient of the warm (program) path against central differences of the function
    rng = np.random.default_rng(1)
    ts = fg.tree.map(lambda a: rng.standard_normal(np.shape(a)).astype(np.asarray(a).dtype),
                     diff)
    positions = [argnums] if isinstance(argnums, int) else list(argnums)

    def of_diff(*d):
        full = list(args)
        for i, v in zip(positions, d):
            full[i] = v
        return f(*full)

    dtype = np.dtype(np.float32) if single else np.dtype(np.float64)
    (fd,), (err,) = central_difference(of_diff, diff if isinstance(diff, tuple) else (diff,),
                                       ts if isinstance(ts, tuple) else (ts,), FD_EPS[dtype])
    scale = max(1.0, sum(float(np.sum(np.abs(a * t))) for a, t in
                         zip(fg.tree.leaves(g), fg.tree.leaves(ts))))
    close(np.float64(_inner(g, ts)), np.float64(fd), FD_TOL[dtype],
          f"{name}: <grad, t> vs central difference", slack=err, scale=scale)


# ================================================================ 3. results

def test_gradient_dtypes_follow_the_arguments():
    x32 = np.array([0.5, -1.0, 2.0], np.float32)
    w64 = np.array([1.0, 2.0, 3.0])
    for _ in range(CALLS):
        g = fg.grad(lambda x: fnp.sum(x * 2.0 + fnp.sin(x)))(x32)
        assert g.dtype == np.float32 and g.shape == (3,)
        np.testing.assert_allclose(g, 2.0 + np.cos(x32), rtol=1e-6)
        gx, gw = fg.grad(lambda x, w: fnp.sum((x * w) ** 2), argnums=(0, 1))(x32, w64)
        assert gx.dtype == np.float32 and gw.dtype == np.float64
        xw = x32.astype(np.float64) * w64
        np.testing.assert_allclose(gx, (2 * xw * w64).astype(np.float32), rtol=1e-6)
        np.testing.assert_allclose(gw, 2 * xw * x32.astype(np.float64), rtol=RTOL)
        # a float32 function returning a float64 scalar (promoted by a float64 constant)
        g = fg.grad(lambda x: fnp.sum(x * np.float64(3.0)))(x32)
        assert g.dtype == np.float32
        np.testing.assert_array_equal(g, np.full(3, 3.0, np.float32))
        g = fg.grad(lambda x: x * 3.0)(2.0)
        assert type(g) is np.ndarray and g.dtype == np.float64 and g.shape == () and g == 3.0
        g = fg.grad(lambda x: (x * 3.0).astype(np.float32))(np.float64(2.0))
        assert g.dtype == np.float64 and g == 3.0
        g16 = fg.grad(lambda x: fnp.sum(x.astype(np.float64) ** 2))(x32.astype(np.float16))
        assert g16.dtype == np.float16


def test_broadcast_arguments_get_summed_gradients():
    a, b, c = COL, ROW, np.array(0.5)
    expected = (np.full((3, 1), np.sum(b)) + 0.0 * a, np.full(4, np.sum(a)), np.array(12.0))
    for _ in range(CALLS):
        ga, gb, gc = fg.grad(lambda a, b, c: fnp.sum(a * b + c), argnums=(0, 1, 2))(a, b, c)
        assert (ga.shape, gb.shape, gc.shape) == ((3, 1), (4,), ())
        assert_tree_close((ga, gb, gc), expected)
        # broadcast through fnp.broadcast_to and a 0-d python scalar argument
        gs = fg.grad(lambda s: fnp.sum(fnp.broadcast_to(s, (2, 3)) * M34[:2, :3]))(1.5)
        assert gs.shape == () and gs.dtype == np.float64
        np.testing.assert_allclose(gs, np.sum(M34[:2, :3]), rtol=RTOL)


C6 = np.arange(6.0).reshape(2, 3)
OWNERSHIP_FUNCS = {   # derivatives that are views or the identity: an easy place to alias
    "sum": lambda x: fnp.sum(x),
    "reshape": lambda x: fnp.sum(x.reshape(3, 2) * 1.0),
    "transpose": lambda x: fnp.sum(x.T * np.arange(2.0)),
    "index": lambda x: x[1, 2],
    "slice": lambda x: fnp.sum(x[:, 1:]),
    "broadcast": lambda x: fnp.sum(fnp.broadcast_to(x, (4, 2, 3))),
    "stop_gradient": lambda x: fnp.sum(fg.stop_gradient(x) * 2.0),
    "mul_const": lambda x: fnp.sum(x * C6),
    "identity_of_sum": lambda x: fnp.sum(x) * 1.0,
    "where": lambda x: fnp.sum(fnp.where(x > 100.0, x, 0.0)),
    "astype": lambda x: fnp.sum(x.astype(np.float32)),
}


@pytest.mark.parametrize("name", sorted(OWNERSHIP_FUNCS))
def test_gradients_are_owned_writeable_arrays(name):
    f = OWNERSHIP_FUNCS[name]
    x = np.arange(6.0).reshape(2, 3) + 0.5
    x0, c0 = x.copy(), C6.copy()
    expected = fg.jit(fg.grad(f))(x)
    for _ in range(CALLS):
        g = fg.grad(f)(x)
        assert type(g) is np.ndarray and g.shape == x.shape and g.dtype == x.dtype
        assert g.flags.writeable
        assert g.base is None or g.flags.owndata
        assert not np.shares_memory(g, x) and not np.shares_memory(g, C6)
        np.testing.assert_allclose(g, expected, rtol=RTOL)
        g[...] = 1234.5                     # must not leak into the next call
        np.testing.assert_array_equal(x, x0)
        np.testing.assert_array_equal(C6, c0)


@pytest.mark.parametrize("f, args", [
    (lambda x, y: x + y, (1.0, 2.0)),
    (lambda x, y: fnp.sum(fnp.sin(x + y)), (V5, V5 * 2.0)),
    (lambda x, y: fnp.sum(x + y), (V5, V5 * 2.0)),
    (lambda x, y: fnp.sum(fnp.sin(x - y) + x), (V5, V5 * 2.0)),
], ids=["scalar_add", "sin_of_add", "sum_of_add", "sin_of_sub"])
def test_gradients_of_different_arguments_are_distinct_arrays(f, args):
    """Each returned gradient is its own array: writing into one (an optimiser updating in
    place) changes no other gradient of the same call."""
    for _ in range(CALLS):
        gx, gy = fg.grad(f, argnums=(0, 1))(*args)
        expected_gy = gy.copy()
        assert not np.shares_memory(gx, gy)
        gx[...] = -99.0
        np.testing.assert_array_equal(gy, expected_gy)


def test_inputs_are_never_mutated():
    x = np.array([1.0, 2.0, 3.0])
    params = {"w": np.array([[1.0, 2.0]]), "b": [np.array(0.5)]}
    copies = fg.tree.map(np.copy, (x, params))

    def f(x, params):
        y = x.at[0].set(10.0).at[1].add(5.0)
        return fnp.sum(fnp.tanh(y) * params["w"][0, 0]) + params["b"][0] * fnp.sum(x * x)

    for _ in range(CALLS):
        fg.grad(f, argnums=(0, 1))(x, params)
        fg.value_and_grad(f)(x, params)
        fg.vjp(f, x, params)[1](np.array(1.0))
        fg.jacrev(lambda x: fnp.sin(x) * x)(x)
    assert_tree_close((x, params), copies, rtol=0)


def test_signatures_are_kept_apart():
    """Interleaved shapes and dtypes of one function: each signature gets its own rules, and
    its own program."""
    f = lambda x: fnp.sum(fnp.sin(x) * x + x ** 2)
    df = lambda x: np.cos(x) * x + np.sin(x) + 2 * x
    xs = [np.array([0.5, 1.0]), np.array([0.5, 1.0, -2.0]), np.array(0.25),
          np.array([0.5, 1.0], np.float32), np.array([[0.5], [1.5]])]
    for _ in range(CALLS):
        for x in xs:
            g = fg.grad(f)(x)
            assert g.shape == x.shape and g.dtype == x.dtype
            rtol = 1e-6 if x.dtype == np.float32 else RTOL
            np.testing.assert_allclose(g, df(x.astype(np.float64)), rtol=rtol)
    assert executor.stats()["programs"] == len(xs)


# ---------------------------------------------------------------- vjp functions

def _vjp_fun(x, y):
    return fnp.sin(x) * y + fnp.flip(x) ** 2, fnp.sum(fnp.exp(x) * y)


_VX = np.array([0.3, -1.2, 2.0])
_VY = np.array([1.5, 0.5, -0.7])
_CT = (np.array([1.0, -2.0, 0.5]), np.array(0.25))


def _vjp_expected(ct):
    c0, c1 = np.asarray(ct[0], np.float64), np.float64(ct[1])
    gx = np.cos(_VX) * _VY * c0 + (2 * _VX[::-1] * c0)[::-1] + np.exp(_VX) * _VY * c1
    gy = np.sin(_VX) * c0 + np.exp(_VX) * c1
    return gx, gy


def test_vjp_fn_of_every_call_is_reusable_owned_and_runs_under_jit_and_vmap():
    """On calls 1-6 (tape, rules, program), vjp_fn may be called again with the same or other
    cotangents; what it returns is owned (no memory shared with the cotangent, the inputs, the
    outputs or another result: writing into it changes nothing else); under jit and vmap its
    backward pass binds primitives instead, and agrees with it."""
    other = (np.array([2.0, 0.0, -1.0]), np.array(3.0))
    for _ in range(CALLS):
        out, vjp_fn = fg.vjp(_vjp_fun, _VX, _VY)
        assert_tree_close(out, _vjp_fun(_VX, _VY))
        first = vjp_fn(_CT)
        kept = fg.tree.map(np.copy, first)
        assert_tree_close(first, _vjp_expected(_CT))
        second = vjp_fn(_CT)
        assert_tree_close(second, first, rtol=0)
        assert_tree_close(vjp_fn(other), _vjp_expected(other))
        for g in first:
            assert g.flags.writeable
            for a in (*_CT, _VX, _VY, *out, *second):
                assert not np.shares_memory(g, a)
        first[0][...] = 99.0
        assert_tree_close(vjp_fn(_CT), kept, rtol=0)     # not overwritten, not affected
        jitted = fg.jit(vjp_fn)
        assert_tree_close(jitted(_CT), kept)
        assert_tree_close(jitted(other), vjp_fn(other))
        batch = (np.stack([_CT[0], other[0], _CT[0] * 3.0, np.zeros(3)]),
                 np.array([_CT[1], other[1], 1.0, 0.0]))
        rows = [vjp_fn((batch[0][i], batch[1][i])) for i in range(4)]
        assert_tree_close(fg.vmap(vjp_fn)(batch),
                          tuple(np.stack([r[k] for r in rows]) for k in range(2)))
        assert_tree_close(vjp_fn(_CT), kept, rtol=0)     # eager again after the traced calls
    assert executor.stats()["program_runs"] > 0


@pytest.mark.parametrize("f", [
    lambda x: fnp.sin(x) * x[0] + fnp.cumsum(x) ** 2,      # indexing: stays on the tape
    lambda x: fnp.sin(x) * x + fnp.cumsum(x) ** 2,         # becomes a program
], ids=["tape", "program"])
def test_vjp_fn_is_differentiable_in_the_cotangent(f):
    """The backward pass under an enclosing grad (the rules' or the program's graphs bound
    under it): vjp_fn is linear in the cotangent, so d/dct <vjp_fn(ct), t> = J t."""
    x = np.array([0.3, -1.2, 2.0])
    t = np.array([1.0, 0.5, -2.0])
    for _ in range(CALLS):
        _, vjp_fn = fg.vjp(f, x)
        g = fg.grad(lambda ct, vjp_fn=vjp_fn: fnp.sum(vjp_fn(ct)[0] * t))(np.ones(3))
        np.testing.assert_allclose(g, fg.jvp(f, (x,), (t,))[1], rtol=RTOL)


def test_vjp_cotangent_dtypes_are_cast():
    x = np.array([0.3, -1.2, 2.0])
    f = lambda x: fnp.sin(x) * 2.0
    for _ in range(CALLS):
        _, vjp_fn = fg.vjp(f, x)
        (g_int,) = vjp_fn(np.array([1, 2, 3]))
        assert g_int.dtype == np.float64
        np.testing.assert_allclose(g_int, 2.0 * np.cos(x) * [1, 2, 3], rtol=RTOL)
        ct32 = np.array([1.5, -0.25, 3.0], np.float32)
        (g32,) = vjp_fn(ct32)
        assert g32.dtype == np.float64
        np.testing.assert_allclose(g32, 2.0 * np.cos(x) * ct32.astype(np.float64), rtol=RTOL)
        # float32 primal, float64 and integer cotangents: the result stays float32
        x32 = x.astype(np.float32)
        _, vjp32 = fg.vjp(f, x32)
        (h,) = vjp32(np.array([1.0, 2.0, 3.0]))
        assert h.dtype == np.float32
        np.testing.assert_allclose(h, 2.0 * np.cos(x32) * np.float32([1, 2, 3]), rtol=1e-6)
        (h,) = vjp32(np.array([1, 2, 3]))
        assert h.dtype == np.float32
        # scalar output, Python number cotangent
        _, vjp_s = fg.vjp(lambda x: fnp.sum(x ** 2), x)
        (gs,) = vjp_s(2)
        np.testing.assert_allclose(gs, 4.0 * x, rtol=RTOL)


@pytest.mark.parametrize("f", [
    lambda x: x, lambda x: x + 1.0, lambda x: x.reshape(3, 1), lambda x: x * 1.0,
    lambda x: fnp.sin(x) + 0.0 * x,
], ids=["identity", "add_constant", "reshape", "times_one", "sin_plus_zero"])
def test_vjp_result_does_not_alias_the_cotangent(f):
    """vjp_fn hands back arrays the caller owns, never the cotangent it was given (or a
    view of it), even where the derivative is the identity."""
    x = np.array([1.0, 2.0, 3.0])
    for _ in range(CALLS):
        out, vjp_fn = fg.vjp(f, x)
        ct = np.ones(out.shape)
        (g,) = vjp_fn(ct)
        assert not np.shares_memory(g, ct)
        g[...] = 5.0
        np.testing.assert_array_equal(ct, np.ones(out.shape))
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])


def test_vjp_of_a_program_with_two_inputs_gives_distinct_owned_cotangents():
    """x + y: both cotangents equal the caller's; each is a fresh array of its own."""
    def f(x, y):
        return x + y * 1.0

    x, y = np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.25, -1.0])
    for _ in range(CALLS):
        out, f_vjp = fg.vjp(f, x, y)
    assert executor.stats()["program_runs"] > 0
    np.testing.assert_allclose(out, x + y, rtol=RTOL)
    ct = np.array([1.0, -2.0, 3.0])
    gx, gy = f_vjp(ct)
    np.testing.assert_array_equal(gx, ct)
    np.testing.assert_array_equal(gy, ct)
    assert not np.shares_memory(gx, ct) and not np.shares_memory(gy, ct)
    assert not np.shares_memory(gx, gy)
    assert gx.flags.writeable and gy.flags.writeable
    gx[...] = 7.0
    np.testing.assert_array_equal(gy, ct)
    np.testing.assert_array_equal(ct, [1.0, -2.0, 3.0])


def test_vjp_of_a_program_with_pytree_outputs_and_a_zero_cotangent():
    def f(x):
        return {"a": fnp.sin(x), "b": fnp.sum(x * x)}

    x = np.array([0.2, 0.4])
    for _ in range(CALLS):
        out, f_vjp = fg.vjp(f, x)
    np.testing.assert_allclose(out["a"], np.sin(x), rtol=RTOL)
    np.testing.assert_allclose(out["b"], np.sum(x * x), rtol=RTOL)
    (g,) = f_vjp({"a": np.array([1.0, 2.0]), "b": np.array(0.0)})
    np.testing.assert_allclose(g, np.cos(x) * [1.0, 2.0], rtol=RTOL)
    (g,) = f_vjp({"a": np.zeros(2), "b": np.array(3.0)})
    np.testing.assert_allclose(g, 6.0 * x, rtol=RTOL)


def test_vjp_with_an_integer_argument():
    def f(x, n):
        return fnp.sin(x) * n

    x, n = np.array([0.1, 0.5]), np.array([2, 3])
    results = []
    for _ in range(CALLS):
        out, f_vjp = fg.vjp(f, x, n)
        results.append((out, f_vjp(np.ones(2))))
    for out, (gx, gn) in results:
        np.testing.assert_allclose(out, np.sin(x) * n, rtol=RTOL)
        np.testing.assert_allclose(gx, np.cos(x) * n, rtol=RTOL)
        first_gn = results[0][1][1]
        assert np.shape(gn) == np.shape(first_gn) and np.asarray(gn).dtype == \
            np.asarray(first_gn).dtype
        assert not np.asarray(gn, dtype=np.float64).any()


def test_vjp_of_a_large_program_twice_with_buffer_reuse():
    """Arrays above the code generator's reuse threshold: the program writes into dead
    buffers (out=); a later vjp_fn call must not overwrite an earlier result."""
    x = np.linspace(-1.0, 1.0, 1000)

    def f(x):
        return fnp.tanh(fnp.exp(fnp.sin(x) * 0.5) * x) * x

    def analytic_vjp(ct):
        e = np.exp(np.sin(x) * 0.5)
        u = e * x
        du = e * 0.5 * np.cos(x) * x + e
        return ct * ((1 - np.tanh(u) ** 2) * du * x + np.tanh(u))

    for _ in range(CALLS):
        out, f_vjp = fg.vjp(f, x)
    assert executor.stats()["program_runs"] > 0
    ct1, ct2 = np.cos(x), np.sin(3 * x)
    (a,) = f_vjp(ct1)
    kept = a.copy()
    (b,) = f_vjp(ct2)
    (c,) = f_vjp(ct1)
    np.testing.assert_allclose(kept, analytic_vjp(ct1), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(b, analytic_vjp(ct2), rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(a, kept)
    np.testing.assert_array_equal(c, kept)
    assert not np.shares_memory(a, b) and not np.shares_memory(a, c)
    assert not np.shares_memory(a, out)


def test_vjp_of_a_program_with_repeated_and_boolean_outputs():
    """One output returned twice: its cotangents accumulate; a boolean output gets none."""
    x = np.array([0.3, -1.2, 2.0])

    def f(x):
        y = fnp.sin(x)
        return y, y, x, x > 0

    for _ in range(CALLS):
        out, f_vjp = fg.vjp(f, x)
        np.testing.assert_array_equal(out[3], x > 0)
        ct = (np.ones(3), np.full(3, 2.0), np.full(3, 0.5), np.zeros(3, bool))
        (g,) = f_vjp(ct)
        np.testing.assert_allclose(g, 3.0 * np.cos(x) + 0.5, rtol=RTOL)
        assert not np.shares_memory(g, ct[2])
    assert executor.stats()["program_runs"] > 0


def test_large_arrays_with_buffer_reuse():
    """Arrays above the code generator's reuse threshold: the program writes into dead buffers
    (out=); the results must still be right and the inputs untouched."""
    x = np.linspace(-2.0, 2.0, 600)
    c = np.linspace(0.5, 1.5, 600)
    x0 = x.copy()

    def f(x):
        a = fnp.sin(x) * c
        b = fnp.exp(a) + x * x
        return fnp.sum(fnp.tanh(b) * a)

    def analytic(x):
        a = np.sin(x) * c
        b = np.exp(a) + x * x
        da = np.cos(x) * c
        db = np.exp(a) * da + 2 * x
        return (1 - np.tanh(b) ** 2) * db * a + np.tanh(b) * da

    vg = fg.value_and_grad(f)
    for _ in range(CALLS):
        value, g = vg(x)
        np.testing.assert_allclose(g, analytic(x), rtol=1e-12, atol=1e-14)
    assert executor.stats()["program_runs"] > 0
    np.testing.assert_array_equal(x, x0)


# ---------------------------------------------------------------- jacrev

def _jac_concat(x):                     # indexing: stays on the tape
    return fnp.concatenate([fnp.sin(x) * x[0], fnp.cumsum(x * x), fnp.sum(x)[None]])


def _jac_program(x):                    # becomes a program
    return fnp.tanh(M43.T @ x) * fnp.sum(x * x)


def _jac_two_arguments(w, b):
    return fnp.tanh(X53 @ w + b)


@pytest.mark.parametrize("f, args", [
    (_jac_concat, (np.array([0.3, -1.2, 2.0, 0.7]),)),
    (_jac_program, (np.array([0.3, -1.2, 2.0, 0.7]),)),
    (_jac_two_arguments, (W32, np.array([0.1, -0.3]))),
], ids=["tape", "program", "two_arguments"])
def test_jacrev_equals_jacfwd(f, args):
    argnums = tuple(range(len(args)))
    expected = fg.jacfwd(f, argnums=argnums)(*args)
    for _ in range(CALLS):
        assert_tree_close(fg.jacrev(f, argnums=argnums)(*args), expected, atol=1e-14)


# ================================================================ 4. new values on every call
#
# A program is keyed by the call's structure (rules, wiring), never by values: inputs and the
# constants a call reads (closed-over arrays, Python and NumPy scalars) are passed in on every
# call, so a program compiled for one call computes every later call with its own values.

def _constants_fun(c, k, arr):
    def f(x):
        return fnp.sum(x * c + x ** k + fnp.clip(x, -abs(c), abs(c)) * arr + arr / (x * x + c))
    return f


def test_python_scalar_constants_are_inputs_of_rules_and_programs():
    """Rules are keyed by a constant's type, not its value: a rule (and a program) compiled
    for x * 2.0 must compute x * 3.0 correctly (and x ** 2 vs x ** 3, clip bounds, constant
    arrays); each closure is a new function with the same structure."""
    x = np.array([0.5, 1.25, -2.5])
    for c in [2.0, 3.0, -1.5, 2.0, 0.0, 7.0]:
        for k in [2, 3, 1, 2, 5]:
            arr = np.array([c, 1.0, -c])
            f = _constants_fun(c, k, arr)
            expected = c + k * x ** (k - 1) + (np.abs(x) < abs(c)) * arr \
                - 2 * x * arr / (x * x + c) ** 2
            for _ in range(2):
                np.testing.assert_allclose(fg.grad(f)(x), expected, rtol=RTOL)
    assert executor.stats()["program_runs"] > 0


def test_programs_see_new_inputs_and_mutated_constants():
    c = np.array([1.0, 2.0, 3.0])

    def f(x, s):
        return fnp.sum(fnp.sin(x) * c * s + fnp.exp(x * s) + x * c[0])

    g = fg.grad(f)
    for k in range(10):
        x = np.array([0.1, -0.4, 0.7]) * (1 + k / 10)
        c[:] = [1.0 + k, 2.0 - k, 0.5 * k]     # a closed-over array changed in place
        s = 0.25 + 0.2 * k                      # a different Python float each call
        want = np.cos(x) * c * s + s * np.exp(x * s) + c[0]
        np.testing.assert_allclose(g(x, s), want, rtol=RTOL)
    assert executor.stats()["program_runs"] >= 4


def test_programs_see_new_python_and_numpy_scalar_constants():
    """Python floats, ints and NumPy scalars read from a closure are constants of the program,
    passed in on every call (never baked in)."""
    box = {"a": 1.0, "n": 2, "b": np.float64(0.5)}

    def f(x):
        return fnp.sum(x * box["a"] + (x + box["n"]) ** 2 * box["b"] + fnp.sin(x * box["n"]))

    g = fg.grad(f)
    x = np.array([0.3, -0.2, 1.1])
    for k in range(12):
        box["a"], box["n"], box["b"] = 0.5 * k - 1.0, k % 4, np.float64(k / 3.0)
        a, n, b = box["a"], box["n"], box["b"]
        want = a + 2 * (x + n) * b + n * np.cos(x * n)
        np.testing.assert_allclose(g(x), want, rtol=RTOL, atol=1e-14)
    assert executor.stats()["program_runs"] >= 4


def test_new_values_of_a_non_differentiated_array_argument():
    def f(x, y):
        return fnp.sum(fnp.tanh(x * y) + x @ fnp.reshape(y, (3, 1)))

    g = fg.grad(f)
    for k in range(10):
        x = np.array([0.2, -0.1, 0.4]) + 0.1 * k
        y = np.array([1.0, -2.0, 0.5]) * (1 + k % 3)
        want = (1 - np.tanh(x * y) ** 2) * y + 3 * y      # the (1,) product broadcasts to (3,)
        np.testing.assert_allclose(g(x, y), want, rtol=RTOL)
    assert executor.stats()["program_runs"] > 0


def test_new_keyword_values_and_one_array_passed_as_two_arguments():
    def f(a, b, scale=1.0):
        return fnp.sum(fnp.sin(a) * b * scale)

    x = np.array([0.3, -0.7])
    for k in range(10):
        ga, gb = fg.grad(f, argnums=(0, 1))(x, x, scale=float(k))
        np.testing.assert_allclose(ga, np.cos(x) * x * k, rtol=RTOL)
        np.testing.assert_allclose(gb, np.sin(x) * k, rtol=RTOL)
        assert not np.shares_memory(ga, gb)
    assert executor.stats()["program_runs"] > 0


def test_constant_output_that_changes_between_calls():
    box = {"v": 0.0}
    vg = fg.value_and_grad(lambda x: box["v"] + fnp.sum(fg.stop_gradient(x)))
    for k in range(10):
        box["v"] = float(k)
        value, g = vg(np.ones(2))
        np.testing.assert_allclose(value, k + 2.0, rtol=RTOL)
        assert g.shape == (2,) and not g.any()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_outputs_without_derivative_give_zero_gradients(dtype):
    c = np.array([1.0, 2.0, 3.0], dtype)
    funcs = {
        "stop_gradient": lambda x: fnp.sum(fg.stop_gradient(x) * 3.0),
        "times_zero": lambda x: fnp.sum(c) + 0 * fnp.sum(x),
        "constant_only": lambda x: fnp.sum(c * 2.0),
        "stop_gradient_chain": lambda x: fnp.sum(fnp.exp(fg.stop_gradient(fnp.sin(x)))),
        "comparison": lambda x: fnp.sum(fnp.astype(x > 0.0, dtype)),
        "floor": lambda x: fnp.sum(fnp.floor(x * 2.5)),
        "python_float": lambda x: 1.5,
    }
    x = np.ones((2, 3), dtype)
    for name, f in funcs.items():
        vg = fg.value_and_grad(f)
        values = []
        for _ in range(CALLS):
            value, g = vg(x)
            assert type(g) is np.ndarray, name
            assert g.shape == (2, 3) and g.dtype == dtype, (name, g.shape, g.dtype)
            assert not g.any(), name
            assert g.flags.writeable
            values.append(value)
        for v in values:
            np.testing.assert_allclose(v, values[0], rtol=RTOL)
            np.testing.assert_allclose(v, fg.jit(f)(x), rtol=1e-6)


def test_zero_gradient_for_one_argument_of_two():
    def f(x, y):
        return fnp.sum(fnp.sin(x)) + fnp.sum(fg.stop_gradient(y) * 2.0)

    x, y = np.array([0.1, 0.2]), np.array([1.0, 2.0, 3.0])
    for _ in range(CALLS):
        gx, gy = fg.grad(f, argnums=(0, 1))(x, y)
        np.testing.assert_allclose(gx, np.cos(x), rtol=RTOL)
        assert gy.shape == (3,) and gy.dtype == np.float64 and not gy.any()


def test_a_constant_array_mutated_later_in_the_same_call():
    """NumPy code refilling a scratch buffer that a differentiated operation already read: the
    tape keeps a reference (for the backward pass, or to run a recorded call later), so the
    buffer is read-only until the call ends and the write raises, on every call, instead of
    silently changing the result. Writing into a fresh array works."""
    targets = [np.array([1.0, 0.0]), np.array([0.0, 2.0]), np.array([-1.0, 1.0])]
    buf = np.empty(2)

    def f(x):
        total = 0.0
        for t in targets:
            buf[:] = t                      # the scratch buffer is refilled for each target
            total = total + fnp.sum((x - buf) ** 2)
        return total

    x = np.array([0.5, -0.5])
    want_value = sum(np.sum((x - t) ** 2) for t in targets)
    want_grad = sum(2 * (x - t) for t in targets)
    np.testing.assert_allclose(f(x), want_value, rtol=RTOL)      # plain evaluation
    vg = fg.value_and_grad(f)
    for call in range(1, CALLS + 1):
        with pytest.raises(ValueError, match="read-only"):
            vg(x)
        assert buf.flags.writeable, f"call {call}: the buffer must be writeable again"

    def g(x):
        total = 0.0
        for t in targets:
            scratch = np.empty(2)
            scratch[:] = t
            total = total + fnp.sum((x - scratch) ** 2)
        return total

    vg = fg.value_and_grad(g)
    for call in range(1, CALLS + 1):
        value, grad = vg(x)
        np.testing.assert_allclose(value, want_value, rtol=RTOL, err_msg=f"call {call}")
        np.testing.assert_allclose(grad, want_grad, rtol=RTOL, err_msg=f"call {call}")


def test_large_constants_are_read_only_while_a_lazy_call_records_them():
    """A constant large enough not to be copied is protected instead: writing to it while the
    call that reads it is being recorded raises; it is writeable again when each call ends."""
    big = np.linspace(0.0, 1.0, 10_000)
    mutate = {"on": False}

    def f(x):
        y = fnp.sum(x * big)
        if mutate["on"]:
            big[0] = 5.0                        # would change what was recorded
        return y

    g = fg.grad(f)
    x = np.ones(10_000)
    for _ in range(CALLS):
        np.testing.assert_allclose(g(x), big, rtol=RTOL)
    assert big.flags.writeable                  # released when each call ends
    mutate["on"] = True
    with pytest.raises(ValueError, match="read-only"):
        g(x)
    assert big.flags.writeable and big[0] == 0.0


# ================================================================ 5. program identity
#
# A program is only ever compiled from a call whose whole computation was recorded. Python
# control flow on a value materialises the call (it never becomes a program); structure
# chosen by Python values that are not traced (a static int, a flag, an argument) gives a
# different recording, hence a different program.

def test_python_if_on_a_stopped_value_alternating_sign():
    def f(x):
        y = fnp.sin(x) * 2.0
        if float(fg.stop_gradient(fnp.sum(x))) > 0:
            return fnp.sum(y * x)
        return fnp.sum(fnp.exp(x) + y)

    g = fg.grad(f)
    for k in range(14):
        x = np.array([0.3, 0.2, -0.1]) * (1 if k % 2 else -1) * (1 + k / 10)
        if x.sum() > 0:
            want = 2 * np.cos(x) * x + 2 * np.sin(x)
        else:
            want = np.exp(x) + 2 * np.cos(x)
        np.testing.assert_allclose(g(x), want, rtol=RTOL)
    assert executor.stats()["program_runs"] == 0


def test_python_if_on_bool_of_a_traced_comparison_alternating_sign():
    def f(x):
        s = fnp.sum(x * 1.5)
        if s > 0:                               # bool() of a traced value
            return s * fnp.sum(x * x)
        return fnp.sum(fnp.cos(x)) - s

    vg = fg.value_and_grad(f)
    for k in range(14):
        x = np.array([0.4, -0.1]) * (-1) ** (k // 2 + k)     # irregular sign pattern
        s = 1.5 * x.sum()
        if s > 0:
            want_v, want_g = s * np.sum(x * x), 1.5 * np.sum(x * x) + s * 2 * x
        else:
            want_v, want_g = np.sum(np.cos(x)) - s, -np.sin(x) - 1.5
        v, gr = vg(x)
        np.testing.assert_allclose(v, want_v, rtol=RTOL)
        np.testing.assert_allclose(gr, want_g, rtol=RTOL)
    assert executor.stats()["program_runs"] == 0


def test_bool_of_all_of_a_traced_comparison_falls_back():
    def f(x):
        y = fnp.exp(x)
        return fnp.sum(y * 2.0) if (y > 1.0).all() else fnp.sum(y)

    g = fg.grad(f)
    for k in range(2 * CALLS):
        x = np.array([0.5, 0.25]) * (1 if k % 2 else -1)
        np.testing.assert_allclose(g(x), np.exp(x) * (2.0 if (np.exp(x) > 1).all() else 1.0),
                                   rtol=RTOL)
    assert executor.stats()["program_runs"] == 0


def test_control_flow_on_item_and_formatting_of_a_value():
    def f(x):
        y = fnp.exp(x)
        label = f"{fnp.sum(y)}"                # formatting needs a value
        scale = 3.0 if fg.stop_gradient(fnp.max(y)).item() > 2.0 else 1.0
        return fnp.sum(y * scale) + 0.0 * len(label)

    g = fg.grad(f)
    for k in range(12):
        x = np.array([0.1, 0.9]) * (2.0 if k % 3 == 0 else 0.5)
        scale = 3.0 if np.exp(x).max() > 2.0 else 1.0
        np.testing.assert_allclose(g(x), np.exp(x) * scale, rtol=RTOL)


def test_python_branch_on_a_non_differentiated_argument_gives_separate_programs():
    def f(x, mode):
        if mode == "square":
            return fnp.sum(x * x)
        return fnp.sum(fnp.sin(x))

    g = fg.grad(f)
    x = np.array([0.5, -1.0])
    for k in range(16):
        mode = "square" if (k // 3) % 2 else "sin"
        want = 2 * x if mode == "square" else np.cos(x)
        np.testing.assert_allclose(g(x, mode), want, rtol=RTOL)
    assert executor.stats()["programs"] >= 2


def _loop_of(n):
    def f(x):
        for i in range(n):
            x = fnp.sin(x) * (1.0 + 0.1 * i)
        return fnp.sum(x)
    return f


def _loop_grad(n, x):
    g = np.ones_like(x)
    for i in range(n):
        g = g * np.cos(x) * (1.0 + 0.1 * i)
        x = np.sin(x) * (1.0 + 0.1 * i)
    return g


def test_static_iteration_counts_each_get_a_correct_program():
    x = np.array([0.2, 0.9, -0.4])
    ns = [1, 2, 3, 5]
    grads = {n: fg.grad(_loop_of(n)) for n in ns}
    for n in ns:                                # warm each variant
        for _ in range(CALLS):
            np.testing.assert_allclose(grads[n](x), _loop_grad(n, x), rtol=RTOL)
    assert executor.stats()["programs"] >= len(ns)
    for k in range(3 * len(ns)):                # then interleaved
        n = ns[(k * 3) % len(ns)]
        np.testing.assert_allclose(grads[n](x), _loop_grad(n, x), rtol=RTOL)


def test_one_function_whose_loop_count_changes_between_calls():
    box = {"n": 2}

    def f(x):
        for _ in range(box["n"]):
            x = fnp.tanh(x) * 1.5
        return fnp.sum(x)

    g = fg.grad(f)
    x = np.array([0.3, -0.6])

    def want(n):
        gr, v = np.ones_like(x), x
        for _ in range(n):
            gr, v = gr * (1 - np.tanh(v) ** 2) * 1.5, np.tanh(v) * 1.5
        return gr

    for n in [2] * CALLS + [3] * CALLS + [2, 3, 2, 3, 1, 1, 1, 1, 1, 1, 2]:
        box["n"] = n
        np.testing.assert_allclose(g(x), want(n), rtol=RTOL)


def test_same_operations_wired_differently_are_different_programs():
    flag = {"other": True}

    def f(x):
        y, z = fnp.sin(x), fnp.cos(x)
        w = z if flag["other"] else y
        return fnp.sum(y * w + x * 2.0)

    g = fg.grad(f)
    x = np.array([0.3, 1.1])
    for _ in range(CALLS):
        np.testing.assert_allclose(g(x), np.cos(2 * x) + 2.0, rtol=RTOL)   # sin x cos x
    flag["other"] = False
    for _ in range(CALLS):
        np.testing.assert_allclose(g(x), 2 * np.sin(x) * np.cos(x) + 2.0, rtol=RTOL)  # sin^2
    assert executor.stats()["programs"] == 2


def test_long_calls_stay_on_the_tape(monkeypatch):
    """A call longer than MAX_PROGRAM_LENGTH applications is never compiled whole (compiling
    it would stall the call); it runs on the tape with per-primitive rules."""
    # The one private knob this module turns: no public way sets the length limit, and a call
    # over the real limit (4096 applications) would make this test slow.
    monkeypatch.setattr(programs, "MAX_PROGRAM_LENGTH", 10)

    def f(x):
        for _ in range(20):
            x = fnp.sin(x)
        return fnp.sum(x)

    g = fg.grad(f)
    x = np.array([0.3])
    for _ in range(CALLS):
        got = g(x)
    stats = executor.stats()
    assert stats["programs"] == 0 and stats["program_runs"] == 0 and stats["rules"] > 0
    assert_tree_close(got, fg.jit(fg.grad(f))(x))


# ================================================================ 6. what needs values
#
# These materialise the call that meets them (it goes on on the tape, never as a program; a
# checkpoint's recomputation in the backward pass is an eager call of its own, which may be)
# and must give their own semantics on every call.

def test_has_aux_values_are_plain_arrays_on_every_call():
    def f(x, c):
        y = fnp.sin(x) * c
        loss = fnp.sum(y ** 2)
        return loss, {"loss": loss, "y": y, "mean": fnp.mean(x), "x": x, "arg": fnp.argmax(y),
                      "norm": fnp.sqrt(fnp.sum(x ** 2)), "count": 3, "note": "ok"}

    def g(x):                                   # a vector output with aux, for vjp
        y = fnp.exp(x)
        return y * 2.0, fnp.sum(y)

    vg = fg.value_and_grad(f, has_aux=True)
    for k in range(CALLS):
        x = np.array([0.5, -1.0, 2.0]) + 0.1 * k
        c = 1.0 + k
        (value, aux), gr = vg(x, c)
        g2, aux2 = fg.grad(f, has_aux=True)(x, c)
        _, vjp_fn, aux3 = fg.vjp(lambda x, c=c: f(x, c), x, has_aux=True)
        y = np.sin(x) * c
        want = 2 * y * np.cos(x) * c
        np.testing.assert_allclose(value, np.sum(y ** 2), rtol=RTOL)
        for got in (gr, g2, vjp_fn(np.array(1.0))[0]):
            np.testing.assert_allclose(got, want, rtol=RTOL)
        for a in (aux, aux2, aux3):
            for leaf in fg.tree.leaves(a):
                assert not isinstance(leaf, Tracer), type(leaf)
            for key in ("loss", "y", "mean", "x", "arg", "norm"):
                assert isinstance(a[key], np.ndarray | np.generic), (key, type(a[key]))
            np.testing.assert_allclose(a["loss"], np.sum(y ** 2), rtol=RTOL)
            np.testing.assert_allclose(a["y"], y, rtol=RTOL)
            np.testing.assert_allclose(a["mean"], np.mean(x), rtol=RTOL)
            np.testing.assert_array_equal(a["x"], x)
            assert a["arg"] == np.argmax(y)
            np.testing.assert_allclose(a["norm"], np.sqrt(np.sum(x ** 2)), rtol=RTOL)
            assert a["count"] == 3 and a["note"] == "ok"
        out, g_vjp, total = fg.vjp(g, x, has_aux=True)
        assert not isinstance(total, Tracer)
        np.testing.assert_allclose(total, np.sum(np.exp(x)), rtol=RTOL)
        np.testing.assert_allclose(out, 2 * np.exp(x), rtol=RTOL)
        np.testing.assert_allclose(g_vjp(np.ones(3))[0], 2 * np.exp(x), rtol=RTOL)
    assert executor.stats()["program_runs"] == 0


def _clip_gradient(calls=None):
    """The identity, with a rule that clips the cotangent to [-1, 1]."""
    @fg.custom_vjp
    def clip_gradient(x):
        return x

    def fwd(x):
        if calls is not None:
            calls["fwd"] += 1
        return x, None

    def bwd(_, ct):
        if calls is not None:
            calls["bwd"] += 1
        return (fnp.clip(ct, -1.0, 1.0),)

    clip_gradient.defvjp(fwd, bwd)
    return clip_gradient


def test_custom_vjp_rule_is_used_on_every_call():
    calls = {"fwd": 0, "bwd": 0}
    clip = _clip_gradient(calls)

    def f(x):
        return fnp.sum(clip(fnp.sin(x) * 2.0) * 5.0) + fnp.sum(x * x)

    vg = fg.value_and_grad(f)
    for k in range(CALLS):
        x = np.array([1.0, 2.0, -0.5]) * (1 + 0.1 * k)
        value, g = vg(x)
        np.testing.assert_allclose(value, np.sum(np.sin(x) * 10.0) + np.sum(x * x), rtol=RTOL)
        # true derivative would be 10 cos(x) + 2x; the rule clips the cotangent 5 to 1
        np.testing.assert_allclose(g, 2 * np.cos(x) + 2 * x, rtol=RTOL)
        assert calls["fwd"] == k + 1 and calls["bwd"] == k + 1
    assert executor.stats()["program_runs"] == 0
    clip = _clip_gradient()
    for _ in range(CALLS):
        assert fg.grad(lambda x: 5.0 * clip(x))(2.0) == 1.0
        assert fg.grad(lambda x: 0.5 * clip(x))(2.0) == 0.5
        _, vjp_fn = fg.vjp(clip, np.array([0.1, 2.0, -3.0]))
        np.testing.assert_array_equal(vjp_fn(np.array([0.5, -7.0, 4.0]))[0], [0.5, -1.0, 1.0])


def test_custom_vjp_bwd_results_are_cast_and_summed():
    @fg.custom_vjp
    def scale(s, x):
        return s * x

    # bwd gives float32 cotangents, and one of x's (broadcast) shape for the scalar s
    scale.defvjp(lambda s, x: (s * x, (s, x)),
                 lambda res, g: ((g * res[1]).astype(np.float32),
                                 (g * res[0]).astype(np.float32)))
    s, x = np.array(1.5), np.array([0.5, -1.0, 2.0])
    w = np.arange(1.0, 4.0)
    for _ in range(CALLS):
        gs, gx = fg.grad(lambda s, x: fnp.sum(scale(s, x) * w), argnums=(0, 1))(s, x)
        assert gs.shape == () and gs.dtype == np.float64
        assert gx.shape == (3,) and gx.dtype == np.float64
        np.testing.assert_allclose(gs, np.float32(np.sum(w * x)), rtol=1e-7)
        np.testing.assert_allclose(gx, np.float32(1.5) * w, rtol=1e-7)
        # the custom function's inputs are intermediates: the fitted cotangents flow on into
        # the rules of the primitives that made them
        gs, gx = fg.grad(lambda s, x: fnp.sum(scale(fnp.exp(s), fnp.sin(x)) * w),
                         argnums=(0, 1))(s, x)
        assert gs.shape == () and gs.dtype == np.float64
        assert gx.shape == (3,) and gx.dtype == np.float64
        np.testing.assert_allclose(gs, np.exp(1.5) * np.sum(w * np.sin(x)), rtol=1e-6)
        np.testing.assert_allclose(gx, np.exp(1.5) * w * np.cos(x), rtol=1e-6)
        # ... also into rules that need the exact shape (reshape, matmul)
        v, m = np.array([1.5]), np.eye(3) * 2.0
        gv, gm = fg.grad(lambda v, m: fnp.sum(scale(fnp.reshape(v, ()), m @ x) * w),
                         argnums=(0, 1))(v, m)
        assert gv.shape == (1,) and gm.shape == (3, 3)
        np.testing.assert_allclose(gv, [np.sum(w * 2.0 * x)], rtol=1e-6)
        np.testing.assert_allclose(gm, np.outer(1.5 * w, x), rtol=1e-6)

    @fg.custom_vjp
    def bias(b, x):
        return x + b

    # b is (1, 3), x is (2, 3): bwd returns the (2, 3) cotangent for both
    bias.defvjp(lambda b, x: (x + b, None), lambda res, g: (g, g))
    b, x2 = np.zeros((1, 3)), np.ones((2, 3))
    w = np.arange(6.0).reshape(2, 3)
    for _ in range(CALLS):
        gb, gx = fg.grad(lambda b, x: fnp.sum(bias(b, x) * w), argnums=(0, 1))(b, x2)
        assert gb.shape == (1, 3) and gx.shape == (2, 3)
        np.testing.assert_allclose(gb, w.sum(axis=0, keepdims=True), rtol=RTOL)
        np.testing.assert_allclose(gx, w, rtol=RTOL)
        gb, gx = fg.grad(lambda b, x: fnp.sum(bias(fnp.sin(b), x * 2.0) * w),
                         argnums=(0, 1))(b, x2)
        assert gb.shape == (1, 3) and gx.shape == (2, 3)
        np.testing.assert_allclose(gb, np.cos(b) * w.sum(axis=0, keepdims=True), rtol=RTOL)
        np.testing.assert_allclose(gx, 2.0 * w, rtol=RTOL)


def test_custom_jvp_rule_is_used_on_every_call():
    """A custom_jvp function inside grad is linearized with its own rule (then transposed),
    once per call."""
    calls = [0]

    @fg.custom_jvp
    def softplus(x):
        return fnp.logaddexp(0.0, x)

    @softplus.defjvp
    def _(primals, tangents):
        calls[0] += 1
        (x,), (t,) = primals, tangents
        return softplus(x), t * fg.nn.sigmoid(x) * 2.0      # twice the true derivative

    def f(x):
        return fnp.sum(softplus(fnp.sin(x)) * x)

    for k in range(CALLS):
        x = np.array([0.3, -1.0, 2.0]) * (1 + 0.1 * k)
        sigmoid = 1 / (1 + np.exp(-np.sin(x)))
        want = 2 * sigmoid * np.cos(x) * x + np.logaddexp(0.0, np.sin(x))
        np.testing.assert_allclose(fg.grad(f)(x), want, rtol=RTOL)
        assert calls[0] == k + 1
    assert executor.stats()["program_runs"] == 0
    assert fg.grad(softplus)(1000.0) == 2.0         # the rule's sigmoid: no overflow


def _sin_chain(x, n=10):
    for _ in range(n):
        x = fnp.sin(x) * 1.1
    return x


def test_checkpoint_same_gradient():
    x = np.array([0.3, 1.2, -0.4])
    expected = fg.jit(fg.grad(lambda x: fnp.sum(_sin_chain(x))))(x)
    for _ in range(CALLS):
        g = fg.grad(lambda x: fnp.sum(_sin_chain(x)))(x)
        g_ckpt = fg.grad(lambda x: fnp.sum(fg.checkpoint(_sin_chain)(x)))(x)
        np.testing.assert_allclose(g, expected, rtol=RTOL)
        np.testing.assert_allclose(g_ckpt, expected, rtol=RTOL)
    gg = fg.grad(fg.grad(lambda x: _sin_chain(x, 3)))(0.7)
    for _ in range(CALLS):
        gg_ckpt = fg.grad(fg.grad(fg.checkpoint(lambda x: _sin_chain(x, 3))))(0.7)
        np.testing.assert_allclose(gg_ckpt, gg, rtol=RTOL)


def test_checkpoint_closing_over_the_differentiated_value():
    x = np.array([0.3, 1.2, -0.4])

    def f(x):
        inner = fg.checkpoint(lambda y: fnp.sin(y) * x)      # x: the value being differentiated
        return fnp.sum(inner(x * 2.0))

    expected = np.cos(2 * x) * 2 * x + np.sin(2 * x)
    for _ in range(CALLS):
        np.testing.assert_allclose(fg.grad(f)(x), expected, rtol=RTOL)
    np.testing.assert_allclose(fg.jit(fg.grad(f))(x), expected, rtol=RTOL)

    def g(x):      # the closure is the only differentiated input of the checkpointed part
        return fnp.sum(fg.checkpoint(lambda y: fnp.exp(x) * y)(np.ones(3)))

    for _ in range(CALLS):
        np.testing.assert_allclose(fg.grad(g)(x), np.exp(x), rtol=RTOL)


def _cond_f(x):
    y = fg.cond(fnp.sum(x) > 0.0, lambda u: fnp.sin(u) * u, lambda u: fnp.cos(u) + u, x)
    z = fg.cond(True, lambda u: u ** 2, lambda u: -u, y)
    return fnp.sum(z * fnp.arange(1.0, 4.0))


def _scan_f(x):
    def body(c, xi):
        c = fnp.tanh(c * xi + 0.5) + xi
        return c, c * xi
    carry, ys = fg.scan(body, x[0], x)
    carry_r, ys_r = fg.scan(body, x[1] * 0.5, x, reverse=True)
    return carry + fnp.sum(ys ** 2) + carry_r * fnp.sum(ys_r)


def _fori_f(x):
    def body(i, c):
        return c * fnp.sin(c) * 0.9 + x * 0.1 * i      # closes over x
    return fnp.sum(fg.fori_loop(0, 5, body, x) ** 2)


def _cond_fori_indexing_f(x):
    y = fg.cond(fnp.sum(x) > 0, lambda v: v * 2.0, lambda v: fnp.sin(v), x)
    z = fg.fori_loop(0, 3, lambda i, v: v * 0.5 + y, x)
    return fnp.sum(z * y) + x[1] ** 2 + fnp.sum(x.at[0].set(0.0))


@pytest.mark.parametrize("f, x", [
    (_cond_f, np.array([0.3, -0.2, 0.8])),
    (_scan_f, np.array([0.3, -0.2, 0.8, 1.1])),
    (_fori_f, np.array([0.3, -0.2, 0.8])),
    (_cond_fori_indexing_f, np.array([0.3, -0.4, 0.5])),
], ids=["cond", "scan", "fori_loop", "cond_fori_indexing"])
def test_control_flow_primitives_inside_grad(f, x):
    """The sign of x alternates between calls (cond takes the other branch): every call
    agrees with jit and with central differences."""
    jitted = fg.jit(fg.grad(f))
    g = fg.grad(f)
    for k in range(2 * CALLS):
        xk = x if k % 2 else -x
        np.testing.assert_allclose(g(xk), jitted(xk), rtol=RTOL, atol=1e-15)
    for xk in (x, -x):
        t = np.linspace(-1.0, 1.0, x.size)
        (fd,), (err,) = central_difference(fg.jit(f), (xk,), (t,), 1e-6)   # x.at: traced only
        close(np.float64(np.dot(g(xk), t)), np.float64(fd), 1e-6, "<grad, t> vs central "
              "difference", slack=err)
    assert executor.stats()["program_runs"] == 0


def test_integer_valued_operations_inside_grad():
    """argmax used as an index, boolean masks, an integer count multiplying a float, floor:
    no derivative of their own, but their values steer the derivative."""
    x = np.array([0.5, -1.0, 2.0, 1.5])

    def f(x):
        i = fnp.argmax(x)                           # integer output: no tangent
        mask = (x > 0.0) & (x < 1.8)
        n = fnp.sum(mask)                           # integer count
        y = fnp.where(mask, x ** 2, -x) + fnp.where(x >= 2.0, 3.0 * x, 0.0)
        return fnp.sum(y) + x[i] * 10.0 + n * x[0] + fnp.sum(fnp.floor(x) * x)

    mask = (x > 0.0) & (x < 1.8)
    expected = (np.where(mask, 2 * x, -1.0) + np.where(x >= 2.0, 3.0, 0.0)
                + 10.0 * (np.arange(4) == np.argmax(x)) + np.sum(mask) * (np.arange(4) == 0)
                + np.floor(x))
    for _ in range(CALLS):
        np.testing.assert_allclose(fg.grad(f)(x), expected, rtol=RTOL)
    assert executor.stats()["program_runs"] == 0        # x[i]: a traced index
    np.testing.assert_allclose(fg.jit(fg.grad(f))(x), expected, rtol=RTOL)


# ================================================================ 7. higher order, nesting

def test_higher_derivatives_of_a_scalar_function_are_analytic():
    def f(x):
        return fnp.exp(fnp.sin(x)) * x

    d2 = fg.grad(fg.grad(f))
    for k in range(CALLS + 2):
        x = 0.3 + 0.2 * k
        s, c, e = np.sin(x), np.cos(x), np.exp(np.sin(x))
        # f' = e (c x + 1); f'' = e c (c x + 1) + e (c - s x)
        want = e * c * (c * x + 1) + e * (c - s * x)
        got = d2(x)
        assert type(got) is np.ndarray and got.shape == () and got.dtype == np.float64
        np.testing.assert_allclose(got, want, rtol=RTOL)
    d3 = fg.grad(fg.grad(fg.grad(lambda x: fnp.exp(2.0 * x) * x)))
    for _ in range(CALLS):
        np.testing.assert_allclose(d3(0.5), np.exp(1.0) * (8 * 0.5 + 12), rtol=1e-13)
    x = np.array([0.3, -1.0, 2.0])
    h = fg.hessian(lambda x: fnp.sum(fnp.sin(x) * x[0]))(x)
    for _ in range(CALLS):
        h_rev = fg.jacrev(fg.grad(lambda x: fnp.sum(fnp.sin(x) * x[0])))(x)
        np.testing.assert_allclose(h_rev, h, rtol=RTOL, atol=1e-15)


def test_no_perturbation_confusion():
    for _ in range(CALLS):
        assert fg.grad(lambda x: x * fg.grad(lambda y: x * y)(2.0))(1.0) == 2.0
        assert fg.grad(lambda x: x * fg.grad(lambda y: x + y)(2.0))(1.0) == 1.0
        # the inner gradient is itself a function of x: d/dx (x * x * 3) = 6 x
        assert fg.grad(lambda x: x * fg.grad(lambda y: x * y * 3.0)(2.0))(1.5) == 9.0


def test_grad_of_grad_and_hessian_vector_products_over_a_warm_inner_grad():
    """The inner grad has compiled rules and a program from eager calls; under an outer
    transformation it runs the rules' graphs there instead (never the concrete program)."""
    def f(x):
        return fnp.sum(fnp.sin(x) * x + x ** 3 * 0.5)

    df = fg.grad(f)
    x = np.array([0.4, -0.8, 1.3])
    for _ in range(CALLS):
        np.testing.assert_allclose(df(x), np.cos(x) * x + np.sin(x) + 1.5 * x ** 2, rtol=RTOL)
    assert executor.stats()["programs"] >= 1
    h = np.diag(2 * np.cos(x) - x * np.sin(x) + 3.0 * x)
    v = np.array([1.0, 2.0, -0.5])
    for k in range(CALLS):
        np.testing.assert_allclose(fg.hessian(f)(x), h, rtol=RTOL, atol=1e-14)
        primal, hv = fg.jvp(df, (x,), (v,))
        np.testing.assert_allclose(primal, df(x), rtol=RTOL)
        np.testing.assert_allclose(hv, h @ v, rtol=RTOL)
        # grad of a function of the gradient: d/dx |df(x)|^2 / 2 = H df(x)
        np.testing.assert_allclose(fg.grad(lambda y: 0.5 * fnp.sum(df(y) ** 2))(x),
                                   h @ df(x), rtol=RTOL)
        # reverse over reverse for an HVP: grad(x -> df(x) . v)
        np.testing.assert_allclose(fg.grad(lambda y: fnp.sum(df(y) * v))(x), h @ v, rtol=RTOL)
        # per-example gradients
        xs = np.stack([x, x * 0.5 + k * 0.1])
        want = np.stack([np.cos(r) * r + np.sin(r) + 1.5 * r ** 2 for r in xs])
        np.testing.assert_allclose(fg.vmap(df)(xs), want, rtol=RTOL)


_inner_jit = fg.jit(lambda v: fnp.sin(v) * 2.0)


@pytest.mark.parametrize("kind", ["jit", "vmap", "jvp"])
def test_transformations_inside_a_warm_grad(kind):
    def f(x):
        if kind == "jit":
            return fnp.sum(_inner_jit(x * 1.5) * x)
        if kind == "vmap":
            rows = fnp.reshape(fnp.concatenate([x, x * 2.0]), (2, 3))
            return fnp.sum(fg.vmap(lambda r: fnp.sum(fnp.sin(r) * r))(rows))
        return fnp.sum(fg.jvp(lambda v: fnp.sin(v) * v, (x,), (np.ones(3),))[1] * x)

    x = np.array([0.3, -0.7, 1.2])
    ref = fg.jit(fg.grad(f))(x)
    want = {"jit": 3.0 * np.cos(1.5 * x) * x + 2.0 * np.sin(1.5 * x),
            "vmap": (np.cos(x) * x + np.sin(x)) + 2 * (np.cos(2 * x) * 2 * x + np.sin(2 * x)),
            "jvp": (np.cos(x) * x + np.sin(x)) + x * (2 * np.cos(x) - x * np.sin(x))}[kind]
    np.testing.assert_allclose(ref, want, rtol=RTOL)
    for _ in range(CALLS):
        np.testing.assert_allclose(fg.grad(f)(x), want, rtol=RTOL)


# ================================================================ 8. failure modes and state

def test_a_leaked_tracer_is_an_error_whichever_regime_made_it():
    """Values that escape a call (stored by the function) are dead: using them raises
    UnexpectedTracerError, whether the call ran on the tape (general or with rules) or as a
    compiled program (where nothing was computed for them); grad works on."""
    leaked = []

    def f(x):
        y = fnp.sin(x) * 2.0
        leaked.append((x, y))
        return fnp.sum(y * x)

    g = fg.grad(f)
    x = np.array([0.5, 1.0])
    want = 2 * np.cos(x) * x + 2 * np.sin(x)
    for _ in range(CALLS):
        np.testing.assert_allclose(g(x), want, rtol=RTOL)
    assert executor.stats()["program_runs"] > 0
    for call in (1, 2, CALLS):                  # general, rules, program
        for t in leaked[call - 1]:              # an input and an intermediate
            assert isinstance(t, executor.TapeTracer)
            uses = lambda v, t=t: fnp.sum(v * t)
            with pytest.raises(UnexpectedTracerError):
                fnp.sin(t)
            with pytest.raises(UnexpectedTracerError):
                t + 1.0
            for _ in range(2):                  # again: a rule may be cached now
                with pytest.raises(UnexpectedTracerError):
                    fg.grad(uses)(x)
            with pytest.raises(UnexpectedTracerError):
                fg.jit(uses)(x)
    assert current_trace() is EVAL
    for _ in range(CALLS):
        np.testing.assert_allclose(g(x), want, rtol=RTOL)


def test_leaked_tracer_used_inside_the_next_lazy_call():
    """The leaked value of one call used by the next call of the same function (a stale
    cache, say): an error every time, and the function works again once the leak is gone."""
    cache = []

    def f(x):
        y = fnp.tanh(x)
        if cache:
            y = y + cache[0]
        return fnp.sum(y * y)

    g = fg.grad(f)
    x = np.array([0.3, -0.2])
    for _ in range(CALLS):
        g(x)
    leak = []
    fg.grad(lambda v: (leak.append(v * 3.0), fnp.sum(v))[1])(x)
    cache.append(leak[0])
    for _ in range(3):
        with pytest.raises(UnexpectedTracerError):
            g(x)
    cache.clear()
    np.testing.assert_allclose(g(x), 2 * np.tanh(x) * (1 - np.tanh(x) ** 2), rtol=RTOL)


def test_tracer_of_an_outer_grad_inside_a_custom_vjp_fwd_is_an_error():
    """fwd runs outside the tape; using the tape's value there is reported, not silently
    treated as a constant."""
    @fg.custom_vjp
    def f(y):
        return y

    seen = []
    f.defvjp(lambda y: (y * seen[0], None), lambda res, g: (g,))

    def loss(x):
        seen.append(x)
        return fnp.sum(f(x * 1.0))

    with pytest.raises(UnexpectedTracerError):
        fg.grad(loss)(np.array([1.0, 2.0]))


def _add_four(x):
    return fnp.sum(x + fnp.ones(4))


def _matmul_two_by_two(x):
    return fnp.sum(x @ np.ones((2, 2)))


def test_shape_error_names_the_users_line_on_every_call():
    """The general path on call 1, then a rule that fails to compile: the same error, naming
    the line of the user's code, every time."""
    for _ in range(CALLS):                  # constants only: plain NumPy evaluation
        with pytest.raises(ValueError) as info:
            fg.grad(lambda x: fnp.sum(fnp.ones(3) + fnp.ones(4)) * x)(1.0)
        assert "(3,)" in str(info.value) and "(4,)" in str(info.value)
    line = _line_of(_add_four, "ones(4)")
    for _ in range(CALLS):                  # a differentiated operand: goes through the tape
        with pytest.raises(ValueError) as info:
            fg.grad(_add_four)(np.ones(3))
        msg = str(info.value)
        assert "(3,)" in msg and "(4,)" in msg and line in msg, msg
    line = _line_of(_matmul_two_by_two, "@")
    for _ in range(CALLS):
        with pytest.raises(ValueError) as info:
            fg.grad(_matmul_two_by_two)(np.ones((2, 3)))
        msg = str(info.value)
        assert "(2, 3)" in msg and "(2, 2)" in msg and line in msg, msg
    # the good signature still differentiates after the failures
    for _ in range(CALLS):
        np.testing.assert_array_equal(fg.grad(lambda x: fnp.sum(x + fnp.ones(3)))(np.ones(3)),
                                      np.ones(3))


def _take_two(x, idx):
    return fnp.sum(fnp.sin(x[idx]) * 2.0)


def test_index_error_names_the_users_line_on_every_call():
    """Indexing checks its values (an index can be out of bounds): it runs at once, so that
    the error names the user's line, also once the same signature has a program."""
    x = np.arange(4.0)
    line = _line_of(_take_two, "x[idx]")
    for _ in range(CALLS):
        fg.grad(_take_two)(x, np.array([0, 2]))
    for _ in range(CALLS):
        with pytest.raises(IndexError) as info:
            fg.grad(_take_two)(x, np.array([0, 7]))
        assert line in str(info.value), str(info.value)


def test_shape_error_after_warm_up_is_reported_and_nothing_breaks():
    flag = {"bad": False}

    def f(x):
        y = fnp.sin(x) * 2.0
        if flag["bad"]:
            y = y + np.ones(4)
        return fnp.sum(y * x)

    g = fg.grad(f)
    x = np.array([0.1, 0.2, 0.3])
    want = 2 * np.cos(x) * x + 2 * np.sin(x)
    for _ in range(CALLS):
        np.testing.assert_allclose(g(x), want, rtol=RTOL)
    line = _line_of(f, "np.ones(4)")
    flag["bad"] = True
    for _ in range(3):                          # general path, then a failed rule: same error
        with pytest.raises(ValueError) as info:
            g(x)
        msg = str(info.value)
        assert "(3,)" in msg and "(4,)" in msg and line in msg, msg
        assert current_trace() is EVAL
    flag["bad"] = False
    for _ in range(CALLS):
        np.testing.assert_allclose(g(x), want, rtol=RTOL)
    assert executor.stats()["programs"] >= 1


def test_shape_error_between_two_traced_arguments_after_warm_up():
    def f(x, w):
        return fnp.sum(fnp.tanh(x @ w))

    x, w = np.array([0.1, 0.2, 0.3]), np.ones((3, 2))
    for _ in range(CALLS):
        fg.grad(f, argnums=(0, 1))(x, w)
    for _ in range(2):
        with pytest.raises(ValueError) as info:
            fg.grad(f, argnums=(0, 1))(x, np.ones((4, 2)))
        assert "3" in str(info.value) and "4" in str(info.value)
    gx, gw = fg.grad(f, argnums=(0, 1))(x, w)
    d = 1 - np.tanh(x @ w) ** 2
    np.testing.assert_allclose(gx, w @ d, rtol=RTOL)
    np.testing.assert_allclose(gw, np.outer(x, d), rtol=RTOL)


def test_exception_raised_by_the_function_mid_recording():
    class Stop(Exception):
        pass

    flag = {"raise": False}

    def f(x):
        y = fnp.exp(x) * 2.0
        if flag["raise"]:
            raise Stop
        return fnp.sum(y)

    g = fg.grad(f)
    x = np.array([0.1, 0.2])
    for _ in range(CALLS):
        g(x)
    flag["raise"] = True
    with pytest.raises(Stop):
        g(x)
    assert current_trace() is EVAL
    flag["raise"] = False
    for _ in range(3):
        np.testing.assert_allclose(g(x), 2 * np.exp(x), rtol=RTOL)


def test_reassigning_a_jvp_rule_changes_eager_gradients(monkeypatch):
    """Rules and programs are derived from the primitives' rules: assigning a rule slot clears
    both caches, and every regime then uses the new rule."""
    x = np.array([0.3, -1.0, 2.0])
    f = lambda x: fnp.sum(fnp.sin(x))
    for _ in range(CALLS):
        np.testing.assert_allclose(fg.grad(f)(x), np.cos(x), rtol=RTOL)
    assert executor.stats()["rules"] > 0 and executor.stats()["programs"] > 0

    def wrong_rule(primals, tangents):
        (x,), (t,) = primals, tangents
        return elementwise.sin(x), t * 2.0

    monkeypatch.setattr(elementwise.sin_p, "jvp", wrong_rule)
    assert executor.stats()["rules"] == 0 and executor.stats()["programs"] == 0
    for _ in range(CALLS):                  # general, rules, program: all use the new rule
        np.testing.assert_allclose(fg.grad(f)(x), np.full(3, 2.0), rtol=RTOL)
    assert executor.stats()["program_runs"] > 0
    monkeypatch.undo()
    for _ in range(CALLS):
        np.testing.assert_allclose(fg.grad(f)(x), np.cos(x), rtol=RTOL)


def test_reassigning_a_transpose_rule_changes_eager_gradients(monkeypatch):
    x = np.array([0.3, -1.0, 2.0])
    f = lambda x: fnp.sum(-fnp.sin(x))
    for _ in range(CALLS):
        np.testing.assert_allclose(fg.grad(f)(x), -np.cos(x), rtol=RTOL)
    n = executor.stats()["rules"]
    assert n > 0 and executor.stats()["programs"] > 0
    monkeypatch.setattr(elementwise.neg_p, "transpose", lambda ct, x: [ct * 3.0])  # wrong
    assert executor.stats()["rules"] == 0 and executor.stats()["programs"] == 0
    for _ in range(CALLS):
        np.testing.assert_allclose(fg.grad(f)(x), 3.0 * np.cos(x), rtol=RTOL)
    monkeypatch.undo()
    for _ in range(CALLS):
        np.testing.assert_allclose(fg.grad(f)(x), -np.cos(x), rtol=RTOL)
    assert executor.stats()["rules"] == n


def test_threads_share_the_caches():
    """Four threads from cold caches, each differentiating its own function and one shared
    function at its own shape: rules and programs compiled by one thread are used by all, and
    every result equals the single-threaded one."""
    rng = np.random.default_rng(5)
    jobs = [
        (lambda x: fnp.sum(fnp.tanh(x @ W32)), rng.standard_normal((4, 3))),
        (lambda x: fnp.sum(fnp.sin(x) * x + x ** 3), rng.standard_normal(7)),
        (lambda x: fnp.logsumexp(x) + fnp.sum(fnp.maximum(x, 0.0) ** 2),
         rng.standard_normal((2, 5))),
        (lambda x: fnp.sum(fnp.exp(-x * x) * fnp.cumsum(x)), rng.standard_normal(6)),
    ]

    def shared(x):
        return fnp.sum(fnp.sin(x * 3.0) ** 2 + fnp.tanh(x) * 2.0) + fnp.sum(x * x) * 0.5

    single = [(fg.grad(f)(x), fg.value_and_grad(shared)(x)) for f, x in jobs]
    for (g, (_, gs)), (f, x) in zip(single, jobs):
        np.testing.assert_allclose(g, fg.jit(fg.grad(f))(x), rtol=RTOL)
        np.testing.assert_allclose(gs, 6 * np.sin(3 * x) * np.cos(3 * x)
                                   + 2 * (1 - np.tanh(x) ** 2) + x, rtol=RTOL)
    executor.reset()
    results: list = [[] for _ in jobs]

    def work(k):
        f, x = jobs[k]
        g, vg = fg.grad(f), fg.value_and_grad(shared)
        for _ in range(30):
            results[k].append((g(x), vg(x)))

    errors = _run_in_threads(work, len(jobs))
    assert not errors, errors
    for k, rs in enumerate(results):
        assert len(rs) == 30
        for r in rs:
            assert_tree_close(r, single[k])
    stats = executor.stats()
    assert stats["program_runs"] > 0 and stats["compile_failures"] == 0, stats


# ================================================================ 9. a training loop

def test_logistic_regression_training_matches_jit():
    data_rng = np.random.default_rng(7)
    X = data_rng.standard_normal((50, 4))
    y = (X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3 * data_rng.standard_normal(50) > 0)
    y = y.astype(np.float64)
    l2 = 0.01

    def loss_fn(params, x, t):
        z = x @ params["w"] + params["b"]
        return fg.nn.binary_cross_entropy_with_logits(z, t) + 0.5 * l2 * fnp.sum(params["w"] ** 2)

    opt = fg.optim.sgd(0.3)

    def step(params, state):
        loss, grads = fg.value_and_grad(loss_fn)(params, X, y)
        updates, state = opt.update(grads, state, params)
        return fg.optim.apply_updates(params, updates), state, loss

    init = {"w": np.zeros(4), "b": np.array(0.0)}
    eager, e_state = fg.tree.map(np.copy, init), opt.init(init)
    jitted, j_state = fg.tree.map(np.copy, init), opt.init(init)
    jstep = fg.jit(step)
    e_losses, j_losses = [], []
    for _ in range(20):
        eager, e_state, le = step(eager, e_state)
        jitted, j_state, lj = jstep(jitted, j_state)
        e_losses.append(float(le))
        j_losses.append(float(lj))
    assert executor.stats()["program_runs"] >= 15      # every step from the fourth on
    assert e_losses[-1] < e_losses[0]
    np.testing.assert_allclose(e_losses, j_losses, rtol=1e-10)
    for key in ("w", "b"):
        assert eager[key].shape == init[key].shape and eager[key].dtype == np.float64
        np.testing.assert_allclose(eager[key], jitted[key], rtol=1e-10, atol=1e-14)
