"""grad, value_and_grad, vjp, jvp on exact cases: the seeds' examples, composition, custom rules,
checkpointing, dtypes and shapes of gradients, error messages, and a 100,000-equation chain."""
from __future__ import annotations

import time

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.core.trace import EVAL, current_trace
from funcgrad.errors import ConcretizationError, UnexpectedTracerError
from funcgrad.transforms.ad import linearize_flat
from funcgrad.transforms.interpret import eval_graph


@pytest.fixture(autouse=True)
def trace_state_is_clean():
    """Whatever a test does (errors included), no transformation is left current."""
    yield
    assert current_trace() is EVAL
    assert fg.grad(lambda x: x ** 2)(3.0) == 6.0


def sigmoid(z):
    return 1.0 / (1.0 + fnp.exp(-z))


def binary_cross_entropy(p, y):
    return -(y * fnp.log(p) + (1.0 - y) * fnp.log(1.0 - p))


# ---------------------------------------------------------------- the seeds' examples

def test_square():
    df = fg.grad(lambda x: x ** 2)
    assert df(2.0) == 4.0
    assert df(3.0) == 6.0


def test_chain_rule_sin_of_square():
    df = fg.grad(lambda x: fnp.sin(x ** 2))
    for x in [0.0, 0.5, 1.0, -2.0, 3.0]:
        np.testing.assert_allclose(df(x), 2 * x * np.cos(x ** 2), rtol=1e-14, atol=1e-14)


def test_chain_rule_exp_sin_square():
    df = fg.grad(lambda x: fnp.exp(fnp.sin(x ** 2)))
    x = 0.7
    np.testing.assert_allclose(df(x), np.exp(np.sin(x ** 2)) * np.cos(x ** 2) * 2 * x,
                               rtol=1e-14)


def test_logistic_regression():
    x1, y = np.array(1.1), np.array(1.0)

    def loss(w1, b):
        return binary_cross_entropy(sigmoid(x1 * w1 + b), y)

    value, (dw, db) = fg.value_and_grad(loss, argnums=(0, 1))(np.array(2.2), np.array(0.0))
    assert round(float(value), 4) == 0.0852
    y_hat = 1.0 / (1.0 + np.exp(-(1.1 * 2.2)))
    np.testing.assert_allclose(dw, (y_hat - 1.0) * 1.1, rtol=1e-12)
    np.testing.assert_allclose(db, y_hat - 1.0, rtol=1e-12)


def test_one_layer_network_with_logits():
    # z = x @ w + b; the mean binary cross-entropy with logits, against hand-derived gradients.
    rng = np.random.default_rng(0)
    x, y = np.ones(5), np.zeros(3)
    w, b = rng.standard_normal((5, 3)), rng.standard_normal(3)

    def loss(w, b):
        return fnp.mean(binary_cross_entropy(sigmoid(fnp.matmul(x, w) + b), y))

    dw, db = fg.grad(loss, argnums=(0, 1))(w, b)
    p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
    np.testing.assert_allclose(db, (p - y) / 3, rtol=1e-12)
    np.testing.assert_allclose(dw, np.outer(x, (p - y) / 3), rtol=1e-12)


def test_mean_of_squares():
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(fg.grad(lambda x: fnp.mean(x ** 2))(x), 2 * x / 3, rtol=1e-15)


def test_vjp_of_square_with_ones():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    out, f_vjp = fg.vjp(lambda x: x ** 2, x)
    np.testing.assert_array_equal(out, x ** 2)
    (ct,) = f_vjp(np.ones_like(x))
    np.testing.assert_array_equal(ct, 2 * x)


def test_product_argnums():
    gx, gy = fg.grad(lambda x, y: x * y, argnums=(0, 1))(2.0, 5.0)
    assert (gx, gy) == (5.0, 2.0)


def test_calling_grad_twice_gives_the_same_answer():
    # No accumulation into a `.grad` field: a function in, a function out.
    df = fg.grad(lambda w: fnp.sum(w * w))
    w = np.array([1.0, -2.0])
    first, second = df(w), df(w)
    np.testing.assert_array_equal(first, 2 * w)
    np.testing.assert_array_equal(second, first)


# ---------------------------------------------------------------- composition

def test_third_derivative():
    np.testing.assert_allclose(fg.grad(fg.grad(fg.grad(fnp.sin)))(0.3), -np.cos(0.3),
                               rtol=1e-14)
    assert fg.grad(fg.grad(fg.grad(lambda x: x ** 4)))(2.0) == 48.0


