"""vmap: every primitive's batching rule against a Python loop, for every placement of the batch
axis; pytree in_axes/out_axes; errors; composition with grad (per-example gradients)."""
import numpy as np
import pytest
import test_prims

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.core.primitive import registry
from funcgrad.errors import ConcretizationError, UnexpectedTracerError
from funcgrad.prims import elementwise as ew
from funcgrad.prims import indexing as ix
from funcgrad.prims import linalg as la
from funcgrad.prims import reductions as red
from funcgrad.prims import shape as sh
from funcgrad.prims import special as sp
from funcgrad.transforms.ad import backward_pass, linearize_flat
from funcgrad.transforms.interpret import eval_graph

B = 3  # batch size used throughout


# ---------------------------------------------------------------- the loop reference

def _example(rng, kind, shape):
    """One per-example argument. kind: a domain ('real', 'pos', 'nonzero', (lo, hi)), 'bool',
    ('int', high) or ('unique', high) (integers without repeats)."""
    if kind == "bool":
        return rng.random(shape) < 0.5
    if isinstance(kind, tuple) and kind[0] == "int":
        return rng.integers(0, kind[1], size=shape)
    if isinstance(kind, tuple) and kind[0] == "unique":   # distinct indices
        return rng.choice(kind[1], size=shape, replace=False)
    if kind == "pos":
        return rng.uniform(0.5, 2.0, shape)
    if kind == "nonzero":
        return rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    if isinstance(kind, tuple):
        return rng.uniform(kind[0], kind[1], shape)
    return rng.uniform(-2.0, 2.0, shape)


def check_vmap(f, kinds, shapes, in_axes, size=B, seed=0):
    """vmap(f, in_axes)(batched args) == stack of f over the examples (batch axis 0)."""
    rng = np.random.default_rng(seed)
    examples = [[_example(rng, k, s) for k, s in zip(kinds, shapes)]
                for _ in range(max(size, 1))]
    args = []
    for i, ax in enumerate(in_axes):
        if ax is None:
            args.append(examples[0][i])
        elif size:
            args.append(np.stack([ex[i] for ex in examples[:size]], axis=ax))
        else:
            ex = np.asarray(examples[0][i])
            args.append(np.moveaxis(np.zeros((0,) + ex.shape, ex.dtype), 0, ax))
    per = [[ex[i] if ax is not None else examples[0][i] for i, ax in enumerate(in_axes)]
           for ex in examples[:size]]
    expected = np.stack([np.asarray(f(*p)) for p in per]) if size else None
    got = fg.vmap(f, in_axes=tuple(in_axes))(*args)
    assert isinstance(got, np.ndarray)
    if size:
        assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    else:
        assert got.shape == (0,) + np.shape(f(*examples[0]))
    return got


def axis_patterns(shapes):
    """Batch-axis placements: all 0, all -1, 1 where possible, and each argument unbatched."""
    n = len(shapes)
    pats = [(0,) * n, (-1,) * n, tuple(1 if len(s) >= 1 else 0 for s in shapes)]
    for i in range(n):
        if n > 1:
            pats.append(tuple(None if j == i else (1 if len(shapes[j]) and j % 2 else -1)
                              for j in range(n)))
    return list(dict.fromkeys(pats))


# ---------------------------------------------------------------- one case per primitive use

# The ufunc primitives come from the registry (tests/test_prims.py): a new one needs no entry.
UNARY = sorted(n for n in test_prims.UNARY if n not in ("logical_not", "conj")) + [
    "logistic", "relu", "stop_gradient"]
BINARY = sorted(test_prims.BINARY)
LOGICAL = sorted(test_prims.LOGICAL)


def _domain(prim):
    d = prim.domain
    if isinstance(d, tuple):
        return d
    return {"positive": "pos", "nonzero": "nonzero", "distinct": "real", None: "real"}[d]


def _kind(prim):
    """The operands' kind: small integers for the ufuncs with no float loop (bitwise ops,
    shifts, gcd), else the primitive's domain."""
    ufunc = prim.impl
    if isinstance(ufunc, np.ufunc) and \
            not any(t.startswith("d" * ufunc.nin + "->") for t in ufunc.types):
        return ("int", 9)
    return _domain(prim)


