"""Traces and tracers: tagged trace contexts, no global level stack.

Each transformation call makes a fresh trace whose `parent` is the trace that was current
when it started; values from outer traces are constants to it, and a finished trace's tracers
are invalid. `_state.trace` (thread-local) is the trace that `Primitive.bind` dispatches to.
"""
from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .. import tree
from ..errors import ConcretizationError, UnexpectedTracerError
from .ir import Eqn, Graph, Lit, Var
from .source import user_source, where
from .types import ArrayType, type_of


def current_trace() -> Trace:
    return _state.trace


def set_trace(trace: Trace) -> Trace:
    """Make `trace` current and return the previous one (restore it in a `finally`)."""
    prev = _state.trace
    _state.trace = trace
    return prev


class CustomVJP(NamedTuple):
    """A call of a function with a user-given reverse rule (fg.custom_vjp, fg.checkpoint):
    `fwd(*args) -> (out, residuals)`, `bwd(residuals, out_cotangent) -> input cotangents`.
    `in_forward_mode` says what forward-mode differentiation does with it: "run" (`fun`
    itself: checkpoint) or "refuse" (a TypeError: a reverse rule has no forward mode)."""

    name: str
    fun: Callable
    fwd: Callable
    bwd: Callable
    in_forward_mode: str = "refuse"


class CustomJVP(NamedTuple):
    """A call of a function with a user-given forward rule (fg.custom_jvp):
    `jvp(primals, tangents) -> (primal_out, tangent_out)`, linear in the tangents. `call` is the
    function with its rule attached (what a transformation re-applies to inner values)."""

    name: str
    fun: Callable
    jvp: Callable
    call: Callable


def custom_jvp_call(name: str, fun: Callable, jvp: Callable) -> Callable:
    """`fun` with the forward rule `jvp` attached: calling it hands a CustomJVP to the current
    trace (what fg.custom_jvp does; transformations use it to make batched rules)."""
    def call(*args):
        return current_trace().process_custom_jvp(CustomJVP(name, fun, jvp, call), args)
    return call


class Trace:
    """A transformation in progress. `kind` names it in messages (e.g. 'grad', 'jit').

    The protocol: `process(prim, args, params)` applies a primitive; `process_custom_vjp` and
    `process_custom_jvp` apply a function with a user-given derivative rule. A trace passes on
    what it does not own, as it passes primitives on to its parent: by default a call whose
    arguments hold none of this trace's values goes to the parent trace (so that an outer
    differentiation still applies the rule), and otherwise the function runs here. The
    differentiating traces (`differentiates = True`) apply the rules, and vmap batches them.
    """

    __slots__ = ("parent", "alive", "kind", "source")
    differentiates = False

    def __init__(self, parent: Trace | None, kind: str):
        self.parent, self.kind, self.alive = parent, kind, True
        self.source = None

    def process(self, prim, args, params):  # pragma: no cover - abstract
        raise NotImplementedError

    def process_custom_vjp(self, rule: CustomVJP, args: tuple) -> Any:
        """Apply a function with a custom reverse rule (see the class docstring)."""
        return self.pass_on("process_custom_vjp", rule, args, args)

    def process_custom_jvp(self, rule: CustomJVP, args: tuple) -> Any:
        """Apply a function with a custom forward rule (see the class docstring)."""
        return self.pass_on("process_custom_jvp", rule, args, args)

    def owns_any(self, args) -> bool:
        return any(isinstance(a, Tracer) and a._trace is self for a in tree.leaves(args))

    def pass_on(self, method: str, rule, args: tuple, parent_args: tuple) -> Any:
        """Hand a custom-rule call to the parent trace (`parent_args`: the arguments as the
        parent sees them), unless this trace owns some of `args` or there is no parent: then
        the function runs here. If the function closes over values of this trace, the parent
        cannot run it either (UnexpectedTracerError): it runs here."""
        if self.parent is None or self.owns_any(parent_args):
            return rule.fun(*args)
        prev = set_trace(self.parent)
        try:
            return getattr(self.parent, method)(rule, parent_args)
        except UnexpectedTracerError:
            pass
        finally:
            set_trace(prev)
        return rule.fun(*args)

    def check_foreign(self, x: Tracer) -> None:
        """A tracer of another trace is a constant here only if its trace is an ancestor."""
        owner = x._trace
        if not owner.alive:
            raise UnexpectedTracerError(_leak_message(x))
        t = self.parent
        while t is not None:
            if t is owner:
                return
            t = t.parent
        raise UnexpectedTracerError(
            f"a value traced by an inner {owner.kind} was used outside it{where()}. Return it "
            f"from the transformed function instead of keeping it in a variable.")


