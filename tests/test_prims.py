"""Every registered primitive: its rules against NumPy, graph == eager, and derivatives to order 2.

`CASES` maps each primitive name to a builder `(draw, dtype) -> (fn, args)`; `fn(xp, *args)` runs
with `xp = funcgrad.numpy` (traced) or `xp = numpy` (the reference). Shapes and values are drawn
by hypothesis; values come from the primitive's `domain`, away from kinks and ties.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import control
from funcgrad.core.ir import Lit
from funcgrad.core.primitive import registry
from funcgrad.prims import elementwise as ew
from funcgrad.test_util import check_grads
from funcgrad.transforms.interpret import eval_graph

# `custom_lin` only lives inside linear graphs made by custom_vjp / checkpoint, where it is
# transposed; tests/test_grad.py exercises it through those.
NOT_EXERCISED_HERE = {"custom_lin", "cond", "scan", "while"}   # control flow: test_control.py

SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
NONEMPTY = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)


def broadcast_group(n: int, min_side: int = 0):
    """n shapes that broadcast together (size-1 axes and missing leading axes included)."""
    return hnp.mutually_broadcastable_shapes(num_shapes=n, min_dims=0, max_dims=3,
                                             min_side=min_side, max_side=4).map(
        lambda b: b.input_shapes)


# ---------------------------------------------------------------- values from a domain

def values(draw, shapes, dtype, domain) -> list[np.ndarray]:
    """Arrays of these shapes inside `domain`: None, (lo, hi), 'positive', 'nonzero' or
    'distinct' (all values, across all arrays, at least 0.2 apart: no ties, no kinks)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
    sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes]
    if domain == "distinct":
        n = sum(sizes)
        pool = (rng.permutation(n) - n / 2) * 0.4 + rng.uniform(0.0, 0.2, n)
        flat = np.split(pool, np.cumsum(sizes)[:-1])
    else:
        flat = []
        for size in sizes:
            if domain is None:
                v = rng.uniform(-2.0, 2.0, size)
            elif domain == "positive":
                v = rng.uniform(0.5, 2.0, size)
            elif domain == "nonzero":
                v = rng.choice([-1.0, 1.0], size) * rng.uniform(0.3, 2.0, size)
            else:
                lo, hi = domain
                v = rng.uniform(lo, hi, size)
            flat.append(v)
    return [np.asarray(v.reshape(s), dtype) for v, s in zip(flat, shapes)]


def dom(name):
    return registry[name].domain


# ---------------------------------------------------------------- builders

def unary(name: str, np_name: str) -> Callable:
    def build(draw, dtype):
        shape = draw(SHAPES, label="shape")
        (x,) = values(draw, [shape], dtype, dom(name))
        return (lambda xp, x: getattr(xp, np_name)(x)), [x]
    return build


def relu_case(draw, dtype):
    (x,) = values(draw, [draw(SHAPES, label="shape")], dtype, dom("relu"))
    return (lambda xp, x: ew.relu(x) if xp is fnp else np.maximum(x, 0)), [x]


def logistic_case(draw, dtype):
    (x,) = values(draw, [draw(SHAPES, label="shape")], dtype, dom("logistic"))
    return (lambda xp, x: ew.logistic(x) if xp is fnp else 1.0 / (1.0 + np.exp(-x))), [x]


def binary(name: str, np_name: str, make_values=None, logical: bool = False) -> Callable:
    """A broadcasting binary op; one operand may be a Python scalar (weakly typed)."""
    def build(draw, dtype):
        sx, sy = draw(broadcast_group(2), label="shapes")
        scalar = draw(st.sampled_from([None, "left", "right"]), label="python scalar")
        sx, sy = (() if scalar == "left" else sx), (() if scalar == "right" else sy)
        x, y = (make_values or values)(draw, [sx, sy], dtype, dom(name))
        if dtype == np.float32:   # mixed float32/float64 operands promote as in NumPy
            y = y.astype(draw(st.sampled_from([np.float32, np.float64]), label="y dtype"))
        if logical:
            x, y = x > 0, y > 0

        def op(xp):
            return getattr(xp, np_name)
        if scalar == "left":
            c = x.item()
            return (lambda xp, y: op(xp)(c, y)), [y]
        if scalar == "right":
            c = y.item()
            return (lambda xp, x: op(xp)(x, c)), [x]
        return (lambda xp, x, y: op(xp)(x, y)), [x, y]
    return build


