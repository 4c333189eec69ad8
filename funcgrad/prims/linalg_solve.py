"""Linear solves and factorisations: being written (see funcgrad/numpy/linalg.py)."""
