"""Eager reverse mode's lazy programs: a warm call is recorded, compiled whole on its second
sighting, and later calls run the compiled program. Every call must give what the tape (and
jit) give; anything that needs a value must fall back, never reuse a stale program."""
import threading

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.errors import UnexpectedTracerError
from funcgrad.run import eager as executor
from funcgrad.run import programs

CALLS = 6   # call 4 compiles the program; 5 and 6 run it


@pytest.fixture(autouse=True)
def fresh_caches():
    executor.reset()
    yield
    executor.reset()


def _close(a, b, rtol=1e-12):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, a.dtype, b.shape, b.dtype)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-14)


rng = np.random.default_rng(0)
C = rng.uniform(0.5, 1.5, 4)
M = rng.standard_normal((4, 3))
Y = np.eye(3)[[0, 2, 1, 0]]

CASES = {
    "chain": (lambda x: fnp.sum(fnp.tanh(fnp.exp(fnp.sin(x) * C) + x) * 2.0),
              rng.standard_normal(4)),
    "broadcast": (lambda x: fnp.sum(x * rng_const_col + fnp.cos(x)), rng.standard_normal(4)),
    "reductions": (lambda x: fnp.sum(fnp.max(x, axis=1, keepdims=True) * fnp.mean(x, axis=0)),
                   rng.standard_normal((3, 4))),
    "matmul": (lambda x: fnp.sum(fnp.tanh(x @ M) ** 2), rng.standard_normal((2, 4))),
    "shapes": (lambda x: fnp.sum(fnp.concatenate([x.reshape(2, 2).T, x[None, :2]], axis=0)
                                 * 1.5), rng.standard_normal(4)),
    "where_relu": (lambda x: fnp.sum(fnp.where(x > 0, x * x, -x) + fg.nn.relu(x - 0.1)),
                   rng.standard_normal(5)),
    "softmax_ce": (lambda z: fg.nn.softmax_cross_entropy(z, Y), rng.standard_normal((4, 3))),
    "stop_gradient": (lambda x: fnp.sum(x * fg.stop_gradient(fnp.exp(x))),
                      rng.standard_normal(3)),
    "float32": (lambda x: fnp.sum(fnp.sin(x) * np.float32(2.0)),
                rng.standard_normal(3).astype(np.float32)),
}
rng_const_col = rng.standard_normal((3, 1))


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_call_agrees_with_jit(name):
    f, x = CASES[name]
    vg, ref = fg.value_and_grad(f), fg.jit(fg.value_and_grad(f))(x)
    rtol = 1e-5 if x.dtype == np.float32 else 1e-12
    for _ in range(CALLS):
        value, g = vg(x)
        _close(value, ref[0], rtol)
        _close(g, ref[1], rtol)
    if name != "shapes":    # indexing runs eagerly: that call never becomes a program
        assert executor.stats()["programs"] >= 1


def test_programs_see_new_values_of_inputs_and_constants():
    c = np.array([1.0, 2.0, 3.0])

    def f(x, s):
        return fnp.sum(fnp.sin(x) * c * s)

    g = fg.grad(f)
    for k in range(CALLS + 2):
        x = np.array([0.1, -0.4, 0.7]) * (k + 1)
        c[:] = [1.0 + k, 2.0, -k]           # a closed-over array changed in place
        s = 0.5 + k                          # a different Python float each call
        _close(g(x, s), np.cos(x) * c * s)
    assert executor.stats()["programs"] >= 1


def test_value_dependent_python_control_flow_never_reuses_a_stale_program():
    def f(x):
        if fnp.sum(x) > 0:                  # needs a value: the call materialises
            return fnp.sum(x ** 3)
        return fnp.sum(fnp.sin(x))

    g = fg.grad(f)
    for k in range(2 * CALLS):
        x = np.array([0.3, 0.2]) * (1 if k % 2 else -1)
        want = 3 * x ** 2 if x.sum() > 0 else np.cos(x)
        _close(g(x), want)
    assert executor.stats()["programs"] == 0


