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

Schedule = Callable[[Any], Any]   # step count (an int array, maybe traced) -> learning rate

__all__ = ["Optimizer", "sgd", "momentum", "adam", "adamw", "add_decayed_weights",
           "clip_by_global_norm", "chain",
           "scale_by_schedule", "apply_updates", "global_norm", "constant", "exponential_decay",
           "cosine_decay", "warmup_cosine_decay", "piecewise_constant", "EmptyState",
           "TraceState", "AdamState", "CountState", "LRSchedule"]


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
    """The state of a stateless transformation (a pytree with no leaves).

    >>> sgd(lr=0.1).init({"w": np.zeros(2)})
    EmptyState()
    """


class TraceState(NamedTuple):
    """Momentum's velocity, one array per parameter.

    >>> momentum(lr=0.1).init({"w": np.zeros(2)})
    TraceState(trace={'w': array([0., 0.])})
    """

    trace: Params


class AdamState(NamedTuple):
    """Adam's step count (an int32 array, for bias correction) and moment estimates.

    >>> adam().init(np.zeros(2))
    AdamState(count=array(0, dtype=int32), mu=array([0., 0.]), nu=array([0., 0.]))
    """

    count: Any
    mu: Params
    nu: Params


class CountState(NamedTuple):
    """The step count of a schedule (an int32 array: the number of updates made so far).

    >>> scale_by_schedule(constant(0.1)).init(np.zeros(2))
    CountState(count=array(0, dtype=int32))
    """

    count: Any


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


# ---------------------------------------------------------------- learning-rate schedules
# A schedule is a function of the step count (0 for the first update) built from
# funcgrad.numpy, so it also runs inside a jitted training step. Every optimiser takes one as
# `lr`; their signatures follow optax's.

def _number(value, what: str) -> float:
    if callable(value) or isinstance(value, (str, bytes)):
        got = (f"the learning-rate schedule {value!r}" if isinstance(value, LRSchedule)
               else f"{type(value).__name__} {value!r}")
        raise TypeError(f"{what} must be a number, got {got}; learning-rate schedules are "
                        f"accepted as `lr` only (by every optimiser, and by "
                        f"scale_by_schedule). Pass a number here (a schedule's value at step n "
                        f"is schedule(n))")
    return float(value)


class LRSchedule:
    """A learning-rate schedule: call it with the step count to get the rate. Every
    optimiser accepts one as `lr`; using the schedule itself as a number (`lr * g`,
    `float(lr)`, `np.asarray(lr)`) raises a TypeError that says to call it.

    >>> s = exponential_decay(0.1, transition_steps=100, decay_rate=0.5)
    >>> s
    exponential_decay(init_value=0.1, transition_steps=100, decay_rate=0.5)
    >>> float(s(np.asarray(100)))
    0.05
    >>> s * 2.0          # doctest: +ELLIPSIS
    Traceback (most recent call last):
    TypeError: a learning-rate schedule, ... was used as a number (in *); a schedule is a ...
    """

    __slots__ = ("_fn", "_text")
    __array_ufunc__ = None   # NumPy arrays defer to the operators below (which explain)

    def __init__(self, fn: Callable[[Any], Any], text: str):
        self._fn, self._text = fn, text

    def __call__(self, count):
        return self._fn(count)

    def __repr__(self) -> str:
        return self._text

    def _misuse(self, op: str):
        raise TypeError(
            f"a learning-rate schedule, {self._text}, was used as a number (in {op}); a "
            f"schedule is a function of the step count: use its value schedule(step), or pass "
            f"the schedule as `lr` to an optimiser (sgd, momentum, adam, adamw), which calls "
            f"it once per update")

    @property
    def aval(self):
        # funcgrad asks every operand of a traced operation for its type: explain, not fail
        self._misuse("an operation on a traced array")

    def __array__(self, dtype=None, copy=None):
        self._misuse("np.asarray")

    def __float__(self):
        self._misuse("float()")

    def __int__(self):
        self._misuse("int()")

    def __format__(self, spec):
        if spec:
            self._misuse(f"a format string ':{spec}'")
        return self._text

    def __neg__(self):
        self._misuse("-")


def _binary_misuse(op: str):
    def method(self, other):
        self._misuse(op)
    return method


for _name, _op in [("mul", "*"), ("truediv", "/"), ("add", "+"), ("sub", "-"), ("pow", "**"),
                   ("matmul", "@")]:
    setattr(LRSchedule, f"__{_name}__", _binary_misuse(_op))
    setattr(LRSchedule, f"__r{_name}__", _binary_misuse(_op))


def _schedule(fn: Callable[[Any], Any], name: str, **params) -> LRSchedule:
    shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
    return LRSchedule(fn, f"{name}({shown})")


