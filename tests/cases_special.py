"""The cases of the special-function primitives (funcgrad/prims/special_functions.py) for
tests/test_prims.py and the execution-path matrix: the reference branch (`xp is np`) calls
scipy.special, the traced one funcgrad.scipy.special. Values come from each primitive's domain,
away from poles and branch points; float32 and float64, broadcasting operands, Python scalars.

Arguments a primitive is not differentiable in (gammainc's and betainc's shapes, zeta's
exponent) are closed over; polygamma's order n is an integer argument (never differentiated)."""
from __future__ import annotations

import numpy as np
import scipy.special as sps
from hypothesis import strategies as st
from test_prims import SHAPES, broadcast_group, dom, values

import funcgrad.scipy.special as fsp

UNARY = ["erf", "erfc", "erfinv", "erfcx", "ndtri", "gamma", "gammaln", "digamma", "i0", "i0e",
         "i1", "i1e"]


def _call(xp, name, *args):
    if xp is np:    # SciPy's ufuncs compute (float32, 2.0) in float64; funcgrad as NumPy's
        return np.asarray(getattr(sps, name)(*args)).astype(np.result_type(*args))[()]
    return getattr(fsp, name)(*args)


def special_unary(name: str):
    def build(draw, dtype):
        (x,) = values(draw, [draw(SHAPES, label="shape")], dtype, dom(name))
        return (lambda xp, x: _call(xp, name, x)), [x]
    return build


def special_binary(name: str):
    """Both operands differentiable; one may be a Python scalar (weakly typed), and float32
    cases may mix in a float64 operand."""
    def build(draw, dtype):
        sx, sy = draw(broadcast_group(2), label="shapes")
        scalar = draw(st.sampled_from([None, "left", "right"]), label="python scalar")
        sx, sy = (() if scalar == "left" else sx), (() if scalar == "right" else sy)
        x, y = values(draw, [sx, sy], dtype, dom(name))
        if dtype == np.float32:
            y = y.astype(draw(st.sampled_from([np.float32, np.float64]), label="y dtype"))
        if scalar == "left":
            c = x.item()
            return (lambda xp, y: _call(xp, name, c, y)), [y]
        if scalar == "right":
            c = y.item()
            return (lambda xp, x: _call(xp, name, x, c)), [x]
        return (lambda xp, x, y: _call(xp, name, x, y)), [x, y]
    return build


def in_x(name: str, first_domain, second_domain=None):
    """f(a, x) (or f(a, b, x)) differentiated in x only: the shapes are closed over."""
    def build(draw, dtype):
        shapes = draw(broadcast_group(3 if second_domain else 2), label="shapes")
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="shape seed"))
        consts = [np.asarray(rng.uniform(*first_domain, shapes[0]), dtype)]
        if second_domain:
            consts.append(np.asarray(rng.uniform(*second_domain, shapes[1]), dtype))
        (x,) = values(draw, [shapes[-1]], dtype, dom(name))
        return (lambda xp, x: _call(xp, name, *consts, x)), [x]
    return build


def polygamma_case(draw, dtype):
    sn, sx = draw(broadcast_group(2), label="shapes")
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="order seed"))
    n = rng.integers(0, 4, sn)
    (x,) = values(draw, [sx], dtype, dom("polygamma"))

    def fn(xp, n, x):
        if xp is np:        # SciPy computes in float64; funcgrad keeps x's dtype (as JAX)
            return np.asarray(sps.polygamma(n, x)).astype(x.dtype)[()]
        return fsp.polygamma(n, x)
    return fn, [n, x]


def zeta_case(draw, dtype):
    sx, sq = draw(broadcast_group(2), label="shapes")
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="exponent seed"))
    s = np.asarray(rng.uniform(1.5, 4.0, sx), dtype)
    (q,) = values(draw, [sq], dtype, dom("zeta"))
    return (lambda xp, q: _call(xp, "zeta", s, q)), [q]


CASES = {
    **{name: special_unary(name) for name in UNARY},
    "beta": special_binary("beta"),
    "betaln": special_binary("betaln"),
    "polygamma": polygamma_case,
    "gammainc": in_x("gammainc", (0.5, 3.0)),
    "gammaincc": in_x("gammaincc", (0.5, 3.0)),
    "betainc": in_x("betainc", (0.5, 3.0), (0.5, 3.0)),
    "zeta": zeta_case,
}