def test_bool_of_a_traced_comparison_falls_back():
    def f(x):
        y = fnp.exp(x)
        return fnp.sum(y * 2.0) if (y > 1.0).all() else fnp.sum(y)

    g = fg.grad(f)
    for k in range(2 * CALLS):
        x = np.array([0.5, 0.25]) * (1 if k % 2 else -1)
        _close(g(x), np.exp(x) * (2.0 if (np.exp(x) > 1).all() else 1.0))


@pytest.mark.parametrize("n", [1, 3])
def test_structure_chosen_by_a_static_int_gives_separate_programs(n):
    def f(x):
        for _ in range(n):
            x = fnp.sin(x)
        return fnp.sum(x)

    g = fg.grad(f)
    x = np.array([0.2, 0.9])
    want = np.ones(2)
    v = x
    for _ in range(n):
        want, v = want * np.cos(v), np.sin(v)
    for _ in range(CALLS):
        _close(g(x), want)


def test_has_aux_returns_values_every_call():
    def f(x):
        loss = fnp.sum(x ** 2)
        return loss, {"loss": loss, "mean": fnp.mean(x)}

    vg = fg.value_and_grad(f, has_aux=True)
    x = np.array([1.0, -2.0, 3.0])
    for _ in range(CALLS):
        (value, aux), g = vg(x)
        _close(g, 2 * x)
        assert not isinstance(aux["loss"], fg.core.trace.Tracer)
        assert float(aux["loss"]) == 14.0 and float(aux["mean"]) == pytest.approx(2 / 3)


def test_vjp_of_a_program_under_jit_and_vmap():
    def f(x):
        return fnp.sin(x) * x

    x = np.array([0.3, -1.2, 2.0])
    jac = np.diag(np.cos(x) * x + np.sin(x))
    for _ in range(CALLS):
        out, f_vjp = fg.vjp(f, x)
    assert executor.stats()["programs"] >= 1
    _close(out, np.sin(x) * x)
    ct = np.array([1.0, 2.0, -1.0])
    (g1,) = f_vjp(ct)
    (g2,) = f_vjp(ct)
    _close(g1, ct @ jac)
    _close(g2, g1)
    assert g1 is not g2 and not np.shares_memory(g1, ct) and g1.flags.writeable
    _close(fg.jit(lambda c: f_vjp(c)[0])(ct), ct @ jac)
    _close(fg.vmap(lambda c: f_vjp(c)[0])(np.eye(3)), jac)


def test_jacrev_after_warm_up_equals_jacfwd():
    def f(x):
        return fnp.tanh(M.T @ x) * fnp.sum(x)

    x = rng.standard_normal(4)
    want = fg.jacfwd(f)(x)
    for _ in range(CALLS):
        _close(fg.jacrev(f)(x), want)


def test_leaked_value_of_a_lazy_call_is_an_error():
    leaked = []

    def f(x):
        y = fnp.sin(x)
        leaked.append(y)
        return fnp.sum(y)

    g = fg.grad(f)
    x = np.array([0.5, 1.0])
    for _ in range(CALLS):
        g(x)
    with pytest.raises(UnexpectedTracerError):
        fnp.exp(leaked[-1])
    _close(g(x), np.cos(x))


def test_shape_error_after_warm_up_is_reported_and_nothing_breaks():
    flag = {"bad": False}

    def f(x):
        y = fnp.sin(x)
        if flag["bad"]:
            y = y + np.ones(4)
        return fnp.sum(y)

    g = fg.grad(f)
    x = np.array([0.1, 0.2, 0.3])
    for _ in range(CALLS):
        g(x)
    flag["bad"] = True
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)|\(4,\).*\(3,\)"):
        g(x)
    flag["bad"] = False
    _close(g(x), np.cos(x))


def test_higher_order_over_a_warm_inner_grad():
    def f(x):
        return fnp.sum(fnp.sin(x) * x)

    df = fg.grad(f)
    x = np.array([0.4, -0.8])
    for _ in range(CALLS):
        df(x)
    h = np.diag(2 * np.cos(x) - x * np.sin(x))
    for _ in range(CALLS):
        _close(fg.hessian(f)(x), h)
        _close(fg.jvp(df, (x,), (np.array([1.0, 2.0]),))[1], h @ np.array([1.0, 2.0]))
        _close(fg.grad(lambda y: fnp.sum(df(y) ** 2))(x), 2 * h @ df(x))


