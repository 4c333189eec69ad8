"""funcgrad.scipy.special: scipy.special's functions, traced and differentiable (as
jax.scipy.special).

The functions SciPy computes (erf, erfc, erfinv, erfcx, gamma, gammaln, digamma, polygamma,
beta, betaln, gammainc, gammaincc, betainc, ndtri, i0, i0e, i1, i1e, zeta) are primitives
(funcgrad/prims/special_functions.py) evaluated by SciPy, which is imported when one is first
evaluated: they need `pip install 'funcgrad[scipy]'`, and say so without it. Everything else is
composed of funcgrad.numpy and those primitives. expit, logit, log_expit, xlogy, xlog1py, entr,
rel_entr, kl_div, logsumexp, softmax, log_softmax and sinc need no SciPy at all; ndtr, log_ndtr
and multigammaln need it through erfc, erfcx and gammaln.

Importing this module (`import funcgrad` does) lets SciPy's own ufuncs trace: scipy.special.erf
on a traced value binds the same primitive as funcgrad.scipy.special.erf. SciPy's functions that
are not ufuncs (logsumexp, softmax, log_softmax, polygamma, multigammaln) turn their arguments
into NumPy arrays first, which a traced value refuses: call the ones here instead.

Values are SciPy's, for real arguments (complex ones are refused). Dtypes follow NumPy's
promotion: float32 in, float32 out, integers compute in float64, and Python numbers are weak
(beta(float32, 2.0) is float32, where SciPy's ufuncs compute it in float64). At the edges of
a domain where a function has no finite derivative (entr, rel_entr, kl_div at 0, xlogy at
x = y = 0) the derivative is finite (the branch not taken contributes 0), never NaN.
"""
from __future__ import annotations

import math
import sys

import numpy as _np

from .. import numpy as _fnp
from ..core.trace import Tracer as _Tracer
from ..numpy import _dispatch
from ..numpy._elementwise import _binary, _unary
from ..numpy._util import _reports_user_line
from ..prims import elementwise as _ew
from ..prims import special_functions as _sf

_inf = _np.inf


def _promote(*args):
    """The arguments as arrays of one float dtype, NumPy's promotion of them (Python numbers
    are weak: they keep float32 float32); integers and booleans become float64."""
    args = [_fnp.asarray(a) if isinstance(a, (list, tuple)) else a for a in args]
    dtype = _fnp.result_type(*args)
    if dtype.kind == "c":
        raise TypeError(f"funcgrad.scipy.special and stats take real numbers, not {dtype}")
    if dtype.kind != "f":
        dtype = _np.dtype(_np.float64)
    return [_fnp.astype(a, dtype) if isinstance(a, _Tracer) else _np.asarray(a, dtype)
            for a in args]


def _traced(factory, prim, name: str, doc: str):
    """The funcgrad.scipy.special function binding `prim` (funcgrad.numpy's fast path)."""
    f = factory(prim, name)
    f.__module__ = __name__
    f.__doc__ = doc
    return f


# ---------------------------------------------------------------- primitives (SciPy computes)

erf = _traced(_unary, _sf.erf_p, "erf", """The error function; erf'(x) = 2/sqrt(pi) exp(-x^2).

    >>> erf(_np.array([0.0, 1.0]))
    array([0.        , 0.84270079])
    """)
erfc = _traced(_unary, _sf.erfc_p, "erfc", """1 - erf(x), accurate where it is tiny.

    >>> float(erfc(10.0))
    2.0884875837625446e-45
    """)
erfinv = _traced(_unary, _sf.erfinv_p, "erfinv", """The inverse of erf on (-1, 1).

    >>> float(erfinv(erf(0.5)))
    0.5
    """)
erfcx = _traced(_unary, _sf.erfcx_p, "erfcx", """exp(x^2) erfc(x), finite for large x.

    >>> float(erfcx(100.0))
    0.005641613782989433
    """)
gamma = _traced(_unary, _sf.gamma_p, "gamma", """The gamma function; gamma' = gamma digamma.

    >>> float(gamma(5.0))
    24.0
    """)
gammaln = _traced(_unary, _sf.gammaln_p, "gammaln", """log |gamma(x)|; gammaln' = digamma.

    >>> float(gammaln(100.0))
    359.1342053695754
    """)
digamma = _traced(_unary, _sf.digamma_p, "digamma", """The digamma function psi = gammaln';
    psi' = polygamma(1, x).

    >>> float(digamma(1.0))
    -0.5772156649015329
    """)
psi = digamma
polygamma = _traced(_binary, _sf.polygamma_p, "polygamma", """The n-th derivative of digamma
    (n a non-negative integer, not differentiated); the result has x's float dtype.

    >>> float(polygamma(1, 1.0))   # pi^2 / 6
    1.6449340668482266
    """)
