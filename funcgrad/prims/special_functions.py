"""Special functions that SciPy computes, as elementwise primitives. Each line reads like a
calculus table (tangent = t * d(x, out)), as in elementwise.py; the rules are written with
primitives, so every order of derivative works.

SciPy is optional: `_scipy(name)` imports scipy.special on the first evaluation, and without
SciPy the error names the function and the extra to install. Nothing here is imported from
funcgrad.scipy (a higher layer): funcgrad.scipy.special binds these primitives and builds the
composites (expit, xlogy, ndtr, log_ndtr, logsumexp, ...) from them.

Derivatives are in the real arguments SciPy's functions are smooth in. Where a derivative has
no cheap closed form (the shape parameter of gammainc/gammaincc and betainc's a and b, zeta in
its exponent x) and the order of polygamma (an integer), asking for it raises
NotImplementedError; the derivative in the other arguments works.
"""
from __future__ import annotations

import math

import numpy as np

from .. import util
from ..core.primitive import Lowering
from ..core.source import where
from ..core.types import is_float
from .elementwise import (
    and_p,
    eq,
    exp,
    gt,
    log,
    or_p,
    select,
    sign,
)
from .families import binary, elementwise, unary
from .shape import broadcast_to_shape, shape_of

_modules: dict = {}


def _special(feature: str):
    """scipy.special, imported on first use; without SciPy, an ImportError naming `feature`
    and the extra to install."""
    module = _modules.get("special")
    if module is None:
        module = _modules["special"] = util.optional_import(
            "scipy.special", f"funcgrad.scipy.special.{feature}", "scipy")
    return module


_PYTHON_NUMBERS = (bool, int, float)


def _weak(args):
    """Python numbers as arrays of NumPy 2's result dtype: weak, as for NumPy's own ufuncs
    (float32 with 2.0 stays float32). SciPy's ufuncs, whose first loop is float64, would
    otherwise compute beta(float32, 2.0) in float64."""
    if not any(type(a) in _PYTHON_NUMBERS for a in args):
        return args
    dtype = np.result_type(*args)
    return [np.asarray(a, dtype) if type(a) in _PYTHON_NUMBERS else a for a in args]


def _scipy(name: str):
    """The impl: scipy.special.<name> of the operands (SciPy imported on the first call)."""
    def impl(*args):
        return getattr(_special(name), name)(*_weak(args))
    impl.__name__ = name
    return impl


def _ufunc_lowering(name: str, arity: int):
    """Generated code calls SciPy's ufunc itself, which may write into a dead buffer (out=);
    the impl where an operand is a Python number (see _weak)."""
    template = f"{{f}}({', '.join(f'{{{i}}}' for i in range(arity))})"

    def lower(in_avals, params):
        if any(a.weak for a in in_avals):
            return None
        return Lowering(template, {"f": getattr(_special(name), name)}, out=True)
    return lower


def _special_unary(name, d, **kw):
    prim = unary(name, _scipy(name), d, real_only=True, **kw)
    prim.lower = _ufunc_lowering(name, 1)
    return prim


def _special_binary(name, dx, dy, **kw):
    prim = binary(name, _scipy(name), dx, dy, real_only=True, **kw)
    prim.lower = _ufunc_lowering(name, 2)
    return prim


def _no_derivative(name: str, arg: str, why: str):
    """A calculus-table entry for an argument without a derivative rule: asking raises."""
    def d(*args):
        raise NotImplementedError(
            f"funcgrad.scipy.special.{name}: the derivative with respect to {arg} is not "
            f"implemented ({why}){where()}; differentiate with respect to the other arguments "
            f"only (pass {arg} as a constant, or wrap it in fg.stop_gradient)")
    return d


def _float_dtype(x) -> np.dtype:
    dt = np.asarray(x).dtype
    return dt if dt.kind == "f" else np.dtype(np.float64)


def _safe_log_term(a, x):
    """a * log(x), 0 where a == 0 and log(x) is not finite (x <= 0 or inf): the 0 log 0 = 0 of
    densities, with finite derivatives there."""
    bad = and_p.bind(eq(a, 0.0), or_p.bind(gt(0.0, x), or_p.bind(eq(x, 0.0), eq(x, np.inf))))
    return a * log(select(bad, 1.0, x))


_SQRT_PI = math.sqrt(math.pi)
_TWO_OVER_SQRT_PI = 2.0 / _SQRT_PI
_SQRT_2PI = math.sqrt(2.0 * math.pi)

# --- unary: d(x, out) ---------------------------------------------------------------------
erf_p = _special_unary("erf", lambda x, out: _TWO_OVER_SQRT_PI * exp(-(x * x)))
erfc_p = _special_unary("erfc", lambda x, out: -_TWO_OVER_SQRT_PI * exp(-(x * x)))
erfinv_p = _special_unary("erfinv", lambda x, out: (0.5 * _SQRT_PI) * exp(out * out),
                          domain=(-0.9, 0.9))
# erfcx(x) = exp(x^2) erfc(x)
erfcx_p = _special_unary("erfcx", lambda x, out: 2.0 * x * out - _TWO_OVER_SQRT_PI)
ndtri_p = _special_unary("ndtri", lambda p, out: _SQRT_2PI * exp(0.5 * (out * out)),
                         domain=(0.05, 0.95))
gamma_p = _special_unary("gamma", lambda x, out: out * digamma(x), domain="positive")
gammaln_p = _special_unary("gammaln", lambda x, out: digamma(x), domain="positive")
digamma_p = _special_unary("digamma", lambda x, out: polygamma(1, x), domain="positive")
i0_p = _special_unary("i0", lambda x, out: i1(x))
# i0e(x) = exp(-|x|) i0(x): a kink at 0 (hence the domain)
i0e_p = _special_unary("i0e", lambda x, out: i1e(x) - sign(x) * out, domain="nonzero")


