"""Cases for the funcgrad.numpy functions that other case files leave out (the test below in
test_numpy.py lists every public function without a case): convolve/correlate, einsum, angle,
piecewise, histogram2d/histogramdd weights, the functional put_along_axis/fill_diagonal,
fromfunction, full, copy, logsumexp through the namespace, and the NumPy 2 aliases."""
from __future__ import annotations

import numpy as np
from test_numpy import XY, Case, Fixed, X, fn_named

_W = np.random.default_rng(7).normal(size=(12, 2))       # histogram samples (constants)
_IDX = np.array([[0], [2], [1]])

CASES = [
    Case("convolve(full)", lambda m, a, v: m.convolve(a, v), Fixed((5,), (3,))),
    Case("convolve(same)", lambda m, a, v: m.convolve(a, v, mode="same"), Fixed((3,), (5,))),
    Case("correlate(valid)", lambda m, a, v: m.correlate(a, v), Fixed((6,), (3,))),
    Case("correlate(full)", lambda m, a, v: m.correlate(a, v, mode="full"), Fixed((4,), (4,))),
    Case("einsum(ij,jk)", lambda m, a, b: m.einsum("ij,jk->ik", a, b), Fixed((2, 3), (3, 4))),
    Case("einsum(trace)", lambda m, a: m.einsum("ii", a), Fixed((3, 3))),
    Case("einsum(bij,bj)", lambda m, a, b: m.einsum("bij,bj->bi", a, b),
         Fixed((2, 3, 4), (2, 4))),
    Case("angle(complex)", lambda m, x, y: m.angle(x + 1j * y), XY(0.3, 2.0)),
    Case("conj/imag", lambda m, x, y: m.imag(m.conj((x + 1j * y) * (x - 2j))), XY()),
    Case("piecewise", lambda m, x: m.piecewise(x, [x < -0.5, x > 0.5],
                                               [lambda v: v * v, lambda v: -v, 0.25]), X()),
    Case("histogram2d(weights)", lambda m, w: m.histogram2d(_W[:, 0], _W[:, 1], bins=3,
                                                            weights=w)[0], Fixed((12,))),
    Case("histogramdd(weights)", lambda m, w: m.histogramdd(_W, bins=(2, 3), weights=w,
                                                            density=True)[0], Fixed((12,))),
    Case("put_along_axis(functional)",
         lambda m, a, v: m.put_along_axis(a, _IDX, v, axis=1, inplace=False)
         if m is not np else _np_put_along_axis(a, v), Fixed((3, 4), (3, 1)),
         through_numpy=False),
    Case("fill_diagonal(functional)",
         lambda m, a, v: m.fill_diagonal(a, v, inplace=False) if m is not np
         else _np_fill_diagonal(a, v), Fixed((3, 4), (3,)), through_numpy=False),
    Case("fromfunction", lambda m, s: m.fromfunction(lambda i, j: s * i - j * j, (2, 3)),
         Fixed(())),
    # np.full and np.asanyarray convert their argument (np.asarray): not through NumPy
    Case("full(traced)", lambda m, x: m.full((2, 3), x), Fixed(()), through_numpy=False),
    Case("copy", lambda m, x: m.copy(x) * 2.0, X()),
    Case("logsumexp(namespace)", lambda m, x: m.logsumexp(x, axis=0) if m is not np
         else np.log(np.sum(np.exp(x), axis=0)), X(min_dims=1), through_numpy=False),
    Case("asin/acosh aliases", lambda m, x: m.asin(x * 0.4) + m.acosh(x * x + 1.5)
         + m.atan(x) + m.asinh(x) + m.atanh(x * 0.4), X()),
    Case("asanyarray", lambda m, x: m.asanyarray(x) * m.ascontiguousarray(x)
         - m.asfortranarray(x), X(),
         through_numpy=False),
    Case("empty_like+", lambda m, x: m.empty_like(x) * 0.0 + x, X(0.5, 2.0)),
    Case("stop_gradient", lambda m, x: m.stop_gradient(x) * x if m is not np else x * x,
         X(), grad=False, through_numpy=False),
    Case("logical ops", lambda m, x, y: m.logical_and(x > 0, m.logical_or(y > 0,
                                                                          m.logical_not(x > y))),
         XY(), grad=False),
    Case("signbit", fn_named("signbit"), X(), grad=False),
    Case("right_shift(int)", lambda m, x: m.right_shift(m.floor(x * 10.0).astype(np.int64),
                                                        1), X(0.0, 4.0), grad=False),
]


def _np_put_along_axis(a, v):
    out = a.copy()
    np.put_along_axis(out, _IDX, v, axis=1)
    return out


def _np_fill_diagonal(a, v):
    out = a.copy()
    np.fill_diagonal(out, v)
    return out
