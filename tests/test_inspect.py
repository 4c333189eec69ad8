"""funcgrad.inspect: cost model hand counts, DOT/HTML/SVG rendering, debug_nans, the CLI."""
import doctest
import os
import re
import shutil
import subprocess
import sys
import types
import warnings

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.core.ir import Eqn, Graph, Var
from funcgrad.core.types import ArrayType
from funcgrad.inspect import cli, cost, debug, html, render
from funcgrad.inspect.cli import main, parse_arg_specs, random_args
from funcgrad.inspect.cost import graph_cost
from funcgrad.inspect.debug import debug_nans
from funcgrad.inspect.render import BACKWARD_COLOR, FORWARD_COLOR, backward_mask

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.abspath(__file__)
HAVE_DOT = shutil.which("dot") is not None


def line_of(marker: str) -> int:
    """The line number of the line of this file holding `marker` (a unique comment)."""
    with open(HERE) as f:
        hits = [i for i, line in enumerate(f, 1) if line.rstrip().endswith(marker)]
    assert len(hits) == 1, marker
    return hits[0]


# --------------------------------------------------------------------------- real functions

def mlp_loss(params, x, y):
    w1, b1, w2, b2 = params
    h = fnp.tanh(x @ w1 + b1)  # MLP-HIDDEN
    out = h @ w2 + b2
    return fnp.mean((out - y) ** 2)


rng = np.random.default_rng(0)
PARAMS = (rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal((4, 1)),
          rng.standard_normal(1))
X, Y = rng.standard_normal((5, 3)), rng.standard_normal((5, 1))


def mlp_graph():
    return fg.make_graph(mlp_loss)(PARAMS, X, Y)


def mlp_grad_graph():
    return fg.make_graph(fg.grad(mlp_loss))(PARAMS, X, Y)


def log_sum(x):
    return fnp.sum(fnp.log(x) * 2.0)  # LOG-LINE


def safe_sqrt(x):
    y = fnp.where(x > 0, fnp.sqrt(x), 0.0)  # SQRT-LINE
    return y * 3.0


# --------------------------------------------------------------------------- cost model

def test_cost_matmul_hand_count():
    g = fg.make_graph(lambda a, b: a @ b)(np.ones((4, 3)), np.ones((3, 5)))
    c = graph_cost(g)
    assert [e.primitive.name for e in g.eqns] == ["dot_general"]
    assert c["flops"] == 2 * 4 * 5 * 3
    assert c["bytes_read"] == (4 * 3 + 3 * 5) * 8
    assert c["bytes_written"] == 4 * 5 * 8
    assert c["bytes"] == c["bytes_read"] + c["bytes_written"]


def test_cost_batched_matmul_hand_count():
    g = fg.make_graph(lambda a, b: a @ b)(np.ones((2, 4, 3), np.float32),
                                          np.ones((2, 3, 5), np.float32))
    c = graph_cost(g)
    assert c["flops"] == 2 * (2 * 4 * 5) * 3
    assert c["bytes_written"] == 2 * 4 * 5 * 4


def test_cost_elementwise_reduction_and_totals():
    f = lambda x, w: fnp.sum(fnp.sin(x @ w) * 2.0)
    g = fg.make_graph(f)(np.ones((4, 3)), np.ones((3, 5)))
    c = graph_cost(g)
    assert [r["primitive"] for r in c["eqns"]] == ["dot_general", "sin", "mul", "reduce_sum"]
    assert [r["flops"] for r in c["eqns"]] == [120, 20, 20, 20]
    assert c["flops"] == 180
    # bytes: literals are inlined and read nothing
    assert [r["bytes_read"] for r in c["eqns"]] == [216, 160, 160, 160]
    assert [r["bytes_written"] for r in c["eqns"]] == [160, 160, 160, 8]
    assert c["uncounted"] == []


def test_cost_shape_ops_are_free():
    g = fg.make_graph(lambda x: fnp.broadcast_to(x.reshape(3, 1).T, (4, 3)))(np.ones(3))
    c = graph_cost(g)
    assert {r["primitive"] for r in c["eqns"]} <= {"reshape", "transpose", "broadcast_to"}
    assert c["flops"] == 0