def constant(value: float) -> Schedule:
    """The schedule that is always `value`.

    >>> float(constant(0.1)(np.asarray(7)))
    0.1
    """
    value = _number(value, "constant: value")
    return _schedule(lambda count: fnp.full_like(fnp.asarray(count, np.float64), value),
                     "constant", value=value)


def exponential_decay(init_value: float, transition_steps: int, decay_rate: float,
                      transition_begin: int = 0, staircase: bool = False,
                      end_value: float | None = None) -> Schedule:
    """init_value * decay_rate ** ((count - transition_begin) / transition_steps), from
    `transition_begin` on (`staircase`: in whole steps), bounded by `end_value`.

    >>> s = exponential_decay(1.0, transition_steps=10, decay_rate=0.5)
    >>> [round(float(s(np.asarray(n))), 4) for n in (0, 10, 15)]
    [1.0, 0.5, 0.3536]
    """
    init_value, decay_rate = _number(init_value, "init_value"), _number(decay_rate, "decay_rate")
    if int(transition_steps) <= 0:
        raise ValueError(f"exponential_decay: transition_steps must be positive, got "
                         f"{transition_steps}")

    def schedule(count):
        t = fnp.maximum(fnp.asarray(count, np.float64) - transition_begin, 0.0)
        p = t / transition_steps
        if staircase:
            p = fnp.floor(p)
        value = init_value * decay_rate ** p
        if end_value is not None:
            bound = fnp.maximum if decay_rate < 1.0 else fnp.minimum
            value = bound(value, end_value)
        return value
    extra = dict(transition_begin=transition_begin) if transition_begin else {}
    extra.update(dict(staircase=True) if staircase else {})
    extra.update(dict(end_value=end_value) if end_value is not None else {})
    return _schedule(schedule, "exponential_decay", init_value=init_value,
                     transition_steps=transition_steps, decay_rate=decay_rate, **extra)


def cosine_decay(init_value: float, decay_steps: int, alpha: float = 0.0) -> Schedule:
    """Half a cosine from init_value down to alpha * init_value over `decay_steps`, then flat.

    >>> s = cosine_decay(1.0, decay_steps=10)
    >>> [round(float(s(np.asarray(n))), 4) for n in (0, 5, 10, 20)]
    [1.0, 0.5, 0.0, 0.0]
    """
    init_value, alpha = _number(init_value, "init_value"), _number(alpha, "alpha")
    if int(decay_steps) <= 0:
        raise ValueError(f"cosine_decay: decay_steps must be positive, got {decay_steps}")

    def schedule(count):
        t = fnp.minimum(fnp.asarray(count, np.float64), decay_steps) / decay_steps
        return init_value * ((1.0 - alpha) * 0.5 * (1.0 + fnp.cos(np.pi * t)) + alpha)
    return _schedule(schedule, "cosine_decay", init_value=init_value, decay_steps=decay_steps,
                     alpha=alpha)


