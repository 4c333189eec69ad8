"""Polynomials as coefficient arrays, highest power first (np.polyval and its family), and
1-D convolution and correlation (np.convolve, np.correlate)."""
from __future__ import annotations

import numpy as _np  # noqa: F401  (the docstring examples use _np)

from ._util import _reports_user_line

__all__ = _reports_user_line(globals())
