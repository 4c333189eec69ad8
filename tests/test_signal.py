"""Convolutions: funcgrad.scipy.signal (convolve, correlate, convolve2d, correlate2d,
fftconvolve) against SciPy, funcgrad.numpy.convolve / correlate against NumPy, funcgrad.nn's
conv, conv_transpose and pools, and derivatives of all of them (to order 2 against central
differences), under vmap and jit. The `conv` primitive's own rules (every parameter, vmap,
codegen, the execution paths) are checked from its case in tests/cases_conv.py by test_prims
and test_eager."""
from __future__ import annotations

import doctest

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.nn as nn
import funcgrad.numpy as fnp
import funcgrad.scipy.signal as fsig
from funcgrad.numpy import _polynomial
from funcgrad.prims import conv as conv_prim
from funcgrad.test_util import check_grads

MODES = ("full", "same", "valid")


def _array(rng, shape, kind):
    if kind == "complex":
        return rng.normal(size=shape) + 1j * rng.normal(size=shape)
    if kind == "int":
        return rng.integers(-5, 6, shape)
    return rng.normal(size=shape).astype(kind)


def _same(got, expected, kind):
    got = np.asarray(got)
    assert got.shape == expected.shape and got.dtype == expected.dtype, \
        (got.shape, got.dtype, expected.shape, expected.dtype)
    tol = 2e-5 if kind == np.float32 else 1e-10
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


# ------------------------------------------------------------------ values: SciPy and NumPy

SHAPES = {1: [((5,), (3,)), ((2,), (4,)), ((4,), (4,)), ((1,), (3,)), ((6,), (1,))],
          2: [((4, 5), (2, 3)), ((3, 2), (2, 2)), ((2, 3), (4, 3)), ((1, 3), (4, 3)),
              ((4, 4), (4, 4))],
          3: [((3, 4, 2), (2, 2, 2)), ((2, 2, 3), (3, 2, 3))]}
KINDS = [np.float32, np.float64, "complex", "int"]


@pytest.mark.parametrize("kind", KINDS, ids=str)
@pytest.mark.parametrize("name", ["convolve", "correlate"])
def test_convolve_and_correlate_match_scipy(name, kind):
    signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(0)
    for pairs in SHAPES.values():
        for s1, s2 in pairs:
            a, b = _array(rng, s1, kind), _array(rng, s2, kind)
            for mode in MODES:
                for method in ("direct", "fft", "auto"):
                    try:
                        expected = getattr(signal, name)(a, b, mode, method)
                    except ValueError:
                        with pytest.raises(ValueError, match="at least as large"):
                            getattr(fsig, name)(a, b, mode, method)
                        continue
                    _same(getattr(fsig, name)(a, b, mode, method), expected, kind)


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_convolve2d_and_correlate2d_match_scipy(kind):
    signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(1)
    for s1, s2 in SHAPES[2] + [((5, 1), (5, 3)), ((3, 3), (1, 1))]:
        a, b = _array(rng, s1, kind), _array(rng, s2, kind)
        for mode in MODES:
            for fill in (0, 1.5):
                for name in ("convolve2d", "correlate2d"):
                    try:
                        expected = getattr(signal, name)(a, b, mode, fillvalue=fill)
                    except ValueError:
                        continue
                    _same(getattr(fsig, name)(a, b, mode, fillvalue=fill), expected, kind)


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_fftconvolve_matches_scipy(kind):
    signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(2)
    cases = [((5,), (3,), None), ((4, 5), (2, 3), None), ((4, 5), (2, 3), 1),
             ((4, 5), (4, 3), [1]), ((3, 1, 4), (1, 2, 4), None), ((3, 4), (1, 1), None),
             ((2, 6, 3), (2, 3, 3), (1, -1)), ((1, 4), (3, 1), None)]
    for s1, s2, axes in cases:
        a, b = _array(rng, s1, kind), _array(rng, s2, kind)
        for mode in MODES:
            try:
                expected = signal.fftconvolve(a, b, mode, axes)
            except ValueError:
                with pytest.raises(ValueError):
                    fsig.fftconvolve(a, b, mode, axes)
                continue
            _same(fsig.fftconvolve(a, b, mode, axes), expected, kind)


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_numpy_convolve_and_correlate_match_numpy(kind):
    rng = np.random.default_rng(3)
    for n in range(1, 6):
        for m in range(1, 6):
            a, v = _array(rng, (n,), kind), _array(rng, (m,), kind)
            for mode in MODES:
                _same(fnp.convolve(a, v, mode), np.convolve(a, v, mode), kind)
                _same(fnp.correlate(a, v, mode), np.correlate(a, v, mode), kind)
    _same(fnp.convolve(2.0, np.array([1.0, 3.0])), np.convolve(2.0, np.array([1.0, 3.0])),
          np.float64)


