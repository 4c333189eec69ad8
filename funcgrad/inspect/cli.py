"""`python -m funcgrad inspect MODULE:FUNCTION --args 'f64[100],f64[]'`: print a function's graph.

Exit codes: 0 on success, 2 for a usage error (bad module, function, argument spec or option),
1 when tracing or rendering the function fails.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect as _pyinspect
import os
import re
import sys
import sysconfig
import traceback
from collections.abc import Callable

import numpy as np

import funcgrad as fg

from ..core.types import dtype_short
from .cost import format_bytes, format_count, graph_cost
from .html import graph_to_html
from .render import graph_to_dot, run_dot

DTYPES = {"f16": np.float16, "f32": np.float32, "f64": np.float64, "i32": np.int32,
          "i64": np.int64, "bool": np.bool_}
FORMATS = ("text", "dot", "svg", "html")
_SPEC = re.compile(r"^([a-z]+[0-9]*)\[([0-9,\s]*)\]$")

EXAMPLES = """examples:
  python -m funcgrad inspect mymodel:loss --args 'f64[3],f64[],f64[100,3],f64[100]'
  python -m funcgrad inspect mymodel:loss --args 'f64[3],f64[],f64[100,3],f64[100]' --grad
  python -m funcgrad inspect mymodel:loss --args 'f64[3],f64[],f64[100,3],f64[100]' \
      --argnums 0,1
  python -m funcgrad inspect path/to/file.py:f --args 'f32[5,3]' --format html -o f.html

argument specs: DTYPE[SHAPE] separated by commas, DTYPE one of f16 f32 f64 i32 i64 bool;
  'f32[5,3]' is a 5x3 float32 matrix, 'f64[]' a float64 scalar. Arguments are filled with
  seeded random values (standard normal floats, integers in [0, 10), random booleans).