def rem_values(draw, shapes, dtype, domain):
    # remainder has kinks where x / y is an integer: y = +-1.5 or +-3, x = 1.5 (k + u) with
    # u in (0.2, 0.8) keeps x / y at least 0.1 from an integer.
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
    sx, sy = shapes
    x = 1.5 * (rng.integers(-3, 3, sx) + rng.uniform(0.2, 0.8, sx))
    y = rng.choice([-3.0, -1.5, 1.5, 3.0], sy)
    return [np.asarray(x, dtype), np.asarray(y, dtype)]


def select_case(draw, dtype):
    sc, sx, sy = draw(broadcast_group(3), label="shapes")
    c = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).random(sc) > 0.5
    x, y = values(draw, [sx, sy], dtype, None)
    return (lambda xp, c, x, y: xp.where(c, x, y)), [c, x, y]


def integer_pow_case(draw, dtype):
    n = draw(st.sampled_from([0, 1, 2, 3, 5, -1, -2]), label="exponent")
    (x,) = values(draw, [draw(SHAPES)], dtype, "nonzero" if n < 0 else None)
    return (lambda xp, x: xp.power(x, n)), [x]


def convert_case(draw, dtype):
    to = draw(st.sampled_from([np.float32, np.float64, np.int32]), label="to dtype")
    if to == dtype:
        to = np.float32 if dtype == np.float64 else np.float64
    (x,) = values(draw, [draw(SHAPES)], dtype, None)
    if to == np.int32:
        return (lambda xp, x: xp.astype(x, to)), [x]
    # Squared so the second derivative is not trivially zero.
    return (lambda xp, x: xp.astype(x, to) * xp.astype(x, to)), [x]


def axes_strategy(ndim: int):
    """None, an int, or a tuple of axes (negative ones included)."""
    if ndim == 0:
        return st.sampled_from([None, ()])
    return st.one_of(st.none(), st.integers(-ndim, ndim - 1), hnp.valid_tuple_axes(ndim))


def reduction(name: str, np_name: str, shapes=SHAPES) -> Callable:
    def build(draw, dtype):
        shape = draw(shapes, label="shape")
        axis = draw(axes_strategy(len(shape)), label="axis")
        keepdims = draw(st.booleans(), label="keepdims")
        (x,) = values(draw, [shape], dtype, dom(name))
        return (lambda xp, x: getattr(xp, np_name)(x, axis=axis, keepdims=keepdims)), [x]
    return build


def one_axis(name: str, np_name: str, shapes=SHAPES, allow_none: bool = True) -> Callable:
    def build(draw, dtype):
        shape = draw(shapes, label="shape")
        nd = max(len(shape), 1)
        choices = st.integers(-nd, nd - 1) if shape else st.none()
        if allow_none and shape:
            choices = st.one_of(st.none(), choices)
        axis = draw(choices, label="axis")
        (x,) = values(draw, [shape], dtype, dom(name))
        return (lambda xp, x: getattr(xp, np_name)(x, axis=axis)), [x]
    return build


def reshape_case(draw, dtype):
    shape = draw(SHAPES, label="shape")
    options = [shape + (1,), (1,) + shape, (-1,) if len(shape) != 1 else (1, -1)]
    if shape[::-1] != shape:
        options.append(shape[::-1])
    new = draw(st.sampled_from(options), label="new shape")
    (x,) = values(draw, [shape], dtype, None)
    return (lambda xp, x: xp.reshape(x, new)), [x]


def broadcast_to_case(draw, dtype):
    target = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4))
    lead = draw(st.integers(0, len(target)), label="dropped leading axes")
    ones = draw(st.lists(st.booleans(), min_size=len(target), max_size=len(target)))
    shape = tuple(1 if one else d for one, d in zip(ones[lead:], target[lead:]))
    if shape == target:
        shape = target[1:]
    (x,) = values(draw, [shape], dtype, None)
    return (lambda xp, x: xp.broadcast_to(x, target)), [x]


def transpose_case(draw, dtype):
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=4, min_side=0, max_side=3))
    perm = draw(st.permutations(range(len(shape))), label="perm")
    if perm == list(range(len(shape))):
        perm = perm[::-1]
    (x,) = values(draw, [shape], dtype, None)
    return (lambda xp, x: xp.transpose(x, perm)), [x]


def concatenate_case(draw, dtype):
    base = list(draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3)))
    axis = draw(st.integers(-len(base), len(base) - 1), label="axis")
    sizes = draw(st.lists(st.integers(0, 3), min_size=1, max_size=3), label="sizes")
    shapes = [tuple(s if i == axis % len(base) else d for i, d in enumerate(base))
              for s in sizes]
    xs = values(draw, shapes, dtype, None)
    return (lambda xp, *xs: xp.concatenate(xs, axis=axis)), xs


