"""Pytrees: flatten nested containers (tuple, list, dict, None, namedtuple, registered
types) to a list of leaves plus a hashable ``TreeDef``, and rebuild them."""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Hashable, Iterable
from typing import Any

__all__ = [
    "TreeDef",
    "flatten",
    "unflatten",
    "leaves",
    "structure",
    "map",
    "map_with_path",
    "flatten_with_path",
    "reduce",
    "register_node",
    "register_dataclass",
]

_type = type  # ``register_node`` has a parameter called ``type``
_NoneType = _type(None)
_MISSING = object()

# A TreeDef is a flat tuple of entries in pre-order (a node before its children, children
# left to right). A leaf is the entry ``None``; a node is ``(kind, aux, num_children)``
# where ``kind`` is the node's type. A flat tuple keeps hashing, comparison and repr free
# of recursion, so arbitrarily deep trees work.
_NONE_ENTRY = (_NoneType, None, 0)


# --------------------------------------------------------------------------- node kinds


class _NodeKind:
    """How to take one node type apart and put it back together."""

    __slots__ = ("type", "flatten", "unflatten", "keys", "show")

    def __init__(self, type_, flatten_fn, unflatten_fn, keys, show):
        self.type = type_
        self.flatten = flatten_fn  # node -> (children, aux)
        self.unflatten = unflatten_fn  # (aux, children_list) -> node
        self.keys = keys  # (aux, num_children) -> list of path suffixes
        self.show = show  # (aux, child_strings) -> str


def _index_keys(aux, n):
    return [f"[{i}]" for i in range(n)]


def _dict_keys(aux, n):
    return [f"[{k!r}]" for k in aux]


def _sorted_keys(d) -> tuple:
    try:
        return tuple(sorted(d))
    except TypeError:  # keys of mixed, unorderable types: still deterministic
        return tuple(sorted(d, key=lambda k: (_type(k).__qualname__, repr(k))))


def _show_tuple(aux, cs):
    return "(" + ", ".join(cs) + ("," if len(cs) == 1 else "") + ")"


def _show_dict_body(keys, cs):
    return "{" + ", ".join(f"{k!r}: {c}" for k, c in zip(keys, cs, strict=True)) + "}"


def _flatten_dict(d):
    keys = _sorted_keys(d)
    return [d[k] for k in keys], keys


def _flatten_defaultdict(d):
    keys = _sorted_keys(d)
    return [d[k] for k in keys], (d.default_factory, keys)


def _unflatten_defaultdict(aux, cs):
    factory, keys = aux
    return defaultdict(factory, zip(keys, cs, strict=True))


_BUILTIN_KINDS = [
    _NodeKind(tuple, lambda x: (x, None), lambda a, cs: tuple(cs), _index_keys, _show_tuple),
    _NodeKind(
        list, lambda x: (x, None), lambda a, cs: cs, _index_keys, lambda a, cs: f"[{', '.join(cs)}]"
    ),
    _NodeKind(
        dict,
        _flatten_dict,
        lambda a, cs: dict(zip(a, cs, strict=True)),
        _dict_keys,
        _show_dict_body,
    ),
    _NodeKind(
        _NoneType, lambda x: ((), None), lambda a, cs: None, _index_keys, lambda a, cs: "None"
    ),
    _NodeKind(
        OrderedDict,
        lambda x: (list(x.values()), tuple(x)),
        lambda a, cs: OrderedDict(zip(a, cs, strict=True)),
        _dict_keys,
        lambda a, cs: f"OrderedDict({_show_dict_body(a, cs)})",
    ),
    _NodeKind(
        defaultdict,
        _flatten_defaultdict,
        _unflatten_defaultdict,
        lambda a, n: _dict_keys(a[1], n),
        lambda a, cs: f"defaultdict({a[0]!r}, {_show_dict_body(a[1], cs)})",
    ),
]

# type -> _NodeKind, or None for a type known to be a leaf (filled lazily).
_kinds: dict[type, _NodeKind | None] = {k.type: k for k in _BUILTIN_KINDS}
# Types that count as registered (built-ins included): registering them again is an error.
_registered: set[type] = set(_kinds)


