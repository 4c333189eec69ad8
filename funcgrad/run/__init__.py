"""Executors: how transformed functions run, above the transformations that say what they
compute and the compiler that turns graphs into code.

- `jit.py`: trace once per argument signature, optimise, generate NumPy code, cache it;
- `eager.py`: eager reverse mode on a tape (registered with transforms/ad.py), with
  `rules.py` (per-primitive compiled VJPs, keyed by `rules.rule_key`) and `programs.py`
  (whole recorded calls compiled and replayed); `eager.stats()` and `eager.reset()`;
- `tiers.py`: a compiled graph's NumPy code and its compiled tier (numba kernels);
- `allocator.py`: glibc malloc settings for code that allocates alike call after call.
"""