def rev_case(draw, dtype):
    shape = draw(SHAPES, label="shape")
    axis = draw(axes_strategy(len(shape)), label="axis")
    (x,) = values(draw, [shape], dtype, None)
    return (lambda xp, x: xp.flip(x, axis=axis)), [x]


EINSUMS = ["ij,jk->ik", "bij,bjk->bik", "ij,j->i", "bi,bi->b", "ijk,ikl->ijl", "ij,ij->",
           "i,j->ij", "abc,cb->a", "bij,bkj->bki"]


def dot_general_case(draw, dtype):
    kind = draw(st.sampled_from(["matmul", "tensordot", "einsum"]), label="kind")
    if kind == "matmul":
        # NumPy's signature: 1-D promotion and broadcast batch axes.
        sa, sb = draw(hnp.mutually_broadcastable_shapes(
            signature=np.matmul.signature, max_dims=2, min_side=1, max_side=3)).input_shapes
        a, b = values(draw, [sa, sb], dtype, None)
        return (lambda xp, a, b: xp.matmul(a, b)), [a, b]
    if kind == "tensordot":
        shape = draw(hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=3))
        n = draw(st.integers(1, len(shape) - 1), label="contracted axes")
        extra = draw(hnp.array_shapes(min_dims=0, max_dims=1, min_side=1, max_side=3))
        sa, sb = shape, shape[len(shape) - n:] + extra
        a, b = values(draw, [sa, sb], dtype, None)
        return (lambda xp, a, b: xp.tensordot(a, b, axes=n)), [a, b]
    spec = draw(st.sampled_from(EINSUMS), label="subscripts")
    sizes = {c: draw(st.integers(1, 3)) for c in sorted(set(spec) - set(",->"))}
    ins = spec.split("->")[0].split(",")
    ops = values(draw, [tuple(sizes[c] for c in t) for t in ins], dtype, None)
    return (lambda xp, a, b: xp.einsum(spec, a, b)), ops


def index_strategy(draw, shape, unique: bool = False):
    """A NumPy index for `shape`: basic (ints, slices, None, ...), advanced, or mixed."""
    kinds = ["basic"] + (["advanced", "mixed"] if shape and min(shape) > 0 else [])
    kind = draw(st.sampled_from(kinds), label="index kind")
    if kind == "basic":
        return draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "advanced" and not unique:
        return draw(hnp.integer_array_indices(
            shape, result_shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=4)))
    # One index array on one axis, the other axes sliced (unique entries when `unique`).
    axis = draw(st.integers(0, len(shape) - 1), label="indexed axis")
    n = shape[axis]
    idx = (rng.permutation(n)[:draw(st.integers(1, n))] if unique
           else rng.integers(-n, n, draw(st.integers(1, 4))))
    return (slice(None),) * axis + (idx,)


def getitem_case(draw, dtype):
    shape = draw(SHAPES, label="shape")
    idx = index_strategy(draw, shape)
    (x,) = values(draw, [shape], dtype, None)
    return (lambda xp, x: x[idx]), [x]


def scatter_case(mode: str):
    def build(draw, dtype):
        shape = draw(SHAPES, label="shape")
        idx = index_strategy(draw, shape, unique=(mode == "set"))
        target = np.zeros(shape)[idx].shape
        vshape = draw(st.sampled_from([target, target[1:], ()]), label="values shape")
        x, v = values(draw, [shape, vshape], dtype, None)

        def fn(xp, x, v):
            if xp is fnp:
                return getattr(x.at[idx], mode)(v) if hasattr(x, "at") else \
                    _eager_at(x, idx, mode, v)
            out = np.array(x, copy=True)
            if mode == "set":
                out[idx] = v
            else:
                # broadcast first: np.add.at reads garbage when it broadcasts (NumPy 2.4.6)
                np.add.at(out, idx, np.broadcast_to(v, np.zeros(np.shape(x))[idx].shape))
            return out
        return fn, [x, v]
    return build


def _eager_at(x, idx, mode, v):
    # NumPy arrays have no `.at`: bind the primitive as x.at[...] would on a traced value.
    from funcgrad.prims import indexing
    spec, arrays = indexing.parse_index(idx, x.shape)
    prim = indexing.scatter_set_p if mode == "set" else indexing.scatter_add_p
    return prim.bind(x, v, *arrays, spec=spec)


def full_case(draw, dtype):
    (x,) = values(draw, [draw(SHAPES)], dtype, None)
    fill = draw(st.sampled_from([0.0, 1.0, 2.5]), label="fill")
    return (lambda xp, x: xp.full_like(x, fill) * x), [x]


