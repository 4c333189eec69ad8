"""Gaussian-process regression on scikit-learn's diabetes data: hyperparameters fitted by
maximising the log marginal likelihood, whose gradient funcgrad computes through a Cholesky
factorisation, and compared with scikit-learn's GaussianProcessRegressor on the same kernel.

The kernel is sigma^2 exp(-|x - x'|^2 / (2 l^2)) + noise * I (scikit-learn's
ConstantKernel * RBF + WhiteKernel). The three log-hyperparameters are fitted by SciPy's
L-BFGS-B with `jac=True`: funcgrad gives the value and the gradient of the negative log
marginal likelihood in one jitted call. scikit-learn runs the same optimiser from the same
starting point, so both should reach the same optimum:

    python examples/gaussian_process.py [--train N] [--plot PATH] [--quiet]
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from scipy.optimize import minimize
from sklearn.datasets import load_diabetes
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, WhiteKernel
from sklearn.gaussian_process.kernels import ConstantKernel as Constant

import funcgrad as fg
import funcgrad.numpy as fnp
import funcgrad.scipy.linalg as fsl

JITTER = 1e-10     # scikit-learn's default `alpha`, added to the diagonal
BOUNDS = [(np.log(1e-5), np.log(1e5))] * 3    # scikit-learn's default hyperparameter bounds


def load_data(n_train: int = 200, seed: int = 0):
    """Diabetes progression from 10 (already scaled) features; the target standardised on the
    training set; a random split of `n_train` training points, the rest for testing."""
    x, y = load_diabetes(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    x, y = x[order] * 10.0, y[order]          # features of order 1, like the length scale
    mean, std = y[:n_train].mean(), y[:n_train].std()
    y = (y - mean) / std
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def kernel(log_params, a, b):
    """sigma^2 exp(-|a - b|^2 / (2 l^2)) for rows of a and b (log_params = log l, log
    sigma^2, log noise)."""
    log_l, log_s2 = log_params[0], log_params[1]
    sq = (fnp.sum(a * a, axis=1)[:, None] + fnp.sum(b * b, axis=1)[None, :]
          - 2.0 * a @ b.T)
    return fnp.exp(log_s2) * fnp.exp(-0.5 * fnp.maximum(sq, 0.0) / fnp.exp(2.0 * log_l))


def neg_log_marginal_likelihood(log_params, x, y):
    """-log p(y | x, params) = y^T K^-1 y / 2 + log|K| / 2 + n log(2 pi) / 2, through the
    Cholesky factor L of K (log|K| = 2 sum log diag L)."""
    n = y.shape[0]
    k = kernel(log_params, x, x) + (fnp.exp(log_params[2]) + JITTER) * fnp.eye(n)
    chol = fnp.linalg.cholesky(k)
    alpha = fsl.cho_solve((chol, True), y)
    return (0.5 * fnp.dot(y, alpha) + fnp.sum(fnp.log(fnp.diagonal(chol)))
            + 0.5 * n * np.log(2.0 * np.pi))


def predict(log_params, x, y, x_new):
    """The posterior mean at x_new: K(x_new, x) K^-1 y."""
    k = kernel(log_params, x, x) + (fnp.exp(log_params[2]) + JITTER) * fnp.eye(y.shape[0])
    chol = fnp.linalg.cholesky(k)
    return kernel(log_params, x_new, x) @ fsl.cho_solve((chol, True), y)


def fit_funcgrad(x, y, start):
    """L-BFGS-B on the negative log marginal likelihood; funcgrad's jitted value_and_grad."""
    objective = fg.jit(fg.value_and_grad(neg_log_marginal_likelihood))

    def fun(p):
        value, grad = objective(p, x, y)
        return float(value), np.asarray(grad)
    result = minimize(fun, start, jac=True, method="L-BFGS-B", bounds=BOUNDS)
    return result.x, -result.fun, result.nit


def fit_sklearn(x, y, start):
    """The same model with scikit-learn (its default L-BFGS-B, no restarts)."""
    ell, s2, noise = np.exp(start)
    k = Constant(s2, (1e-5, 1e5)) * RBF(ell, (1e-5, 1e5)) + WhiteKernel(noise, (1e-5, 1e5))
    gpr = GaussianProcessRegressor(kernel=k, alpha=JITTER, n_restarts_optimizer=0,
                                   normalize_y=False, random_state=0).fit(x, y)
    fitted = gpr.kernel_
    params = np.log([fitted.k1.k2.length_scale, fitted.k1.k1.constant_value,
                     fitted.k2.noise_level])
    return params, gpr.log_marginal_likelihood_value_, gpr


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=200)
    parser.add_argument("--plot", default=None, help="save predicted vs true to this PNG")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    say = (lambda *a: None) if args.quiet else print

    x, y, x_test, y_test = load_data(args.train)
    start = np.log([1.0, 1.0, 1.0])
    t0 = time.perf_counter()
    params, lml, iters = fit_funcgrad(x, y, start)
    t_fg = time.perf_counter() - t0
    t0 = time.perf_counter()
    sk_params, sk_lml, gpr = fit_sklearn(x, y, start)
    t_sk = time.perf_counter() - t0

    pred = np.asarray(predict(params, x, y, x_test))
    sk_pred = gpr.predict(x_test)
    rmse = float(np.sqrt(np.mean((pred - y_test) ** 2)))
    sk_rmse = float(np.sqrt(np.mean((sk_pred - y_test) ** 2)))
    names = ("length scale", "signal variance", "noise variance")
    say(f"Gaussian process on diabetes: {len(y)} training points, {len(y_test)} test points")
    say(f"{'':18}{'funcgrad':>12}{'scikit-learn':>14}")
    for name, a, b in zip(names, np.exp(params), np.exp(sk_params)):
        say(f"{name:18}{a:12.6f}{b:14.6f}")
    say(f"{'log marginal lik.':18}{lml:12.6f}{sk_lml:14.6f}")
    say(f"{'test RMSE':18}{rmse:12.6f}{sk_rmse:14.6f}")
    say(f"{'fit time (s)':18}{t_fg:12.3f}{t_sk:14.3f}   ({iters} L-BFGS-B iterations)")
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        ax.scatter(y_test, pred, s=12, label="funcgrad")
        ax.scatter(y_test, sk_pred, s=12, marker="x", label="scikit-learn")
        lim = [min(y_test.min(), pred.min()), max(y_test.max(), pred.max())]
        ax.plot(lim, lim, "k--", lw=0.8)
        ax.set(xlabel="true (standardised)", ylabel="posterior mean",
               title="GP on diabetes: test set")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        say(f"plot written to {args.plot}")
    return dict(params=params, sk_params=sk_params, lml=lml, sk_lml=sk_lml, pred=pred,
                sk_pred=sk_pred, rmse=rmse, sk_rmse=sk_rmse)


if __name__ == "__main__":
    main()
    sys.exit(0)
