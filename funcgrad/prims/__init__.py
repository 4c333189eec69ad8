"""Every primitive, declared once with all its rules; importing this package registers them."""
from . import elementwise, indexing, linalg, reductions, shape, special  # noqa: F401
