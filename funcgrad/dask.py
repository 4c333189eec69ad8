"""funcgrad.dask: data-parallel gradients and training over data held in dask arrays.

The data stays where it lives, on the workers of a `dask.distributed` cluster; the loss goes
to it. `value_and_grad(loss)` returns a function of `(params, *data)` where each data
argument that is a dask array is split along its first axis (the example axis) at its
chunks. For each chunk, a worker evaluates `jit(value_and_grad(loss))` (compiled once per
worker process and kept) on the chunk it holds, and the per-chunk values and gradients — a
pytree like `params` — are summed in a tree of small reduction tasks. Only the parameters
(scattered to every worker once per call) and gradients cross the network, never data.

The loss must be *summable over examples*: with `reduce="mean"` (the default) it is the
mean over the examples of its chunk (`fnp.mean(...)`), and the result is the mean over all
examples, chunks of unequal size weighted by their number of rows; with `reduce="sum"` it is
a sum, and so is the result. A term that does not belong to examples (a penalty on the
parameters) belongs on the client: add it to the value and gradient there (`fit` takes it as
`penalty=`).

`fit` is a training loop on top: full-batch with an optimiser of `funcgrad.optim` or with
`funcgrad.scipy.optimize.minimize` (L-BFGS-B, BFGS...), or mini-batch (SGD, Adam...) where a
batch is a few chunks; the parameters stay on the client, one scatter per step, with a
progress bar (tqdm, if installed). `distribute(loss, *data)` turns the loss and its data into
a function of the parameters that funcgrad's eager `grad` and `minimize(..., jit=False)`
differentiate with one cluster round trip.

Every function takes `client=`, a `distributed.Client`; without one, the current default
client is used, or a `LocalCluster` of worker processes is started (once, and closed when
Python exits; `get_client()` returns it). Fault tolerance is Dask's: a worker that dies
mid-step is replaced and its tasks run again elsewhere — lost chunks of data are recomputed
from their graph, the parameters are on every worker — and since the reduction tree does
not depend on where tasks ran, the result is the same (up to rounding: BLAS's sums may
depend on where a chunk's buffer lies in memory). A loss that raises on a chunk raises the
same exception on the client, with the chunk's index in its `chunk_index` attribute and in
a note (`add_note`), and the other tasks of the call are cancelled.

Dask is an optional dependency (`pip install 'funcgrad[dask]'`): importing this module does
not need it; the functions that talk to a cluster do. Pure helpers work without it:

>>> chunk_rows_of(10, 4)
(4, 4, 2)
"""
from __future__ import annotations

import atexit
import dataclasses
import itertools
import math
import os
import sys
import sysconfig
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import tree
from .optim import Optimizer, apply_updates
from .run.jit import jit as _jit
from .scipy import optimize as _optimize
from .transforms import api as _api
from .transforms.custom import custom_vjp
from .util import optional_import

__all__ = ["value_and_grad", "distribute", "fit", "shard", "Sharded", "FitResult",
           "get_client", "chunk_rows_of"]

_REDUCTIONS = ("mean", "sum")
_FAN_IN = 8          # reduction tasks add up to this many partial results each


def _need(module: str, feature: str):
    return optional_import(module, f"funcgrad.dask.{feature}", "dask")


def chunk_rows_of(n: int, rows: int) -> tuple[int, ...]:
    """The chunk sizes along the example axis for `n` examples in chunks of `rows` (the last
    one shorter), as dask chunks them.

    >>> chunk_rows_of(7, 3), chunk_rows_of(6, 3), chunk_rows_of(0, 3)
    ((3, 3, 1), (3, 3), ())
    """
    if rows <= 0:
        raise ValueError(f"chunk_rows_of: rows must be positive, got {rows}")
    return tuple(min(rows, n - s) for s in range(0, n, rows))


# --- the client --------------------------------------------------------------------------------

_DEFAULT: dict[str, Any] = {}


