"""The loop workloads W9-W12: an RNN through scan, an Adam training loop, an ODE's adjoint and
per-example gradients (vmap of grad). Registered in `benchmarks.workloads.WORKLOADS`.

As in W1-W8 every contender is a `build()` returning a zero-argument step, checked against
the hand-written NumPy floor before it is timed, and every step is functional (it starts
from the same parameters each call). funcgrad's steps are written in plain NumPy on traced
values (`np.tanh(h @ Wh)`), as a user would write them.

>>> [w().key for w in (w9, w10, w11, w12)]
['W9', 'W10', 'W11', 'W12']
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

import funcgrad as fg

from .peers import load
from .workloads import (
    Contender,
    Step,
    Target,
    Workload,
    _device_arrays,
    _flat_arrays,
    _jax_ready,
    fg_jit,
    fg_jit_contenders,
)


def _peers(jax_step: Callable[[bool], Step], torch_c, autograd_c) -> list[Contender]:
    return [Contender("jax.jit", lambda: jax_step(True)),
            Contender("jax", lambda: jax_step(False)),
            Contender("torch", torch_c), Contender("autograd", autograd_c)]


def _targets(target: Target, suffix: str = "") -> dict[str, Target]:
    """The issue's targets are for the compiled tier: funcgrad.jit[compiled], and funcgrad.jit
    (the default backend, which swaps the compiled tier in once a function is hot)."""
    return {f"funcgrad.jit{suffix}": target, f"funcgrad.jit[compiled]{suffix}": target}


def _map_pairs(f, *trees):
    """`f` over the leaves of lists of (W, b) pairs (autograd and NumPy have no tree_map)."""
    return [tuple(f(*leaves) for leaves in zip(*pairs)) for pairs in zip(*trees)]


# --------------------------------------------------------------------------------------------
# W9: value_and_grad of a tanh RNN through scan, hidden 64, input 32, batch 16, 100 steps

RNN_T, RNN_B, RNN_D, RNN_H = 100, 16, 32, 64


def rnn_data():
    """((Wx, Wh, b), xs of shape (T, B, D), h0), float64.

    >>> (Wx, Wh, b), xs, h0 = rnn_data()
    >>> Wx.shape, Wh.shape, xs.shape, h0.shape
    ((32, 64), (64, 64), (100, 16, 32), (16, 64))
    """
    rng = np.random.default_rng(9)
    Wx = rng.standard_normal((RNN_D, RNN_H)) / np.sqrt(RNN_D)
    Wh = 0.9 * rng.standard_normal((RNN_H, RNN_H)) / np.sqrt(RNN_H)
    b = 0.1 * rng.standard_normal(RNN_H)
    xs = rng.standard_normal((RNN_T, RNN_B, RNN_D))
    return (Wx, Wh, b), xs, np.zeros((RNN_B, RNN_H))


def rnn_numpy(params, xs, h0):
    """Forward (input projections of all steps in one matmul, in place) and hand-written BPTT.

    The loss is sum_t sum(h_t ** 2) over the hidden states h_1..h_T (h_0 is fixed); returns
    (loss, (dWx, dWh, db)).
    """
    Wx, Wh, b = params
    T, B, D = xs.shape
    H = Wh.shape[0]
    hs = np.empty((T + 1, B, H))
    hs[0] = h0
    a = xs.reshape(T * B, D) @ Wx            # the pre-activations, filled in step by step
    a += b
    a = a.reshape(T, B, H)
    for t in range(T):
        at = a[t]
        at += hs[t] @ Wh
        np.tanh(at, out=hs[t + 1])
    out = hs[1:]
    loss = np.vdot(out, out)
    # Backward, with half gradients: g = dL/dh_t / 2, d_t = dL/da_t / 2 (written over `a`).
    WhT = Wh.T
    g = out[-1].copy()
    for t in range(T - 1, -1, -1):
        h, d = hs[t + 1], a[t]
        np.multiply(h, h, out=d)
        np.subtract(1.0, d, out=d)
        d *= g
        if t:
            g = d @ WhT
            g += hs[t]
    d = a.reshape(T * B, H)
    gWx = xs.reshape(T * B, D).T @ d
    gWh = hs[:-1].reshape(T * B, H).T @ d
    gWx *= 2.0
    gWh *= 2.0
    return loss, (gWx, gWh, 2.0 * d.sum(axis=0))


def rnn_loss(m, scan):
    """The loss against a NumPy-like namespace `m` and a `scan(f, init, xs)` (fg.scan or
    jax.lax.scan)."""
    def loss(params, xs, h0):
        Wx, Wh, b = params

        def cell(h, x):
            h = m.tanh(x @ Wx + h @ Wh + b)
            return h, h
        _, hs = scan(cell, h0, xs)
        return m.sum(hs * hs)
    return loss


def w9() -> Workload:
    """value_and_grad w.r.t. (Wx, Wh, b) of a tanh RNN run through scan (BPTT)."""
    params, xs, h0 = rnn_data()
    loss = rnn_loss(np, fg.scan)     # plain NumPy on funcgrad's traced values

    def funcgrad_c(jit: bool = False, backend: str | None = None):
        vg = fg.value_and_grad(loss)
        vg = fg_jit(vg, backend) if jit else vg
        return lambda: vg(params, xs, h0)

    def jax_step(jit: bool):
        jax = load("jax")
        vg = jax.value_and_grad(rnn_loss(jax.numpy, jax.lax.scan))
        vg = jax.jit(vg) if jit else vg
        args = _device_arrays((params, xs, h0), jax.numpy.asarray)
        return _jax_ready(jax, lambda: vg(*args))

    def torch_c():
        torch = load("torch")
        xt = torch.from_numpy(xs)
        ps = [torch.from_numpy(p.copy()).requires_grad_() for p in params]
        h_init = torch.from_numpy(h0)

        def step():
            Wx, Wh, b = ps
            h, loss = h_init, 0.0
            for x in xt:             # a Python loop: torch has no scan
                h = torch.tanh(x @ Wx + h @ Wh + b)
                loss = loss + (h * h).sum()
            return loss.detach(), torch.autograd.grad(loss, ps)
        return step

    def autograd_c():
        ag = load("autograd")
        anp = ag.numpy

        def aloss(params, xs, h0):
            Wx, Wh, b = params
            h, total = h0, 0.0
            for t in range(xs.shape[0]):
                h = anp.tanh(anp.dot(xs[t], Wx) + anp.dot(h, Wh) + b)
                total = total + anp.sum(h * h)
            return total
        vg = ag.value_and_grad(aloss)
        return lambda: vg(params, xs, h0)

    return Workload(
        "W9", f"value_and_grad of a tanh RNN through scan, {RNN_T} steps, hidden {RNN_H}, "
              f"input {RNN_D}, batch {RNN_B} f64",
        reference=lambda: _flat_arrays(rnn_numpy(params, xs, h0)), view=_flat_arrays,
        rtol=1e-9,
        contenders=[Contender("numpy", lambda: lambda: rnn_numpy(params, xs, h0)),
                    Contender("funcgrad", funcgrad_c),
                    *fg_jit_contenders(lambda backend: funcgrad_c(True, backend)),
                    *_peers(jax_step, torch_c, autograd_c)],
        targets=_targets(Target("ratio", 0.7)))


# --------------------------------------------------------------------------------------------
# W10: 50 Adam steps of an MLP 64-128-128-10 (tanh, softmax cross-entropy), batch 32

ADAM_SIZES = (64, 128, 128, 10)
ADAM_BATCH, ADAM_STEPS = 32, 50
ADAM_LR, ADAM_B1, ADAM_B2, ADAM_EPS = 1e-3, 0.9, 0.999, 1e-8


def adam_data():
    """(params as a list of (W, b), xs (steps, batch, 64), labels (steps, batch),
    one-hot labels (steps, batch, 10)), float64: a different batch for each step.

    >>> params, xs, labels, y1h = adam_data()
    >>> [W.shape for W, b in params], xs.shape, y1h.shape
    ([(64, 128), (128, 128), (128, 10)], (50, 32, 64), (50, 32, 10))
    """
    rng = np.random.default_rng(10)
    params = [(rng.standard_normal((i, o)) / np.sqrt(i), 0.01 * rng.standard_normal(o))
              for i, o in zip(ADAM_SIZES[:-1], ADAM_SIZES[1:])]
    xs = rng.standard_normal((ADAM_STEPS, ADAM_BATCH, ADAM_SIZES[0]))
    labels = rng.integers(0, ADAM_SIZES[-1], (ADAM_STEPS, ADAM_BATCH))
    return params, xs, labels, np.eye(ADAM_SIZES[-1])[labels]


def adam_numpy(params, xs, y1h):
    """The whole loop by hand: parameters, gradients and Adam's moments each live in one flat
    buffer (the (W, b) are views into it), so Adam is a dozen in-place ufunc calls per step
    and the backward writes its gradients straight into the gradient buffer.
    Returns (losses, final params)."""
    shapes = [s for W, b in params for s in (W.shape, b.shape)]
    sizes = [math.prod(s) for s in shapes]
    offsets = np.cumsum([0] + sizes)
    flat = np.concatenate([p.ravel() for pair in params for p in pair])
    grad, m, v, tmp = (np.zeros_like(flat) for _ in range(4))

    def views(buf):
        vs = [buf[o:o + n].reshape(s) for o, n, s in zip(offsets, sizes, shapes)]
        return list(zip(vs[::2], vs[1::2]))
    ps, gs = views(flat), views(grad)
    (W1, b1), (W2, b2), (W3, b3) = ps
    (gW1, gb1), (gW2, gb2), (gW3, gb3) = gs
    n = xs.shape[1]
    losses = np.empty(len(xs))
    for t in range(len(xs)):
        x, y = xs[t], y1h[t]
        h1 = x @ W1
        h1 += b1
        np.tanh(h1, out=h1)
        h2 = h1 @ W2
        h2 += b2
        np.tanh(h2, out=h2)
        z = h2 @ W3
        z += b3
        zmax = z.max(axis=1, keepdims=True)
        z -= zmax
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        losses[t] = (np.log(s).sum() - np.vdot(z, y)) / n
        e /= s
        e -= y
        e /= n                                    # d loss / d logits
        np.matmul(h2.T, e, out=gW3)
        e.sum(axis=0, out=gb3)
        d = e @ W3.T
        h2 *= h2
        np.subtract(1.0, h2, out=h2)
        d *= h2                                   # through tanh: (1 - h^2)
        np.matmul(h1.T, d, out=gW2)
        d.sum(axis=0, out=gb2)
        d1 = d @ W2.T
        h1 *= h1
        np.subtract(1.0, h1, out=h1)
        d1 *= h1
        np.matmul(x.T, d1, out=gW1)
        d1.sum(axis=0, out=gb1)
        # Adam, bias correction folded into the step size and epsilon.
        k = t + 1
        c2 = math.sqrt(1.0 - ADAM_B2 ** k)
        step = ADAM_LR * c2 / (1.0 - ADAM_B1 ** k)
        m *= ADAM_B1
        np.multiply(grad, 1.0 - ADAM_B1, out=tmp)
        m += tmp
        v *= ADAM_B2
        np.multiply(grad, grad, out=tmp)
        tmp *= 1.0 - ADAM_B2
        v += tmp
        np.sqrt(v, out=tmp)
        tmp += ADAM_EPS * c2
        np.divide(m, tmp, out=tmp)
        tmp *= step
        flat -= tmp
    return losses, [(W.copy(), b.copy()) for W, b in ps]


def adam_tree(tree_map, sqrt):
    """Functional Adam over a pytree (as optax.adam / torch.optim.Adam), for the peers that have
    no optimiser here: `init(params)`, `update(grads, (count, m, v), params) -> (params, state)`."""
    def init(params):
        zeros = tree_map(lambda p: 0.0 * p, params)
        return 0, zeros, zeros

    def update(grads, state, params):
        count, m, v = state
        count = count + 1
        m = tree_map(lambda g, m: ADAM_B1 * m + (1.0 - ADAM_B1) * g, grads, m)
        v = tree_map(lambda g, v: ADAM_B2 * v + (1.0 - ADAM_B2) * g * g, grads, v)
        c1, c2 = 1.0 - ADAM_B1 ** count, 1.0 - ADAM_B2 ** count
        params = tree_map(lambda p, m, v: p - ADAM_LR * (m / c1) / (sqrt(v / c2) + ADAM_EPS),
                          params, m, v)
        return params, (count, m, v)
    return init, update


def mlp_loss(m, logsumexp):
    """Tanh MLP, mean softmax cross-entropy against one-hot labels, over namespace `m`."""
    def loss(params, x, y1h):
        h = x
        for W, b in params[:-1]:
            h = m.tanh(h @ W + b)
        W, b = params[-1]
        logits = h @ W + b
        return -m.sum((logits - logsumexp(logits)) * y1h) / x.shape[0]
    return loss


def w10() -> Workload:
    """The whole 50-step Adam training loop, from the same initial parameters every call."""
    params, xs, labels, y1h = adam_data()
    flat0 = _flat_arrays(params)

    def view(res):
        losses, final = res
        return [np.asarray(losses)] + [(p1 - p0) / ADAM_LR
                                       for p0, p1 in zip(flat0, _flat_arrays(final))]

    def fg_update():
        # written with funcgrad.nn and funcgrad.optim, as a user would
        opt = fg.optim.adam(ADAM_LR, ADAM_B1, ADAM_B2, ADAM_EPS)

        def loss(params, x, y1h):
            h = x
            for W, b in params[:-1]:
                h = np.tanh(h @ W + b)
            W, b = params[-1]
            return fg.nn.softmax_cross_entropy(h @ W + b, y1h)
        vg = fg.value_and_grad(loss)

        def update(params, state, x, y1h):
            value, grads = vg(params, x, y1h)
            updates, state = opt.update(grads, state, params)
            return value, fg.optim.apply_updates(params, updates), state
        return opt, update

    def funcgrad_c(jit: bool = False, backend: str | None = None):
        opt, update = fg_update()
        update = fg_jit(update, backend) if jit else update

        def step():
            p, state, losses = params, opt.init(params), []
            for t in range(ADAM_STEPS):
                value, p, state = update(p, state, xs[t], y1h[t])
                losses.append(value)
            return losses, p
        return step

    def funcgrad_loop_c(backend: str | None = None):
        opt, update = fg_update()

        def train(params, xs, y1h):
            def body(carry, batch):
                value, p, state = update(*carry, *batch)
                return (p, state), value
            (p, _), losses = fg.scan(body, (params, opt.init(params)), (xs, y1h))
            return losses, p
        train = fg_jit(train, backend)
        return lambda: train(params, xs, y1h)

    def jax_step(jit: bool, loop: bool = False):
        jax = load("jax")
        jnp = jax.numpy
        init, adam = adam_tree(jax.tree_util.tree_map, jnp.sqrt)
        vg = jax.value_and_grad(mlp_loss(jnp, lambda z: jax.nn.logsumexp(z, axis=1,
                                                                         keepdims=True)))

        def update(p, state, x, y):
            value, grads = vg(p, x, y)
            p, state = adam(grads, state, p)
            return value, p, state
        p0, xj, yj = _device_arrays((params, xs, y1h), jnp.asarray)
        if loop:
            def train(p, xs, ys):
                def body(carry, batch):
                    value, p, state = update(*carry, *batch)
                    return (p, state), value
                (p, _), losses = jax.lax.scan(body, (p, init(p)), (xs, ys))
                return losses, p
            train = jax.jit(train)
            return _jax_ready(jax, lambda: train(p0, xj, yj))
        update = jax.jit(update) if jit else update

        def step():
            p, state, losses = p0, init(p0), []
            for t in range(ADAM_STEPS):
                value, p, state = update(p, state, xj[t], yj[t])
                losses.append(value)
            return jnp.stack(losses), p
        return _jax_ready(jax, step)

    def torch_c():
        torch = load("torch")
        F = torch.nn.functional
        t0 = [torch.from_numpy(p) for pair in params for p in pair]
        xt, lt = torch.from_numpy(xs), torch.from_numpy(labels)

        def step():
            ps = [p.clone().requires_grad_() for p in t0]
            opt = torch.optim.Adam(ps, lr=ADAM_LR, betas=(ADAM_B1, ADAM_B2), eps=ADAM_EPS)
            losses = []
            for t in range(ADAM_STEPS):
                opt.zero_grad()
                h = xt[t]
                for W, b in zip(ps[0:-2:2], ps[1:-2:2]):
                    h = torch.tanh(h @ W + b)
                loss = F.cross_entropy(h @ ps[-2] + ps[-1], lt[t])
                loss.backward()
                opt.step()
                losses.append(loss.detach())
            with torch.no_grad():
                return torch.stack(losses), [(W.detach(), b.detach())
                                             for W, b in zip(ps[::2], ps[1::2])]
        return step

    def autograd_c():
        ag = load("autograd")
        from autograd.scipy.special import logsumexp
        vg = ag.value_and_grad(mlp_loss(ag.numpy, lambda z: logsumexp(z, axis=1,
                                                                      keepdims=True)))
        init, adam = adam_tree(_map_pairs, np.sqrt)

        def step():
            p, state, losses = params, init(params), []
            for t in range(ADAM_STEPS):
                value, grads = vg(p, xs[t], y1h[t])
                p, state = adam(grads, state, p)
                losses.append(value)
            return losses, p
        return step

    target = Target("ratio", 0.45)
    return Workload(
        "W10", f"{ADAM_STEPS} Adam steps of an MLP 64-128-128-10 (tanh, softmax x-ent), "
               f"batch {ADAM_BATCH} f64",
        reference=lambda: view(adam_numpy(params, xs, y1h)), view=view, rtol=1e-8,
        contenders=[Contender("numpy", lambda: lambda: adam_numpy(params, xs, y1h)),
                    Contender("funcgrad", funcgrad_c),
                    *fg_jit_contenders(lambda backend: funcgrad_c(True, backend)),
                    *fg_jit_contenders(funcgrad_loop_c, "(loop)"),
                    Contender("jax.jit", lambda: jax_step(True)),
                    Contender("jax.jit(loop)", lambda: jax_step(True, loop=True)),
                    Contender("jax", lambda: jax_step(False)),
                    Contender("torch", torch_c), Contender("autograd", autograd_c)],
        targets={**_targets(target), **_targets(target, "(loop)")})


# --------------------------------------------------------------------------------------------
# W11: gradient w.r.t. the initial condition of 200 explicit Euler steps of a pendulum

ODE_STEPS, ODE_DT = 200, 0.01
ODE_X0 = np.array([1.0, 0.5])


def ode_numpy(x0):
    """Forward Euler loop on Python floats with NumPy's sin, then the reverse-mode adjoint loop:
    (a, b) -> (a + dt b, b - dt sin a) has the transposed Jacobian [[1, -dt cos a], [dt, 1]].
    The cosines of the whole trajectory are one vectorised call. Returns (loss, grad)."""
    traj = np.empty(ODE_STEPS)
    a, b = float(x0[0]), float(x0[1])
    sin, dt = np.sin, ODE_DT
    for t in range(ODE_STEPS):
        traj[t] = a
        a, b = a + dt * b, b - dt * sin(a)
    np.cos(traj, out=traj)
    traj *= dt
    c = traj.tolist()
    ga = gb = 1.0                                 # d loss / d (a, b) at the end
    for t in range(ODE_STEPS - 1, -1, -1):
        ga, gb = ga - c[t] * gb, gb + dt * ga
    return a + b, np.array([ga, gb])


def ode_python(x0):
    """The same on Python floats with the math module: no array at all.

    >>> float(np.max(np.abs(ode_python(ODE_X0)[1] - ode_numpy(ODE_X0)[1]))) < 1e-14
    True
    """
    a, b = float(x0[0]), float(x0[1])
    traj = [0.0] * ODE_STEPS
    sin, cos, dt = math.sin, math.cos, ODE_DT
    for t in range(ODE_STEPS):
        traj[t] = a
        a, b = a + dt * b, b - dt * sin(a)
    ga = gb = 1.0
    for t in range(ODE_STEPS - 1, -1, -1):
        ga, gb = ga - dt * cos(traj[t]) * gb, gb + dt * ga
    return a + b, np.array([ga, gb])


def euler_step(m):
    """One explicit Euler step of the pendulum x' = [x1, -sin(x0)], over namespace `m`."""
    def step(i, x):
        return x + ODE_DT * m.stack([x[1], -m.sin(x[0])])
    return step


