"""fft: every discrete Fourier transform (np.fft's fft/ifft/rfft/irfft and their n-d forms) is
one linear primitive, as JAX's lax.fft is.

    fft_p(x, kind, axes, lengths, norm)

`kind` is "fft" or "ifft" (complex -> complex), "rfft" (real -> the non-negative half of the
spectrum, complex) or "irfft" (that half spectrum -> real). `axes` are the transformed axes,
distinct, in NumPy's order: for rfft and irfft the last one is the real (halved) axis.
`lengths` are the transform lengths n (np.fft's `s`): before transforming, the input is
cropped or zero-padded along each axis to n (to n // 2 + 1 along irfft's last axis, which holds
the half spectrum); the output has n there (n // 2 + 1 along rfft's last axis). `norm` is
"backward", "ortho" or "forward", as in NumPy. One primitive rather than four: the kinds share
their shape rule, lowering, batching and cost, and each kind's transpose is another kind.

Transposes, under JAX's pairing <c, t> = Re(sum(c * t)) (a complex-linear map's transpose is
its plain transpose); `resize` is the crop-or-pad back to the operand's shape (the transpose
of a zero-pad is a crop, and of a crop a zero-pad), `swap` exchanges "backward" and
"forward" (the scale of a forward transform with norm m is that of the inverse with swap(m)):

    fft, ifft:  x_ct = resize(same kind, same norm (ct))          the DFT matrix is symmetric
    rfft:       x_ct = resize(irfft(conj(ct) * w, swap(norm)))     w = 1 on bin 0 and bin n/2
                                                                  (n even), 1/2 elsewhere
    irfft:      z_ct = resize(conj(rfft(ct, swap(norm))) * 2 w)   (the weights 1 or 2 are 1/w)

rfft is not complex-linear (its input is real): its transpose is Re(DFT^T (ct padded with
zeros to the full spectrum)) = Re(sum_j ct_j e^{-2 pi i jk/n}). irfft sums a Hermitian
half-spectrum z as c2r does: x = sum_j m_j Re(z_j e^{+2 pi i jk/n}) (m = 1 on bins 0 and
n/2, where c2r ignores the imaginary part, 2 on the bins that stand for a conjugate pair).
Both formulas follow from these two sums; the weights along the real axis hold for the n-d
transforms too, the other axes being plain complex DFTs. The rfft transpose is one c2r
transform, not a full complex FFT of the padded cotangent (JAX's: twice the work).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ..core.primitive import Lowering, Primitive, compile_lowering
from ..core.types import ArrayType
from .elementwise import conj, mul
from .indexing import concatenate, slice_axis
from .shape import shape_of, zeros

KINDS = ("fft", "ifft", "rfft", "irfft")
NORMS = ("backward", "ortho", "forward")
_SWAP = {"backward": "forward", "ortho": "ortho", "forward": "backward"}
_ONE_AXIS = {"fft": np.fft.fft, "ifft": np.fft.ifft, "rfft": np.fft.rfft, "irfft": np.fft.irfft}
_N_AXES = {"fft": np.fft.fftn, "ifft": np.fft.ifftn, "rfft": np.fft.rfftn,
           "irfft": np.fft.irfftn}
# NumPy 2 transforms float32 in single precision; NumPy 1 returns complex128: cast back then.
_SINGLE = np.fft.fft(np.zeros(2, np.float32)).dtype == np.complex64


def _out_dtype(kind: str, dtype: np.dtype) -> np.dtype:
    if kind == "irfft":
        return np.finfo(dtype).dtype                      # complex64 -> float32
    return np.result_type(dtype, np.complex64)            # float32 -> complex64, f64 -> c128


def _fft_type(x: ArrayType, *, kind, axes, lengths, norm):
    if kind not in KINDS:
        raise ValueError(f"fft: unknown kind {kind!r}; expected one of {KINDS}")
    if norm not in NORMS:
        raise ValueError(f'fft: invalid norm {norm!r}; expected "backward", "ortho" or '
                         f'"forward"')
    if not axes or len(axes) != len(lengths):
        raise ValueError(f"fft: {len(axes)} axes and {len(lengths)} lengths; expected as "
                         f"many lengths as axes, at least one")
    if len(set(axes)) != len(axes) or not all(0 <= a < x.ndim for a in axes):
        raise ValueError(f"fft: axes {axes} are not distinct axes of an array of shape "
                         f"{x.shape}")
    if not all(n >= 1 for n in lengths):
        raise ValueError(f"fft: invalid number of FFT data points {lengths}: each must be >= 1")
    if kind == "rfft":
        if x.dtype not in (np.float32, np.float64):
            raise TypeError(f"fft: rfft takes a float32 or float64 operand, not {x.short()}")
    elif x.dtype not in (np.complex64, np.complex128):
        raise TypeError(f"fft: {kind} takes a complex64 or complex128 operand, not "
                        f"{x.short()}")
    shape = list(x.shape)
    for a, n in zip(axes, lengths):
        shape[a] = n
    if kind == "rfft":
        shape[axes[-1]] = lengths[-1] // 2 + 1
    return ArrayType(tuple(shape), _out_dtype(kind, x.dtype))


@lru_cache(maxsize=1024)
def _fft_lowering(kind: str, axes: tuple, lengths: tuple, norm: str, dtype) -> Lowering:
    """Which NumPy call computes a transform: the one decision, for eager calls and jit."""
    if len(axes) == 1:
        call = f"{{f}}({{0}}, {lengths[0]!r}, {axes[0]!r}, {norm!r})"
        f = _ONE_AXIS[kind]
    else:
        call = f"{{f}}({{0}}, {lengths!r}, {axes!r}, {norm!r})"
        f = _N_AXES[kind]
    out = _out_dtype(kind, np.dtype(dtype))
    if not _SINGLE and np.finfo(out).bits == 32:
        return Lowering(f"{call}.astype({{dt}})", {"f": f, "dt": out})
    return Lowering(call, {"f": f})


@lru_cache(maxsize=1024)
def _fft_callable(kind, axes, lengths, norm, dtype):
    return compile_lowering(_fft_lowering(kind, axes, lengths, norm, dtype), 1)


def _fft_impl(x, *, kind, axes, lengths, norm):
    x = np.asarray(x)
    return _fft_callable(kind, axes, lengths, norm, x.dtype)(x)


def _fft_lower(in_avals, params):
    return _fft_lowering(params["kind"], params["axes"], params["lengths"], params["norm"],
                         in_avals[0].dtype)


def _fft_jvp(primals, tangents, **params):
    return fft_p.bind(primals[0], **params), fft_p.bind(tangents[0], **params)


# --- the transpose ---------------------------------------------------------------------------

def resize(x, axes, sizes):
    """Crop `x` or pad it with zeros at the end, along each axis to its size."""
    for a, n in zip(axes, sizes):
        m = shape_of(x)[a]
        if m > n:
            x = slice_axis(x, a, 0, n)
        elif m < n:
            shape = list(shape_of(x))
            shape[a] = n - m
            x = concatenate([x, zeros(ArrayType(tuple(shape), x.dtype))], a)
    return x


def _half_weights(n: int, axis: int, ndim: int, dtype) -> np.ndarray:
    """1 on bin 0 and (n even) bin n/2 of the half spectrum, 1/2 on the bins that stand for a
    conjugate pair; shaped to broadcast along `axis`."""
    w = np.full(n // 2 + 1, 0.5, np.finfo(dtype).dtype)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    return w.reshape([-1 if i == axis else 1 for i in range(ndim)])


def _fft_transpose(ct, x, *, kind, axes, lengths, norm):
    ndim, real_axis = x.aval.ndim, axes[-1]
    if kind in ("fft", "ifft"):
        out = fft(ct, kind, axes, lengths, norm)
    elif kind == "rfft":
        w = _half_weights(lengths[-1], real_axis, ndim, ct.dtype)
        out = fft(mul(conj(ct), w), "irfft", axes, lengths, _SWAP[norm])
    else:
        w = _half_weights(lengths[-1], real_axis, ndim, ct.dtype)
        out = mul(conj(fft(ct, "rfft", axes, lengths, _SWAP[norm])), 1.0 / w)
    return [resize(out, axes, [x.aval.shape[a] for a in axes])]


def _fft_batch(vals, dims, *, kind, axes, lengths, norm):
    """The batch axis is never transformed: the transformed axes are renumbered around it."""
    (x,), (d,) = vals, dims
    return fft(x, kind, tuple(a + (a >= d) for a in axes), lengths, norm), d


def _fft_cost(x: ArrayType, *, kind, axes, lengths, norm) -> int:
    """5 N log2 N per complex transform of N points (half that for a real one)."""
    n = math.prod(lengths)
    lines = math.prod(d for i, d in enumerate(x.shape) if i not in axes)
    flops = 5 * lines * n * math.log2(n) if n > 1 else 0
    return int(flops / 2 if kind in ("rfft", "irfft") else flops)


fft_p = Primitive("fft", _fft_impl, _fft_type, jvp=_fft_jvp, transpose=_fft_transpose,
                  batch=_fft_batch, lower=_fft_lower, cost=_fft_cost, linear=True, fresh=True)


def fft(x, kind: str, axes, lengths, norm: str = "backward"):
    """Bind fft_p: the transform `kind` over `axes` (distinct, non-negative) with `lengths`."""
    return fft_p.bind(x, kind=kind, axes=tuple(int(a) for a in axes),
                      lengths=tuple(int(n) for n in lengths), norm=norm)