def test_no_perturbation_confusion():
    assert fg.grad(lambda x: x * fg.grad(lambda y: x * y)(2.0))(1.0) == 2.0
    assert fg.grad(lambda x: x * fg.grad(lambda y: x + y)(2.0))(1.0) == 1.0


def test_forward_over_reverse_and_reverse_over_forward():
    def f(x):
        return fnp.sin(x) * x

    d2 = -np.sin(0.5) * 0.5 + 2 * np.cos(0.5)
    _, fwd_rev = fg.jvp(fg.grad(f), (0.5,), (1.0,))
    rev_fwd = fg.grad(lambda x: fg.jvp(f, (x,), (1.0,))[1])(0.5)
    np.testing.assert_allclose(fwd_rev, d2, rtol=1e-14)
    np.testing.assert_allclose(rev_fwd, d2, rtol=1e-14)


def test_python_control_flow_on_values():
    def f(x):
        if x > 0:
            return x ** 3
        return -2.0 * x

    df = fg.grad(f)
    assert df(2.0) == 12.0
    assert df(-1.0) == -2.0


def test_while_loop_on_values():
    def newton_sqrt(a):
        # Iterate until converged: the loop runs on concrete values, the gradient flows through
        # the iterations actually taken.
        x = a
        while abs(x * x - a) > 1e-12:
            x = 0.5 * (x + a / x)
        return x

    np.testing.assert_allclose(fg.grad(newton_sqrt)(4.0), 0.25, rtol=1e-10)


def test_stop_gradient():
    assert fg.grad(lambda x: x * fg.stop_gradient(x))(3.0) == 3.0
    assert fg.grad(lambda x: fg.stop_gradient(x) ** 2)(3.0) == 0.0
    assert fg.grad(lambda x: x * fnp.stop_gradient(x * x))(2.0) == 4.0
    params = {"a": np.array(1.0), "b": np.array([2.0, 3.0])}
    stopped = fg.stop_gradient(params)
    assert set(stopped) == {"a", "b"}
    np.testing.assert_array_equal(stopped["b"], params["b"])


# ---------------------------------------------------------------- custom_vjp and checkpoint

def _clip_gradient():
    @fg.custom_vjp
    def clip_gradient(x):
        return x

    clip_gradient.defvjp(lambda x: (x, None), lambda res, g: (fnp.clip(g, -1.0, 1.0),))
    return clip_gradient


def test_custom_vjp_rule_is_used():
    clip = _clip_gradient()
    assert fg.grad(lambda x: 5.0 * clip(x))(2.0) == 1.0
    assert fg.grad(lambda x: 0.5 * clip(x))(2.0) == 0.5
    assert clip(3.0) == 3.0


def test_custom_vjp_grad_of_grad():
    @fg.custom_vjp
    def my_sin(x):
        return fnp.sin(x)

    # The residual cos(x) is computed under the outer grad, so the rule is differentiable.
    my_sin.defvjp(lambda x: (fnp.sin(x), fnp.cos(x)), lambda cos_x, g: (cos_x * g,))
    np.testing.assert_allclose(fg.grad(my_sin)(0.4), np.cos(0.4), rtol=1e-15)
    np.testing.assert_allclose(fg.grad(fg.grad(my_sin))(0.4), -np.sin(0.4), rtol=1e-15)


def test_custom_vjp_forward_mode_is_a_clear_error():
    clip = _clip_gradient()
    with pytest.raises(TypeError, match="forward-mode"):
        fg.jvp(clip, (1.0,), (1.0,))


def _rule_only_sin():
    """sin whose body has no derivative at all (stop_gradient): only its rule knows one."""
    @fg.custom_jvp
    def rule_sin(x):
        return fg.stop_gradient(fnp.sin(x))

    @rule_sin.defjvp
    def _(primals, tangents):
        (x,), (t,) = primals, tangents
        return rule_sin(x), rule_cos(x) * t

    @fg.custom_jvp
    def rule_cos(x):
        return fg.stop_gradient(fnp.cos(x))

    @rule_cos.defjvp
    def _(primals, tangents):
        (x,), (t,) = primals, tangents
        return rule_cos(x), -rule_sin(x) * t

    return rule_sin


