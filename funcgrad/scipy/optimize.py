"""funcgrad.scipy.optimize: SciPy's minimize over pytrees, with funcgrad's derivatives.

`minimize(fun, x0, ...)` runs `scipy.optimize.minimize` on a function of a *pytree* of
parameters (a dict of arrays, a tuple, a dataclass registered with `funcgrad.tree`...):
funcgrad supplies the exact gradient (`value_and_grad`, jitted by default), the
Hessian-vector product (forward over reverse) for the methods that take one and the full
Hessian for those that need it, and the result's `x` and `jac` come back shaped like `x0`.
SciPy is an optional dependency (`pip install 'funcgrad[scipy]'`); importing this module never
needs it, calling `minimize` does.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import numpy as fnp
from .. import tree
from ..flatten_util import ravel_pytree
from ..run.jit import jit as _jit
from ..transforms import api as _api
from ..transforms import jacobians as _jac
from ..util import optional_import

# SciPy's method names (lower case), and what each one takes.
METHODS = ("nelder-mead", "powell", "cg", "bfgs", "newton-cg", "l-bfgs-b", "tnc", "cobyla",
           "cobyqa", "slsqp", "trust-constr", "dogleg", "trust-ncg", "trust-exact",
           "trust-krylov")
_NO_GRADIENT = frozenset({"nelder-mead", "powell", "cobyla", "cobyqa"})
_HESSP = frozenset({"newton-cg", "trust-ncg", "trust-krylov", "trust-constr"})
_HESS = frozenset({"dogleg", "trust-exact"})
_BOUNDS = frozenset({"nelder-mead", "powell", "l-bfgs-b", "tnc", "slsqp", "trust-constr",
                     "cobyla", "cobyqa"})
_CONSTRAINTS = frozenset({"cobyla", "cobyqa", "slsqp", "trust-constr"})


def minimize(fun: Callable[..., Any], x0: Any, args: tuple = (), *, method: str = "BFGS",
             tol: float | None = None, options: dict | None = None, bounds: Any = None,
             constraints: Any = (), callback: Callable[[Any], Any] | None = None,
             jit: bool = True):
    """Minimise the scalar `fun(x, *args)` over a pytree `x` starting from `x0`, with
    `scipy.optimize.minimize` and funcgrad's derivatives.

    The leaves of `x0` (arrays or numbers, real) are raveled into one float64 vector
    (`funcgrad.flatten_util.ravel_pytree`) for SciPy; `fun` sees the pytree, in float64 (a
    float32 leaf is optimised in float64 and cast back in the result). funcgrad gives SciPy:

    * the value and gradient together (`jac=True`), from `value_and_grad(fun)`;
    * for Newton-CG, trust-ncg, trust-krylov and trust-constr, the Hessian-vector product
      `hessp`, a `jvp` of the gradient (forward over reverse: about the cost of two
      gradients, no n x n matrix);
    * for trust-exact and dogleg, which need the matrix, the Hessian from `funcgrad.hessian`;
    * nothing but the value for the derivative-free Nelder-Mead, Powell, COBYLA and COBYQA.

    With `jit=True` (the default) each of these is compiled once with `funcgrad.jit`; `fun`
    must then be traceable (no Python `if` on a traced value: use `fnp.where`/`fg.cond`).
    `args` may hold anything `fun` takes: the functions close over it.

    Arguments as `scipy.optimize.minimize`'s, except:

    * `method`: one of SciPy's names (any case): Nelder-Mead, Powell, CG, BFGS, Newton-CG,
      L-BFGS-B, TNC, COBYLA, COBYQA, SLSQP, trust-constr, dogleg, trust-ncg, trust-exact,
      trust-krylov. Default BFGS (SciPy's default without bounds or constraints).
    * `bounds`: `(lower, upper)`, each a pytree prefix of `x0` — a number (every parameter), a
      pytree like `x0` whose leaves are numbers or arrays broadcasting to the leaf's shape, or
      `None` (unbounded, for the whole side or as a leaf). `np.inf` is unbounded too. For the
      methods that accept bounds (L-BFGS-B, TNC, SLSQP, trust-constr, Powell, Nelder-Mead,
      COBYLA, COBYQA); the others raise ValueError rather than ignore them.
    * `constraints`: a dict or sequence of dicts `{"type": "eq" | "ineq", "fun": c,
      "args": (...)}` as SciPy's, with `c(x, *args)` of the pytree returning a scalar or an
      array (raveled); its Jacobian comes from `funcgrad.jacrev`. For COBYLA, COBYQA, SLSQP and
      trust-constr.
    * `callback(x)`: called after each iteration with the current parameters as a pytree like
      `x0`; raising StopIteration stops the optimisation (except with TNC, COBYLA and COBYQA).

    Returns SciPy's `OptimizeResult` (a dict with attribute access) where

    * `x`: the solution, a pytree like `x0` with each leaf's dtype (float32 stays float32;
      integer leaves come back float64);
    * `jac`: the gradient at `x`, a pytree like `x` (where SciPy reports it: not for the
      derivative-free methods; trust-constr's `jac` is SciPy's, the constraints' Jacobians,
      and its gradient `grad` is the pytree);
    * `fun` (float), `nit`, `nfev`, `njev`/`nhev` (where SciPy counts them), `success`,
      `status`, `message`, and `hess_inv` where SciPy gives it (BFGS: an array; L-BFGS-B: a
      LinearOperator) — like every other field SciPy adds (trust-constr's `grad`, `v`...), it
      is about the raveled vector;
    * `x_flat` and `unravel`: the raveled float64 solution and the function turning such a
      vector back into a pytree like `x` (to read `hess_inv`, say).

    Raises ValueError for an unknown method or bounds/constraints a method does not take,
    TypeError when `fun` does not return a real scalar (the message gives the shape it
    returned), and ImportError without SciPy.

    >>> import numpy as np, funcgrad.numpy as fnp
    >>> from funcgrad.scipy.optimize import minimize
    >>> def loss(p, x, y):
    ...     return fnp.sum((x @ p["w"] + p["b"] - y) ** 2)
    >>> x = np.array([[0.0], [1.0], [2.0]])
    >>> y = np.array([1.0, 3.0, 5.0])            # y = 2 x + 1
    >>> res = minimize(loss, {"w": np.zeros(1), "b": 0.0}, (x, y))
    >>> res.success, np.round(res.x["w"], 6), np.round(res.x["b"], 6)
    (True, array([2.]), np.float64(1.0))
    >>> res = minimize(loss, {"w": np.zeros(1), "b": 0.0}, (x, y), method="L-BFGS-B",
    ...                bounds=({"w": None, "b": 0.0}, {"w": 1.5, "b": None}))
    >>> np.round(res.x["w"], 4), round(float(res.x["b"]), 4)   # w stops at its upper bound
    (array([1.5]), 1.5)
    """
    so = optional_import("scipy.optimize", "funcgrad.scipy.optimize.minimize", "scipy")
    if not isinstance(method, str) or method.lower() not in METHODS:
        raise ValueError(f"minimize: unknown method {method!r}; SciPy's methods are "
                         f"{', '.join(METHODS)} (any case)")
    meth = method.lower()
    if not isinstance(args, tuple):
        args = (args,)

    x0_64, dtypes = _as_float64(x0)
    flat0, unravel = ravel_pytree(x0_64)
    flat0 = np.asarray(flat0, dtype=np.float64)

    def flat_fun(v):
        return _check_scalar(fun(unravel(v), *args))

    transform = _jit if jit else (lambda f: f)
    kwargs: dict[str, Any] = {}
    if meth in _NO_GRADIENT:
        value = transform(flat_fun)

        def scipy_fun(v):
            return float(value(v))
    else:
        value_and_grad = transform(_api.value_and_grad(flat_fun))

        def scipy_fun(v):
            val, g = value_and_grad(v)
            return float(val), np.asarray(g, dtype=np.float64)
        kwargs["jac"] = True
    if meth in _HESSP:
        grad = _api.grad(flat_fun)
        hvp = transform(lambda v, p: _api.jvp(grad, (v,), (p,))[1])
        kwargs["hessp"] = lambda v, p: np.asarray(hvp(v, np.asarray(p, np.float64)),
                                                  dtype=np.float64)
    elif meth in _HESS:
        hess = transform(_jac.hessian(flat_fun))
        kwargs["hess"] = lambda v: np.asarray(hess(v), dtype=np.float64)

    if bounds is not None:
        if meth not in _BOUNDS:
            raise ValueError(f"minimize: method {method!r} does not take bounds; use one of "
                             f"{', '.join(sorted(_BOUNDS))}")
        kwargs["bounds"] = _flat_bounds(so, bounds, x0_64)
    if constraints:
        if meth not in _CONSTRAINTS:
            raise ValueError(f"minimize: method {method!r} does not take constraints; use one "
                             f"of {', '.join(sorted(_CONSTRAINTS))}")
        kwargs["constraints"] = _flat_constraints(constraints, unravel, transform)

    def unravel_out(v):
        return _cast(unravel(np.asarray(v, dtype=np.float64)), dtypes)

    if callback is not None:
        def scipy_callback(xk, *_):
            return callback(unravel_out(xk))
        kwargs["callback"] = scipy_callback

    res = so.minimize(scipy_fun, flat0, method=method, tol=tol, options=options, **kwargs)
    x_flat = np.asarray(res.x, dtype=np.float64)
    res.x_flat = x_flat
    res.unravel = unravel_out
    res.x = unravel_out(x_flat)
    res.fun = float(np.asarray(res.fun).reshape(()))
    if meth == "trust-constr":          # its `jac` is the constraints' Jacobians
        res.grad = unravel_out(res.grad)
    elif "jac" in res and res.jac is not None and np.shape(res.jac) == x_flat.shape:
        res.jac = unravel_out(res.jac)
    return res


def _as_float64(x0):
    """x0 with every leaf a float64 array, and each leaf's dtype for the result."""
    leaves, treedef = tree.flatten(x0)
    out, dtypes = [], []
    for leaf in leaves:
        a = np.asarray(leaf)
        if a.dtype.kind == "c" or a.dtype.kind not in "biuf":
            raise TypeError(f"minimize: x0 must be a pytree of real arrays or numbers; got a "
                            f"leaf of dtype {a.dtype}")
        dtypes.append(a.dtype if a.dtype.kind == "f" else np.dtype(np.float64))
        out.append(a.astype(np.float64))
    return tree.unflatten(treedef, out), dtypes


def _cast(x, dtypes):
    leaves, treedef = tree.flatten(x)
    return tree.unflatten(treedef, [np.asarray(a).astype(d) for a, d in zip(leaves, dtypes)])


def _check_scalar(out):
    """The objective's value, which must be a real scalar."""
    if isinstance(out, (tuple, list, dict)):
        raise TypeError(f"minimize: fun must return a scalar, got a {type(out).__name__} "
                        f"(an auxiliary output is not supported: return the loss alone)")
    shape = fnp.shape(out)
    if shape != ():
        raise TypeError(f"minimize: fun must return a scalar (shape ()), got an array of shape "
                        f"{shape}; reduce it first (e.g. .sum())")
    return out


def _flat_bounds(so, bounds, x0_64):
    """scipy.optimize.Bounds on the raveled vector from `(lower, upper)` prefix pytrees."""
    if not (isinstance(bounds, (tuple, list)) and len(bounds) == 2):
        raise TypeError("minimize: bounds must be a pair (lower, upper) of pytrees like x0 "
                        "(numbers, arrays or None)")
    leaves = tree.leaves(x0_64)
    sides = []
    for side, fill in zip(bounds, (-np.inf, np.inf)):
        try:
            per_leaf = tree.broadcast_prefix(side, x0_64)
        except (TypeError, ValueError) as e:
            raise ValueError(f"minimize: bounds must match the structure of x0 "
                             f"(a prefix of it): {e}") from None
        parts = []
        for b, leaf in zip(per_leaf, leaves):
            b = fill if b is None else np.asarray(b, dtype=np.float64)
            parts.append(np.broadcast_to(b, np.shape(leaf)).ravel())
        sides.append(np.concatenate(parts) if parts else np.zeros(0))
    return so.Bounds(sides[0], sides[1])


def _flat_constraints(constraints, unravel, transform):
    """SciPy's constraint dicts with `fun` of the raveled vector and funcgrad's `jac`."""
    if isinstance(constraints, dict):
        constraints = [constraints]
    out = []
    for c in constraints:
        if not isinstance(c, dict) or "fun" not in c or "type" not in c:
            raise TypeError("minimize: constraints must be dicts {'type': 'eq' | 'ineq', "
                            "'fun': c, 'args': (...)} with c a function of the pytree x")
        cfun, cargs = c["fun"], tuple(c.get("args", ()))

        def flat_c(v, cfun=cfun, cargs=cargs):
            return fnp.ravel(cfun(unravel(v), *cargs))
        value = transform(flat_c)
        jac = transform(_jac.jacrev(flat_c))
        out.append({"type": c["type"],
                    "fun": lambda v, value=value: np.asarray(value(v), dtype=np.float64),
                    "jac": lambda v, jac=jac: np.asarray(jac(v), dtype=np.float64)})
    return out


__all__ = ["minimize"]
