"""funcgrad.scipy.signal: SciPy's convolutions, traced and differentiable (as jax.scipy.signal).

`convolve`, `correlate`, `convolve2d`, `correlate2d` and `fftconvolve` with SciPy's
signatures and results: the modes 'full', 'same' (centred as SciPy centres it: the middle of
the full result, rounding towards its start) and 'valid' (the operands swapped when the second
is the larger, as SciPy does), correlate's conjugated and reversed second operand, NumPy's
result dtype (float32 stays float32; integer operands give exact integer results in the direct
method). SciPy itself is not needed.

Two methods: 'direct' is the conv primitive (funcgrad/prims/conv.py: one sliding-window
product, derivatives as convolutions), 'fft' multiplies (r)FFTs of the zero-padded operands
(funcgrad.numpy.fft, differentiable too); 'auto' takes the FFT when its estimated cost is
clearly lower, as scipy.signal.choose_conv_method does (with a simpler cost model).
"""
from __future__ import annotations

import math

import numpy as np

from .. import numpy as fnp
from ..numpy import fft as _fft
from ..prims import conv as _conv

__all__ = ["convolve", "correlate", "convolve2d", "correlate2d", "fftconvolve"]

_MODES = ("full", "same", "valid")


def _check_mode(mode, name: str) -> None:
    if mode not in _MODES:
        raise ValueError(f"{name}: acceptable mode flags are 'valid', 'same', or 'full'; got "
                         f"{mode!r}")


def _swap_needed(mode: str, s1: tuple, s2: tuple, name: str) -> bool:
    """In 'valid' mode one operand must be at least as large as the other along every axis;
    SciPy swaps them when it is the second."""
    if mode != "valid":
        return False
    if all(a >= b for a, b in zip(s1, s2)):
        return False
    if all(a <= b for a, b in zip(s1, s2)):
        return True
    raise ValueError(f"{name}: for 'valid' mode, one must be at least as large as the other "
                     f"in every dimension (shapes {s1} and {s2})")


