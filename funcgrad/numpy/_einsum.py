"""einsum as a left-to-right chain of dot_generals, sums and one final transpose."""
from __future__ import annotations

from ..prims import linalg as _la
from ..prims import reductions as _red
from ..prims import shape as _sh


def _shape(x):
    import numpy as np
    return x.shape if hasattr(x, "shape") else np.shape(x)


def einsum(subscripts: str, *operands):
    subscripts = subscripts.replace(" ", "")
    if "..." in subscripts:
        raise NotImplementedError("einsum: '...' (ellipsis) subscripts are not supported")
    if "->" in subscripts:
        ins, out = subscripts.split("->")
    else:
        ins = subscripts
        letters = ins.replace(",", "")
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    terms = ins.split(",")
    if len(terms) != len(operands):
        raise ValueError(f"einsum: {len(terms)} subscripts for {len(operands)} operands")
    sizes = {}
    for t, x in zip(terms, operands):
        shape = _shape(x)
        if len(t) != len(shape):
            raise ValueError(f"einsum: subscripts '{t}' do not match an operand of shape {shape}")
        if len(set(t)) != len(t):
            raise NotImplementedError(f"einsum: repeated subscripts in '{t}' (diagonals) are "
                                      f"not supported")
        for c, d in zip(t, shape):
            if sizes.setdefault(c, d) != d:
                raise ValueError(f"einsum: subscript '{c}' has sizes {sizes[c]} and {d}")
    ops = list(zip(operands, terms))
    ops = [_sum_unneeded(x, t, out + "".join(u for _, u in ops[:i] + ops[i + 1:]))
           for i, (x, t) in enumerate(ops)]
    while len(ops) > 1:
        (a, ta), (b, tb) = ops[0], ops[1]
        later = out + "".join(t for _, t in ops[2:])
        shared = [c for c in ta if c in tb]
        batch = [c for c in shared if c in later]
        contract = [c for c in shared if c not in later]
        r = _la.dot_general(a, b, (tuple(ta.index(c) for c in contract),
                                   tuple(tb.index(c) for c in contract)),
                            (tuple(ta.index(c) for c in batch), tuple(tb.index(c) for c in batch)))
        tr = "".join(batch) + "".join(c for c in ta if c not in shared) + \
            "".join(c for c in tb if c not in shared)
        ops = [_sum_unneeded(r, tr, later)] + ops[2:]
    x, t = ops[0]
    x, t = _sum_unneeded(x, t, out)
    return _sh.transpose(x, tuple(t.index(c) for c in out))


def _sum_unneeded(x, t, needed):
    axes = tuple(i for i, c in enumerate(t) if c not in needed)
    if not axes:
        return x, t
    return _red.reduce_sum(x, axes), "".join(c for c in t if c in needed)
