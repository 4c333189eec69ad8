"""Cases for funcgrad/numpy/_arrays.py (the array-manipulation long tail), run by
tests/test_numpy.py against NumPy, finite differences and the transformations."""
from __future__ import annotations

import numpy as np
from test_numpy import XY, Case, Fixed, X

import funcgrad.numpy as fnp

_IDX = np.array([[1], [0], [2]])


def _put_along_axis_ref(x, y):
    x = x.copy()
    np.put_along_axis(x, _IDX, y, 1)
    return x


def _fill_diagonal_ref(wrap):
    def ref(x, v):
        x = x.copy()
        np.fill_diagonal(x, v, wrap=wrap)
        return x
    return ref


def _unique_sized_ref(x):
    u, i, inv, c = np.unique(np.round(x), return_index=True, return_inverse=True,
                             return_counts=True)
    pad = 6 - u.size
    return (np.concatenate([u, np.full(pad, u[0])]), np.concatenate([i, np.zeros(pad, int)]),
            inv.reshape(x.shape), np.concatenate([c, np.zeros(pad, int)]))


CASES = [
    Case("hsplit", lambda m, x: m.hsplit(x, 2), Fixed((3, 4))),
    Case("hsplit(1d)", lambda m, x: m.hsplit(x, [1, 4]), Fixed((6,))),
    Case("vsplit", lambda m, x: m.vsplit(x, [1]), Fixed((4, 3))),
    Case("dsplit", lambda m, x: m.dsplit(x, 2), Fixed((2, 2, 4))),
    Case("rot90", lambda m, x: m.rot90(x), X(min_dims=2)),
    Case("rot90(k=2)", lambda m, x: m.rot90(x, 2), X(min_dims=2)),
    Case("rot90(k=3,axes)", lambda m, x: m.rot90(x, 3, axes=(2, 0)), Fixed((2, 3, 4))),
    Case("rot90(k=-1,axes)", lambda m, x: m.rot90(x, -1, axes=(-1, 1)), Fixed((2, 3, 4))),
    Case("block", lambda m, x, y: m.block([[x, y], [x[:1], y[:1]]]), Fixed((2, 2), (2, 1))),
    Case("block(1d)", lambda m, x, y: m.block([x, 2.0, y]), Fixed((2,), (3,))),
    Case("block(3d)", lambda m, x, y: m.block([[[x], [y]]]), Fixed((2, 3), (1, 3))),
    Case("concat", lambda m, x: m.concat([x, 2 * x], axis=-1), X(min_dims=1)),
    Case("unstack", lambda m, x: m.unstack(x, axis=1), Fixed((2, 3, 2))),
    Case("rollaxis", lambda m, x: m.rollaxis(x, 2, 1), Fixed((2, 3, 4))),
    Case("rollaxis(start)", lambda m, x: m.rollaxis(x, 0, 3), Fixed((2, 3, 4))),
    Case("resize", lambda m, x: m.resize(x, (3, 5)), X()),
    Case("delete", lambda m, x: m.delete(x, 1, axis=0), Fixed((3, 2))),
    Case("delete(None)", lambda m, x: m.delete(x, [0, 2]), Fixed((2, 2))),
    Case("delete(slice)", lambda m, x: m.delete(x, slice(0, None, 2), axis=1), Fixed((2, 5))),
    Case("delete(mask)", lambda m, x: m.delete(x, np.array([True, False, True]), 0),
         Fixed((3,))),
    Case("insert", lambda m, x: m.insert(x, 1, 5.0), Fixed((3,))),
    Case("insert(seq,axis)", lambda m, x, y: m.insert(x, [0, 2], y, axis=1),
         Fixed((2, 3), (2,))),
    Case("insert(scalar,axis)", lambda m, x, y: m.insert(x, 1, y, axis=0), Fixed((3, 2), (2,))),
    Case("insert(None)", lambda m, x, y: m.insert(x, [3, 1], y), Fixed((2, 2), (2,))),
    Case("diagflat", lambda m, x: m.diagflat(x), Fixed((2, 2))),
    Case("diagflat(k)", lambda m, x: m.diagflat(x, -1), Fixed((3,))),
    Case("put_along_axis", lambda m, x, y: fnp.put_along_axis(x, _IDX, y, 1, inplace=False),
         Fixed((3, 4), (3, 1)), ref=_put_along_axis_ref, through_numpy=False),
    Case("fill_diagonal", lambda m, x, v: fnp.fill_diagonal(x, v, inplace=False),
         Fixed((3, 3), ()), ref=_fill_diagonal_ref(False), through_numpy=False),
    Case("fill_diagonal(wrap)", lambda m, x, v: fnp.fill_diagonal(x, v, wrap=True,
                                                                  inplace=False),
         Fixed((7, 2), (2,)), ref=_fill_diagonal_ref(True), through_numpy=False),
    Case("fill_diagonal(3d)", lambda m, x, v: fnp.fill_diagonal(x, v, inplace=False),
         Fixed((2, 2, 2), (3,)), ref=_fill_diagonal_ref(False), through_numpy=False),
    Case("unravel_index", lambda m, x: m.unravel_index(m.argsort(x), (2, 3)), Fixed((6,)),
         grad=False),
    Case("unravel_index(F)", lambda m, x: m.unravel_index(m.argsort(x), (3, 2), order="F"),
         Fixed((6,)), grad=False),
    Case("ravel_multi_index", lambda m, x: m.ravel_multi_index(
        (m.argsort(x), m.argsort(-x)), (6, 7)), Fixed((6,)), grad=False),
    Case("ravel_multi_index(wrap)", lambda m, x: m.ravel_multi_index(
        (m.argsort(x) + 3, m.argsort(x) - 2), (4, 3), mode=("wrap", "clip")), Fixed((6,)),
        grad=False),
    Case("apply_along_axis", lambda m, x: m.apply_along_axis(lambda r: r * m.sum(r), 1, x),
         Fixed((3, 4))),
    Case("apply_along_axis(scalar)", lambda m, x, **k: m.apply_along_axis(
        lambda r: m.sum(r ** 2), -1, x), X(min_dims=1)),
    Case("apply_along_axis(2d)", lambda m, x: m.apply_along_axis(
        lambda r: m.outer(r, r[:2]), 1, x), Fixed((2, 3, 4))),
    Case("apply_over_axes", lambda m, x: m.apply_over_axes(m.sum, x, [0, 2]), Fixed((2, 3, 4))),
    Case("vectorize", lambda m, x, y: fnp.vectorize(lambda a, b: a * b + fnp.sin(a))(x, y),
         XY(), ref=lambda x, y: np.vectorize(lambda a, b: a * b + np.sin(a))(x, y),
         through_numpy=False),
    Case("vectorize(signature)", lambda m, x, y: fnp.vectorize(
        lambda a, b: fnp.sum(a * b), signature="(n),(n)->()")(x, y), Fixed((3, 4), (4,)),
        ref=lambda x, y: np.vectorize(lambda a, b: np.sum(a * b),
                                      signature="(n),(n)->()")(x, y), through_numpy=False),
    Case("vectorize(2outs)", lambda m, x: fnp.vectorize(
        lambda a: (fnp.max(a), a * 2.0), signature="(n)->(),(n)")(x), Fixed((2, 3)),
        ref=lambda x: np.vectorize(lambda a: (np.max(a), a * 2.0),
                                   signature="(n)->(),(n)")(x), through_numpy=False),
    Case("extract", lambda m, x: m.extract(np.arange(6).reshape(2, 3) % 2 == 0, x),
         Fixed((2, 3))),
    Case("compress", lambda m, x: m.compress([True, False, True], x, axis=1), Fixed((2, 3))),
    Case("compress(None)", lambda m, x: m.compress([False, True], x), Fixed((2, 3))),
    Case("choose", lambda m, x, y: m.choose(np.array([[0, 1, 2], [2, 1, 0]]), [x, y, 2 * x]),
         Fixed((2, 3), (3,))),
    Case("choose(clip)", lambda m, x: m.choose([-1, 5, 1], [x, x * x], mode="clip"),
         Fixed((3,))),
    Case("choose(wrap)", lambda m, x: m.choose([-1, 5, 1], [x, x * x], mode="wrap"),
         Fixed((3,))),
    Case("partition", lambda m, x: m.partition(x, 1, axis=0), Fixed((3, 4)),
         ref=lambda x: np.sort(x, axis=0)),
    Case("argpartition", lambda m, x: m.argpartition(x, (0, 2)), Fixed((2, 4)), grad=False,
         ref=lambda x: np.argsort(x, kind="stable")),
    Case("unique(size)", lambda m, x: fnp.unique(m.round(x), return_index=True,
                                                 return_inverse=True, return_counts=True,
                                                 size=6),
         Fixed((3, 3)), grad=False, ref=_unique_sized_ref, through_numpy=False),
    Case("unique(size,fill)", lambda m, x: fnp.unique(x, size=x.size + 2, fill_value=7.0),
         X(min_dims=1), ref=lambda x: np.concatenate([np.unique(x), np.full(2, 7.0, x.dtype)]),
         through_numpy=False),
    Case("isin", lambda m, x, y: m.isin(m.round(x), m.round(y)), XY(), grad=False),
    Case("isin(invert)", lambda m, x, y: m.isin(m.round(x), m.round(y), invert=True), XY(),
         grad=False),
    Case("lexsort", lambda m, x, y: m.lexsort((m.round(x), m.round(y))), Fixed((6,), (6,)),
         grad=False),
    Case("lexsort(axis)", lambda m, x: m.lexsort(m.round(x), axis=0), Fixed((2, 5, 3)),
         grad=False),
    Case("sort_complex", lambda m, x: m.sort_complex(x), X(min_dims=1)),
    Case("sort_complex(complex)", lambda m, x, y: m.sort_complex(m.round(x) + 1j * y),
         Fixed((6,), (6,))),
    Case("matvec", lambda m, x, y: m.matvec(x, y), Fixed((2, 3, 4), (4,))),
    Case("matvec(bcast)", lambda m, x, y: m.matvec(x, y), Fixed((3, 4), (2, 4))),
    Case("vecmat", lambda m, x, y: m.vecmat(x, y), Fixed((4,), (2, 4, 3))),
    Case("iscomplex", lambda m, x: m.iscomplex(x), X(), grad=False),
    Case("isreal", lambda m, x: m.isreal(x), X(), grad=False),
    Case("iscomplex(c)", lambda m, x, y: m.iscomplex(x + 1j * m.round(y)), XY(), grad=False),
]