def _cases():
    cases = []   # (id, f, kinds, shapes)
    for name in UNARY:
        p = registry[name]
        for shape in [(4,), (2, 3), ()]:
            cases.append((f"{name}{shape}", p.bind, [_kind(p)], [shape]))
    cases.append(("logical_not", registry["logical_not"].bind, ["bool"], [(2, 3)]))
    for name in BINARY:
        p = registry[name]
        k = _kind(p)
        for sa, sb in [((2, 3), (2, 3)), ((2, 3), (3,)), ((), (2, 3)), ((2, 1), (1, 3))]:
            cases.append((f"{name}{sa}{sb}", p.bind, [k, k], [sa, sb]))
    for name in LOGICAL:
        cases.append((name, registry[name].bind, ["bool", "bool"], [(2, 3), (3,)]))
    cases += [
        ("select", ew.select, ["bool", "real", "real"], [(2, 3), (3,), (2, 3)]),
        ("select-scalar", ew.select, ["bool", "real", "real"], [(), (2, 3), ()]),
        ("integer_pow3", lambda x: ew.integer_pow(x, 3), ["real"], [(2, 3)]),
        ("integer_pow-2", lambda x: ew.integer_pow(x, -2), ["pos"], [(4,)]),
        ("convert", lambda x: ew.convert(x, np.float32), ["real"], [(2, 3)]),
        ("convert-int", lambda x: ew.convert(x, np.int64), [("int", 9)], [(4,)]),
    ]
    for name in ["reduce_sum", "reduce_max", "reduce_min", "reduce_prod"]:
        p = registry[name]
        for axes in [(0,), (1, 2), (0, 2), (0, 1, 2), ()]:
            cases.append((f"{name}{axes}", lambda x, p=p, axes=axes: p.bind(x, axes=axes),
                          ["real"], [(2, 3, 4)]))
    for name in ["argmax", "argmin"]:
        p = registry[name]
        for axis, shape in [(0, (3, 4)), (1, (3, 4)), (None, (3, 4)), (None, ())]:
            cases.append((f"{name}{axis}{shape}", lambda x, p=p, a=axis: p.bind(x, axis=a),
                          ["real"], [shape]))
    for axis, rev in [(0, False), (1, True)]:
        cases.append((f"cumsum{axis}{rev}", lambda x, a=axis, r=rev: red.cumsum(x, a, r),
                      ["real"], [(3, 4)]))
    for name in ["sort", "argsort"]:
        for axis in [0, 1]:
            cases.append((f"{name}{axis}", lambda x, n=name, a=axis: registry[n].bind(x, axis=a),
                          ["real"], [(3, 4)]))
    cases += [
        ("reshape", lambda x: sh.reshape(x, (2, 6)), ["real"], [(3, 4)]),
        ("reshape-flat", lambda x: sh.reshape(x, (12,)), ["real"], [(3, 4)]),
        ("reshape-scalar", lambda x: sh.reshape(x, (1, 1)), ["real"], [()]),
        ("broadcast_to", lambda x: sh.broadcast_to(x, (3, 4)), ["real"], [(4,)]),
        ("broadcast_to-rank", lambda x: sh.broadcast_to(x, (2, 3, 4)), ["real"], [(3, 1)]),
        ("broadcast_to-scalar", lambda x: sh.broadcast_to(x, (2,)), ["real"], [()]),
        ("transpose", lambda x: sh.transpose(x, (2, 0, 1)), ["real"], [(2, 3, 4)]),
        ("transpose2", lambda x: sh.transpose(x, (1, 0)), ["real"], [(3, 4)]),
        ("concatenate0", lambda x, y: ix.concatenate([x, y], 0), ["real"] * 2, [(2, 3), (4, 3)]),
        ("concatenate1", lambda x, y, z: ix.concatenate([x, y, z], 1), ["real"] * 3,
         [(2, 3), (2, 1), (2, 2)]),
        ("rev", lambda x: sh.rev(x, (0,)), ["real"], [(3, 4)]),
        ("rev2", lambda x: sh.rev(x, (0, 1)), ["real"], [(3, 4)]),
        ("matvec", lambda a, b: la.dot_general(a, b, ((1,), (0,))), ["real"] * 2, [(3, 4), (4,)]),
        ("matmul", lambda a, b: la.dot_general(a, b, ((1,), (0,))), ["real"] * 2,
         [(3, 4), (4, 2)]),
        ("vecmat", lambda a, b: la.dot_general(a, b, ((0,), (0,))), ["real"] * 2,
         [(4,), (4, 2)]),
        ("dot", lambda a, b: la.dot_general(a, b, ((0,), (0,))), ["real"] * 2, [(4,), (4,)]),
        ("outer", lambda a, b: la.dot_general(a, b, ((), ())), ["real"] * 2, [(3,), (2,)]),
        ("bmm", lambda a, b: la.dot_general(a, b, ((2,), (1,)), ((0,), (0,))), ["real"] * 2,
         [(2, 3, 4), (2, 4, 5)]),
        ("bmm-tail", lambda a, b: la.dot_general(a, b, ((0,), (2,)), ((2,), (0,))),
         ["real"] * 2, [(4, 3, 2), (2, 5, 4)]),
        ("scalar-dot", lambda a, b: la.dot_general(a, b, ((), ())), ["real"] * 2, [(), (3,)]),
        ("stop_gradient", sp.stop_gradient_p.bind, ["real"], [(2, 3)]),
        # complex intermediates between real inputs and outputs (jacfwd needs real inputs)
        ("real", lambda x, y: ew.real((x + 1j * y) * (x - 0.5j)), ["real"] * 2, [(2, 3), (3,)]),
        ("imag", lambda x, y: ew.imag((x + 1j * y) * (x - 0.5j)), ["real"] * 2, [(2, 3), ()]),
        ("conj", lambda x, y: ew.real(ew.conj(x + 1j * y) * (1.5 + 0.5j)), ["real"] * 2,
         [(3,), (2, 3)]),
        ("debug_callback", lambda x: (fg.debug.callback(lambda v: None, x), x * 2.0)[1],
         ["real"], [(2, 3)]),
        ("full", lambda x: x + sh.full(shape=(2, 3), fill_value=1.5, dtype=np.float64),
         ["real"], [(2, 3)]),
    ]
    # Indexing: basic, advanced (adjacent, separated, with None), batched index arrays.
    get = [
        ("slice", ((1, 3, None),), []),
        ("int-slice", ((None, None, None), 1), []),
        ("none", (None, (None, None, -1)), []),
        ("array", ("a",), [((2, 2), 3)]),
        ("array-slice", ((None, None, None), "a"), [((2,), 4)]),
        ("separated", ("a", (None, None, None), "a"), [((2,), 3), ((2,), 5)]),
        ("int-separated", (0, (None, None, None), "a"), [((2,), 5)]),
        ("none-between", ("a", None, "a"), [((2,), 3), ((1,), 4)]),
        ("adjacent-late", ((None, None, None), "a", "a"), [((2, 1), 4), ((3,), 5)]),
        ("broadcast-idx", ("a", "a"), [((2, 1), 3), ((), 4)]),
    ]
    for name, spec, idx in get:
        shapes = [(3, 4, 5) if len(spec) > 2 or name in ("separated", "none-between",
                                                        "adjacent-late", "int-separated")
                  else (3, 4)] + [s for s, _ in idx]
        kinds = ["real"] + [("int", hi) for _, hi in idx]
        cases.append((f"getitem-{name}", lambda x, *a, spec=spec: ix.getitem_p.bind(
            x, *a, spec=spec), kinds, shapes))
    scat = [
        ("slice", ((1, 3, None),), (2, 4), []),
        ("int", ((None, None, None), 1), (3,), []),
        ("int-bcast", ((None, None, None), 1), (), []),
        ("array-dup", ("a",), (4, 4), [((4,), 2)]),
        ("array-slice", ((None, None, None), "a"), (3, 2), [((2,), 4)]),
        ("separated", ("a", (None, None, None), "a"), (2, 4), [((2,), 3), ((2,), 5)]),
        ("row-bcast", ("a",), (4,), [((2,), 3)]),
    ]
    for name, spec, yshape, idx in scat:
        xshape = (3, 4, 5) if name == "separated" else (3, 4)
        for prim in (ix.scatter_add_p, ix.scatter_set_p):
            # With duplicate indices scatter_set's derivative is ill-defined (one write
            # wins): its index arrays are drawn without repeats.
            ikind = "unique" if prim is ix.scatter_set_p else "int"
            if prim is ix.scatter_set_p and name == "array-dup":
                continue
            cases.append((f"{prim.name}-{name}", lambda x, y, *a, p=prim, spec=spec: p.bind(
                x, y, *a, spec=spec), ["real", "real"] + [(ikind, hi) for _, hi in idx],
                [xshape, yshape] + [s for s, _ in idx]))
    return cases


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_batch_rule_matches_loop(case):
    _, f, kinds, shapes = case
    for axes in axis_patterns(shapes):
        check_vmap(f, kinds, shapes, axes)


