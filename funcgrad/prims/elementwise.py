"""Elementwise primitives. Each line reads like a calculus table: tangent = t * d(x, out)."""
from __future__ import annotations

import numpy as np

from ..core.ir import Eqn, is_undefined
from ..core.primitive import Lowering, Primitive, free
from ..core.types import ArrayType, is_float
from .families import (
    batch_elementwise,
    binary,
    broadcast_shapes,
    call_lowering,
    elementwise_cost,
    result_dtype,
    unary,
)
from .shape import aval_of, broadcast_to_p, broadcast_to_shape, reshape_p, shape_of, zeros

# --- unary: d(x, out) is the derivative, written with the bind wrappers below -------------
neg_p = unary("neg", np.negative, linear=True)
_LN2, _LN10 = float(np.log(2.0)), float(np.log(10.0))
exp_p = unary("exp", np.exp, lambda x, out: out)
log_p = unary("log", np.log, lambda x, out: 1.0 / x, domain=(0.1, 4.0))
log1p_p = unary("log1p", np.log1p, lambda x, out: 1.0 / (1.0 + x), domain=(-0.9, 4.0))
expm1_p = unary("expm1", np.expm1, lambda x, out: out + 1.0)
# primitives rather than log(x) / log(2) ...: NumPy's values to the last bit (log10(1000) is 3)
log2_p = unary("log2", np.log2, lambda x, out: 1.0 / (x * _LN2), domain=(0.1, 4.0))
log10_p = unary("log10", np.log10, lambda x, out: 1.0 / (x * _LN10), domain=(0.1, 4.0))
exp2_p = unary("exp2", np.exp2, lambda x, out: out * _LN2)
sin_p = unary("sin", np.sin, lambda x, out: cos(x))
cos_p = unary("cos", np.cos, lambda x, out: -sin(x))
tan_p = unary("tan", np.tan, lambda x, out: 1.0 + out * out, domain=(-1.3, 1.3))
tanh_p = unary("tanh", np.tanh, lambda x, out: 1.0 - out * out)
sinh_p = unary("sinh", np.sinh, lambda x, out: cosh(x))
cosh_p = unary("cosh", np.cosh, lambda x, out: sinh(x))
arcsin_p = unary("arcsin", np.arcsin, lambda x, out: 1.0 / sqrt(1.0 - x * x), domain=(-0.9, 0.9))
arccos_p = unary("arccos", np.arccos, lambda x, out: -1.0 / sqrt(1.0 - x * x),
                 domain=(-0.9, 0.9))
arctan_p = unary("arctan", np.arctan, lambda x, out: 1.0 / (1.0 + x * x))
arcsinh_p = unary("arcsinh", np.arcsinh, lambda x, out: 1.0 / sqrt(x * x + 1.0))
# sqrt(x - 1) sqrt(x + 1), not sqrt(x^2 - 1): the same for real x, and the right branch for
# complex x with a negative real part.
arccosh_p = unary("arccosh", np.arccosh,
                  lambda x, out: 1.0 / (sqrt(x - 1.0) * sqrt(x + 1.0)), domain=(1.1, 4.0))
arctanh_p = unary("arctanh", np.arctanh, lambda x, out: 1.0 / (1.0 - x * x), domain=(-0.9, 0.9))
# sqrt'(0) is inf, as NumPy would say, not an error.
sqrt_p = unary("sqrt", np.sqrt, lambda x, out: 0.5 / out, domain=(0.1, 4.0))
cbrt_p = unary("cbrt", np.cbrt, lambda x, out: 1.0 / (3.0 * out * out), domain="nonzero")
abs_p = unary("abs", np.abs, domain="nonzero")     # jvp below: |z| is real for complex z
sign_p = unary("sign", np.sign, nondiff=True)
floor_p = unary("floor", np.floor, nondiff=True)
ceil_p = unary("ceil", np.ceil, nondiff=True)
round_p = unary("round", np.rint, nondiff=True)
isfinite_p = unary("isfinite", np.isfinite, nondiff=True)
isnan_p = unary("isnan", np.isnan, nondiff=True)
logical_not_p = unary("logical_not", np.logical_not, nondiff=True)


