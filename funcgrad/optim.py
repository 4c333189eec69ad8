"""Optimisers as pairs of pure functions over pytrees, in the style of optax.

An `Optimizer` holds `init(params) -> state` and `update(grads, state, params=None) ->
(updates, state)`; `apply_updates(params, updates)` adds the updates. Nothing is stored
between calls and no input is modified, so a whole training step can be wrapped in `fg.jit`:

>>> import numpy as np, funcgrad as fg
>>> opt = adam(lr=0.1)
>>> params = {"w": np.array([1.0, -2.0])}
>>> state = opt.init(params)
>>> grads = fg.grad(lambda p: (p["w"] ** 2).sum())(params)
>>> updates, state = opt.update(grads, state, params)
>>> apply_updates(params, updates)
{'w': array([ 0.9, -1.9])}
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from . import numpy as fnp
from . import tree

Params = Any   # a pytree of arrays
Updates = Any  # a pytree of arrays shaped like Params
State = Any    # a pytree of arrays

__all__ = ["Optimizer", "sgd", "momentum", "adam", "adamw", "clip_by_global_norm", "chain",
           "apply_updates", "global_norm", "EmptyState", "TraceState", "AdamState"]


@dataclasses.dataclass(frozen=True)
class Optimizer:
    """Two pure functions. Frozen and hashable, so it can be closed over or passed as a static
    argument of `fg.jit`; the state, a pytree of arrays, travels through the training step.

    >>> opt = sgd(lr=0.5)
    >>> updates, state = opt.update({"b": np.array(2.0)}, opt.init({"b": np.array(0.0)}))
    >>> updates
    {'b': array(-1.)}
    """

    init: Callable[[Params], State]
    update: Callable[..., tuple[Updates, State]]


class EmptyState(NamedTuple):
    """The state of a stateless transformation (a pytree with no leaves)."""


class TraceState(NamedTuple):
    """Momentum's velocity, one array per parameter."""

    trace: Params


class AdamState(NamedTuple):
    """Adam's step count (an int32 array, for bias correction) and moment estimates."""

    count: Any
    mu: Params
    nu: Params


def _dtype(x) -> np.dtype:
    return x.dtype if hasattr(x, "dtype") else np.result_type(x)


def _zeros_like(params: Params) -> Params:
    return tree.map(lambda p: np.zeros(np.shape(p), _dtype(p)), params)


def _cast(x, like):
    """`x` as an array in the dtype of `like`: an update never promotes a float32 parameter
    (and eager results are 0-d arrays, never NumPy scalars)."""
    dtype = _dtype(like)
    if type(x) is np.ndarray and x.dtype == dtype:
        return x
    return fnp.asarray(fnp.astype(x, dtype))


def apply_updates(params: Params, updates: Updates) -> Params:
    """params + updates, leaf by leaf, keeping each parameter's dtype.

    >>> apply_updates({"w": np.ones(2, np.float32)}, {"w": np.array([0.5, -0.5])})
    {'w': array([1.5, 0.5], dtype=float32)}
    """
    return tree.map(lambda p, u: _cast((p if type(p) is np.ndarray else fnp.asarray(p)) + u, p),
                    params, updates)


def global_norm(updates: Updates) -> Any:
    """sqrt of the sum of squares of every leaf.

    >>> global_norm({"a": np.array([3.0]), "b": np.array(4.0)})
    array(5.)
    """
    leaves = tree.leaves(updates)
    if not leaves:
        return np.asarray(0.0)
    return fnp.asarray(fnp.sqrt(sum(fnp.sum(fnp.square(g)) for g in leaves)))


def chain(*transforms: Optimizer) -> Optimizer:
    """Run `transforms` one after another on the updates; the state is a tuple of theirs.

    >>> opt = chain(clip_by_global_norm(1.0), sgd(lr=1.0))
    >>> opt.update({"w": np.array([3.0, 4.0])}, opt.init({"w": np.zeros(2)}))[0]
    {'w': array([-0.6, -0.8])}
    """
    def init(params):
        return tuple(t.init(params) for t in transforms)

    def update(grads, state, params=None):
        new_state = []
        for t, s in zip(transforms, state, strict=True):
            grads, s = t.update(grads, s, params)
            new_state.append(s)
        return grads, tuple(new_state)

    return Optimizer(init, update)


def clip_by_global_norm(max_norm: float) -> Optimizer:
    """Scale all updates by min(1, max_norm / global_norm): the direction is kept.

    >>> clip = clip_by_global_norm(1.0)
    >>> clip.update({"w": np.array([3.0, 4.0])}, clip.init(None))[0]
    {'w': array([0.6, 0.8])}
    """
    max_norm = float(max_norm)
    if not max_norm > 0:
        raise ValueError(f"clip_by_global_norm: max_norm must be positive, got {max_norm}")

    def update(grads, state, params=None):
        # max(norm, max_norm) is never 0, so no division by zero and no branch on a value.
        scale = max_norm / fnp.maximum(global_norm(grads), max_norm)
        return tree.map(lambda g: _cast(g * scale, g), grads), state

    return Optimizer(lambda params: EmptyState(), update)


