"""The benchmark workloads W1-W12: data, the hand-written NumPy floor, funcgrad and the peers
(W9-W12, the loop workloads, are in benchmarks/workloads_loops.py).

Every contender is a `build()` that returns a zero-argument step; the step computes the same
result as the NumPy floor (checked before timing). Steps are functional: each call starts from
the same parameters, so repeated calls time the same work.

>>> from benchmarks.workloads import all_workloads
>>> [w.key for w in all_workloads()]
['W1', 'W2', 'W3', 'W4', 'W5', 'W6', 'W7', 'W8', 'W9', 'W10', 'W11', 'W12']
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.util import find_spec
from typing import Any

import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp
import funcgrad.scipy.linalg as fsl

from .peers import load

Step = Callable[[], Any]


@dataclass
class Target:
    """A goal from the issue: `kind` is 'ratio' (x NumPy) or 'abs_us' (microseconds)."""

    kind: str
    value: float

    def describe(self) -> str:
        """'<= 1.3x' or '<= 50 us'.

        >>> Target("ratio", 1.3).describe()
        '<= 1.3x'
        """
        if self.kind == "ratio":
            return f"<= {self.value:g}x"
        return f"<= {self.value:g} us" if self.value < 1000 else f"<= {self.value / 1000:g} ms"


@dataclass
class Contender:
    """One implementation of a workload; `build` may raise peers.Unavailable or
    NotImplementedError (reported as skipped / n/a)."""

    name: str
    build: Callable[[], Step]


@dataclass
class Workload:
    """A workload: the NumPy reference, how to read a step's result, and the contenders.

    `view(result)` turns a step's result (as NumPy) into the list of arrays compared with
    the reference; `first_call` workloads time one fresh call per sample and report
    absolute times only.
    """

    key: str
    title: str
    reference: Callable[[], list[np.ndarray]]
    view: Callable[[Any], list[np.ndarray]]
    contenders: list[Contender]
    rtol: float
    targets: dict[str, Target] = field(default_factory=dict)
    first_call: bool = False


def _flat_arrays(x: Any) -> list[np.ndarray]:
    """Leaves of a nest of tuples/lists, as NumPy arrays (iterative; the nests are tiny)."""
    out, stack = [], [x]
    while stack:
        v = stack.pop()
        if isinstance(v, (tuple, list)):
            stack.extend(reversed(v))
        else:
            out.append(np.asarray(v))
    return out


def _jax_ready(jax, fn: Callable) -> Step:
    """JAX dispatches asynchronously: a step is finished only when its results are ready."""
    return lambda: jax.block_until_ready(fn())


def fg_jit(f: Callable, backend: str | None = None, **kw) -> Callable:
    """`fg.jit(f)` (the default backend, 'auto': the NumPy tier, then the compiled tier once
    hot), or with `backend` one tier, `fg.jit(f, backend="numpy" | "compiled")`.
    NotImplementedError (the cell shows n/a) where funcgrad has no `backend=` yet, or for the
    compiled tier where numba, which it needs, is not installed.

    >>> float(fg_jit(lambda x: x * 2.0)(1.5))
    3.0
    """
    if backend is None:
        return fg.jit(f, **kw)
    if backend == "compiled" and find_spec("numba") is None:
        raise NotImplementedError("the compiled tier needs numba, which is not installed")
    try:
        return fg.jit(f, backend=backend, **kw)
    except TypeError as e:
        if "backend" not in str(e):
            raise
        raise NotImplementedError(f"fg.jit has no backend= yet ({e})") from None
    except ImportError as e:
        raise NotImplementedError(f"fg.jit(backend={backend!r}): {e}") from None


TIERS = ("numpy", "compiled")   # the pinned tiers of fg.jit, contenders funcgrad.jit[tier]


def fg_jit_contenders(make: Callable[[str | None], Step], suffix: str = ""
                      ) -> list[Contender]:
    """funcgrad.jit (the default backend) and funcgrad.jit[numpy], funcgrad.jit[compiled]
    (one tier each), `make(backend)` building the step; `suffix` names a variant, as
    '(loop)'.

    >>> [c.name for c in fg_jit_contenders(lambda backend: None, "(loop)")]
    ['funcgrad.jit(loop)', 'funcgrad.jit[numpy](loop)', 'funcgrad.jit[compiled](loop)']
    """
    def contender(backend: str | None) -> Contender:
        tier = f"[{backend}]" if backend else ""
        return Contender(f"funcgrad.jit{tier}{suffix}", lambda: make(backend))
    return [contender(None)] + [contender(t) for t in TIERS]


def _device_arrays(xs: Any, convert: Callable) -> Any:
    if isinstance(xs, (tuple, list)):
        return type(xs)(_device_arrays(v, convert) for v in xs)
    return convert(xs)


# --------------------------------------------------------------------------------------------
# W1: logistic regression step, N=10000, D=100, float64

def w1() -> Workload:
    """Mean BCE-with-logits loss of a linear model, value_and_grad, SGD update."""
    n, d, lr = 10_000, 100, 0.1
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, d))
    y = (rng.random(n) < 0.5).astype(np.float64)
    w0 = 0.1 * rng.standard_normal(d)
    b0 = np.array(0.1)

    def numpy_step(w, b, X, y):
        z = X @ w + b
        loss = np.mean(np.logaddexp(0.0, z) - y * z)
        g = (1.0 / (1.0 + np.exp(-z)) - y) / n     # d loss / d z = (sigmoid(z) - y) / n
        return loss, w - lr * (X.T @ g), b - lr * g.sum()

    def view(res):
        loss, w1, b1 = res
        return [np.asarray(loss), (w0 - w1) / lr, (b0 - b1) / lr]

    def fg_step_fn():
        # written with funcgrad.nn and funcgrad.optim, as a user would
        opt = fg.optim.sgd(lr)

        def loss(w, b, X, y):
            return fg.nn.binary_cross_entropy_with_logits(X @ w + b, y)
        vg = fg.value_and_grad(loss, argnums=(0, 1))

        def step(w, b, X, y):
            value, grads = vg(w, b, X, y)
            updates, _ = opt.update(grads, opt.init((w, b)), (w, b))
            w1, b1 = fg.optim.apply_updates((w, b), updates)
            return value, w1, b1
        return step

    def numpy_c():
        return lambda: numpy_step(w0, b0, X, y)

    def funcgrad_c():
        step = fg_step_fn()
        return lambda: step(w0, b0, X, y)

    def funcgrad_jit_c(backend: str | None = None):
        step = fg_jit(fg_step_fn(), backend)
        return lambda: step(w0, b0, X, y)

    def jax_step(jit: bool):
        jax = load("jax")
        jnp = jax.numpy

        def loss(w, b, X, y):
            z = X @ w + b
            return jnp.mean(jnp.logaddexp(0.0, z) - y * z)
        vg = jax.value_and_grad(loss, argnums=(0, 1))

        def step(w, b, X, y):
            value, (gw, gb) = vg(w, b, X, y)
            return value, w - lr * gw, b - lr * gb
        step = jax.jit(step) if jit else step
        args = _device_arrays((w0, b0, X, y), jnp.asarray)
        return _jax_ready(jax, lambda: step(*args))

    def torch_c():
        torch = load("torch")
        F = torch.nn.functional
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
        w = torch.from_numpy(w0.copy()).requires_grad_()
        b = torch.from_numpy(b0.copy()).requires_grad_()

        def step():
            loss = F.binary_cross_entropy_with_logits(Xt @ w + b, yt)
            gw, gb = torch.autograd.grad(loss, (w, b))
            with torch.no_grad():
                return loss.detach(), w - lr * gw, b - lr * gb
        return step

    def autograd_c():
        ag = load("autograd")
        anp = ag.numpy

        def loss(params, X, y):
            w, b = params
            z = anp.dot(X, w) + b
            return anp.mean(anp.logaddexp(0.0, z) - y * z)
        vg = ag.value_and_grad(loss)

        def step():
            value, (gw, gb) = vg((w0, b0), X, y)
            return value, w0 - lr * gw, b0 - lr * gb
        return step

    return Workload(
        "W1", "logistic regression step (value_and_grad + SGD), N=10000 D=100 f64",
        reference=lambda: view(numpy_step(w0, b0, X, y)), view=view, rtol=1e-9,
        contenders=_standard(numpy_c, funcgrad_c, funcgrad_jit_c, jax_step, torch_c,
                             autograd_c, tiers=True),
        targets={"funcgrad": Target("ratio", 1.3), "funcgrad.jit": Target("ratio", 1.05)})


# --------------------------------------------------------------------------------------------
# W2: MLP 784-256-256-10, batch 128, float32

MLP_SIZES = (784, 256, 256, 10)
MLP_BATCH, MLP_LR = 128, 0.1


def mlp_data() -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray, np.ndarray,
                        np.ndarray]:
    """(params as a list of (W, b), inputs, integer labels, one-hot labels), float32.

    >>> params, x, labels, y1h = mlp_data()
    >>> [W.shape for W, b in params], x.dtype
    ([(784, 256), (256, 256), (256, 10)], dtype('float32'))
    """
    rng = np.random.default_rng(2)
    params = []
    for fan_in, fan_out in zip(MLP_SIZES[:-1], MLP_SIZES[1:]):
        W = rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)
        b = 0.01 * rng.standard_normal(fan_out)
        params.append((W.astype(np.float32), b.astype(np.float32)))
    x = rng.standard_normal((MLP_BATCH, MLP_SIZES[0])).astype(np.float32)
    labels = rng.integers(0, MLP_SIZES[-1], MLP_BATCH)
    y1h = np.eye(MLP_SIZES[-1], dtype=np.float32)[labels]
    return params, x, labels, y1h


def mlp_numpy_step(params, x, y1h):
    """Hand-written forward and backward of the MLP, then SGD: (loss, new params)."""
    hs, h = [x], x
    for W, b in params[:-1]:
        h = np.maximum(h @ W + b, 0)
        hs.append(h)
    W, b = params[-1]
    logits = h @ W + b
    m = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - m)
    s = e.sum(axis=1, keepdims=True)
    loss = np.mean(m[:, 0] + np.log(s[:, 0]) - (logits * y1h).sum(axis=1))
    g = (e / s - y1h) / x.shape[0]              # d loss / d logits
    new = []
    for i in range(len(params) - 1, -1, -1):
        W, b = params[i]
        h = hs[i]
        new.append((W - MLP_LR * (h.T @ g), b - MLP_LR * g.sum(axis=0)))
        if i > 0:
            g = (g @ W.T) * (h > 0)                 # through the relu that made h
    return loss, new[::-1]


def mlp_fg_loss(params, x, y1h):
    """The MLP loss written with funcgrad.nn: relu layers, mean softmax cross-entropy."""
    h = x
    for W, b in params[:-1]:
        h = fg.nn.relu(h @ W + b)
    W, b = params[-1]
    return fg.nn.softmax_cross_entropy(h @ W + b, y1h)


def _mlp_jax_loss(jax):
    jnp = jax.numpy

    def loss(params, x, y1h):
        h = x
        for W, b in params[:-1]:
            h = jax.nn.relu(h @ W + b)
        W, b = params[-1]
        logits = h @ W + b
        logp = logits - jax.nn.logsumexp(logits, axis=1, keepdims=True)
        return -jnp.sum(logp * y1h) / x.shape[0]
    return loss


def _sgd(params, grads):
    return [(W - MLP_LR * gW, b - MLP_LR * gb) for (W, b), (gW, gb) in zip(params, grads)]


def w2() -> Workload:
    """MLP training step: value_and_grad of mean softmax cross-entropy + SGD."""
    params, x, labels, y1h = mlp_data()
    flat0 = _flat_arrays(params)

    def view(res):
        loss, new = res
        return [np.asarray(loss)] + [(p0 - p1) / MLP_LR
                                     for p0, p1 in zip(flat0, _flat_arrays(new))]

    def fg_step_fn():
        vg = fg.value_and_grad(mlp_fg_loss)
        opt = fg.optim.sgd(MLP_LR)

        def step(params, x, y1h):
            value, grads = vg(params, x, y1h)
            updates, _ = opt.update(grads, opt.init(params), params)
            return value, fg.optim.apply_updates(params, updates)
        return step

    def numpy_c():
        return lambda: mlp_numpy_step(params, x, y1h)

    def funcgrad_c():
        step = fg_step_fn()
        return lambda: step(params, x, y1h)

    def funcgrad_jit_c(backend: str | None = None):
        step = fg_jit(fg_step_fn(), backend)
        return lambda: step(params, x, y1h)

    def jax_step(jit: bool):
        jax = load("jax")
        vg = jax.value_and_grad(_mlp_jax_loss(jax))

        def step(params, x, y1h):
            value, grads = vg(params, x, y1h)
            return value, _sgd(params, grads)
        step = jax.jit(step) if jit else step
        args = _device_arrays((params, x, y1h), jax.numpy.asarray)
        return _jax_ready(jax, lambda: step(*args))

    def torch_c():
        torch = load("torch")
        F = torch.nn.functional
        tparams = [(torch.from_numpy(W.copy()).requires_grad_(),
                    torch.from_numpy(b.copy()).requires_grad_()) for W, b in params]
        flat = [p for pair in tparams for p in pair]
        xt, lt = torch.from_numpy(x), torch.from_numpy(labels)

        def step():
            h = xt
            for W, b in tparams[:-1]:
                h = F.relu(h @ W + b)
            W, b = tparams[-1]
            loss = F.cross_entropy(h @ W + b, lt)
            grads = torch.autograd.grad(loss, flat)
            with torch.no_grad():
                return loss.detach(), _sgd(tparams, list(zip(grads[::2], grads[1::2])))
        return step

    def autograd_c():
        ag = load("autograd")
        anp = ag.numpy
        from autograd.scipy.special import logsumexp

        def loss(params, x, y1h):
            h = x
            for W, b in params[:-1]:
                h = anp.maximum(anp.dot(h, W) + b, 0.0)
            W, b = params[-1]
            logits = anp.dot(h, W) + b
            logp = logits - logsumexp(logits, axis=1, keepdims=True)
            return -anp.sum(logp * y1h) / x.shape[0]
        vg = ag.value_and_grad(loss)

        def step():
            value, grads = vg(params, x, y1h)
            return value, _sgd(params, grads)
        return step

    return Workload(
        "W2", "MLP 784-256-256-10 step (relu, softmax x-ent, SGD), batch 128 f32",
        reference=lambda: view(mlp_numpy_step(params, x, y1h)), view=view, rtol=2e-3,
        contenders=_standard(numpy_c, funcgrad_c, funcgrad_jit_c, jax_step, torch_c,
                             autograd_c, tiers=True),
        targets={"funcgrad": Target("ratio", 1.3), "funcgrad.jit": Target("ratio", 1.05)})


# --------------------------------------------------------------------------------------------
# W3: grad of sin(x**2) * exp(x) at a Python float (call overhead)

def w3() -> Workload:
    """Scalar gradient at a Python float: measures per-call overhead."""
    x0 = 0.7

    def numpy_grad(x):
        x2, e = x * x, np.exp(x)
        return 2.0 * x * np.cos(x2) * e + np.sin(x2) * e

    def f(x):
        return fnp.sin(x ** 2) * fnp.exp(x)

    def jax_step(jit: bool):
        jax = load("jax")
        jnp = jax.numpy
        g = jax.grad(lambda x: jnp.sin(x ** 2) * jnp.exp(x))
        g = jax.jit(g) if jit else g
        return _jax_ready(jax, lambda: g(x0))

    def torch_c():
        torch = load("torch")

        def step():
            x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
            (g,) = torch.autograd.grad(torch.sin(x ** 2) * torch.exp(x), x)
            return g
        return step

    def autograd_c():
        ag = load("autograd")
        anp = ag.numpy
        g = ag.grad(lambda x: anp.sin(x ** 2) * anp.exp(x))
        return lambda: g(x0)

    def funcgrad_c():
        g = fg.grad(f)
        return lambda: g(x0)

    def funcgrad_jit_c(backend: str | None = None):
        g = fg_jit(fg.grad(f), backend)
        return lambda: g(x0)

    return Workload(
        "W3", "grad of sin(x**2)*exp(x) at a Python float (call overhead)",
        reference=lambda: [np.asarray(numpy_grad(x0))], view=_flat_arrays, rtol=1e-12,
        contenders=_standard(lambda: lambda: numpy_grad(x0), funcgrad_c, funcgrad_jit_c,
                             jax_step, torch_c, autograd_c, tiers=True),
        targets={"funcgrad": Target("abs_us", 50.0), "funcgrad.jit": Target("abs_us", 5.0)})


# --------------------------------------------------------------------------------------------
# W4: hessian of sum(tanh(A @ x)), x in R^100

def w4() -> Workload:
    """Dense 100x100 Hessian of sum(tanh(A @ x)), float64."""
    rng = np.random.default_rng(4)
    A = rng.standard_normal((100, 100)) / 10.0
    x0 = rng.standard_normal(100)

    def numpy_hessian(x, A):
        t = np.tanh(A @ x)
        d = -2.0 * t * (1.0 - t * t)                 # (tanh)'' at A @ x
        return A.T @ (d[:, None] * A)

    def f(x, A):
        return fnp.sum(fnp.tanh(A @ x))

    def funcgrad_c():
        h = fg.hessian(f)
        return lambda: h(x0, A)

    def funcgrad_jit_c():
        h = fg.jit(fg.hessian(f))
        return lambda: h(x0, A)

    def jax_step(jit: bool):
        jax = load("jax")
        jnp = jax.numpy
        h = jax.hessian(lambda x, A: jnp.sum(jnp.tanh(A @ x)))
        h = jax.jit(h) if jit else h
        xj, Aj = jnp.asarray(x0), jnp.asarray(A)
        return _jax_ready(jax, lambda: h(xj, Aj))

    def torch_c():
        torch = load("torch")
        h = torch.func.hessian(lambda x, A: torch.sum(torch.tanh(A @ x)))
        xt, At = torch.from_numpy(x0), torch.from_numpy(A)
        return lambda: h(xt, At)

    def autograd_c():
        ag = load("autograd")
        anp = ag.numpy
        h = ag.hessian(lambda x, A: anp.sum(anp.tanh(anp.dot(A, x))))
        return lambda: h(x0, A)

    return Workload(
        "W4", "hessian of sum(tanh(A@x)), x in R^100, A 100x100 f64",
        reference=lambda: [numpy_hessian(x0, A)], view=_flat_arrays, rtol=1e-10,
        contenders=_standard(lambda: lambda: numpy_hessian(x0, A), funcgrad_c, funcgrad_jit_c,
                             jax_step, torch_c, autograd_c),
        targets={"funcgrad": Target("ratio", 10.0), "funcgrad.jit": Target("ratio", 2.0)})


# --------------------------------------------------------------------------------------------
# W5: grad of a 200-op elementwise chain on a 1000-vector

CHAIN_OPS = 200     # cycles through sin, mul by c, add x0, tanh, exp: values stay in [-3, 3]


def chain(x0, c, m):
    """sum of the 200-op chain, written against the namespace `m` (numpy-like: sin/tanh/exp/sum).

    >>> float(chain(np.zeros(3), np.ones(3), np)) > 0
    True
    """
    x = x0
    for i in range(CHAIN_OPS):
        k = i % 5
        if k == 0:
            x = m.sin(x)
        elif k == 1:
            x = x * c
        elif k == 2:
            x = x + x0
        elif k == 3:
            x = m.tanh(x)
        else:
            x = m.exp(x)
    return m.sum(x)


def chain_numpy_grad(x0, c):
    """Hand-written forward (storing what the backward needs) and backward of `chain`."""
    saved, x = [], x0
    for i in range(CHAIN_OPS):
        k = i % 5
        if k == 0:
            saved.append(x)             # sin needs its input
            x = np.sin(x)
        elif k == 1:
            x = x * c
        elif k == 2:
            x = x + x0
        elif k == 3:
            x = np.tanh(x)
            saved.append(x)             # tanh and exp need their outputs
        else:
            x = np.exp(x)
            saved.append(x)
    g, gx0 = np.ones_like(x0), np.zeros_like(x0)
    for i in range(CHAIN_OPS - 1, -1, -1):
        k = i % 5
        if k == 0:
            g = g * np.cos(saved.pop())
        elif k == 1:
            g = g * c
        elif k == 2:
            gx0 = gx0 + g
        elif k == 3:
            t = saved.pop()
            g = g * (1.0 - t * t)
        else:
            g = g * saved.pop()
    return gx0 + g


def w5() -> Workload:
    """Gradient of a long elementwise chain: per-op overhead on small arrays."""
    rng = np.random.default_rng(5)
    x0 = rng.uniform(-1.0, 1.0, 1000)
    c = rng.uniform(0.5, 1.5, 1000)

    def funcgrad_c():
        g = fg.grad(lambda x, c: chain(x, c, fnp))
        return lambda: g(x0, c)

    def funcgrad_jit_c(backend: str | None = None):
        g = fg_jit(fg.grad(lambda x, c: chain(x, c, fnp)), backend)
        return lambda: g(x0, c)

    def jax_step(jit: bool):
        jax = load("jax")
        g = jax.grad(lambda x, c: chain(x, c, jax.numpy))
        g = jax.jit(g) if jit else g
        xj, cj = jax.numpy.asarray(x0), jax.numpy.asarray(c)
        return _jax_ready(jax, lambda: g(xj, cj))

    def torch_c():
        torch = load("torch")
        xt, ct = torch.from_numpy(x0.copy()).requires_grad_(), torch.from_numpy(c)

        def step():
            (g,) = torch.autograd.grad(chain(xt, ct, torch), xt)
            return g
        return step

    def autograd_c():
        ag = load("autograd")
        g = ag.grad(lambda x, c: chain(x, c, ag.numpy))
        return lambda: g(x0, c)

    return Workload(
        "W5", f"grad of a {CHAIN_OPS}-op elementwise chain on a 1000-vector f64",
        reference=lambda: [chain_numpy_grad(x0, c)], view=_flat_arrays, rtol=1e-9,
        contenders=_standard(lambda: lambda: chain_numpy_grad(x0, c), funcgrad_c,
                             funcgrad_jit_c, jax_step, torch_c, autograd_c, tiers=True),
        targets={"funcgrad": Target("ratio", 1.3), "funcgrad.jit": Target("ratio", 1.05)})


# --------------------------------------------------------------------------------------------
# W6: first call (trace + compile + run) of jit(value_and_grad(W2 loss))

def w6() -> Workload:
    """Time of the first call of a freshly made jit(value_and_grad(mlp loss)): absolute only."""
    params, x, _, y1h = mlp_data()

    def reference():
        loss, new = mlp_numpy_step(params, x, y1h)
        return [np.asarray(loss)] + [(p0 - p1) / MLP_LR for p0, p1 in
                                     zip(_flat_arrays(params), _flat_arrays(new))]

    def funcgrad_jit_c():
        def first_call():
            # A fresh function and a fresh jit object: nothing can come from a cache.
            def loss(params, x, y1h):
                return mlp_fg_loss(params, x, y1h)
            return fg.jit(fg.value_and_grad(loss))(params, x, y1h)
        return first_call

    def jax_jit_c():
        jax = load("jax")
        jax_loss = _mlp_jax_loss(jax)
        args = _device_arrays((params, x, y1h), jax.numpy.asarray)

        def first_call():
            def loss(params, x, y1h):
                return jax_loss(params, x, y1h)
            return jax.block_until_ready(jax.jit(jax.value_and_grad(loss))(*args))
        return first_call

    return Workload(
        "W6", "first call (trace + compile + run) of jit(value_and_grad(W2 loss))",
        reference=reference, view=_flat_arrays, rtol=2e-3, first_call=True,
        contenders=[Contender("funcgrad.jit", funcgrad_jit_c), Contender("jax.jit", jax_jit_c)],
        targets={"funcgrad.jit": Target("abs_us", 50_000.0)})


# --------------------------------------------------------------------------------------------
# W7: gradient of a Gaussian process's negative log marginal likelihood, N=200

GP_N, GP_D = 200, 10


def gp_data():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((GP_N, GP_D))
    y = np.sin(x[:, 0]) + 0.5 * x[:, 1] + 0.1 * rng.standard_normal(GP_N)
    theta = np.log(np.array([2.0, 1.5, 0.3]))     # log length scale, signal, noise variance
    return theta, x, y


def gp_numpy(theta, x, y):
    """The NumPy floor: the closed-form gradient 0.5 tr((K^-1 - a a^T) dK/dtheta)."""
    ell2, s2, noise = np.exp(2 * theta[0]), np.exp(theta[1]), np.exp(theta[2])
    sq = np.maximum((x * x).sum(1)[:, None] + (x * x).sum(1)[None, :] - 2 * x @ x.T, 0.0)
    k_rbf = s2 * np.exp(-0.5 * sq / ell2)
    k = k_rbf + noise * np.eye(len(y))
    chol = np.linalg.cholesky(k)
    k_inv = np.linalg.inv(k)
    alpha = k_inv @ y
    value = 0.5 * y @ alpha + np.log(np.diagonal(chol)).sum() + 0.5 * len(y) * np.log(2 * np.pi)
    w = k_inv - np.outer(alpha, alpha)
    grad = 0.5 * np.array([(w * (k_rbf * sq / ell2)).sum(), (w * k_rbf).sum(),
                           noise * np.trace(w)])
    return value, grad


def gp_loss(m, linalg, cho_solve):
    """The loss written against a NumPy-like namespace `m` (jnp, torch-like or fnp)."""
    def loss(theta, x, y):
        sq = m.maximum((x * x).sum(1)[:, None] + (x * x).sum(1)[None, :] - 2 * x @ x.T, 0.0)
        k = m.exp(theta[1]) * m.exp(-0.5 * sq / m.exp(2 * theta[0])) + \
            m.exp(theta[2]) * m.eye(y.shape[0])
        chol = linalg.cholesky(k)
        alpha = cho_solve(chol, y)
        return 0.5 * (y * alpha).sum() + m.log(m.diagonal(chol)).sum() + \
            0.5 * y.shape[0] * np.log(2 * np.pi)
    return loss


def w7() -> Workload:
    theta, x, y = gp_data()
    loss = gp_loss(fnp, fnp.linalg, lambda c, b: fsl.cho_solve((c, True), b))

    def funcgrad_c():
        vg = fg.value_and_grad(loss)
        return lambda: vg(theta, x, y)

    def funcgrad_jit_c():
        vg = fg.jit(fg.value_and_grad(loss))
        return lambda: vg(theta, x, y)

    def jax_step(jit: bool):
        jax = load("jax")
        jloss = gp_loss(jax.numpy, jax.numpy.linalg,
                        lambda c, b: jax.scipy.linalg.cho_solve((c, True), b))
        vg = jax.value_and_grad(jloss)
        vg = jax.jit(vg) if jit else vg
        args = _device_arrays((theta, x, y), jax.numpy.asarray)
        return _jax_ready(jax, lambda: vg(*args))

    def torch_c():
        torch = load("torch")

        class T:   # the namespace gp_loss needs, on torch
            maximum = staticmethod(lambda a, b: torch.clamp(a, min=b))
            exp, log, diagonal = torch.exp, torch.log, torch.diagonal
            eye = staticmethod(lambda n: torch.eye(n, dtype=torch.float64))
        tloss = gp_loss(T, torch.linalg,
                        lambda c, b: torch.cholesky_solve(b[:, None], c)[:, 0])
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)

        def step():
            t = torch.tensor(theta, requires_grad=True)
            value = tloss(t, xt, yt)
            (grad,) = torch.autograd.grad(value, t)
            return value, grad
        return step

    def autograd_c():
        ag = load("autograd")
        import autograd.scipy.linalg as asl
        anp = ag.numpy

        def cho_solve(c, b):
            z = asl.solve_triangular(c, b, lower=True)
            return asl.solve_triangular(c.T, z, lower=False)
        vg = ag.value_and_grad(gp_loss(anp, anp.linalg, cho_solve))
        return lambda: vg(theta, x, y)

    return Workload(
        "W7", "value_and_grad of a GP's -log marginal likelihood, N=200 f64",
        reference=lambda: list(gp_numpy(theta, x, y)), view=_flat_arrays, rtol=1e-9,
        contenders=_standard(lambda: lambda: gp_numpy(theta, x, y), funcgrad_c,
                             funcgrad_jit_c, jax_step, torch_c, autograd_c),
        targets={"funcgrad.jit": Target("ratio", 1.1)})


# --------------------------------------------------------------------------------------------
# W8: grad of vmap(slogdet + b^T A^-1 b) over 1000 8x8 matrices

SMALL_N, SMALL_D = 1000, 8


def small_data():
    rng = np.random.default_rng(8)
    a = rng.standard_normal((SMALL_N, SMALL_D, SMALL_D)) + 4.0 * np.eye(SMALL_D)
    b = rng.standard_normal((SMALL_N, SMALL_D))
    return a, b


def small_numpy(a, b):
    """The floor: grad_A = A^-T - (A^-T b)(A^-1 b)^T, grad_b = (A^-1 + A^-T) b, batched."""
    inv = np.linalg.inv(a)
    inv_t = np.swapaxes(inv, -1, -2)
    x = (inv @ b[..., None])[..., 0]
    y = (inv_t @ b[..., None])[..., 0]
    return inv_t - y[..., :, None] * x[..., None, :], x + y


def small_loss(m, slogdet, solve, vmap):
    def one(a, b):
        return slogdet(a)[1] + (b * solve(a, b)).sum()
    return lambda a, b: vmap(one)(a, b).sum()


def w8() -> Workload:
    a, b = small_data()
    loss = small_loss(fnp, fnp.linalg.slogdet, fnp.linalg.solve, fg.vmap)

    def funcgrad_c():
        g = fg.grad(loss, argnums=(0, 1))
        return lambda: g(a, b)

    def funcgrad_jit_c():
        g = fg.jit(fg.grad(loss, argnums=(0, 1)))
        return lambda: g(a, b)

    def jax_step(jit: bool):
        jax = load("jax")
        jnp = jax.numpy
        g = jax.grad(small_loss(jnp, jnp.linalg.slogdet, jnp.linalg.solve, jax.vmap),
                     argnums=(0, 1))
        g = jax.jit(g) if jit else g
        args = _device_arrays((a, b), jnp.asarray)
        return _jax_ready(jax, lambda: g(*args))

    def torch_c():
        torch = load("torch")
        tloss = small_loss(torch, torch.linalg.slogdet, torch.linalg.solve, torch.vmap)
        g = torch.func.grad(tloss, argnums=(0, 1))
        at, bt = torch.from_numpy(a), torch.from_numpy(b)
        return lambda: g(at, bt)

    def autograd_c():
        ag = load("autograd")
        anp = ag.numpy

        def loss_ag(ab):          # autograd has no vmap: its functions are batched already
            a, b = ab
            x = anp.linalg.solve(a, b[..., None])[..., 0]
            return anp.linalg.slogdet(a)[1].sum() + (b * x).sum()
        g = ag.grad(loss_ag)
        return lambda: g((a, b))

    return Workload(
        "W8", "grad of vmap(slogdet + b^T A^-1 b) over 1000 8x8 matrices f64",
        reference=lambda: list(small_numpy(a, b)), view=_flat_arrays, rtol=1e-9,
        contenders=_standard(lambda: lambda: small_numpy(a, b), funcgrad_c, funcgrad_jit_c,
                             jax_step, torch_c, autograd_c))


def _standard(numpy_c, funcgrad_c, funcgrad_jit_c, jax_step, torch_c, autograd_c,
              tiers: bool = False) -> list[Contender]:
    """The contender list of W1-W8, in table order (NumPy first: ratios are to it); with
    `tiers`, also funcgrad.jit[numpy] and funcgrad.jit[compiled], built by
    `funcgrad_jit_c(backend)`."""
    jits = (fg_jit_contenders(funcgrad_jit_c) if tiers
            else [Contender("funcgrad.jit", funcgrad_jit_c)])
    return [Contender("numpy", numpy_c), Contender("funcgrad", funcgrad_c), *jits,
            Contender("jax.jit", lambda: jax_step(True)), Contender("jax", lambda: jax_step(False)),
            Contender("torch", torch_c), Contender("autograd", autograd_c)]


def _loop_workload(name: str) -> Callable[[], Workload]:
    """The builder `name` of benchmarks/workloads_loops.py, imported when it is called (that
    module imports this one)."""
    def build() -> Workload:
        from . import workloads_loops
        return getattr(workloads_loops, name)()
    build.__name__ = name
    return build


# Builders by key: a workload's data is made only when it is selected.
WORKLOADS: dict[str, Callable[[], Workload]] = {
    "W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "W6": w6, "W7": w7, "W8": w8,
    **{f"W{i}": _loop_workload(f"w{i}") for i in (9, 10, 11, 12)}}


def all_workloads() -> list[Workload]:
    """W1-W12, each freshly built (data made here, peers imported only when timed).

    >>> len(all_workloads())
    12
    """
    return [build() for build in WORKLOADS.values()]


__all__ = ["TIERS", "WORKLOADS", "Contender", "Target", "Workload", "all_workloads", "chain",
           "chain_numpy_grad", "fg_jit", "fg_jit_contenders", "mlp_data", "mlp_fg_loss",
           "mlp_numpy_step"]