def test_custom_jvp_rules_apply_at_every_order_and_on_every_path():
    # Every derivative must come from the rules: the second and third pass through a rule
    # called while an inner differentiation evaluates the first (the rule's call is handed
    # on to the outer transformation, as primitives are).
    f = _rule_only_sin()
    x = np.array([0.3, -1.1])
    for _ in range(6):      # the eager executor's regimes change with the call count
        np.testing.assert_allclose(fg.grad(lambda x: fnp.sum(f(x)))(x), np.cos(x), rtol=1e-15)
        np.testing.assert_allclose(fg.grad(fg.grad(f))(0.4), -np.sin(0.4), rtol=1e-15)
        np.testing.assert_allclose(fg.grad(fg.grad(fg.grad(f)))(0.4), -np.cos(0.4),
                                   rtol=1e-15)
        np.testing.assert_allclose(fg.jvp(fg.grad(f), (0.4,), (1.0,))[1], -np.sin(0.4),
                                   rtol=1e-15)
    np.testing.assert_allclose(fg.jit(fg.grad(fg.grad(f)))(0.4), -np.sin(0.4), rtol=1e-15)
    np.testing.assert_allclose(fg.grad(fg.grad(fg.jit(f)))(0.4), -np.sin(0.4), rtol=1e-15)
    np.testing.assert_allclose(fg.vmap(fg.grad(fg.grad(f)))(x), -np.sin(x), rtol=1e-15)
    np.testing.assert_allclose(fg.hessian(lambda x: fnp.sum(f(x)))(x), np.diag(-np.sin(x)),
                               rtol=1e-15)
    np.testing.assert_allclose(fg.jacfwd(f)(x), np.diag(np.cos(x)), rtol=1e-15)


def test_custom_jvp_closing_over_a_traced_value():
    # The function closes over x (a value of the grad trace), not an argument: the rule's
    # call cannot go to the outer trace, and runs where x lives.
    @fg.custom_jvp
    def scaled(y):
        return y

    scaled.defjvp(lambda p, t: (scaled(p[0]), t[0]))

    def f(x):
        g = fg.custom_jvp(lambda y: y * x)
        g.defjvp(lambda p, t: (g(p[0]), t[0] * x))
        return g(2.0) + scaled(x)
    np.testing.assert_allclose(fg.grad(f)(3.0), 3.0)


def _sin_chain(x, n=20):
    for _ in range(n):
        x = fnp.sin(x)
    return x


def test_checkpoint_same_gradient():
    x = np.array([0.3, 1.2])
    g = fg.grad(lambda x: fnp.sum(_sin_chain(x)))(x)
    g_ckpt = fg.grad(lambda x: fnp.sum(fg.checkpoint(_sin_chain)(x)))(x)
    np.testing.assert_allclose(g_ckpt, g, rtol=1e-14)
    gg = fg.grad(fg.grad(lambda x: _sin_chain(x, 3)))(0.7)
    gg_ckpt = fg.grad(fg.grad(fg.checkpoint(lambda x: _sin_chain(x, 3))))(0.7)
    np.testing.assert_allclose(gg_ckpt, gg, rtol=1e-14)


def _stored(graph) -> int:
    """Arrays a linear graph keeps for the backward pass: its constants, plus the residuals a
    custom rule (checkpoint) holds in its equation's params."""
    held = [leaf for e in graph.eqns for leaf in fg.tree.leaves(e.params.get("res"))]
    return len(graph.consts) + len(held)


def test_checkpoint_stores_fewer_residuals():
    x = np.array([0.3, 1.2])
    _, plain = linearize_flat(lambda x: [_sin_chain(x)], [x])
    _, ckpt = linearize_flat(lambda x: [fg.checkpoint(_sin_chain)(x)], [x])
    assert len(plain.consts) == 20       # one cos(x_i) per sin
    assert len(ckpt.consts) < len(plain.consts) // 4
    assert _stored(ckpt) == 1            # only the input, to recompute from


# ---------------------------------------------------------------- shapes, dtypes, values

def test_broadcast_gradients_sum_back_to_argument_shapes():
    x, b, c = np.ones((3, 4)), np.ones(4), np.ones((3, 1))
    gx, gb, gc = fg.grad(lambda x, b, c: fnp.sum(x * b + c), argnums=(0, 1, 2))(x, b, c)
    assert gx.shape == (3, 4) and gb.shape == (4,) and gc.shape == (3, 1)
    np.testing.assert_array_equal(gb, np.full(4, 3.0))
    np.testing.assert_array_equal(gc, np.full((3, 1), 4.0))
    g_scalar = fg.grad(lambda s: fnp.sum(s * x), argnums=0)(2.0)
    assert g_scalar.shape == () and g_scalar == 12.0


