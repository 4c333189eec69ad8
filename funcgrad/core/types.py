"""ArrayType: the abstract value (shape, dtype, weak) of every IR variable, and dtype promotion."""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

_DTYPE_TYPE = type(np.dtype(np.float64))
_SHORT = {"float64": "f64", "float32": "f32", "float16": "f16", "int64": "i64",
          "int32": "i32", "int16": "i16", "int8": "i8", "uint8": "u8", "uint16": "u16",
          "uint32": "u32", "uint64": "u64", "bool": "bool", "complex64": "c64",
          "complex128": "c128"}


class ArrayType:
    """Shape and dtype of an array; `weak` marks a Python scalar, which does not promote.

    >>> ArrayType((5, 3), np.float64).short()
    'f64[5,3]'
    """

    __slots__ = ("shape", "dtype", "weak")

    def __init__(self, shape: tuple, dtype, weak: bool = False):
        self.shape = shape if type(shape) is tuple else tuple(shape)
        self.dtype = dtype if type(dtype) is _DTYPE_TYPE or isinstance(dtype, np.dtype) \
            else np.dtype(dtype)
        self.weak = weak

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(math.prod(self.shape))   # np.prod costs microseconds; passes ask per equation

    def short(self) -> str:
        return f"{_SHORT.get(self.dtype.name, self.dtype.name)}[{','.join(map(str, self.shape))}]"

    def strong(self) -> ArrayType:
        return ArrayType(self.shape, self.dtype) if self.weak else self

    def update(self, shape=None, dtype=None) -> ArrayType:
        return ArrayType(self.shape if shape is None else shape,
                         self.dtype if dtype is None else dtype)

    def __eq__(self, other) -> bool:
        return (isinstance(other, ArrayType) and self.shape == other.shape
                and self.dtype == other.dtype and self.weak == other.weak)

    def __hash__(self) -> int:
        return hash((self.shape, self.dtype, self.weak))

    def __repr__(self) -> str:
        return f"ArrayType({self.short()}{', weak' if self.weak else ''})"


def dtype_short(dtype) -> str:
    return _SHORT.get(np.dtype(dtype).name, np.dtype(dtype).name)


_WEAK_PROXY = {"f": 0.0, "i": 0, "u": 0, "b": False, "c": 0j}


@lru_cache(maxsize=4096)
def _promote(keys: tuple) -> tuple[np.dtype, bool]:
    proxies = [_WEAK_PROXY[dt.kind] if weak else dt for dt, weak in keys]
    return np.result_type(*proxies), all(weak for _, weak in keys)


def promote(*types: ArrayType) -> tuple[np.dtype, bool]:
    """NumPy 2 promotion (NEP 50): Python scalars (weak types) take the other operand's dtype."""
    return _promote(tuple((t.dtype, t.weak) for t in types))


def is_float(dtype) -> bool:
    return np.dtype(dtype).kind in "fc"


def type_of(x) -> ArrayType:
    """The ArrayType of a concrete value (Python scalars are weak)."""
    if isinstance(x, np.ndarray):
        return ArrayType(x.shape, x.dtype)
    if isinstance(x, (bool, int, float, complex)) and not isinstance(x, np.generic):
        return ArrayType((), np.result_type(x), weak=True)
    if isinstance(x, np.generic):
        return ArrayType((), x.dtype)
    aval = getattr(x, "aval", None)
    if aval is not None:
        return aval
    raise TypeError(f"{type(x).__name__} is not a valid funcgrad value: expected an array, "
                    "a number or a traced value")
