"""The examples run, train, and reach their stated accuracy (CI installs `.[test,examples]`)."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import funcgrad as fg

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def load(name: str):
    """Import examples/<name>.py as a module, without running its __main__ block."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_logistic_regression_matches_scikit_learn(tmp_path):
    example = load("logistic_regression")
    png = tmp_path / "loss.png"
    out = example.main(["--quiet", "--plot", str(png)])   # the default 1000 steps per run
    sk_acc, sk_ll = out["results"]["scikit-learn"]
    assert sk_acc > 0.95
    for run in ("funcgrad full-batch", "funcgrad mini-batch"):
        acc, ll = out["results"][run]
        assert abs(acc - sk_acc) <= 0.01, (run, acc, sk_acc)
        assert abs(ll - sk_ll) < 0.01, (run, ll, sk_ll)
    # full batch reaches scikit-learn's optimum of the same objective
    assert out["coef_gap"] < 1e-4
    assert abs(out["objective"]["funcgrad full-batch"] - out["objective"]["scikit-learn"]) < 1e-8
    assert out["losses"]["full"][-1] < out["losses"]["full"][0] / 5
    assert out["plot"] and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_logistic_regression_prints_a_summary_with_few_steps(capsys):
    example = load("logistic_regression")
    out = example.main(["--steps", "30", "--plot", ""])
    captured = capsys.readouterr()
    assert "scikit-learn" in captured.out and "test accuracy" in captured.out
    assert "\r" in captured.err and "30/30" in captured.err   # the progress bars
    assert not out["plot"]
    assert out["results"]["funcgrad full-batch"][0] > 0.9


def test_seed_logistic_regression_gradient_is_the_tutorial_chain_rule():
    example = load("seed_logistic_regression")
    out = example.main(["--quiet", "--steps", "300"])
    assert out["grad_vs_manual"] < 1e-12
    assert any(e.primitive.name == "logistic" for e in out["graph"].eqns)
    assert out["losses"][-1] < out["losses"][0]
    full = example.main(["--quiet"])
    assert full["accuracy"] == 0.8          # (7.0, not placed) sits above the boundary
    assert 6.0 < full["boundary"] < 7.0


def test_mlp_digits_reaches_95_percent_and_per_example_grads_match_a_loop():
    example = load("mlp_digits")
    out = example.main(["--quiet"])
    assert out["test_accuracy"] >= 0.95
    assert out["losses"][-1] < out["losses"][0] / 10
    x_train, x_test, y_train, y_test = example.load_data()
    looped = []
    for i in range(8):
        g = fg.grad(example.loss)(out["params"], x_test[i:i + 1], y_test[i:i + 1])
        looped.append(np.sqrt(sum(float(np.sum(a.astype(np.float64) ** 2))
                                  for a in fg.tree.leaves(g))))
    np.testing.assert_allclose(out["grad_norms"], looped, rtol=1e-4)


def test_examples_run_as_scripts():
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, str(EXAMPLES / "seed_logistic_regression.py"),
                           "--steps", "20"], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "training accuracy" in proc.stdout and "20/20" in proc.stderr


def test_gaussian_process_matches_scikit_learn(tmp_path):
    example = load("gaussian_process")
    png = tmp_path / "gp.png"
    out = example.main(["--quiet", "--plot", str(png)])
    # the same model and optimiser from the same start: the same optimum
    np.testing.assert_allclose(out["params"], out["sk_params"], atol=1e-4)
    assert abs(out["lml"] - out["sk_lml"]) < 1e-6 * abs(out["sk_lml"])
    np.testing.assert_allclose(out["pred"], out["sk_pred"], atol=1e-4)
    assert out["rmse"] < 0.8 and abs(out["rmse"] - out["sk_rmse"]) < 1e-4
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_newton_converges_to_scikit_learn_s_optimum():
    example = load("newton")
    out = example.main(["--quiet"])
    assert out["steps"] <= 12
    np.testing.assert_allclose(out["theta"], out["ref_theta"], atol=1e-5)


def test_student_t_regression_matches_scipy_and_is_robust(tmp_path):
    example = load("student_t_regression")
    png = tmp_path / "t.png"
    out = example.main(["--quiet", "--plot", str(png), "--methods", "BFGS", "trust-exact"])
    assert all(r.success for r in out["results"].values())
    # the same likelihood with scipy.stats.t and finite differences: the same optimum
    assert out["rel_diff"] < 1e-4 and out["spread"] < 1e-5
    assert abs(out["nll"] - out["ref_nll"]) < 1e-8 * abs(out["ref_nll"])
    assert 1.0 < np.exp(out["params"]["log_df"]) < 3.0      # heavy tails for the gross errors
    # closer to least squares on the clean targets than Huber, far closer than least squares
    err = out["coef_error"]
    assert err["Student t (funcgrad)"] < err["Huber"] < err["least squares"] / 5
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