def stop_gradient_case(draw, dtype):
    (x,) = values(draw, [draw(SHAPES)], dtype, None)
    return (lambda xp, x: fnp.stop_gradient(x) * x if xp is fnp else x * x), [x]


def complex_part_case(part: str):
    """real/imag/conj of a complex value made from two real arguments (so that every check,
    finite differences included, runs on real inputs) and turned back into a real output."""
    def build(draw, dtype):
        sx, sy = draw(broadcast_group(2), label="shapes")
        x, y = values(draw, [sx, sy], dtype, None)

        def fn(xp, x, y):
            z = (x + 1j * y) * (x - 0.5j)       # complex, not holomorphic in (x, y) jointly
            if part == "conj":
                return xp.real(xp.conj(z) * (1.5 + 0.5j))
            return getattr(xp, part)(z) * x
        return fn, [x, y]
    return build


def debug_callback_case(draw, dtype):
    (x,) = values(draw, [draw(SHAPES)], dtype, None)
    seen = []

    def fn(xp, x):
        if xp is fnp:
            fg.debug.callback(lambda v: seen.append(np.shape(v)), x * 2.0)
        return x * x
    return fn, [x]


def cond_case(draw, dtype):
    sx, sy = draw(broadcast_group(2), label="shapes")
    p = np.array(draw(st.booleans(), label="pred"))
    x, y = values(draw, [sx, sy], dtype, None)

    def fn(xp, p, x, y):
        if xp is np:
            return np.sin(x) * y if p else np.cos(x) + y
        return control.cond(p, lambda x, y: fnp.sin(x) * y, lambda x, y: fnp.cos(x) + y, x, y)
    return fn, [p, x, y]


def scan_case(draw, dtype):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
    n = draw(st.integers(0, 3), label="length")
    reverse = draw(st.booleans(), label="reverse")
    c0, xs = values(draw, [shape, (n,) + shape], dtype, None)

    def body(xp, c, x):
        return c * xp.sin(x) + x, c * x

    def fn(xp, c0, xs):
        if xp is fnp:
            return control.scan(lambda c, x: body(fnp, c, x), c0, xs, reverse=reverse)[1]
        ys, c = [], c0
        for x in (xs[::-1] if reverse else xs):
            c, y = body(np, c, x)
            ys.append(y)
        ys = ys[::-1] if reverse else ys
        return np.stack(ys) if ys else np.zeros((0,) + shape, dtype)
    return fn, [c0, xs]


def while_case(draw, dtype):
    (x,) = values(draw, [draw(SHAPES)], dtype, None)
    steps = draw(st.integers(0, 3), label="steps")

    def fn(xp, x):
        if xp is np:
            for _ in range(steps):
                x = np.sin(x) + x * 0.5
            return x
        return control.while_loop(lambda v: v[0] < steps,
                                  lambda v: (v[0] + 1, fnp.sin(v[1]) + v[1] * 0.5), (0, x))[1]
    return fn, [x]


def _ufunc_primitives(nin: int) -> dict[str, str]:
    """The elementwise primitives that apply one NumPy ufunc, from the registry: name -> the
    ufunc's name (which funcgrad.numpy and numpy both spell the same way). A new one needs no
    entry here: declaring it (and its funcgrad.numpy function) is enough."""
    return {n: p.impl.__name__ for n, p in registry.items()
            if p.elementwise and isinstance(p.impl, np.ufunc) and p.impl.nin == nin}


UNARY = _ufunc_primitives(1)
BINARY = {n: f for n, f in _ufunc_primitives(2).items() if not f.startswith("logical_")}
LOGICAL = {n: f for n, f in _ufunc_primitives(2).items() if f.startswith("logical_")}

