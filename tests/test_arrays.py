"""funcgrad.numpy's array-manipulation long tail (funcgrad/numpy/_arrays.py) beyond the cases of
tests/npcases_arrays.py: r_ and c_, the functions that need concrete values (unique, the set
operations, trim_zeros), partition's guarantees, the index helpers, and the errors of the
in-place functions."""
from __future__ import annotations

import doctest

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
import funcgrad.numpy._arrays
from funcgrad.errors import ConcretizationError
from funcgrad.test_util import check_grads


def same(got, want):
    """Same structure, shapes, dtypes and values."""
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, w in zip(got, want):
            same(g, w)
        return
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (got, want)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_doctests():
    assert doctest.testmod(funcgrad.numpy._arrays).failed == 0


# ---------------------------------------------------------------- r_ and c_

X32 = np.array([1.0, 2.0], np.float32)
A = np.arange(6.0).reshape(2, 3)


@pytest.mark.parametrize("form", [
    lambda m: m.r_[X32, 0, 1:3], lambda m: m.r_[X32, 1.0], lambda m: m.r_[np.float64(1), X32],
    lambda m: m.r_["0,2", [1, 2], [3, 4]], lambda m: m.r_["-1,2,0", [1, 2], [3, 4]],
    lambda m: m.r_[0:1:5j], lambda m: m.r_[-1:1:6j, [0] * 3, 5, 6], lambda m: m.r_["1", A, A],
    lambda m: m.r_["0,3,1", X32, X32], lambda m: m.r_["0,3,-1", X32],
    lambda m: m.r_["0,2,1", 0:3], lambda m: m.r_["0,3,0", 0:3], lambda m: m.r_[True, 2],
    lambda m: m.r_["1,2", X32, X32], lambda m: m.c_[X32, X32], lambda m: m.c_[A, A[:, :1]],
    lambda m: m.c_[1:3, X32], lambda m: m.c_[A, X32.astype(float)],
])
def test_r_and_c_match_numpy(form):
    same(form(fnp), form(np))


def test_r_and_c_trace_and_differentiate():
    x = np.array([1.0, 2.0])
    assert np.array_equal(fg.grad(lambda x: fnp.sum(fnp.r_[x, 2 * x, 0:2] ** 2))(x),
                          [10.0, 20.0])
    same(fg.jit(lambda x: fnp.c_[x, x * 3])(x), np.c_[x, x * 3])
    check_grads(lambda x: fnp.c_["0,2,0", x, x ** 2], (x,), order=2)


def test_r_directive_errors():
    with pytest.raises(ValueError, match="must come first"):
        fnp.r_[X32, "0,2"]
    with pytest.raises(ValueError, match="unknown special directive"):
        fnp.r_["a,b", X32]
    with pytest.raises(NotImplementedError, match="np.matrix"):
        fnp.r_["r", X32]


# ---------------------------------------------------------------- concrete values

def test_unique_matches_numpy_and_carries_derivatives():
    x = np.array([[3.0, 1.0], [3.0, 2.0], [1.0, 2.0]])
    for kw in [{}, {"return_index": True}, {"return_inverse": True}, {"return_counts": True},
               {"return_index": True, "return_inverse": True, "return_counts": True},
               {"axis": 0}, {"axis": 1, "return_counts": True}]:
        same(fnp.unique(x, **kw), np.unique(x, **kw))
    same(fnp.unique_values(x), np.unique_values(x))
    for name in ("unique_counts", "unique_inverse", "unique_all"):
        got, want = getattr(fnp, name)(x), getattr(np, name)(x)
        assert got._fields == want._fields
        same(tuple(got), tuple(want))
    # the derivative goes to each value's first occurrence
    g = fg.grad(lambda x: fnp.sum(fnp.unique(x) * np.array([1.0, 10.0, 100.0])))(x)
    same(g, np.array([[100.0, 1.0], [0.0, 10.0], [0.0, 0.0]]))


def test_unique_needs_concrete_values_or_size():
    x = np.array([3.0, 1.0, 3.0])
    with pytest.raises(ConcretizationError, match=r"unique\(\).*pass size="):
        fg.jit(fnp.unique)(x)
    same(fg.jit(lambda x: fnp.unique(x, size=3))(x), np.array([1.0, 3.0, 1.0]))
    same(fg.jit(lambda x: fnp.unique(x, size=1, return_counts=True))(x),
         (np.array([1.0]), np.array([1])))


