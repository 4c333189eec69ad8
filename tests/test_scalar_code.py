"""Generated code on scalars: Python's operators for +, - and *, 0-d array arguments unwrapped
to NumPy scalars, and grad's one-step path through eager programs. Every result is compared
bit for bit with NumPy's ufuncs on 0-d arrays, in the dtype NumPy gives."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcgrad as fg
import funcgrad.numpy as fnp


def _ufunc_reference(x, y):
    """(x * y - x) + y * 3 - (-x), each operation a ufunc on 0-d arrays."""
    x, y = np.asarray(x), np.asarray(y)
    t = np.subtract(np.multiply(x, y), x)
    return np.subtract(np.add(t, np.multiply(y, 3)), np.negative(x))


def _f(x, y):
    return (x * y - x) + y * 3 - (-x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scalar_arithmetic_is_operators_with_the_ufuncs_results(dtype):
    x, y = dtype(1.1), dtype(-2.3)
    text = fg.jit(_f, backend="numpy").lower(np.asarray(x), np.asarray(y)).as_text()
    assert "_multiply" not in text and "_subtract" not in text and "_add" not in text
    assert "(v0 * v1)" in text and "[()]" in text
    expect = _ufunc_reference(x, y)
    # 0-d arrays, NumPy scalars, read-only arrays: one value, one dtype, an owned 0-d array
    ro_x, ro_y = np.asarray(x).copy(), np.asarray(y).copy()
    ro_x.flags.writeable = ro_y.flags.writeable = False
    for args in [(np.asarray(x), np.asarray(y)), (x, y), (ro_x, ro_y)]:
        out = fg.jit(_f, backend="numpy")(*args)
        assert type(out) is np.ndarray and out.shape == () and out.dtype == dtype
        assert out.tobytes() == expect.tobytes()


@settings(max_examples=60, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True, width=32),
       st.floats(allow_nan=True, allow_infinity=True, width=32),
       st.sampled_from([np.float32, np.float64]))
def test_scalar_operators_agree_with_ufuncs_on_any_values(a, b, dtype):
    x, y = dtype(a), dtype(b)
    with np.errstate(all="ignore"):
        expect = _ufunc_reference(x, y)
        out = fg.jit(_f, backend="numpy")(x, y)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, expect)     # NaN where NumPy gives NaN


def test_python_numbers_keep_numpys_promotion():
    # a Python float takes the array's dtype (NEP 50), as the ufunc would
    out = fg.jit(lambda x: x * 0.1 + 2)(np.float32(3.0))
    assert out.dtype == np.float32
    assert out.tobytes() == np.add(np.multiply(np.float32(3.0), 0.1), 2).tobytes()
    # Python floats as arguments: weak, so the ufunc's path, and arithmetic stays NumPy's
    assert float(fg.jit(lambda x, y: x * y + x)(1.5, 2.0)) == 4.5


def test_division_by_zero_of_python_floats_is_numpys_inf_not_an_exception():
    with np.errstate(divide="ignore"):
        assert float(fg.jit(lambda x, y: x / y)(1.0, 0.0)) == np.inf
        assert float(fg.jit(lambda x, y: x / y)(np.float64(1.0), np.float64(0.0))) == np.inf


def test_a_returned_0d_argument_is_a_new_array():
    a = np.array(2.5)
    out = fg.jit(lambda x: x)(a)
    assert type(out) is np.ndarray and out is not a and float(out) == 2.5
    out[()] = 7.0
    assert float(a) == 2.5


def test_arrays_and_integers_keep_the_ufuncs():
    text = fg.jit(lambda x, i: x * 2.0 + i * 3).lower(np.ones(3), np.array(2)).as_text()
    assert "_multiply" in text and "[()]" not in text


# ---------------------------------------------------------------- grad's one-step path

def test_grad_of_a_scalar_function_on_every_call_of_the_eager_regimes():
    f = lambda x: fnp.sin(x ** 2) * fnp.exp(x)          # noqa: E731
    expect = 2 * 0.7 * np.cos(0.49) * np.exp(0.7) + np.sin(0.49) * np.exp(0.7)
    g, vg = fg.grad(f), fg.value_and_grad(f)
    for _ in range(5):      # the tape, the program's compilation, then the program
        got = g(0.7)
        assert type(got) is np.ndarray and got.dtype == np.float64 and got.flags.writeable
        np.testing.assert_allclose(got, expect, rtol=1e-15)
        value, grad = vg(np.float32(0.7))
        assert value.dtype == grad.dtype == np.float32
        np.testing.assert_allclose(grad, expect, rtol=1e-6)


def test_output_errors_on_every_call_and_the_next_call_is_right():
    for _ in range(5):
        with pytest.raises(TypeError, match=r"shape \(\).*f64\[3\]"):
            fg.grad(lambda x: x * 2.0)(np.ones(3))
        with pytest.raises(TypeError, match="integer outputs have no gradient"):
            fg.grad(lambda x: (x > 0).sum())(np.ones(3))
        with pytest.raises(TypeError, match="holomorphic=True requires complex inputs"):
            fg.grad(lambda z: z * z, holomorphic=True)(1.0)
        assert fg.grad(lambda x: (x * 2.0).sum())(np.ones(3)).tolist() == [2.0] * 3


def test_grad_of_the_identity_does_not_hand_out_the_seed_or_the_argument():
    x = np.array(3.0)
    for _ in range(5):
        g1, g2 = fg.grad(lambda x: x)(x), fg.grad(lambda x: x)(x)
        assert g1 is not g2 and g1 is not x and float(g1) == 1.0
        g1[()] = 5.0
        assert float(g2) == 1.0 and float(x) == 3.0


def test_grad_with_an_int_argnums_of_a_pytree_argument_and_aux():
    def loss(params, scale):
        value = scale * (params["w"] ** 2).sum() + params["b"]
        return value, {"value": value}
    params = {"w": np.array([1.0, -2.0]), "b": np.array(0.5)}
    for _ in range(5):
        g, aux = fg.grad(loss, has_aux=True)(params, 3.0)
        assert g["w"].tolist() == [6.0, -12.0] and float(g["b"]) == 1.0
        assert float(aux["value"]) == 15.5
        (value, aux), g = fg.value_and_grad(loss, argnums=1, has_aux=True)(params, 3.0)
        assert float(value) == 15.5 and float(g) == 5.0
