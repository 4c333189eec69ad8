"""The compiled tier (jit backend 'compiled' / 'auto'): numba kernels checked against the NumPy
tier, for every primitive with a `native` rule (generated from the registry), in both of a
kernel's representations (small arrays unrolled into scalars, and arrays), for loops, for
fallbacks, for tiering and for the on-disk cache."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

pytest.importorskip("numba")

from test_eager import FORWARD_ONLY, MATRIX, Case  # noqa: E402

import funcgrad as fg  # noqa: E402
import funcgrad.numpy as fnp  # noqa: E402
from funcgrad.compile import native  # noqa: E402
from funcgrad.core.ir import Graph  # noqa: E402
from funcgrad.core.primitive import registry  # noqa: E402

NATIVE = sorted(n for n in MATRIX if registry[n].native is not None)


def _refuses_every_float(name: str) -> bool:
    """An elementwise primitive whose NumPy function is not a numba ufunc (a SciPy function):
    it always runs as NumPy code, so in a chunk it would only cut the chunk's kernel in two.
    (Its cases run on the compiled tier elsewhere in the suite: between kernels.)"""
    from numba.np.ufunc_db import get_ufuncs
    fn = getattr(registry[name].native, "ufunc", None)
    return fn is not None and fn not in get_ufuncs()


REVERSE = [n for n in NATIVE if n not in FORWARD_ONLY and not _refuses_every_float(n)]
CHUNK = 12
CHUNKS = [REVERSE[i:i + CHUNK] for i in range(0, len(REVERSE), CHUNK)]
# while_loop has no reverse mode: its chunk is differentiated forward
CHUNKS.append(sorted(set(NATIVE) & FORWARD_ONLY))
RTOL = 1e-9


def _close(got, want, what):
    for g, w in zip(fg.tree.leaves(got), fg.tree.leaves(want)):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype, what
        scale = max(1.0, float(np.max(np.abs(w), initial=0.0)))
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=RTOL * scale, err_msg=what)


def _prims_in(eqns) -> set[str]:
    """Names of the primitives applied by `eqns`, loop bodies included (iterative)."""
    names, stack = set(), list(eqns)
    while stack:
        e = stack.pop()
        names.add(e.primitive.name)
        for v in e.params.values():
            for g in (v if isinstance(v, (tuple, list)) else (v,)):
                if isinstance(g, Graph):
                    stack.extend(g.eqns)
    return names


def _refused_alone(graph: Graph) -> set[str]:
    """Primitives whose own `native` rule refuses an application in `graph`."""
    refused = set()
    for e in graph.eqns:
        if e.primitive.native is None:
            continue
        k = native.KernelBuilder()
        env = {v: f"a{i}" if not native.is_small(v.aval) else native.Small(
            [f"a{i}_{j}" for j in range(v.aval.size)], v.aval.shape)
            for i, v in enumerate(x for x in e.inputs if not isinstance(x, native.Lit))}
        try:
            k.emit_eqn(e, env, {}, {})
        except native.Unsupported:
            refused |= {e.primitive.name}
    return refused


def _both_tiers(total, xs, ts, forward: bool):
    """jit of the derivative of `total` on the NumPy tier and on the compiled tier."""
    if forward:
        def derivative(*xs):
            return fg.jvp(total, xs, ts)
    else:
        derivative = fg.value_and_grad(total, argnums=tuple(range(len(xs))))
    return fg.jit(derivative, backend="numpy"), fg.jit(derivative, backend="compiled")


def _culprits(cases) -> list[str]:
    """The cases whose program alone does not run on the compiled tier (the diagnosis of a
    failing chunk), with why."""
    out = []
    for c in cases:
        f_np, f_nb = _both_tiers(c.loss, c.xs, c.ts, forward=c.name in FORWARD_ONLY)
        f_nb(*c.xs)
        stage = f_nb.lower(*c.xs)
        if stage.tier != "compiled" or stage.native.fallbacks:
            out.append(f"{c.name} ({stage.native_error or stage.native.fallbacks})")
    return out


@pytest.mark.parametrize("chunk, representation", [
    (i, "unrolled" if i % 2 == 0 else "arrays") for i in range(len(CHUNKS))])
@settings(max_examples=1, deadline=None, derandomize=True, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_native_rule_agrees_with_the_numpy_tier(chunk, representation, data,
                                                     monkeypatch):
    """One program per chunk of primitives: the sum of each primitive's case loss (from the
    registry's cases), its value and gradient through jit(value_and_grad) on the compiled
    tier against the NumPy tier, and the eager value. Every primitive that appears in the
    program must run inside a kernel unless its own rule refuses that application.

    Kernels keep arrays of up to 16 elements as scalars ('unrolled') and larger ones as
    arrays; the drawn shapes give each program values of both kinds. The odd chunks are
    compiled with every value an array ('arrays'), so small shapes meet the array code too
    (one compile per chunk keeps the suite's time)."""
    if representation == "arrays":
        monkeypatch.setattr(native, "SMALL", 0)
    names = CHUNKS[chunk]
    # Hypothesis tries the simplest example (every shape 0-d) first: skip it, for shapes
    assume(data.draw(st.booleans(), label="not the simplest example"))
    cases = [Case(n, data.draw) for n in names]
    sizes = [len(c.xs) for c in cases]

    def total(*xs):
        out, i = 0.0, 0
        for c, n in zip(cases, sizes):
            out = out + c.loss(*xs[i:i + n])
            i += n
        return out

    xs = [x for c in cases for x in c.xs]
    f_np, f_nb = _both_tiers(total, xs, [t for c in cases for t in c.ts],
                             forward=set(names) <= FORWARD_ONLY)
    want = f_np(*xs)
    got = f_nb(*xs)
    stage = f_nb.lower(*xs)
    if stage.tier != "compiled" or stage.native.fallbacks:
        pytest.fail(f"{_culprits(cases)}: {stage.native_error or stage.native.fallbacks}")
    _close(got, want, f"{names}: first call")
    _close(f_nb(*xs), want, f"{names}: second call (the kernels themselves)")
    _close(want[0], total(*xs), f"{names}: NumPy tier vs eager")
    in_kernels = _prims_in(e for r in stage.native.regions for e in r.eqns)
    present = _prims_in(stage.graph.eqns) & set(names)
    missing = present - in_kernels - _refused_alone(stage.graph)
    assert not missing, f"{sorted(missing)} ran as NumPy code though their rules accept it"


def test_native_rules_cover_the_everyday_primitives():
    """The breadth of the tier, as a number that can only go up: every elementwise primitive
    NumPy computes with a numba ufunc, the shape and reduction primitives, dot_general and the
    loops have rules."""
    assert len(NATIVE) >= 75, len(NATIVE)
    assert {"scan", "while", "dot_general", "reduce_sum", "getitem", "scatter_add",
            "concatenate", "select", "logistic", "relu"} <= set(NATIVE)


# ----------------------------------------------------------------------------------- loops

def _ode(x0, steps=200):
    def body(i, x):
        return x + 0.01 * fnp.stack([x[1], -fnp.sin(x[0])])
    return fg.fori_loop(0, steps, body, x0).sum()


def _rnn(params, xs):
    wx, wh, b = params

    def step(h, x):
        h = fnp.tanh(x @ wx + h @ wh + b)
        return h, fnp.sum(h * h)
    h, ys = fg.scan(step, fnp.zeros(wh.shape[0]), xs)
    return fnp.sum(ys) + fnp.sum(h)


@pytest.mark.parametrize("hidden", [3, 40])   # unrolled carry, array carry
def test_scan_rnn_gradient(hidden):
    rng = np.random.default_rng(0)
    params = (rng.standard_normal((5, hidden)) * 0.3, rng.standard_normal((hidden, hidden)) * 0.3,
              rng.standard_normal(hidden) * 0.1)
    xs = rng.standard_normal((30, 5))
    f = fg.jit(fg.value_and_grad(_rnn), backend="compiled")
    got = f(params, xs)
    assert f.lower(params, xs).tier == "compiled"
    _close(f(params, xs), fg.value_and_grad(_rnn)(params, xs), "rnn")
    _close(got, f(params, xs), "first call vs kernels")
    # the scans are native loops: one kernel holds them, no per-step Python
    src = f.lower(params, xs).as_text()
    assert "range(30)" in src and "range(30 - 1, -1, -1)" in src and "_scan" not in src


def test_fori_loop_ode_gradient_is_one_kernel():
    x0 = np.array([1.0, 0.5])
    f = fg.jit(fg.grad(_ode), backend="compiled")
    got = f(x0)
    stage = f.lower(x0)
    assert stage.tier == "compiled" and len(stage.native.regions) == 1
    _close(got, fg.grad(_ode)(x0), "ode")
    # the 2-vector state is unrolled: no array is allocated inside the loops
    loops = stage.as_text().split("for i", 1)[1]
    assert "np.empty" not in loops and "np.array" not in loops.rsplit("return", 1)[0][:-200]


def test_while_loop_newton():
    def sqrt_newton(a):
        def cond(c):
            x, i = c
            return (fnp.abs(x * x - a) > 1e-12) & (i < 100)

        def body(c):
            x, i = c
            return 0.5 * (x + a / x), i + 1
        return fg.while_loop(cond, body, (a, 0))[0]
    a = np.array(7.0)
    f = fg.jit(sqrt_newton, backend="compiled")
    got = f(a)
    assert f.lower(a).tier == "compiled"
    np.testing.assert_allclose(got, np.sqrt(7.0), rtol=1e-14)
    primal, tangent = fg.jit(lambda a: fg.jvp(sqrt_newton, (a,), (np.array(1.0),)),
                             backend="compiled")(a)
    np.testing.assert_allclose(tangent, 0.5 / np.sqrt(7.0), rtol=1e-10)


def test_float32_keeps_its_dtype_through_kernels():
    x = np.linspace(-2, 2, 50, dtype=np.float32)

    def f(x):
        return fnp.sum(fnp.tanh(x * 0.5 + 1.0) * x) / x.shape[0]
    g = fg.jit(fg.value_and_grad(f), backend="compiled")
    val, grad = g(x)
    ref = fg.jit(fg.value_and_grad(f), backend="numpy")(x)
    assert g.lower(x).tier == "compiled"
    assert val.dtype == np.float32 and grad.dtype == np.float32
    np.testing.assert_allclose(grad, ref[1], rtol=1e-5)


# ------------------------------------------------------------------ fallbacks and trust

def test_an_operation_without_a_kernel_runs_as_numpy_code_between_kernels():
    def f(x):
        y = fnp.sin(x) * 2.0 + x
        z = fnp.sort(y)              # no native rule: NumPy code
        return fnp.sum(fnp.exp(z) * z)
    x = np.random.default_rng(1).standard_normal(100)
    g = fg.jit(fg.grad(f), backend="compiled")
    _close(g(x), fg.grad(f)(x), "sort between kernels")
    stage = g.lower(x)
    assert stage.tier == "compiled" and len(stage.native.regions) >= 2
    assert "np.sort" in stage.as_text() or "sort" in stage.as_text()


def test_a_wrong_kernel_is_never_used(monkeypatch):
    """A kernel whose result differs from the NumPy tier's (here: sin written as cos) is
    caught by the check before the swap; the NumPy code goes on running."""
    from funcgrad.prims.elementwise import sin_p
    monkeypatch.setattr(sin_p, "native", lambda k, args, eqn: f"np.cos({args[0]})")
    x = np.linspace(0.1, 1.0, 40)
    f = fg.jit(lambda x: fnp.sum(fnp.sin(x) * x), backend="compiled")
    np.testing.assert_allclose(f(x), np.sum(np.sin(x) * x), rtol=1e-14)
    stage = f.lower(x)
    assert stage.tier == "numpy" and "differs from the NumPy tier" in stage.native_error
    np.testing.assert_allclose(f(x), np.sum(np.sin(x) * x), rtol=1e-14)


def test_side_effects_stay_on_the_numpy_tier():
    seen = []

    def f(x):
        fg.debug.callback(lambda v: seen.append(float(v)), fnp.sum(x))
        return fnp.sin(x) * 2.0
    g = fg.jit(f, backend="compiled")
    g(np.ones(3))
    g(np.ones(3))
    assert seen == [3.0, 3.0]
    assert g.lower(np.ones(3)).tier == "numpy"
    assert "side effects" in g.lower(np.ones(3)).native_error


def test_auto_compiles_a_hot_signature_in_the_background(monkeypatch):
    monkeypatch.setenv("FUNCGRAD_JIT_HOT_CALLS", "3")
    x0 = np.array([1.0, 0.5])
    f = fg.jit(fg.grad(_ode), backend="auto")     # a loop: ~500x faster compiled
    f(x0)
    stage = f.lower(x0)
    assert stage.tier == "numpy"            # a function called once never pays for LLVM
    f(x0)
    f(x0)                                   # the third call hands it to the compile thread
    assert stage.wait(120) == "compiled", stage.native_error
    assert "numba" in stage.as_text()
    _close(f(x0), fg.grad(_ode)(x0), "auto, compiled")


def test_auto_compiles_for_read_only_arguments_as_they_are_called(monkeypatch):
    """The background compilation sees arguments of the hot call's types: a read-only array
    (as an eager program's constants are) is a numba type of its own, which would otherwise be
    compiled on the calling thread at the first call after the swap."""
    from funcgrad.run import tiers
    monkeypatch.setenv("FUNCGRAD_JIT_HOT_CALLS", "2")
    timings = iter([2e-5, 1e-5])        # NumPy tier 20 us, compiled tier 10 us: swapped in
    monkeypatch.setattr(tiers, "_best_time", lambda fn, args: next(timings))
    x = np.linspace(0.0, 1.0, 40)
    x.flags.writeable = False
    f = fg.jit(lambda x: fnp.sum(fnp.tanh(x) * x), backend="auto")
    f(x)
    f(x)
    stage = f.lower(x)
    assert stage.wait(120) == "compiled", stage.native_error
    f(x)
    kernels = [r.kernel for r in stage.native.regions]
    assert all(len(k.signatures) == 1 and not k.signatures[0][0].mutable for k in kernels)


def test_auto_keeps_the_numpy_tier_where_it_is_faster(monkeypatch):
    from funcgrad.run import tiers
    monkeypatch.setenv("FUNCGRAD_JIT_HOT_CALLS", "2")
    timings = iter([1e-5, 2e-5])        # NumPy tier 10 us, compiled tier 20 us
    monkeypatch.setattr(tiers, "_best_time", lambda fn, args: next(timings))
    x = np.linspace(0.0, 1.0, 30)
    f = fg.jit(lambda x: fnp.sum(fnp.tanh(x) ** 2), backend="auto")
    f(x)
    f(x)
    stage = f.lower(x)
    assert stage.wait(120) == "numpy" and "measured slower" in stage.native_error
    assert "numba" not in stage.as_text()
    _close(f(x), np.sum(np.tanh(x) ** 2), "auto, NumPy tier kept")


def test_the_tiers_are_timed_in_cpu_time_of_the_compile_thread():
    """`auto` times both tiers on the compile thread while the program goes on: waiting (for
    the GIL, for a core) is not the code's time and must not decide which tier runs."""
    import time

    from funcgrad.run import tiers
    waited = tiers._best_time(lambda: time.sleep(0.003), (), budget=0.01)
    assert waited < 0.001

    def spin():
        t = time.perf_counter()
        while time.perf_counter() - t < 0.002:
            pass
    assert 0.0015 < tiers._best_time(spin, (), budget=0.01) < 0.05


def test_backend_choices_and_errors(monkeypatch):
    with pytest.raises(ValueError, match="backend must be one of"):
        fg.jit(lambda x: x, backend="llvm")
    monkeypatch.setenv("FUNCGRAD_JIT_BACKEND", "fast")
    with pytest.raises(ValueError, match="FUNCGRAD_JIT_BACKEND"):
        fg.jit(lambda x: x)
    monkeypatch.setenv("FUNCGRAD_JIT_BACKEND", "auto")
    monkeypatch.setattr(native, "available", lambda: False)
    with pytest.raises(ImportError, match=r"pip install 'funcgrad\[fast\]'"):
        fg.jit(lambda x: x, backend="compiled")
    assert fg.jit(lambda x: x).backend == "numpy"      # auto without numba: NumPy code
    assert fg.jit(lambda x: x, backend="numpy")(np.ones(2)).tolist() == [1.0, 1.0]


def test_kernels_are_cached_on_disk_across_processes(tmp_path):
    script = textwrap.dedent("""
        import time, numpy as np, funcgrad as fg, funcgrad.numpy as fnp
        f = fg.jit(fg.grad(lambda x: fnp.sum(fnp.sin(x) * x + x * x)), backend="compiled")
        x = np.linspace(0, 1, 25)
        t = time.perf_counter(); f(x); print(time.perf_counter() - t)
        assert f.lower(x).tier == "compiled"
    """)
    # at the optimisation level users run (at NUMBA_OPT=0, numba cannot cache code that
    # reinterprets float bits, as the kernel's fast sin does)
    env = dict(os.environ, FUNCGRAD_CACHE_DIR=str(tmp_path), NUMBA_OPT="3")
    run = [sys.executable, "-c", script]
    subprocess.run(run, env=env, check=True, capture_output=True, text=True)
    kernels = list((tmp_path / "kernels").glob("funcgrad_kernel_*.py"))
    compiled = list((tmp_path / "kernels" / "__pycache__").glob("*.nbi"))
    assert len(kernels) == 1 and len(compiled) == 1
    stamp = kernels[0].stat().st_mtime_ns
    subprocess.run(run, env=env, check=True, capture_output=True, text=True)
    # the second process found the module and numba's index: nothing was written again
    assert kernels[0].stat().st_mtime_ns == stamp
    assert list((tmp_path / "kernels").glob("funcgrad_kernel_*.py")) == kernels
    # numba's cache does not key on the optimisation level: code compiled at another level
    # is a kernel file of its own, never loaded in place of level 3's (it ran 2x slower)
    subprocess.run(run, env=dict(env, NUMBA_OPT="2"), check=True, capture_output=True,
                   text=True)
    assert len(list((tmp_path / "kernels").glob("funcgrad_kernel_*.py"))) == 2
    assert kernels[0].stat().st_mtime_ns == stamp


def test_a_small_carry_packed_inside_the_loop_is_returned_with_its_last_values():
    """Regression: a small carry packed into an array inside a scan body (for a product) was
    returned after the loop from that packing, one update behind (found by the kernel check
    on 50 Adam steps)."""
    b = np.random.default_rng(3).standard_normal((4, 20)) * 0.1

    def run(w, xs):
        def step(w, x):   # w @ b packs the 4-element carry: b has more than 16 elements
            return w - 0.1 * (b @ (w @ b) + x), fnp.sum(w)
        return fg.scan(step, w, xs)
    w0, xs = np.ones(4), np.random.default_rng(4).standard_normal((6, 4))
    f = fg.jit(run, backend="compiled")
    got = f(w0, xs)
    assert f.lower(w0, xs).tier == "compiled", f.lower(w0, xs).native_error
    _close(got, fg.jit(run, backend="numpy")(w0, xs), "small carry after the loop")


def test_the_fuzzer_s_compiled_oracle_runs_and_agrees():
    from fuzz.oracles import run_oracles
    src = ("def f(x0, x1):\n    v = fnp.tanh(x0 * x1 + 1.0)\n"
           "    return fnp.sum(v * x0, axis=0) + fnp.max(x1)\n")
    rng = np.random.default_rng(5)
    assert run_oracles(src, [rng.standard_normal((3, 4)), rng.standard_normal(4)],
                       oracles=("compiled",)) == []


@pytest.mark.parametrize("k", [0, 1, 2, 7, -1])
def test_switch_inside_a_loop_is_an_if_chain_in_the_kernel(k):
    """cond/switch in a loop body: the loop stays native; an out-of-range index is clamped by
    switch, a negative one as well."""
    def f(x, k):
        def body(i, c):
            return fg.switch(k, [lambda c: c * 1.01, lambda c: fnp.sin(c) + c,
                                 lambda c: c - 0.1 * c ** 2], c)
        return fnp.sum(fg.fori_loop(0, 50, body, x))
    x = np.array([0.3, 0.7, 1.1])
    g = fg.jit(fg.value_and_grad(f), backend="compiled")
    got = g(x, k)
    stage = g.lower(x, k)
    assert stage.tier == "compiled" and len(stage.native.regions) == 1, stage.native_error
    assert "elif" in stage.as_text()
    _close(got, fg.jit(fg.value_and_grad(f), backend="numpy")(x, k), f"switch {k}")


def test_a_region_numba_cannot_compile_runs_as_numpy_code(monkeypatch):
    """Per-region fallback: a kernel numba cannot type (here a sin rule that writes code
    numba refuses) leaves its region to the NumPy code; the other regions stay kernels."""
    from funcgrad.prims.elementwise import sin_p
    monkeypatch.setattr(sin_p, "native", lambda k, args, eqn: f"np.sin({args[0]}, 'x')")

    def f(x):
        y = fnp.sin(x) * 2.0 + x             # region 1: numba refuses it
        z = fnp.sort(y)                       # NumPy code
        return fnp.sum(fnp.exp(z) * z + 1.0)  # region 2: compiles
    x = np.linspace(-1.0, 1.0, 30)
    g = fg.jit(f, backend="compiled")
    np.testing.assert_allclose(g(x), f(x), rtol=1e-13)
    stage = g.lower(x)
    assert stage.tier == "compiled" and len(stage.native.fallbacks) == 1, stage.native_error
    assert "TypingError" in stage.native.fallbacks[0]
    assert "np.sin" not in stage.as_text() and "fast_exp" in stage.as_text()
    np.testing.assert_allclose(g(x), f(x), rtol=1e-13)


# -------------------------------------------------------- vectorisable math and fused loops

def _math_grid(name: str) -> np.ndarray:
    """Dense and random arguments over each function's whole range, with the special ones."""
    rng = np.random.default_rng(17)
    special = [np.inf, -np.inf, np.nan, 0.0, -0.0, 5e-324, -5e-324, 1e-310, -1e-310,
               2.2250738585072014e-308, 1.0, -1.0, np.nextafter(1.0, 0.0), 1.7976931348623157e308]
    if name == "exp":
        grid = [np.linspace(-760.0, 720.0, 400_001), 709.782712893384, 709.7827128933841,
                -745.1332191019411, -745.1332191019412, rng.standard_normal(100_000) * 1e-8]
    elif name == "log":
        grid = [np.exp(np.linspace(-745.0, 709.0, 400_001)), rng.random(100_000) * 2.0,
                1.0 + rng.standard_normal(100_000) * 1e-6, rng.random(1000) * 1e-310]
    elif name == "tanh":
        grid = [np.linspace(-25.0, 25.0, 400_001), 0.625, -0.625, np.nextafter(0.625, 0.0),
                rng.standard_normal(100_000) * 1e-6]
    elif name == "log1p":     # near -1, near 0 (where 1 + x rounds) and up to the largest
        grid = [np.linspace(-1.0, 1.0, 400_001), np.exp(np.linspace(-745.0, 709.0, 200_001)),
                -np.exp(np.linspace(-745.0, 0.0, 100_001)), rng.standard_normal(100_000) * 1e-8,
                -1.0 + rng.random(10_000) * 1e-10, np.nextafter(-1.0, 0.0)]
    elif name == "expm1":     # around each n ln2 where the reduction switches, tiny, overflow
        grid = [np.linspace(-50.0, 720.0, 400_001), np.linspace(-1.0, 1.0, 200_001),
                np.arange(-70, 71) * np.log(2.0), rng.standard_normal(100_000) * 1e-8,
                np.exp(np.linspace(-745.0, 6.5, 100_001)), 709.782712893384, 709.7827128933841]
    else:       # sin, cos: the fast range, and next to the multiples of pi/2 in it
        k = np.arange(-40_000, 40_000) * (np.pi / 2)
        grid = [np.linspace(-65536.0, 65536.0, 400_001), k, np.nextafter(k, np.inf),
                np.nextafter(k, -np.inf)]
        special = [s for s in special if not np.isfinite(s) or abs(s) <= 65536.0]
    return np.concatenate([np.atleast_1d(np.asarray(g, np.float64)) for g in grid]
                          + [np.asarray(special)])


@pytest.mark.parametrize("name,ulps", [("exp", 1), ("log", 2), ("tanh", 2), ("sin", 2),
                                       ("cos", 2), ("log1p", 2), ("expm1", 2)])
def test_fast_math_is_within_ulps_of_numpy(name, ulps):
    """The kernels' vectorisable exp, log, tanh, sin, cos, log1p and expm1 against NumPy's over
    their whole range (subnormals, overflow, infinities, NaN, signed zeros): at most `ulps`
    apart."""
    import numba

    from funcgrad.compile import _numba_math
    fast = getattr(_numba_math, f"fast_{name}")

    @numba.njit(error_model="numpy")
    def apply(x, out):
        for i in range(x.size):
            out[i] = fast(x[i])
    x = _math_grid(name)
    got = np.empty_like(x)
    apply(x, got)
    with np.errstate(all="ignore"):
        want = getattr(np, name)(x)
    assert np.array_equal(np.isnan(got), np.isnan(want)), name
    finite = np.isfinite(want)
    assert np.array_equal(got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)])
    err = np.abs(got[finite] - want[finite]) / np.spacing(np.abs(want[finite]))
    assert err.max() <= ulps, (name, float(err.max()), x[finite][np.argmax(err)])
    zeros = finite & (want == 0)
    assert np.array_equal(np.signbit(got[zeros]), np.signbit(want[zeros])), name


