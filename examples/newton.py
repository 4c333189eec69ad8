"""Newton's method under jit: L2-regularised logistic regression on scikit-learn's
breast-cancer data, each step theta <- theta - H^-1 g with the Hessian from `fg.hessian` and
the step from `fnp.linalg.solve`, the whole step one compiled function. Newton converges in a
handful of steps; the result is compared with scikit-learn's LogisticRegression (same
objective, C = 1):

    python examples/newton.py [--steps N] [--quiet]
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import nn

C = 1.0


def objective(theta, x, y):
    """scikit-learn's objective: C * sum of log-losses + |w|^2 / 2 (the bias unpenalised)."""
    w, b = theta[:-1], theta[-1]
    logits = x @ w + b
    return C * fnp.sum(nn.softplus(logits) - y * logits) + 0.5 * fnp.dot(w, w)


@fg.jit
def newton_step(theta, x, y):
    """One Newton step and the gradient norm before it."""
    g = fg.grad(objective)(theta, x, y)
    h = fg.hessian(objective)(theta, x, y)
    return theta - fnp.linalg.solve(h, g), fnp.linalg.norm(g)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    say = (lambda *a: None) if args.quiet else print

    x, y = load_breast_cancer(return_X_y=True)
    x = StandardScaler().fit_transform(x)
    y = y.astype(np.float64)
    theta = np.zeros(x.shape[1] + 1)
    for step in range(args.steps):
        theta, grad_norm = newton_step(theta, x, y)
        say(f"step {step:2d}  |gradient| = {float(grad_norm):.3e}  "
            f"objective = {float(objective(theta, x, y)):.10f}")
        if grad_norm < 1e-10:
            break
    ref = LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(x, y)
    ref_theta = np.concatenate([ref.coef_[0], ref.intercept_])
    diff = float(np.max(np.abs(theta - ref_theta)))
    say(f"objective: funcgrad {float(objective(theta, x, y)):.10f}, scikit-learn "
        f"{float(objective(ref_theta, x, y)):.10f}; largest coefficient difference {diff:.2e}")
    return dict(theta=theta, ref_theta=ref_theta, steps=step + 1)


if __name__ == "__main__":
    main()
    sys.exit(0)
