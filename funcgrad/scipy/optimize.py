"""funcgrad.scipy.optimize: SciPy's minimize over pytrees, with funcgrad's derivatives."""
from __future__ import annotations

__all__: list[str] = []
