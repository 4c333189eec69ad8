"""The optimiser takes matrix products out of scans (control/loops.py, `_scan_expand`): a
product of each step's input with a constant is computed for all steps before the loop, and a
carry that only accumulates products or sums is summed after it. The results are those of
the loop as written (to rounding), in every tier, and the graphs show the products moved."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.control.loops import scan_p
from funcgrad.prims.linalg import dot_general_p

RNG = np.random.default_rng(11)
T, B, D, H = 12, 4, 3, 5
WX, WH, BIAS = RNG.standard_normal((D, H)), 0.5 * RNG.standard_normal((H, H)), RNG.random(H)
XS, H0 = RNG.standard_normal((T, B, D)), RNG.standard_normal((B, H))


def rnn_loss(params, xs, h0, reverse=False):
    wx, wh, b = params

    def cell(h, x):
        h = fnp.tanh(x @ wx + h @ wh + b)
        return h, h
    _, hs = fg.scan(cell, h0, xs, reverse=reverse)
    return fnp.sum(hs * hs)


def unrolled_loss(params, xs, h0, reverse=False):
    wx, wh, b = params
    h, total = h0, 0.0
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        h = fnp.tanh(xs[t] @ wx + h @ wh + b)
        total = total + fnp.sum(h * h)
    return total


def _scans(graph):
    return [e for e in graph.eqns if e.primitive is scan_p]


def _products_in(body):
    return sum(e.primitive is dot_general_p for e in body.eqns)


def _close(got, want, rtol=1e-12):
    for a, b in zip(fg.tree.leaves(got), fg.tree.leaves(want)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("reverse", [False, True])
def test_an_rnn_gradient_has_its_weight_products_outside_the_loops(reverse):
    vg = fg.jit(fg.value_and_grad(lambda p, xs, h0: rnn_loss(p, xs, h0, reverse)),
                backend="numpy")
    args = ((WX, WH, BIAS), XS, H0)
    got = vg(*args)
    graph = vg.lower(*args).graph
    forward, backward = _scans(graph)
    # forward: only h @ Wh is left in the loop (x_t @ Wx is one product before it); backward:
    # only d_t @ Wh.T, the carried cotangent (the three weight gradients are sums after it)
    assert _products_in(forward.params["body"]) == 1
    assert _products_in(backward.params["body"]) == 1
    assert backward.params["num_carry"] == 1
    outside = [e for e in graph.eqns if e.primitive is dot_general_p]
    assert len(outside) == 3 and all(e.inputs[0].aval.shape[0] == T * B for e in outside)
    want = fg.jit(fg.value_and_grad(lambda p, xs, h0: unrolled_loss(p, xs, h0, reverse)),
                  backend="numpy")(*args)
    _close(got, want)
    _close(fg.value_and_grad(lambda p, xs, h0: rnn_loss(p, xs, h0, reverse))(*args), want)


def test_the_compiled_tier_runs_the_restructured_scans_alike():
    pytest.importorskip("numba")
    vg = fg.value_and_grad(rnn_loss)
    args = ((WX, WH, BIAS), XS, H0)
    compiled = fg.jit(vg, backend="compiled")
    got = compiled(*args)
    assert compiled.lower(*args).tier == "compiled", compiled.lower(*args).native_error
    _close(got, fg.jit(vg, backend="numpy")(*args))


def test_other_product_shapes_and_accumulations():
    """A constant on the left of the step's input (W @ x_t), inputs of three axes, a sum
    over an axis, and an accumulated product of a constant and a step value."""
    w_left, c = RNG.standard_normal((H, D)), RNG.standard_normal((H, H))
    xs3 = RNG.standard_normal((T, 2, B, D))

    def body(carry, x):
        h, acc_sum, acc_const = carry
        x3, x2 = x
        u = fnp.tanh((w_left @ x2).T + fnp.sum(x3 @ WX, axis=0) + h @ WH)   # x2: (D, B)
        return (u, acc_sum + fnp.sum(u * u, axis=0), acc_const + c @ u.T), u[0]

    def f(h0, xs3, xs2):
        (h, s, k), ys = fg.scan(body, (h0, np.zeros(H), np.zeros((H, B))), (xs3, xs2))
        return h, s, k, ys

    xs2 = np.ascontiguousarray(XS.transpose(0, 2, 1))
    args = (H0, xs3, xs2)
    jitted = fg.jit(f, backend="numpy")
    graph = jitted.lower(*args).graph
    (loop,) = _scans(graph)
    assert _products_in(loop.params["body"]) == 1              # h @ WH only
    assert loop.params["num_carry"] == 1                       # the accumulators are sums
    _close(jitted(*args), f(*args))                            # eager: the loop as written
    # and the derivatives through the restructured loop
    def g(h0, x):
        return fnp.sum(f(h0, xs3, x)[2])
    fg.test_util.check_grads(g, (H0, xs2), order=1, modes=("rev",))
    _close(fg.jit(fg.grad(g, argnums=(0, 1)), backend="numpy")(H0, xs2),
           fg.grad(g, argnums=(0, 1))(H0, xs2))


def test_loops_it_does_not_apply_to_are_left_as_they_are():
    """An accumulator read by the step (not only added to), and a product of the carry."""
    def body(acc, x):
        new = acc + x.T @ x
        return new, fnp.sum(new)

    def f(xs):
        return fg.scan(body, np.zeros((D, D)), xs)
    jitted = fg.jit(f, backend="numpy")
    (loop,) = _scans(jitted.lower(XS).graph)
    assert loop.params["num_carry"] == 1 and _products_in(loop.params["body"]) == 1
    _close(jitted(XS), f(XS))


def test_stacked_values_beyond_the_memory_budget_stay_in_the_loop(monkeypatch):
    from funcgrad.control import loops
    monkeypatch.setattr(loops, "_STACKED_BYTES", T * B * H * 8 - 1)   # less than one stack
    vg = fg.jit(fg.value_and_grad(rnn_loss), backend="numpy")
    args = ((WX, WH, BIAS), XS, H0)
    forward, backward = _scans(vg.lower(*args).graph)
    assert _products_in(forward.params["body"]) == 2
    assert backward.params["num_carry"] == 4
    _close(vg(*args), fg.jit(fg.value_and_grad(unrolled_loss), backend="numpy")(*args))


@settings(max_examples=12, deadline=None, derandomize=True)
@given(st.data())
def test_random_loops_agree_with_the_loop_unrolled(data):
    """Random step shapes, directions, product sides and accumulations: jit (restructured)
    agrees with the same loop unrolled in Python, values and gradients."""
    t, b, d, h = (data.draw(st.integers(2, 5), label=n) for n in "tbdh")
    reverse = data.draw(st.booleans(), label="reverse")
    left = data.draw(st.booleans(), label="constant on the left")
    acc_kind = data.draw(st.sampled_from(["xTd", "cd", "sum", "none"]), label="accumulator")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    w, c = rng.standard_normal((d, h)), rng.standard_normal((h, h))
    xs = rng.standard_normal((t, d, b) if left else (t, b, d))
    h0 = rng.standard_normal((b, h))

    def step(carry, x):
        hid, acc = carry
        proj = (w.T @ x).T if left else x @ w
        new = fnp.tanh(proj + hid @ c)
        xb = x.T if left else x
        extra = {"xTd": lambda: xb.T @ new, "cd": lambda: w @ new.T,
                 "sum": lambda: fnp.sum(new * new, axis=0),
                 "none": lambda: 0.0 * acc}[acc_kind]()
        return (new, acc + extra), fnp.sum(new, axis=1)

    acc0 = np.zeros({"xTd": (d, h), "cd": (d, b), "sum": (h,), "none": (1,)}[acc_kind])

    def looped(h0, xs):
        (hid, acc), ys = fg.scan(step, (h0, acc0), xs, reverse=reverse)
        return fnp.sum(hid) + fnp.sum(acc * acc) + fnp.sum(ys * ys)

    def unrolled(h0, xs):
        carry, ys = (h0, acc0), [None] * t
        for i in (range(t - 1, -1, -1) if reverse else range(t)):
            carry, ys[i] = step(carry, xs[i])
        return fnp.sum(carry[0]) + fnp.sum(carry[1] * carry[1]) + fnp.sum(fnp.stack(ys) ** 2)

    vg = fg.value_and_grad(looped, argnums=(0, 1))
    forward = _scans(fg.jit(vg, backend="numpy").lower(h0, xs).graph)[0]
    assert _products_in(forward.params["body"]) == 1       # hid @ c: the rest moved out
    _close(fg.jit(vg, backend="numpy")(h0, xs),
           fg.jit(fg.value_and_grad(unrolled, argnums=(0, 1)), backend="numpy")(h0, xs),
           rtol=1e-10)


def test_an_accumulated_product_of_inputs_and_a_constant_is_one_small_product():
    """acc + x_t @ W: hoisted, then summed, the product is (sum_t x_t) @ W; the loop reads
    neither the x slices nor W any more."""
    def f(xs):
        return fg.scan(lambda acc, x: (acc + x @ WX, fnp.sum(x)), np.zeros((B, H)), xs)
    jitted = fg.jit(f, backend="numpy")
    graph = jitted.lower(XS).graph
    (loop,) = _scans(graph)
    products = [e for e in graph.eqns if e.primitive is dot_general_p]
    assert loop.params["num_carry"] == 0 and loop.params["num_consts"] == 0
    assert len(products) == 1 and products[0].inputs[0].aval.shape == (B, D)
    _close(jitted(XS), f(XS))
