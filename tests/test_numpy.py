"""funcgrad.numpy against NumPy: values, shapes and dtypes, eagerly and traced, plus gradients.

Every case runs three ways on the same inputs and must match NumPy exactly in shape and dtype:
eagerly (plain arrays in), traced with `fnp` (make_graph + eval_graph, whose abstract types
must also match), and traced as plain NumPy code through `__array_function__`/`__array_ufunc__`.
Gradients are spot-checked against central differences.
"""
from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import tree
from funcgrad.test_util import check_grads
from funcgrad.transforms.interpret import eval_graph

F32, F64 = np.float32, np.float64
TOL = {np.dtype(F32): (1e-5, 1e-5), np.dtype(F64): (1e-11, 1e-11)}


# ---------------------------------------------------------------- helpers

def run_traced(f: Callable, *args):
    """f traced by make_graph, then evaluated by eval_graph; also returns the graph."""
    graph = fg.make_graph(f)(*args)
    outs = eval_graph(graph, [np.asarray(a) for a in tree.leaves(args)])
    return tree.unflatten(graph.info["out_tree"], outs), graph


def assert_same(got, want, what=""):
    """Same structure, shapes, dtypes and (to the dtype's precision) values."""
    got_leaves, want_leaves = tree.leaves(got), tree.leaves(want)
    assert len(got_leaves) == len(want_leaves), what
    for g, w in zip(got_leaves, want_leaves):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape, f"{what}: shape {g.shape} != NumPy's {w.shape}"
        assert g.dtype == w.dtype, f"{what}: dtype {g.dtype} != NumPy's {w.dtype}"
        rtol, atol = TOL.get(w.dtype, (0, 0))
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=what)


def shape_of(data, min_dims=0, max_dims=3, min_side=1, max_side=4):
    return data.draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                                      max_side=max_side))


def values(data, shape, dt, lo=-2.0, hi=2.0):
    seed = data.draw(st.integers(0, 2**31 - 1))
    return np.random.default_rng(seed).uniform(lo, hi, shape).astype(dt)


def axis_of(data, ndim, none=True, tuples=True):
    choices = ([None] if none else []) + list(range(-ndim, ndim))
    if tuples and ndim >= 2:
        choices.append((0, ndim - 1))
    return data.draw(st.sampled_from(choices))


# Argument makers: each returns (args, static keyword arguments).

def X(lo=-2.0, hi=2.0, min_dims=0, max_dims=3, min_side=1):
    def make(data, dt):
        return (values(data, shape_of(data, min_dims, max_dims, min_side), dt, lo, hi),), {}
    return make


def XY(lo=-2.0, hi=2.0, lo2=None, hi2=None):
    def make(data, dt):
        s = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4))
        x, y = s.input_shapes
        return (values(data, x, dt, lo, hi),
                values(data, y, dt, lo if lo2 is None else lo2, hi if hi2 is None else hi2)), {}
    return make


def XAxis(lo=-2.0, hi=2.0, keepdims=True, none=True, tuples=True, min_dims=1, axis=True,
          min_side=1, **extra):
    def make(data, dt):
        shape = shape_of(data, min_dims=min_dims, min_side=min_side)
        kw = {"axis": axis_of(data, len(shape), none, tuples)} if axis else {}
        if keepdims:
            kw["keepdims"] = data.draw(st.booleans())
        for k, strategy in extra.items():
            kw[k] = data.draw(strategy)
        return (values(data, shape, dt, lo, hi),), kw
    return make


def Fixed(*shapes, lo=-2.0, hi=2.0):
    def make(data, dt):
        return tuple(values(data, s, dt, lo, hi) for s in shapes), {}
    return make


@dataclass
class Case:
    name: str
    fn: Callable                     # fn(module, *args, **kw), module is np or fnp
    make: Callable
    grad: bool = True                # check derivatives against finite differences
    ref: Callable | None = None      # NumPy reference when fn(np, ...) is not one
    through_numpy: bool = True       # also trace fn(np, ...) through the protocols

    def __str__(self):
        return self.name


def fn_named(name, **kw):
    return lambda m, *a, **k: getattr(m, name)(*a, **kw, **k)


UNARY = [  # name, domain
    ("negative", (-2, 2)), ("exp", (-3, 3)), ("log", (0.1, 4)), ("log1p", (-0.9, 4)),
    ("expm1", (-2, 2)), ("sin", (-3, 3)), ("cos", (-3, 3)), ("tan", (-1.3, 1.3)),
    ("tanh", (-2, 2)), ("sinh", (-2, 2)), ("cosh", (-2, 2)), ("arcsin", (-0.9, 0.9)),
    ("arccos", (-0.9, 0.9)), ("arctan", (-2, 2)), ("arcsinh", (-2, 2)), ("arccosh", (1.1, 4)),
    ("arctanh", (-0.9, 0.9)), ("sqrt", (0.1, 4)), ("abs", (-2, 2)), ("absolute", (-2, 2)),
    ("fabs", (-2, 2)), ("square", (-2, 2)), ("reciprocal", (0.5, 2)), ("positive", (-2, 2)),
    ("exp2", (-2, 2)), ("log2", (0.1, 4)), ("log10", (0.1, 4)), ("cbrt", (0.1, 2)),
    ("sinc", (-2, 2)), ("deg2rad", (-2, 2)), ("rad2deg", (-2, 2)), ("radians", (-2, 2)),
    ("degrees", (-2, 2)), ("conjugate", (-2, 2)), ("real", (-2, 2)), ("nan_to_num", (-2, 2)),
]
NONDIFF_UNARY = ["sign", "floor", "ceil", "rint", "trunc", "fix", "isfinite", "isnan", "isinf",
                 "round", "around"]