def ode_loss(m, fori_loop=None):
    """sum of the final state, through `fori_loop` or (None) a Python loop, unrolled when
    traced."""
    step = euler_step(m)

    def loss(x):
        if fori_loop is not None:
            return m.sum(fori_loop(0, ODE_STEPS, step, x))
        for i in range(ODE_STEPS):
            x = step(i, x)
        return m.sum(x)
    return loss


def w11() -> Workload:
    """Adjoint of a 200-step ODE solve: fori_loop vs the Python loop unrolled under jit."""
    x0 = ODE_X0

    def funcgrad_c(jit: bool = False, backend: str | None = None, unrolled: bool = False):
        vg = fg.value_and_grad(ode_loss(np, None if unrolled else fg.fori_loop))
        vg = fg_jit(vg, backend) if jit else vg
        return lambda: vg(x0)

    def jax_step(jit: bool):
        # No unrolled jax.jit: XLA's compile time grows about as steps^2.5 on this chain
        # (1.7 s for 25 steps, 37 s for 100, minutes for 200).
        jax = load("jax")
        vg = jax.value_and_grad(ode_loss(jax.numpy, jax.lax.fori_loop))
        vg = jax.jit(vg) if jit else vg
        xj = jax.numpy.asarray(x0)
        return _jax_ready(jax, lambda: vg(xj))

    def torch_c():
        torch = load("torch")
        loss = ode_loss(torch)

        def step():
            x = torch.tensor(x0, requires_grad=True)
            value = loss(x)
            (g,) = torch.autograd.grad(value, x)
            return value.detach(), g
        return step

    def autograd_c():
        ag = load("autograd")
        vg = ag.value_and_grad(ode_loss(ag.numpy))
        return lambda: vg(x0)

    return Workload(
        "W11", f"value_and_grad w.r.t. x(0) of {ODE_STEPS} Euler steps of a pendulum, "
               "fori_loop and unrolled, f64",
        reference=lambda: _flat_arrays(ode_numpy(x0)), view=_flat_arrays, rtol=1e-12,
        contenders=[Contender("numpy", lambda: lambda: ode_numpy(x0)),
                    Contender("python", lambda: lambda: ode_python(x0)),
                    Contender("funcgrad", funcgrad_c),
                    *fg_jit_contenders(lambda backend: funcgrad_c(True, backend)),
                    *fg_jit_contenders(lambda backend: funcgrad_c(True, backend, True),
                                       "(unrolled)"),
                    Contender("jax.jit", lambda: jax_step(True)),
                    Contender("jax", lambda: jax_step(False)),
                    Contender("torch", torch_c), Contender("autograd", autograd_c)],
        targets=_targets(Target("ratio", 0.01)))