def _with_clip(opt: Optimizer, clip_norm: float | None) -> Optimizer:
    return opt if clip_norm is None else chain(clip_by_global_norm(clip_norm), opt)


def sgd(lr: float, clip_norm: float | None = None) -> Optimizer:
    """Plain gradient descent: updates = -lr * grads.

    >>> opt = sgd(lr=0.1)
    >>> opt.update(np.array([1.0, 2.0]), opt.init(np.zeros(2)))[0]
    array([-0.1, -0.2])
    """
    lr = float(lr)   # a Python float is weakly typed: float32 grads give float32 updates

    def update(grads, state, params=None):
        return tree.map(lambda g: _cast(-lr * g, g), grads), state

    return _with_clip(Optimizer(lambda params: EmptyState(), update), clip_norm)


def momentum(lr: float, beta: float = 0.9, nesterov: bool = False,
             clip_norm: float | None = None) -> Optimizer:
    """Heavy-ball momentum as in torch.optim.SGD: v = beta * v + g; updates = -lr * v
    (Nesterov: -lr * (g + beta * v)).

    >>> opt = momentum(lr=0.1, beta=0.5)
    >>> state = opt.init(np.zeros(1))
    >>> u, state = opt.update(np.ones(1), state)
    >>> u, state = opt.update(np.ones(1), state)
    >>> u
    array([-0.15])
    """
    lr, beta = float(lr), float(beta)

    def init(params):
        return TraceState(_zeros_like(params))

    def update(grads, state, params=None):
        trace = tree.map(lambda g, v: _cast(beta * v + g, v), grads, state.trace)
        if nesterov:
            updates = tree.map(lambda g, v: _cast(-lr * (g + beta * v), g), grads, trace)
        else:
            updates = tree.map(lambda g, v: _cast(-lr * v, g), grads, trace)
        return updates, TraceState(trace)

    return _with_clip(Optimizer(init, update), clip_norm)


def _adam_core(lr: float, b1: float, b2: float, eps: float, weight_decay: float) -> Optimizer:
    lr, b1, b2, eps, wd = float(lr), float(b1), float(b2), float(eps), float(weight_decay)

    def init(params):
        return AdamState(np.zeros((), np.int32), _zeros_like(params), _zeros_like(params))

    def update(grads, state, params=None):
        if wd and params is None:
            raise ValueError("adamw: update(grads, state, params) needs params for weight decay")
        count = fnp.asarray(state.count + 1)
        mu = tree.map(lambda g, m: _cast(b1 * m + (1.0 - b1) * g, m), grads, state.mu)
        nu = tree.map(lambda g, v: _cast(b2 * v + (1.0 - b2) * g * g, v), grads, state.nu)

        def step(m, v, p):
            # Bias correction in the dtype of the moment: (1 - b^t) for t = count.
            t = fnp.astype(count, _dtype(m))
            u = (m / (1.0 - b1 ** t)) / (fnp.sqrt(v / (1.0 - b2 ** t)) + eps)
            if wd:
                u = u + wd * p   # decoupled weight decay (Loshchilov & Hutter), as torch AdamW
            return _cast(-lr * u, m)

        ps = params if wd else mu   # a placeholder tree when there is no decay
        return tree.map(step, mu, nu, ps), AdamState(count, mu, nu)

    return Optimizer(init, update)


def adam(lr: float = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
         clip_norm: float | None = None) -> Optimizer:
    """Adam (Kingma & Ba): bias-corrected moment estimates, updates
    -lr * m_hat / (sqrt(v_hat) + eps), as torch.optim.Adam and optax.adam.

    >>> opt = adam(lr=0.1)
    >>> opt.update(np.array([5.0]), opt.init(np.zeros(1)))[0]   # the first step is -lr * sign(g)
    array([-0.1])
    """
    return _with_clip(_adam_core(lr, b1, b2, eps, 0.0), clip_norm)


def adamw(lr: float = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
          weight_decay: float = 1e-2, clip_norm: float | None = None) -> Optimizer:
    """Adam with decoupled weight decay: updates -lr * (m_hat / (sqrt(v_hat) + eps) + wd * p),
    as torch.optim.AdamW; `update` needs `params`.

    >>> opt = adamw(lr=0.1, weight_decay=0.5)
    >>> p = np.array([2.0])
    >>> opt.update(np.array([0.0]), opt.init(p), p)[0]
    array([-0.1])
    """
    return _with_clip(_adam_core(lr, b1, b2, eps, weight_decay), clip_norm)