def _over_x(v, x):
    """v / x with x = 0 replaced by 1 (the callers select their limit there)."""
    return v / select(eq(x, 0.0), 1.0, x)


# i1' = i0 - i1 / x, 1/2 at 0; i1e' = i0e - i1e / x - sign(x) i1e, also 1/2 at 0
i1_p = _special_unary("i1", lambda x, out: select(eq(x, 0.0), 0.5, i0(x) - _over_x(out, x)))
i1e_p = _special_unary("i1e", lambda x, out: select(
    eq(x, 0.0), 0.5, i0e(x) - _over_x(out, x) - sign(x) * out), domain="nonzero")


# --- binary: dx(x, y, out), dy(x, y, out) ---------------------------------------------------

def _polygamma_impl(n, x):
    # SciPy computes in float64 (zeta of n + 1); the result has x's float dtype, as in JAX.
    out = _special("polygamma").polygamma(*_weak((n, x)))
    return np.asarray(out).astype(_float_dtype(x), copy=False)[()]


_polygamma_impl.__name__ = "polygamma"
polygamma_p = binary("polygamma", _polygamma_impl,
                     _no_derivative("polygamma", "the order n", "n is an integer"),
                     lambda n, x, out: polygamma(n + 1, x), real_only=True, domain="positive")
beta_p = _special_binary("beta", lambda a, b, out: out * (digamma(a) - digamma(a + b)),
                         lambda a, b, out: out * (digamma(b) - digamma(a + b)),
                         domain="positive", commutative=True)
betaln_p = _special_binary("betaln", lambda a, b, out: digamma(a) - digamma(a + b),
                           lambda a, b, out: digamma(b) - digamma(a + b), domain="positive",
                           commutative=True)


def _gamma_density(a, x):
    """x^(a-1) exp(-x) / Gamma(a): the derivative of gammainc(a, x) in x."""
    return exp(_safe_log_term(a - 1.0, x) - x - gammaln(a))


_SHAPE = "no closed form; SciPy has no function for it"
gammainc_p = _special_binary("gammainc", _no_derivative("gammainc", "the shape a", _SHAPE),
                             lambda a, x, out: _gamma_density(a, x), domain="positive")
gammaincc_p = _special_binary("gammaincc", _no_derivative("gammaincc", "the shape a", _SHAPE),
                              lambda a, x, out: -_gamma_density(a, x), domain="positive")


def _zeta_impl(x, q):
    # The Hurwitz zeta function; at q = 1 it is Riemann's, which SciPy continues below x = 1
    # (its two-argument form gives NaN there).
    sp = _special("zeta")
    x, q = _weak((x, q))
    out = sp.zeta(x, q)
    low = (np.asarray(q) == 1) & (np.asarray(x) < 1)
    if np.any(low):
        out = np.where(low, sp.zeta(x), out).astype(np.asarray(out).dtype, copy=False)[()]
    return out


_zeta_impl.__name__ = "zeta"
# d/dq zeta(x, q) = -x zeta(x + 1, q)
zeta_p = binary("zeta", _zeta_impl,
                _no_derivative("zeta", "the exponent x", "a series SciPy does not compute"),
                lambda x, q, out: -x * zeta(x + 1.0, q), real_only=True, domain="positive")

# --- betainc(a, b, x): three operands ---------------------------------------------------------
betainc_p = elementwise("betainc", _scipy("betainc"), 3, real_only=True, domain=(0.1, 0.9))
betainc_p.lower = _ufunc_lowering("betainc", 3)


def _betainc_jvp(primals, tangents):
    (a, b, x), (ta, tb, tx) = primals, tangents
    for arg, t in (("a", ta), ("b", tb)):
        if t is not None:
            _no_derivative("betainc", f"the shape {arg}", _SHAPE)()
    out = betainc_p.bind(a, b, x)
    if tx is None or not is_float(out.dtype if hasattr(out, "dtype") else np.result_type(out)):
        return out, None
    # the Beta(a, b) density: x^(a-1) (1-x)^(b-1) / B(a, b)
    density = exp(_safe_log_term(a - 1.0, x) + _safe_log_term(b - 1.0, 1.0 - x) - betaln(a, b))
    return out, broadcast_to_shape(tx * density, shape_of(out))


betainc_p.jvp = _betainc_jvp


# --- bind wrappers ---------------------------------------------------------------------------
def erf(x): return erf_p.bind(x)
def erfc(x): return erfc_p.bind(x)
def erfinv(x): return erfinv_p.bind(x)
def erfcx(x): return erfcx_p.bind(x)
def ndtri(p): return ndtri_p.bind(p)
def gamma(x): return gamma_p.bind(x)
def gammaln(x): return gammaln_p.bind(x)
def digamma(x): return digamma_p.bind(x)
def polygamma(n, x): return polygamma_p.bind(n, x)
def beta(a, b): return beta_p.bind(a, b)
def betaln(a, b): return betaln_p.bind(a, b)
def gammainc(a, x): return gammainc_p.bind(a, x)
def gammaincc(a, x): return gammaincc_p.bind(a, x)
def betainc(a, b, x): return betainc_p.bind(a, b, x)
def zeta(x, q): return zeta_p.bind(x, q)
def i0(x): return i0_p.bind(x)
def i0e(x): return i0e_p.bind(x)
def i1(x): return i1_p.bind(x)
def i1e(x): return i1e_p.bind(x)

