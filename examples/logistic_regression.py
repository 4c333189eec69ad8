"""Logistic regression on scikit-learn's breast-cancer data, trained with funcgrad.

The model, the loss and the training step are pure functions; `fg.value_and_grad` gives the
gradient and `fg.jit` compiles the whole step. It is trained twice, full-batch and with
mini-batches, and compared with scikit-learn's LogisticRegression on the same split and the
same objective (mean log-loss + L2 penalty with C = 1):

    python examples/logistic_regression.py [--steps N] [--plot PATH] [--quiet]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import nn, optim

SEED = 0
C = 1.0   # scikit-learn's inverse regularisation strength (its default)


def load_data(seed: int = SEED):
    """The 569 tumours, 30 features each: an 80/20 stratified split, standardised on train."""
    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=seed,
                                                        stratify=y)
    scaler = StandardScaler().fit(x_train)
    return (scaler.transform(x_train), y_train.astype(np.float64),
            scaler.transform(x_test), y_test.astype(np.float64))


def init_params(n_features: int) -> dict:
    return {"w": np.zeros(n_features), "b": np.array(0.0)}


def logits(params: dict, x):
    return x @ params["w"] + params["b"]


def loss_fn(params: dict, x, y, l2: float):
    """Mean log-loss plus (l2 / 2) |w|^2: scikit-learn's objective divided by C * n."""
    data = nn.binary_cross_entropy_with_logits(logits(params, x), y)
    return data + 0.5 * l2 * fnp.sum(params["w"] ** 2)


def make_update(opt: optim.Optimizer, l2: float):
    """The training step: pure, so fg.jit traces it once per batch shape and reuses it."""
    @fg.jit
    def update(params, opt_state, batch):
        x, y = batch
        loss, grads = fg.value_and_grad(loss_fn)(params, x, y, l2)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optim.apply_updates(params, updates), opt_state, loss
    return update


def progress_bar(label: str, total: int, quiet: bool):
    """A tqdm progress bar on stderr (the `examples` extra), showing the running loss."""
    from tqdm import tqdm
    return tqdm(total=total, desc=label, disable=quiet, leave=True, mininterval=0.2,
                unit="step")


def train_full_batch(x, y, steps: int, l2: float, quiet: bool):
    opt = optim.adam(lr=0.2)
    update = make_update(opt, l2)
    params = init_params(x.shape[1])
    opt_state = opt.init(params)
    losses = []
    with progress_bar("full-batch", steps, quiet) as bar:
        for _ in range(steps):
            params, opt_state, loss = update(params, opt_state, (x, y))
            losses.append(float(loss))
            bar.set_postfix(loss=f"{losses[-1]:.5f}", refresh=False)
            bar.update()
    return params, losses


def train_mini_batch(x, y, steps: int, l2: float, quiet: bool, batch_size: int = 64):
    """Shuffled mini-batches, reshuffled every epoch; the ragged last batch is dropped so that
    every call of the jitted step has the same shapes (one compilation)."""
    opt = optim.adam(lr=0.02)
    update = make_update(opt, l2)
    params = init_params(x.shape[1])
    opt_state = opt.init(params)
    rng = np.random.default_rng(SEED)
    per_epoch = len(y) // batch_size
    losses = []
    with progress_bar("mini-batch", steps, quiet) as bar:
        for step in range(steps):
            i = step % per_epoch
            if i == 0:
                order = rng.permutation(len(y))
            idx = order[i * batch_size:(i + 1) * batch_size]
            params, opt_state, loss = update(params, opt_state, (x[idx], y[idx]))
            losses.append(float(loss))
            # mini-batch losses are noisy: show the mean of the last 20
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.5f}", refresh=False)
            bar.update()
    return params, losses


def evaluate(params: dict, x, y) -> tuple[float, float]:
    """(accuracy, mean log-loss) on held-out data."""
    z = logits(params, x)
    return float(np.mean((z > 0) == (y == 1))), float(nn.binary_cross_entropy_with_logits(z, y))