def _field_kind(cls: type, fields: tuple[str, ...], flatten_fn, unflatten_fn) -> _NodeKind:
    name = cls.__name__

    def show(aux, cs):
        return f"{name}(" + ", ".join(f"{f}={c}" for f, c in zip(fields, cs, strict=True)) + ")"

    return _NodeKind(cls, flatten_fn, unflatten_fn, lambda a, n: [f".{f}" for f in fields], show)


def _namedtuple_kind(cls: type) -> _NodeKind:
    return _field_kind(cls, tuple(cls._fields), lambda x: (x, None), lambda a, cs: cls(*cs))


def _classify(t: type) -> _NodeKind | None:
    """Node kind of an unregistered type: namedtuples are nodes, everything else a leaf."""
    kind = None
    if issubclass(t, tuple) and isinstance(getattr(t, "_fields", None), tuple):
        kind = _namedtuple_kind(t)
    _kinds[t] = kind
    return kind


def _kind_of(t: type) -> _NodeKind | None:
    kind = _kinds.get(t, _MISSING)
    return _classify(t) if kind is _MISSING else kind


def _register(t: type, kind: _NodeKind) -> None:
    if not isinstance(t, _type):
        raise TypeError(f"pytree node type must be a class, got {t!r}")
    if t in _registered:
        raise ValueError(f"{t.__qualname__} is already registered as a pytree node")
    _registered.add(t)
    _kinds[t] = kind


def register_node(
    type: type,
    flatten_fn: Callable[[Any], tuple[Iterable[Any], Hashable]],
    unflatten_fn: Callable[[Hashable, list[Any]], Any],
) -> None:
    """Register ``type`` as a pytree node (exact type; subclasses stay leaves).

    ``flatten_fn(node) -> (children, aux)`` with hashable ``aux``;
    ``unflatten_fn(aux, children_list) -> node``. Registering a type twice raises ValueError.

    >>> class Pair:
    ...     def __init__(self, a, b):
    ...         self.a, self.b = a, b
    >>> register_node(Pair, lambda p: ((p.a, p.b), None), lambda aux, cs: Pair(*cs))
    >>> leaves(Pair(1, (2, 3)))
    [1, 2, 3]
    """
    name = getattr(type, "__name__", repr(type))

    def show(aux, cs):
        return f"CustomNode({name}[{aux!r}], [{', '.join(cs)}])"

    _register(type, _NodeKind(type, flatten_fn, unflatten_fn, _index_keys, show))


