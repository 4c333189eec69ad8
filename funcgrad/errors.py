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
    """A traced value escaped the transformation that made it and was used after it ended."""


__all__ = ["ConcretizationError", "UnexpectedTracerError"]
