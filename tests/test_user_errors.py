"""Errors that point at the real mistake, each checked for its type and its message (which
names the operation, what was received, and the fix); and the conveniences that go with them:
the CLI's --argnums and user tracebacks, fnp.at on plain arrays, schedules used as numbers,
weight-decay masks."""
from __future__ import annotations

import dataclasses
import re
import textwrap

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import optim, tree
from funcgrad.inspect import cli


def _raises(exc, fun, *needles):
    """Call `fun`, expect `exc`, and check every needle is in the message; return it."""
    with pytest.raises(exc) as info:
        fun()
    msg = str(info.value)
    for needle in needles:
        assert needle in msg, f"{needle!r} not in: {msg}"
    return msg


# ------------------------------------------------------------- a tuple without has_aux


def _loss_and_metrics(x):
    return fnp.sum(x ** 2), fnp.mean(x)


@pytest.mark.parametrize("transform", ["grad", "value_and_grad", "jit(grad)", "grad(jit)"])
def test_tuple_output_without_has_aux_says_use_has_aux(transform):
    make = {"grad": lambda: fg.grad(_loss_and_metrics),
            "value_and_grad": lambda: fg.value_and_grad(_loss_and_metrics),
            "jit(grad)": lambda: fg.jit(fg.grad(_loss_and_metrics)),
            "grad(jit)": lambda: fg.grad(fg.jit(_loss_and_metrics))}[transform]
    name = "value_and_grad" if transform == "value_and_grad" else "grad"
    msg = _raises(TypeError, lambda: make()(np.ones(3)),
                  f"{name} requires a scalar output",
                  "_loss_and_metrics returned a tuple of 2 values (",
                  f"use {name}(f, has_aux=True)", "fg.jacrev or fg.vjp")
    assert re.search(r"\(f64\[\], f64\[\]\)", msg), msg     # what each value is
    # and the fix works
    g, aux = fg.grad(_loss_and_metrics, has_aux=True)(np.ones(3))
    np.testing.assert_allclose(g, 2 * np.ones(3))
    assert float(aux) == 1.0


def test_list_and_dict_outputs_are_named():
    _raises(TypeError, lambda: fg.grad(lambda x: [x.sum(), x])(np.ones(2)),
            "returned a list of 2 values (f64[], f64[2])", "has_aux=True")
    _raises(TypeError, lambda: fg.grad(lambda x: {"loss": x.sum()})(np.ones(2)),
            "grad requires a scalar output", "a dict with keys ['loss']", "has_aux=True")


def test_lambda_is_named_by_its_file_and_line():
    _raises(TypeError, lambda: fg.grad(lambda x: (x, x))(1.0),
            "the lambda at test_user_errors.py:")


def test_has_aux_with_a_triple_says_to_nest_the_aux():
    _raises(TypeError,
            lambda: fg.grad(lambda x: (x ** 2, x, x), has_aux=True)(1.0),
            "grad with has_aux=True requires the function to return a pair (output, aux)",
            "returned a tuple of 3 values", "return loss, (metric1, metric2)")


def test_a_function_without_return_is_caught():
    def loss(x):
        fnp.sum(x ** 2)          # forgot `return`

    _raises(TypeError, lambda: fg.grad(loss)(np.ones(2)),
            "grad requires the function to return a scalar array", "loss returned None",
            "`return`")


# ------------------------------------------------------- unregistered or unknown leaves


@dataclasses.dataclass
class Unregistered:
    w: np.ndarray


@tree.register_dataclass
@dataclasses.dataclass
class Registered:
    w: np.ndarray


class Opaque:
    def __init__(self, w):
        self.w = w


def test_unregistered_dataclass_as_a_leaf_says_register_it():
    _raises(TypeError, lambda: fg.grad(lambda p: fnp.sum(p.w))(Unregistered(np.ones(3))),
            "grad: argument 0 is an object of type Unregistered", "not an array or a number",
            "Unregistered is a dataclass that is not registered as a pytree node",
            "@funcgrad.tree.register_dataclass")
    # inside a container, the path says where
    _raises(TypeError,
            lambda: fg.grad(lambda p: fnp.sum(p["layer"].w))({"layer": Unregistered(np.ones(3))}),
            "argument 0['layer'] is an object of type Unregistered")
    # the fix works
    g = fg.grad(lambda p: fnp.sum(p.w))(Registered(np.ones(3)))
    assert isinstance(g, Registered)
    np.testing.assert_array_equal(g.w, np.ones(3))