# --------------------------------------------------------------------------------------------
# W12: per-example gradients, vmap(grad) of a small MLP's logistic loss, batch 128, 32 features

PEX_N, PEX_D, PEX_H = 128, 32, 32


def pex_data():
    """((W1, b1, w2, b2), X, y), float64: a 32-32-1 tanh MLP and 128 labelled examples.

    >>> (W1, b1, w2, b2), X, y = pex_data()
    >>> W1.shape, w2.shape, X.shape, y.shape
    ((32, 32), (32,), (128, 32), (128,))
    """
    rng = np.random.default_rng(12)
    params = (rng.standard_normal((PEX_D, PEX_H)) / np.sqrt(PEX_D),
              0.1 * rng.standard_normal(PEX_H),
              rng.standard_normal(PEX_H) / np.sqrt(PEX_H), np.array(0.1))
    X = rng.standard_normal((PEX_N, PEX_D))
    y = (rng.random(PEX_N) < 0.5).astype(np.float64)
    return params, X, y


def pex_numpy(params, X, y):
    """Closed-form per-example gradients of logaddexp(0, z) - y z, z = tanh(x W1 + b1) w2 + b2:
    dz = sigmoid(z) - y; (dW1, db1, dw2, db2)[n] = (x d, d, dz h, dz), d = dz w2 (1 - h^2)."""
    W1, b1, w2, b2 = params
    h = X @ W1
    h += b1
    np.tanh(h, out=h)
    dz = h @ w2
    dz += b2
    np.negative(dz, out=dz)
    np.exp(dz, out=dz)
    dz += 1.0
    np.reciprocal(dz, out=dz)
    dz -= y                                        # sigmoid(z) - y
    gw2 = h * dz[:, None]
    h *= h
    np.subtract(1.0, h, out=h)
    h *= w2
    h *= dz[:, None]                               # d, the gradient at the pre-activation
    return X[:, :, None] * h[:, None, :], h, gw2, dz