def test_cost_peak_memory_frees_after_last_use():
    # x (800 B) lives throughout; a and b (800 B each) die at the mul; c is the output.
    g = fg.make_graph(lambda x: fnp.sin(x) * fnp.cos(x))(np.ones(100))
    c = graph_cost(g)
    assert [r["primitive"] for r in c["eqns"]] == ["sin", "cos", "mul"]
    assert c["input_bytes"] == 800
    assert c["peak_bytes"] == 800 * 4
    assert c["flops"] == 300
    # A chain keeps only two temporaries alive at a time.
    g = fg.make_graph(lambda x: ((x + 1.0) * 2.0) - 3.0)(np.ones(10))
    assert graph_cost(g)["peak_bytes"] == 80 * 3


def test_cost_mlp_gradient_dot_generals():
    g = mlp_grad_graph()
    c = graph_cost(g)
    for e, row in zip(g.eqns, c["eqns"]):
        if e.primitive.name == "dot_general":
            (lc, _), _ = e.params["contract"], e.params["batch"]
            k = int(np.prod([e.inputs[0].aval.shape[a] for a in lc]))
            assert row["flops"] == 2 * e.outputs[0].aval.size * k
    assert sum(r["flops"] for r in c["eqns"]) == c["flops"] > 0
    assert c["peak_bytes"] >= c["input_bytes"] == sum(
        v.aval.size * 8 for v in g.invars)


def test_cost_subgraph_and_unknown_primitive():
    inner = fg.make_graph(lambda x: fnp.sin(x) + 1.0)(np.ones(6))
    call = types.SimpleNamespace(name="call", cost=None, emit=None, multiple_results=False)
    odd = types.SimpleNamespace(name="mystery", cost=None, emit=None, multiple_results=False)
    x, y, z = Var(ArrayType((6,), "f8")), Var(ArrayType((6,), "f8")), Var(ArrayType((6,), "f8"))
    g = Graph([x], [z], [Eqn(call, [x], [y], {"body": inner}), Eqn(odd, [y], [z], {})])
    c = graph_cost(g)
    assert [r["flops"] for r in c["eqns"]] == [12, 0]
    assert c["uncounted"] == ["mystery"]


# --------------------------------------------------------------------------- DOT

def _dot_structure(dot: str):
    nodes = dict(re.findall(r"^\s*(\w+) \[label=(\"(?:[^\"\\]|\\.)*\")", dot, re.M))
    edges = re.findall(r"^\s*(\w+) -> (\w+)", dot, re.M)
    return nodes, edges


@pytest.mark.parametrize("make", [mlp_graph, mlp_grad_graph])
def test_dot_parses_one_node_per_equation(make):
    g = make()
    dot = g.to_dot()
    assert dot.startswith("digraph")
    assert dot.rstrip().endswith("}")
    assert dot.count("{") == dot.count("}")
    nodes, edges = _dot_structure(dot)
    assert len([n for n in nodes if re.fullmatch(r"e\d+", n)]) == len(g.eqns)
    assert len([n for n in nodes if re.fullmatch(r"in\d+", n)]) == len(g.invars)
    assert len([n for n in nodes if re.fullmatch(r"out\d+", n)]) == len(g.outvars)
    for a, b in edges:
        assert a in nodes and b in nodes
    # every equation node is labelled with its primitive and output type
    for i, e in enumerate(g.eqns):
        label = nodes[f"e{i}"]
        assert label.startswith(f'"{e.primitive.name}')
        assert e.outputs[0].aval.short() in label
    # inputs, outputs and equations have distinct node shapes
    assert "shape=invhouse" in dot and "shape=house" in dot and "shape=box" in dot
    if HAVE_DOT:
        assert render.run_dot(dot, "svg").lstrip().startswith(b"<?xml")


