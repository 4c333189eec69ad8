"""Small helpers shared by every layer: strict zip/map and list splitting. Imports nothing."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


def safe_zip(*args: Iterable[Any]) -> list[tuple]:
    """zip that refuses to truncate: a silent truncation here is a wrong gradient."""
    return list(zip(*args, strict=True))


def safe_map(f: Callable[..., T], *args: Iterable[Any]) -> list[T]:
    """map over equal-length iterables, strictly."""
    return list(map(f, *args, strict=True))


def split_list(xs: list, n: int) -> tuple[list, list]:
    """Split `xs` after its first `n` items."""
    return xs[:n], xs[n:]


def unzip2(pairs: Iterable[tuple]) -> tuple[list, list]:
    """[(a, b), ...] -> ([a, ...], [b, ...])."""
    xs, ys = [], []
    for x, y in pairs:
        xs.append(x)
        ys.append(y)
    return xs, ys


def canonical_axis(axis: int, ndim: int, op: str = "operation") -> int:
    """Normalise a possibly negative axis, with a clear error when out of range."""
    if not -ndim <= axis < max(ndim, 1) or (ndim == 0 and axis not in (0, -1)):
        raise ValueError(f"{op}: axis {axis} is out of bounds for an array of ndim {ndim}")
    return axis % ndim if ndim else 0


def canonical_axes(axis: Any, ndim: int, op: str = "operation") -> tuple[int, ...]:
    """axis=None|int|tuple -> a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if ndim == 0:   # NumPy lets reductions of 0-d arrays name axis 0 (or -1)
        for a in (axis if isinstance(axis, tuple) else (axis,)):
            canonical_axis(int(a), 0, op)
        return ()
    if isinstance(axis, (int,)) or hasattr(axis, "__index__") and not isinstance(axis, tuple):
        axis = (int(axis),)
    axes = tuple(sorted({canonical_axis(int(a), ndim, op) for a in axis}))
    if len(axes) != len(tuple(axis)):
        raise ValueError(f"{op}: repeated axis in {tuple(axis)}")
    return axes


def optional_import(module: str, feature: str, extra: str):
    """Import an optional dependency, or raise ImportError saying which feature needs it and
    what to install.

    >>> optional_import("math", "an example", "none").sqrt(4.0)
    2.0
    """
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"{feature} needs {module.split('.')[0]}, which is not installed: "
                          f"pip install 'funcgrad[{extra}]'") from None