def test_gradients_keep_the_argument_dtype():
    x32 = np.array([1.0, 2.0], np.float32)
    g = fg.grad(lambda x: fnp.sum(x * 2.0))(x32)      # the weak scalar keeps float32
    assert g.dtype == np.float32
    gx, gy = fg.grad(lambda x, y: fnp.sum(x * y), argnums=(0, 1))(x32, np.array(3.0))
    assert gx.dtype == np.float32 and gy.dtype == np.float64
    np.testing.assert_array_equal(gy, 3.0)
    assert fg.grad(lambda x: x * x)(np.float32(3.0)).dtype == np.float32


def test_fan_out_accumulates():
    assert fg.grad(lambda x: x + x + x)(1.0) == 3.0
    assert fg.grad(lambda x: x * x * x)(2.0) == 12.0
    x = np.array([1.0, 2.0])
    g = fg.grad(lambda x: fnp.sum(x[0] * x) + fnp.sum(x[np.array([1, 1, 0])]))(x)
    np.testing.assert_array_equal(g, [2 * 1.0 + 2.0 + 1.0, 1.0 + 2.0])


def test_inputs_are_never_mutated():
    x = np.array([1.0, 2.0, 3.0])
    params = {"w": np.array([[1.0, 2.0]]), "b": [np.array(0.5)]}
    copies = (x.copy(), params["w"].copy(), params["b"][0].copy())

    def f(x, params):
        y = x.at[0].set(10.0).at[1].add(5.0)
        return fnp.sum(y * params["w"][0, 0]) + params["b"][0] * fnp.sum(x)

    fg.grad(f, argnums=(0, 1))(x, params)
    fg.value_and_grad(f)(x, params)
    fg.vjp(f, x, params)[1](np.array(1.0))
    np.testing.assert_array_equal(x, copies[0])
    np.testing.assert_array_equal(params["w"], copies[1])
    np.testing.assert_array_equal(params["b"][0], copies[2])


def test_results_are_numpy_arrays():
    def f(p):
        return fnp.sum(p["w"] ** 2) + p["b"]

    p = {"w": np.array([1.0, 2.0]), "b": 1.0}
    value, g = fg.value_and_grad(f)(p)
    out, t = fg.jvp(fnp.sin, (np.array([0.0, 1.0]),), (np.ones(2),))
    _, f_vjp = fg.vjp(fnp.sin, 0.5)
    for leaf in [value, g["w"], g["b"], out, t, f_vjp(1.0)[0], fg.grad(fnp.sin)(0.5)]:
        assert type(leaf) is np.ndarray, type(leaf)


def test_sqrt_gradient_at_zero_is_inf():
    with np.errstate(divide="ignore"):
        g = fg.grad(fnp.sqrt)(0.0)
    assert np.isinf(g) and g > 0


def test_double_where_keeps_gradients_finite():
    def safe(x):
        return fnp.where(x > 0, fnp.sqrt(fnp.where(x > 0, x, 1.0)), 0.0)

    def unsafe(x):
        return fnp.where(x > 0, fnp.sqrt(x), 0.0)

    with np.errstate(divide="ignore", invalid="ignore"):
        assert fg.grad(safe)(0.0) == 0.0
        assert np.isnan(fg.grad(unsafe)(0.0))
        np.testing.assert_allclose(fg.grad(safe)(4.0), 0.25)


# ---------------------------------------------------------------- API options

def test_has_aux():
    def f(x):
        return fnp.sum(x ** 2), {"norm": fnp.sqrt(fnp.sum(x ** 2))}

    x = np.array([3.0, 4.0])
    g, aux = fg.grad(f, has_aux=True)(x)
    np.testing.assert_array_equal(g, 2 * x)
    assert aux["norm"] == 5.0
    (value, aux), g = fg.value_and_grad(f, has_aux=True)(x)
    assert value == 25.0 and aux["norm"] == 5.0


def test_argnums():
    def f(a, b, c):
        return a * b ** 2 + c

    assert fg.grad(f, argnums=1)(2.0, 3.0, 4.0) == 12.0
    assert fg.grad(f, argnums=(2, 0))(2.0, 3.0, 4.0) == (1.0, 9.0)
    assert fg.grad(f, argnums=-1)(2.0, 3.0, 4.0) == 1.0