def get_client(client: Any = None) -> Any:
    """The `distributed.Client` to use: `client` if given, else the current default client,
    else one on a `LocalCluster` of worker processes started by funcgrad (once per process,
    one thread per worker, closed at exit).

    >>> client = get_client()                    # doctest: +SKIP
    >>> client.dashboard_link                    # doctest: +SKIP
    'http://127.0.0.1:8787/status'
    """
    if client is not None:
        return client
    distributed = _need("distributed", "get_client")
    try:
        return distributed.default_client()
    except ValueError:
        pass
    if "client" not in _DEFAULT:
        cluster = distributed.LocalCluster(processes=True, threads_per_worker=1)
        _DEFAULT["cluster"] = cluster
        _DEFAULT["client"] = distributed.Client(cluster, set_as_default=False)
        atexit.register(_close_default)
    return _DEFAULT["client"]


def _close_default() -> None:
    client, cluster = _DEFAULT.pop("client", None), _DEFAULT.pop("cluster", None)
    for thing in (client, cluster):
        if thing is not None:
            try:
                thing.close()
            except Exception:   # noqa: BLE001  (closing at exit: nothing left to tell)
                pass


# --- the data ----------------------------------------------------------------------------------

def _is_dask_array(x: Any) -> bool:
    da = sys.modules.get("dask.array")
    return da is not None and isinstance(x, da.Array)


class Sharded:
    """Arrays split along their first axis into the same chunks, held by a cluster.

    Made by `shard`; passed as a data argument to the functions of this module (it stands
    for its arrays, in order). `arrays` are the (aligned, maybe persisted) dask arrays,
    `rows` the chunk sizes, `n` the number of examples.

    >>> data = shard(x, y, chunk_rows=100_000)       # doctest: +SKIP
    >>> data.rows[:2], data.n                        # doctest: +SKIP
    ((100000, 100000), 1000000)
    """

    def __init__(self, arrays: tuple, client: Any, persist: bool):
        self.arrays = arrays
        self.client = client
        self.persisted = persist
        self.rows: tuple[int, ...] = tuple(int(r) for r in arrays[0].chunks[0])
        self.n = int(sum(self.rows))
        self.starts = tuple(itertools.accumulate((0,) + self.rows[:-1]))
        self._futures = self._chunk_futures() if persist else None

    def _chunk_futures(self) -> list[tuple]:
        """One tuple of futures (one per array) per chunk, in order; computing the chunks on
        the cluster if they are not there yet."""
        distributed = _need("distributed", "Sharded")
        persisted = self.client.persist(list(self.arrays))
        out = []
        for arr in persisted:
            by_key = {f.key: f for f in distributed.futures_of(arr)}
            keys = _flat_keys(arr.__dask_keys__())
            out.append([by_key[k] for k in keys])
        if self.persisted:
            self.arrays = tuple(persisted)
        return list(zip(*out))

    def chunks(self) -> list[tuple]:
        """Futures of the chunks: kept if the data is persisted, else computed for this use."""
        return self._futures if self._futures is not None else self._chunk_futures()

    def __repr__(self) -> str:
        shapes = ", ".join(str(a.shape) for a in self.arrays)
        return (f"Sharded({shapes}; {len(self.rows)} chunks of <= {max(self.rows, default=0)} "
                f"rows{', persisted' if self.persisted else ''})")


def _aligned(block):
    """`block`, copied if its data is not aligned for its dtype. An array that came over the
    network (or from a graph) can sit at any byte offset of a message buffer; NumPy then
    cannot hand it to BLAS and takes a slow path (measured: 5x slower x @ w)."""
    if isinstance(block, np.ndarray) and not (block.flags.aligned and block.flags.c_contiguous):
        return np.array(block, order="C", copy=True)
    return block


def _flat_keys(keys) -> list:
    if isinstance(keys, list):
        return [k for sub in keys for k in _flat_keys(sub)]
    return [keys]