@pytest.mark.parametrize("name", ["union1d", "intersect1d", "setdiff1d", "setxor1d"])
@pytest.mark.parametrize("assume_unique", [False, True])
def test_set_operations_match_numpy_and_differentiate(name, assume_unique):
    a = np.array([5.0, 1.0, 3.0, 4.0])
    b = np.array([[3.0, 7.0], [2.0, 5.0]])
    if name == "union1d":
        if assume_unique:
            return
        f, kw = fnp.union1d, {}
    else:
        f, kw = getattr(fnp, name), {"assume_unique": assume_unique}
    same(f(a, b, **kw), getattr(np, name)(a, b, **kw))
    same(f(a.astype(np.float32), b, **kw), getattr(np, name)(a.astype(np.float32), b, **kw))
    # each output's derivative goes to one entry holding its value (finite differences would
    # split the repeated values)
    ga, gb = fg.grad(lambda a, b: fnp.sum(f(a, b, **kw) ** 2), argnums=(0, 1))(a, b)
    assert np.array_equal(ga[ga != 0], 2 * a[ga != 0])
    assert np.array_equal(gb[gb != 0], 2 * b[gb != 0])
    assert np.array_equal(np.sort(np.r_[ga[ga != 0], gb[gb != 0]]) / 2, f(a, b, **kw))
    with pytest.raises(ConcretizationError, match=f"{name}"):
        fg.jit(lambda a: f(a, b, **kw))(a)


def test_intersect1d_return_indices_and_isin():
    a, b = np.array([5.0, 1.0, 3.0, 1.0]), np.array([3.0, 1.0])
    same(fnp.intersect1d(a, b, return_indices=True), np.intersect1d(a, b, return_indices=True))
    same(fg.jit(fnp.isin)(a, b), np.isin(a, b))
    assert not hasattr(np, "in1d") and not hasattr(fnp, "in1d")   # gone in NumPy 2.4


@pytest.mark.parametrize("x,kw", [
    ([0.0, 0.0, 1.0, 0.0, 2.0, 0.0], {}), ([0.0, 1.0, 0.0], {"trim": "f"}),
    ([0.0, 1.0, 0.0], {"trim": "b"}), ([0.0, 0.0], {}),
    ([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.0]], {}),
    ([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]], {"axis": 0}),
    ([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]], {"axis": -1, "trim": "b"}),
])
def test_trim_zeros(x, kw):
    x = np.array(x)
    same(fnp.trim_zeros(x, **kw), np.trim_zeros(x, **kw))
    g = fg.grad(lambda x: fnp.sum(fnp.trim_zeros(x, **kw) ** 2))(x)
    same(g, 2 * x)
    with pytest.raises(ConcretizationError, match="trim_zeros"):
        fg.jit(fnp.trim_zeros)(x)


def test_delete_insert_with_traced_positions_need_concrete_values():
    x = np.array([1.0, 2.0, 3.0])
    same(fg.grad(lambda x: fnp.sum(fnp.delete(x, fnp.argmax(x)) ** 2))(x),
         np.array([2.0, 4.0, 0.0]))
    with pytest.raises(ConcretizationError, match="delete"):
        fg.jit(lambda x: fnp.delete(x, fnp.argmax(x)))(x)
    same(fnp.insert(x, [1, 1, 3], [7.0, 8.0, 9.0]), np.insert(x, [1, 1, 3], [7.0, 8.0, 9.0]))
    same(fnp.insert(x.astype(np.float32), 0, 5), np.insert(x.astype(np.float32), 0, 5))
    check_grads(lambda x, v: fnp.insert(x, [2, 0], v), (x, np.array([4.0, 5.0])), order=1)


# ---------------------------------------------------------------- partition

@pytest.mark.parametrize("kth", [0, 2, -1, (1, 3)])
def test_partition_has_numpy_values_at_kth_and_the_partition_property(kth):
    x = np.random.default_rng(0).normal(size=(3, 5))
    got, want = fnp.partition(x, kth, axis=1), np.partition(x, kth, axis=1)
    idx = fnp.argpartition(x, kth, axis=1)
    for k in np.atleast_1d(kth) % 5:
        same(got[:, k], want[:, k])
        same(np.take_along_axis(x, idx, 1)[:, k], want[:, k])
        assert np.all(got[:, :k] <= got[:, k:k + 1]) and np.all(got[:, k:] >= got[:, k:k + 1])
    check_grads(lambda x: fnp.partition(x, kth, axis=1), (x,), order=2)
    with pytest.raises(ValueError, match="out of bounds"):
        fnp.partition(x, 5)


# ---------------------------------------------------------------- index helpers and queries

