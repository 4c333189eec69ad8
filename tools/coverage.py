"""The coverage table: every NumPy and SciPy name funcgrad mirrors, and what funcgrad does with it.

    python tools/coverage.py            # writes docs/coverage.md
    python tools/coverage.py --check    # exits 1 if docs/coverage.md is not what it would write

Nothing here is a hand-kept list of statuses: each function is *probed*. The script calls it on
small sample arguments under funcgrad's transformations and records what happened:

    differentiable   traces (jit), and jvp and vjp both give a derivative of a float output
    forward only     traces, but has no derivative (integer/boolean outputs, or it refuses one)
    NumPy's own      funcgrad re-exports NumPy's function: it takes constants (shapes, dtypes)
    not supported    funcgrad has no such name

Which names are listed: every public function of numpy, numpy.linalg and numpy.fft (what NumPy
is there to do with arrays; I/O, printing, dates, errstate and the like are left out), and for
SciPy the submodules funcgrad mirrors (linalg, special, signal, stats distributions, optimize),
each name funcgrad has plus a count of the ones it has not.
"""
from __future__ import annotations

import argparse
import inspect
import sys
import warnings
from pathlib import Path

import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp
import funcgrad.scipy as fsp
from funcgrad import tree

OUT = Path(__file__).resolve().parents[1] / "docs" / "coverage.md"

# NumPy names that are not array computations (I/O, printing, dates, runtime configuration,
# classes and helpers for writing NumPy itself): left out of the table.
NOT_ARRAY_MATH = {
    "array2string", "array_repr", "array_str", "base_repr", "binary_repr", "busday_count",
    "busday_offset", "busdaycalendar", "datetime_as_string", "datetime_data",
    "format_float_positional", "format_float_scientific", "from_dlpack", "frombuffer",
    "fromfile", "fromfunction",
    "fromiter", "frompyfunc", "fromregex", "fromstring", "genfromtxt", "get_include",
    "get_printoptions", "getbufsize", "geterr", "geterrcall", "info", "is_busday", "load",
    "loadtxt", "printoptions", "save", "savetxt", "savez", "savez_compressed", "set_printoptions",
    "setbufsize", "seterr", "seterrcall", "show_config", "show_runtime", "test", "typename",
    "memmap", "nditer", "nested_iters", "ndenumerate", "ndindex", "errstate", "flatiter",
    "broadcast", "recarray", "record", "matrix", "bmat", "asmatrix", "poly1d", "vectorize",
    "ufunc", "dtype", "finfo", "iinfo", "ndarray", "mintypecode", "common_type", "isnat",
    "packbits", "unpackbits", "require", "asfortranarray", "ascontiguousarray", "isfortran",
    "einsum_path", "copyto", "may_share_memory", "shares_memory", "asarray_chkfinite",
}

rng = np.random.default_rng(0)
x3, y3, z3 = (rng.uniform(0.2, 0.8, 3) for _ in range(3))
m33 = np.eye(3) * 2.0 + rng.uniform(-0.3, 0.3, (3, 3))
n33 = np.eye(3) * 1.5 + rng.uniform(-0.3, 0.3, (3, 3))
# Candidate argument lists, tried in order; the first that works decides.
i3, j3 = np.array([3, 5, 12]), np.array([1, 2, 8])
CANDIDATES = [(x3,), (m33,), (x3, y3), (m33, n33), (m33, x3), (x3, 2), (m33, 1), (m33, 0, 1),
              (x3, y3, z3), (m33, (9,)), (x3, [0, 1]), (x3, 0.5), (m33, 0.5), (0.5, x3),
              (0.3, 0.6, x3), (i3,), (i3, j3), (m33, 2, 0.5), (x3, 1, 0.5), (i3 > 4,),
              (i3 > 4, j3 > 1)]