def shard(*arrays: Any, client: Any = None, chunk_rows: int | None = None,
          persist: bool = True) -> Sharded:
    """Arrays (dask or NumPy, the same length along the first axis) split into the same
    chunks along that axis, every other axis whole, on the cluster.

    The first dask array's chunks are kept (or `chunk_rows` rows per chunk, if given) and the
    others rechunked to them; a NumPy array is chunked likewise (and sent to the cluster: for
    data that fits on the client). With `persist=True` the chunks are computed once and kept
    in the workers' memory (`client.persist`), so that repeated gradients do not regenerate
    or reload them; with `persist=False` every use computes them anew from their graph.

    >>> import numpy as np, funcgrad.dask as fgd
    >>> data = fgd.shard(np.ones((10, 3)), np.zeros(10), chunk_rows=4)   # doctest: +SKIP
    >>> data.rows                                                        # doctest: +SKIP
    (4, 4, 2)
    """
    da = _need("dask.array", "shard")
    client = get_client(client)
    if not arrays:
        raise TypeError("shard: give at least one array")
    n: Any = None
    for a in arrays:
        if not hasattr(a, "shape") or len(a.shape) == 0:
            raise TypeError(f"shard: every array needs an example axis (axis 0); got "
                            f"{type(a).__name__} of shape {getattr(a, 'shape', None)}")
        if n is None:
            n = a.shape[0]
        elif a.shape[0] != n:
            raise ValueError(f"shard: the arrays have different lengths along axis 0: "
                             f"{[a.shape[0] for a in arrays]}")
    if math.isnan(n):
        raise ValueError("shard: an array has an unknown number of rows (nan): call "
                         "compute_chunk_sizes() on it first")
    if chunk_rows is not None:
        rows = chunk_rows_of(int(n), int(chunk_rows))
    else:
        first = next((a for a in arrays if _is_dask_array(a)), None)
        rows = tuple(first.chunks[0]) if first is not None else chunk_rows_of(int(n), 100_000)
    rows = rows or (0,)
    out = []
    for a in arrays:
        whole = {ax: -1 for ax in range(1, len(a.shape))}
        if _is_dask_array(a):
            b = a.rechunk({0: rows, **whole}) if (a.chunks[0] != rows or any(
                len(c) > 1 for c in a.chunks[1:])) else a
        else:
            a = np.asarray(a)
            b = da.from_array(a, chunks=(rows,) + tuple(a.shape[1:]))
        out.append(b.map_blocks(_aligned, dtype=b.dtype))

    return Sharded(tuple(out), client, persist)


# --- shipping the loss -------------------------------------------------------------------------

class _Loss:
    """The user's loss, cloudpickled once on the client; compiled once per worker process."""

    def __init__(self, fun: Callable, reduce: str):
        self.token = uuid.uuid4().hex
        self.name = getattr(fun, "__qualname__", None) or repr(fun)
        self.payload = _dumps(fun)
        self.reduce = reduce


def _dumps(fun: Callable) -> bytes:
    """cloudpickle `fun`; by value if it comes from a module the workers may not import (a
    script, a test file): everything but installed packages and funcgrad."""
    cloudpickle = _need("cloudpickle", "value_and_grad")
    module = sys.modules.get(getattr(fun, "__module__", None) or "")
    by_value = (module is not None and module.__name__ != "__main__"
                and not module.__name__.startswith(("funcgrad", "numpy"))
                and not _installed(module)
                and module.__name__ not in _by_value_modules(cloudpickle))
    if by_value:
        cloudpickle.register_pickle_by_value(module)
    try:
        return cloudpickle.dumps(fun)
    finally:
        if by_value:
            cloudpickle.unregister_pickle_by_value(module)


def _by_value_modules(cloudpickle) -> set:
    """The modules the user registered with cloudpickle.register_pickle_by_value."""
    return set(getattr(getattr(cloudpickle, "cloudpickle", None), "_PICKLE_BY_VALUE_MODULES", ()))


