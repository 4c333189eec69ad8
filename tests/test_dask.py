"""funcgrad.dask on a LocalCluster of 2 worker processes: the distributed value and gradient
equal the single-process ones (float64, 1e-10) for several losses, chunkings and parameter
pytrees; a worker killed mid-step changes nothing; a chunk whose loss raises gives the
user's error with the chunk's index; the training helper (optimiser, mini-batches, L-BFGS).
"""
from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import dask.array as da  # noqa: E402

import funcgrad as fg  # noqa: E402
import funcgrad.dask as fgd  # noqa: E402
import funcgrad.numpy as fnp  # noqa: E402
import funcgrad.optim as optim  # noqa: E402

RTOL = 1e-10


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", silence_logs=50) as cluster:
        with distributed.Client(cluster) as c:
            yield c


def _close(a, b):
    for x, y in zip(fg.tree.leaves(a), fg.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=RTOL, atol=RTOL)


# --- losses (module level: shipped to the workers by value) -----------------------------------

def logistic(params, x, y):
    z = x @ params["w"] + params["b"]
    return fnp.mean(fnp.logaddexp(0.0, z) - y * z)


def least_squares_sum(w, x, y):
    return fnp.sum((x @ w - y) ** 2)


def mlp(params, x, y, scale):
    (w1, b1), (w2, b2) = params
    h = fnp.tanh(x @ w1 + b1)
    out = (h @ w2 + b2)[:, 0]
    return scale * fnp.mean((out - y) ** 2)