# Functions whose sample arguments are not among the candidates.
SAMPLES = {
    "choose": (np.array([0, 1, 0]), [x3, y3]),
    "piecewise": (x3, [x3 < 0.5], [lambda v: v * 2.0, lambda v: v]),
    "select": ([x3 < 0.5], [x3]),
    "where": (x3 < 0.5, x3, y3),
    "put_along_axis": (x3, np.array([0]), 1.0, 0),
    "apply_along_axis": (lambda v: v.sum(), 0, m33),
    "apply_over_axes": (fnp.sum, m33, [0]),
    "insert": (x3, 1, 0.5),
    "fill_diagonal": (m33, 0.5),
    "histogram2d": (x3, y3),
    "histogramdd": (m33,),
    "block": ([[m33, n33]],),
    "ravel_multi_index": ((np.array([0, 1]), np.array([1, 2])), (3, 3)),
    "unravel_index": (np.array([1, 5]), (3, 3)),
    "tensorsolve": (m33, x3),
    "einsum": ("ij,jk->ik", m33, n33),
    "multi_dot": ([m33, n33, m33],),
    "tensorinv": (np.eye(4).reshape(2, 2, 2, 2) + 0.1, 2),
    "broadcast_to": (x3, (2, 3)),
    "full": ((2, 3), x3),
    "result_type": (x3, i3),
    "multigammaln": (x3 + 3.0, 2),
    "astype": (x3, np.float32),
    "dsplit": (rng.uniform(0.2, 0.8, (2, 2, 4)), 2),
    "mask_indices": (3, np.triu),
    "tril_indices": (3,), "triu_indices": (3,),
    "polyfit": (x3, y3, 1),
}
_chol = np.linalg.cholesky(m33 @ m33.T)
_lu = (np.triu(m33) + np.tril(n33, -1), np.array([0, 1, 2]))
# Functions that take a structure (a factorisation's tuple): probed through an adapter taking
# the structure's arrays as arguments.
ADAPT = {
    "fill_diagonal": (lambda fn: lambda a: fn(a, 0.5, inplace=False), (m33,)),
    "put_along_axis": (lambda fn: lambda a, v: fn(a, np.array([[0], [1], [2]]), v, axis=1,
                                                  inplace=False), (m33, x3[:, None])),
    "cho_solve": (lambda fn: lambda c, b: fn((c, True), b), (_chol, x3)),
    "lu_solve": (lambda fn: lambda lu, b: fn((lu, _lu[1]), b), (_lu[0], x3)),
}


def _leaves_float(out) -> bool:
    return any(np.issubdtype(np.result_type(v), np.inexact) for v in tree.leaves(out))


def _try(fn, args):
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return True, fn(*args)
    except Exception:       # noqa: BLE001 - a probe: any failure means "not with these"
        return False, None


def _derivative_ok(fn, args, i) -> bool:
    """jvp and vjp of fn with respect to args[i] alone both work."""
    f = lambda v: fn(*args[:i], v, *args[i + 1:])       # noqa: E731
    fwd, _ = _try(lambda: fg.jvp(f, (args[i],), (np.ones_like(args[i]),)), ())
    rev, _ = _try(lambda: fg.vjp(f, args[i]), ())
    return fwd and rev


def _param_name(fn, i: int) -> str:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return f"argument {i}"
    if i < len(params) and params[i].kind in (params[i].POSITIONAL_ONLY,
                                              params[i].POSITIONAL_OR_KEYWORD):
        return f"`{params[i].name}`"
    return f"argument {i}"


def probe(fn, name: str) -> str:
    """What funcgrad does with `fn`, found by calling it (see the module docstring)."""
    if str(getattr(fn, "__module__", "")).startswith("numpy"):
        return "NumPy's own"
    if name in ADAPT:
        adapter, args = ADAPT[name]
        fn, candidates = adapter(fn), [args]
    else:
        candidates = [SAMPLES[name]] if name in SAMPLES else CANDIDATES
    for args in candidates:
        # float arrays are traced; everything else (ints, shapes, axes) is a constant
        traced = [i for i, a in enumerate(args)
                  if isinstance(a, np.ndarray) and a.dtype.kind == "f"]

        def g(*values, args=args, traced=traced):
            full = list(args)
            for i, v in zip(traced, values):
                full[i] = v
            return fn(*full)
        ok, out = _try(fg.jit(g), [args[i] for i in traced])
        if not ok:
            continue
        if not traced or not _leaves_float(out):
            return "forward only"
        wrt = [i for i in traced if _derivative_ok(fn, list(args), i)]
        if len(wrt) == len(traced):
            return "differentiable"
        if not wrt:
            return "forward only"
        return "differentiable in " + ", ".join(_param_name(fn, i) for i in wrt)
    if any(_try(fn, args)[0] for args in candidates):
        return "concrete values only"
    try:
        fn(x3.copy(), [0], [1.0])
    except TypeError as err:
        if "in place" in str(err):
            return "refused: writes in place (the error names the functional form)"
    except Exception:       # noqa: BLE001 - a probe
        pass
    return "traces (probe needs arguments)"


def _public(module) -> list[str]:
    names = getattr(module, "__all__", None) or dir(module)
    return sorted(n for n in names if not n.startswith("_"))


def numpy_rows(np_module, fg_module, prefix: str) -> list[tuple[str, str]]:
    rows = []
    for name in _public(np_module):
        obj = getattr(np_module, name, None)
        if name in NOT_ARRAY_MATH or not callable(obj) or inspect.isclass(obj) or \
                inspect.ismodule(obj):
            continue
        mine = getattr(fg_module, name, None)
        rows.append((f"{prefix}{name}", "not supported" if mine is None else probe(mine, name)))
    return rows