def _installed(module) -> bool:
    """Whether workers import `module` themselves: an installed package or the stdlib."""
    path = getattr(module, "__file__", None)
    if not path:
        return True                               # built in
    path = os.path.abspath(path)
    if "site-packages" in path or "dist-packages" in path:
        return True
    return path.startswith(os.path.abspath(sysconfig.get_paths()["stdlib"]))


_COMPILED: OrderedDict[str, Callable] = OrderedDict()    # token -> jit(value_and_grad(loss))


def _compiled(spec: _Loss) -> Callable:
    fn = _COMPILED.get(spec.token)
    if fn is None:
        import cloudpickle  # on a worker: dask brings it
        fn = _jit(_api.value_and_grad(cloudpickle.loads(spec.payload)))
        _COMPILED[spec.token] = fn
        while len(_COMPILED) > 32:
            _COMPILED.popitem(last=False)
    return fn


class _Box:
    """Parameters and whole (unchunked) arguments, scattered as one object."""

    __slots__ = ("params", "consts")

    def __init__(self, params, consts):
        self.params, self.consts = params, consts

    def __getstate__(self):
        return (self.params, self.consts)

    def __setstate__(self, state):
        self.params, self.consts = state


def _chunk_value_and_grad(spec: _Loss, box: _Box, layout: tuple, index: int, start: int,
                          *arrays):
    """On a worker: the loss's value and gradient on one chunk, weighted for the reduction
    (times the chunk's rows for a mean)."""
    it = iter(_aligned(a) for a in arrays)     # a chunk moved between workers may not be
    #                                           aligned any more: copied (once per call)
    args = [next(it) if chunked else c for chunked, c in zip(layout, box.consts)]
    n = int(arrays[0].shape[0])
    try:
        value, grads = _compiled(spec)(box.params, *args)
        if np.ndim(value) != 0:
            raise TypeError(f"funcgrad.dask: the loss must return a scalar, got shape "
                            f"{np.shape(value)}")
    except Exception as err:
        note = (f"funcgrad.dask: raised by the loss {spec.name} on chunk {index} "
                f"(rows {start}:{start + n})")
        try:
            if hasattr(err, "add_note"):
                err.add_note(note)
            else:                               # Python 3.10: the attribute, not displayed
                err.__notes__ = [*getattr(err, "__notes__", ()), note]
            setattr(err, "chunk_index", index)   # noqa: B010  (not an attribute of Exception)
        except Exception:   # noqa: BLE001  (an exception type that refuses attributes)
            pass
        raise
    weight = n if spec.reduce == "mean" else 1
    value = np.float64(value) * weight
    grads = tree.map(lambda g: np.asarray(g) * np.asarray(weight, np.asarray(g).dtype), grads)
    return value, grads


def _add_parts(*parts):
    """On a worker: the sum of partial (value, gradient) pairs."""
    value = parts[0][0]
    grads = parts[0][1]
    for v, g in parts[1:]:
        value = value + v
        grads = tree.map(lambda a, b: a + b, grads, g)
    return value, grads


def _split_args(args: tuple, client: Any, cache: dict | None):
    """(Sharded, layout, consts): the chunked data, which positions are chunked and the
    whole arguments (None at chunked positions)."""
    layout: list[bool] = []
    consts: list[Any] = []
    chunked: list[Any] = []
    sharded: Sharded | None = None
    for a in args:
        if isinstance(a, Sharded):
            if sharded is not None or chunked:
                raise ValueError("funcgrad.dask: give one Sharded, or dask arrays, not both")
            sharded = a
            layout += [True] * len(a.arrays)
            consts += [None] * len(a.arrays)
        elif _is_dask_array(a):
            if sharded is not None:
                raise ValueError("funcgrad.dask: give one Sharded, or dask arrays, not both")
            chunked.append(a)
            layout.append(True)
            consts.append(None)
        else:
            layout.append(False)
            consts.append(a)
    if sharded is None:
        if not chunked:
            raise TypeError("funcgrad.dask: no data argument is a dask array or a Sharded; "
                            "for data on the client use funcgrad.value_and_grad")
        key = tuple(a.name for a in chunked)
        sharded = cache.get(key) if cache is not None else None
        if sharded is None:
            sharded = shard(*chunked, client=client, persist=False)
            if cache is not None:
                cache.clear()
                cache[key] = sharded
    return sharded, tuple(layout), tuple(consts)


