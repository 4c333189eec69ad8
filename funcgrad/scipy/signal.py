"""funcgrad.scipy.signal: SciPy's convolutions, traced and differentiable (as jax.scipy.signal)."""
from __future__ import annotations

__all__: list[str] = []
