"""jacfwd, jacrev, hessian: against each other, finite differences and closed forms; JAX's
layout for shapes and pytrees; composition with vmap and grad."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.test_util import numerical_jvp


def fd_jacobian(f, x):
    """Central-difference Jacobian of an array function of one array: out.shape + x.shape."""
    x = np.asarray(x, float)
    out = np.asarray(f(x))
    cols = [numerical_jvp(f, (x,), (e.reshape(x.shape),)) for e in np.eye(x.size)]
    return np.stack(cols, axis=-1).reshape(out.shape + x.shape) if cols else \
        np.zeros(out.shape + x.shape)


def vec_fun(x):
    return fnp.sin(x) * fnp.sum(x ** 2) + fnp.cumsum(x)[::-1]


def mat_fun(x):
    return fnp.tanh(x @ x.T) / (1.0 + fnp.sum(x * x, axis=1))


def scalar_fun(x):
    return fnp.log(fnp.sum(fnp.exp(x))) + fnp.prod(fnp.cos(x))


small = st.floats(-1.5, 1.5, allow_nan=False, width=64)


@settings(max_examples=12, deadline=None, derandomize=True)
@given(hnp.arrays(np.float64, st.integers(1, 5), elements=small))
def test_jacfwd_jacrev_and_finite_differences_agree_vector(x):
    jf, jr = fg.jacfwd(vec_fun)(x), fg.jacrev(vec_fun)(x)
    assert jf.shape == jr.shape == (x.size, x.size)
    np.testing.assert_allclose(jf, jr, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(jf, fd_jacobian(vec_fun, x), rtol=1e-6, atol=1e-7)


@settings(max_examples=10, deadline=None, derandomize=True)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=3),
                  elements=small))
def test_jacfwd_jacrev_and_finite_differences_agree_matrix(x):
    jf, jr = fg.jacfwd(mat_fun)(x), fg.jacrev(mat_fun)(x)
    m = x.shape[0]
    assert jf.shape == jr.shape == (m, m) + x.shape     # output shape + input shape
    np.testing.assert_allclose(jf, jr, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(jf, fd_jacobian(mat_fun, x), rtol=1e-6, atol=1e-7)


@settings(max_examples=10, deadline=None, derandomize=True)
@given(hnp.arrays(np.float64, st.integers(1, 4), elements=small))
def test_hessian_matches_finite_differences_of_the_gradient(x):
    h = fg.hessian(scalar_fun)(x)
    np.testing.assert_allclose(h, h.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h, fd_jacobian(fg.grad(scalar_fun), x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(h, fg.jacrev(fg.jacrev(scalar_fun))(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h, fg.jacrev(fg.jacfwd(scalar_fun))(x), rtol=1e-12, atol=1e-12)


def test_hessian_of_quadratic_form():
    rng = np.random.default_rng(0)
    a, x = rng.normal(size=(4, 4)), rng.normal(size=4)
    np.testing.assert_allclose(fg.hessian(lambda x: x @ a @ x)(x), a + a.T, rtol=1e-12)


def test_hessian_vector_product_is_jvp_of_grad():
    rng = np.random.default_rng(1)
    x, v = rng.normal(size=5), rng.normal(size=5)
    _, hvp = fg.jvp(fg.grad(scalar_fun), (x,), (v,))
    np.testing.assert_allclose(hvp, fg.hessian(scalar_fun)(x) @ v, rtol=1e-10, atol=1e-12)


def test_scalar_input_and_scalar_output_layouts():
    x = np.array([1.0, 2.0, 3.0])
    for jac in (fg.jacfwd, fg.jacrev):
        assert jac(fnp.sum)(x).shape == (3,)
        np.testing.assert_allclose(jac(lambda t: t * x)(2.0), x)
        assert jac(lambda t: t * x)(2.0).shape == (3,)
        np.testing.assert_allclose(jac(lambda t: t ** 3)(2.0), 12.0)
        assert jac(lambda t: t ** 3)(2.0).shape == ()


def test_pytree_layout_outer_output_inner_input():
    def f(p, z):
        return {"u": p["w"] * z, "v": (fnp.sum(p["w"]) * p["b"], z ** 2)}

    p = {"w": np.array([1.0, 2.0, 3.0]), "b": np.array(0.5)}
    z = np.array(2.0)
    for jac in (fg.jacfwd, fg.jacrev):
        j = jac(f)(p, z)      # argnums=0: inner structure is p's
        assert set(j) == {"u", "v"} and set(j["u"]) == {"w", "b"}
        np.testing.assert_allclose(j["u"]["w"], 2.0 * np.eye(3))
        np.testing.assert_allclose(j["u"]["b"], np.zeros(3))
        np.testing.assert_allclose(j["v"][0]["w"], np.full(3, 0.5))
        np.testing.assert_allclose(j["v"][0]["b"], 6.0)
        assert j["v"][1]["w"].shape == (3,) and j["v"][1]["b"].shape == ()
        jt = jac(f, argnums=(0, 1))(p, z)   # argnums tuple: inner is a tuple over arguments
        assert isinstance(jt["u"], tuple) and len(jt["u"]) == 2
        np.testing.assert_allclose(jt["u"][0]["w"], 2.0 * np.eye(3))
        np.testing.assert_allclose(jt["u"][1], p["w"])
        np.testing.assert_allclose(jt["v"][1][1], 4.0)


def test_hessian_with_argnums_tuple():
    f = lambda x, y: fnp.sum(x ** 2 * y) + y[0] ** 3
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    (hxx, hxy), (hyx, hyy) = fg.hessian(f, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(hxx, np.diag(2 * y))
    np.testing.assert_allclose(hxy, np.diag(2 * x))
    np.testing.assert_allclose(hyx, np.diag(2 * x))
    np.testing.assert_allclose(hyy, np.diag([18.0, 0.0]))


def test_function_is_traced_once():
    calls = []

    def f(x):
        calls.append(1)
        return fnp.sin(x)

    x = np.linspace(0, 1, 7)
    for jac in (fg.jacfwd, fg.jacrev):
        calls.clear()
        np.testing.assert_allclose(jac(f)(x), np.diag(np.cos(x)), rtol=1e-12)
        assert len(calls) == 1   # one (batched) pass, not one per basis vector


def test_integer_inputs_are_refused():
    for jac in (fg.jacfwd, fg.jacrev, fg.hessian):
        with pytest.raises(TypeError, match="argument 0 has dtype int64"):
            jac(lambda x: x * 2.0)(np.arange(3))


def test_dtype_follows_float32_inputs():
    x = np.ones(3, np.float32)
    assert fg.jacfwd(fnp.sin)(x).dtype == np.float32
    assert fg.jacrev(fnp.sin)(x).dtype == np.float32


def test_outputs_independent_of_the_input_give_zero_blocks():
    x = np.array([1.0, 2.0])
    for jac in (fg.jacfwd, fg.jacrev):
        j = jac(lambda x: (x * 2.0, np.ones(3), fnp.argmax(x)))(x)
        np.testing.assert_allclose(j[0], 2.0 * np.eye(2))
        np.testing.assert_array_equal(j[1], np.zeros((3, 2)))
        np.testing.assert_array_equal(j[2], np.zeros(2))


def test_vmap_of_jacobians_and_grad_of_jacobian():
    xs = np.random.default_rng(2).normal(size=(4, 3))
    per = fg.vmap(fg.jacrev(vec_fun))(xs)
    np.testing.assert_allclose(per, np.stack([fg.jacfwd(vec_fun)(x) for x in xs]), rtol=1e-12)
    per = fg.vmap(fg.hessian(scalar_fun))(xs)
    np.testing.assert_allclose(per, np.stack([fg.hessian(scalar_fun)(x) for x in xs]),
                               rtol=1e-12)
    # grad of the Jacobian's trace (= grad of the Laplacian-like sum of second derivatives).
    g = fg.grad(lambda x: fnp.trace(fg.jacrev(vec_fun)(x)))(xs[0])
    fd = numerical_jvp  # column by column, via finite differences of the trace
    cols = [fd(lambda x: np.trace(fg.jacrev(vec_fun)(x)), (xs[0],), (e,)) for e in np.eye(3)]
    np.testing.assert_allclose(g, np.array(cols), rtol=1e-6, atol=1e-7)


@fg.custom_vjp
def soft_clip(x):
    return fnp.tanh(x)


soft_clip.defvjp(lambda x: (fnp.tanh(x), x), lambda x, g: (g / fnp.cosh(x) ** 2,))


def test_jacrev_uses_custom_vjp_and_jacfwd_refuses_it():
    x = np.array([0.3, -1.2])
    np.testing.assert_allclose(fg.jacrev(soft_clip)(x), np.diag(1 / np.cosh(x) ** 2),
                               rtol=1e-12)
    with pytest.raises(TypeError, match="forward-mode"):
        fg.jacfwd(soft_clip)(x)
    # hessian = forward over reverse: the bwd rule itself is differentiated forward.
    h = fg.hessian(lambda x: fnp.sum(soft_clip(x)))(x)
    np.testing.assert_allclose(h, np.diag(-2 * np.tanh(x) / np.cosh(x) ** 2), rtol=1e-10)