def _run(client: Any, spec: _Loss, params: Any, sharded: Sharded, layout: tuple,
         consts: tuple, indices: Sequence[int] | None = None):
    """One distributed evaluation: (value, grads) over the chunks `indices` (all by default),
    reduced on the cluster and gathered; a mean is divided by their rows on the client."""
    blocks = sharded.chunks()
    if indices is None:
        indices = range(len(blocks))
    indices = [i for i in indices if sharded.rows[i] > 0]
    if not indices:
        raise ValueError("funcgrad.dask: no examples to evaluate the loss on")
    box = client.scatter(_Box(params, consts), broadcast=True, hash=False)
    # Run each chunk where its data is. Without a restriction the scheduler may take these
    # tasks, many and alike, for "root-ish" ones and place them ignoring where their inputs
    # are, moving the data; loose (allow_other_workers) so that a dead worker's chunks run
    # elsewhere, recomputed there.
    where = client.who_has([blocks[i][0] for i in indices])
    parts = []
    for i in indices:
        holders = list(where.get(blocks[i][0].key, ()))[:1]
        place = {"workers": holders, "allow_other_workers": True} if holders else {}
        parts.append(client.submit(_chunk_value_and_grad, spec, box, layout, i,
                                   sharded.starts[i], *blocks[i], pure=False,
                                   key=f"funcgrad-chunk-{uuid.uuid4().hex}", **place))
    level, every = parts, []
    every += parts
    while len(level) > 1:
        level = [client.submit(_add_parts, *level[j:j + _FAN_IN], pure=False,
                               key=f"funcgrad-sum-{uuid.uuid4().hex}")
                 for j in range(0, len(level), _FAN_IN)]
        every += level
    try:
        value, grads = level[0].result()
    except BaseException:
        client.cancel(every + [box])
        raise
    finally:
        del box
    if spec.reduce == "mean":
        n = sum(sharded.rows[i] for i in indices)
        value = value / n
        grads = tree.map(lambda g: g / np.asarray(n, g.dtype), grads)
    return np.asarray(value, np.float64), grads


# --- the public functions ----------------------------------------------------------------------

class DistributedValueAndGrad:
    """What `value_and_grad` returns: call it as `(params, *data) -> (value, grads)`."""

    def __init__(self, fun: Callable, reduce: str, client: Any):
        if reduce not in _REDUCTIONS:
            raise ValueError(f"funcgrad.dask.value_and_grad: reduce must be one of "
                             f"{_REDUCTIONS}, got {reduce!r}")
        self.fun = fun
        self.reduce = reduce
        self._client = client
        self._spec: _Loss | None = None
        self._cache: dict = {}

    @property
    def client(self):
        self._client = get_client(self._client)
        return self._client

    @property
    def spec(self) -> _Loss:
        if self._spec is None:
            self._spec = _Loss(self.fun, self.reduce)
        return self._spec

    def __call__(self, params: Any, *data: Any, chunks: Sequence[int] | None = None):
        sharded, layout, consts = _split_args(data, self.client, self._cache)
        return _run(self.client, self.spec, params, sharded, layout, consts, chunks)