BINARY = [  # name, domain of x, domain of y
    ("add", (-2, 2), (-2, 2)), ("subtract", (-2, 2), (-2, 2)), ("multiply", (-2, 2), (-2, 2)),
    ("divide", (-2, 2), (0.5, 2)), ("true_divide", (-2, 2), (0.5, 2)),
    ("power", (0.5, 2), (-2, 2)), ("float_power", (0.5, 2), (-2, 2)),
    ("maximum", (-2, 2), (-2, 2)), ("minimum", (-2, 2), (-2, 2)), ("fmax", (-2, 2), (-2, 2)),
    ("fmin", (-2, 2), (-2, 2)), ("arctan2", (-2, 2), (0.5, 2)), ("logaddexp", (-2, 2), (-2, 2)),
    ("logaddexp2", (-2, 2), (-2, 2)), ("hypot", (0.5, 2), (0.5, 2)),
    ("remainder", (0.1, 0.9), (1.0, 2.0)), ("mod", (0.1, 0.9), (1.0, 2.0)),
]
NONDIFF_BINARY = ["floor_divide", "heaviside", "less", "less_equal", "greater", "greater_equal",
                  "equal", "not_equal", "isclose"]

CASES = (
    [Case(n, fn_named(n), X(*dom)) for n, dom in UNARY]
    + [Case(n, fn_named(n), X(), grad=False) for n in NONDIFF_UNARY]
    + [Case(n, fn_named(n), XY(*dx, *dy)) for n, dx, dy in BINARY]
    + [Case(n, fn_named(n), XY(), grad=False) for n in NONDIFF_BINARY]
    + [
        # weak Python scalars keep the array's dtype (NumPy 2 / NEP 50)
        Case("x*2.0", lambda m, x: x * 2.0, X()),
        Case("2.0-x", lambda m, x: 2.0 - x, X()),
        Case("x/3", lambda m, x: x / 3, X()),
        Case("3/x", lambda m, x: 3 / x, X(0.5, 2)),
        Case("x+1", lambda m, x: x + 1, X()),
        Case("x**2", lambda m, x: x ** 2, X()),
        Case("x**3.0", lambda m, x: x ** 3.0, X()),
        Case("x**-1", lambda m, x: x ** -1, X(0.5, 2)),
        Case("x**0.5", lambda m, x: x ** 0.5, X(0.5, 2)),
        Case("2**x", lambda m, x: 2 ** x, X()),
        Case("x%1.5", lambda m, x: x % 1.5, X(0.1, 1.4)),
        Case("x//0.5", lambda m, x: x // 0.5, X(), grad=False),
        Case("-x", lambda m, x: -x, X()),
        Case("abs(x)", lambda m, x: abs(x), X()),
        Case("maximum(x,0.)", lambda m, x: m.maximum(x, 0.0), X()),
        Case("where(x>0,x,0.)", lambda m, x: m.where(x > 0, x, 0.0), X()),
        Case("where(x>0,x,y)", lambda m, x, y: m.where(x > 0, x, y), XY()),
        Case("clip", lambda m, x: m.clip(x, -0.5, 0.5), X()),
        Case("clip(min=)", lambda m, x: m.clip(x, min=-0.5), X()),
        Case("heaviside(x,0.5)", lambda m, x: m.heaviside(x, 0.5), X(), grad=False),
        Case("round(x,2)", lambda m, x: m.round(x, 2), X(), grad=False),
        Case("x*f64", lambda m, x: x * np.float64(2.0), X()),
        Case("select", lambda m, x: m.select([x < -1, x > 1], [x, x * 2.0], 0.0), X()),
        # reductions
        Case("sum", fn_named("sum"), XAxis()),
        Case("prod", fn_named("prod"), XAxis(0.5, 1.5)),
        Case("max", fn_named("max"), XAxis()),
        Case("min", fn_named("min"), XAxis()),
        Case("amax", fn_named("amax"), XAxis()),
        Case("amin", fn_named("amin"), XAxis()),
        Case("max(initial)", fn_named("max", initial=0.5), XAxis()),
        Case("mean", fn_named("mean"), XAxis()),
        Case("var", fn_named("var"), XAxis()),
        Case("var(ddof=1)", fn_named("var", ddof=1), XAxis(min_side=2)),
        Case("std(ddof=n)", lambda m, x: m.std(x, ddof=x.size), X(), grad=False),
        Case("std", fn_named("std"), XAxis()),
        Case("ptp", fn_named("ptp"), XAxis(tuples=False)),
        Case("median", fn_named("median"), XAxis()),
        Case("average", fn_named("average"), XAxis()),
        Case("nansum", fn_named("nansum"), XAxis()),
        Case("nanmean", fn_named("nanmean"), XAxis()),
        Case("sum(where=)", lambda m, x: m.sum(x, axis=0, where=x > 0), X(min_dims=1)),
        Case("mean(where=)", lambda m, x: m.mean(x, where=x > -1.5), X(min_dims=1)),
        Case("mean(dtype=f64)", lambda m, x: m.mean(x, dtype=np.float64), X()),
        Case("argmax", fn_named("argmax"), XAxis(tuples=False), grad=False),
        Case("argmin", fn_named("argmin"), XAxis(tuples=False), grad=False),
        Case("cumsum", fn_named("cumsum"), XAxis(keepdims=False, tuples=False)),
        Case("cumprod", fn_named("cumprod"), XAxis(0.5, 1.5, keepdims=False, tuples=False)),
        Case("any", lambda m, x, **k: m.any(x > 1, **k), XAxis(), grad=False),
        Case("all", lambda m, x, **k: m.all(x > -1, **k), XAxis(), grad=False),
        Case("count_nonzero", lambda m, x: m.count_nonzero(x > 0), X(), grad=False),
        Case("sort", fn_named("sort"), XAxis(keepdims=False, tuples=False)),
        Case("argsort", fn_named("argsort"), XAxis(keepdims=False, tuples=False), grad=False),
        Case("diff", fn_named("diff"), X(min_dims=1)),
        Case("diff(n=2,axis=0)", fn_named("diff", n=2, axis=0), X(min_dims=2)),
        Case("logsumexp", lambda m, x, **k: fnp.logsumexp(x, **k), XAxis(),
             ref=lambda x, axis, keepdims: np.log(np.sum(np.exp(x), axis=axis,
                                                         keepdims=keepdims)),
             through_numpy=False),
        # shapes
        Case("reshape(-1)", lambda m, x: m.reshape(x, -1), X()),
        Case("reshape", lambda m, x: m.reshape(x, (2, 1, -1)), Fixed((2, 3))),
        Case("ravel", fn_named("ravel"), X()),
        Case("transpose", fn_named("transpose"), X()),
        Case("transpose(axes)", lambda m, x: m.transpose(x, (1, 2, 0)), Fixed((2, 3, 4))),
        Case("swapaxes", lambda m, x: m.swapaxes(x, 0, -1), X(min_dims=1)),
        Case("moveaxis", lambda m, x: m.moveaxis(x, 0, -1), X(min_dims=1)),
        Case("moveaxis(seq)", lambda m, x: m.moveaxis(x, [0, 1], [-1, 0]), Fixed((2, 3, 4))),
        Case("squeeze", fn_named("squeeze"), X()),
        Case("squeeze(axis)", lambda m, x: m.squeeze(x, 1), Fixed((2, 1, 3))),
        Case("expand_dims", lambda m, x: m.expand_dims(x, (0, -1)), X()),
        Case("broadcast_to", lambda m, x: m.broadcast_to(x, (2,) + x.shape), X()),
        Case("broadcast_arrays", fn_named("broadcast_arrays"), XY()),
        Case("concatenate", lambda m, x: m.concatenate([x, 2 * x], axis=-1), X(min_dims=1)),
        Case("concatenate(None)", lambda m, x, y: m.concatenate([x, y], axis=None), XY()),
        Case("stack", lambda m, x: m.stack([x, x * x], axis=-1), X()),
        Case("vstack", lambda m, x: m.vstack([x, x]), X()),
        Case("hstack", lambda m, x: m.hstack([x, x]), X()),
        Case("dstack", lambda m, x: m.dstack([x, x]), X()),
        Case("column_stack", lambda m, x: m.column_stack([x, x]), X(min_dims=1, max_dims=2)),
        Case("append", lambda m, x: m.append(x, 1.0), X()),
        Case("atleast_1d", fn_named("atleast_1d"), X()),
        Case("atleast_2d", fn_named("atleast_2d"), X()),
        Case("atleast_3d", fn_named("atleast_3d"), X()),
        Case("split", lambda m, x: m.split(x, 2, axis=1), Fixed((3, 4))),
        Case("split(indices)", lambda m, x: m.split(x, [1, -1, 9]), Fixed((5,))),
        Case("array_split", lambda m, x: m.array_split(x, 3, axis=0), Fixed((5, 2))),
        Case("flip", fn_named("flip"), X()),
        Case("flip(axis)", lambda m, x: m.flip(x, axis=-1), X(min_dims=1)),
        Case("fliplr", fn_named("fliplr"), X(min_dims=2)),
        Case("flipud", fn_named("flipud"), X(min_dims=1)),
        Case("roll", lambda m, x: m.roll(x, 2), X()),
        Case("roll(axis)", lambda m, x: m.roll(x, (1, -1), axis=(0, 1)), X(min_dims=2)),
        Case("tile", lambda m, x: m.tile(x, (2, 1)), X()),
        Case("repeat", lambda m, x: m.repeat(x, 2, axis=-1), X(min_dims=1)),
        Case("repeat(None)", lambda m, x: m.repeat(x, 3), X()),
        Case("repeat(list)", lambda m, x: m.repeat(x, [1, 0, 2], axis=0), Fixed((3, 2))),
        Case("pad", lambda m, x: m.pad(x, 1), X()),
        Case("pad(value)", lambda m, x: m.pad(x, ((1, 0), (0, 2)), constant_values=0.5),
             X(min_dims=2, max_dims=2)),
        Case("pad(reflect)", lambda m, x: m.pad(x, (2, 1), mode="reflect"), Fixed((4, 3))),
        Case("pad(edge)", lambda m, x: m.pad(x, 2, mode="edge"), X(min_dims=1)),
        Case("pad(wrap)", lambda m, x: m.pad(x, 1, mode="wrap"), X(min_dims=1)),
        Case("take", lambda m, x: m.take(x, [0, -1, 0]), X()),
        Case("take(axis)", lambda m, x: m.take(x, np.array([[1, 0], [1, 1]]), axis=1),
             Fixed((3, 2, 2))),
        Case("take(clip)", lambda m, x: m.take(x, [5, -9, 1], axis=0, mode="clip"),
             Fixed((3,))),
        Case("take(wrap)", lambda m, x: m.take(x, [5, -9, 1], mode="wrap"), Fixed((3, 2))),
        Case("take_along_axis", lambda m, x: m.take_along_axis(x, np.argsort(x, 1), 1),
             Fixed((3, 4))),
        Case("diagonal", fn_named("diagonal"), Fixed((3, 4))),
        Case("diagonal(offset,axes)", lambda m, x: m.diagonal(x, -1, 2, 0), Fixed((3, 2, 4))),
        Case("diag", fn_named("diag"), Fixed((3,))),
        Case("diag(k)", lambda m, x: m.diag(x, -1), Fixed((3,))),
        Case("diag(2d)", lambda m, x: m.diag(x, 1), Fixed((3, 4))),
        Case("trace", fn_named("trace"), Fixed((3, 4))),
        Case("triu", fn_named("triu"), X(min_dims=2)),
        Case("tril", lambda m, x: m.tril(x, -1), X(min_dims=2)),
        Case("kron", lambda m, x, y: m.kron(x, y), Fixed((2, 3), (3, 2))),
        Case("cross", lambda m, x, y: m.cross(x, y), Fixed((4, 3), (3,))),
        Case("meshgrid", lambda m, x, y: m.meshgrid(x, y), Fixed((3,), (2,))),
        Case("meshgrid(ij)", lambda m, x, y: m.meshgrid(x, y, indexing="ij"), Fixed((3,), (2,))),
        Case("full_like", lambda m, x: m.full_like(x, 2.5) + x, X()),
        Case("zeros_like", lambda m, x: m.zeros_like(x) + x, X()),
        Case("ones_like", lambda m, x: m.ones_like(x) * x, X()),
        # products
        Case("matmul 2d", lambda m, x, y: m.matmul(x, y), Fixed((2, 3), (3, 4))),
        Case("matmul mv", lambda m, x, y: x @ y, Fixed((2, 3), (3,))),
        Case("matmul vm", lambda m, x, y: x @ y, Fixed((3,), (3, 4))),
        Case("matmul vv", lambda m, x, y: x @ y, Fixed((3,), (3,))),
        Case("matmul batch", lambda m, x, y: x @ y, Fixed((5, 2, 3), (3, 4))),
        Case("matmul bcast", lambda m, x, y: x @ y, Fixed((2, 1, 2, 3), (4, 3, 2))),
        Case("matmul v-batch", lambda m, x, y: x @ y, Fixed((3,), (2, 3, 4))),
        Case("matmul batch-v", lambda m, x, y: x @ y, Fixed((2, 4, 3), (3,))),
        Case("matmul 2d-batch", lambda m, x, y: x @ y, Fixed((2, 3), (5, 3, 4))),
        Case("vecdot", fn_named("vecdot"), Fixed((2, 3), (3,))),
        Case("dot", fn_named("dot"), Fixed((2, 3), (3, 4))),
        Case("dot nd", fn_named("dot"), Fixed((2, 3), (4, 3, 5))),
        Case("dot scalar", fn_named("dot"), Fixed((2, 3), ())),
        Case("vdot", fn_named("vdot"), Fixed((2, 3), (3, 2))),
        Case("inner", fn_named("inner"), Fixed((2, 3), (4, 3))),
        Case("outer", fn_named("outer"), Fixed((2, 3), (4,))),
        Case("tensordot", fn_named("tensordot"), Fixed((2, 3, 4), (3, 4, 5))),
        Case("tensordot(axes)", lambda m, x, y: m.tensordot(x, y, axes=([0], [1])),
             Fixed((2, 3), (4, 2))),
        Case("norm", lambda m, x: m.linalg.norm(x), X(min_dims=1)),
        Case("norm(axis)", lambda m, x, **k: m.linalg.norm(x, **k),
             XAxis(none=False, tuples=False)),
        Case("norm(ord)", lambda m, x, **k: m.linalg.norm(x, **k),
             XAxis(none=False, tuples=False,
                   ord=st.sampled_from([1, 2, 3, np.inf, -np.inf, 0.5]))),
        Case("norm(matrix)", lambda m, x, **k: m.linalg.norm(x, axis=(0, -1), **k),
             XAxis(axis=False, min_dims=2,
                   ord=st.sampled_from([None, "fro", 1, -1, np.inf, -np.inf]))),
        Case("vector_norm", lambda m, x: m.linalg.vector_norm(x, axis=(0, 1), ord=3),
             Fixed((2, 3, 2))),
        Case("matrix_norm", lambda m, x: m.linalg.matrix_norm(x, ord=np.inf), Fixed((2, 3, 2))),
        Case("linalg.diagonal", lambda m, x: m.linalg.diagonal(x, offset=1), Fixed((2, 3, 4))),
        Case("linalg.trace", lambda m, x: m.linalg.trace(x, offset=-1), Fixed((2, 3, 4))),
        Case("linalg.outer", lambda m, x, y: m.linalg.outer(x, y), Fixed((3,), (4,))),
        Case("linalg.cross", lambda m, x, y: m.linalg.cross(x, y), Fixed((2, 3), (3,))),
        Case("linalg.matmul", lambda m, x, y: m.linalg.matmul(x, y), Fixed((2, 3), (3, 4))),
        Case("linalg.vecdot", lambda m, x, y: m.linalg.vecdot(x, y), Fixed((2, 3), (3,))),
        Case("linalg.tensordot", lambda m, x, y: m.linalg.tensordot(x, y, axes=1),
             Fixed((2, 3), (3, 4))),
        Case("linalg.matrix_transpose", lambda m, x: m.linalg.matrix_transpose(x),
             Fixed((2, 3, 4))),
        Case("matrix_transpose", fn_named("matrix_transpose"), X(min_dims=2)),
        Case("permute_dims", lambda m, x: m.permute_dims(x, (1, 0, 2)), Fixed((2, 3, 4))),
    ]
)


# Functions of other topics bring their cases in tests/npcases_<topic>.py, each a module with
# a CASES list of Case, built with the helpers above (it imports them from this module).
for _path in sorted(Path(__file__).parent.glob("npcases_*.py")):
    CASES += importlib.import_module(_path.stem).CASES
_names = [str(c) for c in CASES]
assert len(_names) == len(set(_names)), "two cases share a name"


def _ref(case):
    return case.ref or (lambda *a, **k: case.fn(np, *a, **k))


@pytest.mark.parametrize("case", CASES, ids=str)
@settings(max_examples=10)
@given(data=st.data(), dt=st.sampled_from([F32, F64]))
def test_matches_numpy(case, data, dt):
    args, kw = case.make(data, dt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = _ref(case)(*args, **kw)
    assert_same(case.fn(fnp, *args, **kw), want, "eager")
    got, graph = run_traced(lambda *a: case.fn(fnp, *a, **kw), *args)
    assert_same(got, want, "traced")
    avals = [v.aval for v in graph.outvars]
    assert [(a.shape, a.dtype) for a in avals] == \
        [(np.shape(w), np.asarray(w).dtype) for w in tree.leaves(want)]
    if case.through_numpy:
        got, graph = run_traced(lambda *a: case.fn(np, *a, **kw), *args)
        assert_same(got, want, "plain NumPy code, traced")
        made = set(graph.invars) | {v for e in graph.eqns for v in e.outputs}
        assert all(v in made for v in graph.outvars), "NumPy turned a traced value into a constant"


GRAD_CASES = [c for c in CASES if c.grad]


@pytest.mark.parametrize("case", GRAD_CASES, ids=str)
@settings(max_examples=3)
@given(data=st.data())
def test_derivatives_match_finite_differences(case, data):
    args, kw = case.make(data, F64)
    check_grads(lambda *a: case.fn(fnp, *a, **kw), args, order=1)


def _scalar_of(case, kw):
    """sum of every inexact output, so that grad applies to any case (ints carry no
    derivative; complex outputs contribute their real and imaginary parts)."""
    def f(*args):
        total = 0.0
        for leaf in tree.leaves(case.fn(fnp, *args, **kw)):
            if fnp.issubdtype(fnp.result_type(leaf), fnp.complexfloating):
                total = total + fnp.sum(fnp.real(leaf)) + 0.5 * fnp.sum(fnp.imag(leaf))
            elif fnp.issubdtype(fnp.result_type(leaf), fnp.floating):
                total = total + fnp.sum(leaf)
        return total
    return f


@pytest.mark.parametrize("case", GRAD_CASES, ids=str)
@settings(max_examples=2)
@given(data=st.data())
def test_transformations_agree(case, data):
    """jit equals eager, jit(grad) equals grad, vmap over a stack of inputs equals a Python
    loop, and second derivatives (forward over reverse) equal finite differences."""
    args, kw = case.make(data, F64)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31 - 1)))
    # inputs drawn from equal seeds are equal: a small jitter keeps ties off the kinks
    args = tuple(a + rng.uniform(-0.01, 0.01, np.shape(a)) for a in args)
    f = lambda *a: case.fn(fnp, *a, **kw)      # noqa: E731
    tree.map(lambda g, w: np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12),
             fg.jit(f)(*args), f(*args))
    loss = _scalar_of(case, kw)
    argnums = tuple(range(len(args)))
    want = fg.grad(loss, argnums=argnums)(*args)
    tree.map(lambda g, w: np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12),
             fg.jit(fg.grad(loss, argnums=argnums))(*args), want)
    stacks = [np.stack([a, a + rng.uniform(-0.05, 0.05, np.shape(a))]) for a in args]
    batched = fg.vmap(f)(*stacks)
    looped = [f(*[s[i] for s in stacks]) for i in range(2)]
    tree.map(lambda b, *ls: np.testing.assert_allclose(b, np.stack(ls), rtol=1e-12,
                                                       atol=1e-12), batched, *looped)
    check_grads(loss, args, order=2, modes=("rev",))


