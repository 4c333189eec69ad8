"""test_numpy cases for the polynomial functions (np.polyval and the poly* family, vander, roots,
poly): values, shapes and dtypes against NumPy, derivatives against finite differences, and
jit/vmap/second-order agreement (all run by tests/test_numpy.py)."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from test_numpy import Case, Fixed, X, fn_named, values


def _length(data, lo=1, hi=5):
    return data.draw(st.integers(lo, hi))


def PX(min_p=1):
    """p: coefficients, 1-D; x: any shape."""
    def make(data, dt):
        p = values(data, (_length(data, min_p),), dt)
        x = values(data, data.draw(st.sampled_from([(), (3,), (2, 3)])), dt)
        return (p, x), {}
    return make


def TwoPolys(lead=False):
    """two 1-D coefficient arrays of independent lengths (`lead`: the second's leading
    coefficient is a power of 2, and the first is at least as long, for division)."""
    def make(data, dt):
        a = values(data, (_length(data, 3 if lead else 1),), dt)
        b = values(data, (_length(data, 1, 3),), dt)
        if lead:    # a power of 2: the long division's leading entries cancel exactly, so
            # NumPy strips them also in float32 (its strip is by value, within 1e-8 of 0)
            b[0] = data.draw(st.sampled_from([0.5, 1.0, -2.0]))
        return (a, b), {}
    return make


def Fit(k=None, weights=False, npts=7):
    """x (distinct points), y (npts,) or (npts, k), and weights."""
    def make(data, dt):
        x = np.linspace(-1.5, 1.5, npts) + values(data, (npts,), np.float64, -0.1, 0.1)
        args = [x.astype(dt), values(data, (npts,) if k is None else (npts, k), dt)]
        if weights:
            args.append(values(data, (npts,), dt, 0.5, 2.0))
        return tuple(args), {}
    return make


def SpreadRoots(n=3, complex_pair=False):
    """coefficients of a polynomial with well separated roots (a scaled np.poly of them), so
    that the roots are differentiable and their order is stable under small perturbations."""
    def make(data, dt):
        base = np.linspace(-1.5, 1.5, n)
        r = base + values(data, (n,), np.float64, -0.2, 0.2)
        if complex_pair:
            r = np.concatenate([r[:-2], [r[-2] + 0.8j, r[-2] - 0.8j]])
        scale = values(data, (), np.float64, 0.5, 2.0)
        return (np.real(np.poly(r) * scale).astype(dt),), {}
    return make


def Matrix(n=3):
    """a square matrix with well separated real eigenvalues."""
    def make(data, dt):
        q = np.linalg.qr(values(data, (n, n), np.float64))[0]
        w = np.linspace(-2.0, 2.0, n) + values(data, (n,), np.float64, -0.2, 0.2)
        a = (q * w) @ q.T + values(data, (n, n), np.float64, -0.05, 0.05)
        return (a.astype(dt),), {}
    return make


def _complex_ref(f):
    """NumPy's result in the complex dtype funcgrad gives (NumPy's roots are real when all
    are; funcgrad's, like linalg.eigvals', are always complex)."""
    def ref(*args, **kw):
        r = f(*args, **kw)
        return r.astype(np.result_type(r, np.complex64))
    return ref


CASES = [
    Case("polyval", fn_named("polyval"), PX()),
    Case("polyval(x scalar)", lambda m, p: m.polyval(p, 0.7), X(min_dims=1, max_dims=1)),
    Case("polyval(list p)", lambda m, p, x: m.polyval([p[0], 2.0, p[1]], x), Fixed((2,), (3,))),
    Case("polyval(empty p)", lambda m, x: m.polyval(x[:0], x) + x, X(min_dims=1, max_dims=1)),
    Case("polyadd", fn_named("polyadd"), TwoPolys()),
    Case("polysub", fn_named("polysub"), TwoPolys()),
    Case("polymul", fn_named("polymul"), TwoPolys()),
    Case("polyder", fn_named("polyder"), X(min_dims=1, max_dims=1)),
    Case("polyder(m=2)", lambda m, p: m.polyder(p, 2), Fixed((5,))),
    Case("polyint", fn_named("polyint"), X(min_dims=1, max_dims=1)),
    Case("polyint(m=2,k)", lambda m, p, k: m.polyint(p, 2, k), Fixed((4,), (2,))),
    Case("polyint(m=3,k scalar)", lambda m, p: m.polyint(p, 3, 1.5), Fixed((3,))),
    Case("polydiv", fn_named("polydiv"), TwoPolys(lead=True)),
    Case("polydiv(u shorter)", lambda m, u, v: m.polydiv(u, v)[1], Fixed((2,), (3,))),
    Case("vander", fn_named("vander"), X(min_dims=1, max_dims=1)),
    Case("vander(N,increasing)", lambda m, x: m.vander(x, 4, increasing=True), Fixed((3,))),
    Case("vander(N=1)", lambda m, x: m.vander(x, 1) + x[:, None], Fixed((3,))),
    Case("polyfit", lambda m, x, y: m.polyfit(x, y, 3), Fit()),
    Case("polyfit(w)", lambda m, x, y, w: m.polyfit(x, y, 2, w=w), Fit(weights=True)),
    Case("polyfit(2d y,w)", lambda m, x, y, w: m.polyfit(x, y, 2, w=w), Fit(2, True)),
    Case("polyfit(cov)", lambda m, x, y: m.polyfit(x, y, 2, cov=True), Fit()),
    Case("polyfit(cov unscaled,2d)", lambda m, x, y, w: m.polyfit(x, y, 1, w=w, cov="unscaled"),
         Fit(3, True)),
    Case("roots", fn_named("roots"), SpreadRoots(), ref=_complex_ref(np.roots)),
    Case("roots(complex)", fn_named("roots"), SpreadRoots(4, complex_pair=True),
         ref=_complex_ref(np.roots)),
    Case("roots(degree 1)", fn_named("roots"), Fixed((2,), lo=0.5, hi=2.0),
         ref=_complex_ref(np.roots)),
    Case("poly", fn_named("poly"), X(min_dims=1, max_dims=1)),
    Case("poly(matrix)", fn_named("poly"), Matrix()),
    Case("poly(roots(p))", lambda m, p: m.real(m.poly(m.roots(p))), SpreadRoots(4, True),
         ref=lambda p: np.real(np.poly(np.roots(p)))),
    Case("polyval(polyder,polyint)", lambda m, p, x: m.polyval(m.polyder(m.polyint(p)), x),
         PX()),
]