def test_numpy_functions_on_traced_values_dispatch():
    a, v = np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0])
    g = fg.grad(lambda a: np.sum(np.convolve(a, v) ** 2))(a)
    np.testing.assert_allclose(g, fg.grad(lambda a: fnp.sum(fnp.convolve(a, v) ** 2))(a))


def test_errors_are_clear():
    x = np.ones((3, 3))
    with pytest.raises(NotImplementedError, match="boundary='wrap'"):
        fsig.convolve2d(x, x, boundary="wrap")
    with pytest.raises(NotImplementedError, match="symm"):
        fsig.correlate2d(x, x, boundary="symm")
    with pytest.raises(ValueError, match="mode"):
        fsig.convolve(x, x, mode="middle")
    with pytest.raises(ValueError, match="same dimensionality"):
        fsig.convolve(x, np.ones(3))
    with pytest.raises(ValueError, match="at least as large"):
        fsig.convolve(np.ones((2, 4)), np.ones((4, 2)), mode="valid")
    with pytest.raises(ValueError, match="2-D"):
        fsig.convolve2d(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="cannot be empty"):
        fnp.convolve(np.ones(3), np.ones(0))
    with pytest.raises(ValueError, match="groups"):
        conv_prim.conv(np.ones((1, 3, 4)), np.ones((2, 2, 2)), groups=2)
    with pytest.raises(TypeError, match="float or complex"):
        conv_prim.conv(np.ones((1, 1, 4), int), np.ones((1, 1, 2), int))


def test_single_precision_stays_single():
    x = np.ones((2, 3, 5, 5), np.float32)
    w = np.ones((4, 3, 3, 3), np.float32)
    assert nn.conv(x, w).dtype == np.float32
    gx, gw = fg.grad(lambda x, w: fnp.sum(nn.conv(x, w, padding="SAME")), argnums=(0, 1))(x, w)
    assert gx.dtype == gw.dtype == np.float32
    assert fsig.fftconvolve(x[0, 0], w[0, 0]).dtype == np.float32
    assert fsig.convolve(x[0, 0], w[0, 0], method="fft").dtype == np.float32
    z = np.ones(4, np.complex64)
    assert fsig.correlate(z, z).dtype == np.complex64


# ------------------------------------------------------------------ derivatives

def _pair(seed, s1, s2, complex_=False):
    rng = np.random.default_rng(seed)
    kind = "complex" if complex_ else np.float64
    return _array(rng, s1, kind), _array(rng, s2, kind)


@pytest.mark.parametrize("method", ["direct", "fft"])
@pytest.mark.parametrize("mode", MODES)
def test_signal_derivatives_to_order_2(mode, method):
    a, b = _pair(4, (4, 3), (2, 3))
    check_grads(lambda a, b: fsig.convolve(a, b, mode, method), (a, b), order=2)
    check_grads(lambda a, b: fsig.correlate(a, b, mode, method), (a, b), order=2)
    za, zb = _pair(5, (5,), (3,), complex_=True)
    check_grads(lambda a, b: fsig.correlate(a, b, mode, method), (za, zb), order=2)


