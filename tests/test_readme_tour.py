"""The Python code in the README and the tour runs and prints what the text says it prints.

Each ```python block is executed in order in one namespace per file (like a notebook); a block
written with `>>>` prompts is run as a doctest, so its shown outputs are checked too.
"""
import doctest
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md"]
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```", re.S | re.M)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """(line number, code) of every ```python block in a Markdown file."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in FENCE.finditer(text)]


def run_blocks(path: Path) -> int:
    namespace: dict = {"__name__": f"doc_{path.stem}"}
    blocks = python_blocks(path)
    for line, code in blocks:
        where = f"{path.name}:{line}"
        if code.lstrip().startswith(">>>"):
            test = doctest.DocTestParser().get_doctest(code, namespace, where, str(path), line)
            runner = doctest.DocTestRunner(optionflags=FLAGS)
            runner.run(test, clear_globs=False)
            namespace.update(test.globs)   # DocTest works on a copy; keep its definitions
            assert runner.failures == 0, f"doctest failed in the block at {where} (see output)"
        else:
            exec(compile(code, where, "exec"), namespace)
    return len(blocks)


def test_the_tour_exists_and_has_code():
    assert len(python_blocks(ROOT / "README.md")) >= 8


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_markdown_python_blocks_run(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)   # anything a snippet writes lands in a scratch directory
    assert run_blocks(path) > 0


def test_the_block_extractor(tmp_path):
    text = "intro\n```python\nx = 1\n```\ntext\n```bash\nls\n```\n```python\n>>> x + 1\n2\n```\n"
    path = tmp_path / "t.md"
    path.write_text(text)
    assert python_blocks(path) == [(3, "x = 1\n"), (10, ">>> x + 1\n2\n")]
    assert run_blocks(path) == 2
    bad = tmp_path / "bad.md"
    bad.write_text("```python\n>>> 1 + 1\n3\n```\n")
    with pytest.raises(AssertionError, match="bad.md:2"):
        run_blocks(bad)
