"""The HTML graph view (`graph_to_html`) in a real headless browser: the page is rendered, the
browser reports where the drawing and the listing are laid out, and a screenshot shows them.

Skipped when no Chromium-family browser is installed (or Graphviz, which draws the SVG). Any
of chromium, chromium-browser, google-chrome(-stable), chromium-headless-shell or
chrome-headless-shell on PATH will do, or a path in $FUNCGRAD_BROWSER; on Debian
`apt install chromium-headless-shell graphviz` is enough.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.inspect.html import graph_to_html
from funcgrad.inspect.render import BACKWARD_COLOR, FORWARD_COLOR

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
            "chromium-headless-shell", "chrome-headless-shell", "headless_shell")


def _find_browser() -> str | None:
    env = os.environ.get("FUNCGRAD_BROWSER")
    if env:
        return shutil.which(env) or (env if os.path.isfile(env) else None)
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


BROWSER = _find_browser()
pytestmark = [
    pytest.mark.skipif(BROWSER is None, reason="no headless Chromium-family browser installed "
                       "(apt install chromium-headless-shell)"),
    pytest.mark.skipif(shutil.which("dot") is None,
                       reason="Graphviz's dot is not installed: the page has no SVG to check"),
]

# Appended to a copy of the page: the browser measures what it laid out and writes it into the
# DOM, which --dump-dom prints after the scripts have run.
PROBE = """
<script>
(function () {
  function box(el) {
    if (!el) return null;
    var r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return {x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height,
            display: s.display, visibility: s.visibility, opacity: s.opacity};
  }
  var svg = document.querySelector("svg"), listing = document.querySelector("table.listing");
  var out = {
    svg: box(svg), listing: box(listing),
    nodes: svg ? svg.querySelectorAll("g.node").length : 0,
    edges: svg ? svg.querySelectorAll("g.edge").length : 0,
    rows: listing ? listing.querySelectorAll("tr").length : 0,
    listingText: listing ? listing.innerText : "",
    svgText: svg ? svg.textContent : "",
    pageHeight: document.documentElement.scrollHeight
  };
  var pre = document.createElement("pre");
  pre.id = "probe-result";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>
"""


def _chrome(tmp_path, *args: str) -> subprocess.CompletedProcess:
    cmd = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--force-device-scale-factor=1", f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def _loss(w, x):
    return fnp.sum(fnp.sin(x @ w))


def test_html_view_renders_svg_and_listing_in_a_headless_browser(tmp_path):
    graph = fg.make_graph(fg.grad(_loss))(np.ones(3), np.ones((4, 3)))
    page = tmp_path / "graph.html"
    graph_to_html(graph, str(page), title="grad of _loss")

    # 1. layout, as the browser computed it
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    r = _chrome(tmp_path, "--window-size=1200,1000", "--dump-dom", probe.as_uri())
    assert r.returncode == 0, r.stderr[-2000:]
    start = r.stdout.index('<pre id="probe-result">') + len('<pre id="probe-result">')
    result = json.loads(_unescape(r.stdout[start:r.stdout.index("</pre>", start)]))
    for part in ("svg", "listing"):
        b = result[part]
        assert b is not None, f"no {part} in the page"
        assert b["w"] > 100 and b["h"] > 50, (part, b)
        assert b["display"] != "none" and b["visibility"] == "visible" and b["opacity"] == "1"
    assert result["nodes"] >= len(graph.eqns) and result["edges"] > 0
    assert result["rows"] >= len(graph.eqns) + 2
    for eqn in graph.eqns:                                 # every primitive, in both views
        assert eqn.primitive.name in result["listingText"]
        assert eqn.primitive.name in result["svgText"]
    assert "test_html_browser.py" in result["listingText"]   # source lines are shown

    # 2. a screenshot of the whole page: the drawing and the listing are painted
    height = int(result["pageHeight"]) + 20
    shot = tmp_path / "graph.png"
    r = _chrome(tmp_path, f"--window-size=1200,{height}", f"--screenshot={shot}", page.as_uri())
    assert r.returncode == 0 and shot.exists(), r.stderr[-2000:]
    image = _read_png(shot)
    assert image.shape[:2] == (height, 1200)
    for part in ("svg", "listing"):
        b = result[part]
        region = image[int(b["y"]):int(b["y"] + b["h"]), int(b["x"]):int(b["x"] + b["w"]), :3]
        dark = (region.max(axis=2) < 96).mean()             # text, strokes, arrows
        forward = _count_colour(region, FORWARD_COLOR)      # blue forward-pass fill
        backward = _count_colour(region, BACKWARD_COLOR)    # orange backward-pass fill
        assert dark > 0.002, (part, dark)
        assert forward > 200 and backward > 200, (part, forward, backward)
    # and nothing but background outside the page's content
    assert (image[-10:, :, :3] > 240).all()


def _unescape(text: str) -> str:
    return (text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
            .replace("&amp;", "&"))


def _count_colour(region: np.ndarray, colour: str) -> int:
    rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(region.astype(int) - rgb).max(axis=2) <= 3).sum())


def _read_png(path) -> np.ndarray:
    image_mod = pytest.importorskip("PIL.Image", reason="Pillow reads the screenshot")
    with image_mod.open(path) as im:
        return np.asarray(im.convert("RGBA"))