def test_pytree_arguments():
    def loss(params, x):
        h = fnp.tanh(x @ params["layers"][0]["w"] + params["layers"][0]["b"])
        return fnp.sum(h * params["scale"])

    rng = np.random.default_rng(1)
    params = {"layers": [{"w": rng.standard_normal((3, 2)), "b": np.zeros(2)}],
              "scale": np.array(2.0)}
    x = rng.standard_normal(3)
    g = fg.grad(loss)(params, x)
    assert fg.tree.structure(g) == fg.tree.structure(params)
    h = np.tanh(x @ params["layers"][0]["w"])
    np.testing.assert_allclose(g["layers"][0]["b"], 2.0 * (1 - h ** 2), rtol=1e-14)
    np.testing.assert_allclose(g["layers"][0]["w"], np.outer(x, 2.0 * (1 - h ** 2)),
                               rtol=1e-14)
    np.testing.assert_allclose(g["scale"], np.sum(h), rtol=1e-14)
    gl = fg.grad(lambda ws: ws[0] * ws[1])([2.0, 5.0])
    assert isinstance(gl, list) and gl == [5.0, 2.0]


# ---------------------------------------------------------------- errors

def test_grad_of_non_scalar_is_a_type_error():
    with pytest.raises(TypeError) as info:
        fg.grad(lambda x: x * 2.0)(np.ones(3))
    msg = str(info.value)
    assert "f64[3]" in msg and "vjp" in msg and "jacrev" in msg


def test_grad_with_respect_to_an_integer_is_a_type_error():
    with pytest.raises(TypeError) as info:
        fg.grad(lambda x, y: x * y, argnums=1)(2.0, np.array(3))
    msg = str(info.value)
    assert "argument 1" in msg and "int64" in msg


def test_has_aux_needs_a_pair():
    with pytest.raises(TypeError, match="pair"):
        fg.grad(lambda x: x ** 2, has_aux=True)(1.0)


def _bad_matmul(a, b):
    return a @ b


def test_shape_mismatch_names_shapes_and_line():
    with pytest.raises(ValueError) as info:
        fg.make_graph(_bad_matmul)(np.ones((3, 4)), np.ones((5, 2)))
    msg = str(info.value)
    assert "(3, 4)" in msg and "(5, 2)" in msg
    assert f"test_grad.py:{_bad_matmul.__code__.co_firstlineno + 1}" in msg


def test_leaked_tracer_is_an_error():
    leaked = []

    def f(x):
        leaked.append(x)
        return x * 2.0

    assert fg.grad(f)(1.0) == 2.0
    with pytest.raises(UnexpectedTracerError):
        fnp.sin(leaked[0])
    with pytest.raises(UnexpectedTracerError):
        fg.grad(lambda y: y * leaked[0])(2.0)


def test_errors_inside_transformations_leave_no_trace_behind():
    def boom(x):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fg.grad(boom)(1.0)
    assert current_trace() is EVAL
    with pytest.raises(RuntimeError):
        fg.grad(fg.grad(lambda x: boom(x * x)))(1.0)
    assert current_trace() is EVAL
    with pytest.raises(ConcretizationError):
        fg.make_graph(lambda x: x if x > 0 else -x)(1.0)
    assert current_trace() is EVAL
    with pytest.raises(ValueError):
        fg.grad(lambda x: fnp.sum(x @ np.ones((2, 2))))(np.ones(3))
    assert current_trace() is EVAL
    assert fg.grad(lambda x: x ** 2)(3.0) == 6.0


# ---------------------------------------------------------------- depth

def test_deep_chain_without_recursion():
    n = 50_000        # two equations per step: 100,000 in all

    def f(x):
        for _ in range(n):
            x = x * 1.0000001 + 0.0
        return x

    start = time.perf_counter()
    graph = fg.make_graph(f)(1.0)
    assert len(graph.eqns) == 2 * n
    np.testing.assert_allclose(eval_graph(graph, [np.array(1.0)])[0], 1.0000001 ** n,
                               rtol=1e-9)
    np.testing.assert_allclose(fg.grad(f)(1.0), 1.0000001 ** n, rtol=1e-9)
    print(f"100,000-equation chain: trace + eval + grad in {time.perf_counter() - start:.1f} s")