def test_every_primitive_has_a_batch_rule_and_a_case():
    missing = sorted(n for n, p in registry.items() if p.batch is None)
    assert missing == [], f"primitives without a batching rule: {missing}"
    covered = set()
    for _, f, kinds, shapes in CASES:
        rng = np.random.default_rng(0)
        graph = fg.make_graph(f)(*[_example(rng, k, s) for k, s in zip(kinds, shapes)])
        covered |= {e.primitive.name for e in graph.eqns}
    # The table covers the primitives of funcgrad.prims; higher-order primitives (control
    # flow) test their batching next to their other rules, custom_lin is exercised by
    # test_custom_lin_batch_rule below.
    # (tests/test_prims.py::test_vmap_matches_a_loop batches every primitive with a case there)
    first_order = {n for n, p in registry.items()
                   if p.abstract_eval.__module__.startswith("funcgrad.prims.")}
    assert sorted(first_order - covered - set(test_prims.CASES)) == []


def _float_args(kinds):
    return tuple(i for i, k in enumerate(kinds)
                 if k != "bool" and not (isinstance(k, tuple) and isinstance(k[0], str)))


DIFF_CASES = [c for c in CASES if _float_args(c[2])]


@pytest.mark.parametrize("case", DIFF_CASES, ids=[c[0] for c in DIFF_CASES])
def test_per_example_gradients_match_loop(case):
    """vmap(grad): every jvp and transpose rule, run on batched values."""
    _, f, kinds, shapes = case
    nums = _float_args(kinds)

    def loss(*args):
        out = f(*args)
        if out.dtype.kind != "f":
            return fnp.sum(args[nums[0]] * 0.0)
        return fnp.sum(fnp.sin(out))

    g = fg.grad(loss, argnums=nums)
    rng = np.random.default_rng(0)
    for axes in axis_patterns(shapes)[::2]:
        examples = [[_example(rng, k, s) for k, s in zip(kinds, shapes)] for _ in range(B)]
        args = [examples[0][i] if ax is None else np.stack([e[i] for e in examples], axis=ax)
                for i, ax in enumerate(axes)]
        got = fg.vmap(g, in_axes=axes)(*args)
        loop = [g(*[e[i] if ax is not None else examples[0][i] for i, ax in enumerate(axes)])
                for e in examples]
        for j in range(len(nums)):
            np.testing.assert_allclose(got[j], np.stack([gl[j] for gl in loop]),
                                       rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", DIFF_CASES, ids=[c[0] for c in DIFF_CASES])
def test_jacfwd_equals_jacrev(case):
    """Both Jacobians are vmaps (of a jvp, of a backward pass): they must agree."""
    _, f, kinds, shapes = case
    rng = np.random.default_rng(1)
    args = [_example(rng, k, s) for k, s in zip(kinds, shapes)]
    nums = _float_args(kinds)
    jf, jr = fg.jacfwd(f, argnums=nums)(*args), fg.jacrev(f, argnums=nums)(*args)
    for i, a, b in zip(nums, jf, jr, strict=True):
        assert a.shape == b.shape == np.shape(f(*args)) + np.shape(args[i])
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("size", [0, 1])
def test_batch_of_size_zero_and_one(size):
    ids = {"sin(4,)", "add(2, 3)(3,)", "reduce_sum(1, 2)", "matmul", "getitem-array",
           "scatter_add-array-slice", "transpose", "concatenate0", "argmax1(3, 4)", "cumsum0False"}
    for name, f, kinds, shapes in CASES:
        if name in ids:
            check_vmap(f, kinds, shapes, (0,) * len(shapes), size=size)


# ---------------------------------------------------------------- the public API

def test_in_axes_none_and_negative():
    xs, w = np.arange(6.0).reshape(3, 2), np.array([1.0, 10.0])
    out = fg.vmap(lambda x, w: fnp.dot(x, w), in_axes=(0, None))(xs, w)
    np.testing.assert_allclose(out, xs @ w)
    out = fg.vmap(lambda x, w: fnp.dot(x, w), in_axes=(-1, None))(xs.T, w)
    np.testing.assert_allclose(out, xs @ w)


def test_pytree_in_axes_and_out_axes():
    params = {"w": np.arange(6.0).reshape(2, 3), "b": np.array([1.0, 2.0])}
    xs = np.arange(12.0).reshape(4, 3)

    def f(p, x):
        y = p["w"] @ x + p["b"]
        return {"y": y, "norm": fnp.sum(y * y)}

    out = fg.vmap(f, in_axes=({"w": None, "b": None}, 0), out_axes={"y": 1, "norm": 0})(
        params, xs)
    expected = [f(params, x) for x in xs]
    np.testing.assert_allclose(out["y"], np.stack([e["y"] for e in expected], axis=1))
    np.testing.assert_allclose(out["norm"], np.stack([e["norm"] for e in expected]))
    # A prefix: None for the whole dict; a list of per-example tuples mapped with axis 1.
    pairs = (np.ones((2, 5)), np.arange(5.0))
    out = fg.vmap(lambda p, t: t[0] * p["b"][0] + t[1], in_axes=(None, (1, 0)))(params, pairs)
    np.testing.assert_allclose(out, np.ones((5, 2)) + np.arange(5.0)[:, None])


def test_out_axes_none_for_unbatched_output_and_broadcast_constants():
    xs = np.arange(4.0)
    total, ys = fg.vmap(lambda x, c: (c * 2.0, x * c), in_axes=(0, None),
                        out_axes=(None, 0))(xs, np.array(3.0))
    assert total.shape == () and float(total) == 6.0
    np.testing.assert_allclose(ys, 3.0 * xs)
    # An output that does not depend on the batch is broadcast along it.
    out = fg.vmap(lambda x: (x, 7.0))(xs)
    np.testing.assert_array_equal(out[1], np.full(4, 7.0))
    with pytest.raises(ValueError, match="out_axes is None"):
        fg.vmap(lambda x: x, out_axes=None)(xs)


def test_keyword_arguments_are_batched_along_axis_0():
    out = fg.vmap(lambda x, *, scale: x * scale)(np.ones((3, 2)), scale=np.arange(3.0)[:, None])
    np.testing.assert_allclose(out, np.ones((3, 2)) * np.arange(3.0)[:, None])


def test_mismatched_sizes_list_each_argument():
    with pytest.raises(ValueError) as err:
        fg.vmap(lambda x, y: x + y, in_axes=(0, 1))(np.ones((3, 2)), np.ones((3, 4)))
    msg = str(err.value)
    assert "argument 0 has size 3 (axis 0)" in msg
    assert "argument 1 has size 4 (axis 1)" in msg
    assert "test_vmap.py" in msg


def test_bad_in_axes():
    f = fg.vmap(lambda x: x, in_axes=2)
    with pytest.raises(ValueError, match=r"in_axes 2 is out of range for argument 0 of shape"):
        f(np.ones((3, 2)))
    with pytest.raises(ValueError, match="in_axes"):
        fg.vmap(lambda x, y: x, in_axes=(0, 0, 0))(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="in_axes"):
        fg.vmap(lambda p: p["a"], in_axes=({"b": 0},))({"a": np.ones(3)})
    with pytest.raises(ValueError, match="ints or None"):
        fg.vmap(lambda x: x, in_axes=(0.5,))(np.ones(3))
    with pytest.raises(ValueError, match="maps no argument"):
        fg.vmap(lambda x: x, in_axes=None)(np.ones(3))
    with pytest.raises(ValueError, match="out of range"):
        fg.vmap(lambda x: x)(3.0)   # a scalar has no axis 0


def test_python_control_flow_on_batched_value_is_an_error():
    def f(x):
        return x if x > 0 else -x

    with pytest.raises(ConcretizationError, match=r"fnp\.where") as err:
        fg.vmap(f)(np.array([1.0, -2.0]))
    assert "vmap" in str(err.value) and "test_vmap.py" in str(err.value)
    # The fix from the message works.
    out = fg.vmap(lambda x: fnp.where(x > 0, x, -x))(np.array([1.0, -2.0]))
    np.testing.assert_array_equal(out, [1.0, 2.0])
    # Control flow on an unbatched argument is fine.
    out = fg.vmap(lambda x, n: x * 2 if n > 0 else x, in_axes=(0, None))(np.ones(2), 1.0)
    np.testing.assert_array_equal(out, [2.0, 2.0])


def test_leaked_tracer_is_an_error():
    leaked = []
    fg.vmap(lambda x: leaked.append(x) or x)(np.ones(3))
    with pytest.raises(UnexpectedTracerError):
        fnp.sin(leaked[0])


def test_numpy_functions_on_batched_values():
    xs = np.random.default_rng(1).normal(size=(5, 4, 3))

    def f(x):
        s = fnp.max(x, axis=1, keepdims=True)
        e = np.exp(x - s)
        return (e / np.sum(e, axis=1, keepdims=True)) @ np.arange(3.0) + x[::2].mean()

    check = np.stack([f(x) for x in xs])
    np.testing.assert_allclose(fg.vmap(f)(xs), check, rtol=1e-12)
    np.testing.assert_allclose(fg.vmap(f, in_axes=2)(np.moveaxis(xs, 0, 2)), check, rtol=1e-12)


def test_vmap_of_vmap():
    xs = np.random.default_rng(2).normal(size=(3, 4, 5))
    f = lambda v: fnp.sum(v ** 2) * v
    out = fg.vmap(fg.vmap(f), in_axes=1, out_axes=1)(xs)
    expected = np.stack([np.stack([f(xs[i, j]) for j in range(4)]) for i in range(3)])
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    # Pairwise distances: outer vmap over rows of a, inner over rows of b.
    a, b = xs[0], xs[1]
    d = fg.vmap(fg.vmap(lambda p, q: fnp.sum((p - q) ** 2), in_axes=(None, 0)),
                in_axes=(0, None))(a, b)
    np.testing.assert_allclose(d, ((a[:, None] - b[None]) ** 2).sum(-1), rtol=1e-12)


def test_vmap_under_make_graph_is_one_graph():
    graph = fg.make_graph(fg.vmap(lambda x, w: np.tanh(x @ w), in_axes=(0, None)))(
        np.ones((8, 3)), np.ones(3))
    names = [e.primitive.name for e in graph.eqns]
    assert names == ["dot_general", "tanh"]
    assert graph.outvars[0].aval.shape == (8,)


# ---------------------------------------------------------------- composition with AD

def _logistic_loss(w, b, x, y):
    z = fnp.dot(x, w) + b
    return fnp.logaddexp(0.0, z) - y * z


def test_per_example_gradients_of_logistic_regression():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(16, 4)), (rng.random(16) < 0.5).astype(float)
    w, b = rng.normal(size=4), np.array(0.3)
    gw, gb = fg.vmap(fg.grad(_logistic_loss, argnums=(0, 1)), in_axes=(None, None, 0, 0))(
        w, b, x, y)
    loop = [fg.grad(_logistic_loss, argnums=(0, 1))(w, b, xi, yi) for xi, yi in zip(x, y)]
    np.testing.assert_allclose(gw, np.stack([g[0] for g in loop]), rtol=1e-12)
    np.testing.assert_allclose(gb, np.stack([g[1] for g in loop]), rtol=1e-12)
    # Closed form: (sigmoid(z) - y) * x.
    p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
    np.testing.assert_allclose(gw, (p - y)[:, None] * x, rtol=1e-10)


