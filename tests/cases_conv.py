"""The case of the `conv` primitive for tests/test_prims.py (and the execution-path matrix):
funcgrad.prims.conv.conv against a naive NumPy reference (dilate, pad or crop, then one
multiply-add per window tap), over 1 to 3 spatial axes with random strides, (lo, hi) paddings
(negative ones crop), lhs and rhs dilations and feature groups, float32 and float64, real or
complex (complex operands built from two real arguments each, so finite differences run on
real inputs)."""
from __future__ import annotations

import itertools

import numpy as np
from hypothesis import strategies as st
from test_prims import values

from funcgrad.prims.conv import conv


def _pad_axis(x, axis, lo, hi):
    if lo < 0:
        x = np.take(x, np.arange(-lo, x.shape[axis]), axis=axis)
    if hi < 0:
        x = np.take(x, np.arange(0, max(0, x.shape[axis] + hi)), axis=axis)
    widths = [(0, 0)] * x.ndim
    widths[axis] = (max(lo, 0), max(hi, 0))
    return np.pad(x, widths)


def reference_conv(x, w, strides, padding, lhs_dilation, rhs_dilation, groups):
    """out[n, o, i] = sum_{c, k} xp[n, group(o) C/G + c, i s + k d] w[o, c, k], the slow way."""
    dtype = np.result_type(x, w)
    shape = x.shape[:2] + tuple((n - 1) * d + 1 for n, d in zip(x.shape[2:], lhs_dilation))
    xp = np.zeros(shape, dtype)
    xp[(slice(None),) * 2 + tuple(slice(None, None, d) for d in lhs_dilation)] = x
    for axis, (lo, hi) in enumerate(padding):
        xp = _pad_axis(xp, axis + 2, lo, hi)
    n, o, ci, window = x.shape[0], w.shape[0], w.shape[1], w.shape[2:]
    out_shape = tuple((p - (k - 1) * d - 1) // s + 1 for p, k, d, s in
                      zip(xp.shape[2:], window, rhs_dilation, strides))
    out = np.zeros((n, o) + out_shape, dtype)
    for oo in range(o):
        g = oo // (o // groups)
        for c in range(ci):
            for tap in itertools.product(*[range(k) for k in window]):
                sl = tuple(slice(t * d, t * d + (m - 1) * s + 1, s) for t, d, m, s in
                           zip(tap, rhs_dilation, out_shape, strides))
                out[:, oo] += xp[(slice(None), g * ci + c) + sl] * w[(oo, c) + tap]
    return out


def conv_params(draw, nd: int, in_sizes, window):
    """Strides, paddings and dilations for which every output size is at least 1."""
    ints = st.lists(st.integers(1, 2), min_size=nd, max_size=nd)
    strides = tuple(draw(ints, label="strides"))
    lhs_dilation = tuple(draw(ints, label="lhs_dilation"))
    rhs_dilation = tuple(draw(ints, label="rhs_dilation"))
    padding = []
    for n, k, dl, dr in zip(in_sizes, window, lhs_dilation, rhs_dilation):
        lo = draw(st.integers(-1, 2), label="pad lo")
        hi = draw(st.integers(-1, 2), label="pad hi")
        need = (k - 1) * dr + 1 - ((n - 1) * dl + 1)       # padding the window needs
        if lo + hi < need:
            hi = need - lo
        padding.append((lo, hi))
    return {"strides": strides, "padding": tuple(padding), "lhs_dilation": lhs_dilation,
            "rhs_dilation": rhs_dilation}


def conv_case(draw, dtype):
    nd = draw(st.sampled_from([1, 1, 2, 2, 3]), label="spatial axes")
    groups = draw(st.sampled_from([1, 1, 2]), label="groups")
    n = draw(st.integers(1, 2), label="batch")
    ci = draw(st.integers(1, 2), label="features per group")
    og = draw(st.integers(1, 2), label="outputs per group")
    top = 4 if nd < 3 else 3
    in_sizes = tuple(draw(st.integers(1, top), label="size") for _ in range(nd))
    window = tuple(draw(st.integers(1, 3), label="window") for _ in range(nd))
    params = conv_params(draw, nd, in_sizes, window)
    params["groups"] = groups
    sx, sw = (n, ci * groups) + in_sizes, (og * groups, ci) + window
    complex_ = draw(st.booleans(), label="complex")
    if not complex_:
        x, w = values(draw, [sx, sw], dtype, None)

        def fn(xp, x, w):
            return conv(x, w, **params) if xp is not np else reference_conv(x, w, **params)
        return fn, [x, w]
    x, xi, w, wi = values(draw, [sx, sx, sw, sw], dtype, None)

    def cfn(xp, x, xi, w, wi):
        z, v = x + 1j * xi, (w - 0.5j * wi) * (0.5 + 1j)
        return conv(z, v, **params) if xp is not np else reference_conv(z, v, **params)
    return cfn, [x, xi, w, wi]


CASES = {"conv": conv_case}
