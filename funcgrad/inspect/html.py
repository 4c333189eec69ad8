"""A single self-contained HTML page for a graph: listing, types, source lines, costs, drawing."""
from __future__ import annotations

import html
import shutil

from ..core.ir import Graph, _Printer
from .cost import format_bytes, format_count, graph_cost
from .render import BACKWARD_COLOR, FORWARD_COLOR, backward_mask, graph_to_dot, graph_to_svg

MAX_DRAWN_EQNS = 2000        # beyond this, Graphviz is slow and the drawing unreadable

_STYLE = f"""
body {{ font-family: -apple-system, Helvetica, Arial, sans-serif; margin: 1.5em; color: #111; }}
h1 {{ font-size: 1.3em; }} h2 {{ font-size: 1.1em; margin-top: 1.5em; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border-bottom: 1px solid #e5e7eb; padding: 2px 8px; text-align: left;
          vertical-align: top; }}
th {{ background: #f3f4f6; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
td.code, pre {{ font-family: Menlo, Consolas, monospace; white-space: pre; }}
tr.fwd td.code {{ background: {FORWARD_COLOR}; }}
tr.bwd td.code {{ background: {BACKWARD_COLOR}; }}
tr.total td {{ font-weight: bold; border-top: 2px solid #9ca3af; }}
.summary td {{ border: none; padding: 1px 12px 1px 0; }}
.src {{ color: #6b7280; }}
"""


def graph_to_html(graph: Graph, path: str | None = None, title: str = "funcgrad graph") -> str:
    """The HTML page for `graph` (also written to `path` when given).

    The page holds the IR listing (one row per equation with its FLOPs, bytes read and written,
    and the user's source line), the totals and peak memory from `graph_cost`, and the SVG
    drawing inlined when Graphviz's `dot` is installed (the DOT source otherwise; neither for
    graphs of more than `MAX_DRAWN_EQNS` equations).

    >>> import funcgrad as fg, numpy as np
    >>> page = graph_to_html(fg.make_graph(lambda x: np.sin(x) * 2.0)(np.ones(3)))
    >>> page.startswith("<!DOCTYPE html>"), "sin" in page
    (True, True)
    """
    esc = html.escape
    cost = graph_cost(graph)
    printer = _Printer()
    printer.graph(graph, 0)                 # the same names as graph.pretty()
    mask = backward_mask(graph)
    has_backward = any(mask)

    head = " ".join(printer.binder(v) for v in graph.invars)
    consts = " ".join(printer.binder(v) for v in graph.constvars)
    outs = ", ".join(printer.name(v) for v in graph.outvars)
    out_types = ", ".join(v.aval.short() for v in graph.outvars)

    rows = [f'<tr><td></td><td class="code">{esc(f"{{ lambda {head} ; {consts}".rstrip())}'
            "</td><td></td><td></td><td></td><td></td></tr>"]
    for e, back, c in zip(graph.eqns, mask, cost["eqns"]):
        cls = "bwd" if back else "fwd"
        src = esc(str(e.source)) if e.source is not None else ""
        tip = esc(e.source.long(), quote=True) if e.source is not None else ""
        rows.append(
            f'<tr class="{cls}"><td class="num">{c["index"]}</td>'
            f'<td class="code">    {esc(printer.eqn_line(e))}</td>'
            f'<td class="num">{format_count(c["flops"])}</td>'
            f'<td class="num">{format_count(c["bytes_read"])}</td>'
            f'<td class="num">{format_count(c["bytes_written"])}</td>'
            f'<td class="src" title="{tip}">{src}</td></tr>')
    rows.append(f'<tr><td></td><td class="code">{esc(f"  in ({outs}) }}")}</td>'
                "<td></td><td></td><td></td><td></td></tr>")
    rows.append(f'<tr class="total"><td></td><td>total ({len(graph.eqns)} equations)</td>'
                f'<td class="num">{format_count(cost["flops"])}</td>'
                f'<td class="num">{format_count(cost["bytes_read"])}</td>'
                f'<td class="num">{format_count(cost["bytes_written"])}</td><td></td></tr>')

    summary = [("inputs", head or "(none)"), ("outputs", out_types or "(none)"),
               ("equations", str(len(graph.eqns))),
               ("FLOPs", format_count(cost["flops"])),
               ("bytes read / written", f'{format_bytes(cost["bytes_read"])} / '
                                        f'{format_bytes(cost["bytes_written"])}'),
               ("inputs and constants", format_bytes(cost["input_bytes"])),
               ("peak live memory", format_bytes(cost["peak_bytes"]))]
    if cost["uncounted"]:
        summary.append(("FLOPs not modelled for", ", ".join(cost["uncounted"])))
    if has_backward:
        summary.append(("colours", "blue: forward pass, orange: backward pass"))
    summary_html = "".join(f"<tr><td>{esc(k)}</td><td><code>{esc(v)}</code></td></tr>"
                           for k, v in summary)

    if len(graph.eqns) > MAX_DRAWN_EQNS:
        drawing = (f"<p>The graph has {len(graph.eqns)} equations, too many to draw legibly "
                   f"here (the limit is {MAX_DRAWN_EQNS}); <code>graph.render(path)</code> "
                   "draws it anyway.</p>")
    elif shutil.which("dot"):
        drawing = graph_to_svg(graph)
    else:
        drawing = ("<p>Install Graphviz (<code>apt install graphviz</code>, <code>brew install "
                   "graphviz</code>) to see the drawing here. Its DOT source:</p>"
                   f"<pre>{esc(graph_to_dot(graph))}</pre>")

    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{esc(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{esc(title)}</h1>
<table class="summary">{summary_html}</table>
<h2>Listing</h2>
<table class="listing">
<tr><th>#</th><th>equation</th><th>FLOPs</th><th>bytes read</th><th>bytes written</th>
<th>source</th></tr>
{chr(10).join(rows)}
</table>
<h2>Graph</h2>
{drawing}
</body>
</html>
"""
    if path is not None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(page)
    return page
