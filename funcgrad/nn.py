"""Neural-network helpers: activations and losses, composed from funcgrad.numpy, numerically
stable (finite values and gradients for |logits| up to 1e4) and dtype-preserving (f32 in, f32 out).

Losses reduce with ``reduction="mean"`` (the default, as in PyTorch) over every example,
``"sum"``, or ``"none"`` for per-example values. Integer or boolean targets are cast to the
dtype of the logits, so ``int`` labels never promote a float32 model to float64; float targets
follow NumPy promotion (float64 targets with float32 logits give a float64 loss).
"""
from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from . import numpy as fnp
from .core.trace import Tracer
from .prims import conv as _conv
from .prims.elementwise import logistic as _logistic
from .prims.elementwise import relu as _relu

Array = Any   # a NumPy array, a traced value, or anything fnp.asarray accepts
Axis = int | tuple[int, ...] | None

__all__ = ["sigmoid", "log_sigmoid", "softplus", "relu", "gelu", "tanh", "softmax",
           "log_softmax", "logsumexp", "one_hot", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "softmax_cross_entropy", "conv",
           "conv_transpose", "max_pool", "avg_pool"]


def _float(x: Array) -> Array:
    """`x` as an array; integer and boolean inputs become float64 (like np.exp would)."""
    x = fnp.asarray(x)
    return x if _is_float(x.dtype) else fnp.astype(x, np.float64)


def _is_float(dtype) -> bool:
    return np.dtype(dtype).kind == "f"


# ------------------------------------------------------------------------------ activations

def sigmoid(x: Array) -> Array:
    """The logistic function 1 / (1 + exp(-x)); one primitive, exp(-|x|) never overflows.

    >>> sigmoid(np.array([-1e4, 0.0, 1e4]))
    array([0. , 0.5, 1. ])
    """
    return _logistic(fnp.asarray(x))


def softplus(x: Array) -> Array:
    """log(1 + exp(x)), computed as logaddexp(x, 0) so that large x cannot overflow.

    >>> softplus(np.array([-1e4, 0.0, 1e4]))
    array([0.00000000e+00, 6.93147181e-01, 1.00000000e+04])
    """
    return fnp.logaddexp(_float(x), 0.0)


def log_sigmoid(x: Array) -> Array:
    """log(sigmoid(x)) = -softplus(-x): finite where sigmoid(x) underflows to 0.

    >>> log_sigmoid(np.array([-1e4, 0.0]))
    array([-1.00000000e+04, -6.93147181e-01])
    """
    return -softplus(-_float(x))


def relu(x: Array) -> Array:
    """max(x, 0). Its derivative at 0 is 0 (as in PyTorch and JAX), not a tie split.

    >>> relu(np.array([-2.0, 0.0, 3.0]))
    array([0., 0., 3.])
    """
    return _relu(fnp.asarray(x))


def tanh(x: Array) -> Array:
    """The hyperbolic tangent.

    >>> tanh(np.array([0.0, 1e4]))
    array([0., 1.])
    """
    return fnp.tanh(fnp.asarray(x))


def gelu(x: Array, approximate: bool = True) -> Array:
    """The Gaussian error linear unit x * Phi(x) (Phi: the standard normal CDF).

    `approximate=True` (the default, as in JAX) uses the tanh formula of Hendrycks & Gimpel
    (PyTorch's ``approximate='tanh'``), within 1e-3 of the exact one. `approximate=False`
    (PyTorch's default) is exact to about 1e-15: NumPy has no erf, so erfc is composed here from
    a 28-term Chebyshev fit (Numerical Recipes, 3rd ed., section 6.2.2); its derivative is the
    derivative of that smooth fit, exact to about 1e-13, so grad, jvp and higher orders all work.

    >>> gelu(np.array([-1.0, 0.0, 1.0]), approximate=False)
    array([-0.15865525,  0.        ,  0.84134475])
    """
    x = _float(x)
    if approximate:
        c = math.sqrt(2.0 / math.pi)
        return 0.5 * x * (1.0 + fnp.tanh(c * (x + 0.044715 * x ** 3)))
    return 0.5 * x * _erfc(-x * (1.0 / math.sqrt(2.0)))


