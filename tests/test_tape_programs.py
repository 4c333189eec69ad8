"""Eager reverse mode's whole-call programs (funcgrad.compile.tape), call by call.

Once every primitive signature of a call has a compiled rule, eager grad/vjp record the call
lazily; the second sighting of the same recording compiles it whole, and later calls run the
compiled program. Typically call 1 and 2 run on the tape, call 3 records then materialises,
call 4 compiles, calls 5+ run the program. These tests call each function six times and check
that every call gives the same values (as the first call, as jit and as the analytic or
finite-difference derivative), shapes and dtypes; that programs see new input and constant
values; that anything needing a value (Python control flow, has_aux, custom_vjp) never reuses
a stale program; and the failure modes: leaked tracers, shape errors, threads.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.core.trace import EVAL, Tracer, current_trace
from funcgrad.errors import UnexpectedTracerError
from funcgrad.run import eager as executor

RTOL = 1e-12
CALLS = 6           # 1-2 tape, 3 records and materialises, 4 compiles, 5-6 run the program


@pytest.fixture(autouse=True)
def fresh_tape():
    """Empty rule and program caches before each test; no transformation left current."""
    executor.reset()
    yield
    assert current_trace() is EVAL


@pytest.fixture
def program_runs(monkeypatch):
    """Counts the calls that ran a compiled program (`executor._run_program`)."""
    count = [0]
    real = executor._run_program

    def counting(*args, **kwargs):
        count[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(executor, "_run_program", counting)
    return count


def assert_tree_close(got, expected, rtol=RTOL, atol=0.0):
    """Same structure, shapes and dtypes; values allclose (tight by default)."""
    assert fg.tree.structure(got) == fg.tree.structure(expected)
    for g, e in zip(fg.tree.leaves(got), fg.tree.leaves(expected), strict=True):
        assert type(g) is np.ndarray, type(g)
        e = np.asarray(e)
        assert g.shape == e.shape, (g.shape, e.shape)
        assert g.dtype == e.dtype, (g.dtype, e.dtype)
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol)


def numeric_grad(f, x, eps=1e-6):
    """Central differences of a scalar NumPy-valued function of one float64 array."""
    x = np.asarray(x, np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (float(f(x + e)) - float(f(x - e))) / (2 * eps)
    return g


# ------------------------------------------------------- 1. every call agrees, on many kinds

_rng = np.random.default_rng(20240611)
C5 = _rng.uniform(0.5, 1.5, 5)
M43 = _rng.standard_normal((4, 3))
V8 = _rng.standard_normal(8)
X62 = _rng.standard_normal((6, 3))
IDX5 = np.array([0, 3, 1, 2, 4])
LABELS4 = np.array([0, 2, 1, 2])
Y43 = np.eye(3)[[1, 0, 2, 2]]


def f_elementwise(x):
    y = fnp.tanh(fnp.exp(fnp.sin(x) * C5) + 2.0 * x - 0.5) ** 2 / 3.0
    return fnp.sum(y + x * x * C5 - 1 + fnp.log1p(x * x) * np.float64(0.25) + fnp.sqrt(C5 + x * x))


def f_broadcast(a, b):
    return fnp.sum(a * b + fnp.exp(a - b) / (1.0 + b * b) + (a - 0.5) ** 2)


def f_reductions(x):
    m = fnp.max(x, axis=1, keepdims=True)
    s = fnp.sum(x * x, axis=0)
    return (fnp.sum(m * fnp.mean(x, axis=0)) + fnp.sum(fnp.exp(x - m), axis=(0, 1))
            + fnp.sum(fnp.sin(s)) + fnp.mean(fnp.sum(x, axis=-1, keepdims=True) ** 2))


def f_linear_algebra(x):
    y = fnp.tanh(x @ M43)
    z = fnp.einsum("ij,jk->ik", x, M43) * 0.5
    return fnp.sum(y ** 2 + z) + fnp.dot(fnp.reshape(x, (8,)), V8)


def f_shapes(x):
    y = fnp.concatenate([fnp.transpose(x.reshape(3, 2)), fnp.sin(x) * 2.0], axis=1)
    return fnp.sum(fnp.cos(y) * fnp.reshape(y, (3, 4)).T.reshape(2, 6))


def f_where_relu(x):
    return fnp.sum(fnp.where(x > 0, x * x, -x) + fnp.maximum(x, 0.3) + fg.nn.relu(x - 0.1)
                   + fnp.minimum(x * 2.0, fnp.exp(x)))


def f_nn_losses(z):
    return (fnp.sum(fg.nn.logsumexp(z, axis=1)) + fg.nn.softmax_cross_entropy(z, LABELS4)
            + fg.nn.softmax_cross_entropy(z, Y43) * 0.5)


def f_stop_gradient(x):
    return fnp.sum(x * fg.stop_gradient(fnp.exp(x)) + fg.stop_gradient(x) ** 2 * x)


def f_integer_comparisons(x):
    k = fnp.astype(fnp.floor(x * 3.0), np.int64)          # traced integers, no derivative
    odd = (k % 2) == 1
    return fnp.sum(fnp.where(odd, x * x, fnp.sin(x)) + fnp.where(IDX5 >= 2, x * 3.0, 0.0)
                   + fnp.where(k > 0, 1.0, x))


def f_float32(x):
    return fnp.sum(fnp.sin(x) * np.float32(2.0) + x * 0.5 + fnp.exp(x / 4.0))


def f_multiple_arguments(x, y, s, z):
    return fnp.sum(fnp.sin(x) * y * s + fnp.tanh(z) * x + z ** 2)


def f_pytree(params, data):
    h = fnp.tanh(data @ params["w"] + params["b"])
    return fnp.mean(h ** 2) + 0.1 * fnp.sum(params["w"] ** 2) + fnp.sum(params["b"]) * 0.5


CASES = {
    "elementwise": (f_elementwise, (_rng.standard_normal(5),), 0),
    "broadcast": (f_broadcast, (_rng.standard_normal((3, 1)), _rng.standard_normal(4)), (0, 1)),
    "reductions": (f_reductions, (_rng.standard_normal((3, 4)),), 0),
    "linear_algebra": (f_linear_algebra, (_rng.standard_normal((2, 4)),), 0),
    "shapes": (f_shapes, (_rng.standard_normal((2, 3)),), 0),
    "where_relu": (f_where_relu, (_rng.standard_normal(7),), 0),
    "nn_losses": (f_nn_losses, (_rng.standard_normal((4, 3)),), 0),
    "stop_gradient": (f_stop_gradient, (_rng.standard_normal(4),), 0),
    "integer_comparisons": (f_integer_comparisons, (_rng.standard_normal(5),), 0),
    "float32": (f_float32, (_rng.standard_normal((2, 3)).astype(np.float32),), 0),
    "multiple_arguments": (f_multiple_arguments, (_rng.standard_normal(3), _rng.standard_normal(3),
                                                  1.5, _rng.standard_normal(3)), (0, 3)),
    "pytree": (f_pytree, ({"w": _rng.standard_normal((3, 2)), "b": _rng.standard_normal(2)},
                          X62), 0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_call_agrees_with_the_first_and_with_jit(name, program_runs):
    f, args, argnums = CASES[name]
    copies = fg.tree.map(np.copy, args)
    vg = fg.value_and_grad(f, argnums=argnums)
    ref = fg.jit(fg.value_and_grad(f, argnums=argnums))(*args)
    rtol = 1e-6 if name == "float32" else RTOL
    first = None
    for call in range(1, CALLS + 1):
        value, g = vg(*args)
        if call == 5:
            assert executor.stats()["programs"] >= 1
        assert type(value) is np.ndarray and value.shape == ()
        diff = args[argnums] if isinstance(argnums, int) else tuple(args[i] for i in argnums)
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
        assert_tree_close((value, g), ref, rtol=rtol, atol=1e-12 if rtol == RTOL else 1e-6)
    assert program_runs[0] >= 2        # calls 5 and 6 ran the compiled program
    for a, c in zip(fg.tree.leaves(args), fg.tree.leaves(copies), strict=True):
        np.testing.assert_array_equal(a, c)        # inputs never written


def test_gradient_of_each_case_matches_finite_differences():
    """The shared reference (jit) is itself right: one float64 case per kind, checked against
    central differences after the program is warm."""
    for name in ("elementwise", "reductions", "linear_algebra", "shapes", "nn_losses",
                 "where_relu", "integer_comparisons"):
        f, (x,), _ = CASES[name]
        g = fg.grad(f)
        for _ in range(CALLS):
            got = g(x)
        want = numeric_grad(fg.jit(f), x)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7, err_msg=name)


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
    assert executor.stats()["programs"] >= 1
    np.testing.assert_array_equal(x, x0)


# ------------------------------------------------------- 2. programs see new values

def test_programs_see_new_inputs_and_mutated_constants(program_runs):
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
        fd = numeric_grad(lambda v, s=s: np.sum(np.sin(v) * c * s + np.exp(v * s) + v * c[0]), x)
        np.testing.assert_allclose(g(x, s), fd, rtol=1e-6, atol=1e-6)
    assert executor.stats()["programs"] >= 1
    assert program_runs[0] >= 4


def test_programs_see_new_python_and_numpy_scalar_constants(program_runs):
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
    assert program_runs[0] >= 4


def test_programs_see_a_changing_integer_exponent():
    """x ** k for a closed-over Python int k changing between calls: every exponent gives its
    own derivative."""
    box = {"k": 2}

    def f(x):
        return fnp.sum(x ** box["k"] * 2.0)

    g = fg.grad(f)
    x = np.array([0.5, 1.5, -2.0])
    for k in [2, 3] * 5 + [4, 4, 4, 4, 4, 2, 3, 1]:
        box["k"] = k
        np.testing.assert_allclose(g(x), 2.0 * k * x ** (k - 1), rtol=RTOL)


def test_new_values_of_a_non_differentiated_array_argument():
    def f(x, y):
        return fnp.sum(fnp.tanh(x * y) + x @ fnp.reshape(y, (3, 1)))

    g = fg.grad(f)
    for k in range(10):
        x = np.array([0.2, -0.1, 0.4]) + 0.1 * k
        y = np.array([1.0, -2.0, 0.5]) * (1 + k % 3)
        want = (1 - np.tanh(x * y) ** 2) * y + 3 * y      # the (1,) product broadcasts to (3,)
        np.testing.assert_allclose(g(x, y), want, rtol=RTOL)


def test_new_keyword_values_and_one_array_passed_as_two_arguments():
    def f(a, b, scale=1.0):
        return fnp.sum(fnp.sin(a) * b * scale)

    x = np.array([0.3, -0.7])
    for k in range(10):
        ga, gb = fg.grad(f, argnums=(0, 1))(x, x, scale=float(k))
        np.testing.assert_allclose(ga, np.cos(x) * x * k, rtol=RTOL)
        np.testing.assert_allclose(gb, np.sin(x) * k, rtol=RTOL)
        assert not np.shares_memory(ga, gb)
    assert executor.stats()["programs"] >= 1


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


def test_alternating_dtypes_of_one_function():
    def f(x):
        return fnp.sum(fnp.sin(x) * 2.0 + x * x)

    x = np.array([0.3, -0.7, 1.2])
    for k in range(12):
        xx = x.astype(np.float32) if k % 2 else x
        g = fg.grad(f)(xx)
        assert g.dtype == xx.dtype and g.shape == (3,)
        np.testing.assert_allclose(g, 2 * np.cos(xx) + 2 * xx, rtol=1e-6 if k % 2 else RTOL)
    assert executor.stats()["programs"] >= 2


# ------------------------------------------------------- 3. value-dependent control flow

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


# ------------------------------------------------------- 4. structure chosen by a static int

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


# ------------------------------------------------------- 5. has_aux

def test_has_aux_values_are_plain_arrays_every_call():
    def f(x, c):
        y = fnp.sin(x) * c
        loss = fnp.sum(y ** 2)
        return loss, {"loss": loss, "y": y, "mean": fnp.mean(x), "count": 3, "note": "ok"}

    vg = fg.value_and_grad(f, has_aux=True)
    for k in range(CALLS):
        x = np.array([0.5, -1.0, 2.0]) + 0.1 * k
        c = 1.0 + k
        (value, aux), g = vg(x, c)
        y = np.sin(x) * c
        np.testing.assert_allclose(value, np.sum(y ** 2), rtol=RTOL)
        np.testing.assert_allclose(g, 2 * y * np.cos(x) * c, rtol=RTOL)
        for leaf in (aux["loss"], aux["y"], aux["mean"]):
            assert isinstance(leaf, np.ndarray | np.generic) and not isinstance(leaf, Tracer)
        np.testing.assert_allclose(aux["loss"], np.sum(y ** 2), rtol=RTOL)
        np.testing.assert_allclose(aux["y"], y, rtol=RTOL)
        np.testing.assert_allclose(aux["mean"], np.mean(x), rtol=RTOL)
        assert aux["count"] == 3 and aux["note"] == "ok"
        g2, aux2 = fg.grad(f, has_aux=True)(x, c)
        np.testing.assert_allclose(g2, g, rtol=RTOL)
        assert not isinstance(aux2["y"], Tracer)


def test_vjp_with_has_aux():
    def f(x):
        y = fnp.exp(x)
        return y * 2.0, fnp.sum(y)

    x = np.array([0.1, 0.2, -0.3])
    for _ in range(CALLS):
        out, f_vjp, aux = fg.vjp(f, x, has_aux=True)
        assert not isinstance(aux, Tracer)
        np.testing.assert_allclose(aux, np.sum(np.exp(x)), rtol=RTOL)
        np.testing.assert_allclose(out, 2 * np.exp(x), rtol=RTOL)
        np.testing.assert_allclose(f_vjp(np.ones(3))[0], 2 * np.exp(x), rtol=RTOL)


# ------------------------------------------------------- 6. vjp functions of programs

def test_vjp_of_a_program_twice_under_jit_and_under_vmap(program_runs):
    def f(x):
        return fnp.sin(x) * x + fnp.exp(x * 0.5)

    x = np.array([0.3, -1.2, 2.0, 0.7])
    jac = np.diag(np.cos(x) * x + np.sin(x) + 0.5 * np.exp(x * 0.5))
    for _ in range(CALLS):
        out, f_vjp = fg.vjp(f, x)
        np.testing.assert_allclose(out, np.sin(x) * x + np.exp(x * 0.5), rtol=RTOL)
    assert executor.stats()["programs"] >= 1 and program_runs[0] >= 2
    ct1, ct2 = np.array([1.0, 2.0, -1.0, 0.5]), np.array([-3.0, 0.0, 4.0, 1.0])
    (g1,) = f_vjp(ct1)
    kept = g1.copy()
    (g2,) = f_vjp(ct2)
    (g1b,) = f_vjp(ct1)
    np.testing.assert_allclose(g1, ct1 @ jac, rtol=RTOL)
    np.testing.assert_allclose(g2, ct2 @ jac, rtol=RTOL)
    np.testing.assert_allclose(g1b, ct1 @ jac, rtol=RTOL)
    np.testing.assert_array_equal(g1, kept)                # not overwritten by later calls
    for g, ct in ((g1, ct1), (g2, ct2), (g1b, ct1)):
        assert type(g) is np.ndarray and g.flags.writeable and g.dtype == np.float64
        assert not np.shares_memory(g, ct) and not np.shares_memory(g, x)
        assert not np.shares_memory(g, out)
    assert not np.shares_memory(g1, g2) and not np.shares_memory(g1, g1b)
    g1[...] = 99.0                                          # owned: writing changes nothing else
    np.testing.assert_allclose(f_vjp(ct2)[0], ct2 @ jac, rtol=RTOL)
    np.testing.assert_allclose(fg.jit(lambda c: f_vjp(c)[0])(ct2), ct2 @ jac, rtol=RTOL)
    cts = np.stack([ct1, ct2, np.eye(4)[2]])
    np.testing.assert_allclose(fg.vmap(lambda c: f_vjp(c)[0])(cts), cts @ jac, rtol=RTOL)
    np.testing.assert_allclose(fg.vmap(lambda c: f_vjp(c)[0])(np.eye(4)), jac, rtol=RTOL)


def test_vjp_of_a_program_with_two_inputs_gives_distinct_owned_cotangents():
    def f(x, y):
        return x + y * 1.0

    x, y = np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.25, -1.0])
    for _ in range(CALLS):
        out, f_vjp = fg.vjp(f, x, y)
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
    assert executor.stats()["programs"] >= 1
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
    assert executor.stats()["programs"] >= 1


# ------------------------------------------------------- 7. jacrev

def test_jacrev_after_warm_up_equals_jacfwd():
    def f(x):
        return fnp.tanh(M43.T @ x) * fnp.sum(x) + fnp.exp(x[:3] * 0.0 + x[1])

    def g(x):
        return fnp.tanh(M43.T @ x) * fnp.sum(x * x)

    for fun in (f, g):
        x = _rng.standard_normal(4)
        want = fg.jacfwd(fun)(x)
        for _ in range(CALLS):
            got = fg.jacrev(fun)(x)
            assert got.shape == (3, 4) and got.dtype == np.float64
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_jacrev_of_two_arguments_after_warm_up():
    def f(x, w):
        return fnp.sin(x @ w)

    x, w = np.array([0.3, -0.5]), np.array([[1.0, 2.0, 0.5], [-1.0, 0.2, 0.1]])
    want = fg.jacfwd(f, argnums=(0, 1))(x, w)
    for _ in range(CALLS):
        got = fg.jacrev(f, argnums=(0, 1))(x, w)
        assert_tree_close(got, want, rtol=1e-12, atol=1e-14)


# ------------------------------------------------------- 8. leaked tracers

def test_leaked_tracer_of_a_lazy_call_is_an_error_and_grad_still_works(program_runs):
    leaked = []

    def f(x):
        y = fnp.sin(x) * 2.0
        leaked.append(y)
        return fnp.sum(y * x)

    g = fg.grad(f)
    x = np.array([0.5, 1.0])
    want = 2 * np.cos(x) * x + 2 * np.sin(x)
    for _ in range(CALLS):
        np.testing.assert_allclose(g(x), want, rtol=RTOL)
    assert program_runs[0] >= 2
    t = leaked[-1]                              # from a call that ran the program
    assert isinstance(t, executor.TapeTracer)
    with pytest.raises(UnexpectedTracerError):
        fnp.exp(t)
    with pytest.raises(UnexpectedTracerError):
        t + 1.0
    for _ in range(2):                          # again: a rule may be cached by now
        with pytest.raises(UnexpectedTracerError):
            fg.grad(lambda v: fnp.sum(v * t))(x)
    with pytest.raises(UnexpectedTracerError):
        fg.jit(lambda v: fnp.sum(v * t))(x)
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


# ------------------------------------------------------- 9. errors

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
    flag["bad"] = True
    for _ in range(3):                          # general path, then a failed rule: same error
        with pytest.raises(ValueError) as info:
            g(x)
        msg = str(info.value)
        assert "(3,)" in msg and "(4,)" in msg, msg
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


# ------------------------------------------------------- 10. higher order over a warm grad

def test_grad_of_grad_and_hessian_vector_products_over_a_warm_inner_grad():
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


def test_grad_of_grad_of_a_scalar_over_many_calls():
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


# ------------------------------------------------------- 11. outputs without derivative

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


def test_constant_output_that_changes_between_calls():
    box = {"v": 0.0}
    vg = fg.value_and_grad(lambda x: box["v"] + fnp.sum(fg.stop_gradient(x)))
    for k in range(10):
        box["v"] = float(k)
        value, g = vg(np.ones(2))
        np.testing.assert_allclose(value, k + 2.0, rtol=RTOL)
        assert g.shape == (2,) and not g.any()


def test_zero_gradient_for_one_argument_of_two():
    def f(x, y):
        return fnp.sum(fnp.sin(x)) + fnp.sum(fg.stop_gradient(y) * 2.0)

    x, y = np.array([0.1, 0.2]), np.array([1.0, 2.0, 3.0])
    for _ in range(CALLS):
        gx, gy = fg.grad(f, argnums=(0, 1))(x, y)
        np.testing.assert_allclose(gx, np.cos(x), rtol=RTOL)
        assert gy.shape == (3,) and gy.dtype == np.float64 and not gy.any()


# ------------------------------------------------------- 12. threads

def _thread_function(k):
    def f(x):
        y = fnp.sin(x * (k + 1.0)) ** 2 + fnp.tanh(x) * k
        return fnp.sum(y) + fnp.sum(x * x) * 0.5
    return f


_THREAD_SHAPES = [(3,), (2, 4), (5,), (3, 3)]


def _run_in_threads(work, n: int) -> None:
    threads = [threading.Thread(target=work, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_threads_running_programs_agree_with_one_thread():
    xs = [np.linspace(-1.0, 1.0, int(np.prod(s))).reshape(s) for s in _THREAD_SHAPES]
    single = [fg.grad(_thread_function(k))(xs[k]) for k in range(4)]
    executor.reset()
    results, errors = {}, []
    barrier = threading.Barrier(4)

    def work(k):
        try:
            g = fg.grad(_thread_function(k))
            barrier.wait()
            results[k] = [g(xs[k]) for _ in range(30)]
        except BaseException as err:      # reported in the main thread
            errors.append(err)

    _run_in_threads(work, 4)
    assert not errors, errors
    assert executor.stats()["programs"] >= 1
    for k in range(4):
        x = xs[k]
        want = (2 * np.sin(x * (k + 1)) * np.cos(x * (k + 1)) * (k + 1)
                + k * (1 - np.tanh(x) ** 2) + x)
        np.testing.assert_allclose(single[k], want, rtol=RTOL)
        assert len(results[k]) == 30
        for got in results[k]:
            assert got.shape == x.shape and got.dtype == np.float64
            np.testing.assert_allclose(got, single[k], rtol=RTOL)


def test_threads_sharing_one_function_with_different_shapes():
    f = _thread_function(2)
    xs = [np.linspace(-1.0, 1.0, int(np.prod(s))).reshape(s) for s in _THREAD_SHAPES]
    single = [fg.jit(fg.grad(f))(x) for x in xs]
    results, errors = {}, []
    barrier = threading.Barrier(4)

    def work(k):
        try:
            g = fg.value_and_grad(f)
            barrier.wait()
            results[k] = [g(xs[k])[1] for _ in range(30)]
        except BaseException as err:
            errors.append(err)

    _run_in_threads(work, 4)
    assert not errors, errors
    for k in range(4):
        for got in results[k]:
            np.testing.assert_allclose(got, single[k], rtol=RTOL)


# ------------------------------------------------------- 13. custom_vjp, checkpoint, control flow

def test_custom_vjp_inside_uses_its_rule_every_call(program_runs):
    calls = {"fwd": 0, "bwd": 0}

    @fg.custom_vjp
    def clip_gradient(x):
        return x

    def fwd(x):
        calls["fwd"] += 1
        return x, None

    def bwd(_, ct):
        calls["bwd"] += 1
        return (fnp.clip(ct, -1.0, 1.0),)

    clip_gradient.defvjp(fwd, bwd)

    def f(x):
        return fnp.sum(clip_gradient(fnp.sin(x) * 2.0) * 5.0) + fnp.sum(x * x)

    vg = fg.value_and_grad(f)
    for k in range(CALLS):
        x = np.array([1.0, 2.0, -0.5]) * (1 + 0.1 * k)
        value, g = vg(x)
        np.testing.assert_allclose(value, np.sum(np.sin(x) * 10.0) + np.sum(x * x), rtol=RTOL)
        # true derivative would be 10 cos(x) + 2x; the rule clips the cotangent 5 to 1
        np.testing.assert_allclose(g, 2 * np.cos(x) + 2 * x, rtol=RTOL)
        assert calls["fwd"] == k + 1 and calls["bwd"] == k + 1
    assert program_runs[0] == 0
    assert executor.stats()["programs"] == 0


def test_checkpoint_inside_over_many_calls():
    inner = fg.checkpoint(lambda x: fnp.sin(fnp.sin(x)) * 2.0)

    def f(x):
        return fnp.sum(inner(x * 1.5))

    g = fg.grad(f)
    x = np.array([0.2, -0.7, 1.1])
    want = 2.0 * np.cos(np.sin(1.5 * x)) * np.cos(1.5 * x) * 1.5
    for _ in range(CALLS):
        np.testing.assert_allclose(g(x), want, rtol=RTOL)


def test_control_flow_primitives_and_indexing_inside_over_many_calls():
    def f(x):
        y = fg.cond(fnp.sum(x) > 0, lambda v: v * 2.0, lambda v: fnp.sin(v), x)
        z = fg.fori_loop(0, 3, lambda i, v: v * 0.5 + y, x)
        return fnp.sum(z * y) + x[1] ** 2 + fnp.sum(x.at[0].set(0.0))

    for k in range(CALLS * 2):
        x = np.array([0.3, -0.4, 0.5]) * (1 if k % 2 else -1)
        want = numeric_grad(lambda v: fg.jit(f)(v), x)
        np.testing.assert_allclose(fg.grad(f)(x), fg.jit(fg.grad(f))(x), rtol=RTOL)
        np.testing.assert_allclose(fg.grad(f)(x), want, rtol=1e-6, atol=1e-8)


# ------------------------------------------------------- 14. a training loop

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
    assert executor.stats()["programs"] >= 1
    assert e_losses[-1] < e_losses[0]
    np.testing.assert_allclose(e_losses, j_losses, rtol=1e-10)
    for key in ("w", "b"):
        assert eager[key].shape == init[key].shape and eager[key].dtype == np.float64
        np.testing.assert_allclose(eager[key], jitted[key], rtol=1e-10, atol=1e-14)
