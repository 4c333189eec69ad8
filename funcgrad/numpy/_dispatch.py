"""Tracer operators, methods and the NumPy protocols (__array_ufunc__, __array_function__)."""
from __future__ import annotations

import numpy as np

from ..core.trace import Tracer
from ..prims import indexing as _ix
from .. import numpy as fnp

# ufuncs NumPy code may call on tracers, mapped to their traced versions.
_UFUNCS = {getattr(np, name): getattr(fnp, name) for name in [
    "add", "subtract", "multiply", "divide", "true_divide", "floor_divide", "remainder", "mod",
    "power", "negative", "positive", "exp", "log", "log1p", "expm1", "sin", "cos", "tan",
    "tanh", "sinh", "cosh", "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh",
    "sqrt", "square", "absolute", "sign", "floor", "ceil", "rint", "maximum", "minimum",
    "arctan2", "logaddexp", "less", "less_equal", "greater", "greater_equal", "equal",
    "not_equal", "logical_and", "logical_or", "logical_xor", "logical_not", "isfinite", "isnan",
    "isinf", "reciprocal", "exp2", "log2", "log10", "cbrt", "hypot", "deg2rad", "heaviside",
    "matmul"]}
_UFUNCS[np.fabs] = fnp.abs

_REDUCE = {np.add: fnp.sum, np.multiply: fnp.prod, np.maximum: fnp.max, np.minimum: fnp.min}

# NumPy functions with a traced counterpart of the same name in funcgrad.numpy.
_FUNCTIONS = {}
for _name in dir(fnp):
    _f = getattr(fnp, _name)
    _np_f = getattr(np, _name, None)
    if callable(_f) and _np_f is not None and callable(_np_f) and not _name.startswith("_") \
            and not isinstance(_np_f, type) and not isinstance(_np_f, np.ufunc):
        _FUNCTIONS[_np_f] = _f
_FUNCTIONS[np.round] = fnp.rint
_FUNCTIONS[np.around] = fnp.rint


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    if kwargs.get("out") is not None:
        raise TypeError(f"np.{ufunc.__name__}(..., out=...) writes in place, which funcgrad "
                        f"does not trace; use the returned value instead")
    kwargs.pop("out", None)
    if method == "__call__" and ufunc in _UFUNCS and not kwargs:
        return _UFUNCS[ufunc](*inputs)
    if method == "reduce" and ufunc in _REDUCE:
        axis = kwargs.pop("axis", 0)
        keepdims = kwargs.pop("keepdims", False)
        if not kwargs:
            return _REDUCE[ufunc](inputs[0], axis=axis, keepdims=keepdims)
    extra = f" with {sorted(kwargs)}" if kwargs else ""
    raise NotImplementedError(f"funcgrad does not support np.{ufunc.__name__}.{method}{extra} "
                              f"on traced values; see funcgrad.numpy for supported functions")


def _array_function(self, func, types, args, kwargs):
    f = _FUNCTIONS.get(func)
    if f is None:
        raise NotImplementedError(
            f"funcgrad does not support np.{getattr(func, '__name__', func)} on traced values; "
            f"see funcgrad.numpy for the supported functions, or write it with them")
    return f(*args, **kwargs)


class _At:
    """`x.at[idx].set(v)` / `.add(v)` / `.get()`: functional updates that return a new array."""

    __slots__ = ("x", "idx")

    def __init__(self, x, idx=None):
        self.x, self.idx = x, idx

    def __getitem__(self, idx):
        return _At(self.x, idx)

    def _spec(self):
        return _ix.parse_index(self.idx, self.x.shape)

    def get(self):
        return _ix.getitem(self.x, self.idx)

    def set(self, values):
        spec, arrays = self._spec()
        return _ix.scatter_set_p.bind(self.x, values, *arrays, spec=spec)

    def add(self, values):
        spec, arrays = self._spec()
        return _ix.scatter_add_p.bind(self.x, values, *arrays, spec=spec)

    def multiply(self, values):
        return self.set(self.get() * values)


