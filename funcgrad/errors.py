"""Exceptions for bad input; messages name the operation, the line and the fix."""
from __future__ import annotations


class ConcretizationError(TypeError):
    """An abstract (traced) value was used where a concrete Python value is needed.

    >>> import funcgrad as fg
    >>> try:
    ...     fg.jit(lambda x: 1.0 if x > 0 else -1.0)(1.0)
    ... except fg.errors.ConcretizationError as e:
    ...     print("ConcretizationError")
    ConcretizationError
    """


class UnexpectedTracerError(RuntimeError):
    """A traced value escaped the transformation that made it and was used after it ended.

    >>> import funcgrad as fg
    >>> leaked = []
    >>> _ = fg.grad(lambda x: leaked.append(x) or x * 2.0)(1.0)   # keeps a traced value
    >>> try:
    ...     fg.jit(lambda y: y + leaked[0])(1.0)
    ... except fg.errors.UnexpectedTracerError:
    ...     print("UnexpectedTracerError")
    UnexpectedTracerError
    """


__all__ = ["ConcretizationError", "UnexpectedTracerError"]
