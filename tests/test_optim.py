"""funcgrad.optim: three steps of each optimiser against the textbook formulas written out in
plain Python floats, on a pytree; purity, dtypes, and tracing (no Python control flow on values)."""
import copy
import math

import numpy as np
import pytest

import funcgrad as fg
from funcgrad import optim, tree

GRADS = [  # three steps of gradients for a pytree with a vector, a matrix and a scalar
    {"w": np.array([0.5, -1.0]), "m": np.array([[2.0, 0.0], [-3.0, 0.25]]), "b": np.array(1.5)},
    {"w": np.array([-0.2, 0.4]), "m": np.array([[1.0, -1.0], [0.5, 0.0]]), "b": np.array(-0.5)},
    {"w": np.array([1.0, 1.0]), "m": np.array([[0.0, 2.0], [-1.0, 4.0]]), "b": np.array(0.1)},
]
PARAMS = {"w": np.array([1.0, -2.0]), "m": np.array([[0.5, 0.5], [-1.0, 2.0]]),
          "b": np.array(0.3)}


def run(opt, steps=3, params=PARAMS, grads=GRADS):
    """Apply `opt` for `steps` steps of `grads`; returns the list of updates and final params."""
    state = opt.init(params)
    all_updates = []
    for g in grads[:steps]:
        updates, state = opt.update(g, state, params)
        params = optim.apply_updates(params, updates)
        all_updates.append(updates)
    return all_updates, params


def by_scalar(reference):
    """Apply a per-scalar reference optimiser (a generator of updates) to every entry."""
    expected = [tree.map(np.zeros_like, g) for g in GRADS]
    for key in PARAMS:
        for idx in np.ndindex(np.shape(PARAMS[key])):
            p = float(PARAMS[key][idx])
            gs = [float(g[key][idx]) for g in GRADS]
            for step, u in enumerate(reference(p, gs)):
                expected[step][key][idx] = u
    return expected


def assert_updates(got, expected):
    for g, e in zip(got, expected, strict=True):
        for key in e:
            np.testing.assert_allclose(g[key], e[key], rtol=1e-12, atol=1e-15)


def test_sgd():
    assert_updates(run(optim.sgd(0.1))[0], [tree.map(lambda g: -0.1 * g, g) for g in GRADS])


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum(nesterov):
    def reference(p, gs, lr=0.1, beta=0.9):
        v = 0.0
        for g in gs:
            v = beta * v + g
            yield -lr * (g + beta * v) if nesterov else -lr * v
    got, _ = run(optim.momentum(0.1, beta=0.9, nesterov=nesterov))
    assert_updates(got, by_scalar(reference))


