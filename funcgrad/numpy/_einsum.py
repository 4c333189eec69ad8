"""np.einsum as gathers (repeated indices), sums, a greedy chain of dot_generals and one final
transpose. Labels are characters; '...' becomes labels that are never letters."""
from __future__ import annotations

import string

import numpy as np

from ..core.types import promote, type_of
from ..prims import elementwise as _ew
from ..prims import indexing as _ix
from ..prims import linalg as _la
from ..prims import shape as _sh
from ._creation import asarray
from ._util import _shape

_LETTERS = string.ascii_letters
_ALL = (None, None, None)  # the slice ':' in an indexing spec


def _ell(i: int) -> str:
    """The label of the i-th '...' axis, counted from the right."""
    return chr(0x100 + i)


def einsum(*args, dtype=None):
    """einsum('ij,jk->ik', a, b) or einsum(a, [0, 1], b, [1, 2], [0, 2]), traced."""
    subscripts, operands = _normalize(args)
    operands = [asarray(x) if isinstance(x, (list, tuple)) else x for x in operands]
    if dtype is not None:
        operands = [_ew.convert(x, dtype) for x in operands]
    out_dtype = promote(*(type_of(x) for x in operands))[0]
    terms, out = _parse(subscripts, [_shape(x) for x in operands])
    sizes = _sizes(terms, operands)
    ops = [_prepare(x, t, sizes) for x, t in zip(operands, terms)]
    ops = [_sum_unneeded(x, t, out + "".join(u for _, u in ops[:i] + ops[i + 1:]))
           for i, (x, t) in enumerate(ops)]
    while len(ops) > 1:
        i, j = _cheapest_pair(ops, out, sizes)
        later = out + "".join(t for k, (_, t) in enumerate(ops) if k not in (i, j))
        ops[i] = _contract(ops[i], ops[j], later)
        del ops[j]
    x, t = _sum_unneeded(*ops[0], out)
    x = _sh.transpose(x, tuple(t.index(c) for c in out))
    return _ew.convert(x, out_dtype)  # sums of integers widen; NumPy's einsum does not


def _normalize(args):
    """(subscripts, operands) from either calling convention."""
    if not args:
        raise ValueError("einsum: no operands given")
    if isinstance(args[0], str):
        return args[0], list(args[1:])
    ops, subs = list(args[0::2]), list(args[1::2])
    out = None
    if len(args) % 2:
        out = ops.pop()

    def labels(sub):
        return "".join("..." if s is Ellipsis else _LETTERS[int(s)] for s in sub)
    spec = ",".join(labels(s) for s in subs)
    return (spec if out is None else f"{spec}->{labels(out)}"), ops


def _parse(subscripts: str, shapes: list) -> tuple[list[str], str]:
    """Per-operand label strings and the output's, with '...' expanded."""
    s = subscripts.replace(" ", "")
    ins, arrow, out = s.partition("->")
    terms = ins.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: '{subscripts}' has {len(terms)} operand subscripts but "
                         f"{len(shapes)} operands were given")
    n_ell, expanded = 0, []
    for t, shape in zip(terms, shapes):
        letters = t.replace("...", "", 1)
        if any(c not in _LETTERS for c in letters):
            raise ValueError(f"einsum: invalid subscripts '{t}' (use letters and one '...')")
        if "..." in t:
            k = len(shape) - len(letters)
            if k < 0:
                raise ValueError(f"einsum: subscripts '{t}' have more labels than the operand "
                                 f"of shape {shape} has axes")
            n_ell = max(n_ell, k)
            t = t.replace("...", "".join(_ell(k - 1 - i) for i in range(k)))
        if len(t) != len(shape):
            raise ValueError(f"einsum: subscripts '{t}' do not match an operand of shape "
                             f"{shape}")
        expanded.append(t)
    ell = "".join(_ell(n_ell - 1 - i) for i in range(n_ell))
    if not arrow:
        joined = ins.replace("...", "").replace(",", "")
        return expanded, ell + "".join(sorted(c for c in set(joined) if joined.count(c) == 1))
    if "..." in out:
        out = out.replace("...", ell, 1)
    elif n_ell:
        raise ValueError(f"einsum: '{subscripts}': the operands have '...' axes but the output "
                         f"has no '...'")
    if any(c not in _LETTERS and c not in ell for c in out) or len(set(out)) != len(out):
        raise ValueError(f"einsum: invalid output subscripts in '{subscripts}'")
    for c in out:
        if not any(c in t for t in expanded):
            raise ValueError(f"einsum: output subscript '{c}' does not appear in the operands")
    return expanded, out