def _leak_message(x: Tracer) -> str:
    t = x._trace
    made = f" (transformation started at {t.source.long()})" if t.source else ""
    return (f"a traced value {x.aval.short()} from fg.{t.kind}{made} was used{where()} after "
            f"that transformation had ended. It escaped, for example through a global or a "
            f"closure: return values from the transformed function instead.")


class EvalTrace(Trace):
    """No transformation: primitives run their NumPy implementation."""

    __slots__ = ()

    def process(self, prim, args, params):
        for a in args:
            if isinstance(a, Tracer):
                raise UnexpectedTracerError(
                    _leak_message(a) if not a._trace.alive else
                    f"a value traced by fg.{a._trace.kind} was used outside that "
                    f"transformation{where()}; return it from the transformed function instead")
        try:
            return prim.impl(*args, **params)
        except Exception as err:
            # Prefer the shape rule's message (operation, shapes, user's line) when it fails.
            abstract_eval(prim, [type_of(a) for a in args], params)
            raise err


EVAL = EvalTrace(None, "eval")


def as_value(x):
    """Arguments become arrays (Python scalars -> 0-d arrays); traced values pass through.

    >>> as_value(2.0)
    array(2.)
    """
    if isinstance(x, (Tracer, np.ndarray)):
        return x
    if isinstance(x, (bool, int, float, complex, np.generic)):
        return np.asarray(x)
    if isinstance(x, (list, tuple)) or x is None:
        return x
    try:
        return np.asarray(x)
    except Exception:
        raise TypeError(f"argument of type {type(x).__name__} is not a valid funcgrad value: "
                        f"pass arrays, numbers or pytrees (tuples, lists, dicts) of them") from None


def as_output(x):
    """Results are NumPy arrays (0-d for scalars), never NumPy scalars or Python numbers.

    >>> as_output(np.float64(1.0))
    array(1.)
    """
    if isinstance(x, (np.ndarray, Tracer)):
        return x
    return np.asarray(x)


class _State(threading.local):
    def __init__(self):
        self.trace = EVAL


_state = _State()


def abstract_eval(prim, avals, params):
    """Run a primitive's shape rule; its errors get the user's line appended."""
    try:
        return prim.abstract_eval(*avals, **params)
    except (ValueError, TypeError) as err:
        msg = str(err)
        if not _HAS_LINE.search(msg):
            msg = f"{msg}{where()}"
        raise type(err)(msg) from None


_HAS_LINE = re.compile(r" at \S+:\d+")


