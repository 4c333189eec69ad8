"""Structured control flow: cond, switch, scan, fori_loop and while_loop.

Each is one graph equation holding sub-graphs; values match plain Python, eagerly and under
jit; derivatives match finite differences (both modes for cond/switch/scan/fori_loop, forward
mode for while_loop); vmap batches them; type errors name both sides.
"""
import inspect

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.control import cond, fori_loop, scan, switch, while_loop
from funcgrad.test_util import check_grads

rng = np.random.default_rng(0)
X = rng.normal(size=3)
W = rng.normal(size=3)
XS = rng.normal(size=(5, 3))


def both(f):
    """The function and its jitted version (compiled code must agree with eager)."""
    return [f, fg.jit(f)]


def prims(graph):
    return [e.primitive.name for e in graph.eqns]


# ------------------------------------------------------------------------------ cond/switch

def piecewise(x, w):
    return cond(x.sum() > 0, lambda v: fnp.sin(v) * w, lambda v: v * v + w, x)


def piecewise_py(x, w):
    return np.sin(x) * w if x.sum() > 0 else x * x + w


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_cond_values_eager_and_jit(sign):
    for f in both(piecewise):
        np.testing.assert_allclose(f(sign * np.abs(X), W), piecewise_py(sign * np.abs(X), W))


def test_cond_predicate_kinds_and_pytrees():
    def f(p, x):
        return cond(p, lambda t: {"a": t[0] + 1.0, "b": t[1]}, lambda t: {"a": -t[0], "b": 0},
                    (x, 3))
    assert float(f(True, 2.0)["a"]) == 3.0 and int(f(True, 2.0)["b"]) == 3
    assert float(f(0, 2.0)["a"]) == -2.0 and int(f(0.0, 2.0)["b"]) == 0
    assert float(f(np.float32(0.5), 2.0)["a"]) == 3.0     # nonzero numbers are true
    jf = fg.jit(f)
    assert float(jf(np.array(False), 2.0)["a"]) == -2.0


def test_cond_closure_and_literal_branch():
    # A captured array becomes an explicit operand; a literal 0.0 takes the other branch's dtype.
    x32 = np.arange(3, dtype=np.float32)
    out = cond(True, lambda: (x32 * 2).sum(), lambda: 0.0)
    assert out.dtype == np.float32 and float(out) == 6.0
    assert fg.jit(lambda x: cond(x.sum() > 100, lambda: x.sum(), lambda: 0.0))(x32).dtype == \
        np.float32


@pytest.mark.parametrize("i", [-3, 0, 1, 2, 7])
def test_switch_clamps_index(i):
    branches = [lambda v: v + 1.0, lambda v: v * 10.0, lambda v: -v]
    expected = branches[min(max(i, 0), 2)](2.5)
    for f in both(lambda i, x: switch(i, branches, x)):
        assert float(f(i, 2.5)) == expected


def test_cond_grads():
    for x in (np.abs(X), -np.abs(X)):
        check_grads(piecewise, (x, W), order=2)
        check_grads(fg.jit(piecewise), (x, W), order=1)
    # a closed-over differentiated value
    check_grads(lambda x, w: cond(w.sum() < 100, lambda: (x * w).sum(), lambda: x.sum()),
                (X, W), order=2)


def test_switch_grads():
    branches = [lambda x, w: fnp.exp(x) * w, lambda x, w: x ** 3 - w, lambda x, w: fnp.tanh(x * w)]
    for i in range(3):
        check_grads(lambda x, w, i=i: switch(i, branches, x, w), (X, W), order=2)


def test_grad_of_cond_matches_branch_derivative():
    f = lambda x: cond(x > 0, lambda v: v ** 3, lambda v: fnp.sin(v), x)
    assert float(fg.grad(f)(2.0)) == pytest.approx(12.0)
    assert float(fg.grad(f)(-1.0)) == pytest.approx(np.cos(-1.0))
    assert float(fg.jit(fg.grad(f))(2.0)) == pytest.approx(12.0)
    assert float(fg.grad(fg.jit(f))(-1.0)) == pytest.approx(np.cos(-1.0))


