"""Derivative checks for tests (like jax.test_util): AD against finite differences, any order.

Forward mode is compared with a central difference in one random direction; reverse mode with
the inner-product identity <vjp(ct), t> == <ct, J t>, which is cheap at any size. Complex values
get random complex directions (real and imaginary parts), and the pairing is JAX's,
<a, b> = Re(sum(a * b)): the one under which a complex-linear map's transpose is its plain
transpose.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import tree
from .transforms.api import jvp, vjp

# Finite-difference steps and default tolerances by the least precise float dtype involved.
_EPS = {np.dtype(np.float16): 1e-2, np.dtype(np.float32): 1e-3, np.dtype(np.float64): 1e-6}
_TOL = {np.dtype(np.float16): 1e-1, np.dtype(np.float32): 1e-2, np.dtype(np.float64): 1e-5}
_SEED = 0


def _is_float(x) -> bool:
    return np.asarray(x).dtype.kind in "fc"


def _least_precise(*trees) -> np.dtype:
    """The float dtype with the fewest bits among the leaves (float64 when there are none)."""
    dts = [np.asarray(x).dtype for t in trees for x in tree.leaves(t) if _is_float(x)]
    dts = [np.finfo(dt).dtype if dt.kind == "c" else dt for dt in dts]
    return min(dts, key=lambda dt: dt.itemsize, default=np.dtype(np.float64))


def _defaults(dtype: np.dtype, atol, rtol, eps) -> tuple[float, float, float]:
    dtype = dtype if dtype in _TOL else np.dtype(np.float64)
    return (_TOL[dtype] if atol is None else atol, _TOL[dtype] if rtol is None else rtol,
            _EPS[dtype] if eps is None else eps)


def _rand_like(rng: np.random.Generator, t: Any) -> Any:
    """A standard normal pytree like `t` (zeros for integer and boolean leaves: no tangent;
    complex leaves get independent real and imaginary parts)."""
    def one(x):
        x = np.asarray(x)
        if not _is_float(x):
            return np.zeros(x.shape, x.dtype)
        if x.dtype.kind == "c":
            return (rng.standard_normal(x.shape) + 1j * rng.standard_normal(x.shape)).astype(
                x.dtype)
        return rng.standard_normal(x.shape).astype(x.dtype)
    return tree.map(one, t)


def _inner(a: Any, b: Any) -> float:
    """<a, b> = Re(sum(a * b)) over the float and complex leaves of two pytrees of the same
    structure, in double precision."""
    total = 0.0
    for x, y in zip(tree.leaves(a), tree.leaves(b), strict=True):
        if _is_float(x) and _is_float(y):
            total += float(np.real(np.sum(np.asarray(x, np.complex128)
                                          * np.asarray(y, np.complex128))))
    return total


def _show(x: Any) -> str:
    return np.array2string(np.asarray(x), precision=8, threshold=40, max_line_width=100)


def check_close(got: Any, expected: Any, atol: float, rtol: float, what: str = "",
                direction: Any = None) -> None:
    """Assert two pytrees of arrays have the same structure and shapes and close values.

    >>> check_close(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9]), atol=1e-6, rtol=1e-6)
    """
    got_leaves, got_tree = tree.flatten(got)
    exp_leaves, exp_tree = tree.flatten(expected)
    if got_tree != exp_tree:
        raise AssertionError(f"{what}: structure {got_tree} differs from expected {exp_tree}")
    for i, (g, e) in enumerate(zip(got_leaves, exp_leaves)):
        g, e = np.asarray(g), np.asarray(e)
        where = f" (output leaf {i})" if len(exp_leaves) > 1 else ""
        if g.shape != e.shape:
            raise AssertionError(f"{what}{where}: shape {g.shape} differs from expected "
                                 f"{e.shape}")
        if not _is_float(e) and not _is_float(g):
            ok = np.array_equal(g, e)
        else:
            wide = np.complex128 if "c" in (g.dtype.kind, e.dtype.kind) else np.float64
            ok = np.allclose(np.asarray(g, wide), np.asarray(e, wide), atol=atol, rtol=rtol)
        if not ok:
            d = "" if direction is None else f"\n  direction: {_show_tree(direction)}"
            raise AssertionError(f"{what}{where} mismatch (atol={atol:g}, rtol={rtol:g}){d}"
                                 f"\n  expected: {_show(e)}\n  got:      {_show(g)}")


def _show_tree(t: Any) -> str:
    leaves = tree.leaves(t)
    return _show(leaves[0]) if len(leaves) == 1 else "[" + ", ".join(map(_show, leaves)) + "]"


def numerical_jvp(f: Callable, args: Sequence, tangents: Sequence, eps: float | None = None):
    """Central difference (f(x + eps t) - f(x - eps t)) / 2 eps: the directional derivative.

    Integer and boolean arguments are not moved; integer outputs get a zero derivative.
    The result is float64 (or complex128), whatever the outputs' dtypes.

    >>> numerical_jvp(np.sin, (0.0,), (2.0,))
    array(2.)
    """
    args, tangents = tuple(args), tuple(tangents)
    if eps is None:
        eps = _defaults(_least_precise(args), None, None, None)[2]
    flat_x, in_tree = tree.flatten(args)
    flat_t, t_tree = tree.flatten(tangents)
    if t_tree != in_tree:
        raise ValueError(f"numerical_jvp: tangents have structure {t_tree}, args {in_tree}")

    def moved(sign: float):
        xs = []
        for x, t in zip(flat_x, flat_t):
            x = np.asarray(x)
            # Keep each argument's dtype: the step is taken in the argument's own precision.
            xs.append((x + sign * eps * np.asarray(t)).astype(x.dtype) if _is_float(x) else x)
        return f(*tree.unflatten(in_tree, xs))

    plus, minus = moved(1.0), moved(-1.0)

    def diff(p, m):
        p, m = np.asarray(p), np.asarray(m)
        if not _is_float(p):
            return np.zeros(p.shape)
        wide = np.complex128 if p.dtype.kind == "c" else np.float64
        return np.asarray((p.astype(wide) - m.astype(wide)) / (2 * eps))

    return tree.map(diff, plus, minus)


def check_jvp(f: Callable, args: Sequence, atol: float | None = None, rtol: float | None = None,
              eps: float | None = None, err_msg: str = "") -> None:
    """Check `fg.jvp(f)` against a central difference in one random (seeded) direction.

    >>> check_jvp(lambda x: x ** 3, (np.array([1.0, 2.0]),))
    """
    args = tuple(args)
    rng = np.random.default_rng(_SEED)
    tangents = _rand_like(rng, args)
    out, t_out = jvp(f, args, tangents)
    expected_out = f(*args)
    atol, rtol, eps = _defaults(_least_precise(args, out), atol, rtol, eps)
    label = f"{err_msg} " if err_msg else ""
    check_close(out, expected_out, atol, rtol, f"{label}JVP primal output")
    t_expected = numerical_jvp(f, args, tangents, eps)
    check_close(t_out, t_expected, atol, rtol, f"{label}JVP tangent", direction=tangents)


def check_vjp(f: Callable, args: Sequence, atol: float | None = None, rtol: float | None = None,
              eps: float | None = None, err_msg: str = "") -> None:
    """Check `fg.vjp(f)` by <vjp(ct), t> == <ct, J t>, with J t a central difference and random
    (seeded) t and ct. Using finite differences keeps this check independent of forward mode.

    >>> check_vjp(lambda x, y: x * y, (np.array([1.0, 2.0]), np.array(3.0)))
    """
    args = tuple(args)
    rng = np.random.default_rng(_SEED)
    out, f_vjp = vjp(f, *args)
    expected_out = f(*args)
    atol, rtol, eps = _defaults(_least_precise(args, out), atol, rtol, eps)
    label = f"{err_msg} " if err_msg else ""
    check_close(out, expected_out, atol, rtol, f"{label}VJP primal output")
    tangents = _rand_like(rng, args)
    cotangent = _rand_like(rng, out)
    ct_args = f_vjp(cotangent)
    check_close(tree.map(np.shape, ct_args), tree.map(np.shape, args), 0, 0,
                f"{label}VJP cotangent shapes")
    got = _inner(ct_args, tangents)
    expected = _inner(cotangent, numerical_jvp(f, args, tangents, eps))
    check_close(np.asarray(got), np.asarray(expected), atol, rtol,
                f"{label}VJP <vjp(ct), t> vs <ct, J t>", direction=tangents)


def check_grads(f: Callable, args: Sequence, order: int = 2, modes: Sequence[str] = ("fwd", "rev"),
                atol: float | None = None, rtol: float | None = None,
                eps: float | None = None) -> None:
    """Check the derivatives of `f` at `args` up to `order`, in forward and/or reverse mode.

    Order 2 checks the derivative functions themselves (jvp of jvp, vjp of vjp, and the mixes),
    so higher derivatives of every rule are exercised. Raises AssertionError naming the mode,
    the direction, and the expected and computed values.

    >>> import funcgrad.numpy as fnp
    >>> check_grads(lambda x, y: fnp.sin(x) * y, (np.array([0.5, 1.0]), np.array(2.0)), order=2)
    """
    for m in modes:
        if m not in ("fwd", "rev"):
            raise ValueError(f"check_grads: unknown mode {m!r}; use 'fwd' and/or 'rev'")
    args = tuple(args)
    # Steps and tolerances follow the least precise dtype of f's own inputs and outputs, also
    # for the derivative functions checked at higher orders (their outputs may look wider).
    atol, rtol, eps = _defaults(_least_precise(args, f(*args)), atol, rtol, eps)
    tol = dict(atol=atol, rtol=rtol, eps=eps)

    def recurse(f, args, order, msg):
        if "fwd" in modes:
            fwd_msg = f"{msg} JVP of" if msg else "JVP of"
            check_jvp(f, args, err_msg=msg, **tol)
            if order > 1:
                # The JVP as a function of (primals, tangents) is itself checked.
                recurse(lambda primals, tangents: jvp(f, primals, tangents), (args, args),
                        order - 1, fwd_msg)
        if "rev" in modes:
            rev_msg = f"{msg} VJP of" if msg else "VJP of"
            check_vjp(f, args, err_msg=msg, **tol)
            if order > 1:
                def f_vjp(*primals):
                    out, pullback = vjp(f, *primals)
                    return pullback(out)   # the output doubles as a (nonlinear) cotangent
                recurse(f_vjp, args, order - 1, rev_msg)

    recurse(f, args, order, "")


__all__ = ["check_grads", "check_jvp", "check_vjp", "numerical_jvp", "check_close"]
