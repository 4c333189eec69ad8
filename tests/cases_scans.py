"""Cases for tests/test_prims.py: the running extrema (cummax, cummin, funcgrad/prims/scans.py)
and the elementwise primitives of integers and of floats' bits that the automatic ufunc cases
cannot cover (those draw float operands): the bitwise operations, shifts, gcd and lcm on
int32/int64 (for float32/float64), floor_divide on floats and integers (zero divisors
included), fmod away from its kinks, ldexp with integer exponents, frexp's exponent, and
nextafter (the sign of its step from x: no derivative, and none seen by finite differences).

Integer operands are made inside the case from float arguments, floor(k + u) with u in
(0.35, 0.65), so that tests/test_eager.py finds a float input to differentiate around the
integer computation (and small moves of it leave the integers as they are)."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from test_prims import SHAPES, broadcast_group, values

from funcgrad.prims import scans

INT = {np.float32: np.int32, np.float64: np.int64}


def _int_floats(draw, shapes, dtype, lo=-40, hi=40):
    """Floats k + u, k integer in [lo, hi), u in (0.35, 0.65): `_to_int` gives back k."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
    return [np.asarray(rng.integers(lo, hi, s) + rng.uniform(0.35, 0.65, s), dtype)
            for s in shapes]


def _to_int(xp, v):
    return xp.astype(xp.floor(v), INT[np.dtype(v.dtype).type])


def integer_binary(np_name: str, lo=-40, hi=40, lo2=None, hi2=None):
    """x op y on integers (int32 or int64 arrays, or one a Python int: NumPy's weak scalar),
    made from float arguments."""
    def build(draw, dtype):
        sx, sy = draw(broadcast_group(2), label="shapes")
        (x,) = _int_floats(draw, [sx], dtype, lo, hi)
        (y,) = _int_floats(draw, [sy], dtype, lo if lo2 is None else lo2,
                           hi if hi2 is None else hi2)
        scalar = draw(st.sampled_from([None, "left", "right"]), label="python scalar")
        op = lambda xp: getattr(xp, np_name)      # noqa: E731
        if scalar == "left":
            c = int(np.floor(x.flat[0])) if x.size else 3
            return (lambda xp, y: op(xp)(c, _to_int(xp, y))), [y]
        if scalar == "right":
            c = int(np.floor(y.flat[0])) if y.size else 3
            return (lambda xp, x: op(xp)(_to_int(xp, x), c)), [x]
        return (lambda xp, x, y: op(xp)(_to_int(xp, x), _to_int(xp, y))), [x, y]
    return build


def integer_unary(np_name: str):
    def build(draw, dtype):
        (x,) = _int_floats(draw, [draw(SHAPES, label="shape")], dtype)
        return (lambda xp, x: getattr(xp, np_name)(_to_int(xp, x))), [x]
    return build


def floor_divide_case(draw, dtype):
    if draw(st.booleans(), label="integers"):          # zero divisors give 0, as NumPy
        return integer_binary("floor_divide", -20, 20, -3, 4)(draw, dtype)
    x, y = values(draw, list(draw(broadcast_group(2), label="shapes")), dtype, None)
    return (lambda xp, x, y: xp.floor_divide(x, y)), [x, y]


def fmod_case(draw, dtype):
    # kinks where x / y is an integer: y = +-1.5 or +-3, x = 1.5 (k + u), u in (0.2, 0.8)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
    sx, sy = draw(broadcast_group(2), label="shapes")
    x = np.asarray(1.5 * (rng.integers(-3, 3, sx) + rng.uniform(0.2, 0.8, sx)), dtype)
    y = np.asarray(rng.choice([-3.0, -1.5, 1.5, 3.0], sy), dtype)
    return (lambda xp, x, y: xp.fmod(x, y)), [x, y]


def ldexp_case(draw, dtype):
    sx, sn = draw(broadcast_group(2), label="shapes")
    (x,) = values(draw, [sx], dtype, None)
    n = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed")).integers(
        -4, 5, sn).astype(np.int32)                   # int32 exponents keep float32 float32
    if draw(st.booleans(), label="python exponent"):
        k = draw(st.integers(-3, 3), label="exponent")
        return (lambda xp, x: xp.ldexp(x, k) * x), [x]
    return (lambda xp, x, n: xp.ldexp(x, n) * x), [x, n]


def frexp_exponent_case(draw, dtype):
    (x,) = values(draw, [draw(SHAPES, label="shape")], dtype, None)
    x = x * np.asarray(8.0, dtype)
    return (lambda xp, x: xp.frexp(x)[1]), [x]


def nextafter_case(draw, dtype):
    x, y = values(draw, list(draw(broadcast_group(2), label="shapes")), dtype, None)
    return (lambda xp, x, y: xp.sign(xp.nextafter(x, y) - x)), [x, y]


def running(np_ufunc, prim):
    """np.maximum.accumulate / np.minimum.accumulate along an axis, distinct values (no ties),
    or integers (no derivative)."""
    def build(draw, dtype):
        shape = draw(SHAPES.filter(lambda s: len(s) > 0), label="shape")
        axis = draw(st.integers(-len(shape), len(shape) - 1), label="axis")
        integers = draw(st.integers(0, 4), label="integers") == 0
        if integers:
            (x,) = _int_floats(draw, [shape], dtype)
        else:
            (x,) = values(draw, [shape], dtype, "distinct")

        def fn(xp, x):
            if integers:
                x = _to_int(xp, x)
            if xp is np:
                return np_ufunc.accumulate(x, axis=axis)
            return prim.bind(x, axis=axis % len(shape))
        return fn, [x]
    return build


CASES = {
    "cummax": running(np.maximum, scans.cummax_p),
    "cummin": running(np.minimum, scans.cummin_p),
    "floor_divide": floor_divide_case,
    "fmod": fmod_case,
    "ldexp": ldexp_case,
    "frexp_exponent": frexp_exponent_case,
    "gcd": integer_binary("gcd"),
    "lcm": integer_binary("lcm", -12, 12),
    "bitwise_and": integer_binary("bitwise_and"),
    "bitwise_or": integer_binary("bitwise_or"),
    "bitwise_xor": integer_binary("bitwise_xor"),
    "left_shift": integer_binary("left_shift", -40, 40, 0, 8),
    "right_shift": integer_binary("right_shift", -40, 40, 0, 8),
    "nextafter": nextafter_case,
    "invert": integer_unary("invert"),
    "bitwise_count": integer_unary("bitwise_count"),
}
