"""funcgrad: functional automatic differentiation on NumPy.

>>> import funcgrad as fg
>>> fg.grad(lambda x: x ** 2)(3.0)
array(6.)
"""
# (funcgrad.scipy imports no SciPy; importing it lets scipy.special's ufuncs trace)
from . import debug, errors, flatten_util, nn, numpy, optim, scipy, test_util, tree  # noqa: F401
from .control import cond, fori_loop, scan, switch, while_loop
from .inspect.debug import debug_nans
from .run import eager as _eager  # noqa: F401  (declares the eager reverse-mode executor)
from .run.jit import jit
from .transforms.api import (
    checkpoint,
    grad,
    jvp,
    linearize,
    make_graph,
    stop_gradient,
    value_and_grad,
    vjp,
)
from .transforms.custom import custom_jvp, custom_vjp
from .transforms.jacobians import hessian, jacfwd, jacrev
from .transforms.vmap import vmap

__version__ = "0.1.0"

__all__ = [
    "grad", "value_and_grad", "vjp", "jvp", "linearize", "jacfwd", "jacrev", "hessian",
    "vmap", "jit", "cond", "switch", "while_loop", "fori_loop", "scan", "debug_nans",
    "stop_gradient", "custom_vjp", "custom_jvp", "checkpoint", "make_graph",
    "debug", "errors", "flatten_util", "numpy", "tree", "nn", "optim", "test_util", "scipy",
]
