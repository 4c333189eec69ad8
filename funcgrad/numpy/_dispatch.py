"""Tracer operators, methods and the NumPy protocols (__array_ufunc__, __array_function__).

`install`, called once by funcgrad/numpy/__init__.py with its namespace, fills the tables from
NumPy's functions to their traced counterparts and installs everything on Tracer (so this module
never imports the package)."""
from __future__ import annotations

import types

import numpy as np

from ..core import trace as _trace_state
from ..core.trace import Tracer
from ..prims import elementwise as _ew
from ..prims import indexing as _ix
from ._creation import asarray
from ._elementwise import astype, maximum, minimum, negative, power
from ._queries import ndim, shape
from ._shapes import reshape, transpose
from ._util import _add_user_line

# NumPy's functions -> their traced counterparts; filled by install().
_UFUNCS: dict = {}      # __array_ufunc__ calls: np.sin -> sin, ...
_REDUCE: dict = {}      # np.add.reduce -> sum, ...
_ACCUMULATE: dict = {}  # np.add.accumulate -> cumsum, ...
_FUNCTIONS: dict = {}   # __array_function__: np.mean -> mean, ...
# Functions ufunc -> traced function or None, for the ufuncs of other libraries (SciPy's): a
# library above this layer registers one on import (funcgrad.scipy.special does); a resolver
# may also raise NotImplementedError for a ufunc of its library it cannot trace.
_RESOLVERS: list = []


def register_ufunc_resolver(resolver) -> None:
    """Let `resolver(ufunc)` supply the traced function for a ufunc that is not NumPy's (a
    SciPy ufunc called on a traced value); what it returns is remembered."""
    if resolver not in _RESOLVERS:
        _RESOLVERS.append(resolver)


def _resolve(ufunc):
    f = _UFUNCS.get(ufunc)
    if f is None:
        for resolver in _RESOLVERS:
            f = resolver(ufunc)
            if f is not None:
                _UFUNCS[ufunc] = f
                break
    return f


def _table(module, namespace: dict) -> dict:
    """NumPy functions of `module` with a traced counterpart of the same name in `namespace`
    (NumPy's own functions re-exported there, like np.linspace, are not counterparts)."""
    out = {}
    for name in sorted(namespace):
        f, np_f = namespace[name], getattr(module, name, None)
        if (not name.startswith("_") and callable(f) and callable(np_f) and f is not np_f
                and not isinstance(np_f, (type, np.ufunc))):
            out[np_f] = f
    return out


def _name(func) -> str:
    module = getattr(func, "__module__", None) or "numpy"
    module = module.replace("numpy._core.", "numpy.").replace("numpy.core.", "numpy.")
    prefix = "np" if module in ("numpy", "numpy._core") else "np" + module[len("numpy"):]
    return f"{prefix}.{getattr(func, '__name__', func)}"


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    try:
        return _ufunc(ufunc, method, inputs, kwargs)
    except (TypeError, NotImplementedError) as err:
        _add_user_line(err)
        raise


def _ufunc(ufunc, method, inputs, kwargs):
    # (another library's ufunc, SciPy's, goes by its own name)
    name = f"np.{ufunc.__name__}" if getattr(np, ufunc.__name__, None) is ufunc else \
        ufunc.__name__
    if kwargs.get("out") is not None:
        raise TypeError(f"{name}(..., out=...) writes in place, which funcgrad does not trace; "
                        f"use the returned value instead")
    kwargs.pop("out", None)
    if method == "at":
        raise TypeError(f"{name}.at writes in place, which funcgrad does not trace; use the "
                        f"functional update x.at[idx].add(v) (or .set, .multiply) instead")
    dtype = kwargs.pop("dtype", None)
    if method == "__call__" and not kwargs and _resolve(ufunc) is not None:
        if dtype is not None:  # NumPy computes in `dtype`: cast the inputs to it
            inputs = [astype(x, dtype) for x in inputs]
        return _UFUNCS[ufunc](*inputs)
    if method == "reduce" and ufunc in _REDUCE:
        axis, keepdims = kwargs.pop("axis", 0), kwargs.pop("keepdims", False)
        extra = {k: kwargs.pop(k) for k in ("initial", "where") if k in kwargs}
        if not kwargs:
            if dtype is not None:
                extra["dtype"] = dtype
            return _REDUCE[ufunc](inputs[0], axis=axis, keepdims=keepdims, **extra)
    if method == "accumulate" and ufunc in _ACCUMULATE and set(kwargs) <= {"axis"}:
        return _ACCUMULATE[ufunc](inputs[0], axis=kwargs.get("axis", 0), dtype=dtype)
    if method == "outer" and ufunc.nin == 2 and not kwargs and _resolve(ufunc) is not None:
        a, b = asarray(inputs[0]), asarray(inputs[1])
        a = reshape(a, shape(a) + (1,) * ndim(b))
        return _UFUNCS[ufunc](a, b)
    what = name if method == "__call__" else f"{name}.{method}"
    extra = f" with {sorted(kwargs)}" if kwargs else ""
    raise NotImplementedError(f"funcgrad does not support {what}{extra} on traced values; see "
                              f"funcgrad.numpy for the supported functions")