def test_index_helpers_match_numpy():
    same(fnp.indices((2, 3)), np.indices((2, 3)))
    same(fnp.indices((2, 3), sparse=True), np.indices((2, 3), sparse=True))
    same(fnp.ix_([0, 1], [True, False, True]), np.ix_([0, 1], [True, False, True]))
    same(fnp.ix_([]), np.ix_([]))
    same(fnp.unravel_index([5, 1], (2, 3)), np.unravel_index([5, 1], (2, 3)))
    same(fnp.ravel_multi_index(([1, 0], [2, 1]), (2, 3)), np.ravel_multi_index(([1, 0], [2, 1]),
                                                                               (2, 3)))
    for k in (-1, 0, 2):
        same(fnp.tril_indices(3, k, 4), np.tril_indices(3, k, 4))
        same(fnp.triu_indices(3, k), np.triu_indices(3, k))
        same(fnp.tril_indices_from(np.ones((3, 4)), k), np.tril_indices_from(np.ones((3, 4)), k))
        same(fnp.triu_indices_from(np.ones((4, 3)), k), np.triu_indices_from(np.ones((4, 3)), k))
        same(fnp.mask_indices(3, np.triu, k), np.mask_indices(3, np.triu, k))
        same(fnp.mask_indices(3, fnp.tril, k), np.mask_indices(3, np.tril, k))
    same(fnp.diag_indices(3, 3), np.diag_indices(3, 3))
    same(fnp.diag_indices_from(np.ones((2, 2, 2))), np.diag_indices_from(np.ones((2, 2, 2))))
    with pytest.raises(ValueError, match="equal length"):
        fnp.diag_indices_from(np.ones((2, 3)))


def test_index_helpers_take_traced_values():
    def f(x):
        rows, cols = fnp.ix_(fnp.argsort(x), np.array([0, 2]))
        i, j = fnp.tril_indices_from(fnp.outer(x, x))
        return fnp.outer(x, x)[rows, cols].sum() + fnp.outer(x, x)[i, j].sum()
    x = np.array([3.0, 1.0, 2.0])
    check_grads(f, (x,), order=2)
    same(fg.jit(f)(x), f(x))


def test_predicates_and_memory_queries():
    x = np.ones(3)
    assert fnp.isscalar(3.0) and fnp.isscalar(np.float32(1)) and not fnp.isscalar(x)
    assert fnp.iterable(x) and not fnp.iterable(2.0) and fnp.iterable([1])
    assert fnp.shares_memory(x, x[1:]) and not fnp.may_share_memory(x, np.ones(3))
    assert fnp.array_equiv(np.ones((2, 2)), [1.0, 1.0]) and not fnp.array_equiv(x, [1, 2])
    assert fnp.broadcast_shapes((2, 1), (3,), ()) == (2, 3)

    def f(x):
        assert not fnp.isscalar(x[0]) and fnp.iterable(x) and not fnp.iterable(x[0])
        assert not fnp.shares_memory(x, x) and not fnp.may_share_memory(x, x)
        assert not np.shares_memory(x, x)      # through __array_function__
        return x
    fg.jit(f)(x)


def test_vectorize_forms():
    x, y = np.array([[1.0, -2.0], [3.0, 0.5]]), np.array([2.0, -1.0])
    f = lambda a, b: fnp.where(a > b, a - b, b * a)
    same(fnp.vectorize(f)(x, y), np.vectorize(f)(x, y))
    same(fnp.vectorize(f, otypes=[np.float32])(x, y), np.vectorize(f, otypes=[np.float32])(x, y))
    g = lambda a, b, scale: a * scale + b
    same(fnp.vectorize(g, excluded={2})(x, y, 3.0), np.vectorize(g, excluded={2})(x, y, 3.0))
    same(fnp.vectorize(g)(x, y, scale=y), np.vectorize(g)(x, y, scale=y))
    dec = fnp.vectorize(signature="(n)->(n)")(lambda a: a / fnp.sum(a))
    same(dec(x + 3), np.vectorize(lambda a: a / np.sum(a), signature="(n)->(n)")(x + 3))
    check_grads(lambda x: fg.jit(fnp.vectorize(lambda a: fnp.sin(a) * a))(x), (x,), order=2)
    with pytest.raises(ValueError, match="inconsistent size for core dimension 'n'"):
        fnp.vectorize(lambda a, b: a @ b, signature="(n),(n)->()")(np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match="not a valid gufunc signature"):
        fnp.vectorize(f, signature="(n)->")


def test_functions_that_need_each_rows_values_run_row_by_row():
    x = np.array([[1.0, -2.0], [-3.0, 0.5]])
    step = lambda a: a * 2.0 if a > 0 else a * a
    same(fnp.vectorize(step)(x), np.vectorize(step)(x))
    same(fg.grad(lambda x: fnp.sum(fnp.vectorize(step)(x)))(x),
         np.array([[2.0, -4.0], [-6.0, 2.0]]))
    first = lambda r: float(r[0]) + r[1]
    same(fnp.apply_along_axis(first, 1, x), np.apply_along_axis(first, 1, x))
    same(fg.grad(lambda x: fnp.sum(fnp.apply_along_axis(lambda r: r[0] * r[1] if r[0] > 0
                                                        else r[1], 1, x)))(x),
         np.array([[-2.0, 1.0], [0.0, 1.0]]))
    with pytest.raises(ConcretizationError):
        fg.jit(fnp.vectorize(step))(x)


