import copy
import dataclasses
import doctest
import pickle
from collections import OrderedDict, defaultdict, namedtuple
from typing import Any, NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funcgrad import tree

Point = namedtuple("Point", ["x", "y"])


class Pair(NamedTuple):
    a: Any
    b: Any


@tree.register_dataclass
@dataclasses.dataclass
class Params:
    w: Any
    b: Any


@tree.register_dataclass
@dataclasses.dataclass(frozen=True)
class Frozen:
    x: Any
    y: Any = 0
    z: Any = dataclasses.field(default=None, init=False)


class Box:
    """A custom node with aux data (a name) and two children."""

    def __init__(self, name, left, right):
        self.name, self.left, self.right = name, left, right

    def __eq__(self, other):
        return (
            type(other) is Box
            and self.name == other.name
            and same(self.left, other.left)
            and same(self.right, other.right)
        )


tree.register_node(
    Box, lambda b: ((b.left, b.right), b.name), lambda name, cs: Box(name, cs[0], cs[1])
)


def same(a, b):
    """Strict equality: types must match exactly (a namedtuple is not a tuple, 1 is not 1.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if dataclasses.is_dataclass(a):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    return a == b


def sort_dicts(t):
    """The tree ``unflatten(flatten(t))`` must give: plain dicts with their keys sorted."""
    if type(t) is dict:
        return {k: sort_dicts(t[k]) for k in sorted(t)}
    if type(t) in (tuple, list):
        return type(t)(sort_dicts(x) for x in t)
    if isinstance(t, tuple) and hasattr(t, "_fields"):
        return type(t)(*(sort_dicts(x) for x in t))
    if type(t) is Params:
        return Params(sort_dicts(t.w), sort_dicts(t.b))
    return t


def ref_leaves(t):
    """Recursive reference implementation of the leaf order."""
    if t is None:
        return []
    if type(t) is dict:
        return [x for k in sorted(t) for x in ref_leaves(t[k])]
    if isinstance(t, (tuple, list)) and (type(t) in (tuple, list) or hasattr(t, "_fields")):
        return [x for c in t for x in ref_leaves(c)]
    if type(t) is Params:
        return ref_leaves(t.w) + ref_leaves(t.b)
    return [t]


def roundtrip(t):
    leaves, td = tree.flatten(t)
    assert td.num_leaves == len(leaves)
    return tree.unflatten(td, leaves)


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    "t, expected_leaves",
    [
        (1.5, [1.5]),
        ((), []),
        ([], []),
        ({}, []),
        (None, []),
        ((1, 2, 3), [1, 2, 3]),
        ([1, [2, [3, (4,)]]], [1, 2, 3, 4]),
        ({"b": 1, "a": (2, 3)}, [2, 3, 1]),
        ((None, 1, [None, 2]), [1, 2]),
        (Point(1, [2, 3]), [1, 2, 3]),
        (Pair(a={"z": 1, "y": 2}, b=None), [2, 1]),
        (Params(w=[1, 2], b=3), [1, 2, 3]),
        (Frozen(x=1, y=(2, 3)), [1, 2, 3]),
        (Box("n", 1, (2, Box("m", 3, None))), [1, 2, 3]),
        (OrderedDict([("b", 1), ("a", 2)]), [1, 2]),
        ({"x": [Params(w=Point(1, 2), b=None)], "a": ()}, [1, 2]),
    ],
)
def test_roundtrip_and_leaf_order(t, expected_leaves):
    leaves, td = tree.flatten(t)
    assert leaves == expected_leaves
    assert td.num_leaves == len(expected_leaves)
    assert same(tree.unflatten(td, leaves), sort_dicts(t) if type(t) is not Box else t)
    assert tree.leaves(t) == expected_leaves
    assert tree.structure(t) == td


def test_unflatten_with_new_leaves():
    t = ({"b": np.ones(2), "a": 3.0}, [np.zeros(3), None], Point(1, 2))
    leaves, td = tree.flatten(t)
    new = tree.unflatten(td, [f"leaf{i}" for i in range(len(leaves))])
    assert same(new, ({"a": "leaf0", "b": "leaf1"}, ["leaf2", None], Point("leaf3", "leaf4")))
    # Any iterable of leaves is accepted.
    assert td.unflatten(iter(range(5))) == ({"a": 0, "b": 1}, [2, None], Point(3, 4))


def test_numpy_arrays_are_leaves_and_not_copied():
    a, b = np.arange(3.0), np.ones((2, 2))
    leaves, td = tree.flatten({"a": a, "b": [b]})
    assert leaves[0] is a and leaves[1] is b
    out = td.unflatten(leaves)
    assert out["a"] is a and out["b"][0] is b


def test_dict_keys_sorted_and_restored():
    leaves, td = tree.flatten({"c": 3, "a": 1, "b": 2})
    assert leaves == [1, 2, 3]
    out = td.unflatten(leaves)
    assert type(out) is dict and list(out) == ["a", "b", "c"]
    # Non-string and mixed, unorderable keys still flatten deterministically.
    assert tree.leaves({2: "two", 1: "one"}) == ["one", "two"]
    mixed = {"a": 1, 2: 2, (3,): 3}
    assert sorted(tree.leaves(mixed)) == [1, 2, 3]
    assert tree.unflatten(tree.structure(mixed), tree.leaves(mixed)) == mixed
    assert tree.structure(mixed) == tree.structure({(3,): 0, 2: 0, "a": 0})


def test_none_is_a_node_not_a_leaf():
    leaves, td = tree.flatten(None)
    assert leaves == [] and td.num_leaves == 0
    assert td.unflatten([]) is None
    assert tree.leaves([None, 1, (None,)]) == [1]
    assert tree.structure(None) != tree.structure(0)
    assert repr(tree.structure([None, 1])) == "PyTreeDef([None, *])"


def test_namedtuple_type_preserved():
    out = roundtrip(Point(x=(1, 2), y=Pair(3, 4)))
    assert type(out) is Point and type(out.y) is Pair
    assert out == Point((1, 2), Pair(3, 4))
    assert tree.structure(Point(1, 2)) != tree.structure((1, 2))
    assert tree.structure(Point(1, 2)) != tree.structure(Pair(1, 2))


def test_tuple_subclass_without_fields_and_dict_subclass_are_leaves():
    class MyTuple(tuple):
        pass

    class MyDict(dict):
        pass

    t, d = MyTuple((1, 2)), MyDict(a=1)
    assert tree.leaves([t, d]) == [t, d]


def test_ordered_and_default_dicts():
    od = OrderedDict([("z", 1), ("a", 2)])
    leaves, td = tree.flatten(od)
    assert leaves == [1, 2]
    out = td.unflatten(["Z", "A"])
    assert type(out) is OrderedDict and list(out.items()) == [("z", "Z"), ("a", "A")]
    assert tree.structure(od) != tree.structure(OrderedDict([("a", 2), ("z", 1)]))
    assert tree.structure(od) != tree.structure({"z": 1, "a": 2})

    dd = defaultdict(list, {"b": 1, "a": 2})
    leaves, td = tree.flatten(dd)
    assert leaves == [2, 1]
    out = td.unflatten([20, 10])
    assert type(out) is defaultdict and out.default_factory is list
    assert dict(out) == {"a": 20, "b": 10}


def test_dataclass_roundtrip():
    p = Params(w=np.ones(3), b=(1.0, None))
    leaves, td = tree.flatten(p)
    assert len(leaves) == 2 and leaves[1] == 1.0
    out = td.unflatten(leaves)
    assert type(out) is Params and same(out, p)
    assert repr(td) == "PyTreeDef(Params(w=*, b=(*, None)))"
    # frozen, with a field outside __init__
    f = Frozen(x=1, y=2)
    out = tree.map(lambda v: v * 10, f)
    assert type(out) is Frozen and (out.x, out.y) == (10, 20) and out.z is None
    assert tree.leaves(f) == [1, 2]  # z is None: a node with no leaves


def test_register_dataclass_is_a_decorator_and_validates():
    @dataclasses.dataclass
    class One:
        v: Any

    assert tree.register_dataclass(One) is One
    assert tree.leaves(One(v=[1, 2])) == [1, 2]
    assert roundtrip(One(v=(1,))) == One(v=(1,))
    with pytest.raises(ValueError, match="already registered"):
        tree.register_dataclass(One)
    with pytest.raises(TypeError):
        tree.register_dataclass(int)

    @tree.register_dataclass
    @dataclasses.dataclass
    class Empty:
        pass

    leaves, td = tree.flatten(Empty())
    assert leaves == [] and type(td.unflatten([])) is Empty


def test_custom_node_roundtrip_and_aux_in_structure():
    b = Box("enc", np.ones(2), {"k": 3})
    leaves, td = tree.flatten(b)
    assert leaves[1] == 3
    out = td.unflatten(leaves)
    assert type(out) is Box and out == b
    assert tree.structure(Box("enc", 1, {"k": 2})) == td
    assert tree.structure(Box("dec", 1, {"k": 2})) != td
    assert repr(td) == "PyTreeDef(CustomNode(Box['enc'], [*, {'k': *}]))"


def test_register_node_twice_raises_and_builtins_are_taken():
    class C:
        def __init__(self, v):
            self.v = v

    c = C(5)
    assert tree.leaves([c]) == [c]  # a leaf before registration
    tree.register_node(C, lambda n: ((n.v,), None), lambda aux, cs: C(cs[0]))
    assert tree.leaves([c]) == [5]  # a node afterwards
    with pytest.raises(ValueError, match="already registered"):
        tree.register_node(C, lambda n: ((n.v,), None), lambda aux, cs: C(cs[0]))
    for t in (tuple, list, dict, type(None)):
        with pytest.raises(ValueError, match="already registered"):
            tree.register_node(t, lambda n: ((), None), lambda aux, cs: None)


def test_custom_flatten_may_return_any_iterable():
    class Gen:
        def __init__(self, *items):
            self.items = items

    tree.register_node(Gen, lambda g: (iter(g.items), len(g.items)), lambda n, cs: Gen(*cs))
    leaves, td = tree.flatten(Gen(1, (2, 3)))
    assert leaves == [1, 2, 3]
    assert td.unflatten([4, 5, 6]).items == (4, (5, 6))


def test_is_leaf():
    t = [(1, 2), (3, 4), {"a": (5, 6)}]
    assert tree.leaves(t, is_leaf=lambda x: type(x) is tuple) == [(1, 2), (3, 4), (5, 6)]
    assert tree.leaves([None, 1], is_leaf=lambda x: x is None) == [None, 1]
    leaves, td = tree.flatten(t, is_leaf=lambda x: isinstance(x, list))
    assert leaves == [t] and td.num_leaves == 1
    out = tree.map(sum, t, is_leaf=lambda x: type(x) is tuple)
    assert out == [3, 7, {"a": 11}]


# --------------------------------------------------------------------------- TreeDef


def test_structure_equality_and_hashing():
    t1 = ({"a": np.ones(2), "b": [1.0, 2.0]}, None, Point(1, 2))
    t2 = ({"b": ["x", "y"], "a": 0}, None, Point(3, 4))
    s1, s2 = tree.structure(t1), tree.structure(t2)
    assert s1 is not s2
    assert s1 == s2 and not (s1 != s2)
    assert hash(s1) == hash(s2)
    cache = {s1: "compiled"}
    assert cache[s2] == "compiled"
    different = [
        ({"a": 1, "c": [1, 2]}, None, Point(1, 2)),  # other key
        ({"a": 1, "b": (1, 2)}, None, Point(1, 2)),  # tuple for list
        ({"a": 1, "b": [1, 2]}, 0, Point(1, 2)),  # leaf for None
        ({"a": 1, "b": [1, 2]}, None, (1, 2)),  # tuple for namedtuple
        ({"a": 1, "b": [1, 2, 3]}, None, Point(1, 2)),  # longer list
    ]
    for t in different:
        assert tree.structure(t) != s1
    assert len({tree.structure(t) for t in different} | {s1}) == len(different) + 1
    assert s1 != "not a treedef"
    assert tree.structure(1) == tree.structure(np.ones(3))


def test_fast_paths_agree_with_general_path():
    never = lambda x: False  # forces the general flattening loop
    for t in [(1, 2, 3), [1, 2], {"a": 1, "b": 2}, (), {}, 5.0, (1, None)]:
        fast, general = tree.structure(t), tree.structure(t, is_leaf=never)
        assert fast == general and hash(fast) == hash(general)
        assert repr(fast) == repr(general)
        assert same(general.unflatten(tree.leaves(t)), t)


def test_treedef_attributes_repr_children():
    td = tree.structure((1, [2, 3], {"a": 4}))
    assert td.num_leaves == 4
    assert repr(td) == "PyTreeDef((*, [*, *], {'a': *}))"
    assert repr(tree.structure((1,))) == "PyTreeDef((*,))"
    assert repr(tree.structure(Point(1, [2]))) == "PyTreeDef(Point(x=*, y=[*]))"
    assert repr(tree.structure(7)) == "PyTreeDef(*)"
    children = td.children()
    assert children == [tree.structure(0), tree.structure([0, 0]), tree.structure({"a": 0})]
    assert [c.num_leaves for c in children] == [1, 2, 1]
    assert tree.structure(1).children() == []


def test_treedef_is_immutable_and_picklable():
    td = tree.structure({"a": (1, 2), "p": Point(1, None)})
    with pytest.raises(AttributeError):
        td.num_leaves = 3
    with pytest.raises(AttributeError):
        del td.num_leaves
    with pytest.raises(TypeError):
        tree.TreeDef()
    assert td.num_leaves == 3
    again = pickle.loads(pickle.dumps(td))
    assert again == td and hash(again) == hash(td)
    assert copy.copy(td) is td and copy.deepcopy(td) is td


def test_unflatten_wrong_leaf_count_raises():
    td = tree.structure((1, {"a": 2}))
    with pytest.raises(ValueError, match=r"expects 2 leaves, got 3"):
        tree.unflatten(td, [1, 2, 3])
    with pytest.raises(ValueError, match=r"expects 2 leaves, got 1"):
        td.unflatten([1])
    with pytest.raises(ValueError, match=r"expects 1 leaves, got 0"):
        tree.unflatten(tree.structure(1.0), [])


# --------------------------------------------------------------------------- map


def test_map_single_and_multiple_trees():
    t = {"w": np.array([1.0, 2.0]), "b": (3.0, None)}
    out = tree.map(lambda x: x * 2, t)
    assert np.array_equal(out["w"], [2.0, 4.0]) and out["b"] == (6.0, None)
    assert np.array_equal(t["w"], [1.0, 2.0])  # input untouched
    grads = {"w": np.array([0.5, 0.5]), "b": (1.0, None)}
    moms = {"b": (10.0, None), "w": np.array([1.0, 1.0])}
    out = tree.map(lambda p, g, m: p - g + m, t, grads, moms)
    assert np.array_equal(out["w"], [1.5, 2.5]) and out["b"] == (12.0, None)
    assert tree.map(lambda a, b: (a, b), [1, 2], [3, 4]) == [(1, 3), (2, 4)]


def test_map_mismatched_structures_raise():
    with pytest.raises(ValueError, match=r"PyTreeDef\(\(\*, \*\)\).*PyTreeDef\(\[\*, \*\]\)"):
        tree.map(lambda a, b: a, (1, 2), [1, 2])
    with pytest.raises(ValueError, match="same structure"):
        tree.map(lambda a, b: a, {"a": 1}, {"b": 1})
    with pytest.raises(ValueError, match="tree 3"):
        tree.map(lambda a, b, c: a, (1, 2), (1, 2), (1, (2, 3)))
    with pytest.raises(ValueError):
        tree.map(lambda a, b: a, (1, None), (1, 2))


# --------------------------------------------------------------------------- broadcast_prefix


def test_broadcast_prefix_int_and_none():
    full = (np.ones(2), {"a": 1, "b": [2, 3]}, None)
    assert tree.broadcast_prefix(0, full) == [0, 0, 0, 0]
    assert tree.broadcast_prefix(None, full) == [None, None, None, None]
    assert tree.broadcast_prefix(1, 5.0) == [1]


def test_broadcast_prefix_tuple_matching_args():
    a, b, c = np.ones(2), np.ones(3), np.ones(4)
    assert tree.broadcast_prefix((0, None, 1), (a, b, c)) == [0, None, 1]
    assert tree.broadcast_prefix((0, None), (a, {"x": b, "y": (c, c)})) == [0, None, None, None]
    assert tree.broadcast_prefix((0, 1), ([a, b], None)) == [0, 0]  # None holds no leaves
    assert tree.broadcast_prefix((None, (0, 1)), (a, (b, [c, c]))) == [None, 0, 1, 1]
    assert tree.broadcast_prefix([0, None], [a, b]) == [0, None]


def test_broadcast_prefix_dict():
    full = {"w": [np.ones(2), np.ones(3)], "b": np.ones(1), "s": 2.0}
    prefix = {"w": 0, "b": None, "s": 1}
    # leaves of full in order: b, s, w[0], w[1]
    assert tree.broadcast_prefix(prefix, full) == [None, 1, 0, 0]
    assert tree.broadcast_prefix((prefix,), (full,)) == [None, 1, 0, 0]
    assert tree.broadcast_prefix({"p": Point(0, None)}, {"p": Point([1, 2], 3)}) == [0, 0, None]


def test_broadcast_prefix_invalid_raises():
    a = np.ones(2)
    with pytest.raises(ValueError, match=r"PyTreeDef\(\(\*, \*, \*\)\).*PyTreeDef\(\(\*, \*\)\)"):
        tree.broadcast_prefix((0, 0, 0), (a, a))
    with pytest.raises(ValueError, match=r"at \[1\]: expected a dict with keys \['w'\]"):
        tree.broadcast_prefix((0, {"w": 0}), (a, {"v": a}))
    with pytest.raises(ValueError, match="not a prefix"):
        tree.broadcast_prefix(((0, 0),), (a,))  # prefix deeper than the tree
    with pytest.raises(ValueError, match="not a prefix"):
        tree.broadcast_prefix([0, 0], (a, a))  # list vs tuple
    with pytest.raises(ValueError, match="not a prefix"):
        tree.broadcast_prefix({"a": 0}, {"a": a, "b": a})


def test_broadcast_prefix_with_is_leaf():
    full = ((1, 2), (3, 4))
    assert tree.broadcast_prefix((0, 1), full, is_leaf=lambda x: x == (3, 4)) == [0, 0, 1]


# --------------------------------------------------------------------------- paths


def test_flatten_with_paths():
    t = ({"w": np.ones((5, 3)), "b": 1.0}, [2.0, None, Point(3, Params(w=4, b=5))])
    pairs = tree.flatten_with_paths(t)
    assert [p for p, _ in pairs] == [
        "[0]['b']",
        "[0]['w']",
        "[1][0]",
        "[1][2].x",
        "[1][2].y.w",
        "[1][2].y.b",
    ]
    assert [x for _, x in pairs[1:]] == [pairs[1][1], 2.0, 3, 4, 5]
    assert pairs[0] == ("[0]['b']", 1.0)
    assert all(a is b for (_, a), b in zip(pairs, tree.leaves(t), strict=True))
    assert tree.flatten_with_paths(7) == [("", 7)]
    # mixed key types sort by (type name, repr): int before str; custom nodes use indices
    assert tree.flatten_with_paths({"k": [Box("n", "l", "r")], 1: "a"}) == [
        ("[1]", "a"),
        ("['k'][0][0]", "l"),
        ("['k'][0][1]", "r"),
    ]


# --------------------------------------------------------------------------- deep trees


def test_deep_nesting_does_not_recurse():
    depth = 5000
    t = 1.0
    for _ in range(depth):
        t = [t]
    leaves, td = tree.flatten(t)
    assert leaves == [1.0]
    assert td.num_leaves == 1 and td.num_nodes == depth + 1
    out = td.unflatten([2.0])
    for _ in range(depth):
        assert type(out) is list and len(out) == 1
        out = out[0]
    assert out == 2.0
    u = "x"
    for i in range(depth):
        u = {"k": u} if i % 2 else (u, None)
    s1, s2 = tree.structure(u), tree.structure(tree.map(lambda x: 0, u))
    assert s1 == s2 and hash(s1) == hash(s2)
    assert repr(s1).count("*") == 1
    assert tree.flatten_with_paths(u)[0][1] == "x"
    assert tree.broadcast_prefix(0, u) == [0]
    assert tree.broadcast_prefix(u, u) == ["x"]


def test_reference_cycles_raise_instead_of_hanging():
    loop = [1]
    loop.append(loop)
    d = {"a": 1.0}
    d["b"] = (d,)
    for t in (loop, (0, d), {"x": [loop]}):
        with pytest.raises(ValueError, match="reference cycle"):
            tree.flatten(t)
        with pytest.raises(ValueError, match="reference cycle"):
            tree.flatten_with_paths(t)
        with pytest.raises(ValueError, match="reference cycle"):
            tree.broadcast_prefix(0, t)
        with pytest.raises(ValueError, match="reference cycle"):
            tree.map(lambda x: x, t)
    shared = [1, 2]
    assert tree.leaves([shared, (shared, {"k": shared})]) == [1, 2, 1, 2, 1, 2]


# --------------------------------------------------------------------------- properties

leaf_st = st.one_of(
    st.integers(-5, 5),
    st.floats(allow_nan=False, width=32),
    st.text(max_size=2),
    st.builds(np.arange, st.integers(0, 3)),
)
tree_st = st.recursive(
    st.one_of(leaf_st, st.none()),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=3), children, max_size=4),
        st.builds(Point, children, children),
        st.builds(Params, children, children),
    ),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(tree_st)
def test_property_roundtrip(t):
    leaves, td = tree.flatten(t)
    assert td.num_leaves == len(leaves)
    assert all(a is b for a, b in zip(leaves, ref_leaves(t), strict=True))
    assert same(td.unflatten(leaves), sort_dicts(t))
    # structure is independent of leaf values; rebuilt trees give equal, equal-hash treedefs
    rebuilt = td.unflatten(list(range(len(leaves))))
    td2 = tree.structure(rebuilt)
    assert td2 == td and hash(td2) == hash(td)
    assert tree.leaves(rebuilt) == list(range(len(leaves)))
    # paths address the leaves
    pairs = tree.flatten_with_paths(t)
    assert all(a is b for (_, a), b in zip(pairs, leaves, strict=True))
    for path, leaf in pairs:
        assert eval("t" + path, {"t": t}) is leaf
    # a tree is a prefix of itself, and a leaf prefix broadcasts everywhere
    assert tree.broadcast_prefix(0, t) == [0] * len(leaves)
    assert tree.broadcast_prefix(rebuilt, t) == list(range(len(leaves)))


@settings(max_examples=100, deadline=None)
@given(tree_st, tree_st)
def test_property_structure_equality_matches_shape(t1, t2):
    s1, s2 = tree.structure(t1), tree.structure(t2)
    shape = lambda t: tree.map(lambda x: 0, t)
    assert (s1 == s2) == same(shape(t1), shape(t2))
    if s1 == s2:
        assert hash(s1) == hash(s2)


def test_module_doctests():
    result = doctest.testmod(tree)
    assert result.attempted >= 10 and result.failed == 0


# ---------------------------------------------------------------- paths, reduce, ravel

def test_flatten_with_path_and_map_with_path():
    t = {"layer": [{"w": 1.0, "b": 2.0}], "scale": 3.0}
    pairs, td = tree.flatten_with_path(t)
    assert pairs == [("['layer'][0]['b']", 2.0), ("['layer'][0]['w']", 1.0), ("['scale']", 3.0)]
    assert td == tree.structure(t)
    decayed = tree.map_with_path(lambda p, x, y: x + y if p.endswith("['w']") else x, t, t)
    assert decayed == {"layer": [{"w": 2.0, "b": 2.0}], "scale": 3.0}


def test_reduce():
    assert tree.reduce(lambda a, b: a * b, {"a": 2, "b": [3, 4]}) == 24
    assert tree.reduce(lambda a, b: a + b, [], initializer=5) == 5
    with pytest.raises(TypeError, match="initializer"):
        tree.reduce(lambda a, b: a + b, {})


def test_ravel_pytree_round_trip_and_derivatives():
    import funcgrad as fg
    from funcgrad.flatten_util import ravel_pytree
    params = {"w": np.arange(4.0, dtype=np.float32).reshape(2, 2), "b": np.array([1.0, -1.0]),
              "n": np.array(3)}
    flat, unravel = ravel_pytree(params)
    assert flat.shape == (7,) and flat.dtype == np.float64
    back = unravel(flat)
    assert tree.structure(back) == tree.structure(params)
    for a, b in zip(tree.leaves(back), tree.leaves(params)):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)

    def loss(v):
        p = unravel(v)
        return (p["w"] ** 2).sum() + (p["b"] * 3.0).sum()
    want = np.array([3.0, 3.0, 0.0, 0.0, 2.0, 4.0, 6.0])   # b, n, w in flatten order
    np.testing.assert_allclose(fg.grad(loss)(flat), want)
    np.testing.assert_allclose(fg.jit(fg.grad(loss))(flat), want)
    np.testing.assert_allclose(fg.vmap(lambda v: ravel_pytree(unravel(v))[0])(
        np.stack([flat, 2 * flat])), np.stack([flat, 2 * flat]))
    with pytest.raises(ValueError, match=r"shape \(7,\)"):
        unravel(np.zeros(3))