def value_and_grad(fun: Callable, *, reduce: str = "mean",
                   client: Any = None) -> DistributedValueAndGrad:
    """`fun(params, *data)`'s value and gradient with respect to `params`, computed where the
    data lives.

    Returns `vg(params, *data, chunks=None) -> (value, grads)`: `grads` is a pytree like
    `params` (NumPy arrays), `value` a float64 array. Each data argument that is a dask array
    (or a `Sharded` from `shard`, standing for its arrays) is split along axis 0 at its chunks
    — several arrays are rechunked to the first one's chunks — and `fun` sees one chunk of
    each; any other argument is passed whole to every chunk (a hyperparameter, a small
    table). `fun` must trace under `funcgrad.jit`; each worker compiles
    `jit(value_and_grad(fun))` once and keeps it. `chunks=` restricts a call to some chunks
    (by index): a mini-batch.

    `reduce="mean"`: `fun` returns the mean over the examples of its chunk, and `vg` the mean
    over all (or the chosen) examples, chunks weighted by their rows. `reduce="sum"`: `fun`
    returns a sum, and so does `vg`.

    Raw dask arrays are not persisted: each call computes their chunks from their graph (the
    last arrays' chunking is remembered between calls). For repeated calls, `shard` the data
    once, or `persist()` it.

    >>> import numpy as np, funcgrad.numpy as fnp, funcgrad.dask as fgd
    >>> import dask.array as da                                     # doctest: +SKIP
    >>> def loss(w, x, y):
    ...     return fnp.mean((x @ w - y) ** 2)
    >>> x = da.random.default_rng(0).normal(size=(1000, 3), chunks=(300, 3))  # doctest: +SKIP
    >>> y = x.sum(axis=1)                                           # doctest: +SKIP
    >>> value, g = fgd.value_and_grad(loss)(np.ones(3), x, y)       # doctest: +SKIP
    >>> float(value), g                                             # doctest: +SKIP
    (0.0, array([0., 0., 0.]))
    """
    return DistributedValueAndGrad(fun, reduce, client)


def distribute(fun: Callable, *data: Any, reduce: str = "mean", client: Any = None,
               persist: bool = True) -> Callable[[Any], Any]:
    """`params -> fun(params, *data)` reduced over the data's chunks as in `value_and_grad`,
    as a function funcgrad differentiates eagerly: `funcgrad.grad`, `value_and_grad` and
    `funcgrad.scipy.optimize.minimize(..., jit=False)` get its value and gradient from one
    cluster round trip (it is a `custom_vjp`). It cannot run under `funcgrad.jit`.

    The dask arrays among `data` are `shard`ed once (persisted in the workers' memory if
    `persist`).

    >>> import funcgrad as fg
    >>> f = distribute(loss, x, y)                                  # doctest: +SKIP
    >>> fg.grad(lambda w: f(w) + 0.5 * fnp.sum(w ** 2))(np.ones(3))  # doctest: +SKIP
    array([1., 1., 1.])
    """
    vg = value_and_grad(fun, reduce=reduce, client=client)
    data = _shard_data(data, vg.client, persist)

    def value(params):
        return vg(params, *data)[0]

    value.__name__ = value.__qualname__ = f"distributed_{getattr(fun, '__name__', 'loss')}"
    f = custom_vjp(value)

    def fwd(params):
        return vg(params, *data)

    def bwd(grads, ct):
        return (tree.map(lambda g: g * ct, grads),)

    f.defvjp(fwd, bwd)
    f.value_and_grad = (  # type: ignore[attr-defined]
        lambda params, chunks=None: vg(params, *data, chunks=chunks))
    f.sharded = next(d for d in data if isinstance(d, Sharded))  # type: ignore[attr-defined]
    return f


