"""conv: N-d convolution (cross-correlation, as in deep learning) is one bilinear primitive, in
the spirit of JAX's lax.conv_general_dilated with its layout fixed.

    conv_p(lhs, rhs, strides, padding, lhs_dilation, rhs_dilation, groups)

`lhs` is (N, C, *spatial) and `rhs` is (O, C // groups, *window): batch, feature and spatial
axes are always in this order (NCHW / OIHW), so the primitive needs no dimension numbers;
callers with another layout transpose (a view). The result is (N, O, *out):

    out[n, o, i] = sum_{c, k} xp[n, g(o) C/G + c, i * strides + k * rhs_dilation] rhs[o, c, k]

where `xp` is `lhs` dilated by `lhs_dilation` (d - 1 zeros between neighbours), then padded
with `padding[d] = (lo, hi)` zeros per spatial axis (negative padding crops), and g(o) is the
group of output feature o (G = groups: the output features are split in G blocks, each
reading its own block of C / G input features). Spatial size: with P the padded size and
K_e = (K - 1) rhs_dilation + 1 the dilated window, out = (P - K_e) // stride + 1.

No flip: this is the cross-correlation of deep learning (a true convolution flips the window,
which funcgrad.scipy.signal does with a `rev`). The forward is NumPy's sliding_window_view of
the padded input, strided, contracted with the window by one tensordot (im2col + GEMM).

Derivatives. conv is bilinear: its JVP is conv(dlhs, rhs) + conv(lhs, drhs). Its transposes
are convolutions again (so reverse over reverse works), with the plain (unconjugated)
transpose that JAX uses for complex-linear maps:

    lhs:  ct dilated by `strides`, correlated with the flipped window (rhs_dilation kept,
          features swapped within each group) with padding (K_e - 1 - lo, K_e - 1 - hi + r),
          r = (P - K_e) mod stride the rows the forward never reached, and stride
          `lhs_dilation` (reading back only the real, undilated positions);
    rhs:  lhs (dilated and padded as in the forward, less those r rows) correlated with ct as
          the window (rhs_dilation = strides, stride = rhs_dilation), where the batch axis N
          is the contracted feature axis and the features C / G are the batch; the G groups
          become G feature groups of N features each.

vmap folds the batch axis into the convolution: into N when only lhs is batched, into the
output features when only rhs is (inside each group), and when both are, into the feature
groups (B G groups: one per example and group).
"""
from __future__ import annotations

import itertools
import math
from functools import lru_cache

import numpy as np

from ..core.ir import is_undefined
from ..core.primitive import Lowering, Primitive
from ..core.types import ArrayType, promote
from .shape import move_axis, reshape, rev, shape_of, transpose


def _dilated(n: int, d: int) -> int:
    return 0 if n == 0 else (n - 1) * d + 1


