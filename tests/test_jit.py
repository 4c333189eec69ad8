"""jit: compiled code equals eager code; the cache, static arguments, errors and composition."""
import threading
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.core import trace as core_trace


def mlp_loss(params, x, y):
    h = x
    for w, b in params[:-1]:
        h = fnp.maximum(h @ w + b, 0.0)
    w, b = params[-1]
    logits = h @ w + b
    logp = logits - fnp.logsumexp(logits, axis=1, keepdims=True)
    return -fnp.mean(fnp.sum(logp * y, axis=1))


def make_mlp(rng, sizes, dtype=np.float64):
    return [(rng.normal(size=(m, n)).astype(dtype) / np.sqrt(m), np.zeros(n, dtype))
            for m, n in zip(sizes[:-1], sizes[1:])]


FUNCS = {
    "elementwise": lambda x, y: fnp.sin(x) * fnp.exp(-y * y) + fnp.tanh(x - y) / (1.0 + y * y),
    "reductions": lambda x, y: (x.sum(axis=0) * fnp.max(y, axis=0) - fnp.mean(x * y, axis=0)),
    "where": lambda x, y: fnp.where(x > y, x * 2.0, -y),
    "matmul": lambda x, y: (x @ y.T).sum(axis=1) + fnp.cumsum(x, axis=1)[:, -1],
    "indexing": lambda x, y: x[1:, ::2].sum() + y[[0, 0, 1]].sum() + fnp.take(x, [0, 1], axis=1)[0],
    "shapes": lambda x, y: fnp.concatenate([x.T, y.T], axis=1).reshape(-1)[:5] * 3.0,
    "sort": lambda x, y: fnp.sort(x * y, axis=1)[:, 0],
}


@pytest.mark.parametrize("name", sorted(FUNCS))
@settings(max_examples=15, deadline=None, derandomize=True)
@given(data=st.data())
def test_jit_equals_eager(name, data):
    shape = data.draw(st.tuples(st.integers(2, 4), st.integers(2, 5)))
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    floats = st.floats(-3, 3, width=32)
    x = data.draw(hnp.arrays(dtype, shape, elements=floats))
    y = data.draw(hnp.arrays(dtype, shape, elements=floats))
    f = FUNCS[name]
    expected = f(x, y)
    got = fg.jit(f)(x, y)
    assert isinstance(got, np.ndarray)
    assert got.dtype == np.asarray(expected).dtype
    np.testing.assert_allclose(got, expected, rtol=1e-6 if dtype == np.float64 else 1e-5,
                               atol=1e-6)
    g_eager = fg.grad(lambda a, b: f(a, b).sum(), argnums=(0, 1))(x, y)
    g_jit = fg.jit(fg.grad(lambda a, b: f(a, b).sum(), argnums=(0, 1)))(x, y)
    for a, b in zip(g_jit, g_eager):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_jit_of_grad_and_grad_of_jit_agree_on_mlp():
    rng = np.random.default_rng(0)
    params = make_mlp(rng, [6, 8, 3])
    x = rng.normal(size=(5, 6))
    y = np.eye(3)[rng.integers(0, 3, 5)]
    g1 = fg.grad(mlp_loss)(params, x, y)
    g2 = fg.jit(fg.grad(mlp_loss))(params, x, y)
    g3 = fg.grad(fg.jit(mlp_loss))(params, x, y)
    for a, b, c in zip(fg.tree.leaves(g1), fg.tree.leaves(g2), fg.tree.leaves(g3)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-12)


def test_gradient_graph_has_no_dead_primal_work():
    f = lambda x: fnp.sum(fnp.sin(x) ** 2)
    stage = fg.jit(fg.grad(f)).lower(np.ones(4))
    names = [e.primitive.name for e in stage.graph.eqns]
    # the loss value itself (the final reduction) is dead in a gradient graph
    assert "reduce_sum" not in names
    assert names.count("sin") == 1 and "cos" in names
    assert len(stage.graph.eqns) < len(stage.raw_graph.eqns)


def test_simplification_removes_identities():
    stage = fg.jit(lambda x: -(-(x * 1.0 + 0.0)).T.T.reshape(6).reshape(2, 3)).lower(
        np.ones((2, 3)))
    assert stage.graph.eqns == []
    np.testing.assert_array_equal(fg.jit(lambda x: x * 1.0 + 0.0)(np.arange(3.0)),
                                  np.arange(3.0))