beta = _traced(_binary, _sf.beta_p, "beta", """The beta function gamma(a) gamma(b) / gamma(a + b).

    >>> float(beta(2.0, 3.0))
    0.08333333333333333
    """)
betaln = _traced(_binary, _sf.betaln_p, "betaln", """log |beta(a, b)|.

    >>> float(betaln(200.0, 300.0))
    -337.9801130654646
    """)
gammainc = _traced(_binary, _sf.gammainc_p, "gammainc", """The regularized lower incomplete
    gamma function P(a, x). Differentiable in x; the derivative in a raises
    NotImplementedError.

    >>> float(gammainc(1.0, 2.0))   # 1 - exp(-2)
    0.8646647167633873
    """)
gammaincc = _traced(_binary, _sf.gammaincc_p, "gammaincc", """1 - gammainc(a, x), accurate
    where it is tiny. Differentiable in x; the derivative in a raises NotImplementedError.

    >>> float(gammaincc(1.0, 2.0))
    0.1353352832366127
    """)
ndtri = _traced(_unary, _sf.ndtri_p, "ndtri", """The inverse of ndtr (the standard normal
    quantile function).

    >>> float(ndtri(0.975))
    1.959963984540054
    """)
i0 = _traced(_unary, _sf.i0_p, "i0", """The modified Bessel function of order 0; i0' = i1.

    >>> float(i0(1.0))
    1.2660658777520082
    """)
i0e = _traced(_unary, _sf.i0e_p, "i0e", """exp(-|x|) i0(x), finite for large |x|.

    >>> float(i0e(1000.0))
    0.012617240455891257
    """)
i1 = _traced(_unary, _sf.i1_p, "i1", """The modified Bessel function of order 1;
    i1' = i0 - i1 / x (1/2 at 0).

    >>> float(i1(1.0))
    0.5651591039924851
    """)
i1e = _traced(_unary, _sf.i1e_p, "i1e", """exp(-|x|) i1(x), finite for large |x|.

    >>> float(i1e(1.0))
    0.2079104153497085
    """)


def betainc(a, b, x):
    """The regularized incomplete beta function I_x(a, b). Differentiable in x; the
    derivative in a or b raises NotImplementedError.

    >>> float(betainc(1.0, 2.0, 0.5))   # 1 - (1 - x)^2
    0.75
    """
    return _sf.betainc(a, b, x)


def zeta(x, q=None):
    """The Hurwitz zeta function sum_k (k + q)^-x, or Riemann's (q=None, also for x < 1, as
    SciPy's). Differentiable in q; the derivative in x raises NotImplementedError.

    >>> float(zeta(2.0))   # pi^2 / 6
    1.6449340668482266
    """
    return _sf.zeta(x, 1.0 if q is None else q)


# ---------------------------------------------------------------- composites, no SciPy

def expit(x):
    """The logistic function 1 / (1 + exp(-x)): one primitive, exp(-|x|) never overflows.

    >>> expit(_np.array([-1e4, 0.0, 1e4]))
    array([0. , 0.5, 1. ])
    """
    return _ew.logistic(_promote(x)[0])


def log_expit(x):
    """log(expit(x)) = -logaddexp(0, -x): finite where expit underflows.

    >>> log_expit(_np.array([-1e4, 0.0, 1e4]))
    array([-1.00000000e+04, -6.93147181e-01, -0.00000000e+00])
    """
    x = _promote(x)[0]
    return -_fnp.logaddexp(-x, 0.0)


def logit(x):
    """log(x / (1 - x)), SciPy's way: log1p(s) - log1p(-s), s = 2x - 1, on [0.3, 0.65] where
    the quotient would lose digits.

    >>> float(logit(0.5)), float(logit(0.9))
    (0.0, 2.1972245773362196)
    """
    x = _promote(x)[0]
    mid = (x >= 0.3) & (x <= 0.65)
    s = 2.0 * (_fnp.where(mid, x, 0.5) - 0.5)      # each branch sees only its own inputs
    far = _fnp.where(mid, 0.1, x)
    return _fnp.where(mid, _fnp.log1p(s) - _fnp.log1p(-s), _fnp.log(far / (1.0 - far)))


def xlogy(x, y):
    """x log(y), 0 where x = 0 (unless y is NaN). The derivative in x is log(y) (0 where also
    y = 0), in y x / y (0 where x = 0): no NaN at x = y = 0.

    >>> xlogy(_np.array([0.0, 0.0, 2.0]), _np.array([0.0, 3.0, 3.0]))
    array([0.        , 0.        , 2.19722458])
    """
    x, y = _promote(x, y)
    zero_log = (x == 0) & ((y <= 0) | (y == _inf))
    return x * _fnp.log(_fnp.where(zero_log, 1.0, y))