def warmup_cosine_decay(init_value: float, peak_value: float, warmup_steps: int,
                        decay_steps: int, end_value: float = 0.0) -> Schedule:
    """Linear warm-up from init_value to peak_value over `warmup_steps`, then a cosine decay
    to end_value at step `decay_steps` (counted from the start, warm-up included).

    >>> s = warmup_cosine_decay(0.0, 1.0, warmup_steps=10, decay_steps=30)
    >>> [round(float(s(np.asarray(n))), 4) for n in (0, 5, 10, 20, 30)]
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    init_value, peak = _number(init_value, "init_value"), _number(peak_value, "peak_value")
    end_value = _number(end_value, "end_value")
    if not 0 <= int(warmup_steps) < int(decay_steps):
        raise ValueError(f"warmup_cosine_decay: need 0 <= warmup_steps < decay_steps, got "
                         f"{warmup_steps} and {decay_steps}")
    span = decay_steps - warmup_steps

    def schedule(count):
        c = fnp.asarray(count, np.float64)
        warm = init_value + (peak - init_value) * c / max(warmup_steps, 1)
        t = fnp.clip(c - warmup_steps, 0.0, span) / span
        cool = end_value + (peak - end_value) * 0.5 * (1.0 + fnp.cos(np.pi * t))
        return fnp.where(c < warmup_steps, warm, cool)
    return _schedule(schedule, "warmup_cosine_decay", init_value=init_value, peak_value=peak,
                     warmup_steps=warmup_steps, decay_steps=decay_steps, end_value=end_value)


def piecewise_constant(init_value: float, boundaries_and_scales: dict | None = None) -> Schedule:
    """init_value, multiplied by scales[b] for every boundary b the count has reached.

    >>> s = piecewise_constant(1.0, {10: 0.1, 20: 0.5})
    >>> [float(s(np.asarray(n))) for n in (0, 10, 25)]
    [1.0, 0.1, 0.05]
    """
    init_value = _number(init_value, "init_value")
    pairs = sorted((int(b), _number(s, "a scale")) for b, s in
                   (boundaries_and_scales or {}).items())

    def schedule(count):
        c = fnp.asarray(count, np.float64)
        value = fnp.full_like(c, init_value)
        for boundary, scale in pairs:
            value = fnp.where(c >= boundary, value * scale, value)
        return value
    return _schedule(schedule, "piecewise_constant", init_value=init_value,
                     boundaries_and_scales=dict(pairs))


def scale_by_schedule(schedule: Schedule) -> Optimizer:
    """Multiply the updates by schedule(count); count is the number of updates made before.

    >>> opt = scale_by_schedule(lambda n: 0.5 ** n)
    >>> state = opt.init(np.zeros(1))
    >>> [opt.update(np.ones(1), state)[0], opt.update(np.ones(1), opt.update(np.ones(1),
    ...  state)[1])[0]]
    [array([1.]), array([0.5])]
    """
    if not callable(schedule):
        raise TypeError(f"scale_by_schedule: expected a schedule (a function of the step "
                        f"count), got {type(schedule).__name__}")

    def update(grads, state, params=None):
        step = schedule(state.count)
        return (tree.map(lambda g: _cast(g * step, g), grads),
                CountState(fnp.asarray(state.count + 1)))

    return Optimizer(lambda params: CountState(np.zeros((), np.int32)), update)


def _learning_rate(opt_of_lr: Callable[[float], Optimizer], lr) -> Optimizer:
    """opt_of_lr(lr) for a number; for a schedule, opt_of_lr(1.0) scaled by it each step."""
    if callable(lr):
        return chain(opt_of_lr(1.0), scale_by_schedule(lr))
    return opt_of_lr(_number(lr, "lr"))


def clip_by_global_norm(max_norm: float) -> Optimizer:
    """Scale all updates by min(1, max_norm / global_norm): the direction is kept.

    >>> clip = clip_by_global_norm(1.0)
    >>> clip.update({"w": np.array([3.0, 4.0])}, clip.init(None))[0]
    {'w': array([0.6, 0.8])}
    """
    max_norm = _number(max_norm, "clip_by_global_norm: max_norm")
    if not max_norm > 0:
        raise ValueError(f"clip_by_global_norm: max_norm must be positive, got {max_norm}")

    def update(grads, state, params=None):
        # max(norm, max_norm) is never 0, so no division by zero and no branch on a value.
        scale = max_norm / fnp.maximum(global_norm(grads), max_norm)
        return tree.map(lambda g: _cast(g * scale, g), grads), state

    return Optimizer(lambda params: EmptyState(), update)


def _with_clip(opt: Optimizer, clip_norm: float | None) -> Optimizer:
    return opt if clip_norm is None else chain(clip_by_global_norm(clip_norm), opt)


def sgd(lr: float | Schedule, clip_norm: float | None = None) -> Optimizer:
    """Plain gradient descent: updates = -lr * grads (`lr` a number or a schedule).

    >>> opt = sgd(lr=0.1)
    >>> opt.update(np.array([1.0, 2.0]), opt.init(np.zeros(2)))[0]
    array([-0.1, -0.2])
    """
    def make(lr: float) -> Optimizer:
        # a Python float is weakly typed: float32 grads give float32 updates
        def update(grads, state, params=None):
            return tree.map(lambda g: _cast(-lr * g, g), grads), state
        return Optimizer(lambda params: EmptyState(), update)

    return _with_clip(_learning_rate(make, lr), clip_norm)


def momentum(lr: float | Schedule, beta: float = 0.9, nesterov: bool = False,
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
    beta = _number(beta, "momentum: beta")

    def make(lr: float) -> Optimizer:
        def init(params):
            return TraceState(_zeros_like(params))

        def update(grads, state, params=None):
            trace = tree.map(lambda g, v: _cast(beta * v + g, v), grads, state.trace)
            if nesterov:
                updates = tree.map(lambda g, v: _cast(-lr * (g + beta * v), g), grads, trace)
            else:
                updates = tree.map(lambda g, v: _cast(-lr * v, g), grads, trace)
            return updates, TraceState(trace)
        return Optimizer(init, update)

    return _with_clip(_learning_rate(make, lr), clip_norm)


def _adam_core(lr: float, b1: float, b2: float, eps: float, weight_decay: float,
               mask=None) -> Optimizer:
    b1, b2 = _number(b1, "adam: b1"), _number(b2, "adam: b2")
    eps, wd = _number(eps, "adam: eps"), _number(weight_decay, "adamw: weight_decay")

    def init(params):
        return AdamState(np.zeros((), np.int32), _zeros_like(params), _zeros_like(params))

    def update(grads, state, params=None):
        if wd and params is None:
            raise ValueError("adamw: update(grads, state, params) needs params for weight decay")
        count = fnp.asarray(state.count + 1)
        mu = tree.map(lambda g, m: _cast(b1 * m + (1.0 - b1) * g, m), grads, state.mu)
        nu = tree.map(lambda g, v: _cast(b2 * v + (1.0 - b2) * g * g, v), grads, state.nu)

        def step(m, v, p, decay):
            # Bias correction in the dtype of the moment, folded into scalars (Kingma & Ba,
            # section 2): m_hat / (sqrt(v_hat) + eps) = m / (sqrt(v) + eps c2) * c2 / (1 - b1^t)
            # with c2 = sqrt(1 - b2^t), the same value with one division per element, not three
            t = fnp.astype(count, _dtype(m))
            c2 = fnp.sqrt(1.0 - b2 ** t)
            scale = c2 / (1.0 - b1 ** t)
            u = m / (fnp.sqrt(v) + eps * c2)
            if wd and decay:   # decoupled weight decay (Loshchilov & Hutter), as torch AdamW
                return _cast(-lr * (u * scale + wd * p), m)
            return _cast(u * (-lr * scale), m)

        ps = params if wd else mu   # a placeholder tree when there is no decay
        decays = _decay_mask(mask, params if wd else mu)
        return tree.map(step, mu, nu, ps, decays), AdamState(count, mu, nu)

    return Optimizer(init, update)


def add_decayed_weights(weight_decay: float, mask=None) -> Optimizer:
    """updates + weight_decay * params: L2-style weight decay as a step of `chain` (optax's
    `add_decayed_weights`); `mask` (a pytree of bools like the parameters, or a function of
    them giving one) says which parameters decay. `update` needs `params`.

    >>> opt = chain(add_decayed_weights(0.5, mask={"w": True, "b": False}), sgd(lr=1.0))
    >>> ps = {"w": np.array([2.0]), "b": np.array([2.0])}
    >>> opt.update({"w": np.ones(1), "b": np.ones(1)}, opt.init(ps), ps)[0]
    {'b': array([-1.]), 'w': array([-2.])}
    """
    wd = _number(weight_decay, "add_decayed_weights: weight_decay")

    def update(grads, state, params=None):
        if params is None:
            raise ValueError("add_decayed_weights: update(grads, state, params) needs params "
                             "for weight decay")
        decays = _decay_mask(mask, params, "add_decayed_weights")
        return (tree.map(lambda g, p, d: _cast(g + wd * p, g) if d else g, grads, params,
                         decays), state)

    return Optimizer(lambda params: EmptyState(), update)


def _decay_mask(mask, params, name: str = "adamw") -> Any:
    """A pytree of bools shaped like params: which parameters weight decay applies to."""
    if mask is None:
        return tree.map(lambda p: True, params)
    chosen = mask(params) if callable(mask) else mask
    try:
        return tree.map(lambda p, m: bool(m), params, chosen)
    except ValueError as err:
        raise ValueError(f"{name}: the weight-decay mask must have the structure of the "
                         f"parameters (a pytree of bools): {err}") from None


def adam(lr: float | Schedule = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
         clip_norm: float | None = None) -> Optimizer:
    """Adam (Kingma & Ba): bias-corrected moment estimates, updates
    -lr * m_hat / (sqrt(v_hat) + eps), as torch.optim.Adam and optax.adam.

    >>> opt = adam(lr=0.1)
    >>> opt.update(np.array([5.0]), opt.init(np.zeros(1)))[0]   # the first step is -lr * sign(g)
    array([-0.1])
    """
    return _with_clip(_learning_rate(lambda lr: _adam_core(lr, b1, b2, eps, 0.0), lr),
                      clip_norm)


def adamw(lr: float | Schedule = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
          weight_decay: float = 1e-2, mask=None, clip_norm: float | None = None) -> Optimizer:
    """Adam with decoupled weight decay: updates -lr * (m_hat / (sqrt(v_hat) + eps) + wd * p),
    as torch.optim.AdamW; `update` needs `params`. `mask` (a pytree of bools like the
    parameters, or a function of them giving one) says which parameters decay (optax's mask).

    >>> opt = adamw(lr=0.1, weight_decay=0.5)
    >>> p = np.array([2.0])
    >>> opt.update(np.array([0.0]), opt.init(p), p)[0]
    array([-0.1])
    >>> no_bias = adamw(lr=0.1, weight_decay=0.5, mask=lambda p: {"w": True, "b": False})
    >>> ps = {"w": np.array([2.0]), "b": np.array([2.0])}
    >>> no_bias.update({"w": np.ones(1), "b": np.ones(1)}, no_bias.init(ps), ps)[0]
    {'b': array([-0.1]), 'w': array([-0.2])}
    """
    return _with_clip(_learning_rate(
        lambda lr: _adam_core(lr, b1, b2, eps, weight_decay, mask), lr), clip_norm)
