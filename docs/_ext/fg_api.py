"""A Sphinx directive that documents a module's public names, read from its ``__all__``.

``.. fg-module:: funcgrad.numpy`` (in MyST: a ``{fg-module}`` fence) emits one autodoc entry
(``autofunction``, ``autoclass`` or ``autodata``) per name of the module's ``__all__``, in that
order, so the reference cannot drift from the code: a name added to ``__all__`` appears on the
next build, a name removed disappears. Submodules listed in ``__all__`` become links to their
own pages; objects that are NumPy's own (dtypes, constants, ``zeros``...) are listed in a table
instead of reproducing NumPy's docstrings. ``public_names`` is shared with ``tests/test_docs.py``.
"""
from __future__ import annotations

import importlib
import inspect
import re
import types

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles


def is_numpy_own(obj, name: str) -> bool:
    """True for an object funcgrad re-exports from NumPy unchanged (a dtype, a constant...)."""
    import numpy as np

    if obj is None or getattr(np, name, None) is obj:
        return True
    home = inspect.getmodule(obj)
    return home is not None and home.__name__.split(".")[0] == "numpy"


def public_names(modname: str):
    """(name, object, kind) for each entry of the module's ``__all__``; kind is one of
    "module", "numpy", "class", "function", "data"."""
    module = importlib.import_module(modname)
    out = []
    for name in module.__all__:
        obj = getattr(module, name)
        if isinstance(obj, types.ModuleType):
            kind = "module"
        elif is_numpy_own(obj, name):
            kind = "numpy"
        elif inspect.isclass(obj):
            kind = "class"
        elif callable(obj):
            kind = "function"
        else:
            kind = "data"
        out.append((name, obj, kind))
    return out


class FgModule(SphinxDirective):
    required_arguments = 1
    has_content = False
    option_spec = {"submodules": lambda arg: True}

    def run(self):
        modname = self.arguments[0]
        lines = self.entries(modname)
        if "submodules" in self.options:
            for _, obj, kind in public_names(modname):
                if kind == "module":
                    lines += [f".. rubric:: {obj.__name__}", "",
                              f".. automodule:: {obj.__name__}", "   :no-members:", ""]
                    lines += self.entries(obj.__name__)
        node = nodes.section()
        node.document = self.state.document
        nested_parse_with_titles(self.state, StringList(lines, source=f"<fg-module {modname}>"),
                                 node)
        return node.children

    def entries(self, modname):
        lines = [f".. currentmodule:: {modname}", ""]
        numpy_own = []
        for name, obj, kind in public_names(modname):
            if kind == "module":
                continue
            if kind == "numpy":
                numpy_own.append(name)
                continue
            directive = {"class": "autoclass", "function": "autofunction", "data": "autodata"}[kind]
            lines.append(f".. {directive}:: {modname}.{name}")
            if kind == "class":
                lines += ["   :members:", "   :undoc-members:"] if _has_public_methods(obj) else []
            lines.append("")
        if numpy_own:
            lines += [
                ".. rubric:: NumPy's own objects, re-exported unchanged",
                "",
                "These are the very NumPy objects (``fnp.float32 is np.float32``); NumPy documents "
                "them. Creation functions among them build constant arrays, which transformations "
                "treat as constants.",
                "",
                "   " + ", ".join(f"``{n}``" for n in numpy_own),
                "",
            ]
        return lines


def _has_public_methods(cls) -> bool:
    return any(not n.startswith("_") and callable(getattr(cls, n, None)) and
               n in vars(cls) for n in dir(cls))


# --- funcgrad's docstrings are written like Markdown: `code` in single backticks, |x| for an
# absolute value, *args, indented blocks for listings. This hook turns them into reStructuredText
# that says the same thing, so that the reference renders them faithfully and `-W` holds.

_CODE = re.compile(r"(`+)([^`]+?)\1")
_ITEM = re.compile(r"^(?:[-*]|\d+\.) ")
_SPECIAL = re.compile(r"([\\*|_`<>\[\]])")


def _inline(text: str) -> str:
    """Markdown-style inline text as rST: code spans become literals, the rest is escaped."""
    out, pos = [], 0
    for m in _CODE.finditer(text):
        out.append(_SPECIAL.sub(r"\\\1", text[pos:m.start()]))
        code = " ".join(m.group(2).split())                  # a span may cross a line break
        before = "\\ " if m.start() and text[m.start() - 1].isalnum() else ""
        after = "\\ " if m.end() < len(text) and text[m.end()].isalnum() else ""
        out.append(f"{before}``{code}``{after}" if code else m.group(0))   # `y`s: "\ " joins
        pos = m.end()
    out.append(_SPECIAL.sub(r"\\\1", text[pos:]))
    return "".join(out)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def markdown_docstring_to_rst(lines: list[str]) -> list[str]:
    r"""Prose is escaped (code spans kept as literals); ``>>>`` examples stay doctest blocks; a
    block indented deeper than the paragraph before it is shown verbatim; ``- `` lines are a list.

    >>> markdown_docstring_to_rst(["|x| of `x*y`:", "    a  b", "", ">>> 1", "1"])
    ['\\|x\\| of ``x*y``:', '', '::', '', '        a  b', '', '', '>>> 1', '1', '']
    >>> markdown_docstring_to_rst(["see `f(a,", "b)` and *args; the `y`s:", "1. one", "   two"])
    ['see ``f(a, b)`` and \\*args; the ``y``\\ s:', '', '1. one', '   two']
    """
    out: list[str] = []
    i, base, in_list = 0, 0, False
    while i < len(lines):
        line, stripped = lines[i], lines[i].strip()
        if not stripped:
            out.append("")
            i += 1
        elif stripped.startswith(">>>"):                      # a doctest block, verbatim
            if out and out[-1]:
                out.append("")
            while i < len(lines) and lines[i].strip():
                out.append(lines[i])
                i += 1
            out.append("")
        elif out and _indent(line) > base and not in_list:    # an indented listing, verbatim
            ind = _indent(line)
            out += ["", "::", ""]
            while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) >= ind):
                out.append(("    " + lines[i]).rstrip())
                i += 1
            out.append("")
        elif _ITEM.match(stripped):                           # a list item and its lines
            base = _indent(line)
            marker = _ITEM.match(stripped).group(0)
            if out and out[-1] and not in_list:
                out.append("")
            item = [stripped[len(marker):]]
            i += 1
            while i < len(lines) and lines[i].strip() and _indent(lines[i]) > base \
                    and not lines[i].strip().startswith(">>>") \
                    and not _ITEM.match(lines[i].strip()):
                item.append(lines[i].strip())
                i += 1
            first, *rest = _inline("\n".join(item)).split("\n")
            out.append(" " * base + marker + first)
            out += [" " * (base + len(marker)) + x for x in rest]
            in_list = True
            continue
        else:                                                 # a paragraph: code spans may
            base = _indent(line)                              # run across its lines
            if in_list and out and out[-1]:
                out.append("")                                # a list needs a blank line after
            para = [stripped]
            i += 1
            while i < len(lines) and lines[i].strip() and _indent(lines[i]) == base \
                    and not lines[i].strip().startswith(">>>") \
                    and not _ITEM.match(lines[i].strip()):
                para.append(lines[i].strip())
                i += 1
            out += [" " * base + x for x in _inline("\n".join(para)).split("\n")]
        in_list = False
    return out


def _process_docstring(app, what, name, obj, options, lines):
    lines[:] = markdown_docstring_to_rst(list(lines))


def setup(app):
    app.add_directive("fg-module", FgModule)
    app.connect("autodoc-process-docstring", _process_docstring)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
