"""The documentation is true: its examples run, it builds without a warning, and every public
name has a docstring with an example that runs.

- every ```python block (and ```{code-block} python block) of docs/**/*.md runs, in order, in one
  namespace per page, the way tests/test_readme_tour.py runs the README's;
- `sphinx-build -W` of docs/ succeeds with no warning, and the API reference has an entry for
  every public name (skipped only where Sphinx is not installed: `pip install -e '.[docs]'`);
- every name in `funcgrad.__all__` and in each public submodule's `__all__` has a docstring
  with a `>>>` example, and those examples pass; NumPy's own objects that funcgrad re-exports
  unchanged (dtypes, constants, `zeros`...) are exempt, since their docstrings are NumPy's;
- `doctest.testmod` passes on every module of the package (private ones too).
"""
import doctest
import importlib
import importlib.util
import inspect
import io
import pkgutil
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
from test_readme_tour import FLAGS

import funcgrad

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FENCE = re.compile(r"^```(?:python|\{code-block\}[ \t]+python)[ \t]*\n(.*?)^```", re.S | re.M)

_spec = importlib.util.spec_from_file_location("fg_api", DOCS / "_ext" / "fg_api.py")
fg_api = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fg_api)


# --- (a) the examples in the pages ---------------------------------------------------------------

PAGES = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)
GUIDES = sorted((DOCS / "guides").glob("*.md"))


EXCERPT = re.compile(r"^:caption: from (funcgrad/\S+\.py)$")


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """(line number, code) of every Python block of a Markdown page. The `:option:` lines of a
    ```{code-block} directive are not code, except `:caption: from funcgrad/FILE.py`, which marks
    an excerpt of the library's source: it is kept as the block's first line."""
    text = path.read_text(encoding="utf-8")
    blocks = []
    for m in FENCE.finditer(text):
        code, line, excerpt = m.group(1), text.count("\n", 0, m.start()) + 2, ""
        while code.startswith(":"):
            first, _, code = code.partition("\n")
            excerpt = first + "\n" if EXCERPT.match(first) else excerpt
            line += 1
        blocks.append((line, excerpt + code.lstrip("\n") if excerpt else code))
    return blocks


def check_excerpt(source: str, code: str, where: str) -> None:
    """Each line of an excerpt (comments and spacing aside) is a line of the quoted file."""
    def norm(line):
        return " ".join(line.split("#")[0].split())
    lines = {norm(x) for x in (ROOT / source).read_text(encoding="utf-8").splitlines()}
    for line in code.splitlines():
        assert not norm(line) or norm(line) in lines, f"{where}: not in {source}: {line!r}"


def run_blocks(path: Path) -> int:
    """Runs the page's blocks like a notebook; `>>>` blocks are doctests (outputs checked);
    excerpts of the library's source are compared with it."""
    namespace: dict = {"__name__": f"doc_{path.stem.replace('-', '_')}"}
    blocks = python_blocks(path)
    for line, code in blocks:
        where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name}:{line}"
        if EXCERPT.match(code.partition("\n")[0]):
            source, _, code = code.partition("\n")
            check_excerpt(EXCERPT.match(source).group(1), code, where)
        elif code.lstrip().startswith(">>>"):
            test = doctest.DocTestParser().get_doctest(code, namespace, where, str(path), line)
            runner = doctest.DocTestRunner(optionflags=FLAGS)
            runner.run(test, clear_globs=False)
            namespace.update(test.globs)
            assert runner.failures == 0, f"doctest failed in the block at {where} (see output)"
        else:
            exec(compile(code, where, "exec"), namespace)
    return len(blocks)


def test_every_guide_and_getting_started_has_examples():
    assert len(GUIDES) >= 10
    for page in [DOCS / "getting-started.md", *GUIDES]:
        assert python_blocks(page), f"{page.relative_to(ROOT)} has no runnable example"


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)],
                         ids=lambda p: str(p.relative_to(DOCS)))
def test_page_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)   # anything an example writes lands in a scratch directory
    assert run_blocks(page) > 0


