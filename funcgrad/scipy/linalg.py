"""funcgrad.scipy.linalg: scipy.linalg's functions, traced and differentiable (as
jax.scipy.linalg)."""
# ruff: noqa: F401, F403  (re-exports)
from . import _linalg_decomp, _linalg_solve
from ._linalg_decomp import *
from ._linalg_solve import *

__all__ = [*_linalg_solve.__all__, *_linalg_decomp.__all__]
