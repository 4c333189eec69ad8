"""JAX as an external oracle: `python -m tests.fuzz --oracle jax` (development only).

Every fuzzed program is printed as Python source over `fnp` (funcgrad.numpy) and `fg`
(funcgrad). `compile_jax` runs that same source with `fnp` bound to `jax.numpy` and `fg` to
`jax` (`cond`, `switch`, `scan`, `fori_loop` from `jax.lax`), and `check` compares, in float64
(the program's float64 variant, `jax_enable_x64` on), funcgrad's eager

- values `f(x)`,
- gradient of the other oracles' scalar loss sum_i <f(x)_i, W_i>,
- a JVP `jvp(f, x, t)`,
- a Hessian-vector product `jvp(grad(loss), x, t)` (forward over reverse),

with JAX's, to 1e-9 relative (scaled like `oracles.close`, dtypes compared too). A disagreement
is a mismatch of the oracle "jax". The JAX side is one `jax.jit` of all four (one XLA compile per
program: eager JAX compiles each primitive for each new shape, several seconds a program); set
`JIT = False` to run it eagerly. JAX is never needed by the package, the test suite or CI:
importing this module does not import JAX (the first `check` does), and only
`python -m tests.fuzz --oracle jax` registers the oracle.

Known semantic differences are listed once, in DIFFERENCES, each with a one-line reason; each
is detected per program *at its arguments* (`differences_at`: the float64 program rerun on
NumPy with recording functions) and only then excuses a mismatch confined to the derivative
comparisons it can change. Spelling differences (names jnp lacks or spells differently, a bare
list as an index) are shimmed in `_namespaces` and `_respell`: they change how the source is
run, never what it means.
"""
from __future__ import annotations

import collections
import importlib.util
import re
import types
from collections.abc import Callable

import numpy as np

# ---------------------------------------------------------------- known differences
# name -> (the comparisons it may change, one-line reason). Each is detected by
# `differences_at` at the program's own float64 arguments (a point where it occurs) and only
# then excuses a mismatch confined to those comparisons; one that does not occur there excuses
# nothing. Values are excused only for a difference met inside a nested `fg.grad` (where
# values are derivatives).
DIFFERENCES: dict[str, tuple[tuple[str, ...], str]] = {
    # deliberate: equally valid choices at points where the derivative is not defined
    "tie": (("grad", "jvp", "hvp"),
            "at a tie (maximum/minimum/fmax/fmin/clip of equal values, max/min over a repeated "
            "extremum, sort/argsort of equal entries) any convex combination is a valid "
            "subgradient; the two libraries may split it differently"),
    "abs_at_zero": (("grad", "jvp", "hvp"),
                    "d|x|/dx at x = 0 (abs, fabs, norm ord=1/inf): funcgrad takes sign(0) = 0, "
                    "JAX select(x >= 0) = 1; both are subgradients"),
    "nan_safe_zero": (("grad", "jvp", "hvp"),
                      "norm of a zero vector, std at zero variance: funcgrad's derivative is "
                      "NaN-safe (0), JAX's is nan (0/0)"),
    # JAX-side quirks (funcgrad has the mathematically right number)
    "jax_hypot_tie": (("hvp",),
                      "JAX computes hypot through max(|x|,|y|) and min(|x|,|y|), so its second "
                      "derivative at |x| == |y| is wrong (0 for hypot(x, 0.5) at 0.5)"),
    "jax_zero_power_at_zero": (("grad", "jvp", "hvp"),
                               "d/dx x**0.0 at x = 0: JAX computes 0 * x**-1 = nan; x**0 is "
                               "constant, funcgrad gives 0"),
    "jax_angle_at_zero": (("grad", "jvp", "hvp"),
                          "d angle(x)/dx at real x = 0: JAX differentiates arctan2(0, x), nan; "
                          "angle of a real is piecewise constant, funcgrad gives 0"),
}

# Programs skipped per difference in this process (reported by `python -m tests.fuzz`).
EXCUSED: collections.Counter = collections.Counter()


def available() -> bool:
    """Whether JAX can be imported (without importing it)."""
    return importlib.util.find_spec("jax") is not None


# ---------------------------------------------------------------- running the source on JAX

_state: dict = {}


