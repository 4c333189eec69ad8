"""funcgrad.numpy.fft: every function against np.fft (norms, n / s, axes, dtypes, batches),
derivatives to order 2 (real losses of complex outputs, complex inputs), jit and vmap, the
shifts and frequencies, np.fft.* on traced values, and the errors. The `fft` primitive's own
rules are checked from its case in tests/cases_fft.py by test_prims and the eager matrix."""
from __future__ import annotations

import doctest
import warnings

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
import funcgrad.numpy.fft as fnp_fft
from funcgrad.core.cost import graph_cost
from funcgrad.prims import fft as pfft
from funcgrad.test_util import check_grads

NORMS = [None, "backward", "ortho", "forward"]
ONE_AXIS = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"]
N_AXES = ["fftn", "ifftn", "rfftn", "irfftn", "fft2", "ifft2", "rfft2", "irfft2"]
REAL_ONLY = {"rfft", "ihfft", "rfftn", "rfft2"}
ALL = ONE_AXIS + N_AXES
RNG = np.random.default_rng(0)


def _real(shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


def _complex(shape, dtype=np.complex128):
    return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(dtype)


def _inputs(name):
    """(label, array) pairs a function takes: real and complex, float32 and float64, ints."""
    out = [("f64", _real((3, 4, 5))), ("f32", _real((3, 4, 5), np.float32)),
           ("int", np.arange(24).reshape(4, 6) % 5), ("f16", _real((4, 6), np.float16))]
    if name not in REAL_ONLY:
        out += [("c128", _complex((3, 4, 5))), ("c64", _complex((3, 4, 5), np.complex64))]
    return out


def _tol(dtype):
    return 1e-4 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-10


def _same(got, expected, what="", tol=None):
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape, f"{what}: shape {got.shape} != {expected.shape}"
    assert got.dtype == expected.dtype, f"{what}: dtype {got.dtype} != {expected.dtype}"
    tol = _tol(expected.dtype) if tol is None else tol
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * max(1.0, np.abs(
        expected).max(initial=0.0)), err_msg=what)


# ---------------------------------------------------------------- values against np.fft

def _calls(name):
    """Keyword arguments that exercise n / s (crop and pad, odd and even) and axes."""
    if name in ONE_AXIS:
        return [{}, {"n": 7}, {"n": 2}, {"n": 6, "axis": 0}, {"axis": -2}, {"n": 1}]
    if name.endswith("2"):
        return [{}, {"s": (3, 7)}, {"axes": (0, -1)}, {"s": (2, 5), "axes": (-1, 0)}]
    return [{}, {"axes": (1,)}, {"axes": (2, 0)}, {"s": (5, 2), "axes": (0, 1)},
            {"s": (-1, 3), "axes": (-1, 0)}, {"s": (4, 4, 3), "axes": (0, 1, 2)}]


@pytest.mark.parametrize("name", ALL)
def test_every_function_norm_and_dtype_matches_numpy(name):
    for label, x in _inputs(name):
        for kw in _calls(name):
            if x.ndim < 3 and any(a in (2, -3) for a in np.ravel(kw.get("axes", ()))) or (
                    x.ndim < 3 and len(kw.get("s", ())) == 3):
                continue
            for norm in NORMS:
                expected = getattr(np.fft, name)(x, norm=norm, **kw)
                got = getattr(fnp.fft, name)(x, norm=norm, **kw)
                # NumPy scales float16 input by a float16 factor (1/n rounded to 11 bits);
                # funcgrad transforms it in float32 throughout, as NumPy does the values
                _same(got, expected, f"{name}({label}, norm={norm}, {kw})",
                      tol=2e-3 if label == "f16" else None)


@pytest.mark.parametrize("name", ["fft", "rfft", "irfft", "fftn", "rfftn", "irfftn", "ihfft"])
def test_batched_inputs_and_jit_match_numpy(name):
    # a stack of signals: the transform runs along the chosen axes of every one, eagerly,
    # under jit, and under vmap over each batch position
    x = _real((2, 3, 6)) if name in REAL_ONLY else _complex((2, 3, 6))
    kw = {"axis": 1} if name in ONE_AXIS else {"axes": (2, 1), "s": (4, 5)}
    expected = getattr(np.fft, name)(x, norm="ortho", **kw)
    f = lambda x: getattr(fnp.fft, name)(x, norm="ortho", **kw)   # noqa: E731
    _same(f(x), expected, "eager")
    _same(fg.jit(f)(x), expected, "jit")
    g = lambda v: getattr(fnp.fft, name)(v, norm="ortho", **_less_one_axis(kw))  # noqa: E731
    for axis in (0, 1, 2):
        loop = np.stack([g(v) for v in np.moveaxis(x, axis, 0)])
        _same(fg.vmap(g, in_axes=axis)(x), loop, f"vmap in_axes={axis}")