CASES: dict[str, Callable] = {
    **{name: unary(name, f) for name, f in UNARY.items()},
    **{name: binary(name, f) for name, f in BINARY.items()},
    **{name: binary(name, f, logical=True) for name, f in LOGICAL.items()},
    "logistic": logistic_case,
    "relu": relu_case,
    "rem": binary("rem", "remainder", make_values=rem_values),
    "select": select_case,
    "integer_pow": integer_pow_case,
    "convert_element_type": convert_case,
    "reduce_sum": reduction("reduce_sum", "sum"),
    "reduce_prod": reduction("reduce_prod", "prod"),
    "reduce_max": reduction("reduce_max", "max", NONEMPTY),
    "reduce_min": reduction("reduce_min", "min", NONEMPTY),
    "argmax": one_axis("argmax", "argmax", NONEMPTY),
    "argmin": one_axis("argmin", "argmin", NONEMPTY),
    "cumsum": one_axis("cumsum", "cumsum"),
    "sort": one_axis("sort", "sort"),
    "argsort": one_axis("argsort", "argsort"),
    "reshape": reshape_case,
    "broadcast_to": broadcast_to_case,
    "transpose": transpose_case,
    "concatenate": concatenate_case,
    "rev": rev_case,
    "dot_general": dot_general_case,
    "getitem": getitem_case,
    "scatter_add": scatter_case("add"),
    "scatter_set": scatter_case("set"),
    "full": full_case,
    "stop_gradient": stop_gradient_case,
    "real": complex_part_case("real"),
    "imag": complex_part_case("imag"),
    "conj": complex_part_case("conj"),
    "debug_callback": debug_callback_case,
    "cond": cond_case,
    "scan": scan_case,
    "while": while_case,
}

# while_loop is forward-differentiable only (SPEC); everything else is checked in both modes.
# Primitives of other topics bring their cases in tests/cases_<topic>.py, each a module with a
# CASES dict of the same kind (and optionally MODES), built with the helpers above (it imports
# them from this module, which pytest always imports first).
_EXTRA_MODES: dict = {}
for _path in sorted(Path(__file__).parent.glob("cases_*.py")):
    _module = importlib.import_module(_path.stem)
    CASES.update(_module.CASES)
    _EXTRA_MODES.update(getattr(_module, "MODES", {}))

MODES = {"while": ("fwd",), **_EXTRA_MODES}

DIFFERENTIABLE = sorted(n for n in CASES if not registry[n].nondiff)


# ---------------------------------------------------------------- the registry

def _import_every_module() -> None:
    """Primitives register on import: load the whole package, so no primitive hides."""
    for info in pkgutil.walk_packages(fg.__path__, "funcgrad."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)


def test_every_primitive_has_its_rules_and_a_case():
    _import_every_module()
    for name, prim in registry.items():
        assert prim.abstract_eval is not None, name
        if name not in NOT_EXERCISED_HERE:
            assert prim.jvp is not None or prim.nondiff, f"{name}: no jvp rule and not nondiff"
            assert prim.impl is not None, f"{name}: no impl"
        if prim.linear:
            assert prim.transpose is not None, f"{name} is linear but has no transpose rule"
    missing = sorted(set(registry) - set(CASES) - NOT_EXERCISED_HERE)
    assert not missing, f"primitives with no entry in tests/test_prims.py CASES: {missing}"
    unknown = sorted(set(CASES) - set(registry))
    assert not unknown, f"CASES names primitives that are not registered: {unknown}"


# Every slot of Primitive, and what each primitive must declare in it. A slot that may be
# left at its default says so here; a new slot without an entry fails the test below.
REQUIRED = {"name", "abstract_eval", "batch", "cost"}              # every primitive
CALLABLE_OR_NONE = {"impl", "jvp", "transpose", "lower", "simplify", "expand", "native"}
BOOLEAN = {"multiple_results", "linear", "nondiff", "elementwise", "commutative", "fresh",
           "effect"}
BOOLEAN_OR_PREDICATE = {"checks_values"}                           # a function of the params
ANY = {"domain"}                                                   # a hint for tests


def test_every_slot_of_every_primitive_is_set_or_explicitly_defaulted():
    from funcgrad.core.primitive import Primitive
    slots = set(Primitive.__slots__) - {"__weakref__"}
    unknown = slots - REQUIRED - CALLABLE_OR_NONE - BOOLEAN - BOOLEAN_OR_PREDICATE - ANY
    assert not unknown, f"slots without a rule in this test: {sorted(unknown)}"
    _import_every_module()
    for name, prim in registry.items():
        for slot in REQUIRED - {"name"}:
            assert callable(getattr(prim, slot)), f"{name}: `{slot}` must be declared"
        for slot in CALLABLE_OR_NONE:
            value = getattr(prim, slot)
            assert value is None or callable(value), f"{name}: `{slot}` = {value!r}"
        for slot in BOOLEAN:
            assert type(getattr(prim, slot)) is bool, f"{name}: `{slot}` is not a bool"
        for slot in BOOLEAN_OR_PREDICATE:
            value = getattr(prim, slot)
            assert type(value) is bool or callable(value), f"{name}: `{slot}` = {value!r}"
        # the facts that make rules required
        assert prim.jvp is not None or prim.nondiff or name in NOT_EXERCISED_HERE, \
            f"{name}: no jvp rule and not nondiff"
        assert prim.transpose is not None or not prim.linear, f"{name}: linear, no transpose"
        assert not (prim.commutative and not prim.elementwise), name
        assert not (prim.fresh and prim.multiple_results and not prim.effect), name