def _sizes(terms, operands) -> dict:
    """Each label's size; a size-1 axis broadcasts against the others, as in NumPy."""
    sizes: dict = {}
    for t, x in zip(terms, operands):
        here: dict = {}
        for c, d in zip(t, x.shape if hasattr(x, "shape") else np.shape(x)):
            if here.setdefault(c, d) != d:
                raise ValueError(f"einsum: repeated subscript '{c}' in one operand has sizes "
                                 f"{here[c]} and {d}")
            if d != 1 and sizes.get(c, 1) not in (1, d):
                raise ValueError(f"einsum: subscript '{c}' has sizes {sizes[c]} and {d}, which "
                                 f"do not broadcast")
            if d != 1 or c not in sizes:
                sizes[c] = d
    return sizes


def _prepare(x, t: str, sizes: dict):
    """Take the diagonal of repeated labels, and drop size-1 axes that broadcast."""
    for c in dict.fromkeys(t):
        pos = [i for i, u in enumerate(t) if u == c]
        if len(pos) > 1:  # gather x[..., ar, ..., ar, ...] with the repeats moved to the front
            rest = [i for i in range(len(t)) if i not in pos]
            x = _sh.transpose(x, tuple(pos + rest))
            ar = np.arange(x.shape[0])
            x = _ix.getitem_p.bind(x, *[ar] * len(pos),
                                   spec=("a",) * len(pos) + (_ALL,) * len(rest))
            t = c + "".join(t[i] for i in rest)
    drop = [i for i, c in enumerate(t) if x.shape[i] == 1 and sizes[c] != 1]
    if drop:
        x = _sh.reshape(x, tuple(d for i, d in enumerate(x.shape) if i not in drop))
        t = "".join(c for i, c in enumerate(t) if i not in drop)
    return x, t


def _cheapest_pair(ops, out: str, sizes: dict) -> tuple[int, int]:
    """The pair whose contraction gives the smallest result (ties: leftmost)."""
    best, best_cost = (0, 1), None
    for i in range(len(ops)):
        for j in range(i + 1, len(ops)):
            keep = out + "".join(t for k, (_, t) in enumerate(ops) if k not in (i, j))
            labels = {c for c in ops[i][1] + ops[j][1] if c in keep}
            cost = int(np.prod([sizes[c] for c in labels], dtype=np.int64))
            if best_cost is None or cost < best_cost:
                best, best_cost = (i, j), cost
    return best


def _contract(a_op, b_op, later: str):
    """One dot_general: shared labels needed later are batch axes, the others contract."""
    (a, ta), (b, tb) = a_op, b_op
    shared = [c for c in ta if c in tb]
    batch = [c for c in shared if c in later]
    contract = [c for c in shared if c not in later]
    r = _la.dot_general(a, b, (tuple(ta.index(c) for c in contract),
                               tuple(tb.index(c) for c in contract)),
                        (tuple(ta.index(c) for c in batch), tuple(tb.index(c) for c in batch)))
    tr = "".join(batch) + "".join(c for c in ta if c not in shared) + \
        "".join(c for c in tb if c not in shared)
    return _sum_unneeded(r, tr, later)


def _sum_unneeded(x, t: str, needed: str):
    axes = tuple(i for i, c in enumerate(t) if c not in needed)
    if not axes:
        return x, t
    return _sh.reduce_sum(x, axes), "".join(c for c in t if c in needed)