def test_grad_of_vmap():
    rng = np.random.default_rng(4)
    x, y, w = rng.normal(size=(6, 3)), rng.random(6), rng.normal(size=3)
    mean_loss = lambda w: fnp.mean(fg.vmap(_logistic_loss, in_axes=(None, None, 0, 0))(
        w, 0.0, x, y))
    full = lambda w: fnp.mean(_logistic_loss(w, 0.0, x, y))
    np.testing.assert_allclose(fg.grad(mean_loss)(w), fg.grad(full)(w), rtol=1e-12)
    # Second order through vmap, and vmap of a jvp.
    np.testing.assert_allclose(fg.hessian(mean_loss)(w), fg.hessian(full)(w), rtol=1e-10)
    t = fg.vmap(lambda v: fg.jvp(full, (w,), (v,))[1])(np.eye(3))
    np.testing.assert_allclose(t, fg.grad(full)(w), rtol=1e-12)


def test_vmap_of_value_and_grad_with_aux_and_pytrees():
    def loss(p, x):
        out = p["a"] * fnp.sin(x) + p["c"]
        return fnp.sum(out ** 2), out

    p = {"a": np.array(2.0), "c": np.array([0.5, -0.5])}
    xs = np.linspace(-1, 1, 10).reshape(5, 2)
    (vals, aux), g = fg.vmap(fg.value_and_grad(loss, has_aux=True), in_axes=(None, 0))(p, xs)
    for i, x in enumerate(xs):
        (v, a), gi = fg.value_and_grad(loss, has_aux=True)(p, x)
        np.testing.assert_allclose(vals[i], v, rtol=1e-12)
        np.testing.assert_allclose(aux[i], a, rtol=1e-12)
        np.testing.assert_allclose(g["a"][i], gi["a"], rtol=1e-12)
        np.testing.assert_allclose(g["c"][i], gi["c"], rtol=1e-12)