def test_unknown_object_as_a_leaf_says_register_node_or_static():
    _raises(TypeError, lambda: fg.grad(lambda p: fnp.sum(p.w))(Opaque(np.ones(3))),
            "grad: argument 0 is an object of type Opaque",
            "funcgrad.tree.register_node(Opaque, flatten_fn, unflatten_fn)",
            "leave it out of argnums")
    _raises(TypeError, lambda: fg.grad(lambda x, mode: x * len(mode), argnums=1)(1.0, "abc"),
            "grad: argument 1 is an object of type str", "configuration, not data")


def test_unknown_leaf_hint():
    assert "register_dataclass" in tree.unknown_leaf_hint(Unregistered(1.0))
    assert "register_node(Opaque" in tree.unknown_leaf_hint(Opaque(1.0))
    assert "static" in tree.unknown_leaf_hint(len)


def test_jit_of_an_unregistered_dataclass_names_the_type():
    # (the message is jit's; it must at least name the type and say it is not an array)
    _raises(TypeError, lambda: fg.jit(lambda p: fnp.sum(p.w))(Unregistered(np.ones(3))),
            "Unregistered", "not an array")


# ---------------------------------------------------------------------- None for an array


def test_none_as_the_differentiated_argument():
    _raises(TypeError, lambda: fg.grad(lambda x: 1.0)(None),
            "grad: argument 0 is None, so there is nothing to differentiate",
            "pass an array", "argnums")
    _raises(TypeError, lambda: fg.grad(lambda x, y: x * y, argnums=1)(1.0, None),
            "grad: argument 1 is None")
    _raises(TypeError, lambda: fg.value_and_grad(lambda x, y: x, argnums=(0, 1))(1.0, None),
            "value_and_grad: argument 1 is None")


def test_none_used_as_an_array_inside_a_traced_function():
    def f(x, bias):
        return fnp.sum(x * bias)

    # (the message is the operation's: it must say None and point at the user's line)
    for transformed in (fg.jit(f), fg.grad(f)):
        _raises(TypeError, lambda: transformed(np.ones(2), None),   # noqa: B023
                "None", "not a valid funcgrad value", "test_user_errors.py")


# --------------------------------------------------------------------------- grad(f, x)


def test_grad_of_f_and_x_says_call_the_result():
    f = lambda x: fnp.sum(x ** 2)
    x = np.ones(3)
    _raises(TypeError, lambda: fg.grad(f, x),
            "grad: argnums must be an int or a tuple of ints", "got an array f64[3]",
            "grad(f)(x), not grad(f, x)")
    _raises(TypeError, lambda: fg.grad(f, 2.0),
            "got a float (2.0)", "grad(f)(x), not grad(f, x)")
    _raises(TypeError, lambda: fg.value_and_grad(f, x),
            "value_and_grad: argnums must be an int", "value_and_grad(f)(x)")
    _raises(TypeError, lambda: fg.jacrev(f, x)(x), "jacrev: argnums must be an int",
            "jacrev(f)(x), not jacrev(f, x)")
    # an int argnums past the arguments: a hint at the same mistake
    _raises(ValueError, lambda: fg.grad(f, 3)(x),
            "grad: argnums=3 is out of range for a function called with 1 positional",
            "grad(f)(x) rather than grad(f, x)")
    # the right spellings
    assert fg.grad(f, 0)(x).shape == (3,)
    assert fg.grad(lambda a, b: a * b, np.int64(1))(2.0, 3.0) == 2.0
    assert fg.grad(lambda a, b: a * b, [0, 1])(2.0, 3.0) == (3.0, 2.0)


def test_grad_of_a_value_instead_of_a_function():
    f = lambda x: fnp.sum(x ** 2)
    _raises(TypeError, lambda: fg.grad(f(np.ones(3))),
            "grad expects a function to transform, but got a NumPy scalar f64[]",
            "grad(loss)(w), not grad(loss(w))")
    _raises(TypeError, lambda: fg.value_and_grad(np.ones(3)),
            "value_and_grad expects a function to transform, but got an array f64[3]")


# ---------------------------------------------------------- a schedule where a number is due