def _less_one_axis(kw):
    """The same transform for an example with one axis fewer (axis 1 -> 0, axes (2, 1) ->
    (1, 0))."""
    if "axis" in kw:
        return {"axis": kw["axis"] - 1}
    return {"axes": tuple(a - 1 for a in kw["axes"]), "s": kw["s"]}


def test_repeated_axes_transform_again_as_in_numpy():
    x, z = _real((4, 6)), _complex((4, 6))
    for name, a in [("fftn", z), ("ifftn", z), ("rfftn", x), ("irfftn", z)]:
        for axes in [(0, 0), (1, 0, 1), (0, 1, 0)]:
            _same(getattr(fnp.fft, name)(a, axes=axes), getattr(np.fft, name)(a, axes=axes),
                  f"{name} axes={axes}")
    check_grads(lambda x: fnp.fft.rfftn(x, axes=(1, 0, 1)), (x,), order=1)


def test_numpy_edge_cases():
    # no axes: the input itself; s without axes: the last len(s) axes (NumPy deprecates it)
    x = _real((3, 4))
    np.testing.assert_array_equal(fnp.fft.fftn(x, axes=()), x)
    with pytest.warns(DeprecationWarning):
        got = fnp.fft.fftn(x, s=(6,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        _same(got, np.fft.fftn(x, s=(6,)))
    # empty non-transformed axes, and zero-padding an empty signal
    _same(fnp.fft.fft(np.zeros((0, 4))), np.fft.fft(np.zeros((0, 4))))
    _same(fnp.fft.rfft(np.zeros(0), n=5), np.fft.rfft(np.zeros(0), n=5))
    assert fg.grad(lambda x: fnp.sum(fnp.abs(fnp.fft.fft(x)) ** 2))(np.zeros((0, 4))).shape \
        == (0, 4)
    # lists and Python numbers
    _same(fnp.fft.fft([1.0, 2.0, 3.0]), np.fft.fft([1.0, 2.0, 3.0]))
    # s entries of None: the one-axis default (NumPy deprecates it)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        z = _complex((3, 4))
        _same(fnp.fft.irfftn(z, s=(None, None), axes=(0, 1)),
              np.fft.irfftn(z, s=(None, None), axes=(0, 1)))


# ---------------------------------------------------------------- derivatives

def _weights(shape):
    return RNG.uniform(0.5, 1.5, shape)


@pytest.mark.parametrize("name", ALL)
def test_real_loss_of_complex_output_order_2(name):
    """sum(|F(x)|^2 w) and sum(Re(F(x)) v) + sum(Im(F(x))^3 u), float64 and float32, real
    input (complex too, where the function takes it); forward and reverse to order 2."""
    kw = {"norm": "ortho"} | ({"n": 5} if name in ONE_AXIS else {"s": (3, 4), "axes": (0, 1)})
    if name in ("irfft", "hfft", "irfftn", "irfft2"):
        kw = kw | ({"n": 6} if name in ONE_AXIS else {"s": (3, 6)})
    f = getattr(fnp.fft, name)
    args = [_real((3, 4))] + ([] if name in REAL_ONLY else [_complex((3, 4))])
    out_shape = np.shape(getattr(np.fft, name)(args[0], **kw))
    w, v, u = _weights(out_shape), _weights(out_shape), _weights(out_shape)

    def power(x):
        return fnp.sum(fnp.abs(f(x, **kw)) ** 2 * w)

    def parts(x):
        y = f(x, **kw)
        return fnp.sum(fnp.real(y) * v) + fnp.sum(fnp.imag(y) ** 3 * u)
    for x in args:
        check_grads(power, (x,), order=2)
        check_grads(parts, (x,), order=2)
    x32 = args[0].astype(np.float32)
    assert fg.grad(power)(x32).dtype == np.float32
    check_grads(power, (x32,), order=1, atol=2e-2, rtol=2e-2)


@pytest.mark.parametrize("name", ["fft", "ifft", "irfft", "hfft", "fftn", "irfftn"])
def test_complex_input_complex_output_order_2(name):
    # check_grads pairs complex cotangents with tangents as Re(sum(c t)) (JAX's convention)
    kw = {"n": 4} if name in ONE_AXIS else {"s": (3, 4), "axes": (0, 1)}
    z = _complex((3, 5))
    check_grads(lambda z: getattr(fnp.fft, name)(z, **kw) * (1.0 + 0.5j), (z,), order=2)
    check_grads(lambda z: getattr(fnp.fft, name)(z * z, norm="forward", **kw), (z,), order=2)


def test_gradient_of_power_spectrum_is_parseval():
    # sum |fft(x)|^2 = n sum |x|^2: the gradient is 2 n x (n 2 conj(z) for complex z)
    x, z = _real(8), _complex(8)
    loss = lambda x: fnp.sum(fnp.abs(fnp.fft.fft(x)) ** 2)    # noqa: E731
    np.testing.assert_allclose(fg.grad(loss)(x), 16 * x, rtol=1e-12)
    np.testing.assert_allclose(fg.grad(loss)(z), 16 * np.conj(z), rtol=1e-12)
    ortho = lambda x: fnp.sum(fnp.abs(fnp.fft.rfft(x, norm="ortho")) ** 2)  # noqa: E731
    # rfft keeps half the spectrum: the inner bins count once, not twice
    w = np.full(5, 2.0)
    w[[0, -1]] = 1.0
    expected = fg.grad(lambda x: fnp.sum(fnp.abs(fnp.fft.fft(x, norm="ortho")[:5]) ** 2))(x)
    np.testing.assert_allclose(fg.grad(ortho)(x), expected, rtol=1e-12)


def test_transposes_against_independent_formulas():
    """The rfft transpose is Re(fft(ct zero-padded to the full spectrum)) (JAX's naive form);
    irfft's is conj(rfft(ct)) weighted 1 on bins 0 and n/2, 2 elsewhere, divided by n."""
    for n in (5, 6):
        x = _real(n)
        ct = _complex(n // 2 + 1)
        _, pullback = fg.vjp(lambda x: fnp.fft.rfft(x), x)
        full = np.concatenate([ct, np.zeros(n - ct.size)])
        np.testing.assert_allclose(pullback(ct)[0], np.real(np.fft.fft(full)), atol=1e-12)

        z, ctr = _complex(n // 2 + 1), _real(n)
        _, pullback = fg.vjp(lambda z, n=n: fnp.fft.irfft(z, n), z)
        m = np.full(n // 2 + 1, 2.0)
        m[0] = 1.0
        if n % 2 == 0:
            m[-1] = 1.0
        np.testing.assert_allclose(pullback(ctr)[0], m * np.conj(np.fft.rfft(ctr)) / n,
                                   atol=1e-12)
        # irfft ignores the imaginary parts of bin 0 and (n even) bin n/2: zero gradient
        g = fg.grad(lambda z, n=n, c=ctr: fnp.sum(fnp.fft.irfft(z, n) * c))(z)
        assert g[0].imag == 0.0 and (n % 2 or g[-1].imag == 0.0)


def test_crop_and_pad_transposes():
    # the gradient of a zero-padded transform is cropped back; of a cropped one, zero-padded
    x = _real(6)
    g_pad = fg.grad(lambda x: fnp.sum(fnp.real(fnp.fft.fft(x, n=9))))(x)
    assert g_pad.shape == (6,)
    g_crop = fg.grad(lambda x: fnp.sum(fnp.real(fnp.fft.fft(x, n=4))))(x)
    np.testing.assert_array_equal(g_crop[4:], 0.0)
    check_grads(lambda x: fnp.fft.irfftn(x, s=(7, 3), axes=(1, 0)), (_complex((2, 5)),), order=2)


def test_jit_vmap_and_grad_compose():
    x = _real((3, 8))
    w = _weights((3, 5))

    def loss(x):
        y = fnp.fft.rfft(fnp.sin(x), norm="ortho")
        return fnp.sum(fnp.abs(fnp.fft.ifft(y * w, n=8)) ** 2)
    g = fg.grad(loss)(x)
    np.testing.assert_allclose(fg.grad(fg.jit(loss))(x), g, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fg.jit(fg.grad(loss))(x), g, rtol=1e-12, atol=1e-12)
    rows = lambda r: fnp.sum(fnp.abs(fnp.fft.fft(fnp.sin(r), n=6)) ** 2)  # noqa: E731
    per_row = fg.vmap(fg.grad(rows))(x)
    np.testing.assert_allclose(per_row, np.stack([fg.grad(rows)(r) for r in x]), rtol=1e-12)
    np.testing.assert_allclose(fg.jit(fg.vmap(fg.grad(rows)))(x), per_row, rtol=1e-12)
    hvp = fg.jvp(fg.grad(loss), (x,), (np.ones_like(x),))[1]
    np.testing.assert_allclose(fg.jit(lambda x: fg.jvp(fg.grad(loss), (x,),
                                                        (np.ones_like(x),))[1])(x), hvp,
                               rtol=1e-10, atol=1e-10)


def test_one_primitive_in_the_graph_its_lowering_and_cost():
    x = _real((4, 16))
    graph = fg.make_graph(lambda x: fnp.fft.rfft2(x, norm="forward"))(x)
    eqns = [e for e in graph.eqns if e.primitive is pfft.fft_p]
    assert len(eqns) == 1
    assert eqns[0].params == {"kind": "rfft", "axes": (0, 1), "lengths": (4, 16),
                              "norm": "forward"}
    assert "rfftn" in fg.jit(lambda x: fnp.fft.rfft2(x)).lower(x).as_text()
    # 5 N log2 N for a complex transform of N points, half for a real one, per line
    assert graph_cost(fg.make_graph(lambda z: fnp.fft.fft(z))(_complex((3, 16))))["flops"] \
        >= 3 * 5 * 16 * 4
    assert pfft.fft_p.cost(fg.make_graph(lambda x: x)(x).in_avals[0], kind="rfft",
                           axes=(1,), lengths=(16,), norm="backward") == 4 * 5 * 16 * 4 // 2
    assert pfft.fft_p.fresh and pfft.fft_p.linear


# ---------------------------------------------------------------- shifts and frequencies

@pytest.mark.parametrize("name", ["fftshift", "ifftshift"])
def test_shifts(name):
    for x in (np.arange(5.0), np.arange(6.0), _real((3, 4, 5)), _complex((4, 5))):
        for axes in (None, 0, -1, (0,), (1, 0), (0, 0)):
            if np.ndim(x) < 2 and axes == (1, 0):
                continue
            _same(getattr(fnp.fft, name)(x, axes=axes), getattr(np.fft, name)(x, axes=axes),
                  f"{name}{np.shape(x)} axes={axes}")
    x = _real((4, 5))
    check_grads(lambda x: getattr(fnp.fft, name)(x) * x, (x,), order=2)
    _same(fg.jit(getattr(fnp.fft, name))(x), getattr(np.fft, name)(x))
    _same(fg.vmap(getattr(fnp.fft, name))(x), np.stack([getattr(np.fft, name)(r) for r in x]))
    np.testing.assert_array_equal(fnp.fft.ifftshift(fnp.fft.fftshift(x)), x)
    assert getattr(fnp.fft, name)(np.float64(2.0)) == 2.0    # NumPy 2.4 fails on 0-d arrays


def test_frequencies():
    for n in (1, 4, 5):
        for d in (1.0, 0.1):
            np.testing.assert_array_equal(fnp.fft.fftfreq(n, d), np.fft.fftfreq(n, d))
            np.testing.assert_array_equal(fnp.fft.rfftfreq(n, d), np.fft.rfftfreq(n, d))
    # NumPy's own functions: a traced spacing goes through them too
    assert fg.grad(lambda d: fnp.sum(fnp.fft.rfftfreq(4, d)))(0.5) == pytest.approx(-3.0)
    assert {"fftfreq", "rfftfreq"} <= set(fnp.fft.__all__)


# ---------------------------------------------------------------- np.fft.* on traced values

@pytest.mark.parametrize("name", ALL + ["fftshift", "ifftshift"])
def test_numpy_fft_functions_dispatch_on_tracers(name):
    x = _real((3, 4)) if name in REAL_ONLY else _complex((3, 4))
    f = getattr(np.fft, name)
    _same(fg.jit(lambda x: f(x))(x), f(x), f"np.fft.{name} under jit")
    graph = fg.make_graph(lambda x: f(x))(x)
    assert name.endswith("shift") or pfft.fft_p in {e.primitive for e in graph.eqns}
    loss = lambda x: fnp.sum(fnp.abs(f(x)) ** 2)   # noqa: E731
    g = fg.grad(loss)(x)
    np.testing.assert_allclose(g, fg.grad(lambda x: fnp.sum(fnp.abs(
        getattr(fnp.fft, name)(x)) ** 2))(x), rtol=1e-12)


# ---------------------------------------------------------------- errors

def test_errors_are_clear_and_name_the_line():
    x, z = _real((3, 4)), _complex((3, 4))
    cases = [
        (lambda: fnp.fft.fft(x, axis=2), ValueError, "axis 2 is out of bounds"),
        (lambda: fnp.fft.fftn(x, axes=(0, -3)), ValueError, "axis -3 is out of bounds"),
        (lambda: fnp.fft.fft2(_real(4)), ValueError, "out of bounds"),
        (lambda: fnp.fft.fft(np.float64(1.0)), ValueError, "0-d array"),
        (lambda: fnp.fft.fft(x, n=0), ValueError, r"invalid number of FFT data points \(0\)"),
        (lambda: fnp.fft.rfftn(x, s=(3, -2), axes=(0, 1)), ValueError,
         r"invalid number of FFT data points \(-2\)"),
        (lambda: fnp.fft.irfft(_complex((3, 1))), ValueError, "default n is 2"),
        (lambda: fnp.fft.fft(x, n=2.5), TypeError, "must be an integer"),
        (lambda: fnp.fft.fft(x, axis=1.0), TypeError, "axis must be an integer"),
        (lambda: fnp.fft.rfft(z), TypeError, "rfft takes real input"),
        (lambda: fnp.fft.ihfft(z), TypeError, "ihfft takes real input"),
        (lambda: fnp.fft.fft(x, norm="unitary"), ValueError, "invalid norm value 'unitary'"),
        (lambda: fnp.fft.fftn(x, s=(2, 2), axes=(0,)), ValueError, "different lengths"),
        (lambda: fnp.fft.rfftn(x, axes=()), ValueError, "no axes"),
        (lambda: fnp.fft.fft(x, out=np.empty((3, 4), complex)), TypeError, "out="),
        (lambda: fnp.fft.fftshift(x, axes=3), ValueError, "axis 3 is out of bounds"),
        (lambda: fnp.fft.fft(np.array(["a"])), TypeError, "dtype <U1"),
    ]
    for f, err, msg in cases:
        with pytest.raises(err, match=msg) as info:
            f()
        assert "test_fft.py" in str(info.value), str(info.value)
    # under a transformation, and through np.fft on a traced value
    with pytest.raises(ValueError, match="axis 5 is out of bounds.*test_fft.py"):
        fg.grad(lambda x: fnp.sum(fnp.real(np.fft.fft(x, axis=5))))(x)
    with pytest.raises(TypeError, match="rfft takes real input"):
        fg.jit(lambda z: np.fft.rfft(z))(z)


def test_the_primitive_checks_its_operands():
    c, r = fg.make_graph(lambda z: z)(_complex(4)).in_avals[0], \
        fg.make_graph(lambda x: x)(_real(4)).in_avals[0]
    t = pfft.fft_p.abstract_eval
    with pytest.raises(TypeError, match="fft takes a complex64 or complex128"):
        t(r, kind="fft", axes=(0,), lengths=(4,), norm="backward")
    with pytest.raises(TypeError, match="rfft takes a float32 or float64"):
        t(c, kind="rfft", axes=(0,), lengths=(4,), norm="backward")
    with pytest.raises(ValueError, match="not distinct axes"):
        t(c, kind="fft", axes=(1,), lengths=(4,), norm="backward")
    with pytest.raises(ValueError, match=">= 1"):
        t(c, kind="ifft", axes=(0,), lengths=(0,), norm="backward")
    with pytest.raises(ValueError, match="unknown kind"):
        t(c, kind="dct", axes=(0,), lengths=(4,), norm="backward")
    assert t(c, kind="irfft", axes=(0,), lengths=(7,), norm="ortho").shape == (7,)
    assert t(r, kind="rfft", axes=(0,), lengths=(7,), norm="ortho").shape == (4,)


def test_module_doctests():
    for m in (fnp_fft, pfft):
        result = doctest.testmod(m)
        assert result.failed == 0 and (m is pfft or result.attempted >= 16), m.__name__
