"""Primitive: a named operation with one slot per rule; the registry of every primitive."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import trace as _trace

registry: dict[str, Primitive] = {}
_RULE_SLOTS = frozenset({"impl", "abstract_eval", "jvp", "transpose", "emit"})
_rule_listeners: list[Callable[[], None]] = []


def on_rule_change(callback: Callable[[], None]) -> None:
    """Call `callback` whenever a primitive's rule is (re)assigned: caches of code derived
    from the rules (the eager reverse-mode tape's compiled VJPs) register to be cleared."""
    _rule_listeners.append(callback)


class Primitive:
    """A primitive operation and all of its rules, declared in one place.

    Slots: `impl` (NumPy evaluation), `abstract_eval` (shape/dtype rule), `jvp` (forward
    derivative, nonlinear primitives), `transpose` (linear primitives), `batch` (vmap), `emit`
    (a codegen template or function), `cost` (FLOPs), `domain` (input range used by tests),
    `effect` (it has a side effect, a debug callback: never removed, merged or deferred),
    `elementwise` (it maps its broadcast operands element by element).

    >>> from funcgrad.prims.elementwise import sin_p
    >>> sin_p.name
    'sin'
    """

    __slots__ = ("name", "impl", "abstract_eval", "jvp", "transpose", "batch", "emit",
                 "multiple_results", "linear", "nondiff", "domain", "cost", "effect",
                 "elementwise", "__weakref__")

    def __init__(self, name: str, impl: Callable, abstract_eval: Callable, *,
                 jvp: Callable | None = None, transpose: Callable | None = None,
                 batch: Callable | None = None, emit: Any = None,
                 multiple_results: bool = False, linear: bool = False, nondiff: bool = False,
                 domain: Any = None, cost: Callable | None = None, effect: bool = False,
                 elementwise: bool = False):
        if name in registry:
            raise ValueError(f"primitive {name!r} is already declared")
        self.name, self.impl, self.abstract_eval = name, impl, abstract_eval
        self.jvp, self.transpose, self.batch, self.emit = jvp, transpose, batch, emit
        self.multiple_results, self.linear, self.nondiff = multiple_results, linear, nondiff
        self.domain, self.cost, self.effect = domain, cost, effect
        self.elementwise = elementwise
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
