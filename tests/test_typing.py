"""funcgrad ships type hints (PEP 561: the `py.typed` marker) and a type checker uses them:
mypy checks small user-style programs against the public API, accepting correct code and
flagging misuse. Only the snippets are checked, not the whole package (about 10 s cold).

Skipped when mypy is not installed (it is in the `test` extra, so CI has it)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import funcgrad

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(funcgrad.__file__)))

GOOD = '''\
from __future__ import annotations

from typing import Any

import numpy as np

import funcgrad as fg
from funcgrad import optim, tree
from funcgrad.tree import TreeDef


def loss(params: dict[str, Any], x: np.ndarray, y: np.ndarray) -> Any:
    logits = x @ params["w"] + params["b"]
    return np.mean(np.logaddexp(0.0, logits) - y * logits)


params: dict[str, Any] = {"w": np.zeros(3), "b": np.zeros(())}
schedule = optim.warmup_cosine_decay(0.0, 0.1, warmup_steps=10, decay_steps=100)
opt: optim.Optimizer = optim.chain(
    optim.clip_by_global_norm(1.0),
    optim.adamw(schedule, weight_decay=1e-4,
                mask=lambda p: tree.map(lambda a: np.ndim(a) > 0, p)))
state = opt.init(params)
step = fg.jit(fg.value_and_grad(loss))
value, grads = step(params, np.ones((5, 3)), np.ones(5))
updates, state = opt.update(grads, state, params)
params = optim.apply_updates(params, updates)
g_w, g_b = fg.grad(lambda w, b: np.sum(w * b), argnums=(0, 1))(np.ones(2), 2.0)
per_example = fg.vmap(fg.grad(loss), in_axes=(None, 0, 0))
leaves, treedef = tree.flatten(params)
same: TreeDef = tree.structure(params)
print(treedef == same, fg.make_graph(loss)(params, np.ones((5, 3)), np.ones(5)))
'''

BAD = '''\
import numpy as np

import funcgrad as fg
from funcgrad import optim, tree

x = np.ones(3)
fg.grad(np.sum, has_aux="yes")                 # BAD has_aux
fg.grad(np.sum, argnums=x)                     # BAD argnums
optim.sgd(lr="0.1")                            # BAD lr
leaves, treedef = tree.flatten({"a": x})
treedef.no_such_attribute                      # BAD treedef
'''

FNP = '''\
import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp


def loss(w: fnp.ndarray) -> fnp.ndarray:
    return fnp.mean(fnp.logaddexp(0.0, w) + fnp.at(w)[0].set(1.0))


print(fg.grad(loss)(np.ones(3)))
'''


@pytest.fixture(scope="module")
def mypy(tmp_path_factory):
    pytest.importorskip("mypy", reason="mypy is not installed (pip install -e '.[test]')")
    cache = tmp_path_factory.mktemp("mypy_cache")

    def run(source: str, tmp_path) -> subprocess.CompletedProcess:
        path = tmp_path / "user_snippet.py"
        path.write_text(source)
        env = dict(os.environ, MYPYPATH=ROOT)
        # funcgrad is found on MYPYPATH (an editable install's import hook is invisible to
        # mypy); --follow-imports=silent uses its types without reporting on its own code.
        cmd = [sys.executable, "-m", "mypy", "--follow-imports=silent", "--no-error-summary",
               "--show-error-codes", "--cache-dir", str(cache), "--python-version",
               f"{sys.version_info.major}.{sys.version_info.minor}", str(path)]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env,
                              timeout=300)
    return run


def test_py_typed_marker_is_shipped():
    assert os.path.isfile(os.path.join(ROOT, "funcgrad", "py.typed"))
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("[tool.setuptools.package-data]", 1)
    assert len(section) == 2, "pyproject.toml has no [tool.setuptools.package-data]"
    assert re.search(r'^funcgrad\s*=\s*\[[^\]]*"py\.typed"', section[1], re.M)


def test_mypy_accepts_user_code_using_the_public_api(mypy, tmp_path):
    r = mypy(textwrap.dedent(GOOD), tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_flags_misuse_of_the_public_api(mypy, tmp_path):
    r = mypy(BAD, tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    lines = BAD.splitlines()
    flagged = {int(m.group(1)) for m in re.finditer(r"user_snippet\.py:(\d+): error", r.stdout)}
    for tag in ("has_aux", "argnums", "lr", "treedef"):
        line = next(i for i, text in enumerate(lines, 1) if text.endswith(f"# BAD {tag}"))
        assert line in flagged, f"mypy did not flag line {line} ({tag}):\n{r.stdout}"
    assert flagged <= {i for i, text in enumerate(lines, 1) if "# BAD" in text}, r.stdout


def test_the_numpy_stub_is_current():
    """funcgrad/numpy/__init__.pyi (how type checkers see names built at import time) is what
    tools/stubs.py writes from the live namespace."""
    import importlib.util
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("stubs_tool", root / "tools" / "stubs.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.OUT.read_text() == tool.stub(), "run python tools/stubs.py"


def test_mypy_sees_the_names_of_funcgrad_numpy(mypy, tmp_path):
    r = mypy(FNP, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
