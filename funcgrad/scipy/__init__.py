"""funcgrad.scipy: SciPy's functions, traced and differentiable (as jax.scipy).

SciPy is an optional dependency (`pip install 'funcgrad[scipy]'`): `import funcgrad` never
needs it, and a function that needs it says so when called without it.
"""
from . import linalg, optimize, signal, special, stats  # noqa: F401

__all__ = ["linalg", "optimize", "signal", "special", "stats"]
