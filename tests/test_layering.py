"""Imports point one way: each layer of the package imports only the layers below it.

    util, errors, tree -> core -> prims -> compile -> transforms -> control -> numpy
    -> inspect -> run -> debug, nn, optim, test_util, flatten_util, scipy, dask
    -> funcgrad/__init__.py, __main__.py, inspect/cli.py (the applications)

Within a layer the modules form no cycle either. A function-local import of a funcgrad module
is allowed only where an import must be lazy, with a comment on its line saying why
(`# lazy: ...`). The imports are read from the source (ast), top-level and local alike, so
what this checks is what `python ../shared/tools/import_cycles.py funcgrad --with-local`
counts.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "funcgrad"

LAYERS = [
    {"util", "errors", "tree"},
    {"core"},
    {"prims"},
    {"compile"},
    {"transforms"},
    {"control"},
    {"numpy"},
    {"inspect"},
    {"run"},
    {"debug", "nn", "optim", "test_util", "flatten_util", "scipy", "dask"},
    {"", "__main__", "inspect.cli"},       # "" is the package itself (funcgrad/__init__.py)
]


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def layer_of(module: str) -> int:
    """The layer index of a module named relative to the package ('core.ir', 'run.jit')."""
    for name in (module, module.split(".")[0]):
        for i, layer in enumerate(LAYERS):
            if name in layer:
                return i
    raise AssertionError(f"funcgrad.{module} belongs to no layer: add it to LAYERS above")


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """The funcgrad modules (relative names) an `from ... import ...` statement imports."""
    if node.level == 0:
        if not (node.module or "").startswith("funcgrad"):
            return []
        base = node.module.split(".")[1:]
    else:
        base = module.split(".") if module else []
        if not is_package:
            base = base[:-1]
        base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
        base = base + (node.module.split(".") if node.module else [])
    target = ".".join(base)
    found = []
    for alias in node.names:       # `from . import x` may name a submodule
        sub = f"{target}.{alias.name}" if target else alias.name
        found.append(sub if sub in MODULES else target)
    return found


def imports(module: str) -> list[tuple[str, int, bool, str]]:
    """(imported module, line, function-local?, source line) for each funcgrad import."""
    path = MODULES[module]
    source = path.read_text().splitlines()
    tree = ast.parse(path.read_text())
    top = {id(n) for n in tree.body}
    out = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.ImportFrom):
            targets = _resolve(module, path.name == "__init__.py", node)
        elif isinstance(node, ast.Import):
            targets = [".".join(a.name.split(".")[1:]) for a in node.names
                       if a.name.split(".")[0] == "funcgrad"]
        for t in targets:
            out.append((t, node.lineno, id(node) not in top, source[node.lineno - 1]))
    return out


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    here = layer_of(module)
    for target, line, local, text in imports(module):
        if target == module or (target and module.startswith(target + ".")):
            continue        # a module importing its own package (relative-import plumbing)
        assert layer_of(target) <= here, (
            f"funcgrad/{MODULES[module].relative_to(PACKAGE)}:{line} imports funcgrad.{target},"
            f" a higher layer ({sorted(LAYERS[layer_of(target)])} above "
            f"{sorted(LAYERS[here])})")
        if local:
            assert "# lazy:" in text, (
                f"funcgrad/{MODULES[module].relative_to(PACKAGE)}:{line}: a function-local "
                f"import of funcgrad.{target}; import it at the top, or say why it must be "
                f"lazy with a '# lazy: ...' comment")


def test_no_import_cycles():
    graph = {m: {t for t, *_ in imports(m) if t in MODULES and t != m
                 and not m.startswith(t + ".")} for m in MODULES}
    # iterative depth-first search for a cycle (no recursion)
    state: dict[str, int] = {}
    for start in graph:
        if state.get(start):
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
                continue
            if state.get(child) == 1:
                cycle = path[path.index(child):] + [child]
                raise AssertionError("import cycle: " + " -> ".join(f"funcgrad.{c}"
                                                                    for c in cycle))
            if not state.get(child):
                state[child] = 1
                stack.append((child, iter(sorted(graph[child]))))
                path.append(child)


def test_the_layer_table_is_complete():
    for module in MODULES:
        layer_of(module)
