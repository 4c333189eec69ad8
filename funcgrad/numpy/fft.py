"""funcgrad.numpy.fft: np.fft's transforms, traced and differentiable (forward and reverse, any
order; complex inputs and outputs under JAX's convention), with NumPy's signatures and dtypes
(float32 and complex64 stay single precision).

Every transform binds the one linear primitive `fft` (funcgrad/prims/fft.py) with its kind
(fft, ifft, rfft, irfft), axes, lengths (`n` / `s`: crop or zero-pad) and norm; hfft and ihfft
are irfft and rfft of the conjugate with the norm swapped, as in NumPy. fftshift and ifftshift
are rolls (two slices and a concatenate per axis); fftfreq and rfftfreq are NumPy's own.
"""
from __future__ import annotations

import operator as _operator
import warnings as _warnings

import numpy as _np
from numpy.fft import fftfreq, rfftfreq  # noqa: F401 (re-exported: constants)

from ..prims import fft as _p
from ..util import canonical_axis as _canonical_axis
from ._creation import asarray as _asarray
from ._elementwise import astype as _astype
from ._elementwise import conjugate as _conjugate
from ._shapes import concatenate as _concatenate
from ._util import _dtype, _ndim, _no_out, _reports_user_line, _shape

_SWAP = {"backward": "forward", "ortho": "ortho", "forward": "backward"}


# ---------------------------------------------------------------- arguments, as NumPy reads them

def _norm(norm, name: str) -> str:
    if norm is None:
        return "backward"
    if norm not in _SWAP:
        raise ValueError(f'{name}: invalid norm value {norm!r}; should be "backward", "ortho" '
                         f'or "forward"')
    return norm


def _points(n, name: str) -> int:
    try:
        n = _operator.index(n)
    except TypeError:
        raise TypeError(f"{name}: the number of FFT data points must be an integer, not "
                        f"{n!r}") from None
    if n < 1:
        raise ValueError(f"{name}: invalid number of FFT data points ({n}) specified")
    return n


def _axis(axis, ndim: int, name: str) -> int:
    try:
        axis = _operator.index(axis)
    except TypeError:
        raise TypeError(f"{name}: an axis must be an integer, not {axis!r}") from None
    if ndim == 0:
        raise ValueError(f"{name}: axis {axis} is out of bounds for a 0-d array (an FFT needs "
                         f"at least one axis)")
    return _canonical_axis(axis, ndim, name)


def _as_complex(a, name: str):
    """`a` as complex64 (from float32, float16, complex64) or complex128 (everything else)."""
    a = _asarray(a)
    dt = _np.dtype(_dtype(a))
    if dt in (_np.complex64, _np.complex128):
        return a
    if dt.kind not in "biufc":
        raise TypeError(f"{name}: cannot transform an array of dtype {dt}")
    single = dt.kind in "fc" and _np.finfo(dt).bits <= 32
    return _astype(a, _np.complex64 if single else _np.complex128)


def _as_real(a, name: str):
    """`a` as float32 (from float32, float16) or float64; complex input is an error, as in
    NumPy (rfft transforms real signals: use fft for complex ones)."""
    a = _asarray(a)
    dt = _np.dtype(_dtype(a))
    if dt.kind == "c":
        raise TypeError(f"{name} takes real input, not {dt}: use fft (or fftn) for complex "
                        f"input")
    if dt.kind not in "biuf":
        raise TypeError(f"{name}: cannot transform an array of dtype {dt}")
    if dt in (_np.float32, _np.float64):
        return a
    return _astype(a, _np.float32 if dt.kind == "f" and dt.itemsize <= 4 else _np.float64)


def _half_back(out, a):
    """NumPy gives irfft of float16 input in float16 (computed in float32)."""
    return _astype(out, _np.float16) if _dtype(a) == _np.float16 else out


