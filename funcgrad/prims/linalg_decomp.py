"""Matrix decompositions: being written (see funcgrad/numpy/linalg.py)."""