def test_no_module_decides_by_a_primitive_s_name():
    """Slots, not names: code outside a primitive's declaration never compares a primitive's
    `name` with anything or looks primitives up in the registry by name."""
    import ast
    from pathlib import Path
    root = Path(fg.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                sides = [node.left, *node.comparators]
                if any(isinstance(s, ast.Attribute) and s.attr == "name" and
                       isinstance(s.value, (ast.Attribute, ast.Name)) and
                       getattr(s.value, "attr", getattr(s.value, "id", "")) in (
                           "primitive", "prim", "p") for s in sides):
                    offenders.append(f"{path.relative_to(root)}:{node.lineno}")
            if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and \
                    node.value.id == "registry" and not isinstance(node.ctx, ast.Store):
                offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert not offenders, f"decisions keyed by a primitive's name: {offenders}"


# ---------------------------------------------------------------- rules vs NumPy, graph == eager

def _check_each_equation(graph, args) -> None:
    """Run the graph with every primitive's impl, asserting each shape/dtype rule agrees."""
    env = dict(zip(graph.constvars, graph.consts))
    env.update(zip(graph.invars, args, strict=True))
    for eqn in graph.eqns:
        ins = [v.val if isinstance(v, Lit) else env[v] for v in eqn.inputs]
        outs = eqn.primitive.impl(*ins, **eqn.params)
        outs = list(outs) if eqn.primitive.multiple_results else [outs]
        for v, out in zip(eqn.outputs, outs, strict=True):
            out = np.asarray(out)
            assert (out.shape, out.dtype) == (v.aval.shape, v.aval.dtype), (
                f"{eqn}: the shape rule says {v.aval.short()}, NumPy gives "
                f"{out.dtype}{list(out.shape)}")
            env[v] = out


def _assert_same(got, expected, dtype, what: str) -> None:
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape, f"{what}: shape {got.shape} != {expected.shape}"
    assert got.dtype == expected.dtype, f"{what}: dtype {got.dtype} != {expected.dtype}"
    tol = 1e-5 if dtype == np.float32 else 1e-12
    if got.dtype.kind in "fc":
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol, err_msg=what)
    else:
        np.testing.assert_array_equal(got, expected, err_msg=what)


def close_over_some(draw, fn, args):
    """Make some arguments closed-over constants, so rules (transposes above all) also meet
    known NumPy values beside traced ones. At least one argument stays an argument."""
    const = draw(st.lists(st.booleans(), min_size=len(args), max_size=len(args)),
                 label="constant args")
    const[0] = const[0] and not all(const)

    def traced(*dyn):
        it = iter(dyn)
        return fn(fnp, *[a if c else next(it) for a, c in zip(args, const)])
    return traced, [a for a, c in zip(args, const) if not c]


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=15)
@given(data=st.data())
def test_rules_match_numpy_and_graph_matches_eager(name, data):
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
    fn, args = CASES[name](data.draw, dtype)
    expected = fn(np, *args)
    eager = fn(fnp, *args)
    _assert_same(eager, expected, dtype, f"{name}: eager vs NumPy")

    traced, args = close_over_some(data.draw, fn, args)
    graph = fg.make_graph(traced)(*args)
    assert name in {e.primitive.name for e in graph.eqns}, \
        f"the case for {name} does not use it:\n{graph}"
    (out_aval,) = graph.out_avals
    assert (out_aval.shape, out_aval.dtype) == (np.shape(expected), np.asarray(expected).dtype)
    _check_each_equation(graph, args)
    (from_graph,) = eval_graph(graph, args)
    _assert_same(from_graph, eager, dtype, f"{name}: eval_graph vs eager")
    # codegen, per primitive: the generated NumPy (its `lower` rule) computes what the impl does
    _assert_same(fg.jit(traced)(*args), eager, dtype, f"{name}: jit vs eager")


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=8)
@given(data=st.data())
def test_codegen_never_overwrites_a_buffer_a_result_may_share(name, data):
    """Each case's operands are made fresh buffers (sin of the inputs) that a later ufunc may
    write into once they are dead (out=); a primitive whose result may be a view of its operands
    (not `fresh`) must keep them alive. Buffer reuse is switched on for all but 0-d sizes."""
    from funcgrad.compile import codegen
    reuse_min, codegen._REUSE_MIN = codegen._REUSE_MIN, 2   # 0-d results are NumPy scalars
    try:
        _check_buffers(name, data)
    finally:
        codegen._REUSE_MIN = reuse_min