def _window(n: int, k: int, mode: str, late: bool = False) -> tuple[int, int]:
    """(start, length) of the `mode` part of the full convolution of sizes n and k (`late`:
    an even-sized window's 'same' part starts one later, as correlate2d's does)."""
    if mode == "full":
        return 0, n + k - 1
    if mode == "same":
        return (k // 2 if late else (k - 1) // 2), n
    return k - 1, n - k + 1


def _result_dtype(in1, in2) -> np.dtype:
    return np.result_type(in1.dtype, in2.dtype)


def _direct(in1, in2, mode: str, late: bool = False):
    """The convolution of two arrays of equal rank along all their axes, by the conv
    primitive: in1 as one example with one feature, in2 flipped as the window."""
    s1, s2 = in1.shape, in2.shape
    dtype = _result_dtype(in1, in2)
    work = dtype if dtype.kind in "fc" else np.dtype(np.float64)
    padding = []
    for n, k in zip(s1, s2):
        start, length = _window(n, k, mode, late)
        lo = k - 1 - start
        padding.append((lo, length + k - 1 - n - lo))
    lhs = fnp.reshape(fnp.astype(in1, work), (1, 1) + s1)
    rhs = fnp.reshape(fnp.flip(fnp.astype(in2, work)), (1, 1) + s2)
    out = _conv.conv(lhs, rhs, padding=padding)
    out = fnp.reshape(out, out.shape[2:])
    if work != dtype:      # integers: the float64 sums are exact below 2**53; round them
        out = fnp.astype(fnp.rint(out), dtype)
    return out


def _operands(in1, in2, name: str):
    in1, in2 = fnp.asarray(in1), fnp.asarray(in2)
    if in1.ndim != in2.ndim:
        raise ValueError(f"{name}: in1 and in2 should have the same dimensionality (got "
                         f"{in1.ndim} and {in2.ndim})")
    return in1, in2


def _empty(in1, in2) -> bool:
    return in1.size == 0 or in2.size == 0


def _fft_is_faster(s1: tuple, s2: tuple, mode: str) -> bool:
    out = math.prod(_window(n, k, mode)[1] for n, k in zip(s1, s2))
    full = math.prod(n + k - 1 for n, k in zip(s1, s2))
    direct = out * min(math.prod(s1), math.prod(s2))
    return direct > 30 * full * max(1.0, math.log2(full))


def convolve(in1, in2, mode: str = "full", method: str = "auto"):
    """The N-d convolution of in1 and in2 (of equal rank), as scipy.signal.convolve.

    `mode`: 'full' (every overlap), 'same' (in1's shape, centred on the full result) or
    'valid' (complete overlaps only); `method`: 'direct', 'fft' or 'auto' (the cheaper by an
    estimate). Differentiable in both operands.

    >>> convolve(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.5]))
    array([0. , 1. , 2.5, 4. , 1.5])
    >>> convolve(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.5]), mode="same")
    array([1. , 2.5, 4. ])
    """
    _check_mode(mode, "convolve")
    if method not in ("auto", "direct", "fft"):
        raise ValueError(f"convolve: acceptable method flags are 'auto', 'direct', or 'fft'; "
                         f"got {method!r}")
    in1, in2 = _operands(in1, in2, "convolve")
    if in1.ndim == 0:
        return in1 * in2
    if _empty(in1, in2):
        return fnp.asarray(np.zeros((0,) * in1.ndim, _result_dtype(in1, in2)))
    if _swap_needed(mode, in1.shape, in2.shape, "convolve"):
        in1, in2 = in2, in1
    dtype = _result_dtype(in1, in2)
    if method == "fft" or (method == "auto" and dtype.kind in "fc" and
                           _fft_is_faster(in1.shape, in2.shape, mode)):
        out = fftconvolve(in1, in2, mode)
        if dtype.kind not in "fc":               # integers: rounded, as SciPy does
            out = fnp.rint(out)
        return out if out.dtype == dtype else fnp.astype(out, dtype)
    return _direct(in1, in2, mode)


def _reverse_conj(x):
    x = fnp.flip(x)
    return fnp.conj(x) if x.dtype.kind == "c" else x


def correlate(in1, in2, mode: str = "valid", method: str = "auto"):
    """The N-d cross-correlation of in1 and in2 (of equal rank), as scipy.signal.correlate:
    z[k] = sum_l in1[l] conj(in2[l - k + N - 1]) in 'full' mode, that is the convolution of in1
    with in2 reversed and conjugated, cut by `mode` as `convolve` cuts it ('valid' by
    default). `method`: 'direct', 'fft' or 'auto'. Differentiable in both operands.

    >>> correlate(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.5]))
    array([3.5])
    >>> correlate(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.5]), mode="full")
    array([0.5, 2. , 3.5, 3. , 0. ])
    """
    _check_mode(mode, "correlate")
    if method not in ("auto", "direct", "fft"):
        raise ValueError(f"correlate: acceptable method flags are 'auto', 'direct', or "
                         f"'fft'; got {method!r}")
    in1, in2 = _operands(in1, in2, "correlate")
    if in1.ndim == 0:
        return in1 * (fnp.conj(in2) if in2.dtype.kind == "c" else in2)
    if _empty(in1, in2):
        return fnp.asarray(np.zeros((0,) * in1.ndim, _result_dtype(in1, in2)))
    swap = _swap_needed(mode, in1.shape, in2.shape, "correlate")
    if swap and method == "direct":
        # SciPy's direct method correlates the swapped operands and reverses and conjugates
        # the result (which the FFT method does not)
        return _reverse_conj(convolve(in2, _reverse_conj(in1), mode, method))
    return convolve(in1, _reverse_conj(in2), mode, method)


def _check_2d(in1, in2, mode, boundary, name: str):
    _check_mode(mode, name)
    in1, in2 = fnp.asarray(in1), fnp.asarray(in2)
    if in1.ndim != 2 or in2.ndim != 2:
        raise ValueError(f"{name} inputs must both be 2-D arrays (got shapes {in1.shape} and "
                         f"{in2.shape})")
    if boundary not in ("fill", "pad", "wrap", "circular", "symm", "symmetric"):
        raise ValueError(f"{name}: acceptable boundary flags are 'fill', 'wrap' and 'symm'; "
                         f"got {boundary!r}")
    if boundary not in ("fill", "pad"):
        raise NotImplementedError(
            f"{name}: boundary={boundary!r} is not supported by funcgrad (only 'fill'); pad "
            f"the input yourself (fnp.pad(x, ..., mode='wrap' or 'symmetric')) and use "
            f"mode='valid'")
    return in1, in2


def _fillvalue(fillvalue, in1, in2, name: str):
    """The fill value as SciPy takes it: one number, cast to the operands' dtype."""
    value = np.asarray(fillvalue)
    if value.size != 1:
        raise ValueError(f"{name}: fillvalue must be scalar or an array with one element")
    return value.reshape(()).astype(_result_dtype(in1, in2))[()]


def _fill(out, in2, fillvalue):
    """Filling the boundary with c instead of zeros: every window of the 'full' and 'same'
    parts lies inside the padded input, so the result is that of (in1 - c) zero-padded, plus
    c sum(window)."""
    return out + fillvalue * fnp.sum(in2)


def convolve2d(in1, in2, mode: str = "full", boundary: str = "fill", fillvalue=0):
    """The 2-D convolution of in1 and in2, as scipy.signal.convolve2d, with the boundary
    filled with `fillvalue` (boundary 'fill'; 'wrap' and 'symm' raise NotImplementedError).

    >>> convolve2d(np.eye(2), np.array([[1.0, 2.0], [3.0, 4.0]]))
    array([[1., 2., 0.],
           [3., 5., 2.],
           [0., 3., 4.]])
    """
    in1, in2 = _check_2d(in1, in2, mode, boundary, "convolve2d")
    if _empty(in1, in2):
        return fnp.asarray(np.zeros((0, 0), _result_dtype(in1, in2)))
    if _swap_needed(mode, in1.shape, in2.shape, "convolve2d"):
        in1, in2 = in2, in1
    fillvalue = _fillvalue(fillvalue, in1, in2, "convolve2d")
    if fillvalue != 0 and mode != "valid":
        return _fill(_direct(in1 - fillvalue, in2, mode), in2, fillvalue)
    return _direct(in1, in2, mode)


def correlate2d(in1, in2, mode: str = "full", boundary: str = "fill", fillvalue=0):
    """The 2-D cross-correlation of in1 and in2, as scipy.signal.correlate2d (in2 reversed and
    conjugated), with the boundary filled with `fillvalue` ('wrap' and 'symm' raise
    NotImplementedError).

    >>> correlate2d(np.eye(2), np.array([[1.0, 2.0], [3.0, 4.0]]))
    array([[4., 3., 0.],
           [2., 5., 3.],
           [0., 2., 1.]])
    """
    in1, in2 = _check_2d(in1, in2, mode, boundary, "correlate2d")
    if _empty(in1, in2):
        return fnp.asarray(np.zeros((0, 0), _result_dtype(in1, in2)))
    if _swap_needed(mode, in1.shape, in2.shape, "correlate2d"):
        # SciPy swaps the operands and reverses the result (without conjugating it)
        return fnp.flip(correlate2d(in2, in1, mode, boundary, fillvalue))
    kernel = _reverse_conj(in2)
    # SciPy centres correlate2d's 'same' part on the correlation, not on the convolution with
    # the reversed window: for an even window it starts one later than correlate's
    fillvalue = _fillvalue(fillvalue, in1, in2, "correlate2d")
    if fillvalue != 0 and mode != "valid":
        return _fill(_direct(in1 - fillvalue, kernel, mode, late=True), kernel, fillvalue)
    return _direct(in1, kernel, mode, late=True)


def fftconvolve(in1, in2, mode: str = "full", axes=None):
    """The convolution of in1 and in2 by FFTs, as scipy.signal.fftconvolve: along `axes` (all
    by default), cut by `mode`. As in SciPy, an axis where either operand has size 1 is not
    transformed but broadcast (the other axes too: equal sizes or 1), and the result is
    floating (float32 operands give float32). Differentiable in both operands.

    >>> x = fftconvolve(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.5]))
    >>> np.allclose(x, [0.0, 1.0, 2.5, 4.0, 1.5])
    True
    """
    _check_mode(mode, "fftconvolve")
    in1, in2 = fnp.asarray(in1), fnp.asarray(in2)
    if in1.ndim == in2.ndim == 0:
        return in1 * in2
    if in1.ndim != in2.ndim:
        raise ValueError(f"fftconvolve: in1 and in2 should have the same dimensionality (got "
                         f"{in1.ndim} and {in2.ndim})")
    if _empty(in1, in2):
        return fnp.asarray(np.zeros(0))
    nd = in1.ndim
    if axes is None:
        axes = tuple(range(nd))
    else:
        axes = (axes,) if isinstance(axes, (int, np.integer)) else tuple(axes)
        if not axes:
            raise ValueError("fftconvolve: when provided, axes cannot be empty")
        for a in axes:
            if not -nd <= a < nd:
                raise ValueError(f"fftconvolve: axis {a} is out of bounds for arrays of "
                                 f"dimension {nd}")
        axes = tuple(sorted({int(a) % nd for a in axes}))
    s1, s2 = in1.shape, in2.shape
    axes = tuple(a for a in axes if s1[a] != 1 and s2[a] != 1)   # a product: broadcast
    if not all(s1[a] == s2[a] or 1 in (s1[a], s2[a]) for a in range(nd) if a not in axes):
        raise ValueError(f"fftconvolve: incompatible shapes for in1 and in2: {s1} and {s2}")
    if _swap_needed(mode, tuple(s1[a] for a in axes), tuple(s2[a] for a in axes),
                    "fftconvolve"):
        in1, in2 = in2, in1
        s1, s2 = s2, s1
    if not axes:
        out = in1 * in2                          # NumPy's dtype, integers included
    else:
        if _result_dtype(in1, in2).kind not in "fc":
            in1, in2 = fnp.astype(in1, np.float64), fnp.astype(in2, np.float64)
        full = [s1[a] + s2[a] - 1 for a in axes]
        if _result_dtype(in1, in2).kind == "c":
            out = _fft.ifftn(_fft.fftn(in1, full, axes) * _fft.fftn(in2, full, axes), full,
                             axes)
        else:
            out = _fft.irfftn(_fft.rfftn(in1, full, axes) * _fft.rfftn(in2, full, axes),
                              full, axes)
    if mode == "full":
        return out
    # SciPy's centring: the middle `size` entries (rounding down the start) of every axis
    if mode == "same":
        sizes = s1
    else:
        sizes = [s1[a] - s2[a] + 1 if a in axes else out.shape[a] for a in range(nd)]
    index = tuple(slice((m - n) // 2, (m - n) // 2 + n) for m, n in zip(out.shape, sizes))
    return out[index]