def register_dataclass(cls: type) -> type:
    """Register a dataclass as a pytree node whose children are all its fields, in order.

    Usable as a decorator; returns ``cls``.

    >>> @register_dataclass
    ... @dataclasses.dataclass
    ... class Params:
    ...     w: Any
    ...     b: Any
    >>> flatten(Params(w=1.0, b=2.0))
    ([1.0, 2.0], PyTreeDef(Params(w=*, b=*)))
    """
    if not (isinstance(cls, _type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"register_dataclass expects a dataclass type, got {cls!r}")
    fields = dataclasses.fields(cls)
    names = tuple(f.name for f in fields)
    init_names = tuple(f.name for f in fields if f.init)
    other_names = tuple(f.name for f in fields if not f.init)

    if len(names) == 0:
        flatten_fn = lambda x: ((), None)
    elif len(names) == 1:
        get_one = operator.attrgetter(names[0])
        flatten_fn = lambda x: ((get_one(x),), None)
    else:
        get_all = operator.attrgetter(*names)
        flatten_fn = lambda x: (get_all(x), None)

    def unflatten_fn(aux, cs):
        values = dict(zip(names, cs, strict=True))
        obj = cls(**{n: values[n] for n in init_names})
        for n in other_names:
            object.__setattr__(obj, n, values[n])
        return obj

    _register(cls, _field_kind(cls, names, flatten_fn, unflatten_fn))
    return cls


# --------------------------------------------------------------------------- TreeDef


class TreeDef:
    """The structure of a pytree: immutable, hashable, comparable; ``num_leaves`` leaves.

    >>> td = structure({"w": 1.0, "b": [2.0, None]})
    >>> td, td.num_leaves, td == structure({"b": [0, None], "w": 0})
    (PyTreeDef({'b': [*, None], 'w': *}), 2, True)
    """

    __slots__ = ("_nodes", "num_leaves", "_flat", "_hash")

    def __new__(cls, *args, **kwargs):
        raise TypeError("TreeDef objects are made by funcgrad.tree.flatten / structure")

    def __setattr__(self, name, value):
        raise AttributeError("TreeDef is immutable")

    def __delattr__(self, name):
        raise AttributeError("TreeDef is immutable")

    def __eq__(self, other):
        if self is other:
            return True
        if _type(other) is not TreeDef:
            return NotImplemented
        return self.num_leaves == other.num_leaves and self._nodes == other._nodes

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self):
        h = self._hash
        if h is None:
            try:
                h = hash(self._nodes)
            except TypeError as e:
                raise TypeError(f"pytree aux data must be hashable: {e} in {self!r}") from None
            _set_hash(self, h)
        return h

    def __reduce__(self):
        return _make_def, (self._nodes, self.num_leaves)

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __repr__(self):
        return f"PyTreeDef({self._fold('*', lambda kind, aux, cs: kind.show(aux, cs))})"

    @property
    def num_nodes(self) -> int:
        """Number of nodes, leaves included."""
        return len(self._nodes)

    def unflatten(self, leaves: Iterable[Any]) -> Any:
        """Build a tree of this structure from ``leaves`` (in flatten order).

        >>> td = structure((1, [2, 3]))
        >>> td.unflatten(["a", "b", "c"])
        ('a', ['b', 'c'])
        """
        if _type(leaves) is not list and _type(leaves) is not tuple:
            leaves = list(leaves)
        if len(leaves) != self.num_leaves:
            raise ValueError(
                f"unflatten: {self!r} expects {self.num_leaves} leaves, got {len(leaves)}"
            )
        flat = self._flat
        if flat is tuple:
            return tuple(leaves)
        if flat is list:
            return list(leaves)
        if flat is dict:
            return dict(zip(self._nodes[0][1], leaves, strict=True))
        kinds = _kinds
        stack: list[Any] = []
        push = stack.append
        i = len(leaves)
        for e in reversed(self._nodes):
            # Reversed pre-order: children are on the stack, first child on top.
            if e is None:
                i -= 1
                push(leaves[i])
                continue
            kind, aux, n = e
            if n:
                cs = stack[-n:]
                del stack[-n:]
                cs.reverse()
            else:
                cs = []
            if kind is tuple:
                push(tuple(cs))
            elif kind is list:
                push(cs)
            elif kind is dict:
                push(dict(zip(aux, cs, strict=True)))
            elif kind is _NoneType:
                push(None)
            else:
                push((kinds.get(kind) or _kind_of(kind)).unflatten(aux, cs))
        return stack[0]

    def children(self) -> list[TreeDef]:
        """TreeDefs of the root's children (empty for a leaf).

        >>> structure((1, [2, 3])).children()
        [PyTreeDef(*), PyTreeDef([*, *])]
        """
        nodes = self._nodes
        sizes = self._subtree_sizes()
        out = []
        pos = 1
        n = 0 if nodes[0] is None else nodes[0][2]
        for _ in range(n):
            end = pos + sizes[pos]
            sub = nodes[pos:end]
            out.append(_make_def(sub, sub.count(None)))
            pos = end
        return out

    def _subtree_sizes(self) -> list[int]:
        nodes = self._nodes
        sizes = [0] * len(nodes)
        stack: list[int] = []
        for idx in range(len(nodes) - 1, -1, -1):
            e = nodes[idx]
            n = 0 if e is None else e[2]
            size = 1
            for _ in range(n):
                size += stack.pop()
            sizes[idx] = size
            stack.append(size)
        return sizes

    def _fold(self, leaf_value, combine):
        """Bottom-up fold without recursion: combine(kind, aux, child_values)."""
        stack: list[Any] = []
        for e in reversed(self._nodes):
            if e is None:
                stack.append(leaf_value)
                continue
            kind, aux, n = e
            cs = stack[len(stack) - n :][::-1]
            del stack[len(stack) - n :]
            stack.append(combine(_kind_of(kind), aux, cs))
        return stack[0]