@fg.custom_vjp
def clip_gradient(x):
    return x


clip_gradient.defvjp(lambda x: (x, None), lambda _, g: (fnp.clip(g, -1.0, 1.0),))


@fg.custom_vjp
def scaled_square(x, s):
    return s * x * x


scaled_square.defvjp(lambda x, s: (s * x * x, (x, s)),
                     lambda res, g: (2.0 * res[1] * res[0] * g, res[0] * res[0] * g))


def test_vmap_of_grad_through_custom_vjp():
    xs = np.array([-3.0, 0.1, 2.0])
    # The custom rule clips the incoming cotangent 5 to 1: d/dx = 1, not 5.
    g = fg.vmap(fg.grad(lambda x: 5.0 * clip_gradient(x) + x ** 2))(xs)
    np.testing.assert_allclose(g, 1.0 + 2 * xs)
    g = fg.vmap(fg.grad(scaled_square, argnums=(0, 1)), in_axes=(0, None))(xs, np.array(3.0))
    np.testing.assert_allclose(g[0], 6.0 * xs)
    np.testing.assert_allclose(g[1], xs ** 2)


def test_grad_of_vmap_uses_the_custom_rule():
    xs = np.array([-3.0, 0.1, 2.0])
    g = fg.grad(lambda x: fnp.sum(fg.vmap(clip_gradient)(x) * 5.0))(xs)
    np.testing.assert_allclose(g, np.ones(3))   # clipped, per example
    g = fg.grad(lambda s: fnp.sum(fg.vmap(scaled_square, in_axes=(0, None))(xs, s)))(
        np.array(2.0))
    np.testing.assert_allclose(g, np.sum(xs ** 2))
    g = fg.grad(lambda x: fnp.sum(fg.vmap(fg.vmap(clip_gradient))(x) * 5.0))(np.ones((2, 2)))
    np.testing.assert_allclose(g, np.ones((2, 2)))
    # A custom_vjp in a vmap with no differentiation runs the function itself.
    np.testing.assert_allclose(fg.vmap(scaled_square)(xs, xs), xs ** 3)
    # checkpoint under vmap under grad: same gradient as without it.
    f = fg.checkpoint(lambda x: fnp.sin(fnp.sin(x)))
    np.testing.assert_allclose(fg.grad(lambda x: fnp.sum(fg.vmap(f)(x)))(xs),
                               np.cos(np.sin(xs)) * np.cos(xs), rtol=1e-12)


