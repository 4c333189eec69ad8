"""Inspection: rendering (DOT, SVG, HTML), cost model, NaN debugging, command line.

>>> import funcgrad as fg, numpy as np
>>> from funcgrad.inspect import graph_cost
>>> graph_cost(fg.make_graph(lambda x: np.sin(x) * 2.0)(np.ones(3)))["flops"]
6
"""
from ..core.ir import Graph
from . import render as _render  # the module; its function `render` is a Graph method
from .cost import graph_cost
from .debug import debug_nans
from .html import graph_to_html
from .render import backward_mask, graph_to_dot

# The drawing methods of every Graph: graph.to_dot(), graph.render(path), graph.to_html(path).
Graph.to_dot = graph_to_dot
Graph.render = _render.render
Graph.to_html = graph_to_html

__all__ = ["graph_cost", "debug_nans", "graph_to_html", "graph_to_dot", "backward_mask"]
