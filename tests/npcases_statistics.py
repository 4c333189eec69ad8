"""Cases for funcgrad.numpy's statistics (funcgrad/numpy/_statistics.py), checked by
test_numpy.py against NumPy, through the NumPy protocols, against finite differences and across
transformations. Inputs avoid ties and kinks: values are continuous random draws, sorted inputs
(interp's xp, searchsorted's a, spacings) are cumulative sums of steps far larger than the
jitter test_transformations_agree adds, and NaN entries sit where every slice keeps a value."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from test_numpy import Case, Fixed, X, XAxis, fn_named, shape_of, values

METHODS = ["linear", "lower", "higher", "nearest", "midpoint", "hazen", "weibull",
           "median_unbiased", "normal_unbiased", "interpolated_inverted_cdf", "inverted_cdf",
           "averaged_inverted_cdf", "closest_observation"]


def sorted_steps(data, n, dt, lo=-2.0, step=(0.3, 1.0)):
    """n increasing values, consecutive ones at least step[0] apart."""
    seed = data.draw(st.integers(0, 2**31 - 1))
    steps = np.random.default_rng(seed).uniform(*step, n)
    return (lo + np.cumsum(steps)).astype(dt)


def WithNaN(shape=(4, 5), axes=(None, 0, 1, -1), **extra):
    """Values of `shape` with NaN at a few places (every row and column keeps values)."""
    def make(data, dt):
        x = values(data, shape, dt)
        x[0, 1] = x[2, 3] = x[3, 0] = x[1, 1] = np.nan
        kw = {"axis": data.draw(st.sampled_from(axes))}
        for k, strategy in extra.items():
            kw[k] = data.draw(strategy)
        return (x,), kw
    return make


def AllNaNRow():
    def make(data, dt):
        x = values(data, (3, 4), dt)
        x[1] = np.nan
        x[0, 2] = np.nan
        return (x,), {"axis": 1}
    return make


def QTraced(percent=False):
    def make(data, dt):
        a = values(data, shape_of(data, 2, 2, min_side=2), dt)
        q = values(data, (3,), dt, 0.05, 0.95) * (100 if percent else 1)
        return (a, q), {"axis": data.draw(st.sampled_from([None, 0, 1]))}
    return make


def Interp(period=False):
    def make(data, dt):
        n = data.draw(st.integers(1, 6)) if not period else data.draw(st.integers(2, 6))
        xp = sorted_steps(data, n, dt, lo=-2.5, step=(0.3, 0.9))
        if period:
            xp = sorted_steps(data, n, dt, lo=-0.2, step=(0.35, 0.6))
        x = values(data, shape_of(data, 0, 2), dt, -3.0, 3.0)
        return (x, xp, values(data, (n,), dt)), {}
    return make


def Sorted():
    def make(data, dt):
        a = sorted_steps(data, data.draw(st.integers(1, 7)), dt)
        return (a, values(data, shape_of(data, 0, 2), dt, -3.0, 5.0)), {}
    return make


def Spacing(edge_order):
    def make(data, dt):
        shape = shape_of(data, 2, 2, min_side=edge_order + 1)
        return (values(data, shape, dt), sorted_steps(data, shape[1], dt)), {}
    return make


def Endpoints(lo=-2.0, hi=2.0):
    def make(data, dt):
        shape = shape_of(data, 0, 2)
        return (values(data, shape, dt, lo, hi), values(data, shape, dt, lo, hi)), {}
    return make


def _methods():
    return st.sampled_from(METHODS)


CASES = [
    # quantiles
    Case("quantile", lambda m, x, **k: m.quantile(x, 0.3, **k), XAxis(method=_methods())),
    Case("quantile(list)", lambda m, x, **k: m.quantile(x, [0.1, 0.5, 0.85], **k),
         XAxis(method=_methods())),
    Case("quantile(q_traced)", lambda m, x, q, **k: m.quantile(x, q, **k), QTraced()),
    Case("percentile", lambda m, x, **k: m.percentile(x, [20, 75], **k),
         XAxis(method=_methods())),
    Case("percentile(q_traced)", lambda m, x, q, **k: m.percentile(x, q, **k), QTraced(True)),
    Case("quantile(weights)",
         lambda m, x, w: m.quantile(x, [0.3, 0.7], axis=1, method="inverted_cdf", weights=w + 2.5),
         Fixed((3, 5), (3, 5))),
    Case("quantile(weights_along_axis)",
         lambda m, x, w: m.percentile(x, 40, axis=0, method="inverted_cdf", weights=w + 2.5),
         Fixed((6, 2), (6,))),
    Case("nanquantile(weights)",
         lambda m, x, **k: m.nanquantile(x, [0.4], method="inverted_cdf",
                                         weights=m.nan_to_num(x) ** 2 + 0.5, **k), WithNaN()),
    Case("nanquantile", lambda m, x, **k: m.nanquantile(x, [0.2, 0.7], **k),
         XAxis(method=_methods())),
    Case("nanquantile(nan)", lambda m, x, **k: m.nanquantile(x, 0.4, **k),
         WithNaN(method=_methods(), keepdims=st.booleans())),
    Case("nanpercentile", lambda m, x, **k: m.nanpercentile(x, 65, **k), XAxis()),
    Case("nanpercentile(nan)", lambda m, x, **k: m.nanpercentile(x, [10, 90], **k), WithNaN()),
    Case("nanmedian", fn_named("nanmedian"), XAxis()),
    Case("nanmedian(nan)", fn_named("nanmedian"), WithNaN(keepdims=st.booleans())),
    Case("nanmedian(all_nan_row)", fn_named("nanmedian"), AllNaNRow(), grad=False),
    # nan-ignoring reductions
    Case("nanmax", fn_named("nanmax"), XAxis()),
    Case("nanmin", fn_named("nanmin"), XAxis()),
    Case("nanmax(nan)", fn_named("nanmax"), WithNaN(keepdims=st.booleans())),
    Case("nanmin(nan)", fn_named("nanmin"), WithNaN()),
    Case("nanmax(initial)", fn_named("nanmax", initial=0.5), WithNaN()),
    Case("nanmax(all_nan_row)", fn_named("nanmax"), AllNaNRow(), grad=False),
    Case("nanprod", fn_named("nanprod"), XAxis(0.5, 1.5)),
    Case("nanprod(nan)", fn_named("nanprod"), WithNaN()),
    Case("nanvar", fn_named("nanvar"), XAxis()),
    Case("nanvar(nan)", fn_named("nanvar"), WithNaN(keepdims=st.booleans())),
    Case("nanvar(ddof=1)", fn_named("nanvar", ddof=1), WithNaN()),
    Case("nanvar(ddof>n)", fn_named("nanvar", ddof=4), AllNaNRow(), grad=False),
    Case("nanstd", fn_named("nanstd"), XAxis()),
    Case("nanstd(nan)", fn_named("nanstd"), WithNaN()),
    Case("nanargmax", fn_named("nanargmax"), XAxis(tuples=False), grad=False),
    Case("nanargmin", fn_named("nanargmin"), XAxis(tuples=False), grad=False),
    Case("nanargmax(nan)", fn_named("nanargmax"), WithNaN(), grad=False),
    Case("nancumsum", fn_named("nancumsum"), XAxis(keepdims=False, tuples=False)),
    Case("nancumsum(nan)", fn_named("nancumsum"), WithNaN()),
    Case("nancumprod", fn_named("nancumprod"), XAxis(0.5, 1.5, keepdims=False, tuples=False)),
    Case("nancumprod(nan)", fn_named("nancumprod"), WithNaN()),
    # cumulative, differences, integration
    Case("cumulative_sum", fn_named("cumulative_sum"),
         XAxis(keepdims=False, none=False, tuples=False, include_initial=st.booleans())),
    Case("cumulative_sum(1d)", fn_named("cumulative_sum", include_initial=True),
         X(min_dims=1, max_dims=1)),
    Case("cumulative_prod", fn_named("cumulative_prod"),
         XAxis(0.5, 1.5, keepdims=False, none=False, tuples=False,
               include_initial=st.booleans())),
    Case("ediff1d", fn_named("ediff1d"), X()),
    Case("ediff1d(ends)", lambda m, x: m.ediff1d(x, to_end=[1.0, 2.0], to_begin=-1.0), X()),
    Case("trapezoid", fn_named("trapezoid"), X(min_dims=1)),
    Case("trapezoid(dx,axis)", fn_named("trapezoid", dx=0.3, axis=0), X(min_dims=1)),
    Case("trapezoid(traced_dx)", lambda m, y, d: m.trapezoid(y, dx=d + 3.0, axis=0),
         Fixed((4, 3), ())),
    Case("trapezoid(x)", lambda m, y, x: m.trapezoid(y, x), Fixed((3, 4), (4,))),
    Case("trapezoid(x_nd)", lambda m, y, x: m.trapezoid(y, x, axis=0), Fixed((3, 4), (3, 4))),
    Case("gradient", fn_named("gradient"), X(min_dims=1, min_side=2)),
    Case("gradient(edge_order=2)", fn_named("gradient", edge_order=2), X(min_dims=1, min_side=3)),
    Case("gradient(dx,axis)", lambda m, f: m.gradient(f, 0.5, axis=-1), X(min_dims=1, min_side=2)),
    Case("gradient(traced_dx)", lambda m, f, h: m.gradient(f, h + 3.0, edge_order=2),
         Fixed((4, 3), ())),
    Case("gradient(coords)", lambda m, f, c: m.gradient(f, c, axis=1), Spacing(1)),
    Case("gradient(coords,2)", lambda m, f, c: m.gradient(f, 2.0, c, edge_order=2),
         Spacing(2)),
    Case("unwrap", lambda m, p: m.unwrap(3 * p), X(min_dims=1)),
    Case("unwrap(period)", lambda m, p: m.unwrap(p, discont=1.5, axis=0, period=2.5),
         X(-4.0, 4.0, min_dims=1)),
    # interpolation, searching, counting
    Case("interp", fn_named("interp"), Interp()),
    Case("interp(left,right)", fn_named("interp", left=-3.0, right=4.0), Interp()),
    Case("interp(period)", fn_named("interp", period=2.0), Interp(period=True)),
    Case("interp(complex)", lambda m, x, xp, fp: m.interp(x, xp, fp * (1 - 0.5j)), Interp()),
    Case("searchsorted", fn_named("searchsorted"), Sorted(), grad=False),
    Case("searchsorted(right)", fn_named("searchsorted", side="right"), Sorted(), grad=False),
    Case("searchsorted(sorter)",
         lambda m, a, v: m.searchsorted(a[::-1], v, sorter=np.arange(len(a))[::-1].copy()),
         Sorted(), grad=False),
    Case("digitize", lambda m, a, v: m.digitize(v, a), Sorted(), grad=False),
    Case("digitize(decreasing,right)", lambda m, a, v: m.digitize(v, a[::-1], right=True),
         Sorted(), grad=False),
    Case("bincount(weights)",
         lambda m, w: m.bincount(np.array([0, 2, 2, 5, 1]), weights=w, minlength=7),
         Fixed((5,))),
    Case("histogram", fn_named("histogram", bins=4), X(min_dims=1)),
    Case("histogram(range,weights)",
         lambda m, x, w: m.histogram(x, bins=3, range=(-1.0, 1.5), weights=w),
         Fixed((3, 4), (3, 4)), through_numpy=False),   # the edges are constants
    Case("histogram(edges,density)",
         lambda m, x: m.histogram(x, bins=[-2.0, -0.5, 0.0, 1.0, 2.5], density=True),
         X(min_dims=1), through_numpy=False),     # the edges are constants
    Case("histogram_bin_edges", fn_named("histogram_bin_edges", bins=5), X(min_dims=1)),
    # covariance
    Case("cov", fn_named("cov"), Fixed((3, 5))),
    Case("cov(rowvar=False,bias)", fn_named("cov", rowvar=False, bias=True), Fixed((5, 3))),
    Case("cov(y,ddof)", lambda m, x, y: m.cov(x, y, ddof=2), Fixed((2, 6), (6,))),
    Case("cov(weights)",
         lambda m, x, w: m.cov(x, fweights=np.array([1, 3, 2, 1, 2]), aweights=w + 2.5),
         Fixed((3, 5), (5,))),
    Case("cov(1d)", fn_named("cov"), Fixed((6,))),
    Case("corrcoef", fn_named("corrcoef"), Fixed((3, 6))),
    Case("corrcoef(y)", lambda m, x, y: m.corrcoef(x, y, rowvar=False), Fixed((6, 2), (6, 1))),
    # spaced ranges with traced ends
    Case("linspace", lambda m, a, b: m.linspace(a, b, 5), Endpoints()),
    Case("linspace(endpoint=False,axis,retstep)",
         lambda m, a, b: m.linspace(a, b, 4, endpoint=False, retstep=True, axis=-1),
         Endpoints()),
    Case("logspace", lambda m, a, b: m.logspace(a, b, 4, base=2.0), Endpoints()),
    Case("geomspace", lambda m, a, b: m.geomspace(a, b, 5), Endpoints(0.5, 3.0)),
    Case("geomspace(negative)", lambda m, a, b: m.geomspace(-a, -b, 3, endpoint=False, axis=-1),
         Endpoints(0.5, 3.0)),
]
