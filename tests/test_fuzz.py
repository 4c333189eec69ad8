"""Differential fuzzing, the CI subset: a fixed (derandomised) few hundred random programs through
every oracle (tests/fuzz/oracles.py), the shrunk program of each bug the fuzzer found, and
checks that the oracles do catch planted bugs. The long run is `python -m tests.fuzz`.
"""
import numpy as np
import pytest
from fuzz.oracles import assert_program_ok, cold_tape, run_oracles
from fuzz.programs import Program, compile_program, programs
from hypothesis import HealthCheck, given, settings

import funcgrad as fg
import funcgrad.numpy as fnp


def _settings(n: int):
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


@_settings(300)
@given(programs(max_ops=8))
def test_random_programs_agree_under_every_transformation(prog):
    assert_program_ok(prog)


@_settings(100)
@given(programs(max_ops=5, kinds=("cond", "scan", "switch", "fori_loop", "inner", "unary",
                                  "binary", "reduce")))
def test_random_control_flow_and_nested_transformations(prog):
    assert_program_ok(prog)


@_settings(20)
@given(programs(max_ops=4))
def test_printed_source_is_the_program_that_runs(prog):
    """The report's text (source + argument lines) is runnable and computes what was tested."""
    import funcgrad.scipy as fsp

    ns = {"np": np, "fnp": fnp, "fg": fg, "fsp": fsp}   # the names programs use
    exec(prog.describe(), ns)
    expected = compile_program(prog.source())(*prog.args())
    for a, b in zip(fg.tree.leaves(ns["out"]), fg.tree.leaves(expected)):
        np.testing.assert_array_equal(a, b)


def _check(source: str, *args) -> None:
    found = run_oracles(source, list(args))
    assert not found, "\n".join(map(str, found)) + "\n" + source


# ---------------------------------------------------------------- bugs the fuzzer found
# Each is the shrunk program as the fuzzer printed it.

def test_regression_reshape_method_to_0d_under_tracing():
    # x.reshape(()) on a tracer was read as "no shape given" (TypeError) under jit/grad/vmap.
    _check("def f(x0):\n"
           "    v0 = x0.reshape(())\n"
           "    return v0\n", np.array([0.5]))


def test_regression_simplifier_unbroadcast_both_inputs():
    # jit's simplifier dropped the broadcast of each input of `mul` separately, checking each
    # against the other's *original* shape: both went, and the result lost its axis.
    _check("def f(x0):\n"
           "    v0 = fnp.expand_dims(x0, 0)\n"
           "    v1 = v0 * v0\n"
           "    return v1\n", np.array(0.7))


def test_regression_einsum_gradient_cse_then_unbroadcast():
    # The gradient adds two broadcasts that CSE merges into `add e e`; the same simplifier bug
    # then replaced both operands: jit(grad) returned shape (2, 1) for a (2, 4) argument.
    _check("def f(x0):\n"
           "    v0 = fnp.einsum('ab,ac->', x0, x0)\n"
           "    return v0\n", np.linspace(-1.0, 1.0, 8).reshape(2, 4))


def test_regression_linearize_of_checkpoint():
    # fg.linearize recorded checkpoint's reverse-only rule (custom_lin, no forward
    # evaluation) and its f_jvp crashed with "'NoneType' object is not callable".
    _check("def f(x0):\n"
           "    def inner1(t1):\n"
           "        w1_0 = fnp.sin(t1)\n"
           "        return w1_0\n"
           "    v0 = fg.checkpoint(inner1)(x0)\n"
           "    return v0\n", np.array(0.5478467492858172))


def test_regression_checkpoint_closing_over_a_differentiated_value():
    # checkpoint ran `fwd` outside the differentiation, where the closed-over x0 (a tracer of
    # grad) cannot be used: UnexpectedTracerError. It now differentiates the function directly.
    _check("def f(x0):\n"
           "    def inner1(t1):\n"
           "        w1_0 = t1 * x0\n"
           "        return w1_0\n"
           "    v0 = fg.checkpoint(inner1)(x0)\n"
           "    return v0\n", np.array([0.5, -0.3]))