def scipy_rows(fg_module, prefix: str, every: bool = False) -> list[tuple[str, str]]:
    """funcgrad's functions of one SciPy module; with `every`, also each public function of
    SciPy's module that funcgrad lacks (as "not supported")."""
    rows = []
    for name in _public(fg_module):
        obj = getattr(fg_module, name)
        if inspect.ismodule(obj) or not callable(obj):
            continue
        rows.append((f"{prefix}{name}", probe(obj, name)))
    if every:
        theirs = _scipy_module(prefix.rstrip("."))
        ours = {r[0] for r in rows}
        rows += [(f"{prefix}{n}", "not supported") for n in _public(theirs)
                 if f"{prefix}{n}" not in ours and callable(getattr(theirs, n))
                 and not inspect.isclass(getattr(theirs, n))
                 and not inspect.ismodule(getattr(theirs, n))]
        rows.sort()
    return rows


def _scipy_module(name: str):
    import importlib
    return importlib.import_module(name)


def _others(module_name: str, ours: list[str], kind) -> int:
    """How many public names of SciPy's module of this kind funcgrad lacks."""
    theirs = _scipy_module(module_name)
    return sum(1 for n in _public(theirs) if n not in ours and kind(getattr(theirs, n)))


def stats_rows() -> list[tuple[str, str]]:
    rows = []
    for dist in _public(fsp.stats):
        module = getattr(fsp.stats, dist)
        for method in _public(module):
            fn = getattr(module, method)
            if callable(fn) and not inspect.ismodule(fn) and not inspect.isclass(fn):
                rows.append((f"scipy.stats.{dist}.{method}", probe(fn, method)))
    return rows


def _scipy_version() -> str:
    try:
        import scipy
    except ImportError:
        return "(not installed)"
    return scipy.__version__


def table() -> str:
    sections = [("numpy", numpy_rows(np, fnp, "numpy.")),
                ("numpy.linalg", numpy_rows(np.linalg, fnp.linalg, "numpy.linalg.")),
                ("numpy.fft", numpy_rows(np.fft, fnp.fft, "numpy.fft.")),
                ("scipy.linalg", scipy_rows(fsp.linalg, "scipy.linalg.", every=True)),
                ("scipy.special", scipy_rows(fsp.special, "scipy.special.", every=True)),
                ("scipy.signal", scipy_rows(fsp.signal, "scipy.signal.")),
                ("scipy.stats", stats_rows()),
                # minimize is not traced: it drives SciPy with funcgrad's derivatives
                ("scipy.optimize", [(f"scipy.optimize.{n}", "uses funcgrad's derivatives")
                                    for n in _public(fsp.optimize)
                                    if callable(getattr(fsp.optimize, n))])]
    every = [status for _, rows in sections for _, status in rows]
    supported = sum(not s.startswith(("not supported", "refused")) for s in every)
    differentiable = sum(s.startswith("differentiable") for s in every)
    own = every.count("NumPy's own")
    lines = ["# Coverage", "",
             "Generated by `python tools/coverage.py` from what each function does when "
             "called (the\nscript's docstring says how); `tests/test_coverage.py` checks it "
             "is current. Do not edit by hand.", "",
             f"Probed with NumPy {np.__version__}, SciPy {_scipy_version()}.", "",
             f"**{supported} of {len(every)} names supported; "
             f"{differentiable} differentiable (in all their float arguments or some), "
             f"{every.count('forward only')} forward only, "
             f"{own} NumPy's own (constant "
             f"inputs), {len(every) - supported} not supported or refused.**", ""]
    notes = {
        "numpy": "Left out, as not array computations (I/O, printing, dates, configuration, "
                 "classes): " + ", ".join(f"`{n}`" for n in sorted(NOT_ARRAY_MATH)) + ".",
        "scipy.signal": f"SciPy's other {_others('scipy.signal', _public(fsp.signal), callable)}"
                        f" scipy.signal functions (filters, spectral analysis, windows, ...) are "
                        f"not supported.",
        "scipy.stats": f"SciPy's other "
                       f"{_others('scipy.stats', _public(fsp.stats), _is_distribution)} "
                       f"distributions and its statistical tests are not supported.",
    }
    for title, rows in sections:
        counts = {s: sum(r[1] == s for r in rows) for s in sorted({r[1] for r in rows})}
        lines += [f"## {title}", "", ", ".join(f"{n} {s}" for s, n in counts.items()), ""]
        if title in notes:
            lines += [notes[title], ""]
        lines += ["| name | status |", "|---|---|"]
        lines += [f"| `{name}` | {status} |" for name, status in rows]
        lines.append("")
    return "\n".join(lines)


def _is_distribution(obj) -> bool:
    return hasattr(obj, "logpdf") or hasattr(obj, "logpmf")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if docs/coverage.md differs from what would be written")
    args = parser.parse_args(argv)
    text = table()
    if args.check:
        if OUT.read_text() != text:
            print(f"{OUT} is out of date: run python tools/coverage.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(text.split("\n")[7])
    return 0


if __name__ == "__main__":
    sys.exit(main())