def _check_buffers(name, data):
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
    fn, args = CASES[name](data.draw, dtype)

    def f(xp, *xs):
        fresh = [xp.sin(x) if x.dtype.kind == "f" else x for x in xs]
        out = fn(xp, *fresh)
        later = [xp.cos(v) for v in fresh if v.dtype.kind == "f"]  # may write into v
        return out, later
    expected = f(np, *args)
    got = fg.jit(lambda *xs: f(fnp, *xs))(*args)
    _assert_same(got[0], expected[0], dtype, f"{name}: result")
    for g, e in zip(got[1], expected[1]):
        _assert_same(g, e, dtype, f"{name}: later values")


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=8)
@given(data=st.data())
def test_vmap_matches_a_loop(name, data):
    """Every primitive's batching rule, through its case: vmap over two examples (the second a
    small perturbation of the first), the batch axis drawn per argument, against a loop."""
    fn, args = CASES[name](data.draw, np.float64)
    traced, args = close_over_some(data.draw, fn, args)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    axes = [data.draw(st.sampled_from([None] + list(range(np.ndim(a) + 1))), label="axis")
            for a in args]
    if all(ax is None for ax in axes):
        axes[0] = 0
    second = [a * (1.0 + 0.01 * rng.uniform(-1.0, 1.0, np.shape(a)))
              if ax is not None and np.asarray(a).dtype.kind == "f" else a
              for a, ax in zip(args, axes)]
    batched = [a if ax is None else np.stack([a, b], axis=ax)
               for a, b, ax in zip(args, second, axes)]
    expected = np.stack([np.asarray(traced(*args)), np.asarray(traced(*second))])
    got = fg.vmap(traced, in_axes=tuple(axes))(*batched)
    _assert_same(got, expected, np.float64, f"{name}: vmap with in_axes={axes} vs a loop")


# ---------------------------------------------------------------- derivatives

@pytest.mark.parametrize("name", DIFFERENTIABLE)
@settings(max_examples=15)
@given(data=st.data())
def test_derivatives_to_order_2(name, data):
    fn, args = CASES[name](data.draw, np.float64)
    traced, args = close_over_some(data.draw, fn, args)
    check_grads(traced, args, order=2, modes=MODES.get(name, ("fwd", "rev")))


# ---------------------------------------------------------------- regressions found here

def test_prod_gradient_is_exact_at_zeros():
    # Was out / x: nan at a zero. Now a pairwise product tree.
    x = np.array([0.0, 2.0, 3.0])
    np.testing.assert_array_equal(fg.grad(fnp.prod)(x), [6.0, 0.0, 0.0])
    np.testing.assert_array_equal(fg.grad(fnp.prod)(np.array([0.0, 2.0, 0.0])), [0.0] * 3)
    check_grads(fnp.prod, (x,), order=2)
    check_grads(lambda x: fnp.prod(x, axis=1), (np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 1.0]]),),
                order=2)


def test_scatter_add_broadcasts_its_values_itself():
    # np.add.at(out, idx, values) with values that it must broadcast (here (3,) into (2, 3))
    # reads garbage in NumPy 2.4.6; x.at[idx].add(v) must add v to every indexed row.
    idx = np.array([[0, 1, 2], [3, 4, 0]])
    v = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(_eager_at(np.zeros(5), idx, "add", v), [4.0, 2.0, 3.0, 1.0, 2.0])
    np.testing.assert_array_equal(fg.jit(lambda v: (v[0] * fnp.zeros(5)).at[idx].add(v))(v),
                                  [4.0, 2.0, 3.0, 1.0, 2.0])


def test_concatenate_transpose_with_a_constant_operand():
    # The transpose read `.aval` of every operand, failing on a NumPy constant.
    g = fg.grad(lambda x: fnp.sum(fnp.concatenate([x, np.ones(2)]) * np.arange(5.0)))(np.ones(3))
    np.testing.assert_array_equal(g, [0.0, 1.0, 2.0])


def test_integer_pow_of_bool_has_numpy_dtype():
    x = np.array([True, False])
    for n in (0, 2, 3):
        assert fg.make_graph(lambda x, n=n: fnp.power(x, n))(x).out_avals[0].dtype == np.int64
        assert np.asarray(fnp.power(x, n)).dtype == np.power(x, n).dtype


# ---------------------------------------------------------------- complex numbers