def test_block_extraction(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("a\n```python\nx = 1\n```\n```{code-block} python\n:caption: c\n>>> x + 1\n"
                    "2\n```\n```bash\nls\n```\n")
    assert python_blocks(page) == [(3, "x = 1\n"), (7, ">>> x + 1\n2\n")]
    assert run_blocks(page) == 2
    page.write_text("```{code-block} python\n:caption: from funcgrad/tree.py\n\nnot python\n```\n")
    with pytest.raises(AssertionError, match="not in funcgrad/tree.py"):
        run_blocks(page)


# --- (b) the build -------------------------------------------------------------------------------

DIRECTIVE = re.compile(r"^\.\. fg-module:: (\S+)", re.M)
DOCUMENTED = sorted({m for page in (DOCS / "api").glob("*.md")
                     for m in DIRECTIVE.findall(page.read_text(encoding="utf-8"))})


def public_modules() -> list[str]:
    """funcgrad, every funcgrad module reachable through `__all__` entries, and every module an
    API page documents (funcgrad.inspect is public without being in funcgrad.__all__)."""
    seen: list[str] = []

    def walk(name):
        if name in seen:
            return
        seen.append(name)
        for _, obj, kind in fg_api.public_names(name):
            if kind == "module" and obj.__name__.startswith("funcgrad"):
                walk(obj.__name__)

    for root in ["funcgrad", *DOCUMENTED]:
        walk(root)
    return seen


PUBLIC = public_modules()


def test_every_public_module_has_an_api_page():
    """Each module reachable from funcgrad.__all__ is documented by an `fg-module` directive
    (scipy.stats' distributions through their parent's `:submodules:`)."""
    stats = [m for m in PUBLIC if m.startswith("funcgrad.scipy.stats.")]
    missing = [m for m in PUBLIC if m not in DOCUMENTED and m not in stats
               and m != "funcgrad.scipy"]
    assert "funcgrad.inspect" in PUBLIC and len(stats) >= 19
    assert not missing, f"public modules without an API page: {missing}"


@pytest.fixture(scope="module")
def built_docs(tmp_path_factory):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    out = tmp_path_factory.mktemp("html")
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-q", "-b", "html",
         str(DOCS), str(out)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    return proc, out


def test_sphinx_build_has_no_warnings(built_docs):
    proc, _ = built_docs
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr[-5000:]


def api_page(modname: str) -> str:
    """The API page documenting a public module (scipy.stats' distributions share one)."""
    if modname.startswith("funcgrad.scipy.stats"):
        return "scipy-stats"
    return "funcgrad" if modname == "funcgrad" else modname[len("funcgrad."):].replace(".", "-")


def test_api_reference_has_every_public_name(built_docs):
    proc, out = built_docs
    missing = []
    for modname in PUBLIC:
        if modname == "funcgrad.scipy":
            continue                           # only submodules: each has its page
        page = out / "api" / f"{api_page(modname)}.html"
        html = page.read_text(encoding="utf-8") if page.exists() else ""
        for name, _, kind in fg_api.public_names(modname):
            if kind == "module":
                continue
            anchor = f'id="{modname}.{name}"' if kind != "numpy" else f'"pre">{name}</span>'
            if anchor not in html:
                missing.append(f"{modname}.{name}")
    assert not missing, f"not in the API reference: {missing}"


# --- (c) every public name has an example, and it runs -------------------------------------------

def documented_names():
    for modname in PUBLIC:
        for name, obj, kind in fg_api.public_names(modname):
            if kind not in ("module", "numpy"):
                yield modname, name, obj


def test_every_public_name_has_a_docstring_with_an_example():
    names = list(documented_names())
    offenders = [f"{m}.{n}" for m, n, obj in names if ">>>" not in (inspect.getdoc(obj) or "")]
    assert len(names) > 400
    assert not offenders, f"{len(offenders)} public names without a >>> example: {offenders}"


@pytest.mark.parametrize("modname", PUBLIC)
def test_public_examples_run(modname):
    """Each public name's examples run in its home module's namespace (where its docstring was
    written), with the public module's names added: also for functions made by factories, which
    doctest.testmod of a module does not find."""
    failures = []
    for name, obj, kind in fg_api.public_names(modname):
        if kind in ("module", "numpy"):
            continue
        doc = inspect.getdoc(obj) or ""
        home = inspect.getmodule(obj)
        globs = {**(vars(home) if home else {}), **vars(importlib.import_module(modname))}
        test = doctest.DocTestParser().get_doctest(doc, globs, f"{modname}.{name}",
                                                   getattr(home, "__file__", None), 0)
        out = io.StringIO()
        runner = doctest.DocTestRunner(optionflags=FLAGS)
        runner.run(test, out=out.write)
        if runner.failures:
            failures.append(out.getvalue())
    assert not failures, "\n".join(failures)


# --- (d) doctest of every module -----------------------------------------------------------------

MODULES = ["funcgrad"] + sorted(
    m.name for m in pkgutil.walk_packages(funcgrad.__path__, "funcgrad.")
    if not m.name.endswith("__main__"))


class _Finder(doctest.DocTestFinder):
    """doctest's finder, except that a property counts as defined where its getter is (doctest
    itself takes every property of a class as its module's: a property made from another
    module's function would run that function's examples in the wrong namespace)."""

    def _from_module(self, module, object):
        if isinstance(object, property) and object.fget is not None:
            return super()._from_module(module, object.fget)
        return super()._from_module(module, object)


@pytest.mark.parametrize("modname", MODULES)
def test_module_doctests(modname):
    module = importlib.import_module(modname)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    out = io.StringIO()
    for test in _Finder().find(module, modname, extraglobs={}):
        runner.run(test, out=out.write)
    assert runner.failures == 0, out.getvalue()


def test_the_docs_extension_doctests():
    assert doctest.testmod(fg_api, optionflags=FLAGS).failed == 0


def test_numpy_own_objects_are_numpy_objects():
    """The exemption from (c) covers only objects that really are NumPy's."""
    import numpy as np
    own = [n for n, _, kind in fg_api.public_names("funcgrad.numpy") if kind == "numpy"]
    assert "float32" in own and "pi" in own and "sin" not in own
    for name in own:
        obj = getattr(funcgrad.numpy, name)
        assert obj is getattr(np, name, None) or inspect.getmodule(obj).__name__.startswith("numpy")
    assert isinstance(funcgrad.numpy, types.ModuleType)