def _logistic(x):
    # exp(-|x|) never overflows; the two branches are the same function.
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(x))
        return np.where(np.asarray(x) >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(
            np.result_type(x, np.float16), copy=False)[()]


_logistic.__name__ = "logistic"
logistic_p = unary("logistic", _logistic, lambda x, out: out * (1.0 - out), real_only=True)


def _relu(x):
    return np.maximum(x, 0)


_relu.__name__ = "relu"
# Its own primitive for speed (np.maximum and one mask, where `where` is ~15x slower in
# NumPy) and for the derivative convention: 0 at x = 0, as in PyTorch and JAX. (The mask is
# a cast comparison: np.sign(out) is one pass but slower than both.)
relu_p = unary("relu", _relu, lambda x, out: convert(x > 0, out.dtype), domain="nonzero",
               real_only=True)


def _logistic_native(k, args, eqn):
    (x,), aval = args, eqn.outputs[0].aval
    if aval.dtype.kind != "f" or eqn.inputs[0].aval.dtype != aval.dtype:
        raise k.Unsupported("logistic of a non-float")
    one = k.lit(1.0, aval.dtype)
    # the same stable formula as the impl: exp(-|x|) never overflows
    e = k.materialize(k.math(np.exp, [f"-np.abs({x})"], aval.dtype) if aval.ndim == 0 else
                      f"np.exp(-np.abs({x}))", "e")
    x = k.materialize(x)
    if aval.ndim == 0:
        return f"({one} / ({one} + {e}) if {x} >= 0 else {e} / ({one} + {e}))"
    return f"np.where({x} >= 0, {one} / ({one} + {e}), {e} / ({one} + {e}))"


logistic_p.native = _logistic_native
relu_p.native = lambda k, args, eqn: (
    f"np.maximum({args[0]}, {k.lit(0, eqn.inputs[0].aval.dtype)})")

# --- binary, broadcasting ----------------------------------------------------------------
add_p = binary("add", np.add, linear=True, commutative=True)
sub_p = binary("sub", np.subtract, linear=True)
mul_p = binary("mul", np.multiply, commutative=True)
div_p = binary("div", np.true_divide, lambda x, y, out: _reciprocal(y),
               lambda x, y, out: -out / y, domain="nonzero")


def _reciprocal(y):
    # Python's 1.0 / 0 raises; x / 0 is inf in NumPy, so its derivative is too (kept a weak
    # Python float, so that it does not promote float32 tangents).
    if type(y) in (int, float):
        with np.errstate(divide="ignore"):
            return float(np.divide(1.0, y))
    return 1.0 / y
# pow: the log(x) term only where x > 0, so x**y at x = 0 keeps a finite derivative in x.
def _pow_dy(x, y, out):
    if _dtype_of(out).kind == "c":      # the principal log; 0 ** y has no log term
        return select(x == 0, 0.0, log(select(x == 0, 1.0, x))) * out
    return select(x > 0, log(select(x > 0, x, 1.0)), 0.0) * out


pow_p = binary("pow", np.power, lambda x, y, out: y * pow(x, y - 1.0), _pow_dy,
               domain="positive")
max_p = binary("max", np.maximum,  # ties split the derivative evenly, as in JAX
               lambda x, y, out: _tie_weight(x, y, out), lambda x, y, out: _tie_weight(y, x, out),
               domain="distinct", commutative=True)
min_p = binary("min", np.minimum,
               lambda x, y, out: _tie_weight(y, x, out),
               lambda x, y, out: _tie_weight(x, y, out),
               domain="distinct", commutative=True)
atan2_p = binary("atan2", np.arctan2, lambda y, x, out: x / (x * x + y * y),
                 lambda y, x, out: -y / (x * x + y * y), domain="nonzero")
rem_p = binary("rem", np.remainder, lambda x, y, out: 1.0, lambda x, y, out: -floor(x / y),
               domain="distinct")
# hypot: d/dx = x / out, and 0 at the origin (a subgradient, as norms have) instead of 0/0
hypot_p = binary("hypot", np.hypot, lambda x, y, out: _over_nonzero(x, out),
                 lambda x, y, out: _over_nonzero(y, out), domain="nonzero", commutative=True)
logaddexp_p = binary("logaddexp", np.logaddexp, lambda x, y, out: exp(x - out),
                     lambda x, y, out: exp(y - out), commutative=True)
lt_p = binary("lt", np.less, nondiff=True)
le_p = binary("le", np.less_equal, nondiff=True)
gt_p = binary("gt", np.greater, nondiff=True)
ge_p = binary("ge", np.greater_equal, nondiff=True)
eq_p = binary("eq", np.equal, nondiff=True, commutative=True)
ne_p = binary("ne", np.not_equal, nondiff=True, commutative=True)
and_p = binary("and", np.logical_and, nondiff=True, commutative=True)
or_p = binary("or", np.logical_or, nondiff=True, commutative=True)
xor_p = binary("xor", np.logical_xor, nondiff=True, commutative=True)


# --- integer division, and the bits of integers and of floats -------------------------------

def _quiet_division(ufunc):
    """NumPy's integer x // 0 and x % 0 are 0 with a RuntimeWarning: the 0, without the warning
    (as JAX). Floats keep NumPy's behaviour (inf or nan, and its warnings)."""
    def impl(x, y):
        if _is_integral(x) and _is_integral(y):
            with np.errstate(divide="ignore"):
                return ufunc(x, y)
        return ufunc(x, y)
    impl.__name__ = ufunc.__name__

    def lower(in_avals, params):
        if all(a.dtype.kind in "iub" for a in in_avals):
            return Lowering("{f}({0}, {1})", {"f": impl})
        return Lowering("{f}({0}, {1})", {"f": ufunc}, out=True)
    return impl, lower


def _is_integral(v) -> bool:
    dtype = getattr(v, "dtype", None)
    return type(v) in (int, bool) if dtype is None else dtype.kind in "iub"


_floor_divide_impl, _floor_divide_lower = _quiet_division(np.floor_divide)
floor_divide_p = binary("floor_divide", _floor_divide_impl, nondiff=True)
floor_divide_p.lower = _floor_divide_lower
_rem_impl, _rem_lower = _quiet_division(np.remainder)
rem_p.impl, rem_p.lower = _rem_impl, _rem_lower
# fmod's result has the sign of x (C's fmod): d/dy = -trunc(x / y), as JAX's rem.
fmod_p = binary("fmod", np.fmod, lambda x, y, out: 1.0, lambda x, y, out: -_trunc(div(x, y)),
                domain="distinct")
fmod_p.impl, fmod_p.lower = _quiet_division(np.fmod)
# copysign(x, y) = +-|x|: d/dx = sign(x) sign(y), d/dy = 0 (as JAX, away from y = 0).
copysign_p = binary("copysign", np.copysign,
                    lambda x, y, out: sign(x) * copysign_p.bind(1.0, y),
                    lambda x, y, out: 0.0, domain="nonzero")
# ldexp(x, n) = x 2^n is linear in x; n is an integer (no tangent).
ldexp_p = binary("ldexp", np.ldexp,
                 lambda x, n, out: ldexp_p.bind(np.ones((), _dtype_of(out)), n))
signbit_p = unary("signbit", np.signbit, nondiff=True)
spacing_p = unary("spacing", np.spacing, nondiff=True)
nextafter_p = binary("nextafter", np.nextafter, nondiff=True)


def _frexp_exponent(x):
    return np.frexp(x)[1]


_frexp_exponent.__name__ = "frexp_exponent"
# frexp's exponent (its mantissa is ldexp(x, -exponent), differentiable as ldexp)
frexp_exponent_p = unary("frexp_exponent", _frexp_exponent, nondiff=True)
gcd_p = binary("gcd", np.gcd, nondiff=True, commutative=True)
lcm_p = binary("lcm", np.lcm, nondiff=True, commutative=True)
bitwise_and_p = binary("bitwise_and", np.bitwise_and, nondiff=True, commutative=True)
bitwise_or_p = binary("bitwise_or", np.bitwise_or, nondiff=True, commutative=True)
bitwise_xor_p = binary("bitwise_xor", np.bitwise_xor, nondiff=True, commutative=True)
invert_p = unary("invert", np.invert, nondiff=True)
left_shift_p = binary("left_shift", np.left_shift, nondiff=True)
right_shift_p = binary("right_shift", np.right_shift, nondiff=True)
bitwise_count_p = unary("bitwise_count", np.bitwise_count, nondiff=True)


def _over_nonzero(v, out):
    return div(v, select(eq(out, 0.0), 1.0, out))


def _trunc(q):
    """Round towards zero, with primitives (a derivative-free integer part)."""
    return select(lt_p.bind(q, 0.0), ceil_p.bind(q), floor(q))


def _dtype_of(x) -> np.dtype:
    return x.dtype if hasattr(x, "dtype") else np.result_type(x)


def _tie_weight(x, y, out):
    # 1 where x > y, 0 where x < y, 0.5 at ties: (sign(x - y) + 1) / 2 in out's dtype, no casts.
    if _dtype_of(out).kind == "c":    # NumPy orders complex numbers lexicographically
        return convert(gt_p.bind(x, y), out.dtype) + convert(eq(x, y), out.dtype) * 0.5
    return (sign(x - y) + 1.0) * 0.5


def _linear_jvp(prim):
    """Linear primitives: the tangent is the primitive applied to the tangents."""
    def jvp(primals, tangents, **params):
        out = prim.bind(*primals, **params)
        ts = [zeros(aval_of(p)) if t is None else t for p, t in zip(primals, tangents)]
        return out, prim.bind(*ts, **params)
    return jvp


def _add_jvp(primals, tangents):
    out = add(*primals)
    return out, broadcast_to_shape(_as_out_dtype(_sum_tangents(tangents), out), shape_of(out))


def _as_out_dtype(t, out):
    """A tangent in the output's dtype: one operand's tangent passed through (f32 + f64
    constant) would otherwise stay narrower than the primal it belongs to."""
    dtype = _dtype_of(out)
    return convert(t, dtype) if is_float(dtype) and _dtype_of(t) != dtype else t


add_p.jvp = _add_jvp
add_p.transpose = lambda ct, x, y: [ct, ct]
def _sub_jvp(primals, tangents):
    out = sub(*primals)
    tx, ty = tangents
    t = ty if tx is None else tx
    if tx is not None and ty is not None:
        t = tx - ty
    elif tx is None:
        t = -ty                 # no zeros to subtract from
    return out, broadcast_to_shape(_as_out_dtype(t, out), shape_of(out))


sub_p.jvp = _sub_jvp
sub_p.transpose = lambda ct, x, y: [ct, -ct]
neg_p.jvp = _linear_jvp(neg_p)
neg_p.transpose = lambda ct, x: [-ct]


def _sum_tangents(ts):
    ts = [t for t in ts if t is not None]
    return ts[0] if len(ts) == 1 else ts[0] + ts[1]


def _mul_jvp(primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    out = mul(x, y)
    if x is y and tx is ty and tx is not None:
        return out, tx * (x + x)        # x * x: one product with the tangent, not two
    terms = []
    if tx is not None:
        terms.append(tx * y)
    if ty is not None:
        terms.append(x * ty)
    return out, broadcast_to_shape(_sum_tangents(terms), shape_of(out))


mul_p.jvp = _mul_jvp
mul_p.transpose = lambda ct, x, y: [ct * y if is_undefined(x) else None,
                                    x * ct if is_undefined(y) else None]
div_p.transpose = lambda ct, x, y: [ct / y, None]   # linear in the numerator only

# --- complex numbers -----------------------------------------------------------------------
# JAX's convention: a cotangent c pairs with a tangent t as Re(sum(c * t)) (no conjugation), so
# the transpose of a complex-linear map is its plain transpose; `grad` of a real function of
# complex z is then the conjugate of the direction of steepest ascent (2 conj(z) for |z|^2).

def _real_dtype(dtype) -> np.dtype:
    return np.finfo(dtype).dtype     # complex64 -> float32, complex128 -> float64


def _complex_part_type(name):
    def rule(x: ArrayType):
        if x.dtype.kind != "c":
            raise TypeError(f"{name} takes a complex operand, not {x.short()}")
        return ArrayType(x.shape, _real_dtype(x.dtype))
    return rule


def _complex_like(ct, x):
    """The real cotangent `ct` as a complex array of x's dtype."""
    return convert(ct, x.aval.dtype if is_undefined(x) else _dtype_of(x))


# np.real and np.imag return views of the complex array: not fresh.
real_p = Primitive("real", np.real, _complex_part_type("real"), linear=True, elementwise=True,
                   cost=free)
real_p.jvp = lambda primals, tangents: (real(primals[0]), real(tangents[0]))
real_p.transpose = lambda ct, x: [_complex_like(ct, x)]
# Re(c t) = ct Im(t) for c = -i ct: the transpose of Im is multiplication by -i.
imag_p = Primitive("imag", np.imag, _complex_part_type("imag"), linear=True, elementwise=True,
                   cost=free)
imag_p.jvp = lambda primals, tangents: (imag(primals[0]), imag(tangents[0]))
imag_p.transpose = lambda ct, x: [mul(_complex_like(ct, x), -1j)]
conj_p = unary("conj", np.conjugate, linear=True)
conj_p.jvp = lambda primals, tangents: (conj(primals[0]), conj(tangents[0]))
conj_p.transpose = lambda ct, x: [conj(ct)]


def _abs_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    out = abs_(x)
    if not is_float(out.dtype):
        return out, None
    if _dtype_of(x).kind == "c":
        # d|z| = Re(conj(z) t) / |z| (0 at z = 0). Not conj(sign(z)): for complex z, sign has
        # a derivative, which second-order rules need.
        return out, div(real(mul(conj(x), t)), select(eq(out, 0.0), 1.0, out))
    return out, t * sign(x)


abs_p.jvp = _abs_jvp

# --- simplification rules (the optimiser's algebra; `g` is its Rewrite context) -------------

def _identity_rule(neutral, *, left: bool = True, right: bool = True):
    """x op neutral -> x (and neutral op x -> x with `left`), the neutral element a scalar or a
    known array of it (an accumulator's zeros, say). Then operands that are broadcasts NumPy's
    own broadcasting makes unnecessary."""
    def rule(g, ins, params, out):
        x, y = ins
        pairs = ([(x, y)] if right else []) + ([(y, x)] if left else [])
        for a, b in pairs:
            if (g.is_scalar(b, neutral) or g.is_filled(b, neutral)) and g.same_type(a, out):
                return a
        return _without_broadcasts(rule.prim, g, ins, params, out)
    return rule


def _without_broadcasts(prim, g, ins, params, out):
    """The application reading the unbroadcast operands, if NumPy broadcasting gives the same
    result; each operand is checked with the others already replaced."""
    new_ins = list(ins)
    for i, a in enumerate(ins):
        new_ins[i] = _unbroadcast_operand(g, a, new_ins, i, out)
    if any(a is not b for a, b in zip(new_ins, ins)):
        return Eqn(prim, new_ins, [], params)
    return None


def _unbroadcast_operand(g, atom, ins, i, out):
    while True:
        src = g.producer(atom)
        if src is None or src.primitive not in (broadcast_to_p, reshape_p):
            return atom
        # a broadcast, or a reshape that only adds size-1 axes to a one-element value
        inner = src.inputs[0]
        if src.primitive is reshape_p and inner.aval.size != 1:
            return atom
        shapes = [a.aval.shape for j, a in enumerate(ins) if j != i] + [inner.aval.shape]
        try:
            ok = np.broadcast_shapes(*shapes) == out.shape
        except ValueError:
            ok = False
        if not ok or inner.aval.dtype != atom.aval.dtype:
            return atom
        atom = inner


for _p, _rule in ((mul_p, _identity_rule(1)), (add_p, _identity_rule(0)),
                  (sub_p, _identity_rule(0, left=False)), (div_p, _identity_rule(1, left=False))):
    _rule.prim = _p
    _p.simplify = _rule
neg_p.simplify = lambda g, ins, params, out: (
    src.inputs[0] if (src := g.producer(ins[0])) is not None and src.primitive is neg_p
    else None)


# --- select (where) ------------------------------------------------------------------------


def _select_type(pred, x, y):
    shape = broadcast_shapes("where", pred, x, y)
    return ArrayType(shape, result_dtype(np.where, pred, x, y))


def _select_native(k, args, eqn):
    (p, x, y), out = args, eqn.outputs[0].aval
    if eqn.inputs[0].aval.dtype.kind != "b":
        raise k.Unsupported("select on a non-boolean predicate")
    x = k.cast(x, eqn.inputs[1].aval, out.dtype)
    y = k.cast(y, eqn.inputs[2].aval, out.dtype)
    if out.ndim == 0:
        return f"({x} if {p} else {y})"
    return f"np.where({p}, {x}, {y})"


select_p = Primitive("select", np.where, _select_type, lower=call_lowering(np.where, 3),
                     native=_select_native, cost=elementwise_cost, elementwise=True,
                     fresh=True)


def _select_jvp(primals, tangents):
    (pred, x, y), (_, tx, ty) = primals, tangents
    out = select(pred, x, y)
    if not is_float(out.dtype):
        return out, None
    # A missing tangent is a scalar 0.0 (weak, so it takes the other side's dtype): no
    # zero-filled array is made.
    t = select(pred, 0.0 if tx is None else tx, 0.0 if ty is None else ty)
    return out, broadcast_to_shape(convert(t, out.dtype), out.shape)


def _select_transpose(ct, pred, x, y):
    return [None, select(pred, ct, 0.0) if is_undefined(x) else None,
            select(pred, 0.0, ct) if is_undefined(y) else None]


select_p.jvp, select_p.transpose = _select_jvp, _select_transpose

# --- integer_pow and convert_element_type --------------------------------------------------


def _integer_pow_impl(x, *, y):
    if y == 2 and np.asarray(x).dtype.kind != "b":   # bool ** 2 is int64 in NumPy, not int8
        return np.square(x)
    return np.power(x, y) if y >= 0 else np.power(np.asarray(x, np.result_type(x, 1.0)), y)


def _pow2(x):
    return np.power(x, 2)   # the dtype of x ** int (a weak Python int): bool -> int64


def _integer_pow_type(x, *, y):
    dt = result_dtype(_pow2, x) if y >= 0 else result_dtype(np.reciprocal, x)
    if y < 0 and dt.kind in "iub":
        dt = np.result_type(dt, np.float64)
    return ArrayType(x.shape, dt)


def _integer_pow_jvp(primals, tangents, *, y):
    (x,), (t,) = primals, tangents
    out = integer_pow(x, y)
    if y == 0 or not is_float(out.dtype):
        return out, None
    return out, t * (y * (x if y == 2 else integer_pow(x, y - 1))) if y != 1 else t


_SQUARE = Lowering("{f}({0})", {"f": np.square}, out=True)


def _integer_pow_lower(in_avals, params):
    # x ** 2 as np.square (a ufunc: it can write into a dead buffer); the impl otherwise.
    return _SQUARE if params["y"] == 2 and in_avals[0].dtype.kind != "b" else None


def _integer_pow_native(k, args, eqn):
    x, y, aval = args[0], eqn.params["y"], eqn.outputs[0].aval
    if aval.dtype.kind != "f" or eqn.inputs[0].aval.dtype != aval.dtype:
        raise k.Unsupported("integer_pow of a non-float")
    if y == 2:
        return f"np.square({x})"
    if y == 1:
        return x
    return f"np.power({x}, {k.lit(y, aval.dtype)})"


integer_pow_p = Primitive("integer_pow", _integer_pow_impl, _integer_pow_type,
                          jvp=_integer_pow_jvp, lower=_integer_pow_lower,
                          native=_integer_pow_native, cost=elementwise_cost, elementwise=True,
                          fresh=True)


def _convert_impl(x, *, dtype):
    x = np.asarray(x)
    if x.dtype.kind == "c" and np.dtype(dtype).kind != "c":
        x = x.real      # NumPy's astype keeps the real part (and warns): the same, quietly
    return x.astype(dtype, copy=False)


def _convert_jvp(primals, tangents, *, dtype):
    (x,), (t,) = primals, tangents
    out = convert(x, dtype)
    return out, (convert(t, dtype) if is_float(dtype) else None)


convert_p = Primitive("convert_element_type", _convert_impl,
                      lambda x, *, dtype: ArrayType(x.shape, dtype), jvp=_convert_jvp,
                      linear=True, elementwise=True, cost=free)   # astype(copy=False): a view
convert_p.transpose = lambda ct, x, *, dtype: [convert(ct, x.aval.dtype)]
convert_p.simplify = lambda g, ins, params, out: ins[0] if g.same_type(ins[0], out) else None
convert_p.native = lambda k, args, eqn: k.cast(args[0], eqn.inputs[0].aval,
                                               eqn.params["dtype"])


# --- bind wrappers ---------------------------------------------------------------------------
def neg(x): return neg_p.bind(x)
def exp(x): return exp_p.bind(x)
def log(x): return log_p.bind(x)
def log1p(x): return log1p_p.bind(x)
def expm1(x): return expm1_p.bind(x)
def sin(x): return sin_p.bind(x)
def cos(x): return cos_p.bind(x)
def tan(x): return tan_p.bind(x)
def tanh(x): return tanh_p.bind(x)
def sinh(x): return sinh_p.bind(x)
def cosh(x): return cosh_p.bind(x)
def sqrt(x): return sqrt_p.bind(x)
def sign(x): return sign_p.bind(x)
def abs_(x): return abs_p.bind(x)
def real(x): return real_p.bind(x)
def imag(x): return imag_p.bind(x)
def conj(x): return conj_p.bind(x)
def floor(x): return floor_p.bind(x)
def logistic(x): return logistic_p.bind(x)
def relu(x): return relu_p.bind(x)
def add(x, y): return add_p.bind(x, y)
def sub(x, y): return sub_p.bind(x, y)
def mul(x, y): return mul_p.bind(x, y)
def div(x, y): return div_p.bind(x, y)
def pow(x, y): return pow_p.bind(x, y)
def select(pred, x, y): return select_p.bind(pred, x, y)
def integer_pow(x, y: int): return integer_pow_p.bind(x, y=int(y))


def convert(x, dtype):
    dtype = np.dtype(dtype)
    if getattr(x, "dtype", None) == dtype:
        return x
    return convert_p.bind(x, dtype=dtype)


def eq(x, y): return eq_p.bind(x, y)
def gt(x, y): return gt_p.bind(x, y)
def maximum(x, y): return max_p.bind(x, y)
def minimum(x, y): return min_p.bind(x, y)


# --- batching rules ----------------------------------------------------------------------
# The unary/binary families install theirs; these broadcast the same way.
select_p.batch = batch_elementwise(select_p)
real_p.batch = batch_elementwise(real_p)
imag_p.batch = batch_elementwise(imag_p)
integer_pow_p.batch = batch_elementwise(integer_pow_p)
convert_p.batch = batch_elementwise(convert_p)