def test_outputs_without_derivative_give_zero_gradients():
    def f(x):
        return fnp.sum(fg.stop_gradient(x) * 3.0)

    g = fg.grad(f)
    for _ in range(CALLS):
        out = g(np.ones((2, 3), np.float32))
        assert out.dtype == np.float32 and out.shape == (2, 3) and not out.any()


def test_threads_running_programs_agree():
    def make(k):
        return lambda x: fnp.sum(fnp.sin(x * (k + 1)) ** 2)

    results = {}

    def work(k):
        g = fg.grad(make(k))
        x = np.linspace(-1, 1, 3 + k)
        results[k] = [g(x) for _ in range(30)]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        x = np.linspace(-1, 1, 3 + k)
        want = 2 * np.sin(x * (k + 1)) * np.cos(x * (k + 1)) * (k + 1)
        for got in results[k]:
            _close(got, want)


def test_custom_vjp_inside_uses_its_rule_every_call():
    @fg.custom_vjp
    def clip(x):
        return x

    clip.defvjp(lambda x: (x, None), lambda _, ct: (fnp.clip(ct, -1.0, 1.0),))
    g = fg.grad(lambda x: fnp.sum(clip(x) * 5.0))
    for _ in range(CALLS):
        _close(g(np.array([1.0, 2.0])), np.ones(2))


def test_training_loop_matches_jit():
    data_rng = np.random.default_rng(1)
    X, y = data_rng.standard_normal((40, 3)), (data_rng.random(40) > 0.5).astype(float)

    def loss(params):
        w, b = params
        z = X @ w + b
        return fg.nn.binary_cross_entropy_with_logits(z, y)

    opt = fg.optim.sgd(0.5)

    def step(params):
        value, grads = fg.value_and_grad(loss)(params)
        updates, _ = opt.update(grads, opt.init(params), params)
        return fg.optim.apply_updates(params, updates)

    eager = jitted = (np.zeros(3), np.array(0.0))
    jstep = fg.jit(step)
    for _ in range(20):
        eager, jitted = step(eager), jstep(jitted)
    assert executor.stats()["programs"] >= 1
    for a, b in zip(eager, jitted):
        np.testing.assert_allclose(a, b, rtol=1e-10)


def test_long_calls_stay_on_the_tape(monkeypatch):
    monkeypatch.setattr(programs, "MAX_PROGRAM_LENGTH", 10)

    def f(x):
        for _ in range(20):
            x = fnp.sin(x)
        return fnp.sum(x)

    g = fg.grad(f)
    x = np.array([0.3])
    for _ in range(CALLS):
        got = g(x)
    assert executor.stats()["programs"] == 0
    _close(got, fg.jit(fg.grad(f))(x))


def test_same_operations_wired_differently_are_different_programs():
    flag = {"other": True}

    def f(x):
        y, z = fnp.sin(x), fnp.cos(x)
        w = z if flag["other"] else y
        return fnp.sum(y * w + x * 2.0)

    g = fg.grad(f)
    x = np.array([0.3, 1.1])
    for _ in range(CALLS):
        _close(g(x), np.cos(2 * x) + 2.0)           # d/dx sin x cos x
    flag["other"] = False
    for _ in range(CALLS):
        _close(g(x), 2 * np.sin(x) * np.cos(x) + 2.0)   # d/dx sin^2 x


def test_large_constants_are_read_only_while_a_lazy_call_records_them():
    big = np.linspace(0.0, 1.0, 10_000)         # over the copy threshold: protected instead
    mutate = {"on": False}

    def f(x):
        y = fnp.sum(x * big)
        if mutate["on"]:
            big[0] = 5.0                        # would change what was recorded
        return y

    g = fg.grad(f)
    x = np.ones(10_000)
    for _ in range(CALLS):
        _close(g(x), big)
    assert big.flags.writeable                  # released when each call ends
    mutate["on"] = True
    with pytest.raises(ValueError, match="read-only"):
        g(x)
    assert big.flags.writeable and big[0] == 0.0