def _data(n=103, d=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = (rng.uniform(size=n) < 0.5).astype(np.float64)
    return x, y


@pytest.mark.parametrize("chunks", [(103,), (50, 53), (10,) * 10 + (3,), (1, 60, 2, 40)])
def test_logistic_mean_equals_single_process(client, chunks):
    x, y = _data()
    params = {"w": np.linspace(-1, 1, 4), "b": np.array(0.3)}
    want_v, want_g = fg.value_and_grad(logistic)(params, x, y)
    dx = da.from_array(x, chunks=(chunks, 4))
    dy = da.from_array(y, chunks=(chunks,))
    v, g = fgd.value_and_grad(logistic, client=client)(params, dx, dy)
    _close(v, want_v)
    _close(g, want_g)
    assert isinstance(g, dict) and g["w"].shape == (4,)


def test_sum_reduction_and_rechunked_second_array(client):
    x, y = _data(n=57, d=3)
    w = np.array([0.5, -0.2, 1.0])
    want = fg.value_and_grad(least_squares_sum)(w, x, y)
    dx = da.from_array(x, chunks=(20, 2))          # split along features too: made whole
    dy = da.from_array(y, chunks=(7,))             # other chunks: rechunked to x's
    got = fgd.value_and_grad(least_squares_sum, reduce="sum", client=client)(w, dx, dy)
    _close(got, want)


def test_nested_pytree_with_whole_argument(client):
    x, y = _data(n=64, d=3, seed=1)
    rng = np.random.default_rng(2)
    params = [(rng.normal(size=(3, 5)), np.zeros(5)), (rng.normal(size=(5, 1)), np.ones(1))]
    want = fg.value_and_grad(mlp)(params, x, y, 2.5)
    data = fgd.shard(x, y, chunk_rows=9, client=client)
    vg = fgd.value_and_grad(mlp, client=client)
    got = vg(params, data, 2.5)
    _close(got, want)
    assert isinstance(got[1], list) and isinstance(got[1][0], tuple)
    # a mini-batch: the mean over the chosen chunks' rows
    rows = np.r_[0:9, 27:36, 63:64]
    want_b = fg.value_and_grad(mlp)(params, x[rows], y[rows], 2.5)
    _close(vg(params, data, 2.5, chunks=[0, 3, 7]), want_b)


def test_float32_params_keep_their_dtype(client):
    x, y = _data(n=40, d=4)
    params = {"w": np.ones(4, np.float32), "b": np.float32(0.0)}
    v, g = fgd.value_and_grad(logistic, client=client)(
        params, da.from_array(x.astype(np.float32), chunks=(15, 4)),
        da.from_array(y.astype(np.float32), chunks=15))
    want_v, want_g = fg.value_and_grad(logistic)(params, x.astype(np.float32),
                                                 y.astype(np.float32))
    assert g["w"].dtype == np.float32
    np.testing.assert_allclose(g["w"], want_g["w"], rtol=1e-5)
    np.testing.assert_allclose(v, want_v, rtol=1e-5)


def test_distribute_is_differentiable_eagerly(client):
    x, y = _data(n=30, d=2)
    f = fgd.distribute(logistic, da.from_array(x, chunks=(8, 2)), da.from_array(y, chunks=8),
                       client=client)
    params = {"w": np.array([0.1, -0.4]), "b": np.array(0.0)}

    def total(p):
        return f(p) + 0.1 * fnp.sum(p["w"] ** 2)

    def local(p):
        return logistic(p, x, y) + 0.1 * fnp.sum(p["w"] ** 2)

    _close(fg.value_and_grad(total)(params), fg.value_and_grad(local)(params))


# --- fault tolerance ---------------------------------------------------------------------------

def slow_loss(w, x, y):
    fg.debug.callback(lambda _: time.sleep(0.25), w)
    return fnp.mean((x @ w - y) ** 2)


def test_worker_killed_mid_step_changes_nothing(client):
    x, y = _data(n=200, d=3, seed=3)
    w = np.array([0.2, 0.1, -0.3])
    data = fgd.shard(x, y, chunk_rows=10, client=client)        # 20 chunks of 0.25 s
    vg = fgd.value_and_grad(slow_loss, client=client)
    want = vg(w, data)                                           # also warms the workers
    _close(want, fg.value_and_grad(slow_loss)(w, x, y))
    pids = client.run(os.getpid)
    out = {}
    step = threading.Thread(target=lambda: out.setdefault("r", vg(w, data)))
    step.start()
    deadline = time.time() + 10
    victim = None
    while victim is None and time.time() < deadline:
        busy = [a for a, tasks in client.processing().items() if tasks]
        victim = busy[0] if busy else None
        time.sleep(0.05)
    assert victim is not None
    time.sleep(0.3)                                              # in the middle of the step
    os.kill(pids[victim], signal.SIGKILL)
    step.join(timeout=60)
    assert not step.is_alive()
    got = out["r"]
    # the same result; not always to the last bit: a chunk recomputed or moved lands at
    # another address, and BLAS's vectorised sums depend on the buffer's alignment
    np.testing.assert_allclose(got[0], want[0], rtol=1e-13)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-13, atol=1e-16)
    client.wait_for_workers(2, timeout=30)                       # the nanny restarted it
    assert victim not in client.run(os.getpid) or client.run(os.getpid)[victim] != pids[victim]


def picky_loss(w, x, y):
    if x.shape[0] == 7:                       # trace time: the short last chunk
        raise ValueError("this loss refuses 7-row chunks")
    return fnp.mean((x @ w - y) ** 2)


def test_chunk_error_names_the_chunk(client):
    x, y = _data(n=27, d=2)
    vg = fgd.value_and_grad(picky_loss, client=client)
    t0 = time.time()
    with pytest.raises(ValueError, match="refuses 7-row chunks") as info:
        vg(np.zeros(2), da.from_array(x, chunks=(10, 2)), da.from_array(y, chunks=10))
    assert time.time() - t0 < 20
    assert info.value.chunk_index == 2
    assert any("chunk 2 (rows 20:27)" in n for n in getattr(info.value, "__notes__", []))
    # the cluster is fine afterwards
    good = vg(np.zeros(2), da.from_array(x, chunks=(9, 2)), da.from_array(y, chunks=9))
    _close(good, fg.value_and_grad(picky_loss)(np.zeros(2), x, y))


def nan_check_loss(w, x, y):
    def check(xs):
        if np.isnan(xs).any():
            raise FloatingPointError("NaN in the data")
    fg.debug.callback(check, x)
    return fnp.mean((x @ w - y) ** 2)