def _one_axis(x, n, axis, name: str, inverse_real: bool = False):
    """(axis, n) of a one-axis transform: n defaults to the input's size along the axis (for
    the inverse real transforms, 2 (m - 1): an even signal)."""
    ax = _axis(axis, _ndim(x), name)
    if n is None:
        m = _shape(x)[ax]
        n = 2 * (m - 1) if inverse_real else m
        if n < 1:
            raise ValueError(f"{name}: invalid number of FFT data points ({n}): the input has "
                             f"{m} along axis {ax}" + (", and the default n is 2 (m - 1); "
                                                       "pass n" if inverse_real else ""))
    return ax, _points(n, name)


def _cook(x, s, axes, name: str, inverse_real: bool = False):
    """np.fft's `s` and `axes` of an n-d transform, as NumPy reads them: axes default to all
    (to the last len(s) when only s is given), s to the input's sizes (-1 or None: the input's
    size, or for the last axis of an inverse real transform 2 (m - 1) when s is None)."""
    nd, shape = _ndim(x), _shape(x)
    if axes is None:
        if s is None:
            axes = list(range(nd))
        else:
            _warnings.warn(f"{name}: `axes` should not be None when `s` is given (deprecated "
                           f"in NumPy 2.0); the last len(s) axes are transformed",
                           DeprecationWarning, stacklevel=4)
            axes = list(range(-len(s), 0))
    axes = [_axis(a, nd, name) for a in (axes if _np.ndim(axes) else [axes])]
    shapeless = s is None
    s = [shape[a] for a in axes] if shapeless else list(s if _np.ndim(s) else [s])
    if len(s) != len(axes):
        raise ValueError(f"{name}: s {tuple(s)} and axes {tuple(axes)} have different lengths")
    last = len(s) - 1
    s = [(2 * (shape[a] - 1) if inverse_real and i == last else shape[a])
         if shapeless or n is None else shape[a] if n == -1 else n
         for i, (n, a) in enumerate(zip(s, axes))]
    return [_points(n, name) for n in s], axes


def _transform(x, kind: str, s, axes, norm: str):
    """One primitive over distinct axes; repeated axes (NumPy transforms those again) are a
    chain of one-axis transforms in NumPy's order."""
    if len(set(axes)) == len(axes):
        return _p.fft(x, kind, axes, s, norm)
    rest = range(len(axes) - 1)
    if kind == "rfft":
        x = _p.fft(x, "rfft", axes[-1:], s[-1:], norm)
        for i in reversed(rest):
            x = _p.fft(x, "fft", (axes[i],), (s[i],), norm)
        return x
    if kind == "irfft":
        for i in rest:
            x = _p.fft(x, "ifft", (axes[i],), (s[i],), norm)
        return _p.fft(x, "irfft", axes[-1:], s[-1:], norm)
    for i in reversed(range(len(axes))):
        x = _p.fft(x, kind, (axes[i],), (s[i],), norm)
    return x


# ---------------------------------------------------------------- one axis

def fft(a, n=None, axis=-1, norm=None, out=None):
    """np.fft.fft: the discrete Fourier transform along one axis (cropped or zero-padded to n).

    >>> fft(_np.array([1.0, 0.0, 0.0, 0.0]))
    array([1.+0.j, 1.+0.j, 1.+0.j, 1.+0.j])
    """
    _no_out(out, "fft")
    x = _as_complex(a, "fft")
    ax, n = _one_axis(x, n, axis, "fft")
    return _p.fft(x, "fft", (ax,), (n,), _norm(norm, "fft"))


def ifft(a, n=None, axis=-1, norm=None, out=None):
    """np.fft.ifft: the inverse discrete Fourier transform along one axis.

    >>> ifft(_np.array([4.0, 0.0, 0.0, 0.0]))
    array([1.+0.j, 1.+0.j, 1.+0.j, 1.+0.j])
    """
    _no_out(out, "ifft")
    x = _as_complex(a, "ifft")
    ax, n = _one_axis(x, n, axis, "ifft")
    return _p.fft(x, "ifft", (ax,), (n,), _norm(norm, "ifft"))