class Tracer:
    """A value being traced. Operators and NumPy protocols are installed by funcgrad.numpy."""

    __slots__ = ("_trace",)
    __array_priority__ = 1000
    abstract = True     # a value known only by its type (jit, make_graph); see unwrap

    @property
    def aval(self) -> ArrayType:  # pragma: no cover - abstract
        raise NotImplementedError

    shape = property(lambda self: self.aval.shape)
    dtype = property(lambda self: self.aval.dtype)
    ndim = property(lambda self: self.aval.ndim)
    size = property(lambda self: self.aval.size)

    def __len__(self) -> int:
        if not self.aval.shape:
            raise TypeError("len() of a 0-d traced array")
        return self.aval.shape[0]

    def unwrap(self, op: str):
        """What this value stands for one level out: a value of the parent trace (a tracer of
        an outer transformation, or a concrete array). Abstract traces (jit, make_graph) raise
        ConcretizationError; a value batched by vmap is ambiguous and raises too."""
        raise ConcretizationError(_concretization_message(self, op))

    def differentiated(self) -> bool:
        """Does this value carry a derivative of its own trace (a tangent, a tape slot)?"""
        return False

    def concrete(self, op: str):
        """The concrete NumPy value, for operations that need a value but lose no derivative
        (bool(), int(), indexing: their derivative is zero almost everywhere, as in JAX)."""
        v = self
        while isinstance(v, Tracer):
            v = v.unwrap(op)
        return v

    def convert(self, op: str):
        """The concrete value for a conversion that leaves funcgrad (float(), .item(),
        np.asarray...): refused with ConcretizationError while the value is being
        differentiated, because the derivative would be silently dropped."""
        v = self
        while isinstance(v, Tracer):
            if v.abstract or v.differentiated():
                raise ConcretizationError(_conversion_message(v, op))
            v = v.unwrap(op)
        return v

    def __bool__(self):
        return bool(self.concrete("bool()"))

    def __float__(self):
        return float(self.convert(_FLOAT_OP))

    def __int__(self):
        return int(self.concrete("int()"))

    def __complex__(self):
        return complex(self.convert("complex()"))

    def __index__(self):
        v = self.concrete("use as an index")
        if np.asarray(v).dtype.kind not in "iub":
            raise TypeError(f"only integer arrays can be used as an index, not {self.aval.short()}")
        return int(v)

    def __array__(self, dtype=None, copy=None):
        v = np.asarray(self.convert(_ARRAY_OP))
        return v if dtype is None else v.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"Tracer<{self.aval.short()}, {self._trace.kind}>"

    def __hash__(self):
        return id(self)


# What else calls these conversions, so that the message names what the user wrote.
_FLOAT_OP = "float() (also called by math functions, np.float64(x) and out[i] = x)"
_ARRAY_OP = "np.asarray() (also called by np.array, NumPy scalar types and out[i:j] = x)"


def _conversion_message(x: Tracer, op: str) -> str:
    kind = x._trace.kind
    what = (f"needs a concrete value, but the traced value {x.aval.short()} is abstract under "
            f"fg.{kind}{where()}: its value is only known when the compiled code runs."
            if x.abstract else
            f"would turn a value that fg.{kind} is differentiating ({x.aval.short()}) into a "
            f"plain number or NumPy array{where()}, silently dropping its derivative.")
    try:            # a best-effort hint, in an error path
        scipy = _scipy_caller()
    except Exception:
        scipy = None
    if scipy is not None:
        return f"{op} {what} {scipy}"
    return (f"{op} {what} Compute with funcgrad.numpy instead (fnp.sqrt(x), not "
            f"math.sqrt(x)); build arrays functionally (x.at[i].set(v) or fnp.stack), not by "
            f"writing into a NumPy array; to log a value use fg.debug.print('{{}}', x) or "
            f"float(fg.stop_gradient(x)).")


def _module_of(frame) -> str:
    return frame.f_globals.get("__name__") or ""


def _wrapped_public(frame) -> tuple[str, str] | None:
    """(package, name) of the public SciPy function a decorator's wrapper frame wraps (SciPy
    batches scipy.linalg.cholesky's arguments in a wrapper that holds it as a local)."""
    for value in frame.f_locals.values():
        name, module = getattr(value, "__name__", ""), getattr(value, "__module__", None)
        if not (callable(value) and isinstance(module, str) and module.startswith("scipy.")):
            continue
        package = ".".join(module.split(".")[:2])
        public = getattr(sys.modules.get(package), name, None)
        if not name.startswith("_") and value in (public, getattr(public, "__wrapped__", 0)):
            return package, name
    return None