def test_cse_and_constant_folding():
    const = np.arange(3.0)
    f = lambda x: fnp.sin(x) + fnp.sin(x) + fnp.exp(const * 0.0).sum()
    stage = fg.jit(f).lower(np.ones(3))
    names = [e.primitive.name for e in stage.graph.eqns]
    assert names.count("sin") == 1 and "exp" not in names
    np.testing.assert_allclose(fg.jit(f)(np.ones(3)), f(np.ones(3)))


def test_generated_source_is_straight_line_numpy():
    text = fg.jit(lambda x, w: fnp.tanh(x @ w)).lower(np.ones((4, 3)), np.ones(3)).as_text()
    assert text.startswith("def ") and "return" in text
    assert "matmul" in text and "tanh" in text
    assert "for " not in text and "while " not in text


def test_cache_size_and_retrace_on_new_signature():
    f = fg.jit(lambda x: x * 2.0)
    f(np.ones(3))
    f(np.zeros(3))
    assert f.cache_size() == 1
    f(np.ones(4))
    assert f.cache_size() == 2
    f(np.ones(3, np.float32))
    assert f.cache_size() == 3
    assert f(np.ones(3, np.float32)).dtype == np.float32   # weak 2.0 keeps float32


def test_python_scalars_stay_weak_under_jit():
    f = lambda x, s: x * s
    x32 = np.ones(3, np.float32)
    assert fg.jit(f)(x32, 2.0).dtype == f(x32, 2.0).dtype == np.float32


def test_static_argnums_and_argnames():
    calls = []

    def f(x, n, *, mode="sum"):
        calls.append(1)
        y = x ** n
        return y.sum() if mode == "sum" else y.max()

    jf = fg.jit(f, static_argnums=(1,), static_argnames=("mode",))
    np.testing.assert_allclose(jf(np.arange(3.0), 2), 5.0)
    np.testing.assert_allclose(jf(np.arange(3.0), 2), 5.0)
    assert len(calls) == 1
    np.testing.assert_allclose(jf(np.arange(3.0), 3, mode="max"), 8.0)
    assert jf.cache_size() == 2


def test_unhashable_static_argument_error():
    jf = fg.jit(lambda x, cfg: x * len(cfg), static_argnums=1)
    with pytest.raises(TypeError, match="not hashable"):
        jf(np.ones(2), [1, 2])
    np.testing.assert_allclose(jf(np.ones(2), (1, 2)), [2.0, 2.0])


def test_concretization_error_names_line_argument_and_fix():
    def f(x, n):
        if n > 0:   # the offending line
            return x
        return -x

    jf = fg.jit(f)
    with pytest.raises(fg.errors.ConcretizationError) as info:
        jf(np.ones(2), 3)
    msg = str(info.value)
    assert isinstance(info.value, TypeError)
    assert "test_jit.py" in msg and "if n > 0" not in msg
    line = f.__code__.co_firstlineno + 1
    assert f"test_jit.py:{line}" in msg
    assert "argument 1" in msg and "static_argnums=(1,)" in msg
    assert "fg.cond" in msg
    # nothing is corrupted: the trace state is clean, the cache empty, good input works
    assert core_trace.current_trace() is core_trace.EVAL
    assert jf.cache_size() == 0
    jg = fg.jit(f, static_argnums=1)
    np.testing.assert_allclose(jg(np.ones(2), 3), np.ones(2))


def test_error_during_trace_leaves_function_usable():
    def f(x):
        if x.shape[0] == 3:
            raise ValueError("boom")
        return x + 1.0

    jf = fg.jit(f)
    with pytest.raises(ValueError, match="boom"):
        jf(np.ones(3))
    assert core_trace.current_trace() is core_trace.EVAL
    np.testing.assert_allclose(jf(np.ones(2)), [2.0, 2.0])
    assert jf.cache_size() == 1


def test_shape_error_under_jit_names_shapes_and_line():
    jf = fg.jit(lambda x, w: x @ w)
    with pytest.raises(ValueError) as info:
        jf(np.ones((2, 3)), np.ones((4, 5)))
    assert "(2, 3)" in str(info.value) and "(4, 5)" in str(info.value)
    assert "test_jit.py" in str(info.value)