def _accepts_complex(prim, arity: int) -> bool:
    from funcgrad.core.types import ArrayType
    try:
        prim.abstract_eval(*[ArrayType((2,), np.complex128)] * arity)
        return True
    except (TypeError, ValueError):
        return False


def _arity(prim) -> int:
    return 3 if prim.name == "select" else 2 if prim.name in BINARY or prim.name in (
        "and", "or", "xor", "rem", "atan2") else 1


# Every elementwise primitive whose shape rule accepts complex operands, from the registry:
# its complex derivative is checked against finite differences in random complex (real and
# imaginary) directions. The parameterised ones (integer_pow, convert_element_type) and select
# (its predicate is boolean) get their own operands below.
COMPLEX_ELEMENTWISE = sorted(
    n for n, p in registry.items() if p.elementwise and not p.nondiff and n not in (
        "select", "integer_pow", "convert_element_type") and _accepts_complex(p, _arity(p)))


def test_complex_elementwise_set_is_what_numpy_accepts():
    # relu and logistic (no complex meaning) refuse complex operands; everything NumPy's ufuncs
    # take is differentiable for complex values.
    assert {"exp", "log", "sqrt", "abs", "mul", "div", "pow", "real", "imag", "conj", "max",
            "arccosh"} <= set(COMPLEX_ELEMENTWISE)
    for name in ("relu", "logistic"):
        with pytest.raises(TypeError, match="real numbers only"):
            fg.grad(lambda z, p=registry[name]: fnp.real(p.bind(z)))(np.array(1.0 + 1.0j))


def _complex_values(rng, shape):
    # Real parts in (0.3, 1.2), imaginary parts in (0.2, 0.8): away from every branch cut of
    # NumPy's principal branches (the real axis outside (-1, 1) or below 1, the imaginary axis
    # beyond +-i), from zero, and with distinct real parts (no ties for max/min).
    n = int(np.prod(shape, dtype=np.int64))
    re = 0.3 + 0.9 * (rng.permutation(n) + rng.uniform(0.1, 0.9, n)) / max(n, 1)
    return (re + 1j * rng.uniform(0.2, 0.8, n)).reshape(shape)


@pytest.mark.parametrize("name", COMPLEX_ELEMENTWISE)
@settings(max_examples=6)
@given(data=st.data())
def test_complex_derivatives(name, data):
    prim = registry[name]
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    shapes = data.draw(broadcast_group(_arity(prim), min_side=1), label="shapes")
    args = [_complex_values(rng, s) for s in shapes]
    if name == "pow":
        args[1] = args[1] * 0.5     # modest exponents
    check_grads(lambda *xs: prim.bind(*xs), args, order=2)


def test_complex_select_integer_pow_and_casts():
    rng = np.random.default_rng(0)
    z, w = _complex_values(rng, (3,)), _complex_values(rng, (3,))
    pred = np.array([True, False, True])
    check_grads(lambda z, w: fnp.where(pred, z, w), (z, w), order=2)
    for n in (2, 3, -1):
        check_grads(lambda z, n=n: fnp.power(z, n), (z,), order=2)
    check_grads(lambda z: fnp.astype(z, np.complex64), (z,), order=2, atol=1e-3, rtol=1e-3)
    check_grads(lambda x: fnp.astype(x, np.complex128) * (1 + 2j), (z.real,), order=2)
    check_grads(lambda z: fnp.astype(z, np.float64), (z,), order=2)     # the real part


def test_views_of_complex_values_survive_buffer_reuse():
    # real and imag return views of their complex operand (they are not `fresh`); the cases
    # above build that operand inside the function, so here it is a fresh buffer of its own
    # that a later ufunc could write into.
    from funcgrad.compile import codegen
    views = [p for p in registry.values() if p.elementwise and not p.fresh and not p.nondiff
             and _accepts_complex(p, 1)]
    assert {p.name for p in views} >= {"real", "imag"}
    z = np.exp(1j * np.linspace(0.0, 3.0, 300))
    for prim in views:
        def f(z, prim=prim):
            s = fnp.sin(z)
            v = prim.bind(s)          # may be a view of s
            w = fnp.cos(s)            # the last use of s: may write into its buffer
            return v * 2.0, w
        expected = f(z)
        got = fg.jit(f)(z)
        assert "out=" in codegen.generate(fg.jit(lambda z: (fnp.cos(fnp.sin(z)),)).lower(
            z).graph)[0]       # reuse does happen in this situation
        np.testing.assert_allclose(got[0], expected[0], rtol=1e-14, err_msg=prim.name)
        np.testing.assert_allclose(got[1], expected[1], rtol=1e-14, err_msg=prim.name)