"""


class UsageError(Exception):
    """A mistake on the command line (exit code 2)."""


def parse_arg_specs(text: str) -> list[tuple[tuple[int, ...], np.dtype]]:
    """Parse 'f64[100,3],f64[]' into [((100, 3), float64), ((), float64)].

    >>> parse_arg_specs("f32[5,3], bool[]")
    [((5, 3), dtype('float32')), ((), dtype('bool'))]
    """
    parts, depth, cur = [], 0, ""
    for ch in text:                       # split on the commas outside brackets
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += (ch == "[") - (ch == "]")
        cur += ch
    parts.append(cur)
    if len(parts) == 1 and not parts[0].strip():
        return []
    specs = []
    for part in parts:
        p = part.strip()
        m = _SPEC.match(p)
        if m is None or m.group(1) not in DTYPES:
            why = (f"unknown dtype {m.group(1)!r}" if m is not None
                   else "expected DTYPE[SHAPE], like f32[5,3] or f64[] for a scalar")
            raise UsageError(f"bad argument spec {p!r} in --args {text!r}: {why}; dtypes are "
                             f"{', '.join(DTYPES)}")
        dims = [d.strip() for d in m.group(2).split(",")] if m.group(2).strip() else []
        if any(not d for d in dims):
            raise UsageError(f"bad argument spec {p!r}: empty dimension in the shape")
        specs.append((tuple(int(d) for d in dims), np.dtype(DTYPES[m.group(1)])))
    return specs


def random_args(specs, seed: int = 0) -> list[np.ndarray]:
    """Seeded random arrays of the given shapes and dtypes.

    >>> [a.shape for a in random_args([((2, 3), np.dtype("f8")), ((), np.dtype("i4"))])]
    [(2, 3), ()]
    """
    rng = np.random.default_rng(seed)
    out = []
    for shape, dtype in specs:
        if dtype.kind == "f":
            out.append(np.asarray(rng.standard_normal(shape), dtype))
        elif dtype.kind == "b":
            out.append(np.asarray(rng.random(shape) < 0.5))
        else:
            out.append(np.asarray(rng.integers(0, 10, shape), dtype))
    return out


def load_function(target: str) -> Callable:
    """Import MODULE:FUNCTION; MODULE is a dotted name importable from the current directory
    or a path to a .py file, FUNCTION may be dotted (`Class.method`).

    >>> load_function("os.path:join").__name__
    'join'
    """
    module_name, sep, fun_name = target.rpartition(":")
    if not sep or not module_name or not fun_name:
        raise UsageError(f"expected MODULE:FUNCTION (e.g. mymodel:loss or model.py:loss), "
                         f"got {target!r}")
    if module_name.endswith(".py") or "/" in module_name or os.sep in module_name:
        if not os.path.isfile(module_name):
            raise UsageError(f"no such file: {module_name!r}")
        name = os.path.splitext(os.path.basename(module_name))[0]
        spec = importlib.util.spec_from_file_location(name, os.path.abspath(module_name))
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            raise UsageError(f"importing {module_name!r} failed: {type(e).__name__}: {e}") from e
    else:
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            raise UsageError(f"cannot import module {module_name!r} ({e}); run from the "
                             f"directory that holds it, or pass a path to a .py file") from e
        except Exception as e:
            raise UsageError(f"importing {module_name!r} failed: {type(e).__name__}: {e}") from e
    obj = module
    for attr in fun_name.split("."):
        if not hasattr(obj, attr):
            names = sorted(n for n in dir(module) if not n.startswith("_")
                           and callable(getattr(module, n)))
            raise UsageError(f"module {module_name!r} has no function {fun_name!r}; it has: "
                             f"{', '.join(names) or '(no functions)'}")
        obj = getattr(obj, attr)
    if not callable(obj):
        raise UsageError(f"{target!r} is a {type(obj).__name__}, not a function")
    return obj


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m funcgrad",
                                     description="funcgrad command-line tools.")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub = subs.add_parser(
        "inspect", help="print or draw the graph of a function for given argument shapes",
        description="Trace MODULE:FUNCTION on random arguments of the given shapes and print "
                    "or write its graph (with source lines and a cost per equation).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub.add_argument("target", metavar="MODULE:FUNCTION",
                     help="a dotted module importable from the current directory, or a path "
                          "to a .py file, then ':' and the function's name")
    sub.add_argument("--args", default="", metavar="SPECS",
                     help="argument types, e.g. 'f64[100,3],f64[]' (see below)")
    sub.add_argument("--grad", action="store_true",
                     help="show the gradient graph, with respect to argument 0 (or --argnums)")
    sub.add_argument("--argnums", metavar="I[,J...]", default=None,
                     help="the arguments to differentiate, counted from 0, e.g. 0 or 0,1 "
                          "(implies --grad)")
    sub.add_argument("--jit", action="store_true",
                     help="show the graph fg.jit compiles (after its passes)")
    sub.add_argument("--format", choices=FORMATS, default="text",
                     help="text (default), dot (Graphviz source), svg (needs Graphviz), "
                          "html (one self-contained page)")
    sub.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    sub.add_argument("--seed", type=int, default=0, help="seed for the random arguments")
    return parser


def build_graph(fun: Callable, args: list, grad: bool = False, jit: bool = False,
                argnums: int | tuple[int, ...] = 0):
    """The Graph that `inspect` shows: of `fun`, `grad(fun, argnums)`, or what `jit` compiles.

    >>> import funcgrad.numpy as fnp
    >>> g = build_graph(lambda x, y: fnp.sum(x * y), [np.ones(2), np.ones(2)], grad=True,
    ...                 argnums=(0, 1))
    >>> len(g.outvars)
    2
    """
    target = fg.grad(fun, argnums=argnums) if grad else fun
    if jit:
        jitted = fg.jit(target)
        lower = getattr(jitted, "lower", None)
        if lower is None:
            raise RuntimeError("--jit needs fg.jit(f).lower(*args), which this version of "
                               "funcgrad does not provide")
        return lower(*args).graph
    return fg.make_graph(target)(*args)


def parse_argnums(text: str, nargs: int) -> int | tuple[int, ...]:
    """Parse --argnums: '1' -> 1 (one gradient), '0,1' -> (0, 1) (a tuple of gradients).

    >>> parse_argnums("1", 2), parse_argnums("0, 1", 2)
    (1, (0, 1))
    """
    parts = [p.strip() for p in text.split(",")]
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        raise UsageError(f"bad --argnums {text!r}: expected argument positions counted from "
                         f"0, separated by commas, like 0 or 0,1") from None
    for i in nums:
        if not 0 <= i < nargs:
            raise UsageError(f"--argnums {text!r}: argument {i} does not exist; --args gives "
                             f"{nargs} argument(s), numbered 0 to {nargs - 1}")
    if len(set(nums)) != len(nums):
        raise UsageError(f"--argnums {text!r} names an argument twice")
    return nums[0] if len(nums) == 1 and "," not in text else tuple(nums)


def _summary_line(graph) -> str:
    c = graph_cost(graph)
    return (f"# {len(graph.eqns)} equations, {format_count(c['flops'])} FLOPs, "
            f"{format_bytes(c['bytes_read'])} read, {format_bytes(c['bytes_written'])} "
            f"written, peak live memory {format_bytes(c['peak_bytes'])}")


def run_inspect(ns: argparse.Namespace) -> tuple[str | bytes, str]:
    """Do the work of `inspect`; returns (output, title). Raises UsageError or other errors."""
    specs = parse_arg_specs(ns.args)
    fun = load_function(ns.target)
    try:
        _pyinspect.signature(fun).bind(*range(len(specs)))
    except TypeError as e:
        raise UsageError(f"{ns.target} cannot be called with {len(specs)} argument(s) from "
                         f"--args: {e}") from None
    except ValueError:
        pass                                  # no signature (a builtin): just try it
    grad = ns.grad or ns.argnums is not None
    argnums = 0 if ns.argnums is None else parse_argnums(ns.argnums, len(specs))
    if grad and not specs:
        raise UsageError("--grad differentiates with respect to argument 0; give it in --args")
    args = random_args(specs, ns.seed)
    graph = build_graph(fun, args, grad, ns.jit, argnums)
    wrt = "" if ns.argnums is None else f" wrt argument(s) {ns.argnums.replace(' ', '')}"
    title = (f"{'grad of ' if grad else ''}{'jit of ' if ns.jit else ''}{ns.target}"
             f"({', '.join(_short(s) for s in specs)}){wrt}")
    if ns.format == "text":
        return f"# {title}\n{graph.pretty(source=True)}\n{_summary_line(graph)}\n", title
    if ns.format == "dot":
        return graph_to_dot(graph, title), title
    if ns.format == "svg":
        return run_dot(graph_to_dot(graph, title), "svg"), title
    return graph_to_html(graph, title=title), title


def _short(spec) -> str:
    shape, dtype = spec
    return f"{dtype_short(dtype)}[{','.join(map(str, shape))}]"


def user_traceback(err: BaseException) -> str:
    """The frames of `err`'s traceback in the user's code (not funcgrad's, NumPy's or the
    standard library's), innermost last, as Python prints them: where the mistake is.

    >>> try:
    ...     fg.grad(lambda x: x / "a")(1.0)
    ... except TypeError as e:
    ...     print(user_traceback(e).splitlines()[0])   # doctest: +ELLIPSIS
    the error was raised in your code at (innermost last):
    """
    frames = [f for f in traceback.extract_tb(err.__traceback__)
              if not _is_library_file(f.filename)]
    if not frames:
        return ""
    lines = ["the error was raised in your code at (innermost last):\n"]
    lines += traceback.format_list(frames[-5:])
    return "".join(lines)


_LIBRARY_DIRS = tuple(os.path.dirname(os.path.abspath(m.__file__)) + os.sep for m in (fg, np))
_STDLIB_DIR = os.path.abspath(sysconfig.get_paths()["stdlib"]) + os.sep


def _is_library_file(filename: str) -> bool:
    path = os.path.abspath(filename)
    return (path.startswith(_LIBRARY_DIRS) or filename.startswith(("<frozen", "<funcgrad"))
            or (path.startswith(_STDLIB_DIR) and "-packages" + os.sep not in path))


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m funcgrad`; returns the exit code.

    >>> main(["inspect", "os.path:join", "--args", "f64[2"])   # doctest: +SKIP
    2
    """
    parser = make_parser()
    ns = parser.parse_args(argv)              # exits with code 2 on bad options
    if ns.command != "inspect":
        parser.print_help()
        return 2
    try:
        out, _ = run_inspect(ns)
    except UsageError as e:
        print(f"python -m funcgrad inspect: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        print(f"python -m funcgrad inspect: {type(e).__name__}: {e}", file=sys.stderr)
        where = user_traceback(e)
        if where:
            print(where, file=sys.stderr, end="")
        return 1
    if ns.output:
        mode = "wb" if isinstance(out, bytes) else "w"
        with open(ns.output, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as f:
            f.write(out)
        print(f"wrote {ns.output}", file=sys.stderr)
    elif isinstance(out, bytes):
        sys.stdout.buffer.write(out)
        sys.stdout.flush()
    else:
        sys.stdout.write(out)
    return 0
