"""Structured control flow: cond, switch, while_loop, fori_loop and scan, each one graph
equation holding its branches or body as sub-graphs."""
from .branches import cond, switch
from .loops import fori_loop, scan, while_loop

__all__ = ["cond", "switch", "while_loop", "fori_loop", "scan"]