def test_cond_branch_mismatch_errors_name_both_branches():
    def true_branch(x):
        return x

    with pytest.raises(ValueError, match=r"true_fun \(true_branch\) returns f64\[3\] and "
                                         r"false_fun returns f64\[2\]"):
        cond(True, true_branch, lambda x: x[:2], X)
    with pytest.raises(ValueError, match=r"f64\[3\].*f32\[3\]"):
        cond(True, lambda x: x, lambda x: x.astype(np.float32), X)
    with pytest.raises(ValueError, match=r"\(f64\[3\], f64\[3\]\)"):
        cond(True, lambda x: x, lambda x: (x, x), X)
    with pytest.raises(ValueError, match=r"branches\[0\].*branches\[1\]"):
        switch(0, [lambda x: x, lambda x: x.sum()], X)
    with pytest.raises(TypeError, match="predicate must be a scalar"):
        cond(X > 0, lambda x: x, lambda x: x, X)
    with pytest.raises(TypeError, match="integer scalar"):
        switch(1.5, [lambda x: x], X)


def test_cond_is_one_equation_with_indented_branches():
    graph = fg.make_graph(piecewise)(X, W)
    assert prims(graph)[-1] == "cond" and prims(graph).count("cond") == 1
    text = str(graph)
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if "= cond " in line)
    assert lines[header + 1].strip() == "branches[0]="
    assert lines[header + 2].startswith(" " * 10 + "{ lambda")      # indented sub-graph
    assert "sin" in text and "branches[1]=" in text


# ------------------------------------------------------------------------------------ scan

def rnn_loss(W, h0, xs):
    def step(h, x):
        h = fnp.tanh(W @ h + x)
        return h, (h * h).sum()
    h, ys = scan(step, h0, xs)
    return h.sum() + ys.sum()


def rnn_loss_py(W, h0, xs):
    h, total = h0, 0.0
    for x in xs:
        h = np.tanh(W @ h + x)
        total += (h * h).sum()
    return h.sum() + total


def test_scan_matches_python_loop():
    Wm = rng.normal(size=(3, 3)) * 0.5
    for f in both(rnn_loss):
        np.testing.assert_allclose(f(Wm, X, XS), rnn_loss_py(Wm, X, XS))


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_pytrees_and_reverse(reverse):
    def f(a, xs):
        def step(c, x):
            h, n = c
            return (h * 0.5 + x["u"], n + 1), {"y": h.sum(), "z": x["v"] * 2}
        return scan(step, (a, 0), {"u": xs, "v": xs[:, 0]}, reverse=reverse)

    h, n = X, 0
    order = range(len(XS) - 1, -1, -1) if reverse else range(len(XS))
    per_step = {}
    for i in order:
        per_step[i] = (h.sum(), XS[i, 0] * 2)
        h, n = h * 0.5 + XS[i], n + 1
    for g in both(f):
        (h_out, n_out), y = g(X, XS)
        np.testing.assert_allclose(h_out, h)
        assert int(n_out) == n == len(XS)
        np.testing.assert_allclose(y["y"], [per_step[i][0] for i in range(len(XS))])
        np.testing.assert_allclose(y["z"], [per_step[i][1] for i in range(len(XS))])


def test_scan_without_xs_and_empty():
    carry, ys = scan(lambda c, _: (c * 2.0, c), 1.0, None, length=4)
    assert float(carry) == 16.0 and ys.tolist() == [1.0, 2.0, 4.0, 8.0]
    carry, ys = scan(lambda c, x: (c + x, c), 1.0, np.zeros((0,)))
    assert float(carry) == 1.0 and ys.shape == (0,)


def test_scan_traces_its_body_once():
    calls = []

    def step(c, x):
        calls.append(1)
        return c + x, c

    xs = np.arange(1000.0)
    carry, _ = fg.jit(lambda xs: scan(step, 0.0, xs))(xs)
    assert float(carry) == xs.sum() and len(calls) == 1


def test_scan_grads():
    Wm = rng.normal(size=(3, 3)) * 0.5
    check_grads(rnn_loss, (Wm, X, XS), order=2)
    check_grads(fg.jit(rnn_loss), (Wm, X, XS), order=1)

    def rev(a, w, xs):
        (c, _), ys = scan(lambda c, x: ((c[0] * fnp.cos(x) + w, c[1]), c[0] * w), (a, 3), xs,
                          reverse=True)
        return c.sum() + (ys ** 2).sum()
    check_grads(rev, (X, W, XS), order=2)