@fg.custom_vjp
def cube(x):
    return x ** 3


cube.defvjp(lambda x: (x ** 3, x), lambda x, g: (3.0 * x * x * g,))


def test_custom_lin_batch_rule():
    """vmap over a linear graph holding a custom_lin, then its transpose: the batch rule maps
    the tangents and vmaps the user's bwd over the cotangents."""
    x = np.array([0.5, -1.0])
    _, lin = linearize_flat(lambda x: [cube(x)], [x])
    assert [e.primitive.name for e in lin.eqns] == ["custom_lin"]
    batched = fg.make_graph(fg.vmap(lambda t: eval_graph(lin, [t])[0]))(np.ones((4, 2)))
    assert [e.primitive.name for e in batched.eqns] == ["custom_lin"]
    assert batched.outvars[0].aval.shape == (4, 2)
    cts = np.arange(8.0).reshape(4, 2)
    (ct_in,) = backward_pass(batched, [cts])
    np.testing.assert_allclose(ct_in, 3.0 * x * x * cts)


def test_jvp_of_custom_vjp_under_vmap_is_still_refused():
    with pytest.raises(TypeError, match="forward-mode"):
        fg.jvp(lambda x: fg.vmap(clip_gradient)(x), (np.ones(2),), (np.ones(2),))

