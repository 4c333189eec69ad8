"""Sphinx configuration for funcgrad's documentation.

Build it with ``sphinx-build -W -b html docs docs/_build/html`` (after
``pip install -e '.[docs]'``). Nothing is fetched from the network.
"""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))        # build from a clone without installing, too

project = "funcgrad"
author = "the funcgrad authors"
copyright = "2026, the funcgrad authors"
release = version = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "myst_parser",
    "fg_api",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "dollarmath", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "none"           # signatures stay short; the docstrings say the types
autodoc_default_options = {}
napoleon_google_docstring = True
napoleon_numpy_docstring = True

html_theme = "alabaster"
html_title = "funcgrad"
html_static_path = []
html_theme_options = {"description": "Functional automatic differentiation on NumPy",
                      "fixed_sidebar": True}