def test_2d_fft_and_numpy_derivatives_to_order_2():
    a, b = _pair(6, (3, 4), (2, 2))
    for mode in MODES:
        check_grads(lambda a, b, m=mode: fsig.convolve2d(a, b, m, fillvalue=0.5), (a, b),
                    order=2)
        check_grads(lambda a, b, m=mode: fsig.correlate2d(a, b, m), (a, b), order=2)
    check_grads(lambda a, b: fsig.fftconvolve(a, b, "same", axes=1), (a, b[:1]), order=2)
    za, zb = _pair(7, (5,), (2,), complex_=True)
    for mode in MODES:
        check_grads(lambda a, v, m=mode: fnp.convolve(a, v, m), (za, zb), order=2)
        check_grads(lambda a, v, m=mode: fnp.correlate(a, v, m), (za.real, zb.real), order=2)
        check_grads(lambda a, v, m=mode: fnp.correlate(a, v, m), (za, zb), order=2)


def test_vmap_matches_a_loop():
    rng = np.random.default_rng(8)
    xs, ks = rng.normal(size=(3, 6, 5)), rng.normal(size=(3, 2, 3))
    x, k = xs[0], ks[0]
    for mode in MODES:
        for method in ("direct", "fft"):
            def f(x, k, mode=mode, method=method):
                return fsig.correlate(x, k, mode, method)
            got = fg.vmap(f)(xs, ks)
            np.testing.assert_allclose(got, np.stack([f(a, b) for a, b in zip(xs, ks)]),
                                       rtol=1e-12, atol=1e-12)
            got = fg.vmap(f, in_axes=(None, 0))(x, ks)
            np.testing.assert_allclose(got, np.stack([f(x, b) for b in ks]), atol=1e-12)
            got = fg.vmap(f, in_axes=(2, None))(xs.transpose(1, 2, 0), k)
            np.testing.assert_allclose(got, np.stack([f(a, k) for a in xs]), atol=1e-12)


def test_jit_of_grad_equals_grad():
    a, b = _pair(9, (6, 5), (3, 2))

    def loss(a, b):
        return fnp.sum(fsig.convolve2d(a, b, "same") ** 2) + fnp.sum(
            fnp.sin(fsig.fftconvolve(a, b, "valid")))
    g = fg.grad(loss, argnums=(0, 1))
    for got, expected in zip(fg.jit(g)(a, b), g(a, b)):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ nn: a small CNN

def _cnn_params(rng, dtype=np.float64):
    return {"w1": rng.normal(size=(4, 1, 3, 3)).astype(dtype) * 0.5,
            "b1": rng.normal(size=4).astype(dtype) * 0.1,
            "w2": rng.normal(size=(6, 2, 3, 3)).astype(dtype) * 0.3,
            "dense": rng.normal(size=(6, 3)).astype(dtype) * 0.3}


def _cnn_loss(params, x, labels):
    h = nn.tanh(nn.conv(x, params["w1"], padding="SAME", bias=params["b1"]))
    h = nn.max_pool(h, 2)                                        # 8x8 -> 4x4
    h = nn.relu(nn.conv(h, params["w2"], stride=2, padding=1, groups=2) + 0.1)
    h = nn.avg_pool(h, 2, padding="SAME")                        # 2x2 -> 1x1
    logits = fnp.reshape(h, (h.shape[0], -1)) @ params["dense"]
    return nn.softmax_cross_entropy(logits, labels)