def test_schedule_where_a_number_is_required():
    lr = optim.cosine_decay(0.1, decay_steps=100)
    _raises(TypeError, lambda: optim.adam(lr, b1=lr),
            "adam: b1 must be a number, got the learning-rate schedule "
            "cosine_decay(init_value=0.1, decay_steps=100, alpha=0.0)",
            "accepted as `lr` only", "schedule(n)")
    _raises(TypeError, lambda: optim.clip_by_global_norm(lr), "max_norm must be a number")
    g = np.ones(3)
    needles = ("a learning-rate schedule, cosine_decay(init_value=0.1", "was used as a number",
               "schedule(step)", "pass the schedule as `lr` to an optimiser")
    _raises(TypeError, lambda: g - lr * g, *needles, "(in *)")
    _raises(TypeError, lambda: g * lr, *needles)
    _raises(TypeError, lambda: 1.0 - lr, *needles, "(in -)")
    _raises(TypeError, lambda: float(lr), *needles, "float()")
    _raises(TypeError, lambda: np.asarray(lr), *needles)
    _raises(TypeError, lambda: f"{lr:.3f}", *needles)
    # in traced code too (a hand-written update inside jit or grad)
    _raises(TypeError, lambda: fg.jit(lambda p, g: p - lr * g)(g, g), *needles)
    _raises(TypeError, lambda: fg.grad(lambda p: fnp.sum(p * lr))(g), *needles)
    # what works: calling it, printing it, passing it as lr
    assert float(lr(np.asarray(0))) == pytest.approx(0.1)
    assert repr(lr) == "cosine_decay(init_value=0.1, decay_steps=100, alpha=0.0)"
    assert f"{lr}" == repr(lr)
    opt = optim.sgd(lr)
    updates, _ = opt.update(g, opt.init(g))
    np.testing.assert_allclose(updates, -0.1 * g)


def test_every_schedule_is_a_learning_rate_schedule():
    schedules = [optim.constant(0.1), optim.exponential_decay(0.1, 10, 0.5),
                 optim.cosine_decay(0.1, 10), optim.warmup_cosine_decay(0.0, 0.1, 2, 10),
                 optim.piecewise_constant(0.1, {5: 0.5})]
    for s in schedules:
        assert isinstance(s, optim.LRSchedule) and callable(s)
        with pytest.raises(TypeError, match="was used as a number"):
            s * 1.0
        opt = optim.adam(s)
        opt.update(np.ones(2), opt.init(np.ones(2)))


# -------------------------------------------------------------- weight-decay masks


def test_add_decayed_weights_with_masks():
    params = {"w": np.array([2.0, -1.0]), "b": np.array([3.0])}
    grads = {"w": np.zeros(2), "b": np.zeros(1)}
    for mask in ({"w": True, "b": False}, lambda p: tree.map(lambda a: a.shape != (1,), p)):
        opt = optim.chain(optim.add_decayed_weights(0.1, mask=mask), optim.sgd(1.0))
        updates, _ = opt.update(grads, opt.init(params), params)
        np.testing.assert_allclose(updates["w"], -0.1 * params["w"])
        np.testing.assert_array_equal(updates["b"], np.zeros(1))
    opt = optim.add_decayed_weights(0.1)
    np.testing.assert_allclose(opt.update(grads, opt.init(params), params)[0]["b"], [0.3])
    _raises(ValueError, lambda: opt.update(grads, opt.init(params)),
            "add_decayed_weights: update(grads, state, params) needs params")
    bad = optim.add_decayed_weights(0.1, mask={"w": True})
    _raises(ValueError, lambda: bad.update(grads, bad.init(params), params),
            "add_decayed_weights: the weight-decay mask must have the structure")


# -------------------------------------------------------------------------- fnp.at


def test_at_on_plain_arrays_is_out_of_place_numpy():
    x = np.arange(6.0).reshape(2, 3)
    x0 = x.copy()
    cases = [
        (fnp.at(x)[0, 1].set(9.0), lambda y: y.__setitem__((0, 1), 9.0)),
        (fnp.at(x)[:, 0].add(1.0), lambda y: y.__setitem__((slice(None), 0), y[:, 0] + 1)),
        (fnp.at(x)[1].multiply(2.0), lambda y: y.__setitem__(1, y[1] * 2)),
        (fnp.at(x)[1].divide(2.0), lambda y: y.__setitem__(1, y[1] / 2)),
        (fnp.at(x)[0].subtract(1.0), lambda y: y.__setitem__(0, y[0] - 1)),
        (fnp.at(x)[0].power(2.0), lambda y: y.__setitem__(0, y[0] ** 2)),
        (fnp.at(x)[0].min(1.5), lambda y: y.__setitem__(0, np.minimum(y[0], 1.5))),
        (fnp.at(x)[0].max(1.5), lambda y: y.__setitem__(0, np.maximum(y[0], 1.5))),
        (fnp.at(x)[[0, 0], [1, 1]].add(1.0), lambda y: np.add.at(y, ([0, 0], [1, 1]), 1.0)),
    ]
    for got, update in cases:
        want = x0.copy()
        update(want)
        assert type(got) is np.ndarray
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(x, x0)                       # never written to
    got = fnp.at(x)[1, 2].get()
    assert type(got) is np.ndarray and got.shape == () and got == 5.0
    np.testing.assert_array_equal(fnp.at([1.0, 2.0])[0].set(5.0), [5.0, 2.0])