def test_dot_colours_forward_and_backward():
    assert BACKWARD_COLOR not in mlp_graph().to_dot()
    dot = mlp_grad_graph().to_dot()
    assert BACKWARD_COLOR in dot and FORWARD_COLOR in dot


def test_backward_mask():
    g = fg.make_graph(fg.value_and_grad(lambda x: fnp.sin(x)))(1.0)
    assert [(e.primitive.name, b) for e, b in zip(g.eqns, backward_mask(g))] == [
        ("sin", False), ("cos", True), ("full", True), ("mul", True)]
    # make_graph drops dead code: grad alone does not compute sin(x)
    g = fg.make_graph(fg.grad(lambda x: fnp.sin(x)))(1.0)
    assert [e.primitive.name for e in g.eqns] == ["cos", "full", "mul"]
    # the MLP: forward = everything the loss depends on; the rest (residuals, cotangents) not
    g = mlp_grad_graph()
    mask = backward_mask(g)
    names = [e.primitive.name for e, b in zip(g.eqns, mask) if not b]
    assert names.count("dot_general") == 2 and "tanh" in names
    assert sum(e.primitive.name == "dot_general" for e, b in zip(g.eqns, mask) if b) == 3
    assert not any(backward_mask(mlp_graph()))


def test_dot_subgraph_cluster():
    inner = fg.make_graph(lambda x: fnp.sin(x) + 1.0)(np.ones(6))
    call = types.SimpleNamespace(name="call", cost=None, emit=None, multiple_results=False)
    x, y = Var(ArrayType((6,), "f8")), Var(ArrayType((6,), "f8"))
    g = Graph([x], [y], [Eqn(call, [x], [y], {"body": inner})])
    dot = g.to_dot()
    assert dot.count("{") == dot.count("}")
    assert "subgraph cluster_cluster0 {" in dot and '"call: body"' in dot
    nodes, edges = _dot_structure(dot)
    assert len([n for n in nodes if re.fullmatch(r"e\d+", n)]) == 1 + len(inner.eqns)
    for a, b in edges:
        assert a in nodes and b in nodes
    assert ("out0", "e0") in edges          # the sub-graph's output feeds its equation
    if HAVE_DOT:
        render.run_dot(dot, "svg")


# --------------------------------------------------------------------------- render / HTML