def pex_loss(m):
    """One example's loss over namespace `m`."""
    def loss(params, x, y):
        W1, b1, w2, b2 = params
        z = m.tanh(x @ W1 + b1) @ w2 + b2
        return m.logaddexp(0.0, z) - y * z
    return loss


def w12() -> Workload:
    """Per-example gradients: vmap(grad(loss), in_axes=(None, 0, 0))."""
    params, X, y = pex_data()

    def funcgrad_c(jit: bool = False, backend: str | None = None):
        pg = fg.vmap(fg.grad(pex_loss(np)), in_axes=(None, 0, 0))
        pg = fg_jit(pg, backend) if jit else pg
        return lambda: pg(params, X, y)

    def jax_step(jit: bool):
        jax = load("jax")
        pg = jax.vmap(jax.grad(pex_loss(jax.numpy)), in_axes=(None, 0, 0))
        pg = jax.jit(pg) if jit else pg
        args = _device_arrays((params, X, y), jax.numpy.asarray)
        return _jax_ready(jax, lambda: pg(*args))

    def torch_c():
        torch = load("torch")
        if not hasattr(torch, "func"):
            raise NotImplementedError("this torch has no torch.func")

        def loss(params, x, y):
            W1, b1, w2, b2 = params
            z = torch.tanh(x @ W1 + b1) @ w2 + b2
            return torch.logaddexp(torch.zeros_like(z), z) - y * z
        pg = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0, 0))
        ps = tuple(torch.from_numpy(p) for p in params)
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
        return lambda: pg(ps, Xt, yt)

    def autograd_c():
        ag = load("autograd")
        g = ag.grad(pex_loss(ag.numpy))

        def step():              # autograd has no vmap: one grad per example
            grads = [g(params, X[n], y[n]) for n in range(PEX_N)]
            return [np.stack(leaf) for leaf in zip(*grads)]
        return step

    return Workload(
        "W12", f"per-example gradients vmap(grad) of a {PEX_D}-{PEX_H}-1 tanh MLP's logistic "
               f"loss, batch {PEX_N} f64",
        reference=lambda: list(pex_numpy(params, X, y)), view=_flat_arrays, rtol=1e-10,
        contenders=[Contender("numpy", lambda: lambda: pex_numpy(params, X, y)),
                    Contender("funcgrad", funcgrad_c),
                    *fg_jit_contenders(lambda backend: funcgrad_c(True, backend)),
                    *_peers(jax_step, torch_c, autograd_c)])


__all__ = ["adam_numpy", "ode_numpy", "ode_python", "pex_numpy", "rnn_numpy", "w9", "w10",
           "w11", "w12"]