def xlog1py(x, y):
    """x log1p(y), 0 where x = 0 (unless y is NaN); derivatives as xlogy's.

    >>> xlog1py(_np.array([0.0, 2.0]), _np.array([-1.0, 1e-20]))
    array([0.e+00, 2.e-20])
    """
    x, y = _promote(x, y)
    zero_log = (x == 0) & ((y <= -1) | (y == _inf))
    return x * _fnp.log1p(_fnp.where(zero_log, 0.0, y))


def entr(x):
    """-x log(x) for x > 0, 0 at 0, -inf for x < 0 (derivative 0 at x = 0).

    >>> entr(_np.array([-1.0, 0.0, 0.5]))
    array([      -inf, 0.        , 0.34657359])
    """
    x = _promote(x)[0]
    out = -x * _fnp.log(_fnp.where(x > 0, x, 1.0))
    return _fnp.where(x < 0, -_inf, _fnp.where(x == 0, 0.0, out))


def _relative(p, q, extra: bool):
    p, q = _promote(p, q)
    both = (p > 0) & (q > 0)
    ps, qs = _fnp.where(both, p, 1.0), _fnp.where(both, q, 1.0)
    # the order SciPy evaluates in, so near p = q the cancellation rounds as it does there
    val = ps * _fnp.log(ps / qs) - ps + qs if extra else ps * _fnp.log(ps / qs)
    nan_or_inf = _fnp.where(_fnp.isnan(p + q), p + q, _inf)
    edge = _fnp.where((p == 0) & (q >= 0), q if extra else 0.0, nan_or_inf)
    return _fnp.where(both, val, edge)


def rel_entr(p, q):
    """p log(p / q) for p, q > 0; 0 where p = 0 and q >= 0; inf otherwise.

    >>> rel_entr(_np.array([0.0, 0.5, 1.0]), _np.array([0.5, 0.25, 0.0]))
    array([0.        , 0.34657359,        inf])
    """
    return _relative(p, q, extra=False)


def kl_div(p, q):
    """p log(p / q) - p + q for p, q > 0; q where p = 0 and q >= 0; inf otherwise.

    >>> kl_div(_np.array([0.0, 0.5]), _np.array([0.5, 0.25]))
    array([0.5       , 0.09657359])
    """
    return _relative(p, q, extra=True)


def _squeeze(out, axis, ndim, keepdims):
    if keepdims:
        return out
    axes = tuple(range(ndim)) if axis is None else axis
    return _fnp.asarray(_fnp.squeeze(out, axis=axes))


def _max_const(a, axis):
    # The shift is a constant (no derivative flows through it); rows of -inf stay -inf.
    m = _fnp.max(_fnp.stop_gradient(a), axis=axis, keepdims=True)
    return _fnp.where(_fnp.isfinite(m), m, 0.0)


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """log(sum(b * exp(a))), as scipy.special.logsumexp: stable (the largest a with b != 0 is
    subtracted first), for any sign of b. A negative sum is NaN, unless `return_sign`: then
    (log|sum|, sign(sum)).

    >>> float(logsumexp(_np.array([1000.0, 1000.0])))
    1000.6931471805599
    >>> logsumexp(_np.array([1.0, 2.0]), b=_np.array([1.0, -1.0]), return_sign=True)
    (array(1.54132485), array(-1.))
    """
    if b is None:
        (a,) = _promote(a)
        shift_from = a
    else:
        a, b = _promote(a, b)
        a, b = _fnp.broadcast_arrays(a, b)
        shift_from = _fnp.where(b != 0, a, -_inf)
    m = _max_const(shift_from, axis)
    e = _fnp.exp(a - m)
    s = _fnp.sum(e if b is None else b * e, axis=axis, keepdims=True)
    if return_sign:
        out = _fnp.log(_fnp.abs(s)) + m
        return (_squeeze(out, axis, _fnp.ndim(a), keepdims),
                _squeeze(_fnp.sign(s), axis, _fnp.ndim(a), keepdims))
    return _squeeze(_fnp.log(s) + m, axis, _fnp.ndim(a), keepdims)


def softmax(x, axis=None):
    """exp(x) / sum(exp(x), axis) (all of x when axis is None, as SciPy), stable for any x.

    >>> softmax(_np.array([0.0, 1e4, -1e4]))
    array([0., 1., 0.])
    """
    (x,) = _promote(x)
    e = _fnp.exp(x - _max_const(x, axis))
    return e / _fnp.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis=None):
    """x - logsumexp(x, axis): finite where softmax underflows.

    >>> log_softmax(_np.array([0.0, 1e4]))
    array([-10000.,      0.])
    """
    (x,) = _promote(x)
    s = x - _max_const(x, axis)
    return s - _fnp.log(_fnp.sum(_fnp.exp(s), axis=axis, keepdims=True))


