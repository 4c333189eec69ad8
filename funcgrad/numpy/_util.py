"""Helpers shared by the funcgrad.numpy modules: the shape and dtype of a traced or concrete
value, the refusal of `out=`, and the user's line in error messages (`_reports_user_line`, which
every module calls on its own namespace at its end)."""
from __future__ import annotations

import functools
import inspect
import re

import numpy as _np

from ..core.source import where as _where
from ..core.trace import Tracer


def _shape(x) -> tuple:
    return x.shape if isinstance(x, (Tracer, _np.ndarray)) else _np.shape(x)


def _ndim(x) -> int:
    return len(_shape(x))


def _dtype(x):
    return x.dtype if isinstance(x, (Tracer, _np.ndarray, _np.generic)) else _np.result_type(x)


def _size(shape) -> int:
    return int(_np.prod(shape, dtype=_np.int64))


def _no_out(out, name):
    if out is not None:
        raise TypeError(f"{name}(out=...) writes in place, which funcgrad does not trace; "
                        f"use the returned value instead")


# ---------------------------------------------------------------- the user's line in errors

_ERRORS = (ValueError, TypeError, IndexError, NotImplementedError)  # the errors that get it
_HAS_LINE = re.compile(r" at \S+:\d+")


def _add_user_line(err: BaseException) -> BaseException:
    """Append ' at file:line (in fn)' of the user's code to an error's message, in place (the
    type and traceback stay), unless the message already names a line."""
    msg = str(err)
    if err.args and isinstance(err.args[0], str) and not _HAS_LINE.search(msg):
        err.args = (f"{err.args[0]}{_where()}",) + err.args[1:]
    return err


def _reports_line(f):
    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except _ERRORS as err:
            _add_user_line(err)
            raise
    return wrapped


def _reports_user_line(namespace: dict) -> list[str]:
    """Wrap the public functions defined in a module so their errors name the user's line
    (functions marked `_reports_line` do it themselves), and return their names: each topic
    module ends with `__all__ = _reports_user_line(globals())`, so a function defined there is
    in the namespace of funcgrad.numpy with no list to update."""
    done: dict = {}
    names = []
    for name, f in list(namespace.items()):
        if not name.startswith("_") and callable(f) and \
                getattr(f, "__module__", None) == namespace["__name__"]:
            names.append(name)
            if inspect.isfunction(f) and not getattr(f, "_reports_line", False):
                namespace[name] = done.setdefault(id(f), _reports_line(f))
    return names
