"""Inspection: rendering (DOT, SVG, HTML), cost model, NaN debugging, command line.

>>> import funcgrad as fg, numpy as np
>>> from funcgrad.inspect import graph_cost
>>> graph_cost(fg.make_graph(lambda x: np.sin(x) * 2.0)(np.ones(3)))["flops"]
6
"""
from .cost import graph_cost
from .debug import debug_nans
from .html import graph_to_html
from .render import backward_mask, graph_to_dot

__all__ = ["graph_cost", "debug_nans", "graph_to_html", "graph_to_dot", "backward_mask"]
