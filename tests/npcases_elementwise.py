"""Cases for tests/test_numpy.py: the elementwise long tail (fmod, copysign, ldexp, frexp, modf,
divmod, i0, signbit, nextafter, spacing, isposinf, isneginf), NumPy 2's aliases, integer
arithmetic on the bits (bitwise functions, shifts, the operators, floor division and
remainder with NumPy's signs and zero divisors, gcd, lcm, bitwise_count), and the ufunc
methods reduce, accumulate and outer.

Integer cases draw int32 arrays for float32 and int64 arrays for float64 (no derivative)."""
from __future__ import annotations

import hypothesis.extra.numpy as hnp
import numpy as np
from hypothesis import strategies as st
from test_numpy import XY, Case, Fixed, X, XAxis, fn_named, values

INT = {np.dtype(np.float32): np.int32, np.dtype(np.float64): np.int64}


def _ints(data, shape, dt, lo, hi):
    seed = data.draw(st.integers(0, 2**31 - 1))
    return np.random.default_rng(seed).integers(lo, hi, shape).astype(INT[np.dtype(dt)])


def IJ(lo=-40, hi=40, lo2=None, hi2=None):
    """Two broadcastable integer arrays."""
    def make(data, dt):
        s = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4))
        x, y = s.input_shapes
        return (_ints(data, x, dt, lo, hi),
                _ints(data, y, dt, lo if lo2 is None else lo2, hi if hi2 is None else hi2)), {}
    return make


def I(lo=-300, hi=300, min_dims=0):   # noqa: E743
    def make(data, dt):
        shape = data.draw(hnp.array_shapes(min_dims=min_dims, max_dims=3, max_side=4))
        return (_ints(data, shape, dt, lo, hi),), {}
    return make


def IAxis(lo=-300, hi=300):
    """An integer array (at least 1-d) and an `axis` among its axes."""
    def make(data, dt):
        shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
        axis = data.draw(st.integers(-len(shape), len(shape) - 1))
        return (_ints(data, shape, dt, lo, hi),), {"axis": axis}
    return make


def with_infinities(data, dt):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=2, max_side=4))
    x = values(data, shape, dt)
    x.flat[::3] = np.inf
    x.flat[1::3] = -np.inf
    return (x,), {}


def OneAxis(lo=-2.0, hi=2.0):
    return XAxis(lo, hi, keepdims=False, none=False, tuples=False)


EXPONENTS = np.array([1, -2, 3], np.int32)