def test_grad_of_jit_equals_jit_of_grad_for_nested_control_flow():
    def f(a, xs):
        def step(c, x):
            c = cond(x.sum() > 0, lambda c: c * fnp.sin(x), lambda c: c + x ** 2, c)
            return c, c.sum()
        return scan(step, a, xs)[1].sum()
    g1, g2, g3 = fg.grad(f)(X, XS), fg.grad(fg.jit(f))(X, XS), fg.jit(fg.grad(f))(X, XS)
    np.testing.assert_allclose(g1, g2)
    np.testing.assert_allclose(g1, g3)
    check_grads(f, (X, XS), order=2)


def test_scan_is_one_equation():
    graph = fg.make_graph(rnn_loss)(np.eye(3), X, XS)
    assert prims(graph).count("scan") == 1
    assert "body=" in str(graph) and "tanh" in str(graph)


def test_scan_errors():
    with pytest.raises(ValueError, match=r"input carry is f32\[3\] and the body returns f64\[3\]"):
        scan(lambda c, x: (c.astype(np.float64), x), X.astype(np.float32), XS)
    with pytest.raises(ValueError, match="disagree"):
        scan(lambda c, x: (c, x), 0.0, (np.ones(3), np.ones(4)))
    with pytest.raises(ValueError, match="length="):
        scan(lambda c, x: (c, x), 0.0, None)
    with pytest.raises(TypeError, match=r"pair \(carry, y\)"):
        scan(lambda c, x: c, 0.0, XS)


@settings(max_examples=15, deadline=None, derandomize=True)
@given(st.integers(0, 6), st.integers(1, 3), st.booleans())
def test_scan_cumsum_matches_numpy(n, d, reverse):
    xs = np.arange(n * d, dtype=np.float64).reshape(n, d) / 7.0
    carry, ys = scan(lambda c, x: (c + x, c + x), np.zeros(d), xs, reverse=reverse)
    expected = np.cumsum(xs[::-1], axis=0)[::-1] if reverse else np.cumsum(xs, axis=0)
    np.testing.assert_allclose(ys, expected.reshape(n, d))
    np.testing.assert_allclose(carry, xs.sum(axis=0))


def test_rnn_trained_with_scan_loss_decreases():
    r = np.random.default_rng(1)
    xs = r.normal(size=(20, 2))
    targets = np.sin(np.cumsum(xs[:, 0])) * 0.5
    params = {"W": r.normal(size=(4, 4)) * 0.3, "U": r.normal(size=(4, 2)) * 0.3,
              "v": r.normal(size=4) * 0.3}

    def loss(p):
        def step(h, x):
            h = fnp.tanh(p["W"] @ h + p["U"] @ x)
            return h, p["v"] @ h
        _, preds = scan(step, np.zeros(4), xs)
        return fnp.mean((preds - targets) ** 2)

    step = fg.jit(fg.value_and_grad(loss))
    losses = []
    for _ in range(50):
        value, g = step(params)
        losses.append(float(value))
        params = {k: params[k] - 0.5 * g[k] for k in params}
    assert losses[-1] < 0.5 * losses[0]
    assert all(b < a for a, b in zip(losses[:5], losses[1:6]))


# ------------------------------------------------------------------------------- fori_loop

def test_fori_loop_values():
    body = lambda i, x: x * 2.0 + i
    x = 1.0
    for i in range(2, 6):
        x = body(i, x)
    for f in both(lambda x: fori_loop(2, 6, body, x)):
        assert float(f(1.0)) == x
    # traced bounds run as a while loop
    g = fg.jit(lambda lo, hi, x: fori_loop(lo, hi, body, x))
    assert float(g(2, 6, 1.0)) == x
    assert "while" in prims(fg.make_graph(lambda hi: fori_loop(0, hi, body, 1.0))(3))


def test_fori_loop_static_bounds_are_a_scan_and_reverse_differentiable():
    f = lambda x, w: fori_loop(0, 4, lambda i, v: fnp.sin(v) * w + v * i, x).sum()
    assert prims(fg.make_graph(f)(X, W)).count("scan") == 1
    check_grads(f, (X, W), order=2)


# ------------------------------------------------------------------------------ while_loop

def test_while_loop_values():
    assert int(while_loop(lambda v: v < 10, lambda v: v * 2, 1)) == 16
    out = fg.jit(lambda n: while_loop(lambda c: c[0] < n, lambda c: (c[0] + 1, c[1] * 1.5),
                                      (0, 1.0)))(3)
    assert int(out[0]) == 3 and float(out[1]) == 1.5 ** 3
    with pytest.raises(TypeError, match="scalar boolean"):
        while_loop(lambda v: v, lambda v: v, X)
    with pytest.raises(ValueError, match=r"input carry is i64\[\] and the body returns f64"):
        while_loop(lambda v: v < 3, lambda v: v * 1.5, 1)


