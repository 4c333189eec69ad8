"""Transformations as passes over traced graphs: jvp, linearize, transpose, vmap, custom rules."""