def adam_reference(p, gs, lr=0.01, b1=0.9, b2=0.999, eps=1e-8, wd=0.0):
    m = v = 0.0
    for t, g in enumerate(gs, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        u = -lr * (m_hat / (math.sqrt(v_hat) + eps) + wd * p)
        p += u
        yield u


def test_adam_with_bias_correction():
    got, _ = run(optim.adam(lr=0.01))
    assert_updates(got, by_scalar(adam_reference))
    # bias correction makes the first step -lr * sign(g) (up to eps), whatever |g|
    np.testing.assert_allclose(got[0]["w"], [-0.01, 0.01], rtol=1e-7)


def test_adam_nondefault_hyperparameters_and_count():
    opt = optim.adam(lr=0.05, b1=0.5, b2=0.9, eps=1e-3)
    got, _ = run(opt)
    assert_updates(got, by_scalar(lambda p, gs: adam_reference(p, gs, 0.05, 0.5, 0.9, 1e-3)))
    state = opt.init(PARAMS)
    for g in GRADS:
        _, state = opt.update(g, state)
    assert isinstance(state.count, np.ndarray) and state.count.dtype == np.int32
    assert int(state.count) == 3


def test_adamw_decoupled_weight_decay():
    got, _ = run(optim.adamw(lr=0.01, weight_decay=0.1))
    assert_updates(got, by_scalar(lambda p, gs: adam_reference(p, gs, wd=0.1)))
    with pytest.raises(ValueError, match="needs params"):
        opt = optim.adamw(lr=0.01)
        opt.update(GRADS[0], opt.init(PARAMS))


def test_clip_by_global_norm_and_chain():
    g = GRADS[0]
    norm = math.sqrt(sum(float(np.sum(np.square(x))) for x in g.values()))
    assert abs(float(optim.global_norm(g)) - norm) < 1e-12
    clip = optim.clip_by_global_norm(1.0)
    clipped, state = clip.update(g, clip.init(PARAMS))
    for key in g:
        np.testing.assert_allclose(clipped[key], g[key] / norm, rtol=1e-12)
    assert abs(float(optim.global_norm(clipped)) - 1.0) < 1e-12
    # below the threshold nothing changes (and a zero gradient is fine)
    same, _ = optim.clip_by_global_norm(100.0).update(g, state)
    for key in g:
        np.testing.assert_array_equal(same[key], g[key])
    zero = tree.map(np.zeros_like, g)
    assert all(np.all(v == 0) for v in clip.update(zero, state)[0].values())
    # clip_norm= is chain(clip_by_global_norm, ...)
    a, _ = run(optim.adam(lr=0.01, clip_norm=1.0))
    b, _ = run(optim.chain(optim.clip_by_global_norm(1.0), optim.adam(lr=0.01)))
    assert_updates(a, b)
    c, _ = run(optim.sgd(0.1, clip_norm=1.0), steps=1)
    assert_updates(c, [tree.map(lambda x: -0.1 * x / norm, g)])
    with pytest.raises(ValueError, match="positive"):
        optim.clip_by_global_norm(0.0)


OPTIMIZERS = {
    "sgd": optim.sgd(0.1),
    "momentum": optim.momentum(0.1),
    "nesterov": optim.momentum(0.1, nesterov=True),
    "adam": optim.adam(0.01),
    "adamw": optim.adamw(0.01, weight_decay=0.1),
    "clipped": optim.adam(0.01, clip_norm=0.5),
    "sgd-schedule": optim.sgd(optim.exponential_decay(0.1, 2, 0.5)),
    "adamw-schedule-mask": optim.adamw(optim.cosine_decay(0.01, 10), weight_decay=0.1,
                                       mask=lambda p: tree.map(lambda x: np.ndim(x) > 0, p)),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_pure_same_inputs_same_outputs_inputs_unchanged(name):
    opt = OPTIMIZERS[name]
    params, grads = copy.deepcopy(PARAMS), copy.deepcopy(GRADS[0])
    state = opt.init(params)
    state_before = copy.deepcopy(state)
    u1, s1 = opt.update(grads, state, params)
    u2, s2 = opt.update(grads, state, params)
    for a, b in zip(tree.leaves((u1, s1)), tree.leaves((u2, s2)), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(tree.leaves((params, grads, state)),
                    tree.leaves((PARAMS, GRADS[0], state_before)), strict=True):
        np.testing.assert_array_equal(a, b)
    new_params = optim.apply_updates(params, u1)
    for key in PARAMS:
        np.testing.assert_array_equal(params[key], PARAMS[key])
        assert isinstance(new_params[key], np.ndarray)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_float32_params_stay_float32(name):
    opt = OPTIMIZERS[name]
    p32, g32 = tree.map(lambda x: x.astype(np.float32), (PARAMS, GRADS))
    updates, params = run(opt, params=p32, grads=g32)
    state = opt.update(g32[0], opt.init(p32), p32)[1]
    assert all(x.dtype == np.float32 for x in tree.leaves((updates, params)))
    assert all(x.dtype in (np.float32, np.int32) for x in tree.leaves(state))


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_training_step_traces_abstractly_and_under_jit(name):
    opt = OPTIMIZERS[name]

    def loss(params, x):
        return ((params["m"] @ x + params["w"]) ** 2).sum() + params["b"] ** 2

    def step(params, state, x):
        grads = fg.grad(loss)(params, x)
        updates, state = opt.update(grads, state, params)
        return optim.apply_updates(params, updates), state

    x = np.array([1.0, -1.0])
    state = opt.init(PARAMS)
    # make_graph traces with abstract values: any Python branch on a value would raise here
    graph = fg.make_graph(step)(PARAMS, state, x)
    assert len(graph.outvars) == len(tree.leaves((PARAMS, state)))
    eager = step(PARAMS, state, x)
    jitted = fg.jit(step)
    for _ in range(2):   # the second call hits the cache
        out = jitted(PARAMS, state, x)
        for a, b in zip(tree.leaves(out), tree.leaves(eager), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12)


def test_optimizer_minimises_a_quadratic():
    opt = optim.adam(0.1)
    params = {"x": np.array([3.0, -4.0])}
    state = opt.init(params)
    for _ in range(300):
        grads = fg.grad(lambda p: ((p["x"] - 1.0) ** 2).sum())(params)
        updates, state = opt.update(grads, state, params)
        params = optim.apply_updates(params, updates)
    np.testing.assert_allclose(params["x"], [1.0, 1.0], atol=1e-3)


def test_optimizer_is_hashable_for_static_args():
    opt = optim.sgd(0.1)
    assert hash(opt) == hash(opt)
    with pytest.raises(AttributeError):
        opt.init = None


# ---------------------------------------------------------------- schedules

def test_schedules_follow_their_formulas():
    counts = [0, 1, 5, 10, 15, 30, 100]
    cases = {
        "constant": (optim.constant(0.3), lambda n: 0.3),
        "exponential": (optim.exponential_decay(1.0, 10, 0.5), lambda n: 0.5 ** (n / 10)),
        "staircase": (optim.exponential_decay(1.0, 10, 0.5, staircase=True),
                      lambda n: 0.5 ** (n // 10)),
        "begin+end": (optim.exponential_decay(1.0, 10, 0.5, transition_begin=5, end_value=0.2),
                      lambda n: max(0.5 ** (max(n - 5, 0) / 10), 0.2)),
        "cosine": (optim.cosine_decay(2.0, 10, alpha=0.1),
                   lambda n: 2.0 * (0.9 * 0.5 * (1 + math.cos(math.pi * min(n, 10) / 10)) + 0.1)),
        "warmup_cosine": (optim.warmup_cosine_decay(0.0, 1.0, 10, 30, end_value=0.1),
                          lambda n: n / 10 if n < 10 else 0.1 + 0.9 * 0.5 * (
                              1 + math.cos(math.pi * min(n - 10, 20) / 20))),
        "piecewise": (optim.piecewise_constant(1.0, {5: 0.5, 15: 0.1}),
                      lambda n: 1.0 * (0.5 if n >= 5 else 1) * (0.1 if n >= 15 else 1)),
    }
    for name, (schedule, formula) in cases.items():
        for n in counts:
            assert float(schedule(np.asarray(n))) == pytest.approx(formula(n), rel=1e-12), \
                (name, n)
        jitted = fg.jit(schedule)      # schedules trace: no Python branch on the count
        assert float(jitted(np.asarray(7, np.int32))) == pytest.approx(formula(7), rel=1e-12)


@pytest.mark.parametrize("make", [optim.sgd, optim.momentum, optim.adam, optim.adamw])
def test_every_optimiser_takes_a_schedule_as_lr(make):
    schedule = optim.piecewise_constant(0.1, {1: 0.5, 2: 0.0})
    opt, fixed = make(schedule), [make(0.1), make(0.05)]
    got, _ = run(opt)
    for step, scale in ((0, 1.0), (1, 0.5)):
        # with the same history, the scheduled step is the fixed-lr step scaled
        want, _ = run(fixed[0], steps=step + 1)
        ratio = tree.map(lambda a, b: a / np.where(b == 0, 1, b), got[step], want[step])
        for r, w in zip(tree.leaves(ratio), tree.leaves(want[step])):
            np.testing.assert_allclose(np.where(w == 0, scale, r), scale, rtol=1e-12)
    assert all(np.all(u == 0) for u in tree.leaves(got[2]))      # the schedule reached 0


def test_adamw_mask_leaves_masked_parameters_undecayed():
    mask = {"w": True, "m": False, "b": True}
    got, _ = run(optim.adamw(0.01, weight_decay=0.5, mask=mask), steps=1)
    plain, _ = run(optim.adam(0.01), steps=1)
    np.testing.assert_allclose(got[0]["m"], plain[0]["m"], rtol=1e-12)
    np.testing.assert_allclose(got[0]["w"], plain[0]["w"] - 0.01 * 0.5 * PARAMS["w"], rtol=1e-12)
    with pytest.raises(ValueError, match="mask must have the structure"):
        run(optim.adamw(0.01, mask={"w": True}), steps=1)


def test_a_schedule_where_a_number_is_needed_is_a_clear_error():
    schedule = optim.cosine_decay(0.1, 10)
    with pytest.raises(TypeError, match="max_norm must be a number.*schedules are accepted as"):
        optim.clip_by_global_norm(schedule)
    with pytest.raises(TypeError, match="beta must be a number"):
        optim.momentum(0.1, beta=schedule)
    with pytest.raises(TypeError, match="lr must be a number"):
        optim.sgd("0.1")
