"""Helpers of the distributions: arguments promoted to one float dtype, the standardized
variable of a location-scale family, NaN for invalid parameters, the values a branch of a
`where` sees outside its part of the domain (so that its derivative there is finite: the
derivative that reaches it is 0, and 0 * inf would be NaN)."""
from __future__ import annotations

import math

import numpy as np

from ... import numpy as fnp
from ...core.trace import Tracer
from ...numpy._util import _reports_user_line as reports_user_line  # noqa: F401
from ..special import _promote

nan, inf = np.nan, np.inf
LOG_2PI = math.log(2.0 * math.pi)
LN2 = math.log(2.0)


def promote(*args):
    """The arguments as arrays of one float dtype (NumPy's promotion; ints become float64)."""
    return _promote(*args)


def standardize(x, loc, scale):
    """(x - loc) / scale and scale, promoted together."""
    x, loc, scale = promote(x, loc, scale)
    return (x - loc) / scale, scale


def nan_unless(valid, out):
    """out where the parameters are valid, NaN elsewhere (nothing to do for parameters known
    to be valid)."""
    if not isinstance(valid, Tracer) and bool(np.all(valid)):
        return out
    return fnp.where(valid, out, nan)


def seen(cond, x, fill):
    """x where cond, else `fill`: what a branch computed only for `cond` is given elsewhere."""
    return fnp.where(cond, x, fill)


def is_integer(k):
    return k == fnp.floor(k)


def log1mexp(d):
    """log(1 - exp(d)) for d <= 0, accurate for every d (Maechler's two branches)."""
    near = d > -LN2
    dn = seen(near, d, -1.0)
    df = seen(near, -1.0, d)
    return fnp.where(near, fnp.log(-fnp.expm1(dn)), fnp.log1p(-fnp.exp(df)))


def log_diff_exp(p, q):
    """log(exp(p) - exp(q)) for p >= q."""
    return p + log1mexp(q - p)


def clip01(y):
    """y clipped to [0, 1], with derivative 1 inside and 0 outside (no tie split)."""
    return fnp.where(y < 0, 0.0, fnp.where(y > 1, 1.0, y))