def _shard_data(data: tuple, client: Any, persist: bool) -> tuple:
    """The data arguments with their dask arrays replaced by one Sharded (in place of the
    first); a given Sharded is kept."""
    if any(isinstance(d, Sharded) for d in data):
        return data
    chunked = [d for d in data if _is_dask_array(d)]
    if not chunked:
        raise TypeError("funcgrad.dask: no data argument is a dask array or a Sharded")
    positions = [i for i, d in enumerate(data) if _is_dask_array(d)]
    if positions != list(range(positions[0], positions[0] + len(positions))):
        raise ValueError("funcgrad.dask: put the dask array arguments next to each other "
                         "(fun(params, x, y, c), not fun(params, x, c, y))")
    sharded = shard(*chunked, client=client, persist=persist)
    out, placed = [], False
    for d in data:
        if _is_dask_array(d):
            if not placed:
                out.append(sharded)
                placed = True
        else:
            out.append(d)
    return tuple(out)


@dataclasses.dataclass
class FitResult:
    """What `fit` returns.

    `params`: the trained parameters (a pytree like the initial ones); `losses`: the loss
    (plus penalty) at each step's parameters, before its update (for `method=`: at each
    function evaluation); `steps`: the number of steps or iterations; `wall_time`: seconds;
    `result`: SciPy's `OptimizeResult` when `method=` was given, else None.

    >>> FitResult(params={"w": 0.0}, losses=[1.0, 0.5], steps=2, wall_time=0.1).losses[-1]
    0.5
    """

    params: Any
    losses: list
    steps: int
    wall_time: float
    result: Any = None


def fit(fun: Callable, params: Any, *data: Any, optimizer: Optimizer | None = None,
        method: str | None = None, steps: int | None = None, epochs: int | None = None,
        batch_chunks: int | None = None, penalty: Callable[[Any], Any] | None = None,
        reduce: str = "mean", client: Any = None, persist: bool = True, seed: int = 0,
        options: dict | None = None, tol: float | None = None, progress: bool = True,
        callback: Callable[[int, Any, float], Any] | None = None) -> FitResult:
    """Train `params` on `fun(params, *data)` over data held in dask arrays.

    The data's dask arrays are `shard`ed once (persisted in the workers' memory unless
    `persist=False`). The parameters stay on the client; each step scatters them to the
    workers once, gets the reduced value and gradient back (see `value_and_grad`) and updates
    them on the client. `penalty(params)`, if given, is added on the client (a regulariser
    that does not belong to examples), with its gradient from `funcgrad.value_and_grad`.

    * `method="L-BFGS-B"` (or any gradient method of `funcgrad.scipy.optimize.minimize`):
      full-batch, SciPy drives; `steps` is `maxiter`, `options` and `tol` go to `minimize`.
    * `optimizer=` (from `funcgrad.optim`) without `batch_chunks`: full-batch steps, `steps`
      of them (default 100).
    * `optimizer=` with `batch_chunks=k`: mini-batch; each step takes the mean over `k`
      chunks (say, one per worker), an epoch visits every chunk once in an order shuffled by
      `seed`; `epochs` (default 1) or `steps` says how long.

    `callback(step, params, loss)` is called after each step (returning True stops).
    Returns a `FitResult`.

    >>> import funcgrad.optim as optim
    >>> res = fit(loss, np.zeros(3), x, y, optimizer=optim.adam(0.1), steps=50)   # doctest: +SKIP
    >>> res = fit(loss, np.zeros(3), x, y, method="L-BFGS-B")                    # doctest: +SKIP
    >>> res.params.round(6), res.losses[-1] < 1e-10                              # doctest: +SKIP
    (array([1., 1., 1.]), True)
    """
    if (optimizer is None) == (method is None):
        raise ValueError("funcgrad.dask.fit: give either optimizer= (funcgrad.optim) or "
                         "method= (funcgrad.scipy.optimize.minimize)")
    if batch_chunks is not None and optimizer is None:
        raise ValueError("funcgrad.dask.fit: batch_chunks (mini-batches) needs optimizer=")
    if steps is not None and epochs is not None:
        raise ValueError("funcgrad.dask.fit: give steps or epochs, not both")
    if epochs is not None and batch_chunks is None:
        raise ValueError("funcgrad.dask.fit: epochs are for mini-batches (batch_chunks=)")
    t0 = time.perf_counter()
    f = distribute(fun, *data, reduce=reduce, client=client, persist=persist)
    sharded: Sharded = f.sharded  # type: ignore[attr-defined]
    nchunks = len(sharded.rows)
    penalty_vg = _api.value_and_grad(penalty) if penalty is not None else None

    def evaluate(p, chunks=None):
        value, grads = f.value_and_grad(p, chunks)
        if penalty_vg is not None:
            pv, pg = penalty_vg(p)
            value = value + np.asarray(pv, np.float64)
            grads = tree.map(lambda a, b: a + np.asarray(b, a.dtype), grads, pg)
        return value, grads

    losses: list[float] = []
    bar = _progress(progress, None)
    try:
        if method is not None:
            return _fit_minimize(f, penalty, params, method, steps, options, tol, bar,
                                 losses, callback, t0)
        if batch_chunks is None:
            total, batches = (100 if steps is None else steps), None
        else:
            if not 1 <= batch_chunks <= nchunks:
                raise ValueError(f"funcgrad.dask.fit: batch_chunks must be in 1..{nchunks} "
                                 f"(the data has {nchunks} chunks), got {batch_chunks}")
            per_epoch = math.ceil(nchunks / batch_chunks)
            total = steps if steps is not None else per_epoch * (1 if epochs is None else epochs)
            batches = _batches(nchunks, batch_chunks, np.random.default_rng(seed))
        if bar is not None:
            bar.total = total
        assert optimizer is not None
        state = optimizer.init(params)
        step = 0
        for step in range(1, total + 1):
            chunks = next(batches) if batches is not None else None
            value, grads = evaluate(params, chunks)
            updates, state = optimizer.update(grads, state, params)
            params = apply_updates(params, updates)
            losses.append(float(value))
            if bar is not None:
                bar.set_postfix(loss=f"{float(value):.6g}", refresh=False)
                bar.update(1)
            if callback is not None and callback(step, params, float(value)):
                break
        return FitResult(params, losses, step, time.perf_counter() - t0)
    finally:
        if bar is not None:
            bar.close()