CASES = [
    # ---------------------------------------------------------------- floats
    Case("fmod", fn_named("fmod"), XY(-0.9, 0.9, 1.0, 2.0)),
    Case("fmod(x,0.7)", lambda m, x: m.fmod(x, 0.7) + m.fmod(-x, 0.7), X(0.75, 1.35)),
    Case("fmod(2.5,y)", lambda m, y: m.fmod(2.5, y), X(1.3, 2.4)),
    Case("copysign", fn_named("copysign"), XY()),
    Case("ldexp(x,n)", lambda m, x: m.ldexp(x, EXPONENTS), Fixed((2, 3))),
    Case("frexp", fn_named("frexp"), X(-9.0, 9.0)),
    Case("modf", fn_named("modf"), X(-3.0, 3.0)),
    Case("divmod", lambda m, x, y: m.divmod(x, y), XY(0.1, 0.9, 1.0, 2.0)),
    Case("i0", fn_named("i0"), X(-3.0, 3.0)),
    Case("nextafter", fn_named("nextafter"), XY(), grad=False),
    Case("spacing", fn_named("spacing"), X(), grad=False),
    Case("isposinf", fn_named("isposinf"), with_infinities, grad=False),
    Case("isneginf", fn_named("isneginf"), with_infinities, grad=False),
    # NumPy 2's names
    Case("acos", fn_named("acos"), X(-0.9, 0.9)),
    Case("atan2", fn_named("atan2"), XY(-2.0, 2.0, 0.5, 2.0)),
    Case("pow", fn_named("pow"), XY(0.5, 2.0, -2.0, 2.0)),
    # ---------------------------------------------------------------- integers
    Case("bitwise_and(int)", fn_named("bitwise_and"), IJ(), grad=False),
    Case("invert(int)", fn_named("invert"), I(), grad=False),
    Case("left_shift", fn_named("left_shift"), IJ(-40, 40, 0, 9), grad=False),
    Case("bitwise_count", fn_named("bitwise_count"), I(), grad=False),
    Case("gcd", fn_named("gcd"), IJ(), grad=False),
    Case("lcm", fn_named("lcm"), IJ(-12, 12), grad=False),
    Case("x&y", lambda m, x, y: x & y, IJ(), grad=False),
    Case("~x", lambda m, x: ~x, I(), grad=False),
    Case("x&6|1^x", lambda m, x: 6 & x | 1 ^ x, I(), grad=False),
    Case("x<<y", lambda m, x, y: x << y, IJ(-40, 40, 0, 9), grad=False),
    Case("x>>2", lambda m, x: x >> 2, I(), grad=False),
    Case("3<<x", lambda m, x: 3 << x, I(0, 9), grad=False),
    Case("int8&3", lambda m, x: m.astype(x, np.int8) & 3, I(-100, 100), grad=False),
    Case("uint8<<int16", lambda m, x, y: m.astype(x, np.uint8) << m.astype(y, np.int16),
         IJ(0, 100, 0, 4), grad=False),
    Case("mask&int", lambda m, x: (x > 0) & x, I(), grad=False),
    Case("x//y(int)", lambda m, x, y: x // y, IJ(-20, 20, -4, 5), grad=False),
    Case("x%y(int)", lambda m, x, y: x % y, IJ(-20, 20, -4, 5), grad=False),
    Case("-7%x", lambda m, x: -7 % x, I(-4, 5), grad=False),
    Case("fmod(int)", fn_named("fmod"), IJ(-20, 20, -4, 5), grad=False),
    Case("divmod(int)", lambda m, x, y: m.divmod(x, y), IJ(-20, 20, -4, 5), grad=False),
    Case("modf(int)", fn_named("modf"), I(), grad=False),
    # ---------------------------------------------------------------- ufunc methods
    Case("logaddexp.reduce", lambda m, x, **k: m.logaddexp.reduce(x, **k), XAxis()),
    Case("logaddexp2.reduce", lambda m, x, **k: m.logaddexp2.reduce(x, **k),
         XAxis(keepdims=False)),
    Case("logaddexp.reduce(initial,where)",
         lambda m, x: m.logaddexp.reduce(x, axis=0, initial=0.5, where=x > -1.0),
         X(min_dims=1)),
    Case("hypot.reduce", lambda m, x, **k: m.hypot.reduce(x, **k), XAxis(0.5, 2.0)),
    Case("fmax.reduce", lambda m, x, **k: m.fmax.reduce(x, **k), XAxis(tuples=False)),
    Case("subtract.reduce", lambda m, x, **k: m.subtract.reduce(x, **k),
         XAxis(none=False, tuples=False)),
    Case("add.reduce(dtype)", lambda m, x: m.add.reduce(x, axis=-1, dtype=np.float64),
         X(min_dims=1)),
    Case("maximum.accumulate", lambda m, x, **k: m.maximum.accumulate(x, **k), OneAxis()),
    Case("minimum.accumulate", lambda m, x, **k: m.minimum.accumulate(x, **k), OneAxis()),
    Case("logaddexp.accumulate", lambda m, x, **k: m.logaddexp.accumulate(x, **k), OneAxis()),
    Case("hypot.accumulate", lambda m, x, **k: m.hypot.accumulate(x, **k), OneAxis(0.5, 2.0)),
    Case("multiply.accumulate", lambda m, x, **k: m.multiply.accumulate(x, **k),
         OneAxis(0.5, 1.5)),
    Case("subtract.accumulate", lambda m, x, **k: m.subtract.accumulate(x, **k), OneAxis()),
    Case("power.accumulate", lambda m, x, **k: m.power.accumulate(x, **k), OneAxis(0.5, 1.5)),
    Case("add.outer", lambda m, x, y: m.add.outer(x, y), Fixed((3,), (2, 2))),
    Case("logaddexp.outer", lambda m, x, y: m.logaddexp.outer(x, y), Fixed((3,), (4,))),
    Case("maximum.outer", lambda m, x, y: m.maximum.outer(x, y), Fixed((3,), (4,))),
    Case("bitwise_xor.reduce", lambda m, x, **k: m.bitwise_xor.reduce(x, **k), IAxis(),
         grad=False),
    Case("bitwise_and.reduce(None)", lambda m, x: m.bitwise_and.reduce(x, axis=None),
         I(min_dims=1), grad=False),
    Case("bitwise_or.accumulate", lambda m, x, **k: m.bitwise_or.accumulate(x, **k), IAxis(),
         grad=False),
    Case("bitwise_and.outer", lambda m, x, y: m.bitwise_and.outer(x, y), IJ(), grad=False),
    Case("logical_xor.reduce", lambda m, x, **k: m.logical_xor.reduce(x > 0, **k), XAxis(),
         grad=False),
]