def test_regression_fori_loop_index_keeps_float32_carry():
    # The loop index is an int64 array, so `c * i` promoted a float32 carry to float64 and
    # fori_loop raised a carry-type error; NumPy's Python loop and JAX keep float32.
    _check("def f(x0):\n"
           "    def loop1(i1, c1):\n"
           "        w1_0 = c1 * i1\n"
           "        w1_1 = w1_0 + c1\n"
           "        return w1_1\n"
           "    v0 = fg.fori_loop(0, 3, loop1, x0)\n"
           "    return v0\n", np.array([0.25, -1.5], np.float32))


def test_regression_jit_result_is_not_a_view_of_the_argument():
    # jit returned x.T (a view): writing to the result wrote to the caller's argument.
    _check("def f(x0):\n"
           "    v0 = x0.T\n"
           "    return v0\n", np.arange(6.0).reshape(2, 3))


# ---------------------------------------------------------------- eager calls repeated

_STOP = ("def f(x0):\n"
         "    v0 = fnp.sin(x0) * fg.stop_gradient(x0)\n"
         "    return v0\n")
_REPEAT_ORACLES = ("grad_repeat", "nested_repeat")


@_settings(12)
@given(programs(max_ops=4, kinds=("unary", "binary", "reduce", "where", "matmul", "index",
                                  "cond", "scan", "inner")))
def test_nested_derivatives_agree_on_every_call(prog):
    # grad(<grad(loss), t>) and jvp(grad(loss)), six eager calls from a cold tape (the tape's
    # three regimes: general rules, compiled rules, recorded and compiled programs)
    assert_program_ok(prog, oracles=_REPEAT_ORACLES)


@pytest.mark.parametrize("source, args", [
    (_STOP, (np.array([0.3, -0.7, 1.1]),)),
    ("def f(x0, x1):\n"
     "    v0 = fnp.tanh(x0 @ x1) * x0[0]\n"
     "    v1 = fnp.sum(v0 ** 3, axis=0)\n"
     "    return v1\n", (np.linspace(-1.0, 1.0, 6).reshape(2, 3),
                         np.linspace(0.5, -0.5, 9).reshape(3, 3).astype(np.float32))),
])
def test_nested_repeat_oracle_passes_correct_programs(source, args):
    found = run_oracles(source, list(args), oracles=_REPEAT_ORACLES)
    assert not found, "\n".join(map(str, found))


def test_nested_repeat_catches_a_program_that_drops_stop_gradient(monkeypatch):
    # The bug fixed in 244adc5: the optimiser dropped stop_gradient, so the tape's compiled
    # rules and programs ran without it under an outer differentiation and
    # grad(grad(x * stop_gradient(x))) changed from the second call on.
    from funcgrad.prims.special import stop_gradient_p
    monkeypatch.setattr(stop_gradient_p, "simplify", lambda rewrite, ins, params, aval: ins[0])
    try:
        found = run_oracles(_STOP, [np.array([0.3, -0.7, 1.1])], oracles=_REPEAT_ORACLES)
    finally:
        cold_tape()    # no rule compiled with the broken simplification outlives the test
    assert "nested_repeat" in {m.oracle for m in found}