def test_render_without_dot_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(render.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt install graphviz"):
        mlp_graph().render(str(tmp_path / "g.svg"))
    page = mlp_graph().to_html()               # still works, with the DOT source instead
    assert "<svg" not in page and "digraph funcgrad" in page and "apt install graphviz" in page


def test_render_files(tmp_path):
    g = mlp_grad_graph()
    if not HAVE_DOT:
        with pytest.raises(RuntimeError, match="pip install funcgrad\\[viz\\]"):
            g.render(str(tmp_path / "g.svg"))
        return
    svg = tmp_path / "g.svg"
    assert g.render(str(svg)) == str(svg)
    text = svg.read_text()
    assert text.startswith("<?xml") and "<svg" in text and "dot_general" in text
    png = tmp_path / "g.png"
    g.render(str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pdf = tmp_path / "g.out"
    g.render(str(pdf), format="pdf")
    assert pdf.read_bytes()[:4] == b"%PDF"


def test_html_listing_costs_and_sources(tmp_path):
    g = mlp_grad_graph()
    path = tmp_path / "g.html"
    page = g.to_html(str(path))
    assert path.read_text(encoding="utf-8") == page
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    # the listing: every equation line of the text printer
    for line in g.pretty().splitlines()[1:-1]:
        assert html.html.escape(line.strip()) in page
    c = graph_cost(g)
    assert cost.format_count(c["flops"]) in page
    assert cost.format_bytes(c["peak_bytes"]) in page
    for row in c["eqns"]:
        assert f'<td class="num">{cost.format_count(row["flops"])}</td>' in page
    assert f"test_inspect.py:{line_of('# MLP-HIDDEN')} (mlp_loss)" in page
    assert ("<svg" in page) == HAVE_DOT
    assert "src=" not in page and "href=\"http" not in page     # self-contained


# --------------------------------------------------------------------------- debug_nans

def test_debug_nans_forward_log_zero():
    with pytest.raises(FloatingPointError) as info:
        debug_nans(log_sum)(np.array([1.0, 0.0, 2.0]))
    msg = str(info.value)
    assert "`log`" in msg and "-inf" in msg and "forward pass" in msg
    assert f"{HERE}:{line_of('# LOG-LINE')}" in msg
    assert "f64[3] min=0 max=2 nan=0 inf=0" in msg


def test_debug_nans_backward_only_nan():
    with np.errstate(all="ignore"):
        assert np.isnan(fg.grad(safe_sqrt)(0.0))        # the bug being hunted
    assert debug_nans(safe_sqrt)(0.0) == 0.0            # the forward pass is clean
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # no RuntimeWarning leaks
        with pytest.raises(FloatingPointError) as info:
            debug_nans(fg.grad(safe_sqrt))(0.0)
    msg = str(info.value)
    assert f"{HERE}:{line_of('# SQRT-LINE')}" in msg
    assert "backward pass" in msg
    assert "min=0 max=0 nan=0 inf=0" in msg


def test_debug_nans_returns_same_result():
    got = debug_nans(fg.grad(safe_sqrt))(4.0)
    assert isinstance(got, np.ndarray) and got.shape == ()
    np.testing.assert_allclose(got, 3.0 * 0.5 / 2.0)
    g_ref = fg.grad(mlp_loss)(PARAMS, X, Y)
    g_dbg = debug_nans(fg.grad(mlp_loss))(PARAMS, X, Y)
    assert isinstance(g_dbg, tuple) and len(g_dbg) == 4
    for a, b in zip(g_ref, g_dbg):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    # a NaN already in the inputs is not a new one
    out = debug_nans(lambda x: x * 2.0 + 1.0)(np.array([np.nan, 1.0]))
    np.testing.assert_array_equal(out, [np.nan, 3.0])
    # static arguments and keyword arguments pass through
    assert debug_nans(lambda x, n: x * n, static_argnums=1)(2.0, 3) == 6.0


def test_debug_nans_nan_from_infinite_inputs():
    with pytest.raises(FloatingPointError, match="produced nan .* from inputs without NaN"):
        debug_nans(lambda x: x - x)(np.array([np.inf, 1.0]))


def test_debug_nans_under_a_transformation_calls_through():
    np.testing.assert_allclose(fg.grad(debug_nans(lambda x: fnp.sin(x)))(0.5), np.cos(0.5))


# --------------------------------------------------------------------------- command line

MODULE_SRC = '''\
import funcgrad.numpy as fnp


def loss(w, x, y):
    h = fnp.tanh(x @ w)
    return fnp.mean((h - y) ** 2)  # LOSS-LINE
'''


def _cli(args, cwd):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "funcgrad", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_end_to_end(tmp_path):
    (tmp_path / "mlpmod.py").write_text(MODULE_SRC)
    spec = "f64[3,2],f64[10,3],f64[10,2]"
    r = _cli(["inspect", "mlpmod:loss", "--args", spec, "--grad"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("dot_general") == 2 and "tanh" in r.stdout
    assert "mlpmod.py:6 (loss)" in r.stdout and "FLOPs" in r.stdout
    r = _cli(["inspect", str(tmp_path / "mlpmod.py") + ":loss", "--args", spec,
              "--format", "dot", "-o", "g.dot"], tmp_path)
    assert r.returncode == 0, r.stderr
    dot = (tmp_path / "g.dot").read_text()
    assert dot.startswith("digraph") and dot.count("{") == dot.count("}")
    r = _cli(["inspect", "nosuchmodule:loss", "--args", spec], tmp_path)
    assert r.returncode == 2 and "cannot import module 'nosuchmodule'" in r.stderr
    r = _cli(["inspect", "--help"], tmp_path)
    assert r.returncode == 0 and "--grad" in r.stdout and "f64[]" in r.stdout


def test_cli_in_process(tmp_path, monkeypatch, capsys):
    (tmp_path / "mlpmod2.py").write_text(MODULE_SRC)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = "f64[3,2],f64[10,3],f64[10,2]"
    assert main(["inspect", "mlpmod2:loss", "--args", spec]) == 0
    out = capsys.readouterr().out
    assert "{ lambda w:f64[3,2] x:f64[10,3] y:f64[10,2] ;" in out
    assert main(["inspect", "mlpmod2:loss", "--args", spec, "--format", "html",
                 "-o", "g.html"]) == 0
    assert "<table" in (tmp_path / "g.html").read_text()
    capsys.readouterr()
    code = main(["inspect", "mlpmod2:loss", "--args", spec, "--format", "svg"])
    captured = capsys.readouterr()
    if HAVE_DOT:
        assert code == 0
    else:
        assert code == 1 and "apt install graphviz" in captured.err
    code = main(["inspect", "mlpmod2:loss", "--args", spec, "--jit"])
    captured = capsys.readouterr()
    if hasattr(fg.jit(mlp_loss), "lower"):
        assert code == 0 and "lambda" in captured.out
    else:
        assert code == 1 and "lower" in captured.err


@pytest.mark.parametrize("argv, needle", [
    (["mlpmod3:nope", "--args", "f64[3,2]"], "has no function 'nope'; it has: loss"),
    (["mlpmod3:loss", "--args", "f64[3,x]"], "bad argument spec 'f64[3,x]'"),
    (["mlpmod3:loss", "--args", "f65[3]"], "unknown dtype 'f65'"),
    (["mlpmod3:loss", "--args", "f64[3,2]"], "cannot be called with 1 argument"),
    (["mlpmod3", "--args", "f64[3]"], "expected MODULE:FUNCTION"),
    (["missing.py:loss", "--args", "f64[3]"], "no such file"),
])
def test_cli_usage_errors(tmp_path, monkeypatch, capsys, argv, needle):
    (tmp_path / "mlpmod3.py").write_text(MODULE_SRC)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["inspect", *argv]) == 2
    assert needle in capsys.readouterr().err


def test_cli_bad_format_and_trace_error(tmp_path, monkeypatch, capsys):
    (tmp_path / "mlpmod4.py").write_text(MODULE_SRC)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(SystemExit) as info:
        main(["inspect", "mlpmod4:loss", "--format", "jpeg"])
    assert info.value.code == 2
    # a shape mismatch inside the function: a failure of the function, exit code 1
    assert main(["inspect", "mlpmod4:loss", "--args", "f64[4,2],f64[10,3],f64[10,2]"]) == 1
    assert "ValueError" in capsys.readouterr().err


def test_arg_specs_and_random_args():
    specs = parse_arg_specs("f64[100], f64[], f32[5,3],i32[2],i64[],bool[4],f16[1]")
    assert specs == [((100,), np.dtype("f8")), ((), np.dtype("f8")), ((5, 3), np.dtype("f4")),
                     ((2,), np.dtype("i4")), ((), np.dtype("i8")), ((4,), np.dtype("bool")),
                     ((1,), np.dtype("f2"))]
    assert parse_arg_specs("") == []
    a, b = random_args(specs, 0), random_args(specs, 0)
    for u, v, (shape, dtype) in zip(a, b, specs):
        assert u.shape == shape and u.dtype == dtype
        np.testing.assert_array_equal(u, v)
    for bad in ("f64[3", "f64", "f64[1,,2]", "x[2]", "f64[2]x"):
        with pytest.raises(cli.UsageError):
            parse_arg_specs(bad)


def test_module_doctests():
    for module in (cost, render, html, debug, cli):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__


def test_html_large_graph_skips_drawing():
    def chain(x):
        for _ in range(html.MAX_DRAWN_EQNS + 1):
            x = x + 1.0
        return x
    g = fg.make_graph(chain)(np.ones(2))
    page = g.to_html()
    assert "too many to draw" in page and "<svg" not in page
    assert graph_cost(g)["flops"] == 2 * (html.MAX_DRAWN_EQNS + 1)
