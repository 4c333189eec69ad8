"""Primitive: a named operation whose every rule and fact is a slot; the registry of them all.

Nothing outside a primitive's declaration decides how it behaves: transformations read its
rules (`jvp`, `transpose`, `batch`), the compiler its `lower`ing, `simplify` rule and memory
facts (`fresh`, `commutative`), the eager executor its `checks_values`, the cost model its
`cost`. Families of primitives (prims/families.py) fill the slots for their members.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from . import trace as _trace

registry: dict[str, Primitive] = {}
# Slots whose code other code is derived from (the eager executor's compiled rules): assigning
# one tells the listeners, which clear those caches.
_RULE_SLOTS = frozenset({"impl", "abstract_eval", "jvp", "transpose", "batch", "lower",
                         "simplify", "expand", "native"})
_rule_listeners: list[Callable[[], None]] = []


def on_rule_change(callback: Callable[[], None]) -> None:
    """Call `callback` whenever a rule slot of a declared primitive is reassigned: caches of
    code derived from the rules (the eager executor's compiled VJPs) register to be cleared."""
    _rule_listeners.append(callback)


class Lowering(NamedTuple):
    """What one application becomes in generated NumPy code: `template` is a Python
    expression in which `{0}`, `{1}`, ... are the operands and every other `{name}` is the
    object `refs[name]` (a NumPy function, say); `out` says the call accepts `out=` (a ufunc:
    the code generator may hand it a dead buffer of the result's shape and dtype).

    >>> import numpy as np
    >>> Lowering("{f}({0}, {1})", {"f": np.add}, out=True).template
    '{f}({0}, {1})'
    """

    template: str
    refs: dict
    out: bool = False


def compile_lowering(lowering: Lowering, arity: int) -> Callable:
    """A Lowering as a Python function of its operands (what an eager `impl` can call, so that
    eager evaluation and generated code share one decision).

    >>> import numpy as np
    >>> int(compile_lowering(Lowering("{f}({0}, {1})", {"f": np.add}), 2)(1, 2))
    3
    """
    args = [f"a{i}" for i in range(arity)]
    refs = {f"_ref_{k}": v for k, v in lowering.refs.items()}
    body = lowering.template.format(*args, **{k: f"_ref_{k}" for k in lowering.refs})
    return eval(f"lambda {', '.join(args)}: {body}", refs)   # noqa: S307 (our own template)


class Primitive:
    """A primitive operation, with all its rules and facts in one declaration.

    Rules: `impl` (NumPy evaluation), `abstract_eval` (shape/dtype rule), `jvp` (forward
    derivative; nonlinear primitives), `transpose` (linear primitives), `batch` (vmap),
    `lower(in_avals, params) -> Lowering | None` (its generated code; None: call `impl`),
    `simplify(graph, ins, params, out_aval) -> atom | Eqn | None` (an algebraic rewrite for
    the optimiser), `expand(eqn) -> list[Eqn] | None` (equations the optimiser puts in the
    equation's place: the same outputs in a better structure, e.g. a scan with products taken
    out of its loop), `cost(*in_avals, **params) -> FLOPs`, `native(kernel, args, eqn) ->
    expression(s)` (its code in a compiled-tier kernel, from the operands' expressions; it
    raises `kernel.Unsupported` where it has none, and that region runs as NumPy code).
    Facts: `multiple_results`, `linear`, `nondiff` (zero derivative), `elementwise`,
    `commutative` (its two operands may be swapped), `fresh` (its result is newly allocated,
    never a view of an operand: the generated code may overwrite it; a result that is not
    fresh is assumed to share memory with the operands), `checks_values` (its evaluation can
    fail on values, e.g. an index out of bounds: the eager executor runs it at once, so the
    error points at the user's line; a bool, or a function of the params saying so), `effect`
    (a side effect such as a debug callback: never removed, merged or deferred), `domain` (the
    inputs tests draw).

    >>> from funcgrad.prims.elementwise import sin_p
    >>> sin_p.name, sin_p.elementwise, sin_p.fresh
    ('sin', True, True)
    """

    __slots__ = ("name", "impl", "abstract_eval", "jvp", "transpose", "batch", "lower",
                 "simplify", "expand", "native", "cost", "multiple_results", "linear", "nondiff",
                 "elementwise", "commutative", "fresh", "checks_values", "effect", "domain",
                 "__weakref__")

    def __init__(self, name: str, impl: Callable | None, abstract_eval: Callable, *,
                 jvp: Callable | None = None, transpose: Callable | None = None,
                 batch: Callable | None = None, lower: Callable | None = None,
                 simplify: Callable | None = None, expand: Callable | None = None,
                 native: Callable | None = None, cost: Callable | None = None,
                 multiple_results: bool = False, linear: bool = False, nondiff: bool = False,
                 elementwise: bool = False, commutative: bool = False, fresh: bool = False,
                 checks_values: bool | Callable[..., bool] = False, effect: bool = False,
                 domain: Any = None):
        if name in registry:
            raise ValueError(f"primitive {name!r} is already declared")
        setattr_ = object.__setattr__   # no rule-change notifications while declaring
        for slot, value in (("name", name), ("impl", impl), ("abstract_eval", abstract_eval),
                            ("jvp", jvp), ("transpose", transpose), ("batch", batch),
                            ("lower", lower), ("simplify", simplify), ("expand", expand),
                            ("native", native), ("cost", cost),
                            ("multiple_results", multiple_results), ("linear", linear),
                            ("nondiff", nondiff), ("elementwise", elementwise),
                            ("commutative", commutative), ("fresh", fresh),
                            ("checks_values", checks_values), ("effect", effect),
                            ("domain", domain)):
            setattr_(self, slot, value)
        registry[name] = self

    def __setattr__(self, name: str, value) -> None:
        object.__setattr__(self, name, value)
        if name in _RULE_SLOTS:
            for callback in _rule_listeners:
                callback()

    def bind(self, *args, **params):
        """Apply the primitive under whatever transformation is current."""
        return _trace._state.trace.process(self, args, params)

    def __repr__(self) -> str:
        return f"Primitive({self.name})"


def free(*avals, **params) -> int:
    """The `cost` of a primitive that only moves or views data: no FLOPs.

    >>> free()
    0
    """
    return 0
