"""Statistics and numerics along axes: quantiles and percentiles, the nan-ignoring reductions,
trapezoid, interp, gradient, ediff1d, unwrap, cov, corrcoef, cumulative_sum/prod, histogram,
bincount, searchsorted, digitize, and spaced ranges with traced endpoints."""
from __future__ import annotations

import numpy as _np  # noqa: F401  (the docstring examples use _np)

from ._util import _reports_user_line

__all__ = _reports_user_line(globals())
