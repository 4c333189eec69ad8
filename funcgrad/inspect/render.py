"""Graphviz and HTML rendering of graphs (placeholder)."""


def graph_to_dot(graph) -> str:
    raise NotImplementedError("to_dot is not implemented yet")