def _setitem(self, idx, value):
    raise TypeError(f"traced arrays are immutable: x[{idx!r}] = ... cannot be traced. Use the "
                    f"functional update x = x.at[idx].set(value) (or .add(value)) instead")


def _install():
    T = Tracer
    ops = {
        "__add__": lambda x, y: fnp.add(x, y), "__radd__": lambda x, y: fnp.add(y, x),
        "__sub__": lambda x, y: fnp.subtract(x, y), "__rsub__": lambda x, y: fnp.subtract(y, x),
        "__mul__": lambda x, y: fnp.multiply(x, y), "__rmul__": lambda x, y: fnp.multiply(y, x),
        "__truediv__": lambda x, y: fnp.divide(x, y),
        "__rtruediv__": lambda x, y: fnp.divide(y, x),
        "__floordiv__": lambda x, y: fnp.floor_divide(x, y),
        "__rfloordiv__": lambda x, y: fnp.floor_divide(y, x),
        "__mod__": lambda x, y: fnp.remainder(x, y), "__rmod__": lambda x, y: fnp.remainder(y, x),
        "__pow__": lambda x, y: fnp.power(x, y), "__rpow__": lambda x, y: fnp.power(y, x),
        "__matmul__": lambda x, y: fnp.matmul(x, y), "__rmatmul__": lambda x, y: fnp.matmul(y, x),
        "__neg__": lambda x: fnp.negative(x), "__pos__": lambda x: x,
        "__abs__": lambda x: fnp.abs(x),
        "__lt__": lambda x, y: fnp.less(x, y), "__le__": lambda x, y: fnp.less_equal(x, y),
        "__gt__": lambda x, y: fnp.greater(x, y), "__ge__": lambda x, y: fnp.greater_equal(x, y),
        "__eq__": lambda x, y: fnp.equal(x, y), "__ne__": lambda x, y: fnp.not_equal(x, y),
        "__and__": lambda x, y: fnp.logical_and(x, y), "__or__": lambda x, y: fnp.logical_or(x, y),
        "__xor__": lambda x, y: fnp.logical_xor(x, y), "__invert__": lambda x: fnp.logical_not(x),
        "__getitem__": lambda x, idx: _ix.getitem(x, idx),
        "__setitem__": _setitem,
        "__array_ufunc__": _array_ufunc, "__array_function__": _array_function,
        "__iter__": lambda x: (x[i] for i in range(len(x))),
        "sum": fnp.sum, "mean": fnp.mean, "max": fnp.max, "min": fnp.min, "prod": fnp.prod,
        "var": fnp.var, "std": fnp.std, "argmax": fnp.argmax, "argmin": fnp.argmin,
        "cumsum": fnp.cumsum, "clip": fnp.clip, "dot": fnp.dot, "astype": fnp.astype,
        "squeeze": fnp.squeeze, "ravel": fnp.ravel, "flatten": fnp.ravel,
        "swapaxes": fnp.swapaxes, "any": fnp.any, "all": fnp.all, "sort": fnp.sort,
        "argsort": fnp.argsort, "take": fnp.take, "round": fnp.rint,
        "reshape": lambda x, *shape, **kw: fnp.reshape(
            x, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape, **kw),
        "transpose": lambda x, *axes: fnp.transpose(
            x, None if not axes else axes[0] if len(axes) == 1 and not isinstance(axes[0], int)
            else axes),
        "item": lambda x: x.concrete("item()").item(),
        "tolist": lambda x: np.asarray(x.concrete("tolist()")).tolist(),
        "conj": lambda x: x, "copy": lambda x: x,
    }
    for name, f in ops.items():
        setattr(T, name, f)
    T.T = property(lambda x: fnp.transpose(x))
    T.mT = property(lambda x: fnp.swapaxes(x, -1, -2))
    T.at = property(lambda x: _At(x))
    T.real = property(lambda x: x)


_install()
