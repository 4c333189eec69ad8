"""Every primitive, declared once with all its rules; importing this package registers them."""
from . import (  # noqa: F401
    elementwise,
    fft,
    indexing,
    linalg,
    linalg_decomp,
    linalg_solve,
    reductions,
    shape,
    special,
    special_functions,
)