def _jax():
    """Import JAX (float64 on), once; the module plus the `fnp` and `fg` namespaces."""
    if not _state:
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        from jax.scipy.special import logsumexp
        _state.update(jax=jax, jnp=jnp, **_namespaces(jax, jnp, logsumexp))
    return _state


class _Namespace(types.SimpleNamespace):
    """`base`'s attributes, with the ones given overriding them."""

    def __init__(self, base, **extra):
        super().__init__(**extra)
        object.__setattr__(self, "_base", base)

    def __getattr__(self, name):
        return getattr(object.__getattribute__(self, "_base"), name)


def _namespaces(jax, jnp, logsumexp) -> dict:
    def take(a, indices, axis=None, **kw):        # jnp.take refuses Python lists
        return jnp.take(a, jnp.asarray(indices), axis=axis, **kw)

    def scan(f, init, xs=None, length=None, reverse=False):
        return jax.lax.scan(f, init, xs, length=length, reverse=reverse)

    # (jnp.fix is gone since JAX 0.10: trunc is the same function)
    fnp = _Namespace(jnp, logsumexp=logsumexp, take=take, fix=jnp.trunc)
    # lax.switch clamps the index into range, as funcgrad (and the NumPy reference) do.
    fg = types.SimpleNamespace(cond=jax.lax.cond, switch=jax.lax.switch, scan=scan,
                               fori_loop=jax.lax.fori_loop, vmap=jax.vmap, jit=jax.jit,
                               checkpoint=jax.checkpoint, grad=jax.grad,
                               stop_gradient=jax.lax.stop_gradient)
    import jax.scipy.linalg
    import jax.scipy.signal
    import jax.scipy.special
    import jax.scipy.stats
    fsp = types.SimpleNamespace(linalg=jax.scipy.linalg, special=jax.scipy.special,
                                stats=jax.scipy.stats, signal=jax.scipy.signal)
    return {"fnp": fnp, "fg": fg, "fsp": fsp}


# `x[[0, -1]]`: NumPy reads a bare list as an integer array, JAX refuses it (a list inside a
# tuple, `x[[0, 1], :]`, JAX accepts).
_BARE_LIST_INDEX = re.compile(r"(?<=[\w\])])\[(\[-?\d+(?:, -?\d+)*\])\]")


def _respell(source: str) -> str:
    return _BARE_LIST_INDEX.sub(r"[np.asarray(\1)]", source)


_counter = [0]
JIT = True     # compile the JAX side (one XLA program per fuzzed program); False: eager JAX


def compile_jax(source: str) -> Callable:
    """The function `f` that `source` defines, run over JAX (float64 enabled).

    >>> f = compile_jax("def f(x0):\\n    return fnp.sin(x0) * x0[[0]]\\n")
    >>> bool(f(np.array([0.5]))[0] == np.sin(0.5) * 0.5)
    True
    """
    import linecache
    s = _jax()
    src = _respell(source)
    _counter[0] += 1
    filename = f"<jax fuzz program {_counter[0]}>"
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    ns = {"np": np, "fnp": s["fnp"], "fg": s["fg"], "fsp": s["fsp"]}
    exec(compile(src, filename, "exec"), ns)
    return ns["f"]


# ---------------------------------------------------------------- detecting the differences

def _reduced_ties(a, axis) -> bool:
    """Some slice along `axis` has its extremum more than once (max or min)."""
    a = np.asarray(a)
    if a.size == 0:
        return False
    for ext in (np.max, np.min):
        hits = np.sum(a == ext(a, axis=axis, keepdims=True), axis=axis)
        if np.any(hits > 1):
            return True
    return False


def _sorted_ties(a, axis=-1) -> bool:
    a = np.asarray(a)
    if a.ndim == 0 or a.size == 0:
        return False
    s = np.sort(a, axis=axis)
    return bool(np.any(np.diff(s, axis=axis) == 0))


def _zero_slices(a, axis) -> bool:
    a = np.asarray(a)
    return a.size > 0 and bool(np.any(np.all(a == 0, axis=axis)))


def _norm_differences(x, ord=None, axis=None, *rest, **kw) -> set:
    if ord in (None, 2, "fro") and _zero_slices(x, axis):
        return {"nan_safe_zero"}
    if ord in (1, np.inf, -np.inf) and np.any(np.asarray(x) == 0):
        return {"abs_at_zero"}
    return set()


