"""The autograd tutorial's example, the funcgrad way: will a student with this CGPA be placed?

The tutorial builds z = w * x + b, y_pred = sigmoid(z), L = binary_cross_entropy(y_pred, y),
then derives dL/dw = (y_pred - y) * x and dL/db = (y_pred - y) by the chain rule, and finally
lets PyTorch do it:

    w = torch.tensor(1.0, requires_grad=True)       # mark what to differentiate
    b = torch.tensor(0.0, requires_grad=True)
    for epoch in range(steps):
        loss = F.binary_cross_entropy(torch.sigmoid(w * x + b), y)
        loss.backward()                              # fills w.grad and b.grad
        with torch.no_grad():
            w -= lr * w.grad; b -= lr * b.grad
        w.grad.zero_(); b.grad.zero_()               # or the next backward() adds to them

Here the loss is a plain function of (params, x, y); fg.grad(loss) is another function that
returns the gradients; the update is pure, so there is nothing to zero and nothing to detach:

    python examples/seed_logistic_regression.py [--steps N] [--quiet]
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

import funcgrad as fg
from funcgrad import nn, optim

# The tutorial's table: CGPA and whether the student was placed.
CGPA = np.array([9.11, 8.9, 7.0, 6.56, 4.56])
PLACED = np.array([1.0, 1.0, 0.0, 1.0, 0.0])


def loss(params: dict, x, y):
    """The tutorial's forward pass: linear, sigmoid, binary cross-entropy (mean over rows)."""
    z = params["w"] * x + params["b"]
    y_pred = nn.sigmoid(z)
    return nn.binary_cross_entropy(y_pred, y)


def manual_grads(params: dict, x, y) -> dict:
    """The tutorial's chain rule by hand: dL/dw = mean((y_pred - y) x), dL/db = mean(y_pred - y)."""
    y_pred = 1.0 / (1.0 + np.exp(-(params["w"] * x + params["b"])))
    return {"w": np.mean((y_pred - y) * x), "b": np.mean(y_pred - y)}


def make_update(opt: optim.Optimizer):
    @fg.jit
    def update(params, opt_state, batch):
        x, y = batch
        value, grads = fg.value_and_grad(loss)(params, x, y)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optim.apply_updates(params, updates), opt_state, value
    return update


def progress(step: int, total: int, value: float, quiet: bool, width: int = 30) -> None:
    """A one-line text progress bar on stderr, redrawn in place with a carriage return."""
    if quiet or (step % max(1, total // 50) and step != total):
        return
    done = width * step // total
    sys.stderr.write(f"\r[{'#' * done}{'.' * (width - done)}] {step:>5}/{total} "
                     f"loss {value:.5f}")
    if step == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="gradient-descent steps")
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    args = parser.parse_args(argv)

    params = {"w": np.array(1.0), "b": np.array(0.0)}   # the tutorial's starting point
    batch = (CGPA, PLACED)

    # What PyTorch keeps hidden in grad_fn: the gradient as a graph, printed once.
    graph = fg.make_graph(fg.grad(loss))(params, *batch)
    grads = fg.grad(loss)(params, *batch)
    by_hand = manual_grads(params, *batch)
    gap = max(abs(float(grads[k]) - float(by_hand[k])) for k in grads)
    if not args.quiet:
        print("The gradient of the loss, as funcgrad traced it:\n")
        print(graph)
        print(f"\nat w=1, b=0: dL/dw = {float(grads['w']):.6f}, dL/db = {float(grads['b']):.6f}"
              f"  (chain rule by hand: {float(by_hand['w']):.6f}, {float(by_hand['b']):.6f})\n")

    opt = optim.sgd(lr=0.1)
    update = make_update(opt)
    opt_state = opt.init(params)
    losses = []
    for step in range(1, args.steps + 1):
        params, opt_state, value = update(params, opt_state, batch)
        losses.append(float(value))
        progress(step, args.steps, losses[-1], args.quiet)

    prob = nn.sigmoid(params["w"] * CGPA + params["b"])
    accuracy = float(np.mean((prob > 0.5) == (PLACED == 1)))
    boundary = -float(params["b"]) / float(params["w"])
    if not args.quiet:
        print(f"\nafter {args.steps} steps: w = {float(params['w']):.4f}, "
              f"b = {float(params['b']):.4f}, loss {losses[0]:.4f} -> {losses[-1]:.4f}")
        print(f"placed when CGPA > {boundary:.2f}\n")
        print(" cgpa  placed  P(placed)")
        for c, p, q in zip(CGPA, PLACED, prob):
            print(f"{c:5.2f}  {int(p):>6}  {q:9.3f}")
        print(f"\ntraining accuracy {accuracy:.0%}")
    return {"params": params, "losses": losses, "accuracy": accuracy, "boundary": boundary,
            "graph": graph, "grad_vs_manual": gap}


if __name__ == "__main__":
    main()
