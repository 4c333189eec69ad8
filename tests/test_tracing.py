"""The traced-array surface: operators, indexing, methods, functional updates, plain NumPy code
traced through __array_ufunc__/__array_function__, and the errors users meet (with their line).
"""
from __future__ import annotations

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import tree
from funcgrad.core.trace import Tracer
from funcgrad.errors import ConcretizationError
from funcgrad.test_util import check_grads
from funcgrad.transforms.interpret import eval_graph

RNG = np.random.default_rng(0)
X = RNG.normal(size=(3, 4))
Y = RNG.normal(size=(4,))
B = RNG.normal(size=(3, 4)) > 0
THIS_FILE = "test_tracing.py"


def run_traced(f, *args):
    """f traced by make_graph and evaluated by eval_graph."""
    graph = fg.make_graph(f)(*args)
    outs = eval_graph(graph, [np.asarray(a) for a in tree.leaves(args)])
    return tree.unflatten(graph.info["out_tree"], outs)


def assert_same(got, want):
    for g, w in zip(tree.leaves(got), tree.leaves(want), strict=True):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


def prims(f, *args) -> list[str]:
    return [e.primitive.name for e in fg.make_graph(f)(*args).eqns]


def line_of(f, offset: int = 1) -> str:
    """'test_tracing.py:N' for the line `offset` lines below `def f`."""
    return f"{THIS_FILE}:{f.__code__.co_firstlineno + offset}"


# ---------------------------------------------------------------- operators

