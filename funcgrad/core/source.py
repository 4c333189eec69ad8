"""Where a user's line is: the first stack frame outside the funcgrad package (and outside
NumPy's and SciPy's Python code, which calls funcgrad through their dispatch protocols when
the user passed them a traced value)."""
from __future__ import annotations

import os
import sys
import threading

import numpy as np

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__))
# SciPy sits next to NumPy when installed (found by path: importing it here would make
# `import funcgrad` need it)
_LIBRARY_DIRS = (_NUMPY_DIR + os.sep, os.path.join(os.path.dirname(_NUMPY_DIR), "scipy") + os.sep)
_internal: dict[str, bool] = {}


class Source:
    """A user's file, line and function name, captured when an equation is recorded."""

    __slots__ = ("file", "line", "function")

    def __init__(self, file: str, line: int, function: str):
        self.file, self.line, self.function = file, line, function

    def __str__(self) -> str:
        return f"{os.path.basename(self.file)}:{self.line} ({self.function})"

    def long(self) -> str:
        return f"{self.file}:{self.line} (in {self.function})"

    def __repr__(self) -> str:
        return f"Source({self})"


def _is_internal(filename: str) -> bool:
    hit = _internal.get(filename)
    if hit is None:
        # funcgrad's files, NumPy's and SciPy's, Python's frozen modules, and the code jit
        # generates
        path = os.path.abspath(filename)
        hit = _internal[filename] = (
            path.startswith(_PACKAGE_DIR) or path.startswith(_LIBRARY_DIRS)
            or filename.startswith(("<frozen", "<funcgrad"))
        )
    return hit


def user_frame(skip: int = 1):
    """The innermost frame that is not funcgrad's own code (None if there is none)."""
    frame = sys._getframe(skip)
    while frame is not None and _is_internal(frame.f_code.co_filename):
        frame = frame.f_back
    return frame


class _Override(threading.local):
    source: Source | None = None


_override = _Override()


def set_source_override(src: Source | None) -> Source | None:
    """Attribute equations made from now on to `src` (e.g. backward equations to the forward
    line they differentiate); returns the previous override for restoring."""
    prev = _override.source
    _override.source = src
    return prev


def user_source() -> Source | None:
    """The user's file:line that caused the current operation."""
    if _override.source is not None:
        return _override.source
    frame = user_frame(2)
    if frame is None:
        return None
    return Source(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)


def where() -> str:
    """' at file:line (fn)' for error messages, or '' when no user frame is found."""
    src = user_source()
    return f" at {src.long()}" if src else ""
