"""funcgrad.scipy.optimize.minimize: SciPy's minimize on a pytree of parameters reaches what SciPy
reaches on the same problem written on a flat vector with hand-written derivatives."""
import doctest
import sys

import numpy as np
import pytest

import funcgrad.numpy as fnp
import funcgrad.scipy.optimize as fso
from funcgrad.flatten_util import ravel_pytree

so = pytest.importorskip("scipy.optimize")

RNG = np.random.default_rng(42)
X = RNG.normal(size=(40, 3))
Y = (RNG.uniform(size=(40, 2)) < 0.5).astype(np.float64)
LAM = 0.3


# --------------------------------------------------- the problem: two L2-penalised logistic fits

def loss(p, x, y, lam):
    """Binary cross-entropy of two independent logistic outputs, w (3, 2) and b (2,)."""
    z = x @ p["w"] + p["b"]
    return fnp.sum(fnp.logaddexp(0.0, z) - y * z) + 0.5 * lam * fnp.sum(p["w"] ** 2)


def split(v):
    """The flat vector as SciPy sees it: ravel_pytree's order, the dict's sorted keys (b, w)."""
    return v[:2], v[2:].reshape(3, 2)


def flat_loss(v):
    b, w = split(v)
    z = X @ w + b
    return float(np.sum(np.logaddexp(0.0, z) - Y * z) + 0.5 * LAM * np.sum(w ** 2))


def flat_grad(v):
    b, w = split(v)
    g = 1.0 / (1.0 + np.exp(-(X @ w + b))) - Y
    return np.concatenate([g.sum(0), (X.T @ g + LAM * w).ravel()])


def flat_hessp(v, u):
    b, w = split(v)
    s = 1.0 / (1.0 + np.exp(-(X @ w + b)))
    ub, uw = split(u)
    t = s * (1.0 - s) * (X @ uw + ub)
    return np.concatenate([t.sum(0), (X.T @ t + LAM * uw).ravel()])


def flat_hess(v):
    return np.stack([flat_hessp(v, e) for e in np.eye(v.size)], axis=1)


X0 = {"w": np.full((3, 2), 0.1), "b": np.array([0.2, -0.3])}
V0 = np.concatenate([X0["b"], X0["w"].ravel()])


def close(a, b, tol=1e-9):
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def test_the_flat_order_is_ravel_pytree_s():
    close(ravel_pytree(X0)[0], V0, 0)


# ------------------------------------------------------------- SciPy's result, method by method

@pytest.mark.parametrize("method, extra", [
    ("BFGS", {"jac": flat_grad}),
    ("CG", {"jac": flat_grad}),
    ("Newton-CG", {"jac": flat_grad, "hessp": flat_hessp}),
    ("trust-krylov", {"jac": flat_grad, "hessp": flat_hessp}),
    ("trust-ncg", {"jac": flat_grad, "hessp": flat_hessp}),
    ("trust-exact", {"jac": flat_grad, "hess": flat_hess}),
    ("dogleg", {"jac": flat_grad, "hess": flat_hess}),
])
def test_reproduces_scipy_on_the_flat_problem(method, extra):
    options = {"xtol": 1e-12} if method == "Newton-CG" else {
        "gtol": 1e-7 if method == "CG" else 1e-8}
    ref = so.minimize(flat_loss, V0, method=method, options=options, **extra)
    res = fso.minimize(loss, X0, (X, Y, LAM), method=method, options=options)
    assert ref.success and res.success, (ref.message, res.message)
    assert set(res.x) == {"w", "b"} and res.x["w"].shape == (3, 2)
    b, w = split(ref.x)
    close(res.x["w"], w, 1e-8)
    close(res.x["b"], b, 1e-8)
    close(res.fun, ref.fun, 1e-12)
    rb, rw = split(ref.jac)
    close(res.jac["w"], rw, 1e-7)
    close(res.jac["b"], rb, 1e-7)
    close(res.x_flat, ref.x, 1e-8)
    assert isinstance(res.fun, float) and res.nit == ref.nit and res.nfev == ref.nfev
    if method == "BFGS":
        close(res.hess_inv, ref.hess_inv, 1e-6)   # about the raveled vector
        close(res.unravel(res.x_flat)["w"], res.x["w"], 0)


