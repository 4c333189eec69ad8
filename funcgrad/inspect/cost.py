"""The cost model's numbers for people: formatting (the model itself is funcgrad.core.cost)."""
from __future__ import annotations

from ..core.cost import eqn_flops, graph_cost, nbytes


def format_bytes(n: int) -> str:
    """Human-readable byte count.

    >>> format_bytes(2048)
    '2.0 KiB'
    """
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def format_count(n: int) -> str:
    """A FLOP count with thousands separators.

    >>> format_count(1234567)
    '1,234,567'
    """
    return f"{n:,}"


__all__ = ["graph_cost", "eqn_flops", "nbytes", "format_bytes", "format_count"]
