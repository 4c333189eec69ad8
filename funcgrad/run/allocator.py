"""glibc's malloc settings for code that allocates the same large arrays call after call.

By default glibc maps each array over 128 KiB afresh from the kernel and, once some are freed,
gives the top of its heap back. A compiled function whose temporaries and stacked loop values
are large (an RNN's 800 KB per scan output) then pays a page fault per 4 KiB page of every one
of them, on every call: W9 ran 1.7x slower than with the settings below. Once a jitted function
or an eager program is compiled, funcgrad asks glibc to serve arrays up to 32 MB from its heap
(`M_MMAP_THRESHOLD`) and to keep up to 64 MB of freed heap (`M_TRIM_THRESHOLD`) for the next
call. Peak memory is unchanged; freed memory goes back to the system later.

Nothing is changed on other C libraries, when $FUNCGRAD_TUNE_MALLOC is 0, or when the process
set glibc's own variables ($MALLOC_MMAP_THRESHOLD_, $MALLOC_TRIM_THRESHOLD_, $MALLOC_TOP_PAD_,
$MALLOC_MMAP_MAX_, $GLIBC_TUNABLES): those are the user's choice.
"""
from __future__ import annotations

import ctypes
import os
import platform
import sys
import threading

MMAP_THRESHOLD = 32 << 20     # glibc's largest allowed value on 64-bit systems
TRIM_THRESHOLD = 64 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3     # mallopt's parameter numbers (malloc.h)
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                  "MALLOC_MMAP_MAX_", "GLIBC_TUNABLES")

_lock = threading.Lock()
_state: list[bool | None] = [None]     # None: not tried yet; then whether the settings hold


def tune() -> bool:
    """Apply the settings once per process (later calls only report); whether they hold.

    >>> isinstance(tune(), bool)
    True
    """
    if _state[0] is not None:
        return _state[0]
    with _lock:
        if _state[0] is None:
            _state[0] = _apply()
    return _state[0]


def _apply() -> bool:
    if os.environ.get("FUNCGRAD_TUNE_MALLOC", "1") == "0" or \
            any(v in os.environ for v in _USER_SETTINGS):
        return False
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; setting either turns off glibc's own adjustment of both
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and \
        bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