def test_l_bfgs_b_with_bounds_as_pytrees():
    lower = {"w": -0.25, "b": None}                     # a number for a leaf, None: unbounded
    upper = {"w": np.array([0.25, 0.05]), "b": 0.0}     # an array broadcast to w's (3, 2)
    res = fso.minimize(loss, X0, (X, Y, LAM), method="L-BFGS-B", bounds=(lower, upper),
                       options={"gtol": 1e-10, "ftol": 1e-15})
    flat_bounds = [(None, 0.0)] * 2 + [(-0.25, 0.25), (-0.25, 0.05)] * 3
    ref = so.minimize(flat_loss, V0, jac=flat_grad, method="L-BFGS-B", bounds=flat_bounds,
                      options={"gtol": 1e-10, "ftol": 1e-15})
    assert res.success and ref.success
    b, w = split(ref.x)
    close(res.x["w"], w, 1e-8)
    close(res.x["b"], b, 1e-8)
    assert np.any(np.isclose(w, 0.05)) or np.any(np.isclose(w, 0.25))   # a bound is active
    assert np.all(res.x["w"] <= np.array([0.25, 0.05]) + 1e-12) and np.all(res.x["b"] <= 0.0)
    assert res.nit == ref.nit
    # a side given as one number, the other None
    res = fso.minimize(loss, X0, (X, Y, LAM), method="TNC", bounds=(None, 0.0))
    assert all(np.all(leaf <= 0.0) for leaf in (res.x["w"], res.x["b"]))


def test_slsqp_with_a_constraint_on_the_pytree():
    cons = {"type": "eq", "fun": lambda p, c: fnp.sum(p["b"]) - c, "args": (1.0,)}
    res = fso.minimize(loss, X0, (X, Y, LAM), method="SLSQP", constraints=cons,
                       options={"ftol": 1e-14})
    ref = so.minimize(flat_loss, V0, jac=flat_grad, method="SLSQP", options={"ftol": 1e-14},
                      constraints={"type": "eq", "fun": lambda v: v[0] + v[1] - 1.0,
                                   "jac": lambda v: np.r_[1.0, 1.0, np.zeros(6)]})
    assert res.success and ref.success
    close(np.sum(res.x["b"]), 1.0, 1e-10)
    close(res.x_flat, ref.x, 1e-7)


# ---------------------------------------------------------------- the derivatives SciPy is given

def _captured(monkeypatch, method):
    """The keyword arguments fso.minimize hands scipy.optimize.minimize."""
    seen = {}
    real = so.minimize

    def spy(fun, x0, **kwargs):
        seen.update(kwargs, fun=fun)
        return real(fun, x0, **kwargs)
    monkeypatch.setattr(so, "minimize", spy)
    fso.minimize(loss, X0, (X, Y, LAM), method=method)
    return seen


def test_hessp_is_the_hessian_vector_product(monkeypatch):
    kw = _captured(monkeypatch, "Newton-CG")
    assert kw["jac"] is True and "hess" not in kw
    rng = np.random.default_rng(1)
    for _ in range(3):
        v, u = rng.normal(size=8), rng.normal(size=8)
        close(kw["hessp"](v, u), flat_hessp(v, u), 1e-12)
        # and a central difference of the gradient
        eps = 1e-6
        fd = (flat_grad(v + eps * u) - flat_grad(v - eps * u)) / (2 * eps)
        close(kw["hessp"](v, u), fd, 1e-6)
        value, grad = kw["fun"](v)
        close(value, flat_loss(v), 1e-13)
        close(grad, flat_grad(v), 1e-12)


def test_trust_exact_gets_the_full_hessian(monkeypatch):
    kw = _captured(monkeypatch, "trust-exact")
    assert "hessp" not in kw
    v = np.random.default_rng(2).normal(size=8)
    close(kw["hess"](v), flat_hess(v), 1e-12)


def test_derivative_free_methods_get_the_value_alone(monkeypatch):
    kw = _captured(monkeypatch, "Nelder-Mead")
    assert "jac" not in kw and "hessp" not in kw
    close(kw["fun"](V0), flat_loss(V0), 1e-13)


# ---------------------------------------------------------------------------------- conveniences