_new_def = object.__new__
_set_nodes = TreeDef._nodes.__set__
_set_num_leaves = TreeDef.num_leaves.__set__
_set_flat = TreeDef._flat.__set__
_set_hash = TreeDef._hash.__set__


def _make_def(nodes: tuple, num_leaves: int) -> TreeDef:
    td = _new_def(TreeDef)
    _set_nodes(td, nodes)
    _set_num_leaves(td, num_leaves)
    flat = None
    e = nodes[0]
    if e is not None and len(nodes) == num_leaves + 1 == e[2] + 1:
        if e[0] is tuple or e[0] is list or e[0] is dict:
            flat = e[0]
    _set_flat(td, flat)
    _set_hash(td, None)
    return td


_LEAF_DEF = _make_def((None,), 1)
_FLAT_DICT_DEFS: dict[tuple, TreeDef] = {}


def _flat_dict_def(keys: tuple) -> TreeDef:
    n = len(keys)
    td = _make_def(((dict, keys, n),) + (None,) * n, n)
    # Only str keys: 1 == 1.0 == True would otherwise let one dict's keys stand for another's.
    if len(_FLAT_DICT_DEFS) < 4096 and all(_type(k) is str for k in keys):
        _FLAT_DICT_DEFS[keys] = td
    return td


_FLAT_DEFS: dict[tuple[type, int], TreeDef] = {}


def _flat_def(t: type, n: int) -> TreeDef:
    td = _FLAT_DEFS.get((t, n))
    if td is None:
        td = _make_def(((t, None, n),) + (None,) * n, n)
        if n <= 64:
            _FLAT_DEFS[(t, n)] = td
    return td


# --------------------------------------------------------------------------- flatten