def sinc(x):
    """sin(pi x) / (pi x), 1 at 0 (NumPy's, as scipy.special.sinc).

    >>> float(sinc(0.5))
    0.6366197723675814
    """
    return _fnp.sinc(x)


# ---------------------------------------------------------------- composites of primitives

_SQRT1_2 = 1.0 / math.sqrt(2.0)


def ndtr(x):
    """The standard normal CDF, 0.5 erfc(-x / sqrt(2)): accurate in both tails.

    >>> float(ndtr(0.0)), float(ndtr(-10.0))
    (0.5, 7.619853024160583e-24)
    """
    (x,) = _promote(x)
    return 0.5 * erfc(-x * _SQRT1_2)


def log_ndtr(x):
    """log(ndtr(x)), stable in both tails: for x < 0, log(erfcx(-x / sqrt(2)) / 2) - x^2 / 2
    (exact, where ndtr underflows: log_ndtr(-1e5) is finite, and so is its derivative); for
    x >= 0, log1p(-ndtr(-x)).

    >>> float(log_ndtr(-40.0)), float(log_ndtr(10.0))
    (-804.6084420137538, -7.619853024160583e-24)
    """
    (x,) = _promote(x)
    neg = x < 0
    xn = _fnp.where(neg, x, 0.0)          # each branch sees only its own side
    xp = _fnp.where(neg, 0.0, x)
    left = _fnp.log(0.5 * erfcx(-xn * _SQRT1_2)) - 0.5 * (xn * xn)
    right = _fnp.log1p(-0.5 * erfc(xp * _SQRT1_2))
    return _fnp.where(neg, left, right)


def multigammaln(a, d):
    """log of the multivariate gamma function of dimension d (a positive integer):
    d (d - 1) / 4 log(pi) + sum_j gammaln(a - j / 2). NaN where a <= (d - 1) / 2, where
    SciPy raises (traced values cannot be inspected).

    >>> float(multigammaln(3.0, 2))
    1.5501949939575645
    """
    if isinstance(d, _Tracer) or _np.ndim(d) or _np.floor(d) != d or d < 1:
        raise ValueError(f"multigammaln: d should be a positive integer (dimension), got {d!r}")
    d_int = int(d)
    (a,) = _promote(a)
    out = (d_int * (d_int - 1) / 4.0) * math.log(math.pi)
    for j in range(d_int):
        out = out + gammaln(a - 0.5 * j)
    return _fnp.where(a > 0.5 * (d_int - 1), out, _np.nan)


__all__ = _reports_user_line(globals())


# ---------------------------------------------------------------- scipy.special's ufuncs

_TRACED_UFUNCS = ("erf", "erfc", "erfinv", "erfcx", "gamma", "gammaln", "digamma", "psi",
                  "beta", "betaln", "gammainc", "gammaincc", "betainc", "ndtri", "i0", "i0e",
                  "i1", "i1e", "expit", "log_expit", "logit", "xlogy", "xlog1py", "entr",
                  "rel_entr", "kl_div", "ndtr", "log_ndtr")
_ufunc_table: dict = {}
_scipy_ufuncs: set = set()


def _resolve_scipy_ufunc(ufunc):
    """funcgrad.numpy's __array_ufunc__ asks this for a ufunc that is not NumPy's: the traced
    function of a scipy.special ufunc; NotImplementedError for one funcgrad does not trace."""
    sp = sys.modules.get("scipy.special")
    if sp is None:          # not imported: the ufunc cannot be SciPy's
        return None
    if not _ufunc_table:
        namespace = globals()
        _ufunc_table.update({getattr(sp, n): namespace[n] for n in _TRACED_UFUNCS})
        # scipy.special.zeta is a Python function calling one of these two
        _ufunc_table[sp._ufuncs._zeta] = zeta
        _ufunc_table[sp._ufuncs._riemann_zeta] = zeta
        _scipy_ufuncs.update(v for module in (sp, sp._ufuncs) for v in vars(module).values()
                             if isinstance(v, _np.ufunc))
    f = _ufunc_table.get(ufunc)
    if f is None and ufunc in _scipy_ufuncs:
        raise NotImplementedError(
            f"funcgrad does not trace scipy.special.{ufunc.__name__}; funcgrad.scipy.special "
            f"has {', '.join(__all__)}")
    return f


_dispatch.register_ufunc_resolver(_resolve_scipy_ufunc)