def rfft(a, n=None, axis=-1, norm=None, out=None):
    """np.fft.rfft: the transform of a real signal, the n // 2 + 1 non-negative frequencies.

    >>> rfft(_np.array([1.0, 1.0, 1.0, 1.0]))
    array([4.+0.j, 0.+0.j, 0.+0.j])
    """
    _no_out(out, "rfft")
    x = _as_real(a, "rfft")
    ax, n = _one_axis(x, n, axis, "rfft")
    return _p.fft(x, "rfft", (ax,), (n,), _norm(norm, "rfft"))


def irfft(a, n=None, axis=-1, norm=None, out=None):
    """np.fft.irfft: the real signal of length n (default 2 (m - 1)) whose rfft is `a`.

    >>> irfft(_np.array([4.0, 0.0, 0.0]))
    array([1., 1., 1., 1.])
    """
    _no_out(out, "irfft")
    x = _as_complex(a, "irfft")
    ax, n = _one_axis(x, n, axis, "irfft", inverse_real=True)
    return _half_back(_p.fft(x, "irfft", (ax,), (n,), _norm(norm, "irfft")), a)


def hfft(a, n=None, axis=-1, norm=None, out=None):
    """np.fft.hfft: the (real) transform of a Hermitian-symmetric signal given by its first
    half: irfft of its conjugate, with the norm swapped.

    >>> hfft(_np.array([1.0, 0.0, 0.0]))
    array([1., 1., 1., 1.])
    """
    _no_out(out, "hfft")
    x = _as_complex(a, "hfft")
    ax, n = _one_axis(x, n, axis, "hfft", inverse_real=True)
    return _half_back(_p.fft(_conjugate(x), "irfft", (ax,), (n,), _SWAP[_norm(norm, "hfft")]),
                      a)


def ihfft(a, n=None, axis=-1, norm=None, out=None):
    """np.fft.ihfft: the inverse of hfft, the conjugate of rfft with the norm swapped.

    >>> ihfft(_np.array([1.0, 1.0, 1.0, 1.0]))
    array([1.-0.j, 0.-0.j, 0.-0.j])
    """
    _no_out(out, "ihfft")
    x = _as_real(a, "ihfft")
    ax, n = _one_axis(x, n, axis, "ihfft")
    return _conjugate(_p.fft(x, "rfft", (ax,), (n,), _SWAP[_norm(norm, "ihfft")]))


# ---------------------------------------------------------------- n axes

def fftn(a, s=None, axes=None, norm=None, out=None):
    """np.fft.fftn: the transform over `axes` (default all), each cropped or padded to `s`.

    >>> fftn(_np.ones((2, 2)))
    array([[4.+0.j, 0.+0.j],
           [0.+0.j, 0.+0.j]])
    """
    _no_out(out, "fftn")
    x = _asarray(a)
    s, axes = _cook(x, s, axes, "fftn")
    if not axes:        # NumPy returns its input
        return x
    return _transform(_as_complex(x, "fftn"), "fft", s, axes, _norm(norm, "fftn"))


def ifftn(a, s=None, axes=None, norm=None, out=None):
    """np.fft.ifftn: the inverse transform over `axes` (default all).

    >>> ifftn(_np.array([[4.0, 0.0], [0.0, 0.0]]))
    array([[1.+0.j, 1.+0.j],
           [1.+0.j, 1.+0.j]])
    """
    _no_out(out, "ifftn")
    x = _asarray(a)
    s, axes = _cook(x, s, axes, "ifftn")
    if not axes:
        return x
    return _transform(_as_complex(x, "ifftn"), "ifft", s, axes, _norm(norm, "ifftn"))