def test_the_jax_oracle_is_opt_in_and_jax_free_by_default(monkeypatch, capsys):
    import subprocess
    import sys
    from pathlib import Path

    from fuzz import __main__ as cli
    from fuzz import jax_oracle
    from fuzz.oracles import default_oracles
    assert "jax" not in default_oracles() and "nested_repeat" in default_oracles()
    # importing the fuzzer (the JAX oracle's module included) imports no JAX
    code = ("import sys; import fuzz.oracles, fuzz.__main__, fuzz.jax_oracle; "
            "assert 'jax' not in sys.modules, 'jax imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent)
    # without JAX, --oracle jax says so and fails
    monkeypatch.setattr(jax_oracle, "available", lambda: False)
    assert cli.main(["--oracle", "jax", "--programs", "1"]) == 2
    assert "JAX is not importable" in capsys.readouterr().err


def test_jax_oracle_detects_known_differences_only_where_they_occur():
    # (no JAX needed: detection reruns the program on NumPy with recording functions)
    from fuzz.jax_oracle import DIFFERENCES, differences_at
    src = "def f(x0):\n    v0 = fnp.abs(x0 - 0.5) + x0.max(axis=0)\n    return v0\n"
    assert differences_at(src, [np.array([0.25, 1.0])]) == {}
    assert set(differences_at(src, [np.array([0.5, 1.0])])) == {"abs_at_zero"}
    assert set(differences_at(src, [np.array([1.0, 1.0])])) == {"tie"}
    # inside a nested grad the program's values are derivatives: a subgradient choice shows
    nested = ("def f(x0):\n"
              "    def inner1(t1):\n"
              "        w1_0 = fnp.abs(t1 - 0.5) * x0\n"
              "        return fnp.sum(w1_0)\n"
              "    v0 = fg.grad(inner1)(x0)\n"
              "    return v0\n")
    assert "values" in differences_at(nested, [np.array([0.5, 1.0])])["abs_at_zero"]
    assert all(len(reason) > 20 for _, reason in DIFFERENCES.values())


# ---------------------------------------------------------------- the oracles catch bugs

_TANH = Program((((3,), "float64"),), (), ("v0",), seed=1)
_SRC = "def f(x0):\n    v0 = fnp.tanh(x0) * x0\n    return v0\n"


def _oracles_failing(source=_SRC, args=None) -> set:
    return {m.oracle for m in run_oracles(source, args or _TANH.args())}


def test_oracles_pass_the_correct_program():
    assert _oracles_failing() == set()


def test_oracles_catch_a_wrong_derivative_rule(monkeypatch):
    from funcgrad.prims import elementwise
    monkeypatch.setattr(elementwise.tanh_p, "jvp",
                        lambda primals, tangents: (elementwise.tanh_p.bind(primals[0]),
                                                   tangents[0]))
    assert {"grad_fd", "jvp_fd", "second_order"} <= _oracles_failing()


def test_oracles_catch_a_wrong_batching_rule(monkeypatch):
    from funcgrad.prims import elementwise
    rule = elementwise.tanh_p.batch
    monkeypatch.setattr(elementwise.tanh_p, "batch",
                        lambda vals, dims: (lambda o: (o[0] * 1.5, o[1]))(rule(vals, dims)))
    assert {"vmap", "vmap_grad"} <= _oracles_failing()


def test_oracles_catch_a_wrong_optimisation_pass(monkeypatch):
    from funcgrad.compile import passes
    from funcgrad.run import jit
    monkeypatch.setattr(jit, "optimize", lambda g: passes.dce(passes.cse(_drop_last_eqn(g))))
    assert {"jit", "graphs"} <= _oracles_failing()


def _drop_last_eqn(graph):
    """A broken pass: the last equation's output is replaced by its first input."""
    from funcgrad.core.ir import Graph
    last = graph.eqns[-1]
    outs = [last.inputs[0] if v is last.outputs[0] else v for v in graph.outvars]
    return Graph(graph.invars, outs, graph.eqns[:-1], graph.constvars, graph.consts,
                 graph.names, dict(graph.info))


@pytest.mark.parametrize("kind", ["numpy", "inputs"])
def test_oracles_catch_wrong_values_and_mutated_inputs(kind):
    if kind == "numpy":
        src = "def f(x0):\n    return fnp.tanh(x0) if isinstance(fnp, type(np)) else x0\n"
    else:
        src = ("def f(x0):\n"
               "    if isinstance(x0, np.ndarray):\n"
               "        x0 += 1.0\n"
               "    return fnp.sin(x0)\n")
    assert kind in _oracles_failing(src)