def test_explain_cache_misses():
    jf = fg.jit(lambda x: x.sum(), explain_cache_misses=True)
    jf(np.ones((5, 3)))
    with pytest.warns(UserWarning, match=r"\(5,3\)|\[5,3\] -> f64\[6,3\]"):
        jf(np.ones((6, 3)))


def test_closures_over_arrays_and_outer_tracers():
    w = np.array([1.0, 2.0, 3.0])
    f = fg.jit(lambda x: (x * w).sum())
    np.testing.assert_allclose(f(np.ones(3)), 6.0)

    def outer(s):
        return fg.jit(lambda x: (x * s).sum())(np.ones(3))   # s is an outer tracer
    np.testing.assert_allclose(fg.grad(outer)(2.0), 3.0)


def test_mutating_an_input_after_jit_does_not_change_cached_constants():
    w = np.array([1.0, 2.0])
    f = fg.jit(lambda x: x + w * 0.0 + 1.0)
    out = f(np.zeros(2))
    out[:] = 99.0                      # the caller owns its result
    np.testing.assert_allclose(f(np.zeros(2)), [1.0, 1.0])
    c = fg.jit(lambda x: np.ones(2) * 3.0)
    r = c(np.zeros(1))
    r[0] = -1.0
    np.testing.assert_allclose(c(np.zeros(1)), [3.0, 3.0])


def test_jit_inside_jit_and_pytrees():
    inner = fg.jit(lambda p: {"s": p["a"] + p["b"], "d": p["a"] - p["b"]})
    outer = fg.jit(lambda p: inner(p)["s"] * inner(p)["d"])
    p = {"a": np.arange(3.0), "b": np.ones(3)}
    np.testing.assert_allclose(outer(p), (p["a"] + 1) * (p["a"] - 1))


def test_two_threads_different_shapes():
    jf = fg.jit(lambda x: (x * x).sum(axis=0))
    errors = []

    def work(n):
        try:
            for _ in range(50):
                x = np.arange(n * 2.0).reshape(n, 2)
                np.testing.assert_allclose(jf(x), (x * x).sum(axis=0))
        except Exception as e:   # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in (3, 5, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert jf.cache_size() == 3


def test_buffer_reuse_is_safe():
    # a long elementwise chain: compiled code writes into dead temporaries
    def f(x):
        y = x
        for _ in range(20):
            y = fnp.sin(y) * 0.9 + x * 0.1
        return y, x
    x = np.linspace(-1, 1, 1000)
    x0 = x.copy()
    stage = fg.jit(f).lower(x)
    assert "out=" in stage.as_text()
    a, b = fg.jit(f)(x)
    ea, eb = f(x)
    np.testing.assert_allclose(a, ea)
    np.testing.assert_array_equal(b, x0)
    np.testing.assert_array_equal(x, x0)


def test_large_graph_compiles():
    def f(x):
        for _ in range(100_000):
            x = x * 1.0000001
        return x
    jf = fg.jit(f)
    np.testing.assert_allclose(jf(1.0), 1.0000001 ** 100_000, rtol=1e-9)


def test_cost_of_lowered_stage():
    cost = fg.jit(lambda x, w: x @ w).lower(np.ones((4, 3)), np.ones((3, 2))).cost()
    assert cost["flops"] == 2 * 4 * 3 * 2
    assert cost["peak_bytes"] >= (4 * 3 + 3 * 2 + 4 * 2) * 8


