"""Every primitive, declared once with all its rules; importing this package registers them."""
from . import (  # noqa: F401
    conv,
    elementwise,
    fft,
    indexing,
    linalg,
    linalg_decomp,
    linalg_solve,
    reductions,
    scans,
    shape,
    special,
    special_functions,
)