def test_grad_through_plain_numpy_matches_finite_differences():
    rng = np.random.default_rng(0)
    w, x = rng.normal(size=(3, 2)), rng.normal(size=(4, 3))

    def loss(w, x):
        h = np.tanh(x @ w)
        return np.sum(np.maximum(h, 0.1) ** 2) + np.linalg.norm(w) + np.mean(np.exp(x), axis=0)[1]

    check_grads(loss, (w, x), order=2)
    g = fg.grad(loss)(w, x)
    assert g.shape == w.shape and g.dtype == w.dtype


# ---------------------------------------------------------------- dtypes and integers

@pytest.mark.parametrize("f", [
    lambda m, x, i: x * i, lambda m, x, i: i / 2, lambda m, x, i: i * 2.5,
    lambda m, x, i: m.mean(i), lambda m, x, i: m.sum(i), lambda m, x, i: m.var(i),
    lambda m, x, i: m.cumsum(i), lambda m, x, i: i // 2, lambda m, x, i: i ** 2,
    lambda m, x, i: m.maximum(i, 1), lambda m, x, i: m.where(i > 1, i, 0.5),
    lambda m, x, i: m.concatenate([x, i]), lambda m, x, i: i @ i, lambda m, x, i: m.sqrt(i),
    lambda m, x, i: m.linalg.norm(i), lambda m, x, i: m.median(i), lambda m, x, i: m.floor(i),
    lambda m, x, i: m.round(i), lambda m, x, i: m.prod(i), lambda m, x, i: m.cumprod(i),
    lambda m, x, i: m.einsum("i,i", i, i), lambda m, x, i: x.astype(np.float16) + 1,
    lambda m, x, i: m.mean(x.astype(np.float16)), lambda m, x, i: i.astype(bool) & (x > 0),
    lambda m, x, i: m.average(x, weights=i), lambda m, x, i: x ** np.int64(2),
    lambda m, x, i: x ** np.float64(2), lambda m, x, i: x ** np.array(3.0),
    lambda m, x, i: i ** 2.0, lambda m, x, i: 2 ** i, lambda m, x, i: m.any(x[:0]),
    lambda m, x, i: m.all(x[:0] > 0), lambda m, x, i: m.max(x[:0], initial=1),
    lambda m, x, i: m.logical_and(x > 0, i > 1), lambda m, x, i: m.logical_or(x > 0, True),
    lambda m, x, i: m.logical_xor(x > 0, i > 1), lambda m, x, i: m.logical_not(x > 0),
    lambda m, x, i: m.bitwise_and(x > 0, i > 1), lambda m, x, i: m.invert(x > 0),
    lambda m, x, i: m.bitwise_or(x > 0, i > 1), lambda m, x, i: m.bitwise_xor(x > 0, True),
])
@pytest.mark.parametrize("dt", [np.float32, np.int32])
def test_integer_and_mixed_dtypes_follow_numpy(f, dt):
    x = np.array([0.5, -1.0, 2.0], dt)
    i = np.array([3, 1, 2], np.int32)
    want = f(np, x, i)
    assert_same(f(fnp, x, i), want)
    assert_same(run_traced(lambda x, i: f(fnp, x, i), x, i)[0], want)
    assert_same(run_traced(lambda x, i: f(np, x, i), x, i)[0], want)