def test_runtime_error_in_a_chunk(client):
    x, y = _data(n=30, d=2)
    x[17, 1] = np.nan
    vg = fgd.value_and_grad(nan_check_loss, client=client)
    with pytest.raises(FloatingPointError, match="NaN in the data") as info:
        vg(np.zeros(2), da.from_array(x, chunks=(6, 2)), da.from_array(y, chunks=6))
    assert info.value.chunk_index == 2


# --- training ----------------------------------------------------------------------------------

def test_fit_full_batch_optimizer_matches_single_process(client):
    x, y = _data(n=80, d=3, seed=4)
    p0 = {"w": np.zeros(3), "b": np.array(0.0)}
    res = fgd.fit(logistic, p0, da.from_array(x, chunks=(25, 3)), da.from_array(y, chunks=25),
                  optimizer=optim.sgd(0.5), steps=5, client=client, progress=False)
    p, opt = p0, optim.sgd(0.5)
    state = opt.init(p)
    for _ in range(5):
        _, g = fg.value_and_grad(logistic)(p, x, y)
        upd, state = opt.update(g, state, p)
        p = optim.apply_updates(p, upd)
    _close(res.params, p)
    assert res.steps == 5 and len(res.losses) == 5 and res.losses[-1] < res.losses[0]


def test_fit_minibatch_adam_and_lbfgs(client):
    pytest.importorskip("scipy")
    x, y = _data(n=120, d=3, seed=5)
    y = (x @ np.array([1.0, -2.0, 0.5]) > 0).astype(float) * 0.8 + 0.1   # soft labels
    dx, dy = da.from_array(x, chunks=(30, 3)), da.from_array(y, chunks=30)
    p0 = {"w": np.zeros(3), "b": np.array(0.0)}
    mb = fgd.fit(logistic, p0, dx, dy, optimizer=optim.adam(0.1), batch_chunks=2, epochs=3,
                 client=client, progress=False)
    assert mb.steps == 6 and mb.losses[-1] < mb.losses[0]

    def penalty(p):
        return 1e-3 * fnp.sum(p["w"] ** 2)

    res = fgd.fit(logistic, p0, dx, dy, method="L-BFGS-B", penalty=penalty, client=client,
                  progress=False)
    from funcgrad.scipy.optimize import minimize
    want = minimize(lambda p: logistic(p, x, y) + penalty(p), p0, method="L-BFGS-B")
    assert res.result.success
    np.testing.assert_allclose(res.params["w"], want.x["w"], rtol=1e-5, atol=1e-6)
    assert abs(res.losses[-1] - want.fun) < 1e-9


def test_example_small():
    import importlib.util
    from pathlib import Path
    pytest.importorskip("scipy")
    path = Path(__file__).resolve().parents[1] / "examples" / "distributed_logistic_regression.py"
    spec = importlib.util.spec_from_file_location("distributed_logistic_regression", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    out = example.main(["--small", "--no-dask-ml", "--quiet", "--workers", "2"])
    assert out["relative_difference"] < 1e-10
    assert out["accuracy"] > 0.8 and abs(out["accuracy"] - out["single_accuracy"]) < 0.01
    assert out["w_error"] < 0.05


def test_default_client_and_argument_errors(client):
    assert fgd.get_client() is client            # the fixture's client is the default one
    x, y = _data(n=20, d=2)
    dx, dy = da.from_array(x, chunks=(10, 2)), da.from_array(y, chunks=10)
    _close(fgd.value_and_grad(logistic)({"w": np.zeros(2), "b": np.array(0.0)}, dx, dy),
           fg.value_and_grad(logistic)({"w": np.zeros(2), "b": np.array(0.0)}, x, y))
    with pytest.raises(TypeError, match="no data argument is a dask array"):
        fgd.value_and_grad(logistic)({"w": np.zeros(2), "b": 0.0}, x, y)
    with pytest.raises(ValueError, match="reduce must be one of"):
        fgd.value_and_grad(logistic, reduce="max")
    with pytest.raises(ValueError, match="different lengths"):
        fgd.shard(dx, dy[:5])
    with pytest.raises(ValueError, match="either optimizer"):
        fgd.fit(logistic, {"w": np.zeros(2), "b": 0.0}, dx, dy)