def _recording_numpy(found: set, depth: list):
    """NumPy's namespace whose functions with a known difference add to `found` the
    differences met (DIFFERENCES' keys) at the values they are called with, as
    (key, inside a nested grad: depth[0] > 0)."""
    from .programs import NP_FNP

    def watch(module, name, detect):
        fn = getattr(module, name)

        def wrapped(*args, **kwargs):
            try:
                found.update((d, depth[0] > 0) for d in detect(*args, **kwargs))
            except Exception:   # a funcgrad tracer (the reference's nested grad): see _grad
                pass
            return fn(*args, **kwargs)
        return wrapped

    def pairwise(a, b, *rest, **kw):
        return {"tie"} if np.any(np.asarray(a) == np.asarray(b)) else set()

    def reduced(a, axis=None, *rest, **kw):
        return {"tie"} if _reduced_ties(a, axis) else set()

    def clipped(a, lo=None, hi=None, *rest, **kw):
        a = np.asarray(a)
        return {"tie"} if np.any(a == lo) | np.any(a == hi) else set()

    def sorted_(a, axis=-1, *rest, **kw):
        return {"tie"} if _sorted_ties(a, axis) else set()

    def at_zero(a, *rest, **kw):
        return {"abs_at_zero"} if np.any(np.asarray(a) == 0) else set()

    def std(a, axis=None, *rest, **kw):
        a = np.asarray(a)
        return {"nan_safe_zero"} if a.size and np.any(np.var(a, axis=axis) == 0) else set()

    def hypot(a, b, *rest, **kw):
        return {"jax_hypot_tie"} if np.any(np.abs(a) == np.abs(b)) else set()

    def power(a, b, *rest, **kw):
        return {"jax_zero_power_at_zero"} if np.any((np.asarray(a) == 0) &
                                                    (np.asarray(b) == 0)) else set()

    def angle(a, *rest, **kw):
        return {"jax_angle_at_zero"} if np.any(np.asarray(a) == 0) else set()

    ns = types.SimpleNamespace(**vars(NP_FNP))
    for name in ("maximum", "minimum", "fmax", "fmin"):
        setattr(ns, name, watch(np, name, pairwise))
    for name in ("max", "min", "amax", "amin"):
        setattr(ns, name, watch(np, name, reduced))
    for name in ("sort", "argsort"):
        setattr(ns, name, watch(np, name, sorted_))
    for name in ("abs", "absolute", "fabs"):
        setattr(ns, name, watch(np, name, at_zero))
    for name, detect in (("clip", clipped), ("std", std), ("hypot", hypot),
                         ("power", power), ("float_power", power), ("angle", angle)):
        setattr(ns, name, watch(np, name, detect))
    ns.linalg = types.SimpleNamespace(**{k: getattr(np.linalg, k) for k in dir(np.linalg)
                                         if not k.startswith("_")})
    ns.linalg.norm = watch(np.linalg, "norm", _norm_differences)
    return ns


# `v0.max(axis=0)` bypasses the namespace: spelled `fnp.max(v0, axis=0)` for the detection run
# (`v0 ** 0.0` is not watched: the generator's powers have a positive base or an integer
# exponent).
_METHOD_REDUCTION = re.compile(r"\b(?!fnp\b|np\b)([A-Za-z_]\w*)\.(max|min|std)\(")


def differences_at(source64: str, args64: list) -> dict:
    """The DIFFERENCES the float64 program meets at `args64`, by running it on NumPy with
    recording functions (nested transformations run as in the NumPy reference): key -> the
    comparisons it may change. One met inside a nested `fg.grad` may change any of them, the
    program's values included (they are derivatives there)."""
    import funcgrad as fg

    from .programs import NP_FG, _np_fsp

    found: set = set()
    depth = [0]
    fnp = _recording_numpy(found, depth)

    def grad(fun):   # the reference's nested grad is funcgrad's: record on plain values first
        def g(x):
            depth[0] += 1
            try:
                fun(np.asarray(x))
            except Exception:   # x is a tracer (a grad inside a grad): recorded by the outer
                pass
            finally:
                depth[0] -= 1
            return fg.grad(fun)(x)
        return g

    fg_ns = types.SimpleNamespace(**{**vars(NP_FG), "grad": grad})
    src = _METHOD_REDUCTION.sub(r"fnp.\2(\1, ", source64)
    ns = {"np": np, "fnp": fnp, "fg": fg_ns, "fsp": _np_fsp()}
    with np.errstate(all="ignore"):
        exec(compile(src, "<difference detection>", "exec"), ns)
        ns["f"](*[np.array(a) for a in args64])
    met: dict = {}
    for d, nested in sorted(found):
        met[d] = tuple(dict.fromkeys(met.get(d, ()) + DIFFERENCES[d][0] +
                                     (_ALL if nested else ())))
    return met