def flatten(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> tuple[list, TreeDef]:
    """Flatten ``tree`` into ``(leaves, treedef)``; dict children come in sorted-key order.

    ``is_leaf(x) -> True`` stops the descent at ``x``. ``None`` is a node with no leaves.

    >>> flatten((1, [2, None], {"b": 3, "a": 4}))
    ([1, 2, 4, 3], PyTreeDef((*, [*, None], {'a': *, 'b': *})))
    """
    kinds = _kinds
    if is_leaf is None:
        t = _type(tree)
        if t is tuple or t is list:
            # Hot path: a flat tuple/list of known leaves (e.g. the arguments of a call).
            for x in tree:
                if kinds.get(_type(x), _MISSING) is not None:
                    break
            else:
                n = len(tree)
                td = _FLAT_DEFS.get((t, n))
                return list(tree), (td if td is not None else _flat_def(t, n))
        elif t is dict:
            keys = _sorted_keys(tree)
            vals = [tree[k] for k in keys]
            for x in vals:
                if kinds.get(_type(x), _MISSING) is not None:
                    break
            else:
                td = _FLAT_DICT_DEFS.get(keys)
                return vals, (td if td is not None else _flat_dict_def(keys))
        elif kinds.get(t, _MISSING) is None:
            return [tree], _LEAF_DEF
    leaves: list[Any] = []
    nodes: list[Any] = []
    add_leaf = leaves.append
    add_node = nodes.append
    # A stack of child iterators: leaves are handled in place, and only a child that is
    # itself a node suspends its parent's iterator (pre-order, no recursion). ``owners``
    # holds the node whose children each iterator yields, to detect reference cycles.
    stack = [iter((tree,))]
    owners: list[Any] = [None]
    push = stack.append
    push_owner = owners.append
    check_depth = _CYCLE_CHECK_DEPTH
    while stack:
        for x in stack[-1]:
            if is_leaf is not None and is_leaf(x):
                add_node(None)
                add_leaf(x)
                continue
            t = _type(x)
            kind = kinds.get(t, _MISSING)
            if kind is None:
                add_node(None)
                add_leaf(x)
                continue
            if t is tuple or t is list:
                add_node((t, None, len(x)))
                if not x:
                    continue
                cs = x
            elif t is dict:
                keys = _sorted_keys(x)
                add_node((dict, keys, len(keys)))
                if not keys:
                    continue
                cs = [x[k] for k in keys]
            elif t is _NoneType:
                add_node(_NONE_ENTRY)
                continue
            else:
                if kind is _MISSING:
                    kind = _classify(t)
                    if kind is None:
                        add_node(None)
                        add_leaf(x)
                        continue
                cs, aux = kind.flatten(x)
                if _type(cs) is not tuple and _type(cs) is not list:
                    cs = tuple(cs)
                add_node((t, aux, len(cs)))
                if not cs:
                    continue
            push(iter(cs))
            push_owner(x)
            if len(stack) > check_depth:
                _check_cycle(owners)
                check_depth *= 2
            break
        else:
            stack.pop()
            owners.pop()
    return leaves, _make_def(tuple(nodes), len(leaves))


_CYCLE_CHECK_DEPTH = 1000


def _check_cycle(owners: list[Any]) -> None:
    """Raise if a node is its own ancestor (deep trees are checked now and then)."""
    seen: set[int] = set()
    for o in owners[1:]:
        if id(o) in seen:
            raise ValueError(
                f"pytree contains a reference cycle: a {_type(o).__name__} contains itself"
            )
        seen.add(id(o))


def unflatten(treedef: TreeDef, leaves: Iterable[Any]) -> Any:
    """Rebuild a tree from its ``treedef`` and leaves (ValueError on a wrong leaf count).

    >>> leaves_, td = flatten({"a": 1, "b": (2, 3)})
    >>> unflatten(td, [x * 10 for x in leaves_])
    {'a': 10, 'b': (20, 30)}
    """
    return treedef.unflatten(leaves)


def leaves(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> list:
    """The leaves of ``tree`` in flatten order.

    >>> leaves([1, {"y": 2, "x": 3}, None])
    [1, 3, 2]
    """
    return flatten(tree, is_leaf)[0]


def structure(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> TreeDef:
    """The ``TreeDef`` of ``tree``.

    >>> structure((1.0, [2.0, 3.0])) == structure(("a", ["b", "c"]))
    True
    """
    return flatten(tree, is_leaf)[1]


def map(
    f: Callable[..., Any],
    tree: Any,
    *rest: Any,
    is_leaf: Callable[[Any], bool] | None = None,
) -> Any:
    """Apply ``f`` leaf-wise to ``tree`` and the trees in ``rest`` (all of the same structure).

    >>> map(lambda x, y: x + y, (1, {"a": 2}), (10, {"a": 20}))
    (11, {'a': 22})
    """
    xs, td = flatten(tree, is_leaf)
    if not rest:
        return td.unflatten([f(x) for x in xs])
    all_leaves = [xs]
    for i, r in enumerate(rest, 1):
        ys, td_r = flatten(r, is_leaf)
        if td_r != td:
            raise ValueError(
                f"tree.map: all trees must have the same structure, but the first tree is "
                f"{td!r} and tree {i + 1} is {td_r!r}"
            )
        all_leaves.append(ys)
    return td.unflatten([f(*args) for args in zip(*all_leaves, strict=True)])


def flatten_with_path(
    tree: Any, is_leaf: Callable[[Any], bool] | None = None
) -> tuple[list[tuple[str, Any]], TreeDef]:
    """``(path, leaf)`` pairs in flatten order, and the ``TreeDef``; a path reads like the code
    that reaches the leaf: ``[0]['w']``, ``.field``.

    >>> pairs, td = flatten_with_path({"w": [1.0, 2.0], "b": 3.0})
    >>> pairs
    [("['b']", 3.0), ("['w'][0]", 1.0), ("['w'][1]", 2.0)]
    """
    return flatten_with_paths(tree, is_leaf), structure(tree, is_leaf)


def map_with_path(
    f: Callable[..., Any],
    tree: Any,
    *rest: Any,
    is_leaf: Callable[[Any], bool] | None = None,
) -> Any:
    """``map``, with each leaf's path (as ``flatten_with_path`` writes it) passed first.

    >>> map_with_path(lambda path, x: x * 0.0 if "bias" in path else x,
    ...               {"weight": 2.0, "bias": 1.0})
    {'bias': 0.0, 'weight': 2.0}
    """
    pairs, td = flatten_with_path(tree, is_leaf)
    paths = iter([p for p, _ in pairs])
    return map(lambda *xs: f(next(paths), *xs), tree, *rest, is_leaf=is_leaf)


def reduce(
    function: Callable[[Any, Any], Any],
    tree: Any,
    initializer: Any = _MISSING,
    is_leaf: Callable[[Any], bool] | None = None,
) -> Any:
    """Fold the leaves of ``tree`` with ``function`` (``functools.reduce`` over them).

    >>> reduce(lambda a, b: a + b, {"a": 1, "b": (2, 3)})
    6
    >>> reduce(max, [], initializer=0)
    0
    """
    xs = leaves(tree, is_leaf)
    if initializer is _MISSING:
        if not xs:
            raise TypeError("tree.reduce of a tree with no leaves needs an initializer")
        return functools.reduce(function, xs)
    return functools.reduce(function, xs, initializer)


# --------------------------------------------------------------------------- helpers


def unknown_leaf_hint(x: Any) -> str:
    """How to fix an object that reached a transformation as a leaf but is not an array or a
    number: for error messages (registering its class, or passing it as static).

    >>> @dataclasses.dataclass
    ... class Params:
    ...     w: Any
    >>> unknown_leaf_hint(Params(1.0)).split(";")[0]
    'Params is a dataclass that is not registered as a pytree node, so it is one opaque leaf'
    """
    t = _type(x)
    name = t.__qualname__
    if dataclasses.is_dataclass(t):
        return (f"{name} is a dataclass that is not registered as a pytree node, so it is one "
                f"opaque leaf; decorate its class with @funcgrad.tree.register_dataclass to "
                f"make its fields the leaves")
    if x is None:
        return "None is an empty pytree; pass an array where an array is expected"
    if t in _registered:
        return f"{name} is a registered pytree node"
    if isinstance(x, (str, bytes)):
        return (f"a {name} is configuration, not data: pass it as a static argument "
                f"(fg.jit(f, static_argnums=...)) or close over it")
    if callable(x):
        return (f"{name} is a function: close over it, or pass it as a static argument "
                f"(fg.jit(f, static_argnums=...))")
    return (f"{name} is not a registered pytree node, so it is one opaque leaf; register its "
            f"class with funcgrad.tree.register_node({name}, flatten_fn, unflatten_fn), pass "
            f"its arrays in a tuple, list or dict, or pass it as a static argument")



def _node_entry(x: Any, is_leaf: Callable[[Any], bool] | None):
    """One level of flattening: ``(entry, children)``; ``(None, ())`` for a leaf."""
    if is_leaf is not None and is_leaf(x):
        return None, ()
    t = _type(x)
    kind = _kind_of(t)
    if kind is None:
        return None, ()
    cs, aux = kind.flatten(x)
    if _type(cs) is not tuple and _type(cs) is not list:
        cs = tuple(cs)
    return (t, aux, len(cs)), cs


def _describe(entry, x=_MISSING) -> str:
    if entry is None:
        return "a leaf" if x is _MISSING else f"a leaf of type {_type(x).__name__}"
    t, aux, n = entry
    if t is _NoneType:
        return "None"
    if t in (dict, OrderedDict):
        return f"a {t.__name__} with keys {list(aux)}"
    if t is defaultdict:
        return f"a defaultdict with keys {list(aux[1])}"
    return f"a {t.__name__} with {n} children"


def flatten_with_paths(
    tree: Any, is_leaf: Callable[[Any], bool] | None = None
) -> list[tuple[str, Any]]:
    """``(path, leaf)`` pairs in flatten order; paths look like ``[0]['w']`` or ``.field``.

    >>> flatten_with_paths(({"w": 1}, [2]))
    [("[0]['w']", 1), ('[1][0]', 2)]
    """
    leaves_, treedef = flatten(tree, is_leaf)
    paths: list[str] = []
    stack = [""]
    for e in treedef._nodes:
        path = stack.pop()
        if e is None:
            paths.append(path)
            continue
        keys = _kind_of(e[0]).keys(e[1], e[2])
        stack.extend([path + k for k in reversed(keys)])
    return list(zip(paths, leaves_, strict=True))


def _flatten_up_to(
    treedef: TreeDef, tree: Any, is_leaf: Callable[[Any], bool] | None = None
) -> list[Any]:
    """Subtrees of ``tree`` at the leaves of ``treedef`` (which must be a prefix of it).

    Raises ValueError naming the path of the first mismatch.
    """
    out: list[Any] = []
    stack = [tree]
    for e in treedef._nodes:
        x = stack.pop()
        if e is None:
            out.append(x)
            continue
        entry, cs = _node_entry(x, is_leaf)
        if entry != e:
            _raise_mismatch(treedef, tree, is_leaf)
        stack.extend(reversed(cs))
    return out


def _raise_mismatch(treedef: TreeDef, tree: Any, is_leaf: Callable[[Any], bool] | None) -> None:
    """Walk again, now keeping paths, and raise for the first mismatch."""
    stack: list[tuple[str, Any]] = [("", tree)]
    for e in treedef._nodes:
        path, x = stack.pop()
        if e is None:
            continue
        entry, cs = _node_entry(x, is_leaf)
        if entry != e:
            raise ValueError(
                f"at {path or 'the root'}: expected {_describe(e)}, got {_describe(entry, x)}"
            )
        keys = _kind_of(e[0]).keys(e[1], e[2])
        stack.extend((path + k, c) for k, c in zip(reversed(keys), reversed(cs), strict=True))
    raise AssertionError("unreachable: no mismatch found")  # pragma: no cover


def broadcast_prefix(
    prefix_tree: Any, full_tree: Any, is_leaf: Callable[[Any], bool] | None = None
) -> list:
    """One prefix leaf per leaf of ``full_tree``: the leaf of ``prefix_tree`` covering it.

    ``None`` in ``prefix_tree`` is a leaf (as in ``vmap(in_axes=None)``).

    >>> broadcast_prefix((0, None), ([1, 2], {"a": 3}))
    [0, 0, None]
    """
    kinds = _kinds
    t = _type(prefix_tree)
    if prefix_tree is None or kinds.get(t, _MISSING) is None:
        return [prefix_tree] * flatten(full_tree, is_leaf)[1].num_leaves
    if (
        is_leaf is None
        and (t is tuple or t is list)
        and _type(full_tree) is t
        and len(prefix_tree) == len(full_tree)
    ):
        # Fast path for the usual ``in_axes=(0, None, ...)`` against a tuple of arguments.
        out: list[Any] = []
        for p, x in zip(prefix_tree, full_tree, strict=True):
            if p is not None and kinds.get(_type(p), _MISSING) is not None:
                break
            if kinds.get(_type(x), _MISSING) is None:
                out.append(p)
            else:
                out.extend([p] * flatten(x)[1].num_leaves)
        else:
            return out
    if is_leaf is None:
        prefix_is_leaf = _is_none
    else:
        prefix_is_leaf = lambda x: x is None or is_leaf(x)
    prefix_leaves, prefix_def = flatten(prefix_tree, prefix_is_leaf)
    try:
        subtrees = _flatten_up_to(prefix_def, full_tree, is_leaf)
    except ValueError as e:
        raise ValueError(
            f"prefix tree {prefix_def!r} is not a prefix of the tree "
            f"{structure(full_tree, is_leaf)!r}: {e}"
        ) from None
    out = []
    for p, sub in zip(prefix_leaves, subtrees, strict=True):
        out.extend([p] * flatten(sub, is_leaf)[1].num_leaves)
    return out


def _is_none(x: Any) -> bool:
    return x is None
