"""Integer arithmetic on traced values (bitwise functions and operators, shifts, floor division
and remainder) under jit and vmap; the ufunc methods reduce, accumulate and outer against
NumPy, with their derivatives; the elementwise long tail's special values and errors."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.errors import ConcretizationError
from funcgrad.test_util import check_grads

RNG = np.random.default_rng(0)
I32 = RNG.integers(-50, 50, (3, 4)).astype(np.int32)
J32 = RNG.integers(-4, 5, (3, 4)).astype(np.int32)       # zeros included
X = RNG.normal(size=(3, 5))


def _same(got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, want.dtype)
    if got.dtype.kind in "fc":
        np.testing.assert_allclose(got, want, rtol=1e-14)   # (the last bit may differ)
    else:
        np.testing.assert_array_equal(got, want)


def integer_program(m, i, j):
    """Every integer operation at once, as plain NumPy code or funcgrad.numpy."""
    return [i & j, i | 3, 5 ^ i, ~i, i << 2, (i & 7) << (j & 3), i >> 1, -100 >> (j & 3),
            i // j, i % j, -7 // j, 9 % j, m.fmod(i, j), m.gcd(i, j), m.lcm(i, 6),
            m.bitwise_count(i), m.invert(i.astype(np.uint8)), divmod(i, j)[0],
            m.left_shift(i.astype(np.int8), 1), m.bitwise_and(i > 0, True)]


def test_integer_operations_match_numpy_eagerly_under_jit_and_vmap_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = integer_program(np, I32, J32)
        eager = integer_program(fnp, I32, J32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # x // 0 and x % 0 are 0, quietly
        for got in (eager, fg.jit(lambda i, j: integer_program(fnp, i, j))(I32, J32),
                    fg.jit(lambda i, j: integer_program(np, i, j))(I32, J32)):
            for g, w in zip(got, want):
                _same(g, w)
        for f in (fnp.floor_divide, fnp.remainder, fnp.fmod, fnp.divmod):
            with np.errstate(divide="ignore"):
                expected = getattr(np, f.__name__)(I32, J32)
            got = f(I32, J32)
            for g, w in zip(got if isinstance(got, tuple) else [got],
                            expected if isinstance(expected, tuple) else [expected]):
                _same(g, w)
        batched = fg.vmap(lambda i, j: integer_program(fnp, i, j))(I32, J32)
    for k, b in enumerate(batched):
        _same(b, np.stack([want[k][r] for r in range(3)]))


def test_integer_values_inside_a_differentiated_function():
    def f(x, i):
        k = (i >> 1) & 3                      # an integer computed on the side
        return fnp.sum(x * fnp.astype(k, x.dtype)) + fnp.sum(fnp.remainder(x, 1.5))
    i = np.arange(5)
    check_grads(f, (X[0], i), order=2)
    g = fg.grad(f)(X[0], i)
    np.testing.assert_allclose(g, ((i >> 1) & 3) + 1.0)
    np.testing.assert_allclose(fg.jit(fg.grad(f))(X[0], i), g)


def test_weak_python_integers_keep_the_array_dtype():
    for dt in (np.int8, np.uint8, np.int16, np.uint32):
        a = np.array([1, 2, 3], dt)
        for f in (lambda x: x & 3, lambda x: 1 | x, lambda x: x << 1, lambda x: x >> 1,
                  lambda x: x // 2, lambda x: x % 2, lambda x: ~x):
            graph = fg.make_graph(f)(a)
            assert graph.out_avals[0].dtype == f(a).dtype


def test_bitwise_of_floats_is_an_error_as_in_numpy():
    for f in (lambda x: x & 1, lambda x: ~x, lambda x: fnp.left_shift(x, 1),
              lambda x: fnp.gcd(x, 2)):
        with pytest.raises(TypeError):
            fg.make_graph(f)(np.ones(2))


# ---------------------------------------------------------------- ufunc methods

REDUCE = ["add", "multiply", "maximum", "minimum", "fmax", "fmin", "logaddexp", "logaddexp2",
          "hypot", "subtract", "divide"]


@pytest.mark.parametrize("name", REDUCE)
def test_reduce_and_accumulate_match_numpy_with_derivatives(name):
    u, f = getattr(np, name), getattr(fnp, name)
    x = np.abs(X) + 0.5 if name in ("hypot", "divide") else X
    for axis in (0, 1, -1):
        np.testing.assert_allclose(f.reduce(x, axis=axis), u.reduce(x, axis=axis), rtol=1e-12)
        np.testing.assert_allclose(f.accumulate(x, axis=axis), u.accumulate(x, axis=axis),
                                   rtol=1e-12)
        np.testing.assert_allclose(fg.jit(lambda v, a=axis: u.accumulate(v, axis=a))(x),
                                   u.accumulate(x, axis=axis), rtol=1e-12)
    check_grads(lambda v: u.reduce(v, axis=1), (x,), order=2)
    check_grads(lambda v: f.accumulate(v, axis=1), (x,), order=1)
    np.testing.assert_allclose(f.outer(x[0], x[1]), u.outer(x[0], x[1]), rtol=1e-12)
    check_grads(lambda a, b: u.outer(a, b), (x[0], x[1, :2]), order=1)


def test_maximum_accumulate_derivative_follows_the_running_argmax():
    x = np.array([1.0, 3.0, 2.0, 5.0, 4.0, 5.0])
    # each output's derivative goes to the element holding the running maximum (at a tie,
    # the latest)
    g = fg.grad(lambda v: fnp.sum(fnp.maximum.accumulate(v) * np.arange(1.0, 7.0)))(x)
    np.testing.assert_array_equal(g, [1.0, 5.0, 0.0, 9.0, 0.0, 6.0])
    g = fg.grad(lambda v: fnp.sum(np.minimum.accumulate(-v)))(x)
    np.testing.assert_array_equal(g, [-1.0, -2.0, 0.0, -2.0, 0.0, -1.0])
    xs = RNG.normal(size=(4, 3, 5))
    check_grads(lambda v: fnp.maximum.accumulate(v, axis=2), (xs,), order=2)
    np.testing.assert_allclose(fg.vmap(lambda v: np.maximum.accumulate(v, axis=1))(xs),
                               np.maximum.accumulate(xs, axis=2))
    np.testing.assert_allclose(
        fg.vmap(fg.grad(lambda v: np.minimum.accumulate(v, axis=0).sum()))(xs),
        np.stack([fg.grad(lambda v: np.minimum.accumulate(v, axis=0).sum())(a) for a in xs]))


def test_logaddexp_accumulate_and_reduce_are_stable():
    x = np.array([1000.0, 1000.0, -1000.0, 999.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        acc = fnp.logaddexp.accumulate(x)
        np.testing.assert_allclose(acc, np.logaddexp.accumulate(x), rtol=1e-14)
        g = fg.grad(lambda v: np.logaddexp.accumulate(v)[-1])(x)
        np.testing.assert_allclose(g, np.exp(x - np.logaddexp.reduce(x)), rtol=1e-12)
        g = fg.grad(lambda v: np.logaddexp.reduce(v))(x)
        np.testing.assert_allclose(g, np.exp(x - np.logaddexp.reduce(x)), rtol=1e-12)


def test_integer_and_boolean_methods_match_numpy():
    i = RNG.integers(-40, 40, (4, 3)).astype(np.int32)
    for name in ("bitwise_and", "bitwise_or", "bitwise_xor", "gcd", "lcm", "add", "maximum",
                 "left_shift"):
        u, f = getattr(np, name), getattr(fnp, name)
        v = i & 7 if name == "left_shift" else i % 7 if name == "lcm" else i   # no overflow
        for axis in (0, 1):
            _same(f.reduce(v, axis=axis), u.reduce(v, axis=axis))
            _same(f.accumulate(v, axis=axis), u.accumulate(v, axis=axis))
            _same(fg.jit(lambda w, u=u, a=axis: u.accumulate(w, axis=a))(v),
                  u.accumulate(v, axis=axis))
        _same(f.outer(v[0], v[1]), u.outer(v[0], v[1]))
    b = i > 0
    for name in ("logical_and", "logical_or", "logical_xor"):
        u = getattr(np, name)
        _same(fg.jit(lambda w, u=u: u.reduce(w, axis=0))(b), u.reduce(b, axis=0))
        _same(getattr(fnp, name).accumulate(b, axis=1), u.accumulate(b, axis=1))


def test_method_edge_cases_match_numpy():
    empty = np.ones((0, 3))
    _same(fnp.hypot.reduce(empty, axis=0), np.hypot.reduce(empty, axis=0))
    _same(fnp.logaddexp.reduce(empty, axis=0), np.logaddexp.reduce(empty, axis=0))
    _same(fnp.bitwise_xor.reduce(np.zeros((2, 0), np.int16), axis=1),
          np.bitwise_xor.reduce(np.zeros((2, 0), np.int16), axis=1))
    _same(fnp.gcd.reduce(np.array([-12]), axis=0), np.gcd.reduce(np.array([-12]), axis=0))
    _same(fnp.fmax.reduce(np.array([np.nan, 1.0, np.nan])),
          np.fmax.reduce(np.array([np.nan, 1.0, np.nan])))
    _same(fnp.maximum.accumulate(np.array([1.0, np.nan, 3.0])),
          np.maximum.accumulate(np.array([1.0, np.nan, 3.0])))
    _same(fnp.hypot.reduce(X, axis=(0, 1), keepdims=True),
          np.hypot.reduce(X, axis=(0, 1), keepdims=True))
    _same(fnp.fmax.reduce(X, axis=None, initial=5.0, where=X > 0),
          np.fmax.reduce(X, axis=None, initial=5.0, where=X > 0))
    acc = fnp.logaddexp.accumulate(np.arange(6), axis=0)
    assert acc.dtype == np.float64
    np.testing.assert_allclose(acc, np.logaddexp.accumulate(np.arange(6), axis=0), rtol=1e-15)
    _same(fnp.add.outer(np.arange(3), np.arange(2.0), dtype=np.float32),
          np.add.outer(np.arange(3), np.arange(2.0), dtype=np.float32))


@pytest.mark.parametrize("call,error,message", [
    (lambda x: fnp.subtract.reduce(x, axis=(0, 1)), ValueError, "not reorderable"),
    (lambda x: fnp.lcm.reduce(x.astype(int), axis=None), ValueError, "not reorderable"),
    (lambda x: fnp.arctan2.reduce(x[:0], axis=0), ValueError, "no identity"),
    (lambda x: fnp.fmax.reduce(x, axis=0, where=x > 0), ValueError, "initial"),
    (lambda x: fnp.maximum.accumulate(x[0, 0]), TypeError, "scalar"),
    (lambda x: fnp.logaddexp.accumulate(x, axis=None), ValueError, "multiple axes"),
    (lambda x: fnp.logaddexp.accumulate(x, out=x), TypeError, "in place"),
    (lambda x: fnp.hypot.outer(x, x, out=x), TypeError, "in place"),
    (lambda x: fnp.hypot.reduce(x, axis=5), ValueError, "out of bounds"),
])
def test_method_errors(call, error, message):
    for run in (call, fg.make_graph(call)):
        with pytest.raises(error, match=message):
            run(X)


def test_numpy_methods_on_traced_values_refuse_what_funcgrad_refuses():
    for call, message in [(lambda x: np.logaddexp.accumulate(x, out=x), "in place"),
                          (lambda x: np.hypot.at(x, [0], 1.0), "x.at"),
                          (lambda x: np.subtract.reduce(x, axis=None), "not reorderable")]:
        with pytest.raises((TypeError, ValueError), match=message):
            fg.make_graph(call)(X)


# ---------------------------------------------------------------- the elementwise long tail

def test_special_values_and_float32():
    x32 = np.array([0.0, -0.0, 1.5, -2.5, np.inf, -np.inf, np.nan], np.float32)
    for f in (fnp.frexp, fnp.modf, fnp.signbit, fnp.spacing, fnp.isposinf, fnp.isneginf,
              lambda x: fnp.ldexp(x, 3), lambda x: fnp.copysign(1.0, x),
              lambda x: fnp.nextafter(x, 0.0), lambda x: fnp.fmod(x, 1.25)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = getattr(np, f.__name__)(x32) if f.__name__ != "<lambda>" else None
            got = f(x32)
        if want is not None:
            for g, w in zip(got if isinstance(got, tuple) else (got,),
                            want if isinstance(want, tuple) else (want,)):
                _same(g, w)
        graph = fg.make_graph(f)(x32)
        assert all(a.dtype != np.float64 for a in graph.out_avals)


def test_derivatives_follow_jax():
    x = np.array([-2.7, -0.4, 0.6, 3.3])
    y = np.array([1.1, -1.3, 0.7, -2.0])
    np.testing.assert_allclose(fg.grad(lambda x: fnp.fmod(x, y).sum())(x), np.ones(4))
    np.testing.assert_allclose(fg.grad(lambda y: fnp.fmod(x, y).sum())(y), -np.trunc(x / y))
    np.testing.assert_allclose(fg.grad(lambda x: fnp.copysign(x, y).sum())(x),
                               np.sign(x) * np.sign(y))
    np.testing.assert_array_equal(fg.grad(lambda y: fnp.copysign(x, y).sum())(y), 0.0)
    np.testing.assert_allclose(fg.grad(lambda x: fnp.frexp(x)[0].sum())(x),
                               2.0 ** -np.frexp(x)[1])
    np.testing.assert_allclose(fg.grad(lambda x: fnp.ldexp(x, [1, 2, 3, 4]).sum())(x),
                               [2.0, 4.0, 8.0, 16.0])
    np.testing.assert_array_equal(fg.grad(lambda x: sum(fnp.modf(x)).sum())(x), 1.0)
    scipy_special = pytest.importorskip("scipy.special")
    np.testing.assert_allclose(fg.grad(lambda x: fnp.i0(x).sum())(x), scipy_special.i1(x),
                               rtol=1e-12)
    np.testing.assert_allclose(fg.grad(lambda x: np.i0(x).sum())(x), scipy_special.i1(x),
                               rtol=1e-12)
    check_grads(lambda x, y: fnp.fmod(x, y) * fnp.copysign(x, y), (x, y), order=2)


def test_real_if_close_needs_concrete_values():
    z = np.array([1.0 + 1e-20j, 2.0 - 1e-18j])
    _same(fnp.real_if_close(z), np.real_if_close(z))
    _same(fnp.real_if_close(z + 1e-3j), np.real_if_close(z + 1e-3j))
    _same(fnp.real_if_close(np.array([1.0, 2.0])), np.real_if_close(np.array([1.0, 2.0])))
    g = fg.grad(lambda x: fnp.real_if_close(fnp.astype(x, np.complex128)).sum())(np.ones(2))
    np.testing.assert_array_equal(g, [1.0, 1.0])
    with pytest.raises(ConcretizationError):
        fg.jit(lambda x: fnp.real_if_close(fnp.astype(x, np.complex128)))(np.ones(2))


def test_functions_have_doctest_examples():
    import doctest

    from funcgrad.numpy import _dispatch
    names = ["fmod", "copysign", "ldexp", "frexp", "modf", "divmod", "i0", "gcd", "lcm",
             "spacing", "signbit", "nextafter", "isneginf", "isposinf", "real_if_close",
             "bitwise_count", "left_shift", "right_shift", "bitwise_and", "bitwise_or",
             "bitwise_xor", "invert"]
    objects = [getattr(fnp, n) for n in names] + [
        _dispatch._UfuncMethods, _dispatch._UfuncMethods.reduce,
        _dispatch._UfuncMethods.accumulate, _dispatch._UfuncMethods.outer]
    runner = doctest.DocTestRunner()
    for obj in objects:
        assert ">>>" in obj.__doc__, obj
        module = __import__(obj.__module__, fromlist=["_"])
        for test in doctest.DocTestFinder(recurse=False).find(obj, globs=vars(module)):
            runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_numpy_2_aliases_are_the_same_functions():
    for alias, name in [("acos", "arccos"), ("acosh", "arccosh"), ("asin", "arcsin"),
                        ("asinh", "arcsinh"), ("atan", "arctan"), ("atanh", "arctanh"),
                        ("atan2", "arctan2"), ("pow", "power"), ("bitwise_invert", "invert"),
                        ("bitwise_not", "invert"), ("bitwise_left_shift", "left_shift"),
                        ("bitwise_right_shift", "right_shift")]:
        assert getattr(fnp, alias) is getattr(fnp, name), alias
        if hasattr(np, alias):
            assert getattr(np, alias) is getattr(np, name), alias
