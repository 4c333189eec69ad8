"""funcgrad: functional automatic differentiation on NumPy.

>>> import funcgrad as fg
>>> fg.grad(lambda x: x ** 2)(3.0)
array(6.)
"""
from . import errors, numpy, tree  # noqa: F401  (numpy installs tracer operators)
from .transforms.api import (
    grad,
    jvp,
    linearize,
    make_graph,
    stop_gradient,
    value_and_grad,
    vjp,
)
from .transforms.custom import checkpoint, custom_vjp

__version__ = "0.1.0"

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "linearize", "stop_gradient", "make_graph",
           "custom_vjp", "checkpoint", "errors", "numpy", "tree"]