def newton_sqrt(a):
    """sqrt(a) by Newton's method, iterating until converged."""
    def body(c):
        x, n = c
        return 0.5 * (x + a / x), n + 1
    return while_loop(lambda c: fnp.abs(c[0] * c[0] - a) > 1e-12 * a, body, (a, 0))


def test_newton_iteration_with_while_loop_under_jit():
    f = fg.jit(newton_sqrt)
    for a in (2.0, 9.0, 1e4):
        x, n = f(a)
        assert float(x) == pytest.approx(np.sqrt(a), rel=1e-12) and 0 < int(n) < 30
    assert f.cache_size() == 1


def test_jvp_through_while_loop():
    x, t = fg.jvp(lambda a: newton_sqrt(a)[0], (4.0,), (1.0,))
    assert float(x) == pytest.approx(2.0) and float(t) == pytest.approx(0.25)  # d sqrt = 1/2x
    f = lambda v: while_loop(lambda c: c[1] < 3, lambda c: (fnp.sin(c[0]) * W, c[1] + 1),
                             (v, 0))[0]
    check_grads(f, (X,), order=2, modes=("fwd",))
    check_grads(fg.jit(f), (X,), order=1, modes=("fwd",))


def test_reverse_mode_through_a_while_loop_predicate_only_is_fine():
    # The result depends on x only through the loop's predicate: piecewise constant, so zero.
    f = lambda x: x * while_loop(lambda v: v < x, lambda v: v + 1.0, 0.0)
    for g in (fg.grad(f), fg.jit(fg.grad(f))):
        assert float(g(2.5)) == 3.0


def test_reverse_mode_through_while_loop_names_the_line():
    def f(x):
        return while_loop(lambda v: v < 10.0, lambda v: v * 2.0, x)   # the loop's line
    line = inspect.getsourcelines(f)[1] + 1
    for g in (fg.grad(f), fg.jit(fg.grad(f))):
        with pytest.raises(NotImplementedError) as err:
            g(1.0)
        msg = str(err.value)
        assert f"test_control.py:{line}" in msg
        assert "while_loop" in msg and "fg.scan" in msg and "fori_loop" in msg


# ------------------------------------------------------------------------------------ vmap

def test_vmap_cond_with_batched_predicate_selects():
    xs = rng.normal(size=(6, 3))
    f = lambda x: piecewise(x, W)
    np.testing.assert_allclose(fg.vmap(f)(xs), np.stack([piecewise_py(x, W) for x in xs]))
    g = lambda w, x: piecewise(x, w)        # unbatched predicate: still one cond
    np.testing.assert_allclose(fg.vmap(g, (0, None))(xs, X),
                               np.stack([piecewise_py(X, w) for w in xs]))
    idx = np.array([0, 2, 1, 5])
    s = lambda i, x: switch(i, [lambda v: v + 1.0, lambda v: v * 3.0, lambda v: -v], x)
    np.testing.assert_allclose(fg.vmap(s)(idx, xs[:4]),
                               np.stack([s(i, x) for i, x in zip(idx, xs[:4])]))


def test_vmap_scan_and_per_example_gradients():
    Wm = rng.normal(size=(3, 3)) * 0.5
    h0s, xss = rng.normal(size=(4, 3)), rng.normal(size=(4, 5, 3))
    np.testing.assert_allclose(fg.vmap(rnn_loss, (None, 0, 0))(Wm, h0s, xss),
                               [rnn_loss_py(Wm, h, x) for h, x in zip(h0s, xss)])
    per_example = fg.vmap(fg.grad(rnn_loss), (None, 0, 0))(Wm, h0s, xss)
    np.testing.assert_allclose(per_example[2], fg.grad(rnn_loss)(Wm, h0s[2], xss[2]))


def test_vmap_while_loop_runs_until_every_example_is_done():
    a = np.array([2.0, 9.0, 100.0, 1.0])
    for f in both(fg.vmap(newton_sqrt)):
        x, n = f(a)
        np.testing.assert_allclose(x, np.sqrt(a))
        assert n.tolist() == [int(newton_sqrt(v)[1]) for v in a]