def _scipy_caller() -> str | None:
    """When the conversion happens inside a SciPy function (scipy.special.logsumexp(x) on a
    traced x), what to call instead: the funcgrad.scipy function of the same name, found in
    sys.modules (this layer imports no funcgrad.scipy). None when SciPy is not the caller."""
    frame = sys._getframe(2)
    while frame is not None and _module_of(frame).split(".")[0] in ("funcgrad", "numpy"):
        frame = frame.f_back
    frames = []
    while frame is not None and _module_of(frame).split(".")[0] == "scipy":
        frames.append(frame)
        frame = frame.f_back
    if not frames:
        return None
    called = None        # the outermost SciPy frame that is a public function (or method)
    for f in reversed(frames):
        package = ".".join(_module_of(f).split(".")[:2])
        name, public = f.f_code.co_name, sys.modules.get(package)
        owner = f.f_locals.get("self")
        dist = getattr(owner, "name", None) or type(owner).__name__.removesuffix("_gen")
        if owner is not None and isinstance(dist, str) and \
                hasattr(getattr(public, dist, None), name):
            called = (package, f"{dist}.{name}")       # scipy.stats.norm.logpdf
            break
        if callable(getattr(public, name, None)) and not name.startswith("_"):
            called = (package, name)                   # scipy.special.logsumexp
            break
        wrapped = _wrapped_public(f)                   # a decorator's wrapper(*args)
        if wrapped is not None:
            called = wrapped
            break
    site = (f" (called at {frame.f_code.co_filename}:{frame.f_lineno}, in "
            f"{frame.f_code.co_name})" if frame is not None else "")
    if called is None:
        package = ".".join(_module_of(frames[-1]).split(".")[:2])
        return (f"The {package} function{site} converts its arguments to NumPy arrays, so it "
                f"cannot compute with traced values: use funcgrad.scipy's version if it has "
                f"one, or write it with funcgrad.numpy.")
    package, name = called
    ours: Any = sys.modules.get(f"funcgrad.{package}")
    for part in name.split("."):
        ours = getattr(ours, part, None)
    if ours is not None:
        return (f"{package}.{name}{site} converts its arguments to NumPy arrays, so it cannot "
                f"compute with traced values: call funcgrad.{package}.{name} instead.")
    return (f"{package}.{name}{site} converts its arguments to NumPy arrays, so it cannot "
            f"compute with traced values, and funcgrad.{package} has no {name}: write it with "
            f"funcgrad.numpy.")


def reraise_conversion(err: BaseException) -> None:
    """Raise the ConcretizationError behind `err`, if any: NumPy reports a failed conversion
    in `array[i] = value` as 'setting an array element with a sequence' (a tracer has
    __getitem__), caused by the ConcretizationError that explains it. Transformations call
    this where the user's function raised."""
    cause = err.__cause__
    if isinstance(err, ValueError) and isinstance(cause, ConcretizationError):
        raise cause from None


def _concretization_message(x: Tracer, op: str) -> str:
    trace = x._trace
    src = user_source()
    line = f" at {src.long()}" if src else ""
    arg = _source_argument(x)
    hint = getattr(trace, "static_hint", None)
    static_fix = hint(arg) if hint is not None else ""
    which = f" (it depends on argument {arg})" if arg is not None else ""
    return (f"{op} needs a concrete value, but the traced value {x.aval.short()}{which} is "
            f"abstract under fg.{trace.kind}{line}. Use fg.cond / fg.while_loop / fnp.where "
            f"for value-dependent control flow{static_fix}.")