def test_at_runs_the_same_function_traced_and_untraced():
    def f(x):
        y = fnp.at(x)[0].set(x[1] * 3.0)
        return fnp.at(y)[1:].add(y[0])

    x = np.array([1.0, 2.0, 3.0])
    plain = f(x)
    np.testing.assert_allclose(plain, [6.0, 8.0, 9.0])
    np.testing.assert_allclose(fg.jit(f)(x), plain)
    np.testing.assert_allclose(fg.vmap(f)(np.stack([x, x])), np.stack([plain, plain]))
    np.testing.assert_allclose(fg.grad(lambda x: fnp.sum(f(x)))(x), [0.0, 10.0, 1.0])
    # on a traced value fnp.at(x) is x.at
    assert fg.grad(lambda x: fnp.sum(fnp.at(x)[0].set(0.0) * x.at[1].set(0.0)))(x)[2] == 6.0
    # a plain array updated with a traced value is traced
    base = np.zeros(3)
    assert fg.grad(lambda v: fnp.sum(fnp.at(base)[1].set(v) ** 2))(3.0) == 6.0


# ------------------------------------------------------------------------ the CLI


USER_MODULE = textwrap.dedent('''\
    import funcgrad.numpy as fnp


    def helper(x):
        return fnp.sum(x) / missing_name    # BAD-LINE


    def loss(w, x):
        return helper(x @ w)


    def weighted(w, b, x):
        return fnp.sum((x @ w + b) ** 2)
''')


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "usermod.py").write_text(USER_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path / "usermod.py"


def test_cli_error_in_the_users_function_shows_the_users_file_and_line(user_module, capsys):
    assert cli.main(["inspect", "usermod:loss", "--args", "f64[3],f64[4,3]"]) == 1
    err = capsys.readouterr().err
    assert "NameError: name 'missing_name' is not defined" in err
    assert f'File "{user_module}", line 5, in helper' in err
    assert "# BAD-LINE" in err
    assert f'File "{user_module}", line 9, in loss' in err
    assert err.index("line 9, in loss") < err.index("line 5, in helper")   # innermost last
    assert "funcgrad/" not in err.replace(str(user_module), "")             # no library frames


def test_cli_argnums(user_module, capsys):
    spec = "f64[3],f64[],f64[4,3]"
    assert cli.main(["inspect", "usermod:weighted", "--args", spec, "--argnums", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# grad of usermod:weighted(f64[3], f64[], f64[4,3]) wrt argument(s) 1")
    assert re.search(r"in \(\w+\) \}", out)                   # one output: the scalar b's
    assert cli.main(["inspect", "usermod:weighted", "--args", spec, "--argnums", "0,1"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"in \(\w+, \w+\) \}", out)            # two gradients
    assert cli.main(["inspect", "usermod:weighted", "--args", spec, "--argnums", "3"]) == 2
    assert "argument 3 does not exist; --args gives 3 argument(s)" in capsys.readouterr().err
    assert cli.main(["inspect", "usermod:weighted", "--args", spec, "--argnums", "a"]) == 2
    assert "bad --argnums 'a'" in capsys.readouterr().err
    graph = cli.build_graph(lambda w, b: fnp.sum(w * b), [np.ones(2), np.ones(2)], grad=True,
                            argnums=(0, 1))
    assert len(graph.outvars) == 2


def test_cli_help_mentions_argnums(capsys):
    with pytest.raises(SystemExit):
        cli.main(["inspect", "--help"])
    assert "--argnums" in capsys.readouterr().out


def test_jit_and_vmap_name_an_unregistered_dataclass_and_the_fix():
    @dataclasses.dataclass
    class Params:
        w: np.ndarray

    loss = lambda p: fnp.sum(p.w ** 2)                  # noqa: E731
    with pytest.raises(TypeError, match="Params is a dataclass that is not registered") as e:
        fg.jit(loss)(Params(np.ones(2)))
    assert "register_dataclass" in str(e.value)
    with pytest.raises(TypeError, match="vmap: argument 0 is a Params, not an array") as e:
        fg.vmap(loss)(Params(np.ones((3, 2))))
    assert "register_dataclass" in str(e.value)


def test_jit_and_vmap_given_the_argument_instead_of_called_with_it():
    x = np.ones(2)
    with pytest.raises(TypeError, match=r"write jit\(f\)\(x\), not jit\(f, x\)"):
        fg.jit(lambda v: v, x)
    with pytest.raises(ValueError, match=r"write vmap\(f\)\(xs\), not vmap\(f, xs\)"):
        fg.vmap(lambda v: v, x)
    np.testing.assert_array_equal(fg.vmap(lambda v: v * 2, np.int64(0))(x), 2 * x)
