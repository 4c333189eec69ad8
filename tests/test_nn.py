"""funcgrad.nn: values against NumPy references, derivatives against finite differences,
stability at |logits| = 1e4 in float32 and float64, and dtype preservation."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import nn
from funcgrad.test_util import check_grads

rng = np.random.default_rng(0)
X = rng.standard_normal((4, 5))
T01 = (rng.random((4, 5)) > 0.5).astype(np.float64)
LABELS = np.array([0, 4, 2, 1])
BIG = np.array([[-1e4, 0.0, 1e4, 3.0, -2.0], [1e4, 1e4, -1e4, 0.5, 0.0]])
BIG_LABELS = np.array([0, 2])
BIG_T = np.array([[1.0, 0.0, 1.0, 0.0, 1.0], [0.0, 1.0, 1.0, 1.0, 0.0]])


# --------------------------------------------------------------------------- references

def ref_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def ref_log_softmax(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))


def ref_gelu_exact(x):
    return np.array([v * 0.5 * (1.0 + math.erf(v / math.sqrt(2.0))) for v in x.ravel()]
                    ).reshape(x.shape)


ELEMENTWISE = [
    (nn.sigmoid, ref_sigmoid),
    (nn.softplus, lambda x: np.log1p(np.exp(x))),
    (nn.log_sigmoid, lambda x: np.log(ref_sigmoid(x))),
    (nn.relu, lambda x: np.maximum(x, 0.0)),
    (nn.tanh, np.tanh),
    (lambda x: nn.gelu(x, approximate=True),
     lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))),
    (lambda x: nn.gelu(x, approximate=False), ref_gelu_exact),
]


@pytest.mark.parametrize("f, ref", ELEMENTWISE)
def test_elementwise_values_and_derivatives(f, ref):
    np.testing.assert_allclose(f(X), ref(X), rtol=1e-12, atol=1e-14)
    check_grads(f, (X,), order=2)


def test_softmax_family_values():
    np.testing.assert_allclose(nn.log_softmax(X), ref_log_softmax(X), rtol=1e-12)
    np.testing.assert_allclose(nn.log_softmax(X, axis=0), ref_log_softmax(X, 0), rtol=1e-12)
    np.testing.assert_allclose(nn.softmax(X), np.exp(ref_log_softmax(X)), rtol=1e-12)
    np.testing.assert_allclose(nn.logsumexp(X, axis=1), np.log(np.exp(X).sum(1)), rtol=1e-12)
    np.testing.assert_allclose(nn.logsumexp(X), np.log(np.exp(X).sum()), rtol=1e-12)
    assert nn.logsumexp(X, axis=1, keepdims=True).shape == (4, 1)


@pytest.mark.parametrize("f", [nn.softmax, nn.log_softmax, lambda x: nn.softmax(x, axis=0),
                               lambda x: nn.logsumexp(x, axis=1)])
def test_softmax_family_derivatives(f):
    check_grads(f, (X,), order=2)


def test_gelu_exact_matches_erf_to_1e15_and_its_derivative():
    x = np.linspace(-8.0, 8.0, 2001)
    err = np.abs(nn.gelu(x, approximate=False) - ref_gelu_exact(x))
    assert np.all(err <= 2e-15 * np.maximum(1.0, np.abs(x))), err.max()
    # d/dx x Phi(x) = Phi(x) + x phi(x), with Phi from math.erf
    phi = np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    big_phi = np.array([0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x])
    g = fg.grad(lambda x: fnp.sum(nn.gelu(x, approximate=False)))(x)
    np.testing.assert_allclose(g, big_phi + x * phi, rtol=0, atol=1e-12)
    assert abs(float(fg.grad(lambda x: nn.gelu(x, approximate=False))(0.0)) - 0.5) < 1e-15


def test_relu_derivative_at_zero_is_zero():
    np.testing.assert_array_equal(fg.grad(lambda x: fnp.sum(nn.relu(x)))(np.array([-1.0, 0.0,
                                                                                   2.0])),
                                  [0.0, 0.0, 1.0])


def test_one_hot():
    np.testing.assert_array_equal(nn.one_hot(np.array([2, 0, 5]), 3),
                                  [[0, 0, 1], [1, 0, 0], [0, 0, 0]])
    assert nn.one_hot(np.array([1]), 2, dtype=np.float32).dtype == np.float32
    np.testing.assert_array_equal(nn.one_hot(np.array([[1, 0]]), 3, axis=0).shape, (3, 1, 2))
    np.testing.assert_array_equal(nn.one_hot(np.array([[1, 0]]), 3, axis=0)[:, 0, 0], [0, 1, 0])


# --------------------------------------------------------------------------- losses

def test_binary_cross_entropy_values_match_formula_and_reductions():
    p = ref_sigmoid(X)
    per = -(T01 * np.log(p) + (1 - T01) * np.log(1 - p))
    np.testing.assert_allclose(nn.binary_cross_entropy(p, T01), per.mean(), rtol=1e-12)
    np.testing.assert_allclose(nn.binary_cross_entropy(p, T01, reduction="sum"), per.sum(),
                               rtol=1e-12)
    np.testing.assert_allclose(nn.binary_cross_entropy(p, T01, reduction="none"), per,
                               rtol=1e-12)
    np.testing.assert_allclose(nn.binary_cross_entropy_with_logits(X, T01, reduction="none"),
                               per, rtol=1e-12)


def test_binary_cross_entropy_clamps_log_at_minus_100_like_pytorch():
    p = np.array([0.0, 1.0, 0.0, 1.0])
    t = np.array([1.0, 0.0, 0.0, 1.0])
    np.testing.assert_array_equal(nn.binary_cross_entropy(p, t, reduction="none"),
                                  [100.0, 100.0, 0.0, 0.0])
    g = fg.grad(nn.binary_cross_entropy)(p, t)
    assert np.all(np.isfinite(g))
    # the torch seed: sigmoid(1.1 * 2.2) against target 1 gives 0.0852
    a = nn.sigmoid(np.array([1.1 * 2.2]))
    assert round(float(nn.binary_cross_entropy(a, np.array([1.0]))), 4) == 0.0852
    p32 = np.array([0.0, 1e-40, 1e-30, 1.0], np.float32)
    g32 = fg.grad(nn.binary_cross_entropy)(p32, np.ones(4, np.float32))
    assert g32.dtype == np.float32 and np.all(np.isfinite(g32))


@pytest.mark.parametrize("f", [
    lambda z, t: nn.binary_cross_entropy_with_logits(z, t),
    lambda z, t: nn.binary_cross_entropy(nn.sigmoid(z), t),
    lambda z, t: nn.binary_cross_entropy(nn.sigmoid(z), t, reduction="sum"),
    lambda z, t: nn.softmax_cross_entropy(z, nn.softmax(t)),
])
def test_binary_and_soft_losses_derivatives_in_both_arguments(f):
    check_grads(f, (X, ref_sigmoid(X.T[::-1].T)), order=2)


def test_binary_cross_entropy_with_logits_gradient_is_sigmoid_minus_target():
    g = fg.grad(nn.binary_cross_entropy_with_logits)(X, T01)
    np.testing.assert_allclose(g, (ref_sigmoid(X) - T01) / X.size, rtol=1e-12)


def test_softmax_cross_entropy_integer_and_one_hot_labels_agree():
    per = -ref_log_softmax(X)[np.arange(4), LABELS]
    np.testing.assert_allclose(nn.softmax_cross_entropy(X, LABELS), per.mean(), rtol=1e-12)
    np.testing.assert_allclose(nn.softmax_cross_entropy(X, LABELS, reduction="none"), per,
                               rtol=1e-12)
    np.testing.assert_allclose(nn.softmax_cross_entropy(X, nn.one_hot(LABELS, 5),
                                                        reduction="sum"), per.sum(), rtol=1e-12)
    # class axis first
    np.testing.assert_allclose(nn.softmax_cross_entropy(X.T, LABELS, axis=0), per.mean(),
                               rtol=1e-12)
    g = fg.grad(nn.softmax_cross_entropy)(X, LABELS)
    np.testing.assert_allclose(g, (np.exp(ref_log_softmax(X)) - np.eye(5)[LABELS]) / 4,
                               rtol=1e-12, atol=1e-15)
    check_grads(lambda z: nn.softmax_cross_entropy(z, LABELS), (X,), order=2)


def test_loss_argument_errors():
    with pytest.raises(ValueError, match="reduction"):
        nn.softmax_cross_entropy(X, LABELS, reduction="avg")
    with pytest.raises(ValueError, match=r"expected \(4,\)"):
        nn.softmax_cross_entropy(X, LABELS[:3])
    with pytest.raises(ValueError, match="must match"):
        nn.softmax_cross_entropy(X, np.ones((4, 4)))


# --------------------------------------------------------------------------- stability, dtypes

STABLE = {
    "sigmoid": lambda z: fnp.sum(nn.sigmoid(z)),
    "log_sigmoid": lambda z: fnp.sum(nn.log_sigmoid(z)),
    "softplus": lambda z: fnp.sum(nn.softplus(z)),
    "gelu": lambda z: fnp.sum(nn.gelu(z)),
    "gelu_exact": lambda z: fnp.sum(nn.gelu(z, approximate=False)),
    "softmax": lambda z: fnp.sum(nn.softmax(z)[:, :2]),
    "log_softmax": lambda z: fnp.sum(nn.log_softmax(z)),
    "logsumexp": lambda z: nn.logsumexp(z),
    "bce_logits": lambda z: nn.binary_cross_entropy_with_logits(z, BIG_T.astype(z.dtype)),
    "bce": lambda z: nn.binary_cross_entropy(nn.sigmoid(z), BIG_T.astype(z.dtype)),
    "sce_int": lambda z: nn.softmax_cross_entropy(z, BIG_LABELS),
    "sce_prob": lambda z: nn.softmax_cross_entropy(z, nn.one_hot(BIG_LABELS, 5, z.dtype)),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(STABLE))
def test_finite_values_and_gradients_at_logits_1e4(name, dtype):
    z = BIG.astype(dtype)
    value, g = fg.value_and_grad(STABLE[name])(z)
    assert value.dtype == dtype and g.dtype == dtype
    assert np.isfinite(value) and np.all(np.isfinite(g)), (value, g)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exact_gradients_at_logits_1e4(dtype):
    z = BIG.astype(dtype)
    g = fg.grad(STABLE["bce_logits"])(z)
    np.testing.assert_allclose(g, (ref_sigmoid(BIG) - BIG_T) / BIG.size, atol=1e-7)
    g = fg.grad(STABLE["sce_int"])(z)
    sm = np.array([[0, 0, 1, 0, 0], [0.5, 0.5, 0, 0, 0]])
    np.testing.assert_allclose(g, (sm - np.eye(5)[BIG_LABELS]) / 2, atol=1e-7)
    v = nn.softmax_cross_entropy(z, BIG_LABELS, reduction="none")
    np.testing.assert_allclose(v, [2e4, 2e4 + math.log(2)], rtol=1e-6)
    np.testing.assert_allclose(nn.log_sigmoid(z[0, :3]), [-1e4, -math.log(2), 0.0], rtol=1e-6)


@pytest.mark.parametrize("f", [nn.sigmoid, nn.log_sigmoid, nn.softplus, nn.relu, nn.tanh,
                               nn.gelu, lambda x: nn.gelu(x, approximate=False), nn.softmax,
                               nn.log_softmax, nn.logsumexp,
                               lambda x: nn.binary_cross_entropy_with_logits(x, np.ones(3, int)),
                               lambda x: nn.binary_cross_entropy(nn.sigmoid(x), [1, 0, 1]),
                               lambda x: nn.softmax_cross_entropy(x, np.array(2))])
def test_float32_stays_float32_with_integer_targets(f):
    x = np.array([0.5, -1.0, 2.0], np.float32)
    assert f(x).dtype == np.float32
    graph = fg.make_graph(f)(x)
    assert all(v.aval.dtype == np.float32 for v in graph.outvars)


def test_losses_trace_abstractly_and_return_arrays():
    graph = fg.make_graph(nn.softmax_cross_entropy)(X, LABELS)
    assert graph.outvars[0].aval.shape == ()
    assert isinstance(nn.softmax_cross_entropy(X, LABELS), np.ndarray)
    assert fg.jit(nn.softmax_cross_entropy)(X, LABELS) == nn.softmax_cross_entropy(X, LABELS)


# --------------------------------------------------------------------------- properties

floats = st.floats(-50, 50, allow_nan=False, width=64)


@settings(max_examples=25)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
                  elements=floats), st.floats(-1e3, 1e3))
def test_softmax_is_shift_invariant_and_normalised(x, c):
    s = nn.softmax(x)
    np.testing.assert_allclose(s.sum(axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(nn.softmax(x + c), s, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(nn.log_softmax(x + c), nn.log_softmax(x), atol=1e-9)


@settings(max_examples=25)
@given(hnp.arrays(np.float64, (6,), elements=floats),
       hnp.arrays(np.float64, (6,), elements=st.floats(0, 1)))
def test_bce_with_logits_equals_bce_of_sigmoid(z, t):
    a = nn.binary_cross_entropy_with_logits(z, t, reduction="none")
    b = nn.binary_cross_entropy(nn.sigmoid(z), t, reduction="none")
    # the probability form loses accuracy as 1 - sigmoid(z) rounds (1e-16 / exp(-z))
    ok = np.abs(z) < 15
    np.testing.assert_allclose(a[ok], b[ok], rtol=1e-7, atol=1e-9)
    assert np.all(a >= 0)