# Chebyshev coefficients of erfc(z) = t exp(-z^2 + P(4t - 2)), t = 2 / (2 + z), z >= 0
# (Numerical Recipes, 3rd ed., Erf::erfccheb); relative error < 2e-13 down to 1e-300.
_ERFC_COF = (
    -1.3026537197817094, 6.4196979235649026e-1, 1.9476473204185836e-2, -9.561514786808631e-3,
    -9.46595344482036e-4, 3.66839497852761e-4, 4.2523324806907e-5, -2.0278578112534e-5,
    -1.624290004647e-6, 1.303655835580e-6, 1.5626441722e-8, -8.5238095915e-8, 6.529054439e-9,
    5.059343495e-9, -9.91364156e-10, -2.27365122e-10, 9.6467911e-11, 2.394038e-12,
    -6.886027e-12, 8.94487e-13, 3.13092e-13, -1.12708e-13, 3.81e-16, 7.106e-15, -1.523e-15,
    -9.4e-17, 1.21e-16, -2.8e-17)


def _erfc(z: Array) -> Array:
    """The complementary error function, from the fit above and erfc(-z) = 2 - erfc(z)."""
    pos = z >= 0
    a = fnp.where(pos, z, -z)   # |z| through select, so the derivative at 0 is not 0
    t = 2.0 / (2.0 + a)
    ty = 4.0 * t - 2.0
    d, dd = ty * _ERFC_COF[-1] + _ERFC_COF[-2], _ERFC_COF[-1]
    for c in _ERFC_COF[-3:0:-1]:   # Clenshaw's recurrence, unrolled
        d, dd = ty * d - dd + c, d
    r = t * fnp.exp(-a * a + 0.5 * (_ERFC_COF[0] + ty * d) - dd)
    return fnp.where(pos, r, 2.0 - r)


# ------------------------------------------------------------------------------ softmax family

def _max_const(x: Array, axis: Axis) -> Array:
    # Softmax and logsumexp are shift invariant, so the max is subtracted as a constant (no
    # gradient flows through it, not even a tie mask) and exp never sees a positive argument.
    m = fnp.max(fnp.stop_gradient(x), axis=axis, keepdims=True)
    return fnp.where(fnp.isfinite(m), m, 0.0)   # a row of -inf stays -inf, not nan


def _shifted(x: Array, axis: Axis) -> Array:
    return x - _max_const(x, axis)


def logsumexp(x: Array, axis: Axis = None, keepdims: bool = False) -> Array:
    """log(sum(exp(x), axis)), stable: the max is subtracted first.

    >>> logsumexp(np.array([1e4, 1e4]))
    array(10000.69314718)
    """
    x = _float(x)
    m = _max_const(x, axis)
    out = fnp.log(fnp.sum(fnp.exp(x - m), axis=axis, keepdims=True)) + m
    if keepdims:
        return out
    axes = tuple(range(x.ndim)) if axis is None else axis
    return fnp.asarray(fnp.squeeze(out, axis=axes))


def softmax(x: Array, axis: Axis = -1) -> Array:
    """exp(x) / sum(exp(x), axis), stable for any finite x.

    >>> softmax(np.array([0.0, 1e4, -1e4]))
    array([0., 1., 0.])
    """
    e = fnp.exp(_shifted(_float(x), axis))
    return e / fnp.sum(e, axis=axis, keepdims=True)


def log_softmax(x: Array, axis: Axis = -1) -> Array:
    """x - logsumexp(x, axis): finite where softmax underflows to 0.

    >>> log_softmax(np.array([0.0, 1e4]))
    array([-10000.,      0.])
    """
    s = _shifted(_float(x), axis)
    return s - fnp.log(fnp.sum(fnp.exp(s), axis=axis, keepdims=True))


def one_hot(labels: Array, num_classes: int, dtype=np.float64, axis: int = -1) -> Array:
    """Integer labels -> one-hot vectors along a new `axis`; out-of-range labels give zeros.

    >>> one_hot(np.array([0, 2]), 3)
    array([[1., 0., 0.],
           [0., 0., 1.]])
    """
    labels = fnp.asarray(labels)
    hot = fnp.expand_dims(labels, -1) == np.arange(num_classes)
    hot = fnp.astype(hot, dtype)
    return hot if axis in (-1, labels.ndim) else fnp.moveaxis(hot, -1, axis)