def _array_function(self, func, types, args, kwargs):
    f = _FUNCTIONS.get(func)
    if f is None:
        raise _add_user_line(NotImplementedError(
            f"funcgrad does not support {_name(func)} on traced values; see funcgrad.numpy "
            f"for the supported functions, or write it with them"))
    return f(*args, **kwargs)


class _At:
    """`x.at[idx].set(v)` / `.add(v)` / `.get()` ...: functional updates returning a new array.

    >>> import funcgrad as fg, numpy as np
    >>> fg.grad(lambda x: x.at[0].set(2.0).sum())(np.ones(3))
    array([0., 1., 1.])
    """

    __slots__ = ("x", "idx")

    def __init__(self, x, idx=None):
        self.x, self.idx = x, idx

    def __getitem__(self, idx):
        return _At(self.x, idx)

    def _spec(self):
        return _ix.parse_index(self.idx, self.x.shape)

    def get(self):
        """x[idx]."""
        return _ix.getitem(self.x, self.idx)

    def set(self, values):
        """A copy of x with x[idx] = values."""
        spec, arrays = self._spec()
        return _ix.scatter_set_p.bind(self.x, _values(values), *arrays, spec=spec)

    def add(self, values):
        """A copy of x with x[idx] += values (repeated indices add up)."""
        spec, arrays = self._spec()
        return _ix.scatter_add_p.bind(self.x, _values(values), *arrays, spec=spec)

    def subtract(self, values):
        """A copy of x with x[idx] -= values."""
        return self.add(negative(values))

    def multiply(self, values):
        """A copy of x with x[idx] *= values."""
        return self.set(self.get() * values)

    def divide(self, values):
        """A copy of x with x[idx] /= values."""
        return self.set(self.get() / values)

    def power(self, values):
        """A copy of x with x[idx] **= values."""
        return self.set(self.get() ** values)

    def min(self, values):
        """A copy of x with x[idx] = minimum(x[idx], values)."""
        return self.set(minimum(self.get(), values))

    def max(self, values):
        """A copy of x with x[idx] = maximum(x[idx], values)."""
        return self.set(maximum(self.get(), values))

    mul = multiply


def _values(v):
    return asarray(v) if isinstance(v, (list, tuple)) else v


def _setitem(self, idx, value):
    raise _add_user_line(TypeError(
        f"traced arrays are immutable: x[{idx!r}] = ... cannot be traced. Use the functional "
        f"update x = x.at[idx].set(value) (or .add(value)) instead"))


def _getitem(x, idx):
    try:
        return _ix.getitem(x, idx)
    except (ValueError, TypeError, IndexError) as err:
        _add_user_line(err)
        raise


def _reshape_method(x, *shape, order="C", copy=None, **kw):
    if not shape:   # x.reshape(shape=...); an explicit x.reshape(()) means 0-d
        return reshape(x, kw.pop("shape", None), order, **kw)
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        shape = shape[0]
    return reshape(x, shape, order, **kw)


def _transpose_method(x, *axes):
    if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
        axes = axes[0]
    return transpose(x, axes or None)


def _format(x, spec: str) -> str:
    # f"{loss:.3f}" works where values are concrete (under grad), like on NumPy scalars.
    if not spec:
        return repr(x)
    return format(np.asarray(x.concrete(f"formatting with {spec!r}"))[()], spec)


def _item(x, *args):
    v = np.asarray(x.convert("item()"))
    return v.item(*args)


def _operator(prim, reflected: bool):
    """x <op> y for a traced x: binds `prim` (what fnp.add etc. do, minus two calls)."""
    state = _trace_state._state

    def op(x, y):
        if type(y) in (list, tuple):
            y = asarray(y)
        try:
            return state.trace.process(prim, (y, x) if reflected else (x, y), {})
        except (ValueError, TypeError, IndexError, NotImplementedError) as err:
            _add_user_line(err)
            raise
    op.__name__ = f"__{'r' if reflected else ''}{prim.name}__"
    return op


def _power(x, y):
    """x ** y for a traced x; x ** 2 (a float x, a small int exponent) without power's general
    checks."""
    if type(y) is int and -64 <= y <= 64 and x.dtype.kind == "f":
        try:
            return _ew.integer_pow(x, y)
        except (ValueError, TypeError, IndexError, NotImplementedError) as err:
            _add_user_line(err)
            raise
    return power(x, y)