def _batches(nchunks: int, k: int, rng: np.random.Generator):
    """Lists of k chunk indices, epoch after epoch, each epoch a fresh permutation (the last
    batch of an epoch may be shorter)."""
    while True:
        order = rng.permutation(nchunks).tolist()
        for j in range(0, nchunks, k):
            yield sorted(order[j:j + k])


def _progress(enabled: bool, total: int | None):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="funcgrad.dask.fit", unit="step")


def _fit_minimize(f, penalty, params, method, steps, options, tol, bar, losses, callback, t0):
    options = dict(options or {})
    if steps is not None:
        options.setdefault("maxiter", steps)
    vg = f.value_and_grad

    def fwd(p):                      # one cluster round trip per SciPy evaluation
        value, grads = vg(p)
        extra = float(np.asarray(penalty(p))) if penalty is not None else 0.0
        losses.append(float(value) + extra)
        return value, grads

    def bwd(grads, ct):
        return (tree.map(lambda g: g * ct, grads),)

    data_loss = custom_vjp(lambda p: fwd(p)[0])
    data_loss.defvjp(fwd, bwd)

    def objective(p):
        return data_loss(p) + penalty(p) if penalty is not None else data_loss(p)

    iteration = [0]

    def scipy_callback(p):
        iteration[0] += 1
        loss = losses[-1] if losses else float("nan")
        if bar is not None:
            bar.set_postfix(loss=f"{loss:.6g}", refresh=False)
            bar.update(1)
        if callback is not None and callback(iteration[0], p, loss):
            raise StopIteration

    res = _optimize.minimize(objective, params, method=method, tol=tol, options=options,
                             callback=scipy_callback, jit=False)
    return FitResult(res.x, losses, int(res.get("nit", iteration[0])),
                     time.perf_counter() - t0, res)