def test_float32_parameters_are_optimised_in_float64_and_cast_back():
    dtypes = []

    def f(p, x, y, lam):
        dtypes.append(p["w"].dtype)
        return loss(p, x, y, lam)
    x32 = {"w": X0["w"].astype(np.float32), "b": X0["b"].astype(np.float32)}
    res = fso.minimize(f, x32, (X, Y, LAM), jit=False)
    ref = fso.minimize(loss, X0, (X, Y, LAM))
    assert set(dtypes) == {np.dtype(np.float64)}
    assert res.x["w"].dtype == np.float32 and res.jac["b"].dtype == np.float32
    close(res.x["w"], ref.x["w"].astype(np.float32), 0)


def test_eager_and_jit_agree_and_args_may_be_anything():
    def f(p, x, y, how):
        return loss(p, x, y, LAM if how == "penalised" else 0.0)
    a = fso.minimize(f, X0, (X, Y, "penalised"), jit=False)
    b = fso.minimize(f, X0, (X, Y, "penalised"))
    close(a.x_flat, b.x_flat, 1e-12)
    # x0 may be a bare array, a number or a tuple
    res = fso.minimize(lambda t: (t[0] - 1.0) ** 2 + fnp.sum((t[1] + 2.0) ** 2),
                       (0.0, np.zeros(2)))
    close(res.x[0], 1.0, 1e-6)
    close(res.x[1], [-2.0, -2.0], 1e-6)


def test_callback_sees_the_pytree_and_may_stop():
    seen = []
    res = fso.minimize(loss, X0, (X, Y, LAM), callback=lambda p: seen.append(p["w"].copy()))
    assert len(seen) == res.nit and seen[-1].shape == (3, 2)
    close(seen[-1], res.x["w"], 0)

    def stop(p):
        raise StopIteration
    res = fso.minimize(loss, X0, (X, Y, LAM), callback=stop)
    assert res.nit == 1 and "StopIteration" in res.message


# ------------------------------------------------------------------------------------------ errors

def test_unknown_method():
    with pytest.raises(ValueError, match=r"unknown method 'newton'.*l-bfgs-b"):
        fso.minimize(loss, X0, (X, Y, LAM), method="newton")
    with pytest.raises(ValueError, match="unknown method"):
        fso.minimize(loss, X0, (X, Y, LAM), method=so.minimize)


@pytest.mark.parametrize("jit", [True, False])
def test_fun_must_return_a_scalar(jit):
    def vector(p):
        return p["b"] ** 2
    with pytest.raises(TypeError, match=r"fun must return a scalar.*shape \(2,\)"):
        fso.minimize(vector, X0, jit=jit)
    with pytest.raises(TypeError, match=r"fun must return a scalar, got a tuple"):
        fso.minimize(lambda p: (fnp.sum(p["b"] ** 2), 0.0), X0, jit=jit)


def test_bounds_and_constraints_the_method_does_not_take():
    with pytest.raises(ValueError, match="'BFGS' does not take bounds"):
        fso.minimize(loss, X0, (X, Y, LAM), bounds=(0.0, 1.0))
    with pytest.raises(ValueError, match="'L-BFGS-B' does not take constraints"):
        fso.minimize(loss, X0, (X, Y, LAM), method="L-BFGS-B",
                     constraints={"type": "eq", "fun": lambda p: p["b"]})
    with pytest.raises(TypeError, match=r"bounds must be a pair \(lower, upper\)"):
        fso.minimize(loss, X0, (X, Y, LAM), method="L-BFGS-B", bounds=[(0, 1)] * 8)
    with pytest.raises(ValueError, match="bounds must match the structure of x0"):
        fso.minimize(loss, X0, (X, Y, LAM), method="L-BFGS-B", bounds=({"v": 0.0}, None))
    with pytest.raises(TypeError, match="real arrays or numbers"):
        fso.minimize(lambda z: fnp.sum(fnp.abs(z)), np.ones(2, complex))


def test_without_scipy_says_what_to_install(monkeypatch):
    for name in [n for n in sys.modules if n == "scipy" or n.startswith("scipy.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"minimize needs scipy.*pip install 'funcgrad\[scipy\]'"):
        fso.minimize(loss, X0, (X, Y, LAM))


def test_docstring_examples():
    failed, attempted = doctest.testmod(fso, optionflags=doctest.ELLIPSIS)
    assert attempted > 0 and failed == 0