OPERATORS = [  # (operation, differentiable)
    (lambda x, y: x + y, 1), (lambda x, y: x - y, 1), (lambda x, y: x * y, 1),
    (lambda x, y: x / y, 1), (lambda x, y: x // y, 0), (lambda x, y: x % y, 1),
    (lambda x, y: abs(x) ** y, 1), (lambda x, y: -x, 1), (lambda x, y: abs(x), 1),
    (lambda x, y: +x, 1), (lambda x, y: x < y, 0), (lambda x, y: x <= y, 0),
    (lambda x, y: x > y, 0), (lambda x, y: x >= y, 0), (lambda x, y: x == y, 0),
    (lambda x, y: x != y, 0), (lambda x, y: (x > 0) & (y > 0), 0),
    (lambda x, y: (x > 0) | (y > 0), 0), (lambda x, y: (x > 0) ^ (y > 0), 0),
    (lambda x, y: ~(x > 0), 0), (lambda x, y: (x > 0) & True, 0), (lambda x, y: 2.0 * x, 1),
    (lambda x, y: 1 - y, 1), (lambda x, y: 3.0 / y, 1), (lambda x, y: 2 ** y, 1),
    (lambda x, y: 7.0 // y, 0), (lambda x, y: 5.0 % y, 1), (lambda x, y: 0.5 < x, 0),
    (lambda x, y: x @ y, 1), (lambda x, y: y @ x.T, 1), (lambda x, y: divmod(x, 0.7), 0),
    (lambda x, y: np.ones((2, 3)) @ x, 1), (lambda x, y: np.ones(4) + x, 1),
    (lambda x, y: np.float32(2) * y, 1), (lambda x, y: [1.0, 2.0, 3.0, 4.0] * y, 1),
]


@pytest.mark.parametrize("op,differentiable", OPERATORS)
def test_operators_match_numpy(op, differentiable):
    assert_same(run_traced(op, X, Y), op(X, Y))
    if differentiable:
        check_grads(op, (X, Y), order=1)


def test_python_round_rounds_like_numpy():
    assert_same(run_traced(lambda x: round(x), X), np.round(X))
    assert_same(run_traced(lambda x: round(x, 1), X), np.round(X, 1))


def test_bitwise_operators_on_integers_are_bitwise_not_logical():
    i = np.arange(-2, 5)
    for op in (lambda a: a & 6, lambda a: a | 1, lambda a: a ^ 3, lambda a: ~a,
               lambda a: a << 2, lambda a: a >> 1, lambda a: 5 & a):
        got = fg.jit(op)(i)
        np.testing.assert_array_equal(got, op(i))
        assert got.dtype == op(i).dtype


# ---------------------------------------------------------------- indexing

INDICES = [
    1, -1, (0, 2), (-1, -2), slice(1, None), slice(None, None, -1), (slice(None), slice(1, 3)),
    (slice(None, None, 2), -1), None, (None, 0), (Ellipsis, 1), (0, Ellipsis), (Ellipsis, None),
    [0, 2, 2], np.array([-1, 0]), (np.array([0, 2]), np.array([1, 3])),
    (slice(None), np.array([3, 0, 3])), (np.array([[0], [2]]), np.array([1, 2])),
    (np.array([0, 1]), slice(None), None), B, B[:, 0], (B[:, 0], slice(1, 3)),
    np.array(2), (np.int64(1), slice(-3, None)),
]


@pytest.mark.parametrize("i", range(len(INDICES)))
def test_indexing_matches_numpy_and_differentiates(i):
    idx = INDICES[i]
    assert_same(fg.jvp(lambda x: x[idx], (X,), (X,))[0], X[idx])
    parts = idx if isinstance(idx, tuple) else (idx,)
    if not any(np.asarray(j).dtype == np.bool_ for j in parts if j is not None and
               j is not Ellipsis and not isinstance(j, slice)):  # masks need concrete values
        assert_same(run_traced(lambda x: x[idx], X), X[idx])
    check_grads(lambda x: x[idx], (X,), order=1)
    g = fg.grad(lambda x: (x[idx] ** 2).sum())(X)
    expected = np.zeros_like(X)
    np.add.at(expected, idx, 2 * X[idx])
    assert_same(g, expected)


def test_boolean_mask_needs_concrete_values_and_traced_integer_indices_work():
    def f(x):
        return x[x > 0].sum()
    assert_same(fg.grad(f)(X), (X > 0).astype(float))
    with pytest.raises(ConcretizationError, match="boolean mask") as info:
        fg.make_graph(f)(X)
    assert "where" in str(info.value)
    assert_same(run_traced(lambda x, i: x[i, -i], X, 2), X[2, -2])
    assert_same(run_traced(lambda x, i: x[:, i], X, np.array([3, 1])), X[:, [3, 1]])
    g = fg.grad(lambda x, i: x[i].sum())(X, np.array([0, 0, 2]))
    assert_same(g, np.array([[2.0] * 4, [0.0] * 4, [1.0] * 4]))


def _updates(x, at):
    """The same functional updates, written with `at(x)[idx]` (x.at on traced values)."""
    a = at(x)[0].set(1.0)
    b = at(a)[1, 1:].add(10.0)
    c = at(b)[[2, 2], 0].add(np.array([1.0, 2.0]))      # repeated indices accumulate
    d = at(at(at(c)[-1].multiply(3.0))[0].max(1.5))[1, 0].min(-5.0)
    return d, at(d)[1:].get(), at(x)[:, 0].set(x[:, 1]) / at(x)[0, 0].divide(2.0)


class _NumpyAt:
    """In-place NumPy on a copy: the reference for x.at[idx].op(v)."""

    def __init__(self, x, idx=None):
        self.x, self.idx = x, idx

    def __getitem__(self, idx):
        return _NumpyAt(self.x, idx)

    def _apply(self, f):
        out = self.x.copy()
        f(out)
        return out

    def get(self):
        return self.x[self.idx]

    def set(self, v):
        return self._apply(lambda o: o.__setitem__(self.idx, v))

    def add(self, v):
        return self._apply(lambda o: np.add.at(o, self.idx, v))

    def multiply(self, v):
        return self._apply(lambda o: np.multiply.at(o, self.idx, v))

    def divide(self, v):
        return self._apply(lambda o: np.divide.at(o, self.idx, v))

    def max(self, v):
        return self._apply(lambda o: np.maximum.at(o, self.idx, v))

    def min(self, v):
        return self._apply(lambda o: np.minimum.at(o, self.idx, v))


def test_functional_updates_with_at():
    def f(x):
        return _updates(x, lambda a: a.at)
    want = _updates(X, _NumpyAt)
    assert_same(run_traced(f, X), want)
    t = RNG.normal(size=X.shape)
    out, t_out = fg.jvp(f, (X,), (t,))
    assert_same(out, want)
    eps = 1e-6
    fd = [(p - m) / (2 * eps) for p, m in zip(_updates(X + eps * t, _NumpyAt),
                                              _updates(X - eps * t, _NumpyAt))]
    for got, expected in zip(t_out, fd):
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    ct = [RNG.normal(size=np.shape(o)) for o in want]
    (g,) = fg.vjp(f, X)[1](tuple(ct))
    assert np.isclose(np.sum(g * t), sum(np.sum(c * d) for c, d in zip(ct, fd)))
    g = fg.grad(lambda x, v: x.at[1].set(v).sum(), argnums=(0, 1))(X, 2.0)
    assert_same(g[0], np.array([[1.0] * 4, [0.0] * 4, [1.0] * 4]))
    assert_same(g[1], np.array(4.0))


def test_setitem_raises_type_error_pointing_to_at():
    def f(x):
        x[0] = 1.0
        return x
    with pytest.raises(TypeError, match=r"\.at\[idx\]\.set"):
        fg.make_graph(f)(X)
    with pytest.raises(TypeError, match=r"\.at\[idx\]"):
        fg.grad(lambda x: f(x).sum())(X)


# ---------------------------------------------------------------- attributes and methods

def test_attributes_len_and_iteration():
    def f(x):
        assert isinstance(x, Tracer)
        assert x.shape == (3, 4) and x.ndim == 2 and x.size == 12 and len(x) == 3
        assert x.dtype == np.float32 and x.T.shape == (4, 3) and x.mT.shape == (4, 3)
        assert x.itemsize == 4 and x.nbytes == 48
        rows = [r * k for k, r in enumerate(x)]
        return fnp.stack(rows) + x.T.T + x.real
    x32 = X.astype(np.float32)
    want = np.stack([r * k for k, r in enumerate(x32)]) + 2 * x32
    assert_same(run_traced(f, x32), want)
    with pytest.raises(TypeError, match="len"):
        fg.make_graph(lambda x: len(x.sum()))(X)


METHODS = [  # name, args, kwargs
    ("sum", (), {}), ("sum", (0,), {"keepdims": True}), ("sum", (), {"axis": (0, 1)}),
    ("mean", (1,), {}), ("max", (), {}), ("max", (), {"axis": 0}), ("min", (-1,), {}),
    ("prod", (), {"axis": 1}), ("var", (), {"ddof": 1}), ("std", (0,), {}),
    ("reshape", (2, 6), {}), ("reshape", ((6, 2),), {}), ("reshape", (-1,), {}),
    ("reshape", ([4, 3],), {}),
    ("transpose", (), {}), ("transpose", (1, 0), {}), ("transpose", ((1, 0),), {}),
    ("astype", (np.float32,), {}), ("squeeze", (), {}), ("ravel", (), {}),
    ("flatten", (), {}), ("clip", (-0.5, 0.5), {}), ("clip", (), {"min": 0.0}),
    ("dot", (Y,), {}), ("argmax", (), {}), ("argmax", (), {"axis": 1}), ("argmin", (0,), {}),
    ("cumsum", (), {}), ("cumsum", (1,), {}), ("cumprod", (0,), {}), ("swapaxes", (0, 1), {}),
    ("any", (), {}), ("all", (1,), {}), ("take", ([0, 5],), {}), ("take", ([1],), {"axis": 1}),
    ("repeat", (2,), {"axis": 0}), ("diagonal", (), {}), ("trace", (), {}),
    ("round", (1,), {}), ("copy", (), {}), ("conj", (), {}), ("argsort", (), {"axis": 0}),
]


@pytest.mark.parametrize("name,args,kwargs", METHODS)
def test_methods_match_numpy(name, args, kwargs):
    def f(x):
        return getattr(x, name)(*args, **kwargs)
    want = f(X)
    assert_same(run_traced(f, X), want)
    if np.asarray(want).dtype.kind == "f" and name not in ("round", "argsort"):
        check_grads(f, (X,), order=1)


def test_sort_item_and_tolist():
    assert_same(run_traced(lambda x: x.sort(axis=0), X), np.sort(X, axis=0))
    # item() and tolist() of a value being differentiated would drop its derivative: they
    # raise; of a stopped value they are constants
    with pytest.raises(ConcretizationError, match=r"item\(\).*stop_gradient"):
        fg.grad(lambda x: x * x.sum().item())(2.0)
    with pytest.raises(ConcretizationError, match=r"tolist\(\)"):
        fg.grad(lambda x: (x * len(x.tolist())).sum())(np.ones(3))
    assert fg.grad(lambda x: x * fg.stop_gradient(x.sum()).item())(2.0) == 2.0
    assert fg.grad(lambda x: (x * len(fg.stop_gradient(x).tolist())).sum())(
        np.ones(3)).tolist() == [3.0] * 3
    with pytest.raises(ConcretizationError, match=r"item\(\)"):
        fg.make_graph(lambda x: x.sum().item())(X)
    assert fg.grad(lambda x: float(f"{x.sum():.1f}") * x)(3.0) == 3.0    # f-strings format
    with pytest.raises(ConcretizationError, match="formatting"):
        fg.make_graph(lambda x: f"{x.sum():.3f}")(X)


# ---------------------------------------------------------------- plain NumPy code

def test_plain_numpy_mlp_traces_to_three_primitives():
    w, x = RNG.normal(size=(4, 2)), X
    assert prims(lambda w, x: np.tanh(x @ w).sum(), w, x) == ["dot_general", "tanh",
                                                             "reduce_sum"]
    g = fg.grad(lambda w, x: np.tanh(x @ w).sum())(w, x)
    assert_same(g, x.T @ (1 - np.tanh(x @ w) ** 2))


@pytest.mark.parametrize("f,expected", [
    (lambda x, y: np.sin(x), ["sin"]),
    (lambda x, y: np.sum(x, axis=0, keepdims=True), ["reduce_sum", "reshape"]),
    (lambda x, y: np.dot(x, y), ["dot_general"]),
    (lambda x, y: np.where(x > 0, x, y), ["gt", "select"]),
    (lambda x, y: np.concatenate([x, x], axis=1), ["concatenate"]),
    (lambda x, y: np.stack([y, y]), ["reshape", "reshape", "concatenate"]),
    (lambda x, y: np.mean(x), ["reduce_sum", "div"]),
    (lambda x, y: np.maximum(x, 0.0), ["max"]),
    (lambda x, y: np.exp(x).sum(), ["exp", "reduce_sum"]),
    (lambda x, y: np.einsum("ij,j->i", x, y), ["dot_general"]),
    (lambda x, y: np.add.reduce(x, axis=1), ["reduce_sum"]),
    (lambda x, y: np.add.accumulate(y), ["cumsum"]),
    (lambda x, y: np.multiply.outer(y, y), ["reshape", "mul"]),
    (lambda x, y: np.add(x, y, dtype=np.float32), ["convert_element_type",
                                                   "convert_element_type", "add"]),
    (lambda x, y: np.round(x, 2), ["mul", "round", "div"]),
])
def test_numpy_functions_trace_to_primitives(f, expected):
    assert prims(f, X, Y) == expected
    assert_same(run_traced(f, X, Y), f(X, Y))


def test_numpy_calls_on_tracers_return_tracers():
    def f(x):
        for out in (np.sum(x), np.mean(x), np.max(x), x.sum(), np.linalg.norm(x),
                    np.sin(x), np.median(x), np.abs(x)):
            assert isinstance(out, Tracer)
        return np.sum(x)
    fg.make_graph(f)(X)
    fg.grad(f)(X)
    assert "sqrt" in prims(lambda x: np.linalg.norm(x), X)


@pytest.mark.parametrize("f,name", [
    (lambda x: np.isnat(x), "np.isnat"),
    (lambda x: np.sin(x, where=x > 0), "np.sin with ['where']"),
    (lambda x: np.add.reduceat(x, [0, 1]), "np.add.reduceat"),
])
def test_unsupported_numpy_functions_are_named(f, name):
    with pytest.raises(NotImplementedError, match=None) as info:
        fg.make_graph(f)(X)
    assert name in str(info.value)
    with pytest.raises(NotImplementedError):
        fg.grad(lambda x: f(x).sum())(X)


def test_in_place_numpy_calls_raise_type_error():
    buf = np.zeros((3, 4))
    for f in (lambda x: np.add(x, x, out=buf), lambda x: np.sum(x, out=buf[0, 0]),
              lambda x: np.add.at(x, [0], 1.0), lambda x: np.exp(x, out=(buf,))):
        with pytest.raises(TypeError, match="in place"):
            fg.make_graph(f)(X)


# ---------------------------------------------------------------- errors

def test_matmul_shape_error_names_both_shapes_and_the_users_line():
    def f(a, b):
        return a @ b
    with pytest.raises(ValueError) as info:
        fg.make_graph(f)(np.ones((3, 4)), np.ones((5, 2)))
    msg = str(info.value)
    assert "(3, 4)" in msg and "(5, 2)" in msg and line_of(f) in msg

    def g(a, b):
        return np.dot(a, b) + np.matmul(b, a)
    with pytest.raises(ValueError, match=line_of(g)):
        fg.make_graph(g)(np.ones((2, 3)), np.ones((2, 3)))


def test_broadcast_error_names_shapes_and_line():
    def f(a, b):
        return np.add(a, b)
    with pytest.raises(ValueError) as info:
        fg.make_graph(f)(np.ones(3), np.ones(4))
    assert "(3,)" in str(info.value) and "(4,)" in str(info.value)
    assert line_of(f) in str(info.value)


def _branch(x):
    if x.sum() > 0:
        return x
    return -x


def _to_float(x):
    return float(x[0, 0]) * x


def _as_array(x):
    return np.asarray(x) * 2


def _as_index(x):
    return x[int(x[0, 0])]


def _as_range(x):
    return [x for _ in range(x.shape[0] + x[0, 0].astype(int))]


@pytest.mark.parametrize("f,operation", [
    (_branch, "bool()"), (_to_float, "float()"), (_as_array, "np.asarray()"),
    (_as_index, "int()"), (_as_range, "index"),
])
def test_concretization_errors_name_the_operation_and_line(f, operation):
    with pytest.raises(ConcretizationError) as info:
        fg.make_graph(f)(X)
    assert isinstance(info.value, TypeError)
    msg = str(info.value)
    assert operation in msg and line_of(f) in msg, msg


def test_concrete_values_are_usable_without_jit():
    """Under grad values are concrete: Python control flow on them works, as in PyTorch;
    conversions that would drop the derivative (float(), np.asarray) raise."""
    assert_same(fg.grad(lambda x: _branch(x).sum())(X), np.sign(X.sum()) * np.ones_like(X))
    with pytest.raises(ConcretizationError, match="float"):
        fg.grad(lambda x: _to_float(x).sum())(X)
    assert_same(fg.grad(lambda x: _to_float(fg.stop_gradient(x)).sum())(X),
                np.zeros_like(X))
    with pytest.raises(ConcretizationError, match="np.asarray"):
        fg.grad(lambda x: _as_array(x).sum())(X)    # would silently drop the gradient