def _out_spatial(in_shape, window, strides, padding, lhs_dilation, rhs_dilation):
    out = []
    for n, k, s, (lo, hi), dl, dr in zip(in_shape, window, strides, padding, lhs_dilation,
                                         rhs_dilation):
        p = _dilated(n, dl) + lo + hi
        ke = _dilated(k, dr)
        out.append(max(0, (p - ke) // s + 1) if p >= ke else 0)
    return tuple(out)


def _conv_type(lhs: ArrayType, rhs: ArrayType, *, strides, padding, lhs_dilation,
               rhs_dilation, groups):
    nd = lhs.ndim - 2
    if lhs.ndim < 3 or rhs.ndim != lhs.ndim:
        raise ValueError(f"conv: lhs {lhs.short()} must be (N, C, *spatial) with at least one "
                         f"spatial axis and rhs {rhs.short()} (O, C // groups, *window) of the "
                         f"same rank")
    if not (len(strides) == len(padding) == len(lhs_dilation) == len(rhs_dilation) == nd):
        raise ValueError(f"conv: {nd} spatial axes need {nd} strides, paddings and dilations; "
                         f"got strides={strides}, padding={padding}, "
                         f"lhs_dilation={lhs_dilation}, rhs_dilation={rhs_dilation}")
    if min(strides + lhs_dilation + rhs_dilation, default=1) < 1:
        raise ValueError("conv: strides and dilations must be >= 1")
    n, c = lhs.shape[:2]
    o, ci = rhs.shape[:2]
    if groups < 1 or c % groups or o % groups or ci * groups != c:
        raise ValueError(f"conv: lhs has {c} features and rhs {o} x {ci}: with "
                         f"groups={groups}, rhs must be (O, C // groups, ...) with C and O "
                         f"multiples of groups")
    dtype, _ = promote(lhs, rhs)
    if dtype.kind not in "fc":
        raise TypeError(f"conv: takes float or complex operands, not {lhs.short()} and "
                        f"{rhs.short()}")
    out = _out_spatial(lhs.shape[2:], rhs.shape[2:], strides, padding, lhs_dilation,
                       rhs_dilation)
    return ArrayType((n, o) + out, dtype)


# --- the forward: pad, window, contract -------------------------------------------------------

def _pad_dilate(x: np.ndarray, padding, lhs_dilation) -> np.ndarray:
    """x dilated and padded along its spatial axes (2, 3, ...) (negative padding crops), in one
    allocation; x itself when there is nothing to do."""
    if all(d == 1 for d in lhs_dilation) and all(lo == hi == 0 for lo, hi in padding):
        return x
    if all(d == 1 for d in lhs_dilation) and all(lo >= 0 and hi >= 0 for lo, hi in padding) \
            and x.size:
        out = np.zeros(x.shape[:2] + tuple(n + lo + hi for n, (lo, hi) in
                                           zip(x.shape[2:], padding)), x.dtype)
        out[(slice(None),) * 2 + tuple(slice(lo, lo + n) for n, (lo, _) in
                                       zip(x.shape[2:], padding))] = x
        return out
    shape, dst, src = list(x.shape[:2]), [slice(None)] * 2, [slice(None)] * 2
    empty = False
    for n, (lo, hi), d in zip(x.shape[2:], padding, lhs_dilation):
        p = max(0, _dilated(n, d) + lo + hi)
        shape.append(p)
        first = -(lo // d) if lo < 0 else 0              # x[i] lands at i d + lo
        last = min(n - 1, (p - 1 - lo) // d)
        empty = empty or last < first
        dst.append(slice(first * d + lo, last * d + lo + 1, d))
        src.append(slice(first, last + 1))
    out = np.zeros(tuple(shape), x.dtype)
    if not empty:
        out[tuple(dst)] = x[tuple(src)]
    return out


def _conv_impl(lhs, rhs, *, strides, padding, lhs_dilation, rhs_dilation, groups):
    lhs, rhs = np.asarray(lhs), np.asarray(rhs)
    aval = _conv_type(ArrayType(lhs.shape, lhs.dtype), ArrayType(rhs.shape, rhs.dtype),
                      strides=strides, padding=padding, lhs_dilation=lhs_dilation,
                      rhs_dilation=rhs_dilation, groups=groups)
    dtype = aval.dtype
    lhs, rhs = lhs.astype(dtype, copy=False), rhs.astype(dtype, copy=False)
    nd = lhs.ndim - 2
    if 0 in aval.shape or 0 in rhs.shape[1:]:
        return np.zeros(aval.shape, dtype)
    xp = _pad_dilate(lhs, padding, lhs_dilation)
    n, c = lhs.shape[:2]
    o = rhs.shape[0]
    taps, positions = math.prod(rhs.shape[2:]), math.prod(aval.shape[2:])
    if groups == 1 and taps <= positions:
        if 4 * o <= c and all(st == 1 for st in strides) and \
                n * taps * o * math.prod(xp.shape[2:]) <= _IM2COL_ELEMENTS:
            return _gemm_shift_add(xp, rhs, aval, rhs_dilation)
        if c >= 4:
            return _tap_loop(xp, rhs, aval, strides, rhs_dilation)
    window = tuple(_dilated(k, d) for k, d in zip(rhs.shape[2:], rhs_dilation))
    spatial = tuple(range(2, 2 + nd))
    win = np.lib.stride_tricks.sliding_window_view(xp, window, axis=spatial)
    # (N, C, *positions, *window): keep every stride-th position and every dilation-th tap
    win = win[(slice(None),) * 2 + tuple(slice(None, None, s) for s in strides)
              + tuple(slice(None, None, d) for d in rhs_dilation)]
    win = win[(slice(None),) * 2 + tuple(slice(0, m) for m in aval.shape[2:])]
    # im2col gathers N C K values per output position: in chunks of output rows (along the
    # first spatial axis) when that would be large, so memory stays bounded
    per_row = n * c * taps * math.prod(aval.shape[3:])
    rows = max(1, _IM2COL_ELEMENTS // max(per_row, 1))
    if rows >= aval.shape[2]:
        return _contract(win, rhs, groups, aval)
    out = np.empty(aval.shape, dtype)
    for r in range(0, aval.shape[2], rows):
        part = aval.update(shape=aval.shape[:2] + (min(rows, aval.shape[2] - r),)
                           + aval.shape[3:])
        out[:, :, r:r + rows] = _contract(win[:, :, r:r + rows], rhs, groups, part)
    return out


_IM2COL_ELEMENTS = 1 << 22


def _contract(win, rhs, groups, aval):
    """(N, C, *out, *K) windows times (O, C // groups, *K) weights: (N, O, *out)."""
    nd = rhs.ndim - 2
    if groups == 1:
        # (N, *out, O) from one GEMM over (C, *window); O moved to axis 1 as a view
        axes_w = (1,) + tuple(range(2 + nd, 2 + 2 * nd))
        return np.moveaxis(np.tensordot(win, rhs, axes=(axes_w, tuple(range(1, 2 + nd)))),
                           -1, 1)
    n, c = win.shape[:2]
    o, g = rhs.shape[0], groups
    win = win.reshape((n, g, c // g) + win.shape[2:])
    w = rhs.reshape((g, o // g) + rhs.shape[1:])
    letters = "abcdefghijklmnopqrstuvwxyz"
    sp, kk = letters[:nd], letters[nd:2 * nd]
    out = np.einsum(f"NGC{sp}{kk},GOC{kk}->NGO{sp}", win, w, optimize=True)
    return out.reshape(aval.shape)


def _gemm_shift_add(xp, rhs, aval, rhs_dilation):
    """Stride 1 and at most a quarter as many output features as input ones (a transpose back
    to a narrow input, say): per example one GEMM of every tap's weights with every padded
    position, (K O, C) x (C, P), then the K shifted slices summed; no window is gathered."""
    o, c = rhs.shape[:2]
    window, out_sp = rhs.shape[2:], aval.shape[2:]
    nd = len(window)
    n = xp.shape[0]
    wt = np.moveaxis(rhs, (0, 1), (nd, nd + 1)).reshape(-1, c)        # (K O, C)
    y = np.matmul(wt, xp.reshape(n, c, -1))                           # (N, K O, P)
    y = y.reshape((n,) + window + (o,) + xp.shape[2:])
    out = None
    for tap in itertools.product(*[range(k) for k in window]):
        sl = tuple(slice(t * d, t * d + m) for t, d, m in zip(tap, rhs_dilation, out_sp))
        term = y[(slice(None),) + tap + (slice(None),) + sl]
        if out is None:
            out = term.copy()
        else:
            out += term
    return out


def _tap_loop(xp, rhs, aval, strides, rhs_dilation):
    """One GEMM per window tap over the features, channels last: for several features and
    fewer taps than output positions, faster than im2col's strided gather of every window."""
    xc = np.ascontiguousarray(np.moveaxis(xp, 1, -1))             # (N, *S, C)
    wt = np.ascontiguousarray(np.moveaxis(rhs, 0, -1))             # (C, *K, O)
    out_sp = aval.shape[2:]
    out = None
    for tap in itertools.product(*[range(k) for k in rhs.shape[2:]]):
        sl = tuple(slice(t * d, t * d + (m - 1) * s + 1, s) for t, d, m, s in
                   zip(tap, rhs_dilation, out_sp, strides))
        term = xc[(slice(None),) + sl] @ wt[(slice(None),) + tap]
        if out is None:
            out = term
        else:
            out += term
    return np.moveaxis(out, -1, 1)                               # (N, O, *out), a view


@lru_cache(maxsize=256)
def _conv_lowering(params: tuple) -> Lowering:
    kw = dict(params)
    return Lowering("{f}({0}, {1}, strides={s}, padding={p}, lhs_dilation={ld}, "
                    "rhs_dilation={rd}, groups={g})",
                    {"f": _conv_impl, "s": kw["strides"], "p": kw["padding"],
                     "ld": kw["lhs_dilation"], "rd": kw["rhs_dilation"], "g": kw["groups"]})


def _conv_lower(in_avals, params):
    return _conv_lowering(tuple(sorted(params.items())))


def _conv_cost(lhs: ArrayType, rhs: ArrayType, **params) -> int:
    """2 multiply-adds per output element per (C / groups) x window tap."""
    out = _conv_type(lhs, rhs, **params)
    return 2 * out.size * math.prod(rhs.shape[1:])


# --- derivatives --------------------------------------------------------------------------------

def _conv_jvp(primals, tangents, **params):
    (x, w), (tx, tw) = primals, tangents
    out = conv_p.bind(x, w, **params)
    t = None
    if tx is not None:
        t = conv_p.bind(tx, w, **params)
    if tw is not None:
        t2 = conv_p.bind(x, tw, **params)
        t = t2 if t is None else t + t2
    return out, t


def _leftover(n, k, s, lo, hi, dl, dr) -> int:
    """Rows of the padded input past the last window the forward applied."""
    p = _dilated(n, dl) + lo + hi
    return (p - _dilated(k, dr)) % s


def _lhs_transpose(ct, w, lhs_shape, *, strides, padding, lhs_dilation, rhs_dilation, groups):
    nd = len(strides)
    o, ci = shape_of(w)[:2]
    window = shape_of(w)[2:]
    g = groups
    # (O, C/G, *K) -> (C, O/G, *K) within each group, window flipped
    wt = reshape(w, (g, o // g, ci) + window)
    wt = transpose(wt, (0, 2, 1) + tuple(range(3, 3 + nd)))
    wt = rev(reshape(wt, (g * ci, o // g) + window), tuple(range(2, 2 + nd)))
    pads = []
    for n, k, s, (lo, hi), dl, dr in zip(lhs_shape[2:], window, strides, padding,
                                         lhs_dilation, rhs_dilation):
        ke = _dilated(k, dr)
        r = _leftover(n, k, s, lo, hi, dl, dr)
        pads.append((ke - 1 - lo, ke - 1 - hi + r))
    return conv(ct, wt, strides=lhs_dilation, padding=pads, lhs_dilation=strides,
                rhs_dilation=rhs_dilation, groups=g)


def _rhs_transpose(ct, x, rhs_shape, *, strides, padding, lhs_dilation, rhs_dilation, groups):
    nd = len(strides)
    n, c = shape_of(x)[:2]
    g = groups
    spatial = shape_of(x)[2:]
    # x (N, C, *S) -> (C/G, G N, *S): batch = the group's features, features = (group, n)
    xt = reshape(x, (n, g, c // g) + spatial)
    xt = transpose(xt, (2, 1, 0) + tuple(range(3, 3 + nd)))
    xt = reshape(xt, (c // g, g * n) + spatial)
    ctt = move_axis(ct, 1, 0)                      # (O, N, *out): O windows over N features
    pads = []
    for m, k, s, (lo, hi), dl, dr in zip(spatial, rhs_shape[2:], strides, padding,
                                         lhs_dilation, rhs_dilation):
        pads.append((lo, hi - _leftover(m, k, s, lo, hi, dl, dr)))
    out = conv(xt, ctt, strides=rhs_dilation, padding=pads, lhs_dilation=lhs_dilation,
               rhs_dilation=strides, groups=g)     # (C/G, O, *K)
    return move_axis(out, 1, 0)


def _conv_transpose(ct, x, w, **params):
    cx = cw = None
    if is_undefined(x):
        cx = _lhs_transpose(ct, w, x.aval.shape, **params)
    if is_undefined(w):
        cw = _rhs_transpose(ct, x, w.aval.shape, **params)
    return [cx, cw]


# --- vmap ---------------------------------------------------------------------------------------

def _conv_batch(vals, dims, *, strides, padding, lhs_dilation, rhs_dilation, groups):
    (x, w), (dx, dy) = vals, dims
    kw = dict(strides=strides, padding=padding, lhs_dilation=lhs_dilation,
              rhs_dilation=rhs_dilation)
    g = groups
    if dy is None:                                 # B into the batch axis N
        x = move_axis(x, dx, 0)
        b, n = shape_of(x)[:2]
        out = conv(reshape(x, (b * n,) + shape_of(x)[2:]), w, groups=g, **kw)
        return reshape(out, (b, n) + shape_of(out)[1:]), 0
    w = move_axis(w, dy, 0)
    b, o = shape_of(w)[:2]
    rest = shape_of(w)[2:]
    if dx is None:                                 # B into the output features, per group
        wt = transpose(reshape(w, (b, g, o // g) + rest), (1, 0, 2) + tuple(
            range(3, 3 + len(rest))))
        out = conv(x, reshape(wt, (g * b * (o // g),) + rest), groups=g, **kw)
        n, sp = shape_of(out)[0], shape_of(out)[2:]
        out = reshape(out, (n, g, b, o // g) + sp)
        out = transpose(out, (2, 0, 1, 3) + tuple(range(4, 4 + len(sp))))
        return reshape(out, (b, n, o) + sp), 0
    # both: B G feature groups, example b's group j is group b G + j
    x = move_axis(x, dx, 1)                        # (N, B, C, *S)
    n, _, c = shape_of(x)[:3]
    x = reshape(x, (n, b * c) + shape_of(x)[3:])
    out = conv(x, reshape(w, (b * o,) + rest), groups=b * g, **kw)
    return reshape(out, (n, b, o) + shape_of(out)[2:]), 1


conv_p = Primitive("conv", _conv_impl, _conv_type, jvp=_conv_jvp, transpose=_conv_transpose,
                   batch=_conv_batch, lower=_conv_lower, cost=_conv_cost, fresh=True)


def _pairs(padding, nd: int) -> tuple:
    if isinstance(padding, int):
        return ((padding, padding),) * nd
    return tuple((int(lo), int(hi)) for lo, hi in padding)


def _ints(v, nd: int, name: str) -> tuple:
    if v is None:
        return (1,) * nd
    if isinstance(v, (int, np.integer)):
        return (int(v),) * nd
    v = tuple(int(a) for a in v)
    if len(v) != nd:
        raise ValueError(f"conv: {name}={v} has {len(v)} entries for {nd} spatial axes")
    return v


def conv(lhs, rhs, *, strides=None, padding=0, lhs_dilation=None, rhs_dilation=None,
         groups: int = 1):
    """Bind conv_p: lhs (N, C, *S) cross-correlated with rhs (O, C // groups, *K), NCHW/OIHW.

    `strides`, `lhs_dilation`, `rhs_dilation`: an int or one per spatial axis (default 1);
    `padding`: an int or one (lo, hi) pair per spatial axis (negative crops).

    >>> x = np.arange(5.0).reshape(1, 1, 5)
    >>> conv(x, np.array([[[1.0, -1.0]]]))
    array([[[-1., -1., -1., -1.]]])
    """
    nd = len(shape_of(lhs)) - 2
    return conv_p.bind(lhs, rhs, strides=_ints(strides, nd, "strides"),
                       padding=_pairs(padding, nd),
                       lhs_dilation=_ints(lhs_dilation, nd, "lhs_dilation"),
                       rhs_dilation=_ints(rhs_dilation, nd, "rhs_dilation"),
                       groups=int(groups))
