"""Queries: shape, ndim, size, iscomplexobj, isrealobj; and the functions that need concrete
values because their result's shape depends on them (nonzero, flatnonzero, argwhere) or their
result is a Python bool (allclose, array_equal)."""
from __future__ import annotations

import numpy as _np

from ..core.trace import Tracer
from ._util import _dtype, _ndim, _reports_user_line, _shape, _size


def shape(a):
    """The shape of an array or traced value.

    >>> shape(_np.ones((2, 3)))
    (2, 3)
    """
    return _shape(a)


def ndim(a):
    """The number of axes.

    >>> ndim(_np.ones((2, 3)))
    2
    """
    return _ndim(a)


def size(a, axis=None):
    """The number of elements (along `axis` if given).

    >>> size(_np.ones((2, 3)))
    6
    """
    s = _shape(a)
    return _size(s) if axis is None else s[axis]


def iscomplexobj(x) -> bool:
    """Whether the dtype is complex.

    >>> iscomplexobj(_np.ones(2))
    False
    """
    return _dtype(x).kind == "c"


def isrealobj(x) -> bool:
    """Whether the dtype is not complex.

    >>> isrealobj(_np.ones(2))
    True
    """
    return not iscomplexobj(x)


def _concrete(x, op):
    if isinstance(x, Tracer):
        return x.concrete(op)
    return x


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    """np.allclose on concrete values (a traced value raises ConcretizationError under jit).

    >>> allclose(_np.ones(2), 1.0)
    True
    """
    return bool(_np.allclose(_concrete(a, "allclose"), _concrete(b, "allclose"), rtol, atol,
                             equal_nan))


def array_equal(a1, a2, equal_nan=False) -> bool:
    """np.array_equal on concrete values.

    >>> array_equal(_np.ones(2), [1.0, 1.0])
    True
    """
    return bool(_np.array_equal(_concrete(a1, "array_equal"), _concrete(a2, "array_equal"),
                                equal_nan))


def nonzero(a):
    """np.nonzero: needs concrete values (the output's shape depends on them).

    >>> nonzero(_np.array([0.0, 3.0]))
    (array([1]),)
    """
    return _np.nonzero(_concrete(a, "nonzero() (its output shape depends on values)"))


def flatnonzero(a):
    """Indices of the non-zero entries of the flattened array (concrete values).

    >>> flatnonzero(_np.array([0.0, 3.0]))
    array([1])
    """
    return _np.flatnonzero(_concrete(a, "flatnonzero() (its output shape depends on values)"))


def argwhere(a):
    """Indices of the non-zero entries, one row each (concrete values).

    >>> argwhere(_np.array([0.0, 3.0]))
    array([[1]])
    """
    return _np.argwhere(_concrete(a, "argwhere() (its output shape depends on values)"))


__all__ = _reports_user_line(globals())