def _source_argument(x: Tracer) -> int | None:
    """The first user argument an abstract value depends on (walks the recorded equations)."""
    trace = x._trace
    if not isinstance(x, GraphTracer) or not trace.arg_of:
        return None
    needed = {x.ir_var}
    for eqn in reversed(trace.eqns):
        if any(v in needed for v in eqn.outputs):
            needed.update(v for v in eqn.inputs if isinstance(v, Var))
    hits = [trace.arg_of[v] for v in trace.invars if v in needed and v in trace.arg_of]
    return min(hits) if hits else None


# ---------------------------------------------------------------- graph building

class GraphTracer(Tracer):
    # Not `var`: that name is the variance method every traced array has (x.var()).
    __slots__ = ("ir_var",)

    def __init__(self, trace: GraphTrace, var: Var):
        self._trace, self.ir_var = trace, var

    @property
    def aval(self) -> ArrayType:
        return self.ir_var.aval


def _is_scalar_literal(x) -> bool:
    return type(x) in (float, int, bool, complex)


class GraphTrace(Trace):
    """Records equations into a graph. With `delegate_known`, operations whose inputs are all
    outside this trace run in the parent instead (partial evaluation, used by linearize)."""

    __slots__ = ("eqns", "constvars", "consts", "const_ids", "delegate_known", "static_hint",
                 "invars", "arg_of", "record_source", "__weakref__")

    def __init__(self, parent: Trace, kind: str, delegate_known: bool = False):
        super().__init__(parent, kind)
        self.eqns: list[Eqn] = []
        self.constvars: list[Var] = []
        self.consts: list = []
        self.const_ids: dict[int, Var] = {}
        self.delegate_known = delegate_known
        self.static_hint = None       # callable(arg index) -> text of the static_argnums fix
        self.invars: list[Var] = []
        self.arg_of: dict[Var, int] = {}   # input var -> the user's positional argument index
        # Source lines cost a stack walk; a transient linear graph of eager grad skips them.
        self.record_source = not (delegate_known and parent is EVAL)

    def new_arg(self, aval: ArrayType) -> GraphTracer:
        v = Var(aval)
        self.invars.append(v)
        return GraphTracer(self, v)

    def to_var(self, x):
        """The IR atom for `x`: its Var if traced here, else a literal or a captured constant."""
        if type(x) is GraphTracer and x._trace is self:
            return x.ir_var
        if isinstance(x, Tracer):
            self.check_foreign(x)
        elif _is_scalar_literal(x):
            return Lit(x, type_of(x))
        elif isinstance(x, np.generic) or (isinstance(x, np.ndarray) and x.ndim == 0
                                          and x.dtype.kind in "biufc"):
            return Lit(x[()] if isinstance(x, np.ndarray) else x, type_of(x))
        elif not isinstance(x, np.ndarray):
            type_of(x)  # raises a clear TypeError for non-array values
        v = self.const_ids.get(id(x))
        if v is None:
            v = Var(type_of(x))
            self.const_ids[id(x)] = v
            self.constvars.append(v)
            self.consts.append(x)
        return v

    def process(self, prim, args, params):
        if self.delegate_known:
            for a in args:
                if type(a) is GraphTracer and a._trace is self:
                    break
            else:
                return self.parent.process(prim, args, params)
        ins = [self.to_var(a) for a in args]
        out_avals = abstract_eval(prim, [v.aval for v in ins], params)
        source = user_source() if self.record_source else None
        if prim.multiple_results:
            outs = [Var(a) for a in out_avals]
            self.eqns.append(Eqn(prim, ins, outs, params, source))
            return [GraphTracer(self, v) for v in outs]
        out = Var(out_avals)
        self.eqns.append(Eqn(prim, ins, [out], params, source))
        return GraphTracer(self, out)

    def to_graph(self, invars: list[Var], outs: list) -> Graph:
        prev = set_trace(self)  # zeros for symbolic-zero outputs are made here
        try:
            outvars = [self.to_var(o) for o in outs]
        finally:
            set_trace(prev)
        return Graph(invars, outvars, self.eqns, self.constvars, self.consts)
