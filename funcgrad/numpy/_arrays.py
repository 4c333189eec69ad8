"""The array-manipulation long tail: r_/c_, h/v/dsplit, rot90, block, delete, insert, index
helpers (indices, ix_, unravel_index, *_indices), unique and the set operations, partition."""
from __future__ import annotations

import numpy as _np  # noqa: F401  (the docstring examples use _np)

from ._util import _reports_user_line

__all__ = _reports_user_line(globals())
