"""A two-layer perceptron on scikit-learn's 8x8 handwritten digits, trained with funcgrad.

Parameters are a list of (w, b) pairs, the model and the loss are plain functions, adam keeps
its moments in a state pytree, and the whole training step is one `fg.jit`-compiled function.
Afterwards `fg.vmap(fg.grad(loss))` gives one gradient per example in a single call:

    python examples/mlp_digits.py [--epochs N] [--quiet]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import funcgrad as fg
from funcgrad import nn, optim

SEED = 0
SIZES = (64, 128, 10)   # 8x8 pixels -> hidden -> 10 classes


def load_data(seed: int = SEED):
    """1797 digits as float32 pixels in [0, 1]; a stratified 80/20 split."""
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    return train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)


def init_params(rng: np.random.Generator, sizes=SIZES) -> list:
    """He-normal weights and zero biases, float32."""
    return [(rng.normal(0.0, np.sqrt(2.0 / m), (m, n)).astype(np.float32),
             np.zeros(n, np.float32)) for m, n in zip(sizes[:-1], sizes[1:])]


def predict(params: list, x):
    """Logits: relu hidden layers, a linear last layer."""
    *hidden, (w, b) = params
    for wh, bh in hidden:
        x = nn.relu(x @ wh + bh)
    return x @ w + b


def loss(params: list, x, labels):
    """Mean softmax cross-entropy against integer labels."""
    return nn.softmax_cross_entropy(predict(params, x), labels)


def accuracy(params: list, x, labels) -> float:
    return float(np.mean(np.argmax(predict(params, x), axis=-1) == labels))


def make_update(opt: optim.Optimizer):
    @fg.jit
    def update(params, opt_state, batch):
        x, labels = batch
        value, grads = fg.value_and_grad(loss)(params, x, labels)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optim.apply_updates(params, updates), opt_state, value
    return update


def per_example_grad_norms(params: list, x, labels):
    """One gradient per example, batched by vmap (params shared: in_axes None), then norms."""
    grads = fg.vmap(fg.grad(loss), in_axes=(None, 0, 0))(params, x, labels)
    return np.sqrt(sum(np.sum(g.reshape(len(x), -1) ** 2, axis=1)
                       for g in fg.tree.leaves(grads)))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    args = parser.parse_args(argv)

    x_train, x_test, y_train, y_test = load_data()
    rng = np.random.default_rng(SEED)
    params = init_params(rng)
    opt = optim.adam(lr=args.lr)
    opt_state = opt.init(params)
    update = make_update(opt)

    start = time.perf_counter()
    per_epoch = len(y_train) // args.batch_size   # full batches only: one compiled shape
    history = []
    from tqdm import trange  # the `examples` extra
    for _ in (epochs := trange(args.epochs, desc="epochs", disable=args.quiet, unit="epoch")):
        order = rng.permutation(len(y_train))
        total = 0.0
        for i in range(per_epoch):
            idx = order[i * args.batch_size:(i + 1) * args.batch_size]
            params, opt_state, value = update(params, opt_state, (x_train[idx], y_train[idx]))
            total += float(value)
        history.append(total / per_epoch)
        epochs.set_postfix(loss=f"{history[-1]:.4f}", refresh=False)
    seconds = time.perf_counter() - start

    train_acc, test_acc = accuracy(params, x_train, y_train), accuracy(params, x_test, y_test)
    norms = per_example_grad_norms(params, x_test[:8], y_test[:8])
    if not args.quiet:
        n_params = sum(a.size for a in fg.tree.leaves(params))
        print(f"\nMLP {' -> '.join(map(str, SIZES))} ({n_params} parameters), adam "
              f"lr={args.lr}, batch {args.batch_size}: {args.epochs} epochs in {seconds:.1f} s")
        print(f"train accuracy {train_acc:.2%}, test accuracy {test_acc:.2%} "
              f"({len(y_test)} test digits)")
        print("per-example gradient norms of 8 test digits (fg.vmap of fg.grad):")
        print("  " + "  ".join(f"{d}:{n:.3g}" for d, n in zip(y_test[:8], norms)))
    return {"train_accuracy": train_acc, "test_accuracy": test_acc, "losses": history,
            "grad_norms": norms, "params": params, "seconds": seconds}


if __name__ == "__main__":
    main()