def test_fast_logaddexp_is_within_ulps_of_numpy():
    """logaddexp on pairs from every range, the special values paired with each other: at
    most 2 ulps of the larger argument apart from NumPy's (the result cancels to below both
    arguments when they have opposite signs, and so does NumPy's), infinities and NaNs
    where NumPy's are, and the sign of a zero."""
    import numba

    from funcgrad.compile._numba_math import fast_logaddexp

    @numba.njit(error_model="numpy")
    def apply(a, b, out):
        for i in range(a.size):
            out[i] = fast_logaddexp(a[i], b[i])
    rng = np.random.default_rng(5)
    special = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 5e-324, 1e-310, 1.0, -1.0, 1e308,
                        -1e308, 709.0, -745.0])
    a = np.concatenate([rng.standard_normal(200_000) * 10.0, rng.standard_normal(100_000) * 1e-3,
                        np.linspace(-800.0, 800.0, 100_001), 1e300 * rng.standard_normal(1000),
                        np.tile(special, special.size)])
    b = np.concatenate([rng.standard_normal(200_000) * 10.0,
                        5.0 + rng.standard_normal(100_000) * 1e-3, np.zeros(100_001),
                        1e300 * rng.standard_normal(1000), np.repeat(special, special.size)])
    got = np.empty_like(a)
    apply(a, b, got)
    with np.errstate(all="ignore"):
        want = np.logaddexp(a, b)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    finite = np.isfinite(want)
    assert np.array_equal(got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)])
    larger = np.maximum(np.where(np.isfinite(a), np.abs(a), 0.0),
                        np.where(np.isfinite(b), np.abs(b), 0.0))
    scale = np.maximum(np.abs(want), larger)[finite]
    err = np.abs(got[finite] - want[finite]) / np.spacing(scale)
    assert err.max() <= 2, (float(err.max()), a[finite][np.argmax(err)], b[finite][np.argmax(err)])
    zeros = finite & (want == 0)
    assert np.array_equal(np.signbit(got[zeros]), np.signbit(want[zeros]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_an_elementwise_chain_is_one_loop_nest(dtype):
    """Elementwise operations on arrays (broadcast operands of every rank, a 0-d one and a
    small one included) become one loop over the elements calling the vectorisable functions
    and Python's arithmetic operators; values and gradients agree with the NumPy tier."""
    def f(x, y, s, z, b):
        u = fnp.tanh(x * y + s) * fnp.exp(-z) + fnp.log(fnp.abs(x) + 1.0)
        v = fnp.logaddexp(x, z) * fnp.log1p(fnp.abs(x * z)) + fnp.expm1(-fnp.abs(x * b))
        return fnp.sum(fnp.sin(u) * fnp.cos(x) - u * b + v)
    rng = np.random.default_rng(3)
    # y and b have 8 elements (unrolled scalars in the kernel), z is a column of 20
    args = (rng.standard_normal((20, 8)).astype(dtype), rng.standard_normal(8).astype(dtype),
            dtype(0.3), rng.standard_normal((20, 1)).astype(dtype),
            rng.standard_normal(8).astype(dtype))
    g = fg.jit(fg.value_and_grad(f, argnums=(0, 1, 3)), backend="compiled")
    got = g(*args)
    stage = g.lower(*args)
    text = stage.as_text()
    assert stage.tier == "compiled", stage.native_error
    for fn in ("fast_tanh", "fast_exp", "fast_log", "fast_sin", "fast_cos", "fast_logaddexp",
               "fast_log1p", "fast_expm1"):
        assert fn in text, fn
    assert "np.tanh(" not in text and "for j" in text
    # float arithmetic on elements is written with operators (quicker for numba to type)
    assert "np.multiply(" not in text and "np.add(" not in text and " * " in text
    want = fg.jit(fg.value_and_grad(f, argnums=(0, 1, 3)), backend="numpy")(*args)
    for a, b in zip(fg.tree.leaves(got), fg.tree.leaves(want)):
        assert np.asarray(a).dtype == np.asarray(b).dtype
        np.testing.assert_allclose(a, b, rtol=1e-5 if dtype == np.float32 else 1e-12,
                                   atol=1e-5 if dtype == np.float32 else 1e-12)


def test_sin_beyond_the_fast_range_is_redone_by_numpy_code():
    """fast_sin/fast_cos are exact for |x| <= TRIG_LIMIT: a call of the kernel with a larger
    argument (or an infinite one) is redone by the region's NumPy code, and the next call with
    small arguments uses the kernel again."""
    def f(x):
        return fnp.sin(x) * fnp.cos(2.0 * x) + x
    g = fg.jit(f, backend="compiled")
    small = np.linspace(-3.0, 3.0, 50)
    big = small.copy()
    big[[3, 17, 40]] = [1e6, -3e300, np.inf]
    np.testing.assert_allclose(g(small), f(small), rtol=1e-15, atol=1e-15)
    stage = g.lower(small)
    assert stage.tier == "compiled" and "TRIG_LIMIT" in stage.as_text()
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(g(big), fg.jit(f, backend="numpy")(big))
    np.testing.assert_allclose(g(small), f(small), rtol=1e-15, atol=1e-15)


def test_eager_programs_move_to_the_compiled_tier(monkeypatch):
    """The eager executor's whole-call programs are tiered as jitted functions are: with the
    compiled backend both halves of a recorded call run as kernels, and the gradients are the
    NumPy tier's."""
    from funcgrad.run import eager, programs
    monkeypatch.setenv("FUNCGRAD_JIT_BACKEND", "compiled")
    eager.reset()

    def loss(w, x):
        return fnp.sum(fnp.tanh(x @ w) ** 2 + fnp.exp(-fnp.abs(w)).sum())
    rng = np.random.default_rng(4)
    w, x = rng.standard_normal((8, 30)), rng.standard_normal((40, 8))
    g = fg.value_and_grad(loss)
    try:
        # per-primitive rules from the second call, the whole program from the fourth
        results = [g(w, x) for _ in range(6)]
        made = [p for p in programs.programs.values() if p is not programs.GENERAL]
        assert len(made) == 1 and eager.stats()["program_runs"] >= 2
        assert (made[0].fwd.tier, made[0].bwd.tier) == ("compiled", "compiled"), (
            made[0].fwd.native_error, made[0].bwd.native_error)
        assert "fast_tanh" in made[0].fwd.native.source
        # the forward half hands back the input x as a residual (for x.T @ ...) as the NumPy
        # tier does: by reference, not copied (the copy was a pass over x on every call)
        numpy_out, native_out = made[0].fwd.numpy_fn(w, x), made[0].fwd.native.fn(w, x)
        assert any(o is x for o in numpy_out)
        assert [o is x for o in native_out] == [o is x for o in numpy_out]
    finally:
        monkeypatch.setenv("FUNCGRAD_JIT_BACKEND", "numpy")
        eager.reset()
    want = fg.jit(g, backend="numpy")(w, x)
    for got in results:
        _close(got, want, "eager program on the compiled tier")


def test_a_loop_nest_writes_into_an_array_it_reads_for_the_last_time():
    """Buffer reuse inside kernels: a nest that reads a kernel-made array for the last time,
    at the index it writes, writes its result there; an array something else may still see
    (a reshape's view of it, an output) is never overwritten."""
    def chain(x, y):
        a = fnp.tanh(x) * y
        b = fnp.exp(a) + a * a              # a: read twice, dead after this
        return fnp.sin(b) - b               # b: dead after this
    def viewed(x, y):
        a = fnp.tanh(x) * y
        r = fnp.reshape(a, (x.size // 10, 10))  # a view of a's memory in the kernel
        b = fnp.exp(a) + 1.0                # the last read of a: must not write into it
        return b, r
    x, y = np.linspace(-1.0, 1.0, 600), np.linspace(0.5, 2.0, 600)
    g = fg.jit(chain, backend="compiled")
    np.testing.assert_allclose(g(x, y), chain(x, y), rtol=1e-14, atol=1e-14)
    text = g.lower(x, y).as_text()
    assert text.count("np.empty") == 1, text        # a's array then holds b, then the result
    h = fg.jit(viewed, backend="compiled")
    x, y = x[:60], y[:60]                   # small enough for the reshape to be kernel code
    for got, want in zip(h(x, y), viewed(x, y)):
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-14)
    stage = h.lower(x, y)
    assert len(stage.native.regions) == 1 and ".reshape(" in stage.as_text()


def test_outer_products_over_a_length_one_axis_in_kernels():
    """A product over one axis of length 1 is np.outer of the column and the row in a
    kernel (numba's np.dot would call BLAS for one term per element)."""
    rng = np.random.default_rng(6)
    col, row = rng.standard_normal((6, 1)), rng.standard_normal((1, 4))

    def f(a, b):
        return fnp.tanh(a @ b) * 2.0 + (b.T @ a.T).T
    compiled = fg.jit(f, backend="compiled")
    got = compiled(col, row)
    stage = compiled.lower(col, row)
    assert stage.tier == "compiled", stage.native_error
    assert "np.outer(" in stage.as_text() and "np.dot(" not in stage.as_text()
    _close(got, f(col, row), "outer product in a kernel")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_small_solves_and_inverses_are_lu_kernels(dtype):
    """Stacks of small real matrices are solved and inverted by an LU in the kernel (LAPACK's
    unblocked algorithm): transposed views, vector and matrix right-hand sides and a single
    matrix, each NumPy's answer to rounding and in its dtype; gradients as the NumPy tier's."""
    rng = np.random.default_rng(3)
    a = (rng.standard_normal((50, 6, 6)) + 4 * np.eye(6)).astype(dtype)
    b = rng.standard_normal((50, 6, 2)).astype(dtype)

    def f(a, b):
        return (fnp.linalg.solve(a, b), fnp.linalg.inv(a),
                fnp.linalg.solve(fnp.swapaxes(a, -1, -2), b[..., :1]), fnp.linalg.inv(a[0]),
                fnp.linalg.solve(a[0], b[0, :, 0]))
    g = fg.jit(f, backend="compiled")
    got = g(a, b)
    stage = g.lower(a, b)
    assert stage.tier == "compiled" and not stage.native.fallbacks
    assert "small_solve(" in stage.as_text() and "small_inv(" in stage.as_text()
    want = (np.linalg.solve(a, b), np.linalg.inv(a),
            np.linalg.solve(np.swapaxes(a, -1, -2), b[..., :1]), np.linalg.inv(a[0]),
            np.linalg.solve(a[0], b[0, :, 0]))
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for x, y in zip(got, want):
        assert x.dtype == dtype and x.shape == y.shape
        np.testing.assert_allclose(x, y, rtol=tol, atol=tol)

    def loss(a, b):     # W8's: slogdet and a quadratic form, per matrix
        return fg.vmap(lambda a, b: fnp.linalg.slogdet(a)[1] + (b * fnp.linalg.solve(a, b))
                       .sum())(a, b).sum()
    both = [fg.jit(fg.grad(loss, argnums=(0, 1)), backend=k) for k in ("numpy", "compiled")]
    want, got = both[0](a, b[..., 0]), both[1](a, b[..., 0])
    assert both[1].lower(a, b[..., 0]).tier == "compiled"
    for x, y in zip(got, want):
        np.testing.assert_allclose(x, y, rtol=10 * tol, atol=10 * tol)


def test_a_singular_matrix_in_a_kernel_raises_as_numpy_does():
    """An exactly zero pivot sets the kernel's guard: NumPy redoes that call and raises its
    LinAlgError naming the operation and the matrix; the next call uses the kernel again."""
    rng = np.random.default_rng(4)
    a = rng.standard_normal((20, 5, 5)) + 4 * np.eye(5)
    b = rng.standard_normal((20, 5, 1))
    g = fg.jit(lambda a, b: fnp.linalg.solve(a, b) * 2.0 + fnp.linalg.inv(a) @ b,
               backend="compiled")
    np.testing.assert_allclose(g(a, b), 3 * np.linalg.solve(a, b), rtol=1e-12)
    assert g.lower(a, b).tier == "compiled"
    singular = a.copy()
    singular[7] = 0.0
    numpy_tier = fg.jit(lambda a, b: fnp.linalg.solve(a, b) * 2.0 + fnp.linalg.inv(a) @ b,
                        backend="numpy")
    with pytest.raises(np.linalg.LinAlgError) as numpy_err:
        numpy_tier(singular, b)
    with pytest.raises(np.linalg.LinAlgError) as kernel_err:
        g(singular, b)
    assert "singular" in str(kernel_err.value) and "7" in str(kernel_err.value)
    # the same message, but for the user's line (the two calls are on different lines)
    assert str(kernel_err.value).split(" at ")[0] == str(numpy_err.value).split(" at ")[0]
    np.testing.assert_allclose(g(a, b), 3 * np.linalg.solve(a, b), rtol=1e-12)


def test_complex_and_large_solves_stay_lapack_calls():
    rng = np.random.default_rng(5)
    z = rng.standard_normal((4, 3, 3)) + 1j * rng.standard_normal((4, 3, 3)) + 4 * np.eye(3)
    big = rng.standard_normal((2, 40, 40)) + 40 * np.eye(40)

    def f(z, big):
        return fnp.abs(fnp.linalg.inv(z)).sum() * 2.0 + fnp.linalg.inv(big).sum() * 3.0
    g = fg.jit(f, backend="compiled")
    np.testing.assert_allclose(g(z, big), 2 * np.abs(np.linalg.inv(z)).sum()
                               + 3 * np.linalg.inv(big).sum(), rtol=1e-12)
    assert "small_inv(" not in g.lower(z, big).as_text()


def test_kernels_avoid_numbas_slow_to_compile_array_functions():
    """numba compiles its array-into-slice assignment, np.broadcast_to, np.sum/max/min and
    np.dot at a cost of 3, 0.6, 1 and 1 s once per process: scan outputs are stacked by loop
    nests, small broadcasts and row reductions are loop nests, and products call the kernel
    library's disk-cached `dot`. Values as the NumPy tier's, NaNs included."""
    import re
    rng = np.random.default_rng(6)
    wx, wh, xs = rng.standard_normal((3, 5)), rng.standard_normal((5, 5)) * 0.3, \
        rng.standard_normal((7, 4, 3))

    def rnn(wx, wh, xs):
        def step(h, x):
            h = fnp.tanh(x @ wx + h @ wh)
            return h, h
        _, hs = fg.scan(step, np.zeros((4, 5)), xs)
        return fnp.sum(hs * hs)
    g = fg.jit(fg.value_and_grad(rnn, argnums=(0, 1)), backend="compiled")
    got = g(wx, wh, xs)
    text = g.lower(wx, wh, xs).as_text()
    assert g.lower(wx, wh, xs).tier == "compiled"
    assert "dot(" in text and "np.dot(" not in text
    assert not re.search(r"ys\d+\[i\d+\] = [a-z]\w*\s*$", text, re.M)   # no whole-array store
    want = fg.jit(fg.value_and_grad(rnn, argnums=(0, 1)), backend="numpy")(wx, wh, xs)
    for a, b in zip(fg.tree.leaves(got), fg.tree.leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)

    x = rng.standard_normal((6, 9))
    x[1, 4] = x[3, 0] = np.nan
    x[2, 8] = np.inf

    def rows(x, c):
        return fnp.max(x, axis=1) + fnp.min(x, axis=1) * 2.0 + fnp.sum(x * c[:, None], axis=1) \
            + fnp.broadcast_to(c[:, None], (6, 9)).sum(axis=1)
    c = rng.standard_normal(6)
    r = fg.jit(rows, backend="compiled")
    with np.errstate(invalid="ignore"):
        got, want = r(x, c), fg.jit(rows, backend="numpy")(x, c)
    text = r.lower(x, c).as_text()
    assert r.lower(x, c).tier == "compiled" and "np.broadcast_to" not in text
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-13)


@pytest.mark.parametrize("reverse", [False, True])
def test_a_scans_stacked_output_is_written_in_place(reverse):
    """A stacked output that a loop nest computes is written straight into its slice of the
    stack (no copy): also when it is the carry as well, stacked twice, or stacked beside a
    value the body passes through; values and gradients as the NumPy tier's."""
    import re
    rng = np.random.default_rng(7)
    w, xs = rng.standard_normal((6, 6)) * 0.4, rng.standard_normal((9, 5, 6))

    def f(w, xs):
        def step(h, x):
            h = fnp.tanh(h @ w + x)
            return h, (h, 1.0 - h * h, h, x)
        h, (hs, ds, hs2, xs2) = fg.scan(step, np.zeros((5, 6)), xs, reverse=reverse)
        return fnp.sum(h) + fnp.sum(hs * ds) + fnp.sum(hs2 ** 3) + fnp.sum(xs2 * hs)
    g = fg.jit(fg.value_and_grad(f), backend="compiled")
    got = g(w, xs)
    stage = g.lower(w, xs)
    assert stage.tier == "compiled", stage.native_error
    text = stage.as_text()
    assert re.search(r"^\s+t\d+ = ys\d+\[i\d+\]$", text, re.M)    # a view written through
    want = fg.jit(fg.value_and_grad(f), backend="numpy")(w, xs)
    for a, b in zip(fg.tree.leaves(got), fg.tree.leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