def plot(path: str, curves: dict, reference: float, quiet: bool) -> bool:
    """Write the loss curves to `path` if matplotlib is installed; returns whether it did."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        if not quiet:
            print("matplotlib is not installed: no plot written")
        return False
    fig, ax = plt.subplots(figsize=(7, 4))
    full, mini = curves["full-batch"], np.asarray(curves["mini-batch"])
    steps = np.arange(1, len(mini) + 1)
    ax.plot(steps, mini, color="tab:orange", lw=0.6, alpha=0.3, label="mini-batch (each batch)")
    window = min(len(mini), 7)   # about one epoch of 64-example batches
    smooth = np.convolve(mini, np.ones(window) / window, mode="valid")
    ax.plot(steps[window - 1:], smooth, color="tab:orange", lw=1.5,
            label=f"mini-batch (mean of {window})")
    ax.plot(np.arange(1, len(full) + 1), full, color="tab:blue", lw=1.5, label="full-batch")
    ax.axhline(reference, color="k", ls="--", lw=1, label="scikit-learn optimum")
    ax.set(xlabel="step", ylabel="training loss (mean log-loss + L2)", yscale="log",
           title="Logistic regression on breast cancer with funcgrad")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="optimiser steps per run")
    parser.add_argument("--plot", default="logistic_loss.png",
                        help="where to write the loss-curve PNG ('' for none)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or table")
    args = parser.parse_args(argv)

    x_train, y_train, x_test, y_test = load_data()
    l2 = 1.0 / (C * len(y_train))
    start = time.perf_counter()
    full, full_losses = train_full_batch(x_train, y_train, args.steps, l2, args.quiet)
    mini, mini_losses = train_mini_batch(x_train, y_train, args.steps, l2, args.quiet)
    seconds = time.perf_counter() - start

    # A tight tolerance, so the coefficients can be compared too (the default stops ~1e-2 away).
    sk = LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(x_train, y_train)
    sk_params = {"w": sk.coef_[0], "b": np.array(sk.intercept_[0])}
    results = {
        "funcgrad full-batch": evaluate(full, x_test, y_test),
        "funcgrad mini-batch": evaluate(mini, x_test, y_test),
        "scikit-learn": (sk.score(x_test, y_test),
                         log_loss(y_test, sk.predict_proba(x_test)[:, 1])),
    }
    objective = {"funcgrad full-batch": float(loss_fn(full, x_train, y_train, l2)),
                 "funcgrad mini-batch": float(loss_fn(mini, x_train, y_train, l2)),
                 "scikit-learn": float(loss_fn(sk_params, x_train, y_train, l2))}
    coef_gap = float(np.max(np.abs(full["w"] - sk_params["w"])))
    wrote = bool(args.plot) and plot(args.plot, {"full-batch": full_losses,
                                                 "mini-batch": mini_losses},
                                     objective["scikit-learn"], args.quiet)
    if not args.quiet:
        print(f"\n{len(y_train)} training and {len(y_test)} test examples, "
              f"{x_train.shape[1]} features; {args.steps} steps per run in {seconds:.1f} s\n")
        print(f"{'model':<22}{'test accuracy':>15}{'test log-loss':>15}{'train objective':>17}")
        for name, (acc, ll) in results.items():
            print(f"{name:<22}{acc:>14.2%} {ll:>14.4f} {objective[name]:>16.6f}")
        print(f"\nlargest |w_funcgrad - w_sklearn| (full batch): {coef_gap:.2e}")
        if wrote:
            print(f"loss curves written to {args.plot}")
    return {"results": results, "objective": objective, "coef_gap": coef_gap,
            "losses": {"full": full_losses, "mini": mini_losses}, "plot": wrote,
            "seconds": seconds}


if __name__ == "__main__":
    main()
