"""Logistic regression on data that never comes to the client: funcgrad.dask on a LocalCluster.

The data set (default 20 million examples x 50 features, float64: 8 GB) is generated lazily
with dask.array from a seed, chunk by chunk on the workers, and kept in their memory. The
loss is the ordinary funcgrad loss; `funcgrad.dask.fit` ships it to the workers, each
evaluates `jit(value_and_grad(loss))` on the chunks it holds, and only the 51 parameters and
51 gradient entries cross the network per L-BFGS-B step. The result is compared with

* single-process funcgrad (`funcgrad.scipy.optimize.minimize`, same loss) on a subsample
  that fits on the client (the first chunks, regenerated locally from the same seed), and
  the distributed gradient on that subsample checked against the single-process one;
* dask-ml's LogisticRegression (L-BFGS on dask arrays, its own solver), if installed;

by accuracy and mean log-loss on the whole data set, and wall time.

    pip install -e '.[dask,scipy]'
    python examples/distributed_logistic_regression.py            # 20M x 50, a few minutes
    python examples/distributed_logistic_regression.py --small    # 200k x 20, seconds
    python examples/distributed_logistic_regression.py --rows 5_000_000 --features 30 --workers 2
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import funcgrad as fg
import funcgrad.dask as fgd
import funcgrad.numpy as fnp
from funcgrad.scipy.optimize import minimize

L2 = 1e-4          # penalty (L2 / 2) |w|^2 on the mean log-loss, added on the client


def loss(params, x, y):
    """Mean log-loss (binary cross-entropy with logits) over the examples given."""
    z = x @ params["w"] + params["b"]
    return fnp.mean(fnp.logaddexp(0.0, z) - y * z)


def penalty(params):
    return 0.5 * L2 * fnp.sum(params["w"] ** 2)


def true_params(seed: int, d: int) -> tuple[np.ndarray, float]:
    rng = np.random.default_rng([seed, 2**31])
    return rng.normal(scale=2.0 / np.sqrt(d), size=d), 0.5


def make_chunk(seed: int, index: int, rows: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Chunk `index`: its own generator seeded by (seed, index), so any chunk can be made
    anywhere, in any order, and the same on a worker and on the client."""
    w, b = true_params(seed, d)
    rng = np.random.default_rng([seed, index])
    x = rng.standard_normal((rows, d))
    p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
    y = (rng.uniform(size=rows) < p).astype(np.float64)
    return x, y


def lazy_data(seed: int, n: int, d: int, chunk_rows: int):
    """(x, y) as dask arrays whose chunks are generated on the workers: nothing is made
    until the cluster computes it."""
    import dask
    import dask.array as da
    rows = fgd.chunk_rows_of(n, chunk_rows)
    xs, ys = [], []
    for i, r in enumerate(rows):
        part = dask.delayed(make_chunk, nout=2, pure=True)(seed, i, r, d)
        xs.append(da.from_delayed(part[0], shape=(r, d), dtype=np.float64))
        ys.append(da.from_delayed(part[1], shape=(r,), dtype=np.float64))
    return da.concatenate(xs), da.concatenate(ys)