# ------------------------------------------------------------------------------ losses

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss: Array, reduction: str) -> Array:
    if reduction == "mean":
        if loss.ndim:   # (one example: nothing to average)
            loss = fnp.sum(loss) / loss.size if _is_float(loss.dtype) else fnp.mean(loss)
    elif reduction == "sum":
        loss = fnp.sum(loss)
    return fnp.asarray(loss)   # a 0-d array, not a NumPy scalar, when evaluated eagerly


def _check_reduction(reduction: str, name: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _targets_like(targets: Array, x: Array) -> Array:
    """Integer/bool targets take the float dtype of `x`; float targets keep NumPy promotion."""
    targets = fnp.asarray(targets)
    return targets if _is_float(targets.dtype) else fnp.astype(targets, x.dtype)


def _clamped_log(q: Array) -> Array:
    # PyTorch clamps log at -100 so that p = 0 gives a finite loss. The inner where keeps the
    # gradient of the unused branch at 0 (not 0 * inf). For float32 the cut is the smallest
    # normal number (1.2e-38, log -87.3) rather than exp(-100), so that 1/q stays finite.
    lo = max(math.exp(-100.0), float(np.finfo(q.dtype).tiny))
    ok = q > lo
    return fnp.where(ok, fnp.log(fnp.where(ok, q, 1.0)), -100.0)


def binary_cross_entropy(probs: Array, targets: Array, reduction: str = "mean") -> Array:
    """-(t log p + (1 - t) log(1 - p)) for probabilities p, as torch.nn.functional does.

    Each log is clamped at -100 (as in PyTorch), so p = 0 or 1 gives a finite loss, and the
    gradient there is 0 rather than inf (PyTorch's is (p - t) / max(p (1 - p), 1e-12)).
    Probabilities below the dtype's smallest normal number (float32: 1.2e-38) also count as
    log -100, keeping 1/p finite. Prefer `binary_cross_entropy_with_logits`, which never needs
    the clamp.

    >>> binary_cross_entropy(np.array([0.9, 0.2]), np.array([1.0, 0.0]))
    array(0.16425203)
    """
    _check_reduction(reduction, "binary_cross_entropy")
    p = _float(probs)
    t = _targets_like(targets, p)
    loss = -(t * _clamped_log(p) + (1.0 - t) * _clamped_log(1.0 - p))
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(logits: Array, targets: Array,
                                     reduction: str = "mean") -> Array:
    """binary_cross_entropy(sigmoid(z), t) without forming sigmoid(z):
    softplus(z) - t z = logaddexp(0, z) - t z (as PyTorch computes it): one stable logaddexp,
    finite for any finite z; gradient sigmoid(z) - t.

    >>> binary_cross_entropy_with_logits(np.array([1e4, -1e4, 0.0]), np.array([1, 0, 1]))
    array(0.23104906)
    """
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    z = _float(logits)
    t = _targets_like(targets, z)
    loss = fnp.logaddexp(0.0, z) - t * z
    return _reduce(loss, reduction)


def softmax_cross_entropy(logits: Array, labels: Array, axis: int = -1,
                          reduction: str = "mean") -> Array:
    """Cross-entropy of softmax(logits) against `labels`, per example, then reduced.

    `labels` are either integer class indices (shape of `logits` without `axis`) or
    probabilities (one-hot or soft, shape of `logits`). Integer labels select the true class by
    a one-hot mask multiply (vectorised, no gather); an out-of-range label selects nothing, so
    its loss is logsumexp(logits). The loss is logsumexp(z) - sum(labels * z) with z shifted
    by its max, so it is finite for any finite logits; its gradient is softmax(z) - labels.

    >>> softmax_cross_entropy(np.array([[2.0, 0.0], [0.0, 1e4]]), np.array([0, 1]))
    array(0.06346401)
    """
    _check_reduction(reduction, "softmax_cross_entropy")
    z = _float(logits)
    labels = fnp.asarray(labels)
    ax = axis % z.ndim if z.ndim else axis
    if labels.dtype.kind in "iu":
        expected = z.shape[:ax] + z.shape[ax + 1:]
        if labels.shape != expected:
            raise ValueError(f"softmax_cross_entropy: integer labels of shape {labels.shape} "
                             f"for logits of shape {z.shape}; expected {expected} (one class "
                             f"index per example)")
        labels = one_hot(labels, z.shape[ax], dtype=z.dtype, axis=ax)
        total = None   # each one-hot row sums to 1
    else:
        if labels.shape != z.shape:
            raise ValueError(f"softmax_cross_entropy: probability labels of shape "
                             f"{labels.shape} for logits of shape {z.shape}; they must match "
                             f"(or pass integer class indices)")
        total = fnp.sum(labels, axis=ax) if isinstance(labels, Tracer) else \
            np.sum(labels, axis=ax)
    s = _shifted(z, ax)
    lse = fnp.log(fnp.sum(fnp.exp(s), axis=ax))
    # -sum(labels * log_softmax) without forming log_softmax: one fewer full-size array.
    loss = (lse if total is None else lse * total) - fnp.sum(s * labels, axis=ax)
    return _reduce(loss, reduction)


# ------------------------------------------------------------------------------ convolution

def _tuple(v, nd: int, name: str) -> tuple[int, ...]:
    if isinstance(v, (int, np.integer)):
        return (int(v),) * nd
    v = tuple(int(a) for a in v)
    if len(v) != nd:
        raise ValueError(f"{name} has {len(v)} entries for {nd} spatial axes")
    return v


def _padding(padding, in_sizes, window, strides, dilation, name: str) -> tuple:
    """'VALID', 'SAME' (out = ceil(in / stride), the extra cell at the end, as JAX and
    TensorFlow pad), an int (both sides of every axis), or one int or (lo, hi) pair per axis."""
    nd = len(in_sizes)
    if isinstance(padding, str):
        mode = padding.upper()
        if mode == "VALID":
            return ((0, 0),) * nd
        if mode != "SAME":
            raise ValueError(f"{name}: padding must be 'VALID', 'SAME', an int or (lo, hi) "
                             f"pairs, not {padding!r}")
        pads = []
        for n, k, s, d in zip(in_sizes, window, strides, dilation):
            out = -(-n // s)
            total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
            pads.append((total // 2, total - total // 2))
        return tuple(pads)
    if isinstance(padding, (int, np.integer)):
        return ((int(padding), int(padding)),) * nd
    pads = tuple((int(p), int(p)) if isinstance(p, (int, np.integer)) else
                 (int(p[0]), int(p[1])) for p in padding)
    if len(pads) != nd:
        raise ValueError(f"{name}: padding has {len(pads)} entries for {nd} spatial axes")
    return pads


def conv(x: Array, w: Array, stride=1, padding="VALID", dilation=1, groups: int = 1,
         bias: Array | None = None) -> Array:
    """The convolution layer of deep learning (a cross-correlation: the window is not
    flipped), N-d by the rank: `x` is (N, C, *spatial) and `w` (O, C // groups, *window), as
    PyTorch's NCHW / OIHW; the result is (N, O, *out).

    `stride` and `dilation` (of the window): an int or one per spatial axis. `padding`:
    'VALID' (none), 'SAME' (out = ceil(in / stride)), an int, or one int or (lo, hi) pair
    per axis. `groups` splits the features into that many independent convolutions. `bias`
    (O,) is added per output feature. One `conv` primitive: its gradients are convolutions.

    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> conv(x, np.ones((1, 1, 2, 2)), stride=2)
    array([[[[10., 18.],
             [42., 50.]]]])
    >>> conv(x, np.ones((2, 1, 3, 3)), padding="SAME").shape
    (1, 2, 4, 4)
    """
    x, w = fnp.asarray(x), fnp.asarray(w)
    nd = x.ndim - 2
    if nd < 1 or w.ndim != x.ndim:
        raise ValueError(f"conv: x {x.shape} must be (N, C, *spatial) and w {w.shape} "
                         f"(O, C // groups, *window) of the same rank")
    strides = _tuple(stride, nd, "conv: stride")
    dilation = _tuple(dilation, nd, "conv: dilation")
    pads = _padding(padding, x.shape[2:], w.shape[2:], strides, dilation, "conv")
    out = _conv.conv(x, w, strides=strides, padding=pads, rhs_dilation=dilation,
                     groups=groups)
    if bias is not None:
        out = out + fnp.reshape(fnp.asarray(bias), (-1,) + (1,) * nd)
    return out


def conv_transpose(x: Array, w: Array, stride=1, padding=0, output_padding=0,
                   dilation=1) -> Array:
    """The transposed convolution (PyTorch's conv_transpose: the gradient of `conv` with
    respect to its input): `x` (N, C, *spatial), `w` (C, O, *window) laid out as PyTorch lays
    it out; the result is (N, O, *out) with out = (in - 1) stride - 2 padding +
    dilation (window - 1) + output_padding + 1. `padding` is an int or one per axis.

    >>> conv_transpose(np.ones((1, 1, 2)), np.array([[[1.0, 2.0]]]), stride=2)
    array([[[1., 2., 1., 2.]]])
    """
    x, w = fnp.asarray(x), fnp.asarray(w)
    nd = x.ndim - 2
    strides = _tuple(stride, nd, "conv_transpose: stride")
    dilation = _tuple(dilation, nd, "conv_transpose: dilation")
    pad = _tuple(padding, nd, "conv_transpose: padding")
    extra = _tuple(output_padding, nd, "conv_transpose: output_padding")
    pads = [((k - 1) * d - p, (k - 1) * d - p + e) for k, d, p, e in
            zip(w.shape[2:], dilation, pad, extra)]
    # the window flipped, its two feature axes swapped: (C, O, *K) -> (O, C, *K)
    wt = fnp.flip(fnp.swapaxes(w, 0, 1), axis=tuple(range(2, 2 + nd)))
    return _conv.conv(x, wt, padding=pads, lhs_dilation=strides, rhs_dilation=dilation)


def _pool_args(x, window, stride, padding, name):
    nd = x.ndim - 2
    if nd < 1:
        raise ValueError(f"{name}: x {x.shape} must be (N, C, *spatial)")
    window = _tuple(window, nd, f"{name}: window")
    strides = window if stride is None else _tuple(stride, nd, f"{name}: stride")
    pads = _padding(padding, x.shape[2:], window, strides, (1,) * nd, name)
    return nd, window, strides, pads


def avg_pool(x: Array, window, stride=None, padding="VALID") -> Array:
    """The mean over each window of the spatial axes of `x` (N, C, *spatial), every feature
    apart; `stride` defaults to the window (non-overlapping windows); `padding` as in `conv`.
    Padded cells count as zeros in the mean (PyTorch's count_include_pad=True). One depthwise
    `conv` with a constant window.

    >>> avg_pool(np.arange(16.0).reshape(1, 1, 4, 4), 2)
    array([[[[ 2.5,  4.5],
             [10.5, 12.5]]]])
    """
    x = _float(x)
    nd, window, strides, pads = _pool_args(x, window, stride, padding, "avg_pool")
    c = x.shape[1]
    w = np.full((c, 1) + window, 1.0 / math.prod(window), x.dtype)
    return _conv.conv(x, w, strides=strides, padding=pads, groups=c)


def max_pool(x: Array, window, stride=None, padding="VALID") -> Array:
    """The maximum over each window of the spatial axes of `x` (N, C, *spatial), every
    feature apart; `stride` defaults to the window; `padding` as in `conv` (padded cells are
    -inf). Its gradient goes to the maximum of each window (split evenly between ties).

    >>> max_pool(np.arange(16.0).reshape(1, 1, 4, 4), 2)
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    """
    x = _float(x)
    nd, window, strides, pads = _pool_args(x, window, stride, padding, "max_pool")
    if any(lo or hi for lo, hi in pads):
        x = fnp.pad(x, ((0, 0), (0, 0)) + tuple(pads), constant_values=-np.inf)
    out_sp = [(n - k) // s + 1 for n, k, s in zip(x.shape[2:], window, strides)]
    taps = []
    for tap in itertools.product(*[range(k) for k in window]):
        index = (slice(None),) * 2 + tuple(slice(t, t + (m - 1) * s + 1, s) for t, m, s in
                                           zip(tap, out_sp, strides))
        taps.append(x[index])
    return fnp.max(fnp.stack(taps), axis=0)