def rfftn(a, s=None, axes=None, norm=None, out=None):
    """np.fft.rfftn: the transform of a real array over `axes`, halved along the last of them.

    >>> rfftn(_np.ones((2, 2)))
    array([[4.+0.j, 0.+0.j],
           [0.+0.j, 0.+0.j]])
    """
    _no_out(out, "rfftn")
    x = _as_real(a, "rfftn")
    s, axes = _cook(x, s, axes, "rfftn")
    if not axes:
        raise ValueError("rfftn: no axes to transform")
    return _transform(x, "rfft", s, axes, _norm(norm, "rfftn"))


def irfftn(a, s=None, axes=None, norm=None, out=None):
    """np.fft.irfftn: the real array whose rfftn is `a` (the last axis of length s[-1],
    default 2 (m - 1)).

    >>> irfftn(_np.array([[4.0, 0.0], [0.0, 0.0]]))
    array([[1., 1.],
           [1., 1.]])
    """
    _no_out(out, "irfftn")
    x = _as_complex(a, "irfftn")
    s, axes = _cook(x, s, axes, "irfftn", inverse_real=True)
    if not axes:
        raise ValueError("irfftn: no axes to transform")
    out = _transform(x, "irfft", s, axes, _norm(norm, "irfftn"))
    return _half_back(out, a) if len(axes) == 1 else out   # NumPy: ifft first, to complex64


def fft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """np.fft.fft2: fftn over the last two axes.

    >>> fft2(_np.ones((2, 2))).real
    array([[4., 0.],
           [0., 0.]])
    """
    _no_out(out, "fft2")
    return fftn(a, s, axes, norm)


def ifft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """np.fft.ifft2: ifftn over the last two axes.

    >>> ifft2(_np.array([[4.0, 0.0], [0.0, 0.0]])).real
    array([[1., 1.],
           [1., 1.]])
    """
    _no_out(out, "ifft2")
    return ifftn(a, s, axes, norm)


def rfft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """np.fft.rfft2: rfftn over the last two axes.

    >>> rfft2(_np.ones((2, 2))).real
    array([[4., 0.],
           [0., 0.]])
    """
    _no_out(out, "rfft2")
    return rfftn(a, s, axes, norm)


def irfft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """np.fft.irfft2: irfftn over the last two axes.

    >>> irfft2(_np.array([[4.0, 0.0], [0.0, 0.0]]))
    array([[1., 1.],
           [1., 1.]])
    """
    _no_out(out, "irfft2")
    return irfftn(a, s, axes, norm)


# ---------------------------------------------------------------- shifts

def _roll(x, shifts, axes):
    for k, ax in zip(shifts, axes):
        ax = _axis(ax, _ndim(x), "fftshift")
        n = _shape(x)[ax]
        k = k % n if n else 0
        if k:
            head = (slice(None),) * ax
            x = _concatenate([x[head + (slice(n - k, None),)], x[head + (slice(0, n - k),)]],
                             axis=ax)
    return x


def _shifts(x, axes, sign: int):
    if axes is None:
        axes = list(range(_ndim(x)))
    elif _np.ndim(axes) == 0:
        axes = [axes]
    nd, shape = _ndim(x), _shape(x)
    return [sign * (shape[_axis(a, nd, "fftshift")] // 2) for a in axes], list(axes)


def fftshift(x, axes=None):
    """np.fft.fftshift: the zero frequency moved to the centre (a roll by n // 2 per axis).

    >>> fftshift(_np.array([0.0, 1.0, 2.0, -2.0, -1.0]))
    array([-2., -1.,  0.,  1.,  2.])
    """
    x = _asarray(x)
    return _roll(x, *_shifts(x, axes, 1))


def ifftshift(x, axes=None):
    """np.fft.ifftshift: the inverse of fftshift (a roll by -(n // 2) per axis).

    >>> ifftshift(_np.array([-2.0, -1.0, 0.0, 1.0, 2.0]))
    array([ 0.,  1.,  2., -2., -1.])
    """
    x = _asarray(x)
    return _roll(x, *_shifts(x, axes, -1))


__all__ = _reports_user_line(globals()) + ["fftfreq", "rfftfreq"]