_ALL = ("values", "grad", "jvp", "hvp")


# ---------------------------------------------------------------- the oracle

def check(c) -> None:
    """The "jax" oracle on an `oracles._Ctx`: raise AssertionError listing each quantity that
    differs from JAX (float64), unless a detected deliberate difference excuses it."""
    import funcgrad as fg
    import funcgrad.numpy as gnp

    from .oracles import _leaves, close_trees

    s = _jax()
    jax, jnp = s["jax"], s["jnp"]
    jf = compile_jax(c.source64)
    args = [np.array(a, np.float64) for a in c.args64]
    jargs = tuple(jnp.asarray(a) for a in args)
    tangents = tuple(np.asarray(t, np.float64) for t in c.tangents)
    weights = [np.asarray(w, np.float64) for w in c.weights]
    argnums = c.argnums

    def loss_of(f, mod):
        def loss(*xs):
            total = 0.0
            for o, w in zip(_leaves(f(*xs)), weights):
                total = total + mod.sum(o * w)
            return total
        return loss

    fg_loss, jax_loss = loss_of(c.f64, gnp), loss_of(jf, jnp)

    def everything(xs, ts):
        # All four in one function, compiled once: eager JAX compiles every primitive of a
        # new shape on its own, which costs seconds per program.
        return {"values": jf(*xs),
                "grad": tuple(jax.grad(jax_loss, argnums=argnums)(*xs)),
                "jvp": jax.jvp(jf, xs, ts)[1],
                "hvp": tuple(jax.jvp(jax.grad(jax_loss, argnums=argnums), xs, ts)[1])}

    ours = {
        "values": lambda: c.f64(*args),
        "grad": lambda: tuple(fg.grad(fg_loss, argnums=argnums)(*args)),
        "jvp": lambda: fg.jvp(c.f64, tuple(args), tangents)[1],
        "hvp": lambda: tuple(fg.jvp(fg.grad(fg_loss, argnums=argnums), tuple(args),
                                    tangents)[1]),
    }
    try:
        theirs = jax.tree_util.tree_map(
            np.asarray, (jax.jit(everything) if JIT else everything)(
                jargs, tuple(map(jnp.asarray, tangents))))
    except Exception as err:
        raise AssertionError(f"JAX raised {type(err).__name__}: {err}") from None
    problems = []
    differing = []
    for what, mine in ours.items():
        expected = theirs[what]
        try:
            got = mine()
        except Exception as err:
            problems.append(f"{what}: funcgrad raised {type(err).__name__}: {err}")
            continue
        try:
            close_trees(_as_tuple(got), _as_tuple(expected), 1e-9,
                        f"{what}: funcgrad vs JAX (float64)", check_dtype=True)
        except AssertionError as err:
            differing.append(what)
            problems.append(str(err))
    if not problems:
        return
    if differing and len(differing) == len(problems):
        try:
            met = differences_at(c.source64, args)
        except Exception as err:
            met = {}
            problems.append(f"(detecting known differences raised {type(err).__name__}: {err})")
        if set(differing) <= {q for qs in met.values() for q in qs}:
            EXCUSED.update(d for d, qs in met.items() if set(qs) & set(differing))
            return
        if met:
            problems.append(f"(differences met at these arguments, not covering all of "
                            f"{differing}: {sorted(met)})")
    raise AssertionError("\n".join(problems))


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def register() -> None:
    """Add the "jax" oracle to oracles.ORACLES (and its float64 report)."""
    from . import oracles
    oracles.ORACLES["jax"] = check
    if "jax" not in oracles._F64_ORACLES:
        oracles._F64_ORACLES = oracles._F64_ORACLES + ("jax",)


__all__ = ["DIFFERENCES", "EXCUSED", "available", "compile_jax", "differences_at", "check",
           "register"]