def test_apply_along_axis_matches_numpy_on_plain_numpy_code():
    x = np.arange(24.0).reshape(2, 3, 4)
    for axis in (0, 1, -1):
        same(fnp.apply_along_axis(np.diff, axis, x), np.apply_along_axis(np.diff, axis, x))
        same(fnp.apply_along_axis(lambda r: np.outer(r, r), axis, x),
             np.apply_along_axis(lambda r: np.outer(r, r), axis, x))
    same(fnp.apply_over_axes(np.mean, x, (0, -1)), np.apply_over_axes(np.mean, x, (0, -1)))


def test_dtypes_of_sort_complex_and_the_gufuncs():
    for dt in (np.int8, np.uint16, np.int32, np.int64, np.bool_, np.float32, np.complex64):
        x = np.array([3, 1, 2]).astype(dt)
        same(fnp.sort_complex(x), np.sort_complex(x))
    z = np.array([1 + 2j, 3 - 1j])
    m = np.array([[1.0, 2j], [0.5, -1.0]])
    same(fnp.vecmat(z, m), np.vecmat(z, m))
    same(fnp.matvec(m, z), np.matvec(m, z))
    same(fnp.matvec(m.real.astype(np.float32), np.ones(2, np.float32)),
         np.matvec(m.real.astype(np.float32), np.ones(2, np.float32)))


def test_choose_and_misc_errors():
    with pytest.raises(ValueError, match="invalid entry in choice array"):
        fnp.choose([0, 3], [np.ones(2), np.zeros(2)])
    with pytest.raises(ValueError, match="len\\(axes\\) must be 2"):
        fnp.rot90(np.ones((2, 2)), axes=(0,))
    with pytest.raises(ValueError, match="axes must be different"):
        fnp.rot90(np.ones((2, 2)), axes=(1, -1))
    with pytest.raises(ValueError, match="vsplit only works on arrays of 2 or more"):
        fnp.vsplit(np.ones(4), 2)
    with pytest.raises(TypeError, match="tuple"):
        fnp.block(([np.ones(2)],))
    with pytest.raises(ValueError, match="depths are mismatched"):
        fnp.block([np.ones(2), [np.ones(2)]])
    with pytest.raises(IndexError, match="condition has 3 entries"):
        fnp.compress([True, False, True], np.ones(2))
    with pytest.raises(ValueError, match="core dimension mismatch"):
        fnp.matvec(np.ones((2, 3)), np.ones(2))


# ---------------------------------------------------------------- in-place functions

@pytest.mark.parametrize("call,advice", [
    (lambda m, x: m.put_along_axis(x, np.array([[0]]), 1.0, 1), "inplace=False"),
    (lambda m, x: m.fill_diagonal(x, 1.0), "inplace=False"),
    (lambda m, x: m.copyto(x, 1.0), "fnp.where(mask, src, dst)"),
    (lambda m, x: m.place(x, x > 0, [1.0]), ".at[fnp.nonzero(mask)].set(vals)"),
    (lambda m, x: m.put(x, [0], 1.0), ".at[ind].set(v)"),
    (lambda m, x: m.putmask(x, x > 0, 1.0), "fnp.where(mask, values, a)"),
])
def test_in_place_functions_raise_with_the_functional_alternative(call, advice):
    x = np.ones((2, 2))
    with pytest.raises(TypeError, match="in place") as info:
        call(fnp, x)
    assert advice in str(info.value) and "test_arrays.py" in str(info.value)

    def through_numpy(x):
        call(np, x)
    with pytest.raises(TypeError, match="in place") as info:
        fg.jit(through_numpy)(x)
    assert advice in str(info.value)


def test_functional_put_along_axis_and_fill_diagonal_trace():
    x = np.arange(6.0).reshape(2, 3)
    idx = np.array([[2], [0]])

    def f(x, v):
        y = fnp.put_along_axis(x, idx, v, 1, inplace=False)
        return fnp.fill_diagonal(y, v[0, 0] * 2, inplace=False)
    want = x.copy()
    np.put_along_axis(want, idx, np.array([[7.0], [8.0]]), 1)
    np.fill_diagonal(want, 14.0)
    same(fg.jit(f)(x, np.array([[7.0], [8.0]])), want)
    check_grads(f, (x, np.array([[7.0], [8.0]])), order=2)
    # axis=None puts into the flattened array
    want = x.copy()
    np.put_along_axis(want, np.array([4, 0]), 9.0, None)
    same(fnp.put_along_axis(x, np.array([4, 0]), 9.0, None, inplace=False), want)
