"""Lazy imports of the peer libraries (JAX, PyTorch, HIPS autograd).

A peer that is not installed raises `Unavailable` when a workload asks for it, and the
harness reports that cell as skipped; nothing is imported before a workload needs it.

>>> from benchmarks import peers
>>> try:
...     jax = peers.load("jax")
... except peers.Unavailable:
...     jax = None
"""
from __future__ import annotations

import importlib
import importlib.metadata
import os
from types import ModuleType
from typing import Any

import numpy as np


class Unavailable(ImportError):
    """A peer library is not installed (or failed to import) in this environment."""


_loaded: dict[str, ModuleType] = {}


def load(name: str) -> ModuleType:
    """Import the peer `name` ('jax', 'torch' or 'autograd') once, configured for the benchmarks.

    JAX gets float64 enabled (W1, W3, W4, W5 are float64) and the CPU platform; JAX and
    PyTorch get BENCH_THREADS threads (1 by default, like NumPy: see benchmarks/__init__.py).

    >>> peers.load("jax").numpy.ones(2).dtype      # doctest: +SKIP
    dtype('float64')
    """
    if name in _loaded:
        return _loaded[name]
    threads = int(os.environ.get("BENCH_THREADS", "1"))
    if name == "jax":
        # The CPU backend without probing for accelerators (quieter and faster start).
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
        if threads == 1:
            os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread"
                                       "_eigen=false intra_op_parallelism_threads=1").strip()
    try:
        module = importlib.import_module(name)
    except Exception as e:  # an ImportError, or a broken install that fails while importing
        raise Unavailable(f"{name} is not importable ({type(e).__name__}: {e})") from None
    if name == "jax":
        module.config.update("jax_enable_x64", True)
    if name == "torch":
        module.set_num_threads(threads)
    _loaded[name] = module
    return module


def version(name: str) -> str | None:
    """The version string of an already loaded peer, or None.

    >>> version("numpy") is None     # only peers that `load` imported are reported
    True
    """
    if name not in _loaded:
        return None
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return getattr(_loaded[name], "__version__", "?")


def to_numpy(x: Any) -> Any:
    """Convert a (small) nest of tuples/lists of peer arrays to NumPy arrays, for the checks.

    >>> to_numpy((1.0, [np.float32(2)]))
    (array(1.), [array(2., dtype=float32)])
    """
    if isinstance(x, (tuple, list)):
        return type(x)(to_numpy(v) for v in x)
    if hasattr(x, "detach"):  # a torch tensor
        return x.detach().cpu().numpy()
    return np.asarray(x)