def metrics(params, x, y):
    """Accuracy and mean log-loss on dask arrays, computed on the cluster (scalars back)."""
    import dask
    import dask.array as da
    z = x @ params["w"] + params["b"]
    acc = ((z > 0) == (y > 0.5)).mean()
    ll = (da.logaddexp(0.0, z) - y * z).mean()
    acc, ll = dask.compute(acc, ll)
    return float(acc), float(ll)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000_000)
    ap.add_argument("--features", type=int, default=50)
    ap.add_argument("--chunk-rows", type=int, default=250_000)
    ap.add_argument("--subsample", type=int, default=1_000_000,
                    help="rows of the single-process comparison (whole chunks)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--maxiter", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--small", action="store_true",
                    help="200k x 20 in chunks of 20k, subsample 40k: for tests")
    ap.add_argument("--no-dask-ml", action="store_true")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    if args.small:
        args.rows, args.features, args.chunk_rows, args.subsample = 200_000, 20, 20_000, 40_000

    from distributed import Client, LocalCluster, wait

    n, d = args.rows, args.features
    print(f"data: {n:,} x {d} float64 ({n * (d + 1) * 8 / 1e9:.2f} GB), chunks of "
          f"{args.chunk_rows:,} rows, generated on the workers from seed {args.seed}")
    t_start = time.perf_counter()
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        print(f"LocalCluster: {args.workers} worker processes; dashboard: "
              f"{client.dashboard_link}")
        x, y = lazy_data(args.seed, n, d, args.chunk_rows)
        p0 = {"w": np.zeros(d), "b": np.array(0.0)}

        t0 = time.perf_counter()
        data = fgd.shard(x, y, client=client)      # generated and kept on the workers
        wait([f for chunk in data.chunks() for f in chunk])
        t_gen = time.perf_counter() - t0
        print(f"generated and persisted on the workers in {t_gen:.1f} s")

        res = fgd.fit(loss, p0, data, method="L-BFGS-B", penalty=penalty, steps=args.maxiter,
                      client=client, progress=not args.quiet)
        p_dist = res.params
        acc_d, ll_d = metrics(p_dist, *data.arrays)
        print(f"funcgrad.dask  L-BFGS-B: {res.steps} iterations, {len(res.losses)} "
              f"evaluations, {res.wall_time:.1f} s ({res.wall_time / len(res.losses):.3f} s per "
              f"distributed value_and_grad); objective {res.losses[-1]:.6f}")

        # single process on a subsample: the first chunks, regenerated here from the seed
        k = max(1, min(len(data.rows), -(-args.subsample // args.chunk_rows)))
        parts = [make_chunk(args.seed, i, data.rows[i], d) for i in range(k)]
        xs = np.concatenate([p[0] for p in parts])
        ys = np.concatenate([p[1] for p in parts])
        vg = fgd.value_and_grad(loss, client=client)
        v_d, g_d = vg(p_dist, data, chunks=range(k))
        v_s, g_s = fg.value_and_grad(loss)(p_dist, xs, ys)
        err = max(abs(float(v_d) - float(v_s)) / abs(float(v_s)),
                  float(np.max(np.abs(g_d["w"] - g_s["w"])) / np.max(np.abs(g_s["w"]))))
        print(f"distributed vs single-process value_and_grad on the {len(ys):,}-row subsample: "
              f"max relative difference {err:.1e}")
        t0 = time.perf_counter()
        single = minimize(lambda p: loss(p, xs, ys) + penalty(p), p0, method="L-BFGS-B",
                          options={"maxiter": args.maxiter})
        t_single = time.perf_counter() - t0
        acc_s, ll_s = metrics(single.x, *data.arrays)

        rows = [("funcgrad.dask (all data)", n, acc_d, ll_d, res.wall_time),
                ("funcgrad, 1 process (subsample)", len(ys), acc_s, ll_s, t_single)]
        if not args.no_dask_ml:
            try:
                from dask_ml.linear_model import LogisticRegression
            except ImportError:
                print("dask-ml not installed: skipping its LogisticRegression")
            else:
                t0 = time.perf_counter()
                # its objective: sum log-loss + (1 / 2C) |w|^2; C = 1 / (n L2) is ours x n
                clf = LogisticRegression(penalty="l2", C=1.0 / (n * L2), solver="lbfgs",
                                         max_iter=args.maxiter, fit_intercept=True)
                clf.fit(*data.arrays)
                t_ml = time.perf_counter() - t0
                p_ml = {"w": np.asarray(clf.coef_).ravel(), "b": np.asarray(clf.intercept_)}
                acc_m, ll_m = metrics(p_ml, *data.arrays)
                rows.append(("dask-ml LogisticRegression", n, acc_m, ll_m, t_ml))

        w_true, b_true = true_params(args.seed, d)
        print(f"\n{'':34s}{'trained on':>12s}{'accuracy':>10s}{'log-loss':>10s}{'time':>9s}")
        for name, rows_used, acc, ll, t in rows:
            print(f"{name:34s}{rows_used:>12,}{acc:>10.4f}{ll:>10.5f}{t:>8.1f}s")
        print(f"|w - w_true| / |w_true|: funcgrad.dask "
              f"{np.linalg.norm(p_dist['w'] - w_true) / np.linalg.norm(w_true):.4f}, "
              f"single-process subsample "
              f"{np.linalg.norm(single.x['w'] - w_true) / np.linalg.norm(w_true):.4f}")
        print(f"total wall time {time.perf_counter() - t_start:.1f} s")
        return {"accuracy": acc_d, "log_loss": ll_d, "single_accuracy": acc_s,
                "relative_difference": err, "iterations": res.steps,
                "w_error": float(np.linalg.norm(p_dist["w"] - w_true)
                                 / np.linalg.norm(w_true)), "b": float(p_dist["b"]),
                "b_true": b_true}


if __name__ == "__main__":
    main()