def test_small_cnn_gradients():
    rng = np.random.default_rng(10)
    params = _cnn_params(rng)
    x, labels = rng.normal(size=(5, 1, 8, 8)), rng.integers(0, 3, 5)
    leaves = [params[k] for k in ("w1", "b1", "w2", "dense")]

    def loss(w1, b1, w2, dense):
        return _cnn_loss({"w1": w1, "b1": b1, "w2": w2, "dense": dense}, x, labels)
    check_grads(loss, leaves, order=1)
    check_grads(lambda w1, w2: loss(w1, leaves[1], w2, leaves[3]), (leaves[0], leaves[2]),
                order=2, modes=("rev",))
    g = fg.grad(_cnn_loss)(params, x, labels)
    gj = fg.jit(fg.grad(_cnn_loss))(params, x, labels)
    for k in params:
        np.testing.assert_allclose(gj[k], g[k], rtol=1e-12, atol=1e-12)
    per_example = fg.vmap(fg.grad(_cnn_loss), in_axes=(None, 0, 0))(params, x[:, None],
                                                                   labels[:, None])
    for k in params:
        np.testing.assert_allclose(per_example[k].mean(0), g[k], rtol=1e-10, atol=1e-12)


def test_nn_conv_padding_and_pools_against_references():
    rng = np.random.default_rng(11)
    x, w = rng.normal(size=(2, 3, 7, 6)), rng.normal(size=(4, 3, 3, 2))
    for stride in (1, 2, 3):
        out = nn.conv(x, w, stride=stride, padding="SAME")
        assert out.shape[2:] == (-(-7 // stride), -(-6 // stride))
    # a 1-channel convolution layer is SciPy's correlate, 'valid' (no flip)
    got = nn.conv(x[:, :1], w[:1, :1])
    expected = np.stack([fsig.correlate(x[i, 0], w[0, 0], "valid") for i in range(2)])
    np.testing.assert_allclose(got[:, 0], expected, atol=1e-12)
    got = nn.conv(x[:, :1], w[:1, :1], padding=((1, 1), (0, 1)))
    expected = np.stack([fsig.correlate(np.pad(x[i, 0], ((1, 1), (0, 1))), w[0, 0], "valid")
                         for i in range(2)])
    np.testing.assert_allclose(got[:, 0], expected, atol=1e-12)
    blocks = x[:, :, :6].reshape(2, 3, 3, 2, 3, 2)
    np.testing.assert_allclose(nn.max_pool(x[:, :, :6], 2), blocks.max(axis=(3, 5)))
    np.testing.assert_allclose(nn.avg_pool(x[:, :, :6], 2), blocks.mean(axis=(3, 5)))
    assert nn.max_pool(x, 3, stride=2, padding="SAME").shape == (2, 3, 4, 3)


def test_conv_transpose_is_the_gradient_of_conv():
    rng = np.random.default_rng(12)
    for stride, pad, dil, size in [(1, 0, 1, 7), (2, 1, 1, 7), (2, 0, 2, 8), (3, 2, 1, 9)]:
        x, w = rng.normal(size=(2, 3, size, size)), rng.normal(size=(4, 3, 3, 3))
        def layer(x, w=w, stride=stride, pad=pad, dil=dil):
            return nn.conv(x, w, stride=stride, padding=pad, dilation=dil)
        y, vjp = fg.vjp(layer, x)
        ct = rng.normal(size=y.shape)
        extra = size - ((y.shape[2] - 1) * stride - 2 * pad + dil * 2 + 1)
        got = nn.conv_transpose(ct, w, stride=stride, padding=pad, output_padding=extra,
                                dilation=dil)
        np.testing.assert_allclose(got, vjp(ct)[0], atol=1e-12)


# ------------------------------------------------------------------ docstrings

def _run_examples(module, names):
    for name in names:
        finder = doctest.DocTestFinder(recurse=False)
        for test in finder.find(getattr(module, name), name, globs=vars(module).copy()):
            result = doctest.DocTestRunner().run(test)
            assert result.failed == 0, f"{module.__name__}.{name}: a docstring example fails"


def test_docstring_examples():
    assert doctest.testmod(fsig).failed == 0
    assert doctest.testmod(conv_prim).failed == 0
    _run_examples(_polynomial, ["convolve", "correlate"])
    _run_examples(nn, ["conv", "conv_transpose", "max_pool", "avg_pool"])