def test_weak_scalars_do_not_promote_float32():
    x = np.ones(3, np.float32)
    graph = fg.make_graph(lambda x: fnp.sin(x * 2.0 + 1) / 3.0 - x ** 2)(x)
    assert all(v.aval.dtype == np.float32 for e in graph.eqns for v in e.outputs)
    assert fg.grad(lambda x: (x * 2.0).sum())(x).dtype == np.float32


# ---------------------------------------------------------------- einsum

EINSUM = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(5, 2, 3), (5, 3, 4)]),
    ("i,j->ij", [(3,), (4,)]),
    ("i,i->", [(3,), (3,)]),
    ("i,i", [(3,), (3,)]),
    ("ij->ji", [(2, 3)]),
    ("ij->", [(2, 3)]),
    ("ij->j", [(2, 3)]),
    ("ijk,kj->i", [(2, 3, 4), (4, 3)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("ij,kl,jk->il", [(2, 3), (4, 5), (3, 4)]),
    ("i,ij,j->", [(3,), (3, 4), (4,)]),
    ("bi,bj,bk->bijk", [(2, 3), (2, 2), (2, 4)]),
    ("ba", [(2, 3)]),
    ("Ab,bC->CA", [(2, 3), (3, 4)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("iij->j", [(3, 3, 2)]),
    ("iji->ij", [(3, 2, 3)]),
    ("ii,ij->j", [(3, 3), (3, 4)]),
    ("...ij,...jk->...ik", [(2, 1, 2, 3), (4, 3, 2)]),
    ("...ij,jk", [(5, 2, 3), (3, 4)]),
    ("i...->...", [(3, 4, 2)]),
    ("...", [(3, 4)]),
    ("...i,...i->...", [(2, 3), (3,)]),
    ("ij,ij->ij", [(1, 3), (2, 3)]),
    ("ij,j->i", [(2, 3), (1,)]),
    ("...ii->...i", [(2, 3, 3)]),
    ("ij...,ji...->...", [(2, 3, 4), (3, 2, 4)]),
    ("i,ij,jk,k->", [(2,), (2, 3), (3, 4), (4,)]),
    (" ij , jk -> ik ", [(2, 3), (3, 4)]),
]


@pytest.mark.parametrize("subscripts,shapes", EINSUM)
def test_einsum_matches_numpy_values_and_gradients(subscripts, shapes):
    rng = np.random.default_rng(0)
    args = [rng.normal(size=s) for s in shapes]
    want = np.einsum(subscripts, *args)
    assert_same(fnp.einsum(subscripts, *args), want)
    assert_same(run_traced(lambda *a: np.einsum(subscripts, *a), *args)[0], want)
    check_grads(lambda *a: fnp.einsum(subscripts, *a), args, order=1)


def test_einsum_float32_int_and_interleaved_forms():
    rng = np.random.default_rng(1)
    a32, b32 = rng.normal(size=(2, 3)).astype(F32), rng.normal(size=(3, 4)).astype(F32)
    i = np.arange(6, dtype=np.int32).reshape(2, 3)
    assert_same(fnp.einsum("ij,jk->ik", a32, b32), np.einsum("ij,jk->ik", a32, b32))
    assert_same(fnp.einsum("ij->", i), np.einsum("ij->", i))           # stays int32
    assert_same(fnp.einsum("ij,ij->i", i, a32), np.einsum("ij,ij->i", i, a32))
    assert_same(fnp.einsum("i,i", i[0] > 0, i[1] > 3), np.einsum("i,i", i[0] > 0, i[1] > 3))
    assert_same(fnp.einsum(a32, [0, 1], b32, [1, 2], [0, 2]),
                np.einsum(a32, [0, 1], b32, [1, 2], [0, 2]))
    assert_same(fnp.einsum(a32, [Ellipsis, 1]), np.einsum(a32, [Ellipsis, 1]))
    assert_same(fnp.einsum("ij,jk->ik", a32, b32, dtype=np.float64),
                np.einsum("ij,jk->ik", a32, b32, dtype=np.float64))


def test_einsum_contracts_pairwise_by_size_and_traces_dot_generals():
    graph = fg.make_graph(lambda a, b, c: np.einsum("ij,kl,jk->il", a, b, c))(
        np.ones((2, 30)), np.ones((40, 5)), np.ones((30, 40)))
    assert [e.primitive.name for e in graph.eqns] == ["dot_general", "dot_general"]
    biggest = max(v.aval.size for e in graph.eqns for v in e.outputs)
    assert biggest == 2 * 40  # never the 2*30*40*5 outer product


@pytest.mark.parametrize("subscripts,shapes,message", [
    ("ij,jk->ik", [(2, 3), (4, 5)], "sizes 3 and 4"),
    ("ij,jk", [(2, 3)], "2 operand subscripts but 1 operands"),
    ("ijk", [(2, 3)], "do not match an operand of shape (2, 3)"),
    ("ii", [(2, 3)], "sizes 2 and 3"),
    ("i...->i", [(2, 3)], "no '...'"),
    ("ij->ik", [(2, 3)], "'k' does not appear"),
    ("i1", [(2, 3)], "invalid subscripts"),
])
def test_einsum_errors(subscripts, shapes, message):
    with pytest.raises(ValueError, match=None) as info:
        fnp.einsum(subscripts, *[np.ones(s) for s in shapes])
    assert message in str(info.value)


# ---------------------------------------------------------------- misc namespace behaviour

def test_linalg_norm_has_zero_gradient_at_zero():
    assert np.array_equal(fg.grad(fnp.linalg.norm)(np.zeros(3)), np.zeros(3))


def test_array_stacks_traced_values_and_creation_functions_accept_tracers():
    def f(x):
        a = fnp.array([[x[0], 1.0], [2.0, x[1]]])
        return fnp.full((2, 2), x[0]) * a + fnp.zeros((2, 2))
    x = np.array([3.0, 4.0])
    want = np.array([[9.0, 3.0], [6.0, 12.0]])
    assert_same(f(x), want)
    assert_same(run_traced(f, x)[0], want)
    assert_same(fg.grad(lambda x: f(x).sum())(x), np.array([13.0, 3.0]))


def test_concrete_only_functions_work_eagerly_and_under_grad():
    x = np.array([0.0, 2.0, -1.0])
    assert_same(fnp.nonzero(x), np.nonzero(x))
    assert_same(fnp.argwhere(x), np.argwhere(x))
    assert_same(fnp.flatnonzero(x), np.flatnonzero(x))
    assert fnp.isrealobj(x) and not fnp.iscomplexobj(x)
    assert_same(fnp.where(x), np.where(x))
    assert fnp.allclose(x, x) and fnp.array_equal(x, x.copy())
    g = fg.grad(lambda x: x[fnp.nonzero(x)].sum() + float(fnp.allclose(x, 0)))(x)
    assert_same(g, np.array([0.0, 1.0, 1.0]))


def test_result_type_shape_ndim_size_of_traced_values():
    def f(x):
        assert np.result_type(x, 2.0) == np.float32
        assert np.shape(x) == (2, 3) and np.ndim(x) == 2 and np.size(x) == 6
        assert fnp.size(x, 1) == 3 and not np.iscomplexobj(x)
        return x
    fg.make_graph(f)(np.ones((2, 3), np.float32))


def test_stop_gradient_and_empty_like():
    x = np.array([1.0, 2.0])
    g = fg.grad(lambda x: (x * fnp.stop_gradient(x) + fnp.empty_like(x)).sum())(x)
    assert_same(g, x)
    assert_same(fnp.empty_like(x, shape=(3,)), np.zeros(3))


@pytest.mark.parametrize("f,message,eager", [
    (lambda x: fnp.sum(x, axis=2), "axis 2 is out of bounds", True),
    (lambda x: fnp.reshape(x, (5, -1)), "cannot reshape an array of shape (2, 3)", True),
    (lambda x: fnp.einsum("ij,ij->i", x, x.T), "subscript 'i' has sizes 2 and 3", True),
    (lambda x: fnp.stack([x, x.T]), "must have the same shape", True),
    (lambda x: fnp.squeeze(x, 0), "size not equal to one", True),
    (lambda x: fnp.transpose(x, (0, 0)), "don't match", True),
    (lambda x: x.reshape(5, -1), "cannot reshape an array of shape (2, 3)", False),
    (lambda x: x[:, 5], "out of bounds", False),
    (lambda x: np.tensordot(x, x, axes=1), "not aligned", False),
    (lambda x: np.isnat(x), "np.isnat", False),
])
def test_errors_from_funcgrad_numpy_name_the_users_line(f, message, eager):
    line = f"test_numpy.py:{f.__code__.co_firstlineno}"
    runs = [fg.make_graph(f), fg.grad(lambda x: f(x).sum())] + ([f] if eager else [])
    for run in runs:
        with pytest.raises((ValueError, NotImplementedError)) as info:
            run(np.ones((2, 3)))
        assert message in str(info.value) and line in str(info.value), str(info.value)


def test_division_by_a_python_zero_differentiates_like_numpy():
    with np.errstate(divide="ignore"):
        assert fg.grad(lambda x: x / 0)(np.float32(1.0)) == np.float32(np.inf)
        assert fg.grad(lambda x: fnp.var(x, ddof=1))(np.ones(1)).shape == (1,)


# Public functions checked elsewhere, not by a Case: they need concrete values (their outputs'
# shapes depend on values), answer questions about arrays rather than compute arrays, or
# refuse (in place). Each has its own tests (test_arrays.py, test_queries, test_tracing.py).
NO_CASE = {
    # concrete values: output shapes depend on them
    "allclose", "array_equal", "array_equiv", "argwhere", "flatnonzero", "nonzero",
    "intersect1d", "setdiff1d", "setxor1d", "union1d", "unique", "unique_all",
    "unique_counts", "unique_inverse", "unique_values", "trim_zeros", "real_if_close",
    # questions about arrays, and index helpers of shapes (no array input)
    "iscomplexobj", "isrealobj", "isscalar", "iterable", "ndim", "shape", "size",
    "result_type", "shares_memory", "may_share_memory", "broadcast_shapes", "indices", "ix_",
    "diag_indices", "diag_indices_from", "mask_indices", "tril_indices", "tril_indices_from",
    "triu_indices", "triu_indices_from",
    # in place: refused with the functional alternative named
    "copyto", "place", "put", "putmask",
    # conversions and the functional-update helper (tests/test_user_errors.py)
    "array", "asarray", "at",
}


class _Recorder:
    """A stand-in for funcgrad.numpy that notes the names a case reaches."""

    def __init__(self, base, seen: set, prefix: str = ""):
        self._base, self._seen, self._prefix = base, seen, prefix

    def __getattr__(self, name):
        value = getattr(self._base, name)
        self._seen.add(self._prefix + name)
        return value


@settings(max_examples=1, phases=[Phase.generate], database=None)
@given(data=st.data())
def test_every_public_function_has_a_case(data):
    """Generated from the namespace: each public function of funcgrad.numpy (not NumPy's own,
    not a dtype) is called by some Case, so the checks above reach it, or is in NO_CASE."""
    import inspect as _inspect
    seen: set = set()
    for case in CASES:
        args, kw = case.make(data, F64)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            case.fn(_Recorder(fnp, seen), *args, **kw)
    public = {n for n in fnp.__all__
              if callable(getattr(fnp, n)) and not _inspect.isclass(getattr(fnp, n))
              and not _inspect.ismodule(getattr(fnp, n))
              and not str(getattr(getattr(fnp, n), "__module__", "")).startswith("numpy")}
    aliases = {n for n in public - seen
               if any(getattr(fnp, n) is getattr(fnp, m) for m in seen if m in public)}
    missing = sorted(public - seen - aliases - NO_CASE)
    assert not missing, f"funcgrad.numpy functions without a Case: {missing}"
    assert not NO_CASE - public, f"NO_CASE names that are gone: {sorted(NO_CASE - public)}"