def install(namespace: dict, linalg_namespace: dict, fft_namespace: dict) -> None:
    """Fill the NumPy -> traced tables from the namespaces of funcgrad.numpy and of its linalg
    and fft, and install the operators, methods and NumPy protocols on Tracer (once, at import)."""
    fnp = types.SimpleNamespace(**namespace)
    # ufuncs NumPy code may call on tracers: every np ufunc with a same-named traced function.
    _UFUNCS.update({u: namespace[name] for name in dir(np)
                    if isinstance(u := getattr(np, name), np.ufunc)
                    and callable(namespace.get(name))})
    _REDUCE.update({np.add: fnp.sum, np.multiply: fnp.prod, np.maximum: fnp.max,
                    np.minimum: fnp.min, np.logical_and: fnp.all, np.logical_or: fnp.any})
    _ACCUMULATE.update({np.add: fnp.cumsum, np.multiply: fnp.cumprod})
    _FUNCTIONS.update({**_table(np, namespace), **_table(np.linalg, linalg_namespace),
                       **_table(np.fft, fft_namespace)})
    _install_on_tracer(fnp)


def _install_on_tracer(fnp) -> None:
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
        "__divmod__": lambda x, y: (fnp.floor_divide(x, y), fnp.remainder(x, y)),
        "__rdivmod__": lambda x, y: (fnp.floor_divide(y, x), fnp.remainder(y, x)),
        "__pow__": lambda x, y: fnp.power(x, y), "__rpow__": lambda x, y: fnp.power(y, x),
        "__matmul__": fnp.matmul, "__rmatmul__": lambda x, y: fnp.matmul(y, x),
        "__neg__": lambda x: fnp.negative(x), "__pos__": lambda x: x,
        "__abs__": lambda x: fnp.abs(x),
        "__lt__": lambda x, y: fnp.less(x, y), "__le__": lambda x, y: fnp.less_equal(x, y),
        "__gt__": lambda x, y: fnp.greater(x, y), "__ge__": lambda x, y: fnp.greater_equal(x, y),
        "__eq__": lambda x, y: fnp.equal(x, y), "__ne__": lambda x, y: fnp.not_equal(x, y),
        "__and__": lambda x, y: fnp.bitwise_and(x, y),
        "__rand__": lambda x, y: fnp.bitwise_and(y, x),
        "__or__": lambda x, y: fnp.bitwise_or(x, y), "__ror__": lambda x, y: fnp.bitwise_or(y, x),
        "__xor__": lambda x, y: fnp.bitwise_xor(x, y),
        "__rxor__": lambda x, y: fnp.bitwise_xor(y, x),
        "__invert__": lambda x: fnp.invert(x),
        "__round__": lambda x, ndigits=None: fnp.round(x, ndigits or 0),
        "__getitem__": _getitem, "__format__": _format,
        "__setitem__": _setitem,
        "__array_ufunc__": _array_ufunc, "__array_function__": _array_function,
        "__iter__": lambda x: (x[i] for i in range(len(x))),
        "sum": fnp.sum, "mean": fnp.mean, "max": fnp.max, "min": fnp.min, "prod": fnp.prod,
        "var": fnp.var, "std": fnp.std, "argmax": fnp.argmax, "argmin": fnp.argmin,
        "cumsum": fnp.cumsum, "cumprod": fnp.cumprod, "clip": fnp.clip, "dot": fnp.dot,
        "astype": lambda x, dtype, *args, **kw: fnp.astype(x, dtype),
        "squeeze": fnp.squeeze, "ravel": fnp.ravel, "flatten": fnp.ravel,
        "swapaxes": fnp.swapaxes, "any": fnp.any, "all": fnp.all, "sort": fnp.sort,
        "argsort": fnp.argsort, "take": fnp.take, "round": fnp.round, "repeat": fnp.repeat,
        "diagonal": fnp.diagonal, "trace": fnp.trace, "ptp": fnp.ptp, "nonzero": fnp.nonzero,
        "reshape": _reshape_method, "transpose": _transpose_method, "item": _item,
        "tolist": lambda x: np.asarray(x.convert("tolist()")).tolist(),
        "conj": fnp.conjugate, "conjugate": fnp.conjugate, "copy": lambda x, order="C": x,
    }
    ops["__pow__"] = _power
    # The arithmetic operators, the hottest calls of all, go straight to the current trace.
    for name, prim in [("add", _ew.add_p), ("sub", _ew.sub_p), ("mul", _ew.mul_p),
                       ("truediv", _ew.div_p)]:
        ops[f"__{name}__"] = _operator(prim, reflected=False)
        ops[f"__r{name}__"] = _operator(prim, reflected=True)
    for name, f in ops.items():
        setattr(T, name, f)
    T.T = property(lambda x: fnp.transpose(x))
    T.mT = property(lambda x: fnp.swapaxes(x, -1, -2))
    T.at = property(lambda x: _At(x))
    T.real = property(fnp.real)
    T.imag = property(fnp.imag)
    T.itemsize = property(lambda x: x.dtype.itemsize)
    T.nbytes = property(lambda x: x.size * x.dtype.itemsize)