def test_warns_nothing_on_hits():
    jf = fg.jit(lambda x: x + 1.0, explain_cache_misses=True)
    jf(np.ones(2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jf(np.ones(2))


def test_an_operand_a_cond_hands_back_is_not_overwritten_in_place():
    # The false branch returns its operand: the cond's result *is* y, so the compiled code must
    # not write y + z into y's buffer (found by the fuzzer under vmap(jvp(scan(cond)))).
    def f(x):
        y = x + 1.0
        z = fg.cond(fnp.sum(y) > 1e9, lambda u: fnp.sin(u), lambda u: u, y)
        return z, y + z

    x = np.linspace(0.0, 1.0, 300)       # big enough for buffer reuse
    z, w = fg.jit(f)(x)
    np.testing.assert_array_equal(z, x + 1.0)
    np.testing.assert_array_equal(w, 2.0 * (x + 1.0))


def test_a_value_error_at_run_time_names_the_users_line():
    # NumPy raises inside the generated code (the index is only known when it runs): the error
    # names the operation, the user's line that made it, and the call.
    def f(x, i):
        return x[i] * 2.0                                  # the failing line

    jitted = fg.jit(f)
    for _ in range(2):
        with pytest.raises(IndexError) as info:
            jitted(np.ones(3), np.array([5]))
        msg = str(info.value)
        assert "out of bounds" in msg and "in getitem at" in msg
        assert "test_jit.py" in msg and "run by fg.jit" in msg
    np.testing.assert_array_equal(jitted(np.ones(3), np.array([1])), [2.0])   # still works


def test_products_that_sum_nothing_skip_einsums_path_search():
    """Per-example outer products (vmap of a gradient's x d^T) sum over no axis: the generated
    einsum computes them directly, with no `optimize=True` path search (which cost more than
    the product: 110 vs 70 us on 128 x 32 x 32); products that sum keep it (it finds BLAS)."""
    def per_example(w, x):
        return fnp.tanh(x @ w).sum()
    rng = np.random.default_rng(0)
    w, xs = rng.standard_normal((5, 3)), rng.standard_normal((7, 5))
    f = fg.jit(fg.vmap(fg.grad(per_example), in_axes=(None, 0)))
    text = f.lower(w, xs).as_text()
    assert "einsum" in text and "optimize=True" not in text
    want = np.stack([fg.grad(per_example)(w, x) for x in xs])
    np.testing.assert_allclose(f(w, xs), want, rtol=1e-12)
    batched = fg.jit(lambda a, b: fnp.einsum("nij,njk->nik", a, b))
    a, b = rng.standard_normal((4, 3, 5)), rng.standard_normal((4, 5, 2))
    np.testing.assert_allclose(batched(a, b), a @ b, rtol=1e-12)


@pytest.mark.parametrize("spec", ["nji,njk->nik", "ijn,nkj->nik", "nij,njk->nik"])
def test_stacks_of_matrix_products_in_any_layout_are_one_matmul(spec):
    """A batched product of matrices, whatever the order of its axes, is np.matmul on
    transposed views (not einsum), with einsum's values."""
    rng = np.random.default_rng(1)
    sizes = {"n": 4, "i": 3, "j": 5, "k": 2}
    lhs, rhs = spec.split("->")[0].split(",")
    a = rng.standard_normal([sizes[c] for c in lhs])
    b = rng.standard_normal([sizes[c] for c in rhs])
    f = fg.jit(lambda a, b: fnp.einsum(spec, a, b))
    text = f.lower(a, b).as_text()
    assert "matmul" in text and "einsum" not in text
    np.testing.assert_allclose(f(a, b), np.einsum(spec, a, b), rtol=1e-12)
    g = fg.jit(fg.grad(lambda a, b: fnp.sum(fnp.einsum(spec, a, b) ** 2), argnums=(0, 1)))
    ga, gb = g(a, b)
    out = np.einsum(spec, a, b)
    np.testing.assert_allclose(ga, np.einsum(f"{spec.split('->')[1]},{rhs}->{lhs}", 2 * out, b),
                               rtol=1e-12)
    np.testing.assert_allclose(gb, np.einsum(f"{spec.split('->')[1]},{lhs}->{rhs}", 2 * out, a),
                               rtol=1e-12)


def test_a_product_over_an_axis_of_length_one_is_a_broadcast_multiply():
    """x @ y over one axis of length 1 (an outer product) is broadcasting's product, the one
    term BLAS would sum (twice as fast); values and gradients agree."""
    rng = np.random.default_rng(2)
    col, row = rng.standard_normal((6, 1)), rng.standard_normal((1, 4))
    f = fg.jit(lambda a, b: fnp.tanh(a @ b) + (b.T @ a.T).T)
    text = f.lower(col, row).as_text()
    assert "matmul" not in text and "multiply" in text
    np.testing.assert_array_equal(f(col, row), np.tanh(col @ row) + (row.T @ col.T).T)
    g = fg.jit(fg.grad(lambda a, b: fnp.sum(fnp.tanh(a @ b)), argnums=(0, 1)))
    want = fg.grad(lambda a, b: fnp.sum(fnp.tanh(a @ b)), argnums=(0, 1))(col, row)
    for got, w in zip(g(col, row), want):
        np.testing.assert_allclose(got, w, rtol=1e-12)
