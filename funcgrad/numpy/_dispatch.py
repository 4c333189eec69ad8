"""Tracer operators, methods and the NumPy protocols (__array_ufunc__, __array_function__), and
the ufunc methods reduce, accumulate and outer of the binary ufuncs on traced values (also set
as attributes of funcgrad.numpy's functions: fnp.logaddexp.reduce, fnp.maximum.accumulate).

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
from ..prims import scans as _scans
from ..util import canonical_axes as _canonical_axes
from ..util import canonical_axis as _canonical_axis
from ._creation import asarray, full
from ._elementwise import astype, maximum, minimum, negative, power
from ._elementwise import where as _select
from ._queries import ndim, shape
from ._shapes import concatenate, reshape, stack, transpose
from ._util import _add_user_line, _dtype, _no_out

# NumPy's functions -> their traced counterparts; filled by install().
_UFUNCS: dict = {}      # __array_ufunc__ calls: np.sin -> sin, ...
_REDUCE: dict = {}      # np.add.reduce -> sum, ...
_ACCUMULATE: dict = {}  # np.add.accumulate -> cumsum, ...
_FUNCTIONS: dict = {}   # __array_function__: np.mean -> mean, ...
_METHODS: dict = {}     # binary np ufunc -> its _UfuncMethods (reduce, accumulate, outer)
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
    methods = _METHODS.get(ufunc)
    if methods is not None and method in ("reduce", "accumulate", "outer"):
        if dtype is not None:
            kwargs["dtype"] = dtype
        return getattr(methods, method)(*inputs, **kwargs)
    if method == "outer" and ufunc.nin == 2 and not kwargs and _resolve(ufunc) is not None:
        a, b = asarray(inputs[0]), asarray(inputs[1])
        a = reshape(a, shape(a) + (1,) * ndim(b))
        return _UFUNCS[ufunc](a, b)
    what = name if method == "__call__" else f"{name}.{method}"
    extra = f" with {sorted(kwargs)}" if kwargs else ""
    raise NotImplementedError(f"funcgrad does not support {what}{extra} on traced values; see "
                              f"funcgrad.numpy for the supported functions")


# Ufuncs whose reduce may combine elements in any order (NumPy's "reorderable" ones): reduced
# as a balanced tree, accumulated by doubling (log2(n) steps). Others fold left to right.
_ASSOCIATIVE = {"add", "multiply", "maximum", "minimum", "fmax", "fmin", "logaddexp",
                "logaddexp2", "logical_and", "logical_or", "logical_xor", "bitwise_and",
                "bitwise_or", "bitwise_xor", "gcd", "lcm", "hypot"}
_IDEMPOTENT = {"maximum", "minimum", "fmax", "fmin", "logical_and", "logical_or", "bitwise_and",
               "bitwise_or", "gcd", "lcm"}
_NO_VALUE = np._NoValue


class _UfuncMethods:
    """reduce, accumulate and outer of a binary ufunc on traced values, built from its traced
    function `fn` (which is differentiable, so they are); set on funcgrad.numpy's functions
    (fnp.logaddexp.reduce) and used for NumPy's (np.logaddexp.reduce(tracer)).

    >>> import funcgrad.numpy as fnp
    >>> fnp.logaddexp.reduce(np.array([[0.0, 1.0], [2.0, 3.0]]), axis=1)
    array([1.31326169, 3.31326169])
    """

    def __init__(self, ufunc, fn):
        self.ufunc, self.fn = ufunc, fn
        self.name = f"np.{ufunc.__name__}"
        self.associative = ufunc.__name__ in _ASSOCIATIVE
        self.reorderable = self.associative and ufunc.__name__ != "lcm"   # as NumPy says

    def _loop_dtype(self, dtype):
        with np.errstate(all="ignore"):
            return np.asarray(self.ufunc(np.ones((), dtype), np.ones((), dtype))).dtype

    def reduce(self, array, axis=0, dtype=None, out=None, keepdims=False,
               initial=_NO_VALUE, where=True):
        """ufunc.reduce, traced: `fn` applied along `axis` (a tuple or None: several axes, for
        the reorderable ufuncs), NumPy's dtype, `initial` and `where`.

        >>> import funcgrad.numpy as fnp
        >>> fnp.maximum.reduce(np.array([[1.0, 5.0], [4.0, 2.0]]), axis=0)
        array([4., 5.])
        """
        _no_out(out, f"{self.name}.reduce")
        x = asarray(array)
        if dtype is not None:
            x = astype(x, dtype)
        fast = _REDUCE.get(self.ufunc)
        if fast is not None:
            extra = {} if initial is _NO_VALUE else {"initial": initial}
            if where is not True:
                extra["where"] = where
            return fast(x, axis=axis, keepdims=keepdims, **extra)
        nd = ndim(x)
        axes = _canonical_axes(axis, nd, f"{self.name}.reduce")
        if len(axes) > 1 and not self.reorderable:
            raise ValueError(f"reduction operation '{self.ufunc.__name__}' is not reorderable, "
                             f"so at most one axis may be specified")
        identity = self.ufunc.identity
        fill = identity if initial is _NO_VALUE else initial
        if where is not True:
            # masked elements become the identity (or `initial`, where that changes nothing:
            # the idempotent operations)
            pad = identity if identity is not None else \
                fill if self.ufunc.__name__ in _IDEMPOTENT else None
            if pad is None:
                raise ValueError(f"reduction operation '{self.ufunc.__name__}' does not have "
                                 f"an identity, so to use a where mask one has to specify "
                                 f"'initial'")
            x = _select(where, x, pad)
        kept_shape = [1 if i in axes else d for i, d in enumerate(shape(x))]
        rest = [i for i in range(nd) if i not in axes]
        sizes = [shape(x)[i] for i in axes]
        n = int(np.prod(sizes, dtype=np.int64))
        x = reshape(transpose(x, rest + list(axes)), [shape(x)[i] for i in rest] + [n])
        out_dtype = self._loop_dtype(_dtype(x))
        if n == 0:
            if fill is None:
                raise ValueError(f"zero-size array to reduction operation "
                                 f"{self.ufunc.__name__} which has no identity")
            result = full(shape(x)[:-1], fill, dtype=out_dtype)
        else:
            parts = [_ix.slice_axis(x, ndim(x) - 1, i, i + 1) for i in range(n)] \
                if not self.associative else None
            result = self._tree(x, n) if self.associative else self._fold(parts)
            result = reshape(result, shape(result)[:-1])
            if initial is not _NO_VALUE:
                result = self.fn(initial, result)
            elif n == 1 and identity is not None:   # NumPy starts from it: gcd(0, -3) = 3
                result = self.fn(identity, result)
        if _dtype(result) != out_dtype:
            result = astype(result, out_dtype)
        return reshape(result, kept_shape) if keepdims else result

    def _tree(self, x, n):
        """fn over the last axis of x (length n), pairing halves: log2(n) applications."""
        last = ndim(x) - 1
        while n > 1:
            h = n // 2
            y = self.fn(_ix.slice_axis(x, last, 0, h), _ix.slice_axis(x, last, h, 2 * h))
            x = concatenate([y, _ix.slice_axis(x, last, 2 * h, n)], axis=last) if n % 2 else y
            n -= h
        return x

    def _fold(self, parts):
        acc = parts[0]
        for p in parts[1:]:
            acc = self.fn(acc, p)
        return acc

    def accumulate(self, array, axis=0, dtype=None, out=None):
        """ufunc.accumulate, traced: the running result along `axis` (maximum and minimum as
        one primitive whose derivative follows the running argmax; the other reorderable
        ufuncs by doubling; the rest left to right).

        >>> import funcgrad.numpy as fnp
        >>> fnp.maximum.accumulate(np.array([1.0, 3.0, 2.0, 5.0]))
        array([1., 3., 3., 5.])
        """
        _no_out(out, f"{self.name}.accumulate")
        x = asarray(array)
        if dtype is not None:
            x = astype(x, dtype)
        nd = ndim(x)
        if nd == 0:
            raise TypeError(f"{self.name}.accumulate: cannot accumulate on a scalar")
        if axis is None:
            if nd != 1:
                raise ValueError(f"{self.name}.accumulate does not allow multiple axes")
            axis = 0
        axis = _canonical_axis(axis, nd)
        fast = _ACCUMULATE.get(self.ufunc)
        if fast is not None:
            return fast(x, axis=axis, dtype=dtype)
        n = shape(x)[axis]
        out_dtype = self._loop_dtype(_dtype(x))
        if self.ufunc is np.maximum or self.ufunc is np.minimum:
            result = (_scans.cummax if self.ufunc is np.maximum else _scans.cummin)(x, axis)
        elif self.associative:       # doubling: after step s, y[j] combines x[j - 2s + 1: j + 1]
            result, s = x, 1
            while s < n:
                head = _ix.slice_axis(result, axis, 0, s)
                tail = self.fn(_ix.slice_axis(result, axis, 0, n - s),
                               _ix.slice_axis(result, axis, s, n))
                result = concatenate([astype(head, _dtype(tail)), tail], axis=axis)
                s *= 2
        else:
            acc, outs = None, []
            for i in range(n):
                p = reshape(_ix.slice_axis(x, axis, i, i + 1), [d for j, d in
                                                                 enumerate(shape(x)) if j != axis])
                acc = p if acc is None else self.fn(acc, p)
                outs.append(astype(acc, out_dtype))
            result = stack(outs, axis=axis) if outs else x
        return result if _dtype(result) == out_dtype else astype(result, out_dtype)

    def outer(self, A, B, /, **kwargs):
        """ufunc.outer, traced: fn(A[..., None, ...], B) over every pair of elements.

        >>> import funcgrad.numpy as fnp
        >>> fnp.add.outer(np.array([1.0, 2.0]), np.array([10.0, 20.0, 30.0]))
        array([[11., 21., 31.],
               [12., 22., 32.]])
        """
        _no_out(kwargs.pop("out", None), f"{self.name}.outer")
        dtype = kwargs.pop("dtype", None)
        if kwargs:
            raise TypeError(f"{self.name}.outer: unsupported arguments {sorted(kwargs)}")
        a, b = asarray(A), asarray(B)
        if dtype is not None:
            a, b = astype(a, dtype), astype(b, dtype)
        return self.fn(reshape(a, shape(a) + (1,) * ndim(b)), b)


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
    # reduce, accumulate and outer: for NumPy's binary ufuncs on tracers, and as attributes
    # of funcgrad.numpy's functions of the same names (fnp.logaddexp.reduce(x, axis=0)).
    for u, f in list(_UFUNCS.items()):
        if u.nin == 2 and u.nout == 1 and u.signature is None:
            methods = _METHODS[u] = _UfuncMethods(u, f)
            f.reduce, f.accumulate, f.outer = methods.reduce, methods.accumulate, methods.outer
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
        "__and__": fnp.bitwise_and, "__rand__": lambda x, y: fnp.bitwise_and(y, x),
        "__or__": fnp.bitwise_or, "__ror__": lambda x, y: fnp.bitwise_or(y, x),
        "__xor__": fnp.bitwise_xor, "__rxor__": lambda x, y: fnp.bitwise_xor(y, x),
        "__lshift__": fnp.left_shift, "__rlshift__": lambda x, y: fnp.left_shift(y, x),
        "__rshift__": fnp.right_shift, "__rrshift__": lambda x, y: fnp.right_shift(y, x),
        "__invert__": fnp.invert,
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

