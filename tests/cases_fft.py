"""The case of the `fft` primitive for tests/test_prims.py (and the execution-path matrix):
every np.fft transform through funcgrad.numpy.fft, so each kind (fft, ifft, rfft, irfft, and
hfft/ihfft around them), one axis or several in any order, lengths that crop or zero-pad
(odd and even), every norm, real or complex input (complex values built from two real
arguments, so finite differences run on real inputs), float32 and float64."""
from __future__ import annotations

from hypothesis import strategies as st
from test_prims import values

ONE_AXIS = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"]
N_AXES = ["fftn", "ifftn", "rfftn", "irfftn", "fft2", "ifft2", "rfft2", "irfft2"]
REAL_INPUT = {"rfft", "ihfft", "rfftn", "rfft2"}
INVERSE_REAL = {"irfft", "hfft", "irfftn", "irfft2"}      # the default n is 2 (m - 1)
NORMS = [None, "backward", "ortho", "forward"]


def fft_case(draw, dtype):
    name = draw(st.sampled_from(ONE_AXIS + N_AXES), label="function")
    two_d = name.endswith("2")
    ndim = draw(st.integers(2 if two_d else 1, 3), label="ndim")
    shape = tuple(draw(st.integers(1, 5), label="size") for _ in range(ndim))
    norm = draw(st.sampled_from(NORMS), label="norm")
    length = st.integers(1, 6)          # crops and zero-pads, odd and even
    if name in ONE_AXIS:
        axis = draw(st.integers(-ndim, ndim - 1), label="axis")
        n = draw(st.one_of(st.none(), length), label="n")
        if n is None and name in INVERSE_REAL and shape[axis] == 1:
            n = draw(length, label="n")
        kwargs = {"n": n, "axis": axis, "norm": norm}
    else:
        if two_d:
            axes = draw(st.sampled_from([(-2, -1), (-1, -2), (0, -1)]), label="axes")
        else:       # any subset of the axes, in any order (the last is rfft's real axis)
            perm = draw(st.permutations(range(ndim)), label="axes order")
            axes = tuple(perm[:draw(st.integers(1, ndim), label="number of axes")])
        s = draw(st.one_of(st.none(), st.lists(st.one_of(st.just(-1), length),
                                               min_size=len(axes), max_size=len(axes))),
                 label="s")
        if s is None and name in INVERSE_REAL and shape[axes[-1]] == 1:
            s = [-1] * (len(axes) - 1) + [draw(length, label="last length")]
        kwargs = {"s": s, "axes": axes, "norm": norm}
    real = name in REAL_INPUT or draw(st.booleans(), label="real input")
    args = values(draw, [shape] if real else [shape, shape], dtype, None)

    def fn(xp, x, y=None):
        z = x if y is None else (x + 1j * y) * (0.5 - 1j)
        return getattr(xp.fft, name)(z, **kwargs)
    return fn, args


CASES = {"fft": fft_case}
