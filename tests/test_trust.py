"""No silently wrong derivative: each reproducer of the trust issue, as a test.

- conversions that would drop a derivative (float, complex, item, tolist, np.asarray, NumPy
  scalar types, math functions, writing into a NumPy array) raise ConcretizationError naming
  the operation, the user's line and the fix, eagerly and under jit(grad);
- values without a derivative keep converting; fg.debug.print / callback log inside grad,
  vmap and jit;
- complex numbers follow JAX (the expected values below are what jax.grad returns, x64);
- stop_gradient under nested eager differentiation gives the same answer on every call;
- grad of a one-element output of shape (1,) is refused, as in JAX.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.errors import ConcretizationError


def _line_of(marker: str) -> str:
    """'test_trust.py:N' of the line in this file that contains `marker`."""
    with open(__file__) as f:
        for i, line in enumerate(f, 1):
            if marker in line and "_line_of" not in line:
                return f"test_trust.py:{i}"
    raise AssertionError(marker)


# ---------------------------------------------------------------- conversions

def _to_float(x):
    return float(x) * x                          # conv:float


def _math_sqrt(x):
    return math.sqrt(x * x) + x                  # conv:math


def _np_scalar(x):
    return np.float64(x) * x                     # conv:np.float64


def _to_complex(x):
    return complex(x).real * x                   # conv:complex


def _item(x):
    return x.item() * x                          # conv:item


def _tolist(x):
    return x.tolist() * x                        # conv:tolist


def _asarray(x):
    return np.asarray(x) * x                     # conv:asarray


def _into_buffer(x):
    out = np.zeros(3)
    out[0] = x ** 2                              # conv:buffer
    return out.sum()


def _into_buffer_slice(x):
    out = np.zeros(3)
    out[0:1] = x ** 2                            # conv:slice
    return out.sum()


CONVERSIONS = [
    (_to_float, "float()", "conv:float"), (_math_sqrt, "float()", "conv:math"),
    (_np_scalar, "np.asarray()", "conv:np.float64"), (_to_complex, "complex()", "conv:complex"),
    (_item, "item()", "conv:item"), (_tolist, "tolist()", "conv:tolist"),
    (_asarray, "np.asarray()", "conv:asarray"), (_into_buffer, "out[i] = x", "conv:buffer"),
    (_into_buffer_slice, "out[i:j] = x", "conv:slice"),
]


@pytest.mark.parametrize("f,operation,marker", CONVERSIONS, ids=[m for _, _, m in CONVERSIONS])
@pytest.mark.parametrize("how", ["grad", "jit(grad)", "jvp", "grad(grad)"])
def test_conversions_of_a_differentiated_value_raise(f, operation, marker, how):
    run = {"grad": lambda: fg.grad(f)(3.0),
           "jit(grad)": lambda: fg.jit(fg.grad(f))(3.0),
           "jvp": lambda: fg.jvp(f, (3.0,), (1.0,)),
           "grad(grad)": lambda: fg.grad(fg.grad(f))(3.0)}[how]
    for _ in range(3):          # and on later calls (the eager regimes change with the count)
        with pytest.raises(ConcretizationError) as info:
            run()
        msg = str(info.value)
        assert isinstance(info.value, TypeError)
        assert operation in msg, msg
        assert _line_of(marker) in msg, msg
        assert "funcgrad.numpy" in msg and "fg.debug.print" in msg and "stop_gradient" in msg


def test_conversions_under_jit_name_the_fix():
    with pytest.raises(ConcretizationError, match=r"abstract under fg\.jit.*funcgrad\.numpy"):
        fg.jit(_math_sqrt)(3.0)
    with pytest.raises(ConcretizationError, match=r"out\[i\] = x.*abstract under fg\.jit"):
        fg.jit(_into_buffer)(3.0)


def test_values_without_a_derivative_still_convert():
    def f(x):
        scale = float(fg.stop_gradient(x))           # a constant now
        flag = bool(x > 0)                           # a comparison has no derivative
        n = int(x)                                   # int/bool/index: zero derivative a.e.
        return x * scale * (2.0 if flag else 1.0) + n
    for _ in range(6):
        np.testing.assert_allclose(fg.grad(f)(3.0), 6.0)
    assert float(fnp.sin(np.array(0.5))) == math.sin(0.5)     # outside any transformation
    with pytest.raises(ConcretizationError, match="int"):
        fg.jit(fg.grad(lambda x: x * int(x)))(3.0)              # abstract under jit


def test_formatting_a_differentiated_value_is_allowed():
    # A string cannot carry a number back into the computation: f-strings work under grad.
    assert fg.grad(lambda x: (f"{x:.2f}", x * x)[1])(3.0) == 6.0


# ---------------------------------------------------------------- debug printing

def test_debug_print_inside_grad_vmap_and_jit(capsys):
    def loss(x):
        fg.debug.print("x={x} loss={l:.3f}", x=x, l=fnp.sum(fnp.sin(x)))
        return fnp.sum(fnp.sin(x))

    x = np.array([0.5, 1.0])
    for _ in range(4):
        np.testing.assert_allclose(fg.grad(loss)(x), np.cos(x))
    assert capsys.readouterr().out == "x=[0.5 1. ] loss=1.321\n" * 4
    jitted = fg.jit(fg.grad(loss))
    jitted(x)
    jitted(2 * x)                                # printed on every call, with the new values
    assert capsys.readouterr().out == "x=[0.5 1. ] loss=1.321\nx=[1. 2.] loss=1.751\n"
    fg.vmap(loss)(np.stack([x, 2 * x]))          # one line per example
    assert capsys.readouterr().out == "x=[0.5 1. ] loss=1.321\nx=[1. 2.] loss=1.751\n"
    fg.jit(fg.vmap(fg.grad(loss)))(np.stack([x, 2 * x]))
    assert capsys.readouterr().out == "x=[0.5 1. ] loss=1.321\nx=[1. 2.] loss=1.751\n"


def test_debug_callback_is_kept_in_graphs_and_sees_primal_values():
    seen = []

    def f(x):
        fg.debug.callback(lambda v: seen.append(v.copy()), x * 2.0)
        return x * x

    graph = fg.make_graph(f)(np.ones(2))
    assert [e.primitive.name for e in graph.eqns] == ["mul", "debug_callback", "mul"]
    fg.hessian(lambda x: fnp.sum(f(x)))(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(seen[-1], [2.0, 4.0])
    assert "_debug_callback_" in fg.jit(f).lower(np.ones(2)).as_text()   # kept by the passes
    seen.clear()
    fg.jit(f)(np.array([3.0]))
    np.testing.assert_array_equal(seen, [[6.0]])


# ---------------------------------------------------------------- complex numbers

Z = np.array(3.0 + 4.0j)


def test_complex_reproducers_match_jax():
    # Each expected value is what jax.grad / jax.jvp give (jax 0.10, x64).
    assert fg.grad(lambda x: fnp.abs(1j * x) ** 2)(1.5) == pytest.approx(3.0)
    assert fg.grad(lambda x: fnp.abs(fnp.exp(1j * x)) ** 2)(1.5) == pytest.approx(0.0, abs=1e-15)
    out, t = fg.jvp(fnp.abs, (np.array(1 + 2j),), (np.array(1 + 0j),))
    assert t.dtype == np.float64 and t == pytest.approx(1 / math.sqrt(5))
    assert fnp.linalg.norm(np.array([3 + 4j, 0])) == pytest.approx(5.0)
    assert fg.grad(lambda z: fnp.abs(z) ** 2)(Z) == pytest.approx(6 - 8j)
    assert fg.grad(lambda z: np.real(z) ** 2 + np.imag(z) ** 2)(Z) == pytest.approx(6 - 8j)
    assert fg.grad(np.angle)(Z) == pytest.approx(-0.16 - 0.12j)
    assert fg.grad(lambda z: fnp.abs(fnp.sin(z)))(np.array(1 + 0.5j)) == pytest.approx(
        0.45935509042941763 - 0.5936832489051987j)
    assert fg.grad(fnp.sin, holomorphic=True)(np.array(1 + 0.5j)) == pytest.approx(
        np.cos(1 + 0.5j))
    assert fg.grad(lambda z: fnp.var(fnp.stack([z, 1.0])))(Z) == pytest.approx(1 - 2j)
    np.testing.assert_allclose(fg.jacfwd(lambda x: fnp.exp(1j * x))(1.0), np.exp(1j) * 1j)
    (ct,) = fg.vjp(lambda x: fnp.exp(1j * x), 1.0)[1](np.array(1.0 + 0j))
    assert ct.dtype == np.float64 and ct == pytest.approx(-math.sin(1.0))


def test_numpy_functions_on_traced_complex_values():
    def f(z):
        return np.real(z) * np.imag(z) + np.real(np.conj(z) * z) + np.angle(z)
    g = fg.grad(f)(Z)
    # d/dx + i d/dy, conjugated (JAX): f = xy + x^2 + y^2 + atan2(y, x)
    x, y = 3.0, 4.0
    dx, dy = y + 2 * x - y / 25, x + 2 * y + x / 25
    assert g == pytest.approx(dx - 1j * dy)
    np.testing.assert_allclose(fg.jit(f)(Z), f(Z))


def test_complex_outputs_need_holomorphic():
    with pytest.raises(TypeError, match="real-valued outputs.*holomorphic=True"):
        fg.grad(lambda z: z * z)(Z)
    with pytest.raises(TypeError, match="holomorphic=True requires complex inputs"):
        fg.grad(lambda x: x * x, holomorphic=True)(3.0)
    with pytest.raises(TypeError, match="holomorphic=True requires complex outputs"):
        fg.grad(fnp.abs, holomorphic=True)(Z)
    with pytest.raises(TypeError, match="jacfwd requires real-valued inputs"):
        fg.jacfwd(fnp.abs)(Z)
    with pytest.raises(TypeError, match="jacrev requires real-valued outputs"):
        fg.jacrev(lambda x: fnp.exp(1j * x))(1.0)
    assert fg.grad(lambda z: z * z, holomorphic=True)(Z) == 2 * Z
    zs = np.array([1 + 0.5j, 2j])
    np.testing.assert_allclose(fg.jacrev(fnp.sin, holomorphic=True)(zs), np.diag(np.cos(zs)))
    np.testing.assert_allclose(fg.jacfwd(fnp.sin, holomorphic=True)(zs), np.diag(np.cos(zs)))
    np.testing.assert_allclose(fg.hessian(lambda z: fnp.sum(z ** 3), holomorphic=True)(zs),
                               np.diag(6 * zs))


def test_complex_under_every_transformation():
    zs = np.array([1.0 + 0.5j, -0.3 + 2.0j, 0.7 - 0.2j])

    def loss(z):
        return fnp.sum(fnp.abs(fnp.exp(z) * fnp.conj(z)) ** 2)

    g = fg.grad(loss)
    first = g(zs)
    for _ in range(5):
        np.testing.assert_allclose(g(zs), first, rtol=1e-12)
    np.testing.assert_allclose(fg.jit(g)(zs), first, rtol=1e-12)
    np.testing.assert_allclose(fg.grad(fg.jit(loss))(zs), first, rtol=1e-12)
    np.testing.assert_allclose(fg.vmap(g)(zs[:, None]), first[:, None], rtol=1e-12)
    fg.test_util.check_grads(loss, (zs,), order=2)


# ---------------------------------------------------------------- stop_gradient

def test_stop_gradient_under_nested_eager_grad_on_every_call():
    f = lambda x: x * fg.stop_gradient(x)                  # noqa: E731
    assert [float(fg.grad(fg.grad(f))(3.0)) for _ in range(6)] == [0.0] * 6
    g = lambda x: x ** 3 + fg.stop_gradient(x ** 2) * x   # noqa: E731
    assert [float(fg.grad(fg.grad(g))(2.0)) for _ in range(6)] == [12.0] * 6
    for _ in range(6):
        np.testing.assert_allclose(fg.hessian(g)(2.0), 12.0)
        np.testing.assert_allclose(fg.jvp(fg.grad(g), (2.0,), (1.0,))[1], 12.0)
    assert float(fg.jit(fg.grad(fg.grad(f)))(3.0)) == 0.0


# ---------------------------------------------------------------- one-element outputs

def test_grad_of_a_one_element_output_is_refused_as_in_jax():
    # SPEC: grad needs a scalar of shape (); a (1,) array is not one (JAX raises TypeError).
    with pytest.raises(TypeError, match=r"shape \(\).*f64\[1\].*\.sum\(\)"):
        fg.grad(lambda x: x * 2.0)(np.array([1.0]))
    np.testing.assert_allclose(fg.grad(lambda x: (x * 2.0).sum())(np.array([1.0])), [2.0])
    np.testing.assert_allclose(fg.jacrev(lambda x: x * 2.0)(np.array([1.0])), [[2.0]])
