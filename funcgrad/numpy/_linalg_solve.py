"""funcgrad.numpy.linalg's solves and factorisations: being written."""
__all__: list[str] = []
